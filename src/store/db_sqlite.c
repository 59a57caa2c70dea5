/*
 * db_sqlite.c - the store on an SQLite file (the embedded default).
 *
 * DESIGN: WAL mode, synchronous=FULL (a COMMIT is on disk before anyone
 * hears 202), foreign keys on. A write transaction is BEGIN IMMEDIATE: the
 * file's write lock is taken first, so every process sharing the file
 * writes one at a time and a COMMIT that failed did not happen. Statements
 * are prepared once per connection, keyed by the SQL text's address.
 * Migrations (sql/, compiled in) are numbered by PRAGMA user_version.
 */
#include "store_int.h"

#include "session_revoker/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sr_migration {
	const char *name;
	const char *sql;
};
extern const struct sr_migration sr_migrations[];
extern const size_t sr_migrations_count;

#define STMT_CACHE 48

struct lite_q {
	struct db *db; /* struct db_q_head */
	sqlite3_stmt *st;
	const char *sql;
};

struct lite {
	struct db base;
	sqlite3 *h;
	struct lite_q q[STMT_CACHE];
	size_t n;
	int64_t changes;
};

#define LITE(d) ((struct lite *)(d))
#define LQ(x) ((struct lite_q *)(x))

static struct db_q *lite_prepare(struct db *d, const char *sql)
{
	struct lite *l = LITE(d);
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->q[i].sql == sql) {
			sqlite3_reset(l->q[i].st);
			sqlite3_clear_bindings(l->q[i].st);
			return (struct db_q *)&l->q[i];
		}
	if (l->n == STMT_CACHE)
		return NULL;
	if (sqlite3_prepare_v3(l->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &l->q[l->n].st,
			       NULL) != SQLITE_OK)
		return NULL;
	l->q[l->n].sql = sql;
	l->q[l->n].db = d;
	return (struct db_q *)&l->q[l->n++];
}

static void lite_bind_int64(struct db_q *q, int i, int64_t v)
{
	sqlite3_bind_int64(LQ(q)->st, i, v);
}

static void lite_bind_text(struct db_q *q, int i, const char *v)
{
	sqlite3_bind_text(LQ(q)->st, i, v, -1, SQLITE_STATIC);
}

static int lite_step(struct db_q *q)
{
	struct lite *l = LITE(LQ(q)->db);
	int rc = sqlite3_step(LQ(q)->st);

	if (rc == SQLITE_ROW)
		return DB_ROW;
	if (rc == SQLITE_DONE) {
		l->changes = sqlite3_changes(l->h);
		if (!sqlite3_stmt_readonly(LQ(q)->st))
			l->base.total_changes += l->changes;
		return DB_DONE;
	}
	return DB_ERR;
}

static bool lite_is_null(struct db_q *q, int col)
{
	return sqlite3_column_type(LQ(q)->st, col) == SQLITE_NULL;
}

static int64_t lite_int64(struct db_q *q, int col)
{
	return sqlite3_column_int64(LQ(q)->st, col);
}

static const char *lite_text(struct db_q *q, int col)
{
	return (const char *)sqlite3_column_text(LQ(q)->st, col);
}

static void lite_reset(struct db_q *q)
{
	sqlite3_reset(LQ(q)->st);
	sqlite3_clear_bindings(LQ(q)->st);
}

static int64_t lite_changes(struct db *d)
{
	return LITE(d)->changes;
}

