/*
 * config.c - load, override from the environment, validate, free.
 *
 * DESIGN: problems are collected, each named by its path in the file
 * ("auth.issuers[1].algorithms[0]"), so check-config can explain them all at
 * once; the first one is also the error returned. Only file names of secrets
 * live in the configuration: the secrets themselves are read by the module
 * that uses them, so a dump or an error never shows one.
 */
#include "config_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

static const struct {
	const char *name;
	unsigned flag;
} alg_names[] = {
	{"HS256", SR_ALG_HS256}, {"HS384", SR_ALG_HS384}, {"HS512", SR_ALG_HS512},
	{"RS256", SR_ALG_RS256}, {"RS384", SR_ALG_RS384}, {"RS512", SR_ALG_RS512},
	{"PS256", SR_ALG_PS256}, {"PS384", SR_ALG_PS384}, {"PS512", SR_ALG_PS512},
	{"ES256", SR_ALG_ES256}, {"ES384", SR_ALG_ES384}, {"ES512", SR_ALG_ES512},
	{"EdDSA", SR_ALG_EDDSA},
};

unsigned sr_alg_from_name(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
		if (strcmp(alg_names[i].name, name) == 0)
			return alg_names[i].flag;
	return 0;
}

const char *sr_alg_name(unsigned alg)
{
	size_t i;

	for (i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
		if (alg_names[i].flag == alg)
			return alg_names[i].name;
	return "unknown";
}

void sr_config_problem(struct sr_config_problems *pr, const char *path,
		       const char *fmt, ...)
{
	va_list ap;
	struct sr_config_problem *p;

	if (pr->n >= sizeof(pr->items) / sizeof(pr->items[0]))
		return;
	p = &pr->items[pr->n++];
	snprintf(p->path, sizeof(p->path), "%s", path);
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
}

json_t *sr_config_lookup(json_t *root, const char *path)
{
	char key[96];
	const char *p = path;
	json_t *cur = root;

	while (cur != NULL && *p != '\0') {
		size_t n = strcspn(p, ".");
		if (n >= sizeof(key) || !json_is_object(cur))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		cur = json_object_get(cur, key);
		p += n;
		if (*p == '.')
			p++;
	}
	return cur;
}

static char **str_at(struct sr_config *cfg, const struct sr_field *f)
{
	return (char **)(void *)((char *)cfg + f->offset);
}

static int64_t *int_at(struct sr_config *cfg, const struct sr_field *f)
{
	return (int64_t *)(void *)((char *)cfg + f->offset);
}

static void set_str(char **slot, const char *v)
{
	free(*slot);
	*slot = v ? strdup(v) : NULL;
}

static struct sr_strlist *list_at(struct sr_config *cfg, const struct sr_field *f)
{
	return (struct sr_strlist *)(void *)((char *)cfg + f->offset);
}

static void list_clear(struct sr_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void list_add(struct sr_strlist *l, const char *s, size_t n)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(char *));

	if (v == NULL)
		return;
	l->v = v;
	if ((v[l->n] = strndup(s, n)) != NULL)
		l->n++;
}

/* "a,b,c" (empty items skipped). */
static void list_split(struct sr_strlist *l, const char *text)
{
	while (text != NULL && *text != '\0') {
		size_t n = strcspn(text, ",");
		if (n > 0)
			list_add(l, text, n);
		text += n;
		if (*text == ',')
			text++;
	}
}

static void load_list(struct sr_config *cfg, json_t *v, const char *env,
		      const struct sr_field *f, struct sr_config_problems *pr)
{
	struct sr_strlist *l = list_at(cfg, f);
	size_t i;
	json_t *e;

	list_clear(l);
	list_split(l, f->def_str);
	if (v != NULL && !json_is_null(v)) {
		list_clear(l);
		if (!json_is_array(v))
			sr_config_problem(pr, f->path, "must be an array of strings");
		json_array_foreach(v, i, e) {
			if (!json_is_string(e) || json_string_length(e) == 0) {
				char at[180];
				snprintf(at, sizeof(at), "%s[%zu]", f->path, i);
				sr_config_problem(pr, at, "must be a non-empty string");
				continue;
			}
			list_add(l, json_string_value(e), json_string_length(e));
		}
	}
	if (env != NULL && env[0] != '\0') {
		list_clear(l);
		list_split(l, env);
	}
}

