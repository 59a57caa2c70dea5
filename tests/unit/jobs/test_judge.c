/*
 * test_judge.c - what an engine report means for its job: done (and when
 * the cleanup is due), retry with backoff, later, or failed for good.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "session_revoker/jobs.h"

#define NOW 1773306511
#define CUT (NOW - 1800)

static struct sr_config cfg = {
	.jobs_retry_base = 5, .jobs_retry_max = 60, .jobs_max_attempts = 4,
	.max_session_seconds = 43200, .clock_skew = 60,
};

static void role(struct sr_role_result *r, const char *outcome, int64_t cutoff, int64_t due,
		 const char *error)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->account, sizeof(r->account), "111111111111");
	snprintf(r->role_arn, sizeof(r->role_arn), "arn:aws:iam::111111111111:role/R");
	r->outcome = outcome;
	r->cutoff = cutoff;
	r->due = due;
	snprintf(r->error, sizeof(r->error), "%s", error);
}

static void judge(const char *kind, int attempts, struct sr_role_result *roles, size_t n,
		  const char *account_error, struct sr_job_finish *fin, char *error)
{
	struct sr_account_result acct = {0};
	struct sr_engine_report rep = {.roles = roles, .n_roles = n, .accounts = &acct,
				       .n_accounts = 1};
	static struct sr_job job;

	memset(&job, 0, sizeof(job));
	snprintf(job.kind, sizeof(job.kind), "%s", kind);
	snprintf(job.account, sizeof(job.account), "111111111111");
	job.attempts = attempts;
	snprintf(acct.error, sizeof(acct.error), "%s", account_error ? account_error : "");
	memset(fin, 0, sizeof(*fin));
	sr_jobs_judge(&cfg, &job, &rep, CUT, NOW, fin, error, 512);
}

static void test_apply_done_schedules_cleanup(void **state)
{
	struct sr_role_result r[2];
	struct sr_job_finish fin;
	char error[512];

	(void)state;
	role(&r[0], "denied", CUT, 0, "");
	role(&r[1], "unchanged", CUT + 600, 0, ""); /* a later cut-off was in place */
	judge("apply", 1, r, 2, NULL, &fin, error);
	assert_int_equal(fin.next, SR_JOB_DONE);
	assert_int_equal(fin.cleanup_at, CUT + 600 + 43200 + 60);
	assert_string_equal(error, "");
	/* no role matched: nothing to clean up */
	judge("apply", 1, r, 0, NULL, &fin, error);
	assert_int_equal(fin.next, SR_JOB_DONE);
	assert_int_equal(fin.cleanup_at, 0);
}

/* A role AWS lets no one write is neither a failure nor a role to clean up. */
static void test_unmodifiable_is_no_failure_and_no_cleanup(void **state)
{
	struct sr_role_result r[2];
	struct sr_job_finish fin;
	char error[512];

	(void)state;
	role(&r[0], "unmodifiable", 0, 0, "IAM Identity Center role (path /aws-reserved/sso.amazonaws.com/)");
	judge("apply", 1, r, 1, NULL, &fin, error);
	assert_int_equal(fin.next, SR_JOB_DONE);
	assert_int_equal(fin.cleanup_at, 0);
	assert_string_equal(error, "");
	/* beside a denied role: the cleanup is the denied role's */
	role(&r[1], "denied", CUT, 0, "");
	judge("apply", 1, r, 2, NULL, &fin, error);
	assert_int_equal(fin.next, SR_JOB_DONE);
	assert_int_equal(fin.cleanup_at, CUT + 43200 + 60);
	judge("cleanup", 1, r, 1, NULL, &fin, error);
	assert_int_equal(fin.next, SR_JOB_DONE);
	assert_string_equal(error, "");
}

static void test_failures_back_off_then_give_up(void **state)
{
	struct sr_role_result r[3];
	struct sr_job_finish fin;
	char error[512];

	(void)state;
	role(&r[0], "denied", CUT, 0, "");
	role(&r[1], "failed", 0, 0, "IAM PutRolePolicy: Throttling: Rate exceeded (gave up retrying)");
	role(&r[2], "failed", 0, 0, "IAM PutRolePolicy: InternalFailure: x");
	judge("apply", 1, r, 3, NULL, &fin, error);
	assert_int_equal(fin.next, SR_JOB_RETRY);
	assert_int_equal(fin.run_at, NOW + 5);
	assert_non_null(strstr(error, "Throttling"));
	assert_non_null(strstr(error, "and 1 more roles failed"));
	judge("apply", 3, r, 3, NULL, &fin, error);
	assert_int_equal(fin.run_at, NOW + 20); /* 5, 10, 20 */
	judge("apply", 4, r, 3, NULL, &fin, error);
	assert_int_equal(fin.next, SR_JOB_FAILED); /* jobs.max_attempts */
	judge("apply", 3, r, 3, "STS AssumeRole: RequestTimeout", &fin, error);
	assert_int_equal(fin.next, SR_JOB_RETRY);
	assert_int_equal(fin.run_at, NOW + 20);
	cfg.jobs_max_attempts = 100;
	judge("apply", 30, r, 3, NULL, &fin, error);
	assert_int_equal(fin.run_at, NOW + 60); /* capped at jobs.retry_max_seconds */
	cfg.jobs_max_attempts = 4;
}

