/*
 * mappings.c - revoke.role_mappings and the shape of revoke.providers.
 *
 * Where trust policies name no groups (SAML federations: the IdP maps groups
 * to roles), the configuration says which roles a group reaches:
 *
 *   "role_mappings": [{"group": "team_opsec", "roles": ["Okta-Opsec-*"],
 *                      "accounts": ["111111111111"]}]
 *
 * "roles" are IAM-style globs ('*', '?') on role names; "accounts" (optional)
 * limits an entry to those configured accounts. SR_REVOKE_ROLE_MAPPINGS
 * overrides the whole array with its JSON.
 */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAML_PREFIX "saml-provider/"

/* Characters of an IAM role name, plus the glob characters. */
static int role_pattern_ok(const char *p)
{
	size_t n = strlen(p);

	return n > 0 && n <= 64 &&
	       strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			 "+=,.@_-*?") == n;
}

static int configured_account(const struct sr_config *cfg, const char *id)
{
	size_t i;

	for (i = 0; i < cfg->n_accounts; i++)
		if (strcmp(cfg->accounts[i].id, id) == 0)
			return 1;
	return 0;
}

/* A non-empty array of strings (many), each one passing ok, into l. */
static void load_strings(json_t *arr, const char *at, const char *many, const char *one,
			 int (*ok)(const char *), struct sr_strlist *l,
			 struct sr_config_problems *pr)
{
	char path[160 + 24]; /* at (a path[160] of the caller) + "[%zu]" */
	json_t *v;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		sr_config_problem(pr, at, "required: a non-empty array of %s", many);
		return;
	}
	l->v = calloc(json_array_size(arr) + 1, sizeof(char *));
	if (l->v == NULL)
		return;
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		snprintf(path, sizeof(path), "%s[%zu]", at, i);
		if (s == NULL || !ok(s)) {
			sr_config_problem(pr, path, "must be %s", one);
			continue;
		}
		l->v[l->n] = strdup(s);
		if (l->v[l->n] != NULL)
			l->n++;
	}
}

static int account_id_ok(const char *s)
{
	return strlen(s) == 12 && strspn(s, "0123456789") == 12;
}

static void load_one(struct sr_config *cfg, struct sr_role_mapping *m, json_t *o, const char *at,
		     struct sr_config_problems *pr)
{
	const char *key, *group;
	char path[160];
	json_t *v;
	size_t i;

	if (!json_is_object(o)) {
		sr_config_problem(pr, at, "must be an object {\"group\": ..., \"roles\": [...]}");
		return;
	}
	json_object_foreach(o, key, v) {
		if (strcmp(key, "group") != 0 && strcmp(key, "roles") != 0 &&
		    strcmp(key, "accounts") != 0) {
			snprintf(path, sizeof(path), "%s.%s", at, key);
			sr_config_problem(pr, path, "unknown field (group, roles, accounts)");
		}
	}
	group = json_string_value(json_object_get(o, "group"));
	snprintf(path, sizeof(path), "%s.group", at);
	if (group == NULL || group[0] == '\0')
		sr_config_problem(pr, path, "required: the group name");
	else
		m->group = strdup(group);
	snprintf(path, sizeof(path), "%s.roles", at);
	load_strings(json_object_get(o, "roles"), path, "role name patterns such as \"Okta-Opsec-*\"",
		     "a role name pattern: 1-64 of A-Z a-z 0-9 +=,.@_- and the globs * ?",
		     role_pattern_ok, &m->roles, pr);
	v = json_object_get(o, "accounts");
	if (v == NULL)
		return;
	snprintf(path, sizeof(path), "%s.accounts", at);
	load_strings(v, path, "AWS account ids", "a 12-digit AWS account id", account_id_ok,
		     &m->accounts, pr);
	for (i = 0; i < m->accounts.n; i++) {
		snprintf(path, sizeof(path), "%s.accounts[%zu]", at, i);
		if (!configured_account(cfg, m->accounts.v[i]))
			sr_config_problem(pr, path, "account %s is not configured (aws.accounts)",
					  m->accounts.v[i]);
	}
}

