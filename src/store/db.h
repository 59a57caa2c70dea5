/*
 * db.h - one connection to the store's database, whichever it is: the SQL
 * layer every other file of src/store/ is written against.
 *
 * DESIGN: the store's logic (writer, revocations, jobs, events, status) is
 * written once, as SQL both databases understand, against this small
 * statement interface; a back end (db_sqlite.c, db_pg.c) implements it and
 * owns what really differs: how a connection is opened, migrated and
 * reconnected, how a write transaction begins and how a COMMIT whose answer
 * was lost is resolved, the statements whose text differs (struct db_sql)
 * and the job claim. Nothing outside src/store/ sees this file.
 *
 * Portable SQL: parameters are ?1, ?2, ... (a back end may rewrite them);
 * a parameter that may be NULL is compared inside CAST(?n AS TEXT) or
 * CAST(?n AS BIGINT) so PostgreSQL knows its type; no SQLite-only functions
 * (max(a, b), json_*, sum over a boolean); conflicts as ON CONFLICT, new keys
 * read with RETURNING.
 */
#ifndef SESSION_REVOKER_STORE_DB_H
#define SESSION_REVOKER_STORE_DB_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "session_revoker/core.h"

struct db;
struct db_q; /* a prepared statement of one connection */
struct sr_job;

/* What step() found. */
enum { DB_ERR = -1, DB_DONE = 0, DB_ROW = 1 };

/* Why the last call on a connection failed (db_fail). */
enum db_fail {
	DB_FAIL_NONE = 0,
	DB_FAIL_STATEMENT, /* this statement or its data was refused */
	DB_FAIL_UNIQUE,    /* a unique key is taken */
	DB_FAIL_RETRY,     /* deadlock or serialization failure: run the transaction again */
	DB_FAIL_BUSY,      /* another writer held the lock too long */
	DB_FAIL_FULL,      /* no space left */
	DB_FAIL_STORAGE,   /* the database takes no writes: I/O, read-only, corrupt */
	DB_FAIL_GONE,      /* the connection is lost (a COMMIT's outcome is unknown) */
};

/* Whether a write transaction whose COMMIT failed did commit. */
enum db_outcome { DB_COMMITTED, DB_NOT_COMMITTED, DB_UNKNOWN };

/* The statements whose text differs between back ends. */
struct db_sql {
	/* A revocation row (query.c): ?1 the public id, or NULL and ?2 the seq. */
	const char *revocation;
	/* Denied roles (jobs.c): ?1 seq or 0, ?2 account or NULL, ?3 a JSON
	 * array of group names or NULL. */
	const char *denied_roles;
};

struct db_ops {
	const char *name; /* "sqlite", "postgres" */
	const struct db_sql *sql;
	void (*close)(struct db *db);
	/* The statement for sql (a static string: cached by its address),
	 * reset, no bindings; NULL on error (errmsg says why). */
	struct db_q *(*prepare)(struct db *db, const char *sql);
	/* Parameters count from 1; text is borrowed until reset (NULL: NULL). */
	void (*bind_int64)(struct db_q *q, int i, int64_t v);
	void (*bind_text)(struct db_q *q, int i, const char *v);
	int (*step)(struct db_q *q); /* DB_ROW, DB_DONE or DB_ERR */
	bool (*is_null)(struct db_q *q, int col);
	int64_t (*int64)(struct db_q *q, int col);     /* NULL: 0; a boolean: 0 or 1 */
	const char *(*text)(struct db_q *q, int col);  /* NULL: NULL; valid until reset */
	void (*reset)(struct db_q *q);                  /* clears bindings too */
	int64_t (*changes)(struct db *db); /* rows changed by the last statement */
	int (*exec)(struct db *db, const char *sql); /* 0, or -1 (errmsg) */
	const char *(*errmsg)(struct db *db);
	enum db_fail (*fail)(struct db *db);
	/* A write transaction: begin takes the write lock where the database has
	 * one (SQLite) and notes what resolve needs. */
	int (*begin)(struct db *db);
	/* After a COMMIT failed: whether it committed, waiting up to
	 * deadline_ms (CLOCK_MONOTONIC) for the database to say. */
	enum db_outcome (*resolve)(struct db *db, int64_t deadline_ms);
	/* A lost connection made again, trying until deadline_ms; 0 on success.
	 * Cached statements stay valid handles. */
	int (*reconnect)(struct db *db, int64_t deadline_ms);
	/* Claims the earliest due job (jobs.c, sr_store_job_claim), inside the
	 * writer's transaction. *found 0: none. 0, or -1 (errmsg). */
	int (*claim)(struct db *db, const char *owner, int64_t now, int64_t lease,
		     struct sr_job *job, int *found);
	/* A bulk load into this connection's database (copy.c, `store copy`):
	 * load_begin begins a write transaction in which no other connection
	 * writes the tables named (NULL-terminated) until it ends; load_ids,
	 * after rows came with ids of their own, moves the database's id
	 * generators past the highest id of each table, in that transaction, so
	 * new rows get fresh ids. 0, or -1 (errmsg). */
	int (*load_begin)(struct db *db, const char *const *tables);
	int (*load_ids)(struct db *db);
};

