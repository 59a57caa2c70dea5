"""`session-revoker status`: what an operator (or a script) learns from the
store alone, while `serve` runs on the same file and after it stopped.

  1. After a revocation whose apply fails in one account (a wrong external
     id: AccessDenied from STS) the report, text and --json, shows the store
     (path, schema version, size, takes writes), the jobs by kind and state,
     the failed job, the last AWS error of that account, the revocations by
     state and source; exit 1 (a failed job). Run beside `serve`, with no AWS
     credentials in its environment.
  2. After `jobs --retry` with the service stopped: the job is due now, the
     oldest due job and its age are shown; exit 0 (healthy), exit 1 with
     --max-lag once it has waited longer. The store file is not changed.
  3. No store: exit 1, the path named, no file created. A store on a
     read-only mount: read all the same, "writes NO" and why, exit 1.
  4. A file that is not a store: exit 1, named, left as it was; a
     configuration with nothing but the store is enough.
  5. A bad flag is a usage error (exit 2) naming it.

Run with Debian's /usr/bin/python3 (botocore for the fake, PyJWT).
"""

import hashlib
import json
import os
import subprocess
import time
import unittest

import harness
import test_jobs
from test_jobs import ACCOUNTS, ADMIN_ROLE, DOC, EXTERNAL_ID, JobsCase

