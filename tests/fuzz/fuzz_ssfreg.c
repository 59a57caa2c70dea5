/*
 * fuzz_ssfreg.c - libFuzzer target for what `session-revoker ssf register`
 * reads from a Shared Signals transmitter (ssfreg.h): its metadata document
 * (sr_ssfreg_parse_metadata), its configuration endpoint's stream answers
 * (sr_ssfreg_parse_streams, sr_ssfreg_find), and the well-known address
 * built from an issuer (sr_ssfreg_well_known_url).
 *
 * The first byte picks the reader ('m' metadata, 's' streams, anything else
 * the address); the rest is its input.
 *
 * Invariants: metadata on success has issuer equal to the one asked for, a
 * jwks_uri and a configuration_endpoint, and one of the two push method
 * URIs; streams on success is an array whose every item has a non-empty
 * string stream_id, and find() returns one of its items or NULL; the
 * address on success starts with the scheme and contains
 * "/.well-known/ssf-configuration". Every failure carries a clean one-line
 * message. Everything is freed.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "session_revoker/ssfreg.h"

#define ISSUER "https://tr.example.com/issuer1"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void metadata(const char *p, size_t n)
{
	struct sr_ssf_transmitter t;
	struct sr_err err = {0};

	if (sr_ssfreg_parse_metadata(p, n, ISSUER, &t, &err) == SR_OK) {
		FUZZ_CHECK(strcmp(t.issuer, ISSUER) == 0);
		FUZZ_CHECK(t.jwks_uri[0] != '\0' && t.configuration_endpoint[0] != '\0');
		FUZZ_CHECK(strcmp(t.push_method, SR_SSF_PUSH_RFC8935) == 0 ||
			   strcmp(t.push_method, SR_SSF_PUSH_RISC) == 0);
		sr_ssfreg_transmitter_free(&t);
	} else {
		FUZZ_CHECK(t.issuer == NULL && t.push_method == NULL);
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL) | FUZZ_RC(SR_ENOTFOUND) |
					     FUZZ_RC(SR_ECONFLICT) | FUZZ_RC(SR_ENOMEM));
	}
}

static void streams(const char *p, size_t n)
{
	struct sr_err err = {0};
	json_t *arr = NULL, *s, *f;
	size_t i;
	int in = 0;

	if (sr_ssfreg_parse_streams(p, n, &arr, &err) != SR_OK) {
		FUZZ_CHECK(arr == NULL);
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL) | FUZZ_RC(SR_ENOMEM));
		return;
	}
	FUZZ_CHECK(json_is_array(arr));
	json_array_foreach(arr, i, s)
		FUZZ_CHECK(json_string_length(json_object_get(s, "stream_id")) > 0);
	f = sr_ssfreg_find(arr, NULL, "https://revoker.example.com/v1/events/ssf");
	json_array_foreach(arr, i, s)
		in |= s == f;
	FUZZ_CHECK(f == NULL || in);
	json_decref(arr);
}

static void address(const char *p, size_t n)
{
	struct sr_err err = {0};
	char *issuer = malloc(n + 1), *url = NULL;

	if (issuer == NULL)
		return;
	memcpy(issuer, p, n);
	issuer[n] = '\0';
	if (sr_ssfreg_well_known_url(issuer, &url, &err) == SR_OK) {
		FUZZ_CHECK(strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0);
		FUZZ_CHECK(strstr(url, "/.well-known/ssf-configuration") != NULL);
		free(url);
	} else {
		FUZZ_CHECK(url == NULL);
		FUZZ_CHECK(err.code == SR_EINVAL || err.code == SR_ENOMEM);
		FUZZ_CHECK(err.msg[0] != '\0');
	}
	free(issuer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;

	if (size < 1)
		return 0;
	if (data[0] == 'm')
		metadata(p, size - 1);
	else if (data[0] == 's')
		streams(p, size - 1);
	else
		address(p, size - 1);
	return 0;
}
