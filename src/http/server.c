/*
 * server.c - libmicrohttpd wiring: the request lifecycle.
 *
 * DESIGN: MHD calls the access handler several times per request. The first
 * call creates the sr_request, refuses the shapes of request smuggling (a
 * second Content-Length, Transfer-Encoding, Authorization or Host, both
 * Content-Length and Transfer-Encoding, a Transfer-Encoding other than
 * chunked, an HTTP/1.1 request without Host: 400 and the connection closed,
 * RFC 9112 §6.3 and §3.2; a second identical Content-Length is refused too,
 * which RFC 9110 §8.6 allows) and a
 * header block above limits.max_header_bytes (431), finds the route (404/405
 * at once) and refuses a declared Content-Length above the cap (413) before a
 * byte of body is read; later calls append body bytes up to the cap; the last
 * call runs the handler. The completion callback logs the request once and
 * frees it. MHD's per-connection memory is twice the header cap plus room for
 * its own work, so headers between the cap and that get the service's JSON
 * 431; only a header block too large for the memory gets MHD's own answer.
 *
 * Threading: a small pool of event-loop threads (listen.threads). A write
 * never blocks one: the connection is suspended while the store's writer
 * commits (sr_request_wait_store) and resumed from the writer's callback, so
 * every open connection can have a write in the same group commit and the
 * event loops go on serving the others.
 */
#include "http_int.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <unistd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sr_http {
	struct MHD_Daemon *daemon;
	struct sr_cidr *trusted; /* listen.trusted_proxies */
	size_t n_trusted;
	atomic_int waiting;  /* requests suspended on the store */
	atomic_int stopping; /* shutting down: answer 503 */
	struct sr_app *app;
	char *cert_pem, *key_pem;
	size_t cert_len, key_len;
	int port;
};

static void request_id(struct sr_request *req)
{
	const char *given = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
							"X-Request-Id");
	size_t n = given ? strlen(given) : 0;

	/* A load balancer's id is kept when it is plain; anything else is
	 * replaced, so logs never carry caller-chosen junk. */
	if (n > 0 && n < sizeof(req->id) &&
	    strspn(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n) {
		memcpy(req->id, given, n + 1);
		return;
	}
	if (sr_random_hex(req->id, 16, NULL) != SR_OK)
		snprintf(req->id, sizeof(req->id), "unknown");
}

/* Every line of one header field, joined by ", " as RFC 9110 §5.3 allows
 * for a list, or NULL when it is not sent. */
struct joined {
	const char *name;
	char *text;
	bool failed;
};

static enum MHD_Result join_field(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	struct joined *j = cls;
	size_t have = j->text ? strlen(j->text) : 0, add = strlen(value);
	char *t;

	(void)kind;
	if (strcasecmp(key, j->name) != 0)
		return MHD_YES;
	t = realloc(j->text, have + add + 3);
	if (t == NULL) {
		j->failed = true;
		return MHD_NO;
	}
	if (have > 0) {
		memcpy(t + have, ", ", 2);
		have += 2;
	}
	memcpy(t + have, value, add + 1);
	j->text = t;
	return MHD_YES;
}

/* req->client: the TCP peer, or, when the peer is a trusted proxy, the
 * client its Forwarded / X-Forwarded-For name (sr_client_addr). */
static void client_address(struct sr_http *http, struct sr_request *req)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	unsigned char peer[16] = {0}, client[16];
	struct joined fwd = {"Forwarded", NULL, false}, xff = {"X-Forwarded-For", NULL, false};
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(req->client, sizeof(req->client), "-");
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		peer[10] = peer[11] = 0xff;
		memcpy(peer + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(peer, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	} else {
		return;
	}
	memcpy(client, peer, 16);
	if (http->n_trusted > 0 && req->method != NULL) {
		MHD_get_connection_values(req->conn, MHD_HEADER_KIND, join_field, &fwd);
		MHD_get_connection_values(req->conn, MHD_HEADER_KIND, join_field, &xff);
		if (!fwd.failed && !xff.failed)
			sr_client_addr(peer, http->trusted, http->n_trusted, fwd.text, xff.text,
				       client);
		free(fwd.text);
		free(xff.text);
	}
	sr_ip_format(client, req->client, sizeof(req->client));
}

/* Header fields whose repetition changes how a request is framed or who
 * sent it: a proxy in front may read the first, MHD the other. */
