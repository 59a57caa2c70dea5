"""People a role's inline policies cannot hold (README, "Revoking one
person"): with targeted.overflow "managed" (the default) they go into the
account's customer managed policy, attached to the roles that needed it;
with "report", or past the managed policy's own 6,144 characters, they are
named as not written. Never is anyone dropped silently.

Drives `session-revoker revoke|cleanup --subjects` against the fake AWS and
asks the fake, as IAM would decide, whether each person's old session is
refused (fake.evaluate). Run with Debian's /usr/bin/python3.
"""

import json
import os
import unittest

import harness
from harness import now, rfc3339

from test_engine import ACCOUNTS, EngineCase, example_seed

ACCOUNT = ACCOUNTS[0]
MANAGED = "session-revoker-people"
MANAGED_ARN = f"arn:aws:iam::{ACCOUNT}:policy/session-revoker/{MANAGED}"
# the federated roles of the example account (trusting auth.example.com/)
ROLES = ["OpsecBreakGlass", "TeamWildcardReadOnly", "HrPayrollAdmin", "OpsecAdminsOnly",
         "OpsecDenied"]
LIFETIME = 3600


def people(n, start=0):
    return ["user%04d@example.com" % i for i in range(start, start + n)]


class OverflowTest(EngineCase):

    def setUp(self):
        super().setUp()
        self.fake = self.start_fake(example_seed())
        self.arn = {r: self.role_arn(r) for r in ROLES}
        self.at = rfc3339(now() - 120)

    def role_arn(self, name):
        for role in self.fake.state()["accounts"][ACCOUNT]["roles"].values():
            if role["RoleName"] == name:
                return role["Arn"]
        raise KeyError(name)

    def config(self, **targeted):
        path = self.write_config(accounts=[{"id": ACCOUNT, "role_name": harness.ADMIN_ROLE,
                                            "external_id": harness.EXTERNAL_ID}])
        with open(path) as f:
            cfg = json.load(f)
        cfg["targeted"] = {"token_lifetime_seconds": LIFETIME, **targeted}
        harness.write_config(path, cfg)
        return path

    def revoke(self, config, who, expect=None, **kw):
        # one event time for every run of a test: a re-run is the same revocation
        return self.run_cli(self.fake, "revoke", None, config, subjects=",".join(who),
                            expect=expect, at=self.at, **kw)

    def refused(self, role, person, issued):
        got = self.fake.evaluate(self.arn[role], "s3:GetObject", session={
            "source_identity": person, "token_issue_time": rfc3339(issued)})
        return got["decision"] == "explicitDeny"

    def managed(self):
        """The managed policy's default document and the roles it is
        attached to, as the fake holds them (None when there is none)."""
        state = self.fake.state()["accounts"][ACCOUNT]
        pol = (state.get("managed_policies") or {}).get(MANAGED_ARN)
        if pol is None:
            return None, []
        attached = sorted(r["RoleName"] for r in state["roles"].values()
                          if MANAGED_ARN in (r.get("attached_policies") or []))
        return pol, attached

    def entry(self, run):
        return {r["role"]: r for r in run.report["roles"]}

    def test_past_the_inline_budget_people_go_into_the_managed_policy(self):
        config = self.config()
        who = people(600)
        issued = now() - 60
        run = self.revoke(config, who, expect=0)
        roles = self.entry(run)
        for role in ROLES:
            r = roles[role]
            self.assertEqual(r["outcome"], "denied", run.describe())
            self.assertTrue(r["people"]["in_managed_policy"], r)
            self.assertEqual(r["people"]["not_written"], 0, r)
            self.assertLessEqual(r["people"]["characters_used"], 10240, r)
        policy = roles["policy:" + MANAGED]
        self.assertEqual(policy["outcome"], "denied", policy)
        self.assertEqual(policy["arn"], MANAGED_ARN)
        self.assertGreater(policy["people"]["denied"], 0)
        self.assertLessEqual(policy["people"]["characters_used"], 6144)
        _, attached = self.managed()
        self.assertEqual(attached, sorted(ROLES))
        # every one of the 600 is refused on every role; someone else is not
        for role in ROLES:
            for person in who[::37] + [who[-1]]:
                self.assertTrue(self.refused(role, person, issued), f"{role} {person}")
            self.assertFalse(self.refused(role, "bob@example.com", issued), role)
            # a session issued after the person's cut-off gets through
            self.assertFalse(self.refused(role, who[-1], now() + LIFETIME + 120), role)
        # the same people again: nothing to write, nothing attached twice
        since = self.last_seq(self.fake)
        again = self.revoke(config, who, expect=0)
        self.assertEqual({r["role"]: r["outcome"] for r in again.report["roles"]},
                         {**{r: "unchanged" for r in ROLES}, "policy:" + MANAGED: "unchanged"})
        # (a role with other inline policies gets one write IAM refuses,
        # LimitExceeded, before they are counted: it changes nothing)
        writes = [c["action"] for c in self.fake.calls(since)
                  if c["action"] in ("PutRolePolicy", "CreatePolicyVersion", "AttachRolePolicy")
                  and c["status"] == 200]
        self.assertEqual(writes, [])

    def test_past_both_budgets_the_rest_are_named(self):
        config = self.config()
        who = people(1000)
        issued = now() - 60
        run = self.revoke(config, who, expect=1)
        roles = self.entry(run)
        policy = roles["policy:" + MANAGED]
        self.assertEqual(policy["outcome"], "denied")
        self.assertGreater(policy["people"]["not_written"], 0)
        self.assertIn("could not be written", policy["error"])
        for role in ROLES:
            r = roles[role]
            self.assertEqual(r["outcome"], "failed", r)
            self.assertGreater(r["people"]["not_written"], 0, r)
            self.assertIn("could not be written", r["error"])
        # no one is lost: each person is refused, or named in the log
        named = set()
        for line in run.stderr.splitlines():
            if "engine.person_not_written" in line and "role=OpsecBreakGlass" in line:
                named.add(line.split("subject=")[1].split()[0])
        self.assertTrue(named)
        for person in who[::7]:
            self.assertTrue(self.refused("OpsecBreakGlass", person, issued) or person in named,
                            person)
        for person in named:
            self.assertFalse(self.refused("OpsecBreakGlass", person, issued), person)

    def test_report_names_them_and_makes_no_managed_policy(self):
        config = self.config(overflow="report")
        run = self.revoke(config, people(600), expect=1)
        roles = self.entry(run)
        self.assertNotIn("policy:" + MANAGED, roles)
        for role in ROLES:
            self.assertEqual(roles[role]["outcome"], "failed")
            self.assertIn("inline policies are full", roles[role]["error"])
        self.assertEqual(self.managed(), (None, []))

    def test_cleanup_removes_the_managed_policy_once_everyone_is_due(self):
        config = self.config()
        who = people(600)
        self.revoke(config, who, expect=0)
        early = self.run_cli(self.fake, "cleanup", None, config, subjects=",".join(who),
                             expect=0)
        self.assertEqual(self.entry(early)["policy:" + MANAGED]["outcome"], "not-due")
        self.assertIsNotNone(self.managed()[0])
        # past every cut-off + the longest maximum session + skew
        later = LIFETIME + 43200 + 3600
        self.fake.set_clock(offset_seconds=later)
        done = self.run_cli(self.fake, "cleanup", None, config, subjects=",".join(who),
                            expect=0, clock_offset=later)
        roles = self.entry(done)
        self.assertEqual(roles["policy:" + MANAGED]["outcome"], "deleted", done.describe())
        self.assertEqual(self.managed(), (None, []))
        for role in ROLES:
            self.assertIn(roles[role]["outcome"], ("deleted", "trimmed"), roles[role])


if __name__ == "__main__":
    unittest.main()
