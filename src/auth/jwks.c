/*
 * jwks.c - an issuer's JWK Set fetched over HTTPS (auth.issuers[].jwks_url)
 * and kept fresh while the service runs.
 *
 * DESIGN: one thread per jwks_url issuer does every fetch of that issuer
 * (sr_fetch(): TLS verified against http_client.ca_file, time and size
 * capped by http_client.*), parses the answer with sr_keys_parse_jwks() and
 * publishes the result as a new reference-counted struct sr_keys_ref. A
 * verifying thread takes a reference under the mutex (a pointer copy and an
 * increment), verifies without any lock, and drops the reference; a swap
 * never waits for verifications and the old set is freed by whoever drops
 * the last reference. So a slow or hanging provider never stalls
 * verification.
 *
 * When: at start at once; after a good answer again at 9/10 of its lifetime
 * (Cache-Control max-age clamped to [JWKS_TTL_MIN, JWKS_TTL_MAX], no header:
 * JWKS_TTL_DEFAULT, no-store/no-cache or an invalid max-age: the minimum);
 * after a failure with exponential backoff (1 s doubling to JWKS_BACKOFF_MAX,
 * longer when the provider sends Retry-After). The last good set is kept
 * through failures (logged "stale" once past its lifetime, never with key
 * material). A token naming a kid the set does not hold asks the thread for
 * an early fetch, at most once per jwks_min_refresh_seconds per issuer: the
 * request that asked waits for that one fetch (bounded by the fetch
 * timeout); every other unknown kid within the window is refused at once
 * without a fetch, so a flood of made-up kids costs the provider one request
 * per window. An answer identical to the held one changes nothing (the
 * verified-token cache of verify.c keeps its entries); a changed set is
 * announced through the changed() callback, which clears that cache.
 */
#include "auth_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "session_revoker/fetch.h"

#define JWKS_TTL_MIN 300
#define JWKS_TTL_MAX 86400
#define JWKS_TTL_DEFAULT 3600
#define JWKS_BACKOFF_MAX 60
#define JWKS_RETRY_AFTER_MAX 3600

