/*
 * metrics.c - a small thread-safe metrics registry printed in the
 * Prometheus text exposition format.
 *
 * DESIGN: each family holds a fixed array of series; series[0..n) are
 * complete (n is stored with release order after a series is filled, read
 * with acquire), so counting never locks: it scans the filled series for its
 * label values and adds with an atomic compare-and-swap. Only a label set
 * seen for the first time takes the registry's mutex to append a series.
 * Histogram buckets are kept per bucket (not cumulative); the printer adds
 * them up, so the +Inf bucket and _count are always the same number and
 * the buckets never decrease, whatever is observed while it prints.
 */
#include "session_revoker/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct series {
	char values[SR_METRIC_MAX_LABELS][SR_METRIC_MAX_VALUE + 1];
	_Atomic double value; /* counter, gauge; a histogram's sum */
	_Atomic uint64_t buckets[SR_METRIC_MAX_BUCKETS + 1]; /* the last: above every bound */
};

struct family {
	const struct sr_metric_def *def;
	size_t n_labels;
	struct series *series; /* SR_METRIC_MAX_SERIES of them */
	_Atomic size_t n;
};

struct sr_metrics {
	struct family *fam;
	size_t n;
	pthread_mutex_t mu; /* appending a series */
};

static bool valid_name(const char *s, bool colon)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || (colon && s[i] == ':')))
			return false;
	return true;
}

static enum sr_rc check_def(const struct sr_metric_def *d, size_t *n_labels, struct sr_err *err)
{
	size_t i;

	if (!valid_name(d->name, true) || d->help == NULL)
		return sr_err_set(err, SR_EINVAL, "metric name \"%.64s\" is not a valid name",
				  d->name ? d->name : "");
	for (i = 0; i < SR_METRIC_MAX_LABELS && d->labels[i] != NULL; i++)
		if (!valid_name(d->labels[i], false) || strncmp(d->labels[i], "__", 2) == 0 ||
		    strcmp(d->labels[i], "le") == 0)
			return sr_err_set(err, SR_EINVAL, "metric %s: label name \"%.64s\" is not allowed",
					  d->name, d->labels[i]);
	*n_labels = i;
	if (d->type == SR_METRIC_HISTOGRAM) {
		if (d->n_buckets == 0 || d->n_buckets > SR_METRIC_MAX_BUCKETS || d->buckets == NULL)
			return sr_err_set(err, SR_EINVAL, "metric %s: 1 to %d buckets", d->name,
					  SR_METRIC_MAX_BUCKETS);
		for (i = 1; i < d->n_buckets; i++)
			if (!(d->buckets[i] > d->buckets[i - 1]))
				return sr_err_set(err, SR_EINVAL, "metric %s: buckets must ascend",
						  d->name);
	}
	return SR_OK;
}

enum sr_rc sr_metrics_new(const struct sr_metric_def *defs, size_t n, struct sr_metrics **out,
			  struct sr_err *err)
{
	struct sr_metrics *m;
	enum sr_rc rc = SR_OK;
	size_t i;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL || (m->fam = calloc(n + 1, sizeof(*m->fam))) == NULL) {
		free(m);
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&m->mu, NULL);
	m->n = n;
	for (i = 0; i < n; i++) {
		struct family *f = &m->fam[i];
		f->def = &defs[i];
		if ((rc = check_def(f->def, &f->n_labels, err)) != SR_OK)
			goto out;
		f->series = calloc(SR_METRIC_MAX_SERIES, sizeof(*f->series));
		if (f->series == NULL) {
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
			goto out;
		}
		/* A family without labels has its one series from the start, so
		 * it is printed (as 0) before anything is counted. */
		if (f->n_labels == 0)
			atomic_store(&f->n, 1);
	}
out:
	if (rc != SR_OK) {
		sr_metrics_free(m);
		return rc;
	}
	*out = m;
	return SR_OK;
}

void sr_metrics_free(struct sr_metrics *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++)
		free(m->fam[i].series);
	pthread_mutex_destroy(&m->mu);
	free(m->fam);
	free(m);
}