static const char *const single_fields[] = {"Content-Length", "Transfer-Encoding",
					    "Authorization", "Host"};
#define N_SINGLE (sizeof(single_fields) / sizeof(single_fields[0]))

struct field_count {
	unsigned n[N_SINGLE];
	const char *te; /* the Transfer-Encoding value */
};

static enum MHD_Result count_field(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	struct field_count *fc = cls;
	size_t i;

	(void)kind;
	for (i = 0; i < N_SINGLE; i++)
		if (strcasecmp(key, single_fields[i]) == 0) {
			fc->n[i]++;
			if (i == 1)
				fc->te = value;
		}
	return MHD_YES;
}

/* What makes the request's framing or its sender ambiguous, or NULL. */
static const char *framing_problem(struct sr_request *req, const char *version,
				   char *buf, size_t cap)
{
	struct field_count fc = {{0}, NULL};
	const char *te;
	size_t i, n;

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_field, &fc);
	for (i = 0; i < N_SINGLE; i++)
		if (fc.n[i] > 1) {
			snprintf(buf, cap, "the %s header is given %u times; send it once",
				 single_fields[i], fc.n[i]);
			return buf;
		}
	if (fc.n[0] && fc.n[1])
		return "both Content-Length and Transfer-Encoding are given; send one";
	if (fc.n[1]) {
		te = fc.te ? fc.te : "";
		te += strspn(te, " \t");
		n = strcspn(te, " \t");
		if (n != 7 || strncasecmp(te, "chunked", 7) != 0 || te[n + strspn(te + n, " \t")] != '\0')
			return "Transfer-Encoding must be chunked (no other coding is accepted)";
	}
	if (fc.n[3] == 0 && strcmp(version, MHD_HTTP_VERSION_1_1) == 0)
		return "an HTTP/1.1 request needs a Host header";
	return NULL;
}

static enum MHD_Result first_call(struct sr_http *http, struct sr_request *req,
				  const char *version)
{
	if (atomic_load(&http->stopping))
		return sr_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
					"the service is shutting down", "Connection", "close");
	char allow[64], why[128];
	bool path_known;
	const char *cl, *problem;
	const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
	const union MHD_ConnectionInfo *ci;

	/* RFC 9112 §6.3: a request whose framing is in doubt is answered 400 and
	 * the connection closed, since where its body ends is not known. */
	problem = framing_problem(req, version, why, sizeof(why));
	if (problem != NULL)
		return sr_respond_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request", problem,
					"Connection", "close");
	ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (ci != NULL && ci->header_size > (size_t)http->app->cfg->max_header_bytes) {
		snprintf(why, sizeof(why),
			 "the request line and headers are larger than %lld bytes",
			 (long long)http->app->cfg->max_header_bytes);
		return sr_respond_error(req, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
					"header_too_large", why, "Connection", "close");
	}

	req->route = sr_route_find(method, req->path, req->param, sizeof(req->param),
				   &path_known, allow, sizeof(allow));
	if (req->route == NULL && path_known)
		return sr_respond_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
					"this path does not take that method", "Allow", allow);
	if (req->route == NULL)
		return sr_respond_error(req, MHD_HTTP_NOT_FOUND, "not_found",
					"no such route", NULL, NULL);
	/* Identity providers' batches may be larger than a document. */
	req->body.max = (size_t)(req->route->batch ? http->app->cfg->max_event_body_bytes
						   : http->app->cfg->max_body_bytes);
	cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		char *end;
		unsigned long long n = strtoull(cl, &end, 10);
		if (*end == '\0' && n > (unsigned long long)req->body.max) {
			char detail[96];
			snprintf(detail, sizeof(detail), "the body is larger than %zu bytes",
				 req->body.max);
			return sr_respond_error(req, MHD_HTTP_CONTENT_TOO_LARGE,
						"payload_too_large", detail, NULL, NULL);
		}
	}
	return MHD_YES;
}

static enum MHD_Result body_chunk(struct sr_request *req, const char *data, size_t len)
{
	if (req->too_big)
		return MHD_YES; /* drained and dropped; answered 413 at the end */
	switch (sr_buf_append(&req->body, data, len)) {
	case SR_OK:
		return MHD_YES;
	case SR_ETOOBIG:
		req->too_big = true;
		return MHD_YES;
	default:
		return MHD_NO;
	}
}

