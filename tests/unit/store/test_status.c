/*
 * test_status.c - sr_store_status(): which jobs are due when (a pending job
 * once its run_at has come, a running one once its lease has expired), the
 * oldest due job and its age, the last error of each account and whether a
 * later job of the account finished; read beside an open store (as `status`
 * runs beside `serve`). On SQLite, and again on PostgreSQL in
 * unit.test_status.pg (tk_store_url).
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
#include "session_revoker/store.h"

#define NOW 1773306511
#define LEASE 30

static struct sr_store *st;
static char *url; /* this test's store (tk_store_url) */

static int setup(void **state)
{
	struct sr_err err = {0};

	(void)state;
	url = tk_store_url();
	if (sr_store_open(url, 1, &st, &err) != SR_OK) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sr_store_close(st);
	st = NULL;
	free(url);
	url = NULL;
	return 0;
}

/* A revocation with an apply job per account, at t. */
static void add(char **accounts, size_t n, int64_t t)
{
	const char *json = "{\"groups\":[\"g\"]}";
	struct sr_document_limits lim = {.max_groups = 10, .max_group_length = 64, .skew = 60};
	struct sr_document *doc = NULL;
	struct sr_err err = {0};
	json_t *rev = NULL;
	int replayed;

	assert_int_equal(sr_document_parse_text(json, strlen(json), &lim, t, &doc, &err), SR_OK);
	struct sr_revocation_in in = {.doc = doc, .source = "document", .issuer = "i",
				      .targets = accounts, .n_targets = n, .now = t};
	assert_int_equal(sr_store_revocation_add(st, &in, &rev, &replayed, &err), SR_OK);
	json_decref(rev);
	sr_document_free(doc);
}

static void finish(struct sr_job *job, enum sr_job_next next, const char *error, int64_t t)
{
	struct sr_job_finish fin = {.job = job, .owner = "w", .next = next, .error = error,
				    .run_at = t + 60, .now = t};
	struct sr_err err = {0};

	assert_int_equal(sr_store_job_finish(st, &fin, &err), SR_OK);
}

static json_t *status_at(int64_t now)
{
	struct sr_err err = {0};
	json_t *out = NULL;

	assert_int_equal(sr_store_status(&(struct sr_store_config){.url = url}, now, &out, &err), SR_OK);
	assert_non_null(out);
	return out;
}

/* Two apply jobs made at NOW; the first (job 1) is claimed with a LEASE s lease. */
static void test_due_jobs_and_the_oldest(void **state)
{
	static const struct {
		int64_t now;
		const char *due;   /* jobs.due_now as JSON */
		json_int_t oldest; /* its id, 0: none */
		json_int_t age;
		const char *oldest_state;
	} cases[] = {
		{NOW - 1, "{}", 0, 0, NULL},                      /* not yet due */
		{NOW, "{\"apply\": 1}", 2, 0, "pending"},         /* job 1 is held */
		{NOW + LEASE - 1, "{\"apply\": 1}", 2, LEASE - 1, "pending"},
		{NOW + LEASE, "{\"apply\": 2}", 1, LEASE, "running"}, /* lease expired */
	};
	char *accounts[] = {"111111111111", "222222222222"};
	json_t *by = json_pack("{s:{s:i, s:i}}", "apply", "pending", 1, "running", 1);
	struct sr_job job;
	struct sr_err err = {0};
	int found;
	size_t i;

	(void)state;
	add(accounts, 2, NOW);
	assert_int_equal(sr_store_job_claim(st, "w", NOW, LEASE, &job, &found, &err), SR_OK);
	assert_true(found);
	assert_int_equal(job.id, 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *out = status_at(cases[i].now), *jobs = json_object_get(out, "jobs");
		json_t *want = json_loads(cases[i].due, 0, NULL);
		json_t *oldest = json_object_get(jobs, "oldest_due");

		print_message("case %zu\n", i);
		assert_true(json_equal(json_object_get(jobs, "due_now"), want));
		assert_true(json_equal(json_object_get(jobs, "by_kind_and_state"), by));
		if (cases[i].oldest == 0) {
			assert_true(json_is_null(oldest));
		} else {
			assert_int_equal(json_integer_value(json_object_get(oldest, "id")),
					 cases[i].oldest);
			assert_int_equal(json_integer_value(json_object_get(oldest, "age_seconds")),
					 cases[i].age);
			assert_string_equal(json_string_value(json_object_get(oldest, "state")),
					    cases[i].oldest_state);
		}
		assert_true(json_is_true(json_object_get(json_object_get(out, "store"), "writable")));
		assert_int_equal(json_integer_value(json_object_get(json_object_get(
			json_object_get(out, "revocations"), "by_state"), "applying")), 1);
		json_decref(want);
		json_decref(out);
	}
	json_decref(by);
}

/* Account 1's job fails, then a later revocation's job there is done;
 * account 2's job fails and stays failed. */
