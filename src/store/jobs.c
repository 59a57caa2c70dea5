/*
 * jobs.c - the job table: claim with a lease, renew, finish, retry, and the
 * revocation state that follows from its jobs.
 *
 * DESIGN: every write runs on the store's writer (group commit), so a claim
 * is one UPDATE ... RETURNING inside one transaction: two workers, in one
 * process or in several sharing the file, can never hold the same job. A
 * running job whose lease has expired (its worker died) is claimable again.
 * Jobs of one account never run at the same time: the engine reads a policy
 * before it writes it, and two writers at once could lower a cut-off. Nor
 * does one start while a write another job made may still be carried out
 * (settles_at: the job was stopped before it could read its roles again).
 * Finishing checks the lease is still ours before it writes anything, so a
 * worker that lost its job to another cannot overwrite the other's results.
 */
#include "store_int.h"

#include "session_revoker/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum sr_rc sr_store_insert_jobs(struct db *c, int64_t seq, const char *kind,
				char *const *accounts, size_t n, int64_t now,
				struct sr_err *err)
{
	static const char sql[] =
		"INSERT INTO jobs (revocation_seq, kind, account, run_at, state, created_at,"
		" updated_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?4, ?4)";
	struct db_q *q;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((q = db_prepare(c, sql)) == NULL)
			return sr_store_db_error(c, "insert job", err);
		db_bind_int64(q, 1, seq);
		db_bind_text(q, 2, kind);
		db_bind_text(q, 3, accounts[i]);
		db_bind_int64(q, 4, now);
		if (db_step(q) != DB_DONE)
			return sr_store_db_error(c, "insert job", err);
		db_reset(q);
	}
	return SR_OK;
}

static enum sr_rc update_state(struct db *c, int64_t seq, int64_t now, struct sr_err *err);

void sr_store_job_from_row(struct db_q *q, struct sr_job *job)
{
	memset(job, 0, sizeof(*job));
	job->id = db_int64(q, 0);
	job->revocation_seq = db_int64(q, 1);
	snprintf(job->kind, sizeof(job->kind), "%s", db_text(q, 2) ? db_text(q, 2) : "");
	snprintf(job->account, sizeof(job->account), "%s", db_text(q, 3) ? db_text(q, 3) : "");
	job->attempts = db_int(q, 4);
	snprintf(job->revocation_id, sizeof(job->revocation_id), "%s",
		 db_text(q, 5) ? db_text(q, 5) : "");
}

/* The back end claims (db.h: one statement under SQLite's write lock, or
 * row locks and an account lock on a server). */
static enum sr_rc claim(struct db *c, struct job_op *j, struct sr_err *err)
{
	j->found = 0;
	if (c->ops->claim(c, j->owner, j->now, j->lease, j->job, &j->found) != 0)
		return sr_store_db_error(c, "claim job", err);
	if (j->found) /* "applying" from its first claim */
		return update_state(c, j->job->revocation_seq, j->now, err);
	return SR_OK;
}

static const char renew_sql[] =
	"UPDATE jobs SET lease_expires = ?3, updated_at = ?4"
	" WHERE id = ?1 AND state = 'running' AND lease_owner = ?2";

static enum sr_rc renew(struct db *c, struct job_op *j, struct sr_err *err)
{
	struct db_q *q = db_prepare(c, renew_sql);

	if (q == NULL)
		return sr_store_db_error(c, "renew lease", err);
	db_bind_int64(q, 1, j->job_id);
	db_bind_text(q, 2, j->owner);
	db_bind_int64(q, 3, j->until);
	db_bind_int64(q, 4, j->now);
	if (db_step(q) != DB_DONE) {
		db_reset(q);
		return sr_store_db_error(c, "renew lease", err);
	}
	db_reset(q);
	if (db_changes(c) == 0)
		return sr_err_set(err, SR_ECONFLICT, "job %lld is no longer ours", (long long)j->job_id);
	return SR_OK;
}

/* The revocation's state from its jobs (see store.h and README.md, "Jobs").
 * The revocation's row is written first: on a server (READ COMMITTED) two
 * processes finishing the last two jobs at once would each count the other's
 * job as still running and leave the state "applying" for ever; the row lock
 * makes the second wait for the first's COMMIT, and its count then sees that
 * job done. (SQLite's write lock already orders them.) */
