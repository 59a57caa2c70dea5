#!/usr/bin/python3
"""A fake identity provider for session-revoker's tests, over real HTTPS.

One HTTPS server speaks what the service asks an identity provider for, in the
provider's own wire formats: a JWK Set (/.well-known/jwks.json), Auth0's
Authentication API token endpoint (POST /oauth/token, client credentials), the
parts of Auth0's Management API the service reads (/api/v2/users/{id},
/api/v2/users/{id}/roles, /api/v2/logs by checkpoint or newest first, with Auth0's rate-limit
headers), and a generic directory (/directory/users/{subject}/groups).  Tests
start it (in process or as a subprocess), steer it through a control API, inject
faults per path prefix, and read its call log.  Run with /usr/bin/python3
(Debian's python3-aiohttp, python3-cryptography; python3-jwt for sign()).

Command line:

    /usr/bin/python3 tests/fakes/fake_idp.py [--tls-dir DIR] [--port 0]
        [--host 127.0.0.1] [--seed SEED.json] [--verbose]

prints exactly one line ``fake-idp listening on https://127.0.0.1:PORT`` when
ready and serves until SIGTERM/SIGINT (exit 0).  GET /_fake/info (on any of its
ports; the plain-HTTP control port is in it) says where the CA file and the other
listeners are.

TLS.  At start the fake makes a throwaway CA and, signed by it, a certificate
for 127.0.0.1, ::1 and localhost; it writes the CA certificate to
``<tls_dir>/ca.crt`` (``fake.ca_file``: hand it to the service as
``http_client.ca_file``).  Besides the main listener (``fake.url``) it serves the
same API on listeners whose certificate a verifying client must refuse:

    fake.urls["untrusted"]   certificate signed by another CA (not in ca.crt)
    fake.urls["wrong_host"]  signed by the CA, but for wrong-host.invalid only
    fake.urls["expired"]     signed by the CA, validity ended yesterday
    fake.urls["plain"]       plain http:// (no TLS at all)
    fake.control_url         plain http://, the /_fake/ control API only

From Python:

    fake = FakeIdp(seed_dict_or_None).start()      # or: with FakeIdp() as fake:
    fake.url, fake.port, fake.ca_file, fake.urls, fake.control_url
    fake.jwks_url                                  # fake.url + /.well-known/jwks.json
    # JWKS
    fake.add_key(kind="rsa"|"ec256"|"ec384"|"ed25519", kid=None, alg=None) -> key
    fake.rotate(kinds=("rsa", "ec256")) -> [key, ...]   # new set, old keys gone
    fake.remove_key(kid); fake.keys() -> [key, ...]
    fake.set_jwks(max_age=300, cache_control=None, body=None)
    fake.sign(claims, kid=None, headers=None) -> compact JWT (PyJWT)
        a key is {"kid", "kty", "alg", "use", "kind", "private_pem", "jwk"}
    # Auth0
    fake.set_client(client_id=None, client_secret=None, audience=..., scope=None)
                                        # None / ...: unchanged; audience None: the default
    fake.set_user(user_id, roles=[...], app_metadata={...}, **fields)
    fake.delete_user(user_id)
    fake.add_logs([event, ...]) -> [log_id, ...]
    fake.set_token_lifetime(seconds); fake.expire_tokens()
    fake.set_rate_limit(limit=None, remaining=None, reset_in=None, window=None,
                        retry_after=None)
    fake.client_info(), fake.audience       # default audience: fake.url + /api/v2/
    # generic directory
    fake.set_groups(subject, [group, ...]); fake.set_directory_token(token_or_None)
    fake.set_directory_shape("array"|"object")
    # faults, log, counters
    fake.set_faults([...]); fake.calls(since=0); fake.counts(); fake.count(path)
    fake.pause(); fake.resume()   # main port refuses connections / accepts again
    fake.reset(); fake.stop()

Control API (JSON in, JSON out; on every listener, no authentication):

    GET  /_fake/health                  {"ok": true}
    GET  /_fake/info                    url, port, ca_file, urls, control_url, jwks_url,
                                        client (id, audience, scope: no secret)
    GET  /_fake/calls[?since=SEQ]       the call log (see below)
    GET  /_fake/counts                  {path: requests}
    POST /_fake/reset                   back to the seed (keys, users, logs, faults, log)
    POST /_fake/reset-counters          clears the call log and the counts
    GET|POST /_fake/faults              replaces the fault list
    GET  /_fake/jwks/keys               the keys, private PEM included
    POST /_fake/jwks/keys               {"kind", "kid"?, "alg"?} adds a key -> key
    POST /_fake/jwks/rotate             {"kinds": [...]?} -> the new keys
    POST /_fake/jwks/remove             {"kid"}
    POST /_fake/jwks/config             {"max_age": N|null, "cache_control": str|null,
                                         "body": str|null}  (body: served verbatim)
    GET|POST /_fake/auth0/client        {"client_id"?, "client_secret"?, "audience"?, "scope"?}
                                        (GET and the answer never show the secret)
    POST /_fake/auth0/users             {"user_id", "roles"?, "app_metadata"?, ...}
    POST /_fake/auth0/users/delete      {"user_id"}
    GET|POST /_fake/auth0/logs          POST [event, ...] -> {"log_ids": [...]}
    POST /_fake/auth0/tokens            {"lifetime": S}? {"expire_all": true}?
    POST /_fake/auth0/rate-limit        {"limit"?, "remaining"?, "reset_in"?, "window"?,
                                         "retry_after"?}
    POST /_fake/directory/users         {"subject", "groups"}  (groups null: unknown)
    POST /_fake/directory/token         {"token": str|null}
    POST /_fake/directory/shape         {"shape": "array"|"object"}
    POST /_fake/pause  /_fake/resume    the main port only (send them to control_url)

Faults (POST /_fake/faults or set_faults): a list of

    {"path": "/api/v2/", "kind": "down"|"reset"|"slow"|"throttled"|"expired"|"status",
     "method": "GET"?, "seconds": 2.0, "status": 500, "body": "...",
     "content_type": "...", "reset_in": 30, "count": N?}

matched by path prefix (the decoded path), first match wins, ``count`` limits a
fault to the next N matching requests.  down: 503 with Auth0's error JSON;
reset: the connection is closed with a TCP RST, no answer; slow: waits
``seconds`` then answers normally; throttled: 429 with x-ratelimit-* headers
(remaining 0, reset ``reset_in`` seconds ahead; Retry-After too when
``"retry_after": true``); expired: 401 as for an expired
access token; status: ``status`` with ``body`` verbatim.  (A refused connection is
pause(): faults act on requests, and a refusal happens before any.)

Call log entries: seq, time (Unix seconds), listener, method, path (decoded),
raw_path, query (the raw query string), args (parsed query, first value of
each), headers (all but Authorization, whose value is logged only as "present"
or "Bearer <N chars>"), form (the token request's fields, client_secret only
as "present"), status (0: no answer was sent, a reset fault), fault,
duration_ms.  A call is logged when its answer is ready: a slow one when its
delay is over, even if its client gave up meanwhile.  No secret is ever logged.
"""

