"""Replicas sharing one PostgreSQL (issue 11): three `serve` processes, a
client stream, the database restarted and one replica SIGKILLed in the
middle; every revocation answered 202 is recorded once and applied once, and
none is lost.

The world: a PostgreSQL of this test's own (scripts/pg-test-server.sh: it is
restarted here, so never the ctest fixture's shared one), a database made
for each test, the fake AWS (tests/fakes/fake_aws.py) with three accounts,
and three `serve` processes on their own ports with the same store.url,
two job workers each, short leases (jobs.lease_seconds 5, the least the
config takes) and a quick poll, so a killed replica's jobs are taken over
within seconds.

The client is what a real one behind a load balancer does: each revocation
has its own Idempotency-Key, its attempts go round robin over the three
replicas, and an attempt that fails to connect, loses its answer, or gets
503 is sent again with the same key (to the next replica); every fifth
revocation is sent once more after its 202 (an answer lost on the way back),
and must get the first answer again.

In the middle the server is restarted (pg-test-server.sh restart DIR fast;
the second test: immediate, a crash with no checkpoint), then a replica
holding a running job is SIGKILLed (the second test starts it again later).

What "applied exactly once" means here. The engine reads a role's policy
and writes the merged policy only when the revocation raises the cut-off
(PutRolePolicy); a run that finds the cut-off already there writes nothing
(outcome "unchanged"). So:
  - no (role, cut-off) was written twice, except by the second run of a job
    that was taken over (attempts > 1), and never two writes at once;
  - no write lowered a role's cut-off;
  - every apply job is done, finished (job.finished next=done) once, in
    one replica; role_results holds one apply row per revocation and
    matching role, denied or unchanged, and nothing for other roles;
  - the final policies hold every revocation's cut-off: each matching role
    has one statement of ours with the latest cut-off of the revocations
    naming it (a later cut-off denies a superset), every other role is as
    seeded;
  - no two jobs of one account ever ran at the same time: with
    aws.concurrency_per_account 1 a job's IAM calls are one after another,
    so two IAM calls of one account in flight at the same time in the fake
    (arrival to answer) mean two jobs of that account ran at once.

Run with Debian's /usr/bin/python3; needs Debian's postgresql (the server
and psql).
"""

import copy
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import harness
from harness import Key, Service, make_token, rfc3339

HERE = os.path.dirname(os.path.abspath(__file__))
SR_SOURCE_DIR = os.environ.get("SR_SOURCE_DIR") or os.path.normpath(
    os.path.join(HERE, "..", ".."))
PG_SCRIPT = os.path.join(SR_SOURCE_DIR, "scripts", "pg-test-server.sh")
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
ISS = "https://replicas.idp.test/"
AUD = "session-revoker-replicas"

REPLICAS = 3
LEASE = 5            # jobs.lease_seconds: the least src/config/fields.c takes
POLL_MS = 100
REVOCATIONS = 30     # the client's stream
PACE = 0.12          # seconds between two revocations of the stream
EXTRA = 4            # matching roles added per account (and as many of another team)
LATENCY_MS = 15      # on every AWS call: jobs take long enough to overlap the events
KEY_DEADLINE = 90.0  # how long the client keeps retrying one revocation
DONE_TIMEOUT = 90.0  # from the end of the stream until every job is done
GROUPS = (["team_opsec"], ["team_hr"], ["team_opsec", "team_hr"])

KEY = None
TMP = None


def setUpModule():
    global KEY, TMP
    TMP = tempfile.mkdtemp(prefix="sr-replicas-keys-")
    KEY = Key("rsa", TMP, "replicas-rsa")
    KEY.write_public_pem()


def tearDownModule():
    if TMP:
        shutil.rmtree(TMP, ignore_errors=True)


# --------------------------------------------------------------------------
# the world

def trust(account, op, values):
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{PROVIDER}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {op: {f"{PROVIDER}:amr": values}}}]}


def extra_groups(i):
    return [["team_opsec"], ["team_hr"], ["team_opsec", "team_hr"]][i % 3]


