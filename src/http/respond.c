/*
 * respond.c - every response goes out through here: JSON bodies, the error
 * shape {"error", "detail"}, X-Request-Id, and the one map from sr_rc to an
 * HTTP status.
 */
#include "http_int.h"

#include <stdlib.h>
#include <string.h>

unsigned sr_http_status(enum sr_rc rc)
{
	switch (rc) {
	case SR_OK:
		return MHD_HTTP_OK;
	case SR_EINVAL:
		return MHD_HTTP_BAD_REQUEST;
	case SR_EAUTH:
		return MHD_HTTP_UNAUTHORIZED;
	case SR_EFORBIDDEN:
		return MHD_HTTP_FORBIDDEN;
	case SR_ENOTFOUND:
		return MHD_HTTP_NOT_FOUND;
	case SR_ECONFLICT:
		return MHD_HTTP_UNPROCESSABLE_CONTENT;
	case SR_ETOOBIG:
		return MHD_HTTP_CONTENT_TOO_LARGE;
	case SR_EMEDIA:
		return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
	case SR_EUNAVAIL:
	case SR_ESTORE:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static enum MHD_Result send_text(struct sr_request *req, unsigned status, const char *text,
			    const char *const *headers)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t i;

	resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
					       MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Request-Id", req->id);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	for (i = 0; headers != NULL && headers[i] != NULL; i += 2)
		MHD_add_response_header(resp, headers[i], headers[i + 1]);
	req->status = status;
	req->answered = true;
	ret = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result sr_respond_json(struct sr_request *req, unsigned status, json_t *body,
				const char *const *headers)
{
	char *text = json_dumps(body, JSON_COMPACT);
	enum MHD_Result ret;

	json_decref(body);
	if (text == NULL)
		return send_text(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
			    "{\"error\":\"internal_error\",\"detail\":\"cannot encode the response\"}",
			    NULL);
	ret = send_text(req, status, text, headers);
	free(text);
	return ret;
}

enum MHD_Result sr_respond_error(struct sr_request *req, unsigned status,
				 const char *code, const char *detail,
				 const char *extra_name, const char *extra_value)
{
	const char *headers[5] = {NULL};
	struct sr_err clean = {0};
	char challenge[200];
	size_t h = 0;

	if (status == MHD_HTTP_UNAUTHORIZED) {
		headers[h++] = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
		headers[h++] = strcmp(code, "invalid_token") == 0
				       ? "Bearer realm=\"session-revoker\", error=\"invalid_token\""
				       : "Bearer realm=\"session-revoker\"";
	} else if (status == MHD_HTTP_FORBIDDEN && extra_value != NULL) {
		snprintf(challenge, sizeof(challenge),
			 "Bearer realm=\"session-revoker\", error=\"insufficient_scope\", scope=\"%s\"",
			 extra_value);
		headers[h++] = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
		headers[h++] = challenge;
	} else if (extra_name != NULL) {
		headers[h++] = extra_name;
		headers[h++] = extra_value;
	}
	/* Through sr_err_set: one line of valid UTF-8, whatever detail quotes. */
	sr_err_set(&clean, SR_EINVAL, "%s", detail);
	req->outcome = code;
	return sr_respond_json(req, status,
			       json_pack("{s:s, s:s}", "error", code, "detail", clean.msg),
			       headers);
}

enum MHD_Result sr_respond_err(struct sr_request *req, const struct sr_err *err)
{
	unsigned status = sr_http_status(err->code);
	const char *code = sr_rc_name(err->code);

	if (err->code == SR_ECONFLICT)
		code = "idempotency_key_reused";
	if (err->code == SR_ESTORE) {
		/* The database's own words stay in the log, not on the wire. */
		char quoted[300];
		sr_log(SR_LOG_ERROR, "store.failed", "request_id=%s error=%s", req->id,
		       sr_log_quote(quoted, sizeof(quoted), err->msg));
		return sr_respond_error(req, status, "unavailable",
					"the store could not record this; try again", NULL, NULL);
	}
	return sr_respond_error(req, status, code, err->msg, NULL, NULL);
}

enum MHD_Result sr_respond_body(struct sr_request *req, unsigned status, const char *media,
				const char *data, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (media != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, media);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Request-Id", req->id);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	req->status = status;
	req->answered = true;
	ret = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}
