/*
 * match.c - does a role's trust policy let the revoked groups in?
 *
 * DESIGN: a statement counts when it is an Allow of
 * sts:AssumeRoleWithWebIdentity (or sts:* / *) for a Principal.Federated
 * naming oidc-provider/<provider> of a configured provider. It names a group
 * when one of its conditions, under StringEquals / StringLike (with the
 * ForAnyValue: / ForAllValues: set prefixes, the IgnoreCase forms and
 * IfExists), on the key <provider>:<claim> for a configured claim, has a value
 * equal to the group or, for Like, a pattern matching it. Negated operators
 * never let anyone in, so they never count. Keys and action names compare
 * case-insensitively, as IAM does. Every match records why.
 */
#include "session_revoker/revoke.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int sr_match_glob(const char *p, const char *t, int ic)
{
	const char *star = NULL, *retry = NULL;

	while (*t != '\0') {
		if (*p == '*') {
			star = p++;
			retry = t;
		} else if (*p != '\0' && (*p == '?' ||
					  (ic ? tolower((unsigned char)*p) == tolower((unsigned char)*t)
					      : *p == *t))) {
			p++;
			t++;
		} else if (star != NULL) {
			p = star + 1;
			t = ++retry;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* Calls fn on each string of v (a string or an array of strings). */
static int any_string(json_t *v, int (*fn)(const char *, void *), void *arg)
{
	size_t i;
	json_t *e;

	if (json_is_string(v))
		return fn(json_string_value(v), arg);
	json_array_foreach(v, i, e)
		if (json_is_string(e) && fn(json_string_value(e), arg))
			return 1;
	return 0;
}

static int is_web_identity_action(const char *a, void *arg)
{
	(void)arg;
	return strcasecmp(a, "sts:AssumeRoleWithWebIdentity") == 0 ||
	       strcasecmp(a, "sts:*") == 0 || strcmp(a, "*") == 0;
}

struct federated {
	const struct sr_match_rules *rules;
	unsigned long long which; /* bit i: rules->providers[i] is federated */
};

static int names_provider(const char *arn, void *arg)
{
	struct federated *f = arg;
	const char *p = strstr(arn, ":oidc-provider/");
	size_t i;

	if (strncmp(arn, "arn:", 4) != 0 || p == NULL)
		return 0;
	p += strlen(":oidc-provider/");
	for (i = 0; i < f->rules->n_providers && i < 64; i++)
		if (strcmp(p, f->rules->providers[i]) == 0)
			f->which |= 1ull << i;
	return 0; /* look at every value */
}

/* The base operator: 1 Equals, 2 Like, 0 anything else. *ic: IgnoreCase. */
static int operator_kind(const char *op, int *ic)
{
	char base[64];
	size_t n;

	if (strncasecmp(op, "ForAnyValue:", 12) == 0)
		op += 12;
	else if (strncasecmp(op, "ForAllValues:", 13) == 0)
		op += 13;
	snprintf(base, sizeof(base), "%s", op);
	n = strlen(base);
	if (n > 8 && strcasecmp(base + n - 8, "IfExists") == 0)
		base[n -= 8] = '\0';
	*ic = n > 10 && strcasecmp(base + n - 10, "IgnoreCase") == 0;
	if (*ic)
		base[n - 10] = '\0';
	if (strcasecmp(base, "StringEquals") == 0)
		return 1;
	if (strcasecmp(base, "StringLike") == 0)
		return 2;
	return 0;
}

/* Whether key is <provider>:<claim> for a provider this statement
 * federates and a configured claim. */
static int group_key(const char *key, const struct federated *f)
{
	const struct sr_match_rules *rules = f->rules;
	size_t i, j;

	for (i = 0; i < rules->n_providers && i < 64; i++) {
		size_t pl = strlen(rules->providers[i]);
		if (!(f->which & (1ull << i)))
			continue;
		if (strncasecmp(key, rules->providers[i], pl) != 0 || key[pl] != ':')
			continue;
		for (j = 0; j < rules->n_claims; j++)
			if (strcasecmp(key + pl + 1, rules->claims[j]) == 0)
				return 1;
	}
	return 0;
}

static void add_reason(struct sr_match *out, const char *stmt, const char *op,
		       const char *key, const char *value, const char *group)
{
	struct sr_match_reason *r;

	out->matched = 1;
	if (out->n_reasons >= SR_MATCH_MAX_REASONS)
		return;
	r = &out->reasons[out->n_reasons++];
	snprintf(r->statement, sizeof(r->statement), "%s", stmt);
	snprintf(r->op, sizeof(r->op), "%s", op);
	snprintf(r->key, sizeof(r->key), "%s", key);
	snprintf(r->value, sizeof(r->value), "%s", value);
	snprintf(r->group, sizeof(r->group), "%s", group);
}

static void match_statement(json_t *st, const char *name, const struct sr_match_rules *rules,
			    char *const *groups, size_t n_groups, struct sr_match *out)
{
	json_t *cond, *ops_v, *v, *e;
	const char *op, *key;
	size_t i, g;

	const char *effect = json_string_value(json_object_get(st, "Effect"));
	struct federated fed = {rules, 0};

	if (!json_is_object(st) || effect == NULL || strcmp(effect, "Allow") != 0 ||
	    !any_string(json_object_get(st, "Action"), is_web_identity_action, NULL))
		return;
	any_string(json_object_get(json_object_get(st, "Principal"), "Federated"),
		   names_provider, &fed);
	if (fed.which == 0)
		return;
	cond = json_object_get(st, "Condition");
	json_object_foreach(cond, op, ops_v) {
		int ic, kind = operator_kind(op, &ic);
		if (kind == 0 || !json_is_object(ops_v))
			continue;
		json_object_foreach(ops_v, key, v) {
			json_t *one = json_is_array(v) ? NULL : v;
			if (!group_key(key, &fed))
				continue;
			for (i = 0; one != NULL ? i < 1 : i < json_array_size(v); i++) {
				const char *val;
				e = one != NULL ? one : json_array_get(v, i);
				val = json_string_value(e);
				if (val == NULL)
					continue;
				for (g = 0; g < n_groups; g++) {
					int hit = kind == 1 ? (ic ? strcasecmp(val, groups[g]) == 0
								  : strcmp(val, groups[g]) == 0)
							    : sr_match_glob(val, groups[g], ic);
					if (hit)
						add_reason(out, name, op, key, val, groups[g]);
				}
			}
		}
	}
}

enum sr_rc sr_match_trust_policy(const char *policy, const struct sr_match_rules *rules,
				 char *const *groups, size_t n_groups, struct sr_match *out,
				 struct sr_err *err)
{
	json_error_t jerr;
	json_t *doc, *stmts, *st;
	size_t i;
	char name[64];

	memset(out, 0, sizeof(*out));
	if (policy == NULL)
		return sr_err_set(err, SR_EINVAL, "no trust policy");
	doc = json_loads(policy, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL || !json_is_object(doc)) {
		json_decref(doc);
		return sr_err_set(err, SR_EINVAL, "trust policy is not a JSON object");
	}
	stmts = json_object_get(doc, "Statement");
	if (json_is_object(stmts)) {
		const char *sid = json_string_value(json_object_get(stmts, "Sid"));
		snprintf(name, sizeof(name), "%s", sid ? sid : "Statement");
		match_statement(stmts, name, rules, groups, n_groups, out);
	} else {
		json_array_foreach(stmts, i, st) {
			const char *sid = json_string_value(json_object_get(st, "Sid"));
			if (sid != NULL)
				snprintf(name, sizeof(name), "%s", sid);
			else
				snprintf(name, sizeof(name), "Statement[%zu]", i);
			match_statement(st, name, rules, groups, n_groups, out);
		}
	}
	json_decref(doc);
	return SR_OK;
}

static int statement_trusts_provider(json_t *st, const struct sr_match_rules *rules)
{
	const char *effect = json_string_value(json_object_get(st, "Effect"));
	struct federated fed = {rules, 0};

	if (!json_is_object(st) || effect == NULL || strcmp(effect, "Allow") != 0 ||
	    !any_string(json_object_get(st, "Action"), is_web_identity_action, NULL))
		return 0;
	any_string(json_object_get(json_object_get(st, "Principal"), "Federated"),
		   names_provider, &fed);
	return fed.which != 0;
}

int sr_match_trusts_provider(const char *policy, const struct sr_match_rules *rules)
{
	json_t *doc = policy ? json_loads(policy, JSON_REJECT_DUPLICATES, NULL) : NULL;
	json_t *stmts = json_object_get(doc, "Statement"), *st;
	int found = 0;
	size_t i;

	if (json_is_object(stmts))
		found = statement_trusts_provider(stmts, rules);
	json_array_foreach(stmts, i, st)
		if (!found)
			found = statement_trusts_provider(st, rules);
	json_decref(doc);
	return found;
}
