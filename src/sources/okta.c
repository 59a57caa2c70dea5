/*
 * okta.c - Okta event hook deliveries to events (events.h, sr_okta_parse).
 *
 * DESIGN: Okta POSTs one JSON envelope per delivery: {"eventType":
 * "com.okta.event_hook", "eventId", "eventTime", "data": {"events": [...]}},
 * each entry of data.events a System Log LogEvent (uuid, published,
 * eventType, actor, target[], ...). Several events that happen close
 * together share one envelope. The envelope's eventId is handed back so a
 * redelivery of the same envelope can be recognised at once; each event's
 * uuid is its id in the store, so an event delivered again in another
 * envelope is still one revocation.
 *
 * An event's kind is its Okta eventType, verbatim. The person is the target
 * of type "User" (its alternateId, the Okta login, else its id); the groups
 * are the targets of type "UserGroup" (their displayName, else alternateId).
 * The event types a default rule names must name a person
 * (group.user_membership.remove a group too); other types are kept as they
 * come, for the rules to count and drop.
 *
 * A malformed event is an event with error set (its position and what is
 * wrong); only an envelope that cannot be read is SR_EINVAL. Every string
 * copied is capped and free of control and format characters.
 */
#include "session_revoker/events.h"
#include "sources_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STR 1024   /* any string copied from an event */
#define MAX_ID 512     /* a uuid, eventId, user or group name */
#define MAX_TARGETS 64 /* targets one event may name */

/* The types the built-in rules name, and what they need. */
static const struct {
	const char *type;
	int needs_group;
} known_types[] = {
	{"group.user_membership.remove", 1},
	{"user.lifecycle.deactivate", 0},
	{"user.lifecycle.suspend", 0},
	{"user.session.clear", 0},
};





/* A target's name: displayName for a group, alternateId for a user, the
 * other one, then id. NULL (ev marked) when none is usable. */
static const char *target_name(struct sr_event *ev, json_t *t, const char *pfx, int group)
{
	const char *first = group ? "displayName" : "alternateId";
	const char *second = group ? "alternateId" : "displayName";
	const char *a, *b, *id;

	if (!sr_sources_get_str(ev, t, pfx, first, MAX_ID, &a) || !sr_sources_get_str(ev, t, pfx, second, MAX_ID, &b) ||
	    !sr_sources_get_str(ev, t, pfx, "id", MAX_ID, &id))
		return NULL;
	/* Okta writes "unknown" where it has no alternateId. */
	if (a != NULL && a[0] != '\0' && strcmp(a, "unknown") != 0)
		return a;
	if (!group && id != NULL && id[0] != '\0')
		return id;
	if (b != NULL && b[0] != '\0' && strcmp(b, "unknown") != 0)
		return b;
	if (id != NULL && id[0] != '\0')
		return id;
	sr_event_fail(ev, "%sid: required", pfx);
	return NULL;
}

/* target[]: the person and the groups. 0 when ev was marked or memory ran
 * out (ev marked too). */
static int read_targets(struct sr_event *ev, json_t *rec)
{
	json_t *arr = json_object_get(rec, "target"), *t;
	const char *user = NULL;
	size_t i;

	if (arr == NULL || json_is_null(arr))
		return 1;
	if (!json_is_array(arr)) {
		sr_event_fail(ev, "target: must be an array");
		return 0;
	}
	if (json_array_size(arr) > MAX_TARGETS) {
		sr_event_fail(ev, "target: more than %d entries", MAX_TARGETS);
		return 0;
	}
	json_array_foreach(arr, i, t) {
		char pfx[48];
		const char *type, *name;

		snprintf(pfx, sizeof(pfx), "target[%zu].", i);
		if (!json_is_object(t)) {
			sr_event_fail(ev, "target[%zu]: must be an object", i);
			return 0;
		}
		if (!sr_sources_get_str(ev, t, pfx, "type", MAX_STR, &type))
			return 0;
		if (type == NULL)
			continue;
		if (strcmp(type, "User") == 0) {
			if ((name = target_name(ev, t, pfx, 0)) == NULL)
				return 0;
			if (user != NULL && strcmp(user, name) != 0) {
				sr_event_fail(ev, "target: names more than one User");
				return 0;
			}
			user = name;
		} else if (strcmp(type, "UserGroup") == 0) {
			if ((name = target_name(ev, t, pfx, 1)) == NULL)
				return 0;
			if (!sr_sources_add_group(ev, name)) {
				sr_event_fail(ev, "out of memory");
				return 0;
			}
		}
	}
	if (user != NULL && !sr_sources_set_str(&ev->subject, user)) {
		sr_event_fail(ev, "out of memory");
		return 0;
	}
	/* The Okta login (alternateId) is most often the person's email. */
	if (user != NULL && strchr(user, '@') != NULL && !sr_sources_set_str(&ev->email, user)) {
		sr_event_fail(ev, "out of memory");
		return 0;
	}
	return 1;
}

