/*
 * document.c - the session revocation document (README.md, "API").
 *
 * DESIGN: strict by default. Unknown fields are refused by name (a typo such
 * as "group" must not silently revoke nothing), every message names the field
 * at fault, and limits on counts and lengths are applied before anything is
 * copied. Duplicate groups are folded, since revoking a group twice is the
 * same as once. The group "*" is every group (the engine's SR_GROUP_ALL:
 * every role that trusts a configured provider); only that exact string, so
 * "*" padded with spaces, a typo that would revoke nothing, is refused, and
 * "team_*" is a group name like any other.
 */
#include "sources_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const doc_fields[] = {"groups", "subjects", "time", "action", "accounts",
					 "reason"};
static const char *const jwt_fields[] = {"iss", "sub", "aud", "exp", "nbf", "iat",
					 "jti", "scope", "permissions", "azp"};

const char *sr_action_name(enum sr_action action)
{
	return action == SR_ACTION_CLEANUP ? "cleanup" : "revoke";
}

void sr_document_free(struct sr_document *doc)
{
	size_t i;

	if (doc == NULL)
		return;
	sr_strv_free(doc->groups, doc->n_groups);
	sr_strv_free(doc->subjects, doc->n_subjects);
	for (i = 0; i < doc->n_accounts; i++)
		free(doc->accounts[i]);
	free(doc->accounts);
	free(doc->time_text);
	free(doc->reason);
	free(doc);
}

static int in_list(const char *key, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(key, list[i]) == 0)
			return 1;
	return 0;
}

static enum sr_rc check_fields(json_t *obj, const struct sr_document_limits *lim,
			       struct sr_err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		if (in_list(key, doc_fields, sizeof(doc_fields) / sizeof(doc_fields[0])))
			continue;
		if (lim->allow_jwt_claims &&
		    in_list(key, jwt_fields, sizeof(jwt_fields) / sizeof(jwt_fields[0])))
			continue;
		return sr_err_set(err, SR_EINVAL, "unknown field \"%.64s\"%s", key,
				  sr_utf8_has_control(key, NULL) ? " (with control characters)" : "");
	}
	return SR_OK;
}

/* Whether s is "*" with spaces around it. */
static int padded_star(const char *s, size_t len)
{
	size_t lead = strspn(s, " ");

	return len > 1 && s[lead] == '*' && lead + 1 + strspn(s + lead + 1, " ") == len;
}

enum sr_rc sr_sources_string_list(json_t *arr, const char *name, size_t max_n, size_t max_len,
				  int is_account, int allow_empty, char ***out, size_t *n_out,
				  struct sr_err *err)
{
	json_t *v;
	size_t i, j;

	if (!json_is_array(arr))
		return sr_err_set(err, SR_EINVAL, "%s: must be an array of strings", name);
	if (json_array_size(arr) == 0 && !allow_empty)
		return sr_err_set(err, SR_EINVAL, "%s: must not be empty", name);
	if (json_array_size(arr) > max_n)
		return sr_err_set(err, SR_EINVAL, "%s: more than %zu entries", name, max_n);
	if (json_array_size(arr) == 0)
		return SR_OK; /* no list: *out stays NULL */
	*out = calloc(json_array_size(arr) + 1, sizeof(char *));
	if (*out == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);
		uint32_t cp = 0;
		int dup = 0;

