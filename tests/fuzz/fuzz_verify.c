/*
 * fuzz_verify.c - libFuzzer target for sr_auth_verify(), which reads every
 * bearer token and every application/jwt body.
 *
 * DESIGN: LLVMFuzzerInitialize() builds one struct sr_auth from a struct
 * sr_config filled by hand, with four trusted issuers whose keys are made
 * fresh and written to a temporary directory (removed again once loaded):
 *   fuzz-hs    HS256/HS384, an HMAC secret file (a fixed test secret, so the
 *              committed seed tokens stay valid)
 *   fuzz-jwks  RS256/RS384/PS256/ES256, a JWK Set with an RSA-2048 key
 *              (kid "rsa1") and an EC P-256 key (kid "ec1", alg ES256)
 *   fuzz-pem   EdDSA/RS256, a PEM Ed25519 public key
 *   fuzz-hs-kid  the fuzz-hs secret with a configured kid "hs-kid", which
 *              every token of that issuer must name
 *
 * A mutated token almost never keeps a valid signature, so the input has two
 * forms to let the fuzzer reach the claim checks as well:
 *   - anything not starting with '{' is the token itself, as sent;
 *   - "{header JSON}\0{claims JSON}" (or just "{claims JSON}", with the header
 *     {"alg":"HS256","typ":"JWT"}) is signed here first, with the key for
 *     the first of HS384, HS512, RS256, RS384, PS256, ES256, EdDSA whose
 *     name appears in the header bytes (HS256 if none); header and claims
 *     are base64url-encoded exactly as given.
 * With FUZZ_VERIFY_WRITE_SEEDS=<dir> set, the initializer also writes valid
 * tokens for each key into <dir> (run.sh points it at its corpus copy);
 * FUZZ_VERBOSE=1 prints each outcome, to see what the seeds reach.
 *
 * Invariants: failure is SR_EAUTH or SR_EFORBIDDEN with a one-line message
 * that never quotes the token (nor any of its parts of 16 bytes or more);
 * success names a configured issuer, and the verified claims then go through
 * sr_document_parse() as POST /v1/revocations does with an application/jwt
 * body. Each token is verified again to check the token cache (check_again).
 *
 * Each token is also verified as a Security Event Token pushed to
 * POST /v1/events/ssf (sr_auth_verify_set, verify_as_set) with each of the
 * first three issuers as the transmitter: success names that issuer and a
 * jti; failure is SR_EAUTH with a known fault and a clean message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "fuzz_common.h"
#include "session_revoker/auth.h"
#include "session_revoker/config.h"
#include "session_revoker/sources.h"

#define PERMISSION "revocations:write"
#define AUDIENCE "session-revoker"
/* A test secret, also in make_seeds.py; never used outside the fuzzer. */
#define HS_SECRET "fuzz-hs-secret-for-tests-only-0123456789abcdef"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sr_issuer issuers[4] = {
	{.issuer = "fuzz-hs", .audience = AUDIENCE, .algs = SR_ALG_HS256 | SR_ALG_HS384,
	 .key_source = SR_KEY_HMAC_FILE},
	{.issuer = "fuzz-jwks", .audience = AUDIENCE,
	 .algs = SR_ALG_RS256 | SR_ALG_RS384 | SR_ALG_PS256 | SR_ALG_ES256,
	 .key_source = SR_KEY_JWKS_FILE},
	{.issuer = "fuzz-pem", .audience = AUDIENCE, .algs = SR_ALG_EDDSA | SR_ALG_RS256,
	 .key_source = SR_KEY_PEM_FILE},
	{.issuer = "fuzz-hs-kid", .audience = AUDIENCE, .algs = SR_ALG_HS256 | SR_ALG_HS384,
	 .key_source = SR_KEY_HMAC_FILE, .kid = "hs-kid"},
};
static struct sr_config cfg;
static struct sr_auth *auth;
static EVP_PKEY *rsa_key, *ec_key, *ed_key;
static int verbose; /* FUZZ_VERBOSE=1: print each outcome (for seeds) */

static void die(const char *what)
{
	fprintf(stderr, "fuzz_verify: init: %s\n", what);
	exit(1);
}

/* ---- signing (the test side's own, through OpenSSL) ---- */

