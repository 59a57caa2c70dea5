"""Tests for the fake AWS (IAM + STS) used by session-revoker's integration tests.

Run: cd tests/fakes && /usr/bin/python3 -m unittest -v test_fake_aws
"""

import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# Keep botocore away from any real AWS configuration or credentials on the machine.
for _name in list(os.environ):
    if _name.startswith("AWS_") or _name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
        del os.environ[_name]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

import botocore.session  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.exceptions import ClientError, ConnectionClosedError  # noqa: E402
from botocore.exceptions import EndpointConnectionError  # noqa: E402

import fake_aws  # noqa: E402
import iam_policy  # noqa: E402

AKID = "AKIAFAKETEST00000001"
SECRET = "testSecretKey/abcdefghijklmnopqrstuvwxyz01"
SEC_ACCOUNT = "999999999999"
A1, A2 = "111111111111", "222222222222"
PROVIDER = "auth.example.com/"


def web_trust(account, group):
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{PROVIDER}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{PROVIDER}:amr": group}}}]}


def admin_role():
    return {"RoleName": "SessionRevokerAdmin", "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{SEC_ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": "session-revoker"}}}]}}


SEED = {
    "random_seed": 7,
    "base_credentials": [{"access_key_id": AKID, "secret_access_key": SECRET,
                          "account": SEC_ACCOUNT,
                          "arn": f"arn:aws:iam::{SEC_ACCOUNT}:user/revoker"},
                         {"access_key_id": "AKIAFAKETEST00000111",
                          "secret_access_key": "secretOfAccount111",
                          "account": A1, "arn": f"arn:aws:iam::{A1}:user/ops"}],
    "accounts": {
        A1: {"roles": [
            {"RoleName": "Echo", "AssumeRolePolicyDocument": web_trust(A1, "team_e")},
            {"RoleName": "alpha", "Path": "/federated/",
             "AssumeRolePolicyDocument": web_trust(A1, "team_opsec"),
             "Description": "A & B <team_opsec>", "MaxSessionDuration": 43200,
             "inline_policies": {"Existing": {"Version": "2012-10-17", "Statement": [
                 {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}}},
            {"RoleName": "Charlie", "AssumeRolePolicyDocument": web_trust(A1, "team_hr")},
            {"RoleName": "Bravo", "Path": "/ci/",
             "AssumeRolePolicyDocument": web_trust(A1, "team_*")},
            {"RoleName": "Delta", "AssumeRolePolicyDocument": {
                "Version": "2012-10-17", "Statement": {
                    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole"}}},
        ]},
        A2: {"roles": [admin_role(),
                       {"RoleName": "OpsecTwo", "AssumeRolePolicyDocument":
                        web_trust(A2, "team_opsec")},
                       {"RoleName": "OpenToSecurity", "AssumeRolePolicyDocument": {
                           "Version": "2012-10-17", "Statement": [{
                               "Effect": "Allow", "Principal": {"AWS": SEC_ACCOUNT},
                               "Action": "sts:AssumeRole"}]}}]},
    },
}

SESSION = botocore.session.get_session()
NO_RETRY = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10)


def jwt(claims):
    def seg(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{seg({'alg': 'RS256', 'typ': 'JWT'})}.{seg(claims)}.c2lnbmF0dXJl"


class FakeAwsTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = fake_aws.FakeAws(SEED).start()
        cls.url = cls.fake.url

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.fake.reset()
        self._clients = []

    def tearDown(self):
        for client in self._clients:
            client.close()

    # -- helpers ---------------------------------------------------------------

    def client(self, service, akid=AKID, secret=SECRET, token=None, config=NO_RETRY,
               region="us-east-1"):
        client = SESSION.create_client(service, endpoint_url=self.url, region_name=region,
                                       aws_access_key_id=akid, aws_secret_access_key=secret,
                                       aws_session_token=token, config=config)
        self._clients.append(client)
        return client

    def assertClientError(self, code, status, fn, *args, **kwargs):
        with self.assertRaises(ClientError) as ctx:
            fn(*args, **kwargs)
        err = ctx.exception.response
        self.assertEqual(err["Error"]["Code"], code, err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status, err)
        self.assertTrue(err["ResponseMetadata"]["RequestId"])
        return err

    def curl(self, body, akid=AKID, secret=SECRET, token=None, service="iam",
             region="us-east-1", method="POST", query=None, headers=()):
        args = ["curl", "-sS", "--noproxy", "*", "--aws-sigv4",
                f"aws:amz:{region}:{service}", "--user", f"{akid}:{secret}",
                "-o", "-", "-w", "\n%{http_code}"]
        for h in headers:
            args += ["-H", h]
        if token:
            args += ["-H", f"X-Amz-Security-Token: {token}"]
        url = self.url + "/"
        if method == "POST":
            args += ["-H", "Content-Type: application/x-www-form-urlencoded",
                     "--data", body]
        else:
            url += "?" + query
        out = subprocess.run(args + [url], capture_output=True, text=True, timeout=10,
                             check=True).stdout
        text, _, status = out.rpartition("\n")
        return int(status), text

    def control(self, path, data=None):
        req = urllib.request.Request(self.url + path, method="GET" if data is None else "POST",
                                     data=None if data is None else json.dumps(data).encode())
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def assume_admin(self, account=A2, external_id="session-revoker", duration=None):
        kwargs = {"RoleArn": f"arn:aws:iam::{account}:role/SessionRevokerAdmin",
                  "RoleSessionName": "revoker-test"}
        if external_id is not None:
            kwargs["ExternalId"] = external_id
        if duration:
            kwargs["DurationSeconds"] = duration
        return self.client("sts").assume_role(**kwargs)

    @staticmethod
    def session_client_args(creds):
        return {"akid": creds["AccessKeyId"], "secret": creds["SecretAccessKey"],
                "token": creds["SessionToken"]}


class SignatureTests(FakeAwsTestCase):
    def test_botocore_signed_requests_pass(self):
        ident = self.client("sts").get_caller_identity()
        self.assertEqual(ident["Account"], SEC_ACCOUNT)
        self.assertEqual(ident["Arn"], f"arn:aws:iam::{SEC_ACCOUNT}:user/revoker")
        self.assertTrue(ident["UserId"].startswith("AIDA"))
        # STS may be signed for any region; IAM only for us-east-1.
        self.client("sts", region="eu-west-1").get_caller_identity()
        calls = self.fake.calls()
        self.assertTrue(all(c["signature_ok"] for c in calls), calls)

    def test_curl_signed_requests_pass(self):
        status, text = self.curl("Action=ListRoles&Version=2010-05-08",
                                 akid="AKIAFAKETEST00000111", secret="secretOfAccount111")
        self.assertEqual(status, 200, text)
        self.assertIn("<RoleName>Bravo</RoleName>", text)
        status, text = self.curl("Action=GetCallerIdentity&Version=2011-06-15", service="sts")
        self.assertEqual(status, 200, text)
        self.assertIn(f"<Account>{SEC_ACCOUNT}</Account>", text)

    def test_curl_signed_request_with_session_token_passes(self):
        creds = self.assume_admin()["Credentials"]
        status, text = self.curl("Action=ListRoles&Version=2010-05-08",
                                 akid=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                                 token=creds["SessionToken"])
        self.assertEqual(status, 200, text)
        self.assertIn("<RoleName>SessionRevokerAdmin</RoleName>", text)
        self.assertNotIn("<RoleName>Bravo</RoleName>", text)

    def test_curl_signed_put_role_policy_with_encoded_document(self):
        doc = {"Version": "2012-10-17", "Statement": {
            "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-03-12T09:08:31Z"}}}}
        body = urllib.parse.urlencode(
            {"Action": "PutRolePolicy", "Version": "2010-05-08", "RoleName": "Echo",
             "PolicyName": "session-revoker-deny", "PolicyDocument": json.dumps(doc)},
            quote_via=urllib.parse.quote, safe="")
        status, text = self.curl(body, akid="AKIAFAKETEST00000111",
                                 secret="secretOfAccount111")
        self.assertEqual(status, 200, text)
        self.assertIn("<PutRolePolicyResponse", text)
        got = self.fake.state()["accounts"][A1]["roles"]["Echo"]["inline_policies"]
        self.assertEqual(got["session-revoker-deny"], doc)

    def test_signed_payload_hash_header(self):
        # A client may send (and sign) x-amz-content-sha256; it must be the body's.
        body = "Action=ListRoles&Version=2010-05-08"
        good = hashlib.sha256(body.encode()).hexdigest()
        status, text = self.curl(body, akid="AKIAFAKETEST00000111", secret="secretOfAccount111",
                                 headers=[f"x-amz-content-sha256: {good}"])
        self.assertEqual(status, 200, text)
        self.assertIn("x-amz-content-sha256", self.fake.calls()[-1]["signed_headers"])
        status, text = self.curl(body, akid="AKIAFAKETEST00000111", secret="secretOfAccount111",
                                 headers=["x-amz-content-sha256: " + "0" * 64])
        self.assertEqual(status, 400, text)
        self.assertIn("<Code>XAmzContentSHA256Mismatch</Code>", text)

    def test_curl_wrong_secret_is_signature_does_not_match(self):
        status, text = self.curl("Action=ListRoles&Version=2010-05-08", secret="wrong")
        self.assertEqual(status, 403)
        self.assertIn("<Code>SignatureDoesNotMatch</Code>", text)
        self.assertIn("<Type>Sender</Type>", text)
        self.assertFalse(self.fake.calls()[-1]["signature_ok"])

    def test_curl_get_query_must_be_sorted(self):
        # libcurl 7.88.1 signs the query string in the order given; AWS (and botocore's
        # canonical form) sorts it.  Sorted works, unsorted is refused.
        status, text = self.curl(None, method="GET", query="Action=ListRoles&Version=2010-05-08")
        self.assertEqual(status, 200, text)
        status, text = self.curl(None, method="GET", query="Version=2010-05-08&Action=ListRoles")
        self.assertEqual(status, 403, text)
        self.assertIn("SignatureDoesNotMatch", text)

    def test_botocore_wrong_secret(self):
        self.assertClientError("SignatureDoesNotMatch", 403,
                               self.client("iam", secret="not-the-secret").list_roles)

    def test_unknown_access_key(self):
        err = self.assertClientError("InvalidClientTokenId", 403,
                                     self.client("iam", akid="AKIAUNKNOWN000000000").list_roles)
        self.assertEqual(err["Error"]["Message"],
                         "The security token included in the request is invalid.")

    def test_missing_authorization(self):
        req = urllib.request.Request(self.url + "/", data=b"Action=ListRoles&Version=2010-05-08",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(ctx.exception.code, 403)
        body = ctx.exception.read().decode()
        self.assertIn("<Code>MissingAuthenticationToken</Code>", body)
        self.assertTrue(ctx.exception.headers["x-amzn-RequestId"])

    def test_tampered_body_is_refused(self):
        request = AWSRequest(method="POST", url=self.url + "/",
                             data=b"Action=ListRoles&Version=2010-05-08",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        SigV4Auth(Credentials(AKID, SECRET), "iam", "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
        req = urllib.request.Request(self.url + "/", headers=headers,
                                     data=b"Action=ListRoles&Version=2010-05-08&MaxItems=1")
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(ctx.exception.code, 403)
        self.assertIn(b"SignatureDoesNotMatch", ctx.exception.read())
        # The untouched request passes.
        req = urllib.request.Request(self.url + "/", headers=headers, data=request.body)
        with urllib.request.urlopen(req, timeout=5) as resp:
            self.assertEqual(resp.status, 200)

    def test_signature_too_old(self):
        self.fake.set_clock(signing_offset_seconds=16 * 60)
        err = self.assertClientError("SignatureDoesNotMatch", 403,
                                     self.client("iam").list_roles)
        self.assertIn("Signature expired", err["Error"]["Message"])
        self.fake.set_clock(signing_offset_seconds=-16 * 60)
        err = self.assertClientError("SignatureDoesNotMatch", 403,
                                     self.client("iam").list_roles)
        self.assertIn("Signature not yet current", err["Error"]["Message"])
        self.fake.set_clock(signing_offset_seconds=14 * 60)
        self.client("iam").list_roles()

    def test_iam_must_be_signed_for_us_east_1(self):
        self.assertClientError("SignatureDoesNotMatch", 403,
                               self.client("iam", region="eu-west-1").list_roles)

    def test_version_and_action_errors(self):
        status, text = self.curl("Action=ListRoles&Version=2011-06-15")
        self.assertEqual(status, 400)
        self.assertIn("<Code>InvalidParameterValue</Code>", text)
        status, text = self.curl("Action=ListUsers&Version=2010-05-08")
        self.assertEqual(status, 400)
        self.assertIn("<Code>InvalidAction</Code>", text)
        status, text = self.curl("Action=ListRoles&Version=2010-05-08", service="sts")
        self.assertIn("<Code>InvalidAction</Code>", text)
        self.assertIn('xmlns="https://sts.amazonaws.com/doc/2011-06-15/"', text)


class IamTests(FakeAwsTestCase):
    def test_list_roles_paging_in_order(self):
        iam = self.client("iam", akid="AKIAFAKETEST00000111", secret="secretOfAccount111")
        names, pages, marker = [], 0, None
        while True:
            kwargs = {"MaxItems": 2}
            if marker:
                kwargs["Marker"] = marker
            resp = iam.list_roles(**kwargs)
            pages += 1
            self.assertLessEqual(len(resp["Roles"]), 2)
            names += [r["RoleName"] for r in resp["Roles"]]
            if not resp["IsTruncated"]:
                self.assertNotIn("Marker", resp)
                break
            marker = resp["Marker"]
        self.assertEqual(pages, 3)
        self.assertEqual(names, ["alpha", "Bravo", "Charlie", "Delta", "Echo"])
        # botocore's own paginator agrees, and PathPrefix filters.
        pag = iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 2})
        self.assertEqual([r["RoleName"] for p in pag for r in p["Roles"]], names)
        self.assertEqual([r["RoleName"] for r in iam.list_roles(PathPrefix="/ci/")["Roles"]],
                         ["Bravo"])

    def test_server_side_short_pages(self):
        self.fake.config({"max_page_size": 1})
        iam = self.client("iam", akid="AKIAFAKETEST00000111", secret="secretOfAccount111")
        resp = iam.list_roles(MaxItems=100)
        self.assertEqual(len(resp["Roles"]), 1)
        self.assertTrue(resp["IsTruncated"])

    def test_trust_policy_round_trips_url_encoded(self):
        iam = self.client("iam", akid="AKIAFAKETEST00000111", secret="secretOfAccount111")
        roles = {r["RoleName"]: r for r in iam.list_roles()["Roles"]}
        seeded = {r["RoleName"]: r for r in SEED["accounts"][A1]["roles"]}
        for name, role in roles.items():
            # botocore itself URL-decodes and parses the document.
            self.assertEqual(role["AssumeRolePolicyDocument"],
                             seeded[name]["AssumeRolePolicyDocument"])
        alpha = roles["alpha"]
        self.assertEqual(alpha["Arn"], f"arn:aws:iam::{A1}:role/federated/alpha")
        self.assertRegex(alpha["RoleId"], r"^AROA[A-Z2-7]{17}$")
        self.assertEqual(alpha["Description"], "A & B <team_opsec>")
        self.assertEqual(alpha["MaxSessionDuration"], 43200)
        # The raw XML carries it percent-encoded the way AWS does.
        status, text = self.curl("Action=GetRole&Version=2010-05-08&RoleName=alpha",
                                 akid="AKIAFAKETEST00000111", secret="secretOfAccount111")
        self.assertEqual(status, 200, text)
        raw = re.search(r"<AssumeRolePolicyDocument>(.*)</AssumeRolePolicyDocument>",
                        text).group(1)
        self.assertTrue(raw.startswith("%7B%22Version%22%3A%222012-10-17%22"), raw)
        self.assertNotIn("/", raw)
        self.assertEqual(json.loads(urllib.parse.unquote(raw)),
                         seeded["alpha"]["AssumeRolePolicyDocument"])
        self.assertIn("<Description>A &amp; B &lt;team_opsec&gt;</Description>", text)
        self.assertIn("<RoleLastUsed/>", text)

    def test_inline_policy_round_trip(self):
        iam = self.client("iam", akid="AKIAFAKETEST00000111", secret="secretOfAccount111")
        doc = {"Version": "2012-10-17", "Statement": {
            "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-03-12T09:08:31Z"}}}}
        iam.put_role_policy(RoleName="alpha", PolicyName="session-revoker-deny",
                            PolicyDocument=json.dumps(doc, indent=2))
        self.assertEqual(iam.list_role_policies(RoleName="alpha")["PolicyNames"],
                         ["Existing", "session-revoker-deny"])
        got = iam.get_role_policy(RoleName="alpha", PolicyName="session-revoker-deny")
        self.assertEqual(got["PolicyDocument"], doc)
        self.assertEqual(got["RoleName"], "alpha")
        doc["Statement"]["Condition"]["DateLessThan"]["aws:TokenIssueTime"] = \
            "2026-03-13T00:00:00Z"
        iam.put_role_policy(RoleName="alpha", PolicyName="session-revoker-deny",
                            PolicyDocument=json.dumps(doc))
        self.assertEqual(iam.get_role_policy(RoleName="alpha",
                                             PolicyName="session-revoker-deny")
                         ["PolicyDocument"], doc)
        pages = iam.list_role_policies(RoleName="alpha", MaxItems=1)
        self.assertEqual(pages["PolicyNames"], ["Existing"])
        self.assertTrue(pages["IsTruncated"])
        rest = iam.list_role_policies(RoleName="alpha", MaxItems=1, Marker=pages["Marker"])
        self.assertEqual(rest["PolicyNames"], ["session-revoker-deny"])
        self.assertFalse(rest["IsTruncated"])
        iam.delete_role_policy(RoleName="alpha", PolicyName="session-revoker-deny")
        self.assertEqual(iam.list_role_policies(RoleName="alpha")["PolicyNames"], ["Existing"])
        self.assertClientError("NoSuchEntity", 404, iam.delete_role_policy,
                               RoleName="alpha", PolicyName="session-revoker-deny")
        state = self.fake.state()["accounts"][A1]["roles"]["alpha"]["inline_policies"]
        self.assertEqual(list(state), ["Existing"])

    def test_inline_policy_budget(self):
        iam = self.client("iam", akid="AKIAFAKETEST00000111", secret="secretOfAccount111")
        iam.delete_role_policy(RoleName="alpha", PolicyName="Existing")

        def doc_of_size(n):
            base = {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ""}]}
            pad = n - len(json.dumps(base, separators=(",", ":")))
            base["Statement"][0]["Resource"] = "x" * pad
            return base

        big = doc_of_size(10240 - len("p1"))
        iam.put_role_policy(RoleName="alpha", PolicyName="p1",
                            PolicyDocument=json.dumps(big, indent=4))  # whitespace is free
        err = self.assertClientError("LimitExceeded", 409, iam.put_role_policy,
                                     RoleName="alpha", PolicyName="p2",
                                     PolicyDocument=json.dumps(doc_of_size(60)))
        self.assertIn("10240", err["Error"]["Message"])
        # Replacing p1 by a smaller version of itself is fine.
        iam.put_role_policy(RoleName="alpha", PolicyName="p1",
                            PolicyDocument=json.dumps(doc_of_size(5000)))
        iam.put_role_policy(RoleName="alpha", PolicyName="p2",
                            PolicyDocument=json.dumps(doc_of_size(60)))

    def test_errors(self):
        iam = self.client("iam", akid="AKIAFAKETEST00000111", secret="secretOfAccount111")
        err = self.assertClientError("NoSuchEntity", 404, iam.get_role, RoleName="Nope")
        self.assertEqual(err["Error"]["Message"], "The role with name Nope cannot be found.")
        self.assertClientError("NoSuchEntity", 404, iam.get_role_policy,
                               RoleName="alpha", PolicyName="Nope")
        self.assertClientError("NoSuchEntity", 404, iam.delete_role_policy,
                               RoleName="Nope", PolicyName="Existing")
        self.assertClientError("NoSuchEntity", 404, iam.put_role_policy, RoleName="Nope",
                               PolicyName="x", PolicyDocument='{"Version":"2012-10-17",'
                               '"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}')
        self.assertClientError("NoSuchEntity", 404, iam.list_role_policies, RoleName="Nope")
        for bad in ("not json", "[]", '{"Statement": []}', '{"Version": "2012-10-17"}',
                    '{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*",'
                    '"Resource":"*","Principal":"*"}}'):
            self.assertClientError("MalformedPolicyDocument", 400, iam.put_role_policy,
                                   RoleName="alpha", PolicyName="x", PolicyDocument=bad)
        # Role names are case-insensitive in IAM.
        self.assertEqual(iam.get_role(RoleName="ALPHA")["Role"]["RoleName"], "alpha")


