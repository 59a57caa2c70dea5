"""Okta event hooks: GET /v1/events/okta (the one-time verification) and
POST /v1/events/okta (deliveries), over real HTTP, into a real store.

Each test starts the real binary with its own store and checks what Okta
and an operator see: the answer (Okta's verification JSON, 204 with no
body, or the refusal), the revocations in the store and in GET
/v1/revocations?source=okta, and for refused input that nothing was stored.
The bodies are the samples in tests/data/okta/ (Okta's documented shapes,
invented values) and variants of them. A "lookup" rule asks a directory
served by tests/fakes/fake_idp.py over HTTPS, which can be made slow.

Run with Debian's /usr/bin/python3 (PyJWT, cryptography, botocore).
"""

import copy
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import harness  # puts tests/fakes on the path
import fake_idp  # noqa: E402
from harness import Key, Service, Store, make_token

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "data", "okta"))

ISS = "https://idp.okta-events.test/"
AUD = "session-revoker-okta"
SECRET = "okta-hook-secret-2b9f61d0c7a84e35"
CHALLENGE = "Kq8vN3xT1pR6wY0zB5mC7dF9hJ2lS4gU"

# The sample batch (delivery-batch-mixed.json), by uuid.
REMOVE = "3f1c2a7e-1f0b-11f1-9a6e-5b1c2d3e4f50"
DEACTIVATE = "4a2d3b8f-1f0b-11f1-9a6e-6c2d3e4f5061"
SUSPEND = "5b3e4c90-1f0b-11f1-9a6e-7d3e4f506172"
CLEAR = "6c4f5da1-1f0b-11f1-9a6e-8e4f50617283"

KEY = None
TMP = None


def setUpModule():
    global KEY, TMP
    TMP = tempfile.mkdtemp(prefix="sr-okta-keys-")
    KEY = Key("rsa", TMP, "issuer")
    KEY.write_public_pem()


def tearDownModule():
    if TMP and not os.environ.get("SR_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


def sample(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def log_tail(svc, n=4000):
    lines = [l for l in svc.stderr().splitlines() if "msg=http.request" not in l]
    return "\n".join(lines)[-n:]


class OktaCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-okta-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.db = os.path.join(self.tmp, "okta.db")
        self.store = Store(self.db)
        self.n = 0
        self.secret_file = os.path.join(self.tmp, "okta-authorization")
        with open(self.secret_file, "w") as f:
            f.write(SECRET + "\n")
        self.idp = fake_idp.FakeIdp().start()
        self.addCleanup(self.idp.stop)

    def okta(self, **kw):
        """sources.okta with the secret, a directory, and kw on top."""
        o = {"authorization_file": self.secret_file,
             "lookup": {"kind": "http",
                        "url": self.idp.url + "/directory/users/{subject}/groups"}}
        o.update(kw)
        return o

    def config(self, okta, http_timeout=5):
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"path": self.db},
            "auth": {"issuers": [{"issuer": ISS, "audience": AUD, "algorithms": ["RS256"],
                                  "public_key_file": os.path.join(TMP, "issuer.pub.pem")}]},
            "revoke": {"providers": ["auth.example.com/"], "policy_name": "session-revoker-deny"},
            "jobs": {"workers": 0, "poll_ms": 100},
            "aws": {"accounts": [{"id": a, "role_name": harness.ADMIN_ROLE,
                                  "external_id": harness.EXTERNAL_ID}
                                 for a in harness.EXAMPLE_ACCOUNTS]},
            "http_client": {"ca_file": self.idp.ca_file, "timeout_seconds": http_timeout},
            "sources": {"okta": okta},
        }
        self.n += 1
        path = os.path.join(self.tmp, "config-%d.json" % self.n)
        harness.write_config(path, cfg)
        return path

    def start(self, okta=None, **kw):
        svc = Service(self.config(self.okta() if okta is None else okta, **kw),
                      cwd=self.tmp, logdir=self.tmp, name="service-%d" % self.n)
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        return svc

    def token(self, scope="events:write"):
        t = int(time.time())
        return make_token(KEY, "RS256", {"iat": t, "exp": t + 600, "sub": "okta"},
                          iss=ISS, aud=AUD, scope=scope)

    def verify(self, svc, headers):
        return svc.request("GET", "/v1/events/okta", headers=headers)

    def deliver(self, svc, body, secret=SECRET, header="Authorization", extra=None):
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        if secret is not None:
            h[header] = secret
        h.update(extra or {})
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        return svc.request("POST", "/v1/events/okta", headers=h, body=body)

    def rows(self):
        """{uuid: (subject, rule, groups, note)} of the okta revocations."""
        out = {}
        for r in self.store.query(
                "SELECT seq, source_event_id, event_subject, rule, note FROM revocations"
                " WHERE source = ? ORDER BY seq", ("okta",)):
            groups = [g["group_name"] for g in self.store.query(
                "SELECT group_name FROM revocation_groups WHERE revocation_seq = ?"
                " ORDER BY position", (r["seq"],))]
            out[r["source_event_id"]] = (r["event_subject"], r["rule"], groups, r["note"])
        return out

    def nothing_stored(self):
        self.assertEqual(self.store.count("revocations"), 0)
        self.assertEqual(self.store.count("jobs"), 0)


