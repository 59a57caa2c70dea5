"""IAM identity-policy evaluation for the fake AWS (tests/fakes/fake_aws.py).

Decides, as IAM would inside one account, whether a role session may perform an
action, from the statements of the role's inline policies and the default
versions of its attached managed policies.  No permissions boundaries, session
policies, SCPs or resource-based policies: this project only writes identity
policies, and its tests only need to ask "is this session refused?".

The rules, and the IAM User Guide pages they come from:

- Evaluation: a request is implicitly denied unless an applicable Allow
  statement allows it; an applicable Deny statement anywhere overrides every
  Allow ("explicit deny").
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_AccessPolicyLanguage_Interplay.html
- A statement applies when its Action (or NotAction) and Resource (or
  NotResource) match and every condition in its Condition block holds: several
  operators are ANDed, several keys under one operator are ANDed, several
  values for one key are ORed (NORed for a negated operator).
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html
- Context key names are case-insensitive; values are compared as the operator
  says (StringEquals is case-sensitive, ...IgnoreCase is not).
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html
- A key absent from the request context makes the condition false, except for
  negated operators (StringNotEquals, StringNotLike, DateNotEquals...), which
  are then true, and for ...IfExists (true when absent) and Null.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
- ForAnyValue: true when at least one value of the request matches; false when
  the key is absent (also with ...IfExists).  ForAllValues: true when every value of the request
  matches, and true when the key is absent.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
- Date operators take the W3C profile of ISO 8601 (YYYY, YYYY-MM, YYYY-MM-DD,
  YYYY-MM-DDThh:mmTZD, YYYY-MM-DDThh:mm:ssTZD, YYYY-MM-DDThh:mm:ss.sTZD) or
  epoch (Unix) seconds.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
- aws:SourceIdentity is set once at federation time and persists through role
  chaining; a chained session has its own aws:TokenIssueTime.  Session tags
  (aws:PrincipalTag/<key>) reach a chained session only when transitive.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_monitor.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html

Unsupported operators (Numeric*, Bool, IpAddress, Arn*, Binary*) make their
statement not apply, and are listed in the answer's "unsupported" so that a
test sees it rather than trusting a wrong answer.
"""

import datetime
import json
import re

EXPLICIT_DENY = "explicitDeny"  # the words of IAM's policy simulator (EvalDecision)
ALLOWED = "allowed"
IMPLICIT_DENY = "implicitDeny"

_UTC = datetime.timezone.utc

# The W3C profile of ISO 8601 (https://www.w3.org/TR/NOTE-datetime).
_W3C_RE = re.compile(
    r"(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<frac>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2}))?)?)?", re.ASCII)


class UnsupportedCondition(Exception):
    """A condition operator this evaluator does not model."""


def parse_iam_date(value):
    """A date as IAM's Date operators read it: the W3C profile of ISO 8601 or
    epoch seconds.  Returns an aware datetime; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, _UTC)
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_UTC)
    text = str(value).strip()
    if re.fullmatch(r"\d+", text) and len(text) != 4:  # "2026" is a year, not 1970
        return datetime.datetime.fromtimestamp(int(text), _UTC)
    m = _W3C_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"not an ISO 8601 (W3C) date or epoch seconds: {text!r}")
    micro = int((m["frac"] or "0")[:6].ljust(6, "0"))
    dt = datetime.datetime(int(m["y"]), int(m["mo"] or 1), int(m["d"] or 1),
                           int(m["h"] or 0), int(m["mi"] or 0), int(m["s"] or 0), micro)
    tz = m["tz"]
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        offset = datetime.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
        return dt.replace(tzinfo=datetime.timezone(sign * offset))
    return dt.replace(tzinfo=_UTC)


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _like(pattern, value, ignore_case=False):
    """IAM's wildcards: * any run of characters, ? one character (no classes)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                    for c in str(pattern))
    return re.fullmatch(regex, str(value), re.S | (re.I if ignore_case else 0)) is not None


def _string_match(base, have, want):
    if base in ("StringEquals", "StringNotEquals"):
        return str(have) == str(want)
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return str(have).lower() == str(want).lower()
    return _like(want, have)  # StringLike, StringNotLike


_DATE_CMP = {
    "DateEquals": lambda a, b: a == b, "DateNotEquals": lambda a, b: a == b,
    "DateLessThan": lambda a, b: a < b, "DateLessThanEquals": lambda a, b: a <= b,
    "DateGreaterThan": lambda a, b: a > b, "DateGreaterThanEquals": lambda a, b: a >= b,
}
_STRING_OPS = ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase",
               "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike")
