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
 * cached the same way.
 */
#include "session_revoker/iam.h"
#include "session_revoker/revoke.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REFRESH_BEFORE 300 /* seconds before expiry */

struct cached {
	char account[13];
	struct sr_aws_creds creds;
};

struct sr_engine {
	const struct sr_config *cfg;
	struct sr_aws_endpoints ep;
	struct sr_aws_endpoint_bufs bufs;
	struct sr_match_rules rules;
	pthread_mutex_t mu;
	struct sr_aws_creds base;
	char base_source[32];
	struct cached *cache;
	size_t n_cache;
};

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

/* One account's work. */
struct account_run {
	struct sr_engine *e;
	const struct sr_engine_request *req;
	const struct sr_account *acct;
	struct sr_account_result *result;
	struct sr_aws_creds creds;
	struct sr_role_result *roles; /* the matching roles, worked on in place */
	struct sr_iam_role *iam;      /* parallel to roles */
	size_t n_roles;
	atomic_size_t next;
	atomic_ulong calls;
	char key_id[128]; /* the access key of the listing connection's credentials */
};

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

/* Puts a cut-off of at least want on the role (read first: a later one in
 * place is kept). */
static void role_revoke(struct account_run *run, struct sr_aws_conn *c, struct sr_role_result *r,
			int64_t want)
{
	const char *policy = run->e->cfg->policy_name;
	struct sr_err err = {0};
	char *existing = NULL, *merged = NULL;
	int64_t have = 0, effective = 0;
	unsigned long before;

	r->error[0] = '\0';
	if (read_deny(run, c, r, &existing, &have, &err) != SR_OK ||
	    sr_deny_policy_merge(existing, want, &merged, &effective, &err) != SR_OK) {
		fail(r, &err);
	} else if (have >= want) {
		r->outcome = "unchanged";
		r->cutoff = have;
	} else if (run->req->dry_run) {
		r->outcome = "would-deny";
		r->cutoff = effective;
	} else {
		before = sr_aws_conn_unanswered(c);
		if (sr_iam_put_role_policy(c, r->role_name, policy, merged, r->request_id, &err) !=
		    SR_OK) {
			fail(r, &err);
			/* AWS protects roles beyond the paths we know: that is no failure */
			if (strstr(err.msg, ": UnmodifiableEntity:") != NULL)
				r->outcome = "unmodifiable";
			r->cutoff = have;
		} else {
			r->outcome = "denied";
			r->cutoff = effective;
		}
		set_unsettled(r, unsettled_after(run, c, before));
	}
	free(existing);
	free(merged);
}

static void role_cleanup(struct account_run *run, struct sr_aws_conn *c, struct sr_role_result *r,
			 const struct sr_iam_role *role)
{
	const struct sr_config *cfg = run->e->cfg;
	struct sr_err err = {0};
	char *existing = NULL, *rest = NULL;
	int64_t cutoff = 0, session;
	unsigned long before;
	enum sr_rc rc;

	r->error[0] = '\0';
	rc = read_deny(run, c, r, &existing, &cutoff, &err);
	/* Statements someone else put in the policy stay: rewrite, not delete. */
	if (rc == SR_OK && cutoff != 0)
		rc = sr_deny_policy_remove(existing, &rest, &err);
	free(existing);
	if (rc != SR_OK) {
		fail(r, &err);
		return;
	}
	if (cutoff == 0) {
		r->outcome = "absent";
		r->cutoff = 0;
		return;
	}
	session = role->max_session > cfg->max_session_seconds ? role->max_session
								: cfg->max_session_seconds;
	r->cutoff = cutoff;
	r->due = cutoff + session + cfg->clock_skew;
	before = sr_aws_conn_unanswered(c);
	if (run->req->now < r->due) {
		r->outcome = "not-due";
	} else if (run->req->dry_run) {
		r->outcome = rest != NULL ? "would-trim" : "would-delete";
	} else if ((rest != NULL
			    ? sr_iam_put_role_policy(c, r->role_name, cfg->policy_name, rest,
						     r->request_id, &err)
			    : sr_iam_delete_role_policy(c, r->role_name, cfg->policy_name,
							r->request_id, &err)) == SR_OK) {
		r->outcome = rest != NULL ? "trimmed" : "deleted"; /* others' statements stay */
		r->cutoff = 0;
	} else if (err.code == SR_ENOTFOUND) {
		r->outcome = "absent"; /* someone else removed it meanwhile */
		r->cutoff = 0;
	} else {
		fail(r, &err);
	}
	set_unsettled(r, unsettled_after(run, c, before));
	free(rest);
}

static void work_role(struct account_run *run, struct sr_aws_conn *c, struct sr_role_result *r,
		      const struct sr_iam_role *role)
{
	if (run->req->mode == SR_ENGINE_REVOKE)
		role_revoke(run, c, r, run->req->cutoff);
	else
		role_cleanup(run, c, r, role);
}

