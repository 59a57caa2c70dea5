"""Crash safety of the job table (README, "Jobs"): the real `serve` binary,
a real SQLite file, and the fake AWS (tests/fakes/fake_aws.py) in this process.

1. Crash trials: SIGKILL a `serve` at a point of a job's life, check the
   file is intact, restart it on the same file and config, and check that
   every revocation ends `applied` (or `cleaned`) and the fake's world is
   exactly what the revocations ask for: no cut-off ever lowered, no role
   written twice, no other role touched, no deny left after cleanup. The
   trials take the stages of STAGES in turn (trial i: STAGES[i % 5]), each
   with a seeded kill point inside it; after the kill the trial reads the
   stage it actually reached from the job table and the fake's state and
   call log, and the test fails unless every stage was reached.
   Seeded: SR_CRASH_SEED (default below), SR_CRASH_TRIALS (default 5).
2. Two `serve` processes on one database file: every job runs in exactly one
   of them, once.
3. SIGKILL one of two processes mid-fan-out: the other takes its jobs over
   once their leases expire.

The fake is subclassed here (nothing in tests/fakes changes) to record the
cut-off of every successful PutRolePolicy in the order the writes took
effect, so "a cut-off is only raised" is checked write by write, not only on
the final state, every successful DeleteRolePolicy, and to kill the service
at a chosen call before the service sees the answer.

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

# The stages of a job's life a crash trial kills in (see CrashTrialsTest):
#   claim      an apply job is claimed (running in the store), none of its
#              roles read or written yet
#   fan-out    some of its roles written, not all
#   saving     every role of the job written in AWS; the job's results and
#              its cleanup job not yet committed (sr_store_job_finish)
#   finished   a job done, its role results and cleanup job committed,
#              other jobs still open
#   cleanup    a cleanup job running (a shifted clock made it due), part of
#              its deny policies deleted
STAGES = ("claim", "fan-out", "saving", "finished", "cleanup")
SKEW = 60                    # auth.clock_skew_seconds in service_config
MAX_SESSION = 43200          # revoke.max_session_seconds (the default)
# Every cut-off posted here is at most 2 h old: 13 h on, every cleanup is due.
CLEANUP_OFFSET = MAX_SESSION + 3600

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


def in_account(keys, account):
    """The 'acct/Role' keys of keys in account."""
    return {k for k in keys if k.startswith(account + "/")}


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
        self.deletes = []
        self.trigger = None
        super().__init__(seed, **kw)

    def _dispatch(self, service, action, params, ident):
        """The fake's action, with the armed Trigger (if any) pulled just
        before or just after the call is carried out, and in both cases
        before its answer leaves: the service never learns the outcome."""
        account = call_account(action, params, ident)
        with self.lock:
            t = self.trigger
            hit = t is not None and t.hit(action, account)
        if hit and t.when == "before":
            t.pull(self, account)
            raise fake_aws.AwsError(500, "InternalFailure", "crash trial: not carried out",
                                    "Receiver")
        result = super()._dispatch(service, action, params, ident)
        if hit:
            t.pull(self, account)
        return result

    def _do_DeleteRolePolicy(self, params, ident):
        result = super()._do_DeleteRolePolicy(params, ident)
        self.deletes.append({"key": f"{ident['account']}/{self._role(ident, params)['RoleName']}",
                             "policy": params.get("PolicyName")})
        return result

    def delete_log(self):
        with self.lock:
            return [dict(d) for d in self.deletes]

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


def call_account(action, params, ident):
    """The account a call acts in: AssumeRole's target, else the caller's."""
    if action == "AssumeRole":
        m = fake_aws.ROLE_ARN_RE.match(params.get("RoleArn") or "")
        return m.group(1) if m else None
    return ident["account"] if ident else None


def wait_dead(pid, timeout=10.0):
    """Until pid is a zombie (killed, not yet reaped) or gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except OSError:
            return True
        time.sleep(0.001)
    return False


