"""test_pg_schema.py - the PostgreSQL schema (sql/postgres/) means what the
SQLite one the binary makes means (issue 11, first increment).

One throwaway server from scripts/pg-test-server.sh for the whole file (about
a second to start); sql/postgres/*.sql applied in order with psql; the SQLite
schema read from a file the real binary made and migrated (`session-revoker
jobs`). Compared: tables, columns (names, in order), NOT NULL columns, unique
keys, the other indexes, the CHECKed value lists; then the dedupe guarantees
are tried on PostgreSQL itself. Finally `stop` must leave no server and no
directory behind.

Run with Debian's /usr/bin/python3; needs Debian's postgresql (psql).
"""

import glob
import json
import os
import re
import shlex
import sqlite3
import subprocess
import tempfile
import time
import unittest

import harness

SR_SOURCE_DIR = os.environ.get("SR_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(SR_SOURCE_DIR, "scripts", "pg-test-server.sh")
PG_SQL = sorted(glob.glob(os.path.join(SR_SOURCE_DIR, "sql", "postgres", "*.sql")))
SQLITE_SQL = sorted(glob.glob(os.path.join(SR_SOURCE_DIR, "sql", "*.sql")))
FK_RE = re.compile(r"FOREIGN KEY \((\w+)\) REFERENCES (\w+)\((\w+)\)(?: ON DELETE ([A-Z ]+))?")
CHECK_RE = re.compile(r"\(?\(?(\w+)\)?\s*(?:IN\s*\(|=\s*ANY\s*\(\s*ARRAY\[)([^)\]]*)[)\]]",
                      re.IGNORECASE)


def check_values(definition):
    """{column: set of allowed values} of the `col IN ('a', 'b')` CHECKs in a
    CREATE TABLE statement (SQLite) or a pg_get_constraintdef (PostgreSQL)."""
    found = {}
    for m in CHECK_RE.finditer(definition):
        found[m.group(1)] = set(re.findall(r"'([^']*)'", m.group(2)))
    return found


def start_server():
    proc = subprocess.run([SCRIPT, "start"], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError("pg-test-server.sh start: exit %d\n%s" % (proc.returncode,
                                                                       proc.stderr))
    values = {}
    for line in proc.stdout.splitlines():
        name, _, value = line.partition("=")
        values[name] = shlex.split(value)[0]
    return values


def server_pid(data_dir):
    try:
        with open(os.path.join(data_dir, "postmaster.pid")) as f:
            return int(f.readline())
    except OSError:
        return None


class PgSchemaTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sr-pgschema-")
        cls.pg = start_server()
        cls.url = cls.pg["SR_PG_URL"]
        try:
            cls.migrate_postgres()
            cls.sqlite = cls.sqlite_schema()
            cls.postgres = cls.postgres_schema()
        except BaseException:
            subprocess.run([SCRIPT, "stop", cls.pg["SR_PG_DIR"]], timeout=60)
            raise

    @classmethod
    def tearDownClass(cls):
        subprocess.run([SCRIPT, "stop", cls.pg["SR_PG_DIR"]], timeout=60)

    # ------------------------------------------------------------ helpers

    @classmethod
    def psql(cls, sql, check=True):
        """Runs sql in one transaction; returns the CompletedProcess (stdout:
        unaligned rows, fields separated by tabs)."""
        proc = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
             "-1", "-d", cls.url, "-f", "-"],
            input="\\set VERBOSITY verbose\n" + sql, capture_output=True, text=True,
            timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError("psql failed (%d): %s\n%s" % (proc.returncode, proc.stderr, sql))
        return proc

    @classmethod
    def rows(cls, sql):
        out = cls.psql(sql).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    @classmethod
    def migrate_postgres(cls):
        for path in PG_SQL:
            with open(path, encoding="utf-8") as f:
                cls.psql(f.read())

    @classmethod
    def sqlite_schema(cls):
        db = os.path.join(cls.tmp, "store.db")
        cfg = harness.write_config(os.path.join(cls.tmp, "config.json"),
                                   {"store": {"path": db}})
        proc = subprocess.run([harness.binary_path(), "jobs", "--config", cfg],
                              env=harness.clean_env({"HOME": cls.tmp}), cwd=cls.tmp,
                              capture_output=True, text=True, timeout=60)
        for marker in harness.SANITIZER_MARKERS:
            assert marker not in proc.stderr, proc.stderr
        assert proc.returncode == 0, proc.stderr
        status = subprocess.run([harness.binary_path(), "status", "--config", cfg, "--json"],
                                env=harness.clean_env({"HOME": cls.tmp}), cwd=cls.tmp,
                                capture_output=True, text=True, timeout=60)
        schema = {"expected": json.loads(status.stdout)["store"]["schema_expected"],
                  "tables": {}}
        con = sqlite3.connect(db)
        try:
            for name, sql in con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"
                                         " AND name NOT LIKE 'sqlite_%'"):
                info = con.execute("PRAGMA table_info(%s)" % name).fetchall()
                columns = [c[1] for c in info]
                # a primary key column is never NULL here: each is either the
                # rowid (INTEGER PRIMARY KEY) or in a WITHOUT ROWID table
                not_null = {c[1] for c in info if c[3] or c[5]}
                pk = tuple(c[1] for c in sorted(info, key=lambda c: c[5]) if c[5])
                unique, indexes = {pk}, {}
                for _, iname, is_unique, origin, _ in con.execute("PRAGMA index_list(%s)" % name):
                    cols = tuple(r[2] for r in con.execute("PRAGMA index_info(%s)" % iname))
                    if is_unique:
                        unique.add(cols)
                    else:
                        indexes[iname] = cols
                foreign = {(fk[3], fk[2], fk[4], fk[6])
                           for fk in con.execute("PRAGMA foreign_key_list(%s)" % name)}
                schema["tables"][name] = {"columns": columns, "not_null": not_null,
                                          "unique": unique, "indexes": indexes,
                                          "checks": check_values(sql), "foreign": foreign}
        finally:
            con.close()
        return schema

    @classmethod
    def postgres_schema(cls):
        tables = {}
        for (name,) in cls.rows("SELECT table_name FROM information_schema.tables"
                                " WHERE table_schema = 'public'"):
            tables[name] = {"columns": [], "not_null": set(), "unique": set(), "indexes": {},
                            "checks": {}, "collations": {}, "foreign": set()}
        for table, column, nullable, dtype, coll in cls.rows(
                "SELECT table_name, column_name, is_nullable, data_type,"
                "       coalesce(collation_name, '')"
                "  FROM information_schema.columns WHERE table_schema = 'public'"
                " ORDER BY table_name, ordinal_position"):
            t = tables[table]
            t["columns"].append(column)
            if nullable == "NO":
                t["not_null"].add(column)
            if dtype == "text":
                t["collations"][column] = coll
        for table, iname, unique, cols in cls.rows(
                "SELECT c.relname, i.relname, x.indisunique,"
                "       (SELECT string_agg(a.attname, ',' ORDER BY k.n)"
                "          FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)"
                "          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum)"
                "  FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid"
                "  JOIN pg_class i ON i.oid = x.indexrelid"
                "  JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'public'"):
            if unique == "t":
                tables[table]["unique"].add(tuple(cols.split(",")))
            else:
                tables[table]["indexes"][iname] = tuple(cols.split(","))
        for table, definition in cls.rows(
                "SELECT c.relname, pg_get_constraintdef(k.oid) FROM pg_constraint k"
                "  JOIN pg_class c ON c.oid = k.conrelid"
                "  JOIN pg_namespace s ON s.oid = c.relnamespace"
                " WHERE s.nspname = 'public' AND k.contype = 'c'"):
            tables[table]["checks"].update(check_values(definition))
        for table, definition in cls.rows(
                "SELECT c.relname, pg_get_constraintdef(k.oid) FROM pg_constraint k"
                "  JOIN pg_class c ON c.oid = k.conrelid"
                "  JOIN pg_namespace s ON s.oid = c.relnamespace"
                " WHERE s.nspname = 'public' AND k.contype = 'f'"):
            m = FK_RE.fullmatch(definition)
            assert m, definition
            tables[table]["foreign"].add(m.groups()[:3] + (m.group(4) or "NO ACTION",))
        return {"tables": tables}

    def insert_revocation(self, source, event_id, rid):
        event = "NULL" if event_id is None else "'%s'" % event_id
        return self.psql(
            "INSERT INTO revocations (id, source, source_event_id, issuer, action, cutoff,"
            " created_at, updated_at) VALUES ('%s', '%s', %s, 'iss', 'revoke', 1, 1, 1);"
            % (rid, source, event), check=False)

    # ------------------------------------------------------------ the schema

    def test_migrations_go_in_lockstep_and_only_sqlite_ones_are_embedded(self):
        names = [os.path.basename(p) for p in SQLITE_SQL]
        self.assertEqual([os.path.basename(p) for p in PG_SQL], names)
        # the binary embeds sql/*.sql and not sql/postgres/
        self.assertEqual(self.sqlite["expected"], len(names))

    def test_same_tables(self):
        self.assertEqual(sorted(self.postgres["tables"]), sorted(self.sqlite["tables"]))
        self.assertEqual(len(self.sqlite["tables"]), 8)

    def test_same_columns_in_the_same_order(self):
        for name, t in self.sqlite["tables"].items():
            with self.subTest(table=name):
                self.assertEqual(self.postgres["tables"][name]["columns"], t["columns"])

    def test_same_not_null_columns(self):
        for name, t in self.sqlite["tables"].items():
            with self.subTest(table=name):
                self.assertEqual(self.postgres["tables"][name]["not_null"], t["not_null"])

    def test_same_unique_keys(self):
        for name, t in self.sqlite["tables"].items():
            with self.subTest(table=name):
                self.assertEqual(self.postgres["tables"][name]["unique"], t["unique"])
        self.assertIn(("source", "source_event_id"), self.sqlite["tables"]["revocations"]["unique"])

    def test_same_indexes(self):
        for name, t in self.sqlite["tables"].items():
            with self.subTest(table=name):
                self.assertEqual(self.postgres["tables"][name]["indexes"], t["indexes"])

    def test_same_checked_values(self):
        for name, t in self.sqlite["tables"].items():
            with self.subTest(table=name):
                self.assertEqual(self.postgres["tables"][name]["checks"], t["checks"])
        self.assertIn("recorded", self.sqlite["tables"]["revocations"]["checks"]["state"])

    def test_same_foreign_keys(self):
        for name, t in self.sqlite["tables"].items():
            with self.subTest(table=name):
                self.assertEqual(self.postgres["tables"][name]["foreign"], t["foreign"])
        self.assertIn(("revocation_seq", "revocations", "seq", "CASCADE"),
                      self.sqlite["tables"]["revocation_groups"]["foreign"])

    def test_text_compares_byte_by_byte_as_in_sqlite(self):
        for name, t in self.postgres["tables"].items():
            for column, coll in t["collations"].items():
                with self.subTest(table=name, column=column):
                    self.assertEqual(coll, "C")

    # ------------------------------------------------------------ what they guarantee

    def test_the_same_event_twice_is_a_unique_violation(self):
        self.assertEqual(self.insert_revocation("auth0", "ev-1", "r-dup-1").returncode, 0)
        again = self.insert_revocation("auth0", "ev-1", "r-dup-2")
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("23505", again.stderr)
        self.assertIn("revocations_source_source_event_id_key", again.stderr)
        # the same event id from another source is another event
        self.assertEqual(self.insert_revocation("okta", "ev-1", "r-dup-3").returncode, 0)

    def test_no_event_id_twice_is_two_revocations(self):
        self.assertEqual(self.insert_revocation("document", None, "r-null-1").returncode, 0)
        self.assertEqual(self.insert_revocation("document", None, "r-null-2").returncode, 0)
        rows = self.rows("SELECT count(*) FROM revocations WHERE id IN ('r-null-1', 'r-null-2')")
        self.assertEqual(rows, [["2"]])

    def test_one_job_per_revocation_kind_and_account(self):
        self.assertEqual(self.insert_revocation("document", None, "r-job").returncode, 0)
        job = ("INSERT INTO jobs (revocation_seq, kind, account, run_at, created_at, updated_at)"
               " SELECT seq, 'apply', '111111111111', 1, 1, 1 FROM revocations"
               " WHERE id = 'r-job';")
        self.psql(job)
        again = self.psql(job, check=False)
        self.assertIn("23505", again.stderr)

    def test_an_idempotency_key_is_used_once(self):
        self.assertEqual(self.insert_revocation("document", None, "r-idem").returncode, 0)
        key = ("INSERT INTO idempotency_keys (issuer, subject, key, request_hash,"
               " revocation_seq, response, created_at)"
               " SELECT 'iss', 'sub', 'k1', 'h', seq, '{}', 1 FROM revocations"
               " WHERE id = 'r-idem';")
        self.psql(key)
        self.assertIn("23505", self.psql(key, check=False).stderr)

    def test_states_outside_the_list_are_refused(self):
        self.assertEqual(self.insert_revocation("document", None, "r-state").returncode, 0)
        self.psql("UPDATE revocations SET state = 'recorded' WHERE id = 'r-state';")
        bad = self.psql("UPDATE revocations SET state = 'lost' WHERE id = 'r-state';",
                        check=False)
        self.assertIn("23514", bad.stderr)
        self.assertEqual(self.rows("SELECT state FROM revocations WHERE id = 'r-state'"),
                         [["recorded"]])