		if (s == NULL || len == 0)
			return sr_err_set(err, SR_EINVAL, "%s[%zu]: must be a non-empty string", name, i);
		if (len > max_len)
			return sr_err_set(err, SR_EINVAL, "%s[%zu]: longer than %zu characters", name, i, max_len);
		if (strlen(s) != len)
			return sr_err_set(err, SR_EINVAL, "%s[%zu]: holds control characters", name, i);
		if (sr_utf8_has_control(s, &cp))
			return sr_err_set(err, SR_EINVAL,
					  "%s[%zu]: holds control characters (U+%04X, a Unicode control or format character)",
					  name, i, (unsigned)cp);
		if (!is_account && padded_star(s, len))
			return sr_err_set(err, SR_EINVAL,
					  "%s[%zu]: \"%.20s\" is not \"*\" (every group): remove the spaces",
					  name, i, s);
		if (is_account && (len != 12 || strspn(s, "0123456789") != 12))
			return sr_err_set(err, SR_EINVAL, "%s[%zu]: \"%.20s\" is not a 12-digit AWS account id", name, i, s);
		for (j = 0; j < *n_out && !dup; j++)
			dup = strcmp((*out)[j], s) == 0;
		if (dup)
			continue;
		if (((*out)[*n_out] = strdup(s)) == NULL)
			return sr_err_set(err, SR_ENOMEM, "out of memory");
		(*n_out)++;
	}
	return SR_OK;
}

static enum sr_rc parse_time(json_t *t, const struct sr_document_limits *lim,
			     int64_t now, struct sr_document *doc, struct sr_err *err)
{
	enum sr_rc rc;
	char buf[32];

	if (t == NULL || json_is_null(t)) {
		doc->cutoff = now;
		return SR_OK;
	}
	if (json_is_integer(t)) {
		doc->cutoff = json_integer_value(t);
		snprintf(buf, sizeof(buf), "%lld", (long long)doc->cutoff);
		if (doc->cutoff < 0 || doc->cutoff > 253402300799LL)
			return sr_err_set(err, SR_EINVAL, "time: %s is out of range", buf);
		doc->time_text = strdup(buf);
	} else if (json_is_string(t)) {
		if (json_string_length(t) > SR_MAX_TIME_TEXT)
			return sr_err_set(err, SR_EINVAL, "time: longer than %d characters", SR_MAX_TIME_TEXT);
		rc = sr_time_parse(json_string_value(t), now, &doc->cutoff, err);
		if (rc != SR_OK)
			return rc;
		doc->time_text = strdup(json_string_value(t));
	} else {
		return sr_err_set(err, SR_EINVAL, "time: must be a string or whole Unix seconds");
	}
	if (doc->time_text == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	if (doc->cutoff > now + lim->skew)
		return sr_err_set(err, SR_EINVAL, "time: \"%.60s\" is %s, in the future", doc->time_text,
				  sr_time_format(doc->cutoff, buf));
	return SR_OK;
}

/* groups and subjects: at least one of them, neither empty when given. */
static enum sr_rc parse_targets(json_t *obj, const struct sr_document_limits *lim,
				struct sr_document *doc, struct sr_err *err)
{
	json_t *groups = json_object_get(obj, "groups"), *subjects = json_object_get(obj, "subjects");
	enum sr_rc rc;
	size_t i;

	if (groups == NULL && subjects == NULL)
		return sr_err_set(err, SR_EINVAL,
				  "groups: required (or subjects, to revoke people)");
	/* "groups": [] beside subjects says "no group" as leaving it out does */
	if (groups != NULL &&
	    (rc = sr_sources_string_list(groups, "groups", lim->max_groups, lim->max_group_length,
					 0, subjects != NULL, &doc->groups, &doc->n_groups,
					 err)) != SR_OK)
		return rc;
	if (subjects == NULL)
		return SR_OK;
	rc = sr_sources_string_list(subjects, "subjects", SR_MAX_SUBJECTS, 256, 0, 0,
				    &doc->subjects, &doc->n_subjects, err);
	for (i = 0; rc == SR_OK && i < doc->n_subjects; i++) {
		const char *why = sr_subject_problem(lim->principal_tag, doc->subjects[i]);
		if (why != NULL)
			rc = sr_err_set(err, SR_EINVAL, "subjects[%zu]: \"%.64s\" %s", i,
					doc->subjects[i], why);
	}
	return rc;
}

void sr_document_set_cutoffs(struct sr_document *doc, int64_t hold, int64_t token_lifetime)
{
	if (doc->action == SR_ACTION_CLEANUP)
		hold = token_lifetime = 0; /* a cleanup denies no one */
	doc->groups_cutoff = doc->n_groups > 0 ? doc->cutoff + hold : 0;
	doc->subjects_cutoff = doc->n_subjects > 0 ? doc->cutoff + token_lifetime : 0;
}

enum sr_rc sr_document_parse(json_t *obj, const struct sr_document_limits *lim,
			     int64_t now, struct sr_document **out, struct sr_err *err)
{
	enum sr_rc rc;
	struct sr_document *doc;
	json_t *v;

	*out = NULL;
	if (!json_is_object(obj))
		return sr_err_set(err, SR_EINVAL, "the document must be a JSON object");
	if ((rc = check_fields(obj, lim, err)) != SR_OK)
		return rc;
	doc = calloc(1, sizeof(*doc));
	if (doc == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	if ((rc = parse_targets(obj, lim, doc, err)) != SR_OK)
		goto out;
	if ((rc = parse_time(json_object_get(obj, "time"), lim, now, doc, err)) != SR_OK)
		goto out;
	v = json_object_get(obj, "action");
	doc->action = SR_ACTION_REVOKE;
	if (v != NULL) {
		const char *a = json_string_value(v);
		if (a != NULL && strcmp(a, "revoke") == 0)
			doc->action = SR_ACTION_REVOKE;
		else if (a != NULL && strcmp(a, "cleanup") == 0)
			doc->action = SR_ACTION_CLEANUP;
		else {
			rc = sr_err_set(err, SR_EINVAL, "action: must be \"revoke\" or \"cleanup\"");
			goto out;
		}
	}
	v = json_object_get(obj, "accounts");
	if (v != NULL && !json_is_null(v)) {
		rc = sr_sources_string_list(v, "accounts", SR_MAX_ACCOUNTS, 12, 1, 0, &doc->accounts,
				 &doc->n_accounts, err);
		if (rc != SR_OK)
			goto out;
	}
	v = json_object_get(obj, "reason");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) > SR_MAX_REASON ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			rc = sr_err_set(err, SR_EINVAL, "reason: must be a string of at most %d characters",
					SR_MAX_REASON);
			goto out;
		}
		/* Free text for the audit trail: kept, but never with characters
		 * that break a log line or reorder what a reader sees. */
		if ((doc->reason = sr_utf8_strip_controls(json_string_value(v))) == NULL) {
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
			goto out;
		}
	}
