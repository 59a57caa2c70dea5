/*
 * verify.c - sr_auth_verify(): every check a JWT must pass, in order.
 *
 * DESIGN: see auth.h. The order matters: the size cap and the shape come
 * first (cheap, no allocation beyond the token), then the issuer from the
 * claims picks the keys, then the header's alg is held against the issuer's
 * list and the key's type *before* any signature code sees the token, so
 * libjwt can never be talked into "none" or into an HMAC keyed with a public
 * key. Claims are checked only after the signature holds.
 */
#include "auth_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

struct issuer_keys {
	const struct sr_issuer *cfg;
	struct sr_issuer owned; /* the development issuer lives here */
	struct sr_key_set keys; /* the *_file sources: loaded once */
	struct sr_jwks *jwks;   /* jwks_url: fetched, swapped at each change */
	struct sr_auth *auth;
	unsigned cache_serial;  /* under auth->cache_mu: the set the cached
				 * tokens of this issuer must have been verified
				 * with (0 for the file sources) */
};

/* Tokens whose signature held, by SHA-256 of the whole token: a sender
 * that reuses one token (Auth0's static Authorization value, a script) does
 * not pay for a signature check per request. Only the signature work is
 * skipped: every claim is checked again on every use. Direct-mapped, so a
 * flood of distinct tokens only evicts, never grows it. */
#define CACHE_SLOTS 512

struct cache_slot {
	unsigned char hash[32];
	const struct issuer_keys *ik;
	unsigned serial; /* the key set that verified it */
	json_t *claims; /* read-only once cached; refcounts are atomic */
};

struct sr_auth {
	struct issuer_keys *issuers;
	size_t n;
	int64_t skew;
	pthread_mutex_t cache_mu;
	struct cache_slot cache[CACHE_SLOTS];
};

void sr_auth_free(struct sr_auth *auth)
{
	size_t i;

	if (auth == NULL)
		return;
	for (i = 0; i < auth->n; i++) /* no fetch thread may touch the cache now */
		sr_jwks_free(auth->issuers[i].jwks);
	for (i = 0; i < CACHE_SLOTS; i++)
		json_decref(auth->cache[i].claims);
	pthread_mutex_destroy(&auth->cache_mu);
	for (i = 0; i < auth->n; i++)
		sr_key_set_clear(&auth->issuers[i].keys);
	free(auth->issuers);
	free(auth);
}

/* A jwks_url issuer's set changed (the fetching thread): tokens verified
 * with the old set leave the cache, so a token whose key was withdrawn is
 * checked again, and refused. */
static void keys_changed(void *arg, unsigned serial)
{
	struct issuer_keys *ik = arg;
	struct sr_auth *auth = ik->auth;
	json_t *drop[CACHE_SLOTS];
	size_t i, n = 0;

	pthread_mutex_lock(&auth->cache_mu);
	ik->cache_serial = serial;
	for (i = 0; i < CACHE_SLOTS; i++) {
		if (auth->cache[i].ik == ik && auth->cache[i].claims != NULL) {
			drop[n++] = auth->cache[i].claims;
			auth->cache[i].claims = NULL;
			auth->cache[i].ik = NULL;
		}
	}
	pthread_mutex_unlock(&auth->cache_mu);
	for (i = 0; i < n; i++)
		json_decref(drop[i]);
}

enum sr_rc sr_auth_ready(struct sr_auth *auth, struct sr_err *err)
{
	size_t i;

	for (i = 0; i < auth->n; i++)
		if (auth->issuers[i].jwks != NULL &&
		    sr_jwks_ready(auth->issuers[i].jwks, err) != SR_OK)
			return err ? err->code : SR_EUNAVAIL;
	return SR_OK;
}

enum sr_rc sr_auth_new(const struct sr_config *cfg, struct sr_auth **out,
		       struct sr_err *err)
{
	enum sr_rc rc = SR_OK;
	struct sr_auth *auth;
	size_t i;

