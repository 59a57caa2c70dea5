/*
 * test_verify.c - sr_auth_verify() against a table of good and forged
 * tokens, signed in the test with keys the test generates (RSA, EC, Ed25519,
 * HMAC), through a configuration file the test writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../testkit.h"
#include "session_revoker/auth.h"
#include "session_revoker/config.h"

#define NOW 1773306511 /* 2026-03-12T09:08:31Z */
#define ISS_RS "https://rs.example/"
#define ISS_JWKS "https://jwks.example/"
#define ISS_HS "https://hs.example/"
#define ISS_RS_KID "https://rs-kid.example/" /* PEM key with a configured kid */
#define ISS_HS_KID "https://hs-kid.example/" /* HMAC secret with a configured kid */
#define AUD "session-revoker"
#define NO_CLAIM 0x7fffffff

static EVP_PKEY *rsa_a, *rsa_j, *rsa_other, *ec_j, *ed_j, *ec_other;
static const unsigned char secret[] = "0123456789abcdef0123456789abcdef-hs";
static char *rsa_a_pem;
static struct sr_config *cfg;
static struct sr_auth *auth;

enum signer { K_RSA_A, K_RSA_J, K_RSA_OTHER, K_EC, K_ED, K_HMAC, K_HMAC_WITH_RSA_PEM,
	      K_EC_OTHER };
enum mutation { M_NONE, M_FLIP_SIG, M_TRUNCATE_SIG, M_TWO_PARTS, M_EMPTY_SIG,
		M_OVERSIZE, M_BAD_B64_HEADER, M_EMPTY };

struct vcase {
	const char *name;
	const char *alg;        /* header alg */
	const char *sign_alg;   /* how it is really signed (NULL: alg) */
	enum signer signer;
	const char *kid;        /* NULL: no kid */
	const char *iss;        /* NULL: no iss */
	const char *aud;        /* "@array": ["other", AUD] */
	int exp, nbf, iat;      /* offsets from NOW, NO_CLAIM to leave out */
	const char *scope;      /* NULL: none */
	const char *extra;      /* extra header member JSON, e.g. "\"crit\":[\"x\"]" */
	enum mutation mutation;
	enum sr_rc want;
	const char *want_msg;
};

#define OK_CLAIMS 3600, NO_CLAIM, -10, "revocations:write"

