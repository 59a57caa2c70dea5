"""test_openapi.py - openapi.yaml (repo root) against the running server.

The file must be a structurally sound OpenAPI 3.1 document, and it must say
what the binary does: every documented path+method is routed, nothing else
is, 405 answers list exactly the documented methods, and every answer the
server gives in these probes has a status the file documents for that
operation, the headers it promises, and a body that its schema accepts.
(harness.Service holds every answer of every integration test to the file
too, with openapi_contract.Contract; the last tests here show that it
catches a file and a server that drift apart.)

Run with Debian's /usr/bin/python3 (python3-yaml, python3-jwt,
python3-cryptography):

    cd tests/integration && SR_BIN=../../build/session-revoker \\
        /usr/bin/python3 -m unittest -v test_openapi
"""

import copy
import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import uuid

import yaml

import harness
from openapi_contract import (HTTP_METHODS, JSON_TYPES, SUPPORTED_KEYWORDS, Contract,
                              ContractError, Validator, deref, load_spec, media_type,
                              resolve_pointer)

ISSUER = "https://issuer.openapi.test/"
AUDIENCE = "session-revoker"
LOGOUT = "/v1/events/okta/logout"
LOGOUT_AUD = "https://revoker.openapi.test/v1/events/okta/logout"
# Methods probed for 405 on every documented path.
PROBE_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


# --------------------------------------------------------------------------
# walking the file (the validator and $ref resolution: openapi_contract.py)