/* Reads a role again once its unanswered writes can no longer land, and
 * puts right what a late one undid: an older cut-off written over a newer
 * one, a deny removed after it was raised, a write reported failed that was
 * carried out after all. Jobs of one account never run at the same time, so
 * nobody else wrote this role in between: the cut-off this run put in force
 * is the highest there is. */
static int creds_refused_msg(const char *msg);
static enum sr_rc renew_creds(struct account_run *run, struct sr_aws_conn *c, char *key_id);

static void recheck_role(struct account_run *run, struct sr_aws_conn *c, struct sr_role_result *r,
			 const struct sr_iam_role *role)
{
	int was_failed = strcmp(r->outcome, "failed") == 0;
	struct sr_err err = {0};
	char *existing = NULL;
	int64_t have = 0, want = r->cutoff > run->req->cutoff ? r->cutoff : run->req->cutoff;
	enum sr_rc rc;

	r->unsettled = 0;
	rc = read_deny(run, c, r, &existing, &have, &err);
	/* The wait may have outlived the credentials this connection began with. */
	if (rc != SR_OK && creds_refused_msg(err.msg) && renew_creds(run, c, run->key_id) == SR_OK) {
		free(existing);
		sr_err_clear(&err);
		rc = read_deny(run, c, r, &existing, &have, &err);
	}
	if (rc != SR_OK) {
		free(existing);
		fail(r, &err); /* the job's retry reads it again */
		return;
	}
	if (run->req->mode == SR_ENGINE_REVOKE ? have >= want : have == 0) {
		r->recheck = was_failed ? "landed" : "confirmed";
		if (was_failed) {
			r->outcome = run->req->mode == SR_ENGINE_REVOKE ? "denied"
				     : existing != NULL ? "trimmed" : "deleted";
			r->error[0] = '\0';
		}
		r->cutoff = have;
	} else if (!was_failed) {
		if (run->req->mode == SR_ENGINE_REVOKE)
			role_revoke(run, c, r, want);
		else
			role_cleanup(run, c, r, role);
		r->recheck = "rewritten";
	}
	/* A failed write that did not land stays failed: the job's retry (or
	 * the operator's next run) writes it. */
	free(existing);
}

/* Whether an error says AWS refused the credentials (expired, or revoked
 * early). */
static int creds_refused_msg(const char *msg)
{
	return strstr(msg, "ExpiredToken") != NULL || strstr(msg, "InvalidClientTokenId") != NULL;
}

static void forget_creds(struct sr_engine *e, const char *account, const char *key_id);

/* Fresh credentials for the account on connection c, after AWS refused the
 * ones it had (key_id, 128 bytes, is updated): a long fan-out outlives them. */