static const struct vcase cases[] = {
	{"rs256", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_NONE, SR_OK, NULL},
	{"ps256", "PS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_NONE, SR_OK, NULL},
	{"jwks rs256 by kid", "RS256", NULL, K_RSA_J, "r1", ISS_JWKS, AUD, OK_CLAIMS, NULL, M_NONE, SR_OK, NULL},
	{"jwks es256 by kid", "ES256", NULL, K_EC, "e1", ISS_JWKS, AUD, OK_CLAIMS, NULL, M_NONE, SR_OK, NULL},
	{"jwks eddsa by kid", "EdDSA", NULL, K_ED, "d1", ISS_JWKS, AUD, OK_CLAIMS, NULL, M_NONE, SR_OK, NULL},
	{"jwks without kid", "ES256", NULL, K_EC, NULL, ISS_JWKS, AUD, OK_CLAIMS, NULL, M_NONE, SR_OK, NULL},
	{"hs256", "HS256", NULL, K_HMAC, NULL, ISS_HS, AUD, OK_CLAIMS, NULL, M_NONE, SR_OK, NULL},
	{"aud array", "RS256", NULL, K_RSA_A, NULL, ISS_RS, "@array", OK_CLAIMS, NULL, M_NONE, SR_OK, NULL},
	{"expired within skew", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, -30, NO_CLAIM, -100, "revocations:write", NULL, M_NONE, SR_OK, NULL},
	{"alg none unsigned", "none", NULL, K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_EMPTY_SIG, SR_EAUTH, "unsigned"},
	{"alg none with signature", "none", "RS256", K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_NONE, SR_EAUTH, "none or unsupported"},
	{"alg NONE spelled oddly", "None", "RS256", K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_NONE, SR_EAUTH, "none or unsupported"},
	{"hs256 keyed with the RSA public key", "HS256", NULL, K_HMAC_WITH_RSA_PEM, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_NONE, SR_EAUTH, "not allowed"},
	{"alg not on the issuer's list", "RS384", NULL, K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_NONE, SR_EAUTH, "RS384 is not allowed"},
	{"wrong kid", "RS256", NULL, K_RSA_J, "nope", ISS_JWKS, AUD, OK_CLAIMS, NULL, M_NONE, SR_EAUTH, "kid"},
	{"kid of a key of another type", "RS256", NULL, K_RSA_J, "e1", ISS_JWKS, AUD, OK_CLAIMS, NULL, M_NONE, SR_EAUTH, "kid"},
	{"signed by an untrusted key", "RS256", NULL, K_RSA_OTHER, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_NONE, SR_EAUTH, "signature is invalid"},
	{"expired", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, -3600, NO_CLAIM, -7200, "revocations:write", NULL, M_NONE, SR_EAUTH, "expired"},
	{"not yet valid", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, 7200, 3600, -10, "revocations:write", NULL, M_NONE, SR_EAUTH, "not yet valid"},
	{"issued in the future", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, 7200, NO_CLAIM, 3600, "revocations:write", NULL, M_NONE, SR_EAUTH, "future"},
	{"wrong iss", "RS256", NULL, K_RSA_A, NULL, "https://evil.example/", AUD, OK_CLAIMS, NULL, M_NONE, SR_EAUTH, "issuer is not trusted"},
	{"no iss", "RS256", NULL, K_RSA_A, NULL, NULL, AUD, OK_CLAIMS, NULL, M_NONE, SR_EAUTH, "no iss"},
	{"wrong aud", "RS256", NULL, K_RSA_A, NULL, ISS_RS, "someone-else", OK_CLAIMS, NULL, M_NONE, SR_EAUTH, "audience"},
	{"missing exp", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, NO_CLAIM, NO_CLAIM, -10, "revocations:write", NULL, M_NONE, SR_EAUTH, "no exp"},
	{"signature bit flipped", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_FLIP_SIG, SR_EAUTH, "signature is invalid"},
	{"hs256 signature flipped", "HS256", NULL, K_HMAC, NULL, ISS_HS, AUD, OK_CLAIMS, NULL, M_FLIP_SIG, SR_EAUTH, "signature is invalid"},
	{"es256 signature flipped", "ES256", NULL, K_EC, "e1", ISS_JWKS, AUD, OK_CLAIMS, NULL, M_FLIP_SIG, SR_EAUTH, "signature is invalid"},
	{"eddsa signature flipped", "EdDSA", NULL, K_ED, "d1", ISS_JWKS, AUD, OK_CLAIMS, NULL, M_FLIP_SIG, SR_EAUTH, "signature is invalid"},
	{"ps256 signature flipped", "PS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_FLIP_SIG, SR_EAUTH, "signature is invalid"},
	{"truncated signature", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_TRUNCATE_SIG, SR_EAUTH, "signature is invalid"},
	{"truncated to two parts", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_TWO_PARTS, SR_EAUTH, "three parts"},
	{"oversize", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_OVERSIZE, SR_EAUTH, "longer than"},
	{"header not base64url", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_BAD_B64_HEADER, SR_EAUTH, "malformed"},
	{"empty", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, NULL, M_EMPTY, SR_EAUTH, "no token"},
	{"crit header", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, "\"crit\":[\"exp\"]", M_NONE, SR_EAUTH, "crit"},
	{"missing permission", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, 3600, NO_CLAIM, -10, "revocations:read", NULL, M_NONE, SR_EFORBIDDEN, "revocations:write"},
	{"permission as a prefix only", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, 3600, NO_CLAIM, -10, "revocations:writer", NULL, M_NONE, SR_EFORBIDDEN, "revocations:write"},
	{"pem issuer with kid: token names it", "RS256", NULL, K_RSA_A, "rs-2026", ISS_RS_KID, AUD, OK_CLAIMS, NULL, M_NONE, SR_OK, NULL},
	{"pem issuer with kid: token has none", "RS256", NULL, K_RSA_A, NULL, ISS_RS_KID, AUD, OK_CLAIMS, NULL, M_NONE, SR_EAUTH, "no kid"},
	{"pem issuer with kid: token names another", "RS256", NULL, K_RSA_A, "rs-2025", ISS_RS_KID, AUD, OK_CLAIMS, NULL, M_NONE, SR_EAUTH, "kid"},
	{"hmac issuer with kid: token names it", "HS256", NULL, K_HMAC, "hs-1", ISS_HS_KID, AUD, OK_CLAIMS, NULL, M_NONE, SR_OK, NULL},
	{"hmac issuer with kid: token has none", "HS256", NULL, K_HMAC, NULL, ISS_HS_KID, AUD, OK_CLAIMS, NULL, M_NONE, SR_EAUTH, "no kid"},
	{"hmac issuer with kid: token names another", "HS256", NULL, K_HMAC, "hs-2", ISS_HS_KID, AUD, OK_CLAIMS, NULL, M_NONE, SR_EAUTH, "kid"},
	{"pem issuer without kid: any kid", "RS256", NULL, K_RSA_A, "whatever", ISS_RS, AUD, OK_CLAIMS, NULL, M_NONE, SR_OK, NULL},
	{"token kid a number", "ES256", NULL, K_EC, NULL, ISS_JWKS, AUD, OK_CLAIMS, "\"kid\":7", M_NONE, SR_EAUTH, "kid is not a string"},
	{"token kid null", "ES256", NULL, K_EC, NULL, ISS_JWKS, AUD, OK_CLAIMS, "\"kid\":null", M_NONE, SR_EAUTH, "kid is not a string"},
	{"token kid an array", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, OK_CLAIMS, "\"kid\":[\"r1\"]", M_NONE, SR_EAUTH, "kid is not a string"},
	{"permission among several scopes", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, 3600, NO_CLAIM, -10, "openid revocations:write profile", NULL, M_NONE, SR_OK, NULL},
};

static char *make_token(const struct vcase *c)
{
	json_t *claims = json_object();
	char header[256], *payload, *tok;
	EVP_PKEY *key = NULL;
	const unsigned char *sec = NULL;
	size_t sec_len = 0;

	if (c->iss)
		json_object_set_new(claims, "iss", json_string(c->iss));
	json_object_set_new(claims, "sub", json_string("alice@example.com"));
	json_object_set_new(claims, "jti", json_string("jti-123"));
	if (strcmp(c->aud, "@array") == 0)
		json_object_set_new(claims, "aud", json_pack("[s, s]", "other", AUD));
	else
		json_object_set_new(claims, "aud", json_string(c->aud));
	if (c->exp != NO_CLAIM)
		json_object_set_new(claims, "exp", json_integer(NOW + c->exp));
	if (c->nbf != NO_CLAIM)
		json_object_set_new(claims, "nbf", json_integer(NOW + c->nbf));
	if (c->iat != NO_CLAIM)
		json_object_set_new(claims, "iat", json_integer(NOW + c->iat));
	if (c->scope)
		json_object_set_new(claims, "scope", json_string(c->scope));
	payload = json_dumps(claims, JSON_COMPACT);
	json_decref(claims);
	snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"%s%s%s%s%s}", c->alg,
		 c->kid ? ",\"kid\":\"" : "", c->kid ? c->kid : "", c->kid ? "\"" : "",
		 c->extra ? "," : "", c->extra ? c->extra : "");
	switch (c->signer) {
	case K_RSA_A: key = rsa_a; break;
	case K_RSA_J: key = rsa_j; break;
	case K_RSA_OTHER: key = rsa_other; break;
	case K_EC: key = ec_j; break;
	case K_ED: key = ed_j; break;
	case K_EC_OTHER: key = ec_other; break;
	case K_HMAC: sec = secret; sec_len = sizeof(secret) - 1; break;
	case K_HMAC_WITH_RSA_PEM:
		sec = (const unsigned char *)rsa_a_pem;
		sec_len = strlen(rsa_a_pem);
		break;
	}
	tok = tk_sign(c->sign_alg ? c->sign_alg : c->alg, key, sec, sec_len, header, payload);
	free(payload);
	switch (c->mutation) {
	case M_NONE:
		break;
	case M_FLIP_SIG: {
		char *sig = strrchr(tok, '.') + 1;
		sig[4] = sig[4] == 'A' ? 'B' : 'A';
		break;
	}
	case M_TRUNCATE_SIG:
		tok[strlen(tok) - 8] = '\0';
		break;
	case M_TWO_PARTS:
		*strrchr(tok, '.') = '\0';
		break;
	case M_EMPTY_SIG:
		strrchr(tok, '.')[1] = '\0';
		break;
	case M_OVERSIZE: {
		char *big = malloc(SR_AUTH_MAX_TOKEN + 100);
		memset(big, 'A', SR_AUTH_MAX_TOKEN + 99);
		big[SR_AUTH_MAX_TOKEN + 99] = '\0';
		memcpy(big, tok, strlen(tok));
		free(tok);
		tok = big;
		break;
	}
	case M_BAD_B64_HEADER:
		tok[1] = '*';
		break;
	case M_EMPTY:
		tok[0] = '\0';
		break;
	}
	return tok;
}

static void test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct vcase *c = &cases[i];
		struct sr_principal who;
		struct sr_err err = {0};
		char *tok = make_token(c);
		enum sr_rc rc = sr_auth_verify(auth, tok, strlen(tok), "revocations:write", NOW,
					       &who, &err);

		print_message("case %-40s -> %s %s\n", c->name, sr_rc_name(rc), err.msg);
		assert_int_equal(rc, c->want);
		if (c->want == SR_OK) {
			assert_string_equal(who.issuer, c->iss);
			assert_string_equal(who.subject, "alice@example.com");
			assert_string_equal(who.token_id, "jti-123");
			assert_non_null(who.claims);
			sr_principal_clear(&who);
		} else {
			assert_non_null(strstr(err.msg, c->want_msg));
			/* A refusal never echoes the token or any part of it. */
			if (strlen(tok) > 20) {
				char head[21];
				memcpy(head, tok, 20);
				head[20] = '\0';
				assert_null(strstr(err.msg, head));
			}
			assert_null(who.claims);
		}
		free(tok);
	}
}

