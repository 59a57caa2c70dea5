"""Durable jobs end to end: `session-revoker serve` with workers, against the
fake AWS (tests/fakes/fake_aws.py).

Each test starts its own FakeAws from example-seed.json and its own SQLite
file, runs the real binary (harness.Service) with the fake's endpoint and
base credentials, and checks what a user sees: the 202, GET
/v1/revocations/{id} (state, jobs, roles, cleanup_due), the fake's state (the
roles' inline policies) and call log (what was written, once), and the
database, read-only. Restarts use development.clock_offset_seconds to look
hours ahead; tokens are minted around the service's shifted clock.

A service that crashes, does not exit 0 on SIGTERM, or whose stderr holds a
sanitizer report fails the test that ran it (harness.Service.stop).

Run with Debian's /usr/bin/python3 (PyJWT, cryptography, botocore).
"""

import collections
import copy
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import uuid

import harness
from harness import Key, Service, Store, make_token, parse_rfc3339, rfc3339

HERE = os.path.dirname(os.path.abspath(__file__))
fake_aws = harness.fake_aws

EXAMPLE_SEED = harness.EXAMPLE_SEED

ACCOUNTS = harness.EXAMPLE_ACCOUNTS
BASE_KEY = harness.EXAMPLE_BASE_KEY
BASE_SECRET = harness.EXAMPLE_BASE_SECRET
ADMIN_ROLE = harness.ADMIN_ROLE
EXTERNAL_ID = harness.EXTERNAL_ID
PROVIDER = "auth.example.com/"
POLICY = "session-revoker-deny"
SID = "SessionRevokerDenyOldSessions"
EXPECTED = EXAMPLE_SEED["_expected_matches"]
OPSEC = sorted(EXPECTED["team_opsec"])
NEVER_OPSEC = EXPECTED["never_for_team_opsec"]

ISS = "https://idp.jobs.test/"
AUD = "session-revoker-jobs"
SKEW = 60
MAX_SESSION = 43200
POLL = 0.1           # seconds between GETs
WAIT = 20.0          # how long a state may take
TERMINAL = ("applied", "partial", "failed", "cleaned")
WRITES = ("PutRolePolicy", "DeleteRolePolicy")

KEY = None
TMP = None


def setUpModule():
    global KEY, TMP
    TMP = tempfile.mkdtemp(prefix="sr-jobs-keys-")
    KEY = Key("rsa", TMP, "issuer")
    KEY.write_public_pem()


def tearDownModule():
    if TMP and not os.environ.get("SR_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


# --------------------------------------------------------------------------
# helpers

def log_tail(svc, n=6000):
    """The service's stderr without the per-request lines, last n characters."""
    lines = [l for l in svc.stderr().splitlines() if "msg=http.request" not in l]
    return "\n".join(lines)[-n:]


def cpu_seconds(pid):
    """User + system CPU time of a process so far (Linux /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def statements(doc):
    st = doc.get("Statement")
    return st if isinstance(st, list) else [st]


def our_cutoff(doc):
    """The cut-off (RFC 3339 text) of session-revoker's statement in doc."""
    ours = [s for s in statements(doc) if s.get("Sid") == SID]
    if len(ours) != 1:
        raise AssertionError("not exactly one statement of ours: %r" % (doc,))
    s = ours[0]
    want = {"Sid": SID, "Effect": "Deny", "Action": "*", "Resource": "*"}
    if {k: s.get(k) for k in want} != want:
        raise AssertionError("our statement is not Deny * on *: %r" % (s,))
    return s["Condition"]["DateLessThan"]["aws:TokenIssueTime"]


class JobsCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-jobs-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.db = os.path.join(self.tmp, "jobs.db")
        self.store = Store(self.db)
        self.fake = None
        self.use_fake(copy.deepcopy(EXAMPLE_SEED))
        self.n_services = 0

    def use_fake(self, seed):
        """A fake AWS holding seed (in place of the one running), and what
        the tests compare with: its policies as seeded, its roles by ARN."""
        if self.fake is not None:
            self.fake.stop()
        self.fake = fake_aws.FakeAws(seed).start()
        self.addCleanup(self.fake.stop)
        st = self.fake.state()
        self.seed_policies = self.policies(st)
        self.arn_key = {role["Arn"]: "%s/%s" % (acct, name)
                        for acct, a in st["accounts"].items()
                        for name, role in a["roles"].items()}

    # -- the service ---------------------------------------------------------

    def write_config(self, *, workers=2, offset=0, accounts=None, aws=None, jobs=None):
        if accounts is None:
            accounts = [{"id": a, "role_name": ADMIN_ROLE, "external_id": EXTERNAL_ID}
                        for a in ACCOUNTS]
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"path": self.db},
            "auth": {"clock_skew_seconds": SKEW, "issuers": [
                {"issuer": ISS, "audience": AUD, "algorithms": ["RS256"],
                 "public_key_file": os.path.join(TMP, "issuer.pub.pem")}]},
            "log": {"level": "info"},
            "aws": {"accounts": accounts, "max_attempts": 3, "max_retry_seconds": 5,
                    "timeout_seconds": 10},
            "revoke": {"providers": [PROVIDER], "policy_name": POLICY,
                       "max_session_seconds": MAX_SESSION},
            "jobs": {"workers": workers, "poll_ms": 100, "retry_base_seconds": 1},
            "development": {"clock_offset_seconds": offset},
        }
        cfg["aws"].update(aws or {})
        cfg["jobs"].update(jobs or {})
        self.n_services += 1
        path = os.path.join(self.tmp, "config-%d.json" % self.n_services)
        harness.write_config(path, cfg)
        return path

    def start_service(self, **kw):
        offset = kw.get("offset", 0)
        path = self.write_config(**kw)
        svc = Service(path, cwd=self.tmp, logdir=self.tmp,
                      name="service-%d" % self.n_services)
        svc.env = {k: v for k, v in svc.env.items() if not k.startswith("AWS_")}
        svc.env.update({"AWS_ENDPOINT_URL": self.fake.url, "AWS_ACCESS_KEY_ID": BASE_KEY,
                        "AWS_SECRET_ACCESS_KEY": BASE_SECRET,
                        "AWS_EC2_METADATA_DISABLED": "true", "HOME": self.tmp})
        svc.offset = offset
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        return svc

    def stop_service(self, svc, within=None):
        """SIGTERM; exit 0, no sanitizer report (and within seconds)."""
        t0 = time.monotonic()
        svc.stop(check=True)
        took = time.monotonic() - t0
        if within is not None:
            self.assertLess(took, within, "stopping took %.1f s\n%s"
                            % (took, log_tail(svc)))
        return took

    def token(self, svc, scope="revocations:write revocations:read", claims=None, **kw):
        """A token valid on the service's (possibly shifted) clock."""
        t = int(time.time()) + svc.offset
        c = {"iat": t, "exp": t + 600}
        c.update(claims or {})
        return make_token(KEY, "RS256", c, iss=ISS, aud=AUD, scope=scope, **kw)

    def post(self, svc, body, headers=None, expect=202):
        r = svc.request("POST", "/v1/revocations", json_body=body,
                        token=self.token(svc, scope="revocations:write"), headers=headers)
        self.assertEqual(r.status, expect, "%r\n%s" % (r, log_tail(svc, 4000)))
        return r

    def post_jwt(self, svc, token, expect=202):
        r = svc.request("POST", "/v1/revocations", body=token,
                        headers={"Content-Type": "application/jwt"})
        self.assertEqual(r.status, expect, "%r\n%s" % (r, log_tail(svc, 4000)))
        return r

    def get(self, svc, rev_id):
        r = svc.request("GET", "/v1/revocations/" + rev_id,
                        token=self.token(svc, scope="revocations:read"))
        self.assertEqual(r.status, 200, "%r\n%s" % (r, log_tail(svc, 4000)))
        self.assertIsInstance(r.json, dict, r)
        return r.json

    def wait_for(self, svc, rev_id, pred, what, timeout=WAIT, on_each=None):
        """Polls GET every POLL s until pred(rev); fails with the last GET."""
        deadline = time.monotonic() + timeout
        rev = None
        while True:
            self.assertTrue(svc.alive(), "service died:\n" + svc.stderr()[-20000:])
            rev = self.get(svc, rev_id)
            if on_each is not None:
                on_each(rev)
            if pred(rev):
                return rev
            if time.monotonic() > deadline:
                self.fail("%s: not reached within %.0f s; last GET:\n%s\nstderr:\n%s"
                          % (what, timeout, json.dumps(rev, indent=1), log_tail(svc)))
            time.sleep(POLL)

    def wait_state(self, svc, rev_id, state, timeout=WAIT, **kw):
        """Waits for `state`, or for a state it cannot leave for `state`
        (then fails): applied while waiting for cleaned is not final."""
        final = set(TERMINAL) - ({"applied"} if state == "cleaned" else set())
        rev = self.wait_for(svc, rev_id, lambda r: r["state"] == state or r["state"] in final,
                            "revocation %s %s" % (rev_id, state), timeout, **kw)
        self.assertEqual(rev["state"], state, "%s\nstderr:\n%s"
                         % (json.dumps(rev, indent=1), log_tail(svc)))
        return rev

    # -- the fake ------------------------------------------------------------

    @staticmethod
    def policies(state):
        return {"%s/%s" % (acct, name): role["inline_policies"]
                for acct, a in state["accounts"].items() for name, role in a["roles"].items()}

    def writes(self, action="PutRolePolicy", ok=True, since=0):
        """Counter of acct/role -> calls of action (ok: 2xx only, else not 2xx)."""
        out = collections.Counter()
        for c in self.fake.calls(since):
            if c["action"] != action:
                continue
            if ok != (c["status"] is not None and 200 <= c["status"] < 300):
                continue
            out["%s/%s" % (c["account"], c["role"])] += 1
        return out

    def write_calls(self, since=0):
        return [c for c in self.fake.calls(since) if c["action"] in WRITES]

    def assert_denied_exactly(self, keys, cutoff_text):
        """Exactly the roles in keys carry our deny policy with cutoff_text;
        every other inline policy in the world is as seeded."""
        pa = self.policies(self.fake.state())
        for key, pols in pa.items():
            if key in keys:
                self.assertIn(POLICY, pols, "%s has no deny policy" % key)
                self.assertEqual(our_cutoff(pols[POLICY]), cutoff_text, key)
                self.assertEqual({n: d for n, d in pols.items() if n != POLICY},
                                 self.seed_policies[key], "%s: other policies changed" % key)
            else:
                self.assertEqual(pols, self.seed_policies[key], "%s changed" % key)

    def assert_no_deny_anywhere(self):
        self.assertEqual(self.policies(self.fake.state()), self.seed_policies)

    # -- reading a revocation ------------------------------------------------

    @staticmethod
    def jobs_of(rev, kind=None):
        return {j["account"]: j for j in rev["jobs"] if kind is None or j["kind"] == kind}

    def roles_of(self, rev, action):
        out = {}
        for r in rev["roles"]:
            if r["action"] != action:
                continue
            key = self.arn_key.get(r["role_arn"])
            self.assertIsNotNone(key, "unknown role_arn %r" % (r,))
            self.assertEqual(r["account"], key.split("/")[0], r)
            self.assertNotIn(key, out, "two %s entries for %s: %r" % (action, key, rev["roles"]))
            out[key] = r
        return out

    def db_jobs(self, rev_id):
        return self.store.query(
            "SELECT j.* FROM jobs j JOIN revocations r ON r.seq = j.revocation_seq"
            " WHERE r.id = ? ORDER BY j.account, j.kind", (rev_id,))

    def db_roles(self, rev_id):
        return self.store.query(
            "SELECT x.* FROM role_results x JOIN revocations r ON r.seq = x.revocation_seq"
            " WHERE r.id = ? ORDER BY x.account, x.role_arn, x.kind", (rev_id,))