static enum sr_rc update_state(struct db *c, int64_t seq, int64_t now, struct sr_err *err)
{
	static const char lock_sql[] = "UPDATE revocations SET state = state WHERE seq = ?1";
	static const char count_sql[] =
		"SELECT r.action,"
		"  sum(CASE WHEN j.kind = k.first AND j.state IN ('pending', 'running') THEN 1 ELSE 0 END),"
		"  sum(CASE WHEN j.kind = k.first AND j.state = 'done' THEN 1 ELSE 0 END),"
		"  sum(CASE WHEN j.kind = k.first AND j.state = 'failed' THEN 1 ELSE 0 END),"
		"  sum(CASE WHEN j.kind = k.first AND j.attempts > 0 THEN 1 ELSE 0 END),"
		"  sum(CASE WHEN j.kind = 'cleanup' AND k.first = 'apply'"
		"       AND j.state IN ('pending', 'running', 'failed') THEN 1 ELSE 0 END),"
		"  sum(CASE WHEN j.kind = 'cleanup' AND k.first = 'apply' AND j.state = 'done'"
		"       THEN 1 ELSE 0 END)"
		" FROM revocations r JOIN jobs j ON j.revocation_seq = r.seq,"
		"  (SELECT CASE (SELECT action FROM revocations WHERE seq = ?1)"
		"     WHEN 'cleanup' THEN 'cleanup' ELSE 'apply' END AS first) k"
		" WHERE r.seq = ?1 GROUP BY r.action";
	static const char set_sql[] =
		"UPDATE revocations SET state = ?2, updated_at = ?3 WHERE seq = ?1 AND state <> ?2"
		" RETURNING created_at";
	struct db_q *q = db_prepare(c, lock_sql);
	const char *state = NULL;
	int open, done, failed, tried, cl_open, cl_done;

	if (q == NULL)
		return sr_store_db_error(c, "revocation state", err);
	db_bind_int64(q, 1, seq);
	if (db_step(q) != DB_DONE) {
		db_reset(q);
		return sr_store_db_error(c, "revocation state", err);
	}
	db_reset(q);
	if ((q = db_prepare(c, count_sql)) == NULL)
		return sr_store_db_error(c, "revocation state", err);
	db_bind_int64(q, 1, seq);
	if (db_step(q) != DB_ROW) {
		db_reset(q);
		return sr_store_db_error(c, "revocation state", err);
	}
	open = db_int(q, 1);
	done = db_int(q, 2);
	failed = db_int(q, 3);
	tried = db_int(q, 4);
	cl_open = db_int(q, 5);
	cl_done = db_int(q, 6);
	if (open > 0)
		state = tried > 0 ? "applying" : "pending";
	else if (failed > 0)
		state = done > 0 ? "partial" : "failed";
	else if (strcmp(db_text(q, 0), "cleanup") == 0)
		state = "cleaned";
	else if (cl_open == 0 && cl_done > 0)
		state = "cleaned";
	else
		state = "applied";
	db_reset(q);
	if ((q = db_prepare(c, set_sql)) == NULL)
		return sr_store_db_error(c, "revocation state", err);
	db_bind_int64(q, 1, seq);
	db_bind_text(q, 2, state);
	db_bind_int64(q, 3, now);
	switch (db_step(q)) {
	case DB_ROW: /* the state changed: from the 202 to applied is measured */
		if (strcmp(state, "applied") == 0)
			sr_metric_observe(SR_M_APPLY_SECONDS, NULL,
					  (double)(now - db_int64(q, 0)));
		break;
	case DB_DONE:
		break;
	default:
		db_reset(q);
		return sr_store_db_error(c, "revocation state", err);
	}
	db_reset(q);
	return SR_OK;
}

static enum sr_rc put_roles(struct db *c, const struct sr_job_finish *f, struct sr_err *err)
{
	static const char sql[] =
		"INSERT INTO role_results (revocation_seq, account, role_arn, kind,"
		" outcome, cutoff, due, request_id, error, at)"
		" VALUES (?1, ?2, ?3, ?4, ?5, CAST(?6 AS BIGINT), CAST(?7 AS BIGINT), ?8, ?9, ?10)"
		" ON CONFLICT (revocation_seq, account, role_arn, kind) DO UPDATE SET"
		"  outcome = excluded.outcome, cutoff = excluded.cutoff,"
		"  due = excluded.due, request_id = excluded.request_id, error = excluded.error,"
		"  at = excluded.at";
	struct db_q *q;
	size_t i;

