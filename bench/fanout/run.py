#!/usr/bin/python3
"""bench/fanout: the revoke engine across many accounts against the fake AWS.

20 accounts x 500 roles (10% matching), 20 ms added to every AWS call. Runs,
in one invocation and against the same fake world reset between runs:
  1. `session-revoker revoke` as configured (accounts in parallel, 8 calls in
     flight per account);
  2. a sequential one-call-at-a-time walk of the same accounts (the same
     binary with aws.parallel_accounts=1 and aws.concurrency_per_account=1).
It reports the wall times, the critical-path bound (the longest chain of
calls any one account needs at its concurrency limit, times the latency) and
the ratios. Every run is checked: exactly the matching roles denied.

The fake AWS runs as --fake-shards processes (default 2, one per core) that
serve the one world together behind nginx, which sends each call to the shard
keeping its account (tests/fakes/README.md, "Shards"): one Python process
checking every signature cannot keep up with 160 connections at once.

usage: bench/fanout/run.py [--accounts 20] [--roles 500] [--latency-ms 20]
                           [--concurrency 8] [--fake-shards 2] [--skip-sequential]
"""
import argparse
import json
import math
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FAKE = os.path.join(ROOT, "tests", "fakes", "fake_aws.py")

PROVIDER = "auth.example.com/"
KEY, SECRET = "AKIAFAKEBENCH0000001", "fakeBenchSecret/0123456789abcdefEXAMPLE"


def trust(group):
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::%s:oidc-provider/" + PROVIDER},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {PROVIDER + ":amr": group}}}]}


def seed(n_accounts, n_roles):
    accounts = {}
    for a in range(n_accounts):
        acct = "%012d" % (100000000001 + a)
        roles = [{"RoleName": "SessionRevokerAdmin", "AssumeRolePolicyDocument": {
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                "Action": "sts:AssumeRole"}]}}]
        for r in range(n_roles):
            group = "team_opsec" if r % 10 == 0 else "team_%03d" % r
            doc = json.loads(json.dumps(trust(group)).replace("%s", acct))
            roles.append({"RoleName": "Role%04d" % r, "AssumeRolePolicyDocument": doc,
                          "MaxSessionDuration": 3600})
        accounts[acct] = {"roles": roles}
    return {"random_seed": 1,
            "base_credentials": [{"access_key_id": KEY, "secret_access_key": SECRET,
                                  "account": "999999999999",
                                  "arn": "arn:aws:iam::999999999999:user/bench"}],
            "accounts": accounts}


