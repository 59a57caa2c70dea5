/*
 * iam.c - IAM ListRoles/ListRoleTags/ListRolePolicies/GetRolePolicy/PutRolePolicy/
 * DeleteRolePolicy and STS AssumeRole/AssumeRoleWithWebIdentity/
 * GetCallerIdentity.
 */
#include "session_revoker/iam.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_PAGES 10000

void sr_iam_roles_clear(struct sr_iam_roles *roles)
{
	size_t i;

	for (i = 0; i < roles->n; i++)
		free(roles->items[i].trust_policy);
	free(roles->items);
	roles->items = NULL;
	roles->n = roles->cap = 0;
}

static int truncated(xmlNodePtr result)
{
	char t[8];

	return sr_xml_text(result, "IsTruncated", t, sizeof(t)) && strcmp(t, "true") == 0;
}

/* The end of a page of a paginated answer: marker gets the Marker of the next
 * page, or "" when this page is the last. */
static enum sr_rc page_end(xmlNodePtr result, const char *action, char *marker,
			   size_t marker_cap, struct sr_err *err)
{
	marker[0] = '\0';
	if (!truncated(result))
		return SR_OK;
	if (!sr_xml_text(result, "Marker", marker, marker_cap) || marker[0] == '\0')
		return sr_err_set(err, SR_EINVAL, "IAM %s: truncated page without a Marker", action);
	return SR_OK;
}

/* Reads one page's items into arg; *marker as page_end() sets it. */
typedef enum sr_rc (*page_fn)(xmlDocPtr doc, void *arg, char *marker, size_t marker_cap,
			      struct sr_err *err);

/* Calls action page by page (Marker/IsTruncated), for role (NULL: none), fn
 * reading each page. *calls (may be NULL) counts the pages fetched. */
static enum sr_rc paginate(struct sr_aws_conn *c, enum sr_aws_action action, const char *role,
			   page_fn fn, void *arg, int *calls, struct sr_err *err)
{
	struct sr_aws_response resp = {0};
	char marker[1024] = "";
	enum sr_rc rc = SR_OK;
	int page;

	for (page = 0; page < MAX_PAGES; page++) {
		const char *params[7], **p = params;
		if (role != NULL) {
			*p++ = "RoleName";
			*p++ = role;
		}
		*p++ = "MaxItems";
		*p++ = "1000";
		*p++ = marker[0] ? "Marker" : NULL;
		*p++ = marker;
		*p = NULL;
		rc = sr_aws_call(c, action, params, &resp, err);
		if (calls != NULL)
			(*calls)++;
		if (rc == SR_OK)
			rc = fn(resp.doc, arg, marker, sizeof(marker), err);
		sr_aws_response_clear(&resp);
		if (rc != SR_OK || marker[0] == '\0')
			break;
	}
	return rc;
}

static enum sr_rc add_role(struct sr_iam_roles *roles, xmlNodePtr m, struct sr_err *err)
{
	struct sr_iam_role *r, *items;
	char buf[32], *enc;

	if (roles->n == roles->cap) { /* doubling: a page holds up to 1,000 roles */
		size_t cap = roles->cap ? roles->cap * 2 : 64;
		items = realloc(roles->items, cap * sizeof(*items));
		if (items == NULL)
			return sr_err_set(err, SR_ENOMEM, "out of memory");
		roles->items = items;
		roles->cap = cap;
	}
	r = &roles->items[roles->n];
	memset(r, 0, sizeof(*r));
	if (!sr_xml_text(m, "RoleName", r->name, sizeof(r->name)) ||
	    !sr_xml_text(m, "Arn", r->arn, sizeof(r->arn)))
		return sr_err_set(err, SR_EINVAL, "IAM ListRoles: a role without RoleName or Arn");
	sr_xml_text(m, "Path", r->path, sizeof(r->path));
	r->max_session = 3600;
	if (sr_xml_text(m, "MaxSessionDuration", buf, sizeof(buf)))
		r->max_session = strtoll(buf, NULL, 10);
	enc = sr_xml_strdup(m, "AssumeRolePolicyDocument");
	if (enc != NULL) {
		r->trust_policy = sr_url_decode(enc);
		free(enc);
	}
	roles->n++;
	return SR_OK;
}

enum sr_rc sr_iam_parse_roles_page(xmlDocPtr doc, struct sr_iam_roles *roles, char *marker,
				   size_t marker_cap, struct sr_err *err)
{
	xmlNodePtr result = sr_xml_path(xmlDocGetRootElement(doc), "ListRolesResult"), m;
	enum sr_rc rc = SR_OK;

	marker[0] = '\0';
	if (result == NULL)
		return sr_err_set(err, SR_EINVAL, "IAM ListRoles: no ListRolesResult in the answer");
	for (m = sr_xml_first(sr_xml_path(result, "Roles")); m != NULL && rc == SR_OK;
	     m = sr_xml_next(m))
		rc = add_role(roles, m, err);
	return rc != SR_OK ? rc : page_end(result, "ListRoles", marker, marker_cap, err);
}

