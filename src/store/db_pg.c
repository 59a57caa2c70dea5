/*
 * db_pg.c - the store on PostgreSQL (libpq), for replicas on several hosts.
 *
 * DESIGN: statements are the portable SQL of db.h with ?n rewritten to $n,
 * prepared on a connection the first time they run (parameter types from
 * that run's bindings: BIGINT, TEXT, or left to the server for a NULL).
 * Transactions are READ COMMITTED: a unique key decides a race between
 * hosts (ON CONFLICT waits for the other transaction, then sees its row).
 * A write transaction notes its transaction id when it begins; when the
 * connection is lost during its COMMIT, resolve() reconnects and asks the
 * server (txid_status) whether it committed, so nobody is answered before
 * that is known. Jobs are claimed with FOR UPDATE SKIP LOCKED under a
 * transaction-scoped advisory lock on the job's account, so two hosts never
 * run two jobs of one account at once (jobs.c says why that matters).
 * Migrations (sql/postgres/, compiled in) are recorded in schema_migrations
 * and applied under an advisory lock: replicas starting together apply each
 * once.
 */
#include "store_int.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sr_migration {
	const char *name;
	const char *sql;
};
extern const struct sr_migration sr_pg_migrations[];
extern const size_t sr_pg_migrations_count;

#define STMT_CACHE 48
#define MAX_PARAMS 24
#define INT8OID 20
#define TEXTOID 25

/* Advisory lock keys (the first half of a two-int key): "SR" + purpose;
 * an account's is 0x53520002 (1397882882), in account_lock_sql. */
#define LOCK_MIGRATE 0x53520001

struct pg_q {
	struct db *db; /* struct db_q_head */
	const char *sql; /* the portable text: the cache key */
	char *text;      /* with $n */
	int nparams;
	unsigned prepared; /* the connection generation it was prepared on; 0: never */
	unsigned oids[MAX_PARAMS];
	const char *values[MAX_PARAMS];
	char ints[MAX_PARAMS][24];
	PGresult *res;
	int row;
};

struct pg {
	struct db base;
	PGconn *c;
	char *url;
	char *password; /* from store.password_file; NULL: libpq's own */
	unsigned gen;   /* bumped by every new connection */
	struct pg_q q[STMT_CACHE];
	size_t n;
	int64_t changes;
	enum db_fail fail;
	char err[300];
	char xid[32]; /* the write transaction's id (resolve) */
};

#define PG(d) ((struct pg *)(d))
#define PQ(x) ((struct pg_q *)(x))

/* A server's message on one line (messages never hold newlines). */
static void one_line(char *text)
{
	char *nl;

	while ((nl = strpbrk(text, "\r\n\t")) != NULL)
		*nl = nl[1] == '\0' ? '\0' : ' ';
}

/* Notes why the last call failed: the SQLSTATE of res (or the connection's
 * state when there is no result) and the primary message, on one line. */
static void note_error(struct pg *p, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (msg == NULL)
		msg = PQerrorMessage(p->c);
	snprintf(p->err, sizeof(p->err), "%s", msg && msg[0] ? msg : "no answer from the server");
	one_line(p->err);
	if (PQstatus(p->c) != CONNECTION_OK || state == NULL)
		p->fail = PQstatus(p->c) != CONNECTION_OK || res == NULL ? DB_FAIL_GONE
									 : DB_FAIL_STATEMENT;
	else if (strcmp(state, "23505") == 0)
		p->fail = DB_FAIL_UNIQUE;
	else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		p->fail = DB_FAIL_RETRY;
	else if (strcmp(state, "53100") == 0)
		p->fail = DB_FAIL_FULL;
	else if (strcmp(state, "55P03") == 0)
		p->fail = DB_FAIL_BUSY;
	/* A server going down, a connection broken, or a standby (after a
	 * failover this connection may reach the old primary): reconnect. */
	else if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
		 strcmp(state, "25006") == 0)
		p->fail = DB_FAIL_GONE;
	else if (strncmp(state, "53", 2) == 0 || strncmp(state, "58", 2) == 0 ||
		 strncmp(state, "XX", 2) == 0)
		p->fail = DB_FAIL_STORAGE;
	else
		p->fail = DB_FAIL_STATEMENT;
}

