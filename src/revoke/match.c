/*
 * match.c - does a role's trust policy let the revoked groups in?
 *
 * DESIGN: a statement counts when it is an Allow of
 * sts:AssumeRoleWithWebIdentity (or sts:* / *) for a Principal.Federated
 * naming oidc-provider/<provider> of a configured provider, or an Allow of
 * sts:AssumeRoleWithSAML (or sts:* / *) naming a configured
 * saml-provider/<name>. It names a group when one of its conditions, under
 * StringEquals / StringLike (with the ForAnyValue: / ForAllValues: set
 * prefixes, the IgnoreCase forms and IfExists), on the key <provider>:<claim>
 * (SAML: SAML:<claim>) for a configured claim, has a value equal to the group
 * or, for Like, a pattern matching it. Negated operators never let anyone in,
 * so they never count. Keys and action names compare case-insensitively, as
 * IAM does. Every match records why.
 *
 * Where trust policies name no groups (SAML federations mostly: the IdP maps
 * groups to roles), a role that trusts a configured provider is also reached
 * by the groups its session-revoker:groups tag names, and by the
 * revoke.role_mappings of the configuration (group -> role name patterns).
 *
 * The group "*" (SR_GROUP_ALL, and only that exact string: "team_*" is the
 * name of a group, no pattern) is every group: every statement that lets a
 * configured provider in counts, whatever its conditions, and so does every
 * mapping and every group a tag names. Its reason names the federated
 * principal that let the provider in.
 */
#include "session_revoker/revoke.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int sr_match_names_all(char *const *groups, size_t n_groups)
{
	size_t g;

	for (g = 0; g < n_groups; g++)
		if (strcmp(groups[g], SR_GROUP_ALL) == 0)
			return 1;
	return 0;
}

enum sr_rc sr_match_cleanup_groups(char *const *groups, size_t n_groups, char ***out,
				   size_t *n_out, struct sr_err *err)
{
	*out = NULL;
	*n_out = 0;
	if (sr_match_names_all(groups, n_groups))
		return SR_OK;
	if ((*out = calloc(n_groups + 1, sizeof(char *))) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	if (n_groups > 0)
		memcpy(*out, groups, n_groups * sizeof(char *));
	(*out)[n_groups] = (char *)SR_GROUP_ALL;
	*n_out = n_groups + 1;
	return SR_OK;
}

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

static int is_saml_action(const char *a, void *arg)
{
	(void)arg;
	return strcasecmp(a, "sts:AssumeRoleWithSAML") == 0 || strcasecmp(a, "sts:*") == 0 ||
	       strcmp(a, "*") == 0;
}

#define SAML_PREFIX "saml-provider/"

/* A configured provider is SAML when it is written saml-provider/NAME. */
static int is_saml(const char *provider)
{
	return strncmp(provider, SAML_PREFIX, strlen(SAML_PREFIX)) == 0;
}

struct federated {
	const struct sr_match_rules *rules;
	int web, saml;            /* the statement allows that kind's action */
	unsigned long long which; /* bit i: rules->providers[i] is federated */
	const char *arn;          /* the first principal naming one of them */
};

static int names_provider(const char *arn, void *arg)
{
	struct federated *f = arg;
	const char *oidc = strstr(arn, ":oidc-provider/"), *saml = strstr(arn, ":" SAML_PREFIX);
	size_t i;

	if (strncmp(arn, "arn:", 4) != 0)
		return 0;
	for (i = 0; i < f->rules->n_providers && i < 64; i++) {
		const char *prov = f->rules->providers[i];
		if (is_saml(prov) ? f->saml && saml != NULL && strcmp(saml + 1, prov) == 0
				  : f->web && oidc != NULL &&
					    strcmp(oidc + strlen(":oidc-provider/"), prov) == 0) {
			f->which |= 1ull << i;
			if (f->arn == NULL)
				f->arn = arn;
		}
	}
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
		/* SAML's condition keys are SAML:<attribute>, whatever the provider. */
		const char *prefix = is_saml(rules->providers[i]) ? "SAML" : rules->providers[i];
		size_t pl = strlen(prefix);
		if (!(f->which & (1ull << i)))
			continue;
		if (strncasecmp(key, prefix, pl) != 0 || key[pl] != ':')
			continue;
		for (j = 0; j < rules->n_claims; j++)
			if (strcasecmp(key + pl + 1, rules->claims[j]) == 0)
				return 1;
	}
	return 0;
}

