/*
 * revocations.c - POST /v1/revocations, GET /v1/revocations[/{id}].
 *
 * A POST is authenticated first (nothing about the document is revealed to a
 * caller without a valid token), then parsed, then recorded; 202 is sent only
 * after the store's COMMIT holds the revocation.
 */
#include "../http_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#define PERM_WRITE "revocations:write"
#define PERM_READ "revocations:read"
#define MAX_IDEMPOTENCY_KEY 255

static void hex(const unsigned char *md, size_t len, char *out)
{
	size_t i;

	for (i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* SHA-256 of what was sent, hex: an Idempotency-Key retry must send the same. */
static void request_hash(struct sr_request *req, enum sr_media m, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	out[0] = '\0';
	if (ctx == NULL)
		return;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, m == SR_MEDIA_JWT ? "jwt:" : "json:", 4 + (m != SR_MEDIA_JWT)) == 1 &&
	    EVP_DigestUpdate(ctx, req->body.data ? req->body.data : "", req->body.len) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &len) == 1)
		hex(md, len, out);
	EVP_MD_CTX_free(ctx);
}

/* The event id of a signed document: "<iss>#<jti>" when the token has a jti,
 * else "<iss>#sha256:<hex>" over the token's payload (its claims exactly as
 * signed), so a replay is found either way while a re-signed copy of the same
 * claims is the same document. Neither part is ever cut short. OUT *event:
 * new string, free(). token is a verified compact JWS. */
