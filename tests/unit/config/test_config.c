/*
 * test_config.c - loading, environment overrides, and problems named by path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../testkit.h"
#include "session_revoker/config.h"

static const char *dir;
static char *pem, *secret;

static int has_problem(const struct sr_config_problems *p, const char *path, const char *msg)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->items[i].path, path) == 0 && strstr(p->items[i].msg, msg) != NULL)
			return 1;
	return 0;
}

static struct sr_config *load_text(const char *text, struct sr_config_problems *pr,
				   enum sr_rc want)
{
	char *path = tk_write(dir, "c.json", text);
	struct sr_config *cfg = NULL;
	struct sr_err err = {0};

	assert_int_equal(sr_config_load(path, &cfg, pr, &err), want);
	free(path);
	return cfg;
}

static void test_embedded_default(void **state)
{
	struct sr_config *cfg = NULL;
	struct sr_err err = {0};

	(void)state;
	assert_int_equal(sr_config_load(NULL, &cfg, NULL, &err), SR_OK);
	assert_true(cfg->embedded_default);
	assert_string_equal(cfg->listen_address, "127.0.0.1");
	assert_int_equal(cfg->listen_port, 8080);
	assert_string_equal(cfg->store_path, "var/session-revoker.db");
	assert_string_equal(cfg->store_url, "var/session-revoker.db"); /* store.path's */
	assert_null(cfg->store_password_file);
	assert_int_equal(cfg->store_reconnect_seconds, 30);
	assert_string_equal(cfg->dev_key_file, "var/dev-signing-key.pem");
	assert_null(cfg->tls_cert_file);
	sr_config_free(cfg);
}

static void test_file_and_env(void **state)
{
	char text[1024];
	struct sr_config_problems pr;
	struct sr_config *cfg;
	char *dump;

	(void)state;
	snprintf(text, sizeof(text),
		 "{\"listen\": {\"address\": \"0.0.0.0\", \"port\": 9000},"
		 " \"store\": {\"path\": \"/tmp/x.db\"},"
		 " \"auth\": {\"clock_skew_seconds\": 30, \"issuers\": [{\"issuer\": \"https://i/\","
		 " \"audience\": \"a\", \"algorithms\": [\"RS256\", \"ES256\"], \"public_key_file\": \"%s\"}]}}",
		 pem);
	setenv("SR_LISTEN_PORT", "9100", 1);
	setenv("SR_STORE_PATH", "/tmp/y.db", 1);
	cfg = load_text(text, &pr, SR_OK);
	unsetenv("SR_LISTEN_PORT");
	unsetenv("SR_STORE_PATH");
	assert_int_equal(cfg->listen_port, 9100);
	assert_string_equal(cfg->store_path, "/tmp/y.db");
	assert_string_equal(cfg->listen_address, "0.0.0.0");
	assert_int_equal(cfg->clock_skew, 30);
	assert_int_equal(cfg->n_issuers, 1);
	assert_int_equal(cfg->issuers[0].algs, SR_ALG_RS256 | SR_ALG_ES256);
	assert_null(cfg->dev_key_file);
	assert_false(cfg->embedded_default);
	dump = sr_config_dump(cfg);
	assert_non_null(strstr(dump, "\"port\": 9100"));
	assert_non_null(strstr(dump, "public_key_file"));
	free(dump);
	sr_config_free(cfg);
}

/* store.url names the store (store.path is its older name for a file); a
 * password in it never shows in the dump; an empty one is refused. */
static void test_store_url(void **state)
{
	struct sr_config_problems pr;
	struct sr_config *cfg;
	char *dump;

	(void)state;
	cfg = load_text("{\"development\": {\"signing_key_file\": \"k.pem\"},"
			" \"store\": {\"path\": \"/tmp/old.db\","
			" \"url\": \"postgres://sr:s3cret@db/revoker?sslmode=require\"}}", &pr, SR_OK);
	assert_string_equal(cfg->store_url, "postgres://sr:s3cret@db/revoker?sslmode=require");
	dump = sr_config_dump(cfg);
	assert_null(strstr(dump, "s3cret"));
	assert_non_null(strstr(dump, "postgres://sr:***@db/revoker?sslmode=require"));
	free(dump);
	sr_config_free(cfg);

	setenv("SR_STORE_URL", "/tmp/from-env.db", 1);
	cfg = load_text("{\"development\": {\"signing_key_file\": \"k.pem\"},"
			" \"store\": {\"path\": \"/tmp/old.db\"}}", &pr, SR_OK);
	unsetenv("SR_STORE_URL");
	assert_string_equal(cfg->store_url, "/tmp/from-env.db");
	sr_config_free(cfg);

	cfg = load_text("{\"development\": {\"signing_key_file\": \"k.pem\"},"
			" \"store\": {\"url\": \"\"}}", &pr, SR_ECONFIG);
	assert_null(cfg);
	assert_int_equal(pr.n, 1);
	assert_string_equal(pr.items[0].path, "store.url");
}

