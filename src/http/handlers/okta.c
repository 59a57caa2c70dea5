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
#include <string.h>

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