static enum sr_rc document_event_id(const struct sr_principal *who, const char *token,
				    size_t len, char **event, struct sr_err *err)
{
	const char *dot1 = memchr(token, '.', len), *dot2;
	unsigned char md[32];
	unsigned int md_len = 0;
	char digest[72];
	size_t n;

	*event = NULL;
	if (who->token_id[0] != '\0') {
		n = strlen(who->issuer) + 1 + strlen(who->token_id) + 1;
		if ((*event = malloc(n)) == NULL)
			return sr_err_set(err, SR_ENOMEM, "out of memory");
		snprintf(*event, n, "%s#%s", who->issuer, who->token_id);
		return SR_OK;
	}
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (dot2 == NULL ||
	    EVP_Digest(dot1 + 1, (size_t)(dot2 - dot1 - 1), md, &md_len, EVP_sha256(), NULL) != 1)
		return sr_err_set(err, SR_EINTERNAL, "cannot hash the token");
	snprintf(digest, sizeof(digest), "sha256:");
	hex(md, md_len, digest + 7);
	n = strlen(who->issuer) + 1 + strlen(digest) + 1;
	if ((*event = malloc(n)) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	snprintf(*event, n, "%s#%s", who->issuer, digest);
	return SR_OK;
}

static bool idempotency_key_ok(const char *key)
{
	size_t i, n = strlen(key);

	for (i = 0; i < n && isprint((unsigned char)key[i]); i++)
		;
	return n > 0 && n <= MAX_IDEMPOTENCY_KEY && i == n;
}

static enum MHD_Result accepted(struct sr_request *req, json_t *rev, int replayed)
{
	char location[128];
	const char *headers[5];

	snprintf(location, sizeof(location), "/v1/revocations/%s",
		 json_string_value(json_object_get(rev, "id")));
	headers[0] = MHD_HTTP_HEADER_LOCATION;
	headers[1] = location;
	headers[2] = replayed ? "Idempotent-Replayed" : NULL;
	headers[3] = "true";
	headers[4] = NULL;
	return sr_respond_json(req, MHD_HTTP_ACCEPTED, rev, headers);
}

/* What a POST keeps while the store commits it; freed with the request. */
struct post_state {
	struct sr_store_op op;
	struct sr_revocation_in in;
	char **targets; /* borrowed strings */
	struct sr_document *doc;
	struct sr_principal who;
	char hash[65];
	char *event; /* source_event_id of a signed document */
	char key[MAX_IDEMPOTENCY_KEY + 1];
};

static void post_state_free(void *p)
{
	struct post_state *ps = p;

	if (ps == NULL)
		return;
	json_decref(ps->op.result);
	free(ps->targets);
	sr_document_free(ps->doc);
	sr_principal_clear(&ps->who);
	free(ps->event);
	free(ps);
}

/* The accounts the revocation gets a job in: the document's (each must be
 * configured) or every configured one. */
static enum sr_rc targets(const struct sr_config *cfg, struct post_state *ps,
			  struct sr_err *err)
{
	const struct sr_document *doc = ps->doc;
	size_t i, j, n = doc->accounts ? doc->n_accounts : cfg->n_accounts;

	ps->targets = calloc(n + 1, sizeof(char *));
	if (ps->targets == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if (doc->accounts == NULL) {
			ps->targets[i] = cfg->accounts[i].id;
			continue;
		}
		for (j = 0; j < cfg->n_accounts; j++)
			if (strcmp(cfg->accounts[j].id, doc->accounts[i]) == 0)
				break;
		if (j == cfg->n_accounts)
			return sr_err_set(err, SR_EINVAL, "accounts[%zu]: %s is not a configured account",
					  i, doc->accounts[i]);
		ps->targets[i] = doc->accounts[i];
	}
	ps->in.n_targets = n;
	return SR_OK;
}

/* Runs once the store has the revocation on disk, or failed to. */
static enum MHD_Result post_committed(struct sr_request *req)
{
	struct post_state *ps = req->state;
	json_t *rev = ps->op.result;
	char reason[300];

	if (ps->op.rc != SR_OK) {
		ps->op.err.code = ps->op.rc;
		return sr_respond_err(req, &ps->op.err);
	}
	ps->op.result = NULL; /* accepted() takes it */
	if (!ps->op.replayed)
		sr_jobs_kick(req->app->jobs);
	sr_log(SR_LOG_INFO, "revocation.recorded",
	       "request_id=%s revocation_id=%s replayed=%s reason=%s",
	       req->id, json_string_value(json_object_get(rev, "id")),
	       ps->op.replayed ? "true" : "false",
	       sr_log_quote(reason, sizeof(reason),
			    json_string_value(json_object_get(rev, "reason"))));
	return accepted(req, rev, ps->op.replayed);
}

enum MHD_Result sr_handle_revocation_post(struct sr_request *req)
{
	const struct sr_config *cfg = req->app->cfg;
	struct sr_document_limits lim = {
		.max_groups = (size_t)cfg->max_groups,
		.max_group_length = (size_t)cfg->max_group_length,
		.skew = cfg->clock_skew,
		.principal_tag = cfg->targeted_tag,
	};
	struct post_state *ps;
	struct sr_err err = {0};
	enum MHD_Result ret;
	enum sr_media m;
	const char *key;
	int64_t now = sr_clock_now();

	m = sr_request_media(req);
	if (m != SR_MEDIA_JSON && m != SR_MEDIA_JWT)
		return sr_respond_error(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
					"unsupported_media_type",
					"send application/json (with a Bearer token) or application/jwt",
					NULL, NULL);
	ps = calloc(1, sizeof(*ps));
	if (ps == NULL)
		return MHD_NO;
	req->state = ps;
	req->state_free = post_state_free;
	if (m == SR_MEDIA_JSON) {
		if (!sr_request_authenticate(req, PERM_WRITE, &ps->who, &ret))
			return ret;
		sr_document_parse_text(req->body.data ? req->body.data : "", req->body.len, &lim, now,
				       &ps->doc, &err);
		ps->in.source = "document";
	} else {
		if (!sr_request_verify_body(req, PERM_WRITE, &ps->who, &ret))
			return ret;
		lim.allow_jwt_claims = 1;
		sr_document_parse(ps->who.claims, &lim, now, &ps->doc, &err);
		ps->in.source = "document-jwt";
	}
	if (ps->doc == NULL)
		return sr_respond_err(req, &err);
	sr_document_set_cutoffs(ps->doc, cfg->hold_seconds, cfg->targeted_lifetime);
	/* The same signed document sent twice is one revocation; the same jti on
	 * a different document is refused by the store (422). */
	if (m == SR_MEDIA_JWT) {
		if (document_event_id(&ps->who, req->body.data, req->body.len, &ps->event,
				      &err) != SR_OK)
			return sr_respond_err(req, &err);
		ps->in.source_event_id = ps->event;
	}
	if (targets(cfg, ps, &err) != SR_OK)
		return sr_respond_err(req, &err);
	key = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Idempotency-Key");
	if (key != NULL && !idempotency_key_ok(key))
		return sr_respond_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
					"Idempotency-Key must be 1 to 255 printable characters",
					NULL, NULL);
	if (key != NULL) { /* only then is the request's digest needed */
		snprintf(ps->key, sizeof(ps->key), "%s", key);
		ps->in.idempotency_key = ps->key;
		request_hash(req, m, ps->hash);
		ps->in.request_hash = ps->hash;
	}
	ps->in.doc = ps->doc;
	ps->in.issuer = ps->who.issuer;
	ps->in.subject = ps->who.subject;
	ps->in.token_id = ps->who.token_id;
	ps->in.targets = ps->targets;
	ps->in.now = now;
	ps->op.kind = SR_STORE_OP_REVOCATION;
	ps->op.in = &ps->in;
	return sr_request_wait_store(req, &ps->op, post_committed);
}

