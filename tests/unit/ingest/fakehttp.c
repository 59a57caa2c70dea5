/*
 * fakehttp.c - the scripted HTTP server of fakehttp.h.
 */
#include "fakehttp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>

#define MAX_CANNED 32
#define MAX_REQS 256

static struct {
	struct MHD_Daemon *d;
	char base[64];
	pthread_mutex_t mu;
	struct fh_canned canned[MAX_CANNED];
	int used[MAX_CANNED];
	size_t n_canned;
	struct fh_request reqs[MAX_REQS];
	size_t n_reqs;
	int n_tokens, expires_in, check_auth;
	char valid[32];
} fh = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct conn {
	char body[2048];
	size_t len;
};

static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls, (void)c;
	return strlen(s);
}

struct query {
	char *out;
	size_t cap;
	int first;
};

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	struct query *q = cls;
	size_t n = strlen(q->out);

	(void)kind;
	snprintf(q->out + n, q->cap - n, "%s%s%s%s", q->first ? "?" : "&", key,
		 value ? "=" : "", value ? value : "");
	q->first = 0;
	return MHD_YES;
}

static enum MHD_Result answer(struct MHD_Connection *c, long status, const char *body,
			      const char *const *headers)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;
	size_t i;

	MHD_add_response_header(r, "Content-Type", "application/json");
	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		char name[128];
		const char *colon = strchr(headers[i], ':');
		snprintf(name, sizeof(name), "%.*s", (int)(colon - headers[i]), headers[i]);
		MHD_add_response_header(r, name, colon + 2);
	}
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct conn *cn = *con_cls;
	struct fh_request req = {0};
	struct query q = {req.target, sizeof(req.target), 1};
	const struct fh_canned *hit = NULL;
	const char *auth;
	char body[256];
	size_t i;

	(void)cls, (void)version;
	if (cn == NULL) {
		*con_cls = calloc(1, sizeof(struct conn));
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size < sizeof(cn->body) - 1 - cn->len ? *upload_size
									: sizeof(cn->body) - 1 - cn->len;
		memcpy(cn->body + cn->len, upload, n);
		cn->len += n;
		*upload_size = 0;
		return MHD_YES;
	}
	snprintf(req.method, sizeof(req.method), "%s", method);
	snprintf(req.target, sizeof(req.target), "%s", url);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &q);
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	snprintf(req.auth, sizeof(req.auth), "%s", auth ? auth : "");
	memcpy(req.body, cn->body, cn->len);

	pthread_mutex_lock(&fh.mu);
	if (fh.n_reqs < MAX_REQS)
		fh.reqs[fh.n_reqs++] = req;
	if (strcmp(url, "/oauth/token") != 0 && fh.check_auth) {
		char want[64];
		snprintf(want, sizeof(want), "Bearer %s", fh.valid);
		if (fh.valid[0] == '\0' || strcmp(req.auth, want) != 0) {
			pthread_mutex_unlock(&fh.mu);
			return answer(c, 401, "{\"statusCode\":401,\"error\":\"Unauthorized\"}", NULL);
		}
	}
	for (i = 0; i < fh.n_canned && hit == NULL; i++)
		if (!fh.used[i] && strncmp(req.target, fh.canned[i].target,
					   strlen(fh.canned[i].target)) == 0) {
			hit = &fh.canned[i];
			fh.used[i] = fh.canned[i].once;
		}
	if (hit == NULL && strcmp(url, "/oauth/token") == 0) {
		snprintf(fh.valid, sizeof(fh.valid), "tok-%d", ++fh.n_tokens);
		snprintf(body, sizeof(body),
			 "{\"access_token\":\"%s\",\"token_type\":\"Bearer\",\"expires_in\":%d}",
			 fh.valid, fh.expires_in);
		pthread_mutex_unlock(&fh.mu);
		return answer(c, 200, body, NULL);
	}
	pthread_mutex_unlock(&fh.mu);
	if (hit == NULL)
		return answer(c, 404, "{\"statusCode\":404}", NULL);
	if (hit->delay_ms > 0)
		usleep((useconds_t)hit->delay_ms * 1000);
	return answer(c, hit->status, hit->body, hit->headers);
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
		 enum MHD_RequestTerminationCode code)
{
	(void)cls, (void)c, (void)code;
	free(*con_cls);
	*con_cls = NULL;
}

void fh_start(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const union MHD_DaemonInfo *info;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fh.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
				NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
				MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
	assert_non_null(fh.d);
	info = MHD_get_daemon_info(fh.d, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	snprintf(fh.base, sizeof(fh.base), "http://127.0.0.1:%u", (unsigned)info->port);
	fh_reset();
}

void fh_stop(void)
{
	MHD_stop_daemon(fh.d);
	fh.d = NULL;
}

const char *fh_base(void)
{
	return fh.base;
}

void fh_reset(void)
{
	pthread_mutex_lock(&fh.mu);
	fh.n_canned = 0;
	fh.n_reqs = 0;
	fh.n_tokens = 0;
	fh.expires_in = 86400;
	fh.check_auth = 1;
	fh.valid[0] = '\0';
	memset(fh.used, 0, sizeof(fh.used));
	pthread_mutex_unlock(&fh.mu);
}

void fh_add(const struct fh_canned *c)
{
	pthread_mutex_lock(&fh.mu);
	assert_true(fh.n_canned < MAX_CANNED);
	fh.used[fh.n_canned] = 0;
	fh.canned[fh.n_canned++] = *c;
	pthread_mutex_unlock(&fh.mu);
}

void fh_expires_in(int expires_in)
{
	pthread_mutex_lock(&fh.mu);
	fh.expires_in = expires_in;
	pthread_mutex_unlock(&fh.mu);
}

void fh_revoke(void)
{
	pthread_mutex_lock(&fh.mu);
	fh.valid[0] = '\0';
	pthread_mutex_unlock(&fh.mu);
}

void fh_check_auth(int on)
{
	pthread_mutex_lock(&fh.mu);
	fh.check_auth = on;
	pthread_mutex_unlock(&fh.mu);
}

size_t fh_count(const char *prefix)
{
	size_t i, n = 0;

	pthread_mutex_lock(&fh.mu);
	for (i = 0; i < fh.n_reqs; i++)
		n += strncmp(fh.reqs[i].target, prefix, strlen(prefix)) == 0;
	pthread_mutex_unlock(&fh.mu);
	return n;
}

int fh_request(size_t i, struct fh_request *out)
{
	int ok;

	pthread_mutex_lock(&fh.mu);
	ok = i < fh.n_reqs;
	if (ok)
		*out = fh.reqs[i];
	pthread_mutex_unlock(&fh.mu);
	return ok;
}

size_t fh_n_requests(void)
{
	size_t n;

	pthread_mutex_lock(&fh.mu);
	n = fh.n_reqs;
	pthread_mutex_unlock(&fh.mu);
	return n;
}