	*out = NULL;
	auth = calloc(1, sizeof(*auth));
	if (auth == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	auth->skew = cfg->clock_skew;
	pthread_mutex_init(&auth->cache_mu, NULL);
	auth->issuers = calloc(cfg->n_issuers + 1, sizeof(*auth->issuers));
	if (auth->issuers == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < cfg->n_issuers; i++) {
		struct issuer_keys *ik = &auth->issuers[auth->n++];
		ik->cfg = &cfg->issuers[i];
		ik->auth = auth;
		struct sr_err kerr = {0};
		if (ik->cfg->key_source == SR_KEY_JWKS_URL) {
			/* Never fails for an unreachable provider: the thread
			 * keeps trying, and sr_auth_ready() says so meanwhile. */
			rc = sr_jwks_start(cfg, ik->cfg, keys_changed, ik, &ik->jwks, err);
			if (rc != SR_OK)
				goto out;
			continue;
		}
		rc = sr_keys_load(ik->cfg->key_source, ik->cfg->key_file, &ik->keys, &kerr);
		if (rc != SR_OK) {
			sr_err_set(err, rc, "issuer %s: %s", ik->cfg->issuer, kerr.msg);
			goto out;
		}
		/* A PEM or HMAC key named in the config: tokens must name it. */
		if (ik->cfg->kid != NULL && ik->cfg->key_source != SR_KEY_JWKS_FILE &&
		    ik->keys.n == 1 && (ik->keys.keys[0].kid = strdup(ik->cfg->kid)) == NULL) {
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (cfg->dev_key_file != NULL) {
		struct issuer_keys *ik = &auth->issuers[auth->n++];
		ik->owned.issuer = cfg->dev_issuer;
		ik->owned.audience = cfg->dev_audience;
		ik->owned.algs = SR_ALG_RS256;
		ik->owned.key_source = SR_KEY_PEM_FILE;
		ik->owned.key_file = cfg->dev_key_file;
		ik->cfg = &ik->owned;
		ik->auth = auth;
		rc = sr_keys_load_private_pem(cfg->dev_key_file, &ik->keys, err);
		if (rc != SR_OK)
			goto out;
	}
out:
	if (rc != SR_OK) {
		sr_auth_free(auth);
		return rc;
	}
	*out = auth;
	return SR_OK;
}

void sr_principal_clear(struct sr_principal *who)
{
	json_decref(who->claims);
	memset(who, 0, sizeof(*who));
	who->issuer = who->subject = who->token_id = "";
}

/* Decodes one base64url part of the token into a JSON object. */
static enum sr_rc part_json(const char *p, size_t len, const char *what,
			    json_t **out, struct sr_err *err)
{
	unsigned char *raw = NULL;
	size_t raw_len = 0;
	json_error_t jerr;

	if (sr_b64url_decode(p, len, &raw, &raw_len, NULL) != SR_OK)
		return sr_err_set(err, SR_EAUTH, "malformed token: %s is not base64url", what);
	*out = json_loadb((const char *)raw, raw_len,
			  JSON_REJECT_DUPLICATES, &jerr);
	free(raw);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return sr_err_set(err, SR_EAUTH, "malformed token: %s is not a JSON object", what);
	}
	return SR_OK;
}

static const EVP_MD *alg_md(unsigned alg)
{
	if (alg & (SR_ALG_HS256 | SR_ALG_RS256 | SR_ALG_PS256 | SR_ALG_ES256))
		return EVP_sha256();
	if (alg & (SR_ALG_HS384 | SR_ALG_RS384 | SR_ALG_PS384 | SR_ALG_ES384))
		return EVP_sha384();
	if (alg & (SR_ALG_HS512 | SR_ALG_RS512 | SR_ALG_PS512 | SR_ALG_ES512))
		return EVP_sha512();
	return NULL; /* EdDSA hashes internally */
}

/* PS256/384/512 and EdDSA, which libjwt 1.10 cannot check. */
static int evp_verify(const struct sr_key *key, unsigned alg, const char *signed_part,
		      size_t signed_len, const unsigned char *sig, size_t sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok = 0;

	if (md == NULL)
		return 0;
	if (EVP_DigestVerifyInit(md, &pctx, alg_md(alg), NULL, key->pkey) != 1)
		goto out;
	if ((alg & (SR_ALG_PS256 | SR_ALG_PS384 | SR_ALG_PS512)) != 0 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		goto out;
	ok = EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)signed_part,
			      signed_len) == 1;
out:
	EVP_MD_CTX_free(md);
	return ok;
}

static int libjwt_verify(const struct sr_key *key, const char *token)
{
	jwt_t *jwt = NULL;
	int rc;

	if (key->type == KEY_HMAC)
		rc = jwt_decode(&jwt, token, key->secret, (int)key->secret_len);
	else
		rc = jwt_decode(&jwt, token, (const unsigned char *)key->pem,
				(int)key->pem_len);
	jwt_free(jwt);
	return rc == 0;
}

/* A JWS signature checked by OpenSSL alone, for every algorithm: libjwt
 * 1.10 refuses a header whose typ is not "JWT" (a SET's is secevent+jwt).
 * HMAC compared in constant time; ES* signatures are r||s (RFC 7518 section
 * 3.4), turned into the DER that EVP verifies. */
static int openssl_verify(const struct sr_key *key, unsigned alg, const char *signed_part,
			  size_t signed_len, const unsigned char *sig, size_t sig_len)
{
	unsigned char mac[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int mac_len = 0;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	size_t half;
	int der_len, ok = 0;

	if (alg & SR_ALG_HMAC) {
		if (key->type != KEY_HMAC ||
		    HMAC(alg_md(alg), key->secret, (int)key->secret_len,
			 (const unsigned char *)signed_part, signed_len, mac, &mac_len) == NULL)
			return 0;
		ok = sig_len == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
		OPENSSL_cleanse(mac, sizeof(mac));
		return ok;
	}
	if ((alg & SR_ALG_EC) == 0)
		return evp_verify(key, alg, signed_part, signed_len, sig, sig_len);
	half = alg & SR_ALG_ES256 ? 32 : alg & SR_ALG_ES384 ? 48 : 66;
	if (sig_len != 2 * half || (es = ECDSA_SIG_new()) == NULL)
		return 0;
	r = BN_bin2bn(sig, (int)half, NULL);
	s = BN_bin2bn(sig + half, (int)half, NULL);
	if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	if ((der_len = i2d_ECDSA_SIG(es, &der)) > 0)
		ok = evp_verify(key, alg, signed_part, signed_len, der, (size_t)der_len);
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	return ok;
}

static int signature_ok(const struct sr_key *key, unsigned alg, const char *token,
			size_t signed_len, const char *sig_b64, size_t sig_b64_len,
			int openssl_only)
{
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	int ok;

	/* Strict, canonical base64url first, for every algorithm: libjwt's own
	 * decoder also takes "+/=" spellings, so one token would otherwise have
	 * several accepted forms. */
	if (sr_b64url_decode(sig_b64, sig_b64_len, &sig, &sig_len, NULL) != SR_OK)
		return 0;
	if (openssl_only)
		ok = openssl_verify(key, alg, token, signed_len, sig, sig_len);
	else if ((alg & (SR_ALG_HMAC | SR_ALG_RS256 | SR_ALG_RS384 | SR_ALG_RS512 | SR_ALG_EC)) != 0)
		ok = libjwt_verify(key, token);
	else
		ok = evp_verify(key, alg, token, signed_len, sig, sig_len);
	free(sig);
	return ok;
}

/* A NumericDate claim: absent (0), or a number into *v (1), or wrong (-1). */
static int numeric_date(json_t *claims, const char *name, int64_t *v)
{
	json_t *j = json_object_get(claims, name);

	if (j == NULL)
		return 0;
	if (json_is_integer(j)) {
		*v = json_integer_value(j);
		return 1;
	}
	if (json_is_real(j) && json_real_value(j) > -1e15 && json_real_value(j) < 1e15) {
		*v = (int64_t)json_real_value(j);
		return 1;
	}
	return -1;
}

static int has_permission(json_t *claims, const char *perm)
{
	const char *scope = json_string_value(json_object_get(claims, "scope"));
	json_t *perms = json_object_get(claims, "permissions"), *v;
	size_t i, n = strlen(perm);

	while (scope != NULL && *scope != '\0') {
		size_t w = strcspn(scope, " ");
		if (w == n && strncmp(scope, perm, n) == 0)
			return 1;
		scope += w;
		scope += strspn(scope, " ");
	}
	json_array_foreach(perms, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), perm) == 0)
			return 1;
	return 0;
}

