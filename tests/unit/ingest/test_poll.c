/*
 * test_poll.c - the Auth0 catch-up poll (poll.c) against a scripted Auth0
 * (fakehttp.h) and a real store (the checkpoint). The pipeline is replaced
 * here by a recorder of what the poll hands it (sr_ingest_commit, which can
 * be told to fail): this tests when the poll reads, what it hands on, and
 * when the checkpoint moves. tests/integration/test_auth0_api.py runs it
 * inside the service with the real pipeline. The store is on SQLite, and on
 * PostgreSQL in unit.test_poll.pg (testkit.h: tk_store_url).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../testkit.h"
#include "fakehttp.h"
#include "session_revoker/ingest.h"

#define DOMAIN "https://example.auth0.com"

/* ---- the pipeline's stand-in ---- */

struct sr_ingest {
	struct sr_auth0_api *api;
};

static struct {
	pthread_mutex_t mu;
	int calls;
	int fail_next;
	char ids[64][32];
	size_t n_ids;
	char issuer[32], subject[64];
} rec = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct sr_auth0_api *sr_ingest_auth0_api(struct sr_ingest *ing)
{
	return ing->api;
}

enum sr_rc sr_ingest_commit(struct sr_ingest *ing, const struct sr_source_config *source,
			    struct sr_event_batch *batch, const struct sr_ingest_sender *sender,
			    int64_t now, json_t **summary, struct sr_err *err)
{
	size_t i;

	(void)ing, (void)source, (void)now;
	*summary = NULL;
	pthread_mutex_lock(&rec.mu);
	rec.calls++;
	snprintf(rec.issuer, sizeof(rec.issuer), "%s", sender->issuer);
	snprintf(rec.subject, sizeof(rec.subject), "%s", sender->subject);
	for (i = 0; i < batch->n && rec.n_ids < 64; i++)
		snprintf(rec.ids[rec.n_ids++], sizeof(rec.ids[0]), "%s",
			 batch->v[i].event_id ? batch->v[i].event_id : "(none)");
	if (rec.fail_next) {
		rec.fail_next = 0;
		pthread_mutex_unlock(&rec.mu);
		return sr_err_set(err, SR_ESTORE, "the disk is full (test)");
	}
	pthread_mutex_unlock(&rec.mu);
	*summary = json_pack("{s:i, s:[], s:i, s:i, s:[]}", "received", (int)batch->n,
			     "revocations", "replayed", 0, "dropped", (int)batch->n, "errors");
	return SR_OK;
}

static int calls(void)
{
	int n;

	pthread_mutex_lock(&rec.mu);
	n = rec.calls;
	pthread_mutex_unlock(&rec.mu);
	return n;
}

static const char *ids(void)
{
	static char out[1024];
	size_t i;

	pthread_mutex_lock(&rec.mu);
	out[0] = '\0';
	for (i = 0; i < rec.n_ids; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? "," : "", rec.ids[i]);
	pthread_mutex_unlock(&rec.mu);
	return out;
}

/* ---- fixtures ---- */

static const char *dir;
static char *secret_file;
static char *store_url; /* the current test's store (tk_store_url) */

struct fixture {
	struct sr_store *store;
	struct sr_auth0_api *api;
	struct sr_ingest ing;
	struct sr_source_config src;
};

static void open_fixture(struct fixture *f, const char *from, int keep_store)
{
	struct sr_lookup_config lc = {.kind = "auth0", .client_id = "cid",
				      .client_secret_file = secret_file};
	struct sr_http_client_config hc = {.timeout_seconds = 5, .max_bytes = 64 * 1024};
	struct sr_err err = {0};

	if (!keep_store || store_url == NULL) {
		free(store_url);
		store_url = tk_store_url();
	}
	assert_int_equal(sr_store_open(store_url, 2, &f->store, &err), SR_OK);
	lc.domain = (char *)fh_base();
	assert_int_equal(sr_auth0_api_new(&lc, &hc, &f->api, &err), SR_OK);
	f->ing.api = f->api;
	memset(&f->src, 0, sizeof(f->src));
	f->src.name = "auth0";
	f->src.enabled = true;
	f->src.lookup.domain = DOMAIN;
	f->src.poll.enabled = true;
	f->src.poll.interval_seconds = 3600;
	f->src.poll.take = 2;
	f->src.poll.from = (char *)from;
	pthread_mutex_lock(&rec.mu);
	rec.calls = 0;
	rec.n_ids = 0;
	rec.fail_next = 0;
	pthread_mutex_unlock(&rec.mu);
}

static void close_fixture(struct fixture *f)
{
	sr_auth0_api_free(f->api);
	sr_store_close(f->store);
}

