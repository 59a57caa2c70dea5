/*
 * query.c - revocation rows in and out.
 *
 * DESIGN: one function (rev_json) turns a revocation row into the JSON the
 * API shows, whether the row was just written (built from what was inserted,
 * so the writer does not read back what it wrote) or read from the table.
 * Statements are prepared once per connection (db.h).
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

/* A revocation row; strings borrowed. */
struct rev_row {
	const char *id, *state, *action, *time_given, *reason, *source;
	const char *source_event_id, *issuer, *subject, *token_id;
	const char *state_reason; /* NULL: the state says it all */
	const char *event_subject, *rule, *note; /* event sources; NULL: none */
	json_t *groups, *accounts, *subjects; /* stolen by rev_json */
	int64_t cutoff, created_at, updated_at;
	int64_t groups_cutoff, subjects_cutoff; /* 0: none (NULL) */
};

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *time_json(int64_t t)
{
	char buf[32];

	return json_string(sr_time_format(t, buf));
}

static json_t *time_or_null(int64_t t)
{
	return t ? time_json(t) : json_null();
}

static json_t *rev_json(const struct rev_row *r)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
			 " s:o, s:o, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o}}",
			 "id", str_or_null(r->id),
			 "state", str_or_null(r->state),
			 "state_reason", str_or_null(r->state_reason),
			 "action", str_or_null(r->action),
			 "groups", r->groups ? r->groups : json_array(),
			 "subjects", r->subjects ? r->subjects : json_array(),
			 "cutoff", time_json(r->cutoff),
			 /* what the deny policies use: the groups' (with the hold),
			  * the people's (with the ID token lifetime) */
			 "groups_cutoff", time_or_null(r->groups_cutoff),
			 "subjects_cutoff", time_or_null(r->subjects_cutoff),
			 "time", str_or_null(r->time_given),
			 "accounts", r->accounts ? r->accounts : json_null(),
			 "reason", str_or_null(r->reason),
			 "source", str_or_null(r->source),
			 "source_event_id", str_or_null(r->source_event_id),
			 "subject", str_or_null(r->event_subject),
			 "rule", str_or_null(r->rule),
			 "note", str_or_null(r->note),
			 "created_at", time_json(r->created_at),
			 "updated_at", time_json(r->updated_at),
			 "requested_by",
			 "issuer", str_or_null(r->issuer),
			 "subject", str_or_null(r->subject),
			 "token_id", str_or_null(r->token_id));
}

#define RECORDED_ONLY "no AWS accounts are configured (aws.accounts): recorded only, nothing is done in AWS"
#define NO_ROLE_MATCHED "no role in the target accounts lets these groups in: no deny policy was written, so no cleanup is due"
#define NOTHING_TO_CLEAN "no deny policy of this revocation is in place, so no cleanup is due"

/* Why a revocation is in its state, when the state alone does not say:
 * recorded (there was no account to apply it in), or applied with no cleanup
 * to come (no role matched). NULL otherwise. */
static const char *state_reason(const char *state, int cleanup_jobs, int roles)
{
	if (state == NULL)
		return NULL;
	if (strcmp(state, "recorded") == 0)
		return RECORDED_ONLY;
	if (strcmp(state, "applied") == 0 && cleanup_jobs == 0)
		return roles == 0 ? NO_ROLE_MATCHED : NOTHING_TO_CLEAN;
	return NULL;
}

static const char *text(struct db_q *q, int col)
{
	return db_text(q, col);
}

static json_t *json_text(const char *t)
{
	return t ? json_loads(t, 0, NULL) : NULL;
}

