"""The embedded default: `session-revoker serve` with no config, in an empty
directory, prints a curl line that works as printed; a tampered token is
refused; a restart reuses the development key, so the old token still works.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Service, Store

CURL_TOKEN_RE = re.compile(r"-H 'Authorization: Bearer ([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)'")


def run_curl(line, timeout=30):
    """Runs a printed curl line through the shell; returns (status, headers, json)."""
    p = subprocess.run(["/bin/sh", "-c", line], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("curl failed (%d): %s" % (p.returncode, p.stderr.decode()))
    out = p.stdout.decode("utf-8", "replace").replace("\r\n", "\n")
    head, _, body = out.partition("\n\n")
    lines = head.split("\n")
    m = re.match(r"^HTTP/[\d.]+ (\d{3})", lines[0])
    if m is None:
        raise AssertionError("not an HTTP answer: %r" % out[:500])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(m.group(1)), headers, json.loads(body) if body.strip() else None


class EmbeddedDefaultTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sr-embedded-")
        self.logs = tempfile.mkdtemp(prefix="sr-embedded-logs-")

    def tearDown(self):
        if not os.environ.get("SR_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            shutil.rmtree(self.logs, ignore_errors=True)

    def service(self, name):
        return Service(None, cwd=self.dir, logdir=self.logs, env={"SR_LISTEN_PORT": "0"},
                       name=name)

    def banner(self, svc):
        """The printed curl line (waits for it: it follows the listening line)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = svc.stdout().splitlines()
            curl = [l for l in lines if l.startswith("curl ")]
            if curl:
                return lines, curl[0]
            time.sleep(0.02)
        self.fail("no curl line printed:\n" + svc.stdout() + "\nstderr:\n" + svc.stderr())

    def test_embedded_default_prints_a_working_curl_line(self):
        key_file = os.path.join(self.dir, "var", "dev-signing-key.pem")
        db_file = os.path.join(self.dir, "var", "session-revoker.db")

        with self.service("first") as svc:
            self.assertEqual(svc.scheme, "http")
            self.assertEqual(svc.host, "127.0.0.1")
            self.assertNotEqual(svc.port, 8080)
            lines, curl = self.banner(svc)
            self.assertEqual(lines[0], "session-revoker listening on " + svc.base_url)
            self.assertIn(" %s/v1/revocations " % svc.base_url, curl)
            self.assertIn("-X POST", curl)
            m = CURL_TOKEN_RE.search(curl)
            self.assertIsNotNone(m, curl)
            token = m.group(1)

            # The development key was created, private to its owner.
            self.assertTrue(os.path.isfile(key_file))
            self.assertEqual(stat.S_IMODE(os.stat(key_file).st_mode) & 0o077, 0,
                             "the development key is readable by others")
            self.assertIn("devkey.created", svc.stderr())

            # The line works as printed.
            status, headers, body = run_curl(curl)
            self.assertEqual(status, 202, body)
            self.assertRegex(body["id"], r"^[0-9a-f-]{36}$")
            self.assertEqual(headers.get("location"), "/v1/revocations/" + body["id"])
            self.assertTrue(headers.get("x-request-id"))
            self.assertEqual(body["groups"], ["team_opsec"])
            self.assertEqual(body["action"], "revoke")
            self.assertEqual(body["time"], "30 minutes ago")
            self.assertEqual(body["requested_by"]["issuer"], "session-revoker-dev")
            self.assertEqual(body["requested_by"]["subject"], "dev-operator")
            first_id = body["id"]

            store = Store(db_file)
            self.assertEqual(store.count(), 1)
            row = store.revocation(first_id)
            self.assertLessEqual(abs(row["cutoff"] - (int(time.time()) - 1800)), 10, row)

            # One character of the signature changed: 401, nothing written.
            bad = harness.flip_signature_char(token)
            self.assertNotEqual(bad, token)
            status, headers, body = run_curl(curl.replace(token, bad))
            self.assertEqual(status, 401, body)
            self.assertEqual(body["error"], "invalid_token")
            self.assertIn("signature", body["detail"])
            self.assertNotIn(bad, json.dumps(body))
            self.assertEqual(headers.get("www-authenticate"),
                             'Bearer realm="session-revoker", error="invalid_token"')
            self.assertEqual(store.count(), 1)
            self.assertEqual(store.count("revocation_groups"), 1)

        key_stat = os.stat(key_file)
        with open(key_file, "rb") as f:
            key_bytes = f.read()

        # Restart in the same directory: the key is reused, the old token works.
        with self.service("second") as svc2:
            lines2, curl2 = self.banner(svc2)
            self.assertNotIn("devkey.created", svc2.stderr())
            with open(key_file, "rb") as f:
                self.assertEqual(f.read(), key_bytes, "the development key was rewritten")
            after = os.stat(key_file)
            self.assertEqual((after.st_mtime_ns, after.st_ino, after.st_size),
                             (key_stat.st_mtime_ns, key_stat.st_ino, key_stat.st_size))

            old_line = curl.replace(svc.base_url, svc2.base_url)
            if svc.base_url != svc2.base_url:
                self.assertNotIn(svc.base_url, old_line)
            status, _, body = run_curl(old_line)
            self.assertEqual(status, 202, body)
            self.assertNotEqual(body["id"], first_id)
            self.assertEqual(Store(db_file).count(), 2)
            # The first revocation survived the restart.
            r = svc2.request("GET", "/v1/revocations/" + first_id, token=token)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["id"], first_id)
            # The new banner's line works too.
            status, _, body = run_curl(curl2)
            self.assertEqual(status, 202, body)
            self.assertEqual(Store(db_file).count(), 3)

        self.assertEqual(Store(db_file).integrity_check(), ["ok"])


if __name__ == "__main__":
    unittest.main()