def make_seed():
    """The example world plus EXTRA matching roles and EXTRA roles of
    another team (never to be touched) per account, latency on every call."""
    seed = copy.deepcopy(EXAMPLE_SEED)
    for account in ACCOUNTS:
        roles = seed["accounts"][account]["roles"]
        for i in range(EXTRA):
            groups = extra_groups(i)
            roles.append({"RoleName": f"ReplicaRole{i:02d}", "Path": "/",
                          "AssumeRolePolicyDocument": trust(
                              account, "ForAnyValue:StringEquals", groups),
                          "inline_policies": {"Base": {"Version": "2012-10-17", "Statement": [
                              {"Effect": "Allow", "Action": "s3:GetObject",
                               "Resource": "*"}]}}})
            roles.append({"RoleName": f"ReplicaOther{i:02d}", "Path": "/",
                          "AssumeRolePolicyDocument": trust(
                              account, "StringEquals", "team_finance")})
    seed["faults"] = [{"action": "*", "kind": "latency", "ms": LATENCY_MS}]
    return seed


def matching(groups):
    """'acct/Role' keys a revocation of groups must deny."""
    keys = set()
    for g in groups:
        keys |= set(EXPECTED[g])
        for account in ACCOUNTS:
            keys |= {f"{account}/ReplicaRole{i:02d}" for i in range(EXTRA)
                     if g in extra_groups(i)}
    return keys


def statements(doc):
    st = doc.get("Statement")
    return st if isinstance(st, list) else [st]


def deny_cutoffs(doc):
    return [((s.get("Condition") or {}).get("DateLessThan") or {}).get("aws:TokenIssueTime")
            for s in statements(doc) if isinstance(s, dict) and s.get("Sid") == SID]


SESSION_RE = re.compile(r":assumed-role/[^/]+/(replica-\d+)$")


class ObservingFake(fake_aws.FakeAws):
    """The fake AWS, noting of every call when it arrived and when it was
    answered (time.monotonic()), which replica made it (each replica has its
    own aws.session_name, so its assumed-role ARN names it) and, for a
    successful PutRolePolicy, the cut-offs it wrote. slow_down() makes one
    replica's IAM calls slow (as a host whose network to AWS degrades), so
    that it is sure to be in the middle of a job when it is killed."""

    def __init__(self, seed, **kw):
        self.observed = []
        self.slow = None  # (replica, seconds): its IAM calls take that much longer
        super().__init__(seed, **kw)

    def arrive(self, method, raw_path, headers, body):
        call = super().arrive(method, raw_path, headers, body)
        with self.lock:
            slow = self.slow
            session = self.sessions.get(call["entry"].get("access_key_id") or "")
        if (slow is not None and session is not None and call["entry"]["service"] == "iam"
                and session.get("session_name") == slow[0]):
            call["delay"] += slow[1]
        return call

    def slow_down(self, replica, seconds):
        with self.lock:
            self.slow = (replica, seconds) if replica is not None else None

    def answer(self, call):
        result = super().answer(call)
        entry = call["entry"]
        m = SESSION_RE.search(entry.get("caller_arn") or "")
        note = {"t0": call["started"], "t1": time.monotonic(), "action": entry["action"],
                "service": entry["service"], "account": entry["account"],
                "role": entry["role"], "status": entry["status"],
                "replica": m.group(1) if m else None, "cutoffs": None}
        if entry["action"] == "PutRolePolicy" and entry["status"] == 200:
            try:
                note["cutoffs"] = deny_cutoffs(json.loads(
                    (call.get("params") or {}).get("PolicyDocument")))
            except (TypeError, ValueError, AttributeError):
                note["cutoffs"] = ["<unparsable>"]
        with self.lock:
            self.observed.append(note)
        return result

    def observations(self):
        with self.lock:
            return [dict(o) for o in self.observed]


# --------------------------------------------------------------------------
# PostgreSQL

