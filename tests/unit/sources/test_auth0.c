/*
 * test_auth0.c - the Auth0 log stream parser (sr_auth0_parse), table-driven:
 * the three content formats of the samples in tests/data/auth0/, then one
 * delivery per variant (malformed records, bare log events, limits).
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


/* ---- the samples: the same nine events in every format ---- */

struct want {
	const char *event_id_tail; /* the log_id ends with this */
	const char *type, *kind, *subject;
	int64_t time;
	const char *time_text;
	const char *group; /* the one group named, or NULL for none */
};

static const struct want samples[] = {
	{"56701", "sapi", "user_blocked", "auth0|6601a2b3c4d5e6f7a8b9c0d1", 1773303298,
	 "2026-03-12T08:14:58.412Z", NULL},
	{"56702", "sapi", "roles_removed", "auth0|6604d5e6f7a8b9c0d1e2f3a4", 1773303461,
	 "2026-03-12T08:17:41.007Z", "rol_TeamOpsec0000001"},
	{"56703", "sapi", "org_members_removed", "auth0|6604d5e6f7a8b9c0d1e2f3a4", 1773303540,
	 "2026-03-12T08:19:00.655Z", "org_team_opsec_01"},
	{"56704", "sapi", "user_deleted", "auth0|6602b3c4d5e6f7a8b9c0d1e2", 1773303732,
	 "2026-03-12T08:22:12.930Z", NULL},
	{"56705", "sdu", "user_deleted", "auth0|6602b3c4d5e6f7a8b9c0d1e2", 1773303733,
	 "2026-03-12T08:22:13.101Z", NULL},
	{"56706", "scp", "password_changed", "samlp|corp-idp|k.nakamura@example.com", 1773304227,
	 "2026-03-12T08:30:27.774Z", NULL},
	{"56707", "slo", "slo", "samlp|corp-idp|k.nakamura@example.com", 1773304509,
	 "2026-03-12T08:35:09.218Z", NULL},
	{"56708", "limit_wc", "limit_wc", "", 1773304864, "2026-03-12T08:41:04.550Z", NULL},
	{"56709", "s", "s", "samlp|corp-idp|k.nakamura@example.com", 1773305099,
	 "2026-03-12T08:44:59.031Z", NULL},
};

static char *read_sample(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/auth0/%s", SR_TEST_DATA_DIR, name);
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
	size_t id_len;

	print_message("  [%zu] %s %s subject=%s\n", ev->index, ev->type ? ev->type : "-",
		      ev->kind ? ev->kind : "-", ev->subject ? ev->subject : "-");
	assert_null(ev->error);
	assert_int_equal(ev->index, index);
	assert_non_null(ev->event_id);
	id_len = strlen(ev->event_id);
	assert_int_equal(id_len, 56);
	assert_string_equal(ev->event_id + id_len - strlen(w->event_id_tail), w->event_id_tail);
	assert_string_equal(ev->type, w->type);
	assert_string_equal(ev->kind, w->kind);
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

static void test_sample_formats(void **state)
{
	static const struct {
		const char *file;
		size_t n;
	} files[] = {
		{"logstream-json-array.json", 9},
		{"logstream-json-lines.jsonl", 9},
		{"logstream-json-object.json", 1}, /* one record: the first */
	};
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct sr_event_batch batch = {0};
		struct sr_err err = {0};
		size_t len;
		char *body = read_sample(files[i].file, &len);

		print_message("%s\n", files[i].file);
		assert_int_equal(sr_auth0_parse(body, len, &batch, &err), SR_OK);
		assert_int_equal(batch.n, files[i].n);
		for (k = 0; k < batch.n; k++)
			check_event(&batch.v[k], &samples[k], k);
		sr_event_batch_free(&batch);
		free(body);
	}
}

/* ---- variants ---- */

#define DATE "2026-03-12T08:14:58.412Z"
#define T_DATE 1773303298

/* A sapi record (envelope) of a Management API call. */
#define SAPI(id, method, path, body)                                                  \
	"{\"log_id\":\"" id "\",\"data\":{\"date\":\"" DATE "\",\"type\":\"sapi\","     \
	"\"user_id\":\"auth0|admin\",\"details\":{\"request\":{\"method\":\"" method    \
	"\",\"path\":\"" path "\",\"query\":{},\"body\":" body "},"                     \
	"\"response\":{\"statusCode\":204,\"body\":{}}},\"log_id\":\"" id "\"}}"