	for (i = 0; i < f->n_roles; i++) {
		const struct sr_job_role *r = &f->roles[i];
		if ((q = db_prepare(c, sql)) == NULL)
			return sr_store_db_error(c, "role result", err);
		db_bind_int64(q, 1, f->job->revocation_seq);
		db_bind_text(q, 2, r->account);
		db_bind_text(q, 3, r->role_arn);
		db_bind_text(q, 4, f->job->kind);
		db_bind_text(q, 5, r->outcome);
		if (r->cutoff)
			db_bind_int64(q, 6, r->cutoff);
		if (r->due)
			db_bind_int64(q, 7, r->due);
		if (r->request_id && r->request_id[0])
			db_bind_text(q, 8, r->request_id);
		if (r->error && r->error[0])
			db_bind_text(q, 9, r->error);
		db_bind_int64(q, 10, f->now);
		if (db_step(q) != DB_DONE) {
			db_reset(q);
			return sr_store_db_error(c, "role result", err);
		}
		db_reset(q);
	}
	return SR_OK;
}

static enum sr_rc finish(struct db *c, struct job_op *j, struct sr_err *err)
{
	static const char move_sql[] =
		"UPDATE jobs SET state = ?3, run_at = coalesce(CAST(?4 AS BIGINT), run_at),"
		"  last_error = ?5, attempts = CASE WHEN ?6 <> 0 THEN 0 ELSE attempts END,"
		"  settles_at = CASE WHEN coalesce(settles_at, 0) >= ?8 THEN settles_at"
		"                    ELSE nullif(?8, 0) END,"
		"  lease_owner = NULL, lease_expires = NULL, updated_at = ?7"
		" WHERE id = ?1 AND state = 'running' AND lease_owner = ?2";
	static const char cleanup_sql[] =
		"INSERT INTO jobs (revocation_seq, kind, account, run_at, state, created_at, updated_at)"
		" VALUES (?1, 'cleanup', ?2, ?3, 'pending', ?4, ?4)"
		" ON CONFLICT (revocation_seq, kind, account) DO UPDATE SET"
		"  run_at = CASE WHEN excluded.run_at > jobs.run_at THEN excluded.run_at"
		"               ELSE jobs.run_at END,"
		"  state = 'pending', attempts = 0, updated_at = excluded.updated_at"
		" WHERE jobs.state <> 'running'";
	const struct sr_job_finish *f = j->fin;
	static const char *const states[] = {
		[SR_JOB_DONE] = "done", [SR_JOB_RETRY] = "pending",
		[SR_JOB_LATER] = "pending", [SR_JOB_FAILED] = "failed"};
	struct db_q *q = db_prepare(c, move_sql);
	enum sr_rc rc;

	if (q == NULL)
		return sr_store_db_error(c, "finish job", err);
	db_bind_int64(q, 1, f->job->id);
	db_bind_text(q, 2, f->owner);
	db_bind_text(q, 3, states[f->next]);
	if (f->next == SR_JOB_RETRY || f->next == SR_JOB_LATER)
		db_bind_int64(q, 4, f->run_at);
	if (f->error != NULL && f->error[0] != '\0')
		db_bind_text(q, 5, f->error);
	db_bind_int64(q, 6, f->next == SR_JOB_LATER);
	db_bind_int64(q, 7, f->now);
	db_bind_int64(q, 8, f->settles_at);
	if (db_step(q) != DB_DONE) {
		db_reset(q);
		return sr_store_db_error(c, "finish job", err);
	}
	db_reset(q);
	if (db_changes(c) == 0)
		return sr_err_set(err, SR_ECONFLICT, "job %lld was taken over by another worker",
				  (long long)f->job->id);
	if ((rc = put_roles(c, f, err)) != SR_OK)
		return rc;
	if ((f->next == SR_JOB_DONE || f->next == SR_JOB_FAILED) && f->cleanup_at > 0) {
		if ((q = db_prepare(c, cleanup_sql)) == NULL)
			return sr_store_db_error(c, "schedule cleanup", err);
		db_bind_int64(q, 1, f->job->revocation_seq);
		db_bind_text(q, 2, f->job->account);
		db_bind_int64(q, 3, f->cleanup_at);
		db_bind_int64(q, 4, f->now);
		if (db_step(q) != DB_DONE) {
			db_reset(q);
			return sr_store_db_error(c, "schedule cleanup", err);
		}
		db_reset(q);
	}
	return update_state(c, f->job->revocation_seq, f->now, err);
}

