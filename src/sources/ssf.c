/*
 * ssf.c - the claims of a verified Security Event Token (RFC 8417), pushed
 * by an OpenID Shared Signals transmitter, to one event (events.h,
 * sr_ssf_parse).
 *
 * DESIGN: RFC 8417 says one SET is one logical event: its "events" object
 * may hold several entries, but the others only extend the first. So a SET
 * becomes one event, of the first event type we know (CAEP 1.0
 * session-revoked and credential-change, RISC account-disabled and
 * account-purged, the SSF verification event); a SET of types we do not
 * know is one event whose kind is the first type URI, which no rule names,
 * so it is counted and dropped. The id is the SET's jti.
 *
 * The subject comes, in this order, from the top-level "sub_id" (RFC 9493
 * formats, and SSF's "complex", whose "user" member names the person), from
 * the event's own "subject" (the older RISC shape: "subject_type" instead of
 * "format", spelt "iss-sub"), or from the top-level "sub" claim. The person
 * is the format's identifying member: email, sub (of iss_sub), id (opaque),
 * phone_number, uri (account, uri), url (did); "aliases" takes the first
 * identifier that reads.
 *
 * The cut-off is the event's event_timestamp (CAEP defines seconds, its own
 * examples are milliseconds: a value beyond year 5000 in seconds is read as
 * milliseconds), else the SET's iat. Anything malformed is SR_EINVAL naming
 * the claim at fault; limits apply before anything is copied.
 */
#include "sources_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ID 512           /* a subject, a jti */
#define MAX_TXN 256
#define MS_FROM INT64_C(100000000000) /* year 5138 in seconds: above, milliseconds */
#define T_MAX INT64_C(253402300799)  /* 9999-12-31T23:59:59Z */

static const char *const caep = "https://schemas.openid.net/secevent/caep/event-type/";
static const char *const risc = "https://schemas.openid.net/secevent/risc/event-type/";
static const char *const ssf = "https://schemas.openid.net/secevent/ssf/event-type/";

static const struct {
	const char *const *prefix;
	const char *name;
	const char *kind;
} known[] = {
	{&caep, "session-revoked", "session_revoked"},
	{&caep, "credential-change", "credential_change"},
	{&risc, "account-disabled", "account_disabled"},
	{&risc, "account-purged", "account_purged"},
	{&ssf, "verification", "verification"},
};

/* The kind of event type uri, or NULL when it is not one we know. */
static const char *kind_of(const char *uri)
{
	size_t i, n;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		n = strlen(*known[i].prefix);
		if (strncmp(uri, *known[i].prefix, n) == 0 && strcmp(uri + n, known[i].name) == 0)
			return known[i].kind;
	}
	return NULL;
}

/* A string member of 1..max bytes without control characters into *out
 * (borrowed), or an error naming where.name. */
static enum sr_rc str_member(json_t *obj, const char *where, const char *name, size_t max,
			     const char **out, struct sr_err *err)
{
	json_t *v = json_object_get(obj, name);
	const char *s = json_string_value(v);

	if (v == NULL)
		return sr_err_set(err, SR_EINVAL, "%s.%s: required", where, name);
	if (s == NULL)
		return sr_err_set(err, SR_EINVAL, "%s.%s: must be a string", where, name);
	if (json_string_length(v) == 0)
		return sr_err_set(err, SR_EINVAL, "%s.%s: must not be empty", where, name);
	if (json_string_length(v) > max)
		return sr_err_set(err, SR_EINVAL, "%s.%s: longer than %zu bytes", where, name, max);
	if (strlen(s) != json_string_length(v) || sr_utf8_has_control(s, NULL))
		return sr_err_set(err, SR_EINVAL, "%s.%s: holds control characters", where, name);
	*out = s;
	return SR_OK;
}

/* The person a subject identifier names (borrowed from id). depth: complex
 * and aliases nest once. */
static enum sr_rc subject_of(json_t *id, const char *where, int depth, const char **out,
			     struct sr_err *err)
{
	static const struct {
		const char *format;
		const char *member;
	} members[] = {
		{"email", "email"}, {"iss_sub", "sub"}, {"opaque", "id"},
		{"phone_number", "phone_number"}, {"phone", "phone_number"},
		{"account", "uri"}, {"uri", "uri"}, {"did", "url"},
	};
	json_t *f = json_object_get(id, "format");
	const char *format, *dummy;
	char inner[96];
	size_t i;
	enum sr_rc rc;

