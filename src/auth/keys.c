/*
 * keys.c - verification keys: PEM files, JWK Sets, HMAC secrets.
 *
 * DESIGN: a JWK becomes an EVP_PKEY through OpenSSL 3's EVP_PKEY_fromdata
 * (RSA n/e, EC crv/x/y as an uncompressed point) or a raw Ed25519/Ed448 key;
 * each public key is also kept as PEM because libjwt 1.10 wants PEM bytes.
 * A JWK Set must not carry private or symmetric material: "d" and "oct" keys
 * are refused, so a leaked config never turns a public key into a secret.
 */
#include "auth_int.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#define MAX_KEY_FILE (1 << 20)
#define MAX_JWKS_KEYS 64

void sr_key_set_clear(struct sr_key_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		struct sr_key *k = &set->keys[i];
		free(k->kid);
		EVP_PKEY_free(k->pkey);
		sr_secret_free(k->secret, k->secret_len);
		free(k->pem);
	}
	free(set->keys);
	set->keys = NULL;
	set->n = 0;
}

static struct sr_key *key_add(struct sr_key_set *set)
{
	struct sr_key *keys = realloc(set->keys, (set->n + 1) * sizeof(*keys));

	if (keys == NULL)
		return NULL;
	set->keys = keys;
	memset(&keys[set->n], 0, sizeof(keys[0]));
	return &keys[set->n++];
}

/* Fills type, curve size and PEM from key->pkey. */
static enum sr_rc key_finish(struct sr_key *key, struct sr_err *err)
{
	BIO *bio;
	char *data;
	long n;

	switch (EVP_PKEY_get_base_id(key->pkey)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(key->pkey) < 2048)
			return sr_err_set(err, SR_ECONFIG, "RSA key shorter than 2048 bits");
		key->type = KEY_RSA;
		break;
	case EVP_PKEY_EC:
		key->type = KEY_EC;
		key->ec_bits = EVP_PKEY_get_bits(key->pkey);
		break;
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		key->type = KEY_OKP;
		break;
	default:
		return sr_err_set(err, SR_ECONFIG, "unsupported key type");
	}
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || PEM_write_bio_PUBKEY(bio, key->pkey) != 1) {
		BIO_free(bio);
		return sr_err_set(err, SR_EINTERNAL, "cannot write public key PEM");
	}
	n = BIO_get_mem_data(bio, &data);
	key->pem = malloc((size_t)n + 1);
	if (key->pem == NULL) {
		BIO_free(bio);
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	memcpy(key->pem, data, (size_t)n);
	key->pem[n] = '\0';
	key->pem_len = (size_t)n;
	BIO_free(bio);
	return SR_OK;
}

static enum sr_rc load_pem(const char *file, int private, struct sr_key_set *set,
			   struct sr_err *err)
{
	enum sr_rc rc;
	char *text = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	struct sr_key *key;

	rc = sr_file_read(file, MAX_KEY_FILE, &text, &len, err);
	if (rc != SR_OK)
		return rc;
	bio = BIO_new_mem_buf(text, (int)len);
	if (bio != NULL)
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (pkey == NULL && private && bio != NULL) {
		(void)BIO_reset(bio);
		pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	}
	if (pkey == NULL) {
		rc = sr_err_set(err, SR_ECONFIG, "%s holds no PEM %s key", file,
				private ? "private" : "public");
		goto out;
	}
	key = key_add(set);
	if (key == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	key->pkey = pkey;
	pkey = NULL;
	rc = key_finish(key, err);
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	sr_secret_free(text, len);
	return rc;
}

enum sr_rc sr_keys_load_private_pem(const char *file, struct sr_key_set *set,
				    struct sr_err *err)
{
	return load_pem(file, 1, set, err);
}

static enum sr_rc load_hmac(const char *file, struct sr_key_set *set,
			    struct sr_err *err)
{
	enum sr_rc rc;
	char *text = NULL;
	size_t len = 0;
	struct sr_key *key;

