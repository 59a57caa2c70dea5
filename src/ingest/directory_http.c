/*
 * directory_http.c - the generic HTTP directory (lookup.kind "http"): GET
 * lookup.url with {subject} replaced by the percent-encoded user, with
 * "Authorization: Bearer <lookup.token_file>" when one is configured; the
 * answer is a JSON array of group names or {"groups": [...]}. A 404 means the
 * directory has no such user (deleted); any other failure, or an answer that
 * cannot be used, is SR_EUNAVAIL.
 */
#include "session_revoker/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_revoker/fetch.h"
#include "directory_int.h"

#define WHO "the HTTP directory"
#define SUBJECT_TOKEN "{subject}"

struct http_dir {
	struct sr_directory dir; /* first */
	char *url;               /* with SUBJECT_TOKEN */
	char *auth;              /* "Authorization: Bearer <token>" or NULL; cleansed */
	size_t auth_size;
	char *ca_file;
	int64_t timeout;
	size_t max_bytes;
};

/* The url with every {subject} replaced by esc; new string or NULL. */
static char *expand(const char *url, const char *esc)
{
	struct sr_buf b = {.max = 64 * 1024};
	const char *p = url, *q;
	char *out;

	while ((q = strstr(p, SUBJECT_TOKEN)) != NULL) {
		if (sr_buf_append(&b, p, (size_t)(q - p)) != SR_OK ||
		    sr_buf_append(&b, esc, strlen(esc)) != SR_OK)
			goto fail;
		p = q + strlen(SUBJECT_TOKEN);
	}
	if (sr_buf_append(&b, p, strlen(p) + 1) != SR_OK)
		goto fail;
	out = b.data;
	return out;
fail:
	sr_buf_free(&b);
	return NULL;
}

static enum sr_rc groups(struct sr_directory *dir, const char *subject, char ***out, size_t *n,
			 struct sr_err *err)
{
	struct http_dir *h = (struct http_dir *)dir;
	const char *headers[3] = {"Accept: application/json", h->auth, NULL};
	struct sr_fetch_req req = {.headers = headers, .ca_file = h->ca_file,
				   .timeout_seconds = h->timeout, .max_bytes = h->max_bytes};
	struct sr_fetch_resp resp = {0};
	struct sr_err ferr = {0};
	char *esc = NULL, *url = NULL;
	enum sr_rc rc;

	*out = NULL;
	*n = 0;
	if (subject == NULL || subject[0] == '\0')
		return sr_err_set(err, SR_EINVAL, "no user to look up");
	if ((esc = sr_directory_escape(subject)) == NULL || (url = expand(h->url, esc)) == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	req.url = url;
	if ((rc = sr_fetch(&req, &resp, &ferr)) != SR_OK) {
		rc = sr_err_set(err, SR_EUNAVAIL, "%s did not answer: %s", WHO, ferr.msg);
		goto out;
	}
	if ((rc = sr_directory_judge(&resp, WHO, "GET lookup.url", 1, err)) != SR_OK)
		goto out;
	rc = sr_directory_parse_http(resp.body, resp.len, out, n, err);
out:
	sr_fetch_resp_free(&resp);
	free(url);
	free(esc);
	return rc;
}

static void dir_free(struct sr_directory *dir)
{
	struct http_dir *h = (struct http_dir *)dir;

	if (h == NULL)
		return;
	if (h->auth != NULL)
		sr_secret_free(h->auth, h->auth_size);
	free(h->url);
	free(h->ca_file);
	free(h);
}

enum sr_rc sr_directory_http_new(const struct sr_lookup_config *lc,
				 const struct sr_http_client_config *hc, struct sr_directory **out,
				 struct sr_err *err)
{
	struct http_dir *h;
	char *token = NULL;
	size_t token_size = 0;
	enum sr_rc rc = SR_OK;

	*out = NULL;
	if (lc->url == NULL || lc->url[0] == '\0')
		return sr_err_set(err, SR_ECONFIG, "lookup.url: required for an HTTP directory");
	if (strstr(lc->url, SUBJECT_TOKEN) == NULL)
		return sr_err_set(err, SR_ECONFIG,
				  "lookup.url: must contain {subject} (where the user goes)");
	if (strncmp(lc->url, "https://", 8) != 0 && strncmp(lc->url, "http://", 7) != 0)
		return sr_err_set(err, SR_ECONFIG, "lookup.url: must be an https:// URL");
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	h->dir.groups = groups;
	h->dir.free = dir_free;
	h->timeout = hc->timeout_seconds > 0 ? hc->timeout_seconds : 10;
	h->max_bytes = hc->max_bytes > 0 ? (size_t)hc->max_bytes : 1024 * 1024;
	h->url = strdup(lc->url);
	h->ca_file = hc->ca_file != NULL ? strdup(hc->ca_file) : NULL;
	if (h->url == NULL || (hc->ca_file != NULL && h->ca_file == NULL)) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	if (lc->token_file != NULL) {
		rc = sr_directory_read_secret(lc->token_file, "lookup.token_file", 1, &token,
					      &token_size, err);
		if (rc != SR_OK)
			goto out;
		h->auth_size = strlen(token) + sizeof("Authorization: Bearer ");
		if ((h->auth = malloc(h->auth_size)) == NULL) {
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
			goto out;
		}
		snprintf(h->auth, h->auth_size, "Authorization: Bearer %s", token);
	}
out:
	if (token != NULL)
		sr_secret_free(token, token_size);
	if (rc != SR_OK)
		dir_free(&h->dir);
	else
		*out = &h->dir;
	return rc;
}
