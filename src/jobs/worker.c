/*
 * worker.c - job workers: claim a due job with a lease, run the engine for
 * its one account, record every role's result, move the job on.
 *
 * DESIGN: a worker holds at most one job. A keeper thread renews the leases
 * of the jobs being worked on, so a long fan-out is not taken over while it
 * runs, and a crashed process's jobs become claimable once their leases
 * expire. The engine is idempotent (read before write, a cut-off is only
 * raised), so a job run twice after a crash changes nothing the second time.
 * Retries back off exponentially up to jobs.max_attempts; refusals that will
 * not go away by waiting (AccessDenied, a role that does not exist, a wrong
 * account) fail the job at once.
 */
#include "session_revoker/jobs.h"
#include "session_revoker/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct slot {
	pthread_t thread;
	int64_t job_id; /* 0: idle */
};

struct sr_jobs {
	const struct sr_config *cfg;
	struct sr_store *store;
	struct sr_engine *engine;
	char owner[128];
	pthread_mutex_t mu;
	pthread_cond_t wake;
	int stopping;
	unsigned kicks;
	struct slot *slots;
	size_t n_slots;
	pthread_t keeper;
	int keeper_started;
};

static void sleep_until_kicked(struct sr_jobs *j, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j->mu);
	if (!j->stopping && j->kicks == 0)
		pthread_cond_timedwait(&j->wake, &j->mu, &ts);
	if (j->kicks > 0)
		j->kicks--;
	pthread_mutex_unlock(&j->mu);
}

void sr_jobs_kick(struct sr_jobs *j)
{
	if (j == NULL)
		return;
	/* Every idle worker looks: a revocation brings a job per account. */
	pthread_mutex_lock(&j->mu);
	j->kicks = (unsigned)j->n_slots;
	pthread_cond_broadcast(&j->wake);
	pthread_mutex_unlock(&j->mu);
}

static int permanent(const char *error)
{
	static const char *const words[] = {"AccessDenied", "NoSuchEntity", "belong to account",
					    "could not be written",
					    "not configured", "MalformedPolicyDocument", NULL};
	size_t i;

	for (i = 0; words[i] != NULL; i++)
		if (strstr(error, words[i]) != NULL)
			return 1;
	return 0;
}

void sr_jobs_judge(const struct sr_config *cfg, const struct sr_job *job,
		   const struct sr_engine_report *rep, int64_t cutoff, int64_t now,
		   struct sr_job_finish *fin, char *error, size_t cap)
{
	int64_t backoff = cfg->jobs_retry_base, later = 0, cleanup_at = 0, unsettled = 0;
	size_t i, failed = 0, n_unsettled = 0;
	int apply = strcmp(job->kind, "apply") == 0, k;

	error[0] = '\0';
	for (k = 1; k < job->attempts && backoff < cfg->jobs_retry_max; k++)
		backoff *= 2;
	if (backoff > cfg->jobs_retry_max)
		backoff = cfg->jobs_retry_max;
	if (rep->n_accounts > 0 && rep->accounts[0].error[0] != '\0')
		snprintf(error, cap, "%s", rep->accounts[0].error);
	for (i = 0; i < rep->n_roles; i++) {
		const struct sr_role_result *r = &rep->roles[i];
		int64_t session_end;
		if (r->unsettled != 0) {
			n_unsettled++;
			if (r->unsettled > unsettled)
				unsettled = r->unsettled;
		}
		if (strcmp(r->outcome, "failed") == 0) {
			if (failed++ == 0 && error[0] == '\0')
				snprintf(error, cap, "%s: %s", r->role_arn, r->error);
			/* people that did not fit beside people written: those
			 * written still need their cleanup */
			if (!(r->targeted && r->unwritten > 0 && r->people > 0 && r->cutoff > 0))
				continue;
		}
		if (strcmp(r->outcome, "unmodifiable") == 0)
			continue; /* AWS lets no one write it: nothing failed, nothing to clean up */
		if (strcmp(r->outcome, "not-due") == 0 && r->due > later)
			later = r->due;
		session_end = (r->cutoff ? r->cutoff : cutoff) + cfg->max_session_seconds +
			      cfg->clock_skew;
		if (apply && session_end > cleanup_at)
			cleanup_at = session_end;
	}
	if (failed > 1 && strlen(error) + 40 < cap)
		snprintf(error + strlen(error), cap - strlen(error), " (and %zu more roles failed)",
			 failed - 1);
	fin->job = job;
	fin->now = now;
	fin->error = error;
	fin->run_at = 0;
	fin->cleanup_at = 0;
	fin->settles_at = unsettled; /* no other job of the account runs before */
	if (error[0] != '\0') {
		if (permanent(error) || job->attempts >= cfg->jobs_max_attempts) {
			fin->next = SR_JOB_FAILED;
			/* The roles it did deny keep their deny until someone removes
			 * it: an apply that failed on other roles still gets its
			 * cleanup (0 when it wrote nothing). */
			fin->cleanup_at = cleanup_at;
		} else {
			fin->next = SR_JOB_RETRY;
			/* not before a write that got no answer can no longer land */
			fin->run_at = now + backoff > unsettled ? now + backoff : unsettled;
		}
	} else if (unsettled > 0) {
		/* A write AWS did not answer may still land: not done until the
		 * roles have been read again after that (the next run does). */
		char when[32];
		fin->next = SR_JOB_LATER;
		fin->run_at = unsettled > now ? unsettled : now;
		snprintf(error, cap, "%zu write%s got no answer from AWS and may still land until %s:"
			 " the roles are read again then", n_unsettled, n_unsettled == 1 ? "" : "s",
			 sr_time_format(unsettled, when));
	} else if (!apply && later > 0) {
		fin->next = SR_JOB_LATER; /* a raised cut-off or a longer session */
		fin->run_at = later;
	} else {
		fin->next = SR_JOB_DONE;
		fin->cleanup_at = cleanup_at; /* 0 when no role matched */
	}
}