/* An envelope with type and user_id only. */
#define REC(id, type, user)                                                           \
	"{\"log_id\":\"" id "\",\"data\":{\"date\":\"" DATE "\",\"type\":\"" type      \
	"\",\"user_id\":\"" user "\",\"details\":{}}}"

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
	/* One malformed record spoils nothing else. */
	{"malformed record in an array",
	 "[" REC("L1", "sdu", "auth0|a") ", 5, " REC("L3", "scp", "auth0|c") "]",
	 3, 1, NULL, NULL, NULL, NULL, "record is not a JSON object"},
	{"the record after it is intact",
	 "[" REC("L1", "sdu", "auth0|a") ", 5, " REC("L3", "scp", "auth0|c") "]",
	 3, 2, "L3", "password_changed", "auth0|c", "", NULL},
	{"a line that is not JSON",
	 REC("L1", "sdu", "auth0|a") "\n{\"log_id\": \"L2\", oops\n" REC("L3", "s", "auth0|c") "\n",
	 3, 1, NULL, NULL, NULL, NULL, "line 2: not JSON"},
	{"the lines around it are intact",
	 REC("L1", "sdu", "auth0|a") "\n{\"log_id\": \"L2\", oops\n" REC("L3", "s", "auth0|c") "\n",
	 3, 0, "L1", "user_deleted", "auth0|a", "", NULL},
	{"CRLF and blank lines between JSON lines",
	 "\r\n" REC("L1", "sdu", "auth0|a") "\r\n\r\n" REC("L2", "du", "auth0|b") "\r\n",
	 2, 1, "L2", "user_deleted", "auth0|b", "", NULL},
	{"envelope and data log_id differ",
	 "{\"log_id\":\"L1\",\"data\":{\"log_id\":\"L2\",\"date\":\"" DATE "\",\"type\":\"sdu\","
	 "\"user_id\":\"auth0|a\"}}",
	 1, 0, NULL, NULL, NULL, NULL, "log_id \"L1\" differs from data.log_id \"L2\""},
	{"log_id only inside data",
	 "{\"data\":{\"log_id\":\"L2\",\"date\":\"" DATE "\",\"type\":\"sdu\",\"user_id\":\"auth0|a\"}}",
	 1, 0, "L2", "user_deleted", "auth0|a", "", NULL},
	{"bare log event (GET /api/v2/logs)",
	 "[{\"log_id\":\"L1\",\"date\":\"" DATE "\",\"type\":\"scp\",\"user_id\":\"auth0|a\"},"
	 "{\"_id\":\"L2\",\"log_id\":\"L2\",\"date\":\"" DATE "\",\"type\":\"sdu\",\"user_id\":\"auth0|b\"}]",
	 2, 1, "L2", "user_deleted", "auth0|b", "", NULL},
	{"missing date",
	 "{\"log_id\":\"L1\",\"data\":{\"type\":\"sdu\",\"user_id\":\"auth0|a\"}}",
	 1, 0, "L1", NULL, NULL, NULL, "data.date: required"},
	{"a date that is no ISO 8601 date",
	 "{\"log_id\":\"L1\",\"data\":{\"date\":\"yesterday\",\"type\":\"sdu\",\"user_id\":\"auth0|a\"}}",
	 1, 0, "L1", NULL, NULL, NULL, "data.date: \"yesterday\" is not an ISO 8601 date"},
	{"an impossible date",
	 "{\"log_id\":\"L1\",\"date\":\"2026-02-30T00:00:00Z\",\"type\":\"sdu\",\"user_id\":\"a\"}",
	 1, 0, "L1", NULL, NULL, NULL, "date: \"2026-02-30T00:00:00Z\" is not"},
	{"missing log_id",
	 "{\"data\":{\"date\":\"" DATE "\",\"type\":\"sdu\",\"user_id\":\"auth0|a\"}}",
	 1, 0, NULL, NULL, NULL, NULL, "log_id: required"},
	{"missing type",
	 "{\"log_id\":\"L1\",\"data\":{\"date\":\"" DATE "\",\"user_id\":\"auth0|a\"}}",
	 1, 0, "L1", NULL, NULL, NULL, "data.type: required"},
	{"type of the wrong JSON type",
	 "{\"log_id\":\"L1\",\"data\":{\"date\":\"" DATE "\",\"type\":7}}",
	 1, 0, "L1", NULL, NULL, NULL, "data.type: must be a string"},
	{"data not an object",
	 "{\"log_id\":\"L1\",\"data\":[1]}",
	 1, 0, "L1", NULL, NULL, NULL, "data: must be an object"},
	{"sdu without user_id",
	 "{\"log_id\":\"L1\",\"data\":{\"date\":\"" DATE "\",\"type\":\"sdu\"}}",
	 1, 0, "L1", NULL, NULL, NULL, "data.user_id: required for type \"sdu\""},
	{"unknown type kept as its code",
	 REC("L1", "gd_enrollment_complete", "auth0|a"),
	 1, 0, "L1", "gd_enrollment_complete", "auth0|a", "", NULL},
	{"blocked: true",
	 SAPI("L1", "patch", "/api/v2/users/auth0|u1", "{\"blocked\":true}"),
	 1, 0, "L1", "user_blocked", "auth0|u1", "", NULL},
	{"blocked: false",
	 SAPI("L1", "patch", "/api/v2/users/auth0|u1", "{\"blocked\":false}"),
	 1, 0, "L1", "user_unblocked", "auth0|u1", "", NULL},
	{"method in upper case",
	 SAPI("L1", "PATCH", "/api/v2/users/auth0|u1", "{\"blocked\":true}"),
	 1, 0, "L1", "user_blocked", "auth0|u1", "", NULL},
	{"password set by an admin",
	 SAPI("L1", "patch", "/api/v2/users/auth0|u1", "{\"password\":\"x\",\"connection\":\"db\"}"),
	 1, 0, "L1", "password_changed_by_admin", "auth0|u1", "", NULL},
	{"blocked and a password: user_blocked wins",
	 SAPI("L1", "patch", "/api/v2/users/auth0|u1", "{\"password\":\"x\",\"blocked\":true}"),
	 1, 0, "L1", "user_blocked", "auth0|u1", "", NULL},
	{"other user changes keep the code, subject the admin",
	 SAPI("L1", "patch", "/api/v2/users/auth0|u1", "{\"name\":\"x\"}"),
	 1, 0, "L1", "sapi", "auth0|admin", "", NULL},
	{"path with a query string",
	 SAPI("L1", "delete", "/api/v2/users/auth0|u1?fields=user_id", "{}"),
	 1, 0, "L1", "user_deleted", "auth0|u1", "", NULL},
	{"percent-encoded user id",
	 SAPI("L1", "delete", "/api/v2/users/auth0%7Cperson%2F48", "{}"),
	 1, 0, "L1", "user_deleted", "auth0|person/48", "", NULL},
	{"user id of a SAML user",
	 SAPI("L1", "delete", "/api/v2/users/samlp|corp-idp|k.nakamura@example.com", "{}"),
	 1, 0, "L1", "user_deleted", "samlp|corp-idp|k.nakamura@example.com", "", NULL},
	{"empty user id",
	 SAPI("L1", "delete", "/api/v2/users/", "{}"),
	 1, 0, "L1", NULL, NULL, NULL, "user id: empty"},
	{"user id with an encoded NUL",
	 SAPI("L1", "delete", "/api/v2/users/auth0%00x", "{}"),
	 1, 0, "L1", NULL, NULL, NULL, "path: holds control characters"},
	{"roles removed from a user",
	 SAPI("L1", "delete", "/api/v2/users/auth0|u1/roles", "{\"roles\":[\"rol_A\",\"rol_B\",\"rol_A\"]}"),
	 1, 0, "L1", "roles_removed", "auth0|u1", "rol_A,rol_B", NULL},
	{"roles removed without a roles list",
	 SAPI("L1", "delete", "/api/v2/users/auth0|u1/roles", "{}"),
	 1, 0, "L1", NULL, NULL, NULL, "body.roles: must be a non-empty array"},
	{"a role removed from users: subject the users joined by ','",
	 SAPI("L1", "delete", "/api/v2/roles/rol_A/users", "{\"users\":[\"auth0|u1\",\"auth0|u2\"]}"),
	 1, 0, "L1", "roles_removed", "auth0|u1,auth0|u2", "rol_A", NULL},
	{"a user id holding ',' cannot be joined",
	 SAPI("L1", "delete", "/api/v2/roles/rol_A/users", "{\"users\":[\"a,b\"]}"),
	 1, 0, "L1", NULL, NULL, NULL, "body.users[0]: holds ','"},
	{"organization members removed",
	 SAPI("L1", "delete", "/api/v2/organizations/org_1/members", "{\"members\":[\"auth0|u1\"]}"),
	 1, 0, "L1", "org_members_removed", "auth0|u1", "org_1", NULL},
	{"roles assigned (POST) are not removals",
	 SAPI("L1", "post", "/api/v2/users/auth0|u1/roles", "{\"roles\":[\"rol_A\"]}"),
	 1, 0, "L1", "sapi", "auth0|admin", "", NULL},
	{"an empty array",
	 "[]", 0, 0, NULL, NULL, NULL, NULL, NULL},
};

