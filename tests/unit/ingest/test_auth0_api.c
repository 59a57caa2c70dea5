/*
 * test_auth0_api.c - the Auth0 Management API client against a scripted
 * HTTP server (fakehttp.h): the client credentials grant and its cached
 * token, the user's groups from roles or app_metadata, what each failure
 * becomes, and the logs' pages with the rate-limit wait. No message ever
 * holds the client secret or a token.
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

#include <cmocka.h>
#include <curl/curl.h>

#include "../testkit.h"
#include "fakehttp.h"
#include "session_revoker/ingest.h"

#define SECRET "s3cr&t+/= x"
#define SECRET_FORM "s3cr%26t%2B%2F%3D%20x"
#define CLIENT "cid-1"

static const char *dir;
static char *secret_file;

static struct sr_auth0_api *make(const char *groups_from, int64_t timeout)
{
	struct sr_lookup_config lc = {.kind = "auth0", .client_id = CLIENT,
				      .client_secret_file = secret_file,
				      .groups_from = (char *)groups_from};
	struct sr_http_client_config hc = {.timeout_seconds = timeout, .max_bytes = 8192};
	struct sr_auth0_api *api = NULL;
	struct sr_err err = {0};

	lc.domain = (char *)fh_base();
	assert_int_equal(sr_auth0_api_new(&lc, &hc, &api, &err), SR_OK);
	return api;
}

static void assert_clean(const struct sr_err *err)
{
	assert_null(strstr(err->msg, "s3cr"));
	assert_null(strstr(err->msg, "tok-"));
}

static char *join(char **v, size_t n)
{
	static char out[4096];
	size_t i;

	out[0] = '\0';
	for (i = 0; i < n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? "," : "", v[i]);
	return out;
}

/* ---- the user's groups ---- */

#define ROLES "/api/v2/users/auth0%7C5f7c%208ec7%2Fx/roles?per_page=100&page=0"
#define USER "/api/v2/users/auth0%7C5f7c%208ec7%2Fx?fields=app_metadata&include_fields=true"
#define TOKEN_401 "{\"error\":\"access_denied\",\"error_description\":\"Unauthorized\"}"

struct gcase {
	const char *name;
	const char *groups_from;
	struct fh_canned canned[3];
	enum sr_rc want;
	const char *want_groups; /* joined with ',' */
	const char *want_msg;
	size_t want_tokens, want_calls; /* token requests, API calls */
};

