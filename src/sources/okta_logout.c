/*
 * okta_logout.c - an Okta Universal Logout request (a Global Token
 * Revocation request, draft-parecki-oauth-global-token-revocation) to one
 * event (events.h, sr_okta_logout_parse).
 *
 * DESIGN: the body is {"sub_id": <an RFC 9493 subject identifier>}. Okta
 * sends the person either as {"format": "email", "email": ...} or as
 * {"format": "iss_sub", "iss": <the Okta org>, "sub": <the user id>}; those
 * two formats are read, any other is refused by name. Auth0's own endpoint
 * of the same profile calls the member "subject": it is accepted too (one
 * of the two, not both). The event is of kind "universal_logout", its
 * subject the email or the sub, its type the format, its id the one the
 * caller gives (the request token's jti), its time now. A body that cannot
 * be read is SR_EINVAL naming the member at fault; nothing else is set.
 */
#include "session_revoker/events.h"
#include "sources_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ID 512 /* an email, a sub, an iss, an event id */

/* The string member name of id: required, 1..MAX_ID bytes, clean. */
static enum sr_rc member(json_t *id, const char *pfx, const char *name, const char **out,
			 struct sr_err *err)
{
	json_t *v = json_object_get(id, name);
	const char *problem;

	if (v == NULL || json_is_null(v))
		return sr_err_set(err, SR_EINVAL, "%s.%s: required", pfx, name);
	if (!json_is_string(v))
		return sr_err_set(err, SR_EINVAL, "%s.%s: must be a string", pfx, name);
	if (json_string_length(v) == 0)
		return sr_err_set(err, SR_EINVAL, "%s.%s: must not be empty", pfx, name);
	problem = sr_sources_str_problem(json_string_value(v), json_string_length(v), MAX_ID);
	if (problem != NULL)
		return sr_err_set(err, SR_EINVAL, "%s.%s: %s", pfx, name, problem);
	*out = json_string_value(v);
	return SR_OK;
}

enum sr_rc sr_okta_logout_parse(const char *body, size_t len, const char *event_id,
				int64_t now, struct sr_event_batch *batch, struct sr_err *err)
{
	json_error_t jerr;
	json_t *root = NULL, *id, *other;
	const char *pfx = "sub_id", *format = NULL, *who = NULL, *iss = NULL, *problem;
	struct sr_event *ev;
	char when[32];
	enum sr_rc rc;

	batch->v = NULL;
	batch->n = 0;
	if (event_id == NULL || event_id[0] == '\0')
		return sr_err_set(err, SR_EINVAL, "the request has no id (the token's jti)");
	problem = sr_sources_str_problem(event_id, strlen(event_id), MAX_ID);
	if (problem != NULL)
		return sr_err_set(err, SR_EINVAL, "the token's jti: %s", problem);
	if (len == 0)
		return sr_err_set(err, SR_EINVAL, "body is empty: send {\"sub_id\": {...}}");
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		rc = sr_err_set(err, SR_EINVAL, "body is not JSON: line %d column %d: %s", jerr.line,
				jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		rc = sr_err_set(err, SR_EINVAL, "body must be a JSON object with sub_id");
		goto out;
	}
	id = json_object_get(root, "sub_id");
	other = json_object_get(root, "subject");
	if (json_is_null(id)) /* null is absent */
		id = NULL;
	if (json_is_null(other))
		other = NULL;
	if (id != NULL && other != NULL) {
		rc = sr_err_set(err, SR_EINVAL, "send sub_id or subject, not both");
		goto out;
	}
	if (id == NULL && (id = other) != NULL)
		pfx = "subject";
	if (id == NULL) {
		rc = sr_err_set(err, SR_EINVAL, "sub_id: required (a subject identifier)");
		goto out;
	}
	if (!json_is_object(id)) {
		rc = sr_err_set(err, SR_EINVAL, "%s: must be an object (a subject identifier)", pfx);
		goto out;
	}
	if ((rc = member(id, pfx, "format", &format, err)) != SR_OK)
		goto out;
	if (strcmp(format, "email") == 0) {
		if ((rc = member(id, pfx, "email", &who, err)) != SR_OK)
			goto out;
		if (strchr(who, '@') == NULL || who[0] == '@') {
			rc = sr_err_set(err, SR_EINVAL, "%s.email: not an email address", pfx);
			goto out;
		}
	} else if (strcmp(format, "iss_sub") == 0) {
		if ((rc = member(id, pfx, "iss", &iss, err)) != SR_OK ||
		    (rc = member(id, pfx, "sub", &who, err)) != SR_OK)
			goto out;
	} else {
		/* Echoed whole or not at all: a cut could split a character. */
		rc = strlen(format) <= 40
			     ? sr_err_set(err, SR_EINVAL, "%s.format: \"%s\" is not supported (email"
					  " or iss_sub)", pfx, format)
			     : sr_err_set(err, SR_EINVAL, "%s.format: not supported (email or"
					  " iss_sub)", pfx);
		goto out;
	}
	snprintf(when, sizeof(when), "%lld", (long long)now);
	if ((ev = sr_event_batch_add(batch)) == NULL || !sr_sources_set_str(&ev->event_id, event_id) ||
	    !sr_sources_set_str(&ev->kind, "universal_logout") ||
	    !sr_sources_set_str(&ev->type, format) || !sr_sources_set_str(&ev->subject, who) ||
	    !sr_sources_set_str(&ev->time_text, when) ||
	    /* the person's email (a rule with "target": "user") */
	    (strcmp(format, "email") == 0 && !sr_sources_set_str(&ev->email, who))) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	ev->time = now;
	rc = SR_OK;
out:
	json_decref(root);
	if (rc != SR_OK)
		sr_event_batch_free(batch);
	return rc;
}