	rc = sr_file_read(file, MAX_KEY_FILE, &text, &len, err);
	if (rc != SR_OK)
		return rc;
	/* A secret written with echo ends in a newline that is not part of it. */
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	if (len < 32) {
		sr_secret_free(text, len);
		return sr_err_set(err, SR_ECONFIG,
				  "%s: HMAC secret shorter than 32 bytes", file);
	}
	key = key_add(set);
	if (key == NULL) {
		sr_secret_free(text, len);
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	key->type = KEY_HMAC;
	key->secret = (unsigned char *)text;
	key->secret_len = len;
	return SR_OK;
}

/* Decodes a base64url JWK member into out (new buffer). */
static enum sr_rc jwk_bytes(json_t *jwk, const char *name, unsigned char **out,
			    size_t *len, struct sr_err *err)
{
	json_t *v = json_object_get(jwk, name);

	if (!json_is_string(v))
		return sr_err_set(err, SR_EINVAL, "JWK lacks \"%s\"", name);
	return sr_b64url_decode(json_string_value(v), json_string_length(v), out,
				len, err);
}

static enum sr_rc jwk_rsa(json_t *jwk, EVP_PKEY **pkey, struct sr_err *err)
{
	enum sr_rc rc;
	unsigned char *n = NULL, *e = NULL;
	size_t n_len = 0, e_len = 0;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;

	if ((rc = jwk_bytes(jwk, "n", &n, &n_len, err)) != SR_OK ||
	    (rc = jwk_bytes(jwk, "e", &e, &e_len, err)) != SR_OK)
		goto out;
	bn_n = BN_bin2bn(n, (int)n_len, NULL);
	bn_e = BN_bin2bn(e, (int)e_len, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (bn_n == NULL || bn_e == NULL || bld == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		rc = sr_err_set(err, SR_EINVAL, "JWK: not a usable RSA key");
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	free(n);
	free(e);
	return rc;
}

static enum sr_rc jwk_ec(json_t *jwk, EVP_PKEY **pkey, struct sr_err *err)
{
	static const struct {
		const char *crv, *group;
		size_t len;
	} curves[] = {
		{"P-256", "prime256v1", 32},
		{"P-384", "secp384r1", 48},
		{"P-521", "secp521r1", 66},
	};
	enum sr_rc rc;
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	unsigned char *x = NULL, *y = NULL, point[1 + 2 * 66];
	size_t x_len = 0, y_len = 0, i;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL;

	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (crv != NULL && strcmp(crv, curves[i].crv) == 0)
			break;
	if (i == sizeof(curves) / sizeof(curves[0]))
		return sr_err_set(err, SR_EINVAL, "JWK: unsupported EC curve");
	if ((rc = jwk_bytes(jwk, "x", &x, &x_len, err)) != SR_OK ||
	    (rc = jwk_bytes(jwk, "y", &y, &y_len, err)) != SR_OK)
		goto out;
	if (x_len != curves[i].len || y_len != curves[i].len) {
		rc = sr_err_set(err, SR_EINVAL, "JWK: EC coordinates of the wrong size");
		goto out;
	}
	point[0] = 0x04;
	memcpy(point + 1, x, x_len);
	memcpy(point + 1 + x_len, y, y_len);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)curves[i].group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point,
						      1 + x_len + y_len);
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		rc = sr_err_set(err, SR_EINVAL, "JWK: EC point not on the curve");
out:
	EVP_PKEY_CTX_free(ctx);
	free(x);
	free(y);
	return rc;
}

static enum sr_rc jwk_okp(json_t *jwk, EVP_PKEY **pkey, struct sr_err *err)
{
	enum sr_rc rc;
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	unsigned char *x = NULL;
	size_t x_len = 0;
	int type;

	if (crv != NULL && strcmp(crv, "Ed25519") == 0)
		type = EVP_PKEY_ED25519;
	else if (crv != NULL && strcmp(crv, "Ed448") == 0)
		type = EVP_PKEY_ED448;
	else
		return sr_err_set(err, SR_EINVAL, "JWK: unsupported OKP curve");
	if ((rc = jwk_bytes(jwk, "x", &x, &x_len, err)) != SR_OK)
		return rc;
	*pkey = EVP_PKEY_new_raw_public_key(type, NULL, x, x_len);
	free(x);
	if (*pkey == NULL)
		return sr_err_set(err, SR_EINVAL, "JWK: bad %s public key", crv);
	return SR_OK;
}

static enum sr_rc jwk_one(json_t *jwk, size_t idx, struct sr_key_set *set,
			  struct sr_err *err)
{
	enum sr_rc rc;
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *use = json_string_value(json_object_get(jwk, "use"));
	const char *kid = json_string_value(json_object_get(jwk, "kid"));
	const char *alg = json_string_value(json_object_get(jwk, "alg"));
	EVP_PKEY *pkey = NULL;
	struct sr_key *key;