static const struct gcase gcases[] = {
	{"roles", NULL,
	 {{ROLES, 200, "[{\"id\":\"rol_1\",\"name\":\"team_opsec\",\"description\":\"x\"},"
		       "{\"id\":\"rol_2\",\"name\":\"team_hr\"}]"}},
	 SR_OK, "team_opsec,team_hr", NULL, 1, 1},
	{"no roles", NULL, {{ROLES, 200, "[]"}}, SR_OK, "", NULL, 1, 1},
	{"duplicate role names folded", NULL,
	 {{ROLES, 200, "[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"a\"}]"}}, SR_OK, "a,b", NULL, 1, 1},
	{"deleted user", NULL,
	 {{ROLES, 404, "{\"statusCode\":404,\"error\":\"Not Found\",\"message\":\"The user does not exist.\","
		       "\"errorCode\":\"inexistent_user\"}"}},
	 SR_ENOTFOUND, NULL, "has no such user", 1, 1},
	{"api failing", NULL, {{ROLES, 503, "{}"}}, SR_EUNAVAIL, NULL,
	 "Auth0 Management API failed (GET /api/v2/users/{id}/roles: HTTP 503)", 1, 1},
	{"api throttling", NULL,
	 {{ROLES, 429, "{}", {"X-RateLimit-Remaining: 0", "X-RateLimit-Reset: 1", NULL}}},
	 SR_EUNAVAIL, NULL, "is throttling us", 1, 1},
	{"api slow", NULL, {{ROLES, 200, "[]", {NULL}, 2500}}, SR_EUNAVAIL, NULL,
	 "did not answer (GET /api/v2/users/{id}/roles): ", 1, 1},
	{"api refuses every token", NULL, {{ROLES, 401, "{}"}}, SR_EUNAVAIL, NULL,
	 "refused our credentials (GET /api/v2/users/{id}/roles: HTTP 401)", 2, 2},
	{"client credentials refused", NULL, {{"/oauth/token", 401, TOKEN_401}}, SR_EUNAVAIL, NULL,
	 "Auth0 refused the client credentials of client cid-1 (HTTP 401: access_denied)", 1, 0},
	{"token endpoint failing", NULL, {{"/oauth/token", 503, "oops"}}, SR_EUNAVAIL, NULL,
	 "Auth0 failed (POST /oauth/token: HTTP 503)", 1, 0},
	{"token answer without a token", NULL,
	 {{"/oauth/token", 200, "{\"token_type\":\"Bearer\",\"expires_in\":60}"}}, SR_EUNAVAIL,
	 NULL, "no usable access_token", 1, 0},
	{"token with a line break", NULL,
	 {{"/oauth/token", 200, "{\"access_token\":\"a\\r\\nX-Evil: 1\",\"expires_in\":60}"}},
	 SR_EUNAVAIL, NULL, "no usable access_token", 1, 0},
	{"token answer cut short", NULL,
	 {{"/oauth/token", 200, "{\"access_token\":\"s3cr-tok-part"}}, SR_EUNAVAIL, NULL,
	 "token answer is not JSON", 1, 0},
	{"token without expires_in", NULL, {{"/oauth/token", 200, "{\"access_token\":\"abc\"}"}},
	 SR_EUNAVAIL, NULL, "no positive expires_in", 1, 0},
	{"role without a name", NULL, {{ROLES, 200, "[{\"id\":\"rol_1\"}]"}}, SR_EUNAVAIL, NULL,
	 "role [0] has no \"name\"", 1, 1},
	{"role with an empty name", NULL, {{ROLES, 200, "[{\"name\":\"\"}]"}}, SR_EUNAVAIL, NULL,
	 "[0] is not a non-empty string", 1, 1},
	{"role name with a control character", NULL, {{ROLES, 200, "[{\"name\":\"a\\u0007b\"}]"}},
	 SR_EUNAVAIL, NULL, "holds control characters", 1, 1},
	{"roles not an array", NULL, {{ROLES, 200, "{\"roles\":[]}"}}, SR_EUNAVAIL, NULL,
	 "are not an array", 1, 1},
	{"roles not JSON", NULL, {{ROLES, 200, "<html>"}}, SR_EUNAVAIL, NULL, "is not JSON", 1, 1},
	{"app_metadata array", "app_metadata.groups",
	 {{USER, 200, "{\"user_id\":\"auth0|5f7c 8ec7/x\",\"app_metadata\":{\"groups\":[\"a\",\"b\"]}}"}},
	 SR_OK, "a,b", NULL, 1, 1},
	{"app_metadata string", "app_metadata.team",
	 {{USER, 200, "{\"app_metadata\":{\"team\":\"team_opsec\"}}"}}, SR_OK, "team_opsec", NULL, 1, 1},
	{"app_metadata without the field", "app_metadata.groups",
	 {{USER, 200, "{\"app_metadata\":{\"other\":1}}"}}, SR_OK, "", NULL, 1, 1},
	{"user without app_metadata", "app_metadata.groups", {{USER, 200, "{\"user_id\":\"x\"}"}},
	 SR_OK, "", NULL, 1, 1},
	{"app_metadata field of the wrong type", "app_metadata.groups",
	 {{USER, 200, "{\"app_metadata\":{\"groups\":5}}"}}, SR_EUNAVAIL, NULL,
	 "app_metadata.groups is not a string or an array of strings", 1, 1},
	{"app_metadata of a deleted user", "app_metadata.groups", {{USER, 404, "{}"}},
	 SR_ENOTFOUND, NULL, "has no such user (GET /api/v2/users/{id}: HTTP 404)", 1, 1},
};

