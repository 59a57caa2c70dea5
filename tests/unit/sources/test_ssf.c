/*
 * test_ssf.c - the claims of a Security Event Token to an event
 * (sr_ssf_parse): the samples in tests/data/ssf/ (CAEP 1.0, RISC, the SSF
 * verification event), then variants, table-driven.
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

#ifndef SR_TEST_DATA_DIR
#error "SR_TEST_DATA_DIR must name tests/data"
#endif

#define NOW 1773306511 /* 2026-03-12T09:08:31Z */
#define SKEW 60

struct sample {
	const char *file;
	const char *event_id;
	const char *kind;
	const char *subject;
	int64_t time;
};

static const struct sample samples[] = {
	{"caep-session-revoked.json", "a3f1c9e27b5d4e8f9c0a1b2c3d4e5f60", "session_revoked",
	 "auth0|6603c4d5e6f7a8b9c0d1e2f3", 1773305990},
	{"caep-session-revoked-simple.json", "b4e2d0f38c6e4f90ad1b2c3d4e5f6071", "session_revoked",
	 "auth0|6604d5e6f7a8b9c0d1e2f3a4", 1773306055},
	{"caep-credential-change.json", "e7b5a3c61f9b42c3d04e5f6071829304", "credential_change",
	 "usr_7Hq2Lm9Vx4Tb", 1773306230},
	/* No event_timestamp: the SET's iat is the cut-off. */
	{"risc-account-disabled.json", "c5f3e1a49d7f40a1be2c3d4e5f607182", "account_disabled",
	 "jane.doe@example.com", 1773306120},
	{"risc-account-purged.json", "d6a4f2b50e8a41b2cf3d4e5f60718293", "account_purged",
	 "auth0|6602b3c4d5e6f7a8b9c0d1e2", 1773306180},
	{"ssf-verification.json", "f8c6b4d7209c43d4e15f607182930415", "verification",
	 "stream_01HZX5K7Q2", 1773306300},
};

static json_t *load_payload(const char *name)
{
	char path[512];
	json_error_t jerr;
	json_t *doc, *payload;

	snprintf(path, sizeof(path), "%s/ssf/%s", SR_TEST_DATA_DIR, name);
	doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(doc);
	payload = json_incref(json_object_get(doc, "payload"));
	assert_non_null(payload);
	json_decref(doc);
	return payload;
}

static void test_samples(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		const struct sample *s = &samples[i];
		struct sr_event_batch b = {0};
		struct sr_err err = {0};
		json_t *claims = load_payload(s->file);

		if (sr_ssf_parse(claims, NOW, SKEW, &b, &err) != SR_OK)
			fail_msg("%s: %s", s->file, err.msg);
		assert_int_equal(b.n, 1);
		assert_null(b.v[0].error);
		assert_string_equal(b.v[0].event_id, s->event_id);
		assert_string_equal(b.v[0].kind, s->kind);
		assert_string_equal(b.v[0].subject, s->subject);
		assert_int_equal(b.v[0].time, s->time);
		assert_int_equal(b.v[0].n_groups, 0);
		sr_event_batch_free(&b);
		json_decref(claims);
	}
}

/* Variants, as claims JSON. */
#define HEAD "\"iss\":\"https://auth.example.com/\",\"jti\":\"j1\",\"iat\":1773306000,"
#define SR "\"https://schemas.openid.net/secevent/caep/event-type/session-revoked\""
#define AD "\"https://schemas.openid.net/secevent/risc/event-type/account-disabled\""
#define EMAIL "\"sub_id\":{\"format\":\"email\",\"email\":\"a@example.com\"},"

struct good {
	const char *name;
	const char *json;
	const char *kind;
	const char *subject;
	int64_t time;
	const char *time_text;
};

