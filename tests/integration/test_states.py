"""A revocation's state says what became of it, and why when the state
alone does not (README "Jobs"; openapi.yaml RevocationState, state_reason).

  1. With no AWS account configured there is no job to run: the revocation is
     `recorded` at once (never `pending` for ever), and its GET says why.
  2. When no role in any target account lets the groups in, the revocation is
     `applied` with no role and no cleanup to come, and its GET says so.
  3. A database written before `recorded` existed is migrated: its pending
     revocations without jobs become `recorded`, everything else is kept.

`serve` runs against the fake AWS (tests/fakes/fake_aws.py) as in
test_jobs.py. Run with Debian's /usr/bin/python3.
"""

import glob
import os
import sqlite3
import unittest
import uuid

import harness
import test_jobs
from test_jobs import ACCOUNTS, DOC, OPSEC, JobsCase

SR_SOURCE_DIR = os.environ.get("SR_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def setUpModule():
    test_jobs.setUpModule()


def tearDownModule():
    test_jobs.tearDownModule()


class StateCase(JobsCase):

    def listed(self, svc, query):
        r = svc.request("GET", "/v1/revocations?" + query,
                        token=self.token(svc, scope="revocations:read"))
        self.assertEqual(r.status, 200, r)
        return [it["id"] for it in r.json["items"]]


class RecordedTest(StateCase):

    def test_no_accounts_configured_is_recorded_only(self):
        svc = self.start_service(accounts=[])
        r = self.post(svc, DOC)
        rev_id = r.json["id"]
        for rev in (r.json, self.get(svc, rev_id)):
            self.assertEqual(rev["state"], "recorded", rev)
            self.assertIn("aws.accounts", rev["state_reason"], rev)
            self.assertIn("recorded only", rev["state_reason"], rev)
        rev = self.get(svc, rev_id)
        self.assertEqual((rev["jobs"], rev["roles"], rev["cleanup_due"]), ([], [], None), rev)
        self.assertEqual(self.store.revocation(rev_id)["state"], "recorded")
        self.assertEqual(self.listed(svc, "state=recorded"), [rev_id])
        self.assertEqual(self.listed(svc, "state=pending"), [])
        self.assertEqual(self.write_calls(), [])
        self.stop_service(svc)

    def test_with_accounts_a_revocation_starts_pending_without_a_reason(self):
        svc = self.start_service(workers=0)
        r = self.post(svc, DOC)
        self.assertEqual((r.json["state"], r.json["state_reason"]), ("pending", None), r)
        self.stop_service(svc)


class NoRoleMatchedTest(StateCase):

    def test_applied_with_no_role_says_no_cleanup_is_due(self):
        svc = self.start_service()
        nobody = self.post(svc, {"groups": ["no-such-group"]}).json["id"]
        rev = self.wait_state(svc, nobody, "applied")
        self.assertEqual(rev["roles"], [], rev)
        self.assertEqual(rev["cleanup_due"], None, rev)
        self.assertEqual(sorted((j["account"], j["kind"], j["state"]) for j in rev["jobs"]),
                         [(a, "apply", "done") for a in ACCOUNTS], rev)
        self.assertIn("no role", rev["state_reason"], rev)
        self.assertIn("no cleanup is due", rev["state_reason"], rev)
        self.assert_no_deny_anywhere()

        # Beside it, a revocation that did deny roles has a cleanup to come
        # and no reason to give.
        opsec = self.post(svc, DOC).json["id"]
        rev = self.wait_state(svc, opsec, "applied")
        self.assertEqual(sorted(self.roles_of(rev, "apply")), OPSEC)
        self.assertIsNotNone(rev["cleanup_due"], rev)
        self.assertIsNone(rev["state_reason"], rev)
        self.stop_service(svc)


@harness.sqlite_only("an SQLite file as the binary before migration 004 left it")
class MigrationTest(StateCase):

    def old_database(self):
        """A database as the binary before migration 004 left it: one pending
        revocation with jobs, one without (no accounts were configured)."""
        db = sqlite3.connect(self.db)
        try:
            for path in sorted(glob.glob(os.path.join(SR_SOURCE_DIR, "sql", "*.sql")))[:3]:
                with open(path, encoding="utf-8") as f:
                    db.executescript(f.read())
            db.execute("PRAGMA user_version = 3")
            ids = {}
            for name, jobs in (("with_jobs", ACCOUNTS), ("without_jobs", [])):
                ids[name] = str(uuid.uuid4())
                cur = db.execute(
                    "INSERT INTO revocations (id, source, issuer, action, cutoff, state,"
                    " created_at, updated_at) VALUES (?, 'document', 'iss', 'revoke',"
                    " 1700000000, 'pending', 1700000000, 1700000000)", (ids[name],))
                db.execute("INSERT INTO revocation_groups VALUES (?, 0, ?)",
                           (cur.lastrowid, "team_" + name))
                for a in jobs:
                    db.execute("INSERT INTO jobs (revocation_seq, kind, account, run_at,"
                               " created_at, updated_at) VALUES (?, 'apply', ?, 1, 1, 1)",
                               (cur.lastrowid, a))
            db.commit()
        finally:
            db.close()
        return ids

    def test_pending_without_jobs_becomes_recorded(self):
        ids = self.old_database()
        svc = self.start_service(workers=0)
        rev = self.get(svc, ids["without_jobs"])
        self.assertEqual((rev["state"], rev["groups"]), ("recorded", ["team_without_jobs"]), rev)
        self.assertIn("aws.accounts", rev["state_reason"], rev)
        rev = self.get(svc, ids["with_jobs"])
        self.assertEqual((rev["state"], rev["state_reason"]), ("pending", None), rev)
        self.assertEqual(len(rev["jobs"]), len(ACCOUNTS), rev)
        # New revocations still get the next sequence number and their groups.
        new = self.post(svc, DOC).json["id"]
        self.assertEqual(self.get(svc, new)["groups"], DOC["groups"])
        self.stop_service(svc)
        self.assertEqual(self.store.integrity_check(), ["ok"])
        self.assertEqual(self.store.query("PRAGMA foreign_key_check"), [])
        self.assertEqual(self.store.query("PRAGMA user_version")[0]["user_version"],
                         len(glob.glob(os.path.join(SR_SOURCE_DIR, "sql", "*.sql"))))
        self.assertIn("'recorded'", self.store.query(
            "SELECT sql FROM sqlite_schema WHERE name = 'revocations'")[0]["sql"])
        self.assertEqual(self.store.query(
            "SELECT count(*) AS n FROM sqlite_schema WHERE name = 'revocations_by_state'"
        )[0]["n"], 1)


if __name__ == "__main__":
    unittest.main()