class Verification(OktaCase):

    def test_the_challenge_is_echoed_to_the_hook_only(self):
        svc = self.start()
        r = self.verify(svc, {"Authorization": SECRET, "Accept": "application/json",
                              "X-Okta-Verification-Challenge": CHALLENGE})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, json.loads(sample("verification-response.json")))
        # Newer Okta pages spell the header in lower case: HTTP does not care.
        r = self.verify(svc, {"Authorization": SECRET,
                              "x-okta-verification-challenge": "abc-123"})
        self.assertEqual((r.status, r.json), (200, {"verification": "abc-123"}), r)
        for what, headers in [
                ("no secret", {}),
                ("wrong secret", {"Authorization": SECRET[:-1] + "x"}),
                ("a prefix of it", {"Authorization": SECRET[:-1]}),
                ("a JWT", {"Authorization": "Bearer " + self.token()})]:
            with self.subTest(what):
                headers["X-Okta-Verification-Challenge"] = CHALLENGE
                r = self.verify(svc, headers)
                self.assertEqual(r.status, 401, r)
                self.assertNotIn(CHALLENGE.encode(), r.raw)
                self.assertNotIn(SECRET[:12].encode(), r.raw)
        r = self.verify(svc, {"Authorization": SECRET})
        self.assertEqual(r.status, 400, r)
        self.assertIn("X-Okta-Verification-Challenge", r.json["detail"])
        r = self.verify(svc, {"Authorization": SECRET,
                              "X-Okta-Verification-Challenge": "x" * 1025})
        self.assertEqual(r.status, 400, r)
        self.assertNotIn(SECRET.encode(), svc.stderr().encode())
        self.nothing_stored()

    def test_a_custom_authentication_field(self):
        """Okta's Admin Console lets the hook's "Authentication field" be any
        header: then that header carries the secret, and Authorization means
        nothing."""
        svc = self.start(self.okta(authorization_header="X-Okta-Hook-Secret"))
        r = self.verify(svc, {"X-Okta-Hook-Secret": SECRET,
                              "X-Okta-Verification-Challenge": CHALLENGE})
        self.assertEqual((r.status, r.json), (200, {"verification": CHALLENGE}), r)
        r = self.verify(svc, {"Authorization": SECRET,
                              "X-Okta-Verification-Challenge": CHALLENGE})
        self.assertEqual(r.status, 401, r)
        self.assertIn("X-Okta-Hook-Secret header", r.json["detail"])
        r = self.deliver(svc, sample("delivery-group-user-membership-remove.json"),
                         header="X-Okta-Hook-Secret")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(list(self.rows()), [REMOVE])

    def test_switched_off(self):
        svc = self.start({"enabled": False})
        r = self.verify(svc, {"Authorization": SECRET,
                              "X-Okta-Verification-Challenge": CHALLENGE})
        self.assertEqual(r.status, 404, r)
        r = self.deliver(svc, sample("delivery-batch-mixed.json"))
        self.assertEqual(r.status, 404, r)
        self.nothing_stored()


