"""The service's logs (README "Logs"), read as an operator's log pipeline
would read them, from the real binary's stderr.

1. listen.trusted_proxies: X-Forwarded-For / Forwarded name the client in
   the http.request line only when the TCP peer is a configured trusted
   proxy: a forged field from any other peer is not believed; from 127.0.0.1
   configured as trusted it is, also as a chain of proxies (the right-most
   address that is not itself trusted), with IPv6 in the field (RFC 7239's
   quoted "[...]") and as the peer (::1); check-config names a bad entry.
2. A full run (issuers with a jwks_url and an HMAC secret file, the Auth0
   source with an authorization_file and a client_secret_file lookup, AWS
   credentials for the fake AWS and the sessions it hands out, tokens good and
   bad, revocations applied in AWS) in log.format text and json, at level
   debug: no secret or token used anywhere appears in stderr, whole or as any
   12-character piece; every json line is one JSON object with the documented
   members, every text line is logfmt.

Run with Debian's /usr/bin/python3.
"""

import copy
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

import harness
from harness import Key, Service, Store, make_token

import fake_aws  # tests/fakes/, on sys.path through harness
import fake_idp
import test_auth0_api  # its Auth0 log stream samples

ISS_JWKS = "https://idp.logs.test/"
ISS_HMAC = "ops-scripts-logs"
AUD = "session-revoker-logs"
CLIENT_ID = "sr-logs-m2m"
PROVIDER = "auth.example.com/"
PIECE = 12  # the length of the pieces of every secret looked for

TEXT_LINE = re.compile(r'^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(debug|info|warn|error) '
                       r'msg=[a-z0-9_.]+( |$)')


def request_line(stderr, request_id):
    """The http.request line of one request (text or json), or None."""
    for line in stderr.splitlines():
        if "http.request" in line and request_id in line:
            return line
    return None


def client_of(line):
    if line.startswith("{"):
        return json.loads(line)["client"]
    m = re.search(r" client=(\S+)", line)
    return m.group(1) if m else None


