#!/usr/bin/python3
"""A fake AWS IAM + STS endpoint for session-revoker's tests.

One HTTP server speaks the IAM (2010-05-08) and STS (2011-06-15) Query APIs with the
real XML responses and error bodies, keeps several accounts at once, and verifies
every request's SigV4 signature with botocore (Debian's python3-botocore: run it with
/usr/bin/python3).

Command line:

    /usr/bin/python3 tests/fakes/fake_aws.py --seed SEED.json [--port 0]
        [--host 127.0.0.1] [--state-file PATH] [--random-seed N] [--verbose]

prints exactly one line ``fake-aws listening on http://HOST:PORT`` when ready and
serves until SIGTERM/SIGINT (exit status 0; --state-file then receives the state JSON).
When the --state-file already exists at start, its roles and inline policies are
loaded instead of the seed's (credentials still come from the seed), so a restart
carries on from the state the last run left.

From Python:

    fake = FakeAws(seed_dict).start()
    fake.url, fake.port, fake.state(), fake.calls(), fake.set_faults([...]),
    fake.set_clock(offset_seconds=7200), fake.reset_counters(), fake.stop(),
    fake.evaluate(role_arn, "s3:GetObject", session={...} or access_key_id=...)

Control API on the same server (no signature): ``GET /_fake/health``,
``GET /_fake/state``, ``GET|POST /_fake/faults``, ``POST /_fake/reset-counters``,
``GET|POST /_fake/clock``, ``GET /_fake/calls[?since=SEQ]``, ``POST /_fake/reset``,
``GET|POST /_fake/config``, ``POST /_fake/evaluate`` (fake.evaluate(): would IAM
let this session do that?).  See tests/fakes/README.md.
"""

import argparse
import asyncio
import base64
import binascii
import datetime
import fnmatch
import functools
import hashlib
import hmac
import json
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from email.utils import parsedate_to_datetime
from xml.sax.saxutils import escape

try:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from aiohttp import web
except ImportError:  # pragma: no cover - wrong interpreter
    sys.stderr.write("fake_aws.py needs botocore and aiohttp: run it with /usr/bin/python3 "
                     "(Debian's python3-botocore, python3-aiohttp)\n")
    raise
# iam_policy.py sits beside this file (the evaluation of identity policies).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iam_policy  # noqa: E402

try:
    import uvloop
except ImportError:  # pragma: no cover - optional, only faster
    uvloop = None

IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
IAM_VERSION = "2010-05-08"
STS_VERSION = "2011-06-15"
IAM_REGION = "us-east-1"

IAM_ACTIONS = ("ListRoles", "GetRole", "ListRoleTags", "ListRolePolicies", "GetRolePolicy",
               "PutRolePolicy", "DeleteRolePolicy",
               # managed policies
               "CreatePolicy", "GetPolicy", "DeletePolicy", "CreatePolicyVersion",
               "GetPolicyVersion", "ListPolicyVersions", "DeletePolicyVersion",
               "AttachRolePolicy", "DetachRolePolicy", "ListAttachedRolePolicies",
               "ListEntitiesForPolicy")
# Paths of roles AWS lets no one edit (IAM Identity Center's, service-linked).
PROTECTED_PATHS = ("/aws-reserved/sso.amazonaws.com/", "/aws-service-role/")
STS_ACTIONS = ("GetCallerIdentity", "AssumeRole", "AssumeRoleWithWebIdentity")
UNSIGNED_ACTIONS = ("AssumeRoleWithWebIdentity",)

FAULT_KINDS = ("latency", "throttle", "error500", "error503", "expired", "reset")
# IAM's quotas (IAM User Guide, "IAM and AWS STS quotas", reference_iam-quotas.html),
# all counted without whitespace: a role's inline policies share 10,240 characters,
# a managed policy holds 6,144, a role takes 10 managed policies by default (the
# quota can be raised to 20: seed "managed_policies_per_role"), and a managed
# policy keeps at most 5 versions (API Reference, CreatePolicyVersion).
INLINE_POLICY_BUDGET = 10240
MANAGED_POLICY_SIZE = 6144
MANAGED_POLICIES_PER_ROLE = 10
MANAGED_POLICY_VERSIONS = 5
SIGNATURE_WINDOW = datetime.timedelta(minutes=15)
MAX_BODY = 1 << 20
MAX_CALL_LOG = 100000

NAME_RE = re.compile(r"^[\w+=,.@-]+$")
POLICY_ARN_RE = re.compile(r"^arn:aws:iam::(\d{12}|aws):policy/(?:[\x21-\x7e]*/)?"
                           r"([\w+=,.@-]{1,128})$")
ROLE_ARN_RE = re.compile(r"^arn:aws:iam::(\d{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})$")
SIGV4_FMT = "%Y%m%dT%H%M%SZ"

MSG_INVALID_TOKEN = "The security token included in the request is invalid."
MSG_EXPIRED_TOKEN = "The security token included in the request is expired"
MSG_BAD_SIGNATURE = ("The request signature we calculated does not match the signature "
                     "you provided. Check your AWS Secret Access Key and signing method. "
                     "Consult the service documentation for details.")


class AwsError(Exception):
    """An error answered as an AWS Query API ErrorResponse."""

    def __init__(self, status, code, message, error_type="Sender"):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.error_type = error_type


def _validation(message):
    return AwsError(400, "ValidationError", message)


# ---------------------------------------------------------------------------- time

def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _iso(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value):
    """ISO 8601 (with or without zone; none means UTC) or Unix seconds."""
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return datetime.datetime.fromtimestamp(float(text), datetime.timezone.utc)
    if re.fullmatch(r"\d{8}T\d{6}Z", text):
        return datetime.datetime.strptime(text, SIGV4_FMT).replace(tzinfo=datetime.timezone.utc)
    dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt


# ---------------------------------------------------------------------------- XML

class _Rendered(str):
    """An element already rendered by _xml (at the indent it will sit at)."""


def _xml(tag, content, indent=0):
    """content: None / [] -> <Tag/>, list of (tag, content) -> nested,
    _Rendered -> used as it is, else text."""
    if isinstance(content, _Rendered):
        return content
    pad = "  " * indent
    if content is None or (isinstance(content, list) and not content):
        return f"{pad}<{tag}/>"
    if isinstance(content, list):
        inner = "\n".join(_xml(t, c, indent + 1) for t, c in content)
        return f"{pad}<{tag}>\n{inner}\n{pad}</{tag}>"
    if isinstance(content, bool):
        content = "true" if content else "false"
    return f"{pad}<{tag}>{escape(str(content))}</{tag}>"


@functools.lru_cache(maxsize=65536)
def _role_member_xml(path, name, role_id, arn, created, trust, description, max_session):
    # A ListRoles <member> as it sits in the answer (indent 3). Large fan-outs
    # list the same roles again and again; rendering each once keeps the fake
    # from being the bottleneck of the benchmark.
    role = {"Path": path, "RoleName": name, "RoleId": role_id, "Arn": arn,
            "CreateDate": created, "AssumeRolePolicyDocument": trust,
            "Description": description, "MaxSessionDuration": max_session}
    return _Rendered(_xml("member", FakeAws._role_xml(role), 3))


def _with_ns(doc, tag, ns):
    return doc.replace(f"<{tag}>", f'<{tag} xmlns="{ns}">', 1)


def response_xml(action, ns, result, request_id):
    children = []
    if result is not None:
        children.append((action + "Result", result))
    children.append(("ResponseMetadata", [("RequestId", request_id)]))
    tag = action + "Response"
    return _with_ns(_xml(tag, children), tag, ns) + "\n"


def error_xml(err, ns, request_id):
    doc = _xml("ErrorResponse", [
        ("Error", [("Type", err.error_type), ("Code", err.code), ("Message", err.message)]),
        ("RequestId", request_id),
    ])
    return _with_ns(doc, "ErrorResponse", ns) + "\n"


ERROR_SHAPES = ("aws", "errors", "html")


def error_body(shape, err, ns, request_id):
    """An error answer as AWS writes it ("aws": <ErrorResponse><Error>), as some
    IAM-compatible endpoints wrap it ("errors": <ErrorResponse><Errors><Error>),
    or as a proxy in front would answer ("html": no error code at all)."""
    if shape == "errors":
        doc = _xml("ErrorResponse", [
            ("Errors", [("Error", [("Type", err.error_type), ("Code", err.code),
                                   ("Message", err.message)])]),
            ("RequestId", request_id),
        ])
        return _with_ns(doc, "ErrorResponse", ns) + "\n"
    if shape == "html":
        return (f"<html><head><title>{err.status} Refused</title></head>\n"
                f"<body><h1>Refused</h1><p>the gateway refused request {request_id}</p>"
                "</body></html>\n")
    return error_xml(err, ns, request_id)


def _policy_url(text):
    """Policy documents travel URL-encoded (RFC 3986) inside IAM's XML."""
    return _quote_cached(text)


@functools.lru_cache(maxsize=65536)
def _quote_cached(text):
    # Trust policies are URL-encoded again for every ListRoles page; Python's
    # quote() is slow enough on long strings to dominate a large fan-out.
    return urllib.parse.quote(text, safe="")


# ---------------------------------------------------------------------------- helpers

def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _glob(pattern, value, ignore_case=True):
    if not isinstance(pattern, str):
        return False
    if ignore_case:
        return fnmatch.fnmatchcase(value.lower(), pattern.lower())
    return fnmatch.fnmatchcase(value, pattern)


def _compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _hash_id(prefix, *parts, length=17):
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return prefix + base64.b32encode(digest).decode()[:length]


def _role_arn(account, path, name):
    return f"arn:aws:iam::{account}:role{path}{name}"


def _decode_jwt_claims(token):
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not three parts")
    seg = parts[1] + "=" * (-len(parts[1]) % 4)
    claims = json.loads(base64.urlsafe_b64decode(seg.encode()))
    if not isinstance(claims, dict):
        raise ValueError("claims are not an object")
    return claims


