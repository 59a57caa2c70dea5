"""openapi_contract.py - openapi.yaml (repo root) as a contract that every
answer of the real server is checked against.

Two parts:

- Validator: the subset of JSON Schema 2020-12 (OpenAPI 3.1's Schema
  Object) that openapi.yaml uses. Any other keyword is an error, so the file
  cannot silently rely on something this check ignores.
- Contract: one answer of the server (the request's method and target, the
  status, headers and body) against the file: the operation (path template
  and method), the status it lists, the headers it promises, the content
  type and the schema of the body. harness.Service checks every answer it
  gets with it, so every integration test holds the server to the file.

Run with Debian's /usr/bin/python3 (python3-yaml).
"""

import base64
import json
import math
import os
import re
import urllib.parse

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC_PATH = os.path.normpath(os.path.join(HERE, "..", "..", "openapi.yaml"))

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{12}$")
DATE_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?"
                          r"(Z|[+-]\d{2}:\d{2})$")
JWS_RE = re.compile(r"^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\s*$")
FORMATS = ("uuid", "date-time")
JSON_TYPES = ("null", "boolean", "object", "array", "number", "integer", "string")

# What the file's top ("Behaviour common to every route") promises on every
# answer the service itself gives, beside X-Request-Id (components/headers).
COMMON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class ContractError(AssertionError):
    """An answer of the server that openapi.yaml does not describe."""


def load_spec(path=SPEC_PATH):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


# --------------------------------------------------------------------------
# $ref resolution

