/*
 * revoke.h - the revoke engine: which roles let the revoked groups in, the
 * deny policy, and plan/revoke/cleanup across accounts.
 */
#ifndef SESSION_REVOKER_REVOKE_H
#define SESSION_REVOKER_REVOKE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "session_revoker/core.h"

/* ---- matching (DESIGN.md §5) ---- */

struct sr_match_rules {
	char **providers; /* e.g. "auth.example.com/" */
	size_t n_providers;
	char **claims;    /* group claims, e.g. "amr" */
	size_t n_claims;
};

/* Why a role matched: the statement, the operator, the key, the policy value
 * and the group it let in. */
struct sr_match_reason {
	char statement[64]; /* Sid, or "Statement[i]" */
	char op[64];
	char key[160];
	char value[160];
	char group[160];
};

#define SR_MATCH_MAX_REASONS 8

struct sr_match {
	int matched;
	struct sr_match_reason reasons[SR_MATCH_MAX_REASONS];
	size_t n_reasons;
};

/* Whether the trust policy (JSON text) lets any of groups in through a
 * configured federated provider (sts:AssumeRoleWithWebIdentity, Allow).
 * SR_EINVAL when the policy is not a JSON policy document. */
enum sr_rc sr_match_trust_policy(const char *policy, const struct sr_match_rules *rules,
				 char *const *groups, size_t n_groups, struct sr_match *out,
				 struct sr_err *err);

/* IAM-style wildcard match: '*' any run, '?' one character. */
int sr_match_glob(const char *pattern, const char *text, int ignore_case);

/* ---- the deny policy ---- */

#define SR_DENY_SID "SessionRevokerDenyOldSessions"

/* The deny policy for cutoff merged into existing (NULL: none): the
 * session-revoker statement is added or has its cut-off raised; other
 * statements are kept. *effective gets the cut-off in force afterwards (the
 * later of the two). New string (free()). SR_EINVAL when existing is not a
 * policy document. */
enum sr_rc sr_deny_policy_merge(const char *existing, int64_t cutoff, char **out,
				int64_t *effective, struct sr_err *err);

/* The cut-off of session-revoker's statement in a policy, 0 when there is
 * none. */
enum sr_rc sr_deny_policy_cutoff(const char *policy, int64_t *cutoff, struct sr_err *err);

#endif
