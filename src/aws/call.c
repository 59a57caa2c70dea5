/*
 * call.c - one IAM or STS Query API call: form body, libcurl SigV4,
 * retries with full jitter, the XML answer and its error code.
 */
#include "session_revoker/aws.h"
#include "session_revoker/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#define MAX_BODY (8u << 20)

struct sr_aws_conn {
	const struct sr_aws_endpoints *ep;
	struct sr_aws_creds creds;
	CURL *curl;
	unsigned long requests;
	unsigned long unanswered; /* sent, outcome unknown: may still be carried out */
};


void sr_aws_creds_clear(struct sr_aws_creds *c)
{
	if (c->secret != NULL)
		sr_secret_free(c->secret, strlen(c->secret));
	if (c->token != NULL)
		sr_secret_free(c->token, strlen(c->token));
	memset(c, 0, sizeof(*c));
}

enum sr_rc sr_aws_creds_copy(struct sr_aws_creds *dst, const struct sr_aws_creds *src,
			     struct sr_err *err)
{
	struct sr_aws_creds tmp = {0};

	snprintf(tmp.access_key_id, sizeof(tmp.access_key_id), "%s", src->access_key_id);
	tmp.expires = src->expires;
	tmp.secret = src->secret ? strdup(src->secret) : NULL;
	tmp.token = src->token ? strdup(src->token) : NULL;
	if ((src->secret && !tmp.secret) || (src->token && !tmp.token)) {
		sr_aws_creds_clear(&tmp);
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	sr_aws_creds_clear(dst);
	*dst = tmp;
	return SR_OK;
}

enum sr_rc sr_aws_conn_new(const struct sr_aws_endpoints *e, const struct sr_aws_creds *creds,
			   struct sr_aws_conn **out, struct sr_err *err)
{
	struct sr_aws_conn *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	c->ep = e;
	c->curl = curl_easy_init();
	if (c->curl == NULL) {
		free(c);
		return sr_err_set(err, SR_ENOMEM, "curl_easy_init failed");
	}
	if (creds != NULL && sr_aws_creds_copy(&c->creds, creds, err) != SR_OK) {
		sr_aws_conn_free(c);
		return err ? err->code : SR_ENOMEM;
	}
	*out = c;
	return SR_OK;
}

void sr_aws_conn_free(struct sr_aws_conn *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->curl);
	sr_aws_creds_clear(&c->creds);
	free(c);
}

enum sr_rc sr_aws_conn_set_creds(struct sr_aws_conn *c, const struct sr_aws_creds *creds,
				 struct sr_err *err)
{
	return sr_aws_creds_copy(&c->creds, creds, err);
}

unsigned long sr_aws_conn_requests(const struct sr_aws_conn *c)
{
	return c->requests;
}

unsigned long sr_aws_conn_unanswered(const struct sr_aws_conn *c)
{
	return c->unanswered;
}

void sr_aws_response_clear(struct sr_aws_response *r)
{
	if (r->doc != NULL)
		xmlFreeDoc(r->doc);
	memset(r, 0, sizeof(*r));
}

/* libcurl's write callback: the answer into a capped buffer. */
static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
	struct sr_buf *b = arg;

	return sr_buf_append(b, ptr, size * n) == SR_OK ? size * n : 0;
}

/* "Action=X&Version=V&k=v..." with every value percent-encoded (RFC 3986). */
static char *form_body(CURL *curl, const char *action, const char *version,
		       const char *const *params)
{
	size_t cap = 256, len = 0, i;
	char *out = malloc(cap);

	if (out == NULL)
		return NULL;
	len = (size_t)snprintf(out, cap, "Action=%s&Version=%s", action, version);
	for (i = 0; params != NULL && params[i] != NULL; i += 2) {
		char *k = curl_easy_escape(curl, params[i], 0);
		char *v = curl_easy_escape(curl, params[i + 1] ? params[i + 1] : "", 0);
		size_t need = len + strlen(k) + strlen(v) + 3;
		if (need > cap) {
			char *n;
			while (cap < need)
				cap *= 2;
			n = realloc(out, cap);
			if (n == NULL) {
				curl_free(k);
				curl_free(v);
				free(out);
				return NULL;
			}
			out = n;
		}
		len += (size_t)snprintf(out + len, cap - len, "&%s=%s", k, v);
		curl_free(k);
		curl_free(v);
	}
	return out;
}

