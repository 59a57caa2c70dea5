/*
 * okta.c - GET and POST /v1/events/okta: an Okta event hook.
 *
 * GET is Okta's one-time verification: the request carries the hook's
 * authorization header (as every request of the hook does) and
 * X-Okta-Verification-Challenge; the answer is {"verification": <that
 * header's value>}. POST is a delivery: the envelope is parsed on the event
 * loop, a redelivery of an envelope committed lately is answered at once,
 * the rest goes to the ingest's threads like any source's batch, and the
 * answer, 204 with no body as Okta asks, is sent once the COMMIT holds every
 * revocation of it.
 *
 * Okta gives up on an answer after 3 seconds (and retries once). What could
 * take longer is a "lookup" rule's directory: sources.okta.answer_within_ms
 * bounds it (pipeline.c); the COMMIT itself is not skipped, since a 204 must
 * mean the events are recorded.
 */
#include "../http_int.h"

#include "session_revoker/metrics.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PERM_EVENTS "events:write"
#define CHALLENGE_HEADER "X-Okta-Verification-Challenge"
#define MAX_CHALLENGE 1024

struct okta_state {
	struct sr_ingest_job job;
	struct sr_event_batch batch;
	struct sr_principal who;
	char *envelope_id;
};

static void okta_state_free(void *p)
{
	struct okta_state *st = p;

	if (st == NULL)
		return;
	json_decref(st->job.summary);
	sr_event_batch_free(&st->batch);
	sr_principal_clear(&st->who);
	free(st->envelope_id);
	free(st);
}

static struct okta_state *state_new(struct sr_request *req)
{
	struct okta_state *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->who.issuer = st->who.subject = st->who.token_id = "";
	req->state = st;
	req->state_free = okta_state_free;
	return st;
}

/* The hook's configured header and secret, else (no authorization_file) a
 * Bearer JWT with events:write. false: answered (*ret). */
static bool authenticate(struct sr_request *req, const struct sr_source_config *src,
			 struct okta_state *st, enum MHD_Result *ret)
{
	const char *name = src->secret_header ? src->secret_header : MHD_HTTP_HEADER_AUTHORIZATION;
	const char *h;
	char detail[160];

	if (!sr_ingest_uses_secret(req->app->ingest, src))
		return sr_request_authenticate(req, PERM_EVENTS, &st->who, ret);
	h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
	if (h == NULL) {
		sr_metric_add(SR_M_TOKEN_REFUSALS, (const char *[]){"missing"}, 1);
		snprintf(detail, sizeof(detail), "the %s header this source is configured with is"
			 " required", name);
		*ret = sr_respond_error(req, MHD_HTTP_UNAUTHORIZED, "unauthorized", detail, NULL,
					NULL);
		return false;
	}
	if (!sr_ingest_secret_ok(req->app->ingest, src, h)) {
		sr_metric_add(SR_M_TOKEN_REFUSALS, (const char *[]){"source_secret"}, 1);
		snprintf(detail, sizeof(detail), "the %s header is not the value configured for this"
			 " source", name);
		*ret = sr_respond_error(req, MHD_HTTP_UNAUTHORIZED, "invalid_token", detail, NULL,
					NULL);
		return false;
	}
	st->who.issuer = "sources.okta.authorization_file";
	return true;
}

static enum MHD_Result source_off(struct sr_request *req)
{
	return sr_respond_error(req, MHD_HTTP_NOT_FOUND, "not_found",
				"the okta source is switched off (sources.okta.enabled)", NULL, NULL);
}

/* Whether s is fit to echo: 1..MAX_CHALLENGE visible ASCII characters. */
static bool challenge_ok(const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return n > 0 && n <= MAX_CHALLENGE;
}

enum MHD_Result sr_handle_events_okta_verify(struct sr_request *req)
{
	const struct sr_source_config *src = &req->app->sources->okta;
	struct okta_state *st;
	enum MHD_Result ret;
	const char *c;

	if (!src->enabled)
		return source_off(req);
	if ((st = state_new(req)) == NULL)
		return MHD_NO;
	if (!authenticate(req, src, st, &ret))
		return ret;
	c = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, CHALLENGE_HEADER);
	if (c == NULL)
		return sr_respond_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
					"the " CHALLENGE_HEADER " header is required (Okta's one-time"
					" verification; deliveries are POSTs)", NULL, NULL);
	if (!challenge_ok(c))
		return sr_respond_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
					"the " CHALLENGE_HEADER " header must be 1 to 1024 visible"
					" ASCII characters", NULL, NULL);
	sr_log(SR_LOG_INFO, "okta.verified", "request_id=%s", req->id);
	return sr_respond_json(req, MHD_HTTP_OK, json_pack("{s:s}", "verification", c), NULL);
}

