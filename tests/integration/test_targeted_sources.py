"""A person's revocation from each source, through the real binary, ends as
a targeted deny in the fake AWS (issue 12, item 2).

The service runs with workers against the fake AWS (tests/fakes/fake_aws.py,
example-seed.json) and the fake identity provider (tests/fakes/fake_idp.py:
the Auth0 Management API over HTTPS, and the SSF transmitter's JWKS). Each
source gets a rule with "target": "user"; the event of one person is
delivered as the provider would (Auth0 log stream, SSF push, Okta event
hook), and the test asks the fake AWS, the way IAM decides, whether that
person's old session is refused and another person's is not. Where the
person's source identity cannot be known, the rule's fallback groups are
revoked with a note saying why.

Also: `rules show` / `rules test` show the target and the person, and the
configuration errors of target/identity/token_lifetime_seconds name their
path.

Run with Debian's /usr/bin/python3 (aiohttp, cryptography, PyJWT, botocore).
"""

import copy
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Key, Service, Store, make_token

import fake_idp  # tests/fakes, on the path through harness

fake_aws = harness.fake_aws
HERE = os.path.dirname(os.path.abspath(__file__))
AUTH0_DATA = os.path.normpath(os.path.join(HERE, "..", "data", "auth0"))
OKTA_DATA = os.path.normpath(os.path.join(HERE, "..", "data", "okta"))

API_ISS = "https://idp.targeted-sources.test/"
API_AUD = "session-revoker-targeted-sources"
SSF_ISS = "https://auth.example.com/"
SSF_AUD = "https://revoker.example.com/ssf"
SSF_SR = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
CLIENT_ID = "sr-m2m-client"
CLIENT_SECRET = "m2m-secret-targeted-9d3e1c7b5a2f4e6d8c0b"
OKTA_SECRET = "okta-hook-secret-targeted-7a1c93e5d2b4"
PROVIDER = "auth.example.com/"
POLICY = "session-revoker-deny"
FALLBACK = "team_breakglass"
LIFETIME = 3600      # sources.*.token_lifetime_seconds in these tests

# The sample's blocked user, and the people of these tests.
USER = "auth0|6601a2b3c4d5e6f7a8b9c0d1"
JANE = "jane.doe@example.com"
BOB = "bob.builder@example.com"
# OpsecBreakGlass trusts auth.example.com/ (example-seed.json) and allows
# s3:GetObject: the deny of a person shows on it.
ROLE = "arn:aws:iam::111111111111:role/OpsecBreakGlass"
ACTION = "s3:GetObject"

KEY = None
TMP = None


def setUpModule():
    global KEY, TMP
    TMP = tempfile.mkdtemp(prefix="sr-targeted-src-keys-")
    KEY = Key("rsa", TMP, "issuer")
    KEY.write_public_pem()