static const struct good goods[] = {
	{"event_timestamp in milliseconds (CAEP's own examples)",
	 "{" HEAD EMAIL "\"events\":{" SR ":{\"event_timestamp\":1773305990643}}}",
	 "session_revoked", "a@example.com", 1773305990, "1773305990643"},
	{"event_timestamp in seconds",
	 "{" HEAD EMAIL "\"events\":{" SR ":{\"event_timestamp\":1773305990}}}",
	 "session_revoked", "a@example.com", 1773305990, "1773305990"},
	{"txn as a number",
	 "{" HEAD "\"txn\":42," EMAIL "\"events\":{" SR ":{}}}",
	 "session_revoked", "a@example.com", 1773306000, "1773306000"},
	{"txn as a string",
	 "{" HEAD "\"txn\":\"t-42\"," EMAIL "\"events\":{" SR ":{}}}",
	 "session_revoked", "a@example.com", 1773306000, "1773306000"},
	{"aud as an array does not matter here",
	 "{" HEAD "\"aud\":[\"x\",\"y\"]," EMAIL "\"events\":{" SR ":{}}}",
	 "session_revoked", "a@example.com", 1773306000, "1773306000"},
	{"the older RISC shape: the subject inside the event, subject_type iss-sub",
	 "{" HEAD "\"events\":{" AD ":{\"subject\":{\"subject_type\":\"iss-sub\","
	 "\"iss\":\"https://accounts.example.com/\",\"sub\":\"7375626a656374\"},"
	 "\"reason\":\"hijacking\"}}}",
	 "account_disabled", "7375626a656374", 1773306000, "1773306000"},
	{"the older RISC shape: email",
	 "{" HEAD "\"events\":{" AD ":{\"subject\":{\"subject_type\":\"email\","
	 "\"email\":\"b@example.com\"}}}}",
	 "account_disabled", "b@example.com", 1773306000, "1773306000"},
	{"the subject in the sub claim",
	 "{" HEAD "\"sub\":\"auth0|u9\",\"events\":{" SR ":{}}}",
	 "session_revoked", "auth0|u9", 1773306000, "1773306000"},
	{"complex with user as email (SSF)",
	 "{" HEAD "\"sub_id\":{\"format\":\"complex\",\"user\":{\"format\":\"email\","
	 "\"email\":\"c@example.com\"},\"tenant\":{\"format\":\"opaque\",\"id\":\"t\"}},"
	 "\"events\":{" SR ":{}}}",
	 "session_revoked", "c@example.com", 1773306000, "1773306000"},
	{"aliases: the first identifier that reads",
	 "{" HEAD "\"sub_id\":{\"format\":\"aliases\",\"identifiers\":[{\"format\":\"x\"},"
	 "{\"format\":\"opaque\",\"id\":\"o1\"}]},\"events\":{" SR ":{}}}",
	 "session_revoked", "o1", 1773306000, "1773306000"},
	{"an unknown event type: its URI is the kind (no rule names it)",
	 "{" HEAD EMAIL "\"events\":{\"https://example.com/event/new-thing\":{}}}",
	 "https://example.com/event/new-thing", "a@example.com", 1773306000, "1773306000"},
	{"a known event among extensions: the known one is the event",
	 "{" HEAD EMAIL "\"events\":{\"https://example.com/ext\":{\"x\":1}," SR
	 ":{\"event_timestamp\":1773305000}}}",
	 "session_revoked", "a@example.com", 1773305000, "1773305000"},
	{"within the clock skew",
	 "{" HEAD EMAIL "\"events\":{" SR ":{\"event_timestamp\":1773306570}}}",
	 "session_revoked", "a@example.com", 1773306570, "1773306570"},
};

static void test_goods(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct sr_event_batch b = {0};
		struct sr_err err = {0};
		json_t *claims = json_loads(g->json, JSON_REJECT_DUPLICATES, NULL);

		assert_non_null(claims);
		if (sr_ssf_parse(claims, NOW, SKEW, &b, &err) != SR_OK)
			fail_msg("%s: %s", g->name, err.msg);
		assert_int_equal(b.n, 1);
		assert_string_equal(b.v[0].event_id, "j1");
		assert_string_equal(b.v[0].kind, g->kind);
		assert_string_equal(b.v[0].subject, g->subject);
		assert_int_equal(b.v[0].time, g->time);
		assert_string_equal(b.v[0].time_text, g->time_text);
		sr_event_batch_free(&b);
		json_decref(claims);
	}
}

struct bad {
	const char *json;
	const char *msg;
};

