/*
 * metrics_service.c - the service's own metric families (README, "Metrics")
 * in one process-wide registry, created on first use.
 */
#include "session_revoker/metrics.h"

#include <pthread.h>
#include <stdio.h>

static const double http_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double aws_buckets[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
/* The revocation's created_at and the moment it is applied are whole
 * seconds in the store, so the first bound is 1 s. */
static const double apply_buckets[] = {1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600};
#define NB(a) (sizeof(a) / sizeof(a[0]))

static const struct sr_metric_def defs[SR_M_COUNT_] = {
	[SR_M_HTTP_REQUESTS] = {"session_revoker_http_requests_total",
		"HTTP requests answered, by method, route pattern and status.",
		SR_METRIC_COUNTER, {"method", "route", "status"}, NULL, 0},
	[SR_M_HTTP_DURATION] = {"session_revoker_http_request_duration_seconds",
		"Time from the request line to the answer, by method and route pattern.",
		SR_METRIC_HISTOGRAM, {"method", "route"}, http_buckets, NB(http_buckets)},
	[SR_M_TOKEN_REFUSALS] = {"session_revoker_token_refusals_total",
		"Requests refused for their token (401/403), by reason.",
		SR_METRIC_COUNTER, {"reason"}, NULL, 0},
	[SR_M_REVOCATIONS] = {"session_revoker_revocations",
		"Revocations in the store, by source and state (read at scrape time).",
		SR_METRIC_GAUGE, {"source", "state"}, NULL, 0},
	[SR_M_JOBS] = {"session_revoker_jobs",
		"Jobs in the store, by kind and state (read at scrape time).",
		SR_METRIC_GAUGE, {"kind", "state"}, NULL, 0},
	[SR_M_JOB_LAG] = {"session_revoker_job_lag_seconds",
		"Age of the oldest due job still waiting for a worker (0: none waits).",
		SR_METRIC_GAUGE, {NULL}, NULL, 0},
	[SR_M_JOB_RUNS] = {"session_revoker_job_runs_total",
		"Job runs finished by this process, by kind and result (done, retry, later, failed).",
		SR_METRIC_COUNTER, {"kind", "result"}, NULL, 0},
	[SR_M_AWS_CALLS] = {"session_revoker_aws_calls_total",
		"AWS API calls (after retries), by action and outcome.",
		SR_METRIC_COUNTER, {"action", "outcome"}, NULL, 0},
	[SR_M_AWS_DURATION] = {"session_revoker_aws_call_duration_seconds",
		"Time of an AWS API call including its retries, by action.",
		SR_METRIC_HISTOGRAM, {"action"}, aws_buckets, NB(aws_buckets)},
	[SR_M_AWS_RETRIES] = {"session_revoker_aws_retries_total",
		"AWS API requests sent again after throttling, a 5xx or a connection error, by action.",
		SR_METRIC_COUNTER, {"action"}, NULL, 0},
	[SR_M_ROLES] = {"session_revoker_roles_total",
		"Roles a job acted on, by job kind and outcome (denied, deleted, trimmed, failed, ...).",
		SR_METRIC_COUNTER, {"kind", "outcome"}, NULL, 0},
	[SR_M_APPLY_SECONDS] = {"session_revoker_revocation_apply_seconds",
		"Time from a revocation's 202 to its last account applied.",
		SR_METRIC_HISTOGRAM, {NULL}, apply_buckets, NB(apply_buckets)},
	[SR_M_EVENTS] = {"session_revoker_events_total",
		"Identity-provider events, by source and outcome (received, recorded, replayed,"
		" dropped, error).",
		SR_METRIC_COUNTER, {"source", "outcome"}, NULL, 0},
};

static struct sr_metrics *service;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void create(void)
{
	struct sr_err err = {0};

	if (sr_metrics_new(defs, SR_M_COUNT_, &service, &err) != SR_OK)
		sr_log(SR_LOG_ERROR, "metrics.unavailable", "error=\"%s\"", err.msg);
}

struct sr_metrics *sr_metrics_service(void)
{
	pthread_once(&once, create);
	return service;
}

void sr_metric_add(enum sr_metric_id id, const char *const *values, double v)
{
	sr_metrics_add(sr_metrics_service(), id, values, v);
}

void sr_metric_observe(enum sr_metric_id id, const char *const *values, double v)
{
	sr_metrics_observe(sr_metrics_service(), id, values, v);
}

void sr_metric_events(const char *source, size_t received, size_t recorded, size_t replayed,
		      size_t dropped, size_t errors)
{
	const size_t n[] = {received, recorded, replayed, dropped, errors};
	static const char *const outcome[] = {"received", "recorded", "replayed", "dropped",
					      "error"};
	size_t i;

	for (i = 0; i < sizeof(n) / sizeof(n[0]); i++)
		sr_metric_add(SR_M_EVENTS, (const char *[]){source, outcome[i]}, (double)n[i]);
}