static enum sr_rc roles_page(xmlDocPtr doc, void *roles, char *marker, size_t marker_cap,
			     struct sr_err *err)
{
	return sr_iam_parse_roles_page(doc, roles, marker, marker_cap, err);
}

enum sr_rc sr_iam_list_roles(struct sr_aws_conn *c, struct sr_iam_roles *roles,
			     int *calls, struct sr_err *err)
{
	return paginate(c, SR_AWS_LIST_ROLES, NULL, roles_page, roles, calls, err);
}

struct names {
	char **v;
	size_t n;
};

static enum sr_rc policies_page(xmlDocPtr doc, void *arg, char *marker, size_t marker_cap,
				struct sr_err *err)
{
	xmlNodePtr result = sr_xml_path(xmlDocGetRootElement(doc), "ListRolePoliciesResult"), m;
	struct names *names = arg;

	marker[0] = '\0';
	if (result == NULL)
		return sr_err_set(err, SR_EINVAL,
				  "IAM ListRolePolicies: no ListRolePoliciesResult in the answer");
	for (m = sr_xml_first(sr_xml_path(result, "PolicyNames")); m != NULL; m = sr_xml_next(m)) {
		char **v = realloc(names->v, (names->n + 1) * sizeof(char *));
		xmlChar *t;
		if (v == NULL)
			return sr_err_set(err, SR_ENOMEM, "out of memory");
		names->v = v;
		t = xmlNodeGetContent(m);
		v[names->n] = strdup(t ? (const char *)t : "");
		xmlFree(t);
		if (v[names->n] == NULL)
			return sr_err_set(err, SR_ENOMEM, "out of memory");
		names->n++;
	}
	return page_end(result, "ListRolePolicies", marker, marker_cap, err);
}

enum sr_rc sr_iam_list_role_policies(struct sr_aws_conn *c, const char *role,
				     char ***names, size_t *n, struct sr_err *err)
{
	struct names got = {0};
	enum sr_rc rc = paginate(c, SR_AWS_LIST_ROLE_POLICIES, role, policies_page, &got, NULL,
				 err);

	if (rc != SR_OK) {
		sr_strv_free(got.v, got.n);
		got.v = NULL;
		got.n = 0;
	}
	*names = got.v;
	*n = got.n;
	return rc;
}