class PgTestServerTest(unittest.TestCase):
    """scripts/pg-test-server.sh itself: an unprivileged server, and stop."""

    def test_start_runs_unprivileged_and_stop_leaves_nothing(self):
        pg = start_server()
        try:
            self.assertTrue(pg["SR_PG_URL"].startswith("postgres://sr@127.0.0.1:%s/"
                                                       % pg["SR_PG_PORT"]), pg)
            self.assertTrue(pg["SR_PG_DATA"].startswith(pg["SR_PG_DIR"] + os.sep), pg)
            pid = server_pid(pg["SR_PG_DATA"])
            self.assertIsNotNone(pid)
            with open("/proc/%d/status" % pid) as f:
                uid = [line.split()[1] for line in f if line.startswith("Uid:")][0]
            self.assertNotEqual(uid, "0")
            # only the socket and the loopback address are trusted
            with open(os.path.join(pg["SR_PG_DATA"], "pg_hba.conf")) as f:
                rules = [line.split() for line in f if line.strip() and line[0] != "#"]
            self.assertEqual(rules, [["local", "all", "all", "trust"],
                                     ["host", "all", "all", "127.0.0.1/32", "trust"]])
            out = subprocess.run(["psql", "-X", "-A", "-t", "-d", pg["SR_PG_URL"], "-c",
                                  "SELECT current_database()"],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.stdout.strip(), "session_revoker", out.stderr)
        finally:
            stopped = subprocess.run([SCRIPT, "stop", pg["SR_PG_DIR"]], capture_output=True,
                                     text=True, timeout=60)
        self.assertEqual(stopped.returncode, 0, stopped.stderr)
        self.assertFalse(os.path.exists(pg["SR_PG_DIR"]))
        for _ in range(50):
            if not os.path.exists("/proc/%d" % pid):
                break
            time.sleep(0.1)
        self.assertFalse(os.path.exists("/proc/%d" % pid), "the server still runs")

    def test_stop_refuses_a_directory_it_did_not_make(self):
        other = tempfile.mkdtemp(prefix="sr-not-pg-")
        try:
            proc = subprocess.run([SCRIPT, "stop", other], capture_output=True, text=True,
                                  timeout=30)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("is not a directory pg-test-server.sh start made", proc.stderr)
            self.assertTrue(os.path.isdir(other))
        finally:
            os.rmdir(other)


if __name__ == "__main__":
    unittest.main()