class ProtectedRolesAndTagsTests(FakeAwsTestCase):
    """ListRoleTags as botocore reads it, roles AWS lets no one edit, and the
    error shapes of IAM-compatible endpoints."""

    @classmethod
    def setUpClass(cls):
        seed = json.loads(json.dumps(SEED))
        roles = seed["accounts"][A1]["roles"]
        for r in roles:
            if r["RoleName"] == "Charlie":
                r["Tags"] = ([{"Key": f"k{i}", "Value": f"v{i}"} for i in range(4)] +
                             [{"Key": "session-revoker:groups", "Value": "team_hr team_x"}])
        roles.append({"RoleName": "AWSReservedSSO_Admin_0123456789abcdef",
                      "Path": "/aws-reserved/sso.amazonaws.com/",
                      "AssumeRolePolicyDocument": web_trust(A1, "team_sso")})
        roles.append({"RoleName": "AWSServiceRoleForThing",
                      "Path": "/aws-service-role/thing.amazonaws.com/",
                      "AssumeRolePolicyDocument": web_trust(A1, "team_slr")})
        roles.append({"RoleName": "Guarded", "protected": True,
                      "AssumeRolePolicyDocument": web_trust(A1, "team_g")})
        cls.fake = fake_aws.FakeAws(seed).start()
        cls.url = cls.fake.url

    def iam(self):
        return self.client("iam", akid="AKIAFAKETEST00000111", secret="secretOfAccount111")

    def test_list_role_tags_pages(self):
        iam = self.iam()
        pages, marker = [], None
        while True:
            kwargs = {"RoleName": "charlie", "MaxItems": 2}
            if marker:
                kwargs["Marker"] = marker
            pages.append(iam.list_role_tags(**kwargs))
            if not pages[-1]["IsTruncated"]:
                break
            marker = pages[-1]["Marker"]
        self.assertEqual(len(pages), 3)
        self.assertEqual([t["Key"] for p in pages for t in p["Tags"]],
                         ["k0", "k1", "k2", "k3", "session-revoker:groups"])
        self.assertEqual(iam.list_role_tags(RoleName="Echo")["Tags"], [])
        self.assertClientError("NoSuchEntity", 404, iam.list_role_tags, RoleName="Nobody")

    def test_protected_roles_refuse_inline_policies(self):
        iam = self.iam()
        doc = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "*", "Resource": "*"}]})
        for name in ("AWSReservedSSO_Admin_0123456789abcdef", "AWSServiceRoleForThing",
                     "Guarded"):
            err = self.assertClientError("UnmodifiableEntity", 400, iam.put_role_policy,
                                         RoleName=name, PolicyName="p", PolicyDocument=doc)
            self.assertIn(f"protected role '{name}'", err["Error"]["Message"])
            self.assertClientError("UnmodifiableEntity", 400, iam.delete_role_policy,
                                   RoleName=name, PolicyName="p")
        iam.put_role_policy(RoleName="Echo", PolicyName="p", PolicyDocument=doc)

    def test_error_shapes(self):
        body = "Action=GetRole&Version=2010-05-08&RoleName=Nobody"
        args = {"akid": "AKIAFAKETEST00000111", "secret": "secretOfAccount111"}
        status, text = self.curl(body, **args)
        self.assertEqual(status, 404)
        self.assertRegex(text, r"<ErrorResponse[^>]*>\s*<Error>\s*<Type>Sender</Type>\s*"
                               r"<Code>NoSuchEntity</Code>")
        self.assertEqual(self.control("/_fake/config", {"error_shape": "errors"})["error_shape"],
                         "errors")
        status, text = self.curl(body, **args)
        self.assertEqual(status, 404)
        self.assertRegex(text, r"<ErrorResponse[^>]*>\s*<Errors>\s*<Error>\s*"
                               r"<Type>Sender</Type>\s*<Code>NoSuchEntity</Code>")
        self.control("/_fake/config", {"error_shape": "html"})
        status, text = self.curl(body, **args)
        self.assertEqual(status, 404)
        self.assertTrue(text.startswith("<html>"), text)
        self.assertNotIn("NoSuchEntity", text)
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            self.control("/_fake/config", {"error_shape": "soap"})
        self.assertEqual(ctx.exception.code, 400)
        self.fake.reset()
        self.assertEqual(self.fake.config()["error_shape"], "aws")


