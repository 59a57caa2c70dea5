/*
 * engine.c - plan, revoke and cleanup across accounts.
 *
 * DESIGN: accounts run in parallel (aws.parallel_accounts threads pull the
 * next account); inside an account one connection lists the roles and
 * matches them, then up to aws.concurrency_per_account threads, each with
 * its own keep-alive connection, work through the matching roles. A role is
 * read before it is written (GetRolePolicy), so a later cut-off is never
 * lowered and running twice changes nothing the second time. A failure stays
 * with its account or role; the others go on.
 *
 * Credentials: the base credentials come from the SDK chain once and are
 * refreshed when close to expiry; each account's AssumeRole credentials are
 * cached the same way, and renewed when AWS refuses them mid-run.
 *
 * A write AWS did not answer may still be carried out later: the role is
 * read again once it can no longer land (aws.late_write_seconds) and put
 * right. Which roles a run works on is select.c's; the report is report.c's.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define REFRESH_BEFORE 300 /* seconds before expiry */

enum sr_rc sr_engine_new(const struct sr_config *cfg, struct sr_engine **out, struct sr_err *err)
{
	struct sr_engine *e = calloc(1, sizeof(*e));
	enum sr_rc rc;

	*out = NULL;
	if (e == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	e->cfg = cfg;
	rc = sr_aws_endpoints_init(&e->ep, &e->bufs, cfg->aws_partition, cfg->aws_region, err);
	if (rc != SR_OK) {
		free(e);
		return rc;
	}
	e->ep.max_attempts = (int)cfg->aws_max_attempts;
	e->ep.max_retry_ms = cfg->aws_max_retry_seconds * 1000;
	e->ep.timeout_ms = cfg->aws_timeout_seconds * 1000;
	e->rules.providers = cfg->providers.v;
	e->rules.n_providers = cfg->providers.n;
	e->rules.claims = cfg->group_claims.v;
	e->rules.n_claims = cfg->group_claims.n;
	e->rules.mappings = cfg->role_mappings;
	e->rules.n_mappings = cfg->n_role_mappings;
	pthread_mutex_init(&e->mu, NULL);
	*out = e;
	return SR_OK;
}

void sr_engine_free(struct sr_engine *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->n_cache; i++)
		sr_aws_creds_clear(&e->cache[i].creds);
	free(e->cache);
	sr_aws_creds_clear(&e->base);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

static int fresh(const struct sr_aws_creds *c, int64_t now)
{
	return c->secret != NULL && (c->expires == 0 || c->expires - now > REFRESH_BEFORE);
}

/* A copy of the base credentials, resolving or refreshing them first. */
static enum sr_rc base_creds(struct sr_engine *e, struct sr_aws_creds *out, struct sr_err *err)
{
	enum sr_rc rc = SR_OK;

	pthread_mutex_lock(&e->mu);
	if (!fresh(&e->base, sr_clock_now())) {
		struct sr_aws_creds got;
		rc = sr_aws_creds_resolve(&e->ep, &got, e->base_source, err);
		if (rc == SR_OK) {
			sr_aws_creds_clear(&e->base);
			e->base = got;
			sr_log(SR_LOG_INFO, "aws.credentials", "source=%s", e->base_source);
		}
	}
	if (rc == SR_OK)
		rc = sr_aws_creds_copy(out, &e->base, err);
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* The credentials to work in account a: assumed (cached) or the base ones. */
static enum sr_rc account_creds(struct sr_engine *e, const struct sr_account *a,
				struct sr_aws_creds *out, unsigned long *calls, struct sr_err *err)
{
	struct sr_aws_creds base = {0}, got = {0};
	struct sr_aws_conn *c = NULL;
	enum sr_rc rc;
	size_t i;

