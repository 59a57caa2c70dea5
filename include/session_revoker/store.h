/*
 * store.h - the durable record: an SQLite file in WAL mode, or PostgreSQL.
 *
 * DESIGN: one writer thread owns this process's only write connection and
 * commits whatever writes are waiting as one transaction (group commit),
 * each inside its own savepoint so one bad write never spoils its
 * neighbours; every caller still waits for the COMMIT (synchronous=FULL on
 * SQLite) that holds its own write before it returns. A transaction lost to
 * a dropped connection or a deadlock runs again; a COMMIT whose answer was
 * lost is asked about before anyone is answered. Reads use a small pool of
 * read connections. Migrations in sql/ (SQLite) and sql/postgres/ are
 * compiled in and applied at open. Which database: src/store/db.h.
 */
#ifndef SESSION_REVOKER_STORE_H
#define SESSION_REVOKER_STORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "session_revoker/core.h"
#include "session_revoker/sources.h"

struct sr_store;

/* Where the store is and how to reach it (README, "Store"). */
struct sr_store_config {
	const char *url;           /* an SQLite file's path, or postgres://... */
	const char *password_file; /* NULL: libpq's own (PGPASSWORD, ~/.pgpass) */
	int readers;               /* read connections */
	int reconnect_seconds;     /* how long a write waits for a lost server; 0: 30 */
};

/* Opens (creating an SQLite file if needed) the store, applies migrations
 * (once across every process), starts the writer. OUT *store: new,
 * sr_store_close(). */
enum sr_rc sr_store_open_config(const struct sr_store_config *cfg, struct sr_store **store,
				struct sr_err *err);

/* Whether url names a database server (postgres://...), not a file. */
bool sr_store_url_is_server(const char *url);

/* sr_store_open_config with url and readers alone. */
enum sr_rc sr_store_open(const char *url, int readers, struct sr_store **store,
			 struct sr_err *err);

/* Finishes the writes in flight, stops the writer, closes. NULL is safe. */
void sr_store_close(struct sr_store *store);

/* A revocation to record. All strings borrowed. */
struct sr_revocation_in {
	const struct sr_document *doc;
	const char *source;          /* "document", "document-jwt", ... */
	const char *source_event_id; /* NULL: none; else unique per source */
	const char *issuer;          /* who asked */
	const char *subject;
	const char *token_id;
	const char *idempotency_key; /* NULL: none; scoped to issuer+subject */
	const char *request_hash;    /* hex digest of the request, with a key */
	/* Event sources (events.h): whom the event is about, the rule that
	 * fired, and a note (a failed lookup's fallback); NULL: none. With
	 * replay_any, a source_event_id recorded before is a replay whatever
	 * the groups resolve to now (a redelivered provider event), never a
	 * conflict. */
	const char *event_subject;
	const char *rule;
	const char *note;
	bool replay_any;
	char *const *targets;        /* accounts to get a job each (apply, or */
	size_t n_targets;            /* cleanup for a cleanup document) */
	int64_t now;
};

/* Records a revocation durably (the COMMIT has happened when this returns
 * SR_OK). OUT *rev: new reference, the recorded revocation as the API shows
 * it. *replayed is 1 when an earlier request with the same idempotency key or
 * the same source event id is answered instead (nothing new is written).
 * SR_ECONFLICT: the idempotency key was used for a different request. */
enum sr_rc sr_store_revocation_add(struct sr_store *store,
				   const struct sr_revocation_in *in, json_t **rev,
				   int *replayed, struct sr_err *err);

/* A write for the writer thread, for callers that must not block (the HTTP
 * event loop). The caller owns it and everything it points to until done()
 * has run. */
enum sr_store_op_kind {
	SR_STORE_OP_REVOCATION,
	SR_STORE_OP_REVOCATIONS, /* a batch: in[0..n_in-1], items[] (below) */
	SR_STORE_OP_PING,
	SR_STORE_OP_JOB, /* args: struct sr_job_op (jobs.c) */
	SR_STORE_OP_META, /* sr_store_meta_put's (store-internal args) */
};

