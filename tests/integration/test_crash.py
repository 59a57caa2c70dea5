"""Crash safety of the job table (README, "Jobs"): the real `serve` binary,
a real SQLite file, and the fake AWS (tests/fakes/fake_aws.py) in this process.

1. Crash trials: SIGKILL a `serve` in the middle of a fan-out, check the file
   is intact, restart it on the same file and config, and check that every
   revocation ends `applied` and the fake's world is exactly what the
   revocations ask for: no cut-off ever lowered, no other role touched.
   Seeded: SR_CRASH_SEED (default below), SR_CRASH_TRIALS (default 5).
2. Two `serve` processes on one database file: every job runs in exactly one
   of them, once.
3. SIGKILL one of two processes mid-fan-out: the other takes its jobs over
   once their leases expire.

The fake is subclassed here (nothing in tests/fakes changes) to record the
cut-off of every successful PutRolePolicy in the order the writes took
effect, so "a cut-off is only raised" is checked write by write, not only on
the final state.

Run with Debian's /usr/bin/python3 (botocore for the fake, PyJWT for tokens).
"""

import copy
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

import harness
from harness import Key, Service, Store, make_token, parse_rfc3339, rfc3339

HERE = os.path.dirname(os.path.abspath(__file__))
fake_aws = harness.fake_aws

EXAMPLE_SEED = harness.EXAMPLE_SEED
EXPECTED = EXAMPLE_SEED["_expected_matches"]

ACCOUNTS = harness.EXAMPLE_ACCOUNTS
BASE_KEY = harness.EXAMPLE_BASE_KEY
BASE_SECRET = harness.EXAMPLE_BASE_SECRET
ADMIN_ROLE = harness.ADMIN_ROLE
EXTERNAL_ID = harness.EXTERNAL_ID
PROVIDER = "auth.example.com/"
POLICY = "session-revoker-deny"
SID = "SessionRevokerDenyOldSessions"
ISS = "https://crash.idp.test/"
AUD = "session-revoker-test"

# The brief asked for 3 s leases; jobs.lease_seconds is checked to be 5..3600
# (src/config/fields.c), so 5 is the shortest lease the service accepts.
LEASE = 5
POLL_MS = 100
APPLY_TIMEOUT = 30.0
DEFAULT_SEED = 20261125
TRIALS = int(os.environ.get("SR_CRASH_TRIALS", "5"))
SEED = int(os.environ.get("SR_CRASH_SEED", str(DEFAULT_SEED)))

KEY = None
TMP = None


def setUpModule():
    global KEY, TMP
    TMP = tempfile.mkdtemp(prefix="sr-crash-keys-")
    KEY = Key("rsa", TMP, "crash-rsa")


def tearDownModule():
    if TMP:
        shutil.rmtree(TMP, ignore_errors=True)


# --------------------------------------------------------------------------
# time, policies

def statements(doc):
    st = doc.get("Statement")
    return st if isinstance(st, list) else [st]


def deny_cutoffs(doc):
    """The cut-offs (text) of our statements in a deny policy document."""
    out = []
    for s in statements(doc):
        if isinstance(s, dict) and s.get("Sid") == SID:
            out.append(((s.get("Condition") or {}).get("DateLessThan") or {}).get(
                "aws:TokenIssueTime"))
    return out


def deny_doc(cutoff_text):
    return {"Sid": SID, "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff_text}}}


# --------------------------------------------------------------------------
# the world

EXTRA_PER_ACCOUNT = 40
OTHER_PER_ACCOUNT = 5


def web_identity_trust(account, op, values):
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{PROVIDER}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {op: {f"{PROVIDER}:amr": values}}}]}


def extra_groups(i):
    """Extra role i names team_opsec; every odd one team_hr too."""
    return ["team_opsec"] if i % 2 == 0 else ["team_opsec", "team_hr"]