static void to_roles(const struct sr_engine_report *rep, struct sr_job_role *out)
{
	size_t i;

	for (i = 0; i < rep->n_roles; i++) {
		const struct sr_role_result *r = &rep->roles[i];
		out[i] = (struct sr_job_role){
			.account = r->account, .role_arn = r->role_arn, .outcome = r->outcome,
			.request_id = r->request_id, .error = r->error, .cutoff = r->cutoff,
			.due = r->due};
	}
}

static int stopping(void *arg)
{
	struct sr_jobs *j = arg;
	int stop;

	pthread_mutex_lock(&j->mu);
	stop = j->stopping;
	pthread_mutex_unlock(&j->mu);
	return stop;
}

/* session_revoker_job_runs_total and _roles_total for a finished run. */
static void count_run(const struct sr_job *job, const struct sr_job_finish *fin)
{
	static const char *const results[] = {"done", "retry", "later", "failed"};
	size_t i;

	sr_metric_add(SR_M_JOB_RUNS, (const char *[]){job->kind, results[fin->next]}, 1);
	for (i = 0; i < fin->n_roles; i++)
		sr_metric_add(SR_M_ROLES, (const char *[]){job->kind, fin->roles[i].outcome}, 1);
}

static void run_job(struct sr_jobs *j, const struct sr_job *job)
{
	struct sr_engine_request req = {0};
	struct sr_engine_report rep = {0};
	struct sr_job_finish fin = {0};
	struct sr_job_role *roles = NULL;
	struct sr_err err = {0};
	struct sr_revocation_work w = {0};
	struct sr_person *people = NULL;
	char **visit = NULL, error[512], *accounts[1];
	char quoted[600];
	char **cleanup_groups = NULL; /* borrowed from w.groups */
	size_t n_visit = 0, n_cleanup_groups = 0;

	accounts[0] = (char *)job->account;
	if (sr_store_revocation_work(j->store, job->revocation_seq, &w, &err) != SR_OK ||
	    sr_targeted_people(w.subjects, w.n_subjects, w.subjects_cutoff, &people, &err) !=
		    SR_OK) {
		/* No such revocation fails the job; a store that could not be
		 * read (a connection lost to a database restart) is asked again. */
		snprintf(error, sizeof(error), "%s", err.msg);
		fin = (struct sr_job_finish){.job = job, .next = SR_JOB_FAILED, .error = error,
					     .now = sr_clock_now()};
		if (err.code != SR_ENOTFOUND && job->attempts < j->cfg->jobs_max_attempts) {
			fin.next = SR_JOB_RETRY;
			fin.run_at = fin.now + j->cfg->jobs_retry_base;
		}
		goto finish;
	}
	req.mode = strcmp(job->kind, "apply") == 0 ? SR_ENGINE_REVOKE : SR_ENGINE_CLEANUP;
	/* Cleanup visits every role this revocation denied there (a cleanup
	 * document: that any revocation of its groups denied there), whatever
	 * its trust policy says now. */
	if (req.mode == SR_ENGINE_CLEANUP) {
		struct sr_denied_filter f = {.seq = job->revocation_seq, .account = job->account};
		enum sr_rc rc = SR_OK;
		if (strcmp(w.action, "cleanup") == 0) {
			/* also what revocations of every group ("*") denied */
			f.seq = 0;
			rc = sr_match_cleanup_groups(w.groups, w.n_groups, &cleanup_groups,
						     &n_cleanup_groups, &err);
			f.groups = cleanup_groups;
			f.n_groups = n_cleanup_groups;
		}
		if (rc == SR_OK)
			rc = sr_store_denied_roles(j->store, &f, &visit, &n_visit, &err);
		if (rc != SR_OK) {
			snprintf(error, sizeof(error), "%s", err.msg);
			fin = (struct sr_job_finish){.job = job, .next = SR_JOB_RETRY, .error = error,
						     .now = sr_clock_now(),
						     .run_at = sr_clock_now() + j->cfg->jobs_retry_base};
			goto finish;
		}
	}
	req.visit = visit;
	req.n_visit = n_visit;
	req.max_wait = j->cfg->aws_late_write_seconds + 5;
	req.stop = stopping;
	req.stop_arg = j;
	req.groups = w.groups;
	req.n_groups = w.n_groups;
	req.cutoff = w.cutoff;
	req.people = people;
	req.n_people = w.n_subjects;
	req.accounts = accounts;
	req.n_accounts = 1;
	req.now = sr_clock_now();
	if (sr_engine_run(j->engine, &req, &rep, &err) != SR_OK) {
		snprintf(error, sizeof(error), "%s", err.msg);
		fin = (struct sr_job_finish){.job = job, .next = SR_JOB_FAILED, .error = error,
					     .now = sr_clock_now()};
		goto finish;
	}
	sr_jobs_judge(j->cfg, job, &rep, w.subjects_cutoff > w.cutoff ? w.subjects_cutoff : w.cutoff,
		      sr_clock_now(), &fin, error, sizeof(error));
	roles = calloc(rep.n_roles + 1, sizeof(*roles));
	if (roles != NULL) {
		to_roles(&rep, roles);
		fin.roles = roles;
		fin.n_roles = rep.n_roles;
	}
finish:
	fin.owner = j->owner;
	sr_err_clear(&err);
	if (sr_store_job_finish(j->store, &fin, &err) != SR_OK)
		sr_log(SR_LOG_WARN, "job.finish_failed", "job=%lld error=%s", (long long)job->id,
		       sr_log_quote(quoted, sizeof(quoted), err.msg));
	else {
		count_run(job, &fin);
		sr_log(fin.next == SR_JOB_FAILED ? SR_LOG_WARN : SR_LOG_INFO, "job.finished",
		       "job=%lld revocation_id=%s kind=%s account=%s attempt=%d roles=%zu next=%s%s%s",
		       (long long)job->id, job->revocation_id, job->kind, job->account,
		       job->attempts, rep.n_roles,
		       (const char *[]){"done", "retry", "later", "failed"}[fin.next],
		       error[0] ? " error=" : "",
		       error[0] ? sr_log_quote(quoted, sizeof(quoted), error) : "");
	}
	free(roles);
	free(cleanup_groups);
	sr_engine_report_clear(&rep);
	free(people);
	sr_revocation_work_clear(&w);
	sr_strv_free(visit, n_visit);
}

