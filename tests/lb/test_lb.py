"""test_lb.py - the container image, two replicas behind haproxy.

Run by scripts/lb-test.sh (which builds the image first), as root, with
/usr/bin/python3; $SR_LB_IMAGE names the image. Two containers of the image
(podman, --network host) listen on two loopback ports and share one database
directory; haproxy (Debian) balances them round robin, health-checks /readyz
and retries on a failed connection, an empty answer or a 503; the fake AWS
runs in this process. The config and the issuer's public key are mounted
read-only at /etc/session-revoker/ and found there without SR_CONFIG.

The fake's world is the example seed plus, in each account, one role per
revocation this test sends (LbRole<N>, trusting only group lb_group_<N>): a
revocation reaches exactly its own roles, so "applied exactly once" is
checked role by role: one successful PutRolePolicy per role, the cut-off of
its revocation in force, and nothing else written.

The checks run in order (test_1 ... test_5) on the one set of containers.

SR_LB_STORE=postgres: the replicas share one PostgreSQL instead of one
SQLite file: a container of docker/postgres/Dockerfile ($SR_LB_PG_IMAGE, the
postgres service of docker/compose.postgres.yaml) on a loopback port, its
password from a file (the replicas' store.password_file), TLS required
(sslmode=require in store.url). The same checks run; the store is read with
psql.
"""

import copy
import csv
import http.client
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "integration")))
import harness  # noqa: E402
from harness import fake_aws  # noqa: E402

IMAGE = os.environ.get("SR_LB_IMAGE", "localhost/session-revoker")
STORE = os.environ.get("SR_LB_STORE", "sqlite")
PG_IMAGE = os.environ.get("SR_LB_PG_IMAGE", "localhost/session-revoker-postgres")
PG_USER = PG_DB = "session_revoker"
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
# What this sandbox needs (../shared notes: no cgroup v2, capped rlimits);
# nothing to do with the image.
RUN_FLAGS = ["--network", "host", "--ulimit", "nofile=20000:20000",
             "--ulimit", "nproc=1000:1000"]
UID = 10001
ISS = "https://idp.lb.test/"
AUD = "session-revoker-lb"
PROVIDER = "auth.example.com/"
ACCOUNTS = harness.EXAMPLE_ACCOUNTS
POLICY = "session-revoker-deny"
SID = "SessionRevokerDenyOldSessions"
N_ROLES = 150                # LbRole0 .. LbRole149: one per revocation sent
LEASE = 6                    # jobs.lease_seconds: a dead replica's job is free after this
HAPROXY_SOURCE = "127.0.0.2"  # haproxy talks to the replicas from here (the trusted proxy)
CLIENT_SOURCE = "127.0.0.3"   # this test talks to haproxy from here
DIRECT_SOURCE = "127.0.0.4"   # and to a replica directly from here
WAIT = 60.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def podman(*args, check=True, timeout=120):
    r = subprocess.run(PODMAN + list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("podman %s: exit %d\n%s%s" % (" ".join(args), r.returncode,
                                                          r.stdout, r.stderr))
    return r


def lb_seed():
    """The example world plus LbRole<i> (trusting lb_group_<i>) in every account."""
    seed = copy.deepcopy(harness.EXAMPLE_SEED)
    for acct in ACCOUNTS:
        roles = seed["accounts"][acct]["roles"]
        for i in range(N_ROLES):
            roles.append({
                "RoleName": "LbRole%d" % i, "Path": "/", "MaxSessionDuration": 3600,
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Federated": "arn:aws:iam::%s:oidc-provider/%s"
                                  % (acct, PROVIDER)},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {"%s:amr" % PROVIDER: "lb_group_%d" % i}}}]},
                "inline_policies": {}})
    seed["faults"] = []
    return seed


