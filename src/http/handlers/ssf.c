/*
 * ssf.c - POST /v1/events/ssf: an OpenID Shared Signals transmitter pushes
 * one Security Event Token (RFC 8417) as RFC 8935 says: the body is the
 * compact JWS, Content-Type application/secevent+jwt.
 *
 * DESIGN: the answers are RFC 8935's, not the service's own: 202 with an
 * empty body once the event is recorded (also for a jti already recorded:
 * the transmitter need not send it again), and 400 with {"err",
 * "description"} and one of its error codes for a SET that fails a check.
 * The description names the check, never the token or a key. The SET is
 * verified by the auth module against the transmitter named in
 * sources.ssf.issuer (one of auth.issuers), its claims parsed by
 * src/sources/ssf.c, and the event goes through the ssf source's rules and
 * the ingest like any provider's. An SSF verification event is answered 202
 * and only logged. When sources.ssf.authorization_file is set, the
 * Authorization header the stream's delivery sends must be that value.
 * Failures that are not the SET's (the store, the transmitter's JWKS not
 * fetched yet) keep the service's own error form, and are 503: the
 * transmitter tries again, where a 400 would make it drop the SET.
 */
#include "../http_int.h"

#include "session_revoker/metrics.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ssf_state {
	struct sr_ingest_job job;
	struct sr_event_batch batch;
	struct sr_principal who;
};

static void ssf_state_free(void *p)
{
	struct ssf_state *st = p;

	if (st == NULL)
		return;
	json_decref(st->job.summary);
	sr_event_batch_free(&st->batch);
	sr_principal_clear(&st->who);
	free(st);
}

/* RFC 8935 section 2.3: 400 and {"err": code, "description": text}. */
static enum MHD_Result set_error(struct sr_request *req, const char *code, const char *text)
{
	struct sr_err clean = {0};

	sr_err_set(&clean, SR_EINVAL, "%s", text); /* one line of valid UTF-8 */
	req->outcome = code;
	return sr_respond_json(req, MHD_HTTP_BAD_REQUEST,
			       json_pack("{s:s, s:s}", "err", code, "description", clean.msg),
			       NULL);
}

static const char *fault_code(enum sr_auth_fault f)
{
	switch (f) {
	case SR_AUTH_FAULT_KEY:
		return "invalid_key";
	case SR_AUTH_FAULT_ISSUER:
		return "invalid_issuer";
	case SR_AUTH_FAULT_AUDIENCE:
		return "invalid_audience";
	default:
		return "invalid_request";
	}
}

/* The token_refusals_total reason of a refused SET (README "Metrics"). */
static const char *fault_reason(enum sr_auth_fault f)
{
	switch (f) {
	case SR_AUTH_FAULT_KEY:
		return "key";
	case SR_AUTH_FAULT_ISSUER:
		return "issuer";
	case SR_AUTH_FAULT_AUDIENCE:
		return "audience";
	default:
		return "claims";
	}
}

static bool secevent_media(struct sr_request *req)
{
	const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	static const char want[] = "application/secevent+jwt";
	size_t n;

	if (ct == NULL)
		return false;
	while (*ct == ' ')
		ct++;
	n = strcspn(ct, "; ");
	return n == sizeof(want) - 1 && strncasecmp(ct, want, n) == 0;
}

/* Runs once the ingest has committed the event, or failed to. */
static enum MHD_Result answer(struct sr_request *req)
{
	struct ssf_state *st = req->state;

	if (st->job.rc != SR_OK) {
		st->job.err.code = st->job.rc;
		return sr_respond_err(req, &st->job.err);
	}
	if (json_integer_value(json_object_get(st->job.summary, "recorded")) > 0)
		sr_jobs_kick(req->app->jobs);
	return sr_respond_body(req, MHD_HTTP_ACCEPTED, NULL, "", 0);
}

enum MHD_Result sr_handle_events_ssf(struct sr_request *req)
{
	const struct sr_config *cfg = req->app->cfg;
	const struct sr_source_config *src = &req->app->sources->ssf;
	struct sr_set_check check = {src->set_issuer, src->set_audience};
	enum sr_auth_fault fault = SR_AUTH_FAULT_REQUEST;
	struct ssf_state *st;
	struct sr_err err = {0};
	struct sr_event *ev;
	char *scoped;
	size_t n;

	if (!src->enabled || src->set_issuer == NULL)
		return sr_respond_error(req, MHD_HTTP_NOT_FOUND, "not_found",
					src->enabled ? "no SSF transmitter is configured (sources.ssf.issuer)"
						     : "the ssf source is switched off (sources.ssf.enabled)",
					NULL, NULL);
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return MHD_NO;
	st->who.issuer = st->who.subject = st->who.token_id = "";
	req->state = st;
	req->state_free = ssf_state_free;
	if (sr_ingest_uses_secret(req->app->ingest, src)) {
		const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
							    MHD_HTTP_HEADER_AUTHORIZATION);
		if (!sr_ingest_secret_ok(req->app->ingest, src, h)) {
			sr_metric_add(SR_M_TOKEN_REFUSALS,
				      (const char *[]){h ? "source_secret" : "missing"}, 1);
			return set_error(req, "authentication_failed",
					 h ? "the Authorization header is not the value configured"
					     " for this receiver"
					   : "the Authorization header this receiver is configured with"
					     " is required");
		}
	}
	if (!secevent_media(req))
		return set_error(req, "invalid_request",
				 "Content-Type must be application/secevent+jwt (RFC 8935)");
	n = req->body.len;
	while (n > 0 && (req->body.data[n - 1] == '\n' || req->body.data[n - 1] == '\r' ||
			 req->body.data[n - 1] == ' '))
		req->body.data[--n] = '\0';
	if (sr_auth_verify_set(req->app->auth, req->body.data ? req->body.data : "", n, &check,
			       sr_clock_now(), &st->who, &fault, &err) != SR_OK) {
		if (fault == SR_AUTH_FAULT_UNAVAILABLE) /* a 400 would make it drop the SET */
			return sr_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
						err.msg, NULL, NULL);
		sr_metric_add(SR_M_TOKEN_REFUSALS, (const char *[]){fault_reason(fault)}, 1);
		return set_error(req, fault_code(fault), err.msg);
	}
	if (sr_ssf_parse(st->who.claims, sr_clock_now(), cfg->clock_skew, &st->batch, &err) != SR_OK)
		return err.code == SR_ENOMEM ? sr_respond_err(req, &err)
					     : set_error(req, "invalid_request", err.msg);
	ev = &st->batch.v[0];
	if (strcmp(ev->kind, "verification") == 0) {
		char quoted[300], jti[300];
		sr_log(SR_LOG_INFO, "ssf.verification", "request_id=%s issuer=%s jti=%s", req->id,
		       sr_log_quote(quoted, sizeof(quoted), st->who.issuer),
		       sr_log_value(jti, sizeof(jti), ev->event_id));
		return sr_respond_body(req, MHD_HTTP_ACCEPTED, NULL, "", 0);
	}
	/* A jti is unique per transmitter: scoped by issuer, as group-change ids. */
	n = strlen(st->who.issuer) + 1 + strlen(ev->event_id) + 1;
	if ((scoped = malloc(n)) == NULL)
		return MHD_NO;
	snprintf(scoped, n, "%s#%s", st->who.issuer, ev->event_id);
	free(ev->event_id);
	ev->event_id = scoped;

	return sr_events_submit(req, src, &st->batch, &st->who, &st->job, answer);
}
