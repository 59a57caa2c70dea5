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

/* ---- matching (the rule: match.c) ---- */

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

/* The policy without session-revoker's statement: OUT *out is a new string,
 * or NULL when no statement is left (delete the policy then). */
enum sr_rc sr_deny_policy_remove(const char *existing, char **out, struct sr_err *err);

/* The cut-off of session-revoker's statement in a policy, 0 when there is
 * none. */
enum sr_rc sr_deny_policy_cutoff(const char *policy, int64_t *cutoff, struct sr_err *err);



/* ---- the engine ---- */

#include "session_revoker/config.h"

enum sr_engine_mode { SR_ENGINE_PLAN, SR_ENGINE_REVOKE, SR_ENGINE_CLEANUP };

struct sr_engine_request {
	enum sr_engine_mode mode;
	char *const *groups;
	size_t n_groups;
	int64_t cutoff;           /* SR_ENGINE_REVOKE */
	char *const *accounts;    /* NULL: every configured account */
	size_t n_accounts;
	int64_t now;              /* SR_ENGINE_CLEANUP: is it due yet? */
	int dry_run;              /* compute and report, write nothing */
};

/* What happened to one role. outcome is one of: "match" (plan), "denied",
 * "unchanged" (a cut-off at least as late is in place), "would-deny",
 * "deleted", "would-delete", "not-due", "absent" (no deny policy to clean
 * up), "failed". */
struct sr_role_result {
	char account[13];
	char role_name[128];
	char role_arn[512];
	const char *outcome;
	int64_t cutoff;      /* the cut-off in force after this run, 0: none */
	int64_t due;         /* cleanup: when the deny policy may go */
	char request_id[80]; /* AWS's id of the write, if any */
	char error[256];
	struct sr_match match;
};

struct sr_account_result {
	char id[13];
	char error[256]; /* "" when the account was worked through */
	int roles_seen;
	int matched;
	unsigned long aws_calls;
};

struct sr_engine_report {
	enum sr_engine_mode mode;
	struct sr_role_result *roles;
	size_t n_roles;
	struct sr_account_result *accounts;
	size_t n_accounts;
	int failed; /* roles failed + accounts failed */
};

struct sr_engine;

/* OUT *engine: new, sr_engine_free(). cfg is borrowed and outlives it.
 * Credentials are looked up on first use. */
enum sr_rc sr_engine_new(const struct sr_config *cfg, struct sr_engine **engine,
			 struct sr_err *err);
void sr_engine_free(struct sr_engine *engine);

/* Works through every requested account in parallel. A failing account or
 * role is reported in the report, not as an error: the rc is only for a
 * request that cannot run at all (an unknown account, no credentials). */
enum sr_rc sr_engine_run(struct sr_engine *engine, const struct sr_engine_request *req,
			 struct sr_engine_report *report, struct sr_err *err);

void sr_engine_report_clear(struct sr_engine_report *report);

/* The report as JSON (new reference). */
json_t *sr_engine_report_json(const struct sr_engine_report *report);
#endif
