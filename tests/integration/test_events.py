"""Identity providers telling the service themselves: POST /v1/events/auth0
(the Auth0 log stream's custom webhook) and POST /v1/events/group-change,
over real HTTP, into a real SQLite file.

Each test starts the real binary with its own store and checks what an
operator sees: the answer (202 and its summary, or the refusal), the
revocations and jobs in the store, GET /v1/revocations?source=..., and for
refused input that nothing at all was stored. The Auth0 bodies are the
samples in tests/data/auth0/ (Auth0's documented shapes, invented values)
and variants of them. One test follows an Auth0 "user blocked" event to the
deny policies it puts in the fake AWS (tests/fakes/fake_aws.py).

Run with Debian's /usr/bin/python3 (PyJWT, cryptography, botocore).
"""

import copy
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import harness  # puts tests/fakes on the path
import fake_idp  # noqa: E402
from harness import Key, Service, Store, make_token

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "data", "auth0"))
fake_aws = harness.fake_aws

ISS = "https://idp.events.test/"
AUD = "session-revoker-events"
ACCOUNTS = harness.EXAMPLE_ACCOUNTS
PROVIDER = "auth.example.com/"
POLICY = "session-revoker-deny"

# The sample batch (tests/data/auth0/logstream-json-array.json), by log_id.
BLOCKED = "90020260312081501123456789012345678901234567890123456701"
ROLES_REMOVED = "90020260312081744223456789012345678901234567890123456702"
ORG_REMOVED = "90020260312081902323456789012345678901234567890123456703"
SECRET = "Bearer 7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e-events-test"

KEY = None
TMP = None


def setUpModule():
    global KEY, TMP
    TMP = tempfile.mkdtemp(prefix="sr-events-keys-")
    KEY = Key("rsa", TMP, "issuer")
    KEY.write_public_pem()


