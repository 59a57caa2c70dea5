"""Tests for the fake identity provider (tests/fakes/fake_idp.py).

Run: cd tests/fakes && /usr/bin/python3 -m unittest -v test_fake_idp

Clients here are the ones the service's own stack resembles: curl (libcurl with
OpenSSL, as sr_fetch uses) for TLS verification, and Python's http.client
verifying against the fake's CA for the API.
"""

import base64
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import unittest
import urllib.parse

import jwt

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fake_idp  # noqa: E402

CURL_ENV = {"PATH": "/usr/bin:/bin", "NO_PROXY": "*", "HOME": "/nonexistent"}


class FakeIdpTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = fake_idp.FakeIdp().start()
        cls.ctx = fake_idp.client_context(cls.fake.ca_file)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.reset()

    # -- helpers ---------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, url=None, timeout=10):
        """(status, headers dict with lower-case names, body bytes) over HTTPS
        verified against the fake's CA."""
        split = urllib.parse.urlsplit(url or self.fake.url)
        if split.scheme == "https":
            conn = http.client.HTTPSConnection(split.hostname, split.port, context=self.ctx,
                                               timeout=timeout)
        else:
            conn = http.client.HTTPConnection(split.hostname, split.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                headers = dict(headers or {}, **{"Content-Type": "application/json"})
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def get_json(self, path, **kw):
        status, headers, body = self.request("GET", path, **kw)
        return status, headers, json.loads(body)

    def curl(self, url, *extra):
        """curl verifying against the fake's CA: (exit status, stdout, stderr)."""
        r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", self.fake.ca_file,
                            *extra, url], capture_output=True, text=True, env=CURL_ENV,
                           timeout=30)
        return r.returncode, r.stdout, r.stderr


class TlsTest(FakeIdpTestCase):
    def test_main_listener_verifies_against_the_ca_by_ip_and_name(self):
        self.assertTrue(os.path.isfile(self.fake.ca_file))
        for url in (self.fake.jwks_url,
                    self.fake.jwks_url.replace("127.0.0.1", "localhost")):
            rc, out, err = self.curl(url)
            self.assertEqual(rc, 0, err)
            self.assertIn("keys", json.loads(out))

    def test_without_the_ca_the_main_certificate_is_refused(self):
        r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", "/dev/null",
                            self.fake.jwks_url], capture_output=True, text=True,
                           env=CURL_ENV, timeout=30)
        self.assertNotEqual(r.returncode, 0)

    def test_bad_certificates_are_refused_by_a_verifying_client(self):
        cases = {"untrusted": "local issuer", "wrong_host": "subject name",
                 "expired": "expired"}
        for name, message in cases.items():
            with self.subTest(listener=name):
                rc, out, err = self.curl(self.fake.urls[name] + fake_idp.JWKS_PATH)
                self.assertEqual(rc, 60, err)  # CURLE_PEER_FAILED_VERIFICATION
                self.assertIn(message, err)
                # ... yet it is the same API behind them when verification is off.
                rc, out, err = self.curl(self.fake.urls[name] + fake_idp.JWKS_PATH, "-k")
                self.assertEqual(rc, 0, err)
                self.assertIn("keys", json.loads(out))
        # A refused handshake never became a request.
        listeners = {c["listener"] for c in self.fake.calls()}
        self.assertEqual(listeners, {"untrusted", "wrong_host", "expired"})
        self.assertEqual(self.fake.count(fake_idp.JWKS_PATH), 3)

    def test_python_client_refuses_untrusted_listener(self):
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.request("GET", fake_idp.JWKS_PATH, url=self.fake.urls["untrusted"])

    def test_plain_listener_and_control_port(self):
        status, _, body = self.get_json(fake_idp.JWKS_PATH, url=self.fake.urls["plain"])
        self.assertEqual(status, 200)
        status, _, info = self.get_json("/_fake/info", url=self.fake.control_url)
        self.assertEqual(info["url"], self.fake.url)
        self.assertEqual(info["ca_file"], self.fake.ca_file)
        # The control port is not an identity provider.
        status, _, _ = self.request("GET", fake_idp.JWKS_PATH, url=self.fake.control_url)
        self.assertEqual(status, 404)

    def test_pause_refuses_connections_until_resume(self):
        self.fake.pause()
        try:
            rc, _, err = self.curl(self.fake.jwks_url)
            self.assertEqual(rc, 7, err)  # CURLE_COULDNT_CONNECT
            status, _, _ = self.request("GET", "/_fake/health", url=self.fake.control_url)
            self.assertEqual(status, 200)
        finally:
            self.fake.resume()
        rc, _, err = self.curl(self.fake.jwks_url)
        self.assertEqual(rc, 0, err)
        # The same through the control API.
        self.assertEqual(self.request("POST", "/_fake/pause", url=self.fake.control_url)[0], 200)
        self.assertEqual(self.curl(self.fake.jwks_url)[0], 7)
        self.assertEqual(self.request("POST", "/_fake/resume", url=self.fake.control_url)[0], 200)
        self.assertEqual(self.curl(self.fake.jwks_url)[0], 0)


