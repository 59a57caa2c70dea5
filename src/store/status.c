/*
 * status.c - what `session-revoker status` reports about a store, read from
 * the file alone: no writer, no migrations, nothing written.
 *
 * DESIGN: the file is opened read-only (never created); all queries run in
 * one read transaction, so the counts are one consistent snapshot even while
 * `serve` writes beside it (WAL lets readers run beside the writer). Whether
 * the store takes writes is judged without writing: the file system is not
 * mounted read-only, this user may write the file, its write-ahead log and
 * its folder (where SQLite creates the -wal and -shm files), and the disk
 * has at least as much room as readiness asks for (ready.c).
 */
#include "store_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct sr_migration;
extern const size_t sr_migrations_count;

#define STATUS_FREE_BYTES (1024 * 1024) /* as readiness: ready.c */

/* A job the workers may claim now: due, or running with its lease expired. */
#define DUE "((j.state = 'pending' AND j.run_at <= ?1)" \
	    " OR (j.state = 'running' AND coalesce(j.lease_expires, 0) <= ?1))"

static json_t *time_json(int64_t t)
{
	char buf[32];

	return json_string(sr_time_format(t, buf));
}

static json_t *text_json(sqlite3_stmt *q, int col)
{
	const unsigned char *t = sqlite3_column_text(q, col);

	return t ? json_string((const char *)t) : json_null();
}

/* Runs sql (?1 bound to now) and calls row(q, arg) on each row. */
static enum sr_rc each_row(sqlite3 *db, const char *sql, int64_t now,
			   void (*row)(sqlite3_stmt *q, void *arg), void *arg, struct sr_err *err)
{
	sqlite3_stmt *q = NULL;
	enum sr_rc rc = SR_OK;
	int step;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return sr_store_db_error(db, "status", err);
	if (sqlite3_bind_parameter_count(q) >= 1)
		sqlite3_bind_int64(q, 1, now);
	while ((step = sqlite3_step(q)) == SQLITE_ROW)
		row(q, arg);
	if (step != SQLITE_DONE)
		rc = sr_store_db_error(db, "status", err);
	sqlite3_finalize(q);
	return rc;
}

/* {"<col 0>": {"<col 1>": <col 2>}} */
static void count2(sqlite3_stmt *q, void *arg)
{
	const char *a = (const char *)sqlite3_column_text(q, 0);
	const char *b = (const char *)sqlite3_column_text(q, 1);
	json_t *inner = json_object_get(arg, a);

	if (inner == NULL) {
		inner = json_object();
		json_object_set_new(arg, a, inner);
	}
	json_object_set_new(inner, b, json_integer(sqlite3_column_int64(q, 2)));
}

/* {"<col 0>": <col 1>} */
static void count1(sqlite3_stmt *q, void *arg)
{
	json_object_set_new(arg, (const char *)sqlite3_column_text(q, 0),
			    json_integer(sqlite3_column_int64(q, 1)));
}

struct oldest {
	json_t *job;
	int64_t now;
};

static void oldest_row(sqlite3_stmt *q, void *arg)
{
	struct oldest *o = arg;
	int64_t run_at = sqlite3_column_int64(q, 5);

	o->job = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:i}",
			   "id", (json_int_t)sqlite3_column_int64(q, 0),
			   "revocation_id", text_json(q, 1), "kind", text_json(q, 2),
			   "account", text_json(q, 3), "state", text_json(q, 4),
			   "run_at", time_json(run_at),
			   "age_seconds", (json_int_t)(o->now > run_at ? o->now - run_at : 0),
			   "attempts", sqlite3_column_int(q, 6));
}

static void error_row(sqlite3_stmt *q, void *arg)
{
	json_array_append_new(arg, json_pack(
		"{s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:b}",
		"account", text_json(q, 0), "error", text_json(q, 1),
		"at", time_json(sqlite3_column_int64(q, 2)),
		"job_id", (json_int_t)sqlite3_column_int64(q, 3), "kind", text_json(q, 4),
		"job_state", text_json(q, 5), "revocation_id", text_json(q, 6),
		"later_job_done", sqlite3_column_int(q, 7) != 0));
}

/* The newest job error of each account, and whether a job of the account
 * finished after it (the error may be over). */
