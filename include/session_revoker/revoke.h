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

struct sr_role_mapping;

struct sr_match_rules {
	char **providers; /* "auth.example.com/" (OIDC), "saml-provider/NAME" (SAML) */
	size_t n_providers;
	char **claims;    /* group claims, e.g. "amr" */
	size_t n_claims;
	const struct sr_role_mapping *mappings; /* revoke.role_mappings (may be NULL) */
	size_t n_mappings;
};

/* The group of a revocation that is every group: every role that lets a
 * configured provider in (trust policy, and so every role a mapping or a tag
 * can reach). Only this exact string: a group such as "team_*" is a name,
 * not a pattern. */
#define SR_GROUP_ALL "*"

/* Whether groups hold SR_GROUP_ALL. */
int sr_match_names_all(char *const *groups, size_t n_groups);

/* The groups whose revocations' denied roles a cleanup of groups visits
 * (sr_denied_filter.groups): groups and "*", since a revocation of every
 * group denied each group's roles; with "*" among groups, every revocation's
 * (OUT *out NULL). Visiting more roles than matched never cuts a revocation
 * short: a deny policy goes only once its own cut-off + the maximum session
 * has passed. OUT *out: a new array of n_out borrowed strings (free() the
 * array only). */
enum sr_rc sr_match_cleanup_groups(char *const *groups, size_t n_groups, char ***out,
				   size_t *n_out, struct sr_err *err);

/* The role tag that names the groups reaching a role (spaces or commas
 * between them). */
#define SR_GROUPS_TAG "session-revoker:groups"

/* Why a role matched: what selected it (source: "trust" for a trust policy
 * condition, "tag" for the SR_GROUPS_TAG role tag, "mapping" for
 * revoke.role_mappings), the statement (or tag / mapping), the operator, the
 * key, the value (policy value, tag value, role name pattern) and the group
 * it let in. */
struct sr_match_reason {
	char source[16];
	char statement[64]; /* Sid, "Statement[i]", "tag", "revoke.role_mappings[i]" */
	char op[64];
	char key[160];
	char value[160];
	char group[160];
};

#define SR_MATCH_MAX_REASONS 8

struct sr_match {
	int matched;
	int federated; /* a statement lets a configured provider in, whatever the groups */
	int federated_saml; /* ... a configured SAML provider (saml-provider/NAME) */
	struct sr_match_reason reasons[SR_MATCH_MAX_REASONS];
	size_t n_reasons;
};

/* Whether the trust policy (JSON text) lets any of groups in through a
 * configured federated provider (Allow of sts:AssumeRoleWithWebIdentity for
 * an oidc-provider, of sts:AssumeRoleWithSAML for a saml-provider); with
 * SR_GROUP_ALL among groups, whether any statement lets such a provider in
 * (reason: op "federated", key "Principal.Federated", value the principal,
 * group "*"). out is
 * reset first; out->federated says whether any statement lets a configured
 * provider in at all. SR_EINVAL when the policy is not a JSON policy
 * document. */
enum sr_rc sr_match_trust_policy(const char *policy, const struct sr_match_rules *rules,
				 char *const *groups, size_t n_groups, struct sr_match *out,
				 struct sr_err *err);

/* Adds to out the groups that a SR_GROUPS_TAG value (groups separated by
 * spaces or commas, compared exactly) names; SR_GROUP_ALL among groups: any
 * group it names. Returns whether any did. */
int sr_match_tag(const char *value, char *const *groups, size_t n_groups, struct sr_match *out);

/* Adds to out the revoke.role_mappings entries for account whose group is one
 * of groups (any, with SR_GROUP_ALL among groups) and whose role name patterns (IAM-style globs, case-insensitive
 * as IAM role names are) match role_name. Returns whether any did. */
int sr_match_mapping(const struct sr_match_rules *rules, const char *account,
		     const char *role_name, char *const *groups, size_t n_groups,
		     struct sr_match *out);

