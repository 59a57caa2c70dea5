"""Targeted revocation end to end: people (their source identity, or a
principal tag) revoked through the real binary, checked in the fake AWS the
way IAM would decide (tests/fakes/iam_policy.py through fake.evaluate()).

Sessions are minted in the fake's STS as a user would get them:
AssumeRoleWithWebIdentity with an ID token that carries the
https://aws.amazon.com/source_identity claim (or session tags), and a chained
AssumeRole from such a session into a second role (a new TokenIssueTime, the
same source identity). The fake's clock (set_clock) says when a session was
minted; the service's development.clock_offset_seconds moves its own clock for
cleanup.

What a user would see is asserted: which sessions IAM refuses and which it
lets through, GET /v1/revocations/{id}, the CLI's JSON report, the roles'
inline policies, and the service's log for people that could not be written.

Run with Debian's /usr/bin/python3 (PyJWT, cryptography, botocore).
"""

import copy
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import harness
from harness import Key, Service, Store, make_token, parse_rfc3339, rfc3339

fake_aws = harness.fake_aws

ACCT = "111111111111"
BASE_KEY = harness.EXAMPLE_BASE_KEY
BASE_SECRET = harness.EXAMPLE_BASE_SECRET
ADMIN_ROLE = harness.ADMIN_ROLE
EXTERNAL_ID = harness.EXTERNAL_ID
PROVIDER = "auth.example.com/"
POLICY = "session-revoker-deny"
GROUP_SID = "SessionRevokerDenyOldSessions"
PEOPLE_SID = "SessionRevokerPeople"
ISS = "https://idp.targeted.test/"
AUD = "session-revoker-targeted"
SKEW = 60
MAX_SESSION = 43200
LIFETIME = 7200          # targeted.token_lifetime_seconds in these tests
BUDGET = 10240           # a role's inline policies, IAM's quota
WAIT = 30.0
POLL = 0.1
TERMINAL = ("applied", "partial", "failed", "cleaned")
ACTION = "s3:GetObject"  # what the sessions try; every role allows it

ALICE = "alice@example.com"
BOB = "bob@example.com"

KEY = None
TMP = None


def setUpModule():
    global KEY, TMP
    TMP = tempfile.mkdtemp(prefix="sr-targeted-keys-")
    KEY = Key("rsa", TMP, "issuer")
    KEY.write_public_pem()


def tearDownModule():
    if TMP and not os.environ.get("SR_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


# --------------------------------------------------------------------------
# the world: one account, two federated roles, one reached only by chaining

ALLOW_ALL = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
FOREIGN = {"Sid": "SecurityTeamNoNewUsers", "Effect": "Deny", "Action": "iam:CreateUser",
           "Resource": "*"}


def arn(role):
    return "arn:aws:iam::%s:role/%s" % (ACCT, role)


def federated_role(name, group, inline=None):
    return {"RoleName": name, "Path": "/", "MaxSessionDuration": MAX_SESSION,
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::%s:oidc-provider/%s"
                              % (ACCT, PROVIDER)},
                "Action": ["sts:AssumeRoleWithWebIdentity", "sts:SetSourceIdentity",
                           "sts:TagSession"],
                "Condition": {"StringEquals": {PROVIDER + ":amr": group}}}]},
            "inline_policies": dict(inline or {"app": ALLOW_ALL})}


def world():
    example = harness.EXAMPLE_SEED
    admin = next(r for r in example["accounts"][ACCT]["roles"]
                 if r["RoleName"] == ADMIN_ROLE)
    chained = {"RoleName": "Chained", "Path": "/", "MaxSessionDuration": 3600,
               "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                   "Effect": "Allow", "Principal": {"AWS": [arn("Dev"), arn("Ops")]},
                   "Action": ["sts:AssumeRole", "sts:SetSourceIdentity",
                              "sts:TagSession"]}]},
               "inline_policies": {"app": ALLOW_ALL}}
    return {"random_seed": 7, "base_credentials": copy.deepcopy(example["base_credentials"]),
            "accounts": {ACCT: {"roles": [copy.deepcopy(admin),
                                          federated_role("Dev", "team_dev"),
                                          federated_role("Ops", "team_ops"),
                                          chained]}}}


def statements(doc):
    st = doc.get("Statement")
    return st if isinstance(st, list) else [st]


def inline_size(policies):
    """What IAM counts of a role's inline policies: names + compact JSON."""
    return sum(len(name) + len(json.dumps(doc, separators=(",", ":")))
               for name, doc in policies.items())


def log_tail(svc, n=6000):
    lines = [l for l in svc.stderr().splitlines() if "msg=http.request" not in l]
    return "\n".join(lines)[-n:]


def xml_field(text, name):
    for el in ET.fromstring(text).iter():
        if el.tag.rsplit("}", 1)[-1] == name:
            return el.text
    raise AssertionError("no <%s> in %s" % (name, text[:2000]))


class TargetedCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-targeted-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.db = os.path.join(self.tmp, "targeted.db")
        self.store = Store(self.db)
        self.fake = fake_aws.FakeAws(world()).start()
        self.addCleanup(self.fake.stop)
        self.seeded = self.inline()
        self.n_configs = 0

    # -- config, service, CLI ------------------------------------------------

    def write_config(self, offset=0, targeted=None, revoke=None, log=None):
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"path": self.db},
            "auth": {"clock_skew_seconds": SKEW, "issuers": [
                {"issuer": ISS, "audience": AUD, "algorithms": ["RS256"],
                 "public_key_file": os.path.join(TMP, "issuer.pub.pem")}]},
            "log": {"level": "info"},
            "aws": {"accounts": [{"id": ACCT, "role_name": ADMIN_ROLE,
                                  "external_id": EXTERNAL_ID}],
                    "max_attempts": 3, "max_retry_seconds": 5, "timeout_seconds": 10},
            "revoke": {"providers": [PROVIDER], "policy_name": POLICY,
                       "max_session_seconds": MAX_SESSION},
            "targeted": {"token_lifetime_seconds": LIFETIME},
            "jobs": {"workers": 2, "poll_ms": 100, "retry_base_seconds": 1},
            "development": {"clock_offset_seconds": offset},
        }
        cfg["targeted"].update(targeted or {})
        cfg["revoke"].update(revoke or {})
        cfg["log"].update(log or {})
        self.n_configs += 1
        path = os.path.join(self.tmp, "config-%d.json" % self.n_configs)
        harness.write_config(path, cfg)
        return path

    def aws_env(self):
        return {"AWS_ENDPOINT_URL": self.fake.url, "AWS_ACCESS_KEY_ID": BASE_KEY,
                "AWS_SECRET_ACCESS_KEY": BASE_SECRET, "AWS_EC2_METADATA_DISABLED": "true",
                "HOME": self.tmp}

    def start_service(self, offset=0, **kw):
        path = self.write_config(offset=offset, **kw)
        svc = Service(path, cwd=self.tmp, logdir=self.tmp, name="service-%d" % self.n_configs)
        svc.env = {k: v for k, v in svc.env.items() if not k.startswith("AWS_")}
        svc.env.update(self.aws_env())
        svc.offset = offset
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        return svc

    def cli(self, cmd, *, subjects=None, groups=None, at=None, offset=0, expect=0, **kw):
        config = self.write_config(offset=offset, **kw)
        args = [cmd, "--config", config, "--json"]
        if subjects is not None:
            args += ["--subjects", ",".join(subjects)]
        if groups is not None:
            args += ["--groups", ",".join(groups)]
        if at is not None:
            args += ["--time", at]
        env = harness.clean_env({k: v for k, v in self.aws_env().items()})
        env = {k: v for k, v in env.items()
               if not k.startswith("AWS_") or k in self.aws_env()}
        proc = subprocess.run([harness.binary_path()] + args, env=env, cwd=self.tmp,
                              capture_output=True, timeout=120)
        out, err = proc.stdout.decode(), proc.stderr.decode()
        what = "session-revoker %s\nexit %d\n--- stdout\n%s\n--- stderr\n%s" % (
            " ".join(args), proc.returncode, out[-6000:], err[-6000:])
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, err, what)
        self.assertEqual(proc.returncode, expect, what)
        report = json.loads(out)
        report["_describe"] = what
        report["_stderr"] = err
        return report

    @staticmethod
    def cli_roles(report):
        return {r["role"]: r for r in report["roles"]}

    def token(self, svc, scope):
        t = int(time.time()) + svc.offset
        return make_token(KEY, "RS256", {"iat": t, "exp": t + 600}, iss=ISS, aud=AUD,
                          scope=scope)

    def post(self, svc, body, expect=202):
        r = svc.request("POST", "/v1/revocations", json_body=body,
                        token=self.token(svc, "revocations:write"))
        self.assertEqual(r.status, expect, "%r\n%s" % (r, log_tail(svc, 4000)))
        return r

    def get(self, svc, rev_id):
        r = svc.request("GET", "/v1/revocations/" + rev_id,
                        token=self.token(svc, "revocations:read"))
        self.assertEqual(r.status, 200, "%r\n%s" % (r, log_tail(svc, 4000)))
        return r.json

    def wait_state(self, svc, rev_id, states, timeout=WAIT):
        """Waits until the revocation is in one of states (or another state it
        cannot leave); fails unless it is in one of states."""
        states = (states,) if isinstance(states, str) else tuple(states)
        final = set(TERMINAL) - ({"applied"} if "cleaned" in states else set())
        deadline = time.monotonic() + timeout
        while True:
            self.assertTrue(svc.alive(), "service died:\n" + svc.stderr()[-20000:])
            rev = self.get(svc, rev_id)
            if rev["state"] in states or rev["state"] in final:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(POLL)
        self.assertIn(rev["state"], states, "%s\nstderr:\n%s"
                      % (json.dumps(rev, indent=1)[-8000:], log_tail(svc)))
        return rev

    # -- the fake: sessions and decisions -------------------------------------

    def inline(self):
        """{role name: {policy name: document}} of the account, now."""
        return {name: role["inline_policies"]
                for name, role in self.fake.state()["accounts"][ACCT]["roles"].items()}

    def at(self, offset):
        """The fake's clock offset_seconds from now: what it mints is issued then."""
        self.fake.set_clock(offset_seconds=offset)

    def login(self, role, who=None, tag=None, group=None):
        """A web-identity session of role for a user whose ID token carries
        who as source identity and/or tag as the transitive session tag
        "user"; returns its credentials (access key id, secret, token)."""
        claims = {"iss": "https://" + PROVIDER, "sub": who or tag or "anonymous",
                  "aud": "revoker-demo",
                  "amr": [group or {"Dev": "team_dev", "Ops": "team_ops"}[role]]}
        if who is not None:
            claims["https://aws.amazon.com/source_identity"] = who
        if tag is not None:
            claims["https://aws.amazon.com/tags"] = {
                "principal_tags": {"user": [tag]}, "transitive_tag_keys": ["user"]}
        token = ".".join([harness.b64url(json.dumps({"alg": "none"})),
                          harness.b64url(json.dumps(claims)), "c2ln"])
        body = urllib.parse.urlencode({
            "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
            "RoleArn": arn(role), "RoleSessionName": "login", "DurationSeconds": "43200",
            "WebIdentityToken": token})
        with urllib.request.urlopen(self.fake.url + "/", body.encode(), timeout=10) as resp:
            text = resp.read().decode()
        return Credentials(xml_field(text, "AccessKeyId"), xml_field(text, "SecretAccessKey"),
                           xml_field(text, "SessionToken"))

    def chain(self, creds, role):
        """The session's holder assumes role (role chaining)."""
        body = urllib.parse.urlencode({"Action": "AssumeRole", "Version": "2011-06-15",
                                       "RoleArn": arn(role), "RoleSessionName": "chain"})
        req = AWSRequest(method="POST", url=self.fake.url + "/", data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(creds, "sts", "us-east-1").add_auth(req)
        prepared = req.prepare()
        http_req = urllib.request.Request(prepared.url, data=body.encode(),
                                          headers=dict(prepared.headers), method="POST")
        try:
            with urllib.request.urlopen(http_req, timeout=10) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as exc:
            self.fail("AssumeRole %s: %s %s" % (role, exc.code, exc.read().decode()))
        return Credentials(xml_field(text, "AccessKeyId"), xml_field(text, "SecretAccessKey"),
                           xml_field(text, "SessionToken"))

    def decision(self, role, creds):
        got = self.fake.evaluate(arn(role), ACTION, access_key_id=creds.access_key)
        return got["decision"]

    def assert_decisions(self, rows):
        """rows: (what, role, credentials, "explicitDeny" | "allowed")."""
        got = {what: self.decision(role, creds) for what, role, creds, _ in rows}
        want = {what: w for what, _, _, w in rows}
        self.assertEqual(got, want, json.dumps(self.inline(), indent=1)[-6000:])

    def people_statements(self, doc):
        return [s for s in statements(doc) if str(s.get("Sid", "")).startswith(PEOPLE_SID)]

    def denied_people(self, doc, key="aws:SourceIdentity"):
        """{person: cut-off text} of the people statements in doc."""
        out = {}
        for s in self.people_statements(doc):
            self.assertEqual((s["Effect"], s["Action"], s["Resource"]), ("Deny", "*", "*"), s)
            cond = s["Condition"]
            names = cond.get("StringEqualsIgnoreCase", cond.get("StringEquals"))[key]
            for name in names if isinstance(names, list) else [names]:
                out[name] = s["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        return out


# --------------------------------------------------------------------------
# 1. one person, by source identity: old, chained and post-event sessions

class SourceIdentityTest(TargetedCase):

    def test_alice_refused_everywhere_she_reaches_bob_not(self):
        # Sessions from an hour before the event.
        self.at(-3600)
        alice_dev = self.login("Dev", who=ALICE)
        alice_ops = self.login("Ops", who=ALICE)
        bob_dev = self.login("Dev", who=BOB)
        anon_dev = self.login("Dev")
        self.at(-1800)
        alice_chained = self.chain(alice_dev, "Chained")
        bob_chained = self.chain(bob_dev, "Chained")
        self.at(0)

        svc = self.start_service()
        t0 = int(time.time())
        r = self.post(svc, {"subjects": [ALICE], "reason": "offboarding"})
        self.assertEqual(r.json["subjects"], [ALICE], r)
        rev = self.wait_state(svc, r.json["id"], "applied")
        self.assertEqual(rev["subjects"], [ALICE])
        event = parse_rfc3339(rev["cutoff"])
        self.assertLessEqual(abs(event - t0), 5, rev)
        self.assertEqual(rev["subjects_cutoff"], rfc3339(event + LIFETIME), rev)

        # Alice's sessions issued before the event's cut-off: refused; Bob's,
        # and a session without a source identity, not.
        # A session minted after the event with an ID token issued before it
        # (so before event + the token lifetime): refused too.
        self.at(600)
        alice_after = self.login("Dev", who=ALICE)
        bob_after = self.login("Dev", who=BOB)
        # Once every ID token from before the event has expired: allowed.
        self.at(LIFETIME + 600)
        alice_later = self.login("Dev", who=ALICE)
        self.at(0)
        self.assert_decisions([
            ("alice old Dev", "Dev", alice_dev, "explicitDeny"),
            ("alice old Ops", "Ops", alice_ops, "explicitDeny"),
            ("alice minted after the event, old ID token", "Dev", alice_after, "explicitDeny"),
            ("alice minted after event + token lifetime", "Dev", alice_later, "allowed"),
            ("bob old", "Dev", bob_dev, "allowed"),
            ("bob after", "Dev", bob_after, "allowed"),
            ("no source identity", "Dev", anon_dev, "allowed"),
            # scope federated: Chained trusts no provider, it is left alone
            ("alice chained (scope federated)", "Chained", alice_chained, "allowed"),
            ("bob chained", "Chained", bob_chained, "allowed"),
        ])
        got = self.fake.evaluate(arn("Dev"), ACTION, access_key_id=alice_dev.access_key)
        self.assertEqual(got["matched"][0]["policy"], "inline:" + POLICY, got)
        self.assertTrue(got["matched"][0]["sid"].startswith(PEOPLE_SID), got)
        pols = self.inline()
        for role in ("Dev", "Ops"):
            self.assertEqual(self.denied_people(pols[role][POLICY]),
                             {ALICE: rfc3339(event + LIFETIME)}, pols[role])
            # no group statement: no group was revoked
            self.assertFalse([s for s in statements(pols[role][POLICY])
                              if s.get("Sid") == GROUP_SID], pols[role])
        for role in ("Chained", ADMIN_ROLE):
            self.assertEqual(pols[role], self.seeded[role], role)
        roles = {x["role_arn"]: x["outcome"] for x in rev["roles"] if x["action"] == "apply"}
        self.assertEqual(roles, {arn("Dev"): "denied", arn("Ops"): "denied"}, rev["roles"])
        svc.stop(check=True)

        # targeted.scope "all": every role of the account, for chained sessions.
        svc = self.start_service(targeted={"scope": "all"})
        r = self.post(svc, {"subjects": [ALICE]})
        rev = self.wait_state(svc, r.json["id"], "applied")
        self.assert_decisions([
            ("alice chained (scope all)", "Chained", alice_chained, "explicitDeny"),
            ("bob chained", "Chained", bob_chained, "allowed"),
            ("alice old Dev", "Dev", alice_dev, "explicitDeny"),
            ("bob old", "Dev", bob_dev, "allowed"),
        ])
        pols = self.inline()
        self.assertIn(ALICE, self.denied_people(pols["Chained"][POLICY]))
        self.assertEqual(pols["Chained"]["app"], ALLOW_ALL)
        svc.stop(check=True)

        # Cleanup, once Alice's sessions have all expired, takes her out of
        # every role, the chained-only one too.
        offset = event + LIFETIME + MAX_SESSION + SKEW + 600 - int(time.time())
        self.fake.set_clock(offset_seconds=offset)
        svc = self.start_service(offset=offset, targeted={"scope": "all"})
        self.wait_state(svc, r.json["id"], "cleaned", timeout=60)
        svc.stop(check=True)
        self.assertEqual(self.inline(), self.seeded)


# --------------------------------------------------------------------------
# 2. the same through a principal tag

class PrincipalTagTest(TargetedCase):

    def test_alice_named_by_her_session_tag(self):
        self.at(-3600)
        alice_dev = self.login("Dev", tag=ALICE)
        bob_dev = self.login("Dev", tag=BOB)
        # a session of Alice's that carries her only as source identity: the
        # tag is what this service was told to look at
        alice_untagged = self.login("Dev", who=ALICE)
        self.at(-1800)
        alice_chained = self.chain(alice_dev, "Chained")
        self.at(600)
        alice_after = self.login("Dev", tag=ALICE)
        self.at(0)

        svc = self.start_service(targeted={"principal_tag": "user", "scope": "all"})
        r = self.post(svc, {"subjects": [ALICE]})
        rev = self.wait_state(svc, r.json["id"], "applied")
        self.assert_decisions([
            ("alice old (tag)", "Dev", alice_dev, "explicitDeny"),
            ("alice after the event, old ID token", "Dev", alice_after, "explicitDeny"),
            ("alice chained (transitive tag)", "Chained", alice_chained, "explicitDeny"),
            ("bob (tag)", "Dev", bob_dev, "allowed"),
            ("alice by source identity only", "Dev", alice_untagged, "allowed"),
        ])
        pols = self.inline()
        self.assertEqual(self.denied_people(pols["Dev"][POLICY], key="aws:PrincipalTag/user"),
                         {ALICE: rfc3339(parse_rfc3339(rev["cutoff"]) + LIFETIME)})
        svc.stop(check=True)


    def test_people_not_written_are_named_whole_in_the_log(self):
        # A principal tag may hold spaces: the log line naming a person who
        # did not fit must still name them whole (here in the JSON form).
        people = ["Person Number %03d" % i for i in range(500)]
        svc = self.start_service(targeted={"principal_tag": "user", "overflow": "report"},
                                 log={"format": "json"})
        rid = self.post(svc, {"subjects": people}).json["id"]
        rev = self.wait_state(svc, rid, ("applied", "failed"))
        svc.stop(check=True)
        named = {}
        for line in svc.stderr().splitlines():
            obj = json.loads(line)  # every line is one JSON object
            if obj.get("msg") == "engine.person_not_written":
                named.setdefault(obj.get("role"), set()).add(obj.get("subject"))
        for role in ("Dev", "Ops"):
            denied = self.denied_people(self.inline()[role][POLICY],
                                        key="aws:PrincipalTag/user")
            self.assertGreater(len(denied), 0)
            self.assertEqual(named.get(role, set()), set(people) - set(denied),
                             "%s\n%s" % (role, rev["roles"]))
            self.assertLess(len(denied), 500)


# --------------------------------------------------------------------------
# 3. groups and people in one document, beside what was there

class GroupsAndPeopleTest(TargetedCase):

    def setUp(self):
        super().setUp()
        # someone else's statement in our policy's name, on Ops
        self.fake.stop()
        seed = world()
        ops = next(r for r in seed["accounts"][ACCT]["roles"] if r["RoleName"] == "Ops")
        ops["inline_policies"][POLICY] = {"Version": "2012-10-17", "Statement": [FOREIGN]}
        self.fake = fake_aws.FakeAws(seed).start()
        self.addCleanup(self.fake.stop)
        self.seeded = self.inline()

    def test_each_role_gets_its_statement_nothing_is_lost(self):
        self.at(-3 * 3600)
        dave_dev = self.login("Dev", who="dave@example.com")
        dave_ops = self.login("Ops", who="dave@example.com")
        self.at(-1800)
        carol_ops = self.login("Ops", who="carol@example.com")
        erin_ops = self.login("Ops", who="erin@example.com")
        self.at(0)
        svc = self.start_service()
        # an earlier group revocation of team_ops, two hours ago
        first = self.post(svc, {"groups": ["team_ops"], "time": "2 hours ago"}).json
        self.wait_state(svc, first["id"], "applied")
        ops_group = [s for s in statements(self.inline()["Ops"][POLICY])
                     if s.get("Sid") == GROUP_SID]
        self.assertEqual(len(ops_group), 1, self.inline()["Ops"])

        r = self.post(svc, {"groups": ["team_dev"], "subjects": ["carol@example.com"]}).json
        rev = self.wait_state(svc, r["id"], "applied")
        self.assertEqual((rev["groups"], rev["subjects"]), (["team_dev"], ["carol@example.com"]))
        event = parse_rfc3339(rev["cutoff"])
        self.assertEqual(rev["groups_cutoff"], rev["cutoff"], rev)
        self.assertEqual(rev["subjects_cutoff"], rfc3339(event + LIFETIME), rev)
        pols = self.inline()
        dev = statements(pols["Dev"][POLICY])
        ops = statements(pols["Ops"][POLICY])
        # Dev: the group's statement at the event, carol's at event + lifetime
        self.assertEqual([s["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
                          for s in dev if s.get("Sid") == GROUP_SID], [rev["cutoff"]], dev)
        self.assertEqual(self.denied_people(pols["Dev"][POLICY]),
                         {"carol@example.com": rfc3339(event + LIFETIME)})
        # Ops: the earlier group statement as it was, the foreign statement,
        # carol added
        self.assertEqual([s for s in ops if s.get("Sid") == GROUP_SID], ops_group, ops)
        self.assertIn(FOREIGN, ops)
        self.assertEqual(self.denied_people(pols["Ops"][POLICY]),
                         {"carol@example.com": rfc3339(event + LIFETIME)})
        self.assertEqual(len(ops), 3, ops)
        for role in ("Dev", "Ops", "Chained", ADMIN_ROLE):
            self.assertEqual({n: d for n, d in pols[role].items() if n != POLICY},
                             {n: d for n, d in self.seeded[role].items() if n != POLICY}, role)
        self.assert_decisions([
            ("dave Dev, before the group cut-off", "Dev", dave_dev, "explicitDeny"),
            ("dave Ops, before the earlier group cut-off", "Ops", dave_ops, "explicitDeny"),
            ("carol Ops, after the group cut-off", "Ops", carol_ops, "explicitDeny"),
            ("erin Ops, after the group cut-off", "Ops", erin_ops, "allowed"),
        ])
        svc.stop(check=True)

        # Once both revocations' cut-offs + max session have passed, their
        # cleanup jobs take out the groups' statement and carol; the
        # statement someone else put in the policy stays.
        offset = event + LIFETIME + MAX_SESSION + SKEW + 600 - int(time.time())
        self.fake.set_clock(offset_seconds=offset)
        svc = self.start_service(offset=offset)
        self.wait_state(svc, first["id"], "cleaned", timeout=60)
        self.wait_state(svc, r["id"], "cleaned", timeout=60)
        svc.stop(check=True)
        pols = self.inline()
        self.assertEqual(pols["Ops"][POLICY]["Statement"], [FOREIGN], pols["Ops"])
        pols["Ops"][POLICY] = self.seeded["Ops"][POLICY]
        self.assertEqual(pols, self.seeded)


# --------------------------------------------------------------------------
# 4. 500 people on one role: none lost

class ManyPeopleTest(TargetedCase):

    PEOPLE = ["person%03d@example.com" % i for i in range(500)]

    def test_500_people_in_five_revocations(self):
        # five revocations of 100 people, a minute apart: five cut-offs;
        # those the inline policy cannot hold go into the managed policy
        self.revoke_and_clean([{"subjects": self.PEOPLE[k * 100:(k + 1) * 100],
                                "time": "%d minutes ago" % (5 - k)} for k in range(5)])

    def test_500_people_in_one_revocation(self):
        # one cut-off: one statement naming everyone who fits, the rest in
        # the managed policy
        self.revoke_and_clean([{"subjects": self.PEOPLE}])

    def test_500_people_without_the_managed_policy_are_named(self):
        # targeted.overflow "report": those who do not fit are named
        self.revoke_and_clean([{"subjects": self.PEOPLE}], overflow="report")

    def test_people_partly_written_are_cleaned_after_the_trust_changed(self):
        # A role that took only some of the 500 people ("failed": the others
        # are named), whose trust policy then stops naming the provider: the
        # cleanup still visits it (the store's record) and takes the people
        # out once they are due.
        svc = self.start_service(targeted={"overflow": "report"})
        rid = self.post(svc, {"subjects": self.PEOPLE}).json["id"]
        rev = self.wait_state(svc, rid, ("applied", "failed"))
        svc.stop(check=True)
        self.assertGreater(len(self.denied_people(self.inline()["Dev"][POLICY])), 0)
        self.fake.set_trust_policy(ACCT, "Dev", {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCT},
            "Action": "sts:AssumeRole"}]})
        offset = (parse_rfc3339(rev["subjects_cutoff"]) + MAX_SESSION + SKEW + 600
                  - int(time.time()))
        self.fake.set_clock(offset_seconds=offset)
        svc = self.start_service(offset=offset)
        deadline = time.monotonic() + WAIT
        sql = ("SELECT j.state FROM jobs j JOIN revocations r ON r.seq = j.revocation_seq"
               " WHERE r.id = ? AND j.kind = 'cleanup'")
        while [j for j in self.store.query(sql, (rid,)) if j["state"] not in ("done", "failed")]:
            self.assertLess(time.monotonic(), deadline, log_tail(svc))
            time.sleep(POLL)
        self.assertEqual([j["state"] for j in self.store.query(sql, (rid,))], ["done"])
        svc.stop(check=True)
        pols = self.inline()
        for role in ("Dev", "Ops"):
            self.assertNotIn(POLICY, pols[role], role)

    def managed_people(self):
        """{person: cut-off text} of the account's managed policy (default
        version), {} when there is none."""
        pols = self.fake.state()["accounts"][ACCT].get("managed_policies") or {}
        out = {}
        for p in pols.values():
            for v in p["versions"]:
                if v["IsDefaultVersion"]:
                    out.update(self.denied_people(v["Document"]))
        return out

    def revoke_and_clean(self, bodies, overflow="managed"):
        """Posts bodies (500 people in all); none lost, the budget kept; then
        every person cleaned up once due."""
        people = self.PEOPLE
        svc = self.start_service(targeted={"overflow": overflow})
        revs = [self.post(svc, body).json["id"] for body in bodies]
        final = [self.wait_state(svc, rid, ("applied", "partial", "failed"), timeout=90)
                 for rid in revs]
        pols = self.inline()
        log = svc.stderr()
        svc.stop(check=True)
        errors = " ".join(x.get("error") or "" for rev in final for x in rev["roles"])
        print("\nstates of the revocations: %s" % [rev["state"] for rev in final])
        for role in ("Dev", "Ops"):
            size = inline_size(pols[role])
            self.assertLessEqual(size, BUDGET, role)
            denied = self.denied_people(pols[role][POLICY])
            inline_people = len(denied)
            denied.update(self.managed_people())
            lost, not_written = [], []
            before = rfc3339(int(time.time()) - 3600)
            for p in people:
                d = self.fake.evaluate(arn(role), ACTION, session={
                    "source_identity": p, "token_issue_time": before})["decision"]
                if d == "explicitDeny":
                    self.assertIn(p, denied)
                    continue
                named = ("engine.person_not_written" in log and
                         ("role=%s subject=%s" % (role, p)) in log)
                if named:
                    not_written.append(p)
                else:
                    lost.append(p)
            self.assertEqual(lost, [], "people neither denied nor named as not written on "
                             "%s\n%s" % (role, errors[:3000]))
            self.assertEqual(len(denied) + len(not_written), 500)
            if not_written:
                self.assertIn("could not be written", errors)
            if overflow == "managed":
                self.assertEqual(not_written, [])
                self.assertLess(inline_people, 500)
            # a person's own later session (after every cut-off + lifetime) passes
            late = rfc3339(int(time.time()) + LIFETIME + 600)
            self.assertEqual(self.fake.evaluate(arn(role), ACTION, session={
                "source_identity": people[0], "token_issue_time": late})["decision"],
                "allowed")
            print("\n%s: %d of 500 people fit inline (%d characters of %d), %d in the"
                  " managed policy, %d named as not written"
                  % (role, inline_people, size, BUDGET, len(denied) - inline_people,
                     len(not_written)))

        # Once every cut-off + max session has passed, the cleanup jobs take
        # every person out again, those of a revocation that could write only
        # some of its people too: the roles are as seeded.
        last = max(parse_rfc3339(rev["subjects_cutoff"]) for rev in final)
        offset = last + MAX_SESSION + SKEW + 600 - int(time.time())
        self.fake.set_clock(offset_seconds=offset)
        svc = self.start_service(offset=offset, targeted={"overflow": overflow})
        deadline = time.monotonic() + 60
        while ((self.inline() != self.seeded or self.managed_people())
               and time.monotonic() < deadline):
            time.sleep(POLL)
        states = [self.get(svc, rid)["state"] for rid in revs]
        jobs = self.store.query("SELECT r.id, j.kind, j.state, j.run_at FROM jobs j JOIN "
                                "revocations r ON r.seq = j.revocation_seq ORDER BY r.seq")
        svc.stop(check=True)
        for role in ("Dev", "Ops"):
            self.assertEqual(sorted(self.denied_people(self.inline()[role].get(
                POLICY, {"Statement": []}))), [], "%s: people left after every cleanup was "
                "due; states %s, jobs %s" % (role, states, jobs))
        self.assertEqual(self.inline(), self.seeded)
        self.assertEqual(self.managed_people(), {})
        self.assertEqual(self.fake.state()["accounts"][ACCT].get("managed_policies") or {}, {})