def tearDownModule():
    if TMP and not os.environ.get("SR_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


def sample(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def sample_events():
    return json.loads(sample("logstream-json-array.json"))


def log_tail(svc, n=4000):
    lines = [l for l in svc.stderr().splitlines() if "msg=http.request" not in l]
    return "\n".join(lines)[-n:]


class EventsCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-events-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.db = os.path.join(self.tmp, "events.db")
        self.store = Store(self.db)
        self.n = 0

    def config(self, sources=None, accounts=True, aws_url=None, http_client=None):
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"path": self.db},
            "auth": {"issuers": [{"issuer": ISS, "audience": AUD, "algorithms": ["RS256"],
                                  "public_key_file": os.path.join(TMP, "issuer.pub.pem")}]},
            "revoke": {"providers": [PROVIDER], "policy_name": POLICY},
            "jobs": {"workers": 2 if aws_url else 0, "poll_ms": 100},
        }
        if accounts:
            cfg["aws"] = {"accounts": [{"id": a, "role_name": harness.ADMIN_ROLE,
                                        "external_id": harness.EXTERNAL_ID} for a in ACCOUNTS],
                          "max_attempts": 3, "max_retry_seconds": 5}
        if sources is not None:
            cfg["sources"] = sources
        if http_client is not None:
            cfg["http_client"] = http_client
        self.n += 1
        path = os.path.join(self.tmp, "config-%d.json" % self.n)
        harness.write_config(path, cfg)
        return path

    def start(self, sources=None, aws=None, **kw):
        svc = Service(self.config(sources, aws_url=aws.url if aws else None, **kw),
                      cwd=self.tmp, logdir=self.tmp, name="service-%d" % self.n)
        if aws is not None:
            svc.env = {k: v for k, v in svc.env.items() if not k.startswith("AWS_")}
            svc.env.update({"AWS_ENDPOINT_URL": aws.url,
                            "AWS_ACCESS_KEY_ID": harness.EXAMPLE_BASE_KEY,
                            "AWS_SECRET_ACCESS_KEY": harness.EXAMPLE_BASE_SECRET,
                            "AWS_EC2_METADATA_DISABLED": "true", "HOME": self.tmp})
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        return svc

    def token(self, scope="events:write", aud=AUD, claims=None, key=None):
        t = int(time.time())
        c = {"iat": t, "exp": t + 600, "sub": "auth0-log-stream"}
        c.update(claims or {})
        return make_token(key or KEY, "RS256", c, iss=ISS, aud=aud, scope=scope)

    def post_auth0(self, svc, body, token=None, headers=None, ctype="application/json"):
        h = {"Content-Type": ctype}
        h.update(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        return svc.request("POST", "/v1/events/auth0", headers=h, body=body)

    def rows(self, source="auth0"):
        """(event id, subject, rule, note, state, groups as a JSON array) of
        each revocation of source, in the order recorded."""
        rows = []
        for r in self.store.query(
                "SELECT seq, source_event_id, event_subject, rule, note, state"
                " FROM revocations WHERE source = ? ORDER BY seq", (source,)):
            groups = [g["group_name"] for g in self.store.query(
                "SELECT group_name FROM revocation_groups WHERE revocation_seq = ?"
                " ORDER BY position", (r.pop("seq"),))]
            rows.append(tuple(r.values()) + (json.dumps(groups),))
        return rows

    def counts(self):
        c = self.store.counts()
        c["jobs"] = self.store.count("jobs")
        return c

    def nothing_stored(self):
        self.assertEqual(self.store.count("revocations"), 0)
        self.assertEqual(self.store.count("jobs"), 0)


AUTH0_NAMES = {"group_names": {"rol_TeamOpsec0000001": "team_opsec",
                               "org_team_opsec_01": "team_opsec"}}


class Auth0Stream(EventsCase):

    def test_sample_batch_records_what_the_default_rules_say(self):
        svc = self.start({"auth0": AUTH0_NAMES})
        r = self.post_auth0(svc, sample("logstream-json-array.json"), self.token())
        self.assertEqual(r.status, 202, "%r\n%s" % (r, log_tail(svc)))
        s = r.json
        self.assertEqual((s["received"], s["recorded"], s["replayed"], s["dropped"], s["errors"]),
                         (9, 5, 0, 4, []))
        by_id = {row[0]: row for row in self.rows()}
        self.assertEqual(len(by_id), 5)
        # Removals name their group; the renamed role and organisation ids.
        self.assertEqual(json.loads(by_id[ROLES_REMOVED][5]), ["team_opsec"])
        self.assertEqual(by_id[ROLES_REMOVED][1:3],
                         ("auth0|6604d5e6f7a8b9c0d1e2f3a4", "roles-removed"))
        self.assertEqual(json.loads(by_id[ORG_REMOVED][5]), ["team_opsec"])
        # The blocked user is the one in the request path, not the admin;
        # with no lookup configured, the rule's (empty) fallback is used and
        # the revocation says so: kept for the record, nothing to deny.
        blocked = by_id[BLOCKED]
        self.assertEqual(blocked[1:3], ("auth0|6601a2b3c4d5e6f7a8b9c0d1", "user-lost-access"))
        self.assertIn("no lookup is configured", blocked[3])
        self.assertEqual((blocked[4], json.loads(blocked[5])), ("recorded", []))
        # Every revocation with groups has one apply job per account.
        self.assertEqual(self.store.query(
            "SELECT count(*) AS n FROM jobs j JOIN revocations r ON r.seq = j.revocation_seq"
            " WHERE r.source_event_id = ?", (ROLES_REMOVED,))[0]["n"], len(ACCOUNTS))
        # The API shows them, filtered by source.
        r = svc.request("GET", "/v1/revocations?source=auth0",
                        token=self.token(scope="revocations:read"))
        self.assertEqual(r.status, 200, r)
        items = r.json["items"]
        self.assertEqual(sorted(i["source_event_id"] for i in items), sorted(by_id))
        one = [i for i in items if i["source_event_id"] == ROLES_REMOVED][0]
        self.assertEqual((one["subject"], one["rule"], one["source"]),
                         ("auth0|6604d5e6f7a8b9c0d1e2f3a4", "roles-removed", "auth0"))
        # The event's time, rounded up to the whole second (08:17:41.007):
        # IAM compares token issue times in seconds.
        self.assertEqual(one["cutoff"], "2026-03-12T08:17:42Z")

    def test_every_content_format_is_one_event_per_log_id(self):
        svc = self.start({"auth0": AUTH0_NAMES})
        first = self.post_auth0(svc, sample("logstream-json-lines.jsonl"), self.token())
        self.assertEqual(first.status, 202, first)
        self.assertEqual(first.json["recorded"], 5)
        before = self.counts()
        again = self.post_auth0(svc, sample("logstream-json-array.json"), self.token())
        self.assertEqual(again.status, 202, again)
        self.assertEqual((again.json["recorded"], again.json["replayed"]), (0, 5))
        one = self.post_auth0(svc, sample("logstream-json-object.json"), self.token())
        self.assertEqual((one.status, one.json["replayed"]), (202, 1))
        self.assertEqual(self.counts(), before)
        # The same revocation ids are answered each time.
        ids = lambda r: sorted(x["id"] for x in r.json["revocations"])  # noqa: E731
        self.assertEqual(ids(first), ids(again))

    def test_one_malformed_event_does_not_spoil_the_batch(self):
        svc = self.start({"auth0": AUTH0_NAMES})
        events = sample_events()
        del events[1]["data"]["date"]
        r = self.post_auth0(svc, json.dumps(events), self.token())
        self.assertEqual(r.status, 202, r)
        s = r.json
        self.assertEqual(len(s["errors"]), 1)
        self.assertEqual((s["errors"][0]["index"], s["errors"][0]["event_id"]), (1, ROLES_REMOVED))
        self.assertIn("date", s["errors"][0]["error"])
        self.assertEqual(s["recorded"], 4)
        self.assertNotIn(ROLES_REMOVED, [row[0] for row in self.rows()])
        # Auth0 retries the whole batch: the retry changes nothing.
        before = self.counts()
        r = self.post_auth0(svc, json.dumps(events), self.token())
        self.assertEqual((r.status, r.json["recorded"], r.json["replayed"]), (202, 0, 4))
        self.assertEqual(self.counts(), before)

    def test_unknown_event_types_are_counted_and_dropped(self):
        svc = self.start()
        events = [e for e in sample_events() if e["data"]["type"] in ("s", "slo", "scp")]
        events.append({"log_id": "900999", "data": dict(events[0]["data"], type="zz_new_type",
                                                          log_id="900999")})
        r = self.post_auth0(svc, json.dumps(events), self.token())
        self.assertEqual(r.status, 202, r)
        self.assertEqual((r.json["dropped"], r.json["recorded"]), (len(events), 0))
        self.nothing_stored()

    def test_refusals_store_nothing(self):
        svc = self.start()
        body = sample("logstream-json-array.json")
        other = Key("rsa", self.tmp, "stranger")
        cases = [
            ("no Authorization", None, {}, 401),
            ("events:write missing", self.token(scope="revocations:write"), {}, 403),
            ("wrong audience", self.token(aud="someone-else"), {}, 401),
            ("signed by a stranger", self.token(key=other), {}, 401),
            ("unsigned", harness.forge_unsigned({"iss": ISS, "aud": AUD, "scope": "events:write",
                                                 "exp": int(time.time()) + 600}), {}, 401),
        ]
        for what, token, headers, status in cases:
            with self.subTest(what):
                r = self.post_auth0(svc, body, token, headers)
                self.assertEqual(r.status, status, r)
                self.assertIn("error", r.json)
        r = self.post_auth0(svc, b"this is not json", self.token())
        self.assertEqual(r.status, 400, r)
        r = self.post_auth0(svc, body, self.token(), ctype="text/csv")
        self.assertEqual(r.status, 415, r)
        r = self.post_auth0(svc, json.dumps([{"log_id": "x"}, 7]), self.token())
        self.assertEqual(r.status, 400, r)
        self.nothing_stored()

    def test_static_authorization_value_compared_whole(self):
        secret_file = os.path.join(self.tmp, "auth0-authorization")
        with open(secret_file, "w") as f:
            f.write(SECRET + "\n")
        svc = self.start({"auth0": dict(AUTH0_NAMES, authorization_file=secret_file)})
        body = sample("logstream-json-array.json")
        for what, value in [("wrong", SECRET[:-1] + "x"), ("prefix", SECRET[:-1]),
                            ("longer", SECRET + "0"), ("a valid JWT", "Bearer " + self.token())]:
            with self.subTest(what):
                r = self.post_auth0(svc, body, headers={"Authorization": value})
                self.assertEqual(r.status, 401, r)
                self.assertNotIn(SECRET[7:], r.body)
        self.nothing_stored()
        r = self.post_auth0(svc, body, headers={"Authorization": SECRET})
        self.assertEqual((r.status, r.json["recorded"]), (202, 5))
        self.assertNotIn(SECRET[7:], svc.stderr())

    def test_a_large_batch_is_one_transaction(self):
        svc = self.start({"auth0": {"rules": [
            {"name": "every-login", "on": ["s"], "groups": ["team_login"]}]}})
        base = [e for e in sample_events() if e["data"]["type"] == "s"][0]
        events = []
        for i in range(100):
            e = copy.deepcopy(base)
            e["log_id"] = e["data"]["log_id"] = "9003%052d" % i
            events.append(e)
        r = self.post_auth0(svc, "\n".join(json.dumps(e) for e in events), self.token(),
                            ctype="application/x-ndjson")
        self.assertEqual((r.status, r.json["recorded"]), (202, 100), r)
        self.assertEqual(self.store.count("revocations"), 100)
        self.assertEqual(self.store.count("jobs"), 100 * len(ACCOUNTS))

    def test_blocked_user_ends_as_deny_policies(self):
        """One Auth0 "user blocked" event, all the way to AWS."""
        fake = fake_aws.FakeAws(copy.deepcopy(harness.EXAMPLE_SEED)).start()
        self.addCleanup(fake.stop)
        svc = self.start({"auth0": {"rules": [
            {"name": "blocked", "on": ["user_blocked"], "groups": ["team_opsec"]}]}}, aws=fake)
        events = [e for e in sample_events() if e["log_id"] == BLOCKED]
        # Blocked a minute ago (the sample's own date is long past every
        # session's end: its deny would be cleaned up at once).
        blocked_at = int(time.time()) - 60
        events[0]["data"]["date"] = time.strftime("%Y-%m-%dT%H:%M:%S.250Z",
                                                  time.gmtime(blocked_at))
        r = self.post_auth0(svc, json.dumps(events), self.token())
        self.assertEqual((r.status, r.json["recorded"]), (202, 1), r)
        rev_id = r.json["revocations"][0]["id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            g = svc.request("GET", "/v1/revocations/" + rev_id,
                            token=self.token(scope="revocations:read"))
            if g.json["state"] in ("applied", "partial", "failed"):
                break
            time.sleep(0.1)
        self.assertEqual(g.json["state"], "applied", "%s\n%s" % (g.json, log_tail(svc)))
        expected = sorted(harness.EXAMPLE_SEED["_expected_matches"]["team_opsec"])
        denied = []
        for acct, a in fake.state()["accounts"].items():
            for name, role in a["roles"].items():
                doc = role.get("inline_policies", {}).get(POLICY)
                if doc is not None:
                    text = json.dumps(doc)
                    # the event's own time is the cut-off
                    self.assertIn(harness.rfc3339(blocked_at + 1), text)
                    denied.append("%s/%s" % (acct, name))
        self.assertEqual(sorted(denied), expected)


class GroupChange(EventsCase):

    def event(self, **kw):
        e = {"event_id": "evt-1", "subject": "jane@example.com",
             "groups_removed": ["team_opsec"], "time": "2026-03-12T08:00:00Z"}
        e.update(kw)
        return {k: v for k, v in e.items() if v is not None}

    def post_jwt(self, svc, claims, **kw):
        return svc.request("POST", "/v1/events/group-change",
                           headers={"Content-Type": "application/jwt"},
                           body=self.token(claims=claims, **kw))

    def post_json(self, svc, event, token=None):
        return svc.request("POST", "/v1/events/group-change", json_body=event,
                           token=token or self.token())

    def test_signed_event_and_json_with_bearer(self):
        svc = self.start()
        r = self.post_jwt(svc, self.event())
        self.assertEqual((r.status, r.json["recorded"]), (202, 1), r)
        r2 = self.post_jwt(svc, self.event())  # delivered twice: one event
        self.assertEqual((r2.status, r2.json["replayed"]), (202, 1), r2)
        r3 = self.post_json(svc, self.event(event_id="evt-2", groups_removed=["a", "b", "a"]))
        self.assertEqual((r3.status, r3.json["recorded"]), (202, 1), r3)
        rows = self.rows("group-change")
        self.assertEqual([(row[0], row[1], row[2], json.loads(row[5])) for row in rows],
                         [(ISS + "#evt-1", "jane@example.com", "groups-removed", ["team_opsec"]),
                          (ISS + "#evt-2", "jane@example.com", "groups-removed", ["a", "b"])])

    def test_refusals_store_nothing(self):
        svc = self.start()
        cases = [
            ("wrong audience", lambda: self.post_jwt(svc, self.event(), aud="other"), 401),
            ("no events:write", lambda: self.post_jwt(svc, self.event(), scope="x"), 403),
            ("unknown field", lambda: self.post_json(svc, self.event(groups_remove=["x"])), 400),
            ("no subject", lambda: self.post_json(svc, self.event(subject=None)), 400),
            ("future time", lambda: self.post_json(svc, self.event(time="2099-01-01T00:00:00Z")),
             400),
            ("not JSON", lambda: svc.request("POST", "/v1/events/group-change", body=b"{",
                                             headers={"Content-Type": "application/json"},
                                             token=self.token()), 400),
        ]
        for what, call, status in cases:
            with self.subTest(what):
                r = call()
                self.assertEqual(r.status, status, r)
        self.nothing_stored()

    def test_subject_only_revokes_the_groups_lost_since_last_known(self):
        svc = self.start()
        first = self.post_json(svc, self.event(event_id="c1", groups_removed=None,
                                               groups=["team_opsec", "team_hr"]))
        self.assertEqual(first.status, 202, first)
        # Nothing known before: nothing can be found removed; recorded, noted.
        row = self.rows("group-change")[0]
        self.assertEqual((row[2], row[4], json.loads(row[5])), ("user-changed", "recorded", []))
        self.assertIn("no earlier groups", row[3])
        second = self.post_json(svc, self.event(event_id="c2", groups_removed=None,
                                                groups=["team_hr"],
                                                time="2026-03-12T09:00:00Z"))
        self.assertEqual(second.status, 202, second)
        row = self.rows("group-change")[1]
        self.assertEqual((row[2], json.loads(row[5])), ("user-changed", ["team_opsec"]))


class GroupChangeRules(GroupChange):

    def test_a_star_from_the_sender_is_not_every_group(self):
        svc = self.start()
        r = self.post_json(svc, self.event(groups_removed=["*", "team_a"]))
        self.assertEqual(r.status, 202, r)
        one = r.json["revocations"][0]
        self.assertEqual(one["groups"], ["team_a"])
        self.assertIn('group named "*"', one["note"])

    def test_known_empty_groups_are_known(self):
        svc = self.start({"group-change": {"rules": [
            {"name": "changed", "on": ["user_changed"], "groups": "lookup",
             "fallback": ["team_fallback"]}]}})
        first = self.post_json(svc, self.event(event_id="k1", groups_removed=None, groups=[]))
        self.assertEqual(first.json["revocations"][0]["groups"], ["team_fallback"])
        # Now known: in no group. In none again: nothing lost, no fallback.
        second = self.post_json(svc, self.event(event_id="k2", groups_removed=None, groups=[]))
        self.assertEqual(second.status, 202, second)
        self.assertEqual(second.json["revocations"][0]["groups"], [])
        self.assertIn("lost no group", second.json["revocations"][0]["note"])


class GroupChangeDirectory(EventsCase):
    """A subject-only group-change event, its groups asked from a directory
    (lookup kind "http") served by tests/fakes/fake_idp.py over HTTPS."""

    def setUp(self):
        super().setUp()
        self.idp = fake_idp.FakeIdp().start()
        self.addCleanup(self.idp.stop)

    def sources(self):
        return {"group-change": {"lookup": {
            "kind": "http", "url": self.idp.url + "/directory/users/{subject}/groups"},
            "rules": [{"name": "changed", "on": ["user_changed"], "groups": "lookup",
                       "fallback": ["team_fallback"]}]}}

    def start_with_directory(self):
        svc = Service(self.config(self.sources(), http_client={
            "ca_file": self.idp.ca_file, "timeout_seconds": 3}),
            cwd=self.tmp, logdir=self.tmp, name="service-%d" % self.n)
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        return svc

    def changed(self, svc, event_id):
        r = svc.request("POST", "/v1/events/group-change", token=self.token(),
                        json_body={"event_id": event_id, "subject": "jane@example.com",
                                   "time": "2026-03-12T08:00:00Z"})
        self.assertEqual(r.status, 202, "%r\n%s" % (r, log_tail(svc)))
        return r.json["revocations"][0]

    def test_lost_groups_then_deleted_then_directory_down(self):
        svc = self.start_with_directory()
        self.idp.set_groups("jane@example.com", ["team_a", "team_b"])
        first = self.changed(svc, "d1")   # nothing known before: the fallback
        self.assertEqual(first["groups"], ["team_fallback"])
        self.idp.set_groups("jane@example.com", ["team_a"])
        self.assertEqual(self.changed(svc, "d2")["groups"], ["team_b"])
        # Gone from the directory: every group last known counts.
        self.idp.set_groups("jane@example.com", None)
        gone = self.changed(svc, "d3")
        self.assertEqual(gone["groups"], ["team_a"])
        self.assertIn("no longer in the directory", gone["note"])
        # The directory down: the groups last known and the fallback.
        self.idp.set_groups("jane@example.com", ["team_a"])
        self.idp.set_faults([{"path": "/directory/", "kind": "down"}])
        down = self.changed(svc, "d4")
        self.assertEqual(down["groups"], ["team_a", "team_fallback"])
        self.assertIn("lookup of jane@example.com failed", down["note"])
        # The same event again asks no directory: a replay.
        before = self.idp.count("/directory/users/jane@example.com/groups")
        self.assertTrue(self.changed(svc, "d4")["replayed"])
        self.assertEqual(self.idp.count("/directory/users/jane@example.com/groups"), before)

    def auth0_with_directory(self):
        sources = {"auth0": {
            "lookup": {"kind": "http",
                       "url": self.idp.url + "/directory/users/{subject}/groups"},
            "rules": [{"name": "blocked", "on": ["user_blocked"], "groups": "lookup"}]}}
        svc = Service(self.config(sources, http_client={"ca_file": self.idp.ca_file,
                                                        "timeout_seconds": 5}),
                      cwd=self.tmp, logdir=self.tmp, name="service-%d" % self.n)
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        return svc

    def blocked_events(self, n, prefix="9005"):
        base = [e for e in sample_events() if e["log_id"] == BLOCKED][0]
        events = []
        for i in range(n):
            e = copy.deepcopy(base)
            e["log_id"] = e["data"]["log_id"] = prefix + "%052d" % i
            e["data"]["details"]["request"]["path"] = "/api/v2/users/auth0|u%d" % i
            self.idp.set_groups("auth0|u%d" % i, ["team_%d" % i])
            events.append(e)
        return events

    def test_a_batch_looks_its_users_up_side_by_side(self):
        svc = self.auth0_with_directory()
        events = self.blocked_events(4)
        self.idp.set_faults([{"path": "/directory/", "kind": "slow", "seconds": 1.5}])
        r = self.post_auth0(svc, json.dumps(events), self.token())
        self.assertEqual((r.status, r.json["recorded"]), (202, 4), r)
        self.assertEqual(sorted(x["groups"][0] for x in r.json["revocations"]),
                         ["team_0", "team_1", "team_2", "team_3"])
        calls = [c for c in self.idp.calls() if c["path"].startswith("/directory/")]
        self.assertEqual(len(calls), 4)
        # Each call's interval, as the fake saw it: they all overlap.
        spans = [(c["time"] - c["duration_ms"] / 1000.0, c["time"]) for c in calls]
        self.assertLess(max(a for a, _ in spans), min(b for _, b in spans),
                        "the lookups ran one after another: %r" % spans)

    def test_the_same_event_twice_in_one_delivery(self):
        svc = self.auth0_with_directory()
        events = self.blocked_events(1, prefix="9006")
        r = self.post_auth0(svc, json.dumps(events + events), self.token())
        self.assertEqual(r.status, 202, r)
        self.assertEqual((r.json["recorded"], r.json["replayed"]), (1, 1), r.json)
        ids = {x["id"] for x in r.json["revocations"]}
        self.assertEqual(len(ids), 1)
        self.assertEqual(self.idp.count("/directory/users/auth0|u0/groups"), 1)
        self.assertEqual(len(self.rows()), 1)

    def test_stopping_during_slow_lookups_loses_nothing(self):
        """SIGTERM while an Auth0 batch waits on a slow directory (20 users:
        eight lookups at a time, 2 s each, three rounds): no new lookup
        starts, the batch is answered 503 with nothing of it written (Auth0
        sends it again), and the process exits cleanly instead of aborting on
        a still-suspended connection."""
        sources = {"auth0": {
            "lookup": {"kind": "http",
                       "url": self.idp.url + "/directory/users/{subject}/groups"},
            "rules": [{"name": "blocked", "on": ["user_blocked"], "groups": "lookup"}]}}
        svc = Service(self.config(sources, http_client={"ca_file": self.idp.ca_file,
                                                        "timeout_seconds": 2}),
                      cwd=self.tmp, logdir=self.tmp, name="service-%d" % self.n)
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        self.idp.set_faults([{"path": "/directory/", "kind": "slow", "seconds": 5}])
        base = [e for e in sample_events() if e["log_id"] == BLOCKED][0]
        events = []
        for i in range(20):
            e = copy.deepcopy(base)
            e["log_id"] = e["data"]["log_id"] = "9004%052d" % i
            e["data"]["details"]["request"]["path"] = "/api/v2/users/auth0|slow%d" % i
            events.append(e)
        answers = []

        def post():
            try:
                answers.append(self.post_auth0(svc, json.dumps(events), self.token()))
            except OSError:
                answers.append(None)  # the connection was cut

        t = threading.Thread(target=post)
        t.start()
        time.sleep(1.0)
        t0 = time.monotonic()
        svc.stop(check=True)  # exit 0, no sanitizer report, no abort
        self.assertLess(time.monotonic() - t0, 9, "stopping waited for every lookup")
        t.join(20)
        self.assertTrue(answers and answers[0] is not None, "no answer before the stop")
        self.assertEqual(answers[0].status, 503, answers[0])
        self.assertEqual(self.rows(), [])


class RulesCli(EventsCase):

    def run_cli(self, *args, config=None):
        return subprocess.run([harness.binary_path(), "rules", *args, "--config",
                               config or self.config()], capture_output=True, text=True,
                              env=harness.clean_env(), cwd=self.tmp, timeout=60)

    def test_rules_test_shows_what_a_saved_payload_would_revoke(self):
        config = self.config({"auth0": AUTH0_NAMES})
        p = self.run_cli("test", "--json", os.path.join(DATA, "logstream-json-array.json"),
                         config=config)
        self.assertEqual(p.returncode, 0, p.stderr)
        s = json.loads(p.stdout)
        self.assertEqual((s["received"], s["dropped"], len(s["revocations"])), (9, 4, 5))
        removed = [x for x in s["revocations"] if x["event_id"] == ROLES_REMOVED][0]
        self.assertEqual((removed["rule"], removed["groups"]), ("roles-removed", ["team_opsec"]))
        p = self.run_cli("test", os.path.join(DATA, "logstream-json-lines.jsonl"), config=config)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("9 events: 5 would revoke, 4 no rule matches, 0 malformed", p.stdout)
        self.assertFalse(self.store.exists(), "rules test must record nothing")

    def test_bad_rules_are_named_by_path(self):
        config = self.config({"auth0": {"rules": [
            {"name": "x", "on": ["user blocked"], "groups": "everyone"}]}})
        p = self.run_cli("show", config=config)
        self.assertEqual(p.returncode, 1)
        self.assertIn("sources.auth0.rules[0].on[0]", p.stderr)
        self.assertIn("sources.auth0.rules[0].groups", p.stderr)


if __name__ == "__main__":
    unittest.main()