/* What happened to one revocation of a batch. */
struct sr_store_item {
	json_t *result; /* new reference: the revocation as the API shows it */
	int replayed;   /* the event was recorded before: nothing written */
	enum sr_rc rc;  /* not SR_OK: this one was not written (err says why) */
	struct sr_err err;
};

/* The user's groups as the provider's directory last told them: kept so a
 * deleted user's last known groups still count. A record never replaces one
 * with a later at (lookups committed out of order). Strings borrowed. */
struct sr_user_groups {
	const char *source, *subject;
	char *const *groups;
	size_t n_groups;
	int64_t at;
};

struct sr_store_op {
	enum sr_store_op_kind kind;
	/* SR_STORE_OP_REVOCATION: in; SR_STORE_OP_REVOCATIONS: in[0..n_in-1],
	 * each in its own savepoint (one refused never spoils the others),
	 * all in one transaction; items[] (the caller's, n_in of them) gets
	 * each one's outcome; rc is SR_OK when the transaction committed. The
	 * user group records in cache[] are written in the same transaction;
	 * a record without source or subject fails the whole op (rc and every
	 * item SR_EINVAL, nothing written). */
	const struct sr_revocation_in *in;
	size_t n_in;
	struct sr_store_item *items;
	const struct sr_user_groups *cache;
	size_t n_cache;
	void *args;                        /* SR_STORE_OP_JOB */
	void (*done)(struct sr_store_op *op); /* runs on the writer thread */
	void *arg;
	/* results, set before done() runs */
	json_t *result; /* new reference: the revocation as the API shows it */
	int replayed;
	enum sr_rc rc;
	struct sr_err err;
	/* the store's own */
	bool finished;
	pthread_cond_t cond;
	struct sr_store_op *next;
};

/* Queues op and returns at once. op->done(op) runs on the writer thread once
 * the COMMIT holding the write is on disk (rc SR_OK) or the write failed;
 * done may resume whoever waits but must not block. SR_EUNAVAIL (and no
 * done) when the store is closing. */
enum sr_rc sr_store_submit(struct sr_store *store, struct sr_store_op *op,
			   struct sr_err *err);

/* OUT *rev: new reference. SR_ENOTFOUND when there is no such id. */
enum sr_rc sr_store_revocation_get(struct sr_store *store, const char *id,
				   json_t **rev, struct sr_err *err);

struct sr_revocation_filter {
	const char *state; /* NULL: any */
	const char *source; /* NULL: any */
	const char *group; /* NULL: any */
	int64_t before;    /* cursor: 0 for the first page */
	int limit;         /* 1..200 */
};

/* Newest first. OUT *items: new JSON array; *next: the cursor of the next
 * page, 0 when this is the last. */
enum sr_rc sr_store_revocation_list(struct sr_store *store,
				    const struct sr_revocation_filter *filter,
				    json_t **items, int64_t *next, struct sr_err *err);

/* Submits op and waits for the COMMIT that holds it (blocking callers:
 * the CLI, the poll thread). */
enum sr_rc sr_store_submit_wait(struct sr_store *store, struct sr_store_op *op,
				struct sr_err *err);

/* Which of ids (n of them) source has recorded as revocations' event ids:
 * seen[i] is set for each. */
enum sr_rc sr_store_events_seen(struct sr_store *store, const char *source,
				char *const *ids, size_t n, bool *seen, struct sr_err *err);

/* The last known groups of source's user subject. OUT *groups: new strings
 * (sr_strv_free), *at: when they were learned. SR_ENOTFOUND: none known. */
enum sr_rc sr_store_user_groups_get(struct sr_store *store, const char *source,
				    const char *subject, char ***groups, size_t *n_groups,
				    int64_t *at, struct sr_err *err);

/* A small durable value by key (the Auth0 poll's checkpoint). get: OUT
 * *value new string, SR_ENOTFOUND when unset. put: written and committed
 * before it returns. */