	if ((rc = base_creds(e, &base, err)) != SR_OK)
		return rc;
	if (a->role_arn == NULL) {
		char account[13], arn[512];
		/* The base credentials must really be this account's. */
		rc = sr_aws_conn_new(&e->ep, &base, &c, err);
		if (rc == SR_OK)
			rc = sr_sts_get_caller_identity(c, account, arn, err);
		if (rc == SR_OK && strcmp(account, a->id) != 0)
			rc = sr_err_set(err, SR_ECONFIG, "the base credentials belong to account %s, not %s",
					account, a->id);
		if (c != NULL)
			*calls += sr_aws_conn_requests(c);
		if (rc == SR_OK)
			*out = base;
		else
			sr_aws_creds_clear(&base);
		sr_aws_conn_free(c);
		return rc;
	}
	pthread_mutex_lock(&e->mu);
	for (i = 0; i < e->n_cache; i++)
		if (strcmp(e->cache[i].account, a->id) == 0 && fresh(&e->cache[i].creds, sr_clock_now())) {
			rc = sr_aws_creds_copy(out, &e->cache[i].creds, err);
			pthread_mutex_unlock(&e->mu);
			sr_aws_creds_clear(&base);
			return rc;
		}
	pthread_mutex_unlock(&e->mu);
	rc = sr_aws_conn_new(&e->ep, &base, &c, err);
	if (rc == SR_OK)
		rc = sr_sts_assume_role(c, a->role_arn, e->cfg->aws_session_name, a->external_id,
					3600, &got, err);
	if (c != NULL)
		*calls += sr_aws_conn_requests(c);
	sr_aws_conn_free(c);
	sr_aws_creds_clear(&base);
	if (rc != SR_OK)
		return rc;
	pthread_mutex_lock(&e->mu);
	for (i = 0; i < e->n_cache && strcmp(e->cache[i].account, a->id) != 0; i++)
		;
	if (i == e->n_cache) {
		struct cached *n = realloc(e->cache, (e->n_cache + 1) * sizeof(*n));
		if (n != NULL) {
			e->cache = n;
			memset(&n[i], 0, sizeof(n[i]));
			snprintf(n[i].account, sizeof(n[i].account), "%s", a->id);
			e->n_cache++;
		}
	}
	if (i < e->n_cache)
		sr_aws_creds_copy(&e->cache[i].creds, &got, NULL);
	pthread_mutex_unlock(&e->mu);
	*out = got;
	return SR_OK;
}

/* When a write that got no answer (sr_aws_conn_unanswered) may have landed
 * by: 0 when every request since `before` was answered. A role keeps the
 * latest such time of all its writes (set_unsettled): a write made before
 * credentials were renewed and the role done again may still land too. */
static int64_t unsettled_after(const struct account_run *run, const struct sr_aws_conn *c,
			       unsigned long before)
{
	int64_t late = run->e->cfg->aws_late_write_seconds;

	if (late <= 0 || sr_aws_conn_unanswered(c) == before)
		return 0;
	return sr_clock_now() + late;
}

static void set_unsettled(struct sr_role_result *r, int64_t until)
{
	if (until > r->unsettled)
		r->unsettled = until;
}

static void fail(struct sr_role_result *r, const struct sr_err *err)
{
	r->outcome = "failed";
	snprintf(r->error, sizeof(r->error), "%s", err->msg);
}

/* The role's deny policy: OUT *existing (new string, NULL when the role has
 * none) and the cut-off of session-revoker's statement in it (0: none). */
static enum sr_rc read_deny(struct account_run *run, struct sr_aws_conn *c,
			    const struct sr_role_result *r, char **existing, int64_t *cutoff,
			    struct sr_err *err)
{
	enum sr_rc rc = sr_iam_get_role_policy(c, r->role_name, run->e->cfg->policy_name,
					       existing, err);

	*cutoff = 0;
	if (rc == SR_ENOTFOUND) {
		sr_err_clear(err);
		*existing = NULL;
		return SR_OK;
	}
	if (rc == SR_OK)
		rc = sr_deny_policy_cutoff(*existing, cutoff, err);
	return rc;
}

/* ---- the people of a targeted revocation ---- */

const char *sr_revoke_people_tag(const struct account_run *run)
{
	return run->e->cfg->targeted_tag;
}

/* What the role's inline policies other than ours use of its budget (as IAM
 * counts it: names too, to be safe), read from AWS. */
static enum sr_rc others_size(struct account_run *run, struct sr_aws_conn *c,
			      const struct sr_role_result *r, int64_t *used, struct sr_err *err)
{
	const char *ours = run->e->cfg->policy_name;
	char **names = NULL, *doc = NULL;
	size_t n = 0, i, chars;
	enum sr_rc rc = sr_iam_list_role_policies(c, r->role_name, &names, &n, err);

	*used = 0;
	for (i = 0; rc == SR_OK && i < n; i++) {
		if (strcmp(names[i], ours) == 0)
			continue;
		rc = sr_iam_get_role_policy(c, r->role_name, names[i], &doc, err);
		if (rc == SR_ENOTFOUND) { /* deleted meanwhile */
			sr_err_clear(err);
			rc = SR_OK;
			continue;
		}
		if (rc == SR_OK && (rc = sr_policy_size(doc, &chars, err)) == SR_OK)
			*used += (int64_t)(strlen(names[i]) + chars);
		free(doc);
		doc = NULL;
	}
	sr_strv_free(names, n);
	return rc;
}

/* The budget our policy has on this role: the role's, less our policy's
 * name and, when known (others >= 0), what its other inline policies use. */
static size_t our_budget(const struct account_run *run, int64_t others)
{
	int64_t b = SR_INLINE_POLICY_BUDGET - (int64_t)strlen(run->e->cfg->policy_name) -
		    (others > 0 ? others : 0);

	return b > 0 ? (size_t)b : 1; /* 0 would mean the whole budget */
}

/* The latest cut-off asked for among the request's people. */
int64_t sr_revoke_people_cutoff(const struct sr_engine_request *req)
{
	int64_t latest = 0;
	size_t i;

	for (i = 0; i < req->n_people; i++)
		if (req->people[i].cutoff > latest)
			latest = req->people[i].cutoff;
	return latest;
}

/* Notes in r what res says of the people, and names those not written in
 * r->error and in a log line (the whole list; the error holds what fits). */
static void note_people(struct account_run *run, struct sr_role_result *r,
			const struct sr_targeted_result *res, int64_t others)
{
	r->people = (int)res->n_people;
	r->unwritten = (int)res->n_unwritten;
	r->chars_used = (int64_t)res->used + (others > 0 ? others : 0) +
			(int64_t)strlen(run->e->cfg->policy_name);
	r->chars_left = others >= 0 ? (int64_t)res->left : -1;
	if (res->n_unwritten == 0)
		return;
	if (strcmp(run->e->cfg->targeted_overflow, "managed") == 0)
		return; /* the account's managed policy is tried next (overflow.c) */
	sr_revoke_name_unwritten(r, res, "the role's inline policies are full");
}

void sr_revoke_name_unwritten(struct sr_role_result *r, const struct sr_targeted_result *res,
			      const char *why)
{
	char quoted[300], who[600]; /* a principal tag's value may hold spaces */
	size_t i, at;

	at = (size_t)snprintf(r->error, sizeof(r->error),
			      "%zu %s could not be written (%s): ", res->n_unwritten,
			      res->n_unwritten == 1 ? "person" : "people", why);
	for (i = 0; i < res->n_unwritten && at < sizeof(r->error); i++)
		at += (size_t)snprintf(r->error + at, sizeof(r->error) - at, "%s%s", i ? ", " : "",
				       res->unwritten[i].subject);
	if (at >= sizeof(r->error)) /* cut: say so */
		memcpy(r->error + sizeof(r->error) - 5, "...", 4);
	for (i = 0; i < res->n_unwritten; i++)
		sr_log(SR_LOG_WARN, "engine.person_not_written", "account=%s role=%s subject=%s",
		       r->account, sr_log_value(quoted, sizeof(quoted), r->role_name),
		       sr_log_value(who, sizeof(who), res->unwritten[i].subject));
}

/* Keeps res's people not written for overflow.c (moved out of res). */
static void keep_spill(struct account_run *run, const struct sr_role_result *r,
		       struct sr_targeted_result *res)
{
	size_t i = (size_t)(r - run->roles);

