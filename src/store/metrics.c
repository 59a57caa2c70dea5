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
static enum sr_rc counts(struct conn *c, const char *sql, struct sr_metrics *m, size_t family,
			 const char *what, struct sr_err *err)
{
	sqlite3_stmt *q = sr_stmt(c, sql);
	int step;

	if (q == NULL)
		return sr_store_db_error(c->db, what, err);
	sr_metrics_zero(m, family);
	while ((step = sqlite3_step(q)) == SQLITE_ROW)
		sr_metrics_set(m, family,
			       (const char *[]){(const char *)sqlite3_column_text(q, 0),
						(const char *)sqlite3_column_text(q, 1)},
			       (double)sqlite3_column_int64(q, 2));
	sqlite3_reset(q);
	if (step != SQLITE_DONE)
		return sr_store_db_error(c->db, what, err);
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
		" SELECT min(lease_expires) FROM jobs WHERE state = 'running' AND lease_expires <= ?1)";
	int slot;
	struct conn *c;
	sqlite3_stmt *q;
	enum sr_rc rc;

	c = sr_store_reader_take(st, &slot);
	if ((rc = counts(c, revs_sql, m, SR_M_REVOCATIONS, "count revocations", err)) != SR_OK ||
	    (rc = counts(c, jobs_sql, m, SR_M_JOBS, "count jobs", err)) != SR_OK)
		goto out;
	if ((q = sr_stmt(c, lag_sql)) == NULL) {
		rc = sr_store_db_error(c->db, "job lag", err);
		goto out;
	}
	sqlite3_bind_int64(q, 1, now);
	if (sqlite3_step(q) != SQLITE_ROW) {
		sqlite3_reset(q);
		rc = sr_store_db_error(c->db, "job lag", err);
		goto out;
	}
	sr_metrics_set(m, SR_M_JOB_LAG, NULL,
		       sqlite3_column_type(q, 0) == SQLITE_NULL
			       ? 0.0
			       : (double)(now - sqlite3_column_int64(q, 0)));
	sqlite3_reset(q);
out:
	sr_store_reader_give(st, slot);
	return rc;
}