class PgServer:
    """A server of this test's own from scripts/pg-test-server.sh."""

    def __init__(self):
        proc = subprocess.run([PG_SCRIPT, "start"], capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            raise AssertionError("pg-test-server.sh start: exit %d\n%s"
                                 % (proc.returncode, proc.stderr))
        self.env = {}
        for line in proc.stdout.splitlines():
            name, _, value = line.partition("=")
            self.env[name] = shlex.split(value)[0]
        self.dir = self.env["SR_PG_DIR"]
        self.url = self.env["SR_PG_URL"]

    def script(self, *args):
        proc = subprocess.run([PG_SCRIPT] + list(args), capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            raise AssertionError("pg-test-server.sh %s: exit %d\n%s"
                                 % (" ".join(args), proc.returncode, proc.stderr))

    def stop(self):
        self.script("stop", self.dir)

    def database_url(self, name):
        return self.url.rsplit("/", 1)[0] + "/" + name

    def create_database(self):
        name = "replicas_" + uuid.uuid4().hex[:12]
        psql(self.url, "CREATE DATABASE %s" % name)
        return self.database_url(name)


def psql(url, sql):
    proc = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                           "-d", url, "-c", sql], capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        raise AssertionError("psql failed (%d): %s\n%s" % (proc.returncode, proc.stderr, sql))
    return proc.stdout


def rows(url, sql):
    """The rows of a query, as dicts (json_agg on the server)."""
    out = psql(url, "SELECT coalesce(json_agg(t), '[]') FROM (%s) t" % sql).strip()
    return json.loads(out)


class PsqlSession:
    """A psql of the test's own, kept open: a transaction it begins stays
    open (and holds its locks) until it is told to end it."""

    def __init__(self, url):
        self.proc = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                      "-d", url], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def run(self, sql):
        """sql, then waits until psql has carried it out."""
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\nSELECT 'psql-done';\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        if line != "psql-done":
            raise AssertionError("psql: %r after %s" % (line, sql))

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


# --------------------------------------------------------------------------
# the client

RETRYABLE = (ConnectionError, socket.timeout, TimeoutError, http.client.HTTPException, OSError)


class Client:
    """The stream of revocations: each with its own Idempotency-Key, sent
    round robin over the replicas, again with the same key after a
    connection error, a lost answer or a 503 (to the next replica); every
    fifth once more after its 202, as if that answer had been lost."""

    def __init__(self, replicas, n, base):
        self.replicas = replicas
        self.n = n
        self.base = base
        self.sent = []            # one per revocation: key, cutoff, groups, answers
        self.odd = []             # answers that are neither 202 nor 503
        self.lock = threading.Lock()
        self.rr = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="client", daemon=True)

    def answered(self):
        with self.lock:
            return len([s for s in self.sent if s["id"] is not None])

    def run(self):
        for k in range(self.n):
            if self.stop.is_set():
                return
            item = {"key": "replicas-%d-%s" % (k, uuid.uuid4().hex),
                    "cutoff": self.base + 10 * k, "groups": GROUPS[k % len(GROUPS)],
                    "id": None, "ids": set(), "attempts": [], "replayed": 0,
                    "resent": False}
            with self.lock:
                self.sent.append(item)
            self.send(item)
            if k % 5 == 4:
                # As if the 202 had been lost on its way back: the same key
                # again, to the next replica; the first answer must come back.
                item["resent"] = True
                self.send(item)
            time.sleep(PACE)

    def send(self, item):
        deadline = time.monotonic() + KEY_DEADLINE
        body = {"groups": item["groups"], "time": rfc3339(item["cutoff"]), "action": "revoke"}
        while time.monotonic() < deadline and not self.stop.is_set():
            with self.lock:
                svc = self.replicas[self.rr % len(self.replicas)]
                self.rr += 1
            t = int(time.time())
            tok = make_token(KEY, "RS256", {"iat": t, "exp": t + 600}, iss=ISS, aud=AUD,
                             scope="revocations:write")
            try:
                r = svc.request("POST", "/v1/revocations", json_body=body, token=tok,
                                headers={"Idempotency-Key": item["key"]}, timeout=60)
            except RETRYABLE as exc:
                item["attempts"].append((svc.name, type(exc).__name__))
                time.sleep(0.05)
                continue
            item["attempts"].append((svc.name, r.status))
            if r.status == 202 and isinstance(r.json, dict):
                item["ids"].add(r.json.get("id"))
                item["id"] = r.json.get("id")
                item["answer"] = r.json
                if r.headers.get("Idempotent-Replayed") == "true":
                    item["replayed"] += 1
                return
            if r.status != 503:
                with self.lock:
                    self.odd.append((item["key"], svc.name, r.status, r.raw[:300]))
                return
            time.sleep(0.1)


# --------------------------------------------------------------------------

FINISHED_RE = re.compile(r"msg=job\.finished job=(\d+) .*?attempt=(\d+) .*?next=(\w+)")
OWNER_RE = re.compile(r"msg=jobs\.started .*owner=(\S+)")


class ReplicasCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-replicas-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.pg = PgServer()
        self.addCleanup(self.pg.stop)
        self.url = self.pg.create_database()
        self.fake = ObservingFake(make_seed()).start()
        self.addCleanup(self.fake.stop)
        self.before = self.fake.state()
        self.services = []
        self.events = []

    def note(self, what):
        self.events.append("%7.2f s %s" % (time.monotonic() - self.t_start, what))

    # -- replicas -------------------------------------------------------------

    def config(self, n, workers=2):
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"url": self.url},
            "auth": {"clock_skew_seconds": 60, "issuers": [{
                "issuer": ISS, "audience": AUD, "algorithms": ["RS256"],
                "public_key_file": os.path.join(TMP, "replicas-rsa.pub.pem")}]},
            "log": {"level": "info"},
            "aws": {"accounts": [{"id": a, "role_name": ADMIN_ROLE, "external_id": EXTERNAL_ID}
                                 for a in ACCOUNTS],
                    "concurrency_per_account": 1, "timeout_seconds": 10,
                    "session_name": "replica-%d" % n},
            "revoke": {"providers": [PROVIDER], "group_claims": ["amr"],
                       "policy_name": POLICY},
            "jobs": {"workers": workers, "lease_seconds": LEASE, "poll_ms": POLL_MS,
                     "retry_base_seconds": 1},
        }
        return harness.write_config(os.path.join(self.tmp, "replica-%d.json" % n), cfg)

    def start_replica(self, n, generation=0, workers=2):
        name = "replica-%d" % n + ("" if generation == 0 else ".%d" % generation)
        env = {"AWS_ENDPOINT_URL": self.fake.url, "AWS_ACCESS_KEY_ID": BASE_KEY,
               "AWS_SECRET_ACCESS_KEY": BASE_SECRET, "AWS_EC2_METADATA_DISABLED": "true",
               "HOME": self.tmp}
        svc = Service(self.config(n, workers), cwd=self.tmp, logdir=self.tmp, name=name, env=env)
        for k in list(svc.env):
            if k.startswith("AWS_") and k not in env:
                del svc.env[k]
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        self.services.append(svc)
        m = OWNER_RE.search(svc.stderr())
        deadline = time.monotonic() + 10
        while m is None and time.monotonic() < deadline:
            time.sleep(0.05)
            m = OWNER_RE.search(svc.stderr())
        self.assertIsNotNone(m, "%s: no jobs.started line\n%s" % (name, svc.stderr()))
        svc.owner = m.group(1)
        return svc

    def kill(self, svc):
        svc.proc.send_signal(signal.SIGKILL)
        svc.proc.wait()
        svc._close_files()
        svc.returncode = svc.proc.returncode
        svc.proc = None
        self.assertEqual(svc.sanitizer_reports(), [],
                         "%s: sanitizer report before the kill\n%s"
                         % (svc.name, svc.stderr()[-20000:]))

    def logs_tail(self, n=30):
        out = []
        for svc in self.services:
            lines = [l for l in svc.stderr().splitlines() if "msg=http.request" not in l]
            out.append("--- %s stderr (last %d of %d lines)" % (svc.name, n, len(lines)))
            out.extend(lines[-n:])
        return "\n".join(out)

    # -- the store, read with psql --------------------------------------------

    def jobs(self):
        return rows(self.url, "SELECT j.id, r.id AS revocation_id, r.cutoff, j.kind, j.account,"
                    " j.state, j.attempts, j.lease_owner, j.lease_expires, j.last_error"
                    " FROM jobs j JOIN revocations r ON r.seq = j.revocation_seq ORDER BY j.id")

    def running_of(self, svc):
        return [j for j in self.jobs()
                if j["state"] == "running" and j["lease_owner"] == svc.owner]

    # -- the scenario ----------------------------------------------------------

    def scenario(self, mode, restart_killed):
        self.t_start = time.monotonic()
        replicas = [self.start_replica(n) for n in range(REPLICAS)]
        self.note("replicas up: %s" % [(s.name, s.owner) for s in replicas])
        client = Client(list(replicas), REVOCATIONS, int(time.time()) - 7200)
        client.thread.start()
        self.addCleanup(client.stop.set)

        # The database restarted while the stream flows and jobs run.
        self.wait_until(lambda: client.answered() >= REVOCATIONS // 4, 30,
                        "a quarter of the stream answered", client)
        self.note("restart (%s) with %d answered, jobs running: %s"
                  % (mode, client.answered(), [(j["id"], j["lease_owner"]) for j in self.jobs()
                                               if j["state"] == "running"]))
        self.pg.script("restart", self.pg.dir, mode)
        self.note("database back")

        # A replica SIGKILLed in the middle of a job: one that holds a
        # running job has its IAM calls slowed (half a second each) so that a
        # job it holds is still running, and written for, when the kill comes.
        victim, held = None, []
        deadline = time.monotonic() + 30
        while not held:
            self.assertLess(time.monotonic(), deadline,
                            "no replica held a running job to be killed\n%s\n%s"
                            % ("\n".join(self.events), self.logs_tail()))
            try:
                running = [j for j in self.jobs() if j["state"] == "running"]
            except AssertionError:
                running = []  # the database still starting
            if victim is None:
                owners = {j["lease_owner"] for j in running}
                victim = next((s for s in replicas if s.owner in owners), None)
                if victim is not None:
                    self.fake.slow_down(victim.name, 0.5)
                    armed = time.monotonic()
                time.sleep(0.05)
                continue
            mine = [j for j in running if j["lease_owner"] == victim.owner]
            busy = {o["account"] for o in self.fake.observations()
                    if o["replica"] == victim.name and o["t0"] > armed + 0.6}
            held = [j for j in mine if j["account"] in busy]
            if not held:
                time.sleep(0.05)
        self.kill(victim)
        self.fake.slow_down(None, 0)
        killed_at = time.monotonic()
        held = [j for j in self.jobs() if j["state"] == "running"
                and j["lease_owner"] == victim.owner]
        self.note("killed %s holding jobs %s" % (victim.name, [j["id"] for j in held]))

        client.thread.join(KEY_DEADLINE * 2)
        self.assertFalse(client.thread.is_alive(), "the client never finished")
        self.note("stream done: %d answered" % client.answered())
        if restart_killed:
            n = replicas.index(victim)
            again = self.start_replica(n, generation=1)
            replicas[n] = again
            self.note("%s started again as %s" % (victim.name, again.owner))
        live = [s for s in replicas if s.alive()]

        # Every job done (or failed: the checks below say why).
        deadline = time.monotonic() + DONE_TIMEOUT
        while True:
            jobs = self.jobs()
            open_ = [j for j in jobs if j["kind"] == "apply"
                     and j["state"] not in ("done", "failed")]
            if not open_:
                break
            if time.monotonic() > deadline:
                self.fail("jobs not done %.0f s after the stream:\n%s\n%s\n%s"
                          % (DONE_TIMEOUT, json.dumps(open_, indent=1),
                             "\n".join(self.events), self.logs_tail()))
            for svc in live:
                self.assertTrue(svc.alive(), "%s died\n%s" % (svc.name, svc.stderr()[-8000:]))
            time.sleep(0.2)
        self.note("every job done")
        bodies = self.get_all(live, client)
        logs = {s.name: s.stderr() for s in self.services}
        for svc in live:
            svc.stop(check=True)  # exit 0 after SIGTERM, no sanitizer report
        context = "\n".join(self.events)
        self.check_client(client, context)
        self.check_jobs(client, held, victim, logs, killed_at, context)
        self.check_aws(client, context)
        self.check_store(client, context)
        self.check_gets(client, bodies, context)
        tries = [a for s in client.sent for a in s["attempts"][:-1]]
        self.events.append("client: %d attempts again (%s), %d answers replayed"
                           % (len(tries), sorted({str(a[1]) for a in tries}),
                              sum(s["replayed"] for s in client.sent)))
        self.events.append("GETs answered 503 (asked again): %d" % self.unavailable)
        sys.stderr.write("\n%s:\n%s\n" % (self.id(), "\n".join(self.events)))

    def wait_until(self, pred, timeout, what, client):
        deadline = time.monotonic() + timeout
        while not pred():
            self.assertLess(time.monotonic(), deadline, "%s: not within %d s\n%s\n%s"
                            % (what, timeout, client.sent[-3:], self.logs_tail()))
            time.sleep(0.02)

    def get_all(self, live, client):
        """GET /v1/revocations/{id} of every revocation, round robin; a 503
        is asked again, as a client would."""
        self.unavailable = 0
        bodies = {}
        for k, item in enumerate(client.sent):
            if item["id"] is None:
                continue
            svc = live[k % len(live)]
            t = int(time.time())
            tok = make_token(KEY, "RS256", {"iat": t, "exp": t + 600}, iss=ISS, aud=AUD,
                             scope="revocations:read")
            for _ in range(10):
                r = svc.request("GET", "/v1/revocations/" + item["id"], token=tok)
                if r.status != 503:  # a read connection the restart dropped: again
                    break
                self.unavailable += 1
                time.sleep(0.1)
            self.assertEqual(r.status, 200, r)
            bodies[item["id"]] = r.json
        return bodies

    # -- the checks --------------------------------------------------------------

    def check_client(self, client, context):
        self.assertEqual(client.odd, [], "answers other than 202 and 503\n" + context)
        unanswered = [(s["key"], s["attempts"]) for s in client.sent if s["id"] is None]
        self.assertEqual(len(client.sent), REVOCATIONS)
        self.assertEqual(unanswered, [], "revocations never answered 202\n" + context)
        for s in client.sent:
            self.assertEqual(len(s["ids"]), 1, "one key, several revocations: %r" % (s,))
            if s["resent"]:
                self.assertGreaterEqual(s["replayed"], 1, "sent again, not replayed: %r" % (s,))
            self.assertEqual(s["answer"]["cutoff"], rfc3339(s["cutoff"]), s)

    def check_store(self, client, context):
        """Every revocation answered 202 is in the database, once."""
        revs = rows(self.url, "SELECT id, cutoff, state FROM revocations ORDER BY seq")
        ids = [r["id"] for r in revs]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(sorted(ids), sorted(s["id"] for s in client.sent),
                         "the database holds other revocations than those answered 202\n"
                         + context)
        by_id = {r["id"]: r for r in revs}
        for s in client.sent:
            self.assertEqual(by_id[s["id"]]["cutoff"], s["cutoff"], s)
        # Its jobs are done (check_jobs): so is the revocation.
        self.assertEqual([r for r in revs if r["state"] != "applied"], [],
                         "revocations whose apply jobs are all done, not applied\n" + context)
        keys = rows(self.url, "SELECT key FROM idempotency_keys")
        self.assertEqual(sorted(k["key"] for k in keys), sorted(s["key"] for s in client.sent))

    def check_jobs(self, client, held, victim, logs, killed_at, context):
        jobs = [j for j in self.jobs() if j["kind"] == "apply"]
        self.assertEqual(len(jobs), REVOCATIONS * len(ACCOUNTS), jobs)
        not_done = [j for j in jobs if j["state"] != "done"]
        self.assertEqual(not_done, [], "apply jobs not done\n%s\n%s"
                         % (context, self.logs_tail()))
        # Where each job finished: once, in one replica.
        where = {}
        for name, text in logs.items():
            for m in FINISHED_RE.finditer(text):
                where.setdefault(int(m.group(1)), []).append((name, int(m.group(2)),
                                                              m.group(3)))
        twice = {jid: w for jid, w in where.items()
                 if len([x for x in w if x[2] == "done"]) != 1}
        self.assertEqual(twice, {}, "jobs not finished exactly once (done)\n" + context)
        self.assertEqual(sorted(where), sorted(j["id"] for j in jobs))
        # The victim's jobs: taken over by another replica once their leases
        # expired, on a later attempt.
        self.assertTrue(held, "the victim held no job at the kill\n" + context)
        for j in held:
            fin = [x for x in where[j["id"]] if x[2] == "done"][0]
            self.assertNotEqual(fin[0], victim.name, (j, where[j["id"]]))
            self.assertGreater(fin[1], j["attempts"], (j, where[j["id"]]))
        # role_results: one apply row per revocation and matching role.
        results = rows(self.url, "SELECT r.id AS revocation_id, x.account, x.role_arn, x.kind,"
                       " x.outcome, x.cutoff FROM role_results x"
                       " JOIN revocations r ON r.seq = x.revocation_seq")
        got = {}
        for x in results:
            self.assertEqual(x["kind"], "apply", x)
            key = "%s/%s" % (x["account"], x["role_arn"].rsplit("/", 1)[1])
            got.setdefault(x["revocation_id"], {})
            self.assertNotIn(key, got[x["revocation_id"]], x)
            got[x["revocation_id"]][key] = x
        for s in client.sent:
            roles = got.get(s["id"], {})
            self.assertEqual(sorted(roles), sorted(matching(s["groups"])), s)
            for key, x in roles.items():
                self.assertIn(x["outcome"], ("denied", "unchanged"), x)
                self.assertGreaterEqual(x["cutoff"], s["cutoff"], x)
        self.attempts = {(j["revocation_id"], j["account"]): j["attempts"] for j in jobs}

    def check_gets(self, client, bodies, context):
        for s in client.sent:
            body = bodies[s["id"]]
            self.assertEqual(body["state"], "applied", body)
            applies = [j for j in body["jobs"] if j["kind"] == "apply"]
            self.assertEqual(sorted(j["account"] for j in applies), ACCOUNTS, body)
            self.assertTrue(all(j["state"] == "done" for j in applies), body)
            keys = sorted("%s/%s" % (r["account"], r["role_arn"].rsplit("/", 1)[1])
                          for r in body["roles"] if r["action"] == "apply")
            self.assertEqual(keys, sorted(matching(s["groups"])), body)

    def check_aws(self, client, context):
        obs = self.fake.observations()
        by_cutoff = {rfc3339(s["cutoff"]): s for s in client.sent}
        # 1. No two IAM calls of one account in flight at once (a job's
        # calls are one after another: aws.concurrency_per_account 1).
        overlaps = []
        for account in ACCOUNTS:
            calls = sorted((o for o in obs if o["service"] == "iam"
                            and o["account"] == account), key=lambda o: o["t0"])
            end, last = None, None
            for o in calls:
                if end is not None and o["t0"] < end:
                    overlaps.append((account, last, o))
                if end is None or o["t1"] > end:
                    end, last = o["t1"], o
        self.assertEqual(overlaps, [], "two jobs of one account ran at the same time "
                         "(IAM calls in flight together)\n" + context)
        # 2. Writes: only matching roles, only cut-offs of the stream, never
        # lowered; a (role, cut-off) twice only from a job run again.
        puts = [o for o in obs if o["action"] == "PutRolePolicy" and o["status"] == 200]
        highest, seen, lowered, dups, stray = {}, {}, [], [], []
        for p in sorted(puts, key=lambda o: o["t1"]):
            key = "%s/%s" % (p["account"], p["role"])
            cut = p["cutoffs"][0] if p["cutoffs"] and len(p["cutoffs"]) == 1 else None
            s = by_cutoff.get(cut)
            if s is None or key not in matching(s["groups"]):
                stray.append((key, p["cutoffs"]))
                continue
            if key in highest and highest[key] > cut:
                lowered.append((key, highest[key], cut, p["replica"]))
            highest[key] = max(highest.get(key, cut), cut)
            if (key, cut) in seen:
                dups.append((key, cut, seen[(key, cut)]["replica"], p["replica"],
                             self.attempts.get((s["id"], p["account"]))))
            seen[(key, cut)] = p
        self.assertEqual(stray, [], "writes no revocation asked for\n" + context)
        self.assertEqual(lowered, [], "writes that LOWERED a cut-off\n" + context)
        unexplained = [d for d in dups if (d[4] or 0) < 2]
        self.assertEqual(unexplained, [], "a (role, cut-off) written twice by a job that ran "
                         "once (key, cut-off, replica, replica, attempts)\n" + context)
        # 3. The final policies: every matching role holds the latest
        # cut-off of the revocations naming it; every other role as seeded.
        want = {}
        for s in client.sent:
            for key in matching(s["groups"]):
                want[key] = max(want.get(key, 0), s["cutoff"])
        pb = {f"{a}/{n}": r["inline_policies"] for a, acc in self.before["accounts"].items()
              for n, r in acc["roles"].items()}
        state = self.fake.state()
        pa = {f"{a}/{n}": r["inline_policies"] for a, acc in state["accounts"].items()
              for n, r in acc["roles"].items()}
        problems = []
        for key in sorted(pa):
            others = {n: d for n, d in pa[key].items() if n != POLICY}
            if key not in want:
                if pa[key] != pb[key]:
                    problems.append("%s changed: %s" % (key, pa[key]))
                continue
            doc = pa[key].get(POLICY)
            if doc is None or deny_cutoffs(doc) != [rfc3339(want[key])]:
                problems.append("%s: %s, want one statement with %s"
                                % (key, doc and deny_cutoffs(doc), rfc3339(want[key])))
            if others != {n: d for n, d in pb[key].items() if n != POLICY}:
                problems.append("%s: other policies changed" % key)
        self.assertEqual(problems, [], "the final policies\n" + context)
        self.events.append("writes %d, of them again after a take-over %d: %s"
                           % (len(puts), len(dups), dups))


