/*
 * ssfreg.h - registering this service as an OpenID Shared Signals (SSF 1.0)
 * push receiver with a transmitter: its configuration metadata
 * (/.well-known/ssf-configuration), then the stream that delivers to our
 * delivery URL, created or updated through its configuration endpoint.
 *
 * The transmitter's management token and the delivery's authorization value
 * are secrets: they go into the requests only, never into an error message,
 * a log line or the result.
 */
#ifndef SESSION_REVOKER_SSFREG_H
#define SESSION_REVOKER_SSFREG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "session_revoker/core.h"

/* The push delivery method URIs: SSF 1.0's, and the RISC/SSE drafts'. */
#define SR_SSF_PUSH_RFC8935 "urn:ietf:rfc:8935"
#define SR_SSF_PUSH_RISC "https://schemas.openid.net/secevent/risc/delivery-method/push"

/* What the transmitter's metadata told us (strings owned). */
struct sr_ssf_transmitter {
	char *issuer;
	char *jwks_uri;
	char *configuration_endpoint;
	char *push_method; /* the push method URI it supports, the newest first */
};

/* The metadata's address for issuer (SSF 1.0 section 7.2: the well-known
 * part goes between the host and the issuer's path, a terminating "/"
 * removed). OUT *url: new string, free(). SR_EINVAL for an issuer that is
 * not an https URL without query or fragment (http only for a loopback
 * host, for tests). */
enum sr_rc sr_ssfreg_well_known_url(const char *issuer, char **url, struct sr_err *err);

/* Reads the metadata document (network bytes) of issuer: a JSON object
 * whose "issuer" is issuer, with a jwks_uri, a configuration_endpoint and a
 * push method among delivery_methods_supported (absent: SSF 1.0's assumed).
 * OUT t: filled; sr_ssfreg_transmitter_free(). */
enum sr_rc sr_ssfreg_parse_metadata(const char *body, size_t len, const char *issuer,
				    struct sr_ssf_transmitter *t, struct sr_err *err);
void sr_ssfreg_transmitter_free(struct sr_ssf_transmitter *t);

/* Reads a configuration endpoint's answer (network bytes): one stream
 * configuration object or an array of them. Each must be an object with a
 * non-empty string stream_id. OUT *streams: a new array reference. */
enum sr_rc sr_ssfreg_parse_streams(const char *body, size_t len, json_t **streams,
				   struct sr_err *err);

/* The stream of streams with stream_id (when not NULL) or else whose
 * delivery.endpoint_url is endpoint_url; NULL when none. Borrowed. */
json_t *sr_ssfreg_find(json_t *streams, const char *stream_id, const char *endpoint_url);

struct sr_ssfreg_req {
	const char *transmitter;   /* the issuer */
	const char *delivery_url;  /* our POST /v1/events/ssf, as the transmitter reaches it */
	const char *token;         /* the management API's bearer token; NULL: none (secret) */
	const char *authorization; /* delivery.authorization_header; NULL: none (secret) */
	json_t *events;            /* borrowed array of event type URIs */
	const char *stream_id;     /* NULL: find by delivery_url */
	const char *ca_file;       /* NULL: the system's CA store */
	int64_t timeout_seconds;
	size_t max_bytes;
	int dry_run;               /* read only: say what would be done */
};

/* Reads the metadata, finds the stream, creates or updates it (unless
 * dry_run). OUT *result: new object {"action": "created" | "updated" |
 * "would create" | "would update", "transmitter", "configuration_endpoint",
 * "jwks_uri", "stream_id" (not for "would create"), "delivery_method",
 * "delivery_url", "events_requested", "events_delivered" (as the transmitter
 * answered; absent when it did not say)}. Errors: SR_EUNAVAIL (not reached),
 * SR_EAUTH / SR_EFORBIDDEN (the token), SR_ENOTFOUND (no such stream, not
 * an SSF transmitter), SR_EINVAL (an answer that is not what SSF says),
 * SR_ECONFLICT (the transmitter refused the stream). */
enum sr_rc sr_ssfreg_register(const struct sr_ssfreg_req *req, json_t **result,
			      struct sr_err *err);

#endif
