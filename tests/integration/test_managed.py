"""The managed-policy fallback's AWS side (src/revoke/managed.c) against the
fake AWS (tests/fakes/fake_aws.py), driven through managed_probe (built by
tests/CMakeLists.txt, its path in SR_MANAGED_PROBE):

- a first write creates the policy, a second adds a version set as the
  default, writing the same statements again writes nothing, and the sixth
  write still succeeds (the oldest non-default version is deleted first);
- attaching twice attaches once; the 11th managed policy on a role is refused
  with an error naming the role; remove detaches it from every role and
  deletes it with its versions;
- the fake evaluates the role as IAM would: a session of a person in the
  managed policy, issued before their cut-off, is denied; another person's
  session, and the same person's session issued after the cut-off, are not.

Run with Debian's /usr/bin/python3 (botocore for the fake).
"""

import datetime
import json
import os
import subprocess
import tempfile
import unittest

import harness

fake_aws = harness.fake_aws

ACCOUNT = "111111111111"
KEY = "AKIAFAKEMANAGED00001"
SECRET = "managedProbeSecret/0123456789abcdef"
NAME = "session-revoker-people"
PATH = "/session-revoker/"
ARN = f"arn:aws:iam::{ACCOUNT}:policy{PATH}{NAME}"
ROLES = ["Engineers", "Auditors", "Crowded"]
ALLOW_ALL = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
CUTOFF = 1_900_000_000  # 2030-03-17T17:46:40Z


def seed():
    roles = [{"RoleName": r, "Path": "/", "inline_policies": {"Work": ALLOW_ALL},
              "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                  "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                  "Action": "sts:AssumeRole"}]}} for r in ROLES]
    others = [{"PolicyName": f"Other{i}", "Document": ALLOW_ALL} for i in range(10)]
    # Crowded already carries 10 managed policies: the default quota.
    roles[2]["attached_policies"] = [f"arn:aws:iam::{ACCOUNT}:policy/Other{i}" for i in range(10)]
    return {"random_seed": 12,
            "base_credentials": [{"access_key_id": KEY, "secret_access_key": SECRET,
                                  "account": ACCOUNT,
                                  "arn": f"arn:aws:iam::{ACCOUNT}:user/session-revoker"}],
            "accounts": {ACCOUNT: {"roles": roles, "managed_policies": others}}}


def document(subjects, cutoff=CUTOFF):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "SessionRevokerPeopleTest", "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceIdentity": sorted(subjects)},
                      "DateLessThan": {"aws:TokenIssueTime": cutoff}}}]})


class ManagedPolicyTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.probe_bin = os.environ.get("SR_MANAGED_PROBE")
        if not self.probe_bin:
            self.fail("SR_MANAGED_PROBE is not set: run through ctest (integration.managed)")
        self.fake = fake_aws.FakeAws(seed()).start()
        self.addCleanup(self.fake.stop)
        self.tmp = tempfile.TemporaryDirectory(prefix="sr-managed-")
        self.addCleanup(self.tmp.cleanup)

    def probe(self, *args, expect=0):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ENDPOINT_URL": self.fake.url, "AWS_ACCESS_KEY_ID": KEY,
                    "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_EC2_METADATA_DISABLED": "true",
                    "ASAN_OPTIONS": "detect_leaks=1"})
        p = subprocess.run([self.probe_bin] + list(args), env=env, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, expect, (args, p.stdout, p.stderr))
        self.assertNotIn("Sanitizer", p.stderr)
        self.assertNotIn(SECRET, p.stdout + p.stderr)
        return json.loads(p.stdout)

    def write(self, doc, expect=0):
        path = os.path.join(self.tmp.name, "doc.json")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(doc)
        return self.probe("write", "aws", ACCOUNT, NAME, PATH, path, expect=expect)

    def write_expect_failure(self, doc):
        return self.write(doc, expect=1)

    def policy(self):
        return self.fake.state()["accounts"][ACCOUNT]["managed_policies"].get(ARN)

    def versions(self):
        p = self.policy()
        return [v["VersionId"] for v in p["versions"]], p["DefaultVersionId"]

    def default_document(self):
        p = self.policy()
        text = [v for v in p["versions"] if v["VersionId"] == p["DefaultVersionId"]][0]["Document"]
        return json.loads(text) if isinstance(text, str) else text

    def calls(self, action):
        return [c for c in self.fake.calls() if c["action"] == action]

    def test_writes_create_then_version_and_never_hit_the_version_limit(self):
        self.assertEqual(self.probe("read", "aws", ACCOUNT, NAME, PATH),
                         {"arn": ARN, "document": None})
        first = self.write(document(["alice"]))
        self.assertTrue(first["request_id"])
        self.assertEqual(self.versions(), (["v1"], "v1"))
        self.assertEqual(len(self.calls("CreatePolicy")), 1)
        read = self.probe("read", "aws", ACCOUNT, NAME, PATH)
        self.assertEqual(json.loads(read["document"]), json.loads(document(["alice"])))

        self.write(document(["alice", "bob"]))
        self.assertEqual(self.versions(), (["v1", "v2"], "v2"))
        self.assertEqual(self.default_document()["Statement"][0]["Condition"]["StringEquals"],
                         {"aws:SourceIdentity": ["alice", "bob"]})

        # The same statements again (whitespace aside): nothing written.
        before = len(self.calls("CreatePolicyVersion"))
        same = self.write(json.dumps(json.loads(document(["alice", "bob"])), indent=2))
        self.assertEqual(same["request_id"], "")
        self.assertEqual(len(self.calls("CreatePolicyVersion")), before)
        self.assertEqual(self.versions(), (["v1", "v2"], "v2"))

        for people in (["a", "b", "c"], ["a", "b", "c", "d"], ["a", "b", "c", "d", "e"]):
            self.write(document(people))
        self.assertEqual(self.versions(), (["v1", "v2", "v3", "v4", "v5"], "v5"))
        # The sixth write: IAM holds five versions, so v1 (the oldest, not the
        # default) goes first; the write succeeds.
        sixth = self.write(document(["zoe"]))
        self.assertTrue(sixth["request_id"])
        self.assertEqual(self.versions(), (["v2", "v3", "v4", "v5", "v6"], "v6"))
        self.assertEqual(len(self.calls("DeletePolicyVersion")), 1)
        self.write(document(["zoe", "yann"]))
        self.assertEqual(self.versions(), (["v3", "v4", "v5", "v6", "v7"], "v7"))

    def test_people_merged_by_the_targeted_merge_into_the_managed_policy(self):
        got = self.probe("people", "aws", ACCOUNT, NAME, PATH, f"alice={CUTOFF}",
                         f"bob={CUTOFF + 60}")
        self.assertEqual((got["arn"], got["n_people"], got["unwritten"]), (ARN, 2, 0))
        again = self.probe("people", "aws", ACCOUNT, NAME, PATH, f"alice={CUTOFF}")
        self.assertEqual((again["request_id"], again["n_people"]), ("", 2))
        self.assertEqual(self.versions(), (["v1"], "v1"))
        subjects = sorted(s for st in self.default_document()["Statement"]
                          for s in st["Condition"]["StringEqualsIgnoreCase"]["aws:SourceIdentity"])
        self.assertEqual(subjects, ["alice", "bob"])

    def test_attach_once_quota_error_and_remove(self):
        self.write(document(["alice"]))
        self.assertEqual(self.probe("attach", "Engineers", ARN), {"attached": True})
        self.assertEqual(self.probe("attach", "Engineers", ARN), {"attached": False})
        self.assertEqual(len(self.calls("AttachRolePolicy")), 1)
        self.assertEqual(self.probe("attach", "Auditors", ARN), {"attached": True})
        roles = self.fake.state()["accounts"][ACCOUNT]["roles"]
        self.assertEqual(roles["Engineers"]["attached_policies"], [ARN])
        self.assertEqual(roles["Auditors"]["attached_policies"], [ARN])

        # The 11th managed policy on a role: a clear error naming the role,
        # and nothing changed.
        err = self.probe("attach", "Crowded", ARN, expect=1)
        self.assertIn("role Crowded already has 10 managed policies", err["error"])
        self.assertIn("LimitExceeded", err["error"])
        roles = self.fake.state()["accounts"][ACCOUNT]["roles"]
        self.assertNotIn(ARN, roles["Crowded"]["attached_policies"])
        self.assertEqual(len(roles["Crowded"]["attached_policies"]), 10)

        self.write(document(["alice", "bob"]))
        self.write(document(["bob"]))
        self.assertEqual(len(self.versions()[0]), 3)
        self.assertEqual(self.probe("remove", ARN), {"detached": 2})
        self.assertIsNone(self.policy())
        roles = self.fake.state()["accounts"][ACCOUNT]["roles"]
        self.assertEqual((roles["Engineers"]["attached_policies"],
                          roles["Auditors"]["attached_policies"]), ([], []))
        # Removing what is gone already is no error.
        self.assertEqual(self.probe("remove", ARN), {"detached": 0})

    def test_a_person_in_the_managed_policy_is_denied_and_no_one_else(self):
        self.probe("people", "aws", ACCOUNT, NAME, PATH, f"alice={CUTOFF}")
        self.probe("attach", "Engineers", ARN)
        role = f"arn:aws:iam::{ACCOUNT}:role/Engineers"
        before = datetime.datetime.fromtimestamp(CUTOFF - 3600, datetime.timezone.utc)
        after = datetime.datetime.fromtimestamp(CUTOFF + 60, datetime.timezone.utc)

        def decide(who, issued, role_arn=role):
            return self.fake.evaluate(role_arn, "s3:GetObject", session={
                "source_identity": who, "token_issue_time": issued.isoformat()})

        alice = decide("alice", before)
        self.assertEqual(alice["decision"], "explicitDeny", alice)
        self.assertEqual(alice["matched"][0]["policy"], ARN, alice)
        self.assertEqual(decide("bob", before)["decision"], "allowed")
        self.assertEqual(decide(None, before)["decision"], "allowed")
        self.assertEqual(decide("alice", after)["decision"], "allowed")
        # A role the policy is not attached to lets Alice in.
        self.assertEqual(decide("alice", before, f"arn:aws:iam::{ACCOUNT}:role/Auditors")[
            "decision"], "allowed")

    def test_bad_input_changes_nothing(self):
        err = self.probe("read", "aws", "12345", NAME, PATH, expect=1)
        self.assertIn("account \"12345\" is not 12 digits", err["error"])
        err = self.probe("write", "aws", ACCOUNT, "bad/name", PATH, "/dev/null", expect=1)
        self.assertIn("name \"bad/name\" is not an IAM policy name", err["error"])
        err = self.probe("read", "aws", ACCOUNT, NAME, "no-slash", expect=1)
        self.assertIn("path \"no-slash\" is not an IAM path", err["error"])
        for bad in ("not json", "[1, 2]"):
            err = self.write_expect_failure(bad)
            self.assertIn("not a JSON policy document", err["error"])
            self.assertIsNone(self.policy())
        self.write(document(["alice"]))
        for bad in ("not json", "[1, 2]"):
            err = self.write_expect_failure(bad)
            self.assertIn("not a JSON policy document", err["error"])
        self.assertEqual(self.versions(), (["v1"], "v1"))
        self.assertEqual(self.calls("CreatePolicyVersion"), [])

if __name__ == "__main__":
    unittest.main()
