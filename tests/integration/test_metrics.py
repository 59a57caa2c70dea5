"""GET /metrics: the Prometheus text exposition of the real binary after a
known sequence of requests, checked value by value and by `promtool check
metrics` (Debian's prometheus package); the alert rules in
deploy/prometheus/ checked and unit-tested with `promtool`, and the sample
Grafana dashboard checked against the metrics the service really exposes.

The sequence: a revocation POSTed with a good token and applied in three
accounts of the fake AWS (tests/fakes/fake_aws.py), with ListRoles throttled
twice on the way; a POST with an expired token and one without a token; a
request to a path that is no route; an Auth0 log-stream batch whose
"user blocked" event is recorded, applied too, and whose other events are
dropped by the rules.

Run with Debian's /usr/bin/python3 (PyJWT, cryptography, botocore).
"""

import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import harness  # puts tests/fakes on the path
from harness import Key, Service, make_token

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(ROOT, "tests", "data", "auth0")
ALERTS = os.path.join(ROOT, "deploy", "prometheus", "alerts.yml")
ALERTS_TEST = os.path.join(ROOT, "deploy", "prometheus", "alerts_test.yml")
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "session-revoker.json")
fake_aws = harness.fake_aws

ISS = "https://idp.metrics.test/"
AUD = "session-revoker-metrics"
ACCOUNTS = harness.EXAMPLE_ACCOUNTS
POLICY = "session-revoker-deny"
BLOCKED = "90020260312081501123456789012345678901234567890123456701"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset of (label, value)): float} of the exposition; the
    label values unescaped as the format says."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if m is None:
            raise AssertionError("not a sample line: %r" % line)
        labels = {}
        for k, v in LABEL_RE.findall(m.group(3) or ""):
            labels[k] = v.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name, **labels):
    """The sum over every series of name whose labels include these."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def promtool(*args, stdin=None):
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, text=True,
                          timeout=120)


# A path no route takes: counted under route="unmatched", never by itself.
UNKNOWN_PATH = "/no/such/route/" + "a1b2c3d4" * 5

class MetricsCase(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not os.access(PROMTOOL, os.X_OK):
            raise AssertionError("promtool not found: scripts/install-deps.sh installs it"
                                 " (Debian package prometheus)")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-metrics-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.key = Key("rsa", self.tmp, "issuer")
        self.key.write_public_pem()
        self.db = os.path.join(self.tmp, "metrics.db")
        self.fake = fake_aws.FakeAws(copy.deepcopy(harness.EXAMPLE_SEED)).start()
        self.addCleanup(self.fake.stop)
        self.start()

    def start(self, workers=2):
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"path": self.db},
            "auth": {"issuers": [{"issuer": ISS, "audience": AUD, "algorithms": ["RS256"],
                                  "public_key_file": os.path.join(self.tmp, "issuer.pub.pem")}]},
            "revoke": {"providers": ["auth.example.com/"], "policy_name": POLICY},
            "jobs": {"workers": workers, "poll_ms": 100},
            "aws": {"accounts": [{"id": a, "role_name": harness.ADMIN_ROLE,
                                  "external_id": harness.EXTERNAL_ID} for a in ACCOUNTS],
                    "max_attempts": 4, "max_retry_seconds": 10},
            "sources": {"auth0": {"rules": [
                {"name": "blocked", "on": ["user_blocked"], "groups": ["team_opsec"]}]}},
        }
        path = os.path.join(self.tmp, "config-%d.json" % workers)
        harness.write_config(path, cfg)
        self.svc = Service(path, cwd=self.tmp, logdir=self.tmp, name="service-%d" % workers)
        self.svc.env = {k: v for k, v in self.svc.env.items() if not k.startswith("AWS_")}
        self.svc.env.update({"AWS_ENDPOINT_URL": self.fake.url,
                             "AWS_ACCESS_KEY_ID": harness.EXAMPLE_BASE_KEY,
                             "AWS_SECRET_ACCESS_KEY": harness.EXAMPLE_BASE_SECRET,
                             "AWS_EC2_METADATA_DISABLED": "true", "HOME": self.tmp})
        self.svc.start()
        self.addCleanup(harness.stop_quietly, self.svc)

    def token(self, scope="revocations:write revocations:read", **claims):
        return make_token(self.key, "RS256", claims, iss=ISS, aud=AUD, scope=scope)

    def scrape(self, method="GET"):
        r = self.svc.request(method, "/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        return r.raw.decode()

    def wait_state(self, rev_id, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            g = self.svc.request("GET", "/v1/revocations/" + rev_id, token=self.token())
            if g.json["state"] in ("applied", "partial", "failed") or time.monotonic() > deadline:
                return g.json["state"]
            time.sleep(0.1)

    def wait_jobs_idle(self, timeout=30):
        """Until no apply job is pending or running, as the scrape itself
        shows (the cleanup jobs wait for the sessions to end)."""
        deadline = time.monotonic() + timeout
        while True:
            s = parse(self.scrape())
            busy = value(s, "session_revoker_jobs", kind="apply", state="pending") + \
                value(s, "session_revoker_jobs", kind="apply", state="running")
            if busy == 0 or time.monotonic() > deadline:
                return s
            time.sleep(0.1)

    def test_a_known_sequence_shows_in_the_values(self):
        # Before anything: the families are there, every count is zero.
        text = self.scrape()
        self.assertIn("# TYPE session_revoker_http_requests_total counter", text)
        self.assertIn("# TYPE session_revoker_http_request_duration_seconds histogram", text)
        self.assertIn("session_revoker_job_lag_seconds 0\n", text)
        self.assertIn('session_revoker_revocation_apply_seconds_bucket{le="+Inf"} 0\n', text)

        # A revocation, with ListRoles throttled twice on the way.
        self.fake.set_faults([{"action": "ListRoles", "kind": "throttle", "count": 2}])
        r = self.svc.request("POST", "/v1/revocations", token=self.token(),
                             json_body={"groups": ["team_opsec"], "time": "2 minutes ago"})
        self.assertEqual(r.status, 202, r)
        rev_id = r.json["id"]
        # An expired token, no token, and a path that is no route.
        expired = self.token(exp=harness.now() - 3600, iat=harness.now() - 7200)
        r = self.svc.request("POST", "/v1/revocations", token=expired,
                             json_body={"groups": ["team_opsec"]})
        self.assertEqual(r.status, 401, r)
        r = self.svc.request("POST", "/v1/revocations", json_body={"groups": ["team_opsec"]})
        self.assertEqual(r.status, 401, r)
        r = self.svc.request("GET", UNKNOWN_PATH)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(self.wait_state(rev_id), "applied")

        # An Auth0 batch: the blocked user's event recorded, the rest dropped.
        with open(os.path.join(DATA, "logstream-json-array.json"), "rb") as f:
            events = json.load(f)
        for e in events:
            if e["log_id"] == BLOCKED:  # blocked a minute ago: a later cut-off
                e["data"]["date"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                                  time.gmtime(harness.now() - 60))
        r = self.svc.request("POST", "/v1/events/auth0", body=json.dumps(events),
                             headers={"Content-Type": "application/json"},
                             token=self.token(scope="events:write"))
        self.assertEqual(r.status, 202, r)
        summary = r.json
        self.assertEqual((summary["received"], summary["recorded"]), (len(events), 1))
        self.assertEqual(self.wait_state(summary["revocations"][0]["id"]), "applied")

        s = self.wait_jobs_idle()
        calls = self.fake.calls()
        expected_roles = harness.EXAMPLE_SEED["_expected_matches"]["team_opsec"]

        # Requests by route pattern and status; the raw path never shows.
        self.assertEqual(value(s, "session_revoker_http_requests_total",
                               method="POST", route="/v1/revocations", status="202"), 1)
        self.assertEqual(value(s, "session_revoker_http_requests_total",
                               method="POST", route="/v1/revocations", status="401"), 2)
        self.assertEqual(value(s, "session_revoker_http_requests_total",
                               method="GET", route="unmatched", status="404"), 1)
        self.assertEqual(value(s, "session_revoker_http_requests_total",
                               method="POST", route="/v1/events/auth0", status="202"), 1)
        self.assertEqual(value(s, "session_revoker_http_request_duration_seconds_count",
                               method="POST", route="/v1/revocations"), 3)
        self.assertEqual(value(s, "session_revoker_http_request_duration_seconds_bucket",
                               method="POST", route="/v1/revocations", le="+Inf"), 3)
        self.assertNotIn(UNKNOWN_PATH, self.scrape())  # a label per raw path would grow unbounded
        # Token refusals by reason; never the token itself.
        self.assertEqual(value(s, "session_revoker_token_refusals_total", reason="expired"), 1)
        self.assertEqual(value(s, "session_revoker_token_refusals_total", reason="missing"), 1)
        self.assertEqual(total(s, "session_revoker_token_refusals_total"), 2)
        self.assertNotIn(expired.split(".")[2][:20], self.scrape())
        # Revocations by source and state, jobs by kind and state, from the store.
        self.assertEqual(value(s, "session_revoker_revocations",
                               source="document", state="applied"), 1)
        self.assertEqual(value(s, "session_revoker_revocations",
                               source="auth0", state="applied"), 1)
        self.assertEqual(value(s, "session_revoker_jobs", kind="apply", state="done"),
                         2 * len(ACCOUNTS))
        # Each applied job scheduled its cleanup for when the sessions end:
        # pending, but not due, so nothing lags.
        self.assertEqual(value(s, "session_revoker_jobs", kind="cleanup", state="pending"),
                         2 * len(ACCOUNTS))
        self.assertEqual(value(s, "session_revoker_job_lag_seconds"), 0)
        self.assertEqual(value(s, "session_revoker_job_runs_total", kind="apply", result="done"),
                         2 * len(ACCOUNTS))
        # Roles: the first revocation denied each matching role, the second
        # raised the cut-off of the same roles.
        self.assertEqual(total(s, "session_revoker_roles_total", kind="apply"),
                         2 * len(expected_roles))
        self.assertEqual(value(s, "session_revoker_roles_total", kind="apply", outcome="denied"),
                         2 * len(expected_roles))
        # Every AWS call the fake saw is a call or a retry in the metrics.
        for action in sorted({c["action"] for c in calls}):
            seen = [c for c in calls if c["action"] == action]
            self.assertEqual(total(s, "session_revoker_aws_calls_total", action=action) +
                             value(s, "session_revoker_aws_retries_total", action=action),
                             len(seen), action)
            self.assertEqual(value(s, "session_revoker_aws_calls_total",
                                   action=action, outcome="ok"),
                             len([c for c in seen if 200 <= (c["status"] or 0) < 300]), action)
            self.assertEqual(value(s, "session_revoker_aws_call_duration_seconds_count",
                                   action=action),
                             total(s, "session_revoker_aws_calls_total", action=action), action)
        self.assertEqual(value(s, "session_revoker_aws_retries_total", action="ListRoles"), 2)
        self.assertEqual(value(s, "session_revoker_aws_calls_total", action="PutRolePolicy",
                               outcome="ok"), 2 * len(expected_roles))
        # Both revocations became applied: two observations of 202 to applied.
        self.assertEqual(value(s, "session_revoker_revocation_apply_seconds_count"), 2)
        self.assertEqual(value(s, "session_revoker_revocation_apply_seconds_bucket",
                               le="+Inf"), 2)
        self.assertLess(value(s, "session_revoker_revocation_apply_seconds_sum"), 60)
        # Events by source and outcome, as the batch's own answer counted them.
        for outcome in ("received", "recorded", "replayed", "dropped"):
            self.assertEqual(value(s, "session_revoker_events_total", source="auth0",
                                   outcome=outcome), summary[outcome], outcome)
        self.assertGreater(summary["dropped"], 0)

        # promtool reads a live exposition without a complaint.
        p = promtool("check", "metrics", stdin=self.scrape())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # HEAD: the headers of a GET, no body.
        r = self.svc.request("HEAD", "/metrics")
        self.assertEqual((r.status, r.raw), (200, b""))

    def test_each_refused_token_counts_under_its_reason(self):
        good = self.token()
        t = harness.now()
        cases = [
            ("signature", harness.flip_signature_char(good)),
            ("audience", make_token(self.key, "RS256", iss=ISS, aud="someone-else")),
            ("issuer", make_token(self.key, "RS256", iss="https://nobody.test/", aud=AUD)),
            ("not_yet_valid", self.token(nbf=t + 3600)),
            ("not_yet_valid", self.token(iat=t + 3600)),
            ("expired", self.token(exp=t - 3600, iat=t - 7200)),
            ("algorithm", harness.forge_unsigned(harness.claims_of(good))),
            ("malformed", "not-a-jwt"),
            ("claims", self.token(exp=None)),
            ("insufficient_scope", self.token(scope="revocations:read")),
        ]
        for reason, token in cases:
            r = self.svc.request("POST", "/v1/revocations", token=token,
                                 json_body={"groups": ["team_opsec"]})
            self.assertIn(r.status, (401, 403), (reason, r))
        r = self.svc.request("POST", "/v1/revocations", json_body={"groups": ["team_opsec"]},
                             headers={"Authorization": "Basic dXNlcjpwYXNz"})
        self.assertEqual(r.status, 401, r)
        s = parse(self.scrape())
        want = {}
        for reason, _ in cases + [("malformed", None)]:
            want[reason] = want.get(reason, 0) + 1
        got = {dict(ls)["reason"]: v for (n, ls), v in s.items()
               if n == "session_revoker_token_refusals_total"}
        self.assertEqual(got, want)
        self.assertEqual(value(s, "session_revoker_http_requests_total", method="POST",
                               route="/v1/revocations", status="401"), len(cases))
        self.assertEqual(value(s, "session_revoker_http_requests_total", method="POST",
                               route="/v1/revocations", status="403"), 1)
        self.assertEqual(total(s, "session_revoker_revocations"), 0)

    def test_job_lag_is_the_age_of_the_oldest_due_job(self):
        self.svc.stop()
        self.start(workers=0)  # no worker: every job stays due
        r = self.svc.request("POST", "/v1/revocations", token=self.token(),
                             json_body={"groups": ["team_opsec"], "time": "2 minutes ago"})
        self.assertEqual(r.status, 202, r)
        time.sleep(2.2)
        s = parse(self.scrape())
        self.assertEqual(value(s, "session_revoker_jobs", kind="apply", state="pending"),
                         len(ACCOUNTS))
        self.assertEqual(value(s, "session_revoker_revocations", source="document",
                               state="pending"), 1)
        lag = value(s, "session_revoker_job_lag_seconds")
        self.assertGreaterEqual(lag, 2)
        self.assertLessEqual(lag, 10)
        # A worker takes them: the lag is 0 again and the jobs done.
        self.svc.stop()
        self.start(workers=2)
        self.wait_jobs_idle()
        s = parse(self.scrape())
        self.assertEqual(value(s, "session_revoker_job_lag_seconds"), 0)
        self.assertEqual(value(s, "session_revoker_jobs", kind="apply", state="done"),
                         len(ACCOUNTS))
        self.assertEqual(value(s, "session_revoker_jobs", kind="apply", state="pending"), 0)

    def test_the_dashboard_uses_only_metrics_the_service_exposes(self):
        text = self.scrape()
        families = set(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
        names = set()
        for name, kind in families:
            names.add(name)
            if kind == "histogram":
                names.update(name + s for s in ("_bucket", "_sum", "_count"))
        with open(DASHBOARD, encoding="utf-8") as f:
            dash = json.load(f)
        exprs = []

        def walk(o):
            if isinstance(o, dict):
                if isinstance(o.get("expr"), str):
                    exprs.append(o["expr"])
                for v in o.values():
                    walk(v)
            elif isinstance(o, list):
                for v in o:
                    walk(v)
        walk(dash)
        self.assertGreater(len(exprs), 5)
        used = set()
        for e in exprs:
            used.update(re.findall(r"\bsession_revoker_[a-z_]+", e))
        self.assertEqual(used - names, set(), "the dashboard names metrics that do not exist")
        # And the alert rules too.
        with open(ALERTS, encoding="utf-8") as f:
            rules = f.read()
        used = set(re.findall(r"\bsession_revoker_[a-z_]+", rules))
        self.assertEqual(used - names, set(), "the alert rules name metrics that do not exist")


class AlertRules(unittest.TestCase):

    def test_rules_check_and_fire_as_their_unit_tests_say(self):
        if not os.access(PROMTOOL, os.X_OK):
            raise AssertionError("promtool not found (Debian package prometheus)")
        p = promtool("check", "rules", ALERTS)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = promtool("test", "rules", ALERTS_TEST)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
