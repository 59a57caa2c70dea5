/*
 * auth.h - JWT verification against the configured trusted issuers, and
 * minting of development tokens.
 *
 * DESIGN: libjwt 1.10 takes the algorithm from the token's own header and
 * validates no claims, so sr_auth_verify() decides everything before and
 * after it: it decodes the header and claims itself (OpenSSL base64, jansson),
 * picks the issuer by the exact "iss", checks the header's "alg" against that
 * issuer's list and against the key's type (never "none", never HMAC over a
 * public key), picks the key by "kid", then has the signature checked (libjwt
 * for HS/RS/ES; OpenSSL EVP for PS and EdDSA, which libjwt 1.10 lacks), then
 * checks exp (required), nbf, iat, aud and the permission. Every refusal
 * names the check that failed and never echoes the token.
 *
 * An issuer's keys come from a PEM, JWKS or secret file (loaded once), or
 * from its jwks_url: fetched over HTTPS by a thread of its own, cached per
 * the answer's Cache-Control, fetched early (rate limited) when a token names
 * an unknown kid, the last good set kept through failures (src/auth/jwks.c,
 * DESIGN). Key sets are swapped by reference count, so verifications never
 * wait for a fetch, except the one request whose unknown kid asked for it.
 */
#ifndef SESSION_REVOKER_AUTH_H
#define SESSION_REVOKER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "session_revoker/config.h"
#include "session_revoker/core.h"

/* Tokens longer than this are refused before any parsing. */
#define SR_AUTH_MAX_TOKEN 16384

struct sr_auth;

/* Who a verified token says is asking. The strings are never NULL and
 * never cut short: identifiers are used as keys (idempotency keys are scoped
 * to issuer+subject, a signed document is one revocation per issuer+jti). */
struct sr_principal {
	const char *issuer;   /* the configured issuer (borrowed from the config) */
	const char *subject;  /* "sub" whole, "" when absent or not a string */
	const char *token_id; /* "jti" whole, "" when absent or not a string */
	json_t *claims;       /* new reference to the verified claims: read-only,
			       * the object may be shared with the token cache;
			       * subject and token_id point into it */
};

/* Loads every configured issuer's keys from files, and starts fetching the
 * jwks_url ones (an unreachable provider is no error here: see
 * sr_auth_ready()). cfg is borrowed and must outlive auth. OUT *auth: new,
 * sr_auth_free(). */
enum sr_rc sr_auth_new(const struct sr_config *cfg, struct sr_auth **auth,
		       struct sr_err *err);
void sr_auth_free(struct sr_auth *auth);

/* SR_OK when every issuer has keys (a jwks_url set kept past its lifetime
 * counts: it is stale, not missing); else SR_EUNAVAIL, err naming the first
 * issuer without keys and why its last fetch failed. Thread-safe. */
enum sr_rc sr_auth_ready(struct sr_auth *auth, struct sr_err *err);

/* Verifies the compact JWS token (len bytes) at time now. permission (may be
 * NULL) must appear in the "scope" string or the "permissions" array.
 * Failure: SR_EAUTH (bad token, detail says which check) or SR_EFORBIDDEN
 * (valid token without the permission). OUT *who on success; release with
 * sr_principal_clear(). */
enum sr_rc sr_auth_verify(struct sr_auth *auth, const char *token, size_t len,
			  const char *permission, int64_t now,
			  struct sr_principal *who, struct sr_err *err);

void sr_principal_clear(struct sr_principal *who);

/* ---- Security Event Tokens (RFC 8417), pushed as RFC 8935 says ---- */

/* What a SET receiver expects of its transmitter. Borrowed. */
struct sr_set_check {
	const char *issuer;   /* the exact "iss": one of the configured issuers,
			       * whose keys and algorithms verify the SET */
	const char *audience; /* must be in "aud"; NULL: that issuer's audience */
};

/* Which check a refused SET failed, for RFC 8935's error codes. */
enum sr_auth_fault {
	SR_AUTH_FAULT_REQUEST = 1, /* not a SET: shape, typ, unsigned, claims */
	SR_AUTH_FAULT_KEY,         /* algorithm, key or signature not acceptable */
	SR_AUTH_FAULT_ISSUER,      /* iss is not the transmitter */
	SR_AUTH_FAULT_AUDIENCE,    /* aud does not name this receiver */
	SR_AUTH_FAULT_UNAVAILABLE, /* the issuer's jwks_url has not been fetched
				    * yet: not the SET's fault, try again */
};

/* Verifies a SET: the header's typ is secevent+jwt, iss is set->issuer,
 * the signature holds with that issuer's keys (the same checks as
 * sr_auth_verify(): algorithm list, key type, kid, JWKS refresh), iat is
 * present and not in the future beyond the clock skew, jti is present, exp
 * and nbf hold when present (a SET needs no exp), aud contains the
 * audience. SR_EAUTH with *fault naming the kind of failure, err the check.
 * OUT *who on success (sr_principal_clear()). */
enum sr_rc sr_auth_verify_set(struct sr_auth *auth, const char *token, size_t len,
			      const struct sr_set_check *set, int64_t now,
			      struct sr_principal *who, enum sr_auth_fault *fault,
			      struct sr_err *err);

/* As sr_auth_verify() without a permission, for a token one party signs
 * for one route: iss must be want->issuer and aud must contain
 * want->audience (NULL: that issuer's audience). Okta's Universal Logout
 * requests are verified so. */
enum sr_rc sr_auth_verify_from(struct sr_auth *auth, const char *token, size_t len,
			       const struct sr_set_check *want, int64_t now,
			       struct sr_principal *who, struct sr_err *err);

/* Creates an RSA-2048 private key in PEM at path (mode 0600) unless a file is
 * already there. *created tells which happened. */
enum sr_rc sr_auth_devkey_ensure(const char *path, int *created,
				 struct sr_err *err);

/* Signs claims (borrowed; iss, aud, iat, exp, jti are added) with the RS256
 * private key in key_file. OUT *token: new string, free(). */
enum sr_rc sr_auth_mint(const char *key_file, const char *issuer,
			const char *audience, json_t *claims, int64_t ttl,
			int64_t now, char **token, struct sr_err *err);

/* base64url without padding (RFC 7515 §2) through OpenSSL. OUT *out is a new
 * buffer of *out_len bytes plus a NUL, free(). SR_EINVAL on a bad alphabet. */
enum sr_rc sr_b64url_decode(const char *in, size_t len, unsigned char **out,
			    size_t *out_len, struct sr_err *err);

#endif