static int bn_b64(const EVP_PKEY *pkey, const char *param, size_t pad, json_t *jwk,
		  const char *name)
{
	BIGNUM *bn = NULL;
	unsigned char buf[512];
	int n;
	char *s;

	if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1)
		return 0;
	n = pad ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
	BN_free(bn);
	if (n <= 0 || (s = fuzz_b64url_encode(buf, (size_t)n)) == NULL)
		return 0;
	json_object_set_new(jwk, name, json_string(s));
	free(s);
	return 1;
}

/* ES256 wants r || s, 32 bytes each; OpenSSL signs in DER. */
static int der_to_raw(unsigned char *sig, size_t *len)
{
	const unsigned char *p = sig;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)*len);
	const BIGNUM *r, *s;
	int ok;

	if (es == NULL)
		return 0;
	ECDSA_SIG_get0(es, &r, &s);
	ok = BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32;
	ECDSA_SIG_free(es);
	*len = 64;
	return ok;
}

/* Signs in (len bytes) with alg into sig (at least 512 bytes). */
static int sign(unsigned alg, const char *in, size_t len, unsigned char *sig,
		size_t *sig_len)
{
	EVP_MD_CTX *md;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *key;
	const EVP_MD *dg = NULL;
	unsigned hlen = 0;
	int ok;

	switch (alg) {
	case SR_ALG_HS256:
	case SR_ALG_HS384:
	case SR_ALG_HS512:
		dg = alg == SR_ALG_HS256 ? EVP_sha256() : alg == SR_ALG_HS384 ? EVP_sha384() : EVP_sha512();
		if (HMAC(dg, HS_SECRET, (int)strlen(HS_SECRET), (const unsigned char *)in, len,
			 sig, &hlen) == NULL)
			return 0;
		*sig_len = hlen;
		return 1;
	case SR_ALG_RS256:
	case SR_ALG_PS256:
		key = rsa_key, dg = EVP_sha256();
		break;
	case SR_ALG_RS384:
		key = rsa_key, dg = EVP_sha384();
		break;
	case SR_ALG_ES256:
		key = ec_key, dg = EVP_sha256();
		break;
	case SR_ALG_EDDSA:
		key = ed_key;
		break;
	default:
		return 0;
	}
	if ((md = EVP_MD_CTX_new()) == NULL)
		return 0;
	*sig_len = 512;
	ok = EVP_DigestSignInit(md, &pctx, dg, NULL, key) == 1 &&
	     (alg != SR_ALG_PS256 ||
	      (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
	       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1)) &&
	     EVP_DigestSign(md, sig, sig_len, (const unsigned char *)in, len) == 1 &&
	     (alg != SR_ALG_ES256 || der_to_raw(sig, sig_len));
	EVP_MD_CTX_free(md);
	return ok;
}

/* A compact JWS of header and claims (raw bytes) signed with alg; new string. */
static char *make_token(unsigned alg, const char *header, size_t header_len,
			const char *claims, size_t claims_len)
{
	char *h = fuzz_b64url_encode((const unsigned char *)header, header_len);
	char *c = fuzz_b64url_encode((const unsigned char *)claims, claims_len);
	char *s = NULL, *tok = NULL;
	unsigned char sig[512];
	size_t sig_len = 0, n;

	if (h == NULL || c == NULL)
		goto out;
	n = strlen(h) + 1 + strlen(c);
	if ((tok = malloc(n + 1 + (sizeof(sig) + 2) / 3 * 4 + 1)) == NULL)
		goto out;
	snprintf(tok, n + 1, "%s.%s", h, c);
	if (!sign(alg, tok, n, sig, &sig_len) ||
	    (s = fuzz_b64url_encode(sig, sig_len)) == NULL) {
		free(tok);
		tok = NULL;
		goto out;
	}
	tok[n] = '.';
	memcpy(tok + n + 1, s, strlen(s) + 1);
out:
	free(h);
	free(c);
	free(s);
	return tok;
}

/* ---- set-up ---- */

static char *write_file(const char *dir, const char *name, const char *data)
{
	struct sr_err err = {0};
	size_t n = strlen(dir) + strlen(name) + 2;
	char *path = malloc(n);

	if (path == NULL)
		die("out of memory");
	snprintf(path, n, "%s/%s", dir, name);
	if (sr_file_write(path, data, strlen(data), 0600, &err) != SR_OK)
		die(err.msg);
	return path;
}

