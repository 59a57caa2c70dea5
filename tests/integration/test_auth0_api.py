"""The identity provider's directory and the Auth0 catch-up poll, end to end:
the real binary against the fake identity provider (tests/fakes/fake_idp.py)
over HTTPS with its throwaway CA.

- A "lookup" rule takes the user's groups from Auth0's roles (client
  credentials, the id percent-encoded), or from a generic HTTP directory.
- A deleted user (404) is revoked with the groups last learned.
- An API that is down or slow gives the rule's fallback groups and a note.
- The poll (GET /api/v2/logs?from=&take=) records events the log stream
  missed, starts at the newest event (not the whole retention), is one event
  by log_id with the stream, keeps its checkpoint across a restart, and waits
  for Auth0's rate limit (checked on the fake's own call log times).

Each test checks what an operator sees: the revocations in the store (groups,
rule, note), the webhook's answer, and what the fake was asked. Run with
Debian's /usr/bin/python3 (aiohttp, cryptography, PyJWT).
"""

import copy
import json
import os
import shutil
import tempfile
import time
import unittest

import harness
from harness import Key, Service, Store, make_token

import fake_idp  # tests/fakes, on the path through harness

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "data", "auth0"))

ISS = "https://idp.auth0api.test/"
AUD = "session-revoker-auth0api"
CLIENT_ID = "sr-m2m-client"
CLIENT_SECRET = "m2m-secret-4c1f9e0b7a2d4e6f8a0c2e4f6a8b0d2e"
USER = "auth0|6601a2b3c4d5e6f7a8b9c0d1"   # the sample's blocked user
USER_ESCAPED = "auth0%7C6601a2b3c4d5e6f7a8b9c0d1"
FALLBACK = "team_breakglass"
CHECKPOINT = "auth0.poll.checkpoint"

KEY = None
TMP = None


def setUpModule():
    global KEY, TMP
    TMP = tempfile.mkdtemp(prefix="sr-auth0api-keys-")
    KEY = Key("rsa", TMP, "issuer")
    KEY.write_public_pem()


def tearDownModule():
    if TMP and not os.environ.get("SR_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


def sample_events():
    with open(os.path.join(DATA, "logstream-json-array.json"), "rb") as f:
        return json.loads(f.read())


def _sample(kind):
    return copy.deepcopy([e for e in sample_events() if e["data"]["type"] == kind][0])


def log_id(n):
    """Log ids after every sample's (56 digits, ordered as Auth0's)."""
    return "9003%052d" % n


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def blocked_event(lid, user=USER, at=None):
    """The sample's "user blocked" (sapi PATCH .../users/{id} blocked: true)."""
    e = _sample("sapi")
    d = e["data"]
    assert d["details"]["request"]["body"] == {"blocked": True}
    e["log_id"] = d["log_id"] = lid
    d["date"] = iso(at if at is not None else time.time() - 60)
    d["details"]["request"]["path"] = "/api/v2/users/" + user
    d["details"]["response"]["body"]["user_id"] = user
    return e


def deleted_event(lid, user=USER, at=None):
    """The sample's "user deleted" (sdu) for user."""
    e = _sample("sdu")
    d = e["data"]
    e["log_id"] = d["log_id"] = lid
    d["date"] = iso(at if at is not None else time.time() - 60)
    d["user_id"] = user
    return e


def log_tail(svc, n=4000):
    lines = [l for l in svc.stderr().splitlines() if "msg=http.request" not in l]
    return "\n".join(lines)[-n:]


def wait_for(what, check, timeout=20.0, svc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s%s" % (
        what, "\n" + log_tail(svc) if svc is not None else ""))