DOC = {"groups": ["team_opsec"], "time": "30 minutes ago"}


# --------------------------------------------------------------------------
# 1. a POST is applied by the workers, and its cleanup scheduled

class ApplyTest(JobsCase):

    def test_post_is_applied_and_cleanup_scheduled(self):
        svc = self.start_service()
        r = self.post(svc, DOC)
        self.assertEqual(r.json["state"], "pending", r)
        rev_id = r.json["id"]
        self.assertEqual(r.headers.get("Location"), "/v1/revocations/" + rev_id)
        cutoff_text = r.json["cutoff"]
        cutoff = parse_rfc3339(cutoff_text)
        self.assertLess(abs(cutoff - (int(time.time()) - 1800)), 10, r)
        due = cutoff + MAX_SESSION + SKEW

        rev = self.wait_state(svc, rev_id, "applied")
        self.assertEqual(rev["cutoff"], cutoff_text)

        # The fake: the deny policy on exactly the matching roles, once each.
        self.assert_denied_exactly(set(OPSEC), cutoff_text)
        puts = self.writes("PutRolePolicy")
        self.assertEqual(dict(puts), {k: 1 for k in OPSEC}, self.write_calls())
        self.assertEqual([c for c in self.write_calls() if c["action"] != "PutRolePolicy"], [])
        for key in NEVER_OPSEC:
            self.assertNotIn(key, puts)

        # GET: 3 apply jobs done, 3 cleanup jobs pending at the due time.
        self.assertEqual(len(rev["jobs"]), 6, rev["jobs"])
        applies, cleanups = self.jobs_of(rev, "apply"), self.jobs_of(rev, "cleanup")
        self.assertEqual(sorted(applies), ACCOUNTS)
        self.assertEqual(sorted(cleanups), ACCOUNTS)
        for acct in ACCOUNTS:
            a, c = applies[acct], cleanups[acct]
            self.assertEqual((a["state"], a["attempts"], a["last_error"]), ("done", 1, None), a)
            self.assertEqual((c["state"], c["attempts"], c["last_error"]),
                             ("pending", 0, None), c)
            self.assertEqual(c["run_at"], rfc3339(due), c)
            for j in (a, c):
                self.assertEqual(set(j), {"id", "kind", "account", "state", "run_at",
                                          "attempts", "last_error", "updated_at"}, j)
        self.assertEqual(rev["cleanup_due"], rfc3339(due))

        # GET: one apply entry per matching role, denied, with the request id
        # of the PutRolePolicy that did it.
        roles = self.roles_of(rev, "apply")
        self.assertEqual(sorted(roles), OPSEC, rev["roles"])
        self.assertEqual(self.roles_of(rev, "cleanup"), {})
        put_ids = {}
        for c in self.fake.calls():
            if c["action"] == "PutRolePolicy" and c["status"] == 200:
                put_ids[c["request_id"]] = "%s/%s" % (c["account"], c["role"])
        for key, role in roles.items():
            self.assertEqual(role["outcome"], "denied", role)
            self.assertEqual(role["cutoff"], cutoff_text, role)
            self.assertIsNone(role["error"], role)
            self.assertTrue(role["request_id"], role)
            self.assertEqual(put_ids.get(role["request_id"]), key,
                             "%s: request_id %r is not its PutRolePolicy (%r)"
                             % (key, role["request_id"], put_ids))

        # The database agrees.
        row = self.store.revocation(rev_id)
        self.assertEqual(row["state"], "applied")
        self.assertEqual(row["cutoff"], cutoff)
        self.assertEqual(row["groups"], ["team_opsec"])
        jobs = self.db_jobs(rev_id)
        self.assertEqual(sorted((j["account"], j["kind"], j["state"], j["attempts"]) for j in jobs),
                         sorted([(a, "apply", "done", 1) for a in ACCOUNTS] +
                                [(a, "cleanup", "pending", 0) for a in ACCOUNTS]))
        for j in jobs:
            self.assertIsNone(j["lease_owner"], j)
            if j["kind"] == "cleanup":
                self.assertEqual(j["run_at"], due, j)
        db_roles = self.db_roles(rev_id)
        self.assertEqual(len(db_roles), len(OPSEC), db_roles)
        for x in db_roles:
            key = self.arn_key[x["role_arn"]]
            self.assertEqual((x["kind"], x["outcome"], x["cutoff"], x["request_id"]),
                             ("apply", "denied", cutoff, roles[key]["request_id"]), x)
        self.assertEqual(self.store.integrity_check(), ["ok"])
        self.stop_service(svc)