static char *jwks_text(void)
{
	json_t *rsa = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "kid", "rsa1", "use", "sig");
	json_t *ec = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "kid", "ec1", "crv", "P-256",
			       "alg", "ES256");
	json_t *set;
	char *text = NULL;

	if (rsa == NULL || ec == NULL ||
	    !bn_b64(rsa_key, OSSL_PKEY_PARAM_RSA_N, 0, rsa, "n") ||
	    !bn_b64(rsa_key, OSSL_PKEY_PARAM_RSA_E, 0, rsa, "e") ||
	    !bn_b64(ec_key, OSSL_PKEY_PARAM_EC_PUB_X, 32, ec, "x") ||
	    !bn_b64(ec_key, OSSL_PKEY_PARAM_EC_PUB_Y, 32, ec, "y"))
		die("cannot build the JWK Set");
	set = json_pack("{s:[o, o]}", "keys", rsa, ec);
	if (set == NULL || (text = json_dumps(set, JSON_INDENT(2))) == NULL)
		die("cannot build the JWK Set");
	json_decref(set);
	return text;
}

static char *pem_text(EVP_PKEY *pkey)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *text;
	long n;

	if (bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1)
		die("cannot write a PEM public key");
	n = BIO_get_mem_data(bio, &data);
	if ((text = strndup(data, (size_t)n)) == NULL)
		die("out of memory");
	BIO_free(bio);
	return text;
}

/* Writes valid tokens for every key into dir, so the fuzzer starts deep. */
static void write_seeds(const char *dir)
{
	static const struct {
		unsigned alg;
		const char *name, *iss, *kid;
	} seeds[] = {
		{SR_ALG_HS256, "HS256", "fuzz-hs", NULL},
		{SR_ALG_HS384, "HS384", "fuzz-hs", NULL},
		{SR_ALG_RS256, "RS256", "fuzz-jwks", "rsa1"},
		{SR_ALG_RS384, "RS384", "fuzz-jwks", NULL},
		{SR_ALG_PS256, "PS256", "fuzz-jwks", "rsa1"},
		{SR_ALG_ES256, "ES256", "fuzz-jwks", "ec1"},
		{SR_ALG_EDDSA, "EdDSA", "fuzz-pem", NULL},
	};
	size_t i;

	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		json_t *h = json_pack("{s:s, s:s}", "alg", seeds[i].name, "typ", "JWT");
		json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:[s, s], s:s}",
				      "iss", seeds[i].iss, "aud", AUDIENCE, "sub", "alice",
				      "jti", seeds[i].name, "iat", (json_int_t)FUZZ_NOW - 60,
				      "exp", (json_int_t)FUZZ_NOW + 3600, "scope",
				      "revocations:read " PERMISSION, "groups", "eng", "ops",
				      "time", "1 hour ago");
		char *hs, *cs, *tok, name[64];

		if (seeds[i].kid != NULL)
			json_object_set_new(h, "kid", json_string(seeds[i].kid));
		hs = json_dumps(h, JSON_COMPACT);
		cs = json_dumps(c, JSON_COMPACT);
		tok = make_token(seeds[i].alg, hs, strlen(hs), cs, strlen(cs));
		if (tok == NULL)
			die("cannot sign a seed token");
		snprintf(name, sizeof(name), "init-%s.jwt", seeds[i].name);
		free(write_file(dir, name, tok));
		free(tok);
		free(hs);
		free(cs);
		json_decref(h);
		json_decref(c);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sr_err err = {0};
	char dir[] = "/tmp/sr-fuzz-verify-XXXXXX";
	char *secret, *jwks, *pem, *paths[3];
	const char *seeds;
	size_t i;

	if ((rsa_key = EVP_RSA_gen(2048)) == NULL ||
	    (ec_key = EVP_EC_gen("P-256")) == NULL ||
	    (ed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL)
		die("cannot generate keys");
	if (mkdtemp(dir) == NULL)
		die("cannot create a temporary directory");
	secret = strdup(HS_SECRET "\n");
	jwks = jwks_text();
	pem = pem_text(ed_key);
	if (secret == NULL)
		die("out of memory");
	paths[0] = issuers[0].key_file = write_file(dir, "hs.secret", secret);
	paths[1] = issuers[1].key_file = write_file(dir, "jwks.json", jwks);
	paths[2] = issuers[2].key_file = write_file(dir, "ed25519.pub.pem", pem);
	issuers[3].key_file = issuers[0].key_file;

	cfg.clock_skew = 60;
	cfg.issuers = issuers;
	cfg.n_issuers = sizeof(issuers) / sizeof(issuers[0]);
	cfg.dev_key_file = NULL;
	if (sr_auth_new(&cfg, &auth, &err) != SR_OK)
		die(err.msg);

	for (i = 0; i < 3; i++)
		unlink(paths[i]);
	rmdir(dir);
	free(secret);
	free(jwks);
	free(pem);
	verbose = getenv("FUZZ_VERBOSE") != NULL && strcmp(getenv("FUZZ_VERBOSE"), "1") == 0;
	if ((seeds = getenv("FUZZ_VERIFY_WRITE_SEEDS")) != NULL && seeds[0] != '\0')
		write_seeds(seeds);
	return 0;
}