def resolve_pointer(doc, ref):
    """The object a local $ref ("#/a/b~1c") points at; KeyError if none."""
    if not ref.startswith("#"):
        raise KeyError("not a local reference: %s" % ref)
    node = doc
    pointer = ref[1:]
    if pointer == "":
        return node
    if not pointer.startswith("/"):
        raise KeyError("bad JSON pointer: %s" % ref)
    for part in pointer[1:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError("%s: no %r" % (ref, part))
    return node


def deref(doc, obj):
    """obj with $ref chains followed (for Reference Objects, whose siblings
    other than summary/description mean nothing)."""
    seen = 0
    while isinstance(obj, dict) and "$ref" in obj:
        obj = resolve_pointer(doc, obj["$ref"])
        seen += 1
        if seen > 50:
            raise KeyError("$ref loop")
    return obj


# --------------------------------------------------------------------------
# JSON Schema 2020-12, the subset the file uses

SUPPORTED_KEYWORDS = {
    "$ref", "type", "required", "properties", "additionalProperties", "enum", "const",
    "items", "pattern", "format", "minLength", "maxLength", "minItems", "maxItems",
    "minimum", "maximum", "oneOf", "anyOf", "default", "description", "examples",
    "contentMediaType", "contentSchema",
}


def json_type(value):
    """The JSON Schema type name of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    raise TypeError("not a JSON value: %r" % (value,))


def json_equal(a, b):
    """Equality as JSON Schema means it (true is not 1; 1.0 is 1)."""
    ta, tb = json_type(a), json_type(b)
    numeric = ("integer", "number")
    if ta in numeric and tb in numeric:
        return a == b
    if ta != tb:
        return False
    if ta == "array":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if ta == "object":
        return set(a) == set(b) and all(json_equal(a[k], b[k]) for k in a)
    return a == b


def type_ok(t, value):
    vt = json_type(value)
    if t == vt:
        return True
    if t == "number" and vt == "integer":
        return True
    if t == "integer" and vt == "number":
        return math.isfinite(value) and float(value).is_integer()
    if t not in JSON_TYPES:
        raise ValueError("unknown type %r in the spec" % t)
    return False


def jws_claims(value):
    """The claims (payload JSON) of a compact JWS, or None if it is not one."""
    m = JWS_RE.match(value)
    if m is None:
        return None
    payload = m.group(2)
    try:
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None


class Validator:
    """type (a name or an array of names, "null" included), const, enum,
    required, properties, additionalProperties, items, pattern, format
    (uuid, date-time), min/maxLength, min/maxItems, minimum/maximum, oneOf, anyOf,
    $ref (siblings apply too, as in 2020-12), contentMediaType
    application/jwt (or application/secevent+jwt) with contentSchema (the claims of the compact JWS), and
    the annotations default, description, examples. Any other keyword is an
    error."""

    def __init__(self, spec):
        self.spec = spec

    def errors(self, schema, value, where="$"):
        out = []
        self._check(schema, value, where, out)
        return out

    def _check(self, schema, value, where, out):
        if schema is True:
            return
        if schema is False:
            out.append("%s: no value is allowed here" % where)
            return
        unknown = set(schema) - SUPPORTED_KEYWORDS
        if unknown:
            out.append("%s: schema uses keywords this validator does not know: %s"
                       % (where, sorted(unknown)))
            return
        if "$ref" in schema:
            self._check(resolve_pointer(self.spec, schema["$ref"]), value, where, out)
        if "oneOf" in schema:
            matches = [b for b in schema["oneOf"] if not self.errors(b, value, where)]
            if len(matches) != 1:
                out.append("%s: %r matches %d of the oneOf branches, not exactly 1"
                           % (where, value, len(matches)))
                return
        if "anyOf" in schema and not any(not self.errors(b, value, where)
                                         for b in schema["anyOf"]):
            out.append("%s: %r matches none of the anyOf branches" % (where, value))
            return
        t = schema.get("type")
        if t is not None:
            types = t if isinstance(t, list) else [t]
            if not any(type_ok(x, value) for x in types):
                out.append("%s: %r is not of type %s" % (where, value, t))
                return
        if "const" in schema and not json_equal(value, schema["const"]):
            out.append("%s: %r is not %r" % (where, value, schema["const"]))
        if "enum" in schema and not any(json_equal(value, e) for e in schema["enum"]):
            out.append("%s: %r is not one of %r" % (where, value, schema["enum"]))
        vt = json_type(value)
        if vt == "string":
            self._check_string(schema, value, where, out)
        if vt in ("integer", "number"):
            if "minimum" in schema and value < schema["minimum"]:
                out.append("%s: %r below %r" % (where, value, schema["minimum"]))
            if "maximum" in schema and value > schema["maximum"]:
                out.append("%s: %r above %r" % (where, value, schema["maximum"]))
        if vt == "array":
            if "minItems" in schema and len(value) < schema["minItems"]:
                out.append("%s: fewer than %d items" % (where, schema["minItems"]))
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                out.append("%s: more than %d items" % (where, schema["maxItems"]))
            if "items" in schema:
                for i, v in enumerate(value):
                    self._check(schema["items"], v, "%s[%d]" % (where, i), out)
        if vt == "object":
            props = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in value:
                    out.append("%s: required property %r missing" % (where, name))
            extra = schema.get("additionalProperties", True)
            for k, v in value.items():
                if k in props:
                    self._check(props[k], v, "%s.%s" % (where, k), out)
                else:
                    self._check(extra, v, "%s.%s" % (where, k), out)

    def _check_string(self, schema, value, where, out):
        # Lengths count Unicode code points, as JSON Schema does.
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append("%s: shorter than %d" % (where, schema["minLength"]))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append("%s: longer than %d" % (where, schema["maxLength"]))
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            out.append("%s: %r does not match /%s/" % (where, value[:200], schema["pattern"]))
        fmt = schema.get("format")
        if fmt is not None and fmt not in FORMATS:
            out.append("%s: format %r is not one this validator checks" % (where, fmt))
        if fmt == "uuid" and not UUID_RE.match(value):
            out.append("%s: %r is not a uuid" % (where, value))
        if fmt == "date-time" and not DATE_TIME_RE.match(value):
            out.append("%s: %r is not an RFC 3339 date-time" % (where, value))
        media = schema.get("contentMediaType")
        # A Security Event Token (RFC 8417) is a JWT too.
        if media is not None and media not in ("application/jwt", "application/secevent+jwt"):
            out.append("%s: contentMediaType %r is not one this validator reads"
                       % (where, media))
        if media in ("application/jwt", "application/secevent+jwt"):
            claims = jws_claims(value)
            if claims is None:
                out.append("%s: not a compact JWS with a JSON payload" % where)
            elif "contentSchema" in schema:
                self._check(schema["contentSchema"], claims, where + "<claims>", out)


# --------------------------------------------------------------------------
# the file as a contract for answers

def media_type(value):
    """'application/json; charset=utf-8' -> 'application/json'."""
    return (value or "").split(";", 1)[0].strip().lower()


def _header(headers, name):
    """headers: an http.client.HTTPMessage, or a dict (any case)."""
    if headers is None:
        return None
    if hasattr(headers, "get_all"):
        return headers.get(name)
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


class Contract:
    """What openapi.yaml says about one answer.

    problems() lists what is wrong (empty when the file describes the
    answer); check() raises ContractError with them."""

    def __init__(self, spec=None):
        self.spec = spec if spec is not None else load_spec()
        self.v = Validator(self.spec)
        self._templates = []
        for path in self.spec.get("paths") or {}:
            names = re.findall(r"\{([^}/]+)\}", path)
            rx = "^" + re.sub(r"\\\{[^}/]+\\\}", "([^/]+)", re.escape(path)) + "$"
            self._templates.append((len(names), path, re.compile(rx)))
        # A concrete path wins over a templated one (OpenAPI 3.1, Paths Object).
        self._templates.sort(key=lambda t: t[0])

    def path_template(self, target):
        """The documented path that the request target hits, or None."""
        path = urllib.parse.unquote(urllib.parse.urlsplit(target).path)
        for _, template, rx in self._templates:
            if rx.match(path):
                return template
        return None

    def operation(self, method, template):
        """(the documented operation, its method) for method on template;
        HEAD is answered as GET where GET is documented."""
        item = self.spec["paths"][template]
        m = method.lower()
        if m in item and m in HTTP_METHODS:
            return item[m], m
        if m == "head" and "get" in item:
            return item["get"], "get"
        return None, None

    def documented_methods(self, template):
        item = self.spec["paths"][template]
        methods = {m.upper() for m in item if m in HTTP_METHODS}
        if "GET" in methods:
            methods.add("HEAD")
        return methods

    def check(self, method, target, status, headers, body, request_headers=None):
        problems = self.problems(method, target, status, headers, body, request_headers)
        if problems:
            raise ContractError("openapi.yaml does not describe the answer to %s %s -> %d:\n  %s"
                                "\nheaders: %r\nbody: %r"
                                % (method, target, status, "\n  ".join(problems),
                                   dict(headers.items()) if headers is not None else None,
                                   (body or b"")[:600]))

    def problems(self, method, target, status, headers, body, request_headers=None):
        method = method.upper()
        out = []
        body = body or b""
        ctype = _header(headers, "Content-Type")
        if (str(status) in [str(s) for s in self.spec.get("x-libmicrohttpd-answers") or []]
                and _header(headers, "X-Request-Id") is None
                and media_type(ctype) in ("", "text/html")):
            # libmicrohttpd's own answer (an HTML page, sent without a
            # Content-Type), before the service saw the request: the file's
            # top says which and why; nothing more to hold it to.
            return out
        for name, want in COMMON_HEADERS.items():
            if _header(headers, name) != want:
                out.append("header %s is %r, not %r" % (name, _header(headers, name), want))
        template = self.path_template(target)
        op = None
        if template is not None:
            op, _ = self.operation(method, template)
        if op is None:
            self._any_request(method, template, status, headers, body, out)
            return out
        responses = op.get("responses") or {}
        resp = responses.get(str(status), responses.get("default"))
        if resp is None:
            out.append("status %d is not documented for %s %s (documented: %s)"
                       % (status, method, template, ", ".join(sorted(responses))))
            return out
        self._response(deref(self.spec, resp), method, status, headers, body, out)
        if 200 <= status < 300:
            self._query(op, template, target, status, out)
        if 200 <= status < 300 and "requestBody" in op and request_headers is not None:
            sent = media_type(_header(request_headers, "Content-Type"))
            content = deref(self.spec, op["requestBody"]).get("content") or {}
            if sent and sent not in {media_type(k) for k in content}:
                out.append("the request's Content-Type %r was taken (%d) but is not one the"
                           " request body documents (%s)" % (sent, status,
                                                              ", ".join(sorted(content))))
        return out

    def _query(self, op, template, target, status, out):
        """A request the server took (2xx): its query parameters are ones the
        operation lists, with values their schemas take."""
        params = {}
        for p in op.get("parameters") or []:
            p = deref(self.spec, p)
            if p.get("in") == "query":
                params[p["name"]] = p
        query = urllib.parse.urlsplit(target).query
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            p = params.get(name)
            if p is None:
                out.append("the query parameter %r was taken (%d) but %s lists no such"
                           " parameter" % (name, status, template))
                continue
            schema = deref(self.spec, p.get("schema") or {})
            typed = value
            if schema.get("type") == "integer" and re.match(r"^-?[0-9]+$", value):
                typed = int(value)
            out.extend(self.v.errors(schema, typed, "query " + name))

    def _any_request(self, method, template, status, headers, body, out):
        """An answer to a path the file does not list, or to a method the
        path does not take: only x-any-request's answers, as described."""
        anyreq = (self.spec.get("x-any-request") or {}).get("responses") or {}
        what = ("the path is not documented" if template is None
                else "%s is not documented for %s" % (method, template))
        resp = anyreq.get(str(status))
        if resp is None:
            out.append("%s, and %d is not among x-any-request's answers (%s)"
                       % (what, status, ", ".join(sorted(anyreq))))
            return
        if template is None and status == 405:
            out.append("405 for a path that is not documented (it should be 404)")
        if template is not None and status == 404:
            out.append("404 for a documented path (an undocumented method is 405)")
        self._response(deref(self.spec, resp), method, status, headers, body, out)
        if status == 405 and template is not None:
            allow = _header(headers, "Allow") or ""
            got = [m.strip() for m in allow.split(",") if m.strip()]
            want = self.documented_methods(template)
            if len(got) != len(set(got)) or set(got) != want:
                out.append("Allow is %r; the file documents %s for %s"
                           % (allow, ", ".join(sorted(want)), template))

    def _response(self, resp, method, status, headers, body, out):
        for name, h in (resp.get("headers") or {}).items():
            h = deref(self.spec, h)
            value = _header(headers, name)
            if value is None:
                if h.get("required"):
                    out.append("header %s missing" % name)
                continue
            if "schema" in h:
                out.extend(self.v.errors(h["schema"], value, "header " + name))
        content = resp.get("content") or {}
        ctype = _header(headers, "Content-Type")
        if not content:
            if body or ctype:
                out.append("the file documents no body for %d, the server sent %r (%r)"
                           % (status, ctype, body[:100]))
            return
        media = None
        for key, value in content.items():
            if key.lower() == (ctype or "").lower():
                media = value
        if media is None:
            for key, value in content.items():
                if media_type(key) == media_type(ctype):
                    media = value
        if media is None:
            out.append("Content-Type %r is not documented for %d (documented: %s)"
                       % (ctype, status, ", ".join(sorted(content))))
            return
        if method == "HEAD":
            if body:
                out.append("a HEAD answer with a body")
            return
        if "schema" not in media:
            return
        if media_type(ctype).endswith("json") or media_type(ctype).endswith("+json"):
            try:
                doc = json.loads(body)
            except ValueError as e:
                out.append("the body is not JSON (%s)" % e)
                return
        else:
            try:
                doc = body.decode("utf-8")
            except UnicodeDecodeError:
                out.append("the %s body is not UTF-8 text" % ctype)
                return
        out.extend(self.v.errors(media["schema"], doc, "body"))


_DEFAULT = None


def default_contract():
    """The contract of the repository's openapi.yaml (loaded once)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Contract()
    return _DEFAULT
