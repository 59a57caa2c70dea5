/*
 * test_replicas.c - what the store guarantees across processes and hosts:
 * two sr_store instances on one database stand for two replicas (each has
 * its own writer and connections, as two `serve` processes would).
 *
 * - jobs claimed from both at once, by several threads each: no job is
 *   claimed twice, and no account ever has two running jobs;
 * - one idempotency key, or one (source, source_event_id), submitted through
 *   both at once: one revocation, the same answer to both callers (replayed
 *   on one);
 * - PostgreSQL only: the writer's connection lost in its COMMIT while
 *   writes are in flight, ended by the server (pg_terminate_backend) or cut
 *   by a proxy (the answer lost, the commit going on): a write answered
 *   SR_OK is in the database exactly once; a write answered an error is not
 *   there unless the error says whether its COMMIT happened could not be
 *   learned (the proxy keeps the server out of reach longer than the
 *   store's reconnect time once a round), and sent again with its
 *   idempotency key it is there once.
 *
 * On SQLite (two instances on one file) and on PostgreSQL (unit.test_replicas.pg).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "../testkit.h"
#include "session_revoker/store.h"

#define NOW 1773306511

static char *url;
static struct sr_store *host[2];

static int setup(void **state)
{
	struct sr_err err = {0};
	int i;

	(void)state;
	url = tk_store_url();
	for (i = 0; i < 2; i++)
		if (sr_store_open(url, 2, &host[i], &err) != SR_OK) {
			fprintf(stderr, "open: %s\n", err.msg);
			return -1;
		}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sr_store_close(host[0]);
	sr_store_close(host[1]);
	host[0] = host[1] = NULL;
	free(url);
	url = NULL;
	return 0;
}

static struct sr_document *doc_of(const char *json)
{
	struct sr_document_limits lim = {.max_groups = 10, .max_group_length = 64, .skew = 60};
	struct sr_document *doc = NULL;
	struct sr_err err = {0};

	assert_int_equal(sr_document_parse_text(json, strlen(json), &lim, NOW, &doc, &err), SR_OK);
	return doc;
}

/* ---- jobs claimed from two hosts ---- */

#define ACCOUNTS 4
#define REVOCATIONS 12
#define JOBS (ACCOUNTS * REVOCATIONS)
#define CLAIMERS 3 /* threads per host */

static char *accounts[ACCOUNTS] = {"111111111111", "222222222222", "333333333333",
				   "444444444444"};

static struct {
	pthread_mutex_t mu;
	int claimed[JOBS + 1];   /* by job id: how many times claimed */
	int running[ACCOUNTS];   /* jobs of the account held now */
	int overlaps;            /* an account seen with two running jobs */
	int twice;               /* a job claimed twice */
	int done;
	int errors;
	char first_error[320];
} claims = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct claimer {
	struct sr_store *st;
	char owner[32];
};

static int account_index(const char *account)
{
	int i;

	for (i = 0; i < ACCOUNTS; i++)
		if (strcmp(accounts[i], account) == 0)
			return i;
	return -1;
}

static void claim_error(const char *what, const struct sr_err *err)
{
	pthread_mutex_lock(&claims.mu);
	if (claims.errors++ == 0)
		snprintf(claims.first_error, sizeof(claims.first_error), "%s: %s", what, err->msg);
	pthread_mutex_unlock(&claims.mu);
}

