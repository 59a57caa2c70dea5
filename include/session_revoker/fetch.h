/*
 * fetch.h - one outbound HTTPS request to an identity provider's API (JWKS,
 * Auth0 Management API, a directory): libcurl, TLS verified, the answer's
 * size and the request's time capped. AWS calls have their own client
 * (aws.h), which signs them.
 */
#ifndef SESSION_REVOKER_FETCH_H
#define SESSION_REVOKER_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "session_revoker/core.h"

struct sr_fetch_req {
	const char *method;          /* NULL: GET */
	const char *url;
	const char *const *headers;  /* "Name: value" lines, NULL-terminated; may be NULL */
	const char *body;            /* may be NULL */
	size_t body_len;
	const char *ca_file;         /* NULL: the system's CA store */
	int64_t timeout_seconds;
	size_t max_bytes;            /* the answer's body cap */
};

/* Response headers the callers act on; the rest are not kept. */
struct sr_fetch_resp {
	long status;
	char *body;                  /* NUL-terminated; free() */
	size_t len;
	char cache_control[128];
	char retry_after[32];
	char ratelimit_remaining[32];
	char ratelimit_reset[32];
	char content_type[128];
};

/* Sends req. SR_OK whenever an HTTP answer came (any status: the caller
 * judges it); SR_EUNAVAIL when none did (DNS, connect, TLS, timeout: err
 * says which, never naming a header value); SR_ETOOBIG past max_bytes.
 * OUT resp: filled, sr_fetch_resp_free(). */
enum sr_rc sr_fetch(const struct sr_fetch_req *req, struct sr_fetch_resp *resp,
		    struct sr_err *err);

void sr_fetch_resp_free(struct sr_fetch_resp *resp);

#endif
