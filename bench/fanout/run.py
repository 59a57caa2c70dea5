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

usage: bench/fanout/run.py [--accounts 20] [--roles 500] [--latency-ms 20]
                           [--concurrency 8] [--skip-sequential]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
import fake_aws  # noqa: E402

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


def run_revoke(binary, cfg_path, env):
    t0 = time.monotonic()
    p = subprocess.run([binary, "revoke", "--config", cfg_path, "--groups", "team_opsec",
                        "--time", "10 minutes ago", "--json"],
                       env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("revoke failed (%d): %s\n%s" % (p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    return wall, json.loads(p.stdout)


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
    ap.add_argument("--skip-sequential", action="store_true")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build-bench", "session-revoker"))
    args = ap.parse_args()

    world = seed(args.accounts, args.roles)
    fake = fake_aws.FakeAws(world).start()
    faults = [{"action": "*", "kind": "latency", "ms": args.latency_ms, "probability": 1.0}]
    tmp = tempfile.mkdtemp(prefix="sr-bench-fanout.")
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
    runs = [("parallel", args.accounts, args.concurrency)]
    if not args.skip_sequential:
        runs.append(("sequential", 1, 1))
    for name, parallel, conc in runs:
        fake.reset()
        fake.set_faults(faults)
        fake.reset_counters()
        cpu0 = time.process_time()  # the fake runs in this process
        wall, report = run_revoke(args.binary, config(parallel, conc), env)
        fake_cpu = time.process_time() - cpu0
        check(fake, args.accounts, args.roles, policy)
        calls = sum(a["aws_calls"] for a in report["accounts"])
        results[name] = (wall, calls, fake_cpu)

    # Critical path of one account at its concurrency limit: AssumeRole, the
    # ListRoles pages, then the matching roles' GetRolePolicy+PutRolePolicy
    # pairs spread over `concurrency` connections.
    matching = math.ceil(args.roles / 10)
    pages = math.ceil((args.roles + 1) / 1000)
    chain = 1 + pages + 2 * math.ceil(matching / args.concurrency)
    bound = chain * args.latency_ms / 1000.0
    par_wall, par_calls, par_cpu = results["parallel"]
    print("machine: %d cores, %s" % (os.cpu_count(), cpu_name()))
    print("world: %d accounts x %d roles (%d matching each), %d ms added to every AWS call"
          % (args.accounts, args.roles, matching, args.latency_ms))
    print("| run | wall s | AWS calls | fake AWS CPU s |")
    print("|---|---|---|---|")
    print("| critical-path bound (%d calls x %d ms) | %.3f | | |" % (chain, args.latency_ms, bound))
    print("| session-revoker revoke (parallel, %d per account) | %.3f | %d | %.3f |"
          % (args.concurrency, par_wall, par_calls, par_cpu))
    if "sequential" in results:
        seq_wall, seq_calls, seq_cpu = results["sequential"]
        print("| sequential walk (one call at a time) | %.3f | %d | %.3f |"
              % (seq_wall, seq_calls, seq_cpu))
    print("wall / bound: %.2f (target <= 2)" % (par_wall / bound))
    if "sequential" in results:
        print("sequential / parallel: %.1fx (target >= 50)" % (seq_wall / par_wall))
    fake.stop()


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