static enum sr_rc renew_creds(struct account_run *run, struct sr_aws_conn *c, char *key_id)
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
		if (strcmp(r->outcome, "failed") == 0 && creds_refused_msg(r->error) &&
		    renew_creds(run, c, key_id) == SR_OK)
			work_role(run, c, r, &run->iam[i]);
	}
	atomic_fetch_add(&run->calls, sr_aws_conn_requests(c));
	sr_aws_conn_free(c);
	return NULL;
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

	if (creds_refused_msg(run->result->error))
		return 1;
	for (i = 0; i < run->n_roles; i++)
		if (creds_refused_msg(run->roles[i].error))
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
		if (rc == SR_OK || !creds_refused_msg(err->msg))
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
static enum sr_rc add_visited(struct account_run *run, struct sr_aws_conn *c,
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
		if (rc != SR_OK && creds_refused_msg(err->msg) &&
		    renew_creds(run, c, run->key_id) == SR_OK) {
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

/* The session-revoker:groups tags of an account's roles, read in parallel
 * before the roles are selected: per role of the listing, its value (or
 * NULL) and why it could not be read (or NULL). */
struct role_tags {
	struct account_run *run;
	const struct sr_iam_roles *all;
	char **value;
	char **error;
	size_t *todo; /* indexes into all->items of the roles to read */
	size_t n_todo;
	atomic_size_t next;
};

/* Whether a role's tags can select it: it trusts a configured provider, and
 * neither its trust policy nor a mapping selects it already (the tag costs a
 * ListRoleTags call; the others cost nothing). */
static int needs_tags(struct account_run *run, const struct sr_iam_role *role)
{
	const struct sr_engine_request *req = run->req;
	struct sr_match m;

	if (sr_match_trust_policy(role->trust_policy, &run->e->rules, req->groups, req->n_groups,
				  &m, NULL) != SR_OK ||
	    !m.federated || m.matched)
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
	while ((k = atomic_fetch_add(&t->next, 1)) < t->n_todo) {
		size_t i = t->todo[k];
		enum sr_rc rc;
		sr_err_clear(&err);
		if (c == NULL) {
			t->error[i] = strdup("no connection to AWS");
			continue;
		}
		rc = sr_iam_role_tag(c, t->all->items[i].name, SR_GROUPS_TAG, &t->value[i], &err);
		/* credentials AWS refuses are renewed, as for the roles' writes */
		if (rc != SR_OK && creds_refused_msg(err.msg) && renew_creds(t->run, c, key_id) == SR_OK) {
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
 * at a time. On allocation failure t stays empty and select_role() says so. */
static void read_tags(struct account_run *run, const struct sr_iam_roles *all, struct role_tags *t)
{
	pthread_t threads[64];
	size_t i, n_threads;

	memset(t, 0, sizeof(*t));
	t->run = run;
	t->all = all;
	t->value = calloc(all->n + 1, sizeof(char *));
	t->error = calloc(all->n + 1, sizeof(char *));
	t->todo = calloc(all->n + 1, sizeof(size_t));
	if (t->value == NULL || t->error == NULL || t->todo == NULL)
		return;
	for (i = 0; i < all->n; i++)
		if (needs_tags(run, &all->items[i]))
			t->todo[t->n_todo++] = i;
	atomic_store(&t->next, 0);
	n_threads = (size_t)run->e->cfg->aws_concurrency;
	if (n_threads > t->n_todo)
		n_threads = t->n_todo;
	if (n_threads > 64)
		n_threads = 64;
	for (i = 0; i < n_threads; i++)
		if (pthread_create(&threads[i], NULL, tag_worker, t) != 0)
			break;
	n_threads = i;
	if (n_threads == 0 && t->n_todo > 0)
		tag_worker(t);
	for (i = 0; i < n_threads; i++)
		pthread_join(threads[i], NULL);
}

static void role_tags_clear(struct role_tags *t)
{
	size_t i;

	for (i = 0; t->value != NULL && t->error != NULL && i < t->all->n; i++) {
		free(t->value[i]);
		free(t->error[i]);
	}
	free(t->value);
	free(t->error);
	free(t->todo);
}

/* Whether role i of the listing is one to work on, and why: its trust
 * policy names a group, or (for a role that trusts a configured provider) a
 * revoke.role_mappings entry or its session-revoker:groups tag (read by
 * read_tags()) does. Fills r (zeroed by the caller) when it is. */
static int select_role(struct account_run *run, const struct role_tags *tags, size_t i,
		       struct sr_role_result *r)
{
	const struct sr_engine_request *req = run->req;
	const struct sr_iam_role *role = &tags->all->items[i];
	const char *why;

	if (sr_match_trust_policy(role->trust_policy, &run->e->rules, req->groups, req->n_groups,
				  &r->match, NULL) != SR_OK ||
	    !r->match.federated)
		return 0;
	sr_match_mapping(&run->e->rules, run->acct->id, role->name, req->groups, req->n_groups,
			 &r->match);
	if (!r->match.matched) {
		if (tags->value == NULL || tags->error == NULL || tags->error[i] != NULL) {
			r->outcome = "failed"; /* whether it is ours is unknown */
			r->settled = 1;
			snprintf(r->error, sizeof(r->error), "reading its tags: %.230s",
				 tags->error != NULL && tags->error[i] != NULL ? tags->error[i]
									: "out of memory");
		} else if (tags->value[i] == NULL ||
			   !sr_match_tag(tags->value[i], req->groups, req->n_groups, &r->match)) {
			return 0;
		}
	}
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

static void run_account(struct account_run *run)
{
	struct sr_engine *e = run->e;
	struct sr_account_result *ar = run->result;
	struct sr_iam_roles all = {0};
	struct role_tags tags;
	struct sr_aws_conn *c = NULL;
	struct sr_err err = {0};
	unsigned long calls = 0;
	pthread_t threads[64];
	size_t i, n_threads = 0;

	snprintf(ar->id, sizeof(ar->id), "%s", run->acct->id);
	if (list_account(run, &all, &c, &calls, &err) != SR_OK) {
		snprintf(ar->error, sizeof(ar->error), "%s", err.msg);
		goto out;
	}
	ar->roles_seen = (int)all.n;
	run->roles = calloc(all.n + 1, sizeof(*run->roles));
	run->iam = calloc(all.n + 1, sizeof(*run->iam));
	if (run->roles == NULL || run->iam == NULL) {
		snprintf(ar->error, sizeof(ar->error), "out of memory");
		goto out;
	}
	read_tags(run, &all, &tags);
	for (i = 0; i < all.n; i++) {
		struct sr_role_result *r = &run->roles[run->n_roles];
		if (!select_role(run, &tags, i, r)) {
			memset(r, 0, sizeof(*r));
			continue;
		}
		run->iam[run->n_roles] = all.items[i];
		all.items[i].trust_policy = NULL; /* moved */
		all.items[i].name[0] = '\0';     /* taken */
		run->n_roles++;
	}
	role_tags_clear(&tags);
	ar->matched = (int)run->n_roles;
	if (run->req->mode == SR_ENGINE_CLEANUP &&
	    add_visited(run, c, &all, &err) != SR_OK) {
		snprintf(ar->error, sizeof(ar->error), "%s", err.msg);
		goto out;
	}
	if (run->req->mode == SR_ENGINE_PLAN)
		goto out;
	for (i = 0; i < run->n_roles; i++)
		if (!run->roles[i].settled)
			run->roles[i].error[0] = '\0';
	atomic_store(&run->next, 0);
	n_threads = (size_t)e->cfg->aws_concurrency;
	if (n_threads > run->n_roles)
		n_threads = run->n_roles;
	if (n_threads > 64)
		n_threads = 64;
	for (i = 0; i < n_threads; i++)
		if (pthread_create(&threads[i], NULL, role_worker, run) != 0)
			break;
	n_threads = i;
	if (n_threads == 0 && run->n_roles > 0)
		role_worker(run);
	for (i = 0; i < n_threads; i++)
		pthread_join(threads[i], NULL);
	for (i = 0; i < run->n_roles; i++)
		if (strcmp(run->roles[i].outcome, "failed") == 0 && run->roles[i].error[0] == '\0')
			snprintf(run->roles[i].error, sizeof(run->roles[i].error),
				 "not reached: no connection to AWS");
	recheck_unsettled(run, c);
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

/* One log line per role whose policy was written (or that AWS refused to
 * let anyone write): the audit trail beside the report. */
static void log_role(const struct sr_role_result *r)
{
	static const char *const logged[] = {"denied", "trimmed", "deleted", "unmodifiable", NULL};
	char cut[32], quoted[300], rid[200];
	size_t i;

	for (i = 0; logged[i] != NULL && strcmp(logged[i], r->outcome) != 0; i++)
		;
	if (logged[i] == NULL)
		return;
	sr_log(SR_LOG_INFO, "engine.role", "account=%s role=%s outcome=%s cutoff=%s request_id=%s%s%s",
	       r->account, r->role_name, r->outcome, r->cutoff ? sr_time_format(r->cutoff, cut) : "-",
	       sr_log_quote(rid, sizeof(rid), r->request_id[0] ? r->request_id : "-"),
	       r->error[0] ? " detail=" : "",
	       r->error[0] ? sr_log_quote(quoted, sizeof(quoted), r->error) : "");
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
	pthread_t threads[256];
	size_t i, j, n_threads, total = 0;

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
	n_threads = (size_t)cfg->aws_parallel_accounts;
	if (n_threads > p.n)
		n_threads = p.n;
	if (n_threads > 256)
		n_threads = 256;
	for (i = 0; i < n_threads; i++)
		if (pthread_create(&threads[i], NULL, account_worker, &p) != 0)
			break;
	n_threads = i;
	if (n_threads == 0)
		account_worker(&p);
	for (i = 0; i < n_threads; i++)
		pthread_join(threads[i], NULL);
	for (i = 0; i < p.n; i++)
		total += p.runs[i].n_roles;
	rep->roles = calloc(total + 1, sizeof(*rep->roles));
	for (i = 0; i < p.n; i++) {
		struct account_run *run = &p.runs[i];
		for (j = 0; j < run->n_roles; j++) {
			if (rep->roles != NULL)
				rep->roles[rep->n_roles++] = run->roles[j];
			log_role(&run->roles[j]);
			if (strcmp(run->roles[j].outcome, "failed") == 0)
				rep->failed++;
			free(run->iam[j].trust_policy);
		}
		if (rep->accounts[i].error[0] != '\0')
			rep->failed++;
		free(run->roles);
		free(run->iam);
		sr_aws_creds_clear(&run->creds);
	}
	free(p.runs);
	return SR_OK;
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
		json_array_append_new(roles, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			"account", r->account, "role", r->role_name, "arn", r->role_arn,
			"outcome", r->outcome, "cutoff", time_or_null(r->cutoff),
			"due", time_or_null(r->due), "request_id", str_or_null(r->request_id),
			"error", str_or_null(r->error), "reasons", why,
			"visited", str_or_null(r->visited ? r->visited : ""),
			"recheck", str_or_null(r->recheck ? r->recheck : ""),
			"unsettled_until", time_or_null(r->unsettled)));
	}
	return json_pack("{s:s, s:o, s:o, s:i}", "mode", modes[rep->mode], "accounts", accounts,
			 "roles", roles, "failed", rep->failed);
}
