/*
 * authn.c - the Bearer token of a request, verified.
 */
#include "http_int.h"

#include <string.h>
#include <strings.h>

bool sr_request_authenticate(struct sr_request *req, const char *permission,
			     struct sr_principal *who, enum MHD_Result *result)
{
	struct sr_err err = {0};
	const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	const char *token;

	if (h == NULL) {
		*result = sr_respond_error(req, MHD_HTTP_UNAUTHORIZED, "unauthorized",
					   "an Authorization: Bearer token is required", NULL, NULL);
		return false;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0) {
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
	if (err.code == SR_EFORBIDDEN)
		*result = sr_respond_error(req, MHD_HTTP_FORBIDDEN, "insufficient_scope",
					   err.msg, NULL, permission);
	else
		*result = sr_respond_error(req, MHD_HTTP_UNAUTHORIZED, "invalid_token",
					   err.msg, NULL, NULL);
	return false;
}