/* Why AWS lets no one put an inline policy on a role at this path (IAM
 * Identity Center's /aws-reserved/sso.amazonaws.com/, service-linked
 * /aws-service-role/), or NULL when it does. Static string. */
const char *sr_match_unmodifiable(const char *path);

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

/* ---- targeted deny statements: one person's old sessions (targeted.c) ---- */

/* Sid of a targeted statement: the prefix, the cut-off as YYYYMMDDTHHMMSSZ,
 * and for a principal tag "Tag" + the tag key's letters and digits (IAM
 * Sids are [A-Za-z0-9], unique in a policy). A statement is ours when its Sid
 * starts with the prefix. */
#define SR_TARGETED_SID_PREFIX "SessionRevokerPeople"

/* IAM quotas (IAM User Guide, "IAM and AWS STS quotas"): all inline
 * policies of a role share 10,240 characters, a managed policy holds 6,144;
 * whitespace is not counted. */
#define SR_INLINE_POLICY_BUDGET 10240
#define SR_MANAGED_POLICY_BUDGET 6144

/* A person to deny: sessions whose aws:SourceIdentity (or principal tag) is
 * subject and whose aws:TokenIssueTime is before cutoff (Unix seconds). */
struct sr_person {
	const char *subject;
	int64_t cutoff;
};

struct sr_targeted_opts {
	/* NULL: the statements name people by aws:SourceIdentity; otherwise by
	 * aws:PrincipalTag/<tag_key>. */
	const char *tag_key;
	/* Characters (whitespace not counted) the document may use: what the
	 * role's inline budget leaves once its other inline policies are
	 * counted (sr_policy_size). 0: SR_INLINE_POLICY_BUDGET. */
	size_t budget;
};

/* A person as a policy holds them: the condition key, the subject, the
 * cut-off. key and subject are new strings (sr_targeted_people_free). */
struct sr_targeted_person {
	char *key;
	char *subject;
	int64_t cutoff;
};

struct sr_targeted_result {
	char *policy;   /* the document to write; NULL: no statement left (delete it) */
	int changed;    /* 0: the same statements as the existing document: write nothing */
	size_t used;    /* characters of policy as IAM counts them (sr_policy_size) */
	size_t left;    /* budget - used, 0 when over */
	size_t n_people; /* people in the targeted statements of policy */
	/* merge: the people that could not be written within the budget, with
	 * the cut-off asked for (a person already denied until an earlier
	 * cut-off keeps that one), sorted by subject */
	struct sr_targeted_person *unwritten;
	size_t n_unwritten;
	/* cleanup: the people removed, and when the next one may go
	 * (cut-off + max session; 0 when no one is left) */
	size_t n_removed;
	int64_t next_due;
};

/* The characters of a policy document as IAM counts them against its
 * quotas: Unicode characters of its compact JSON (whitespace between tokens
 * not counted). SR_EINVAL when text is not a JSON object. */
enum sr_rc sr_policy_size(const char *text, size_t *chars, struct sr_err *err);

/* people merged into existing (the role's deny policy, NULL: none): one
 * Deny * statement per distinct cut-off (and condition key), denying when
 * the key is any of its people and aws:TokenIssueTime is before the
 * cut-off. A person's cut-off only rises (a later one moves them to that
 * statement; an earlier one leaves them where they are); statements that
 * are not targeted ones (the group statement, anyone else's) are kept as they
 * are, before the targeted ones, which are sorted by cut-off, their people by
 * subject, so merging again changes nothing. People that would take the
 * document past the budget are not written and are listed in
 * out->unwritten (people are tried in order of subject). SR_EINVAL, nothing
 * written to out: existing is not a policy document, a statement with our Sid
 * cannot be read, a subject is not one the condition key can hold, a cut-off
 * is out of range. out: cleared first, sr_targeted_result_clear(). */