static void split_check(const struct sr_event *ev, const char *groups)
{
	char buf[256];
	char *tok, *save = NULL;
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", groups);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		assert_true(n < ev->n_groups);
		assert_string_equal(ev->groups[n], tok);
		n++;
	}
	assert_int_equal(ev->n_groups, n);
}

static void test_variants(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		const struct variant *v = &variants[i];
		struct sr_event_batch batch = {0};
		struct sr_err err = {0};
		const struct sr_event *ev;

		print_message("%s\n", v->name);
		assert_int_equal(sr_auth0_parse(v->body, strlen(v->body), &batch, &err), SR_OK);
		assert_int_equal(batch.n, v->n);
		if (v->n == 0) {
			sr_event_batch_free(&batch);
			continue;
		}
		ev = &batch.v[v->at];
		print_message("  -> kind=%s subject=%s error=%s\n", ev->kind ? ev->kind : "-",
			      ev->subject ? ev->subject : "-", ev->error ? ev->error : "-");
		assert_int_equal(ev->index, v->at);
		if (v->event_id != NULL)
			assert_string_equal(ev->event_id, v->event_id);
		if (v->kind == NULL) {
			assert_non_null(ev->error);
			assert_non_null(strstr(ev->error, v->error));
		} else {
			assert_null(ev->error);
			assert_string_equal(ev->kind, v->kind);
			assert_string_equal(ev->subject, v->subject);
			assert_int_equal(ev->time, T_DATE);
			split_check(ev, v->groups);
		}
		sr_event_batch_free(&batch);
	}
}

