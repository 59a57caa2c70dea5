"""POST /v1/events/okta/logout: Okta Universal Logout for a custom app, a
Global Token Revocation endpoint, over real HTTP into a real store.

Okta signs a JWT (iss the org, aud this endpoint) and sends it as
Authorization: Bearer, with {"sub_id": {...}} (RFC 9493 subject identifiers)
as application/json. The org's keys are served by tests/fakes/fake_idp.py
over HTTPS (a jwks_url issuer). Each test checks what Okta and an operator
see: 204 with no body once the person's revocation is recorded; 400
{"error": "invalid_request", "error_description"} for a body that cannot be
read; 401 with nothing about which check failed for a bad token; and for
every refusal, that nothing was stored.

Run with Debian's /usr/bin/python3 (PyJWT, cryptography).
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import harness  # puts tests/fakes on the path
import fake_idp  # noqa: E402
from harness import Key, Service, Store

ORG = "https://example.okta.com"
AUD = "https://revoker.example.com/v1/events/okta/logout"
API_AUD = "session-revoker-api"
PATH = "/v1/events/okta/logout"
CT = {"Content-Type": "application/json", "Accept": "application/json"}
FIXED = [{"name": "person-logged-out", "on": ["universal_logout"], "groups": ["team_opsec"]}]


def claims(jti="ul-1", **over):
    now = int(time.time())
    c = {"iss": ORG, "aud": AUD, "sub": "0oa1universallogout", "jti": jti, "iat": now - 5,
         "exp": now + 300}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def body(sub_id):
    return json.dumps({"sub_id": sub_id}).encode()


EMAIL = {"format": "email", "email": "kim@example.com"}
ISS_SUB = {"format": "iss_sub", "iss": ORG, "sub": "00u1kim"}


class LogoutCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sr-ul-")
        if not os.environ.get("SR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.db = os.path.join(self.tmp, "ul.db")
        self.store = Store(self.db)
        self.fake = fake_idp.FakeIdp(tls_dir=os.path.join(self.tmp, "idp")).start()
        self.addCleanup(self.fake.stop)
        self.n = 0

    def start(self, okta=None, extra_issuer=None):
        issuers = [{"issuer": ORG, "audience": API_AUD, "algorithms": ["RS256"],
                    "jwks_url": self.fake.jwks_url}]
        if extra_issuer:
            issuers.append(extra_issuer)
        cfg = {
            "listen": {"address": "127.0.0.1", "port": 0},
            "store": {"path": self.db},
            "auth": {"issuers": issuers},
            "http_client": {"ca_file": self.fake.ca_file, "timeout_seconds": 3},
            "revoke": {"providers": ["example.okta.com"]},
            "aws": {"accounts": [{"id": a, "role_name": harness.ADMIN_ROLE,
                                  "external_id": harness.EXTERNAL_ID}
                                 for a in harness.EXAMPLE_ACCOUNTS]},
            "jobs": {"workers": 0},
            "sources": {"okta": okta if okta is not None
                        else {"logout_issuer": ORG, "logout_audience": AUD,
                              "rules": FIXED}},
        }
        self.n += 1
        path = harness.write_config(os.path.join(self.tmp, "config-%d.json" % self.n), cfg)
        svc = Service(path, cwd=self.tmp, logdir=self.tmp, name="service-%d" % self.n)
        svc.start()
        self.addCleanup(harness.stop_quietly, svc)
        return svc

    def post(self, svc, token, data, headers=None):
        h = dict(CT)
        if token is not None:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        return svc.request("POST", PATH, headers=h, body=data)

    def rows(self):
        out = []
        for r in self.store.query(
                "SELECT seq, source_event_id, event_subject, rule, issuer"
                " FROM revocations WHERE source = 'okta' ORDER BY seq"):
            groups = [g["group_name"] for g in self.store.query(
                "SELECT group_name FROM revocation_groups WHERE revocation_seq = ?"
                " ORDER BY position", (r.pop("seq"),))]
            out.append(tuple(r.values()) + (groups,))
        return out

    def nothing_stored(self):
        self.assertEqual(self.store.count("revocations"), 0)
        self.assertEqual(self.store.count("jobs"), 0)


class Accepted(LogoutCase):

    def test_each_subject_format_is_one_revocation_of_the_person(self):
        svc = self.start()
        for jti, sub_id in (("ul-email", EMAIL), ("ul-isssub", ISS_SUB)):
            r = self.post(svc, self.fake.sign(claims(jti)), body(sub_id))
            self.assertEqual((r.status, r.body), (204, b""), r)
            self.assertIsNone(r.headers.get("Content-Type"))
        self.assertEqual(self.rows(), [
            (ORG + "#ul-email", "kim@example.com", "person-logged-out", ORG, ["team_opsec"]),
            (ORG + "#ul-isssub", "00u1kim", "person-logged-out", ORG, ["team_opsec"]),
        ])
        self.assertEqual(self.store.count("jobs"), 2 * len(harness.EXAMPLE_ACCOUNTS))

    def test_a_replayed_token_is_answered_204_and_recorded_once(self):
        svc = self.start()
        tok = self.fake.sign(claims("ul-replay"))
        for _ in range(3):
            self.assertEqual(self.post(svc, tok, body(EMAIL)).status, 204)
        self.assertEqual(len(self.rows()), 1)
        self.assertEqual(self.store.count("jobs"), len(harness.EXAMPLE_ACCOUNTS))

    def test_the_built_in_rule_looks_the_person_up(self):
        # No lookup configured: the rule's empty fallback, kept for the record.
        svc = self.start({"logout_issuer": ORG, "logout_audience": AUD})
        r = self.post(svc, self.fake.sign(claims()), body(EMAIL))
        self.assertEqual(r.status, 204, r)
        self.assertEqual([(x[1], x[2], x[4]) for x in self.rows()],
                         [("kim@example.com", "user-lost-access", [])])

    def test_without_logout_issuer_the_route_is_off(self):
        svc = self.start({"rules": FIXED})
        r = self.post(svc, self.fake.sign(claims()), body(EMAIL))
        self.assertEqual(r.status, 404, r)
        self.assertIn("sources.okta.logout_issuer", r.json["detail"])
        self.nothing_stored()


class Refused(LogoutCase):

    def assert_401_without_detail(self, r, what):
        self.assertEqual(r.status, 401, "%s: %r" % (what, r))
        self.assertEqual(r.json["error"], "invalid_token", what)
        self.assertEqual(r.json["detail"], "the bearer token was not accepted", what)
        self.assertTrue(r.headers.get("WWW-Authenticate", "").startswith("Bearer"), what)

    def test_bad_tokens_get_401_naming_no_check_and_change_nothing(self):
        other = Key("rsa", self.tmp, "other")
        other_iss = "https://other.example.com/"
        svc = self.start(extra_issuer={"issuer": other_iss, "audience": AUD,
                                       "algorithms": ["RS256"],
                                       "public_key_file": other.write_public_pem()})
        good = claims()
        unsigned = "%s.%s." % (harness.b64url(json.dumps({"alg": "none", "typ": "JWT"})),
                               harness.b64url(json.dumps(good)))
        cases = [
            ("signature forged", harness.flip_signature_char(self.fake.sign(good))),
            ("alg none", unsigned),
            ("wrong aud", self.fake.sign(claims(aud="https://elsewhere.example/logout"))),
            ("the issuer's API audience", self.fake.sign(claims(aud=API_AUD))),
            ("expired", self.fake.sign(claims(iat=int(time.time()) - 7200,
                                              exp=int(time.time()) - 3600))),
            ("no exp", self.fake.sign(claims(exp=None))),
            ("another trusted issuer", harness.make_token(
                other, "RS256", claims(iss=other_iss), {}, defaults=False)),
            ("unknown issuer", self.fake.sign(claims(iss="https://evil.example"))),
            ("no jti", self.fake.sign(claims(jti=None))),
            ("not a JWT", "not-a-jwt"),
        ]
        for what, tok in cases:
            r = self.post(svc, tok, body(EMAIL))
            self.assert_401_without_detail(r, what)
            self.assertNotIn(tok, json.dumps(r.json), what)
        r = self.post(svc, None, body(EMAIL))
        self.assertEqual(r.status, 401, r)
        self.assertTrue(r.headers.get("WWW-Authenticate", "").startswith("Bearer"))
        r = self.post(svc, None, body(EMAIL), {"Authorization": "Basic a2ltOnB3"})
        self.assert_401_without_detail(r, "Basic")
        self.nothing_stored()
        # The reason is the operator's to read, in the log.
        self.assertIn("msg=okta.logout_refused", svc.stderr())
        self.assertIn("reason=audience", svc.stderr())

    def test_malformed_bodies_get_400_invalid_request_and_change_nothing(self):
        svc = self.start()
        cases = [
            ("not JSON", b"{nope", "body is not JSON"),
            ("empty", b"", "body is empty"),
            ("an array", b"[]", "JSON object"),
            ("no sub_id", b"{}", "sub_id: required"),
            ("sub_id a string", body("kim@example.com"), "sub_id: must be an object"),
            ("no format", body({"email": "kim@example.com"}), "sub_id.format: required"),
            ("format a number", body({"format": 1}), "sub_id.format: must be a string"),
            ("unknown format", body({"format": "phone_number", "phone_number": "+1"}),
             "\"phone_number\" is not supported"),
            ("email missing", body({"format": "email"}), "sub_id.email: required"),
            ("email not one", body({"format": "email", "email": "kim"}),
             "not an email address"),
            ("iss_sub without sub", body({"format": "iss_sub", "iss": ORG}),
             "sub_id.sub: required"),
            ("sub a number", body({"format": "iss_sub", "iss": ORG, "sub": 7}),
             "sub_id.sub: must be a string"),
        ]
        for i, (what, data, text) in enumerate(cases):
            r = self.post(svc, self.fake.sign(claims("bad-%d" % i)), data)
            self.assertEqual(r.status, 400, "%s: %r" % (what, r))
            self.assertEqual(sorted(r.json), ["error", "error_description"], what)
            self.assertEqual(r.json["error"], "invalid_request", what)
            self.assertIn(text, r.json["error_description"], what)
        r = self.post(svc, self.fake.sign(claims("bad-ct")), body(EMAIL),
                      {"Content-Type": "text/plain"})
        self.assertEqual((r.status, r.json["error"]), (415, "unsupported_media_type"))
        self.nothing_stored()


class Config(LogoutCase):

    def check_config(self, okta):
        cfg = {"listen": {"address": "127.0.0.1", "port": 0}, "store": {"path": self.db},
               "auth": {"issuers": [{"issuer": ORG, "audience": API_AUD,
                                     "algorithms": ["RS256"],
                                     "jwks_url": self.fake.jwks_url}]},
               "sources": {"okta": okta}}
        path = harness.write_config(os.path.join(self.tmp, "check.json"), cfg)
        proc = subprocess.run([harness.binary_path(), "check-config", "--config", path],
                              env=harness.clean_env(), cwd=self.tmp, capture_output=True,
                              text=True, timeout=60)
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, proc.stderr)
        return proc.returncode, proc.stdout + proc.stderr

    def test_check_config_names_a_signer_that_is_no_issuer_and_an_orphan_audience(self):
        rc, out = self.check_config({"logout_issuer": "https://nobody.okta.com"})
        self.assertNotEqual(rc, 0)
        self.assertIn("sources.okta.logout_issuer", out)
        self.assertIn("none of auth.issuers", out)
        rc, out = self.check_config({"logout_audience": AUD})
        self.assertNotEqual(rc, 0)
        self.assertIn("sources.okta.logout_audience", out)
        self.assertIn("needs logout_issuer", out)
        rc, out = self.check_config({"logout_issuer": ORG, "logout_audience": AUD})
        self.assertEqual(rc, 0, out)


if __name__ == "__main__":
    unittest.main()
