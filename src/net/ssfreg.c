/*
 * ssfreg.c - registering as an SSF push receiver with a transmitter
 * (ssfreg.h).
 *
 * DESIGN: three steps, each one HTTP request through sr_fetch():
 *   1. GET the transmitter's metadata at the well-known address built from
 *      its issuer (SSF 1.0 section 7.2), check that it names the same issuer
 *      and supports push delivery (SSF 1.0's urn:ietf:rfc:8935, or the older
 *      drafts' RISC push URI: whichever it says it supports);
 *   2. GET its configuration endpoint (with ?stream_id= when one is given):
 *      an array of streams (SSF 1.0) or one object (older drafts), and pick
 *      ours: that stream id, or the one delivering to our URL;
 *   3. PATCH that stream (stream_id in the body) or POST a new one, with the
 *      delivery (method, endpoint_url, authorization_header) and the events.
 * A dry run stops after step 2. The management token and the authorization
 * value only ever go into request headers and bodies; the transmitter's own
 * words in an error are repeated only when they contain neither.
 */
#include "session_revoker/ssfreg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "session_revoker/fetch.h"

#define MAX_URL 2048

void sr_ssfreg_transmitter_free(struct sr_ssf_transmitter *t)
{
	if (t == NULL)
		return;
	free(t->issuer);
	free(t->jwks_uri);
	free(t->configuration_endpoint);
	free(t->push_method);
	memset(t, 0, sizeof(*t));
}

static int is_loopback(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "localhost") == 0 ||
	       strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
}

enum sr_rc sr_ssfreg_well_known_url(const char *issuer, char **url, struct sr_err *err)
{
	char *scheme = NULL, *host = NULL, *path = NULL, *query = NULL, *frag = NULL;
	char *user = NULL, *out = NULL, *newpath = NULL;
	enum sr_rc rc = SR_OK;
	CURLU *u = curl_url();
	size_t n;

