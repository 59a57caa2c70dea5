/*
 * test_okta.c - the Okta event hook parser (sr_okta_parse), table-driven:
 * the samples in tests/data/okta/, then one delivery per variant (missing
 * fields, wrong types, unknown event types, duplicates, bad envelopes).
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

/* ---- the samples ---- */

struct want {
	const char *uuid, *type, *subject;
	int64_t time;
	const char *time_text;
	const char *group; /* the one group named, or NULL */
};

static const struct want w_remove = {"3f1c2a7e-1f0b-11f1-9a6e-5b1c2d3e4f50",
				     "group.user_membership.remove", "li.wei@example.com",
				     1773306131, "2026-03-12T09:02:11.406Z", "team_opsec"};
static const struct want w_deactivate = {"4a2d3b8f-1f0b-11f1-9a6e-6c2d3e4f5061",
					 "user.lifecycle.deactivate", "omar.haddad@example.com",
					 1773306347, "2026-03-12T09:05:47.918Z", NULL};
static const struct want w_suspend = {"5b3e4c90-1f0b-11f1-9a6e-7d3e4f506172",
				      "user.lifecycle.suspend", "jane.doe@example.com",
				      1773306423, "2026-03-12T09:07:03.250Z", NULL};
static const struct want w_clear = {"6c4f5da1-1f0b-11f1-9a6e-8e4f50617283",
				    "user.session.clear", "k.nakamura@example.com", 1773306510,
				    "2026-03-12T09:08:30.771Z", NULL};

static char *read_sample(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/okta/%s", SR_TEST_DATA_DIR, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void check_event(const struct sr_event *ev, const struct want *w, size_t index)
{
	print_message("  [%zu] %s subject=%s\n", ev->index, ev->kind ? ev->kind : "-",
		      ev->subject ? ev->subject : "-");
	assert_null(ev->error);
	assert_int_equal(ev->index, index);
	assert_string_equal(ev->event_id, w->uuid);
	assert_string_equal(ev->type, w->type);
	assert_string_equal(ev->kind, w->type);
	assert_string_equal(ev->subject, w->subject);
	assert_int_equal(ev->time, w->time);
	assert_string_equal(ev->time_text, w->time_text);
	if (w->group == NULL) {
		assert_int_equal(ev->n_groups, 0);
	} else {
		assert_int_equal(ev->n_groups, 1);
		assert_string_equal(ev->groups[0], w->group);
	}
	assert_false(ev->has_current);
}

static void test_samples(void **state)
{
	static const struct {
		const char *file, *envelope;
		size_t n;
		const struct want *w[4];
	} files[] = {
		{"delivery-batch-mixed.json", "f1253041-9e83-4071-9c21-b39e8f706165", 4,
		 {&w_remove, &w_deactivate, &w_suspend, &w_clear}},
		{"delivery-group-user-membership-remove.json",
		 "b7e1c0d2-5a4f-4c3b-9e8d-7f6a5b4c3d21", 1, {&w_remove}},
		{"delivery-user-lifecycle-deactivate.json", "c8f2d1e3-6b50-4d4c-8f9e-806b5c4d3e32",
		 1, {&w_deactivate}},
		{"delivery-user-lifecycle-suspend.json", "d9031e2f-7c61-4e5d-9a0f-917c6d5e4f43", 1,
		 {&w_suspend}},
		{"delivery-user-session-clear.json", "e0142f30-8d72-4f6e-8b10-a28d7e6f5054", 1,
		 {&w_clear}},
	};
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct sr_event_batch batch = {0};
		struct sr_err err = {0};
		char *envelope = NULL;
		size_t len;
		char *body = read_sample(files[i].file, &len);

		print_message("%s\n", files[i].file);
		assert_int_equal(sr_okta_parse(body, len, &batch, &envelope, &err), SR_OK);
		assert_string_equal(envelope, files[i].envelope);
		assert_int_equal(batch.n, files[i].n);
		for (k = 0; k < batch.n; k++)
			check_event(&batch.v[k], files[i].w[k], k);
		sr_event_batch_free(&batch);
		free(envelope);
		free(body);
	}
}

/* ---- variants ---- */

#define PUB "2026-03-12T09:02:11.406Z"
#define USER(alt) "{\"id\":\"00u1\",\"type\":\"User\",\"alternateId\":\"" alt "\"}"
#define GROUP(name) "{\"id\":\"00g1\",\"type\":\"UserGroup\",\"displayName\":\"" name "\"}"
#define EV(uuid, type, targets) \
	"{\"uuid\":\"" uuid "\",\"published\":\"" PUB "\",\"eventType\":\"" type "\"," \
	"\"actor\":{\"id\":\"00uadmin\",\"type\":\"User\"},\"target\":[" targets "]}"
#define ENV(events) \
	"{\"eventType\":\"com.okta.event_hook\",\"eventId\":\"env-1\",\"data\":{\"events\":[" \
	events "]}}"

struct variant {
	const char *name;
	const char *body;
	size_t n;            /* events */
	size_t at;           /* the event checked */
	const char *event_id;
	const char *kind;    /* NULL: the event is malformed */
	const char *subject;
	const char *groups;  /* "a,b": the groups named, in order */
	const char *error;   /* part of the event's error */
};