class Trigger:
    """A kill point on the fake's side: the nth `action` call in `account`
    (None: in the first account that makes one), pulled `when` ("before" or
    "after") the fake carries it out; what it does is `fire(trigger)`. It
    runs on the fake's event loop before the call is answered, so nothing
    the service does after the call can happen before it."""

    def __init__(self, action, nth, when, account=None, fire=None):
        self.action, self.nth, self.when, self.account = action, nth, when, account
        self.fire = fire
        self.conn = None  # hold_store's harness.WriteHold, holding the write lock
        self.seen = {}
        self.fired = threading.Event()
        self.info = {}
        self.error = None

    def hit(self, action, account):
        if self.fired.is_set() or action != self.action or account is None:
            return False
        if self.account is not None and account != self.account:
            return False
        self.seen[account] = self.seen.get(account, 0) + 1
        return self.seen[account] == self.nth

    def pull(self, fake, account):
        self.info.update(account=account, action=self.action, nth=self.nth, when=self.when,
                         calls_total=fake.call_seq, mono=time.monotonic())
        try:
            self.fire(self)
        except Exception as exc:  # noqa: BLE001 - reported by the waiting trial
            self.error = repr(exc)
        self.fired.set()


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


def service_config(db, *, workers=2, concurrency=2, offset=0):
    config = {
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
    if offset:
        config["development"] = {"clock_offset_seconds": offset}
    return config


def token(scope, offset=0):
    """A token valid on a service's clock (shifted by offset seconds)."""
    t = int(time.time()) + offset
    return make_token(KEY, "RS256", {"iat": t, "exp": t + 600}, iss=ISS, aud=AUD, scope=scope)


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
        self.victim = None  # the service started last: what a Trigger kills

    # -- fake and services --------------------------------------------------

    def start_fake(self, seed):
        fake = RecordingFake(seed).start()
        self.addCleanup(fake.stop)
        return fake

    def write_config(self, name, config):
        return harness.write_config(os.path.join(self.tmp, name + ".json"), config)

    def start_service(self, fake, config_file, name, offset=0):
        svc = Service(config_file, cwd=self.tmp, logdir=self.tmp, name=name,
                      env=aws_env(fake, self.tmp))
        svc.offset = offset  # development.clock_offset_seconds in config_file
        # Nothing of the runner's own AWS settings may leak in.
        for k in list(svc.env):
            if k.startswith("AWS_") and k not in aws_env(fake, self.tmp):
                del svc.env[k]
        self.victim = svc
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
        r = svc.request("POST", "/v1/revocations", token=token("revocations:write", svc.offset),
                        json_body={"groups": groups, "time": rfc3339(cutoff),
                                   "action": "revoke"})
        self.assertEqual(r.status, 202, r)
        self.assertIsInstance(r.json, dict, r)
        return {"id": r.json["id"], "groups": list(groups), "cutoff": cutoff}

    def get(self, svc, rev_id):
        r = svc.request("GET", "/v1/revocations/" + rev_id,
                        token=token("revocations:read", svc.offset))
        self.assertEqual(r.status, 200, r)
        return r.json

    def wait_applied(self, svcs, revs, store, timeout=APPLY_TIMEOUT, context="",
                     state="applied"):
        """Polls GET (round robin over svcs) until every revocation is in
        state (applied); returns {id: body}."""
        deadline = time.monotonic() + timeout
        bodies, n = {}, 0
        while True:
            pending = [r for r in revs if bodies.get(r["id"], {}).get("state") != state]
            if not pending:
                return bodies
            for r in pending:
                live = [s for s in svcs if s.alive()]
                self.assertTrue(live, "no live service\n" + context)
                svc = live[n % len(live)]
                n += 1
                bodies[r["id"]] = self.get(svc, r["id"])
            if all(bodies[r["id"]].get("state") == state for r in revs):
                return bodies
            if time.monotonic() > deadline:
                self.fail("not %s within %.0f s: %s\n%s\njobs table:\n%s\n%s"
                          % (state, timeout,
                             {r["id"]: bodies[r["id"]].get("state") for r in revs},
                             context, json.dumps(self.jobs(store), indent=1),
                             self.logs_tail()))
            time.sleep(0.1)

    # -- the store ------------------------------------------------------------

    @staticmethod
    def jobs(store):
        return store.query("SELECT j.id, r.id AS revocation_id, j.kind, j.account, j.state,"
                           " j.run_at, j.attempts, j.lease_owner, j.lease_expires, j.last_error"
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
    """Seeded SIGKILL trials over a job's whole life: trial i kills in stage
    STAGES[i % len(STAGES)], at a point drawn from the trial's seed, reads
    back from the store and the fake which stage the service was really in,
    restarts it, and checks the outcome is what it would be without the
    kill."""

    def test_sigkill_at_every_stage_then_restart(self):
        rng = random.Random(SEED)
        started = time.monotonic()
        report = []
        for trial in range(TRIALS):
            trial_seed = rng.getrandbits(32)
            stage = STAGES[trial % len(STAGES)]
            try:
                report.append(self.one_trial(trial, stage, random.Random(trial_seed)))
            except AssertionError as exc:
                raise AssertionError(
                    "crash trial %d (stage %s) failed (SR_CRASH_SEED=%d, trial seed %d, "
                    "SR_CRASH_TRIALS=%d)\n%s" % (trial, stage, SEED, trial_seed, TRIALS,
                                                 exc)) from None
        hits = {s: sum(r["stage_at_kill"] == s for r in report) for s in STAGES}
        sys.stderr.write("\ncrash trials (SR_CRASH_SEED=%d): %d in %.1f s; kills per stage %s\n"
                         % (SEED, TRIALS, time.monotonic() - started, hits))
        for r in report:
            sys.stderr.write("  %s\n" % json.dumps(r, sort_keys=True))
        self.assertEqual([s for s in STAGES if hits[s] == 0], [],
                         "stages no trial killed in (SR_CRASH_TRIALS=%d; at least %d reach "
                         "every stage): %s" % (TRIALS, len(STAGES), hits))

    # -- kill points ------------------------------------------------------------

    def kill_victim(self, trigger):
        """Trigger.fire: SIGKILL the service started last; returns once it
        is dead, so it cannot act on anything after this call."""
        deadline = time.monotonic() + 10
        while self.victim is None or self.victim.proc is None:
            if time.monotonic() > deadline:
                raise RuntimeError("no service to kill")
            time.sleep(0.001)
        pid = self.victim.proc.pid
        os.kill(pid, signal.SIGKILL)
        if not wait_dead(pid):
            raise RuntimeError(f"pid {pid} still alive 10 s after SIGKILL")
        trigger.info["pid"] = pid

    @staticmethod
    def hold_store(db):
        """Trigger.fire: take the database's write lock (harness
        Store.hold_writes) so the service's next commit waits; the trial
        kills it meanwhile."""
        def fire(trigger):
            trigger.conn = Store(db).hold_writes()
        return fire

    def arm(self, fake, stage, rng, revs, db):
        """The Trigger for stage (None for `finished`, which watches the
        store instead). The first revocation is always team_opsec, so it
        runs first in every account and writes every role of it there."""
        if stage == "finished":
            return None
        account = rng.choice(ACCOUNTS)
        if stage == "claim":
            # The first call of the first job: before it, nothing of the
            # account is read; the job is claimed (running in the store).
            t = Trigger(rng.choice(["AssumeRole", "ListRoles"]), 1, "before", None,
                        self.kill_victim)
        elif stage == "fan-out":
            n = len(in_account(matching(["team_opsec"]), account))
            t = Trigger("PutRolePolicy", rng.randint(1, n - 1), rng.choice(["before", "after"]),
                        account, self.kill_victim)
        elif stage == "saving":
            n = len(in_account(matching(["team_opsec"]), account))
            t = Trigger("PutRolePolicy", n, "after", account, self.hold_store(db))
        else:  # cleanup: the k-th of the account's deletes
            n = len(in_account(expected_cutoffs(revs), account))
            t = Trigger("DeleteRolePolicy", rng.randint(1, n), rng.choice(["before", "after"]),
                        account, self.kill_victim)
        fake.trigger = t
        return t

    def kill_at(self, svc, stage, trigger, store, context):
        """Waits for the kill point, kills; returns (job id or None,
        account, monotonic time of the kill)."""
        deadline = time.monotonic() + 30
        if trigger is None:  # finished: the first apply job committed done
            while True:
                done = [j for j in self.jobs(store) if j["kind"] == "apply"
                        and j["state"] == "done"]
                if done:
                    at = time.monotonic()
                    self.kill(svc)
                    return done[0]["id"], done[0]["account"], at
                self.assertLess(time.monotonic(), deadline, "no job finished within 30 s\n"
                                + context + "\n" + self.logs_tail())
                time.sleep(0.005)
        self.assertTrue(trigger.fired.wait(30), "kill point %s never reached\n%s\n%s"
                        % ((trigger.action, trigger.nth, trigger.account), context,
                           self.logs_tail()))
        self.assertIsNone(trigger.error, context)
        if trigger.conn is not None:
            # saving: the last write is answered, the store is locked; give
            # the worker time to finish with AWS and wait on the commit.
            time.sleep(0.5)
        self.kill(svc)
        if trigger.conn is not None:
            trigger.conn.release()
            # Closed after the restart has the file open: a last connection
            # closing would checkpoint the WAL, which the crash did not do.
            self.addCleanup(trigger.conn.close)
        return None, trigger.info["account"], trigger.info["mono"]

    def stage_of(self, fake, revs, jobs, job, at):
        """The stage `job` was in when the service died at monotonic time
        `at`, from the job table (read after the kill) and what the fake had
        seen by then: see STAGES."""
        rev = next(r for r in revs if r["id"] == job["revocation_id"])
        acct = job["account"]
        if job["kind"] == "cleanup":
            return "cleanup" if job["state"] == "running" else "none"
        if job["state"] == "done":
            scheduled = [j for j in jobs if j["kind"] == "cleanup" and j["state"] == "pending"
                         and (j["revocation_id"], j["account"]) == (rev["id"], acct)]
            still_open = [j for j in jobs if j["kind"] == "apply" and j["state"] != "done"]
            return "finished" if scheduled and still_open else "none"
        if job["state"] != "running":
            return "none"
        with fake.lock:
            seen = [e for e in fake.events if e["mono"] <= at and e["key"].startswith(acct + "/")]
        if not seen:
            return "claim"
        want = in_account(matching(rev["groups"]), acct)
        written = {e["key"] for e in seen if e["op"] == "put" and len(e["cutoffs"]) == 1
                   and parse_rfc3339(e["cutoffs"][0]) >= rev["cutoff"]}
        return "saving" if want <= written else "fan-out"

    # -- one trial ----------------------------------------------------------------

    def one_trial(self, trial, stage, rng):
        t0 = time.monotonic()
        faults, latency = latency_faults(rng)
        fake = self.start_fake(make_seed(random_seed=rng.randint(1, 10**6), faults=faults))
        before = fake.state()
        db = os.path.join(self.tmp, f"trial{trial}.db")
        store = Store(db)
        config = self.write_config(f"trial{trial}", service_config(db, workers=2))
        svc = self.start_service(fake, config, f"trial{trial}-a")
        first = svc

        now = int(time.time())
        groups = [["team_opsec"]]
        if rng.random() < 0.6:
            groups.append(rng.choice([["team_opsec"], ["team_hr"], ["team_opsec", "team_hr"]]))
        cutoffs = [now - rng.randint(60, 7200) for _ in groups]
        params = {"trial": trial, "stage": stage, "latency_ms": latency, "revocations":
                  [(g, rfc3339(c)) for g, c in zip(groups, cutoffs)]}
        context = "trial params: " + json.dumps(params)
        offset, puts_applied = 0, None
        if stage == "cleanup":
            # Applied without a kill; then a restart 13 h on, when every
            # cleanup is due, is killed among its deletes.
            revs = [self.post(svc, g, c) for g, c in zip(groups, cutoffs)]
            self.wait_applied([svc], revs, store, context=context)
            self.stop_clean(svc)
            self.check_world(fake, before, revs, context)
            puts_applied = len(fake.put_log())
            offset = CLEANUP_OFFSET
            config = self.write_config(f"trial{trial}-later",
                                       service_config(db, workers=2, offset=offset))
            trigger = self.arm(fake, stage, rng, revs, db)
            svc = self.start_service(fake, config, f"trial{trial}-b", offset)
        else:
            trigger = self.arm(fake, stage, rng, None, db)
            revs = [self.post(svc, g, c) for g, c in zip(groups, cutoffs)]
        if trigger is not None:
            params["kill_point"] = [trigger.action, trigger.nth, trigger.when,
                                    trigger.account or "first"]
            context = "trial params: " + json.dumps(params)

        job_id, account, at = self.kill_at(svc, stage, trigger, store, context)
        self.assertEqual(store.integrity_check(), ["ok"], "database corrupt after SIGKILL\n"
                         + context)
        at_kill = {j["id"]: j for j in self.jobs(store)}
        if job_id is None:
            running = [j for j in at_kill.values() if j["state"] == "running"
                       and j["account"] == account]
            self.assertEqual(len(running), 1, "not one running job in account %s at the kill:"
                             "\n%s\n%s" % (account, json.dumps(at_kill, indent=1), context))
            job_id = running[0]["id"]
        observed = self.stage_of(fake, revs, list(at_kill.values()), at_kill[job_id], at)
        self.assertEqual(observed, stage, "the kill did not land in the stage it aimed at: "
                         "job %d at the kill %s\njobs:\n%s\n%s"
                         % (job_id, at_kill[job_id], json.dumps(at_kill, indent=1), context))
        written = len(fake.put_log() if stage != "cleanup" else fake.delete_log())

        svc2 = self.start_service(fake, config, f"trial{trial}-{'c' if offset else 'b'}", offset)
        restarted = time.monotonic()
        final = "cleaned" if stage == "cleanup" else "applied"
        bodies = self.wait_applied([svc2], revs, store, context=context, state=final)
        recovered_s = time.monotonic() - restarted
        self.stop_clean(svc2)
        self.check_backend(db, first, svc2, context)

        self.assertEqual(store.integrity_check(), ["ok"], context)
        after = {j["id"]: j for j in self.jobs(store)}
        self.check_jobs_after(at_kill, after, svc2.stderr(), revs, final, context)
        if final == "applied":
            self.check_roles_in_get(bodies, revs, context)
            self.check_world(fake, before, revs, context)
            self.check_puts(fake, revs, context, allow_duplicates=False)
        else:
            self.check_cleaned(fake, before, revs, bodies, puts_applied, context)
        params.update({"stage_at_kill": observed, "job_at_kill": job_id,
                       "jobs_at_kill": sorted("%s:%s" % (j["kind"], j["state"])
                                              for j in at_kill.values()),
                       "writes_at_kill": written, "puts_total": len(fake.put_log()),
                       "deletes_total": len(fake.delete_log()),
                       "recovered_s": round(recovered_s, 1),
                       "trial_s": round(time.monotonic() - t0, 1)})
        return params

    # -- checks after the restart ------------------------------------------------

    def check_backend(self, db, first, restarted, context):
        """The trial ran on the store it was meant to: the first service made
        it (its log names the migrations: sql/postgres/ ones, and no SQLite
        file at the configured path, when the tests run on PostgreSQL), and
        the restarted service found the same store, migrated already."""
        if harness.PG_MODE:
            self.assertIn("msg=store.migrated migration=postgres/001_revocations.sql",
                          first.stderr(), context)
            self.assertFalse(os.path.exists(db), "an SQLite file in PostgreSQL mode\n"
                             + context)
        else:
            self.assertIn("msg=store.migrated migration=001_revocations.sql", first.stderr(),
                          context)
            self.assertTrue(os.path.exists(db), context)
        self.assertNotIn("msg=store.migrated", restarted.stderr(),
                         "the restart did not find the store the killed service left\n"
                         + context)

    def check_jobs_after(self, at_kill, after, log, revs, final, context):
        """Every job of the stage is done; a job done before the kill was
        not run again, one running at the kill was finished by the restart;
        after apply, every (revocation, account) has its cleanup job."""
        kinds = ("apply",) if final == "applied" else ("apply", "cleanup")
        self.assertEqual(len([j for j in after.values() if j["kind"] == "apply"]),
                         len(ACCOUNTS) * len(revs), json.dumps(after, indent=1))
        finished = {f[0] for f in finished_jobs(log)}
        for jid, j in sorted(after.items()):
            if j["kind"] not in kinds:
                continue
            self.assertEqual(j["state"], "done", f"job {jid}: {j}\n{context}")
            b = at_kill.get(jid)
            if b is not None and b["state"] == "done":
                self.assertEqual(j["attempts"], b["attempts"],
                                 f"job {jid} was done at the kill and ran again: {j}\n{context}")
                self.assertNotIn(jid, finished, f"job {jid} was done at the kill and ran "
                                 f"again\n{context}")
            if b is not None and b["state"] == "running":
                self.assertIn(jid, finished, f"job {jid} was running at the kill; the "
                              f"restart did not finish it\n{context}")
        if final != "applied":
            return
        for r in revs:
            for acct in ACCOUNTS:
                cl = [j for j in after.values() if j["kind"] == "cleanup"
                      and (j["revocation_id"], j["account"]) == (r["id"], acct)]
                self.assertEqual(len(cl), 1, f"revocation {r['id']} account {acct}: cleanup "
                                 f"jobs {cl}\n{context}")
                self.assertEqual(cl[0]["state"], "pending", f"{cl[0]}\n{context}")
                self.assertGreaterEqual(cl[0]["run_at"], r["cutoff"] + MAX_SESSION + SKEW,
                                        f"{cl[0]}: due before the cut-off's sessions end"
                                        f"\n{context}")

    def check_cleaned(self, fake, before, revs, bodies, puts_applied, context):
        """After cleanup: every role holds exactly the inline policies it had
        before the revocations; each denied role's policy was deleted once;
        nothing written; GET lists each revocation's roles as cleaned up."""
        want = expected_cutoffs(revs)
        self.assertEqual(len(fake.put_log()), puts_applied,
                         "PutRolePolicy during cleanup\n" + context)
        deletes = {}
        for d in fake.delete_log():
            self.assertEqual(d["policy"], POLICY, f"{d}\n{context}")
            deletes[d["key"]] = deletes.get(d["key"], 0) + 1
        self.assertEqual(deletes, {k: 1 for k in want},
                         "DeleteRolePolicy: not once per denied role\n" + context)
        pb, pa = policies_of(before), policies_of(fake.state())
        changed = sorted(k for k in pb if pa.get(k) != pb[k])
        self.assertEqual(changed, [], "roles whose inline policies are not back to what "
                         "they were\n" + context)
        for r in revs:
            got = {}
            for x in bodies[r["id"]].get("roles") or []:
                if x.get("action") != "cleanup":
                    continue
                m = re.match(r"^arn:aws:iam::(\d{12}):role/(?:.*/)?([^/]+)$",
                             x.get("role_arn") or "")
                self.assertIsNotNone(m, x)
                got[f"{m.group(1)}/{m.group(2)}"] = x["outcome"]
            missing = sorted(matching(r["groups"]) - set(got))
            self.assertEqual(missing, [], f"{r['id']}: matching roles without a cleanup "
                             f"result\n{context}")
            self.assertEqual(sorted(set(got) - set(want)), [],
                             f"{r['id']}: cleanup results for roles never denied\n{context}")
            odd = {k: o for k, o in got.items() if o not in ("deleted", "absent")}
            self.assertEqual(odd, {}, f"{r['id']}: cleanup outcomes\n{context}")


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
                self.assertEqual(Store(db).schema_version(),
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
