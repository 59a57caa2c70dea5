"""The AWS credential chain (src/aws/creds.c) end to end: `session-revoker
plan --groups team_opsec --json` against the fake AWS (tests/fakes/fake_aws.py,
which checks every SigV4 signature with botocore), with the base credentials
coming from each provider in turn:

  1. environment keys (long-term AKIA, or an ASIA session with its token),
  2. a web identity token file + AWS_ROLE_ARN (STS AssumeRoleWithWebIdentity),
  3. a container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI, with
     AWS_CONTAINER_AUTHORIZATION_TOKEN or ..._TOKEN_FILE), served by the test,
  4. IMDSv2 (AWS_EC2_METADATA_SERVICE_ENDPOINT), served by the test,

and the order between them. Each run starts from a clean environment: PATH and
HOME only (plus sanitizer options, if the caller has any), AWS_ENDPOINT_URL
pointing at the fake, AWS_EC2_METADATA_DISABLED=true except where IMDS is the
point, and whatever the test sets. What is checked is what a user and AWS
would see: the report and exit status, the fake's call log (/_fake/calls:
which access key signed which call), the requests the test's own credential
servers received, and that no secret ever shows up on stdout or stderr.

Run with Debian's /usr/bin/python3 (botocore for the fake).
"""

import base64
import datetime
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
fake_aws = harness.fake_aws

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

BASE_ACCOUNT = "999999999999"
WORKLOAD = "111111111111"
BASE_KEY = "AKIAFAKECREDCHAIN001"
BASE_SECRET = "credChainBaseSecret/0123456789abcdefEXAMPLE"
BASE_ARN = f"arn:aws:iam::{BASE_ACCOUNT}:user/session-revoker"
ADMIN_ROLE = "SessionRevokerAdmin"
EXTERNAL_ID = "session-revoker"
MATCHING_ROLE = "OpsecDeploy"
OTHER_ROLE = "HrReadOnly"
WEB_ROLE = "RevokerWebIdentity"    # in BASE_ACCOUNT: what a CI job's token becomes
TASK_ROLE = "RevokerTask"          # in BASE_ACCOUNT: what a container / instance runs as
WEB_ROLE_ARN = f"arn:aws:iam::{BASE_ACCOUNT}:role/{WEB_ROLE}"
TASK_ROLE_ARN = f"arn:aws:iam::{BASE_ACCOUNT}:role/{TASK_ROLE}"
PROVIDER = "auth.example.com/"
POLICY = "session-revoker-deny"
RUN_TIMEOUT = 60
SANITIZER_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS")

MSG_BOTH = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set"
MSG_NO_ROLE_ARN = "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not"
MSG_NONE = "no AWS credentials found"


# --------------------------------------------------------------------------
# the world

def _federated_trust(account, op, value):
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{PROVIDER}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {op: {f"{PROVIDER}:amr": value}}}]}


def make_seed():
    """One workload account (an admin role the base account may assume, one
    role that lets team_opsec in, one that does not) and the base account
    (the roles a CI job or a container/instance would run as)."""
    admin_trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{BASE_ACCOUNT}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}}]}
    base_trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{BASE_ACCOUNT}:root"},
        "Action": "sts:AssumeRole"}]}
    ci_trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{BASE_ACCOUNT}:oidc-provider/ci.example.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"ci.example.com:sub": "repo:example/revoker"}}}]}
    return {
        "random_seed": 20260101,
        "base_credentials": [{"access_key_id": BASE_KEY, "secret_access_key": BASE_SECRET,
                              "account": BASE_ACCOUNT, "arn": BASE_ARN}],
        "accounts": {
            WORKLOAD: {"roles": [
                {"RoleName": ADMIN_ROLE, "MaxSessionDuration": 3600,
                 "AssumeRolePolicyDocument": admin_trust},
                {"RoleName": MATCHING_ROLE, "Path": "/deploy/",
                 "AssumeRolePolicyDocument": _federated_trust(WORKLOAD, "StringEquals",
                                                              "team_opsec")},
                {"RoleName": OTHER_ROLE,
                 "AssumeRolePolicyDocument": _federated_trust(WORKLOAD, "StringEquals",
                                                              "team_hr")},
            ]},
            BASE_ACCOUNT: {"roles": [
                {"RoleName": WEB_ROLE, "AssumeRolePolicyDocument": ci_trust},
                {"RoleName": TASK_ROLE, "AssumeRolePolicyDocument": base_trust},
            ]},
        },
    }


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(sub="repo:example/revoker"):
    """Anything JWT-shaped: the fake decodes the claims and checks no signature."""
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    header = {"alg": "RS256", "typ": "JWT", "kid": "ci-1"}
    claims = {"iss": "https://ci.example.com", "sub": sub, "aud": "sts.amazonaws.com",
              "iat": now, "exp": now + 600, "jti": b64url(os.urandom(9))}
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()),
                     b64url(os.urandom(64))])