static void clear_error(struct pg *p)
{
	p->fail = DB_FAIL_NONE;
	p->err[0] = '\0';
}

/* The portable text with ?n as $n (outside quoted strings); *nparams the
 * highest n. New string. */
static char *dollar_params(const char *sql, int *nparams)
{
	char *out = malloc(strlen(sql) + 1), *o = out;
	const char *s;
	char quote = 0;

	*nparams = 0;
	if (out == NULL)
		return NULL;
	for (s = sql; *s != '\0'; s++) {
		if (quote) {
			if (*s == quote)
				quote = 0;
		} else if (*s == '\'' || *s == '"') {
			quote = *s;
		} else if (*s == '?' && s[1] >= '0' && s[1] <= '9') {
			int n = atoi(s + 1);
			if (n > *nparams)
				*nparams = n;
			*o++ = '$';
			continue;
		}
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

static struct db_q *pg_prepare(struct db *d, const char *sql)
{
	struct pg *p = PG(d);
	struct pg_q *q;
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->q[i].sql == sql) {
			d->ops->reset((struct db_q *)&p->q[i]);
			return (struct db_q *)&p->q[i];
		}
	if (p->n == STMT_CACHE) {
		snprintf(p->err, sizeof(p->err), "more than %d statements on one connection",
			 STMT_CACHE);
		p->fail = DB_FAIL_STATEMENT;
		return NULL;
	}
	q = &p->q[p->n];
	memset(q, 0, sizeof(*q));
	q->db = d;
	q->sql = sql;
	if ((q->text = dollar_params(sql, &q->nparams)) == NULL || q->nparams > MAX_PARAMS) {
		free(q->text);
		q->text = NULL;
		snprintf(p->err, sizeof(p->err), "a statement with too many parameters");
		p->fail = DB_FAIL_STATEMENT;
		return NULL;
	}
	p->n++;
	return (struct db_q *)q;
}

static void pg_bind_int64(struct db_q *x, int i, int64_t v)
{
	struct pg_q *q = PQ(x);

	if (i < 1 || i > q->nparams)
		return;
	snprintf(q->ints[i - 1], sizeof(q->ints[i - 1]), "%lld", (long long)v);
	q->values[i - 1] = q->ints[i - 1];
	q->oids[i - 1] = INT8OID;
}

static void pg_bind_text(struct db_q *x, int i, const char *v)
{
	struct pg_q *q = PQ(x);

	if (i < 1 || i > q->nparams)
		return;
	q->values[i - 1] = v;
	q->oids[i - 1] = v != NULL ? TEXTOID : 0;
}

static int pg_step(struct db_q *x)
{
	struct pg_q *q = PQ(x);
	struct pg *p = PG(q->db);
	ExecStatusType st;

	if (q->res == NULL) {
		char name[16];
		clear_error(p);
		snprintf(name, sizeof(name), "s%d", (int)(q - p->q));
		if (q->prepared != p->gen) {
			PGresult *r = PQprepare(p->c, name, q->text, q->nparams, (const Oid *)q->oids);
			if (PQresultStatus(r) != PGRES_COMMAND_OK) {
				note_error(p, r);
				PQclear(r);
				return DB_ERR;
			}
			PQclear(r);
			q->prepared = p->gen;
		}
		q->res = PQexecPrepared(p->c, name, q->nparams, q->values, NULL, NULL, 0);
		q->row = 0;
		st = PQresultStatus(q->res);
		if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
			note_error(p, q->res);
			PQclear(q->res);
			q->res = NULL;
			return DB_ERR;
		}
		p->changes = strtoll(PQcmdTuples(q->res), NULL, 10);
		if (strncmp(PQcmdStatus(q->res), "SELECT", 6) != 0)
			p->base.total_changes += p->changes;
		q->row = -1;
	}
	if (PQresultStatus(q->res) != PGRES_TUPLES_OK || q->row + 1 >= PQntuples(q->res)) {
		q->row = PQntuples(q->res);
		return DB_DONE;
	}
	q->row++;
	return DB_ROW;
}