class Auth0ApiCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-auth0api-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.db = os.path.join(self.tmp, "auth0api.db")
        self.store = Store(self.db)
        self.n = 0
        self.idp = fake_idp.FakeIdp(tls_dir=os.path.join(self.tmp, "idp-tls")).start()
        self.addCleanup(self.idp.stop)
        self.idp.set_client(CLIENT_ID, CLIENT_SECRET)
        self.secret_file = os.path.join(self.tmp, "client.secret")
        with open(self.secret_file, "w") as f:
            f.write(CLIENT_SECRET + "\n")

    def auth0_lookup(self, **kw):
        lookup = {"kind": "auth0", "domain": self.idp.url, "client_id": CLIENT_ID,
                  "client_secret_file": self.secret_file}
        lookup.update(kw)
        return lookup

    def rules(self):
        return [{"name": "lost-access", "on": ["user_blocked", "user_deleted"],
                 "groups": "lookup", "fallback": [FALLBACK]}]

    def config(self, sources, timeout=2):
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"path": self.db},
            "auth": {"issuers": [{"issuer": ISS, "audience": AUD, "algorithms": ["RS256"],
                                  "public_key_file": os.path.join(TMP, "issuer.pub.pem")}]},
            "revoke": {"providers": ["auth.example.com/"]},
            "aws": {"accounts": [{"id": harness.EXAMPLE_ACCOUNTS[0],
                                  "role_name": harness.ADMIN_ROLE}]},
            "jobs": {"workers": 0},
            "http_client": {"ca_file": self.idp.ca_file, "timeout_seconds": timeout},
            "sources": sources,
        }
        self.n += 1
        path = os.path.join(self.tmp, "config-%d.json" % self.n)
        harness.write_config(path, cfg)
        return path

    def start(self, sources, **kw):
        svc = Service(self.config(sources, **kw), cwd=self.tmp, logdir=self.tmp,
                      name="service-%d" % self.n)
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        return svc

    def token(self, scope="events:write"):
        t = int(time.time())
        return make_token(KEY, "RS256", {"iat": t, "exp": t + 600, "sub": "tests"},
                          iss=ISS, aud=AUD, scope=scope)

    def post_auth0(self, svc, events):
        return svc.request("POST", "/v1/events/auth0", json_body=events, token=self.token())

    def revocation(self, lid, source="auth0"):
        rows = self.store.query(
            "SELECT seq, source_event_id, event_subject, rule, note"
            " FROM revocations WHERE source = ? AND source_event_id = ?", (source, lid))
        if not rows:
            return None
        r = rows[0]
        r["groups"] = [g["group_name"] for g in self.store.query(
            "SELECT group_name FROM revocation_groups WHERE revocation_seq = ?"
            " ORDER BY group_name", (r.pop("seq"),))]
        return r

    def idp_calls(self, path_prefix):
        return [c for c in self.idp.calls() if c["path"].startswith(path_prefix)]

    def assert_no_secret_leaked(self, svc):
        err = svc.stderr()
        self.assertNotIn(CLIENT_SECRET, err)
        self.assertEqual(self.store.query(
            "SELECT count(*) AS n FROM revocations WHERE note LIKE ?",
            ("%" + CLIENT_SECRET[:12] + "%",))[0]["n"], 0)