enum sr_rc sr_store_meta_get(struct sr_store *store, const char *key, char **value,
			     struct sr_err *err);
enum sr_rc sr_store_meta_put(struct sr_store *store, const char *key, const char *value,
			     struct sr_err *err);

/* ---- jobs (README, "Jobs"): apply and cleanup work, one job per account ---- */

struct sr_job {
	int64_t id;
	int64_t revocation_seq;
	char revocation_id[37];
	char kind[8];     /* "apply" or "cleanup" */
	char account[13];
	int attempts;     /* counting the one just claimed */
};

/* One role's result, as the engine reported it. Strings borrowed. */
struct sr_job_role {
	const char *account, *role_arn, *outcome, *request_id, *error;
	int64_t cutoff, due;
};

enum sr_job_next {
	SR_JOB_DONE,   /* finished; for apply, cleanup_at schedules the cleanup */
	SR_JOB_RETRY,  /* failed this time: try again at run_at */
	SR_JOB_LATER,  /* not due yet (cleanup): run again at run_at, attempts reset */
	SR_JOB_FAILED, /* give up; error is kept */
};

struct sr_job_finish {
	const struct sr_job *job;
	const char *owner;       /* the lease must still be ours */
	enum sr_job_next next;
	int64_t run_at;
	int64_t cleanup_at;      /* an apply job DONE, or FAILED after denying some roles:
				  * when its cleanup is due; 0: no cleanup */
	/* A write of this job got no answer and may still land until then (0:
	 * none): no other job of the account is claimed before (kept if an
	 * earlier run's is later). */
	int64_t settles_at;
	const char *error;
	const struct sr_job_role *roles;
	size_t n_roles;
	int64_t now;
};

/* Takes the earliest due job (pending with run_at <= now, or running with an
 * expired lease) by setting its lease, in one statement; never one whose
 * account has another job running, or one whose late writes may still land
 * (settles_at). *found is 0 when nothing is due. */
enum sr_rc sr_store_job_claim(struct sr_store *store, const char *owner, int64_t now,
			      int64_t lease_seconds, struct sr_job *job, int *found,
			      struct sr_err *err);

/* Extends the lease; SR_ECONFLICT when the job is no longer ours. */
enum sr_rc sr_store_job_renew(struct sr_store *store, int64_t job_id, const char *owner,
			      int64_t until, struct sr_err *err);

/* Records the roles' results, moves the job on, schedules the cleanup, and
 * updates the revocation's state, in one transaction. SR_ECONFLICT when the
 * lease was lost (another worker took the job over): nothing is written. */
enum sr_rc sr_store_job_finish(struct sr_store *store, const struct sr_job_finish *fin,
			       struct sr_err *err);

/* Jobs, newest first (state NULL: any). OUT *jobs: new JSON array. */
enum sr_rc sr_store_jobs_list(struct sr_store *store, const char *state, int limit,
			      json_t **jobs, struct sr_err *err);

/* Makes a failed (or pending) job due now with its attempts reset. */
enum sr_rc sr_store_job_retry(struct sr_store *store, int64_t job_id, int64_t now,
			      struct sr_err *err);

/* What a worker needs of a revocation. */
struct sr_revocation_work {
	char **groups;           /* may be none (a revocation of people only) */
	size_t n_groups;
	char **subjects;         /* the people (targeted); may be none */
	size_t n_subjects;
	int64_t cutoff;          /* the groups' cut-off (the time + the hold) */
	int64_t subjects_cutoff; /* the people's; 0: none */
	char action[16];         /* "revoke" or "cleanup" */
};

/* OUT *w (sr_revocation_work_clear). SR_ENOTFOUND: no such revocation. */
enum sr_rc sr_store_revocation_work(struct sr_store *store, int64_t seq,
				    struct sr_revocation_work *w, struct sr_err *err);
void sr_revocation_work_clear(struct sr_revocation_work *w);

/* Which denied roles to list: each field narrows (0 / NULL: any). */
struct sr_denied_filter {
	int64_t seq;          /* one revocation */
	const char *account;
	char *const *groups;  /* revocations naming any of these groups */
	size_t n_groups;
};

