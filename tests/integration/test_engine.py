"""The revoke engine end to end: `session-revoker plan | revoke | cleanup`
against the fake AWS (tests/fakes/fake_aws.py), which checks every SigV4
signature with botocore.

Each test starts its own FakeAws in this process from a seed (the example
world of tests/fakes/example-seed.json, adjusted, or a small generated one),
runs the real binary against it with AWS_ENDPOINT_URL, and then checks what
a user would see: the CLI's report and exit status, and the fake's own state
(/_fake/state: the roles' inline policies) and call log (/_fake/calls: what
was called, with which key, in which account). A run whose stderr holds a
sanitizer report fails.

Run with Debian's /usr/bin/python3 (botocore for the fake).
"""

import copy
import datetime
import json
import math
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import harness
from harness import now, parse_rfc3339, rfc3339

HERE = os.path.dirname(os.path.abspath(__file__))
fake_aws = harness.fake_aws

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

EXAMPLE_SEED = harness.EXAMPLE_SEED

ACCOUNTS = harness.EXAMPLE_ACCOUNTS
SECURITY_ACCOUNT = "999999999999"
BASE_KEY = harness.EXAMPLE_BASE_KEY
BASE_SECRET = harness.EXAMPLE_BASE_SECRET
ADMIN_ROLE = harness.ADMIN_ROLE
EXTERNAL_ID = harness.EXTERNAL_ID
PROVIDER = "auth.example.com/"
AMR = PROVIDER + ":amr"
POLICY = "session-revoker-deny"
SID = "SessionRevokerDenyOldSessions"
DEFAULT_SKEW = 60
RUN_TIMEOUT = 90
WRITES = ("PutRolePolicy", "DeleteRolePolicy")
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
EXPECTED = EXAMPLE_SEED["_expected_matches"]

# Why each example role matches (operator, policy value), per group.
EXPECTED_REASONS = {
    "team_opsec": {
        "111111111111/OpsecBreakGlass": ("StringEquals", "team_opsec"),
        "111111111111/TeamWildcardReadOnly": ("ForAnyValue:StringLike", "team_*"),
        "222222222222/OpsecAuditor": ("ForAnyValue:StringEquals", "team_opsec"),
        "222222222222/TeamAnyIgnoreCase": ("ForAnyValue:StringEqualsIgnoreCase", "Team_OpSec"),
        "333333333333/OpsecDeploy": ("StringEqualsIgnoreCase", "TEAM_OPSEC"),
    },
    "team_hr": {
        "111111111111/TeamWildcardReadOnly": ("ForAnyValue:StringLike", "team_*"),
        "111111111111/HrPayrollAdmin": ("StringEquals", "team_hr"),
        "222222222222/HrReadOnly": ("StringLike", "team_hr"),
        "222222222222/TeamAnyIgnoreCase": ("ForAnyValue:StringEqualsIgnoreCase", "TEAM_HR"),
        "333333333333/HrOnlyQuestion": ("StringLike", "team_h?"),
    },
    "team_opsec_admins": {
        "111111111111/TeamWildcardReadOnly": ("ForAnyValue:StringLike", "team_*"),
        "111111111111/OpsecAdminsOnly": ("StringEquals", "team_opsec_admins"),
        "333333333333/OpsecAdmins": ("StringLike", "team_opsec_admins"),
    },
}


# --------------------------------------------------------------------------
# helpers

def example_seed():
    return copy.deepcopy(EXAMPLE_SEED)


def seed_role(seed, account, name):
    for role in seed["accounts"][account]["roles"]:
        if role["RoleName"] == name:
            return role
    raise KeyError(f"{account}/{name}")



def web_identity_trust(account, op, values, provider=PROVIDER, claim="amr",
                       action="sts:AssumeRoleWithWebIdentity", effect="Allow"):
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": effect,
        "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{provider}"},
        "Action": action,
        "Condition": {op: {f"{provider}:{claim}": values}}}]}


def admin_role(account=SECURITY_ACCOUNT):
    return copy.deepcopy(seed_role(EXAMPLE_SEED, "111111111111", ADMIN_ROLE))


def policies_of(state):
    """{"acct/Role": {policy name: parsed document}} for every role."""
    return {f"{acct}/{name}": role["inline_policies"]
            for acct, a in state["accounts"].items() for name, role in a["roles"].items()}


def snapshot(state):
    """What the engine may never change behind a user's back: per role the
    trust policy, the maximum session and the inline policies."""
    return {f"{acct}/{name}": (role["AssumeRolePolicyDocument"], role["MaxSessionDuration"],
                               role["inline_policies"])
            for acct, a in state["accounts"].items() for name, role in a["roles"].items()}


def statements(doc):
    st = doc.get("Statement")
    return st if isinstance(st, list) else [st]


def role_key(r):
    return f"{r['account']}/{r['role']}"


class Run:
    """One finished CLI run."""

    def __init__(self, args, proc):
        self.args = args
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.report = None
        if "--json" in args and self.stdout.strip():
            try:
                self.report = json.loads(self.stdout)
            except ValueError:
                self.report = None

    def describe(self):
        return ("session-revoker %s\nexit %s\n--- stdout\n%s\n--- stderr\n%s"
                % (" ".join(self.args), self.rc, self.stdout[-6000:], self.stderr[-6000:]))

    def roles(self):
        return {role_key(r): r for r in self.report["roles"]}

    def accounts(self):
        return {a["id"]: a for a in self.report["accounts"]}


class EngineCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-engine-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.bin = harness.binary_path()

    # -- the fake ------------------------------------------------------------

    def start_fake(self, seed):
        fake = fake_aws.FakeAws(seed).start()
        self.addCleanup(fake.stop)
        return fake

    def calls_since(self, fake, seq):
        return fake.calls(seq)

    @staticmethod
    def last_seq(fake):
        return fake.state()["calls_total"]

    # -- config and runs ------------------------------------------------------

    def write_config(self, accounts=None, aws=None, revoke=None, auth=None, name="config.json"):
        if accounts is None:
            accounts = [{"id": a, "role_name": ADMIN_ROLE, "external_id": EXTERNAL_ID}
                        for a in ACCOUNTS]
        cfg = {
            "development": {"signing_key_file": os.path.join(self.tmp, "dev.pem")},
            # late_write_seconds: how long a write that got no answer (here:
            # the fake's HTTP 500s and resets) is waited for before its role is
            # read again; short, so that the tests with faults stay quick.
            "aws": {"accounts": accounts, "concurrency_per_account": 8, "max_attempts": 8,
                    "max_retry_seconds": 60, "timeout_seconds": 10,
                    "late_write_seconds": 1},
            "revoke": {"providers": [PROVIDER], "group_claims": ["amr"],
                       "policy_name": POLICY, "max_session_seconds": 43200},
        }
        cfg["aws"].update(aws or {})
        cfg["revoke"].update(revoke or {})
        if auth:
            cfg["auth"] = auth
        path = os.path.join(self.tmp, name)
        harness.write_config(path, cfg)
        return path

    def run_cli(self, fake, cmd, groups, config, *, accounts=None, at=None, dry_run=False,
                as_json=True, secret=BASE_SECRET, key=BASE_KEY, token=None, expect=None,
                subjects=None, clock_offset=None):
        args = [cmd, "--config", config]
        if groups is not None:
            args += ["--groups", groups]
        if subjects is not None:
            args += ["--subjects", subjects]
        if accounts is not None:
            args += ["--accounts", accounts]
        if at is not None:
            args += ["--time", at]
        if dry_run:
            args.append("--dry-run")
        if as_json:
            args.append("--json")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("SR_") and not k.startswith("AWS_")}
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update({"AWS_ENDPOINT_URL": fake.url, "AWS_ACCESS_KEY_ID": key,
                    "AWS_SECRET_ACCESS_KEY": secret, "AWS_EC2_METADATA_DISABLED": "true",
                    "HOME": self.tmp})
        if token is not None:
            env["AWS_SESSION_TOKEN"] = token
        if clock_offset is not None:
            env["SR_DEVELOPMENT_CLOCK_OFFSET_SECONDS"] = str(clock_offset)
        proc = subprocess.run([self.bin] + args, env=env, cwd=self.tmp, capture_output=True,
                              timeout=RUN_TIMEOUT)
        raw_out, raw_err = proc.stdout, proc.stderr
        proc.stdout = raw_out.decode("utf-8", "backslashreplace")
        proc.stderr = raw_err.decode("utf-8", "backslashreplace")
        run = Run(args, proc)
        for name, raw in (("stdout", raw_out), ("stderr", raw_err)):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.fail(f"{name} is not UTF-8 ({exc})\n" + run.describe())
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, run.stderr, "sanitizer report\n" + run.describe())
        self.assertFalse(run.rc < 0 or run.rc > 2, "crashed or odd exit\n" + run.describe())
        if expect is not None:
            self.assertEqual(run.rc, expect, run.describe())
        if as_json and run.rc in (0, 1):
            self.assertIsNotNone(run.report, "no JSON report\n" + run.describe())
        return run

    # -- assertions -----------------------------------------------------------

    def assert_deny_policy(self, doc, cutoff_text, msg=""):
        # doc is session-revoker's policy with exactly one statement of ours,
        # cut-off cutoff_text (RFC 3339 Z).
        self.assertEqual(doc.get("Version"), "2012-10-17", msg)
        ours = [s for s in statements(doc) if s.get("Sid") == SID]
        self.assertEqual(len(ours), 1, f"{msg}: {doc}")
        self.assertEqual(ours[0], {
            "Sid": SID, "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff_text}}}, msg)

    def assert_revoked_exactly(self, before, after, matched, cutoff_text, run=None):
        # The roles in matched carry the deny policy with cutoff_text and kept
        # every other inline policy; every other role is exactly as before.
        info = run.describe() if run else ""
        pb, pa = policies_of(before), policies_of(after)
        self.assertEqual(set(pb), set(pa))
        for key in pa:
            if key in matched:
                self.assertIn(POLICY, pa[key], f"{key} has no deny policy\n{info}")
                self.assert_deny_policy(pa[key][POLICY], cutoff_text, key)
                self.assertEqual({n: d for n, d in pa[key].items() if n != POLICY},
                                 {n: d for n, d in pb[key].items() if n != POLICY},
                                 f"{key}: other inline policies changed")
            else:
                self.assertEqual(pa[key], pb[key], f"{key} is not matched but changed\n{info}")
        sb, sa = snapshot(before), snapshot(after)
        for key in sa:
            self.assertEqual(sa[key][:2], sb[key][:2], f"{key}: trust or max session changed")

    def assert_no_writes(self, calls, info=""):
        writes = [c for c in calls if c["action"] in WRITES]
        self.assertEqual(writes, [], info)

    def assert_call_counts(self, run, calls):
        # Each account's aws_calls is what the fake saw in that account
        # (every attempt, retries included). A request on a kept-alive connection
        # that the fake resets is sent again by libcurl itself, unseen by the
        # engine's count: each reset may make the fake see one call more.
        for acct, a in run.accounts().items():
            mine = [c for c in calls if c["account"] == acct]
            resets = sum(1 for c in mine if c["fault"] == "reset")
            self.assertLessEqual(a["aws_calls"], len(mine), f"{acct}\n{run.describe()}")
            self.assertGreaterEqual(a["aws_calls"], len(mine) - resets,
                                    f"{acct}\n{run.describe()}")

    def assert_report_shape(self, run):
        rep = run.report
        self.assertEqual(set(rep), {"mode", "accounts", "roles", "failed"}, run.describe())
        for a in rep["accounts"]:
            self.assertEqual(set(a), {"id", "error", "roles_seen", "matched", "aws_calls"})
        for r in rep["roles"]:
            self.assertEqual(set(r), {"account", "role", "arn", "outcome", "cutoff", "due",
                                      "request_id", "error", "reasons", "visited", "recheck",
                                      "unsettled_until"})
            self.assertIn(r["visited"], (None, "recorded", "discovered"))
            self.assertIn(r["recheck"], (None, "confirmed", "rewritten", "landed"))
            for t in (r["cutoff"], r["due"], r["unsettled_until"]):
                if t is not None:
                    self.assertRegex(t, RFC3339_Z)


# --------------------------------------------------------------------------
# 1. plan

class PlanTest(EngineCase):

    def test_plan_lists_matching_roles_with_reasons_and_writes_nothing(self):
        fake = self.start_fake(example_seed())
        config = self.write_config()
        before = fake.state()
        for group in ("team_opsec", "team_hr", "team_opsec_admins"):
            with self.subTest(group=group):
                seq = self.last_seq(fake)
                run = self.run_cli(fake, "plan", group, config, expect=0)
                self.assert_report_shape(run)
                rep = run.report
                self.assertEqual(rep["mode"], "plan")
                self.assertEqual(rep["failed"], 0)
                roles = run.roles()
                self.assertEqual(sorted(roles), sorted(EXPECTED[group]), run.describe())
                if group == "team_opsec":
                    self.assertFalse(set(roles) & set(EXPECTED["never_for_team_opsec"]))
                for key, r in roles.items():
                    self.assertEqual(r["outcome"], "match", key)
                    self.assertIsNone(r["cutoff"], key)
                    self.assertIsNone(r["error"], key)
                    self.assertIsNone(r["request_id"], key)
                    acct, name = key.split("/")
                    arn = before["accounts"][acct]["roles"][name]["Arn"]
                    self.assertEqual(r["arn"], arn)
                    op, value = EXPECTED_REASONS[group][key]
                    self.assertTrue(r["reasons"], key)
                    for why in r["reasons"]:
                        self.assertTrue(why["statement"], key)
                        self.assertEqual(why["key"], AMR, key)
                        self.assertEqual(why["group"], group, key)
                    self.assertIn((op, AMR, value, group),
                                  [(w["operator"], w["key"], w["value"], w["group"])
                                   for w in r["reasons"]], key)
                accts = run.accounts()
                self.assertEqual(sorted(accts), ACCOUNTS)
                for acct, a in accts.items():
                    self.assertIsNone(a["error"], acct)
                    self.assertEqual(a["roles_seen"],
                                     len(EXAMPLE_SEED["accounts"][acct]["roles"]), acct)
                    self.assertEqual(a["matched"],
                                     sum(1 for k in EXPECTED[group] if k.startswith(acct)))
                    self.assertGreater(a["aws_calls"], 0)

                calls = self.calls_since(fake, seq)
                self.assert_no_writes(calls, run.describe())
                self.assert_call_counts(run, calls)
                self.assertTrue(all(c["status"] == 200 for c in calls), calls)
                self.assertTrue(all(c["signature_ok"] for c in calls), calls)
                state = fake.state()
                sessions = {s["access_key_id"]: s for s in state["sessions"]}
                for acct in ACCOUNTS:
                    assumes = [c for c in calls
                               if c["action"] == "AssumeRole" and c["account"] == acct]
                    self.assertEqual(len(assumes), 1, f"{acct}: {assumes}")
                    self.assertEqual(assumes[0]["access_key_id"], BASE_KEY)
                    self.assertEqual(assumes[0]["role"], ADMIN_ROLE)
                    iam = [c for c in calls if c["service"] == "iam" and c["account"] == acct]
                    self.assertTrue(any(c["action"] == "ListRoles" for c in iam), acct)
                    for c in iam:
                        akid = c["access_key_id"]
                        self.assertTrue(akid.startswith("ASIA"), c)
                        self.assertEqual(sessions[akid]["account"], acct, c)
                        self.assertEqual(sessions[akid]["role_name"], ADMIN_ROLE, c)
                        self.assertEqual(sessions[akid]["via"], "AssumeRole", c)
                self.assertFalse([c for c in calls if c["service"] == "iam"
                                  and c["access_key_id"] == BASE_KEY])
                self.assertEqual(snapshot(state), snapshot(before), "plan changed the world")

    def test_plan_several_groups_and_text_output(self):
        fake = self.start_fake(example_seed())
        config = self.write_config()
        run = self.run_cli(fake, "plan", "team_opsec,team_hr", config, expect=0)
        want = set(EXPECTED["team_opsec"]) | set(EXPECTED["team_hr"])
        self.assertEqual(set(run.roles()), want, run.describe())
        # TeamAnyIgnoreCase lets both groups in: both reasons are given.
        groups = {w["group"] for w in run.roles()["222222222222/TeamAnyIgnoreCase"]["reasons"]}
        self.assertEqual(groups, {"team_opsec", "team_hr"}, run.describe())

        text = self.run_cli(fake, "plan", "team_opsec", config, as_json=False, expect=0)
        for key in EXPECTED["team_opsec"]:
            acct, name = key.split("/")
            self.assertRegex(text.stdout, re.compile(
                r"^%s\s+%s\s+match\b" % (acct, re.escape(name)), re.M), text.describe())
        for key in EXPECTED["never_for_team_opsec"]:
            self.assertNotRegex(text.stdout, r"\b%s\b" % re.escape(key.split("/")[1]))
        self.assert_no_writes(fake.calls())


# --------------------------------------------------------------------------
# 2. revoke

class RevokeTest(EngineCase):

    def seed(self):
        seed = example_seed()
        seed_role(seed, "333333333333", "OpsecDeploy")["inline_policies"] = {
            "DeployExtra": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}}
        # A non-matching role with an old revocation of another group: untouched.
        seed_role(seed, "222222222222", "HrReadOnly")["inline_policies"][POLICY] = {
            "Version": "2012-10-17", "Statement": [{
                "Sid": SID, "Effect": "Deny", "Action": "*", "Resource": "*",
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-01-02T03:04:05Z"}}}]}
        return seed

    def test_hold_seconds_moves_the_groups_cutoff(self):
        # revoke.hold_seconds: the group is denied until the event + the hold
        # (ID tokens issued before the event cannot mint sessions that pass)
        fake = self.start_fake(example_seed())
        config = self.write_config(revoke={"hold_seconds": 600})
        t = now() - 300
        run = self.run_cli(fake, "revoke", "team_opsec", config, at=rfc3339(t), expect=0)
        self.assertEqual({k: (r["outcome"], r["cutoff"]) for k, r in run.roles().items()},
                         {k: ("denied", rfc3339(t + 600)) for k in EXPECTED["team_opsec"]})

    def test_revoke_idempotent_and_raises_cutoff_only(self):
        fake = self.start_fake(self.seed())
        config = self.write_config()
        matched = set(EXPECTED["team_opsec"])
        base = now()
        t1, t2, t0 = base - 7200, base - 3600, base - 3 * 3600
        before = fake.state()

        # First run: exactly the matching roles get the deny policy.
        seq = self.last_seq(fake)
        run = self.run_cli(fake, "revoke", "team_opsec", config, at=rfc3339(t1), expect=0)
        self.assert_report_shape(run)
        self.assertEqual(run.report["mode"], "revoke")
        self.assertEqual(run.report["failed"], 0)
        self.assertEqual(set(run.roles()), matched, run.describe())
        for key, r in run.roles().items():
            self.assertEqual(r["outcome"], "denied", key)
            self.assertEqual(r["cutoff"], rfc3339(t1), key)
            self.assertTrue(r["request_id"], key)
            self.assertIsNone(r["error"], key)
        after1 = fake.state()
        self.assert_revoked_exactly(before, after1, matched, rfc3339(t1), run)
        calls = self.calls_since(fake, seq)
        puts = [c for c in calls if c["action"] == "PutRolePolicy"]
        self.assertEqual(sorted(f"{c['account']}/{c['role']}" for c in puts), sorted(matched))
        self.assertTrue(all(c["policy"] == POLICY and c["status"] == 200 for c in puts), puts)
        self.assertFalse([c for c in calls if c["action"] == "DeleteRolePolicy"])
        self.assert_call_counts(run, calls)

        # Same time again: nothing changes, nothing is written.
        seq = self.last_seq(fake)
        run = self.run_cli(fake, "revoke", "team_opsec", config, at=rfc3339(t1), expect=0)
        for key, r in run.roles().items():
            self.assertEqual(r["outcome"], "unchanged", key)
            self.assertEqual(r["cutoff"], rfc3339(t1), key)
        self.assertEqual(set(run.roles()), matched)
        self.assert_no_writes(self.calls_since(fake, seq), run.describe())
        self.assertEqual(snapshot(fake.state()), snapshot(after1))

        # A later time (spelled with a zone offset) raises the cut-off.
        later = datetime.datetime.fromtimestamp(t2, datetime.timezone(
            datetime.timedelta(hours=2))).strftime("%Y-%m-%dT%H:%M:%S+02:00")
        seq = self.last_seq(fake)
        run = self.run_cli(fake, "revoke", "team_opsec", config, at=later, expect=0)
        for key, r in run.roles().items():
            self.assertEqual(r["outcome"], "denied", key)
            self.assertEqual(r["cutoff"], rfc3339(t2), key)
        after2 = fake.state()
        self.assert_revoked_exactly(before, after2, matched, rfc3339(t2), run)
        puts = [c for c in self.calls_since(fake, seq) if c["action"] == "PutRolePolicy"]
        self.assertEqual(len(puts), len(matched))

        # An earlier time leaves the later cut-off in place.
        seq = self.last_seq(fake)
        run = self.run_cli(fake, "revoke", "team_opsec", config, at=rfc3339(t0), expect=0)
        for key, r in run.roles().items():
            self.assertEqual(r["outcome"], "unchanged", key)
            self.assertEqual(r["cutoff"], rfc3339(t2), key)
        self.assert_no_writes(self.calls_since(fake, seq), run.describe())
        self.assertEqual(snapshot(fake.state()), snapshot(after2))

    def test_revoke_keeps_foreign_statements_in_the_deny_policy(self):
        seed = example_seed()
        foreign = {"Sid": "TargetedUserAlice", "Effect": "Deny", "Action": "*", "Resource": "*",
                   "Condition": {"StringEquals": {"aws:SourceIdentity": "alice"}}}
        seed_role(seed, "222222222222", "OpsecAuditor")["inline_policies"] = {
            POLICY: {"Version": "2012-10-17", "Statement": [foreign]}}
        # A role name with every punctuation IAM allows (form-encoded on the
        # wire), whose policy holds non-ASCII text.
        odd = "Ops+Sec=Team,a.b@c-d_e"
        foreign2 = {"Sid": "Other", "Effect": "Deny", "Action": "*", "Resource": "*",
                    "Condition": {"StringEquals": {
                        "aws:PrincipalTag/\u00e9quipe": "s\u00e9curit\u00e9 100% & <ok> +"}}}
        seed["accounts"]["111111111111"]["roles"].append({
            "RoleName": odd, "Path": "/odd/", "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": web_identity_trust("111111111111", "StringEquals",
                                                           "team_opsec"),
            "inline_policies": {POLICY: {"Version": "2012-10-17", "Statement": foreign2}}})
        fake = self.start_fake(seed)
        t = now() - 600
        run = self.run_cli(fake, "revoke", "team_opsec", self.write_config(), at=rfc3339(t),
                           expect=0)
        for acct, name, other in (("222222222222", "OpsecAuditor", foreign),
                                  ("111111111111", odd, foreign2)):
            self.assertEqual(run.roles()[f"{acct}/{name}"]["outcome"], "denied", run.describe())
            doc = fake.state()["accounts"][acct]["roles"][name]["inline_policies"][POLICY]
            self.assert_deny_policy(doc, rfc3339(t), name)
            self.assertIn(other, statements(doc), doc)
            self.assertEqual(len(statements(doc)), 2, doc)

    def test_cleanup_keeps_foreign_statements_in_the_deny_policy(self):
        # policy.c: the deny policy is a document of
        # statements the engine merges; statements that are not session-revoker's
        # (a user-targeted aws:SourceIdentity deny) are kept. Cleanup removes our
        # statement, not someone else's.
        seed = example_seed()
        foreign = {"Sid": "TargetedUserAlice", "Effect": "Deny", "Action": "*", "Resource": "*",
                   "Condition": {"StringEquals": {"aws:SourceIdentity": "alice"}}}
        seed_role(seed, "222222222222", "OpsecAuditor")["inline_policies"] = {
            POLICY: {"Version": "2012-10-17", "Statement": [foreign]}}
        fake = self.start_fake(seed)
        config = self.write_config()
        self.run_cli(fake, "revoke", "team_opsec", config, accounts="222222222222",
                     at="3 days ago", expect=0)
        # A dry run says the policy would be trimmed, not deleted, and writes nothing.
        seq = self.last_seq(fake)
        dry = self.run_cli(fake, "cleanup", "team_opsec", config, accounts="222222222222",
                           dry_run=True, expect=0)
        self.assertEqual(dry.roles()["222222222222/OpsecAuditor"]["outcome"], "would-trim",
                         dry.describe())
        self.assertEqual(dry.roles()["222222222222/TeamAnyIgnoreCase"]["outcome"],
                         "would-delete", dry.describe())
        self.assert_no_writes(self.calls_since(fake, seq), dry.describe())
        text = self.run_cli(fake, "cleanup", "team_opsec", config, accounts="222222222222",
                            dry_run=True, as_json=False, expect=0)
        self.assertRegex(text.stdout, r"(?m)^222222222222\s+OpsecAuditor\s+would-trim\b",
                         text.describe())
        run = self.run_cli(fake, "cleanup", "team_opsec", config, accounts="222222222222",
                           expect=0)
        self.assertEqual(run.roles()["222222222222/TeamAnyIgnoreCase"]["outcome"], "deleted")
        policies = fake.state()["accounts"]["222222222222"]["roles"]["OpsecAuditor"][
            "inline_policies"]
        self.assertIn(POLICY, policies,
                      "cleanup deleted the whole deny policy, foreign statement included\n"
                      + run.describe())
        self.assertEqual(statements(policies[POLICY]), [foreign], policies)
        # The policy was rewritten without our statement: trimmed, not deleted,
        # in the report and in the log.
        self.assertEqual(run.roles()["222222222222/OpsecAuditor"]["outcome"], "trimmed",
                         run.describe())
        self.assertRegex(run.stderr, r"engine\.role account=222222222222 role=OpsecAuditor "
                         r"outcome=trimmed ", run.describe())
        self.assertRegex(run.stderr, r"engine\.role account=222222222222 "
                         r"role=TeamAnyIgnoreCase outcome=deleted ", run.describe())
        # Nothing of ours left: a second cleanup finds nothing and writes nothing.
        seq = self.last_seq(fake)
        run = self.run_cli(fake, "cleanup", "team_opsec", config, accounts="222222222222",
                           expect=0)
        self.assertEqual(run.roles()["222222222222/OpsecAuditor"]["outcome"], "absent",
                         run.describe())
        self.assert_no_writes(self.calls_since(fake, seq), run.describe())

    def test_revoked_sessions_are_refused_and_new_ones_work(self):
        # What the deny policy is for: at the fake AWS, a session of a matched
        # role issued before the cut-off is refused, a fresh one is not.
        fake = self.start_fake(example_seed())
        role_arn = "arn:aws:iam::111111111111:role/OpsecBreakGlass"
        fake.set_clock(offset_seconds=-3 * 3600)
        old = self.web_identity_session(fake, role_arn)
        fake.set_clock(offset_seconds=0)
        self.assertEqual(self.get_role(fake, old, "OpsecBreakGlass")[0], 200)

        self.run_cli(fake, "revoke", "team_opsec", self.write_config(), at="1 hour ago",
                     expect=0)
        status, body = self.get_role(fake, old, "OpsecBreakGlass")
        self.assertEqual(status, 403, body)
        self.assertIn("AccessDenied", body)
        self.assertIn("explicit deny", body)
        fresh = self.web_identity_session(fake, role_arn)
        self.assertEqual(self.get_role(fake, fresh, "OpsecBreakGlass")[0], 200)

    # a user of the matched role, through the fake's STS and IAM

    @staticmethod
    def web_identity_session(fake, role_arn):
        def seg(obj):
            return harness.b64url(json.dumps(obj))
        token = ".".join([seg({"alg": "none"}), seg({
            "iss": "https://auth.example.com/", "sub": "alice", "aud": "revoker-demo",
            "amr": ["team_opsec"]}), "c2ln"])
        body = urllib.parse.urlencode({
            "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
            "RoleArn": role_arn, "RoleSessionName": "alice", "DurationSeconds": "43200",
            "WebIdentityToken": token})
        with urllib.request.urlopen(fake.url + "/", body.encode(), timeout=10) as resp:
            text = resp.read().decode()

        def field(name):
            return re.search(r"<%s>([^<]*)</%s>" % (name, name), text).group(1)
        return Credentials(field("AccessKeyId"), field("SecretAccessKey"),
                           field("SessionToken"))

    @staticmethod
    def get_role(fake, creds, name):
        body = urllib.parse.urlencode({"Action": "GetRole", "Version": "2010-05-08",
                                       "RoleName": name})
        req = AWSRequest(method="POST", url=fake.url + "/", data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(creds, "iam", "us-east-1").add_auth(req)
        prepared = req.prepare()
        http_req = urllib.request.Request(prepared.url, data=body.encode(),
                                          headers=dict(prepared.headers), method="POST")
        try:
            with urllib.request.urlopen(http_req, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()


# --------------------------------------------------------------------------
# 3. dry run and --accounts

class ScopeTest(EngineCase):

    def test_dry_run_writes_nothing(self):
        fake = self.start_fake(example_seed())
        config = self.write_config()
        before = fake.state()
        t = now() - 1800
        seq = self.last_seq(fake)
        run = self.run_cli(fake, "revoke", "team_opsec", config, at=rfc3339(t), dry_run=True,
                           expect=0)
        self.assertEqual(set(run.roles()), set(EXPECTED["team_opsec"]), run.describe())
        for key, r in run.roles().items():
            self.assertEqual(r["outcome"], "would-deny", key)
            self.assertEqual(r["cutoff"], rfc3339(t), key)
            self.assertIsNone(r["request_id"], key)
        self.assert_no_writes(self.calls_since(fake, seq), run.describe())
        self.assertEqual(snapshot(fake.state()), snapshot(before))

        # Revoked long ago for real; a dry-run cleanup deletes nothing.
        self.run_cli(fake, "revoke", "team_opsec", config, at="3 days ago", expect=0)
        revoked = fake.state()
        seq = self.last_seq(fake)
        run = self.run_cli(fake, "cleanup", "team_opsec", config, dry_run=True, expect=0)
        for key, r in run.roles().items():
            self.assertEqual(r["outcome"], "would-delete", key)
            self.assertIsNotNone(r["due"], key)
            self.assertLessEqual(parse_rfc3339(r["due"]), now(), key)
        self.assert_no_writes(self.calls_since(fake, seq), run.describe())
        self.assertEqual(snapshot(fake.state()), snapshot(revoked))

    def test_accounts_option_limits_the_run(self):
        fake = self.start_fake(example_seed())
        config = self.write_config()
        before = fake.state()
        t = now() - 1800
        seq = self.last_seq(fake)
        run = self.run_cli(fake, "revoke", "team_opsec", config, accounts="222222222222",
                           at=rfc3339(t), expect=0)
        self.assertEqual(list(run.accounts()), ["222222222222"], run.describe())
        want = {k for k in EXPECTED["team_opsec"] if k.startswith("222222222222/")}
        self.assertEqual(set(run.roles()), want)
        self.assertTrue(all(r["outcome"] == "denied" for r in run.roles().values()))
        calls = self.calls_since(fake, seq)
        self.assertTrue(calls)
        self.assertEqual({c["account"] for c in calls}, {"222222222222"}, calls)
        self.assert_revoked_exactly(before, fake.state(), want, rfc3339(t), run)

    def test_bad_arguments(self):
        fake = self.start_fake(example_seed())
        config = self.write_config()
        cases = [
            (("revoke", None, {}), "--groups or --subjects is required"),
            (("plan", "team_opsec", {"at": "now"}), "--time is for revoke"),
            (("revoke", "team_opsec", {"at": "the day after tomorrow"}), "the day after"),
            (("revoke", "team_opsec", {"at": rfc3339(now() + 86400)}), "in the future"),
        ]
        for (cmd, groups, kw), message in cases:
            with self.subTest(cmd=cmd, kw=kw):
                run = self.run_cli(fake, cmd, groups, config, expect=2, **kw)
                self.assertIn(message, run.stderr, run.describe())
                self.assertEqual(run.stdout.strip(), "", run.describe())
        self.assertEqual(fake.calls(), [])

    def test_unknown_account_is_refused(self):
        fake = self.start_fake(example_seed())
        config = self.write_config()
        for cmd in ("plan", "revoke", "cleanup"):
            with self.subTest(cmd=cmd):
                run = self.run_cli(fake, cmd, "team_opsec", config,
                                   accounts="222222222222,444444444444", expect=2)
                self.assertIn("444444444444", run.stderr, run.describe())
                self.assertIn("not configured", run.stderr, run.describe())
                self.assertEqual(run.stdout.strip(), "", run.describe())
        self.assertEqual(fake.calls(), [], "AWS was called for a refused request")


# --------------------------------------------------------------------------
# 4. cleanup

class CleanupTest(EngineCase):

    def test_cleanup_before_due_keeps_the_policy(self):
        fake = self.start_fake(example_seed())
        config = self.write_config()
        before = fake.state()
        start = now()
        run = self.run_cli(fake, "revoke", "team_opsec", config, at="now", expect=0)
        cutoff = run.roles()["111111111111/OpsecBreakGlass"]["cutoff"]
        self.assertLessEqual(abs(parse_rfc3339(cutoff) - start), 5, run.describe())
        revoked = fake.state()
        self.assert_revoked_exactly(before, revoked, set(EXPECTED["team_opsec"]), cutoff, run)

        seq = self.last_seq(fake)
        run = self.run_cli(fake, "cleanup", "team_opsec", config, expect=0)
        self.assertEqual(run.report["mode"], "cleanup")
        self.assertEqual(set(run.roles()), set(EXPECTED["team_opsec"]))
        for key, r in run.roles().items():
            self.assertEqual(r["outcome"], "not-due", key)
            self.assertEqual(r["cutoff"], cutoff, key)
            self.assertEqual(r["due"], rfc3339(parse_rfc3339(cutoff) + 43200 + DEFAULT_SKEW),
                             key)
        self.assert_no_writes(self.calls_since(fake, seq), run.describe())
        self.assertEqual(snapshot(fake.state()), snapshot(revoked))

    def test_cleanup_after_due_deletes_only_the_deny_policy_once(self):
        fake = self.start_fake(example_seed())
        config = self.write_config()
        before = fake.state()
        run = self.run_cli(fake, "revoke", "team_opsec", config, at="3 days ago", expect=0)
        cutoff = run.roles()["111111111111/OpsecBreakGlass"]["cutoff"]
        self.assertLessEqual(abs(parse_rfc3339(cutoff) - (now() - 3 * 86400)), 10)
        self.assert_revoked_exactly(before, fake.state(), set(EXPECTED["team_opsec"]), cutoff)

        seq = self.last_seq(fake)
        run = self.run_cli(fake, "cleanup", "team_opsec", config, expect=0)
        for key, r in run.roles().items():
            self.assertEqual(r["outcome"], "deleted", key)
            self.assertEqual(r["due"], rfc3339(parse_rfc3339(cutoff) + 43200 + DEFAULT_SKEW),
                             key)
            self.assertTrue(r["request_id"], key)
        after = fake.state()
        # Back to the seed: the deny policy is gone, OpsecS3Read & co. are kept.
        self.assertEqual(policies_of(after), policies_of(before))
        self.assertEqual(after["accounts"]["111111111111"]["roles"]["OpsecBreakGlass"][
            "inline_policies"], policies_of(before)["111111111111/OpsecBreakGlass"])
        deletes = [c for c in self.calls_since(fake, seq) if c["action"] == "DeleteRolePolicy"]
        self.assertEqual(sorted(f"{c['account']}/{c['role']}" for c in deletes),
                         sorted(EXPECTED["team_opsec"]))
        self.assertTrue(all(c["policy"] == POLICY and c["status"] == 200 for c in deletes))

        seq = self.last_seq(fake)
        run = self.run_cli(fake, "cleanup", "team_opsec", config, expect=0)
        self.assertEqual(set(run.roles()), set(EXPECTED["team_opsec"]))
        for key, r in run.roles().items():
            self.assertEqual(r["outcome"], "absent", key)
        self.assert_no_writes(self.calls_since(fake, seq), run.describe())
        self.assertEqual(policies_of(fake.state()), policies_of(before))

    def test_role_maximum_session_longer_than_configured(self):
        seed = example_seed()
        # OpsecBreakGlass allows 12 h sessions; OpsecDeploy 6 h; the others 1 h.
        seed_role(seed, "333333333333", "OpsecDeploy")["MaxSessionDuration"] = 21600
        fake = self.start_fake(seed)
        skew = 120
        config = self.write_config(revoke={"max_session_seconds": 3600},
                                   auth={"clock_skew_seconds": skew})
        t = now() - 5 * 3600
        self.run_cli(fake, "revoke", "team_opsec", config, at=rfc3339(t), expect=0)
        seq = self.last_seq(fake)
        run = self.run_cli(fake, "cleanup", "team_opsec", config, expect=0)
        roles = run.roles()
        want_due = {
            "111111111111/OpsecBreakGlass": t + 43200 + skew,
            "333333333333/OpsecDeploy": t + 21600 + skew,
            "111111111111/TeamWildcardReadOnly": t + 3600 + skew,
            "222222222222/OpsecAuditor": t + 3600 + skew,
            "222222222222/TeamAnyIgnoreCase": t + 3600 + skew,
        }
        for key, due in want_due.items():
            self.assertEqual(roles[key]["due"], rfc3339(due), f"{key}\n{run.describe()}")
            self.assertEqual(roles[key]["outcome"], "not-due" if due > now() else "deleted",
                             key)
        state = policies_of(fake.state())
        for key, due in want_due.items():
            self.assertEqual(POLICY in state[key], due > now(), key)
        deletes = [f"{c['account']}/{c['role']}" for c in self.calls_since(fake, seq)
                   if c["action"] == "DeleteRolePolicy"]
        self.assertEqual(sorted(deletes), sorted(k for k, d in want_due.items() if d <= now()))


# --------------------------------------------------------------------------
# 5. pagination

    @harness.sqlite_only("cleanup with no store: no file at store.path (a"
                         " postgres:// store.url always names one)")
    def test_cleanup_finds_a_denied_role_whose_trust_changed_since(self):
        # The owner of a denied role edits its trust policy after the
        # revocation: it no longer lets team_opsec in, but it still carries
        # the deny policy. Without a store, cleanup finds it by the names of
        # the inline policies of the roles that trust a configured provider.
        fake = self.start_fake(example_seed())
        config = self.write_config()
        before = fake.state()
        run = self.run_cli(fake, "revoke", "team_opsec", config, at="3 days ago", expect=0)
        key = "111111111111/OpsecBreakGlass"
        acct, name = key.split("/")
        trust = json.loads(json.dumps(
            before["accounts"][acct]["roles"][name]["AssumeRolePolicyDocument"]))
        trust = json.loads(json.dumps(trust).replace("team_opsec", "team_other"))
        fake.set_trust_policy(acct, name, trust)
        seq = self.last_seq(fake)
        run = self.run_cli(fake, "cleanup", "team_opsec", config, expect=0)
        roles = run.roles()
        self.assertEqual(set(roles), set(EXPECTED["team_opsec"]), run.describe())
        self.assertEqual((roles[key]["outcome"], roles[key]["visited"]),
                         ("deleted", "discovered"), run.describe())
        for other, r in roles.items():
            if other != key:
                self.assertEqual((r["outcome"], r["visited"]), ("deleted", None), other)
        self.assertEqual(policies_of(fake.state()), policies_of(before))
        # One ListRolePolicies per role that trusts the provider and does not match.
        lists = [c for c in self.calls_since(fake, seq) if c["action"] == "ListRolePolicies"]
        self.assertIn(key, {f"{c['account']}/{c['role']}" for c in lists})
        self.assertFalse(set(EXPECTED["team_opsec"]) - {key}
                         & {f"{c['account']}/{c['role']}" for c in lists})


def paged_seed(n_roles=250, n_match=20, account="111111111111"):
    """One account: SessionRevokerAdmin plus n_roles - 1 generated roles of
    which n_match let team_opsec in (in several spellings); the others are
    near misses. Returns (seed, matching role names)."""
    rng = random.Random(250)
    names = []
    for i in range(n_roles - 1):
        stem = rng.choice(["app", "Batch", "data", "ETL", "svc", "Web", "zeta"])
        names.append(f"{stem}-{i:03d}")
    matching = set(rng.sample(names, n_match))
    spellings = [("StringEquals", "team_opsec"), ("StringLike", "team_op*"),
                 ("ForAnyValue:StringEquals", ["x", "team_opsec"]),
                 ("StringEqualsIgnoreCase", "TEAM_OPSEC"), ("ForAnyValue:StringLike", "team_?psec")]
    misses = [
        lambda n: web_identity_trust(account, "StringEquals", "team_ops"),
        lambda n: web_identity_trust(account, "StringEquals", "team_opsec",
                                     provider="login.other.example/"),
        lambda n: web_identity_trust(account, "StringEquals", "team_opsec",
                                     action="sts:AssumeRole"),
        lambda n: web_identity_trust(account, "StringEquals", "team_opsec_admins"),
        lambda n: {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"}]},
    ]
    roles = [admin_role()]
    for i, name in enumerate(names):
        if name in matching:
            op, value = spellings[i % len(spellings)]
            trust = web_identity_trust(account, op, value)
        else:
            trust = misses[i % len(misses)](name)
        roles.append({"RoleName": name, "Path": "/gen/" if i % 3 else "/",
                      "AssumeRolePolicyDocument": trust, "MaxSessionDuration": 3600})
    seed = {"random_seed": 5, "base_credentials": copy.deepcopy(EXAMPLE_SEED["base_credentials"]),
            "accounts": {account: {"roles": roles}}}
    return seed, matching


class CredentialRefreshTest(EngineCase):

    def revoke_while_sessions_expire(self, fake, config, t, once):
        """`revoke --time t`; once the fake has logged a call for which once(call)
        is true, its clock moves two hours on: every session it issued so far
        has expired."""
        stop = threading.Event()

        def expire_sessions():
            while not stop.is_set():
                if any(once(c) for c in fake.calls()):
                    fake.set_clock(advance_seconds=7200)
                    return
                time.sleep(0.01)

        mover = threading.Thread(target=expire_sessions)
        mover.start()
        try:
            return self.run_cli(fake, "revoke", "team_opsec", config, at=rfc3339(t))
        finally:
            stop.set()
            mover.join()

    def test_revoke_renews_credentials_that_expire_during_the_run(self):
        # The fake's clock moves two hours on once the first PutRolePolicy
        # has landed: every session it issued has expired and AWS answers
        # ExpiredToken. The CLI, like serve, assumes the roles again and
        # finishes every role.
        seed = example_seed()
        seed["faults"] = [{"action": "PutRolePolicy", "kind": "latency", "ms": 150}]
        fake = self.start_fake(seed)
        config = self.write_config(aws={"concurrency_per_account": 1})
        before = fake.state()
        t = now() - 600
        run = self.revoke_while_sessions_expire(
            fake, config, t, lambda c: c["action"] == "PutRolePolicy")
        expired = [c for c in fake.calls() if c.get("error_code") == "ExpiredToken"]
        self.assertTrue(expired, "the fake never refused an expired session")
        self.assertEqual(run.rc, 0, run.describe())
        self.assertEqual(run.report["failed"], 0, run.describe())
        for key, r in run.roles().items():
            self.assertEqual((r["outcome"], r["cutoff"]), ("denied", rfc3339(t)), key)
        self.assert_revoked_exactly(before, fake.state(), set(EXPECTED["team_opsec"]),
                                    rfc3339(t), run)

    def test_credentials_that_expire_while_a_late_write_is_waited_for_are_renewed(self):
        # One PutRolePolicy is carried out 2.5 s after it arrives (the
        # client gave up after 1 s and retried): the CLI waits 4 s
        # (aws.late_write_seconds) and reads that role again. Meanwhile,
        # once that write has landed, the fake's clock moves two hours on, so
        # the sessions the run began with have expired: the read again must
        # renew them, not fail the role whose deny is in place.
        seed = example_seed()
        seed["faults"] = [{"action": "PutRolePolicy", "account": "333333333333",
                           "kind": "latency", "ms": 2500, "count": 1}]
        fake = self.start_fake(seed)
        config = self.write_config(aws={"timeout_seconds": 1, "max_attempts": 3,
                                        "late_write_seconds": 4})
        before = fake.state()
        t = now() - 600
        run = self.revoke_while_sessions_expire(fake, config, t,
                                                lambda c: c["fault"] == "latency")
        self.assertTrue([c for c in fake.calls() if c.get("error_code") == "ExpiredToken"],
                        "the fake never refused an expired session")
        self.assertEqual(run.rc, 0, run.describe())
        self.assertEqual(run.report["failed"], 0, run.describe())
        roles = run.roles()
        for key, r in roles.items():
            self.assertEqual((r["outcome"], r["cutoff"]), ("denied", rfc3339(t)), key)
        self.assertEqual(roles["333333333333/OpsecDeploy"]["recheck"], "confirmed",
                         run.describe())
        self.assert_revoked_exactly(before, fake.state(), set(EXPECTED["team_opsec"]),
                                    rfc3339(t), run)

    @harness.sqlite_only("cleanup with no store: no file at store.path (a"
                         " postgres:// store.url always names one)")
    def test_cleanup_renews_credentials_refused_while_it_searches_for_its_deny(self):
        # Without a store, cleanup reads the inline policy names of every
        # federated role (one call each): AWS refusing the credentials on one
        # of those calls (ExpiredToken) gets them renewed, not the account
        # failed.
        fake = self.start_fake(example_seed())
        config = self.write_config()
        before = fake.state()
        self.run_cli(fake, "revoke", "team_opsec", config, at="3 days ago", expect=0)
        fake.set_faults([{"action": "ListRolePolicies", "account": "111111111111",
                          "kind": "expired", "count": 1}])
        run = self.run_cli(fake, "cleanup", "team_opsec", config)
        self.assertTrue([c for c in fake.calls() if c.get("error_code") == "ExpiredToken"],
                        "the fake never refused the credentials")
        self.assertEqual(run.rc, 0, run.describe())
        self.assertEqual(run.accounts()["111111111111"]["error"], None, run.describe())
        roles = run.roles()
        self.assertEqual(set(roles), set(EXPECTED["team_opsec"]), run.describe())
        for key, r in roles.items():
            self.assertEqual(r["outcome"], "deleted", key)
        self.assertEqual(policies_of(fake.state()), policies_of(before))


class PaginationTest(EngineCase):

    def test_every_page_of_roles_is_worked_through(self):
        seed, matching = paged_seed()
        fake = self.start_fake(seed)
        fake.config({"max_page_size": 7})
        config = self.write_config(accounts=[{"id": "111111111111", "role_name": ADMIN_ROLE,
                                              "external_id": EXTERNAL_ID}])
        before = fake.state()
        t = now() - 900
        run = self.run_cli(fake, "revoke", "team_opsec", config, at=rfc3339(t), expect=0)
        acct = run.accounts()["111111111111"]
        self.assertEqual(acct["roles_seen"], 250, run.describe())
        self.assertEqual(acct["matched"], 20, run.describe())
        want = {f"111111111111/{n}" for n in matching}
        self.assertEqual(set(run.roles()), want)
        self.assertTrue(all(r["outcome"] == "denied" for r in run.roles().values()),
                        run.describe())
        self.assert_revoked_exactly(before, fake.state(), want, rfc3339(t), run)
        calls = fake.calls()
        lists = [c for c in calls if c["action"] == "ListRoles"]
        self.assertEqual(len(lists), math.ceil(250 / 7), lists[-3:])
        self.assertTrue(all(c["status"] == 200 for c in lists))
        puts = [c for c in calls if c["action"] == "PutRolePolicy"]
        self.assertEqual(sorted(c["role"] for c in puts), sorted(matching))
        self.assert_call_counts(run, calls)

    def test_pages_survive_retries(self):
        # Throttled, failed and reset ListRoles pages are asked for again with
        # the same Marker: no role is skipped or seen twice.
        seed, matching = paged_seed()
        seed["faults"] = [
            {"action": "ListRoles", "kind": "throttle", "probability": 0.15},
            {"action": "ListRoles", "kind": "reset", "probability": 0.1},
            {"action": "ListRoles", "kind": "error503", "probability": 0.1},
        ]
        fake = self.start_fake(seed)
        fake.config({"max_page_size": 7})
        config = self.write_config(accounts=[{"id": "111111111111", "role_name": ADMIN_ROLE,
                                              "external_id": EXTERNAL_ID}],
                                   aws={"max_attempts": 20})
        run = self.run_cli(fake, "plan", "team_opsec", config, expect=0)
        acct = run.accounts()["111111111111"]
        self.assertEqual((acct["roles_seen"], acct["matched"]), (250, 20), run.describe())
        self.assertEqual(set(run.roles()), {f"111111111111/{n}" for n in matching})
        lists = [c for c in fake.calls() if c["action"] == "ListRoles"]
        self.assertEqual(sum(1 for c in lists if c["status"] == 200), math.ceil(250 / 7))
        self.assertGreater(sum(1 for c in lists if c["fault"]), 0, lists)
        self.assert_call_counts(run, fake.calls())


# --------------------------------------------------------------------------
# 6, 7, 9: credentials

class CredentialsTest(EngineCase):

    def test_wrong_secret_key_fails_every_account(self):
        fake = self.start_fake(example_seed())
        config = self.write_config()
        before = fake.state()
        wrong = BASE_SECRET[:-4] + "wxyz"
        run = self.run_cli(fake, "revoke", "team_opsec", config, at="1 hour ago",
                           secret=wrong, expect=1)
        self.assertEqual(run.report["roles"], [], run.describe())
        self.assertEqual(run.report["failed"], 3, run.describe())
        for acct, a in run.accounts().items():
            self.assertIn("SignatureDoesNotMatch", a["error"] or "", acct)
        text = self.run_cli(fake, "revoke", "team_opsec", config, at="1 hour ago",
                            secret=wrong, as_json=False, expect=1)
        for acct in ACCOUNTS:
            self.assertRegex(text.stdout, re.compile(
                r"^%s\s+ACCOUNT FAILED.*SignatureDoesNotMatch" % acct, re.M), text.describe())
        calls = fake.calls()
        self.assertTrue(calls)
        self.assertEqual({c["action"] for c in calls}, {"AssumeRole"}, calls)
        self.assertTrue(all(c["error_code"] == "SignatureDoesNotMatch" for c in calls), calls)
        # Not worth retrying: one attempt per account and run.
        self.assertEqual(len(calls), 2 * len(ACCOUNTS), calls)
        self.assertEqual(snapshot(fake.state()), snapshot(before))

    def test_errors_name_their_code_whatever_the_error_shape(self):
        # Some IAM-compatible endpoints wrap errors as
        # <ErrorResponse><Errors><Error>: the operator still sees the code and
        # the message. An answer with no error code at all (a proxy's HTML page)
        # shows the status and the first bytes of the body, made printable.
        wrong = BASE_SECRET[:-4] + "wxyz"
        for shape, want in (
                ("errors", r"STS AssumeRole: SignatureDoesNotMatch: The request signature we "
                           r"calculated does not match"),
                ("html", r"STS AssumeRole: HTTP403: <html><head><title>403 Refused</title>"
                         r"</head> <body><h1>Refused</h1><p>the gateway refused request "
                         r"[0-9a-f-]+\.\.\.$")):  # the first 120 bytes, newline folded
            with self.subTest(shape=shape):
                seed = example_seed()
                seed["error_shape"] = shape
                fake = self.start_fake(seed)
                config = self.write_config()
                run = self.run_cli(fake, "plan", "team_opsec", config, secret=wrong, expect=1)
                for acct, a in run.accounts().items():
                    self.assertRegex(a["error"] or "", want, run.describe())
                    if shape == "html":
                        self.assertEqual(len(a["error"].split("HTTP403: ", 1)[1]), 123)
                self.assertTrue(all(c["error_code"] == "SignatureDoesNotMatch"
                                    for c in fake.calls()), fake.calls())
        # A 503 page with no code is retried, then shown with its status and body.
        seed = example_seed()
        seed["error_shape"] = "html"
        fake = self.start_fake(seed)
        fake.set_faults([{"kind": "error503", "action": "ListRoles", "account": "111111111111"}])
        config = self.write_config(aws={"max_attempts": 2, "max_retry_seconds": 5})
        run = self.run_cli(fake, "plan", "team_opsec", config, expect=1)
        self.assertRegex(run.accounts()["111111111111"]["error"] or "",
                         r"^IAM ListRoles: HTTP503: <html><head><title>503 Refused</title>.* "
                         r"\(gave up retrying\)$", run.describe())
        self.assertIsNone(run.accounts()["222222222222"]["error"], run.describe())

    def test_assume_role_refused_in_one_account(self):
        fake = self.start_fake(example_seed())
        accounts = [{"id": a, "role_name": ADMIN_ROLE, "external_id": EXTERNAL_ID}
                    for a in ACCOUNTS]
        accounts[2]["external_id"] = "not-the-external-id"
        config = self.write_config(accounts=accounts)
        before = fake.state()
        t = now() - 600
        run = self.run_cli(fake, "revoke", "team_opsec", config, at=rfc3339(t), expect=1)
        accts = run.accounts()
        self.assertIn("AccessDenied", accts["333333333333"]["error"] or "", run.describe())
        self.assertIsNone(accts["111111111111"]["error"])
        self.assertIsNone(accts["222222222222"]["error"])
        self.assertEqual(run.report["failed"], 1, run.describe())
        want = {k for k in EXPECTED["team_opsec"] if not k.startswith("333333333333/")}
        self.assertEqual(set(run.roles()), want, run.describe())
        self.assertTrue(all(r["outcome"] == "denied" and r["cutoff"] == rfc3339(t)
                            for r in run.roles().values()), run.describe())
        self.assert_revoked_exactly(before, fake.state(), want, rfc3339(t), run)
        calls = [c for c in fake.calls() if c["account"] == "333333333333"]
        self.assertEqual([(c["action"], c["status"], c["error_code"]) for c in calls],
                         [("AssumeRole", 403, "AccessDenied")], calls)
        self.assert_call_counts(run, fake.calls())

    def base_seed(self):
        seed = example_seed()
        seed["accounts"][SECURITY_ACCOUNT] = {"roles": [
            {"RoleName": "SecOpsConsole", "Path": "/",
             "AssumeRolePolicyDocument": web_identity_trust(SECURITY_ACCOUNT, "StringEquals",
                                                            "team_opsec"),
             "MaxSessionDuration": 3600},
            {"RoleName": "SecHr", "Path": "/",
             "AssumeRolePolicyDocument": web_identity_trust(SECURITY_ACCOUNT, "StringEquals",
                                                            "team_hr"),
             "MaxSessionDuration": 3600}]}
        return seed

    def test_base_credentials_used_directly(self):
        fake = self.start_fake(self.base_seed())
        config = self.write_config(accounts=[
            {"id": SECURITY_ACCOUNT, "base_credentials": True},
            {"id": "111111111111", "role_name": ADMIN_ROLE, "external_id": EXTERNAL_ID}])
        before = fake.state()
        t = now() - 600
        run = self.run_cli(fake, "revoke", "team_opsec", config, at=rfc3339(t), expect=0)
        want = {f"{SECURITY_ACCOUNT}/SecOpsConsole"} | {
            k for k in EXPECTED["team_opsec"] if k.startswith("111111111111/")}
        self.assertEqual(set(run.roles()), want, run.describe())
        self.assertTrue(all(r["outcome"] == "denied" for r in run.roles().values()))
        self.assertEqual(run.accounts()[SECURITY_ACCOUNT]["roles_seen"], 2)
        self.assert_revoked_exactly(before, fake.state(), want, rfc3339(t), run)
        calls = [c for c in fake.calls() if c["account"] == SECURITY_ACCOUNT]
        self.assertIn("GetCallerIdentity", [c["action"] for c in calls])
        self.assertNotIn("AssumeRole", [c["action"] for c in calls])
        for c in calls:
            self.assertEqual(c["access_key_id"], BASE_KEY, c)
            self.assertTrue(c["status"] == 200 or (c["action"], c["error_code"]) ==
                            ("GetRolePolicy", "NoSuchEntity"), c)
        self.assert_call_counts(run, fake.calls())

    def test_long_session_token_is_sent_whole(self):
        # STS promises no bound on a token's size; 10,000 characters go out whole.
        seed = self.base_seed()
        token = "IQoJb3JpZ2luX2VjELONG" + "x" * 10000
        seed["base_credentials"] = [{
            "access_key_id": "ASIAFAKELONGTOKEN001", "secret_access_key": "longTokenSecret",
            "session_token": token, "account": SECURITY_ACCOUNT,
            "arn": f"arn:aws:sts::{SECURITY_ACCOUNT}:assumed-role/Revoker/ci"}]
        fake = self.start_fake(seed)
        config = self.write_config(accounts=[
            {"id": "111111111111", "role_name": ADMIN_ROLE, "external_id": EXTERNAL_ID}])
        run = self.run_cli(fake, "plan", "team_opsec", config, key="ASIAFAKELONGTOKEN001",
                           secret="longTokenSecret", token=token, expect=0)
        self.assertEqual(set(run.roles()),
                         {k for k in EXPECTED["team_opsec"] if k.startswith("111111111111/")},
                         run.describe())
        first = fake.calls()[0]
        self.assertEqual((first["action"], first["access_key_id"], first["status"]),
                         ("AssumeRole", "ASIAFAKELONGTOKEN001", 200), first)

    def test_base_credentials_of_another_account_are_refused(self):
        fake = self.start_fake(self.base_seed())
        config = self.write_config(accounts=[
            {"id": "111111111111", "base_credentials": True},
            {"id": "222222222222", "role_name": ADMIN_ROLE, "external_id": EXTERNAL_ID}])
        before = fake.state()
        run = self.run_cli(fake, "revoke", "team_opsec", config, at="1 hour ago", expect=1)
        err = run.accounts()["111111111111"]["error"] or ""
        self.assertIn("belong to account", err, run.describe())
        self.assertIn(SECURITY_ACCOUNT, err)
        self.assertEqual(run.report["failed"], 1)
        self.assertEqual({role_key(r).split("/")[0] for r in run.report["roles"]},
                         {"222222222222"})
        iam_with_base = [c for c in fake.calls()
                         if c["service"] == "iam" and c["access_key_id"] == BASE_KEY]
        self.assertEqual(iam_with_base, [])
        after = policies_of(fake.state())
        for key in after:
            if key.startswith("111111111111/") or key.startswith(SECURITY_ACCOUNT + "/"):
                self.assertEqual(after[key], policies_of(before)[key], key)


# --------------------------------------------------------------------------
# 8. faults

class FaultsTest(EngineCase):

    def test_a_late_write_of_groups_and_people_never_raises_the_groups_cutoff(self):
        # One document of every group ("*": every federated role) and a
        # person, so whichever role's write is late holds both. It lands 2.5 s late (the
        # client gave up after 1 s): the role is read again after
        # aws.late_write_seconds and put right. The groups' statement must
        # keep the event's cut-off: the person's later one (event + the ID
        # token lifetime) is theirs alone, never the whole group's.
        seed = example_seed()
        seed["faults"] = [{"action": "PutRolePolicy", "account": "333333333333",
                           "kind": "latency", "ms": 2500, "count": 1}]
        fake = self.start_fake(seed)
        config = self.write_config(aws={"timeout_seconds": 1, "max_attempts": 3,
                                        "late_write_seconds": 4})
        t = now() - 600
        run = self.run_cli(fake, "revoke", "*", config, at=rfc3339(t),
                           subjects="alice@example.com", expect=0)
        rechecked = [k for k, r in run.roles().items() if r["recheck"] is not None]
        self.assertEqual(len(rechecked), 1, run.describe())
        self.assertEqual(run.roles()[rechecked[0]]["recheck"], "confirmed", run.describe())
        pols = policies_of(fake.state())
        written = [k for k, r in run.roles().items() if r["outcome"] == "denied"]
        self.assertIn(rechecked[0], written)
        for key in written:  # every one: the groups' and the person's statements
            doc = pols[key][POLICY]
            cut = {s["Sid"][:20]: s["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
                   for s in statements(doc)}
            self.assertEqual(cut, {SID[:20]: rfc3339(t),
                                   "SessionRevokerPeople": rfc3339(t + 36000)},
                             "%s: %s" % (key, doc))
            self.assertEqual(run.roles()[key]["cutoff"], rfc3339(t), key)

    def test_transient_faults_everywhere_are_retried(self):
        seed = example_seed()
        seed["faults"] = [
            # about 30% of all calls: 1 - (1 - 0.085) ** 4
            {"action": "*", "kind": "reset", "probability": 0.085},
            {"action": "*", "kind": "throttle", "probability": 0.085},
            {"action": "*", "kind": "error500", "probability": 0.085},
            {"action": "*", "kind": "error503", "probability": 0.085},
        ]
        fake = self.start_fake(seed)
        config = self.write_config(aws={"max_attempts": 20, "max_retry_seconds": 120})
        before = fake.state()
        matched = set(EXPECTED["team_opsec"])
        faulted = 0
        for i, t in enumerate((now() - 7200, now() - 3600)):
            seq = self.last_seq(fake)
            run = self.run_cli(fake, "revoke", "team_opsec", config, at=rfc3339(t), expect=0)
            self.assertEqual(run.report["failed"], 0, run.describe())
            self.assertTrue(all(a["error"] is None for a in run.report["accounts"]))
            self.assertEqual(set(run.roles()), matched, run.describe())
            for key, r in run.roles().items():
                self.assertEqual((r["outcome"], r["cutoff"]), ("denied", rfc3339(t)), key)
            self.assert_revoked_exactly(before, fake.state(), matched, rfc3339(t), run)
            calls = self.calls_since(fake, seq)
            self.assert_call_counts(run, calls)
            faulted += sum(1 for c in calls if c["fault"])
            ok_puts = [f"{c['account']}/{c['role']}" for c in calls
                       if c["action"] == "PutRolePolicy" and c["status"] == 200]
            self.assertEqual(sorted(ok_puts), sorted(matched))
        # The faults did fire (so retries happened).
        self.assertGreaterEqual(faulted, 3, fake.calls())
        kinds = {c["fault"] for c in fake.calls() if c["fault"]}
        self.assertGreaterEqual(len(kinds), 2, kinds)

    def test_a_slow_answer_times_out_and_is_retried(self):
        seed = example_seed()
        seed["faults"] = [{"action": "ListRoles", "account": "222222222222", "kind": "latency",
                           "ms": 2500, "count": 1}]
        fake = self.start_fake(seed)
        config = self.write_config(aws={"timeout_seconds": 1})
        started = time.monotonic()
        run = self.run_cli(fake, "plan", "team_opsec", config, expect=0)
        self.assertLess(time.monotonic() - started, 2.4, "did not time out after 1 s")
        self.assertEqual(set(run.roles()), set(EXPECTED["team_opsec"]), run.describe())
        time.sleep(1.5)  # the slow call is logged once the fake has slept
        lists = [c for c in fake.calls()
                 if c["action"] == "ListRoles" and c["account"] == "222222222222"]
        self.assertEqual(len(lists), 2, lists)

    def test_put_role_policy_failing_for_good(self):
        seed = example_seed()
        # 333333333333 has exactly one matching role, OpsecDeploy.
        seed["faults"] = [{"action": "PutRolePolicy", "account": "333333333333",
                           "kind": "error500", "count": 1000}]
        fake = self.start_fake(seed)
        attempts = 4
        config = self.write_config(aws={"max_attempts": attempts})
        before = fake.state()
        t = now() - 600
        run = self.run_cli(fake, "revoke", "team_opsec", config, at=rfc3339(t), expect=1)
        roles = run.roles()
        bad = roles["333333333333/OpsecDeploy"]
        self.assertEqual(bad["outcome"], "failed", run.describe())
        self.assertIn("InternalFailure", bad["error"] or "", run.describe())
        self.assertEqual(run.report["failed"], 1)
        others = set(EXPECTED["team_opsec"]) - {"333333333333/OpsecDeploy"}
        for key in others:
            self.assertEqual((roles[key]["outcome"], roles[key]["cutoff"]),
                             ("denied", rfc3339(t)), key)
        self.assert_revoked_exactly(before, fake.state(), others, rfc3339(t), run)
        puts = [c for c in fake.calls()
                if c["action"] == "PutRolePolicy" and c["role"] == "OpsecDeploy"]
        self.assertEqual(len(puts), attempts, puts)
        self.assertTrue(all(c["status"] == 500 for c in puts))


# --------------------------------------------------------------------------
# 10. IAM's inline policy budget

class LimitTest(EngineCase):

    def test_inline_policy_budget_exceeded(self):
        seed = example_seed()
        role = seed_role(seed, "111111111111", "OpsecBreakGlass")
        policies = role["inline_policies"]
        used = sum(len(n) + len(fake_aws._compact(d)) for n, d in policies.items())
        big = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": [], "Resource": "*"}]}
        actions = big["Statement"][0]["Action"]
        i = 0
        while used + len("BigGrants") + len(fake_aws._compact(big)) < 10180:
            actions.append(f"s3:GetObjectVersionTagging{i:04d}")
            i += 1
        policies["BigGrants"] = big
        total = sum(len(n) + len(fake_aws._compact(d)) for n, d in policies.items())
        self.assertTrue(10150 <= total <= 10240, total)
        fake = self.start_fake(seed)
        before = fake.state()
        t = now() - 600
        run = self.run_cli(fake, "revoke", "team_opsec", self.write_config(), at=rfc3339(t),
                           expect=1)
        roles = run.roles()
        bad = roles["111111111111/OpsecBreakGlass"]
        self.assertEqual(bad["outcome"], "failed", run.describe())
        self.assertIn("LimitExceeded", bad["error"] or "", run.describe())
        self.assertEqual(run.report["failed"], 1)
        others = set(EXPECTED["team_opsec"]) - {"111111111111/OpsecBreakGlass"}
        self.assertTrue(all(roles[k]["outcome"] == "denied" for k in others))
        self.assert_revoked_exactly(before, fake.state(), others, rfc3339(t), run)
        puts = [c for c in fake.calls()
                if c["action"] == "PutRolePolicy" and c["role"] == "OpsecBreakGlass"]
        self.assertEqual([(c["status"], c["error_code"]) for c in puts],
                         [(409, "LimitExceeded")], puts)


if __name__ == "__main__":
    unittest.main()


# --------------------------------------------------------------------------
# 9. selection: SAML federations, the session-revoker:groups tag, role
#    mappings in the configuration, and roles AWS lets no one edit

OKTA = "saml-provider/Okta"
SSO_PROVIDER = "saml-provider/AWSSSO_0123456789abcdef_DO_NOT_DELETE"
SSO_ROLE = "AWSReservedSSO_OpsecAdmin_0123456789abcdef"
SLR_ROLE = "AWSServiceRoleForOpsecTools"
GROUPS_TAG = "session-revoker:groups"


def saml_trust(account, provider=OKTA, condition=None):
    st = {"Effect": "Allow",
          "Principal": {"Federated": f"arn:aws:iam::{account}:{provider}"},
          "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
          "Condition": condition or {
              "StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}}
    return {"Version": "2012-10-17", "Statement": [st]}


def filler_tags(n):
    return [{"Key": f"cost-{i:02d}", "Value": f"cc{i}"} for i in range(n)]


class SelectionTest(EngineCase):

    def seed(self):
        seed = example_seed()
        a1 = seed["accounts"]["111111111111"]["roles"]
        a2 = seed["accounts"]["222222222222"]["roles"]
        a3 = seed["accounts"]["333333333333"]["roles"]
        seed["saml_providers"] = [f"arn:aws:iam::111111111111:{OKTA}",
                                  f"arn:aws:iam::222222222222:{OKTA}"]
        a1 += [
            # SAML, the tag names the group (on the last page of its tags)
            {"RoleName": "OktaOpsecAdmin", "Path": "/okta/",
             "AssumeRolePolicyDocument": saml_trust("111111111111"),
             "Tags": filler_tags(5) + [{"Key": GROUPS_TAG, "Value": "team_hr team_opsec"}]},
            # SAML, the tag names other groups only
            {"RoleName": "OktaReadOnly", "Path": "/okta/",
             "AssumeRolePolicyDocument": saml_trust("111111111111"),
             "Tags": [{"Key": GROUPS_TAG, "Value": "team_hr,team_opsec_admins"}]},
            # SAML, the trust condition names the group (SAML:groups)
            {"RoleName": "OktaOpsecByTrust", "Path": "/okta/",
             "AssumeRolePolicyDocument": saml_trust("111111111111", condition={
                 "ForAnyValue:StringLike": {"SAML:groups": ["team_opsec"]}})},
            # SAML, a mapping in the configuration reaches it
            {"RoleName": "OktaMappedOps", "Path": "/okta/",
             "AssumeRolePolicyDocument": saml_trust("111111111111")},
            # tagged, but trusts no configured provider: never selected, tags never read
            {"RoleName": "UntrustedTagged", "Path": "/",
             "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                 "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                 "Action": "sts:AssumeRole"}]},
             "Tags": [{"Key": GROUPS_TAG, "Value": "team_opsec"}]},
            # IAM Identity Center's role, reached by a mapping
            {"RoleName": SSO_ROLE, "Path": "/aws-reserved/sso.amazonaws.com/",
             "MaxSessionDuration": 43200,
             "AssumeRolePolicyDocument": saml_trust("111111111111", provider=SSO_PROVIDER)},
        ]
        # the same name in another account: the mapping is for 111111111111 only
        a2.append({"RoleName": "OktaMappedOps", "Path": "/okta/",
                   "AssumeRolePolicyDocument": saml_trust("222222222222")})
        a3 += [
            # a service-linked role whose trust lets the group in (contrived: no
            # one can edit it, so it is reported, never written)
            {"RoleName": SLR_ROLE, "Path": "/aws-service-role/opsec-tools.amazonaws.com/",
             "AssumeRolePolicyDocument": web_identity_trust("333333333333", "StringEquals",
                                                            "team_opsec")},
            # AWS refuses to write it though its path is an ordinary one
            {"RoleName": "ProtectedOpsec", "Path": "/", "protected": True,
             "AssumeRolePolicyDocument": web_identity_trust("333333333333", "StringEquals",
                                                            "team_opsec")},
        ]
        return seed

    def config(self):
        return self.write_config(revoke={
            "providers": [PROVIDER, OKTA, SSO_PROVIDER],
            "group_claims": ["amr", "groups"],
            "role_mappings": [
                {"group": "team_opsec", "roles": ["oktamapped*", "AWSReservedSSO_Opsec*"],
                 "accounts": ["111111111111"]},
                {"group": "team_hr", "roles": ["*"]}]})

    def test_plan_says_which_of_trust_tag_and_mapping_selected_each_role(self):
        fake = self.start_fake(self.seed())
        fake.config({"max_page_size": 2})  # tags come in pages of two
        config = self.config()
        seq = self.last_seq(fake)
        run = self.run_cli(fake, "plan", "team_opsec", config, expect=0)
        self.assert_report_shape(run)
        roles = run.roles()
        new = {"111111111111/OktaOpsecAdmin", "111111111111/OktaOpsecByTrust",
               "111111111111/OktaMappedOps", f"111111111111/{SSO_ROLE}",
               f"333333333333/{SLR_ROLE}", "333333333333/ProtectedOpsec"}
        self.assertEqual(set(roles), set(EXPECTED["team_opsec"]) | new, run.describe())

        def why(key):
            return [(w["source"], w["key"], w["value"], w["group"]) for w in roles[key]["reasons"]]

        for key in EXPECTED["team_opsec"]:
            self.assertEqual({w["source"] for w in roles[key]["reasons"]}, {"trust"}, key)
        self.assertEqual(why("111111111111/OktaOpsecAdmin"),
                         [("tag", GROUPS_TAG, "team_hr team_opsec", "team_opsec")])
        self.assertEqual(why("111111111111/OktaOpsecByTrust"),
                         [("trust", "SAML:groups", "team_opsec", "team_opsec")])
        self.assertEqual(why("111111111111/OktaMappedOps"),
                         [("mapping", "role name", "oktamapped*", "team_opsec")])
        self.assertEqual(roles["111111111111/OktaMappedOps"]["reasons"][0]["statement"],
                         "revoke.role_mappings[0]")
        for key, r in roles.items():
            if key in (f"111111111111/{SSO_ROLE}", f"333333333333/{SLR_ROLE}"):
                continue
            self.assertEqual((r["outcome"], r["error"]), ("match", None), key)
        sso, slr = roles[f"111111111111/{SSO_ROLE}"], roles[f"333333333333/{SLR_ROLE}"]
        self.assertEqual(sso["outcome"], "unmodifiable", run.describe())
        self.assertIn("IAM Identity Center", sso["error"])
        self.assertIn("SCP", sso["error"])
        self.assertEqual(why(f"111111111111/{SSO_ROLE}"),
                         [("mapping", "role name", "AWSReservedSSO_Opsec*", "team_opsec")])
        self.assertEqual(slr["outcome"], "unmodifiable", run.describe())
        self.assertIn("service-linked", slr["error"])
        self.assertEqual(run.report["failed"], 0)

        # Tags are read only for roles that trust a configured provider and
        # that neither their trust policy nor a mapping selected; every page.
        calls = self.calls_since(fake, seq)
        self.assert_no_writes(calls, run.describe())
        self.assert_call_counts(run, calls)  # the tag reads are counted too
        tagged = {}
        for c in calls:
            if c["action"] == "ListRoleTags":
                tagged[f"{c['account']}/{c['role']}"] = tagged.get(
                    f"{c['account']}/{c['role']}", 0) + 1
        self.assertNotIn("111111111111/UntrustedTagged", tagged)
        self.assertNotIn("111111111111/Ec2AppInstanceRole", tagged)
        self.assertNotIn("111111111111/OktaMappedOps", tagged)
        self.assertFalse(set(tagged) & set(EXPECTED["team_opsec"]), tagged)
        self.assertEqual(tagged["111111111111/OktaOpsecAdmin"], 3, tagged)  # 6 tags, pages of 2
        self.assertEqual(tagged["111111111111/OktaReadOnly"], 1, tagged)
        self.assertIn("222222222222/OktaMappedOps", tagged)  # no mapping there: its tags decide

        # The text output names what selected each role.
        text = self.run_cli(fake, "plan", "team_opsec", config, as_json=False, expect=0)
        self.assertRegex(text.stdout, r"(?m)^111111111111\s+OktaOpsecAdmin\s+match\s+\[tag ")
        self.assertRegex(text.stdout, r"(?m)^111111111111\s+OktaMappedOps\s+match\s+"
                                      r"\[mapping revoke\.role_mappings\[0\]")
        self.assertRegex(text.stdout, r"(?m)^111111111111\s+OktaOpsecByTrust\s+match\s+"
                                      r"\[trust Statement\[0\] ForAnyValue:StringLike SAML:groups")
        self.assertRegex(text.stdout, r"(?m)^111111111111\s+%s\s+unmodifiable\b.*IAM Identity"
                         % SSO_ROLE, text.describe())

        # A mapping without accounts applies everywhere; one group's tag is not another's.
        run = self.run_cli(fake, "plan", "team_hr", config, expect=0)
        roles = run.roles()
        self.assertEqual(roles["111111111111/OktaReadOnly"]["reasons"][0]["source"], "mapping")
        self.assertIn("222222222222/OktaMappedOps", roles)
        self.assertNotIn("111111111111/UntrustedTagged", roles)

    def test_revoke_writes_what_was_selected_and_never_an_unmodifiable_role(self):
        fake = self.start_fake(self.seed())
        config = self.config()
        before = fake.state()
        t = now() - 1800
        seq = self.last_seq(fake)
        run = self.run_cli(fake, "revoke", "team_opsec", config, at=rfc3339(t), expect=0)
        self.assertEqual(run.report["failed"], 0, run.describe())
        roles = run.roles()
        writable = (set(EXPECTED["team_opsec"]) |
                    {"111111111111/OktaOpsecAdmin", "111111111111/OktaOpsecByTrust",
                     "111111111111/OktaMappedOps"})
        for key in writable:
            self.assertEqual((roles[key]["outcome"], roles[key]["cutoff"]),
                             ("denied", rfc3339(t)), key)
        for key in (f"111111111111/{SSO_ROLE}", f"333333333333/{SLR_ROLE}"):
            self.assertEqual(roles[key]["outcome"], "unmodifiable", key)
            self.assertIsNone(roles[key]["cutoff"], key)
        # AWS refused a role whose path did not give it away: unmodifiable, not failed.
        prot = roles["333333333333/ProtectedOpsec"]
        self.assertEqual(prot["outcome"], "unmodifiable", run.describe())
        self.assertIn("UnmodifiableEntity", prot["error"])
        calls = self.calls_since(fake, seq)
        puts = {f"{c['account']}/{c['role']}" for c in calls if c["action"] == "PutRolePolicy"}
        self.assertEqual(puts, writable | {"333333333333/ProtectedOpsec"}, run.describe())
        self.assert_revoked_exactly(before, fake.state(), writable, rfc3339(t), run)
        self.assertRegex(run.stderr, r"engine\.role account=111111111111 role=%s "
                         r"outcome=unmodifiable " % SSO_ROLE)

        # Cleanup never tries them either.
        seq = self.last_seq(fake)
        run = self.run_cli(fake, "cleanup", "team_opsec", config, expect=0)
        self.assertEqual(run.roles()[f"111111111111/{SSO_ROLE}"]["outcome"], "unmodifiable")
        self.assertFalse([c for c in self.calls_since(fake, seq)
                          if c["role"] in (SSO_ROLE, SLR_ROLE)])

    def test_star_revokes_every_federated_role_and_nothing_else(self):
        # The group "*" is every group: every role whose trust policy lets a
        # configured provider in (OIDC, whatever group its conditions name,
        # or none; SAML), which includes every role a mapping or a tag can
        # reach. Roles that trust a service, an account or an unconfigured
        # provider are left alone; roles AWS lets no one write are reported.
        fake = self.start_fake(self.seed())
        config = self.config()
        before = fake.state()
        federated = {
            "111111111111/OpsecBreakGlass", "111111111111/TeamWildcardReadOnly",
            "111111111111/HrPayrollAdmin", "111111111111/OpsecAdminsOnly",
            "111111111111/OpsecDenied",  # a Deny for one group, an Allow for others
            "111111111111/OktaOpsecAdmin", "111111111111/OktaReadOnly",
            "111111111111/OktaOpsecByTrust", "111111111111/OktaMappedOps",
            "222222222222/OpsecAuditor", "222222222222/HrReadOnly",
            "222222222222/TeamAnyIgnoreCase", "222222222222/OktaMappedOps",
            "333333333333/OpsecDeploy", "333333333333/OpsecAdmins",
            "333333333333/HrOnlyQuestion", "333333333333/ProtectedOpsec"}
        unmodifiable = {f"111111111111/{SSO_ROLE}", f"333333333333/{SLR_ROLE}"}

        seq = self.last_seq(fake)
        run = self.run_cli(fake, "plan", "*", config, expect=0)
        self.assert_report_shape(run)
        roles = run.roles()
        self.assertEqual(set(roles), federated | unmodifiable, run.describe())
        for key in ("111111111111/GithubDeploy", "111111111111/Ec2AppInstanceRole",
                    "111111111111/UntrustedTagged", "222222222222/OtherIdpOpsec",
                    "222222222222/CrossAccountSupport", "333333333333/LambdaExec",
                    "333333333333/AssumeOnlyWithAmr", "333333333333/SessionRevokerAdmin"):
            self.assertNotIn(key, roles)
        first = roles["111111111111/OpsecBreakGlass"]["reasons"][0]
        self.assertEqual((first["source"], first["operator"], first["key"], first["value"],
                          first["group"]),
                         ("trust", "federated", "Principal.Federated",
                          "arn:aws:iam::111111111111:oidc-provider/auth.example.com/", "*"))
        okta = roles["111111111111/OktaReadOnly"]["reasons"]
        self.assertEqual([(w["source"], w["value"], w["group"]) for w in okta],
                         [("trust", f"arn:aws:iam::111111111111:{OKTA}", "*"),
                          ("mapping", "*", "*")])  # team_hr's mapping: roles ["*"]
        mapped = roles["111111111111/OktaMappedOps"]["reasons"]
        self.assertIn(("mapping", "oktamapped*", "*"),
                      [(w["source"], w["value"], w["group"]) for w in mapped])
        for key in unmodifiable:
            self.assertEqual(roles[key]["outcome"], "unmodifiable", key)
        # The trust policies decide alone: no role's tags are read.
        calls = self.calls_since(fake, seq)
        self.assertFalse([c for c in calls if c["action"] == "ListRoleTags"])
        self.assert_no_writes(calls, run.describe())
        text = self.run_cli(fake, "plan", "*", config, as_json=False, expect=0)
        self.assertRegex(text.stdout, r"(?m)^111111111111\s+OpsecBreakGlass\s+match\s+"
                                      r"\[trust Statement\[0\] federated Principal\.Federated = "
                                      r"arn:aws:iam::111111111111:oidc-provider/auth\.example\.com/\]")

        # revoke: every federated role gets the deny policy, the others nothing.
        t = now() - 1800
        seq = self.last_seq(fake)
        run = self.run_cli(fake, "revoke", "*", config, at=rfc3339(t), expect=0)
        roles = run.roles()
        writable = federated - {"333333333333/ProtectedOpsec"}
        self.assertEqual(set(roles), federated | unmodifiable, run.describe())
        for key in writable:
            self.assertEqual((roles[key]["outcome"], roles[key]["cutoff"]),
                             ("denied", rfc3339(t)), key)
        for key in unmodifiable | {"333333333333/ProtectedOpsec"}:
            self.assertEqual(roles[key]["outcome"], "unmodifiable", key)
        puts = {f"{c['account']}/{c['role']}" for c in self.calls_since(fake, seq)
                if c["action"] == "PutRolePolicy"}
        self.assertEqual(puts, federated, run.describe())
        self.assert_revoked_exactly(before, fake.state(), writable, rfc3339(t), run)

    def test_a_pattern_in_a_revocation_is_a_group_name(self):
        # Only the exact "*" is every group: "team_*" is the name of a group,
        # let in only where a trust pattern matches that very name.
        fake = self.start_fake(self.seed())
        run = self.run_cli(fake, "plan", "team_*", self.config(), expect=0)
        roles = run.roles()
        self.assertEqual(set(roles), {"111111111111/TeamWildcardReadOnly"}, run.describe())
        self.assertEqual([(w["source"], w["value"], w["group"])
                          for w in roles["111111111111/TeamWildcardReadOnly"]["reasons"]],
                         [("trust", "team_*", "team_*")])

    def test_role_tags_decides_whose_tags_are_read(self):
        # revoke.role_tags: "saml" (the default) reads the groups tag of roles
        # that trust a configured SAML provider only, "all" of every role
        # that trusts a configured provider (one ListRoleTags call each),
        # "off" of none.
        seed = self.seed()
        seed["accounts"]["111111111111"]["roles"].append(
            {"RoleName": "OidcTaggedOps", "Path": "/",
             "AssumeRolePolicyDocument": web_identity_trust("111111111111", "StringEquals",
                                                            "team_other"),
             "Tags": [{"Key": GROUPS_TAG, "Value": "team_opsec"}]})
        fake = self.start_fake(seed)
        oidc, saml = "111111111111/OidcTaggedOps", "111111111111/OktaOpsecAdmin"
        for mode, selected in (("saml", {saml}), ("all", {oidc, saml}), ("off", set()), (None, {saml})):
            revoke = {"providers": [PROVIDER, OKTA]}
            if mode is not None:
                revoke["role_tags"] = mode
            config = self.write_config(revoke=revoke, name=f"config-{mode}.json")
            seq = self.last_seq(fake)
            run = self.run_cli(fake, "plan", "team_opsec", config, expect=0)
            roles = run.roles()
            self.assertEqual({oidc, saml} & set(roles), selected, (mode, run.describe()))
            tagged = {f"{c['account']}/{c['role']}" for c in self.calls_since(fake, seq)
                      if c["action"] == "ListRoleTags"}
            self.assertEqual(oidc in tagged, mode == "all", (mode, tagged))
            self.assertEqual(saml in tagged, mode in ("saml", "all", None), (mode, tagged))
            if mode in ("saml", None):  # only roles that trust the SAML provider
                self.assertFalse({k for k in tagged if not k.split("/")[1].startswith("Okta")},
                                 (mode, tagged))
        bad = self.write_config(revoke={"providers": [PROVIDER], "role_tags": "some"},
                                name="config-bad.json")
        run = self.run_cli(fake, "plan", "team_opsec", bad, as_json=False, expect=2)
        self.assertIn("revoke.role_tags", run.stderr)

    def test_credentials_refused_while_tags_are_read_are_renewed(self):
        # AWS refusing the credentials (ExpiredToken) on a ListRoleTags call
        # gets them renewed and the tags read again, as for any other call
        # of the run: no role fails for it.
        fake = self.start_fake(self.seed())
        fake.set_faults([{"kind": "expired", "action": "ListRoleTags",
                          "account": "111111111111", "count": 1}])
        config = self.write_config(revoke={"providers": [PROVIDER, OKTA]})
        run = self.run_cli(fake, "revoke", "team_opsec", config, at="10 minutes ago")
        self.assertTrue([c for c in fake.calls() if c.get("error_code") == "ExpiredToken"],
                        "the fake never refused the credentials")
        self.assertEqual(run.rc, 0, run.describe())
        roles = run.roles()
        self.assertEqual(roles["111111111111/OktaOpsecAdmin"]["outcome"], "denied",
                         run.describe())
        self.assertFalse([k for k, r in roles.items() if r["outcome"] == "failed"],
                         run.describe())

    def test_unreadable_tags_fail_the_role_not_the_account(self):
        # A role whose tags cannot be read may or may not be the group's:
        # it is reported failed (and nothing is written to it); the others go on.
        fake = self.start_fake(self.seed())
        fake.set_faults([{"kind": "error503", "action": "ListRoleTags", "account": "111111111111"}])
        config = self.write_config(aws={"max_attempts": 2, "max_retry_seconds": 5},
                                   revoke={"providers": [PROVIDER, OKTA]})
        run = self.run_cli(fake, "revoke", "team_opsec", config, at="10 minutes ago", expect=1)
        roles = run.roles()
        for name in ("OktaOpsecAdmin", "OktaReadOnly", "OktaMappedOps"):
            r = roles[f"111111111111/{name}"]
            self.assertEqual(r["outcome"], "failed", run.describe())
            self.assertRegex(r["error"], r"^reading its tags: IAM ListRoleTags: "
                                         r"ServiceUnavailable: ")
        self.assertIsNone(run.accounts()["111111111111"]["error"])
        self.assertEqual(roles["111111111111/OpsecBreakGlass"]["outcome"], "denied")
        self.assertNotIn("222222222222/OktaMappedOps", roles)  # its tags were read: none
        puts = {f"{c['account']}/{c['role']}" for c in fake.calls()
                if c["action"] == "PutRolePolicy"}
        self.assertFalse({k for k in puts if "/Okta" in k and k.startswith("111111111111")})