	if (run->spill == NULL || run->n_spill == NULL || i >= run->n_roles)
		return;
	sr_targeted_people_free(run->spill[i], run->n_spill[i]);
	run->spill[i] = res->unwritten;
	run->n_spill[i] = res->n_unwritten;
	res->unwritten = NULL;
	res->n_unwritten = 0;
}

/* doc with the request's people merged in, for this role's budget (others:
 * what its other inline policies use, -1: not known). */
static enum sr_rc merge_people(struct account_run *run, const char *doc, int64_t others,
			       struct sr_targeted_result *res, struct sr_err *err)
{
	struct sr_targeted_opts opts = {.tag_key = sr_revoke_people_tag(run),
					.budget = our_budget(run, others)};

	return sr_targeted_merge(doc, run->req->people, run->req->n_people, &opts, res, err);
}

/* Whether AWS refused a write for the role's inline policy budget. */
static int over_budget(const struct sr_err *err)
{
	return strstr(err->msg, "LimitExceeded") != NULL;
}

/* Puts a cut-off of at least want on the role for the groups (when their
 * trust policy, mapping or tag selected it) and the request's people (when
 * they could reach it), read first: a later cut-off in place is kept, a
 * person's only rises. */
static void role_revoke(struct account_run *run, struct sr_aws_conn *c, struct sr_role_result *r,
			int64_t want)
{
	const char *policy = run->e->cfg->policy_name;
	int groups = r->match.matched && run->req->n_groups > 0;
	struct sr_targeted_result res = {0};
	struct sr_err err = {0};
	char *existing = NULL, *merged = NULL;
	const char *write;
	int64_t have = 0, effective = 0, others = -1;
	int changed = 0;
	unsigned long before;

	r->error[0] = '\0';
	if (read_deny(run, c, r, &existing, &have, &err) != SR_OK)
		goto failed;
	effective = have;
	if (groups) {
		if (sr_deny_policy_merge(existing, want, &merged, &effective, &err) != SR_OK)
			goto failed;
		changed = have < want;
	}
	write = merged != NULL ? merged : existing;
	if (r->targeted) {
		if (merge_people(run, write, others, &res, &err) != SR_OK)
			goto failed;
		changed |= res.changed;
		if (res.changed)
			write = res.policy;
	}
	/* the groups' cut-off where the groups reach (a recheck raises the
	 * groups' statement to it, never to a person's), else the people's; a
	 * cleanup that comes too early for the people waits for them (not-due) */
	r->cutoff = groups ? effective : sr_revoke_people_cutoff(run->req);
	if (!changed) {
		r->outcome = "unchanged";
	} else if (run->req->dry_run) {
		r->outcome = "would-deny";
	} else {
		before = sr_aws_conn_unanswered(c);
		if (sr_iam_put_role_policy(c, r->role_name, policy, write, r->request_id, &err) !=
			    SR_OK &&
		    r->targeted && over_budget(&err)) {
			/* the role's other inline policies leave less: count them */
			sr_err_clear(&err);
			sr_targeted_result_clear(&res);
			if (others_size(run, c, r, &others, &err) != SR_OK ||
			    merge_people(run, merged != NULL ? merged : existing, others, &res,
					 &err) != SR_OK) {
				set_unsettled(r, unsettled_after(run, c, before));
				goto failed;
			}
			if (!res.changed && !(groups && have < want)) {
				changed = 0; /* within the real budget, all is in place */
				r->request_id[0] = '\0';
			} else {
				write = res.changed ? res.policy : merged;
				if (sr_iam_put_role_policy(c, r->role_name, policy, write,
							   r->request_id, &err) == SR_OK)
					err.code = SR_OK;
			}
		}
		if (!changed) {
			r->outcome = "unchanged";
		} else if (err.code != SR_OK) {
			fail(r, &err);
			/* AWS protects roles beyond the paths we know: that is no failure */
			if (strstr(err.msg, ": UnmodifiableEntity:") != NULL)
				r->outcome = "unmodifiable";
			r->cutoff = have;
		} else {
			r->outcome = "denied";
		}
		set_unsettled(r, unsettled_after(run, c, before));
	}
	if (r->targeted && strcmp(r->outcome, "failed") != 0 &&
	    strcmp(r->outcome, "unmodifiable") != 0) {
		note_people(run, r, &res, others);
		if (res.n_unwritten > 0)
			r->outcome = "failed"; /* never a person dropped silently */
		keep_spill(run, r, &res);
	}
	goto out;
failed:
	fail(r, &err);
out:
	sr_targeted_result_clear(&res);
	free(existing);
	free(merged);
}

/* Plan for people: what a revoke would leave on the role, its other inline
 * policies counted. The outcome stays "match"; a person who would not fit
 * is named. */
static void role_plan(struct account_run *run, struct sr_aws_conn *c, struct sr_role_result *r)
{
	struct sr_targeted_result res = {0};
	struct sr_err err = {0};
	char *existing = NULL, *merged = NULL;
	int64_t have = 0, effective = 0, others = -1;

	r->error[0] = '\0';
	if (!r->targeted)
		return;
	if (read_deny(run, c, r, &existing, &have, &err) != SR_OK ||
	    (r->match.matched && run->req->n_groups > 0 &&
	     sr_deny_policy_merge(existing, run->req->cutoff, &merged, &effective, &err) != SR_OK) ||
	    others_size(run, c, r, &others, &err) != SR_OK ||
	    merge_people(run, merged != NULL ? merged : existing, others, &res, &err) != SR_OK) {
		snprintf(r->error, sizeof(r->error), "%s", err.msg);
		r->outcome = "failed";
	} else {
		note_people(run, r, &res, others);
		if (res.n_unwritten > 0 && r->error[0] == '\0')
			sr_revoke_name_unwritten(r, &res, "the role's inline policies are full: a"
						 " revoke puts them into the account's managed policy");
	}
	sr_targeted_result_clear(&res);
	free(existing);
	free(merged);
}

/* Whether the request's people are all in policy at their cut-off or
 * later. */
static int people_in_place(const struct account_run *run, const char *policy)
{
	struct sr_targeted_person *in = NULL;
	size_t n = 0, i, j;
	int all = 1;

	if (policy == NULL)
		return run->req->n_people == 0;
	if (sr_targeted_list(policy, &in, &n, NULL) != SR_OK)
		return 0;
	for (i = 0; i < run->req->n_people && all; i++) {
		int found = 0;
		for (j = 0; j < n && !found; j++)
			found = strcasecmp(in[j].subject, run->req->people[i].subject) == 0 &&
				in[j].cutoff >= run->req->people[i].cutoff;
		all = found;
	}
	sr_targeted_people_free(in, n);
	return all;
}

/* The latest cut-off among the request's people still in policy (0: none
 * of them is). */
int64_t sr_revoke_people_left(const struct account_run *run, const char *policy)
{
	struct sr_targeted_person *in = NULL;
	size_t n = 0, i, j;
	int64_t latest = 0;

	if (policy == NULL || sr_targeted_list(policy, &in, &n, NULL) != SR_OK)
		return 0;
	for (i = 0; i < run->req->n_people; i++)
		for (j = 0; j < n; j++)
			if (strcasecmp(in[j].subject, run->req->people[i].subject) == 0 &&
			    in[j].cutoff > latest)
				latest = in[j].cutoff;
	sr_targeted_people_free(in, n);
	return latest;
}

/* Cleanup: takes out of the role's deny policy what no session can need any
 * more: the groups' statement once its cut-off + the maximum session has
 * passed, and each person whose own cut-off + maximum session has. The role
 * is "not-due" while what this revocation put there must stay: the groups'
 * statement (a revocation of groups), one of its people. */
static void role_cleanup(struct account_run *run, struct sr_aws_conn *c, struct sr_role_result *r,
			 const struct sr_iam_role *role)
{
	const struct sr_config *cfg = run->e->cfg;
	const struct sr_engine_request *req = run->req;
	struct sr_targeted_opts opts = {.tag_key = sr_revoke_people_tag(run)};
	struct sr_targeted_result res = {0};
	struct sr_err err = {0};
	char *existing = NULL, *rest = NULL;
	const char *now_doc;
	int64_t cutoff = 0, session, grace, wait = 0, person = 0, mine;
	unsigned long before;
	int changed = 0, ours = 0;

	r->error[0] = '\0';
	if (read_deny(run, c, r, &existing, &cutoff, &err) != SR_OK)
		goto failed;
	session = role->max_session > cfg->max_session_seconds ? role->max_session
								: cfg->max_session_seconds;
	grace = session + cfg->clock_skew;
	now_doc = existing;
	if (cutoff != 0) {
		ours = req->n_groups > 0;
		if (req->now >= cutoff + grace) {
			/* Statements someone else put in the policy stay: rewrite, not delete. */
			if (sr_deny_policy_remove(existing, &rest, &err) != SR_OK)
				goto failed;
			now_doc = rest;
			changed = 1;
		} else if (req->n_groups > 0) {
			wait = cutoff + grace;
		}
	}
	if (req->n_people > 0 && sr_revoke_people_left(run, now_doc) != 0)
		ours = 1;
	if (now_doc != NULL) {
		if (sr_targeted_cleanup(now_doc, req->now, grace, &opts, &res, &err) != SR_OK)
			goto failed;
		if (res.n_removed > 0) {
			now_doc = res.policy;
			changed = 1;
		}
		if ((person = sr_revoke_people_left(run, now_doc)) != 0 && person + grace > wait)
			wait = person + grace;
	}
	r->cutoff = cutoff > person ? cutoff : person;
	/* when what was ours may go (went): the groups' statement, the
	 * latest of this revocation's people */
	r->due = wait;
	if (r->due == 0 && cutoff != 0)
		r->due = cutoff + grace;
	if (r->due == 0 && (mine = sr_revoke_people_left(run, existing)) != 0)
		r->due = mine + grace;
	if (!changed && !ours) {
		r->outcome = "absent";
		r->cutoff = 0;
		goto out;
	}
	before = sr_aws_conn_unanswered(c);
	if (!changed) {
		r->outcome = "not-due";
	} else if (req->dry_run) {
		r->outcome = wait ? "not-due" : now_doc != NULL ? "would-trim" : "would-delete";
	} else if ((now_doc != NULL
			    ? sr_iam_put_role_policy(c, r->role_name, cfg->policy_name, now_doc,
						     r->request_id, &err)
			    : sr_iam_delete_role_policy(c, r->role_name, cfg->policy_name,
							r->request_id, &err)) == SR_OK) {
		/* others' statements, and people not due yet, stay */
		r->outcome = wait ? "not-due" : now_doc != NULL ? "trimmed" : "deleted";
		if (!wait)
			r->cutoff = 0;
	} else if (err.code == SR_ENOTFOUND) {
		r->outcome = "absent"; /* someone else removed it meanwhile */
		r->cutoff = 0;
	} else {
		fail(r, &err);
	}
	set_unsettled(r, unsettled_after(run, c, before));
	goto out;
failed:
	fail(r, &err);
out:
	sr_targeted_result_clear(&res);
	free(existing);
	free(rest);
}

static void work_role(struct account_run *run, struct sr_aws_conn *c, struct sr_role_result *r,
		      const struct sr_iam_role *role)
{
	if (run->req->mode == SR_ENGINE_REVOKE)
		role_revoke(run, c, r, run->req->cutoff);
	else if (run->req->mode == SR_ENGINE_PLAN)
		role_plan(run, c, r);
	else
		role_cleanup(run, c, r, role);
}

/* Reads a role again once its unanswered writes can no longer land, and
 * puts right what a late one undid: an older cut-off written over a newer
 * one, a deny removed after it was raised, a write reported failed that was
 * carried out after all. Jobs of one account never run at the same time, so
 * nobody else wrote this role in between: the cut-off this run put in force
 * is the highest there is. */

/* Cleanup, read again: whether nothing due is left in the role's deny
 * policy (existing, the groups' cut-off have): no groups' statement, no
 * person whose sessions have all expired. */
static int settled_clean(struct account_run *run, const struct sr_role_result *r,
			 const char *existing, int64_t have, const struct sr_iam_role *role)
{
	const struct sr_config *cfg = run->e->cfg;
	struct sr_targeted_opts opts = {.tag_key = sr_revoke_people_tag(run)};
	struct sr_targeted_result res = {0};
	int64_t grace = (role->max_session > cfg->max_session_seconds ? role->max_session
								       : cfg->max_session_seconds) +
			cfg->clock_skew;
	int clean;

	(void)r;
	if (existing == NULL)
		return 1;
	if (have != 0 && run->req->now >= have + grace)
		return 0;
	clean = sr_targeted_cleanup(existing, run->req->now, grace, &opts, &res, NULL) == SR_OK &&
		res.n_removed == 0;
	sr_targeted_result_clear(&res);
	return clean;
}

static void recheck_role(struct account_run *run, struct sr_aws_conn *c, struct sr_role_result *r,
			 const struct sr_iam_role *role)
{
	int was_failed = strcmp(r->outcome, "failed") == 0;
	int groups = r->match.matched && run->req->n_groups > 0;
	struct sr_err err = {0};
	char *existing = NULL;
	int64_t have = 0, want = groups && r->cutoff > run->req->cutoff ? r->cutoff : run->req->cutoff;
	enum sr_rc rc;

	r->unsettled = 0;
	rc = read_deny(run, c, r, &existing, &have, &err);
	/* The wait may have outlived the credentials this connection began with. */
	if (rc != SR_OK && sr_revoke_creds_refused(err.msg) && sr_revoke_renew_creds(run, c, run->key_id) == SR_OK) {
		free(existing);
		sr_err_clear(&err);
		rc = read_deny(run, c, r, &existing, &have, &err);
	}
	if (rc != SR_OK) {
		free(existing);
		fail(r, &err); /* the job's retry reads it again */
		return;
	}
	if (run->req->mode == SR_ENGINE_REVOKE
		    ? (!groups || have >= want) && (!r->targeted || people_in_place(run, existing))
		    : settled_clean(run, r, existing, have, role)) {
		r->recheck = was_failed ? "landed" : "confirmed";
		if (was_failed) {
			r->outcome = run->req->mode == SR_ENGINE_REVOKE ? "denied"
				     : existing != NULL ? "trimmed" : "deleted";
			r->error[0] = '\0';
		}
		if (groups || run->req->mode != SR_ENGINE_REVOKE)
			r->cutoff = have;
		/* a cleanup that landed but keeps some of this revocation's people
		 * (not due yet) is not done: the job comes back for them */
		if (run->req->mode == SR_ENGINE_CLEANUP && sr_revoke_people_left(run, existing) != 0) {
			r->outcome = "not-due";
			r->cutoff = sr_revoke_people_left(run, existing);
			if (r->due == 0)
				r->due = r->cutoff + run->e->cfg->max_session_seconds +
					 run->e->cfg->clock_skew;
		}
	} else if (!was_failed) {
		if (run->req->mode == SR_ENGINE_REVOKE)
			role_revoke(run, c, r, want);
		else
			role_cleanup(run, c, r, role);
		/* a rewrite that failed shows as failed, with its error */
		r->recheck = strcmp(r->outcome, "failed") != 0 ? "rewritten" : NULL;
	}
	/* A failed write that did not land stays failed: the job's retry (or
	 * the operator's next run) writes it. */
	free(existing);
}

/* Whether an error says AWS refused the credentials (expired, or revoked
 * early). */
int sr_revoke_creds_refused(const char *msg)
{
	return strstr(msg, "ExpiredToken") != NULL || strstr(msg, "InvalidClientTokenId") != NULL;
}

static void forget_creds(struct sr_engine *e, const char *account, const char *key_id);

/* Fresh credentials for the account on connection c, after AWS refused the
 * ones it had (key_id, 128 bytes, is updated): a long fan-out outlives them. */
enum sr_rc sr_revoke_renew_creds(struct account_run *run, struct sr_aws_conn *c, char *key_id)
{
	struct sr_aws_creds fresh = {0};
	struct sr_err err = {0};
	unsigned long calls = 0;
	enum sr_rc rc;