def all_refs(node, path="#"):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield path, v
            else:
                yield from all_refs(v, path + "/" + str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from all_refs(v, "%s/%d" % (path, i))


def schema_nodes(spec):
    """(where, schema) for every Schema Object in the file, nested ones too."""
    def walk(schema, where):
        yield where, schema
        if not isinstance(schema, dict):
            return
        for name, sub in (schema.get("properties") or {}).items():
            yield from walk(sub, "%s/properties/%s" % (where, name))
        for key in ("items", "additionalProperties", "contentSchema"):
            if isinstance(schema.get(key), dict):
                yield from walk(schema[key], "%s/%s" % (where, key))
        for i, sub in enumerate(schema.get("oneOf") or []):
            yield from walk(sub, "%s/oneOf/%d" % (where, i))

    def find(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "schema" and isinstance(v, dict):
                    yield from walk(v, where + "/schema")
                else:
                    yield from find(v, "%s/%s" % (where, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from find(v, "%s/%d" % (where, i))

    for name, schema in spec["components"]["schemas"].items():
        yield from walk(schema, "#/components/schemas/" + name)
    for section in ("parameters", "headers", "responses", "requestBodies"):
        yield from find(spec["components"].get(section) or {}, "#/components/" + section)
    yield from find(spec["paths"], "#/paths")


# --------------------------------------------------------------------------
# the structure of the file

class OpenApiStructureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spec = load_spec()
        cls.v = Validator(cls.spec)

    def test_version_and_info(self):
        self.assertIsInstance(self.spec, dict)
        self.assertRegex(str(self.spec.get("openapi")), r"^3\.1\.\d+$")
        info = self.spec.get("info")
        self.assertIsInstance(info, dict)
        self.assertTrue(info.get("title"))
        self.assertTrue(info.get("version"))
        self.assertTrue(info.get("description"), "the top needs a description")
        for word in ("scope", "permissions", "revocations:write", "revocations:read",
                     "issuer"):
            self.assertIn(word, info["description"])

    def test_every_ref_resolves(self):
        refs = list(all_refs(self.spec))
        self.assertTrue(refs)
        for where, ref in refs:
            with self.subTest(at=where, ref=ref):
                target = resolve_pointer(self.spec, ref)
                self.assertIsInstance(target, dict)

    def test_paths_have_operations_with_responses(self):
        paths = self.spec.get("paths")
        self.assertIsInstance(paths, dict)
        self.assertTrue(paths)
        op_ids = set()
        for path, item in paths.items():
            with self.subTest(path=path):
                self.assertTrue(path.startswith("/"))
                ops = {m: o for m, o in item.items() if m in HTTP_METHODS}
                self.assertTrue(ops, "%s has no operation" % path)
                for key in item:
                    self.assertIn(key, HTTP_METHODS + ("parameters", "summary",
                                                       "description", "servers"))
                templated = set(re.findall(r"\{([^}]+)\}", path))
                for method, op in ops.items():
                    self.assertIsInstance(op.get("responses"), dict)
                    self.assertTrue(op["responses"], "%s %s has no responses" % (method, path))
                    self.assertTrue(op.get("operationId"))
                    self.assertNotIn(op["operationId"], op_ids)
                    op_ids.add(op["operationId"])
                    for code, resp in op["responses"].items():
                        self.assertRegex(str(code), r"^([1-5]\d\d|default)$")
                        resp = deref(self.spec, resp)
                        self.assertTrue(resp.get("description"))
                        for h in (resp.get("headers") or {}).values():
                            self.assertIn("schema", deref(self.spec, h))
                    params = [deref(self.spec, p) for p in op.get("parameters", [])]
                    for p in params:
                        self.assertIn(p["in"], ("path", "query", "header", "cookie"))
                        self.assertIn("schema", p)
                    declared = {p["name"] for p in params if p["in"] == "path"}
                    self.assertEqual(declared, templated)
                    for p in params:
                        if p["in"] == "path":
                            self.assertTrue(p.get("required"))
                    for req in op.get("security", self.spec.get("security", [])):
                        for scheme in req:
                            self.assertIn(scheme, self.spec["components"]["securitySchemes"])

    def test_every_response_carries_x_request_id(self):
        for path, item in self.spec["paths"].items():
            for method, op in item.items():
                if method not in HTTP_METHODS:
                    continue
                for code, resp in op["responses"].items():
                    with self.subTest(op="%s %s" % (method.upper(), path), status=code):
                        headers = deref(self.spec, resp).get("headers") or {}
                        self.assertIn("X-Request-Id", headers)
                        self.assertEqual(headers["X-Request-Id"].get("$ref"),
                                         "#/components/headers/X-Request-Id")

    def test_schemas_use_only_validated_keywords(self):
        count = 0
        for where, schema in schema_nodes(self.spec):
            count += 1
            with self.subTest(at=where):
                self.assertIsInstance(schema, dict)
                # 3.0's nullable and a schema's single example are not 3.1
                # (type arrays with "null"; examples): unknown keywords here.
                self.assertEqual(set(schema) - SUPPORTED_KEYWORDS, set())
                types = schema.get("type", [])
                for t in types if isinstance(types, list) else [types]:
                    self.assertIn(t, JSON_TYPES)
                if "enum" in schema and "type" in schema:
                    for value in schema["enum"]:
                        self.assertEqual(self.v.errors({"type": schema["type"]}, value), [],
                                         "an enum value the type refuses")
                for i, example in enumerate(schema.get("examples") or []):
                    self.assertEqual(self.v.errors(schema, example, "examples[%d]" % i), [])
                if "contentSchema" in schema:
                    self.assertEqual(schema.get("contentMediaType"), "application/jwt")
        self.assertGreater(count, 20)

    def test_nullable_fields_take_null_and_their_type(self):
        """The 3.0 nullable fields, in 3.1 spelling: null and a value of the
        type are taken, another type is not."""
        cases = [("Revocation", "state_reason", "x"), ("Revocation", "time", "2h ago"),
                 ("Revocation", "accounts", ["123456789012"]), ("Revocation", "reason", "r"),
                 ("Revocation", "cleanup_due", "2026-01-01T00:00:00Z"),
                 ("Job", "last_error", "e"), ("RoleResult", "cutoff", "2026-01-01T00:00:00Z"),
                 ("RevocationList", "next_cursor", "5"), ("RevocationDocument", "time", 5),
                 ("RevocationDocument", "accounts", ["123456789012"]),
                 ("RevocationDocument", "reason", "r")]
        for name, prop, good in cases:
            with self.subTest(schema=name, property=prop):
                schema = self.spec["components"]["schemas"][name]["properties"][prop]
                self.assertEqual(self.v.errors(schema, None), [])
                self.assertEqual(self.v.errors(schema, good), [])
                self.assertNotEqual(self.v.errors(schema, True), [])

    def test_component_schemas_accept_samples(self):
        for name, schema in self.spec["components"]["schemas"].items():
            with self.subTest(schema=name):
                self.assertEqual(self.v.errors(schema, _sample_for(name)), [])

    def test_examples_match_their_schemas(self):
        for path, item in self.spec["paths"].items():
            for method, op in item.items():
                if method not in HTTP_METHODS:
                    continue
                body = op.get("requestBody")
                blocks = [deref(self.spec, body).get("content", {})] if body else []
                for resp in op["responses"].values():
                    blocks.append(deref(self.spec, resp).get("content", {}))
                for content in blocks:
                    for media in content.values():
                        if "example" in media:
                            with self.subTest(op="%s %s" % (method, path)):
                                self.assertEqual(
                                    self.v.errors(media["schema"], media["example"]), [])
        anyreq = self.spec["x-any-request"]["responses"]
        self.assertEqual(set(anyreq), {"400", "404", "405", "413", "431", "503"})
        for code, resp in anyreq.items():
            for media in deref(self.spec, resp).get("content", {}).values():
                with self.subTest(any_request=code):
                    self.assertIn("example", media)
                    self.assertEqual(self.v.errors(media["schema"], media["example"]), [])

    def test_every_answer_and_request_body_has_an_example(self):
        for path, item in self.spec["paths"].items():
            for method, op in item.items():
                if method not in HTTP_METHODS:
                    continue
                blocks = [("request", deref(self.spec, op["requestBody"]))] \
                    if "requestBody" in op else []
                blocks += [(code, deref(self.spec, r)) for code, r in op["responses"].items()]
                for what, block in blocks:
                    for media, m in (block.get("content") or {}).items():
                        if media == "application/jwt":  # a signed token: see the claims' examples
                            continue
                        with self.subTest(op="%s %s" % (method, path), part=what, media=media):
                            self.assertTrue("example" in m or m.get("examples"))

    # components/examples -> the schema each must satisfy. A string value is
    # a JSON lines body: every line one record.
    EXAMPLE_SCHEMAS = {
        "GroupChangeRemoved": "GroupChangeEvent",
        "GroupChangeSubjectOnly": "GroupChangeEvent",
        "Auth0JsonObject": "Auth0LogStreamBody",
        "Auth0JsonArray": "Auth0LogStreamBody",
        "Auth0JsonLines": "Auth0LogRecord",
    }

    def test_component_examples_match_their_schemas(self):
        examples = self.spec["components"].get("examples") or {}
        self.assertEqual(set(examples), set(self.EXAMPLE_SCHEMAS))
        for name, ex in examples.items():
            schema = {"$ref": "#/components/schemas/" + self.EXAMPLE_SCHEMAS[name]}
            values = [ex["value"]]
            if isinstance(ex["value"], str):
                values = [json.loads(line) for line in ex["value"].splitlines() if line.strip()]
                self.assertGreater(len(values), 1)
            for value in values:
                with self.subTest(example=name):
                    self.assertEqual(self.v.errors(schema, value), [])
        # And the request bodies name only examples that exist.
        for body in (self.spec["components"].get("requestBodies") or {}).values():
            for media in body["content"].values():
                for ex in (media.get("examples") or {}).values():
                    deref(self.spec, ex)

    def test_validator_follows_json_schema_2020_12(self):
        """The keywords as OpenAPI 3.1 (JSON Schema 2020-12) means them."""
        nullable = {"type": ["string", "null"], "minLength": 2}
        cases = [
            (nullable, None, True), (nullable, "ab", True), (nullable, "a", False),
            (nullable, 5, False),
            ({"type": "integer"}, 1.0, True), ({"type": "integer"}, 1.5, False),
            ({"type": "integer"}, True, False), ({"type": "number"}, 3, True),
            ({"enum": [1, None]}, None, True), ({"enum": [1]}, True, False),
            ({"const": False}, 0, False), ({"const": False}, False, True),
            ({"oneOf": [{"type": "string"}, {"type": "null"}]}, None, True),
            ({"oneOf": [{"type": "string"}, {"type": "null"}]}, 3, False),
            ({"oneOf": [{"type": "number"}, {"type": "integer"}]}, 3, False),
            # $ref siblings apply as well (2020-12), unlike in OpenAPI 3.0.
            ({"$ref": "#/components/schemas/AccountId", "enum": ["123456789012"]},
             "123456789012", True),
            ({"$ref": "#/components/schemas/AccountId", "enum": ["123456789012"]},
             "000000000000", False),
            ({"type": "object", "additionalProperties": False, "properties": {"a": True}},
             {"a": 1}, True),
            ({"type": "object", "additionalProperties": False}, {"a": 1}, False),
            ({"type": "object", "additionalProperties": {"type": "string"}}, {"a": 1}, False),
            ({"type": "string", "contentMediaType": "application/jwt",
              "contentSchema": {"type": "object", "required": ["iss"]}},
             _jws({"iss": "i"}), True),
            ({"type": "string", "contentMediaType": "application/jwt",
              "contentSchema": {"type": "object", "required": ["iss"]}},
             _jws({"sub": "s"}), False),
            ({"type": "string", "contentMediaType": "application/jwt"}, "a.b.c", False),
            ({"nullable": True, "type": "string"}, None, False),
            ({"type": "string", "example": "x"}, "x", False),
            ({"type": "string", "format": "email"}, "a@b", False),
        ]
        for schema, value, ok in cases:
            with self.subTest(schema=schema, value=value):
                self.assertEqual(self.v.errors(schema, value) == [], ok,
                                 self.v.errors(schema, value))

    def test_error_codes_cover_the_server(self):
        codes = set(self.spec["components"]["schemas"]["Error"]["properties"]["error"]["enum"])
        for code in ("invalid_request", "unauthorized", "invalid_token", "insufficient_scope",
                     "not_found", "method_not_allowed", "payload_too_large",
                     "unsupported_media_type", "idempotency_key_reused", "unavailable",
                     "not_ready", "header_too_large"):
            self.assertIn(code, codes)


class OpenApiLintTest(unittest.TestCase):
    """scripts/lint-openapi.sh (Redocly CLI, the ctest test openapi_lint)
    passes the file, and fails it for what it is there to catch."""

    LINT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                         "..", "scripts", "lint-openapi.sh"))

    def lint(self, spec):
        tmp = tempfile.mkdtemp(prefix="sr-lint-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        path = os.path.join(tmp, "openapi.yaml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(spec, f, sort_keys=False, allow_unicode=True)
        proc = subprocess.run([self.LINT, path], capture_output=True, text=True, timeout=120)
        return proc.returncode, proc.stdout + proc.stderr

    def test_the_file_lints_clean_and_drift_does_not(self):
        spec = load_spec()
        rc, out = self.lint(spec)
        self.assertEqual(rc, 0, out)
        schemas = lambda s: s["components"]["schemas"]  # noqa: E731
        cases = [
            ("3.0's nullable", lambda s: schemas(s)["Job"]["properties"]["last_error"].update(
                type="string", nullable=True), "nullable"),
            ("an example its schema refuses",
             lambda s: s["paths"]["/v1/events/auth0"]["post"]["responses"]["202"]["content"][
                 "application/json"]["example"].update(received="three"), "example"),
            ("a schema example its schema refuses",
             lambda s: schemas(s)["GroupChangeJwtClaims"]["examples"][0].update(extra=1),
             "extra"),
            ("a $ref to nothing",
             lambda s: schemas(s)["Revocation"]["properties"].update(
                 state={"$ref": "#/components/schemas/NoSuchState"}), "no-unresolved-refs"),
        ]
        for name, mutate, expect in cases:
            with self.subTest(name):
                bad = copy.deepcopy(spec)
                mutate(bad)
                rc, out = self.lint(bad)
                self.assertNotEqual(rc, 0, out)
                self.assertIn(expect, out)


# A body each documented POST route takes, for the routing probes.
PROBES = {
    "/v1/events/auth0": [{"log_id": "probe-1", "data": {
        "log_id": "probe-1", "date": "2026-03-12T08:00:00Z", "type": "s",
        "user_id": "auth0|probe"}}],
    "/v1/events/group-change": {"event_id": "probe-1", "subject": "probe@example.com",
                                "groups_removed": ["probe"], "time": "2026-03-12T08:00:00Z"},
    "/v1/events/okta": {"eventType": "com.okta.event_hook", "eventId": "probe-1", "data": {
        "events": [{"uuid": "probe-1", "published": "2026-03-12T08:00:00Z",
                    "eventType": "user.session.start", "target": []}]}},
    LOGOUT: {"sub_id": {"format": "email", "email": "probe@example.com"}},
}

# Headers a documented GET needs beside its token (Okta's verification).
GET_HEADERS = {"/v1/events/okta": {"X-Okta-Verification-Challenge": "probe"}}


SSF_EVENT = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"


def _jws(claims):
    """A compact JWS carrying claims (the signature is not a real one)."""
    return "%s.%s.%s" % (harness.b64url(json.dumps({"alg": "RS256", "typ": "JWT"})),
                         harness.b64url(json.dumps(claims)), harness.b64url(b"signature"))


def _sample_for(name):
    """A value each component schema should accept (also exercises the
    validator over every keyword the schema uses)."""
    rev = {
        "id": str(uuid.uuid4()), "state": "pending", "state_reason": None, "action": "revoke",
        "groups": ["g"], "subjects": ["alice@example.com"],
        "cutoff": "2026-01-01T00:00:00Z", "groups_cutoff": "2026-01-01T00:00:00Z",
        "subjects_cutoff": "2026-01-01T10:00:00Z", "time": None, "accounts": None, "reason": None,
        "source": "document", "source_event_id": None,
        "subject": None, "rule": None, "note": None,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "requested_by": {"issuer": "i", "subject": "", "token_id": ""},
    }
    auth0_bare = {"log_id": "L1", "date": "2026-03-12T08:22:13.101Z", "type": "sdu",
                  "user_id": "auth0|u1", "details": {}}
    return {
        "EventBatchResult": {
            "source": "auth0", "received": 2, "recorded": 1, "replayed": 0, "dropped": 0,
            "revocations": [{"index": 0, "event_id": "L1", "kind": "user_deleted",
                             "rule": "user-lost-access", "subject": "auth0|u1", "groups": [], "subjects": [],
                             "id": str(uuid.uuid4()), "replayed": False,
                             "note": "no lookup is configured"}],
            "errors": [{"index": 1, "event_id": None, "error": "log_id: required"}]},
        "Error": {"error": "not_found", "detail": "x"},
        "RevocationState": "applied",
        "GroupName": "aws-admins",
        "AccountId": "123456789012",
        "RevocationTime": "2h ago",
        "RevocationDocument": {"groups": ["a"], "time": 0, "action": "cleanup",
                               "accounts": ["123456789012"], "reason": None},
        "RevocationJwtClaims": {"groups": ["a"], "iss": "i", "aud": ["x"], "exp": 1,
                                "scope": "revocations:write"},
        "CompactJws": _jws({"groups": ["a"], "iss": "i", "aud": "x", "exp": 1}),
        "Revocation": rev,
        "RevocationList": {"items": [rev], "next_cursor": None},
        "Job": {"id": 1, "kind": "apply", "account": "123456789012", "state": "pending",
                "run_at": "2026-01-01T00:00:00Z", "attempts": 0, "last_error": None,
                "updated_at": "2026-01-01T00:00:00Z"},
        "RoleResult": {"account": "123456789012", "role_arn": "arn:aws:iam::123456789012:role/R",
                       "action": "apply", "outcome": "denied", "cutoff": "2026-01-01T00:00:00Z",
                       "due": None, "request_id": "r", "error": None,
                       "at": "2026-01-01T00:00:00Z"},
        "GroupChangeEvent": {"event_id": "e1", "subject": "auth0|u1", "time": 1773306000,
                             "groups_removed": ["team_opsec"], "groups": []},
        "GroupChangeGroup": "team_opsec",
        "GroupChangeTime": "2h ago",
        "GroupChangeJwtClaims": {"event_id": "e1", "subject": "u", "time": "now", "iss": "i",
                                 "aud": ["x"], "exp": 1, "scope": "events:write"},
        "GroupChangeJws": _jws({"event_id": "e1", "subject": "u", "time": "now", "iss": "i",
                                "aud": "x", "exp": 1}),
        "Auth0JsonLinesBody": "%s\n%s\n" % (json.dumps({"log_id": "L1", "data": auth0_bare}),
                                             json.dumps(auth0_bare)),
        "Auth0LogEvent": auth0_bare,
        "Auth0LogRecord": {"log_id": "L1", "data": auth0_bare},
        "Auth0LogStreamBody": [{"log_id": "L1", "data": auth0_bare}, auth0_bare],
        "SecurityEventToken": _jws({"iss": "i", "aud": "x", "jti": "j", "iat": 1,
                                    "events": {"https://example.com/e": {}}}),
        "SetError": {"err": "invalid_audience", "description": "aud does not contain x"},
        "OktaEventHook": PROBES["/v1/events/okta"],
        "GlobalTokenRevocationRequest": PROBES[LOGOUT],
        "LogoutSubject": {"format": "iss_sub", "iss": "i", "sub": "s"},
        "OAuthError": {"error": "invalid_request", "error_description": "x"},
    }[name]


# --------------------------------------------------------------------------
# the file against the running binary

class OpenApiServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spec = load_spec()
        cls.v = Validator(cls.spec)
        cls.tmp = tempfile.mkdtemp(prefix="sr-openapi-")
        cls.key = harness.Key("rsa", cls.tmp, "issuer")
        config = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"path": os.path.join(cls.tmp, "store.db")},
            "aws": {"accounts": [{"id": a, "role_name": "SessionRevokerAdmin"}
                                 for a in ("123456789012", "000000000000", "999999999999")]},
            "jobs": {"workers": 0},
            # The event routes' own body limit, small enough to pass cheaply.
            "limits": {"max_event_body_bytes": 131072},
            "auth": {"issuers": [{
                "issuer": ISSUER, "audience": AUDIENCE, "algorithms": ["RS256"],
                "public_key_file": cls.key.write_public_pem(),
            }]},
            # The SSF receiver's transmitter: the same issuer signs its SETs.
            "sources": {"ssf": {"issuer": ISSUER},
                        # Universal Logout: the same issuer plays the Okta org.
                        "okta": {"logout_issuer": ISSUER, "logout_audience": LOGOUT_AUD}},
        }
        cfg = harness.write_config(os.path.join(cls.tmp, "config.json"), config)
        cls.svc = harness.Service(cfg, cwd=cls.tmp, logdir=cls.tmp, name="openapi")
        cls.svc.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.svc.stop(check=True)
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # -- helpers

    def token(self, scope="revocations:write revocations:read", **kw):
        return harness.make_token(self.key, "RS256", iss=ISSUER, aud=AUDIENCE, scope=scope,
                                  **kw)

    def set_token(self):
        """A Security Event Token the SSF route takes (a fresh jti each time)."""
        claims = {"sub_id": {"format": "email", "email": "probe@example.com"},
                  "events": {SSF_EVENT: {"event_timestamp": harness.now() - 60}}}
        return harness.make_token(self.key, "RS256", claims, {"typ": "secevent+jwt"},
                                  iss=ISSUER, aud=AUDIENCE, scope=None)

    def logout_token(self):
        """A JWT the Universal Logout route takes (a fresh jti each time)."""
        return harness.make_token(self.key, "RS256", iss=ISSUER, aud=LOGOUT_AUD, scope=None)

    def operations(self):
        for path, item in self.spec["paths"].items():
            for method, op in item.items():
                if method in HTTP_METHODS:
                    yield path, method.upper(), op

    def op(self, path, method):
        return self.spec["paths"][path][method.lower()]

    @staticmethod
    def fill(path):
        return re.sub(r"\{[^}]+\}", lambda m: str(uuid.uuid4()), path)

    @staticmethod
    def permission(op):
        perms = op.get("x-permissions") or []
        return " ".join(perms) if perms else None

    def request(self, method, path, **kw):
        return self.svc.request(method, path, **kw)

    def check_common(self, r, what, json_body=True):
        """What the file's top says every response carries."""
        rid = r.headers.get("X-Request-Id")
        self.assertIsNotNone(rid, "%s: no X-Request-Id" % what)
        hdr = deref(self.spec, self.spec["components"]["headers"]["X-Request-Id"])
        self.assertEqual(self.v.errors(hdr["schema"], rid), [], what)
        self.assertEqual(r.headers.get("Cache-Control"), "no-store", what)
        self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff", what)
        if json_body:
            self.assertTrue((r.headers.get("Content-Type") or "").startswith(
                "application/json"), what)

    def check_documented(self, path, method, r, head=False):
        """r is an answer the file documents for path+method: its status is
        listed, its required headers are there and fit their schemas, its
        Content-Type is one the status lists and its body fits that schema
        (openapi_contract.Contract, as harness.Service checks every answer).
        Returns the body (parsed when JSON)."""
        what = "%s %s -> %d %r" % (method, path, r.status, r.raw[:300])
        self.check_common(r, what, json_body=r.status >= 400)
        self.assertNotEqual(r.status, 500, what)
        op = self.op(path, "GET" if method == "HEAD" else method)
        self.assertIn(str(r.status), op["responses"], "undocumented status: " + what)
        self.assertEqual(self.svc.contract.problems(method, path, r.status, r.headers, r.raw),
                         [], what)
        if head:
            self.assertEqual(r.raw, b"", "HEAD with a body: " + what)
            return None
        if media_type(r.headers.get("Content-Type")) != "application/json":
            return r.raw.decode("utf-8")
        body = json.loads(r.raw)
        if r.status >= 400:
            # The SSF route's refusals of a SET are RFC 8935's own form.
            error = "SetError" if path == "/v1/events/ssf" and "err" in body else "Error"
            # Universal Logout's unreadable body is OAuth's form.
            if path == LOGOUT and "error_description" in body:
                error = "OAuthError"
            self.assertEqual(self.v.errors({"$ref": "#/components/schemas/" + error}, body), [],
                             what)
        return body

    def check_error(self, path, method, r, status, code):
        body = self.check_documented(path, method, r)
        self.assertEqual(r.status, status, r)
        self.assertEqual(body["error"], code, r)
        self.assertTrue(body["detail"])
        return body

    def post_doc(self, doc, token=None, headers=None):
        return self.request("POST", "/v1/revocations", json_body=doc,
                            token=token or self.token(), headers=headers)

    # -- routing

    def test_documented_routes_are_routed_unauthenticated(self):
        """Without a token, every documented path+method answers something
        other than the router's 404/405, and a status the file lists."""
        for path, method, op in self.operations():
            with self.subTest(op="%s %s" % (method, path)):
                headers = {"Content-Type": "application/json"} if method == "POST" else None
                body = "{}" if method == "POST" else None
                r = self.request(method, self.fill(path), headers=headers, body=body)
                self.assertNotIn(r.status, (404, 405), r)
                self.check_documented(path, method, r)
                if self.permission(op):
                    self.assertEqual(r.status, 401, r)
                    self.assertEqual(r.json["error"], "unauthorized")
                    self.assertTrue(r.headers.get("WWW-Authenticate", "").startswith("Bearer "))

    def test_documented_routes_with_token(self):
        for path, method, op in self.operations():
            with self.subTest(op="%s %s" % (method, path)):
                token = self.token(scope=self.permission(op)) if self.permission(op) else None
                if path == "/v1/events/ssf":
                    r = self.request(method, path, body=self.set_token(),
                                     headers={"Content-Type": "application/secevent+jwt"})
                elif path == LOGOUT:
                    r = self.request(method, path, json_body=PROBES[path],
                                     headers={"Authorization": "Bearer " + self.logout_token()})
                elif method == "POST":
                    r = self.request(method, self.fill(path), token=token,
                                     json_body=PROBES.get(path, {"groups": ["probe"]}))
                else:
                    r = self.request(method, self.fill(path), token=token,
                                     headers=GET_HEADERS.get(path))
                self.assertNotEqual(r.status, 405, r)
                if "{" in path:
                    # A random id: the route answers, the revocation does not exist.
                    self.assertEqual(r.status, 404, r)
                    self.assertEqual(r.json["detail"], "no revocation with this id")
                else:
                    self.assertIn(r.status, (200, 202, 204), r)
                self.check_documented(path, method, r)

    def test_head_wherever_get(self):
        for path, method, op in self.operations():
            if method != "GET":
                continue
            with self.subTest(path=path):
                token = self.token(scope=self.permission(op)) if self.permission(op) else None
                url = self.fill(path)
                g = self.request("GET", url, token=token)
                h = self.request("HEAD", url, token=token)
                self.assertEqual(h.status, g.status, (g, h))
                self.check_documented(path, "HEAD", h, head=True)

    def test_undocumented_paths_are_404(self):
        for url in ("/v1/nothing", "/", "/v1", "/v1/", "/v1/revocations/",
                    "/v1/revocations/%s/actions" % uuid.uuid4(), "/healthz/x",
                    "/readyz/", "/v1/revocation", "/v2/revocations", "/metrics/",
                    "/v1/events", "/v1/events/okta/", "/openapi.yaml"):
            for method in ("GET", "POST", "DELETE"):
                with self.subTest(url=url, method=method):
                    r = self.request(method, url, token=self.token())
                    self.assertEqual(r.status, 404, r)
                    self.check_common(r, url)
                    body = json.loads(r.raw)
                    self.assertEqual(self.v.errors({"$ref": "#/components/schemas/Error"}, body),
                                     [])
                    self.assertEqual(body["error"], "not_found")
                    self.assertIsNone(r.headers.get("Allow"))

    def test_undocumented_methods_are_405_with_allow(self):
        for path, item in self.spec["paths"].items():
            documented = {m.upper() for m in item if m in HTTP_METHODS}
            allowed = set(documented)
            if "GET" in allowed:
                allowed.add("HEAD")
            for method in PROBE_METHODS:
                if method in allowed:
                    continue
                with self.subTest(path=path, method=method):
                    r = self.request(method, self.fill(path), token=self.token())
                    self.assertEqual(r.status, 405, r)
                    self.check_common(r, "%s %s" % (method, path))
                    if method == "HEAD":  # a POST-only route: no body to a HEAD
                        self.assertEqual(r.raw, b"")
                        self.assertIn("POST", r.headers.get("Allow", ""))
                        continue
                    body = json.loads(r.raw)
                    self.assertEqual(self.v.errors({"$ref": "#/components/schemas/Error"}, body),
                                     [])
                    self.assertEqual(body["error"], "method_not_allowed")
                    allow = r.headers.get("Allow")
                    self.assertIsNotNone(allow, r)
                    got = [m.strip() for m in allow.split(",")]
                    self.assertEqual(len(got), len(set(got)), allow)
                    self.assertEqual(set(got), allowed, allow)

    # -- the revocation resource

    def test_post_202_and_read_back(self):
        doc = {"groups": ["aws-admins", "aws-ops", "aws-admins"], "time": "30 minutes ago",
               "action": "revoke", "accounts": ["123456789012"],
               "reason": "openapi conformance"}
        self.assertEqual(self.v.errors({"$ref": "#/components/schemas/RevocationDocument"},
                                        doc), [])
        r = self.post_doc(doc)
        self.assertEqual(r.status, 202, r)
        rev = self.check_documented("/v1/revocations", "POST", r)
        self.assertEqual(rev["groups"], ["aws-admins", "aws-ops"])
        self.assertEqual(rev["time"], "30 minutes ago")
        self.assertEqual(rev["accounts"], ["123456789012"])
        self.assertEqual(rev["source"], "document")
        self.assertIsNone(r.headers.get("Idempotent-Replayed"))
        self.assertEqual(r.headers["Location"], "/v1/revocations/" + rev["id"])

        g = self.request("GET", r.headers["Location"], token=self.token("revocations:read"))
        self.assertEqual(g.status, 200, g)
        self.assertEqual(self.check_documented("/v1/revocations/{id}", "GET", g)["id"],
                         rev["id"])

        # Missing time: now, and a null "time" in the record.
        r = self.post_doc({"groups": ["g-now"]})
        self.assertEqual(r.status, 202, r)
        body = self.check_documented("/v1/revocations", "POST", r)
        self.assertIsNone(body["time"])
        self.assertIsNone(body["accounts"])
        self.assertIsNone(body["reason"])
        self.assertEqual(body["action"], "revoke")

    def test_post_jwt_body(self):
        claims = {"groups": ["jwt-group"], "time": "yesterday", "action": "cleanup"}
        tok = self.token(scope="revocations:write", claims=claims)
        hdrs = {"Content-Type": "application/jwt"}
        jws = deref(self.spec, self.spec["components"]["schemas"]["CompactJws"])
        self.assertEqual(self.v.errors(jws, tok), [])
        full = dict(harness.claims_of(tok))
        self.assertEqual(self.v.errors({"$ref": "#/components/schemas/RevocationJwtClaims"},
                                       full), [])
        r = self.request("POST", "/v1/revocations", headers=hdrs, body=tok + "\n")
        self.assertEqual(r.status, 202, r)
        rev = self.check_documented("/v1/revocations", "POST", r)
        self.assertEqual(rev["source"], "document-jwt")
        self.assertEqual(rev["action"], "cleanup")
        self.assertEqual(rev["source_event_id"], "%s#%s" % (ISSUER, full["jti"]))
        again = self.request("POST", "/v1/revocations", headers=hdrs, body=tok)
        self.assertEqual(again.status, 202, again)
        self.assertEqual(again.headers.get("Idempotent-Replayed"), "true")
        self.assertEqual(self.check_documented("/v1/revocations", "POST", again)["id"],
                         rev["id"])
        # A claim outside RevocationJwtClaims is refused by name.
        bad = self.token(scope="revocations:write", claims={"groups": ["x"], "extra": 1})
        self.assertTrue(self.v.errors({"$ref": "#/components/schemas/RevocationJwtClaims"},
                                      harness.claims_of(bad)))
        r = self.request("POST", "/v1/revocations", headers=hdrs, body=bad)
        self.check_error("/v1/revocations", "POST", r, 400, "invalid_request")
        r = self.request("POST", "/v1/revocations", headers=hdrs, body="not.a.token")
        self.check_error("/v1/revocations", "POST", r, 401, "invalid_token")

    def test_idempotency_key(self):
        tok = self.token()
        key = {"Idempotency-Key": "openapi-" + uuid.uuid4().hex}
        first = self.post_doc({"groups": ["idem"]}, token=tok, headers=key)
        self.assertEqual(first.status, 202, first)
        again = self.post_doc({"groups": ["idem"]}, token=tok, headers=key)
        self.assertEqual(again.status, 202, again)
        self.check_documented("/v1/revocations", "POST", again)
        self.assertEqual(again.headers.get("Idempotent-Replayed"), "true")
        self.assertEqual(again.json["id"], first.json["id"])
        other = self.post_doc({"groups": ["idem", "other"]}, token=tok, headers=key)
        self.check_error("/v1/revocations", "POST", other, 422, "idempotency_key_reused")
        for bad in ("x" * 256, "tab\there"):
            r = self.post_doc({"groups": ["idem"]}, token=tok, headers={"Idempotency-Key": bad})
            self.check_error("/v1/revocations", "POST", r, 400, "invalid_request")

    def test_document_schema_agrees_with_server(self):
        """Documents the schema accepts are recorded; ones it refuses are 400."""
        schema = {"$ref": "#/components/schemas/RevocationDocument"}
        good = [
            {"groups": ["a"]},
            {"groups": ["a"], "time": None, "accounts": None, "reason": None},
            {"groups": ["a"], "action": "cleanup"},
            {"groups": ["a"], "reason": "r" * 1024},
            {"groups": ["a"], "time": 1700000000},
            {"groups": ["a"], "accounts": ["000000000000", "999999999999"]},
        ]
        bad = [
            {},
            {"group": ["a"]},
            {"groups": []},
            {"groups": "a"},
            {"groups": [""]},
            {"groups": ["a\nb"]},
            {"groups": ["a"], "extra": True},
            {"groups": ["a"], "action": "delete"},
            {"groups": ["a"], "action": None},
            {"groups": ["a"], "accounts": []},
            {"groups": ["a"], "accounts": ["12345678901"]},
            {"groups": ["a"], "accounts": ["12345678901x"]},
            {"groups": ["a"], "reason": "r" * 1025},
            {"groups": ["a"], "reason": 5},
            {"groups": ["a"], "time": 1.5},
            {"groups": ["a"], "time": -1},
            {"groups": ["a"], "time": True},
            {"groups": ["a"], "time": ""},
            [{"groups": ["a"]}],
        ]
        for doc in good:
            with self.subTest(good=json.dumps(doc)[:80]):
                self.assertEqual(self.v.errors(schema, doc), [])
                r = self.post_doc(doc)
                self.assertEqual(r.status, 202, r)
                self.check_documented("/v1/revocations", "POST", r)
        for doc in bad:
            with self.subTest(bad=json.dumps(doc)[:80]):
                self.assertNotEqual(self.v.errors(schema, doc), [])
                r = self.post_doc(doc)
                self.check_error("/v1/revocations", "POST", r, 400, "invalid_request")

    def test_time_forms_described(self):
        """Every spelling the RevocationTime description promises is taken."""
        desc = self.spec["components"]["schemas"]["RevocationTime"]["description"]
        for word in ("RFC 3339", "ISO 8601", "RFC 2822", "Unix seconds", "now", "today",
                     "yesterday", "ago", "UTC"):
            self.assertIn(word, desc)
        forms = [
            "2024-03-12T09:08:31Z", "2024-03-12 09:08:31.123+02:00", "2024-03-12T09:08-0530",
            "2024-03-12T09:08:31", "2024-03-12", "Tue, 12 Mar 2024 09:08:31 +0000",
            "12 Mar 2024 09:08 GMT", "Tue, 12 Mar 2024 09:08:31 EST",
            "Tuesday, 12-Mar-24 09:08:31 GMT", "Tue Mar 12 09:08:31 2024", 1710234511,
            "1710234511", "1710234511.25", "now", "today", "yesterday", "NOW",
            "30 seconds ago", "30 minutes ago", "30 min ago", "2h ago", "an hour ago",
            "1 day ago", "2 weeks ago", "  3 days ago  ",
        ]
        for t in forms:
            with self.subTest(time=t):
                r = self.post_doc({"groups": ["time-form"], "time": t})
                self.assertEqual(r.status, 202, r)
                body = self.check_documented("/v1/revocations", "POST", r)
                self.assertEqual(body["time"], str(t))
        naive = self.post_doc({"groups": ["tz"], "time": "2024-03-12T09:08:31"})
        self.assertEqual(naive.json["cutoff"], "2024-03-12T09:08:31Z")
        future = (datetime.datetime.now(datetime.timezone.utc)
                  + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for t in ("last tuesday", "2024-13-01", "soon", future, "in 2 hours"):
            with self.subTest(bad_time=t):
                r = self.post_doc({"groups": ["time-form"], "time": t})
                body = self.check_error("/v1/revocations", "POST", r, 400, "invalid_request")
                self.assertIn(t, body["detail"])

    # -- listing

    def test_list_pages_and_parameters(self):
        for g in ("list-a", "list-b", "list-c"):
            self.assertEqual(self.post_doc({"groups": [g, "list-all"]}).status, 202)
        read = self.token("revocations:read")
        path = "/v1/revocations"
        seen, cursor = [], None
        while True:
            url = path + "?group=list-all&limit=1" + ("&cursor=" + cursor if cursor else "")
            r = self.request("GET", url, token=read)
            self.assertEqual(r.status, 200, r)
            page = self.check_documented(path, "GET", r)
            self.assertLessEqual(len(page["items"]), 1)
            seen += [item["groups"][0] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            self.assertLess(len(seen), 10)
        self.assertEqual(seen, ["list-c", "list-b", "list-a"])

        r = self.request("GET", path + "?state=pending&limit=200", token=read)
        page = self.check_documented(path, "GET", r)
        self.assertTrue(all(i["state"] == "pending" for i in page["items"]))
        r = self.request("GET", path + "?source=document&group=list-all", token=read)
        page = self.check_documented(path, "GET", r)
        self.assertEqual([i["groups"][0] for i in page["items"]], ["list-c", "list-b", "list-a"])

        params = {p["name"]: p for p in
                  (deref(self.spec, p) for p in self.op(path, "GET")["parameters"])
                  if p["in"] == "query"}
        self.assertEqual(set(params), {"state", "group", "cursor", "limit", "source"})
        self.assertEqual(params["limit"]["schema"].get("default"), 50)
        for state in deref(self.spec, params["state"]["schema"])["enum"]:
            r = self.request("GET", path + "?state=" + state, token=read)
            self.assertEqual(r.status, 200, r)
            self.check_documented(path, "GET", r)
        for query in ("state=done", "limit=0", "limit=201", "limit=x", "cursor=abc",
                      "cursor=0", "group=", "source=", "nothing=1", "Limit=5"):
            with self.subTest(query=query):
                r = self.request("GET", path + "?" + query, token=read)
                self.check_error(path, "GET", r, 400, "invalid_request")
        for limit in (1, 200):
            r = self.request("GET", path + "?limit=%d" % limit, token=read)
            self.assertEqual(r.status, 200, r)

    # -- errors of every documented kind

    def test_auth_errors(self):
        expired = self.token(ttl=-3600)
        wrong_aud = harness.make_token(self.key, "RS256", iss=ISSUER, aud="someone-else")
        untrusted = harness.make_token(self.key, "RS256", iss="https://evil/", aud=AUDIENCE)
        for path, method, op in self.operations():
            perm = self.permission(op)
            if not perm:
                continue
            url = self.fill(path)
            kw = {"json_body": PROBES.get(path, {"groups": ["auth"]})} if method == "POST" else {}
            if method == "GET" and path in GET_HEADERS:
                kw["headers"] = dict(GET_HEADERS[path])
            with self.subTest(op="%s %s" % (method, path)):
                r = self.request(method, url, **kw)
                self.check_error(path, method, r, 401, "unauthorized")
                self.assertEqual(r.headers["WWW-Authenticate"], 'Bearer realm="session-revoker"')
                for bad in (expired, wrong_aud, untrusted, "abc", expired[:-4]):
                    r = self.request(method, url, token=bad, **kw)
                    self.check_error(path, method, r, 401, "invalid_token")
                    self.assertIn('error="invalid_token"', r.headers["WWW-Authenticate"])
                r = self.request(method, url, **dict(kw, headers=dict(
                    kw.get("headers") or {}, Authorization="Basic Zm9vOmJhcg==")))
                self.check_error(path, method, r, 401, "invalid_token")
                other = "revocations:read" if perm == "revocations:write" else "revocations:write"
                for t in (self.token(scope=other), self.token(scope=None),
                          self.token(scope=None, claims={"permissions": [other]})):
                    r = self.request(method, url, token=t, **kw)
                    self.check_error(path, method, r, 403, "insufficient_scope")
                    self.assertIn('scope="%s"' % perm, r.headers["WWW-Authenticate"])
                # The permission in the permissions array is as good as in scope.
                t = self.token(scope=None, claims={"permissions": [perm]})
                r = self.request(method, url, token=t, **kw)
                self.assertIn(r.status, (200, 202, 204, 404), r)
                self.check_documented(path, method, r)

    def test_oversize_body_is_413_on_every_operation(self):
        """"A body larger than the limit is 413, on any route": each
        operation lists it."""
        big = json.dumps({"groups": ["a"], "reason": "x" * 200000})
        for path, method, op in self.operations():
            with self.subTest(op="%s %s" % (method, path)):
                r = self.request(method, self.fill(path), token=self.token(),
                                 headers={"Content-Type": "application/json"}, body=big)
                self.check_error(path, method, r, 413, "payload_too_large")

    def request_bodies(self, path, media):
        """(body, headers) of a request to path in media that the server takes."""
        tok = self.token(scope="revocations:write events:write")
        event = PROBES.get(path, {"groups": ["media"]})
        if path == LOGOUT:  # Okta's own token, whatever the media
            return json.dumps(event), {"Content-Type": media,
                                       "Authorization": "Bearer " + self.logout_token()}
        if path == "/v1/events/auth0":
            event = [dict(e, log_id="media-" + uuid.uuid4().hex) for e in event]
            for e in event:
                e["data"] = dict(e["data"], log_id=e["log_id"])
        if media == "application/secevent+jwt":
            return self.set_token(), {"Content-Type": media}
        if media == "application/jwt":
            claims = dict(event, event_id="media-" + uuid.uuid4().hex) \
                if path == "/v1/events/group-change" else event
            return (self.token(scope="revocations:write events:write", claims=claims),
                    {"Content-Type": media})
        headers = {"Content-Type": media, "Authorization": "Bearer " + tok}
        if media in ("application/x-ndjson", "application/jsonl"):
            return "\n".join(json.dumps(e) for e in event) + "\n", headers
        return json.dumps(event), headers

    def test_request_media_types_are_the_documented_ones(self):
        """Each media type a request body lists is taken; the others of these
        candidates are 415."""
        candidates = ("application/json", "application/jwt", "application/x-ndjson",
                      "application/jsonl", "text/plain", "application/xml",
                      "application/x-www-form-urlencoded", "application/secevent+jwt")
        for path, method, op in self.operations():
            if "requestBody" not in op:
                continue
            documented = set(deref(self.spec, op["requestBody"])["content"])
            self.assertLessEqual(documented, set(candidates))
            for media in candidates:
                with self.subTest(op="%s %s" % (method, path), media=media):
                    body, headers = self.request_bodies(path, media)
                    if media not in documented and path != LOGOUT:  # the sender first
                        headers["Authorization"] = "Bearer " + self.token(
                            scope="revocations:write events:write")
                    r = self.request(method, path, headers=headers, body=body)
                    if media in documented:  # Okta's hook answers 204
                        self.assertEqual(r.status, 204 if path.startswith("/v1/events/okta")
                                         else 202, r)
                        self.check_documented(path, method, r)
                    elif path == "/v1/events/ssf":
                        # RFC 8935's answer to anything that is not a SET.
                        self.assertEqual((r.status, r.json["err"]), (400, "invalid_request"), r)
                        self.check_documented(path, method, r)
                    else:
                        self.check_error(path, method, r, 415, "unsupported_media_type")

    def test_post_media_and_size_errors(self):
        path = "/v1/revocations"
        tok = self.token()
        for ctype in (None, "text/plain", "application/x-www-form-urlencoded",
                      "application/jsonx", "multipart/form-data"):
            with self.subTest(content_type=ctype):
                headers = {"Content-Type": ctype} if ctype else {}
                r = self.request("POST", path, token=tok, headers=headers,
                                 body='{"groups":["a"]}')
                self.check_error(path, "POST", r, 415, "unsupported_media_type")
        for ctype in ("application/json; charset=utf-8", "Application/JSON"):
            with self.subTest(content_type=ctype):
                r = self.request("POST", path, token=tok, headers={"Content-Type": ctype},
                                 body='{"groups":["media"]}')
                self.assertEqual(r.status, 202, r)
                self.check_documented(path, "POST", r)
        r = self.request("POST", path, token=tok, headers={"Content-Type": "application/json"},
                         body="{not json")
        self.check_error(path, "POST", r, 400, "invalid_request")
        big = json.dumps({"groups": ["a"], "reason": "x" * 70000})
        r = self.request("POST", path, token=tok, headers={"Content-Type": "application/json"},
                         body=big)
        self.check_error(path, "POST", r, 413, "payload_too_large")
        r = self.request("POST", path, token=tok, headers={"Content-Type": "application/json"},
                         body=big, chunked=True)
        self.check_error(path, "POST", r, 413, "payload_too_large")

    def raw(self, data):
        """The answer to data sent as is on a new connection, as a Response."""
        import http.client
        import io

        class Sock:
            def __init__(self, raw):
                self.f = io.BytesIO(raw)

            def makefile(self, *args, **kw):
                return self.f

        resp = http.client.HTTPResponse(Sock(self.svc.raw_request(data)))
        resp.begin()
        return harness.Response(resp.status, resp.reason, resp.headers, resp.read())

    def test_framing_and_header_size_errors(self):
        # The shapes of request smuggling (RFC 9112 §6.3) and a header block
        # over limits.max_header_bytes, on every documented operation: JSON
        # errors as documented, the connection closed.
        tok = self.token()
        for path, method, _ in self.operations():
            url = self.fill(path)
            head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n" % (
                method, url, tok)
            cases = [
                ("two Content-Length", head + "Content-Length: 2\r\nContent-Length: 0\r\n\r\n{}",
                 400, "invalid_request"),
                ("two Authorization", head + "Authorization: Bearer x\r\n\r\n",
                 400, "invalid_request"),
                ("Content-Length and Transfer-Encoding",
                 head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 400, "invalid_request"),
                ("no Host", head.replace("Host: 127.0.0.1\r\n", "") + "\r\n",
                 400, "invalid_request"),
                # Over the default 32768, within libmicrohttpd's memory.
                ("headers too large", head + "X-Filler: %s\r\n\r\n" % ("f" * 40000),
                 431, "header_too_large"),
            ]
            for name, data, status, code in cases:
                with self.subTest(name, op="%s %s" % (method, path)):
                    r = self.raw(data.encode())
                    self.check_error(path, method, r, status, code)
                    self.assertEqual(r.headers.get("Connection"), "close", r)

    def test_get_not_found(self):
        path = "/v1/revocations/{id}"
        read = self.token("revocations:read")
        for rid in (str(uuid.uuid4()), "not-a-uuid", "1", "x" * 36):
            with self.subTest(id=rid):
                r = self.request("GET", "/v1/revocations/" + rid, token=read)
                self.check_error(path, "GET", r, 404, "not_found")

    def test_readyz_and_healthz_bodies(self):
        for path, expect in (("/healthz", {"status": "ok"}),
                             ("/readyz", {"status": "ready", "config": True, "store": True})):
            r = self.request("GET", path)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(self.check_documented(path, "GET", r), expect)

    def test_request_id(self):
        r = self.request("GET", "/healthz", headers={"X-Request-Id": "lb-id.42_x"})
        self.assertEqual(r.headers["X-Request-Id"], "lb-id.42_x")
        r = self.request("GET", "/v1/nothing", headers={"X-Request-Id": "lb-id.43"})
        self.assertEqual(r.headers["X-Request-Id"], "lb-id.43")
        for junk in ("has space", "semi;colon", "x" * 65):
            r = self.request("GET", "/healthz", headers={"X-Request-Id": junk})
            self.assertNotEqual(r.headers["X-Request-Id"], junk)
            self.assertRegex(r.headers["X-Request-Id"], r"^[0-9a-f]{32}$")

    # -- the contract in harness.Service catches a file and a server apart

    def assertDrift(self, mutate, send, expect):
        """send() passes against openapi.yaml as it is, and raises
        ContractError naming expect against the file changed by mutate."""
        send()
        spec = copy.deepcopy(self.spec)
        mutate(spec)
        saved = self.svc.contract
        self.svc.contract = Contract(spec)
        try:
            with self.assertRaises(ContractError) as cm:
                send()
        finally:
            self.svc.contract = saved
        self.assertIn(expect, str(cm.exception))

    def test_every_service_holds_answers_to_the_file(self):
        self.assertIsInstance(self.svc.contract, Contract)
        self.assertEqual(self.svc.contract.spec, self.spec)

    def test_drift_is_caught(self):
        schemas = lambda s: s["components"]["schemas"]  # noqa: E731
        post = self.spec["paths"]["/v1/revocations"]["post"]
        self.assertIn("202", post["responses"])

        def post_doc():
            self.post_doc({"groups": ["drift"]})

        def post_jwt():
            tok = self.token(scope="revocations:write", claims={"groups": ["drift-jwt"]})
            self.request("POST", "/v1/revocations", body=tok,
                         headers={"Content-Type": "application/jwt"})

        def healthz():
            self.request("GET", "/healthz")

        def raw_healthz():
            self.svc.raw_request(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n")

        def ops(s):
            return s["paths"]

        cases = [
            ("a property the server does not send",
             lambda s: schemas(s)["Revocation"]["required"].append("nonexistent"),
             post_doc, "required property 'nonexistent' missing"),
            ("a state the file does not know",
             lambda s: schemas(s)["RevocationState"]["enum"].remove("pending"),
             post_doc, "'pending' is not one of"),
            ("a status the file does not list",
             lambda s: ops(s)["/v1/revocations"]["post"]["responses"].pop("202"),
             post_doc, "status 202 is not documented for POST /v1/revocations"),
            ("a header pattern the server breaks",
             lambda s: s["components"]["headers"]["X-Request-Id"]["schema"].update(
                 pattern="^[0-9]+$"),
             healthz, "header X-Request-Id"),
            ("another content type",
             lambda s: ops(s)["/healthz"]["get"]["responses"]["200"].update(content={
                 "application/problem+json": {"schema": {"type": "object"}}}),
             healthz, "Content-Type 'application/json' is not documented for 200"),
            ("a route the file does not list",
             lambda s: ops(s).pop("/healthz"),
             healthz, "the path is not documented"),
            ("a method the file does not list",
             lambda s: ops(s)["/v1/revocations"].pop("post"),
             post_doc, "POST is not documented for /v1/revocations"),
            ("a request media type the file does not list",
             lambda s: ops(s)["/v1/revocations"]["post"]["requestBody"]["content"].pop(
                 "application/jwt"),
             post_jwt, "the request's Content-Type 'application/jwt' was taken"),
            ("a Location the server breaks",
             lambda s: ops(s)["/v1/revocations"]["post"]["responses"]["202"]["headers"][
                 "Location"]["schema"].update(pattern="^/v2/"),
             post_doc, "header Location"),
            ("a raw answer's body",
             lambda s: ops(s)["/healthz"]["get"]["responses"]["200"]["content"][
                 "application/json"]["schema"]["required"].append("uptime"),
             raw_healthz, "required property 'uptime' missing"),
            ("an error code the file does not know",
             lambda s: schemas(s)["Error"]["properties"]["error"]["enum"].remove("not_found"),
             lambda: self.request("GET", "/v1/nothing"), "'not_found' is not one of"),
            ("a query parameter the file does not list",
             lambda s: ops(s)["/v1/revocations"]["get"]["parameters"].pop(0),
             lambda: self.request("GET", "/v1/revocations?state=pending",
                                  token=self.token("revocations:read")),
             "the query parameter 'state' was taken (200)"),
            ("a query value the file does not allow",
             lambda s: ops(s)["/v1/revocations"]["get"]["parameters"][4]["schema"].update(
                 maximum=100),
             lambda: self.request("GET", "/v1/revocations?limit=150",
                                  token=self.token("revocations:read")),
             "query limit: 150 above 100"),
            ("a method in the file the server does not take",
             lambda s: ops(s)["/healthz"].update(put=copy.deepcopy(ops(s)["/healthz"]["get"])),
             lambda: self.request("DELETE", "/healthz"), "Allow is 'GET, HEAD'"),
        ]
        for name, mutate, send, expect in cases:
            with self.subTest(name):
                self.assertDrift(mutate, send, expect)


if __name__ == "__main__":
    unittest.main()