static int lite_exec(struct db *d, const char *sql)
{
	struct lite *l = LITE(d);
	int before = sqlite3_total_changes(l->h);

	if (sqlite3_exec(l->h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	l->base.total_changes += sqlite3_total_changes(l->h) - before;
	return 0;
}

static const char *lite_errmsg(struct db *d)
{
	return sqlite3_errmsg(LITE(d)->h);
}

static enum db_fail lite_fail(struct db *d)
{
	int code = sqlite3_extended_errcode(LITE(d)->h);

	switch (code & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return DB_FAIL_NONE;
	case SQLITE_CONSTRAINT:
		return code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY
			       ? DB_FAIL_UNIQUE : DB_FAIL_STATEMENT;
	case SQLITE_FULL:
		return DB_FAIL_FULL;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return DB_FAIL_BUSY;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_NOMEM:
	case SQLITE_PROTOCOL:
		return DB_FAIL_STORAGE;
	default:
		return DB_FAIL_STATEMENT;
	}
}

static int lite_begin(struct db *d)
{
	return lite_exec(d, "BEGIN IMMEDIATE");
}

/* A COMMIT that failed under the write lock did not happen. */
static enum db_outcome lite_resolve(struct db *d, int64_t deadline_ms)
{
	(void)d;
	(void)deadline_ms;
	return DB_NOT_COMMITTED;
}

/* A file is never disconnected. */
static int lite_reconnect(struct db *d, int64_t deadline_ms)
{
	(void)d;
	(void)deadline_ms;
	return -1;
}

/* One statement under the file's write lock (BEGIN IMMEDIATE): no other
 * claim, in this process or another, runs between its read and its write. */
static const char claim_sql[] =
	"UPDATE jobs SET state = 'running', lease_owner = ?1, lease_expires = ?2 + ?3,"
	"  attempts = attempts + 1, updated_at = ?2"
	" WHERE id = (SELECT id FROM jobs j WHERE " SR_STORE_JOB_CLAIMABLE
	"   ORDER BY j.run_at, j.id LIMIT 1)"
	" RETURNING " SR_STORE_JOB_CLAIMED;

static int lite_claim(struct db *d, const char *owner, int64_t now, int64_t lease,
		      struct sr_job *job, int *found)
{
	struct db_q *q = lite_prepare(d, claim_sql);
	int step;

	*found = 0;
	if (q == NULL)
		return -1;
	lite_bind_text(q, 1, owner);
	lite_bind_int64(q, 2, now);
	lite_bind_int64(q, 3, lease);
	step = lite_step(q);
	if (step == DB_ROW) {
		sr_store_job_from_row(q, job);
		*found = 1;
		step = lite_step(q);
	}
	sqlite3_reset(LQ(q)->st);
	return step == DB_DONE ? 0 : -1;
}

/* The file's write lock covers every table. */
static int lite_load_begin(struct db *d, const char *const *tables)
{
	(void)tables;
	return lite_exec(d, "BEGIN IMMEDIATE");
}

/* AUTOINCREMENT keeps each table's counter (sqlite_sequence) at the highest
 * id ever inserted, given ones included: nothing to move. */
static int lite_load_ids(struct db *d)
{
	(void)d;
	return 0;
}

static void lite_close(struct db *d)
{
	struct lite *l = LITE(d);
	size_t i;

	for (i = 0; i < l->n; i++)
		sqlite3_finalize(l->q[i].st);
	sqlite3_close(l->h);
	free(l);
}

static const struct db_sql lite_sql = {
	.revocation =
		"SELECT " SR_STORE_REVOCATION_COLS ","
		"  (SELECT json_group_array(group_name) FROM (SELECT group_name"
		"     FROM revocation_groups WHERE revocation_seq = r.seq ORDER BY position)),"
		"  (SELECT json_group_array(subject) FROM (SELECT subject"
		"     FROM revocation_subjects WHERE revocation_seq = r.seq ORDER BY position))"
		"  FROM revocations r WHERE (CAST(?1 AS TEXT) IS NULL AND r.seq = ?2) OR r.id = ?1",
	.denied_roles =
		"SELECT DISTINCT x.role_arn FROM role_results x WHERE x.kind = 'apply'"
		/* failed with a cut-off: people written beside people that did
		 * not fit, or a deny already there when the write failed */
		" AND (x.outcome IN ('denied', 'unchanged')"
		"  OR (x.outcome = 'failed' AND x.cutoff IS NOT NULL))"
		" AND (?1 = 0 OR x.revocation_seq = ?1) AND (?2 IS NULL OR x.account = ?2)"
		" AND (?3 IS NULL OR x.revocation_seq IN (SELECT g.revocation_seq"
		"  FROM revocation_groups g WHERE g.group_name IN (SELECT value FROM json_each(?3))))"
		" ORDER BY x.role_arn",
};

static const struct db_ops lite_ops = {
	.name = "sqlite",
	.sql = &lite_sql,
	.close = lite_close,
	.prepare = lite_prepare,
	.bind_int64 = lite_bind_int64,
	.bind_text = lite_bind_text,
	.step = lite_step,
	.is_null = lite_is_null,
	.int64 = lite_int64,
	.text = lite_text,
	.reset = lite_reset,
	.changes = lite_changes,
	.exec = lite_exec,
	.errmsg = lite_errmsg,
	.fail = lite_fail,
	.begin = lite_begin,
	.resolve = lite_resolve,
	.reconnect = lite_reconnect,
	.claim = lite_claim,
	.load_begin = lite_load_begin,
	.load_ids = lite_load_ids,
};

/* Switching to WAL needs a moment alone with the file; another process
 * opening it at the same time makes SQLite answer BUSY at once rather than
 * wait, so try again for a while. */
static int wal(sqlite3 *h)
{
	int i;

	for (i = 0; i < 100; i++) {
		int rc = sqlite3_exec(h, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return 0;
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		usleep(50000);
	}
	return -1;
}

/* name: path as messages say it. */
static enum sr_rc lite_open(const char *path, const char *name, bool read_only, int flags,
			   struct db **out, struct sr_err *err)
{
	struct lite *l = calloc(1, sizeof(*l));

	flags |= read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	*out = NULL;
	if (l == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	l->base.ops = &lite_ops;
	if (sqlite3_open_v2(path, &l->h, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		enum sr_rc rc = sr_err_set(err, SR_ESTORE, "cannot open %s: %s", name,
					   l->h ? sqlite3_errmsg(l->h) : "out of memory");
		lite_close(&l->base);
		return rc;
	}
	sqlite3_busy_timeout(l->h, 5000);
	sqlite3_extended_result_codes(l->h, 1);
	/* Foreign keys are switched on after the migrations (db_sqlite_migrate). */
	if (!read_only && (wal(l->h) != 0 ||
			   sqlite3_exec(l->h, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK)) {
		enum sr_rc rc = sr_err_set(err, SR_ESTORE, "cannot open %s: %s", name,
					   sqlite3_errmsg(l->h));
		lite_close(&l->base);
		return rc;
	}
	*out = &l->base;
	return SR_OK;
}

enum sr_rc db_sqlite_open(const char *path, bool read_only, struct db **out,
			  struct sr_err *err)
{
	return lite_open(path, path, read_only, 0, out, err);
}

enum sr_rc db_sqlite_open_uri(const char *uri, const char *name, struct db **out,
			      struct sr_err *err)
{
	return lite_open(uri, name, true, SQLITE_OPEN_URI, out, err);
}

static enum sr_rc lite_error(struct db *d, const char *what, struct sr_err *err)
{
	return sr_err_set(err, SR_ESTORE, "%s: %s", what, lite_errmsg(d));
}

static int user_version(sqlite3 *h)
{
	sqlite3_stmt *st = NULL;
	int version = -1;

	if (sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return version;
}

/* A migration that rebuilds a table runs with foreign keys off (they cannot
 * be switched inside a transaction); this checks they still hold. */
static enum sr_rc foreign_keys_hold(struct db *d, struct sr_err *err)
{
	sqlite3_stmt *st = NULL;
	enum sr_rc rc = SR_OK;
	int step;

	if (sqlite3_prepare_v2(LITE(d)->h, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
		return lite_error(d, "foreign_key_check", err);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = sr_err_set(err, SR_ESTORE, "migration broke a foreign key: table %s row %lld",
				(const char *)sqlite3_column_text(st, 0),
				(long long)sqlite3_column_int64(st, 1));
	else if (step != SQLITE_DONE)
		rc = lite_error(d, "foreign_key_check", err);
	sqlite3_finalize(st);
	return rc;
}

int db_sqlite_schema_version(struct db *d)
{
	return user_version(LITE(d)->h);
}

/* Applies the migrations not yet applied, all in one IMMEDIATE transaction:
 * the version is read under the write lock, so processes starting together
 * on one file never apply a migration twice. */
enum sr_rc db_sqlite_migrate(struct db *d, struct sr_err *err)
{
	enum sr_rc rc = SR_OK;
	int version;
	size_t i;

	if (lite_exec(d, "BEGIN IMMEDIATE") != 0)
		return lite_error(d, "sqlite", err);
	version = user_version(LITE(d)->h);
	if (version < 0)
		rc = lite_error(d, "user_version", err);
	else if (version > (int)sr_migrations_count)
		rc = sr_err_set(err, SR_ESTORE,
				"database schema version %d is newer than this binary (%zu)",
				version, sr_migrations_count);
	for (i = (size_t)(version < 0 ? 0 : version); rc == SR_OK && i < sr_migrations_count; i++) {
		char set[64];
		if (strtol(sr_migrations[i].name, NULL, 10) != (long)i + 1) {
			rc = sr_err_set(err, SR_EINTERNAL, "migration %s is out of sequence",
					sr_migrations[i].name);
			break;
		}
		snprintf(set, sizeof(set), "PRAGMA user_version = %zu", i + 1);
		if (lite_exec(d, sr_migrations[i].sql) != 0 || lite_exec(d, set) != 0) {
			lite_error(d, "sqlite", err);
			rc = sr_err_set(err, SR_ESTORE, "migration %s failed", sr_migrations[i].name);
		} else {
			sr_log(SR_LOG_INFO, "store.migrated", "migration=%s", sr_migrations[i].name);
		}
	}
	if (rc == SR_OK && version < (int)sr_migrations_count)
		rc = foreign_keys_hold(d, err);
	if (rc == SR_OK && lite_exec(d, "COMMIT") == 0)
		return lite_exec(d, "PRAGMA foreign_keys=ON") == 0 ? SR_OK
								   : lite_error(d, "foreign_keys", err);
	if (rc == SR_OK)
		rc = lite_error(d, "commit", err);
	lite_exec(d, "ROLLBACK");
	return rc;
}