/* Fills ev from one LogEvent. Returns 0 only when memory ran out. */
static int read_event(struct sr_event *ev, json_t *rec)
{
	const char *uuid, *type, *published;
	json_t *actor;
	struct sr_err terr = {0};
	int64_t t;
	size_t i;

	if (!json_is_object(rec)) {
		sr_event_fail(ev, "event is not a JSON object");
		return 1;
	}
	if (!sr_sources_get_str(ev, rec, "", "uuid", MAX_ID, &uuid))
		return 1;
	if (uuid == NULL || uuid[0] == '\0') {
		sr_event_fail(ev, "uuid: required");
		return 1;
	}
	if (!sr_sources_set_str(&ev->event_id, uuid))
		return 0;
	if (!sr_sources_get_str(ev, rec, "", "eventType", MAX_STR, &type) ||
	    !sr_sources_get_str(ev, rec, "", "published", MAX_STR, &published))
		return 1;
	if (type == NULL || type[0] == '\0') {
		sr_event_fail(ev, "eventType: required");
		return 1;
	}
	if (published == NULL) {
		sr_event_fail(ev, "published: required");
		return 1;
	}
	/* Okta writes ISO 8601 with milliseconds ("2026-03-12T09:02:11.406Z"). */
	if (strspn(published, "0123456789") != 4 || published[4] != '-' ||
	    sr_time_parse(published, 0, &t, &terr) != SR_OK) {
		sr_event_fail(ev, "published: \"%.40s\" is not an ISO 8601 date", published);
		return 1;
	}
	actor = json_object_get(rec, "actor");
	if (actor != NULL && !json_is_null(actor) && !json_is_object(actor)) {
		sr_event_fail(ev, "actor: must be an object");
		return 1;
	}
	ev->time = t;
	if (!sr_sources_set_str(&ev->type, type) || !sr_sources_set_str(&ev->kind, type) ||
	    !sr_sources_set_str(&ev->time_text, published))
		return 0;
	if (!read_targets(ev, rec))
		return ev->error == NULL || strcmp(ev->error, "out of memory") != 0;
	for (i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++) {
		if (strcmp(type, known_types[i].type) != 0)
			continue;
		if (ev->subject == NULL || ev->subject[0] == '\0')
			sr_event_fail(ev, "target: a \"%s\" event must name its User", type);
		else if (known_types[i].needs_group && ev->n_groups == 0)
			sr_event_fail(ev, "target: a \"%s\" event must name its UserGroup", type);
	}
	if (ev->subject == NULL && !sr_sources_set_str(&ev->subject, ""))
		return 0;
	return 1;
}

enum sr_rc sr_okta_parse(const char *body, size_t len, struct sr_event_batch *batch,
			 char **envelope_id, struct sr_err *err)
{
	json_error_t jerr;
	json_t *root = NULL, *data, *events, *id, *rec;
	size_t i;
	enum sr_rc rc = SR_OK;

	batch->v = NULL;
	batch->n = 0;
	*envelope_id = NULL;
	if (len == 0) {
		rc = sr_err_set(err, SR_EINVAL, "body is empty");
		goto out;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		rc = sr_err_set(err, SR_EINVAL, "body is not JSON: line %d column %d: %s", jerr.line,
				jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		rc = sr_err_set(err, SR_EINVAL, "body must be a JSON object (an event hook envelope)");
		goto out;
	}
	id = json_object_get(root, "eventId");
	if (!json_is_string(id) || json_string_length(id) == 0) {
		rc = sr_err_set(err, SR_EINVAL, "eventId: required, a non-empty string");
		goto out;
	}
	if (sr_sources_str_problem(json_string_value(id), json_string_length(id), MAX_ID) != NULL) {
		rc = sr_err_set(err, SR_EINVAL, "eventId: %s",
				sr_sources_str_problem(json_string_value(id), json_string_length(id), MAX_ID));
		goto out;
	}
	data = json_object_get(root, "data");
	events = json_is_object(data) ? json_object_get(data, "events") : NULL;
	if (!json_is_object(data) || !json_is_array(events)) {
		rc = sr_err_set(err, SR_EINVAL, "data.events: required, an array of events");
		goto out;
	}
	if (json_array_size(events) == 0) {
		rc = sr_err_set(err, SR_EINVAL, "data.events: empty");
		goto out;
	}
	if (json_array_size(events) > SR_EVENTS_MAX_BATCH) {
		rc = sr_err_set(err, SR_EINVAL, "data.events holds %zu events, more than %d",
				json_array_size(events), SR_EVENTS_MAX_BATCH);
		goto out;
	}
	json_array_foreach(events, i, rec) {
		struct sr_event *ev = sr_event_batch_add(batch);

		if (ev == NULL || !read_event(ev, rec) ||
		    (ev->error == NULL && (ev->kind == NULL || ev->subject == NULL)) ||
		    (ev->error != NULL && strcmp(ev->error, "out of memory") == 0)) {
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
			goto out;
		}
	}
	if ((*envelope_id = strdup(json_string_value(id))) == NULL)
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
out:
	json_decref(root);
	if (rc != SR_OK)
		sr_event_batch_free(batch);
	return rc;
}