static void test_no_permission_required(void **state)
{
	const struct vcase c = {"read", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, 3600,
				NO_CLAIM, -10, NULL, NULL, M_NONE, SR_OK, NULL};
	struct sr_principal who;
	struct sr_err err = {0};
	char *tok = make_token(&c);

	(void)state;
	assert_int_equal(sr_auth_verify(auth, tok, strlen(tok), NULL, NOW, &who, &err), SR_OK);
	sr_principal_clear(&who);
	assert_int_equal(sr_auth_verify(auth, tok, strlen(tok), "revocations:read", NOW, &who,
					&err), SR_EFORBIDDEN);
	free(tok);
}

/* A token seen before skips only the signature work: time and permission
 * are judged again on every use, and a changed token is a new token. */
static void test_cache_rechecks_claims(void **state)
{
	const struct vcase c = {"cached", "RS256", NULL, K_RSA_A, NULL, ISS_RS, AUD, 600,
				NO_CLAIM, -10, "revocations:write", NULL, M_NONE, SR_OK, NULL};
	struct sr_principal who;
	struct sr_err err = {0};
	char *tok = make_token(&c);
	size_t len = strlen(tok);
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_int_equal(sr_auth_verify(auth, tok, len, "revocations:write", NOW, &who, &err), SR_OK);
		assert_string_equal(who.subject, "alice@example.com");
		sr_principal_clear(&who);
	}
	assert_int_equal(sr_auth_verify(auth, tok, len, "revocations:write", NOW + 3600, &who, &err),
			 SR_EAUTH);
	assert_non_null(strstr(err.msg, "expired"));
	sr_err_clear(&err);
	assert_int_equal(sr_auth_verify(auth, tok, len, "revocations:read", NOW, &who, &err),
			 SR_EFORBIDDEN);
	sr_err_clear(&err);
	tok[len - 3] = tok[len - 3] == 'A' ? 'B' : 'A';
	assert_int_equal(sr_auth_verify(auth, tok, len, "revocations:write", NOW, &who, &err),
			 SR_EAUTH);
	assert_non_null(strstr(err.msg, "signature is invalid"));
	free(tok);
}

