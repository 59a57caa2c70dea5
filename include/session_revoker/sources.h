/*
 * sources.h - turning what callers send into a revocation.
 *
 * The revocation document (README, "API"): {"groups": [...], "subjects":
 * [...], "time": "...", "action": "revoke"|"cleanup", "accounts": [...],
 * "reason": "..."}, with groups, subjects or both. Later
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
#define SR_MAX_SUBJECTS 1000

struct sr_document {
	char **groups; /* deduplicated, in the order given; none when subjects are given */
	size_t n_groups;
	/* people to revoke (targeted): the values their sessions carry as
	 * aws:SourceIdentity (or the principal tag), deduplicated */
	char **subjects;
	size_t n_subjects;
	int64_t cutoff;  /* Unix seconds, UTC */
	/* Set by whoever records it (sr_document_set_cutoffs): the cut-off of
	 * the groups' deny (cutoff + revoke.hold_seconds) and of the people's
	 * (cutoff + the provider's ID token lifetime); 0: cutoff. */
	int64_t groups_cutoff;
	int64_t subjects_cutoff;
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
	const char *principal_tag; /* subjects are checked as this session tag's
				    * values (NULL: as aws:SourceIdentity's) */
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

/* Sets doc's groups_cutoff (cutoff + hold) and subjects_cutoff (cutoff +
 * token_lifetime, only when it names subjects). */
void sr_document_set_cutoffs(struct sr_document *doc, int64_t hold, int64_t token_lifetime);

/* The document as JSON (new reference): groups, subjects, time (RFC 3339),
 * action, accounts, reason. */
json_t *sr_document_to_json(const struct sr_document *doc);

#endif
