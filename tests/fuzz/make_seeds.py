#!/usr/bin/python3
"""make_seeds.py - (re)writes the seed corpora under tests/fuzz/corpus/.

Run with the system Python (python3-jwt, python3-cryptography):

    /usr/bin/python3 tests/fuzz/make_seeds.py [target...]   # default: every target

Seeds are realistic inputs, one file each, so that the fuzzers start from the
shapes real clients send: revocation documents, bearer tokens, JWK Sets and
base64url strings. The HS256/HS384 tokens are signed with the test secret
that fuzz_verify.c configures for issuer "fuzz-hs", and the clock is the
fixed FUZZ_NOW of fuzz_common.h, so these tokens verify for good and the
fuzzer reaches the claim checks. Tokens for the RSA, EC and Ed25519 keys
(made fresh at every start) come from fuzz_verify itself: as "sign mode"
seeds here ("{header}\\0{claims}", signed by the target before verifying) and
as real tokens written at start-up when FUZZ_VERIFY_WRITE_SEEDS is set.
"""

import base64
import hashlib
import hmac
import json
import os
import shutil

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

FUZZ_NOW = 1773306511  # fuzz_common.h
HS_SECRET = b"fuzz-hs-secret-for-tests-only-0123456789abcdef"  # fuzz_verify.c
AUD = "session-revoker"
PERM = "revocations:write"


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# ---- fuzz_document: request bodies of POST /v1/revocations ----

DOCUMENTS = {
    "minimal.json": {"groups": ["eng"]},
    "full.json": {
        "groups": ["eng-admins", "Domain Admins", "eng"],
        "time": "2026-03-12T08:00:00Z",
        "action": "revoke",
        "accounts": ["123456789012", "210987654321"],
        "reason": "laptop reported stolen (INC-4711)",
    },
    "cleanup-unix.json": {"groups": ["contractors"], "time": 1773300000, "action": "cleanup"},
    "relative.json": {"groups": ["ops", "ops", "sre"], "time": "2 hours ago"},
    "rfc2822.json": {"groups": ["finance"], "time": "Thu, 12 Mar 2026 08:00:00 +0000"},
    "nulls.json": {"groups": ["a"], "time": None, "accounts": None, "reason": None},
    "unicode.json": {"groups": ["\u00e9quipe-s\u00e9curit\u00e9", "\u65e5\u672c"], "time": "yesterday"},
    # Unicode control and format characters: refused in a group, dropped
    # from reason (a line break becomes a space).
    "group-bidi-override.json": {"groups": ["team\u202eopsec"]},
    "reason-controls.json": {"groups": ["eng"], "reason": "line\nbreak\u2028sep\u0085nel \u200bzw \u202ertl"},
    "future.json": {"groups": ["eng"], "time": "2027-01-01T00:00:00Z"},
    "typo.json": {"group": ["eng"]},
    "bad-account.json": {"groups": ["eng"], "accounts": ["12345"]},
    "jwt-claims.json": {
        "iss": "https://idp.example.com/", "sub": "alice", "aud": AUD,
        "exp": FUZZ_NOW + 3600, "iat": FUZZ_NOW - 60, "jti": "5f1c2a",
        "scope": PERM, "groups": ["eng"], "time": "now",
    },
}