enum sr_rc sr_targeted_merge(const char *existing, const struct sr_person *people,
			     size_t n_people, const struct sr_targeted_opts *opts,
			     struct sr_targeted_result *out, struct sr_err *err);

/* existing without each person whose own cut-off + max_session is at or
 * before now (their sessions have all expired); statements left empty go,
 * other statements stay. out->policy NULL: nothing at all is left. */
enum sr_rc sr_targeted_cleanup(const char *existing, int64_t now, int64_t max_session,
			       const struct sr_targeted_opts *opts,
			       struct sr_targeted_result *out, struct sr_err *err);

/* The people of policy's targeted statements, sorted by cut-off, key and
 * subject. OUT *people: new array (sr_targeted_people_free), NULL when
 * there are none. */
enum sr_rc sr_targeted_list(const char *policy, struct sr_targeted_person **people,
			    size_t *n_people, struct sr_err *err);

/* The people to deny: subjects (borrowed), each until cutoff. OUT *people:
 * a new array (free() it), NULL when n is 0. */
enum sr_rc sr_targeted_people(char *const *subjects, size_t n, int64_t cutoff,
			      struct sr_person **people, struct sr_err *err);

void sr_targeted_people_free(struct sr_targeted_person *people, size_t n);
void sr_targeted_result_clear(struct sr_targeted_result *res);

/* ---- the managed-policy fallback: an account's targeted statements in a
 * customer managed policy of the service's own (managed.c) ---- */

/* When a role's targeted statements no longer fit its inline budget, the
 * account's targeted statements go into one customer managed policy
 * (document built by sr_targeted_merge with opts.budget =
 * SR_MANAGED_POLICY_BUDGET), versioned, attached once per role. IAM keeps at
 * most 5 versions of a managed policy and attaches 10 managed policies to a
 * role by default (IAM User Guide, "IAM and AWS STS quotas"). */
#define SR_MANAGED_MAX_VERSIONS 5
#define SR_MANAGED_ARN_MAX 2048

struct sr_aws_conn;

/* Which policy: arn:<partition>:iam::<account>:policy<path><name>. Strings
 * borrowed. */
struct sr_managed_id {
	const char *partition; /* "aws", "aws-us-gov", "aws-cn" */
	const char *account;   /* 12 digits */
	const char *name;      /* IAM policy name: [A-Za-z0-9+=,.@_-]{1,128} */
	const char *path;      /* "/" or "/a/path/" (NULL: "/") */
};

/* The policy's ARN into arn (cap bytes). SR_EINVAL naming the part that is
 * not what IAM accepts (partition, account, name, path). */
enum sr_rc sr_managed_arn(const struct sr_managed_id *id, char *arn, size_t cap,
			  struct sr_err *err);

/* The document of the policy's default version (decoded JSON text). OUT
 * *document: new string, NULL when the policy does not exist; arn
 * (SR_MANAGED_ARN_MAX bytes) its ARN either way. */
enum sr_rc sr_managed_read(struct sr_aws_conn *c, const struct sr_managed_id *id,
			   char **document, char *arn, struct sr_err *err);

/* Makes document the policy's default version: creates the policy, or adds a
 * version set as default, first deleting the oldest non-default versions when
 * SR_MANAGED_MAX_VERSIONS exist (a write never fails for the version limit).
 * Writes nothing when the default version already holds the same statements.
 * request_id (80 bytes, may be NULL): AWS's id of the write, "" when nothing
 * was written. SR_EINVAL: document (or the default version) is not a policy
 * document. */
enum sr_rc sr_managed_write(struct sr_aws_conn *c, const struct sr_managed_id *id,
			    const char *document, char *request_id, struct sr_err *err);

/* Attaches the policy to role unless it is attached already
 * (ListAttachedRolePolicies first): attached once per role. *attached (may
 * be NULL): 1 when this call attached it. SR_ECONFLICT with a message naming
 * the role when the role already has as many managed policies as its quota
 * allows. */
