/*
 * test_time.c - sr_time_parse(): one table of spellings that must parse (with
 * the expected Unix seconds, checked with `date -u -d ... +%s`) and one table
 * of spellings that must be refused with a message quoting the value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "session_revoker/core.h"

#define NOW INT64_C(1773306511)		/* 2026-03-12T09:08:31Z, a Thursday */
#define MIDNIGHT INT64_C(1773273600)	/* 2026-03-12T00:00:00Z */

static const struct {
	const char *in;
	int64_t now;
	int64_t want;
} good[] = {
	/* RFC 3339 / ISO 8601 */
	{"2026-03-12T09:08:31Z", NOW, 1773306511},
	{"2026-03-12T09:08:31.123Z", NOW, 1773306511},
	{"2026-03-12T09:08:31.999999999-05:00", NOW, 1773324511},
	{"2026-03-12T09:08:31+02:00", NOW, 1773299311},
	{"2026-03-12T09:08:31-0530", NOW, 1773326311},
	{"2026-03-12T09:08:31+02", NOW, 1773299311},
	{"2026-03-12T09:08:31-00:00", NOW, 1773306511},
	{"2026-03-12T09:08:31+23:59", NOW, 1773220171},
	{"2026-03-12 09:08:31Z", NOW, 1773306511},
	{"2026-03-12t09:08:31z", NOW, 1773306511},
	{"2026-03-12T09:08:31", NOW, 1773306511},
	{"2026-03-12T09:08", NOW, 1773306480},
	{"2026-03-12 09:08:31 UTC", NOW, 1773306511},
	{"2026-03-12 09:08:31 +02:00", NOW, 1773299311},
	{"2026-03-12", NOW, 1773273600},
	{"  2026-03-12T09:08:31Z\n", NOW, 1773306511},
	{"2026-03-12T23:59:60Z", NOW, 1773359999},	/* leap second */
	{"2024-02-29T12:00:00Z", NOW, 1709208000},
	{"2000-02-29", NOW, 951782400},
	{"1970-01-01T00:00:00Z", NOW, 0},
	{"9999-12-31T23:59:59Z", NOW, INT64_C(253402300799)},
	/* RFC 2822 and IMF-fixdate */
	{"Thu, 12 Mar 2026 09:08:31 +0000", NOW, 1773306511},
	{"Thu, 12 Mar 2026 09:08:31 -0500", NOW, 1773324511},
	{"12 Mar 2026 09:08:31 +0000", NOW, 1773306511},
	{"Thu, 12 Mar 2026 09:08:31 GMT", NOW, 1773306511},
	{"Thu, 12 Mar 2026 09:08:31 UT", NOW, 1773306511},
	{"thu, 12 mar 2026 09:08:31 utc", NOW, 1773306511},
	{"THU, 12 MAR 2026 09:08:31 Z", NOW, 1773306511},
	{"Thu, 12 Mar 2026 09:08:31 EST", NOW, 1773324511},
	{"Thu, 12 Mar 2026 09:08:31 EDT", NOW, 1773320911},
	{"Thu, 12 Mar 2026 09:08:31 CST", NOW, 1773328111},
	{"Thu, 12 Mar 2026 09:08:31 CDT", NOW, 1773324511},
	{"Thu, 12 Mar 2026 09:08:31 MST", NOW, 1773331711},
	{"Thu, 12 Mar 2026 09:08:31 MDT", NOW, 1773328111},
	{"Thu, 12 Mar 2026 09:08:31 PST", NOW, 1773335311},
	{"Thu, 12 Mar 2026 09:08:31 PDT", NOW, 1773331711},
	{"Thu, 12 Mar 2026 09:08 +0000", NOW, 1773306480},
	{"12 Mar 2026 09:08 -0700", NOW, 1773331680},
	{"Thursday, 12 March 2026 09:08:31 GMT", NOW, 1773306511},
	{"2 Mar 2026 09:08:31", NOW, 1772442511},
	{"12 Mar 2026", NOW, 1773273600},
	/* RFC 850 */
	{"Thursday, 12-Mar-26 09:08:31 GMT", NOW, 1773306511},
	{"Friday, 31-Dec-99 23:59:59 GMT", NOW, 946684799},
	{"12-Mar-2026 09:08:31 GMT", NOW, 1773306511},
	/* asctime and date(1) */
	{"Thu Mar 12 09:08:31 2026", NOW, 1773306511},
	{"Mon Mar  2 09:08:31 2026", NOW, 1772442511},
	{"Thu Mar 12 09:08:31 UTC 2026", NOW, 1773306511},
	{"Thu Mar 12 04:08:31 EST 2026", NOW, 1773306511},
	/* Unix seconds */
	{"1773306511", NOW, 1773306511},
	{"1773306511.75", NOW, 1773306511},
	{" 1773306511 ", NOW, 1773306511},
	{"0", NOW, 0},
	{"99999999999", NOW, INT64_C(99999999999)},
	/* keywords */
	{"now", NOW, NOW},
	{"NOW", NOW, NOW},
	{"today", NOW, MIDNIGHT},
	{"Yesterday", NOW, MIDNIGHT - 86400},
	/* relative */
	{"30 minutes ago", NOW, NOW - 1800},
	{"30 min ago", NOW, NOW - 1800},
	{"30min ago", NOW, NOW - 1800},
	{"  30   Minutes\tAGO  ", NOW, NOW - 1800},
	{"1 minute ago", NOW, NOW - 60},
	{"5 mins ago", NOW, NOW - 300},
	{"5 m ago", NOW, NOW - 300},
	{"a minute ago", NOW, NOW - 60},
	{"an hour ago", NOW, NOW - 3600},
	{"2h ago", NOW, NOW - 7200},
	{"2 hours ago", NOW, NOW - 7200},
	{"3 hrs ago", NOW, NOW - 10800},
	{"1 hr ago", NOW, NOW - 3600},
	{"45 s ago", NOW, NOW - 45},
	{"10 secs ago", NOW, NOW - 10},
	{"1 second ago", NOW, NOW - 1},
	{"0 seconds ago", NOW, NOW},
	{"1 day ago", NOW, NOW - 86400},
	{"5d ago", NOW, NOW - 432000},
	{"1 week ago", NOW, NOW - 604800},
	{"2 w ago", NOW, NOW - 1209600},
	{"1000000000 seconds ago", NOW, NOW - 1000000000},
	{"1000000000 s ago", 2000000000, 1000000000},
};