/* targeted.* and revoke.hold_seconds: defaults, and each bad value named by
 * its path. */
static void test_targeted(void **state)
{
	static const struct {
		const char *json, *path;
	} bad[] = {
		{"\"targeted\": {\"scope\": \"everything\"}", "targeted.scope"},
		{"\"targeted\": {\"principal_tag\": \"aws:user\"}", "targeted.principal_tag"},
		{"\"targeted\": {\"principal_tag\": \"user\\\"x\"}", "targeted.principal_tag"},
		{"\"targeted\": {\"token_lifetime_seconds\": -1}", "targeted.token_lifetime_seconds"},
		{"\"targeted\": {\"overflow\": \"drop\"}", "targeted.overflow"},
		{"\"targeted\": {\"managed_policy_name\": \"a b\"}", "targeted.managed_policy_name"},
		{"\"targeted\": {\"managed_policy_path\": \"people\"}", "targeted.managed_policy_path"},
		{"\"revoke\": {\"hold_seconds\": 999999999}", "revoke.hold_seconds"},
	};
	struct sr_config_problems pr;
	struct sr_config *cfg;
	char text[512];
	size_t i;

	(void)state;
	cfg = load_text("{\"development\": {\"signing_key_file\": \"k.pem\"}}", &pr, SR_OK);
	assert_null(cfg->targeted_tag);
	assert_string_equal(cfg->targeted_scope, "federated");
	assert_int_equal(cfg->targeted_lifetime, 36000);
	assert_string_equal(cfg->targeted_overflow, "managed");
	assert_string_equal(cfg->targeted_managed_name, "session-revoker-people");
	assert_string_equal(cfg->targeted_managed_path, "/session-revoker/");
	assert_int_equal(cfg->hold_seconds, 0);
	sr_config_free(cfg);
	cfg = load_text("{\"development\": {\"signing_key_file\": \"k.pem\"}, \"targeted\":"
			" {\"principal_tag\": \"user\", \"scope\": \"all\", \"token_lifetime_seconds\":"
			" 3600}, \"revoke\": {\"hold_seconds\": 600}}", &pr, SR_OK);
	assert_string_equal(cfg->targeted_tag, "user");
	assert_string_equal(cfg->targeted_scope, "all");
	assert_int_equal(cfg->targeted_lifetime, 3600);
	assert_int_equal(cfg->hold_seconds, 600);
	sr_config_free(cfg);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"development\": {\"signing_key_file\": \"k.pem\"}, %s}",
			 bad[i].json);
		print_message("bad %s\n", text);
		cfg = load_text(text, &pr, SR_ECONFIG);
		assert_null(cfg);
		assert_int_equal(pr.n, 1);
		assert_string_equal(pr.items[0].path, bad[i].path);
	}
}

static void test_issuers_from_env(void **state)
{
	char env[512];
	struct sr_config_problems pr;
	struct sr_config *cfg;

	(void)state;
	snprintf(env, sizeof(env), "[{\"issuer\": \"e\", \"audience\": \"a\", \"algorithms\": [\"HS256\"],"
		 " \"hmac_secret_file\": \"%s\"}]", secret);
	setenv("SR_AUTH_ISSUERS", env, 1);
	cfg = load_text("{}", &pr, SR_OK);
	unsetenv("SR_AUTH_ISSUERS");
	assert_int_equal(cfg->n_issuers, 1);
	assert_string_equal(cfg->issuers[0].issuer, "e");
	sr_config_free(cfg);
}

