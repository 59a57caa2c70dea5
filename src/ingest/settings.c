/*
 * settings.c - the "sources" section of the configuration.
 *
 *   "sources": {
 *     "auth0": {
 *       "authorization_file": "/etc/session-revoker/auth0-authorization",
 *       "lookup": {"kind": "auth0", "domain": "https://example.auth0.com",
 *                  "client_id": "...", "client_secret_file": "...",
 *                  "groups_from": "roles"},
 *       "poll": {"enabled": true, "interval_seconds": 60},
 *       "group_names": {"rol_TeamOpsec0000001": "team_opsec"},
 *       "rules": [{"name": "roles-removed", "on": ["roles_removed"],
 *                  "groups": "from_event"}, ...]
 *     },
 *     "group-change": {"rules": [...], "lookup": {"kind": "http", "url": "..."}},
 *     "ssf": {"issuer": "https://idp.example.com/", "audience": "https://revoker/ssf"},
 *     "okta": {"authorization_header": "Authorization",
 *              "authorization_file": "/etc/session-revoker/okta-authorization",
 *              "answer_within_ms": 2000, "lookup": {...}, "rules": [...],
 *              "logout_issuer": "https://example.okta.com",
 *              "logout_audience": "https://revoker.example.com/v1/events/okta/logout"}
 *   }
 *
 * The ssf source's "issuer" names one of auth.issuers: its keys (jwks_url or
 * a file) and algorithms verify the SETs; "audience" (default: that
 * issuer's) must be in each SET's aud. The okta source's "logout_issuer"
 * (one of auth.issuers: the Okta org) signs Universal Logout requests, each
 * token's aud containing "logout_audience" (default: that issuer's); unset,
 * POST /v1/events/okta/logout is off.
 *
 * DESIGN: every source is on, with its built-in rules, unless its section
 * says "enabled": false; an event route still needs a token with
 * events:write (or the configured authorization value), so nothing new is
 * reachable without the operator minting one. Rules are checked here, once,
 * each problem named by its path; the pipeline never meets a bad rule.
 */
#include "session_revoker/ingest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Paths in problems are cut at struct sr_config_problem's size anyway. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define MAX_RULES 64
#define MAX_NAME 64

/* The built-in rules: the events that mean a person lost access. */
static const char auth0_defaults[] =
	"[{\"name\": \"roles-removed\", \"on\": [\"roles_removed\", \"org_members_removed\"],"
	"  \"groups\": \"from_event\"},"
	" {\"name\": \"user-lost-access\","
	"  \"on\": [\"user_blocked\", \"user_deleted\", \"password_changed_by_admin\"],"
	"  \"groups\": \"lookup\", \"fallback\": []}]";
static const char group_change_defaults[] =
	"[{\"name\": \"groups-removed\", \"on\": [\"groups_removed\"], \"groups\": \"from_event\"},"
	" {\"name\": \"user-changed\", \"on\": [\"user_changed\"], \"groups\": \"lookup\","
	"  \"fallback\": []}]";

/* An SSF event revokes the person's groups through a lookup, as Auth0's
 * user events do: safe whether or not sessions carry a source identity (a
 * rule with "target": "user" revokes the person alone). */
static const char ssf_defaults[] =
	"[{\"name\": \"person-lost-access\","
	"  \"on\": [\"session_revoked\", \"credential_change\", \"account_disabled\","
	"         \"account_purged\"],"
	"  \"groups\": \"lookup\", \"fallback\": []}]";

/* Okta: the kinds are Okta's event types. A group removed from a person
 * revokes that group; a person deactivated, suspended, whose sessions an
 * admin cleared or whom Universal Logout names (universal_logout) revokes
 * the person's groups, looked up. */
static const char okta_defaults[] =
	"[{\"name\": \"group-membership-removed\", \"on\": [\"group.user_membership.remove\"],"
	"  \"groups\": \"from_event\"},"
	" {\"name\": \"user-lost-access\","
	"  \"on\": [\"user.lifecycle.deactivate\", \"user.lifecycle.suspend\","
	"         \"user.session.clear\", \"universal_logout\"],"
	"  \"groups\": \"lookup\", \"fallback\": []}]";