def sts_assume_role(fake, role_arn, session_name, key=BASE_KEY, secret=BASE_SECRET):
    """Real session credentials from the fake, as an SDK would get them: a
    botocore-signed STS AssumeRole. Returns the container/IMDS JSON shape."""
    body = urllib.parse.urlencode({"Action": "AssumeRole", "Version": "2011-06-15",
                                   "RoleArn": role_arn, "RoleSessionName": session_name,
                                   "DurationSeconds": "3600"})
    req = AWSRequest(method="POST", url=fake.url + "/", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(key, secret), "sts", "us-east-1").add_auth(req)
    prepared = req.prepare()
    http_req = urllib.request.Request(prepared.url, data=body.encode(),
                                      headers=dict(prepared.headers), method="POST")
    with urllib.request.urlopen(http_req, timeout=10) as resp:
        text = resp.read().decode()
    ns = {"s": fake_aws.STS_NS}
    cr = ET.fromstring(text).find("s:AssumeRoleResult/s:Credentials", ns)
    return {"AccessKeyId": cr.find("s:AccessKeyId", ns).text,
            "SecretAccessKey": cr.find("s:SecretAccessKey", ns).text,
            "Token": cr.find("s:SessionToken", ns).text,
            "Expiration": cr.find("s:Expiration", ns).text}


