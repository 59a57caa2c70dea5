/*
 * http_int.h - inside the http module: the request, routes, responses.
 */
#ifndef SESSION_REVOKER_HTTP_INT_H
#define SESSION_REVOKER_HTTP_INT_H

#include <microhttpd.h>
#include <stdbool.h>
#include <time.h>

#include <jansson.h>

#include "session_revoker/http.h"

struct sr_request;
typedef enum MHD_Result (*sr_handler)(struct sr_request *req);

struct sr_route {
	const char *method;
	const char *pattern; /* a trailing "{id}" segment captures req->param */
	sr_handler handler;
	bool batch; /* an identity provider's batch: limits.max_event_body_bytes */
};

/* Everything one request allocates; freed in the completion callback. */
struct sr_request {
	struct sr_app *app;
	struct MHD_Connection *conn;
	char id[65];
	const char *method;    /* NULL until MHD hands the request to on_request */
	const char *path;
	char line_path[128];   /* the request line's path, for MHD's own answers */
	char param[65];
	const struct sr_route *route;
	struct sr_buf body; /* capped at limits.max_body_bytes */
	bool too_big;
	bool answered;
	bool suspended;        /* waiting for the store; resume() runs next */
	sr_handler resume;
	void *state;           /* a handler's own, freed by state_free */
	void (*state_free)(void *state);
	struct sr_http *http;
	unsigned status;
	const char *outcome;   /* the error code answered (static), NULL: none */
	char client[48];       /* the client address (listen.trusted_proxies) */
	struct timespec start;
};

/* Hands op to the store without blocking the event loop: the connection is
 * suspended, and once the COMMIT holding op is on disk (or the write failed)
 * it is resumed and then(req) runs to answer, reading op's results. op must
 * live until then (keep it in req->state). */
enum MHD_Result sr_request_wait_store(struct sr_request *req, struct sr_store_op *op,
				      sr_handler then);

/* Suspends the connection (the event loop goes on with others) until
 * sr_request_wake(req) is called from any thread; then(req) runs next, on
 * the event loop, to answer. */
void sr_request_suspend(struct sr_request *req, sr_handler then);
void sr_request_wake(struct sr_request *req);

struct sr_event_batch;
struct sr_source_config;
struct sr_principal;
struct sr_ingest_job;

/* The event routes' shared steps (handlers/events.c). A batch none of whose
 * events could be read is answered 400 (*refused set; return what it
 * returns). sr_events_submit hands the parsed batch to the ingest as job
 * (sent by who) and suspends req until its COMMIT, when then answers. */
enum MHD_Result sr_events_refuse_unreadable(struct sr_request *req,
					    const struct sr_event_batch *batch, bool *refused);
enum MHD_Result sr_events_submit(struct sr_request *req, const struct sr_source_config *src,
				 struct sr_event_batch *batch, const struct sr_principal *who,
				 struct sr_ingest_job *job, sr_handler then);

/* The route for method+path; NULL with *path_known set when only the method
 * is wrong (allow gets the methods that would work, comma-separated). */
const struct sr_route *sr_route_find(const char *method, const char *path,
				     char *param, size_t param_cap,
				     bool *path_known, char *allow, size_t allow_cap);

/* Sends body (stolen) as JSON with status. */
enum MHD_Result sr_respond_json(struct sr_request *req, unsigned status, json_t *body,
				const char *const *headers);

/* Sends {"error": code, "detail": detail} with status, and the headers the
 * status needs (WWW-Authenticate for 401/403, Allow for 405). */
enum MHD_Result sr_respond_error(struct sr_request *req, unsigned status,
				 const char *code, const char *detail,
				 const char *extra_name, const char *extra_value);

/* The error for err, with its status from the one sr_rc -> status map. */
enum MHD_Result sr_respond_err(struct sr_request *req, const struct sr_err *err);

unsigned sr_http_status(enum sr_rc rc);

/* Sends len bytes of data (copied) as media with status (media NULL: no
 * Content-Type, for an empty body). */
enum MHD_Result sr_respond_body(struct sr_request *req, unsigned status, const char *media,
				const char *data, size_t len);

/* Handlers. */
enum MHD_Result sr_handle_healthz(struct sr_request *req);
enum MHD_Result sr_handle_readyz(struct sr_request *req);
enum MHD_Result sr_handle_revocation_post(struct sr_request *req);
enum MHD_Result sr_handle_revocation_get(struct sr_request *req);
enum MHD_Result sr_handle_revocation_list(struct sr_request *req);
enum MHD_Result sr_handle_events_auth0(struct sr_request *req);
enum MHD_Result sr_handle_events_group_change(struct sr_request *req);
enum MHD_Result sr_handle_events_ssf(struct sr_request *req);
enum MHD_Result sr_handle_events_okta(struct sr_request *req);
enum MHD_Result sr_handle_events_okta_verify(struct sr_request *req);
enum MHD_Result sr_handle_events_okta_logout(struct sr_request *req);
enum MHD_Result sr_handle_metrics(struct sr_request *req);

enum sr_media { SR_MEDIA_OTHER, SR_MEDIA_JSON, SR_MEDIA_JWT, SR_MEDIA_JSON_LINES };

/* The media type of the request's Content-Type, parameters and case ignored. */
enum sr_media sr_request_media(struct sr_request *req);

/* The body is a compact JWT: its verified principal, or an answered 401/403
 * (returns false: the handler then returns *result). Trailing white space of
 * the body is cut off. */
bool sr_request_verify_body(struct sr_request *req, const char *permission,
			    struct sr_principal *who, enum MHD_Result *result);

/* The Bearer token's verified principal, or an answered 401/403 (returns
 * false: the handler then returns *result). */
bool sr_request_authenticate(struct sr_request *req, const char *permission,
			     struct sr_principal *who, enum MHD_Result *result);

#endif
