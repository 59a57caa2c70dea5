"""POST /v1/events/ssf: an OpenID Shared Signals transmitter pushing Security
Event Tokens (RFC 8417) as RFC 8935 says, over real HTTP, into a real store.

The transmitter's keys are served by tests/fakes/fake_idp.py over HTTPS (a
jwks_url issuer, as auth.issuers take it); the SETs are the samples in
tests/data/ssf/ signed by that fake, and variants of them. Each test checks
what a transmitter and an operator see: the answer (202 with an empty body,
or 400 with RFC 8935's {"err", "description"}), the revocations and jobs in
the store, and for every refusal that nothing at all was stored.

Run with Debian's /usr/bin/python3 (PyJWT, cryptography).
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import harness  # puts tests/fakes on the path
import fake_idp  # noqa: E402
from harness import Key, Service, Store

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "data", "ssf"))

ISS = "https://auth.example.com/"             # the samples' transmitter
SET_AUD = "https://revoker.example.com/ssf"   # the samples' audience
API_AUD = "session-revoker-ssf"               # the issuer's audience for API tokens
SR = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
CT = {"Content-Type": "application/secevent+jwt", "Accept": "application/json"}
SECRET = "Bearer 0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f-ssf-test"
FIXED = [{"name": "person-lost-access", "groups": ["team_opsec"],
          "on": ["session_revoked", "credential_change", "account_disabled",
                 "account_purged"]}]

# sample file: (jti, subject, cut-off)
SAMPLES = {
    "caep-session-revoked.json": ("a3f1c9e27b5d4e8f9c0a1b2c3d4e5f60",
                                  "auth0|6603c4d5e6f7a8b9c0d1e2f3", 1773305990),
    "caep-session-revoked-simple.json": ("b4e2d0f38c6e4f90ad1b2c3d4e5f6071",
                                         "auth0|6604d5e6f7a8b9c0d1e2f3a4", 1773306055),
    "caep-credential-change.json": ("e7b5a3c61f9b42c3d04e5f6071829304", "usr_7Hq2Lm9Vx4Tb",
                                    1773306230),
    "risc-account-disabled.json": ("c5f3e1a49d7f40a1be2c3d4e5f607182", "jane.doe@example.com",
                                   1773306120),
    "risc-account-purged.json": ("d6a4f2b50e8a41b2cf3d4e5f60718293",
                                 "auth0|6602b3c4d5e6f7a8b9c0d1e2", 1773306180),
}


def payload(name):
    with open(os.path.join(DATA, name)) as f:
        return json.load(f)["payload"]


def set_claims(jti="j-1", **over):
    c = {"iss": ISS, "aud": SET_AUD, "jti": jti, "iat": int(time.time()) - 5, "txn": "t-1",
         "sub_id": {"format": "email", "email": "kim@example.com"},
         "events": {SR: {"event_timestamp": int(time.time()) - 60}}}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


class SsfCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-ssf-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.db = os.path.join(self.tmp, "ssf.db")
        self.store = Store(self.db)
        self.fake = fake_idp.FakeIdp(tls_dir=os.path.join(self.tmp, "idp")).start()
        self.addCleanup(self.fake.stop)
        self.n = 0

    def start(self, ssf=None, extra_issuer=None, jwks_url=None):
        issuers = [{"issuer": ISS, "audience": API_AUD, "algorithms": ["RS256", "ES256"],
                    "jwks_url": jwks_url or self.fake.jwks_url}]
        if extra_issuer:
            issuers.append(extra_issuer)
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"path": self.db},
            "auth": {"issuers": issuers},
            "http_client": {"ca_file": self.fake.ca_file, "timeout_seconds": 3},
            "revoke": {"providers": ["auth.example.com/"]},
            "aws": {"accounts": [{"id": a, "role_name": harness.ADMIN_ROLE,
                                  "external_id": harness.EXTERNAL_ID}
                                 for a in harness.EXAMPLE_ACCOUNTS]},
            "jobs": {"workers": 0},
            "sources": {"ssf": ssf if ssf is not None
                        else {"issuer": ISS, "audience": SET_AUD, "rules": FIXED}},
        }
        self.n += 1
        path = harness.write_config(os.path.join(self.tmp, "config-%d.json" % self.n), cfg)
        svc = Service(path, cwd=self.tmp, logdir=self.tmp, name="service-%d" % self.n)
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        return svc

    def sign(self, claims, headers=None):
        h = {"typ": "secevent+jwt"}
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        return self.fake.sign(claims, headers=h)

    def push(self, svc, token, headers=None):
        h = dict(CT)
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        return svc.request("POST", "/v1/events/ssf", headers=h, body=token)

    def rows(self):
        out = []
        for r in self.store.query(
                "SELECT seq, source_event_id, event_subject, rule, cutoff, issuer"
                " FROM revocations WHERE source = 'ssf' ORDER BY seq"):
            groups = [g["group_name"] for g in self.store.query(
                "SELECT group_name FROM revocation_groups WHERE revocation_seq = ?"
                " ORDER BY position", (r.pop("seq"),))]
            out.append(tuple(r.values()) + (groups,))
        return out

    def nothing_stored(self):
        self.assertEqual(self.store.count("revocations"), 0)
        self.assertEqual(self.store.count("jobs"), 0)

    def refused(self, r, err, description):
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.headers.get("Content-Type"), "application/json")
        self.assertEqual(r.json["err"], err, r.json)
        self.assertIn(description, r.json["description"])
        self.assertEqual(sorted(r.json), ["description", "err"])


class Accepted(SsfCase):

    def test_each_sample_is_one_revocation_of_the_person_at_the_event_time(self):
        svc = self.start()
        for name in SAMPLES:
            r = self.push(svc, self.sign(payload(name)))
            self.assertEqual(r.status, 202, "%s: %r" % (name, r))
            self.assertEqual(r.body, b"")
            self.assertIsNone(r.headers.get("Content-Type"))
        got = {row[0]: row[1:] for row in self.rows()}
        want = {ISS + "#" + jti: (subject, "person-lost-access", cutoff, ISS, ["team_opsec"])
                for jti, subject, cutoff in SAMPLES.values()}
        self.assertEqual(got, want)
        # One apply job per account for each.
        self.assertEqual(self.store.count("jobs"), len(SAMPLES) * len(harness.EXAMPLE_ACCOUNTS))

    def test_a_duplicate_jti_is_answered_202_and_recorded_once(self):
        svc = self.start()
        tok = self.sign(payload("caep-session-revoked.json"))
        for _ in range(3):
            self.assertEqual(self.push(svc, tok).status, 202)
        # The same jti in a newly signed SET (a retry after a timeout).
        again = payload("caep-session-revoked.json")
        again["txn"] = 7
        self.assertEqual(self.push(svc, self.sign(again)).status, 202)
        self.assertEqual(len(self.rows()), 1)
        self.assertEqual(self.store.count("jobs"), len(harness.EXAMPLE_ACCOUNTS))

    def test_verification_event_is_answered_and_recorded_nowhere(self):
        svc = self.start()
        r = self.push(svc, self.sign(payload("ssf-verification.json")))
        self.assertEqual((r.status, r.body), (202, b""))
        self.nothing_stored()
        self.assertIn("msg=ssf.verification", svc.stderr())

    def test_millisecond_timestamps_numeric_txn_and_old_risc_shape(self):
        svc = self.start()
        ms = set_claims("j-ms", txn=42, events={SR: {"event_timestamp": 1773305990643}})
        old = set_claims("j-old", sub_id=None, events={
            "https://schemas.openid.net/secevent/risc/event-type/account-disabled": {
                "subject": {"subject_type": "iss-sub", "iss": ISS, "sub": "auth0|old"},
                "reason": "hijacking"}})
        for c in (ms, old):
            self.assertEqual(self.push(svc, self.sign(c)).status, 202)
        got = {row[0]: (row[1], row[3]) for row in self.rows()}
        self.assertEqual(got[ISS + "#j-ms"], ("kim@example.com", 1773305990))
        self.assertEqual(got[ISS + "#j-old"], ("auth0|old", old["iat"]))

    def test_an_unknown_event_type_is_accepted_and_dropped(self):
        svc = self.start()
        c = set_claims("j-new", events={"https://example.com/event-type/new-thing": {}})
        r = self.push(svc, self.sign(c))
        self.assertEqual(r.status, 202, r)
        self.nothing_stored()

    def test_built_in_rules_look_the_person_up(self):
        # No lookup configured: the rule's empty fallback; kept for the record.
        svc = self.start({"issuer": ISS, "audience": SET_AUD})
        self.assertEqual(self.push(svc, self.sign(payload("risc-account-disabled.json"))).status,
                         202)
        rows = self.rows()
        self.assertEqual([(r[1], r[2], r[5]) for r in rows],
                         [("jane.doe@example.com", "person-lost-access", [])])
        note = self.store.query("SELECT note FROM revocations WHERE source = 'ssf'")[0]["note"]
        self.assertIn("no lookup is configured", note)

    def test_the_configured_authorization_value_is_required(self):
        path = os.path.join(self.tmp, "ssf-authorization")
        with open(path, "w") as f:
            f.write(SECRET + "\n")
        svc = self.start({"issuer": ISS, "audience": SET_AUD, "rules": FIXED,
                          "authorization_file": path})
        tok = self.sign(set_claims())
        self.refused(self.push(svc, tok), "authentication_failed", "is required")
        self.refused(self.push(svc, tok, {"Authorization": SECRET + "x"}),
                     "authentication_failed", "is not the value configured")
        self.nothing_stored()
        self.assertEqual(self.push(svc, tok, {"Authorization": SECRET}).status, 202)
        self.assertEqual(len(self.rows()), 1)


class Refused(SsfCase):

    def test_each_bad_set_gets_its_rfc8935_error_and_changes_nothing(self):
        other = Key("rsa", self.tmp, "other")
        other_iss = "https://other.example.com/"
        svc = self.start(extra_issuer={"issuer": other_iss, "audience": SET_AUD,
                                       "algorithms": ["RS256"],
                                       "public_key_file": other.write_public_pem()})
        good = set_claims()
        unsigned = "%s.%s." % (harness.b64url(json.dumps({"alg": "none", "typ": "secevent+jwt"})),
                               harness.b64url(json.dumps(good)))
        forged = harness.flip_signature_char(self.sign(good))
        cases = [
            ("unsigned, alg none", unsigned, None, "invalid_request", "unsigned"),
            ("typ JWT", self.sign(good, {"typ": "JWT"}), None, "invalid_request",
             "typ header is not secevent+jwt"),
            ("no typ", self.sign(good, {"typ": None}), None, "invalid_request",
             "typ header is not secevent+jwt"),
            ("wrong aud", self.sign(set_claims(aud="https://elsewhere.example/ssf")), None,
             "invalid_audience", "aud does not contain " + SET_AUD),
            ("aud array without us", self.sign(set_claims(aud=["a", "b"])), None,
             "invalid_audience", "aud does not contain"),
            ("another trusted issuer", harness.make_token(
                other, "RS256", set_claims(iss=other_iss), {"typ": "secevent+jwt"},
                defaults=False), None, "invalid_issuer", "not trusted"),
            ("unknown issuer", self.sign(set_claims(iss="https://evil.example/")), None,
             "invalid_issuer", "not trusted"),
            ("signature forged", forged, None, "invalid_key", "signature is invalid"),
            ("unknown kid", self.sign(good, {"kid": "not-there"}), None, "invalid_key", "kid"),
            ("no jti", self.sign(set_claims(jti=None)), None, "invalid_request", "no jti"),
            ("iat in the future", self.sign(set_claims(iat=int(time.time()) + 3600)), None,
             "invalid_request", "future"),
            ("no events", self.sign(set_claims(events=None)), None, "invalid_request",
             "SET.events: required"),
            ("unreadable subject", self.sign(set_claims(sub_id={"format": "x509"})), None,
             "invalid_request", "\"x509\" is not a subject identifier format"),
            ("txn an object", self.sign(set_claims(txn={"a": 1})), None, "invalid_request",
             "SET.txn"),
            ("cut-off in the future", self.sign(set_claims(
                events={SR: {"event_timestamp": int(time.time()) + 3600}})), None,
             "invalid_request", "in the future"),
            ("not a JWS", "hello", None, "invalid_request", "three parts"),
            ("empty", "", None, "invalid_request", "empty"),
            ("wrong Content-Type", self.sign(good), "application/jwt", "invalid_request",
             "application/secevent+jwt"),
        ]
        for name, body, ctype, err, description in cases:
            with self.subTest(name):
                r = self.push(svc, body, {"Content-Type": ctype} if ctype else None)
                self.refused(r, err, description)
                # Never the token back.
                if len(body) > 30:
                    self.assertNotIn(body[:30].encode(), r.body)
        self.nothing_stored()
        # The good one still goes through.
        self.assertEqual(self.push(svc, self.sign(good)).status, 202)

    def test_keys_not_fetched_yet_is_503_so_the_transmitter_tries_again(self):
        # The transmitter's JWKS is not reachable (nothing listens there).
        svc = self.start(jwks_url=self.fake.jwks_url.replace(
            ":%d/" % self.fake.port, ":1/"))
        r = self.push(svc, self.sign(set_claims()))
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json["error"], "unavailable")
        self.assertIn("not loaded yet", r.json["detail"])
        self.nothing_stored()

    def test_no_transmitter_configured_is_404(self):
        svc = self.start({"rules": FIXED})
        r = self.push(svc, self.sign(set_claims()))
        self.assertEqual(r.status, 404, r)
        self.assertIn("sources.ssf.issuer", r.json["detail"])
        self.nothing_stored()

    def test_check_config_names_a_transmitter_that_is_no_issuer(self):
        cfg = {"listen": {"address": "127.0.0.1", "port": 0}, "store": {"path": self.db},
               "auth": {"issuers": [{"issuer": ISS, "audience": API_AUD,
                                     "algorithms": ["RS256"],
                                     "jwks_url": self.fake.jwks_url}]},
               "sources": {"ssf": {"issuer": "https://nobody.example/"}}}
        path = harness.write_config(os.path.join(self.tmp, "bad.json"), cfg)
        out = run_cli(["check-config", "--config", path], self.tmp)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("sources.ssf.issuer", out.stdout + out.stderr)
        self.assertIn("none of auth.issuers", out.stdout + out.stderr)


class RulesTest(SsfCase):

    def test_rules_test_source_ssf_reads_a_set_and_its_claims(self):
        cfg = {"listen": {"address": "127.0.0.1", "port": 0}, "store": {"path": self.db},
               "auth": {"issuers": [{"issuer": ISS, "audience": API_AUD,
                                     "algorithms": ["RS256"],
                                     "jwks_url": self.fake.jwks_url}]},
               "sources": {"ssf": {"issuer": ISS}}}
        path = harness.write_config(os.path.join(self.tmp, "rules.json"), cfg)
        compact = os.path.join(self.tmp, "set.jwt")
        with open(compact, "w") as f:
            f.write(self.sign(payload("caep-credential-change.json")) + "\n")
        for f in (compact, os.path.join(DATA, "risc-account-disabled.json")):
            out = run_cli(["rules", "test", "--config", path, "--source", "ssf", "--json", f],
                          self.tmp)
            self.assertEqual(out.returncode, 0, out.stderr)
            summary = json.loads(out.stdout)
            self.assertEqual(summary["received"], 1)
            one = summary["revocations"][0]
            self.assertEqual(one["rule"], "person-lost-access")
            self.assertIn(one["kind"], ("credential_change", "account_disabled"))
            self.assertIn(one["subject"], ("usr_7Hq2Lm9Vx4Tb", "jane.doe@example.com"))


def run_cli(args, cwd):
    proc = subprocess.run([harness.binary_path()] + args, env=harness.clean_env(), cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    for marker in harness.SANITIZER_MARKERS:
        assert marker not in proc.stderr, proc.stderr
    return proc


if __name__ == "__main__":
    unittest.main()