static enum sr_rc retry(struct db *c, struct job_op *j, struct sr_err *err)
{
	static const char sql[] =
		"UPDATE jobs SET state = 'pending', run_at = ?2, attempts = 0, lease_owner = NULL,"
		" lease_expires = NULL, updated_at = ?2 WHERE id = ?1 AND state IN ('failed', 'pending')"
		" RETURNING revocation_seq";
	struct db_q *q = db_prepare(c, sql);
	int64_t seq = 0;
	int step;

	if (q == NULL)
		return sr_store_db_error(c, "retry job", err);
	db_bind_int64(q, 1, j->job_id);
	db_bind_int64(q, 2, j->now);
	step = db_step(q);
	if (step == DB_ROW) {
		seq = db_int64(q, 0);
		step = db_step(q);
	}
	db_reset(q);
	if (step != DB_DONE)
		return sr_store_db_error(c, "retry job", err);
	if (seq == 0)
		return sr_err_set(err, SR_ENOTFOUND, "no failed or pending job %lld",
				  (long long)j->job_id);
	return update_state(c, seq, j->now, err);
}

enum sr_rc sr_store_write_job(struct db *c, struct sr_store_op *op)
{
	struct job_op *j = op->args;

	switch (j->kind) {
	case JOB_CLAIM:
		return claim(c, j, &op->err);
	case JOB_RENEW:
		return renew(c, j, &op->err);
	case JOB_FINISH:
		return finish(c, j, &op->err);
	case JOB_RETRY:
		return retry(c, j, &op->err);
	}
	return sr_err_set(&op->err, SR_EINTERNAL, "unknown job operation");
}

static enum sr_rc run(struct sr_store *st, struct job_op *j, struct sr_err *err)
{
	struct sr_store_op op;

	memset(&op, 0, sizeof(op));
	op.kind = SR_STORE_OP_JOB;
	op.args = j;
	return sr_store_submit_wait(st, &op, err);
}

enum sr_rc sr_store_job_claim(struct sr_store *st, const char *owner, int64_t now,
			      int64_t lease_seconds, struct sr_job *job, int *found,
			      struct sr_err *err)
{
	struct job_op j = {.kind = JOB_CLAIM, .owner = owner, .now = now,
			   .lease = lease_seconds, .job = job};
	enum sr_rc rc = run(st, &j, err);

	*found = rc == SR_OK && j.found;
	return rc;
}

enum sr_rc sr_store_job_renew(struct sr_store *st, int64_t job_id, const char *owner,
			      int64_t until, struct sr_err *err)
{
	struct job_op j = {.kind = JOB_RENEW, .owner = owner, .job_id = job_id,
			   .until = until, .now = sr_clock_now()};

	return run(st, &j, err);
}

enum sr_rc sr_store_job_finish(struct sr_store *st, const struct sr_job_finish *fin,
			       struct sr_err *err)
{
	struct job_op j = {.kind = JOB_FINISH, .fin = fin, .now = fin->now};

	return run(st, &j, err);
}

enum sr_rc sr_store_job_retry(struct sr_store *st, int64_t job_id, int64_t now,
			      struct sr_err *err)
{
	struct job_op j = {.kind = JOB_RETRY, .job_id = job_id, .now = now};

	return run(st, &j, err);
}

/* ---- reads ---- */

static json_t *time_or_null(struct db_q *q, int col)
{
	char buf[32];

	if (db_is_null(q, col))
		return json_null();
	return json_string(sr_time_format(db_int64(q, col), buf));
}

static json_t *text_or_null(struct db_q *q, int col)
{
	const char *t = db_text(q, col);

	return t ? json_string(t) : json_null();
}

#define JOB_COLS \
	"SELECT j.id, r.id, j.kind, j.account, j.state, j.run_at, j.attempts, j.last_error," \
	" j.lease_owner, j.lease_expires, j.updated_at FROM jobs j" \
	" JOIN revocations r ON r.seq = j.revocation_seq"

static json_t *job_json(struct db_q *q)
{
	return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:o, s:o}",
			 "id", (json_int_t)db_int64(q, 0),
			 "revocation_id", text_or_null(q, 1), "kind", text_or_null(q, 2),
			 "account", text_or_null(q, 3), "state", text_or_null(q, 4),
			 "run_at", time_or_null(q, 5), "attempts", db_int(q, 6),
			 "last_error", text_or_null(q, 7), "lease_owner", text_or_null(q, 8),
			 "lease_expires", time_or_null(q, 9), "updated_at", time_or_null(q, 10));
}