static int audience_ok(json_t *claims, const char *audience)
{
	json_t *aud = json_object_get(claims, "aud"), *v;
	size_t i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), audience) == 0;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), audience) == 0)
			return 1;
	return 0;
}

static enum sr_rc check_claims(const struct sr_auth *auth, const char *audience,
			       json_t *claims, int64_t now, struct sr_err *err)
{
	int64_t exp = 0, nbf = 0, iat = 0;
	int r;

	r = numeric_date(claims, "exp", &exp);
	if (r == 0)
		return sr_err_set(err, SR_EAUTH, "token has no exp claim");
	if (r < 0)
		return sr_err_set(err, SR_EAUTH, "token exp is not a number");
	if (now - auth->skew > exp) /* never exp + skew: exp may be INT64_MAX */
		return sr_err_set(err, SR_EAUTH, "token expired");
	r = numeric_date(claims, "nbf", &nbf);
	if (r < 0)
		return sr_err_set(err, SR_EAUTH, "token nbf is not a number");
	if (r > 0 && nbf > now + auth->skew)
		return sr_err_set(err, SR_EAUTH, "token not yet valid (nbf)");
	r = numeric_date(claims, "iat", &iat);
	if (r < 0)
		return sr_err_set(err, SR_EAUTH, "token iat is not a number");
	if (r > 0 && iat > now + auth->skew)
		return sr_err_set(err, SR_EAUTH, "token issued in the future (iat)");
	if (!audience_ok(claims, audience))
		return sr_err_set(err, SR_EAUTH, "token audience does not include %s", audience);
	return SR_OK;
}

