"""Issuers whose keys come from a jwks_url (README "Trusted issuers"), against
tests/fakes/fake_idp.py over real HTTPS with the fake's own CA file as
http_client.ca_file.

  1. Tokens signed with the provider's keys (RSA and EC) are accepted; the
     set is fetched once, not per token.
  2. The provider rotates its keys mid-run: the first token naming the new
     kid is accepted after exactly one fetch, and a token of a withdrawn key
     is refused afterwards, also one that was accepted (and cached) before.
  3. A flood of 50 tokens naming unknown kids costs the provider at most one
     fetch within jwks_min_refresh_seconds, and each is refused naming the kid.
  4. The provider unreachable at start: serve starts, /readyz is 503 naming
     the issuer, tokens are refused; once the provider answers, /readyz is 200
     and tokens verify.
  5. The provider down after a good fetch (refused connections, then 503s):
     the kept keys go on verifying, /readyz stays 200, the log says why.
  6. A certificate not signed by the CA (or for another host, or expired):
     the keys never load, /readyz says it is TLS.
  7. An answer larger than http_client.max_response_bytes is refused.
  8. check-config refuses an http:// jwks_url by name, and a kid beside it.

Run with Debian's /usr/bin/python3.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

import harness
from harness import Service

import fake_idp  # tests/fakes/, on sys.path through harness

ISS = "https://idp.jwks.test/"
AUD = "session-revoker-jwks"
JWKS_PATH = "/.well-known/jwks.json"


class JwksCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-jwks-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.fake = fake_idp.FakeIdp(tls_dir=os.path.join(self.tmp, "idp")).start()
        self.addCleanup(self.fake.stop)

    def config(self, url=None, min_refresh=30, max_bytes=None, **issuer_extra):
        issuer = {"issuer": ISS, "audience": AUD, "algorithms": ["RS256", "ES256"],
                  "jwks_url": url or self.fake.jwks_url,
                  "jwks_min_refresh_seconds": min_refresh}
        issuer.update(issuer_extra)
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"path": os.path.join(self.tmp, "store.db")},
            "auth": {"issuers": [issuer]},
            "http_client": {"ca_file": self.fake.ca_file, "timeout_seconds": 3},
        }
        if max_bytes is not None:
            cfg["http_client"]["max_response_bytes"] = max_bytes
        return harness.write_config(os.path.join(self.tmp, "config.json"), cfg)

    def start(self, **kw):
        svc = Service(self.config(**kw), cwd=self.tmp, logdir=self.tmp)
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        return svc

    def token(self, kid=None, headers=None):
        now = int(time.time())
        claims = {"iss": ISS, "aud": AUD, "sub": "jwks-test", "iat": now, "exp": now + 600,
                  "jti": str(uuid.uuid4()), "scope": "revocations:write"}
        return self.fake.sign(claims, kid=kid, headers=headers)

    def post(self, svc, tok):
        return svc.request("POST", "/v1/revocations", json_body={"groups": ["g-jwks"]},
                           token=tok)

    def fetches(self):
        return self.fake.count(JWKS_PATH)

    def ready(self, svc):
        return svc.request("GET", "/readyz")

    def wait_ready(self, svc, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            r = self.ready(svc)
            if r.status == 200:
                self.assertEqual(r.json, {"status": "ready", "config": True, "store": True})
                return r
            self.assertEqual((r.status, r.json["error"]), (503, "not_ready"), r)
            if time.monotonic() > deadline:
                self.fail("not ready within %ds: %r\n%s" % (timeout, r, svc.stderr()))
            time.sleep(0.2)

    def assert_not_ready(self, svc, *words):
        r = self.ready(svc)
        self.assertEqual((r.status, r.json["error"]), (503, "not_ready"), r)
        for word in (ISS,) + words:
            self.assertIn(word, r.json["detail"], r)
        return r

    def wait_not_ready(self, svc, *words, timeout=15):
        """Until /readyz is 503 with all of words in its detail."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.ready(svc)
            if r.status == 503 and all(w in r.json["detail"] for w in (ISS,) + words):
                return r
            self.assertNotEqual(r.status, 200, r)
            if time.monotonic() > deadline:
                self.fail("/readyz never said %r: %r" % (words, r))
            time.sleep(0.2)

    def assert_accepted(self, r):
        self.assertEqual(r.status, 202, r)

    def assert_refused(self, r, *words):
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json["error"], "invalid_token", r)
        for word in words:
            self.assertIn(word, r.json["detail"], r)


