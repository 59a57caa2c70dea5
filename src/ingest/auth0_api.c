/*
 * auth0_api.c - the Auth0 Management API client (ingest.h): a client
 * credentials token, the user's groups for a "lookup" rule, and pages of the
 * tenant's logs for the catch-up poll.
 *
 * DESIGN: the access token is fetched with the client credentials grant
 * (POST <domain>/oauth/token, form-encoded grant_type, client_id,
 * client_secret, audience) and cached until shortly before its expires_in
 * ends; a 401 from the API drops it and the call is made once more with a
 * fresh one. One mutex guards the token; whoever finds it missing fetches it
 * while holding the mutex, so threads that ask at once cause one token
 * request, not one each. The client secret is read at start from its file,
 * kept only in this struct, and cleansed on free; neither the secret nor a
 * token is ever logged or put in an error message.
 */
#include "session_revoker/ingest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "session_revoker/fetch.h"
#include "directory_int.h"

#define WHO "Auth0 Management API"
#define ROLES_PER_PAGE 100
#define ROLES_MAX_PAGES (SR_DIR_MAX_GROUPS / ROLES_PER_PAGE)

struct sr_auth0_api {
	struct sr_directory dir; /* first: the directory is the api */
	char *base;              /* "https://tenant.auth0.com", no trailing slash */
	char *client_id;
	char *secret;            /* cleansed on free */
	size_t secret_size;
	char *audience;
	char *field;             /* app_metadata.<field>; NULL: roles */
	char *ca_file;
	int64_t timeout;
	size_t max_bytes;
	pthread_mutex_t mu;      /* guards the token */
	char *token;
	int64_t token_until;     /* monotonic seconds */
	unsigned long token_gen; /* which token a caller used */
};

static int64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

static void drop_token_locked(struct sr_auth0_api *api)
{
	if (api->token != NULL)
		sr_secret_free(api->token, strlen(api->token));
	api->token = NULL;
	api->token_until = 0;
}

/* The grant's error code from Auth0's error answer ({"error": "access_denied",
 * ...}) when it is a plain word, for the message; else "". */
static void grant_error(const struct sr_fetch_resp *r, char *out, size_t cap)
{
	json_t *root = json_loadb(r->body, r->len, 0, NULL);
	const char *e = json_string_value(json_object_get(root, "error"));

	out[0] = '\0';
	if (e != NULL && strlen(e) < cap - 3 && strlen(e) > 0 &&
	    strspn(e, "abcdefghijklmnopqrstuvwxyz_") == strlen(e))
		snprintf(out, cap, ": %s", e);
	json_decref(root);
}

/* Appends name=<value percent-encoded> to b. */
static enum sr_rc form_add(struct sr_buf *b, const char *name, const char *value)
{
	char *e = sr_directory_escape(value);
	enum sr_rc rc;

	if (e == NULL)
		return SR_ENOMEM;
	rc = sr_buf_append(b, "&", b->len ? 1 : 0);
	if (rc == SR_OK)
		rc = sr_buf_append(b, name, strlen(name));
	if (rc == SR_OK)
		rc = sr_buf_append(b, "=", 1);
	if (rc == SR_OK)
		rc = sr_buf_append(b, e, strlen(e));
	sr_secret_free(e, strlen(e));
	return rc;
}

/* POST /oauth/token with the client credentials; mu held. */
static enum sr_rc fetch_token_locked(struct sr_auth0_api *api, struct sr_err *err)
{
	static const char *const headers[] = {
		"Content-Type: application/x-www-form-urlencoded", "Accept: application/json", NULL};
	struct sr_buf body = {.max = 256 * 1024};
	struct sr_fetch_req req = {.method = "POST", .headers = headers, .ca_file = api->ca_file,
				   .timeout_seconds = api->timeout, .max_bytes = api->max_bytes};
	struct sr_fetch_resp resp = {0};
	struct sr_err ferr = {0};
	char url[1024], code[48];
	int64_t expires_in = 0, margin;
	char *token = NULL;
	enum sr_rc rc;