static void test_permanent_refusals_fail_at_once(void **state)
{
	static const char *const permanent[] = {
		"STS AssumeRole: AccessDenied: not authorized",
		"STS AssumeRole: NoSuchEntity: no role",
		"the base credentials belong to account 999999999999, not 111111111111",
	};
	struct sr_job_finish fin;
	char error[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(permanent) / sizeof(permanent[0]); i++) {
		judge("apply", 1, NULL, 0, permanent[i], &fin, error);
		assert_int_equal(fin.next, SR_JOB_FAILED);
		assert_string_equal(error, permanent[i]);
	}
}

static void test_cleanup_not_due_runs_later(void **state)
{
	struct sr_role_result r[2];
	struct sr_job_finish fin;
	char error[512];

	(void)state;
	role(&r[0], "deleted", 0, NOW - 10, "");
	role(&r[1], "not-due", CUT + 600, NOW + 3000, ""); /* a raised cut-off */
	judge("cleanup", 1, r, 2, NULL, &fin, error);
	assert_int_equal(fin.next, SR_JOB_LATER);
	assert_int_equal(fin.run_at, NOW + 3000);
	role(&r[1], "absent", 0, 0, "");
	judge("cleanup", 1, r, 2, NULL, &fin, error);
	assert_int_equal(fin.next, SR_JOB_DONE);
	assert_int_equal(fin.cleanup_at, 0);
}

/* A write AWS did not answer may still land: the job is not done until the
 * role has been read again after that, and a retry waits for it too. */
static void test_unsettled_writes_hold_the_job(void **state)
{
	struct sr_role_result r[2];
	struct sr_job_finish fin;
	char error[512];

	(void)state;
	role(&r[0], "denied", CUT, 0, "");
	role(&r[1], "denied", CUT, 0, "");
	r[1].unsettled = NOW + 90;
	judge("apply", 1, r, 2, NULL, &fin, error);
	assert_int_equal(fin.next, SR_JOB_LATER);
	assert_int_equal(fin.run_at, NOW + 90);
	assert_int_equal(fin.cleanup_at, 0);
	assert_int_equal(fin.settles_at, NOW + 90); /* holds back the account's other jobs */
	assert_non_null(strstr(error, "1 write got no answer from AWS"));
	role(&r[0], "failed", 0, 0, "IAM PutRolePolicy: Throttling: Rate exceeded");
	judge("apply", 1, r, 2, NULL, &fin, error);
	assert_int_equal(fin.next, SR_JOB_RETRY);
	assert_int_equal(fin.run_at, NOW + 90); /* not NOW + 5 */
	assert_int_equal(fin.settles_at, NOW + 90);
	role(&r[0], "deleted", 0, NOW - 10, "");
	r[0].unsettled = NOW + 30;
	judge("cleanup", 1, r, 1, NULL, &fin, error);
	assert_int_equal(fin.next, SR_JOB_LATER);
	assert_int_equal(fin.run_at, NOW + 30);
}

/* An apply job that gives up on some roles still denied others: those
 * get their cleanup, or their deny would stay for ever. */
static void test_failed_apply_still_cleans_what_it_denied(void **state)
{
	struct sr_role_result r[2];
	struct sr_job_finish fin;
	char error[512];

	(void)state;
	role(&r[0], "denied", CUT, 0, "");
	role(&r[1], "failed", 0, 0, "IAM PutRolePolicy: AccessDenied: explicit deny");
	judge("apply", 1, r, 2, NULL, &fin, error);
	assert_int_equal(fin.next, SR_JOB_FAILED);
	assert_int_equal(fin.cleanup_at, CUT + 43200 + 60);
	role(&r[0], "failed", 0, 0, "IAM PutRolePolicy: AccessDenied: explicit deny");
	judge("apply", 1, r, 2, NULL, &fin, error); /* nothing written: nothing to clean */
	assert_int_equal(fin.next, SR_JOB_FAILED);
	assert_int_equal(fin.cleanup_at, 0);
}

/* A role where some people were written and others did not fit is
 * "failed", and the apply fails for good: the people written still get
 * their cleanup (at their cut-off + max session), or they stay denied for
 * ever. */
static void test_people_partly_written_are_cleaned(void **state)
{
	struct sr_role_result r[1];
	struct sr_job_finish fin;
	char error[512];

	(void)state;
	role(&r[0], "failed", CUT + 36000, 0,
	     "114 people could not be written (the role's inline policies are full)");
	r[0].targeted = 1;
	r[0].people = 386;
	r[0].unwritten = 114;
	judge("apply", 1, r, 1, NULL, &fin, error);
	assert_int_equal(fin.next, SR_JOB_FAILED);
	assert_non_null(strstr(error, "could not be written"));
	assert_int_equal(fin.cleanup_at, CUT + 36000 + 43200 + 60);
	r[0].people = 0; /* no one in the policy: nothing to clean */
	judge("apply", 1, r, 1, NULL, &fin, error);
	assert_int_equal(fin.cleanup_at, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply_done_schedules_cleanup),
		cmocka_unit_test(test_unmodifiable_is_no_failure_and_no_cleanup),
		cmocka_unit_test(test_failures_back_off_then_give_up),
		cmocka_unit_test(test_permanent_refusals_fail_at_once),
		cmocka_unit_test(test_cleanup_not_due_runs_later),
		cmocka_unit_test(test_unsettled_writes_hold_the_job),
		cmocka_unit_test(test_failed_apply_still_cleans_what_it_denied),
		cmocka_unit_test(test_people_partly_written_are_cleaned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
