/*
 * test_group_change.c - the group-change event parser
 * (sr_group_change_parse), table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "session_revoker/events.h"

#define NOW 1773306511 /* 2026-03-12T09:08:31Z */
#define SKEW 60

struct good {
	const char *json;
	const char *kind;
	const char *subject;
	int64_t time;
	const char *groups;  /* "a,b" as named in groups_removed, in order */
	int has_current;
	const char *current; /* "a,b" */
};

static const struct good goods[] = {
	{"{\"event_id\":\"e1\",\"subject\":\"auth0|u1\",\"groups_removed\":[\"team_opsec\"],"
	 "\"time\":\"2026-03-12T09:00:00Z\"}",
	 "groups_removed", "auth0|u1", 1773306000, "team_opsec", 0, ""},
	{"{\"event_id\":\"e2\",\"subject\":\"auth0|u1\",\"time\":\"2026-03-12T09:00:00.123+00:00\"}",
	 "user_changed", "auth0|u1", 1773306000, "", 0, ""},
	{"{\"event_id\":\"e3\",\"subject\":\"u\",\"time\":\"30 minutes ago\","
	 "\"groups\":[\"team_hr\",\"team_hr\",\"eng\"]}",
	 "user_changed", "u", NOW - 1800, "", 1, "team_hr,eng"},
	{"{\"event_id\":\"e4\",\"subject\":\"u\",\"time\":1773300000,\"groups\":[]}",
	 "user_changed", "u", 1773300000, "", 1, ""},
	{"{\"event_id\":\"e5\",\"subject\":\"u\",\"time\":\"now\",\"groups_removed\":[],"
	 "\"groups\":null}",
	 "user_changed", "u", NOW, "", 0, ""},
	{"{\"event_id\":\"e6\",\"subject\":\"u\",\"time\":\"now\","
	 "\"groups_removed\":[\"a\",\"b\",\"a\"],\"groups\":[\"c\"]}",
	 "groups_removed", "u", NOW, "a,b", 1, "c"},
	/* Within the skew. */
	{"{\"event_id\":\"e7\",\"subject\":\"u\",\"time\":\"2026-03-12T09:09:30Z\"}",
	 "user_changed", "u", NOW + 59, "", 0, ""},
	/* The claims of a token: registered claims are allowed beside. */
	{"{\"iss\":\"https://idp.example.com/\",\"sub\":\"workflow\",\"aud\":[\"session-revoker\"],"
	 "\"exp\":1773310000,\"nbf\":1773306000,\"iat\":1773306000,\"jti\":\"j1\","
	 "\"scope\":\"events:write\",\"azp\":\"c1\","
	 "\"event_id\":\"e8\",\"subject\":\"samlp|corp|k@example.com\",\"time\":\"now\","
	 "\"groups_removed\":[\"team_opsec\"]}",
	 "groups_removed", "samlp|corp|k@example.com", NOW, "team_opsec", 0, ""},
	{"{\"event_id\":\"\\u00e9v\\u00e9nement-1\",\"subject\":\"\\u4e2d\\u6587\",\"time\":\"now\","
	 "\"groups_removed\":[\"\\u00e9quipe s\\u00e9curit\\u00e9\"]}",
	 "groups_removed", "\xe4\xb8\xad\xe6\x96\x87", NOW, "\xc3\xa9quipe s\xc3\xa9" "curit\xc3\xa9", 0, ""},
};

struct bad {
	const char *json;
	const char *msg;
};

#define E "\"event_id\":\"e1\","
#define S "\"subject\":\"u\","
#define T "\"time\":\"now\""

static const struct bad bads[] = {
	{"[]", "the event must be a JSON object"},
	{"{" S T "}", "event_id: required"},
	{"{\"event_id\":null," S T "}", "event_id: required"},
	{"{\"event_id\":\"\"," S T "}", "event_id: must not be empty"},
	{"{\"event_id\":7," S T "}", "event_id: must be a string"},
	{"{\"event_id\":\"a\\nb\"," S T "}", "event_id: holds control characters"},
	{"{\"event_id\":\"a\\u0000b\"," S T "}", "event_id: holds control characters"},
	{"{\"event_id\":\"a\\u202eb\"," S T "}", "event_id: holds control characters (U+202E"},
	{"{" E T "}", "subject: required"},
	{"{" E "\"subject\":\"\"," T "}", "subject: must not be empty"},
	{"{" E "\"subject\":[\"u\"]," T "}", "subject: must be a string"},
	{"{" E S "\"groups_removed\":[\"a\"]}", "time: required"},
	{"{" E S "\"time\":\"soon\"}", "time: cannot parse time \"soon\""},
	{"{" E S "\"time\":\"2026-03-12T09:10:00Z\"}", "in the future"},
	{"{" E S "\"time\":1999999999}", "in the future"},
	{"{" E S "\"time\":-1}", "out of range"},
	{"{" E S "\"time\":true}", "time: must be a string or whole Unix seconds"},
	{"{" E S T ",\"groups_removed\":\"team_opsec\"}", "groups_removed: must be an array"},
	{"{" E S T ",\"groups_removed\":[\"\"]}", "groups_removed[0]: must be a non-empty string"},
	{"{" E S T ",\"groups_removed\":[\"a\",3]}", "groups_removed[1]: must be a non-empty string"},
	{"{" E S T ",\"groups_removed\":[\"a\\u2028\"]}", "groups_removed[0]: holds control characters (U+2028"},
	{"{" E S T ",\"groups\":[null]}", "groups[0]: must be a non-empty string"},
	{"{" E S T ",\"groups\":{}}", "groups: must be an array"},
	{"{" E S T ",\"group_removed\":[\"a\"]}", "unknown field \"group_removed\""},
	{"{" E S T ",\"reason\":\"x\"}", "unknown field \"reason\""},
	{"{" E S T ",\"a\\nb\":1}", "unknown field (with control characters"},
};

