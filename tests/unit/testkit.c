/* testkit.c - see testkit.h. */
#include "testkit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

const char *tk_tmpdir(void)
{
	static char dir[64];

	snprintf(dir, sizeof(dir), "/tmp/sr-unit-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	return dir;
}

char *tk_write(const char *dir, const char *name, const char *text)
{
	char *path = malloc(strlen(dir) + strlen(name) + 2);
	FILE *f;

	sprintf(path, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
	return path;
}

char *tk_b64url(const unsigned char *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	int i;

	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return out;
}

EVP_PKEY *tk_rsa(int bits)
{
	return EVP_RSA_gen((unsigned)bits);
}

EVP_PKEY *tk_ec(const char *group)
{
	return EVP_EC_gen(strcmp(group, "P-384") == 0 ? "secp384r1" : "prime256v1");
}

EVP_PKEY *tk_ed25519(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

char *tk_public_pem(EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	PEM_write_bio_PUBKEY(bio, key);
	n = BIO_get_mem_data(bio, &data);
	out = strndup(data, (size_t)n);
	BIO_free(bio);
	return out;
}

static char *bn_b64(EVP_PKEY *key, const char *name, size_t pad)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	size_t n;

	EVP_PKEY_get_bn_param(key, name, &bn);
	n = pad ? pad : (size_t)BN_num_bytes(bn);
	BN_bn2binpad(bn, buf, (int)n);
	BN_free(bn);
	return tk_b64url(buf, n);
}

char *tk_jwk(EVP_PKEY *key, const char *kid)
{
	char *out = malloc(4096), *a, *b;

	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
		a = bn_b64(key, OSSL_PKEY_PARAM_RSA_N, 0);
		b = bn_b64(key, OSSL_PKEY_PARAM_RSA_E, 0);
		snprintf(out, 4096, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"}",
			 kid, a, b);
	} else if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
		size_t len = EVP_PKEY_get_bits(key) == 384 ? 48 : 32;
		a = bn_b64(key, OSSL_PKEY_PARAM_EC_PUB_X, len);
		b = bn_b64(key, OSSL_PKEY_PARAM_EC_PUB_Y, len);
		snprintf(out, 4096, "{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}",
			 kid, len == 48 ? "P-384" : "P-256", a, b);
	} else {
		unsigned char raw[64];
		size_t len = sizeof(raw);
		EVP_PKEY_get_raw_public_key(key, raw, &len);
		a = tk_b64url(raw, len);
		b = NULL;
		snprintf(out, 4096, "{\"kty\":\"OKP\",\"kid\":\"%s\",\"crv\":\"Ed25519\",\"x\":\"%s\"}",
			 kid, a);
	}
	free(a);
	free(b);
	return out;
}

static const EVP_MD *md_of(const char *alg)
{
	if (strstr(alg, "384"))
		return EVP_sha384();
	if (strstr(alg, "512"))
		return EVP_sha512();
	if (strcmp(alg, "EdDSA") == 0)
		return NULL;
	return EVP_sha256();
}

char *tk_sign(const char *alg, EVP_PKEY *key, const unsigned char *secret,
	      size_t secret_len, const char *header, const char *payload)
{
	char *h = tk_b64url((const unsigned char *)header, strlen(header));
	char *p = tk_b64url((const unsigned char *)payload, strlen(payload));
	size_t in_len = strlen(h) + 1 + strlen(p);
	char *in = malloc(in_len + 1), *sig64, *out;
	unsigned char sig[1024];
	size_t sig_len = sizeof(sig);

	sprintf(in, "%s.%s", h, p);
	if (alg[0] == 'H') {
		unsigned int n = 0;
		HMAC(md_of(alg), secret, (int)secret_len, (unsigned char *)in, in_len, sig, &n);
		sig_len = n;
	} else {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		EVP_PKEY_CTX *pctx = NULL;
		EVP_DigestSignInit(md, &pctx, md_of(alg), NULL, key);
		if (alg[0] == 'P') {
			EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
			EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
		}
		EVP_DigestSign(md, sig, &sig_len, (unsigned char *)in, in_len);
		EVP_MD_CTX_free(md);
		if (alg[0] == 'E' && alg[1] == 'S') {
			/* DER to the JWS form: r and s, fixed width. */
			const unsigned char *d = sig;
			ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &d, (long)sig_len);
			size_t w = strstr(alg, "384") ? 48 : 32;
			BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)w);
			BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + w, (int)w);
			sig_len = 2 * w;
			ECDSA_SIG_free(es);
		}
	}
	sig64 = tk_b64url(sig, sig_len);
	out = malloc(in_len + strlen(sig64) + 2);
	sprintf(out, "%s.%s", in, sig64);
	free(h);
	free(p);
	free(in);
	free(sig64);
	return out;
}

/* ---- stores ---- */

