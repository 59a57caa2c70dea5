/*
 * test_metrics.c - the registry's text exposition: label values and HELP
 * escaped as the Prometheus text format asks, histogram buckets cumulative
 * with +Inf equal to _count, a full family folding into "other", and counts
 * from many threads adding up exactly.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session_revoker/metrics.h"

static const double buckets[] = {0.1, 1, 10};

static const struct sr_metric_def defs[] = {
	{"t_requests_total", "Requests.\nSecond line with a \\ backslash.", SR_METRIC_COUNTER,
	 {"route", "status"}, NULL, 0},
	{"t_latency_seconds", "Latency.", SR_METRIC_HISTOGRAM, {"route"}, buckets, 3},
	{"t_queue", "Queue length.", SR_METRIC_GAUGE, {NULL}, NULL, 0},
};

static char *format(struct sr_metrics *m)
{
	struct sr_buf b = {.max = 1 << 22};
	struct sr_err err = {0};

	assert_int_equal(sr_metrics_format(m, &b, &err), SR_OK);
	return b.data; /* freed by the caller */
}

static struct sr_metrics *registry(void)
{
	struct sr_metrics *m = NULL;
	struct sr_err err = {0};

	assert_int_equal(sr_metrics_new(defs, 3, &m, &err), SR_OK);
	return m;
}

static void test_label_values_escaped(void **state)
{
	static const struct {
		const char *value, *line;
	} cases[] = {
		{"/plain", "t_requests_total{route=\"/plain\",status=\"200\"} 1\n"},
		{"a\"quote", "t_requests_total{route=\"a\\\"quote\",status=\"200\"} 1\n"},
		{"back\\slash", "t_requests_total{route=\"back\\\\slash\",status=\"200\"} 1\n"},
		{"line\nfeed", "t_requests_total{route=\"line\\nfeed\",status=\"200\"} 1\n"},
		{"all\\\"\n", "t_requests_total{route=\"all\\\\\\\"\\n\",status=\"200\"} 1\n"},
		{"caf\xc3\xa9 {x=1}", "t_requests_total{route=\"caf\xc3\xa9 {x=1}\",status=\"200\"} 1\n"},
		{"", "t_requests_total{route=\"\",status=\"200\"} 1\n"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_metrics *m = registry();
		char *text;
		sr_metrics_add(m, 0, (const char *[]){cases[i].value, "200"}, 1);
		text = format(m);
		if (strstr(text, cases[i].line) == NULL)
			fail_msg("case %zu: %s not in\n%s", i, cases[i].line, text);
		free(text);
		sr_metrics_free(m);
	}
}

static void test_help_escaped_and_families_typed(void **state)
{
	struct sr_metrics *m = registry();
	char *text = format(m);

	(void)state;
	assert_non_null(strstr(text, "# HELP t_requests_total Requests.\\nSecond line with a "
				     "\\\\ backslash.\n# TYPE t_requests_total counter\n"));
	assert_non_null(strstr(text, "# TYPE t_latency_seconds histogram\n"));
	/* No labels: the one series is there (0) before anything is counted. */
	assert_non_null(strstr(text, "# TYPE t_queue gauge\nt_queue 0\n"));
	free(text);
	sr_metrics_free(m);
}

static void test_histogram_cumulative(void **state)
{
	static const double seen[] = {0.05, 0.1, 0.5, 5, 50, 0.2};
	struct sr_metrics *m = registry();
	char *text;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(seen) / sizeof(seen[0]); i++)
		sr_metrics_observe(m, 1, (const char *[]){"/r"}, seen[i]);
	text = format(m);
	/* le is "less than or equal": 0.1 falls in the 0.1 bucket. */
	assert_non_null(strstr(text,
		"t_latency_seconds_bucket{route=\"/r\",le=\"0.1\"} 2\n"
		"t_latency_seconds_bucket{route=\"/r\",le=\"1\"} 4\n"
		"t_latency_seconds_bucket{route=\"/r\",le=\"10\"} 5\n"
		"t_latency_seconds_bucket{route=\"/r\",le=\"+Inf\"} 6\n"
		"t_latency_seconds_sum{route=\"/r\"} 55.85\n"
		"t_latency_seconds_count{route=\"/r\"} 6\n"));
	free(text);
	sr_metrics_free(m);
}