class PgStore:
    """Read-only look at the replicas' PostgreSQL with psql (harness.Store's
    query(): `?` parameters, rows as dicts, integers as int, NULL as None)."""

    def __init__(self, port, password):
        self.url = "postgresql://%s@127.0.0.1:%d/%s?sslmode=require" % (PG_USER, port, PG_DB)
        self.env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="5")

    def query(self, sql, params=()):
        args = ["psql", "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1", "-P", "null=\\N",
                self.url]
        parts = sql.split("?")
        self.assert_params(parts, params)
        text = parts[0]
        for i, part in enumerate(parts[1:]):
            args += ["-v", "p%d=%s" % (i, params[i])]
            text += ":'p%d'" % i + part
        r = subprocess.run(args, input=text + ";\n", capture_output=True, text=True,
                           env=self.env, timeout=30)
        if r.returncode != 0:
            raise AssertionError("psql: %s" % r.stderr)
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        return [{k: None if v == "\\N" else int(v) if re.fullmatch(r"-?\d+", v) else v
                 for k, v in row.items()} for row in rows]

    @staticmethod
    def assert_params(parts, params):
        if len(parts) - 1 != len(params):
            raise AssertionError("%d ? for %d parameters" % (len(parts) - 1, len(params)))


class Postgres:
    """The postgres service of docker/compose.postgres.yaml, on a loopback port:
    a container of $SR_LB_PG_IMAGE with its password from a file and its data
    in a directory of the test."""

    def __init__(self, case, password_file):
        self.case = case
        self.name = "sr-lb-pg"
        self.port = None
        self.password_file = password_file
        self.data = os.path.join(case.tmp, "pg-data")

    def start(self):
        """On loopback only, on a free port: another process may take the
        port between free_port() and the server's bind (--network host), so a
        server that could not bind is started again on another (3 tries)."""
        for attempt in range(3):
            self.port = free_port()
            podman("rm", "-f", "-i", self.name, check=False)
            shutil.rmtree(self.data, True)
            os.mkdir(self.data, 0o700)
            podman("run", "-d", "--name", self.name, *RUN_FLAGS,
                   "-e", "SR_PG_PORT=%d" % self.port,
                   "-e", "SR_PG_PASSWORD_FILE=/run/secrets/pg-password",
                   "-v", "%s:/run/secrets/pg-password:ro" % self.password_file,
                   "-v", "%s:/var/lib/postgresql/data" % self.data, PG_IMAGE,
                   "-c", "listen_addresses=127.0.0.1")
            deadline = time.monotonic() + WAIT
            while podman("healthcheck", "run", self.name, check=False).returncode != 0:
                running = podman("inspect", self.name, "--format", "{{.State.Running}}",
                                 check=False).stdout.strip() == "true"
                if not running and "could not" in self.logs() and attempt < 2:
                    break  # the port was taken: another one
                if time.monotonic() > deadline or not running:
                    raise AssertionError("postgres not ready:\n%s" % self.logs()[-3000:])
                time.sleep(0.5)
            else:
                return

    def logs(self):
        r = podman("logs", self.name, check=False)
        return r.stdout + r.stderr

    def remove(self):
        podman("rm", "-f", "-t", "10", "-i", self.name, check=False)


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        return "<%s %s %s>" % (self.status, self.headers.get("x-served-by"), self.body[:300])


