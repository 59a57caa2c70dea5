/*
 * test_jwks.c - a jwks_url issuer's keys (src/auth/jwks.c): how long an
 * answer is used per its Cache-Control, and a provider that cannot be reached
 * at start (sr_auth_new() succeeds, sr_auth_ready() says which issuer and
 * why, tokens are refused as "not loaded"). Fetching, rotation and the rate
 * limit over real HTTPS: tests/integration/test_jwks.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../../src/auth/auth_int.h"
#include "../testkit.h"
#include "session_revoker/config.h"

static void test_ttl(void **state)
{
	static const struct {
		const char *cache_control; /* NULL: no header */
		int64_t want;
	} cases[] = {
		{NULL, 3600},
		{"", 3600},
		{"public", 3600},
		{"public, max-age=7200", 7200},
		{"max-age=600, must-revalidate, no-transform, public", 600},
		{"MAX-AGE=900", 900},
		{"max-age=\"1200\"", 1200},              /* quoted-string form, RFC 9111 5.2 */
		{"  max-age = 1200", 3600},              /* not the max-age directive (no spaces around "=") */
		{"max-age=60", 300},                     /* clamped up */
		{"max-age=0", 300},
		{"max-age=31536000", 86400},             /* clamped down */
		{"max-age=99999999999999999999999", 86400}, /* saturates, no overflow */
		{"max-age=-5", 300},                     /* invalid: stale */
		{"max-age=12x", 300},
		{"max-age", 300},
		{"max-age=", 300},
		{"no-store", 300},
		{"No-Cache", 300},
		{"public, max-age=7200, no-cache", 300},
		{"max-age=7200, max-age=600", 600},      /* conflicting: most restrictive */
		{"s-maxage=7200", 3600},                 /* for shared caches only */
		{"private, max-age=1800", 1800},
		{"no-cache=\"Set-Cookie\", max-age=7200", 300},
		{",,, max-age=4000 ,", 4000},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s -> %lld\n", cases[i].cache_control ? cases[i].cache_control : "(none)",
			      (long long)cases[i].want);
		assert_int_equal(sr_jwks_ttl(cases[i].cache_control), cases[i].want);
	}
}

/* A JWT signed with key whose header names kid (no signature check reached). */
static char *token_for(EVP_PKEY *key, const char *iss, const char *kid)
{
	char header[128], payload[256];

	snprintf(header, sizeof(header), "{\"alg\":\"RS256\",\"kid\":\"%s\"}", kid);
	snprintf(payload, sizeof(payload),
		 "{\"iss\":\"%s\",\"aud\":\"a\",\"exp\":%lld}", iss, (long long)time(NULL) + 600);
	return tk_sign("RS256", key, NULL, 0, header, payload);
}

static void test_unreachable_at_start(void **state)
{
	const char *dir = tk_tmpdir();
	char conf[1024], *path, *tok;
	struct sr_config *cfg = NULL;
	struct sr_auth *auth = NULL;
	struct sr_principal who;
	struct sr_err err = {0};
	EVP_PKEY *key = tk_rsa(2048);
	char *pem = tk_public_pem(key), *pem_path = tk_write(dir, "k.pem", pem);
	int i;

	(void)state;
	/* Port 1 on the loopback: nothing listens, the connection is refused. */
	snprintf(conf, sizeof(conf),
		 "{\"http_client\": {\"timeout_seconds\": 2}, \"auth\": {\"issuers\": ["
		 "{\"issuer\": \"https://file.example/\", \"audience\": \"a\", \"algorithms\": [\"RS256\"],"
		 " \"public_key_file\": \"%s\"},"
		 "{\"issuer\": \"https://down.example/\", \"audience\": \"a\", \"algorithms\": [\"RS256\"],"
		 " \"jwks_url\": \"https://127.0.0.1:1/.well-known/jwks.json\"}]}}",
		 pem_path);
	path = tk_write(dir, "c.json", conf);
	assert_int_equal(sr_config_load(path, &cfg, NULL, &err), SR_OK);
	assert_int_equal(sr_auth_new(cfg, &auth, &err), SR_OK);
	assert_non_null(auth);
	/* Not ready, naming the issuer; once the first fetch failed, why. */
	for (i = 0; i < 100; i++) {
		sr_err_clear(&err);
		assert_int_equal(sr_auth_ready(auth, &err), SR_EUNAVAIL);
		if (strstr(err.msg, "first fetch") == NULL)
			break;
		nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
	}
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "issuer https://down.example/: signing keys not loaded"));
	assert_non_null(strstr(err.msg, "onnect")); /* curl: "Failed to connect ..." */
	/* Its tokens are refused as such; the file issuer works meanwhile. */
	tok = token_for(key, "https://down.example/", "k1");
	sr_err_clear(&err);
	assert_int_equal(sr_auth_verify(auth, tok, strlen(tok), NULL, time(NULL), &who, &err),
			 SR_EAUTH);
	assert_non_null(strstr(err.msg, "signing keys are not loaded yet"));
	free(tok);
	tok = token_for(key, "https://file.example/", "any");
	sr_err_clear(&err);
	assert_int_equal(sr_auth_verify(auth, tok, strlen(tok), NULL, time(NULL), &who, &err),
			 SR_OK);
	sr_principal_clear(&who);
	free(tok);
	sr_auth_free(auth); /* stops the fetching thread */
	sr_config_free(cfg);
	EVP_PKEY_free(key);
	free(pem);
	free(pem_path);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_unreachable_at_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
