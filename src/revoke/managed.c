/*
 * managed.c - the managed-policy fallback of targeted revocation: an
 * account's targeted deny statements in a customer managed policy of the
 * service's own, versioned, attached once per role.
 *
 * DESIGN: IAM keeps at most five versions of a managed policy
 * (CreatePolicyVersion answers LimitExceeded past that) and never deletes the
 * default one (DeletePolicyVersion: DeleteConflict), so a write first deletes
 * the oldest non-default versions and then adds its own, set as the default:
 * the statements in force change in one step, and a write never fails for
 * the version limit. A policy is deleted only once it is detached from every
 * role and has no version but the default (DeletePolicy). The engine builds
 * the document (sr_targeted_merge, opts.budget = SR_MANAGED_POLICY_BUDGET)
 * and decides when to call what; this file only talks to IAM.
 */
#include "session_revoker/revoke.h"
#include "session_revoker/iam.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static int name_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 128 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=,.@_-") == n;
}

/* IAM's path: "/" alone, or "/" + printable ASCII + "/", at most 512. */
static int path_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 512 || s[0] != '/' || s[n - 1] != '/')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

enum sr_rc sr_managed_arn(const struct sr_managed_id *id, char *arn, size_t cap,
			  struct sr_err *err)
{
	const char *path = id->path ? id->path : "/";
	size_t n;

	if (cap > 0)
		arn[0] = '\0';
	if (id->partition == NULL || id->partition[0] == '\0' ||
	    strspn(id->partition, "abcdefghijklmnopqrstuvwxyz-") != strlen(id->partition))
		return sr_err_set(err, SR_EINVAL, "managed policy: partition \"%.32s\" is not an AWS partition",
				  id->partition ? id->partition : "");
	if (id->account == NULL || strlen(id->account) != 12 ||
	    strspn(id->account, "0123456789") != 12)
		return sr_err_set(err, SR_EINVAL, "managed policy: account \"%.32s\" is not 12 digits",
				  id->account ? id->account : "");
	if (id->name == NULL || !name_ok(id->name))
		return sr_err_set(err, SR_EINVAL,
				  "managed policy: name \"%.64s\" is not an IAM policy name (1-128 of A-Z a-z 0-9 +=,.@_-)",
				  id->name ? id->name : "");
	if (!path_ok(path))
		return sr_err_set(err, SR_EINVAL,
				  "managed policy: path \"%.64s\" is not an IAM path (\"/\" or \"/a/path/\", at most 512)",
				  path);
	n = (size_t)snprintf(arn, cap, "arn:%s:iam::%s:policy%s%s", id->partition, id->account,
			     path, id->name);
	if (n >= cap)
		return sr_err_set(err, SR_EINVAL, "managed policy: the ARN is longer than %zu", cap);
	return SR_OK;
}

enum sr_rc sr_managed_read(struct sr_aws_conn *c, const struct sr_managed_id *id,
			   char **document, char *arn, struct sr_err *err)
{
	char version[SR_IAM_VERSION_ID_MAX];
	enum sr_rc rc;

	*document = NULL;
	rc = sr_managed_arn(id, arn, SR_MANAGED_ARN_MAX, err);
	if (rc != SR_OK)
		return rc;
	rc = sr_iam_get_policy(c, arn, version, err);
	if (rc == SR_ENOTFOUND) {
		sr_err_clear(err);
		return SR_OK;
	}
	if (rc != SR_OK)
		return rc;
	return sr_iam_get_policy_version(c, arn, version, document, err);
}

/* Whether two policy documents hold the same statements. SR_EINVAL when
 * either is not a JSON object. */
static enum sr_rc same_statements(const char *a, const char *b, int *same, struct sr_err *err)
{
	json_t *ja = json_loads(a, 0, NULL), *jb = json_loads(b, 0, NULL);
	enum sr_rc rc = SR_OK;

	*same = 0;
	if (!json_is_object(ja))
		rc = sr_err_set(err, SR_EINVAL, "managed policy: the document to write is not a JSON policy document");
	else if (!json_is_object(jb))
		rc = sr_err_set(err, SR_EINVAL,
				"managed policy: the default version in IAM is not a JSON policy document");
	else
		*same = json_equal(json_object_get(ja, "Statement"), json_object_get(jb, "Statement"));
	json_decref(ja);
	json_decref(jb);
	return rc;
}

static long version_number(const char *id)
{
	return id[0] == 'v' ? strtol(id + 1, NULL, 10) : 0;
}

/* Deletes the oldest non-default versions until fewer than
 * SR_MANAGED_MAX_VERSIONS are left. */
static enum sr_rc make_room(struct sr_aws_conn *c, const char *arn, struct sr_err *err)
{
	struct sr_iam_policy_versions v = {0};
	enum sr_rc rc = sr_iam_list_policy_versions(c, arn, &v, err);
	size_t n = v.n;