class JwksTest(FakeIdpTestCase):
    def test_jwks_shape_and_cache_control(self):
        status, headers, body = self.get_json(fake_idp.JWKS_PATH)
        self.assertEqual(status, 200)
        self.assertEqual(headers["cache-control"], "public, max-age=300")
        self.assertTrue(headers["content-type"].startswith("application/json"))
        keys = body["keys"]
        self.assertEqual(sorted(k["kty"] for k in keys), ["EC", "RSA"])
        for k in keys:
            for member in ("kid", "kty", "alg", "use"):
                self.assertIn(member, k)
            self.assertEqual(k["use"], "sig")
            self.assertNotIn("d", k)  # public keys only
        rsa_key = next(k for k in keys if k["kty"] == "RSA")
        self.assertEqual(rsa_key["alg"], "RS256")
        self.assertEqual(set(rsa_key), {"kid", "kty", "alg", "use", "n", "e"})
        ec_key = next(k for k in keys if k["kty"] == "EC")
        self.assertEqual((ec_key["alg"], ec_key["crv"]), ("ES256", "P-256"))

        self.fake.set_jwks(max_age=5)
        self.assertEqual(self.request("GET", fake_idp.JWKS_PATH)[1]["cache-control"],
                         "public, max-age=5")
        self.fake.set_jwks(max_age=None)
        self.assertNotIn("cache-control", self.request("GET", fake_idp.JWKS_PATH)[1])
        self.request("POST", "/_fake/jwks/config", {"cache_control": "no-store"})
        self.assertEqual(self.request("GET", fake_idp.JWKS_PATH)[1]["cache-control"],
                         "no-store")
        self.request("POST", "/_fake/jwks/config", {"body": "not json"})
        self.assertEqual(self.request("GET", fake_idp.JWKS_PATH)[2], b"not json")

    def test_tokens_signed_with_the_private_keys_verify_against_the_served_set(self):
        _, _, jwks = self.get_json(fake_idp.JWKS_PATH)
        served = {k["kid"]: k for k in jwks["keys"]}
        for key in self.fake.keys():
            with self.subTest(kid=key["kid"]):
                token = jwt.encode({"sub": "auth0|1"}, key["private_pem"], algorithm=key["alg"],
                                   headers={"kid": key["kid"]})
                public = jwt.PyJWK(served[key["kid"]]).key
                self.assertEqual(jwt.decode(token, public, algorithms=[key["alg"]])["sub"],
                                 "auth0|1")
                # sign() does the same
                token = self.fake.sign({"sub": "x"}, kid=key["kid"])
                self.assertEqual(jwt.get_unverified_header(token)["kid"], key["kid"])
                jwt.decode(token, public, algorithms=[key["alg"]])

    def test_add_key_and_rotate(self):
        before = {k["kid"] for k in self.fake.keys()}
        added = self.fake.add_key("ec384", kid="extra")
        self.assertEqual((added["kid"], added["alg"], added["kty"]), ("extra", "ES384", "EC"))
        self.assertIn("BEGIN PRIVATE KEY", added["private_pem"])
        _, _, jwks = self.get_json(fake_idp.JWKS_PATH)
        self.assertEqual({k["kid"] for k in jwks["keys"]}, before | {"extra"})

        status, _, body = self.request("POST", "/_fake/jwks/keys",
                                       {"kind": "rsa", "kid": "extra"})
        self.assertEqual(status, 400)  # a kid is unique
        self.assertIn("extra", json.loads(body)["error"])

        status, _, body = self.request("POST", "/_fake/jwks/rotate", {"kinds": ["rsa"]})
        self.assertEqual(status, 200)
        new = json.loads(body)
        self.assertEqual(len(new), 1)
        _, _, jwks = self.get_json(fake_idp.JWKS_PATH)
        self.assertEqual([k["kid"] for k in jwks["keys"]], [new[0]["kid"]])
        self.assertNotIn(new[0]["kid"], before | {"extra"})

        # A token signed with an old key no longer finds its kid in the set.
        self.fake.remove_key(new[0]["kid"])
        self.assertEqual(self.get_json(fake_idp.JWKS_PATH)[2], {"keys": []})

    def test_requests_are_counted_per_path(self):
        for _ in range(3):
            self.request("GET", fake_idp.JWKS_PATH)
        self.request("GET", "/nowhere")
        self.assertEqual(self.fake.count(fake_idp.JWKS_PATH), 3)
        _, _, counts = self.get_json("/_fake/counts")
        self.assertEqual(counts, {fake_idp.JWKS_PATH: 3, "/nowhere": 1})
        self.request("POST", "/_fake/reset-counters")
        self.assertEqual(self.fake.counts(), {})