struct worker_arg {
	struct sr_jobs *j;
	struct slot *slot;
};

static void *worker_main(void *arg)
{
	struct sr_jobs *j = ((struct worker_arg *)arg)->j;
	struct slot *slot = ((struct worker_arg *)arg)->slot;

	free(arg);
	for (;;) {
		struct sr_job job;
		struct sr_err err = {0};
		int found = 0, stop;

		pthread_mutex_lock(&j->mu);
		stop = j->stopping;
		pthread_mutex_unlock(&j->mu);
		if (stop)
			break;
		if (sr_store_job_claim(j->store, j->owner, sr_clock_now(), j->cfg->jobs_lease_seconds,
				       &job, &found, &err) != SR_OK || !found) {
			if (err.code != SR_OK && err.code != SR_EUNAVAIL) {
				char quoted[300];
				sr_log(SR_LOG_WARN, "job.claim_failed", "error=%s",
				       sr_log_quote(quoted, sizeof(quoted), err.msg));
			}
			sleep_until_kicked(j, j->cfg->jobs_poll_ms);
			continue;
		}
		pthread_mutex_lock(&j->mu);
		slot->job_id = job.id;
		pthread_mutex_unlock(&j->mu);
		run_job(j, &job);
		pthread_mutex_lock(&j->mu);
		slot->job_id = 0;
		if (j->stopping)
			pthread_cond_broadcast(&j->wake); /* the keeper waits for this */
		pthread_mutex_unlock(&j->mu);
	}
	return NULL;
}