enum sr_rc sr_store_revocation_json(struct db *c, int64_t seq, const char *id,
				    json_t **out, struct sr_err *err)
{
	struct db_q *q = db_prepare(c, c->ops->sql->revocation);
	struct rev_row r;
	int step;

	*out = NULL;
	if (q == NULL)
		return sr_store_db_error(c, "read revocation", err);
	db_bind_text(q, 1, id);
	db_bind_int64(q, 2, seq);
	step = db_step(q);
	if (step == DB_DONE)
		return sr_err_set(err, SR_ENOTFOUND, "no revocation with this id");
	if (step != DB_ROW)
		return sr_store_db_error(c, "read revocation", err);
	r = (struct rev_row){
		.id = text(q, 1), .source = text(q, 2), .source_event_id = text(q, 3),
		.issuer = text(q, 4), .subject = text(q, 5), .token_id = text(q, 6),
		.action = text(q, 7), .cutoff = db_int64(q, 8),
		.time_given = text(q, 9), .accounts = json_text(text(q, 10)),
		.reason = text(q, 11), .state = text(q, 12),
		.created_at = db_int64(q, 13),
		.updated_at = db_int64(q, 14), .groups = json_text(text(q, 22)),
		.event_subject = text(q, 17), .rule = text(q, 18), .note = text(q, 19),
		.groups_cutoff = db_int64(q, 20), .subjects_cutoff = db_int64(q, 21),
		.subjects = json_text(text(q, 23)),
	};
	r.state_reason = state_reason(r.state, db_int(q, 15), db_int(q, 16));
	*out = rev_json(&r);
	db_reset(q);
	if (*out == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	return SR_OK;
}

static const char find_key_sql[] =
	"SELECT request_hash, response FROM idempotency_keys"
	" WHERE issuer = ?1 AND subject = ?2 AND key = ?3";

/* 1: found (the earlier answer is in item->result), 0: not found, -1: error. */
static int find_idempotent(struct db *c, const struct sr_revocation_in *in,
			   struct sr_store_item *item)
{
	struct db_q *q = db_prepare(c, find_key_sql);
	int step, found = 0;

	if (q == NULL) {
		sr_store_db_error(c, "idempotency lookup", &item->err);
		return -1;
	}
	db_bind_text(q, 1, in->issuer);
	db_bind_text(q, 2, in->subject ? in->subject : "");
	db_bind_text(q, 3, in->idempotency_key);
	step = db_step(q);
	if (step == DB_ROW) {
		const char *hash = text(q, 0);
		if (hash == NULL || in->request_hash == NULL ||
		    strcmp(hash, in->request_hash) != 0) {
			sr_err_set(&item->err, SR_ECONFLICT,
				   "Idempotency-Key was already used for a different request");
			found = -1;
		} else {
			item->result = json_text(text(q, 1));
			found = item->result ? 1 : -1;
		}
	} else if (step != DB_DONE) {
		sr_store_db_error(c, "idempotency lookup", &item->err);
		found = -1;
	}
	db_reset(q);
	return found;
}

static json_t *str_array(char **items, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(items[i]));
	return a;
}

/* Whether the revocation recorded as rev (the API's JSON) came from the same
 * document as doc: groups, time as given, action, accounts and reason. */
static bool same_document(json_t *rev, const struct sr_document *doc)
{
	json_t *groups = str_array(doc->groups, doc->n_groups);
	json_t *subjects = str_array(doc->subjects, doc->n_subjects);
	json_t *accounts = doc->accounts ? str_array(doc->accounts, doc->n_accounts) : json_null();
	json_t *time = doc->time_text ? json_string(doc->time_text) : json_null();
	json_t *reason = doc->reason ? json_string(doc->reason) : json_null();
	const char *action = json_string_value(json_object_get(rev, "action"));
	bool same = json_equal(json_object_get(rev, "groups"), groups) &&
		    json_equal(json_object_get(rev, "subjects"), subjects) &&
		    json_equal(json_object_get(rev, "accounts"), accounts) &&
		    json_equal(json_object_get(rev, "time"), time) &&
		    json_equal(json_object_get(rev, "reason"), reason) &&
		    action != NULL && strcmp(action, sr_action_name(doc->action)) == 0;

	json_decref(groups);
	json_decref(subjects);
	json_decref(accounts);
	json_decref(time);
	json_decref(reason);
	return same;
}

static const char find_event_sql[] =
	"SELECT seq FROM revocations WHERE source = ?1 AND source_event_id = ?2";

