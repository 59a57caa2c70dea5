/*
 * test_document.c - the revocation document parser, table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "session_revoker/sources.h"

#define NOW 1773306511 /* 2026-03-12T09:08:31Z */

static const struct sr_document_limits lim = {
	.max_groups = 3, .max_group_length = 16, .skew = 60, .allow_jwt_claims = 0};
static const struct sr_document_limits lim_jwt = {
	.max_groups = 3, .max_group_length = 16, .skew = 60, .allow_jwt_claims = 1};

struct good {
	const char *json;
	size_t n_groups;
	const char *first_group;
	int64_t cutoff;
	enum sr_action action;
	size_t n_accounts;
};

static const struct good goods[] = {
	{"{\"groups\":[\"team_opsec\",\"team_hr\"],\"time\":\"30 minutes ago\",\"action\":\"revoke\"}",
	 2, "team_opsec", NOW - 1800, SR_ACTION_REVOKE, 0},
	{"{\"groups\":[\"team_opsec\"]}", 1, "team_opsec", NOW, SR_ACTION_REVOKE, 0},
	{"{\"groups\":[\"a\"],\"time\":null}", 1, "a", NOW, SR_ACTION_REVOKE, 0},
	{"{\"groups\":[\"a\"],\"time\":1773300000}", 1, "a", 1773300000, SR_ACTION_REVOKE, 0},
	{"{\"groups\":[\"a\"],\"time\":\"2026-03-12T09:00:00Z\",\"action\":\"cleanup\"}",
	 1, "a", 1773306000, SR_ACTION_CLEANUP, 0},
	{"{\"groups\":[\"a\",\"a\",\"b\"]}", 2, "a", NOW, SR_ACTION_REVOKE, 0},
	{"{\"groups\":[\"a\"],\"accounts\":[\"111111111111\",\"222222222222\"],\"reason\":\"left\"}",
	 1, "a", NOW, SR_ACTION_REVOKE, 2},
	{"{\"groups\":[\"a\"],\"time\":\"now\",\"accounts\":null,\"reason\":null}", 1, "a", NOW,
	 SR_ACTION_REVOKE, 0},
	{"{\"groups\":[\"a\"],\"time\":\"2026-03-12T09:09:00Z\"}", 1, "a", NOW + 29,
	 SR_ACTION_REVOKE, 0}, /* within the skew */
	/* Letters of any script, and marks and spaces, are fine in a group. */
	/* "*" is every group (the engine's SR_GROUP_ALL); "team_*" a group name */
	{"{\"groups\":[\"*\"]}", 1, "*", NOW, SR_ACTION_REVOKE, 0},
	{"{\"groups\":[\"*\",\"team_hr\",\"*\"]}", 2, "*", NOW, SR_ACTION_REVOKE, 0},
	{"{\"groups\":[\"team_*\"]}", 1, "team_*", NOW, SR_ACTION_REVOKE, 0},
	{"{\"groups\":[\"\\u00e9quipe \\u4e2d\\u6587\"]}", 1,
	 "\xc3\xa9" "quipe \xe4\xb8\xad\xe6\x96\x87", NOW, SR_ACTION_REVOKE, 0},
};

struct bad {
	const char *json;
	const char *msg;
};

