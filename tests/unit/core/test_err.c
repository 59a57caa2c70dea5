/*
 * test_err.c - sr_err_set(): the first error wins, and a message is always
 * one line of valid UTF-8 however the caller's input was cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "session_revoker/core.h"

static void test_first_wins(void **state)
{
	struct sr_err err = {0};

	(void)state;
	assert_int_equal(sr_err_set(&err, SR_EINVAL, "first %d", 1), SR_EINVAL);
	assert_int_equal(sr_err_set(&err, SR_EIO, "second"), SR_EIO);
	assert_int_equal(err.code, SR_EINVAL);
	assert_string_equal(err.msg, "first 1");
	assert_int_equal(sr_err_set(NULL, SR_EIO, "no err"), SR_EIO);
}

static void test_one_line_valid_utf8(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"a\nb\tc\rd", "a b c d"},
		{"caf\xc3\xa9", "caf\xc3\xa9"},          /* whole character kept */
		{"cut \xc9", "cut ?"},                  /* first byte of two, cut */
		{"cut \xe2\x82", "cut ??"},             /* two of three */
		{"stray \x80 byte", "stray ? byte"},
		{"overlong \xc0\xaf", "overlong ??"},
		{"surrogate \xed\xa0\x80", "surrogate ???"},
		{"emoji \xf0\x9f\x94\x91", "emoji \xf0\x9f\x94\x91"},
		{"del \x7f", "del  "},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_err err = {0};
		json_t *j;
		sr_err_set(&err, SR_EINVAL, "%s", cases[i].in);
		assert_string_equal(err.msg, cases[i].out);
		/* What the HTTP layer does with it must work: */
		j = json_string(err.msg);
		assert_non_null(j);
		json_decref(j);
	}
}

static void test_cut_at_the_buffer_end(void **state)
{
	struct sr_err err = {0};
	char big[400];
	json_t *j;

	(void)state;
	memset(big, 'x', sizeof(big));
	/* 2-byte characters straddling the 255-byte limit */
	for (size_t i = 200; i + 1 < sizeof(big) - 1; i += 2) {
		big[i] = (char)0xc3;
		big[i + 1] = (char)0xa9;
	}
	big[sizeof(big) - 1] = '\0';
	sr_err_set(&err, SR_EINVAL, "%s", big);
	j = json_string(err.msg);
	assert_non_null(j);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_wins),
		cmocka_unit_test(test_one_line_valid_utf8),
		cmocka_unit_test(test_cut_at_the_buffer_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