struct sr_jwks {
	const struct sr_issuer *is; /* borrowed from the config */
	const char *ca_file;        /* borrowed; NULL: the system's CA store */
	int64_t timeout;
	size_t max_bytes;
	sr_jwks_changed_fn changed;
	void *arg;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu; /* guards everything below */
	pthread_cond_t cv;  /* CLOCK_MONOTONIC: the thread's timer, and "a fetch ended" */
	struct sr_keys_ref *cur; /* NULL: no good answer yet */
	char *body;              /* the answer cur was parsed from */
	size_t body_len;
	unsigned serial;
	bool stop, want, busy;
	uint64_t attempts;        /* fetches ended */
	int64_t next_fetch;       /* monotonic ms */
	int64_t stale_at;         /* monotonic ms: cur's lifetime ends */
	int64_t last_kid_refresh; /* monotonic ms; INT64_MIN: never */
	unsigned failures;        /* in a row */
	char error[sizeof(((struct sr_err *)0)->msg)]; /* why the last fetch failed; "" after a good one */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits on j->cv until monotonic ms at (j->mu held). */
static int wait_until(struct sr_jwks *j, int64_t at)
{
	struct timespec ts = {.tv_sec = at / 1000, .tv_nsec = (at % 1000) * 1000000};

	return pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

/* Seconds in a delta-seconds value (RFC 9111 §1.2.2: digits only), or -1. */
static int64_t delta_seconds(const char *p, size_t n)
{
	int64_t v = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (v < INT64_MAX / 10 - 10) /* larger than any bound: saturate */
			v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* One cache-directive (token [ "=" ( token / quoted-string ) ]) of n bytes
 * at p; lowers *ttl to what it allows (-1: nothing said yet). */
static void directive(const char *p, size_t n, int64_t *ttl)
{
	const char *eq;
	size_t name_len;
	int64_t v;

	while (n > 0 && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	eq = memchr(p, '=', n);
	name_len = eq ? (size_t)(eq - p) : n;
	if ((name_len == 8 && strncasecmp(p, "no-store", 8) == 0) ||
	    (name_len == 8 && strncasecmp(p, "no-cache", 8) == 0)) {
		*ttl = 0;
		return;
	}
	if (name_len != 7 || strncasecmp(p, "max-age", 7) != 0)
		return; /* public, private, must-revalidate, s-maxage (shared caches)... */
	if (eq == NULL) {
		v = -1;
	} else {
		const char *a = eq + 1;
		size_t an = n - name_len - 1;
		if (an >= 2 && a[0] == '"' && a[an - 1] == '"') /* both forms (§5.2) */
			a++, an -= 2;
		v = delta_seconds(a, an);
	}
	if (v < 0)
		v = 0; /* invalid freshness information: treated as stale (§4.2.1) */
	if (*ttl < 0 || v < *ttl) /* conflicting directives: the most restrictive */
		*ttl = v;
}

int64_t sr_jwks_ttl(const char *cache_control)
{
	int64_t ttl = -1;
	const char *p = cache_control;

	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, ",");
		directive(p, n, &ttl);
		p += n;
		if (*p == ',')
			p++;
	}
	if (ttl < 0)
		return JWKS_TTL_DEFAULT;
	if (ttl < JWKS_TTL_MIN)
		return JWKS_TTL_MIN;
	return ttl > JWKS_TTL_MAX ? JWKS_TTL_MAX : ttl;
}

static void ref_free(struct sr_keys_ref *ref)
{
	if (ref == NULL)
		return;
	sr_key_set_clear(&ref->set);
	free(ref);
}

struct sr_keys_ref *sr_jwks_get(struct sr_jwks *j)
{
	struct sr_keys_ref *ref;

	pthread_mutex_lock(&j->mu);
	ref = j->cur;
	if (ref != NULL)
		ref->refs++;
	pthread_mutex_unlock(&j->mu);
	return ref;
}

void sr_jwks_put(struct sr_jwks *j, struct sr_keys_ref *ref)
{
	int last;

	if (ref == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	last = --ref->refs == 0;
	pthread_mutex_unlock(&j->mu);
	if (last)
		ref_free(ref);
}

/* Seconds in a Retry-After header that is delta-seconds, or 0. */
static int64_t retry_after(const char *value)
{
	int64_t v = delta_seconds(value, strlen(value));

	return v < 0 ? 0 : v > JWKS_RETRY_AFTER_MAX ? JWKS_RETRY_AFTER_MAX : v;
}

/* Fetches and parses the set. OUT *fresh (NULL when the answer is the one
 * held), *ttl; *retry: the provider's Retry-After on failure. */
static enum sr_rc fetch_set(struct sr_jwks *j, struct sr_keys_ref **fresh,
			    struct sr_fetch_resp *resp, int64_t *ttl, int64_t *retry,
			    struct sr_err *err)
{
	static const char *const headers[] = {"Accept: application/json", NULL};
	struct sr_fetch_req req = {
		.url = j->is->jwks_url,
		.headers = headers,
		.ca_file = j->ca_file,
		.timeout_seconds = j->timeout,
		.max_bytes = j->max_bytes,
	};
	struct sr_keys_ref *ref = NULL;
	enum sr_rc rc;
	bool same;

	*fresh = NULL;
	rc = sr_fetch(&req, resp, err);
	if (rc != SR_OK)
		return rc;
	if (resp->status != 200) {
		*retry = retry_after(resp->retry_after);
		return sr_err_set(err, SR_EUNAVAIL, "HTTP %ld from the JWKS URL", resp->status);
	}
	*ttl = sr_jwks_ttl(resp->cache_control);
	pthread_mutex_lock(&j->mu);
	same = j->cur != NULL && j->body_len == resp->len &&
	       memcmp(j->body, resp->body, resp->len) == 0;
	pthread_mutex_unlock(&j->mu);
	if (same)
		return SR_OK;
	ref = calloc(1, sizeof(*ref));
	if (ref == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	rc = sr_keys_parse_jwks(resp->body, resp->len, &ref->set, err);
	if (rc == SR_OK && ref->set.n == 0)
		rc = sr_err_set(err, SR_EINVAL, "the JWK Set holds no signing key");
	if (rc != SR_OK) {
		ref_free(ref);
		return rc;
	}
	*fresh = ref;
	return SR_OK;
}

/* One fetch, its result published and logged. Called without j->mu. */
static void fetch_once(struct sr_jwks *j)
{
	struct sr_fetch_resp resp = {0};
	struct sr_keys_ref *fresh = NULL, *old = NULL;
	struct sr_err err = {0};
	int64_t ttl = 0, retry = 0, backoff = 0, now;
	size_t n_keys = 0;
	unsigned serial = 0;
	bool stale = false;
	char issuer[200], why[300];
	enum sr_rc rc;

	rc = fetch_set(j, &fresh, &resp, &ttl, &retry, &err);
	pthread_mutex_lock(&j->mu);
	now = mono_ms();
	if (rc == SR_OK) {
		if (fresh != NULL) {
			old = j->cur;
			fresh->refs = 1;
			fresh->serial = serial = ++j->serial;
			j->cur = fresh;
			free(j->body);
			j->body = resp.body; /* public keys: no cleansing needed */
			j->body_len = resp.len;
			resp.body = NULL;
		}
		j->failures = 0;
		j->error[0] = '\0';
		j->stale_at = now + ttl * 1000;
		j->next_fetch = now + ttl * 900;
		n_keys = j->cur->set.n;
	} else {
		j->failures++;
		backoff = j->failures > 7 ? JWKS_BACKOFF_MAX : (int64_t)1 << (j->failures - 1);
		if (backoff > JWKS_BACKOFF_MAX)
			backoff = JWKS_BACKOFF_MAX;
		if (retry > backoff)
			backoff = retry;
		j->next_fetch = now + backoff * 1000;
		snprintf(j->error, sizeof(j->error), "%s", err.msg);
		n_keys = j->cur ? j->cur->set.n : 0;
		stale = j->cur != NULL && now >= j->stale_at;
	}
	pthread_mutex_unlock(&j->mu);
	sr_log_quote(issuer, sizeof(issuer), j->is->issuer);
	if (rc == SR_OK)
		sr_log(SR_LOG_INFO, "jwks.fetched", "issuer=%s keys=%zu changed=%s cache_seconds=%lld",
		       issuer, n_keys, fresh ? "true" : "false", (long long)ttl);
	else
		sr_log(SR_LOG_WARN, "jwks.fetch_failed",
		       "issuer=%s error=%s keys=%s kept=%zu retry_in_seconds=%lld", issuer,
		       sr_log_quote(why, sizeof(why), err.msg),
		       n_keys == 0 ? "none" : stale ? "stale" : "fresh", n_keys,
		       (long long)backoff);
	if (fresh != NULL && j->changed != NULL)
		j->changed(j->arg, serial);
	sr_jwks_put(j, old);
	sr_fetch_resp_free(&resp);
}

static void *run(void *arg)
{
	struct sr_jwks *j = arg;

	pthread_mutex_lock(&j->mu);
	while (!j->stop) {
		if (!j->want && mono_ms() < j->next_fetch) {
			wait_until(j, j->next_fetch);
			continue;
		}
		j->want = false;
		j->busy = true;
		pthread_mutex_unlock(&j->mu);
		fetch_once(j);
		pthread_mutex_lock(&j->mu);
		j->busy = false;
		j->attempts++;
		pthread_cond_broadcast(&j->cv);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

int sr_jwks_refresh_for_kid(struct sr_jwks *j, const struct sr_keys_ref *seen)
{
	int64_t now, deadline;
	uint64_t until;
	int changed;

	pthread_mutex_lock(&j->mu);
	if (j->cur != seen) { /* replaced since the caller looked */
		pthread_mutex_unlock(&j->mu);
		return 1;
	}
	now = mono_ms();
	if (j->stop || (j->last_kid_refresh != INT64_MIN &&
			now - j->last_kid_refresh < j->is->jwks_min_refresh * 1000)) {
		pthread_mutex_unlock(&j->mu);
		return 0;
	}
	j->last_kid_refresh = now;
	j->want = true;
	/* A fetch already running may have started before the key was
	 * published: wait for the one after it. */
	until = j->attempts + (j->busy ? 2 : 1);
	deadline = now + ((j->busy ? 2 : 1) * j->timeout + 1) * 1000;
	pthread_cond_broadcast(&j->cv);
	while (j->attempts < until && !j->stop)
		if (wait_until(j, deadline) == ETIMEDOUT)
			break;
	changed = j->cur != seen;
	pthread_mutex_unlock(&j->mu);
	return changed;
}

enum sr_rc sr_jwks_ready(struct sr_jwks *j, struct sr_err *err)
{
	enum sr_rc rc = SR_OK;

	pthread_mutex_lock(&j->mu);
	if (j->cur == NULL)
		rc = sr_err_set(err, SR_EUNAVAIL, "issuer %s: signing keys not loaded from its jwks_url: %s",
				j->is->issuer, j->error[0] ? j->error : "first fetch not done yet");
	pthread_mutex_unlock(&j->mu);
	return rc;
}

void sr_jwks_free(struct sr_jwks *j)
{
	if (j == NULL)
		return;
	if (j->started) {
		pthread_mutex_lock(&j->mu);
		j->stop = true;
		pthread_cond_broadcast(&j->cv);
		pthread_mutex_unlock(&j->mu);
		pthread_join(j->thread, NULL);
	}
	sr_jwks_put(j, j->cur);
	free(j->body);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	free(j);
}

enum sr_rc sr_jwks_start(const struct sr_config *cfg, const struct sr_issuer *is,
			 sr_jwks_changed_fn changed, void *arg, struct sr_jwks **out,
			 struct sr_err *err)
{
	struct sr_jwks *j;
	pthread_condattr_t attr;

	*out = NULL;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	j->is = is;
	j->ca_file = cfg->http_client_ca_file;
	j->timeout = cfg->http_client_timeout;
	j->max_bytes = (size_t)cfg->http_client_max_bytes;
	j->changed = changed;
	j->arg = arg;
	j->last_kid_refresh = INT64_MIN;
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&j->thread, NULL, run, j) != 0) {
		sr_jwks_free(j);
		return sr_err_set(err, SR_EINTERNAL, "issuer %s: cannot start the JWKS thread",
				  is->issuer);
	}
	j->started = true;
	*out = j;
	return SR_OK;
}