/* Security Event Tokens (sr_auth_verify_set): typ, transmitter, audience,
 * iat and jti, and which RFC 8935 error each refusal maps to. */
struct setcase {
	const char *name;
	const char *header;      /* JSON */
	const char *sign_alg;    /* NULL: unsigned ("header.payload.") */
	enum signer signer;
	const char *claims;      /* JSON */
	const char *audience;    /* the check's audience (NULL: the issuer's) */
	enum sr_rc want;
	enum sr_auth_fault fault;
	const char *want_msg;
	const char *transmitter; /* NULL: ISS_JWKS when the claims name it, else ISS_RS */
};

#define SET_OK_HDR "{\"alg\":\"RS256\",\"typ\":\"secevent+jwt\"}"
#define SET_CLAIMS(iss, aud, more) \
	"{\"iss\":\"" iss "\",\"aud\":" aud ",\"jti\":\"s1\",\"iat\":1773306000" more \
	",\"events\":{\"https://schemas.openid.net/secevent/caep/event-type/session-revoked\":{}}}"

static const struct setcase set_cases[] = {
	{"a SET", SET_OK_HDR, "RS256", K_RSA_A, SET_CLAIMS(ISS_RS, "\"" AUD "\"", ""), NULL,
	 SR_OK, 0, NULL, NULL},
	{"aud as an array", SET_OK_HDR, "RS256", K_RSA_A,
	 SET_CLAIMS(ISS_RS, "[\"https://other/\",\"" AUD "\"]", ""), NULL, SR_OK, 0, NULL, NULL},
	{"the receiver's own audience", SET_OK_HDR, "RS256", K_RSA_A,
	 SET_CLAIMS(ISS_RS, "\"https://revoker.example.com/ssf\"", ""),
	 "https://revoker.example.com/ssf", SR_OK, 0, NULL, NULL},
	{"typ application/secevent+jwt", "{\"alg\":\"RS256\",\"typ\":\"application/secevent+jwt\"}",
	 "RS256", K_RSA_A, SET_CLAIMS(ISS_RS, "\"" AUD "\"", ""), NULL, SR_OK, 0, NULL, NULL},
	{"jwks with kid", "{\"alg\":\"ES256\",\"typ\":\"secevent+jwt\",\"kid\":\"e1\"}", "ES256",
	 K_EC, SET_CLAIMS(ISS_JWKS, "\"" AUD "\"", ""), NULL, SR_OK, 0, NULL, NULL},
	{"typ JWT", "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "RS256", K_RSA_A,
	 SET_CLAIMS(ISS_RS, "\"" AUD "\"", ""), NULL, SR_EAUTH, SR_AUTH_FAULT_REQUEST,
	 "typ header is not secevent+jwt", NULL},
	{"no typ", "{\"alg\":\"RS256\"}", "RS256", K_RSA_A, SET_CLAIMS(ISS_RS, "\"" AUD "\"", ""),
	 NULL, SR_EAUTH, SR_AUTH_FAULT_REQUEST, "typ header is not secevent+jwt", NULL},
	{"unsigned, alg none", "{\"alg\":\"none\",\"typ\":\"secevent+jwt\"}", NULL, K_RSA_A,
	 SET_CLAIMS(ISS_RS, "\"" AUD "\"", ""), NULL, SR_EAUTH, SR_AUTH_FAULT_REQUEST, "unsigned", NULL},
	{"alg none with a signature", "{\"alg\":\"none\",\"typ\":\"secevent+jwt\"}", "RS256",
	 K_RSA_A, SET_CLAIMS(ISS_RS, "\"" AUD "\"", ""), NULL, SR_EAUTH, SR_AUTH_FAULT_REQUEST,
	 "none or unsupported", NULL},
	{"another trusted issuer is not the transmitter", "{\"alg\":\"HS256\",\"typ\":\"secevent+jwt\"}",
	 "HS256", K_HMAC, SET_CLAIMS(ISS_HS, "\"" AUD "\"", ""), NULL, SR_EAUTH,
	 SR_AUTH_FAULT_ISSUER, "issuer is not trusted", NULL},
	{"wrong aud", SET_OK_HDR, "RS256", K_RSA_A, SET_CLAIMS(ISS_RS, "\"someone-else\"", ""), NULL,
	 SR_EAUTH, SR_AUTH_FAULT_AUDIENCE, "aud does not contain " AUD, NULL},
	{"signed by another key", SET_OK_HDR, "RS256", K_RSA_OTHER,
	 SET_CLAIMS(ISS_RS, "\"" AUD "\"", ""), NULL, SR_EAUTH, SR_AUTH_FAULT_KEY,
	 "signature is invalid", NULL},
	{"unknown kid", "{\"alg\":\"ES256\",\"typ\":\"secevent+jwt\",\"kid\":\"gone\"}", "ES256",
	 K_EC, SET_CLAIMS(ISS_JWKS, "\"" AUD "\"", ""), NULL, SR_EAUTH, SR_AUTH_FAULT_KEY, "kid", NULL},
	{"iat in the future", SET_OK_HDR, "RS256", K_RSA_A,
	 "{\"iss\":\"" ISS_RS "\",\"aud\":\"" AUD "\",\"jti\":\"s1\",\"iat\":1773310000}", NULL,
	 SR_EAUTH, SR_AUTH_FAULT_REQUEST, "issued in the future", NULL},
	{"iat within the skew", SET_OK_HDR, "RS256", K_RSA_A,
	 "{\"iss\":\"" ISS_RS "\",\"aud\":\"" AUD "\",\"jti\":\"s1\",\"iat\":1773306550}", NULL,
	 SR_OK, 0, NULL, NULL},
	{"no iat", SET_OK_HDR, "RS256", K_RSA_A,
	 "{\"iss\":\"" ISS_RS "\",\"aud\":\"" AUD "\",\"jti\":\"s1\"}", NULL,
	 SR_EAUTH, SR_AUTH_FAULT_REQUEST, "no iat", NULL},
	{"no jti", SET_OK_HDR, "RS256", K_RSA_A,
	 "{\"iss\":\"" ISS_RS "\",\"aud\":\"" AUD "\",\"iat\":1773306000}", NULL,
	 SR_EAUTH, SR_AUTH_FAULT_REQUEST, "no jti", NULL},
	{"hs256 transmitter", "{\"alg\":\"HS256\",\"typ\":\"secevent+jwt\"}", "HS256", K_HMAC,
	 SET_CLAIMS(ISS_HS, "\"" AUD "\"", ""), NULL, SR_OK, 0, NULL, ISS_HS},
	{"hs256 transmitter, signed with another secret", "{\"alg\":\"HS256\",\"typ\":\"secevent+jwt\"}",
	 "HS256", K_HMAC_WITH_RSA_PEM, SET_CLAIMS(ISS_HS, "\"" AUD "\"", ""), NULL, SR_EAUTH,
	 SR_AUTH_FAULT_KEY, "signature is invalid", ISS_HS},
	{"eddsa from the jwks", "{\"alg\":\"EdDSA\",\"typ\":\"secevent+jwt\",\"kid\":\"d1\"}",
	 "EdDSA", K_ED, SET_CLAIMS(ISS_JWKS, "\"" AUD "\"", ""), NULL, SR_OK, 0, NULL, NULL},
	{"ps256", "{\"alg\":\"PS256\",\"typ\":\"secevent+jwt\"}", "PS256", K_RSA_A,
	 SET_CLAIMS(ISS_RS, "\"" AUD "\"", ""), NULL, SR_OK, 0, NULL, NULL},
	{"es256 with another key's signature", "{\"alg\":\"ES256\",\"typ\":\"secevent+jwt\",\"kid\":\"e1\"}",
	 "ES256", K_EC_OTHER, SET_CLAIMS(ISS_JWKS, "\"" AUD "\"", ""), NULL, SR_EAUTH,
	 SR_AUTH_FAULT_KEY, "signature is invalid", NULL},
	{"expired exp", SET_OK_HDR, "RS256", K_RSA_A,
	 SET_CLAIMS(ISS_RS, "\"" AUD "\"", ",\"exp\":1773300000"), NULL, SR_EAUTH,
	 SR_AUTH_FAULT_REQUEST, "expired", NULL},
};

