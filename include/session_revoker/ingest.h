/*
 * ingest.h - from a source's events to recorded revocations: each source's
 * settings (config "sources"), the directory a "lookup" rule asks, the
 * Auth0 Management API client, and the pipeline that applies the rules and
 * commits a batch in one transaction.
 */
#ifndef SESSION_REVOKER_INGEST_H
#define SESSION_REVOKER_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "session_revoker/config.h"
#include "session_revoker/core.h"
#include "session_revoker/events.h"
#include "session_revoker/store.h"

/* ---- the directory a "lookup" rule asks: the user's groups now ---- */

struct sr_directory {
	/* OUT *groups: new strings (sr_strv_free). SR_ENOTFOUND: the directory
	 * has no such user (deleted); SR_EUNAVAIL: it did not answer usefully
	 * (down, slow, throttled, refused our credentials): err says which. */
	enum sr_rc (*groups)(struct sr_directory *dir, const char *subject, char ***groups,
			     size_t *n_groups, struct sr_err *err);
	/* The user's attribute name ("email", "nickname", "username") as the
	 * directory knows it: OUT *value, a new string (NULL when the user has
	 * none). Errors as for groups. NULL: this directory gives groups only. */
	enum sr_rc (*attribute)(struct sr_directory *dir, const char *subject, const char *name,
				char **value, struct sr_err *err);
	void (*free)(struct sr_directory *dir);
};

/* Outbound HTTPS for the identity providers' APIs (JWKS, Auth0). */
struct sr_http_client_config {
	const char *ca_file;      /* NULL: the system's CA store */
	int64_t timeout_seconds;  /* whole request */
	int64_t max_bytes;        /* largest answer read */
};

/* sources.<name>.lookup */
struct sr_lookup_config {
	char *kind;               /* "auth0" or "http"; NULL: no lookup configured */
	/* auth0: the tenant's Management API with client credentials */
	char *domain;             /* base URL, "https://example.auth0.com" */
	char *client_id;
	char *client_secret_file;
	char *audience;           /* NULL: <domain>/api/v2/ */
	char *groups_from;        /* "roles" (default) or "app_metadata.<field>" */
	/* http: GET url with {subject} replaced (percent-encoded); the answer is
	 * a JSON array of group names or {"groups": [...]} */
	char *url;
	char *token_file;         /* sent as Authorization: Bearer (optional) */
};

/* Auth0 Management API client (src/ingest/auth0_api.c): a client
 * credentials token fetched and cached until shortly before it expires. */
struct sr_auth0_api;

enum sr_rc sr_auth0_api_new(const struct sr_lookup_config *lc,
			    const struct sr_http_client_config *hc, struct sr_auth0_api **api,
			    struct sr_err *err);
void sr_auth0_api_free(struct sr_auth0_api *api);

/* The api as a struct sr_directory (roles, or the app_metadata field);
 * borrowed, lives as long as api. */
struct sr_directory *sr_auth0_api_directory(struct sr_auth0_api *api);

/* One page of GET /api/v2/logs?from=<from>&take=<take> (from NULL or "":
 * the oldest retained). OUT *body (new string, *len bytes): the JSON array
 * of log events as Auth0 sent it; *wait_seconds: how long to wait before the
 * next call, from Auth0's rate-limit headers (X-RateLimit-Remaining/-Reset,
 * Retry-After on 429), 0 when there is no need to wait. SR_EUNAVAIL with
 * *wait_seconds set when throttled. */
enum sr_rc sr_auth0_api_logs(struct sr_auth0_api *api, const char *from, int take,
			     char **body, size_t *len, int64_t *wait_seconds,
			     struct sr_err *err);

/* The log_id of the tenant's newest log event, where a poll without a
 * checkpoint starts (GET /api/v2/logs?sort=date:-1&per_page=1: the search
 * form of the endpoint, since the checkpoint form only reads forwards).
 * OUT *log_id: new string, NULL when the tenant has no logs; *wait_seconds
 * as for sr_auth0_api_logs(). */