class FaultTest(FakeIdpTestCase):
    def test_down_slow_reset_status_with_count(self):
        self.fake.set_faults([{"path": "/.well-known/", "kind": "down", "count": 1}])
        self.assertEqual(self.request("GET", fake_idp.JWKS_PATH)[0], 503)
        self.assertEqual(self.request("GET", fake_idp.JWKS_PATH)[0], 200)

        self.fake.set_faults([{"path": "/", "kind": "slow", "seconds": 0.6, "count": 1}])
        started = time.monotonic()
        self.assertEqual(self.request("GET", fake_idp.JWKS_PATH)[0], 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.6)

        self.fake.set_faults([{"path": "/.well-known/jwks.json", "kind": "reset"}])
        rc, _, err = self.curl(self.fake.jwks_url)
        self.assertEqual(rc, 56, err)  # CURLE_RECV_ERROR: connection reset
        self.assertIn("reset", err.lower())

        self.fake.set_faults([{"path": "/.well-known/", "kind": "status", "status": 500,
                               "body": "{oops", "method": "GET"}])
        status, _, body = self.request("GET", fake_idp.JWKS_PATH)
        self.assertEqual((status, body), (500, b"{oops"))
        faults = [c["fault"] for c in self.fake.calls()]
        self.assertEqual(faults, ["down", None, "slow", "reset", "status"])

    def test_a_client_that_gives_up_on_a_slow_answer_is_logged(self):
        self.fake.set_faults([{"path": "/api/", "kind": "slow", "seconds": 1.5}])
        rc, _, err = self.curl(self.fake.url + "/api/v2/logs", "--max-time", "0.5")
        self.assertEqual(rc, 28, err)  # CURLE_OPERATION_TIMEDOUT
        # The call is logged once its delay is over, with the answer it would
        # have had (no token: 401), or status 0 where aiohttp cancels the handler.
        deadline = time.monotonic() + 10
        while not self.fake.calls() and time.monotonic() < deadline:
            time.sleep(0.05)
        call = self.fake.calls()[0]
        self.assertEqual((call["path"], call["fault"]), ("/api/v2/logs", "slow"))
        self.assertIn(call["status"], (0, 401))
        self.assertGreaterEqual(call["duration_ms"], 500)

    def test_bad_fault_is_refused(self):
        status, _, body = self.request("POST", "/_fake/faults", [{"kind": "melt"}])
        self.assertEqual(status, 400)
        self.assertIn("melt", json.loads(body)["error"])


