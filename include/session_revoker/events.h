/*
 * events.h - what identity providers tell the service, and the rules that
 * turn it into revocations.
 *
 * DESIGN: each source (src/sources/<name>.c) turns its provider's delivery
 * into a batch of struct sr_event: one per provider event, normalised to a
 * kind ("user_blocked", "roles_removed", ...; an event the source does not
 * classify keeps the provider's own type code as its kind), the affected
 * user, the event's own time and the groups the event itself names. The
 * rules of the source (config "sources.<name>.rules", or the source's
 * defaults) then say which events revoke and which groups: the first rule
 * whose "on" names the kind fires. An event no rule matches is counted and
 * dropped, never stored. One malformed event in a batch is reported by its
 * position and does not spoil the others.
 */
#ifndef SESSION_REVOKER_EVENTS_H
#define SESSION_REVOKER_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "session_revoker/core.h"

/* Most events one delivery may carry (Auth0 sends up to 100 per batch). */
#define SR_EVENTS_MAX_BATCH 1000

/* One provider event. Strings are owned by the event (sr_event_batch_free). */
struct sr_event {
	size_t index;       /* position in the delivery (0-based) */
	char *error;        /* non-NULL: malformed; says what is wrong (no other
			     * field is then meaningful but event_id, when read) */
	char *event_id;     /* the provider's id: Auth0 log_id, group-change event_id */
	char *kind;         /* normalised kind (see each source), else the provider's type */
	char *type;         /* the provider's own type code ("sapi", "sdu"), may be NULL */
	char *subject;      /* the affected user ("" when the event names none) */
	char *email;        /* the user's email, when the event itself says it (NULL: it
			     * does not): a person's source identity (rule target "user") */
	int64_t time;       /* the event's own time: the cut-off */
	char *time_text;    /* as the provider wrote it */
	char **groups;      /* groups the event itself names (rule "from_event") */
	size_t n_groups;
	bool has_current;   /* group-change: the sender also said the user's groups now */
	char **current;     /* ... those groups */
	size_t n_current;
};

struct sr_event_batch {
	struct sr_event *v;
	size_t n;
};

void sr_event_batch_free(struct sr_event_batch *batch);

/* Adds a zeroed event at the end (index set). NULL when out of memory. */
struct sr_event *sr_event_batch_add(struct sr_event_batch *batch);

/* Marks ev malformed with a message (printf-style); the first one wins. */
void sr_event_fail(struct sr_event *ev, const char *fmt, ...) SR_PRINTF(2, 3);

/* ---- sources: provider bytes to events ---- */

/* Auth0 log stream (custom webhook): body in any of its content formats
 * (JSON array, JSON lines, one JSON object), each record an envelope
 * {"log_id", "data": {...}} or a bare log event (GET /api/v2/logs returns
 * those). Kinds: user_blocked, user_unblocked, user_deleted, roles_removed,
 * org_members_removed, password_changed_by_admin, password_changed; else the
 * Auth0 type code. SR_EINVAL only when the body as a whole cannot be read
 * (not JSON in any of the formats, empty, too many events); a malformed
 * record is an event with error set. OUT *batch (filled). */
enum sr_rc sr_auth0_parse(const char *body, size_t len, struct sr_event_batch *batch,
			  struct sr_err *err);

/* A group-change event (claims of a verified JWT, or a JSON body sent with
 * a Bearer token): {"event_id", "subject", "groups_removed"?, "groups"?,
 * "time"}. Kinds: groups_removed (it names groups_removed), user_changed (it
 * names only the subject, and maybe the user's current "groups"). now: for
 * relative times and the future check. SR_EINVAL names the field at fault. */
enum sr_rc sr_group_change_parse(json_t *obj, int64_t now, int64_t skew,
				 struct sr_event_batch *batch, struct sr_err *err);

/* The claims of a verified Security Event Token (RFC 8417) pushed by an
 * OpenID Shared Signals transmitter (src/sources/ssf.c, DESIGN): one event,
 * event_id the SET's jti, kind session_revoked, credential_change,
 * account_disabled, account_purged or verification (else the event type
 * URI), the subject from sub_id (RFC 9493), the event's own subject (older
 * RISC) or sub, the time from event_timestamp (seconds or milliseconds) or
 * iat. now, skew: the future check. SR_EINVAL names the claim at fault. */
enum sr_rc sr_ssf_parse(json_t *claims, int64_t now, int64_t skew, struct sr_event_batch *batch,
			struct sr_err *err);

/* An Okta event hook delivery: the envelope {"eventId", "data": {"events":
 * [LogEvent, ...]}}. Kinds: each event's Okta eventType, verbatim
 * ("group.user_membership.remove", "user.lifecycle.deactivate", ...); the
 * subject is the target of type User (alternateId, else id), the groups the
 * targets of type UserGroup (displayName, else alternateId). event_id is the
 * event's uuid. SR_EINVAL when the envelope cannot be read (not JSON, no
 * eventId, no data.events, too many); a malformed event is an event with
 * error set. OUT *batch (filled), *envelope_id (new string: the envelope's
 * eventId). */
enum sr_rc sr_okta_parse(const char *body, size_t len, struct sr_event_batch *batch,
			 char **envelope_id, struct sr_err *err);

/* An Okta Universal Logout request body (Global Token Revocation):
 * {"sub_id": {"format": "email", "email": ...}} or {"sub_id": {"format":
 * "iss_sub", "iss": ..., "sub": ...}} ("subject" is taken for "sub_id").
 * OUT *batch: one event of kind "universal_logout", subject the email or
 * the sub, type the format, event_id a copy of event_id (the request
 * token's jti), time now. SR_EINVAL naming what is wrong (batch empty). */
enum sr_rc sr_okta_logout_parse(const char *body, size_t len, const char *event_id,
				int64_t now, struct sr_event_batch *batch, struct sr_err *err);

/* ---- rules ---- */

enum sr_rule_mode {
	SR_RULE_FROM_EVENT = 1, /* the groups the event names */
	SR_RULE_FIXED,          /* a fixed list */
	SR_RULE_ALL,            /* "*": every group, every federated role */
	SR_RULE_LOOKUP,         /* the user's groups from the provider's directory */
};

struct sr_rule {
	char *name;
	char **on;          /* event kinds */
	size_t n_on;
	enum sr_rule_mode mode;
	char **groups;      /* SR_RULE_FIXED */
	size_t n_groups;
	char **fallback;    /* SR_RULE_LOOKUP: when the lookup fails ("*" allowed); target
			     * "user": when the person's source identity is not known */
	size_t n_fallback;
	/* "target": "user": the person the event is about is revoked, by the
	 * source identity their AWS sessions carry (sources.<name>.identity),
	 * not their groups (mode is then 0: no groups) */
	bool target_user;
};

struct sr_rules {
	struct sr_rule *v;
	size_t n;
	bool defaults;      /* the source's built-in rules (none configured) */
};

#endif