BAD = "222222222222"
SCHEMA = len([f for f in os.listdir(os.path.join(
    os.environ.get("SR_SOURCE_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "..", ".."), "sql")) if f.endswith(".sql")])


def setUpModule():
    test_jobs.setUpModule()


def tearDownModule():
    test_jobs.tearDownModule()


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class StatusCase(JobsCase):

    def status(self, config, *args, expect, prefix=()):
        """Runs status with no AWS settings at all; returns (stdout, info)."""
        env = harness.clean_env({"HOME": self.tmp})
        env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
        proc = subprocess.run(list(prefix) + [self.bin_path(), "status", "--config", config]
                              + list(args), env=env, cwd=self.tmp, capture_output=True,
                              text=True, timeout=60)
        info = "status %s\nexit %s\n--- stdout\n%s\n--- stderr\n%s" % (
            " ".join(args), proc.returncode, proc.stdout, proc.stderr)
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, proc.stderr, info)
        self.assertEqual(proc.returncode, expect, info)
        return proc.stdout, info

    def status_json(self, config, *args, expect, prefix=()):
        out, info = self.status(config, "--json", *args, expect=expect, prefix=prefix)
        return json.loads(out), info

    @property
    def store_shown(self):
        """How status names the store: the file, or the database's URL."""
        return harness.store_url(self.db)

    def store_state(self):
        """What status must not change: the file's bytes, or every row of
        every table of the database."""
        if not harness.PG_MODE:
            return sha256(self.db)
        tables = [r["tablename"] for r in self.store.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        return {t: sorted(json.dumps(r, sort_keys=True, default=str)
                          for r in self.store.query('SELECT * FROM "%s"' % t)) for t in tables}

    @staticmethod
    def bin_path():
        return harness.binary_path()

    def failing_accounts(self):
        return [{"id": a, "role_name": ADMIN_ROLE,
                 "external_id": "wrong" if a == BAD else EXTERNAL_ID} for a in ACCOUNTS]


class StatusTest(StatusCase):

    def test_status_beside_serve_then_after_a_retry(self):
        svc = self.start_service(accounts=self.failing_accounts())
        config = os.path.join(self.tmp, "config-%d.json" % self.n_services)
        rev_id = self.post(svc, DOC).json["id"]
        rev = self.wait_state(svc, rev_id, "partial")
        failed_job = self.jobs_of(rev, "apply")[BAD]["id"]

        # 1. While serve runs on the same file.
        st, info = self.status_json(config, expect=1)
        store = st["store"]
        self.assertEqual((store["schema_version"], store["schema_expected"]), (SCHEMA, SCHEMA),
                         info)
        if harness.PG_MODE:
            self.assertEqual(store["url"], self.store_shown, info)
            self.assertTrue(store["server_version"], info)
        else:
            self.assertEqual(store["path"], self.db, info)
            self.assertEqual(store["size_bytes"], os.path.getsize(self.db), info)
            self.assertGreater(store["size_bytes"], 0, info)
            self.assertIsInstance(store["wal_bytes"], int, info)
            self.assertGreater(store["free_bytes"], 1 << 20, info)
        self.assertEqual((store["writable"], store["not_writable_because"]), (True, None), info)
        self.assertEqual(st["jobs"]["by_kind_and_state"],
                         {"apply": {"done": 2, "failed": 1}, "cleanup": {"pending": 2}}, info)
        self.assertEqual(st["jobs"]["due_now"], {}, info)   # cleanups are 12 h away
        self.assertEqual(st["jobs"]["failed"], {"apply": 1}, info)
        self.assertIsNone(st["jobs"]["oldest_due"], info)
        self.assertEqual(len(st["aws_errors"]), 1, info)
        e = st["aws_errors"][0]
        self.assertEqual((e["account"], e["job_id"], e["kind"], e["job_state"],
                          e["revocation_id"], e["later_job_done"]),
                         (BAD, failed_job, "apply", "failed", rev_id, False), info)
        self.assertIn("AccessDenied", e["error"], info)
        self.assertLessEqual(abs(harness.parse_rfc3339(e["at"]) - time.time()), 60, info)
        self.assertEqual(st["revocations"], {"by_state": {"partial": 1},
                                             "by_source": {"document": 1}}, info)
        self.assertFalse(st["healthy"], info)
        self.assertEqual(len(st["problems"]), 1, info)
        self.assertIn("1 failed job", st["problems"][0], info)

        text, info = self.status(config, expect=1)
        for want in ("store         " + self.store_shown, "version %d (this binary: %d)" % (SCHEMA, SCHEMA),
                     "writes      yes", "apply       done 2, failed 1",
                     "cleanup     pending 2", "due now     none", "failed      apply 1",
                     "oldest due  none", "%s  " % BAD, "job %d (apply, failed): " % failed_job,
                     "AccessDenied", "by state    partial 1", "by source   document 1",
                     "status        UNHEALTHY", "  - 1 failed job"):
            self.assertIn(want, text, info)
        self.assertTrue(svc.alive(), info)
        self.stop_service(svc)

        # 2. The failed job made due again (serve stopped): due now, healthy.
        proc = subprocess.run([self.bin_path(), "jobs", "--config", config, "--retry",
                               str(failed_job)], env=harness.clean_env({"HOME": self.tmp}),
                              cwd=self.tmp, capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        before = self.store_state()
        st, info = self.status_json(config, expect=0)
        self.assertEqual(st["jobs"]["due_now"], {"apply": 1}, info)
        self.assertEqual(st["jobs"]["failed"], {}, info)
        self.assertEqual(st["jobs"]["by_kind_and_state"],
                         {"apply": {"done": 2, "pending": 1}, "cleanup": {"pending": 2}}, info)
        old = st["jobs"]["oldest_due"]
        self.assertEqual((old["id"], old["kind"], old["account"], old["state"],
                          old["revocation_id"], old["attempts"]),
                         (failed_job, "apply", BAD, "pending", rev_id, 0), info)
        self.assertLessEqual(old["age_seconds"], 30, info)
        self.assertEqual([(e["account"], e["job_state"]) for e in st["aws_errors"]],
                         [(BAD, "pending")], info)   # the error is kept until a run clears it
        self.assertEqual((st["healthy"], st["problems"]), (True, []), info)
        text, info = self.status(config, expect=0)
        self.assertIn("due now     apply 1", text, info)
        self.assertIn("oldest due  job %d (apply, account %s, pending) due since %s"
                      % (failed_job, BAD, old["run_at"]), text, info)
        self.assertIn("status        healthy", text, info)

        time.sleep(2.2)
        st, info = self.status_json(config, "--max-lag", "1", expect=1)
        self.assertGreaterEqual(st["jobs"]["oldest_due"]["age_seconds"], 2, info)
        self.assertIn("job %d has been due for" % failed_job, " ".join(st["problems"]), info)
        self.status(config, "--max-lag", "3600", expect=0)
        # Reading changed nothing in the store.
        self.assertEqual(self.store_state(), before)


class StatusStoreTest(StatusCase):

    @harness.sqlite_only("no file at store.path")
    def test_no_store_is_named_and_not_created(self):
        config = self.write_config()
        for args in ((), ("--json",)):
            out, info = self.status(config, *args, expect=1)
            self.assertIn("no store at %s" % self.db, out + info, info)
        st, info = self.status_json(config, expect=1)
        self.assertFalse(st["healthy"], info)
        self.assertEqual(st["store"], {"path": self.db}, info)
        self.assertFalse(os.path.exists(self.db), info)

    @harness.sqlite_only("the file on a read-only mount")
    def test_read_only_mount_is_read_and_reported(self):
        svc = self.start_service()
        config = os.path.join(self.tmp, "config-%d.json" % self.n_services)
        self.wait_state(svc, self.post(svc, DOC).json["id"], "applied")
        self.stop_service(svc)
        folder = os.path.dirname(self.db)
        unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
        prefix = unshare + ["sh", "-c", 'mount --bind "$0" "$0" && mount -o remount,bind,ro'
                            ' "$0" && exec "$@"', folder]
        st, info = self.status_json(config, prefix=prefix, expect=1)
        self.assertFalse(st["store"]["writable"], info)
        self.assertIn("mounted read-only", st["store"]["not_writable_because"], info)
        self.assertEqual(st["revocations"]["by_state"], {"applied": 1}, info)
        self.assertEqual(st["jobs"]["failed"], {}, info)
        self.assertIn("the store takes no writes", " ".join(st["problems"]), info)
        text, info = self.status(config, prefix=prefix, expect=1)
        self.assertIn("writes      NO: the file system holding %s is mounted read-only"
                      % folder, text, info)

    @harness.sqlite_only("a file that is not an SQLite store")
    def test_a_file_that_is_no_store_is_named(self):
        # A configuration with nothing but the store: status needs no issuer,
        # no sources, no AWS.
        config = harness.write_config(os.path.join(self.tmp, "store-only.json"),
                                      {"store": {"path": self.db}})
        for content, want in ((b"not a database at all", "file is not a database"),
                              (b"", "is not a session-revoker store (schema version 0")):
            with open(self.db, "wb") as f:
                f.write(content)
            st, info = self.status_json(config, expect=1)
            self.assertFalse(st["healthy"], info)
            self.assertIn(want, " ".join(st["problems"]), info)
            self.assertEqual(st["store"]["size_bytes"], len(content), info)
            self.assertNotIn("jobs", st, info)
            text, info = self.status(config, expect=1)
            self.assertIn(want, text, info)
            with open(self.db, "rb") as f:
                self.assertEqual(f.read(), content)

    def test_bad_flags_are_usage_errors(self):
        config = self.write_config()
        for args, want in ((("--max-lag", "soon"), "--max-lag takes seconds"),
                           (("--max-lag", "0"), "--max-lag takes seconds"),
                           (("extra",), 'unexpected argument "extra"')):
            proc = subprocess.run([self.bin_path(), "status", "--config", config] + list(args),
                                  env=harness.clean_env({"HOME": self.tmp}), cwd=self.tmp,
                                  capture_output=True, text=True, timeout=60)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn(want, proc.stderr)
            self.assertFalse(self.store.exists())


if __name__ == "__main__":
    unittest.main()
