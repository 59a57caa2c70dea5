/*
 * rules.c - which rule fires for an event, and the rules as JSON.
 */
#include "ingest_int.h"

#include <string.h>

static const char *const mode_names[] = {
	[SR_RULE_FROM_EVENT] = "from_event",
	[SR_RULE_FIXED] = "fixed",
	[SR_RULE_ALL] = "*",
	[SR_RULE_LOOKUP] = "lookup",
};

const struct sr_rule *sr_rules_match(const struct sr_rules *rules, const char *kind)
{
	size_t i, j;

	for (i = 0; kind != NULL && i < rules->n; i++)
		for (j = 0; j < rules->v[i].n_on; j++)
			if (strcmp(rules->v[i].on[j], kind) == 0)
				return &rules->v[i];
	return NULL;
}

json_t *sr_strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *sr_rules_to_json(const struct sr_rules *rules)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < rules->n; i++) {
		const struct sr_rule *r = &rules->v[i];
		json_t *one = json_pack("{s:s, s:o}", "name", r->name, "on", sr_strv_json(r->on, r->n_on));
		if (r->target_user)
			json_object_set_new(one, "target", json_string("user"));
		else if (r->mode == SR_RULE_FIXED)
			json_object_set_new(one, "groups", sr_strv_json(r->groups, r->n_groups));
		else
			json_object_set_new(one, "groups", json_string(mode_names[r->mode]));
		if (r->mode == SR_RULE_LOOKUP || r->target_user)
			json_object_set_new(one, "fallback", sr_strv_json(r->fallback, r->n_fallback));
		json_array_append_new(a, one);
	}
	return a;
}