static void load_field(struct sr_config *cfg, json_t *root,
		       const struct sr_field *f, struct sr_config_problems *pr)
{
	json_t *v = root ? sr_config_lookup(root, f->path) : NULL;
	const char *env = getenv(f->env);

	if (f->type == FIELD_STRLIST) {
		load_list(cfg, v, env, f, pr);
		return;
	}
	if (f->type == FIELD_STR) {
		set_str(str_at(cfg, f), f->def_str);
		if (v != NULL && !json_is_null(v)) {
			if (!json_is_string(v) || json_string_length(v) == 0)
				sr_config_problem(pr, f->path, "must be a non-empty string");
			else
				set_str(str_at(cfg, f), json_string_value(v));
		}
		if (env != NULL && env[0] != '\0')
			set_str(str_at(cfg, f), env);
		return;
	}
	*int_at(cfg, f) = f->def_int;
	if (v != NULL) {
		if (!json_is_integer(v))
			sr_config_problem(pr, f->path, "must be an integer");
		else
			*int_at(cfg, f) = json_integer_value(v);
	}
	if (env != NULL && env[0] != '\0') {
		char *end;
		errno = 0;
		long long n = strtoll(env, &end, 10);
		if (errno != 0 || *end != '\0' || end == env)
			sr_config_problem(pr, f->env, "must be an integer (overrides %s)", f->path);
		else
			*int_at(cfg, f) = n;
	}
	if (*int_at(cfg, f) < f->min || *int_at(cfg, f) > f->max)
		sr_config_problem(pr, f->path, "must be between %lld and %lld, is %lld",
			(long long)f->min, (long long)f->max,
			(long long)*int_at(cfg, f));
}

/* Flags keys in obj (at prefix) that no field, and no section holding
 * fields, is named by. */
static void check_unknown(json_t *obj, const char *prefix,
			  struct sr_config_problems *pr)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		char path[160];
		size_t i, plen;
		int known = 0, section = 0;

		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", key);
		plen = strlen(path);
		/* sources: read and checked by the sources module */
		if (strcmp(path, "auth.issuers") == 0 || strcmp(path, "aws.accounts") == 0 ||
		    strcmp(path, "revoke.role_mappings") == 0 || strcmp(path, "sources") == 0)
			continue;
		for (i = 0; i < sr_config_n_fields; i++) {
			const char *fp = sr_config_fields[i].path;
			if (strcmp(fp, path) == 0)
				known = 1;
			else if (strncmp(fp, path, plen) == 0 && fp[plen] == '.')
				section = 1;
		}
		if (strcmp(path, "auth") == 0 || strcmp(path, "aws") == 0)
			section = 1;
		if (section && json_is_object(v))
			check_unknown(v, path, pr);
		else if (section)
			sr_config_problem(pr, path, "must be an object");
		else if (!known)
			sr_config_problem(pr, path, "unknown field");
	}
}

void sr_config_check_readable(struct sr_config_problems *pr, const char *path,
			      const char *file)
{
	if (file != NULL && access(file, R_OK) != 0)
		sr_config_problem(pr, path, "cannot read %s: %s", file, strerror(errno));
}

static bool printable_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

/* jwks_url: an absolute https:// URL. Plain http:// is refused by name: the
 * keys decide who may revoke, and anyone on the path could swap them. */
static void load_jwks_url(struct sr_issuer *is, json_t *v, const char *path,
			  struct sr_config_problems *pr)
{
	const char *url = json_string_value(v);

	if (url == NULL || url[0] == '\0') {
		sr_config_problem(pr, path, "must be an https:// URL");
		return;
	}
	if (strncasecmp(url, "http://", 7) == 0) {
		sr_config_problem(pr, path, "http:// is refused: the keys must come over https:// (TLS verified)");
		return;
	}
	if (strncasecmp(url, "https://", 8) != 0 || url[8] == '\0' || url[8] == '/' ||
	    !printable_ascii(url) || strchr(url, ' ') != NULL) {
		sr_config_problem(pr, path, "must be an https:// URL");
		return;
	}
	is->key_source = SR_KEY_JWKS_URL;
	is->jwks_url = strdup(url);
}

static void load_issuer(struct sr_issuer *is, json_t *o, const char *at,
			struct sr_config_problems *pr)
{
	static const struct {
		const char *key;
		enum sr_key_source src;
	} sources[] = {
		{"public_key_file", SR_KEY_PEM_FILE},
		{"jwks_file", SR_KEY_JWKS_FILE},
		{"hmac_secret_file", SR_KEY_HMAC_FILE},
		{"jwks_url", SR_KEY_JWKS_URL},
	};
	char path[160];
	const char *key;
	json_t *v, *algs;
	size_t i, n_sources = 0;