def document_seeds():
    for name, doc in DOCUMENTS.items():
        write("document", name, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    # A leading space clears the first byte's low bit: JWT claims refused.
    write("document", "claims-refused.json", " " + compact({"groups": ["eng"], "iss": "x"}))
    write("document", "empty-groups.json", '{"groups": []}')
    write("document", "dup-key.json", '{"groups": ["a"], "groups": ["b"]}')


# ---- fuzz_verify: bearer tokens and application/jwt bodies ----

def claims(iss="fuzz-hs", **extra):
    c = {
        "iss": iss, "aud": AUD, "sub": "alice", "jti": "seed",
        "iat": FUZZ_NOW - 60, "exp": FUZZ_NOW + 3600,
        "scope": "revocations:read " + PERM,
        "groups": ["eng", "ops"], "time": "1 hour ago",
    }
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def hs(c, alg="HS256", headers=None):
    return jwt.encode(c, HS_SECRET, algorithm=alg, headers=headers)


def unsigned(header, c):
    return b64u(compact(header).encode()) + "." + b64u(compact(c).encode()) + "."


def hmac_under(header, c):
    """HS256 over the token whatever its header's alg says."""
    signing_input = unsigned(header, c)[:-1]
    mac = hmac.new(HS_SECRET, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64u(mac)


def verify_seeds():
    tokens = {
        "hs256-valid.jwt": hs(claims()),
        "hs384-valid.jwt": hs(claims(jti="h384"), "HS384"),
        "hs256-kid.jwt": hs(claims(), headers={"kid": "any"}),
        # fuzz-hs-kid: a configured kid every token must name.
        "hs256-kid-configured.jwt": hs(claims("fuzz-hs-kid"), headers={"kid": "hs-kid"}),
        "hs256-kid-configured-missing.jwt": hs(claims("fuzz-hs-kid")),
        "hs256-kid-number.jwt": hmac_under({"alg": "HS256", "kid": 7}, claims()),
        "hs256-permissions-array.jwt": hs(claims(scope=None, permissions=[PERM, "x"], aud=[AUD, "other"])),
        "hs256-no-permission.jwt": hs(claims(scope="revocations:read")),
        "hs256-expired.jwt": hs(claims(exp=FUZZ_NOW - 3600)),
        "hs256-nbf-future.jwt": hs(claims(nbf=FUZZ_NOW + 3600)),
        "hs256-real-dates.jwt": hs(claims(exp=FUZZ_NOW + 0.5, iat=FUZZ_NOW - 0.5)),
        "hs256-no-exp.jwt": hs(claims(exp=None)),
        "hs256-wrong-aud.jwt": hs(claims(aud="someone-else")),
        "hs256-untrusted-iss.jwt": hs(claims(iss="https://evil.example/")),
        "hs512-not-allowed.jwt": hs(claims(), "HS512"),
        "hs256-crit.jwt": hs(claims(), headers={"crit": ["exp"]}),
        "hs256-bad-document.jwt": hs(claims(groups=[], foo=1)),
        "alg-none.jwt": unsigned({"alg": "none"}, claims()),
        # HMAC over the RSA key's PEM: the classic algorithm confusion.
        "rs256-header-hmac-signed.jwt": hmac_under({"alg": "RS256", "kid": "rsa1"}, claims("fuzz-jwks")),
        "two-parts.jwt": "eyJhbGciOiJIUzI1NiJ9.e30",
    }
    for name, tok in tokens.items():
        write("verify", name, tok)
    # Sign mode: fuzz_verify signs these with its own keys before verifying.
    sign_mode = {
        "sign-es256.txt": ({"alg": "ES256", "kid": "ec1", "typ": "JWT"}, claims("fuzz-jwks")),
        "sign-rs256.txt": ({"alg": "RS256", "kid": "rsa1"}, claims("fuzz-jwks")),
        "sign-rs384.txt": ({"alg": "RS384"}, claims("fuzz-jwks")),
        "sign-ps256.txt": ({"alg": "PS256", "kid": "rsa1"}, claims("fuzz-jwks")),
        "sign-eddsa.txt": ({"alg": "EdDSA"}, claims("fuzz-pem")),
        "sign-hs384.txt": ({"alg": "HS384", "typ": "JWT"}, claims(action="cleanup", accounts=["123456789012"])),
        # Security Event Tokens (sr_auth_verify_set: OpenSSL checks every algorithm).
        "sign-set-es256.txt": ({"alg": "ES256", "kid": "ec1", "typ": "secevent+jwt"},
                               claims("fuzz-jwks", exp=None, jti="set-1")),
        "sign-set-hs256.txt": ({"alg": "HS256", "typ": "secevent+jwt"}, claims(exp=None, jti="set-2")),
    }
    for name, (h, c) in sign_mode.items():
        write("verify", name, compact(h).encode() + b"\0" + compact(c).encode())
    write("verify", "sign-default-header.txt", compact(claims(reason="stolen laptop")))


# ---- fuzz_jwks: JWK Sets as issuers publish them ----

def jwk_rsa(bits=2048, **extra):
    pub = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key().public_numbers()
    k = {"kty": "RSA", "use": "sig", "n": b64u(pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")),
         "e": b64u(pub.e.to_bytes(3, "big"))}
    k.update(extra)
    return k


def jwk_ec(curve, crv, size, **extra):
    pub = ec.generate_private_key(curve).public_key().public_numbers()
    k = {"kty": "EC", "crv": crv, "x": b64u(pub.x.to_bytes(size, "big")),
         "y": b64u(pub.y.to_bytes(size, "big"))}
    k.update(extra)
    return k


def jwk_okp(crv):
    cls = ed25519.Ed25519PrivateKey if crv == "Ed25519" else ed448.Ed448PrivateKey
    from cryptography.hazmat.primitives import serialization
    raw = cls.generate().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": crv, "x": b64u(raw), "use": "sig"}


def jwks_seeds():
    sets = {
        "rsa-ec.json": [jwk_rsa(kid="rsa1", alg="RS256"), jwk_ec(ec.SECP256R1(), "P-256", 32, kid="ec1", alg="ES256")],
        "ec-all-curves.json": [jwk_ec(ec.SECP256R1(), "P-256", 32), jwk_ec(ec.SECP384R1(), "P-384", 48, kid="p384"),
                               jwk_ec(ec.SECP521R1(), "P-521", 66, kid="p521", alg="ES512")],
        "okp.json": [jwk_okp("Ed25519"), jwk_okp("Ed448")],
        "with-enc-key.json": [jwk_rsa(kid="enc", use="enc"), jwk_rsa(kid="sig", alg="PS256")],
        "rsa-1024.json": [jwk_rsa(1024, kid="short")],
        "private.json": [dict(jwk_ec(ec.SECP256R1(), "P-256", 32), d=b64u(b"\1" * 32))],
        "oct.json": [{"kty": "oct", "k": b64u(b"secret" * 6)}],
        "unknown-alg.json": [jwk_ec(ec.SECP256R1(), "P-256", 32, alg="ES257")],
        "bad-point.json": [{"kty": "EC", "crv": "P-256", "x": b64u(b"\1" * 32), "y": b64u(b"\2" * 32)}],
        # A kid that is not a string is refused, never read as "no kid".
        "kid-number.json": [jwk_rsa(kid=7)],
        "kid-null.json": [jwk_ec(ec.SECP256R1(), "P-256", 32, kid=None)],
    }
    for name, keys in sets.items():
        write("jwks", name, json.dumps({"keys": keys}, indent=2) + "\n")
    write("jwks", "no-keys.json", '{"keys": []}')
    write("jwks", "not-json.txt", "<html>502 Bad Gateway</html>")


# ---- fuzz_b64url ----

def b64url_seeds():
    samples = ["", "QQ", "QUI", "QUJD", b64u(b'{"alg":"HS256","typ":"JWT"}'),
               b64u(bytes(range(256))), "-_-_", "QR", "A", "QQ==", "a b", "eyJ+/"]
    for i, s in enumerate(samples):
        write("b64url", "seed-%02d" % i, s)


# ---- fuzz_auth0: Auth0 log stream deliveries (POST /v1/events/auth0) ----

AUTH0_DATA = os.path.join(HERE, "..", "data", "auth0")


def sapi(log_id, method, path, body, date="2026-03-12T08:14:58.412Z"):
    return {"log_id": log_id, "data": {
        "date": date, "type": "sapi", "user_id": "auth0|admin", "log_id": log_id,
        "details": {"request": {"method": method, "path": path, "query": {}, "body": body},
                    "response": {"statusCode": 204, "body": {}}}}}


def record(log_id, type_, user_id, date="2026-03-12T08:22:13.101Z"):
    return {"log_id": log_id, "data": {"date": date, "type": type_, "user_id": user_id,
                                       "details": {}, "log_id": log_id}}


def auth0_seeds():
    # The three content formats of the samples, as Auth0 sends them.
    for name in sorted(os.listdir(AUTH0_DATA)):
        if name.startswith("logstream-"):
            with open(os.path.join(AUTH0_DATA, name), "rb") as f:
                write("auth0", name, f.read())
    calls = [
        sapi("L1", "patch", "/api/v2/users/auth0|u1", {"blocked": False}),
        sapi("L2", "PATCH", "/api/v2/users/auth0%7Cu1?fields=x", {"password": "x", "blocked": True}),
        sapi("L3", "patch", "/api/v2/users/auth0|u1", {"password": "x"}),
        sapi("L4", "delete", "/api/v2/users/auth0|u1/roles", {"roles": ["rol_A", "rol_B", "rol_A"]}),
        sapi("L5", "delete", "/api/v2/roles/rol_A/users", {"users": ["auth0|u1", "auth0|u2"]}),
        sapi("L6", "delete", "/api/v2/organizations/org_1/members", {"members": ["auth0|u1"]}),
        sapi("L7", "delete", "/api/v2/users/samlp%7Ccorp%2Fidp%7Ck", {}),
        sapi("L8", "post", "/api/v2/users/auth0|u1/roles", {"roles": ["rol_A"]}),
    ]
    write("auth0", "sapi-calls.json", json.dumps(calls, indent=1))
    write("auth0", "sapi-calls.jsonl", "\n".join(compact(c) for c in calls) + "\n")
    bare = [{"log_id": "B1", "date": "2026-03-12T08:22:13.101Z", "type": "sdu", "user_id": "auth0|b"},
            {"_id": "B2", "log_id": "B2", "date": "2026-03-12T08:22:13Z", "type": "du", "user_id": "x"}]
    write("auth0", "bare-log-events.json", json.dumps(bare))
    bad = [record("M1", "scp", "auth0|c"), 5, {"log_id": "M2", "data": {"log_id": "M3"}},
           {"data": {"date": "yesterday", "type": "s"}}, {"log_id": "M4", "data": []},
           record("M5", "sdu", "")]
    write("auth0", "malformed-records.json", json.dumps(bad))
    write("auth0", "lines-broken.jsonl",
          compact(record("X1", "s", "a")) + "\r\n{\"log_id\": oops\n\n" + compact(record("X2", "du", "b")))
    write("auth0", "empty-array.json", "[]")
    write("auth0", "not-json.txt", "hello")


# ---- fuzz_group_change: group-change events ----

def group_change_seeds():
    events = {
        "removed.json": {"event_id": "e1", "subject": "auth0|u1", "groups_removed": ["team_opsec"],
                         "time": "2026-03-12T09:00:00Z"},
        "subject-only.json": {"event_id": "e2", "subject": "auth0|u1", "time": "now"},
        "current-groups.json": {"event_id": "e3", "subject": "u", "time": 1773300000,
                                "groups": ["team_hr", "team_hr", "eng"]},
        "claims.json": {"iss": "https://idp.example.com/", "sub": "wf", "aud": ["session-revoker"],
                        "exp": FUZZ_NOW + 600, "iat": FUZZ_NOW, "jti": "j1", "scope": "events:write",
                        "event_id": "e4", "subject": "samlp|corp|k", "time": "5 minutes ago",
                        "groups_removed": ["a", "b"], "groups": []},
        "future.json": {"event_id": "e5", "subject": "u", "time": "2027-01-01T00:00:00Z"},
        "unknown-field.json": {"event_id": "e6", "subject": "u", "time": "now", "group_removed": ["a"]},
        "unicode.json": {"event_id": "\u00e9v", "subject": "\u4e2d", "time": "yesterday",
                         "groups_removed": ["\u00e9quipe", "team\u202e"]},
    }
    for name, ev in events.items():
        write("group_change", name, json.dumps(ev, indent=1, ensure_ascii=False) + "\n")


# ---- fuzz_ssf: the claims of Security Event Tokens ----

def ssf_seeds():
    """The samples of tests/data/ssf/ (their payloads), and variants."""
    data = os.path.join(HERE, "..", "data", "ssf")
    for name in sorted(os.listdir(data)):
        with open(os.path.join(data, name)) as f:
            doc = json.load(f) if name.endswith(".json") else None
        if isinstance(doc, dict) and "payload" in doc:
            write("ssf", name, json.dumps(doc["payload"], indent=1) + "\n")
    sr = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
    base = {"iss": "https://auth.example.com/", "jti": "j1", "iat": FUZZ_NOW - 60, "txn": 7}
    variants = {
        "milliseconds.json": {"sub_id": {"format": "email", "email": "a@example.com"},
                              "events": {sr: {"event_timestamp": (FUZZ_NOW - 30) * 1000}}},
        "old-risc.json": {"events": {"https://schemas.openid.net/secevent/risc/event-type/"
                                     "account-disabled": {"subject": {"subject_type": "iss-sub",
                                                                      "iss": "i", "sub": "s"}}}},
        "aliases.json": {"sub_id": {"format": "aliases", "identifiers": [
            {"format": "phone_number", "phone_number": "+1"}, {"format": "did", "url": "did:x"}]},
            "events": {sr: {}}},
        "unknown.json": {"sub": "u", "events": {"https://example.com/x": {}, sr: {}}},
    }
    for name, extra in variants.items():
        c = dict(base)
        c.update(extra)
        write("ssf", name, json.dumps(c, indent=1) + "\n")


# ---- fuzz_okta: Okta event hook deliveries (POST /v1/events/okta) ----

OKTA_DATA = os.path.join(HERE, "..", "data", "okta")


def okta_event(uuid, type_, targets, published="2026-03-12T09:02:11.406Z"):
    return {"uuid": uuid, "published": published, "eventType": type_,
            "actor": {"id": "00uadmin", "type": "User"}, "target": targets}


def okta_seeds():
    for name in sorted(os.listdir(OKTA_DATA)):
        if name.startswith("delivery-"):
            with open(os.path.join(OKTA_DATA, name), "rb") as f:
                write("okta", name, f.read())
    user = {"id": "00u1", "type": "User", "alternateId": "a@example.com"}
    group = {"id": "00g1", "type": "UserGroup", "displayName": "team_hr"}
    events = [okta_event("v1", "group.user_membership.remove", [user, group]),
              okta_event("v1", "user.lifecycle.suspend", [user]),
              okta_event("v2", "user.session.clear", [{"id": "00u2", "type": "User",
                                                       "alternateId": "unknown"}]),
              okta_event("v3", "user.session.start", []),
              okta_event("v4", "group.user_membership.remove", [user]),
              okta_event("v5", "user.lifecycle.deactivate", [user, dict(user, alternateId="b")]),
              5, {"uuid": 7}, {"uuid": "v6", "published": "yesterday", "eventType": "x"}]
    write("okta", "variants.json", json.dumps({"eventType": "com.okta.event_hook",
                                               "eventId": "env-1", "data": {"events": events}},
                                              indent=1))
    write("okta", "no-events.json", '{"eventId": "e", "data": {"events": []}}')
    write("okta", "not-json.txt", "hello")


# ---- fuzz_ssfreg: a transmitter's metadata, its stream answers, issuers ----

def ssfreg_seeds():
    """'m' + metadata, 's' + stream answers, 'a' + an issuer (fuzz_ssfreg.c)."""
    iss = "https://tr.example.com/issuer1"
    meta = {"spec_version": "1_0", "issuer": iss, "jwks_uri": "https://tr.example.com/jwks.json",
            "delivery_methods_supported": ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"],
            "configuration_endpoint": "https://tr.example.com/ssf/streams"}
    write("ssfreg", "metadata-1_0.json", "m" + json.dumps(meta))
    risc = dict(meta, delivery_methods_supported=[
        "https://schemas.openid.net/secevent/risc/delivery-method/push"])
    write("ssfreg", "metadata-risc.json", "m" + json.dumps(risc))
    poll = dict(meta, delivery_methods_supported=["urn:ietf:rfc:8936"])
    del poll["configuration_endpoint"]
    write("ssfreg", "metadata-poll-only.json", "m" + json.dumps(poll))
    stream = {"stream_id": "f67e39a0", "iss": iss, "aud": "https://receiver.example.com",
              "delivery": {"method": "urn:ietf:rfc:8935",
                           "endpoint_url": "https://revoker.example.com/v1/events/ssf"},
              "events_requested": [
                  "https://schemas.openid.net/secevent/caep/event-type/session-revoked"],
              "events_delivered": []}
    write("ssfreg", "streams-list.json", "s" + json.dumps([stream]))
    write("ssfreg", "stream-one.json", "s" + json.dumps(dict(stream, stream_id="x")))
    write("ssfreg", "address-path.txt", "ahttps://tr.example.com:8443/a/b/")
    write("ssfreg", "address-root.txt", "ahttps://tr.example.com")


# ---- fuzz_okta_logout: Universal Logout bodies (POST /v1/events/okta/logout) ----

def okta_logout_seeds():
    org = "https://example.okta.com"
    bodies = {
        "email.json": {"sub_id": {"format": "email", "email": "kim@example.com"}},
        "iss-sub.json": {"sub_id": {"format": "iss_sub", "iss": org, "sub": "00u1kim"}},
        "subject.json": {"subject": {"format": "iss_sub", "iss": org, "sub": "00u2lee"}},
        "both.json": {"sub_id": {"format": "email", "email": "a@b.c"},
                      "subject": {"format": "email", "email": "a@b.c"}},
        "phone.json": {"sub_id": {"format": "phone_number", "phone_number": "+12065550100"}},
        "no-email.json": {"sub_id": {"format": "email"}},
        "not-an-email.json": {"sub_id": {"format": "email", "email": "kim"}},
        "sub-number.json": {"sub_id": {"format": "iss_sub", "iss": org, "sub": 7}},
    }
    for name, b in bodies.items():
        write("okta_logout", name, json.dumps(b))
    write("okta_logout", "not-json.txt", "{nope")


SEEDERS = {"document": document_seeds, "verify": verify_seeds, "jwks": jwks_seeds,
           "b64url": b64url_seeds, "auth0": auth0_seeds, "group_change": group_change_seeds,
           "ssf": ssf_seeds,
            "okta": okta_seeds, "ssfreg": ssfreg_seeds, "okta_logout": okta_logout_seeds}


def main(targets):
    """Rewrites the corpora of targets (default: all of SEEDERS)."""
    for target in targets or SEEDERS:
        shutil.rmtree(os.path.join(CORPUS, target), ignore_errors=True)
        SEEDERS[target]()


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
