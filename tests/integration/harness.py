"""harness.py - drive the real session-revoker binary over real sockets.

Keys, certificates, config files, a Service context manager that starts the
binary and stops it with SIGTERM (checking the exit status and that no
sanitizer reported anything), an HTTP(S) request helper, a token maker and
token forgers, and read-only access to the service's store.

The store's back end: SQLite files as each test configures them, or, with
SR_TEST_STORE=postgres, PostgreSQL: write_config() then gives every
store.path a database of its own (made here, with a unique name) on the
server whose SR_PG_* lines (scripts/pg-test-server.sh) are in the file
SR_TEST_PG_ENV names, the same database for the same path all through the
test process, and Store reads that database. A test about SQLite itself
(its file, WAL, PRAGMAs) carries @sqlite_only(reason).

Run with Debian's /usr/bin/python3 (PyJWT + cryptography from Debian).
"""

import atexit
import base64
import datetime
import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import re
import secrets
import shlex
import signal
import socket
import sqlite3
import ssl
import subprocess
import threading
import time
import unittest
import urllib.parse
import uuid

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------- the fake AWS
# tests/fakes/fake_aws.py and its example world (tests/fakes/example-seed.json),
# shared by the engine, jobs and crash tests.
import sys  # noqa: E402

sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "fakes")))
import fake_aws  # noqa: E402,F401

# openapi.yaml as the contract every answer of the service is checked against.
import openapi_contract  # noqa: E402

EXAMPLE_SEED_FILE = os.path.normpath(os.path.join(HERE, "..", "fakes", "example-seed.json"))
with open(EXAMPLE_SEED_FILE, encoding="utf-8") as _fh:
    EXAMPLE_SEED = json.load(_fh)
EXAMPLE_ACCOUNTS = ["111111111111", "222222222222", "333333333333"]
EXAMPLE_BASE_KEY = EXAMPLE_SEED["base_credentials"][0]["access_key_id"]
EXAMPLE_BASE_SECRET = EXAMPLE_SEED["base_credentials"][0]["secret_access_key"]
ADMIN_ROLE = "SessionRevokerAdmin"
EXTERNAL_ID = "session-revoker"


def stop_quietly(svc):
    """For addCleanup: stop svc if a test left it running, whatever its state."""
    if svc.proc is not None:
        try:
            svc.stop(check=False)
        except ServiceError:
            pass
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "ERROR: ThreadSanitizer",
    "WARNING: ThreadSanitizer",
    "SUMMARY: UndefinedBehaviorSanitizer",
)
LISTEN_RE = re.compile(r"^session-revoker listening on (https?)://([^\s/]+):(\d+)\s*$")


def binary_path():
    """The session-revoker binary: $SR_BIN, else ../../build/session-revoker."""
    path = os.environ.get("SR_BIN")
    if not path:
        path = os.path.normpath(os.path.join(HERE, "..", "..", "build", "session-revoker"))
    if not os.access(path, os.X_OK):
        raise RuntimeError("session-revoker binary not found or not executable: %s "
                           "(build it, or set SR_BIN)" % path)
    return path


