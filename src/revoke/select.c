/*
 * select.c - which roles a run works on: those whose trust policy lets a
 * revoked group in through a configured provider, those a revoke.role_mappings
 * entry or their session-revoker:groups tag names (for roles that trust a
 * configured provider), and for cleanup the roles that no longer match but
 * carry the deny policy (the store's record, or found by their inline policy
 * names). Roles AWS lets no one edit are settled here as unmodifiable.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Adds a role to the ones this run works on (its trust policy moves).
 * visited: why a role that does not match is visited, NULL when it matched. */
static void take_role(struct account_run *run, struct sr_iam_role *role, const char *visited)
{
	struct sr_role_result *r = &run->roles[run->n_roles];

	snprintf(r->account, sizeof(r->account), "%s", run->acct->id);
	snprintf(r->role_name, sizeof(r->role_name), "%s", role->name);
	snprintf(r->role_arn, sizeof(r->role_arn), "%s", role->arn);
	r->outcome = run->req->mode == SR_ENGINE_PLAN ? "match" : "failed";
	r->visited = visited;
	if (run->req->mode != SR_ENGINE_PLAN)
		snprintf(r->error, sizeof(r->error), "not reached");
	run->iam[run->n_roles] = *role;
	role->trust_policy = NULL; /* moved */
	role->name[0] = '\0';     /* taken */
	run->n_roles++;
}

static int has_policy(char *const *names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

/* Whether the role trusts a configured provider at all: a role federated
 * users can reach. */
static int trusts_a_provider(struct account_run *run, const struct sr_iam_role *role)
{
	struct sr_match m;

	return sr_match_trust_policy(role->trust_policy, &run->e->rules, NULL, 0, &m, NULL) ==
		       SR_OK && m.federated;
}

/* Cleanup: the roles that do not match today but carry (or may carry) our
 * deny policy: those the caller names (the store's record of what this
 * revocation denied) and, with req->discover, every role trusting a
 * configured provider whose inline policies include ours. */
enum sr_rc sr_revoke_add_visited(struct account_run *run, struct sr_aws_conn *c,
				 struct sr_iam_roles *all, struct sr_err *err)
{
	const struct sr_engine_request *req = run->req;
	enum sr_rc rc = SR_OK;
	size_t i;

	for (i = 0; i < all->n && rc == SR_OK; i++) {
		struct sr_iam_role *role = &all->items[i];
		char **names = NULL;
		size_t n = 0;
		if (role->name[0] == '\0')
			continue; /* matched */
		if (has_policy(req->visit, req->n_visit, role->arn)) {
			take_role(run, role, "recorded");
			continue;
		}
		if (!req->discover || !trusts_a_provider(run, role))
			continue;
		rc = sr_iam_list_role_policies(c, role->name, &names, &n, err);
		/* one call per role: a long search may outlive the credentials */
		if (rc != SR_OK && sr_revoke_creds_refused(err->msg) &&
		    sr_revoke_renew_creds(run, c, run->key_id) == SR_OK) {
			sr_err_clear(err);
			sr_strv_free(names, n);
			rc = sr_iam_list_role_policies(c, role->name, &names, &n, err);
		}
		if (rc == SR_OK && has_policy(names, n, run->e->cfg->policy_name))
			take_role(run, role, "discovered");
		sr_strv_free(names, n);
	}
	return rc;
}

/* Whether a role's tags can select it: it trusts a configured provider (a
 * SAML one with revoke.role_tags "saml", the default: their trust policies
 * seldom name groups), and neither its trust policy nor a mapping selects it
 * already. The tag costs a ListRoleTags call per role; the others nothing. */
static int needs_tags(struct account_run *run, const struct sr_iam_role *role)
{
	const struct sr_engine_request *req = run->req;
	const char *which = run->e->cfg->role_tags;
	struct sr_match m;

	if (req->n_groups == 0 || strcmp(which, "off") == 0 ||
	    sr_match_trust_policy(role->trust_policy, &run->e->rules, req->groups, req->n_groups,
				  &m, NULL) != SR_OK ||
	    !m.federated || m.matched || (strcmp(which, "all") != 0 && !m.federated_saml))
		return 0;
	return !sr_match_mapping(&run->e->rules, run->acct->id, role->name, req->groups,
				 req->n_groups, &m);
}

static void *tag_worker(void *arg)
{
	struct role_tags *t = arg;
	struct sr_aws_conn *c = NULL;
	struct sr_err err = {0};
	char key_id[128];
	size_t k;

	if (sr_aws_conn_new(&t->run->e->ep, &t->run->creds, &c, &err) != SR_OK)
		c = NULL;
	snprintf(key_id, sizeof(key_id), "%s", t->run->creds.access_key_id);
	while ((k = atomic_fetch_add(&t->next, 1)) < t->n_to_read) {
		size_t i = t->to_read[k];
		enum sr_rc rc;
		sr_err_clear(&err);
		if (c == NULL) {
			t->error[i] = strdup("no connection to AWS");
			continue;
		}
		rc = sr_iam_role_tag(c, t->all->items[i].name, SR_GROUPS_TAG, &t->value[i], &err);
		/* credentials AWS refuses are renewed, as for the roles' writes */
		if (rc != SR_OK && sr_revoke_creds_refused(err.msg) && sr_revoke_renew_creds(t->run, c, key_id) == SR_OK) {
			sr_err_clear(&err);
			rc = sr_iam_role_tag(c, t->all->items[i].name, SR_GROUPS_TAG, &t->value[i],
					     &err);
		}
		if (rc != SR_OK)
			t->error[i] = strdup(err.msg);
	}
	if (c != NULL)
		atomic_fetch_add(&t->run->calls, sr_aws_conn_requests(c));
	sr_aws_conn_free(c);
	return NULL;
}

/* Reads the tags of every role that needs_tags(), aws.concurrency_per_account
 * at a time. On allocation failure t stays empty and sr_revoke_select_role() says so. */
void sr_revoke_read_tags(struct account_run *run, const struct sr_iam_roles *all,
			 struct role_tags *t)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->run = run;
	t->all = all;
	t->value = calloc(all->n + 1, sizeof(char *));
	t->error = calloc(all->n + 1, sizeof(char *));
	t->to_read = calloc(all->n + 1, sizeof(size_t));
	if (t->value == NULL || t->error == NULL || t->to_read == NULL)
		return;
	for (i = 0; i < all->n; i++)
		if (needs_tags(run, &all->items[i]))
			t->to_read[t->n_to_read++] = i;
	atomic_store(&t->next, 0);
	sr_revoke_parallel(tag_worker, t, run->e->cfg->aws_concurrency, t->n_to_read);
}