enum sr_rc sr_iam_parse_tags_page(xmlDocPtr doc, const char *key, char **value, char *marker,
				  size_t marker_cap, struct sr_err *err)
{
	xmlNodePtr result = sr_xml_path(xmlDocGetRootElement(doc), "ListRoleTagsResult"), m;
	char k[160];

	marker[0] = '\0';
	if (result == NULL)
		return sr_err_set(err, SR_EINVAL, "IAM ListRoleTags: no ListRoleTagsResult in the answer");
	for (m = sr_xml_first(sr_xml_path(result, "Tags")); m != NULL; m = sr_xml_next(m)) {
		/* IAM tag keys are unique regardless of case */
		if (*value != NULL || !sr_xml_text(m, "Key", k, sizeof(k)) || strcasecmp(k, key) != 0)
			continue;
		*value = sr_xml_strdup(m, "Value");
		if (*value == NULL)
			*value = strdup("");
		if (*value == NULL)
			return sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	return page_end(result, "ListRoleTags", marker, marker_cap, err);
}

struct tag_query {
	const char *key;
	char *value;
};

static enum sr_rc tags_page(xmlDocPtr doc, void *arg, char *marker, size_t marker_cap,
			    struct sr_err *err)
{
	struct tag_query *q = arg;

	return sr_iam_parse_tags_page(doc, q->key, &q->value, marker, marker_cap, err);
}

enum sr_rc sr_iam_role_tag(struct sr_aws_conn *c, const char *role, const char *key,
			   char **value, struct sr_err *err)
{
	struct tag_query q = {key, NULL};
	enum sr_rc rc = paginate(c, SR_AWS_LIST_ROLE_TAGS, role, tags_page, &q, NULL, err);

	if (rc != SR_OK) {
		free(q.value);
		q.value = NULL;
	}
	*value = q.value;
	return rc;
}

enum sr_rc sr_iam_get_role_policy(struct sr_aws_conn *c, const char *role,
				  const char *policy, char **document, struct sr_err *err)
{
	struct sr_aws_response resp = {0};
	const char *params[] = {"RoleName", role, "PolicyName", policy, NULL};
	enum sr_rc rc;
	char *enc;

	*document = NULL;
	rc = sr_aws_call(c, SR_AWS_GET_ROLE_POLICY, params, &resp, err);
	if (rc == SR_OK) {
		enc = sr_xml_strdup(xmlDocGetRootElement(resp.doc), "GetRolePolicyResult/PolicyDocument");
		*document = enc ? sr_url_decode(enc) : NULL;
		free(enc);
		if (*document == NULL)
			rc = sr_err_set(err, SR_EINVAL, "IAM GetRolePolicy: no PolicyDocument");
	}
	sr_aws_response_clear(&resp);
	return rc;
}

static enum sr_rc simple(struct sr_aws_conn *c, enum sr_aws_action action,
			 const char *const *params, char *request_id, struct sr_err *err)
{
	struct sr_aws_response resp = {0};
	enum sr_rc rc = sr_aws_call(c, action, params, &resp, err);

	if (request_id != NULL)
		snprintf(request_id, 80, "%s", resp.request_id);
	sr_aws_response_clear(&resp);
	return rc;
}

enum sr_rc sr_iam_put_role_policy(struct sr_aws_conn *c, const char *role,
				  const char *policy, const char *document,
				  char *request_id, struct sr_err *err)
{
	const char *params[] = {"RoleName", role, "PolicyName", policy,
				"PolicyDocument", document, NULL};

	return simple(c, SR_AWS_PUT_ROLE_POLICY, params, request_id, err);
}

enum sr_rc sr_iam_delete_role_policy(struct sr_aws_conn *c, const char *role,
				     const char *policy, char *request_id,
				     struct sr_err *err)
{
	const char *params[] = {"RoleName", role, "PolicyName", policy, NULL};

	return simple(c, SR_AWS_DELETE_ROLE_POLICY, params, request_id, err);
}

/* Reads Credentials/{AccessKeyId,SecretAccessKey,SessionToken,Expiration}. */
static enum sr_rc read_creds(xmlNodePtr result, const char *what, struct sr_aws_creds *out,
			     struct sr_err *err)
{
	xmlNodePtr cr = sr_xml_path(result, "Credentials");
	char exp[64];

	memset(out, 0, sizeof(*out));
	if (cr == NULL || !sr_xml_text(cr, "AccessKeyId", out->access_key_id,
				       sizeof(out->access_key_id)))
		return sr_err_set(err, SR_EINVAL, "STS %s: no Credentials in the answer", what);
	out->secret = sr_xml_strdup(cr, "SecretAccessKey");
	out->token = sr_xml_strdup(cr, "SessionToken");
	if (out->secret == NULL || out->token == NULL) {
		sr_aws_creds_clear(out);
		return sr_err_set(err, SR_EINVAL, "STS %s: incomplete Credentials", what);
	}
	if (!sr_xml_text(cr, "Expiration", exp, sizeof(exp)) ||
	    sr_time_parse(exp, sr_clock_now(), &out->expires, NULL) != SR_OK)
		out->expires = sr_clock_now() + 900; /* unknown: refresh soon */
	return SR_OK;
}

enum sr_rc sr_sts_assume_role(struct sr_aws_conn *c, const char *role_arn,
			      const char *session_name, const char *external_id,
			      int duration, struct sr_aws_creds *creds, struct sr_err *err)
{
	struct sr_aws_response resp = {0};
	char dur[16];
	const char *params[] = {"RoleArn", role_arn, "RoleSessionName", session_name,
				"DurationSeconds", dur,
				external_id ? "ExternalId" : NULL, external_id, NULL};
	enum sr_rc rc;

	snprintf(dur, sizeof(dur), "%d", duration);
	rc = sr_aws_call(c, SR_AWS_ASSUME_ROLE, params, &resp, err);
	if (rc == SR_OK)
		rc = read_creds(sr_xml_path(xmlDocGetRootElement(resp.doc), "AssumeRoleResult"),
				"AssumeRole", creds, err);
	sr_aws_response_clear(&resp);
	return rc;
}

enum sr_rc sr_sts_assume_role_web_identity(struct sr_aws_conn *c, const char *role_arn,
					   const char *session_name, const char *token,
					   struct sr_aws_creds *creds, struct sr_err *err)
{
	struct sr_aws_response resp = {0};
	const char *params[] = {"RoleArn", role_arn, "RoleSessionName", session_name,
				"WebIdentityToken", token, NULL};
	enum sr_rc rc;

	rc = sr_aws_call_unsigned(c, SR_AWS_ASSUME_ROLE_WITH_WEB_IDENTITY, params, &resp, err);
	if (rc == SR_OK)
		rc = read_creds(sr_xml_path(xmlDocGetRootElement(resp.doc),
					    "AssumeRoleWithWebIdentityResult"),
				"AssumeRoleWithWebIdentity", creds, err);
	sr_aws_response_clear(&resp);
	return rc;
}

enum sr_rc sr_sts_get_caller_identity(struct sr_aws_conn *c, char *account, char *arn,
				      struct sr_err *err)
{
	struct sr_aws_response resp = {0};
	enum sr_rc rc = sr_aws_call(c, SR_AWS_GET_CALLER_IDENTITY, NULL, &resp, err);

	account[0] = arn[0] = '\0';
	if (rc == SR_OK) {
		xmlNodePtr r = sr_xml_path(xmlDocGetRootElement(resp.doc), "GetCallerIdentityResult");
		sr_xml_text(r, "Account", account, 13);
		sr_xml_text(r, "Arn", arn, 512);
		if (account[0] == '\0')
			rc = sr_err_set(err, SR_EINVAL, "STS GetCallerIdentity: no Account");
	}
	sr_aws_response_clear(&resp);
	return rc;
}
