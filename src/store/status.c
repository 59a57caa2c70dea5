/*
 * status.c - what `session-revoker status` reports about a store, read with
 * no writer, no migrations, nothing written.
 *
 * DESIGN: the back end opens the store for reading (an SQLite file is never
 * created: status_sqlite.c; a server: db_pg.c), says what it knows of the
 * store itself ("store": a file's sizes and free space, a server's version)
 * and starts one read transaction, so every count below is one consistent
 * snapshot even while `serve` writes beside it.
 */
#include "store_int.h"

#include <stdio.h>
#include <string.h>

/* A job the workers may claim now: due, or running with its lease expired. */
#define DUE "((j.state = 'pending' AND j.run_at <= ?1)" \
	    " OR (j.state = 'running' AND coalesce(j.lease_expires, 0) <= ?1))"

static json_t *time_json(int64_t t)
{
	char buf[32];

	return json_string(sr_time_format(t, buf));
}

static json_t *text_json(struct db_q *q, int col)
{
	const char *t = db_text(q, col);

	return t ? json_string(t) : json_null();
}

/* Runs sql (?1 bound to now when it has one) and calls row(q, arg) on each row. */
static enum sr_rc each_row(struct db *db, const char *sql, int64_t now,
			   void (*row)(struct db_q *q, void *arg), void *arg, struct sr_err *err)
{
	struct db_q *q = db_prepare(db, sql);
	enum sr_rc rc = SR_OK;
	int step;

	if (q == NULL)
		return sr_store_db_error(db, "status", err);
	if (strstr(sql, "?1") != NULL)
		db_bind_int64(q, 1, now);
	while ((step = db_step(q)) == DB_ROW)
		row(q, arg);
	if (step != DB_DONE)
		rc = sr_store_db_error(db, "status", err);
	db_reset(q);
	return rc;
}

/* {"<col 0>": {"<col 1>": <col 2>}} */
static void count2(struct db_q *q, void *arg)
{
	const char *a = db_text(q, 0);
	const char *b = db_text(q, 1);
	json_t *inner = json_object_get(arg, a);

	if (inner == NULL) {
		inner = json_object();
		json_object_set_new(arg, a, inner);
	}
	json_object_set_new(inner, b, json_integer(db_int64(q, 2)));
}

/* {"<col 0>": <col 1>} */
static void count1(struct db_q *q, void *arg)
{
	json_object_set_new(arg, db_text(q, 0),
			    json_integer(db_int64(q, 1)));
}

struct oldest {
	json_t *job;
	int64_t now;
};

static void oldest_row(struct db_q *q, void *arg)
{
	struct oldest *o = arg;
	int64_t run_at = db_int64(q, 5);

	o->job = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:i}",
			   "id", (json_int_t)db_int64(q, 0),
			   "revocation_id", text_json(q, 1), "kind", text_json(q, 2),
			   "account", text_json(q, 3), "state", text_json(q, 4),
			   "run_at", time_json(run_at),
			   "age_seconds", (json_int_t)(o->now > run_at ? o->now - run_at : 0),
			   "attempts", db_int(q, 6));
}

static void error_row(struct db_q *q, void *arg)
{
	json_array_append_new(arg, json_pack(
		"{s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:b}",
		"account", text_json(q, 0), "error", text_json(q, 1),
		"at", time_json(db_int64(q, 2)),
		"job_id", (json_int_t)db_int64(q, 3), "kind", text_json(q, 4),
		"job_state", text_json(q, 5), "revocation_id", text_json(q, 6),
		"later_job_done", db_int(q, 7) != 0));
}

/* The newest job error of each account, and whether a job of the account
 * finished after it (the error may be over). */
static const char errors_sql[] =
	"SELECT j.account, j.last_error, j.updated_at, j.id, j.kind, j.state, r.id,"
	"       EXISTS (SELECT 1 FROM jobs d WHERE d.account = j.account AND d.state = 'done'"
	"               AND d.updated_at >= j.updated_at AND d.id <> j.id)"
	"  FROM jobs j JOIN revocations r ON r.seq = j.revocation_seq"
	" WHERE j.id = (SELECT e.id FROM jobs e WHERE e.account = j.account"
	"               AND e.last_error IS NOT NULL ORDER BY e.updated_at DESC, e.id DESC LIMIT 1)"
	" ORDER BY j.account";

