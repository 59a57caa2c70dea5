/* auth_int.h - inside the auth module only: keys. */
#ifndef SESSION_REVOKER_AUTH_INT_H
#define SESSION_REVOKER_AUTH_INT_H

#include <openssl/evp.h>

#include "session_revoker/auth.h"

enum sr_key_type { KEY_HMAC = 1, KEY_RSA, KEY_EC, KEY_OKP };

struct sr_key {
	char *kid;             /* NULL: none */
	unsigned jwk_alg;      /* the JWK's own "alg", 0: not stated */
	enum sr_key_type type;
	int ec_bits;           /* 256, 384, 521 for EC */
	EVP_PKEY *pkey;        /* public keys */
	unsigned char *secret; /* KEY_HMAC: the secret, cleansed on free */
	size_t secret_len;
	char *pem;             /* public key PEM, for libjwt */
	size_t pem_len;
};

struct sr_key_set {
	struct sr_key *keys;
	size_t n;
};

/* Loads the keys an issuer names. OUT set (filled), free with
 * sr_key_set_clear(). */
enum sr_rc sr_keys_load(enum sr_key_source src, const char *file,
			struct sr_key_set *set, struct sr_err *err);

/* Adds the public half of the private key PEM in file as a kid-less key. */
enum sr_rc sr_keys_load_private_pem(const char *file, struct sr_key_set *set,
				    struct sr_err *err);

/* Parses a JWK Set document (network or file bytes) into set. */
enum sr_rc sr_keys_parse_jwks(const char *text, size_t len,
			      struct sr_key_set *set, struct sr_err *err);

void sr_key_set_clear(struct sr_key_set *set);

/* Whether key can verify alg (type, curve, the JWK's own alg). */
int sr_key_fits(const struct sr_key *key, unsigned alg);

#endif