class ShardedFake:
    """The fake AWS as `shards` processes behind nginx (one process: no nginx).
    Shard i keeps the accounts fake_aws assigns it; session key ids name their
    shard (ASIA<i>...), which nginx routes on; everything else (the base
    credentials' AssumeRole calls) goes to shard 0."""

    def __init__(self, world, shards, tmp):
        self.tmp = tmp
        self.procs, self.urls, self.nginx = [], [], None
        seed_path = os.path.join(tmp, "seed.json")
        with open(seed_path, "w") as f:
            json.dump(world, f)
        try:
            for i in range(shards):
                args = ["/usr/bin/python3", FAKE, "--seed", seed_path]
                if shards > 1:
                    args += ["--shard", "%d/%d" % (i, shards), "--shard-key", "bench-fanout"]
                proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
                self.procs.append(proc)
                line = proc.stdout.readline().strip()
                if not line.startswith("fake-aws listening on "):
                    raise RuntimeError("fake AWS shard %d did not start: %r" % (i, line))
                self.urls.append(line.rsplit(" ", 1)[1])
            self.url = self.urls[0] if shards == 1 else self._start_nginx()
        except BaseException:
            self.stop()
            raise

    def _start_nginx(self):
        if shutil.which("nginx") is None:
            sys.exit("--fake-shards > 1 needs nginx (SR_WITH_BENCH=1 scripts/install-deps.sh)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        d = os.path.join(self.tmp, "nginx")
        os.makedirs(d, exist_ok=True)
        routes = "".join('    "~Credential=ASIA%d" shard%d;\n' % (i, i)
                         for i in range(1, len(self.urls)))
        upstreams = "".join("  upstream shard%d { server %s; keepalive 512; }\n"
                            % (i, u.split("//", 1)[1]) for i, u in enumerate(self.urls))
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""worker_processes 2;
daemon off;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %(d)s/body;
  proxy_temp_path %(d)s/proxy;
  fastcgi_temp_path %(d)s/fastcgi;
  uwsgi_temp_path %(d)s/uwsgi;
  scgi_temp_path %(d)s/scgi;
  client_max_body_size 2m;
  keepalive_requests 100000;
  map $http_authorization $fake_shard {
    default shard0;
%(routes)s  }
%(upstreams)s  server {
    listen 127.0.0.1:%(port)d backlog=1024;
    location / {
      proxy_pass http://$fake_shard;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
    }
  }
}
""" % {"d": d, "routes": routes, "upstreams": upstreams, "port": port})
        self.nginx = subprocess.Popen(["nginx", "-c", conf], stderr=subprocess.DEVNULL)
        url = "http://127.0.0.1:%d" % port
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/_fake/health", timeout=1).read()
                return url
            except OSError:
                if self.nginx.poll() is not None:
                    sys.exit("nginx did not start: see %s/error.log" % d)
                time.sleep(0.05)
        sys.exit("nginx did not answer on %s" % url)

    def _each(self, path, data=None):
        out = []
        for u in self.urls:
            req = urllib.request.Request(
                u + path, method="GET" if data is None else "POST",
                data=None if data is None else json.dumps(data).encode())
            with urllib.request.urlopen(req, timeout=60) as resp:
                out.append(json.loads(resp.read()))
        return out

    def reset(self):
        self._each("/_fake/reset", {})

    def set_faults(self, faults):
        self._each("/_fake/faults", faults)

    def state(self):
        """One world: each account as its owning shard keeps it."""
        merged = {"accounts": {}}
        for st in self._each("/_fake/state"):
            owned = st["shard"]["accounts"] if st.get("shard") else list(st["accounts"])
            for acct in owned:
                merged["accounts"][acct] = st["accounts"][acct]
        return merged

    def cpu_seconds(self):
        """CPU time so far of the shards and of nginx (master and worker)."""
        total = sum(h["cpu_seconds"] for h in self._each("/_fake/health"))
        if self.nginx is not None:
            tick = os.sysconf("SC_CLK_TCK")
            for pid in os.listdir("/proc"):
                try:
                    with open("/proc/%s/stat" % pid) as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except (OSError, IndexError, ValueError):
                    continue
                if pid == str(self.nginx.pid) or fields[1] == str(self.nginx.pid):
                    total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def stop(self):
        for p in ([self.nginx] if self.nginx else []) + self.procs:
            p.terminate()
        for p in ([self.nginx] if self.nginx else []) + self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def run_revoke(binary, cfg_path, env):
    """(wall seconds, the JSON report, the process's CPU seconds)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([binary, "revoke", "--config", cfg_path, "--groups", "team_opsec",
                        "--time", "10 minutes ago", "--json"],
                       env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit("revoke failed (%d): %s\n%s" % (p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, json.loads(p.stdout), cpu


def check(fake, n_accounts, n_roles, policy):
    state = fake.state()
    denied = 0
    for acct, a in state["accounts"].items():
        for name, role in a["roles"].items():
            has = policy in role.get("inline_policies", {})
            should = name.startswith("Role") and int(name[4:]) % 10 == 0
            if has != should:
                sys.exit("wrong state: %s/%s deny=%s" % (acct, name, has))
            denied += has
    want = n_accounts * math.ceil(n_roles / 10)
    if denied != want:
        sys.exit("denied %d roles, expected %d" % (denied, want))
    return denied


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=20)
    ap.add_argument("--roles", type=int, default=500)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--fake-shards", type=int, default=2,
                    help="fake AWS processes behind nginx (1: one process, no nginx)")
    ap.add_argument("--repeat", type=int, default=5,
                    help="parallel runs; the median is reported")
    ap.add_argument("--skip-sequential", action="store_true")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build-bench", "session-revoker"))
    args = ap.parse_args()

    world = seed(args.accounts, args.roles)
    faults = [{"action": "*", "kind": "latency", "ms": args.latency_ms, "probability": 1.0}]
    tmp = tempfile.mkdtemp(prefix="sr-bench-fanout.")
    fake = ShardedFake(world, args.fake_shards, tmp)
    policy = "session-revoker-deny"

    def config(parallel, concurrency):
        cfg = {"development": {"signing_key_file": os.path.join(tmp, "dev.pem")},
               "log": {"level": "warn"},
               "aws": {"accounts": [{"id": acct, "role_name": "SessionRevokerAdmin"}
                                    for acct in sorted(world["accounts"])],
                       "parallel_accounts": parallel, "concurrency_per_account": concurrency},
               "revoke": {"providers": [PROVIDER], "policy_name": policy}}
        path = os.path.join(tmp, "config-%d-%d.json" % (parallel, concurrency))
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    env = dict(os.environ, AWS_ENDPOINT_URL=fake.url, AWS_ACCESS_KEY_ID=KEY,
               AWS_SECRET_ACCESS_KEY=SECRET, AWS_EC2_METADATA_DISABLED="true")
    for k in ("AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS"):
        env.pop(k, None)

    results = {}
    runs = [("parallel", args.accounts, args.concurrency)] * max(1, args.repeat)
    if not args.skip_sequential:
        runs.append(("sequential", 1, 1))
    try:
        for name, parallel, conc in runs:
            fake.reset()
            fake.set_faults(faults)
            cpu0 = fake.cpu_seconds()
            wall, report, engine_cpu = run_revoke(args.binary, config(parallel, conc), env)
            fake_cpu = fake.cpu_seconds() - cpu0
            check(fake, args.accounts, args.roles, policy)
            calls = sum(a["aws_calls"] for a in report["accounts"])
            results.setdefault(name, []).append((wall, calls, engine_cpu, fake_cpu))
    finally:
        fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    # Critical path of one account at its concurrency limit: AssumeRole, the
    # ListRoles pages, then the matching roles' GetRolePolicy+PutRolePolicy
    # pairs spread over `concurrency` connections.
    matching = math.ceil(args.roles / 10)
    pages = math.ceil((args.roles + 1) / 1000)
    chain = 1 + pages + 2 * math.ceil(matching / args.concurrency)
    bound = chain * args.latency_ms / 1000.0
    par = sorted(results["parallel"])
    par_wall, par_calls, par_engine, par_fake = par[len(par) // 2]
    print("machine: %d cores, %s" % (os.cpu_count(), cpu_name()))
    print("world: %d accounts x %d roles (%d matching each), %d ms added to every AWS call; "
          "fake AWS: %s" % (args.accounts, args.roles, matching, args.latency_ms,
                            "%d processes behind nginx" % args.fake_shards
                            if args.fake_shards > 1 else "one process"))
    print("| run | wall s | AWS calls | session-revoker CPU s | fake AWS CPU s |")
    print("|---|---|---|---|---|")
    print("| critical-path bound (%d calls x %d ms) | %.3f | | | |"
          % (chain, args.latency_ms, bound))
    print("| session-revoker revoke (parallel, %d per account; median of %d: %s) "
          "| %.3f | %d | %.3f | %.3f |"
          % (args.concurrency, len(par), " ".join("%.3f" % r[0] for r in par),
             par_wall, par_calls, par_engine, par_fake))
    if "sequential" in results:
        seq_wall, seq_calls, seq_engine, seq_fake = results["sequential"][0]
        print("| sequential walk (one call at a time) | %.3f | %d | %.3f | %.3f |"
              % (seq_wall, seq_calls, seq_engine, seq_fake))
    print("wall / bound: %.2f (target <= 2)" % (par_wall / bound))
    if "sequential" in results:
        print("sequential / parallel: %.1fx (target >= 50)" % (seq_wall / par_wall))


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
