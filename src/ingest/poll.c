/*
 * poll.c - the Auth0 catch-up poll (ingest.h, sources.auth0.poll): events the
 * log stream missed while the service or the stream was down still revoke.
 *
 * DESIGN: one thread reads GET /api/v2/logs?from=<checkpoint>&take=<take>
 * through the Management API client, parses the page as the log stream's
 * own parser does (sr_auth0_parse), hands it to sr_ingest_commit() as source
 * "auth0" (so an event both pushed and polled is one event by its log_id),
 * and only once that committed moves the checkpoint (store meta key
 * "auth0.poll.checkpoint") to the page's last log_id. A full page is followed
 * at once by the next; otherwise it waits poll.interval_seconds. Auth0's
 * rate-limit headers stretch any wait; failures back off from 2 s, doubling,
 * to 300 s (or the interval, if longer). With no checkpoint the poll starts
 * at poll.from if configured, else at the tenant's newest event at that
 * moment (not the whole retention period), or, when the tenant has no logs
 * yet, at the oldest (stored as ""); that starting point is stored at once,
 * so a restart resumes from it. Waits are on a condition variable, so
 * sr_auth0_poll_stop() returns as soon as the round in progress (at most one
 * request, capped by http_client.timeout_seconds, and one commit) is done.
 */
#include "session_revoker/ingest.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECKPOINT_KEY "auth0.poll.checkpoint"
#define BACKOFF_FIRST 2
#define BACKOFF_MAX 300

struct sr_auth0_poll {
	struct sr_ingest *ing;
	const struct sr_source_config *src;
	struct sr_store *store;
	struct sr_auth0_api *api;
	int take;
	int64_t interval;
	int failures;          /* in a row, for the backoff */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;   /* CLOCK_MONOTONIC */
	bool stop;
};

static int64_t backoff(struct sr_auth0_poll *p, int64_t wait)
{
	int64_t d = BACKOFF_FIRST, max = p->interval > BACKOFF_MAX ? p->interval : BACKOFF_MAX;
	int i;

	for (i = 0; i < p->failures && d < max; i++)
		d *= 2;
	p->failures++;
	d = d > max ? max : d;
	return wait > d ? wait : d;
}

static void log_failure(const char *what, const struct sr_err *err, int64_t delay)
{
	char q[300];

	sr_log(SR_LOG_WARN, "auth0.poll.failed", "step=%s error=%s retry_in=%lld", what,
	       sr_log_quote(q, sizeof(q), err->msg), (long long)delay);
}

/* Where this round reads from. OUT *from: new string, NULL for the oldest
 * retained event (a tenant without logs yet). */
static enum sr_rc checkpoint(struct sr_auth0_poll *p, char **from, int64_t *wait,
			     struct sr_err *err)
{
	char q[160];
	enum sr_rc rc;

