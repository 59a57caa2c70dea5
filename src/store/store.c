/*
 * store.c - open, migrate, the reader pool, close.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


enum sr_rc sr_store_db_error(struct db *db, const char *what, struct sr_err *err)
{
	return sr_err_set(err, SR_ESTORE, "%s: %s", what, db_errmsg(db));
}

bool sr_store_url_is_server(const char *url)
{
	return db_url_is_postgres(url);
}

bool db_url_is_postgres(const char *url)
{
	return url != NULL && (strncmp(url, "postgres://", 11) == 0 ||
			       strncmp(url, "postgresql://", 13) == 0);
}

enum sr_rc db_open(const char *url, const char *password_file, bool read_only,
		   struct db **db, struct sr_err *err)
{
	if (url == NULL || url[0] == '\0')
		return sr_err_set(err, SR_ECONFIG, "store.url is empty: name a file or a postgres:// URL");
	if (db_url_is_postgres(url))
		return db_pg_open(url, password_file, db, err);
	return db_sqlite_open(url, read_only, db, err);
}

enum sr_rc db_migrate(struct db *db, struct sr_err *err)
{
	return strcmp(db->ops->name, "postgres") == 0 ? db_pg_migrate(db, err)
						       : db_sqlite_migrate(db, err);
}

/* The folder holding the file at path ("." for a bare name). New string. */
static char *folder_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	return strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

enum sr_rc sr_store_open_config(const struct sr_store_config *cfg, struct sr_store **out,
				struct sr_err *err)
{
	enum sr_rc rc;
	struct sr_store *st;
	bool pg = db_url_is_postgres(cfg->url);
	int i;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->wake, NULL);
	pthread_cond_init(&st->reader_free, NULL);
	st->reconnect_seconds = cfg->reconnect_seconds > 0 ? cfg->reconnect_seconds : 30;
	if (!pg && cfg->url != NULL && (st->dir = folder_of(cfg->url)) == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = db_open(cfg->url, cfg->password_file, false, &st->w, err)) != SR_OK ||
	    (rc = db_migrate(st->w, err)) != SR_OK)
		goto out;
	st->n_readers = cfg->readers < 1 ? 1 : cfg->readers;
	st->readers = calloc((size_t)st->n_readers, sizeof(*st->readers));
	st->reader_busy = calloc((size_t)st->n_readers, sizeof(*st->reader_busy));
	st->reader_checked = calloc((size_t)st->n_readers, sizeof(*st->reader_checked));
	if (st->readers == NULL || st->reader_busy == NULL || st->reader_checked == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < st->n_readers; i++)
		if ((rc = db_open(cfg->url, cfg->password_file, true, &st->readers[i],
				  err)) != SR_OK)
			goto out;
	if (pthread_create(&st->writer, NULL, sr_store_writer_main, st) != 0) {
		rc = sr_err_set(err, SR_EINTERNAL, "cannot start the store writer");
		goto out;
	}
	st->writer_started = true;
out:
	if (rc != SR_OK) {
		sr_store_close(st);
		return rc;
	}
	*out = st;
	return SR_OK;
}

enum sr_rc sr_store_open(const char *url, int readers, struct sr_store **store,
			 struct sr_err *err)
{
	struct sr_store_config cfg = {.url = url, .readers = readers};

	return sr_store_open_config(&cfg, store, err);
}

void sr_store_close(struct sr_store *st)
{
	int i;

	if (st == NULL)
		return;
	if (st->writer_started) {
		pthread_mutex_lock(&st->mu);
		st->stopping = true;
		pthread_cond_signal(&st->wake);
		pthread_mutex_unlock(&st->mu);
		pthread_join(st->writer, NULL);
	}
	for (i = 0; st->readers != NULL && i < st->n_readers; i++)
		db_close(st->readers[i]);
	free(st->readers);
	free(st->reader_busy);
	free(st->reader_checked);
	db_close(st->w);
	pthread_cond_destroy(&st->reader_free);
	pthread_cond_destroy(&st->wake);
	pthread_mutex_destroy(&st->mu);
	free(st->dir);
	free(st);
}