def _validate_policy(text, allow_principal=False):
    """Rough IAM validation of an identity policy; returns the parsed document."""
    try:
        doc = json.loads(text)
    except (ValueError, TypeError):
        raise AwsError(400, "MalformedPolicyDocument", "Syntax errors in policy.")
    if not isinstance(doc, dict):
        raise AwsError(400, "MalformedPolicyDocument", "Syntax errors in policy.")
    if "Version" not in doc:
        raise AwsError(400, "MalformedPolicyDocument", "Missing required field Version")
    if doc["Version"] not in ("2012-10-17", "2008-10-17"):
        raise AwsError(400, "MalformedPolicyDocument",
                       "The policy must contain a valid version string")
    if "Statement" not in doc:
        raise AwsError(400, "MalformedPolicyDocument", "Missing required field Statement")
    statements = _as_list(doc["Statement"])
    if not statements:
        raise AwsError(400, "MalformedPolicyDocument", "Syntax errors in policy.")
    for st in statements:
        if not isinstance(st, dict):
            raise AwsError(400, "MalformedPolicyDocument", "Syntax errors in policy.")
        if st.get("Effect") not in ("Allow", "Deny"):
            raise AwsError(400, "MalformedPolicyDocument", "Missing required field Effect")
        if "Action" not in st and "NotAction" not in st:
            raise AwsError(400, "MalformedPolicyDocument", "Missing required field Action")
        if not allow_principal and ("Principal" in st or "NotPrincipal" in st):
            raise AwsError(400, "MalformedPolicyDocument",
                           "Policy document should not specify a principal.")
    return doc


# ---------------------------------------------------------------------------- SigV4

class _SignedHeaders(dict):
    """lower-case header name -> [values as received], for the headers a request
    says it signed; what botocore's canonical_headers() reads (iteration and
    get_all), without email.message's linear, lower-casing lookups."""

    def get_all(self, name, failobj=None):
        return self.get(name, failobj)


class _RequestSigV4(SigV4Auth):
    """botocore's SigV4 signer, made to sign exactly the headers the request says it
    signed (SignedHeaders=...) instead of every header botocore would pick."""

    def __init__(self, credentials, service_name, region_name, signed_headers):
        super().__init__(credentials, service_name, region_name)
        self._signed_headers = signed_headers

    def headers_to_sign(self, request):
        return self._signed_headers


_AMZ_DATE_RE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z", re.ASCII)


@functools.lru_cache(maxsize=256)
def _parse_amz_date(text):
    """'20261125T084231Z' -> aware datetime; ValueError when not that form.
    (strptime costs ~15 us a call; every request carries one of these.)"""
    m = _AMZ_DATE_RE.fullmatch(text)
    if m is None:
        raise ValueError(text)
    return datetime.datetime(*map(int, m.groups()), tzinfo=datetime.timezone.utc)


def _parse_authorization(value):
    """'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...'."""
    if not value.startswith("AWS4-HMAC-SHA256 "):
        raise AwsError(400, "IncompleteSignature",
                       "Authorization header requires the AWS4-HMAC-SHA256 algorithm. "
                       f"Authorization={value.split(' ', 1)[0]}")
    fields = {}
    for part in value[len("AWS4-HMAC-SHA256 "):].split(","):
        key, sep, val = part.strip().partition("=")
        if sep:
            fields[key] = val
    for required in ("Credential", "SignedHeaders", "Signature"):
        if required not in fields:
            raise AwsError(400, "IncompleteSignature",
                           f"Authorization header requires '{required}' parameter. "
                           f"Authorization={value}")
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise AwsError(400, "IncompleteSignature",
                       "Credential should be scoped to a valid region, not "
                       f"'{scope[2] if len(scope) > 2 else ''}'. ")
    return {
        "access_key_id": scope[0], "scope_date": scope[1], "region": scope[2],
        "service": scope[3],
        "signed_headers": [h.strip().lower() for h in fields["SignedHeaders"].split(";") if h],
        "signature": fields["Signature"].strip(),
    }


# ---------------------------------------------------------------------------- the fake