static bool pg_is_null(struct db_q *x, int col)
{
	struct pg_q *q = PQ(x);

	return q->res == NULL || q->row < 0 || q->row >= PQntuples(q->res) ||
	       PQgetisnull(q->res, q->row, col);
}

static const char *pg_text(struct db_q *x, int col)
{
	struct pg_q *q = PQ(x);

	if (pg_is_null(x, col))
		return NULL;
	return PQgetvalue(q->res, q->row, col);
}

static int64_t pgq_int64(struct db_q *x, int col)
{
	const char *t = pg_text(x, col);

	if (t == NULL)
		return 0;
	if (strcmp(t, "t") == 0) /* a boolean */
		return 1;
	return strtoll(t, NULL, 10);
}

static void pg_reset(struct db_q *x)
{
	struct pg_q *q = PQ(x);

	PQclear(q->res);
	q->res = NULL;
	q->row = 0;
	memset(q->values, 0, sizeof(q->values));
	memset(q->oids, 0, sizeof(q->oids));
}

static int64_t pg_changes(struct db *d)
{
	return PG(d)->changes;
}

static int pg_exec(struct db *d, const char *sql)
{
	struct pg *p = PG(d);
	PGresult *r;
	ExecStatusType st;

	clear_error(p);
	r = PQexec(p->c, sql);
	st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		note_error(p, r);
		PQclear(r);
		return -1;
	}
	/* A COMMIT of a transaction an error had spoilt succeeds as a
	 * ROLLBACK: nothing was written, and nobody may hear otherwise. */
	if (strcmp(sql, "COMMIT") == 0 && strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		snprintf(p->err, sizeof(p->err), "COMMIT rolled the transaction back (%s):"
			 " a statement in it had failed", PQcmdStatus(r));
		p->fail = DB_FAIL_STATEMENT;
		PQclear(r);
		return -1;
	}
	p->base.total_changes += strtoll(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return 0;
}

static const char *pg_errmsg(struct db *d)
{
	return PG(d)->err[0] ? PG(d)->err : "no error";
}

static enum db_fail pg_fail(struct db *d)
{
	return PG(d)->fail;
}

