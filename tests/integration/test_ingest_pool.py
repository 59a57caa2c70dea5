"""Deliveries that wait on a slow directory do not hold up the others.

A "lookup" rule asks the provider's directory for the user's groups while
the delivery waits (the answer comes after the COMMIT). Each waiting
delivery occupies one of the ingest's threads; when there were only four,
four deliveries stuck on a slow directory (up to http_client.timeout_seconds
each) made every later delivery of any source wait behind them, and under
load only four batches could share a group commit (bench/ingest --auth0).

Here eight Auth0 deliveries whose rule looks the user up in a directory that
takes three seconds to answer are in flight, and a ninth that names its
groups itself (a "from_event" rule) must still be answered at once. The
directory is tests/fakes/fake_idp.py's generic one, over HTTPS.

Run with Debian's /usr/bin/python3.
"""

import copy
import json
import os
import shutil
import tempfile
import threading
import time
import unittest

import harness
from harness import Service, Store

import fake_idp

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "data", "auth0"))
SECRET = "ingest-pool-test-authorization-value-0123456789"
SLOW_SECONDS = 3.0
SLOW_DELIVERIES = 8


def sample_records():
    with open(os.path.join(DATA, "logstream-json-array.json"), "rb") as f:
        records = json.loads(f.read())
    by_kind = {}
    for r in records:
        req = r["data"].get("details", {}).get("request", {})
        if req.get("method") == "patch" and req.get("body", {}).get("blocked") is True:
            by_kind["blocked"] = r
        elif req.get("method") == "delete" and req.get("path", "").endswith("/roles"):
            by_kind["roles_removed"] = r
    return by_kind


def with_log_id(record, log_id):
    r = copy.deepcopy(record)
    r["log_id"] = log_id
    r["data"]["log_id"] = log_id
    return r


class SlowDirectory(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-ingest-pool-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.fake = fake_idp.FakeIdp().start()
        self.addCleanup(self.fake.stop)
        self.db = os.path.join(self.tmp, "pool.db")
        secret_file = os.path.join(self.tmp, "auth0-authorization")
        with open(secret_file, "w") as f:
            f.write(SECRET + "\n")
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"path": self.db},
            "jobs": {"workers": 0},
            "development": {"signing_key_file": os.path.join(self.tmp, "dev-key.pem")},
            "http_client": {"ca_file": self.fake.ca_file, "timeout_seconds": 10},
            "sources": {"auth0": {
                "authorization_file": secret_file,
                "group_names": {"rol_TeamOpsec0000001": "team_opsec"},
                "lookup": {"kind": "http",
                           "url": self.fake.url + "/directory/users/{subject}/groups"},
                "rules": [
                    {"name": "blocked", "on": ["user_blocked"], "groups": "lookup",
                     "fallback": ["team_fallback"]},
                    {"name": "roles", "on": ["roles_removed"], "groups": "from_event"},
                ],
            }},
        }
        path = os.path.join(self.tmp, "config.json")
        harness.write_config(path, cfg)
        self.svc = Service(path, cwd=self.tmp, logdir=self.tmp, name="service")
        self.svc.start()
        self.addCleanup(harness.stop_quietly, self.svc)

    def post(self, records, timeout=30):
        return self.svc.request("POST", "/v1/events/auth0", timeout=timeout,
                                headers={"Content-Type": "application/json",
                                         "Authorization": SECRET},
                                body=json.dumps(records))

    def test_a_delivery_without_lookup_is_not_held_up_by_slow_lookups(self):
        samples = sample_records()
        blocked = samples["blocked"]
        subject = blocked["data"]["details"]["request"]["path"].rsplit("/", 1)[1]
        self.fake.set_groups(subject, ["team_opsec"])
        self.fake.set_faults([{"path": "/directory/", "kind": "slow",
                               "seconds": SLOW_SECONDS}])

        slow_answers = [None] * SLOW_DELIVERIES

        def deliver_slow(i):
            log_id = "900202603120815010000000000000000000000000000000000%04d" % i
            r = self.post([with_log_id(blocked, log_id)])
            slow_answers[i] = (r.status, r.json)

        threads = [threading.Thread(target=deliver_slow, args=(i,))
                   for i in range(SLOW_DELIVERIES)]
        for t in threads:
            t.start()
        # time for all of them to be read and handed to the ingest: from then
        # on the service waits on the directory for each
        time.sleep(0.7)

        fast = self.post([with_log_id(samples["roles_removed"],
                                      "90020260312081744200000000000000000000000000000000000001")])
        # Answered while every slow delivery still waits on the directory:
        # an order, not a time limit.
        waiting = sum(1 for a in slow_answers if a is None)
        self.assertEqual(fast.status, 202, fast.raw)
        self.assertEqual(fast.json["recorded"], 1, fast.raw)
        self.assertEqual(waiting, SLOW_DELIVERIES,
                         "a delivery needing no lookup was answered only after %d of %d"
                         " deliveries waiting on the directory"
                         % (SLOW_DELIVERIES - waiting, SLOW_DELIVERIES))
        for t in threads:
            t.join(timeout=30)
        for status, body in slow_answers:
            self.assertEqual(status, 202, body)
            self.assertEqual(body["revocations"][0]["groups"], ["team_opsec"], body)
        store = Store(self.db)
        self.assertEqual(store.count("revocations"), SLOW_DELIVERIES + 1)


if __name__ == "__main__":
    unittest.main()
