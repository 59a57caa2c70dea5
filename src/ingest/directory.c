/*
 * directory.c - what the directory clients share (directory_int.h): their
 * answers read with jansson, the status of an answer judged in one place,
 * Auth0's rate-limit headers, and secrets read from files.
 */
#include "directory_int.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define SECRET_FILE_MAX (64 * 1024)
#define TOKEN_MAX (16 * 1024)

enum sr_rc sr_directory_groups(json_t *v, int one_ok, const char *what, char ***groups,
			       size_t *n, struct sr_err *err)
{
	json_t *one = NULL, *g;
	size_t i, j, cap;
	enum sr_rc rc = SR_OK;

	*groups = NULL;
	*n = 0;
	if (one_ok && json_is_string(v)) {
		if ((one = json_array()) == NULL || json_array_append(one, v) != 0) {
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
			goto out;
		}
		v = one;
	}
	if (!json_is_array(v)) {
		rc = sr_err_set(err, SR_EUNAVAIL, "%s is not %s", what,
				one_ok ? "a string or an array of strings" : "an array of strings");
		goto out;
	}
	if (json_array_size(v) > SR_DIR_MAX_GROUPS) {
		rc = sr_err_set(err, SR_EUNAVAIL, "%s names more than %d groups", what,
				SR_DIR_MAX_GROUPS);
		goto out;
	}
	cap = json_array_size(v) ? json_array_size(v) : 1;
	if ((*groups = calloc(cap, sizeof(char *))) == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(v, i, g) {
		const char *s = json_string_value(g);
		size_t len = json_string_length(g);
		int dup = 0;

		if (s == NULL || len == 0) {
			rc = sr_err_set(err, SR_EUNAVAIL, "%s[%zu] is not a non-empty string", what, i);
			goto out;
		}
		if (len > SR_DIR_MAX_GROUP_LEN) {
			rc = sr_err_set(err, SR_EUNAVAIL, "%s[%zu] is longer than %d bytes", what, i,
					SR_DIR_MAX_GROUP_LEN);
			goto out;
		}
		if (strlen(s) != len || sr_utf8_has_control(s, NULL)) {
			rc = sr_err_set(err, SR_EUNAVAIL, "%s[%zu] holds control characters", what, i);
			goto out;
		}
		for (j = 0; j < *n && !dup; j++)
			dup = strcmp((*groups)[j], s) == 0;
		if (dup)
			continue;
		if (((*groups)[*n] = strdup(s)) == NULL) {
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
			goto out;
		}
		(*n)++;
	}
out:
	if (rc != SR_OK) {
		sr_strv_free(*groups, *n);
		*groups = NULL;
		*n = 0;
	}
	json_decref(one);
	return rc;
}

static json_t *load(const char *body, size_t len, const char *what, struct sr_err *err)
{
	json_error_t je;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);

	if (root == NULL)
		sr_err_set(err, SR_EUNAVAIL, "%s is not JSON (line %d: %.80s)", what, je.line, je.text);
	return root;
}

enum sr_rc sr_directory_parse_http(const char *body, size_t len, char ***groups, size_t *n,
				   struct sr_err *err)
{
	json_t *root, *v;
	enum sr_rc rc;

	*groups = NULL;
	*n = 0;
	if ((root = load(body, len, "the directory's answer", err)) == NULL)
		return SR_EUNAVAIL;
	v = json_is_object(root) ? json_object_get(root, "groups") : root;
	if (json_is_object(root) && v == NULL)
		rc = sr_err_set(err, SR_EUNAVAIL, "the directory's answer has no \"groups\"");
	else
		rc = sr_directory_groups(v, 0, json_is_object(root) ? "the directory's groups" :
				       "the directory's answer", groups, n, err);
	json_decref(root);
	return rc;
}