	while (rc == SR_OK && n >= SR_MANAGED_MAX_VERSIONS) {
		struct sr_iam_policy_version *oldest = NULL;
		size_t i;
		for (i = 0; i < v.n; i++)
			if (!v.items[i].is_default && v.items[i].id[0] != '\0' &&
			    (oldest == NULL || version_number(v.items[i].id) < version_number(oldest->id)))
				oldest = &v.items[i];
		if (oldest == NULL) { /* cannot happen on IAM: only one version is the default */
			rc = sr_err_set(err, SR_ECONFLICT,
					"managed policy %.200s: %zu versions and none can be deleted", arn, n);
			break;
		}
		rc = sr_iam_delete_policy_version(c, arn, oldest->id, NULL, err);
		if (rc == SR_ENOTFOUND) { /* someone else deleted it */
			sr_err_clear(err);
			rc = SR_OK;
		}
		oldest->id[0] = '\0';
		n--;
	}
	sr_iam_policy_versions_clear(&v);
	return rc;
}

enum sr_rc sr_managed_write(struct sr_aws_conn *c, const struct sr_managed_id *id,
			    const char *document, char *request_id, struct sr_err *err)
{
	char arn[SR_MANAGED_ARN_MAX], got[SR_MANAGED_ARN_MAX], code[80];
	char *current = NULL;
	enum sr_rc rc;
	int same = 0, tries;

	if (request_id != NULL)
		request_id[0] = '\0';
	rc = sr_managed_read(c, id, &current, arn, err);
	if (rc != SR_OK)
		return rc;
	if (current == NULL) {
		json_t *j = json_loads(document, 0, NULL);
		int ok = json_is_object(j);
		json_decref(j);
		if (!ok)
			return sr_err_set(err, SR_EINVAL,
					  "managed policy: the document to write is not a JSON policy document");
		rc = sr_iam_create_policy(c, id->name, id->path, document, got, request_id, err);
		if (rc != SR_ECONFLICT)
			return rc;
		/* EntityAlreadyExists: another writer created it meanwhile */
		sr_err_clear(err);
		rc = sr_managed_read(c, id, &current, arn, err);
		if (rc != SR_OK)
			return rc;
		if (current == NULL)
			return sr_err_set(err, SR_ECONFLICT,
					  "managed policy %.200s could not be created and does not exist", arn);
	}
	rc = same_statements(document, current, &same, err);
	free(current);
	if (rc != SR_OK || same)
		return rc;
	for (tries = 0; tries < 3; tries++) {
		rc = make_room(c, arn, err);
		if (rc != SR_OK)
			return rc;
		rc = sr_iam_create_policy_version(c, arn, document, 1, NULL, request_id, code, err);
		if (rc != SR_ECONFLICT || strcmp(code, "LimitExceeded") != 0)
			return rc;
		/* a version another writer added since make_room(): again */
		if (tries + 1 < 3)
			sr_err_clear(err);
	}
	return rc;
}

enum sr_rc sr_managed_attach(struct sr_aws_conn *c, const char *role, const char *arn,
			     int *attached, struct sr_err *err)
{
	char **arns = NULL, code[80];
	size_t n = 0, i;
	enum sr_rc rc;

	if (attached != NULL)
		*attached = 0;
	rc = sr_iam_list_attached_role_policies(c, role, &arns, &n, err);
	if (rc != SR_OK)
		return rc;
	for (i = 0; i < n; i++)
		if (strcmp(arns[i], arn) == 0)
			break;
	sr_strv_free(arns, n);
	if (i < n)
		return SR_OK;
	rc = sr_iam_attach_role_policy(c, role, arn, NULL, code, err);
	if (rc == SR_ECONFLICT && strcmp(code, "LimitExceeded") == 0) {
		sr_err_clear(err); /* this message says more than IAM's */
		return sr_err_set(err, SR_ECONFLICT,
				  "role %s already has %zu managed policies, as many as its IAM quota allows "
				  "(LimitExceeded): the targeted deny policy cannot be attached; detach one or "
				  "raise the quota \"Managed policies per role\"",
				  role, n);
	}
	if (rc == SR_OK && attached != NULL)
		*attached = 1;
	return rc;
}

enum sr_rc sr_managed_remove(struct sr_aws_conn *c, const char *arn, size_t *detached,
			     struct sr_err *err)
{
	struct sr_iam_policy_versions v = {0};
	char **roles = NULL;
	size_t n = 0, i;
	enum sr_rc rc;

	if (detached != NULL)
		*detached = 0;
	rc = sr_iam_list_policy_roles(c, arn, &roles, &n, err);
	for (i = 0; rc == SR_OK && i < n; i++) {
		rc = sr_iam_detach_role_policy(c, roles[i], arn, NULL, err);
		if (rc == SR_ENOTFOUND) { /* detached (or the role deleted) meanwhile */
			sr_err_clear(err);
			rc = SR_OK;
		} else if (rc == SR_OK && detached != NULL) {
			(*detached)++;
		}
	}
	sr_strv_free(roles, n);
	if (rc == SR_OK)
		rc = sr_iam_list_policy_versions(c, arn, &v, err);
	for (i = 0; rc == SR_OK && i < v.n; i++)
		if (!v.items[i].is_default)
			rc = sr_iam_delete_policy_version(c, arn, v.items[i].id, NULL, err);
	sr_iam_policy_versions_clear(&v);
	if (rc == SR_OK)
		rc = sr_iam_delete_policy(c, arn, NULL, err);
	if (rc == SR_ENOTFOUND) { /* no such policy: nothing to remove */
		sr_err_clear(err);
		rc = SR_OK;
	}
	return rc;
}