class Auth0TestCase(FakeIdpTestCase):
    def grant(self, **override):
        form = {"grant_type": "client_credentials", "client_id": fake_idp.DEFAULT_CLIENT_ID,
                "client_secret": fake_idp.DEFAULT_CLIENT_SECRET, "audience": self.fake.audience}
        form.update(override)
        form = {k: v for k, v in form.items() if v is not None}
        return self.request("POST", "/oauth/token", urllib.parse.urlencode(form),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def token(self):
        status, _, body = self.grant()
        self.assertEqual(status, 200, body)
        return json.loads(body)["access_token"]

    def api(self, path, token=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, headers, body = self.request("GET", path, headers=headers)
        return status, headers, json.loads(body)


class TokenTest(Auth0TestCase):
    def test_client_credentials_grant_form_json_and_basic(self):
        status, headers, body = self.grant()
        self.assertEqual(status, 200)
        answer = json.loads(body)
        self.assertEqual(set(answer), {"access_token", "token_type", "expires_in", "scope"})
        self.assertEqual(answer["token_type"], "Bearer")
        self.assertEqual(answer["expires_in"], 86400)
        self.assertEqual(answer["scope"], fake_idp.DEFAULT_SCOPE)
        self.assertGreaterEqual(len(answer["access_token"]), 32)
        self.assertEqual(headers["cache-control"], "no-store")

        status, _, body = self.request("POST", "/oauth/token", {
            "grant_type": "client_credentials", "client_id": fake_idp.DEFAULT_CLIENT_ID,
            "client_secret": fake_idp.DEFAULT_CLIENT_SECRET, "audience": self.fake.audience})
        self.assertEqual(status, 200, body)
        second = json.loads(body)["access_token"]
        self.assertNotEqual(second, answer["access_token"])  # opaque, fresh each time

        basic = base64.b64encode(f"{fake_idp.DEFAULT_CLIENT_ID}:"
                                 f"{fake_idp.DEFAULT_CLIENT_SECRET}".encode()).decode()
        status, _, body = self.request(
            "POST", "/oauth/token",
            urllib.parse.urlencode({"grant_type": "client_credentials",
                                    "audience": self.fake.audience}),
            {"Content-Type": "application/x-www-form-urlencoded",
             "Authorization": "Basic " + basic})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.fake.tokens_granted(), 3)

    def test_refusals_in_auth0_error_form(self):
        cases = [
            ({"client_secret": "wrong"}, 401, "access_denied", "Unauthorized"),
            ({"client_id": "someone-else"}, 401, "access_denied", "Unauthorized"),
            ({"client_secret": None}, 401, "access_denied", "Unauthorized"),
            ({"audience": "https://elsewhere/api/v2/"}, 403, "access_denied",
             "Service not enabled within domain: https://elsewhere/api/v2/"),
            ({"audience": None}, 403, "access_denied", "No audience parameter"),
            ({"grant_type": None}, 400, "invalid_request", "grant_type"),
            ({"grant_type": "password"}, 400, "unsupported_grant_type", "password"),
        ]
        for override, status, error, description in cases:
            with self.subTest(override=override):
                got, _, body = self.grant(**override)
                self.assertEqual(got, status, body)
                answer = json.loads(body)
                self.assertEqual(answer["error"], error)
                self.assertIn(description, answer["error_description"])
        self.assertEqual(self.fake.tokens_granted(), 0)
        status, _, body = self.request("POST", "/oauth/token", "x", {"Content-Type": "text/plain"})
        self.assertEqual((status, json.loads(body)["error"]), (400, "invalid_request"))

    def test_no_secret_in_the_call_log(self):
        token = self.token()
        self.api("/api/v2/users/nobody", token)
        log = self.fake.calls()
        text = json.dumps(log)
        self.assertNotIn(fake_idp.DEFAULT_CLIENT_SECRET, text)
        self.assertNotIn(token, text)
        self.assertEqual(log[0]["form"]["client_secret"], "present")
        self.assertEqual(log[0]["form"]["client_id"], fake_idp.DEFAULT_CLIENT_ID)
        self.assertEqual(log[1]["headers"]["Authorization"], f"Bearer <{len(token)} chars>")

    def test_client_can_be_changed(self):
        self.fake.set_client("svc", "s3cret", audience="https://tenant.example/api/v2/")
        self.assertEqual(self.grant()[0], 401)
        status, _, body = self.grant(client_id="svc", client_secret="s3cret",
                                     audience="https://tenant.example/api/v2/")
        self.assertEqual(status, 200, body)
        status, _, info = self.get_json("/_fake/auth0/client")
        self.assertEqual(info, {"client_id": "svc", "audience": "https://tenant.example/api/v2/",
                                "scope": fake_idp.DEFAULT_SCOPE})


class ManagementApiTest(Auth0TestCase):
    def setUp(self):
        super().setUp()
        self.fake.set_user("auth0|5f1a", roles=["team_opsec", {"name": "team_hr",
                                                               "description": "HR"}],
                           app_metadata={"groups": ["ops"]}, email="ann@example.com")

    def test_user_roles_with_percent_encoded_id(self):
        token = self.token()
        status, headers, roles = self.api("/api/v2/users/auth0%7C5f1a/roles", token)
        self.assertEqual(status, 200)
        self.assertEqual([r["name"] for r in roles], ["team_opsec", "team_hr"])
        for role in roles:
            self.assertEqual(set(role), {"id", "name", "description"})
            self.assertTrue(role["id"].startswith("rol_"))
        self.assertEqual(roles[1]["description"], "HR")
        for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
            self.assertIn(name, headers)
        # The log keeps what arrived and what it meant.
        call = self.fake.calls()[-1]
        self.assertEqual((call["raw_path"], call["path"]),
                         ("/api/v2/users/auth0%7C5f1a/roles", "/api/v2/users/auth0|5f1a/roles"))

    def test_unknown_user_is_auth0s_404(self):
        status, headers, body = self.api("/api/v2/users/auth0%7Cgone/roles", self.token())
        self.assertEqual(status, 404)
        self.assertEqual(body, {"statusCode": 404, "error": "Not Found",
                                "message": "The user does not exist.",
                                "errorCode": "inexistent_user"})
        self.assertIn("x-ratelimit-remaining", headers)
        self.fake.delete_user("auth0|5f1a")
        self.assertEqual(self.api("/api/v2/users/auth0%7C5f1a", self.token())[0], 404)

    def test_roles_paging(self):
        self.fake.set_user("auth0|5f1a", roles=[f"r{i}" for i in range(5)])
        token = self.token()
        _, _, page = self.api("/api/v2/users/auth0%7C5f1a/roles?per_page=2&page=1", token)
        self.assertEqual([r["name"] for r in page], ["r2", "r3"])
        _, _, page = self.api("/api/v2/users/auth0%7C5f1a/roles?per_page=2&page=2"
                              "&include_totals=true", token)
        self.assertEqual((page["start"], page["limit"], page["total"]), (4, 2, 5))
        self.assertEqual([r["name"] for r in page["roles"]], ["r4"])
        status, _, body = self.api("/api/v2/users/auth0%7C5f1a/roles?per_page=101", token)
        self.assertEqual((status, body["errorCode"]), (400, "invalid_query_string"))

    def test_user_object_with_app_metadata(self):
        token = self.token()
        status, _, user = self.api("/api/v2/users/auth0%7C5f1a", token)
        self.assertEqual(status, 200)
        self.assertEqual(user["user_id"], "auth0|5f1a")
        self.assertEqual(user["email"], "ann@example.com")
        self.assertEqual(user["app_metadata"], {"groups": ["ops"]})
        _, _, user = self.api("/api/v2/users/auth0%7C5f1a?fields=app_metadata"
                              "&include_fields=true", token)
        self.assertEqual(user, {"app_metadata": {"groups": ["ops"]}})
        # The test changes the user through the control API.
        self.request("POST", "/_fake/auth0/users",
                     {"user_id": "auth0|5f1a", "app_metadata": {"groups": []}})
        self.assertEqual(self.api("/api/v2/users/auth0%7C5f1a", token)[2]["app_metadata"],
                         {"groups": []})

    def test_bearer_token_checks(self):
        path = "/api/v2/users/auth0%7C5f1a/roles"
        cases = [(None, 401, "Missing authentication"),
                 ("not-a-token-it-granted", 401, "Invalid token")]
        for token, status, message in cases:
            with self.subTest(token=token):
                got, _, body = self.api(path, token)
                self.assertEqual((got, body["statusCode"], body["error"]),
                                 (status, status, "Unauthorized"))
                self.assertEqual(body["message"], message)
        got, _, body = self.request("GET", path, headers={"Authorization": "Basic eDp5"})
        self.assertEqual(got, 401)

        token = self.token()
        self.assertEqual(self.api(path, token)[0], 200)
        self.fake.expire_tokens()
        status, _, body = self.api(path, token)
        self.assertEqual(status, 401)
        self.assertIn("Expired token", body["message"])

        self.fake.set_token_lifetime(1)
        status, _, body = self.grant()
        short = json.loads(body)
        self.assertEqual(short["expires_in"], 1)
        self.assertEqual(self.api(path, short["access_token"])[0], 200)
        time.sleep(1.1)
        self.assertEqual(self.api(path, short["access_token"])[0], 401)

        self.fake.set_token_lifetime(3600)
        self.fake.set_client(scope="read:logs")
        status, _, body = self.api(path, self.token())
        self.assertEqual((status, body["errorCode"]), (403, "insufficient_scope"))

    def test_faults_on_the_management_api(self):
        token = self.token()
        path = "/api/v2/users/auth0%7C5f1a/roles"
        self.fake.set_faults([{"path": "/api/v2/", "kind": "expired", "count": 1},
                              {"path": "/api/v2/", "kind": "throttled", "reset_in": 7,
                               "count": 1},
                              {"path": "/api/v2/", "kind": "down", "count": 1}])
        status, _, body = self.api(path, token)
        self.assertEqual((status, body["error"]), (401, "Unauthorized"))
        self.assertIn("Expired token", body["message"])
        before = int(time.time())
        status, headers, body = self.api(path, token)
        self.assertEqual((status, body["statusCode"]), (429, 429))
        self.assertEqual(headers["x-ratelimit-remaining"], "0")
        self.assertGreaterEqual(int(headers["x-ratelimit-reset"]), before + 7)
        self.assertNotIn("retry-after", headers)
        self.assertEqual(self.api(path, token)[0], 503)
        self.assertEqual(self.api(path, token)[0], 200)
        # The token endpoint is another prefix: untouched by the faults above.
        self.fake.set_faults([{"path": "/api/v2/", "kind": "down"}])
        self.assertEqual(self.grant()[0], 200)


class RateLimitTest(Auth0TestCase):
    def test_bucket_headers_and_429(self):
        self.fake.set_rate_limit(limit=3, window=60)
        token = self.token()
        path = "/api/v2/users/auth0%7Cnobody"
        seen = []
        for _ in range(3):
            status, headers, _ = self.api(path, token)
            self.assertEqual(status, 404)  # rate-limited or not, every answer has them
            seen.append(headers["x-ratelimit-remaining"])
            self.assertEqual(headers["x-ratelimit-limit"], "3")
        self.assertEqual(seen, ["2", "1", "0"])
        reset = int(headers["x-ratelimit-reset"])
        self.assertTrue(time.time() < reset <= time.time() + 61, reset)
        status, headers, body = self.api(path, token)
        self.assertEqual(status, 429)
        self.assertEqual(body["error"], "Too Many Requests")
        self.assertEqual((headers["x-ratelimit-remaining"], int(headers["x-ratelimit-reset"])),
                         ("0", reset))
        self.assertNotIn("retry-after", headers)
        # Retry-After only when asked for (Auth0 documents the x-ratelimit-* headers).
        self.fake.set_rate_limit(retry_after=True)
        status, headers, _ = self.api(path, token)
        self.assertEqual(status, 429)
        self.assertTrue(1 <= int(headers["retry-after"]) <= 60)
        # A new window refills the bucket.
        self.request("POST", "/_fake/auth0/rate-limit", {"reset_in": 0.3})
        time.sleep(0.4)
        status, headers, _ = self.api(path, token)
        self.assertEqual((status, headers["x-ratelimit-remaining"]), (404, "2"))


class LogsTest(Auth0TestCase):
    def test_logs_by_checkpoint_from_and_take(self):
        ids = self.fake.add_logs([{"type": "sdu", "user_id": f"auth0|{i}",
                                   "date": "2026-11-30T10:00:0%d.000Z" % i} for i in range(5)])
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(ids[0]), 56)  # Auth0's log ids are 56 digits
        token = self.token()
        status, headers, page = self.api("/api/v2/logs?from=&take=2", token)
        self.assertEqual(status, 200)
        self.assertEqual([e["log_id"] for e in page], ids[:2])
        self.assertEqual(page[0]["user_id"], "auth0|0")
        self.assertIn("x-ratelimit-remaining", headers)
        link = headers["link"]
        self.assertRegex(link, r'^<https://127\.0\.0\.1:\d+/api/v2/logs\?from=\d+&take=2>; '
                               r'rel="next"$')
        next_path = urllib.parse.urlsplit(link[1:link.index(">")])
        status, headers, page = self.api(f"{next_path.path}?{next_path.query}", token)
        self.assertEqual([e["log_id"] for e in page], ids[2:4])
        _, headers, page = self.api(f"/api/v2/logs?from={ids[3]}&take=100", token)
        self.assertEqual([e["log_id"] for e in page], ids[4:])
        # Caught up: [] and the same URL as next.
        _, headers, page = self.api(f"/api/v2/logs?from={ids[4]}&take=100", token)
        self.assertEqual(page, [])
        self.assertIn(f"from={ids[4]}&take=100>", headers["link"])
        # Appended later, found from the same checkpoint.
        more = self.fake.add_logs([{"type": "sapi"}])
        _, _, page = self.api(f"/api/v2/logs?from={ids[4]}&take=100", token)
        self.assertEqual([e["log_id"] for e in page], more)
        for take in ("0", "101", "x"):
            status, _, body = self.api(f"/api/v2/logs?from=&take={take}", token)
            self.assertEqual((status, body["errorCode"]), (400, "invalid_query_string"))

    def test_stream_envelope_is_served_bare_and_ids_are_kept(self):
        log_id = "90020261130101010000000000000000000000000000000000000042"
        self.request("POST", "/_fake/auth0/logs",
                     [{"log_id": log_id, "data": {"type": "sdu", "user_id": "auth0|x"}}])
        _, _, page = self.api("/api/v2/logs?from=&take=10", self.token())
        self.assertEqual(page, [{"type": "sdu", "user_id": "auth0|x", "log_id": log_id}])
        status, _, body = self.request("POST", "/_fake/auth0/logs", [{"log_id": log_id}])
        self.assertEqual(status, 400)  # a log_id is unique

    def test_logs_need_the_read_logs_scope(self):
        self.fake.set_client(scope="read:users")
        status, _, body = self.api("/api/v2/logs?from=&take=1", self.token())
        self.assertEqual((status, body["errorCode"]), (403, "insufficient_scope"))

    def test_logs_search_form_newest_first(self):
        token = self.token()
        _, _, page = self.api("/api/v2/logs?sort=date:-1&per_page=1&page=0", token)
        self.assertEqual(page, [])
        ids = self.fake.add_logs([{"type": "s", "date": "2026-11-30T10:00:0%d.000Z" % i}
                                  for i in range(3)])
        status, _, page = self.api("/api/v2/logs?sort=date:-1&per_page=1&page=0", token)
        self.assertEqual((status, [e["log_id"] for e in page]), (200, ids[2:]))
        _, _, page = self.api("/api/v2/logs?sort=date:1&per_page=2&page=0", token)
        self.assertEqual([e["log_id"] for e in page], ids[:2])
        status, _, body = self.api("/api/v2/logs?sort=user_id:1&per_page=1", token)
        self.assertEqual((status, body["errorCode"]), (400, "invalid_query_string"))