def tearDownModule():
    if TMP and not os.environ.get("SR_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def iso_ms(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def log_tail(svc, n=5000):
    lines = [l for l in svc.stderr().splitlines() if "msg=http.request" not in l]
    return "\n".join(lines)[-n:]


def auth0_samples():
    with open(os.path.join(AUTH0_DATA, "logstream-json-array.json"), "rb") as f:
        return json.loads(f.read())


def auth0_sample(kind, description=None):
    return copy.deepcopy([e for e in auth0_samples() if e["data"]["type"] == kind and
                          (description is None or e["data"]["description"] == description)][0])


def log_id(n):
    return "9012%052d" % n


def blocked_event(lid, at, user=USER):
    """The sample's sapi PATCH /api/v2/users/{id} {"blocked": true}: only
    the user id (data.user_id is the admin's)."""
    e = auth0_sample("sapi", "Update a user")
    d = e["data"]
    assert d["details"]["request"]["body"] == {"blocked": True}
    e["log_id"] = d["log_id"] = lid
    d["date"] = iso_ms(at)
    d["details"]["request"]["path"] = "/api/v2/users/" + user
    d["details"]["response"]["body"] = {"user_id": user, "blocked": True}
    return e


def deleted_event(lid, at, user, user_name):
    """The sample's sdu (user deleted) with user_name, the user's own."""
    e = auth0_sample("sdu")
    d = e["data"]
    e["log_id"] = d["log_id"] = lid
    d["date"] = iso_ms(at)
    d["user_id"] = user
    d["user_name"] = user_name
    return e


def password_event(lid, at, user, user_name):
    """The sample's scp (password changed) with user_name."""
    e = auth0_sample("scp")
    d = e["data"]
    e["log_id"] = d["log_id"] = lid
    d["date"] = iso_ms(at)
    d["user_id"] = user
    d["user_name"] = user_name
    return e


class TargetedCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-targeted-src-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.db = os.path.join(self.tmp, "targeted.db")
        self.store = Store(self.db)
        self.n = 0
        self.aws = fake_aws.FakeAws(copy.deepcopy(harness.EXAMPLE_SEED)).start()
        self.addCleanup(self.aws.stop)
        self.idp = fake_idp.FakeIdp(tls_dir=os.path.join(self.tmp, "idp-tls")).start()
        self.addCleanup(self.idp.stop)
        self.idp.set_client(CLIENT_ID, CLIENT_SECRET)
        self.client_secret_file = self.write("client.secret", CLIENT_SECRET)
        self.okta_secret_file = self.write("okta.secret", OKTA_SECRET)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text + "\n")
        return path

    # -- the service ---------------------------------------------------------

    def rule(self, on, **kw):
        r = {"name": "person", "on": on, "target": "user", "fallback": [FALLBACK]}
        r.update(kw)
        return r

    def sources(self, auth0=None, ssf=None, okta=None):
        a = {"rules": [self.rule(["user_blocked", "user_deleted", "password_changed",
                                  "password_changed_by_admin"])],
             "token_lifetime_seconds": LIFETIME,
             "lookup": {"kind": "auth0", "domain": self.idp.url, "client_id": CLIENT_ID,
                        "client_secret_file": self.client_secret_file}}
        a.update(auth0 or {})
        s = {"issuer": SSF_ISS, "audience": SSF_AUD, "token_lifetime_seconds": LIFETIME,
             "rules": [self.rule(["session_revoked", "account_disabled"])]}
        s.update(ssf or {})
        o = {"authorization_file": self.okta_secret_file, "token_lifetime_seconds": LIFETIME,
             "rules": [self.rule(["user.lifecycle.suspend"])]}
        o.update(okta or {})
        return {"auth0": a, "ssf": s, "okta": o}

    def config(self, sources, workers=1, extra=None):
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"path": self.db},
            "auth": {"issuers": [
                {"issuer": API_ISS, "audience": API_AUD, "algorithms": ["RS256"],
                 "public_key_file": os.path.join(TMP, "issuer.pub.pem")},
                {"issuer": SSF_ISS, "audience": "session-revoker-ssf",
                 "algorithms": ["RS256", "ES256"], "jwks_url": self.idp.jwks_url}]},
            "log": {"level": "info"},
            "revoke": {"providers": [PROVIDER], "policy_name": POLICY},
            "aws": {"accounts": [{"id": a, "role_name": harness.ADMIN_ROLE,
                                  "external_id": harness.EXTERNAL_ID}
                                 for a in harness.EXAMPLE_ACCOUNTS],
                    "max_attempts": 2, "timeout_seconds": 10},
            "jobs": {"workers": workers, "poll_ms": 100, "retry_base_seconds": 1},
            "http_client": {"ca_file": self.idp.ca_file, "timeout_seconds": 2},
            "sources": sources,
        }
        cfg.update(extra or {})
        self.n += 1
        path = os.path.join(self.tmp, "config-%d.json" % self.n)
        harness.write_config(path, cfg)
        return path

    def start(self, sources=None, **kw):
        svc = Service(self.config(sources or self.sources(), **kw), cwd=self.tmp,
                      logdir=self.tmp, name="service-%d" % self.n)
        svc.env = {k: v for k, v in svc.env.items() if not k.startswith("AWS_")}
        svc.env.update({"AWS_ENDPOINT_URL": self.aws.url,
                        "AWS_ACCESS_KEY_ID": harness.EXAMPLE_BASE_KEY,
                        "AWS_SECRET_ACCESS_KEY": harness.EXAMPLE_BASE_SECRET,
                        "AWS_EC2_METADATA_DISABLED": "true", "HOME": self.tmp})
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        return svc

    def token(self, scope="events:write"):
        t = int(time.time())
        return make_token(KEY, "RS256", {"iat": t, "exp": t + 600, "sub": "tests"},
                          iss=API_ISS, aud=API_AUD, scope=scope)

    # -- the sources ---------------------------------------------------------

    def post_auth0(self, svc, events):
        r = svc.request("POST", "/v1/events/auth0", json_body=events, token=self.token())
        self.assertEqual(r.status, 202, "%r\n%s" % (r, log_tail(svc)))
        return r.json

    def push_set(self, svc, claims):
        tok = self.idp.sign(claims, headers={"typ": "secevent+jwt"})
        r = svc.request("POST", "/v1/events/ssf", body=tok,
                        headers={"Content-Type": "application/secevent+jwt",
                                 "Accept": "application/json"})
        self.assertEqual(r.status, 202, "%r\n%s" % (r, log_tail(svc)))

    def deliver_okta(self, svc, body):
        r = svc.request("POST", "/v1/events/okta", body=json.dumps(body),
                        headers={"Content-Type": "application/json",
                                 "Authorization": OKTA_SECRET})
        self.assertIn(r.status, (200, 204), "%r\n%s" % (r, log_tail(svc)))

    # -- what a user sees ----------------------------------------------------

    def revocation(self, source, event_id):
        """The revocation of source's event: groups, subjects, note, state,
        cut-offs (None when not recorded)."""
        rows = self.store.query("SELECT id FROM revocations WHERE source = ?"
                                " AND source_event_id = ?", (source, event_id))
        return self.store.revocation(rows[0]["id"]) if rows else None

    def wait_settled(self, svc, source, event_id, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            rev = self.revocation(source, event_id)
            if rev is not None and rev["state"] in ("applied", "partial", "failed"):
                return rev
            if time.monotonic() > deadline:
                self.fail("%s %s not applied within %d s: %r\n%s"
                          % (source, event_id, timeout, rev, log_tail(svc)))
            time.sleep(0.1)

    def decision(self, who, issued, role=ROLE):
        return self.aws.evaluate(role, ACTION, session={
            "source_identity": who, "token_issue_time": iso(issued)})["decision"]

    def assert_person_denied(self, svc, source, event_id, person, at):
        """The revocation of event_id names person, is applied, and in the
        fake AWS: person's session issued before the event, one minted after
        it within the token lifetime and a chained one are refused, one
        issued after event + lifetime is allowed, and another person's old
        session is allowed."""
        rev = self.wait_settled(svc, source, event_id)
        self.assertEqual((rev["subjects"], rev["groups"], rev["state"]),
                         ([person], [], "applied"), "%r\n%s" % (rev, log_tail(svc)))
        self.assertEqual(rev["subjects_cutoff"], at + LIFETIME)
        self.assertEqual(self.decision(person, at - 600), "explicitDeny")
        self.assertEqual(self.decision(person, at + LIFETIME - 60), "explicitDeny")
        self.assertEqual(self.decision(person, at + LIFETIME + 60), "allowed")
        # a chained session: its own (later) issue time, the same source identity
        self.assertEqual(self.aws.evaluate(ROLE, ACTION, session={
            "source_identity": person, "token_issue_time": iso(at + 60),
            "chained": True})["decision"], "explicitDeny")
        self.assertEqual(self.decision(BOB, at - 600), "allowed")
        self.assertEqual(self.decision(None, at - 600), "allowed")
        return rev

    def assert_fallback(self, rev, why):
        self.assertIsNotNone(rev)
        self.assertEqual((rev["subjects"], rev["groups"]), ([], [FALLBACK]), rev)
        self.assertIn(why, rev["note"] or "")
        self.assertIn("fallback groups used", rev["note"])

    def mgmt_calls(self):
        return [c for c in self.idp.calls() if c["path"].startswith("/api/v2/users/")]


class Auth0(TargetedCase):

    def test_blocked_user_email_is_looked_up_and_only_they_are_denied(self):
        self.idp.set_user(USER, email=JANE, nickname="jane")
        svc = self.start()
        at = int(time.time()) - 120
        answer = self.post_auth0(svc, [blocked_event(log_id(1), at)])
        self.assertEqual(answer["recorded"], 1, answer)
        one = answer["revocations"][0]
        self.assertEqual((one["subjects"], one["groups"], one["rule"]), ([JANE], [], "person"))
        self.assert_person_denied(svc, "auth0", log_id(1), JANE, at)
        calls = self.mgmt_calls()
        self.assertEqual([(c["path"], c["args"], c["status"]) for c in calls],
                         [("/api/v2/users/" + USER,
                           {"fields": "email", "include_fields": "true"}, 200)])
        # No role-wide deny: the group statement is not there, only the
        # person's; a session with no source identity is not refused.
        self.assertNotIn(CLIENT_SECRET, svc.stderr())

    def test_deleted_user_and_password_change_need_no_lookup(self):
        svc = self.start()
        at = int(time.time()) - 300
        answer = self.post_auth0(svc, [
            deleted_event(log_id(2), at, "auth0|6602b3c4d5e6f7a8b9c0d1e2", JANE),
            password_event(log_id(3), at + 60, "samlp|corp-idp|k.nakamura@example.com",
                           "k.nakamura@example.com")])
        self.assertEqual(answer["recorded"], 2, answer)
        self.assertEqual(sorted(s for r in answer["revocations"] for s in r["subjects"]),
                         [JANE, "k.nakamura@example.com"])
        self.assert_person_denied(svc, "auth0", log_id(2), JANE, at)
        rev = self.wait_settled(svc, "auth0", log_id(3))
        self.assertEqual(rev["subjects"], ["k.nakamura@example.com"])
        self.assertEqual(self.decision("k.nakamura@example.com", at), "explicitDeny")
        self.assertEqual(self.mgmt_calls(), [], "no lookup was needed")

    def test_a_user_deleted_through_the_api_is_two_records(self):
        # The sample's pair: sapi DELETE /api/v2/users/{id} (the id only:
        # the lookup finds no user any more, so the fallback), then sdu with
        # the user's user_name (the person). README: "A user deleted through
        # the Management API is logged twice".
        svc = self.start(workers=0)
        pair = [e for e in auth0_samples() if e["data"]["description"] in
                ("Delete a user", "User successfully deleted")]
        self.assertEqual([e["data"]["type"] for e in pair], ["sapi", "sdu"])
        answer = self.post_auth0(svc, pair)
        self.assertEqual(answer["recorded"], 2, answer)
        sapi = self.revocation("auth0", pair[0]["log_id"])
        self.assert_fallback(sapi, "the email of auth0|6602b3c4d5e6f7a8b9c0d1e2 is not known")
        self.assertIn("has no such user", sapi["note"])
        sdu = self.revocation("auth0", pair[1]["log_id"])
        self.assertEqual((sdu["subjects"], sdu["groups"]), (["omar.haddad@example.com"], []))

    def test_lookup_down_or_no_email_revokes_the_fallback_and_says_why(self):
        self.idp.set_user("auth0|noemail", nickname="ghost")
        svc = self.start(workers=0)
        at = int(time.time()) - 60
        self.idp.set_faults([{"path": "/api/v2/", "kind": "down"}])
        answer = self.post_auth0(svc, [blocked_event(log_id(4), at)])
        self.assertEqual(answer["revocations"][0]["groups"], [FALLBACK], answer)
        self.assertEqual(answer["revocations"][0]["subjects"], [], answer)
        self.assertIn("the email of %s is not known" % USER, answer["revocations"][0]["note"])
        self.assert_fallback(self.revocation("auth0", log_id(4)), "HTTP 503")
        self.idp.set_faults([])
        self.post_auth0(svc, [blocked_event(log_id(5), at, user="auth0|noemail")])
        self.assert_fallback(self.revocation("auth0", log_id(5)),
                             "the directory has no email for this user")
        # A user Auth0 does not know (deleted since) is not a person either.
        self.post_auth0(svc, [blocked_event(log_id(6), at, user="auth0|gone")])
        self.assert_fallback(self.revocation("auth0", log_id(6)), "the email of auth0|gone")

    def test_identity_subject_that_is_not_a_source_identity_falls_back(self):
        svc = self.start(self.sources(auth0={"identity": "subject"}), workers=0)
        at = int(time.time()) - 60
        answer = self.post_auth0(svc, [blocked_event(log_id(7), at)])
        self.assertEqual(answer["recorded"], 1, answer)
        rev = self.revocation("auth0", log_id(7))
        self.assert_fallback(rev, "%s's subject \"%s\" must be 2 to 64 of" % (USER, USER))
        self.assertEqual(self.mgmt_calls(), [])
        # An id that is a valid source identity is the person as it is.
        self.post_auth0(svc, [deleted_event(log_id(8), at, "jane_doe-42", "x")])
        self.assertEqual(self.revocation("auth0", log_id(8))["subjects"], ["jane_doe-42"])

    def test_a_directory_value_no_session_could_carry_is_quoted_safely(self):
        # A long non-ASCII nickname (cut inside a character at 64 bytes) and
        # one with a newline and a terminal escape: both revoke the fallback,
        # the batch is recorded (not a 503 that Auth0 retries forever), and
        # the note is one line of printable ASCII.
        self.idp.set_user(USER, nickname="a" + "\u0436" * 40)
        self.idp.set_user("auth0|ctl", nickname="evil\nlevel=error msg=forged\x1b[31m")
        svc = self.start(self.sources(auth0={"identity": "nickname"}), workers=0)
        at = int(time.time()) - 60
        answer = self.post_auth0(svc, [blocked_event(log_id(10), at),
                                       blocked_event(log_id(11), at, user="auth0|ctl")])
        self.assertEqual(answer["recorded"], 2, answer)
        for lid, user in ((log_id(10), USER), (log_id(11), "auth0|ctl")):
            rev = self.revocation("auth0", lid)
            self.assert_fallback(rev, "%s's nickname" % user)
            self.assertIn("must be 2 to 64 of", rev["note"])
            self.assertTrue(all(0x20 <= ord(c) < 0x7f for c in rev["note"]), rev["note"])
        self.assertIn('"evil?level=error msg=forged?[31m"',
                      self.revocation("auth0", log_id(11))["note"])

    def test_identity_nickname_is_looked_up(self):
        self.idp.set_user(USER, email=JANE, nickname="jane.d")
        svc = self.start(self.sources(auth0={"identity": "nickname"}))
        at = int(time.time()) - 60
        answer = self.post_auth0(svc, [blocked_event(log_id(9), at)])
        self.assertEqual(answer["revocations"][0]["subjects"], ["jane.d"], answer)
        self.assert_person_denied(svc, "auth0", log_id(9), "jane.d", at)
        self.assertEqual([c["args"] for c in self.mgmt_calls()],
                         [{"fields": "nickname", "include_fields": "true"}])


class Ssf(TargetedCase):

    def claims(self, jti, sub_id, at):
        return {"iss": SSF_ISS, "aud": SSF_AUD, "jti": jti, "iat": int(time.time()) - 5,
                "txn": "t-" + jti, "sub_id": sub_id,
                "events": {SSF_SR: {"event_timestamp": at}}}

    def test_session_revoked_with_an_email_subject(self):
        svc = self.start()
        at = int(time.time()) - 90
        self.push_set(svc, self.claims("j-email", {"format": "email", "email": JANE}, at))
        self.assert_person_denied(svc, "ssf", SSF_ISS + "#j-email", JANE, at)

    def test_complex_and_aliases_subjects_carry_the_email(self):
        svc = self.start()
        at = int(time.time()) - 90
        self.push_set(svc, self.claims("j-complex", {
            "format": "complex",
            "user": {"format": "email", "email": JANE},
            "tenant": {"format": "opaque", "id": "tenant-1"}}, at))
        self.assert_person_denied(svc, "ssf", SSF_ISS + "#j-complex", JANE, at)
        self.push_set(svc, self.claims("j-aliases", {
            "format": "aliases", "identifiers": [
                {"format": "iss_sub", "iss": SSF_ISS, "sub": "auth0|kim"},
                {"format": "email", "email": "kim@example.com"}]}, at))
        rev = self.wait_settled(svc, "ssf", SSF_ISS + "#j-aliases")
        self.assertEqual((rev["subjects"], rev["state"]), (["kim@example.com"], "applied"))
        self.assertEqual(self.decision("kim@example.com", at - 10), "explicitDeny")

    def test_old_risc_shape_with_the_email_inside_the_event(self):
        svc = self.start()
        at = int(time.time()) - 90
        c = self.claims("j-risc", None, at)
        del c["sub_id"]
        c["events"] = {"https://schemas.openid.net/secevent/risc/event-type/account-disabled": {
            "subject": {"subject_type": "email", "email": JANE}, "reason": "hijacking"}}
        self.push_set(svc, c)
        rev = self.wait_settled(svc, "ssf", SSF_ISS + "#j-risc")
        self.assertEqual((rev["subjects"], rev["groups"], rev["state"]),
                         ([JANE], [], "applied"), rev)
        # the cut-off is the SET's iat here (no event_timestamp)
        self.assertEqual(self.decision(JANE, c["iat"] - 10), "explicitDeny")
        self.assertEqual(self.decision(BOB, c["iat"] - 10), "allowed")

    def test_an_iss_sub_subject_without_lookup_falls_back(self):
        svc = self.start(workers=0)
        at = int(time.time()) - 90
        self.push_set(svc, self.claims("j-isssub", {
            "format": "iss_sub", "iss": SSF_ISS, "sub": "auth0|kim"}, at))
        self.assert_fallback(self.revocation("ssf", SSF_ISS + "#j-isssub"),
                             "no lookup is configured (sources.ssf.lookup)")


class Okta(TargetedCase):

    def test_suspended_user_is_denied_by_their_login_email(self):
        with open(os.path.join(OKTA_DATA, "delivery-user-lifecycle-suspend.json")) as f:
            body = json.load(f)
        at = int(time.time()) - 45
        ev = body["data"]["events"][0]
        ev["published"] = iso_ms(at)
        self.assertEqual(ev["target"][0]["alternateId"], JANE)
        svc = self.start()
        self.deliver_okta(svc, body)
        rev = self.assert_person_denied(svc, "okta", ev["uuid"], JANE, at)
        self.assertEqual(rev["event_subject"], JANE)

    def test_universal_logout_denies_the_person(self):
        # Okta's Global Token Revocation request (POST /v1/events/okta/logout),
        # signed by the org (here the fake IdP's key), naming the person by
        # email: with a rule "target": "user", only they are denied.
        aud = "https://revoker.example.com/v1/events/okta/logout"
        svc = self.start(self.sources(okta={
            "logout_issuer": SSF_ISS, "logout_audience": aud,
            "rules": [self.rule(["universal_logout"])]}))
        t = int(time.time())
        tok = self.idp.sign({"iss": SSF_ISS, "aud": aud, "iat": t, "exp": t + 300,
                             "jti": "ulo-jane"})
        r = svc.request("POST", "/v1/events/okta/logout",
                        body=json.dumps({"sub_id": {"format": "email", "email": JANE}}),
                        headers={"Content-Type": "application/json",
                                 "Authorization": "Bearer " + tok})
        self.assertEqual(r.status, 204, "%r\n%s" % (r, log_tail(svc)))
        rev = self.wait_settled(svc, "okta", SSF_ISS + "#ulo-jane")
        rev = self.assert_person_denied(svc, "okta", SSF_ISS + "#ulo-jane", JANE, rev["cutoff"])
        self.assertEqual(rev["rule"], "person")


class PrincipalTagAndFallbacks(TargetedCase):

    def okta_body(self, at, alternate_id):
        with open(os.path.join(OKTA_DATA, "delivery-user-lifecycle-suspend.json")) as f:
            body = json.load(f)
        ev = body["data"]["events"][0]
        ev["published"] = iso_ms(at)
        ev["target"][0]["alternateId"] = alternate_id
        return body, ev["uuid"]

    def test_people_named_by_a_principal_tag(self):
        # and the ID token lifetime of targeted.*, the source giving none
        sources = self.sources()
        del sources["okta"]["token_lifetime_seconds"]
        svc = self.start(sources, extra={"targeted": {"principal_tag": "person",
                                                      "token_lifetime_seconds": 7200}})
        at = int(time.time()) - 45
        body, uuid = self.okta_body(at, JANE)
        self.deliver_okta(svc, body)
        rev = self.wait_settled(svc, "okta", uuid)
        self.assertEqual((rev["subjects"], rev["state"], rev["subjects_cutoff"]),
                         ([JANE], "applied", at + 7200), rev)

        def tagged(who, issued, si=None):
            return self.aws.evaluate(ROLE, ACTION, session={
                "source_identity": si, "principal_tags": {"person": who},
                "token_issue_time": iso(issued)})["decision"]
        self.assertEqual(tagged(JANE, at - 600), "explicitDeny")
        self.assertEqual(tagged(BOB, at - 600), "allowed")
        # The source identity is not what is looked at any more.
        self.assertEqual(self.decision(JANE, at - 600), "allowed")

    def test_okta_login_that_is_not_an_email_falls_back(self):
        # The Okta source's lookup is a groups directory: it cannot give an
        # email, so a login without '@' revokes the fallback, saying why.
        svc = self.start(self.sources(okta={"lookup": {
            "kind": "http", "url": self.idp.url + "/directory/users/{subject}/groups"}}),
            workers=0)
        at = int(time.time()) - 45
        body, uuid = self.okta_body(at, "jdoe")
        self.deliver_okta(svc, body)
        self.assert_fallback(self.revocation("okta", uuid),
                             "this lookup gives groups only, not a user's email")

    def test_the_same_event_again_is_the_same_person(self):
        self.idp.set_user(USER, email=JANE)
        svc = self.start(workers=0)
        at = int(time.time()) - 60
        first = self.post_auth0(svc, [blocked_event(log_id(30), at)])
        again = self.post_auth0(svc, [blocked_event(log_id(30), at)])
        self.assertEqual((again["recorded"], again["replayed"]), (0, 1), again)
        self.assertEqual(again["revocations"][0]["subjects"], [JANE])
        self.assertEqual(again["revocations"][0]["id"], first["revocations"][0]["id"])
        self.assertEqual(self.store.count("revocations"), 1)


class RulesCli(TargetedCase):

    def run_cli(self, *args, config):
        return subprocess.run([harness.binary_path(), "rules", *args, "--config", config],
                              capture_output=True, text=True, env=harness.clean_env(),
                              cwd=self.tmp, timeout=60)

    def test_show_and_test_name_the_target_and_the_person(self):
        config = self.config(self.sources(), workers=0)
        p = self.run_cli("show", "--source", "auth0", config=config)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('"target": "user"', p.stdout.replace('":"', '": "'))
        self.assertIn(FALLBACK, p.stdout)
        # ... and what the person is revoked by, for how long.
        self.assertIn('people ("target": "user") are revoked by their email as'
                      ' aws:SourceIdentity: their sessions issued before the event + %d s'
                      ' are refused' % LIFETIME, p.stdout)
        # No lifetime of the source's own: targeted.token_lifetime_seconds.
        sources = self.sources(ssf={"identity": "subject"})
        del sources["ssf"]["token_lifetime_seconds"]
        tagged = self.config(sources, workers=0,
                             extra={"targeted": {"principal_tag": "person",
                                                 "token_lifetime_seconds": 7200}})
        p = self.run_cli("show", "--source", "ssf", config=tagged)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("revoked by their subject as aws:PrincipalTag/person: their sessions"
                      " issued before the event + 7200 s", p.stdout)
        p = self.run_cli("show", "--source", "group-change", config=tagged)
        self.assertNotIn("people", p.stdout)
        at = int(time.time()) - 60
        payload = os.path.join(self.tmp, "payload.json")
        with open(payload, "w") as f:
            json.dump([deleted_event(log_id(20), at, "auth0|d1", JANE),
                       blocked_event(log_id(21), at)], f)
        p = self.run_cli("test", "--source", "auth0", "--json", payload, config=config)
        self.assertEqual(p.returncode, 0, p.stderr)
        s = json.loads(p.stdout)
        by_id = {r["event_id"]: r for r in s["revocations"]}
        self.assertEqual((by_id[log_id(20)]["subjects"], by_id[log_id(20)]["groups"]),
                         ([JANE], []))
        self.assertIn("the email of %s would be looked up" % USER, by_id[log_id(21)]["note"])
        p = self.run_cli("test", "--source", "auth0", payload, config=config)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('rule person revokes the person ["%s"]' % JANE, p.stdout)
        self.assertFalse(self.store.exists(), "rules test must record nothing")
        self.assertEqual(self.mgmt_calls(), [], "rules test looks nothing up")


class ConfigErrors(TargetedCase):

    def check(self, sources, path, words):
        config = self.config(sources, workers=0)
        p = subprocess.run([harness.binary_path(), "check-config", "--config", config],
                           capture_output=True, text=True, env=harness.clean_env(),
                           cwd=self.tmp, timeout=60)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        out = p.stdout + p.stderr
        self.assertIn(path, out)
        self.assertIn(words, out)

    def test_bad_target_identity_and_lifetime_are_refused_by_path(self):
        cases = [
            ("target people", self.sources(auth0={"rules": [
                self.rule(["user_blocked"], target="people")]}),
             "sources.auth0.rules[0].target", "must be \"user\""),
            ("groups with target user", self.sources(okta={"rules": [
                self.rule(["user.lifecycle.suspend"], groups=["team_opsec"])]}),
             "sources.okta.rules[0].groups", "not with \"target\": \"user\""),
            ("identity phone", self.sources(auth0={"identity": "phone"}),
             "sources.auth0.identity", "must be email"),
            ("lifetime 0", self.sources(ssf={"token_lifetime_seconds": 0}),
             "sources.ssf.token_lifetime_seconds", ""),
            ("lifetime 8 days", self.sources(auth0={"token_lifetime_seconds": 8 * 86400}),
             "sources.auth0.token_lifetime_seconds", ""),
        ]
        for what, sources, path, words in cases:
            with self.subTest(what):
                self.check(sources, path, words)

    def test_a_refused_config_does_not_start_the_service(self):
        config = self.config(self.sources(auth0={"identity": "phone"}), workers=0)
        svc = Service(config, cwd=self.tmp, logdir=self.tmp, name="refused")
        with self.assertRaises(Exception):
            svc.start()
        harness.stop_quietly(svc)
        self.assertIn("sources.auth0.identity", svc.stderr())
        self.assertFalse(self.store.exists() and self.store.count("revocations"))


if __name__ == "__main__":
    unittest.main()