static const char errors_sql[] =
	"SELECT j.account, j.last_error, j.updated_at, j.id, j.kind, j.state, r.id,"
	"       EXISTS (SELECT 1 FROM jobs d WHERE d.account = j.account AND d.state = 'done'"
	"               AND d.updated_at >= j.updated_at AND d.id <> j.id)"
	"  FROM jobs j JOIN revocations r ON r.seq = j.revocation_seq"
	" WHERE j.id = (SELECT e.id FROM jobs e WHERE e.account = j.account"
	"               AND e.last_error IS NOT NULL ORDER BY e.updated_at DESC, e.id DESC LIMIT 1)"
	" ORDER BY j.account";

static enum sr_rc queries(sqlite3 *db, int64_t now, json_t *out, struct sr_err *err)
{
	json_t *by = json_object(), *due = json_object(), *failed = json_object();
	json_t *errors = json_array(), *states = json_object(), *sources = json_object();
	struct oldest oldest = {.job = NULL, .now = now};
	enum sr_rc rc;

	json_object_set_new(out, "jobs", json_pack("{s:o, s:o, s:o}", "by_kind_and_state", by,
						   "due_now", due, "failed", failed));
	json_object_set_new(out, "aws_errors", errors);
	json_object_set_new(out, "revocations", json_pack("{s:o, s:o}", "by_state", states,
							  "by_source", sources));
	if ((rc = each_row(db, "SELECT kind, state, count(*) FROM jobs GROUP BY kind, state"
			   " ORDER BY kind, state", now, count2, by, err)) != SR_OK ||
	    (rc = each_row(db, "SELECT kind, count(*) FROM jobs j WHERE " DUE
			   " GROUP BY kind ORDER BY kind", now, count1, due, err)) != SR_OK ||
	    (rc = each_row(db, "SELECT kind, count(*) FROM jobs WHERE state = 'failed'"
			   " GROUP BY kind ORDER BY kind", now, count1, failed, err)) != SR_OK ||
	    (rc = each_row(db, "SELECT j.id, r.id, j.kind, j.account, j.state, j.run_at,"
			   " j.attempts FROM jobs j JOIN revocations r ON r.seq = j.revocation_seq"
			   " WHERE " DUE " ORDER BY j.run_at, j.id LIMIT 1", now, oldest_row,
			   &oldest, err)) != SR_OK ||
	    (rc = each_row(db, errors_sql, now, error_row, errors, err)) != SR_OK ||
	    (rc = each_row(db, "SELECT state, count(*) FROM revocations GROUP BY state"
			   " ORDER BY state", now, count1, states, err)) != SR_OK ||
	    (rc = each_row(db, "SELECT source, count(*) FROM revocations GROUP BY source"
			   " ORDER BY source", now, count1, sources, err)) != SR_OK) {
		json_decref(oldest.job);
		return rc;
	}
	json_object_set_new(json_object_get(out, "jobs"), "oldest_due",
			    oldest.job ? oldest.job : json_null());
	return SR_OK;
}

/* Why this user could not write the store now, or NULL (then it can). */
static const char *no_writes(const char *path, const char *dir, long long free_bytes,
			     char *why, size_t cap)
{
	struct statvfs sv;
	char wal[PATH_MAX];

	if (statvfs(dir, &sv) == 0 && (sv.f_flag & ST_RDONLY)) {
		snprintf(why, cap, "the file system holding %s is mounted read-only", dir);
		return why;
	}
	if (access(path, W_OK) != 0) {
		snprintf(why, cap, "%s is not writable by this user (uid %u): %s", path,
			 (unsigned)geteuid(), strerror(errno));
		return why;
	}
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (access(wal, F_OK) == 0 && access(wal, W_OK) != 0) {
		snprintf(why, cap, "%s is not writable by this user (uid %u): %s", wal,
			 (unsigned)geteuid(), strerror(errno));
		return why;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		snprintf(why, cap, "the folder %s is not writable by this user (uid %u), and"
			 " SQLite creates the store's -wal and -shm files there: %s", dir,
			 (unsigned)geteuid(), strerror(errno));
		return why;
	}
	if (free_bytes >= 0 && free_bytes < STATUS_FREE_BYTES) {
		snprintf(why, cap, "the disk holding the store has %lld bytes free (less than %d)",
			 free_bytes, STATUS_FREE_BYTES);
		return why;
	}
	return NULL;
}