class FetchedKeysTest(JwksCase):

    def test_tokens_of_the_fetched_keys_are_accepted(self):
        svc = self.start()
        self.wait_ready(svc)
        rsa, ec = self.fake.keys()[0], self.fake.keys()[1]
        self.assertEqual((rsa["alg"], ec["alg"]), ("RS256", "ES256"))
        fetched = self.fetches()
        self.assertEqual(fetched, 1)
        for kid in (rsa["kid"], ec["kid"], rsa["kid"]):
            self.assert_accepted(self.post(svc, self.token(kid)))
        # Forged with the right kid: refused, and no fetch for it.
        self.assert_refused(self.post(svc, harness.flip_signature_char(self.token(rsa["kid"]))),
                            "signature is invalid")
        self.assertEqual(self.fetches(), fetched)
        # The fetch went to the configured URL, once, over HTTPS.
        calls = [c for c in self.fake.calls() if c["path"] == JWKS_PATH]
        self.assertEqual([(c["listener"], c["method"], c["status"]) for c in calls],
                         [("main", "GET", 200)])

    def test_rotation_mid_run(self):
        svc = self.start()
        self.wait_ready(svc)
        old_kid = self.fake.keys()[0]["kid"]
        old_token = self.token(old_kid)
        unused_old_token = self.token(old_kid)
        self.assert_accepted(self.post(svc, old_token))
        before = self.fetches()
        new_keys = self.fake.rotate(kinds=("rsa",))
        self.assertNotEqual(new_keys[0]["kid"], old_kid)
        # The first token naming the new kid: one fetch, accepted.
        self.assert_accepted(self.post(svc, self.token(new_keys[0]["kid"])))
        self.assertEqual(self.fetches(), before + 1)
        self.assert_accepted(self.post(svc, self.token(new_keys[0]["kid"])))
        self.assertEqual(self.fetches(), before + 1)
        # The withdrawn key no longer verifies: neither a new token nor the
        # very token accepted before the rotation (the verified-token cache
        # was cleared with the key change).
        self.assert_refused(self.post(svc, old_token), "kid")
        self.assert_refused(self.post(svc, unused_old_token), "kid")
        self.assertEqual(self.fetches(), before + 1)  # rate limited: no second fetch
        self.assertIn("jwks.fetched", svc.stderr())

    def test_flood_of_unknown_kids_fetches_at_most_once(self):
        svc = self.start(min_refresh=60)
        self.wait_ready(svc)
        good = self.token(self.fake.keys()[0]["kid"])
        self.assert_accepted(self.post(svc, good))
        before = self.fetches()
        t0 = time.monotonic()
        for i in range(50):
            tok = self.token(headers={"kid": "made-up-%d-%s" % (i, uuid.uuid4().hex[:8])})
            self.assert_refused(self.post(svc, tok), "kid")
        elapsed = time.monotonic() - t0
        self.assertLessEqual(self.fetches() - before, 1)
        # Only the first unknown kid waited for a fetch; the others were
        # refused at once (50 fetch timeouts would be 150 s).
        self.assertLess(elapsed, 30)
        # The known key still verifies, without a fetch.
        after = self.fetches()
        self.assert_accepted(self.post(svc, self.token(self.fake.keys()[0]["kid"])))
        self.assertEqual(self.fetches(), after)