import argparse
import asyncio
import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import urllib.parse

try:
    from aiohttp import web
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # pragma: no cover - wrong interpreter
    sys.stderr.write("fake_idp.py needs aiohttp and cryptography: run it with "
                     "/usr/bin/python3 (Debian's python3-aiohttp, python3-cryptography)\n")
    raise

MAX_BODY = 1 << 20
MAX_CALL_LOG = 100000
JWKS_PATH = "/.well-known/jwks.json"
KEY_KINDS = {"rsa": ("RSA", "RS256"), "ec256": ("EC", "ES256"),
             "ec384": ("EC", "ES384"), "ed25519": ("OKP", "EdDSA")}
FAULT_KINDS = ("down", "reset", "slow", "throttled", "expired", "status")
LISTENERS = ("main", "untrusted", "wrong_host", "expired", "plain", "control")
DEFAULT_CLIENT_ID = "fake-idp-client"
DEFAULT_CLIENT_SECRET = "fake-idp-client-secret-for-tests-only"
DEFAULT_SCOPE = "read:users read:roles read:logs"
LOG_ID_BASE = time.strftime("%Y%m%d%H%M%S", time.gmtime())
# Management API scopes a route accepts (any of them).
SCOPES_USER = ("read:users",)
SCOPES_ROLES = ("read:users", "read:roles")
SCOPES_LOGS = ("read:logs", "read:logs_users")


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(n, length=None):
    if length is None:
        length = max(1, (n.bit_length() + 7) // 8)
    return n.to_bytes(length, "big")


# ---------------------------------------------------------------------------- TLS

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _make_ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _make_leaf(ca_key, ca_cert, names, expired=False):
    """A server certificate signed by (ca_key, ca_cert) for DNS names / IPs."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        not_before, not_after = now - datetime.timedelta(days=3), now - datetime.timedelta(days=1)
    else:
        not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2)
    sans = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    cert = (x509.CertificateBuilder()
            .subject_name(_name(names[0])).issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False,
                                         crl_sign=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def _write_pem(path, data, private=False):
    with open(path, "wb") as fh:
        fh.write(data)
    if private:
        os.chmod(path, 0o600)
    return path


def make_tls(directory):
    """Writes the CA and the listeners' certificates into directory.

    Returns {"ca_file": path, listener: (cert_file, key_file), ...}."""
    out = {}
    ca_key, ca_cert = _make_ca("fake-idp test CA")
    out["ca_file"] = _write_pem(os.path.join(directory, "ca.crt"),
                                ca_cert.public_bytes(serialization.Encoding.PEM))
    rogue_key, rogue_cert = _make_ca("fake-idp rogue CA (not trusted)")
    good_names = ["localhost", "127.0.0.1", "::1"]
    leaves = {"main": _make_leaf(ca_key, ca_cert, good_names),
              "untrusted": _make_leaf(rogue_key, rogue_cert, good_names),
              "wrong_host": _make_leaf(ca_key, ca_cert, ["wrong-host.invalid"]),
              "expired": _make_leaf(ca_key, ca_cert, good_names, expired=True)}
    for name, (key, cert) in leaves.items():
        cert_file = _write_pem(os.path.join(directory, name + ".crt"),
                               cert.public_bytes(serialization.Encoding.PEM))
        key_file = _write_pem(os.path.join(directory, name + ".key"),
                              key.private_bytes(serialization.Encoding.PEM,
                                                serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()),
                              private=True)
        out[name] = (cert_file, key_file)
    return out


def _server_context(cert_file, key_file):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def client_context(ca_file):
    """An ssl context that trusts exactly ca_file and checks host names (tests)."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


# ---------------------------------------------------------------------------- JWKS

def _new_private_key(kind):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"key kind must be one of {sorted(KEY_KINDS)}, not {kind!r}")


def public_jwk(public_key):
    """The public JWK (RFC 7517/7518/8037) members of a key, without kid/alg/use."""
    if isinstance(public_key, rsa.RSAPublicKey):
        nums = public_key.public_numbers()
        return {"kty": "RSA", "n": _b64url(_int_bytes(nums.n)), "e": _b64url(_int_bytes(nums.e))}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        nums = public_key.public_numbers()
        size = (public_key.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[public_key.curve.name]
        return {"kty": "EC", "crv": crv, "x": _b64url(_int_bytes(nums.x, size)),
                "y": _b64url(_int_bytes(nums.y, size))}
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}
    raise TypeError(f"no JWK for {public_key!r}")


class _Key:
    def __init__(self, kind, kid=None, alg=None):
        if kind not in KEY_KINDS:
            raise ValueError(f"key kind must be one of {sorted(KEY_KINDS)}, not {kind!r}")
        self.kind = kind
        self.private = _new_private_key(kind)
        self.kty, default_alg = KEY_KINDS[kind]
        self.alg = alg or default_alg
        self.kid = kid or ("k-" + secrets.token_hex(8))

    def jwk(self):
        jwk = public_jwk(self.private.public_key())
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk

    def private_pem(self):
        return self.private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).decode()

    def describe(self):
        return {"kid": self.kid, "kty": self.kty, "alg": self.alg, "use": "sig",
                "kind": self.kind, "private_pem": self.private_pem(), "jwk": self.jwk()}


# ---------------------------------------------------------------------------- the fake