static bool is_uuid(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

enum MHD_Result sr_handle_revocation_get(struct sr_request *req)
{
	struct sr_principal who = {0};
	struct sr_err err = {0};
	enum MHD_Result ret;
	json_t *rev = NULL;

	if (!sr_request_authenticate(req, PERM_READ, &who, &ret))
		return ret;
	sr_principal_clear(&who);
	if (!is_uuid(req->param))
		return sr_respond_error(req, MHD_HTTP_NOT_FOUND, "not_found",
					"no revocation with this id", NULL, NULL);
	if (sr_store_revocation_get(req->app->store, req->param, &rev, &err) != SR_OK)
		return sr_respond_err(req, &err);
	return sr_respond_json(req, MHD_HTTP_OK, rev, NULL);
}

struct list_args {
	struct sr_revocation_filter f;
	unsigned seen;
	char bad[128];
};

static enum MHD_Result list_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct list_args *a = cls;
	char *end;
	long long n;

	static const char *const known[] = {"state", "group", "cursor", "limit", "source"};
	size_t k;

	if (a->bad[0] != '\0')
		return MHD_NO;
	if (value == NULL)
		value = "";
	for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (strcmp(key, known[k]) == 0) {
			if (a->seen & (1u << k)) {
				snprintf(a->bad, sizeof(a->bad), "query parameter \"%s\" given twice",
					 known[k]);
				return MHD_NO;
			}
			a->seen |= 1u << k;
		}
	if (strcmp(key, "state") == 0) {
		static const char *const states[] = {"pending", "applying", "applied",
						     "partial", "failed", "cleaned", "recorded"};
		size_t i;
		for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
			if (strcmp(value, states[i]) == 0)
				a->f.state = states[i];
		if (a->f.state == NULL)
			snprintf(a->bad, sizeof(a->bad), "state must be one of pending, applying, applied, partial, failed, cleaned, recorded");
	} else if (strcmp(key, "group") == 0) {
		if (value[0] == '\0')
			snprintf(a->bad, sizeof(a->bad), "group must not be empty");
		a->f.group = value;
	} else if (strcmp(key, "source") == 0) {
		if (value[0] == '\0')
			snprintf(a->bad, sizeof(a->bad), "source must not be empty");
		a->f.source = value;
	} else if (strcmp(key, "cursor") == 0) {
		n = strtoll(value, &end, 10);
		if (value[0] == '\0' || *end != '\0' || n <= 0)
			snprintf(a->bad, sizeof(a->bad), "cursor is not one this service gave out");
		a->f.before = n;
	} else if (strcmp(key, "limit") == 0) {
		n = strtoll(value, &end, 10);
		if (value[0] == '\0' || *end != '\0' || n < 1 || n > 200)
			snprintf(a->bad, sizeof(a->bad), "limit must be between 1 and 200");
		a->f.limit = (int)n;
	} else {
		snprintf(a->bad, sizeof(a->bad), "unknown query parameter \"%.40s\"", key);
	}
	return a->bad[0] == '\0' ? MHD_YES : MHD_NO;
}

enum MHD_Result sr_handle_revocation_list(struct sr_request *req)
{
	struct list_args a = {.f = {.limit = 50}};
	struct sr_principal who = {0};
	struct sr_err err = {0};
	enum MHD_Result ret;
	json_t *items = NULL;
	int64_t next = 0;
	char cursor[24];

	if (!sr_request_authenticate(req, PERM_READ, &who, &ret))
		return ret;
	sr_principal_clear(&who);
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, list_arg, &a);
	if (a.bad[0] != '\0')
		return sr_respond_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request", a.bad,
					NULL, NULL);
	if (sr_store_revocation_list(req->app->store, &a.f, &items, &next, &err) != SR_OK)
		return sr_respond_err(req, &err);
	snprintf(cursor, sizeof(cursor), "%lld", (long long)next);
	return sr_respond_json(req, MHD_HTTP_OK,
			       json_pack("{s:o, s:o}", "items", items, "next_cursor",
					 next ? json_string(cursor) : json_null()),
			       NULL);
}
