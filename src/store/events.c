/*
 * events.c - what the event sources (issue 9) need of the store: a batch of
 * revocations in one transaction, the users' last known groups, which event
 * ids are recorded already, and small durable values (service_meta).
 *
 * DESIGN: a batch (SR_STORE_OP_REVOCATIONS) is one op of the writer's group
 * commit. Each of its revocations runs in a savepoint nested in the op's own,
 * so one refused revocation is rolled back alone and the others still commit;
 * the user_groups records ride in the same transaction. Whether an event is
 * new is decided by the UNIQUE (source, source_event_id) key at the insert
 * (query.c), so two processes sharing the file never record it twice.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

/* The key the readiness check writes (writer.c): not for sr_store_meta_put. */
#define READY_CHECK_KEY "ready_check"

struct meta_put {
	const char *key, *value;
};

/* A newer record never gives way to an older one (two lookups of one user
 * committed out of order). */
static const char put_groups_sql[] =
	"INSERT INTO user_groups (source, subject, groups, updated_at) VALUES (?1, ?2, ?3, ?4)"
	" ON CONFLICT (source, subject) DO UPDATE SET groups = excluded.groups,"
	" updated_at = excluded.updated_at WHERE excluded.updated_at >= user_groups.updated_at";

static enum sr_rc put_groups(struct db *c, const struct sr_user_groups *u, struct sr_err *err)
{
	json_t *a = NULL;
	char *text = NULL;
	struct db_q *q;
	enum sr_rc rc = SR_OK;
	size_t i;

