/*
 * test_okta_logout.c - the Okta Universal Logout body parser
 * (sr_okta_logout_parse), table-driven: each subject format, then bodies
 * with fields missing, of the wrong type, or of a format not supported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session_revoker/events.h"

#define NOW 1773306000

static void test_formats(void **state)
{
	static const struct {
		const char *body, *type, *subject;
	} cases[] = {
		{"{\"sub_id\": {\"format\": \"email\", \"email\": \"kim@example.com\"}}", "email",
		 "kim@example.com"},
		{"{\"sub_id\": {\"format\": \"iss_sub\", \"iss\": \"https://example.okta.com\","
		 " \"sub\": \"00u1kim\"}}",
		 "iss_sub", "00u1kim"},
		/* Auth0's endpoint of the same profile names the member "subject". */
		{"{\"subject\": {\"format\": \"iss_sub\", \"iss\": \"https://example.okta.com\","
		 " \"sub\": \"00u2lee\"}}",
		 "iss_sub", "00u2lee"},
		/* Members the format does not use are ignored. */
		{"{\"sub_id\": {\"format\": \"email\", \"email\": \"a@b.example\", \"sub\": 3},"
		 " \"extra\": true}",
		 "email", "a@b.example"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_event_batch batch;
		struct sr_err err = {0};
		const struct sr_event *ev;

		print_message("  %s\n", cases[i].body);
		assert_int_equal(sr_okta_logout_parse(cases[i].body, strlen(cases[i].body),
						      "https://example.okta.com#jti-1", NOW,
						      &batch, &err),
				 SR_OK);
		assert_int_equal(batch.n, 1);
		ev = &batch.v[0];
		assert_null(ev->error);
		assert_int_equal(ev->index, 0);
		assert_string_equal(ev->kind, "universal_logout");
		assert_string_equal(ev->type, cases[i].type);
		assert_string_equal(ev->subject, cases[i].subject);
		assert_string_equal(ev->event_id, "https://example.okta.com#jti-1");
		assert_int_equal(ev->time, NOW);
		assert_string_equal(ev->time_text, "1773306000");
		assert_int_equal(ev->n_groups, 0);
		sr_event_batch_free(&batch);
	}
}

static void test_refused(void **state)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{"", "body is empty"},
		{"{nope", "body is not JSON"},
		{"[]", "must be a JSON object"},
		{"{}", "sub_id: required"},
		{"{\"sub_id\": null}", "sub_id: required"},
		{"{\"sub_id\": \"kim@example.com\"}", "sub_id: must be an object"},
		{"{\"subject\": []}", "subject: must be an object"},
		{"{\"sub_id\": {\"format\": \"email\", \"email\": \"a@b.c\"},"
		 " \"subject\": {\"format\": \"email\", \"email\": \"a@b.c\"}}",
		 "not both"},
		{"{\"sub_id\": {\"email\": \"kim@example.com\"}}", "sub_id.format: required"},
		{"{\"sub_id\": {\"format\": 7}}", "sub_id.format: must be a string"},
		{"{\"sub_id\": {\"format\": \"\"}}", "sub_id.format: must not be empty"},
		{"{\"sub_id\": {\"format\": \"phone_number\", \"phone_number\": \"+1\"}}",
		 "sub_id.format: \"phone_number\" is not supported (email or iss_sub)"},
		{"{\"sub_id\": {\"format\": \"opaque\", \"id\": \"x\"}}", "\"opaque\" is not supported"},
		{"{\"sub_id\": {\"format\": \"email\"}}", "sub_id.email: required"},
		{"{\"sub_id\": {\"format\": \"email\", \"email\": [\"a@b.c\"]}}",
		 "sub_id.email: must be a string"},
		{"{\"sub_id\": {\"format\": \"email\", \"email\": \"kim\"}}", "not an email address"},
		{"{\"sub_id\": {\"format\": \"email\", \"email\": \"@example.com\"}}",
		 "not an email address"},
		{"{\"sub_id\": {\"format\": \"email\", \"email\": \"k\\u0007m@example.com\"}}",
		 "sub_id.email: holds control characters"},
		{"{\"sub_id\": {\"format\": \"iss_sub\", \"sub\": \"00u1\"}}", "sub_id.iss: required"},
		{"{\"sub_id\": {\"format\": \"iss_sub\", \"iss\": \"https://o\"}}",
		 "sub_id.sub: required"},
		{"{\"sub_id\": {\"format\": \"iss_sub\", \"iss\": \"https://o\", \"sub\": 1}}",
		 "sub_id.sub: must be a string"},
		{"{\"sub_id\": {\"format\": \"email\", \"email\": \"a@b.c\","
		 " \"email\": \"d@e.f\"}}",
		 "body is not JSON"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_event_batch batch = {(struct sr_event *)1, 9};
		struct sr_err err = {0};

		print_message("  %s\n", cases[i].body);
		assert_int_equal(sr_okta_logout_parse(cases[i].body, strlen(cases[i].body), "j", NOW,
						      &batch, &err),
				 SR_EINVAL);
		assert_int_equal(err.code, SR_EINVAL);
		assert_non_null(strstr(err.msg, cases[i].want));
		assert_null(batch.v);
		assert_int_equal(batch.n, 0);
	}
}

static void test_too_long_and_no_id(void **state)
{
	struct sr_event_batch batch;
	struct sr_err err = {0};
	char body[1200], sub[600];

	(void)state;
	memset(sub, 'a', 513);
	sub[513] = '\0';
	snprintf(body, sizeof(body),
		 "{\"sub_id\": {\"format\": \"iss_sub\", \"iss\": \"https://o\", \"sub\": \"%s\"}}",
		 sub);
	assert_int_equal(sr_okta_logout_parse(body, strlen(body), "j", NOW, &batch, &err),
			 SR_EINVAL);
	assert_string_equal(err.msg, "sub_id.sub: too long");
	/* A format too long to echo is refused without it. */
	memset(&err, 0, sizeof(err));
	snprintf(body, sizeof(body), "{\"sub_id\": {\"format\": \"%.60s\"}}", sub);
	assert_int_equal(sr_okta_logout_parse(body, strlen(body), "j", NOW, &batch, &err),
			 SR_EINVAL);
	assert_string_equal(err.msg, "sub_id.format: not supported (email or iss_sub)");
	/* The event needs an id (the token's jti). */
	memset(&err, 0, sizeof(err));
	snprintf(body, sizeof(body), "{\"sub_id\": {\"format\": \"email\", \"email\": \"a@b.c\"}}");
	assert_int_equal(sr_okta_logout_parse(body, strlen(body), "", NOW, &batch, &err),
			 SR_EINVAL);
	assert_non_null(strstr(err.msg, "jti"));
	assert_int_equal(batch.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_too_long_and_no_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