static const struct {
	const char *in;
	const char *quoted;	/* what the message quotes; NULL: in itself */
} bad[] = {
	{"", NULL},
	{"   ", NULL},
	{"soon", NULL},
	{"tomorrow", NULL},
	{"now please", NULL},
	{"2026-13-01", NULL},
	{"2026-00-10", NULL},
	{"2026-03-00", NULL},
	{"2026-02-30", NULL},
	{"2025-02-29", NULL},
	{"1900-02-29", NULL},
	{"2026-04-31", NULL},
	{"2026-3-12", NULL},
	{"2026-03-12T", NULL},
	{"2026-03-12T9:08:31Z", NULL},
	{"2026-03-12T25:00:00Z", NULL},
	{"2026-03-12T24:00:00Z", NULL},
	{"2026-03-12T09:60:00Z", NULL},
	{"2026-03-12T09:08:61Z", NULL},
	{"2026-03-12T09:08:31.Z", NULL},
	{"2026-03-12T09:08:31Zjunk", NULL},
	{"2026-03-12T09:08:31+02:00 extra", NULL},
	{"2026-03-12T09:08:31+24:00", NULL},
	{"2026-03-12T09:08:31+02:60", NULL},
	{"2026-03-12T09:08:31+2", NULL},
	{"2026-03-12T09:08:31+02:0", NULL},
	{"2026-03-12T09:08:31 XYZ", NULL},
	{"1969-12-31T23:59:59Z", NULL},
	{"1970-01-01T00:00:00+01:00", NULL},
	{"10000-01-01", NULL},
	{"9999-12-31T23:59:59-01:00", NULL},
	{"Fri, 12 Mar 2026 09:08:31 GMT", NULL},	/* it is a Thursday */
	{"Thu, 12 Foo 2026 09:08:31 GMT", NULL},
	{"Thu, 12 Mar 2026 09:08:31 XYZ", NULL},
	{"Thu, 32 Mar 2026", NULL},
	{"12 Mar 202", NULL},
	{"12-Mar 2026", NULL},
	{"Thu Mar 12 09:08:31", NULL},
	{"Thu Mar 12 2026", NULL},
	{"99999999999999999999", NULL},
	{"123456789012", NULL},
	{"1e9", NULL},
	{"1773306511.", NULL},
	{".5", NULL},
	{"+1773306511", NULL},
	{"30 parsecs ago", NULL},
	{"-5 minutes ago", NULL},
	{"1.5 hours ago", NULL},
	{"12 minutes", NULL},
	{"minutes ago", NULL},
	{"ago", NULL},
	{"5 minutes ago ago", NULL},
	{"1000000001 seconds ago", NULL},
	{"99999999999999999999999 weeks ago", NULL},
	{"1000000000 weeks ago", NULL},	/* before 1970 */
	{"2026-03-12\n09:08", "2026-03-12?09:08"},
	{"2026-03-12T09:08:31\x01", "2026-03-12T09:08:31?"},
	{"2026\xe2\x80\x93" "03-12", "2026???03-12"},
};

