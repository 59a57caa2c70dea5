/*
 * directory_int.h - inside src/ingest: what the directory clients (the Auth0
 * Management API, the generic HTTP directory) share: reading their answers,
 * judging an answer's status, Auth0's rate-limit headers, a secret file.
 *
 * The answer parsers see network bytes (tests/fuzz/fuzz_directory.c). An
 * answer that cannot be used is SR_EUNAVAIL: to a lookup, a directory that
 * answers nonsense is as good as one that does not answer.
 */
#ifndef SR_INGEST_DIRECTORY_INT_H
#define SR_INGEST_DIRECTORY_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "session_revoker/core.h"
#include "session_revoker/fetch.h"

#define SR_DIR_MAX_GROUPS 1000
#define SR_DIR_MAX_GROUP_LEN 256
#define SR_DIR_MAX_WAIT 3600 /* seconds: a rate-limit reset further off is capped */

/* v: a JSON array of group names, or (one_ok) a single string. Each name a
 * non-empty string of at most SR_DIR_MAX_GROUP_LEN bytes without control
 * characters; at most SR_DIR_MAX_GROUPS; duplicates folded. what names v in
 * messages. OUT *groups: new strings (sr_strv_free), also when n is 0. */
enum sr_rc sr_directory_groups(json_t *v, int one_ok, const char *what, char ***groups,
			       size_t *n, struct sr_err *err);

/* The generic HTTP directory's answer: a JSON array of names, or an object
 * whose "groups" is one. */
enum sr_rc sr_directory_parse_http(const char *body, size_t len, char ***groups, size_t *n,
				   struct sr_err *err);

/* One page of GET /api/v2/users/{id}/roles: [{"id", "name", ...}]; each
 * role's "name" is appended to *groups (n so far in *n; new strings).
 * *page_n: how many roles the page held. */
enum sr_rc sr_directory_parse_roles(const char *body, size_t len, char ***groups, size_t *n,
				    size_t *page_n, struct sr_err *err);

/* GET /api/v2/users/{id}: the user's app_metadata.<field>, an array of names
 * or one name; a user without it has no groups (SR_OK, *n 0). */
enum sr_rc sr_directory_parse_user(const char *body, size_t len, const char *field,
				   char ***groups, size_t *n, struct sr_err *err);

/* GET /api/v2/users/{id}?fields=<name>: the user object's member name as a
 * string. OUT *value: new string, NULL when the user has none (absent or
 * null). SR_EUNAVAIL: not a JSON object, or the member is not a string. */
enum sr_rc sr_directory_parse_attribute(const char *body, size_t len, const char *name,
					char **value, struct sr_err *err);

/* POST /oauth/token's answer: {"access_token", "expires_in", ...}. OUT
 * *token: new string (sr_secret_free), only characters a header value may
 * carry; *expires_in: seconds (> 0). */
enum sr_rc sr_directory_parse_token(const char *body, size_t len, char **token,
				    int64_t *expires_in, struct sr_err *err);

/* The log_id of the first log event of a GET /api/v2/logs answer (a JSON
 * array). OUT *log_id: new string, NULL when the array is empty. */
enum sr_rc sr_directory_parse_first_log_id(const char *body, size_t len, char **log_id,
					   struct sr_err *err);

/* Judges an answer of who ("Auth0 Management API", "the directory"): SR_OK
 * for 2xx, SR_ENOTFOUND for 404 when the request is about_user (the user was
 * deleted), SR_EUNAVAIL for the rest with a message that says which (refused
 * our credentials, throttled, failed, ...); what names the request. */
enum sr_rc sr_directory_judge(const struct sr_fetch_resp *r, const char *who, const char *what,
			      int about_user, struct sr_err *err);

/* Seconds to wait before the next call, from the answer's rate-limit
 * headers: on 429 Retry-After (seconds or an HTTP date), else
 * X-RateLimit-Reset (Unix seconds), else 60; on any other answer
 * X-RateLimit-Reset when X-RateLimit-Remaining is 0, else 0. now: the real
 * clock (Unix seconds). Capped at SR_DIR_MAX_WAIT. */
int64_t sr_directory_wait(const struct sr_fetch_resp *r, int64_t now);

/* Reads a secret from path (at most 64 KiB), one trailing newline trimmed.
 * header: it must be fit for an HTTP header value (visible ASCII). The
 * message names the file, never its content. OUT *secret: new string
 * (sr_secret_free(*secret, *len)). */
enum sr_rc sr_directory_read_secret(const char *path, const char *what, int header,
				    char **secret, size_t *len, struct sr_err *err);

/* s percent-encoded (RFC 3986 unreserved kept), new string (free()); NULL
 * when memory runs out. */
char *sr_directory_escape(const char *s);

#endif
