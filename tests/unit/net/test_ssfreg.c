/*
 * test_ssfreg.c - what `ssf register` makes of a transmitter (ssfreg.h):
 * the well-known address of an issuer (SSF 1.0 section 7.2), its metadata
 * (the issuer, push support as 1.0 and the older drafts name it), and the
 * configuration endpoint's answers (an array of streams or one stream) and
 * which of them is ours.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session_revoker/ssfreg.h"

#define ISS "https://tr.example.com/issuer1"

static void test_well_known_url(void **state)
{
	static const struct {
		const char *issuer, *url; /* url NULL: refused, msg names why */
		const char *msg;
	} cases[] = {
		{"https://tr.example.com", "https://tr.example.com/.well-known/ssf-configuration", NULL},
		{"https://tr.example.com/", "https://tr.example.com/.well-known/ssf-configuration", NULL},
		{"https://tr.example.com/issuer1",
		 "https://tr.example.com/.well-known/ssf-configuration/issuer1", NULL},
		{"https://tr.example.com/issuer1/",
		 "https://tr.example.com/.well-known/ssf-configuration/issuer1", NULL},
		{"https://tr.example.com:8443/a/b",
		 "https://tr.example.com:8443/.well-known/ssf-configuration/a/b", NULL},
		{"http://127.0.0.1:9000/t", "http://127.0.0.1:9000/.well-known/ssf-configuration/t", NULL},
		{"http://tr.example.com/", NULL, "must be an https URL"},
		{"https://tr.example.com/?x=1", NULL, "no query"},
		{"https://tr.example.com/#f", NULL, "no query, fragment"},
		{"https://u@tr.example.com/", NULL, "user name"},
		{"not a url", NULL, "is not a URL"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_err err = {0};
		char *url = NULL;
		enum sr_rc rc = sr_ssfreg_well_known_url(cases[i].issuer, &url, &err);
		if (cases[i].url != NULL) {
			assert_int_equal(rc, SR_OK);
			assert_string_equal(url, cases[i].url);
		} else {
			assert_int_equal(rc, SR_EINVAL);
			assert_null(url);
			assert_non_null(strstr(err.msg, cases[i].msg));
		}
		free(url);
	}
}

static void test_metadata(void **state)
{
	static const struct {
		const char *doc;
		enum sr_rc rc;
		const char *method_or_msg;
	} cases[] = {
		{"{\"issuer\":\"" ISS "\",\"jwks_uri\":\"https://tr.example.com/j\","
		 "\"configuration_endpoint\":\"https://tr.example.com/s\","
		 "\"delivery_methods_supported\":[\"urn:ietf:rfc:8936\",\"urn:ietf:rfc:8935\"]}",
		 SR_OK, SR_SSF_PUSH_RFC8935},
		/* both: the newer */
		{"{\"issuer\":\"" ISS "\",\"jwks_uri\":\"j\",\"configuration_endpoint\":\"s\","
		 "\"delivery_methods_supported\":[\"" SR_SSF_PUSH_RISC "\",\"urn:ietf:rfc:8935\"]}",
		 SR_OK, SR_SSF_PUSH_RFC8935},
		{"{\"issuer\":\"" ISS "\",\"jwks_uri\":\"j\",\"configuration_endpoint\":\"s\","
		 "\"delivery_methods_supported\":[\"" SR_SSF_PUSH_RISC "\"]}",
		 SR_OK, SR_SSF_PUSH_RISC},
		/* no list (it is only RECOMMENDED): SSF 1.0's */
		{"{\"issuer\":\"" ISS "\",\"jwks_uri\":\"j\",\"configuration_endpoint\":\"s\"}",
		 SR_OK, SR_SSF_PUSH_RFC8935},
		{"{\"issuer\":\"" ISS "\",\"jwks_uri\":\"j\",\"configuration_endpoint\":\"s\","
		 "\"delivery_methods_supported\":[\"urn:ietf:rfc:8936\"]}",
		 SR_ECONFLICT, "does not support push delivery"},
		{"{\"issuer\":\"" ISS "/\",\"jwks_uri\":\"j\",\"configuration_endpoint\":\"s\"}",
		 SR_EINVAL, "names the issuer"},
		{"{\"issuer\":\"" ISS "\",\"jwks_uri\":\"j\"}", SR_ENOTFOUND,
		 "no configuration_endpoint"},
		{"{\"issuer\":\"" ISS "\",\"configuration_endpoint\":\"s\"}", SR_EINVAL,
		 "no usable \"jwks_uri\""},
		{"{\"issuer\":\"" ISS "\",\"jwks_uri\":\"j\",\"configuration_endpoint\":\"s\","
		 "\"delivery_methods_supported\":\"urn:ietf:rfc:8935\"}", SR_EINVAL, "not an array"},
		{"<html>", SR_EINVAL, "not a JSON object"},
		{"[]", SR_EINVAL, "not a JSON object"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_ssf_transmitter t;
		struct sr_err err = {0};
		enum sr_rc rc = sr_ssfreg_parse_metadata(cases[i].doc, strlen(cases[i].doc), ISS,
							 &t, &err);
		assert_int_equal(rc, cases[i].rc);
		if (rc == SR_OK) {
			assert_string_equal(t.push_method, cases[i].method_or_msg);
			assert_string_equal(t.issuer, ISS);
		} else {
			assert_null(t.issuer);
			assert_non_null(strstr(err.msg, cases[i].method_or_msg));
		}
		sr_ssfreg_transmitter_free(&t);
	}
}

static void test_streams_and_find(void **state)
{
	static const char *const list =
		"[{\"stream_id\":\"a\",\"delivery\":{\"endpoint_url\":\"https://x/1\"}},"
		" {\"stream_id\":\"b\",\"delivery\":{\"endpoint_url\":\"https://x/2\"}}]";
	static const char *const one = "{\"stream_id\":\"c\",\"delivery\":{\"endpoint_url\":\"u\"}}";
	static const struct {
		const char *body, *msg;
	} bad[] = {
		{"nope", "not JSON"},
		{"\"s\"", "not JSON"}, /* a bare value is not a JSON text here */
		{"[{\"stream_id\":\"\"}]", "without a usable stream_id (item 0)"},
		{"[{\"stream_id\":\"a\"}, 5]", "item 1"},
	};
	struct sr_err err = {0};
	json_t *arr = NULL;
	size_t i;

	(void)state;
	assert_int_equal(sr_ssfreg_parse_streams(list, strlen(list), &arr, &err), SR_OK);
	assert_int_equal(json_array_size(arr), 2);
	assert_ptr_equal(sr_ssfreg_find(arr, NULL, "https://x/2"), json_array_get(arr, 1));
	assert_ptr_equal(sr_ssfreg_find(arr, "a", "https://x/2"), json_array_get(arr, 0));
	assert_null(sr_ssfreg_find(arr, NULL, "https://x/3"));
	assert_null(sr_ssfreg_find(arr, "z", "https://x/1"));
	json_decref(arr);
	assert_int_equal(sr_ssfreg_parse_streams(one, strlen(one), &arr, &err), SR_OK);
	assert_int_equal(json_array_size(arr), 1);
	assert_ptr_equal(sr_ssfreg_find(arr, NULL, "u"), json_array_get(arr, 0));
	json_decref(arr);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sr_err e = {0};
		arr = NULL;
		assert_int_equal(sr_ssfreg_parse_streams(bad[i].body, strlen(bad[i].body), &arr, &e),
				 SR_EINVAL);
		assert_null(arr);
		assert_non_null(strstr(e.msg, bad[i].msg));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_well_known_url),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_streams_and_find),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