# --------------------------------------------------------------------------
# 5. cleanup, person by person

GRACE = MAX_SESSION + SKEW


class CleanupTest(TargetedCase):

    def test_cli_cleanup_removes_each_person_on_time(self):
        # Alice revoked three hours ago, Bob now: Alice's cut-off is earlier.
        a = self.cli("revoke", subjects=[ALICE], at="3 hours ago")
        b = self.cli("revoke", subjects=[BOB])
        self.assertEqual(self.cli_roles(a)["Dev"]["outcome"], "denied", a["_describe"])
        self.assertEqual(self.cli_roles(b)["Dev"]["outcome"], "denied", b["_describe"])
        denied = self.denied_people(self.inline()["Dev"][POLICY])
        self.assertEqual(sorted(denied), [ALICE, BOB])
        alice_due = parse_rfc3339(denied[ALICE]) + GRACE
        bob_due = parse_rfc3339(denied[BOB]) + GRACE
        self.assertGreater(bob_due - alice_due, 3 * 3600 - 60)

        # Not due for anyone yet: nothing changes.
        calls = self.fake.state()["calls_total"]
        c = self.cli("cleanup", subjects=[ALICE, BOB])
        self.assertEqual(self.cli_roles(c)["Dev"]["outcome"], "not-due", c["_describe"])
        self.assertFalse([x for x in self.fake.calls(calls)
                          if x["action"] in ("PutRolePolicy", "DeleteRolePolicy")])

        # Past Alice's cut-off + max session, not Bob's: Alice goes, Bob stays.
        offset = alice_due - int(time.time()) + 600
        self.fake.set_clock(offset_seconds=offset)
        c = self.cli("cleanup", subjects=[ALICE, BOB], offset=offset)
        self.assertEqual(self.cli_roles(c)["Dev"]["outcome"], "not-due", c["_describe"])
        for role in ("Dev", "Ops"):
            self.assertEqual(self.denied_people(self.inline()[role][POLICY]),
                             {BOB: denied[BOB]}, role)
        # Past Bob's too: the policy is gone, the rest as seeded.
        offset = bob_due - int(time.time()) + 600
        self.fake.set_clock(offset_seconds=offset)
        c = self.cli("cleanup", subjects=[ALICE, BOB], offset=offset)
        self.assertEqual(self.cli_roles(c)["Dev"]["outcome"], "deleted", c["_describe"])
        self.assertEqual(self.inline(), self.seeded)

    def test_jobs_clean_each_person_up_on_time(self):
        svc = self.start_service()
        alice = self.post(svc, {"subjects": [ALICE], "time": "3 hours ago"}).json["id"]
        bob = self.post(svc, {"subjects": [BOB]}).json["id"]
        ra = self.wait_state(svc, alice, "applied")
        rb = self.wait_state(svc, bob, "applied")
        svc.stop(check=True)
        alice_due = parse_rfc3339(ra["subjects_cutoff"]) + GRACE
        bob_due = parse_rfc3339(rb["subjects_cutoff"]) + GRACE
        self.assertEqual(sorted(self.denied_people(self.inline()["Dev"][POLICY])), [ALICE, BOB])

        offset = alice_due - int(time.time()) + 600
        self.fake.set_clock(offset_seconds=offset)
        svc = self.start_service(offset=offset)
        self.wait_state(svc, alice, "cleaned", timeout=60)
        self.assertEqual(self.get(svc, bob)["state"], "applied")
        for role in ("Dev", "Ops"):
            self.assertEqual(sorted(self.denied_people(self.inline()[role][POLICY])), [BOB],
                             role)
        svc.stop(check=True)

        offset = bob_due - int(time.time()) + 600
        self.fake.set_clock(offset_seconds=offset)
        svc = self.start_service(offset=offset)
        self.wait_state(svc, bob, "cleaned", timeout=60)
        self.assertEqual(self.inline(), self.seeded)
        svc.stop(check=True)


    def test_a_person_revoked_again_stays_until_the_later_cutoff(self):
        # Alice revoked three hours ago, and again an hour ago: her cut-off
        # rises; the first revocation's cleanup, when due, must not take her
        # out while the second one still needs her denied.
        svc = self.start_service()
        t = int(time.time())
        first = self.post(svc, {"subjects": [ALICE], "time": rfc3339(t - 3 * 3600)}).json["id"]
        r1 = self.wait_state(svc, first, "applied")
        second = self.post(svc, {"subjects": [ALICE], "time": rfc3339(t - 3600)}).json["id"]
        r2 = self.wait_state(svc, second, "applied")
        svc.stop(check=True)
        later = parse_rfc3339(r2["subjects_cutoff"])
        self.assertEqual(later - parse_rfc3339(r1["subjects_cutoff"]), 7200)
        for role in ("Dev", "Ops"):
            self.assertEqual(self.denied_people(self.inline()[role][POLICY]),
                             {ALICE: r2["subjects_cutoff"]}, role)

        # past the first cut-off's due time, before the second's
        offset = parse_rfc3339(r1["subjects_cutoff"]) + GRACE + 600 - int(time.time())
        self.at(later - 600 - int(time.time()))
        alice_old = self.login("Dev", who=ALICE)  # minted before her later cut-off
        self.at(offset)
        svc = self.start_service(offset=offset)
        deadline = time.monotonic() + WAIT
        while not [x for x in self.get(svc, first)["roles"] if x["action"] == "cleanup"]:
            self.assertLess(time.monotonic(), deadline, log_tail(svc))
            time.sleep(POLL)
        rev = self.get(svc, first)
        self.assertNotEqual(rev["state"], "cleaned", json.dumps(rev, indent=1))
        for role in ("Dev", "Ops"):
            self.assertEqual(self.denied_people(self.inline()[role][POLICY]),
                             {ALICE: r2["subjects_cutoff"]}, role)
        self.assertEqual(self.decision("Dev", alice_old), "explicitDeny")
        svc.stop(check=True)

        # past the second's too: both revocations cleaned, nothing left
        offset = later + GRACE + 600 - int(time.time())
        self.fake.set_clock(offset_seconds=offset)
        svc = self.start_service(offset=offset)
        self.wait_state(svc, second, "cleaned", timeout=60)
        self.wait_state(svc, first, "cleaned", timeout=60)
        svc.stop(check=True)
        self.assertEqual(self.inline(), self.seeded)


