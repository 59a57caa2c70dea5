"""deploy/aws/ held to the code:

- the IAM actions the engine can call come from the one table in
  src/aws/actions.c (sr_aws_call() takes an enum of that table, so the code
  cannot call anything else); every row must be used by src/;
- target-account.yaml allows the role it creates exactly the table's
  SR_AWS_GRANT_TARGET permissions, central-account.yaml allows the service's
  principal exactly the SR_AWS_GRANT_SERVICE ones: one more or one fewer fails;
- the role trusts only the service's principal, with the external id; it may
  write inline policies only on roles, never on itself; it may create, version,
  delete, attach and detach only the managed policies under ManagedPolicyPath
  (the targeted fallback);
- the EventBridge rule matches the writes the table says the role can make,
  by that role, of any inline policy but the configured deny policy;
- both templates are valid CloudFormation: every !Ref, !Sub, !GetAtt and
  condition names something defined, and cfn-lint (npm, tools/cfn-lint/,
  installed by scripts/install-deps.sh) passes.

- live, against the fake AWS: the role as the template makes it (its trust
  and its Deny statements, with ExcludedRolePattern set) is assumed by the
  real binary with the external id; `revoke` denies the roles it may write
  and reports the excluded break-glass role `failed` with AccessDenied; every
  call the binary made is a permission the template grants; and the alert
  rule stays quiet for every write the engine made.

Run with Debian's /usr/bin/python3 (python3-yaml, botocore for the fake).
"""

import copy
import os
import re
import subprocess
import unittest

import yaml

import harness
from test_engine import ADMIN_ROLE, EXTERNAL_ID, EngineCase, example_seed, seed_role

