/*
 * store.c - open, migrate, the reader pool, close.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sr_migration {
	const char *name;
	const char *sql;
};
extern const struct sr_migration sr_migrations[];
extern const size_t sr_migrations_count;

enum sr_rc sr_store_db_error(sqlite3 *db, const char *what, struct sr_err *err)
{
	return sr_err_set(err, SR_ESTORE, "%s: %s", what, sqlite3_errmsg(db));
}

sqlite3_stmt *sr_stmt(struct conn *c, const char *sql)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->sql[i] == sql) {
			sqlite3_reset(c->st[i]);
			sqlite3_clear_bindings(c->st[i]);
			return c->st[i];
		}
	if (c->n == STMT_CACHE)
		return NULL;
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st[c->n],
			       NULL) != SQLITE_OK)
		return NULL;
	c->sql[c->n] = sql;
	return c->st[c->n++];
}

void sr_conn_close(struct conn *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		sqlite3_finalize(c->st[i]);
	c->n = 0;
	sqlite3_close(c->db);
	c->db = NULL;
}

static enum sr_rc exec(sqlite3 *db, const char *sql, struct sr_err *err)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sr_store_db_error(db, "sqlite", err);
	return SR_OK;
}

/* Switching to WAL needs a moment alone with the file; another process
 * opening it at the same time makes SQLite answer BUSY at once rather than
 * wait, so try again for a while. */
static enum sr_rc wal(sqlite3 *db, struct sr_err *err)
{
	int i;

	for (i = 0; i < 100; i++) {
		int rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return SR_OK;
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		usleep(50000);
	}
	return sr_store_db_error(db, "journal_mode=WAL", err);
}

static int user_version(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int version = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return version;
}

/* A migration that rebuilds a table runs with foreign keys off (they cannot
 * be switched inside a transaction); this checks they still hold. */
static enum sr_rc foreign_keys_hold(sqlite3 *db, struct sr_err *err)
{
	sqlite3_stmt *st = NULL;
	enum sr_rc rc = SR_OK;
	int step;

	if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
		return sr_store_db_error(db, "foreign_key_check", err);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = sr_err_set(err, SR_ESTORE, "migration broke a foreign key: table %s row %lld",
				(const char *)sqlite3_column_text(st, 0),
				(long long)sqlite3_column_int64(st, 1));
	else if (step != SQLITE_DONE)
		rc = sr_store_db_error(db, "foreign_key_check", err);
	sqlite3_finalize(st);
	return rc;
}

/* Applies the migrations not yet applied, all in one IMMEDIATE transaction:
 * the version is read under the write lock, so processes starting together
 * on one file never apply a migration twice. */
static enum sr_rc migrate(sqlite3 *db, struct sr_err *err)
{
	enum sr_rc rc = SR_OK;
	int version;
	size_t i;

	if (exec(db, "BEGIN IMMEDIATE", err) != SR_OK)
		return SR_ESTORE;
	version = user_version(db);
	if (version < 0)
		rc = sr_store_db_error(db, "user_version", err);
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
		if (exec(db, sr_migrations[i].sql, err) != SR_OK || exec(db, set, err) != SR_OK)
			rc = sr_err_set(err, SR_ESTORE, "migration %s failed", sr_migrations[i].name);
		else
			sr_log(SR_LOG_INFO, "store.migrated", "migration=%s", sr_migrations[i].name);
	}
	if (rc == SR_OK && version < (int)sr_migrations_count)
		rc = foreign_keys_hold(db, err);
	if (rc == SR_OK && exec(db, "COMMIT", err) == SR_OK)
		return SR_OK;
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc != SR_OK ? rc : SR_ESTORE;
}

static enum sr_rc open_db(const char *path, int flags, sqlite3 **db, struct sr_err *err)
{
	if (sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		enum sr_rc rc = sr_err_set(err, SR_ESTORE, "cannot open %s: %s", path,
					   *db ? sqlite3_errmsg(*db) : "out of memory");
		sqlite3_close(*db);
		*db = NULL;
		return rc;
	}
	sqlite3_busy_timeout(*db, 5000);
	sqlite3_extended_result_codes(*db, 1);
	return SR_OK;
}

/* The folder holding the file at path ("." for a bare name). New string. */
static char *folder_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	return strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

enum sr_rc sr_store_open(const char *path, int readers, struct sr_store **out,
			 struct sr_err *err)
{
	enum sr_rc rc;
	struct sr_store *st;
	int i;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->wake, NULL);
	pthread_cond_init(&st->reader_free, NULL);
	if ((st->dir = folder_of(path)) == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	rc = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &st->w.db, err);
	if (rc != SR_OK)
		goto out;
	/* synchronous=FULL: a COMMIT is on disk before anyone hears 202.
	 * Foreign keys are switched on after the migrations (see migrate). */
	if ((rc = wal(st->w.db, err)) != SR_OK ||
	    (rc = exec(st->w.db, "PRAGMA synchronous=FULL;", err)) != SR_OK ||
	    (rc = migrate(st->w.db, err)) != SR_OK ||
	    (rc = exec(st->w.db, "PRAGMA foreign_keys=ON;", err)) != SR_OK)
		goto out;
	st->n_readers = readers < 1 ? 1 : readers;
	st->readers = calloc((size_t)st->n_readers, sizeof(*st->readers));
	st->reader_busy = calloc((size_t)st->n_readers, sizeof(*st->reader_busy));
	if (st->readers == NULL || st->reader_busy == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < st->n_readers; i++)
		if ((rc = open_db(path, SQLITE_OPEN_READONLY, &st->readers[i].db, err)) != SR_OK)
			goto out;
	if (pthread_create(&st->writer, NULL, sr_store_writer_main, st) != 0) {
		rc = sr_err_set(err, SR_EINTERNAL, "cannot start the store writer");
		goto out;
	}
	st->writer_started = true;
