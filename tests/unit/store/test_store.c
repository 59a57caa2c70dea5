/*
 * test_store.c - the SQLite store: migrations, group commit from many
 * threads, idempotency, source events, reads and paging.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../testkit.h"
#include "session_revoker/store.h"

#define NOW 1773306511

static char db_path[128];

static struct sr_document *doc_of(const char *json)
{
	struct sr_document_limits lim = {.max_groups = 10, .max_group_length = 64, .skew = 60};
	struct sr_document *doc = NULL;
	struct sr_err err = {0};

	assert_int_equal(sr_document_parse_text(json, strlen(json), &lim, NOW, &doc, &err), SR_OK);
	return doc;
}

static struct sr_revocation_in in_of(const struct sr_document *doc)
{
	struct sr_revocation_in in = {
		.doc = doc, .source = "document", .issuer = "iss", .subject = "alice",
		.token_id = "jti-1", .now = NOW};
	return in;
}

static int64_t count(const char *table)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	char sql[128];
	int64_t n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

static int setup(void **state)
{
	struct sr_store *st = NULL;
	struct sr_err err = {0};

	snprintf(db_path, sizeof(db_path), "%s/test.db", tk_tmpdir());
	if (sr_store_open(db_path, 2, &st, &err) != SR_OK) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	sr_store_close(*state);
	return 0;
}

static void test_add_get(void **state)
{
	struct sr_store *st = *state;
	struct sr_document *doc = doc_of("{\"groups\":[\"team_opsec\",\"team_hr\"],"
					 "\"time\":\"30 minutes ago\",\"reason\":\"left\"}");
	struct sr_revocation_in in = in_of(doc);
	struct sr_err err = {0};
	json_t *rev = NULL, *again = NULL;
	int replayed = 1;

	assert_int_equal(sr_store_revocation_add(st, &in, &rev, &replayed, &err), SR_OK);
	assert_int_equal(replayed, 0);
	/* No targets (no accounts configured): recorded only, and it says so. */
	assert_string_equal(json_string_value(json_object_get(rev, "state")), "recorded");
	assert_non_null(strstr(json_string_value(json_object_get(rev, "state_reason")),
			       "aws.accounts"));
	assert_string_equal(json_string_value(json_object_get(rev, "cutoff")), "2026-03-12T08:38:31Z");
	assert_string_equal(json_string_value(json_object_get(rev, "time")), "30 minutes ago");
	assert_string_equal(json_string_value(json_array_get(json_object_get(rev, "groups"), 1)), "team_hr");
	assert_string_equal(json_string_value(json_object_get(json_object_get(rev, "requested_by"),
							      "subject")), "alice");
	assert_int_equal(sr_store_revocation_get(st, json_string_value(json_object_get(rev, "id")),
						 &again, &err), SR_OK);
	/* GET adds the jobs (none: no targets), role results and cleanup time. */
	assert_int_equal(json_array_size(json_object_get(again, "jobs")), 0);
	assert_int_equal(json_array_size(json_object_get(again, "roles")), 0);
	assert_true(json_is_null(json_object_get(again, "cleanup_due")));
	json_object_del(again, "jobs");
	json_object_del(again, "roles");
	json_object_del(again, "cleanup_due");
	assert_true(json_equal(rev, again));
	json_decref(again);
	again = NULL;
	assert_int_equal(count("revocations"), 1);
	assert_int_equal(count("revocation_groups"), 2);
	assert_int_equal(sr_store_revocation_get(st, "00000000-0000-4000-8000-000000000000", &again,
						 &err) == SR_ENOTFOUND, 1);
	json_decref(rev);
	json_decref(again);
	sr_document_free(doc);
}

static void test_idempotency(void **state)
{
	struct sr_store *st = *state;
	struct sr_document *doc = doc_of("{\"groups\":[\"a\"]}");
	struct sr_revocation_in in = in_of(doc);
	struct sr_err err = {0};
	json_t *first = NULL, *second = NULL;
	int replayed = 0;

	in.idempotency_key = "key-1";
	in.request_hash = "hash-a";
	assert_int_equal(sr_store_revocation_add(st, &in, &first, &replayed, &err), SR_OK);
	assert_int_equal(replayed, 0);
	assert_int_equal(sr_store_revocation_add(st, &in, &second, &replayed, &err), SR_OK);
	assert_int_equal(replayed, 1);
	assert_true(json_equal(first, second));
	json_decref(second);
	assert_int_equal(count("revocations"), 1);
	/* The same key for another request is refused and writes nothing. */
	in.request_hash = "hash-b";
	second = NULL;
	assert_int_equal(sr_store_revocation_add(st, &in, &second, &replayed, &err), SR_ECONFLICT);
	assert_null(second);
	assert_int_equal(count("revocations"), 1);
	/* Keys belong to a caller: another subject may use the same key. */
	in.subject = "bob";
	assert_int_equal(sr_store_revocation_add(st, &in, &second, &replayed, &err), SR_OK);
	assert_int_equal(replayed, 0);
	assert_int_equal(count("revocations"), 2);
	json_decref(first);
	json_decref(second);
	sr_document_free(doc);
}

