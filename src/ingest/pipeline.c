/*
 * pipeline.c - a source's batch of events to recorded revocations.
 *
 * DESIGN: sr_ingest_commit() works in four steps, and writes only in the
 * last: (1) each well-formed event meets the source's rules, the first rule
 * naming its kind fires, an event no rule names is counted and dropped; (2)
 * the store says which fired events it recorded before (a redelivery), and
 * those ask no directory again; (3) the groups are resolved: the event's
 * own, the rule's, "*", or a lookup in the provider's directory (the user's
 * groups now; a user the directory no longer has falls back to the last
 * groups the store knew; a failed lookup uses those plus the rule's fallback
 * and says so in the revocation's note; for a "user_changed" event, the
 * groups the user had and lost); (4) every revocation of the batch, and the
 * users' groups just learned, are committed in one transaction
 * (SR_STORE_OP_REVOCATIONS), each revocation in its own savepoint: a batch
 * retried after a lost answer changes nothing (replay_any, keyed by the
 * provider's event id).
 *
 * HTTP threads never wait on a directory: they hand the batch to the pool
 * here (sr_ingest_submit, SR_INGEST_THREADS threads) and are woken by its
 * callback. A source with answer_within_ms (okta: Okta gives up after 3
 * seconds) waits no longer than that for its batch's lookups: a lookup
 * still unanswered then counts as failed (the groups last known and the
 * rule's fallback, with a note) and goes on alone, its answer dropped.
 */
#include "ingest_int.h"

#include "session_revoker/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

/* One fired event on its way to the store. */
struct fired {
	struct sr_event *ev;
	const struct sr_rule *rule;
	bool seen;
	char **groups;
	size_t n_groups;
	char *identity; /* target "user": the person's source identity (NULL: unknown) */
	char **learned; /* the user's groups now, to remember */
	size_t n_learned;
	bool learn;
	char note[400];
	struct sr_document doc;
	char reason[600];
	bool has_deadline;        /* the source's answer_within_ms */
	struct timespec deadline; /* CLOCK_REALTIME */
};

static enum sr_rc strv_add(char ***v, size_t *n, const char *s)
{
	char **grown;
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*v)[i], s) == 0)
			return SR_OK; /* a group once */
	if ((grown = realloc(*v, (*n + 2) * sizeof(char *))) == NULL)
		return SR_ENOMEM;
	*v = grown;
	if ((grown[*n] = strdup(s)) == NULL)
		return SR_ENOMEM;
	grown[++*n] = NULL;
	return SR_OK;
}

static bool strv_has(char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* The group name the source's group_names gives id, or id itself. */
static const char *renamed(const struct sr_source_config *src, const char *id)
{
	size_t i;

	for (i = 0; i < src->n_rename; i++)
		if (strcmp(src->rename_from[i], id) == 0)
			return src->rename_to[i];
	return id;
}

static void note(struct fired *f, const char *fmt, ...) SR_PRINTF(2, 3);

/* Adds groups (renamed) to f. A "*" that a provider sent (in the event or
 * from its directory) is a name like any other and could only be meant
 * literally: it is left out, with a note, since a revocation's "*" denies
 * every federated role; only a rule's own "*" means that. */
static enum sr_rc add_all(struct fired *f, const struct sr_source_config *src,
			  char *const *groups, size_t n, bool from_provider)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *g = renamed(src, groups[i]);
		if (from_provider && strcmp(g, "*") == 0) {
			note(f, "a group named \"*\" from the provider was left out (only a rule's"
				" \"*\" means every group)");
			continue;
		}
		if (strv_add(&f->groups, &f->n_groups, g) != SR_OK)
			return SR_ENOMEM;
	}
	return SR_OK;
}


static void note(struct fired *f, const char *fmt, ...)
{
	size_t used = strlen(f->note);
	va_list ap;

	if (used > 0 && used + 2 < sizeof(f->note))
		used += (size_t)snprintf(f->note + used, sizeof(f->note) - used, "; ");
	va_start(ap, fmt);
	if (used < sizeof(f->note))
		vsnprintf(f->note + used, sizeof(f->note) - used, fmt, ap);
	va_end(ap);
}

/* ---- a lookup the batch stops waiting for at its deadline ---- */

