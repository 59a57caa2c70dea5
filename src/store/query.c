/*
 * query.c - revocation rows in and out.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

static const char select_sql[] =
	"SELECT r.seq, r.id, r.source, r.source_event_id, r.issuer, r.subject,"
	"       r.token_id, r.action, r.cutoff, r.time_given, r.accounts, r.reason,"
	"       r.state, r.created_at, r.updated_at,"
	"       (SELECT json_group_array(group_name) FROM (SELECT group_name"
	"          FROM revocation_groups WHERE revocation_seq = r.seq ORDER BY position))"
	"  FROM revocations r WHERE (?1 IS NULL AND r.seq = ?2) OR r.id = ?1";

static json_t *text_or_null(sqlite3_stmt *q, int col)
{
	const unsigned char *t = sqlite3_column_text(q, col);

	return t ? json_string((const char *)t) : json_null();
}

static json_t *json_col(sqlite3_stmt *q, int col)
{
	const char *t = (const char *)sqlite3_column_text(q, col);
	json_t *v = t ? json_loads(t, 0, NULL) : NULL;

	return v ? v : json_null();
}

static json_t *time_col(sqlite3_stmt *q, int col)
{
	char buf[32];

	return json_string(sr_time_format(sqlite3_column_int64(q, col), buf));
}

enum sr_rc sr_store_revocation_json(sqlite3 *db, int64_t seq, const char *id,
				    json_t **out, struct sr_err *err)
{
	enum sr_rc rc = SR_OK;
	sqlite3_stmt *q = NULL;
	int r;

	*out = NULL;
	if (sqlite3_prepare_v2(db, select_sql, -1, &q, NULL) != SQLITE_OK)
		return sr_store_db_error(db, "read revocation", err);
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, seq);
	r = sqlite3_step(q);
	if (r == SQLITE_DONE) {
		rc = sr_err_set(err, SR_ENOTFOUND, "no revocation with this id");
		goto out;
	}
	if (r != SQLITE_ROW) {
		rc = sr_store_db_error(db, "read revocation", err);
		goto out;
	}
	*out = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
			 " s:{s:o, s:o, s:o}}",
			 "id", text_or_null(q, 1),
			 "state", text_or_null(q, 12),
			 "action", text_or_null(q, 7),
			 "groups", json_col(q, 15),
			 "cutoff", time_col(q, 8),
			 "time", text_or_null(q, 9),
			 "accounts", json_col(q, 10),
			 "reason", text_or_null(q, 11),
			 "source", text_or_null(q, 2),
			 "source_event_id", text_or_null(q, 3),
			 "created_at", time_col(q, 13),
			 "updated_at", time_col(q, 14),
			 "requested_by",
			 "issuer", text_or_null(q, 4),
			 "subject", text_or_null(q, 5),
			 "token_id", text_or_null(q, 6));
	if (*out == NULL)
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
out:
	sqlite3_finalize(q);
	return rc;
}

/* 1: found (the earlier answer is in item->result), 0: not found, -1: error. */
static int find_idempotent(sqlite3 *db, struct write_item *it)
{
	const struct sr_revocation_in *in = it->in;
	sqlite3_stmt *q = NULL;
	int r, found = 0;

	if (sqlite3_prepare_v2(db, "SELECT request_hash, response FROM idempotency_keys"
				   " WHERE issuer = ?1 AND subject = ?2 AND key = ?3",
			       -1, &q, NULL) != SQLITE_OK) {
		sr_store_db_error(db, "idempotency lookup", &it->err);
		return -1;
	}
	sqlite3_bind_text(q, 1, in->issuer, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, in->subject ? in->subject : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, in->idempotency_key, -1, SQLITE_STATIC);
	r = sqlite3_step(q);
	if (r == SQLITE_ROW) {
		const char *hash = (const char *)sqlite3_column_text(q, 0);
		if (hash == NULL || in->request_hash == NULL ||
		    strcmp(hash, in->request_hash) != 0) {
			sr_err_set(&it->err, SR_ECONFLICT,
				   "Idempotency-Key was already used for a different request");
			found = -1;
		} else {
			it->result = json_loads((const char *)sqlite3_column_text(q, 1), 0, NULL);
			found = it->result ? 1 : -1;
		}
	} else if (r != SQLITE_DONE) {
		sr_store_db_error(db, "idempotency lookup", &it->err);
		found = -1;
	}
	sqlite3_finalize(q);
	return found;
}