/* The revocation already recorded for in's event (the insert found its
 * (source, source_event_id) taken): a replay, its revocation in
 * item->result, or SR_ECONFLICT when the same id came with another document
 * (unless in->replay_any: a provider's redelivered event is the same event
 * whatever its groups resolve to now). */
static enum sr_rc recorded_event(struct db *c, const struct sr_revocation_in *in,
				 struct sr_store_item *item)
{
	struct db_q *q = db_prepare(c, find_event_sql);
	int64_t seq;
	int step;

	if (q == NULL)
		return sr_store_db_error(c, "event lookup", &item->err);
	db_bind_text(q, 1, in->source);
	db_bind_text(q, 2, in->source_event_id);
	step = db_step(q);
	if (step == DB_DONE)
		return sr_err_set(&item->err, SR_EINTERNAL,
				  "the event id was taken but its revocation is not found");
	if (step != DB_ROW)
		return sr_store_db_error(c, "event lookup", &item->err);
	seq = db_int64(q, 0);
	db_reset(q);
	if (sr_store_revocation_json(c, seq, NULL, &item->result, &item->err) != SR_OK)
		return item->err.code;
	if (!in->replay_any && !same_document(item->result, in->doc)) {
		/* One event id, two documents: the sender reused its id (a jti on
		 * another document). Nothing is written; the caller hears 422. */
		json_decref(item->result);
		item->result = NULL;
		return sr_err_set(&item->err, SR_ECONFLICT,
				  "this event id (the token's jti) was already used for a different document");
	}
	item->replayed = 1;
	return SR_OK;
}

/* The UNIQUE (source, source_event_id) key decides whether an event is new,
 * not a read before the insert: another process may share the file. */
static const char insert_rev_sql[] =
	"INSERT INTO revocations (id, source, source_event_id, issuer, subject,"
	" token_id, action, cutoff, time_given, accounts, reason, state,"
	" created_at, updated_at, event_subject, rule, note, groups_cutoff, subjects_cutoff)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?13, ?12, ?12, ?14, ?15, ?16,"
	"  CAST(?17 AS BIGINT), CAST(?18 AS BIGINT))"
	" ON CONFLICT (source, source_event_id) DO NOTHING RETURNING seq";
static const char insert_group_sql[] =
	"INSERT INTO revocation_groups (revocation_seq, position, group_name)"
	" VALUES (?1, ?2, ?3)";
static const char insert_subject_sql[] =
	"INSERT INTO revocation_subjects (revocation_seq, position, subject)"
	" VALUES (?1, ?2, ?3)";

/* Inserts names[0..n-1] with sql (seq, position, name). */
static enum sr_rc insert_names(struct db *c, const char *sql, const char *what, int64_t seq,
			       char *const *names, size_t n, struct sr_err *err)
{
	struct db_q *q;
	size_t i;

	if (n == 0)
		return SR_OK;
	if ((q = db_prepare(c, sql)) == NULL)
		return sr_store_db_error(c, what, err);
	for (i = 0; i < n; i++) {
		db_reset(q);
		db_bind_int64(q, 1, seq);
		db_bind_int64(q, 2, (int64_t)i);
		db_bind_text(q, 3, names[i]);
		if (db_step(q) != DB_DONE) {
			db_reset(q);
			return sr_store_db_error(c, what, err);
		}
	}
	db_reset(q);
	return SR_OK;
}

/* Inserts the row and its groups; OUT item->result, the row as the API shows
 * it. *seq is 0 (and nothing written) when the event was recorded before. */
static enum sr_rc insert_row(struct db *c, const struct sr_revocation_in *in,
			     struct sr_store_item *item, int64_t *seq)
{
	const struct sr_document *doc = in->doc;
	struct db_q *q;
	struct rev_row r = {0};
	char id[37], *accounts_text = NULL;
	enum sr_rc rc = SR_OK;

