/*
 * group_change.c - a signed group-change event to one event (events.h,
 * sr_group_change_parse).
 *
 * DESIGN: the sender (an IdP workflow, a script) says who lost which groups
 * and when: {"event_id", "subject", "time", "groups_removed"?, "groups"?},
 * as the claims of a verified JWT or as a JSON body sent with a Bearer
 * token. Strict like the revocation document: unknown fields are refused by
 * name (a typo such as "group_removed" must not silently revoke nothing),
 * except the registered JWT claims; every message names the field at fault;
 * limits apply before anything is copied; duplicate groups are folded.
 */
#include "sources_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENT_ID 256
#define MAX_SUBJECT 512
#define MAX_GROUPS 100
#define MAX_GROUP_LEN 256
#define MAX_TIME_TEXT 128
#define T_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

static const char *const fields[] = {"event_id", "subject", "time", "groups_removed", "groups"};
/* Present when the object is a token's claims: the registered claims of
 * RFC 7519 section 4.1, and the ones that carry the token's permission
 * (scope, permissions, azp), as the revocation document allows. */
static const char *const jwt_claims[] = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
					 "scope", "permissions", "azp"};

static int in_list(const char *key, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(key, list[i]) == 0)
			return 1;
	return 0;
}

static enum sr_rc check_fields(json_t *obj, struct sr_err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		if (in_list(key, fields, sizeof(fields) / sizeof(fields[0])) ||
		    in_list(key, jwt_claims, sizeof(jwt_claims) / sizeof(jwt_claims[0])))
			continue;
		if (sr_utf8_has_control(key, NULL) || strlen(key) > 64)
			return sr_err_set(err, SR_EINVAL, "unknown field (with control characters or over 64 bytes)");
		return sr_err_set(err, SR_EINVAL, "unknown field \"%s\"", key);
	}
	return SR_OK;
}

/* A required string of 1..max bytes without control or format characters;
 * OUT *out: new string. */
static enum sr_rc req_string(json_t *obj, const char *name, size_t max, char **out,
			     struct sr_err *err)
{
	json_t *v = json_object_get(obj, name);
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	uint32_t cp = 0;

	if (v == NULL || json_is_null(v))
		return sr_err_set(err, SR_EINVAL, "%s: required", name);
	if (s == NULL)
		return sr_err_set(err, SR_EINVAL, "%s: must be a string", name);
	if (len == 0)
		return sr_err_set(err, SR_EINVAL, "%s: must not be empty", name);
	if (len > max)
		return sr_err_set(err, SR_EINVAL, "%s: longer than %zu bytes", name, max);
	if (strlen(s) != len)
		return sr_err_set(err, SR_EINVAL, "%s: holds control characters", name);
	if (sr_utf8_has_control(s, &cp))
		return sr_err_set(err, SR_EINVAL,
				  "%s: holds control characters (U+%04X, a Unicode control or format character)",
				  name, (unsigned)cp);
	if ((*out = strdup(s)) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	return SR_OK;
}

/* An optional list of 0..MAX_GROUPS non-empty groups, folded. *present is
 * set when the member is there (and not null). OUT *out, *n_out. */
static enum sr_rc group_list(json_t *obj, const char *name, bool *present, char ***out,
			     size_t *n_out, struct sr_err *err)
{
	json_t *arr = json_object_get(obj, name);

	*present = arr != NULL && !json_is_null(arr);
	if (!*present)
		return SR_OK;
	return sr_sources_string_list(arr, name, MAX_GROUPS, MAX_GROUP_LEN, 0, 1, out, n_out, err);
}

/* "time": a string sr_time_parse() reads, or whole Unix seconds; never
 * later than now + skew. */
static enum sr_rc parse_time(json_t *obj, int64_t now, int64_t skew, struct sr_event *ev,
			     struct sr_err *err)
{
	json_t *t = json_object_get(obj, "time");
	char buf[32];

	if (t == NULL || json_is_null(t))
		return sr_err_set(err, SR_EINVAL, "time: required");
	if (json_is_integer(t)) {
		ev->time = json_integer_value(t);
		snprintf(buf, sizeof(buf), "%lld", (long long)ev->time);
		if (ev->time < 0 || ev->time > T_MAX)
			return sr_err_set(err, SR_EINVAL, "time: %s is out of range", buf);
		ev->time_text = strdup(buf);
	} else if (json_is_string(t)) {
		const char *s = json_string_value(t);
		struct sr_err terr = {0};

		if (json_string_length(t) > MAX_TIME_TEXT)
			return sr_err_set(err, SR_EINVAL, "time: longer than %d characters",
					  MAX_TIME_TEXT);
		if (strlen(s) != json_string_length(t) || sr_utf8_has_control(s, NULL))
			return sr_err_set(err, SR_EINVAL, "time: holds control characters");
		if (sr_time_parse(s, now, &ev->time, &terr) != SR_OK)
			return sr_err_set(err, terr.code, "time: %s", terr.msg);
		ev->time_text = strdup(s);
	} else {
		return sr_err_set(err, SR_EINVAL, "time: must be a string or whole Unix seconds");
	}
	if (ev->time_text == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	if (ev->time > now + skew)
		return sr_err_set(err, SR_EINVAL, "time: \"%.60s\" is %s, in the future",
				  ev->time_text, sr_time_format(ev->time, buf));
	return SR_OK;
}

enum sr_rc sr_group_change_parse(json_t *obj, int64_t now, int64_t skew,
				 struct sr_event_batch *batch, struct sr_err *err)
{
	struct sr_event *ev;
	bool removed_given = false;
	enum sr_rc rc;

	batch->v = NULL;
	batch->n = 0;
	if (!json_is_object(obj))
		return sr_err_set(err, SR_EINVAL, "the event must be a JSON object");
	if ((rc = check_fields(obj, err)) != SR_OK)
		return rc;
	if ((ev = sr_event_batch_add(batch)) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	if ((rc = req_string(obj, "event_id", MAX_EVENT_ID, &ev->event_id, err)) != SR_OK ||
	    (rc = req_string(obj, "subject", MAX_SUBJECT, &ev->subject, err)) != SR_OK ||
	    (rc = parse_time(obj, now, skew, ev, err)) != SR_OK ||
	    (rc = group_list(obj, "groups_removed", &removed_given, &ev->groups, &ev->n_groups,
			     err)) != SR_OK ||
	    (rc = group_list(obj, "groups", &ev->has_current, &ev->current, &ev->n_current,
			     err)) != SR_OK)
		goto out;
	ev->kind = strdup(ev->n_groups > 0 ? "groups_removed" : "user_changed");
	if (ev->kind == NULL)
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
out:
	if (rc != SR_OK)
		sr_event_batch_free(batch);
	return rc;
}
