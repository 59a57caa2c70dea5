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

#endif