void sr_revoke_tags_clear(struct role_tags *t)
{
	size_t i;

	for (i = 0; t->value != NULL && t->error != NULL && i < t->all->n; i++) {
		free(t->value[i]);
		free(t->error[i]);
	}
	free(t->value);
	free(t->error);
	free(t->to_read);
}

/* Whether role i of the listing is one to work on, and why: its trust
 * policy names a group, or (for a role that trusts a configured provider) a
 * revoke.role_mappings entry or its session-revoker:groups tag (read by
 * sr_revoke_read_tags()) does. Fills r (zeroed by the caller) when it is. */
/* Whether the request's people could reach the role: it trusts a configured
 * provider (federated), or targeted.scope is "all" (chained sessions reach
 * any role). Adds the reason to m. */
static int people_reach(struct account_run *run, int federated, struct sr_match *m)
{
	int all = strcmp(run->e->cfg->targeted_scope, "all") == 0;
	struct sr_match_reason *why;

	if (run->req->n_people == 0 || (!federated && !all))
		return 0;
	if (m->n_reasons < SR_MATCH_MAX_REASONS) {
		why = &m->reasons[m->n_reasons++];
		memset(why, 0, sizeof(*why));
		snprintf(why->source, sizeof(why->source), "people");
		snprintf(why->statement, sizeof(why->statement), "targeted.scope");
		snprintf(why->op, sizeof(why->op), "%s", federated ? "federated" : "all");
		snprintf(why->key, sizeof(why->key), "%s",
			 run->e->cfg->targeted_tag ? "aws:PrincipalTag" : "aws:SourceIdentity");
		if (run->e->cfg->targeted_tag)
			snprintf(why->key + strlen(why->key), sizeof(why->key) - strlen(why->key),
				 "/%s", run->e->cfg->targeted_tag);
		snprintf(why->value, sizeof(why->value), "%zu %s", run->req->n_people,
			 run->req->n_people == 1 ? "person" : "people");
	}
	return 1;
}

int sr_revoke_select_role(struct account_run *run, const struct role_tags *tags, size_t i,
			  struct sr_role_result *r)
{
	const struct sr_engine_request *req = run->req;
	const struct sr_iam_role *role = &tags->all->items[i];
	const char *why;
	int federated;

	if (sr_match_trust_policy(role->trust_policy, &run->e->rules, req->groups, req->n_groups,
				  &r->match, NULL) != SR_OK)
		memset(&r->match, 0, sizeof(r->match));
	federated = r->match.federated;
	if (federated)
		sr_match_mapping(&run->e->rules, run->acct->id, role->name, req->groups,
				 req->n_groups, &r->match);
	if (federated && !r->match.matched && req->n_groups > 0) {
		if (tags->value == NULL || tags->error == NULL || tags->error[i] != NULL) {
			r->outcome = "failed"; /* whether it is ours is unknown */
			r->settled = 1;
			snprintf(r->error, sizeof(r->error), "reading its tags: %.230s",
				 tags->error != NULL && tags->error[i] != NULL ? tags->error[i]
									: "out of memory");
		} else if (tags->value[i] != NULL) {
			sr_match_tag(tags->value[i], req->groups, req->n_groups, &r->match);
		}
	}
	r->targeted = people_reach(run, federated, &r->match);
	if (!r->match.matched && !r->targeted && !r->settled)
		return 0;
	/* every role of the account (scope "all"): those AWS keeps to itself
	 * are no one's to deny, not worth a line each */
	if (!federated && !r->match.matched && sr_match_unmodifiable(role->path) != NULL)
		return 0;
	snprintf(r->account, sizeof(r->account), "%s", run->acct->id);
	snprintf(r->role_name, sizeof(r->role_name), "%s", role->name);
	snprintf(r->role_arn, sizeof(r->role_arn), "%s", role->arn);
	if (r->settled)
		return 1;
	if ((why = sr_match_unmodifiable(role->path)) != NULL) {
		r->outcome = "unmodifiable"; /* never tried, never a failure */
		r->settled = 1;
		snprintf(r->error, sizeof(r->error), "%s", why);
		return 1;
	}
	r->outcome = req->mode == SR_ENGINE_PLAN ? "match" : "failed";
	if (req->mode != SR_ENGINE_PLAN)
		snprintf(r->error, sizeof(r->error), "not reached");
	return 1;
}