	if (!json_is_object(jwk) || kty == NULL)
		return sr_err_set(err, SR_EINVAL, "keys[%zu]: not a JWK (no \"kty\")", idx);
	/* RFC 7517 §4.5: kid is a string. A number, null or array is refused,
	 * not taken for "no kid" (which would let the key sign any token). */
	if (json_object_get(jwk, "kid") != NULL && kid == NULL)
		return sr_err_set(err, SR_EINVAL, "keys[%zu]: \"kid\" is not a string", idx);
	if (use != NULL && strcmp(use, "sig") != 0)
		return SR_OK; /* an encryption key: not ours to use */
	if (json_object_get(jwk, "d") != NULL || strcmp(kty, "oct") == 0)
		return sr_err_set(err, SR_EINVAL,
				  "keys[%zu]: private or symmetric key in a JWK Set", idx);
	if (strcmp(kty, "RSA") == 0)
		rc = jwk_rsa(jwk, &pkey, err);
	else if (strcmp(kty, "EC") == 0)
		rc = jwk_ec(jwk, &pkey, err);
	else if (strcmp(kty, "OKP") == 0)
		rc = jwk_okp(jwk, &pkey, err);
	else
		rc = sr_err_set(err, SR_EINVAL, "keys[%zu]: unsupported kty", idx);
	if (rc != SR_OK)
		return rc;
	key = key_add(set);
	if (key == NULL) {
		EVP_PKEY_free(pkey);
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	key->pkey = pkey;
	if (kid != NULL && (key->kid = strdup(kid)) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	if (alg != NULL && (key->jwk_alg = sr_alg_from_name(alg)) == 0)
		return sr_err_set(err, SR_EINVAL, "keys[%zu]: unknown alg", idx);
	return key_finish(key, err);
}

enum sr_rc sr_keys_parse_jwks(const char *text, size_t len,
			      struct sr_key_set *set, struct sr_err *err)
{
	enum sr_rc rc = SR_OK;
	json_error_t jerr;
	json_t *root, *keys;
	size_t i;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return sr_err_set(err, SR_EINVAL, "JWK Set is not JSON: %s", jerr.text);
	keys = json_object_get(root, "keys");
	if (!json_is_array(keys) || json_array_size(keys) == 0) {
		rc = sr_err_set(err, SR_EINVAL, "JWK Set has no \"keys\" array");
		goto out;
	}
	if (json_array_size(keys) > MAX_JWKS_KEYS) {
		rc = sr_err_set(err, SR_EINVAL, "JWK Set has more than %d keys",
				MAX_JWKS_KEYS);
		goto out;
	}
	for (i = 0; i < json_array_size(keys) && rc == SR_OK; i++)
		rc = jwk_one(json_array_get(keys, i), i, set, err);
out:
	json_decref(root);
	return rc;
}

enum sr_rc sr_keys_load(enum sr_key_source src, const char *file,
			struct sr_key_set *set, struct sr_err *err)
{
	enum sr_rc rc;
	char *text = NULL;
	size_t len = 0;

	switch (src) {
	case SR_KEY_PEM_FILE:
		return load_pem(file, 1, set, err);
	case SR_KEY_HMAC_FILE:
		return load_hmac(file, set, err);
	case SR_KEY_JWKS_FILE:
		rc = sr_file_read(file, MAX_KEY_FILE, &text, &len, err);
		if (rc == SR_OK)
			rc = sr_keys_parse_jwks(text, len, set, err);
		free(text);
		return rc;
	case SR_KEY_JWKS_URL:
		break; /* fetched by jwks.c */
	}
	return sr_err_set(err, SR_EINTERNAL, "unknown key source");
}

int sr_key_fits(const struct sr_key *key, unsigned alg)
{
	if (key->jwk_alg != 0 && key->jwk_alg != alg)
		return 0;
	switch (key->type) {
	case KEY_HMAC:
		return (alg & SR_ALG_HMAC) != 0;
	case KEY_RSA:
		return (alg & SR_ALG_RSA) != 0;
	case KEY_EC:
		return (alg == SR_ALG_ES256 && key->ec_bits == 256) ||
		       (alg == SR_ALG_ES384 && key->ec_bits == 384) ||
		       (alg == SR_ALG_ES512 && key->ec_bits == 521);
	case KEY_OKP:
		return alg == SR_ALG_EDDSA;
	}
	return 0;
}
