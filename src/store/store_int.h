/* store_int.h - inside the store module only. */
#ifndef SESSION_REVOKER_STORE_INT_H
#define SESSION_REVOKER_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "db.h"
#include "session_revoker/store.h"

struct sr_store {
	struct db *w; /* owned by the writer thread once it runs */
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* the writer waits here for work */
	struct sr_store_op *head, *tail;
	bool stopping;

	struct db **readers; /* pool of read connections */
	bool *reader_busy;
	unsigned readers_lost;     /* bumped when a reader's connection was found lost */
	unsigned *reader_checked;  /* the readers_lost each reader was last checked at */
	int n_readers;
	pthread_cond_t reader_free;

	/* readiness (ready.c): what the writer's last batches showed; under mu */
	struct {
		bool failing;       /* the last write did not commit */
		bool disk_full;     /* ... for want of space (DB_FAIL_FULL) */
		char why[200];
		int64_t wrote_ms;   /* CLOCK_MONOTONIC ms of the last commit that changed rows */
		int64_t checked_ms; /* when the last readiness check was handed out */
	} health;
	int reconnect_seconds; /* how long a write waits for a lost database */
	char *dir; /* an SQLite file's folder (its free space); NULL: a server */
};

/* CLOCK_MONOTONIC in milliseconds. */
static inline int64_t sr_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How one batch went, for readiness. */
struct store_outcome {
	bool failed; /* a write did not commit for a reason of the file's */
	bool wrote;  /* the COMMIT held changed rows */
	enum db_fail fail; /* why */
	char why[200];
};

/* Records db's current error in o (the first one wins): any error when any,
 * else only those that say the file takes no writes (full, I/O, read-only,
 * locked...). */
void sr_store_outcome_fail(struct store_outcome *o, struct db *db, bool any);

/* The writer notes each batch's outcome (ready.c); may turn a check write's
 * success into a failure after a full disk, in o and in the batch's ops. */
void sr_store_health_note(struct sr_store *st, struct sr_store_op *batch,
			  struct store_outcome *o);

/* Runs on the writer connection inside a savepoint. */
enum sr_rc sr_store_write_revocation(struct db *c, struct sr_store_op *op);

/* One revocation's write (query.c): item gets its outcome (result, replayed,
 * err); the return value is its rc. */
enum sr_rc sr_store_write_one(struct db *c, const struct sr_revocation_in *in,
			      struct sr_store_item *item);

/* SR_STORE_OP_REVOCATIONS and SR_STORE_OP_META (events.c), inside the op's
 * savepoint; a database error of an item is noted in o. */
enum sr_rc sr_store_write_batch(struct db *c, struct sr_store_op *op,
				struct store_outcome *o);
enum sr_rc sr_store_write_meta(struct db *c, struct sr_store_op *op);

/* Every item of a batch op not written: what the op's failure says. */
void sr_store_items_fail(struct sr_store_op *op);

/* The revocation with this seq (or public id when id != NULL) as API JSON.
 * OUT *out: new reference. */
enum sr_rc sr_store_revocation_json(struct db *c, int64_t seq, const char *id,
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

enum sr_rc sr_store_write_job(struct db *c, struct sr_store_op *op);

/* Inserts the jobs of a new revocation (query.c calls it). */
enum sr_rc sr_store_insert_jobs(struct db *c, int64_t seq, const char *kind,
				char *const *accounts, size_t n, int64_t now,
				struct sr_err *err);


/* A read connection from the pool, and back (store.c). */
struct db *sr_store_reader_take(struct sr_store *st, int *slot);
void sr_store_reader_give(struct sr_store *st, int slot);

/* The jobs, role results and cleanup due time of a revocation, added to rev
 * (GET /v1/revocations/{id}). */
enum sr_rc sr_store_revocation_detail(struct db *c, json_t *rev, struct sr_err *err);

enum sr_rc sr_store_db_error(struct db *db, const char *what, struct sr_err *err);

/* For status.c: the store's own facts (OUT *store, the status's "store"; NULL
 * when there is no store at all) and a connection in a read transaction
 * (*db; close it even on failure), the schema version found and expected. */
enum sr_rc sr_status_sqlite_open(const char *path, json_t **store, struct db **db,
				 int *version, int *expected, struct sr_err *err);
enum sr_rc db_pg_status_open(const char *url, const char *password_file, json_t **store,
			     struct db **db, int *version, int *expected, struct sr_err *err);

/* A job claimable at ?2 (alias j), and the columns a claim returns (from
 * jobs), for the back ends' claim statements; sr_store_job_from_row reads
 * those columns. */
#define SR_STORE_JOB_CLAIMABLE \
	"((j.state = 'pending' AND j.run_at <= ?2)" \
	"  OR (j.state = 'running' AND j.lease_expires < ?2))" \
	/* One job per account at a time, across every process: two jobs writing \
	 * the same roles at once could each read the old policy, and the later \
	 * write could lower the cut-off the other had raised. */ \
	" AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.account = j.account AND o.id <> j.id" \
	"   AND ((o.state = 'running' AND o.lease_expires >= ?2)" \
	/* nor while a write another job of the account made may still land */ \
	"    OR o.settles_at > ?2))"
#define SR_STORE_JOB_CLAIMED \
	"id, revocation_seq, kind, account, attempts," \
	" (SELECT id FROM revocations WHERE seq = jobs.revocation_seq)"
void sr_store_job_from_row(struct db_q *q, struct sr_job *job);

/* A revocation row's columns (alias r) before its groups, which each back
 * end's db_sql.revocation appends as a JSON array (column 20). */
#define SR_STORE_REVOCATION_COLS \
	"r.seq, r.id, r.source, r.source_event_id, r.issuer, r.subject," \
	" r.token_id, r.action, r.cutoff, r.time_given, r.accounts, r.reason," \
	" r.state, r.created_at, r.updated_at," \
	" (SELECT count(*) FROM jobs WHERE revocation_seq = r.seq AND kind = 'cleanup')," \
	" (SELECT count(*) FROM role_results WHERE revocation_seq = r.seq)," \
	" r.event_subject, r.rule, r.note, r.groups_cutoff, r.subjects_cutoff"

#endif
