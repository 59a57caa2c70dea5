/*
 * copy.c - `session-revoker store copy`: an SQLite store moved into a
 * PostgreSQL database, ids and all.
 *
 * DESIGN: the source is an SQLite file by definition, so this file reads its
 * catalogue (sqlite_master, pragma_table_info) itself; the destination is
 * reached only through db.h, and what differs there (locking the tables for
 * the load, moving the id generators past the copied ids) is the back end's
 * (db_ops.load_begin, load_ids). The tables are the ones copy_tables names,
 * in an order in which every row comes after the rows it refers to; the
 * source must hold exactly those, so a table a later migration adds is
 * refused until it is named here, never silently left behind. The columns
 * are the source's own (what every migration added), each value read as text
 * and written through CAST(? AS BIGINT) for an INTEGER column: a value that
 * is not what its column says fails the copy instead of being converted.
 * The source is read in one read transaction (one snapshot); the
 * destination is written in one transaction, whose COMMIT, if its answer is
 * lost, is resolved before the copy says how it went.
 */
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

extern const size_t sr_migrations_count;

/* Every table of the schema (sql/NNN_*.sql), parents first. */
static const char *const copy_tables[] = {
	"revocations", "revocation_groups", "revocation_subjects", "idempotency_keys", "jobs", "role_results",
	"user_groups", "service_meta", NULL,
};
_Static_assert(sizeof(copy_tables) / sizeof(copy_tables[0]) - 1 <= SR_STORE_COPY_MAX_TABLES,
	       "the report has room for every table");

#define MAX_COLUMNS 24 /* db_pg.c's MAX_PARAMS */

struct table {
	const char *name; /* copy_tables' */
	size_t n;         /* columns */
	/* The statements (built here; kept until both connections are closed:
	 * the back ends cache statements by the text's address). */
	char *select_sql, *insert_sql, *count_sql;
};

struct copy {
	const char *from;
	char to[512]; /* the URL as messages show it */
	struct db *src, *dst;
	struct table t[SR_STORE_COPY_MAX_TABLES];
	size_t n;
};

static enum sr_rc src_error(struct copy *cp, const char *what, struct sr_err *err)
{
	return sr_err_set(err, SR_ESTORE, "%s: %s: %s", cp->from, what, db_errmsg(cp->src));
}

static enum sr_rc dst_error(struct copy *cp, const char *what, struct sr_err *err)
{
	return sr_err_set(err, SR_ESTORE, "%s: %s: %s", cp->to, what, db_errmsg(cp->dst));
}

/* Opens the file read-only at this binary's schema (migrating it first when
 * it is behind, as serve would), in a read transaction. */
static enum sr_rc open_source(struct copy *cp, int *version, struct sr_err *err)
{
	struct db *rw = NULL;
	struct stat st;
	enum sr_rc rc;