out:
	if (rc != SR_OK) {
		sr_document_free(doc);
		return rc;
	}
	*out = doc;
	return SR_OK;
}

enum sr_rc sr_document_parse_text(const char *text, size_t len,
				  const struct sr_document_limits *lim, int64_t now,
				  struct sr_document **out, struct sr_err *err)
{
	enum sr_rc rc;
	json_error_t jerr;
	json_t *obj;

	*out = NULL;
	obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL)
		return sr_err_set(err, SR_EINVAL, "body is not JSON: line %d column %d: %s",
				  jerr.line, jerr.column, jerr.text);
	rc = sr_document_parse(obj, lim, now, out, err);
	json_decref(obj);
	return rc;
}

static json_t *str_array(char **items, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_string(items[i]));
	return arr;
}

json_t *sr_document_to_json(const struct sr_document *doc)
{
	char when[32];
	json_t *o = json_pack("{s:o, s:o, s:s, s:s}", "groups",
			      str_array(doc->groups, doc->n_groups), "subjects",
			      str_array(doc->subjects, doc->n_subjects), "time",
			      sr_time_format(doc->cutoff, when), "action",
			      sr_action_name(doc->action));

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "accounts", doc->accounts
				? str_array(doc->accounts, doc->n_accounts) : json_null());
	json_object_set_new(o, "reason", doc->reason ? json_string(doc->reason) : json_null());
	return o;
}
