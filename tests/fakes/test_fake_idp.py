"""Tests for the fake identity provider (tests/fakes/fake_idp.py).

Run: cd tests/fakes && /usr/bin/python3 -m unittest -v test_fake_idp

Clients here are the ones the service's own stack resembles: curl (libcurl with
OpenSSL, as sr_fetch uses) for TLS verification, and Python's http.client
verifying against the fake's CA for the API.
"""

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

    def test_bad_fault_is_refused(self):
        status, _, body = self.request("POST", "/_fake/faults", [{"kind": "melt"}])
        self.assertEqual(status, 400)
        self.assertIn("melt", json.loads(body)["error"])


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
            self.assertTrue(os.path.isfile(os.path.join(tmp, "ca.crt")))


if __name__ == "__main__":
    unittest.main()