static void test_problems_by_path(void **state)
{
	char text[2048];
	struct sr_config_problems pr;

	(void)state;
	snprintf(text, sizeof(text),
		 "{\"listen\": {\"port\": 70000, \"prot\": 1, \"tls\": {\"cert_file\": \"/nonexistent.pem\"}},"
		 " \"limits\": {\"max_groups\": \"many\"},"
		 " \"log\": {\"level\": \"loud\"},"
		 " \"colour\": \"blue\","
		 " \"auth\": {\"issuers\": ["
		 "  {\"issuer\": \"a\", \"audience\": \"b\", \"algorithms\": [\"none\"], \"public_key_file\": \"%s\"},"
		 "  {\"issuer\": \"c\", \"audience\": \"d\", \"algorithms\": [\"RS256\"], \"hmac_secret_file\": \"%s\"},"
		 "  {\"issuer\": \"e\", \"audience\": \"f\", \"algorithms\": [\"HS256\"], \"public_key_file\": \"%s\"},"
		 "  {\"audience\": \"g\", \"algorithms\": [], \"jwks_file\": \"/missing.jwks\", \"extra\": 1},"
		 "  {\"issuer\": \"h\", \"audience\": \"i\", \"algorithms\": [\"RS256\"]}]}}",
		 pem, secret, pem);
	assert_null(load_text(text, &pr, SR_ECONFIG));
	for (size_t i = 0; i < pr.n; i++)
		print_message("%s: %s\n", pr.items[i].path, pr.items[i].msg);
	assert_true(has_problem(&pr, "listen.port", "between 0 and 65535"));
	assert_true(has_problem(&pr, "listen.prot", "unknown field"));
	assert_true(has_problem(&pr, "listen.tls", "needs both"));
	assert_true(has_problem(&pr, "listen.tls.cert_file", "cannot read /nonexistent.pem"));
	assert_true(has_problem(&pr, "limits.max_groups", "must be an integer"));
	assert_true(has_problem(&pr, "log.level", "debug, info, warn or error"));
	assert_true(has_problem(&pr, "colour", "unknown field"));
	assert_true(has_problem(&pr, "auth.issuers[0].algorithms[0]", "never none"));
	assert_true(has_problem(&pr, "auth.issuers[1]", "only HS256"));
	assert_true(has_problem(&pr, "auth.issuers[2]", "never a public key"));
	assert_true(has_problem(&pr, "auth.issuers[3].issuer", "required"));
	assert_true(has_problem(&pr, "auth.issuers[3].algorithms", "non-empty"));
	assert_true(has_problem(&pr, "auth.issuers[3].jwks_file", "cannot read"));
	assert_true(has_problem(&pr, "auth.issuers[3].extra", "unknown field"));
	assert_true(has_problem(&pr, "auth.issuers[4]", "exactly one of"));
}

/* listen.trusted_proxies (IP addresses or CIDRs) and log.format, each
 * problem named by its path; valid entries load in order. */