static bool same(const struct series *s, size_t n_labels, const char *const *values)
{
	size_t i;

	for (i = 0; i < n_labels; i++)
		if (strncmp(s->values[i], values[i] ? values[i] : "", SR_METRIC_MAX_VALUE) != 0)
			return false;
	return true;
}

/* The series for values, appended when new; NULL when m or family is wrong. */
static struct series *find(struct sr_metrics *m, size_t family, const char *const *values)
{
	struct family *f;
	size_t i, n;
	static const char *const other[SR_METRIC_MAX_LABELS] = {"other", "other", "other"};

	if (m == NULL || family >= m->n)
		return NULL;
	f = &m->fam[family];
	n = atomic_load_explicit(&f->n, memory_order_acquire);
	for (i = 0; i < n; i++)
		if (same(&f->series[i], f->n_labels, values))
			return &f->series[i];
	pthread_mutex_lock(&m->mu);
	n = atomic_load_explicit(&f->n, memory_order_acquire);
	for (; i < n; i++) /* appended by another thread meanwhile */
		if (same(&f->series[i], f->n_labels, values))
			break;
	if (i == n) {
		/* The last slot is kept for the series of every label set that
		 * comes once the family is full. */
		const char *const *v = n + 1 < SR_METRIC_MAX_SERIES ? values : other;
		size_t j;
		for (i = 0; i < n; i++)
			if (same(&f->series[i], f->n_labels, v))
				break;
		if (i == n) {
			for (j = 0; j < f->n_labels; j++)
				snprintf(f->series[n].values[j], sizeof(f->series[n].values[j]), "%s",
					 v[j] ? v[j] : "");
			atomic_store_explicit(&f->n, n + 1, memory_order_release);
		}
	}
	pthread_mutex_unlock(&m->mu);
	return &f->series[i];
}

static void add_double(_Atomic double *p, double v)
{
	double old = atomic_load_explicit(p, memory_order_relaxed);

	while (!atomic_compare_exchange_weak(p, &old, old + v))
		;
}

void sr_metrics_add(struct sr_metrics *m, size_t family, const char *const *values, double v)
{
	struct series *s = find(m, family, values);

	if (s != NULL && m->fam[family].def->type != SR_METRIC_HISTOGRAM)
		add_double(&s->value, v);
}

void sr_metrics_set(struct sr_metrics *m, size_t family, const char *const *values, double v)
{
	struct series *s = find(m, family, values);

	if (s != NULL && m->fam[family].def->type == SR_METRIC_GAUGE)
		atomic_store(&s->value, v);
}

void sr_metrics_observe(struct sr_metrics *m, size_t family, const char *const *values,
			double v)
{
	struct series *s = find(m, family, values);
	const struct sr_metric_def *d;
	size_t b;

	if (s == NULL || (d = m->fam[family].def)->type != SR_METRIC_HISTOGRAM || isnan(v))
		return;
	for (b = 0; b < d->n_buckets && v > d->buckets[b]; b++)
		;
	atomic_fetch_add(&s->buckets[b], 1);
	add_double(&s->value, v);
}

void sr_metrics_zero(struct sr_metrics *m, size_t family)
{
	size_t i, n;

	if (m == NULL || family >= m->n || m->fam[family].def->type != SR_METRIC_GAUGE)
		return;
	n = atomic_load_explicit(&m->fam[family].n, memory_order_acquire);
	for (i = 0; i < n; i++)
		atomic_store(&m->fam[family].series[i].value, 0.0);
}

/* ---- the text format ---- */

static enum sr_rc put(struct sr_buf *out, const char *fmt, ...) SR_PRINTF(2, 3);

static enum sr_rc put(struct sr_buf *out, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return SR_EINTERNAL; /* bounded by the caps above: cannot happen */
	return sr_buf_append(out, line, (size_t)n);
}

/* A label value between double quotes: backslash, double quote and line
 * feed escaped as the format asks. */