/* The kinds each source produces (events.h); Auth0 rules may also name any
 * Auth0 type code, which is the kind of an event the parser does not
 * classify. */
static const char *const auth0_kinds[] = {
	"user_blocked", "user_unblocked", "user_deleted", "roles_removed",
	"org_members_removed", "password_changed_by_admin", "password_changed", NULL,
};
static const char *const group_change_kinds[] = {"groups_removed", "user_changed", NULL};
static const char *const ssf_kinds[] = {"session_revoked", "credential_change", "account_disabled",
					"account_purged", NULL};
/* Okta rules may name any Okta event type (letters, digits, '.', '_'); these
 * are the ones the parser checks for a person (and a group). */
static const char *const okta_kinds[] = {
	"group.user_membership.remove", "user.lifecycle.deactivate", "user.lifecycle.suspend",
	"user.session.clear", "universal_logout", NULL,
};

static bool okta_type(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 128 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._") == n;
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static bool type_code(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 48 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static bool name_ok(const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return n > 0 && n <= MAX_NAME;
}

/* As a revocation document's group: no Unicode control or format
 * character, no white space around it (" * " is not "*"). */
static bool group_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	uint32_t cp;

	return n > 0 && n <= max && !sr_utf8_has_control(s, &cp) && s[0] != ' ' &&
	       s[n - 1] != ' ';
}

/* An array of group names at path into *v (may be empty when allow_empty). */
static void load_groups(json_t *arr, const char *path, bool allow_empty, size_t max_len,
			char ***v, size_t *n, struct sr_config_problems *pr)
{
	size_t i;
	json_t *e;

	if (!json_is_array(arr) || (!allow_empty && json_array_size(arr) == 0)) {
		sr_config_problem(pr, path, "must be %sarray of group names",
				  allow_empty ? "an " : "a non-empty ");
		return;
	}
	*v = calloc(json_array_size(arr) + 1, sizeof(char *));
	if (*v == NULL)
		return;
	json_array_foreach(arr, i, e) {
		const char *s = json_string_value(e);
		if (s == NULL || !group_ok(s, max_len)) {
			char at[200];
			snprintf(at, sizeof(at), "%s[%zu]", path, i);
			sr_config_problem(pr, at, "must be a group name (1 to %zu bytes, no control or"
				" format characters, no spaces around it)", max_len);
			continue;
		}
		if (((*v)[*n] = strdup(s)) != NULL)
			(*n)++;
	}
}

static void rule_clear(struct sr_rule *r)
{
	free(r->name);
	sr_strv_free(r->on, r->n_on);
	sr_strv_free(r->groups, r->n_groups);
	sr_strv_free(r->fallback, r->n_fallback);
}

static void load_rule(struct sr_source_config *src, const char *const *kinds, json_t *o,
		      const char *at, size_t max_len, struct sr_config_problems *pr)
{
	struct sr_rule *r = &src->rules.v[src->rules.n++];
	char path[200];
	const char *key, *mode;
	json_t *v, *on, *groups;
	size_t i;

	if (!json_is_object(o)) {
		sr_config_problem(pr, at, "must be an object {name, on, groups}");
		return;
	}
	json_object_foreach(o, key, v) {
		if (strcmp(key, "name") != 0 && strcmp(key, "on") != 0 &&
		    strcmp(key, "groups") != 0 && strcmp(key, "fallback") != 0 &&
		    strcmp(key, "target") != 0) {
			snprintf(path, sizeof(path), "%s.%s", at, key);
			sr_config_problem(pr, path,
					  "unknown field (name, on, target, groups, fallback)");
		}
	}
	v = json_object_get(o, "name");
	snprintf(path, sizeof(path), "%s.name", at);
	if (!json_is_string(v) || !name_ok(json_string_value(v)))
		sr_config_problem(pr, path, "required: 1 to %d letters, digits, '-', '_' or '.'",
				  MAX_NAME);
	else
		r->name = strdup(json_string_value(v));
	for (i = 0; r->name != NULL && i + 1 < src->rules.n; i++)
		if (src->rules.v[i].name != NULL && strcmp(src->rules.v[i].name, r->name) == 0)
			sr_config_problem(pr, path, "\"%s\" names another rule too", r->name);
	on = json_object_get(o, "on");
	snprintf(path, sizeof(path), "%s.on", at);
	if (!json_is_array(on) || json_array_size(on) == 0) {
		sr_config_problem(pr, path, "required: a non-empty array of event kinds");
	} else if ((r->on = calloc(json_array_size(on) + 1, sizeof(char *))) != NULL) {
		json_array_foreach(on, i, v) {
			const char *s = json_string_value(v);
			char one[240];
			snprintf(one, sizeof(one), "%s[%zu]", path, i);
			if (s == NULL || (!in_list(s, kinds) && (kinds != auth0_kinds || !type_code(s)) &&
					  (kinds != okta_kinds || !okta_type(s))))
				sr_config_problem(pr, one, "unknown event kind%s", kinds == auth0_kinds
					? " (a kind such as user_blocked, or an Auth0 type code such as sdu)"
					: kinds == ssf_kinds ? " (session_revoked, credential_change,"
					" account_disabled or account_purged)"
					: kinds == okta_kinds ? " (an Okta event type such as"
					" user.lifecycle.suspend)" : " (groups_removed or user_changed)");
			else if ((r->on[r->n_on] = strdup(s)) != NULL)
				r->n_on++;
		}
	}
	v = json_object_get(o, "target");
	snprintf(path, sizeof(path), "%s.target", at);
	if (v != NULL && (!json_is_string(v) || (strcmp(json_string_value(v), "user") != 0 &&
						 strcmp(json_string_value(v), "groups") != 0)))
		sr_config_problem(pr, path, "must be \"user\" (revoke the person, by the source"
			" identity their sessions carry) or \"groups\" (the default)");
	r->target_user = v != NULL && json_is_string(v) &&
			 strcmp(json_string_value(v), "user") == 0;
	groups = json_object_get(o, "groups");
	snprintf(path, sizeof(path), "%s.groups", at);
	mode = json_string_value(groups);
	if (r->target_user) {
		if (groups != NULL)
			sr_config_problem(pr, path, "not with \"target\": \"user\" (the person is"
				" revoked, not groups; \"fallback\" names the groups to revoke when"
				" the person's source identity is not known)");
	} else if (json_is_array(groups)) {
		r->mode = SR_RULE_FIXED;
		load_groups(groups, path, false, max_len, &r->groups, &r->n_groups, pr);
	} else if (mode != NULL && strcmp(mode, "from_event") == 0) {
		r->mode = SR_RULE_FROM_EVENT;
	} else if (mode != NULL && strcmp(mode, "*") == 0) {
		r->mode = SR_RULE_ALL;
	} else if (mode != NULL && strcmp(mode, "lookup") == 0) {
		r->mode = SR_RULE_LOOKUP;
	} else {
		sr_config_problem(pr, path, "required: \"from_event\", \"lookup\", \"*\" or an array"
			" of group names");
	}
	v = json_object_get(o, "fallback");
	snprintf(path, sizeof(path), "%s.fallback", at);
	if (v != NULL && r->mode != SR_RULE_LOOKUP && !r->target_user)
		sr_config_problem(pr, path, "only for \"groups\": \"lookup\" or \"target\":"
				  " \"user\"");
	else if (v != NULL)
		load_groups(v, path, true, max_len, &r->fallback, &r->n_fallback, pr);
}

static void load_rules(struct sr_source_config *src, const char *const *kinds, json_t *arr,
		       const char *defaults, const char *at, size_t max_len,
		       struct sr_config_problems *pr)
{
	json_t *builtin = NULL;
	size_t i;

	if (arr == NULL) {
		builtin = json_loads(defaults, 0, NULL);
		arr = builtin;
		src->rules.defaults = true;
	}
	if (!json_is_array(arr) || json_array_size(arr) > MAX_RULES) {
		sr_config_problem(pr, at, "must be an array of at most %d rules (an empty one: this"
			" source revokes nothing)", MAX_RULES);
		goto out;
	}
	src->rules.v = calloc(json_array_size(arr) + 1, sizeof(*src->rules.v));
	for (i = 0; src->rules.v != NULL && i < json_array_size(arr); i++) {
		char path[200];
		snprintf(path, sizeof(path), "%s[%zu]", at, i);
		load_rule(src, kinds, json_array_get(arr, i), path, max_len, pr);
	}
out:
	json_decref(builtin);
}

/* A string member of o at "<at>.<key>" into *out (NULL when absent). */
static void opt_str(json_t *o, const char *key, const char *at, char **out,
		    struct sr_config_problems *pr)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 2048) {
		char path[200];
		snprintf(path, sizeof(path), "%s.%s", at, key);
		sr_config_problem(pr, path, "must be a non-empty string");
		return;
	}
	*out = strdup(json_string_value(v));
}