static void test_trusted_proxies_and_log_format(void **state)
{
	static const struct {
		const char *json;  /* the "listen" and "log" members */
		const char *path, *msg; /* NULL: loads */
		size_t n;           /* proxies loaded */
	} cases[] = {
		{"\"listen\": {\"trusted_proxies\": [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\", \"2001:db8::/32\"]}",
		 NULL, NULL, 4},
		{"\"log\": {\"format\": \"json\"}", NULL, NULL, 0},
		{"\"log\": {\"format\": \"text\"}, \"listen\": {\"trusted_proxies\": []}", NULL, NULL, 0},
		{"\"log\": {\"format\": \"JSON\"}", "log.format", "must be text", 0},
		{"\"log\": {\"format\": \"auto\"}", "log.format", "or json", 0},
		{"\"listen\": {\"trusted_proxies\": [\"10.0.0.0/8\", \"10.0.0.1/8\"]}",
		 "listen.trusted_proxies[1]", "host bits are set", 0},
		{"\"listen\": {\"trusted_proxies\": [\"lb.internal\"]}",
		 "listen.trusted_proxies[0]", "not an IP address: \"lb.internal\"", 0},
		{"\"listen\": {\"trusted_proxies\": [\"10.0.0.0/33\"]}",
		 "listen.trusted_proxies[0]", "at most 32", 0},
		{"\"listen\": {\"trusted_proxies\": [\"::/129\"]}",
		 "listen.trusted_proxies[0]", "at most 128", 0},
		{"\"listen\": {\"trusted_proxies\": [\"10.0.0.0/x\"]}",
		 "listen.trusted_proxies[0]", "must be a number", 0},
		{"\"listen\": {\"trusted_proxies\": [7]}",
		 "listen.trusted_proxies[0]", "non-empty string", 0},
		{"\"listen\": {\"trusted_proxies\": \"10.0.0.0/8\"}",
		 "listen.trusted_proxies", "array of strings", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[1024];
		struct sr_config_problems pr;
		struct sr_config *cfg;
		snprintf(text, sizeof(text),
			 "{\"auth\": {\"issuers\": [{\"issuer\": \"a\", \"audience\": \"b\","
			 " \"algorithms\": [\"RS256\"], \"public_key_file\": \"%s\"}]}, %s}",
			 pem, cases[i].json);
		cfg = load_text(text, &pr, cases[i].path ? SR_ECONFIG : SR_OK);
		if (cases[i].path == NULL) {
			assert_int_equal(cfg->trusted_proxies.n, cases[i].n);
			sr_config_free(cfg);
			continue;
		}
		if (!has_problem(&pr, cases[i].path, cases[i].msg))
			fail_msg("case %zu: want %s: %s; got %s: %s", i, cases[i].path, cases[i].msg,
				 pr.n ? pr.items[0].path : "-", pr.n ? pr.items[0].msg : "-");
	}
}

/* An issuer's optional kid: a printable string, for PEM and HMAC keys only. */
static void test_issuer_kid(void **state)
{
	static const struct {
		const char *kid_json, *source, *problem; /* problem NULL: fine */
	} cases[] = {
		{"\"rs-2026\"", "public_key_file", NULL},
		{"\"hs-1\"", "hmac_secret_file", NULL},
		{"\"\"", "public_key_file", "1 to 255 printable"},
		{"7", "public_key_file", "1 to 255 printable"},
		{"null", "hmac_secret_file", "1 to 255 printable"},
		{"\"a\\u0007b\"", "public_key_file", "1 to 255 printable"},
		{"\"k1\"", "jwks_file", "a JWK Set names"},
	};
	char text[1024];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_config_problems pr;
		struct sr_config *cfg;
		int hs = strcmp(cases[i].source, "hmac_secret_file") == 0;

		print_message("kid %s with %s\n", cases[i].kid_json, cases[i].source);
		snprintf(text, sizeof(text),
			 "{\"auth\": {\"issuers\": [{\"issuer\": \"i\", \"audience\": \"a\","
			 " \"algorithms\": [\"%s\"], \"%s\": \"%s\", \"kid\": %s}]}}",
			 hs ? "HS256" : "RS256", cases[i].source, hs ? secret : pem, cases[i].kid_json);
		cfg = load_text(text, &pr, cases[i].problem ? SR_ECONFIG : SR_OK);
		if (cases[i].problem == NULL) {
			char *dump = sr_config_dump(cfg);
			assert_non_null(cfg->issuers[0].kid);
			assert_non_null(strstr(dump, "\"kid\""));
			free(dump);
			sr_config_free(cfg);
		} else {
			assert_true(has_problem(&pr, "auth.issuers[0].kid", cases[i].problem));
		}
	}
}

/* jwks_url: https:// only (http:// refused by name), no kid beside it, an
 * optional jwks_min_refresh_seconds (default 60) that only it may carry. */