	if (!json_is_object(id))
		return sr_err_set(err, SR_EINVAL, "%s: must be an object", where);
	if (f == NULL) /* the older RISC shape */
		f = json_object_get(id, "subject_type");
	format = json_string_value(f);
	if (format == NULL)
		return sr_err_set(err, SR_EINVAL, "%s.format: required (a string)", where);
	if (strcmp(format, "iss-sub") == 0)
		format = "iss_sub";
	if (strcmp(format, "iss_sub") == 0 &&
	    (rc = str_member(id, where, "iss", MAX_ID, &dummy, err)) != SR_OK)
		return rc;
	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		if (strcmp(format, members[i].format) == 0)
			return str_member(id, where, members[i].member, MAX_ID, out, err);
	if (depth == 0 && strcmp(format, "complex") == 0) {
		snprintf(inner, sizeof(inner), "%s.user", where);
		if (json_object_get(id, "user") == NULL)
			return sr_err_set(err, SR_EINVAL, "%s: required (the person; a complex"
					  " subject without one names no one to revoke)", inner);
		return subject_of(json_object_get(id, "user"), inner, 1, out, err);
	}
	if (depth == 0 && strcmp(format, "aliases") == 0) {
		json_t *arr = json_object_get(id, "identifiers"), *one;
		struct sr_err first = {0};

		if (!json_is_array(arr) || json_array_size(arr) == 0)
			return sr_err_set(err, SR_EINVAL, "%s.identifiers: must be a non-empty array",
					  where);
		json_array_foreach(arr, i, one) {
			struct sr_err e = {0};
			snprintf(inner, sizeof(inner), "%s.identifiers[%zu]", where, i);
			if (subject_of(one, inner, 1, out, &e) == SR_OK)
				return SR_OK;
			if (first.code == 0)
				first = e;
		}
		return sr_err_set(err, SR_EINVAL, "%s", first.msg);
	}
	if (strlen(format) > 40 || sr_utf8_has_control(format, NULL))
		return sr_err_set(err, SR_EINVAL, "%s.format: not a subject identifier format we read",
				  where);
	return sr_err_set(err, SR_EINVAL, "%s.format: \"%s\" is not a subject identifier format we"
			  " read (email, iss_sub, opaque, phone_number, account, uri, did, aliases,"
			  " complex)", where, format);
}

/* The email a subject identifier gives for the person (format "email", or
 * one inside complex's user or aliases' identifiers), or NULL. */
static const char *email_of(json_t *id, int depth)
{
	const char *format = json_string_value(json_object_get(id, "format"));
	json_t *one;
	size_t i;

	if (format == NULL)
		format = json_string_value(json_object_get(id, "subject_type"));
	if (format == NULL)
		return NULL;
	if (strcmp(format, "email") == 0)
		return json_string_value(json_object_get(id, "email"));
	if (depth == 0 && strcmp(format, "complex") == 0)
		return email_of(json_object_get(id, "user"), 1);
	if (depth == 0 && strcmp(format, "aliases") == 0)
		json_array_foreach(json_object_get(id, "identifiers"), i, one)
			if (email_of(one, 1) != NULL)
				return email_of(one, 1);
	return NULL;
}

/* event_timestamp of the event (seconds or milliseconds), else the SET's
 * iat; never later than now + skew. */