/* One value of a one-row query (sql without parameters), copied to out. */
static int pg_value(struct pg *p, const char *sql, char *out, size_t cap)
{
	PGresult *r;

	clear_error(p);
	r = PQexec(p->c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		note_error(p, r);
		PQclear(r);
		return -1;
	}
	snprintf(out, cap, "%s", PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

static int pg_begin(struct db *d)
{
	struct pg *p = PG(d);

	p->xid[0] = '\0';
	/* one round trip: BEGIN, and the id resolve() asks about */
	return pg_value(p, "BEGIN; SELECT txid_current()", p->xid, sizeof(p->xid));
}

static void drop_results(struct pg *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		PQclear(p->q[i].res);
		p->q[i].res = NULL;
	}
}

/* libpq's notices (a migration's NOTICE, a WARNING, the FATAL a
 * terminated session leaves behind) go to the log as every line does, at
 * debug level, not raw to stderr. */
static void notice(void *arg, const char *message)
{
	char line[300];

	(void)arg;
	snprintf(line, sizeof(line), "%s", message);
	one_line(line);
	sr_log(SR_LOG_DEBUG, "store.notice", "detail=%s",
	       sr_log_quote((char[320]){0}, 320, line));
}

static int connect_once(struct pg *p)
{
	/* Defaults first: what the URL says overrides them; the password file
	 * overrides the URL. */
	const char *keys[] = {"connect_timeout", "tcp_user_timeout", "keepalives_idle",
			      "keepalives_interval", "keepalives_count", "application_name",
			      "dbname", p->password ? "password" : NULL, NULL};
	const char *values[] = {"5", "10000", "10", "5", "3", "session-revoker", p->url,
				p->password, NULL};

	if (p->c != NULL)
		PQfinish(p->c);
	drop_results(p);
	p->c = PQconnectdbParams(keys, values, 1);
	p->gen++;
	if (p->c == NULL || PQstatus(p->c) != CONNECTION_OK) {
		note_error(p, NULL);
		p->fail = DB_FAIL_GONE;
		return -1;
	}
	PQsetNoticeProcessor(p->c, notice, NULL);
	clear_error(p);
	return 0;
}

static int pg_reconnect(struct db *d, int64_t deadline_ms)
{
	struct pg *p = PG(d);

	for (;;) {
		if (connect_once(p) == 0) {
			sr_log(SR_LOG_INFO, "store.reconnected", "database=postgres");
			return 0;
		}
		if (sr_mono_ms() + 250 >= deadline_ms)
			return -1;
		usleep(250000);
	}
}

/* The COMMIT's answer was lost: reconnect and ask about the transaction. */
static enum db_outcome pg_resolve(struct db *d, int64_t deadline_ms)
{
	static const char sql[] = "SELECT txid_status(?1)";
	struct pg *p = PG(d);
	char xid[32];

	if (p->xid[0] == '\0')
		return DB_NOT_COMMITTED; /* BEGIN never answered: nothing was written */
	snprintf(xid, sizeof(xid), "%s", p->xid);
	while (sr_mono_ms() < deadline_ms) {
		struct db_q *q;
		const char *status = NULL;
		char got[32] = "";
		if (PQstatus(p->c) != CONNECTION_OK && pg_reconnect(d, deadline_ms) != 0)
			break;
		if ((q = pg_prepare(d, sql)) == NULL)
			break;
		pg_bind_int64(q, 1, strtoll(xid, NULL, 10));
		if (pg_step(q) == DB_ROW && (status = pg_text(q, 0)) != NULL)
			snprintf(got, sizeof(got), "%s", status);
		pg_reset(q);
		sr_log(SR_LOG_WARN, "store.commit_unknown", "xid=%s status=%s", xid,
		       got[0] ? got : "unknown");
		if (strcmp(got, "committed") == 0)
			return DB_COMMITTED;
		if (strcmp(got, "aborted") == 0)
			return DB_NOT_COMMITTED;
		if (strcmp(got, "in progress") != 0 && p->fail != DB_FAIL_GONE)
			break; /* too old to say, or an error: unknown */
		usleep(100000);
	}
	snprintf(p->err, sizeof(p->err), "the database did not say whether transaction %s"
		 " committed", xid);
	return DB_UNKNOWN;
}

/* Candidates first (no locks); then, one at a time, the account's lock
 * (held to the end of the transaction) and the claim itself, whose fresh
 * snapshot sees every claim committed before the lock was ours; the row
 * lock (SKIP LOCKED) keeps two hosts off one expired job. */
static const char candidates_sql[] =
	"SELECT j.id, j.account FROM jobs j WHERE CAST(?1 AS TEXT) IS NOT NULL AND "
	SR_STORE_JOB_CLAIMABLE " ORDER BY j.run_at, j.id LIMIT 16";
static const char account_lock_sql[] =
	"SELECT pg_try_advisory_xact_lock(1397882882, hashtext(?1))";
static const char claim_sql[] =
	"UPDATE jobs SET state = 'running', lease_owner = ?1, lease_expires = ?2 + ?3,"
	"  attempts = attempts + 1, updated_at = ?2"
	" WHERE id = (SELECT j.id FROM jobs j WHERE j.id = ?4 AND " SR_STORE_JOB_CLAIMABLE
	"   FOR UPDATE OF j SKIP LOCKED)"
	" RETURNING " SR_STORE_JOB_CLAIMED;

static int pg_claim(struct db *d, const char *owner, int64_t now, int64_t lease,
		    struct sr_job *job, int *found)
{
	struct db_q *q = pg_prepare(d, candidates_sql);
	int64_t ids[16];
	char accounts[16][13];
	int n = 0, i, step;

	*found = 0;
	if (q == NULL)
		return -1;
	pg_bind_text(q, 1, owner);
	pg_bind_int64(q, 2, now);
	while ((step = pg_step(q)) == DB_ROW && n < 16) {
		ids[n] = pgq_int64(q, 0);
		snprintf(accounts[n], sizeof(accounts[n]), "%s", pg_text(q, 1) ? pg_text(q, 1) : "");
		n++;
	}
	pg_reset(q);
	if (step == DB_ERR)
		return -1;
	for (i = 0; i < n && !*found; i++) {
		bool locked;
		if ((q = pg_prepare(d, account_lock_sql)) == NULL)
			return -1;
		pg_bind_text(q, 1, accounts[i]);
		step = pg_step(q);
		locked = step == DB_ROW && pgq_int64(q, 0) == 1;
		pg_reset(q);
		if (step != DB_ROW)
			return -1;
		if (!locked) /* another host is claiming in this account now */
			continue;
		if ((q = pg_prepare(d, claim_sql)) == NULL)
			return -1;
		pg_bind_text(q, 1, owner);
		pg_bind_int64(q, 2, now);
		pg_bind_int64(q, 3, lease);
		pg_bind_int64(q, 4, ids[i]);
		if ((step = pg_step(q)) == DB_ROW) {
			sr_store_job_from_row(q, job);
			*found = 1;
		}
		pg_reset(q);
		if (step == DB_ERR)
			return -1;
	}
	return 0;
}

/* A write transaction (noted for resolve, as pg_begin) holding the tables
 * in EXCLUSIVE mode: other sessions still read them, but no INSERT, UPDATE,
 * DELETE or SELECT ... FOR UPDATE (a job claim) runs until it ends. A lock
 * another session does not give up within 30 s fails the load. */
static int pg_load_begin(struct db *d, const char *const *tables)
{
	static const char mode[] = " IN EXCLUSIVE MODE";
	struct pg *p = PG(d);
	char sql[1024] = "LOCK TABLE ";
	size_t i;

	if (pg_begin(d) != 0 || pg_exec(d, "SET LOCAL lock_timeout = '30s'") != 0)
		return -1;
	if (tables[0] == NULL)
		return 0;
	for (i = 0; tables[i] != NULL; i++) {
		char *name = PQescapeIdentifier(p->c, tables[i], strlen(tables[i]));
		size_t used = strlen(sql);
		if (name == NULL || used + 2 + strlen(name) + sizeof(mode) > sizeof(sql)) {
			PQfreemem(name);
			snprintf(p->err, sizeof(p->err), "too many tables to lock at once");
			p->fail = DB_FAIL_STATEMENT;
			return -1;
		}
		snprintf(sql + used, sizeof(sql) - used, "%s%s", i ? ", " : "", name);
		PQfreemem(name);
	}
	snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), "%s", mode); /* room kept above */
	return pg_exec(d, sql);
}

