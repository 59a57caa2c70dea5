"""What the repository's documents say, checked against the repository and
the real binary:

- README's "What the deny policy is and whom it cuts off" shows the policy
  that `session-revoker revoke` writes, byte for byte once parsed, and names
  exactly the example roles that revoking `team_opsec` denies;
- every file that a document, script, test or header names is in the
  repository: no `../` path that leaves it, no `*.md` that it does not have.

Run with Debian's /usr/bin/python3 (botocore for the fake AWS).
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness

fake_aws = harness.fake_aws

ROOT = os.environ.get("SR_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SECTION = "## What the deny policy is and whom it cuts off"
POLICY = "session-revoker-deny"

def readme_section():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    start = text.find("\n" + SECTION + "\n")
    if start < 0:
        raise AssertionError("README.md has no section %r" % SECTION)
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def repository_files():
    """The repository's files (tracked, and new ones not ignored), relative."""
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, check=True,
                             timeout=60).stdout
        names = [n for n in out.decode("utf-8").split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = []
        for top, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d != ".git" and not d.startswith("build")
                       and d != "var" and d != "__pycache__"]
            names += [os.path.relpath(os.path.join(top, f), ROOT) for f in files]
    return sorted(n for n in names if os.path.isfile(os.path.join(ROOT, n)))


class ReadmeDenyPolicyTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-docs-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_readme_shows_the_policy_the_service_writes_on_the_roles_it_names(self):
        section = readme_section()
        blocks = re.findall(r"```json\n(.*?)```", section, re.S)
        self.assertTrue(blocks, "no JSON block in the README section")
        shown = json.loads(blocks[0])
        cutoffs = re.findall(r'"aws:TokenIssueTime": "([^"]+)"', blocks[0])
        self.assertEqual(len(cutoffs), 1, blocks[0])

        fake = fake_aws.FakeAws(harness.EXAMPLE_SEED).start()
        self.addCleanup(fake.stop)
        config = os.path.join(self.tmp, "config.json")
        harness.write_config(config, {
            "development": {"signing_key_file": os.path.join(self.tmp, "dev.pem")},
            "aws": {"accounts": [{"id": a, "role_name": harness.ADMIN_ROLE,
                                  "external_id": harness.EXTERNAL_ID}
                                 for a in harness.EXAMPLE_ACCOUNTS]},
            "revoke": {"providers": ["auth.example.com/"]}})
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("SR_") and not k.startswith("AWS_")}
        env.update({"AWS_ENDPOINT_URL": fake.url, "AWS_EC2_METADATA_DISABLED": "true",
                    "AWS_ACCESS_KEY_ID": harness.EXAMPLE_BASE_KEY,
                    "AWS_SECRET_ACCESS_KEY": harness.EXAMPLE_BASE_SECRET, "HOME": self.tmp})
        proc = subprocess.run([harness.binary_path(), "revoke", "--config", config,
                               "--groups", "team_opsec", "--time", cutoffs[0]],
                              env=env, cwd=self.tmp, capture_output=True, text=True,
                              timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, proc.stderr)

        denied, written = set(), []
        for account, acc in fake.state()["accounts"].items():
            for name, role in acc["roles"].items():
                if POLICY in role["inline_policies"]:
                    denied.add(name)
                    written.append(role["inline_policies"][POLICY])
        self.assertTrue(written, "revoke denied no role")
        for doc in written:
            self.assertEqual(doc, shown)

        example_roles = {r["RoleName"] for acc in harness.EXAMPLE_SEED["accounts"].values()
                         for r in acc["roles"]}
        named = {name for name in re.findall(r"`(?:\d{12}/)?([A-Za-z0-9+=,.@_-]+)`", section)
                 if name in example_roles}
        self.assertEqual(named, denied, "the example roles README names as cut off")


class RepositoryReferencesTest(unittest.TestCase):
    # This file names on purpose what it looks for.
    SELF = "tests/integration/test_docs.py"
    maxDiff = None
    MD_NAME = re.compile(r"(?<![\w*.-])((?:[\w.-]+/)*[\w-]+\.md)\b")
    UP_PATH = re.compile(r"(?<![\w.])((?:\.\./)+[\w.-][\w./-]*)")

    def test_every_file_named_is_in_the_repository(self):
        files = repository_files()
        self.assertIn("README.md", files)
        basenames = {os.path.basename(f) for f in files}
        problems = []
        for rel in files:
            if rel == self.SELF:
                continue
            path = os.path.join(ROOT, rel)
            if os.path.getsize(path) > 2_000_000:
                continue
            with open(path, "rb") as fh:
                raw = fh.read()
            if b"\0" in raw:
                continue
            text = raw.decode("utf-8", "replace")
            for m in self.MD_NAME.finditer(text):
                name = m.group(1)
                if os.path.basename(name) not in basenames:
                    problems.append(f"{rel}: names {name}, which the repository does not have")
            for m in self.UP_PATH.finditer(text):
                target = os.path.normpath(os.path.join(ROOT, os.path.dirname(rel), m.group(1)))
                if os.path.relpath(target, ROOT).startswith(".."):
                    problems.append(f"{rel}: names {m.group(1)}, outside the repository")
        self.assertEqual(problems, [])


if __name__ == "__main__":
    unittest.main()
