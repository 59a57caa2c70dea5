/*
 * iam.h - the IAM and STS calls the engine needs, on top of sr_aws_call().
 */
#ifndef SESSION_REVOKER_IAM_H
#define SESSION_REVOKER_IAM_H

#include "session_revoker/aws.h"

struct sr_iam_role {
	char name[128];
	char arn[512];
	char path[512];
	int64_t max_session;  /* MaxSessionDuration, seconds */
	char *trust_policy;   /* decoded JSON text, owned */
};

struct sr_iam_roles {
	struct sr_iam_role *items;
	size_t n;
	size_t cap; /* allocated items */
};

void sr_iam_roles_clear(struct sr_iam_roles *roles);

/* Every role of the account, following Marker/IsTruncated. *calls counts the
 * pages fetched (may be NULL). */
enum sr_rc sr_iam_list_roles(struct sr_aws_conn *c, struct sr_iam_roles *roles,
			     int *calls, struct sr_err *err);

/* One ListRoles answer: its roles are added to roles; marker (marker_cap
 * bytes) gets the Marker of the next page, "" on the last page. */
enum sr_rc sr_iam_parse_roles_page(xmlDocPtr doc, struct sr_iam_roles *roles, char *marker,
				   size_t marker_cap, struct sr_err *err);

/* The value of a role's tag key (compared case-insensitively, as IAM keys
 * are unique), following ListRoleTags' Marker/IsTruncated. OUT *value: new
 * string, NULL when the role has no such tag. */
enum sr_rc sr_iam_role_tag(struct sr_aws_conn *c, const char *role, const char *key,
			   char **value, struct sr_err *err);

/* One ListRoleTags answer: *value (when still NULL) gets key's value if this
 * page holds it; marker (marker_cap bytes) the Marker of the next page, ""
 * on the last. */
enum sr_rc sr_iam_parse_tags_page(xmlDocPtr doc, const char *key, char **value, char *marker,
				  size_t marker_cap, struct sr_err *err);

/* The names of a role's inline policies. OUT *names: array of n new strings
 * (sr_strv_free). */
enum sr_rc sr_iam_list_role_policies(struct sr_aws_conn *c, const char *role,
				     char ***names, size_t *n, struct sr_err *err);

/* An inline policy's document (decoded JSON text; new string). SR_ENOTFOUND
 * when the role has no such policy. */
enum sr_rc sr_iam_get_role_policy(struct sr_aws_conn *c, const char *role,
				  const char *policy, char **document, struct sr_err *err);

/* request_id (may be NULL, 80 bytes) receives AWS's request id. */
enum sr_rc sr_iam_put_role_policy(struct sr_aws_conn *c, const char *role,
				  const char *policy, const char *document,
				  char *request_id, struct sr_err *err);
enum sr_rc sr_iam_delete_role_policy(struct sr_aws_conn *c, const char *role,
				     const char *policy, char *request_id,
				     struct sr_err *err);

/* STS AssumeRole: OUT creds (filled). external_id may be NULL. */
enum sr_rc sr_sts_assume_role(struct sr_aws_conn *c, const char *role_arn,
			      const char *session_name, const char *external_id,
			      int duration, struct sr_aws_creds *creds, struct sr_err *err);

/* STS AssumeRoleWithWebIdentity (unsigned). */
enum sr_rc sr_sts_assume_role_web_identity(struct sr_aws_conn *c, const char *role_arn,
					   const char *session_name, const char *token,
					   struct sr_aws_creds *creds, struct sr_err *err);

/* STS GetCallerIdentity: account (13 bytes) and arn (512). */
enum sr_rc sr_sts_get_caller_identity(struct sr_aws_conn *c, char *account, char *arn,
				      struct sr_err *err);

/* ---- customer managed policies: the targeted-revocation fallback (managed.c) ---- */

#define SR_IAM_VERSION_ID_MAX 64 /* "v12": v[1-9][0-9]*(\.[A-Za-z0-9-]*)? */
#define SR_IAM_ARN_MAX 2048      /* ARNs are at most 2,048 characters (API Reference) */

struct sr_iam_policy_version {
	char id[SR_IAM_VERSION_ID_MAX];
	int is_default;
};

struct sr_iam_policy_versions {
	struct sr_iam_policy_version *items; /* owned, free() */
	size_t n;
};

/* GetPolicy: OUT default_version (SR_IAM_VERSION_ID_MAX bytes) the
 * DefaultVersionId. SR_ENOTFOUND when there is no such policy. */
enum sr_rc sr_iam_get_policy(struct sr_aws_conn *c, const char *arn, char *default_version,
			     struct sr_err *err);

