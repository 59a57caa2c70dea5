/*
 * overflow.c - people a role's inline policies cannot hold: the account's
 * customer managed policy (targeted.overflow "managed").
 *
 * DESIGN: after the roles of a revoke are worked on, the people some role's
 * inline budget could not hold (engine.c keeps them per role) go into one
 * managed policy per account (targeted.managed_policy_name under
 * targeted.managed_policy_path), merged as the inline statements are
 * (sr_targeted_merge, SR_MANAGED_POLICY_BUDGET), and the policy is attached
 * to every role whose inline budget was short: a person is denied wherever
 * their deny did not fit. The policy shows in the report as one more entry
 * (role "policy:<name>", its ARN), so jobs record it and judge it like a
 * role. People who fit neither are named as not written, never dropped.
 * Cleanup takes out of it each person whose own cut-off + the longest
 * maximum session of the account's roles has passed, and removes the policy
 * (detached from every role) when no one is left. The AWS calls are
 * managed.c's.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The account's policy. */
static struct sr_managed_id policy_id(const struct account_run *run)
{
	const struct sr_config *cfg = run->e->cfg;

	return (struct sr_managed_id){.partition = cfg->aws_partition, .account = run->acct->id,
				      .name = cfg->targeted_managed_name,
				      .path = cfg->targeted_managed_path};
}

/* One more entry in run->roles for the policy (run_account allocates a slot
 * more than the account has roles). Settled: no role worker touches it. */
static struct sr_role_result *policy_entry(struct account_run *run, const char *arn)
{
	struct sr_role_result *p = &run->roles[run->n_roles];

	memset(p, 0, sizeof(*p));
	memset(&run->iam[run->n_roles], 0, sizeof(run->iam[run->n_roles]));
	snprintf(p->account, sizeof(p->account), "%s", run->acct->id);
	snprintf(p->role_name, sizeof(p->role_name), "policy:%.100s",
		 run->e->cfg->targeted_managed_name);
	snprintf(p->role_arn, sizeof(p->role_arn), "%s", arn);
	p->targeted = 1;
	p->settled = 1;
	p->outcome = "failed";
	run->n_roles++;
	return p;
}

static int short_of_room(const struct account_run *run, size_t i)
{
	const struct sr_role_result *r = &run->roles[i];

	return r->targeted && r->unwritten > 0 && strcmp(r->outcome, "failed") == 0 &&
	       r->error[0] == '\0' && run->n_spill != NULL && run->n_spill[i] > 0;
}

/* Role i names its people not written, those of them in out (all of them:
 * out NULL), with why. */
static void name_role(struct account_run *run, size_t i, const struct sr_targeted_result *out,
		      const char *why)
{
	struct sr_targeted_result left = {0};
	size_t j, k;

	left.unwritten = calloc(run->n_spill[i] + 1, sizeof(*left.unwritten));
	for (j = 0; left.unwritten != NULL && j < run->n_spill[i]; j++) {
		int in = out == NULL;
		for (k = 0; !in && k < out->n_unwritten; k++)
			in = strcasecmp(out->unwritten[k].subject, run->spill[i][j].subject) == 0;
		if (in)
			left.unwritten[left.n_unwritten++] = run->spill[i][j];
	}
	run->roles[i].unwritten = (int)left.n_unwritten;
	if (left.n_unwritten > 0)
		sr_revoke_name_unwritten(&run->roles[i], &left, why);
	free(left.unwritten); /* the people are the spill's */
}

#define SPILL_NO_MEMORY ((size_t)-1)

/* The people of every role short of room, each once (the latest cut-off
 * asked for). OUT *people: new array of borrowed subjects. SPILL_NO_MEMORY
 * (and *people NULL) when memory ran out. */
static size_t spilled(const struct account_run *run, size_t n_roles, struct sr_person **people)
{
	size_t i, j, k, n = 0, cap = 0;
	struct sr_person *v = NULL, *grown;

	for (i = 0; i < n_roles; i++)
		for (j = 0; short_of_room(run, i) && j < run->n_spill[i]; j++) {
			const struct sr_targeted_person *p = &run->spill[i][j];
			for (k = 0; k < n && strcasecmp(v[k].subject, p->subject) != 0; k++)
				;
			if (k < n) {
				if (p->cutoff > v[k].cutoff)
					v[k].cutoff = p->cutoff;
				continue;
			}
			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				if ((grown = realloc(v, cap * sizeof(*v))) == NULL) {
					free(v); /* no one may go missing: say so instead */
					*people = NULL;
					return SPILL_NO_MEMORY;
				}
				v = grown;
			}
			v[n++] = (struct sr_person){.subject = p->subject, .cutoff = p->cutoff};
		}
	*people = v;
	return n;
}

