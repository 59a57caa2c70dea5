"""test_pg_replicas.py - two `serve` processes sharing one PostgreSQL store:
every revocation they apply together ends `applied`.

One throwaway server from scripts/pg-test-server.sh for the file. Two
services (their own connections) on one database, three accounts, three
workers each, the fake AWS answering every call after 40 ms: the jobs of one
revocation run in both processes at once and finish within moments of each
other. A revocation's state is counted from its jobs when each finishes; on
PostgreSQL (READ COMMITTED) two processes counting at once would each see the
other's job still running, and the revocation would stay `applying` with all
its jobs done. Every revocation must reach `applied`, with every apply job
done and its roles denied, whichever process ran which job.

Run with Debian's /usr/bin/python3; needs Debian's postgresql.
"""

import copy
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Key, Service, make_token

SOURCE_DIR = os.environ.get("SR_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(SOURCE_DIR, "scripts", "pg-test-server.sh")
ISS = "https://idp.pg-replicas.test/"
AUD = "session-revoker-pg-replicas"
N_REVOCATIONS = 60
WAIT = 90.0
GRACE = 5.0  # seconds a revocation whose apply jobs are all done may stay "applying"
OPSEC = sorted(harness.EXAMPLE_SEED["_expected_matches"]["team_opsec"])


class TwoReplicasOnePostgres(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sr-pg-replicas-")
        proc = subprocess.run([SCRIPT, "start"], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            shutil.rmtree(cls.tmp, True)
            raise AssertionError("pg-test-server.sh start: %s" % proc.stderr)
        cls.pg = {}
        for line in proc.stdout.splitlines():
            name, _, value = line.partition("=")
            cls.pg[name] = shlex.split(value)[0]
        cls.key = Key("rsa", cls.tmp, "issuer")
        cls.key.write_public_pem()

    @classmethod
    def tearDownClass(cls):
        subprocess.run([SCRIPT, "stop", cls.pg["SR_PG_DIR"]], timeout=60)
        if not os.environ.get("SR_KEEP_TMP"):
            shutil.rmtree(cls.tmp, True)

    def start_service(self, name, fake):
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"url": self.pg["SR_PG_URL"], "readers": 2},
            "auth": {"clock_skew_seconds": 60, "issuers": [
                {"issuer": ISS, "audience": AUD, "algorithms": ["RS256"],
                 "public_key_file": os.path.join(self.tmp, "issuer.pub.pem")}]},
            "log": {"level": "info"},
            "aws": {"accounts": [{"id": a, "role_name": harness.ADMIN_ROLE,
                                  "external_id": harness.EXTERNAL_ID}
                                 for a in harness.EXAMPLE_ACCOUNTS],
                    "max_attempts": 3, "max_retry_seconds": 5, "timeout_seconds": 10},
            "revoke": {"providers": ["auth.example.com/"]},
            "jobs": {"workers": 3, "poll_ms": 50, "retry_base_seconds": 1},
        }
        path = os.path.join(self.tmp, name + ".json")
        harness.write_config(path, cfg)
        svc = Service(path, cwd=self.tmp, logdir=self.tmp, name=name)
        svc.env = {k: v for k, v in svc.env.items() if not k.startswith("AWS_")}
        svc.env.update({"AWS_ENDPOINT_URL": fake.url,
                        "AWS_ACCESS_KEY_ID": harness.EXAMPLE_BASE_KEY,
                        "AWS_SECRET_ACCESS_KEY": harness.EXAMPLE_BASE_SECRET,
                        "AWS_EC2_METADATA_DISABLED": "true", "HOME": self.tmp})
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        return svc

    def token(self, scope):
        return make_token(self.key, "RS256", iss=ISS, aud=AUD, scope=scope)

    def test_revocations_applied_by_both_replicas_end_applied(self):
        fake = harness.fake_aws.FakeAws(copy.deepcopy(harness.EXAMPLE_SEED)).start()
        self.addCleanup(fake.stop)
        fake.set_faults([{"action": "*", "kind": "latency", "ms": 40, "probability": 1.0}])
        services = [self.start_service("replica-a", fake), self.start_service("replica-b", fake)]
        base = int(time.time()) - 600
        ids = []
        for i in range(N_REVOCATIONS):
            svc = services[i % 2]
            r = svc.request("POST", "/v1/revocations", token=self.token("revocations:write"),
                            json_body={"groups": ["team_opsec"], "time": base + i})
            self.assertEqual(r.status, 202, r)
            ids.append(r.json["id"])
        read = self.token("revocations:read")
        deadline = time.monotonic() + WAIT
        pending = list(ids)
        last, jobs_done_at = {}, {}
        while pending and time.monotonic() < deadline:
            for rev_id in list(pending):
                r = services[0].request("GET", "/v1/revocations/" + rev_id, token=read)
                self.assertEqual(r.status, 200, r)
                last[rev_id] = r.json
                if r.json["state"] not in ("applying", "pending"):
                    pending.remove(rev_id)
                elif all(j["state"] == "done" for j in r.json["jobs"] if j["kind"] == "apply"):
                    # every job done: the state has no reason to wait any more
                    jobs_done_at.setdefault(rev_id, time.monotonic())
                    if time.monotonic() - jobs_done_at[rev_id] > GRACE:
                        pending.remove(rev_id)
            time.sleep(0.2)
        stuck = {i: (last[i]["state"], sorted(j["state"] for j in last[i]["jobs"]
                                              if j["kind"] == "apply"))
                 for i in ids if last[i]["state"] != "applied"}
        self.assertEqual(stuck, {}, "not applied (state, its apply jobs' states)")
        for rev_id in ids:
            rev = last[rev_id]
            self.assertEqual(rev["state"], "applied", rev)
            self.assertEqual(sorted(j["state"] for j in rev["jobs"] if j["kind"] == "apply"),
                             ["done"] * len(harness.EXAMPLE_ACCOUNTS), rev)
            denied = sorted("%s/%s" % (x["account"], x["role_arn"].rsplit("/", 1)[1])
                            for x in rev["roles"] if x["outcome"] == "denied")
            self.assertEqual(denied, OPSEC, rev)
        # both replicas ran jobs (what makes two processes count at once)
        ran = [s.stderr().count("msg=engine.role") for s in services]
        self.assertTrue(all(ran), "one replica ran every job: %r" % ran)


if __name__ == "__main__":
    unittest.main()