void sr_config_load_role_mappings(struct sr_config *cfg, json_t *root,
				  struct sr_config_problems *pr)
{
	json_t *arr = root ? sr_config_lookup(root, "revoke.role_mappings") : NULL;
	json_t *from_env = NULL;
	const char *env = getenv("SR_REVOKE_ROLE_MAPPINGS");
	const char *where = "revoke.role_mappings";
	size_t i;

	if (env != NULL && env[0] != '\0') {
		json_error_t jerr;
		from_env = json_loads(env, JSON_REJECT_DUPLICATES, &jerr);
		if (from_env == NULL) {
			sr_config_problem(pr, "SR_REVOKE_ROLE_MAPPINGS", "not JSON: %s", jerr.text);
			return;
		}
		arr = from_env;
		where = "SR_REVOKE_ROLE_MAPPINGS";
	}
	if (arr == NULL)
		goto out;
	if (!json_is_array(arr)) {
		sr_config_problem(pr, where, "must be an array of {\"group\", \"roles\", \"accounts\"}");
		goto out;
	}
	cfg->role_mappings = calloc(json_array_size(arr) + 1, sizeof(*cfg->role_mappings));
	if (cfg->role_mappings == NULL)
		goto out;
	for (i = 0; i < json_array_size(arr); i++) {
		char at[64];
		snprintf(at, sizeof(at), "%s[%zu]", where, i);
		load_one(cfg, &cfg->role_mappings[i], json_array_get(arr, i), at, pr);
		cfg->n_role_mappings++;
	}
out:
	json_decref(from_env);
}

void sr_config_check_providers(const struct sr_config *cfg, struct sr_config_problems *pr)
{
	size_t i;

	for (i = 0; i < cfg->providers.n; i++) {
		const char *p = cfg->providers.v[i];
		char path[64];
		snprintf(path, sizeof(path), "revoke.providers[%zu]", i);
		if (p[0] == '\0' || strncmp(p, "arn:", 4) == 0 || strchr(p, ' ') != NULL)
			sr_config_problem(pr, path, "must be an OIDC provider as IAM names it "
				"(auth.example.com/) or saml-provider/NAME, not an ARN");
		else if (strncmp(p, SAML_PREFIX, strlen(SAML_PREFIX)) == 0 &&
			 (strlen(p) == strlen(SAML_PREFIX) || strlen(p) > strlen(SAML_PREFIX) + 128 ||
			  strspn(p + strlen(SAML_PREFIX),
				 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
				  strlen(p) - strlen(SAML_PREFIX)))
			sr_config_problem(pr, path, "saml-provider/NAME: NAME is 1-128 of A-Z a-z 0-9 . _ -");
		else if (strncmp(p, "oidc-provider/", 14) == 0)
			sr_config_problem(pr, path, "write the OIDC provider without oidc-provider/ "
				"(\"%.60s\")", p + 14);
	}
}

static void list_free(struct sr_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

void sr_config_free_role_mappings(struct sr_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_role_mappings; i++) {
		free(cfg->role_mappings[i].group);
		list_free(&cfg->role_mappings[i].roles);
		list_free(&cfg->role_mappings[i].accounts);
	}
	free(cfg->role_mappings);
	cfg->role_mappings = NULL;
	cfg->n_role_mappings = 0;
}

static json_t *strings(const struct sr_strlist *l)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

json_t *sr_config_dump_role_mappings(const struct sr_config *cfg)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < cfg->n_role_mappings; i++) {
		const struct sr_role_mapping *m = &cfg->role_mappings[i];
		json_t *o = json_pack("{s:s?, s:o}", "group", m->group, "roles", strings(&m->roles));
		if (m->accounts.n > 0)
			json_object_set_new(o, "accounts", strings(&m->accounts));
		json_array_append_new(arr, o);
	}
	return arr;
}