def make_seed(extra=EXTRA_PER_ACCOUNT, random_seed=1, faults=None):
    """The example world plus `extra` matching roles and a few roles of
    another team per account (these must never be touched)."""
    seed = copy.deepcopy(EXAMPLE_SEED)
    seed["random_seed"] = random_seed
    for account in ACCOUNTS:
        roles = seed["accounts"][account]["roles"]
        for i in range(extra):
            groups = extra_groups(i)
            op = "StringEquals" if len(groups) == 1 else "ForAnyValue:StringEquals"
            roles.append({
                "RoleName": f"CrashRole{i:02d}", "Path": "/",
                "AssumeRolePolicyDocument": web_identity_trust(
                    account, op, groups[0] if len(groups) == 1 else groups),
                "MaxSessionDuration": 3600,
                "inline_policies": {"Base": {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}}})
        for i in range(OTHER_PER_ACCOUNT):
            roles.append({
                "RoleName": f"CrashOther{i:02d}", "Path": "/",
                "AssumeRolePolicyDocument": web_identity_trust(
                    account, "StringEquals", "team_finance"),
                "MaxSessionDuration": 3600})
    seed["faults"] = list(faults or [])
    return seed


def matching(groups, extra=EXTRA_PER_ACCOUNT):
    """'acct/Role' keys that a revocation of groups must deny."""
    keys = set()
    for g in groups:
        keys |= set(EXPECTED[g])
        for account in ACCOUNTS:
            for i in range(extra):
                if g in extra_groups(i):
                    keys.add(f"{account}/CrashRole{i:02d}")
    return keys


def expected_cutoffs(revs, extra=EXTRA_PER_ACCOUNT):
    """{'acct/Role': cut-off} (the latest of the revocations naming it)."""
    want = {}
    for r in revs:
        for key in matching(r["groups"], extra):
            want[key] = max(want.get(key, 0), r["cutoff"])
    return want


def policies_of(state):
    return {f"{acct}/{name}": role["inline_policies"]
            for acct, a in state["accounts"].items() for name, role in a["roles"].items()}


class RecordingFake(fake_aws.FakeAws):
    """The fake AWS, recording every successful PutRolePolicy with its cut-off
    in the order the writes took effect (_dispatch holds the fake's lock),
    and every GetRolePolicy of our policy with the cut-off it returned, so a
    lost update can be shown read by read and write by write."""

    def __init__(self, seed, **kw):
        self.puts = []
        self.events = []
        super().__init__(seed, **kw)

    def _do_PutRolePolicy(self, params, ident):
        result = super()._do_PutRolePolicy(params, ident)
        role = self._role(ident, params)
        try:
            cutoffs = deny_cutoffs(json.loads(params.get("PolicyDocument")))
        except (ValueError, TypeError, AttributeError):
            cutoffs = ["<unparsable>"]
        entry = {"n": len(self.puts), "mono": time.monotonic(),
                 "key": f"{ident['account']}/{role['RoleName']}",
                 "policy": params.get("PolicyName"), "cutoffs": cutoffs,
                 "session": ident.get("access_key_id")}
        self.puts.append(entry)
        self.events.append(dict(entry, op="put"))
        return result

    def _do_GetRolePolicy(self, params, ident):
        key = f"{ident['account']}/{params.get('RoleName')}"
        try:
            result = super()._do_GetRolePolicy(params, ident)
        except fake_aws.AwsError as exc:
            self.events.append({"op": "get", "key": key, "mono": time.monotonic(),
                                "cutoffs": exc.code, "session": ident.get("access_key_id")})
            raise
        text = self._role(ident, params)["inline_policies"].get(params.get("PolicyName"))
        try:
            cutoffs = deny_cutoffs(json.loads(text))
        except (ValueError, TypeError, AttributeError):
            cutoffs = ["<unparsable>"]
        self.events.append({"op": "get", "key": key, "mono": time.monotonic(),
                            "cutoffs": cutoffs, "session": ident.get("access_key_id")})
        return result

    def put_log(self):
        with self.lock:
            return [dict(p) for p in self.puts]

    def history(self, keys):
        """The reads and writes of our policy on these roles, in order."""
        with self.lock:
            t0 = self.events[0]["mono"] if self.events else 0
            return ["%8.3f s %-4s %-34s %-22s session %s" % (
                        e["mono"] - t0, e["op"], e["key"], e["cutoffs"], e["session"])
                    for e in self.events if e["key"] in keys]