enum sr_rc sr_auth0_api_newest_log(struct sr_auth0_api *api, char **log_id,
				   int64_t *wait_seconds, struct sr_err *err);

/* A generic HTTP directory (lookup.kind "http"). OUT *dir: new,
 * dir->free(dir). */
enum sr_rc sr_directory_http_new(const struct sr_lookup_config *lc,
				 const struct sr_http_client_config *hc, struct sr_directory **dir,
				 struct sr_err *err);

/* ---- each source's settings ---- */

struct sr_poll_config {
	bool enabled;
	int64_t interval_seconds; /* between polls when caught up */
	int64_t take;             /* events per page, 1..100 */
	char *from;               /* first checkpoint when the store has none (NULL: start at the newest event) */
};

struct sr_source_config {
	const char *name;          /* "auth0", "group-change", "ssf", "okta" */
	bool enabled;
	char *secret_file;         /* the static Authorization value; NULL: a JWT
				    * with events:write */
	char *secret_header;       /* okta: the header carrying it (NULL: Authorization) */
	int64_t answer_within_ms;  /* okta: a batch's directory lookups end by then
				    * (0: no limit but the HTTP client's timeout) */
	/* Rules with "target": "user": what a person's AWS sessions carry as
	 * their source identity (or targeted.principal_tag): "email" (the
	 * event's, else looked up), "subject" (the event's user id as it is),
	 * "nickname" or "username" (looked up); and how long the provider's ID
	 * tokens live (the person's cut-off is the event time + this; 0:
	 * targeted.token_lifetime_seconds). */
	char *identity;
	int64_t token_lifetime_seconds;
	struct sr_rules rules;
	struct sr_lookup_config lookup;
	struct sr_poll_config poll;  /* auth0 only */
	char **rename_from;        /* group_names: provider id -> group name */
	char **rename_to;
	size_t n_rename;
	char *set_issuer;          /* ssf: the transmitter, one of auth.issuers
				    * (NULL: none configured, the route is off) */
	char *set_audience;        /* ssf: must be in aud (NULL: the issuer's) */
	char *logout_issuer;       /* okta: signs Universal Logout requests, one of
				    * auth.issuers (NULL: the logout route is off) */
	char *logout_audience;     /* okta: must be in their aud (NULL: the issuer's) */
};

struct sr_sources_config {
	struct sr_source_config auth0;
	struct sr_source_config group_change;
	struct sr_source_config ssf;
	struct sr_source_config okta;
	struct sr_http_client_config http;
};

/* Reads cfg->sources (the "sources" section) and cfg->http_client_*; every
 * problem goes to pr, named by its path ("sources.auth0.rules[2].on").
 * OUT *sc: new, sr_sources_config_free(). */
enum sr_rc sr_sources_config_load(const struct sr_config *cfg, struct sr_sources_config **sc,
				  struct sr_config_problems *pr, struct sr_err *err);
void sr_sources_config_free(struct sr_sources_config *sc);

/* The rules of a source as JSON (check-config, rules test). New reference. */
json_t *sr_rules_to_json(const struct sr_rules *rules);

/* The first rule of rules whose "on" names kind, or NULL. */
const struct sr_rule *sr_rules_match(const struct sr_rules *rules, const char *kind);

/* ---- the pipeline ---- */

struct sr_ingest;

/* Who delivered the batch (the verified token or the secret). Borrowed. */
struct sr_ingest_sender {
	const char *issuer;   /* token iss, or "sources.<name>.authorization_file" */
	const char *subject;
	const char *token_id;
};

/* OUT *ing: new, sr_ingest_free(). store may be NULL (rules test: nothing is
 * recorded, no lookups are made). */
enum sr_rc sr_ingest_new(const struct sr_config *cfg, const struct sr_sources_config *sc,
			 struct sr_store *store, struct sr_ingest **ing, struct sr_err *err);