static const char *esc_value(const char *v, char *buf, size_t cap)
{
	size_t o = 0;

	for (; *v != '\0' && o + 3 < cap; v++) {
		if (*v == '\\' || *v == '"') {
			buf[o++] = '\\';
			buf[o++] = *v;
		} else if (*v == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *v;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* HELP text: backslash and line feed escaped. */
static const char *esc_help(const char *v, char *buf, size_t cap)
{
	size_t o = 0;

	for (; *v != '\0' && o + 3 < cap; v++) {
		if (*v == '\\') {
			buf[o++] = '\\';
			buf[o++] = '\\';
		} else if (*v == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *v;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* The shortest decimal that reads back as v; +Inf, -Inf and NaN as the
 * format spells them. */
static const char *num(double v, char buf[40])
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	snprintf(buf, 40, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, 40, "%.17g", v);
	return buf;
}

/* name{l1="v1",l2="v2"[,le="x"]} into buf. */
static const char *labels(const struct family *f, const struct series *s, const char *le,
			  char *buf, size_t cap)
{
	char e[2 * SR_METRIC_MAX_VALUE + 4];
	size_t i, o = 0;

	buf[0] = '\0';
	if (f->n_labels == 0 && le == NULL)
		return buf;
	o += (size_t)snprintf(buf + o, cap - o, "{");
	for (i = 0; i < f->n_labels && o < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%s=\"%s\"", i ? "," : "",
				      f->def->labels[i], esc_value(s->values[i], e, sizeof(e)));
	if (le != NULL && o < cap)
		o += (size_t)snprintf(buf + o, cap - o, "%sle=\"%s\"", f->n_labels ? "," : "", le);
	if (o < cap)
		snprintf(buf + o, cap - o, "}");
	return buf;
}

static enum sr_rc format_series(const struct family *f, const struct series *s,
				struct sr_buf *out)
{
	const struct sr_metric_def *d = f->def;
	char lb[SR_METRIC_MAX_LABELS * (2 * SR_METRIC_MAX_VALUE + 80) + 64], n1[40], n2[40];
	uint64_t total = 0;
	enum sr_rc rc;
	size_t b;

	if (d->type != SR_METRIC_HISTOGRAM)
		return put(out, "%s%s %s\n", d->name, labels(f, s, NULL, lb, sizeof(lb)),
			   num(atomic_load(&s->value), n1));
	for (b = 0; b <= d->n_buckets; b++) {
		total += atomic_load(&s->buckets[b]);
		rc = put(out, "%s_bucket%s %llu\n", d->name,
			 labels(f, s, b < d->n_buckets ? num(d->buckets[b], n2) : "+Inf", lb,
				sizeof(lb)),
			 (unsigned long long)total);
		if (rc != SR_OK)
			return rc;
	}
	if ((rc = put(out, "%s_sum%s %s\n", d->name, labels(f, s, NULL, lb, sizeof(lb)),
		      num(atomic_load(&s->value), n1))) != SR_OK)
		return rc;
	return put(out, "%s_count%s %llu\n", d->name, lb, (unsigned long long)total);
}

enum sr_rc sr_metrics_format(struct sr_metrics *m, struct sr_buf *out, struct sr_err *err)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	char help[1024];
	enum sr_rc rc = SR_OK;
	size_t i, j, n;

	for (i = 0; m != NULL && i < m->n && rc == SR_OK; i++) {
		const struct family *f = &m->fam[i];
		rc = put(out, "# HELP %s %s\n# TYPE %s %s\n", f->def->name,
			 esc_help(f->def->help, help, sizeof(help)), f->def->name,
			 types[f->def->type]);
		n = atomic_load_explicit(&f->n, memory_order_acquire);
		for (j = 0; j < n && rc == SR_OK; j++)
			rc = format_series(f, &f->series[j], out);
	}
	if (rc != SR_OK)
		return sr_err_set(err, rc, "the metrics do not fit in %zu bytes", out->max);
	return SR_OK;
}

double sr_metric_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}
