/*
 * iam.c - IAM ListRoles/ListRoleTags/ListRolePolicies/GetRolePolicy/PutRolePolicy/
 * DeleteRolePolicy and STS AssumeRole/AssumeRoleWithWebIdentity/
 * GetCallerIdentity; the customer managed policy calls of the targeted
 * fallback (CreatePolicy ... ListEntitiesForPolicy).
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

/* Calls action page by page (Marker/IsTruncated), with base (name, value
 * pairs, NULL-terminated, at most 4 pairs; NULL: none), fn reading each
 * page. *calls (may be NULL) counts the pages fetched. */
static enum sr_rc paginate(struct sr_aws_conn *c, enum sr_aws_action action,
			   const char *const *base, page_fn fn, void *arg, int *calls,
			   struct sr_err *err)
{
	struct sr_aws_response resp = {0};
	char marker[1024] = "";
	enum sr_rc rc = SR_OK;
	int page;

	for (page = 0; page < MAX_PAGES; page++) {
		const char *params[13], **p = params;
		size_t i;
		for (i = 0; base != NULL && base[i] != NULL && i < 8; i += 2) {
			*p++ = base[i];
			*p++ = base[i + 1];
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
	const char *base[] = {"RoleName", role, NULL};
	enum sr_rc rc = paginate(c, SR_AWS_LIST_ROLE_POLICIES, base, policies_page, &got, NULL,
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
	const char *base[] = {"RoleName", role, NULL};
	enum sr_rc rc = paginate(c, SR_AWS_LIST_ROLE_TAGS, base, tags_page, &q, NULL, err);

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

/* ---- customer managed policies ---- */

/* simple() that also hands back AWS's error code (code: 80 bytes, may be NULL). */
static enum sr_rc simple_code(struct sr_aws_conn *c, enum sr_aws_action action,
			      const char *const *params, char *request_id, char *code,
			      struct sr_err *err)
{
	struct sr_aws_response resp = {0};
	enum sr_rc rc = sr_aws_call(c, action, params, &resp, err);

	if (request_id != NULL)
		snprintf(request_id, 80, "%s", resp.request_id);
	if (code != NULL)
		snprintf(code, 80, "%s", resp.code);
	sr_aws_response_clear(&resp);
	return rc;
}

enum sr_rc sr_iam_parse_policy(xmlDocPtr doc, const char *action, char *arn,
			       char *default_version, struct sr_err *err)
{
	char path[64];
	xmlNodePtr p;
	char a[SR_IAM_ARN_MAX], v[SR_IAM_VERSION_ID_MAX];

	snprintf(path, sizeof(path), "%sResult/Policy", action);
	p = sr_xml_path(xmlDocGetRootElement(doc), path);
	if (p == NULL)
		return sr_err_set(err, SR_EINVAL, "IAM %s: no %s in the answer", action, path);
	if (!sr_xml_text(p, "Arn", a, sizeof(a)) || a[0] == '\0')
		return sr_err_set(err, SR_EINVAL, "IAM %s: a policy without an Arn", action);
	if (!sr_xml_text(p, "DefaultVersionId", v, sizeof(v)) || v[0] == '\0')
		return sr_err_set(err, SR_EINVAL, "IAM %s: a policy without a DefaultVersionId",
				  action);
	if (arn != NULL)
		memcpy(arn, a, strlen(a) + 1);
	if (default_version != NULL)
		memcpy(default_version, v, strlen(v) + 1);
	return SR_OK;
}

enum sr_rc sr_iam_parse_policy_document(xmlDocPtr doc, char **document, struct sr_err *err)
{
	char *enc = sr_xml_strdup(xmlDocGetRootElement(doc),
				  "GetPolicyVersionResult/PolicyVersion/Document");

	*document = enc ? sr_url_decode(enc) : NULL;
	free(enc);
	if (*document == NULL)
		return sr_err_set(err, SR_EINVAL, "IAM GetPolicyVersion: no Document in the answer");
	return SR_OK;
}

void sr_iam_policy_versions_clear(struct sr_iam_policy_versions *versions)
{
	free(versions->items);
	versions->items = NULL;
	versions->n = 0;
}

enum sr_rc sr_iam_parse_versions_page(xmlDocPtr doc, struct sr_iam_policy_versions *versions,
				      char *marker, size_t marker_cap, struct sr_err *err)
{
	xmlNodePtr result = sr_xml_path(xmlDocGetRootElement(doc), "ListPolicyVersionsResult"), m;
	char def[8];

	marker[0] = '\0';
	if (result == NULL)
		return sr_err_set(err, SR_EINVAL,
				  "IAM ListPolicyVersions: no ListPolicyVersionsResult in the answer");
	for (m = sr_xml_first(sr_xml_path(result, "Versions")); m != NULL; m = sr_xml_next(m)) {
		struct sr_iam_policy_version *v;
		if (versions->n >= MAX_PAGES)
			return sr_err_set(err, SR_EINVAL, "IAM ListPolicyVersions: too many versions");
		v = realloc(versions->items, (versions->n + 1) * sizeof(*v));
		if (v == NULL)
			return sr_err_set(err, SR_ENOMEM, "out of memory");
		versions->items = v;
		v = &versions->items[versions->n];
		memset(v, 0, sizeof(*v));
		if (!sr_xml_text(m, "VersionId", v->id, sizeof(v->id)) || v->id[0] == '\0')
			return sr_err_set(err, SR_EINVAL, "IAM ListPolicyVersions: a version without a VersionId");
		v->is_default = sr_xml_text(m, "IsDefaultVersion", def, sizeof(def)) &&
				strcmp(def, "true") == 0;
		versions->n++;
	}
	return page_end(result, "ListPolicyVersions", marker, marker_cap, err);
}

enum sr_rc sr_iam_parse_names_page(xmlDocPtr doc, const char *action, const char *list,
				   const char *field, char ***v, size_t *n, char *marker,
				   size_t marker_cap, struct sr_err *err)
{
	char path[96];
	xmlNodePtr result, m;

	marker[0] = '\0';
	snprintf(path, sizeof(path), "%sResult", action);
	result = sr_xml_path(xmlDocGetRootElement(doc), path);
	if (result == NULL)
		return sr_err_set(err, SR_EINVAL, "IAM %s: no %s in the answer", action, path);
	for (m = sr_xml_first(sr_xml_path(result, list)); m != NULL; m = sr_xml_next(m)) {
		char **grown, *t = sr_xml_strdup(m, field);
		if (t == NULL || t[0] == '\0') {
			free(t);
			return sr_err_set(err, SR_EINVAL, "IAM %s: a member of %s without %s", action,
					  list, field);
		}
		grown = realloc(*v, (*n + 1) * sizeof(char *));
		if (grown == NULL) {
			free(t);
			return sr_err_set(err, SR_ENOMEM, "out of memory");
		}
		*v = grown;
		grown[(*n)++] = t;
	}
	return page_end(result, action, marker, marker_cap, err);
}

enum sr_rc sr_iam_get_policy(struct sr_aws_conn *c, const char *arn, char *default_version,
			     struct sr_err *err)
{
	struct sr_aws_response resp = {0};
	const char *params[] = {"PolicyArn", arn, NULL};
	enum sr_rc rc = sr_aws_call(c, SR_AWS_GET_POLICY, params, &resp, err);

	default_version[0] = '\0';
	if (rc == SR_OK)
		rc = sr_iam_parse_policy(resp.doc, "GetPolicy", NULL, default_version, err);
	sr_aws_response_clear(&resp);
	return rc;
}

enum sr_rc sr_iam_get_policy_version(struct sr_aws_conn *c, const char *arn,
				     const char *version, char **document, struct sr_err *err)
{
	struct sr_aws_response resp = {0};
	const char *params[] = {"PolicyArn", arn, "VersionId", version, NULL};
	enum sr_rc rc = sr_aws_call(c, SR_AWS_GET_POLICY_VERSION, params, &resp, err);

	*document = NULL;
	if (rc == SR_OK)
		rc = sr_iam_parse_policy_document(resp.doc, document, err);
	sr_aws_response_clear(&resp);
	return rc;
}

enum sr_rc sr_iam_create_policy(struct sr_aws_conn *c, const char *name, const char *path,
				const char *document, char *arn, char *request_id,
				struct sr_err *err)
{
	struct sr_aws_response resp = {0};
	const char *params[] = {"PolicyName", name, "Path", path ? path : "/",
				"PolicyDocument", document, NULL};
	enum sr_rc rc = sr_aws_call(c, SR_AWS_CREATE_POLICY, params, &resp, err);

	arn[0] = '\0';
	if (request_id != NULL)
		snprintf(request_id, 80, "%s", resp.request_id);
	if (rc == SR_OK)
		rc = sr_iam_parse_policy(resp.doc, "CreatePolicy", arn, NULL, err);
	sr_aws_response_clear(&resp);
	return rc;
}

enum sr_rc sr_iam_create_policy_version(struct sr_aws_conn *c, const char *arn,
					const char *document, int set_default, char *version,
					char *request_id, char *code, struct sr_err *err)
{
	struct sr_aws_response resp = {0};
	const char *params[] = {"PolicyArn", arn, "PolicyDocument", document,
				"SetAsDefault", set_default ? "true" : "false", NULL};
	enum sr_rc rc = sr_aws_call(c, SR_AWS_CREATE_POLICY_VERSION, params, &resp, err);

	if (version != NULL)
		version[0] = '\0';
	if (request_id != NULL)
		snprintf(request_id, 80, "%s", resp.request_id);
	if (code != NULL)
		snprintf(code, 80, "%s", resp.code);
	if (rc == SR_OK && version != NULL &&
	    !sr_xml_text(xmlDocGetRootElement(resp.doc), "CreatePolicyVersionResult/PolicyVersion/VersionId",
			 version, SR_IAM_VERSION_ID_MAX))
		rc = sr_err_set(err, SR_EINVAL, "IAM CreatePolicyVersion: no VersionId in the answer");
	sr_aws_response_clear(&resp);
	return rc;
}

static enum sr_rc versions_page(xmlDocPtr doc, void *arg, char *marker, size_t marker_cap,
				struct sr_err *err)
{
	return sr_iam_parse_versions_page(doc, arg, marker, marker_cap, err);
}

enum sr_rc sr_iam_list_policy_versions(struct sr_aws_conn *c, const char *arn,
				       struct sr_iam_policy_versions *versions,
				       struct sr_err *err)
{
	const char *base[] = {"PolicyArn", arn, NULL};
	enum sr_rc rc;

	versions->items = NULL;
	versions->n = 0;
	rc = paginate(c, SR_AWS_LIST_POLICY_VERSIONS, base, versions_page, versions, NULL, err);
	if (rc != SR_OK)
		sr_iam_policy_versions_clear(versions);
	return rc;
}

enum sr_rc sr_iam_delete_policy_version(struct sr_aws_conn *c, const char *arn,
					const char *version, char *request_id,
					struct sr_err *err)
{
	const char *params[] = {"PolicyArn", arn, "VersionId", version, NULL};

	return simple(c, SR_AWS_DELETE_POLICY_VERSION, params, request_id, err);
}

enum sr_rc sr_iam_delete_policy(struct sr_aws_conn *c, const char *arn, char *request_id,
				struct sr_err *err)
{
	const char *params[] = {"PolicyArn", arn, NULL};

	return simple(c, SR_AWS_DELETE_POLICY, params, request_id, err);
}

enum sr_rc sr_iam_attach_role_policy(struct sr_aws_conn *c, const char *role, const char *arn,
				     char *request_id, char *code, struct sr_err *err)
{
	const char *params[] = {"RoleName", role, "PolicyArn", arn, NULL};

	return simple_code(c, SR_AWS_ATTACH_ROLE_POLICY, params, request_id, code, err);
}

enum sr_rc sr_iam_detach_role_policy(struct sr_aws_conn *c, const char *role, const char *arn,
				     char *request_id, struct sr_err *err)
{
	const char *params[] = {"RoleName", role, "PolicyArn", arn, NULL};

	return simple(c, SR_AWS_DETACH_ROLE_POLICY, params, request_id, err);
}

struct names_query {
	const char *action, *list, *field;
	char **v;
	size_t n;
};

static enum sr_rc names_page(xmlDocPtr doc, void *arg, char *marker, size_t marker_cap,
			     struct sr_err *err)
{
	struct names_query *q = arg;

	return sr_iam_parse_names_page(doc, q->action, q->list, q->field, &q->v, &q->n, marker,
				       marker_cap, err);
}

/* Every page of a list of names (names_page), into *out / *n. */
static enum sr_rc list_names(struct sr_aws_conn *c, enum sr_aws_action action,
			     const char *const *base, struct names_query *q, char ***out,
			     size_t *n, struct sr_err *err)
{
	enum sr_rc rc = paginate(c, action, base, names_page, q, NULL, err);

	if (rc != SR_OK) {
		sr_strv_free(q->v, q->n);
		q->v = NULL;
		q->n = 0;
	}
	*out = q->v;
	*n = q->n;
	return rc;
}

enum sr_rc sr_iam_list_attached_role_policies(struct sr_aws_conn *c, const char *role,
					      char ***arns, size_t *n, struct sr_err *err)
{
	struct names_query q = {"ListAttachedRolePolicies", "AttachedPolicies", "PolicyArn",
				NULL, 0};
	const char *base[] = {"RoleName", role, NULL};

	return list_names(c, SR_AWS_LIST_ATTACHED_ROLE_POLICIES, base, &q, arns, n, err);
}

enum sr_rc sr_iam_list_policy_roles(struct sr_aws_conn *c, const char *arn, char ***roles,
				    size_t *n, struct sr_err *err)
{
	struct names_query q = {"ListEntitiesForPolicy", "PolicyRoles", "RoleName", NULL, 0};
	const char *base[] = {"PolicyArn", arn, "EntityFilter", "Role", NULL};

	return list_names(c, SR_AWS_LIST_ENTITIES_FOR_POLICY, base, &q, roles, n, err);
}