	if (stat(cp->from, &st) != 0)
		return sr_err_set(err, SR_ENOTFOUND, "%s: %s", cp->from, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return sr_err_set(err, SR_EINVAL, "%s is not a file", cp->from);
	if ((rc = db_sqlite_open(cp->from, true, &cp->src, err)) != SR_OK)
		return rc;
	*version = db_sqlite_schema_version(cp->src);
	if (*version < 0)
		return sr_err_set(err, SR_ESTORE, "%s is not an SQLite database: %s", cp->from,
				  db_errmsg(cp->src));
	if (*version == 0)
		return sr_err_set(err, SR_ESTORE, "%s holds no session-revoker store (schema"
				  " version 0)", cp->from);
	if (*version > (int)sr_migrations_count)
		return sr_err_set(err, SR_ESTORE, "%s: schema version %d is newer than this binary"
				  " (%zu): copy it with the binary that wrote it", cp->from,
				  *version, sr_migrations_count);
	if (*version < (int)sr_migrations_count) {
		db_close(cp->src);
		cp->src = NULL;
		if ((rc = db_sqlite_open(cp->from, false, &rw, err)) == SR_OK)
			rc = db_sqlite_migrate(rw, err);
		db_close(rw);
		if (rc != SR_OK ||
		    (rc = db_sqlite_open(cp->from, true, &cp->src, err)) != SR_OK)
			return rc;
		*version = db_sqlite_schema_version(cp->src);
	}
	if (db_exec(cp->src, "BEGIN") != 0)
		return src_error(cp, "begin", err);
	return SR_OK;
}

static bool known_table(const char *name)
{
	size_t i;

	for (i = 0; copy_tables[i] != NULL; i++)
		if (strcmp(copy_tables[i], name) == 0)
			return true;
	return false;
}

/* A name this file puts into SQL as it is (quoted): letters, digits, '_'. */
static bool plain_name(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 63)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* SQLite's rule for an INTEGER column: its declared type contains "INT". */
static bool integer_type(const char *type)
{
	for (; type != NULL && *type != '\0'; type++)
		if (strncasecmp(type, "INT", 3) == 0)
			return true;
	return false;
}

/* The source's tables are copy_tables, no more and no fewer. */
static enum sr_rc check_tables(struct copy *cp, struct sr_err *err)
{
	static const char sql[] =
		"SELECT name FROM sqlite_master WHERE type = 'table'"
		" AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";
	struct db_q *q = db_prepare(cp->src, sql);
	enum sr_rc rc = SR_OK;
	size_t found = 0;
	int step;

	if (q == NULL)
		return src_error(cp, "list tables", err);
	while ((step = db_step(q)) == DB_ROW) {
		const char *name = db_text(q, 0);
		if (!known_table(name)) {
			rc = sr_err_set(err, SR_ESTORE, "%s holds the table \"%s\", which store copy"
					" does not know: nothing copied (a newer binary's copy"
					" would)", cp->from, name);
			break;
		}
		found++;
	}
	db_reset(q);
	if (rc == SR_OK && step == DB_ERR)
		rc = src_error(cp, "list tables", err);
	if (rc == SR_OK && found != cp->n)
		rc = sr_err_set(err, SR_ESTORE, "%s lacks %zu of the store's %zu tables: not a"
				" complete session-revoker store", cp->from, cp->n - found, cp->n);
	return rc;
}

/* t's statements from the source's columns of it. */
static enum sr_rc read_columns(struct copy *cp, struct table *t, struct sr_err *err)
{
	static const char sql[] = "SELECT name, type FROM pragma_table_info(?1) ORDER BY cid";
	char *sel = NULL, *ins = NULL, *vals = NULL;
	size_t sel_len = 0, ins_len = 0, vals_len = 0;
	FILE *s = open_memstream(&sel, &sel_len), *i = open_memstream(&ins, &ins_len);
	FILE *v = open_memstream(&vals, &vals_len);
	struct db_q *q = db_prepare(cp->src, sql);
	enum sr_rc rc = SR_OK;
	int step = DB_DONE;

