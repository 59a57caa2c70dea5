/*
 * sources.h - turning what callers send into a revocation.
 *
 * The revocation document (README, "API"): {"groups": [...], "time": "...",
 * "action": "revoke"|"cleanup", "accounts": [...], "reason": "..."}. Later
 * sources (Auth0, group-change, SSF, Okta) produce the same struct.
 */
#ifndef SESSION_REVOKER_SOURCES_H
#define SESSION_REVOKER_SOURCES_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "session_revoker/core.h"

enum sr_action { SR_ACTION_REVOKE = 1, SR_ACTION_CLEANUP };

const char *sr_action_name(enum sr_action action);

#define SR_MAX_ACCOUNTS 1000
#define SR_MAX_REASON 1024
#define SR_MAX_TIME_TEXT 128

struct sr_document {
	char **groups; /* deduplicated, in the order given */
	size_t n_groups;
	int64_t cutoff;  /* Unix seconds, UTC */
	char *time_text; /* as given (NULL: missing, meaning now) */
	enum sr_action action;
	char **accounts; /* NULL: every configured account */
	size_t n_accounts;
	char *reason; /* may be NULL */
};

struct sr_document_limits {
	size_t max_groups;
	size_t max_group_length;
	int64_t skew;         /* how far in the future a cut-off may lie */
	int allow_jwt_claims; /* the document is the claims of a JWT */
};

/* Parses and validates a document. obj is borrowed. On error (SR_EINVAL) the
 * message names the field. OUT *doc: new, sr_document_free(). */
enum sr_rc sr_document_parse(json_t *obj, const struct sr_document_limits *lim,
			     int64_t now, struct sr_document **doc,
			     struct sr_err *err);

/* The same from JSON text (a request body). */
enum sr_rc sr_document_parse_text(const char *text, size_t len,
				  const struct sr_document_limits *lim, int64_t now,
				  struct sr_document **doc, struct sr_err *err);

void sr_document_free(struct sr_document *doc);

/* The document as JSON (new reference): groups, time (RFC 3339), action,
 * accounts, reason. */
json_t *sr_document_to_json(const struct sr_document *doc);

#endif