enum sr_rc sr_directory_parse_roles(const char *body, size_t len, char ***groups, size_t *n,
				    size_t *page_n, struct sr_err *err)
{
	json_t *root, *role, *names = NULL;
	char **page = NULL, **all = NULL;
	size_t i, j, n_page = 0;
	enum sr_rc rc = SR_OK;

	*page_n = 0;
	if ((root = load(body, len, "Auth0's roles of the user", err)) == NULL)
		return SR_EUNAVAIL;
	if (!json_is_array(root)) {
		rc = sr_err_set(err, SR_EUNAVAIL, "Auth0's roles of the user are not an array");
		goto out;
	}
	if ((names = json_array()) == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(root, i, role) {
		json_t *name = json_object_get(role, "name");
		if (!json_is_object(role) || name == NULL) {
			rc = sr_err_set(err, SR_EUNAVAIL, "Auth0's role [%zu] has no \"name\"", i);
			goto out;
		}
		json_array_append(names, name);
	}
	*page_n = json_array_size(root);
	if ((rc = sr_directory_groups(names, 0, "Auth0's role names", &page, &n_page, err)) != SR_OK)
		goto out;
	if (*n + n_page > SR_DIR_MAX_GROUPS) {
		rc = sr_err_set(err, SR_EUNAVAIL, "the user has more than %d roles", SR_DIR_MAX_GROUPS);
		goto out;
	}
	if ((all = realloc(*groups, (*n + n_page + 1) * sizeof(char *))) == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	*groups = all;
	for (i = 0; i < n_page; i++) {
		int dup = 0;
		for (j = 0; j < *n && !dup; j++)
			dup = strcmp((*groups)[j], page[i]) == 0;
		if (dup) {
			free(page[i]);
		} else {
			(*groups)[(*n)++] = page[i];
		}
		page[i] = NULL;
	}
out:
	sr_strv_free(page, n_page);
	json_decref(names);
	json_decref(root);
	return rc;
}

enum sr_rc sr_directory_parse_user(const char *body, size_t len, const char *field,
				   char ***groups, size_t *n, struct sr_err *err)
{
	json_t *root, *meta, *v;
	char what[128];
	enum sr_rc rc = SR_OK;

	*groups = NULL;
	*n = 0;
	if ((root = load(body, len, "Auth0's user", err)) == NULL)
		return SR_EUNAVAIL;
	if (!json_is_object(root)) {
		rc = sr_err_set(err, SR_EUNAVAIL, "Auth0's user is not an object");
		goto out;
	}
	meta = json_object_get(root, "app_metadata");
	v = json_object_get(meta, field);
	if (meta != NULL && !json_is_object(meta) && !json_is_null(meta)) {
		rc = sr_err_set(err, SR_EUNAVAIL, "Auth0's user's app_metadata is not an object");
	} else if (v == NULL || json_is_null(v)) {
		/* No field: the user is in no group. */
		if ((*groups = calloc(1, sizeof(char *))) == NULL)
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
	} else {
		snprintf(what, sizeof(what), "app_metadata.%.64s", field);
		rc = sr_directory_groups(v, 1, what, groups, n, err);
	}
out:
	json_decref(root);
	return rc;
}

enum sr_rc sr_directory_parse_attribute(const char *body, size_t len, const char *name,
					char **value, struct sr_err *err)
{
	json_t *root, *v;
	enum sr_rc rc = SR_OK;

	*value = NULL;
	if ((root = load(body, len, "Auth0's user", err)) == NULL)
		return SR_EUNAVAIL;
	v = json_object_get(root, name);
	if (!json_is_object(root))
		rc = sr_err_set(err, SR_EUNAVAIL, "Auth0's user is not an object");
	else if ((v != NULL && !json_is_null(v) && !json_is_string(v)) ||
		 (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v)))
		rc = sr_err_set(err, SR_EUNAVAIL, "Auth0's user's %.32s is not a string", name);
	else if (json_is_string(v) && json_string_length(v) > 0 &&
		 (*value = strndup(json_string_value(v), json_string_length(v))) == NULL)
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
	json_decref(root);
	return rc;
}

/* Characters an HTTP header value may carry without quoting or folding. */
static int header_safe(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return len > 0;
}

enum sr_rc sr_directory_parse_token(const char *body, size_t len, char **token,
				    int64_t *expires_in, struct sr_err *err)
{
	json_t *root, *tok, *exp;
	enum sr_rc rc = SR_OK;
	const char *s;
	size_t n;

	*token = NULL;
	*expires_in = 0;
	/* Not load(): its message quotes the bytes, which here hold a token. */
	if ((root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return sr_err_set(err, SR_EUNAVAIL, "Auth0's token answer is not JSON");
	tok = json_object_get(root, "access_token");
	exp = json_object_get(root, "expires_in");
	s = json_string_value(tok);
	n = json_string_length(tok);
	if (s == NULL || n == 0 || n > TOKEN_MAX || !header_safe(s, n) || strlen(s) != n) {
		rc = sr_err_set(err, SR_EUNAVAIL, "Auth0's token answer has no usable access_token");
		goto out;
	}
	if (!json_is_integer(exp) || json_integer_value(exp) <= 0) {
		rc = sr_err_set(err, SR_EUNAVAIL, "Auth0's token answer has no positive expires_in");
		goto out;
	}
	if ((*token = strdup(s)) == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	*expires_in = json_integer_value(exp);
out:
	json_decref(root);
	return rc;
}

enum sr_rc sr_directory_parse_first_log_id(const char *body, size_t len, char **log_id,
					   struct sr_err *err)
{
	json_t *root, *id;
	enum sr_rc rc = SR_OK;

	*log_id = NULL;
	if ((root = load(body, len, "Auth0's logs", err)) == NULL)
		return SR_EUNAVAIL;
	if (!json_is_array(root)) {
		rc = sr_err_set(err, SR_EUNAVAIL, "Auth0's logs are not an array");
		goto out;
	}
	if (json_array_size(root) == 0)
		goto out;
	id = json_object_get(json_array_get(root, 0), "log_id");
	if (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) > 128 ||
	    !header_safe(json_string_value(id), json_string_length(id))) {
		rc = sr_err_set(err, SR_EUNAVAIL, "Auth0's newest log event has no usable log_id");
		goto out;
	}
	if ((*log_id = strdup(json_string_value(id))) == NULL)
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
out:
	json_decref(root);
	return rc;
}

enum sr_rc sr_directory_judge(const struct sr_fetch_resp *r, const char *who, const char *what,
			      int about_user, struct sr_err *err)
{
	long s = r->status;

	if (s >= 200 && s < 300)
		return SR_OK;
	if (s == 404 && about_user)
		return sr_err_set(err, SR_ENOTFOUND, "%s has no such user (%s: HTTP 404)", who, what);
	if (s == 401 || s == 403)
		return sr_err_set(err, SR_EUNAVAIL, "%s refused our credentials (%s: HTTP %ld)", who,
				  what, s);
	if (s == 429)
		return sr_err_set(err, SR_EUNAVAIL, "%s is throttling us (%s: HTTP 429)", who, what);
	if (s >= 500)
		return sr_err_set(err, SR_EUNAVAIL, "%s failed (%s: HTTP %ld)", who, what, s);
	return sr_err_set(err, SR_EUNAVAIL, "%s answered HTTP %ld (%s)", who, s, what);
}

/* A header value of digits only, else -1. */
static int64_t digits(const char *s)
{
	int64_t v = 0;

	if (*s == '\0' || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s))
		return -1;
	for (; *s != '\0'; s++)
		v = v * 10 + (*s - '0');
	return v;
}

static int64_t cap(int64_t w)
{
	return w < 0 ? 0 : w > SR_DIR_MAX_WAIT ? SR_DIR_MAX_WAIT : w;
}

int64_t sr_directory_wait(const struct sr_fetch_resp *r, int64_t now)
{
	int64_t reset = digits(r->ratelimit_reset), v;

	if (r->status == 429) {
		if ((v = digits(r->retry_after)) >= 0)
			return cap(v > 0 ? v : 1);
		if (r->retry_after[0] != '\0' && (v = (int64_t)curl_getdate(r->retry_after, NULL)) > 0)
			return cap(v > now ? v - now : 1);
		if (reset > 0)
			return cap(reset > now ? reset - now : 1);
		return 60;
	}
	if (digits(r->ratelimit_remaining) == 0 && reset > 0)
		return cap(reset > now ? reset - now : 1);
	return 0;
}

enum sr_rc sr_directory_read_secret(const char *path, const char *what, int header,
				    char **secret, size_t *len, struct sr_err *err)
{
	enum sr_rc rc;
	char *s = NULL;
	size_t n = 0, size;

	*secret = NULL;
	*len = 0;
	if ((rc = sr_file_read(path, SECRET_FILE_MAX, &s, &n, err)) != SR_OK)
		return rc;
	size = n;
	if (n > 0 && s[n - 1] == '\n')
		s[--n] = '\0';
	if (n > 0 && s[n - 1] == '\r')
		s[--n] = '\0';
	if (n == 0 || strlen(s) != n) {
		sr_secret_free(s, size);
		return sr_err_set(err, SR_ECONFIG, "%s %s is empty or holds a NUL byte", what, path);
	}
	if (header && !header_safe(s, n)) {
		sr_secret_free(s, size);
		return sr_err_set(err, SR_ECONFIG,
				  "%s %s holds characters an HTTP header cannot carry (spaces, line breaks, non-ASCII)",
				  what, path);
	}
	*secret = s;
	*len = size;
	return SR_OK;
}

char *sr_directory_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0), *copy;

	if (e == NULL)
		return NULL;
	copy = strdup(e);
	curl_free(e);
	return copy;
}