static void test_set_table(void **state)
{
	struct sr_set_check check = {ISS_RS, NULL};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(set_cases) / sizeof(set_cases[0]); i++) {
		const struct setcase *c = &set_cases[i];
		enum sr_auth_fault fault = 0;
		struct sr_principal who;
		struct sr_err err = {0};
		EVP_PKEY *key = c->signer == K_RSA_A ? rsa_a : c->signer == K_EC ? ec_j
			      : c->signer == K_ED ? ed_j : c->signer == K_EC_OTHER ? ec_other
			      : rsa_other;
		char *tok;
		enum sr_rc rc;

		if (c->sign_alg == NULL) {
			char *h = tk_b64url((const unsigned char *)c->header, strlen(c->header));
			char *p = tk_b64url((const unsigned char *)c->claims, strlen(c->claims));
			tok = malloc(strlen(h) + strlen(p) + 3);
			sprintf(tok, "%s.%s.", h, p);
			free(h);
			free(p);
		} else if (c->signer == K_HMAC) {
			tok = tk_sign(c->sign_alg, NULL, secret, sizeof(secret) - 1, c->header, c->claims);
		} else if (c->signer == K_HMAC_WITH_RSA_PEM) {
			tok = tk_sign(c->sign_alg, NULL, (const unsigned char *)"another-secret-of-32-bytes-long!",
				      32, c->header, c->claims);
		} else {
			tok = tk_sign(c->sign_alg, key, NULL, 0, c->header, c->claims);
		}
		check.issuer = c->transmitter ? c->transmitter
			       : strstr(c->claims, ISS_JWKS) ? ISS_JWKS : ISS_RS;
		check.audience = c->audience;
		rc = sr_auth_verify_set(auth, tok, strlen(tok), &check, NOW, &who, &fault, &err);
		print_message("set %-45s -> %s %d %s\n", c->name, sr_rc_name(rc), (int)fault, err.msg);
		assert_int_equal(rc, c->want);
		if (rc == SR_OK) {
			assert_string_equal(who.token_id, "s1");
			assert_string_equal(who.issuer, check.issuer);
			sr_principal_clear(&who);
		} else {
			assert_int_equal(fault, c->fault);
			assert_non_null(strstr(err.msg, c->want_msg));
			assert_null(who.claims);
		}
		free(tok);
	}
}