class FakeIdp:
    """The fake identity provider: its state, its listeners and its control API."""

    def __init__(self, seed=None, host="127.0.0.1", port=0, tls_dir=None, verbose=False):
        """seed: optional dict, see _load(); tls_dir: where ca.crt and the
        certificates go (a temporary directory removed at stop() when None)."""
        self.seed = json.loads(json.dumps(seed or {}))
        self.host = host
        self.requested_port = port
        self.verbose = verbose
        self.lock = threading.RLock()
        self._own_tls_dir = tls_dir is None
        self.tls_dir = tls_dir or tempfile.mkdtemp(prefix="fake-idp-")
        os.makedirs(self.tls_dir, exist_ok=True)
        self.tls = make_tls(self.tls_dir)
        self.ca_file = self.tls["ca_file"]
        self._loop = None
        self._thread = None
        self._runner = None
        self._sites = {}
        self._ports = {}   # listener name -> port
        self.port = None
        self.url = None
        self.urls = {}
        self.control_url = None
        self._paused = False
        self._load()

    # -- state ------------------------------------------------------------------

    def _load(self):
        """(Re)sets everything from the seed, every key optional:
        {"keys": [{"kind", "kid"?, "alg"?}, ...]  (default: one rsa, one ec256),
         "jwks_max_age": 300,
         "client": {"client_id", "client_secret", "audience", "scope"},
         "token_lifetime": 86400,
         "users": [{"user_id", "roles"?, "app_metadata"?, ...fields}],
         "logs": [event, ...],
         "rate_limit": {"limit": 50, "window": 1.0, "retry_after": false},
         "directory": {subject: [group, ...]}, "directory_token": null,
         "directory_shape": "array"}"""
        with self.lock:
            self.keys_ = [_Key(k.get("kind", "rsa"), k.get("kid"), k.get("alg"))
                          for k in self.seed.get("keys", [{"kind": "rsa"}, {"kind": "ec256"}])]
            self.jwks_max_age = self.seed.get("jwks_max_age", 300)
            self.jwks_cache_control = None
            self.jwks_body = None
            client = self.seed.get("client") or {}
            self.client = {"client_id": client.get("client_id", DEFAULT_CLIENT_ID),
                           "client_secret": client.get("client_secret", DEFAULT_CLIENT_SECRET),
                           "audience": client.get("audience"),
                           "scope": client.get("scope", DEFAULT_SCOPE)}
            self.tokens = {}
            self.token_lifetime = int(self.seed.get("token_lifetime", 86400))
            self.users = {}
            self.roles = {}
            for user in self.seed.get("users", []):
                user = dict(user)
                self._set_user_locked(user.pop("user_id"), **user)
            self.logs = []
            self.log_counter = 0
            self._add_logs_locked(self.seed.get("logs", []))
            rate = self.seed.get("rate_limit") or {}
            self.rate = {"limit": int(rate.get("limit", 50)),
                         "window": float(rate.get("window", 1.0)),
                         "retry_after": bool(rate.get("retry_after", False)),
                         "remaining": int(rate.get("limit", 50)), "reset_at": 0.0}
            self.directory = {k: list(v) for k, v in (self.seed.get("directory") or {}).items()}
            self.directory_token = self.seed.get("directory_token")
            self.directory_shape = self.seed.get("directory_shape", "array")
            self.faults = []
            self.call_log = []
            self.call_seq = 0
            self.path_counts = {}

    def reset(self):
        """Back to the seed: keys, faults, call log, counts."""
        self._load()

    def reset_counters(self):
        with self.lock:
            self.call_log = []
            self.path_counts = {}

    # -- JWKS -----------------------------------------------------------------

    def add_key(self, kind="rsa", kid=None, alg=None):
        key = _Key(kind, kid, alg)
        with self.lock:
            if any(k.kid == key.kid for k in self.keys_):
                raise ValueError(f"kid {key.kid!r} is already in the set")
            self.keys_.append(key)
        return key.describe()

    def rotate(self, kinds=("rsa", "ec256")):
        """A new key set: fresh keys of these kinds; the old keys are gone."""
        keys = [_Key(kind) for kind in kinds]
        with self.lock:
            self.keys_ = keys
        return [k.describe() for k in keys]

    def remove_key(self, kid):
        with self.lock:
            before = len(self.keys_)
            self.keys_ = [k for k in self.keys_ if k.kid != kid]
            if len(self.keys_) == before:
                raise KeyError(f"no key with kid {kid!r}")

    def keys(self):
        with self.lock:
            return [k.describe() for k in self.keys_]

    def set_jwks(self, max_age=..., cache_control=..., body=...):
        """max_age: the Cache-Control max-age (None: no Cache-Control header);
        cache_control: a Cache-Control value sent verbatim instead (None: back
        to max_age); body: text served instead of the key set (None: the set)."""
        with self.lock:
            if max_age is not ...:
                self.jwks_max_age = None if max_age is None else int(max_age)
            if cache_control is not ...:
                self.jwks_cache_control = cache_control
            if body is not ...:
                self.jwks_body = body
            return {"max_age": self.jwks_max_age, "cache_control": self.jwks_cache_control,
                    "body": self.jwks_body}

    def jwks(self):
        with self.lock:
            return {"keys": [k.jwk() for k in self.keys_]}

    def sign(self, claims, kid=None, headers=None):
        """A compact JWT of claims signed (PyJWT) with the key kid (default: the first)."""
        import jwt  # python3-jwt; only the tests that sign need it
        with self.lock:
            key = next((k for k in self.keys_ if kid is None or k.kid == kid), None)
        if key is None:
            raise KeyError(f"no key with kid {kid!r}")
        hdrs = {"kid": key.kid}
        hdrs.update(headers or {})
        return jwt.encode(claims, key.private, algorithm=key.alg, headers=hdrs)

    @property
    def jwks_url(self):
        return self.url + JWKS_PATH

    # -- Auth0: the client, tokens, users, logs, the rate limit -------------------

    @property
    def audience(self):
        """The Management API audience the client may ask for (default <url>/api/v2/)."""
        with self.lock:
            return self.client["audience"] or f"{self.url}/api/v2/"

    def set_client(self, client_id=None, client_secret=None, audience=..., scope=None):
        with self.lock:
            if client_id is not None:
                self.client["client_id"] = client_id
            if client_secret is not None:
                self.client["client_secret"] = client_secret
            if audience is not ...:
                self.client["audience"] = audience
            if scope is not None:
                self.client["scope"] = scope
            return self.client_info()

    def client_info(self):
        """The client without its secret."""
        with self.lock:
            return {"client_id": self.client["client_id"], "audience": self.audience,
                    "scope": self.client["scope"]}

    def set_token_lifetime(self, seconds):
        """expires_in of the tokens granted from now on."""
        with self.lock:
            self.token_lifetime = int(seconds)

    def expire_tokens(self):
        """Every access token granted so far is expired from now on."""
        with self.lock:
            for tok in self.tokens.values():
                tok["expires_at"] = 0.0

    def tokens_granted(self):
        with self.lock:
            return len(self.tokens)

    def _role(self, role):
        """A role object from a name or {"name", "id"?, "description"?} (lock held)."""
        if isinstance(role, str):
            role = {"name": role}
        name = role["name"]
        known = self.roles.get(name)
        if known is None:
            known = {"id": role.get("id") or "rol_" + hashlib.sha256(name.encode())
                     .hexdigest()[:16],
                     "name": name, "description": role.get("description", f"{name} role")}
            self.roles[name] = known
        return dict(known)

    def _set_user_locked(self, user_id, roles=None, app_metadata=None, **fields):
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        user = self.users.get(user_id, {}).get("user") or {
            "user_id": user_id, "created_at": now, "user_metadata": {}, "app_metadata": {}}
        user.update(fields)
        user["updated_at"] = now
        if app_metadata is not None:
            user["app_metadata"] = app_metadata
        old_roles = self.users.get(user_id, {}).get("roles", [])
        self.users[user_id] = {"user": user,
                               "roles": old_roles if roles is None
                               else [self._role(r) for r in roles]}

    def set_user(self, user_id, roles=None, app_metadata=None, **fields):
        """Creates or updates a user: roles (names or role objects) replace the
        user's roles, app_metadata replaces it, other fields are merged into the
        user object (GET /api/v2/users/{id})."""
        with self.lock:
            self._set_user_locked(user_id, roles, app_metadata, **fields)
            return {"user": dict(self.users[user_id]["user"]),
                    "roles": list(self.users[user_id]["roles"])}

    def delete_user(self, user_id):
        with self.lock:
            if self.users.pop(user_id, None) is None:
                raise KeyError(f"no user {user_id!r}")

    def _add_logs_locked(self, events):
        ids = []
        for event in events:
            if not isinstance(event, dict):
                raise ValueError("a log event is an object")
            event = json.loads(json.dumps(event))
            # The log stream's envelope {"log_id", "data": {...}}: the API
            # serves the bare event.
            if isinstance(event.get("data"), dict) and "type" not in event:
                outer_id = event.get("log_id")
                event = event["data"]
                if outer_id and "log_id" not in event:
                    event["log_id"] = outer_id
            if not event.get("log_id"):
                self.log_counter += 1
                event["log_id"] = f"900{LOG_ID_BASE}{self.log_counter:039d}"
            if any(e["log_id"] == event["log_id"] for e in self.logs):
                raise ValueError(f"log_id {event['log_id']} is already in the log")
            self.logs.append(event)
            ids.append(event["log_id"])
        self.logs.sort(key=lambda e: e["log_id"])
        return ids

    def add_logs(self, events):
        """Appends log events (bare, or in the log stream's {"log_id", "data"}
        envelope); an event without log_id gets the next one.  Returns the log_ids."""
        with self.lock:
            return self._add_logs_locked(events)

    def set_rate_limit(self, limit=None, remaining=None, reset_in=None, window=None,
                       retry_after=None):
        """The Management API's bucket: `limit` requests per `window` seconds;
        `remaining` and `reset_in` set the current window (remaining=0 with
        reset_in=N: every call gets 429 for N seconds); retry_after: also send
        Retry-After on 429 (Auth0's documents name only the x-ratelimit-* headers)."""
        with self.lock:
            r = self.rate
            if limit is not None:
                r["limit"] = int(limit)
                r["remaining"] = min(r["remaining"], r["limit"])
            if window is not None:
                r["window"] = float(window)
            if remaining is not None:
                r["remaining"] = int(remaining)
                if reset_in is None and r["reset_at"] <= time.time():
                    r["reset_at"] = time.time() + r["window"]
            if reset_in is not None:
                r["reset_at"] = time.time() + float(reset_in)
            if retry_after is not None:
                r["retry_after"] = bool(retry_after)
            return {k: r[k] for k in ("limit", "window", "remaining", "reset_at", "retry_after")}

    def _rate_take(self):
        """Takes one request from the bucket: (allowed, rate-limit headers)."""
        with self.lock:
            r = self.rate
            now = time.time()
            if now >= r["reset_at"]:
                r["remaining"] = r["limit"]
                r["reset_at"] = now + r["window"]
            allowed = r["remaining"] > 0
            if allowed:
                r["remaining"] -= 1
            headers = {"x-ratelimit-limit": str(r["limit"]),
                       "x-ratelimit-remaining": str(r["remaining"]),
                       "x-ratelimit-reset": str(int(-(-r["reset_at"] // 1)))}
            if not allowed and r["retry_after"]:
                headers["Retry-After"] = str(max(1, int(-(-(r["reset_at"] - now) // 1))))
            return allowed, headers

    # -- the generic directory ---------------------------------------------------

    def set_groups(self, subject, groups):
        """The directory's groups of subject (None: the subject is unknown, 404)."""
        with self.lock:
            if groups is None:
                self.directory.pop(subject, None)
            else:
                self.directory[subject] = list(groups)

    def set_directory_token(self, token):
        """The Bearer token the directory requires (None: none required)."""
        with self.lock:
            self.directory_token = token

    def set_directory_shape(self, shape):
        """"array": ["g1", ...] (default); "object": {"groups": ["g1", ...]}."""
        if shape not in ("array", "object"):
            raise ValueError("directory shape is \"array\" or \"object\"")
        with self.lock:
            self.directory_shape = shape

    # -- faults and the call log ---------------------------------------------------

    def set_faults(self, faults):
        parsed = []
        for f in faults or []:
            if not isinstance(f, dict):
                raise ValueError("a fault is an object")
            kind = f.get("kind")
            if kind not in FAULT_KINDS:
                raise ValueError(f"fault kind must be one of {FAULT_KINDS}, not {kind!r}")
            path = f.get("path", "/")
            if not isinstance(path, str) or not path.startswith("/"):
                raise ValueError("fault path must be a path prefix starting with /")
            entry = {"path": path, "kind": kind,
                     "method": f.get("method"),
                     "seconds": float(f.get("seconds", 0)),
                     "status": int(f.get("status", 500)),
                     "body": f.get("body", ""),
                     "content_type": f.get("content_type", "application/json"),
                     "reset_in": int(f.get("reset_in", 30)),
                     "retry_after": bool(f.get("retry_after", False)),
                     "count": int(f["count"]) if f.get("count") is not None else None,
                     "hits": 0}
            parsed.append(entry)
        with self.lock:
            self.faults = parsed
            return [dict(f) for f in parsed]

    def _take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                if not path.startswith(f["path"]):
                    continue
                if f["method"] and f["method"].upper() != method:
                    continue
                if f["count"] is not None:
                    if f["count"] <= 0:
                        continue
                    f["count"] -= 1
                f["hits"] += 1
                return dict(f)
        return None

    def calls(self, since=0):
        with self.lock:
            return [dict(c) for c in self.call_log if c["seq"] > since]

    def counts(self):
        with self.lock:
            return dict(self.path_counts)

    def count(self, path):
        with self.lock:
            return self.path_counts.get(path, 0)

    def _record(self, entry):
        with self.lock:
            self.call_seq += 1
            entry["seq"] = self.call_seq
            self.call_log.append(entry)
            if len(self.call_log) > MAX_CALL_LOG:
                del self.call_log[:len(self.call_log) - MAX_CALL_LOG]
            self.path_counts[entry["path"]] = self.path_counts.get(entry["path"], 0) + 1
        if self.verbose:
            sys.stderr.write("fake-idp: " + json.dumps(entry) + "\n")

    # -- server ---------------------------------------------------------------

    def start(self):
        """Serve on a thread of its own running an asyncio loop."""
        ready = threading.Event()
        failed = []

        def run():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # noqa: BLE001 - handed to start()
                failed.append(exc)
                ready.set()
                loop.close()
                return
            self._loop = loop
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-idp", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            self._thread.join()
            raise failed[0]
        return self

    def _host_in_url(self):
        return self.host if ":" not in self.host else f"[{self.host}]"

    async def _serve(self):
        self._runner = web.ServerRunner(
            web.Server(self._on_request, access_log=None, max_line_size=65536,
                       max_field_size=65536), handle_signals=False)
        await self._runner.setup()
        host = self._host_in_url()
        for name in LISTENERS:
            port = self.requested_port if name == "main" else 0
            port = await self._open_site(name, port)
            scheme = "http" if name in ("plain", "control") else "https"
            url = f"{scheme}://{host}:{port}"
            if name == "main":
                self.port = port
                self.url = url
            elif name == "control":
                self.control_url = url
            else:
                self.urls[name] = url
        self.urls["main"] = self.url

    async def _open_site(self, name, port):
        ctx = None
        if name in self.tls:
            ctx = _server_context(*self.tls[name])
        site = web.TCPSite(self._runner, self.host, port, ssl_context=ctx, backlog=256,
                           reuse_address=True, shutdown_timeout=0.2)
        await site.start()
        self._sites[name] = site
        self._ports[name] = self._runner.addresses[-1][1]
        return self._ports[name]

    def _listener_of(self, request):
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        port = sockname[1] if sockname else None
        for name, p in self._ports.items():
            if p == port:
                return name
        return "main"

    def stop(self):
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None
        if self._own_tls_dir:
            shutil.rmtree(self.tls_dir, ignore_errors=True)

    def __enter__(self):
        return self.start() if self._loop is None else self

    def __exit__(self, *exc):
        self.stop()

    def _in_loop(self, coro):
        if self._loop is None:
            raise RuntimeError("the fake is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def pause(self):
        """The main port stops listening and its open connections are closed:
        new connections are refused until resume()."""
        self._in_loop(self._pause())

    def resume(self):
        self._in_loop(self._resume())

    async def _pause(self, keep=None):
        site = self._sites.pop("main", None)
        if site is not None:
            # Close the listening socket only: BaseSite.stop() would shut the
            # whole server (every listener) down.
            server = site._server
            server.close()
            await server.wait_closed()
            for handler in list(self._runner.server.connections):
                transport = handler.transport
                if transport is None or transport is keep:
                    continue
                sockname = transport.get_extra_info("sockname")
                if sockname and sockname[1] == self.port:
                    transport.close()
        self._paused = True

    async def _resume(self):
        if "main" not in self._sites:
            await self._open_site("main", self.port)
        self._paused = False

    def info(self):
        return {"url": self.url, "port": self.port, "ca_file": self.ca_file,
                "urls": dict(self.urls), "control_url": self.control_url,
                "jwks_url": self.jwks_url, "tls_dir": self.tls_dir, "paused": self._paused,
                "client": self.client_info()}

    # -- request handling ------------------------------------------------------

    async def _on_request(self, request):
        started = time.monotonic()
        listener = self._listener_of(request)
        expect = request.headers.get("Expect")
        if expect is not None:  # libcurl sends it before larger bodies
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
        path = request.path
        if path.startswith("/_fake/"):
            status, obj = await self._control(request.method, path, request.query_string,
                                              body, request.transport)
            return web.Response(status=status, content_type="application/json",
                                text=json.dumps(obj, indent=1) + "\n")
        if listener == "control":
            return web.Response(status=404, content_type="application/json",
                                text='{"error": "the control port serves /_fake/ only"}\n')
        entry = {"time": time.time(), "listener": listener, "method": request.method,
                 "path": path, "raw_path": request.raw_path.split("?", 1)[0],
                 "query": request.query_string,
                 "args": {k: request.query.getone(k) for k in request.query.keys()},
                 "headers": _loggable_headers(request.headers), "form": None,
                 "status": None, "fault": None}
        fault = self._take_fault(request.method, path)
        if fault is not None:
            entry["fault"] = fault["kind"]
            if fault["kind"] == "slow":
                try:
                    await asyncio.sleep(fault["seconds"])
                except asyncio.CancelledError:  # the client gave up and went away
                    entry["status"] = 0
                    entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
                    self._record(entry)
                    raise
            elif fault["kind"] == "reset":
                entry["status"] = 0
                entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
                self._record(entry)
                _reset_connection(request)
                raise asyncio.CancelledError()
        if fault is not None and fault["kind"] not in ("slow",):
            status, headers, out = self._fault_answer(fault)
        else:
            status, headers, out = self._answer(request, path, body, entry)
        entry["status"] = status
        entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        self._record(entry)
        return web.Response(status=status, headers=headers, body=out)

    def _fault_answer(self, fault):
        kind = fault["kind"]
        if kind == "down":
            return _json_answer(503, {"statusCode": 503, "error": "Service Unavailable",
                                      "message": "Service Unavailable"})
        if kind == "throttled":
            status, headers, out = _json_answer(
                429, {"statusCode": 429, "error": "Too Many Requests",
                      "message": "Global limit has been reached",
                      "errorCode": "too_many_requests"})
            headers.update(self._throttle_headers(fault))
            return status, headers, out
        if kind == "expired":
            return _mgmt_error(401, "Expired token received for JSON Web Token validation")
        # status
        body = fault["body"]
        return (fault["status"], {"Content-Type": fault["content_type"]},
                body.encode() if isinstance(body, str) else json.dumps(body).encode())

    def _throttle_headers(self, fault):
        with self.lock:
            limit = self.rate["limit"]
        headers = {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": "0",
                   "x-ratelimit-reset": str(int(time.time()) + fault["reset_in"])}
        if fault["retry_after"]:
            headers["Retry-After"] = str(fault["reset_in"])
        return headers

    def _answer(self, request, path, body, entry):
        """(status, headers, body bytes) for a request to the identity provider."""
        method = request.method
        segments = [urllib.parse.unquote(seg) for seg in
                    request.raw_path.split("?", 1)[0].split("/")[1:]]
        if path == JWKS_PATH:
            if method != "GET":
                return _json_answer(405, {"error": "method not allowed"}, {"Allow": "GET"})
            return self._serve_jwks()
        if path == "/oauth/token":
            if method != "POST":
                return _json_answer(405, {"error": "method not allowed"}, {"Allow": "POST"})
            return self._token(request, body, entry)
        if path.startswith("/api/v2/"):
            return self._management(request, segments[2:], entry)
        if len(segments) == 4 and segments[:2] == ["directory", "users"] and \
                segments[3] == "groups" and method == "GET":
            return self._directory(request, segments[2])
        return _json_answer(404, {"statusCode": 404, "error": "Not Found",
                                  "message": "Not Found"})

    # -- Auth0 Authentication API: POST /oauth/token --------------------------------

    def _token(self, request, body, entry):
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            if ctype == "application/json":
                form = json.loads(body or b"{}")
                if not isinstance(form, dict):
                    raise ValueError("not an object")
            elif ctype == "application/x-www-form-urlencoded":
                form = dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            else:
                return _oauth_error(400, "invalid_request",
                                    "Content-Type must be application/json or "
                                    "application/x-www-form-urlencoded")
        except (ValueError, UnicodeDecodeError):
            return _oauth_error(400, "invalid_request", "the request body could not be parsed")
        form = {k: v for k, v in form.items() if isinstance(v, str)}
        auth = request.headers.get("Authorization", "")
        via_basic = False
        if auth.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return _oauth_error(400, "invalid_request", "bad Basic authorization")
            form.setdefault("client_id", urllib.parse.unquote(cid))
            form["client_secret"] = urllib.parse.unquote(secret)
            via_basic = True
        entry["form"] = {k: ("present" if k == "client_secret" else v) for k, v in form.items()}
        if via_basic:
            entry["form"]["client_secret"] = "present (Basic)"
        grant = form.get("grant_type")
        if not grant:
            return _oauth_error(400, "invalid_request", "Missing required parameter: grant_type")
        if grant != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")
        with self.lock:
            client = dict(self.client)
            audience = self.audience
            lifetime = self.token_lifetime
        if not (hmac.compare_digest(form.get("client_id", ""), client["client_id"]) and
                hmac.compare_digest(form.get("client_secret", "").encode(),
                                    client["client_secret"].encode())):
            return _oauth_error(401, "access_denied", "Unauthorized")
        wanted = form.get("audience")
        if not wanted:
            return _oauth_error(403, "access_denied",
                                "No audience parameter was provided, and no default audience "
                                "has been configured")
        if wanted != audience:
            return _oauth_error(403, "access_denied",
                                f"Service not enabled within domain: {wanted}")
        token = secrets.token_urlsafe(48)
        with self.lock:
            self.tokens[token] = {"client_id": client["client_id"], "scope": client["scope"],
                                  "expires_at": time.time() + lifetime}
        return _json_answer(200, {"access_token": token, "token_type": "Bearer",
                                  "expires_in": lifetime, "scope": client["scope"]},
                            {"Cache-Control": "no-store", "Pragma": "no-cache"})

    # -- Auth0 Management API: /api/v2/... -------------------------------------------

    def _management(self, request, segments, entry):
        allowed, rate_headers = self._rate_take()
        if not allowed:
            return _mgmt_error(429, "Global limit has been reached", "too_many_requests",
                               rate_headers)
        status, headers, out = self._management_route(request, segments)
        headers.update(rate_headers)
        return status, headers, out

    def _bearer(self, request, scopes):
        """None when the request's token is good and has one of scopes, else the
        error answer."""
        auth = request.headers.get("Authorization")
        if not auth:
            return _mgmt_error(401, "Missing authentication")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _mgmt_error(401, "Bad HTTP authentication header format")
        with self.lock:
            tok = self.tokens.get(token.strip())
            tok = dict(tok) if tok else None
        if tok is None:
            return _mgmt_error(401, "Invalid token")
        if time.time() >= tok["expires_at"]:
            return _mgmt_error(401, "Expired token received for JSON Web Token validation")
        granted = set(tok["scope"].split())
        if not granted.intersection(scopes):
            return _mgmt_error(403, "Insufficient scope, expected any of: " + ",".join(scopes),
                               "insufficient_scope")
        return None

    def _management_route(self, request, segments):
        if request.method != "GET":
            return _mgmt_error(405, f"{request.method} is not served by this fake")
        query = request.query
        if segments == ["logs"]:
            return self._bearer(request, SCOPES_LOGS) or self._logs(request)
        if len(segments) == 2 and segments[0] == "users" and segments[1]:
            return self._bearer(request, SCOPES_USER) or self._user(segments[1], query)
        if len(segments) == 3 and segments[0] == "users" and segments[2] == "roles":
            return self._bearer(request, SCOPES_ROLES) or self._user_roles(segments[1], query)
        return _mgmt_error(404, "Not Found")

    def _user(self, user_id, query):
        with self.lock:
            record = self.users.get(user_id)
            user = json.loads(json.dumps(record["user"])) if record else None
        if user is None:
            return _mgmt_error(404, "The user does not exist.", "inexistent_user")
        fields = [f for f in query.get("fields", "").split(",") if f]
        if fields:
            include = query.get("include_fields", "true") != "false"
            user = {k: v for k, v in user.items() if (k in fields) == include}
        return _json_answer(200, user)

    def _user_roles(self, user_id, query):
        with self.lock:
            record = self.users.get(user_id)
            roles = [dict(r) for r in record["roles"]] if record else None
        if roles is None:
            return _mgmt_error(404, "The user does not exist.", "inexistent_user")
        try:
            per_page = int(query["per_page"]) if "per_page" in query else None
            page = int(query.get("page", "0"))
        except ValueError:
            return _mgmt_error(400, "Query validation error: page and per_page are integers",
                               "invalid_query_string")
        if per_page is not None and not 1 <= per_page <= 100:
            return _mgmt_error(400, "Query validation error: 'per_page' must be between 1 "
                               "and 100", "invalid_query_string")
        if page < 0:
            return _mgmt_error(400, "Query validation error: 'page' must be 0 or more",
                               "invalid_query_string")
        total = len(roles)
        start = page * per_page if per_page else 0
        if per_page is not None:
            roles = roles[start:start + per_page]
        if query.get("include_totals") == "true":
            return _json_answer(200, {"start": start, "limit": per_page or total,
                                      "total": total, "roles": roles})
        return _json_answer(200, roles)

    def _logs(self, request):
        query = request.query
        if "from" not in query and ("sort" in query or "per_page" in query):
            return self._logs_search(query)
        try:
            take = int(query.get("take", "50"))
        except ValueError:
            return _mgmt_error(400, "Query validation error: 'take' is an integer",
                               "invalid_query_string")
        if not 1 <= take <= 100:
            return _mgmt_error(400, "Query validation error: 'take' must be between 1 and 100",
                               "invalid_query_string")
        start = query.get("from", "")
        with self.lock:
            events = [e for e in self.logs if e["log_id"] > start][:take]
            events = json.loads(json.dumps(events))
        # Auth0 answers a checkpoint page with a Link to the next one: after
        # the last event served, or the same URL again when caught up.
        next_from = events[-1]["log_id"] if events else start
        next_query = urllib.parse.urlencode({"from": next_from, "take": take})
        host = request.headers.get("Host") or f"127.0.0.1:{self.port}"
        link = f'<{request.scheme}://{host}/api/v2/logs?{next_query}>; rel="next"'
        return _json_answer(200, events, {"Link": link})

    def _logs_search(self, query):
        """The search form of GET /api/v2/logs (no checkpoint): page, per_page
        and sort ("date:1" / "date:-1"; the fake orders by date, then log_id).
        The service asks ?sort=date:-1&per_page=1 for the newest event, where a
        first poll starts."""
        try:
            per_page = int(query.get("per_page", "50"))
            page = int(query.get("page", "0"))
        except ValueError:
            return _mgmt_error(400, "Query validation error: page and per_page are integers",
                               "invalid_query_string")
        if not 1 <= per_page <= 100 or page < 0:
            return _mgmt_error(400, "Query validation error: 'per_page' must be between 1 "
                               "and 100", "invalid_query_string")
        field, _, order = query.get("sort", "date:-1").partition(":")
        if field != "date" or order not in ("1", "-1"):
            return _mgmt_error(400, "Query validation error: sort must be date:1 or date:-1",
                               "invalid_query_string")
        with self.lock:
            events = sorted(self.logs, key=lambda e: (str(e.get("date", "")), e["log_id"]),
                            reverse=order == "-1")
            events = json.loads(json.dumps(events[page * per_page:(page + 1) * per_page]))
        return _json_answer(200, events)

    # -- the generic directory: GET /directory/users/{subject}/groups ---------------

    def _directory(self, request, subject):
        with self.lock:
            token = self.directory_token
            groups = self.directory.get(subject)
            groups = list(groups) if groups is not None else None
            shape = self.directory_shape
        if token is not None:
            auth = request.headers.get("Authorization", "")
            scheme, _, given = auth.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                    token.encode()):
                return _json_answer(401, {"error": "unauthorized",
                                          "message": "a valid Bearer token is required"},
                                    {"WWW-Authenticate": 'Bearer realm="directory"'})
        if groups is None:
            return _json_answer(404, {"error": "not_found",
                                      "message": f"no user {subject!r} in the directory"})
        return _json_answer(200, groups if shape == "array" else {"groups": groups})

    def _serve_jwks(self):
        with self.lock:
            text = self.jwks_body if self.jwks_body is not None else \
                json.dumps({"keys": [k.jwk() for k in self.keys_]})
            headers = {"Content-Type": "application/json; charset=utf-8"}
            if self.jwks_cache_control is not None:
                headers["Cache-Control"] = self.jwks_cache_control
            elif self.jwks_max_age is not None:
                headers["Cache-Control"] = f"public, max-age={self.jwks_max_age}"
        return 200, headers, text.encode()

    # -- control API ------------------------------------------------------------

    async def _control(self, method, path, query, body, transport=None):
        """The /_fake/ control API: (HTTP status, JSON-able answer)."""
        path = path.rstrip("/")
        try:
            data = json.loads(body) if body.strip() else None
        except ValueError as exc:
            return 400, {"error": f"bad JSON: {exc}"}
        data_obj = data if isinstance(data, dict) else {}
        try:
            if path == "/_fake/health":
                return 200, {"ok": True}
            if path == "/_fake/info":
                return 200, self.info()
            if path == "/_fake/calls" and method == "GET":
                q = urllib.parse.parse_qs(query)
                return 200, self.calls(int(q.get("since", ["0"])[0]))
            if path == "/_fake/counts" and method == "GET":
                return 200, self.counts()
            if path == "/_fake/reset" and method == "POST":
                self.reset()
                return 200, {"ok": True}
            if path == "/_fake/reset-counters" and method == "POST":
                self.reset_counters()
                return 200, {"ok": True}
            if path == "/_fake/faults":
                if method == "POST":
                    return 200, self.set_faults(data or [])
                with self.lock:
                    return 200, [dict(f) for f in self.faults]
            if path == "/_fake/jwks/keys":
                if method == "POST":
                    return 200, self.add_key(data_obj.get("kind", "rsa"), data_obj.get("kid"),
                                             data_obj.get("alg"))
                return 200, self.keys()
            if path == "/_fake/jwks/rotate" and method == "POST":
                return 200, self.rotate(data_obj.get("kinds") or ("rsa", "ec256"))
            if path == "/_fake/jwks/remove" and method == "POST":
                self.remove_key(data_obj["kid"])
                return 200, {"ok": True}
            if path == "/_fake/jwks/config" and method == "POST":
                return 200, self.set_jwks(**{k: data_obj[k] for k in
                                             ("max_age", "cache_control", "body")
                                             if k in data_obj})
            if path == "/_fake/auth0/client" and method == "POST":
                return 200, self.set_client(data_obj.get("client_id"),
                                            data_obj.get("client_secret"),
                                            data_obj.get("audience", ...),
                                            data_obj.get("scope"))
            if path == "/_fake/auth0/client" and method == "GET":
                return 200, self.client_info()
            if path == "/_fake/auth0/users" and method == "POST":
                fields = dict(data_obj)
                return 200, self.set_user(fields.pop("user_id"), **fields)
            if path == "/_fake/auth0/users/delete" and method == "POST":
                self.delete_user(data_obj["user_id"])
                return 200, {"ok": True}
            if path == "/_fake/auth0/logs":
                if method == "POST":
                    if not isinstance(data, list):
                        raise ValueError("POST /_fake/auth0/logs takes a JSON array of events")
                    return 200, {"log_ids": self.add_logs(data)}
                with self.lock:
                    return 200, json.loads(json.dumps(self.logs))
            if path == "/_fake/auth0/tokens" and method == "POST":
                if "lifetime" in data_obj:
                    self.set_token_lifetime(data_obj["lifetime"])
                if data_obj.get("expire_all"):
                    self.expire_tokens()
                with self.lock:
                    return 200, {"lifetime": self.token_lifetime, "granted": len(self.tokens)}
            if path == "/_fake/auth0/rate-limit" and method == "POST":
                return 200, self.set_rate_limit(**{k: data_obj[k] for k in
                                                   ("limit", "remaining", "reset_in", "window",
                                                    "retry_after") if k in data_obj})
            if path == "/_fake/directory/users" and method == "POST":
                self.set_groups(data_obj["subject"], data_obj.get("groups"))
                return 200, {"ok": True}
            if path == "/_fake/directory/token" and method == "POST":
                self.set_directory_token(data_obj.get("token"))
                return 200, {"ok": True}
            if path == "/_fake/directory/shape" and method == "POST":
                self.set_directory_shape(data_obj.get("shape"))
                return 200, {"ok": True}
            if path == "/_fake/pause" and method == "POST":
                await self._pause(keep=transport)
                return 200, {"ok": True}
            if path == "/_fake/resume" and method == "POST":
                await self._resume()
                return 200, {"ok": True}
            return 404, {"error": f"no control endpoint {method} {path}"}
        except (ValueError, TypeError, KeyError) as exc:
            return 400, {"error": str(exc)}


# ---------------------------------------------------------------------------- helpers

def _loggable_headers(headers):
    out = {}
    for name, value in headers.items():
        if name.lower() == "authorization":
            scheme, _, cred = value.partition(" ")
            value = f"Bearer <{len(cred.strip())} chars>" if scheme.lower() == "bearer" \
                else "present"
        out[name] = value
    return out


def _json_answer(status, obj, headers=None):
    out = {"Content-Type": "application/json; charset=utf-8"}
    out.update(headers or {})
    return status, out, json.dumps(obj).encode()


def _oauth_error(status, error, description):
    """An Authentication API (token endpoint) error as Auth0 writes it."""
    return _json_answer(status, {"error": error, "error_description": description})


def _mgmt_error(status, message, error_code=None, headers=None):
    """A Management API error body as Auth0 writes it."""
    reason = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
              405: "Method Not Allowed", 429: "Too Many Requests",
              503: "Service Unavailable"}.get(status, "Error")
    obj = {"statusCode": status, "error": reason, "message": message}
    if error_code:
        obj["errorCode"] = error_code
    return _json_answer(status, obj, headers)


def _reset_connection(request):
    """Closes the request's connection with a TCP RST (SO_LINGER 0), no answer."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport else None
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    if transport is not None:
        transport.abort()


# ---------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake identity provider over HTTPS "
                                             "(JWKS, Auth0 token + Management API).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls-dir", help="write ca.crt and the certificates here "
                                      "(default: a temporary directory, removed at exit)")
    ap.add_argument("--seed", help="seed JSON file (keys, users, logs, client)")
    ap.add_argument("--verbose", action="store_true", help="log every call on stderr")
    args = ap.parse_args(argv)
    seed = None
    if args.seed:
        with open(args.seed, encoding="utf-8") as fh:
            seed = json.load(fh)
    fake = FakeIdp(seed, host=args.host, port=args.port, tls_dir=args.tls_dir,
                   verbose=args.verbose).start()
    stop = []

    def on_signal(signum, frame):
        stop.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"fake-idp listening on {fake.url}", flush=True)
    while not stop:
        time.sleep(0.1)
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