/* A string claim, whole (borrowed from claims), or "" when it is absent or
 * not a string. */
static const char *claim_str(json_t *claims, const char *name)
{
	const char *v = json_string_value(json_object_get(claims, name));

	return v ? v : "";
}

static void token_hash(const char *token, size_t len, unsigned char out[32])
{
	unsigned int n = 0;

	if (EVP_Digest(token, len, out, &n, EVP_sha256(), NULL) != 1)
		memset(out, 0, 32);
}

/* A cached verified token: OUT *ik, *claims (new reference). */
static int cache_get(struct sr_auth *auth, const unsigned char hash[32],
		     const struct issuer_keys **ik, json_t **claims)
{
	struct cache_slot *slot = &auth->cache[(hash[0] | hash[1] << 8) % CACHE_SLOTS];
	int hit = 0;

	pthread_mutex_lock(&auth->cache_mu);
	if (slot->claims != NULL && memcmp(slot->hash, hash, 32) == 0 &&
	    slot->serial == slot->ik->cache_serial) {
		*ik = slot->ik;
		*claims = json_incref(slot->claims);
		hit = 1;
	}
	pthread_mutex_unlock(&auth->cache_mu);
	return hit;
}

/* Caches a token verified with key set serial, unless the issuer's keys
 * changed meanwhile. */
static void cache_put(struct sr_auth *auth, const unsigned char hash[32],
		      const struct issuer_keys *ik, unsigned serial, json_t *claims)
{
	struct cache_slot *slot = &auth->cache[(hash[0] | hash[1] << 8) % CACHE_SLOTS];
	json_t *old;

	pthread_mutex_lock(&auth->cache_mu);
	if (serial != ik->cache_serial) {
		pthread_mutex_unlock(&auth->cache_mu);
		return;
	}
	old = slot->claims;
	slot->serial = serial;
	memcpy(slot->hash, hash, 32);
	slot->ik = ik;
	slot->claims = json_incref(claims);
	pthread_mutex_unlock(&auth->cache_mu);
	json_decref(old);
}

/* Tries the keys of ks that kid and alg select on the token (signed part:
 * signed_len bytes; signature after it). Returns how many were tried;
 * *verified when one held. */