static void add_reason(struct sr_match *out, const char *source, const char *stmt,
		       const char *op, const char *key, const char *value, const char *group)
{
	struct sr_match_reason *r;

	out->matched = 1;
	if (out->n_reasons >= SR_MATCH_MAX_REASONS)
		return;
	r = &out->reasons[out->n_reasons++];
	snprintf(r->source, sizeof(r->source), "%s", source);
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
	struct federated fed = {rules, 0, 0, 0, NULL};
	int all = sr_match_names_all(groups, n_groups);

	if (!json_is_object(st) || effect == NULL || strcmp(effect, "Allow") != 0)
		return;
	fed.web = any_string(json_object_get(st, "Action"), is_web_identity_action, NULL);
	fed.saml = any_string(json_object_get(st, "Action"), is_saml_action, NULL);
	if (!fed.web && !fed.saml)
		return;
	any_string(json_object_get(json_object_get(st, "Principal"), "Federated"),
		   names_provider, &fed);
	if (fed.which == 0)
		return;
	out->federated = 1;
	for (i = 0; i < rules->n_providers && i < 64; i++)
		if ((fed.which >> i & 1) && is_saml(rules->providers[i]))
			out->federated_saml = 1;
	if (all) { /* every group: what the conditions name adds nothing */
		add_reason(out, "trust", name, "federated", "Principal.Federated", fed.arn,
			   SR_GROUP_ALL);
		return;
	}
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
						add_reason(out, "trust", name, op, key, val,
							   groups[g]);
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

int sr_match_tag(const char *value, char *const *groups, size_t n_groups, struct sr_match *out)
{
	const char *p = value;
	size_t g, len;
	int hit = 0;

	while (p != NULL && *(p += strspn(p, " ,")) != '\0') {
		len = strcspn(p, " ,");
		if (sr_match_names_all(groups, n_groups)) {
			/* every group: the tag names one */
			add_reason(out, "tag", "tag", "tag", SR_GROUPS_TAG, value, SR_GROUP_ALL);
			return 1;
		}
		for (g = 0; g < n_groups; g++)
			if (strlen(groups[g]) == len && strncmp(p, groups[g], len) == 0) {
				add_reason(out, "tag", "tag", "tag", SR_GROUPS_TAG, value, groups[g]);
				hit = 1;
			}
		p += len;
	}
	return hit;
}

static int listed(const struct sr_strlist *l, const char *s)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

int sr_match_mapping(const struct sr_match_rules *rules, const char *account,
		     const char *role_name, char *const *groups, size_t n_groups,
		     struct sr_match *out)
{
	size_t i, g, j;
	int hit = 0;

	for (i = 0; i < rules->n_mappings; i++) {
		const struct sr_role_mapping *m = &rules->mappings[i];
		char where[64];
		if (m->accounts.n > 0 && !listed(&m->accounts, account))
			continue;
		for (g = 0; g < n_groups; g++) {
			if (strcmp(m->group, groups[g]) != 0 && strcmp(groups[g], SR_GROUP_ALL) != 0)
				continue;
			for (j = 0; j < m->roles.n; j++)
				if (sr_match_glob(m->roles.v[j], role_name, 1)) {
					snprintf(where, sizeof(where), "revoke.role_mappings[%zu]", i);
					add_reason(out, "mapping", where, "mapping", "role name",
						   m->roles.v[j], groups[g]);
					hit = 1;
					break;
				}
		}
	}
	return hit;
}

const char *sr_match_unmodifiable(const char *path)
{
	if (strncmp(path, "/aws-reserved/sso.amazonaws.com/", 32) == 0)
		return "IAM Identity Center role (path /aws-reserved/sso.amazonaws.com/): AWS lets no "
		       "one add an inline policy (UnmodifiableEntity); revoke the sessions in IAM "
		       "Identity Center, or deny them with an SCP";
	if (strncmp(path, "/aws-service-role/", 18) == 0)
		return "service-linked role (path /aws-service-role/): only its AWS service may "
		       "change it (UnmodifiableEntity); its sessions cannot be revoked";
	return NULL;
}
