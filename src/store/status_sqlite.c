/*
 * status_sqlite.c - what `session-revoker status` knows of an SQLite store
 * file (status.c asks): opened read-only and never created, nothing written.
 *
 * DESIGN: whether the store takes writes is judged without writing: the file
 * system is not mounted read-only, this user may write the file, its
 * write-ahead log and its folder (where SQLite creates the -wal and -shm
 * files), and the disk has at least as much room as readiness asks for
 * (ready.c).
 */
#include "store_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

extern const size_t sr_migrations_count;

#define STATUS_FREE_BYTES (1024 * 1024) /* as readiness: ready.c */

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
static enum sr_rc open_read(const char *path, int immutable, struct db **db, int *version,
			    struct sr_err *err)
{
	char uri[3 * PATH_MAX + 32];
	size_t n = 0;
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
	if (db_sqlite_open_uri(uri, path, db, err) != SR_OK)
		return SR_ESTORE;
	if (db_exec(*db, "BEGIN") != 0)
		return sr_store_db_error(*db, "cannot read the store", err);
	if ((*version = db_sqlite_schema_version(*db)) < 0)
		return sr_store_db_error(*db, "cannot read the store", err);
	return SR_OK;
}

enum sr_rc sr_status_sqlite_open(const char *path, json_t **store, struct db **db,
				 int *version, int *expected, struct sr_err *err)
{
	struct stat sb;
	enum sr_rc rc;

	*store = NULL;
	*db = NULL;
	*expected = (int)sr_migrations_count;
	if (stat(path, &sb) != 0)
		return sr_err_set(err, errno == ENOENT ? SR_ENOTFOUND : SR_EIO,
				  "no store at %s: %s%s", path, strerror(errno),
				  errno == ENOENT ? " (serve creates it when it first starts)" : "");
	if (!S_ISREG(sb.st_mode))
		return sr_err_set(err, SR_EIO, "the store %s is not a regular file", path);
	*store = file_json(path, &sb);
	if ((rc = open_read(path, 0, db, version, err)) != SR_OK) {
		/* No -wal file: no connection is open and everything is in the
		 * main file, but a WAL store on a read-only mount cannot be
		 * opened unless SQLite can create the -wal and -shm files; read
		 * it as immutable, which needs neither. */
		char wal[PATH_MAX];
		snprintf(wal, sizeof(wal), "%s-wal", path);
		if (access(wal, F_OK) == 0 || json_is_true(json_object_get(*store, "writable")))
			return rc;
		db_close(*db);
		*db = NULL;
		sr_err_clear(err);
		rc = open_read(path, 1, db, version, err);
	}
	return rc;
}