static size_t try_keys(const struct sr_key_set *ks, const char *kid, unsigned alg,
		       const char *token, size_t len, size_t signed_len, int openssl_only,
		       int *verified)
{
	size_t i, tried = 0;

	*verified = 0;
	for (i = 0; i < ks->n && !*verified; i++) {
		const struct sr_key *key = &ks->keys[i];
		if (kid != NULL && key->kid != NULL && strcmp(kid, key->kid) != 0)
			continue;
		if (kid != NULL && key->kid == NULL && ks->n > 1)
			continue;
		if (!sr_key_fits(key, alg))
			continue;
		tried++;
		*verified = signature_ok(key, alg, token, signed_len, token + signed_len + 1,
					 len - signed_len - 1, openssl_only);
	}
	return tried;
}

/* Shape, header, issuer, algorithm, key and signature. OUT *ik, *claims,
 * *serial (the key set that verified it). */
static enum sr_rc verify_signature(struct sr_auth *auth, const char *token, size_t len,
				   const struct sr_set_check *set,
				   const struct issuer_keys **out_ik, json_t **out_claims,
				   unsigned *out_serial, enum sr_auth_fault *fault, struct sr_err *err)
{
	static const struct sr_key_set no_keys = {NULL, 0};
	struct sr_keys_ref *ref = NULL;
	const struct sr_key_set *ks;
	enum sr_rc rc;
	json_t *header = NULL, *claims = NULL;
	const char *dot1, *dot2, *iss, *alg_name, *kid;
	const struct issuer_keys *ik = NULL;
	unsigned alg;
	size_t i, tried = 0, signed_len;
	int verified = 0;

	*fault = SR_AUTH_FAULT_REQUEST; /* until the issuer and the algorithm hold */
	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (dot1 == NULL || dot2 == NULL ||
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
		return sr_err_set(err, SR_EAUTH, "malformed token: not a compact JWS (three parts)");
	if ((rc = part_json(token, (size_t)(dot1 - token), "header", &header, err)) != SR_OK ||
	    (rc = part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1), "payload", &claims, err)) != SR_OK)
		goto out;
	if (set != NULL) {
		const char *typ = json_string_value(json_object_get(header, "typ"));
		if (typ == NULL || (strcasecmp(typ, "secevent+jwt") != 0 &&
				    strcasecmp(typ, "application/secevent+jwt") != 0)) {
			*fault = SR_AUTH_FAULT_REQUEST;
			rc = sr_err_set(err, SR_EAUTH, "typ header is not secevent+jwt");
			goto out;
		}
	}
	if (dot2 + 1 == token + len) {
		rc = sr_err_set(err, SR_EAUTH, "token is unsigned");
		goto out;
	}
	if (json_object_get(header, "crit") != NULL) {
		rc = sr_err_set(err, SR_EAUTH, "token header has unsupported crit");
		goto out;
	}
	iss = json_string_value(json_object_get(claims, "iss"));
	if (iss == NULL) {
		rc = sr_err_set(err, SR_EAUTH, "token has no iss claim");
		goto out;
	}
	for (i = 0; i < auth->n; i++)
		if (strcmp(auth->issuers[i].cfg->issuer, iss) == 0)
			ik = &auth->issuers[i];
	if (set != NULL && strcmp(iss, set->issuer) != 0)
		ik = NULL;
	if (ik == NULL) {
		*fault = SR_AUTH_FAULT_ISSUER;
		rc = sr_err_set(err, SR_EAUTH, "token issuer is not trusted");
		goto out;
	}
	alg_name = json_string_value(json_object_get(header, "alg"));
	alg = sr_alg_from_name(alg_name);
	if (alg == 0) {
		rc = sr_err_set(err, SR_EAUTH, "token algorithm is missing, none or unsupported");
		goto out;
	}
	*fault = SR_AUTH_FAULT_KEY;
	if ((ik->cfg->algs & alg) == 0) {
		rc = sr_err_set(err, SR_EAUTH, "token algorithm %s is not allowed for this issuer",
				sr_alg_name(alg));
		goto out;
	}
	if (json_object_get(header, "kid") != NULL &&
	    !json_is_string(json_object_get(header, "kid"))) {
		rc = sr_err_set(err, SR_EAUTH, "token header kid is not a string");
		goto out;
	}
	kid = json_string_value(json_object_get(header, "kid"));
	if (kid == NULL && ik->cfg->kid != NULL) {
		rc = sr_err_set(err, SR_EAUTH, "token header has no kid; this issuer's key is named");
		goto out;
	}
	signed_len = (size_t)(dot2 - token);
	if (ik->jwks != NULL)
		ref = sr_jwks_get(ik->jwks);
	ks = ik->jwks == NULL ? &ik->keys : ref != NULL ? &ref->set : &no_keys;
	tried = try_keys(ks, kid, alg, token, len, signed_len, set != NULL, &verified);
	/* A kid the fetched set lacks (a rotation, or no set yet): fetch again,
	 * rate limited per issuer (jwks.c), and try the new set once. */
	if (tried == 0 && ik->jwks != NULL && sr_jwks_refresh_for_kid(ik->jwks, ref)) {
		sr_jwks_put(ik->jwks, ref);
		ref = sr_jwks_get(ik->jwks);
		ks = ref != NULL ? &ref->set : &no_keys;
		tried = try_keys(ks, kid, alg, token, len, signed_len, set != NULL, &verified);
	}
	if (tried == 0 && ik->jwks != NULL && ref == NULL) {
		*fault = SR_AUTH_FAULT_UNAVAILABLE;
		rc = sr_err_set(err, SR_EAUTH, "this issuer's signing keys are not loaded yet "
					       "(its jwks_url could not be fetched)");
		goto out;
	}
	if (tried == 0) {
		rc = sr_err_set(err, SR_EAUTH, kid ? "no key matches the token's kid and algorithm"
						   : "no key of this issuer fits the token's algorithm");
		goto out;
	}
	if (!verified) {
		rc = sr_err_set(err, SR_EAUTH, "token signature is invalid");
		goto out;
	}
	*out_ik = ik;
	*out_claims = claims;
	*out_serial = ref != NULL ? ref->serial : 0;
	claims = NULL;