class Deliveries(OktaCase):

    def test_each_event_type_of_the_sample_batch(self):
        svc = self.start()
        self.idp.set_groups("omar.haddad@example.com", ["team_payments"])
        self.idp.set_groups("jane.doe@example.com", ["team_hr", "team_opsec"])
        self.idp.set_groups("k.nakamura@example.com", ["team_data"])
        r = self.deliver(svc, sample("delivery-batch-mixed.json"))
        self.assertEqual(r.status, 204, "%r\n%s" % (r, log_tail(svc)))
        self.assertEqual(r.raw, b"")
        rows = self.rows()
        self.assertEqual(
            {k: v[:3] for k, v in rows.items()},
            {REMOVE: ("li.wei@example.com", "group-membership-removed", ["team_opsec"]),
             DEACTIVATE: ("omar.haddad@example.com", "user-lost-access", ["team_payments"]),
             SUSPEND: ("jane.doe@example.com", "user-lost-access", ["team_hr", "team_opsec"]),
             CLEAR: ("k.nakamura@example.com", "user-lost-access", ["team_data"])})
        # Each revocation's cut-off is its event's published time, rounded up
        # to the whole second (IAM compares whole seconds).
        r = svc.request("GET", "/v1/revocations?source=okta",
                        token=make_token(KEY, "RS256", {"iat": int(time.time()),
                                                        "exp": int(time.time()) + 600},
                                         iss=ISS, aud=AUD, scope="revocations:read"))
        self.assertEqual(r.status, 200, r)
        by_id = {x["source_event_id"]: x for x in r.json["items"]}
        self.assertEqual(set(by_id), {REMOVE, DEACTIVATE, SUSPEND, CLEAR})
        self.assertEqual(by_id[REMOVE]["cutoff"], "2026-03-12T09:02:12Z")
        self.assertEqual(by_id[CLEAR]["groups"], ["team_data"])
        self.assertEqual(by_id[CLEAR]["source"], "okta")

    def test_unknown_types_are_counted_and_dropped_and_bad_events_logged(self):
        svc = self.start()
        body = json.loads(sample("delivery-batch-mixed.json"))
        events = body["data"]["events"]
        login = copy.deepcopy(events[0])
        login.update(uuid="aaaa0000-0000-0000-0000-000000000001", eventType="user.session.start")
        broken = copy.deepcopy(events[0])
        broken.update(uuid="aaaa0000-0000-0000-0000-000000000002", target=[broken["target"][0]])
        body["data"]["events"] = [login, broken, events[0]]
        r = self.deliver(svc, body)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(list(self.rows()), [REMOVE])
        log = svc.stderr()
        self.assertIn("okta.event_malformed", log)
        self.assertIn("must name its UserGroup", log)
        self.assertRegex(log, r"events\.batch.*source=okta received=3 recorded=1 replayed=0"
                              r" dropped=1 errors=1")

    def test_redeliveries_record_nothing_twice(self):
        svc = self.start()
        self.idp.set_groups("omar.haddad@example.com", ["team_payments"])
        body = sample("delivery-user-lifecycle-deactivate.json")
        self.assertEqual(self.deliver(svc, body).status, 204)
        path = "/directory/users/omar.haddad@example.com/groups"
        self.assertEqual(self.idp.count(path), 1)
        # The same envelope again (Okta's retry): answered at once.
        r = self.deliver(svc, body)
        self.assertEqual(r.status, 204, r)
        self.assertIn("okta.redelivery", svc.stderr())
        # The same event in another envelope: the store knows its uuid.
        other = json.loads(body)
        other["eventId"] = "00000000-1111-2222-3333-444444444444"
        self.assertEqual(self.deliver(svc, other).status, 204)
        # The batch holding it and a new one: only the new one is recorded.
        mixed = json.loads(sample("delivery-batch-mixed.json"))
        self.assertEqual(self.deliver(svc, mixed).status, 204)
        self.assertEqual(self.idp.count(path), 1)
        self.assertEqual(self.store.count("revocations"), 4)
        self.assertEqual(sorted(self.rows()), sorted([REMOVE, DEACTIVATE, SUSPEND, CLEAR]))
        # The same event twice in one delivery is one revocation too.
        twice = json.loads(sample("delivery-user-session-clear.json"))
        twice["eventId"] = "twice"
        ev = copy.deepcopy(twice["data"]["events"][0])
        ev["uuid"] = "bbbb0000-0000-0000-0000-000000000001"
        twice["data"]["events"] = [ev, ev]
        self.assertEqual(self.deliver(svc, twice).status, 204)
        self.assertEqual(self.store.count("revocations"), 5)

    def test_refusals_store_nothing_and_leak_nothing(self):
        svc = self.start()
        body = sample("delivery-batch-mixed.json")
        for what, secret in [("no header", None), ("wrong", SECRET[:-1] + "x"),
                             ("prefix", SECRET[:-1]), ("longer", SECRET + "0"),
                             ("a valid JWT", "Bearer " + self.token()),
                             ("Bearer and the secret", "Bearer " + SECRET)]:
            with self.subTest(what):
                r = self.deliver(svc, body, secret=secret)
                self.assertEqual(r.status, 401, r)
                self.assertIn(r.json["error"], ("unauthorized", "invalid_token"))
                self.assertNotIn(SECRET[:12].encode(), r.raw)
                self.assertTrue(r.headers.get("WWW-Authenticate"))
        r = self.deliver(svc, b"this is not json")
        self.assertEqual(r.status, 400, r)
        r = self.deliver(svc, body, extra={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 415, r)
        r = self.deliver(svc, {"eventId": "e", "data": {"events": []}})
        self.assertEqual((r.status, r.json["detail"]), (400, "data.events: empty"), r)
        r = self.deliver(svc, {"data": {"events": [{}]}})
        self.assertEqual(r.status, 400, r)
        self.assertIn("eventId", r.json["detail"])
        r = self.deliver(svc, {"eventId": "e", "data": {"events": [{"uuid": "u1"}, 5]}})
        self.assertEqual(r.status, 400, r)
        self.assertIn("no event could be read", r.json["detail"])
        self.nothing_stored()
        self.assertNotIn(SECRET, svc.stderr())

    def test_without_a_secret_a_jwt_with_events_write(self):
        svc = self.start({"lookup": self.okta()["lookup"]})
        body = sample("delivery-group-user-membership-remove.json")
        r = self.deliver(svc, body, secret="Bearer " + self.token(scope="revocations:read"))
        self.assertEqual(r.status, 403, r)
        r = self.deliver(svc, body, secret="Bearer " + self.token())
        self.assertEqual(r.status, 204, r)
        self.assertEqual(list(self.rows()), [REMOVE])

    def test_a_slow_directory_does_not_hold_the_answer(self):
        """Okta gives up after 3 seconds. The directory takes 5 per lookup
        (the HTTP client would wait 6): the delivery is still answered
        within answer_within_ms, each person revoked by the groups last
        known and the rule's fallback, and the note says why."""
        okta = self.okta(answer_within_ms=1000, rules=[
            {"name": "user-lost-access", "on": ["user.lifecycle.suspend",
                                                 "user.lifecycle.deactivate"],
             "groups": "lookup", "fallback": ["team_all_staff"]}])
        svc = self.start(okta, http_timeout=6)
        self.idp.set_groups("jane.doe@example.com", ["team_hr"])
        self.idp.set_groups("omar.haddad@example.com", ["team_payments"])
        self.idp.set_faults([{"path": "/directory/", "kind": "slow", "seconds": 5}])
        t0 = time.monotonic()
        r = self.deliver(svc, sample("delivery-batch-mixed.json"))
        took = time.monotonic() - t0
        self.assertEqual(r.status, 204, "%r\n%s" % (r, log_tail(svc)))
        self.assertLess(took, 2.5, "the answer waited for the directory")
        rows = self.rows()
        self.assertEqual(sorted(rows), sorted([DEACTIVATE, SUSPEND]))
        for uuid in (DEACTIVATE, SUSPEND):
            self.assertEqual(rows[uuid][2], ["team_all_staff"])
            self.assertIn("no answer within the 1000 ms", rows[uuid][3])
        # The abandoned lookups end on their own; the service stops cleanly.
        svc.stop(check=True)


class RulesCli(OktaCase):

    def run_cli(self, *args, okta=None):
        cfg = self.config(okta or self.okta())
        return subprocess.run([harness.binary_path()] + list(args) + ["--config", cfg],
                              capture_output=True, text=True, env=harness.clean_env(),
                              cwd=self.tmp, timeout=60)

    def test_rules_show_and_test(self):
        p = self.run_cli("rules", "show", "--source", "okta")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("okta (on, built-in rules)", p.stdout)
        self.assertIn("group.user_membership.remove", p.stdout)
        path = os.path.join(self.tmp, "batch.json")
        with open(path, "wb") as f:
            f.write(sample("delivery-batch-mixed.json"))
        p = self.run_cli("rules", "test", "--source", "okta", "--json", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertEqual((out["received"], len(out["revocations"])), (4, 4))
        self.assertEqual(out["revocations"][0]["groups"], ["team_opsec"])
        self.assertEqual(out["revocations"][1]["rule"], "user-lost-access")
        self.assertIn("would be looked up", out["revocations"][1]["note"])
        self.assertFalse(os.path.exists(self.db), "rules test wrote a store")

    def test_bad_okta_settings_are_named_by_path(self):
        p = self.run_cli("check-config", okta=self.okta(
            authorization_header="Bad Header:", answer_within_ms=3000,
            rules=[{"name": "x", "on": ["user lifecycle"], "groups": "from_event"}]))
        self.assertNotEqual(p.returncode, 0)
        out = p.stdout + p.stderr
        for path in ("sources.okta.authorization_header", "sources.okta.answer_within_ms",
                     "sources.okta.rules[0].on[0]"):
            self.assertIn(path, out)
        self.assertIn("must be an integer from 100 to 2900", out)
        cfg = self.config(self.okta())
        with open(cfg) as f:
            c = json.load(f)
        c["sources"]["auth0"] = {"answer_within_ms": 1000}
        with open(cfg, "w") as f:
            json.dump(c, f)
        p = subprocess.run([harness.binary_path(), "check-config", "--config", cfg],
                           capture_output=True, text=True, env=harness.clean_env(),
                           cwd=self.tmp, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("sources.auth0.answer_within_ms: only the okta source has it",
                      p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