static bool https_url(const char *s)
{
	return s != NULL && strncmp(s, "https://", 8) == 0 && s[8] != '\0';
}

static void check_keys(json_t *o, const char *at, const char *const *known,
		       struct sr_config_problems *pr)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		if (!in_list(key, known)) {
			char path[200];
			snprintf(path, sizeof(path), "%s.%s", at, key);
			sr_config_problem(pr, path, "unknown field");
		}
	}
}

static void load_lookup(struct sr_lookup_config *lc, json_t *o, const char *at,
			struct sr_config_problems *pr)
{
	static const char *const known[] = {"kind", "domain", "client_id", "client_secret_file",
					    "audience", "groups_from", "url", "token_file", NULL};
	char path[200];

	if (o == NULL)
		return;
	if (!json_is_object(o)) {
		sr_config_problem(pr, at, "must be an object");
		return;
	}
	check_keys(o, at, known, pr);
	opt_str(o, "kind", at, &lc->kind, pr);
	opt_str(o, "domain", at, &lc->domain, pr);
	opt_str(o, "client_id", at, &lc->client_id, pr);
	opt_str(o, "client_secret_file", at, &lc->client_secret_file, pr);
	opt_str(o, "audience", at, &lc->audience, pr);
	opt_str(o, "groups_from", at, &lc->groups_from, pr);
	opt_str(o, "url", at, &lc->url, pr);
	opt_str(o, "token_file", at, &lc->token_file, pr);
	snprintf(path, sizeof(path), "%s.kind", at);
	if (lc->kind == NULL || (strcmp(lc->kind, "auth0") != 0 && strcmp(lc->kind, "http") != 0)) {
		sr_config_problem(pr, path, "required: \"auth0\" (the Management API) or \"http\"");
		return;
	}
	if (strcmp(lc->kind, "auth0") == 0) {
		snprintf(path, sizeof(path), "%s.domain", at);
		if (!https_url(lc->domain))
			sr_config_problem(pr, path, "required: the tenant's https:// base URL");
		snprintf(path, sizeof(path), "%s.client_id", at);
		if (lc->client_id == NULL)
			sr_config_problem(pr, path, "required: the Machine-to-Machine application's"
				" client id");
		snprintf(path, sizeof(path), "%s.client_secret_file", at);
		if (lc->client_secret_file == NULL)
			sr_config_problem(pr, path, "required: a file holding the client secret");
		sr_config_check_readable(pr, path, lc->client_secret_file);
		snprintf(path, sizeof(path), "%s.groups_from", at);
		if (lc->groups_from != NULL && strcmp(lc->groups_from, "roles") != 0 &&
		    (strncmp(lc->groups_from, "app_metadata.", 13) != 0 || lc->groups_from[13] == '\0'))
			sr_config_problem(pr, path, "must be \"roles\" or \"app_metadata.<field>\"");
	} else {
		snprintf(path, sizeof(path), "%s.url", at);
		if (!https_url(lc->url) || strstr(lc->url, "{subject}") == NULL)
			sr_config_problem(pr, path, "required: an https:// URL with {subject} in it");
		snprintf(path, sizeof(path), "%s.token_file", at);
		sr_config_check_readable(pr, path, lc->token_file);
	}
}