	snprintf(url, sizeof(url), "%s/oauth/token", api->base);
	if (form_add(&body, "grant_type", "client_credentials") != SR_OK ||
	    form_add(&body, "client_id", api->client_id) != SR_OK ||
	    form_add(&body, "client_secret", api->secret) != SR_OK ||
	    form_add(&body, "audience", api->audience) != SR_OK) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	req.url = url;
	req.body = body.data;
	req.body_len = body.len;
	if ((rc = sr_fetch(&req, &resp, &ferr)) != SR_OK) {
		rc = sr_err_set(err, SR_EUNAVAIL, "Auth0 did not answer the token request: %s",
				ferr.msg);
		goto out;
	}
	if (resp.status == 401 || resp.status == 403) {
		grant_error(&resp, code, sizeof(code));
		rc = sr_err_set(err, SR_EUNAVAIL,
				"Auth0 refused the client credentials of client %.64s (HTTP %ld%s)",
				api->client_id, resp.status, code);
		goto out;
	}
	if ((rc = sr_directory_judge(&resp, "Auth0", "POST /oauth/token", 0, err)) != SR_OK)
		goto out;
	if ((rc = sr_directory_parse_token(resp.body, resp.len, &token, &expires_in, err)) != SR_OK)
		goto out;
	/* Renewed a minute before it ends (half its life when that is short). */
	margin = expires_in > 120 ? 60 : (expires_in + 1) / 2;
	drop_token_locked(api);
	api->token = token;
	api->token_until = mono_now() + expires_in - margin;
	api->token_gen++;
	token = NULL;
out:
	if (resp.body != NULL)
		OPENSSL_cleanse(resp.body, resp.len);
	sr_fetch_resp_free(&resp);
	sr_buf_free(&body);
	return rc;
}

/* A copy of a valid token (fetched when there is none), and which one it is. */
static enum sr_rc get_token(struct sr_auth0_api *api, char **token, unsigned long *gen,
			    struct sr_err *err)
{
	enum sr_rc rc = SR_OK;

	*token = NULL;
	pthread_mutex_lock(&api->mu);
	if (api->token == NULL || mono_now() >= api->token_until)
		rc = fetch_token_locked(api, err);
	if (rc == SR_OK) {
		*gen = api->token_gen;
		if ((*token = strdup(api->token)) == NULL)
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	pthread_mutex_unlock(&api->mu);
	return rc;
}

/* The API refused token gen: forget it, unless another thread already did. */
static void refused_token(struct sr_auth0_api *api, unsigned long gen)
{
	pthread_mutex_lock(&api->mu);
	if (api->token_gen == gen)
		drop_token_locked(api);
	pthread_mutex_unlock(&api->mu);
}

/* GET base+path with the token; a 401 drops the token and asks once more
 * with a new one. SR_OK whenever an answer came (resp filled, judged by the
 * caller); what names the request in messages. */
static enum sr_rc api_get(struct sr_auth0_api *api, const char *path, const char *what,
			  struct sr_fetch_resp *resp, struct sr_err *err)
{
	struct sr_fetch_req req = {.ca_file = api->ca_file, .timeout_seconds = api->timeout,
				   .max_bytes = api->max_bytes};
	const char *headers[3] = {NULL, "Accept: application/json", NULL};
	char *url = NULL, *auth = NULL, *token = NULL;
	size_t url_len = strlen(api->base) + strlen(path) + 1, auth_len = 0;
	unsigned long gen = 0;
	enum sr_rc rc = SR_OK;
	int attempt;

