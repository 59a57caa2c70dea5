/*
 * auth0.c - Auth0 log stream (custom webhook) deliveries to events
 * (events.h, sr_auth0_parse).
 *
 * DESIGN: Auth0 POSTs tenant log events in the stream's "Content Format":
 * a JSON array of records, JSON lines (one compact record per line) or one
 * JSON object. The format is read from the bytes: a '[' first (after
 * blanks) is an array; a '{' first is one object when the whole body is one
 * JSON value, else lines. Every record is parsed by jansson; lines are split
 * on '\n' so one bad line does not spoil the others.
 *
 * A record is an envelope {"log_id", "data": {...}} (what the stream sends)
 * or a bare log event (what GET /api/v2/logs returns: log_id, date, type at
 * the top). The kind comes from the Auth0 type code and, for "sapi" (a
 * Management API call; its user_id is the ADMIN who made it), from the
 * request's method, path and body: the affected user is in the path. Paths
 * are split on '/' first and each segment is then percent-decoded: Auth0's
 * own pages show raw ids ("auth0|abc"), an older published sample shows
 * them encoded ("auth0%7Cabc"), and an id may hold an encoded '/'.
 *
 * A record that cannot be read is an event with error set (its position and
 * what is wrong); only a body nothing can be read from is SR_EINVAL. Every
 * string copied is capped, ids at 512 bytes, lists at 100 entries, and no
 * copied string holds a control or format character.
 */
#include "session_revoker/events.h"
#include "sources_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_STR 1024    /* any string copied from a record */
#define MAX_ID 512      /* a user, role or organization id */
#define MAX_LIST 100    /* roles, users or members one record names */

static const char not_json[] = "body is not JSON (array, lines or object)";

/* ---- small helpers ---- */

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}




static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A path segment (len bytes) with %XX escapes decoded (a '%' not followed
 * by two hex digits stays as it is); *out_len gets the decoded length,
 * which differs from strlen() when a %00 was decoded. Kept out of
 * libcurl's unescape because sr_sources depends on jansson and core only.
 * NULL when out of memory. */