/* sr_auth_verify_from (Okta's Universal Logout tokens): the issuer pinned,
 * the route's own audience, and every check sr_auth_verify makes; no
 * permission asked. */
static void test_verify_from(void **state)
{
	static const struct {
		const char *name, *iss, *aud;
		int exp;
		enum signer signer;
		const char *want_issuer, *want_audience;
		enum sr_rc want;
		const char *want_msg;
	} from_cases[] = {
		{"the route's audience", ISS_RS, "https://r/logout", 600, K_RSA_A, ISS_RS,
		 "https://r/logout", SR_OK, NULL},
		{"no audience given: the issuer's", ISS_RS, AUD, 600, K_RSA_A, ISS_RS, NULL, SR_OK,
		 NULL},
		{"the issuer's audience is not the route's", ISS_RS, AUD, 600, K_RSA_A, ISS_RS,
		 "https://r/logout", SR_EAUTH, "audience does not include https://r/logout"},
		{"another trusted issuer", ISS_RS, "https://r/logout", 600, K_RSA_A, ISS_JWKS,
		 "https://r/logout", SR_EAUTH, "issuer is not trusted here"},
		{"expired", ISS_RS, "https://r/logout", -3600, K_RSA_A, ISS_RS, "https://r/logout",
		 SR_EAUTH, "expired"},
		{"another key", ISS_RS, "https://r/logout", 600, K_RSA_OTHER, ISS_RS,
		 "https://r/logout", SR_EAUTH, "signature is invalid"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(from_cases) / sizeof(from_cases[0]); i++) {
		struct sr_set_check want = {from_cases[i].want_issuer, from_cases[i].want_audience};
		struct sr_principal who;
		struct sr_err err = {0};
		char claims[300], *tok;
		enum sr_rc rc;

		snprintf(claims, sizeof(claims), "{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%d,"
			 "\"jti\":\"ul-%zu\",\"sub\":\"0oa1\"}", from_cases[i].iss, from_cases[i].aud,
			 NOW + from_cases[i].exp, i);
		tok = tk_sign("RS256", from_cases[i].signer == K_RSA_A ? rsa_a : rsa_other, NULL, 0,
			      "{\"alg\":\"RS256\"}", claims);
		rc = sr_auth_verify_from(auth, tok, strlen(tok), &want, NOW, &who, &err);
		print_message("from %-40s -> %s %s\n", from_cases[i].name, sr_rc_name(rc), err.msg);
		assert_int_equal(rc, from_cases[i].want);
		if (rc == SR_OK) {
			assert_string_equal(who.issuer, ISS_RS);
			assert_string_equal(who.subject, "0oa1");
			sr_principal_clear(&who);
		} else {
			assert_non_null(strstr(err.msg, from_cases[i].want_msg));
			assert_null(who.claims);
		}
		free(tok);
	}
}

/* JWK Sets the service must refuse to load: private or symmetric keys, and
 * a kid that is not a string (RFC 7517 §4.5), which must never be taken for
 * a key without a kid. */
static void test_jwks_refusals(void **state)
{
	static const struct {
		const char *member; /* added to the RSA JWK; NULL: an oct key instead */
		const char *want;
	} bad[] = {
		{NULL, "issuer x: keys[0]: private or symmetric key"},
		{"\"kid\":7", "issuer x: keys[0]: \"kid\" is not a string"},
		{"\"kid\":null", "issuer x: keys[0]: \"kid\" is not a string"},
		{"\"kid\":[\"r1\"]", "issuer x: keys[0]: \"kid\" is not a string"},
		{"\"kid\":{}", "issuer x: keys[0]: \"kid\" is not a string"},
	};
	const char *dir = tk_tmpdir();
	char *jwk = tk_jwk(rsa_j, "SLOT");
	char *slot = strstr(jwk, "\"kid\":\"SLOT\""), *after = slot + strlen("\"kid\":\"SLOT\"");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char doc[4096], conf[1024], *jwks, *path;
		struct sr_config *c2 = NULL;
		struct sr_auth *a2 = NULL;
		struct sr_err err = {0};

		if (bad[i].member == NULL)
			snprintf(doc, sizeof(doc), "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\"}]}");
		else /* the JWK with the member in place of its "kid":"SLOT" */
			snprintf(doc, sizeof(doc), "{\"keys\":[%.*s%s%s]}", (int)(slot - jwk), jwk,
				 bad[i].member, after);
		jwks = tk_write(dir, "bad.jwks", doc);
		snprintf(conf, sizeof(conf),
			 "{\"auth\": {\"issuers\": [{\"issuer\": \"x\", \"audience\": \"y\","
			 " \"algorithms\": [\"RS256\"], \"jwks_file\": \"%s\"}]}}", jwks);
		path = tk_write(dir, "c.json", conf);
		assert_int_equal(sr_config_load(path, &c2, NULL, &err), SR_OK);
		assert_int_not_equal(sr_auth_new(c2, &a2, &err), SR_OK);
		print_message("%s -> %s\n", bad[i].member ? bad[i].member : "oct", err.msg);
		assert_non_null(strstr(err.msg, bad[i].want));
		assert_null(a2);
		sr_config_free(c2);
		free(jwks);
		free(path);
	}
	free(jwk);
}