# --------------------------------------------------------------------------
# 2. the same event twice is one revocation, applied once

class DuplicateTest(JobsCase):

    def check_once(self, svc, rev_id):
        rev = self.wait_state(svc, rev_id, "applied")
        time.sleep(0.5)  # five poll periods: nothing more may happen
        rev = self.get(svc, rev_id)
        self.assertEqual(rev["state"], "applied")
        self.assertEqual(self.store.count("revocations"), 1)
        self.assertEqual(self.store.count("jobs"), 6, self.store.query("SELECT * FROM jobs"))
        self.assertEqual(len(rev["jobs"]), 6)
        for j in self.jobs_of(rev, "apply").values():
            self.assertEqual((j["state"], j["attempts"]), ("done", 1), j)
        self.assertEqual(dict(self.writes("PutRolePolicy")), {k: 1 for k in OPSEC},
                         self.write_calls())
        self.assert_denied_exactly(set(OPSEC), rev["cutoff"])
        self.stop_service(svc)

    def test_same_signed_document_twice(self):
        svc = self.start_service()
        t = int(time.time())
        token = make_token(KEY, "RS256", {"groups": ["team_opsec"], "time": "30 minutes ago",
                                          "iat": t, "exp": t + 600},
                           iss=ISS, aud=AUD, scope="revocations:write",
                           jti="evt-" + uuid.uuid4().hex)
        first = self.post_jwt(svc, token)
        second = self.post_jwt(svc, token)
        self.assertEqual(second.json["id"], first.json["id"], (first, second))
        self.assertEqual(second.json["cutoff"], first.json["cutoff"])
        self.assertEqual(second.headers.get("Idempotent-Replayed"), "true", second)
        self.wait_state(svc, first.json["id"], "applied")
        third = self.post_jwt(svc, token)   # once more, after it was applied
        self.assertEqual(third.json["id"], first.json["id"], third)
        self.check_once(svc, first.json["id"])

    def test_same_idempotency_key_twice(self):
        svc = self.start_service()
        key = {"Idempotency-Key": "retry-" + uuid.uuid4().hex}
        first = self.post(svc, DOC, headers=key)
        second = self.post(svc, DOC, headers=key)
        self.assertEqual(second.json["id"], first.json["id"], (first, second))
        self.assertEqual(second.headers.get("Idempotent-Replayed"), "true", second)
        self.wait_state(svc, first.json["id"], "applied")
        third = self.post(svc, DOC, headers=key)
        self.assertEqual(third.json["id"], first.json["id"], third)
        self.check_once(svc, first.json["id"])


# --------------------------------------------------------------------------
# 3. a restart picks up work left pending

class RestartTest(JobsCase):

    def test_pending_jobs_survive_a_restart(self):
        svc = self.start_service(workers=0)
        r = self.post(svc, DOC)
        rev_id = r.json["id"]
        time.sleep(0.5)
        rev = self.get(svc, rev_id)
        self.assertEqual(rev["state"], "pending", rev)
        self.assertEqual(sorted((j["account"], j["kind"], j["state"], j["attempts"])
                                for j in rev["jobs"]),
                         [(a, "apply", "pending", 0) for a in ACCOUNTS])
        self.stop_service(svc, within=5)

        self.assertEqual(sorted((j["account"], j["kind"], j["state"], j["attempts"])
                                for j in self.db_jobs(rev_id)),
                         [(a, "apply", "pending", 0) for a in ACCOUNTS])
        self.assertEqual(self.store.revocation(rev_id)["state"], "pending")
        self.assertEqual(self.write_calls(), [])
        self.assert_no_deny_anywhere()

        svc = self.start_service(workers=2)
        rev = self.wait_state(svc, rev_id, "applied")
        self.assert_denied_exactly(set(OPSEC), rev["cutoff"])
        self.assertEqual(dict(self.writes("PutRolePolicy")), {k: 1 for k in OPSEC})
        self.assertEqual(sorted(self.roles_of(rev, "apply")), OPSEC)
        self.assertEqual(len(self.jobs_of(rev, "cleanup")), 3)
        self.stop_service(svc)


# --------------------------------------------------------------------------
# 4. cleanup by the clock