class StsTests(FakeAwsTestCase):
    def test_assume_role_into_another_account(self):
        resp = self.assume_admin()
        creds = resp["Credentials"]
        self.assertRegex(creds["AccessKeyId"], r"^ASIA[A-Z2-7]{16}$")
        self.assertEqual(resp["AssumedRoleUser"]["Arn"],
                         f"arn:aws:sts::{A2}:assumed-role/SessionRevokerAdmin/revoker-test")
        self.assertTrue(resp["AssumedRoleUser"]["AssumedRoleId"].endswith(":revoker-test"))
        left = (creds["Expiration"] - self.fake.now()).total_seconds()
        self.assertTrue(3500 < left <= 3600, left)
        args = self.session_client_args(creds)
        ident = self.client("sts", **args).get_caller_identity()
        self.assertEqual(ident["Account"], A2)
        self.assertEqual(ident["Arn"], resp["AssumedRoleUser"]["Arn"])
        iam = self.client("iam", **args)
        self.assertEqual(sorted(r["RoleName"] for r in iam.list_roles()["Roles"]),
                         ["OpenToSecurity", "OpsecTwo", "SessionRevokerAdmin"])
        self.assertClientError("NoSuchEntity", 404, iam.get_role, RoleName="alpha")
        # A bare account id as principal means that account's root.
        self.client("sts").assume_role(RoleArn=f"arn:aws:iam::{A2}:role/OpenToSecurity",
                                       RoleSessionName="s1")
        sessions = self.fake.state()["sessions"]
        self.assertEqual(len(sessions), 2)
        self.assertNotIn(creds["SecretAccessKey"], json.dumps(self.fake.state()))
        self.assertNotIn(creds["SessionToken"], json.dumps(self.fake.state()))

    def test_session_token_missing_or_wrong(self):
        creds = self.assume_admin()["Credentials"]
        no_token = self.client("iam", akid=creds["AccessKeyId"],
                               secret=creds["SecretAccessKey"])
        self.assertClientError("InvalidClientTokenId", 403, no_token.list_roles)
        bad_token = self.client("iam", akid=creds["AccessKeyId"],
                                secret=creds["SecretAccessKey"], token="AQoDYXdzEXAMPLE")
        self.assertClientError("InvalidClientTokenId", 403, bad_token.list_roles)
        wrong_secret = self.client("iam", akid=creds["AccessKeyId"], secret="x" * 40,
                                   token=creds["SessionToken"])
        self.assertClientError("SignatureDoesNotMatch", 403, wrong_secret.list_roles)

    def test_expired_session(self):
        creds = self.assume_admin(duration=900)["Credentials"]
        iam = self.client("iam", **self.session_client_args(creds))
        iam.list_roles()
        self.fake.set_clock(advance_seconds=901)
        err = self.assertClientError("ExpiredToken", 403, iam.list_roles)
        self.assertEqual(err["Error"]["Message"],
                         "The security token included in the request is expired")
        self.assertTrue(self.fake.state()["sessions"][0]["expired"])
        # The fake's clock moved, the signing window did not: base keys still work.
        fresh = self.assume_admin()["Credentials"]
        self.client("iam", **self.session_client_args(fresh)).list_roles()

    def test_assume_role_refusals(self):
        sts = self.client("sts")
        self.assertClientError("AccessDenied", 403, self.assume_admin, external_id="wrong")
        self.assertClientError("AccessDenied", 403, self.assume_admin, external_id=None)
        self.assertClientError("AccessDenied", 403, sts.assume_role,
                               RoleArn=f"arn:aws:iam::{A1}:role/Delta", RoleSessionName="s1")
        self.assertClientError("AccessDenied", 403, sts.assume_role,
                               RoleArn="arn:aws:iam::333333333333:role/SessionRevokerAdmin",
                               RoleSessionName="s1")
        self.assertClientError("ValidationError", 400, self.assume_admin, duration=7200)
        unvalidated = self.client("sts", config=NO_RETRY.merge(
            Config(parameter_validation=False)))
        self.assertClientError("ValidationError", 400, unvalidated.assume_role,
                               RoleArn=f"arn:aws:iam::{A2}:role/SessionRevokerAdmin",
                               RoleSessionName="bad name!", ExternalId="session-revoker")
        self.assertClientError("ValidationError", 400, unvalidated.assume_role,
                               RoleArn=f"arn:aws:iam::{A2}:role/SessionRevokerAdmin",
                               RoleSessionName="ok", ExternalId="session-revoker",
                               DurationSeconds=600)
        self.assertEqual(self.fake.state()["sessions"], [])

    def test_web_identity(self):
        token = jwt({"iss": "https://auth.example.com/", "sub": "user-1",
                     "aud": ["revoker-demo"], "amr": ["team_opsec"]})
        # botocore sends this call unsigned even when it has credentials.
        sts = self.client("sts")
        resp = sts.assume_role_with_web_identity(
            RoleArn=f"arn:aws:iam::{A2}:role/OpsecTwo", RoleSessionName="user-1",
            WebIdentityToken=token)
        self.assertEqual(resp["SubjectFromWebIdentityToken"], "user-1")
        self.assertEqual(resp["Audience"], "revoker-demo")
        self.assertEqual(resp["Provider"], "auth.example.com/")
        self.assertEqual(self.fake.calls()[-1]["signature_ok"], None)
        self.assertEqual(self.fake.calls()[-1]["access_key_id"], None)
        ident = self.client("sts", **self.session_client_args(resp["Credentials"])) \
            .get_caller_identity()
        self.assertEqual(ident["Arn"], f"arn:aws:sts::{A2}:assumed-role/OpsecTwo/user-1")
        self.assertClientError("InvalidIdentityToken", 400,
                               sts.assume_role_with_web_identity,
                               RoleArn=f"arn:aws:iam::{A2}:role/OpsecTwo",
                               RoleSessionName="user-1", WebIdentityToken="not-a-jwt")

    def test_revocation_policy_denies_old_sessions(self):
        token = jwt({"iss": "https://auth.example.com/", "sub": "u", "aud": "revoker-demo"})
        sts = self.client("sts", config=NO_RETRY.merge(Config(signature_version=botocore.UNSIGNED)))

        def login():
            return sts.assume_role_with_web_identity(
                RoleArn=f"arn:aws:iam::{A2}:role/OpsecTwo", RoleSessionName="u1",
                WebIdentityToken=token)["Credentials"]
        old = self.client("iam", **self.session_client_args(login()))
        old.list_roles()
        cutoff = self.fake.now().replace(microsecond=0).timestamp() + 1
        admin = self.client("iam", **self.session_client_args(self.assume_admin()["Credentials"]))
        admin.put_role_policy(RoleName="OpsecTwo", PolicyName="session-revoker-deny",
                              PolicyDocument=json.dumps({
                                  "Version": "2012-10-17", "Statement": [{
                                      "Effect": "Deny", "Action": "*", "Resource": "*",
                                      "Condition": {"DateLessThan": {
                                          "aws:TokenIssueTime": fake_aws._iso(
                                              fake_aws._parse_time(cutoff))}}}]}))
        err = self.assertClientError("AccessDenied", 403, old.list_roles)
        self.assertIn("explicit deny", err["Error"]["Message"])
        # GetCallerIdentity is never denied, as on AWS.
        self.client("sts", **self.session_client_args(login())).get_caller_identity()
        self.fake.set_clock(advance_seconds=5)
        self.client("iam", **self.session_client_args(login())).list_roles()