static struct sr_request *request_new(struct sr_http *http, struct MHD_Connection *conn)
{
	struct sr_request *req = calloc(1, sizeof(*req));

	if (req == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &req->start);
	req->app = http->app;
	req->conn = conn;
	req->http = http;
	req->body.max = (size_t)http->app->cfg->max_body_bytes;
	return req;
}

/* MHD calls this once the request line is read, before the headers. The
 * request exists from here on, so one that MHD answers by itself without
 * ever calling on_request (a malformed Content-Length, a header block too
 * large for its memory, an unsupported HTTP version) is still logged once,
 * with the status MHD sent. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct sr_request *req = request_new(cls, conn);

	if (req != NULL) {
		size_t n = strcspn(uri, "?");
		snprintf(req->line_path, sizeof(req->line_path), "%.*s",
			 (int)(n < sizeof(req->line_path) ? n : sizeof(req->line_path) - 1), uri);
	}
	return req;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct sr_http *http = cls;
	struct sr_request *req = *con_cls;

	if (req == NULL || req->method == NULL) {
		if (req == NULL && (req = request_new(http, conn)) == NULL)
			return MHD_NO;
		*con_cls = req;
		req->method = method;
		req->path = url;
		request_id(req);
		client_address(http, req);
		return first_call(http, req, version);
	}
	if (req->suspended) { /* resumed: the store has answered */
		enum MHD_Result r;
		req->suspended = false;
		r = req->resume(req);
		/* Counted down only now, once MHD has taken the connection back:
		 * stopping the daemon with a connection still suspended or half
		 * resumed makes libmicrohttpd abort. */
		atomic_fetch_sub(&http->waiting, 1);
		return r;
	}
	if (req->answered) {
		*upload_data_size = 0; /* an early answer: drop what still comes */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		enum MHD_Result r = body_chunk(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return r;
	}
	if (req->too_big) {
		char detail[96];
		snprintf(detail, sizeof(detail), "the body is larger than %zu bytes",
			 req->body.max);
		return sr_respond_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
					detail, NULL, NULL);
	}
	return req->route->handler(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct sr_request *req = *con_cls;
	struct timespec end;
	char path[200], method[40], route[80];
	double ms;

	if (req == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (double)(end.tv_sec - req->start.tv_sec) * 1e3 +
	     (double)(end.tv_nsec - req->start.tv_nsec) / 1e6;
	if (req->method == NULL) { /* answered by libmicrohttpd itself */
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
		client_address(req->http, req); /* headers unread: the peer */
		sr_log(SR_LOG_INFO, "http.request",
		       "request_id=- client=%s method=\"\" path=%s status=%u answered_by=libmicrohttpd ms=%.2f%s",
		       req->client, sr_log_quote(path, sizeof(path), req->line_path),
		       ci ? ci->http_status : 0, ms,
		       toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=true");
		free(req);
		*con_cls = NULL;
		return;
	}
	sr_log(SR_LOG_INFO, "http.request",
	       "request_id=%s client=%s method=%s path=%s route=%s status=%u outcome=%s bytes_in=%zu ms=%.2f%s",
	       req->id, req->client, sr_log_quote(method, sizeof(method), req->method),
	       sr_log_quote(path, sizeof(path), req->path),
	       sr_log_value(route, sizeof(route), req->route ? req->route->pattern : "-"),
	       req->status, req->outcome ? req->outcome : req->status == 0 ? "-" : req->status < 400 ? "ok" : "error",
	       req->body.len, ms,
	       toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=true");
	if (req->suspended) /* closed before its answer was sent */
		atomic_fetch_sub(&req->http->waiting, 1);
	if (req->state_free != NULL)
		req->state_free(req->state);
	sr_buf_free(&req->body);
	free(req);
	*con_cls = NULL;
}

void sr_request_suspend(struct sr_request *req, sr_handler then)
{
	req->resume = then;
	req->suspended = true;
	atomic_fetch_add(&req->http->waiting, 1);
	MHD_suspend_connection(req->conn);
}

void sr_request_wake(struct sr_request *req)
{
	MHD_resume_connection(req->conn);
}

static void store_done(struct sr_store_op *op)
{
	sr_request_wake(op->arg);
}

enum MHD_Result sr_request_wait_store(struct sr_request *req, struct sr_store_op *op,
				      sr_handler then)
{
	struct sr_err err = {0};

	op->done = store_done;
	op->arg = req;
	sr_request_suspend(req, then);
	if (sr_store_submit(req->app->store, op, &err) != SR_OK) {
		op->rc = err.code;
		op->err = err;
		store_done(op);
	}
	return MHD_YES;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) SR_PRINTF(2, 0);

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[300], quoted[320];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	sr_log(SR_LOG_WARN, "http.mhd", "detail=%s", sr_log_quote(quoted, sizeof(quoted), msg));
}

static enum sr_rc bind_address(const struct sr_config *cfg, struct sockaddr_storage *ss,
			       struct sr_err *err)
{
	struct addrinfo hints, *res = NULL;
	char port[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%lld", (long long)cfg->listen_port);
	rc = getaddrinfo(cfg->listen_address, port, &hints, &res);
	if (rc != 0)
		return sr_err_set(err, SR_ECONFIG, "listen.address %s: %s", cfg->listen_address,
				  gai_strerror(rc));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return SR_OK;
}

/* MHD's memory per connection: the header block is read into it and parsed
 * in place, beside MHD's own bookkeeping and the answer's header lines, so
 * twice the header cap plus 16 KiB lets the cap itself decide (a JSON 431
 * from first_call) for any header block up to well past it. */
static size_t mhd_memory(const struct sr_config *cfg)
{
	return (size_t)cfg->max_header_bytes * 2 + 16384;
}

enum sr_rc sr_http_start(struct sr_app *app, struct sr_http **out, struct sr_err *err)
{
	const struct sr_config *cfg = app->cfg;
	struct sr_http *http;
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	enum sr_rc rc;

	*out = NULL;
	if ((rc = bind_address(cfg, &ss, err)) != SR_OK)
		return rc;
	http = calloc(1, sizeof(*http));
	if (http == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	http->app = app;
	if (cfg->trusted_proxies.n > 0) {
		size_t i;
		http->trusted = calloc(cfg->trusted_proxies.n, sizeof(*http->trusted));
		if (http->trusted == NULL) {
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < cfg->trusted_proxies.n; i++)
			if (sr_cidr_parse(cfg->trusted_proxies.v[i], &http->trusted[i]) == NULL)
				http->n_trusted++;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cfg->tls_cert_file != NULL) {
		if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
			rc = sr_err_set(err, SR_ECONFIG, "this libmicrohttpd has no TLS");
			goto out;
		}
		if ((rc = sr_file_read(cfg->tls_cert_file, 1 << 20, &http->cert_pem,
				       &http->cert_len, err)) != SR_OK ||
		    (rc = sr_file_read(cfg->tls_key_file, 1 << 20, &http->key_pem,
				       &http->key_len, err)) != SR_OK)
			goto out;
		flags |= MHD_USE_TLS;
	}
	http->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, http,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, http,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, mhd_memory(cfg),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http_threads,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, http,
		MHD_OPTION_URI_LOG_CALLBACK, on_request_line, http,
		cfg->tls_cert_file ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, http->cert_pem,
		MHD_OPTION_HTTPS_MEM_KEY, http->key_pem,
		MHD_OPTION_END);
	if (http->daemon == NULL) {
		rc = sr_err_set(err, SR_EIO, "cannot listen on %s:%lld%s", cfg->listen_address,
				(long long)cfg->listen_port,
				cfg->tls_cert_file ? " (check the TLS cert and key)" : "");
		goto out;
	}
	info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
	http->port = info ? info->port : (int)cfg->listen_port;
out:
	if (rc != SR_OK) {
		sr_http_stop(http);
		return rc;
	}
	*out = http;
	return SR_OK;
}

int sr_http_port(const struct sr_http *http)
{
	return http->port;
}

void sr_http_stop(struct sr_http *http)
{
	if (http == NULL)
		return;
	if (http->daemon != NULL) {
		int i;
		/* New requests get 503 from here on; suspended writes come back;
		 * then the daemon stops. (Not MHD_quiesce_daemon: with a thread
		 * pool on epoll, libmicrohttpd 0.9.75 can abort in it, "Failed to
		 * remove listen FD from epoll set".) */
		atomic_store(&http->stopping, 1);
		for (i = 0; i < 1000 && atomic_load(&http->waiting) > 0; i++)
			usleep(10000);
		MHD_stop_daemon(http->daemon);
	}
	sr_secret_free(http->key_pem, http->key_len);
	free(http->cert_pem);
	free(http->trusted);
	free(http);
}