/* Whether any worker holds a job. Call with j->mu held. */
static int busy(const struct sr_jobs *j)
{
	size_t i;

	for (i = 0; i < j->n_slots; i++)
		if (j->slots[i].job_id != 0)
			return 1;
	return 0;
}

/* Renews the leases of the jobs being worked on, every third of a lease;
 * when stopping, until the last running job is recorded (the workers wake it
 * as they finish). */
static void *keeper_main(void *arg)
{
	struct sr_jobs *j = arg;
	int64_t every = j->cfg->jobs_lease_seconds / 3 > 0 ? j->cfg->jobs_lease_seconds / 3 : 1;

	for (;;) {
		struct timespec ts;
		size_t i;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += every;
		pthread_mutex_lock(&j->mu);
		if (!j->stopping || busy(j))
			pthread_cond_timedwait(&j->wake, &j->mu, &ts);
		for (i = 0; i < j->n_slots; i++) {
			int64_t id = j->slots[i].job_id;
			struct sr_err err = {0};
			if (id == 0)
				continue;
			pthread_mutex_unlock(&j->mu);
			sr_store_job_renew(j->store, id, j->owner,
					   sr_clock_now() + j->cfg->jobs_lease_seconds, &err);
			pthread_mutex_lock(&j->mu);
		}
		if (j->stopping && !busy(j)) {
			pthread_mutex_unlock(&j->mu);
			break;
		}
		pthread_mutex_unlock(&j->mu);
	}
	return NULL;
}

enum sr_rc sr_jobs_start(const struct sr_config *cfg, struct sr_store *store,
			 struct sr_engine *engine, struct sr_jobs **out, struct sr_err *err)
{
	struct sr_jobs *j = calloc(1, sizeof(*j));
	char host[64] = "host", rnd[9];
	size_t i;

	*out = NULL;
	if (j == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	j->cfg = cfg;
	j->store = store;
	j->engine = engine;
	gethostname(host, sizeof(host) - 1);
	if (sr_random_hex(rnd, 4, err) != SR_OK) {
		free(j);
		return SR_EINTERNAL;
	}
	snprintf(j->owner, sizeof(j->owner), "%s:%ld:%s", host, (long)getpid(), rnd);
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->wake, NULL);
	j->slots = calloc((size_t)cfg->jobs_workers + 1, sizeof(*j->slots));
	if (j->slots == NULL) {
		sr_jobs_stop(j);
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	for (i = 0; i < (size_t)cfg->jobs_workers; i++) {
		struct worker_arg *a = malloc(sizeof(*a));
		if (a == NULL)
			break;
		a->j = j;
		a->slot = &j->slots[i];
		if (pthread_create(&j->slots[i].thread, NULL, worker_main, a) != 0) {
			free(a);
			break;
		}
		j->n_slots++;
	}
	if (pthread_create(&j->keeper, NULL, keeper_main, j) == 0)
		j->keeper_started = 1;
	sr_log(SR_LOG_INFO, "jobs.started", "workers=%zu owner=%s", j->n_slots, j->owner);
	*out = j;
	return SR_OK;
}

void sr_jobs_stop(struct sr_jobs *j)
{
	size_t i;

	if (j == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	j->stopping = 1;
	pthread_cond_broadcast(&j->wake);
	pthread_mutex_unlock(&j->mu);
	for (i = 0; i < j->n_slots; i++)
		pthread_join(j->slots[i].thread, NULL);
	if (j->keeper_started) {
		pthread_mutex_lock(&j->mu);
		pthread_cond_broadcast(&j->wake);
		pthread_mutex_unlock(&j->mu);
		pthread_join(j->keeper, NULL);
	}
	free(j->slots);
	pthread_cond_destroy(&j->wake);
	pthread_mutex_destroy(&j->mu);
	free(j);
}