static void *claim_loop(void *arg)
{
	struct claimer *c = arg;
	int idle = 0;

	while (idle < 50) {
		struct sr_job job;
		struct sr_err err = {0};
		int found = 0, a;

		if (sr_store_job_claim(c->st, c->owner, NOW, 600, &job, &found, &err) != SR_OK) {
			claim_error("claim", &err);
			break;
		}
		if (!found) {
			pthread_mutex_lock(&claims.mu);
			idle = claims.done == JOBS ? 50 : idle + 1;
			pthread_mutex_unlock(&claims.mu);
			usleep(2000);
			continue;
		}
		idle = 0;
		a = account_index(job.account);
		pthread_mutex_lock(&claims.mu);
		if (job.id < 1 || job.id > JOBS || a < 0 || claims.claimed[job.id]++ > 0)
			claims.twice++;
		if (a >= 0 && claims.running[a]++ > 0)
			claims.overlaps++;
		pthread_mutex_unlock(&claims.mu);
		usleep(1000); /* the job's work */
		/* Let go of the account before the finish commits: another claim
		 * of it before that commit would be the store's fault. */
		pthread_mutex_lock(&claims.mu);
		if (a >= 0)
			claims.running[a]--;
		pthread_mutex_unlock(&claims.mu);
		struct sr_job_finish fin = {.job = &job, .owner = c->owner, .next = SR_JOB_DONE,
					    .now = NOW};
		if (sr_store_job_finish(c->st, &fin, &err) != SR_OK) {
			claim_error("finish", &err);
			break;
		}
		pthread_mutex_lock(&claims.mu);
		claims.done++;
		pthread_mutex_unlock(&claims.mu);
	}
	return NULL;
}

static void test_claims_from_two_hosts(void **state)
{
	struct sr_document *doc = doc_of("{\"groups\":[\"g\"]}");
	struct claimer c[2 * CLAIMERS];
	pthread_t t[2 * CLAIMERS];
	struct sr_err err = {0};
	int i;

	(void)state;
	for (i = 0; i < REVOCATIONS; i++) {
		struct sr_revocation_in in = {.doc = doc, .source = "document", .issuer = "i",
					      .targets = accounts, .n_targets = ACCOUNTS,
					      .now = NOW};
		json_t *rev = NULL;
		int replayed;
		assert_int_equal(sr_store_revocation_add(host[i % 2], &in, &rev, &replayed, &err),
				 SR_OK);
		json_decref(rev);
	}
	assert_int_equal(tk_store_count(url, "jobs"), JOBS);
	memset(claims.claimed, 0, sizeof(claims.claimed));
	memset(claims.running, 0, sizeof(claims.running));
	claims.overlaps = claims.twice = claims.done = claims.errors = 0;
	for (i = 0; i < 2 * CLAIMERS; i++) {
		c[i].st = host[i % 2];
		snprintf(c[i].owner, sizeof(c[i].owner), "host%d-worker%d", i % 2, i / 2);
		assert_int_equal(pthread_create(&t[i], NULL, claim_loop, &c[i]), 0);
	}
	for (i = 0; i < 2 * CLAIMERS; i++)
		pthread_join(t[i], NULL);
	if (claims.errors)
		fail_msg("%d store errors, the first: %s", claims.errors, claims.first_error);
	assert_int_equal(claims.twice, 0);
	assert_int_equal(claims.overlaps, 0);
	assert_int_equal(claims.done, JOBS);
	for (i = 1; i <= JOBS; i++)
		assert_int_equal(claims.claimed[i], 1);
	assert_int_equal(tk_store_int(url, "SELECT count(*) FROM jobs WHERE state = 'done'"
					   " AND attempts = 1"), JOBS);
	sr_document_free(doc);
}

/* ---- one request through both hosts at once ---- */

struct racer {
	struct sr_store *st;
	const struct sr_revocation_in *in;
	pthread_barrier_t *go;
	enum sr_rc rc;
	json_t *rev;
	int replayed;
	struct sr_err err;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	r->rc = sr_store_revocation_add(r->st, r->in, &r->rev, &r->replayed, &r->err);
	return NULL;
}

/* How a retried request is known: by its idempotency key, or by the
 * event's id at its source. */
static const struct {
	const char *name;
	const char *key;      /* idempotency key: this and the round */
	const char *event_id; /* source_event_id: this and the round */
} same_request[] = {
	{"idempotency key", "key-", NULL},
	{"source event id", NULL, "iss#jti-"},
};

#define ROUNDS 25