# --------------------------------------------------------------------------
# base64url and JWK helpers

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_bytes(n, length=None):
    if length is None:
        length = max(1, (n.bit_length() + 7) // 8)
    return n.to_bytes(length, "big")


def public_pem(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def private_pem(private_key):
    return private_key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


def jwk_of(public_key, kid=None, alg=None):
    """The public JWK (RFC 7517/8037) of an RSA, EC or Ed25519 public key."""
    if isinstance(public_key, rsa.RSAPublicKey):
        nums = public_key.public_numbers()
        jwk = {"kty": "RSA", "n": b64url(_int_bytes(nums.n)), "e": b64url(_int_bytes(nums.e))}
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        nums = public_key.public_numbers()
        size = (public_key.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[
            public_key.curve.name]
        jwk = {"kty": "EC", "crv": crv, "x": b64url(_int_bytes(nums.x, size)),
               "y": b64url(_int_bytes(nums.y, size))}
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    else:
        raise TypeError("no JWK for %r" % (public_key,))
    jwk["use"] = "sig"
    if kid is not None:
        jwk["kid"] = kid
    if alg is not None:
        jwk["alg"] = alg
    return jwk


# --------------------------------------------------------------------------
# keys

class Key:
    """A signing key made in the test, and the files the service reads.

    kind: "rsa", "ec256", "ec384", "ed25519", "hmac". .signing is what PyJWT
    signs with (private key object or secret bytes); .verify_file is the file
    named in the issuer's config (PEM public key, JWKS or secret file).
    """

    def __init__(self, kind, directory, name, kid=None):
        self.kind = kind
        self.kid = kid
        self.directory = directory
        self.name = name
        if kind == "rsa":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif kind == "ec256":
            self.private = ec.generate_private_key(ec.SECP256R1())
        elif kind == "ec384":
            self.private = ec.generate_private_key(ec.SECP384R1())
        elif kind == "ed25519":
            self.private = ed25519.Ed25519PrivateKey.generate()
        elif kind == "hmac":
            self.private = None
            # 48 random bytes, written hex-free as raw printable text: the
            # service strips only a trailing newline.
            self.secret = secrets.token_urlsafe(48).encode()
        else:
            raise ValueError(kind)
        self.public = self.private.public_key() if self.private is not None else None

    @property
    def signing(self):
        return self.secret if self.kind == "hmac" else self.private

    def public_pem(self):
        return public_pem(self.public)

    def jwk(self, alg=None):
        return jwk_of(self.public, kid=self.kid, alg=alg)

    def write_public_pem(self):
        path = os.path.join(self.directory, self.name + ".pub.pem")
        with open(path, "wb") as f:
            f.write(self.public_pem())
        return path

    def write_private_pem(self):
        path = os.path.join(self.directory, self.name + ".key.pem")
        with open(path, "wb") as f:
            f.write(private_pem(self.private))
        os.chmod(path, 0o600)
        return path

    def write_secret(self):
        path = os.path.join(self.directory, self.name + ".secret")
        with open(path, "wb") as f:
            f.write(self.secret + b"\n")
        os.chmod(path, 0o600)
        return path


def write_jwks(directory, name, keys):
    """A JWK Set file holding the public JWKs of keys (each with its kid)."""
    path = os.path.join(directory, name + ".jwks.json")
    with open(path, "w") as f:
        json.dump({"keys": [k.jwk() for k in keys]}, f, indent=2)
    return path


def make_tls_cert(directory, name="tls"):
    """A self-signed certificate for 127.0.0.1 (SAN IP), and its key.

    Returns (cert_file, key_file). The client trusts exactly this cert.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "session-revoker test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                     content_commitment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True,
                                     crl_sign=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file = os.path.join(directory, name + ".crt")
    key_file = os.path.join(directory, name + ".key")
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    os.chmod(key_file, 0o600)
    return cert_file, key_file


def client_tls_context(cert_file):
    """Verifies the server against exactly cert_file, hostname (IP) included."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    ctx.load_verify_locations(cafile=cert_file)
    return ctx


def write_config(path, config):
    """Writes config as JSON to path. With SR_TEST_STORE=postgres, its store
    (store.path, or the default var/session-revoker.db beside the config
    file) is the PostgreSQL database of that path instead (store_url())."""
    if PG_MODE:
        config = dict(config)
        store = dict(config.get("store") or {})
        if "url" not in store:
            db = store.pop("path", None)
            if db is None:
                db = os.path.join(os.path.dirname(os.path.abspath(path)), DEFAULT_STORE_PATH)
            store["url"] = store_url(db)
            config["store"] = store
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    return path


# --------------------------------------------------------------------------
# the store's back end: SQLite files, or PostgreSQL (SR_TEST_STORE=postgres)

PG_MODE = os.environ.get("SR_TEST_STORE", "sqlite") == "postgres"
DEFAULT_STORE_PATH = os.path.join("var", "session-revoker.db")  # store.path's default
_pg_server = None      # the SR_PG_* lines of SR_TEST_PG_ENV
_pg_databases = {}     # absolute store path -> database name
_pg_lock = threading.Lock()


def sqlite_only(reason):
    """Skips a test (or test class) about SQLite itself in PostgreSQL mode."""
    return unittest.skipIf(PG_MODE, "about SQLite itself: " + reason)


def pg_server():
    """The shared server's SR_PG_* settings (from the file SR_TEST_PG_ENV)."""
    global _pg_server
    if _pg_server is None:
        env_file = os.environ.get("SR_TEST_PG_ENV")
        if not env_file:
            raise RuntimeError("SR_TEST_STORE=postgres needs SR_TEST_PG_ENV: the file with "
                               "scripts/pg-test-server.sh's SR_PG_* lines")
        settings = {}
        with open(env_file, encoding="utf-8") as fh:
            for line in fh:
                for word in shlex.split(line, comments=True):
                    name, eq, value = word.partition("=")
                    if eq and name.startswith("SR_PG_"):
                        settings[name] = value
        if "SR_PG_URL" not in settings:
            raise RuntimeError("%s names no SR_PG_URL" % env_file)
        _pg_server = settings
    return _pg_server


def pg_url(database):
    """SR_PG_URL with its database replaced by database."""
    parts = urllib.parse.urlsplit(pg_server()["SR_PG_URL"])
    return urllib.parse.urlunsplit(parts._replace(path="/" + database))


def _pg_connect(database=None):
    import psycopg2  # Debian's python3-psycopg2; only PostgreSQL mode needs it
    url = pg_server()["SR_PG_URL"] if database is None else pg_url(database)
    return psycopg2.connect(url, connect_timeout=10)


_pg_sessions = {}      # (database, read-only, thread) -> connection, autocommit


def _pg_session(database, read_only):
    """This thread's autocommit connection to database (read-only or not),
    kept for the next query: a new connection costs more than most queries."""
    key = (database, read_only, threading.get_ident())
    conn = _pg_sessions.get(key)
    if conn is None or conn.closed:
        conn = _pg_connect(database)
        conn.set_session(readonly=read_only, autocommit=True)
        _pg_sessions[key] = conn
    return conn


def _pg_session_drop(database, read_only):
    conn = _pg_sessions.pop((database, read_only, threading.get_ident()), None)
    if conn is not None:
        conn.close()


def pg_database(path):
    """The database that stands for the store file path in PostgreSQL mode:
    made (CREATE DATABASE, a unique name) the first time path is seen, the
    same one for path afterwards, dropped when the test process ends."""
    key = os.path.abspath(path)
    with _pg_lock:  # tests read the store from threads too
        name = _pg_databases.get(key)
        if name is None:
            name = "sr_test_%d_%s" % (os.getpid(), uuid.uuid4().hex[:12])
            conn = _pg_connect()
            try:
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute('CREATE DATABASE "%s"' % name)
            finally:
                conn.close()
            _pg_databases[key] = name
    return name


def store_url(path):
    """What the service's store.url is for the store file path: path itself,
    or in PostgreSQL mode the URL of its database (pg_database())."""
    return pg_url(pg_database(path)) if PG_MODE else path


_DROP_DATABASES = """
import sys, psycopg2
conn = psycopg2.connect(sys.argv[1], connect_timeout=10)
conn.autocommit = True
with conn.cursor() as cur:
    for name in sys.argv[2:]:
        cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
"""


@atexit.register
def _drop_pg_databases():
    """Drops the databases this process made, in a process of its own that
    the test does not wait for: each DROP DATABASE waits for a checkpoint
    (about 0.3 s), and a suite makes dozens. A server already gone (the
    ctest fixture stopped it) has nothing left to drop."""
    for conn in _pg_sessions.values():
        conn.close()
    if not _pg_databases:
        return
    subprocess.Popen([sys.executable, "-c", _DROP_DATABASES, pg_server()["SR_PG_URL"]]
                     + sorted(_pg_databases.values()), start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)


# --------------------------------------------------------------------------
# tokens

def rfc3339(ts):
    """Unix seconds -> "YYYY-MM-DDTHH:MM:SSZ"."""
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text):
    return int(datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp())


def now():
    return int(time.time())


def make_token(key, alg, claims=None, headers=None, *, iss=None, aud=None,
               ttl=600, scope="revocations:write revocations:read",
               sub="alice@example.com", jti=True, defaults=True):
    """A JWT signed by key with alg.

    With defaults, the claims get iss/aud/sub/iat/exp/jti/scope unless
    claims sets them (a value None in claims removes that claim).
    """
    body = {}
    if defaults:
        t = now()
        body = {"iss": iss, "aud": aud, "sub": sub, "iat": t, "exp": t + ttl}
        if scope is not None:
            body["scope"] = scope
        if jti is True:
            body["jti"] = uuid.uuid4().hex
        elif jti:
            body["jti"] = jti
    body.update(claims or {})
    body = {k: v for k, v in body.items() if v is not None}
    hdr = dict(headers or {})
    if key.kid is not None and "kid" not in hdr:
        hdr["kid"] = key.kid
    hdr = {k: v for k, v in hdr.items() if v is not None}
    return jwt.encode(body, key.signing, algorithm=alg, headers=hdr or None)


def token_parts(token):
    head, payload, sig = token.split(".")
    return head, payload, sig


def claims_of(token):
    return json.loads(b64url_decode(token.split(".")[1]))


def forge_unsigned(claims, alg="none", keep_signature=None):
    """header.payload. with alg "none" (or any alg) and an empty (or given) signature."""
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")))
    payload = b64url(json.dumps(claims, separators=(",", ":")))
    return "%s.%s.%s" % (head, payload, keep_signature or "")


def forge_hmac_with(secret, claims, alg="HS256", headers=None):
    """An HMAC-signed token keyed with secret (e.g. an RSA public key's PEM
    bytes: the classic algorithm-confusion attack). Built by hand because
    PyJWT refuses a PEM as HMAC secret."""
    hdr = {"alg": alg, "typ": "JWT"}
    hdr.update(headers or {})
    signing_input = "%s.%s" % (b64url(json.dumps(hdr, separators=(",", ":"))),
                               b64url(json.dumps(claims, separators=(",", ":"))))
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
              "HS512": hashlib.sha512}[alg]
    sig = hmac.new(secret, signing_input.encode(), digest).digest()
    return signing_input + "." + b64url(sig)


def flip_signature_char(token, index=None):
    """The token with one character of the signature changed (in the middle,
    by default: the last character may only carry padding bits)."""
    head, payload, sig = token_parts(token)
    i = len(sig) // 2 if index is None else index
    c = sig[i]
    repl = "A" if c != "A" else "B"
    return "%s.%s.%s" % (head, payload, sig[:i] + repl + sig[i + 1:])


def truncate_signature(token, drop=8):
    head, payload, sig = token_parts(token)
    return "%s.%s.%s" % (head, payload, sig[:-drop])


def resign_header(token, key, alg, header_update):
    """Re-sign token's claims with a changed header."""
    claims = claims_of(token)
    return jwt.encode(claims, key.signing, algorithm=alg, headers=header_update)


# --------------------------------------------------------------------------
# the service

class ServiceError(Exception):
    pass


class Response:
    def __init__(self, status, reason, headers, raw):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage: case-insensitive .get()
        self.raw = raw
        self.json = None
        ctype = headers.get("Content-Type", "") or ""
        if raw and "json" in ctype:
            try:
                self.json = json.loads(raw)
            except ValueError:
                self.json = None

    @property
    def body(self):
        return self.json if self.json is not None else self.raw

    def __iter__(self):
        # (status, headers, body) unpacking.
        return iter((self.status, self.headers, self.body))

    def __repr__(self):
        return "<Response %d %s %r>" % (self.status, dict(self.headers.items()),
                                        self.raw[:500])


def clean_env(extra=None):
    """The environment for the service: ours, minus every SR_* variable (so
    nothing of the test runner's own settings overrides the config file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SR_")}
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    env.update(extra or {})
    return env


class Service:
    """The running binary: `with Service(config_file=...) as svc: ...`.

    config_file None runs the embedded default (in cwd). stdout and stderr go
    to files in logdir; the port is read from the first stdout line.

    Every answer that request() and raw_exchange() get is held to
    openapi.yaml (openapi_contract.Contract): an answer the file does not
    describe raises openapi_contract.ContractError, which fails the test.
    """

    def __init__(self, config_file=None, *, cwd=None, env=None, logdir=None,
                 ca_file=None, args=None, name="service", prefix=None, contract=None):
        self.config_file = config_file
        self.prefix = list(prefix or [])  # a command that execs the binary (same pid)
        self.cwd = cwd or os.getcwd()
        self.env = clean_env(env)
        self.logdir = logdir or self.cwd
        self.ca_file = ca_file
        self.args = args or []
        self.name = name
        self.proc = None
        self.port = None
        self.scheme = None
        self.host = None
        self.base_url = None
        self.stdout_path = os.path.join(self.logdir, name + ".stdout")
        self.stderr_path = os.path.join(self.logdir, name + ".stderr")
        self.returncode = None
        self.contract = contract or openapi_contract.default_contract()

    # -- lifecycle

    def start(self):
        cmd = self.prefix + [binary_path(), "serve"]
        if self.config_file is not None:
            cmd += ["--config", self.config_file]
        cmd += self.args
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            line = self._first_line()
            if line is not None:
                m = LISTEN_RE.match(line)
                if not m:
                    self._abort()
                    raise ServiceError("unexpected first stdout line %r\nstderr:\n%s"
                                       % (line, self.stderr()))
                self.scheme, self.host, self.port = m.group(1), m.group(2), int(m.group(3))
                self.base_url = "%s://%s:%d" % (self.scheme, self.host, self.port)
                return self
            if self.proc.poll() is not None:
                self._close_files()
                raise ServiceError("session-revoker exited with %s before listening\n"
                                   "stderr:\n%s" % (self.proc.returncode, self.stderr()))
            if time.monotonic() > deadline:
                self._abort()
                raise ServiceError("session-revoker did not print its listening line "
                                   "within %ds\nstderr:\n%s" % (START_TIMEOUT, self.stderr()))
            time.sleep(0.02)

    def _first_line(self):
        with open(self.stdout_path, "r", errors="replace") as f:
            text = f.read()
        if "\n" not in text:
            return None
        return text.split("\n", 1)[0]

    def stdout(self):
        with open(self.stdout_path, "r", errors="replace") as f:
            return f.read()

    def stderr(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def sanitizer_reports(self):
        return [l for l in self.stderr().splitlines()
                if any(m in l for m in SANITIZER_MARKERS)]

    def _close_files(self):
        for f in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if f is not None and not f.closed:
                f.close()

    def _abort(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_files()

    def stop(self, check=True):
        """SIGTERM, wait, and (check) require exit 0 and no sanitizer report."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._close_files()
                raise ServiceError("session-revoker did not stop within %ds of SIGTERM\n"
                                   "stderr:\n%s" % (STOP_TIMEOUT, self.stderr()))
        self._close_files()
        self.returncode = self.proc.returncode
        self.proc = None
        if check:
            self.check_clean(self.returncode)
        return self.returncode

    def check_clean(self, returncode):
        reports = self.sanitizer_reports()
        if reports or returncode != 0:
            raise ServiceError("session-revoker %s: exit status %s, sanitizer lines %r\n"
                               "stderr:\n%s" % (self.name, returncode, reports,
                                                self.stderr()[-20000:]))

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            # Keep the first error; still make sure the process is gone.
            try:
                self.stop(check=False)
            except ServiceError:
                pass
            return False
        self.stop(check=True)
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- requests

    def connection(self, timeout=15):
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=client_tls_context(self.ca_file))
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, headers=None, body=None, *, token=None,
                json_body=None, chunked=False, timeout=15):
        """One request on a fresh connection. body: bytes/str (sent as is),
        json_body: serialized with Content-Type application/json (unless given);
        token: sent as Authorization: Bearer. Returns a Response, which also
        unpacks as (status, headers, parsed json or raw bytes)."""
        hdrs = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body)
            if not any(k.lower() == "content-type" for k in hdrs):
                hdrs["Content-Type"] = "application/json"
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        if isinstance(body, str):
            body = body.encode()
        conn = self.connection(timeout=timeout)
        try:
            if chunked:
                data = body or b""

                def pieces():
                    for i in range(0, len(data), 1000):
                        yield data[i:i + 1000]

                conn.request(method, path, body=pieces(), headers=hdrs, encode_chunked=True)
            else:
                conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        self.contract.check(method, path, resp.status, resp.headers, raw, hdrs)
        return Response(resp.status, resp.reason, resp.headers, raw)

    def raw_request(self, data, timeout=15):
        """Writes data as it is on a new (TLS when https) socket; returns what
        came back until a complete answer, the server closed, or timeout."""
        return self.raw_exchange(data, timeout)[0]

    def raw_exchange(self, data, timeout=15, until_closed=False):
        """Writes data as it is on a new (TLS when https) socket; returns (what
        came back, whether the server closed the connection), reading until
        the server closed, timeout, or (unless until_closed) a complete answer."""
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        if self.scheme == "https":
            sock = client_tls_context(self.ca_file).wrap_socket(sock, server_hostname=self.host)
        chunks, closed = [], False
        try:
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            while True:
                try:
                    chunk = sock.recv(65536)
                except (ConnectionResetError, ssl.SSLEOFError):
                    closed = True
                    break
                except (socket.timeout, ssl.SSLError):
                    break
                if not chunk:
                    closed = True
                    break
                chunks.append(chunk)
                if (not until_closed and b"\r\n\r\n" in b"".join(chunks)
                        and _complete(b"".join(chunks))):
                    break
        finally:
            sock.close()
        raw = b"".join(chunks)
        self._check_raw(data, raw)
        return raw, closed

    def _check_raw(self, data, raw):
        """Holds the first answer in raw to openapi.yaml, as the answer to the
        first request line of data (when both parse: a request line this
        client made up is no operation, a cut-off answer no answer)."""
        m = re.match(rb"([A-Z]+) (\S+) HTTP/\d\.\d\r\n", data)
        if m is None or not raw.startswith(b"HTTP/"):
            return
        method, target = m.group(1).decode(), m.group(2).decode("latin-1")
        reqhead = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
        reqheaders = {}
        for line in reqhead:
            k, _, v = line.partition(":")
            reqheaders.setdefault(k.strip(), v.strip())
        resp = http.client.HTTPResponse(_BytesSocket(raw), method=method)
        try:
            resp.begin()
            body = resp.read()
        except (http.client.HTTPException, ValueError):
            return
        self.contract.check(method, target, resp.status, resp.headers, body, reqheaders)