static const struct bad bads[] = {
	{"", "not JSON"},
	{"[1,2]", "JSON object"},
	{"{\"groups\":[\"a\"]", "not JSON"},
	{"{}", "groups: required"},
	{"{\"groups\":[]}", "groups: must not be empty"},
	{"{\"groups\":\"team_opsec\"}", "groups: must be an array"},
	{"{\"groups\":[\"\"]}", "groups[0]: must be a non-empty string"},
	{"{\"groups\":[\"a\",7]}", "groups[1]: must be a non-empty string"},
	{"{\"groups\":[\"a\",\"b\",\"c\",\"d\"]}", "more than 3"},
	{"{\"groups\":[\"abcdefghijklmnopq\"]}", "groups[0]: longer than 16"},
	{"{\"groups\":[\"a\\nb\"]}", "control characters"},
	/* "*" with spaces is no group anyone has: a typo for every group */
	{"{\"groups\":[\"a\",\" *\"]}", "groups[1]: \" *\" is not \"*\" (every group)"},
	{"{\"groups\":[\"*  \"]}", "groups[0]: \"*  \" is not \"*\""},
	/* Unicode categories Cc, Cf, Zl, Zp, not only ASCII controls. */
	{"{\"groups\":[\"ok\",\"team\\u0085x\"]}", "groups[1]: holds control characters (U+0085"},
	{"{\"groups\":[\"team\\u009b\"]}", "(U+009B"},
	{"{\"groups\":[\"\\u202eteam\"]}", "(U+202E"},
	{"{\"groups\":[\"te\\u200bam\"]}", "(U+200B"},
	{"{\"groups\":[\"team\\u2028\"]}", "(U+2028"},
	{"{\"groups\":[\"team\\u2029\"]}", "(U+2029"},
	{"{\"groups\":[\"\\ufeffteam\"]}", "(U+FEFF"},
	{"{\"groups\":[\"te\\u00adam\"]}", "(U+00AD"},
	{"{\"groups\":[\"team\\u2066\"]}", "(U+2066"},
	{"{\"groups\":[\"team\\udb40\\udc41\"]}", "(U+E0041"},
	{"{\"group\":[\"a\"]}", "unknown field \"group\""},
	{"{\"groups\":[\"a\"],\"iss\":\"x\"}", "unknown field \"iss\""},
	{"{\"groups\":[\"a\"],\"time\":\"soon\"}", "\"soon\""},
	{"{\"groups\":[\"a\"],\"time\":\"in 5 minutes\"}", "\"in 5 minutes\""},
	{"{\"groups\":[\"a\"],\"time\":\"2026-03-12T10:00:00Z\"}", "in the future"},
	{"{\"groups\":[\"a\"],\"time\":1999999999}", "in the future"},
	{"{\"groups\":[\"a\"],\"time\":-5}", "out of range"},
	{"{\"groups\":[\"a\"],\"time\":true}", "time: must be a string or whole Unix seconds"},
	{"{\"groups\":[\"a\"],\"action\":\"delete\"}", "action: must be"},
	{"{\"groups\":[\"a\"],\"action\":1}", "action: must be"},
	{"{\"groups\":[\"a\"],\"accounts\":[\"12345\"]}", "accounts[0]: \"12345\" is not a 12-digit"},
	{"{\"groups\":[\"a\"],\"accounts\":[]}", "accounts: must not be empty"},
	{"{\"groups\":[\"a\"],\"reason\":5}", "reason: must be a string"},
	{"{\"groups\":[\"a\"],\"groups\":[\"b\"]}", "duplicate"},
	/* people */
	{"{\"subjects\":[]}", "subjects: must not be empty"},
	{"{\"subjects\":\"alice\"}", "subjects: must be an array"},
	{"{\"subjects\":[\"alice@example.com\",5]}", "subjects[1]: must be a non-empty string"},
	{"{\"subjects\":[\"a\"]}", "subjects[0]: \"a\" must be 2 to 64 of A-Z a-z 0-9 _+=,.@-"},
	{"{\"subjects\":[\"alice smith\"]}", "subjects[0]: \"alice smith\" must be 2 to 64"},
	{"{\"subjects\":[\"ali*\"]}", "subjects[0]: \"ali*\" must be 2 to 64"},
	{"{\"subjects\":[\"*\"]}", "subjects[0]: \"*\" must be 2 to 64"},
	{"{\"subjects\":[\"x12345678901234567890123456789012345678901234567890123456789012345\"]}",
	 "must be 2 to 64"},
	{"{\"subjects\":[\"al\\u0085ice\"]}", "subjects[0]: holds control characters"},
	{"{\"groups\":[],\"time\":1}", "groups: must not be empty"},
	{"{\"subject\":[\"alice\"]}", "unknown field \"subject\""},
};

static void test_good(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct sr_document *doc = NULL;
		struct sr_err err = {0};

		print_message("good %s\n", g->json);
		assert_int_equal(sr_document_parse_text(g->json, strlen(g->json), &lim, NOW, &doc,
							&err), SR_OK);
		assert_int_equal(doc->n_groups, g->n_groups);
		assert_string_equal(doc->groups[0], g->first_group);
		assert_int_equal(doc->cutoff, g->cutoff);
		assert_int_equal(doc->action, g->action);
		assert_int_equal(doc->n_accounts, g->n_accounts);
		sr_document_free(doc);
	}
}

static void test_bad(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct sr_document *doc = NULL;
		struct sr_err err = {0};

		assert_int_equal(sr_document_parse_text(b->json, strlen(b->json), &lim, NOW, &doc,
							&err), SR_EINVAL);
		print_message("bad  %-50s -> %s\n", b->json, err.msg);
		assert_null(doc);
		assert_non_null(strstr(err.msg, b->msg));
	}
}

/* reason keeps its text, without control and format characters: line
 * breaks and tabs become one space, the invisible ones go. */
static void test_reason_without_controls(void **state)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{"\"laptop stolen\"", "laptop stolen"},
		{"\"line one\\nline two\\r\\n\\tthree\"", "line one line two three"},
		{"\"a\\u2028b\\u2029c\\u0085d\"", "a b c d"},
		{"\"\\u202egnp.exe\\u202c ok\"", "gnp.exe ok"},
		{"\"zero\\u200bwidth\\ufeff\\u00ad\"", "zerowidth"},
		{"\"bell\\u0007 esc\\u001b[31m red\"", "bell esc[31m red"},
		{"\"caf\\u00e9 \\u4e2d\\u6587 \\ud83d\\ude00\"", "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char j[256];
		struct sr_document *doc = NULL;
		struct sr_err err = {0};

		snprintf(j, sizeof(j), "{\"groups\":[\"a\"],\"reason\":%s}", cases[i].json);
		print_message("reason %s\n", cases[i].json);
		assert_int_equal(sr_document_parse_text(j, strlen(j), &lim, NOW, &doc, &err), SR_OK);
		assert_string_equal(doc->reason, cases[i].want);
		sr_document_free(doc);
	}
}