	*seq = 0;
	if ((rc = sr_uuid4(id, &item->err)) != SR_OK)
		return rc;
	r = (struct rev_row){
		/* No account to work in: there will never be a job. */
		.id = id, .state = in->n_targets == 0 ? "recorded" : "pending",
		.action = sr_action_name(doc->action),
		.time_given = doc->time_text, .reason = doc->reason, .source = in->source,
		.source_event_id = in->source_event_id, .issuer = in->issuer,
		.subject = in->subject ? in->subject : "",
		.token_id = in->token_id ? in->token_id : "",
		.event_subject = in->event_subject, .rule = in->rule, .note = in->note,
		.groups = str_array(doc->groups, doc->n_groups),
		.subjects = str_array(doc->subjects, doc->n_subjects),
		.accounts = doc->accounts ? str_array(doc->accounts, doc->n_accounts) : NULL,
		.cutoff = doc->cutoff, .created_at = in->now, .updated_at = in->now,
		.groups_cutoff = doc->n_groups == 0 ? 0
				 : doc->groups_cutoff ? doc->groups_cutoff : doc->cutoff,
		.subjects_cutoff = doc->n_subjects == 0 ? 0
				   : doc->subjects_cutoff ? doc->subjects_cutoff : doc->cutoff,
	};
	if (r.accounts != NULL)
		accounts_text = json_dumps(r.accounts, JSON_COMPACT);
	if ((q = db_prepare(c, insert_rev_sql)) == NULL) {
		rc = sr_store_db_error(c, "insert revocation", &item->err);
		goto out;
	}
	db_bind_text(q, 1, r.id);
	db_bind_text(q, 2, r.source);
	db_bind_text(q, 3, r.source_event_id);
	db_bind_text(q, 4, r.issuer);
	db_bind_text(q, 5, r.subject);
	db_bind_text(q, 6, r.token_id);
	db_bind_text(q, 7, r.action);
	db_bind_int64(q, 8, r.cutoff);
	db_bind_text(q, 9, r.time_given);
	db_bind_text(q, 10, accounts_text);
	db_bind_text(q, 11, r.reason);
	db_bind_int64(q, 12, r.created_at);
	db_bind_text(q, 13, r.state);
	db_bind_text(q, 14, r.event_subject);
	db_bind_text(q, 15, r.rule);
	db_bind_text(q, 16, r.note);
	if (r.groups_cutoff != 0)
		db_bind_int64(q, 17, r.groups_cutoff);
	else
		db_bind_text(q, 17, NULL);
	if (r.subjects_cutoff != 0)
		db_bind_int64(q, 18, r.subjects_cutoff);
	else
		db_bind_text(q, 18, NULL);
	switch (db_step(q)) {
	case DB_ROW:
		*seq = db_int64(q, 0);
		break;
	case DB_DONE: /* the event's id is taken */
		db_reset(q);
		goto out;
	default:
		rc = sr_store_db_error(c, "insert revocation", &item->err);
		db_reset(q);
		goto out;
	}
	db_reset(q);
	if ((rc = insert_names(c, insert_group_sql, "insert groups", *seq, doc->groups,
			       doc->n_groups, &item->err)) != SR_OK ||
	    (rc = insert_names(c, insert_subject_sql, "insert subjects", *seq, doc->subjects,
			       doc->n_subjects, &item->err)) != SR_OK)
		goto out;
	r.state_reason = state_reason(r.state, 0, 0);
	item->result = rev_json(&r);
	r.groups = r.accounts = r.subjects = NULL; /* stolen */
	if (item->result == NULL)
		rc = sr_err_set(&item->err, SR_ENOMEM, "out of memory");
out:
	json_decref(r.groups);
	json_decref(r.subjects);
	json_decref(r.accounts);
	free(accounts_text);
	return rc;
}

/* Another process may have taken the key since find_idempotent looked
 * (the key is unique, the look is not a lock): nothing is inserted then. */
static const char insert_key_sql[] =
	"INSERT INTO idempotency_keys (issuer, subject, key, request_hash,"
	" revocation_seq, response, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	" ON CONFLICT (issuer, subject, key) DO NOTHING RETURNING revocation_seq";