/* The file facts: path, sizes, free space, whether it takes writes. */
static json_t *file_json(const char *path, const struct stat *sb)
{
	char wal[PATH_MAX], dir[PATH_MAX], why[PATH_MAX + 160];
	const char *slash = strrchr(path, '/'), *whynot;
	struct stat ws;
	struct statvfs sv;
	long long free_bytes = -1;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (statvfs(dir, &sv) == 0)
		free_bytes = (long long)sv.f_bavail * (long long)sv.f_frsize;
	whynot = no_writes(path, dir, free_bytes, why, sizeof(why));
	return json_pack("{s:s, s:I, s:I, s:o, s:b, s:o}", "path", path,
			 "size_bytes", (json_int_t)sb->st_size,
			 "wal_bytes", (json_int_t)(stat(wal, &ws) == 0 ? ws.st_size : 0),
			 "free_bytes", free_bytes >= 0 ? json_integer(free_bytes) : json_null(),
			 "writable", whynot == NULL,
			 "not_writable_because", whynot ? json_string(whynot) : json_null());
}

/* Opens path read-only (immutable: as a file nobody writes, without locks or
 * the -wal and -shm files) and starts the read transaction that every count
 * shares. OUT *db (close it even on failure), *version. */
static enum sr_rc open_read(const char *path, int immutable, sqlite3 **db, int *version,
			    struct sr_err *err)
{
	char uri[3 * PATH_MAX + 32];
	size_t n = 0;
	sqlite3_stmt *q = NULL;
	const char *p;

	/* A URI (sqlite.org/uri.html): '%', '?' and '#' escaped. */
	n = (size_t)snprintf(uri, sizeof(uri), "file:");
	for (p = path; *p != '\0' && n + 4 < sizeof(uri); p++) {
		if (*p == '%' || *p == '?' || *p == '#')
			n += (size_t)snprintf(uri + n, sizeof(uri) - n, "%%%02X", (unsigned char)*p);
		else
			uri[n++] = *p;
	}
	snprintf(uri + n, sizeof(uri) - n, "%s", immutable ? "?immutable=1" : "");
	*version = -1;
	if (sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI,
			    NULL) != SQLITE_OK)
		return sr_err_set(err, SR_ESTORE, "cannot open %s: %s", path,
				  *db ? sqlite3_errmsg(*db) : "out of memory");
	sqlite3_busy_timeout(*db, 5000);
	sqlite3_extended_result_codes(*db, 1);
	if (sqlite3_exec(*db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return sr_store_db_error(*db, "cannot read the store", err);
	if (sqlite3_prepare_v2(*db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		*version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (*version < 0)
		return sr_store_db_error(*db, "cannot read the store", err);
	return SR_OK;
}

enum sr_rc sr_store_status(const char *path, int64_t now, json_t **out, struct sr_err *err)
{
	sqlite3 *db = NULL;
	struct stat sb;
	enum sr_rc rc = SR_OK;
	json_t *store;
	int version = -1;

	*out = NULL;
	if (stat(path, &sb) != 0)
		return sr_err_set(err, errno == ENOENT ? SR_ENOTFOUND : SR_EIO,
				  "no store at %s: %s%s", path, strerror(errno),
				  errno == ENOENT ? " (serve creates it when it first starts)" : "");
	if (!S_ISREG(sb.st_mode))
		return sr_err_set(err, SR_EIO, "the store %s is not a regular file", path);
	*out = json_object();
	store = file_json(path, &sb);
	json_object_set_new(*out, "store", store);
	if ((rc = open_read(path, 0, &db, &version, err)) != SR_OK) {
		/* No -wal file: no connection is open and everything is in the
		 * main file, but a WAL store on a read-only mount cannot be
		 * opened unless SQLite can create the -wal and -shm files; read
		 * it as immutable, which needs neither. */
		char wal[PATH_MAX];
		snprintf(wal, sizeof(wal), "%s-wal", path);
		if (access(wal, F_OK) == 0 || json_is_true(json_object_get(store, "writable")))
			goto out;
		sqlite3_close(db);
		db = NULL;
		sr_err_clear(err);
		if ((rc = open_read(path, 1, &db, &version, err)) != SR_OK)
			goto out;
	}
	json_object_set_new(store, "schema_version", json_integer(version));
	json_object_set_new(store, "schema_expected", json_integer((json_int_t)sr_migrations_count));
	if (version < 2) {
		rc = sr_err_set(err, SR_ESTORE, "%s is not a session-revoker store (schema version"
				" %d, no job table)", path, version);
		goto out;
	}
	json_object_set_new(*out, "now", time_json(now));
	rc = queries(db, now, *out, err);
out:
	if (db != NULL)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	if (rc != SR_OK) {
		/* What is known of the file still helps the operator. */
		json_t *facts = json_pack("{s:O}", "store", store);
		json_decref(*out);
		*out = facts;
	}
	return rc;
}