void sr_revoke_overflow(struct account_run *run, struct sr_aws_conn *c)
{
	const struct sr_config *cfg = run->e->cfg;
	const struct sr_engine_request *req = run->req;
	struct sr_managed_id id = policy_id(run);
	struct sr_targeted_opts opts = {.tag_key = sr_revoke_people_tag(run),
					.budget = SR_MANAGED_POLICY_BUDGET};
	struct sr_targeted_result res = {0};
	struct sr_role_result *p;
	struct sr_person *people = NULL;
	struct sr_err err = {0};
	char arn[SR_MANAGED_ARN_MAX] = "", *doc = NULL, why[300];
	size_t i, n_roles = run->n_roles, n_people;

	if (strcmp(cfg->targeted_overflow, "managed") != 0 ||
	    (n_people = spilled(run, n_roles, &people)) == 0) {
		free(people);
		return;
	}
	if (n_people == SPILL_NO_MEMORY) {
		for (i = 0; i < n_roles; i++)
			if (short_of_room(run, i))
				name_role(run, i, NULL, "the role's inline policies are full, and"
					  " memory ran out before the managed policy");
		return;
	}
	if (sr_managed_read(c, &id, &doc, arn, &err) != SR_OK ||
	    sr_targeted_merge(doc, people, n_people, &opts, &res, &err) != SR_OK) {
		snprintf(why, sizeof(why), "the role's inline policies are full, and the managed"
			 " policy %.64s could not be read: %.150s", id.name, err.msg);
		for (i = 0; i < n_roles; i++)
			if (short_of_room(run, i))
				name_role(run, i, NULL, why);
		goto out;
	}
	p = policy_entry(run, arn);
	p->people = (int)res.n_people;
	p->unwritten = (int)res.n_unwritten;
	p->chars_used = (int64_t)res.used;
	p->chars_left = (int64_t)res.left;
	p->cutoff = sr_revoke_people_cutoff(req);
	if (!res.changed) {
		p->outcome = "unchanged";
	} else if (req->dry_run) {
		p->outcome = "would-deny";
	} else if (sr_managed_write(c, &id, res.policy, p->request_id, &err) != SR_OK) {
		snprintf(p->error, sizeof(p->error), "%s", err.msg);
		snprintf(why, sizeof(why), "the role's inline policies are full, and the managed"
			 " policy %.64s could not be written", id.name);
		for (i = 0; i < n_roles; i++)
			if (short_of_room(run, i))
				name_role(run, i, NULL, why);
		goto out;
	} else {
		p->outcome = "denied";
	}
	if (res.n_unwritten > 0)
		sr_revoke_name_unwritten(p, &res, "the managed policy is full too");
	for (i = 0; i < n_roles; i++) {
		struct sr_role_result *r = &run->roles[i];
		int attached = 0;
		if (!short_of_room(run, i))
			continue;
		sr_err_clear(&err);
		if (!req->dry_run && sr_managed_attach(c, r->role_name, arn, &attached, &err) != SR_OK) {
			snprintf(why, sizeof(why), "the role's inline policies are full, and the"
				 " managed policy could not be attached: %.200s", err.msg);
			name_role(run, i, NULL, why);
			continue;
		}
		r->managed = 1;
		name_role(run, i, &res, "the role's inline policies and the account's managed"
			  " policy are full");
		/* written here (inline, or attached now), or all in place before */
		if (r->unwritten == 0)
			r->outcome = req->dry_run ? "would-deny"
				     : r->request_id[0] != '\0' || attached ? "denied" : "unchanged";
	}
out:
	sr_targeted_result_clear(&res);
	free(people);
	free(doc);
}

void sr_revoke_managed_cleanup(struct account_run *run, struct sr_aws_conn *c,
			       const struct sr_iam_roles *all)
{
	const struct sr_config *cfg = run->e->cfg;
	const struct sr_engine_request *req = run->req;
	struct sr_managed_id id = policy_id(run);
	struct sr_targeted_opts opts = {.tag_key = sr_revoke_people_tag(run)};
	struct sr_targeted_result res = {0};
	struct sr_role_result *p;
	struct sr_err err = {0};
	char arn[SR_MANAGED_ARN_MAX] = "", *doc = NULL;
	int64_t session = cfg->max_session_seconds, grace, mine, left;
	size_t i;

	for (i = 0; i < all->n; i++)
		if (all->items[i].max_session > session)
			session = all->items[i].max_session;
	grace = session + cfg->clock_skew;
	if (sr_managed_read(c, &id, &doc, arn, &err) != SR_OK) {
		p = policy_entry(run, arn[0] ? arn : id.name);
		snprintf(p->error, sizeof(p->error), "%s", err.msg);
		goto out;
	}
	if (doc == NULL)
		goto out; /* no managed policy: nothing to do */
	if (sr_targeted_cleanup(doc, req->now, grace, &opts, &res, &err) != SR_OK) {
		p = policy_entry(run, arn);
		snprintf(p->error, sizeof(p->error), "%s", err.msg);
		goto out;
	}
	mine = sr_revoke_people_left(run, doc);
	if (res.n_removed == 0 && mine == 0)
		goto out; /* none of ours, none due: not this revocation's business */
	p = policy_entry(run, arn);
	left = sr_revoke_people_left(run, res.n_removed > 0 ? res.policy : doc);
	p->cutoff = left ? left : mine;
	p->due = (left ? left : mine) + grace;
	p->people = (int)res.n_people;
	if (res.n_removed == 0)
		p->outcome = "not-due";
	else if (req->dry_run)
		p->outcome = left ? "not-due" : res.policy != NULL ? "would-trim" : "would-delete";
	else if ((res.policy != NULL ? sr_managed_write(c, &id, res.policy, p->request_id, &err)
				     : sr_managed_remove(c, arn, NULL, &err)) != SR_OK)
		snprintf(p->error, sizeof(p->error), "%s", err.msg);
	else
		p->outcome = left ? "not-due" : res.policy != NULL ? "trimmed" : "deleted";
out:
	sr_targeted_result_clear(&res);
	free(doc);
}