class Lookup(Auth0ApiCase):

    def test_lookup_rule_takes_the_users_roles_from_auth0(self):
        self.idp.set_user(USER, roles=["team_opsec", "team_hr"])
        svc = self.start({"auth0": {"rules": self.rules(), "lookup": self.auth0_lookup()}})
        lid = log_id(1)
        r = self.post_auth0(svc, [blocked_event(lid)])
        self.assertEqual((r.status, r.json["recorded"]), (202, 1), "%r\n%s" % (r, log_tail(svc)))
        rev = self.revocation(lid)
        self.assertEqual((rev["event_subject"], rev["rule"], rev["groups"], rev["note"]),
                         (USER, "lost-access", ["team_hr", "team_opsec"], None))
        # Client credentials, then the roles with the id percent-encoded.
        tok = self.idp_calls("/oauth/token")
        self.assertEqual(len(tok), 1)
        self.assertEqual((tok[0]["form"]["grant_type"], tok[0]["form"]["client_id"],
                          tok[0]["form"]["client_secret"], tok[0]["form"]["audience"]),
                         ("client_credentials", CLIENT_ID, "present", self.idp.url + "/api/v2/"))
        roles = self.idp_calls("/api/v2/users/")
        self.assertEqual([(c["raw_path"], c["path"], c["status"]) for c in roles],
                         [("/api/v2/users/%s/roles" % USER_ESCAPED,
                           "/api/v2/users/%s/roles" % USER, 200)])
        self.assertTrue(roles[0]["headers"].get("Authorization", "").startswith("Bearer "))
        # A second event reuses the cached token.
        r = self.post_auth0(svc, [blocked_event(log_id(2))])
        self.assertEqual((r.status, r.json["recorded"]), (202, 1), r)
        self.assertEqual(len(self.idp_calls("/oauth/token")), 1)
        self.assert_no_secret_leaked(svc)

    def test_app_metadata_field(self):
        self.idp.set_user(USER, app_metadata={"aws_groups": ["team_payments"]})
        svc = self.start({"auth0": {"rules": self.rules(), "lookup": self.auth0_lookup(
            groups_from="app_metadata.aws_groups")}})
        lid = log_id(1)
        r = self.post_auth0(svc, [blocked_event(lid)])
        self.assertEqual((r.status, r.json["recorded"]), (202, 1), r)
        self.assertEqual(self.revocation(lid)["groups"], ["team_payments"])
        self.assertEqual([c["path"] for c in self.idp_calls("/api/v2/")],
                         ["/api/v2/users/" + USER])

    def test_deleted_user_is_revoked_with_the_groups_last_known(self):
        self.idp.set_user(USER, roles=["team_opsec"])
        svc = self.start({"auth0": {"rules": self.rules(), "lookup": self.auth0_lookup()}})
        r = self.post_auth0(svc, [blocked_event(log_id(1))])
        self.assertEqual((r.status, r.json["recorded"]), (202, 1), r)
        self.assertEqual(self.revocation(log_id(1))["groups"], ["team_opsec"])
        # The user is deleted in Auth0: the directory answers 404.
        self.idp.delete_user(USER)
        r = self.post_auth0(svc, [deleted_event(log_id(2))])
        self.assertEqual((r.status, r.json["recorded"]), (202, 1), r)
        rev = self.revocation(log_id(2))
        self.assertEqual(rev["groups"], ["team_opsec"], rev)
        self.assertIn("no longer in the directory", rev["note"])
        self.assertEqual(self.idp_calls("/api/v2/users/")[-1]["status"], 404)

    def test_api_down_or_slow_falls_back_and_says_so(self):
        self.idp.set_user(USER, roles=["team_opsec"])
        svc = self.start({"auth0": {"rules": self.rules(), "lookup": self.auth0_lookup()}},
                         timeout=1)
        cases = [
            ("down", {"path": "/api/v2/", "kind": "down"}, "HTTP 503"),
            ("slow", {"path": "/api/v2/", "kind": "slow", "seconds": 3}, "did not answer"),
            ("throttled", {"path": "/api/v2/", "kind": "throttled", "reset_in": 30},
             "throttling us"),
            ("credentials refused", {"path": "/oauth/token", "kind": "status", "status": 401,
                                     "body": '{"error":"access_denied"}'}, "refused"),
        ]
        for i, (what, fault, why) in enumerate(cases):
            with self.subTest(what):
                self.idp.set_faults([fault])
                if what == "credentials refused":
                    self.idp.expire_tokens()
                lid = log_id(10 + i)
                t0 = time.monotonic()
                r = self.post_auth0(svc, [blocked_event(lid)])
                self.assertEqual((r.status, r.json["recorded"]), (202, 1),
                                 "%r\n%s" % (r, log_tail(svc)))
                self.assertLess(time.monotonic() - t0, 2 * 1 + 3)
                rev = self.revocation(lid)
                self.assertEqual(rev["groups"], [FALLBACK], rev)
                self.assertIn("lookup of %s failed" % USER, rev["note"])
                self.assertIn(why, rev["note"])
                self.assertIn("fallback groups used", rev["note"])
        self.idp.set_faults([])
        self.assert_no_secret_leaked(svc)

    def test_http_directory(self):
        token_file = os.path.join(self.tmp, "directory.token")
        with open(token_file, "w") as f:
            f.write("dir-token-0123456789\n")
        self.idp.set_directory_token("dir-token-0123456789")
        self.idp.set_groups("jane@example.com", ["team_opsec", "team_hr"])
        svc = self.start({"group-change": {"lookup": {
            "kind": "http", "url": self.idp.url + "/directory/users/{subject}/groups",
            "token_file": token_file}}})

        def post(eid, t):
            return svc.request("POST", "/v1/events/group-change", token=self.token(),
                               json_body={"event_id": eid, "subject": "jane@example.com",
                                          "time": t})
        r = post("c1", "2026-03-12T08:00:00Z")
        self.assertEqual(r.status, 202, "%r\n%s" % (r, log_tail(svc)))
        self.idp.set_groups("jane@example.com", ["team_hr"])
        r = post("c2", "2026-03-12T09:00:00Z")
        self.assertEqual(r.status, 202, r)
        rev = self.revocation(ISS + "#c2", "group-change")
        self.assertEqual((rev["rule"], rev["groups"]), ("user-changed", ["team_opsec"]))
        calls = self.idp_calls("/directory/")
        self.assertEqual([c["raw_path"] for c in calls],
                         ["/directory/users/jane%40example.com/groups"] * 2)
        self.assertEqual([c["status"] for c in calls], [200, 200])