static void test_issuer_jwks_url(void **state)
{
	static const struct {
		const char *members; /* after "algorithms" */
		const char *path, *problem; /* problem NULL: fine */
		int64_t min_refresh;
	} cases[] = {
		{"\"jwks_url\": \"https://tenant.example/.well-known/jwks.json\"", NULL, NULL, 60},
		{"\"jwks_url\": \"HTTPS://tenant.example/jwks\", \"jwks_min_refresh_seconds\": 5", NULL, NULL, 5},
		{"\"jwks_url\": \"http://tenant.example/.well-known/jwks.json\"",
		 "auth.issuers[0].jwks_url", "http:// is refused", 0},
		{"\"jwks_url\": \"HTTP://tenant.example/jwks\"", "auth.issuers[0].jwks_url", "http:// is refused", 0},
		{"\"jwks_url\": \"ftp://tenant.example/jwks\"", "auth.issuers[0].jwks_url", "https:// URL", 0},
		{"\"jwks_url\": \"https://\"", "auth.issuers[0].jwks_url", "https:// URL", 0},
		{"\"jwks_url\": \"https://a b/\"", "auth.issuers[0].jwks_url", "https:// URL", 0},
		{"\"jwks_url\": 7", "auth.issuers[0].jwks_url", "https:// URL", 0},
		{"\"jwks_url\": \"https://t.example/jwks\", \"kid\": \"k1\"", "auth.issuers[0].kid", "a JWK Set names", 0},
		{"\"jwks_url\": \"https://t.example/jwks\", \"jwks_min_refresh_seconds\": 0",
		 "auth.issuers[0].jwks_min_refresh_seconds", "between 1 and 86400", 0},
		{"\"jwks_url\": \"https://t.example/jwks\", \"jwks_min_refresh_seconds\": \"5\"",
		 "auth.issuers[0].jwks_min_refresh_seconds", "between 1 and 86400", 0},
		{"\"public_key_file\": \"@PEM\", \"jwks_min_refresh_seconds\": 5",
		 "auth.issuers[0].jwks_min_refresh_seconds", "only with jwks_url", 0},
		{"\"public_key_file\": \"@PEM\", \"jwks_url\": \"https://t.example/jwks\"",
		 "auth.issuers[0]", "exactly one of public_key_file, jwks_file, hmac_secret_file, jwks_url", 0},
	};
	char text[1024], members[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_config_problems pr;
		struct sr_config *cfg;
		const char *at = strstr(cases[i].members, "@PEM");

		if (at != NULL)
			snprintf(members, sizeof(members), "%.*s%s%s", (int)(at - cases[i].members),
				 cases[i].members, pem, at + 4);
		else
			snprintf(members, sizeof(members), "%s", cases[i].members);
		print_message("%s\n", members);
		snprintf(text, sizeof(text),
			 "{\"auth\": {\"issuers\": [{\"issuer\": \"i\", \"audience\": \"a\","
			 " \"algorithms\": [\"RS256\"], %s}]}}", members);
		cfg = load_text(text, &pr, cases[i].problem ? SR_ECONFIG : SR_OK);
		if (cases[i].problem == NULL) {
			char *dump = sr_config_dump(cfg);
			assert_int_equal(cfg->issuers[0].key_source, SR_KEY_JWKS_URL);
			assert_non_null(strstr(cfg->issuers[0].jwks_url, "://"));
			assert_null(cfg->issuers[0].key_file);
			assert_int_equal(cfg->issuers[0].jwks_min_refresh, cases[i].min_refresh);
			assert_non_null(strstr(dump, "\"jwks_url\": \""));
			assert_non_null(strstr(dump, "\"jwks_min_refresh_seconds\""));
			free(dump);
			sr_config_free(cfg);
		} else {
			for (size_t j = 0; j < pr.n; j++)
				print_message("  %s: %s\n", pr.items[j].path, pr.items[j].msg);
			assert_true(has_problem(&pr, cases[i].path, cases[i].problem));
		}
	}
}

static void test_not_json(void **state)
{
	struct sr_config_problems pr;

	(void)state;
	assert_null(load_text("{\"listen\": ", &pr, SR_ECONFIG));
	assert_int_equal(pr.n, 1);
	assert_non_null(strstr(pr.items[0].msg, "line 1"));
	assert_null(load_text("{}", &pr, SR_ECONFIG)); /* no issuer at all */
	assert_true(has_problem(&pr, "auth.issuers", "no trusted issuer"));
}

static void test_bad_env_override(void **state)
{
	struct sr_config_problems pr;
	struct sr_config *cfg = NULL;
	struct sr_err err = {0};

	(void)state;
	setenv("SR_LISTEN_PORT", "80x", 1);
	assert_int_equal(sr_config_load(NULL, &cfg, &pr, &err), SR_ECONFIG);
	unsetenv("SR_LISTEN_PORT");
	assert_true(has_problem(&pr, "SR_LISTEN_PORT", "must be an integer"));
}