/* ---- bodies nothing can be read from ---- */

struct bad {
	const char *name;
	const char *body;
	const char *msg;
};

static const struct bad bads[] = {
	{"empty", "", "body is empty"},
	{"blanks only", " \r\n\t\n", "body is empty"},
	{"text", "hello", "body is not JSON (array, lines or object): expected '[' or '{'"},
	{"a number", "5", "body is not JSON (array, lines or object)"},
	{"a broken array", "[{\"log_id\":\"L1\"}", "body is not JSON (array, lines or object): line 1"},
	{"lines none of which is JSON", "{oops\n{bad\n", "body is not JSON (array, lines or object): line 1"},
	{"an array with duplicate keys", "[{\"a\":1,\"a\":2}]", "duplicate"},
};

static void test_bad_bodies(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct sr_event_batch batch = {(struct sr_event *)1, 7};
		struct sr_err err = {0};

		assert_int_equal(sr_auth0_parse(bads[i].body, strlen(bads[i].body), &batch, &err),
				 SR_EINVAL);
		print_message("%-32s -> %s\n", bads[i].name, err.msg);
		assert_non_null(strstr(err.msg, bads[i].msg));
		assert_null(batch.v);
		assert_int_equal(batch.n, 0);
	}
}

/* SR_EVENTS_MAX_BATCH events pass; one more is refused as a whole, in the
 * array and in the lines format. */
