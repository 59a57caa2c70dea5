/*
 * test_directory_http.c - the generic HTTP directory (lookup.kind "http")
 * against a scripted HTTP server (fakehttp.h): the request it makes (the
 * user percent-encoded into the URL, the Bearer token from its file), the
 * answers it takes, the ones it refuses, and what each failure becomes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../testkit.h"
#include "fakehttp.h"
#include "session_revoker/ingest.h"

#define TARGET "/directory/users/auth0%7C5f7c%208ec7%2Fx/groups"

static const char *dir;
static char *token_file;

static enum sr_rc make(const char *path, const char *tok_file, struct sr_directory **d,
		       struct sr_err *err)
{
	struct sr_lookup_config lc = {.kind = "http", .token_file = (char *)tok_file};
	struct sr_http_client_config hc = {.timeout_seconds = 1, .max_bytes = 64 * 1024};
	char url[256];

	snprintf(url, sizeof(url), "%s%s", fh_base(), path);
	lc.url = url;
	return sr_directory_http_new(&lc, &hc, d, err);
}

static char *join(char **v, size_t n)
{
	static char out[8192];
	size_t i;

	out[0] = '\0';
	for (i = 0; i < n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? "," : "", v[i]);
	return out;
}

/* n groups named g0, g1, ... as a JSON array; static buffer. */
static const char *many(size_t n)
{
	static char out[32 * 1024];
	size_t i;

	snprintf(out, sizeof(out), "[");
	for (i = 0; i < n; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s\"g%zu\"", i ? "," : "", i);
	snprintf(out + strlen(out), sizeof(out) - strlen(out), "]");
	return out;
}

/* ["<n x's>"]; static buffer. */
static const char *long_name(size_t n)
{
	static char out[512];

	snprintf(out, sizeof(out), "[\"%0*d\"]", (int)n, 0);
	return out;
}

struct hcase {
	const char *name;
	const char *path;  /* lookup.url after the server's base */
	int with_token;
	long status;
	const char *body;
	int delay_ms;
	enum sr_rc want;
	const char *want_groups;
	const char *want_msg;
	const char *want_target;
};

static void run(const struct hcase *c)
{
	struct fh_canned canned = {"/directory/", c->status, c->body, {NULL}, c->delay_ms};
	struct sr_directory *d = NULL;
	struct sr_err err = {0};
	struct fh_request r;
	char **groups = NULL;
	size_t n = 0;
	enum sr_rc rc;

	print_message("case: %s\n", c->name);
	fh_reset();
	fh_check_auth(0);
	fh_add(&canned);
	assert_int_equal(make(c->path ? c->path : "/directory/users/{subject}/groups",
			      c->with_token ? token_file : NULL, &d, &err), SR_OK);
	rc = d->groups(d, "auth0|5f7c 8ec7/x", &groups, &n, &err);
	if (rc != c->want)
		print_error("rc %d, message: %s\n", rc, err.msg);
	assert_int_equal(rc, c->want);
	if (rc == SR_OK) {
		assert_non_null(groups);
		assert_string_equal(join(groups, n), c->want_groups);
	} else {
		assert_null(groups);
		if (strstr(err.msg, c->want_msg) == NULL)
			print_error("message: %s\n", err.msg);
		assert_non_null(strstr(err.msg, c->want_msg));
	}
	assert_null(strstr(err.msg, "t0k3n"));
	assert_int_equal(fh_n_requests(), 1);
	assert_true(fh_request(0, &r));
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.target, c->want_target ? c->want_target : TARGET);
	assert_string_equal(r.auth, c->with_token ? "Bearer t0k3n" : "");
	sr_strv_free(groups, n);
	d->free(d);
}