/* The fixture's SR_PG_URL (static buffer), or NULL when this run is on SQLite. */
static const char *pg_admin_url(void)
{
	static char url[512];
	static int done;
	const char *file = getenv("SR_TEST_PG_ENV");
	char line[1024];
	FILE *f;

	if (done)
		return url[0] ? url : NULL;
	done = 1;
	if (file == NULL || file[0] == '\0')
		return NULL;
	if ((f = fopen(file, "r")) == NULL) {
		fprintf(stderr, "testkit: SR_TEST_PG_ENV names %s, which cannot be read"
			" (is the pg.start fixture running?)\n", file);
		abort();
	}
	/* SR_PG_URL='postgres://...' (scripts/pg-test-server.sh) */
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n;
		if (strncmp(line, "SR_PG_URL='", 11) != 0)
			continue;
		n = strcspn(line + 11, "'");
		if (n < sizeof(url))
			snprintf(url, sizeof(url), "%.*s", (int)n, line + 11);
	}
	fclose(f);
	if (url[0] == '\0') {
		fprintf(stderr, "testkit: no SR_PG_URL line in %s\n", file);
		abort();
	}
	return url;
}

bool tk_store_pg(void)
{
	return pg_admin_url() != NULL;
}

static PGconn *pg_connect(const char *url)
{
	PGconn *c = PQconnectdb(url);

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "testkit: cannot connect to the test server: %s", PQerrorMessage(c));
		abort();
	}
	return c;
}

static void pg_run(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "testkit: %s: %s", sql, PQerrorMessage(c));
		abort();
	}
	PQclear(r);
}

/* The databases this binary made, dropped at exit. */
static struct {
	pthread_mutex_t mu;
	char names[64][48];
	int n;
} made = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void drop_made(void)
{
	PGconn *c;
	char sql[128];
	int i;

	if (made.n == 0)
		return;
	c = PQconnectdb(pg_admin_url());
	for (i = 0; PQstatus(c) == CONNECTION_OK && i < made.n; i++) {
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", made.names[i]);
		PQclear(PQexec(c, sql));
	}
	PQfinish(c);
}

/* admin with its database (the path) replaced by name. */
static char *url_with_db(const char *admin, const char *name)
{
	const char *host = strstr(admin, "://");
	const char *path = host ? strchr(host + 3, '/') : NULL;
	const char *query = path ? strchr(path, '?') : NULL;
	size_t cap = strlen(admin) + strlen(name) + 2;
	char *out = malloc(cap);

	if (path == NULL || out == NULL)
		abort();
	snprintf(out, cap, "%.*s/%s%s", (int)(path - admin), admin, name, query ? query : "");
	return out;
}

char *tk_store_url(void)
{
	static unsigned seq;
	const char *admin = pg_admin_url();
	char name[48], sql[128];
	PGconn *c;

	if (admin == NULL) {
		char *path = malloc(128);
		snprintf(path, 128, "%s/store.db", tk_tmpdir());
		return path;
	}
	pthread_mutex_lock(&made.mu);
	snprintf(name, sizeof(name), "sr_unit_%ld_%u_%lx", (long)getpid(), ++seq,
		 (unsigned long)random() & 0xffffff);
	if (made.n == 0)
		atexit(drop_made);
	if (made.n < 64)
		snprintf(made.names[made.n++], sizeof(made.names[0]), "%s", name);
	pthread_mutex_unlock(&made.mu);
	c = pg_connect(admin);
	/* template0: no one is ever connected to it, so parallel tests never
	 * find their template busy */
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s TEMPLATE template0", name);
	pg_run(c, sql);
	PQfinish(c);
	return url_with_db(admin, name);
}

static bool is_pg_url(const char *url)
{
	return strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;
}

int64_t tk_store_int(const char *url, const char *sql)
{
	int64_t n = -1;

	if (is_pg_url(url)) {
		PGconn *c = pg_connect(url);
		PGresult *r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			fprintf(stderr, "testkit: %s: %s", sql, PQerrorMessage(c));
			abort();
		}
		if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
			n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		PQfinish(c);
	} else {
		sqlite3 *db = NULL;
		sqlite3_stmt *q = NULL;
		if (sqlite3_open_v2(url, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
		    sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
			fprintf(stderr, "testkit: %s: %s\n", sql, sqlite3_errmsg(db));
			abort();
		}
		if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
			n = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
		sqlite3_close(db);
	}
	return n;
}

int64_t tk_store_count(const char *url, const char *table)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	return tk_store_int(url, sql);
}

void tk_store_exec(const char *url, const char *sql)
{
	if (is_pg_url(url)) {
		PGconn *c = pg_connect(url);
		pg_run(c, sql);
		PQfinish(c);
	} else {
		sqlite3 *db = NULL;
		char *msg = NULL;
		if (sqlite3_open(url, &db) != SQLITE_OK ||
		    sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
			fprintf(stderr, "testkit: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
			abort();
		}
		sqlite3_close(db);
	}
}