class FaultTests(FakeAwsTestCase):
    def test_throttle_count_then_success(self):
        self.control("/_fake/faults", [{"action": "ListRoles", "kind": "throttle", "count": 2}])
        iam = self.client("iam")
        for _ in range(2):
            err = self.assertClientError("Throttling", 400, iam.list_roles)
            self.assertEqual(err["Error"]["Message"], "Rate exceeded")
        iam.list_roles()
        iam.list_roles()
        self.assertEqual(self.fake.state()["call_counts"][SEC_ACCOUNT]["ListRoles"], 4)
        self.assertEqual(self.fake.state()["call_counts_ok"][SEC_ACCOUNT]["ListRoles"], 2)

    def test_throttle_happens_after_the_signature_check(self):
        self.fake.set_faults([{"action": "*", "kind": "throttle"}])
        self.assertClientError("SignatureDoesNotMatch", 403,
                               self.client("iam", secret="wrong").list_roles)
        self.assertClientError("Throttling", 400, self.client("iam").list_roles)

    def test_5xx(self):
        self.fake.set_faults([{"action": "GetCallerIdentity", "kind": "error503", "count": 1},
                              {"action": "ListRoles", "kind": "error500", "count": 1}])
        self.assertClientError("ServiceUnavailable", 503,
                               self.client("sts").get_caller_identity)
        self.assertClientError("InternalFailure", 500, self.client("iam").list_roles)
        self.client("sts").get_caller_identity()
        self.client("iam").list_roles()

    def test_expired(self):
        self.fake.set_faults([{"action": "ListRoles", "kind": "expired", "count": 1}])
        self.assertClientError("ExpiredToken", 403, self.client("iam").list_roles)
        self.client("iam").list_roles()

    def test_account_scoped_fault(self):
        self.fake.set_faults([{"action": "*", "account": A1, "kind": "throttle"}])
        self.client("iam").list_roles()
        self.assertClientError("Throttling", 400, self.client(
            "iam", akid="AKIAFAKETEST00000111", secret="secretOfAccount111").list_roles)
        # STS calls count against the account of the role they name.
        self.assume_admin()

    def test_reset(self):
        self.fake.set_faults([{"action": "ListRoles", "kind": "reset", "count": 2}])
        with self.assertRaises((ConnectionClosedError, EndpointConnectionError)):
            self.client("iam").list_roles()
        # A real RST, not a clean close.
        sock = socket.create_connection(("127.0.0.1", self.fake.port), timeout=5)
        request = AWSRequest(method="POST", url=self.url + "/",
                             data=b"Action=ListRoles&Version=2010-05-08",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        SigV4Auth(Credentials(AKID, SECRET), "iam", "us-east-1").add_auth(request)
        head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
        sock.sendall((f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{self.fake.port}\r\n{head}"
                      f"Content-Length: {len(request.body)}\r\n\r\n").encode() + request.body)
        with self.assertRaises(ConnectionResetError):
            while sock.recv(4096):
                pass
        sock.close()
        self.client("iam").list_roles()
        self.assertEqual([c["fault"] for c in self.fake.calls()], ["reset", "reset", None])

    def test_call_is_carried_out_when_the_client_leaves_during_latency(self):
        # What AWS does with a call that arrived: the crash tests rely on it.
        self.fake.set_faults([{"action": "PutRolePolicy", "kind": "latency", "ms": 300}])
        doc = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "*", "Resource": "*"}]})
        body = urllib.parse.urlencode({"Action": "PutRolePolicy", "Version": "2010-05-08",
                                       "RoleName": "Echo", "PolicyName": "gone",
                                       "PolicyDocument": doc}).encode()
        request = AWSRequest(method="POST", url=self.url + "/", data=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        SigV4Auth(Credentials("AKIAFAKETEST00000111", "secretOfAccount111"), "iam",
                  "us-east-1").add_auth(request)
        head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
        with socket.create_connection(("127.0.0.1", self.fake.port), timeout=5) as sock:
            sock.sendall((f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{self.fake.port}\r\n{head}"
                          f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
            time.sleep(0.05)
        deadline = time.monotonic() + 5
        while not self.fake.calls() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual([(c["action"], c["status"]) for c in self.fake.calls()],
                         [("PutRolePolicy", 200)])
        self.assertIn("gone", self.fake.state()["accounts"][A1]["roles"]["Echo"]
                      ["inline_policies"])

    def test_latency_and_overlap(self):
        self.fake.set_faults([{"action": "ListRoles", "kind": "latency", "ms": 300}])
        iam = self.client("iam")
        t0 = time.monotonic()
        iam.list_roles()
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        # Sleeps happen outside the lock: four calls in parallel take ~300 ms, not 1.2 s.
        clients = [self.client("iam") for _ in range(4)]
        threads = [threading.Thread(target=c.list_roles) for c in clients]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.3)
        self.assertLess(elapsed, 1.0)

    def test_probability_is_reproducible(self):
        def run():
            fake = fake_aws.FakeAws(dict(SEED, faults=[
                {"action": "*", "kind": "throttle", "probability": 0.5}])).start()
            try:
                iam = SESSION.create_client("iam", endpoint_url=fake.url,
                                            region_name="us-east-1",
                                            aws_access_key_id=AKID,
                                            aws_secret_access_key=SECRET, config=NO_RETRY)
                outcome = []
                for _ in range(20):
                    try:
                        iam.list_roles()
                        outcome.append(1)
                    except ClientError:
                        outcome.append(0)
                iam.close()
                return outcome
            finally:
                fake.stop()
        first = run()
        self.assertEqual(first, run())
        self.assertTrue(0 < sum(first) < 20, first)

    def test_bad_fault_is_refused(self):
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            self.control("/_fake/faults", [{"action": "*", "kind": "explode"}])
        self.assertEqual(ctx.exception.code, 400)


class ControlApiTests(FakeAwsTestCase):
    def test_state_calls_and_counters(self):
        health = self.control("/_fake/health")
        self.assertIs(health["ok"], True)
        self.assertGreater(health["cpu_seconds"], 0)  # the fake's own CPU time so far
        iam = self.client("iam", akid="AKIAFAKETEST00000111", secret="secretOfAccount111")
        iam.put_role_policy(RoleName="Echo", PolicyName="deny",
                            PolicyDocument='{"Version":"2012-10-17","Statement":'
                                           '{"Effect":"Deny","Action":"*","Resource":"*"}}')
        iam.get_role(RoleName="Charlie")
        state = self.control("/_fake/state")
        echo = state["accounts"][A1]["roles"]["Echo"]
        self.assertEqual(echo["inline_policies"]["deny"]["Statement"]["Effect"], "Deny")
        self.assertEqual(echo["AssumeRolePolicyDocument"], web_trust(A1, "team_e"))
        self.assertEqual(state["call_counts"][A1], {"PutRolePolicy": 1, "GetRole": 1})
        calls = self.control("/_fake/calls")
        self.assertEqual([(c["action"], c["role"], c["status"], c["signature_ok"])
                          for c in calls],
                         [("PutRolePolicy", "Echo", 200, True), ("GetRole", "Charlie", 200, True)])
        self.assertEqual(self.control(f"/_fake/calls?since={calls[0]['seq']}"), calls[1:])
        self.control("/_fake/reset-counters", {})
        self.assertEqual(self.control("/_fake/state")["call_counts"], {})
        self.assertEqual(self.control("/_fake/calls"), [])
        clock = self.control("/_fake/clock", {"offset_seconds": 3600})
        self.assertEqual(clock["offset_seconds"], 3600)
        self.control("/_fake/reset", {})
        self.assertEqual(self.control("/_fake/clock")["offset_seconds"], 0)
        self.assertNotIn("deny", self.fake.state()["accounts"][A1]["roles"]["Echo"]
                         ["inline_policies"])


class LimitTests(FakeAwsTestCase):
    def test_body_over_one_mib_is_413(self):
        req = urllib.request.Request(self.url + "/", data=b"x" * ((1 << 20) + 1), method="POST")
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(ctx.exception.code, 413)
        self.assertEqual(self.fake.calls(), [])


class HttpTests(FakeAwsTestCase):
    def raw(self, data, read_all=True):
        with socket.create_connection(("127.0.0.1", self.fake.port), timeout=5) as sock:
            sock.sendall(data)
            out = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return out
                out += chunk
                if not read_all and b"\r\n\r\n" in out:
                    return out

    def signed(self, body, headers=None):
        request = AWSRequest(method="POST", url=self.url + "/", data=body,
                             headers=dict({"Content-Type": "application/x-www-form-urlencoded"},
                                          **(headers or {})))
        SigV4Auth(Credentials(AKID, SECRET), "iam", "us-east-1").add_auth(request)
        return request

    def test_only_get_and_post(self):
        for method in ("HEAD", "PUT", "DELETE", "PATCH"):
            head = self.raw(f"{method} /?Action=ListRoles&Version=2010-05-08 HTTP/1.1\r\n"
                            f"Host: 127.0.0.1\r\nConnection: close\r\n\r\n".encode(),
                            read_all=method != "HEAD")
            self.assertTrue(head.startswith(b"HTTP/1.1 405 "), (method, head[:60]))
        self.assertEqual(self.fake.calls(), [])

    def test_expect_100_continue(self):
        t0 = time.monotonic()
        status, text = self.curl("Action=ListRoles&Version=2010-05-08",
                                 akid="AKIAFAKETEST00000111", secret="secretOfAccount111",
                                 headers=["Expect: 100-continue"])
        self.assertEqual(status, 200, text)
        self.assertLess(time.monotonic() - t0, 0.9)  # curl waits 1 s for a 100 otherwise
        head = self.raw(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n"
                        b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 417 "), head[:60])

    def test_413_closes_the_connection(self):
        out = self.raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n"
                       + b"x" * 1048577)
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out[:60])  # and then EOF

    def test_signed_header_that_is_not_utf8(self):
        # Signed as U+00FF (UTF-8 c3 bf), sent as the byte ff: no match, and a clean 403.
        body = b"Action=ListRoles&Version=2010-05-08"
        request = self.signed(body, {"X-Amz-Meta": "\u00ff"})
        head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
        out = self.raw(f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{self.fake.port}\r\n{head}"
                       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                       .encode("latin-1") + body)
        self.assertTrue(out.startswith(b"HTTP/1.1 403 "), out[:200])
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", out)
        self.assertEqual(self.fake.calls()[-1]["error_code"], "SignatureDoesNotMatch")

    def test_long_header_lines(self):
        # Session tokens have no documented bound: 20,000 characters still reach the
        # signature check (and fail it here: the key has no token).
        status, text = self.curl("Action=ListRoles&Version=2010-05-08",
                                 akid="AKIAFAKETEST00000111", secret="secretOfAccount111",
                                 token="t" * 20000)
        self.assertEqual(status, 403, text)
        self.assertIn("<Code>InvalidClientTokenId</Code>", text)


class ShardTests(unittest.TestCase):
    """Two shards serving one world (what bench/fanout runs behind nginx); here
    the test is the router."""

    A3 = "333333333333"

    def setUp(self):
        seed = json.loads(json.dumps(SEED))
        seed["accounts"][self.A3] = {"roles": [
            admin_role(), {"RoleName": "OpsecThree",
                           "AssumeRolePolicyDocument": web_trust(self.A3, "team_opsec")}]}
        self.seed = seed
        self.shards = [fake_aws.FakeAws(seed, shard=(i, 2, "shared-key")).start()
                       for i in range(2)]
        for shard in self.shards:
            self.addCleanup(shard.stop)

    def client(self, shard, service, akid=AKID, secret=SECRET, token=None):
        client = SESSION.create_client(service, endpoint_url=shard.url, region_name="us-east-1",
                                       aws_access_key_id=akid, aws_secret_access_key=secret,
                                       aws_session_token=token, config=NO_RETRY)
        self.addCleanup(client.close)
        return client

    def assume(self, shard, account):
        return self.client(shard, "sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/SessionRevokerAdmin",
            RoleSessionName="shard-test", ExternalId="session-revoker")["Credentials"]

    def session_client(self, shard, creds, token=None):
        return self.client(shard, "iam", creds["AccessKeyId"], creds["SecretAccessKey"],
                           token or creds["SessionToken"])

    def test_ownership(self):
        # Accounts of base credentials stay with shard 0; the others alternate.
        self.assertEqual(self.shards[0].state()["shard"],
                         {"index": 0, "count": 2, "accounts": [A1, A2]})
        self.assertEqual(self.shards[1].state()["shard"],
                         {"index": 1, "count": 2, "accounts": [self.A3]})

    def test_session_issued_by_one_shard_works_on_the_owner(self):
        creds = self.assume(self.shards[0], self.A3)  # any shard may answer AssumeRole
        self.assertRegex(creds["AccessKeyId"], r"^ASIA1[A-Z2-7]{15}$")
        iam = self.session_client(self.shards[1], creds)
        self.assertEqual(sorted(r["RoleName"] for r in iam.list_roles()["Roles"]),
                         ["OpsecThree", "SessionRevokerAdmin"])
        doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*",
                                                        "Resource": "*"}]}
        iam.put_role_policy(RoleName="OpsecThree", PolicyName="deny",
                            PolicyDocument=json.dumps(doc))
        roles = self.shards[1].state()["accounts"][self.A3]["roles"]
        self.assertEqual(roles["OpsecThree"]["inline_policies"], {"deny": doc})
        self.assertTrue(all(c["signature_ok"] for c in self.shards[1].calls()))
        # Shards issue different keys from the same seed.
        again = self.assume(self.shards[1], self.A3)
        self.assertNotEqual(again["AccessKeyId"], creds["AccessKeyId"])
        self.assertEqual(self.session_client(self.shards[1], again).list_roles()
                         ["Roles"][0]["RoleName"], "OpsecThree")
        # Session keys of shard 0's accounts say so too.
        self.assertTrue(self.assume(self.shards[1], A2)["AccessKeyId"].startswith("ASIA0"))

    def test_misrouted_call_is_a_loud_500(self):
        creds = self.assume(self.shards[0], self.A3)
        with self.assertRaises(ClientError) as ctx:
            self.session_client(self.shards[0], creds).list_roles()
        err = ctx.exception.response
        self.assertEqual((err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]),
                         ("InternalFailure", 500))
        self.assertIn("wrong shard", err["Error"]["Message"])

    def test_forged_or_foreign_tokens_are_refused(self):
        creds = self.assume(self.shards[0], self.A3)
        token = creds["SessionToken"]
        payload, _, mac = token.rpartition(".")
        forged = payload + "." + ("0" if mac[0] != "0" else "1") + mac[1:]
        with self.assertRaises(ClientError) as ctx:
            self.session_client(self.shards[1], creds, token=forged).list_roles()
        self.assertEqual(ctx.exception.response["Error"]["Code"], "InvalidClientTokenId")
        # Another key id with a good token: the token names its own key.
        other = dict(creds, AccessKeyId="ASIA1" + "A" * 15)
        with self.assertRaises(ClientError) as ctx:
            self.session_client(self.shards[1], other).list_roles()
        self.assertEqual(ctx.exception.response["Error"]["Code"], "InvalidClientTokenId")
        # A shard with another shared key does not take it.
        stranger = fake_aws.FakeAws(self.seed, shard=(1, 2, "another-key")).start()
        self.addCleanup(stranger.stop)
        with self.assertRaises(ClientError) as ctx:
            self.session_client(stranger, creds).list_roles()
        self.assertEqual(ctx.exception.response["Error"]["Code"], "InvalidClientTokenId")

    def test_expired_session_from_a_token(self):
        creds = self.assume(self.shards[0], self.A3)
        self.shards[1].set_clock(offset_seconds=7200)
        with self.assertRaises(ClientError) as ctx:
            self.session_client(self.shards[1], creds).list_roles()
        self.assertEqual(ctx.exception.response["Error"]["Code"], "ExpiredToken")