static enum sr_rc event_time(json_t *claims, json_t *event, const char *where, int64_t now,
			     int64_t skew, struct sr_event *ev, struct sr_err *err)
{
	json_t *t = json_object_get(event, "event_timestamp");
	const char *name = "event_timestamp";
	char buf[40], when[32];
	int64_t v;

	if (t == NULL) {
		t = json_object_get(claims, "iat");
		name = "iat";
		where = "SET";
	}
	if (json_is_integer(t))
		v = json_integer_value(t);
	else if (json_is_real(t) && json_real_value(t) >= 0 && json_real_value(t) < 1e16)
		v = (int64_t)json_real_value(t);
	else
		return sr_err_set(err, SR_EINVAL, "%s.%s: must be a NumericDate (seconds, or"
				  " milliseconds)", where, name);
	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	if (v >= MS_FROM)
		v /= 1000;
	if (v < 0 || v > T_MAX)
		return sr_err_set(err, SR_EINVAL, "%s.%s: %s is out of range", where, name, buf);
	if (v > now + skew)
		return sr_err_set(err, SR_EINVAL, "%s.%s: %s is %s, in the future", where, name, buf,
				  sr_time_format(v, when));
	ev->time = v;
	if ((ev->time_text = strdup(buf)) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	return SR_OK;
}

enum sr_rc sr_ssf_parse(json_t *claims, int64_t now, int64_t skew, struct sr_event_batch *batch,
			struct sr_err *err)
{
	json_t *events, *event = NULL, *v, *txn, *subj;
	const char *uri = NULL, *key, *kind = NULL, *jti, *who = NULL, *email;
	char where[600];
	struct sr_event *ev;
	enum sr_rc rc = SR_OK;

	batch->v = NULL;
	batch->n = 0;
	if (!json_is_object(claims))
		return sr_err_set(err, SR_EINVAL, "the SET's claims must be a JSON object");
	if ((rc = str_member(claims, "SET", "jti", MAX_ID, &jti, err)) != SR_OK)
		return rc;
	txn = json_object_get(claims, "txn");
	if (txn != NULL && !json_is_integer(txn) &&
	    !(json_is_string(txn) && json_string_length(txn) <= MAX_TXN))
		return sr_err_set(err, SR_EINVAL, "SET.txn: must be a string (up to %d bytes) or a"
				  " number", MAX_TXN);
	events = json_object_get(claims, "events");
	if (!json_is_object(events) || json_object_size(events) == 0)
		return sr_err_set(err, SR_EINVAL, "SET.events: required (an object of one or more"
				  " events)");
	json_object_foreach(events, key, v) {
		if (uri == NULL)
			uri = key;
		if (kind == NULL && (kind = kind_of(key)) != NULL) {
			uri = key;
			event = v;
		}
	}
	if (event == NULL)
		event = json_object_get(events, uri);
	if (strlen(uri) > 256 || sr_utf8_has_control(uri, NULL))
		return sr_err_set(err, SR_EINVAL, "SET.events: an event type longer than 256 bytes"
				  " or with control characters");
	snprintf(where, sizeof(where), "SET.events[\"%s\"]", uri);
	if (!json_is_object(event))
		return sr_err_set(err, SR_EINVAL, "%s: must be an object", where);
	if ((ev = sr_event_batch_add(batch)) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	subj = json_object_get(event, "subject");
	if (json_object_get(claims, "sub_id") != NULL)
		rc = subject_of(json_object_get(claims, "sub_id"), "SET.sub_id", 0, &who, err);
	else if (subj != NULL)
		rc = subject_of(subj, "SET.events.subject", 0, &who, err);
	else if (json_object_get(claims, "sub") != NULL)
		rc = str_member(claims, "SET", "sub", MAX_ID, &who, err);
	else if (kind != NULL && strcmp(kind, "verification") == 0)
		who = "";
	else
		rc = sr_err_set(err, SR_EINVAL, "SET.sub_id: required (the subject: sub_id, or the"
				" event's subject, or sub)");
	if (rc != SR_OK)
		goto out;
	if ((rc = event_time(claims, event, where, now, skew, ev, err)) != SR_OK)
		goto out;
	ev->event_id = strdup(jti);
	ev->type = strdup(uri);
	ev->kind = strdup(kind ? kind : uri);
	ev->subject = strdup(who);
	if (ev->event_id == NULL || ev->type == NULL || ev->kind == NULL || ev->subject == NULL)
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
	else if ((email = email_of(json_object_get(claims, "sub_id") != NULL
					   ? json_object_get(claims, "sub_id") : subj, 0)) != NULL &&
		 strlen(email) <= MAX_ID && (ev->email = strdup(email)) == NULL)
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
out:
	if (rc != SR_OK)
		sr_event_batch_free(batch);
	return rc;
}
