/*
 * test_jobs.c - the job table: a 202's jobs, claims with leases, expired
 * leases, finishing (results, cleanup scheduling, revocation state), retries.
 * On SQLite, and again on PostgreSQL in unit.test_jobs.pg (tk_store_url).
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

static struct sr_store *st;
static char *accounts[] = {"111111111111", "222222222222"};

static int setup(void **state)
{
	char *url = tk_store_url();
	struct sr_err err = {0};
	enum sr_rc rc;

	(void)state;
	if ((rc = sr_store_open(url, 2, &st, &err)) != SR_OK)
		fprintf(stderr, "open: %s\n", err.msg);
	free(url);
	return rc == SR_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	sr_store_close(st);
	st = NULL;
	return 0;
}

/* Records a revocation with a job per account; returns its public id. */
static void add(const char *action, char id[37])
{
	char json[128];
	struct sr_document_limits lim = {.max_groups = 10, .max_group_length = 64, .skew = 60};
	struct sr_document *doc = NULL;
	struct sr_err err = {0};
	json_t *rev = NULL;
	int replayed;

	snprintf(json, sizeof(json), "{\"groups\":[\"g\"],\"action\":\"%s\"}", action);
	assert_int_equal(sr_document_parse_text(json, strlen(json), &lim, NOW, &doc, &err), SR_OK);
	struct sr_revocation_in in = {.doc = doc, .source = "document", .issuer = "i",
				      .targets = accounts, .n_targets = 2, .now = NOW};
	assert_int_equal(sr_store_revocation_add(st, &in, &rev, &replayed, &err), SR_OK);
	snprintf(id, 37, "%s", json_string_value(json_object_get(rev, "id")));
	json_decref(rev);
	sr_document_free(doc);
}

static const char *state_of(const char *id)
{
	static char buf[32];
	struct sr_err err = {0};
	json_t *rev = NULL;

	assert_int_equal(sr_store_revocation_get(st, id, &rev, &err), SR_OK);
	snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(rev, "state")));
	json_decref(rev);
	return buf;
}

static void finish(struct sr_job *job, const char *owner, enum sr_job_next next,
		   int64_t run_at, int64_t cleanup_at, enum sr_rc want)
{
	struct sr_job_role role = {.account = job->account,
				   .role_arn = "arn:aws:iam::111111111111:role/R",
				   .outcome = next == SR_JOB_DONE ? "denied" : "failed",
				   .error = next == SR_JOB_DONE ? "" : "IAM PutRolePolicy: Throttling",
				   .cutoff = NOW};
	struct sr_job_finish fin = {.job = job, .owner = owner, .next = next, .run_at = run_at,
				    .cleanup_at = cleanup_at, .roles = &role, .n_roles = 1,
				    .error = next == SR_JOB_DONE ? NULL : "Throttling", .now = NOW};
	struct sr_err err = {0};

	assert_int_equal(sr_store_job_finish(st, &fin, &err), want);
}

static void test_claims_are_exclusive_and_in_order(void **state)
{
	struct sr_job a, b, c;
	struct sr_err err = {0};
	char id[37];
	int found;

	(void)state;
	add("revoke", id);
	assert_string_equal(state_of(id), "pending");
	assert_int_equal(sr_store_job_claim(st, "w1", NOW, 60, &a, &found, &err), SR_OK);
	assert_true(found);
	assert_string_equal(a.kind, "apply");
	assert_string_equal(a.account, "111111111111");
	assert_string_equal(a.revocation_id, id);
	assert_int_equal(a.attempts, 1);
	assert_int_equal(sr_store_job_claim(st, "w2", NOW, 60, &b, &found, &err), SR_OK);
	assert_true(found);
	assert_string_equal(b.account, "222222222222");
	/* Both are held: nothing else is due. */
	assert_int_equal(sr_store_job_claim(st, "w3", NOW, 60, &c, &found, &err), SR_OK);
	assert_false(found);
	assert_string_equal(state_of(id), "applying");
	/* w1's lease runs out: its job is claimable again, by another worker. */
	assert_int_equal(sr_store_job_claim(st, "w3", NOW + 61, 60, &c, &found, &err), SR_OK);
	assert_true(found);
	assert_int_equal(c.id, a.id);
	assert_int_equal(c.attempts, 2);
	/* w1 comes back: it lost the job, and writes nothing. */
	finish(&a, "w1", SR_JOB_DONE, 0, NOW + 43260, SR_ECONFLICT);
	assert_int_equal(sr_store_job_renew(st, a.id, "w1", NOW + 200, &err), SR_ECONFLICT);
	sr_err_clear(&err);
	assert_int_equal(sr_store_job_renew(st, c.id, "w3", NOW + 200, &err), SR_OK);
}

