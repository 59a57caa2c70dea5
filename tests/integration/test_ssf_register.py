"""`session-revoker ssf register`: the real binary registers the service as a
Shared Signals push receiver with tests/fakes/fake_ssf_transmitter.py (HTTPS,
its own CA), then the transmitter pushes a SET it signs to the running
service, which records it.

Each case checks what an operator sees (exit status, stdout, stderr) and
what the transmitter holds; every failure changes nothing on the transmitter;
the management token and the delivery's authorization value appear in no
output.

Run with Debian's /usr/bin/python3 (PyJWT, cryptography).
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import harness  # puts tests/fakes on the path
import fake_ssf_transmitter as fst  # noqa: E402
from harness import Service, Store

TOKEN = "mgmt-7f3a9c1e5b2d4086a1c3e5f7"
AUTHZ = "Bearer push-0c9d8e7f6a5b4c3d2e1f-register"
DELIVERY = "https://revoker.example.com/v1/events/ssf"
WANT_EVENTS = [
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
    "https://schemas.openid.net/secevent/caep/event-type/credential-change",
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-purged",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RegisterCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-ssfreg-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.tx = fst.FakeTransmitter(os.path.join(self.tmp, "tx"), token=TOKEN,
                                      path="/tenant1").start()
        self.addCleanup(self.tx.stop)
        self.token_file = self.write("token", TOKEN + "\n")
        self.authz_file = self.write("authz", AUTHZ + "\n")
        self.config = harness.write_config(os.path.join(self.tmp, "cli.json"), {
            "store": {"path": os.path.join(self.tmp, "cli.db")},
            "http_client": {"ca_file": self.tx.ca_file, "timeout_seconds": 2}})

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_cli(self, *extra, delivery=DELIVERY, transmitter=None, config=None):
        args = [harness.binary_path(), "ssf", "register",
                "--transmitter", transmitter or self.tx.issuer,
                "--delivery-url", delivery, "--token-file", self.token_file,
                "--authorization-file", self.authz_file,
                "--config", config or self.config] + list(extra)
        p = subprocess.run(args, capture_output=True, text=True, timeout=60,
                           env=harness.clean_env(), cwd=self.tmp)
        for text in (p.stdout, p.stderr):
            self.assertNotIn(TOKEN, text)
            self.assertNotIn("push-0c9d8e7f6a5b4c3d2e1f", text)
            self.assertNotIn("AddressSanitizer", text)
            self.assertNotIn("runtime error", text)
        return p

    def failed(self, p, *words):
        self.assertEqual(p.returncode, 1, p)
        self.assertEqual(p.stdout, "")
        for w in words:
            self.assertIn(w, p.stderr)
        self.assertEqual(self.tx.writes(), [])
        self.assertEqual(self.tx.streams(), [])


class Register(RegisterCase):

    def test_creates_the_stream_then_updates_it(self):
        p = self.run_cli("--json")
        self.assertEqual(p.returncode, 0, p)
        out = json.loads(p.stdout)
        streams = self.tx.streams()
        self.assertEqual(len(streams), 1)
        s = streams[0]
        self.assertEqual(out["action"], "created")
        self.assertEqual(out["stream_id"], s["stream_id"])
        self.assertEqual(out["transmitter"], self.tx.issuer)
        self.assertEqual(out["delivery_method"], "urn:ietf:rfc:8935")
        self.assertEqual(out["delivery_url"], DELIVERY)
        self.assertEqual(out["events_requested"], WANT_EVENTS)
        # what the transmitter answered: it does not deliver account-purged
        self.assertEqual(out["events_delivered"], WANT_EVENTS[:3])
        self.assertNotIn("authorization_header", p.stdout)
        self.assertEqual(s["delivery"], {"method": "urn:ietf:rfc:8935",
                                         "endpoint_url": DELIVERY,
                                         "authorization_header": AUTHZ})
        self.assertEqual(s["events_requested"], WANT_EVENTS)
        # the metadata was read at the issuer's path as SSF 1.0 builds it
        self.assertIn(("GET", "/.well-known/ssf-configuration/tenant1"),
                      [r[:2] for r in self.tx.requests])

        # Second run: the same stream is updated, no second one.
        p2 = self.run_cli("--events", WANT_EVENTS[0])
        self.assertEqual(p2.returncode, 0, p2)
        self.assertIn("updated stream %s with %s" % (s["stream_id"], self.tx.issuer),
                      p2.stdout)
        self.assertIn("delivery      urn:ietf:rfc:8935 to " + DELIVERY, p2.stdout)
        streams = self.tx.streams()
        self.assertEqual([x["stream_id"] for x in streams], [s["stream_id"]])
        self.assertEqual(streams[0]["events_requested"], WANT_EVENTS[:1])
        self.assertEqual([r[0] for r in self.tx.writes()], ["POST", "PATCH"])
        patch = json.loads(self.tx.writes()[1][2])
        self.assertEqual(patch["stream_id"], s["stream_id"])

    def test_another_receivers_stream_is_left_alone_and_stream_id_is_honoured(self):
        other = self.tx.add_stream("https://other.example.com/ssf")
        p = self.run_cli()
        self.assertEqual(p.returncode, 0, p)
        self.assertIn("created stream", p.stdout)
        self.assertEqual(len(self.tx.streams()), 2)
        # --stream-id names the stream to update, whatever its endpoint
        p = self.run_cli("--stream-id", other, "--json")
        self.assertEqual(p.returncode, 0, p)
        self.assertEqual(json.loads(p.stdout)["action"], "updated")
        got = {s["stream_id"]: s["delivery"]["endpoint_url"] for s in self.tx.streams()}
        self.assertEqual(got[other], DELIVERY)
        p = self.run_cli("--stream-id", "no-such-stream")
        self.assertEqual(p.returncode, 1, p)
        self.assertIn('the transmitter has no stream "no-such-stream"', p.stderr)

    def test_dry_run_writes_nothing(self):
        p = self.run_cli("--dry-run", "--json")
        self.assertEqual(p.returncode, 0, p)
        out = json.loads(p.stdout)
        self.assertEqual(out["action"], "would create")
        self.assertNotIn("stream_id", out)
        self.assertEqual(self.tx.writes(), [])
        self.assertEqual(self.tx.streams(), [])
        self.assertEqual(self.run_cli().returncode, 0)
        before = self.tx.streams()
        p = self.run_cli("--dry-run", "--events", WANT_EVENTS[0])
        self.assertEqual(p.returncode, 0, p)
        self.assertIn("would update stream %s" % before[0]["stream_id"], p.stdout)
        self.assertEqual(self.tx.streams(), before)
        self.assertEqual(len(self.tx.writes()), 1)

    def test_older_transmitter_gets_the_risc_push_method(self):
        self.tx.fault = "old_push"
        p = self.run_cli("--json")
        self.assertEqual(p.returncode, 0, p)
        self.assertEqual(json.loads(p.stdout)["delivery_method"], fst.PUSH_RISC)
        self.assertEqual(self.tx.streams()[0]["delivery"]["method"], fst.PUSH_RISC)

    def test_no_authorization_file_sends_no_authorization_header(self):
        args = [harness.binary_path(), "ssf", "register", "--transmitter", self.tx.issuer,
                "--delivery-url", DELIVERY, "--token-file", self.token_file,
                "--config", self.config]
        p = subprocess.run(args, capture_output=True, text=True, timeout=60,
                           env=harness.clean_env(), cwd=self.tmp)
        self.assertEqual(p.returncode, 0, p)
        self.assertNotIn("authorization_header", self.tx.streams()[0]["delivery"])


class Failures(RegisterCase):

    def test_unreachable(self):
        self.tx.stop()
        p = self.run_cli()
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("the transmitter could not be reached", p.stderr)

    def test_slow_transmitter_times_out(self):
        self.tx.fault = "slow"
        t0 = time.monotonic()
        p = self.run_cli()
        self.assertLess(time.monotonic() - t0, 4.5)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("the transmitter could not be reached", p.stderr)
        self.assertIn("imeout", p.stderr)

    def test_untrusted_certificate(self):
        cfg = harness.write_config(os.path.join(self.tmp, "nca.json"),
                                   {"store": {"path": os.path.join(self.tmp, "cli.db")}})
        p = self.run_cli(config=cfg)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("the transmitter could not be reached", p.stderr)

    def test_not_an_ssf_transmitter(self):
        self.tx.fault = "not_ssf"
        self.failed(self.run_cli(), "not an SSF transmitter",
                    "/.well-known/ssf-configuration/tenant1 answered 404")

    def test_wrong_issuer(self):
        p = self.run_cli(transmitter=self.tx.base + "/tenant2")
        self.failed(p, "not an SSF transmitter")

    def test_push_not_supported(self):
        self.tx.fault = "no_push"
        self.failed(self.run_cli(), "the transmitter does not support push delivery")

    def test_token_refused(self):
        self.write("token", "wrong-token\n")
        self.failed(self.run_cli(), "the transmitter refused the management token (401")
        self.tx.fault = "401"
        self.write("token", TOKEN + "\n")
        # its explanation repeats the token: it is left out
        p = self.run_cli()
        self.failed(p, "refused the management token")
        self.assertNotIn("bad token", p.stderr)

    def test_server_error(self):
        self.tx.fault = "500"
        self.failed(self.run_cli(), "the transmitter answered 500")

    def test_stream_refused(self):
        self.tx.fault = "refuse"
        p = self.run_cli()
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("creating the stream: the transmitter answered 400", p.stderr)
        self.assertIn("endpoint_url not allowed", p.stderr)
        self.assertEqual(self.tx.streams(), [])

    def test_not_json(self):
        self.tx.fault = "not_json"
        self.failed(self.run_cli(), "not a JSON object")

    def test_usage_errors_change_nothing(self):
        p = self.run_cli(delivery="ftp://x")
        self.assertEqual(p.returncode, 2, p)
        self.assertIn("--delivery-url must be an http(s) URL", p.stderr)
        os.unlink(self.token_file)
        p = self.run_cli()
        self.assertEqual(p.returncode, 2, p)
        self.assertIn("--token-file", p.stderr)
        self.write("token", TOKEN + "\n")
        p = self.run_cli(transmitter="http://idp.example.com/")
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("must be an https URL", p.stderr)
        self.assertEqual(self.tx.requests, [])


class EndToEnd(RegisterCase):

    def test_registered_stream_delivers_a_set_the_service_records(self):
        db = os.path.join(self.tmp, "svc.db")
        authz_file = self.write("svc-authz", AUTHZ + "\n")
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"path": db},
            "auth": {"issuers": [{"issuer": self.tx.issuer, "audience": "sr-ssf",
                                  "algorithms": ["ES256"], "jwks_url": self.tx.jwks_uri}]},
            "http_client": {"ca_file": self.tx.ca_file, "timeout_seconds": 3},
            "revoke": {"providers": ["auth.example.com/"]},
            "aws": {"accounts": [{"id": a, "role_name": harness.ADMIN_ROLE,
                                  "external_id": harness.EXTERNAL_ID}
                                 for a in harness.EXAMPLE_ACCOUNTS]},
            "jobs": {"workers": 0},
            "sources": {"ssf": {"issuer": self.tx.issuer, "authorization_file": authz_file,
                                "rules": [{"name": "gone", "groups": ["team_x"],
                                           "on": ["session_revoked"]}]}},
        }
        port = free_port()
        delivery = "http://127.0.0.1:%d/v1/events/ssf" % port
        cfg["listen"]["port"] = port
        cfg["sources"]["ssf"]["audience"] = delivery
        svc_cfg = harness.write_config(os.path.join(self.tmp, "svc.json"), cfg)
        svc = Service(svc_cfg, cwd=self.tmp, logdir=self.tmp, name="service")
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)

        # the service's own configuration gives the transmitter and the
        # authorization value
        args = [harness.binary_path(), "ssf", "register", "--delivery-url", delivery,
                "--token-file", self.token_file, "--config", svc_cfg]
        p = subprocess.run(args, capture_output=True, text=True, timeout=60,
                           env=harness.clean_env(), cwd=self.tmp)
        self.assertEqual(p.returncode, 0, p)
        self.assertNotIn(AUTHZ, p.stdout + p.stderr)
        self.assertEqual(self.tx.streams()[0]["delivery"]["authorization_header"], AUTHZ)

        now = int(time.time())
        got = self.tx.push({"jti": "e2e-1", "iat": now,
                            "sub_id": {"format": "email", "email": "kim@example.com"},
                            "events": {WANT_EVENTS[0]: {"event_timestamp": now - 30}}})
        self.assertEqual(got, [(202, b"")])
        rows = Store(db).query("SELECT source_event_id, event_subject, rule FROM revocations"
                               " WHERE source = 'ssf'")
        self.assertEqual([tuple(r.values()) for r in rows],
                         [(self.tx.issuer + "#e2e-1", "kim@example.com", "gone")])


if __name__ == "__main__":
    unittest.main()
