/*
 * metrics.c - GET /metrics: the Prometheus text exposition format.
 *
 * The counters are in memory; the store's gauges (revocations, jobs, job
 * lag) are read at scrape time on a thread of its own while the connection
 * is suspended, so a slow count never holds up the event loop.
 */
#include "../http_int.h"

#include <pthread.h>
#include <stdlib.h>

#include "session_revoker/metrics.h"

#define MAX_EXPOSITION (4u << 20)

struct scrape {
	struct sr_request *req;
	struct sr_buf text;
	enum sr_rc rc;
	struct sr_err err;
};

static void scrape_free(void *p)
{
	struct scrape *s = p;

	sr_buf_free(&s->text);
	free(s);
}

/* One scrape at a time reads the store and prints: the store's gauges are
 * zeroed and set afresh, and another scrape must never print them between. */
static pthread_mutex_t scrape_mu = PTHREAD_MUTEX_INITIALIZER;

static void *scrape_main(void *arg)
{
	struct scrape *s = arg;
	struct sr_metrics *m = sr_metrics_service();

	pthread_mutex_lock(&scrape_mu);
	if (m == NULL)
		s->rc = sr_err_set(&s->err, SR_ENOMEM, "the metrics registry is not available");
	else if ((s->rc = sr_store_metrics(s->req->app->store, m, sr_clock_now(), &s->err)) == SR_OK)
		s->rc = sr_metrics_format(m, &s->text, &s->err);
	pthread_mutex_unlock(&scrape_mu);
	sr_request_wake(s->req);
	return NULL;
}

static enum MHD_Result answer(struct sr_request *req)
{
	struct scrape *s = req->state;

	if (s->rc != SR_OK) {
		/* The store's own words stay in the log, not on the wire. */
		char quoted[300];
		sr_log(SR_LOG_ERROR, "metrics.failed", "request_id=%s error=%s", req->id,
		       sr_log_quote(quoted, sizeof(quoted), s->err.msg));
		return sr_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
					"the metrics could not be read; try again", NULL, NULL);
	}
	return sr_respond_body(req, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
			       s->text.data ? s->text.data : "", s->text.len);
}

enum MHD_Result sr_handle_metrics(struct sr_request *req)
{
	struct scrape *s = calloc(1, sizeof(*s));
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (s == NULL)
		return MHD_NO;
	s->req = req;
	s->text.max = MAX_EXPOSITION;
	req->state = s;
	req->state_free = scrape_free;
	sr_request_suspend(req, answer);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, scrape_main, s);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		s->rc = sr_err_set(&s->err, SR_EUNAVAIL, "cannot start the scrape: try again");
		sr_request_wake(req);
	}
	return MHD_YES;
}
