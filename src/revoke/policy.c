/*
 * policy.c - session-revoker's deny statement inside a role's inline policy.
 *
 * DESIGN: the policy is a document of statements that we merge, not a fixed
 * string: our statement (Sid SessionRevokerDenyOldSessions) is Deny * on *
 * when aws:TokenIssueTime is before the cut-off; a later revocation only
 * raises that cut-off (a later cut-off denies a superset of sessions), an
 * earlier one leaves it; statements that are not ours are kept as they are,
 * so a later, user-targeted statement (aws:SourceIdentity) can live beside it.
 */
#include "session_revoker/revoke.h"

#include <stdlib.h>
#include <string.h>

static json_t *our_statement(int64_t cutoff)
{
	char when[32];

	return json_pack("{s:s, s:s, s:s, s:s, s:{s:{s:s}}}", "Sid", SR_DENY_SID, "Effect", "Deny",
			 "Action", "*", "Resource", "*", "Condition", "DateLessThan",
			 "aws:TokenIssueTime", sr_time_format(cutoff, when));
}

static int is_ours(json_t *st)
{
	const char *sid = json_string_value(json_object_get(st, "Sid"));

	return sid != NULL && strcmp(sid, SR_DENY_SID) == 0;
}

/* The statements of doc as a new array (an object statement becomes one). */
static json_t *statements(json_t *doc)
{
	json_t *s = json_object_get(doc, "Statement");

	if (json_is_array(s))
		return json_incref(s);
	if (json_is_object(s))
		return json_pack("[O]", s);
	return json_array();
}

static int64_t statement_cutoff(json_t *st)
{
	const char *t = json_string_value(json_object_get(
		json_object_get(json_object_get(st, "Condition"), "DateLessThan"),
		"aws:TokenIssueTime"));
	int64_t v = 0;

	if (t == NULL || sr_time_parse(t, sr_clock_now(), &v, NULL) != SR_OK)
		return 0;
	return v;
}

static enum sr_rc load(const char *text, json_t **doc, struct sr_err *err)
{
	json_error_t jerr;

	*doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (*doc == NULL || !json_is_object(*doc)) {
		json_decref(*doc);
		*doc = NULL;
		return sr_err_set(err, SR_EINVAL, "policy document is not a JSON object");
	}
	return SR_OK;
}

enum sr_rc sr_deny_policy_cutoff(const char *policy, int64_t *cutoff, struct sr_err *err)
{
	json_t *doc, *stmts, *st;
	size_t i;

	*cutoff = 0;
	if (load(policy, &doc, err) != SR_OK)
		return SR_EINVAL;
	stmts = statements(doc);
	json_array_foreach(stmts, i, st)
		if (is_ours(st) && statement_cutoff(st) > *cutoff)
			*cutoff = statement_cutoff(st);
	json_decref(stmts);
	json_decref(doc);
	return SR_OK;
}

enum sr_rc sr_deny_policy_merge(const char *existing, int64_t cutoff, char **out,
				int64_t *effective, struct sr_err *err)
{
	json_t *doc = NULL, *stmts, *merged, *st;
	int64_t have = 0;
	size_t i;

	*out = NULL;
	if (existing != NULL && load(existing, &doc, err) != SR_OK)
		return SR_EINVAL;
	stmts = doc ? statements(doc) : json_array();
	merged = json_array();
	json_array_foreach(stmts, i, st) {
		if (is_ours(st)) {
			if (statement_cutoff(st) > have)
				have = statement_cutoff(st);
			continue;
		}
		json_array_append(merged, st);
	}
	*effective = have > cutoff ? have : cutoff;
	json_array_append_new(merged, our_statement(*effective));
	json_decref(stmts);
	json_decref(doc);
	doc = json_pack("{s:s, s:o}", "Version", "2012-10-17", "Statement", merged);
	*out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (*out == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	return SR_OK;
}

enum sr_rc sr_deny_policy_remove(const char *existing, char **out, struct sr_err *err)
{
	json_t *doc, *stmts, *kept, *st;
	size_t i;

	*out = NULL;
	if (load(existing, &doc, err) != SR_OK)
		return SR_EINVAL;
	stmts = statements(doc);
	kept = json_array();
	json_array_foreach(stmts, i, st)
		if (!is_ours(st))
			json_array_append(kept, st);
	json_decref(stmts);
	if (json_array_size(kept) > 0) {
		json_object_set(doc, "Statement", kept);
		*out = json_dumps(doc, JSON_COMPACT);
		if (*out == NULL) {
			json_decref(kept);
			json_decref(doc);
			return sr_err_set(err, SR_ENOMEM, "out of memory");
		}
	}
	json_decref(kept);
	json_decref(doc);
	return SR_OK;
}
