/*
 * report.c - the engine's report: one log line per role written, the JSON
 * the CLI prints, and freeing it.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One log line per role whose policy was written (or that AWS refused to
 * let anyone write): the audit trail beside the report. */
void sr_revoke_log_role(const struct sr_role_result *r)
{
	static const char *const logged[] = {"denied", "trimmed", "deleted", "unmodifiable", NULL};
	char cut[32], quoted[300], rid[200], role[200];
	size_t i;

	for (i = 0; logged[i] != NULL && strcmp(logged[i], r->outcome) != 0; i++)
		;
	if (logged[i] == NULL)
		return;
	sr_log(SR_LOG_INFO, "engine.role", "account=%s role=%s outcome=%s cutoff=%s request_id=%s%s%s",
	       r->account, sr_log_value(role, sizeof(role), r->role_name), r->outcome, r->cutoff ? sr_time_format(r->cutoff, cut) : "-",
	       sr_log_quote(rid, sizeof(rid), r->request_id[0] ? r->request_id : "-"),
	       r->error[0] ? " detail=" : "",
	       r->error[0] ? sr_log_quote(quoted, sizeof(quoted), r->error) : "");
}

void sr_engine_report_clear(struct sr_engine_report *rep)
{
	free(rep->roles);
	free(rep->accounts);
	memset(rep, 0, sizeof(*rep));
}

static json_t *time_or_null(int64_t t)
{
	char buf[32];

	return t ? json_string(sr_time_format(t, buf)) : json_null();
}

static json_t *str_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

json_t *sr_engine_report_json(const struct sr_engine_report *rep)
{
	static const char *const modes[] = {"plan", "revoke", "cleanup"};
	json_t *accounts = json_array(), *roles = json_array();
	size_t i, j;

	for (i = 0; i < rep->n_accounts; i++) {
		const struct sr_account_result *a = &rep->accounts[i];
		json_array_append_new(accounts, json_pack("{s:s, s:o, s:i, s:i, s:I}", "id", a->id,
			"error", str_or_null(a->error), "roles_seen", a->roles_seen,
			"matched", a->matched, "aws_calls", (json_int_t)a->aws_calls));
	}
	for (i = 0; i < rep->n_roles; i++) {
		const struct sr_role_result *r = &rep->roles[i];
		json_t *why = json_array();
		for (j = 0; j < r->match.n_reasons; j++) {
			const struct sr_match_reason *m = &r->match.reasons[j];
			json_array_append_new(why, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
				"source", m->source, "statement", m->statement, "operator", m->op,
				"key", m->key, "value", m->value, "group", m->group));
		}
		json_t *role = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			"account", r->account, "role", r->role_name, "arn", r->role_arn,
			"outcome", r->outcome, "cutoff", time_or_null(r->cutoff),
			"due", time_or_null(r->due), "request_id", str_or_null(r->request_id),
			"error", str_or_null(r->error), "reasons", why,
			"visited", str_or_null(r->visited ? r->visited : ""),
			"recheck", str_or_null(r->recheck ? r->recheck : ""),
			"unsettled_until", time_or_null(r->unsettled));
		/* a role worked on for people: who is in, what is used and left */
		if (role != NULL && r->targeted && r->chars_used > 0)
			json_object_set_new(role, "people", json_pack("{s:i, s:i, s:b, s:I, s:o}",
				"denied", r->people, "not_written", r->unwritten,
				"in_managed_policy", r->managed,
				"characters_used", (json_int_t)r->chars_used, "characters_left",
				r->chars_left >= 0 ? json_integer(r->chars_left) : json_null()));
		json_array_append_new(roles, role);
	}
	return json_pack("{s:s, s:o, s:o, s:i}", "mode", modes[rep->mode], "accounts", accounts,
			 "roles", roles, "failed", rep->failed);
}
