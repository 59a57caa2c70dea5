/*
 * test_log.c - the JSON form of a log line: sr_log_fields_to_json() takes the
 * key=value pairs the call sites format apart again (a quoted value with
 * spaces is one string, escapes undone, the line's own members never
 * overwritten), and sr_log_value() quotes only what needs it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "session_revoker/core.h"

static void test_fields_to_json(void **state)
{
	static const struct {
		const char *fields, *json;
	} cases[] = {
		{"", "{}"},
		{"request_id=abc status=202 ms=1.25",
		 "{\"request_id\": \"abc\", \"status\": \"202\", \"ms\": \"1.25\"}"},
		{"path=\"/v1/revocations\" reason=\"two words\"",
		 "{\"path\": \"/v1/revocations\", \"reason\": \"two words\"}"},
		{"detail=\"he said \\\"no\\\" \\\\ twice\"",
		 "{\"detail\": \"he said \\\"no\\\" \\\\ twice\"}"},
		{"method=\"\" path=x", "{\"method\": \"\", \"path\": \"x\"}"},
		{"  a=1   b=2 ", "{\"a\": \"1\", \"b\": \"2\"}"},
		{"cut=\"never closed", "{\"cut\": \"never closed\"}"},
		{"msg=mine level=x time=y", "{\"msg_\": \"mine\", \"level_\": \"x\", \"time_\": \"y\"}"},
		{"a=1 a=2", "{\"a\": \"1\", \"a_\": \"2\"}"},
		{"stray words a=1 =x", "{\"a\": \"1\", \"unparsed\": \"stray words =x\"}"},
		{"aws.late_write_seconds=90", "{\"aws.late_write_seconds\": \"90\"}"},
		{"bad=\xff\xfe ok=\"caf\xc3\xa9\"", "{\"bad\": \"??\", \"ok\": \"caf\xc3\xa9\"}"},
		{"e=", "{\"e\": \"\"}"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *got = json_pack("{s:s, s:s, s:s}", "time", "t", "level", "info", "msg", "ev");
		json_t *want = json_loads(cases[i].json, 0, NULL);
		assert_non_null(want);
		sr_log_fields_to_json(got, cases[i].fields);
		/* the line's own members are untouched */
		assert_string_equal(json_string_value(json_object_get(got, "msg")), "ev");
		assert_string_equal(json_string_value(json_object_get(got, "level")), "info");
		json_object_del(got, "time");
		json_object_del(got, "level");
		json_object_del(got, "msg");
		if (!json_equal(got, want)) {
			char *g = json_dumps(got, JSON_COMPACT);
			print_error("case %zu: %s\n  got %s\n", i, cases[i].fields, g);
			free(g);
			fail();
		}
		json_decref(got);
		json_decref(want);
	}
}

/* What a call site formats with sr_log_quote() comes back whole. */
static void test_quote_round_trip(void **state)
{
	static const char *const values[] = {
		"plain", "two words", "a \"quoted\" word", "back\\slash", "", "x=y",
		"tab\there", "line\nbreak",
	};
	static const char *const back[] = {
		"plain", "two words", "a \"quoted\" word", "back\\slash", "", "x=y",
		"tab?here", "line?break",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char q[128], v[128], fields[300];
		json_t *obj = json_object();
		snprintf(fields, sizeof(fields), "q=%s v=%s after=1",
			 sr_log_quote(q, sizeof(q), values[i]), sr_log_value(v, sizeof(v), values[i]));
		sr_log_fields_to_json(obj, fields);
		assert_string_equal(json_string_value(json_object_get(obj, "q")), back[i]);
		assert_string_equal(json_string_value(json_object_get(obj, "v")), back[i]);
		assert_string_equal(json_string_value(json_object_get(obj, "after")), "1");
		assert_null(json_object_get(obj, "unparsed"));
		json_decref(obj);
	}
}

static void test_value_quotes_only_when_needed(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"var/session-revoker.db", "var/session-revoker.db"},
		{"OpsecDeploy", "OpsecDeploy"},
		{"my dir/db", "\"my dir/db\""},
		{"a\"b", "\"a\\\"b\""},
		{"k=v", "\"k=v\""},
		{"", "\"\""},
		{"caf\xc3\xa9", "\"caf\xc3\xa9\""},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		assert_string_equal(sr_log_value(out, sizeof(out), cases[i].in), cases[i].out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_to_json),
		cmocka_unit_test(test_quote_round_trip),
		cmocka_unit_test(test_value_quotes_only_when_needed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