static char *segment_decode(const char *s, size_t len, size_t *out_len)
{
	char *out = malloc(len + 1);
	size_t i, n = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			out[n++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[n++] = s[i];
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* ---- the Management API call of a "sapi" record ---- */

#define MAX_SEGS 4

struct api_call {
	const char *method;         /* borrowed */
	json_t *body;               /* borrowed; may be NULL */
	size_t n_segs;              /* segments after /api/v2/ */
	char *segs[MAX_SEGS];       /* decoded (owned) */
};

static void api_call_clear(struct api_call *c)
{
	size_t i;

	for (i = 0; i < c->n_segs; i++)
		free(c->segs[i]);
	c->n_segs = 0;
}

/* Reads details.request of a sapi record into c. Returns 1 when the record
 * is a Management API call on /api/v2/ with up to MAX_SEGS segments, 0 when
 * it is not one we classify (c empty), -1 when ev was marked malformed or
 * memory ran out (ev marked too). */
static int api_call_read(struct sr_event *ev, json_t *data, const char *pfx,
			 struct api_call *c)
{
	json_t *details = json_object_get(data, "details");
	json_t *req = json_is_object(details) ? json_object_get(details, "request") : NULL;
	const char *path, *end, *p;
	char where[32];
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(req))
		return 0;
	snprintf(where, sizeof(where), "%sdetails.request.", pfx);
	if (!sr_sources_get_str(ev, req, where, "method", 16, &c->method) ||
	    !sr_sources_get_str(ev, req, where, "path", MAX_STR, &path))
		return -1;
	if (c->method == NULL || path == NULL)
		return 0;
	c->body = json_object_get(req, "body");
	if (c->body != NULL && !json_is_object(c->body))
		c->body = NULL;
	/* The query string is not part of the resource. */
	end = path + strcspn(path, "?#");
	if ((size_t)(end - path) < 8 || strncmp(path, "/api/v2/", 8) != 0)
		return 0;
	for (p = path + 8; p <= end; ) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t seg_len = slash ? (size_t)(slash - p) : (size_t)(end - p);
		size_t dec_len;

		if (n == MAX_SEGS) {
			c->n_segs = n;
			api_call_clear(c);
			return 0;
		}
		c->segs[n] = segment_decode(p, seg_len, &dec_len);
		if (c->segs[n] == NULL) {
			c->n_segs = n;
			api_call_clear(c);
			sr_event_fail(ev, "out of memory");
			return -1;
		}
		n++;
		/* A decoded NUL would cut the id short. */
		if (strlen(c->segs[n - 1]) != dec_len) {
			c->n_segs = n;
			api_call_clear(c);
			sr_event_fail(ev, "%sdetails.request.path: holds control characters", pfx);
			return -1;
		}
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	c->n_segs = n;
	return 1;
}

/* Checks an id (from a path segment or a list): non-empty, at most MAX_ID
 * bytes, no control or format characters. 0 (ev marked) when it fails. */
static int id_ok(struct sr_event *ev, const char *what, const char *id)
{
	size_t len = strlen(id);

	if (len == 0) {
		sr_event_fail(ev, "%s: empty", what);
		return 0;
	}
	if (len > MAX_ID) {
		sr_event_fail(ev, "%s: longer than %d bytes", what, MAX_ID);
		return 0;
	}
	if (sr_utf8_has_control(id, NULL)) {
		sr_event_fail(ev, "%s: holds control characters", what);
		return 0;
	}
	return 1;
}


/* body.<name> as a list of 1..MAX_LIST ids. As groups (join == 0) or as the
 * subject, the ids joined by "," (join == 1; an id holding ',' is refused,
 * it would read as two). 0 when ev was marked. */
static int id_list(struct sr_event *ev, json_t *body, const char *name, int join)
{
	json_t *arr = body ? json_object_get(body, name) : NULL;
	json_t *v;
	size_t i, total = 0;
	char what[64];
	char *subject, *p;

	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		sr_event_fail(ev, "details.request.body.%s: must be a non-empty array of ids", name);
		return 0;
	}
	if (json_array_size(arr) > MAX_LIST) {
		sr_event_fail(ev, "details.request.body.%s: more than %d entries", name, MAX_LIST);
		return 0;
	}
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);

		snprintf(what, sizeof(what), "details.request.body.%s[%zu]", name, i);
		if (s == NULL) {
			sr_event_fail(ev, "%s: must be a string", what);
			return 0;
		}
		if (strlen(s) != json_string_length(v)) {
			sr_event_fail(ev, "%s: holds control characters", what);
			return 0;
		}
		if (!id_ok(ev, what, s))
			return 0;
		if (join && strchr(s, ',') != NULL) {
			sr_event_fail(ev, "%s: holds ',' (the subject lists ids joined by ',')", what);
			return 0;
		}
		if (!join && !sr_sources_add_group(ev, s)) {
			sr_event_fail(ev, "out of memory");
			return 0;
		}
		total += strlen(s) + 1;
	}
	if (!join)
		return 1;
	if ((subject = malloc(total)) == NULL) {
		sr_event_fail(ev, "out of memory");
		return 0;
	}
	p = subject;
	json_array_foreach(arr, i, v) {
		size_t len = json_string_length(v);

		if (i > 0)
			*p++ = ',';
		memcpy(p, json_string_value(v), len);
		p += len;
	}
	*p = '\0';
	free(ev->subject);
	ev->subject = subject;
	return 1;
}

/* The kind of a sapi record from its API call; 0 when ev was marked, and
 * ev->kind stays NULL when the call is not one we classify. */
static int classify_sapi(struct sr_event *ev, json_t *data, const char *pfx)
{
	struct api_call c;
	const char *kind = NULL;
	int rc = api_call_read(ev, data, pfx, &c), ok = 1;

	if (rc <= 0)
		return rc == 0;
	if (c.n_segs >= 2 && strcmp(c.segs[0], "users") == 0) {
		if (c.n_segs == 2 && strcasecmp(c.method, "patch") == 0 && c.body) {
			json_t *blocked = json_object_get(c.body, "blocked");

			/* A body that blocks the user and sets a password is a
			 * block: user_blocked wins. A password set while
			 * unblocking is a password change: the change revokes,
			 * the unblock does not. */
			if (json_is_true(blocked))
				kind = "user_blocked";
			else if (json_object_get(c.body, "password") != NULL)
				kind = "password_changed_by_admin";
			else if (json_is_false(blocked))
				kind = "user_unblocked";
		} else if (c.n_segs == 2 && strcasecmp(c.method, "delete") == 0) {
			kind = "user_deleted";
		} else if (c.n_segs == 3 && strcasecmp(c.method, "delete") == 0 &&
			   strcmp(c.segs[2], "roles") == 0) {
			kind = "roles_removed";
		}
		if (kind != NULL)
			ok = id_ok(ev, "details.request.path: user id", c.segs[1]) &&
			     (strcmp(kind, "roles_removed") != 0 || id_list(ev, c.body, "roles", 0)) &&
			     sr_sources_set_str(&ev->subject, c.segs[1]);
	} else if (c.n_segs == 3 && strcmp(c.segs[0], "roles") == 0 &&
		   strcmp(c.segs[2], "users") == 0 && strcasecmp(c.method, "delete") == 0) {
		/* One role taken from several users: the subject is the users
		 * joined by ",". */
		ok = id_ok(ev, "details.request.path: role id", c.segs[1]) &&
		     sr_sources_add_group(ev, c.segs[1]) && id_list(ev, c.body, "users", 1);
		kind = "roles_removed";
	} else if (c.n_segs == 3 && strcmp(c.segs[0], "organizations") == 0 &&
		   strcmp(c.segs[2], "members") == 0 && strcasecmp(c.method, "delete") == 0) {
		ok = id_ok(ev, "details.request.path: organization id", c.segs[1]) &&
		     sr_sources_add_group(ev, c.segs[1]) && id_list(ev, c.body, "members", 1);
		kind = "org_members_removed";
	}
	if (ok && kind != NULL)
		ok = sr_sources_set_str(&ev->kind, kind);
	api_call_clear(&c);
	if (!ok)
		sr_event_fail(ev, "out of memory"); /* no-op when already marked */
	return ok;
}