enum sr_rc sr_store_jobs_list(struct sr_store *st, const char *state, int limit,
			      json_t **out, struct sr_err *err)
{
	static const char sql[] =
		JOB_COLS " WHERE (CAST(?1 AS TEXT) IS NULL OR j.state = ?1) ORDER BY j.id DESC LIMIT ?2";
	struct db_q *q = NULL;
	int slot, step;
	struct db *c = sr_store_reader_take(st, &slot);
	enum sr_rc rc = SR_OK;

	*out = json_array();
	if ((q = db_prepare(c, sql)) == NULL) {
		rc = sr_store_db_error(c, "list jobs", err);
		goto out;
	}
	db_bind_text(q, 1, state);
	db_bind_int64(q, 2, limit);
	while ((step = db_step(q)) == DB_ROW)
		json_array_append_new(*out, job_json(q));
	if (step != DB_DONE)
		rc = sr_store_db_error(c, "list jobs", err);
	db_reset(q);
out:
	sr_store_reader_give(st, slot);
	return rc;
}

enum sr_rc sr_store_revocation_detail(struct db *c, json_t *rev, struct sr_err *err)
{
	static const char jobs_sql[] =
		JOB_COLS " WHERE r.id = ?1"
		" ORDER BY j.account, j.kind";
	static const char roles_sql[] =
		"SELECT x.account, x.role_arn, x.kind, x.outcome, x.cutoff, x.due, x.request_id,"
		" x.error, x.at FROM role_results x JOIN revocations r ON r.seq = x.revocation_seq"
		" WHERE r.id = ?1 ORDER BY x.account, x.role_arn, x.kind";
	const char *id = json_string_value(json_object_get(rev, "id"));
	json_t *jobs = json_array(), *roles = json_array(), *due = json_null();
	struct db_q *q;
	int step;

	if ((q = db_prepare(c, jobs_sql)) == NULL)
		goto fail;
	db_bind_text(q, 1, id);
	while ((step = db_step(q)) == DB_ROW) {
		json_t *job = job_json(q);
		json_object_del(job, "revocation_id");
		json_object_del(job, "lease_owner");
		json_object_del(job, "lease_expires");
		if (strcmp(db_text(q, 2), "cleanup") == 0 &&
		    strcmp(db_text(q, 4), "done") != 0 &&
		    (json_is_null(due) || strcmp(json_string_value(json_object_get(job, "run_at")),
						 json_string_value(due)) > 0)) {
			json_decref(due);
			due = json_incref(json_object_get(job, "run_at"));
		}
		json_array_append_new(jobs, job);
	}
	db_reset(q);
	if (step != DB_DONE || (q = db_prepare(c, roles_sql)) == NULL)
		goto fail;
	db_bind_text(q, 1, id);
	while ((step = db_step(q)) == DB_ROW)
		json_array_append_new(roles, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			"account", text_or_null(q, 0), "role_arn", text_or_null(q, 1),
			"action", text_or_null(q, 2), "outcome", text_or_null(q, 3),
			"cutoff", time_or_null(q, 4), "due", time_or_null(q, 5),
			"request_id", text_or_null(q, 6), "error", text_or_null(q, 7),
			"at", time_or_null(q, 8)));
	db_reset(q);
	if (step != DB_DONE)
		goto fail;
	json_object_set_new(rev, "jobs", jobs);
	json_object_set_new(rev, "roles", roles);
	json_object_set_new(rev, "cleanup_due", due);
	return SR_OK;
fail:
	json_decref(jobs);
	json_decref(roles);
	json_decref(due);
	return sr_store_db_error(c, "revocation detail", err);
}

/* Appends a copy of a column's text to the string vector *v of *n. */
static enum sr_rc append_text(char ***v, size_t *n, const char *text,
			      struct sr_err *err)
{
	char **grown = realloc(*v, (*n + 1) * sizeof(char *));
	char *copy;