static void load_int(json_t *o, const char *key, const char *at, int64_t lo, int64_t hi,
		     int64_t *out, struct sr_config_problems *pr)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		char path[200];
		snprintf(path, sizeof(path), "%s.%s", at, key);
		sr_config_problem(pr, path, "must be an integer from %lld to %lld", (long long)lo,
				  (long long)hi);
		return;
	}
	*out = json_integer_value(v);
}

static void load_poll(struct sr_source_config *src, json_t *o, const char *at,
		      struct sr_config_problems *pr)
{
	static const char *const known[] = {"enabled", "interval_seconds", "take", "from", NULL};
	json_t *v;

	src->poll.interval_seconds = 60;
	src->poll.take = 100;
	if (o == NULL)
		return;
	if (!json_is_object(o)) {
		sr_config_problem(pr, at, "must be an object");
		return;
	}
	check_keys(o, at, known, pr);
	v = json_object_get(o, "enabled");
	if (v != NULL && !json_is_boolean(v)) {
		char path[200];
		snprintf(path, sizeof(path), "%s.enabled", at);
		sr_config_problem(pr, path, "must be true or false");
	}
	src->poll.enabled = v == NULL || json_is_true(v);
	load_int(o, "interval_seconds", at, 1, 86400, &src->poll.interval_seconds, pr);
	load_int(o, "take", at, 1, 100, &src->poll.take, pr);
	opt_str(o, "from", at, &src->poll.from, pr);
	if (src->poll.enabled && (src->lookup.kind == NULL || strcmp(src->lookup.kind, "auth0") != 0))
		sr_config_problem(pr, at, "needs sources.auth0.lookup of kind \"auth0\" (the"
			" Management API's client credentials)");
}

