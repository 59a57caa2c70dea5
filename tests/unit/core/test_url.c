/*
 * test_url.c - sr_url_redact: a store URL as logs, dumps and errors show it,
 * with the password (in the user part or a password= parameter) replaced
 * and everything else kept, however the URL is cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "session_revoker/core.h"

static void test_redact(void **state)
{
	static const struct {
		const char *url, *shown;
	} cases[] = {
		{"postgres://sr:s3cret@db.internal:5432/revoker?sslmode=verify-full",
		 "postgres://sr:***@db.internal:5432/revoker?sslmode=verify-full"},
		{"postgresql://sr@db/revoker", "postgresql://sr@db/revoker"},
		{"postgres://db/revoker?user=sr&password=s3cret&sslmode=require",
		 "postgres://db/revoker?user=sr&password=***&sslmode=require"},
		{"postgres://db/revoker?password=s3cret", "postgres://db/revoker?password=***"},
		{"postgres://db/revoker?password=", "postgres://db/revoker?password=***"},
		/* an '@' or ':' in the password: the last '@' before the path ends it */
		{"postgres://sr:p@ss:w@rd@db/x", "postgres://sr:***@db/x"},
		/* "password=" outside the parameters is not a parameter */
		{"postgres://db/password=x", "postgres://db/password=x"},
		{"postgres://db/x#password=y", "postgres://db/x#password=y"},
		{"var/session-revoker.db", "var/session-revoker.db"},
		{"", ""},
	};
	char out[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_ptr_equal(sr_url_redact(cases[i].url, out, sizeof(out)), out);
		assert_string_equal(out, cases[i].shown);
	}
	assert_string_equal(sr_url_redact(NULL, out, sizeof(out)), "");
}

/* A buffer too small cuts the text but never shows the password. */
static void test_small_buffer(void **state)
{
	const char *url = "postgres://sr:s3cret@db/x?password=s3cret";
	char out[64];
	size_t cap;

	(void)state;
	for (cap = 1; cap <= sizeof(out); cap++) {
		memset(out, 'Z', sizeof(out));
		sr_url_redact(url, out, cap);
		assert_true(strlen(out) < cap);
		assert_null(strstr(out, "s3"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