class ReplicasTest(ReplicasCase):

    def test_two_jobs_of_one_revocation_finish_at_once(self):
        """The last two jobs of a revocation finishing at the same moment in
        two replicas: the revocation is applied, not left "applying" (each
        finish counting the other's job as still running). Sessions of the
        test's own hold the finishes inside their transactions and then let
        them go together, just before they count: one holds role_results,
        the other the cleanup jobs' keys (an uncommitted insert); when both
        finishes wait on the keys, the first lets go, then the second rolls
        back. Three rounds, a revocation each."""
        self.t_start = time.monotonic()
        replicas = [self.start_replica(n, workers=1) for n in range(2)]
        t = int(time.time())
        tok = make_token(KEY, "RS256", {"iat": t, "exp": t + 600}, iss=ISS, aud=AUD,
                         scope="revocations:write revocations:read")
        for rnd in range(3):
            results = PsqlSession(self.url)
            self.addCleanup(results.close)
            keys = PsqlSession(self.url)
            self.addCleanup(keys.close)
            results.run("BEGIN; LOCK TABLE role_results IN EXCLUSIVE MODE")
            r = replicas[rnd % 2].request("POST", "/v1/revocations", token=tok, json_body={
                "groups": ["team_opsec"], "time": "%d minutes ago" % (60 - rnd),
                "accounts": ACCOUNTS[:2]})
            self.assertEqual(r.status, 202, r)
            rev_id = r.json["id"]
            seq = rows(self.url, "SELECT seq FROM revocations WHERE id = '%s'" % rev_id)[0]["seq"]
            keys.run("BEGIN; " + " ".join(
                "INSERT INTO jobs (revocation_seq, kind, account, run_at, created_at,"
                " updated_at) VALUES (%d, 'cleanup', '%s', 0, 0, 0);" % (seq, a)
                for a in ACCOUNTS[:2]))
            self.wait_waiting("INSERT INTO role_results", 2)
            owners = {j["lease_owner"] for j in self.jobs() if j["revocation_id"] == rev_id}
            self.assertEqual(owners, {s.owner for s in replicas},
                             "the two jobs are not in two replicas: %r" % self.jobs())
            results.run("COMMIT")
            self.wait_waiting("'cleanup'", 2)
            keys.run("ROLLBACK")
            deadline = time.monotonic() + 20
            while True:
                jobs = [j for j in self.jobs() if j["revocation_id"] == rev_id]
                if all(j["state"] == "done" for j in jobs if j["kind"] == "apply"):
                    break
                self.assertLess(time.monotonic(), deadline, "%r\n%s" % (jobs, self.logs_tail()))
                time.sleep(0.05)
            r = replicas[1].request("GET", "/v1/revocations/" + rev_id, token=tok)
            self.assertEqual(r.status, 200, r)
            self.assertEqual([(j["account"], j["kind"], j["state"]) for j in r.json["jobs"]],
                             [(a, k, st) for a in ACCOUNTS[:2]
                              for k, st in (("apply", "done"), ("cleanup", "pending"))], r.json)
            self.assertEqual(r.json["state"], "applied",
                             "round %d: both apply jobs are done; the revocation still says %r"
                             % (rnd, r.json["state"]))
        for svc in replicas:
            svc.stop(check=True)

    def wait_waiting(self, query_part, n):
        """Until n sessions of the replicas wait on a lock in a statement
        holding query_part."""
        deadline = time.monotonic() + 30
        while True:
            waiting = rows(self.url, "SELECT pid, query FROM pg_stat_activity"
                           " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                           " AND application_name = 'session-revoker'"
                           " AND position('%s' in query) > 0"
                           % query_part.replace("'", "''"))
            if len(waiting) == n:
                return
            self.assertLess(time.monotonic(), deadline, "not %d sessions waiting in %r: %r\n%s"
                            % (n, query_part, waiting, self.logs_tail()))
            time.sleep(0.02)

    def test_fast_restart_and_a_killed_replica(self):
        self.scenario("fast", restart_killed=False)

    def test_immediate_restart_and_a_killed_replica_started_again(self):
        self.scenario("immediate", restart_killed=True)


if __name__ == "__main__":
    unittest.main()
