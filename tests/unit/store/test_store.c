/*
 * test_store.c - the store: migrations, group commit from many threads,
 * idempotency, source events, reads and paging; the event sources' batches,
 * user groups, events seen and stored values. On SQLite, and again on
 * PostgreSQL in unit.test_store.pg (testkit.h: tk_store_url).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../testkit.h"
#include "session_revoker/store.h"

#define NOW 1773306511

static char *url; /* this test's store (tk_store_url) */

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

/* A file (truncated) to put stderr in; the descriptor. */
static int open_stderr_file(const char *file)
{
	FILE *f = fopen(file, "w");
	int fd;

	assert_non_null(f);
	fd = dup(fileno(f));
	fclose(f);
	return fd;
}

static int64_t count(const char *table)
{
	return tk_store_count(url, table);
}

static int setup(void **state)
{
	struct sr_store *st = NULL;
	struct sr_err err = {0};

	url = tk_store_url();
	if (sr_store_open(url, 2, &st, &err) != SR_OK) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	sr_store_close(*state);
	free(url);
	url = NULL;
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
	json_t *rev = NULL;
	int replayed;
	struct sr_document *doc = doc_of("{\"groups\":[\"a\"]}");
	struct sr_revocation_in in = in_of(doc);

	assert_int_equal(sr_store_ping(*state, &err), SR_OK);
	assert_int_equal(sr_store_revocation_add(*state, &in, &rev, &replayed, &err), SR_OK);
	json_decref(rev);
	sr_store_close(*state);
	*state = NULL;
	/* Reopening applies nothing again, and keeps what was written. */
	assert_int_equal(sr_store_open(url, 1, &st, &err), SR_OK);
	*state = st;
	assert_int_equal(count("revocations"), 1);
	assert_int_equal(sr_store_ping(st, &err), SR_OK);
	sr_document_free(doc);
}

/* A database a newer binary migrated (mark: the statement that says so on
 * this back end) is refused, not damaged. */
static void newer_schema_refused(void **state, const char *mark)
{
	struct sr_store *st = NULL;
	struct sr_err err = {0};

	sr_store_close(*state);
	*state = NULL;
	tk_store_exec(url, mark);
	assert_int_equal(sr_store_open(url, 1, &st, &err), SR_ESTORE);
	assert_non_null(strstr(err.msg, "newer than this binary"));
	assert_null(st);
	/* still there, untouched */
	assert_int_equal(count("revocations"), 0);
}

static void test_newer_schema_refused_sqlite(void **state)
{
	newer_schema_refused(state, "PRAGMA user_version = 99");
	assert_int_equal(tk_store_int(url, "PRAGMA user_version"), 99);
}

