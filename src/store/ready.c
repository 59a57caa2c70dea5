/*
 * ready.c - whether the store takes writes (GET /readyz), answered from what
 * the writer last saw instead of a write per question.
 *
 * DESIGN: the writer notes the outcome of every batch it commits (a commit
 * that changed rows, or a write that failed and why). Readiness is that
 * outcome while it is fresh: a commit that wrote less than a second ago means
 * ready without touching the disk. Otherwise one caller a second is told to
 * queue a check write (SR_STORE_OP_PING: a one-row table updated in place)
 * and everyone else in that second gets the last outcome, so an idle service
 * writes at most once a second however often it is asked. A check write is
 * small and can fit in space a failed larger write left allocated, so after
 * a full disk (DB_FAIL_FULL) a check counts only once the disk holding the
 * store has READY_FREE_BYTES free again.
 */
#include "store_int.h"

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#define FRESH_MS 1000
#define READY_FREE_BYTES (1024 * 1024)


/* Errors that say the database takes no writes, not that one write was wrong. */
static bool storage_error(enum db_fail fail)
{
	switch (fail) {
	case DB_FAIL_FULL:
	case DB_FAIL_STORAGE:
	case DB_FAIL_BUSY:
	case DB_FAIL_GONE:
		return true;
	default:
		return false;
	}
}

void sr_store_outcome_fail(struct store_outcome *o, struct db *db, bool any)
{
	enum db_fail fail = db_fail(db);

	if (o->failed || (!any && !storage_error(fail)))
		return;
	o->failed = true;
	o->fail = fail;
	snprintf(o->why, sizeof(o->why), "%s", db_errmsg(db));
}

/* The free space of the store's file system, or -1 when it cannot be read. */
static long long free_bytes(const char *dir)
{
	struct statvfs sv;

	if (statvfs(dir, &sv) != 0)
		return -1;
	return (long long)sv.f_bavail * (long long)sv.f_frsize;
}

void sr_store_health_note(struct sr_store *st, struct sr_store_op *batch,
			  struct store_outcome *o)
{
	struct sr_store_op *it;
	bool only_checks = true, full;
	long long room;

	for (it = batch; it != NULL; it = it->next)
		only_checks &= it->kind == SR_STORE_OP_PING;
	pthread_mutex_lock(&st->mu);
	full = st->health.failing && st->health.disk_full;
	pthread_mutex_unlock(&st->mu);
	/* After a full disk, a check write alone does not say there is room. */
	if (!o->failed && only_checks && full && st->dir != NULL &&
	    (room = free_bytes(st->dir)) < READY_FREE_BYTES) {
		o->failed = true;
		o->fail = DB_FAIL_FULL;
		snprintf(o->why, sizeof(o->why), "the disk holding the store has %lld bytes free"
			 " (a write failed for want of space; ready again from %d)",
			 room < 0 ? 0 : room, READY_FREE_BYTES);
		for (it = batch; it != NULL; it = it->next) {
			it->rc = SR_ESTORE;
			sr_err_clear(&it->err);
			sr_err_set(&it->err, SR_ESTORE, "%s", o->why);
		}
	}
	pthread_mutex_lock(&st->mu);
	if (o->failed) {
		st->health.failing = true;
		st->health.disk_full = o->fail == DB_FAIL_FULL;
		snprintf(st->health.why, sizeof(st->health.why), "%s", o->why);
	} else if (o->wrote) {
		st->health.failing = false;
		st->health.disk_full = false;
		st->health.wrote_ms = sr_mono_ms();
	}
	pthread_mutex_unlock(&st->mu);
}

enum sr_rc sr_store_ready(struct sr_store *st, int *check, struct sr_err *err)
{
	int64_t now = sr_mono_ms();
	enum sr_rc rc = SR_OK;

	*check = 0;
	pthread_mutex_lock(&st->mu);
	if (!st->health.failing && st->health.wrote_ms > 0 &&
	    now - st->health.wrote_ms < FRESH_MS)
		rc = SR_OK;
	else if (st->health.checked_ms > 0 && now - st->health.checked_ms < FRESH_MS)
		rc = st->health.failing ? sr_err_set(err, SR_ESTORE, "%s", st->health.why) : SR_OK;
	else {
		st->health.checked_ms = now;
		*check = 1;
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}
