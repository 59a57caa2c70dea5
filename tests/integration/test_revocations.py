"""The revocation API of the real binary, over HTTP and over HTTPS.

One service per scheme (setUpClass) with every issuer configured; each test
talks to it over real sockets and then looks into its SQLite file. Every
refused request must leave the store as it was.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
import time
import unittest
import uuid

import harness
from harness import (Key, Service, Store, flip_signature_char, forge_hmac_with,
                     forge_unsigned, make_token, truncate_signature)

AUD = "session-revoker-test"
ISS_RSA = "https://rsa.idp.test/"
ISS_EC256 = "https://ec256.idp.test/"
ISS_EC384 = "https://ec384.idp.test/"
ISS_ED = "https://ed.idp.test/"
ISS_HMAC = "https://hmac.idp.test/"
ISS_JWKS = "https://jwks.idp.test/"
ISS_KID = "https://kid.idp.test/"     # a PEM key with a configured kid

MAX_BODY = 8192
MAX_HEADER = 8192
MAX_GROUPS = 10
MAX_GROUP_LEN = 64
SKEW = 60

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RFC3339_Z_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
CHALLENGE = 'Bearer realm="session-revoker"'
CHALLENGE_INVALID = 'Bearer realm="session-revoker", error="invalid_token"'

KEYS = {}        # name -> Key
TMP = None       # module temp dir
TLS = None       # (cert_file, key_file)

# alg -> (key name, issuer): every algorithm the service verifies.
ALGORITHMS = {
    "RS256": ("rsa", ISS_RSA),
    "RS384": ("rsa", ISS_RSA),
    "RS512": ("rsa", ISS_RSA),
    "PS256": ("rsa", ISS_RSA),
    "ES256": ("ec256", ISS_EC256),
    "ES384": ("ec384", ISS_EC384),
    "EdDSA": ("ed", ISS_ED),
    "HS256": ("hmac", ISS_HMAC),
    "HS512": ("hmac", ISS_HMAC),
}


def setUpModule():
    global TMP, TLS
    TMP = tempfile.mkdtemp(prefix="sr-it-")
    KEYS["rsa"] = Key("rsa", TMP, "rsa")
    KEYS["rsa_other"] = Key("rsa", TMP, "rsa-other")   # the wrong key
    KEYS["ec256"] = Key("ec256", TMP, "ec256")
    KEYS["ec384"] = Key("ec384", TMP, "ec384")
    KEYS["ed"] = Key("ed25519", TMP, "ed", kid="ed-1")
    KEYS["hmac"] = Key("hmac", TMP, "hmac")
    KEYS["k1"] = Key("rsa", TMP, "jwks-k1", kid="k1")
    KEYS["k2"] = Key("rsa", TMP, "jwks-k2", kid="k2")
    TLS = harness.make_tls_cert(TMP)


def tearDownModule():
    if TMP and not os.environ.get("SR_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


def issuers_config():
    return [
        {"issuer": ISS_RSA, "audience": AUD,
         "algorithms": ["RS256", "RS384", "RS512", "PS256"],
         "public_key_file": KEYS["rsa"].write_public_pem()},
        {"issuer": ISS_EC256, "audience": AUD, "algorithms": ["ES256"],
         "public_key_file": KEYS["ec256"].write_public_pem()},
        {"issuer": ISS_EC384, "audience": AUD, "algorithms": ["ES384"],
         "public_key_file": KEYS["ec384"].write_public_pem()},
        {"issuer": ISS_ED, "audience": AUD, "algorithms": ["EdDSA"],
         "jwks_file": harness.write_jwks(TMP, "ed", [KEYS["ed"]])},
        {"issuer": ISS_HMAC, "audience": AUD, "algorithms": ["HS256", "HS512"],
         "hmac_secret_file": KEYS["hmac"].write_secret()},
        {"issuer": ISS_JWKS, "audience": AUD, "algorithms": ["RS256"],
         "jwks_file": harness.write_jwks(TMP, "two", [KEYS["k1"], KEYS["k2"]])},
        {"issuer": ISS_KID, "audience": AUD, "algorithms": ["RS256"],
         "public_key_file": KEYS["rsa"].write_public_pem(), "kid": "rsa-2026"},
    ]


def service_config(name, tls):
    listen = {"address": "127.0.0.1", "port": 0}
    if tls:
        listen["tls"] = {"cert_file": TLS[0], "key_file": TLS[1]}
    config = {
        "listen": listen,
        "store": {"path": os.path.join(TMP, name + ".db")},
        "auth": {"clock_skew_seconds": SKEW, "issuers": issuers_config()},
        "limits": {"max_body_bytes": MAX_BODY, "max_header_bytes": MAX_HEADER,
                   "max_groups": MAX_GROUPS, "max_group_length": MAX_GROUP_LEN},
        "log": {"level": "info"},
        # Accounts a document may name; no workers here (test_jobs.py runs them).
        "aws": {"accounts": [{"id": a, "role_name": "SessionRevokerAdmin"}
                             for a in ("123456789012", "210987654321")]},
        "jobs": {"workers": 0},
    }
    path = harness.write_config(os.path.join(TMP, name + ".json"), config)
    return path, config


def tok(alg="RS256", key=None, iss=None, claims=None, headers=None, **kw):
    """A valid token of the issuer that alg belongs to (unless overridden)."""
    key_name, default_iss = ALGORITHMS.get(alg, ("rsa", ISS_RSA))
    k = KEYS[key] if isinstance(key, str) else (key or KEYS[key_name])
    return make_token(k, alg, claims, headers, iss=iss or default_iss, aud=AUD, **kw)


def forge_header(token, key, **header):
    """token re-signed by key (RS256) with header members set as given, also
    ones PyJWT refuses to write (a kid that is not a string; None is null)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    head = json.loads(harness.b64url_decode(token.split(".")[0]))
    head.update(header)
    signing_input = (harness.b64url(json.dumps(head, separators=(",", ":")))
                     + "." + token.split(".")[1])
    sig = key.signing.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + harness.b64url(sig)


def doc(**fields):
    d = {"groups": ["team_opsec"], "time": "2024-05-01T12:00:00Z", "action": "revoke"}
    d.update(fields)
    return {k: v for k, v in d.items() if v is not None}