/* ---- one record ---- */

/* Fills ev from one record. Never fails as a whole: a record that cannot
 * be read marks ev. Returns 0 only when memory ran out. */
static int read_record(struct sr_event *ev, json_t *rec)
{
	json_t *data;
	const char *pfx = "data.", *env_id = NULL, *data_id = NULL, *type, *date, *user, *name;
	struct sr_err terr = {0};
	int64_t t;

	if (!json_is_object(rec)) {
		sr_event_fail(ev, "record is not a JSON object");
		return 1;
	}
	data = json_object_get(rec, "data");
	if (data == NULL) {
		data = rec; /* a bare log event */
		pfx = "";
	} else if (!json_is_object(data)) {
		sr_event_fail(ev, "data: must be an object");
	}
	if (!sr_sources_get_str(ev, rec, "", "log_id", MAX_STR, &env_id))
		return 1;
	if (data != rec && json_is_object(data) &&
	    !sr_sources_get_str(ev, data, "data.", "log_id", MAX_STR, &data_id))
		return 1;
	if (env_id != NULL && data_id != NULL && strcmp(env_id, data_id) != 0) {
		sr_event_fail(ev, "log_id \"%.80s\" differs from data.log_id \"%.80s\"", env_id,
			      data_id);
		return 1;
	}
	if (env_id == NULL)
		env_id = data_id;
	if (env_id == NULL || env_id[0] == '\0') {
		sr_event_fail(ev, "log_id: required");
		return 1;
	}
	if (!sr_sources_set_str(&ev->event_id, env_id))
		return 0;
	if (ev->error != NULL)
		return 1;

	if (!sr_sources_get_str(ev, data, pfx, "type", MAX_STR, &type) ||
	    !sr_sources_get_str(ev, data, pfx, "date", MAX_STR, &date) ||
	    !sr_sources_get_str(ev, data, pfx, "user_id", MAX_ID, &user))
		return 1;
	if (type == NULL || type[0] == '\0') {
		sr_event_fail(ev, "%stype: required", pfx);
		return 1;
	}
	if (date == NULL) {
		sr_event_fail(ev, "%sdate: required", pfx);
		return 1;
	}
	/* Auth0 writes ISO 8601 ("2026-03-12T08:14:58.412Z"); the other forms
	 * sr_time_parse() knows ("now", Unix seconds) are not a log's date. */
	if (strspn(date, "0123456789") != 4 || date[4] != '-' ||
	    sr_time_parse(date, 0, &t, &terr) != SR_OK) {
		sr_event_fail(ev, "%sdate: \"%.40s\" is not an ISO 8601 date", pfx, date);
		return 1;
	}
	ev->time = t;
	if (!sr_sources_set_str(&ev->type, type) || !sr_sources_set_str(&ev->time_text, date))
		return 0;

	if (strcmp(type, "sapi") == 0) {
		if (!classify_sapi(ev, data, pfx))
			return ev->error != NULL;
	} else if (strcmp(type, "sdu") == 0 || strcmp(type, "du") == 0 ||
		   strcmp(type, "scp") == 0) {
		if (user == NULL || user[0] == '\0') {
			sr_event_fail(ev, "%suser_id: required for type \"%s\"", pfx, type);
			return 1;
		}
		if (!sr_sources_set_str(&ev->kind, strcmp(type, "scp") == 0 ? "password_changed"
								: "user_deleted") ||
		    !sr_sources_set_str(&ev->subject, user))
			return 0;
		/* the user's own name here (in sapi it is the admin's): an email
		 * for database and most enterprise connections */
		if (!sr_sources_get_str(ev, data, pfx, "user_name", MAX_ID, &name))
			return 1;
		if (name != NULL && strchr(name, '@') != NULL && !sr_sources_set_str(&ev->email, name))
			return 0;
	}
	if (ev->kind == NULL && !sr_sources_set_str(&ev->kind, type))
		return 0;
	if (ev->subject == NULL && !sr_sources_set_str(&ev->subject, user ? user : ""))
		return 0;
	return 1;
}