	if (u->source == NULL || u->source[0] == '\0' || u->subject == NULL ||
	    u->subject[0] == '\0')
		return sr_err_set(err, SR_EINVAL, "a user's groups need a source and a subject");
	if ((a = json_array()) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	for (i = 0; i < u->n_groups; i++) {
		if (u->groups == NULL || u->groups[i] == NULL) {
			rc = sr_err_set(err, SR_EINVAL, "group %zu of a user's groups is missing", i);
			goto out;
		}
		if (json_array_append_new(a, json_string(u->groups[i])) != 0) {
			rc = sr_err_set(err, SR_EINVAL,
					"group %zu of a user's groups is not UTF-8", i);
			goto out;
		}
	}
	if ((text = json_dumps(a, JSON_COMPACT)) == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	if ((q = db_prepare(c, put_groups_sql)) == NULL) {
		rc = sr_store_db_error(c, "user groups", err);
		goto out;
	}
	db_bind_text(q, 1, u->source);
	db_bind_text(q, 2, u->subject);
	db_bind_text(q, 3, text);
	db_bind_int64(q, 4, u->at);
	if (db_step(q) != DB_DONE)
		rc = sr_store_db_error(c, "user groups", err);
	db_reset(q);
out:
	free(text);
	json_decref(a);
	return rc;
}

void sr_store_items_fail(struct sr_store_op *op)
{
	size_t i;

	for (i = 0; op->items != NULL && i < op->n_in; i++) {
		struct sr_store_item *item = &op->items[i];
		json_decref(item->result);
		item->result = NULL;
		item->replayed = 0;
		item->rc = op->rc;
		sr_err_clear(&item->err);
		sr_err_set(&item->err, op->rc, "%s", op->err.msg);
	}
}

enum sr_rc sr_store_write_batch(struct db *c, struct sr_store_op *op,
				struct store_outcome *o)
{
	struct db *db = c;
	enum sr_rc rc = SR_OK;
	size_t i;

	if ((op->n_in > 0 && (op->in == NULL || op->items == NULL)) ||
	    (op->n_cache > 0 && op->cache == NULL))
		return sr_err_set(&op->err, SR_EINVAL, "a batch without its revocations or records");
	for (i = 0; i < op->n_in; i++)
		memset(&op->items[i], 0, sizeof(op->items[i]));
	for (i = 0; i < op->n_cache && rc == SR_OK; i++)
		rc = put_groups(c, &op->cache[i], &op->err);
	if (rc != SR_OK)
		return rc; /* the writer rolls the op back and fails its items */
	for (i = 0; i < op->n_in; i++) {
		struct sr_store_item *item = &op->items[i];
		if (db_exec(db, "SAVEPOINT rev") != 0) {
			item->rc = sr_store_db_error(db, "savepoint", &item->err);
			if (db_passing(db))
				return item->rc; /* the writer runs the batch again */
			sr_store_outcome_fail(o, db, false);
			continue;
		}
		item->rc = sr_store_write_one(c, &op->in[i], item);
		if (item->rc != SR_OK) {
			if (db_passing(db))
				return item->rc;
			if (item->rc == SR_ESTORE) /* a database error, not a refusal */
				sr_store_outcome_fail(o, db, false);
			db_exec(db, "ROLLBACK TO rev");
			json_decref(item->result);
			item->result = NULL;
			item->replayed = 0;
		}
		db_exec(db, "RELEASE rev");
	}
	return SR_OK;
}

static const char meta_put_sql[] =
	"INSERT INTO service_meta (key, value) VALUES (?1, ?2)"
	" ON CONFLICT (key) DO UPDATE SET value = excluded.value";

enum sr_rc sr_store_write_meta(struct db *c, struct sr_store_op *op)
{
	const struct meta_put *m = op->args;
	struct db_q *q = db_prepare(c, meta_put_sql);
	enum sr_rc rc = SR_OK;

	if (q == NULL)
		return sr_store_db_error(c, "service_meta", &op->err);
	db_bind_text(q, 1, m->key);
	db_bind_text(q, 2, m->value);
	if (db_step(q) != DB_DONE)
		rc = sr_store_db_error(c, "service_meta", &op->err);
	db_reset(q);
	return rc;
}

enum sr_rc sr_store_meta_put(struct sr_store *st, const char *key, const char *value,
			     struct sr_err *err)
{
	struct meta_put m = {.key = key, .value = value};
	struct sr_store_op op;

	if (key == NULL || key[0] == '\0' || value == NULL)
		return sr_err_set(err, SR_EINVAL, "a stored value needs a key and a value");
	if (strcmp(key, READY_CHECK_KEY) == 0)
		return sr_err_set(err, SR_EINVAL, "the key \"%s\" is the readiness check's",
				  READY_CHECK_KEY);
	memset(&op, 0, sizeof(op));
	op.kind = SR_STORE_OP_META;
	op.args = &m;
	return sr_store_submit_wait(st, &op, err);
}

enum sr_rc sr_store_meta_get(struct sr_store *st, const char *key, char **value,
			     struct sr_err *err)
{
	static const char sql[] = "SELECT value FROM service_meta WHERE key = ?1";
	enum sr_rc rc = SR_OK;
	int slot, step;
	struct db *c = sr_store_reader_take(st, &slot);
	struct db_q *q = db_prepare(c, sql);

	*value = NULL;
	if (q == NULL) {
		rc = sr_store_db_error(c, "service_meta", err);
		goto out;
	}
	db_bind_text(q, 1, key);
	step = db_step(q);
	if (step == DB_DONE)
		rc = sr_err_set(err, SR_ENOTFOUND, "no stored value \"%s\"", key ? key : "");
	else if (step != DB_ROW)
		rc = sr_store_db_error(c, "service_meta", err);
	else if ((*value = strdup(db_text(q, 0))) == NULL)
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
	db_reset(q);
out:
	sr_store_reader_give(st, slot);
	return rc;
}

enum sr_rc sr_store_events_seen(struct sr_store *st, const char *source, char *const *ids,
				size_t n, bool *seen, struct sr_err *err)
{
	static const char sql[] =
		"SELECT 1 FROM revocations WHERE source = ?1 AND source_event_id = ?2";
	enum sr_rc rc = SR_OK;
	int slot, step;
	struct db *c;
	struct db_q *q;
	size_t i;

	for (i = 0; i < n; i++)
		seen[i] = false;
	if (source == NULL)
		return sr_err_set(err, SR_EINVAL, "which source's events: none named");
	c = sr_store_reader_take(st, &slot);
	for (i = 0; i < n && rc == SR_OK; i++) {
		if (ids[i] == NULL)
			continue;
		if ((q = db_prepare(c, sql)) == NULL) {
			rc = sr_store_db_error(c, "events seen", err);
			break;
		}
		db_bind_text(q, 1, source);
		db_bind_text(q, 2, ids[i]);
		step = db_step(q);
		if (step == DB_ROW)
			seen[i] = true;
		else if (step != DB_DONE)
			rc = sr_store_db_error(c, "events seen", err);
		db_reset(q);
	}
	sr_store_reader_give(st, slot);
	return rc;
}

/* The groups of a user_groups row: a JSON array of strings. OUT *groups. */
static enum sr_rc groups_of(const char *text, char ***groups, size_t *n, struct sr_err *err)
{
	json_t *a = text ? json_loads(text, 0, NULL) : NULL;
	enum sr_rc rc = SR_OK;
	size_t i;

	if (!json_is_array(a)) {
		rc = sr_err_set(err, SR_ESTORE, "a user_groups row is not a JSON array");
		goto out;
	}
	if (json_array_size(a) > 0 &&
	    (*groups = calloc(json_array_size(a), sizeof(char *))) == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < json_array_size(a); i++) {
		const char *g = json_string_value(json_array_get(a, i));
		if (g == NULL) {
			rc = sr_err_set(err, SR_ESTORE, "a user_groups row holds a non-string");
			break;
		}
		if (((*groups)[i] = strdup(g)) == NULL) {
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
			break;
		}
		(*n)++;
	}
out:
	json_decref(a);
	return rc;
}

enum sr_rc sr_store_user_groups_get(struct sr_store *st, const char *source,
				    const char *subject, char ***groups, size_t *n_groups,
				    int64_t *at, struct sr_err *err)
{
	static const char sql[] =
		"SELECT groups, updated_at FROM user_groups WHERE source = ?1 AND subject = ?2";
	enum sr_rc rc = SR_OK;
	int slot, step;
	struct db *c = sr_store_reader_take(st, &slot);
	struct db_q *q = db_prepare(c, sql);

	*groups = NULL;
	*n_groups = 0;
	*at = 0;
	if (q == NULL) {
		rc = sr_store_db_error(c, "user groups", err);
		goto out;
	}
	db_bind_text(q, 1, source);
	db_bind_text(q, 2, subject);
	step = db_step(q);
	if (step == DB_DONE)
		rc = sr_err_set(err, SR_ENOTFOUND, "no groups known for this user");
	else if (step != DB_ROW)
		rc = sr_store_db_error(c, "user groups", err);
	else if ((rc = groups_of(db_text(q, 0), groups, n_groups,
				 err)) == SR_OK)
		*at = db_int64(q, 1);
	db_reset(q);
out:
	sr_store_reader_give(st, slot);
	if (rc != SR_OK) {
		sr_strv_free(*groups, *n_groups);
		*groups = NULL;
		*n_groups = 0;
	}
	return rc;
}