class FakeAws:
    """The fake IAM + STS world and its HTTP server."""

    def __init__(self, seed, host="127.0.0.1", port=0, random_seed=None, verbose=False,
                 shard=None):
        """shard: None, or (index, count, key) to be one of `count` processes that
        serve one world together behind a router (bench/fanout): this one owns
        the IAM state of its share of the accounts (owns()), and session
        credentials are self-contained (a token MACed with the shared `key`, the
        secret derived from it) so that whichever shard issued them, the one
        owning the account can check them.  Its session key ids carry the owning
        shard's index as their fifth character, which the router reads."""
        if shard is not None:
            index, count, key = shard
            if not (isinstance(count, int) and 0 <= index < count <= 10 and key):
                raise ValueError("shard must be (index, count <= 10, key)")
            shard = (index, count, key.encode() if isinstance(key, str) else key)
        self.shard = shard
        self.seed = json.loads(json.dumps(seed or {}))  # private deep copy
        self.host = host
        self.requested_port = port
        if random_seed is None:
            random_seed = self.seed.get("random_seed")
        self.random_seed = random_seed
        self.verbose = verbose
        self.lock = threading.RLock()
        self._loop = None
        self._runner = None
        self._thread = None
        self.port = None
        self.url = None
        self._load_world()

    # -- world ----------------------------------------------------------------

    def _load_world(self):
        with self.lock:
            seed = self.seed
            self.rng = random.Random(self.random_seed)
            # Shards draw different keys from the same seed.
            stream = "" if self.shard is None else f"-shard{self.shard[0]}"
            self.cred_rng = (random.Random(f"creds-{self.random_seed}{stream}")
                             if self.random_seed is not None else random.SystemRandom())
            self.clock_offset = datetime.timedelta(0)
            self.signing_offset = datetime.timedelta(0)
            self.max_page_size = seed.get("max_page_size")
            self.error_shape = seed.get("error_shape") or "aws"
            self.keys = {}
            for cred in seed.get("base_credentials", []):
                account = str(cred["account"])
                arn = cred.get("arn") or f"arn:aws:iam::{account}:user/fake"
                self.keys[cred["access_key_id"]] = {
                    "kind": "base", "access_key_id": cred["access_key_id"],
                    "secret": cred["secret_access_key"],
                    "token": cred.get("session_token"),
                    "expiration": (_parse_time(cred["expiration"])
                                   if cred.get("expiration") else None),
                    "account": account, "arn": arn,
                    "user_id": cred.get("user_id") or _hash_id("AIDA", arn),
                }
            self.sessions = {}
            self.accounts = {}
            self.policies_per_role = int(seed.get("managed_policies_per_role")
                                         or MANAGED_POLICIES_PER_ROLE)
            for account, spec in (seed.get("accounts") or {}).items():
                account = str(account)
                policies = {}
                for pspec in (spec or {}).get("managed_policies", []):
                    policy = self._policy_from_seed(account, pspec)
                    policies[policy["Arn"]] = policy
                roles = {}
                for rspec in (spec or {}).get("roles", []):
                    role = self._role_from_seed(account, rspec)
                    for arn in rspec.get("attached_policies") or []:
                        if arn not in policies:
                            raise ValueError(f"role {role['RoleName']}: attached policy "
                                             f"{arn} is not among the account's "
                                             "managed_policies")
                        if arn not in role["attached_policies"]:
                            role["attached_policies"].append(arn)
                    roles[role["RoleName"].lower()] = role
                self.accounts[account] = {"roles": roles, "policies": policies}
            base_accounts = {k["account"] for k in self.keys.values()}
            others = sorted(a for a in self.accounts if a not in base_accounts)
            count = self.shard[1] if self.shard else 1
            self.owner = {a: 0 for a in base_accounts}
            self.owner.update({a: i % count for i, a in enumerate(others)})
            self.oidc_providers = list(seed.get("oidc_providers") or [])
            self.saml_providers = list(seed.get("saml_providers") or [])
            self.faults = self._parse_faults(seed.get("faults") or [])
            self.call_counts = {}
            self.call_counts_ok = {}
            self.call_log = []
            self.call_seq = 0

    def _role_from_seed(self, account, spec):
        name = spec["RoleName"]
        path = spec.get("Path") or "/"
        if not (path.startswith("/") and path.endswith("/")):
            raise ValueError(f"role {name}: Path must begin and end with '/'")
        trust = spec.get("AssumeRolePolicyDocument") or {"Version": "2012-10-17",
                                                          "Statement": []}
        trust_text = trust if isinstance(trust, str) else _compact(trust)
        digest = int(hashlib.sha256(f"{account}/{name}".encode()).hexdigest(), 16)
        created = (datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
                   + datetime.timedelta(seconds=digest % (60 * 86400)))
        policies = {}
        for pname, pdoc in (spec.get("inline_policies") or {}).items():
            policies[pname] = pdoc if isinstance(pdoc, str) else _compact(pdoc)
        role = {
            "RoleName": name, "Path": path,
            "RoleId": spec.get("RoleId") or _hash_id("AROA", account, name),
            "Arn": _role_arn(account, path, name),
            "CreateDate": spec.get("CreateDate") or _iso(created),
            "AssumeRolePolicyDocument": trust_text,
            "Description": spec.get("Description"),
            "MaxSessionDuration": int(spec.get("MaxSessionDuration") or 3600),
            "Tags": list(spec.get("Tags") or []),
            # AWS refuses inline policies on it (UnmodifiableEntity); true for
            # the protected paths, or set in the seed for any other role.
            "protected": bool(spec.get("protected")) or path.startswith(PROTECTED_PATHS),
            "RoleLastUsed": dict(spec.get("RoleLastUsed") or {}),
            "inline_policies": policies,
            "attached_policies": [],  # managed policy ARNs, in the order attached
        }
        # Render its ListRoles entry now, while seeding, not in the first
        # (timed) ListRoles that returns it.
        _role_member_xml(role["Path"], name, role["RoleId"], role["Arn"], role["CreateDate"],
                         trust_text, role["Description"], role["MaxSessionDuration"])
        return role

    def _policy_from_seed(self, account, spec):
        """A customer managed policy from the seed (or a state file):
        PolicyName, Path, Description, and either Document (one version, v1)
        or versions [{VersionId, Document, IsDefaultVersion}]."""
        name = spec["PolicyName"]
        path = spec.get("Path") or "/"
        if not (path.startswith("/") and path.endswith("/")):
            raise ValueError(f"policy {name}: Path must begin and end with '/'")
        arn = f"arn:aws:iam::{account}:policy{path}{name}"
        created = spec.get("CreateDate") or "2026-01-01T00:00:00Z"
        if "versions" in spec:
            vspecs = spec["versions"]
            vspecs = list(vspecs.values()) if isinstance(vspecs, dict) else list(vspecs)
        else:
            vspecs = [{"VersionId": "v1", "Document": spec["Document"],
                       "IsDefaultVersion": True}]
        versions, default = {}, None
        for v in vspecs:
            doc = v["Document"]
            versions[v["VersionId"]] = {
                "Document": doc if isinstance(doc, str) else _compact(doc),
                "CreateDate": v.get("CreateDate") or created}
            if v.get("IsDefaultVersion"):
                default = v["VersionId"]
        if default is None or not 1 <= len(versions) <= MANAGED_POLICY_VERSIONS:
            raise ValueError(f"policy {name}: 1 to {MANAGED_POLICY_VERSIONS} versions, "
                             "one of them the default")
        for vid in versions:
            if not re.fullmatch(r"v[1-9][0-9]*(\.[A-Za-z0-9-]*)?", vid):
                raise ValueError(f"policy {name}: {vid!r} is not a version id (v1, v2, ...)")
        numbers = [_version_number(v) for v in versions]
        return {"PolicyName": name, "Path": path, "Arn": arn,
                "PolicyId": spec.get("PolicyId") or _hash_id("ANPA", account, name),
                "Description": spec.get("Description"),
                "CreateDate": created, "UpdateDate": spec.get("UpdateDate") or created,
                "DefaultVersionId": default, "next_version": max(numbers) + 1,
                "versions": versions}

    def _parse_faults(self, faults):
        if isinstance(faults, dict):
            faults = faults.get("faults", [])
        if not isinstance(faults, list):
            raise ValueError("faults must be a list")
        parsed = []
        for f in faults:
            if not isinstance(f, dict):
                raise ValueError("each fault must be an object")
            kind = f.get("kind")
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
            entry = {
                "action": f.get("action", "*"), "kind": kind,
                "account": str(f["account"]) if f.get("account") is not None else None,
                "service": f.get("service"),
                "ms": int(f.get("ms", 0)),
                "probability": (float(f["probability"])
                                if f.get("probability") is not None else None),
                "count": int(f["count"]) if f.get("count") is not None else None,
                "hits": 0,
            }
            parsed.append(entry)
        return parsed

    def now(self):
        """The fake's clock: credential expiry, issue times and dates it hands out."""
        return _utcnow() + self.clock_offset

    def signing_now(self):
        """The clock X-Amz-Date is compared with (real time + signing offset)."""
        return _utcnow() + self.signing_offset

    # -- server ---------------------------------------------------------------

    def start(self):
        """Serve on a thread of its own running an asyncio loop (uvloop when
        installed): one thread answers every connection, so injected latency
        costs no thread and no GIL hand-over per call."""
        ready = threading.Event()
        failed = []

        def run():
            loop = uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                self._runner = loop.run_until_complete(self._serve())
            except BaseException as exc:  # noqa: BLE001 - handed to start()
                failed.append(exc)
                ready.set()
                loop.close()
                return
            self._loop = loop
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-aws", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            self._thread.join()
            raise failed[0]
        host = self.host if ":" not in self.host else f"[{self.host}]"
        self.url = f"http://{host}:{self.port}"
        return self

    async def _serve(self):
        # The low-level server: one handler for every path, no router or
        # middleware between it and the connection.  Bodies are capped at 1 MiB
        # (MAX_BODY), BaseRequest's default.
        # Header lines up to 64 KiB, as http.server allowed: session tokens have no
        # documented bound.
        runner = web.ServerRunner(web.Server(self._on_request, access_log=None,
                                             max_line_size=65536, max_field_size=65536),
                                  handle_signals=False)
        await runner.setup()
        # aiohttp's default backlog of 128 drops SYNs when a client opens
        # many connections at once; the retransmit costs 1 s.
        site = web.TCPSite(runner, self.host, self.requested_port, backlog=1024,
                           reuse_address=True, shutdown_timeout=0.5)
        await site.start()
        self.port = runner.addresses[0][1]
        return runner

    async def _on_request(self, request):
        if request.method not in ("GET", "POST"):  # the Query API and /_fake/ use no other
            return web.Response(status=405, text=f"method {request.method} not allowed\n",
                                headers={"Allow": "GET, POST"})
        expect = request.headers.get("Expect")
        if expect is not None:  # what aiohttp's router would do; the low-level server doesn't
            if expect.lower() != "100-continue":
                return web.Response(status=417, text=f"Expect: {expect} not understood\n")
            if request.version >= (1, 1):
                await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            response = web.Response(status=413, text="request body too large\n")
            response.force_close()
            return response
        if request.path.startswith("/_fake/"):
            status, obj = self.control(request.method, request.path, request.query_string,
                                       body)
            return web.Response(status=status, content_type="application/json",
                                text=json.dumps(obj, indent=1) + "\n")
        call = self.arrive(request.method, request.raw_path, request.headers, body)
        if call["delay"]:
            # As on AWS, a call that arrived is carried out even when its client
            # goes away meanwhile: aiohttp versions that cancel the handler on
            # disconnect cancel this wait, not the timer.
            done = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_later(call["delay"], self._carry_out, call, done)
            result = await done
        else:
            result = self.answer(call)
        if result == "reset":
            # Close without answering; SO_LINGER 0 makes the close a real RST.
            transport = request.transport
            sock = transport.get_extra_info("socket") if transport else None
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                except OSError:
                    pass
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError()
        status, headers, out = result
        return web.Response(status=status, headers=headers, body=out)

    def _carry_out(self, call, done):
        try:
            result = self.answer(call)
        except Exception as exc:  # noqa: BLE001 - a bug: aiohttp answers 500
            if not done.done():
                done.set_exception(exc)
            raise
        if not done.done():
            done.set_result(result)

    def stop(self):
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self):
        return self.start() if self._loop is None else self

    def __exit__(self, *exc):
        self.stop()

    # -- control (also used by the /_fake API) ----------------------------------

    def state(self):
        with self.lock:
            now = self.now()
            accounts = {}
            for account, acc in sorted(self.accounts.items()):
                roles = {}
                for role in sorted(acc["roles"].values(), key=lambda r: r["RoleName"]):
                    entry = {k: v for k, v in role.items() if k != "inline_policies"}
                    entry["AssumeRolePolicyDocument"] = _loads_or_text(
                        role["AssumeRolePolicyDocument"])
                    entry["inline_policies"] = {n: _loads_or_text(t) for n, t in
                                                sorted(role["inline_policies"].items())}
                    roles[role["RoleName"]] = entry
                accounts[account] = {"roles": roles,
                                     "managed_policies": self._policies_state(acc)}
            sessions = []
            for s in self.sessions.values():
                sessions.append({k: (_iso(v) if isinstance(v, datetime.datetime) else v)
                                 for k, v in s.items()
                                 if k not in ("secret", "token", "kind")})
                sessions[-1]["expired"] = now >= s["expiration"]
            return {
                "now": _iso(now),
                "clock_offset_seconds": self.clock_offset.total_seconds(),
                "signing_offset_seconds": self.signing_offset.total_seconds(),
                "accounts": accounts,
                "base_credentials": [{"access_key_id": k["access_key_id"],
                                      "account": k["account"], "arn": k["arn"]}
                                     for k in self.keys.values()],
                "oidc_providers": self.oidc_providers,
                "saml_providers": self.saml_providers,
                "sessions": sessions,
                "call_counts": json.loads(json.dumps(self.call_counts)),
                "call_counts_ok": json.loads(json.dumps(self.call_counts_ok)),
                "calls_total": self.call_seq,
                "faults": [dict(f) for f in self.faults],
                "max_page_size": self.max_page_size,
                "shard": None if self.shard is None else {
                    "index": self.shard[0], "count": self.shard[1],
                    "accounts": sorted(a for a in self.accounts if self.owns(a))},
            }

    @staticmethod
    def _policies_state(acc):
        """An account's managed policies as state() shows them (documents parsed)."""
        attached = {}
        for role in acc["roles"].values():
            for arn in role["attached_policies"]:
                attached[arn] = attached.get(arn, 0) + 1
        out = {}
        for arn, p in sorted(acc.get("policies", {}).items()):
            entry = {k: v for k, v in p.items() if k not in ("versions", "next_version")}
            entry["AttachmentCount"] = attached.get(arn, 0)
            entry["versions"] = [{"VersionId": vid,
                                  "IsDefaultVersion": vid == p["DefaultVersionId"],
                                  "CreateDate": v["CreateDate"],
                                  "Document": _loads_or_text(v["Document"])}
                                 for vid, v in sorted(p["versions"].items(),
                                                      key=lambda kv: _version_number(kv[0]))]
            out[arn] = entry
        return out

    def calls(self, since=0):
        with self.lock:
            return [dict(c) for c in self.call_log if c["seq"] > since]

    def set_faults(self, faults):
        parsed = self._parse_faults(faults)
        with self.lock:
            self.faults = parsed
        return [dict(f) for f in parsed]

    def set_trust_policy(self, account, role_name, policy):
        """Replaces a role's trust policy, as its owner would with IAM's
        UpdateAssumeRolePolicy (tests: a trust edited after a revocation)."""
        with self.lock:
            role = self.accounts[str(account)]["roles"][role_name.lower()]
            role["AssumeRolePolicyDocument"] = (policy if isinstance(policy, str)
                                                else _compact(policy))

    def reset_counters(self):
        with self.lock:
            self.call_counts = {}
            self.call_counts_ok = {}
            self.call_log = []

    def set_clock(self, offset_seconds=None, advance_seconds=None,
                  signing_offset_seconds=None):
        with self.lock:
            if offset_seconds is not None:
                self.clock_offset = datetime.timedelta(seconds=float(offset_seconds))
            if advance_seconds is not None:
                self.clock_offset += datetime.timedelta(seconds=float(advance_seconds))
            if signing_offset_seconds is not None:
                self.signing_offset = datetime.timedelta(seconds=float(signing_offset_seconds))
            return self.clock()

    def clock(self):
        with self.lock:
            return {"now": _iso(self.now()),
                    "offset_seconds": self.clock_offset.total_seconds(),
                    "signing_offset_seconds": self.signing_offset.total_seconds()}

    def reset(self):
        """Back to the seed: roles, sessions, faults, counters, clock."""
        self._load_world()

    def config(self, changes=None):
        with self.lock:
            if changes and "max_page_size" in changes:
                v = changes["max_page_size"]
                self.max_page_size = int(v) if v else None
            if changes and "error_shape" in changes:
                if changes["error_shape"] not in ERROR_SHAPES:
                    raise ValueError(f"error_shape must be one of {ERROR_SHAPES}")
                self.error_shape = changes["error_shape"]
            return {"max_page_size": self.max_page_size, "error_shape": self.error_shape}

    def control(self, method, path, query, body):
        """The /_fake/ control API: (HTTP status, JSON-able answer)."""
        path = path.rstrip("/")
        try:
            data = json.loads(body) if body.strip() else None
        except ValueError as exc:
            return 400, {"error": f"bad JSON: {exc}"}
        try:
            if path == "/_fake/health":
                return 200, {"ok": True, "cpu_seconds": time.process_time()}
            if path == "/_fake/state" and method == "GET":
                return 200, self.state()
            if path == "/_fake/faults" and method == "GET":
                with self.lock:
                    return 200, [dict(f) for f in self.faults]
            if path == "/_fake/faults" and method == "POST":
                return 200, self.set_faults(data or [])
            if path == "/_fake/reset-counters" and method == "POST":
                self.reset_counters()
                return 200, {"ok": True}
            if path == "/_fake/clock" and method == "GET":
                return 200, self.clock()
            if path == "/_fake/clock" and method == "POST":
                data = data or {}
                return 200, self.set_clock(data.get("offset_seconds"),
                                           data.get("advance_seconds"),
                                           data.get("signing_offset_seconds"))
            if path == "/_fake/calls" and method == "GET":
                q = urllib.parse.parse_qs(query)
                return 200, self.calls(int(q.get("since", ["0"])[0]))
            if path == "/_fake/reset" and method == "POST":
                self.reset()
                return 200, {"ok": True}
            if path == "/_fake/config":
                return 200, self.config(data if method == "POST" else None)
            if path == "/_fake/evaluate" and method == "POST":
                if not isinstance(data, dict):
                    raise ValueError("the body must be a JSON object: role_arn, action, "
                                     "session or access_key_id, resource")
                unknown = set(data) - {"role_arn", "action", "session", "access_key_id",
                                       "resource"}
                if unknown:
                    raise ValueError(f"unknown field(s) {sorted(unknown)}")
                return 200, self.evaluate(data.get("role_arn"), data.get("action"),
                                          session=data.get("session"),
                                          access_key_id=data.get("access_key_id"),
                                          resource=data.get("resource", "*"))
            return 404, {"error": f"no control endpoint {method} {path}"}
        except (ValueError, TypeError, KeyError) as exc:
            return 400, {"error": str(exc)}

    # -- faults ---------------------------------------------------------------

    def _take_faults(self, kinds, service, action, account):
        """Matching faults of the given kinds that fire now (counts consumed)."""
        fired = []
        with self.lock:
            for f in self.faults:
                if f["kind"] not in kinds:
                    continue
                if f["action"] not in ("*", action):
                    continue
                if f["service"] and f["service"] != service:
                    continue
                if f["account"] and f["account"] != account:
                    continue
                if f["count"] is not None and f["count"] <= 0:
                    continue
                if f["probability"] is not None and self.rng.random() >= f["probability"]:
                    continue
                if f["count"] is not None:
                    f["count"] -= 1
                f["hits"] += 1
                fired.append(dict(f))
        return fired

    # -- request handling ------------------------------------------------------

    def arrive(self, method, raw_path, headers, body):
        """First half of a call: parse it, find the caller's account and take the
        faults that act on arrival.  The caller waits call["delay"] seconds (the
        injected latency, outside any lock) before answer(call)."""
        request_id = str(uuid.uuid4())
        split = urllib.parse.urlsplit(raw_path)
        entry = {"method": method, "service": None, "action": None, "account": None,
                 "caller_account": None, "caller_arn": None, "access_key_id": None,
                 "role": None, "policy": None, "status": None, "error_code": None,
                 "signature_ok": None, "signed_headers": None, "fault": None,
                 "request_id": request_id}
        call = {"method": method, "split": split, "headers": headers, "body": body,
                "entry": entry, "started": time.monotonic(), "delay": 0.0,
                "ns": IAM_NS, "error": None}
        try:
            params = self._params(split.query, headers, body)
            action = params.get("Action")
            entry["action"] = action
            auth_value = headers.get("Authorization")
            auth = _parse_authorization(auth_value) if auth_value else None
            if auth:
                service = auth["service"]
            elif action in STS_ACTIONS or params.get("Version") == STS_VERSION:
                service = "sts"
            else:
                service = "iam"
            entry["service"] = service
            call["ns"] = STS_NS if service == "sts" else IAM_NS
            if auth:
                entry["access_key_id"] = auth["access_key_id"]
                entry["signed_headers"] = ";".join(auth["signed_headers"])
            entry["role"] = params.get("RoleName")
            entry["policy"] = params.get("PolicyName")
            role_arn = ROLE_ARN_RE.match(params.get("RoleArn") or "")
            if role_arn:
                entry["role"] = role_arn.group(2)
            key = self._credential(auth["access_key_id"], headers) if auth else None
            caller_account = key["account"] if key else None
            account = role_arn.group(1) if (service == "sts" and role_arn) else caller_account
            entry["account"] = account
            entry["caller_account"] = caller_account
            call.update(params=params, action=action, auth=auth, service=service,
                        account=account)
            for f in self._take_faults(("latency",), service, action, account):
                entry["fault"] = "latency"
                call["delay"] += f["ms"] / 1000.0
        except AwsError as err:
            call["error"] = err
        return call

    def answer(self, call):
        """Second half of a call: the reset fault, authentication, the other faults
        and the action itself.  Returns (status, headers, body bytes) or 'reset'."""
        entry = call["entry"]
        request_id = entry["request_id"]
        ns = call["ns"]
        try:
            if call["error"] is not None:
                raise call["error"]
            service, action, account = call["service"], call["action"], call["account"]
            if self._take_faults(("reset",), service, action, account):
                entry["fault"] = "reset"
                entry["status"] = 0
                self._record(entry, call["started"])
                return "reset"

            auth = call["auth"]
            if auth is None:
                if not (service == "sts" and action in UNSIGNED_ACTIONS):
                    raise AwsError(403, "MissingAuthenticationToken",
                                   "Request is missing Authentication Token")
                ident = None
            else:
                ident = self._authenticate(auth, call["method"], call["split"],
                                           call["headers"], call["body"], entry)
                entry["signature_ok"] = True
                entry["caller_arn"] = ident["arn"]

            fired = self._take_faults(("throttle", "error500", "error503", "expired"),
                                      service, action, account)
            if fired:
                entry["fault"] = fired[0]["kind"]
                raise {"throttle": AwsError(400, "Throttling", "Rate exceeded"),
                       "error500": AwsError(500, "InternalFailure",
                                            "The request processing has failed because of "
                                            "an unknown error, exception or failure.",
                                            "Receiver"),
                       "error503": AwsError(503, "ServiceUnavailable",
                                            "The request has failed due to a temporary "
                                            "failure of the server.", "Receiver"),
                       "expired": AwsError(403, "ExpiredToken", MSG_EXPIRED_TOKEN),
                       }[fired[0]["kind"]]

            result_action, result = self._dispatch(service, action, call["params"], ident)
            doc = response_xml(result_action, ns, result, request_id)
            status = 200
        except AwsError as err:
            entry["error_code"] = err.code
            doc = error_body(self.error_shape, err, ns, request_id)
            status = err.status
        entry["status"] = status
        self._record(entry, call["started"])
        out_headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
        return status, out_headers, doc.encode("utf-8")

    def _params(self, query, headers, body):
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if body:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise AwsError(400, "MalformedQueryString", "Request body is not UTF-8")
            pairs += urllib.parse.parse_qsl(text, keep_blank_values=True)
        params = {}
        for k, v in pairs:
            params.setdefault(k, v)
        return params

    def _record(self, entry, started):
        with self.lock:
            self.call_seq += 1
            entry["seq"] = self.call_seq
            entry["time"] = _iso(self.now())
            entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
            self.call_log.append(entry)
            if len(self.call_log) > MAX_CALL_LOG:
                del self.call_log[:len(self.call_log) - MAX_CALL_LOG]
            acct = entry["account"] or "-"
            action = entry["action"] or "-"
            counts = self.call_counts.setdefault(acct, {})
            counts[action] = counts.get(action, 0) + 1
            if entry["status"] and 200 <= entry["status"] < 300:
                ok = self.call_counts_ok.setdefault(acct, {})
                ok[action] = ok.get(action, 0) + 1
        if self.verbose:
            sys.stderr.write("fake-aws: " + json.dumps(entry) + "\n")

    # -- authentication -------------------------------------------------------

    def _authenticate(self, auth, method, split, headers, body, entry):
        akid = auth["access_key_id"]
        cred = self._credential(akid, headers)
        with self.lock:
            cred = dict(cred) if cred else None
            now = self.now()
            signing_now = self.signing_now()
        if "host" not in auth["signed_headers"]:
            raise AwsError(400, "IncompleteSignature",
                           "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                           "Authorization.")
        if cred is None:
            raise AwsError(403, "InvalidClientTokenId", MSG_INVALID_TOKEN)
        token = headers.get("X-Amz-Security-Token")
        if cred["token"]:
            if token is None or not hmac.compare_digest(token.encode("utf-8", "replace"),
                                                        cred["token"].encode()):
                raise AwsError(403, "InvalidClientTokenId", MSG_INVALID_TOKEN)
            if cred.get("expiration") and now >= cred["expiration"]:
                raise AwsError(403, "ExpiredToken", MSG_EXPIRED_TOKEN)
        elif token is not None:
            raise AwsError(403, "InvalidClientTokenId", MSG_INVALID_TOKEN)

        amz_date = headers.get("X-Amz-Date")
        if amz_date is None and headers.get("Date"):
            try:
                amz_date = parsedate_to_datetime(headers["Date"]).astimezone(
                    datetime.timezone.utc).strftime(SIGV4_FMT)
            except (TypeError, ValueError):
                amz_date = headers["Date"]
        if amz_date is None:
            raise AwsError(400, "IncompleteSignature",
                           "Authorization header requires existence of either a "
                           "'X-Amz-Date' or a 'Date' header.")
        try:
            stamp = _parse_amz_date(amz_date)
        except ValueError:
            raise AwsError(400, "IncompleteSignature",
                           f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. "
                           "See http://en.wikipedia.org/wiki/ISO_8601")
        if auth["scope_date"] != amz_date[:8]:
            raise AwsError(403, "SignatureDoesNotMatch",
                           "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                           f"version of date from HTTP: '{auth['scope_date']}' != "
                           f"'{amz_date[:8]}', from '{amz_date}'.")
        if stamp < signing_now - SIGNATURE_WINDOW:
            raise AwsError(403, "SignatureDoesNotMatch",
                           f"Signature expired: {amz_date} is now earlier than "
                           f"{(signing_now - SIGNATURE_WINDOW).strftime(SIGV4_FMT)} "
                           f"({signing_now.strftime(SIGV4_FMT)} - 15 min.)")
        if stamp > signing_now + SIGNATURE_WINDOW:
            raise AwsError(403, "SignatureDoesNotMatch",
                           f"Signature not yet current: {amz_date} is still later than "
                           f"{(signing_now + SIGNATURE_WINDOW).strftime(SIGV4_FMT)} "
                           f"({signing_now.strftime(SIGV4_FMT)} + 15 min.)")
        if auth["service"] not in ("iam", "sts"):
            raise AwsError(403, "SignatureDoesNotMatch",
                           "Credential should be scoped to correct service: 'iam'. ")
        if auth["service"] == "iam" and auth["region"] != IAM_REGION:
            raise AwsError(403, "SignatureDoesNotMatch",
                           "Credential should be scoped to a valid region. ")
        content_sha = headers.get("X-Amz-Content-SHA256")
        if content_sha is not None and content_sha != hashlib.sha256(body).hexdigest():
            raise AwsError(400, "XAmzContentSHA256Mismatch",
                           "The provided 'x-amz-content-sha256' header does not match "
                           "what was computed.")

        expected, canonical = self._expected_signature(auth, cred, method, split,
                                                       headers, body, amz_date)
        if not hmac.compare_digest(expected.encode(), auth["signature"].encode("utf-8",
                                                                              "replace")):
            entry["signature_ok"] = False
            entry["canonical_request"] = canonical
            raise AwsError(403, "SignatureDoesNotMatch", MSG_BAD_SIGNATURE)
        return cred

    def _credential(self, akid, headers):
        """The base key or session behind an access key id, or None.  A shard
        also takes in a session another shard issued, when its token's MAC
        is good."""
        with self.lock:
            cred = self.keys.get(akid) or self.sessions.get(akid)
        if cred is not None or self.shard is None or not akid.startswith("ASIA"):
            return cred
        session = self._session_from_token(akid, headers.get("X-Amz-Security-Token"))
        if session is None:
            return None
        with self.lock:
            return self.sessions.setdefault(akid, session)

    # -- self-contained sessions (shards) ---------------------------------------

    _TOKEN_PREFIX = "IQoJb3JpZ2luX2VjEFAKE"

    def _shard_mac(self, what):
        return hmac.new(self.shard[2], what.encode(), hashlib.sha256)

    def _shard_secret(self, akid):
        return base64.b64encode(self._shard_mac("secret/" + akid).digest()).decode()[:40]

    def _shard_token(self, session):
        body = {k: (_iso(v) if isinstance(v, datetime.datetime) else v)
                for k, v in session.items() if k not in ("secret", "token")}
        payload = base64.urlsafe_b64encode(_compact(body).encode()).decode().rstrip("=")
        return f"{self._TOKEN_PREFIX}{payload}.{self._shard_mac(payload).hexdigest()}"

    def _session_from_token(self, akid, token):
        if not token or not token.startswith(self._TOKEN_PREFIX):
            return None
        payload, _, mac = token[len(self._TOKEN_PREFIX):].rpartition(".")
        if not hmac.compare_digest(mac.encode("utf-8", "replace"),
                                   self._shard_mac(payload).hexdigest().encode()):
            return None
        try:
            session = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            if session.get("access_key_id") != akid:
                return None
            for k in ("issued", "expiration"):
                session[k] = _parse_time(session[k])
        except (ValueError, TypeError, KeyError, binascii.Error):
            return None
        session["secret"] = self._shard_secret(akid)
        session["token"] = token
        return session

    def owns(self, account):
        """Whether this process keeps the IAM state of account (always, unless
        it is a shard)."""
        return self.shard is None or self.owner.get(account, 0) == self.shard[0]

    @staticmethod
    def _expected_signature(auth, cred, method, split, headers, body, amz_date):
        host = headers.get("Host") or "localhost"
        # The path as sent; botocore normalises and URI-encodes it again (SigV4 for
        # non-S3 services encodes the path twice).  The query goes in as decoded
        # parameters so that botocore encodes and sorts it the canonical way.
        request = AWSRequest(method=method, url=f"http://{host}{split.path or '/'}",
                             data=body,
                             params=[(urllib.parse.unquote(k), urllib.parse.unquote(v))
                                     for k, _, v in (p.partition("=") for p in
                                                     split.query.split("&") if p)])
        # Only the headers the request says it signed take part in the signature
        # (headers_to_sign), with every value each was sent with.
        signed = _SignedHeaders((name, []) for name in auth["signed_headers"])
        for name, value in headers.items():
            values = signed.get(name.lower())
            if values is not None:
                values.append(value)
        for name in [n for n, v in signed.items() if not v]:
            del signed[name]
        # The payload hash: the client's x-amz-content-sha256 (already checked
        # against the body) or the body's SHA-256, which is what botocore's
        # payload() computes for a plain-HTTP request, without preparing the
        # whole request first.
        request.headers = {"X-Amz-Content-SHA256": (headers.get("X-Amz-Content-SHA256") or
                                                    hashlib.sha256(body).hexdigest())}
        request.context["timestamp"] = amz_date
        signer = _RequestSigV4(Credentials(cred["access_key_id"], cred["secret"],
                                           cred["token"]),
                               auth["service"], auth["region"], signed)
        canonical = signer.canonical_request(request)
        try:
            string_to_sign = signer.string_to_sign(request, canonical)
        except UnicodeEncodeError:
            # A signed header with bytes that are not UTF-8 (aiohttp hands them over
            # as surrogates): no signature made in UTF-8 can match it.
            raise AwsError(403, "SignatureDoesNotMatch", MSG_BAD_SIGNATURE)
        return signer.signature(string_to_sign, request), canonical

    # -- evaluating a session's request as IAM would (iam_policy.py) -------------

    def _role_policies(self, account, role):
        """[(source, document)] of a role: its inline policies ("inline:NAME") and
        the default version of each attached managed policy (its ARN)."""
        out = [("inline:" + name, text) for name, text in role["inline_policies"].items()]
        policies = self.accounts.get(account, {}).get("policies", {})
        for arn in role["attached_policies"]:
            policy = policies.get(arn)
            if policy is not None:
                out.append((arn, policy["versions"][policy["DefaultVersionId"]]["Document"]))
        return out

    @staticmethod
    def _session_spec(session):
        """A session the fake issued, as iam_policy.session_context() takes it."""
        return {"source_identity": session.get("source_identity"),
                "principal_tags": dict(session.get("principal_tags") or {}),
                "token_issue_time": session["issued"],
                "principal_arn": session["role_arn"], "userid": session["user_id"]}

    def evaluate(self, role_arn, action, session=None, access_key_id=None, resource="*"):
        """Would IAM let this session of role_arn perform action on resource?

        session: {"source_identity": str or null, "principal_tags": {key: value},
        "token_issue_time": date, "chained": bool, "transitive_tag_keys": [...]}
        (see iam_policy.session_context), or access_key_id: a session this fake
        issued (its source identity, session tags and issue time).  The decision
        comes from the role's inline policies and the default versions of its
        attached managed policies: "explicitDeny" when a Deny statement applies
        (all its conditions hold), else "allowed" when an Allow does, else
        "implicitDeny".  ValueError for an unknown role or session or a
        malformed session."""
        if not isinstance(action, str) or ":" not in action:
            raise ValueError(f"action must be service:Action, not {action!r}")
        if not isinstance(resource, str) or not resource:
            raise ValueError("resource must be an ARN or *")
        m = ROLE_ARN_RE.match(role_arn or "") if isinstance(role_arn, str) else None
        if m is None:
            raise ValueError(f"not a role ARN: {role_arn!r}")
        with self.lock:
            role = self.accounts.get(m.group(1), {}).get("roles", {}).get(m.group(2).lower())
            if role is None or role["Arn"] != role_arn:
                raise ValueError(f"no role {role_arn} in the fake")
            if (session is None) == (access_key_id is None):
                raise ValueError("give either session or access_key_id")
            if access_key_id is not None:
                issued = self.sessions.get(access_key_id)
                if issued is None:
                    raise ValueError(f"no session with access key id {access_key_id}")
                if issued["role_arn"] != role["Arn"]:
                    raise ValueError(f"session {access_key_id} is a session of "
                                     f"{issued['role_arn']}, not of {role_arn}")
                session = self._session_spec(issued)
            ctx = iam_policy.session_context(session, now=self.now())
            ctx.setdefault("aws:principalarn", role["Arn"])
            ctx.setdefault("aws:principalaccount", m.group(1))
            result = iam_policy.evaluate(self._role_policies(m.group(1), role), action,
                                         resource, ctx)
        result.update(role_arn=role_arn, action=action, resource=resource,
                      context={k: (_iso(v) if isinstance(v, datetime.datetime) else v)
                               for k, v in sorted(ctx.items())})
        return result

    def _explicit_deny(self, ident, service, action, params):
        """The policy (inline:NAME or a managed policy ARN) whose Deny refuses
        this session's call, or None.  Only explicit denies are enforced on
        calls: everything not explicitly denied is allowed."""
        if ident is None or ident["kind"] != "session" or action == "GetCallerIdentity":
            return None
        role = self.accounts.get(ident["account"], {}).get("roles", {}).get(
            ident["role_name"].lower())
        if role is None:
            return None
        target = f"arn:aws:iam::{ident['account']}:role/*"
        if params.get("RoleName"):
            r = self.accounts[ident["account"]]["roles"].get(params["RoleName"].lower())
            target = r["Arn"] if r else _role_arn(ident["account"], "/", params["RoleName"])
        if params.get("RoleArn"):
            target = params["RoleArn"]
        if params.get("PolicyArn") and not params.get("RoleName"):
            target = params["PolicyArn"]
        ctx = iam_policy.session_context(self._session_spec(ident), now=self.now())
        ctx["aws:principalaccount"] = ident["account"]
        result = iam_policy.evaluate(self._role_policies(ident["account"], role),
                                     f"{service}:{action}", target, ctx)
        if result["decision"] == iam_policy.EXPLICIT_DENY:
            return result["matched"][0]["policy"]
        return None

    # -- actions --------------------------------------------------------------

    def _dispatch(self, service, action, params, ident):
        if not action:
            raise AwsError(400, "MissingAction",
                           "The request is missing an action or a required parameter.")
        version = params.get("Version")
        known = IAM_ACTIONS if service == "iam" else STS_ACTIONS
        if action not in known:
            raise AwsError(400, "InvalidAction",
                           f"Could not find operation {action} for version "
                           f"{version or (IAM_VERSION if service == 'iam' else STS_VERSION)}")
        want = IAM_VERSION if service == "iam" else STS_VERSION
        if version != want:
            raise AwsError(400, "InvalidParameterValue",
                           f"Could not find operation {action} for version {version}")
        if service == "iam" and ident is not None and not self.owns(ident["account"]):
            raise AwsError(500, "InternalFailure",
                           f"fake shard {self.shard[0]}/{self.shard[1]} does not keep account "
                           f"{ident['account']}: the router sent this call to the wrong shard",
                           "Receiver")
        with self.lock:
            denied_by = self._explicit_deny(ident, service, action, params)
            if denied_by is not None:
                resource = params.get("RoleArn") or (
                    f"arn:aws:iam::{ident['account']}:role/{params['RoleName']}"
                    if params.get("RoleName") else f"arn:aws:iam::{ident['account']}:role/")
                raise AwsError(403, "AccessDenied",
                               f"User: {ident['arn']} is not authorized to perform: "
                               f"{service}:{action} on resource: {resource} with an "
                               "explicit deny in an identity-based policy")
            handler = getattr(self, "_do_" + action)
            return action, handler(params, ident)

    def _account_roles(self, ident):
        return self._account(ident)["roles"]

    def _account(self, ident):
        return self.accounts.setdefault(ident["account"], {"roles": {}, "policies": {}})

    def _role(self, ident, params):
        name = _required(params, "RoleName", "roleName")
        _check_name(name, "roleName", 64)
        role = self._account_roles(ident).get(name.lower())
        if role is None:
            raise AwsError(404, "NoSuchEntity", f"The role with name {name} cannot be found.")
        return role

    @staticmethod
    def _role_xml(role, full=False):
        out = [("Path", role["Path"]), ("RoleName", role["RoleName"]),
               ("RoleId", role["RoleId"]), ("Arn", role["Arn"]),
               ("CreateDate", role["CreateDate"]),
               ("AssumeRolePolicyDocument", _policy_url(role["AssumeRolePolicyDocument"]))]
        if role.get("Description") is not None:
            out.append(("Description", role["Description"]))
        out.append(("MaxSessionDuration", role["MaxSessionDuration"]))
        if full:
            if role["Tags"]:
                out.append(("Tags", [("member", [("Key", t["Key"]), ("Value", t["Value"])])
                                     for t in role["Tags"]]))
            last = role["RoleLastUsed"]
            out.append(("RoleLastUsed", [(k, last[k]) for k in ("LastUsedDate", "Region")
                                         if last.get(k)]))
        return out

    def _page(self, items, params, kind, sort_key):
        max_items = params.get("MaxItems")
        if max_items is None or max_items == "":
            limit = 100
        else:
            try:
                limit = int(max_items)
            except ValueError:
                raise _validation(f"1 validation error detected: Value '{max_items}' at "
                                  "'maxItems' failed to satisfy constraint: Member must be "
                                  "a number")
            if not 1 <= limit <= 1000:
                raise _validation(f"1 validation error detected: Value '{limit}' at "
                                  "'maxItems' failed to satisfy constraint: Member must "
                                  "have value " + ("greater than or equal to 1"
                                                   if limit < 1 else
                                                   "less than or equal to 1000"))
        if self.max_page_size:
            limit = min(limit, int(self.max_page_size))
        items = sorted(items, key=sort_key)
        start = 0
        marker = params.get("Marker")
        if marker:
            try:
                m = json.loads(base64.b64decode(marker.encode(), validate=True))
                assert m["k"] == kind
                after = tuple(m["after"])
            except (ValueError, KeyError, TypeError, AssertionError, binascii.Error):
                raise _validation("Invalid Marker.")
            while start < len(items) and tuple(sort_key(items[start])) <= after:
                start += 1
        page = items[start:start + limit]
        truncated = start + limit < len(items)
        next_marker = None
        if truncated:
            next_marker = base64.b64encode(json.dumps(
                {"k": kind, "after": list(sort_key(page[-1]))}).encode()).decode()
        return page, truncated, next_marker

    def _do_ListRoles(self, params, ident):
        prefix = params.get("PathPrefix") or "/"
        roles = [r for r in self._account_roles(ident).values()
                 if r["Path"].startswith(prefix)]
        page, truncated, marker = self._page(
            roles, params, "roles", lambda r: (r["RoleName"].lower(), r["RoleName"]))
        result = [("IsTruncated", truncated)]
        if marker:
            result.append(("Marker", marker))
        result.append(("Roles", [("member", _role_member_xml(
            r["Path"], r["RoleName"], r["RoleId"], r["Arn"], r["CreateDate"],
            r["AssumeRolePolicyDocument"], r.get("Description"), r["MaxSessionDuration"]))
            for r in page]))
        return result

    def _do_GetRole(self, params, ident):
        return [("Role", self._role_xml(self._role(ident, params), full=True))]

    def _do_ListRoleTags(self, params, ident):
        role = self._role(ident, params)
        page, truncated, marker = self._page(role["Tags"], params, "tags:" + role["RoleName"],
                                             lambda t: (t["Key"].lower(), t["Key"]))
        result = [("Tags", [("member", [("Key", t["Key"]), ("Value", t["Value"])])
                            for t in page]),
                  ("IsTruncated", truncated)]
        if marker:
            result.append(("Marker", marker))
        return result

    @staticmethod
    def _modifiable(role):
        if role["protected"]:
            raise AwsError(400, "UnmodifiableEntity",
                           f"Cannot perform the operation on the protected role "
                           f"'{role['RoleName']}' - this role is only modifiable by AWS")

    def _do_ListRolePolicies(self, params, ident):
        role = self._role(ident, params)
        page, truncated, marker = self._page(list(role["inline_policies"]), params,
                                             "policies:" + role["RoleName"],
                                             lambda n: (n,))
        result = [("PolicyNames", [("member", n) for n in page]),
                  ("IsTruncated", truncated)]
        if marker:
            result.append(("Marker", marker))
        return result

    def _do_GetRolePolicy(self, params, ident):
        role = self._role(ident, params)
        pname = _required(params, "PolicyName", "policyName")
        text = role["inline_policies"].get(pname)
        if text is None:
            raise AwsError(404, "NoSuchEntity",
                           f"The role policy with name {pname} cannot be found.")
        return [("PolicyName", pname), ("RoleName", role["RoleName"]),
                ("PolicyDocument", _policy_url(text))]

    def _do_PutRolePolicy(self, params, ident):
        pname = _required(params, "PolicyName", "policyName")
        _check_name(pname, "policyName", 128)
        text = _required(params, "PolicyDocument", "policyDocument")
        role = self._role(ident, params)
        self._modifiable(role)
        doc = _validate_policy(text)
        total = len(pname) + len(_compact(doc))
        for other, other_text in role["inline_policies"].items():
            if other != pname:
                total += len(other) + len(_compact(_loads_or_text(other_text)))
        if total > INLINE_POLICY_BUDGET:
            raise AwsError(409, "LimitExceeded",
                           f"Maximum policy size of {INLINE_POLICY_BUDGET} bytes exceeded "
                           f"for role {role['RoleName']}")
        role["inline_policies"][pname] = text
        return None

    def _do_DeleteRolePolicy(self, params, ident):
        pname = _required(params, "PolicyName", "policyName")
        role = self._role(ident, params)
        self._modifiable(role)
        if pname not in role["inline_policies"]:
            raise AwsError(404, "NoSuchEntity",
                           f"The role policy with name {pname} cannot be found.")
        del role["inline_policies"][pname]
        return None

    # -- managed policies ------------------------------------------------------
    # Customer managed policies of the caller's account, as the IAM API Reference
    # describes CreatePolicy, CreatePolicyVersion, DeletePolicyVersion,
    # ListPolicyVersions, GetPolicy, GetPolicyVersion, DeletePolicy,
    # AttachRolePolicy, DetachRolePolicy and ListAttachedRolePolicies.  No AWS
    # managed policies (arn:aws:iam::aws:policy/...): they are NoSuchEntity here.

    def _policy(self, ident, params):
        arn = _required(params, "PolicyArn", "policyArn")
        if not POLICY_ARN_RE.match(arn):
            raise AwsError(400, "InvalidInput", f"ARN {arn} is not valid.")
        policy = self._account(ident)["policies"].get(arn)
        if policy is None:
            raise AwsError(404, "NoSuchEntity",
                           f"Policy {arn} does not exist or is not attachable.")
        return policy

    def _policy_document(self, params):
        """The PolicyDocument parameter, validated, within MANAGED_POLICY_SIZE."""
        text = _required(params, "PolicyDocument", "policyDocument")
        doc = _validate_policy(text)
        if len(_compact(doc)) > MANAGED_POLICY_SIZE:
            raise AwsError(409, "LimitExceeded",
                           f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}")
        return text

    def _attachments(self, ident, arn):
        return sum(arn in r["attached_policies"] for r in self._account_roles(ident).values())

    def _policy_xml(self, ident, policy):
        out = [("PolicyName", policy["PolicyName"]),
               ("DefaultVersionId", policy["DefaultVersionId"]),
               ("PolicyId", policy["PolicyId"]), ("Path", policy["Path"]),
               ("Arn", policy["Arn"]),
               ("AttachmentCount", self._attachments(ident, policy["Arn"])),
               ("PermissionsBoundaryUsageCount", 0), ("IsAttachable", True)]
        if policy.get("Description") is not None:
            out.append(("Description", policy["Description"]))
        out += [("CreateDate", policy["CreateDate"]), ("UpdateDate", policy["UpdateDate"])]
        return out

    @staticmethod
    def _version_xml(policy, vid, document=False):
        version = policy["versions"][vid]
        out = []
        if document:
            out.append(("Document", _policy_url(version["Document"])))
        out += [("VersionId", vid), ("IsDefaultVersion", vid == policy["DefaultVersionId"]),
                ("CreateDate", version["CreateDate"])]
        return out

    @staticmethod
    def _version_id(params):
        vid = _required(params, "VersionId", "versionId")
        if not re.fullmatch(r"v[1-9][0-9]*(\.[A-Za-z0-9-]*)?", vid):
            raise _validation(f"1 validation error detected: Value '{vid}' at 'versionId' "
                              "failed to satisfy constraint: Member must satisfy regular "
                              "expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?")
        return vid

    def _do_CreatePolicy(self, params, ident):
        name = _required(params, "PolicyName", "policyName")
        _check_name(name, "policyName", 128)
        path = params.get("Path") or "/"
        if not (path.startswith("/") and path.endswith("/")) or len(path) > 512:
            raise _validation(f"1 validation error detected: Value '{path}' at 'path' failed "
                              "to satisfy constraint: Member must satisfy regular expression "
                              "pattern: ((/[A-Za-z0-9\\.,\\+@=_-]+)*)/")
        text = self._policy_document(params)
        policies = self._account(ident)["policies"]
        # Policy names are unique in an account whatever their path, ignoring case.
        if any(p["PolicyName"].lower() == name.lower() for p in policies.values()):
            raise AwsError(409, "EntityAlreadyExists",
                           f"A policy called {name} already exists. Duplicate names are not "
                           "allowed.")
        now = _iso(self.now())
        arn = f"arn:aws:iam::{ident['account']}:policy{path}{name}"
        policy = {"PolicyName": name, "Path": path, "Arn": arn,
                  "PolicyId": _hash_id("ANPA", ident["account"], name, now),
                  "Description": params.get("Description"),
                  "CreateDate": now, "UpdateDate": now, "DefaultVersionId": "v1",
                  "next_version": 2, "versions": {"v1": {"Document": text, "CreateDate": now}}}
        policies[arn] = policy
        return [("Policy", self._policy_xml(ident, policy))]

    def _do_GetPolicy(self, params, ident):
        return [("Policy", self._policy_xml(ident, self._policy(ident, params)))]

    def _do_CreatePolicyVersion(self, params, ident):
        policy = self._policy(ident, params)
        text = self._policy_document(params)
        if len(policy["versions"]) >= MANAGED_POLICY_VERSIONS:
            raise AwsError(409, "LimitExceeded",
                           f"A managed policy can have up to {MANAGED_POLICY_VERSIONS} "
                           "versions. Before you create a new version, you must delete an "
                           "existing version.")
        now = _iso(self.now())
        vid = f"v{policy['next_version']}"
        policy["next_version"] += 1
        policy["versions"][vid] = {"Document": text, "CreateDate": now}
        if (params.get("SetAsDefault") or "").lower() == "true":
            policy["DefaultVersionId"] = vid
            policy["UpdateDate"] = now
        return [("PolicyVersion", self._version_xml(policy, vid))]

    def _existing_version(self, policy, params):
        vid = self._version_id(params)
        if vid not in policy["versions"]:
            raise AwsError(404, "NoSuchEntity",
                           f"Policy {policy['Arn']} version {vid} does not exist or is not "
                           "attachable.")
        return vid

    def _do_GetPolicyVersion(self, params, ident):
        policy = self._policy(ident, params)
        vid = self._existing_version(policy, params)
        return [("PolicyVersion", self._version_xml(policy, vid, document=True))]

    def _do_ListPolicyVersions(self, params, ident):
        policy = self._policy(ident, params)
        page, truncated, marker = self._page(
            list(policy["versions"]), params, "versions:" + policy["Arn"],
            lambda vid: (-_version_number(vid), vid))
        result = [("Versions", [("member", self._version_xml(policy, vid)) for vid in page]),
                  ("IsTruncated", truncated)]
        if marker:
            result.append(("Marker", marker))
        return result

    def _do_DeletePolicyVersion(self, params, ident):
        policy = self._policy(ident, params)
        vid = self._existing_version(policy, params)
        if vid == policy["DefaultVersionId"]:
            raise AwsError(409, "DeleteConflict",
                           "Cannot delete the default version of a policy.")
        del policy["versions"][vid]
        return None

    def _do_DeletePolicy(self, params, ident):
        policy = self._policy(ident, params)
        if self._attachments(ident, policy["Arn"]):
            raise AwsError(409, "DeleteConflict", "Cannot delete a policy attached to entities.")
        if len(policy["versions"]) > 1:
            raise AwsError(409, "DeleteConflict",
                           "This policy has more than one version. Before you delete a "
                           "policy, you must delete the policy's versions. The default "
                           "version is deleted with the policy.")
        del self._account(ident)["policies"][policy["Arn"]]
        return None

    def _do_AttachRolePolicy(self, params, ident):
        role = self._role(ident, params)
        policy = self._policy(ident, params)
        self._modifiable(role)
        if policy["Arn"] in role["attached_policies"]:
            return None  # attaching again changes nothing, as on IAM
        if len(role["attached_policies"]) >= self.policies_per_role:
            raise AwsError(409, "LimitExceeded",
                           f"Cannot exceed quota for PoliciesPerRole: {self.policies_per_role}")
        role["attached_policies"].append(policy["Arn"])
        return None

    def _do_DetachRolePolicy(self, params, ident):
        role = self._role(ident, params)
        arn = _required(params, "PolicyArn", "policyArn")
        if not POLICY_ARN_RE.match(arn):
            raise AwsError(400, "InvalidInput", f"ARN {arn} is not valid.")
        self._modifiable(role)
        if arn not in role["attached_policies"]:
            raise AwsError(404, "NoSuchEntity", f"Policy {arn} was not found.")
        role["attached_policies"].remove(arn)
        return None

    def _do_ListAttachedRolePolicies(self, params, ident):
        role = self._role(ident, params)
        prefix = params.get("PathPrefix") or "/"
        policies = self._account(ident)["policies"]
        attached = [policies[arn] for arn in role["attached_policies"]
                    if arn in policies and policies[arn]["Path"].startswith(prefix)]
        page, truncated, marker = self._page(
            attached, params, "attached:" + role["RoleName"],
            lambda p: (p["PolicyName"].lower(), p["Arn"]))
        result = [("AttachedPolicies", [("member", [("PolicyName", p["PolicyName"]),
                                                    ("PolicyArn", p["Arn"])]) for p in page]),
                  ("IsTruncated", truncated)]
        if marker:
            result.append(("Marker", marker))
        return result

    def _do_ListEntitiesForPolicy(self, params, ident):
        """The roles a managed policy is attached to (API Reference,
        ListEntitiesForPolicy: PolicyGroups, PolicyUsers, PolicyRoles, each
        paginated together by MaxItems/Marker).  This fake keeps no users or
        groups, so those lists are always empty; EntityFilter User or Group
        lists nothing, Role or none lists the roles."""
        policy = self._policy(ident, params)
        kind = params.get("EntityFilter") or ""
        if kind not in ("", "User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"):
            raise _validation(f"1 validation error detected: Value '{kind}' at 'entityFilter' "
                              "failed to satisfy constraint: Member must satisfy enum value "
                              "set: [User, Role, Group, LocalManagedPolicy, AWSManagedPolicy]")
        prefix = params.get("PathPrefix") or "/"
        roles = []
        if kind in ("", "Role"):
            roles = [r for r in self._account_roles(ident).values()
                     if policy["Arn"] in r["attached_policies"] and r["Path"].startswith(prefix)]
        page, truncated, marker = self._page(
            roles, params, "entities:" + policy["Arn"],
            lambda r: (r["RoleName"].lower(), r["RoleName"]))
        result = [("PolicyGroups", []), ("PolicyUsers", []),
                  ("PolicyRoles", [("member", [("RoleName", r["RoleName"]),
                                               ("RoleId", r["RoleId"])]) for r in page]),
                  ("IsTruncated", truncated)]
        if marker:
            result.append(("Marker", marker))
        return result

    def _do_GetCallerIdentity(self, params, ident):
        if ident is None:
            raise AwsError(403, "MissingAuthenticationToken",
                           "Request is missing Authentication Token")
        return [("Arn", ident["arn"]), ("UserId", ident["user_id"]),
                ("Account", ident["account"])]

    def _target_role(self, params, caller_arn, api):
        arn = _required(params, "RoleArn", "roleArn")
        m = ROLE_ARN_RE.match(arn)
        if not m:
            raise _validation(f"{arn} is invalid")
        role = self.accounts.get(m.group(1), {}).get("roles", {}).get(m.group(2).lower())
        if role is None or role["RoleName"] != m.group(2):
            raise AwsError(403, "AccessDenied",
                           f"User: {caller_arn} is not authorized to perform: {api} on "
                           f"resource: {arn}")
        return m.group(1), role, arn

    def _session_params(self, params, role, max_seconds=None):
        session_name = _required(params, "RoleSessionName", "roleSessionName")
        if not (2 <= len(session_name) <= 64) or not NAME_RE.match(session_name):
            raise _validation(f"1 validation error detected: Value '{session_name}' at "
                              "'roleSessionName' failed to satisfy constraint: Member must "
                              "satisfy regular expression pattern: [\\w+=,.@-]* and have "
                              "length between 2 and 64")
        raw = params.get("DurationSeconds")
        try:
            duration = int(raw) if raw not in (None, "") else 3600
        except ValueError:
            raise _validation(f"Value '{raw}' at 'durationSeconds' is not a number")
        if duration < 900:
            raise _validation(f"1 validation error detected: Value '{duration}' at "
                              "'durationSeconds' failed to satisfy constraint: Member must "
                              "have value greater than or equal to 900")
        if max_seconds is not None and duration > max_seconds:
            raise _validation("The requested DurationSeconds exceeds the 1 hour session "
                              "limit for roles assumed by role chaining.")
        if duration > role["MaxSessionDuration"]:
            raise _validation("The requested DurationSeconds exceeds the MaxSessionDuration "
                              "set for this role.")
        source_identity = params.get("SourceIdentity") or None
        if source_identity is not None and not (2 <= len(source_identity) <= 64
                                                and NAME_RE.match(source_identity)):
            raise _validation(f"Value '{source_identity}' at 'sourceIdentity' failed to "
                              "satisfy constraint")
        return session_name, duration, source_identity

    def _issue(self, account, role, session_name, duration, source_identity, via, extra):
        rng = self.cred_rng
        alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        # A shard's keys name the shard that owns the account: ASIA<index>...
        head = "ASIA" if self.shard is None else f"ASIA{self.owner.get(account, 0)}"
        while True:
            akid = head + "".join(rng.choice(alnum) for _ in range(20 - len(head)))
            if akid not in self.sessions and akid not in self.keys:
                break
        b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        secret = "".join(rng.choice(b64) for _ in range(40))
        token = self._TOKEN_PREFIX + base64.b64encode(
            bytes(rng.randrange(256) for _ in range(240))).decode()
        issued = self.now().replace(microsecond=0)
        expiration = issued + datetime.timedelta(seconds=duration)
        assumed_arn = f"arn:aws:sts::{account}:assumed-role/{role['RoleName']}/{session_name}"
        session = {
            "kind": "session", "access_key_id": akid, "secret": secret, "token": token,
            "account": account, "role_name": role["RoleName"], "role_arn": role["Arn"],
            "session_name": session_name, "arn": assumed_arn,
            "user_id": f"{role['RoleId']}:{session_name}",
            "issued": issued, "expiration": expiration,
            "source_identity": source_identity, "via": via,
        }
        session.update(extra)
        if self.shard is not None:
            session["secret"] = secret = self._shard_secret(akid)
            session["token"] = token = self._shard_token(session)
        self.sessions[akid] = session
        role["RoleLastUsed"] = {"LastUsedDate": _iso(issued), "Region": "us-east-1"}
        creds = [("AccessKeyId", akid), ("SecretAccessKey", secret),
                 ("SessionToken", token), ("Expiration", _iso(expiration))]
        user = [("Arn", assumed_arn), ("AssumedRoleId", session["user_id"])]
        return creds, user

    def _do_AssumeRole(self, params, ident):
        account, role, arn = self._target_role(params, ident["arn"], "sts:AssumeRole")
        chained = ident["kind"] == "session"
        session_name, duration, source_identity = self._session_params(
            params, role, 3600 if chained else None)
        extra = {"caller_arn": ident["arn"], "chained": chained}
        if chained:
            # A source identity, once set, stays on every session chained from it
            # and cannot be changed; session tags follow only when transitive
            # (IAM User Guide: id_credentials_temp_control-access_monitor.html,
            # id_session-tags.html, "Chaining roles with session tags").
            inherited = ident.get("source_identity")
            if inherited is not None:
                if source_identity is not None and source_identity != inherited:
                    raise AwsError(403, "AccessDenied",
                                   f"User: {ident['arn']} is not authorized to perform: "
                                   f"sts:AssumeRole on resource: {arn}: the source identity "
                                   f"{inherited} of the session cannot be changed")
                source_identity = inherited
            transitive = list(ident.get("transitive_tag_keys") or [])
            keep = {k.lower() for k in transitive}
            extra["principal_tags"] = {k: v for k, v in
                                       (ident.get("principal_tags") or {}).items()
                                       if k.lower() in keep}
            extra["transitive_tag_keys"] = transitive
        try:
            trust = json.loads(role["AssumeRolePolicyDocument"])
        except ValueError:
            trust = {}
        if not _trust_allows_assume_role(trust, ident, params.get("ExternalId")):
            raise AwsError(403, "AccessDenied",
                           f"User: {ident['arn']} is not authorized to perform: "
                           f"sts:AssumeRole on resource: {arn}")
        creds, user = self._issue(account, role, session_name, duration, source_identity,
                                  "AssumeRole", extra)
        result = []
        if source_identity:
            result.append(("SourceIdentity", source_identity))
        result += [("AssumedRoleUser", user), ("Credentials", creds)]
        return result

    def _do_AssumeRoleWithWebIdentity(self, params, ident):
        token = _required(params, "WebIdentityToken", "webIdentityToken")
        try:
            claims = _decode_jwt_claims(token)
        except (ValueError, TypeError, binascii.Error):
            raise AwsError(400, "InvalidIdentityToken",
                           "The ID Token provided is not a valid JWT. (You may see this "
                           "error if you sent an Access Token)")
        account, role, _ = self._target_role(
            params, "", "sts:AssumeRoleWithWebIdentity")
        session_name, duration, source_identity = self._session_params(params, role)
        # The IdP sets the source identity and the session tags in the token
        # (IAM User Guide: id_credentials_temp_control-access_monitor.html,
        # id_session-tags.html "Passing session tags using AssumeRoleWithWebIdentity").
        claimed = claims.get("https://aws.amazon.com/source_identity")
        if isinstance(claimed, str) and claimed:
            source_identity = claimed
        tags, transitive = _web_identity_tags(claims)
        aud = claims.get("aud")
        aud = aud[0] if isinstance(aud, list) and aud else aud
        provider = str(claims.get("iss") or "")
        provider = re.sub(r"^https://", "", provider)
        creds, user = self._issue(account, role, session_name, duration, source_identity,
                                  "AssumeRoleWithWebIdentity",
                                  {"web_identity": {"sub": claims.get("sub"), "aud": aud,
                                                    "iss": claims.get("iss"),
                                                    "amr": claims.get("amr")},
                                   "chained": False, "principal_tags": tags,
                                   "transitive_tag_keys": transitive})
        result = [("SubjectFromWebIdentityToken", claims.get("sub") or ""),
                  ("Audience", aud or ""),
                  ("AssumedRoleUser", user), ("Credentials", creds)]
        if source_identity:
            result.append(("SourceIdentity", source_identity))
        result.append(("Provider", provider))
        return result


def _version_number(vid):
    """'v12' (or 'v12.x') -> 12."""
    return int(re.match(r"v(\d+)", vid).group(1))


def _web_identity_tags(claims):
    """The session tags of an ID token's https://aws.amazon.com/tags claim:
    {"principal_tags": {key: [value]}, "transitive_tag_keys": [key...]}."""
    claim = claims.get("https://aws.amazon.com/tags")
    if isinstance(claim, list) and claim:  # some IdPs send it wrapped in a list
        claim = claim[0]
    if not isinstance(claim, dict):
        return {}, []
    tags = {}
    for key, value in (claim.get("principal_tags") or {}).items():
        value = value[0] if isinstance(value, list) and value else value
        if isinstance(key, str) and isinstance(value, str):
            tags[key] = value
    transitive = [k for k in _as_list(claim.get("transitive_tag_keys")) if isinstance(k, str)]
    return tags, transitive


def _loads_or_text(text):
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return text


def _required(params, name, member):
    value = params.get(name)
    if value is None or value == "":
        raise _validation(f"1 validation error detected: Value null at '{member}' failed "
                          "to satisfy constraint: Member must not be null")
    return value


def _check_name(name, member, max_len):
    if len(name) > max_len or not NAME_RE.match(name):
        raise _validation(f"1 validation error detected: Value '{name}' at '{member}' "
                          "failed to satisfy constraint: Member must satisfy regular "
                          "expression pattern: [\\w+=,.@-]+")


def _principal_matches(principal, ident):
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    account = ident["account"]
    names = {"*", account, f"arn:aws:iam::{account}:root", ident["arn"]}
    for value in _as_list(principal.get("AWS")):
        if value in names:
            return True
        if ident["kind"] == "session" and isinstance(value, str):
            m = ROLE_ARN_RE.match(value)
            if m and m.group(1) == account and m.group(2) == ident["role_name"]:
                return True
    return False


def _trust_allows_assume_role(trust, ident, external_id):
    allowed = False
    for st in _as_list(trust.get("Statement") if isinstance(trust, dict) else None):
        if not isinstance(st, dict):
            continue
        if not any(_glob(a, "sts:AssumeRole") for a in _as_list(st.get("Action"))):
            continue
        if not _principal_matches(st.get("Principal"), ident):
            continue
        ok = True
        for op, cond in (st.get("Condition") or {}).items():
            if op.lower() != "stringequals" or not isinstance(cond, dict):
                continue
            for key, want in cond.items():
                if key.lower() == "sts:externalid":
                    ok = ok and external_id is not None and external_id in _as_list(want)
        if not ok:
            continue
        if st.get("Effect") == "Deny":
            return False
        if st.get("Effect") == "Allow":
            allowed = True
    return allowed


# ---------------------------------------------------------------------------- HTTP

# ---------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake AWS IAM + STS (SigV4-verifying).")
    ap.add_argument("--seed", required=True, help="seed JSON file")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--state-file", help="write the state JSON here at exit; when it exists at "
                         "start, load its roles instead of the seed's")
    ap.add_argument("--random-seed", type=int, default=None)
    ap.add_argument("--verbose", action="store_true", help="log every call on stderr")
    ap.add_argument("--shard", metavar="I/N",
                    help="be shard I of N processes serving the seed together behind a "
                         "router that sends ASIA<I>... keys to shard I (bench/fanout)")
    ap.add_argument("--shard-key", metavar="TEXT",
                    help="the key all shards share for their session tokens")
    args = ap.parse_args(argv)
    shard = None
    if args.shard:
        index, _, count = args.shard.partition("/")
        if not args.shard_key:
            ap.error("--shard needs --shard-key")
        shard = (int(index), int(count), args.shard_key)
    with open(args.seed, encoding="utf-8") as fh:
        seed = json.load(fh)
    if args.state_file and os.path.exists(args.state_file):
        try:
            seed = _seed_from_state(seed, args.state_file)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            ap.error(f"--state-file {args.state_file}: not a state this fake wrote ({e})")
    fake = FakeAws(seed, host=args.host, port=args.port, random_seed=args.random_seed,
                   verbose=args.verbose, shard=shard).start()
    stop = []

    def on_signal(signum, frame):
        stop.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"fake-aws listening on {fake.url}", flush=True)
    while not stop:
        time.sleep(0.1)
    state = fake.state()
    fake.stop()
    if args.state_file:
        tmp = args.state_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, args.state_file)
    return 0


def _seed_from_state(seed, path):
    """The seed with its world (roles with their trust and inline policies, the
    providers) replaced by the one a previous run left in its --state-file, so
    that a restart carries on where it stopped.  Credentials, random seed and
    faults still come from the seed: the state file holds no secrets."""
    with open(path, encoding="utf-8") as fh:
        state = json.load(fh)
    if not isinstance(state, dict) or not isinstance(state.get("accounts"), dict):
        raise ValueError("no \"accounts\" object")
    seed = dict(seed)
    seed["accounts"] = {account: {"roles": list(acc["roles"].values()),
                                  "managed_policies":
                                  list((acc.get("managed_policies") or {}).values())}
                        for account, acc in state["accounts"].items()}
    for key in ("oidc_providers", "saml_providers"):
        if key in state:
            seed[key] = state[key]
    FakeAws(seed)  # refuses a role it cannot load before anything listens
    return seed


if __name__ == "__main__":
    sys.exit(main())
