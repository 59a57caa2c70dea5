/*
 * writer.c - the writer thread and group commit.
 *
 * DESIGN: callers put a struct sr_store_op on the queue and either sleep
 * until it is done or get a callback (sr_store_submit). The writer takes
 * everything queued, opens one IMMEDIATE transaction, runs each op inside its
 * own SAVEPOINT (a failed op is rolled back alone), COMMITs once with
 * synchronous=FULL, and only then tells the callers. If
 * the COMMIT fails every item in the batch fails: nobody is told 202 for a
 * row that is not on disk.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void batch_fail(struct sr_store_op *batch, struct db *db, const char *what)
{
	struct sr_store_op *it;

	for (it = batch; it != NULL; it = it->next) {
		json_decref(it->result);
		it->result = NULL;
		it->rc = SR_ESTORE;
		sr_err_clear(&it->err);
		sr_store_db_error(db, what, &it->err);
		if (it->kind == SR_STORE_OP_REVOCATIONS)
			sr_store_items_fail(it);
	}
}

/* Every op of a batch as before it ran, for a run again. */
static void batch_reset(struct sr_store_op *batch)
{
	struct sr_store_op *it;
	size_t i;

	for (it = batch; it != NULL; it = it->next) {
		json_decref(it->result);
		it->result = NULL;
		it->replayed = 0;
		it->rc = SR_OK;
		sr_err_clear(&it->err);
		for (i = 0; it->kind == SR_STORE_OP_REVOCATIONS && it->items != NULL &&
			    i < it->n_in; i++) {
			json_decref(it->items[i].result);
			memset(&it->items[i], 0, sizeof(it->items[i]));
		}
	}
}

/* The readiness check: a one-row table updated in place (a counter, so the
 * page really changes). */
static const char check_sql[] =
	"INSERT INTO service_meta (key, value) VALUES ('ready_check', '1')"
	" ON CONFLICT (key) DO UPDATE SET"
	"  value = CAST(CAST(service_meta.value AS BIGINT) + 1 AS TEXT)";


/* Runs the batch in one transaction. Returns true when it must run again:
 * it did not commit, for a reason that passes (the ops' results are then
 * meaningless). */