static char *checkpoint(struct fixture *f)
{
	static char out[128];
	struct sr_err err = {0};
	char *v = NULL;
	enum sr_rc rc = sr_store_meta_get(f->store, "auth0.poll.checkpoint", &v, &err);

	if (rc == SR_ENOTFOUND)
		return NULL;
	assert_int_equal(rc, SR_OK);
	snprintf(out, sizeof(out), "%s", v);
	free(v);
	return out;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits up to ms for the commit count to reach n. */
static void wait_calls(int n, int ms)
{
	long long until = mono_ms() + ms;

	while (calls() < n && mono_ms() < until)
		usleep(20 * 1000);
	assert_int_equal(calls(), n);
}

static void stop_promptly(struct sr_auth0_poll *poll)
{
	long long t0 = mono_ms();

	sr_auth0_poll_stop(poll);
	assert_true(mono_ms() - t0 < 1000);
}

/* The i-th request whose target starts with prefix. */
static struct fh_request nth(const char *prefix, size_t want)
{
	struct fh_request r;
	size_t i, seen = 0;

	for (i = 0; fh_request(i, &r); i++)
		if (strncmp(r.target, prefix, strlen(prefix)) == 0 && seen++ == want)
			return r;
	fail_msg("no request #%zu to %s", want, prefix);
	return r;
}

#define EV(id) "{\"log_id\":\"" id "\",\"date\":\"2026-03-12T09:00:00.000Z\",\"type\":\"sdu\"," \
	       "\"user_id\":\"auth0|u-" id "\",\"description\":\"User successfully deleted\"}"

/* ---- tests ---- */

/* No checkpoint, no poll.from: start at the newest event (stored at once);
 * a full page is followed at once by the next, a partial one waits the
 * interval; the checkpoint moves to each page's last log_id and survives a
 * restart. */
static void test_first_start_pages_and_restart(void **state)
{
	struct sr_auth0_poll *poll = NULL;
	struct sr_err err = {0};
	struct fixture f;

	(void)state;
	fh_reset();
	fh_add(&(struct fh_canned){"/api/v2/logs?sort=date:-1&per_page=1", 200, "[" EV("L002") "]"});
	fh_add(&(struct fh_canned){"/api/v2/logs?from=L002&take=2", 200, "[" EV("L003") "," EV("L004") "]",
				   {NULL}, 0, 1});
	fh_add(&(struct fh_canned){"/api/v2/logs?from=L004&take=2", 200, "[" EV("L005") "]", {NULL}, 0, 1});
	fh_add(&(struct fh_canned){"/api/v2/logs?from=L005&take=2", 200, "[]"});
	open_fixture(&f, NULL, 0);
	assert_int_equal(sr_auth0_poll_start(&f.ing, &f.src, f.store, &poll, &err), SR_OK);
	wait_calls(2, 5000);
	usleep(500 * 1000);
	assert_string_equal(ids(), "L003,L004,L005");
	assert_string_equal(checkpoint(&f), "L005");
	assert_string_equal(rec.issuer, "auth0-poll");
	assert_string_equal(rec.subject, DOMAIN);
	assert_int_equal(fh_count("/api/v2/logs?sort=date:-1&per_page=1&page=0"), 1);
	assert_int_equal(fh_count("/api/v2/logs?from=L002&take=2"), 1);
	assert_int_equal(fh_count("/api/v2/logs?from=L004&take=2"), 1);
	/* [L005] was not full: the next read waits the interval. */
	assert_int_equal(fh_count("/api/v2/logs?from=L005"), 0);
	assert_int_equal(fh_count("/api/v2/logs?take"), 0);
	stop_promptly(poll);
	close_fixture(&f);

	/* A restart reads on from the stored checkpoint. */
	open_fixture(&f, NULL, 1);
	assert_int_equal(sr_auth0_poll_start(&f.ing, &f.src, f.store, &poll, &err), SR_OK);
	{
		long long until = mono_ms() + 5000;
		while (fh_count("/api/v2/logs?from=L005") == 0 && mono_ms() < until)
			usleep(20 * 1000);
	}
	assert_int_equal(fh_count("/api/v2/logs?from=L005&take=2"), 1);
	assert_int_equal(fh_count("/api/v2/logs?sort"), 1);
	assert_int_equal(calls(), 0); /* an empty page commits nothing */
	stop_promptly(poll);
	close_fixture(&f);
}

/* A tenant without logs at the first start: whatever comes later is new, so
 * the poll reads from the oldest, and keeps to it (the newest is not asked
 * again: an event arriving meanwhile would be skipped). */
static void test_first_start_without_logs(void **state)
{
	struct sr_auth0_poll *poll = NULL;
	struct sr_err err = {0};
	struct fixture f;

	(void)state;
	fh_reset();
	fh_add(&(struct fh_canned){"/api/v2/logs?sort=date:-1&per_page=1", 200, "[]"});
	fh_add(&(struct fh_canned){"/api/v2/logs?take=2", 200, "[]", {NULL}, 0, 1});
	fh_add(&(struct fh_canned){"/api/v2/logs?take=2", 200, "[" EV("L001") "]", {NULL}, 0, 1});
	fh_add(&(struct fh_canned){"/api/v2/logs?from=L001&take=2", 200, "[]"});
	open_fixture(&f, NULL, 0);
	f.src.poll.interval_seconds = 1;
	assert_int_equal(sr_auth0_poll_start(&f.ing, &f.src, f.store, &poll, &err), SR_OK);
	wait_calls(1, 5000);
	stop_promptly(poll);
	assert_string_equal(ids(), "L001");
	assert_string_equal(checkpoint(&f), "L001");
	assert_int_equal(fh_count("/api/v2/logs?sort"), 1);
	close_fixture(&f);
}

/* poll.from is where a poll without a checkpoint starts. */
static void test_configured_from(void **state)
{
	struct sr_auth0_poll *poll = NULL;
	struct sr_err err = {0};
	struct fixture f;

	(void)state;
	fh_reset();
	fh_add(&(struct fh_canned){"/api/v2/logs?from=L003&take=2", 200, "[" EV("L004") "]"});
	open_fixture(&f, "L003", 0);
	assert_int_equal(sr_auth0_poll_start(&f.ing, &f.src, f.store, &poll, &err), SR_OK);
	wait_calls(1, 5000);
	assert_string_equal(ids(), "L004");
	stop_promptly(poll);
	assert_string_equal(checkpoint(&f), "L004");
	assert_int_equal(fh_count("/api/v2/logs?sort"), 0);
	close_fixture(&f);
}

/* A page whose commit fails leaves the checkpoint where it was, and the same
 * page is read and handed on again after a backoff. */
static void test_commit_failure_keeps_checkpoint(void **state)
{
	struct sr_auth0_poll *poll = NULL;
	struct sr_err err = {0};
	struct fh_request a, b;
	struct fixture f;

	(void)state;
	fh_reset();
	fh_add(&(struct fh_canned){"/api/v2/logs?from=L010&take=2", 200, "[" EV("L011") "]"});
	open_fixture(&f, "L010", 0);
	pthread_mutex_lock(&rec.mu);
	rec.fail_next = 1;
	pthread_mutex_unlock(&rec.mu);
	assert_int_equal(sr_auth0_poll_start(&f.ing, &f.src, f.store, &poll, &err), SR_OK);
	wait_calls(1, 5000);
	usleep(200 * 1000);
	assert_string_equal(checkpoint(&f), "L010"); /* where it started, not past L011 */
	wait_calls(2, 6000);
	stop_promptly(poll);
	assert_string_equal(ids(), "L011,L011");
	assert_string_equal(checkpoint(&f), "L011");
	a = nth("/api/v2/logs?from=L010", 0);
	b = nth("/api/v2/logs?from=L010", 1);
	assert_true(b.ms - a.ms >= 1900); /* the first backoff: 2 s */
	close_fixture(&f);
}

/* A 429 with Retry-After: the next call waits for it. */
static void test_throttled_waits(void **state)
{
	struct sr_auth0_poll *poll = NULL;
	struct sr_err err = {0};
	struct fh_request a, b;
	struct fixture f;

	(void)state;
	fh_reset();
	fh_add(&(struct fh_canned){"/api/v2/logs?from=L020&take=2", 429, "{\"statusCode\":429}",
				   {"Retry-After: 3", "X-RateLimit-Remaining: 0", NULL}, 0, 1});
	fh_add(&(struct fh_canned){"/api/v2/logs?from=L020&take=2", 200, "[" EV("L021") "]"});
	open_fixture(&f, "L020", 0);
	assert_int_equal(sr_auth0_poll_start(&f.ing, &f.src, f.store, &poll, &err), SR_OK);
	wait_calls(1, 8000);
	stop_promptly(poll);
	a = nth("/api/v2/logs?from=L020", 0);
	b = nth("/api/v2/logs?from=L020", 1);
	assert_true(b.ms - a.ms >= 2900);
	assert_string_equal(checkpoint(&f), "L021");
	close_fixture(&f);
}

/* Without the Management API client there is nothing to poll with. */
static void test_needs_the_api(void **state)
{
	struct sr_source_config src = {.name = "auth0"};
	struct sr_ingest ing = {NULL};
	struct sr_auth0_poll *poll = NULL;
	struct sr_err err = {0};

	(void)state;
	assert_int_equal(sr_auth0_poll_start(&ing, &src, NULL, &poll, &err), SR_ECONFIG);
	assert_non_null(strstr(err.msg, "sources.auth0.lookup"));
	assert_null(poll);
	sr_auth0_poll_stop(NULL);
}

static int setup(void **state)
{
	(void)state;
	dir = tk_tmpdir();
	secret_file = tk_write(dir, "secret", "s3cr3t\n");
	fh_start();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fh_stop();
	free(secret_file);
	free(store_url);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_start_pages_and_restart),
		cmocka_unit_test(test_first_start_without_logs),
		cmocka_unit_test(test_configured_from),
		cmocka_unit_test(test_commit_failure_keeps_checkpoint),
		cmocka_unit_test(test_throttled_waits),
		cmocka_unit_test(test_needs_the_api),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
