"""`session-revoker store copy --from FILE --to postgres://...`: an SQLite store
moved into PostgreSQL (issue 11, item 5), end to end with the real binary.

The SQLite store is made once, by `serve` itself against the fake AWS
(tests/fakes/fake_aws.py): revocation documents with Idempotency-Keys (one
applied, so it has role results and a pending cleanup job; one still pending
because it was posted while no worker ran), group-change events with event
ids (one naming only the user, so the user's groups are kept). Each test
copies a copy of that file into a database of its own on one PostgreSQL
server: the shared one of the ctest fixture (SR_TEST_PG_ENV), or one this file
starts with scripts/pg-test-server.sh and stops. Then `serve` runs on the
PostgreSQL URL and everything is checked through the API: every revocation
and the list read the same, an old Idempotency-Key answers the first answer
again, an old event id is a replay, a new revocation comes after the copied
ones, and the pending jobs are carried out. Refusals (a destination that
holds rows, a file with a table the copy does not know, a file that is not a
store or is newer than the binary, bad and unreachable URLs) exit non-zero
with a message naming the problem and leave the destination without a row.

Run with Debian's /usr/bin/python3; needs Debian's postgresql (psql).
"""

import json
import os
import re
import shlex
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import uuid

import harness
from harness import Key, Service, make_token

fake_aws = harness.fake_aws

