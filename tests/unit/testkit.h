/*
 * testkit.h - helpers shared by the unit tests: temporary files, keys made
 * in the test, and JWS signing with full control over header and claims (so
 * forged tokens can be built). Signing uses OpenSSL directly; this is test
 * code, the service verifies through sr_auth_verify().
 */
#ifndef SESSION_REVOKER_TESTKIT_H
#define SESSION_REVOKER_TESTKIT_H

#include <openssl/evp.h>
#include <stddef.h>

/* A new temporary directory (static buffer, valid until the next call). */
const char *tk_tmpdir(void);

/* Writes text to dir/name; returns the path (new string, free()). */
char *tk_write(const char *dir, const char *name, const char *text);

/* base64url without padding; new string, free(). */
char *tk_b64url(const unsigned char *data, size_t len);

/* New keys. */
EVP_PKEY *tk_rsa(int bits);
EVP_PKEY *tk_ec(const char *group); /* "P-256", "P-384" */
EVP_PKEY *tk_ed25519(void);

/* PEM of the public key; new string. */
char *tk_public_pem(EVP_PKEY *key);

/* A JWK (JSON object text, public part only) for key with kid; new string. */
char *tk_jwk(EVP_PKEY *key, const char *kid);

/* Signs header.payload (both JSON texts) with alg ("RS256", "PS256", "ES256",
 * "EdDSA", "HS256", ...). For HS* pass secret/secret_len and key NULL.
 * Returns the compact JWS; new string. */
char *tk_sign(const char *alg, EVP_PKEY *key, const unsigned char *secret,
	      size_t secret_len, const char *header, const char *payload);

#endif