/* The roles (ARNs) that revocations' apply jobs denied (or found denied at
 * least as late, or failed on after writing some people: a cut-off is
 * recorded): cleanup visits them even when their trust policy no longer
 * matches. OUT *arns: n new strings (sr_strv_free). */
enum sr_rc sr_store_denied_roles(struct sr_store *store, const struct sr_denied_filter *filter,
				 char ***arns, size_t *n, struct sr_err *err);

/* ---- moving a store (README, "Moving a store from SQLite to PostgreSQL") ---- */

#define SR_STORE_COPY_MAX_TABLES 16

/* What sr_store_copy copied: rows per table, in the order copied. */
struct sr_store_copy_report {
	int schema_version; /* the schema both stores were at */
	size_t n;
	struct {
		const char *table; /* static */
		int64_t rows;
	} tables[SR_STORE_COPY_MAX_TABLES];
};

/* Copies the SQLite store in the file from into the PostgreSQL database
 * to->url (password: to->password_file, or libpq's own), for `session-revoker
 * store copy`. Both are migrated to this binary's schema first (as serve
 * would; the file only when it is behind). Every table, every column, ids
 * and seq values kept, in one transaction on the destination that holds its
 * tables against other writers; then the destination's id generators move
 * past the copied ids. Refused, nothing written: a file that is not a
 * session-revoker store or is newer than this binary, a file whose tables
 * are not exactly the ones the copy knows (a table it would skip), a
 * destination that is not postgres://, or one whose tables hold any row. On
 * any failure nothing is committed on the destination. Messages name the
 * file and the URL (its password hidden). OUT *report. */
enum sr_rc sr_store_copy(const char *from, const struct sr_store_config *to,
			 struct sr_store_copy_report *report, struct sr_err *err);

struct sr_metrics;

/* Sets the store's gauges in m (revocations by source and state, jobs by
 * kind and state, the age of the oldest due job at now) from a read
 * connection. Reads every revocation and job row: call it off the HTTP
 * event loop. A family is zeroed and then set afresh: one caller at a time
 * (and print m only after it returned). */
enum sr_rc sr_store_metrics(struct sr_store *store, struct sr_metrics *m, int64_t now,
			    struct sr_err *err);

/* Whether a write transaction commits now: the readiness check write, which
 * waits for its COMMIT. */
enum sr_rc sr_store_ping(struct sr_store *store, struct sr_err *err);

/* Readiness without a write per question (GET /readyz): SR_OK when a commit
 * that wrote rows took less than a second ago, or when nothing failed since;
 * SR_ESTORE (err says why) when the last write, or the last check, failed.
 * *check is 1 when nothing committed and nothing was checked in the last
 * second: the caller then queues an SR_STORE_OP_PING (sr_store_submit) and
 * answers from it; at most one caller a second is told so. After a write
 * failed for want of space, a check counts only once the store's file system
 * has 1 MiB free again. Never blocks on the disk. */
enum sr_rc sr_store_ready(struct sr_store *store, int *check, struct sr_err *err);

/* What `session-revoker status` shows (README, "CLI"), read from the store
 * alone: an SQLite file opened read-only and never created, no migrations,
 * nothing written, safe beside a running `serve`. OUT *status: new
 * reference, {"store": {path, size_bytes, wal_bytes, free_bytes, writable,
 * not_writable_because, schema_version, schema_expected} (PostgreSQL: url,
 * server_version, writable, not_writable_because, schema_*), "now",
 * "jobs": {by_kind_and_state, due_now, failed, oldest_due}, "aws_errors": [...],
 * "revocations": {by_state, by_source}}. SR_ENOTFOUND: no file at path
 * (*status NULL). SR_ESTORE: the file is not a readable store; *status then
 * holds only "store" (the file's facts). */
enum sr_rc sr_store_status(const struct sr_store_config *cfg, int64_t now, json_t **status,
			   struct sr_err *err);

#endif