	if (grown == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	*v = grown;
	if ((copy = strdup(text ? text : "")) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	grown[(*n)++] = copy;
	return SR_OK;
}

/* Appends the text of column 0 of each row of q (bound) to *v. */
static enum sr_rc read_names(struct db *c, struct db_q *q, char ***v, size_t *n,
			     struct sr_err *err)
{
	enum sr_rc rc = SR_OK;
	int step;

	while ((step = db_step(q)) == DB_ROW &&
	       (rc = append_text(v, n, db_text(q, 0), err)) == SR_OK)
		;
	if (rc == SR_OK && step != DB_DONE)
		rc = sr_store_db_error(c, "read revocation", err);
	db_reset(q);
	return rc;
}

void sr_revocation_work_clear(struct sr_revocation_work *w)
{
	sr_strv_free(w->groups, w->n_groups);
	sr_strv_free(w->subjects, w->n_subjects);
	memset(w, 0, sizeof(*w));
}

enum sr_rc sr_store_revocation_work(struct sr_store *st, int64_t seq, struct sr_revocation_work *w,
				    struct sr_err *err)
{
	static const char row_sql[] =
		"SELECT coalesce(groups_cutoff, cutoff), action, subjects_cutoff"
		" FROM revocations WHERE seq = ?1";
	static const char groups_sql[] =
		"SELECT group_name FROM revocation_groups WHERE revocation_seq = ?1"
		" ORDER BY position";
	static const char subjects_sql[] =
		"SELECT subject FROM revocation_subjects WHERE revocation_seq = ?1"
		" ORDER BY position";
	int slot, step;
	struct db *c = sr_store_reader_take(st, &slot);
	struct db_q *q = db_prepare(c, row_sql);
	enum sr_rc rc = SR_OK;

	memset(w, 0, sizeof(*w));
	if (q == NULL) {
		rc = sr_store_db_error(c, "read revocation", err);
		goto out;
	}
	db_bind_int64(q, 1, seq);
	step = db_step(q);
	if (step == DB_ROW) {
		w->cutoff = db_int64(q, 0);
		snprintf(w->action, sizeof(w->action), "%s", db_text(q, 1));
		w->subjects_cutoff = db_int64(q, 2);
	}
	db_reset(q);
	if (step == DB_DONE) {
		rc = sr_err_set(err, SR_ENOTFOUND, "no revocation %lld", (long long)seq);
		goto out;
	}
	if (step != DB_ROW) {
		rc = sr_store_db_error(c, "read revocation", err);
		goto out;
	}
	if ((q = db_prepare(c, groups_sql)) == NULL) {
		rc = sr_store_db_error(c, "read revocation", err);
		goto out;
	}
	db_bind_int64(q, 1, seq);
	if ((rc = read_names(c, q, &w->groups, &w->n_groups, err)) != SR_OK)
		goto out;
	if ((q = db_prepare(c, subjects_sql)) == NULL) {
		rc = sr_store_db_error(c, "read revocation", err);
		goto out;
	}
	db_bind_int64(q, 1, seq);
	rc = read_names(c, q, &w->subjects, &w->n_subjects, err);
out:
	if (rc != SR_OK)
		sr_revocation_work_clear(w);
	sr_store_reader_give(st, slot);
	return rc;
}

enum sr_rc sr_store_denied_roles(struct sr_store *st, const struct sr_denied_filter *f,
				 char ***arns, size_t *n, struct sr_err *err)
{
	int slot, step;
	struct db *c = sr_store_reader_take(st, &slot);
	struct db_q *q = db_prepare(c, c->ops->sql->denied_roles);
	enum sr_rc rc = SR_OK;
	char *groups = NULL;

	*arns = NULL;
	*n = 0;
	if (q == NULL) {
		rc = sr_store_db_error(c, "denied roles", err);
		goto out;
	}
	if (f->groups != NULL) {
		json_t *v = json_array();
		size_t i;
		for (i = 0; i < f->n_groups; i++)
			json_array_append_new(v, json_string(f->groups[i]));
		groups = json_dumps(v, JSON_COMPACT);
		json_decref(v);
		if (groups == NULL) {
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
			goto out;
		}
	}
	db_bind_int64(q, 1, f->seq);
	db_bind_text(q, 2, f->account);
	db_bind_text(q, 3, groups);
	while ((step = db_step(q)) == DB_ROW &&
	       (rc = append_text(arns, n, db_text(q, 0), err)) == SR_OK)
		;
	if (rc == SR_OK && step != DB_DONE)
		rc = sr_store_db_error(c, "denied roles", err);
	db_reset(q);
	if (rc != SR_OK) {
		sr_strv_free(*arns, *n);
		*arns = NULL;
		*n = 0;
	}
out:
	free(groups);
	sr_store_reader_give(st, slot);
	return rc;
}