/* Two revocations, two accounts: an account's second job waits for its first. */
static void test_one_job_per_account_at_a_time(void **state)
{
	struct sr_job a, b, c;
	struct sr_err err = {0};
	char id1[37], id2[37];
	int found;

	(void)state;
	add("revoke", id1);
	add("revoke", id2);
	assert_int_equal(sr_store_job_claim(st, "w1", NOW, 60, &a, &found, &err), SR_OK);
	assert_int_equal(sr_store_job_claim(st, "w2", NOW, 60, &b, &found, &err), SR_OK);
	assert_string_equal(a.revocation_id, id1);
	assert_string_equal(b.revocation_id, id1);
	assert_int_equal(sr_store_job_claim(st, "w3", NOW, 60, &c, &found, &err), SR_OK);
	assert_false(found); /* both accounts busy */
	finish(&a, "w1", SR_JOB_DONE, 0, 0, SR_OK);
	assert_int_equal(sr_store_job_claim(st, "w3", NOW, 60, &c, &found, &err), SR_OK);
	assert_true(found);
	assert_string_equal(c.revocation_id, id2);
	assert_string_equal(c.account, a.account);
	/* A holder whose lease ran out does not block its account any longer. */
	assert_int_equal(sr_store_job_claim(st, "w4", NOW + 61, 60, &c, &found, &err), SR_OK);
	assert_true(found);
}

/* A job put back with writes that may still land (settles_at) holds back
 * the other jobs of its account until then, not those of other accounts. */
static void test_late_writes_hold_back_the_account(void **state)
{
	struct sr_job a, b, c;
	struct sr_err err = {0};
	char id1[37], id2[37];
	int found;

	(void)state;
	add("revoke", id1);
	assert_int_equal(sr_store_job_claim(st, "w1", NOW, 60, &a, &found, &err), SR_OK);
	assert_int_equal(sr_store_job_claim(st, "w1", NOW, 60, &b, &found, &err), SR_OK);
	struct sr_job_finish fin = {.job = &a, .owner = "w1", .next = SR_JOB_LATER,
				    .run_at = NOW + 30, .settles_at = NOW + 30,
				    .error = "1 write got no answer", .now = NOW};
	assert_int_equal(sr_store_job_finish(st, &fin, &err), SR_OK);
	finish(&b, "w1", SR_JOB_DONE, 0, 0, SR_OK);
	add("revoke", id2);
	assert_int_equal(sr_store_job_claim(st, "w2", NOW + 1, 60, &c, &found, &err), SR_OK);
	assert_true(found);
	assert_string_equal(c.revocation_id, id2);
	assert_string_equal(c.account, b.account); /* the other account goes on */
	finish(&c, "w2", SR_JOB_DONE, 0, 0, SR_OK);
	assert_int_equal(sr_store_job_claim(st, "w2", NOW + 29, 60, &c, &found, &err), SR_OK);
	assert_false(found); /* a's account: not before its writes can no longer land */
	assert_int_equal(sr_store_job_claim(st, "w2", NOW + 30, 60, &c, &found, &err), SR_OK);
	assert_true(found);
	assert_string_equal(c.account, a.account);
}

