/* store_int.h - inside the store module only. */
#ifndef SESSION_REVOKER_STORE_INT_H
#define SESSION_REVOKER_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "session_revoker/store.h"

enum write_kind { WRITE_REVOCATION, WRITE_PING };

/* One write waiting for the writer; lives on the caller's stack. */
struct write_item {
	enum write_kind kind;
	const struct sr_revocation_in *in;
	json_t *result; /* new reference on success */
	int replayed;
	enum sr_rc rc;
	struct sr_err err;
	bool done;
	struct write_item *next;
};

struct sr_store {
	sqlite3 *wdb; /* owned by the writer thread once it runs */
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* the writer waits here for work */
	pthread_cond_t done; /* callers wait here for their commit */
	struct write_item *head, *tail;
	bool stopping;

	sqlite3 **readers; /* pool of read-only connections */
	bool *reader_busy;
	int n_readers;
	pthread_cond_t reader_free;
};

/* Runs on the writer connection inside a savepoint. */
enum sr_rc sr_store_write_revocation(sqlite3 *db, struct write_item *item);

/* The revocation with this seq (or public id when id != NULL) as API JSON.
 * OUT *out: new reference. */
enum sr_rc sr_store_revocation_json(sqlite3 *db, int64_t seq, const char *id,
				    json_t **out, struct sr_err *err);

void *sr_store_writer_main(void *arg);

enum sr_rc sr_store_db_error(sqlite3 *db, const char *what, struct sr_err *err);

#endif