static void test_gauge_set_and_zero(void **state)
{
	struct sr_metrics *m = registry();
	char *text;

	(void)state;
	sr_metrics_set(m, 2, NULL, 42);
	text = format(m);
	assert_non_null(strstr(text, "\nt_queue 42\n"));
	free(text);
	sr_metrics_zero(m, 2);
	text = format(m);
	assert_non_null(strstr(text, "\nt_queue 0\n"));
	free(text);
	/* A counter is never set or zeroed. */
	sr_metrics_add(m, 0, (const char *[]){"/c", "200"}, 2);
	sr_metrics_set(m, 0, (const char *[]){"/c", "200"}, 9);
	sr_metrics_zero(m, 0);
	text = format(m);
	assert_non_null(strstr(text, "t_requests_total{route=\"/c\",status=\"200\"} 2\n"));
	free(text);
	sr_metrics_free(m);
}

static void test_full_family_folds_into_other(void **state)
{
	struct sr_metrics *m = registry();
	char value[32], *text;
	int i;

	(void)state;
	for (i = 0; i < SR_METRIC_MAX_SERIES + 20; i++) {
		snprintf(value, sizeof(value), "/r%d", i);
		sr_metrics_add(m, 0, (const char *[]){value, "200"}, 1);
	}
	text = format(m);
	/* SR_METRIC_MAX_SERIES - 1 named series; the other 21 in one. */
	assert_non_null(strstr(text, "t_requests_total{route=\"/r62\",status=\"200\"} 1\n"));
	assert_null(strstr(text, "route=\"/r63\""));
	assert_non_null(strstr(text, "t_requests_total{route=\"other\",status=\"other\"} 21\n"));
	free(text);
	sr_metrics_free(m);
}

static const double descending[] = {2, 1};

static void test_bad_definitions_refused(void **state)
{
	static const struct sr_metric_def bad[][1] = {
		{{"9starts_with_digit", "h", SR_METRIC_COUNTER, {NULL}, NULL, 0}},
		{{"has-dash", "h", SR_METRIC_COUNTER, {NULL}, NULL, 0}},
		{{"ok_total", "h", SR_METRIC_COUNTER, {"le"}, NULL, 0}},
		{{"ok_total", "h", SR_METRIC_COUNTER, {"__reserved"}, NULL, 0}},
		{{"h_seconds", "h", SR_METRIC_HISTOGRAM, {NULL}, NULL, 0}},
		{{"h_seconds", "h", SR_METRIC_HISTOGRAM, {NULL}, descending, 2}},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sr_metrics *m = NULL;
		struct sr_err err = {0};
		assert_int_equal(sr_metrics_new(bad[i], 1, &m, &err), SR_EINVAL);
		assert_null(m);
		assert_true(err.msg[0] != '\0');
	}
}

#define THREADS 4
#define PER_THREAD 20000

static void *hammer(void *arg)
{
	struct sr_metrics *m = arg;
	char value[16];
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		snprintf(value, sizeof(value), "/r%d", i % 8);
		sr_metrics_add(m, 0, (const char *[]){value, "200"}, 1);
		sr_metrics_observe(m, 1, (const char *[]){value}, 0.5);
	}
	return NULL;
}

static void test_threads_add_up(void **state)
{
	struct sr_metrics *m = registry();
	pthread_t t[THREADS];
	char line[128], *text;
	int i;

	(void)state;
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, m), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	text = format(m);
	for (i = 0; i < 8; i++) {
		snprintf(line, sizeof(line), "t_requests_total{route=\"/r%d\",status=\"200\"} %d\n", i,
			 THREADS * PER_THREAD / 8);
		if (strstr(text, line) == NULL)
			fail_msg("%s not in\n%s", line, text);
		snprintf(line, sizeof(line), "t_latency_seconds_count{route=\"/r%d\"} %d\n", i,
			 THREADS * PER_THREAD / 8);
		assert_non_null(strstr(text, line));
	}
	free(text);
	sr_metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_values_escaped),
		cmocka_unit_test(test_help_escaped_and_families_typed),
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_gauge_set_and_zero),
		cmocka_unit_test(test_full_family_folds_into_other),
		cmocka_unit_test(test_bad_definitions_refused),
		cmocka_unit_test(test_threads_add_up),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
