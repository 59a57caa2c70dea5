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

static void batch_fail(struct sr_store_op *batch, sqlite3 *db, const char *what)
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

/* The readiness check: a one-row table updated in place (a counter, so the
 * page really changes). */
static const char check_sql[] =
	"INSERT INTO service_meta (key, value) VALUES ('ready_check', '1')"
	" ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1";

static void run_batch(struct conn *c, struct sr_store_op *batch, long *commit_us,
		      struct store_outcome *o)
{
	sqlite3 *db = c->db;
	struct sr_store_op *it;
	struct timespec t0, t1;
	int changes = sqlite3_total_changes(db);
	int rc;

	if ((rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK) {
		sr_store_outcome_fail(o, db, rc, true);
		batch_fail(batch, db, "begin");
		return;
	}
	for (it = batch; it != NULL; it = it->next) {
		if (sqlite3_exec(db, "SAVEPOINT item", NULL, NULL, NULL) != SQLITE_OK) {
			it->rc = sr_store_db_error(db, "savepoint", &it->err);
			if (it->kind == SR_STORE_OP_REVOCATIONS)
				sr_store_items_fail(it);
			continue;
		}
		if (it->kind == SR_STORE_OP_REVOCATION)
			it->rc = sr_store_write_revocation(c, it);
		else if (it->kind == SR_STORE_OP_REVOCATIONS)
			it->rc = sr_store_write_batch(c, it, o);
		else if (it->kind == SR_STORE_OP_META)
			it->rc = sr_store_write_meta(c, it);
		else if (it->kind == SR_STORE_OP_JOB)
			it->rc = sr_store_write_job(c, it);
		else
			it->rc = sqlite3_exec(db, check_sql, NULL, NULL, NULL) == SQLITE_OK
					 ? SR_OK : sr_store_db_error(db, "ping", &it->err);
		if (it->rc != SR_OK) {
			if (it->rc == SR_ESTORE) /* a database error, not a refusal */
				sr_store_outcome_fail(o, db, sqlite3_extended_errcode(db),
						      it->kind == SR_STORE_OP_PING);
			sqlite3_exec(db, "ROLLBACK TO item", NULL, NULL, NULL);
			json_decref(it->result);
			it->result = NULL;
			if (it->kind == SR_STORE_OP_REVOCATIONS)
				sr_store_items_fail(it);
		}
		sqlite3_exec(db, "RELEASE item", NULL, NULL, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int commit_rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*commit_us = (long)((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000);
	if (commit_rc != SQLITE_OK) {
		sr_store_outcome_fail(o, db, sqlite3_extended_errcode(db), true);
		batch_fail(batch, db, "commit");
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return;
	}
	o->wrote = sqlite3_total_changes(db) != changes;
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
		run_batch(&st->w, batch, &commit_us, &outcome);
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
