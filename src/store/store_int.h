/* store_int.h - inside the store module only. */
#ifndef SESSION_REVOKER_STORE_INT_H
#define SESSION_REVOKER_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "session_revoker/store.h"

/* A connection and its prepared statements, keyed by the SQL text's
 * address (the statements are static strings). Used by one thread at a time. */
#define STMT_CACHE 32 /* the writer alone uses 17 */
struct conn {
	sqlite3 *db;
	const char *sql[STMT_CACHE];
	sqlite3_stmt *st[STMT_CACHE];
	size_t n;
};

/* The statement for sql on c, reset with bindings cleared; NULL on error
 * (sqlite3_errmsg(c->db) says why). */
sqlite3_stmt *sr_stmt(struct conn *c, const char *sql);
void sr_conn_close(struct conn *c);

struct sr_store {
	struct conn w; /* owned by the writer thread once it runs */
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* the writer waits here for work */
	struct sr_store_op *head, *tail;
	bool stopping;

	struct conn *readers; /* pool of read-only connections */
	bool *reader_busy;
	int n_readers;
	pthread_cond_t reader_free;

	/* readiness (ready.c): what the writer's last batches showed; under mu */
	struct {
		bool failing;       /* the last write did not commit */
		bool disk_full;     /* ... for want of space (SQLITE_FULL) */
		char why[200];
		int64_t wrote_ms;   /* CLOCK_MONOTONIC ms of the last commit that changed rows */
		int64_t checked_ms; /* when the last readiness check was handed out */
	} health;
	char *dir; /* the database file's folder: its free space */
};

/* How one batch went, for readiness. */
struct store_outcome {
	bool failed; /* a write did not commit for a reason of the file's */
	bool wrote;  /* the COMMIT held changed rows */
	int code;    /* SQLite's extended result code of the failure */
	char why[200];
};

/* Records db's current error in o (the first one wins): any error when any,
 * else only those that say the file takes no writes (full, I/O, read-only,
 * locked...). */
void sr_store_outcome_fail(struct store_outcome *o, sqlite3 *db, int code, bool any);

/* The writer notes each batch's outcome (ready.c); may turn a check write's
 * success into a failure after a full disk, in o and in the batch's ops. */
void sr_store_health_note(struct sr_store *st, struct sr_store_op *batch,
			  struct store_outcome *o);

/* Runs on the writer connection inside a savepoint. */
enum sr_rc sr_store_write_revocation(struct conn *c, struct sr_store_op *op);

/* One revocation's write (query.c): item gets its outcome (result, replayed,
 * err); the return value is its rc. */
enum sr_rc sr_store_write_one(struct conn *c, const struct sr_revocation_in *in,
			      struct sr_store_item *item);

/* SR_STORE_OP_REVOCATIONS and SR_STORE_OP_META (events.c), inside the op's
 * savepoint; a database error of an item is noted in o. */
enum sr_rc sr_store_write_batch(struct conn *c, struct sr_store_op *op,
				struct store_outcome *o);
enum sr_rc sr_store_write_meta(struct conn *c, struct sr_store_op *op);

/* Every item of a batch op not written: what the op's failure says. */
void sr_store_items_fail(struct sr_store_op *op);

/* The revocation with this seq (or public id when id != NULL) as API JSON.
 * OUT *out: new reference. */
enum sr_rc sr_store_revocation_json(struct conn *c, int64_t seq, const char *id,
				    json_t **out, struct sr_err *err);

void *sr_store_writer_main(void *arg);

/* Job operations, run by the writer (jobs.c). */
enum job_op_kind { JOB_CLAIM, JOB_RENEW, JOB_FINISH, JOB_RETRY };

struct job_op {
	enum job_op_kind kind;
	const char *owner;
	int64_t now, lease, until, job_id;
	struct sr_job *job; /* JOB_CLAIM: filled */
	int found;
	const struct sr_job_finish *fin;
};

enum sr_rc sr_store_write_job(struct conn *c, struct sr_store_op *op);

/* Inserts the jobs of a new revocation (query.c calls it). */
enum sr_rc sr_store_insert_jobs(struct conn *c, int64_t seq, const char *kind,
				char *const *accounts, size_t n, int64_t now,
				struct sr_err *err);


/* A read connection from the pool, and back (store.c). */
struct conn *sr_store_reader_take(struct sr_store *st, int *slot);
void sr_store_reader_give(struct sr_store *st, int slot);

/* The jobs, role results and cleanup due time of a revocation, added to rev
 * (GET /v1/revocations/{id}). */
enum sr_rc sr_store_revocation_detail(struct conn *c, json_t *rev, struct sr_err *err);

enum sr_rc sr_store_db_error(sqlite3 *db, const char *what, struct sr_err *err);

#endif