	if (!json_is_object(o)) {
		sr_config_problem(pr, at, "must be an object");
		return;
	}
	json_object_foreach(o, key, v) {
		int ok = strcmp(key, "issuer") == 0 || strcmp(key, "audience") == 0 ||
			 strcmp(key, "algorithms") == 0 || strcmp(key, "kid") == 0 ||
			 strcmp(key, "jwks_min_refresh_seconds") == 0;
		for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
			ok |= strcmp(key, sources[i].key) == 0;
		if (!ok) {
			snprintf(path, sizeof(path), "%s.%s", at, key);
			sr_config_problem(pr, path, "unknown field");
		}
	}
	v = json_object_get(o, "issuer");
	snprintf(path, sizeof(path), "%s.issuer", at);
	if (!json_is_string(v) || json_string_length(v) == 0)
		sr_config_problem(pr, path, "required: the exact \"iss\" of the tokens");
	else
		is->issuer = strdup(json_string_value(v));
	v = json_object_get(o, "audience");
	snprintf(path, sizeof(path), "%s.audience", at);
	if (!json_is_string(v) || json_string_length(v) == 0)
		sr_config_problem(pr, path, "required: the \"aud\" the tokens must carry");
	else
		is->audience = strdup(json_string_value(v));
	algs = json_object_get(o, "algorithms");
	snprintf(path, sizeof(path), "%s.algorithms", at);
	if (!json_is_array(algs) || json_array_size(algs) == 0)
		sr_config_problem(pr, path, "required: a non-empty array such as [\"RS256\"]");
	json_array_foreach(algs, i, v) {
		unsigned flag = sr_alg_from_name(json_string_value(v));
		snprintf(path, sizeof(path), "%s.algorithms[%zu]", at, i);
		if (flag == 0)
			sr_config_problem(pr, path, "unknown algorithm (HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA; never none)");
		is->algs |= flag;
	}
	for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		v = json_object_get(o, sources[i].key);
		if (v == NULL)
			continue;
		n_sources++;
		snprintf(path, sizeof(path), "%s.%s", at, sources[i].key);
		if (sources[i].src == SR_KEY_JWKS_URL) {
			load_jwks_url(is, v, path, pr);
			continue;
		}
		if (!json_is_string(v) || json_string_length(v) == 0) {
			sr_config_problem(pr, path, "must be a file name");
			continue;
		}
		is->key_source = sources[i].src;
		is->key_file = strdup(json_string_value(v));
		sr_config_check_readable(pr, path, is->key_file);
	}
	is->jwks_min_refresh = 60;
	v = json_object_get(o, "jwks_min_refresh_seconds");
	snprintf(path, sizeof(path), "%s.jwks_min_refresh_seconds", at);
	if (v != NULL && json_object_get(o, "jwks_url") == NULL)
		sr_config_problem(pr, path, "only with jwks_url");
	else if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1 ||
			       json_integer_value(v) > 86400))
		sr_config_problem(pr, path, "must be an integer between 1 and 86400");
	else if (v != NULL)
		is->jwks_min_refresh = json_integer_value(v);
	v = json_object_get(o, "kid");
	snprintf(path, sizeof(path), "%s.kid", at);
	if (v != NULL && (!json_is_string(v) || json_string_length(v) == 0 ||
			  json_string_length(v) > 255 || !printable_ascii(json_string_value(v))))
		sr_config_problem(pr, path, "must be 1 to 255 printable ASCII characters");
	else if (v != NULL && (json_object_get(o, "jwks_file") != NULL ||
			       json_object_get(o, "jwks_url") != NULL))
		sr_config_problem(pr, path, "only for public_key_file or hmac_secret_file: a JWK Set names its keys' kid itself");
	else if (v != NULL)
		is->kid = strdup(json_string_value(v));
	if (n_sources != 1) {
		sr_config_problem(pr, at, "needs exactly one of public_key_file, jwks_file, hmac_secret_file, jwks_url");
		return;
	}
	if (is->key_source == SR_KEY_HMAC_FILE && (is->algs & ~SR_ALG_HMAC) != 0)
		sr_config_problem(pr, at, "hmac_secret_file allows only HS256/HS384/HS512");
	if (is->key_source != SR_KEY_HMAC_FILE && (is->algs & SR_ALG_HMAC) != 0)
		sr_config_problem(pr, at, "HS algorithms need hmac_secret_file, never a public key");
}

