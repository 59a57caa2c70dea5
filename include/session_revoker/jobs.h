/*
 * jobs.h - the workers inside `serve` that apply and clean up revocations
 * from the persisted job table.
 */
#ifndef SESSION_REVOKER_JOBS_H
#define SESSION_REVOKER_JOBS_H

#include "session_revoker/config.h"
#include "session_revoker/core.h"
#include "session_revoker/revoke.h"
#include "session_revoker/store.h"

struct sr_jobs;

/* Starts cfg->jobs_workers worker threads and a lease keeper. store and
 * engine are borrowed and outlive the workers. OUT *jobs: new, sr_jobs_stop(). */
enum sr_rc sr_jobs_start(const struct sr_config *cfg, struct sr_store *store,
			 struct sr_engine *engine, struct sr_jobs **jobs, struct sr_err *err);

/* Wakes an idle worker now (a revocation was just recorded). NULL is safe. */
void sr_jobs_kick(struct sr_jobs *jobs);

/* Lets running jobs finish (their results are recorded), stops the workers,
 * frees. Jobs not started stay pending for the next start. NULL is safe. */
void sr_jobs_stop(struct sr_jobs *jobs);

/* What one finished engine run means for its job (exposed for tests):
 * fills fin's next, run_at, cleanup_at and error from the report. */
void sr_jobs_judge(const struct sr_config *cfg, const struct sr_job *job,
		   const struct sr_engine_report *report, int64_t cutoff, int64_t now,
		   struct sr_job_finish *fin, char *error, size_t error_cap);

#endif
