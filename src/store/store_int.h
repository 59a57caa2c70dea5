/* store_int.h - inside the store module only. */
#ifndef SESSION_REVOKER_STORE_INT_H
#define SESSION_REVOKER_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "session_revoker/store.h"

enum write_kind { WRITE_REVOCATION, WRITE_PING };

/* A connection and its prepared statements, keyed by the SQL text's
 * address (the statements are static strings). Used by one thread at a time. */
#define STMT_CACHE 16
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

/* One write waiting for the writer; lives on the caller's stack. */
struct write_item {
	enum write_kind kind;
	const struct sr_revocation_in *in;
	json_t *result; /* new reference on success */
	int replayed;
	enum sr_rc rc;
	struct sr_err err;
	bool done;
	pthread_cond_t cond; /* signalled when done: one waiter, one wake-up */
	struct write_item *next;
};

struct sr_store {
	struct conn w; /* owned by the writer thread once it runs */
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* the writer waits here for work */
	struct write_item *head, *tail;
	bool stopping;

	struct conn *readers; /* pool of read-only connections */
	bool *reader_busy;
	int n_readers;
	pthread_cond_t reader_free;
};

/* Runs on the writer connection inside a savepoint. */
enum sr_rc sr_store_write_revocation(struct conn *c, struct write_item *item);

/* The revocation with this seq (or public id when id != NULL) as API JSON.
 * OUT *out: new reference. */
enum sr_rc sr_store_revocation_json(struct conn *c, int64_t seq, const char *id,
				    json_t **out, struct sr_err *err);

void *sr_store_writer_main(void *arg);

enum sr_rc sr_store_db_error(sqlite3 *db, const char *what, struct sr_err *err);

#endif