	forget_creds(run->e, run->acct->id, key_id);
	rc = account_creds(run->e, run->acct, &fresh, &calls, &err);
	if (rc == SR_OK)
		rc = sr_aws_conn_set_creds(c, &fresh, &err);
	if (rc == SR_OK)
		snprintf(key_id, 128, "%s", fresh.access_key_id);
	atomic_fetch_add(&run->calls, calls);
	sr_aws_creds_clear(&fresh);
	return rc;
}

static void *role_worker(void *arg)
{
	struct account_run *run = arg;
	struct sr_aws_conn *c = NULL;
	struct sr_err err = {0};
	char key_id[128];
	size_t i;

	if (sr_aws_conn_new(&run->e->ep, &run->creds, &c, &err) != SR_OK)
		return NULL; /* the roles left stay "failed" below */
	snprintf(key_id, sizeof(key_id), "%s", run->creds.access_key_id);
	while ((i = atomic_fetch_add(&run->next, 1)) < run->n_roles) {
		struct sr_role_result *r = &run->roles[i];
		if (r->settled)
			continue;
		work_role(run, c, r, &run->iam[i]);
		if (strcmp(r->outcome, "failed") == 0 && sr_revoke_creds_refused(r->error) &&
		    sr_revoke_renew_creds(run, c, key_id) == SR_OK)
			work_role(run, c, r, &run->iam[i]);
	}
	atomic_fetch_add(&run->calls, sr_aws_conn_requests(c));
	sr_aws_conn_free(c);
	return NULL;
}

void sr_revoke_parallel(void *(*fn)(void *), void *arg, int64_t threads, size_t work)
{
	pthread_t t[256];
	size_t i, n = threads > 0 ? (size_t)threads : 1;

	if (n > work)
		n = work;
	if (n > sizeof(t) / sizeof(t[0]))
		n = sizeof(t) / sizeof(t[0]);
	for (i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, fn, arg) != 0)
			break;
	n = i;
	if (n == 0 && work > 0)
		fn(arg); /* no thread to be had: do it here */
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

/* Waits until `until` (the service's clock) unless req->stop says to stop.
 * Returns 1 when the time came. */
static int wait_until(const struct sr_engine_request *req, int64_t until)
{
	while (sr_clock_now() < until) {
		struct timespec ts = {0, 200 * 1000000L};
		if (req->stop != NULL && req->stop(req->stop_arg))
			return 0;
		nanosleep(&ts, NULL);
	}
	return 1;
}

#define RECHECK_ROUNDS 3

/* The writes of this run that got no answer: waits until they can no longer
 * land and reads those roles again (a rewrite can itself go unanswered:
 * a few rounds). What is still unsettled stays so in the report, for the
 * caller to come back to. */
static void recheck_unsettled(struct account_run *run, struct sr_aws_conn *c)
{
	int round;
	size_t i;

	if (run->req->dry_run)
		return;
	for (round = 0; round < RECHECK_ROUNDS; round++) {
		int64_t until = 0;
		for (i = 0; i < run->n_roles; i++)
			if (run->roles[i].unsettled > until)
				until = run->roles[i].unsettled;
		if (until == 0 || until - sr_clock_now() > run->req->max_wait)
			return;
		sr_log(SR_LOG_INFO, "engine.recheck_wait", "account=%s until=%lld", run->acct->id,
		       (long long)until);
		if (!wait_until(run->req, until))
			return;
		for (i = 0; i < run->n_roles; i++)
			if (run->roles[i].unsettled != 0)
				recheck_role(run, c, &run->roles[i], &run->iam[i]);
	}
}

/* Whether AWS refused the credentials this run used (expired or revoked
 * early): then the cached ones must not be used again. */
static int creds_refused(const struct account_run *run)
{
	size_t i;

	if (sr_revoke_creds_refused(run->result->error))
		return 1;
	for (i = 0; i < run->n_roles; i++)
		if (sr_revoke_creds_refused(run->roles[i].error))
			return 1;
	return 0;
}

/* Drops an account's cached AssumeRole credentials (and the base ones, which
 * may be what expired), so the next use gets fresh ones. key_id: only when
 * they are still these (another thread may have renewed them already); NULL:
 * whatever they are. */
static void forget_creds(struct sr_engine *e, const char *account, const char *key_id)
{
	size_t i;

	pthread_mutex_lock(&e->mu);
	for (i = 0; i < e->n_cache; i++)
		if (strcmp(e->cache[i].account, account) == 0 &&
		    (key_id == NULL || strcmp(e->cache[i].creds.access_key_id, key_id) == 0))
			sr_aws_creds_clear(&e->cache[i].creds);
	if (e->base.token != NULL && /* long-term keys cannot be refreshed */
	    (key_id == NULL || strcmp(e->base.access_key_id, key_id) == 0))
		sr_aws_creds_clear(&e->base);
	pthread_mutex_unlock(&e->mu);
	sr_log(SR_LOG_INFO, "aws.credentials_forgotten", "account=%s", account);
}

/* The account's credentials, a connection and its roles. Credentials AWS
 * refuses (expired meanwhile) are renewed once. */
static enum sr_rc list_account(struct account_run *run, struct sr_iam_roles *all,
			       struct sr_aws_conn **c, unsigned long *calls, struct sr_err *err)
{
	enum sr_rc rc;
	int tries;