static char *many(size_t n, int lines)
{
	static const char rec[] = REC("L", "s", "auth0|a");
	char *body = malloc(n * (sizeof(rec) + 1) + 3);
	char *p = body;
	size_t i;

	assert_non_null(body);
	if (!lines)
		*p++ = '[';
	for (i = 0; i < n; i++) {
		if (i > 0)
			*p++ = lines ? '\n' : ',';
		memcpy(p, rec, sizeof(rec) - 1);
		p += sizeof(rec) - 1;
	}
	if (!lines)
		*p++ = ']';
	*p = '\0';
	return body;
}

static void test_batch_limit(void **state)
{
	int lines;

	(void)state;
	for (lines = 0; lines <= 1; lines++) {
		struct sr_event_batch batch = {0};
		struct sr_err err = {0};
		char *body = many(SR_EVENTS_MAX_BATCH, lines);

		assert_int_equal(sr_auth0_parse(body, strlen(body), &batch, &err), SR_OK);
		assert_int_equal(batch.n, SR_EVENTS_MAX_BATCH);
		assert_null(batch.v[SR_EVENTS_MAX_BATCH - 1].error);
		sr_event_batch_free(&batch);
		free(body);

		body = many(SR_EVENTS_MAX_BATCH + 1, lines);
		assert_int_equal(sr_auth0_parse(body, strlen(body), &batch, &err), SR_EINVAL);
		print_message("%s: %s\n", lines ? "lines" : "array", err.msg);
		assert_non_null(strstr(err.msg, "more than 1000"));
		assert_null(batch.v);
		free(body);
	}
}

/* Limits inside one record: ids over 512 bytes, lists over 100 entries. */
static void test_record_limits(void **state)
{
	char id[600], body[8192], list[4096], *p;
	struct sr_event_batch batch = {0};
	struct sr_err err = {0};
	int i;

	(void)state;
	memset(id, 'x', 513);
	id[513] = '\0';
	snprintf(body, sizeof(body), SAPI("L1", "delete", "/api/v2/users/%s", "{}"), id);
	assert_int_equal(sr_auth0_parse(body, strlen(body), &batch, &err), SR_OK);
	assert_non_null(batch.v[0].error);
	assert_non_null(strstr(batch.v[0].error, "longer than 512"));
	sr_event_batch_free(&batch);

	id[512] = '\0';
	snprintf(body, sizeof(body), SAPI("L1", "delete", "/api/v2/users/%s", "{}"), id);
	assert_int_equal(sr_auth0_parse(body, strlen(body), &batch, &err), SR_OK);
	assert_null(batch.v[0].error);
	assert_int_equal(strlen(batch.v[0].subject), 512);
	sr_event_batch_free(&batch);

	for (p = list, i = 0; i < 101; i++)
		p += sprintf(p, "%s\"rol_%d\"", i ? "," : "", i);
	snprintf(body, sizeof(body),
		 SAPI("L1", "delete", "/api/v2/users/auth0|u1/roles", "{\"roles\":[%s]}"), list);
	assert_int_equal(sr_auth0_parse(body, strlen(body), &batch, &err), SR_OK);
	assert_non_null(batch.v[0].error);
	assert_non_null(strstr(batch.v[0].error, "more than 100"));
	sr_event_batch_free(&batch);
}

/* An error quoting provider bytes stays one line of valid UTF-8: jansson's
 * message quotes the bytes near the fault. */
static void test_error_is_one_clean_line(void **state)
{
	static const char body[] = REC("L1", "s", "auth0|a") "\n{\"log_id\": \x1b[31m\xc3}\n";
	struct sr_event_batch batch = {0};
	struct sr_err err = {0};
	const char *p;

	(void)state;
	assert_int_equal(sr_auth0_parse(body, strlen(body), &batch, &err), SR_OK);
	assert_int_equal(batch.n, 2);
	assert_non_null(batch.v[1].error);
	print_message("%s\n", batch.v[1].error);
	assert_non_null(strstr(batch.v[1].error, "line 2: not JSON"));
	for (p = batch.v[1].error; *p; p++)
		assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80);
	sr_event_batch_free(&batch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_formats),
		cmocka_unit_test(test_variants),
		cmocka_unit_test(test_bad_bodies),
		cmocka_unit_test(test_batch_limit),
		cmocka_unit_test(test_record_limits),
		cmocka_unit_test(test_error_is_one_clean_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