EXAMPLE_KEY = ("AKIAFAKEREVOKER00001", "fakeRevokerSecretKey/0123456789abcdefEXAMPLE")


# -- evaluating a session's request as IAM would ----------------------------------

CUTOFF = "2026-11-30T12:00:00Z"
BEFORE = "2026-11-30T11:00:00Z"
AFTER = "2026-11-30T13:00:00Z"


def deny_statement(sid, condition, action="*"):
    return {"Sid": sid, "Effect": "Deny", "Action": action, "Resource": "*",
            "Condition": condition}


ALLOW_ALL = {"Version": "2012-10-17", "Statement": [
    {"Sid": "AllowAll", "Effect": "Allow", "Action": "*", "Resource": "*"}]}


def chain_trust(account, role_name):
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:role/{role_name}"},
        "Action": "sts:AssumeRole"}]}


def eval_seed():
    seed = json.loads(json.dumps(SEED))
    roles = seed["accounts"][A2]["roles"]
    for role in roles:
        if role["RoleName"] == "OpsecTwo":
            role["inline_policies"] = {"Allow": ALLOW_ALL}
    roles.append({"RoleName": "Chained", "AssumeRolePolicyDocument": chain_trust(A2, "OpsecTwo"),
                  "inline_policies": {"Allow": ALLOW_ALL}})
    return seed


