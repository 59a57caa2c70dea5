/*
 * creds.c - the base credentials, found as AWS SDKs find them.
 *
 * DESIGN: the chain stops at the first provider that is configured (an
 * environment variable names it); a configured provider that fails is an
 * error, not a reason to fall through to the next, so a broken setup is never
 * silently replaced by other credentials. Only IMDS is tried without being
 * named, last, with a short timeout.
 */
#include "session_revoker/aws.h"
#include "session_revoker/iam.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#define MAX_ANSWER (64 * 1024)

struct answer {
	char data[MAX_ANSWER + 1];
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t len = size * n;

	if (a->len + len > MAX_ANSWER)
		return 0;
	memcpy(a->data + a->len, p, len);
	a->len += len;
	a->data[a->len] = '\0';
	return len;
}

/* One small HTTP exchange. header may be NULL. Returns the HTTP status, or
 * -1 when there was no answer. */
static long fetch(const char *method, const char *url, const char *header, long timeout_ms,
		  struct answer *a)
{
	CURL *curl = curl_easy_init();
	struct curl_slist *h = NULL;
	long status = -1;

	a->len = 0;
	a->data[0] = '\0';
	if (curl == NULL)
		return -1;
	if (header != NULL)
		h = curl_slist_append(h, header);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(curl);
	return status;
}

/* {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} into out. */
static enum sr_rc from_json(const char *text, const char *what, struct sr_aws_creds *out,
			    struct sr_err *err)
{
	json_t *o = json_loads(text, 0, NULL);
	const char *akid = json_string_value(json_object_get(o, "AccessKeyId"));
	const char *secret = json_string_value(json_object_get(o, "SecretAccessKey"));
	const char *token = json_string_value(json_object_get(o, "Token"));
	const char *exp = json_string_value(json_object_get(o, "Expiration"));
	enum sr_rc rc = SR_OK;

	memset(out, 0, sizeof(*out));
	if (akid == NULL || secret == NULL || strlen(akid) >= sizeof(out->access_key_id)) {
		rc = sr_err_set(err, SR_EFORBIDDEN, "%s: the answer has no usable credentials", what);
		goto out;
	}
	snprintf(out->access_key_id, sizeof(out->access_key_id), "%s", akid);
	out->secret = strdup(secret);
	out->token = token ? strdup(token) : NULL;
	if (exp == NULL || sr_time_parse(exp, sr_clock_now(), &out->expires, NULL) != SR_OK)
		out->expires = token ? sr_clock_now() + 900 : 0;
out:
	json_decref(o);
	return rc;
}

static enum sr_rc web_identity(const struct sr_aws_endpoints *e, const char *file,
			       struct sr_aws_creds *out, struct sr_err *err)
{
	const char *role = getenv("AWS_ROLE_ARN");
	const char *name = getenv("AWS_ROLE_SESSION_NAME");
	struct sr_aws_conn *c = NULL;
	char *token = NULL;
	size_t len = 0;
	enum sr_rc rc;

