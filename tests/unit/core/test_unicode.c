/*
 * test_unicode.c - control and format characters (src/core/unicode.c), and
 * the two places every outside string passes through on its way out: log
 * values (sr_log_quote) and error messages (sr_err_set).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session_revoker/core.h"

static void test_categories(void **state)
{
	static const struct {
		uint32_t cp;
		bool control;
	} cases[] = {
		{0x00, true},   {0x09, true},   {0x0a, true},   {0x1f, true},  {0x7f, true},
		{0x80, true},   {0x85, true},   {0x9f, true},   {0xad, true},  {0x061c, true},
		{0x180e, true}, {0x200b, true}, {0x200e, true}, {0x2028, true}, {0x2029, true},
		{0x202a, true}, {0x202e, true}, {0x2060, true}, {0x2066, true}, {0x2069, true},
		{0xfeff, true}, {0xfff9, true}, {0xe0001, true}, {0xe0041, true}, {0xe007f, true},
		{0x20, false},  {'a', false},   {0x7e, false},  {0xa0, false}, {0xe9, false},
		{0x2000, false}, {0x2027, false}, {0x202f, false}, {0x3000, false}, {0x4e2d, false},
		{0xfffd, false}, {0x1f600, false}, {0xe0080, false}, {0x10ffff, false},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("U+%04X\n", (unsigned)cases[i].cp);
		assert_int_equal(sr_unicode_is_control(cases[i].cp), cases[i].control);
	}
}

static void test_has_and_strip(void **state)
{
	static const struct {
		const char *in;
		uint32_t first; /* 0: none */
		const char *stripped;
	} cases[] = {
		{"team_opsec", 0, "team_opsec"},
		{"caf\xc3\xa9 \xe4\xb8\xad", 0, "caf\xc3\xa9 \xe4\xb8\xad"},
		{"a\xc2\x85" "b", 0x85, "a b"},
		{"\xe2\x80\xae" "abc", 0x202e, "abc"},
		{"a\xe2\x80\x8b" "b", 0x200b, "ab"},
		{"a\nb\n\nc", '\n', "a b c"},
		{"x\xe2\x80\xa8y", 0x2028, "x y"},
		{"bad\xff" "byte", 0xfffd, "badbyte"},
		{"cut\xe4\xb8", 0xfffd, "cut"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t cp = 0;
		char *s = sr_utf8_strip_controls(cases[i].in);

		print_message("case %zu\n", i);
		assert_int_equal(sr_utf8_has_control(cases[i].in, &cp), cases[i].first != 0);
		if (cases[i].first != 0)
			assert_int_equal(cp, cases[i].first);
		assert_string_equal(s, cases[i].stripped);
		assert_false(sr_utf8_has_control(s, NULL));
		free(s);
	}
}

static void test_log_quote(void **state)
{
	static const struct {
		const char *in;
		size_t cap;
		const char *want;
	} cases[] = {
		{"POST", 40, "\"POST\""},
		{"a \"q\" \\", 40, "\"a \\\"q\\\" \\\\\""},
		{"line\nbreak", 40, "\"line?break\""},
		{"nel\xc2\x85" "x", 40, "\"nel?x\""},
		{"\xe2\x80\xae" "fdp.exe", 40, "\"?fdp.exe\""},
		{"ls\xe2\x80\xa8x", 40, "\"ls?x\""},
		{"caf\xc3\xa9", 40, "\"caf\xc3\xa9\""},
		{"bad\xff", 40, "\"bad?\""},
		/* Cut for room, never inside a character. */
		{"ab\xe4\xb8\xad\xe4\xb8\xad", 9, "\"ab\xe4\xb8\xad\""},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];

		print_message("quote case %zu\n", i);
		assert_true(cases[i].cap <= sizeof(out));
		assert_string_equal(sr_log_quote(out, cases[i].cap, cases[i].in), cases[i].want);
	}
}

static void test_err_message(void **state)
{
	struct sr_err err = {0};

	(void)state;
	sr_err_set(&err, SR_EINVAL, "time: \"%s\" is bad", "\xe2\x80\xae" "1 hour\xc2\x85" "ago");
	assert_string_equal(err.msg, "time: \"?1 hour?ago\" is bad");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_categories),
		cmocka_unit_test(test_has_and_strip),
		cmocka_unit_test(test_log_quote),
		cmocka_unit_test(test_err_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