/* ---- one input ---- */

/* The JWS alg whose name appears first in the header bytes, else HS256. */
static unsigned header_alg(const char *h, size_t len)
{
	static const char *const names[] = {"HS384", "HS512", "RS256", "RS384",
					    "PS256", "ES256", "EdDSA"};

	size_t i, at;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (at = 0; at + 5 <= len; at++)
			if (memcmp(h + at, names[i], 5) == 0)
				return sr_alg_from_name(names[i]);
	return SR_ALG_HS256;
}

static void check_failure(const struct sr_err *err, const struct sr_principal *who,
			  const char *tok)
{
	const char *p = tok, *dot;
	size_t n;

	fuzz_check_err(err, FUZZ_RC(SR_EAUTH) | FUZZ_RC(SR_EFORBIDDEN));
	FUZZ_CHECK(who->claims == NULL);
	if (strlen(tok) >= 16)
		FUZZ_CHECK(strstr(err->msg, tok) == NULL);
	/* Nor any part of it long enough to matter. */
	do {
		dot = strchr(p, '.');
		n = dot ? (size_t)(dot - p) : strlen(p);
		if (n >= 16) {
			char *part = strndup(p, n);
			FUZZ_CHECK(part != NULL);
			FUZZ_CHECK(strstr(err->msg, part) == NULL);
			free(part);
		}
		p = dot ? dot + 1 : NULL;
	} while (p != NULL);
}

static void check_success(struct sr_principal *who)
{
	struct sr_document_limits lim = {100, 256, 60, 1, NULL};
	struct sr_document *doc = NULL;
	struct sr_err err = {0};
	const char *sub, *jti;
	size_t i;
	int known = 0;

	for (i = 0; i < sizeof(issuers) / sizeof(issuers[0]); i++)
		known |= strcmp(who->issuer, issuers[i].issuer) == 0;
	FUZZ_CHECK(known);
	FUZZ_CHECK(json_is_object(who->claims));
	FUZZ_CHECK(strcmp(json_string_value(json_object_get(who->claims, "iss")),
			  who->issuer) == 0);
	FUZZ_CHECK(json_object_get(who->claims, "exp") != NULL);
	/* sub and jti are keys (idempotency, one revocation per jti): whole,
	 * never cut, "" only when the claim is not a string. */
	sub = json_string_value(json_object_get(who->claims, "sub"));
	jti = json_string_value(json_object_get(who->claims, "jti"));
	FUZZ_CHECK(strcmp(who->subject, sub ? sub : "") == 0);
	FUZZ_CHECK(strcmp(who->token_id, jti ? jti : "") == 0);
	/* What POST /v1/revocations does next with an application/jwt body. */
	if (sr_document_parse(who->claims, &lim, FUZZ_NOW, &doc, &err) == SR_OK)
		fuzz_check_document(doc, &lim, FUZZ_NOW);
	else
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL) | FUZZ_RC(SR_ENOMEM));
	sr_document_free(doc);
}

/*
 * The token cache (verify.c) skips only the signature on a second use: the
 * same token at the same time gives the same answer, and a token that was
 * good is refused as expired once the clock passes its exp, cached or not.
 */