/* Every connection starts with this. */
struct db {
	const struct db_ops *ops;
	int64_t total_changes; /* rows changed by this connection so far */
};

/* Opens url (a file path, or postgres://...); password_file: NULL, or a
 * file holding the PostgreSQL password. read_only: a connection that never
 * writes. Migrations are not applied (db_migrate). OUT *db. */
enum sr_rc db_open(const char *url, const char *password_file, bool read_only,
		   struct db **db, struct sr_err *err);

/* Applies the migrations the database lacks, once across every process. */
enum sr_rc db_migrate(struct db *db, struct sr_err *err);

/* Whether url names a PostgreSQL database. */
bool db_url_is_postgres(const char *url);

/* The back ends' own (db_sqlite.c, db_pg.c). */
enum sr_rc db_sqlite_open(const char *path, bool read_only, struct db **db,
			  struct sr_err *err);
enum sr_rc db_sqlite_migrate(struct db *db, struct sr_err *err);
/* Read-only, a file: URI (sqlite.org/uri.html; name: the file as messages
 * say it); PRAGMA user_version (-1: unreadable). */
enum sr_rc db_sqlite_open_uri(const char *uri, const char *name, struct db **db,
			      struct sr_err *err);
int db_sqlite_schema_version(struct db *db);
enum sr_rc db_pg_open(const char *url, const char *password_file, struct db **db,
		      struct sr_err *err);
enum sr_rc db_pg_migrate(struct db *db, struct sr_err *err);

/* ---- the calls, as the store's files write them ---- */

static inline struct db_q *db_prepare(struct db *db, const char *sql)
{
	return db->ops->prepare(db, sql);
}

/* Every statement starts with its connection. */
struct db_q_head {
	struct db *db;
};

static inline struct db *db_of(struct db_q *q)
{
	return ((struct db_q_head *)q)->db;
}

static inline void db_bind_int64(struct db_q *q, int i, int64_t v)
{
	db_of(q)->ops->bind_int64(q, i, v);
}

static inline void db_bind_text(struct db_q *q, int i, const char *v)
{
	db_of(q)->ops->bind_text(q, i, v);
}

static inline int db_step(struct db_q *q)
{
	return db_of(q)->ops->step(q);
}

static inline bool db_is_null(struct db_q *q, int col)
{
	return db_of(q)->ops->is_null(q, col);
}

static inline int64_t db_int64(struct db_q *q, int col)
{
	return db_of(q)->ops->int64(q, col);
}

static inline int db_int(struct db_q *q, int col)
{
	return (int)db_of(q)->ops->int64(q, col);
}

static inline const char *db_text(struct db_q *q, int col)
{
	return db_of(q)->ops->text(q, col);
}

static inline void db_reset(struct db_q *q)
{
	db_of(q)->ops->reset(q);
}

static inline int64_t db_changes(struct db *db)
{
	return db->ops->changes(db);
}

static inline int db_exec(struct db *db, const char *sql)
{
	return db->ops->exec(db, sql);
}

static inline const char *db_errmsg(struct db *db)
{
	return db->ops->errmsg(db);
}

static inline enum db_fail db_fail(struct db *db)
{
	return db->ops->fail(db);
}

/* Whether the transaction failed for a reason that passes (a lost
 * connection, a deadlock): nothing of it commits; run it again. */
static inline bool db_passing(struct db *db)
{
	enum db_fail fail = db->ops->fail(db);

	return fail == DB_FAIL_GONE || fail == DB_FAIL_RETRY;
}

static inline void db_close(struct db *db)
{
	if (db != NULL)
		db->ops->close(db);
}

#endif