static void test_accepted(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct sr_err err = {0};
		int64_t t = -1;
		enum sr_rc rc = sr_time_parse(good[i].in, good[i].now, &t, &err);

		if (rc != SR_OK || t != good[i].want)
			print_error("row %zu \"%s\": rc %d t %lld want %lld (%s)\n",
				    i, good[i].in, (int)rc, (long long)t,
				    (long long)good[i].want, err.msg);
		assert_int_equal(rc, SR_OK);
		assert_int_equal(t, good[i].want);
		assert_int_equal(err.code, SR_OK);
	}
}

static void test_refused(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sr_err err = {0};
		int64_t t = 12345;
		char want[128];
		const char *p;
		enum sr_rc rc = sr_time_parse(bad[i].in, NOW, &t, &err);

		snprintf(want, sizeof(want), "cannot parse time \"%s\": ",
			 bad[i].quoted ? bad[i].quoted : bad[i].in);
		if (rc != SR_EINVAL || strstr(err.msg, want) == NULL)
			print_error("row %zu \"%s\": rc %d t %lld msg \"%s\"\n",
				    i, bad[i].in, (int)rc, (long long)t, err.msg);
		assert_int_equal(rc, SR_EINVAL);
		assert_int_equal(err.code, SR_EINVAL);
		assert_non_null(strstr(err.msg, want));
		assert_int_equal(t, 12345);	/* untouched on failure */
		for (p = err.msg; *p != '\0'; p++)
			assert_true((unsigned char)*p >= 0x20 &&
				    (unsigned char)*p < 0x7f);
	}
}

static void test_null(void **state)
{
	struct sr_err err = {0};
	int64_t t = 0;

	(void)state;
	assert_int_equal(sr_time_parse(NULL, NOW, &t, &err), SR_EINVAL);
	assert_int_equal(err.code, SR_EINVAL);
	assert_true(err.msg[0] != '\0');
	/* err may be NULL too. */
	assert_int_equal(sr_time_parse("soon", NOW, &t, NULL), SR_EINVAL);
}

/* A long value is refused and quoted by its first 60 bytes only. */
static void test_long_input(void **state)
{
	struct sr_err err = {0};
	char in[128], want[128];
	int64_t t = 0;

	(void)state;
	memset(in, 'x', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	memcpy(in, "2026-03-12T09:08:31Z", 20);
	assert_int_equal(sr_time_parse(in, NOW, &t, &err), SR_EINVAL);
	snprintf(want, sizeof(want), "\"%.60s\": ", in);
	assert_non_null(strstr(err.msg, want));
	assert_true(strlen(err.msg) < 120);
}

/* The relative forms count from the now argument, not the real clock. */
static void test_uses_now_argument(void **state)
{
	static const int64_t nows[] = {86400, 999993600, 4102444800};
	int64_t t = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
		int64_t n = nows[i] + 3723;	/* 01:02:03 on a day */

		assert_int_equal(sr_time_parse("now", n, &t, NULL), SR_OK);
		assert_int_equal(t, n);
		assert_int_equal(sr_time_parse("today", n, &t, NULL), SR_OK);
		assert_int_equal(t, nows[i]);
		assert_int_equal(sr_time_parse("yesterday", n, &t, NULL), SR_OK);
		assert_int_equal(t, nows[i] - 86400);
		assert_int_equal(sr_time_parse("5 min ago", n, &t, NULL), SR_OK);
		assert_int_equal(t, n - 300);
		assert_int_equal(sr_time_parse("1 week ago", n, &t, NULL),
				 nows[i] >= 604800 ? SR_OK : SR_EINVAL);
	}
	/* A reference time outside 1970..9999 gives no relative answer. */
	assert_int_equal(sr_time_parse("yesterday", 100, &t, NULL),
			 SR_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_long_input),
		cmocka_unit_test(test_uses_now_argument),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
