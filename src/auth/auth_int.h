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

/* ---- jwks.c: a jwks_url issuer's keys, fetched and kept fresh ---- */

/* One fetched key set, shared by the verifications using it. */
struct sr_keys_ref {
	struct sr_key_set set;
	unsigned serial; /* 1, 2, ... per issuer: which fetch it came from */
	int refs;        /* under the owning sr_jwks's mutex */
};

struct sr_jwks;

/* Called by the fetching thread after a new set was published. */
typedef void (*sr_jwks_changed_fn)(void *arg, unsigned serial);

/* Starts the fetching thread of issuer is (borrowed, as is cfg: both must
 * outlive it); the first fetch begins at once. OUT *j: sr_jwks_free(). */
enum sr_rc sr_jwks_start(const struct sr_config *cfg, const struct sr_issuer *is,
			 sr_jwks_changed_fn changed, void *arg, struct sr_jwks **j,
			 struct sr_err *err);
void sr_jwks_free(struct sr_jwks *j);

/* The current set: a new reference (sr_jwks_put()), or NULL before the
 * first good fetch. */
struct sr_keys_ref *sr_jwks_get(struct sr_jwks *j);
void sr_jwks_put(struct sr_jwks *j, struct sr_keys_ref *ref);

/* A token named a kid that seen (what the caller holds, may be NULL) lacks:
 * asks for a fetch unless one was asked within jwks_min_refresh_seconds,
 * and waits for it (bounded by the fetch timeout). 1 when the current set
 * is no longer seen (take it again with sr_jwks_get()), else 0. */
int sr_jwks_refresh_for_kid(struct sr_jwks *j, const struct sr_keys_ref *seen);

/* SR_OK once a set is held (fresh or stale); else SR_EUNAVAIL naming the
 * issuer and why the last fetch failed. */
enum sr_rc sr_jwks_ready(struct sr_jwks *j, struct sr_err *err);

/* How long a fetched JWKS is used before it is fetched again, in seconds,
 * from its Cache-Control value (may be NULL or ""): max-age clamped to
 * [300, 86400]; no-store, no-cache or an invalid max-age: 300; none: 3600. */
int64_t sr_jwks_ttl(const char *cache_control);

#endif