def closed_port():
    """A local port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------
# the test's own credential servers (container endpoint, IMDS)

class Recorded:
    def __init__(self, method, path, headers):
        self.method = method
        self.path = path
        self.headers = headers          # {lower-case name: value}

    def __repr__(self):
        return f"{self.method} {self.path} {self.headers}"


class CredServer:
    """A tiny HTTP server on 127.0.0.1 that records every request and answers
    with route(recorded) -> (status, body text, content type)."""

    def __init__(self, route):
        self.route = route
        self.requests = []
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                rec = Recorded(self.command, self.path,
                               {k.lower(): v for k, v in self.headers.items()})
                with owner.lock:
                    owner.requests.append(rec)
                status, text, ctype = owner.route(rec)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = _serve

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def seen(self):
        with self.lock:
            return list(self.requests)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def container_route(creds, token=None, path="/creds", status=None, body=None):
    """The ECS/EKS container credentials endpoint: GET path, with
    Authorization equal to token when token is not None."""
    def route(rec):
        if status is not None:
            return status, body if body is not None else '{"message": "broken"}', \
                "application/json"
        if rec.method != "GET" or rec.path != path:
            return 404, '{"message": "not found"}', "application/json"
        if token is not None and rec.headers.get("authorization") != token:
            return 401, '{"message": "unauthorized"}', "application/json"
        return 200, body if body is not None else json.dumps(creds), "application/json"
    return route


class Imds:
    """IMDSv2: PUT /latest/api/token (needs X-aws-ec2-metadata-token-ttl-seconds),
    then GETs that need X-aws-ec2-metadata-token equal to the token handed out."""

    TOKEN = "AQAEAFakeImdsV2SessionToken_" + b64url(os.urandom(18))
    ROLE = "revoker-instance-profile-role"

    def __init__(self, creds):
        self.creds = creds

    def route(self, rec):
        prefix = "/latest/meta-data/iam/security-credentials/"
        if rec.path == "/latest/api/token":
            if rec.method != "PUT":
                return 405, "", "text/plain"
            ttl = rec.headers.get("x-aws-ec2-metadata-token-ttl-seconds")
            if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return 400, "", "text/plain"
            return 200, self.TOKEN, "text/plain"
        if rec.method != "GET" or not rec.path.startswith(prefix):
            return 404, "", "text/plain"
        if rec.headers.get("x-aws-ec2-metadata-token") != self.TOKEN:
            return 401, "", "text/plain"
        name = rec.path[len(prefix):]
        if name == "":
            return 200, self.ROLE, "text/plain"
        if name != self.ROLE:
            return 404, "", "text/plain"
        doc = {"Code": "Success", "LastUpdated": self.creds["Expiration"], "Type": "AWS-HMAC"}
        doc.update(self.creds)
        return 200, json.dumps(doc, indent=2), "text/plain"


# --------------------------------------------------------------------------
# runs

class Run:
    """One finished CLI run."""

    def __init__(self, args, env, proc):
        self.args = args
        self.env = env
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.report = None
        if self.stdout.strip():
            try:
                self.report = json.loads(self.stdout)
            except ValueError:
                self.report = None

    def describe(self):
        shown = {k: v for k, v in self.env.items() if k not in ("PATH", "HOME")}
        return ("session-revoker %s\nenv %s\nexit %s\n--- stdout\n%s\n--- stderr\n%s"
                % (" ".join(self.args), shown, self.rc, self.stdout[-6000:],
                   self.stderr[-6000:]))

    def account(self, acct=WORKLOAD):
        return {a["id"]: a for a in self.report["accounts"]}[acct]


class CredentialsCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-creds-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.bin = harness.binary_path()
        self.fake = fake_aws.FakeAws(make_seed()).start()
        self.addCleanup(self.fake.stop)
        self.config = self.write_config()
        self.secrets = [BASE_SECRET]   # none of these may ever be printed

    def write_config(self, accounts=None, name="config.json"):
        if accounts is None:
            accounts = [{"id": WORKLOAD, "role_name": ADMIN_ROLE, "external_id": EXTERNAL_ID}]
        cfg = {
            "development": {"signing_key_file": os.path.join(self.tmp, "dev.pem")},
            "aws": {"accounts": accounts, "max_attempts": 2, "max_retry_seconds": 2,
                    "timeout_seconds": 10},
            "revoke": {"providers": [PROVIDER], "group_claims": ["amr"],
                       "policy_name": POLICY, "max_session_seconds": 43200},
        }
        path = os.path.join(self.tmp, name)
        harness.write_config(path, cfg)
        return path

    def write_file(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return path

    def cred_server(self, route):
        server = CredServer(route)
        self.addCleanup(server.stop)
        return server

    def session(self, role_arn=TASK_ROLE_ARN, name="task-session"):
        creds = sts_assume_role(self.fake, role_arn, name)
        self.secrets += [creds["SecretAccessKey"], creds["Token"]]
        return creds

    def last_seq(self):
        return self.fake.state()["calls_total"]

    def plan(self, extra, imds=False, config=None):
        """`plan --groups team_opsec --json` with a clean environment."""
        args = ["plan", "--config", config or self.config, "--groups", "team_opsec", "--json"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp}
        env.update({k: os.environ[k] for k in SANITIZER_ENV if k in os.environ})
        env["AWS_ENDPOINT_URL"] = self.fake.url
        if not imds:
            env["AWS_EC2_METADATA_DISABLED"] = "true"
        env.update(extra)
        proc = subprocess.run([self.bin] + args, env=env, cwd=self.tmp, capture_output=True,
                              text=True, timeout=RUN_TIMEOUT)
        run = Run(args, env, proc)
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, run.stderr, "sanitizer report\n" + run.describe())
        self.assertIn(run.rc, (0, 1, 2), "crashed or odd exit\n" + run.describe())
        self.assert_no_secrets(run)
        return run

    # -- assertions -----------------------------------------------------------

    def assert_no_secrets(self, run):
        for secret in self.secrets:
            self.assertNotIn(secret, run.stdout, "a secret on stdout\n" + run.describe())
            self.assertNotIn(secret, run.stderr, "a secret on stderr\n" + run.describe())

    def assert_planned_with(self, run, seq, signer, source):
        """The run worked and the base credentials were signer, from source
        (as logged: environment, web-identity, container, imds): signer signed
        the AssumeRole into the workload account, and only the session that
        AssumeRole handed out read IAM there. Returns the calls since seq."""
        self.assertEqual(run.rc, 0, run.describe())
        self.assertRegex(run.stderr, r"msg=aws\.credentials source=%s\b" % source,
                         run.describe())
        self.assertIsNotNone(run.report, run.describe())
        acct = run.account()
        self.assertIsNone(acct["error"], run.describe())
        self.assertEqual(acct["roles_seen"], 3, run.describe())
        self.assertEqual([(r["account"], r["role"], r["outcome"]) for r in run.report["roles"]],
                         [(WORKLOAD, MATCHING_ROLE, "match")], run.describe())
        self.assertEqual(run.report["failed"], 0)

        calls = self.fake.calls(seq)
        info = run.describe() + "\ncalls: " + json.dumps(calls, indent=1)
        self.assertTrue(all(c["status"] == 200 for c in calls), info)
        assumes = [c for c in calls if c["action"] == "AssumeRole"]
        self.assertEqual(len(assumes), 1, info)
        self.assertEqual(assumes[0]["access_key_id"], signer, info)
        self.assertEqual(assumes[0]["account"], WORKLOAD, info)
        self.assertEqual(assumes[0]["role"], ADMIN_ROLE, info)
        self.assertIs(assumes[0]["signature_ok"], True, info)
        sessions = {s["access_key_id"]: s for s in self.fake.state()["sessions"]}
        iam = [c for c in calls if c["service"] == "iam"]
        self.assertTrue(any(c["action"] == "ListRoles" for c in iam), info)
        for c in iam:
            s = sessions.get(c["access_key_id"])
            self.assertIsNotNone(s, f"IAM call not signed by a session\n{info}")
            self.assertEqual((s["account"], s["role_name"], s["via"]),
                             (WORKLOAD, ADMIN_ROLE, "AssumeRole"), info)
            self.assertGreater(c["seq"], assumes[0]["seq"], info)
            self.assertIs(c["signature_ok"], True, info)
        self.assertFalse([c for c in calls if c["access_key_id"] == signer
                          and c["action"] != "AssumeRole"], info)
        return calls

    def assert_failed_before_aws(self, run, seq, message):
        """The credential chain failed: exit 1, the account's error says
        message, and the fake was never called."""
        self.assertEqual(run.rc, 1, run.describe())
        self.assertIsNotNone(run.report, run.describe())
        self.assertIn(message, run.account()["error"] or "", run.describe())
        self.assertEqual(run.report["roles"], [], run.describe())
        self.assertEqual(run.report["failed"], 1, run.describe())
        self.assertEqual(self.fake.calls(seq), [], run.describe())


# --------------------------------------------------------------------------
# 1. environment

class EnvironmentTest(CredentialsCase):

    def test_long_term_keys(self):
        seq = self.last_seq()
        run = self.plan({"AWS_ACCESS_KEY_ID": BASE_KEY, "AWS_SECRET_ACCESS_KEY": BASE_SECRET})
        calls = self.assert_planned_with(run, seq, BASE_KEY, "environment")
        self.assertFalse([c for c in calls if c["action"] == "AssumeRoleWithWebIdentity"])

    def test_session_keys_with_token(self):
        creds = self.session(name="env-session")
        seq = self.last_seq()
        run = self.plan({"AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
                         "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                         "AWS_SESSION_TOKEN": creds["Token"]})
        self.assert_planned_with(run, seq, creds["AccessKeyId"], "environment")
        mine = [s for s in self.fake.state()["sessions"]
                if s["access_key_id"] == creds["AccessKeyId"]]
        self.assertEqual([(s["role_name"], s["session_name"]) for s in mine],
                         [(TASK_ROLE, "env-session")])

    def test_only_one_of_the_pair_is_an_error_naming_both(self):
        cases = {
            "key id only": {"AWS_ACCESS_KEY_ID": BASE_KEY},
            "secret only": {"AWS_SECRET_ACCESS_KEY": BASE_SECRET},
            "key id and an empty secret": {"AWS_ACCESS_KEY_ID": BASE_KEY,
                                           "AWS_SECRET_ACCESS_KEY": ""},
            # A half-set pair is an error, not a reason to fall through to
            # the next provider (here a web identity that would work).
            "key id only, web identity also set": {
                "AWS_ACCESS_KEY_ID": BASE_KEY,
                "AWS_WEB_IDENTITY_TOKEN_FILE": self.write_file("jwt", make_jwt()),
                "AWS_ROLE_ARN": WEB_ROLE_ARN},
        }
        for name, env in cases.items():
            with self.subTest(name):
                seq = self.last_seq()
                run = self.plan(env)
                self.assert_failed_before_aws(run, seq, MSG_BOTH)


# --------------------------------------------------------------------------
# 2. web identity

class WebIdentityTest(CredentialsCase):

    def web_env(self, token=None, **extra):
        token = token if token is not None else make_jwt()
        self.secrets.append(token)
        env = {"AWS_WEB_IDENTITY_TOKEN_FILE": self.write_file("web-identity-token",
                                                              token + "\n"),
               "AWS_ROLE_ARN": WEB_ROLE_ARN}
        env.update(extra)
        return env

    def web_sessions(self):
        return [s for s in self.fake.state()["sessions"]
                if s["via"] == "AssumeRoleWithWebIdentity"]

    def check_web_identity(self, run, seq, session_name):
        calls = self.fake.calls(seq)
        info = run.describe() + "\ncalls: " + json.dumps(calls, indent=1)
        web = [c for c in calls if c["action"] == "AssumeRoleWithWebIdentity"]
        self.assertEqual(len(web), 1, info)
        self.assertEqual(web[0]["status"], 200, info)
        self.assertIsNone(web[0]["access_key_id"], info)      # unsigned, as on AWS
        self.assertIsNone(web[0]["signature_ok"], info)
        self.assertEqual((web[0]["account"], web[0]["role"]), (BASE_ACCOUNT, WEB_ROLE), info)
        sessions = self.web_sessions()
        self.assertEqual(len(sessions), 1, info)
        s = sessions[0]
        self.assertTrue(s["access_key_id"].startswith("ASIA"), s)
        self.assertEqual((s["account"], s["role_name"], s["session_name"]),
                         (BASE_ACCOUNT, WEB_ROLE, session_name), info)
        self.assertEqual(s["web_identity"]["sub"], "repo:example/revoker", info)
        calls = self.assert_planned_with(run, seq, s["access_key_id"], "web-identity")
        assume = [c for c in calls if c["action"] == "AssumeRole"][0]
        self.assertLess(web[0]["seq"], assume["seq"], info)
        return s

    def test_token_file_and_role_arn(self):
        seq = self.last_seq()
        run = self.plan(self.web_env(AWS_ROLE_SESSION_NAME="ci-run-42"))
        self.check_web_identity(run, seq, "ci-run-42")

    def test_default_session_name(self):
        seq = self.last_seq()
        run = self.plan(self.web_env())
        self.check_web_identity(run, seq, "session-revoker")

    def test_role_arn_missing_is_a_clear_error(self):
        env = self.web_env()
        del env["AWS_ROLE_ARN"]
        for name, extra in (("unset", {}), ("empty", {"AWS_ROLE_ARN": ""})):
            with self.subTest(name):
                seq = self.last_seq()
                run = self.plan(dict(env, **extra))
                self.assert_failed_before_aws(run, seq, MSG_NO_ROLE_ARN)
        self.assertEqual(self.web_sessions(), [])

    def test_token_file_missing(self):
        missing = os.path.join(self.tmp, "no-such-token")
        seq = self.last_seq()
        run = self.plan({"AWS_WEB_IDENTITY_TOKEN_FILE": missing, "AWS_ROLE_ARN": WEB_ROLE_ARN})
        self.assert_failed_before_aws(run, seq, missing)

    def test_sts_refusing_the_token(self):
        seq = self.last_seq()
        run = self.plan(self.web_env(token="not-a-jwt-" + b64url(os.urandom(12))))
        self.assertEqual(run.rc, 1, run.describe())
        self.assertIn("InvalidIdentityToken", run.account()["error"] or "", run.describe())
        calls = self.fake.calls(seq)
        self.assertEqual([c["action"] for c in calls if c["status"] != 200],
                         ["AssumeRoleWithWebIdentity"], calls)
        self.assertFalse([c for c in calls if c["action"] != "AssumeRoleWithWebIdentity"])


# --------------------------------------------------------------------------
# 3. container credentials endpoint

class ContainerTest(CredentialsCase):

    AUTH = "Bearer fake-ecs-auth-" + b64url(os.urandom(12))

    def setUp(self):
        super().setUp()
        self.creds = self.session(name="container-task")
        self.secrets.append(self.AUTH)

    def test_full_uri_with_authorization_token(self):
        server = self.cred_server(container_route(self.creds, token=self.AUTH))
        seq = self.last_seq()
        run = self.plan({"AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds",
                         "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.AUTH})
        self.assert_planned_with(run, seq, self.creds["AccessKeyId"], "container")
        seen = server.seen()
        self.assertEqual([(r.method, r.path) for r in seen], [("GET", "/creds")], seen)
        self.assertEqual(seen[0].headers.get("authorization"), self.AUTH, seen)

    def test_authorization_token_file(self):
        token = "fake-eks-pod-identity-" + b64url(os.urandom(15))
        self.secrets.append(token)
        for name, text in (("newline", token + "\n"), ("crlf", token + "\r\n"),
                           ("none", token)):
            with self.subTest(name):
                server = self.cred_server(container_route(self.creds, token=token))
                seq = self.last_seq()
                run = self.plan({
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": self.write_file("auth", text)})
                self.assert_planned_with(run, seq, self.creds["AccessKeyId"], "container")
                seen = server.seen()
                self.assertEqual(len(seen), 1, seen)
                self.assertEqual(seen[0].headers.get("authorization"), token, seen)

    def test_token_file_wins_over_token_variable(self):
        # As in the AWS SDKs: the file (a projected, rotated token) is preferred.
        token = "fake-file-token-" + b64url(os.urandom(15))
        self.secrets.append(token)
        server = self.cred_server(container_route(self.creds, token=token))
        seq = self.last_seq()
        run = self.plan({"AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds",
                         "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.AUTH,
                         "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE":
                             self.write_file("auth", token + "\n")})
        self.assert_planned_with(run, seq, self.creds["AccessKeyId"], "container")
        self.assertEqual([r.headers.get("authorization") for r in server.seen()], [token])

    def test_no_token_sends_no_authorization(self):
        server = self.cred_server(container_route(self.creds))
        seq = self.last_seq()
        run = self.plan({"AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds"})
        self.assert_planned_with(run, seq, self.creds["AccessKeyId"], "container")
        seen = server.seen()
        self.assertEqual(len(seen), 1, seen)
        self.assertNotIn("authorization", seen[0].headers, seen)

    def test_long_token_from_file_is_never_sent_truncated(self):
        # The token file may be up to 16 KiB; a token longer than the
        # Authorization header buffer must either be sent whole or refused
        # with an error, never cut short (the endpoint would see a different
        # token, and the failure would be an unexplained 401).
        token = "fake-long-token-" + "x" * 6000
        self.secrets.append(token)
        server = self.cred_server(container_route(self.creds, token=token))
        seq = self.last_seq()
        run = self.plan({"AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds",
                         "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE":
                             self.write_file("auth", token + "\n")})
        seen = server.seen()
        sent = [len(r.headers.get("authorization") or "") for r in seen]
        self.assertEqual(sent, [len(token)] * len(seen),
                         "Authorization header lengths sent vs the token's length\n"
                         + run.describe())
        self.assertEqual([r.headers.get("authorization") for r in seen], [token] * len(seen))
        if seen:
            self.assert_planned_with(run, seq, self.creds["AccessKeyId"], "container")
        else:
            self.assert_failed_before_aws(run, seq, "AUTHORIZATION_TOKEN")

    def test_token_with_line_break_is_refused_not_injected(self):
        # A CR/LF inside the token would end the Authorization header and
        # start another one. The AWS SDKs refuse such a token before sending.
        for name, env in (
                ("variable", {"AWS_CONTAINER_AUTHORIZATION_TOKEN": "abc\r\nX-Injected: yes"}),
                ("file", {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE":
                          self.write_file("auth", "abc\r\nX-Injected: yes\n")})):
            with self.subTest(name):
                server = self.cred_server(container_route(self.creds))
                seq = self.last_seq()
                env = dict(env, AWS_CONTAINER_CREDENTIALS_FULL_URI=server.url + "/creds")
                run = self.plan(env)
                self.assertEqual([r for r in server.seen() if "x-injected" in r.headers], [],
                                 "header injected through the authorization token\n"
                                 + run.describe())
                self.assert_failed_before_aws(run, seq, "AUTHORIZATION_TOKEN")
                self.assertEqual(server.seen(), [])

    def test_endpoint_answering_500_fails_clearly(self):
        server = self.cred_server(container_route(self.creds, status=500))
        seq = self.last_seq()
        run = self.plan({"AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds",
                         "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.AUTH})
        self.assert_failed_before_aws(run, seq, "container credentials endpoint answered 500")
        self.assertEqual(len(server.seen()), 1)

    def test_wrong_token_is_refused_clearly(self):
        server = self.cred_server(container_route(self.creds, token="Bearer other"))
        seq = self.last_seq()
        run = self.plan({"AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds",
                         "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.AUTH})
        self.assert_failed_before_aws(run, seq, "container credentials endpoint answered 401")

    def test_answer_without_credentials(self):
        server = self.cred_server(container_route(self.creds, body='{"Code": "Success"}'))
        seq = self.last_seq()
        run = self.plan({"AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds"})
        self.assert_failed_before_aws(run, seq, "container credentials: the answer has no "
                                                "usable credentials")

    def test_endpoint_unreachable(self):
        seq = self.last_seq()
        run = self.plan({"AWS_CONTAINER_CREDENTIALS_FULL_URI":
                         f"http://127.0.0.1:{closed_port()}/creds"})
        self.assert_failed_before_aws(run, seq, "container credentials endpoint")


# --------------------------------------------------------------------------
# 4. IMDSv2 (AWS_EC2_METADATA_DISABLED unset unless said)

class ImdsTest(CredentialsCase):

    def setUp(self):
        super().setUp()
        self.creds = self.session(name="i-0123456789abcdef0")
        self.imds = Imds(self.creds)
        self.secrets.append(Imds.TOKEN)

    def test_imdsv2(self):
        for name, suffix in (("bare", ""), ("trailing slash", "/")):
            with self.subTest(name):
                server = self.cred_server(self.imds.route)
                seq = self.last_seq()
                run = self.plan({"AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url + suffix},
                                imds=True)
                self.assert_planned_with(run, seq, self.creds["AccessKeyId"], "imds")
                seen = server.seen()
                prefix = "/latest/meta-data/iam/security-credentials/"
                self.assertEqual([(r.method, r.path) for r in seen],
                                 [("PUT", "/latest/api/token"), ("GET", prefix),
                                  ("GET", prefix + Imds.ROLE)], seen)
                ttl = seen[0].headers.get("x-aws-ec2-metadata-token-ttl-seconds")
                self.assertTrue(ttl and ttl.isdigit() and 1 <= int(ttl) <= 21600, seen)
                for r in seen[1:]:
                    self.assertEqual(r.headers.get("x-aws-ec2-metadata-token"), Imds.TOKEN, r)

    def test_disabled_and_nothing_else(self):
        seq = self.last_seq()
        run = self.plan({"AWS_EC2_METADATA_DISABLED": "true"}, imds=True)
        self.assert_failed_before_aws(run, seq, MSG_NONE)
        self.assertIn("IMDS disabled", run.account()["error"], run.describe())
        # ... and disabled means not asked, even where an IMDS would answer.
        server = self.cred_server(self.imds.route)
        seq = self.last_seq()
        run = self.plan({"AWS_EC2_METADATA_DISABLED": "true",
                         "AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url}, imds=True)
        self.assert_failed_before_aws(run, seq, MSG_NONE)
        self.assertEqual(server.seen(), [])

    def test_disabled_is_case_insensitive(self):
        # The AWS SDKs (botocore, Go v2, Java v2) compare the value with
        # "true" ignoring case.
        for value in ("TRUE", "True"):
            with self.subTest(value):
                server = self.cred_server(self.imds.route)
                seq = self.last_seq()
                run = self.plan({"AWS_EC2_METADATA_DISABLED": value,
                                 "AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url}, imds=True)
                self.assertEqual(server.seen(), [], "IMDS asked although disabled\n"
                                 + run.describe())
                self.assert_failed_before_aws(run, seq, MSG_NONE)

    def test_no_imds_answering(self):
        seq = self.last_seq()
        run = self.plan({"AWS_EC2_METADATA_SERVICE_ENDPOINT":
                         f"http://127.0.0.1:{closed_port()}"}, imds=True)
        self.assert_failed_before_aws(run, seq, MSG_NONE)

    def test_a_configured_provider_that_fails_does_not_fall_through_to_imds(self):
        server = self.cred_server(self.imds.route)
        broken = self.cred_server(container_route(self.creds, status=500))
        token_file = self.write_file("jwt", make_jwt())
        cases = {
            "half environment pair": ({"AWS_ACCESS_KEY_ID": BASE_KEY}, MSG_BOTH),
            "web identity without role": ({"AWS_WEB_IDENTITY_TOKEN_FILE": token_file},
                                          MSG_NO_ROLE_ARN),
            "container endpoint answering 500": (
                {"AWS_CONTAINER_CREDENTIALS_FULL_URI": broken.url + "/creds"},
                "container credentials endpoint answered 500"),
        }
        for name, (env, message) in cases.items():
            with self.subTest(name):
                seq = self.last_seq()
                env = dict(env, AWS_EC2_METADATA_SERVICE_ENDPOINT=server.url)
                run = self.plan(env, imds=True)
                self.assert_failed_before_aws(run, seq, message)
                self.assertEqual(server.seen(), [])


# --------------------------------------------------------------------------
# 5. precedence: environment > web identity > container > IMDS

class PrecedenceTest(CredentialsCase):

    def test_environment_beats_web_identity(self):
        jwt = make_jwt()
        self.secrets.append(jwt)
        seq = self.last_seq()
        run = self.plan({"AWS_ACCESS_KEY_ID": BASE_KEY, "AWS_SECRET_ACCESS_KEY": BASE_SECRET,
                         "AWS_WEB_IDENTITY_TOKEN_FILE": self.write_file("jwt", jwt),
                         "AWS_ROLE_ARN": WEB_ROLE_ARN})
        calls = self.assert_planned_with(run, seq, BASE_KEY, "environment")
        self.assertFalse([c for c in calls if c["action"] == "AssumeRoleWithWebIdentity"],
                         calls)
        self.assertFalse([s for s in self.fake.state()["sessions"]
                          if s["via"] == "AssumeRoleWithWebIdentity"])

    def test_web_identity_beats_container(self):
        creds = self.session(name="container-task")
        server = self.cred_server(container_route(creds))
        jwt = make_jwt()
        self.secrets.append(jwt)
        seq = self.last_seq()
        run = self.plan({"AWS_WEB_IDENTITY_TOKEN_FILE": self.write_file("jwt", jwt),
                         "AWS_ROLE_ARN": WEB_ROLE_ARN,
                         "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/creds"})
        web = [s for s in self.fake.state()["sessions"]
               if s["via"] == "AssumeRoleWithWebIdentity"]
        self.assertEqual(len(web), 1, run.describe())
        self.assert_planned_with(run, seq, web[0]["access_key_id"], "web-identity")
        self.assertEqual(server.seen(), [])

    def test_container_beats_imds(self):
        container_creds = self.session(name="container-task")
        imds_creds = self.session(name="instance")
        container = self.cred_server(container_route(container_creds))
        imds = self.cred_server(Imds(imds_creds).route)
        seq = self.last_seq()
        run = self.plan({"AWS_CONTAINER_CREDENTIALS_FULL_URI": container.url + "/creds",
                         "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url}, imds=True)
        self.assert_planned_with(run, seq, container_creds["AccessKeyId"], "container")
        self.assertEqual(len(container.seen()), 1)
        self.assertEqual(imds.seen(), [])


# --------------------------------------------------------------------------
# base_credentials: true — the chain's credentials used directly

class BaseCredentialsAccountTest(CredentialsCase):

    def test_web_identity_credentials_used_directly_for_their_own_account(self):
        config = self.write_config([{"id": BASE_ACCOUNT, "base_credentials": True}],
                                   name="base.json")
        jwt = make_jwt()
        self.secrets.append(jwt)
        seq = self.last_seq()
        run = self.plan({"AWS_WEB_IDENTITY_TOKEN_FILE": self.write_file("jwt", jwt),
                         "AWS_ROLE_ARN": WEB_ROLE_ARN}, config=config)
        self.assertEqual(run.rc, 0, run.describe())
        acct = run.account(BASE_ACCOUNT)
        self.assertIsNone(acct["error"], run.describe())
        self.assertEqual((acct["roles_seen"], acct["matched"]), (2, 0), run.describe())
        web = [s for s in self.fake.state()["sessions"]
               if s["via"] == "AssumeRoleWithWebIdentity"]
        self.assertEqual(len(web), 1, run.describe())
        calls = self.fake.calls(seq)
        signed = [(c["action"], c["access_key_id"]) for c in calls if c["access_key_id"]]
        self.assertIn(("GetCallerIdentity", web[0]["access_key_id"]), signed, calls)
        self.assertIn(("ListRoles", web[0]["access_key_id"]), signed, calls)
        self.assertEqual({k for _, k in signed}, {web[0]["access_key_id"]}, calls)
        self.assertFalse([c for c in calls if c["action"] == "AssumeRole"], calls)

    def test_credentials_of_another_account_are_refused(self):
        config = self.write_config([{"id": WORKLOAD, "base_credentials": True}],
                                   name="base.json")
        seq = self.last_seq()
        run = self.plan({"AWS_ACCESS_KEY_ID": BASE_KEY, "AWS_SECRET_ACCESS_KEY": BASE_SECRET},
                        config=config)
        self.assertEqual(run.rc, 1, run.describe())
        self.assertIn(f"the base credentials belong to account {BASE_ACCOUNT}, not {WORKLOAD}",
                      run.account()["error"] or "", run.describe())
        calls = self.fake.calls(seq)
        self.assertEqual([(c["action"], c["access_key_id"]) for c in calls],
                         [("GetCallerIdentity", BASE_KEY)], calls)


if __name__ == "__main__":
    unittest.main()