static void load_issuers(struct sr_config *cfg, json_t *root,
			 struct sr_config_problems *pr)
{
	json_t *arr = root ? sr_config_lookup(root, "auth.issuers") : NULL;
	json_t *from_env = NULL;
	const char *env = getenv("SR_AUTH_ISSUERS");
	const char *where = "auth.issuers";
	size_t i;

	if (env != NULL && env[0] != '\0') {
		json_error_t jerr;
		from_env = json_loads(env, JSON_REJECT_DUPLICATES, &jerr);
		if (from_env == NULL) {
			sr_config_problem(pr, "SR_AUTH_ISSUERS", "not JSON: %s", jerr.text);
			return;
		}
		arr = from_env;
		where = "SR_AUTH_ISSUERS";
	}
	if (arr == NULL)
		goto out;
	if (!json_is_array(arr)) {
		sr_config_problem(pr, where, "must be an array of issuers");
		goto out;
	}
	cfg->issuers = calloc(json_array_size(arr) + 1, sizeof(*cfg->issuers));
	if (cfg->issuers == NULL)
		goto out;
	for (i = 0; i < json_array_size(arr); i++) {
		char at[64];
		snprintf(at, sizeof(at), "%s[%zu]", where, i);
		load_issuer(&cfg->issuers[i], json_array_get(arr, i), at, pr);
		cfg->n_issuers++;
	}
out:
	json_decref(from_env);
}

enum sr_rc sr_config_load(const char *path, struct sr_config **out,
			  struct sr_config_problems *problems, struct sr_err *err)
{
	return sr_config_load_for(path, SR_CONFIG_NEED_ISSUER, out, problems, err);
}

enum sr_rc sr_config_load_for(const char *path, unsigned needs, struct sr_config **out,
			      struct sr_config_problems *problems, struct sr_err *err)
{
	struct sr_config_problems local;
	struct sr_config *cfg;
	json_t *root = NULL;
	size_t i;