static void test_groups(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(gcases) / sizeof(gcases[0]); i++) {
		const struct gcase *c = &gcases[i];
		struct sr_auth0_api *api;
		struct sr_directory *d;
		struct sr_err err = {0};
		char **groups = NULL;
		size_t n = 0;
		enum sr_rc rc;

		print_message("case: %s\n", c->name);
		fh_reset();
		for (j = 0; j < 3 && c->canned[j].target != NULL; j++)
			fh_add(&c->canned[j]);
		api = make(c->groups_from, 1);
		d = sr_auth0_api_directory(api);
		rc = d->groups(d, "auth0|5f7c 8ec7/x", &groups, &n, &err);
		if (rc != c->want)
			print_error("rc %d, message: %s\n", rc, err.msg);
		assert_int_equal(rc, c->want);
		if (c->want == SR_OK) {
			assert_non_null(groups);
			assert_string_equal(join(groups, n), c->want_groups);
		} else {
			assert_null(groups);
			assert_int_equal(err.code, c->want);
			if (strstr(err.msg, c->want_msg) == NULL)
				print_error("message: %s\n", err.msg);
			assert_non_null(strstr(err.msg, c->want_msg));
		}
		assert_clean(&err);
		assert_int_equal(fh_count("/oauth/token"), c->want_tokens);
		assert_int_equal(fh_count(c->groups_from ? USER : ROLES), c->want_calls);
		sr_strv_free(groups, n);
		d->free(d); /* borrowed: does nothing */
		sr_auth0_api_free(api);
	}
}

/* ---- one attribute of the user (rule target "user") ---- */

#define EMAIL "/api/v2/users/auth0%7C5f7c%208ec7%2Fx?fields=email&include_fields=true"

struct acase {
	const char *name;
	long status;
	const char *body;
	enum sr_rc want;
	const char *want_value; /* NULL: none (rc SR_OK) or an error */
	const char *want_msg;
};

static const struct acase acases[] = {
	{"email", 200, "{\"email\":\"jane.doe@example.com\"}", SR_OK, "jane.doe@example.com", NULL},
	{"other fields beside it", 200, "{\"user_id\":\"x\",\"email\":\"a@b.c\",\"n\":1}", SR_OK,
	 "a@b.c", NULL},
	{"null", 200, "{\"email\":null}", SR_OK, NULL, NULL},
	{"absent", 200, "{\"user_id\":\"x\"}", SR_OK, NULL, NULL},
	{"empty string", 200, "{\"email\":\"\"}", SR_OK, NULL, NULL},
	{"not a string", 200, "{\"email\":42}", SR_EUNAVAIL, NULL,
	 "Auth0's user's email is not a string"},
	{"an object", 200, "{\"email\":{\"value\":\"a@b.c\"}}", SR_EUNAVAIL, NULL,
	 "is not a string"},
	{"not an object", 200, "[\"a@b.c\"]", SR_EUNAVAIL, NULL, "Auth0's user is not an object"},
	{"embedded NUL", 200, "{\"email\":\"a@b.c\\u0000evil\"}", SR_EUNAVAIL, NULL, NULL},
	{"not JSON", 200, "<html>", SR_EUNAVAIL, NULL, "Auth0's user is not JSON"},
	{"deleted user", 404, "{\"statusCode\":404}", SR_ENOTFOUND, NULL, "has no such user"},
	{"api failing", 503, "{}", SR_EUNAVAIL, NULL,
	 "Auth0 Management API failed (GET /api/v2/users/{id}: HTTP 503)"},
};