/* An identity column (GENERATED BY DEFAULT AS IDENTITY) takes the ids it is
 * given without moving its sequence: set each sequence of this schema's
 * tables to its column's highest value (untouched when the table is empty),
 * so the next nextval() is one more. */
static int pg_load_ids(struct db *d)
{
	return pg_exec(d,
		"DO $$DECLARE c record; top bigint; BEGIN"
		" FOR c IN SELECT format('%I.%I', table_schema, table_name) AS t, column_name AS col"
		"   FROM information_schema.columns"
		"  WHERE table_schema = current_schema() AND is_identity = 'YES' LOOP"
		"  EXECUTE format('SELECT max(%I) FROM %s', c.col, c.t) INTO top;"
		"  IF top IS NOT NULL THEN"
		"   PERFORM setval(pg_get_serial_sequence(c.t, c.col), top);"
		"  END IF;"
		" END LOOP; END$$");
}

static void pg_close(struct db *d)
{
	struct pg *p = PG(d);
	size_t i;

	drop_results(p);
	for (i = 0; i < p->n; i++)
		free(p->q[i].text);
	if (p->c != NULL)
		PQfinish(p->c);
	if (p->password != NULL)
		sr_secret_free(p->password, strlen(p->password));
	free(p->url);
	free(p);
}

