"""A PostgreSQL store reached the way production reaches one: over TLS with
the server's certificate checked (libpq's sslmode=verify-full and
sslrootcert in store.url) and a password from store.password_file.

  1. TLS with the right CA and the password from a file: serve starts, a
     revocation is answered 202 and stored, every connection the service
     holds is encrypted (pg_stat_ssl), `status` reads the store; the
     password is in no log, no answer and no status output.
  2. The wrong password: serve stops before it listens, saying the
     server refused the password, without printing it.
  3. A server certificate from another CA: serve stops, saying the
     certificate could not be verified; sslmode=disable against a server
     that demands a password over TCP is refused as well.
  4. A password written in the URL itself: it shows as *** in the log,
     in `check-config --dump` and in `status`.
  5. No server at the address: serve stops with an error naming the
     URL (password hidden), within libpq's connect timeout.

One throwaway server (scripts/pg-test-server.sh with SR_PG_TLS=1 and
SR_PG_PASSWORD) for the whole file. Run with Debian's /usr/bin/python3.
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import harness

SOURCE_DIR = os.environ.get("SR_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(SOURCE_DIR, "scripts", "pg-test-server.sh")
TOKEN_RE = re.compile(r"Authorization: Bearer ([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)'")
DOC = {"groups": ["team_tls"], "time": "10 minutes ago", "action": "revoke"}


def start_server(password):
    env = dict(os.environ, SR_PG_TLS="1", SR_PG_PASSWORD=password)
    proc = subprocess.run([SCRIPT, "start"], env=env, capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        raise AssertionError("pg-test-server.sh start: exit %d\n%s" % (proc.returncode,
                                                                     proc.stderr))
    out = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        out[key] = value.strip("'")
    return out


def other_ca(directory):
    """A CA that did not sign the server's certificate."""
    key, pem = os.path.join(directory, "other.key"), os.path.join(directory, "other.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=not-the-server-ca", "-keyout", key, "-out", pem],
                   check=True, capture_output=True, timeout=60)
    return pem


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgTlsCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.password = "pw-" + secrets.token_hex(12)
        cls.tmp = tempfile.mkdtemp(prefix="sr-pgtls-")
        cls.pg = start_server(cls.password)
        cls.url = cls.pg["SR_PG_URL"]
        cls.ca = cls.pg["SR_PG_CA"]
        cls.other_ca = other_ca(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        subprocess.run([SCRIPT, "stop", cls.pg["SR_PG_DIR"]], timeout=60)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=self.tmp)

    def psql(self, sql):
        """A query over the server's socket (trusted: no password)."""
        proc = subprocess.run(["psql", "-X", "-A", "-t", "-h", self.pg["SR_PG_SOCKET_DIR"],
                               "-p", self.pg["SR_PG_PORT"], "-U", "sr", "-d", "session_revoker",
                               "-c", sql], capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stdout.strip()

    def config(self, url, password=None, name="c.json"):
        store = {"url": url}
        if password is not None:
            path = os.path.join(self.dir, "pg-password")
            with open(path, "w", encoding="utf-8") as f:
                f.write(password + "\n")
            os.chmod(path, 0o600)
            store["password_file"] = path
        path = os.path.join(self.dir, name)
        harness.write_config(path, {
            "listen": {"port": 0},
            "store": store,
            "development": {"signing_key_file": os.path.join(self.dir, "dev.pem")},
        })
        return path

    def service(self, config):
        return harness.Service(config, cwd=self.dir, logdir=self.dir)

    def tls_url(self, ca=None, mode="verify-full"):
        return "%s?sslmode=%s&sslrootcert=%s" % (self.url, mode, ca or self.ca)

    def failed_start(self, config):
        """serve must exit before listening; its stderr."""
        svc = self.service(config)
        with self.assertRaises(harness.ServiceError) as caught:
            svc.start()
        self.assertIsNotNone(svc.proc.poll())
        self.assertNotEqual(svc.proc.returncode, 0)
        return str(caught.exception)

    def run_cli(self, *args):
        proc = subprocess.run([harness.binary_path()] + list(args), cwd=self.dir,
                              env=harness.clean_env(), capture_output=True, text=True,
                              timeout=60)
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, proc.stderr)
        return proc

    def assert_secret_absent(self, *texts):
        for text in texts:
            self.assertNotIn(self.password, text)

    def test_tls_with_the_password_from_a_file(self):
        config = self.config(self.tls_url(), password=self.password)
        svc = self.service(config).start()
        try:
            token = TOKEN_RE.search(svc.stdout()).group(1)
            r = svc.request("POST", "/v1/revocations", token=token,
                            headers={"Content-Type": "application/json"},
                            body=json.dumps(DOC).encode())
            self.assertEqual(r.status, 202, r.raw)
            rev = r.body
            self.assertEqual(self.psql("SELECT count(*) FROM revocations WHERE id = '%s'"
                                       % rev["id"]), "1")
            # every connection the service holds is encrypted
            ssl = self.psql("SELECT string_agg(s.ssl::text, ',') FROM pg_stat_ssl s"
                            " JOIN pg_stat_activity a ON a.pid = s.pid"
                            " WHERE a.application_name = 'session-revoker'")
            self.assertTrue(ssl, "no connection of the service seen")
            self.assertEqual(set(ssl.split(",")), {"true"}, ssl)
            status = self.run_cli("status", "--config", config)
            self.assertEqual(status.returncode, 0, status.stdout + status.stderr)
            self.assertIn("PostgreSQL", status.stdout)
            self.assertIn("by source   document 1", status.stdout)
            self.assert_secret_absent(status.stdout, status.stderr)
        finally:
            svc.stop()
        self.assert_secret_absent(svc.stdout(), svc.stderr(), r.raw.decode("latin-1"))

    def test_wrong_password(self):
        wrong = "not-" + secrets.token_hex(8)
        err = self.failed_start(self.config(self.tls_url(), password=wrong))
        self.assertIn("password authentication failed", err)
        self.assertNotIn(wrong, err)
        self.assert_secret_absent(err)

    def test_certificate_from_another_ca(self):
        err = self.failed_start(self.config(self.tls_url(ca=self.other_ca),
                                            password=self.password))
        self.assertIn("certificate verify failed", err)
        self.assert_secret_absent(err)
        # without TLS the same server still wants the password: refused
        err = self.failed_start(self.config("%s?sslmode=disable" % self.url))
        self.assertIn("no password supplied", err)

    def test_password_in_the_url_is_hidden(self):
        url = self.tls_url().replace("postgres://sr@", "postgres://sr:%s@" % self.password)
        config = self.config(url)
        svc = self.service(config).start()
        try:
            self.assertIn("store=\"postgres://sr:***@127.0.0.1", svc.stderr())
        finally:
            svc.stop()
        self.assert_secret_absent(svc.stdout(), svc.stderr())
        dump = self.run_cli("check-config", "--config", config, "--dump")
        self.assertEqual(dump.returncode, 0, dump.stderr)
        self.assertIn("postgres://sr:***@127.0.0.1", dump.stdout)
        status = self.run_cli("status", "--config", config)
        self.assertEqual(status.returncode, 0, status.stdout + status.stderr)
        self.assertIn("store         postgres://sr:***@127.0.0.1", status.stdout)
        self.assert_secret_absent(dump.stdout, dump.stderr, status.stdout, status.stderr)

    def test_no_server_there(self):
        url = "postgres://sr:%s@127.0.0.1:%d/session_revoker" % (self.password, free_port())
        started = time.monotonic()
        err = self.failed_start(self.config(url))
        self.assertLess(time.monotonic() - started, 20)
        self.assertIn("cannot connect to postgres://sr:***@127.0.0.1", err)
        self.assert_secret_absent(err)


if __name__ == "__main__":
    unittest.main()