class UnreachableProviderTest(JwksCase):

    def test_provider_down_at_start_then_up(self):
        self.fake.pause()  # the port refuses connections
        svc = self.start()
        self.assertTrue(svc.alive())
        self.wait_not_ready(svc, "not loaded")
        kid = self.fake.keys()[0]["kid"]
        self.assert_refused(self.post(svc, self.token(kid)), "not loaded")
        self.assertTrue(svc.alive())
        self.fake.resume()
        self.wait_ready(svc)
        self.assert_accepted(self.post(svc, self.token(kid)))
        self.assertIn("jwks.fetch_failed", svc.stderr())

    def test_provider_down_after_a_good_fetch_keeps_the_keys(self):
        svc = self.start(min_refresh=1)
        self.wait_ready(svc)
        kid = self.fake.keys()[0]["kid"]
        self.assert_accepted(self.post(svc, self.token(kid)))
        for outage in ("refused", "503"):
            with self.subTest(outage=outage):
                if outage == "refused":
                    self.fake.pause()
                else:
                    self.fake.resume()
                    self.fake.set_faults([{"path": JWKS_PATH, "kind": "down"}])
                time.sleep(1.1)  # past jwks_min_refresh_seconds
                before = self.fetches()
                # An unknown kid makes the service try, and fail.
                self.assert_refused(self.post(svc, self.token(headers={"kid": "nope-" + outage})),
                                    "kid")
                if outage == "503":
                    self.assertEqual(self.fetches(), before + 1)
                # The kept keys still verify new tokens; still ready.
                self.assert_accepted(self.post(svc, self.token(kid)))
                self.assertEqual(self.ready(svc).status, 200)
        log = svc.stderr()
        self.assertIn("jwks.fetch_failed", log)
        self.assertIn("HTTP 503 from the JWKS URL", log)
        self.assertIn("kept=", log)
        # No key material in the log: no JWK member, no PEM.
        self.assertNotIn(self.fake.keys()[0]["jwk"]["n"][:40], log)
        self.assertNotIn("BEGIN PUBLIC KEY", log)


class RefusedAnswersTest(JwksCase):

    def test_certificate_not_trusted(self):
        for listener, word in (("untrusted", "unable to get local issuer certificate"),
                               ("wrong_host", "no alternative certificate subject name"),
                               ("expired", "certificate has expired")):
            with self.subTest(listener=listener):
                svc = self.start(url=self.fake.urls[listener] + JWKS_PATH)
                self.wait_not_ready(svc, "not loaded", "SSL", word)
                # The keys never load: the TLS handshake failed, so the
                # provider saw no request; tokens are refused.
                time.sleep(1.5)
                self.assert_not_ready(svc, "not loaded")
                self.assertEqual([c for c in self.fake.calls() if c["listener"] == listener], [])
                self.assert_refused(self.post(svc, self.token(self.fake.keys()[0]["kid"])),
                                    "not loaded")
                svc.stop()

    def test_oversized_answer_refused(self):
        big = dict(self.fake.jwks())
        big["padding"] = "x" * 4096
        self.fake.set_jwks(body=json.dumps(big))
        svc = self.start(max_bytes=2048)
        self.wait_not_ready(svc, "not loaded", "larger than 2048 bytes")
        self.assertGreaterEqual(self.fetches(), 1)
        self.assert_refused(self.post(svc, self.token(self.fake.keys()[0]["kid"])),
                            "not loaded")
        # The same keys without the padding fit and load.
        self.fake.set_jwks(body=None)
        self.wait_ready(svc)
        self.assert_accepted(self.post(svc, self.token(self.fake.keys()[0]["kid"])))


class CheckConfigTest(JwksCase):

    def check(self, path):
        env = harness.clean_env()
        return subprocess.run([harness.binary_path(), "check-config", "--config", path],
                              env=env, cwd=self.tmp, capture_output=True, text=True, timeout=60)

    def test_http_url_and_kid_refused(self):
        cases = [
            ({"url": "http://127.0.0.1:1/.well-known/jwks.json"},
             "auth.issuers[0].jwks_url", "http:// is refused"),
            ({"kid": "k1"}, "auth.issuers[0].kid", "a JWK Set names"),
            ({"jwks_file": os.path.join(self.tmp, "x.jwks")}, "auth.issuers[0]", "exactly one of"),
            ({"min_refresh": 0}, "auth.issuers[0].jwks_min_refresh_seconds", "between 1 and"),
        ]
        for kw, where, what in cases:
            with self.subTest(kw=kw):
                proc = self.check(self.config(**kw))
                self.assertNotEqual(proc.returncode, 0, proc)
                self.assertIn(where, proc.stdout + proc.stderr)
                self.assertIn(what, proc.stdout + proc.stderr)
        proc = self.check(self.config())
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)


if __name__ == "__main__":
    unittest.main()