struct bounded_call {
	struct sr_ingest *ing;
	struct sr_directory *dir;
	char *subject;
	const char *attr; /* NULL: the groups; else the attribute (static string) */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done, abandoned;
	enum sr_rc rc;
	char **groups;
	size_t n_groups;
	char *value;
	struct sr_err err;
};

/* The directory's answer for c: the user's groups, or one attribute. */
static enum sr_rc ask(struct sr_directory *dir, const char *subject, const char *attr,
		      char ***groups, size_t *n_groups, char **value, struct sr_err *err)
{
	if (attr == NULL)
		return dir->groups(dir, subject, groups, n_groups, err);
	if (dir->attribute == NULL)
		return sr_err_set(err, SR_EUNAVAIL, "this lookup gives groups only, not a user's %s",
				  attr);
	return dir->attribute(dir, subject, attr, value, err);
}

static void bounded_free(struct bounded_call *c)
{
	sr_strv_free(c->groups, c->n_groups);
	free(c->value);
	free(c->subject);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void *bounded_main(void *arg)
{
	struct bounded_call *c = arg;
	struct sr_ingest *ing = c->ing;
	bool abandoned;

	c->rc = ask(c->dir, c->subject, c->attr, &c->groups, &c->n_groups, &c->value, &c->err);
	pthread_mutex_lock(&c->mu);
	c->done = true;
	abandoned = c->abandoned;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (abandoned) { /* nobody waits for it: the thread is detached */
		bounded_free(c);
		pthread_mutex_lock(&ing->mu);
		ing->lookups_out--;
		pthread_cond_broadcast(&ing->lookups_done);
		pthread_mutex_unlock(&ing->mu);
	}
	return NULL;
}

/* The directory's groups (attr NULL) or attribute attr for f's subject,
 * waiting until f's deadline at most. */
static enum sr_rc bounded_ask(struct sr_ingest *ing, const struct sr_source_config *src,
			      struct sr_directory *dir, struct fired *f, const char *attr,
			      char ***groups, size_t *n_groups, char **value, struct sr_err *err)
{
	struct bounded_call *c;
	struct timespec now;
	pthread_t thread;
	enum sr_rc rc;

	if (!f->has_deadline)
		return ask(dir, f->ev->subject, attr, groups, n_groups, value, err);
	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec > f->deadline.tv_sec ||
	    (now.tv_sec == f->deadline.tv_sec && now.tv_nsec >= f->deadline.tv_nsec))
		return sr_err_set(err, SR_EUNAVAIL, "not asked: the %lld ms a delivery may wait"
				  " had passed (sources.%s.answer_within_ms)",
				  (long long)src->answer_within_ms, src->name);
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->subject = strdup(f->ev->subject)) == NULL) {
		free(c);
		return sr_err_set(err, SR_EUNAVAIL, "out of memory");
	}
	c->ing = ing;
	c->dir = dir;
	c->attr = attr;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->thread, NULL, bounded_main, c) != 0) {
		bounded_free(c); /* no thread to spare: unbounded, here */
		return ask(dir, f->ev->subject, attr, groups, n_groups, value, err);
	}
	pthread_mutex_lock(&c->mu);
	while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &f->deadline) != ETIMEDOUT)
		;
	if (!c->done) {
		/* From here the thread owns c, and may free it at any moment. */
		c->abandoned = true;
		thread = c->thread;
		pthread_mutex_lock(&ing->mu);
		ing->lookups_out++;
		pthread_mutex_unlock(&ing->mu);
		pthread_mutex_unlock(&c->mu);
		pthread_detach(thread);
		return sr_err_set(err, SR_EUNAVAIL, "no answer within the %lld ms a delivery may"
				  " wait (sources.%s.answer_within_ms)",
				  (long long)src->answer_within_ms, src->name);
	}
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	rc = c->rc;
	if (rc == SR_OK && attr != NULL) {
		*value = c->value;
		c->value = NULL;
	} else if (rc == SR_OK) {
		*groups = c->groups;
		*n_groups = c->n_groups;
		c->groups = NULL;
		c->n_groups = 0;
	} else {
		*err = c->err;
	}
	bounded_free(c);
	return rc;
}

/* Step 3 for a "lookup" rule. Whatever the directory says, the groups
 * revoked are never fewer than the evidence allows: a user the directory
 * no longer has, or a lookup that failed, falls back to the groups last
 * known (all of them, also for "user_changed": which of them were lost
 * cannot be told) plus the rule's fallback. */