static void test_source_event_once(void **state)
{
	struct sr_store *st = *state;
	struct sr_document *doc = doc_of("{\"groups\":[\"a\"]}");
	struct sr_revocation_in in = in_of(doc);
	struct sr_err err = {0};
	json_t *a = NULL, *b = NULL;
	int replayed = 0;

	in.source = "document-jwt";
	in.source_event_id = "iss#jti-9";
	assert_int_equal(sr_store_revocation_add(st, &in, &a, &replayed, &err), SR_OK);
	assert_int_equal(sr_store_revocation_add(st, &in, &b, &replayed, &err), SR_OK);
	assert_int_equal(replayed, 1);
	assert_string_equal(json_string_value(json_object_get(a, "id")),
			    json_string_value(json_object_get(b, "id")));
	assert_int_equal(count("revocations"), 1);
	json_decref(a);
	json_decref(b);
	sr_document_free(doc);
}

struct worker {
	struct sr_store *st;
	int ok;
};

static void *add_many(void *arg)
{
	struct worker *w = arg;
	struct sr_document *doc = doc_of("{\"groups\":[\"g\"]}");
	struct sr_revocation_in in = in_of(doc);
	int i;

	for (i = 0; i < 50; i++) {
		struct sr_err err = {0};
		json_t *rev = NULL;
		int replayed;
		if (sr_store_revocation_add(w->st, &in, &rev, &replayed, &err) == SR_OK && rev)
			w->ok++;
		json_decref(rev);
	}
	sr_document_free(doc);
	return NULL;
}

static void test_group_commit_many_threads(void **state)
{
	struct worker w[8];
	pthread_t t[8];
	int i, total = 0;

	for (i = 0; i < 8; i++) {
		w[i].st = *state;
		w[i].ok = 0;
		pthread_create(&t[i], NULL, add_many, &w[i]);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		total += w[i].ok;
	}
	assert_int_equal(total, 400);
	assert_int_equal(count("revocations"), 400);
}

static void test_list_paging_and_filters(void **state)
{
	struct sr_store *st = *state;
	const char *groups[] = {"x", "y", "x", "z", "x"};
	struct sr_revocation_filter f = {.limit = 2};
	struct sr_err err = {0};
	json_t *items = NULL;
	int64_t next = 0;
	char ids[5][40];
	int i, pages = 0, seen = 0;

	for (i = 0; i < 5; i++) {
		char json[64];
		struct sr_document *doc;
		struct sr_revocation_in in;
		json_t *rev = NULL;
		int replayed;
		snprintf(json, sizeof(json), "{\"groups\":[\"%s\"]}", groups[i]);
		doc = doc_of(json);
		in = in_of(doc);
		assert_int_equal(sr_store_revocation_add(st, &in, &rev, &replayed, &err), SR_OK);
		snprintf(ids[i], sizeof(ids[i]), "%s", json_string_value(json_object_get(rev, "id")));
		json_decref(rev);
		sr_document_free(doc);
	}
	do {
		assert_int_equal(sr_store_revocation_list(st, &f, &items, &next, &err), SR_OK);
		for (i = 0; i < (int)json_array_size(items); i++, seen++)
			assert_string_equal(json_string_value(json_object_get(json_array_get(items, (size_t)i), "id")),
					    ids[4 - seen]); /* newest first */
		json_decref(items);
		f.before = next;
		pages++;
	} while (next != 0);
	assert_int_equal(pages, 3);
	assert_int_equal(seen, 5);
	f.before = 0;
	f.limit = 50;
	f.group = "x";
	assert_int_equal(sr_store_revocation_list(st, &f, &items, &next, &err), SR_OK);
	assert_int_equal(json_array_size(items), 3);
	assert_int_equal(next, 0);
	json_decref(items);
	f.group = NULL;
	f.state = "applied";
	assert_int_equal(sr_store_revocation_list(st, &f, &items, &next, &err), SR_OK);
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);
}

static void test_ping_and_reopen(void **state)
{
	struct sr_store *st = NULL;
	struct sr_err err = {0};
	sqlite3 *db;

	assert_int_equal(sr_store_ping(*state, &err), SR_OK);
	sr_store_close(*state);
	*state = NULL;
	/* Reopening applies nothing again. */
	assert_int_equal(sr_store_open(db_path, 1, &st, &err), SR_OK);
	sr_store_close(st);
	/* A database from a newer binary is refused, not damaged. */
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(sr_store_open(db_path, 1, &st, &err), SR_ESTORE);
	assert_non_null(strstr(err.msg, "newer than this binary"));
	assert_null(st);
}

/* Readiness answers from the writer's last commit; a check is handed out at
 * most once a second, and only when nothing wrote in that second. */
static void test_ready_without_a_write_per_call(void **state)
{
	struct sr_err err = {0};
	int check = 0, i;

	assert_int_equal(sr_store_ready(*state, &check, &err), SR_OK);
	assert_int_equal(check, 1); /* nothing known yet: check */
	assert_int_equal(sr_store_ready(*state, &check, &err), SR_OK);
	assert_int_equal(check, 0); /* one check a second */
	assert_int_equal(sr_store_ping(*state, &err), SR_OK);
	for (i = 0; i < 100; i++) {
		assert_int_equal(sr_store_ready(*state, &check, &err), SR_OK);
		assert_int_equal(check, 0); /* a commit that wrote is fresh */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_event_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_many_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_paging_and_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ping_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ready_without_a_write_per_call, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
