/*
 * events.c - POST /v1/events/auth0 and POST /v1/events/group-change: an
 * identity provider's delivery, turned into revocations by its source's
 * rules (ingest.h).
 *
 * The sender is authenticated first (nothing about the body is judged for
 * a caller that is not): the source's static authorization value when one
 * is configured (Auth0 sends it verbatim), else a JWT with events:write.
 * The body is parsed on the event loop (cheap), the batch goes to the
 * ingest's threads (rules, directory lookups, one COMMIT), and the answer
 * is sent only once that COMMIT holds every revocation of the batch.
 */
#include "../http_int.h"

#include "session_revoker/metrics.h"

#include <stdlib.h>
#include <string.h>

#define PERM_EVENTS "events:write"

/* What a delivery keeps while the ingest works; freed with the request. */
struct event_state {
	struct sr_ingest_job job;
	struct sr_event_batch batch;
	struct sr_principal who;
	json_t *obj; /* group-change: the JSON body */
	char issuer[96]; /* who sent it, when a source's authorization value did */
};

static void event_state_free(void *p)
{
	struct event_state *es = p;

	if (es == NULL)
		return;
	json_decref(es->job.summary);
	sr_event_batch_free(&es->batch);
	sr_principal_clear(&es->who);
	json_decref(es->obj);
	free(es);
}

/* The source's own authentication: its configured value, or a Bearer JWT
 * (or, with body_token, the body itself as the JWT). */
static bool authenticate(struct sr_request *req, const struct sr_source_config *src,
			 struct event_state *es, bool body_token, enum MHD_Result *ret)
{
	const char *h;

	if (!sr_ingest_uses_secret(req->app->ingest, src)) {
		if (body_token)
			return sr_request_verify_body(req, PERM_EVENTS, &es->who, ret);
		return sr_request_authenticate(req, PERM_EVENTS, &es->who, ret);
	}
	h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (h == NULL) {
		sr_metric_add(SR_M_TOKEN_REFUSALS, (const char *[]){"missing"}, 1);
		*ret = sr_respond_error(req, MHD_HTTP_UNAUTHORIZED, "unauthorized",
					"the Authorization header this source is configured with is"
					" required", NULL, NULL);
		return false;
	}
	if (!sr_ingest_secret_ok(req->app->ingest, src, h)) {
		sr_metric_add(SR_M_TOKEN_REFUSALS, (const char *[]){"source_secret"}, 1);
		*ret = sr_respond_error(req, MHD_HTTP_UNAUTHORIZED, "invalid_token",
					"the Authorization header is not the value configured for"
					" this source", NULL, NULL);
		return false;
	}
	snprintf(es->issuer, sizeof(es->issuer), "sources.%s.authorization_file", src->name);
	es->who.issuer = es->issuer;
	return true;
}

static bool every_event_bad(const struct sr_event_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (b->v[i].error == NULL)
			return false;
	return b->n > 0;
}

static void ingested(struct sr_ingest_job *job)
{
	sr_request_wake(job->arg);
}

enum MHD_Result sr_events_refuse_unreadable(struct sr_request *req,
					    const struct sr_event_batch *batch, bool *refused)
{
	char detail[400];

	*refused = every_event_bad(batch);
	if (!*refused)
		return MHD_YES;
	snprintf(detail, sizeof(detail), "no event could be read; the first (index 0%s%s): %s",
		 batch->v[0].event_id ? ", " : "",
		 batch->v[0].event_id ? batch->v[0].event_id : "", batch->v[0].error);
	return sr_respond_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request", detail, NULL, NULL);
}

enum MHD_Result sr_events_submit(struct sr_request *req, const struct sr_source_config *src,
				 struct sr_event_batch *batch, const struct sr_principal *who,
				 struct sr_ingest_job *job, sr_handler then)
{
	struct sr_err err = {0};

	job->source = src;
	job->batch = batch;
	job->sender = (struct sr_ingest_sender){
		.issuer = who->issuer, .subject = who->subject, .token_id = who->token_id,
	};
	job->now = sr_clock_now();
	job->done = ingested;
	job->arg = req;
	sr_request_suspend(req, then);
	if (sr_ingest_submit(req->app->ingest, job, &err) != SR_OK) {
		job->rc = err.code;
		job->err = err;
		sr_request_wake(req);
	}
	return MHD_YES;
}

/* Runs once the ingest has committed the batch, or failed to. */
static enum MHD_Result answer(struct sr_request *req)
{
	struct event_state *es = req->state;
	json_t *summary = es->job.summary;

	if (es->job.rc != SR_OK) {
		es->job.err.code = es->job.rc;
		return sr_respond_err(req, &es->job.err);
	}
	es->job.summary = NULL; /* the answer takes it */
	if (json_integer_value(json_object_get(summary, "recorded")) > 0)
		sr_jobs_kick(req->app->jobs);
	return sr_respond_json(req, MHD_HTTP_ACCEPTED, summary, NULL);
}