out:
	if (rc != SR_OK) {
		sr_store_close(st);
		return rc;
	}
	*out = st;
	return SR_OK;
}

void sr_store_close(struct sr_store *st)
{
	int i;

	if (st == NULL)
		return;
	if (st->writer_started) {
		pthread_mutex_lock(&st->mu);
		st->stopping = true;
		pthread_cond_signal(&st->wake);
		pthread_mutex_unlock(&st->mu);
		pthread_join(st->writer, NULL);
	}
	for (i = 0; st->readers != NULL && i < st->n_readers; i++)
		sr_conn_close(&st->readers[i]);
	free(st->readers);
	free(st->reader_busy);
	sr_conn_close(&st->w);
	pthread_cond_destroy(&st->reader_free);
	pthread_cond_destroy(&st->wake);
	pthread_mutex_destroy(&st->mu);
	free(st->dir);
	free(st);
}

struct conn *sr_store_reader_take(struct sr_store *st, int *slot)
{
	int i;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		for (i = 0; i < st->n_readers; i++)
			if (!st->reader_busy[i]) {
				st->reader_busy[i] = true;
				pthread_mutex_unlock(&st->mu);
				*slot = i;
				return &st->readers[i];
			}
		pthread_cond_wait(&st->reader_free, &st->mu);
	}
}

void sr_store_reader_give(struct sr_store *st, int slot)
{
	pthread_mutex_lock(&st->mu);
	st->reader_busy[slot] = false;
	pthread_cond_signal(&st->reader_free);
	pthread_mutex_unlock(&st->mu);
}

enum sr_rc sr_store_revocation_get(struct sr_store *st, const char *id,
				   json_t **out, struct sr_err *err)
{
	int slot;
	struct conn *c = sr_store_reader_take(st, &slot);
	enum sr_rc rc = sr_store_revocation_json(c, 0, id, out, err);

	if (rc == SR_OK)
		rc = sr_store_revocation_detail(c, *out, err);
	if (rc != SR_OK) {
		json_decref(*out);
		*out = NULL;
	}

	sr_store_reader_give(st, slot);
	return rc;
}

#define LIST_WHERE \
	"   AND (?1 = 0 OR r.seq < ?1)" \
	"   AND (?2 IS NULL OR r.state = ?2)" \
	"   AND (?3 IS NULL OR EXISTS (SELECT 1 FROM revocation_groups g" \
	"        WHERE g.revocation_seq = r.seq AND g.group_name = ?3))" \
	" ORDER BY r.seq DESC LIMIT ?4"
static const char list_sql[] = "SELECT r.seq FROM revocations r WHERE 1" LIST_WHERE;
/* With a source, a statement of its own: "?5 IS NULL OR" would keep SQLite
 * off the (source, seq) index. */
static const char list_source_sql[] =
	"SELECT r.seq FROM revocations r WHERE r.source = ?5" LIST_WHERE;

enum sr_rc sr_store_revocation_list(struct sr_store *st,
				    const struct sr_revocation_filter *f,
				    json_t **items, int64_t *next, struct sr_err *err)
{
	enum sr_rc rc = SR_OK;
	sqlite3_stmt *q = NULL;
	int slot, n = 0, r;
	struct conn *c = sr_store_reader_take(st, &slot);
	sqlite3 *db = c->db;
	int64_t last = 0;

	*items = json_array();
	*next = 0;
	if (sqlite3_prepare_v2(db, f->source ? list_source_sql : list_sql, -1, &q,
			       NULL) != SQLITE_OK) {
		rc = sr_store_db_error(db, "list revocations", err);
		goto out;
	}
	sqlite3_bind_int64(q, 1, f->before);
	sqlite3_bind_text(q, 2, f->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, f->group, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 4, f->limit + 1);
	if (f->source != NULL)
		sqlite3_bind_text(q, 5, f->source, -1, SQLITE_STATIC);
	while ((r = sqlite3_step(q)) == SQLITE_ROW) {
		json_t *one = NULL;
		int64_t seq = sqlite3_column_int64(q, 0);
		if (n == f->limit) {
			*next = last;
			break;
		}
		if ((rc = sr_store_revocation_json(c, seq, NULL, &one, err)) != SR_OK)
			goto out;
		json_array_append_new(*items, one);
		last = seq;
		n++;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = sr_store_db_error(db, "list revocations", err);
out:
	sqlite3_finalize(q);
	sr_store_reader_give(st, slot);
	if (rc != SR_OK) {
		json_decref(*items);
		*items = NULL;
	}
	return rc;
}
