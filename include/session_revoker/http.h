/*
 * http.h - the HTTP(S) server: libmicrohttpd, a route table, one error
 * function.
 */
#ifndef SESSION_REVOKER_HTTP_H
#define SESSION_REVOKER_HTTP_H

#include "session_revoker/auth.h"
#include "session_revoker/config.h"
#include "session_revoker/core.h"
#include "session_revoker/ingest.h"
#include "session_revoker/jobs.h"
#include "session_revoker/store.h"

/* What handlers reach: borrowed, outlives the server. */
struct sr_app {
	const struct sr_config *cfg;
	struct sr_auth *auth;
	struct sr_store *store;
	struct sr_jobs *jobs; /* NULL: no workers in this process */
	const struct sr_sources_config *sources;
	struct sr_ingest *ingest;
};

struct sr_http;

/* Starts listening (HTTPS when the config names a cert and key). OUT *http:
 * new, sr_http_stop(). */
enum sr_rc sr_http_start(struct sr_app *app, struct sr_http **http,
			 struct sr_err *err);

/* The port actually bound (useful with port 0). */
int sr_http_port(const struct sr_http *http);

/* Stops accepting, finishes requests in flight, frees. NULL is safe. */
void sr_http_stop(struct sr_http *http);

#endif