static void load_names(struct sr_source_config *src, json_t *o, const char *at, size_t max_len,
		       struct sr_config_problems *pr)
{
	const char *key;
	json_t *v;
	size_t n;

	if (o == NULL)
		return;
	if (!json_is_object(o)) {
		sr_config_problem(pr, at, "must be an object {\"<id in the provider>\": \"<group>\"}");
		return;
	}
	n = json_object_size(o);
	src->rename_from = calloc(n + 1, sizeof(char *));
	src->rename_to = calloc(n + 1, sizeof(char *));
	if (src->rename_from == NULL || src->rename_to == NULL)
		return;
	json_object_foreach(o, key, v) {
		const char *to = json_string_value(v);
		if (to == NULL || !group_ok(to, max_len)) {
			char path[300];
			snprintf(path, sizeof(path), "%s.%s", at, key);
			sr_config_problem(pr, path, "must be a group name");
			continue;
		}
		src->rename_from[src->n_rename] = strdup(key);
		src->rename_to[src->n_rename++] = strdup(to);
	}
}

/* Okta's own settings: the header its secret comes in (Okta lets the admin
 * name it) and how long a delivery may wait for directory lookups (Okta
 * gives up after 3 seconds). */
static void load_okta(struct sr_source_config *src, json_t *o, const char *at, bool okta,
		      struct sr_config_problems *pr)
{
	static const char *const keys[] = {"authorization_header", "answer_within_ms",
					   "logout_issuer", "logout_audience"};
	char path[160];
	const char *h;
	size_t i;

