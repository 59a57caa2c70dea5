#!/usr/bin/python3
"""bench/apply-latency: from 202 to `applied`, through the job queue.

10 accounts x 100 roles (10% trusting team_opsec), 20 ms added to every AWS
call. A running `session-revoker serve` (jobs.workers = one per account)
receives N revocations one after another, each with a later cut-off than the
last (so every one really writes every matching role); for each, the time
from the 202 to GET showing `applied` is measured. In the same run, the
engine's own direct `session-revoker revoke` does the same work N times
(cut-offs raised the same way), and its wall time is the baseline. The queue
overhead is the difference.

--store: sqlite (default: a file), postgres (a throwaway server started with
scripts/pg-test-server.sh, a fresh database, the server stopped afterwards),
or both: the whole measurement once on each, in the same invocation, against
the same fake AWS (cut-offs keep rising from one store to the next).

usage: bench/apply-latency/run.py [--revocations 20] [--accounts 10] [--roles 100]
                                  [--latency-ms 20] [--store sqlite|postgres|both]
"""
import argparse
import json
import os
import re
import shlex
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
sys.path.insert(0, os.path.join(ROOT, "bench", "fanout"))
import fake_aws  # noqa: E402
from run import seed, KEY, SECRET, PROVIDER  # noqa: E402  (bench/fanout's world)


def pct(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(p / 100.0 * len(values) + 0.5)) - 1))
    return values[k]


def http(method, url, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, json.loads(r.read())


def pg_start():
    """A throwaway PostgreSQL: its SR_PG_* values (pg-test-server.sh start)."""
    out = subprocess.run([os.path.join(ROOT, "scripts", "pg-test-server.sh"), "start"],
                         capture_output=True, text=True, check=True).stdout
    return dict(shlex.split(line)[0].split("=", 1) for line in out.splitlines() if "=" in line)


def pg_stop(pg):
    subprocess.run([os.path.join(ROOT, "scripts", "pg-test-server.sh"), "stop", pg["SR_PG_DIR"]],
                   check=False)


def pg_database(pg, name):
    """A fresh database on the server; its URL."""
    admin = "postgresql://sr@/postgres?host=%s&port=%s" % (pg["SR_PG_SOCKET_DIR"], pg["SR_PG_PORT"])
    subprocess.run(["psql", "-X", "-q", admin, "-c", "CREATE DATABASE " + name], check=True)
    return "postgres://sr@127.0.0.1:%s/%s" % (pg["SR_PG_PORT"], name)


def measure(args, world, fake, store, base):
    """The engine directly, then the service's queue, on one store: the two
    lists of seconds (direct, 202 -> applied)."""
    tmp = tempfile.mkdtemp(prefix="sr-bench-apply.")
    cfg = {"listen": {"address": "127.0.0.1", "port": 0},
           "store": store if store else {"path": os.path.join(tmp, "bench.db")},
           "log": {"level": "warn"},
           "development": {"signing_key_file": os.path.join(tmp, "dev.pem")},
           "aws": {"accounts": [{"id": a, "role_name": "SessionRevokerAdmin"}
                                for a in sorted(world["accounts"])]},
           "revoke": {"providers": [PROVIDER]},
           "jobs": {"workers": args.accounts, "poll_ms": 1000}}
    cfg_path = os.path.join(tmp, "config.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    env = dict(os.environ, AWS_ENDPOINT_URL=fake.url, AWS_ACCESS_KEY_ID=KEY,
               AWS_SECRET_ACCESS_KEY=SECRET, AWS_EC2_METADATA_DISABLED="true")
    token = subprocess.run([args.binary, "token", "--config", cfg_path, "--ttl", "3600"],
                           env=env, capture_output=True, text=True, check=True).stdout.strip()

    # 1. the engine directly, N times, cut-offs raised each time
    direct = []
    for i in range(args.revocations):
        t0 = time.monotonic()
        p = subprocess.run([args.binary, "revoke", "--config", cfg_path, "--groups", "team_opsec",
                            "--time", str(base + i)], env=env, capture_output=True, text=True)
        direct.append(time.monotonic() - t0)
        if p.returncode != 0:
            sys.exit("direct revoke failed: " + p.stdout[-1000:] + p.stderr[-1000:])

    # 2. the same through the service's queue, cut-offs raised further
    srv = subprocess.Popen([args.binary, "serve", "--config", cfg_path], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = srv.stdout.readline()
    m = re.search(r"listening on (http://\S+)", line)
    if not m:
        srv.kill()
        srv.wait()
        sys.exit("serve did not start: " + line)
    url = m.group(1)
    queued = []
    try:
        for i in range(args.revocations):
            doc = {"groups": ["team_opsec"], "time": base + args.revocations + i}
            status, rev = http("POST", url + "/v1/revocations", token, doc)
            t0 = time.monotonic()
            assert status == 202, rev
            while True:
                _, got = http("GET", url + "/v1/revocations/" + rev["id"], token)
                if got["state"] == "applied":
                    break
                if got["state"] in ("failed", "partial"):
                    sys.exit("revocation %s: %s" % (got["state"], json.dumps(got["jobs"])))
                if time.monotonic() - t0 > 60:
                    sys.exit("not applied after 60 s")
                time.sleep(0.005)
            queued.append(time.monotonic() - t0)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=30)
    return direct, queued


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--revocations", type=int, default=20)
    ap.add_argument("--accounts", type=int, default=10)
    ap.add_argument("--roles", type=int, default=100)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--store", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build-bench", "session-revoker"))
    args = ap.parse_args()
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]

    world = seed(args.accounts, args.roles)
    fake = fake_aws.FakeAws(world).start()
    fake.set_faults([{"action": "*", "kind": "latency", "ms": args.latency_ms,
                      "probability": 1.0}])
    pg = None
    results = []
    base = int(time.time()) - 10 * 60
    try:
        for k, name in enumerate(stores):
            store = None
            if name == "postgres":
                pg = pg_start()
                store = {"url": pg_database(pg, "bench_apply_%d" % os.getpid())}
            results.append((name, measure(args, world, fake, store,
                                          base + k * 2 * args.revocations)))
    finally:
        fake.stop()
        if pg is not None:
            pg_stop(pg)

    label = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    print("machine: %d cores" % os.cpu_count())
    print("world: %d accounts x %d roles (%d matching each), %d ms added to every AWS call; "
          "%d revocations each way" % (args.accounts, args.roles, (args.roles + 9) // 10,
                                       args.latency_ms, args.revocations))
    print("| store | path | p50 s | p99 s | max s |")
    print("|---|---|---|---|---|")
    for name, (direct, queued) in results:
        print("| %s | engine direct (`session-revoker revoke`, process start included) "
              "| %.3f | %.3f | %.3f |"
              % (label[name], statistics.median(direct), pct(direct, 99), max(direct)))
        print("| %s | 202 -> `applied` through the job queue (GET polled every 5 ms) "
              "| %.3f | %.3f | %.3f |"
              % (label[name], statistics.median(queued), pct(queued, 99), max(queued)))
    for name, (direct, queued) in results:
        overhead = [q - statistics.median(direct) for q in queued]
        print("%s: queue overhead (queued - median direct): p50 %.3f s, p99 %.3f s "
              "(target p99 <= 1 s)" % (label[name], statistics.median(overhead),
                                       pct(overhead, 99)))


if __name__ == "__main__":
    main()