	*url = NULL;
	if (u == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	if (strlen(issuer) > MAX_URL ||
	    curl_url_set(u, CURLUPART_URL, issuer, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		rc = sr_err_set(err, SR_EINVAL, "the transmitter \"%.200s\" is not a URL", issuer);
		goto out;
	}
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
	curl_url_get(u, CURLUPART_USER, &user, 0);
	if (query != NULL || frag != NULL || user != NULL) {
		rc = sr_err_set(err, SR_EINVAL, "the transmitter's issuer takes no query, fragment"
				" or user name: \"%.200s\"", issuer);
		goto out;
	}
	if (strcmp(scheme, "https") != 0 && !(strcmp(scheme, "http") == 0 && is_loopback(host))) {
		rc = sr_err_set(err, SR_EINVAL, "the transmitter's issuer must be an https URL"
				" (SSF 1.0), not \"%.200s\"", issuer);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		rc = sr_err_set(err, SR_EINVAL, "the transmitter \"%.200s\" is not a URL", issuer);
		goto out;
	}
	n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		n--; /* the terminating "/" */
	if ((newpath = malloc(n + 40)) == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(newpath, n + 40, "/.well-known/ssf-configuration%.*s", (int)n, path);
	if (curl_url_set(u, CURLUPART_PATH, newpath, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK) {
		rc = sr_err_set(err, SR_EINVAL, "the transmitter \"%.200s\" is not a URL", issuer);
		goto out;
	}
	if ((*url = strdup(out)) == NULL)
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
out:
	free(newpath);
	curl_free(scheme);
	curl_free(host);
	curl_free(path);
	curl_free(query);
	curl_free(frag);
	curl_free(user);
	curl_free(out);
	curl_url_cleanup(u);
	return rc;
}

/* A member that must be a non-empty string without control characters. */
static enum sr_rc url_member(json_t *o, const char *name, char **out, struct sr_err *err)
{
	json_t *v = json_object_get(o, name);
	const char *s = json_string_value(v);
	size_t i, n = json_string_length(v);

	if (s == NULL || n == 0 || n > MAX_URL)
		return sr_err_set(err, SR_EINVAL, "the transmitter's metadata has no usable \"%s\"",
				  name);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return sr_err_set(err, SR_EINVAL, "the transmitter's metadata \"%s\" has a"
					  " control character", name);
	if ((*out = strdup(s)) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	return SR_OK;
}

enum sr_rc sr_ssfreg_parse_metadata(const char *body, size_t len, const char *issuer,
				    struct sr_ssf_transmitter *t, struct sr_err *err)
{
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL), *methods, *m;
	enum sr_rc rc = SR_OK;
	int has_new = 0, has_old = 0;
	size_t i;

	memset(t, 0, sizeof(*t));
	if (!json_is_object(doc)) {
		rc = sr_err_set(err, SR_EINVAL, "the transmitter's metadata is not a JSON object:"
				" not an SSF transmitter");
		goto out;
	}
	if ((rc = url_member(doc, "issuer", &t->issuer, err)) != SR_OK)
		goto out;
	if (strcmp(t->issuer, issuer) != 0) {
		/* SSF 1.0 section 7.2.4: identical to the URL it was read from */
		rc = sr_err_set(err, SR_EINVAL, "the transmitter's metadata names the issuer"
				" \"%.200s\", not \"%.200s\" (give --transmitter exactly as the SETs'"
				" iss)", t->issuer, issuer);
		goto out;
	}
	if ((rc = url_member(doc, "jwks_uri", &t->jwks_uri, err)) != SR_OK)
		goto out;
	if (json_object_get(doc, "configuration_endpoint") == NULL) {
		rc = sr_err_set(err, SR_ENOTFOUND, "the transmitter has no configuration_endpoint"
				" (no stream management API): register the receiver on its side");
		goto out;
	}
	if ((rc = url_member(doc, "configuration_endpoint", &t->configuration_endpoint, err)) !=
	    SR_OK)
		goto out;
	methods = json_object_get(doc, "delivery_methods_supported");
	if (methods != NULL && !json_is_array(methods)) {
		rc = sr_err_set(err, SR_EINVAL, "the transmitter's delivery_methods_supported is not"
				" an array");
		goto out;
	}
	json_array_foreach(methods, i, m) {
		if (json_is_string(m) && strcmp(json_string_value(m), SR_SSF_PUSH_RFC8935) == 0)
			has_new = 1;
		if (json_is_string(m) && strcmp(json_string_value(m), SR_SSF_PUSH_RISC) == 0)
			has_old = 1;
	}
	if (methods != NULL && !has_new && !has_old) {
		rc = sr_err_set(err, SR_ECONFLICT, "the transmitter does not support push delivery"
				" (its delivery_methods_supported has neither %s nor %s)",
				SR_SSF_PUSH_RFC8935, SR_SSF_PUSH_RISC);
		goto out;
	}
	t->push_method = strdup(has_old && !has_new ? SR_SSF_PUSH_RISC : SR_SSF_PUSH_RFC8935);
	if (t->push_method == NULL)
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
out:
	if (rc != SR_OK)
		sr_ssfreg_transmitter_free(t);
	json_decref(doc);
	return rc;
}

static int good_stream(json_t *s)
{
	const char *id = json_string_value(json_object_get(s, "stream_id"));
	size_t i, n = json_string_length(json_object_get(s, "stream_id"));

	if (!json_is_object(s) || id == NULL || n == 0 || n > 512)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
			return 0;
	return 1;
}

enum sr_rc sr_ssfreg_parse_streams(const char *body, size_t len, json_t **streams,
				   struct sr_err *err)
{
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL), *s;
	size_t i;

	*streams = NULL;
	if (doc == NULL)
		return sr_err_set(err, SR_EINVAL, "the transmitter's stream answer is not JSON");
	if (json_is_object(doc)) {
		json_t *arr = json_array();
		json_array_append_new(arr, doc);
		doc = arr;
	}
	if (!json_is_array(doc)) {
		json_decref(doc);
		return sr_err_set(err, SR_EINVAL, "the transmitter's stream answer is neither a"
				  " stream configuration nor an array of them");
	}
	json_array_foreach(doc, i, s)
		if (!good_stream(s)) {
			json_decref(doc);
			return sr_err_set(err, SR_EINVAL, "the transmitter's stream answer has a"
					  " stream without a usable stream_id (item %zu)", i);
		}
	*streams = doc;
	return SR_OK;
}

json_t *sr_ssfreg_find(json_t *streams, const char *stream_id, const char *endpoint_url)
{
	json_t *s;
	size_t i;

	json_array_foreach(streams, i, s) {
		const char *id = json_string_value(json_object_get(s, "stream_id"));
		const char *ep = json_string_value(
			json_object_get(json_object_get(s, "delivery"), "endpoint_url"));
		if (stream_id != NULL ? id != NULL && strcmp(id, stream_id) == 0
				      : ep != NULL && strcmp(ep, endpoint_url) == 0)
			return s;
	}
	return NULL;
}

/* ----------------------------------------------------------------- requests */

/* Copies the transmitter's own explanation of a refusal into buf (": ..."),
 * unless it is not a short JSON string or repeats a secret. */
static void transmitter_says(const struct sr_fetch_resp *resp, const struct sr_ssfreg_req *req,
			     char *buf, size_t cap)
{
	static const char *const names[] = {"description", "error_description", "message",
					    "error"};
	json_t *doc = json_loadb(resp->body, resp->len, 0, NULL);
	const char *s = NULL;
	size_t i;

	buf[0] = '\0';
	for (i = 0; s == NULL && i < sizeof(names) / sizeof(names[0]); i++)
		s = json_string_value(json_object_get(doc, names[i]));
	if (s != NULL && (req->token == NULL || strstr(s, req->token) == NULL) &&
	    (req->authorization == NULL || strstr(s, req->authorization) == NULL)) {
		snprintf(buf, cap, ": %.160s", s);
		for (i = 0; buf[i] != '\0'; i++)
			if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
				buf[i] = ' ';
	}
	json_decref(doc);
}

/* One request to the transmitter; what went wrong named by what (e.g. "reading
 * its streams"). SR_OK only for a status in ok1/ok2. */
static enum sr_rc call(const struct sr_ssfreg_req *req, const char *method, const char *url,
		       int with_token, const char *body, const char *what, long ok1, long ok2,
		       struct sr_fetch_resp *resp, struct sr_err *err)
{
	char auth[4200] = "", says[200];
	const char *headers[4] = {"Accept: application/json", NULL, NULL, NULL};
	struct sr_fetch_req fr = {
		.method = method, .url = url, .headers = headers, .body = body,
		.body_len = body ? strlen(body) : 0, .ca_file = req->ca_file,
		.timeout_seconds = req->timeout_seconds, .max_bytes = req->max_bytes,
	};
	struct sr_err ferr = {0};
	enum sr_rc rc = SR_OK;
	size_t h = 1;

	if (with_token && req->token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", req->token);
		headers[h++] = auth;
	}
	if (body != NULL)
		headers[h++] = "Content-Type: application/json";
	rc = sr_fetch(&fr, resp, &ferr);
	OPENSSL_cleanse(auth, sizeof(auth));
	if (rc != SR_OK)
		return sr_err_set(err, rc == SR_ETOOBIG ? SR_EINVAL : SR_EUNAVAIL,
				  "the transmitter could not be reached (%s %.300s): %s", what, url,
				  ferr.msg);
	if (resp->status == ok1 || resp->status == ok2)
		return SR_OK;
	transmitter_says(resp, req, says, sizeof(says));
	switch (resp->status) {
	case 401:
		return sr_err_set(err, SR_EAUTH, "the transmitter refused the management token"
				  " (401 %s %.300s; check --token-file)%s", what, url, says);
	case 403:
		return sr_err_set(err, SR_EFORBIDDEN, "the transmitter does not allow this token to"
				  " manage streams (403 %s %.300s)%s", what, url, says);
	case 404:
		return sr_err_set(err, SR_ENOTFOUND, "%s: %.300s answered 404%s", what, url, says);
	default:
		return sr_err_set(err, resp->status >= 500 ? SR_EUNAVAIL : SR_ECONFLICT,
				  "%s: the transmitter answered %ld (%s %.300s)%s", what,
				  resp->status, method ? method : "GET", url, says);
	}
}

static enum sr_rc read_metadata(const struct sr_ssfreg_req *req, struct sr_ssf_transmitter *t,
				json_t *result, struct sr_err *err)
{
	struct sr_fetch_resp resp = {0};
	char *url = NULL;
	enum sr_rc rc;

	if ((rc = sr_ssfreg_well_known_url(req->transmitter, &url, err)) != SR_OK)
		return rc;
	rc = call(req, NULL, url, 0, NULL, "reading its SSF metadata", 200, 200, &resp, err);
	if (rc == SR_ENOTFOUND) {
		err->code = SR_OK;
		err->msg[0] = '\0';
		rc = sr_err_set(err, SR_ENOTFOUND, "not an SSF transmitter: %.300s answered 404"
				" (no /.well-known/ssf-configuration for this issuer)", url);
	}
	if (rc == SR_OK)
		rc = sr_ssfreg_parse_metadata(resp.body, resp.len, req->transmitter, t, err);
	if (rc == SR_OK) {
		json_object_set_new(result, "transmitter", json_string(t->issuer));
		json_object_set_new(result, "jwks_uri", json_string(t->jwks_uri));
		json_object_set_new(result, "configuration_endpoint",
				    json_string(t->configuration_endpoint));
	}
	sr_fetch_resp_free(&resp);
	free(url);
	return rc;
}

/* The configuration endpoint with ?stream_id=ID (escaped). New string. */
static char *with_stream_id(const char *endpoint, const char *id)
{
	CURLU *u = curl_url();
	size_t n = strlen(id) + 11;
	char *q = malloc(n), *out = NULL, *copy = NULL;

	if (u == NULL || q == NULL) {
		free(q);
		curl_url_cleanup(u);
		return NULL;
	}
	snprintf(q, n, "stream_id=%s", id);
	if (
	    curl_url_set(u, CURLUPART_URL, endpoint, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK)
		copy = strdup(out);
	free(q);
	curl_free(out);
	curl_url_cleanup(u);
	return copy;
}

/* OUT *found: a new reference to our stream, or NULL when there is none. */
static enum sr_rc find_stream(const struct sr_ssfreg_req *req, const struct sr_ssf_transmitter *t,
			      json_t **found, struct sr_err *err)
{
	struct sr_fetch_resp resp = {0};
	json_t *streams = NULL;
	char *url = req->stream_id ? with_stream_id(t->configuration_endpoint, req->stream_id)
				   : strdup(t->configuration_endpoint);
	enum sr_rc rc;

	*found = NULL;
	if (url == NULL)
		return sr_err_set(err, SR_EINVAL, "the configuration endpoint is not a URL");
	rc = call(req, NULL, url, 1, NULL, "reading its streams", 200, 200, &resp, err);
	if (rc == SR_ENOTFOUND && req->stream_id != NULL) {
		err->code = SR_OK;
		err->msg[0] = '\0';
		rc = sr_err_set(err, SR_ENOTFOUND, "the transmitter has no stream \"%.200s\"",
				req->stream_id);
	} else if (rc == SR_ENOTFOUND) { /* some transmitters: no streams yet */
		err->code = SR_OK;
		err->msg[0] = '\0';
		rc = SR_OK;
		resp.len = 0;
	}
	if (rc == SR_OK && resp.len == 0) { /* nothing to read: no streams */
		streams = json_array();
	} else if (rc == SR_OK)
		rc = sr_ssfreg_parse_streams(resp.body, resp.len, &streams, err);
	if (rc == SR_OK) {
		*found = json_incref(sr_ssfreg_find(streams, req->stream_id, req->delivery_url));
		if (*found == NULL && req->stream_id != NULL)
			rc = sr_err_set(err, SR_ENOTFOUND, "the transmitter has no stream \"%.200s\"",
					req->stream_id);
	}
	json_decref(streams);
	sr_fetch_resp_free(&resp);
	free(url);
	return rc;
}

/* The request body: delivery and events, and stream_id for an update. */
static char *stream_body(const struct sr_ssfreg_req *req, const struct sr_ssf_transmitter *t,
			 const char *stream_id)
{
	json_t *delivery = json_pack("{s:s, s:s}", "method", t->push_method, "endpoint_url",
				     req->delivery_url);
	json_t *b = json_object();
	char *text;

	if (req->authorization != NULL)
		json_object_set_new(delivery, "authorization_header",
				    json_string(req->authorization));
	if (stream_id != NULL)
		json_object_set_new(b, "stream_id", json_string(stream_id));
	json_object_set_new(b, "delivery", delivery);
	json_object_set(b, "events_requested", req->events);
	text = json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(b); /* the authorization value is in text only; cleansed by the caller */
	return text;
}

static void report_stream(json_t *result, json_t *s)
{
	json_t *delivered = json_object_get(s, "events_delivered");

	json_object_set(result, "stream_id", json_object_get(s, "stream_id"));
	if (json_is_array(delivered))
		json_object_set(result, "events_delivered", delivered);
	else
		json_object_del(result, "events_delivered");
}

enum sr_rc sr_ssfreg_register(const struct sr_ssfreg_req *req, json_t **result,
			      struct sr_err *err)
{
	struct sr_ssf_transmitter t = {0};
	struct sr_fetch_resp resp = {0};
	json_t *res = json_object(), *found = NULL, *streams = NULL;
	char *body = NULL;
	enum sr_rc rc;

	*result = NULL;
	if ((rc = read_metadata(req, &t, res, err)) != SR_OK)
		goto out;
	if ((rc = find_stream(req, &t, &found, err)) != SR_OK)
		goto out;
	json_object_set_new(res, "delivery_method", json_string(t.push_method));
	json_object_set_new(res, "delivery_url", json_string(req->delivery_url));
	json_object_set(res, "events_requested", req->events);
	if (req->dry_run) {
		json_object_set_new(res, "action", json_string(found ? "would update"
								     : "would create"));
		if (found != NULL)
			report_stream(res, found);
		goto out;
	}
	body = stream_body(req, &t, found ? json_string_value(json_object_get(found, "stream_id"))
					  : NULL);
	if (body == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	if (found != NULL)
		rc = call(req, "PATCH", t.configuration_endpoint, 1, body, "updating the stream",
			  200, 202, &resp, err);
	else
		rc = call(req, "POST", t.configuration_endpoint, 1, body, "creating the stream",
			  201, 200, &resp, err);
	if (rc != SR_OK)
		goto out;
	if ((rc = sr_ssfreg_parse_streams(resp.body, resp.len, &streams, err)) != SR_OK)
		goto out;
	if (json_array_size(streams) != 1) {
		rc = sr_err_set(err, SR_EINVAL, "the transmitter answered %zu streams, not the"
				" one it %s", json_array_size(streams), found ? "updated" : "created");
		goto out;
	}
	json_object_set_new(res, "action", json_string(found ? "updated" : "created"));
	report_stream(res, json_array_get(streams, 0));
out:
	if (rc == SR_OK)
		*result = json_incref(res);
	if (body != NULL)
		OPENSSL_cleanse(body, strlen(body));
	free(body);
	json_decref(streams);
	json_decref(found);
	json_decref(res);
	sr_fetch_resp_free(&resp);
	sr_ssfreg_transmitter_free(&t);
	return rc;
}
