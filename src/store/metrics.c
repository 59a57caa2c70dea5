/*
 * metrics.c - the store's gauges for GET /metrics, read at scrape time on a
 * read connection (WAL: never waits for the writer).
 *
 * Cost: the job lag is two index lookups (jobs_due); the two counts are
 * GROUP BYs whose rows are bounded by the CHECKed states times the kinds
 * (jobs) or the configured sources (revocations), but which read every row:
 * the HTTP handler runs this off the event loop, never on it.
 */
#include "store_int.h"

#include "session_revoker/metrics.h"

/* Every (a, b, count) row of sql into the gauge family, zeroed first. */
static enum sr_rc counts(struct db *c, const char *sql, struct sr_metrics *m, size_t family,
			 const char *what, struct sr_err *err)
{
	struct db_q *q = db_prepare(c, sql);
	int step;

	if (q == NULL)
		return sr_store_db_error(c, what, err);
	sr_metrics_zero(m, family);
	while ((step = db_step(q)) == DB_ROW)
		sr_metrics_set(m, family,
			       (const char *[]){db_text(q, 0),
						db_text(q, 1)},
			       (double)db_int64(q, 2));
	db_reset(q);
	if (step != DB_DONE)
		return sr_store_db_error(c, what, err);
	return SR_OK;
}

enum sr_rc sr_store_metrics(struct sr_store *st, struct sr_metrics *m, int64_t now,
			    struct sr_err *err)
{
	static const char revs_sql[] =
		"SELECT source, state, count(*) FROM revocations GROUP BY source, state";
	static const char jobs_sql[] =
		"SELECT kind, state, count(*) FROM jobs GROUP BY kind, state";
	/* The oldest due job: a pending one whose run_at has come, or a
	 * running one whose lease expired (it is claimable again). */
	static const char lag_sql[] =
		"SELECT min(t) FROM ("
		" SELECT min(run_at) AS t FROM jobs WHERE state = 'pending' AND run_at <= ?1"
		" UNION ALL"
		" SELECT min(lease_expires) FROM jobs WHERE state = 'running' AND lease_expires <= ?1) d";
	int slot;
	struct db *c;
	struct db_q *q;
	enum sr_rc rc;

	c = sr_store_reader_take(st, &slot);
	if ((rc = counts(c, revs_sql, m, SR_M_REVOCATIONS, "count revocations", err)) != SR_OK ||
	    (rc = counts(c, jobs_sql, m, SR_M_JOBS, "count jobs", err)) != SR_OK)
		goto out;
	if ((q = db_prepare(c, lag_sql)) == NULL) {
		rc = sr_store_db_error(c, "job lag", err);
		goto out;
	}
	db_bind_int64(q, 1, now);
	if (db_step(q) != DB_ROW) {
		db_reset(q);
		rc = sr_store_db_error(c, "job lag", err);
		goto out;
	}
	sr_metrics_set(m, SR_M_JOB_LAG, NULL,
		       db_is_null(q, 0)
			       ? 0.0
			       : (double)(now - db_int64(q, 0)));
	db_reset(q);
out:
	sr_store_reader_give(st, slot);
	return rc;
}