static void test_same_request_through_both_hosts(void **state)
{
	struct sr_document *doc = doc_of("{\"groups\":[\"g\"],\"reason\":\"left\"}");
	pthread_barrier_t go;
	size_t k;
	int round;

	(void)state;
	assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
	for (k = 0; k < sizeof(same_request) / sizeof(same_request[0]); k++) {
		for (round = 0; round < ROUNDS; round++) {
			char key[32], event[32];
			struct sr_revocation_in in = {.doc = doc, .source = "document-jwt",
						      .issuer = "iss", .subject = "alice",
						      .request_hash = "hash-1", .targets = accounts,
						      .n_targets = 2, .now = NOW};
			struct racer r[2];
			pthread_t t[2];
			int i;

			snprintf(key, sizeof(key), "%s%d",
				 same_request[k].key ? same_request[k].key : "", round);
			snprintf(event, sizeof(event), "%s%d",
				 same_request[k].event_id ? same_request[k].event_id : "", round);
			in.idempotency_key = same_request[k].key ? key : NULL;
			in.source_event_id = same_request[k].event_id ? event : NULL;
			for (i = 0; i < 2; i++) {
				memset(&r[i], 0, sizeof(r[i]));
				r[i].st = host[i];
				r[i].in = &in;
				r[i].go = &go;
				assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
			}
			for (i = 0; i < 2; i++)
				pthread_join(t[i], NULL);
			for (i = 0; i < 2; i++)
				if (r[i].rc != SR_OK)
					fail_msg("%s, round %d, host %d: %s", same_request[k].name,
						 round, i, r[i].err.msg);
			/* one recorded it, the other's answer is the replay */
			if (r[0].replayed + r[1].replayed != 1)
				fail_msg("%s, round %d: replayed %d and %d", same_request[k].name,
					 round, r[0].replayed, r[1].replayed);
			assert_non_null(r[0].rev);
			assert_non_null(r[1].rev);
			assert_string_equal(json_string_value(json_object_get(r[0].rev, "id")),
					    json_string_value(json_object_get(r[1].rev, "id")));
			if (!json_equal(r[0].rev, r[1].rev)) {
				char *a = json_dumps(r[0].rev, JSON_SORT_KEYS);
				char *b = json_dumps(r[1].rev, JSON_SORT_KEYS);
				fail_msg("%s, round %d: two answers:\n%s\n%s",
					 same_request[k].name, round, a, b);
			}
			for (i = 0; i < 2; i++)
				json_decref(r[i].rev);
		}
		/* one revocation, with its jobs, per round */
		assert_int_equal(tk_store_count(url, "revocations"), (int64_t)(k + 1) * ROUNDS);
		assert_int_equal(tk_store_count(url, "jobs"), (int64_t)(k + 1) * ROUNDS * 2);
	}
	assert_int_equal(tk_store_count(url, "idempotency_keys"), ROUNDS);
	pthread_barrier_destroy(&go);
	sr_document_free(doc);
}

/* ---- PostgreSQL: the writer's connection killed under writes ---- */

#define WRITERS 4
#define WRITES 25 /* per writer and round */
#define KILL_ROUNDS 6

struct write {
	char subject[32];
	enum sr_rc rc;
	char id[40];
	char msg[256];
};

struct writer_arg {
	struct sr_store *st;
	struct write *w; /* WRITES of them */
	const struct sr_document *doc;
};

static void *write_loop(void *arg)
{
	struct writer_arg *a = arg;
	int i;

	for (i = 0; i < WRITES; i++) {
		/* the key makes a retry of a failed write safe */
		struct sr_revocation_in in = {.doc = a->doc, .source = "document", .issuer = "iss",
					      .subject = a->w[i].subject,
					      .idempotency_key = a->w[i].subject, .request_hash = "h",
					      .targets = accounts, .n_targets = 1, .now = NOW};
		struct sr_err err = {0};
		json_t *rev = NULL;
		int replayed = 0;

		a->w[i].rc = sr_store_revocation_add(a->st, &in, &rev, &replayed, &err);
		if (a->w[i].rc == SR_OK) {
			snprintf(a->w[i].id, sizeof(a->w[i].id), "%s",
				 json_string_value(json_object_get(rev, "id")));
			if (replayed) /* nothing here is a retry */
				a->w[i].rc = SR_EINTERNAL;
		} else {
			snprintf(a->w[i].msg, sizeof(a->w[i].msg), "%s", err.msg);
		}
		json_decref(rev);
	}
	return NULL;
}