def request(port, method, path, *, body=None, headers=None, source=CLIENT_SOURCE, timeout=30):
    """One HTTP/1.1 request on a new connection from `source`; None when the
    connection failed (nothing answered)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0))
    try:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        hdrs = dict(headers or {})
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return Answer(r.status, {k.lower(): v for k, v in r.getheaders()},
                      r.read().decode("utf-8", "replace"))
    except OSError as e:
        return Answer(None, {}, "%s: %s" % (type(e).__name__, e))
    finally:
        conn.close()


class Replica:
    """One container of the image, on a loopback port."""

    def __init__(self, case, name, port):
        self.case = case
        self.name = name
        self.port = port

    def start(self):
        c = self.case
        podman("rm", "-f", "-i", self.name, check=False)
        env = {"SR_LISTEN_PORT": str(self.port), "SR_LISTEN_ADDRESS": "127.0.0.1",
               "AWS_ENDPOINT_URL": c.fake.url,
               "AWS_ACCESS_KEY_ID": harness.EXAMPLE_BASE_KEY,
               "AWS_SECRET_ACCESS_KEY": harness.EXAMPLE_BASE_SECRET,
               "AWS_EC2_METADATA_DISABLED": "true"}
        args = ["run", "-d", "--name", self.name, "--hostname", self.name] + RUN_FLAGS
        for k, v in env.items():
            args += ["-e", "%s=%s" % (k, v)]
        args += ["-v", "%s:/etc/session-revoker:ro" % c.etc,
                 "-v", "%s:/var/lib/session-revoker" % c.data, IMAGE]
        podman(*args)
        self.wait_ready()

    def restart(self):
        """podman start of the stopped container (same name, same mounts)."""
        podman("start", self.name)
        self.wait_ready()

    def wait_ready(self, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            r = request(self.port, "GET", "/readyz", source=DIRECT_SOURCE, timeout=5)
            if r.status == 200:
                return
            if time.monotonic() > deadline or not self.running():
                raise AssertionError("%s not ready: %r\n%s" % (self.name, r, self.logs()[-4000:]))
            time.sleep(0.2)

    def running(self):
        r = podman("inspect", self.name, "--format", "{{.State.Running}}", check=False)
        return r.stdout.strip() == "true"

    def exit_code(self):
        return int(podman("inspect", self.name, "--format", "{{.State.ExitCode}}").stdout)

    def logs(self):
        r = podman("logs", self.name, check=False)
        return r.stdout + r.stderr


class Haproxy:
    def __init__(self, case, port, backends):
        self.case = case
        self.port = port
        self.cfg = os.path.join(case.tmp, "haproxy.cfg")
        self.log = os.path.join(case.tmp, "haproxy.log")
        servers = "\n".join("    server %s 127.0.0.1:%d" % (r.name, r.port) for r in backends)
        with open(self.cfg, "w", encoding="utf-8") as fh:
            fh.write(HAPROXY_CFG % {"port": port, "source": HAPROXY_SOURCE, "servers": servers})
        self.proc = None

    def start(self):
        check = subprocess.run(["haproxy", "-c", "-q", "-f", self.cfg],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise AssertionError("haproxy -c: %s%s" % (check.stdout, check.stderr))
        self.logfh = open(self.log, "wb")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.cfg],
                                     stdout=self.logfh, stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc is not None:
            self.logfh.close()

    def text(self):
        with open(self.log, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def retried(self):
        """The request lines of haproxy's log (httplog) whose retries field
        is not 0: requests it sent again, to the other replica."""
        return [ln for ln in self.text().splitlines() if RETRIED.search(ln)]


# httplog: ... <actconn>/<feconn>/<beconn>/<srv_conn>/<retries> <queues> "<request>"
# (retries "+N" when the request was redispatched to another server).
RETRIED = re.compile(r' \d+/\d+/\d+/\d+/\+?[1-9]\d* \d+/\d+ "[A-Z]+ ')


# The balancer of this test: docker/haproxy.cfg's policy (round robin,
# /readyz checks, retry-on conn-failure empty-response 503, redispatch) with
# loopback addresses and the answering server's name in a response header so
# that the test sees which replica answered. Checks every 2 s: requests reach
# a stopped replica before haproxy marks it down, and must be retried.
HAPROXY_CFG = """\
global
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    retry-on conn-failure empty-response 503
    option redispatch 1

frontend revoker
    bind 127.0.0.1:%(port)d
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    option forwardfor
    http-response set-header X-Served-By %%s
    default-server check inter 2s fall 1 rise 1 source %(source)s