/* A failed transfer is worth another try unless the answer was too big. */
static int cc_retryable(CURLcode cc)
{
	return cc != CURLE_WRITE_ERROR;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Full jitter: a uniform wait in [0, min(max, base * 2^attempt)). */
static void backoff(const struct sr_aws_endpoints *ep, int attempt)
{
	int64_t cap = ep->base_backoff_ms;
	uint32_t r = 0;
	struct timespec ts;
	int i;

	for (i = 0; i < attempt && cap < ep->max_backoff_ms; i++)
		cap *= 2;
	if (cap > ep->max_backoff_ms)
		cap = ep->max_backoff_ms;
	if (cap <= 0)
		return;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)rand();
	cap = (int64_t)(r % (uint64_t)cap);
	ts.tv_sec = cap / 1000;
	ts.tv_nsec = (long)(cap % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

static int retryable_code(const char *code)
{
	static const char *const codes[] = {
		"Throttling", "ThrottlingException", "RequestLimitExceeded",
		"TooManyRequestsException", "ServiceUnavailable", "InternalFailure",
		"InternalError", "RequestTimeout", "IDPCommunicationError",
		"PriorRequestNotComplete", NULL};
	size_t i;

	for (i = 0; codes[i] != NULL; i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

static enum sr_rc rc_of(const char *code, long status)
{
	if (strcmp(code, "NoSuchEntity") == 0)
		return SR_ENOTFOUND;
	if (strcmp(code, "AccessDenied") == 0 || strcmp(code, "AccessDeniedException") == 0 ||
	    strcmp(code, "InvalidClientTokenId") == 0 || strcmp(code, "SignatureDoesNotMatch") == 0 ||
	    strcmp(code, "ExpiredToken") == 0 || strcmp(code, "UnrecognizedClientException") == 0 ||
	    strcmp(code, "MissingAuthenticationToken") == 0 || status == 401 || status == 403)
		return SR_EFORBIDDEN;
	if (retryable_code(code) || status >= 500)
		return SR_EUNAVAIL;
	return SR_ECONFLICT;
}

/* The request headers, wiped first: libcurl's copies hold the session token. */
static void free_headers(struct curl_slist *hdrs)
{
	struct curl_slist *h;

	for (h = hdrs; h != NULL; h = h->next)
		OPENSSL_cleanse(h->data, strlen(h->data));
	curl_slist_free_all(hdrs);
}

/* Makes s safe to show an operator: every byte outside printable ASCII
 * becomes '?', so a message never carries a newline or a terminal escape. */
static void printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

#define PREVIEW_BYTES 120

/* An answer without an error code we could read: its first bytes,
 * whitespace runs folded into one space, made printable and capped. */
static void body_preview(const struct sr_buf *b, char *out, size_t cap)
{
	size_t i, o = 0, n = b->data ? b->len : 0;
	int space = 0;

	for (i = 0; i < n && o + 1 < cap && o < PREVIEW_BYTES; i++) {
		unsigned char c = (unsigned char)b->data[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = o > 0;
			continue;
		}
		if (space && o + 2 < cap) {
			out[o++] = ' ';
			space = 0;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	printable(out);
	if (o == 0)
		snprintf(out, cap, "(empty answer)");
	else if (i < n && o + 4 < cap)
		snprintf(out + o, cap - o, "...");
}

/* One attempt. Returns 1 when worth another try. */
static int attempt(struct sr_aws_conn *c, enum sr_aws_service svc, const char *body,
		   int sign, struct sr_aws_response *resp, struct sr_buf *b, CURLcode *cc)
{
	const struct sr_aws_endpoints *ep = c->ep;
	struct curl_slist *hdrs = NULL;
	char sigv4[96], *token_hdr = NULL, *userpwd = NULL;
	CURL *curl = c->curl;

	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, svc == SR_AWS_IAM ? ep->iam_url : ep->sts_url);
	curl_easy_setopt(curl, CURLOPT_POST, 1L);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, ep->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, ep->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "session-revoker/0.1");
	hdrs = curl_slist_append(hdrs, "Content-Type: application/x-www-form-urlencoded; charset=utf-8");
	hdrs = curl_slist_append(hdrs, "Accept: text/xml");
	if (sign) {
		size_t n = strlen(c->creds.access_key_id) + strlen(c->creds.secret ? c->creds.secret : "") + 2;
		snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:%s",
			 svc == SR_AWS_IAM ? ep->iam_region : ep->sts_region,
			 svc == SR_AWS_IAM ? "iam" : "sts");
		curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4);
		userpwd = malloc(n);
		if (userpwd != NULL) {
			snprintf(userpwd, n, "%s:%s", c->creds.access_key_id,
				 c->creds.secret ? c->creds.secret : "");
			curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd);
		}
		if (c->creds.token != NULL) { /* STS sets no bound on a token's size */
			size_t tn = strlen(c->creds.token) + sizeof("X-Amz-Security-Token: ");
			token_hdr = malloc(tn);
			if (token_hdr == NULL) { /* unsent: AWS refuses, nothing goes out unsigned */
				free_headers(hdrs);
				sr_secret_free(userpwd, userpwd ? strlen(userpwd) : 0);
				*cc = CURLE_OUT_OF_MEMORY;
				return 0;
			}
			snprintf(token_hdr, tn, "X-Amz-Security-Token: %s", c->creds.token);
			hdrs = curl_slist_append(hdrs, token_hdr);
		}
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	*cc = curl_easy_perform(curl);
	c->requests++;
	free_headers(hdrs);
	if (token_hdr != NULL)
		sr_secret_free(token_hdr, strlen(token_hdr));
	if (userpwd != NULL)
		sr_secret_free(userpwd, strlen(userpwd));
	resp->attempts++;
	if (*cc != CURLE_OK) {
		long sent = 0;
		/* A request that went out and got no answer (a timeout, a broken
		 * connection) may still be carried out by AWS later. */
		if (curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK && sent > 0)
			c->unanswered++;
		return cc_retryable(*cc); /* connection trouble: try again */
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
	/* 500 (InternalFailure) and 504 do not say whether the call was done. */
	if (resp->status == 500 || resp->status == 504)
		c->unanswered++;
	if (resp->doc != NULL) {
		xmlFreeDoc(resp->doc);
		resp->doc = NULL;
	}
	resp->code[0] = resp->message[0] = resp->request_id[0] = '\0';
	if (sr_xml_parse(b->data ? b->data : "", b->len, &resp->doc, NULL) == SR_OK) {
		xmlNodePtr root = xmlDocGetRootElement(resp->doc);
		if (!sr_xml_text(root, "ResponseMetadata/RequestId", resp->request_id,
				 sizeof(resp->request_id)))
			sr_xml_text(root, "RequestId", resp->request_id, sizeof(resp->request_id));
		if (resp->status >= 300)
			sr_aws_error_read(root, resp->code, sizeof(resp->code), resp->message,
					  sizeof(resp->message));
	}
	if (resp->status >= 300 && resp->code[0] == '\0') {
		snprintf(resp->code, sizeof(resp->code), "HTTP%ld", resp->status);
		body_preview(b, resp->message, sizeof(resp->message));
	} else {
		printable(resp->code);
		printable(resp->message);
	}
	return resp->status >= 500 || resp->status == 429 || retryable_code(resp->code);
}

/* session_revoker_aws_* for one call: its outcome from a fixed set, its
 * time with retries, and the retries themselves. */
static void count_call(const char *action, enum sr_rc rc, CURLcode cc,
		       const struct sr_aws_response *resp, int64_t start_ms)
{
	const char *outcome = "error";

	if (rc == SR_OK)
		outcome = "ok";
	else if (cc != CURLE_OK)
		outcome = "network_error";
	else if (resp->status == 429 || retryable_code(resp->code))
		outcome = "throttled";
	else if (resp->status >= 500)
		outcome = "server_error";
	else if (rc == SR_EFORBIDDEN)
		outcome = "denied";
	else if (rc == SR_ENOTFOUND)
		outcome = "not_found";
	sr_metric_add(SR_M_AWS_CALLS, (const char *[]){action, outcome}, 1);
	sr_metric_observe(SR_M_AWS_DURATION, (const char *[]){action},
			  (double)(now_ms() - start_ms) / 1e3);
	if (resp->attempts > 1)
		sr_metric_add(SR_M_AWS_RETRIES, (const char *[]){action}, resp->attempts - 1);
}

static enum sr_rc call(struct sr_aws_conn *c, enum sr_aws_service svc, const char *action,
		       const char *const *params, int sign, struct sr_aws_response *resp,
		       struct sr_err *err)
{
	const char *version = svc == SR_AWS_IAM ? "2010-05-08" : "2011-06-15";
	const char *what = svc == SR_AWS_IAM ? "IAM" : "STS";
	struct sr_buf b = {.max = MAX_BODY};
	char *body;
	CURLcode cc = CURLE_OK;
	int64_t start = now_ms();
	enum sr_rc rc = SR_OK;
	int again, n;

	memset(resp, 0, sizeof(*resp));
	if (sign && (c->creds.secret == NULL || c->creds.access_key_id[0] == '\0'))
		return sr_err_set(err, SR_EFORBIDDEN, "%s %s: no AWS credentials", what, action);
	body = form_body(c->curl, action, version, params);
	if (body == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	for (n = 0;; n++) {
		again = attempt(c, svc, body, sign, resp, &b, &cc);
		if (!again || n + 1 >= c->ep->max_attempts ||
		    now_ms() - start >= c->ep->max_retry_ms)
			break;
		backoff(c->ep, n);
	}
	if (cc != CURLE_OK)
		rc = sr_err_set(err, cc_retryable(cc) ? SR_EIO : SR_EINVAL, "%s %s: %s (after %d attempts)",
				what, action, cc_retryable(cc) ? curl_easy_strerror(cc) : "answer too large",
				resp->attempts);
	else if (resp->status >= 300)
		rc = sr_err_set(err, rc_of(resp->code, resp->status), "%s %s: %s: %.160s%s",
				what, action, resp->code, resp->message,
				again ? " (gave up retrying)" : "");
	else if (resp->doc == NULL)
		rc = sr_err_set(err, SR_EINVAL, "%s %s: the answer is not XML", what, action);
	count_call(action, rc, cc, resp, start);
	sr_secret_free(body, strlen(body)); /* may hold a web identity token */
	sr_buf_free(&b);
	return rc;
}

/* The table's row for action, or an error naming the value (a bad cast). */
static const struct sr_aws_action_info *action_info(enum sr_aws_action action,
						    struct sr_aws_response *resp,
						    struct sr_err *err)
{
	const struct sr_aws_action_info *a = sr_aws_action_info(action);

	memset(resp, 0, sizeof(*resp));
	if (a == NULL)
		sr_err_set(err, SR_EINVAL, "AWS action %d is not in the table of actions", (int)action);
	return a;
}

enum sr_rc sr_aws_call(struct sr_aws_conn *c, enum sr_aws_action action,
		       const char *const *params, struct sr_aws_response *resp,
		       struct sr_err *err)
{
	const struct sr_aws_action_info *a = action_info(action, resp, err);

	return a ? call(c, a->svc, a->name, params, 1, resp, err) : SR_EINVAL;
}

enum sr_rc sr_aws_call_unsigned(struct sr_aws_conn *c, enum sr_aws_action action,
				const char *const *params, struct sr_aws_response *resp,
				struct sr_err *err)
{
	const struct sr_aws_action_info *a = action_info(action, resp, err);

	return a ? call(c, a->svc, a->name, params, 0, resp, err) : SR_EINVAL;
}

enum sr_rc sr_aws_endpoints_init(struct sr_aws_endpoints *e, struct sr_aws_endpoint_bufs *bufs,
				 const char *partition, const char *region,
				 struct sr_err *err)
{
	const char *all = getenv("AWS_ENDPOINT_URL");
	const char *iam = getenv("AWS_ENDPOINT_URL_IAM");
	const char *sts = getenv("AWS_ENDPOINT_URL_STS");
	const char *suffix;

	memset(e, 0, sizeof(*e));
	if (strcmp(partition, "aws") == 0) {
		snprintf(bufs->iam_url, sizeof(bufs->iam_url), "https://iam.amazonaws.com/");
		snprintf(bufs->iam_region, sizeof(bufs->iam_region), "us-east-1");
		suffix = "amazonaws.com";
	} else if (strcmp(partition, "aws-us-gov") == 0) {
		snprintf(bufs->iam_url, sizeof(bufs->iam_url), "https://iam.us-gov.amazonaws.com/");
		snprintf(bufs->iam_region, sizeof(bufs->iam_region), "us-gov-west-1");
		suffix = "amazonaws.com";
	} else if (strcmp(partition, "aws-cn") == 0) {
		snprintf(bufs->iam_url, sizeof(bufs->iam_url), "https://iam.cn-north-1.amazonaws.com.cn/");
		snprintf(bufs->iam_region, sizeof(bufs->iam_region), "cn-north-1");
		suffix = "amazonaws.com.cn";
	} else {
		return sr_err_set(err, SR_ECONFIG, "unknown partition \"%.32s\" (aws, aws-us-gov, aws-cn)",
				  partition);
	}
	snprintf(bufs->sts_region, sizeof(bufs->sts_region), "%s", region);
	snprintf(bufs->sts_url, sizeof(bufs->sts_url), "https://sts.%s.%s/", region, suffix);
	if (all != NULL && all[0] != '\0') {
		snprintf(bufs->iam_url, sizeof(bufs->iam_url), "%s", all);
		snprintf(bufs->sts_url, sizeof(bufs->sts_url), "%s", all);
	}
	if (iam != NULL && iam[0] != '\0')
		snprintf(bufs->iam_url, sizeof(bufs->iam_url), "%s", iam);
	if (sts != NULL && sts[0] != '\0')
		snprintf(bufs->sts_url, sizeof(bufs->sts_url), "%s", sts);
	e->iam_url = bufs->iam_url;
	e->sts_url = bufs->sts_url;
	e->iam_region = bufs->iam_region;
	e->sts_region = bufs->sts_region;
	e->max_attempts = 6;
	e->max_retry_ms = 30000;
	e->base_backoff_ms = 100;
	e->max_backoff_ms = 5000;
	e->timeout_ms = 10000;
	return SR_OK;
}