static enum sr_rc queries(struct db *db, int64_t now, json_t *out, struct sr_err *err)
{
	json_t *by = json_object(), *due = json_object(), *failed = json_object();
	json_t *errors = json_array(), *states = json_object(), *sources = json_object();
	struct oldest oldest = {.job = NULL, .now = now};
	enum sr_rc rc;

	json_object_set_new(out, "jobs", json_pack("{s:o, s:o, s:o}", "by_kind_and_state", by,
						   "due_now", due, "failed", failed));
	json_object_set_new(out, "aws_errors", errors);
	json_object_set_new(out, "revocations", json_pack("{s:o, s:o}", "by_state", states,
							  "by_source", sources));
	if ((rc = each_row(db, "SELECT kind, state, count(*) FROM jobs GROUP BY kind, state"
			   " ORDER BY kind, state", now, count2, by, err)) != SR_OK ||
	    (rc = each_row(db, "SELECT kind, count(*) FROM jobs j WHERE " DUE
			   " GROUP BY kind ORDER BY kind", now, count1, due, err)) != SR_OK ||
	    (rc = each_row(db, "SELECT kind, count(*) FROM jobs WHERE state = 'failed'"
			   " GROUP BY kind ORDER BY kind", now, count1, failed, err)) != SR_OK ||
	    (rc = each_row(db, "SELECT j.id, r.id, j.kind, j.account, j.state, j.run_at,"
			   " j.attempts FROM jobs j JOIN revocations r ON r.seq = j.revocation_seq"
			   " WHERE " DUE " ORDER BY j.run_at, j.id LIMIT 1", now, oldest_row,
			   &oldest, err)) != SR_OK ||
	    (rc = each_row(db, errors_sql, now, error_row, errors, err)) != SR_OK ||
	    (rc = each_row(db, "SELECT state, count(*) FROM revocations GROUP BY state"
			   " ORDER BY state", now, count1, states, err)) != SR_OK ||
	    (rc = each_row(db, "SELECT source, count(*) FROM revocations GROUP BY source"
			   " ORDER BY source", now, count1, sources, err)) != SR_OK) {
		json_decref(oldest.job);
		return rc;
	}
	json_object_set_new(json_object_get(out, "jobs"), "oldest_due",
			    oldest.job ? oldest.job : json_null());
	return SR_OK;
}

enum sr_rc sr_store_status(const struct sr_store_config *cfg, int64_t now, json_t **out,
			   struct sr_err *err)
{
	struct db *db = NULL;
	json_t *store = NULL;
	int version = -1, expected = 0;
	enum sr_rc rc;

	*out = NULL;
	rc = db_url_is_postgres(cfg->url)
		     ? db_pg_status_open(cfg->url, cfg->password_file, &store, &db, &version,
					 &expected, err)
		     : sr_status_sqlite_open(cfg->url, &store, &db, &version, &expected, err);
	if (store == NULL) {
		db_close(db);
		return rc;
	}
	*out = json_object();
	json_object_set_new(*out, "store", store);
	if (rc != SR_OK)
		goto out;
	json_object_set_new(store, "schema_version", json_integer(version));
	json_object_set_new(store, "schema_expected", json_integer(expected));
	if (version < 2) {
		rc = sr_err_set(err, SR_ESTORE, "%s is not a session-revoker store (schema version"
				" %d, no job table)", json_string_value(json_object_get(store, "path"))
				? json_string_value(json_object_get(store, "path")) : "the database",
				version);
		goto out;
	}
	json_object_set_new(*out, "now", time_json(now));
	rc = queries(db, now, *out, err);
out:
	if (db != NULL)
		db_exec(db, "ROLLBACK");
	db_close(db);
	if (rc != SR_OK) {
		/* What is known of the store still helps the operator. */
		json_t *facts = json_pack("{s:O}", "store", store);
		json_decref(*out);
		*out = facts;
	}
	return rc;
}