/* 204, no body: what Okta asks of an answer to a delivery. */
static enum MHD_Result no_content(struct sr_request *req)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Request-Id", req->id);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	req->status = MHD_HTTP_NO_CONTENT;
	req->answered = true;
	ret = MHD_queue_response(req->conn, MHD_HTTP_NO_CONTENT, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Runs once the ingest has committed the batch, or failed to. */
static enum MHD_Result answer(struct sr_request *req)
{
	struct okta_state *st = req->state;
	json_t *summary = st->job.summary, *first;

	if (st->job.rc != SR_OK) {
		st->job.err.code = st->job.rc;
		return sr_respond_err(req, &st->job.err);
	}
	sr_ingest_recent_add(req->app->ingest, &req->app->sources->okta, st->envelope_id);
	if (json_integer_value(json_object_get(summary, "recorded")) > 0)
		sr_jobs_kick(req->app->jobs);
	/* Okta reads no body: a malformed event is told to the log. */
	first = json_array_get(json_object_get(summary, "errors"), 0);
	if (first != NULL) {
		char quoted[400];
		sr_log(SR_LOG_WARN, "okta.event_malformed", "request_id=%s envelope=%s errors=%zu"
		       " first=%s", req->id, st->envelope_id,
		       json_array_size(json_object_get(summary, "errors")),
		       sr_log_quote(quoted, sizeof(quoted),
				    json_string_value(json_object_get(first, "error"))));
	}
	return no_content(req);
}

enum MHD_Result sr_handle_events_okta(struct sr_request *req)
{
	const struct sr_source_config *src = &req->app->sources->okta;
	struct okta_state *st;
	struct sr_err err = {0};
	enum MHD_Result ret;
	bool refused;

	if (!src->enabled)
		return source_off(req);
	if ((st = state_new(req)) == NULL)
		return MHD_NO;
	if (!authenticate(req, src, st, &ret))
		return ret;
	if (sr_request_media(req) != SR_MEDIA_JSON)
		return sr_respond_error(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
					"send application/json (an Okta event hook envelope)", NULL,
					NULL);
	if (sr_okta_parse(req->body.data ? req->body.data : "", req->body.len, &st->batch,
			  &st->envelope_id, &err) != SR_OK)
		return sr_respond_err(req, &err);
	if (sr_ingest_recent_seen(req->app->ingest, src, st->envelope_id)) {
		sr_log(SR_LOG_INFO, "okta.redelivery", "request_id=%s envelope=%s", req->id,
		       st->envelope_id);
		return no_content(req);
	}
	ret = sr_events_refuse_unreadable(req, &st->batch, &refused);
	if (refused)
		return ret;
	return sr_events_submit(req, src, &st->batch, &st->who, &st->job, answer);
}

/*
 * POST /v1/events/okta/logout: Okta Universal Logout for a custom app, a
 * Global Token Revocation endpoint (draft-parecki-oauth-global-token-
 * revocation). Okta sends Authorization: Bearer <a JWT it signed> (iss the
 * org, verified against that issuer's keys, its jwks_url; aud this
 * endpoint, sources.okta.logout_audience) and {"sub_id": {...}} in
 * application/json. The person becomes one event of kind
 * "universal_logout" of the okta source, its id the token's jti (scoped by
 * the issuer, so a replay of the token is the same event), and the answer,
 * 204 with no body, is sent once the COMMIT holds it. A body that cannot be
 * read is 400 {"error": "invalid_request", "error_description"}; a token
 * that fails a check is 401 with no more than that (the log says which
 * check). The draft's 404 (unknown person) and 422 (cannot log out) are
 * never answered: the person's sessions are denied by the rules, whoever
 * they are.
 */
#define LOGOUT_REFUSED "the bearer token was not accepted"

static enum MHD_Result logout_invalid(struct sr_request *req, const char *text)
{
	struct sr_err clean = {0};

	sr_err_set(&clean, SR_EINVAL, "%s", text); /* one line of valid UTF-8 */
	req->outcome = "invalid_request";
	return sr_respond_json(req, MHD_HTTP_BAD_REQUEST,
			       json_pack("{s:s, s:s}", "error", "invalid_request",
					 "error_description", clean.msg),
			       NULL);
}

/* 401 without the reason, which goes to the log and the metric. */
static enum MHD_Result logout_refused(struct sr_request *req, const char *reason,
				      const char *why)
{
	char quoted[300];

	sr_metric_add(SR_M_TOKEN_REFUSALS, (const char *[]){reason}, 1);
	sr_log(SR_LOG_WARN, "okta.logout_refused", "request_id=%s reason=%s detail=%s", req->id,
	       reason, sr_log_quote(quoted, sizeof(quoted), why));
	return sr_respond_error(req, MHD_HTTP_UNAUTHORIZED, "invalid_token", LOGOUT_REFUSED, NULL,
				NULL);
}

/* The token_refusals_total reason for a refused token (README "Metrics"). */
static const char *logout_reason(const struct sr_err *err)
{
	static const struct {
		const char *text, *reason;
	} rows[] = {
		{"expired", "expired"},         {"not yet valid", "not_yet_valid"},
		{"in the future", "not_yet_valid"}, {"signature", "signature"},
		{"audience", "audience"},       {"issuer", "issuer"},
		{"iss claim", "issuer"},        {"kid", "key"},
		{"algorithm", "algorithm"},     {"unsigned", "algorithm"},
		{"malformed", "malformed"},     {"longer than", "malformed"},
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (strstr(err->msg, rows[i].text) != NULL)
			return rows[i].reason;
	return "other";
}

static enum MHD_Result logout_answer(struct sr_request *req)
{
	struct okta_state *st = req->state;

	if (st->job.rc != SR_OK) {
		st->job.err.code = st->job.rc;
		return sr_respond_err(req, &st->job.err);
	}
	if (json_integer_value(json_object_get(st->job.summary, "recorded")) > 0)
		sr_jobs_kick(req->app->jobs);
	return no_content(req);
}

enum MHD_Result sr_handle_events_okta_logout(struct sr_request *req)
{
	const struct sr_source_config *src = &req->app->sources->okta;
	struct sr_set_check want = {src->logout_issuer, src->logout_audience};
	struct okta_state *st;
	struct sr_err err = {0};
	const char *h, *token;
	char *scoped;
	size_t n;

	if (!src->enabled)
		return source_off(req);
	if (src->logout_issuer == NULL)
		return sr_respond_error(req, MHD_HTTP_NOT_FOUND, "not_found",
					"Universal Logout is not configured"
					" (sources.okta.logout_issuer)", NULL, NULL);
	if ((st = state_new(req)) == NULL)
		return MHD_NO;
	h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (h == NULL) {
		sr_metric_add(SR_M_TOKEN_REFUSALS, (const char *[]){"missing"}, 1);
		return sr_respond_error(req, MHD_HTTP_UNAUTHORIZED, "unauthorized",
					"an Authorization: Bearer token is required", NULL, NULL);
	}
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return logout_refused(req, "malformed", "the Authorization header is not Bearer");
	for (token = h + 7; *token == ' '; token++)
		;
	if (sr_auth_verify_from(req->app->auth, token, strlen(token), &want, sr_clock_now(),
				&st->who, &err) != SR_OK) {
		if (strstr(err.msg, "keys are not loaded") != NULL) /* Okta tries again */
			return sr_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
						err.msg, NULL, NULL);
		return logout_refused(req, logout_reason(&err), err.msg);
	}
	if (st->who.token_id[0] == '\0')
		return logout_refused(req, "claims", "the token has no jti");
	if (sr_request_media(req) != SR_MEDIA_JSON)
		return sr_respond_error(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
					"send application/json (a Global Token Revocation request)",
					NULL, NULL);
	/* A jti is unique per issuer: scoped by it, as the SSF receiver's. */
	n = strlen(st->who.issuer) + 1 + strlen(st->who.token_id) + 1;
	if ((scoped = malloc(n)) == NULL)
		return MHD_NO;
	snprintf(scoped, n, "%s#%s", st->who.issuer, st->who.token_id);
	if (sr_okta_logout_parse(req->body.data ? req->body.data : "", req->body.len, scoped,
				 sr_clock_now(), &st->batch, &err) != SR_OK) {
		free(scoped);
		return err.code == SR_ENOMEM ? sr_respond_err(req, &err)
					     : logout_invalid(req, err.msg);
	}
	free(scoped);
	return sr_events_submit(req, src, &st->batch, &st->who, &st->job, logout_answer);
}