/* subjects: people, alone or beside groups; folded; the cut-offs the
 * recorder sets. */
static void test_subjects(void **state)
{
	static const struct sr_document_limits tag = {
		.max_groups = 3, .max_group_length = 16, .skew = 60, .principal_tag = "user"};
	const char *alone = "{\"subjects\":[\"alice@example.com\",\"bob\",\"alice@example.com\"],"
			    "\"time\":1773300000}";
	const char *both = "{\"groups\":[\"team_hr\"],\"subjects\":[\"alice@example.com\"],"
			   "\"time\":1773300000}";
	const char *empty_groups = "{\"groups\":[],\"subjects\":[\"carol\"]}";
	const char *spaced = "{\"subjects\":[\"Alice Smith\"]}";
	struct sr_document *doc = NULL;
	struct sr_err err = {0};
	json_t *o;

	(void)state;
	assert_int_equal(sr_document_parse_text(alone, strlen(alone), &lim, NOW, &doc, &err), SR_OK);
	assert_int_equal(doc->n_groups, 0);
	assert_int_equal(doc->n_subjects, 2);
	assert_string_equal(doc->subjects[0], "alice@example.com");
	assert_string_equal(doc->subjects[1], "bob");
	sr_document_set_cutoffs(doc, 600, 36000);
	assert_int_equal(doc->groups_cutoff, 0); /* no group */
	assert_int_equal(doc->subjects_cutoff, 1773300000 + 36000);
	o = sr_document_to_json(doc);
	assert_int_equal(json_array_size(json_object_get(o, "subjects")), 2);
	json_decref(o);
	sr_document_free(doc);

	assert_int_equal(sr_document_parse_text(both, strlen(both), &lim, NOW, &doc, &err), SR_OK);
	assert_int_equal(doc->n_groups, 1);
	assert_int_equal(doc->n_subjects, 1);
	sr_document_set_cutoffs(doc, 600, 3600);
	assert_int_equal(doc->groups_cutoff, 1773300000 + 600);
	assert_int_equal(doc->subjects_cutoff, 1773300000 + 3600);
	sr_document_free(doc);

	assert_int_equal(sr_document_parse_text(empty_groups, strlen(empty_groups), &lim, NOW, &doc,
						&err), SR_OK);
	assert_int_equal(doc->n_groups, 0);
	assert_int_equal(doc->n_subjects, 1);
	sr_document_free(doc);

	/* a principal tag's value may hold a space; a source identity may not */
	assert_int_equal(sr_document_parse_text(spaced, strlen(spaced), &lim, NOW, &doc, &err),
			 SR_EINVAL);
	assert_int_equal(sr_document_parse_text(spaced, strlen(spaced), &tag, NOW, &doc, &err), SR_OK);
	/* a cleanup denies no one: no hold, no lifetime */
	doc->action = SR_ACTION_CLEANUP;
	sr_document_set_cutoffs(doc, 600, 3600);
	assert_int_equal(doc->subjects_cutoff, doc->cutoff);
	sr_document_free(doc);
}

static void test_jwt_claims_allowed_only_for_jwt(void **state)
{
	const char *j = "{\"groups\":[\"a\"],\"iss\":\"x\",\"aud\":\"y\",\"exp\":1,\"jti\":\"z\","
			"\"scope\":\"revocations:write\"}";
	struct sr_document *doc = NULL;
	struct sr_err err = {0};

	(void)state;
	assert_int_equal(sr_document_parse_text(j, strlen(j), &lim_jwt, NOW, &doc, &err), SR_OK);
	sr_document_free(doc);
	assert_int_equal(sr_document_parse_text(j, strlen(j), &lim, NOW, &doc, &err), SR_EINVAL);
}

static void test_to_json(void **state)
{
	const char *j = "{\"groups\":[\"a\",\"b\"],\"time\":\"2026-03-12T09:00:00+01:00\","
			"\"reason\":\"offboarding\"}";
	struct sr_document *doc = NULL;
	struct sr_err err = {0};
	json_t *o;

	(void)state;
	assert_int_equal(sr_document_parse_text(j, strlen(j), &lim, NOW, &doc, &err), SR_OK);
	o = sr_document_to_json(doc);
	assert_string_equal(json_string_value(json_object_get(o, "time")), "2026-03-12T08:00:00Z");
	assert_string_equal(json_string_value(json_object_get(o, "action")), "revoke");
	assert_int_equal(json_array_size(json_object_get(o, "groups")), 2);
	assert_true(json_is_null(json_object_get(o, "accounts")));
	json_decref(o);
	sr_document_free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_reason_without_controls),
		cmocka_unit_test(test_subjects),
		cmocka_unit_test(test_jwt_claims_allowed_only_for_jwt),
		cmocka_unit_test(test_to_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