	if (s == NULL || i == NULL || v == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	if (q == NULL) {
		rc = src_error(cp, "columns", err);
		goto out;
	}
	db_bind_text(q, 1, t->name);
	while (rc == SR_OK && (step = db_step(q)) == DB_ROW) {
		const char *name = db_text(q, 0), *type = db_text(q, 1);
		bool integer = integer_type(type);
		if (!plain_name(name))
			rc = sr_err_set(err, SR_ESTORE, "%s: table %s has a column named \"%s\","
					" which store copy does not take", cp->from, t->name,
					name ? name : "");
		else if (!integer && (type == NULL || strcasecmp(type, "TEXT") != 0))
			rc = sr_err_set(err, SR_ESTORE, "%s: column %s.%s is of type \"%s\", which"
					" store copy does not know (INTEGER or TEXT)", cp->from,
					t->name, name, type ? type : "");
		else if (t->n == MAX_COLUMNS)
			rc = sr_err_set(err, SR_ESTORE, "%s: table %s has more than %d columns",
					cp->from, t->name, MAX_COLUMNS);
		if (rc != SR_OK)
			break;
		t->n++;
		fprintf(s, "%s\"%s\"", t->n > 1 ? ", " : "", name);
		fprintf(i, "%s\"%s\"", t->n > 1 ? ", " : "", name);
		fprintf(v, "%sCAST(?%zu AS %s)", t->n > 1 ? ", " : "", t->n,
			integer ? "BIGINT" : "TEXT");
	}
	db_reset(q);
	if (rc == SR_OK && step == DB_ERR)
		rc = src_error(cp, "columns", err);
	if (rc == SR_OK && t->n == 0)
		rc = sr_err_set(err, SR_ESTORE, "%s: table %s has no columns", cp->from, t->name);
out:
	if (s != NULL)
		fclose(s);
	if (i != NULL)
		fclose(i);
	if (v != NULL)
		fclose(v);
	if (rc == SR_OK) {
		size_t cap = sel_len + ins_len + vals_len + 3 * strlen(t->name) + 96;
		t->select_sql = malloc(cap);
		t->insert_sql = malloc(cap);
		t->count_sql = malloc(cap);
		if (t->select_sql == NULL || t->insert_sql == NULL || t->count_sql == NULL) {
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		} else {
			snprintf(t->select_sql, cap, "SELECT %s FROM \"%s\"", sel, t->name);
			snprintf(t->insert_sql, cap, "INSERT INTO \"%s\" (%s) VALUES (%s)", t->name,
				 ins, vals);
			snprintf(t->count_sql, cap, "SELECT count(*) FROM \"%s\"", t->name);
		}
	}
	free(sel);
	free(ins);
	free(vals);
	return rc;
}

/* The destination holds no row in any of the tables (inside the load's
 * transaction: no one adds one before it ends). */
static enum sr_rc check_empty(struct copy *cp, struct sr_err *err)
{
	char held[200] = "";
	size_t i, used = 0;

	for (i = 0; i < cp->n; i++) {
		struct db_q *q = db_prepare(cp->dst, cp->t[i].count_sql);
		int64_t rows;
		if (q == NULL || db_step(q) != DB_ROW) {
			if (q != NULL)
				db_reset(q);
			return dst_error(cp, cp->t[i].name, err);
		}
		rows = db_int64(q, 0);
		db_reset(q);
		if (rows > 0 && used < sizeof(held))
			used += (size_t)snprintf(held + used, sizeof(held) - used, "%s%s %lld",
						 used ? ", " : "", cp->t[i].name, (long long)rows);
	}
	if (used == 0)
		return SR_OK;
	return sr_err_set(err, SR_ECONFLICT, "nothing was copied: %s already holds rows (%s);"
			  " store copy writes only into a database without any", cp->to, held);
}

/* Every row of t, from the source's snapshot into the destination. */
static enum sr_rc copy_rows(struct copy *cp, const struct table *t, int64_t *rows,
			    struct sr_err *err)
{
	struct db_q *s = db_prepare(cp->src, t->select_sql), *w;
	enum sr_rc rc = SR_OK;
	int step;
	size_t c;

	*rows = 0;
	if (s == NULL)
		return src_error(cp, t->name, err);
	while ((step = db_step(s)) == DB_ROW) {
		if ((w = db_prepare(cp->dst, t->insert_sql)) == NULL) {
			rc = dst_error(cp, t->name, err);
			break;
		}
		/* The source's text stays valid until its next step. */
		for (c = 0; c < t->n; c++)
			db_bind_text(w, (int)c + 1, db_text(s, (int)c));
		step = db_step(w);
		if (step == DB_DONE && db_changes(cp->dst) != 1)
			step = DB_ERR;
		db_reset(w);
		if (step != DB_DONE) {
			rc = sr_err_set(err, SR_ESTORE, "%s: copying table %s, row %lld: %s", cp->to,
					t->name, (long long)*rows + 1, db_errmsg(cp->dst));
			break;
		}
		(*rows)++;
	}
	if (rc == SR_OK && step != DB_DONE)
		rc = src_error(cp, t->name, err);
	db_reset(s);
	return rc;
}

/* COMMIT; one whose answer was lost is asked about. */
static enum sr_rc commit(struct copy *cp, struct sr_err *err)
{
	enum db_outcome outcome;