static enum sr_rc resolve_lookup(struct sr_ingest *ing, const struct sr_source_config *src,
				 struct fired *f)
{
	struct sr_event *ev = f->ev;
	struct sr_directory *dir = sr_ingest_directory(ing, src);
	bool diff = ev->has_current || strcmp(ev->kind, "user_changed") == 0, known;
	char **now = NULL, **last = NULL, ts[32];
	size_t n_now = 0, n_last = 0, i;
	int64_t last_at = 0;
	enum sr_rc rc = SR_OK, looked = SR_EUNAVAIL;
	struct sr_err lerr = {0}, gerr = {0};

	if (ev->subject == NULL || ev->subject[0] == '\0' || strchr(ev->subject, ',') != NULL) {
		note(f, "%s: fallback groups used", ev->subject && ev->subject[0]
			? "the event is about several users, whose groups are not looked up"
			: "the event names no user to look up");
		return add_all(f, src, f->rule->fallback, f->rule->n_fallback, false);
	}
	if (ev->has_current) {
		looked = SR_OK;
	} else if (dir == NULL) {
		sr_err_set(&lerr, SR_EUNAVAIL, "no lookup is configured (sources.%s.lookup)",
			   src->name);
	} else if (sr_ingest_stopping(ing)) {
		return SR_EUNAVAIL; /* no new lookup while stopping: the batch is retried */
	} else {
		looked = bounded_ask(ing, src, dir, f, NULL, &now, &n_now, NULL, &lerr);
	}
	known = sr_store_user_groups_get(ing->store, src->name, ev->subject, &last, &n_last,
					 &last_at, &gerr) == SR_OK;
	if (looked == SR_OK) {
		char *const *cur = ev->has_current ? ev->current : now;
		size_t n_cur = ev->has_current ? ev->n_current : n_now;
		f->learn = true;
		for (i = 0; i < n_cur && rc == SR_OK; i++)
			rc = strv_add(&f->learned, &f->n_learned, cur[i]);
		if (!diff) {
			if (n_cur == 0)
				note(f, "%s is in no group of the directory", ev->subject);
			rc = rc == SR_OK ? add_all(f, src, cur, n_cur, true) : rc;
		} else if (!known) {
			note(f, "no earlier groups of %s are known, so none can be found removed:"
				" fallback groups used", ev->subject);
			rc = rc == SR_OK ? add_all(f, src, f->rule->fallback, f->rule->n_fallback,
						   false) : rc;
		} else {
			for (i = 0; i < n_last && rc == SR_OK; i++)
				if (!strv_has(cur, n_cur, last[i]))
					rc = add_all(f, src, &last[i], 1, true);
			if (f->n_groups == 0)
				note(f, "%s lost no group since %s", ev->subject,
				     sr_time_format(last_at, ts));
		}
	} else if (looked == SR_ENOTFOUND && known) {
		note(f, "%s is no longer in the directory: the groups last known (%s) used",
		     ev->subject, sr_time_format(last_at, ts));
		rc = add_all(f, src, last, n_last, true);
	} else {
		note(f, "lookup of %s failed (%s): %sfallback groups used", ev->subject,
		     looked == SR_ENOTFOUND ? "no such user, and no groups of it known" : lerr.msg,
		     known ? "the groups last known and the " : "");
		rc = add_all(f, src, last, n_last, true);
		if (rc == SR_OK)
			rc = add_all(f, src, f->rule->fallback, f->rule->n_fallback, false);
	}
	sr_strv_free(now, n_now);
	sr_strv_free(last, n_last);
	return rc;
}

/* value as a note may quote it: at most 64 bytes, each one that is not
 * printable ASCII (a control character, a byte of a multi-byte character
 * that the cut could split) as '?', so the note stays one line of valid
 * UTF-8 whatever the directory answered. */
