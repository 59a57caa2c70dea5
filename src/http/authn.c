/*
 * authn.c - the Bearer token of a request, verified.
 */
#include "http_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "session_revoker/metrics.h"

/* A refusal's reason for session_revoker_token_refusals_total: a code from
 * a fixed set, derived from sr_auth_verify()'s message (never the token). The
 * first row whose text the message holds wins. */
static const char *refusal_reason(const struct sr_err *err)
{
	static const struct {
		const char *text, *reason;
	} rows[] = {
		{"token expired", "expired"},
		{"not yet valid", "not_yet_valid"},
		{"issued in the future", "not_yet_valid"},
		{"signature is invalid", "signature"},
		{"audience", "audience"},
		{"issuer is not trusted", "issuer"},
		{"no iss claim", "issuer"},
		{"kid", "key"},
		{"keys are not loaded", "key"},
		{"algorithm", "algorithm"},
		{"unsigned", "algorithm"},
		{"no token", "missing"},
		{"malformed", "malformed"},
		{"longer than", "malformed"},
		{"crit", "malformed"},
		{"claim", "claims"},
		{"is not a number", "claims"},
	};
	size_t i;

	if (err->code == SR_EFORBIDDEN)
		return "insufficient_scope";
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (strstr(err->msg, rows[i].text) != NULL)
			return rows[i].reason;
	return "other";
}

/* The 401 or 403 for a token sr_auth_verify() refused. */
static enum MHD_Result refuse(struct sr_request *req, const struct sr_err *err,
			      const char *permission)
{
	sr_metric_add(SR_M_TOKEN_REFUSALS, (const char *[]){refusal_reason(err)}, 1);
	if (err->code == SR_EFORBIDDEN)
		return sr_respond_error(req, MHD_HTTP_FORBIDDEN, "insufficient_scope", err->msg,
					NULL, permission);
	return sr_respond_error(req, MHD_HTTP_UNAUTHORIZED, "invalid_token", err->msg, NULL,
				NULL);
}

enum sr_media sr_request_media(struct sr_request *req)
{
	const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	static const struct {
		const char *name;
		enum sr_media media;
	} types[] = {
		{"application/json", SR_MEDIA_JSON},
		{"application/jwt", SR_MEDIA_JWT},
		{"application/x-ndjson", SR_MEDIA_JSON_LINES},
		{"application/jsonl", SR_MEDIA_JSON_LINES},
		{"application/json-seq", SR_MEDIA_JSON_LINES},
	};
	size_t n, i;

	if (ct == NULL)
		return SR_MEDIA_OTHER;
	while (*ct == ' ')
		ct++;
	n = strcspn(ct, "; ");
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (n == strlen(types[i].name) && strncasecmp(ct, types[i].name, n) == 0)
			return types[i].media;
	return SR_MEDIA_OTHER;
}

bool sr_request_verify_body(struct sr_request *req, const char *permission,
			    struct sr_principal *who, enum MHD_Result *result)
{
	struct sr_err err = {0};
	size_t n = req->body.len;

	while (n > 0 && isspace((unsigned char)req->body.data[n - 1]))
		req->body.data[--n] = '\0';
	if (sr_auth_verify(req->app->auth, req->body.data ? req->body.data : "", n, permission,
			   sr_clock_now(), who, &err) == SR_OK)
		return true;
	*result = refuse(req, &err, permission);
	return false;
}

bool sr_request_authenticate(struct sr_request *req, const char *permission,
			     struct sr_principal *who, enum MHD_Result *result)
{
	struct sr_err err = {0};
	const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	const char *token;

	if (h == NULL) {
		sr_metric_add(SR_M_TOKEN_REFUSALS, (const char *[]){"missing"}, 1);
		*result = sr_respond_error(req, MHD_HTTP_UNAUTHORIZED, "unauthorized",
					   "an Authorization: Bearer token is required", NULL, NULL);
		return false;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		sr_metric_add(SR_M_TOKEN_REFUSALS, (const char *[]){"malformed"}, 1);
		*result = sr_respond_error(req, MHD_HTTP_UNAUTHORIZED, "invalid_token",
					   "the Authorization header must be \"Bearer <token>\"",
					   NULL, NULL);
		return false;
	}
	for (token = h + 7; *token == ' '; token++)
		;
	if (sr_auth_verify(req->app->auth, token, strlen(token), permission, sr_clock_now(),
			   who, &err) == SR_OK)
		return true;
	*result = refuse(req, &err, permission);
	return false;
}