SR_SOURCE_DIR = os.environ.get("SR_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PG_SCRIPT = os.path.join(SR_SOURCE_DIR, "scripts", "pg-test-server.sh")
SQLITE_SQL = os.path.join(SR_SOURCE_DIR, "sql")

ISS = "https://idp.copy.test/"
AUD = "session-revoker-copy"
POLICY = "session-revoker-deny"
TABLES = ["revocations", "revocation_groups", "revocation_subjects", "idempotency_keys", "jobs", "role_results",
          "user_groups", "service_meta"]
OPSEC = sorted(harness.EXAMPLE_SEED["_expected_matches"]["team_opsec"])
WAIT = 30.0

PG = None        # SR_PG_* of the server
OWN_PG = False   # whether this file started it
TMP = None
KEY = None
FAKE = None     # the fake AWS
SOURCE = None   # the SQLite store every test copies (StoreCopyCase.make_source)


def read_pg_env(path):
    values = {}
    with open(path) as f:
        for line in f:
            name, _, value = line.strip().partition("=")
            if name:
                values[name] = shlex.split(value)[0]
    return values


def setUpModule():
    global PG, OWN_PG, TMP, KEY, FAKE
    TMP = tempfile.mkdtemp(prefix="sr-copy-")
    KEY = Key("rsa", TMP, "issuer")
    KEY.write_public_pem()
    env_file = os.environ.get("SR_TEST_PG_ENV")
    if env_file and os.path.exists(env_file):
        PG = read_pg_env(env_file)
    else:
        proc = subprocess.run([PG_SCRIPT, "start"], capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            raise AssertionError("pg-test-server.sh start: exit %d\n%s"
                                 % (proc.returncode, proc.stderr))
        PG = {}
        for line in proc.stdout.splitlines():
            name, _, value = line.partition("=")
            PG[name] = shlex.split(value)[0]
        OWN_PG = True
    try:
        # one AWS world for the whole file: the source store's jobs and then
        # PostgreSQL's write to it
        FAKE = fake_aws.FakeAws(json.loads(json.dumps(harness.EXAMPLE_SEED))).start()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    if FAKE is not None:
        FAKE.stop()
    if OWN_PG and PG:
        subprocess.run([PG_SCRIPT, "stop", PG["SR_PG_DIR"]], timeout=60)
    if TMP and not os.environ.get("SR_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


# --------------------------------------------------------------------------
# PostgreSQL

def db_url(name, password=None):
    """The server's URL with database name (and a password in it)."""
    u = urllib.parse.urlsplit(PG["SR_PG_URL"])
    netloc = u.netloc
    if password is not None:
        user, _, host = netloc.partition("@")
        netloc = "%s:%s@%s" % (user, password, host)
    return urllib.parse.urlunsplit((u.scheme, netloc, "/" + name, u.query, ""))


def psql(url, sql):
    proc = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                           "-d", url, "-c", sql], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError("psql failed (%d): %s\n%s" % (proc.returncode, proc.stderr, sql))
    return [line.split("\t") for line in proc.stdout.splitlines() if line]


def new_database():
    name = "sr_copy_" + uuid.uuid4().hex[:12]
    psql(PG["SR_PG_URL"], "CREATE DATABASE %s" % name)
    return name


def pg_counts(url):
    """Rows per table of the store in url; None for a table that is not there."""
    out = {}
    for t in TABLES:
        exists = psql(url, "SELECT to_regclass('public.%s') IS NOT NULL" % t)[0][0] == "t"
        out[t] = int(psql(url, "SELECT count(*) FROM %s" % t)[0][0]) if exists else None
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sqlite_counts(path):
    con = sqlite3.connect(path)
    try:
        return {t: con.execute("SELECT count(*) FROM %s" % t).fetchone()[0] for t in TABLES}
    finally:
        con.close()


# --------------------------------------------------------------------------
# the binary

def run_cli(args, env=None, cwd=None):
    """The binary with args; fails on a sanitizer report. CompletedProcess."""
    proc = subprocess.run([harness.binary_path()] + args, env=harness.clean_env(env),
                          cwd=cwd or TMP, capture_output=True, text=True, timeout=120)
    for marker in harness.SANITIZER_MARKERS:
        assert marker not in proc.stderr, proc.stderr
    return proc


def token(scope, sub="copy-test"):
    t = int(time.time())
    return make_token(KEY, "RS256", {"iat": t, "exp": t + 600, "sub": sub}, iss=ISS, aud=AUD,
                      scope=scope)


def log_tail(svc, n=4000):
    lines = [l for l in svc.stderr().splitlines() if "msg=http.request" not in l]
    return "\n".join(lines)[-n:]


class StoreCopyCase(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        global SOURCE
        if SOURCE is None:
            SOURCE = cls.make_source()
        for k, v in SOURCE.items():
            setattr(cls, k, v)

    # -- services ----------------------------------------------------------

    @classmethod
    def config(cls, store, workers, name):
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": store,
            "auth": {"issuers": [{"issuer": ISS, "audience": AUD, "algorithms": ["RS256"],
                                  "public_key_file": os.path.join(TMP, "issuer.pub.pem")}]},
            "aws": {"accounts": [{"id": a, "role_name": harness.ADMIN_ROLE,
                                  "external_id": harness.EXTERNAL_ID}
                                 for a in harness.EXAMPLE_ACCOUNTS],
                    "max_attempts": 3, "max_retry_seconds": 5},
            "revoke": {"providers": ["auth.example.com/"], "policy_name": POLICY},
            "jobs": {"workers": workers, "poll_ms": 100, "retry_base_seconds": 1},
        }
        path = os.path.join(cls.dir, name + ".json")
        harness.write_config(path, cfg)
        return path

    @classmethod
    def service(cls, store, workers, name, fake):
        svc = Service(cls.config(store, workers, name), cwd=cls.dir, logdir=cls.dir, name=name)
        svc.env = {k: v for k, v in svc.env.items() if not k.startswith("AWS_")}
        svc.env.update({"AWS_ENDPOINT_URL": fake.url,
                        "AWS_ACCESS_KEY_ID": harness.EXAMPLE_BASE_KEY,
                        "AWS_SECRET_ACCESS_KEY": harness.EXAMPLE_BASE_SECRET,
                        "AWS_EC2_METADATA_DISABLED": "true", "HOME": cls.dir})
        return svc.start()

    @staticmethod
    def post(svc, body, key=None, expect=202):
        headers = {"Idempotency-Key": key} if key else None
        r = svc.request("POST", "/v1/revocations", json_body=body,
                        token=token("revocations:write"), headers=headers)
        assert r.status == expect, "%r\n%s" % (r, log_tail(svc))
        return r

    @staticmethod
    def group_change(svc, event):
        r = svc.request("POST", "/v1/events/group-change", json_body=event,
                        token=token("events:write", sub="directory"))
        assert r.status == 202, "%r\n%s" % (r, log_tail(svc))
        return r

    @staticmethod
    def get(svc, path):
        r = svc.request("GET", path, token=token("revocations:read"))
        assert r.status == 200, "%r\n%s" % (r, log_tail(svc))
        return r.json

    @classmethod
    def wait_state(cls, svc, rev_id, state):
        deadline = time.monotonic() + WAIT
        while True:
            rev = cls.get(svc, "/v1/revocations/" + rev_id)
            if rev["state"] == state:
                return rev
            if time.monotonic() > deadline:
                raise AssertionError("%s not %s within %.0f s: %s\n%s"
                                     % (rev_id, state, WAIT, json.dumps(rev), log_tail(svc)))
            time.sleep(0.1)

    @classmethod
    def snapshot(cls, svc):
        """What the API says about every revocation: each GET, and the list."""
        listed = cls.get(svc, "/v1/revocations?limit=200")
        assert listed["next_cursor"] is None, listed
        ids = [r["id"] for r in listed["items"]]
        return {"list": listed, "by_id": {i: cls.get(svc, "/v1/revocations/" + i) for i in ids},
                "group_change": cls.get(svc, "/v1/revocations?source=group-change")}

    @classmethod
    def make_source(cls):
        """The SQLite store, made by serve; what the API said about it."""
        src = {"dir": tempfile.mkdtemp(prefix="store-", dir=TMP)}
        cls.dir = src["dir"]
        src["source"] = os.path.join(cls.dir, "source.db")
        store = {"path": src["source"]}
        body = {"groups": ["team_opsec"], "time": "30 minutes ago", "reason": "copy test"}
        svc = cls.service(store, 2, "sqlite-apply", FAKE)
        try:
            first = cls.post(svc, body, key="key-applied")
            src["first"] = {"id": first.json["id"], "answer": first.json, "body": body}
            cls.wait_state(svc, first.json["id"], "applied")
            # a revocation of one person (revocation_subjects)
            person = cls.post(svc, {"subjects": ["alice@example.com"], "time": "20 minutes ago"})
            cls.wait_state(svc, person.json["id"], "applied")
            cls.group_change(svc, {"event_id": "gc-1", "subject": "jane@example.com",
                                   "groups_removed": ["team_hr"],
                                   "time": "2026-03-12T08:00:00Z"})
            cls.group_change(svc, {"event_id": "gc-2", "subject": "joe@example.com",
                                   "groups": ["team_a", "team_b"],
                                   "time": "2026-03-12T08:00:00Z"})
            # a readiness check after a second without writes writes service_meta
            time.sleep(1.5)
            r = svc.request("GET", "/readyz")
            assert r.status == 200, r
        finally:
            svc.stop()
        # No worker: these stay pending, for PostgreSQL to carry out.
        svc = cls.service(store, 0, "sqlite-pending", FAKE)
        try:
            pending = cls.post(svc, {"groups": ["team_opsec"], "time": "5 minutes ago"},
                               key="key-pending")
            src["pending"] = pending.json["id"]
            cls.post(svc, {"groups": ["team_nobody"]})
            src["before"] = cls.snapshot(svc)
        finally:
            svc.stop()
        src["source_counts"] = sqlite_counts(src["source"])
        return src

    # -- helpers -----------------------------------------------------------

    def source_copy(self):
        """A copy of the source store to change or copy from."""
        d = tempfile.mkdtemp(prefix="src-", dir=self.dir)
        path = os.path.join(d, "store.db")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.source + suffix):
                shutil.copy(self.source + suffix, path + suffix)
        return path

    @staticmethod
    def max_id(path, table, col):
        con = sqlite3.connect(path)
        try:
            return con.execute("SELECT max(%s) FROM %s" % (col, table)).fetchone()[0]
        finally:
            con.close()

    def copy(self, source, to=None, config=None, env=None):
        args = ["store", "copy", "--from", source]
        if to is not None:
            args += ["--to", to]
        if config is not None:
            args += ["--config", config]
        return run_cli(args, env=env)

    def assert_refused(self, proc, status, *needles):
        self.assertEqual(proc.returncode, status, "stdout:\n%s\nstderr:\n%s"
                         % (proc.stdout, proc.stderr))
        self.assertEqual(proc.stdout, "")
        for needle in needles:
            self.assertIn(needle, proc.stderr)


class CopyAndServe(StoreCopyCase):

    def test_source_is_a_real_store(self):
        # what the copy has to carry: a row in every table
        for table, n in self.source_counts.items():
            with self.subTest(table=table):
                self.assertGreater(n, 0)
        jobs = self.before["by_id"][self.pending]["jobs"]
        self.assertEqual({j["state"] for j in jobs}, {"pending"}, jobs)

    def test_copy_then_serve_on_postgres(self):
        name = new_database()
        url = db_url(name)
        source = self.source_copy()
        # --to from the config's store.url
        cfg = os.path.join(self.dir, "copy-%s.json" % name)
        harness.write_config(cfg, {"store": {"url": url}})
        proc = self.copy(source, config=cfg)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(pg_counts(url), self.source_counts)
        lines = proc.stdout.splitlines()
        self.assertEqual(lines[0], "copied %s (schema version %d) into %s"
                         % (source, len([f for f in os.listdir(SQLITE_SQL)
                                         if f.endswith(".sql")]), url), proc.stdout)
        printed = {m.group(1): int(m.group(2)) for m in
                   (re.match(r"^(\w+)\s+(\d+)$", line) for line in lines[2:]) if m}
        want = dict(self.source_counts)
        want["total"] = sum(self.source_counts.values())
        self.assertEqual(printed, want, proc.stdout)
        # the file is left as it was
        self.assertEqual(sqlite_counts(source), self.source_counts)
        # PostgreSQL's id sequences stand at the highest ids copied
        for table, col in (("revocations", "seq"), ("jobs", "id")):
            with self.subTest(sequence=table):
                self.assertEqual(
                    psql(url, "SELECT s.last_value, s.is_called, (SELECT max(%s) FROM %s)"
                              " FROM %s s" % (col, table, psql(
                                  url, "SELECT pg_get_serial_sequence('%s', '%s')"
                                  % (table, col))[0][0])),
                    [[str(self.max_id(source, table, col)), "t",
                      str(self.max_id(source, table, col))]])

        fake = FAKE
        pg_store = {"url": url}

        # 1. read-only on PostgreSQL, no worker: everything reads the same
        svc = self.service(pg_store, 0, "pg-read-%s" % name, fake)
        self.addCleanup(harness.stop_quietly, svc)
        self.assertEqual(self.snapshot(svc), self.before)
        # the first answer again for an old Idempotency-Key ...
        again = self.post(svc, self.first["body"], key="key-applied")
        self.assertEqual(again.headers.get("Idempotent-Replayed"), "true")
        self.assertEqual(again.json, self.first["answer"])
        # ... which still belongs to that request only
        self.post(svc, {"groups": ["team_other"]}, key="key-applied", expect=422)
        # an old event id is a replay
        replay = self.group_change(svc, {"event_id": "gc-1", "subject": "jane@example.com",
                                         "groups_removed": ["team_hr"],
                                         "time": "2026-03-12T08:00:00Z"})
        self.assertEqual((replay.json["recorded"], replay.json["replayed"]), (0, 1), replay.json)
        # a new revocation comes after every copied one
        new = self.post(svc, {"groups": ["team_opsec"]}, key="key-new").json
        listed = self.get(svc, "/v1/revocations?limit=200")["items"]
        self.assertEqual([r["id"] for r in listed],
                         [new["id"]] + [r["id"] for r in self.before["list"]["items"]])
        max_seq = int(psql(url, "SELECT max(seq) FROM revocations WHERE id <> '%s'"
                                % new["id"])[0][0])
        new_seq = int(psql(url, "SELECT seq FROM revocations WHERE id = '%s'" % new["id"])[0][0])
        self.assertGreater(new_seq, max_seq)
        svc.stop()

        # 2. with workers: the jobs copied pending are carried out, new ones get new ids
        max_job = int(psql(url, "SELECT max(j.id) FROM jobs j JOIN revocations r"
                                " ON r.seq = j.revocation_seq WHERE r.id <> '%s'"
                                % new["id"])[0][0])
        new_jobs = sorted(int(r[0]) for r in psql(
            url, "SELECT j.id FROM jobs j JOIN revocations r ON r.seq = j.revocation_seq"
                 " WHERE r.id = '%s'" % new["id"]))
        self.assertEqual(len(new_jobs), len(harness.EXAMPLE_ACCOUNTS))
        self.assertGreater(min(new_jobs), max_job)
        since = max([c["seq"] for c in fake.calls()] or [0])
        world = fake.state()["accounts"]
        svc = self.service(pg_store, 2, "pg-work-%s" % name, fake)
        self.addCleanup(harness.stop_quietly, svc)
        pending = self.wait_state(svc, self.pending, "applied")
        self.assertEqual({j["state"] for j in pending["jobs"] if j["kind"] == "apply"},
                         {"done"})
        self.assertEqual(pending["cutoff"], self.before["by_id"][self.pending]["cutoff"])
        new = self.wait_state(svc, new["id"], "applied")
        # PostgreSQL's workers wrote the deny policies, with the latest cut-off
        wrote = sorted({"%s/%s" % (c["account"], c["role"]) for c in fake.calls(since)
                        if c["action"] == "PutRolePolicy" and c["status"] == 200})
        self.assertEqual(wrote, OPSEC)
        for acct, a in fake.state()["accounts"].items():
            for role, r in a["roles"].items():
                key = "%s/%s" % (acct, role)
                with self.subTest(role=key):
                    doc = r["inline_policies"].get(POLICY)
                    if key in OPSEC:
                        self.assertIn(new["cutoff"], json.dumps(doc))
                    else:  # as the copied store's own jobs left it
                        self.assertEqual(doc, world[acct]["roles"][role]["inline_policies"]
                                         .get(POLICY))
        # the first revocation's cleanup job is still waiting for its time
        first = self.get(svc, "/v1/revocations/" + self.first["id"])
        self.assertEqual(first, self.before["by_id"][self.first["id"]])
        svc.stop()


class Refusals(StoreCopyCase):

    def test_a_destination_with_rows_is_refused_and_kept(self):
        url = db_url(new_database())
        first = self.copy(self.source_copy(), to=url)
        self.assertEqual(first.returncode, 0, first.stderr)
        before = psql(url, "SELECT id, state, updated_at FROM revocations ORDER BY seq")
        again = self.copy(self.source_copy(), to=url)
        self.assert_refused(again, 1, "already holds rows (revocations %d,"
                            % self.source_counts["revocations"], "nothing was copied", url)
        self.assertEqual(pg_counts(url), self.source_counts)
        self.assertEqual(psql(url, "SELECT id, state, updated_at FROM revocations ORDER BY seq"),
                         before)

    def test_a_single_row_anywhere_is_enough_to_refuse(self):
        url = db_url(new_database())
        ok = self.copy(self.source_copy(), to=url)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        for t in reversed(TABLES):
            psql(url, "DELETE FROM %s" % t)
        psql(url, "INSERT INTO user_groups (source, subject, groups, updated_at)"
                  " VALUES ('group-change', 'x', '[]', 1)")
        proc = self.copy(self.source_copy(), to=url)
        self.assert_refused(proc, 1, "already holds rows (user_groups 1)")
        self.assertEqual(sum(v for v in pg_counts(url).values()), 1)

    def test_a_table_the_copy_does_not_know_is_refused_before_the_destination(self):
        source = self.source_copy()
        con = sqlite3.connect(source)
        con.execute("CREATE TABLE retention_marks (id INTEGER PRIMARY KEY, at INTEGER)")
        con.execute("INSERT INTO retention_marks (at) VALUES (1)")
        con.commit()
        con.close()
        url = db_url(new_database())
        proc = self.copy(source, to=url)
        self.assert_refused(proc, 1, source, 'holds the table "retention_marks"',
                            "nothing copied")
        # the destination was not even migrated
        self.assertEqual(set(pg_counts(url).values()), {None})

    def test_a_failure_midway_commits_nothing(self):
        # A group row of a revocation the file does not have (SQLite keeps
        # foreign keys only when asked): PostgreSQL refuses it after the
        # revocations went in, and the whole copy is rolled back.
        source = self.source_copy()
        con = sqlite3.connect(source)
        con.execute("INSERT INTO revocation_groups (revocation_seq, position, group_name)"
                    " VALUES (99999, 0, 'orphan')")
        con.commit()
        con.close()
        url = db_url(new_database())
        proc = self.copy(source, to=url)
        self.assert_refused(proc, 1, "copying table revocation_groups", "foreign key")
        counts = pg_counts(url)
        self.assertEqual(counts, {t: 0 for t in TABLES})
        # and the ids start from 1 again: nothing of the copy's stayed
        self.assertEqual(psql(url, "SELECT last_value, is_called FROM revocations_seq_seq"),
                         [["1", "f"]])

    def test_sources_that_are_not_a_store_of_this_binary(self):
        url = db_url(new_database())
        d = tempfile.mkdtemp(prefix="bad-", dir=self.dir)
        text = os.path.join(d, "notes.txt")
        with open(text, "w") as f:
            f.write("not a database at all, " * 100)
        empty = os.path.join(d, "empty.db")
        sqlite3.connect(empty).close()
        newer = self.source_copy()
        con = sqlite3.connect(newer)
        con.execute("PRAGMA user_version = 99")
        con.close()
        cases = [
            ("missing", os.path.join(d, "missing.db"), "No such file or directory"),
            ("directory", d, "is not a file"),
            ("not SQLite", text, "is not an SQLite database"),
            ("no store", empty, "holds no session-revoker store"),
            ("newer", newer, "schema version 99 is newer than this binary"),
            ("a URL", db_url("sr_copy_x", password="hunter2-secret"),
             "the source must be an SQLite file, not a PostgreSQL URL"),
        ]
        for what, path, needle in cases:
            with self.subTest(what):
                proc = self.copy(path, to=url)
                self.assert_refused(proc, 1, needle)
                if "://" not in path:
                    self.assertIn(path, proc.stderr)
                self.assertNotIn("hunter2-secret", proc.stderr)
        self.assertEqual(set(pg_counts(url).values()), {None})
        # the empty file stayed empty (no schema written into it)
        self.assertEqual(os.path.getsize(empty), 0)

    def test_an_older_store_is_migrated_first(self):
        d = tempfile.mkdtemp(prefix="old-", dir=self.dir)
        old = os.path.join(d, "old.db")
        names = sorted(f for f in os.listdir(SQLITE_SQL) if f.endswith(".sql"))
        con = sqlite3.connect(old)
        for f in names[:-1]:
            with open(os.path.join(SQLITE_SQL, f)) as fh:
                con.executescript(fh.read())
        con.execute("PRAGMA user_version = %d" % (len(names) - 1))
        con.execute("INSERT INTO revocations (id, source, issuer, action, cutoff, state,"
                    " created_at, updated_at) VALUES ('old-1', 'document', 'iss', 'revoke',"
                    " 1, 'recorded', 1, 1)")
        con.commit()
        con.close()
        url = db_url(new_database())
        proc = self.copy(old, to=url)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("(schema version %d)" % len(names), proc.stdout)
        self.assertEqual(psql(url, "SELECT id, state FROM revocations"), [["old-1", "recorded"]])

    def test_bad_and_unreachable_destinations(self):
        source = self.source_copy()
        port = free_port()
        cases = [
            ("not postgres", "mysql://sr@127.0.0.1/x", 2, ["must be a PostgreSQL URL",
                                                          "mysql://sr@127.0.0.1/x"]),
            ("bad port", "postgres://sr@127.0.0.1:notaport/x", 1,
             ["cannot connect to postgres://sr@127.0.0.1:notaport/x", "notaport"]),
            ("unreachable", "postgres://sr:hunter2-secret@127.0.0.1:%d/x" % port, 1,
             ["cannot connect to postgres://sr:***@127.0.0.1:%d/x" % port]),
            ("no such database", db_url("sr_copy_missing_db", password="hunter2-secret"), 1,
             ["cannot connect to", "sr_copy_missing_db", "does not exist"]),
        ]
        for what, url, status, needles in cases:
            with self.subTest(what):
                proc = self.copy(source, to=url)
                self.assert_refused(proc, status, *needles)
                self.assertNotIn("hunter2-secret", proc.stderr)
        # no --to and a store.url that is a file
        proc = self.copy(source, env={"SR_STORE_URL": os.path.join(self.dir, "x.db")})
        self.assert_refused(proc, 2, "no --to, and store.url is")
        self.assertEqual(sqlite_counts(source), self.source_counts)

    def test_usage(self):
        cases = [
            (["store"], 2, "name a subcommand: copy"),
            (["store", "move"], 2, "the only subcommand is copy"),
            (["store", "copy", "--to", db_url("x")], 2, "--from FILE (the SQLite store) is required"),
            (["store", "copy", "--from", "a.db", "extra"], 2, 'unexpected argument "extra"'),
        ]
        for args, status, needle in cases:
            with self.subTest(args=args):
                proc = run_cli(args)
                self.assertEqual(proc.returncode, status, proc.stderr)
                self.assertIn(needle, proc.stderr)
        helped = run_cli(["store", "copy", "--help"])
        self.assertEqual(helped.returncode, 0)
        self.assertIn("usage: session-revoker store copy --from FILE", helped.stdout)
        listed = run_cli(["--help"])
        self.assertIn("store ", listed.stdout)


if __name__ == "__main__":
    unittest.main()