enum sr_rc sr_managed_attach(struct sr_aws_conn *c, const char *role, const char *arn,
			     int *attached, struct sr_err *err);

/* Detaches the policy from every role it is attached to (ListEntitiesForPolicy)
 * and deletes it with its versions: a cleanup that left no one in it. A policy
 * that does not exist is not an error. *detached (may be NULL): the roles it
 * was detached from. */
enum sr_rc sr_managed_remove(struct sr_aws_conn *c, const char *arn, size_t *detached,
			     struct sr_err *err);



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
	/* People (targeted revocation, README "Revoking one person"), with or
	 * without groups, on every role a person could reach (the roles that
	 * trust a configured provider; targeted.scope "all": every role AWS
	 * lets the service write). REVOKE: each denied until their own
	 * cut-off; CLEANUP: every person whose sessions have all expired goes,
	 * and a role still holding one of these (not due yet) is "not-due";
	 * PLAN: each role's people and characters, as a revoke would leave
	 * them. */
	const struct sr_person *people;
	size_t n_people;
	int dry_run;              /* compute and report, write nothing */
	/* SR_ENGINE_CLEANUP: role ARNs to visit as well as the roles that match
	 * now (the roles the revocation denied: a trust policy may have been
	 * edited since), and whether to look for the deny policy on every role
	 * that trusts a configured provider (one ListRolePolicies call each). */
	char *const *visit;
	size_t n_visit;
	int discover;
	/* A write AWS did not answer may still be carried out later (an older
	 * cut-off landing after a newer one, a delete after a new deny): the
	 * engine waits until aws.late_write_seconds have passed, reads such roles
	 * again and puts right what a late write undid. max_wait caps that wait
	 * (seconds; 0: do not wait, leave the roles unsettled in the report);
	 * stop, when set and returning 1, ends the wait early (shutdown). */
	int64_t max_wait;
	int (*stop)(void *arg);
	void *stop_arg;
};

/* What happened to one role. outcome is one of: "match" (plan), "denied",
 * "unchanged" (a cut-off at least as late is in place), "would-deny",
 * "deleted", "would-delete", "trimmed", "would-trim" (the deny policy held
 * statements that are not ours: rewritten without ours, not deleted),
 * "not-due", "absent" (no deny policy to clean up), "unmodifiable" (AWS
 * lets no one write the role: never tried, or refused with
 * UnmodifiableEntity; not a failure), "failed". */
struct sr_role_result {
	char account[13];
	char role_name[128];
	char role_arn[512];
	const char *outcome;
	int64_t cutoff;      /* the cut-off in force after this run, 0: none */
	int64_t due;         /* cleanup: when the deny policy may go */
	char request_id[80]; /* AWS's id of the write, if any */
	char error[256];     /* why it failed; for "unmodifiable", why AWS refuses */
	struct sr_match match;
	/* A write here got no answer that says whether it was done: it may still
	 * land until this time (0: every write here is settled). */
	int64_t unsettled;
	/* After such a write: "confirmed" (read again once it could no longer
	 * land, and right), "rewritten" (a late write had undone it: written
	 * again), "landed" (the write reported failed had been carried out);
	 * NULL when there was nothing to check. */
	const char *recheck;
	/* Cleanup: why a role that does not match today was visited: "recorded"
	 * (req->visit: the revocation denied it), "discovered" (it carries the
	 * deny policy); NULL when it matched. */
	const char *visited;
	int settled;         /* decided while selecting (unmodifiable, tags unreadable): not worked on */
	/* Targeted: selected for the request's people (match.matched says
	 * whether for its groups too); after the run, the people in its
	 * targeted statements, those that could not be written (named in
	 * error), and the characters its inline policies use and leave as IAM
	 * counts them (left -1: the role's other inline policies were not read,
	 * so only what ours uses is known). */
	int targeted;
	int people;
	int unwritten;
	int managed;  /* its people are (also) in the account's managed policy, attached */
	int64_t chars_used;
	int64_t chars_left;
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