static void test_finish_states_and_cleanup(void **state)
{
	struct sr_job a, b, cl;
	struct sr_err err = {0};
	json_t *rev = NULL, *jobs = NULL;
	char id[37];
	int found;

	(void)state;
	add("revoke", id);
	assert_int_equal(sr_store_job_claim(st, "w", NOW, 60, &a, &found, &err), SR_OK);
	assert_int_equal(sr_store_job_claim(st, "w", NOW, 60, &b, &found, &err), SR_OK);
	finish(&a, "w", SR_JOB_DONE, 0, NOW + 43260, SR_OK);
	assert_string_equal(state_of(id), "applying");
	/* b fails once: retried later, then given up. */
	finish(&b, "w", SR_JOB_RETRY, NOW + 5, 0, SR_OK);
	assert_string_equal(state_of(id), "applying");
	assert_int_equal(sr_store_job_claim(st, "w", NOW, 60, &cl, &found, &err), SR_OK);
	assert_false(found); /* b not due before NOW + 5, the cleanup not before NOW + 43260 */
	assert_int_equal(sr_store_job_claim(st, "w", NOW + 5, 60, &b, &found, &err), SR_OK);
	assert_true(found);
	assert_int_equal(b.attempts, 2);
	finish(&b, "w", SR_JOB_FAILED, 0, 0, SR_OK);
	assert_string_equal(state_of(id), "partial");
	/* GET shows the jobs, the role results and when the cleanup is due. */
	assert_int_equal(sr_store_revocation_get(st, id, &rev, &err), SR_OK);
	jobs = json_object_get(rev, "jobs");
	assert_int_equal(json_array_size(jobs), 3); /* 2 apply + 1 cleanup */
	assert_int_equal(json_array_size(json_object_get(rev, "roles")), 2);
	assert_string_equal(json_string_value(json_object_get(rev, "cleanup_due")),
			    "2026-03-12T21:09:31Z");
	json_decref(rev);
	/* A manual retry makes the failed job due again; it succeeds. */
	assert_int_equal(sr_store_job_retry(st, b.id, NOW + 10, &err), SR_OK);
	assert_string_equal(state_of(id), "applying");
	assert_int_equal(sr_store_job_claim(st, "w", NOW + 10, 60, &b, &found, &err), SR_OK);
	assert_true(found);
	assert_int_equal(b.attempts, 1);
	finish(&b, "w", SR_JOB_DONE, 0, NOW + 43000, SR_OK);
	assert_string_equal(state_of(id), "applied");
	/* The cleanup runs when due; not due yet for account 2's later schedule. */
	assert_int_equal(sr_store_job_claim(st, "w", NOW + 43260, 60, &cl, &found, &err), SR_OK);
	assert_true(found);
	assert_string_equal(cl.kind, "cleanup");
	finish(&cl, "w", SR_JOB_LATER, NOW + 50000, 0, SR_OK);
	assert_string_equal(state_of(id), "applied");
	assert_int_equal(sr_store_job_claim(st, "w", NOW + 50000, 60, &cl, &found, &err), SR_OK);
	assert_true(found);
	finish(&cl, "w", SR_JOB_DONE, 0, 0, SR_OK);
	/* account 2's cleanup is still to come */
	assert_int_equal(sr_store_job_claim(st, "w", NOW + 50000, 60, &cl, &found, &err), SR_OK);
	assert_true(found);
	finish(&cl, "w", SR_JOB_DONE, 0, 0, SR_OK);
	assert_string_equal(state_of(id), "cleaned");
	assert_int_equal(sr_store_jobs_list(st, "done", 10, &jobs, &err), SR_OK);
	assert_int_equal(json_array_size(jobs), 4);
	json_decref(jobs);
}

static void test_cleanup_document(void **state)
{
	struct sr_job a;
	struct sr_err err = {0};
	char id[37];
	int found;

	(void)state;
	add("cleanup", id);
	assert_int_equal(sr_store_job_claim(st, "w", NOW, 60, &a, &found, &err), SR_OK);
	assert_string_equal(a.kind, "cleanup");
	finish(&a, "w", SR_JOB_DONE, 0, 0, SR_OK);
	assert_int_equal(sr_store_job_claim(st, "w", NOW, 60, &a, &found, &err), SR_OK);
	finish(&a, "w", SR_JOB_DONE, 0, 0, SR_OK);
	assert_string_equal(state_of(id), "cleaned");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claims_are_exclusive_and_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_job_per_account_at_a_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_writes_hold_back_the_account, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finish_states_and_cleanup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_document, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
