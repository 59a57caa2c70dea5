/*
 * routes.c - the route table. A new route is one row here and one handler.
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>

static const struct sr_route routes[] = {
	{"GET", "/healthz", sr_handle_healthz, false},
	{"GET", "/readyz", sr_handle_readyz, false},
	{"GET", "/metrics", sr_handle_metrics, false},
	{"POST", "/v1/revocations", sr_handle_revocation_post, false},
	{"GET", "/v1/revocations", sr_handle_revocation_list, false},
	{"GET", "/v1/revocations/{id}", sr_handle_revocation_get, false},
	{"POST", "/v1/events/auth0", sr_handle_events_auth0, true},
	{"POST", "/v1/events/group-change", sr_handle_events_group_change, true},
	{"POST", "/v1/events/ssf", sr_handle_events_ssf, false},
	{"GET", "/v1/events/okta", sr_handle_events_okta_verify, false},
	{"POST", "/v1/events/okta", sr_handle_events_okta, true},
	{"POST", "/v1/events/okta/logout", sr_handle_events_okta_logout, false},
};

/* Whether path fits pattern; a trailing "{id}" takes one non-empty segment. */
static bool match(const char *pattern, const char *path, char *param, size_t cap)
{
	const char *brace = strchr(pattern, '{');
	size_t prefix = brace ? (size_t)(brace - pattern) : strlen(pattern);
	const char *rest;

	if (brace == NULL)
		return strcmp(pattern, path) == 0;
	if (strncmp(pattern, path, prefix) != 0)
		return false;
	rest = path + prefix;
	if (*rest == '\0' || strchr(rest, '/') != NULL || strlen(rest) >= cap)
		return false;
	snprintf(param, cap, "%s", rest);
	return true;
}

const struct sr_route *sr_route_find(const char *method, const char *path,
				     char *param, size_t param_cap,
				     bool *path_known, char *allow, size_t allow_cap)
{
	size_t i, used = 0;

	*path_known = false;
	allow[0] = '\0';
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		char scratch[65];
		if (!match(routes[i].pattern, path, scratch, sizeof(scratch)))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			snprintf(param, param_cap, "%s", scratch);
			return &routes[i];
		}
		*path_known = true;
		used += (size_t)snprintf(allow + used, used < allow_cap ? allow_cap - used : 0,
					 "%s%s", used ? ", " : "", routes[i].method);
	}
	if (*path_known && strstr(allow, "GET") != NULL && used < allow_cap)
		snprintf(allow + used, allow_cap - used, ", HEAD");
	return NULL;
}