static void test_last_error_per_account(void **state)
{
	char *both[] = {"111111111111", "222222222222"}, *first[] = {"111111111111"};
	struct sr_job a, b, c;
	struct sr_err err = {0};
	json_t *out, *errors, *e;
	int found;

	(void)state;
	add(both, 2, NOW);
	assert_int_equal(sr_store_job_claim(st, "w", NOW, LEASE, &a, &found, &err), SR_OK);
	assert_int_equal(sr_store_job_claim(st, "w", NOW, LEASE, &b, &found, &err), SR_OK);
	finish(&a, SR_JOB_FAILED, "STS AssumeRole: AccessDenied", NOW + 1);
	finish(&b, SR_JOB_FAILED, "IAM ListRoles: Throttling", NOW + 2);
	add(first, 1, NOW + 3);
	assert_int_equal(sr_store_job_claim(st, "w", NOW + 3, LEASE, &c, &found, &err), SR_OK);
	assert_true(found);
	assert_string_equal(c.account, "111111111111");
	finish(&c, SR_JOB_DONE, NULL, NOW + 4);

	out = status_at(NOW + 5);
	errors = json_object_get(out, "aws_errors");
	assert_int_equal(json_array_size(errors), 2);
	e = json_array_get(errors, 0);
	assert_string_equal(json_string_value(json_object_get(e, "account")), "111111111111");
	assert_string_equal(json_string_value(json_object_get(e, "error")),
			    "STS AssumeRole: AccessDenied");
	assert_int_equal(json_integer_value(json_object_get(e, "job_id")), a.id);
	assert_true(json_is_true(json_object_get(e, "later_job_done")));
	e = json_array_get(errors, 1);
	assert_string_equal(json_string_value(json_object_get(e, "account")), "222222222222");
	assert_string_equal(json_string_value(json_object_get(e, "job_state")), "failed");
	assert_true(json_is_false(json_object_get(e, "later_job_done")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
		json_object_get(out, "jobs"), "failed"), "apply")), 2);
	json_decref(out);
}

static void test_no_file_is_not_created(void **state)
{
	char missing[200];
	struct sr_err err = {0};
	json_t *out = NULL;
	FILE *f;

	(void)state;
	snprintf(missing, sizeof(missing), "%s/none.db", tk_tmpdir());
	assert_int_equal(sr_store_status(&(struct sr_store_config){.url = missing}, NOW, &out, &err),
			 SR_ENOTFOUND);
	assert_null(out);
	assert_non_null(strstr(err.msg, missing));
	f = fopen(missing, "r");
	assert_null(f);
}

/* What status says of a server: where (the URL with its password hidden),
 * its version, and whether it takes writes (and why not). */
static void test_server_facts(void **state)
{
	static const char secret[] = "hunter2-not-for-logs";
	char *with_password, version[32];
	const char *at = strchr(url, '@');
	struct sr_err err = {0};
	json_t *out = NULL, *store;
	char *dbname = strrchr(url, '/') + 1;
	char sql[256];
	size_t cap;

	(void)state;
	/* postgres://sr@host/db -> postgres://sr:SECRET@host/db (the test
	 * server trusts local connections: the password is never asked for) */
	assert_non_null(at);
	cap = strlen(url) + sizeof(secret) + 2;
	with_password = malloc(cap);
	snprintf(with_password, cap, "%.*s:%s%s", (int)(at - url), url, secret, at);
	assert_int_equal(sr_store_status(&(struct sr_store_config){.url = with_password}, NOW,
					 &out, &err), SR_OK);
	store = json_object_get(out, "store");
	assert_null(strstr(json_string_value(json_object_get(store, "url")), secret));
	assert_non_null(strstr(json_string_value(json_object_get(store, "url")), dbname));
	assert_null(json_object_get(store, "path"));
	snprintf(version, sizeof(version), "%lld",
		 (long long)tk_store_int(url, "SELECT current_setting('server_version_num')::int / 10000"));
	assert_true(strncmp(json_string_value(json_object_get(store, "server_version")), version,
			    strlen(version)) == 0);
	assert_true(json_is_true(json_object_get(store, "writable")));
	assert_true(json_is_null(json_object_get(store, "not_writable_because")));
	assert_int_equal(json_integer_value(json_object_get(store, "schema_version")),
			 tk_store_int(url, "SELECT max(version) FROM schema_migrations"));
	json_decref(out);

	/* A database whose transactions are read-only is reported as such. */
	snprintf(sql, sizeof(sql), "ALTER DATABASE %s SET default_transaction_read_only = on", dbname);
	tk_store_exec(url, sql);
	assert_int_equal(sr_store_status(&(struct sr_store_config){.url = with_password}, NOW,
					 &out, &err), SR_OK);
	store = json_object_get(out, "store");
	assert_true(json_is_false(json_object_get(store, "writable")));
	assert_non_null(strstr(json_string_value(json_object_get(store, "not_writable_because")),
			       "read-only"));
	assert_null(strstr(err.msg, secret));
	json_decref(out);
	free(with_password);
}

int main(void)
{
	/* On either back end. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_due_jobs_and_the_oldest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_error_per_account, setup, teardown),
	};
	/* About SQLite files: a missing file is not created. Not in the .pg run. */
	const struct CMUnitTest sqlite_only[] = {
		cmocka_unit_test_setup_teardown(test_no_file_is_not_created, setup, teardown),
	};
	/* A server's own facts (url, server_version, writable). */
	const struct CMUnitTest pg_only[] = {
		cmocka_unit_test_setup_teardown(test_server_facts, setup, teardown),
	};
	int failed = cmocka_run_group_tests_name("status", tests, NULL, NULL);

	if (tk_store_pg())
		return failed + cmocka_run_group_tests_name("status.postgres", pg_only, NULL, NULL);
	return failed + cmocka_run_group_tests_name("status.sqlite", sqlite_only, NULL, NULL);
}