/* ---- a TCP proxy between the store and the server that can cut every
 * connection at once: the client loses the answer while the server goes on
 * (what a network failure or a failover does to a COMMIT in flight) ---- */

#define PROXY_MAX 32

static struct {
	pthread_mutex_t mu;
	int lfd;
	int port;        /* the proxy's */
	int target_port; /* the server's */
	pthread_t acceptor;
	int pairs[PROXY_MAX][2]; /* client, server; -1: free */
	int active;               /* pump threads running */
	int stopping;
	int refusing;             /* the server is out of reach: no new connections */
} px = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Copies bytes both ways until either side closes or the pair is cut. */
static void *pump(void *arg)
{
	int slot = (int)(intptr_t)arg, a, b;
	char buf[16384];

	pthread_mutex_lock(&px.mu);
	a = px.pairs[slot][0];
	b = px.pairs[slot][1];
	pthread_mutex_unlock(&px.mu);
	for (;;) {
		struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
		ssize_t n;
		int i;
		if (poll(p, 2, 200) < 0)
			break;
		for (i = 0; i < 2; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0 || send(p[1 - i].fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
				goto out;
		}
	}
out:
	pthread_mutex_lock(&px.mu);
	close(a);
	close(b);
	px.pairs[slot][0] = px.pairs[slot][1] = -1;
	px.active--;
	pthread_mutex_unlock(&px.mu);
	return NULL;
}

static void *accept_loop(void *arg)
{
	(void)arg;
	for (;;) {
		struct sockaddr_in to = {.sin_family = AF_INET,
					 .sin_port = htons((uint16_t)px.target_port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int c = accept(px.lfd, NULL, NULL), srv, slot;
		pthread_t t;
		if (c < 0)
			return NULL; /* the listener was shut down */
		srv = socket(AF_INET, SOCK_STREAM, 0);
		if (srv < 0 || connect(srv, (struct sockaddr *)&to, sizeof(to)) != 0) {
			close(c);
			if (srv >= 0)
				close(srv);
			continue;
		}
		pthread_mutex_lock(&px.mu);
		for (slot = 0; slot < PROXY_MAX && px.pairs[slot][0] >= 0; slot++)
			;
		if (slot == PROXY_MAX || px.stopping || px.refusing) {
			pthread_mutex_unlock(&px.mu);
			close(c);
			close(srv);
			continue;
		}
		px.pairs[slot][0] = c;
		px.pairs[slot][1] = srv;
		px.active++;
		pthread_mutex_unlock(&px.mu);
		if (pthread_create(&t, NULL, pump, (void *)(intptr_t)slot) != 0)
			abort();
		pthread_detach(t);
	}
}

/* Cuts every connection through the proxy; how many. */
static int proxy_cut(void)
{
	int i, n = 0;

	pthread_mutex_lock(&px.mu);
	for (i = 0; i < PROXY_MAX; i++)
		if (px.pairs[i][0] >= 0) {
			shutdown(px.pairs[i][0], SHUT_RDWR);
			shutdown(px.pairs[i][1], SHUT_RDWR);
			n++;
		}
	pthread_mutex_unlock(&px.mu);
	return n;
}

/* Starts the proxy in front of the server at url; returns url with the
 * proxy's port (new string). */
static char *proxy_start(const char *server_url)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	const char *at = strchr(server_url, '@'), *colon = at ? strchr(at, ':') : NULL;
	const char *rest = colon ? strchr(colon, '/') : NULL;
	char *out;
	int i;

	assert_non_null(rest); /* postgres://user@host:port/db */
	px.target_port = atoi(colon + 1);
	for (i = 0; i < PROXY_MAX; i++)
		px.pairs[i][0] = px.pairs[i][1] = -1;
	px.stopping = px.refusing = 0;
	px.lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(px.lfd >= 0);
	assert_int_equal(bind(px.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(px.lfd, 16), 0);
	assert_int_equal(getsockname(px.lfd, (struct sockaddr *)&a, &len), 0);
	px.port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&px.acceptor, NULL, accept_loop, NULL), 0);
	out = malloc(strlen(server_url) + 16);
	sprintf(out, "%.*s:%d%s", (int)(colon - server_url), server_url, px.port, rest);
	return out;
}

static void proxy_stop(void)
{
	int active;

	pthread_mutex_lock(&px.mu);
	px.stopping = 1;
	pthread_mutex_unlock(&px.mu);
	shutdown(px.lfd, SHUT_RDWR);
	pthread_join(px.acceptor, NULL);
	close(px.lfd);
	do {
		proxy_cut();
		usleep(10000);
		pthread_mutex_lock(&px.mu);
		active = px.active;
		pthread_mutex_unlock(&px.mu);
	} while (active > 0);
}

/* How the writer loses its connection. */
enum loss {
	TERMINATED, /* pg_terminate_backend: the server ends the session */
	CUT,        /* the network between them fails (the proxy) */
};

#define OUTAGE_MS 1500 /* more than CUT_RECONNECT_SECONDS */
#define CUT_RECONNECT_SECONDS 1

static struct {
	pthread_mutex_t mu;
	int stop;
	enum loss how;
	int64_t outages;
	int64_t killed;           /* connections terminated or cut */
	int64_t killed_in_commit; /* ... while they ran COMMIT */
} killer = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The service's connections to this database (application_name: db_pg.c),
 * terminated; those running COMMIT only when in_commit. */
static const char kill_all_sql[] =
	"SELECT count(*) FROM (SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity"
	" WHERE application_name = 'session-revoker' AND datname = current_database()) k"
	" WHERE t";
static const char kill_in_commit_sql[] =
	"SELECT count(*) FROM (SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity"
	" WHERE application_name = 'session-revoker' AND datname = current_database()"
	" AND state = 'active' AND query = 'COMMIT') k WHERE t";
static const char in_commit_sql[] =
	"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'session-revoker'"
	" AND datname = current_database() AND state = 'active' AND query = 'COMMIT'";

static int64_t kill_now(PGconn *c, const char *sql)
{
	if (killer.how == CUT) {
		/* look (without killing), then cut the network */
		if (sql == kill_all_sql)
			return proxy_cut();
		sql = in_commit_sql;
	}
	PGresult *r = PQexec(c, sql);
	int64_t n = 0;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else
		fprintf(stderr, "kill: %s", PQerrorMessage(c));
	PQclear(r);
	if (killer.how == CUT && n > 0)
		n = proxy_cut() > 0;
	return n;
}

/* The server out of reach (the proxy cuts every connection and takes no
 * new ones) for longer than the store's reconnect time, from a COMMIT in
 * flight on: that batch's outcome cannot be learned, and the writes
 * queued behind it fail. */
static void outage(void)
{
	pthread_mutex_lock(&px.mu);
	px.refusing = 1;
	pthread_mutex_unlock(&px.mu);
	proxy_cut();
	usleep(OUTAGE_MS * 1000);
	pthread_mutex_lock(&px.mu);
	px.refusing = 0;
	pthread_mutex_unlock(&px.mu);
}

/* From a connection of its own: the writer if it is in its COMMIT (looked
 * for every millisecond or so; after a kill, a pause that lets the next
 * commits through); now and then every connection of the service, wherever
 * it is. Until told to stop. */
static void *kill_loop(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	PGconn *c = PQconnectdb(url);
	int i, had_outage = 0;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "kill: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	for (i = 0;; i++) {
		int64_t all = 0, in_commit;
		pthread_mutex_lock(&killer.mu);
		if (killer.stop) {
			pthread_mutex_unlock(&killer.mu);
			break;
		}
		pthread_mutex_unlock(&killer.mu);
		usleep((useconds_t)(rand_r(&seed) % 1500));
		in_commit = kill_now(c, kill_in_commit_sql);
		if (killer.how == CUT && in_commit > 0 && !had_outage) {
			/* once a round: the first COMMIT found */
			outage();
			had_outage = 1;
			pthread_mutex_lock(&killer.mu);
			killer.outages++;
			pthread_mutex_unlock(&killer.mu);
		}
		if (i % 50 == 49)
			all = kill_now(c, kill_all_sql);
		if (in_commit + all > 0)
			usleep((useconds_t)(20000 + rand_r(&seed) % 40000));
		pthread_mutex_lock(&killer.mu);
		killer.killed += in_commit + all;
		killer.killed_in_commit += in_commit;
		pthread_mutex_unlock(&killer.mu);
	}
	PQfinish(c);
	return NULL;
}