	for (tries = 0; tries < 2; tries++) {
		sr_err_clear(err);
		rc = account_creds(run->e, run->acct, &run->creds, calls, err);
		if (rc == SR_OK)
			rc = sr_aws_conn_new(&run->e->ep, &run->creds, c, err);
		if (rc == SR_OK) {
			snprintf(run->key_id, sizeof(run->key_id), "%s", run->creds.access_key_id);
			rc = sr_iam_list_roles(*c, all, NULL, err);
		}
		if (rc == SR_OK || !sr_revoke_creds_refused(err->msg))
			return rc;
		if (*c != NULL)
			*calls += sr_aws_conn_requests(*c);
		sr_aws_conn_free(*c);
		*c = NULL;
		sr_iam_roles_clear(all);
		sr_aws_creds_clear(&run->creds);
		forget_creds(run->e, run->acct->id, NULL);
	}
	return rc;
}

static void run_account(struct account_run *run)
{
	struct sr_engine *e = run->e;
	struct sr_account_result *ar = run->result;
	struct sr_iam_roles all = {0};
	struct role_tags tags;
	struct sr_aws_conn *c = NULL;
	struct sr_err err = {0};
	unsigned long calls = 0;
	size_t i;

	snprintf(ar->id, sizeof(ar->id), "%s", run->acct->id);
	if (list_account(run, &all, &c, &calls, &err) != SR_OK) {
		snprintf(ar->error, sizeof(ar->error), "%s", err.msg);
		goto out;
	}
	ar->roles_seen = (int)all.n;
	run->roles = calloc(all.n + 1, sizeof(*run->roles));
	run->spill = calloc(all.n + 1, sizeof(*run->spill));
	run->n_spill = calloc(all.n + 1, sizeof(*run->n_spill));
	run->iam = calloc(all.n + 1, sizeof(*run->iam));
	if (run->roles == NULL || run->iam == NULL || run->spill == NULL || run->n_spill == NULL) {
		snprintf(ar->error, sizeof(ar->error), "out of memory");
		goto out;
	}
	sr_revoke_read_tags(run, &all, &tags);
	for (i = 0; i < all.n; i++) {
		struct sr_role_result *r = &run->roles[run->n_roles];
		if (!sr_revoke_select_role(run, &tags, i, r)) {
			memset(r, 0, sizeof(*r));
			continue;
		}
		run->iam[run->n_roles] = all.items[i];
		all.items[i].trust_policy = NULL; /* moved */
		all.items[i].name[0] = '\0';     /* taken */
		run->n_roles++;
	}
	sr_revoke_tags_clear(&tags);
	ar->matched = (int)run->n_roles;
	if (run->req->mode == SR_ENGINE_CLEANUP &&
	    sr_revoke_add_visited(run, c, &all, &err) != SR_OK) {
		snprintf(ar->error, sizeof(ar->error), "%s", err.msg);
		goto out;
	}
	if (run->req->mode == SR_ENGINE_PLAN && run->req->n_people == 0)
		goto out;
	for (i = 0; i < run->n_roles; i++)
		if (!run->roles[i].settled)
			run->roles[i].error[0] = '\0';
	atomic_store(&run->next, 0);
	sr_revoke_parallel(role_worker, run, e->cfg->aws_concurrency, run->n_roles);
	for (i = 0; i < run->n_roles; i++)
		if (strcmp(run->roles[i].outcome, "failed") == 0 && run->roles[i].error[0] == '\0' &&
		    run->roles[i].unwritten == 0) /* (people not written: overflow.c) */
			snprintf(run->roles[i].error, sizeof(run->roles[i].error),
				 "not reached: no connection to AWS");
	recheck_unsettled(run, c);
	if (run->req->n_people > 0 && run->req->mode == SR_ENGINE_REVOKE)
		sr_revoke_overflow(run, c);
	else if (run->req->n_people > 0 && run->req->mode == SR_ENGINE_CLEANUP)
		sr_revoke_managed_cleanup(run, c, &all);
out:
	if (c != NULL)
		calls += sr_aws_conn_requests(c);
	ar->aws_calls = calls + atomic_load(&run->calls);
	sr_aws_conn_free(c);
	sr_iam_roles_clear(&all);
	if (creds_refused(run))
		forget_creds(e, run->acct->id, NULL);
}

struct pool {
	struct account_run *runs;
	size_t n;
	atomic_size_t next;
};

static void *account_worker(void *arg)
{
	struct pool *p = arg;
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n)
		run_account(&p->runs[i]);
	return NULL;
}

static const struct sr_account *find_account(const struct sr_config *cfg, const char *id)
{
	size_t i;

	for (i = 0; i < cfg->n_accounts; i++)
		if (strcmp(cfg->accounts[i].id, id) == 0)
			return &cfg->accounts[i];
	return NULL;
}

enum sr_rc sr_engine_run(struct sr_engine *e, const struct sr_engine_request *req,
			 struct sr_engine_report *rep, struct sr_err *err)
{
	const struct sr_config *cfg = e->cfg;
	struct pool p = {0};
	size_t i, j, total = 0;