ROOT = os.environ.get("SR_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TARGET = os.path.join(ROOT, "deploy", "aws", "target-account.yaml")
CENTRAL = os.path.join(ROOT, "deploy", "aws", "central-account.yaml")
CFN_LINT = os.path.join(ROOT, "tools", "cfn-lint", "node_modules", ".bin", "cfn-lint")

ROW = re.compile(r'^\s*\[(SR_AWS_\w+)\]\s*=\s*\{(SR_AWS_IAM|SR_AWS_STS),\s*"(\w+)",\s*"([\w:]+)",'
                 r'\s*SR_AWS_GRANT_(\w+)\},\s*$')
MANAGED_POLICY_ARN = "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy${ManagedPolicyPath}*"
PSEUDO = {"AWS::AccountId", "AWS::NoValue", "AWS::Partition", "AWS::Region", "AWS::StackId",
          "AWS::StackName", "AWS::URLSuffix", "AWS::NotificationARNs"}


def read(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def action_table():
    """{enum: (service, name, permission, grant)} from src/aws/actions.c."""
    text = read(os.path.join(ROOT, "src", "aws", "actions.c"))
    body = text[text.index("actions[SR_AWS_N_ACTIONS] = {"):]
    body = body[:body.index("\n};")]
    rows, odd = {}, []
    for line in body.splitlines()[1:]:
        if not line.strip():
            continue
        m = ROW.match(line)
        if m is None:
            odd.append(line.strip())
            continue
        rows[m.group(1)] = (m.group(2), m.group(3), m.group(4), m.group(5))
    if odd:
        raise AssertionError("src/aws/actions.c: rows this test cannot read: %r" % odd)
    return rows


def action_enum():
    text = read(os.path.join(ROOT, "include", "session_revoker", "aws.h"))
    body = text[text.index("enum sr_aws_action {"):]
    body = body[:body.index("SR_AWS_N_ACTIONS")]
    return re.findall(r"\b(SR_AWS_\w+),", body)


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags, turned into the long form."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + suffix: value}


CfnLoader.add_multi_constructor("!", _tag)


def load(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=CfnLoader)


def branches(value):
    """A value with every Fn::If expanded into both of its branches."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, yes, no = value["Fn::If"]
        return branches(yes) + branches(no)
    if isinstance(value, dict) and value == {"Ref": "AWS::NoValue"}:
        return []
    return [value]


def statements(template):
    """(resource, statement) for every statement of every identity policy."""
    out = []
    for name, res in template.get("Resources", {}).items():
        props = res.get("Properties", {})
        docs = []
        if res["Type"] == "AWS::IAM::Role":
            docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
        elif res["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            docs = [props["PolicyDocument"]]
        for doc in docs:
            st = doc["Statement"]
            for s in st if isinstance(st, list) else [st]:
                for b in branches(s):
                    out.append((name, b))
    return out


def as_list(v):
    return v if isinstance(v, list) else [v]


def allowed_actions(template):
    """Every action an Allow statement grants, and what in them is not a plain action."""
    got, problems = set(), []
    for name, s in statements(template):
        if s.get("Effect") != "Allow":
            continue
        if "NotAction" in s or "NotResource" in s:
            problems.append("%s: an Allow with NotAction/NotResource grants more than it names" % name)
        for a in as_list(s.get("Action", [])):
            if not isinstance(a, str) or "*" in a or "?" in a:
                problems.append("%s: action %r is a pattern, not one action" % (name, a))
            got.add(a)
    return got, problems


def names_used(value, out):
    """Collects (kind, name) for every Ref, GetAtt, Sub variable and Condition."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref" and isinstance(v, str):
                out.add(("ref", v))
            elif k == "Fn::GetAtt":
                out.add(("resource", v[0]))
            elif k == "Fn::Sub":
                text = v if isinstance(v, str) else v[0]
                local = set() if isinstance(v, str) else set(v[1])
                for var in re.findall(r"\$\{([^}!]+)\}", text):
                    if var not in local:
                        out.add(("ref", var.split(".", 1)[0]))
                if not isinstance(v, str):
                    names_used(v[1], out)
            elif k == "Fn::If":
                out.add(("condition", v[0]))
                names_used(v[1:], out)
            elif k == "Condition" and isinstance(v, str):
                out.add(("condition", v))
            else:
                names_used(v, out)
    elif isinstance(value, list):
        for v in value:
            names_used(v, out)


def structure_problems(template):
    problems = []
    if template.get("AWSTemplateFormatVersion") != "2010-09-09":
        problems.append("AWSTemplateFormatVersion is not 2010-09-09")
    params = set(template.get("Parameters", {}))
    resources = template.get("Resources", {})
    conditions = set(template.get("Conditions", {}))
    used = set()
    names_used({k: v for k, v in template.items() if k != "Parameters"}, used)
    for name, res in resources.items():
        if not re.fullmatch(r"AWS::\w+::\w+", res.get("Type", "")):
            problems.append("%s: Type %r" % (name, res.get("Type")))
    for kind, name in sorted(used):
        if kind == "ref" and name not in params | set(resources) | PSEUDO:
            problems.append("names %r, which is no parameter, resource or pseudo parameter" % name)
        elif kind == "resource" and name not in resources:
            problems.append("!GetAtt of %r, which is no resource" % name)
        elif kind == "condition" and name not in conditions:
            problems.append("condition %r is not defined" % name)
    for p in params:
        if ("ref", p) not in used:
            problems.append("parameter %r is never used" % p)
    return problems


def pattern_matches(pattern, event):
    """EventBridge matching for what these rules use: lists of exact values and
    {"anything-but": value}, nested objects; every field named must match."""
    for key, want in pattern.items():
        if key not in event:
            return False
        have = event[key]
        if isinstance(want, dict):
            if not isinstance(have, dict) or not pattern_matches(want, have):
                return False
            continue
        ok = False
        for w in want:
            if isinstance(w, dict) and "anything-but" in w:
                ok = ok or have not in as_list(w["anything-but"])
            else:
                ok = ok or have == w
        if not ok:
            return False
    return True


def resolve(value, params, role_arn):
    """Fills !Ref parameters and the role's !GetAtt into an event pattern."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return params[value["Ref"]]
        if set(value) == {"Fn::GetAtt"}:
            return role_arn
        return {k: resolve(v, params, role_arn) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, params, role_arn) for v in value]
    return value


class ActionTableTest(unittest.TestCase):
    maxDiff = None

    def test_the_table_holds_every_action_once_and_the_code_uses_each(self):
        rows = action_table()
        self.assertEqual(sorted(rows), sorted(action_enum()),
                         "src/aws/actions.c and enum sr_aws_action in aws.h disagree")
        names = [r[1] for r in rows.values()]
        self.assertEqual(len(names), len(set(names)))
        for enum, (svc, name, perm, grant) in rows.items():
            self.assertEqual(perm, ("iam:" if svc == "SR_AWS_IAM" else "sts:") + name, enum)
            self.assertIn(grant, ("TARGET", "SERVICE", "NONE"), enum)
        used = set()
        for top, _, files in os.walk(os.path.join(ROOT, "src")):
            for f in files:
                if f.endswith(".c") and f != "actions.c":
                    used |= set(re.findall(r"\bSR_AWS_\w+\b", read(os.path.join(top, f))))
        self.assertEqual(sorted(e for e in rows if e not in used), [],
                         "rows of the table that no code calls: the templates would grant them")


class TemplateGrantsTest(unittest.TestCase):
    maxDiff = None

    def want(self, grant):
        return {r[2] for r in action_table().values() if r[3] == grant}

    def check_grants(self, template, grant):
        got, problems = allowed_actions(template)
        want = self.want(grant)
        return sorted(want - got), sorted(got - want), problems

    def test_the_workload_role_is_allowed_exactly_what_the_engine_calls(self):
        missing, extra, problems = self.check_grants(load(TARGET), "TARGET")
        self.assertEqual((missing, extra, problems), ([], [], []),
                         "target-account.yaml: (missing, not called by the engine, problems)")

    def test_the_service_principal_is_allowed_exactly_assume_role(self):
        missing, extra, problems = self.check_grants(load(CENTRAL), "SERVICE")
        self.assertEqual((missing, extra, problems), ([], [], []),
                         "central-account.yaml: (missing, not called by the engine, problems)")

    def test_the_check_fails_when_the_template_drops_or_adds_an_action(self):
        base = load(TARGET)
        for mutate, expect in (("drop iam:ListRoleTags", (["iam:ListRoleTags"], [])),
                               ("add iam:GetRole", ([], ["iam:GetRole"])),
                               ("add iam:*", ([], ["iam:*"]))):
            t = copy.deepcopy(base)
            for _, s in statements(t):
                if s.get("Effect") != "Allow":
                    continue
                acts = as_list(s["Action"])
                if mutate.startswith("drop") and mutate[5:] in acts:
                    acts.remove(mutate[5:])
                    s["Action"] = acts
                elif mutate.startswith("add") and s.get("Sid") == "ReadRoles":
                    s["Action"] = acts + [mutate[4:]]
            missing, extra, problems = self.check_grants(t, "TARGET")
            self.assertEqual((missing, extra), expect, mutate)
            if "*" in mutate:
                self.assertTrue(problems, mutate)

    def test_only_roles_and_never_itself(self):
        t = load(TARGET)
        for name, s in statements(t):
            if s.get("Effect") != "Allow":
                continue
            for r in as_list(s["Resource"]):
                if r == "*":
                    self.assertEqual(as_list(s["Action"]), ["iam:ListRoles"],
                                     "only ListRoles (no resource type) may have Resource *")
                    continue
                text = r["Fn::Sub"]
                if ":policy" in text:
                    # the targeted fallback's managed policy: only under its path
                    self.assertEqual(text, MANAGED_POLICY_ARN, s)
                    continue
                self.assertRegex(text, r"^arn:\$\{AWS::Partition\}:iam::\$\{AWS::AccountId\}:role[/$]",
                                 "an Allow on something other than this account's roles")
                if set(as_list(s["Action"])) & {"iam:AttachRolePolicy", "iam:DetachRolePolicy"}:
                    self.assertEqual(s.get("Condition"), {"ArnLike": {"iam:PolicyARN": {
                        "Fn::Sub": MANAGED_POLICY_ARN}}},
                        "the role may attach or detach only the service's own managed policy")
        writes = {"iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy",
                  "iam:DetachRolePolicy"}
        denies = [s for _, s in statements(t) if s.get("Effect") == "Deny"
                  and s["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:"
                                                   "role${RolePath}${RoleName}"}]
        self.assertEqual(len(denies), 1, "no Deny of writes on the role itself")
        self.assertEqual(set(as_list(denies[0]["Action"])), writes)
        role = t["Resources"]["ServiceRole"]["Properties"]
        self.assertEqual(role["AssumeRolePolicyDocument"]["Statement"], [{
            "Sid": "OnlyTheServiceWithItsExternalId", "Effect": "Allow",
            "Principal": {"AWS": {"Ref": "ServicePrincipalArn"}}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}}])
        self.assertTrue(t["Parameters"]["ExternalId"].get("NoEcho"), "the external id is echoed")


class AlertRuleTest(unittest.TestCase):
    ROLE = "arn:aws:iam::111111111111:role/SessionRevokerAdmin"

    def event(self, name, policy, issuer=ROLE):
        return {"source": "aws.iam", "detail-type": "AWS API Call via CloudTrail",
                "detail": {"eventSource": "iam.amazonaws.com", "eventName": name,
                           "userIdentity": {"type": "AssumedRole", "sessionContext": {
                               "sessionIssuer": {"type": "Role", "arn": issuer}}},
                           "requestParameters": {"roleName": "OpsecDeploy", "policyName": policy}}}

    def test_the_rule_alerts_on_every_foreign_inline_policy_write_by_the_role(self):
        t = load(TARGET)
        rule = t["Resources"]["ForeignInlinePolicyRule"]["Properties"]
        default = t["Parameters"]["DenyPolicyName"]["Default"]
        self.assertIn('"revoke.policy_name", "SR_REVOKE_POLICY_NAME", policy_name, "%s"' % default,
                      read(os.path.join(ROOT, "src", "config", "fields.c")),
                      "DenyPolicyName's default is not revoke.policy_name's")
        params = {"DenyPolicyName": default}
        pattern = resolve(rule["EventPattern"], params, self.ROLE)
        # Inline-policy writes; the managed-policy ones IAM itself holds to the
        # service's own policy path (Resource and iam:PolicyARN, checked above).
        writes = sorted(r[1] for r in action_table().values()
                        if r[3] == "TARGET" and re.fullmatch(r"(Put|Delete)RolePolicy", r[1]))
        self.assertEqual(sorted(pattern["detail"]["eventName"]), writes,
                         "the rule does not watch exactly the writes the role can make")
        for name in writes:
            self.assertTrue(pattern_matches(pattern, self.event(name, "Admin")), name)
            self.assertFalse(pattern_matches(pattern, self.event(name, default)), name)
            self.assertFalse(pattern_matches(pattern, self.event(
                name, "Admin", "arn:aws:iam::111111111111:role/SomeoneElse")), name)
        self.assertFalse(pattern_matches(pattern, self.event("AttachRolePolicy", "Admin")))
        targets = rule["Targets"]
        self.assertEqual(len(targets), 1)


def render(value, params, conditions):
    """The value with !Ref / !Sub of parameters and pseudo parameters filled
    and every Fn::If decided: what CloudFormation would create."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return params[value["Ref"]]
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return re.sub(r"\$\{([^}]+)\}", lambda m: params[m.group(1)], value["Fn::Sub"])
        if set(value) == {"Fn::If"}:
            name, yes, no = value["Fn::If"]
            return render(yes if conditions[name] else no, params, conditions)
        out = {}
        for k, v in value.items():
            v = render(v, params, conditions)
            if v is not NO_VALUE:
                out[k] = v
        return out
    if isinstance(value, list):
        return [v for v in (render(x, params, conditions) for x in value) if v is not NO_VALUE]
    return value


NO_VALUE = object()


def condition_value(expr, params, conditions):
    if isinstance(expr, dict) and set(expr) == {"Condition"}:
        return conditions[expr["Condition"]]
    (fn, args), = expr.items()
    if fn == "Fn::Equals":
        return render(args[0], params, conditions) == render(args[1], params, conditions)
    if fn == "Fn::Not":
        return not condition_value(args[0], params, conditions)
    if fn == "Fn::And":
        return all(condition_value(a, params, conditions) for a in args)
    if fn == "Fn::Or":
        return any(condition_value(a, params, conditions) for a in args)
    raise AssertionError("condition function %s is not modelled" % fn)


class LiveTemplateTest(EngineCase):
    """The role the template makes, in the fake AWS, used by the real binary."""

    ACCOUNT = "111111111111"

    def test_revoke_through_the_templates_role_and_its_narrowing(self):
        t = load(TARGET)
        seed = example_seed()
        service_arn = seed["base_credentials"][0]["arn"]
        params = {k: v.get("Default") for k, v in t["Parameters"].items()}
        params.update({"ServicePrincipalArn": service_arn, "ExternalId": EXTERNAL_ID,
                       "RoleName": ADMIN_ROLE, "ExcludedRolePattern": "/*BreakGlass*",
                       "AWS::Partition": "aws", "AWS::AccountId": self.ACCOUNT,
                       "AWS::NoValue": NO_VALUE})
        conditions = {}
        for name, expr in t["Conditions"].items():
            conditions[name] = condition_value(expr, params, conditions)
        role_props = render(t["Resources"]["ServiceRole"]["Properties"], params, conditions)
        role = seed_role(seed, self.ACCOUNT, ADMIN_ROLE)
        role["AssumeRolePolicyDocument"] = role_props["AssumeRolePolicyDocument"]
        # The fake models explicit denies only: the template's Deny statements
        # are what keeps the break-glass role (and the role itself) unwritten.
        role["inline_policies"] = {p["PolicyName"]: p["PolicyDocument"]
                                   for p in role_props["Policies"]}
        role["MaxSessionDuration"] = role_props["MaxSessionDuration"]
        fake = self.start_fake(seed)
        config = self.write_config(accounts=[{"id": self.ACCOUNT, "role_name": ADMIN_ROLE,
                                              "external_id": EXTERNAL_ID}])

        run = self.run_cli(fake, "revoke", "team_opsec", config, at="30 minutes ago", expect=1)
        roles = run.roles()
        glass = roles[self.ACCOUNT + "/OpsecBreakGlass"]
        self.assertEqual(glass["outcome"], "failed", run.describe())
        self.assertIn("AccessDenied", glass["error"], run.describe())
        self.assertEqual(roles[self.ACCOUNT + "/TeamWildcardReadOnly"]["outcome"], "denied",
                         run.describe())
        state = fake.state()["accounts"][self.ACCOUNT]["roles"]
        self.assertNotIn(POLICY_NAME, state["OpsecBreakGlass"]["inline_policies"])
        self.assertIn(POLICY_NAME, state["TeamWildcardReadOnly"]["inline_policies"])

        # Every call the binary made is one the templates grant (or one that
        # needs no permission), by the principal that holds it.
        table = action_table().values()
        target = {r[1] for r in table if r[3] == "TARGET"}
        service = {r[1] for r in table if r[3] in ("SERVICE", "NONE")}
        calls = fake.calls()
        self.assertTrue(calls)
        role_arn = state[ADMIN_ROLE]["Arn"]
        for c in calls:
            if c.get("caller_arn") == service_arn:
                self.assertIn(c["action"], service, c)
            else:
                self.assertIn(":assumed-role/%s/" % ADMIN_ROLE, c.get("caller_arn", ""), c)
                self.assertIn(c["action"], target, c)

        # The alert stays quiet for the engine's own writes, and would fire for
        # the same write of another policy.
        rule = t["Resources"]["ForeignInlinePolicyRule"]["Properties"]
        pattern = resolve(rule["EventPattern"], params, role_arn)
        writes = [c for c in calls if c["action"] in ("PutRolePolicy", "DeleteRolePolicy")]
        self.assertTrue(writes)
        for c in writes:
            ev = AlertRuleTest().event(c["action"], c["policy"], role_arn)
            self.assertFalse(pattern_matches(pattern, ev), c)
            self.assertTrue(pattern_matches(pattern, AlertRuleTest().event(
                c["action"], "AdministratorAccess", role_arn)), c)


POLICY_NAME = "session-revoker-deny"


class TemplateValidTest(unittest.TestCase):
    maxDiff = None

    def test_every_name_a_template_uses_is_defined(self):
        for path in (TARGET, CENTRAL):
            self.assertEqual(structure_problems(load(path)), [], os.path.basename(path))

    def test_the_structure_check_sees_an_undefined_name(self):
        t = load(TARGET)
        t["Resources"]["ForeignInlinePolicyRule"]["Properties"]["Targets"][0]["Arn"] = {
            "Ref": "NoSuchTopic"}
        self.assertEqual(structure_problems(t),
                         ["names 'NoSuchTopic', which is no parameter, resource or pseudo parameter"])

    def test_cfn_lint_passes(self):
        self.assertTrue(os.access(CFN_LINT, os.X_OK),
                        "tools/cfn-lint is not installed: run scripts/install-deps.sh")
        for path in (TARGET, CENTRAL):
            p = subprocess.run([CFN_LINT, "validate", "--verbose", path], capture_output=True,
                               text=True, timeout=120, env=dict(os.environ, FORCE_COLOR="0"))
            out = re.sub(r"\x1b\[[0-9;]*m", "", p.stdout + p.stderr)
            self.assertEqual(p.returncode, 0, out)
            self.assertIn("Template valid!", out)
            self.assertIn("0 crit", out)


if __name__ == "__main__":
    unittest.main()
