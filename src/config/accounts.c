/*
 * accounts.c - aws.accounts: where the engine works.
 *
 * Each entry: {"id": "111111111111", "role_name": "SessionRevokerAdmin"} or
 * {"id": ..., "role_arn": "arn:...:role/..."} (either with an optional
 * "external_id"), or {"id": ..., "base_credentials": true} for the account
 * the service's own credentials belong to. SR_AWS_ACCOUNTS overrides the
 * whole array with its JSON.
 */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *partition_of(const struct sr_config *cfg)
{
	return cfg->aws_partition ? cfg->aws_partition : "aws";
}

static void load_one(struct sr_config *cfg, struct sr_account *a, json_t *o, const char *at,
		     struct sr_config_problems *pr)
{
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *role_name = json_string_value(json_object_get(o, "role_name"));
	const char *role_arn = json_string_value(json_object_get(o, "role_arn"));
	const char *ext = json_string_value(json_object_get(o, "external_id"));
	json_t *base = json_object_get(o, "base_credentials");
	const char *key;
	json_t *v;
	char path[160];

	if (!json_is_object(o)) {
		sr_config_problem(pr, at, "must be an object");
		return;
	}
	json_object_foreach(o, key, v) {
		if (strcmp(key, "id") != 0 && strcmp(key, "role_name") != 0 &&
		    strcmp(key, "role_arn") != 0 && strcmp(key, "external_id") != 0 &&
		    strcmp(key, "base_credentials") != 0) {
			snprintf(path, sizeof(path), "%s.%s", at, key);
			sr_config_problem(pr, path, "unknown field");
		}
	}
	snprintf(path, sizeof(path), "%s.id", at);
	if (id == NULL || strlen(id) != 12 || strspn(id, "0123456789") != 12)
		sr_config_problem(pr, path, "required: a 12-digit AWS account id");
	else
		snprintf(a->id, sizeof(a->id), "%s", id);
	if ((role_name != NULL) + (role_arn != NULL) + json_is_true(base) != 1) {
		sr_config_problem(pr, at, "needs exactly one of role_name, role_arn, base_credentials: true");
		return;
	}
	if (role_arn != NULL) {
		snprintf(path, sizeof(path), "%s.role_arn", at);
		if (strncmp(role_arn, "arn:", 4) != 0 || strstr(role_arn, ":role/") == NULL ||
		    (id != NULL && strstr(role_arn, id) == NULL))
			sr_config_problem(pr, path, "must be a role ARN in account %s",
					  id ? id : "(id)");
		a->role_arn = strdup(role_arn);
	} else if (role_name != NULL) {
		size_t n = strlen(role_name) + 64;
		a->role_arn = malloc(n);
		if (a->role_arn != NULL)
			snprintf(a->role_arn, n, "arn:%s:iam::%s:role/%s", partition_of(cfg),
				 id ? id : "", role_name);
	}
	if (ext != NULL) {
		snprintf(path, sizeof(path), "%s.external_id", at);
		if (a->role_arn == NULL)
			sr_config_problem(pr, path, "only with role_name or role_arn");
		a->external_id = strdup(ext);
	}
}

void sr_config_load_accounts(struct sr_config *cfg, json_t *root,
			     struct sr_config_problems *pr)
{
	json_t *arr = root ? sr_config_lookup(root, "aws.accounts") : NULL;
	json_t *from_env = NULL;
	const char *env = getenv("SR_AWS_ACCOUNTS");
	const char *where = "aws.accounts";
	size_t i, j;

	if (env != NULL && env[0] != '\0') {
		json_error_t jerr;
		from_env = json_loads(env, JSON_REJECT_DUPLICATES, &jerr);
		if (from_env == NULL) {
			sr_config_problem(pr, "SR_AWS_ACCOUNTS", "not JSON: %s", jerr.text);
			return;
		}
		arr = from_env;
		where = "SR_AWS_ACCOUNTS";
	}
	if (arr == NULL)
		goto out;
	if (!json_is_array(arr)) {
		sr_config_problem(pr, where, "must be an array of accounts");
		goto out;
	}
	cfg->accounts = calloc(json_array_size(arr) + 1, sizeof(*cfg->accounts));
	if (cfg->accounts == NULL)
		goto out;
	for (i = 0; i < json_array_size(arr); i++) {
		char at[64];
		snprintf(at, sizeof(at), "%s[%zu]", where, i);
		load_one(cfg, &cfg->accounts[i], json_array_get(arr, i), at, pr);
		cfg->n_accounts++;
		for (j = 0; j < i; j++)
			if (cfg->accounts[i].id[0] != '\0' &&
			    strcmp(cfg->accounts[j].id, cfg->accounts[i].id) == 0)
				sr_config_problem(pr, at, "account %s is listed twice",
						  cfg->accounts[i].id);
	}
out:
	json_decref(from_env);
}

void sr_config_free_accounts(struct sr_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_accounts; i++) {
		free(cfg->accounts[i].role_arn);
		free(cfg->accounts[i].external_id);
	}
	free(cfg->accounts);
	cfg->accounts = NULL;
	cfg->n_accounts = 0;
}

json_t *sr_config_dump_accounts(const struct sr_config *cfg)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < cfg->n_accounts; i++) {
		const struct sr_account *a = &cfg->accounts[i];
		json_t *o = json_pack("{s:s}", "id", a->id);
		if (a->role_arn)
			json_object_set_new(o, "role_arn", json_string(a->role_arn));
		else
			json_object_set_new(o, "base_credentials", json_true());
		if (a->external_id)
			json_object_set_new(o, "external_id", json_string(a->external_id));
		json_array_append_new(arr, o);
	}
	return arr;
}