void sr_ingest_free(struct sr_ingest *ing);

/* Applies source's rules to batch, asks the directory for "lookup" rules
 * (not for events already recorded), and commits every revocation in one
 * transaction. Blocking. OUT *summary (new reference): {"received",
 * "revocations": [...], "replayed", "dropped", "errors": [{"index",
 * "event_id", "error"}]}. SR_ESTORE: nothing was committed. */
enum sr_rc sr_ingest_commit(struct sr_ingest *ing, const struct sr_source_config *source,
			    struct sr_event_batch *batch, const struct sr_ingest_sender *sender,
			    int64_t now, json_t **summary, struct sr_err *err);

/* A batch handed to the ingest's threads (callers that must not block: the
 * HTTP event loop). The caller owns it and what it points to until done()
 * has run. */
struct sr_ingest_job {
	const struct sr_source_config *source;
	struct sr_event_batch *batch;
	struct sr_ingest_sender sender;
	int64_t now;
	void (*done)(struct sr_ingest_job *job); /* runs on an ingest thread; must not block */
	void *arg;
	/* results, set before done() runs: as sr_ingest_commit() */
	enum sr_rc rc;
	struct sr_err err;
	json_t *summary;
	struct sr_ingest_job *next;
};

/* Queues job; SR_EUNAVAIL (and no done) when the ingest is stopping or
 * offline. */
enum sr_rc sr_ingest_submit(struct sr_ingest *ing, struct sr_ingest_job *job,
			    struct sr_err *err);

/* Stops taking batches: those queued and not begun are answered
 * SR_EUNAVAIL (done() runs: the sender tries again), those being worked on
 * start no new directory lookup (SR_EUNAVAIL, nothing committed) and finish
 * within one lookup's timeout. Call before stopping the HTTP server, whose
 * suspended requests then all come back. */
void sr_ingest_stop(struct sr_ingest *ing);

/* Whether src takes its deliveries with a static authorization value
 * (authorization_file) rather than a JWT. */
bool sr_ingest_uses_secret(const struct sr_ingest *ing, const struct sr_source_config *src);

/* Whether value (an Authorization header, as sent) is src's configured
 * value, compared in constant time (SHA-256 of both, CRYPTO_memcmp). */
bool sr_ingest_secret_ok(const struct sr_ingest *ing, const struct sr_source_config *src,
			 const char *value);

/* Envelopes (okta: the event hook's eventId) of src this process committed
 * lately (the last few hundred): a redelivery of one is answered at once.
 * Each event of it is deduplicated by the store anyway. */
bool sr_ingest_recent_seen(struct sr_ingest *ing, const struct sr_source_config *src,
			   const char *id);
void sr_ingest_recent_add(struct sr_ingest *ing, const struct sr_source_config *src,
			  const char *id);

/* The Auth0 Management API client the ingest built from
 * sources.auth0.lookup (kind "auth0"), or NULL. Borrowed. */
struct sr_auth0_api *sr_ingest_auth0_api(struct sr_ingest *ing);

/* ---- the Auth0 catch-up poll (sources.auth0.poll) ---- */

struct sr_auth0_poll;

/* Starts a thread that reads GET /api/v2/logs from the checkpoint kept in
 * the store (meta key "auth0.poll.checkpoint"), hands each page to
 * sr_ingest_commit() as source "auth0" (so a pushed and a polled event are
 * one event by log_id), moves the checkpoint only after the page is
 * committed, and honours Auth0's rate-limit headers. OUT *poll: new,
 * sr_auth0_poll_stop(). */
enum sr_rc sr_auth0_poll_start(struct sr_ingest *ing, const struct sr_source_config *src,
			       struct sr_store *store, struct sr_auth0_poll **poll,
			       struct sr_err *err);

/* Stops the thread (a page being committed finishes first). NULL is safe. */
void sr_auth0_poll_stop(struct sr_auth0_poll *poll);

#endif
