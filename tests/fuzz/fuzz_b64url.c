/*
 * fuzz_b64url.c - libFuzzer target for sr_b64url_decode(), which decodes
 * every part of every JWT and every JWK member.
 *
 * The input is handed over without a terminating NUL, so reading past len is
 * an ASan report. The oracle is independent of the code under test:
 *  - the input is valid exactly when its length is not 1 mod 4, every byte
 *    is in the base64url alphabet (no padding, no white space), the bits of
 *    the last character past the last whole byte are zero (canonical: one
 *    spelling per byte string, mint.c), and it is within the 16 MiB cap;
 *  - on success the length is floor(len * 3 / 4), a NUL follows the bytes,
 *    and encoding them again (EVP_EncodeBlock + translation) gives back
 *    exactly the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "session_revoker/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The 6-bit value of a base64url character, or -1. */
static int b64url_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '-' ? 62 : c == '_' ? 63 : -1;
}

static int b64url_valid(const uint8_t *data, size_t size)
{
	size_t i;

	if (size % 4 == 1 || size > (1u << 24))
		return 0;
	for (i = 0; i < size; i++)
		if (b64url_value(data[i]) < 0)
			return 0;
	/* 2 characters carry 12 bits for 8, 3 carry 18 for 16. */
	if (size % 4 == 2)
		return (b64url_value(data[size - 1]) & 0x0f) == 0;
	if (size % 4 == 3)
		return (b64url_value(data[size - 1]) & 0x03) == 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sr_err err = {0};
	unsigned char *out = NULL, *again = NULL;
	size_t out_len = 0, again_len = 0;
	char *enc;
	int valid = b64url_valid(data, size);
	enum sr_rc rc;

	rc = sr_b64url_decode((const char *)data, size, &out, &out_len, &err);
	if (rc != SR_OK) {
		FUZZ_CHECK(!valid);
		FUZZ_CHECK(out == NULL);
		FUZZ_CHECK(rc == err.code);
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL));
		return 0;
	}
	FUZZ_CHECK(valid);
	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(out_len == size * 3 / 4);
	FUZZ_CHECK(out[out_len] == '\0');

	enc = fuzz_b64url_encode(out, out_len);
	FUZZ_CHECK(enc != NULL);
	FUZZ_CHECK(strlen(enc) == size);
	FUZZ_CHECK(memcmp(enc, data, size) == 0);
	FUZZ_CHECK(sr_b64url_decode(enc, strlen(enc), &again, &again_len, NULL) == SR_OK);
	FUZZ_CHECK(again_len == out_len && memcmp(again, out, out_len) == 0);

	free(again);
	free(enc);
	free(out);
	return 0;
}