static bool run_batch(struct db *db, struct sr_store_op *batch, int64_t deadline_ms,
		      long *commit_us, struct store_outcome *o)
{
	struct sr_store_op *it;
	struct timespec t0, t1;
	int64_t changes = db->total_changes;
	int commit_rc;

	if (db->ops->begin(db) != 0) {
		if (db_passing(db))
			goto again;
		sr_store_outcome_fail(o, db, true);
		batch_fail(batch, db, "begin");
		return false;
	}
	for (it = batch; it != NULL; it = it->next) {
		if (db_exec(db, "SAVEPOINT item") != 0) {
			if (db_passing(db))
				goto again;
			it->rc = sr_store_db_error(db, "savepoint", &it->err);
			if (it->kind == SR_STORE_OP_REVOCATIONS)
				sr_store_items_fail(it);
			continue;
		}
		if (it->kind == SR_STORE_OP_REVOCATION)
			it->rc = sr_store_write_revocation(db, it);
		else if (it->kind == SR_STORE_OP_REVOCATIONS)
			it->rc = sr_store_write_batch(db, it, o);
		else if (it->kind == SR_STORE_OP_META)
			it->rc = sr_store_write_meta(db, it);
		else if (it->kind == SR_STORE_OP_JOB)
			it->rc = sr_store_write_job(db, it);
		else
			it->rc = db_exec(db, check_sql) == 0
					 ? SR_OK : sr_store_db_error(db, "ping", &it->err);
		if (db_passing(db))
			goto again;
		if (it->rc != SR_OK) {
			if (it->rc == SR_ESTORE) /* a database error, not a refusal */
				sr_store_outcome_fail(o, db, it->kind == SR_STORE_OP_PING);
			db_exec(db, "ROLLBACK TO item");
			json_decref(it->result);
			it->result = NULL;
			if (it->kind == SR_STORE_OP_REVOCATIONS)
				sr_store_items_fail(it);
		}
		if (db_exec(db, "RELEASE item") != 0 && db_passing(db))
			goto again;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	commit_rc = db_exec(db, "COMMIT");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*commit_us = (long)((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000);
	if (commit_rc != 0) {
		/* Nobody hears 202 for a write whose COMMIT is not known to have
		 * happened: a lost answer is asked about again first. */
		enum db_fail fail = db_fail(db);
		enum db_outcome out = fail == DB_FAIL_GONE ? db->ops->resolve(db, deadline_ms)
							   : DB_NOT_COMMITTED;
		if (out == DB_COMMITTED)
			goto committed;
		if (out == DB_NOT_COMMITTED && (fail == DB_FAIL_GONE || fail == DB_FAIL_RETRY))
			goto again;
		sr_store_outcome_fail(o, db, true);
		batch_fail(batch, db, out == DB_UNKNOWN
				      ? "commit (whether it happened could not be learned)"
				      : "commit");
		db_exec(db, "ROLLBACK");
		return false;
	}
committed:
	o->wrote = db->total_changes != changes;
	return false;
again:
	o->fail = db_fail(db);
	snprintf(o->why, sizeof(o->why), "%s", db_errmsg(db));
	db_exec(db, "ROLLBACK");
	return true;
}

/* Runs the batch until it commits, fails for good, or the database has been
 * out of reach (or in deadlock) for the reconnect time. */
static void run_until_done(struct sr_store *st, struct sr_store_op *batch, long *commit_us,
			   struct store_outcome *o)
{
	int64_t deadline = sr_mono_ms() + (int64_t)st->reconnect_seconds * 1000;
	int runs = 0;

	for (;;) {
		enum db_fail why;
		memset(o, 0, sizeof(*o));
		if (!run_batch(st->w, batch, deadline, commit_us, o))
			return;
		why = o->fail;
		runs++;
		if (runs <= 3 || runs % 100 == 0)
			sr_log(SR_LOG_WARN, "store.again", "run=%d why=\"%s\"", runs, o->why);
		batch_reset(batch);
		if (sr_mono_ms() >= deadline ||
		    (why == DB_FAIL_GONE && st->w->ops->reconnect(st->w, deadline) != 0)) {
			o->failed = true;
			batch_fail(batch, st->w, why == DB_FAIL_GONE
						 ? "the database is out of reach"
						 : "the database kept refusing the transaction");
			return;
		}
		/* a deadlock's other side finishes first; never a busy loop */
		usleep((useconds_t)(1000 * (runs < 100 ? runs : 100)));
	}
}

void *sr_store_writer_main(void *arg)
{
	struct sr_store *st = arg;
	struct sr_store_op *batch, *it, *prev;
	struct store_outcome outcome;
	struct timespec t0, t1;
	long commit_us = 0;
	int n;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (st->head == NULL && !st->stopping)
			pthread_cond_wait(&st->wake, &st->mu);
		if (st->head == NULL && st->stopping)
			break;
		batch = st->head;
		st->head = st->tail = NULL;
		pthread_mutex_unlock(&st->mu);

		clock_gettime(CLOCK_MONOTONIC, &t0);
		memset(&outcome, 0, sizeof(outcome));
		run_until_done(st, batch, &commit_us, &outcome);
		sr_store_health_note(st, batch, &outcome);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		for (n = 0, it = batch; it != NULL; it = it->next)
			n++;
		sr_log(SR_LOG_DEBUG, "store.batch", "writes=%d us=%ld commit_us=%ld", n,
		       (long)((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000),
		       commit_us);

		/* Callbacks first (they may free their op), outside the lock. */
		for (it = batch, prev = NULL; it != NULL;) {
			struct sr_store_op *next = it->next;
			if (it->done != NULL) {
				if (prev != NULL)
					prev->next = next;
				else
					batch = next;
				it->finished = true;
				it->done(it);
			} else {
				prev = it;
			}
			it = next;
		}
		pthread_mutex_lock(&st->mu);
		for (it = batch; it != NULL;) {
			struct sr_store_op *next = it->next;
			it->finished = true; /* the caller may free it once we unlock */
			pthread_cond_signal(&it->cond);
			it = next;
		}
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

static void enqueue(struct sr_store *st, struct sr_store_op *op)
{
	op->next = NULL;
	op->finished = false;
	if (st->tail != NULL)
		st->tail->next = op;
	else
		st->head = op;
	st->tail = op;
	pthread_cond_signal(&st->wake);
}

enum sr_rc sr_store_submit(struct sr_store *st, struct sr_store_op *op, struct sr_err *err)
{
	pthread_mutex_lock(&st->mu);
	if (st->stopping) {
		pthread_mutex_unlock(&st->mu);
		return sr_err_set(err, SR_EUNAVAIL, "the store is shutting down");
	}
	enqueue(st, op);
	pthread_mutex_unlock(&st->mu);
	return SR_OK;
}

/* Queues op and waits for the commit that holds it. */
enum sr_rc sr_store_submit_wait(struct sr_store *st, struct sr_store_op *op, struct sr_err *err)
{
	pthread_mutex_lock(&st->mu);
	if (st->stopping) {
		pthread_mutex_unlock(&st->mu);
		return sr_err_set(err, SR_EUNAVAIL, "the store is shutting down");
	}
	op->done = NULL;
	pthread_cond_init(&op->cond, NULL);
	enqueue(st, op);
	while (!op->finished)
		pthread_cond_wait(&op->cond, &st->mu);
	pthread_mutex_unlock(&st->mu);
	pthread_cond_destroy(&op->cond);
	if (op->rc != SR_OK)
		return sr_err_set(err, op->rc, "%s", op->err.msg);
	return SR_OK;
}

enum sr_rc sr_store_revocation_add(struct sr_store *st,
				   const struct sr_revocation_in *in, json_t **rev,
				   int *replayed, struct sr_err *err)
{
	struct sr_store_op item;
	enum sr_rc rc;

	memset(&item, 0, sizeof(item));
	item.kind = SR_STORE_OP_REVOCATION;
	item.in = in;
	rc = sr_store_submit_wait(st, &item, err);
	*rev = item.result;
	*replayed = item.replayed;
	return rc;
}

enum sr_rc sr_store_ping(struct sr_store *st, struct sr_err *err)
{
	struct sr_store_op item;

	memset(&item, 0, sizeof(item));
	item.kind = SR_STORE_OP_PING;
	return sr_store_submit_wait(st, &item, err);
}