/* ---- the body ---- */

static enum sr_rc add_record(struct sr_event_batch *batch, json_t *rec, const char *line_err,
			     size_t line_no, struct sr_err *err)
{
	struct sr_event *ev;

	if (batch->n >= SR_EVENTS_MAX_BATCH)
		return sr_err_set(err, SR_EINVAL, "body holds more than %d events",
				  SR_EVENTS_MAX_BATCH);
	if ((ev = sr_event_batch_add(batch)) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	if (line_err != NULL) {
		sr_event_fail(ev, "line %zu: not JSON: %s", line_no, line_err);
	} else if (!read_record(ev, rec)) {
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	if (ev->error == NULL && (ev->kind == NULL || ev->subject == NULL))
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	if (ev->error != NULL && strcmp(ev->error, "out of memory") == 0)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	return SR_OK;
}

/* JSON lines: each non-blank line one record. SR_EINVAL when no line is
 * JSON at all. */
static enum sr_rc parse_lines(const char *body, size_t len, struct sr_event_batch *batch,
			      struct sr_err *err)
{
	const char *p = body, *end = body + len;
	size_t line_no = 0, n_json = 0, n_lines = 0;
	char first_err[160] = "";
	size_t first_line = 0;
	enum sr_rc rc = SR_OK;

	while (p < end && rc == SR_OK) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end, *s = p;
		json_error_t jerr;
		json_t *rec;

		line_no++;
		p = nl ? nl + 1 : end;
		while (s < e && is_blank(*s))
			s++;
		while (e > s && is_blank(e[-1]))
			e--;
		if (s == e)
			continue;
		if (++n_lines > SR_EVENTS_MAX_BATCH)
			return sr_err_set(err, SR_EINVAL, "body holds more than %d events",
					  SR_EVENTS_MAX_BATCH);
		rec = json_loadb(s, (size_t)(e - s), JSON_REJECT_DUPLICATES, &jerr);
		if (rec == NULL) {
			if (first_line == 0) {
				first_line = line_no;
				snprintf(first_err, sizeof(first_err), "%s", jerr.text);
			}
			rc = add_record(batch, NULL, jerr.text, line_no, err);
			continue;
		}
		n_json++;
		rc = add_record(batch, rec, NULL, line_no, err);
		json_decref(rec);
	}
	if (rc == SR_OK && n_json == 0)
		rc = sr_err_set(err, SR_EINVAL, "%s: line %zu: %s", not_json, first_line, first_err);
	return rc;
}

enum sr_rc sr_auth0_parse(const char *body, size_t len, struct sr_event_batch *batch,
			  struct sr_err *err)
{
	json_error_t jerr;
	json_t *root = NULL, *rec;
	size_t i, skip = 0;
	enum sr_rc rc = SR_OK;

	batch->v = NULL;
	batch->n = 0;
	while (skip < len && is_blank(body[skip]))
		skip++;
	if (skip == len) {
		rc = sr_err_set(err, SR_EINVAL, "body is empty");
		goto out;
	}
	if (body[skip] != '[' && body[skip] != '{') {
		rc = sr_err_set(err, SR_EINVAL, "%s: expected '[' or '{' first", not_json);
		goto out;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (body[skip] == '[') {
		if (root == NULL) {
			rc = sr_err_set(err, SR_EINVAL, "%s: line %d column %d: %s", not_json,
					jerr.line, jerr.column, jerr.text);
			goto out;
		}
		if (json_array_size(root) > SR_EVENTS_MAX_BATCH) {
			rc = sr_err_set(err, SR_EINVAL, "body holds %zu events, more than %d",
					json_array_size(root), SR_EVENTS_MAX_BATCH);
			goto out;
		}
		json_array_foreach(root, i, rec) {
			if ((rc = add_record(batch, rec, NULL, 0, err)) != SR_OK)
				goto out;
		}
	} else if (root != NULL) {
		rc = add_record(batch, root, NULL, 0, err);
	} else {
		rc = parse_lines(body, len, batch, err);
	}
out:
	json_decref(root);
	if (rc != SR_OK)
		sr_event_batch_free(batch);
	return rc;
}