	if (role == NULL || role[0] == '\0')
		return sr_err_set(err, SR_ECONFIG, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
	if ((rc = sr_file_read(file, 64 * 1024, &token, &len, err)) != SR_OK)
		return rc;
	while (len > 0 && (token[len - 1] == '\n' || token[len - 1] == '\r'))
		token[--len] = '\0';
	rc = sr_aws_conn_new(e, NULL, &c, err);
	if (rc == SR_OK)
		rc = sr_sts_assume_role_web_identity(c, role, name && name[0] ? name : "session-revoker",
						     token, out, err);
	sr_aws_conn_free(c);
	sr_secret_free(token, len);
	return rc;
}

/* The SDKs' rule for AWS_CONTAINER_CREDENTIALS_FULL_URI: https anywhere, or
 * plain http only to loopback or the ECS/EKS credential addresses, so the
 * authorization token never crosses a network in the clear. */
static int full_uri_allowed(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int ok = 0;

	if (u == NULL)
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (strcasecmp(scheme, "https") == 0)
			ok = 1;
		else if (strcasecmp(scheme, "http") == 0)
			ok = strncmp(host, "127.", 4) == 0 || strcmp(host, "[::1]") == 0 ||
			     strcasecmp(host, "localhost") == 0 || strcmp(host, "169.254.170.2") == 0 ||
			     strcmp(host, "169.254.170.23") == 0 || strcasecmp(host, "[fd00:ec2::23]") == 0;
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

static enum sr_rc container(const char *rel, const char *full, struct sr_aws_creds *out,
			    struct sr_err *err)
{
	const char *tok = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *tok_file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	char url[1024], *header = NULL, *file_tok = NULL;
	size_t file_len = 0, header_len = 0;
	struct answer *a = NULL;
	enum sr_rc rc = SR_OK;
	long status;

	if (rel != NULL && rel[0] != '\0')
		snprintf(url, sizeof(url), "http://169.254.170.2%s", rel);
	else if (!full_uri_allowed(full))
		return sr_err_set(err, SR_ECONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, "
				  "or http to a loopback or the container credentials address");
	else
		snprintf(url, sizeof(url), "%s", full);
	if (tok_file != NULL && tok_file[0] != '\0') {
		if ((rc = sr_file_read(tok_file, 16 * 1024, &file_tok, &file_len, err)) != SR_OK)
			return rc;
		while (file_len > 0 && (file_tok[file_len - 1] == '\n' || file_tok[file_len - 1] == '\r'))
			file_tok[--file_len] = '\0';
		tok = file_tok;
	}
	if (tok != NULL && tok[0] != '\0') {
		if (strpbrk(tok, "\r\n") != NULL) {
			rc = sr_err_set(err, SR_ECONFIG, "%s holds a line break: refused",
					file_tok ? "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
						 : "AWS_CONTAINER_AUTHORIZATION_TOKEN");
			goto out;
		}
		header_len = strlen(tok) + sizeof("Authorization: ");
		header = malloc(header_len);
		if (header == NULL) {
			rc = sr_err_set(err, SR_ENOMEM, "out of memory");
			goto out;
		}
		snprintf(header, header_len, "Authorization: %s", tok);
	}
	a = malloc(sizeof(*a));
	if (a == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	status = fetch("GET", url, header, 5000, a);
	if (status < 0)
		rc = sr_err_set(err, SR_EIO, "cannot reach the container credentials endpoint");
	else if (status != 200)
		rc = sr_err_set(err, SR_EFORBIDDEN, "container credentials endpoint answered %ld", status);
	else
		rc = from_json(a->data, "container credentials", out, err);
out:
	if (header != NULL)
		sr_secret_free(header, header_len);
	if (file_tok != NULL)
		sr_secret_free(file_tok, file_len);
	if (a != NULL) {
		OPENSSL_cleanse(a, sizeof(*a));
		free(a);
	}
	return rc;
}

static enum sr_rc imds(struct sr_aws_creds *out, struct sr_err *err)
{
	const char *base = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	char url[1024], header[600], role[256];
	struct answer *a = malloc(sizeof(*a));
	enum sr_rc rc = SR_OK;
	size_t n;

	if (a == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	if (base == NULL || base[0] == '\0')
		base = "http://169.254.169.254";
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	snprintf(url, sizeof(url), "%.*s/latest/api/token", (int)n, base);
	if (fetch("PUT", url, "X-aws-ec2-metadata-token-ttl-seconds: 21600", 1000, a) != 200 ||
	    a->len == 0 || a->len > 512) {
		rc = sr_err_set(err, SR_EFORBIDDEN, "no AWS credentials found (environment, web identity, "
				"container endpoint, IMDS)");
		goto out;
	}
	snprintf(header, sizeof(header), "X-aws-ec2-metadata-token: %.512s", a->data);
	snprintf(url, sizeof(url), "%.*s/latest/meta-data/iam/security-credentials/", (int)n, base);
	if (fetch("GET", url, header, 1000, a) != 200 || a->len == 0 || a->len >= sizeof(role)) {
		rc = sr_err_set(err, SR_EFORBIDDEN, "IMDS: no instance role");
		goto out;
	}
	snprintf(role, sizeof(role), "%.*s", (int)strcspn(a->data, "\r\n"), a->data);
	snprintf(url, sizeof(url), "%.*s/latest/meta-data/iam/security-credentials/%s", (int)n,
		 base, role);
	if (fetch("GET", url, header, 1000, a) != 200)
		rc = sr_err_set(err, SR_EFORBIDDEN, "IMDS: cannot read the role's credentials");
	else
		rc = from_json(a->data, "IMDS", out, err);
out:
	OPENSSL_cleanse(header, sizeof(header));
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
	return rc;
}

static int set(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0';
}

enum sr_rc sr_aws_creds_resolve(const struct sr_aws_endpoints *e, struct sr_aws_creds *out,
				char *source, struct sr_err *err)
{
	const char *disabled = getenv("AWS_EC2_METADATA_DISABLED");

	memset(out, 0, sizeof(*out));
	if (set("AWS_ACCESS_KEY_ID") || set("AWS_SECRET_ACCESS_KEY")) {
		snprintf(source, 32, "environment");
		if (!set("AWS_ACCESS_KEY_ID") || !set("AWS_SECRET_ACCESS_KEY"))
			return sr_err_set(err, SR_ECONFIG,
					  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set");
		snprintf(out->access_key_id, sizeof(out->access_key_id), "%s",
			 getenv("AWS_ACCESS_KEY_ID"));
		out->secret = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
		out->token = set("AWS_SESSION_TOKEN") ? strdup(getenv("AWS_SESSION_TOKEN")) : NULL;
		return out->secret ? SR_OK : sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	if (set("AWS_WEB_IDENTITY_TOKEN_FILE")) {
		snprintf(source, 32, "web-identity");
		return web_identity(e, getenv("AWS_WEB_IDENTITY_TOKEN_FILE"), out, err);
	}
	if (set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || set("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
		snprintf(source, 32, "container");
		return container(getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
				 getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"), out, err);
	}
	snprintf(source, 32, "imds");
	if (disabled != NULL && strcasecmp(disabled, "true") == 0)
		return sr_err_set(err, SR_EFORBIDDEN, "no AWS credentials found (environment, web "
				  "identity, container endpoint; IMDS disabled)");
	return imds(out, err);
}
