/*
 * fetch.c - sr_fetch(): one HTTPS request through libcurl (fetch.h).
 */
#include "session_revoker/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

struct sink {
	struct sr_buf body;
	struct sr_fetch_resp *resp;
	int too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;

	if (sr_buf_append(&s->body, p, size * n) != SR_OK) {
		s->too_big = 1;
		return 0; /* aborts the transfer */
	}
	return size * n;
}

/* Keeps the value of header line p when it is name. */
static void keep(const char *p, size_t n, const char *name, char *out, size_t cap)
{
	size_t len = strlen(name), v;

	if (n <= len || strncasecmp(p, name, len) != 0 || p[len] != ':')
		return;
	p += len + 1;
	n -= len + 1;
	while (n > 0 && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
		n--;
	v = n < cap - 1 ? n : cap - 1;
	memcpy(out, p, v);
	out[v] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct sr_fetch_resp *r = ((struct sink *)arg)->resp;
	size_t len = size * n;

	keep(p, len, "Cache-Control", r->cache_control, sizeof(r->cache_control));
	keep(p, len, "Retry-After", r->retry_after, sizeof(r->retry_after));
	keep(p, len, "X-RateLimit-Remaining", r->ratelimit_remaining,
	     sizeof(r->ratelimit_remaining));
	keep(p, len, "X-RateLimit-Reset", r->ratelimit_reset, sizeof(r->ratelimit_reset));
	keep(p, len, "Content-Type", r->content_type, sizeof(r->content_type));
	return len;
}

void sr_fetch_resp_free(struct sr_fetch_resp *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

enum sr_rc sr_fetch(const struct sr_fetch_req *req, struct sr_fetch_resp *resp,
		    struct sr_err *err)
{
	struct sink s = {.body = {.max = req->max_bytes}, .resp = resp};
	struct curl_slist *hdrs = NULL;
	char why[CURL_ERROR_SIZE] = "";
	enum sr_rc rc = SR_OK;
	CURLcode cc;
	CURL *curl;
	size_t i;

	memset(resp, 0, sizeof(*resp));
	if ((curl = curl_easy_init()) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
		hdrs = curl_slist_append(hdrs, req->headers[i]);
	curl_easy_setopt(curl, CURLOPT_URL, req->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, why); /* which certificate check failed */
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->ca_file != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, req->ca_file);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)req->timeout_seconds);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)req->timeout_seconds);
	curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_bytes);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &s);
	if (req->method != NULL)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	if (req->body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	cc = curl_easy_perform(curl);
	why[strcspn(why, "\r\n")] = '\0';
	if (s.too_big || cc == CURLE_FILESIZE_EXCEEDED)
		rc = sr_err_set(err, SR_ETOOBIG, "the answer is larger than %zu bytes", req->max_bytes);
	else if (cc != CURLE_OK)
		rc = sr_err_set(err, SR_EUNAVAIL, "%s%s%s", curl_easy_strerror(cc), why[0] ? ": " : "",
				why);
	if (rc == SR_OK) {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
		resp->len = s.body.len;
		resp->body = s.body.data ? s.body.data : strdup("");
		s.body.data = NULL;
		if (resp->body == NULL)
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	sr_buf_free(&s.body);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	return rc;
}