static const struct variant variants[] = {
	{"suspend", ENV(EV("u1", "user.lifecycle.suspend", USER("a@example.com"))),
	 1, 0, "u1", "user.lifecycle.suspend", "a@example.com", "", NULL},
	{"group removal names the group",
	 ENV(EV("u1", "group.user_membership.remove", USER("a@example.com") "," GROUP("team_hr"))),
	 1, 0, "u1", "group.user_membership.remove", "a@example.com", "team_hr", NULL},
	{"a group without displayName is named by alternateId",
	 ENV(EV("u1", "group.user_membership.remove",
		USER("a") ",{\"id\":\"00g2\",\"type\":\"UserGroup\",\"alternateId\":\"ops\"}")),
	 1, 0, "u1", "group.user_membership.remove", "a", "ops", NULL},
	{"a user whose alternateId is unknown is named by id",
	 ENV(EV("u1", "user.session.clear",
		"{\"id\":\"00u9\",\"type\":\"User\",\"alternateId\":\"unknown\"}")),
	 1, 0, "u1", "user.session.clear", "00u9", "", NULL},
	{"unknown event type kept for the rules",
	 ENV(EV("u1", "user.session.start", USER("a"))),
	 1, 0, "u1", "user.session.start", "a", "", NULL},
	{"unknown type without targets",
	 ENV("{\"uuid\":\"u1\",\"published\":\"" PUB "\",\"eventType\":\"system.org.rate_limit\"}"),
	 1, 0, "u1", "system.org.rate_limit", "", "", NULL},
	{"duplicate uuids in one batch are two events",
	 ENV(EV("u1", "user.lifecycle.suspend", USER("a")) "," EV("u1", "user.lifecycle.suspend",
								 USER("a"))),
	 2, 1, "u1", "user.lifecycle.suspend", "a", "", NULL},
	{"one malformed event spoils nothing else",
	 ENV("5," EV("u2", "user.lifecycle.deactivate", USER("b"))),
	 2, 1, "u2", "user.lifecycle.deactivate", "b", "", NULL},
	{"not an object",
	 ENV("5," EV("u2", "user.lifecycle.deactivate", USER("b"))),
	 2, 0, NULL, NULL, NULL, NULL, "event is not a JSON object"},
	{"missing uuid",
	 ENV("{\"published\":\"" PUB "\",\"eventType\":\"user.lifecycle.suspend\"}"),
	 1, 0, NULL, NULL, NULL, NULL, "uuid: required"},
	{"uuid of the wrong type",
	 ENV("{\"uuid\":7,\"published\":\"" PUB "\",\"eventType\":\"user.lifecycle.suspend\"}"),
	 1, 0, NULL, NULL, NULL, NULL, "uuid: must be a string"},
	{"missing eventType",
	 ENV("{\"uuid\":\"u1\",\"published\":\"" PUB "\"}"),
	 1, 0, "u1", NULL, NULL, NULL, "eventType: required"},
	{"missing published",
	 ENV("{\"uuid\":\"u1\",\"eventType\":\"user.lifecycle.suspend\"}"),
	 1, 0, "u1", NULL, NULL, NULL, "published: required"},
	{"published not a date",
	 ENV("{\"uuid\":\"u1\",\"published\":\"yesterday\",\"eventType\":\"user.lifecycle.suspend\"}"),
	 1, 0, "u1", NULL, NULL, NULL, "published: \"yesterday\" is not an ISO 8601 date"},
	{"published a number",
	 ENV("{\"uuid\":\"u1\",\"published\":1773306131,\"eventType\":\"user.lifecycle.suspend\"}"),
	 1, 0, "u1", NULL, NULL, NULL, "published: must be a string"},
	{"suspend without a User target",
	 ENV(EV("u1", "user.lifecycle.suspend", GROUP("team_hr"))),
	 1, 0, "u1", NULL, NULL, NULL, "a \"user.lifecycle.suspend\" event must name its User"},
	{"group removal without a UserGroup target",
	 ENV(EV("u1", "group.user_membership.remove", USER("a"))),
	 1, 0, "u1", NULL, NULL, NULL,
	 "a \"group.user_membership.remove\" event must name its UserGroup"},
	{"target not an array",
	 ENV("{\"uuid\":\"u1\",\"published\":\"" PUB "\",\"eventType\":\"user.lifecycle.suspend\","
	     "\"target\":{\"type\":\"User\",\"alternateId\":\"a\"}}"),
	 1, 0, "u1", NULL, NULL, NULL, "target: must be an array"},
	{"a target that is no object",
	 ENV(EV("u1", "user.lifecycle.suspend", "\"a\"")),
	 1, 0, "u1", NULL, NULL, NULL, "target[0]: must be an object"},
	{"target type of the wrong type",
	 ENV(EV("u1", "user.lifecycle.suspend", "{\"type\":1,\"alternateId\":\"a\"}")),
	 1, 0, "u1", NULL, NULL, NULL, "target[0].type: must be a string"},
	{"two different Users",
	 ENV(EV("u1", "user.lifecycle.suspend", USER("a") "," USER("b"))),
	 1, 0, "u1", NULL, NULL, NULL, "target: names more than one User"},
	{"a User with no name at all",
	 ENV(EV("u1", "user.lifecycle.suspend", "{\"type\":\"User\"}")),
	 1, 0, "u1", NULL, NULL, NULL, "target[0].id: required"},
	{"a name with a control character",
	 ENV(EV("u1", "user.lifecycle.suspend", USER("a\\u0007b"))),
	 1, 0, "u1", NULL, NULL, NULL, "target[0].alternateId: holds control characters"},
	{"actor of the wrong type",
	 ENV("{\"uuid\":\"u1\",\"published\":\"" PUB "\",\"eventType\":\"user.lifecycle.suspend\","
	     "\"actor\":\"admin\",\"target\":[" USER("a") "]}"),
	 1, 0, "u1", NULL, NULL, NULL, "actor: must be an object"},
};