_NEGATED = ("StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "DateNotEquals")


def _value_matches(base, have, wanted):
    """One request value against the policy's values for one key, for a
    positive operator (OR over the policy's values)."""
    if base in _STRING_OPS:
        return any(_string_match(base, have, w) for w in wanted)
    try:
        have_dt = parse_iam_date(have)
        wanted_dt = [parse_iam_date(w) for w in wanted]
    except (ValueError, TypeError, OverflowError):
        return False
    return any(_DATE_CMP[base](have_dt, w) for w in wanted_dt)


def _key_holds(op, key, wanted, ctx):
    """Whether one key under one operator holds for the request context."""
    qualifier, _, base = op.rpartition(":")
    if_exists = base.endswith("IfExists")
    if if_exists:
        base = base[:-len("IfExists")]
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedCondition(op)
    wanted = _as_list(wanted)
    present = key.lower() in ctx and ctx[key.lower()] is not None
    if base == "Null" and not qualifier:
        want_absent = [str(w).lower() == "true" for w in wanted]
        return any(w == (not present) for w in want_absent)
    if base not in _STRING_OPS and base not in _DATE_CMP:
        raise UnsupportedCondition(op)
    negated = base in _NEGATED
    if not present:
        # The set operators decide first: ForAnyValue is false on an absent key
        # even with ...IfExists (re:Post, "ForAnyValue:StringEqualsIfExists
        # behaving unexpectedly", answered from the multi-valued keys page).
        if qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        if if_exists:
            return True
        return negated
    values = _as_list(ctx[key.lower()])
    if not qualifier:
        # A single-valued key (a list here would be a test's mistake: use ForAnyValue).
        have = values[0] if values else None
        hit = _value_matches(base, have, wanted)
        return not hit if negated else hit
    results = []
    for have in values:
        hit = _value_matches(base, have, wanted)
        results.append(not hit if negated else hit)
    if qualifier == "ForAnyValue":
        return any(results)
    return all(results)


def condition_holds(condition, ctx):
    """Whether a statement's whole Condition block holds (AND over operators
    and keys).  ctx: lower-case key -> value (str, datetime, or list for a
    multi-valued key); an absent key is not in ctx.  Raises UnsupportedCondition
    for an operator it does not model."""
    if not condition:
        return True
    if not isinstance(condition, dict):
        raise UnsupportedCondition("Condition is not an object")
    for op, entries in condition.items():
        if not isinstance(entries, dict):
            raise UnsupportedCondition(f"{op}: not an object")
        for key, wanted in entries.items():
            if not _key_holds(op, key, wanted, ctx):
                return False
    return True


def _action_matches(statement, action):
    if "NotAction" in statement:
        return not any(_like(a, action, ignore_case=True)
                       for a in _as_list(statement["NotAction"]))
    return any(_like(a, action, ignore_case=True) for a in _as_list(statement.get("Action")))


def _resource_matches(statement, resource):
    if "NotResource" in statement:
        return not any(_like(r, resource) for r in _as_list(statement["NotResource"]))
    return any(r == "*" or _like(r, resource) for r in _as_list(statement.get("Resource")))


def session_context(session, now=None):
    """The request context keys of a session.  session: source_identity (None
    when the session has none), principal_tags ({key: value}), token_issue_time
    (a date as parse_iam_date reads it), and optionally chained (bool) with
    transitive_tag_keys, principal_arn, userid, current_time.

    chained: the session on the second role of a chain, made from a first
    session with these source identity and tags: token_issue_time is the
    chained session's own, the source identity is kept, and of the tags only
    those named in transitive_tag_keys are kept (none when it is absent: "If
    you choose not to specify a transitive tag key, then no tags are passed
    from this session to any subsequent sessions", STS API Reference,
    AssumeRole TransitiveTagKeys)."""
    if not isinstance(session, dict):
        raise ValueError("session must be an object")
    unknown = set(session) - {"source_identity", "principal_tags", "token_issue_time",
                              "chained", "transitive_tag_keys", "principal_arn", "userid",
                              "current_time"}
    if unknown:
        raise ValueError(f"session: unknown field(s) {sorted(unknown)}")
    if "token_issue_time" not in session:
        raise ValueError("session: token_issue_time is required")
    ctx = {"aws:tokenissuetime": parse_iam_date(session["token_issue_time"])}
    current = session.get("current_time", now)
    if current is not None:
        ctx["aws:currenttime"] = parse_iam_date(current)
    source_identity = session.get("source_identity")
    if source_identity is not None:
        if not isinstance(source_identity, str):
            raise ValueError("session: source_identity must be a string or null")
        ctx["aws:sourceidentity"] = source_identity
    tags = session.get("principal_tags") or {}
    if not isinstance(tags, dict):
        raise ValueError("session: principal_tags must be an object")
    transitive = session.get("transitive_tag_keys")
    if transitive is not None and not isinstance(transitive, list):
        raise ValueError("session: transitive_tag_keys must be a list")
    keep = None
    if session.get("chained"):
        keep = {str(k).lower() for k in transitive or []}
    for key, value in tags.items():
        if keep is not None and key.lower() not in keep:
            continue
        if not isinstance(value, str):
            raise ValueError(f"session: principal tag {key!r} must have a string value")
        ctx["aws:principaltag/" + key.lower()] = value
    for field, key in (("principal_arn", "aws:principalarn"), ("userid", "aws:userid")):
        if session.get(field) is not None:
            ctx[key] = str(session[field])
    return ctx


def evaluate(policies, action, resource, ctx):
    """Decide one request.  policies: [(source, document text or dict)] where
    source names the policy (e.g. "inline:NAME" or a managed policy ARN).
    Returns {"decision": "explicitDeny" | "allowed" | "implicitDeny",
    "allowed": bool, "matched": [...], "unsupported": [...]}."""
    denies, allows, unsupported = [], [], []
    for source, doc in policies:
        if isinstance(doc, str):
            try:
                doc = json.loads(doc)
            except ValueError:
                continue
        if not isinstance(doc, dict):
            continue
        for index, st in enumerate(_as_list(doc.get("Statement"))):
            if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny"):
                continue
            if not _action_matches(st, action) or not _resource_matches(st, resource):
                continue
            try:
                holds = condition_holds(st.get("Condition"), ctx)
            except UnsupportedCondition as exc:
                unsupported.append({"policy": source, "statement": index,
                                    "sid": st.get("Sid"), "operator": str(exc)})
                continue
            if holds:
                hit = {"policy": source, "statement": index, "sid": st.get("Sid"),
                       "effect": st["Effect"]}
                (denies if st["Effect"] == "Deny" else allows).append(hit)
    if denies:
        decision, matched = EXPLICIT_DENY, denies
    elif allows:
        decision, matched = ALLOWED, allows
    else:
        decision, matched = IMPLICIT_DENY, []
    return {"decision": decision, "allowed": decision == ALLOWED, "matched": matched,
            "unsupported": unsupported}