# --------------------------------------------------------------------------
# 6. plan, and a revoke run twice

class PlanTest(TargetedCase):

    def test_plan_shows_people_and_characters_rerun_unchanged(self):
        plan = self.cli("plan", subjects=[ALICE, BOB])
        roles = self.cli_roles(plan)
        self.assertEqual(sorted(roles), ["Dev", "Ops"], plan["_describe"])
        for role in ("Dev", "Ops"):
            p = roles[role]["people"]
            self.assertEqual((p["denied"], p["not_written"]), (2, 0), roles[role])
            self.assertEqual(p["characters_used"] + p["characters_left"], BUDGET, p)
            # what the role's own policy "app" uses is counted
            self.assertGreater(p["characters_used"], inline_size(self.seeded[role]), p)
        self.assertEqual(self.inline(), self.seeded)  # plan writes nothing

        at = rfc3339(int(time.time()) - 600)  # the same time for both runs
        first = self.cli("revoke", subjects=[ALICE, BOB], at=at)
        self.assertEqual({r: x["outcome"] for r, x in self.cli_roles(first).items()},
                         {"Dev": "denied", "Ops": "denied"}, first["_describe"])
        # what plan said is what the roles now use (the cut-off's text has
        # the same length whatever the time)
        for role in ("Dev", "Ops"):
            self.assertEqual(roles[role]["people"]["characters_used"],
                             inline_size(self.inline()[role]), role)
        written = self.inline()
        calls = self.fake.state()["calls_total"]
        again = self.cli("revoke", subjects=[ALICE, BOB], at=at)
        self.assertEqual({r: x["outcome"] for r, x in self.cli_roles(again).items()},
                         {"Dev": "unchanged", "Ops": "unchanged"}, again["_describe"])
        self.assertFalse([x for x in self.fake.calls(calls) if x["action"] == "PutRolePolicy"])
        # an earlier time for the same people lowers no one's cut-off
        older = self.cli("revoke", subjects=[ALICE, BOB], at="2 hours ago")
        self.assertEqual({r: x["outcome"] for r, x in self.cli_roles(older).items()},
                         {"Dev": "unchanged", "Ops": "unchanged"}, older["_describe"])
        self.assertEqual(self.inline(), written)


# --------------------------------------------------------------------------
# 7. bad input

class BadInputTest(TargetedCase):

    def test_subject_that_is_no_source_identity_is_refused(self):
        svc = self.start_service()
        before = dict(self.store.counts(), jobs=self.store.count("jobs"))
        for subjects, bad in ((["alice example"], "alice example"),
                              ([ALICE, "bob/x@example.com"], "bob/x@example.com"),
                              (["a"], "a"), (["x" * 65], "x" * 64)):
            with self.subTest(subjects=subjects):
                r = self.post(svc, {"subjects": subjects}, expect=400)
                self.assertIn(bad, r.json["detail"], r)
                self.assertIn("subjects", r.json["detail"], r)
        self.assertEqual(dict(self.store.counts(), jobs=self.store.count("jobs")), before)
        self.assertEqual(self.inline(), self.seeded)
        svc.stop(check=True)


if __name__ == "__main__":
    unittest.main()