out:
	if (ref != NULL)
		sr_jwks_put(ik->jwks, ref);
	json_decref(header);
	json_decref(claims);
	return rc;
}

/* sr_auth_verify(), and with want (non-NULL) the issuer pinned and the
 * audience its (NULL: that issuer's). */
static enum sr_rc verify_token(struct sr_auth *auth, const char *token, size_t len,
			       const char *permission, const struct sr_set_check *want,
			       int64_t now, struct sr_principal *who, struct sr_err *err)
{
	enum sr_rc rc;
	const struct issuer_keys *ik = NULL;
	json_t *claims = NULL;
	unsigned char hash[32];
	unsigned serial = 0;

	memset(who, 0, sizeof(*who));
	who->issuer = who->subject = who->token_id = "";
	if (token == NULL || len == 0)
		return sr_err_set(err, SR_EAUTH, "no token");
	if (len > SR_AUTH_MAX_TOKEN)
		return sr_err_set(err, SR_EAUTH, "token longer than %d bytes", SR_AUTH_MAX_TOKEN);
	if (strlen(token) != len)
		return sr_err_set(err, SR_EAUTH, "malformed token: NUL byte");
	token_hash(token, len, hash);
	if (!cache_get(auth, hash, &ik, &claims)) {
		enum sr_auth_fault fault;
		rc = verify_signature(auth, token, len, NULL, &ik, &claims, &serial, &fault, err);
		if (rc != SR_OK)
			return rc;
		cache_put(auth, hash, ik, serial, claims);
	}
	if (want != NULL && strcmp(ik->cfg->issuer, want->issuer) != 0) {
		rc = sr_err_set(err, SR_EAUTH, "token issuer is not trusted here");
		goto out;
	}
	rc = check_claims(auth, want != NULL && want->audience != NULL ? want->audience
								       : ik->cfg->audience,
			  claims, now, err);
	if (rc != SR_OK)
		goto out;
	if (permission != NULL && !has_permission(claims, permission)) {
		rc = sr_err_set(err, SR_EFORBIDDEN, "token lacks the %s permission", permission);
		goto out;
	}
	who->issuer = ik->cfg->issuer;
	who->subject = claim_str(claims, "sub");
	who->token_id = claim_str(claims, "jti");
	who->claims = claims;
	claims = NULL;
out:
	json_decref(claims);
	return rc;
}