static void quotable(const char *value, char *out, size_t cap)
{
	size_t i;

	for (i = 0; value[i] != '\0' && i < 64 && i + 1 < cap; i++) {
		unsigned char c = (unsigned char)value[i];
		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[i] = '\0';
}

/* Step 3 for a rule with "target": "user": the person's source identity
 * (sources.<name>.identity): the event's user id, the email the event gives,
 * else the directory's. One that cannot be known, or that no session could
 * carry (not a valid source identity), revokes the rule's fallback groups
 * instead, with a note: never nothing without saying so. */
static enum sr_rc resolve_identity(struct sr_ingest *ing, const struct sr_source_config *src,
				   struct fired *f)
{
	struct sr_event *ev = f->ev;
	const char *kind = src->identity ? src->identity : "email";
	struct sr_directory *dir = ing->store ? sr_ingest_directory(ing, src) : NULL;
	const char *why;
	char *value = NULL, shown[65];
	struct sr_err lerr = {0};

	if (ev->subject == NULL || ev->subject[0] == '\0' || strchr(ev->subject, ',') != NULL) {
		note(f, "%s: fallback groups used", ev->subject && ev->subject[0]
			? "the event is about several users" : "the event names no user");
		return add_all(f, src, f->rule->fallback, f->rule->n_fallback, false);
	}
	if (strcmp(kind, "subject") == 0)
		value = strdup(ev->subject);
	else if (strcmp(kind, "email") == 0 && ev->email != NULL && ev->email[0] != '\0')
		value = strdup(ev->email);
	else if (ing->store == NULL) { /* rules test: offline */
		note(f, "the %s of %s would be looked up", kind, ev->subject);
		return SR_OK;
	} else if (dir == NULL)
		sr_err_set(&lerr, SR_EUNAVAIL, "no lookup is configured (sources.%s.lookup)",
			   src->name);
	else if (sr_ingest_stopping(ing))
		return SR_EUNAVAIL; /* no new lookup while stopping: the batch is retried */
	else if (bounded_ask(ing, src, dir, f, kind, NULL, NULL, &value, &lerr) == SR_OK &&
		 value == NULL)
		sr_err_set(&lerr, SR_ENOTFOUND, "the directory has no %s for this user", kind);
	if (value == NULL && lerr.code == SR_OK)
		return SR_ENOMEM;
	if (value != NULL && (why = sr_subject_problem(ing->cfg->targeted_tag, value)) != NULL) {
		quotable(value, shown, sizeof(shown));
		note(f, "%s's %s \"%s\" %s: fallback groups used", ev->subject, kind, shown, why);
		free(value);
		return add_all(f, src, f->rule->fallback, f->rule->n_fallback, false);
	}
	if (value == NULL) {
		note(f, "the %s of %s is not known (%s): fallback groups used", kind, ev->subject,
		     lerr.msg);
		return add_all(f, src, f->rule->fallback, f->rule->n_fallback, false);
	}
	f->identity = value;
	return SR_OK;
}

/* Step 3: the groups of one fired, not yet recorded, event. */
static enum sr_rc resolve(struct sr_ingest *ing, const struct sr_source_config *src,
			  struct fired *f)
{
	if (f->rule->target_user)
		return resolve_identity(ing, src, f);
	switch (f->rule->mode) {
	case SR_RULE_FROM_EVENT:
		if (f->ev->n_groups == 0)
			note(f, "the event names no group");
		return add_all(f, src, f->ev->groups, f->ev->n_groups, true);
	case SR_RULE_FIXED:
		return add_all(f, src, f->rule->groups, f->rule->n_groups, false);
	case SR_RULE_ALL:
		return strv_add(&f->groups, &f->n_groups, "*");
	case SR_RULE_LOOKUP:
		if (ing->store == NULL) { /* rules test: offline */
			note(f, "the groups of %s would be looked up", f->ev->subject);
			return SR_OK;
		}
		return resolve_lookup(ing, src, f);
	}
	return SR_OK;
}

/* Step 3 for the fired events not recorded before. The lookups of a batch
 * run side by side, at most LOOKUPS_AT_ONCE at a time, so a batch costs its
 * slowest lookup rather than their sum (each one is bounded by
 * http_client.timeout_seconds). Every resolve() writes only its own event. */
#define LOOKUPS_AT_ONCE 8

struct resolve_task {
	struct sr_ingest *ing;
	const struct sr_source_config *src;
	struct fired *f;
	enum sr_rc rc;
	pthread_t thread;
	bool started;
};

static void *resolve_main(void *arg)
{
	struct resolve_task *t = arg;

	t->rc = resolve(t->ing, t->src, t->f);
	return NULL;
}

static enum sr_rc resolve_all(struct sr_ingest *ing, const struct sr_source_config *src,
			      struct fired *fired, size_t n)
{
	struct resolve_task tasks[LOOKUPS_AT_ONCE];
	size_t i, k = 0, j;
	enum sr_rc rc = SR_OK;

	for (i = 0; i <= n; i++) {
		bool lookup = i < n && !fired[i].seen && ing->store != NULL &&
			      (fired[i].rule->mode == SR_RULE_LOOKUP || fired[i].rule->target_user);
		if (i < n && !fired[i].seen && !lookup) {
			enum sr_rc one = resolve(ing, src, &fired[i]);
			rc = rc == SR_OK ? one : rc;
			continue;
		}
		if (lookup) {
			tasks[k] = (struct resolve_task){.ing = ing, .src = src, .f = &fired[i]};
			tasks[k].started = pthread_create(&tasks[k].thread, NULL, resolve_main,
							  &tasks[k]) == 0;
			if (!tasks[k].started) /* no thread to spare: here, in turn */
				resolve_main(&tasks[k]);
			k++;
		}
		if (k == LOOKUPS_AT_ONCE || (i == n && k > 0)) {
			for (j = 0; j < k; j++) {
				if (tasks[j].started)
					pthread_join(tasks[j].thread, NULL);
				rc = rc == SR_OK ? tasks[j].rc : rc;
			}
			k = 0;
		}
	}
	return rc;
}

static void fired_clear(struct fired *f)
{
	sr_strv_free(f->groups, f->n_groups);
	sr_strv_free(f->learned, f->n_learned);
	free(f->identity);
}

static void add_error(json_t *errors, const struct sr_event *ev, const char *msg)
{
	json_array_append_new(errors, json_pack("{s:I, s:o, s:s}", "index", (json_int_t)ev->index,
						"event_id", ev->event_id ? json_string(ev->event_id)
									 : json_null(),
						"error", msg));
}

/* The cut-off of an event: its time, rounded up to the next whole second
 * when the provider gave a fraction (Auth0 writes milliseconds), so a
 * session issued in the event's own second, before the event, is denied
 * too: IAM compares aws:TokenIssueTime in whole seconds. */
static int64_t cutoff_of(const struct sr_event *ev)
{
	const char *t = ev->time_text, *dot;

	if (t == NULL || (dot = strchr(t, '.')) == NULL || strchr(t, 'T') == NULL)
		return ev->time;
	for (dot++; *dot >= '0' && *dot <= '9'; dot++)
		if (*dot != '0')
			return ev->time + 1;
	return ev->time;
}

/* Step 4: the store op for the fired events; fills items. */
static enum sr_rc record(struct sr_ingest *ing, const struct sr_source_config *src,
			 struct fired *fired, size_t n, const struct sr_ingest_sender *sender,
			 int64_t now, struct sr_store_item *items, struct sr_err *err)
{
	const struct sr_config *cfg = ing->cfg;
	struct sr_revocation_in *ins = calloc(n + 1, sizeof(*ins));
	struct sr_user_groups *cache = calloc(n + 1, sizeof(*cache));
	char **targets = calloc(cfg->n_accounts + 1, sizeof(char *));
	struct sr_store_op op = {0};
	size_t i, n_cache = 0;
	enum sr_rc rc;

	if (ins == NULL || cache == NULL || targets == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < cfg->n_accounts; i++)
		targets[i] = (char *)cfg->accounts[i].id;
	for (i = 0; i < n; i++) {
		struct fired *f = &fired[i];
		f->doc = (struct sr_document){
			.groups = f->groups, .n_groups = f->n_groups, .cutoff = cutoff_of(f->ev),
			.subjects = f->identity ? &f->identity : NULL, .n_subjects = f->identity != NULL,
			.time_text = f->ev->time_text, .action = SR_ACTION_REVOKE, .reason = f->reason,
		};
		sr_document_set_cutoffs(&f->doc, cfg->hold_seconds,
					src->token_lifetime_seconds > 0 ? src->token_lifetime_seconds
									: cfg->targeted_lifetime);
		snprintf(f->reason, sizeof(f->reason), "%s event %s%s%s%s for %s", src->name,
			 f->ev->kind, f->ev->type ? " (" : "", f->ev->type ? f->ev->type : "",
			 f->ev->type ? ")" : "", f->ev->subject && f->ev->subject[0] ? f->ev->subject
										: "no user");
		ins[i] = (struct sr_revocation_in){
			.doc = &f->doc, .source = src->name, .source_event_id = f->ev->event_id,
			.issuer = sender->issuer, .subject = sender->subject,
			.token_id = sender->token_id, .targets = targets,
			/* no group: kept for the record, nothing to do in AWS */
			.n_targets = f->n_groups > 0 || f->identity ? cfg->n_accounts : 0,
			.event_subject = f->ev->subject, .rule = f->rule->name,
			.note = f->note[0] ? f->note : NULL, .replay_any = true, .now = now,
		};
		if (f->learn)
			cache[n_cache++] = (struct sr_user_groups){
				.source = src->name, .subject = f->ev->subject, .groups = f->learned,
				.n_groups = f->n_learned, .at = now,
			};
	}
	op.kind = SR_STORE_OP_REVOCATIONS;
	op.in = ins;
	op.n_in = n;
	op.items = items;
	op.cache = cache;
	op.n_cache = n_cache;
	rc = sr_store_submit_wait(ing->store, &op, err);
out:
	free(ins);
	free(cache);
	free(targets);
	return rc;
}

enum sr_rc sr_ingest_commit(struct sr_ingest *ing, const struct sr_source_config *src,
			    struct sr_event_batch *batch, const struct sr_ingest_sender *sender,
			    int64_t now, json_t **summary, struct sr_err *err)
{
	struct fired *fired = calloc(batch->n + 1, sizeof(*fired));
	struct sr_store_item *items = calloc(batch->n + 1, sizeof(*items));
	char **ids = calloc(batch->n + 1, sizeof(char *));
	bool *seen = calloc(batch->n + 1, sizeof(bool));
	json_t *revs = json_array(), *errors = json_array();
	size_t i, n = 0, dropped = 0, replayed = 0, recorded = 0;
	enum sr_rc rc = SR_OK;
	struct timespec deadline = {0};

	*summary = NULL;
	if (src->answer_within_ms > 0) {
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += src->answer_within_ms / 1000;
		deadline.tv_nsec += (long)(src->answer_within_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	if (fired == NULL || items == NULL || ids == NULL || seen == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < batch->n; i++) { /* (1) the rules */
		struct sr_event *ev = &batch->v[i];
		const struct sr_rule *rule;
		if (ev->error != NULL) {
			add_error(errors, ev, ev->error);
			continue;
		}
		if ((rule = sr_rules_match(&src->rules, ev->kind)) == NULL) {
			dropped++;
			continue;
		}
		fired[n].ev = ev;
		fired[n].rule = rule;
		fired[n].has_deadline = src->answer_within_ms > 0;
		fired[n].deadline = deadline;
		ids[n++] = ev->event_id;
	}
	if (n > 0 && ing->store != NULL && /* (2) redeliveries */
	    (rc = sr_store_events_seen(ing->store, src->name, ids, n, seen, err)) != SR_OK)
		goto out;
	for (i = 0; i < n; i++) {
		size_t j;
		fired[i].seen = seen[i];
		/* The same event twice in one delivery: the store keeps the first,
		 * the second replays it, and needs no lookup of its own. */
		for (j = 0; j < i && !fired[i].seen; j++)
			fired[i].seen = strcmp(ids[j], ids[i]) == 0;
	}
	/* (3) the groups. limits.max_groups bounds what a caller sends, not what
	 * a directory says a user is in: those groups are all revoked. */
	if ((rc = resolve_all(ing, src, fired, n)) != SR_OK) {
		rc = sr_err_set(err, rc, rc == SR_EUNAVAIL ? "the service is stopping: send"
				" the batch again" : "out of memory");
		goto out;
	}
	if (n > 0 && ing->store != NULL && /* (4) one transaction */
	    (rc = record(ing, src, fired, n, sender, now, items, err)) != SR_OK)
		goto out;
	/* A revocation the store could not write (not one it refused) fails the
	 * delivery: the provider sends it again, and what did commit replays. */
	for (i = 0; ing->store != NULL && i < n; i++)
		if (items[i].rc != SR_OK && items[i].rc != SR_ECONFLICT && items[i].rc != SR_EINVAL) {
			rc = sr_err_set(err, SR_ESTORE, "event %s was not recorded (%s): send the"
					" batch again", fired[i].ev->event_id, items[i].err.msg);
			goto out;
		}
	for (i = 0; i < n; i++) {
		struct fired *f = &fired[i];
		json_t *one;
		if (ing->store != NULL && items[i].rc != SR_OK) {
			add_error(errors, f->ev, items[i].err.msg);
			continue;
		}
		one = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o}", "index", (json_int_t)f->ev->index,
				"event_id", f->ev->event_id, "kind", f->ev->kind, "rule",
				f->rule->name, "subject", json_string(f->ev->subject ? f->ev->subject : ""),
				"groups", items[i].result ? json_incref(json_object_get(items[i].result,
							"groups"))
							  : sr_strv_json(f->groups, f->n_groups));
		json_object_set_new(one, "subjects", items[i].result
			? json_incref(json_object_get(items[i].result, "subjects"))
			: sr_strv_json(f->identity ? &f->identity : NULL, f->identity != NULL));
		if (items[i].result != NULL)
			json_object_set(one, "id", json_object_get(items[i].result, "id"));
		if (items[i].result != NULL && json_is_string(json_object_get(items[i].result, "note")))
			json_object_set(one, "note", json_object_get(items[i].result, "note"));
		else if (f->note[0] != '\0')
			json_object_set_new(one, "note", json_string(f->note));
		json_object_set_new(one, "replayed", json_boolean(items[i].replayed));
		replayed += items[i].replayed != 0;
		recorded += ing->store != NULL && !items[i].replayed;
		json_array_append_new(revs, one);
	}
	*summary = json_pack("{s:s, s:I, s:I, s:I, s:I, s:O, s:O}", "source", src->name,
			     "received", (json_int_t)batch->n, "recorded", (json_int_t)recorded,
			     "replayed", (json_int_t)replayed, "dropped", (json_int_t)dropped,
			     "revocations", revs, "errors", errors);
	if (ing->store != NULL) { /* rules test prints its own answer */
		sr_metric_events(src->name, batch->n, recorded, replayed, dropped,
				 json_array_size(errors));
		sr_log(SR_LOG_INFO, "events.batch",
		       "source=%s received=%zu recorded=%zu replayed=%zu dropped=%zu errors=%zu",
		       src->name, batch->n, recorded, replayed, dropped, json_array_size(errors));
	}
out:
	for (i = 0; fired != NULL && i < n; i++)
		fired_clear(&fired[i]);
	for (i = 0; items != NULL && i < batch->n; i++)
		json_decref(items[i].result);
	free(fired);
	free(items);
	free(ids);
	free(seen);
	json_decref(revs);
	json_decref(errors);
	return rc;
}

/* ---- the pool ---- */

static void *pool_main(void *arg)
{
	struct sr_ingest *ing = arg;
	struct sr_ingest_job *job;

	pthread_mutex_lock(&ing->mu);
	for (;;) {
		while (ing->head == NULL && !ing->stopping)
			pthread_cond_wait(&ing->wake, &ing->mu);
		if (ing->head == NULL)
			break;
		job = ing->head;
		ing->head = job->next;
		if (ing->head == NULL)
			ing->tail = NULL;
		pthread_mutex_unlock(&ing->mu);
		sr_err_clear(&job->err);
		job->rc = sr_ingest_commit(ing, job->source, job->batch, &job->sender, job->now,
					   &job->summary, &job->err);
		job->done(job);
		pthread_mutex_lock(&ing->mu);
	}
	pthread_mutex_unlock(&ing->mu);
	return NULL;
}

enum sr_rc sr_ingest_submit(struct sr_ingest *ing, struct sr_ingest_job *job,
			    struct sr_err *err)
{
	pthread_mutex_lock(&ing->mu);
	if (ing->stopping || ing->n_threads == 0) {
		pthread_mutex_unlock(&ing->mu);
		return sr_err_set(err, SR_EUNAVAIL, "the service is shutting down");
	}
	job->next = NULL;
	if (ing->tail != NULL)
		ing->tail->next = job;
	else
		ing->head = job;
	ing->tail = job;
	pthread_cond_signal(&ing->wake);
	pthread_mutex_unlock(&ing->mu);
	return SR_OK;
}

bool sr_ingest_stopping(struct sr_ingest *ing)
{
	bool stopping;

	pthread_mutex_lock(&ing->mu);
	stopping = ing->stopping;
	pthread_mutex_unlock(&ing->mu);
	return stopping;
}

void sr_ingest_stop(struct sr_ingest *ing)
{
	struct sr_ingest_job *job, *next;

	if (ing == NULL)
		return;
	pthread_mutex_lock(&ing->mu);
	ing->stopping = true;
	job = ing->head;
	ing->head = ing->tail = NULL;
	pthread_cond_broadcast(&ing->wake);
	pthread_mutex_unlock(&ing->mu);
	for (; job != NULL; job = next) { /* not begun: refused, to be sent again */
		next = job->next;
		job->rc = sr_err_set(&job->err, SR_EUNAVAIL, "the service is stopping: send it again");
		job->done(job);
	}
}

/* ---- setting up ---- */

static enum sr_rc directory_new(struct sr_ingest *ing, const struct sr_source_config *src,
				struct sr_auth0_api **api, struct sr_directory **dir,
				struct sr_err *err)
{
	enum sr_rc rc = SR_OK;

	if (src->lookup.kind == NULL || !src->enabled)
		return SR_OK;
	if (strcmp(src->lookup.kind, "auth0") == 0) {
		rc = sr_auth0_api_new(&src->lookup, &ing->sc->http, api, err);
		if (rc == SR_OK)
			*dir = sr_auth0_api_directory(*api);
	} else {
		rc = sr_directory_http_new(&src->lookup, &ing->sc->http, dir, err);
	}
	return rc;
}

enum sr_rc sr_ingest_new(const struct sr_config *cfg, const struct sr_sources_config *sc,
			 struct sr_store *store, struct sr_ingest **out, struct sr_err *err)
{
	struct sr_ingest *ing = calloc(1, sizeof(*ing));
	enum sr_rc rc = SR_OK;

	*out = NULL;
	if (ing == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	ing->cfg = cfg;
	ing->sc = sc;
	ing->store = store;
	pthread_mutex_init(&ing->mu, NULL);
	pthread_cond_init(&ing->wake, NULL);
	pthread_cond_init(&ing->lookups_done, NULL);
	/* Offline (rules test) no secret is needed. */
	if (store != NULL && (rc = sr_ingest_load_secrets(ing, err)) != SR_OK)
		goto out;
	if (store != NULL &&
	    ((rc = directory_new(ing, &sc->auth0, &ing->api[0], &ing->dir[0], err)) != SR_OK ||
	     (rc = directory_new(ing, &sc->group_change, &ing->api[1], &ing->dir[1], err)) != SR_OK ||
	     (rc = directory_new(ing, &sc->ssf, &ing->api[2], &ing->dir[2], err)) != SR_OK ||
	     (rc = directory_new(ing, &sc->okta, &ing->api[3], &ing->dir[3], err)) != SR_OK))
		goto out;
	while (store != NULL && ing->n_threads < SR_INGEST_THREADS) {
		if (pthread_create(&ing->threads[ing->n_threads], NULL, pool_main, ing) != 0) {
			rc = sr_err_set(err, SR_EINTERNAL, "cannot start the ingest threads");
			goto out;
		}
		ing->n_threads++;
	}
out:
	if (rc != SR_OK) {
		sr_ingest_free(ing);
		return rc;
	}
	*out = ing;
	return SR_OK;
}

void sr_ingest_free(struct sr_ingest *ing)
{
	int i;

	if (ing == NULL)
		return;
	sr_ingest_stop(ing);
	for (i = 0; i < ing->n_threads; i++)
		pthread_join(ing->threads[i], NULL);
	/* Lookups a delivery stopped waiting for still use the directories;
	 * each ends within the HTTP client's timeout. */
	pthread_mutex_lock(&ing->mu);
	while (ing->lookups_out > 0)
		pthread_cond_wait(&ing->lookups_done, &ing->mu);
	pthread_mutex_unlock(&ing->mu);
	for (i = 0; i < SR_INGEST_RECENT; i++)
		free(ing->recent[i]);
	for (i = 0; i < SR_INGEST_SOURCES; i++) {
		if (ing->api[i] != NULL)
			sr_auth0_api_free(ing->api[i]);
		else if (ing->dir[i] != NULL)
			ing->dir[i]->free(ing->dir[i]);
	}
	pthread_cond_destroy(&ing->wake);
	pthread_cond_destroy(&ing->lookups_done);
	pthread_mutex_destroy(&ing->mu);
	OPENSSL_cleanse(ing->secret_md, sizeof(ing->secret_md));
	free(ing);
}

struct sr_directory *sr_ingest_directory(struct sr_ingest *ing, const struct sr_source_config *src)
{
	return ing->dir[sr_ingest_slot(ing, src)];
}

struct sr_auth0_api *sr_ingest_auth0_api(struct sr_ingest *ing)
{
	return ing->api[0];
}
