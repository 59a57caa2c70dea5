/*
 * metrics.h - counters, gauges and histograms, printed in the Prometheus
 * text exposition format (version 0.0.4) for GET /metrics.
 *
 * DESIGN: a registry is a fixed table of families (struct sr_metric_def),
 * each with up to SR_METRIC_MAX_SERIES label sets. Counting is lock-free
 * (C11 atomics); only the first use of a new label set takes the registry's
 * mutex. Label values are cut to SR_METRIC_MAX_VALUE bytes; callers pass
 * only bounded values (a route pattern, never a raw path; a reason code,
 * never a token). A family that is full counts every further label set in
 * one series whose label values are all "other", so memory never grows.
 *
 * The service's own families are below (enum sr_metric_id) and live in one
 * process-wide registry (sr_metrics_service()), the way a Prometheus client
 * library keeps a default registry: every module counts with one call.
 */
#ifndef SESSION_REVOKER_METRICS_H
#define SESSION_REVOKER_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "session_revoker/core.h"

#define SR_METRIC_MAX_LABELS 3
#define SR_METRIC_MAX_BUCKETS 16
#define SR_METRIC_MAX_SERIES 64
#define SR_METRIC_MAX_VALUE 64

enum sr_metric_type { SR_METRIC_COUNTER, SR_METRIC_GAUGE, SR_METRIC_HISTOGRAM };

struct sr_metric_def {
	const char *name; /* [a-zA-Z_:][a-zA-Z0-9_:]* */
	const char *help; /* printed escaped (backslash, line feed) */
	enum sr_metric_type type;
	const char *labels[SR_METRIC_MAX_LABELS]; /* NULL-terminated when fewer */
	const double *buckets; /* histogram: upper bounds, ascending, no +Inf */
	size_t n_buckets;
};

struct sr_metrics;

/* A registry of n families (defs borrowed: they must outlive it). OUT *out:
 * new, sr_metrics_free(). SR_EINVAL when a def is malformed. */
enum sr_rc sr_metrics_new(const struct sr_metric_def *defs, size_t n, struct sr_metrics **out,
			  struct sr_err *err);
void sr_metrics_free(struct sr_metrics *m);

/* values: one per label of the family (borrowed; NULL counts as ""). */
void sr_metrics_add(struct sr_metrics *m, size_t family, const char *const *values, double v);
void sr_metrics_set(struct sr_metrics *m, size_t family, const char *const *values, double v);
void sr_metrics_observe(struct sr_metrics *m, size_t family, const char *const *values,
			double v);
/* Sets every series of a gauge family to 0 (before it is set afresh). */
void sr_metrics_zero(struct sr_metrics *m, size_t family);

/* Appends the whole registry in the text format to out. */
enum sr_rc sr_metrics_format(struct sr_metrics *m, struct sr_buf *out, struct sr_err *err);

/* ---- the service's families (README, "Metrics") ---- */
enum sr_metric_id {
	SR_M_HTTP_REQUESTS,      /* method, route, status */
	SR_M_HTTP_DURATION,      /* method, route */
	SR_M_TOKEN_REFUSALS,     /* reason */
	SR_M_REVOCATIONS,        /* source, state (from the store, at scrape) */
	SR_M_JOBS,               /* kind, state (from the store, at scrape) */
	SR_M_JOB_LAG,            /* (from the store, at scrape) */
	SR_M_JOB_RUNS,           /* kind, result */
	SR_M_AWS_CALLS,          /* action, outcome */
	SR_M_AWS_DURATION,       /* action */
	SR_M_AWS_RETRIES,        /* action */
	SR_M_ROLES,              /* kind, outcome */
	SR_M_APPLY_SECONDS,      /* 202 to the last account applied */
	SR_M_EVENTS,             /* source, outcome */
	SR_M_COUNT_
};

/* The process-wide registry of the families above (created on first use;
 * NULL only when memory ran out, and then counting does nothing). */
struct sr_metrics *sr_metrics_service(void);

/* Shorthands on the process-wide registry. */
void sr_metric_add(enum sr_metric_id id, const char *const *values, double v);
void sr_metric_observe(enum sr_metric_id id, const char *const *values, double v);

/* An identity provider's batch (issue 9's ingest), counted in one call. */
void sr_metric_events(const char *source, size_t received, size_t recorded, size_t replayed,
		      size_t dropped, size_t errors);

/* Seconds between two CLOCK_MONOTONIC readings. */
double sr_metric_since(const struct timespec *start);

#endif