class _BytesSocket:
    """What http.client.HTTPResponse reads an answer from: bytes already read."""

    def __init__(self, data):
        self.data = data

    def makefile(self, *args, **kw):
        import io
        return io.BytesIO(self.data)


def _complete(data):
    head, _, rest = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if m is None:
        return False
    return len(rest) >= int(m.group(1))


def parse_raw_response(data):
    """(status, headers dict lowercased, body bytes) of a raw HTTP/1.1 answer."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/"):
        return None, {}, data
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


# --------------------------------------------------------------------------
# the store, read-only

class Store:
    """Read-only look at the service's store (a new connection each time):
    the SQLite file path, or in PostgreSQL mode the database that stands for
    it (pg_database()). SQL is written for SQLite, with ? parameters."""

    def __init__(self, path):
        self.path = path
        self.backend = "postgres" if PG_MODE else "sqlite"

    def _connect(self):
        db = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True, timeout=10)
        db.row_factory = sqlite3.Row
        return db

    def query(self, sql, params=()):
        if PG_MODE:
            return self._pg(sql, params, read_only=True)
        db = self._connect()
        try:
            return [dict(r) for r in db.execute(sql, params).fetchall()]
        finally:
            db.close()

    def _pg(self, sql, params, read_only):
        import psycopg2
        import psycopg2.extras
        for attempt in (1, 2):
            conn = _pg_session(pg_database(self.path), read_only)
            try:
                with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                    cur.execute(pg_sql(sql, bool(params)), tuple(params) or None)
                    return [dict(r) for r in cur.fetchall()] if cur.description else []
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                # The connection broke (a server restart): a read is asked
                # again on a new one, a write never (it may have committed).
                _pg_session_drop(pg_database(self.path), read_only)
                if attempt == 2 or not read_only:
                    raise

    def execute(self, sql, params=()):
        """A write of the test's own (arranging what a test needs), committed
        at once; rows RETURNING gives back, else []."""
        if PG_MODE:
            return self._pg(sql, params, read_only=False)
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                cur = db.execute(sql, params)
                names = [d[0] for d in cur.description or []]
                return [dict(zip(names, r)) for r in cur.fetchall()]
        finally:
            db.close()

    def hold_writes(self):
        """Takes the store's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL:
        every table of the schema locked EXCLUSIVE, which lets reads by) so
        the service's next commit waits: a WriteHold, release() lets go."""
        if PG_MODE:
            conn = _pg_connect(pg_database(self.path))
            with conn.cursor() as cur:
                cur.execute("SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables"
                            " WHERE schemaname = current_schema()")
                cur.execute("LOCK TABLE %s IN EXCLUSIVE MODE" % cur.fetchone()[0])
        else:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("BEGIN IMMEDIATE")
        return WriteHold(conn)

    def schema_version(self):
        """The migrations applied: PRAGMA user_version; on PostgreSQL the
        highest version in schema_migrations."""
        if PG_MODE:
            return self.query("SELECT coalesce(max(version), 0) AS v FROM schema_migrations")[0]["v"]
        return self.query("PRAGMA user_version")[0]["user_version"]

    def exists(self):
        """Whether the service made its store yet: the SQLite file, or the
        migrations' table in the database."""
        if PG_MODE:
            return self.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS e")[0]["e"]
        return os.path.exists(self.path)

    def count(self, table="revocations"):
        return self.query("SELECT count(*) AS n FROM %s" % table)[0]["n"]

    def counts(self):
        return {t: self.count(t) for t in ("revocations", "revocation_groups",
                                            "revocation_subjects", "idempotency_keys")}

    def revocation(self, rev_id):
        rows = self.query("SELECT * FROM revocations WHERE id = ?", (rev_id,))
        if not rows:
            return None
        row = rows[0]
        row["groups"] = [g["group_name"] for g in self.query(
            "SELECT group_name FROM revocation_groups WHERE revocation_seq = ?"
            " ORDER BY position", (row["seq"],))]
        row["subjects"] = [g["subject"] for g in self.query(
            "SELECT subject FROM revocation_subjects WHERE revocation_seq = ?"
            " ORDER BY position", (row["seq"],))]
        return row

    def integrity_check(self):
        """["ok"] when the store is intact. SQLite: PRAGMA integrity_check;
        PostgreSQL: amcheck's bt_index_check on every B-tree index of the
        schema (tables, their indexes and the unique keys), and a row count
        of every table, read through."""
        if not PG_MODE:
            return [r["integrity_check"] for r in self.query("PRAGMA integrity_check")]
        problems = []
        conn = _pg_connect(pg_database(self.path))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
                cur.execute("SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid ="
                            " i.indexrelid JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n"
                            " ON n.oid = c.relnamespace WHERE a.amname = 'btree'"
                            " AND n.nspname = current_schema()")
                for (index,) in cur.fetchall():
                    try:
                        cur.execute("SELECT bt_index_check(%s::regclass, true)", (index,))
                    except Exception as exc:  # psycopg2.Error: what amcheck found
                        problems.append("%s: %s" % (index, str(exc).strip()))
                cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                for (table,) in cur.fetchall():
                    cur.execute('SELECT count(*) FROM "%s"' % table)
        finally:
            conn.close()
        return problems or ["ok"]


class WriteHold:
    """The store's write lock held by Store.hold_writes(): release() rolls
    back (the lock goes), close() closes the connection (SQLite: the last
    connection to close checkpoints the WAL, so a test may close it later)."""

    def __init__(self, conn):
        self.conn = conn

    def release(self):
        self.conn.rollback()

    def close(self):
        self.conn.close()


def pg_sql(sql, has_params):
    """SQLite's SQL for psycopg2: ? parameters become %s (outside quotes), and
    a literal % doubles when there are parameters."""
    out, quote = [], None
    for c in sql:
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "?":
            out.append("%s")
            continue
        if c == "%" and has_params:
            out.append("%%")
            continue
        out.append(c)
    return "".join(out)