enum sr_rc sr_auth_verify(struct sr_auth *auth, const char *token, size_t len,
			  const char *permission, int64_t now,
			  struct sr_principal *who, struct sr_err *err)
{
	return verify_token(auth, token, len, permission, NULL, now, who, err);
}

enum sr_rc sr_auth_verify_from(struct sr_auth *auth, const char *token, size_t len,
			       const struct sr_set_check *want, int64_t now,
			       struct sr_principal *who, struct sr_err *err)
{
	return verify_token(auth, token, len, NULL, want, now, who, err);
}

/* The claims RFC 8417 asks of a SET: iat (required; not in the future
 * beyond the skew), jti (required), exp and nbf when present, and the
 * receiver's audience. A SET needs no exp. */
static enum sr_rc check_set_claims(const struct sr_auth *auth, const char *audience,
				   json_t *claims, int64_t now, enum sr_auth_fault *fault,
				   struct sr_err *err)
{
	json_t *jti = json_object_get(claims, "jti");
	int64_t iat = 0, exp = 0, nbf = 0;
	int r;

	*fault = SR_AUTH_FAULT_REQUEST;
	r = numeric_date(claims, "iat", &iat);
	if (r == 0)
		return sr_err_set(err, SR_EAUTH, "the SET has no iat claim");
	if (r < 0)
		return sr_err_set(err, SR_EAUTH, "the SET's iat is not a number");
	if (iat > now + auth->skew)
		return sr_err_set(err, SR_EAUTH, "the SET was issued in the future (iat)");
	r = numeric_date(claims, "exp", &exp);
	if (r < 0)
		return sr_err_set(err, SR_EAUTH, "the SET's exp is not a number");
	if (r > 0 && now - auth->skew > exp)
		return sr_err_set(err, SR_EAUTH, "the SET expired (exp)");
	r = numeric_date(claims, "nbf", &nbf);
	if (r < 0)
		return sr_err_set(err, SR_EAUTH, "the SET's nbf is not a number");
	if (r > 0 && nbf > now + auth->skew)
		return sr_err_set(err, SR_EAUTH, "the SET is not yet valid (nbf)");
	if (!json_is_string(jti) || json_string_length(jti) == 0)
		return sr_err_set(err, SR_EAUTH, "the SET has no jti claim (a non-empty string)");
	if (!audience_ok(claims, audience)) {
		*fault = SR_AUTH_FAULT_AUDIENCE;
		return sr_err_set(err, SR_EAUTH, "aud does not contain %s", audience);
	}
	return SR_OK;
}

enum sr_rc sr_auth_verify_set(struct sr_auth *auth, const char *token, size_t len,
			      const struct sr_set_check *set, int64_t now,
			      struct sr_principal *who, enum sr_auth_fault *fault,
			      struct sr_err *err)
{
	const struct issuer_keys *ik = NULL;
	json_t *claims = NULL;
	unsigned serial = 0;
	enum sr_rc rc;

	memset(who, 0, sizeof(*who));
	who->issuer = who->subject = who->token_id = "";
	*fault = SR_AUTH_FAULT_REQUEST;
	if (token == NULL || len == 0)
		return sr_err_set(err, SR_EAUTH, "the body is empty: send the SET");
	if (len > SR_AUTH_MAX_TOKEN)
		return sr_err_set(err, SR_EAUTH, "the SET is longer than %d bytes", SR_AUTH_MAX_TOKEN);
	if (strlen(token) != len)
		return sr_err_set(err, SR_EAUTH, "malformed SET: NUL byte");
	/* No token cache: every SET is a new jti, seen once. */
	rc = verify_signature(auth, token, len, set, &ik, &claims, &serial, fault, err);
	if (rc != SR_OK)
		return rc;
	rc = check_set_claims(auth, set->audience ? set->audience : ik->cfg->audience, claims,
			      now, fault, err);
	if (rc != SR_OK)
		goto out;
	who->issuer = ik->cfg->issuer;
	who->subject = claim_str(claims, "sub");
	who->token_id = claim_str(claims, "jti");
	who->claims = claims;
	claims = NULL;
out:
	json_decref(claims);
	return rc;
}