	if (!okta) {
		for (i = 0; i < 4; i++) {
			snprintf(path, sizeof(path), "%s.%s", at, keys[i]);
			if (json_object_get(o, keys[i]) != NULL)
				sr_config_problem(pr, path, "only the okta source has it");
		}
		return;
	}
	opt_str(o, "authorization_header", at, &src->secret_header, pr);
	h = src->secret_header;
	snprintf(path, sizeof(path), "%s.authorization_header", at);
	/* An HTTP field name (RFC 9110 token), as Okta's "Authentication field". */
	if (h != NULL && (strlen(h) > 64 ||
			  strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789!#$%&'*+-.^_`|~") != strlen(h)))
		sr_config_problem(pr, path, "must be an HTTP header name (1 to 64 letters, digits"
			" or -._ and the like)");
	load_int(o, "answer_within_ms", at, 100, 2900, &src->answer_within_ms, pr);
	opt_str(o, "logout_issuer", at, &src->logout_issuer, pr);
	opt_str(o, "logout_audience", at, &src->logout_audience, pr);
	snprintf(path, sizeof(path), "%s.logout_audience", at);
	if (src->logout_audience != NULL && src->logout_issuer == NULL)
		sr_config_problem(pr, path, "needs logout_issuer (the Okta org that signs the"
				  " requests)");
}

/* What a person's sessions carry as their source identity, and how long the
 * provider's ID tokens live (rules with "target": "user"). */
static void load_identity(struct sr_source_config *src, json_t *o, const char *at,
			  struct sr_config_problems *pr)
{
	static const char *const kinds[] = {"email", "subject", "nickname", "username", NULL};
	char path[160];

	opt_str(o, "identity", at, &src->identity, pr);
	snprintf(path, sizeof(path), "%s.identity", at);
	if (src->identity != NULL && !in_list(src->identity, kinds))
		sr_config_problem(pr, path, "must be email (the event's, else looked up), subject"
			" (the event's user id as it is), nickname or username (looked up)");
	load_int(o, "token_lifetime_seconds", at, 60, 7 * 86400, &src->token_lifetime_seconds,
		 pr);
}

static void source_init(struct sr_source_config *src, const char *name, json_t *o,
			const char *const *kinds, const char *defaults, size_t max_len,
			struct sr_config_problems *pr)
{
	static const char *const known[] = {"enabled", "authorization_file", "rules", "lookup",
					    "poll", "group_names", "issuer", "audience",
					    "authorization_header", "answer_within_ms", "identity",
					    "token_lifetime_seconds", "logout_issuer", "logout_audience",
					    NULL};
	char at[96], path[160];
	json_t *v;

	src->name = name;
	src->enabled = true;
	snprintf(at, sizeof(at), "sources.%s", name);
	if (o != NULL && !json_is_object(o)) {
		sr_config_problem(pr, at, "must be an object");
		o = NULL;
	}
	if (o != NULL) {
		check_keys(o, at, known, pr);
		v = json_object_get(o, "enabled");
		snprintf(path, sizeof(path), "%s.enabled", at);
		if (v != NULL && !json_is_boolean(v))
			sr_config_problem(pr, path, "must be true or false");
		src->enabled = v == NULL || json_is_true(v);
		if (!src->enabled) /* off: nothing else of it is read, or checked */
			return;
		opt_str(o, "authorization_file", at, &src->secret_file, pr);
		snprintf(path, sizeof(path), "%s.authorization_file", at);
		sr_config_check_readable(pr, path, src->secret_file);
		snprintf(path, sizeof(path), "%s.lookup", at);
		load_lookup(&src->lookup, json_object_get(o, "lookup"), path, pr);
		snprintf(path, sizeof(path), "%s.group_names", at);
		load_names(src, json_object_get(o, "group_names"), path, max_len, pr);
		if (kinds == ssf_kinds) {
			opt_str(o, "issuer", at, &src->set_issuer, pr);
			opt_str(o, "audience", at, &src->set_audience, pr);
		} else if (json_object_get(o, "issuer") || json_object_get(o, "audience")) {
			snprintf(path, sizeof(path), "%s.%s", at,
				 json_object_get(o, "issuer") ? "issuer" : "audience");
			sr_config_problem(pr, path, "only the ssf source takes a transmitter");
		}
		load_okta(src, o, at, kinds == okta_kinds, pr);
		load_identity(src, o, at, pr);
	}
	if (src->identity == NULL)
		src->identity = strdup("email");
	snprintf(path, sizeof(path), "%s.rules", at);
	load_rules(src, kinds, o ? json_object_get(o, "rules") : NULL, defaults, path, max_len, pr);
	snprintf(path, sizeof(path), "%s.poll", at);
	if (kinds == auth0_kinds)
		load_poll(src, o ? json_object_get(o, "poll") : NULL, path, pr);
	else if (o != NULL && json_object_get(o, "poll") != NULL)
		sr_config_problem(pr, path, "only the auth0 source polls");
}

/* Universal Logout's signer must be one of auth.issuers: its keys are there. */
static void okta_check_logout_issuer(const struct sr_config *cfg,
				     const struct sr_source_config *src,
				     struct sr_config_problems *pr)
{
	size_t i;

	if (!src->enabled || src->logout_issuer == NULL)
		return;
	for (i = 0; i < cfg->n_issuers; i++)
		if (strcmp(cfg->issuers[i].issuer, src->logout_issuer) == 0)
			return;
	sr_config_problem(pr, "sources.okta.logout_issuer", "\"%.200s\" is none of"
			  " auth.issuers[].issuer (the Okta org's keys are configured there)",
			  src->logout_issuer);
}

/* The transmitter must be one of auth.issuers: that is where its keys are. */
static void ssf_check_issuer(const struct sr_config *cfg, const struct sr_source_config *src,
			     struct sr_config_problems *pr)
{
	size_t i;

	if (!src->enabled || src->set_issuer == NULL)
		return;
	for (i = 0; i < cfg->n_issuers; i++)
		if (strcmp(cfg->issuers[i].issuer, src->set_issuer) == 0)
			return;
	sr_config_problem(pr, "sources.ssf.issuer", "\"%.200s\" is none of auth.issuers[].issuer"
			  " (the transmitter's keys are configured there)", src->set_issuer);
}

static void lookup_clear(struct sr_lookup_config *lc)
{
	free(lc->kind);
	free(lc->domain);
	free(lc->client_id);
	free(lc->client_secret_file);
	free(lc->audience);
	free(lc->groups_from);
	free(lc->url);
	free(lc->token_file);
}

static void source_clear(struct sr_source_config *src)
{
	size_t i;

	for (i = 0; i < src->rules.n; i++)
		rule_clear(&src->rules.v[i]);
	free(src->rules.v);
	free(src->secret_file);
	free(src->secret_header);
	free(src->identity);
	lookup_clear(&src->lookup);
	free(src->poll.from);
	free(src->set_issuer);
	free(src->set_audience);
	free(src->logout_issuer);
	free(src->logout_audience);
	sr_strv_free(src->rename_from, src->n_rename);
	sr_strv_free(src->rename_to, src->n_rename);
}

void sr_sources_config_free(struct sr_sources_config *sc)
{
	if (sc == NULL)
		return;
	source_clear(&sc->auth0);
	source_clear(&sc->group_change);
	source_clear(&sc->ssf);
	source_clear(&sc->okta);
	free(sc);
}

enum sr_rc sr_sources_config_load(const struct sr_config *cfg, struct sr_sources_config **out,
				  struct sr_config_problems *pr, struct sr_err *err)
{
	struct sr_sources_config *sc;
	size_t before = pr->n, max_len = (size_t)cfg->max_group_length;
	const char *key;
	json_t *v;

	*out = NULL;
	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	json_object_foreach(cfg->sources, key, v) {
		if (strcmp(key, "auth0") != 0 && strcmp(key, "group-change") != 0 &&
		    strcmp(key, "ssf") != 0 && strcmp(key, "okta") != 0) {
			char path[160];
			snprintf(path, sizeof(path), "sources.%s", key);
			sr_config_problem(pr, path, "unknown source (auth0, group-change, ssf, okta)");
		}
	}
	source_init(&sc->auth0, "auth0", json_object_get(cfg->sources, "auth0"), auth0_kinds,
		    auth0_defaults, max_len, pr);
	source_init(&sc->group_change, "group-change",
		    json_object_get(cfg->sources, "group-change"), group_change_kinds,
		    group_change_defaults, max_len, pr);
	source_init(&sc->ssf, "ssf", json_object_get(cfg->sources, "ssf"), ssf_kinds, ssf_defaults,
		    max_len, pr);
	ssf_check_issuer(cfg, &sc->ssf, pr);
	sc->okta.answer_within_ms = 2000;
	source_init(&sc->okta, "okta", json_object_get(cfg->sources, "okta"), okta_kinds,
		    okta_defaults, max_len, pr);
	okta_check_logout_issuer(cfg, &sc->okta, pr);
	sc->http.ca_file = cfg->http_client_ca_file;
	sc->http.timeout_seconds = cfg->http_client_timeout;
	sc->http.max_bytes = cfg->http_client_max_bytes;
	if (pr->n > before) {
		sr_sources_config_free(sc);
		return sr_err_set(err, SR_ECONFIG, "%s: %s", pr->items[before].path,
				  pr->items[before].msg);
	}
	*out = sc;
	return SR_OK;
}