	*from = NULL;
	*wait = 0;
	rc = sr_store_meta_get(p->store, CHECKPOINT_KEY, from, err);
	if (rc != SR_ENOTFOUND)
		return rc;
	sr_err_clear(err);
	if (p->src->poll.from != NULL && p->src->poll.from[0] != '\0') {
		if ((*from = strdup(p->src->poll.from)) == NULL)
			return sr_err_set(err, SR_ENOMEM, "out of memory");
	} else if ((rc = sr_auth0_api_newest_log(p->api, from, wait, err)) != SR_OK) {
		return rc;
	} else if (*from == NULL && (*from = strdup("")) == NULL) {
		/* No logs yet: every event to come is new ("" reads from the
		 * oldest retained). */
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	/* Kept at once: a restart before the first event resumes here. */
	if ((rc = sr_store_meta_put(p->store, CHECKPOINT_KEY, *from, err)) != SR_OK) {
		free(*from);
		*from = NULL;
		return rc;
	}
	sr_log(SR_LOG_INFO, "auth0.poll.start", "from=%s reason=%s",
	       (*from)[0] ? sr_log_quote(q, sizeof(q), *from) : "oldest",
	       p->src->poll.from != NULL && p->src->poll.from[0] != '\0' ? "configured" :
	       (*from)[0] ? "newest_event" : "no_logs_yet");
	return SR_OK;
}

static size_t count(json_t *summary, const char *key)
{
	json_t *v = json_object_get(summary, key);

	return json_is_array(v) ? json_array_size(v) : json_is_integer(v) ? (size_t)json_integer_value(v) : 0;
}

/* One page: fetch, parse, commit, move the checkpoint. Returns the seconds
 * to wait before the next. */
static int64_t round_once(struct sr_auth0_poll *p)
{
	struct sr_ingest_sender sender = {.issuer = "auth0-poll", .subject = p->src->lookup.domain};
	struct sr_event_batch batch = {0};
	struct sr_err err = {0};
	json_t *summary = NULL;
	char *from = NULL, *body = NULL, q[160];
	const char *last = NULL;
	int64_t wait = 0, delay;
	size_t len = 0, i;
	enum sr_rc rc;

	if ((rc = checkpoint(p, &from, &wait, &err)) != SR_OK) {
		delay = backoff(p, wait);
		log_failure("checkpoint", &err, delay);
		goto out;
	}
	if ((rc = sr_auth0_api_logs(p->api, from, p->take, &body, &len, &wait, &err)) != SR_OK) {
		delay = backoff(p, wait);
		log_failure("logs", &err, delay);
		goto out;
	}
	if ((rc = sr_auth0_parse(body, len, &batch, &err)) != SR_OK) {
		delay = backoff(p, wait);
		log_failure("parse", &err, delay);
		goto out;
	}
	if (batch.n == 0) {
		p->failures = 0;
		delay = wait > p->interval ? wait : p->interval;
		goto out;
	}
	for (i = batch.n; i > 0 && last == NULL; i--)
		last = batch.v[i - 1].event_id;
	if (last == NULL) {
		sr_err_set(&err, SR_EINVAL, "no event of the page has a log_id");
		delay = backoff(p, wait);
		log_failure("parse", &err, delay);
		goto out;
	}
	rc = sr_ingest_commit(p->ing, p->src, &batch, &sender, sr_clock_now(), &summary, &err);
	if (rc != SR_OK) {
		delay = backoff(p, wait);
		log_failure("commit", &err, delay);
		goto out;
	}
	if ((rc = sr_store_meta_put(p->store, CHECKPOINT_KEY, last, &err)) != SR_OK) {
		delay = backoff(p, wait);
		log_failure("checkpoint", &err, delay);
		goto out;
	}
	p->failures = 0;
	delay = (int)batch.n >= p->take ? wait : wait > p->interval ? wait : p->interval;
	sr_log(SR_LOG_INFO, "auth0.poll.page",
	       "events=%zu revocations=%zu replayed=%zu dropped=%zu errors=%zu checkpoint=%s next_in=%lld",
	       batch.n, count(summary, "revocations"), count(summary, "replayed"),
	       count(summary, "dropped"), count(summary, "errors"), sr_log_quote(q, sizeof(q), last),
	       (long long)delay);
out:
	json_decref(summary);
	sr_event_batch_free(&batch);
	free(body);
	free(from);
	return delay;
}

static void *run(void *arg)
{
	struct sr_auth0_poll *p = arg;
	int64_t delay = 0;
	struct timespec until;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		if (delay > 0) {
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += delay;
			while (!p->stop && pthread_cond_timedwait(&p->cond, &p->mu, &until) != ETIMEDOUT)
				;
			if (p->stop)
				break;
		}
		pthread_mutex_unlock(&p->mu);
		delay = round_once(p);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

enum sr_rc sr_auth0_poll_start(struct sr_ingest *ing, const struct sr_source_config *src,
			       struct sr_store *store, struct sr_auth0_poll **out,
			       struct sr_err *err)
{
	struct sr_auth0_poll *p;
	pthread_condattr_t ca;
	struct sr_auth0_api *api = sr_ingest_auth0_api(ing);
	char q[160];

	*out = NULL;
	if (api == NULL)
		return sr_err_set(err, SR_ECONFIG,
				  "sources.auth0.poll: needs sources.auth0.lookup of kind \"auth0\" (the Management API's client credentials)");
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	p->ing = ing;
	p->src = src;
	p->store = store;
	p->api = api;
	p->take = src->poll.take < 1 ? 100 : src->poll.take > 100 ? 100 : (int)src->poll.take;
	p->interval = src->poll.interval_seconds < 1 ? 1 : src->poll.interval_seconds;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&p->thread, NULL, run, p) != 0) {
		pthread_cond_destroy(&p->cond);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return sr_err_set(err, SR_EINTERNAL, "cannot start the Auth0 poll thread");
	}
	sr_log(SR_LOG_INFO, "auth0.poll.started", "domain=%s interval=%lld take=%d",
	       sr_log_quote(q, sizeof(q), src->lookup.domain), (long long)p->interval, p->take);
	*out = p;
	return SR_OK;
}

void sr_auth0_poll_stop(struct sr_auth0_poll *p)
{
	char q[160];

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->mu);
	sr_log(SR_LOG_INFO, "auth0.poll.stopped", "domain=%s",
	       sr_log_quote(q, sizeof(q), p->src->lookup.domain));
	free(p);
}