class TrustedProxies(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-logs-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.n = 0

    def start(self, trusted=None, address="127.0.0.1", fmt="text"):
        self.n += 1
        cfg = {"listen": {"address": address, "port": 0},
               "store": {"path": os.path.join(self.tmp, "logs.db")},
               "development": {"signing_key_file": os.path.join(self.tmp, "dev.pem")},
               "log": {"format": fmt}}
        if trusted is not None:
            cfg["listen"]["trusted_proxies"] = trusted
        path = harness.write_config(os.path.join(self.tmp, "config-%d.json" % self.n), cfg)
        svc = Service(path, cwd=self.tmp, logdir=self.tmp, name="service-%d" % self.n)
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        svc.host = svc.host.strip("[]")  # the banner writes [::1]; http.client wants ::1
        return svc

    def client(self, svc, headers, path="/healthz"):
        """The client address the http.request line of one GET names."""
        rid = uuid.uuid4().hex
        h = dict(headers)
        h["X-Request-Id"] = rid
        r = svc.request("GET", path, headers=h)
        self.assertIn(r.status, (200, 404))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            line = request_line(svc.stderr(), rid)
            if line is not None:
                return client_of(line)
            time.sleep(0.05)
        self.fail("no http.request line for %s\n%s" % (rid, svc.stderr()[-3000:]))

    def test_forged_fields_from_an_untrusted_peer_are_not_believed(self):
        for trusted in (None, ["10.0.0.0/8", "2001:db8::/32"]):
            with self.subTest(trusted=trusted):
                svc = self.start(trusted)
                for headers in ({"X-Forwarded-For": "198.51.100.7"},
                                {"Forwarded": "for=198.51.100.7"},
                                {"X-Forwarded-For": "198.51.100.7", "Forwarded": "for=198.51.100.7"},
                                {}):
                    self.assertEqual(self.client(svc, headers), "127.0.0.1", headers)
                svc.stop()

    def test_a_trusted_proxy_names_the_client(self):
        svc = self.start(["127.0.0.1"])
        cases = [
            ({}, "127.0.0.1"),
            ({"X-Forwarded-For": "198.51.100.7"}, "198.51.100.7"),
            # a client's own forged entry, then what the proxy appended
            ({"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}, "198.51.100.7"),
            ({"Forwarded": "for=192.0.2.60;proto=https;by=127.0.0.1"}, "192.0.2.60"),
            ({"Forwarded": 'for=6.6.6.6, For="[2001:db8:cafe::17]:4711"'}, "2001:db8:cafe::17"),
            ({"X-Forwarded-For": "2001:db8:cafe::17"}, "2001:db8:cafe::17"),
            # not an address: the walk ends at the trusted proxy itself
            ({"Forwarded": "for=_hidden"}, "127.0.0.1"),
            ({"X-Forwarded-For": "198.51.100.7, unknown"}, "127.0.0.1"),
            # a field that breaks RFC 7239, or two that disagree: not believed
            ({"Forwarded": 'for="6.6.6.6'}, "127.0.0.1"),
            ({"Forwarded": "for=6.6.6.6", "X-Forwarded-For": "198.51.100.7"}, "127.0.0.1"),
        ]
        for headers, want in cases:
            self.assertEqual(self.client(svc, headers), want, headers)
        # also on a route that answers 404, and a log line per request
        self.assertEqual(self.client(svc, {"X-Forwarded-For": "198.51.100.8"}, "/nope"),
                         "198.51.100.8")
        svc.stop()

    def test_a_chain_of_trusted_proxies(self):
        svc = self.start(["127.0.0.1", "10.0.0.0/8"], fmt="json")
        cases = [
            ({"X-Forwarded-For": "6.6.6.6, 198.51.100.7, 10.1.2.3, 10.200.0.1"}, "198.51.100.7"),
            ({"Forwarded": "for=6.6.6.6, for=198.51.100.7, for=10.1.2.3"}, "198.51.100.7"),
            # every hop trusted: the left-most
            ({"X-Forwarded-For": "10.9.9.9, 10.1.2.3"}, "10.9.9.9"),
            # an untrusted hop in the middle stops the walk there
            ({"X-Forwarded-For": "198.51.100.7, 203.0.113.1, 10.1.2.3"}, "203.0.113.1"),
        ]
        for headers, want in cases:
            self.assertEqual(self.client(svc, headers), want, headers)
        svc.stop()

    def test_ipv6_peer(self):
        svc = self.start(["::1"], address="::1")
        self.assertEqual(self.client(svc, {"X-Forwarded-For": "198.51.100.7"}), "198.51.100.7")
        self.assertEqual(self.client(svc, {"Forwarded": 'for="[2001:db8::9]"'}), "2001:db8::9")
        svc.stop()
        svc = self.start(["127.0.0.1"], address="::1")
        self.assertEqual(self.client(svc, {"X-Forwarded-For": "198.51.100.7"}), "::1")
        svc.stop()

    def test_check_config_names_a_bad_entry(self):
        path = harness.write_config(os.path.join(self.tmp, "bad.json"), {
            "listen": {"trusted_proxies": ["10.0.0.0/8", "10.0.0.1/8", "proxy.internal",
                                           "::1/200"]},
            "log": {"format": "xml"},
            "development": {"signing_key_file": os.path.join(self.tmp, "dev.pem")}})
        p = subprocess.run([harness.binary_path(), "check-config", "--config", path],
                           capture_output=True, text=True, env=harness.clean_env(), timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("listen.trusted_proxies[1]: host bits are set", p.stderr)
        self.assertIn('listen.trusted_proxies[2]: not an IP address: "proxy.internal"', p.stderr)
        self.assertIn("listen.trusted_proxies[3]: an IPv6 prefix length is at most 128", p.stderr)
        self.assertNotIn("trusted_proxies[0]", p.stderr)
        self.assertIn("log.format: must be text", p.stderr)
        # the environment override is checked the same way
        env = harness.clean_env({"SR_LISTEN_TRUSTED_PROXIES": "127.0.0.1,::1,nope"})
        good = harness.write_config(os.path.join(self.tmp, "good.json"), {
            "development": {"signing_key_file": os.path.join(self.tmp, "dev.pem")}})
        p = subprocess.run([harness.binary_path(), "check-config", "--config", good],
                           capture_output=True, text=True, env=env, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('listen.trusted_proxies[2]: not an IP address: "nope"', p.stderr)


# Members every json line has, and those of the lines a run must produce.
BASE_MEMBERS = {"time", "level", "msg"}
EVENT_MEMBERS = {
    "http.request": {"request_id", "client", "method", "path", "route", "status", "outcome",
                     "bytes_in", "ms"},
    "revocation.recorded": {"request_id", "revocation_id", "replayed", "reason"},
    "job.finished": {"job", "revocation_id", "kind", "account", "attempt", "roles", "next"},
    "engine.role": {"account", "role", "outcome", "cutoff", "request_id"},
    "events.batch": {"source", "received", "recorded", "replayed", "dropped", "errors"},
    "jwks.fetched": {"issuer", "keys", "changed", "cache_seconds"},
    "serve.listening": {"address", "port", "tls", "store"},
}


class SecretsStayOutOfTheLogs(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-logs-run-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.fake = fake_aws.FakeAws(copy.deepcopy(harness.EXAMPLE_SEED)).start()
        self.addCleanup(self.fake.stop)
        self.idp = fake_idp.FakeIdp(tls_dir=os.path.join(self.tmp, "idp")).start()
        self.addCleanup(self.idp.stop)
        self.client_secret = "m2m-" + secrets.token_urlsafe(32)
        self.idp.set_client(CLIENT_ID, self.client_secret)
        self.hmac = Key("hmac", self.tmp, "ops")
        self.auth0_authorization = "Bearer " + secrets.token_urlsafe(40)
        self.files = {}
        for name, text in (("client.secret", self.client_secret + "\n"),
                           ("auth0-authorization", self.auth0_authorization + "\n")):
            self.files[name] = os.path.join(self.tmp, name)
            with open(self.files[name], "w") as f:
                f.write(text)
            os.chmod(self.files[name], 0o600)
        self.secrets_used = [self.client_secret, self.hmac.secret.decode(),
                             self.auth0_authorization.split(" ", 1)[1],
                             harness.EXAMPLE_BASE_SECRET]

    def config(self, fmt):
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0, "trusted_proxies": ["127.0.0.1"]},
            "store": {"path": os.path.join(self.tmp, "run-%s.db" % fmt)},
            "auth": {"issuers": [
                {"issuer": ISS_JWKS, "audience": AUD, "algorithms": ["RS256", "ES256"],
                 "jwks_url": self.idp.jwks_url},
                {"issuer": ISS_HMAC, "audience": AUD, "algorithms": ["HS256"],
                 "hmac_secret_file": self.hmac.write_secret()}]},
            "http_client": {"ca_file": self.idp.ca_file, "timeout_seconds": 3},
            "aws": {"accounts": [{"id": a, "role_name": harness.ADMIN_ROLE,
                                  "external_id": harness.EXTERNAL_ID}
                                 for a in harness.EXAMPLE_ACCOUNTS]},
            "revoke": {"providers": [PROVIDER]},
            "jobs": {"poll_ms": 100},
            "sources": {"auth0": {
                "authorization_file": self.files["auth0-authorization"],
                "lookup": {"kind": "auth0", "domain": self.idp.url, "client_id": CLIENT_ID,
                           "client_secret_file": self.files["client.secret"]},
                "rules": [{"name": "lost-access", "on": ["user_blocked"],
                           "groups": "lookup", "fallback": ["team_breakglass"]}]}},
            "log": {"level": "debug", "format": fmt},
        }
        return harness.write_config(os.path.join(self.tmp, "config-%s.json" % fmt), cfg)

    def run_sequence(self, fmt):
        """Everything a day of operation does; returns (stderr, tokens used)."""
        svc = Service(self.config(fmt), cwd=self.tmp, logdir=self.tmp, name="svc-" + fmt)
        svc.env = {k: v for k, v in svc.env.items() if not k.startswith("AWS_")}
        svc.env.update({"AWS_ENDPOINT_URL": self.fake.url,
                        "AWS_ACCESS_KEY_ID": harness.EXAMPLE_BASE_KEY,
                        "AWS_SECRET_ACCESS_KEY": harness.EXAMPLE_BASE_SECRET,
                        "AWS_EC2_METADATA_DISABLED": "true", "HOME": self.tmp})
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        tokens = []
        t = int(time.time())

        def jwks_token(scope, claims=None, **kw):
            c = {"iss": ISS_JWKS, "aud": AUD, "sub": "ops@example.com", "iat": t,
                 "exp": t + 600, "jti": uuid.uuid4().hex, "scope": scope}
            c.update(claims or {})
            tok = self.idp.sign(c, **kw)
            tokens.append(tok)
            return tok

        def hmac_token(scope, claims=None, **kw):
            tok = make_token(self.hmac, "HS256", claims, iss=ISS_HMAC, aud=AUD, scope=scope, **kw)
            tokens.append(tok)
            return tok

        def ok(r, status=202):
            self.assertEqual(r.status, status, "%r\n%s" % (r, svc.stderr()[-3000:]))
            return r

        # revocations: Bearer tokens of both issuers, and a document as a JWT
        xff = {"X-Forwarded-For": "198.51.100.7"}
        r1 = ok(svc.request("POST", "/v1/revocations", headers=xff,
                            json_body={"groups": ["team_opsec"], "time": "10 minutes ago",
                                       "reason": "offboarding: laptop lost"},
                            token=jwks_token("revocations:write")))
        ok(svc.request("POST", "/v1/revocations",
                       json_body={"groups": ["team_payments"], "reason": "hr ticket 4711"},
                       token=hmac_token("revocations:write")))
        ok(svc.request("POST", "/v1/revocations", headers={"Content-Type": "application/jwt"},
                       body=hmac_token("revocations:write", claims={"groups": ["contractors"]})))
        ok(svc.request("GET", "/v1/revocations/" + r1.json["id"],
                       token=jwks_token("revocations:read")), 200)
        ok(svc.request("GET", "/v1/revocations?limit=5", token=hmac_token("revocations:read")),
           200)
        # refused: a bad signature, an expired token, the wrong scope, an
        # Authorization value that is not a token at all
        bad = jwks_token("revocations:write")
        ok(svc.request("POST", "/v1/revocations", json_body={"groups": ["x"]},
                       token=harness.flip_signature_char(bad)), 401)
        ok(svc.request("POST", "/v1/revocations", json_body={"groups": ["x"]},
                       token=hmac_token("revocations:write", ttl=-120)), 401)
        ok(svc.request("GET", "/v1/revocations", token=hmac_token("events:write")), 403)
        junk = secrets.token_urlsafe(30)
        tokens.append(junk)
        ok(svc.request("GET", "/v1/revocations", headers={"Authorization": "Bearer " + junk}),
           401)
        # the Auth0 log stream with its static authorization value; its
        # lookup asks the fake's Management API with the client secret
        self.idp.set_user(test_auth0_api.USER, roles=["team_opsec"])
        ok(svc.request("POST", "/v1/events/auth0",
                       headers={"Authorization": self.auth0_authorization},
                       json_body=[test_auth0_api.blocked_event(test_auth0_api.log_id(7))]))
        wrong = "Bearer " + secrets.token_urlsafe(40)
        tokens.append(wrong.split(" ", 1)[1])
        ok(svc.request("POST", "/v1/events/auth0", headers={"Authorization": wrong},
                       json_body=[test_auth0_api.blocked_event(test_auth0_api.log_id(8))]), 401)
        # the workers apply every revocation in AWS (assumed-role sessions)
        store = Store(os.path.join(self.tmp, "run-%s.db" % fmt))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = [row["state"] for row in store.query("SELECT state FROM revocations")]
            if states and all(s in ("applied", "partial", "failed") for s in states):
                break
            time.sleep(0.2)
        self.assertEqual(sorted(set(states)), ["applied"], svc.stderr()[-4000:])
        svc.stop()
        with self.fake.lock:
            for s in self.fake.sessions.values():
                self.secrets_used += [s["secret"], s["token"]]
        with self.idp.lock:
            tokens += list(self.idp.tokens)
        return svc.stderr(), tokens

    def assert_no_secret(self, stderr, tokens):
        self.assertGreater(len(tokens), 8)
        for secret in self.secrets_used + tokens:
            self.assertGreaterEqual(len(secret), PIECE, secret)
            pieces = {secret[i:i + PIECE] for i in range(len(secret) - PIECE + 1)}
            found = sorted(p for p in pieces if p in stderr)
            self.assertEqual(found, [], "a piece of a secret is in the log:\n%s" % "\n".join(
                l for l in stderr.splitlines() if any(p in l for p in found))[:3000])

    def test_text(self):
        stderr, tokens = self.run_sequence("text")
        self.assert_no_secret(stderr, tokens)
        lines = stderr.splitlines()
        self.assertGreater(len(lines), 20)
        for line in lines:
            self.assertRegex(line, TEXT_LINE)
        self.assertTrue(any(re.search(r"msg=http\.request .*client=198\.51\.100\.7 ", l)
                            for l in lines))
        self.assertTrue(any(re.search(r'msg=revocation\.recorded .*reason="offboarding: '
                                      r'laptop lost"', l) for l in lines))

    def test_json(self):
        stderr, tokens = self.run_sequence("json")
        self.assert_no_secret(stderr, tokens)
        seen = {}
        for line in stderr.splitlines():
            obj = json.loads(line)  # every line is one JSON object
            self.assertIsInstance(obj, dict, line)
            self.assertLessEqual(BASE_MEMBERS, set(obj), line)
            self.assertRegex(obj["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(obj["level"], ("debug", "info", "warn", "error"))
            self.assertNotIn("unparsed", obj, line)
            for k, v in obj.items():
                self.assertIsInstance(v, str, "%s in %s" % (k, line))
            want = EVENT_MEMBERS.get(obj["msg"])
            if want is not None:
                self.assertLessEqual(want, set(obj), line)
            seen.setdefault(obj["msg"], []).append(obj)
        for event in EVENT_MEMBERS:
            self.assertIn(event, seen)
        self.assertIn("store.batch", seen)  # level debug is in force
        # a quoted value with spaces is one string; the client behind the proxy
        reasons = {o["reason"] for o in seen["revocation.recorded"]}
        self.assertIn("offboarding: laptop lost", reasons)
        clients = {o["client"] for o in seen["http.request"]}
        self.assertEqual(clients, {"127.0.0.1", "198.51.100.7"})
        outcomes = {(o["status"], o["outcome"]) for o in seen["http.request"]}
        self.assertLessEqual({("202", "ok"), ("401", "invalid_token"),
                              ("403", "insufficient_scope")}, outcomes)
        routes = {o["route"] for o in seen["http.request"]}
        self.assertIn("/v1/revocations/{id}", routes)
        recorded = {o["revocation_id"] for o in seen["revocation.recorded"]}
        finished = {o["revocation_id"] for o in seen["job.finished"]}
        self.assertTrue(recorded & finished)


if __name__ == "__main__":
    unittest.main()