class IamPolicyTruthTableTests(unittest.TestCase):
    """iam_policy.evaluate() against a deny of the kind targeted revocation writes:
    one person (aws:SourceIdentity or a principal tag) and sessions issued before
    a cut-off.  Every row is a session and what IAM decides for it."""

    POLICY = {"Version": "2012-10-17", "Statement": [
        {"Sid": "AllowAll", "Effect": "Allow", "Action": "*", "Resource": "*"},
        deny_statement("Alice", {"DateLessThan": {"aws:TokenIssueTime": CUTOFF},
                                 "StringEquals": {"aws:SourceIdentity": "alice"}}),
    ]}

    def decide(self, policy, session, action="s3:GetObject", resource="*"):
        ctx = iam_policy.session_context(session)
        return iam_policy.evaluate([("inline:p", json.dumps(policy))], action, resource,
                                   ctx)["decision"]

    def test_source_identity_and_issue_time(self):
        rows = [
            ("Alice's old session", {"source_identity": "alice",
                                     "token_issue_time": BEFORE}, "explicitDeny"),
            ("Alice's new session", {"source_identity": "alice",
                                     "token_issue_time": AFTER}, "allowed"),
            ("at the cut-off itself (less than, not equal)",
             {"source_identity": "alice", "token_issue_time": CUTOFF}, "allowed"),
            ("Bob's old session", {"source_identity": "bob",
                                   "token_issue_time": BEFORE}, "allowed"),
            ("StringEquals is case-sensitive", {"source_identity": "Alice",
                                                "token_issue_time": BEFORE}, "allowed"),
            ("a session without source identity: the key is absent, the condition "
             "is false", {"source_identity": None, "token_issue_time": BEFORE}, "allowed"),
            ("Alice's chained session keeps her source identity; issued before the "
             "cut-off", {"source_identity": "alice", "token_issue_time": BEFORE,
                         "chained": True}, "explicitDeny"),
            ("Alice's chained session made after the cut-off has a new issue time",
             {"source_identity": "alice", "token_issue_time": AFTER, "chained": True},
             "allowed"),
        ]
        for name, session, want in rows:
            with self.subTest(name):
                self.assertEqual(self.decide(self.POLICY, session), want)

    def test_operators_and_absent_keys(self):
        old_alice = {"source_identity": "alice", "token_issue_time": BEFORE,
                     "principal_tags": {"user": "alice@example.com"}}
        nobody = {"token_issue_time": BEFORE}
        tagged_chain = {"source_identity": "alice", "token_issue_time": BEFORE,
                        "principal_tags": {"user": "alice@example.com", "team": "ops"},
                        "chained": True, "transitive_tag_keys": ["user"]}
        untagged_chain = dict(tagged_chain, transitive_tag_keys=None)
        rows = [
            ("StringLike pattern", {"StringLike": {"aws:SourceIdentity": "ali*"}},
             old_alice, True),
            ("StringLike ? is one character", {"StringLike": {"aws:SourceIdentity": "al?"}},
             old_alice, False),
            ("ForAnyValue:StringEquals, one of many values",
             {"ForAnyValue:StringEquals": {"aws:SourceIdentity": ["bob", "alice"]}},
             old_alice, True),
            ("ForAnyValue on an absent key is false",
             {"ForAnyValue:StringEquals": {"aws:SourceIdentity": ["alice"]}}, nobody, False),
            ("ForAnyValue on an absent key is false even with IfExists",
             {"ForAnyValue:StringEqualsIfExists": {"aws:SourceIdentity": ["alice"]}}, nobody,
             False),
            ("ForAllValues on an absent key is true",
             {"ForAllValues:StringEquals": {"aws:SourceIdentity": ["alice"]}}, nobody, True),
            ("several values ORed", {"StringEquals": {"aws:SourceIdentity": ["bob", "alice"]}},
             old_alice, True),
            ("principal tag, key name case-insensitive",
             {"StringEquals": {"aws:PrincipalTag/User": "alice@example.com"}}, old_alice,
             True),
            ("principal tag absent", {"StringEquals": {"aws:PrincipalTag/user": "x"}},
             nobody, False),
            ("transitive tag survives chaining",
             {"StringEquals": {"aws:PrincipalTag/user": "alice@example.com"}},
             tagged_chain, True),
            ("non-transitive tag is gone after chaining",
             {"StringEquals": {"aws:PrincipalTag/team": "ops"}}, tagged_chain, False),
            ("no transitive keys: no tags after chaining",
             {"StringEquals": {"aws:PrincipalTag/user": "alice@example.com"}},
             untagged_chain, False),
            ("StringNotEquals on an absent key is true",
             {"StringNotEquals": {"aws:SourceIdentity": "alice"}}, nobody, True),
            ("StringNotEquals NORs its values",
             {"StringNotEquals": {"aws:SourceIdentity": ["bob", "alice"]}}, old_alice, False),
            ("StringEqualsIfExists on an absent key is true",
             {"StringEqualsIfExists": {"aws:SourceIdentity": "alice"}}, nobody, True),
            ("Null true when absent", {"Null": {"aws:SourceIdentity": "true"}}, nobody, True),
            ("Null true when present", {"Null": {"aws:SourceIdentity": "true"}}, old_alice,
             False),
            ("DateGreaterThan", {"DateGreaterThan": {"aws:TokenIssueTime":
                                                     "2026-11-30T10:59:59Z"}}, old_alice, True),
            ("DateGreaterThan, equal is not greater",
             {"DateGreaterThan": {"aws:TokenIssueTime": BEFORE}}, old_alice, False),
            ("two operators are ANDed",
             {"StringEquals": {"aws:SourceIdentity": "alice"},
              "DateGreaterThan": {"aws:TokenIssueTime": CUTOFF}}, old_alice, False),
            ("a date on an absent key (no source identity is no date either)",
             {"DateLessThan": {"aws:CurrentTime": CUTOFF}}, nobody, False),
        ]
        for name, condition, session, denied in rows:
            with self.subTest(name):
                policy = {"Version": "2012-10-17",
                          "Statement": [deny_statement("D", condition)]}
                self.assertEqual(self.decide(policy, session),
                                 "explicitDeny" if denied else "implicitDeny")

    def test_date_formats(self):
        # 11:00Z in the forms IAM's Date operators take (W3C ISO 8601 or epoch).
        session = {"token_issue_time": "2026-11-30T11:00:00Z"}
        rows = [("2026-11-30T11:00:01Z", True), ("2026-11-30T11:00Z", False),
                ("2026-11-30T11:01Z", True), ("2026-11-30T12:30:00+01:00", True),
                ("2026-11-30T11:00:00.500Z", True), ("2026-12-01", True),
                ("2026-11-30", False), ("2026-12", True), ("2027", True),
                (str(1796036400 + 1), True), (1796036400, False),
                ("30/11/2026", False), ("2026-11-30 11:00:01", False)]
        self.assertEqual(iam_policy.parse_iam_date(1796036400),
                         iam_policy.parse_iam_date("2026-11-30T11:00:00Z"))
        for value, denied in rows:
            with self.subTest(value):
                policy = {"Version": "2012-10-17", "Statement": [deny_statement(
                    "D", {"DateLessThan": {"aws:TokenIssueTime": value}})]}
                self.assertEqual(self.decide(policy, session),
                                 "explicitDeny" if denied else "implicitDeny")

    def test_actions_resources_and_unsupported_operators(self):
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::bucket/*"},
            {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "60"}}}]}
        session = {"token_issue_time": BEFORE}
        self.assertEqual(self.decide(policy, session, "S3:GetObject",
                                     "arn:aws:s3:::bucket/key"), "allowed")
        self.assertEqual(self.decide(policy, session, "s3:PutObject",
                                     "arn:aws:s3:::bucket/key"), "implicitDeny")
        self.assertEqual(self.decide(policy, session, "s3:GetObject",
                                     "arn:aws:s3:::other/key"), "implicitDeny")
        self.assertEqual(self.decide(policy, session, "iam:ListRoles"), "explicitDeny")
        result = iam_policy.evaluate([("inline:p", policy)], "s3:GetObject",
                                     "arn:aws:s3:::bucket/key",
                                     iam_policy.session_context(session))
        self.assertEqual(result["unsupported"][0]["operator"], "NumericLessThan")

    def test_bad_sessions_are_refused_clearly(self):
        for session, words in (({}, "token_issue_time is required"),
                               ({"token_issue_time": "yesterday"}, "'yesterday'"),
                               ({"token_issue_time": BEFORE, "source_identiy": "a"},
                                "source_identiy"),
                               ({"token_issue_time": BEFORE, "principal_tags": ["a"]},
                                "principal_tags")):
            with self.subTest(session):
                with self.assertRaises(ValueError) as ctx:
                    iam_policy.session_context(session)
                self.assertIn(words, str(ctx.exception))


class EvaluateTests(FakeAwsTestCase):
    """fake.evaluate() and POST /_fake/evaluate on the fake's roles, and the same
    policies enforced on the calls of real sessions it issued."""

    @classmethod
    def setUpClass(cls):
        cls.fake = fake_aws.FakeAws(eval_seed()).start()
        cls.url = cls.fake.url

    ROLE = f"arn:aws:iam::{A2}:role/OpsecTwo"

    def put_deny(self, statements, role="OpsecTwo"):
        admin = self.client("iam", **self.session_client_args(self.assume_admin()["Credentials"]))
        admin.put_role_policy(RoleName=role, PolicyName="session-revoker-deny",
                              PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                         "Statement": statements}))
        return admin

    def login(self, claims, role="OpsecTwo"):
        sts = self.client("sts", config=NO_RETRY.merge(Config(
            signature_version=botocore.UNSIGNED)))
        token = jwt(dict({"iss": "https://auth.example.com/", "aud": "revoker-demo"},
                         **claims))
        return sts.assume_role_with_web_identity(
            RoleArn=f"arn:aws:iam::{A2}:role/{role}", RoleSessionName="login",
            WebIdentityToken=token)

    def test_alice_old_session_refused_bob_not(self):
        self.put_deny([deny_statement("Alice", {
            "DateLessThan": {"aws:TokenIssueTime": CUTOFF},
            "StringEquals": {"aws:SourceIdentity": "alice"}})])
        rows = [("alice", BEFORE, "explicitDeny"), ("alice", AFTER, "allowed"),
                ("bob", BEFORE, "allowed"), (None, BEFORE, "allowed")]
        for who, issued, want in rows:
            with self.subTest(who=who, issued=issued):
                got = self.fake.evaluate(self.ROLE, "s3:ListBuckets", session={
                    "source_identity": who, "token_issue_time": issued})
                self.assertEqual(got["decision"], want)
                if want == "explicitDeny":
                    self.assertEqual(got["matched"][0]["policy"],
                                     "inline:session-revoker-deny")
                    self.assertEqual(got["matched"][0]["sid"], "Alice")
                # The same through the control API.
                self.assertEqual(self.control("/_fake/evaluate", {
                    "role_arn": self.ROLE, "action": "s3:ListBuckets", "session": {
                        "source_identity": who, "token_issue_time": issued}})["decision"],
                    want)

    def test_real_sessions_direct_and_chained(self):
        alice = self.login({"sub": "a", "https://aws.amazon.com/source_identity": "alice",
                            "https://aws.amazon.com/tags": {
                                "principal_tags": {"user": ["alice"], "team": ["ops"]},
                                "transitive_tag_keys": ["user"]}})
        self.assertEqual(alice["SourceIdentity"], "alice")
        bob = self.login({"sub": "b", "https://aws.amazon.com/source_identity": "bob"})
        anon = self.login({"sub": "c"})
        # Alice chains into a second role: a new issue time, the same source identity.
        self.fake.set_clock(advance_seconds=60)
        chained = self.client("sts", **self.session_client_args(alice["Credentials"])) \
            .assume_role(RoleArn=f"arn:aws:iam::{A2}:role/Chained",
                         RoleSessionName="chain")
        self.assertEqual(chained["SourceIdentity"], "alice")
        keys = {n: r["Credentials"]["AccessKeyId"] for n, r in
                (("alice", alice), ("bob", bob), ("anon", anon), ("chained", chained))}
        sessions = {s["access_key_id"]: s for s in self.fake.state()["sessions"]}
        self.assertGreater(sessions[keys["chained"]]["issued"],
                           sessions[keys["alice"]]["issued"])
        self.assertEqual(sessions[keys["chained"]]["principal_tags"], {"user": "alice"})
        cutoff = fake_aws._iso(self.fake.now() + fake_aws.datetime.timedelta(seconds=5))
        deny = deny_statement("Alice", {"DateLessThan": {"aws:TokenIssueTime": cutoff},
                                        "StringEquals": {"aws:SourceIdentity": "alice"}})
        self.put_deny([deny])
        self.put_deny([deny], role="Chained")
        chained_arn = f"arn:aws:iam::{A2}:role/Chained"
        for name, role, want in (("alice", self.ROLE, "explicitDeny"),
                                 ("bob", self.ROLE, "allowed"),
                                 ("anon", self.ROLE, "allowed"),
                                 ("chained", chained_arn, "explicitDeny")):
            with self.subTest(name):
                got = self.control("/_fake/evaluate", {
                    "role_arn": role, "action": "iam:ListRoles",
                    "access_key_id": keys[name]})
                self.assertEqual(got["decision"], want, got)
        # And the calls themselves: refused for Alice and her chained session only.
        creds = {"alice": alice, "bob": bob, "anon": anon, "chained": chained}
        for name in ("alice", "chained"):
            iam = self.client("iam", **self.session_client_args(creds[name]["Credentials"]))
            err = self.assertClientError("AccessDenied", 403, iam.list_roles)
            self.assertIn("explicit deny", err["Error"]["Message"])
        for name in ("bob", "anon"):
            self.client("iam", **self.session_client_args(creds[name]["Credentials"])) \
                .list_roles()
        # A deny on a principal tag reaches the chained session through its
        # transitive tag, not through the tag that was not transitive.
        self.put_deny([deny_statement("ByTag", {
            "StringEquals": {"aws:PrincipalTag/team": "ops"}})], role="Chained")
        self.assertEqual(self.fake.evaluate(chained_arn, "iam:ListRoles",
                                            access_key_id=keys["chained"])["decision"],
                         "allowed")
        self.put_deny([deny_statement("ByTag", {
            "StringEquals": {"aws:PrincipalTag/user": "alice"}})], role="Chained")
        self.assertEqual(self.fake.evaluate(chained_arn, "iam:ListRoles",
                                            access_key_id=keys["chained"])["decision"],
                         "explicitDeny")

    def test_chained_source_identity_cannot_change(self):
        alice = self.login({"sub": "a", "https://aws.amazon.com/source_identity": "alice"})
        sts = self.client("sts", **self.session_client_args(alice["Credentials"]))
        self.assertClientError("AccessDenied", 403, sts.assume_role,
                               RoleArn=f"arn:aws:iam::{A2}:role/Chained",
                               RoleSessionName="chain", SourceIdentity="mallory")

    def test_managed_policy_deny_counts(self):
        admin = self.client("iam", **self.session_client_args(self.assume_admin()["Credentials"]))
        doc = {"Version": "2012-10-17", "Statement": [deny_statement("Alice", {
            "DateLessThan": {"aws:TokenIssueTime": CUTOFF},
            "StringEquals": {"aws:SourceIdentity": "alice"}})]}
        arn = admin.create_policy(PolicyName="session-revoker-targeted",
                                  PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
        old_alice = {"source_identity": "alice", "token_issue_time": BEFORE}
        self.assertEqual(self.fake.evaluate(self.ROLE, "s3:GetObject", session=old_alice)
                         ["decision"], "allowed")  # not attached yet
        admin.attach_role_policy(RoleName="OpsecTwo", PolicyArn=arn)
        got = self.fake.evaluate(self.ROLE, "s3:GetObject", session=old_alice)
        self.assertEqual((got["decision"], got["matched"][0]["policy"]),
                         ("explicitDeny", arn))
        # Only the default version counts.
        doc["Statement"][0]["Condition"]["StringEquals"]["aws:SourceIdentity"] = "bob"
        admin.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(doc))
        self.assertEqual(self.fake.evaluate(self.ROLE, "s3:GetObject", session=old_alice)
                         ["decision"], "explicitDeny")
        admin.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(doc),
                                    SetAsDefault=True)
        self.assertEqual(self.fake.evaluate(self.ROLE, "s3:GetObject", session=old_alice)
                         ["decision"], "allowed")

    def test_bad_requests_are_400_naming_the_problem(self):
        rows = [({"role_arn": f"arn:aws:iam::{A2}:role/Nope", "action": "s3:GetObject",
                  "session": {"token_issue_time": BEFORE}}, "no role"),
                ({"role_arn": self.ROLE, "action": "s3:GetObject", "session": {}},
                 "token_issue_time is required"),
                ({"role_arn": self.ROLE, "action": "GetObject",
                  "session": {"token_issue_time": BEFORE}}, "service:Action"),
                ({"role_arn": self.ROLE, "action": "s3:GetObject",
                  "access_key_id": "ASIANOSUCHKEY0000000"}, "ASIANOSUCHKEY0000000"),
                ({"role_arn": self.ROLE, "action": "s3:GetObject"}, "session or access_key_id"),
                ({"role_arn": self.ROLE, "action": "s3:GetObject", "sesion": {}}, "sesion")]
        for body, words in rows:
            with self.subTest(words):
                with self.assertRaises(urllib.error.HTTPError) as ctx:
                    self.control("/_fake/evaluate", body)
                self.assertEqual(ctx.exception.code, 400)
                self.assertIn(words, json.loads(ctx.exception.read())["error"])


# -- managed policies ------------------------------------------------------------

def policy_of_size(n, ws=False):
    """A valid identity policy whose compact JSON is exactly n characters."""
    base = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ""}]}
    base["Statement"][0]["Resource"] = "x" * (n - len(json.dumps(base, separators=(",", ":"))))
    return json.dumps(base, indent=4) if ws else json.dumps(base, separators=(",", ":"))


class ManagedPolicyTests(FakeAwsTestCase):
    def iam(self):
        return self.client("iam", akid="AKIAFAKETEST00000111", secret="secretOfAccount111")

    def test_lifecycle_and_versions(self):
        iam = self.iam()
        created = iam.create_policy(PolicyName="targeted", Path="/session-revoker/",
                                    PolicyDocument=policy_of_size(200),
                                    Description="people")["Policy"]
        arn = f"arn:aws:iam::{A1}:policy/session-revoker/targeted"
        self.assertEqual((created["Arn"], created["DefaultVersionId"],
                          created["AttachmentCount"]), (arn, "v1", 0))
        self.assertTrue(created["PolicyId"].startswith("ANPA"))
        self.assertEqual(iam.get_policy(PolicyArn=arn)["Policy"]["PolicyName"], "targeted")
        self.assertClientError("EntityAlreadyExists", 409, iam.create_policy,
                               PolicyName="TARGETED", PolicyDocument=policy_of_size(200))
        for n in range(2, 6):
            v = iam.create_policy_version(PolicyArn=arn, PolicyDocument=policy_of_size(200 + n),
                                          SetAsDefault=(n == 3))["PolicyVersion"]
            self.assertEqual((v["VersionId"], v["IsDefaultVersion"]), (f"v{n}", n == 3))
        err = self.assertClientError("LimitExceeded", 409, iam.create_policy_version,
                                     PolicyArn=arn, PolicyDocument=policy_of_size(300))
        self.assertIn("up to 5 versions", err["Error"]["Message"])
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        self.assertEqual([v["VersionId"] for v in versions], ["v5", "v4", "v3", "v2", "v1"])
        self.assertEqual([v["VersionId"] for v in versions if v["IsDefaultVersion"]], ["v3"])
        got = iam.get_policy_version(PolicyArn=arn, VersionId="v3")["PolicyVersion"]
        self.assertEqual(got["Document"], json.loads(policy_of_size(203)))  # botocore decodes it
        self.assertEqual(iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"], "v3")
        self.assertClientError("DeleteConflict", 409, iam.delete_policy_version,
                               PolicyArn=arn, VersionId="v3")
        iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
        self.assertClientError("NoSuchEntity", 404, iam.get_policy_version,
                               PolicyArn=arn, VersionId="v1")
        v6 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=policy_of_size(300))
        self.assertEqual(v6["PolicyVersion"]["VersionId"], "v6")  # numbers are not reused
        # DeletePolicy needs the other versions gone first.
        err = self.assertClientError("DeleteConflict", 409, iam.delete_policy, PolicyArn=arn)
        self.assertIn("more than one version", err["Error"]["Message"])
        for vid in ("v2", "v4", "v5", "v6"):
            iam.delete_policy_version(PolicyArn=arn, VersionId=vid)
        iam.delete_policy(PolicyArn=arn)
        err = self.assertClientError("NoSuchEntity", 404, iam.get_policy, PolicyArn=arn)
        self.assertEqual(err["Error"]["Message"],
                         f"Policy {arn} does not exist or is not attachable.")
        self.assertClientError("InvalidInput", 400, iam.get_policy,
                               PolicyArn="arn:aws:iam::111111111111:role/Echo")

    def test_size_and_malformed_documents(self):
        iam = self.iam()
        # 6,144 characters without whitespace fit, however much whitespace there is.
        arn = iam.create_policy(PolicyName="big", PolicyDocument=policy_of_size(6144, ws=True))[
            "Policy"]["Arn"]
        err = self.assertClientError("LimitExceeded", 409, iam.create_policy,
                                     PolicyName="bigger", PolicyDocument=policy_of_size(6145))
        self.assertEqual(err["Error"]["Message"], "Cannot exceed quota for PolicySize: 6144")
        self.assertClientError("LimitExceeded", 409, iam.create_policy_version,
                               PolicyArn=arn, PolicyDocument=policy_of_size(6145))
        for bad in ("not json", '{"Version": "2012-10-17"}',
                    '{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*",'
                    '"Resource":"*","Principal":"*"}}'):
            self.assertClientError("MalformedPolicyDocument", 400, iam.create_policy,
                                   PolicyName="bad", PolicyDocument=bad)
            self.assertClientError("MalformedPolicyDocument", 400, iam.create_policy_version,
                                   PolicyArn=arn, PolicyDocument=bad)
        names = [p["PolicyName"] for p in
                 self.fake.state()["accounts"][A1]["managed_policies"].values()]
        self.assertEqual(names, ["big"])  # nothing of the refused ones stored
        self.assertEqual(len(iam.list_policy_versions(PolicyArn=arn)["Versions"]), 1)

    def test_attach_detach_and_the_per_role_quota(self):
        iam = self.iam()
        arns = [iam.create_policy(PolicyName=f"p{i:02}", PolicyDocument=policy_of_size(100))[
            "Policy"]["Arn"] for i in range(11)]
        for arn in arns[:10]:
            iam.attach_role_policy(RoleName="Echo", PolicyArn=arn)
        iam.attach_role_policy(RoleName="Echo", PolicyArn=arns[0])  # again: no change
        err = self.assertClientError("LimitExceeded", 409, iam.attach_role_policy,
                                     RoleName="Echo", PolicyArn=arns[10])
        self.assertEqual(err["Error"]["Message"], "Cannot exceed quota for PoliciesPerRole: 10")
        listed = iam.list_attached_role_policies(RoleName="Echo", MaxItems=4)
        self.assertTrue(listed["IsTruncated"])
        rest = iam.list_attached_role_policies(RoleName="Echo", Marker=listed["Marker"])
        self.assertEqual([p["PolicyArn"] for p in listed["AttachedPolicies"]
                          + rest["AttachedPolicies"]], arns[:10])
        self.assertEqual(iam.get_policy(PolicyArn=arns[0])["Policy"]["AttachmentCount"], 1)
        err = self.assertClientError("DeleteConflict", 409, iam.delete_policy,
                                     PolicyArn=arns[0])
        self.assertEqual(err["Error"]["Message"], "Cannot delete a policy attached to entities.")
        iam.detach_role_policy(RoleName="Echo", PolicyArn=arns[0])
        self.assertClientError("NoSuchEntity", 404, iam.detach_role_policy,
                               RoleName="Echo", PolicyArn=arns[0])
        iam.attach_role_policy(RoleName="Echo", PolicyArn=arns[10])
        iam.delete_policy(PolicyArn=arns[0])
        self.assertClientError("NoSuchEntity", 404, iam.attach_role_policy,
                               RoleName="Echo", PolicyArn=arns[0])
        self.assertClientError("NoSuchEntity", 404, iam.attach_role_policy,
                               RoleName="Nope", PolicyArn=arns[1])
        # Another account's policy is not there for this one.
        other = f"arn:aws:iam::{A2}:policy/p01"
        self.assertClientError("NoSuchEntity", 404, iam.attach_role_policy,
                               RoleName="alpha", PolicyArn=other)
        state = self.fake.state()["accounts"][A1]["roles"]["Echo"]["attached_policies"]
        self.assertEqual(state, arns[1:])

    def test_list_entities_for_policy_lists_the_roles_it_is_attached_to(self):
        iam = self.iam()
        arn = iam.create_policy(PolicyName="people", PolicyDocument=policy_of_size(100))[
            "Policy"]["Arn"]
        other = iam.create_policy(PolicyName="other", PolicyDocument=policy_of_size(100))[
            "Policy"]["Arn"]
        roles = sorted(self.fake.state()["accounts"][A1]["roles"])[:3]
        self.assertEqual(len(roles), 3)
        for name in roles:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        iam.attach_role_policy(RoleName=roles[0], PolicyArn=other)
        got = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="Role")
        self.assertEqual((sorted(r["RoleName"] for r in got["PolicyRoles"]), got["PolicyUsers"],
                          got["PolicyGroups"], got["IsTruncated"]), (sorted(roles), [], [], False))
        self.assertTrue(all(r["RoleId"] for r in got["PolicyRoles"]))
        first = iam.list_entities_for_policy(PolicyArn=arn, MaxItems=2)
        self.assertTrue(first["IsTruncated"])
        rest = iam.list_entities_for_policy(PolicyArn=arn, Marker=first["Marker"])
        self.assertEqual(sorted(r["RoleName"] for r in first["PolicyRoles"] + rest["PolicyRoles"]),
                         sorted(roles))
        self.assertEqual(iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="User")[
            "PolicyRoles"], [])
        self.assertEqual([r["RoleName"] for r in iam.list_entities_for_policy(
            PolicyArn=other)["PolicyRoles"]], [roles[0]])
        iam.detach_role_policy(RoleName=roles[1], PolicyArn=arn)
        self.assertEqual(sorted(r["RoleName"] for r in iam.list_entities_for_policy(
            PolicyArn=arn)["PolicyRoles"]), [roles[0], roles[2]])
        self.assertClientError("NoSuchEntity", 404, iam.list_entities_for_policy,
                               PolicyArn=f"arn:aws:iam::{A1}:policy/nope")

    def test_protected_role_and_signatures(self):
        seed = json.loads(json.dumps(SEED))
        seed["accounts"][A1]["roles"].append({
            "RoleName": "AWSServiceRoleForX", "Path": "/aws-service-role/x.amazonaws.com/"})
        with fake_aws.FakeAws(seed) as fake:
            iam = SESSION.create_client("iam", endpoint_url=fake.url, region_name="us-east-1",
                                        aws_access_key_id="AKIAFAKETEST00000111",
                                        aws_secret_access_key="secretOfAccount111",
                                        config=NO_RETRY)
            self.addCleanup(iam.close)
            arn = iam.create_policy(PolicyName="p", PolicyDocument=policy_of_size(100))[
                "Policy"]["Arn"]
            self.assertClientError("UnmodifiableEntity", 400, iam.attach_role_policy,
                                   RoleName="AWSServiceRoleForX", PolicyArn=arn)
        forged = self.client("iam", akid="AKIAFAKETEST00000111", secret="wrong")
        self.assertClientError("SignatureDoesNotMatch", 403, forged.create_policy,
                               PolicyName="p", PolicyDocument=policy_of_size(100))
        self.assertEqual(self.fake.state()["accounts"][A1]["managed_policies"], {})

    def test_seed_and_state_file_carry_managed_policies(self):
        iam = self.iam()
        arn = iam.create_policy(PolicyName="kept", PolicyDocument=policy_of_size(100))[
            "Policy"]["Arn"]
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=policy_of_size(120),
                                  SetAsDefault=True)
        iam.attach_role_policy(RoleName="Echo", PolicyArn=arn)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "state.json")
            with open(path, "w") as fh:
                json.dump(self.fake.state(), fh)
            again = fake_aws.FakeAws(fake_aws._seed_from_state(SEED, path))
        policy = again.state()["accounts"][A1]["managed_policies"][arn]
        self.assertEqual((policy["DefaultVersionId"], policy["AttachmentCount"],
                          [v["VersionId"] for v in policy["versions"]]), ("v2", 1, ["v1", "v2"]))
        self.assertEqual(again.state()["accounts"][A1]["roles"]["Echo"]["attached_policies"],
                         [arn])
        bad = json.loads(json.dumps(SEED))
        bad["accounts"][A1]["roles"][0]["attached_policies"] = [arn]
        with self.assertRaises(ValueError):
            fake_aws.FakeAws(bad)  # attached to a policy the seed does not have


class CommandLineTests(unittest.TestCase):
    def start_cli(self, state_file):
        """The fake as serve-dev.sh runs it; returns (process, url)."""
        proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "fake_aws.py"),
             "--seed", os.path.join(HERE, "example-seed.json"), "--port", "0",
             "--state-file", state_file],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        line = proc.stdout.readline()
        m = re.fullmatch(r"fake-aws listening on (http://127\.0\.0\.1:\d+)\n", line)
        self.assertTrue(m, line + proc.stderr.read() if not line else line)
        return proc, m.group(1)

    @staticmethod
    def admin_iam(url, account):
        sts = SESSION.create_client("sts", endpoint_url=url, region_name="us-east-1",
                                    aws_access_key_id=EXAMPLE_KEY[0],
                                    aws_secret_access_key=EXAMPLE_KEY[1], config=NO_RETRY)
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/SessionRevokerAdmin",
                                RoleSessionName="cli-test",
                                ExternalId="session-revoker")["Credentials"]
        sts.close()
        return SESSION.create_client("iam", endpoint_url=url, region_name="us-east-1",
                                     aws_access_key_id=creds["AccessKeyId"],
                                     aws_secret_access_key=creds["SecretAccessKey"],
                                     aws_session_token=creds["SessionToken"], config=NO_RETRY)

    def test_restart_with_the_state_file_keeps_what_was_written(self):
        deny = {"Version": "2012-10-17", "Statement": [{
            "Sid": "SessionRevokerDeny", "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-03-12T10:00:00Z"}}}]}
        with tempfile.TemporaryDirectory() as tmp:
            state_file = os.path.join(tmp, "state.json")
            proc, url = self.start_cli(state_file)
            iam = self.admin_iam(url, "111111111111")
            iam.put_role_policy(RoleName="OpsecBreakGlass", PolicyName="session-revoker-deny",
                                PolicyDocument=json.dumps(deny))
            iam.delete_role_policy(RoleName="OpsecBreakGlass", PolicyName="OpsecS3Read")
            iam.close()
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=10), 0)

            proc, url = self.start_cli(state_file)
            iam = self.admin_iam(url, "111111111111")
            self.assertEqual(iam.list_role_policies(RoleName="OpsecBreakGlass")["PolicyNames"],
                             ["session-revoker-deny"])
            got = iam.get_role_policy(RoleName="OpsecBreakGlass",
                                      PolicyName="session-revoker-deny")["PolicyDocument"]
            self.assertEqual(got, deny)
            role = iam.get_role(RoleName="OpsecBreakGlass")["Role"]
            self.assertEqual(role["MaxSessionDuration"], 43200)
            iam.close()
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=10), 0)

    def test_a_state_file_that_is_not_one_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            state_file = os.path.join(tmp, "state.json")
            for text in ("{not json", "[]", '{"accounts": {"111111111111": {"roles": 7}}}'):
                with open(state_file, "w") as fh:
                    fh.write(text)
                p = subprocess.run(
                    ["/usr/bin/python3", os.path.join(HERE, "fake_aws.py"),
                     "--seed", os.path.join(HERE, "example-seed.json"), "--port", "0",
                     "--state-file", state_file],
                    capture_output=True, text=True, timeout=15)
                self.assertEqual(p.returncode, 2, text)
                self.assertEqual(p.stdout, "")
                self.assertIn(f"--state-file {state_file}: ", p.stderr)
                self.assertNotIn("Traceback", p.stderr)
                with open(state_file) as fh:
                    self.assertEqual(fh.read(), text)

    def test_cli_start_and_sigterm(self):
        with tempfile.TemporaryDirectory() as tmp:
            state_file = os.path.join(tmp, "state.json")
            proc = subprocess.Popen(
                ["/usr/bin/python3", os.path.join(HERE, "fake_aws.py"),
                 "--seed", os.path.join(HERE, "example-seed.json"), "--port", "0",
                 "--state-file", state_file],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                line = proc.stdout.readline()
                m = re.fullmatch(r"fake-aws listening on (http://127\.0\.0\.1:(\d+))\n", line)
                self.assertTrue(m, line)
                url = m.group(1)
                sts = SESSION.create_client(
                    "sts", endpoint_url=url, region_name="us-east-1",
                    aws_access_key_id="AKIAFAKEREVOKER00001",
                    aws_secret_access_key="fakeRevokerSecretKey/0123456789abcdefEXAMPLE",
                    config=NO_RETRY)
                for account in ("111111111111", "222222222222", "333333333333"):
                    sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/SessionRevokerAdmin",
                                    RoleSessionName="cli-test", ExternalId="session-revoker")
                sts.close()
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(timeout=10), 0)
                self.assertEqual(proc.stdout.read(), "")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()
                proc.stderr.close()
            with open(state_file) as fh:
                state = json.load(fh)
            self.assertEqual(len(state["sessions"]), 3)
            self.assertEqual(sorted(state["accounts"]),
                             ["111111111111", "222222222222", "333333333333"])


if __name__ == "__main__":
    unittest.main()