static const struct hcase hcases[] = {
	{"array", NULL, 0, 200, "[\"team_opsec\",\"team_hr\"]", 0, SR_OK, "team_opsec,team_hr", NULL, NULL},
	{"object with groups, token sent", NULL, 1, 200, "{\"groups\":[\"a\",\"b\",\"a\"],\"user\":\"x\"}", 0, SR_OK, "a,b", NULL, NULL},
	{"no groups", NULL, 0, 200, "[]", 0, SR_OK, "", NULL, NULL},
	{"subject in the query", "/directory/groups?user={subject}&v=1", 0, 200, "[\"a\"]", 0, SR_OK, "a", NULL,
	 "/directory/groups?user=auth0%7C5f7c%208ec7%2Fx&v=1"},
	{"deleted user", NULL, 0, 404, "{}", 0, SR_ENOTFOUND, NULL, "the HTTP directory has no such user", NULL},
	{"directory failing", NULL, 0, 500, "{}", 0, SR_EUNAVAIL, NULL, "the HTTP directory failed (GET lookup.url: HTTP 500)", NULL},
	{"token refused", NULL, 1, 403, "{}", 0, SR_EUNAVAIL, NULL, "refused our credentials", NULL},
	{"throttled", NULL, 0, 429, "{}", 0, SR_EUNAVAIL, NULL, "is throttling us", NULL},
	{"slow", NULL, 0, 200, "[]", 2500, SR_EUNAVAIL, NULL, "the HTTP directory did not answer: ", NULL},
	{"not JSON", NULL, 0, 200, "team_opsec", 0, SR_EUNAVAIL, NULL, "is not JSON", NULL},
	{"object without groups", NULL, 0, 200, "{\"roles\":[\"a\"]}", 0, SR_EUNAVAIL, NULL, "has no \"groups\"", NULL},
	{"groups not an array", NULL, 0, 200, "{\"groups\":\"a\"}", 0, SR_EUNAVAIL, NULL, "is not an array of strings", NULL},
	{"a group not a string", NULL, 0, 200, "[\"a\",7]", 0, SR_EUNAVAIL, NULL, "answer[1] is not a non-empty string", NULL},
	{"an empty group", NULL, 0, 200, "[\"\"]", 0, SR_EUNAVAIL, NULL, "[0] is not a non-empty string", NULL},
	{"a group with a NUL (jansson refuses it)", NULL, 0, 200, "[\"a\\u0000b\"]", 0, SR_EUNAVAIL, NULL, "is not JSON", NULL},
	{"a group with a line break", NULL, 0, 200, "[\"a\\nb\"]", 0, SR_EUNAVAIL, NULL, "holds control characters", NULL},
};

static void test_answers(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hcases) / sizeof(hcases[0]); i++)
		run(&hcases[i]);
}

/* The limits: 1,000 groups of 256 bytes. */
static void test_limits(void **state)
{
	struct hcase c = {"1000 groups", NULL, 0, 200, NULL, 0, SR_OK, NULL, NULL, NULL};
	char want[8192];
	size_t i;

	(void)state;
	want[0] = '\0';
	for (i = 0; i < 1000; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%sg%zu", i ? "," : "", i);
	c.body = many(1000);
	c.want_groups = want;
	run(&c);

	c = (struct hcase){"1001 groups", NULL, 0, 200, many(1001), 0, SR_EUNAVAIL, NULL,
			   "names more than 1000 groups", NULL};
	run(&c);

	c = (struct hcase){"a group of 256 bytes", NULL, 0, 200, long_name(256), 0, SR_OK, NULL, NULL, NULL};
	snprintf(want, sizeof(want), "%0256d", 0);
	c.want_groups = want;
	run(&c);

	c = (struct hcase){"a group of 257 bytes", NULL, 0, 200, long_name(257), 0, SR_EUNAVAIL, NULL,
			   "[0] is longer than 256 bytes", NULL};
	run(&c);
}

static void test_new_refuses(void **state)
{
	char *spaced = tk_write(dir, "spaced", "t0k3n with space\n"), *missing;
	struct sr_directory *d = NULL;
	struct sr_err err = {0};

	(void)state;
	assert_int_equal(make("/directory/users/groups", NULL, &d, &err), SR_ECONFIG);
	assert_non_null(strstr(err.msg, "must contain {subject}"));
	assert_null(d);

	sr_err_clear(&err);
	assert_int_equal(make("/directory/{subject}", spaced, &d, &err), SR_ECONFIG);
	assert_non_null(strstr(err.msg, "lookup.token_file"));
	assert_non_null(strstr(err.msg, "cannot carry"));
	assert_null(strstr(err.msg, "t0k3n"));
	assert_null(d);

	sr_err_clear(&err);
	missing = malloc(strlen(dir) + 16);
	snprintf(missing, strlen(dir) + 16, "%s/missing", dir);
	assert_int_not_equal(make("/directory/{subject}", missing, &d, &err), SR_OK);
	assert_non_null(strstr(err.msg, missing));
	assert_null(d);

	sr_err_clear(&err);
	{
		struct sr_lookup_config lc = {.kind = "http", .url = "ftp://x/{subject}"};
		struct sr_http_client_config hc = {.timeout_seconds = 1, .max_bytes = 1024};
		assert_int_equal(sr_directory_http_new(&lc, &hc, &d, &err), SR_ECONFIG);
		assert_non_null(strstr(err.msg, "https://"));
	}
	free(spaced);
	free(missing);
}

static int setup(void **state)
{
	(void)state;
	dir = tk_tmpdir();
	token_file = tk_write(dir, "token", "t0k3n\n");
	fh_start();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fh_stop();
	free(token_file);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_new_refuses),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