/* SR_OK, with *taken set when another request holds the key now. */
static enum sr_rc remember_key(struct db *c, const struct sr_revocation_in *in,
			       struct sr_store_item *item, int64_t seq, bool *taken)
{
	struct db_q *q = db_prepare(c, insert_key_sql);
	char *body = json_dumps(item->result, JSON_COMPACT);
	enum sr_rc rc = SR_OK;
	int step = DB_ERR;

	*taken = false;
	if (body == NULL)
		return sr_err_set(&item->err, SR_ENOMEM, "out of memory");
	if (q != NULL) {
		db_bind_text(q, 1, in->issuer);
		db_bind_text(q, 2, in->subject ? in->subject : "");
		db_bind_text(q, 3, in->idempotency_key);
		db_bind_text(q, 4, in->request_hash ? in->request_hash : "");
		db_bind_int64(q, 5, seq);
		db_bind_text(q, 6, body);
		db_bind_int64(q, 7, in->now);
		step = db_step(q);
		db_reset(q);
	}
	if (step == DB_DONE)
		*taken = true;
	else if (step != DB_ROW)
		rc = sr_store_db_error(c, "remember idempotency key", &item->err);
	free(body);
	return rc;
}

/* With an idempotency key: the revocation is written under a savepoint, so
 * that when another process takes the key first it is undone and that
 * request's answer (or conflict) is given instead. */
static enum sr_rc write_keyed(struct db *c, const struct sr_revocation_in *in,
			      struct sr_store_item *item, int64_t seq)
{
	enum sr_rc rc;
	bool taken;
	int found;

	if ((rc = remember_key(c, in, item, seq, &taken)) != SR_OK || !taken)
		return rc;
	if (db_exec(c, "ROLLBACK TO keyed") != 0)
		return sr_store_db_error(c, "idempotency key", &item->err);
	json_decref(item->result);
	item->result = NULL;
	found = find_idempotent(c, in, item);
	if (found == 0)
		return sr_err_set(&item->err, SR_EINTERNAL,
				  "the idempotency key was taken but is not found");
	item->replayed = found > 0;
	return found > 0 ? SR_OK : item->err.code;
}

enum sr_rc sr_store_write_one(struct db *c, const struct sr_revocation_in *in,
			      struct sr_store_item *item)
{
	enum sr_rc rc;
	int64_t seq = 0;
	int found;

	if (in->doc == NULL || in->source == NULL || in->source[0] == '\0' ||
	    in->issuer == NULL)
		return sr_err_set(&item->err, SR_EINVAL,
				  "a revocation to record needs a document, a source and an issuer");
	if (in->idempotency_key != NULL) {
		found = find_idempotent(c, in, item);
		if (found != 0) {
			item->replayed = found > 0;
			return found > 0 ? SR_OK : item->err.code;
		}
	}
	if (in->idempotency_key != NULL && db_exec(c, "SAVEPOINT keyed") != 0)
		return sr_store_db_error(c, "idempotency key", &item->err);
	if ((rc = insert_row(c, in, item, &seq)) != SR_OK)
		return rc;
	if (seq == 0) /* (a savepoint left open ends with the caller's) */
		return recorded_event(c, in, item);
	/* A 202 always has its jobs: they are written in the same transaction. */
	if ((rc = sr_store_insert_jobs(c, seq, in->doc->action == SR_ACTION_CLEANUP
						       ? "cleanup" : "apply",
				       in->targets, in->n_targets, in->now,
				       &item->err)) != SR_OK)
		return rc;
	if (in->idempotency_key != NULL && (rc = write_keyed(c, in, item, seq)) == SR_OK &&
	    db_exec(c, "RELEASE keyed") != 0)
		rc = sr_store_db_error(c, "idempotency key", &item->err);
	return rc;
}

enum sr_rc sr_store_write_revocation(struct db *c, struct sr_store_op *op)
{
	struct sr_store_item item;
	enum sr_rc rc;

	memset(&item, 0, sizeof(item));
	rc = sr_store_write_one(c, op->in, &item);
	op->result = item.result;
	op->replayed = item.replayed;
	if (rc != SR_OK)
		sr_err_set(&op->err, rc, "%s", item.err.msg);
	return rc;
}