	memset(resp, 0, sizeof(*resp));
	if ((url = malloc(url_len)) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	snprintf(url, url_len, "%s%s", api->base, path);
	req.url = url;
	req.headers = headers;
	for (attempt = 0; attempt < 2; attempt++) {
		struct sr_err ferr = {0};

		if ((rc = get_token(api, &token, &gen, err)) != SR_OK)
			break;
		auth_len = strlen(token) + sizeof("Authorization: Bearer ");
		if ((auth = malloc(auth_len)) == NULL) {
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
			break;
		}
		snprintf(auth, auth_len, "Authorization: Bearer %s", token);
		headers[0] = auth;
		rc = sr_fetch(&req, resp, &ferr);
		sr_secret_free(auth, auth_len);
		sr_secret_free(token, strlen(token) + 1);
		auth = token = NULL;
		if (rc != SR_OK) {
			rc = sr_err_set(err, SR_EUNAVAIL, "%s did not answer (%s): %s", WHO, what,
					ferr.msg);
			break;
		}
		if (resp->status != 401 || attempt == 1)
			break;
		refused_token(api, gen);
		sr_fetch_resp_free(resp);
	}
	free(url);
	return rc;
}

/* path: "/api/v2/users/<id escaped><suffix>"; NULL when memory runs out. */
static char *user_path(const char *subject, const char *suffix)
{
	char *id = sr_directory_escape(subject), *p;
	size_t n;

	if (id == NULL)
		return NULL;
	n = strlen("/api/v2/users/") + strlen(id) + strlen(suffix) + 1;
	if ((p = malloc(n)) != NULL)
		snprintf(p, n, "/api/v2/users/%s%s", id, suffix);
	free(id);
	return p;
}

static enum sr_rc roles(struct sr_auth0_api *api, const char *subject, char ***groups,
			size_t *n, struct sr_err *err)
{
	struct sr_fetch_resp resp = {0};
	enum sr_rc rc = SR_OK;
	char suffix[64], *path = NULL;
	size_t page_n = ROLES_PER_PAGE;
	int page;

	*groups = NULL;
	*n = 0;
	for (page = 0; rc == SR_OK && page_n == ROLES_PER_PAGE; page++) {
		if (page == ROLES_MAX_PAGES) {
			rc = sr_err_set(err, SR_EUNAVAIL, "the user has more than %d roles",
					SR_DIR_MAX_GROUPS);
			break;
		}
		snprintf(suffix, sizeof(suffix), "/roles?per_page=%d&page=%d", ROLES_PER_PAGE, page);
		if ((path = user_path(subject, suffix)) == NULL) {
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
			break;
		}
		if ((rc = api_get(api, path, "GET /api/v2/users/{id}/roles", &resp, err)) == SR_OK &&
		    (rc = sr_directory_judge(&resp, WHO, "GET /api/v2/users/{id}/roles", 1, err)) == SR_OK)
			rc = sr_directory_parse_roles(resp.body, resp.len, groups, n, &page_n, err);
		sr_fetch_resp_free(&resp);
		free(path);
		path = NULL;
	}
	if (rc == SR_OK && *groups == NULL && (*groups = calloc(1, sizeof(char *))) == NULL)
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
	if (rc != SR_OK) {
		sr_strv_free(*groups, *n);
		*groups = NULL;
		*n = 0;
	}
	return rc;
}

static enum sr_rc app_metadata(struct sr_auth0_api *api, const char *subject, char ***groups,
			       size_t *n, struct sr_err *err)
{
	struct sr_fetch_resp resp = {0};
	char *path = user_path(subject, "?fields=app_metadata&include_fields=true");
	enum sr_rc rc;

	*groups = NULL;
	*n = 0;
	if (path == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	if ((rc = api_get(api, path, "GET /api/v2/users/{id}", &resp, err)) == SR_OK &&
	    (rc = sr_directory_judge(&resp, WHO, "GET /api/v2/users/{id}", 1, err)) == SR_OK)
		rc = sr_directory_parse_user(resp.body, resp.len, api->field, groups, n, err);
	sr_fetch_resp_free(&resp);
	free(path);
	return rc;
}

static enum sr_rc dir_groups(struct sr_directory *dir, const char *subject, char ***groups,
			     size_t *n, struct sr_err *err)
{
	struct sr_auth0_api *api = (struct sr_auth0_api *)dir;

	*groups = NULL;
	*n = 0;
	if (subject == NULL || subject[0] == '\0')
		return sr_err_set(err, SR_EINVAL, "no user to look up");
	return api->field != NULL ? app_metadata(api, subject, groups, n, err)
				  : roles(api, subject, groups, n, err);
}

static enum sr_rc dir_attribute(struct sr_directory *dir, const char *subject, const char *name,
				char **value, struct sr_err *err)
{
	struct sr_auth0_api *api = (struct sr_auth0_api *)dir;
	struct sr_fetch_resp resp = {0};
	char suffix[96], *path;
	enum sr_rc rc;

	*value = NULL;
	if (subject == NULL || subject[0] == '\0')
		return sr_err_set(err, SR_EINVAL, "no user to look up");
	snprintf(suffix, sizeof(suffix), "?fields=%.32s&include_fields=true", name);
	if ((path = user_path(subject, suffix)) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	if ((rc = api_get(api, path, "GET /api/v2/users/{id}", &resp, err)) == SR_OK &&
	    (rc = sr_directory_judge(&resp, WHO, "GET /api/v2/users/{id}", 1, err)) == SR_OK)
		rc = sr_directory_parse_attribute(resp.body, resp.len, name, value, err);
	sr_fetch_resp_free(&resp);
	free(path);
	return rc;
}

/* The directory's free: the api is owned by whoever made it, not by the
 * directory (sr_auth0_api_directory: borrowed). */
static void dir_free(struct sr_directory *dir)
{
	(void)dir;
}

struct sr_directory *sr_auth0_api_directory(struct sr_auth0_api *api)
{
	return api != NULL ? &api->dir : NULL;
}

enum sr_rc sr_auth0_api_logs(struct sr_auth0_api *api, const char *from, int take,
			     char **body, size_t *len, int64_t *wait_seconds,
			     struct sr_err *err)
{
	struct sr_fetch_resp resp = {0};
	char *esc = NULL, *path = NULL;
	enum sr_rc rc;
	size_t n;

	*body = NULL;
	*len = 0;
	*wait_seconds = 0;
	take = take < 1 ? 1 : take > 100 ? 100 : take;
	if (from != NULL && from[0] != '\0' && (esc = sr_directory_escape(from)) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	n = 64 + (esc ? strlen(esc) : 0);
	if ((path = malloc(n)) == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	if (esc != NULL)
		snprintf(path, n, "/api/v2/logs?from=%s&take=%d", esc, take);
	else
		snprintf(path, n, "/api/v2/logs?take=%d", take);
	if ((rc = api_get(api, path, "GET /api/v2/logs", &resp, err)) != SR_OK)
		goto out;
	*wait_seconds = sr_directory_wait(&resp, (int64_t)time(NULL));
	if ((rc = sr_directory_judge(&resp, WHO, "GET /api/v2/logs", 0, err)) != SR_OK)
		goto out;
	*body = resp.body;
	*len = resp.len;
	resp.body = NULL;
out:
	sr_fetch_resp_free(&resp);
	free(path);
	free(esc);
	return rc;
}

enum sr_rc sr_auth0_api_newest_log(struct sr_auth0_api *api, char **log_id,
				   int64_t *wait_seconds, struct sr_err *err)
{
	struct sr_fetch_resp resp = {0};
	enum sr_rc rc;

	*log_id = NULL;
	*wait_seconds = 0;
	rc = api_get(api, "/api/v2/logs?sort=date:-1&per_page=1&page=0", "GET /api/v2/logs", &resp,
		     err);
	if (rc != SR_OK)
		goto out;
	*wait_seconds = sr_directory_wait(&resp, (int64_t)time(NULL));
	if ((rc = sr_directory_judge(&resp, WHO, "GET /api/v2/logs", 0, err)) != SR_OK)
		goto out;
	rc = sr_directory_parse_first_log_id(resp.body, resp.len, log_id, err);
out:
	sr_fetch_resp_free(&resp);
	return rc;
}

/* "https://x" or "x" (then https://) without trailing slashes; NULL when
 * memory runs out. */
static char *base_url(const char *domain)
{
	size_t n = strlen(domain);
	int scheme = strstr(domain, "://") != NULL;
	char *b;

	while (n > 0 && domain[n - 1] == '/')
		n--;
	if ((b = malloc(n + 9)) == NULL)
		return NULL;
	snprintf(b, n + 9, "%s%.*s", scheme ? "" : "https://", (int)n, domain);
	return b;
}

enum sr_rc sr_auth0_api_new(const struct sr_lookup_config *lc,
			    const struct sr_http_client_config *hc, struct sr_auth0_api **out,
			    struct sr_err *err)
{
	struct sr_auth0_api *api;
	const char *from = lc->groups_from != NULL ? lc->groups_from : "roles";
	enum sr_rc rc = SR_OK;
	size_t n;

	*out = NULL;
	if (lc->domain == NULL || lc->domain[0] == '\0')
		return sr_err_set(err, SR_ECONFIG, "lookup.domain: required for Auth0");
	if (lc->client_id == NULL || lc->client_id[0] == '\0')
		return sr_err_set(err, SR_ECONFIG, "lookup.client_id: required for Auth0");
	if (lc->client_secret_file == NULL || lc->client_secret_file[0] == '\0')
		return sr_err_set(err, SR_ECONFIG, "lookup.client_secret_file: required for Auth0");
	if (strcmp(from, "roles") != 0 &&
	    (strncmp(from, "app_metadata.", 13) != 0 || from[13] == '\0'))
		return sr_err_set(err, SR_ECONFIG,
				  "lookup.groups_from: \"%.64s\" is neither \"roles\" nor \"app_metadata.<field>\"",
				  from);
	if ((api = calloc(1, sizeof(*api))) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	pthread_mutex_init(&api->mu, NULL);
	api->dir.groups = dir_groups;
	api->dir.attribute = dir_attribute;
	api->dir.free = dir_free;
	api->timeout = hc->timeout_seconds > 0 ? hc->timeout_seconds : 10;
	api->max_bytes = hc->max_bytes > 0 ? (size_t)hc->max_bytes : 1024 * 1024;
	api->base = base_url(lc->domain);
	api->client_id = strdup(lc->client_id);
	api->ca_file = hc->ca_file != NULL ? strdup(hc->ca_file) : NULL;
	api->field = strcmp(from, "roles") != 0 ? strdup(from + 13) : NULL;
	if (api->base != NULL) {
		n = strlen(api->base) + sizeof("/api/v2/");
		if (lc->audience != NULL)
			api->audience = strdup(lc->audience);
		else if ((api->audience = malloc(n)) != NULL)
			snprintf(api->audience, n, "%s/api/v2/", api->base);
	}
	if (api->base == NULL || api->client_id == NULL || api->audience == NULL ||
	    (hc->ca_file != NULL && api->ca_file == NULL) ||
	    (strcmp(from, "roles") != 0 && api->field == NULL)) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	rc = sr_directory_read_secret(lc->client_secret_file, "lookup.client_secret_file", 0,
				      &api->secret, &api->secret_size, err);
out:
	if (rc != SR_OK)
		sr_auth0_api_free(api);
	else
		*out = api;
	return rc;
}

void sr_auth0_api_free(struct sr_auth0_api *api)
{
	if (api == NULL)
		return;
	drop_token_locked(api);
	if (api->secret != NULL)
		sr_secret_free(api->secret, api->secret_size);
	pthread_mutex_destroy(&api->mu);
	free(api->base);
	free(api->client_id);
	free(api->audience);
	free(api->field);
	free(api->ca_file);
	free(api);
}