/* 1: the event was recorded before (its revocation is in item->result). */
static int find_event(sqlite3 *db, struct write_item *it)
{
	sqlite3_stmt *q = NULL;
	int r, found = 0;

	if (sqlite3_prepare_v2(db, "SELECT seq FROM revocations WHERE source = ?1"
				   " AND source_event_id = ?2", -1, &q, NULL) != SQLITE_OK) {
		sr_store_db_error(db, "event lookup", &it->err);
		return -1;
	}
	sqlite3_bind_text(q, 1, it->in->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, it->in->source_event_id, -1, SQLITE_STATIC);
	r = sqlite3_step(q);
	if (r == SQLITE_ROW)
		found = sr_store_revocation_json(db, sqlite3_column_int64(q, 0), NULL,
						 &it->result, &it->err) == SR_OK ? 1 : -1;
	else if (r != SQLITE_DONE) {
		sr_store_db_error(db, "event lookup", &it->err);
		found = -1;
	}
	sqlite3_finalize(q);
	return found;
}

static enum sr_rc insert_row(sqlite3 *db, struct write_item *it, int64_t *seq)
{
	const struct sr_revocation_in *in = it->in;
	const struct sr_document *doc = in->doc;
	sqlite3_stmt *q = NULL;
	char id[37], *accounts = NULL;
	size_t i;
	enum sr_rc rc = SR_OK;

	if ((rc = sr_uuid4(id, &it->err)) != SR_OK)
		return rc;
	if (doc->accounts != NULL) {
		json_t *a = json_array();
		for (i = 0; i < doc->n_accounts; i++)
			json_array_append_new(a, json_string(doc->accounts[i]));
		accounts = json_dumps(a, JSON_COMPACT);
		json_decref(a);
	}
	if (sqlite3_prepare_v2(db,
		"INSERT INTO revocations (id, source, source_event_id, issuer, subject,"
		" token_id, action, cutoff, time_given, accounts, reason, state,"
		" created_at, updated_at)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'pending', ?12, ?12)",
		-1, &q, NULL) != SQLITE_OK) {
		rc = sr_store_db_error(db, "insert revocation", &it->err);
		goto out;
	}
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, in->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, in->source_event_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, in->issuer, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, in->subject ? in->subject : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, in->token_id ? in->token_id : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 7, sr_action_name(doc->action), -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 8, doc->cutoff);
	sqlite3_bind_text(q, 9, doc->time_text, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 10, accounts, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 11, doc->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 12, in->now);
	if (sqlite3_step(q) != SQLITE_DONE) {
		rc = sr_store_db_error(db, "insert revocation", &it->err);
		goto out;
	}
	*seq = sqlite3_last_insert_rowid(db);
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_prepare_v2(db, "INSERT INTO revocation_groups (revocation_seq, position,"
				   " group_name) VALUES (?1, ?2, ?3)", -1, &q, NULL) != SQLITE_OK) {
		rc = sr_store_db_error(db, "insert groups", &it->err);
		goto out;
	}
	for (i = 0; i < doc->n_groups; i++) {
		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, *seq);
		sqlite3_bind_int64(q, 2, (int64_t)i);
		sqlite3_bind_text(q, 3, doc->groups[i], -1, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_DONE) {
			rc = sr_store_db_error(db, "insert groups", &it->err);
			goto out;
		}
	}
out:
	sqlite3_finalize(q);
	free(accounts);
	return rc;
}

static enum sr_rc remember_key(sqlite3 *db, struct write_item *it, int64_t seq)
{
	const struct sr_revocation_in *in = it->in;
	sqlite3_stmt *q = NULL;
	char *body = json_dumps(it->result, JSON_COMPACT);
	enum sr_rc rc = SR_OK;

	if (body == NULL)
		return sr_err_set(&it->err, SR_ENOMEM, "out of memory");
	if (sqlite3_prepare_v2(db, "INSERT INTO idempotency_keys (issuer, subject, key,"
				   " request_hash, revocation_seq, response, created_at)"
				   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(q, 1, in->issuer, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(q, 2, in->subject ? in->subject : "", -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(q, 3, in->idempotency_key, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(q, 4, in->request_hash ? in->request_hash : "", -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 5, seq) != SQLITE_OK ||
	    sqlite3_bind_text(q, 6, body, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 7, in->now) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_DONE)
		rc = sr_store_db_error(db, "remember idempotency key", &it->err);
	sqlite3_finalize(q);
	free(body);
	return rc;
}

enum sr_rc sr_store_write_revocation(sqlite3 *db, struct write_item *it)
{
	enum sr_rc rc;
	int64_t seq = 0;
	int found;

	if (it->in->idempotency_key != NULL) {
		found = find_idempotent(db, it);
		if (found != 0) {
			it->replayed = found > 0;
			return found > 0 ? SR_OK : it->err.code;
		}
	}
	if (it->in->source_event_id != NULL) {
		found = find_event(db, it);
		if (found != 0) {
			it->replayed = found > 0;
			return found > 0 ? SR_OK : it->err.code;
		}
	}
	if ((rc = insert_row(db, it, &seq)) != SR_OK ||
	    (rc = sr_store_revocation_json(db, seq, NULL, &it->result, &it->err)) != SR_OK)
		return rc;
	if (it->in->idempotency_key != NULL)
		return remember_key(db, it, seq);
	return SR_OK;
}