def analyse_puts(puts):
    """(lowered, duplicates, by_key): lowered lists the writes that lowered a
    role's cut-off; duplicates the writes of a cut-off the role had already
    been given by an earlier write."""
    lowered, duplicates, by_key = [], [], {}
    for p in puts:
        seq = by_key.setdefault(p["key"], [])
        cut = p["cutoffs"][0] if len(p["cutoffs"]) == 1 else None
        prev = [q["cutoffs"][0] for q in seq if len(q["cutoffs"]) == 1]
        if cut is not None and prev and max(prev) > cut:
            lowered.append((p["key"], max(prev), cut, p["n"]))
        if cut is not None and cut in prev:
            duplicates.append((p["key"], cut, p["n"]))
        seq.append(p)
    return lowered, duplicates, by_key


# --------------------------------------------------------------------------
# the service

def aws_env(fake, home):
    return {"AWS_ENDPOINT_URL": fake.url, "AWS_ACCESS_KEY_ID": BASE_KEY,
            "AWS_SECRET_ACCESS_KEY": BASE_SECRET, "AWS_EC2_METADATA_DISABLED": "true",
            "HOME": home}


def service_config(db, *, workers=2, concurrency=2):
    return {
        "listen": {"address": "127.0.0.1", "port": 0},
        "store": {"path": db},
        "auth": {"clock_skew_seconds": 60, "issuers": [{
            "issuer": ISS, "audience": AUD, "algorithms": ["RS256"],
            "public_key_file": KEY.write_public_pem()}]},
        "log": {"level": "info"},
        "aws": {"accounts": [{"id": a, "role_name": ADMIN_ROLE, "external_id": EXTERNAL_ID}
                             for a in ACCOUNTS],
                "concurrency_per_account": concurrency, "timeout_seconds": 10},
        "revoke": {"providers": [PROVIDER], "group_claims": ["amr"], "policy_name": POLICY},
        "jobs": {"workers": workers, "lease_seconds": LEASE, "poll_ms": POLL_MS},
    }


def token(scope):
    return make_token(KEY, "RS256", iss=ISS, aud=AUD, scope=scope)


FINISHED_RE = re.compile(r"msg=job\.finished job=(\d+) .*?attempt=(\d+) .*?next=(\w+)")
OWNER_RE = re.compile(r"msg=jobs\.started .*owner=(\S+)")


def finished_jobs(stderr):
    """[(job id, attempt, next)] from a service's log."""
    return [(int(m.group(1)), int(m.group(2)), m.group(3))
            for m in FINISHED_RE.finditer(stderr)]


class CrashCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-crash-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.services = []
        self.killed = []

    # -- fake and services --------------------------------------------------

    def start_fake(self, seed):
        fake = RecordingFake(seed).start()
        self.addCleanup(fake.stop)
        return fake

    def write_config(self, name, config):
        return harness.write_config(os.path.join(self.tmp, name + ".json"), config)

    def start_service(self, fake, config_file, name):
        svc = Service(config_file, cwd=self.tmp, logdir=self.tmp, name=name,
                      env=aws_env(fake, self.tmp))
        # Nothing of the runner's own AWS settings may leak in.
        for k in list(svc.env):
            if k.startswith("AWS_") and k not in aws_env(fake, self.tmp):
                del svc.env[k]
        svc.start()
        self.services.append(svc)
        self.addCleanup(harness.stop_quietly, svc)
        return svc

    def kill(self, svc):
        """SIGKILL: no clean shutdown, nothing flushed but what is committed."""
        svc.proc.send_signal(signal.SIGKILL)
        svc.proc.wait()
        svc._close_files()
        svc.returncode = svc.proc.returncode
        svc.proc = None
        self.killed.append(svc)
        self.assertEqual(svc.sanitizer_reports(), [],
                         f"{svc.name}: sanitizer report before the kill\n"
                         + svc.stderr()[-20000:])

    def owner_of(self, svc):
        m = OWNER_RE.search(svc.stderr())
        self.assertIsNotNone(m, f"{svc.name}: no jobs.started line\n{svc.stderr()[-4000:]}")
        return m.group(1)

    # -- API ----------------------------------------------------------------

    def post(self, svc, groups, cutoff):
        r = svc.request("POST", "/v1/revocations", token=token("revocations:write"),
                        json_body={"groups": groups, "time": rfc3339(cutoff),
                                   "action": "revoke"})
        self.assertEqual(r.status, 202, r)
        self.assertIsInstance(r.json, dict, r)
        return {"id": r.json["id"], "groups": list(groups), "cutoff": cutoff}

    def get(self, svc, rev_id):
        r = svc.request("GET", "/v1/revocations/" + rev_id, token=token("revocations:read"))
        self.assertEqual(r.status, 200, r)
        return r.json

    def wait_applied(self, svcs, revs, store, timeout=APPLY_TIMEOUT, context=""):
        """Polls GET (round robin over svcs) until every revocation is
        applied; returns {id: body}."""
        deadline = time.monotonic() + timeout
        bodies, n = {}, 0
        while True:
            pending = [r for r in revs if bodies.get(r["id"], {}).get("state") != "applied"]
            if not pending:
                return bodies
            for r in pending:
                live = [s for s in svcs if s.alive()]
                self.assertTrue(live, "no live service\n" + context)
                svc = live[n % len(live)]
                n += 1
                bodies[r["id"]] = self.get(svc, r["id"])
            if all(bodies[r["id"]].get("state") == "applied" for r in revs):
                return bodies
            if time.monotonic() > deadline:
                self.fail("not applied within %.0f s: %s\n%s\njobs table:\n%s\n%s"
                          % (timeout, {r["id"]: bodies[r["id"]].get("state") for r in revs},
                             context, json.dumps(self.jobs(store), indent=1),
                             self.logs_tail()))
            time.sleep(0.1)

    # -- the store ------------------------------------------------------------

    @staticmethod
    def jobs(store):
        return store.query("SELECT j.id, r.id AS revocation_id, j.kind, j.account, j.state,"
                           " j.attempts, j.lease_owner, j.lease_expires, j.last_error"
                           " FROM jobs j JOIN revocations r ON r.seq = j.revocation_seq"
                           " ORDER BY j.id")

    def logs_tail(self, n=40):
        out = []
        for svc in self.services:
            lines = svc.stderr().splitlines()
            out.append(f"--- {svc.name} stderr (last {n} of {len(lines)} lines)")
            out.extend(lines[-n:])
        return "\n".join(out)

    # -- checks ---------------------------------------------------------------

    def check_world(self, fake, before, revs, context=""):
        """The fake's roles are exactly what revs ask for: each matching role
        has our deny policy with exactly one statement, the latest cut-off, and
        kept its other policies; every other role is as it was."""
        want = expected_cutoffs(revs)
        pb, pa = policies_of(before), policies_of(fake.state())
        self.assertEqual(set(pb), set(pa))
        problems = []
        for key in sorted(pa):
            others_b = {n: d for n, d in pb[key].items() if n != POLICY}
            others_a = {n: d for n, d in pa[key].items() if n != POLICY}
            if key in want:
                doc = pa[key].get(POLICY)
                expect = deny_doc(rfc3339(want[key]))
                if doc is None:
                    problems.append(f"{key}: no deny policy (want cut-off "
                                    f"{rfc3339(want[key])})")
                else:
                    ours = [s for s in statements(doc) if s.get("Sid") == SID]
                    if doc.get("Version") != "2012-10-17" or ours != [expect]:
                        got = deny_cutoffs(doc)
                        problems.append(
                            f"{key}: cut-off {got} want [{rfc3339(want[key])!r}]"
                            if len(ours) == 1 and ours[0] == deny_doc(got[0]) else
                            f"{key}: deny policy {json.dumps(doc)}, want exactly one "
                            f"statement with cut-off {rfc3339(want[key])}")
                if others_a != others_b:
                    problems.append(f"{key}: other inline policies changed")
            elif pa[key] != pb[key]:
                problems.append(f"{key} is not matched but changed: {pb[key]} -> {pa[key]}")
        if problems:
            self.fail("the fake's roles are not what the revocations ask for (%d roles):\n%s"
                      "\n%s" % (len(problems), "\n".join(problems[:20]), context))

    def check_puts(self, fake, revs, context="", allow_duplicates=True):
        """Writes go only to matching roles, only our policy, one statement,
        never lowering a cut-off. Returns the duplicates (same cut-off
        written again)."""
        want = expected_cutoffs(revs)
        cut_texts = {rfc3339(r["cutoff"]) for r in revs}
        puts = fake.put_log()
        lowered, duplicates, by_key = analyse_puts(puts)
        stray = [p for p in puts if p["key"] not in want or p["policy"] != POLICY
                 or len(p["cutoffs"]) != 1 or p["cutoffs"][0] not in cut_texts]
        self.assertEqual(stray, [], "writes to roles or policies no revocation asked for\n"
                         + context)
        self.assertEqual(lowered, [], "a PutRolePolicy LOWERED a role's cut-off "
                         "(key, highest earlier cut-off, written cut-off, write #); "
                         "reads and writes of those roles (seconds since the first):\n%s\n%s"
                         % ("\n".join(fake.history({k for k, _, _, _ in lowered})), context))
        if not allow_duplicates:
            self.assertEqual(duplicates, [], "a role was given the same cut-off twice "
                             "(key, cut-off, write #): a job applied twice?\n" + context)
        return duplicates

    def check_roles_in_get(self, bodies, revs, context=""):
        """GET's roles: every matching role of each revocation, denied or
        unchanged, with a cut-off at least the revocation's."""
        for r in revs:
            body = bodies[r["id"]]
            got = {}
            for x in body.get("roles") or []:
                if x.get("action") not in (None, "apply"):
                    continue
                m = re.match(r"^arn:aws:iam::(\d{12}):role/(?:.*/)?([^/]+)$",
                             x.get("role_arn") or "")
                self.assertIsNotNone(m, x)
                got[f"{m.group(1)}/{m.group(2)}"] = x
            want = matching(r["groups"])
            self.assertEqual(sorted(set(got) - want), [],
                             f"revocation {r['id']}: roles reported that do not match\n"
                             + context)
            self.assertEqual(sorted(want - set(got)), [],
                             f"revocation {r['id']}: matching roles missing from GET\n"
                             + context)
            for key, x in sorted(got.items()):
                self.assertIn(x.get("outcome"), ("denied", "unchanged"),
                              f"{r['id']} {key}: {x}\n{context}")
                self.assertIsNotNone(x.get("cutoff"), f"{r['id']} {key}: {x}")
                self.assertGreaterEqual(parse_rfc3339(x["cutoff"]), r["cutoff"],
                                        f"{r['id']} {key}: {x}\n{context}")
            self.assertTrue(body.get("jobs"), body)
            for j in body["jobs"]:
                if j.get("kind") == "apply":
                    self.assertEqual(j.get("state"), "done", f"{r['id']}: {j}")

    def stop_clean(self, svc):
        svc.stop(check=True)  # exit 0 after SIGTERM, no sanitizer report