static void test_variants(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		const struct variant *v = &variants[i];
		struct sr_event_batch batch = {0};
		struct sr_err err = {0};
		char *envelope = NULL;
		const struct sr_event *ev;

		print_message("%s\n", v->name);
		assert_int_equal(sr_okta_parse(v->body, strlen(v->body), &batch, &envelope, &err),
				 SR_OK);
		assert_string_equal(envelope, "env-1");
		assert_int_equal(batch.n, v->n);
		ev = &batch.v[v->at];
		assert_int_equal(ev->index, v->at);
		if (v->event_id == NULL)
			assert_null(ev->event_id);
		else
			assert_string_equal(ev->event_id, v->event_id);
		if (v->kind == NULL) {
			assert_non_null(ev->error);
			print_message("  error: %s\n", ev->error);
			assert_non_null(strstr(ev->error, v->error));
		} else {
			char joined[256] = "";
			assert_null(ev->error);
			assert_string_equal(ev->kind, v->kind);
			assert_string_equal(ev->subject, v->subject);
			for (k = 0; k < ev->n_groups; k++)
				snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined),
					 "%s%s", k ? "," : "", ev->groups[k]);
			assert_string_equal(joined, v->groups);
		}
		sr_event_batch_free(&batch);
		free(envelope);
	}
}

/* Envelopes that cannot be read: SR_EINVAL naming what is wrong, no events. */
static void test_bad_envelopes(void **state)
{
	static const struct {
		const char *body, *error;
	} bad[] = {
		{"", "body is empty"},
		{"not json", "body is not JSON"},
		{"[1,2]", "body must be a JSON object"},
		{"{\"data\":{\"events\":[]}}", "eventId: required"},
		{"{\"eventId\":5,\"data\":{\"events\":[]}}", "eventId: required"},
		{"{\"eventId\":\"\",\"data\":{\"events\":[]}}", "eventId: required"},
		{"{\"eventId\":\"a\\u0007b\",\"data\":{\"events\":[]}}", "eventId: holds control"},
		{"{\"eventId\":\"e\"}", "data.events: required"},
		{"{\"eventId\":\"e\",\"data\":[]}", "data.events: required"},
		{"{\"eventId\":\"e\",\"data\":{\"events\":{}}}", "data.events: required"},
		{"{\"eventId\":\"e\",\"data\":{\"events\":[]}}", "data.events: empty"},
		{"{\"eventId\":\"e\",\"eventId\":\"f\",\"data\":{\"events\":[]}}", "body is not JSON"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sr_event_batch batch = {(struct sr_event *)1, 5};
		struct sr_err err = {0};
		char *envelope = (char *)1;

		print_message("%s\n", bad[i].body);
		assert_int_equal(sr_okta_parse(bad[i].body, strlen(bad[i].body), &batch, &envelope,
					       &err), SR_EINVAL);
		print_message("  %s\n", err.msg);
		assert_non_null(strstr(err.msg, bad[i].error));
		assert_null(batch.v);
		assert_int_equal(batch.n, 0);
		assert_null(envelope);
	}
}

static void test_batch_limit(void **state)
{
	const char *one = EV("u", "user.lifecycle.suspend", USER("a")) ",";
	size_t n = SR_EVENTS_MAX_BATCH + 1, i, len = strlen(one);
	char *body = malloc(n * len + 128), *p = body;
	struct sr_event_batch batch = {0};
	struct sr_err err = {0};
	char *envelope = NULL;

	(void)state;
	assert_non_null(body);
	p += sprintf(p, "{\"eventId\":\"e\",\"data\":{\"events\":[");
	for (i = 0; i < n; i++) {
		memcpy(p, one, len);
		p += len;
	}
	p[-1] = ']';
	p += sprintf(p, "}}");
	assert_int_equal(sr_okta_parse(body, (size_t)(p - body), &batch, &envelope, &err),
			 SR_EINVAL);
	assert_non_null(strstr(err.msg, "more than 1000"));
	assert_null(envelope);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_variants),
		cmocka_unit_test(test_bad_envelopes),
		cmocka_unit_test(test_batch_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