/* GetPolicyVersion: OUT *document the version's document (decoded JSON text,
 * new string). */
enum sr_rc sr_iam_get_policy_version(struct sr_aws_conn *c, const char *arn,
				     const char *version, char **document, struct sr_err *err);

/* CreatePolicy under path ("/" when NULL): OUT arn (SR_IAM_ARN_MAX bytes) as
 * IAM answers it. */
enum sr_rc sr_iam_create_policy(struct sr_aws_conn *c, const char *name, const char *path,
				const char *document, char *arn, char *request_id,
				struct sr_err *err);

/* CreatePolicyVersion, made the default version when set_default. OUT
 * version (SR_IAM_VERSION_ID_MAX bytes, may be NULL) its VersionId. code (80
 * bytes, may be NULL) receives AWS's error code when it fails (LimitExceeded:
 * five versions already). */
enum sr_rc sr_iam_create_policy_version(struct sr_aws_conn *c, const char *arn,
					const char *document, int set_default, char *version,
					char *request_id, char *code, struct sr_err *err);

/* ListPolicyVersions, every page. OUT versions (sr_iam_policy_versions_clear). */
enum sr_rc sr_iam_list_policy_versions(struct sr_aws_conn *c, const char *arn,
				       struct sr_iam_policy_versions *versions,
				       struct sr_err *err);
void sr_iam_policy_versions_clear(struct sr_iam_policy_versions *versions);

/* DeletePolicyVersion (never the default one: IAM refuses, DeleteConflict). */
enum sr_rc sr_iam_delete_policy_version(struct sr_aws_conn *c, const char *arn,
					const char *version, char *request_id,
					struct sr_err *err);

/* DeletePolicy (IAM refuses while it is attached or has non-default versions). */
enum sr_rc sr_iam_delete_policy(struct sr_aws_conn *c, const char *arn, char *request_id,
				struct sr_err *err);

/* AttachRolePolicy / DetachRolePolicy. code (80 bytes, may be NULL) receives
 * AWS's error code when it fails (LimitExceeded: the role has as many
 * managed policies as its quota allows). */
enum sr_rc sr_iam_attach_role_policy(struct sr_aws_conn *c, const char *role, const char *arn,
				     char *request_id, char *code, struct sr_err *err);
enum sr_rc sr_iam_detach_role_policy(struct sr_aws_conn *c, const char *role, const char *arn,
				     char *request_id, struct sr_err *err);

/* ListAttachedRolePolicies, every page. OUT *arns: n new strings
 * (sr_strv_free). */
enum sr_rc sr_iam_list_attached_role_policies(struct sr_aws_conn *c, const char *role,
					      char ***arns, size_t *n, struct sr_err *err);

/* ListEntitiesForPolicy with EntityFilter=Role, every page: the names of the
 * roles the policy is attached to. OUT *roles: n new strings (sr_strv_free). */
enum sr_rc sr_iam_list_policy_roles(struct sr_aws_conn *c, const char *arn, char ***roles,
				    size_t *n, struct sr_err *err);

/* The parsers of those answers (network bytes: tests/fuzz/fuzz_aws_xml.c).
 *
 * A CreatePolicy or GetPolicy answer (action "CreatePolicy" or "GetPolicy"):
 * arn (SR_IAM_ARN_MAX bytes, may be NULL) and default_version
 * (SR_IAM_VERSION_ID_MAX, may be NULL) from <action>Result/Policy. */
enum sr_rc sr_iam_parse_policy(xmlDocPtr doc, const char *action, char *arn,
			       char *default_version, struct sr_err *err);

/* A GetPolicyVersion answer: OUT *document the decoded document (new string). */
enum sr_rc sr_iam_parse_policy_document(xmlDocPtr doc, char **document, struct sr_err *err);

/* One ListPolicyVersions page, added to versions; marker as for ListRoles. */
enum sr_rc sr_iam_parse_versions_page(xmlDocPtr doc, struct sr_iam_policy_versions *versions,
				      char *marker, size_t marker_cap, struct sr_err *err);

/* One page of a list of names: for each member of <action>Result/<list>, the
 * text of its child field is added to *v (n items, sr_strv_free);
 * ListAttachedRolePolicies: list "AttachedPolicies", field "PolicyArn";
 * ListEntitiesForPolicy: list "PolicyRoles", field "RoleName". marker as for
 * ListRoles. */
enum sr_rc sr_iam_parse_names_page(xmlDocPtr doc, const char *action, const char *list,
				   const char *field, char ***v, size_t *n, char *marker,
				   size_t marker_cap, struct sr_err *err);

#endif
