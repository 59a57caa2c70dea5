/*
 * fuzz_jwks.c - libFuzzer target for sr_keys_parse_jwks(), the JWK Set
 * parser (a JWKS will be fetched from an issuer's URL, so its bytes come from
 * the network).
 *
 * Invariants: on success every key has a type, a public EVP_PKEY and the PEM
 * libjwt is given, never HMAC material, and sr_key_fits() agrees with the
 * key's type; on failure the message is set and one line. The set is cleared
 * on both paths (a key may be half-built when a later member fails), so
 * LeakSanitizer checks the error paths too.
 *
 * The same bytes, as the answer's Cache-Control value, go to sr_jwks_ttl()
 * (how long the fetched set is used): whatever they hold, the result stays
 * within its bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/auth/auth_int.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_key(const struct sr_key *key)
{
	FUZZ_CHECK(key->pkey != NULL);
	FUZZ_CHECK(key->secret == NULL && key->secret_len == 0);
	FUZZ_CHECK(key->pem != NULL && key->pem_len == strlen(key->pem));
	FUZZ_CHECK(strncmp(key->pem, "-----BEGIN PUBLIC KEY-----", 26) == 0);
	switch (key->type) {
	case KEY_RSA:
		FUZZ_CHECK(EVP_PKEY_get_bits(key->pkey) >= 2048);
		FUZZ_CHECK(!sr_key_fits(key, SR_ALG_HS256));
		FUZZ_CHECK(!sr_key_fits(key, SR_ALG_ES256));
		break;
	case KEY_EC:
		FUZZ_CHECK(key->ec_bits == 256 || key->ec_bits == 384 || key->ec_bits == 521);
		FUZZ_CHECK(!sr_key_fits(key, SR_ALG_HS256));
		FUZZ_CHECK(!sr_key_fits(key, SR_ALG_RS256));
		break;
	case KEY_OKP:
		FUZZ_CHECK(!sr_key_fits(key, SR_ALG_HS256));
		FUZZ_CHECK(!sr_key_fits(key, SR_ALG_ES256));
		break;
	default:
		FUZZ_CHECK(!"a JWK Set produced a key of no public type");
	}
	FUZZ_CHECK(key->jwk_alg == 0 || sr_alg_name(key->jwk_alg)[0] != 'u');
}

static void check_ttl(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	int64_t ttl;

	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	ttl = sr_jwks_ttl(text);
	FUZZ_CHECK(ttl >= 300 && ttl <= 86400);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sr_key_set set = {0};
	struct sr_err err = {0};
	enum sr_rc rc;
	size_t i;

	check_ttl(data, size);

	rc = sr_keys_parse_jwks((const char *)data, size, &set, &err);
	if (rc == SR_OK) {
		json_t *root = json_loadb((const char *)data, size, 0, NULL), *jwk;
		FUZZ_CHECK(err.code == SR_OK);
		for (i = 0; i < set.n; i++)
			check_key(&set.keys[i]);
		/* A kid that is not a string is refused, never read as "no kid". */
		json_array_foreach(json_object_get(root, "keys"), i, jwk)
			FUZZ_CHECK(json_object_get(jwk, "kid") == NULL ||
				   json_is_string(json_object_get(jwk, "kid")));
		json_decref(root);
	} else {
		FUZZ_CHECK(rc == err.code);
		/* key_finish() refuses short RSA keys with SR_ECONFIG. */
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL) | FUZZ_RC(SR_ECONFIG) | FUZZ_RC(SR_ENOMEM));
	}
	sr_key_set_clear(&set);
	FUZZ_CHECK(set.keys == NULL && set.n == 0);
	return 0;
}