# --------------------------------------------------------------------------
# 1. crash trials

def latency_faults(rng):
    """Latency on every AWS call: lo ms always, plus up to (hi - lo) ms on
    about half of them (the fake sleeps every latency fault that fires)."""
    lo = rng.randint(30, 50)
    hi = rng.randint(lo + 10, 80)
    return [{"action": "*", "kind": "latency", "ms": lo},
            {"action": "*", "kind": "latency", "ms": hi - lo, "probability": 0.5}], (lo, hi)


class CrashTrialsTest(CrashCase):

    def test_sigkill_mid_fan_out_then_restart(self):
        rng = random.Random(SEED)
        started = time.monotonic()
        report = []
        for trial in range(TRIALS):
            trial_seed = rng.getrandbits(32)
            try:
                report.append(self.one_trial(trial, random.Random(trial_seed)))
            except AssertionError as exc:
                raise AssertionError(
                    "crash trial %d failed (SR_CRASH_SEED=%d, trial seed %d, "
                    "SR_CRASH_TRIALS=%d)\n%s" % (trial, SEED, trial_seed, TRIALS, exc)) from None
        dups = sum(r["duplicates"] for r in report)
        sys.stderr.write("\ncrash trials (SR_CRASH_SEED=%d): %d in %.1f s; duplicate writes "
                         "of the same cut-off: %d\n" % (SEED, TRIALS, time.monotonic() - started,
                                                       dups))
        for r in report:
            sys.stderr.write("  %s\n" % json.dumps(r, sort_keys=True))

    def one_trial(self, trial, rng):
        t0 = time.monotonic()
        faults, latency = latency_faults(rng)
        fake = self.start_fake(make_seed(random_seed=rng.randint(1, 10**6), faults=faults))
        before = fake.state()
        db = os.path.join(self.tmp, f"trial{trial}.db")
        store = Store(db)
        config = self.write_config(f"trial{trial}", service_config(db, workers=2))
        svc = self.start_service(fake, config, f"trial{trial}-a")

        now = int(time.time())
        groups = [["team_opsec"]]
        if rng.random() < 0.6:
            groups.append(rng.choice([["team_opsec"], ["team_hr"], ["team_opsec", "team_hr"]]))
        revs = [self.post(svc, g, now - rng.randint(60, 7200)) for g in groups]
        delay = rng.uniform(0.0, 1.5)
        params = {"trial": trial, "latency_ms": latency, "revocations":
                  [(r["groups"], rfc3339(r["cutoff"])) for r in revs],
                  "kill_after_first_put_s": round(delay, 3)}
        context = "trial params: " + json.dumps(params)

        # Kill once the fan-out has written something, plus the chosen delay.
        deadline = time.monotonic() + 15
        while not fake.put_log():
            self.assertLess(time.monotonic(), deadline, "no PutRolePolicy within 15 s\n"
                            + context + "\n" + self.logs_tail())
            time.sleep(0.01)
        time.sleep(delay)
        puts_at_kill = len(fake.put_log())
        self.kill(svc)

        self.assertEqual(store.integrity_check(), ["ok"], "database corrupt after SIGKILL\n"
                         + context)
        at_crash = {j["id"]: j for j in self.jobs(store) if j["kind"] == "apply"}
        self.assertEqual(len(at_crash), 3 * len(revs), json.dumps(at_crash, indent=1))
        open_jobs = [j for j in at_crash.values() if j["state"] != "done"]
        self.assertTrue(open_jobs, "every job was done before the kill: the trial "
                        "tested nothing\n" + context)
        running = [j["id"] for j in open_jobs if j["state"] == "running"]

        svc2 = self.start_service(fake, config, f"trial{trial}-b")
        restarted = time.monotonic()
        bodies = self.wait_applied([svc2], revs, store, context=context)
        recovered_s = time.monotonic() - restarted
        self.stop_clean(svc2)

        self.assertEqual(store.integrity_check(), ["ok"], context)
        after = {j["id"]: j for j in self.jobs(store) if j["kind"] == "apply"}
        for jid, j in sorted(after.items()):
            self.assertEqual(j["state"], "done", f"job {jid}: {j}\n{context}")
            b = at_crash[jid]
            want = b["attempts"] if b["state"] == "done" else b["attempts"] + 1
            self.assertEqual(j["attempts"], want,
                             f"job {jid}: attempts {j['attempts']}, want {want} (at the crash: "
                             f"{b})\n{context}")
        self.check_roles_in_get(bodies, revs, context)
        self.check_world(fake, before, revs, context)
        duplicates = self.check_puts(fake, revs, context)
        finished = finished_jobs(svc2.stderr())
        for jid in running:
            self.assertIn(jid, [f[0] for f in finished],
                          f"job {jid} was running at the crash; the restart did not finish it"
                          f"\n{context}")
        params.update({"puts_before_kill": puts_at_kill, "puts_total": len(fake.put_log()),
                       "jobs_open_at_kill": len(open_jobs), "jobs_running_at_kill":
                       len(running), "recovered_s": round(recovered_s, 1),
                       "duplicates": len(duplicates), "duplicate_writes": duplicates,
                       "trial_s": round(time.monotonic() - t0, 1)})
        return params