/* Hands the parsed batch to the ingest and waits for its COMMIT. */
static enum MHD_Result submit(struct sr_request *req, const struct sr_source_config *src,
			      struct event_state *es)
{
	enum MHD_Result ret;
	bool refused;

	ret = sr_events_refuse_unreadable(req, &es->batch, &refused);
	if (refused)
		return ret;
	return sr_events_submit(req, src, &es->batch, &es->who, &es->job, answer);
}

static struct event_state *state_new(struct sr_request *req)
{
	struct event_state *es = calloc(1, sizeof(*es));

	if (es == NULL)
		return NULL;
	es->who.issuer = es->who.subject = es->who.token_id = "";
	req->state = es;
	req->state_free = event_state_free;
	return es;
}

static enum MHD_Result source_off(struct sr_request *req, const struct sr_source_config *src)
{
	char detail[160];

	snprintf(detail, sizeof(detail), "the %s source is switched off (sources.%s.enabled)",
		 src->name, src->name);
	return sr_respond_error(req, MHD_HTTP_NOT_FOUND, "not_found", detail, NULL, NULL);
}

enum MHD_Result sr_handle_events_auth0(struct sr_request *req)
{
	const struct sr_source_config *src = &req->app->sources->auth0;
	struct event_state *es;
	struct sr_err err = {0};
	enum sr_media m = sr_request_media(req);
	enum MHD_Result ret;

	if (!src->enabled)
		return source_off(req, src);
	if ((es = state_new(req)) == NULL)
		return MHD_NO;
	if (!authenticate(req, src, es, false, &ret))
		return ret;
	/* Auth0's "Content Type" setting is free text; application/json is its
	 * default, JSON lines may be labelled either way. */
	if (m != SR_MEDIA_JSON && m != SR_MEDIA_JSON_LINES)
		return sr_respond_error(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
					"send application/json (a JSON array, JSON lines or one"
					" object) or application/x-ndjson", NULL, NULL);
	if (sr_auth0_parse(req->body.data ? req->body.data : "", req->body.len, &es->batch,
			   &err) != SR_OK)
		return sr_respond_err(req, &err);
	return submit(req, src, es);
}

/* The group-change event's id, scoped to who signed it: two senders'
 * "event-1" are two events. */
static enum sr_rc scope_event_id(struct sr_event *ev, const char *issuer, struct sr_err *err)
{
	size_t n = strlen(issuer) + 1 + strlen(ev->event_id) + 1;
	char *scoped = malloc(n);

	if (scoped == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	snprintf(scoped, n, "%s#%s", issuer, ev->event_id);
	free(ev->event_id);
	ev->event_id = scoped;
	return SR_OK;
}

enum MHD_Result sr_handle_events_group_change(struct sr_request *req)
{
	const struct sr_config *cfg = req->app->cfg;
	const struct sr_source_config *src = &req->app->sources->group_change;
	struct event_state *es;
	struct sr_err err = {0};
	enum sr_media m = sr_request_media(req);
	enum MHD_Result ret;
	json_t *obj;

	if (!src->enabled)
		return source_off(req, src);
	if (m != SR_MEDIA_JSON && m != SR_MEDIA_JWT)
		return sr_respond_error(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
					"send application/jwt (the event as a JWT's claims) or"
					" application/json with a Bearer token", NULL, NULL);
	if ((es = state_new(req)) == NULL)
		return MHD_NO;
	if (!authenticate(req, src, es, m == SR_MEDIA_JWT, &ret))
		return ret;
	if (m == SR_MEDIA_JWT && sr_ingest_uses_secret(req->app->ingest, src))
		return sr_respond_error(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
					"this source takes its configured Authorization value:"
					" send application/json", NULL, NULL);
	if (m == SR_MEDIA_JWT) {
		obj = json_incref(es->who.claims);
	} else {
		json_error_t jerr;
		es->obj = json_loadb(req->body.data ? req->body.data : "", req->body.len,
				     JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(es->obj)) {
			char detail[240];
			snprintf(detail, sizeof(detail), "%s%s", es->obj ? "the body must be a JSON"
				 " object" : "the body is not JSON: ", es->obj ? "" : jerr.text);
			return sr_respond_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request", detail,
						NULL, NULL);
		}
		obj = json_incref(es->obj);
	}
	if (sr_group_change_parse(obj, sr_clock_now(), cfg->clock_skew, &es->batch, &err) != SR_OK ||
	    scope_event_id(&es->batch.v[0], es->who.issuer, &err) != SR_OK) {
		json_decref(obj);
		return sr_respond_err(req, &err);
	}
	json_decref(obj);
	return submit(req, src, es);
}