class ServiceCase:
    """The tests; mixed into one TestCase per scheme below."""

    TLS = False
    NAME = None

    @classmethod
    def setUpClass(cls):
        path, cls.config = service_config(cls.NAME, cls.TLS)
        cls.svc = Service(path, cwd=TMP, logdir=TMP, ca_file=TLS[0], name=cls.NAME)
        cls.svc.start()
        cls.store = Store(cls.config["store"]["path"])

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop(check=True)

    def tearDown(self):
        # A crash or a sanitizer report is pinned on the test that caused it.
        self.assertTrue(self.svc.alive(), "service died:\n" + self.svc.stderr()[-20000:])
        self.assertEqual(self.svc.sanitizer_reports(), [],
                         "sanitizer report:\n" + self.svc.stderr()[-20000:])

    # -- helpers

    def req(self, method, path, **kw):
        r = self.svc.request(method, path, **kw)
        rid = r.headers.get("X-Request-Id")
        self.assertTrue(rid, "no X-Request-Id on %s %s -> %r" % (method, path, r))
        self.assertRegex(rid, r"^[A-Za-z0-9._-]{1,64}$")
        self.assertEqual(r.headers.get("Content-Type"), "application/json", r)
        self.assertIsNotNone(r.json, "body is not JSON: %r" % (r,))
        return r

    def post(self, body, token=None, headers=None, **kw):
        if token is None:
            token = tok()
        return self.req("POST", "/v1/revocations", json_body=body, token=token,
                        headers=headers, **kw)

    def post_jwt(self, token, headers=None):
        h = {"Content-Type": "application/jwt"}
        h.update(headers or {})
        return self.req("POST", "/v1/revocations", body=token, headers=h)

    def get(self, path, token=None, **kw):
        if token is None:
            token = tok(scope="revocations:read")
        return self.req("GET", path, token=token, **kw)

    @contextlib.contextmanager
    def unchanged(self):
        """Nothing is written to the store inside the block."""
        before = self.store.counts()
        seq_before = self.store.query("SELECT coalesce(max(seq), 0) AS m FROM revocations")
        yield
        self.assertEqual(self.store.counts(), before, "a refused request changed the store")
        self.assertEqual(self.store.query("SELECT coalesce(max(seq), 0) AS m FROM revocations"),
                         seq_before)

    def assertError(self, r, status, code, detail_has=None):
        self.assertEqual(r.status, status, r)
        self.assertIsInstance(r.json, dict, r)
        self.assertEqual(r.json.get("error"), code, r)
        self.assertIsInstance(r.json.get("detail"), str, r)
        self.assertTrue(r.json["detail"], r)
        for frag in ([detail_has] if isinstance(detail_has, str) else detail_has or []):
            self.assertIn(frag, r.json["detail"], r)

    def assertInvalidToken(self, r, detail_has, token):
        self.assertError(r, 401, "invalid_token", detail_has)
        self.assertEqual(r.headers.get("WWW-Authenticate"), CHALLENGE_INVALID, r)
        self.assertNotIn(token.encode(), r.raw, "the token is echoed back")
        for part in token.split("."):
            if len(part) > 16:
                self.assertNotIn(part.encode(), r.raw, "a token part is echoed back")

    def assertAccepted(self, r):
        self.assertEqual(r.status, 202, r)
        rev = r.json
        self.assertRegex(rev["id"], UUID_RE)
        self.assertEqual(r.headers.get("Location"), "/v1/revocations/" + rev["id"])
        self.assertEqual(rev["state"], "pending")
        return rev

    # -- health and request ids

    def test_healthz_and_readyz(self):
        r = self.req("GET", "/healthz")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"status": "ok"})
        r = self.req("GET", "/readyz")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json.get("status"), "ready", r)

    def test_request_id_echoed_when_plain_and_replaced_otherwise(self):
        r = self.req("GET", "/healthz", headers={"X-Request-Id": "lb-7f3a.req_42"})
        self.assertEqual(r.headers.get("X-Request-Id"), "lb-7f3a.req_42")
        r = self.req("GET", "/healthz", headers={"X-Request-Id": "evil id<script>"})
        self.assertNotEqual(r.headers.get("X-Request-Id"), "evil id<script>")
        r = self.req("GET", "/healthz", headers={"X-Request-Id": "x" * 64})
        self.assertEqual(r.headers.get("X-Request-Id"), "x" * 64)
        r = self.req("GET", "/healthz", headers={"X-Request-Id": "x" * 65})
        self.assertNotEqual(r.headers.get("X-Request-Id"), "x" * 65)
        r1 = self.req("GET", "/healthz")
        r2 = self.req("GET", "/healthz")
        self.assertNotEqual(r1.headers["X-Request-Id"], r2.headers["X-Request-Id"])
        # Errors carry one too (checked in req()), an echoed one included.
        r = self.req("GET", "/nope", headers={"X-Request-Id": "abc-123"})
        self.assertEqual(r.status, 404)
        self.assertEqual(r.headers.get("X-Request-Id"), "abc-123")

    # -- the happy paths

    def test_post_json_records_the_revocation(self):
        jti = uuid.uuid4().hex
        token = tok(jti=jti, sub="ops-oncall@example.com")
        body = doc(groups=["team_a", "team_b", "team_a"], time="2024-05-01T12:00:00Z",
                   action="revoke", accounts=["123456789012", "210987654321"],
                   reason="laptop stolen")
        t0 = int(time.time())
        r = self.post(body, token=token)
        t1 = int(time.time())
        rev = self.assertAccepted(r)
        self.assertEqual(rev["action"], "revoke")
        self.assertEqual(rev["groups"], ["team_a", "team_b"])   # duplicates folded
        self.assertEqual(rev["cutoff"], "2024-05-01T12:00:00Z")
        self.assertEqual(rev["time"], "2024-05-01T12:00:00Z")
        self.assertEqual(rev["accounts"], ["123456789012", "210987654321"])
        self.assertEqual(rev["reason"], "laptop stolen")
        self.assertEqual(rev["source"], "document")
        self.assertEqual(rev["requested_by"], {"issuer": ISS_RSA,
                                               "subject": "ops-oncall@example.com",
                                               "token_id": jti})
        self.assertRegex(rev["created_at"], RFC3339_Z_RE)
        self.assertRegex(rev["updated_at"], RFC3339_Z_RE)

        row = self.store.revocation(rev["id"])
        self.assertIsNotNone(row, "202 but no row")
        self.assertEqual(row["issuer"], ISS_RSA)
        self.assertEqual(row["subject"], "ops-oncall@example.com")
        self.assertEqual(row["token_id"], jti)
        self.assertEqual(row["source"], "document")
        self.assertEqual(row["action"], "revoke")
        self.assertEqual(row["cutoff"], 1714564800)
        self.assertEqual(row["time_given"], "2024-05-01T12:00:00Z")
        self.assertEqual(json.loads(row["accounts"]), ["123456789012", "210987654321"])
        self.assertEqual(row["reason"], "laptop stolen")
        self.assertEqual(row["state"], "pending")
        self.assertEqual(row["groups"], ["team_a", "team_b"])
        self.assertTrue(t0 - 2 <= row["created_at"] <= t1 + 2, row)

    def test_post_json_time_forms(self):
        t = int(time.time())
        cases = [
            ({"time": 1714564800}, 1714564800, "1714564800"),
            ({"time": "2024-05-01 14:00:00+02:00"}, 1714564800, "2024-05-01 14:00:00+02:00"),
            ({"time": "Wed, 01 May 2024 12:00:00 GMT"}, 1714564800,
             "Wed, 01 May 2024 12:00:00 GMT"),
            ({"time": "30 minutes ago"}, t - 1800, "30 minutes ago"),
            ({"time": None}, t, None),   # missing: now
        ]
        for fields, cutoff, given in cases:
            with self.subTest(fields=fields):
                body = doc(**fields)
                if fields.get("time", 0) is None:
                    body.pop("time", None)
                r = self.post(body)
                rev = self.assertAccepted(r)
                row = self.store.revocation(rev["id"])
                self.assertLessEqual(abs(row["cutoff"] - cutoff), 5, row)
                self.assertEqual(row["time_given"], given)
                self.assertEqual(rev["time"], given)
                self.assertRegex(rev["cutoff"], RFC3339_Z_RE)

    def test_post_cleanup_with_permissions_array(self):
        token = tok(scope=None, claims={"permissions": ["revocations:read",
                                                         "revocations:write"]})
        r = self.post(doc(action="cleanup", groups=["g-cleanup"]), token=token)
        rev = self.assertAccepted(r)
        self.assertEqual(rev["action"], "cleanup")
        self.assertEqual(self.store.revocation(rev["id"])["action"], "cleanup")

    def test_post_application_jwt_document(self):
        jti = uuid.uuid4().hex
        claims = {"groups": ["team_jwt"], "time": "2024-06-01T00:00:00Z",
                  "action": "revoke", "reason": "signed document"}
        token = tok("ES256", claims=claims, jti=jti, sub="idp-automation",
                    scope="revocations:write")
        r = self.post_jwt(token)
        rev = self.assertAccepted(r)
        self.assertEqual(rev["source"], "document-jwt")
        self.assertEqual(rev["groups"], ["team_jwt"])
        self.assertEqual(rev["cutoff"], "2024-06-01T00:00:00Z")
        self.assertEqual(rev["reason"], "signed document")
        self.assertEqual(rev["requested_by"], {"issuer": ISS_EC256, "subject": "idp-automation",
                                               "token_id": jti})
        row = self.store.revocation(rev["id"])
        self.assertEqual(row["source"], "document-jwt")
        self.assertEqual(row["source_event_id"], ISS_EC256 + "#" + jti)
        self.assertEqual((row["issuer"], row["subject"], row["token_id"]),
                         (ISS_EC256, "idp-automation", jti))
        self.assertEqual(row["cutoff"], 1717200000)
        self.assertEqual(row["groups"], ["team_jwt"])

        # A trailing newline (curl --data-binary @file) is fine too.
        r = self.post_jwt(tok("ES256", claims={"groups": ["team_jwt2"]}) + "\n")
        self.assertAccepted(r)

    def test_duplicate_jwt_document_is_one_revocation(self):
        token = tok(claims={"groups": ["dup-doc"], "time": "1 hour ago"})
        r1 = self.post_jwt(token)
        rev1 = self.assertAccepted(r1)
        before = self.store.counts()
        r2 = self.post_jwt(token)
        rev2 = self.assertAccepted(r2)
        self.assertEqual(rev2["id"], rev1["id"])
        self.assertEqual(r2.headers.get("Idempotent-Replayed"), "true")
        self.assertEqual(self.store.counts(), before)
        self.assertEqual(len(self.store.query(
            "SELECT seq FROM revocations WHERE token_id = ?",
            (harness.claims_of(token)["jti"],))), 1)

    def test_long_identifiers_are_kept_whole(self):
        # A sub over 255 bytes and a jti over 127 bytes, each with a
        # multi-byte character where the old fixed buffers cut them: the
        # answer is a 202 that carries them whole (never a 500), and they
        # are stored whole.
        sub = "s" * 254 + "\u00e9" + "-subject" + "\u4e2d" * 100
        jti = "j" * 126 + "\u00e9" + "-" + uuid.uuid4().hex + "\u00fc" * 200
        for via in ("bearer", "application/jwt"):
            with self.subTest(via=via):
                claims = {"groups": ["long-ids-" + via]} if via != "bearer" else None
                token = tok(sub=sub, jti=jti + via, claims=claims)
                if via == "bearer":
                    r = self.post(doc(groups=["long-ids"]), token=token)
                else:
                    r = self.post_jwt(token)
                rev = self.assertAccepted(r)
                self.assertEqual(rev["requested_by"]["subject"], sub)
                self.assertEqual(rev["requested_by"]["token_id"], jti + via)
                row = self.store.revocation(rev["id"])
                self.assertEqual((row["subject"], row["token_id"]), (sub, jti + via))
                if via != "bearer":
                    self.assertEqual(row["source_event_id"], ISS_RSA + "#" + jti + via)
        # An Idempotency-Key is scoped to the whole subject: two subjects
        # that share their first 255 bytes are two callers.
        key = "long-sub-" + uuid.uuid4().hex
        a = self.assertAccepted(self.post(doc(groups=["long-sub"]), token=tok(sub=sub + "a"),
                                          headers={"Idempotency-Key": key}))
        r = self.post(doc(groups=["long-sub"]), token=tok(sub=sub + "b"),
                      headers={"Idempotency-Key": key})
        b = self.assertAccepted(r)
        self.assertIsNone(r.headers.get("Idempotent-Replayed"))
        self.assertNotEqual(a["id"], b["id"])

    def test_jwt_document_without_jti_is_one_revocation(self):
        # No jti (or one that is not a string): the document is known by the
        # hash of what was signed, so a replay is the same revocation.
        for name, extra in (("no jti", {}), ("numeric jti", {"jti": 12345})):
            with self.subTest(name):
                group = "nojti-" + uuid.uuid4().hex[:8]
                token = tok(jti=None, claims=dict({"groups": [group], "time": "1 hour ago"},
                                                  **extra))
                rev1 = self.assertAccepted(self.post_jwt(token))
                row = self.store.revocation(rev1["id"])
                self.assertRegex(row["source_event_id"],
                                 "^" + re.escape(ISS_RSA) + "#sha256:[0-9a-f]{64}$")
                with self.unchanged():
                    r2 = self.post_jwt(token)
                    r3 = self.post_jwt(token + "\n")
                for r in (r2, r3):
                    self.assertEqual(self.assertAccepted(r)["id"], rev1["id"])
                    self.assertEqual(r.headers.get("Idempotent-Replayed"), "true")
                self.assertEqual(len(self.store.query(
                    "SELECT r.seq FROM revocations r JOIN revocation_groups g"
                    " ON g.revocation_seq = r.seq WHERE g.group_name = ?", (group,))), 1)
                # Another document without a jti is another revocation.
                other = tok(jti=None, claims={"groups": [group], "time": "2 hours ago"})
                rev4 = self.assertAccepted(self.post_jwt(other))
                self.assertNotEqual(rev4["id"], rev1["id"])

    def test_same_jti_on_another_document_is_422(self):
        jti = "jti-reuse-" + uuid.uuid4().hex
        first = tok(jti=jti, claims={"groups": ["jti-reuse"], "reason": "first"})
        rev = self.assertAccepted(self.post_jwt(first))
        # The same claims signed again (a fresh signature): the same document.
        again = self.post_jwt(tok(jti=jti, claims={"groups": ["jti-reuse"], "reason": "first"}))
        self.assertEqual(self.assertAccepted(again)["id"], rev["id"])
        for name, claims in (("other reason", {"groups": ["jti-reuse"], "reason": "second"}),
                             ("other groups", {"groups": ["jti-reuse", "more"], "reason": "first"}),
                             ("other time", {"groups": ["jti-reuse"], "reason": "first",
                                             "time": "5 minutes ago"}),
                             ("other action", {"groups": ["jti-reuse"], "reason": "first",
                                               "action": "cleanup"})):
            with self.subTest(name):
                with self.unchanged():
                    r = self.post_jwt(tok(jti=jti, claims=claims))
                self.assertError(r, 422, "idempotency_key_reused", "jti")
        # Two jtis that share their first 127 characters are two documents.
        long_a, long_b = "x" * 127 + "a", "x" * 127 + "b"
        ra = self.assertAccepted(self.post_jwt(tok(jti=long_a, claims={"groups": ["jti-a"]})))
        rb = self.assertAccepted(self.post_jwt(tok(jti=long_b, claims={"groups": ["jti-b"]})))
        self.assertNotEqual(ra["id"], rb["id"])
        self.assertEqual(rb["groups"], ["jti-b"])
        self.assertEqual(rb["requested_by"]["token_id"], long_b)

    def test_jwt_document_refusals(self):
        cases = [
            ("no write permission", tok(claims={"groups": ["x"]}, scope="revocations:read"),
             403, "insufficient_scope", "revocations:write"),
            ("unknown claim", tok(claims={"groups": ["x"], "grops": ["y"]}),
             400, "invalid_request", "grops"),
            ("no groups", tok(claims={"time": "now"}), 400, "invalid_request", "groups"),
            ("bad signature", flip_signature_char(tok(claims={"groups": ["x"]})),
             401, "invalid_token", "signature"),
            ("not a token", "this is not a jwt", 401, "invalid_token", "malformed"),
            ("empty body", "", 401, "invalid_token", None),
        ]
        for name, token, status, code, frag in cases:
            with self.subTest(name):
                with self.unchanged():
                    r = self.post_jwt(token)
                self.assertError(r, status, code, frag)
                if status == 403:
                    self.assertIn('error="insufficient_scope"',
                                  r.headers.get("WWW-Authenticate", ""))
                    self.assertIn('scope="revocations:write"',
                                  r.headers.get("WWW-Authenticate", ""))
                if status == 401 and token:
                    self.assertInvalidToken(r, frag, token)

    # -- reading

    def test_get_by_id(self):
        created = self.assertAccepted(self.post(doc(groups=["get-me"], reason="r")))
        r = self.get("/v1/revocations/" + created["id"])
        self.assertEqual(r.status, 200, r)
        detail = dict(r.json)
        # GET adds what the workers did: one apply job per configured account.
        jobs = detail.pop("jobs")
        self.assertEqual(detail.pop("roles"), [])
        self.assertIsNone(detail.pop("cleanup_due"))
        self.assertEqual(detail, created)
        self.assertEqual(sorted((j["kind"], j["account"], j["state"]) for j in jobs),
                         [("apply", "123456789012", "pending"), ("apply", "210987654321", "pending")])
        # HEAD answers like GET, without a body.
        r = self.svc.request("HEAD", "/v1/revocations/" + created["id"],
                             token=tok(scope="revocations:read"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.raw, b"")

    def test_get_needs_read_permission_and_a_token(self):
        created = self.assertAccepted(self.post(doc(groups=["perm-check"])))
        path = "/v1/revocations/" + created["id"]
        r = self.get(path, token=tok(scope="revocations:write"))
        self.assertError(r, 403, "insufficient_scope", "revocations:read")
        self.assertEqual(r.headers.get("WWW-Authenticate"),
                         'Bearer realm="session-revoker", error="insufficient_scope", '
                         'scope="revocations:read"')
        r = self.req("GET", path)
        self.assertError(r, 401, "unauthorized")
        self.assertEqual(r.headers.get("WWW-Authenticate"), CHALLENGE)
        r = self.req("GET", "/v1/revocations")
        self.assertError(r, 401, "unauthorized")
        self.assertEqual(r.headers.get("WWW-Authenticate"), CHALLENGE)

    def test_get_unknown_id_is_404(self):
        for rid in (str(uuid.uuid4()), "not-a-uuid", "0" * 64):
            with self.subTest(rid=rid):
                r = self.get("/v1/revocations/" + rid)
                self.assertError(r, 404, "not_found")

    def test_list_pages_newest_first(self):
        group = "paging-" + uuid.uuid4().hex[:8]
        ids = [self.assertAccepted(self.post(doc(groups=[group, "other"])))["id"]
               for _ in range(5)]
        seen, cursor, pages = [], None, 0
        while True:
            path = "/v1/revocations?group=%s&limit=2" % group
            if cursor:
                path += "&cursor=" + cursor
            r = self.get(path)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(set(r.json), {"items", "next_cursor"})
            pages += 1
            items = r.json["items"]
            self.assertLessEqual(len(items), 2)
            for it in items:
                self.assertIn(group, it["groups"])
            seen += [it["id"] for it in items]
            cursor = r.json["next_cursor"]
            if cursor is None:
                break
            self.assertIsInstance(cursor, str)
            self.assertLess(pages, 10, "paging does not end")
        self.assertEqual(pages, 3)
        self.assertEqual(seen, list(reversed(ids)))

    def test_list_filters(self):
        group = "filter-" + uuid.uuid4().hex[:8]
        mine = self.assertAccepted(self.post(doc(groups=[group])))["id"]
        self.assertAccepted(self.post(doc(groups=["unrelated-" + group])))
        r = self.get("/v1/revocations?group=" + group)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([it["id"] for it in r.json["items"]], [mine])
        self.assertIsNone(r.json["next_cursor"])
        r = self.get("/v1/revocations?state=pending&group=" + group)
        self.assertEqual([it["id"] for it in r.json["items"]], [mine])
        r = self.get("/v1/revocations?state=applied&group=" + group)
        self.assertEqual(r.json["items"], [])
        r = self.get("/v1/revocations?state=pending&limit=200")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["items"])
        self.assertTrue(all(it["state"] == "pending" for it in r.json["items"]))
        r = self.get("/v1/revocations?state=applied")
        self.assertEqual(r.json, {"items": [], "next_cursor": None})

    def test_list_by_source(self):
        group = "source-" + uuid.uuid4().hex[:8]
        plain = self.assertAccepted(self.post(doc(groups=[group])))["id"]
        signed = self.assertAccepted(self.post_jwt(tok(
            "ES256", claims={"groups": [group]}, jti=uuid.uuid4().hex,
            scope="revocations:write")))["id"]
        for source, ids in (("document", [plain]), ("document-jwt", [signed]),
                            ("auth0", [])):
            with self.subTest(source=source):
                r = self.get("/v1/revocations?source=%s&group=%s" % (source, group))
                self.assertEqual(r.status, 200, r)
                self.assertEqual([it["id"] for it in r.json["items"]], ids, r)
                for it in r.json["items"]:
                    self.assertEqual(it["source"], source)
                    # Documents are about no provider's user and no rule fired.
                    self.assertEqual((it["subject"], it["rule"], it["note"]),
                                     (None, None, None), it)
        r = self.get("/v1/revocations?group=" + group)
        self.assertEqual([it["id"] for it in r.json["items"]], [signed, plain])
        # Every item of a page from one source is from that source.
        r = self.get("/v1/revocations?source=document&limit=200")
        self.assertTrue(r.json["items"])
        self.assertEqual({it["source"] for it in r.json["items"]}, {"document"})

    def test_list_bad_query_is_400(self):
        for q, frag in (("state=done", "state"), ("limit=0", "limit"), ("limit=201", "limit"),
                        ("limit=x", "limit"), ("cursor=abc", "cursor"), ("group=", "group"),
                        ("source=", "source"), ("source=a&source=b", "given twice"),
                        ("colour=red", "colour")):
            with self.subTest(q=q):
                r = self.get("/v1/revocations?" + q)
                self.assertError(r, 400, "invalid_request", frag)

    # -- routing and media

    def test_unknown_route_is_404(self):
        for method, path in (("GET", "/"), ("GET", "/v2/revocations"),
                             ("POST", "/v1/revocations/extra/segment")):
            with self.subTest(path=path):
                with self.unchanged():
                    r = self.req(method, path, token=tok())
                self.assertError(r, 404, "not_found")

    def test_wrong_method_is_405_with_allow(self):
        cases = [
            ("DELETE", "/v1/revocations", {"GET", "POST", "HEAD"}),
            ("PUT", "/v1/revocations", {"GET", "POST", "HEAD"}),
            ("POST", "/healthz", {"GET", "HEAD"}),
            ("DELETE", "/v1/revocations/" + str(uuid.uuid4()), {"GET", "HEAD"}),
        ]
        for method, path, allow in cases:
            with self.subTest(method=method, path=path):
                with self.unchanged():
                    r = self.req(method, path, token=tok(),
                                 json_body=doc() if method in ("PUT", "POST") else None)
                self.assertError(r, 405, "method_not_allowed")
                self.assertEqual({m.strip() for m in r.headers.get("Allow", "").split(",")},
                                 allow, r)

    def test_unsupported_media_type_is_415(self):
        for ctype in ("text/plain", "application/x-www-form-urlencoded", None,
                      "application/jsonx"):
            with self.subTest(ctype=ctype):
                headers = {"Content-Type": ctype} if ctype else {}
                with self.unchanged():
                    r = self.req("POST", "/v1/revocations", body=json.dumps(doc()),
                                 headers=headers, token=tok())
                self.assertError(r, 415, "unsupported_media_type")
        # Parameters and case do not matter.
        r = self.post(doc(), headers={"Content-Type": "Application/JSON; charset=utf-8"})
        self.assertAccepted(r)

    def test_body_too_large_is_413(self):
        big = doc(reason="x" * 10, groups=["g%d" % i for i in range(5)])
        big["reason"] = "y" * (MAX_BODY + 100)
        payload = json.dumps(big).encode()
        self.assertGreater(len(payload), MAX_BODY)
        for chunked in (False, True):
            with self.subTest(chunked=chunked):
                with self.unchanged():
                    r = self.req("POST", "/v1/revocations", body=payload, token=tok(),
                                 headers={"Content-Type": "application/json"},
                                 chunked=chunked)
                self.assertError(r, 413, "payload_too_large", str(MAX_BODY))
        # A declared Content-Length above the cap is refused before the body.
        with self.unchanged():
            r = self.req("POST", "/v1/revocations", body=payload, token=tok(),
                         headers={"Content-Type": "application/json",
                                  "Content-Length": str(len(payload))})
        self.assertError(r, 413, "payload_too_large")
        # application/jwt too.
        with self.unchanged():
            r = self.post_jwt(tok(claims={"groups": ["x"], "reason": "z" * MAX_BODY}))
        self.assertError(r, 413, "payload_too_large")

    def test_body_of_exactly_the_limit_is_taken(self):
        body = doc(groups=["at-the-limit"], reason="")
        pad = MAX_BODY - len(json.dumps(body).encode())
        text = json.dumps(body) + " " * pad    # trailing blanks are valid JSON
        self.assertEqual(len(text.encode()), MAX_BODY)
        for chunked in (False, True):
            with self.subTest(chunked=chunked):
                r = self.req("POST", "/v1/revocations", body=text, token=tok(),
                             headers={"Content-Type": "application/json"}, chunked=chunked)
                self.assertAccepted(r)
        with self.unchanged():
            r = self.req("POST", "/v1/revocations", body=text + " ", token=tok(),
                         headers={"Content-Type": "application/json"})
        self.assertError(r, 413, "payload_too_large")

    def test_header_block_too_large_is_refused(self):
        # Over limits.max_header_bytes: the service's own JSON 431, with a
        # request id, and the connection closed.
        token = tok()
        filler = "a" * (MAX_HEADER * 2)
        data = ("POST /v1/revocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                "X-Filler: %s\r\nContent-Length: %d\r\n\r\n"
                % (token, filler, len(json.dumps(doc())))).encode() + json.dumps(doc()).encode()
        with self.unchanged():
            raw, closed = self.exchange(data)
        self.assertRawError(raw, 431, "header_too_large", str(MAX_HEADER))
        self.assertTrue(closed, raw[:300])
        # Many header lines adding up over the limit, too.
        lines = "".join("X-H%d: %s\r\n" % (i, "b" * 100) for i in range(MAX_HEADER // 50))
        data = ("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n"
                % lines).encode()
        raw, _ = self.exchange(data)
        self.assertRawError(raw, 431, "header_too_large")
        # Just under the limit is served.
        data = ("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: %s\r\n"
                "Connection: close\r\n\r\n" % ("c" * (MAX_HEADER - 200))).encode()
        raw, _ = self.exchange(data)
        self.assertEqual(harness.parse_raw_response(raw)[0], 200, raw[:300])
        # A header block too large even for libmicrohttpd's memory gets its
        # own answer (HTML, no request id: it never reaches the service),
        # but is logged.
        data = ("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: %s\r\n"
                "Connection: close\r\n\r\n" % ("d" * (MAX_HEADER * 8))).encode()
        raw, _ = self.exchange(data)
        self.assertEqual(harness.parse_raw_response(raw)[0], 431, raw[:300])
        self.wait_log_line("http.request", "status=431 answered_by=libmicrohttpd")
        # And the service still answers.
        self.assertEqual(self.req("GET", "/healthz").status, 200)

    # -- request smuggling (RFC 9112 §6.3, §3.2)

    def exchange(self, data, timeout=5):
        """Sends data on a new connection; (everything the server sent until
        it closed, whether it closed within timeout)."""
        return self.svc.raw_exchange(data, timeout, until_closed=True)

    def assertRawError(self, raw, status, code, detail_has=None):
        got, headers, body = harness.parse_raw_response(raw)
        self.assertEqual(got, status, raw[:400])
        self.assertEqual(headers.get("content-type"), "application/json", raw[:400])
        self.assertRegex(headers.get("x-request-id", ""), r"^[0-9a-f]{32}$", raw[:400])
        err = json.loads(body)
        self.assertEqual(err["error"], code, raw[:400])
        if detail_has:
            self.assertIn(detail_has, err["detail"])
        return headers

    def test_smuggling_shapes_are_400_and_close(self):
        token = tok()
        body = json.dumps(doc(groups=["smuggled"]))
        # What a proxy that reads the other header would take for a second
        # request on the same connection: it must never be answered.
        tail = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        head = ("POST /v1/revocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nAuthorization: Bearer %s\r\n" % token)
        n = len(body)
        cases = [
            ("two Content-Length, different",
             head + "Content-Length: %d\r\nContent-Length: 0\r\n\r\n%s%s" % (n, body, tail),
             "Content-Length"),
            ("two Content-Length, equal",
             head + "Content-Length: %d\r\nContent-Length: %d\r\n\r\n%s%s" % (n, n, body, tail),
             "Content-Length"),
            ("two Authorization",
             head + "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s%s"
             % (tok(sub="someone-else"), n, body, tail), "Authorization"),
            ("Content-Length and Transfer-Encoding",
             head + "Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n%s"
             % (n, n, body, tail), "Transfer-Encoding"),
            ("two Transfer-Encoding",
             head + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n%s"
             % (n, body, tail), "Transfer-Encoding"),
            ("Transfer-Encoding not chunked",
             head + "Transfer-Encoding: gzip, chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n%s"
             % (n, body, tail), "chunked"),
            ("two Host",
             head + "Host: other.example\r\nContent-Length: %d\r\n\r\n%s%s" % (n, body, tail),
             "Host"),
            ("HTTP/1.1 without Host",
             head.replace("Host: 127.0.0.1\r\n", "") + "Content-Length: %d\r\n\r\n%s%s"
             % (n, body, tail), "Host"),
        ]
        for name, data, frag in cases:
            with self.subTest(name):
                with self.unchanged():
                    raw, closed = self.exchange(data.encode())
                headers = self.assertRawError(raw, 400, "invalid_request", frag)
                self.assertEqual(headers.get("connection", "").lower(), "close", raw[:400])
                self.assertTrue(closed, "the connection stays open: " + repr(raw[:400]))
                self.assertEqual(len(re.findall(rb"(?:^|\r\n)HTTP/1\.[01] \d{3} ", raw)), 1, raw)
        # The same request, framed once, is taken.
        raw, _ = self.exchange((head + "Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                                % (n, body)).encode())
        self.assertEqual(harness.parse_raw_response(raw)[0], 202, raw[:400])

    def test_errors_libmicrohttpd_answers_itself_are_logged(self):
        # A Content-Length that is not a number, an HTTP version it does not
        # speak: libmicrohttpd answers before the service sees the request
        # (see openapi.yaml). The answer still closes the connection, and the
        # service logs it (the 505 it refuses before even the request line is
        # handed over, so that one only as libmicrohttpd's own warning).
        raw, closed = self.exchange(b"POST /v1/revocations HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Length: 12abc\r\n\r\n{}")
        self.assertEqual(harness.parse_raw_response(raw)[0], 400, raw[:300])
        self.assertTrue(closed)
        self.wait_log_line("http.request", "status=400 answered_by=libmicrohttpd")
        raw, closed = self.exchange(b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n")
        self.assertEqual(harness.parse_raw_response(raw)[0], 505, raw[:300])
        self.assertTrue(closed)

    # -- the document

    def test_bad_documents_are_400(self):
        long_group = "g" * (MAX_GROUP_LEN + 1)
        future = int(time.time()) + 3600
        cases = [
            ("not JSON", b'{"groups": ["a"', "not JSON"),
            ("not an object", json.dumps(["a"]), "object"),
            ("unknown field", json.dumps(doc(grups=["a"])), '"grups"'),
            ("missing groups", json.dumps({"time": "now"}), "groups"),
            ("empty groups", json.dumps(doc(groups=[])), "groups"),
            ("groups not an array", json.dumps(doc(groups="team")), "groups"),
            ("empty group name", json.dumps(doc(groups=[""])), "groups[0]"),
            ("group not a string", json.dumps(doc(groups=[7])), "groups[0]"),
            ("too many groups", json.dumps(doc(groups=["g%d" % i for i in range(MAX_GROUPS + 1)])),
             ["groups", str(MAX_GROUPS)]),
            ("group too long", json.dumps(doc(groups=["ok", long_group])),
             ["groups[1]", str(MAX_GROUP_LEN)]),
            ("unparseable time", json.dumps(doc(time="next tuesday-ish")),
             '"next tuesday-ish"'),
            ("unparseable time 2", json.dumps(doc(time="2024-13-45T99:00:00Z")),
             '"2024-13-45T99:00:00Z"'),
            ("future time", json.dumps(doc(time="2999-01-01T00:00:00Z")), "future"),
            ("future unix time", json.dumps(doc(time=future)), "future"),
            ("negative unix time", json.dumps(doc(time=-5)), "time"),
            ("time of wrong type", json.dumps(doc(time=True)), "time"),
            ("bad action", json.dumps(doc(action="destroy")), "action"),
            ("action not a string", json.dumps(doc(action=1)), "action"),
            ("short account id", json.dumps(doc(accounts=["12345"])), ["accounts[0]", "12345"]),
            ("account id with letters", json.dumps(doc(accounts=["123456789012", "12345678901a"])),
             "accounts[1]"),
            ("accounts not an array", json.dumps(doc(accounts="123456789012")), "accounts"),
            ("reason not a string", json.dumps(doc(reason=5)), "reason"),
            ("reason too long", json.dumps(doc(reason="r" * 1025)), ["reason", "1024"]),
            ("time too long", json.dumps(doc(time="9" * 129)), "time"),
            ("duplicate key", '{"groups": ["a"], "groups": ["b"]}', "not JSON"),
            ("empty body", b"", "not JSON"),
        ]
        for name, body, frag in cases:
            with self.subTest(name):
                with self.unchanged():
                    r = self.req("POST", "/v1/revocations", body=body, token=tok(),
                                 headers={"Content-Type": "application/json"})
                self.assertError(r, 400, "invalid_request", frag)

    def test_group_names_refuse_unicode_controls(self):
        # Categories Cc, Cf, Zl, Zp anywhere in a group name: 400 naming the
        # code point, nothing stored. Other scripts are fine.
        for ch in ("\u0085", "\u009b", "\u202e", "\u200b", "\u2028", "\u2029", "\ufeff",
                   "\u2066", "\U000e0041"):
            name = "U+%04X" % ord(ch)
            for via in ("json", "jwt"):
                with self.subTest(name, via=via):
                    body = doc(groups=["ok", "team" + ch + "opsec"])
                    with self.unchanged():
                        if via == "json":
                            r = self.post(body)
                        else:
                            r = self.post_jwt(tok(claims=body))
                    self.assertError(r, 400, "invalid_request", ["groups[1]", name])
        rev = self.assertAccepted(self.post(doc(groups=["\u00e9quipe-\u4e2d\u6587"])))
        self.assertEqual(rev["groups"], ["\u00e9quipe-\u4e2d\u6587"])

    def test_reason_is_kept_without_control_characters(self):
        reason = "laptop\nstolen\u2028at\tthe \u202egnp.exe\u202c airport\u0085 \u00e9t\u00e9"
        r = self.post(doc(groups=["reason-ctl"], reason=reason))
        rev = self.assertAccepted(r)
        want = "laptop stolen at the gnp.exe airport  \u00e9t\u00e9"
        self.assertEqual(rev["reason"], want)
        self.assertEqual(self.store.revocation(rev["id"])["reason"], want)
        self.assertEqual(self.get("/v1/revocations/" + rev["id"]).json["reason"], want)
        # The log line names it, quoted, on one line.
        line = self.wait_log_line("revocation.recorded", rev["id"])
        self.assertIn('reason="%s"' % want, line)

    def test_log_lines_quote_the_method(self):
        rid = "method-" + uuid.uuid4().hex[:12]
        self.req("GET", "/healthz", headers={"X-Request-Id": rid})
        line = self.wait_log_line("http.request", rid)
        self.assertIn(' method="GET" ', line)
        self.assertIn(' path="/healthz" ', line)

    def wait_log_line(self, event, needle):
        deadline = time.monotonic() + 5
        while True:
            lines = [ln for ln in self.svc.stderr().splitlines()
                     if "msg=" + event in ln and needle in ln]
            if lines or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(lines), 1, lines)
        return lines[0]

    def test_time_within_clock_skew_is_taken(self):
        t = int(time.time())
        r = self.post(doc(time=t + SKEW // 2))
        rev = self.assertAccepted(r)
        self.assertEqual(self.store.revocation(rev["id"])["cutoff"], t + SKEW // 2)

    def test_concurrent_posts_are_all_recorded(self):
        import concurrent.futures
        group = "conc-" + uuid.uuid4().hex[:8]
        before = self.store.count()
        tokens = [tok() for _ in range(16)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(
                lambda t: self.svc.request("POST", "/v1/revocations",
                                           json_body=doc(groups=[group]), token=t), tokens))
        self.assertEqual([r.status for r in results], [202] * 16, results)
        ids = {r.json["id"] for r in results}
        self.assertEqual(len(ids), 16)
        self.assertEqual(self.store.count(), before + 16)
        rows = self.store.query("SELECT r.id FROM revocations r JOIN revocation_groups g"
                                " ON g.revocation_seq = r.seq WHERE g.group_name = ?", (group,))
        self.assertEqual({row["id"] for row in rows}, ids)

    def test_bad_idempotency_key_is_400(self):
        for key in ("k" * 256,):
            with self.unchanged():
                r = self.post(doc(), headers={"Idempotency-Key": key})
            self.assertError(r, 400, "invalid_request", "Idempotency-Key")

    # -- tokens

    def test_every_supported_algorithm_is_accepted(self):
        for alg, (key_name, iss) in ALGORITHMS.items():
            with self.subTest(alg=alg):
                token = tok(alg)
                self.assertEqual(harness.token_parts(token)[0] and
                                 json.loads(harness.b64url_decode(token.split(".")[0]))["alg"],
                                 alg)
                r = self.post(doc(groups=["alg-" + alg]), token=token)
                rev = self.assertAccepted(r)
                self.assertEqual(rev["requested_by"]["issuer"], iss)
                row = self.store.revocation(rev["id"])
                self.assertEqual(row["issuer"], iss)
                self.assertEqual(row["groups"], ["alg-" + alg])
                # ... and as a signed document.
                r = self.post_jwt(tok(alg, claims={"groups": ["algdoc-" + alg]}))
                self.assertAccepted(r)

    def test_jwks_kid_selection(self):
        r = self.post(doc(groups=["kid2"]), token=tok(key="k2", iss=ISS_JWKS))
        rev = self.assertAccepted(r)
        self.assertEqual(self.store.revocation(rev["id"])["issuer"], ISS_JWKS)
        r = self.post(doc(groups=["kid1"]), token=tok(key="k1", iss=ISS_JWKS))
        self.assertAccepted(r)
        cases = [
            ("unknown kid", tok(key="k2", iss=ISS_JWKS, headers={"kid": "k9"}), "kid"),
            ("signed by k2, says k1", tok(key="k2", iss=ISS_JWKS, headers={"kid": "k1"}),
             "signature"),
        ]
        for name, token, frag in cases:
            with self.subTest(name):
                with self.unchanged():
                    r = self.post(doc(), token=token)
                self.assertInvalidToken(r, frag, token)

    def test_configured_kid_must_be_named(self):
        # A PEM issuer configured with a kid: a token must name that kid.
        r = self.post(doc(groups=["kid-pem"]), token=tok(iss=ISS_KID, headers={"kid": "rsa-2026"}))
        rev = self.assertAccepted(r)
        self.assertEqual(rev["requested_by"]["issuer"], ISS_KID)
        cases = [
            ("no kid", tok(iss=ISS_KID), "no kid"),
            ("another kid", tok(iss=ISS_KID, headers={"kid": "rsa-2025"}), "kid"),
            ("kid a number", forge_header(tok(iss=ISS_KID), KEYS["rsa"], kid=2026),
             "kid is not a string"),
            # A JWK Set issuer: a kid that is not a string is refused, never
            # taken for "no kid".
            ("jwks: kid null", forge_header(tok(key="k1", iss=ISS_JWKS), KEYS["k1"], kid=None),
             "kid is not a string"),
            ("jwks: kid an array", forge_header(tok(key="k1", iss=ISS_JWKS), KEYS["k1"],
                                                kid=["k1"]), "kid is not a string"),
        ]
        for name, token, frag in cases:
            with self.subTest(name):
                with self.unchanged():
                    r = self.post(doc(), token=token)
                self.assertInvalidToken(r, frag, token)

    def forged_tokens(self):
        """(name, token, fragment of the detail naming the failed check)."""
        t = int(time.time())
        rsa = KEYS["rsa"]
        good = {"iss": ISS_RSA, "aud": AUD, "sub": "mallory", "iat": t, "exp": t + 600,
                "jti": uuid.uuid4().hex, "scope": "revocations:write revocations:read",
                "groups": ["forged"]}
        valid = tok(claims={"groups": ["forged"]})
        return [
            ("alg none, no signature", forge_unsigned(good), "unsigned"),
            ("alg none with a signature", forge_unsigned(good, keep_signature="c2lnbmF0dXJl"),
             "none"),
            ("alg None spelled differently", forge_unsigned(good, alg="NONE",
                                                            keep_signature="c2ln"), "none"),
            ("HS256 keyed with the RSA public key PEM",
             forge_hmac_with(rsa.public_pem(), good), "HS256"),
            ("HS512 keyed with the RSA public key PEM",
             forge_hmac_with(rsa.public_pem(), good, alg="HS512"), "HS512"),
            ("signature flipped", flip_signature_char(valid), "signature is invalid"),
            ("signature truncated", truncate_signature(valid, 8), "signature"),
            ("token truncated to two parts", valid.rsplit(".", 1)[0], "three parts"),
            ("token cut mid-payload", valid[:len(valid) // 3], "malformed"),
            ("signed by another RSA key", tok(key="rsa_other"), "signature is invalid"),
            ("expired", tok(claims={"exp": t - 3600, "iat": t - 7200}), "expired"),
            ("nbf in the future", tok(claims={"nbf": t + 3600}), "nbf"),
            ("iat in the future", tok(claims={"iat": t + 3600, "exp": t + 7200}), "iat"),
            ("exp not a number", tok(claims={"exp": "tomorrow"}), "exp"),
            ("wrong iss", tok(iss="https://evil.idp.test/"), "issuer"),
            ("no iss", tok(claims={"iss": None}), "iss"),
            ("wrong aud", tok(claims={"aud": "some-other-api"}), "audience"),
            ("no aud", tok(claims={"aud": None}), "audience"),
            ("aud list without ours", tok(claims={"aud": ["a", "b"]}), "audience"),
            ("missing exp", tok(claims={"exp": None}), "exp"),
            ("alg not on the issuer's list (PS384)", tok("PS384", key="rsa"), "PS384"),
            ("EC token claiming the RSA issuer", tok("ES256", iss=ISS_RSA), "ES256"),
            ("HS256 for the EdDSA issuer",
             forge_hmac_with(b"s" * 40, dict(good, iss=ISS_ED)), "HS256"),
            ("crit header", tok(headers={"crit": ["exp"]}), "crit"),
        ]

    def test_forged_and_invalid_tokens_are_401(self):
        for name, token, frag in self.forged_tokens():
            for via in ("bearer", "application/jwt"):
                with self.subTest(name, via=via):
                    with self.unchanged():
                        if via == "bearer":
                            r = self.post(doc(groups=["forged"]), token=token)
                        else:
                            r = self.post_jwt(token)
                    self.assertInvalidToken(r, frag, token)

    def test_audience_list_holding_ours_is_accepted(self):
        r = self.post(doc(), token=tok(claims={"aud": ["another-api", AUD]}))
        self.assertAccepted(r)

    def test_accepted_within_clock_skew(self):
        t = int(time.time())
        r = self.post(doc(), token=tok(claims={"exp": t - SKEW // 2, "iat": t - 600}))
        self.assertAccepted(r)
        r = self.post(doc(), token=tok(claims={"nbf": t + SKEW // 2}))
        self.assertAccepted(r)

    def test_missing_or_malformed_authorization_is_401(self):
        with self.unchanged():
            r = self.req("POST", "/v1/revocations", json_body=doc())
        self.assertError(r, 401, "unauthorized")
        self.assertEqual(r.headers.get("WWW-Authenticate"), CHALLENGE)
        for value in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token " + tok()):
            with self.subTest(value=value):
                with self.unchanged():
                    r = self.req("POST", "/v1/revocations", json_body=doc(),
                                 headers={"Authorization": value})
                self.assertError(r, 401, "invalid_token")
                self.assertEqual(r.headers.get("WWW-Authenticate"), CHALLENGE_INVALID)

    def test_missing_permission_is_403(self):
        cases = [
            ("read scope only", tok(scope="revocations:read")),
            ("no scope at all", tok(scope=None)),
            ("scope prefix", tok(scope="revocations:writer revocations")),
            ("scope substring", tok(scope="xrevocations:write")),
            ("permissions without write", tok(scope=None, claims={"permissions": ["revocations:read"]})),
            ("permissions as a string", tok(scope=None, claims={"permissions": "revocations:write"})),
        ]
        for name, token in cases:
            with self.subTest(name):
                with self.unchanged():
                    r = self.post(doc(), token=token)
                self.assertError(r, 403, "insufficient_scope", "revocations:write")
                self.assertEqual(r.headers.get("WWW-Authenticate"),
                                 'Bearer realm="session-revoker", error="insufficient_scope", '
                                 'scope="revocations:write"')

    # -- idempotency

    def test_idempotency_key_replay_and_conflict(self):
        key = "idem-" + uuid.uuid4().hex
        body = doc(groups=["idem"], reason="first")
        token = tok(sub="idem-client")
        before = self.store.counts()
        r1 = self.post(body, token=token, headers={"Idempotency-Key": key})
        rev1 = self.assertAccepted(r1)
        self.assertIsNone(r1.headers.get("Idempotent-Replayed"))
        after_first = self.store.counts()
        self.assertEqual(after_first["revocations"], before["revocations"] + 1)
        self.assertEqual(after_first["idempotency_keys"], before["idempotency_keys"] + 1)

        # Same key, same body (a fresh token of the same caller): the first answer.
        r2 = self.post(body, token=tok(sub="idem-client"), headers={"Idempotency-Key": key})
        self.assertEqual(r2.status, 202, r2)
        self.assertEqual(r2.headers.get("Idempotent-Replayed"), "true")
        self.assertEqual(r2.json, rev1)
        self.assertEqual(r2.headers.get("Location"), "/v1/revocations/" + rev1["id"])
        self.assertEqual(self.store.counts(), after_first)

        # Same key, different body: 422, nothing written.
        with self.unchanged():
            r3 = self.post(doc(groups=["idem"], reason="second"), token=token,
                           headers={"Idempotency-Key": key})
        self.assertError(r3, 422, "idempotency_key_reused")

    def test_idempotency_keys_belong_to_one_caller(self):
        key = "shared-" + uuid.uuid4().hex
        body = doc(groups=["idem-scope"])
        a = self.assertAccepted(self.post(body, token=tok(sub="caller-a"),
                                          headers={"Idempotency-Key": key}))
        r = self.post(body, token=tok(sub="caller-b"), headers={"Idempotency-Key": key})
        b = self.assertAccepted(r)
        self.assertIsNone(r.headers.get("Idempotent-Replayed"))
        self.assertNotEqual(a["id"], b["id"])
        self.assertEqual(b["requested_by"]["subject"], "caller-b")


class HTTPTests(ServiceCase, unittest.TestCase):
    TLS = False
    NAME = "http"

    def test_scheme(self):
        self.assertEqual(self.svc.scheme, "http")


class HTTPSTests(ServiceCase, unittest.TestCase):
    TLS = True
    NAME = "https"

    def test_scheme(self):
        self.assertEqual(self.svc.scheme, "https")

    def test_the_client_really_verifies_the_server(self):
        # Trusting another self-signed cert, the handshake must fail: the
        # client context is not one that verifies nothing.
        import ssl
        other_dir = tempfile.mkdtemp(dir=TMP)
        other_cert, _ = harness.make_tls_cert(other_dir, "other")
        import http.client
        conn = http.client.HTTPSConnection(self.svc.host, self.svc.port, timeout=10,
                                           context=harness.client_tls_context(other_cert))
        with self.assertRaises(ssl.SSLCertVerificationError):
            conn.request("GET", "/healthz")
            conn.getresponse()
        conn.close()
        # The right cert, asked for by a name the cert does not carry: refused too.
        ctx = harness.client_tls_context(TLS[0])
        conn = http.client.HTTPSConnection("localhost", self.svc.port, timeout=10, context=ctx)
        try:
            with self.assertRaises(ssl.SSLCertVerificationError):
                conn.request("GET", "/healthz")
                conn.getresponse()
        except ConnectionRefusedError:
            pass   # "localhost" resolved to ::1 first and nothing listens there
        finally:
            conn.close()

    def test_plain_http_to_tls_port_gets_no_answer(self):
        import socket
        s = socket.create_connection((self.svc.host, self.svc.port), timeout=5)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            try:
                data = s.recv(4096)
            except (ConnectionResetError, TimeoutError, OSError):
                data = b""
        finally:
            s.close()
        self.assertFalse(data.startswith(b"HTTP/1.1 200"), data[:100])


class EdgeCaseTests(unittest.TestCase):
    """Inputs at the edges, on their own (HTTP) service: a crash here must not
    take the main test classes down with it. Tests run in name order."""

    @classmethod
    def setUpClass(cls):
        path, cls.config = service_config("edges", tls=False)
        cls.svc = Service(path, cwd=TMP, logdir=TMP, name="edges")
        cls.svc.start()
        cls.store = Store(cls.config["store"]["path"])

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop(check=True)

    def assertServiceHealthy(self):
        self.assertTrue(self.svc.alive(), "service died:\n" + self.svc.stderr()[-20000:])
        self.assertEqual(self.svc.sanitizer_reports(), [],
                         "sanitizer report:\n" + self.svc.stderr()[-20000:])

    def test_1_invalid_state_after_a_valid_one_is_400(self):
        # Each value of a repeated filter is checked: an invalid one is an
        # error wherever it stands (state=bogus&state=pending already is).
        for q in ("state=bogus&state=pending", "state=pending&state=bogus"):
            with self.subTest(q=q):
                r = self.svc.request("GET", "/v1/revocations?" + q,
                                     token=tok(scope="revocations:read"))
                self.assertEqual(r.status, 400, r)
                self.assertEqual(r.json["error"], "invalid_request")
                self.assertIn("state", r.json["detail"])
        self.assertServiceHealthy()

    def test_2_extreme_nbf_and_iat(self):
        big, small = 2 ** 63 - 1, -(2 ** 63)
        for claims, status in (({"nbf": big}, 401), ({"iat": big}, 401),
                               ({"exp": small}, 401),
                               ({"nbf": small}, 202), ({"iat": small}, 202)):
            with self.subTest(claims=claims):
                before = self.store.count()
                r = self.svc.request("POST", "/v1/revocations", json_body=doc(),
                                     token=tok(claims=claims))
                self.assertEqual(r.status, status, r)
                self.assertEqual(self.store.count(), before + (status == 202))
                self.assertServiceHealthy()

    def test_3_signature_must_be_unpadded_base64url(self):
        # RFC 7515: each part is base64url without padding. The same
        # signature spelled with "=" padding or with "+" and "/" is not the
        # token the issuer signed, and must not verify (it does not for the
        # parts the service decodes itself: header, payload, PS256, EdDSA).
        for alg in ALGORITHMS:
            token = None
            for _ in range(200):
                t = tok(alg)
                if "-" in t.split(".")[2] or "_" in t.split(".")[2]:
                    token = t
                    break
            self.assertIsNotNone(token, "no signature with - or _ for " + alg)
            h, p, sig = token.split(".")
            variants = [("standard base64 alphabet",
                         sig.replace("-", "+").replace("_", "/"))]
            if len(sig) % 4:
                variants.append(("= padding", sig + "=" * (-len(sig) % 4)))
            for name, bad in variants:
                forged = "%s.%s.%s" % (h, p, bad)
                with self.subTest(alg=alg, variant=name):
                    before = self.store.counts()
                    r = self.svc.request("POST", "/v1/revocations", json_body=doc(),
                                         token=forged)
                    self.assertEqual(r.status, 401, r)
                    self.assertEqual(r.json["error"], "invalid_token")
                    self.assertEqual(self.store.counts(), before)
        self.assertServiceHealthy()

    def test_9_exp_at_the_int64_maximum_does_not_crash(self):
        # A validly signed token whose exp is the largest 64-bit integer: far
        # in the future, so not expired. Accepting it or refusing it (401)
        # are both fine; dying on a signed overflow (exp + skew) is not.
        before = self.store.count()
        try:
            r = self.svc.request("POST", "/v1/revocations", json_body=doc(),
                                 token=tok(claims={"exp": 2 ** 63 - 1}))
        except (ConnectionError, OSError) as e:
            self.fail("no answer (%r); stderr:\n%s" % (e, self.svc.stderr()[-20000:]))
        self.assertIn(r.status, (202, 401), r)
        self.assertEqual(self.store.count(), before + (r.status == 202))
        self.assertServiceHealthy()


class DefaultLimitsTest(unittest.TestCase):
    """The default header limit lets a token of the documented 16 KiB cap
    through (it did not: 16 KiB of headers could not carry one)."""

    def test_a_token_of_nearly_16_kib_is_accepted(self):
        path, config = service_config("defaults", tls=False)
        del config["limits"]["max_header_bytes"]
        harness.write_config(path, config)
        store = Store(config["store"]["path"])
        with Service(path, cwd=TMP, logdir=TMP, name="defaults") as svc:
            for size in (15 * 1024 + 512, 16300):
                with self.subTest(size=size):
                    n = 0
                    token = tok()
                    while len(token) < size - 4:   # base64url: 4 characters per 3 bytes
                        n += max(1, (size - len(token)) * 3 // 4)
                        token = tok(claims={"pad": "p" * n})
                    self.assertGreater(len(token), 15 * 1024)
                    self.assertLessEqual(len(token), 16384)
                    r = svc.request("POST", "/v1/revocations", json_body=doc(groups=["big-token"]),
                                    token=token)
                    self.assertEqual(r.status, 202, r)
                    self.assertIsNotNone(store.revocation(r.json["id"]))
            # Past the token cap: the token's own 401, not a header error.
            token = tok(claims={"pad": "p" * 17000})
            r = svc.request("POST", "/v1/revocations", json_body=doc(), token=token)
            self.assertEqual(r.status, 401, r)
            self.assertIn("16384", r.json["detail"])


class ShutdownTest(unittest.TestCase):
    def test_sigterm_while_idle_exits_0_and_the_db_is_intact(self):
        path, config = service_config("shutdown", tls=False)
        svc = Service(path, cwd=TMP, logdir=TMP, name="shutdown")
        with svc:
            r = svc.request("POST", "/v1/revocations", json_body=doc(groups=["before-stop"]),
                            token=tok())
            self.assertEqual(r.status, 202, r)
            rev_id = r.json["id"]
            time.sleep(0.3)   # idle
        self.assertEqual(svc.returncode, 0)
        self.assertIn("serve.stopped", svc.stderr())
        store = Store(config["store"]["path"])
        self.assertEqual(store.integrity_check(), ["ok"])
        self.assertEqual(store.revocation(rev_id)["groups"], ["before-stop"])
        # The database is reopened by a new process and still holds it.
        svc2 = Service(path, cwd=TMP, logdir=TMP, name="shutdown2")
        with svc2:
            r = svc2.request("GET", "/v1/revocations/" + rev_id,
                             token=tok(scope="revocations:read"))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["id"], rev_id)
            svc2.proc.send_signal(signal.SIGINT)
            svc2.proc.wait(timeout=20)
        self.assertEqual(svc2.returncode, 0)
        self.assertEqual(store.integrity_check(), ["ok"])


if __name__ == "__main__":
    unittest.main()