static void split_check(char **v, size_t n, const char *list)
{
	char buf[256];
	char *tok, *save = NULL;
	size_t k = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		assert_true(k < n);
		assert_string_equal(v[k], tok);
		k++;
	}
	assert_int_equal(n, k);
}

static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *obj = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);

	if (obj == NULL)
		fail_msg("test JSON: %s: %s", text, jerr.text);
	return obj;
}

static void test_good(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct sr_event_batch batch = {0};
		struct sr_err err = {0};
		json_t *obj = load(g->json);
		const struct sr_event *ev;

		print_message("good %s\n", g->json);
		assert_int_equal(sr_group_change_parse(obj, NOW, SKEW, &batch, &err), SR_OK);
		assert_int_equal(batch.n, 1);
		ev = &batch.v[0];
		assert_int_equal(ev->index, 0);
		assert_null(ev->error);
		assert_non_null(ev->event_id);
		assert_string_equal(ev->kind, g->kind);
		assert_string_equal(ev->subject, g->subject);
		assert_int_equal(ev->time, g->time);
		assert_non_null(ev->time_text);
		split_check(ev->groups, ev->n_groups, g->groups);
		assert_int_equal(ev->has_current, g->has_current);
		split_check(ev->current, ev->n_current, g->current);
		sr_event_batch_free(&batch);
		json_decref(obj);
	}
}

static void test_bad(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct sr_event_batch batch = {0};
		struct sr_err err = {0};
		json_t *obj = load(b->json);

		assert_int_equal(sr_group_change_parse(obj, NOW, SKEW, &batch, &err), SR_EINVAL);
		print_message("bad  %-60s -> %s\n", b->json, err.msg);
		assert_non_null(strstr(err.msg, b->msg));
		assert_null(batch.v);
		assert_int_equal(batch.n, 0);
		json_decref(obj);
	}
}

/* Limits: event_id 256 bytes, subject 512, groups 100 of 256 bytes each. */
static void test_limits(void **state)
{
	static const struct {
		const char *field;
		size_t len;
		int ok;
	} strs[] = {
		{"event_id", 256, 1}, {"event_id", 257, 0},
		{"subject", 512, 1}, {"subject", 513, 0},
	};
	char big[600], text[8192], *p;
	size_t i;
	int k;

	(void)state;
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		struct sr_event_batch batch = {0};
		struct sr_err err = {0};
		json_t *obj;

		memset(big, 'x', strs[i].len);
		big[strs[i].len] = '\0';
		obj = json_pack("{s:s, s:s, s:s}", "event_id", "e", "subject", "u", "time", "now");
		json_object_set_new(obj, strs[i].field, json_string(big));
		assert_int_equal(sr_group_change_parse(obj, NOW, SKEW, &batch, &err),
				 strs[i].ok ? SR_OK : SR_EINVAL);
		if (!strs[i].ok)
			assert_non_null(strstr(err.msg, "longer than"));
		sr_event_batch_free(&batch);
		json_decref(obj);
	}

	for (k = 100; k <= 101; k++) {
		struct sr_event_batch batch = {0};
		struct sr_err err = {0};
		json_t *obj;
		int j;

		p = text + sprintf(text, "{" E S T ",\"groups_removed\":[");
		for (j = 0; j < k; j++)
			p += sprintf(p, "%s\"g%d\"", j ? "," : "", j);
		sprintf(p, "]}");
		obj = load(text);
		assert_int_equal(sr_group_change_parse(obj, NOW, SKEW, &batch, &err),
				 k == 100 ? SR_OK : SR_EINVAL);
		if (k == 100)
			assert_int_equal(batch.v[0].n_groups, 100);
		else
			assert_non_null(strstr(err.msg, "groups_removed: more than 100"));
		sr_event_batch_free(&batch);
		json_decref(obj);
	}

	memset(big, 'g', 257);
	big[257] = '\0';
	snprintf(text, sizeof(text), "{" E S T ",\"groups\":[\"ok\",\"%s\"]}", big);
	{
		struct sr_event_batch batch = {0};
		struct sr_err err = {0};
		json_t *obj = load(text);

		assert_int_equal(sr_group_change_parse(obj, NOW, SKEW, &batch, &err), SR_EINVAL);
		assert_non_null(strstr(err.msg, "groups[1]: longer than 256"));
		json_decref(obj);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