	*out = NULL;
	if (problems == NULL)
		problems = &local;
	problems->n = 0;
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	if (path != NULL) {
		json_error_t jerr;
		root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		if (root == NULL)
			sr_config_problem(problems, "(file)", "%s: line %d column %d: %s", path,
				jerr.line, jerr.column, jerr.text);
		else if (!json_is_object(root))
			sr_config_problem(problems, "(file)", "%s: must hold a JSON object", path);
		else
			check_unknown(root, "", problems);
		if (!json_is_object(root))
			goto done; /* nothing else can be judged */
	} else {
		cfg->embedded_default = true;
	}
	for (i = 0; i < sr_config_n_fields; i++)
		load_field(cfg, json_is_object(root) ? root : NULL,
			   &sr_config_fields[i], problems);
	load_issuers(cfg, json_is_object(root) ? root : NULL, problems);
	sr_config_load_accounts(cfg, json_is_object(root) ? root : NULL, problems);
	sr_config_load_role_mappings(cfg, json_is_object(root) ? root : NULL, problems);
	sr_config_check_providers(cfg, problems);
	sr_config_check_readable(problems, "http_client.ca_file", cfg->http_client_ca_file);
	if (json_is_object(root) && json_object_get(root, "sources") != NULL) {
		if (!json_is_object(json_object_get(root, "sources")))
			sr_config_problem(problems, "sources", "must be an object");
		else
			cfg->sources = json_deep_copy(json_object_get(root, "sources"));
	}
	/* store.url names the store; store.path is its older name for a file. */
	if (cfg->store_url == NULL && cfg->store_path != NULL &&
	    (cfg->store_url = strdup(cfg->store_path)) == NULL)
		sr_config_problem(problems, "store.url", "out of memory");
	else if (cfg->store_url != NULL && cfg->store_url[0] == '\0')
		sr_config_problem(problems, "store.url",
				  "is empty: a file path, or postgres://user@host/db");
	sr_config_check_readable(problems, "store.password_file", cfg->store_password_file);
	if (cfg->embedded_default && cfg->dev_key_file == NULL)
		cfg->dev_key_file = strdup("var/dev-signing-key.pem");
	if ((cfg->tls_cert_file == NULL) != (cfg->tls_key_file == NULL))
		sr_config_problem(problems, "listen.tls", "needs both cert_file and key_file");
	sr_config_check_readable(problems, "listen.tls.cert_file", cfg->tls_cert_file);
	sr_config_check_readable(problems, "listen.tls.key_file", cfg->tls_key_file);
	if (strcmp(cfg->role_tags, "off") != 0 && strcmp(cfg->role_tags, "saml") != 0 &&
	    strcmp(cfg->role_tags, "all") != 0)
		sr_config_problem(problems, "revoke.role_tags",
				  "must be off, saml (roles that trust a SAML provider) or all");
	if (strcmp(cfg->targeted_scope, "federated") != 0 && strcmp(cfg->targeted_scope, "all") != 0)
		sr_config_problem(problems, "targeted.scope",
				  "must be federated (roles that trust a configured provider) or all"
				  " (every role AWS lets the service write: chained sessions too)");
	if (strcmp(cfg->targeted_overflow, "managed") != 0 &&
	    strcmp(cfg->targeted_overflow, "report") != 0)
		sr_config_problem(problems, "targeted.overflow",
				  "must be managed (people a role's inline policies cannot hold go"
				  " into the account's managed policy) or report (they are named as"
				  " not written)");
	if ((strlen(cfg->targeted_managed_name) > 128 ||
	     strspn(cfg->targeted_managed_name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
						"0123456789+=,.@_-") !=
		     strlen(cfg->targeted_managed_name)))
		sr_config_problem(problems, "targeted.managed_policy_name",
				  "must be an IAM policy name (1 to 128 of letters, digits and"
				  " +=,.@_-)");
	if (cfg->targeted_managed_path[0] != '/' ||
	    cfg->targeted_managed_path[strlen(cfg->targeted_managed_path) - 1] != '/' ||
	    strlen(cfg->targeted_managed_path) > 512 ||
	    strspn(cfg->targeted_managed_path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					       "0123456789+=,.@_-/") !=
		    strlen(cfg->targeted_managed_path))
		sr_config_problem(problems, "targeted.managed_policy_path",
				  "must be an IAM path: starting and ending with /, letters,"
				  " digits and +=,.@_- between");
	if (cfg->targeted_tag != NULL &&
	    (cfg->targeted_tag[0] == '\0' || strlen(cfg->targeted_tag) > 128 ||
	     strspn(cfg->targeted_tag, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					"0123456789 _.:/=+-@") != strlen(cfg->targeted_tag) ||
	     strncasecmp(cfg->targeted_tag, "aws:", 4) == 0))
		sr_config_problem(problems, "targeted.principal_tag",
				  "must be a session tag key: 1 to 128 of letters, digits, spaces"
				  " and _.:/=+-@, not starting with aws:");
	if (strcmp(cfg->log_level, "debug") != 0 && strcmp(cfg->log_level, "info") != 0 &&
	    strcmp(cfg->log_level, "warn") != 0 && strcmp(cfg->log_level, "error") != 0)
		sr_config_problem(problems, "log.level", "must be debug, info, warn or error");
	if (strcmp(cfg->log_format, "text") != 0 && strcmp(cfg->log_format, "json") != 0)
		sr_config_problem(problems, "log.format",
				  "must be text (logfmt lines) or json (one JSON object per line)");
	for (i = 0; i < cfg->trusted_proxies.n; i++) {
		struct sr_cidr net;
		char at[64];
		const char *why = sr_cidr_parse(cfg->trusted_proxies.v[i], &net);
		snprintf(at, sizeof(at), "listen.trusted_proxies[%zu]", i);
		if (why != NULL)
			sr_config_problem(problems, at,
					  "%s: \"%.60s\" (an IP address or a CIDR such as 10.0.0.0/8 or 2001:db8::/32)",
					  why, cfg->trusted_proxies.v[i]);
	}
	if ((needs & SR_CONFIG_NEED_ISSUER) && cfg->n_issuers == 0 && cfg->dev_key_file == NULL)
		sr_config_problem(problems, "auth.issuers",
			"no trusted issuer: add one, or development.signing_key_file");
done:
	json_decref(root);
	if (problems->n > 0) {
		sr_err_set(err, SR_ECONFIG, "%s: %s", problems->items[0].path,
			   problems->items[0].msg);
		sr_config_free(cfg);
		return SR_ECONFIG;
	}
	*out = cfg;
	return SR_OK;
}