class CleanupTest(JobsCase):

    def test_cleanup_runs_when_due_and_not_before(self):
        svc = self.start_service()
        rev_id = self.post(svc, DOC).json["id"]
        rev = self.wait_state(svc, rev_id, "applied")
        cutoff_text = rev["cutoff"]
        due = parse_rfc3339(cutoff_text) + MAX_SESSION + SKEW
        self.stop_service(svc)

        # Before due: a restart deletes nothing.
        seq = self.fake.state()["calls_total"]
        svc = self.start_service(offset=0)
        time.sleep(1.0)
        rev = self.get(svc, rev_id)
        self.assertEqual(rev["state"], "applied")
        for j in self.jobs_of(rev, "cleanup").values():
            self.assertEqual((j["state"], j["attempts"], j["run_at"]),
                             ("pending", 0, rfc3339(due)), j)
        self.stop_service(svc)
        self.assertEqual(self.write_calls(seq), [])
        self.assert_denied_exactly(set(OPSEC), cutoff_text)

        # 13 hours later (the cut-off was 30 minutes ago): the cleanups run.
        svc = self.start_service(offset=MAX_SESSION + 3600)
        rev = self.wait_state(svc, rev_id, "cleaned")
        self.assert_no_deny_anywhere()
        self.assertEqual(dict(self.writes("DeleteRolePolicy", since=seq)), {k: 1 for k in OPSEC},
                         self.write_calls(seq))
        self.assertEqual(self.writes("PutRolePolicy", since=seq), collections.Counter())
        for j in rev["jobs"]:
            self.assertEqual(j["state"], "done", j)
        self.assertIsNone(rev["cleanup_due"], rev)
        deletes = {c["request_id"]: "%s/%s" % (c["account"], c["role"])
                   for c in self.fake.calls(seq) if c["action"] == "DeleteRolePolicy"}
        cleanups = self.roles_of(rev, "cleanup")
        self.assertEqual(sorted(cleanups), OPSEC, rev["roles"])
        for key, role in cleanups.items():
            self.assertEqual(role["outcome"], "deleted", role)
            self.assertEqual(deletes.get(role["request_id"]), key, role)
        for key, role in self.roles_of(rev, "apply").items():
            self.assertEqual(role["outcome"], "denied", role)
        self.assertEqual(self.store.revocation(rev_id)["state"], "cleaned")
        self.stop_service(svc)

    def test_cleanup_finding_a_raised_cutoff_reschedules(self):
        svc = self.start_service()
        first = self.post(svc, DOC).json
        self.wait_state(svc, first["id"], "applied")
        second = self.post(svc, {"groups": ["team_opsec"], "time": "5 minutes ago"}).json
        rev2 = self.wait_state(svc, second["id"], "applied")
        cutoff1 = parse_rfc3339(first["cutoff"])
        cutoff2 = parse_rfc3339(second["cutoff"])
        self.assertGreater(cutoff2, cutoff1 + 1000)
        for key, role in self.roles_of(rev2, "apply").items():
            self.assertEqual((role["outcome"], role["cutoff"]), ("denied", second["cutoff"]), role)
        self.assert_denied_exactly(set(OPSEC), second["cutoff"])
        self.stop_service(svc)
        due1 = cutoff1 + MAX_SESSION + SKEW
        due2 = cutoff2 + MAX_SESSION + SKEW

        # A moment when the first's cleanup is due but the second's is not.
        seq = self.fake.state()["calls_total"]
        offset = due1 - int(time.time()) + 600
        self.assertLess(int(time.time()) + offset + 300, due2)
        svc = self.start_service(offset=offset)

        def rescheduled(rev):
            cl = self.jobs_of(rev, "cleanup")
            return (len([r for r in rev["roles"] if r["action"] == "cleanup"]) == len(OPSEC)
                    and all(j["state"] == "pending" and j["run_at"] == rfc3339(due2)
                            for j in cl.values()))
        rev1 = self.wait_for(svc, first["id"], rescheduled, "first cleanup rescheduled")
        for j in self.jobs_of(rev1, "cleanup").values():
            self.assertEqual((j["state"], j["run_at"], j["last_error"]),
                             ("pending", rfc3339(due2), None), j)
        self.assertEqual(rev1["cleanup_due"], rfc3339(due2))
        self.assertEqual(rev1["state"], "applied")
        for key, role in self.roles_of(rev1, "cleanup").items():
            self.assertEqual((role["outcome"], role["cutoff"], role["due"]),
                             ("not-due", second["cutoff"], rfc3339(due2)), role)
        rev2 = self.get(svc, second["id"])
        for j in self.jobs_of(rev2, "cleanup").values():
            self.assertEqual((j["state"], j["attempts"], j["run_at"]),
                             ("pending", 0, rfc3339(due2)), j)
        self.assertEqual(self.write_calls(seq), [])
        self.assert_denied_exactly(set(OPSEC), second["cutoff"])
        self.stop_service(svc)

        # Later still: both cleanups run, the policy goes, each role once.
        svc = self.start_service(offset=MAX_SESSION + 3600)
        rev1 = self.wait_state(svc, first["id"], "cleaned")
        rev2 = self.wait_state(svc, second["id"], "cleaned")
        self.assert_no_deny_anywhere()
        self.assertEqual(dict(self.writes("DeleteRolePolicy", since=seq)), {k: 1 for k in OPSEC},
                         self.write_calls(seq))
        for rev in (rev1, rev2):
            for key, role in self.roles_of(rev, "cleanup").items():
                self.assertIn(role["outcome"], ("deleted", "absent"), role)
        self.stop_service(svc)


# --------------------------------------------------------------------------
# 5. AWS failing, then recovering; and a refusal that will not go away