static void test_newer_schema_refused_pg(void **state)
{
	newer_schema_refused(state, "INSERT INTO schema_migrations (version, name, applied_at)"
				    " VALUES (99, '099_from_the_future.sql', 0)");
	assert_int_equal(tk_store_int(url, "SELECT max(version) FROM schema_migrations"), 99);
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

/* What the server says besides answers (a NOTICE when a migration finds a
 * table there, the FATAL a terminated session leaves behind) reaches the
 * log as log lines, never as raw text on stderr. */
static void test_server_messages_are_log_lines(void **state)
{
	char *file = tk_write(tk_tmpdir(), "stderr", "");
	struct sr_store *st = NULL;
	struct sr_err err = {0};
	char line[1024], bad[1024] = "";
	int saved = dup(2), fd, lines = 0;
	FILE *f;

	sr_store_close(*state);
	*state = NULL;
	fflush(stderr);
	fd = open_stderr_file(file);
	dup2(fd, 2);
	close(fd);
	/* migrated already: CREATE TABLE IF NOT EXISTS schema_migrations notices */
	sr_store_open(url, 1, &st, &err);
	/* every connection of the store ended by the server, then used */
	tk_store_exec(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
			   " WHERE application_name = 'session-revoker'"
			   " AND datname = current_database()");
	usleep(100000);
	if (st != NULL)
		sr_store_ping(st, &err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	*state = st;
	assert_non_null(st);
	assert_non_null(f = fopen(file, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		lines++;
		if (strncmp(line, "ts=", 3) != 0 && bad[0] == '\0')
			snprintf(bad, sizeof(bad), "%s", line);
	}
	fclose(f);
	free(file);
	if (bad[0] != '\0')
		fail_msg("not a log line on stderr: %s", bad);
	assert_true(lines > 0); /* the reconnect, at least */
}

/* ---- event sources (issue 9): batches, user groups, events seen, meta ---- */

#define ACCOUNT "111111111111"

struct batch {
	struct sr_document *docs[3];
	struct sr_revocation_in in[3];
	struct sr_store_item items[3];
	char *targets[1];
};

/* Three Auth0 events: e-1 (group x), e-2 (group b), e-3 (group y, one
 * account to work in). */
static void batch_init(struct batch *b)
{
	static const char *const json[] = {"{\"groups\":[\"x\"]}", "{\"groups\":[\"b\"]}",
					   "{\"groups\":[\"y\"]}"};
	static const char *const ids[] = {"e-1", "e-2", "e-3"};
	int i;

	memset(b, 0, sizeof(*b));
	b->targets[0] = ACCOUNT;
	for (i = 0; i < 3; i++) {
		b->docs[i] = doc_of(json[i]);
		b->in[i] = in_of(b->docs[i]);
		b->in[i].source = "auth0";
		b->in[i].source_event_id = ids[i];
		b->in[i].event_subject = "auth0|user-1";
		b->in[i].rule = "user-deleted";
	}
	b->in[1].note = "lookup failed: timeout; fallback groups used";
	b->in[2].targets = b->targets;
	b->in[2].n_targets = 1;
}

static void batch_items_free(struct batch *b)
{
	int i;

	for (i = 0; i < 3; i++) {
		json_decref(b->items[i].result);
		b->items[i].result = NULL;
	}
}

static void batch_free(struct batch *b)
{
	int i;

	batch_items_free(b);
	for (i = 0; i < 3; i++)
		sr_document_free(b->docs[i]);
}

static enum sr_rc batch_submit(struct sr_store *st, struct batch *b,
			       const struct sr_user_groups *cache, size_t n_cache)
{
	struct sr_store_op op;
	struct sr_err err = {0};

	memset(&op, 0, sizeof(op));
	op.kind = SR_STORE_OP_REVOCATIONS;
	op.in = b->in;
	op.n_in = 3;
	op.items = b->items;
	op.cache = cache;
	op.n_cache = n_cache;
	return sr_store_submit_wait(st, &op, &err);
}

static const char *str_of(json_t *rev, const char *key)
{
	return json_string_value(json_object_get(rev, key));
}

/* e-2 was recorded before with another document (group a): without
 * replay_any that is a conflict, refused alone; the other two commit. */
static void record_e2_first(struct sr_store *st, json_t **first)
{
	struct sr_document *doc = doc_of("{\"groups\":[\"a\"]}");
	struct sr_revocation_in in = in_of(doc);
	struct sr_err err = {0};
	int replayed = 1;

	in.source = "auth0";
	in.source_event_id = "e-2";
	assert_int_equal(sr_store_revocation_add(st, &in, first, &replayed, &err), SR_OK);
	assert_int_equal(replayed, 0);
	sr_document_free(doc);
}

static void test_batch_one_refused_others_commit(void **state)
{
	struct sr_store *st = *state;
	char *groups[] = {"x", "y"};
	struct sr_user_groups cache = {.source = "auth0", .subject = "auth0|user-1",
				       .groups = groups, .n_groups = 2, .at = NOW};
	struct batch b;
	json_t *first = NULL, *got = NULL;
	char id0[40], id2[40];
	struct sr_err err = {0};

	record_e2_first(st, &first);
	batch_init(&b);
	assert_int_equal(batch_submit(st, &b, &cache, 1), SR_OK);
	assert_int_equal(b.items[0].rc, SR_OK);
	assert_int_equal(b.items[0].replayed, 0);
	assert_int_equal(b.items[1].rc, SR_ECONFLICT);
	assert_non_null(strstr(b.items[1].err.msg, "already used for a different document"));
	assert_null(b.items[1].result);
	assert_int_equal(b.items[2].rc, SR_OK);
	assert_int_equal(b.items[2].replayed, 0);
	/* What the API shows: whom the event was about, the rule, the note. */
	assert_string_equal(str_of(b.items[0].result, "subject"), "auth0|user-1");
	assert_string_equal(str_of(b.items[0].result, "rule"), "user-deleted");
	assert_true(json_is_null(json_object_get(b.items[0].result, "note")));
	assert_string_equal(str_of(b.items[0].result, "source_event_id"), "e-1");
	assert_string_equal(str_of(b.items[2].result, "state"), "pending");
	snprintf(id0, sizeof(id0), "%s", str_of(b.items[0].result, "id"));
	snprintf(id2, sizeof(id2), "%s", str_of(b.items[2].result, "id"));
	assert_int_equal(count("revocations"), 3);
	assert_int_equal(count("revocation_groups"), 3);
	assert_int_equal(count("jobs"), 1);
	assert_int_equal(count("user_groups"), 1);
	/* Read back, the row says the same as the answer did. */
	assert_int_equal(sr_store_revocation_get(st, id0, &got, &err), SR_OK);
	assert_string_equal(str_of(got, "subject"), "auth0|user-1");
	assert_string_equal(str_of(got, "rule"), "user-deleted");
	assert_true(json_is_null(json_object_get(got, "note")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(got, "requested_by"),
							      "subject")), "alice");
	json_decref(got);

	/* The same batch again (Auth0 retries whole batches): e-1 and e-3 are
	 * the revocations recorded the first time, nothing is written. */
	batch_items_free(&b);
	assert_int_equal(batch_submit(st, &b, &cache, 1), SR_OK);
	assert_int_equal(b.items[0].rc, SR_OK);
	assert_int_equal(b.items[0].replayed, 1);
	assert_string_equal(str_of(b.items[0].result, "id"), id0);
	assert_int_equal(b.items[1].rc, SR_ECONFLICT);
	assert_int_equal(b.items[2].rc, SR_OK);
	assert_int_equal(b.items[2].replayed, 1);
	assert_string_equal(str_of(b.items[2].result, "id"), id2);
	assert_int_equal(count("revocations"), 3);
	assert_int_equal(count("revocation_groups"), 3);
	assert_int_equal(count("jobs"), 1);
	assert_int_equal(count("user_groups"), 1);

	/* With replay_any (a provider's redelivered event), e-2 is the event
	 * recorded before whatever its groups resolve to now: no conflict. */
	batch_items_free(&b);
	b.in[1].replay_any = true;
	assert_int_equal(batch_submit(st, &b, NULL, 0), SR_OK);
	assert_int_equal(b.items[1].rc, SR_OK);
	assert_int_equal(b.items[1].replayed, 1);
	assert_string_equal(str_of(b.items[1].result, "id"), str_of(first, "id"));
	assert_string_equal(json_string_value(json_array_get(json_object_get(b.items[1].result,
									     "groups"), 0)), "a");
	assert_int_equal(count("revocations"), 3);
	assert_int_equal(count("revocation_groups"), 3);
	json_decref(first);
	batch_free(&b);
}

/* One event twice in a batch is one revocation; a new event's note and
 * rule are kept as given. */
static void test_batch_same_event_twice(void **state)
{
	struct sr_store *st = *state;
	struct batch b;

	batch_init(&b);
	b.in[0].source_event_id = "e-2";
	b.in[0].replay_any = true;
	b.in[1].replay_any = true;
	assert_int_equal(batch_submit(st, &b, NULL, 0), SR_OK);
	assert_int_equal(b.items[0].rc, SR_OK);
	assert_int_equal(b.items[0].replayed, 0);
	assert_int_equal(b.items[1].rc, SR_OK);
	assert_int_equal(b.items[1].replayed, 1);
	assert_string_equal(str_of(b.items[1].result, "id"), str_of(b.items[0].result, "id"));
	assert_int_equal(count("revocations"), 2);
	batch_items_free(&b);
	b.in[0].source_event_id = "e-4";
	b.in[0].note = "lookup failed: HTTP 503; fallback groups used";
	assert_int_equal(batch_submit(st, &b, NULL, 0), SR_OK);
	assert_int_equal(b.items[0].replayed, 0);
	assert_string_equal(str_of(b.items[0].result, "note"),
			    "lookup failed: HTTP 503; fallback groups used");
	assert_int_equal(count("revocations"), 3);
	batch_free(&b);
}

/* A bad record fails the whole op: every item says so, nothing is stored. */
static void test_batch_bad_record_stores_nothing(void **state)
{
	struct sr_store *st = *state;
	struct sr_user_groups cache[2] = {
		{.source = "auth0", .subject = "auth0|user-1", .at = NOW},
		{.source = "auth0", .subject = NULL, .at = NOW},
	};
	struct batch b;
	int i;

	batch_init(&b);
	assert_int_equal(batch_submit(st, &b, cache, 2), SR_EINVAL);
	for (i = 0; i < 3; i++) {
		assert_int_equal(b.items[i].rc, SR_EINVAL);
		assert_null(b.items[i].result);
		assert_non_null(strstr(b.items[i].err.msg, "subject"));
	}
	assert_int_equal(count("revocations"), 0);
	assert_int_equal(count("jobs"), 0);
	assert_int_equal(count("user_groups"), 0);
	batch_free(&b);
}

static void test_events_seen(void **state)
{
	struct sr_store *st = *state;
	char *ids[] = {"e-1", "e-2", "e-3", "e-9"};
	bool seen[4] = {true, true, true, true};
	struct sr_err err = {0};
	json_t *first = NULL;
	struct batch b;

	assert_int_equal(sr_store_events_seen(st, "auth0", ids, 4, seen, &err), SR_OK);
	assert_false(seen[0] || seen[1] || seen[2] || seen[3]);
	record_e2_first(st, &first);
	batch_init(&b);
	assert_int_equal(batch_submit(st, &b, NULL, 0), SR_OK);
	assert_int_equal(sr_store_events_seen(st, "auth0", ids, 4, seen, &err), SR_OK);
	assert_true(seen[0] && seen[1] && seen[2]);
	assert_false(seen[3]);
	/* Event ids are per source. */
	assert_int_equal(sr_store_events_seen(st, "group-change", ids, 4, seen, &err), SR_OK);
	assert_false(seen[0] || seen[1] || seen[2] || seen[3]);
	json_decref(first);
	batch_free(&b);
}

static void test_user_groups(void **state)
{
	struct sr_store *st = *state;
	char *now_groups[] = {"aws-admins", "aws-ops"}, *later_groups[] = {"aws-ops"};
	struct sr_user_groups u = {.source = "auth0", .subject = "auth0|user-1",
				   .groups = now_groups, .n_groups = 2, .at = NOW};
	struct sr_store_op op;
	struct sr_err err = {0};
	char **groups = NULL;
	size_t n = 9;
	int64_t at = 9;

	assert_int_equal(sr_store_user_groups_get(st, "auth0", "auth0|user-1", &groups, &n, &at,
						  &err), SR_ENOTFOUND);
	assert_null(groups);
	assert_int_equal(n, 0);
	memset(&op, 0, sizeof(op));
	op.kind = SR_STORE_OP_REVOCATIONS;
	op.cache = &u;
	op.n_cache = 1;
	assert_int_equal(sr_store_submit_wait(st, &op, &err), SR_OK);
	assert_int_equal(sr_store_user_groups_get(st, "auth0", "auth0|user-1", &groups, &n, &at,
						  &err), SR_OK);
	assert_int_equal(n, 2);
	assert_string_equal(groups[0], "aws-admins");
	assert_string_equal(groups[1], "aws-ops");
	assert_int_equal(at, NOW);
	sr_strv_free(groups, n);
	/* Per source: the same subject elsewhere is unknown. */
	assert_int_equal(sr_store_user_groups_get(st, "okta", "auth0|user-1", &groups, &n, &at,
						  &err), SR_ENOTFOUND);
	/* A later lookup replaces them; an older one committed late does not. */
	u.groups = later_groups;
	u.n_groups = 1;
	u.at = NOW + 60;
	assert_int_equal(sr_store_submit_wait(st, &op, &err), SR_OK);
	u.groups = now_groups;
	u.n_groups = 2;
	u.at = NOW + 30;
	assert_int_equal(sr_store_submit_wait(st, &op, &err), SR_OK);
	assert_int_equal(sr_store_user_groups_get(st, "auth0", "auth0|user-1", &groups, &n, &at,
						  &err), SR_OK);
	assert_int_equal(n, 1);
	assert_string_equal(groups[0], "aws-ops");
	assert_int_equal(at, NOW + 60);
	sr_strv_free(groups, n);
	/* No groups at all is a known answer too. */
	u.groups = NULL;
	u.n_groups = 0;
	u.at = NOW + 90;
	assert_int_equal(sr_store_submit_wait(st, &op, &err), SR_OK);
	assert_int_equal(sr_store_user_groups_get(st, "auth0", "auth0|user-1", &groups, &n, &at,
						  &err), SR_OK);
	assert_int_equal(n, 0);
	assert_int_equal(at, NOW + 90);
	sr_strv_free(groups, n);
	assert_int_equal(count("user_groups"), 1);
}

static void test_meta(void **state)
{
	struct sr_store *st = *state;
	struct sr_err err = {0};
	char *value = NULL;

	assert_int_equal(sr_store_meta_get(st, "auth0.poll.checkpoint", &value, &err),
			 SR_ENOTFOUND);
	assert_null(value);
	assert_int_equal(sr_store_meta_put(st, "auth0.poll.checkpoint", "900", &err), SR_OK);
	assert_int_equal(sr_store_meta_put(st, "auth0.poll.checkpoint", "901", &err), SR_OK);
	assert_int_equal(sr_store_meta_get(st, "auth0.poll.checkpoint", &value, &err), SR_OK);
	assert_string_equal(value, "901");
	free(value);
	/* The readiness check's own row is not for callers; nor is an empty key. */
	assert_int_equal(sr_store_meta_put(st, "ready_check", "0", &err), SR_EINVAL);
	sr_err_clear(&err);
	assert_int_equal(sr_store_meta_put(st, "", "0", &err), SR_EINVAL);
	/* Committed: another store on the file sees it. */
	sr_store_close(*state);
	*state = NULL;
	assert_int_equal(sr_store_open(url, 1, &st, &err), SR_OK);
	*state = st;
	assert_int_equal(sr_store_meta_get(st, "auth0.poll.checkpoint", &value, &err), SR_OK);
	assert_string_equal(value, "901");
	free(value);
	assert_int_equal(count("service_meta"), 1);
}

static void test_list_by_source(void **state)
{
	struct sr_store *st = *state;
	struct sr_revocation_filter f = {.limit = 50, .source = "auth0"};
	struct sr_err err = {0};
	json_t *items = NULL, *first = NULL;
	struct sr_document *doc = doc_of("{\"groups\":[\"x\"]}");
	struct sr_revocation_in in = in_of(doc);
	int64_t next = 0;
	struct batch b;
	int replayed;

	assert_int_equal(sr_store_revocation_add(st, &in, &first, &replayed, &err), SR_OK);
	json_decref(first);
	record_e2_first(st, &first);
	batch_init(&b);
	b.in[1].source = "group-change";
	assert_int_equal(batch_submit(st, &b, NULL, 0), SR_OK);
	assert_int_equal(count("revocations"), 5);
	/* auth0: e-3, e-1, e-2 (the first), newest first. */
	assert_int_equal(sr_store_revocation_list(st, &f, &items, &next, &err), SR_OK);
	assert_int_equal(json_array_size(items), 3);
	assert_string_equal(str_of(json_array_get(items, 0), "source_event_id"), "e-3");
	assert_string_equal(str_of(json_array_get(items, 1), "source_event_id"), "e-1");
	assert_string_equal(str_of(json_array_get(items, 2), "id"), str_of(first, "id"));
	json_decref(items);
	/* Paging within a source. */
	f.limit = 2;
	assert_int_equal(sr_store_revocation_list(st, &f, &items, &next, &err), SR_OK);
	assert_int_equal(json_array_size(items), 2);
	assert_true(next != 0);
	json_decref(items);
	f.before = next;
	assert_int_equal(sr_store_revocation_list(st, &f, &items, &next, &err), SR_OK);
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(str_of(json_array_get(items, 0), "id"), str_of(first, "id"));
	assert_int_equal(next, 0);
	json_decref(items);
	/* Combined with another filter, and a source with none. */
	f = (struct sr_revocation_filter){.limit = 50, .source = "auth0", .group = "y"};
	assert_int_equal(sr_store_revocation_list(st, &f, &items, &next, &err), SR_OK);
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(str_of(json_array_get(items, 0), "source_event_id"), "e-3");
	json_decref(items);
	f = (struct sr_revocation_filter){.limit = 50, .source = "group-change"};
	assert_int_equal(sr_store_revocation_list(st, &f, &items, &next, &err), SR_OK);
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(str_of(json_array_get(items, 0), "source_event_id"), "e-2");
	json_decref(items);
	f.source = "okta";
	assert_int_equal(sr_store_revocation_list(st, &f, &items, &next, &err), SR_OK);
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);
	f.source = "document";
	assert_int_equal(sr_store_revocation_list(st, &f, &items, &next, &err), SR_OK);
	assert_int_equal(json_array_size(items), 1);
	assert_true(json_is_null(json_object_get(json_array_get(items, 0), "subject")));
	assert_true(json_is_null(json_object_get(json_array_get(items, 0), "rule")));
	json_decref(items);
	json_decref(first);
	sr_document_free(doc);
	batch_free(&b);
}

/* The migrations compiled into the binary (cmake/embed_sql.cmake). */
struct sr_migration {
	const char *name;
	const char *sql;
};
extern const struct sr_migration sr_migrations[];
extern const size_t sr_migrations_count;

static int setup_path(void **state)
{
	url = tk_store_url();
	*state = NULL;
	return 0;
}

static int64_t query_int(const char *sql)
{
	return tk_store_int(url, sql);
}

/* A database as a binary with migrations 001-005 left it keeps its rows;
 * they have no subject, rule or note; the new table and index exist. */
static void test_migration_from_version_5(void **state)
{
	static const char rows[] =
		"INSERT INTO revocations (id, source, source_event_id, issuer, subject, action,"
		" cutoff, state, created_at, updated_at) VALUES"
		" ('6b1f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b', 'document-jwt', 'iss#jti-5', 'iss',"
		"  'alice', 'revoke', 1700000000, 'pending', 1700000000, 1700000000);"
		"INSERT INTO revocation_groups VALUES (1, 0, 'team_old');"
		"INSERT INTO jobs (revocation_seq, kind, account, run_at, created_at, updated_at)"
		" VALUES (1, 'apply', '111111111111', 1, 1, 1);"
		"INSERT INTO service_meta VALUES ('ready_check', '7');"
		"PRAGMA user_version = 5;";
	struct sr_store *st = NULL;
	struct sr_err err = {0};
	json_t *rev = NULL;
	char **groups = NULL;
	size_t i, n = 0;
	int64_t at = 0;
	sqlite3 *db;

	assert_true(sr_migrations_count > 5);
	assert_int_equal(sqlite3_open(url, &db), SQLITE_OK);
	for (i = 0; i < 5; i++)
		assert_int_equal(sqlite3_exec(db, sr_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(sr_store_open(url, 1, &st, &err), SR_OK);
	*state = st;
	assert_int_equal(query_int("PRAGMA user_version"), (int64_t)sr_migrations_count);
	assert_int_equal(sr_store_revocation_get(st, "6b1f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", &rev,
						 &err), SR_OK);
	assert_string_equal(str_of(rev, "source_event_id"), "iss#jti-5");
	assert_string_equal(json_string_value(json_array_get(json_object_get(rev, "groups"), 0)),
			    "team_old");
	assert_int_equal(json_array_size(json_object_get(rev, "jobs")), 1);
	assert_true(json_is_null(json_object_get(rev, "subject")));
	assert_true(json_is_null(json_object_get(rev, "rule")));
	assert_true(json_is_null(json_object_get(rev, "note")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(rev, "requested_by"),
							      "subject")), "alice");
	json_decref(rev);
	assert_int_equal(query_int("SELECT value FROM service_meta WHERE key = 'ready_check'"), 7);
	assert_int_equal(query_int("SELECT count(*) FROM sqlite_schema"
				   " WHERE name = 'revocations_by_source'"), 1);
	assert_int_equal(sr_store_user_groups_get(st, "auth0", "u", &groups, &n, &at, &err),
			 SR_ENOTFOUND);
	/* The old event id is still one revocation. */
	{
		bool seen = false;
		char *ids[] = {"iss#jti-5"};
		assert_int_equal(sr_store_events_seen(st, "document-jwt", ids, 1, &seen, &err), SR_OK);
		assert_true(seen);
	}
}

int main(void)
{
	/* On either back end. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_event_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_many_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_paging_and_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ping_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ready_without_a_write_per_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_one_refused_others_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_same_event_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_bad_record_stores_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_by_source, setup, teardown),
	};
	/* About SQLite itself: the schema version in PRAGMA user_version, a
	 * file an older binary's migrations made. Not in the .pg run. */
	const struct CMUnitTest sqlite_only[] = {
		cmocka_unit_test_setup_teardown(test_newer_schema_refused_sqlite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_from_version_5, setup_path, teardown),
	};
	/* Their PostgreSQL counterparts: the version in schema_migrations. */
	const struct CMUnitTest pg_only[] = {
		cmocka_unit_test_setup_teardown(test_newer_schema_refused_pg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_messages_are_log_lines, setup, teardown),
	};
	int failed = cmocka_run_group_tests_name("store", tests, NULL, NULL);

	if (tk_store_pg())
		return failed + cmocka_run_group_tests_name("store.postgres", pg_only, NULL, NULL);
	return failed + cmocka_run_group_tests_name("store.sqlite", sqlite_only, NULL, NULL);
}