	if (db_exec(cp->dst, "COMMIT") == 0)
		return SR_OK;
	if (db_fail(cp->dst) != DB_FAIL_GONE)
		return dst_error(cp, "commit (nothing was copied)", err);
	outcome = cp->dst->ops->resolve(cp->dst, sr_mono_ms() + 30000);
	if (outcome == DB_COMMITTED)
		return SR_OK;
	if (outcome == DB_NOT_COMMITTED)
		return dst_error(cp, "commit (nothing was copied)", err);
	return sr_err_set(err, SR_ESTORE, "%s: the connection was lost during the COMMIT and"
			  " the server did not say whether the copy committed: look at the"
			  " database (store copy refuses one that holds rows) before trying"
			  " again", cp->to);
}

enum sr_rc sr_store_copy(const char *from, const struct sr_store_config *to,
			 struct sr_store_copy_report *report, struct sr_err *err)
{
	struct copy cp = {.from = from};
	enum sr_rc rc;
	bool loading = false;
	size_t i;

	memset(report, 0, sizeof(*report));
	sr_url_redact(to->url ? to->url : "", cp.to, sizeof(cp.to));
	if (!db_url_is_postgres(to->url)) {
		rc = sr_err_set(err, SR_ECONFIG, "the destination must be a PostgreSQL database"
				" (postgres://...), not \"%s\"", cp.to);
		goto out;
	}
	if (from == NULL || from[0] == '\0') {
		rc = sr_err_set(err, SR_ECONFIG, "no SQLite file to copy from");
		goto out;
	}
	if (db_url_is_postgres(from)) {
		rc = sr_err_set(err, SR_ECONFIG, "the source must be an SQLite file, not a"
				" PostgreSQL URL");
		goto out;
	}
	for (cp.n = 0; copy_tables[cp.n] != NULL; cp.n++)
		cp.t[cp.n].name = copy_tables[cp.n];
	if ((rc = open_source(&cp, &report->schema_version, err)) != SR_OK ||
	    (rc = check_tables(&cp, err)) != SR_OK)
		goto out;
	for (i = 0; i < cp.n; i++)
		if ((rc = read_columns(&cp, &cp.t[i], err)) != SR_OK)
			goto out;
	if ((rc = db_open(to->url, to->password_file, false, &cp.dst, err)) != SR_OK ||
	    (rc = db_migrate(cp.dst, err)) != SR_OK)
		goto out;
	loading = true;
	if (cp.dst->ops->load_begin(cp.dst, copy_tables) != 0) {
		rc = dst_error(&cp, "cannot lock the tables", err);
		goto out;
	}
	if ((rc = check_empty(&cp, err)) != SR_OK)
		goto out;
	for (i = 0; i < cp.n; i++) {
		if ((rc = copy_rows(&cp, &cp.t[i], &report->tables[i].rows, err)) != SR_OK)
			goto out;
		report->tables[i].table = cp.t[i].name;
		report->n = i + 1;
	}
	if (cp.dst->ops->load_ids(cp.dst) != 0) {
		rc = dst_error(&cp, "moving the id sequences past the copied ids", err);
		goto out;
	}
	rc = commit(&cp, err);
	loading = false;
out:
	if (loading)
		db_exec(cp.dst, "ROLLBACK");
	if (cp.src != NULL)
		db_exec(cp.src, "ROLLBACK");
	db_close(cp.src);
	db_close(cp.dst);
	for (i = 0; i < cp.n; i++) {
		free(cp.t[i].select_sql);
		free(cp.t[i].insert_sql);
		free(cp.t[i].count_sql);
	}
	if (rc != SR_OK)
		report->n = 0;
	return rc;
}
