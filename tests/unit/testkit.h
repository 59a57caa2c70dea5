/*
 * testkit.h - helpers shared by the unit tests: temporary files, keys made
 * in the test, JWS signing with full control over header and claims (so
 * forged tokens can be built), and fresh stores on either back end. Signing
 * uses OpenSSL directly; this is test code, the service verifies through
 * sr_auth_verify().
 */
#ifndef SESSION_REVOKER_TESTKIT_H
#define SESSION_REVOKER_TESTKIT_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- stores: SQLite, or PostgreSQL in a test's .pg variant ---- */

/* Whether this run's stores are on PostgreSQL: the env var SR_TEST_PG_ENV
 * names the file the ctest fixture (pg.start) wrote its SR_PG_* lines to. */
bool tk_store_pg(void);

/* The URL of a new, empty store: a file in a new temporary directory, or a
 * new database (CREATE DATABASE, a unique name) on the fixture's server,
 * dropped when the test binary exits. New string, free(). */
char *tk_store_url(void);

/* The first column of the first row of sql, run on a connection of its own
 * to the store at url (a file or postgres://...); -1 when there is no row.
 * Fails the test (abort) when the query fails. */
int64_t tk_store_int(const char *url, const char *sql);

/* count(*) of table in the store at url. */
int64_t tk_store_count(const char *url, const char *table);

/* Runs sql (statements, no rows wanted) on a connection of its own to the
 * store at url; fails the test when it fails. */
void tk_store_exec(const char *url, const char *sql);

#endif