	memset(rep, 0, sizeof(*rep));
	rep->mode = req->mode;
	if (cfg->n_accounts == 0)
		return sr_err_set(err, SR_ECONFIG, "no AWS accounts configured (aws.accounts)");
	if (cfg->providers.n == 0)
		return sr_err_set(err, SR_ECONFIG, "no federated providers configured (revoke.providers)");
	p.n = req->accounts ? req->n_accounts : cfg->n_accounts;
	p.runs = calloc(p.n + 1, sizeof(*p.runs));
	rep->accounts = calloc(p.n + 1, sizeof(*rep->accounts));
	if (p.runs == NULL || rep->accounts == NULL) {
		free(p.runs);
		free(rep->accounts);
		rep->accounts = NULL;
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	rep->n_accounts = p.n;
	for (i = 0; i < p.n; i++) {
		const struct sr_account *a = req->accounts ? find_account(cfg, req->accounts[i])
							   : &cfg->accounts[i];
		if (a == NULL) {
			sr_err_set(err, SR_EINVAL, "account %.12s is not configured (aws.accounts)",
				   req->accounts[i]);
			free(p.runs);
			sr_engine_report_clear(rep);
			return SR_EINVAL;
		}
		p.runs[i].e = e;
		p.runs[i].req = req;
		p.runs[i].acct = a;
		p.runs[i].result = &rep->accounts[i];
	}
	sr_revoke_parallel(account_worker, &p, cfg->aws_parallel_accounts, p.n);
	for (i = 0; i < p.n; i++)
		total += p.runs[i].n_roles;
	rep->roles = calloc(total + 1, sizeof(*rep->roles));
	for (i = 0; i < p.n; i++) {
		struct account_run *run = &p.runs[i];
		for (j = 0; j < run->n_roles; j++) {
			if (rep->roles != NULL)
				rep->roles[rep->n_roles++] = run->roles[j];
			sr_revoke_log_role(&run->roles[j]);
			if (strcmp(run->roles[j].outcome, "failed") == 0)
				rep->failed++;
			free(run->iam[j].trust_policy);
		}
		if (rep->accounts[i].error[0] != '\0')
			rep->failed++;
		for (j = 0; run->spill != NULL && run->n_spill != NULL && j < run->n_roles; j++)
			sr_targeted_people_free(run->spill[j], run->n_spill[j]);
		free(run->spill);
		free(run->n_spill);
		free(run->roles);
		free(run->iam);
		sr_aws_creds_clear(&run->creds);
	}
	free(p.runs);
	return SR_OK;
}