static void test_attribute(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(acases) / sizeof(acases[0]); i++) {
		const struct acase *c = &acases[i];
		struct fh_canned canned = {EMAIL, c->status, c->body};
		struct sr_auth0_api *api;
		struct sr_directory *d;
		struct sr_err err = {0};
		char *value = (char *)"unset";
		enum sr_rc rc;

		print_message("case: %s\n", c->name);
		fh_reset();
		fh_add(&canned);
		api = make(NULL, 1);
		d = sr_auth0_api_directory(api);
		assert_non_null(d->attribute);
		rc = d->attribute(d, "auth0|5f7c 8ec7/x", "email", &value, &err);
		if (rc != c->want)
			print_error("rc %d, message: %s\n", rc, err.msg);
		assert_int_equal(rc, c->want);
		if (c->want_value != NULL)
			assert_string_equal(value, c->want_value);
		else
			assert_null(value);
		if (c->want != SR_OK) {
			assert_int_equal(err.code, c->want);
			assert_null(strchr(err.msg, '\n'));
			if (c->want_msg != NULL && strstr(err.msg, c->want_msg) == NULL)
				print_error("message: %s\n", err.msg);
			if (c->want_msg != NULL)
				assert_non_null(strstr(err.msg, c->want_msg));
		}
		assert_clean(&err);
		assert_int_equal(fh_count(EMAIL), 1);
		free(value);
		d->free(d);
		sr_auth0_api_free(api);
	}
}

/* No user to ask about: refused before any request. */
static void test_attribute_of_no_one(void **state)
{
	struct sr_auth0_api *api;
	struct sr_directory *d;
	struct sr_err err = {0};
	char *value = NULL;

	(void)state;
	fh_reset();
	api = make(NULL, 1);
	d = sr_auth0_api_directory(api);
	assert_int_equal(d->attribute(d, "", "email", &value, &err), SR_EINVAL);
	assert_null(value);
	assert_non_null(strstr(err.msg, "no user to look up"));
	assert_int_equal(fh_count("/"), 0);
	d->free(d);
	sr_auth0_api_free(api);
}

/* The grant's request as Auth0 documents it, the secret's file's newline
 * trimmed, the audience defaulting to <domain>/api/v2/. */
static void test_token_request(void **state)
{
	struct sr_auth0_api *api;
	struct sr_directory *d;
	struct fh_request r;
	struct sr_err err = {0};
	char want[1024], *aud, **groups = NULL;
	size_t n = 0;

	(void)state;
	fh_reset();
	fh_add(&(struct fh_canned){ROLES, 200, "[]"});
	api = make(NULL, 5);
	d = sr_auth0_api_directory(api);
	assert_int_equal(d->groups(d, "auth0|5f7c 8ec7/x", &groups, &n, &err), SR_OK);
	assert_true(fh_request(0, &r));
	assert_string_equal(r.method, "POST");
	assert_string_equal(r.target, "/oauth/token");
	aud = curl_easy_escape(NULL, fh_base(), 0);
	snprintf(want, sizeof(want),
		 "grant_type=client_credentials&client_id=%s&client_secret=%s&audience=%s%s", CLIENT,
		 SECRET_FORM, aud, "%2Fapi%2Fv2%2F");
	curl_free(aud);
	assert_string_equal(r.body, want);
	assert_true(fh_request(1, &r));
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.target, ROLES);
	assert_string_equal(r.auth, "Bearer tok-1");
	sr_strv_free(groups, n);
	sr_auth0_api_free(api);
}

static enum sr_rc lookup(struct sr_auth0_api *api)
{
	struct sr_directory *d = sr_auth0_api_directory(api);
	struct sr_err err = {0};
	char **groups = NULL;
	size_t n = 0;
	enum sr_rc rc = d->groups(d, "auth0|5f7c 8ec7/x", &groups, &n, &err);

	assert_clean(&err);
	sr_strv_free(groups, n);
	return rc;
}