static int setup(void **state)
{
	const char *dir = tk_tmpdir();
	char *jwk_r = NULL, *jwk_e = NULL, *jwk_d = NULL, jwks[8192], conf[4096];
	char *pem_path, *jwks_path, *sec_path, *conf_path;
	struct sr_err err = {0};

	(void)state;
	rsa_a = tk_rsa(2048);
	rsa_j = tk_rsa(2048);
	rsa_other = tk_rsa(2048);
	ec_j = tk_ec("P-256");
	ec_other = tk_ec("P-256");
	ed_j = tk_ed25519();
	rsa_a_pem = tk_public_pem(rsa_a);
	jwk_r = tk_jwk(rsa_j, "r1");
	jwk_e = tk_jwk(ec_j, "e1");
	jwk_d = tk_jwk(ed_j, "d1");
	snprintf(jwks, sizeof(jwks), "{\"keys\":[%s,%s,%s]}", jwk_r, jwk_e, jwk_d);
	pem_path = tk_write(dir, "rs.pem", rsa_a_pem);
	jwks_path = tk_write(dir, "keys.jwks", jwks);
	sec_path = tk_write(dir, "hs.secret", (const char *)secret);
	snprintf(conf, sizeof(conf),
		 "{\"auth\": {\"clock_skew_seconds\": 60, \"issuers\": ["
		 "{\"issuer\": \"%s\", \"audience\": \"%s\", \"algorithms\": [\"RS256\", \"PS256\"], \"public_key_file\": \"%s\"},"
		 "{\"issuer\": \"%s\", \"audience\": \"%s\", \"algorithms\": [\"RS256\", \"ES256\", \"EdDSA\"], \"jwks_file\": \"%s\"},"
		 "{\"issuer\": \"%s\", \"audience\": \"%s\", \"algorithms\": [\"HS256\"], \"hmac_secret_file\": \"%s\"},"
		 "{\"issuer\": \"%s\", \"audience\": \"%s\", \"algorithms\": [\"RS256\"], \"public_key_file\": \"%s\", \"kid\": \"rs-2026\"},"
		 "{\"issuer\": \"%s\", \"audience\": \"%s\", \"algorithms\": [\"HS256\"], \"hmac_secret_file\": \"%s\", \"kid\": \"hs-1\"}]}}",
		 ISS_RS, AUD, pem_path, ISS_JWKS, AUD, jwks_path, ISS_HS, AUD, sec_path,
		 ISS_RS_KID, AUD, pem_path, ISS_HS_KID, AUD, sec_path);
	conf_path = tk_write(dir, "config.json", conf);
	if (sr_config_load(conf_path, &cfg, NULL, &err) != SR_OK ||
	    sr_auth_new(cfg, &auth, &err) != SR_OK) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	free(jwk_r);
	free(jwk_e);
	free(jwk_d);
	free(pem_path);
	free(jwks_path);
	free(sec_path);
	free(conf_path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sr_auth_free(auth);
	sr_config_free(cfg);
	EVP_PKEY_free(rsa_a);
	EVP_PKEY_free(rsa_j);
	EVP_PKEY_free(rsa_other);
	EVP_PKEY_free(ec_j);
	EVP_PKEY_free(ec_other);
	EVP_PKEY_free(ed_j);
	free(rsa_a_pem);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_no_permission_required),
		cmocka_unit_test(test_verify_from),
		cmocka_unit_test(test_set_table),
		cmocka_unit_test(test_cache_rechecks_claims),
		cmocka_unit_test(test_jwks_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