class FailureTest(JobsCase):

    def apply_then_untrust(self, key):
        """DOC applied by a service that then stops; afterwards the owner of
        role key edits its trust policy so that team_opsec no longer gets
        in. Returns the revocation's id."""
        svc = self.start_service()
        rev_id = self.post(svc, DOC).json["id"]
        self.wait_state(svc, rev_id, "applied")
        self.stop_service(svc)
        acct, name = key.split("/")
        self.fake.set_trust_policy(acct, name, {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"}]})
        return rev_id

    def test_cleanup_removes_the_deny_of_a_role_whose_trust_changed(self):
        # After the revocation the owner of a denied role edits its trust
        # policy so that team_opsec no longer gets in. Cleanup still visits
        # it (the store recorded the deny) and removes the policy.
        key = "111111111111/OpsecBreakGlass"
        rev_id = self.apply_then_untrust(key)
        seq = self.fake.state()["calls_total"]
        svc = self.start_service(offset=MAX_SESSION + 3600)
        rev = self.wait_state(svc, rev_id, "cleaned")
        self.assert_no_deny_anywhere()
        self.assertEqual(dict(self.writes("DeleteRolePolicy", since=seq)), {k: 1 for k in OPSEC})
        cleanups = self.roles_of(rev, "cleanup")
        self.assertEqual(sorted(cleanups), OPSEC, rev["roles"])
        self.assertEqual(cleanups[key]["outcome"], "deleted", cleanups[key])
        self.stop_service(svc)

    def test_a_cleanup_document_removes_the_deny_of_a_role_whose_trust_changed(self):
        # As above, but the deny policies are removed by a document with
        # "action": "cleanup" for the group: its jobs visit every role a
        # revocation of that group denied in their account, as the CLI does.
        key = "111111111111/OpsecBreakGlass"
        rev_id = self.apply_then_untrust(key)
        svc = self.start_service(offset=MAX_SESSION + 3600, jobs={"workers": 0})
        cleanup_id = self.post(svc, {"groups": ["team_opsec"], "action": "cleanup"}).json["id"]
        self.stop_service(svc)
        # The revocation's own cleanup jobs are not what removes it here.
        self.store.execute("DELETE FROM jobs WHERE kind = 'cleanup' AND revocation_seq ="
                           " (SELECT seq FROM revocations WHERE id = ?)", (rev_id,))
        svc = self.start_service(offset=MAX_SESSION + 3600)
        rev = self.wait_state(svc, cleanup_id, "cleaned")
        self.assert_no_deny_anywhere()
        cleanups = self.roles_of(rev, "cleanup")
        self.assertEqual(sorted(cleanups), OPSEC, rev["roles"])
        self.assertEqual(cleanups[key]["outcome"], "deleted", cleanups[key])
        self.stop_service(svc)

    def test_cli_cleanup_visits_the_roles_the_store_recorded(self):
        # `session-revoker cleanup` with the service's store finds the denied
        # role whose trust no longer names the group in the store's record.
        svc = self.start_service()
        rev_id = self.post(svc, DOC).json["id"]
        rev = self.wait_state(svc, rev_id, "applied")
        self.stop_service(svc)
        key = "222222222222/OpsecAuditor"
        acct, name = key.split("/")
        self.fake.set_trust_policy(acct, name, {"Version": "2012-10-17", "Statement": []})
        seq = self.fake.state()["calls_total"]
        env = harness.clean_env({"AWS_ENDPOINT_URL": self.fake.url, "AWS_ACCESS_KEY_ID": BASE_KEY,
                                 "AWS_SECRET_ACCESS_KEY": BASE_SECRET,
                                 "AWS_EC2_METADATA_DISABLED": "true", "HOME": self.tmp})
        env = {k: v for k, v in env.items() if k not in ("AWS_SESSION_TOKEN", "AWS_PROFILE")}
        proc = subprocess.run([harness.binary_path(), "cleanup", "--config", self.write_config(),
                               "--groups", "team_opsec", "--json"], env=env, cwd=self.tmp,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        roles = {"%s/%s" % (r["account"], r["role"]): r for r in json.loads(proc.stdout)["roles"]}
        self.assertEqual(sorted(roles), OPSEC, proc.stdout)
        self.assertEqual((roles[key]["outcome"], roles[key]["visited"], roles[key]["cutoff"]),
                         ("not-due", "recorded", rev["cutoff"]), roles[key])
        # The store named it: no role was searched by its inline policy names.
        self.assertFalse([c for c in self.fake.calls(seq) if c["action"] == "ListRolePolicies"])

    def cli_cleanup(self, groups):
        env = harness.clean_env({"AWS_ENDPOINT_URL": self.fake.url, "AWS_ACCESS_KEY_ID": BASE_KEY,
                                 "AWS_SECRET_ACCESS_KEY": BASE_SECRET,
                                 "AWS_EC2_METADATA_DISABLED": "true", "HOME": self.tmp})
        env = {k: v for k, v in env.items() if k not in ("AWS_SESSION_TOKEN", "AWS_PROFILE")}
        proc = subprocess.run([harness.binary_path(), "cleanup", "--config", self.write_config(),
                               "--groups", groups, "--json"], env=env, cwd=self.tmp,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        return {"%s/%s" % (r["account"], r["role"]): r for r in json.loads(proc.stdout)["roles"]}

    def test_cleanup_of_a_group_visits_what_a_star_revocation_denied(self):
        # A revocation of "*" (every group) denied every federated role; one
        # of them no longer trusts the provider at all. A later cleanup of
        # one group visits it as well: "*" covered that group too, and a
        # deny policy goes only once its own cut-off + the maximum session
        # has passed, so visiting more roles never cuts a revocation short.
        svc = self.start_service()
        rev_id = self.post(svc, {"groups": ["*"], "time": "30 minutes ago"}).json["id"]
        rev = self.wait_state(svc, rev_id, "applied")
        denied = self.roles_of(rev, "apply")
        self.assertIn("111111111111/OpsecBreakGlass", denied)
        self.assertNotIn("111111111111/Ec2AppInstanceRole", denied)
        self.stop_service(svc)
        key = "111111111111/OpsecBreakGlass"  # not a team_hr role
        acct, name = key.split("/")
        self.fake.set_trust_policy(acct, name, {"Version": "2012-10-17", "Statement": []})
        roles = self.cli_cleanup("team_hr")
        self.assertEqual((roles[key]["outcome"], roles[key]["visited"], roles[key]["cutoff"]),
                         ("not-due", "recorded", rev["cutoff"]), roles[key])
        self.assertTrue(set(EXPECTED["team_hr"]) <= set(roles), sorted(roles))

    def test_cleanup_of_star_visits_what_any_revocation_denied(self):
        # And the other way round: a cleanup of "*" visits the roles every
        # revocation denied, here one of team_opsec whose trust changed since.
        svc = self.start_service()
        rev_id = self.post(svc, DOC).json["id"]
        rev = self.wait_state(svc, rev_id, "applied")
        self.stop_service(svc)
        key = "222222222222/OpsecAuditor"
        acct, name = key.split("/")
        self.fake.set_trust_policy(acct, name, {"Version": "2012-10-17", "Statement": []})
        roles = self.cli_cleanup("*")
        self.assertEqual((roles[key]["outcome"], roles[key]["visited"], roles[key]["cutoff"]),
                         ("not-due", "recorded", rev["cutoff"]), roles[key])
        # every other role trusting the provider is matched by "*" itself
        for other in set(OPSEC) - {key}:
            self.assertEqual((roles[other]["outcome"], roles[other]["visited"]),
                             ("not-due", None), other)
        self.assertEqual(roles["111111111111/HrPayrollAdmin"]["outcome"], "absent")

    def test_a_delete_answered_too_late_never_removes_a_newer_deny(self):
        # The cleanup's first three DeleteRolePolicy calls are carried out
        # 2.5 s after they arrive, after the client gave up and retried. A
        # revocation posted meanwhile must keep its deny policy: its jobs wait
        # until the cleanup's unanswered deletes can no longer land.
        svc = self.start_service()
        first = self.post(svc, DOC).json["id"]
        self.wait_state(svc, first, "applied")
        self.stop_service(svc)
        self.fake.set_faults([{"action": "DeleteRolePolicy", "kind": "latency", "ms": 2500,
                               "count": 3}])
        svc = self.start_service(offset=MAX_SESSION + 3600, workers=4,
                                 aws={"timeout_seconds": 1, "max_attempts": 4,
                                      "late_write_seconds": 4})
        self.wait_for(svc, first, lambda r: any(j["kind"] == "cleanup" and j["attempts"] > 0
                                                for j in r["jobs"]), "cleanup started")
        second = self.post(svc, dict(DOC, time="now")).json["id"]
        rev = self.wait_state(svc, second, "applied", timeout=40)
        time.sleep(3)  # a late delete still in flight would have landed by now
        self.assert_denied_exactly(set(OPSEC), rev["cutoff"])
        self.assertEqual(self.get(svc, first)["state"], "cleaned")
        self.stop_service(svc)

    def test_a_write_answered_too_late_never_lowers_a_cutoff(self):
        # The first three PutRolePolicy calls are carried out 2.5 s after
        # they arrive, long after the client gave up (timeout 1 s) and
        # retried. A revocation is not applied until such a write can no
        # longer land (aws.late_write_seconds) and its roles were read again;
        # so a second, later revocation of the same group is never undone by
        # the first one's late writes.
        self.fake.set_faults([{"action": "PutRolePolicy", "kind": "latency", "ms": 2500,
                               "count": 3}])
        svc = self.start_service(workers=4, aws={"timeout_seconds": 1, "max_attempts": 4,
                                                 "late_write_seconds": 4})
        first = self.post(svc, dict(DOC, time="2 hours ago")).json["id"]
        self.wait_state(svc, first, "applied", timeout=40)
        landed = [c for c in self.fake.calls()
                  if c["action"] == "PutRolePolicy" and c["fault"] == "latency"]
        self.fake.set_faults([])
        second = self.post(svc, dict(DOC, time="1 hour ago")).json["id"]
        rev = self.wait_state(svc, second, "applied")
        time.sleep(3)  # a late write still in flight would have landed by now
        self.assert_denied_exactly(set(OPSEC), rev["cutoff"])
        self.assertEqual(len(landed), 3, "the first revocation was applied before its"
                         " unanswered writes could land")
        self.stop_service(svc)

    def test_a_late_write_is_waited_for_after_the_credentials_were_renewed(self):
        # Account 333333333333's one matching role: its first PutRolePolicy is
        # carried out 5 s after it arrives (the client gave up after 1 s); the
        # retry is refused with ExpiredToken, so the engine assumes the role
        # again and writes once more, answered at once. The first write is
        # still in flight: the revocation is not applied before it can no
        # longer land, so a later revocation's cut-off is never lowered by it.
        acct = "333333333333"
        self.fake.set_faults([
            {"action": "PutRolePolicy", "account": acct, "kind": "latency", "ms": 5000,
             "count": 1},
            {"action": "PutRolePolicy", "account": acct, "kind": "expired", "count": 1}])
        svc = self.start_service(workers=4, aws={"timeout_seconds": 1, "max_attempts": 3,
                                                 "late_write_seconds": 7})
        first = self.post(svc, dict(DOC, time="2 hours ago")).json["id"]
        self.wait_state(svc, first, "applied", timeout=40)
        self.assertTrue([c for c in self.fake.calls() if c["error_code"] == "ExpiredToken"],
                        "the fake never refused the write's credentials")
        second = self.post(svc, dict(DOC, time="1 hour ago")).json["id"]
        rev = self.wait_state(svc, second, "applied", timeout=40)
        deadline = time.monotonic() + 15
        while not [c for c in self.fake.calls() if c["fault"] == "latency"]:
            self.assertLess(time.monotonic(), deadline, "the late write never landed")
            time.sleep(0.1)
        self.assert_denied_exactly(set(OPSEC), rev["cutoff"])
        self.stop_service(svc)

    def wait_for_recheck(self, svc):
        """Waits until the service logs that it waits for a late write."""
        deadline = time.monotonic() + WAIT
        while "engine.recheck_wait" not in svc.stderr():
            self.assertTrue(svc.alive(), "service died:\n" + svc.stderr()[-20000:])
            self.assertLess(time.monotonic(), deadline, "no wait for a late write:\n%s"
                            % log_tail(svc))
            time.sleep(0.05)

    def test_sigterm_during_the_wait_for_a_late_write(self):
        # A write AWS did not answer in time: the job waits (30 s) before it
        # reads the role again. SIGTERM then stops the service at once; the
        # job is left pending, saying why and until when, and the next start
        # finishes it once the write can no longer land.
        acct = "333333333333"
        self.fake.set_faults([{"action": "PutRolePolicy", "account": acct, "kind": "latency",
                               "ms": 3000, "count": 1}])
        aws = {"timeout_seconds": 1, "max_attempts": 3, "late_write_seconds": 30}
        svc = self.start_service(aws=aws)
        rev_id = self.post(svc, DOC).json["id"]
        self.wait_for_recheck(svc)
        self.stop_service(svc, within=5)
        jobs = {j["account"]: j for j in self.db_jobs(rev_id) if j["kind"] == "apply"}
        job = jobs[acct]
        self.assertEqual(job["state"], "pending", job)
        self.assertIn("got no answer from AWS and may still land until", job["last_error"] or "",
                      job)
        self.assertGreater(job["run_at"], time.time() + 20, job)
        self.assertEqual(self.store.revocation(rev_id)["state"], "applying")
        svc = self.start_service(aws=aws, offset=40)
        rev = self.wait_state(svc, rev_id, "applied", timeout=40)
        self.assertEqual(self.jobs_of(rev, "apply")[acct]["state"], "done", rev["jobs"])
        self.assert_denied_exactly(set(OPSEC), rev["cutoff"])
        self.stop_service(svc)

    def test_a_job_stopped_during_the_wait_holds_back_its_account(self):
        # As above, but the service starts again at once and a later
        # revocation of the same group comes in while the first one's write
        # is still in flight: the later one's job for that account must not
        # run before that write can no longer land, or the write lowers its
        # cut-off.
        acct = "333333333333"
        self.fake.set_faults([{"action": "PutRolePolicy", "account": acct, "kind": "latency",
                               "ms": 6000, "count": 1}])
        aws = {"timeout_seconds": 1, "max_attempts": 3, "late_write_seconds": 10}
        svc = self.start_service(aws=aws)
        first = self.post(svc, dict(DOC, time="2 hours ago")).json["id"]
        self.wait_for_recheck(svc)
        self.stop_service(svc, within=5)
        svc = self.start_service(aws=aws)
        second = self.post(svc, dict(DOC, time="1 hour ago")).json["id"]
        rev = self.wait_state(svc, second, "applied", timeout=40)
        self.wait_state(svc, first, "applied", timeout=40)
        self.assertTrue([c for c in self.fake.calls() if c["fault"] == "latency"],
                        "the late write has not landed yet")
        self.assert_denied_exactly(set(OPSEC), rev["cutoff"])
        self.stop_service(svc)

    def test_503_on_put_is_retried_until_applied(self):
        # Four 503s for account 111111111111's two roles: its job's first two
        # attempts fail (the engine gives up at once with aws.max_attempts 1),
        # the third succeeds.
        self.fake.set_faults([{"action": "PutRolePolicy", "account": "111111111111",
                               "kind": "error503", "count": 4}])
        svc = self.start_service(aws={"max_attempts": 1})
        rev_id = self.post(svc, DOC).json["id"]
        seen = []

        def watch(rev):
            j = self.jobs_of(rev, "apply").get("111111111111")
            if j and j["state"] == "pending" and j["attempts"] > 0:
                seen.append(copy.deepcopy(j))
        rev = self.wait_state(svc, rev_id, "applied", on_each=watch)
        self.assertTrue(seen, "never saw the job waiting for a retry")
        for j in seen:
            self.assertIn("ServiceUnavailable", j["last_error"] or "", j)
        # Polling may miss one of the two waits on a busy machine; the final
        # attempts (3) below show both happened.
        self.assertLessEqual({j["attempts"] for j in seen}, {1, 2}, seen)
        applies = self.jobs_of(rev, "apply")
        self.assertEqual((applies["111111111111"]["state"], applies["111111111111"]["attempts"]),
                         ("done", 3), applies)
        for acct in ACCOUNTS[1:]:
            self.assertEqual((applies[acct]["state"], applies[acct]["attempts"]),
                             ("done", 1), applies)
        self.assert_denied_exactly(set(OPSEC), rev["cutoff"])
        self.assertEqual(dict(self.writes("PutRolePolicy")), {k: 1 for k in OPSEC})
        failed = self.writes("PutRolePolicy", ok=False)
        self.assertEqual(dict(failed), {"111111111111/OpsecBreakGlass": 2,
                                        "111111111111/TeamWildcardReadOnly": 2})
        for key, role in self.roles_of(rev, "apply").items():
            self.assertEqual((role["outcome"], role["error"]), ("denied", None), role)
        self.assertEqual(len(self.jobs_of(rev, "cleanup")), 3)
        self.stop_service(svc)

    def test_expired_session_credentials_are_assumed_again(self):
        # The service caches each account's AssumeRole credentials. If AWS
        # refuses them (here: the fake's clock moves two hours on, so every
        # session it issued has expired), the engine drops them and assumes
        # the role again within the same run: no job fails for it.
        svc = self.start_service()
        first = self.post(svc, DOC).json["id"]
        self.wait_state(svc, first, "applied")
        assumes = len([c for c in self.fake.calls() if c["action"] == "AssumeRole"])
        self.fake.set_clock(offset_seconds=7200)
        later = dict(DOC, time="1 minute ago")
        rev = self.wait_state(svc, self.post(svc, later).json["id"], "applied")
        expired = [c for c in self.fake.calls() if c.get("error_code") == "ExpiredToken"]
        self.assertTrue(expired, "the fake never refused an expired session")
        self.assertEqual(len([c for c in self.fake.calls() if c["action"] == "AssumeRole"]),
                         assumes + 3, "one new AssumeRole per account")
        applies = self.jobs_of(rev, "apply")
        self.assertTrue(all((j["state"], j["attempts"], j["last_error"]) == ("done", 1, None)
                            for j in applies.values()), applies)
        self.assertTrue(all(r["outcome"] == "denied" for r in rev["roles"]), rev["roles"])
        self.assert_denied_exactly(set(OPSEC), rev["cutoff"])
        self.stop_service(svc)

    def test_expired_credentials_are_recognised_in_the_wrapped_error_shape(self):
        # An IAM-compatible endpoint that wraps its errors as
        # <ErrorResponse><Errors><Error>: the ExpiredToken code is still read, so
        # the cached credentials are still dropped and assumed again.
        self.fake.config({"error_shape": "errors"})
        self.test_expired_session_credentials_are_assumed_again()
        self.assertTrue(self.fake.calls())
        self.assertEqual(self.fake.config()["error_shape"], "errors")

    def test_access_denied_fails_that_account_at_once(self):
        accounts = [{"id": a, "role_name": ADMIN_ROLE,
                     "external_id": "wrong" if a == "222222222222" else EXTERNAL_ID}
                    for a in ACCOUNTS]
        svc = self.start_service(accounts=accounts)
        rev_id = self.post(svc, DOC).json["id"]
        rev = self.wait_state(svc, rev_id, "partial")
        time.sleep(1.5)   # a retry (base 1 s) would show by now
        rev = self.get(svc, rev_id)
        self.assertEqual(rev["state"], "partial")
        applies = self.jobs_of(rev, "apply")
        bad = applies["222222222222"]
        self.assertEqual((bad["state"], bad["attempts"]), ("failed", 1), bad)
        self.assertIn("AccessDenied", bad["last_error"] or "", bad)
        for acct in ("111111111111", "333333333333"):
            self.assertEqual((applies[acct]["state"], applies[acct]["attempts"]),
                             ("done", 1), applies[acct])
        self.assertEqual(sorted(self.jobs_of(rev, "cleanup")), ["111111111111", "333333333333"])
        good = {k for k in OPSEC if not k.startswith("222222222222/")}
        self.assert_denied_exactly(good, rev["cutoff"])
        self.assertEqual(sorted(self.roles_of(rev, "apply")), sorted(good))
        assumes = [c for c in self.fake.calls()
                   if c["action"] == "AssumeRole" and c["account"] == "222222222222"]
        self.assertEqual(len(assumes), 1, assumes)
        self.assertEqual(assumes[0]["error_code"], "AccessDenied", assumes)
        self.assertEqual(self.store.revocation(rev_id)["state"], "partial")
        self.stop_service(svc)


# --------------------------------------------------------------------------
# 6. SIGTERM in the middle of a fan-out

class ShutdownTest(JobsCase):

    def test_sigterm_while_jobs_run(self):
        self.fake.set_faults([{"action": "*", "kind": "latency", "ms": 200}])
        svc = self.start_service(workers=2)
        rev_id = self.post(svc, DOC).json["id"]
        deadline = time.monotonic() + WAIT
        while True:
            rev = self.get(svc, rev_id)
            if any(j["state"] == "running" for j in rev["jobs"]):
                break
            self.assertLess(time.monotonic(), deadline, "no job ever ran: %r" % rev)
            time.sleep(0.02)
        took = self.stop_service(svc, within=8)

        jobs = self.db_jobs(rev_id)
        self.assertFalse([j for j in jobs if j["state"] == "running"],
                         "a job was left running after a clean stop (took %.1f s): %r"
                         % (took, jobs))
        done = [j for j in jobs if j["kind"] == "apply" and j["state"] == "done"]
        self.assertTrue(done, "the running jobs were not finished and recorded: %r" % jobs)
        for j in jobs:
            if j["kind"] == "apply":
                self.assertIn((j["state"], j["attempts"] > 0), (("done", True), ("pending", False)),
                              j)
        # Two workers, three accounts, 800 ms a job: one job had not started.
        self.assertTrue([j for j in jobs if j["kind"] == "apply" and j["state"] == "pending"],
                        "no job was left for the next start: %r" % jobs)
        self.assertEqual(self.store.revocation(rev_id)["state"], "applying")

        self.fake.set_faults([])
        svc = self.start_service(workers=2)
        rev = self.wait_state(svc, rev_id, "applied")
        self.assert_denied_exactly(set(OPSEC), rev["cutoff"])
        self.assertEqual(dict(self.writes("PutRolePolicy")), {k: 1 for k in OPSEC},
                         self.write_calls())
        self.assertEqual(self.writes("DeleteRolePolicy"), collections.Counter())
        roles = self.roles_of(rev, "apply")
        self.assertEqual(sorted(roles), OPSEC)
        for role in roles.values():
            self.assertIn(role["outcome"], ("denied", "unchanged"), role)
        for j in self.jobs_of(rev, "apply").values():
            self.assertEqual(j["state"], "done", j)
        self.assertEqual(len(self.jobs_of(rev, "cleanup")), 3)
        self.stop_service(svc)

    def test_shutdown_waits_for_a_slow_job_without_spinning(self):
        # A job still talking to AWS when SIGTERM comes is waited for; the
        # process should sit idle meanwhile, not burn a CPU.
        self.fake.set_faults([{"action": "PutRolePolicy", "kind": "latency", "ms": 1500}])
        svc = self.start_service(workers=2)
        rev_id = self.post(svc, DOC).json["id"]
        deadline = time.monotonic() + WAIT
        while not any(j["state"] == "running" for j in self.get(svc, rev_id)["jobs"]):
            self.assertLess(time.monotonic(), deadline, "no job ever ran")
            time.sleep(0.02)
        time.sleep(0.3)   # now inside PutRolePolicy's 1.5 s
        pid = svc.proc.pid
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        cpu1 = cpu0
        svc.proc.send_signal(signal.SIGTERM)
        while svc.proc.poll() is None and time.monotonic() - t0 < 15:
            try:
                cpu1 = cpu_seconds(pid)
            except OSError:
                break
            time.sleep(0.05)
        wall = time.monotonic() - t0
        self.stop_service(svc)
        self.assertLess(wall, 8, "stopping took %.1f s" % wall)
        jobs = self.db_jobs(rev_id)
        self.assertFalse([j for j in jobs if j["state"] == "running"], jobs)
        self.assertTrue([j for j in jobs if j["state"] == "done"], jobs)
        self.assertLess(cpu1 - cpu0, 0.35,
                        "the service used %.2f s of CPU in the %.2f s it waited for its "
                        "running job to finish after SIGTERM" % (cpu1 - cpu0, wall))


# --------------------------------------------------------------------------
# 7. a POST wakes idle workers (jobs.poll_ms is only how often they look)

class WakeTest(JobsCase):

    def test_post_wakes_idle_workers(self):
        # Workers look every 3 s; after 3.5 s each has looked at least once
        # more and sleeps again. A POST now must wake one at once, not leave
        # the revocation for the next look.
        svc = self.start_service(jobs={"poll_ms": 3000})
        time.sleep(3.5)
        t0 = time.monotonic()
        rev_id = self.post(svc, DOC).json["id"]
        rev = self.wait_state(svc, rev_id, "applied", timeout=WAIT)
        took = time.monotonic() - t0
        self.assertLess(took, 1.5, "the revocation was applied %.2f s after its 202: the "
                        "POST did not wake an idle worker (jobs.poll_ms is 3000)\n%s"
                        % (took, log_tail(svc)))
        self.assert_denied_exactly(set(OPSEC), rev["cutoff"])
        self.stop_service(svc)


if __name__ == "__main__":
    unittest.main()


# --------------------------------------------------------------------------
# an apply job that fails on one role still gets the cleanup of the others

class FailedApplyCleanupTest(JobsCase):

    def setUp(self):
        super().setUp()
        seed = copy.deepcopy(EXAMPLE_SEED)
        # The role the service assumes in 111111111111 may not write to the
        # break-glass role (as deploy/aws's ExcludedRolePattern makes it).
        for role in seed["accounts"]["111111111111"]["roles"]:
            if role["RoleName"] == ADMIN_ROLE:
                role.setdefault("inline_policies", {})["keep-off-break-glass"] = {
                    "Version": "2012-10-17", "Statement": [{
                        "Effect": "Deny", "Action": ["iam:PutRolePolicy",
                                                     "iam:DeleteRolePolicy"],
                        "Resource": "arn:aws:iam::111111111111:role/OpsecBreakGlass"}]}
        self.use_fake(seed)

    def test_denies_written_by_a_failed_apply_are_cleaned_up(self):
        svc = self.start_service()
        rev_id = self.post(svc, DOC).json["id"]
        rev = self.wait_state(svc, rev_id, "partial")
        apply = self.jobs_of(rev, "apply")["111111111111"]
        self.assertEqual(apply["state"], "failed", apply)
        self.assertIn("AccessDenied", apply["last_error"])
        roles = self.roles_of(rev, "apply")
        self.assertEqual(roles["111111111111/TeamWildcardReadOnly"]["outcome"], "denied")
        self.assertIn("111111111111", self.jobs_of(rev, "cleanup"),
                      "no cleanup for the roles the failed job denied: %s" % rev["jobs"])
        self.stop_service(svc)
        # 13 hours later every deny it wrote is gone, in that account too.
        svc = self.start_service(offset=MAX_SESSION + 3600)
        self.wait_for(svc, rev_id, lambda r: all(
            j["state"] == "done" for j in r["jobs"] if j["kind"] == "cleanup"),
            "cleanups done")
        self.assert_no_deny_anywhere()
        self.stop_service(svc)


# --------------------------------------------------------------------------
# roles AWS lets no one edit, and a cleanup that trims: what the GET shows

SLR = "AWSServiceRoleForOpsecTools"


class UnmodifiableAndTrimmedTest(JobsCase):

    def setUp(self):
        super().setUp()
        seed = copy.deepcopy(EXAMPLE_SEED)
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::333333333333:oidc-provider/" + PROVIDER},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {PROVIDER + ":amr": "team_opsec"}}}]}
        roles3 = seed["accounts"]["333333333333"]["roles"]
        roles3.append({"RoleName": SLR, "Path": "/aws-service-role/opsec-tools.amazonaws.com/",
                       "AssumeRolePolicyDocument": trust})
        roles3.append({"RoleName": "ProtectedOpsec", "Path": "/", "protected": True,
                       "AssumeRolePolicyDocument": trust})
        self.foreign = {"Sid": "TargetedUserAlice", "Effect": "Deny", "Action": "*",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:SourceIdentity": "alice"}}}
        for role in seed["accounts"]["222222222222"]["roles"]:
            if role["RoleName"] == "OpsecAuditor":
                role["inline_policies"] = {POLICY: {"Version": "2012-10-17",
                                                    "Statement": [self.foreign]}}
        self.use_fake(seed)

    def test_get_shows_unmodifiable_roles_and_trimmed_policies(self):
        svc = self.start_service()
        rev_id = self.post(svc, DOC).json["id"]
        rev = self.wait_state(svc, rev_id, "applied")
        for j in self.jobs_of(rev, "apply").values():
            self.assertEqual((j["state"], j["attempts"], j["last_error"]), ("done", 1, None), j)
        roles = self.roles_of(rev, "apply")
        self.assertEqual(sorted(roles), sorted(OPSEC + ["333333333333/" + SLR,
                                                        "333333333333/ProtectedOpsec"]))
        slr, prot = roles["333333333333/" + SLR], roles["333333333333/ProtectedOpsec"]
        self.assertEqual(slr["outcome"], "unmodifiable", slr)
        self.assertIn("service-linked", slr["error"])
        self.assertIsNone(slr["cutoff"], slr)
        self.assertEqual(prot["outcome"], "unmodifiable", prot)
        self.assertIn("UnmodifiableEntity", prot["error"])
        for key in OPSEC:
            self.assertEqual(roles[key]["outcome"], "denied", roles[key])
        self.assertNotIn("333333333333/" + SLR, self.writes("PutRolePolicy", ok=False))
        self.stop_service(svc)

        # 13 hours later: our statement goes; the foreign one stays (trimmed).
        seq = self.fake.state()["calls_total"]
        svc = self.start_service(offset=MAX_SESSION + 3600)
        rev = self.wait_state(svc, rev_id, "cleaned")
        cleanups = self.roles_of(rev, "cleanup")
        self.assertEqual(cleanups["222222222222/OpsecAuditor"]["outcome"], "trimmed",
                         rev["roles"])
        self.assertEqual(cleanups["222222222222/TeamAnyIgnoreCase"]["outcome"], "deleted")
        self.assertEqual(cleanups["333333333333/" + SLR]["outcome"], "unmodifiable")
        doc = self.fake.state()["accounts"]["222222222222"]["roles"]["OpsecAuditor"][
            "inline_policies"][POLICY]
        self.assertEqual(statements(doc), [self.foreign])
        self.assertFalse([c for c in self.fake.calls(seq) if c["role"] == SLR])
        self.assertIn("outcome=trimmed", log_tail(svc, 200000))
        self.stop_service(svc)