# --------------------------------------------------------------------------
# 2. and 3. two processes on one database file

class TwoProcessesTest(CrashCase):

    def start_pair(self, fake, db, concurrency):
        config = self.write_config("shared", service_config(db, workers=2,
                                                              concurrency=concurrency))
        a = self.start_service(fake, config, "proc-a")
        b = self.start_service(fake, config, "proc-b")
        return a, b

    def post_several(self, svcs, n, base):
        revs = []
        for k in range(n):
            groups = ["team_opsec"] if k % 2 == 0 else ["team_hr"]
            revs.append(self.post(svcs[k % len(svcs)], groups, base + 60 * k))
        return revs

    def test_two_processes_share_one_database(self):
        fake = self.start_fake(make_seed(extra=EXTRA_PER_ACCOUNT, faults=[
            {"action": "*", "kind": "latency", "ms": 20}]))
        before = fake.state()
        db = os.path.join(self.tmp, "shared.db")
        store = Store(db)
        a, b = self.start_pair(fake, db, concurrency=8)
        revs = self.post_several([a, b], 6, int(time.time()) - 3600)
        bodies = self.wait_applied([a, b], revs, store)
        logs = {s.name: s.stderr() for s in (a, b)}
        self.stop_clean(a)
        self.stop_clean(b)

        self.assertEqual(store.integrity_check(), ["ok"])
        jobs = [j for j in self.jobs(store) if j["kind"] == "apply"]
        self.assertEqual(len(jobs), 18)
        context = "jobs:\n" + json.dumps(jobs, indent=1)
        for j in jobs:
            self.assertEqual((j["state"], j["attempts"]), ("done", 1),
                             f"job {j['id']} ran more than once or did not finish: {j}\n"
                             + self.logs_tail())
        ran = {name: finished_jobs(text) for name, text in logs.items()}
        where = {}
        for name, fins in ran.items():
            for jid, attempt, nxt in fins:
                where.setdefault(jid, []).append((name, attempt, nxt))
        self.assertEqual(sorted(where), sorted(j["id"] for j in jobs), ran)
        twice = {jid: w for jid, w in where.items() if len(w) != 1}
        self.assertEqual(twice, {}, "jobs finished in more than one place")
        for name, fins in ran.items():
            self.assertTrue(fins, f"{name} did none of the work: {ran}")
        self.check_roles_in_get(bodies, revs, context)
        self.check_world(fake, before, revs, context)
        self.check_puts(fake, revs, context, allow_duplicates=False)
        sys.stderr.write("\ntwo processes: jobs per process %s, writes %d\n"
                         % ({n: len(f) for n, f in ran.items()}, len(fake.put_log())))

    def test_two_processes_start_together_on_a_fresh_file(self):
        """Two serve processes started at the same moment on a file that
        does not exist yet (a deployment's first start): both must come up,
        the migrations applied once."""
        fake = self.start_fake(make_seed(extra=0))
        failures = []
        for attempt in range(5):
            db = os.path.join(self.tmp, f"fresh{attempt}.db")
            config = self.write_config(f"fresh{attempt}", service_config(db))
            errors = []

            def start(n):
                try:
                    self.start_service(fake, config, f"fresh{attempt}-{n}")
                except harness.ServiceError as exc:
                    errors.append(str(exc))
            threads = [threading.Thread(target=start, args=(n,)) for n in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for svc in [s for s in self.services if s.proc is not None]:
                self.stop_clean(svc)
            if errors:
                failures.append(f"attempt {attempt}: " + " | ".join(errors))
            else:
                self.assertEqual(Store(db).query("PRAGMA user_version")[0]["user_version"],
                                 len([f for f in os.listdir(os.path.join(
                                     HERE, "..", "..", "sql")) if f.endswith(".sql")]))
        self.assertEqual(failures, [], "a process failed to start beside another one")

    def test_sigkill_one_of_two_processes_the_other_takes_over(self):
        fake = self.start_fake(make_seed(extra=EXTRA_PER_ACCOUNT, faults=[
            {"action": "*", "kind": "latency", "ms": 30}]))
        before = fake.state()
        db = os.path.join(self.tmp, "shared.db")
        store = Store(db)
        a, b = self.start_pair(fake, db, concurrency=2)
        owner_a = self.owner_of(a)
        revs = self.post_several([a, b], 4, int(time.time()) - 3600)

        # Kill a while it holds a job and the fan-out has written something.
        deadline = time.monotonic() + 15
        while True:
            held = [j for j in self.jobs(store)
                    if j["state"] == "running" and j["lease_owner"] == owner_a]
            if held and fake.put_log():
                break
            self.assertLess(time.monotonic(), deadline,
                            "proc-a never held a job while writes happened\n" + self.logs_tail())
            time.sleep(0.02)
        time.sleep(0.3)
        self.kill(a)
        killed_at = time.monotonic()
        at_kill = {j["id"]: j for j in self.jobs(store) if j["kind"] == "apply"}
        orphans = sorted(jid for jid, j in at_kill.items()
                         if j["state"] == "running" and j["lease_owner"] == owner_a)
        self.assertTrue(orphans, "proc-a held no job at the kill: " + json.dumps(at_kill))
        context = f"proc-a's jobs at the kill: {orphans}"

        bodies = self.wait_applied([b], revs, store, context=context)
        took = time.monotonic() - killed_at
        logs_b = b.stderr()
        self.stop_clean(b)

        self.assertEqual(store.integrity_check(), ["ok"])
        jobs = {j["id"]: j for j in self.jobs(store) if j["kind"] == "apply"}
        for jid, j in sorted(jobs.items()):
            self.assertEqual(j["state"], "done", j)
            want = 2 if jid in orphans else 1
            self.assertEqual(j["attempts"], want, f"job {jid}: {j}\n{context}\n"
                             + self.logs_tail())
        taken_over = {jid: att for jid, att, nxt in finished_jobs(logs_b) if jid in orphans}
        self.assertEqual(taken_over, {jid: 2 for jid in orphans},
                         "proc-b did not finish proc-a's jobs on their second attempt\n"
                         + self.logs_tail())
        self.assertGreaterEqual(took, LEASE - 1.5, "jobs taken over before the lease expired")
        self.check_roles_in_get(bodies, revs, context)
        self.check_world(fake, before, revs, context)
        dups = self.check_puts(fake, revs, context)
        sys.stderr.write("\ntake-over: %d orphaned jobs finished by proc-b; all applied "
                         "%.1f s after the kill; duplicate writes %d %s\n"
                         % (len(orphans), took, len(dups), dups))


# --------------------------------------------------------------------------
# 4. the backlog a restart finds

class BacklogTest(CrashCase):

    def test_restart_finds_two_revocations_for_the_same_roles(self):
        """What a restart after a crash (or an applier process beside a
        recording one, jobs.workers 0) finds: two revocations of team_opsec
        pending, the later cut-off second. The workers claim the jobs of both
        at once, so two jobs work on the same account's roles side by side;
        each role must still end with the later cut-off, and no write may
        lower it on the way."""
        fake = self.start_fake(make_seed(faults=[
            {"action": "*", "kind": "latency", "ms": 50}]))
        before = fake.state()
        db = os.path.join(self.tmp, "backlog.db")
        store = Store(db)
        recorder = self.start_service(
            fake, self.write_config("recorder", service_config(db, workers=0)), "recorder")
        base = int(time.time()) - 3600
        revs = [self.post(recorder, ["team_opsec"], base),
                self.post(recorder, ["team_opsec"], base + 60)]
        self.stop_clean(recorder)
        applier = self.start_service(
            fake, self.write_config("applier", service_config(db, workers=6, concurrency=8)),
            "applier")
        bodies = self.wait_applied([applier], revs, store)
        self.stop_clean(applier)
        context = ("revocations %s; GET of the later one reports, for every role, outcome "
                   "denied/unchanged at %s" % ([(r["id"], rfc3339(r["cutoff"])) for r in revs],
                                               rfc3339(revs[1]["cutoff"])))
        self.check_roles_in_get(bodies, revs, context)
        lowered, _, _ = analyse_puts(fake.put_log())
        try:
            self.check_world(fake, before, revs, context)
        except AssertionError as exc:
            raise AssertionError("%s\nreads and writes of the first roles written with a "
                                 "lowered cut-off:\n%s" % (exc, "\n".join(fake.history(
                                     {k for k, _, _, _ in lowered[:2]})))) from None
        self.check_puts(fake, revs, context)


if __name__ == "__main__":
    unittest.main()