static void test_role_mappings_and_providers(void **state)
{
	char text[2048];
	struct sr_config_problems pr;
	struct sr_config *cfg;

	(void)state;
	snprintf(text, sizeof(text),
		 "{\"development\": {\"signing_key_file\": \"%s\"},"
		 " \"aws\": {\"accounts\": [{\"id\": \"111111111111\", \"base_credentials\": true}]},"
		 " \"revoke\": {\"providers\": [\"auth.example.com/\", \"saml-provider/Okta\"],"
		 "  \"role_mappings\": [{\"group\": \"team_opsec\", \"roles\": [\"Okta-Opsec-*\", \"BreakGlass\"]},"
		 "   {\"group\": \"team_hr\", \"roles\": [\"Okta-HR-?\"], \"accounts\": [\"111111111111\"]}]}}", pem);
	cfg = load_text(text, &pr, SR_OK);
	assert_int_equal(cfg->n_role_mappings, 2);
	assert_string_equal(cfg->role_mappings[0].group, "team_opsec");
	assert_int_equal(cfg->role_mappings[0].roles.n, 2);
	assert_string_equal(cfg->role_mappings[0].roles.v[1], "BreakGlass");
	assert_int_equal(cfg->role_mappings[0].accounts.n, 0);
	assert_string_equal(cfg->role_mappings[1].accounts.v[0], "111111111111");
	assert_string_equal(cfg->providers.v[1], "saml-provider/Okta");
	sr_config_free(cfg);

	snprintf(text, sizeof(text),
		 "{\"development\": {\"signing_key_file\": \"%s\"},"
		 " \"aws\": {\"accounts\": [{\"id\": \"111111111111\", \"base_credentials\": true}]},"
		 " \"revoke\": {\"providers\": [\"saml-provider/\", \"saml-provider/Ok ta\","
		 "   \"arn:aws:iam::111111111111:saml-provider/Okta\", \"oidc-provider/auth.example.com/\"],"
		 "  \"role_mappings\": [{\"roles\": []}, {\"group\": \"g\", \"roles\": [\"a/b\", 7],"
		 "   \"accounts\": [\"222222222222\", \"12\"], \"role\": 1}, \"x\"]}}", pem);
	assert_null(load_text(text, &pr, SR_ECONFIG));
	for (size_t i = 0; i < pr.n; i++)
		print_message("%s: %s\n", pr.items[i].path, pr.items[i].msg);
	assert_true(has_problem(&pr, "revoke.providers[0]", "saml-provider/NAME"));
	assert_true(has_problem(&pr, "revoke.providers[1]", "saml-provider/NAME"));
	assert_true(has_problem(&pr, "revoke.providers[2]", "not an ARN"));
	assert_true(has_problem(&pr, "revoke.providers[3]", "without oidc-provider/"));
	assert_true(has_problem(&pr, "revoke.role_mappings[0].group", "required"));
	assert_true(has_problem(&pr, "revoke.role_mappings[0].roles", "non-empty array"));
	assert_true(has_problem(&pr, "revoke.role_mappings[1].roles[0]", "a role name pattern"));
	assert_true(has_problem(&pr, "revoke.role_mappings[1].roles[1]", "a role name pattern"));
	assert_true(has_problem(&pr, "revoke.role_mappings[1].accounts[0]", "not configured"));
	assert_true(has_problem(&pr, "revoke.role_mappings[1].accounts[1]", "12-digit"));
	assert_true(has_problem(&pr, "revoke.role_mappings[1].role", "unknown field"));
	assert_true(has_problem(&pr, "revoke.role_mappings[2]", "must be an object"));

	setenv("SR_REVOKE_ROLE_MAPPINGS", "{\"group\": \"g\"}", 1);
	assert_null(load_text("{\"development\": {\"signing_key_file\": \"x.pem\"}}", &pr, SR_ECONFIG));
	unsetenv("SR_REVOKE_ROLE_MAPPINGS");
	assert_true(has_problem(&pr, "SR_REVOKE_ROLE_MAPPINGS", "must be an array"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded_default),
		cmocka_unit_test(test_file_and_env),
		cmocka_unit_test(test_store_url),
		cmocka_unit_test(test_targeted),
		cmocka_unit_test(test_issuers_from_env),
		cmocka_unit_test(test_problems_by_path),
		cmocka_unit_test(test_issuer_kid),
		cmocka_unit_test(test_trusted_proxies_and_log_format),
		cmocka_unit_test(test_issuer_jwks_url),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_bad_env_override),
		cmocka_unit_test(test_role_mappings_and_providers),
	};
	EVP_PKEY *k = tk_rsa(2048);
	char *p = tk_public_pem(k);
	int rc;

	dir = tk_tmpdir();
	pem = tk_write(dir, "k.pem", p);
	secret = tk_write(dir, "s.secret", "0123456789abcdef0123456789abcdef\n");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(p);
	free(pem);
	free(secret);
	EVP_PKEY_free(k);
	return rc;
}