void sr_config_free(struct sr_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < sr_config_n_fields; i++)
		if (sr_config_fields[i].type == FIELD_STR)
			free(*str_at(cfg, &sr_config_fields[i]));
		else if (sr_config_fields[i].type == FIELD_STRLIST)
			list_clear(list_at(cfg, &sr_config_fields[i]));
	sr_config_free_accounts(cfg);
	sr_config_free_role_mappings(cfg);
	for (i = 0; i < cfg->n_issuers; i++) {
		free(cfg->issuers[i].issuer);
		free(cfg->issuers[i].audience);
		free(cfg->issuers[i].key_file);
		free(cfg->issuers[i].kid);
		free(cfg->issuers[i].jwks_url);
	}
	free(cfg->issuers);
	json_decref(cfg->sources);
	free(cfg);
}

static json_t *path_object(json_t *root, const char *path, char *leaf, size_t cap)
{
	json_t *cur = root;
	const char *p = path, *dot;

	while ((dot = strchr(p, '.')) != NULL) {
		char key[96];
		size_t n = (size_t)(dot - p);
		json_t *next;
		if (n >= sizeof(key))
			n = sizeof(key) - 1;
		memcpy(key, p, n);
		key[n] = '\0';
		next = json_object_get(cur, key);
		if (next == NULL) {
			next = json_object();
			json_object_set_new(cur, key, next);
		}
		cur = next;
		p = dot + 1;
	}
	snprintf(leaf, cap, "%s", p);
	return cur;
}

char *sr_config_dump(const struct sr_config *cfg)
{
	static const char *const sources[] = {
		[SR_KEY_PEM_FILE] = "public_key_file",
		[SR_KEY_JWKS_FILE] = "jwks_file",
		[SR_KEY_HMAC_FILE] = "hmac_secret_file",
		[SR_KEY_JWKS_URL] = "jwks_url",
	};
	json_t *root = json_object(), *issuers = json_array();
	char *text;
	size_t i;

	for (i = 0; i < sr_config_n_fields; i++) {
		const struct sr_field *f = &sr_config_fields[i];
		char leaf[96];
		json_t *o = path_object(root, f->path, leaf, sizeof(leaf));
		if (f->type == FIELD_STRLIST) {
			const struct sr_strlist *l = list_at((struct sr_config *)cfg, f);
			json_t *a = json_array();
			size_t j;
			for (j = 0; j < l->n; j++)
				json_array_append_new(a, json_string(l->v[j]));
			json_object_set_new(o, leaf, a);
		} else if (f->type == FIELD_STR) {
			const char *v = *str_at((struct sr_config *)cfg, f);
			char shown[1024];
			if (v != NULL && strncmp(f->path, "store.", 6) == 0) /* a password in a URL */
				v = sr_url_redact(v, shown, sizeof(shown));
			json_object_set_new(o, leaf, v ? json_string(v) : json_null());
		} else {
			json_object_set_new(o, leaf, json_integer(*int_at((struct sr_config *)cfg, f)));
		}
	}
	for (i = 0; i < cfg->n_issuers; i++) {
		const struct sr_issuer *is = &cfg->issuers[i];
		json_t *algs = json_array();
		unsigned bit;
		for (bit = 1; bit <= SR_ALG_EDDSA; bit <<= 1)
			if (is->algs & bit)
				json_array_append_new(algs, json_string(sr_alg_name(bit)));
		json_t *one = json_pack("{s:s, s:s, s:o, s:s}",
			"issuer", is->issuer, "audience", is->audience,
			"algorithms", algs, sources[is->key_source],
			is->key_source == SR_KEY_JWKS_URL ? is->jwks_url : is->key_file);
		if (one != NULL && is->kid != NULL)
			json_object_set_new(one, "kid", json_string(is->kid));
		if (one != NULL && is->key_source == SR_KEY_JWKS_URL)
			json_object_set_new(one, "jwks_min_refresh_seconds",
					    json_integer(is->jwks_min_refresh));
		json_array_append_new(issuers, one);
	}
	json_object_set_new(json_object_get(root, "auth"), "issuers", issuers);
	json_object_set_new(json_object_get(root, "aws"), "accounts", sr_config_dump_accounts(cfg));
	json_object_set_new(json_object_get(root, "revoke"), "role_mappings",
			    sr_config_dump_role_mappings(cfg));
	if (cfg->sources != NULL) /* secrets are file names here too */
		json_object_set(root, "sources", cfg->sources);
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	return text;
}