class Poll(Auth0ApiCase):

    def poll_sources(self, **poll):
        p = {"enabled": True, "interval_seconds": 1, "take": 100}
        p.update(poll)
        return {"auth0": {"rules": self.rules(), "lookup": self.auth0_lookup(), "poll": p}}

    def checkpoint(self):
        if not self.store.exists():
            return None
        rows = self.store.query("SELECT value FROM service_meta WHERE key = ?", (CHECKPOINT,))
        return rows[0]["value"] if rows else None

    def test_poll_records_what_the_stream_missed_once_per_log_id(self):
        self.idp.set_user(USER, roles=["team_opsec"])
        # Already in the tenant's log before the first start: not replayed.
        old = deleted_event(log_id(1), at=time.time() - 3600)
        self.idp.add_logs([old])
        svc = self.start(self.poll_sources())
        wait_for("the first checkpoint", lambda: self.checkpoint() == log_id(1), svc=svc)
        self.assertEqual([c["args"] for c in self.idp_calls("/api/v2/logs")][0],
                         {"sort": "date:-1", "per_page": "1", "page": "0"})
        # Missed by the stream: the poll records it.
        self.idp.add_logs([blocked_event(log_id(2))])
        wait_for("the polled event", lambda: self.revocation(log_id(2)), svc=svc)
        rev = self.revocation(log_id(2))
        self.assertEqual((rev["rule"], rev["groups"]), ("lost-access", ["team_opsec"]))
        wait_for("the checkpoint to move", lambda: self.checkpoint() == log_id(2), svc=svc)
        self.assertIsNone(self.revocation(log_id(1)))
        # The stream delivers it late: one event by log_id.
        r = self.post_auth0(svc, [blocked_event(log_id(2))])
        self.assertEqual((r.status, r.json["recorded"], r.json["replayed"]), (202, 0, 1), r)
        # Pushed first, then polled: still one.
        pushed = blocked_event(log_id(3))
        r = self.post_auth0(svc, [pushed])
        self.assertEqual((r.status, r.json["recorded"]), (202, 1), r)
        self.idp.add_logs([pushed])
        wait_for("the checkpoint past the pushed event",
                 lambda: self.checkpoint() == log_id(3), svc=svc)
        self.assertEqual(self.store.query(
            "SELECT count(*) AS n FROM revocations WHERE source = 'auth0'")[0]["n"], 2)
        self.assertIn("msg=auth0.poll.page events=1", svc.stderr())
        self.assert_no_secret_leaked(svc)

    def test_checkpoint_survives_a_restart(self):
        self.idp.set_user(USER, roles=["team_opsec"])
        self.idp.add_logs([deleted_event(log_id(1), at=time.time() - 3600)])
        svc = self.start(self.poll_sources())
        wait_for("the first checkpoint", lambda: self.checkpoint() == log_id(1), svc=svc)
        self.idp.add_logs([blocked_event(log_id(2))])
        wait_for("the checkpoint to move", lambda: self.checkpoint() == log_id(2), svc=svc)
        svc.stop()
        # Happens while the service is down.
        self.idp.add_logs([blocked_event(log_id(3))])
        seq = self.idp.calls()[-1]["seq"]
        svc = self.start(self.poll_sources())
        wait_for("the event of the downtime", lambda: self.revocation(log_id(3)), svc=svc)
        after = [c for c in self.idp.calls(since=seq) if c["path"] == "/api/v2/logs"]
        self.assertEqual(after[0]["args"].get("from"), log_id(2))
        self.assertFalse([c for c in after if "sort" in c["args"]])
        self.assertIsNotNone(self.revocation(log_id(2)))

    def test_configured_from_is_where_a_first_poll_starts(self):
        self.idp.add_logs([deleted_event(log_id(i), user="auth0|u%d" % i,
                                         at=time.time() - 600 + i) for i in (1, 2, 3)])
        svc = self.start(self.poll_sources(**{"from": log_id(1)}))
        wait_for("the events after from", lambda: self.revocation(log_id(3)), svc=svc)
        self.assertIsNone(self.revocation(log_id(1)))
        self.assertIsNotNone(self.revocation(log_id(2)))
        first = self.idp_calls("/api/v2/logs")[0]
        self.assertEqual(first["args"], {"from": log_id(1), "take": "100"})

    def test_rate_limit_delays_the_next_call(self):
        self.idp.set_user(USER, roles=["team_opsec"])
        svc = self.start(self.poll_sources())
        wait_for("the poll to start", lambda: self.idp_calls("/api/v2/logs"), svc=svc)
        time.sleep(1.5)
        # Auth0's bucket is empty for the next 4 seconds; Retry-After too.
        self.idp.set_rate_limit(remaining=0, reset_in=4, retry_after=True)
        seq = self.idp.calls()[-1]["seq"]
        self.idp.add_logs([blocked_event(log_id(2))])
        wait_for("the event after the throttle", lambda: self.revocation(log_id(2)),
                 timeout=30, svc=svc)
        logs = [c for c in self.idp.calls(since=seq) if c["path"] == "/api/v2/logs"]
        throttled = [c for c in logs if c["status"] == 429]
        self.assertTrue(throttled, logs)
        after = [c for c in logs if c["seq"] > throttled[0]["seq"]]
        self.assertTrue(after, logs)
        # The next call came no sooner than Auth0 said: not at the 1 s
        # interval, and only one call was made into the empty bucket.
        self.assertGreaterEqual(after[0]["time"] - throttled[0]["time"], 3.0, logs)
        self.assertEqual(len(throttled), 1, logs)


if __name__ == "__main__":
    unittest.main()