%(servers)s
"""


class LoadBalanced(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sr-lb-")
        cls.etc = os.path.join(cls.tmp, "etc")
        cls.data = os.path.join(cls.tmp, "data")
        os.makedirs(cls.etc)
        os.chmod(cls.tmp, 0o755)
        os.chmod(cls.etc, 0o755)
        os.mkdir(cls.data, 0o700)
        os.chown(cls.data, UID, UID)
        cls.key = harness.Key("rsa", cls.etc, "issuer")
        os.chmod(cls.key.write_public_pem(), 0o644)
        cls.fake = fake_aws.FakeAws(lb_seed()).start()
        cls.postgres = None
        if STORE == "postgres":
            cls.pg_password = os.urandom(24).hex()
            pw = os.path.join(cls.etc, "pg.password")
            with open(pw, "w", encoding="utf-8") as fh:
                fh.write(cls.pg_password + "\n")
            os.chown(pw, UID, UID)
            os.chmod(pw, 0o400)
            cls.postgres = Postgres(cls, pw)
            try:
                cls.postgres.start()
            except BaseException:
                cls.tearDownClass()
                raise
        cls.trusted_proxies = cls.supports_trusted_proxies()
        cls.write_config()
        cls.replicas = [Replica(cls, "sr-lb-a", free_port()), Replica(cls, "sr-lb-b", free_port())]
        cls.haproxy = Haproxy(cls, free_port(), cls.replicas)
        cls.next_role = 0
        try:
            for r in cls.replicas:
                r.start()
            cls.haproxy.start()
            cls.wait_balanced()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for r in getattr(cls, "replicas", []):
            if os.environ.get("SR_LB_KEEP"):
                continue
            with open(os.path.join(cls.tmp, r.name + ".log"), "w", encoding="utf-8") as fh:
                fh.write(r.logs())
            podman("rm", "-f", "-t", "2", "-i", r.name, check=False)
        if getattr(cls, "haproxy", None) is not None:
            cls.haproxy.stop()
        if getattr(cls, "postgres", None) is not None and not os.environ.get("SR_LB_KEEP"):
            with open(os.path.join(cls.tmp, "postgres.log"), "w", encoding="utf-8") as fh:
                fh.write(cls.postgres.logs())
            cls.postgres.remove()
        cls.fake.stop()
        if not os.environ.get("SR_LB_KEEP"):
            shutil.rmtree(cls.tmp, True)
        else:
            print("kept", cls.tmp, file=sys.stderr)

    @classmethod
    def config(cls, trusted_proxies=None):
        cfg = {
            "store": {"path": "/var/lib/session-revoker/session-revoker.db"},
            "auth": {"clock_skew_seconds": 60, "issuers": [
                {"issuer": ISS, "audience": AUD, "algorithms": ["RS256"],
                 "public_key_file": "/etc/session-revoker/issuer.pub.pem"}]},
            "log": {"level": "info"},
            "aws": {"accounts": [{"id": a, "role_name": harness.ADMIN_ROLE,
                                  "external_id": harness.EXTERNAL_ID} for a in ACCOUNTS],
                    "max_attempts": 3, "max_retry_seconds": 5, "timeout_seconds": 10,
                    "late_write_seconds": 2},
            "revoke": {"providers": [PROVIDER], "policy_name": POLICY},
            "jobs": {"workers": 2, "poll_ms": 200, "lease_seconds": LEASE,
                     "retry_base_seconds": 1},
        }
        if trusted_proxies is not None:
            cfg["listen"] = {"trusted_proxies": trusted_proxies}
        if cls.postgres is not None:
            cfg["store"] = {"url": "postgres://%s@127.0.0.1:%d/%s?sslmode=require"
                                   % (PG_USER, cls.postgres.port, PG_DB),
                            "password_file": "/etc/session-revoker/pg.password"}
        return cfg

    @classmethod
    def store(cls):
        """What the replicas share, to read: the SQLite file or the PostgreSQL."""
        if cls.postgres is not None:
            return PgStore(cls.postgres.port, cls.pg_password)
        return harness.Store(os.path.join(cls.data, "session-revoker.db"))

    @classmethod
    def supports_trusted_proxies(cls):
        """Whether the image's check-config takes listen.trusted_proxies."""
        probe = os.path.join(cls.tmp, "probe")
        os.makedirs(probe)
        shutil.copy(os.path.join(cls.etc, "issuer.pub.pem"), probe)
        os.chmod(probe, 0o755)
        os.chmod(os.path.join(probe, "issuer.pub.pem"), 0o644)
        # (on the SQLite store: check-config reads store.password_file, not mounted here)
        harness.write_config(os.path.join(probe, "config.json"),
                             dict(cls.config(trusted_proxies=[HAPROXY_SOURCE]),
                                  store={"path": "/var/lib/session-revoker/session-revoker.db"}))
        os.chmod(os.path.join(probe, "config.json"), 0o644)
        r = podman("run", "--rm", *RUN_FLAGS, "-v", "%s:/etc/session-revoker:ro" % probe,
                   IMAGE, "check-config", "--config", "/etc/session-revoker/config.json",
                   check=False)
        return r.returncode == 0

    @classmethod
    def write_config(cls):
        path = os.path.join(cls.etc, "config.json")
        harness.write_config(path, cls.config(
            trusted_proxies=[HAPROXY_SOURCE] if cls.trusted_proxies else None))
        os.chmod(path, 0o644)

    @classmethod
    def wait_balanced(cls, timeout=WAIT):
        """Until GETs through haproxy are answered by both replicas."""
        deadline = time.monotonic() + timeout
        seen = set()
        while seen != {r.name for r in cls.replicas}:
            r = request(cls.haproxy.port, "GET", "/readyz", timeout=5)
            if r.status == 200:
                seen.add(r.headers.get("x-served-by"))
            if time.monotonic() > deadline:
                raise AssertionError("haproxy reaches only %r\n%s" % (seen, cls.haproxy.text()))
            time.sleep(0.1)

    # -- requests ------------------------------------------------------------

    def token(self, scope):
        return harness.make_token(self.key, "RS256", iss=ISS, aud=AUD, scope=scope)

    def new_group(self):
        cls = type(self)
        i = cls.next_role
        self.assertLess(i, N_ROLES, "the seed has too few LbRoles")
        cls.next_role += 1
        return i

    def post(self, i, *, key=None, cutoff=None, port=None, source=CLIENT_SOURCE, headers=None):
        """POST the revocation of lb_group_<i> (through haproxy by default)."""
        doc = {"groups": ["lb_group_%d" % i], "reason": "lb test"}
        if cutoff is not None:
            doc["time"] = harness.rfc3339(cutoff)
        hdrs = {"Authorization": "Bearer " + self.token("revocations:write"),
                "Idempotency-Key": key or uuid.uuid4().hex}
        hdrs.update(headers or {})
        return request(port or self.haproxy.port, "POST", "/v1/revocations", body=doc,
                       headers=hdrs, source=source)

    def get(self, rev_id, port=None):
        return request(port or self.haproxy.port, "GET", "/v1/revocations/" + rev_id,
                       headers={"Authorization": "Bearer " + self.token("revocations:read")})

    def wait_applied(self, ids, timeout=WAIT, port=None):
        """Every revocation in ids {i: rev_id} applied; returns {i: GET body}."""
        deadline = time.monotonic() + timeout
        done = {}
        while True:
            for i, rev_id in ids.items():
                if i in done:
                    continue
                r = self.get(rev_id, port=port)
                self.assertEqual(r.status, 200, r)
                if r.json["state"] in ("applied", "partial", "failed"):
                    self.assertEqual(r.json["state"], "applied", json.dumps(r.json, indent=1))
                    done[i] = r.json
            if len(done) == len(ids):
                return done
            if time.monotonic() > deadline:
                missing = {i: self.get(ids[i], port=port).json for i in ids if i not in done}
                self.fail("not applied within %.0f s: %s" % (timeout, json.dumps(missing)[:6000]))
            time.sleep(0.3)

    # -- the fake's record -----------------------------------------------------

    def assert_applied_once(self, revs, cutoffs=None):
        """Each revocation i: in every account exactly one successful
        PutRolePolicy on LbRole<i>, its outcome denied with that call's
        request id, its cut-off the one in force; and no write on any other
        role than the LbRoles of the revocations sent."""
        calls = self.fake.calls()
        puts = {}
        for c in calls:
            if c["action"] == "PutRolePolicy" and c["status"] == 200:
                puts.setdefault((c["account"], c["role"]), []).append(c)
        sent = {"LbRole%d" % i for i in range(type(self).next_role)}
        others = sorted({"%s/%s" % k for k in puts if k[1] not in sent})
        self.assertEqual(others, [], "writes on roles no revocation reaches")
        deletes = [c for c in calls if c["action"] == "DeleteRolePolicy"]
        self.assertEqual(deletes, [])
        state = self.fake.state()["accounts"]
        for i, rev in revs.items():
            role = "LbRole%d" % i
            for acct in ACCOUNTS:
                got = puts.get((acct, role), [])
                self.assertEqual(len(got), 1, "%s/%s: %d successful PutRolePolicy calls"
                                 % (acct, role, len(got)))
                entries = [r for r in rev["roles"] if r["account"] == acct
                           and r["role_arn"].endswith(":role/" + role)]
                self.assertEqual(len(entries), 1, json.dumps(rev["roles"]))
                e = entries[0]
                self.assertIn(e["outcome"], ("denied", "unchanged"), e)
                if e["outcome"] == "denied":
                    self.assertEqual(e["request_id"], got[0]["request_id"], e)
                doc = state[acct]["roles"][role]["inline_policies"][POLICY]
                ours = [s for s in doc["Statement"] if s.get("Sid") == SID]
                self.assertEqual(len(ours), 1, doc)
                in_force = ours[0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
                self.assertEqual(in_force, e["cutoff"], e)
                if cutoffs is not None:
                    self.assertEqual(harness.parse_rfc3339(in_force), cutoffs[i], e)
            # Only LbRole<i> (in each account) is in this revocation's roles.
            names = {r["role_arn"].rsplit("/", 1)[1] for r in rev["roles"]}
            self.assertEqual(names, {role}, rev["roles"])

    # -- the checks ------------------------------------------------------------

    def test_1_posts_through_haproxy_are_applied_once(self):
        """POSTs land on both replicas, each revocation is applied exactly once,
        and GET answers the same whichever replica serves it."""
        ids, cutoffs, served = {}, {}, []
        for _ in range(8):
            i = self.new_group()
            cutoffs[i] = int(time.time()) - 600 - i
            r = self.post(i, cutoff=cutoffs[i])
            self.assertEqual(r.status, 202, r)
            ids[i] = r.json["id"]
            served.append(r.headers.get("x-served-by"))
        self.assertEqual(set(served), {"sr-lb-a", "sr-lb-b"}, "POSTs not balanced: %r" % served)
        revs = self.wait_applied(ids)
        self.assert_applied_once(revs, cutoffs)
        # GET of each revocation from either replica: same revocation, both answer.
        by = {}
        for i, rev_id in ids.items():
            for _ in range(2):
                r = self.get(rev_id)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["id"], rev_id)
                self.assertEqual(r.json["state"], "applied")
                self.assertEqual(r.json["roles"], revs[i]["roles"])
                by.setdefault(r.headers["x-served-by"], set()).add(rev_id)
        self.assertEqual(sorted(by), ["sr-lb-a", "sr-lb-b"])
        # Every revocation answered by each replica directly too.
        for rep in self.replicas:
            for rev_id in ids.values():
                r = self.get(rev_id, port=rep.port)
                self.assertEqual((r.status, r.json["id"]), (200, rev_id), r)

    def test_2_sigkill_loses_nothing_answered_202(self):
        """A stream of POSTs through haproxy; one replica is killed with
        SIGKILL while it holds jobs. Every POST answered 202 is applied,
        exactly once, by the survivor."""
        a, b = self.replicas
        self.addCleanup(self.revive, a)
        # Slow writes, so that jobs are in flight when the kill comes.
        self.fake.set_faults([{"kind": "latency", "action": "PutRolePolicy", "ms": 1500}])
        self.addCleanup(self.fake.set_faults, [])
        answers, ids = {}, {}
        stop = threading.Event()
        n_posts = 14

        def stream():
            for _ in range(n_posts):
                if stop.is_set():
                    break
                i = self.new_group()
                answers[i] = self.post(i)
                time.sleep(0.25)

        store = self.store()
        t = threading.Thread(target=stream)
        t.start()
        try:
            # Kill a in the middle of the stream, when it holds a running job.
            deadline = time.monotonic() + WAIT
            while True:
                held = [r["id"] for r in store.query(
                    "SELECT id FROM jobs WHERE state = 'running' AND lease_owner LIKE ?",
                    (a.name + ":%",))]
                keys = list(answers)
                last = answers[max(keys)] if keys else None
                # Just after b answered: round robin sends the next POST to a.
                if held and len(answers) >= 4 and last is not None and \
                        last.headers.get("x-served-by") == b.name:
                    break
                self.assertLess(time.monotonic(), deadline, "replica a never ran a job")
                time.sleep(0.05)
            podman("kill", "--signal", "KILL", a.name)
            posted_at_kill = len(answers)
        finally:
            t.join(120)
            stop.set()
        self.assertFalse(a.running())
        self.assertEqual(a.exit_code(), 137)
        self.assertLess(posted_at_kill, n_posts, "the kill came after the stream")
        for i, r in answers.items():
            if r.status == 202:
                ids[i] = r.json["id"]
        lost = {i: r for i, r in answers.items() if r.status != 202}
        # haproxy retried what the killed replica did not answer: every POST got 202.
        self.assertEqual(lost, {}, "POSTs not answered 202:\n%s" % self.haproxy.text()[-4000:])
        self.assertEqual(len(ids), n_posts)
        # The survivor finishes them all (the dead one's leases expire), alone:
        # a stays dead until every one is applied.
        revs = self.wait_applied(ids, timeout=WAIT + LEASE, port=b.port)
        self.assertFalse(a.running())
        marks = ",".join("?" * len(held))
        states = store.query("SELECT id, state, lease_owner FROM jobs WHERE id IN (%s)" % marks,
                             tuple(held))
        self.assertEqual([(r["state"], r["lease_owner"]) for r in states],
                         [("done", None)] * len(held), states)
        self.assertEqual(store.query("SELECT count(*) AS n FROM jobs WHERE lease_owner LIKE ?",
                                     (a.name + ":%",))[0]["n"], 0)
        self.assert_applied_once(revs)

    def revive(self, rep):
        """After a check that stopped rep: start it again, behind haproxy."""
        if not rep.running():
            rep.restart()
        self.wait_balanced()

    def test_3_forwarded_for_only_from_a_trusted_proxy(self):
        """The request log names the client haproxy forwarded (X-Forwarded-For)
        only because haproxy's address is in listen.trusted_proxies; the same
        header sent straight to a replica by anyone else is not believed."""
        if not self.trusted_proxies:
            self.skipTest("PENDING: this image's config has no listen.trusted_proxies "
                          "(the h-logs branch adds it); nothing to check")
        via = {}
        for n in range(2):
            rid = "lbxff-via-%d-%s" % (n, uuid.uuid4().hex[:8])
            r = request(self.haproxy.port, "GET", "/healthz", headers={"X-Request-Id": rid})
            self.assertEqual(r.status, 200, r)
            via[rid] = r.headers["x-served-by"]
        direct = {}
        for rep in self.replicas:
            rid = "lbxff-direct-%s" % uuid.uuid4().hex[:8]
            r = request(rep.port, "GET", "/healthz", source=DIRECT_SOURCE,
                        headers={"X-Request-Id": rid, "X-Forwarded-For": "198.51.100.7",
                                 "Forwarded": "for=198.51.100.8"})
            self.assertEqual(r.status, 200, r)
            direct[rid] = rep.name
        logs = {rep.name: rep.logs() for rep in self.replicas}

        def client_of(rid, name):
            lines = [ln for ln in logs[name].splitlines()
                     if "http.request" in ln and rid in ln]
            self.assertEqual(len(lines), 1, "%s: request %s logged %d times"
                             % (name, rid, len(lines)))
            fields = dict(f.split("=", 1) for f in lines[0].split() if "=" in f)
            self.assertIn("client", fields, lines[0])
            return fields["client"].strip('"')

        for rid, name in via.items():
            self.assertEqual(client_of(rid, name), CLIENT_SOURCE)
        for rid, name in direct.items():
            self.assertEqual(client_of(rid, name), DIRECT_SOURCE)

    def test_4_rolling_restart_drops_nothing(self):
        """Stop a replica (SIGTERM), start it again, then the other, while
        POSTs and GETs stream through haproxy: every request is answered,
        POSTs with 202, and every revocation is applied exactly once."""
        for rep in self.replicas:
            self.addCleanup(self.revive, rep)
        answers = []
        stop = threading.Event()
        retried_before = len(self.haproxy.retried())

        def stream():
            while not stop.is_set() and type(self).next_role < N_ROLES:
                i = self.new_group()
                r = self.post(i)
                answers.append(("POST", i, r))
                if r.status == 202:
                    answers.append(("GET", i, self.get(r.json["id"])))
                time.sleep(0.2)

        t = threading.Thread(target=stream)
        t.start()
        try:
            for rep in self.replicas:
                time.sleep(1)
                podman("stop", "-t", "30", rep.name, timeout=60)
                self.assertEqual(rep.exit_code(), 0, rep.logs()[-3000:])
                time.sleep(1)
                rep.restart()
                self.wait_balanced()
            time.sleep(1)
        finally:
            stop.set()
            t.join(60)
        bad = [(m, i, r) for m, i, r in answers
               if r.status != (202 if m == "POST" else 200)]
        self.assertEqual(bad, [], "dropped during the rolling restart:\n%s"
                         % self.haproxy.text()[-4000:])
        posts = {i: r.json["id"] for m, i, r in answers if m == "POST"}
        self.assertGreater(len(posts), 10)
        revs = self.wait_applied(posts)
        self.assert_applied_once(revs)
        # haproxy did retry: a replica was down while requests streamed.
        self.assertRegex(self.haproxy.text(), r"Server replicas/sr-lb-[ab] is DOWN")
        self.assertGreater(len(self.haproxy.retried()), retried_before,
                           "no request was retried during the rolling restart")

    def test_5_image_health_and_user(self):
        """The image's HEALTHCHECK probes /readyz and passes; the service runs
        as uid 10001; the config came from /etc/session-revoker/ (no SR_CONFIG)."""
        a = self.replicas[0]
        hc = podman("inspect", a.name, "--format", "{{json .Config.Healthcheck}}").stdout
        self.assertIn("/readyz", hc)
        r = podman("healthcheck", "run", a.name, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        uid = podman("exec", a.name, "id", "-u").stdout.strip()
        self.assertEqual(uid, str(UID))
        env = podman("exec", a.name, "sh", "-c", "tr '\\0' '\\n' < /proc/1/environ").stdout
        self.assertIn("SR_CONFIG=/etc/session-revoker/config.json", env.splitlines())
        w = podman("exec", a.name, "touch", "/etc/session-revoker/x", check=False)
        self.assertNotEqual(w.returncode, 0, "the config mount is writable")

    def test_6_the_compose_sample_config_runs(self):
        """docker/config.example.json and its secret, mounted where
        docker/compose.yaml mounts them, take a token minted the way README
        says, and the revocation is applied in the example accounts."""
        src = os.environ.get("SR_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
        etc = os.path.join(self.tmp, "sample-etc")
        data = os.path.join(self.tmp, "sample-data")
        os.makedirs(os.path.join(etc, "secrets"))
        os.chmod(etc, 0o755)
        os.chmod(os.path.join(etc, "secrets"), 0o755)
        secret = os.urandom(32).hex()
        path = os.path.join(etc, "secrets", "ops.secret")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(secret + "\n")
        os.chown(path, UID, UID)
        os.chmod(path, 0o400)
        os.mkdir(data, 0o700)
        os.chown(data, UID, UID)
        rep = Replica(self, "sr-lb-sample", free_port())
        podman("rm", "-f", "-i", rep.name, check=False)
        if not os.environ.get("SR_LB_KEEP"):
            self.addCleanup(podman, "rm", "-f", "-t", "2", "-i", rep.name, check=False)
        podman("run", "-d", "--name", rep.name, *RUN_FLAGS,
               "-e", "SR_LISTEN_PORT=%d" % rep.port, "-e", "SR_LISTEN_ADDRESS=127.0.0.1",
               "-e", "AWS_ENDPOINT_URL=" + self.fake.url,
               "-e", "AWS_ACCESS_KEY_ID=" + harness.EXAMPLE_BASE_KEY,
               "-e", "AWS_SECRET_ACCESS_KEY=" + harness.EXAMPLE_BASE_SECRET,
               "-e", "AWS_EC2_METADATA_DISABLED=true",
               "-v", "%s:/etc/session-revoker/config.json:ro"
               % os.path.join(src, "docker", "config.example.json"),
               "-v", "%s:/etc/session-revoker/secrets/ops.secret:ro" % path,
               "-v", "%s:/var/lib/session-revoker" % data, IMAGE)
        rep.wait_ready()
        t = int(time.time())
        tok = harness.jwt.encode({"iss": "ops-scripts", "aud": "session-revoker", "sub": "me",
                                  "scope": "revocations:write revocations:read",
                                  "iat": t, "exp": t + 600}, secret, algorithm="HS256")
        r = request(rep.port, "POST", "/v1/revocations",
                    body={"groups": ["team_opsec"], "time": "10 minutes ago"},
                    headers={"Authorization": "Bearer " + tok})
        self.assertEqual(r.status, 202, "%r\n%s" % (r, rep.logs()[-3000:]))
        rev_id = r.json["id"]
        deadline = time.monotonic() + WAIT
        while True:
            g = request(rep.port, "GET", "/v1/revocations/" + rev_id,
                        headers={"Authorization": "Bearer " + tok})
            self.assertEqual(g.status, 200, g)
            if g.json["state"] not in ("pending", "applying"):
                break
            self.assertLess(time.monotonic(), deadline, g.json)
            time.sleep(0.3)
        self.assertEqual(g.json["state"], "applied", json.dumps(g.json, indent=1))
        denied = sorted("%s/%s" % (x["account"], x["role_arn"].rsplit("/", 1)[1])
                        for x in g.json["roles"] if x["outcome"] == "denied")
        self.assertEqual(denied, sorted(harness.EXAMPLE_SEED["_expected_matches"]["team_opsec"]))


if __name__ == "__main__":
    unittest.main()