class DirectoryTest(FakeIdpTestCase):
    def test_groups_of_a_subject(self):
        self.fake.set_groups("auth0|a b", ["team_opsec", "team_hr"])
        status, _, body = self.get_json("/directory/users/auth0%7Ca%20b/groups")
        self.assertEqual((status, body), (200, ["team_opsec", "team_hr"]))
        status, _, body = self.get_json("/directory/users/nobody/groups")
        self.assertEqual(status, 404)
        self.fake.set_directory_shape("object")
        self.assertEqual(self.get_json("/directory/users/auth0%7Ca%20b/groups")[2],
                         {"groups": ["team_opsec", "team_hr"]})

    def test_optional_bearer_token(self):
        self.request("POST", "/_fake/directory/users", {"subject": "u1", "groups": ["g"]})
        self.request("POST", "/_fake/directory/token", {"token": "dir-token"})
        status, headers, _ = self.request("GET", "/directory/users/u1/groups")
        self.assertEqual(status, 401)
        self.assertIn("Bearer", headers["www-authenticate"])
        status, _, _ = self.request("GET", "/directory/users/u1/groups",
                                    headers={"Authorization": "Bearer wrong"})
        self.assertEqual(status, 401)
        status, _, body = self.request("GET", "/directory/users/u1/groups",
                                       headers={"Authorization": "Bearer dir-token"})
        self.assertEqual((status, json.loads(body)), (200, ["g"]))
        self.assertEqual(self.fake.calls()[-1]["headers"]["Authorization"], "Bearer <9 chars>")


class CommandLineTest(unittest.TestCase):
    def test_announces_its_port_serves_and_exits_on_sigterm(self):
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_idp.py"),
                                     "--tls-dir", tmp], stdout=subprocess.PIPE, text=True)
            try:
                line = proc.stdout.readline().strip()
                self.assertRegex(line, r"^fake-idp listening on https://127\.0\.0\.1:\d+$")
                url = line.rsplit(" ", 1)[1]
                ca_file = os.path.join(tmp, "ca.crt")
                r = subprocess.run(["curl", "-sS", "--cacert", ca_file, url + "/_fake/info"],
                                   capture_output=True, text=True, env=CURL_ENV, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(json.loads(r.stdout)["ca_file"], ca_file)
            finally:
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(20), 0)
                proc.stdout.close()
            self.assertTrue(os.path.isfile(os.path.join(tmp, "ca.crt")))


if __name__ == "__main__":
    unittest.main()