/* A COMMIT that takes a while, so that the killer finds the writer there:
 * first a deferred trigger runs (killed there, the transaction is rolled
 * back), then the commit record is written and, commit_delay later,
 * flushed (killed then, it commits: the server only acts on the kill once
 * the commit is done, and the answer is lost). Either way the caller must
 * hear the truth. %s: the database. */
#define SLOW_COMMIT_SQL \
	"CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS" \
	" $$BEGIN PERFORM pg_sleep(0.001); RETURN NULL; END$$;" \
	"CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON revocations" \
	" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();" \
	"ALTER DATABASE %s SET commit_delay = 4000;" \
	"ALTER DATABASE %s SET commit_siblings = 0"

static void writer_lost_under_writes(enum loss how)
{
	static struct write w[KILL_ROUNDS][WRITERS * WRITES];
	struct sr_document *doc = doc_of("{\"groups\":[\"g\"]}");
	struct sr_store_config cfg = {.readers = 1,
				      .reconnect_seconds = how == CUT ? CUT_RECONNECT_SECONDS : 20};
	struct sr_store *st = NULL;
	struct sr_err err = {0};
	char sql[sizeof(SLOW_COMMIT_SQL) + 128];
	int64_t ok = 0, failed = 0;
	size_t cap = 64;
	char *in_list;
	int round, i;

	/* one store of its own (the two hosts' connections would be killed too) */
	sr_store_close(host[1]);
	host[1] = NULL;
	killer.how = how;
	cfg.url = how == CUT ? proxy_start(url) : url;
	snprintf(sql, sizeof(sql), SLOW_COMMIT_SQL, strrchr(url, '/') + 1, strrchr(url, '/') + 1);
	tk_store_exec(url, sql);
	assert_int_equal(sr_store_open_config(&cfg, &st, &err), SR_OK);
	killer.killed = killer.killed_in_commit = killer.outages = 0;
	for (round = 0; round < KILL_ROUNDS; round++) {
		struct writer_arg a[WRITERS];
		pthread_t t[WRITERS], k;

		killer.stop = 0;
		assert_int_equal(pthread_create(&k, NULL, kill_loop,
						(void *)(uintptr_t)(round + 1)), 0);
		for (i = 0; i < WRITERS; i++) {
			int j;
			for (j = 0; j < WRITES; j++)
				snprintf(w[round][i * WRITES + j].subject, sizeof(w[0][0].subject),
					 "r%d-w%d-%d", round, i, j);
			a[i] = (struct writer_arg){.st = st, .w = &w[round][i * WRITES], .doc = doc};
			assert_int_equal(pthread_create(&t[i], NULL, write_loop, &a[i]), 0);
		}
		for (i = 0; i < WRITERS; i++)
			pthread_join(t[i], NULL);
		pthread_mutex_lock(&killer.mu);
		killer.stop = 1;
		pthread_mutex_unlock(&killer.mu);
		pthread_join(k, NULL);
	}
	sr_store_close(st);
	if (how == CUT) {
		proxy_stop();
		free((char *)cfg.url);
	}
	print_message("%lld connections killed, %lld in COMMIT, %lld outages\n",
		      (long long)killer.killed, (long long)killer.killed_in_commit,
		      (long long)killer.outages);
	assert_true(killer.killed_in_commit > 0);
	if (how == CUT)
		assert_int_equal(killer.outages, KILL_ROUNDS);

	/* Every SR_OK is there exactly once, with the id it was answered;
	 * every error is not there at all, unless it says that whether its
	 * COMMIT happened could not be learned; nothing else is. A failed
	 * write sent again (its idempotency key) is then there once. */
	assert_int_equal(sr_store_open(url, 1, &st, &err), SR_OK);
	in_list = malloc(cap);
	snprintf(in_list, cap, "SELECT count(*) FROM revocations WHERE id IN (''");
	for (round = 0; round < KILL_ROUNDS; round++)
		for (i = 0; i < WRITERS * WRITES; i++) {
			struct write *x = &w[round][i];
			assert_true(x->rc != SR_EINTERNAL); /* answered as a replay */
			if (x->rc == SR_OK) {
				ok++;
				cap += 48;
				in_list = realloc(in_list, cap);
				snprintf(in_list + strlen(in_list), cap - strlen(in_list), ",'%s'",
					 x->id);
			} else {
				struct sr_revocation_in in = {
					.doc = doc, .source = "document", .issuer = "iss",
					.subject = x->subject, .idempotency_key = x->subject,
					.request_hash = "h", .targets = accounts, .n_targets = 1,
					.now = NOW};
				bool unknown = strstr(x->msg, "could not be learned") != NULL;
				json_t *rev = NULL;
				int replayed = 0;
				failed++;
				print_message("%s: %s\n", x->subject, x->msg);
				snprintf(sql, sizeof(sql),
					 "SELECT count(*) FROM revocations WHERE subject = '%s'",
					 x->subject);
				if (!unknown && tk_store_int(url, sql) != 0)
					fail_msg("%s was answered \"%s\" and is there", x->subject,
						 x->msg);
				assert_int_equal(sr_store_revocation_add(st, &in, &rev, &replayed,
									 &err), SR_OK);
				assert_true(replayed == 0 || unknown);
				json_decref(rev);
				assert_int_equal(tk_store_int(url, sql), 1);
			}
		}
	sr_store_close(st);
	strcat(in_list, ")");
	print_message("%lld answered SR_OK, %lld an error (sent again)\n", (long long)ok,
		      (long long)failed);
	if (how == CUT)
		assert_true(failed > 0); /* the outages */
	assert_int_equal(tk_store_int(url, in_list), ok);
	assert_int_equal(tk_store_count(url, "revocations"), ok + failed);
	assert_int_equal(tk_store_int(url, "SELECT count(DISTINCT subject) FROM revocations"),
			 ok + failed);
	/* and each with its one job */
	assert_int_equal(tk_store_count(url, "jobs"), ok + failed);
	free(in_list);
	sr_document_free(doc);
}

static void test_writer_terminated_under_writes(void **state)
{
	(void)state;
	writer_lost_under_writes(TERMINATED);
}

static void test_writer_cut_off_under_writes(void **state)
{
	(void)state;
	writer_lost_under_writes(CUT);
}

int main(void)
{
	/* On either back end (SQLite: two stores on one file). */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claims_from_two_hosts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_request_through_both_hosts, setup,
						teardown),
	};
	/* A server connection killed: PostgreSQL's own (an SQLite file has no
	 * connection to lose). */
	const struct CMUnitTest pg_only[] = {
		cmocka_unit_test_setup_teardown(test_writer_terminated_under_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_cut_off_under_writes, setup, teardown),
	};
	int failed = cmocka_run_group_tests_name("replicas", tests, NULL, NULL);

	if (tk_store_pg())
		failed += cmocka_run_group_tests_name("replicas.postgres", pg_only, NULL, NULL);
	return failed;
}