static void check_again(const char *tok, size_t len, enum sr_rc rc,
			const struct sr_principal *who, const struct sr_err *err)
{
	struct sr_principal again;
	struct sr_err err2 = {0};
	json_t *e;
	int64_t exp;

	FUZZ_CHECK(sr_auth_verify(auth, tok, len, PERMISSION, FUZZ_NOW, &again, &err2) == rc);
	FUZZ_CHECK(strcmp(err2.msg, err->msg) == 0);
	FUZZ_CHECK(strcmp(again.issuer, who->issuer) == 0);
	FUZZ_CHECK(strcmp(again.subject, who->subject) == 0);
	FUZZ_CHECK(strcmp(again.token_id, who->token_id) == 0);
	FUZZ_CHECK(json_equal(again.claims, who->claims) || (again.claims == NULL && who->claims == NULL));
	sr_principal_clear(&again);
	if (rc != SR_OK)
		return;
	e = json_object_get(who->claims, "exp");
	exp = json_is_integer(e) ? json_integer_value(e) : (int64_t)json_real_value(e);
	if (exp > INT64_MAX / 2)
		return;
	sr_err_clear(&err2);
	FUZZ_CHECK(sr_auth_verify(auth, tok, len, PERMISSION, exp + 60 + 1, &again, &err2) == SR_EAUTH);
	FUZZ_CHECK(strcmp(err2.msg, "token expired") == 0);
	FUZZ_CHECK(again.claims == NULL);
}

static void verify_as_set(const char *tok, size_t len)
{
	size_t i;

	for (i = 0; i < 3; i++) {
		struct sr_set_check chk = {issuers[i].issuer, NULL};
		enum sr_auth_fault fault = 0;
		struct sr_principal who;
		struct sr_err err = {0};
		enum sr_rc rc = sr_auth_verify_set(auth, tok, len, &chk, FUZZ_NOW, &who, &fault,
						   &err);

		if (verbose)
			fprintf(stderr, "fuzz_verify: as a SET of %s: %s: %s\n", chk.issuer,
				sr_rc_name(rc), rc == SR_OK ? who.token_id : err.msg);
		if (rc == SR_OK) {
			FUZZ_CHECK(err.code == SR_OK);
			FUZZ_CHECK(strcmp(who.issuer, chk.issuer) == 0);
			FUZZ_CHECK(who.token_id[0] != '\0' && json_is_object(who.claims));
		} else {
			FUZZ_CHECK(rc == SR_EAUTH && who.claims == NULL);
			FUZZ_CHECK(fault >= SR_AUTH_FAULT_REQUEST && fault <= SR_AUTH_FAULT_UNAVAILABLE);
			fuzz_check_err(&err, FUZZ_RC(SR_EAUTH));
		}
		sr_principal_clear(&who);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sr_principal who;
	struct sr_err err = {0};
	char *tok;
	size_t len;
	enum sr_rc rc;

	if (size > 0 && data[0] == '{') {
		const uint8_t *nul = memchr(data, '\0', size);
		static const char def[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

		if (nul != NULL)
			tok = make_token(header_alg((const char *)data, (size_t)(nul - data)),
					 (const char *)data, (size_t)(nul - data),
					 (const char *)nul + 1, size - (size_t)(nul + 1 - data));
		else
			tok = make_token(SR_ALG_HS256, def, strlen(def), (const char *)data, size);
		FUZZ_CHECK(tok != NULL);
		len = strlen(tok);
	} else {
		tok = malloc(size + 1);
		FUZZ_CHECK(tok != NULL);
		memcpy(tok, data, size);
		tok[size] = '\0';
		len = size; /* a NUL inside must be refused, not cut at */
	}

	rc = sr_auth_verify(auth, tok, len, PERMISSION, FUZZ_NOW, &who, &err);
	if (verbose)
		fprintf(stderr, "fuzz_verify: %s: %s\n", sr_rc_name(rc),
			rc == SR_OK ? who.issuer : err.msg);
	if (rc == SR_OK) {
		FUZZ_CHECK(err.code == SR_OK);
		check_success(&who);
	} else {
		FUZZ_CHECK(rc == err.code);
		check_failure(&err, &who, tok);
	}
	check_again(tok, len, rc, &who, &err);
	verify_as_set(tok, len);
	sr_principal_clear(&who);
	free(tok);
	return 0;
}