static const struct db_sql pg_sql = {
	.revocation =
		"SELECT " SR_STORE_REVOCATION_COLS ","
		"  (SELECT coalesce(json_agg(group_name ORDER BY position), '[]')::text"
		"     FROM revocation_groups WHERE revocation_seq = r.seq),"
		"  (SELECT coalesce(json_agg(subject ORDER BY position), '[]')::text"
		"     FROM revocation_subjects WHERE revocation_seq = r.seq)"
		"  FROM revocations r WHERE (CAST(?1 AS TEXT) IS NULL AND r.seq = ?2) OR r.id = ?1",
	.denied_roles =
		"SELECT DISTINCT x.role_arn FROM role_results x WHERE x.kind = 'apply'"
		/* failed with a cut-off: people written beside people that did
		 * not fit, or a deny already there when the write failed */
		" AND (x.outcome IN ('denied', 'unchanged')"
		"  OR (x.outcome = 'failed' AND x.cutoff IS NOT NULL))"
		" AND (?1 = 0 OR x.revocation_seq = ?1)"
		" AND (CAST(?2 AS TEXT) IS NULL OR x.account = ?2)"
		" AND (CAST(?3 AS TEXT) IS NULL OR x.revocation_seq IN (SELECT g.revocation_seq"
		"  FROM revocation_groups g WHERE g.group_name IN"
		"   (SELECT json_array_elements_text(CAST(?3 AS json)))))"
		" ORDER BY x.role_arn",
};

static const struct db_ops pg_ops = {
	.name = "postgres",
	.sql = &pg_sql,
	.close = pg_close,
	.prepare = pg_prepare,
	.bind_int64 = pg_bind_int64,
	.bind_text = pg_bind_text,
	.step = pg_step,
	.is_null = pg_is_null,
	.int64 = pgq_int64,
	.text = pg_text,
	.reset = pg_reset,
	.changes = pg_changes,
	.exec = pg_exec,
	.errmsg = pg_errmsg,
	.fail = pg_fail,
	.begin = pg_begin,
	.resolve = pg_resolve,
	.reconnect = pg_reconnect,
	.claim = pg_claim,
	.load_begin = pg_load_begin,
	.load_ids = pg_load_ids,
};

/* The password in file: its first line. New string (sr_secret_free). */
static enum sr_rc read_password(const char *file, char **out, struct sr_err *err)
{
	char *text = NULL;
	size_t len = 0;

	if (sr_file_read(file, 4096, &text, &len, err) != SR_OK)
		return sr_err_set(err, SR_ECONFIG, "store.password_file: cannot read %s", file);
	text[strcspn(text, "\r\n")] = '\0';
	*out = text;
	return SR_OK;
}

enum sr_rc db_pg_open(const char *url, const char *password_file, struct db **out,
		      struct sr_err *err)
{
	struct pg *p = calloc(1, sizeof(*p));
	char shown[512];
	enum sr_rc rc;

	*out = NULL;
	if (p == NULL || (p->url = strdup(url)) == NULL) {
		free(p);
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	p->base.ops = &pg_ops;
	if (password_file != NULL && (rc = read_password(password_file, &p->password, err)) != SR_OK) {
		pg_close(&p->base);
		return rc;
	}
	if (connect_once(p) != 0) {
		rc = sr_err_set(err, SR_ESTORE, "cannot connect to %s: %s",
				sr_url_redact(url, shown, sizeof(shown)), p->err);
		pg_close(&p->base);
		return rc;
	}
	*out = &p->base;
	return SR_OK;
}

static enum sr_rc pg_error(struct db *d, const char *what, struct sr_err *err)
{
	return sr_err_set(err, SR_ESTORE, "%s: %s", what, pg_errmsg(d));
}

/* The highest migration applied (0: none), or -1 (no table: -2). */
static int schema_version(struct pg *p)
{
	char v[32];

	if (pg_value(p, "SELECT to_regclass('schema_migrations') IS NOT NULL", v, sizeof(v)) != 0)
		return -1;
	if (strcmp(v, "t") != 0)
		return -2;
	if (pg_value(p, "SELECT coalesce(max(version), 0) FROM schema_migrations", v,
		     sizeof(v)) != 0)
		return -1;
	return atoi(v);
}

enum sr_rc db_pg_migrate(struct db *d, struct sr_err *err)
{
	struct pg *p = PG(d);
	char sql[160];
	enum sr_rc rc = SR_OK;
	int version = 0;
	size_t i;