/* One token serves many calls until shortly before it expires. */
static void test_token_cached(void **state)
{
	struct sr_auth0_api *api;

	(void)state;
	fh_reset();
	fh_add(&(struct fh_canned){ROLES, 200, "[{\"name\":\"a\"}]"});
	api = make(NULL, 5);
	assert_int_equal(lookup(api), SR_OK);
	assert_int_equal(lookup(api), SR_OK);
	assert_int_equal(lookup(api), SR_OK);
	assert_int_equal(fh_count("/oauth/token"), 1);
	assert_int_equal(fh_count(ROLES), 3);
	sr_auth0_api_free(api);

	/* A token that lives a second is renewed before each use. */
	fh_reset();
	fh_expires_in(1);
	fh_add(&(struct fh_canned){ROLES, 200, "[{\"name\":\"a\"}]"});
	api = make(NULL, 5);
	assert_int_equal(lookup(api), SR_OK);
	assert_int_equal(lookup(api), SR_OK);
	assert_int_equal(fh_count("/oauth/token"), 2);
	sr_auth0_api_free(api);
}

/* Auth0 stops accepting the cached token: the 401 fetches a new one and the
 * call is made again, once. */
static void test_token_refused_then_renewed(void **state)
{
	struct sr_auth0_api *api;
	struct fh_request r;

	(void)state;
	fh_reset();
	fh_add(&(struct fh_canned){ROLES, 200, "[{\"name\":\"a\"}]"});
	api = make(NULL, 5);
	assert_int_equal(lookup(api), SR_OK);
	fh_revoke();
	assert_int_equal(lookup(api), SR_OK);
	assert_int_equal(fh_count("/oauth/token"), 2);
	assert_int_equal(fh_count(ROLES), 3);
	assert_true(fh_request(fh_n_requests() - 1, &r));
	assert_string_equal(r.auth, "Bearer tok-2");
	sr_auth0_api_free(api);
}

static void *lookup_thread(void *arg)
{
	return (void *)(intptr_t)lookup(arg);
}

/* Threads asking at once share one token request. */
static void test_threads(void **state)
{
	struct sr_auth0_api *api;
	pthread_t t[8];
	void *rc;
	size_t i;

	(void)state;
	fh_reset();
	fh_add(&(struct fh_canned){"/oauth/token", 200,
				   "{\"access_token\":\"tok-1\",\"expires_in\":86400}", {NULL}, 300, 0});
	fh_check_auth(0);
	fh_add(&(struct fh_canned){ROLES, 200, "[{\"name\":\"a\"}]"});
	api = make(NULL, 5);
	for (i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, lookup_thread, api), 0);
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], &rc);
		assert_int_equal((intptr_t)rc, SR_OK);
	}
	assert_int_equal(fh_count("/oauth/token"), 1);
	assert_int_equal(fh_count(ROLES), 8);
	sr_auth0_api_free(api);
}

/* ---- logs ---- */

#define LOG_ID "90020211201185132572079310688835925971249535794074878050"

struct lcase {
	const char *name;
	const char *from;
	int take;
	const char *want_target;
	long status;
	const char *retry_after; /* "@N": an HTTP date N seconds from now */
	const char *remaining;
	int reset_in;            /* X-RateLimit-Reset: now + reset_in (0: none) */
	enum sr_rc want;
	int64_t wait_min, wait_max;
	const char *want_msg;
};