static const struct bad bads[] = {
	{"[]", "the SET's claims must be a JSON object"},
	{"{\"iat\":1," EMAIL "\"events\":{" SR ":{}}}", "SET.jti: required"},
	{"{\"jti\":7,\"iat\":1," EMAIL "\"events\":{" SR ":{}}}", "SET.jti: must be a string"},
	{"{\"jti\":\"\",\"iat\":1," EMAIL "\"events\":{" SR ":{}}}", "SET.jti: must not be empty"},
	{"{" HEAD EMAIL "\"txn\":[1],\"events\":{" SR ":{}}}", "SET.txn: must be a string"},
	{"{" HEAD EMAIL "\"txn\":true,\"events\":{" SR ":{}}}", "SET.txn: must be a string"},
	{"{" HEAD "\"sub\":\"u\"}", "SET.events: required"},
	{"{" HEAD EMAIL "\"events\":{}}", "SET.events: required"},
	{"{" HEAD EMAIL "\"events\":[]}", "SET.events: required"},
	{"{" HEAD EMAIL "\"events\":{" SR ":true}}", "SET.events[\"https://schemas.openid.net/"
	 "secevent/caep/event-type/session-revoked\"]: must be an object"},
	{"{" HEAD "\"events\":{" SR ":{}}}", "SET.sub_id: required"},
	{"{" HEAD "\"sub_id\":\"a@example.com\",\"events\":{" SR ":{}}}",
	 "SET.sub_id: must be an object"},
	{"{" HEAD "\"sub_id\":{\"email\":\"a@example.com\"},\"events\":{" SR ":{}}}",
	 "SET.sub_id.format: required"},
	{"{" HEAD "\"sub_id\":{\"format\":\"email\"},\"events\":{" SR ":{}}}",
	 "SET.sub_id.email: required"},
	{"{" HEAD "\"sub_id\":{\"format\":\"email\",\"email\":\"\"},\"events\":{" SR ":{}}}",
	 "SET.sub_id.email: must not be empty"},
	{"{" HEAD "\"sub_id\":{\"format\":\"email\",\"email\":\"a\\nb\"},\"events\":{" SR ":{}}}",
	 "SET.sub_id.email: holds control characters"},
	{"{" HEAD "\"sub_id\":{\"format\":\"iss_sub\",\"sub\":\"s\"},\"events\":{" SR ":{}}}",
	 "SET.sub_id.iss: required"},
	{"{" HEAD "\"sub_id\":{\"format\":\"x509\"},\"events\":{" SR ":{}}}",
	 "SET.sub_id.format: \"x509\" is not a subject identifier format we read"},
	{"{" HEAD "\"sub_id\":{\"format\":\"complex\",\"tenant\":{\"format\":\"opaque\","
	 "\"id\":\"t\"}},\"events\":{" SR ":{}}}",
	 "SET.sub_id.user: required"},
	{"{" HEAD "\"sub_id\":{\"format\":\"complex\",\"user\":{\"format\":\"complex\"}},"
	 "\"events\":{" SR ":{}}}",
	 "SET.sub_id.user.format: \"complex\" is not a subject identifier format"},
	{"{" HEAD "\"sub_id\":{\"format\":\"aliases\",\"identifiers\":[]},\"events\":{" SR ":{}}}",
	 "SET.sub_id.identifiers: must be a non-empty array"},
	{"{" HEAD EMAIL "\"events\":{" SR ":{\"event_timestamp\":\"yesterday\"}}}",
	 "event-type/session-revoked\"].event_timestamp: must be a NumericDate"},
	{"{" HEAD EMAIL "\"events\":{" SR ":{\"event_timestamp\":-5}}}",
	 "event_timestamp: -5 is out of range"},
	{"{" HEAD EMAIL "\"events\":{" SR ":{\"event_timestamp\":1773306600}}}",
	 "event_timestamp: 1773306600 is 2026-03-12T09:10:00Z, in the future"},
	{"{" HEAD EMAIL "\"events\":{" SR ":{\"event_timestamp\":1773306600000}}}",
	 "event_timestamp: 1773306600000 is 2026-03-12T09:10:00Z, in the future"},
	{"{\"jti\":\"j1\"," EMAIL "\"events\":{" AD ":{}}}", "SET.iat: must be a NumericDate"},
};

static void test_bads(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct sr_event_batch b = {0};
		struct sr_err err = {0};
		json_t *claims = json_loads(bads[i].json, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
					    NULL);

		if (claims == NULL)
			fail_msg("not JSON: %s", bads[i].json);
		if (sr_ssf_parse(claims, NOW, SKEW, &b, &err) == SR_OK)
			fail_msg("accepted: %s", bads[i].json);
		assert_int_equal(err.code, SR_EINVAL);
		if (strstr(err.msg, bads[i].msg) == NULL)
			fail_msg("%s\n  said: %s\n  want: %s", bads[i].json, err.msg, bads[i].msg);
		assert_int_equal(b.n, 0);
		assert_null(b.v);
		json_decref(claims);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_goods),
		cmocka_unit_test(test_bads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