	snprintf(sql, sizeof(sql), "BEGIN; SELECT pg_advisory_xact_lock(%d, 0)", LOCK_MIGRATE);
	if (pg_exec(d, sql) != 0)
		return pg_error(d, "migrate", err);
	if (pg_exec(d, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
		       " name TEXT NOT NULL, applied_at BIGINT NOT NULL)") != 0 ||
	    (version = schema_version(p)) < 0)
		rc = pg_error(d, "schema_migrations", err);
	else if (version > (int)sr_pg_migrations_count)
		rc = sr_err_set(err, SR_ESTORE,
				"database schema version %d is newer than this binary (%zu)",
				version, sr_pg_migrations_count);
	for (i = (size_t)(rc == SR_OK ? version : (int)sr_pg_migrations_count);
	     rc == SR_OK && i < sr_pg_migrations_count; i++) {
		char record[256];
		if (strtol(sr_pg_migrations[i].name, NULL, 10) != (long)i + 1) {
			rc = sr_err_set(err, SR_EINTERNAL, "migration %s is out of sequence",
					sr_pg_migrations[i].name);
			break;
		}
		snprintf(record, sizeof(record),
			 "INSERT INTO schema_migrations (version, name, applied_at)"
			 " VALUES (%zu, '%s', %lld)", i + 1, sr_pg_migrations[i].name,
			 (long long)sr_clock_now());
		if (pg_exec(d, sr_pg_migrations[i].sql) != 0 || pg_exec(d, record) != 0) {
			pg_error(d, "postgres", err);
			rc = sr_err_set(err, SR_ESTORE, "migration %s failed", sr_pg_migrations[i].name);
		} else {
			sr_log(SR_LOG_INFO, "store.migrated", "migration=postgres/%s",
			       sr_pg_migrations[i].name);
		}
	}
	if (rc == SR_OK && pg_exec(d, "COMMIT") == 0)
		return SR_OK;
	if (rc == SR_OK)
		rc = pg_error(d, "commit", err);
	pg_exec(d, "ROLLBACK");
	return rc;
}

enum sr_rc db_pg_status_open(const char *url, const char *password_file, json_t **store,
			     struct db **db, int *version, int *expected, struct sr_err *err)
{
	char shown[512], recovery[8] = "", read_only[8] = "";
	struct pg *p;
	enum sr_rc rc;
	const char *why = NULL;

	*db = NULL;
	*expected = (int)sr_pg_migrations_count;
	*version = -1;
	*store = json_pack("{s:s}", "url", sr_url_redact(url, shown, sizeof(shown)));
	if ((rc = db_pg_open(url, password_file, db, err)) != SR_OK)
		return rc;
	p = PG(*db);
	json_object_set_new(*store, "server_version",
			    json_string(PQparameterStatus(p->c, "server_version")
						? PQparameterStatus(p->c, "server_version") : ""));
	if (pg_value(p, "SELECT pg_is_in_recovery()", recovery, sizeof(recovery)) != 0 ||
	    pg_value(p, "SELECT current_setting('default_transaction_read_only')", read_only,
		     sizeof(read_only)) != 0)
		return pg_error(*db, "cannot read the store", err);
	if (strcmp(recovery, "t") == 0)
		why = "the server is a standby (in recovery): writes go to the primary";
	else if (strcmp(read_only, "on") == 0)
		why = "the database's transactions are read-only (default_transaction_read_only)";
	json_object_set_new(*store, "writable", json_boolean(why == NULL));
	json_object_set_new(*store, "not_writable_because", why ? json_string(why) : json_null());
	/* one snapshot for every count */
	if (pg_exec(*db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") != 0)
		return pg_error(*db, "cannot read the store", err);
	*version = schema_version(p);
	if (*version == -1)
		return pg_error(*db, "cannot read the store", err);
	if (*version == -2)
		*version = 0;
	return SR_OK;
}