static const struct lcase lcases[] = {
	{"a page", LOG_ID, 100, "/api/v2/logs?from=" LOG_ID "&take=100", 200, NULL, "9", 60, SR_OK, 0, 0, NULL},
	{"take capped at 100", LOG_ID, 500, "/api/v2/logs?from=" LOG_ID "&take=100", 200, NULL, NULL, 0, SR_OK, 0, 0, NULL},
	{"take at least 1", LOG_ID, 0, "/api/v2/logs?from=" LOG_ID "&take=1", 200, NULL, NULL, 0, SR_OK, 0, 0, NULL},
	{"no checkpoint", NULL, 50, "/api/v2/logs?take=50", 200, NULL, NULL, 0, SR_OK, 0, 0, NULL},
	{"checkpoint escaped", "a b&c", 5, "/api/v2/logs?from=a%20b%26c&take=5", 200, NULL, NULL, 0, SR_OK, 0, 0, NULL},
	{"bucket empty: wait for the reset", LOG_ID, 100, NULL, 200, NULL, "0", 7, SR_OK, 6, 7, NULL},
	{"reset far off is capped", LOG_ID, 100, NULL, 200, NULL, "0", 100000, SR_OK, 3600, 3600, NULL},
	{"429 with Retry-After", LOG_ID, 100, NULL, 429, "12", "0", 30, SR_EUNAVAIL, 12, 12, "is throttling us (GET /api/v2/logs: HTTP 429)"},
	{"429 with a Retry-After date", LOG_ID, 100, NULL, 429, "@20", NULL, 0, SR_EUNAVAIL, 18, 20, "throttling"},
	{"429 with the reset only", LOG_ID, 100, NULL, 429, NULL, "0", 30, SR_EUNAVAIL, 29, 30, "throttling"},
	{"429 without headers", LOG_ID, 100, NULL, 429, NULL, NULL, 0, SR_EUNAVAIL, 60, 60, "throttling"},
	{"server error", LOG_ID, 100, NULL, 500, NULL, NULL, 0, SR_EUNAVAIL, 0, 0, "failed (GET /api/v2/logs: HTTP 500)"},
	{"404 is no deleted user here", LOG_ID, 100, NULL, 404, NULL, NULL, 0, SR_EUNAVAIL, 0, 0, "answered HTTP 404"},
};

static void test_logs(void **state)
{
	static const char page[] = "[{\"log_id\":\"" LOG_ID "1\",\"type\":\"s\"}]";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lcases) / sizeof(lcases[0]); i++) {
		const struct lcase *c = &lcases[i];
		struct fh_canned canned = {"/api/v2/logs", c->status, page};
		char ra[64], rem[64], reset[64];
		struct sr_auth0_api *api;
		struct sr_err err = {0};
		struct fh_request r;
		int64_t wait = -1;
		size_t len = 0, h = 0;
		char *body = NULL;
		enum sr_rc rc;

		print_message("case: %s\n", c->name);
		fh_reset();
		if (c->retry_after != NULL && c->retry_after[0] == '@') {
			time_t t = time(NULL) + atoi(c->retry_after + 1);
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(ra, sizeof(ra), "Retry-After: %a, %d %b %Y %H:%M:%S GMT", &tm);
			canned.headers[h++] = ra;
		} else if (c->retry_after != NULL) {
			snprintf(ra, sizeof(ra), "Retry-After: %s", c->retry_after);
			canned.headers[h++] = ra;
		}
		if (c->remaining != NULL) {
			snprintf(rem, sizeof(rem), "X-RateLimit-Remaining: %s", c->remaining);
			canned.headers[h++] = rem;
		}
		if (c->reset_in != 0) {
			snprintf(reset, sizeof(reset), "X-RateLimit-Reset: %lld",
				 (long long)time(NULL) + c->reset_in);
			canned.headers[h++] = reset;
		}
		fh_add(&canned);
		api = make(NULL, 5);
		rc = sr_auth0_api_logs(api, c->from, c->take, &body, &len, &wait, &err);
		if (rc != c->want)
			print_error("rc %d, message: %s\n", rc, err.msg);
		assert_int_equal(rc, c->want);
		assert_true(wait >= c->wait_min && wait <= c->wait_max);
		if (rc == SR_OK) {
			assert_int_equal(len, strlen(page));
			assert_string_equal(body, page);
		} else {
			assert_null(body);
			assert_non_null(strstr(err.msg, c->want_msg));
		}
		assert_clean(&err);
		if (c->want_target != NULL) {
			assert_true(fh_request(1, &r));
			assert_string_equal(r.target, c->want_target);
			assert_string_equal(r.auth, "Bearer tok-1");
		}
		free(body);
		sr_auth0_api_free(api);
	}
}