struct db *sr_store_reader_take(struct sr_store *st, int *slot)
{
	unsigned lost;
	int i;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		for (i = 0; i < st->n_readers; i++)
			if (!st->reader_busy[i]) {
				st->reader_busy[i] = true;
				lost = st->readers_lost;
				pthread_mutex_unlock(&st->mu);
				*slot = i;
				break;
			}
		if (i < st->n_readers)
			break;
		pthread_cond_wait(&st->reader_free, &st->mu);
	}
	/* A server connection found lost is made again. When one was lost the
	 * others probably were too (a restart, a failover drops them all): each
	 * is checked once before its next read, so one read fails, not one per
	 * connection. */
	if (st->reader_checked[i] != lost) {
		st->reader_checked[i] = lost;
		if (db_fail(st->readers[i]) != DB_FAIL_GONE)
			db_exec(st->readers[i], "SELECT 1");
	}
	if (db_fail(st->readers[i]) == DB_FAIL_GONE)
		st->readers[i]->ops->reconnect(st->readers[i], sr_mono_ms() + 5000);
	return st->readers[i];
}

void sr_store_reader_give(struct sr_store *st, int slot)
{
	pthread_mutex_lock(&st->mu);
	st->reader_busy[slot] = false;
	if (db_fail(st->readers[slot]) == DB_FAIL_GONE)
		st->reader_checked[slot] = ++st->readers_lost;
	pthread_cond_signal(&st->reader_free);
	pthread_mutex_unlock(&st->mu);
}

enum sr_rc sr_store_revocation_get(struct sr_store *st, const char *id,
				   json_t **out, struct sr_err *err)
{
	int slot;
	struct db *c = sr_store_reader_take(st, &slot);
	enum sr_rc rc = sr_store_revocation_json(c, 0, id, out, err);

	if (rc == SR_OK)
		rc = sr_store_revocation_detail(c, *out, err);
	if (rc != SR_OK) {
		json_decref(*out);
		*out = NULL;
	}

	sr_store_reader_give(st, slot);
	return rc;
}

#define LIST_WHERE \
	"   AND (?1 = 0 OR r.seq < ?1)" \
	"   AND (CAST(?2 AS TEXT) IS NULL OR r.state = ?2)" \
	"   AND (CAST(?3 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM revocation_groups g" \
	"        WHERE g.revocation_seq = r.seq AND g.group_name = ?3))" \
	" ORDER BY r.seq DESC LIMIT ?4"
static const char list_sql[] = "SELECT r.seq FROM revocations r WHERE 1 = 1" LIST_WHERE;
/* With a source, a statement of its own: "?5 IS NULL OR" would keep SQLite
 * off the (source, seq) index. */
static const char list_source_sql[] =
	"SELECT r.seq FROM revocations r WHERE r.source = ?5" LIST_WHERE;

enum sr_rc sr_store_revocation_list(struct sr_store *st,
				    const struct sr_revocation_filter *f,
				    json_t **items, int64_t *next, struct sr_err *err)
{
	enum sr_rc rc = SR_OK;
	struct db_q *q = NULL;
	int slot, n = 0, r = DB_DONE;
	struct db *c = sr_store_reader_take(st, &slot);
	int64_t last = 0, *seqs = NULL;
	int i;

	*items = json_array();
	*next = 0;
	if ((seqs = calloc((size_t)f->limit + 1, sizeof(*seqs))) == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	if ((q = db_prepare(c, f->source ? list_source_sql : list_sql)) == NULL) {
		rc = sr_store_db_error(c, "list revocations", err);
		goto out;
	}
	db_bind_int64(q, 1, f->before);
	db_bind_text(q, 2, f->state);
	db_bind_text(q, 3, f->group);
	db_bind_int64(q, 4, f->limit + 1);
	if (f->source != NULL)
		db_bind_text(q, 5, f->source);
	while ((r = db_step(q)) == DB_ROW) {
		if (n == f->limit) {
			*next = last;
			break;
		}
		last = seqs[n++] = db_int64(q, 0);
	}
	db_reset(q);
	if (r != DB_ROW && r != DB_DONE) {
		rc = sr_store_db_error(c, "list revocations", err);
		goto out;
	}
	for (i = 0; i < n; i++) {
		json_t *one = NULL;
		if ((rc = sr_store_revocation_json(c, seqs[i], NULL, &one, err)) != SR_OK)
			goto out;
		json_array_append_new(*items, one);
	}
out:
	free(seqs);
	sr_store_reader_give(st, slot);
	if (rc != SR_OK) {
		json_decref(*items);
		*items = NULL;
	}
	return rc;
}