static void test_newest_log(void **state)
{
	struct sr_auth0_api *api;
	struct sr_err err = {0};
	struct fh_request r;
	char *id = NULL;
	int64_t wait = -1;

	(void)state;
	fh_reset();
	fh_add(&(struct fh_canned){"/api/v2/logs?sort=date:-1&per_page=1", 200,
				   "[{\"log_id\":\"" LOG_ID "\",\"type\":\"s\",\"date\":\"2026-03-12T09:00:00Z\"}]",
				   {NULL}, 0, 1});
	fh_add(&(struct fh_canned){"/api/v2/logs?sort=date:-1&per_page=1", 200, "[]"});
	api = make(NULL, 5);
	assert_int_equal(sr_auth0_api_newest_log(api, &id, &wait, &err), SR_OK);
	assert_string_equal(id, LOG_ID);
	assert_int_equal(wait, 0);
	assert_true(fh_request(1, &r));
	assert_string_equal(r.target, "/api/v2/logs?sort=date:-1&per_page=1&page=0");
	free(id);
	/* A tenant without logs. */
	assert_int_equal(sr_auth0_api_newest_log(api, &id, &wait, &err), SR_OK);
	assert_null(id);
	sr_auth0_api_free(api);
}

/* ---- configuration ---- */

static void test_new_refuses(void **state)
{
	struct sr_http_client_config hc = {.timeout_seconds = 5, .max_bytes = 8192};
	struct sr_lookup_config lc = {.kind = "auth0", .domain = "tenant.example",
				      .client_id = CLIENT, .client_secret_file = secret_file};
	char *missing = NULL, *empty = tk_write(dir, "empty", "\n");
	struct sr_auth0_api *api = NULL;
	struct sr_err err = {0};

	(void)state;
	lc.groups_from = "groups";
	assert_int_equal(sr_auth0_api_new(&lc, &hc, &api, &err), SR_ECONFIG);
	assert_non_null(strstr(err.msg, "lookup.groups_from"));
	assert_null(api);

	sr_err_clear(&err);
	lc.groups_from = "app_metadata.";
	assert_int_equal(sr_auth0_api_new(&lc, &hc, &api, &err), SR_ECONFIG);

	sr_err_clear(&err);
	lc.groups_from = NULL;
	lc.client_id = NULL;
	assert_int_equal(sr_auth0_api_new(&lc, &hc, &api, &err), SR_ECONFIG);
	assert_non_null(strstr(err.msg, "lookup.client_id"));

	sr_err_clear(&err);
	lc.client_id = CLIENT;
	missing = malloc(strlen(dir) + 16);
	snprintf(missing, strlen(dir) + 16, "%s/missing", dir);
	lc.client_secret_file = missing;
	assert_int_not_equal(sr_auth0_api_new(&lc, &hc, &api, &err), SR_OK);
	assert_non_null(strstr(err.msg, missing));
	assert_null(api);

	sr_err_clear(&err);
	lc.client_secret_file = empty;
	assert_int_equal(sr_auth0_api_new(&lc, &hc, &api, &err), SR_ECONFIG);
	assert_non_null(strstr(err.msg, "empty"));

	sr_err_clear(&err);
	lc.client_secret_file = secret_file;
	lc.domain = "https://tenant.example/";
	assert_int_equal(sr_auth0_api_new(&lc, &hc, &api, &err), SR_OK);
	sr_auth0_api_free(api);
	sr_auth0_api_free(NULL);
	free(missing);
	free(empty);
}

static int setup(void **state)
{
	(void)state;
	dir = tk_tmpdir();
	secret_file = tk_write(dir, "secret", SECRET "\n");
	fh_start();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fh_stop();
	free(secret_file);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_attribute),
		cmocka_unit_test(test_attribute_of_no_one),
		cmocka_unit_test(test_token_request),
		cmocka_unit_test(test_token_cached),
		cmocka_unit_test(test_token_refused_then_renewed),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_logs),
		cmocka_unit_test(test_newest_log),
		cmocka_unit_test(test_new_refuses),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
