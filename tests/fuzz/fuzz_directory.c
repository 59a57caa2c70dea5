/*
 * fuzz_directory.c - libFuzzer target for the readers of what an identity
 * provider's directory answers (src/ingest/directory.c): the generic HTTP
 * directory's groups, Auth0's roles of a user, a user's app_metadata field,
 * the client credentials token answer, the newest log event's log_id and a
 * user's attribute (rule target "user": the email a person is revoked by).
 * Their bytes come from the network.
 *
 * The input's first byte picks the reader ('h', 'r', 'u', 't', 'l', 'a'; any
 * other byte by its value modulo 6), the rest is the answer's body.
 *
 * Invariants: on success every group is a distinct, non-empty string of at
 * most 256 bytes without control characters, at most 1,000 of them; a token
 * or log_id carries only visible ASCII (it goes into a header or a URL); an
 * attribute is NULL or a non-empty string of valid UTF-8; on
 * failure the code is SR_EUNAVAIL (or SR_ENOMEM), the message is one clean
 * line, and nothing is handed out. Everything is freed on both paths.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ingest/directory_int.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_groups(char **groups, size_t n)
{
	size_t i, j;

	FUZZ_CHECK(groups != NULL);
	FUZZ_CHECK(n <= SR_DIR_MAX_GROUPS);
	for (i = 0; i < n; i++) {
		size_t len = strlen(groups[i]);
		FUZZ_CHECK(len >= 1 && len <= SR_DIR_MAX_GROUP_LEN);
		FUZZ_CHECK(fuzz_printable(groups[i]));
		FUZZ_CHECK(!sr_utf8_has_control(groups[i], NULL));
		FUZZ_CHECK(fuzz_utf8_ok(groups[i]));
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(groups[i], groups[j]) != 0);
	}
}

static void check_visible(const char *s, size_t max)
{
	size_t i, len = strlen(s);

	FUZZ_CHECK(len >= 1 && len <= max);
	for (i = 0; i < len; i++)
		FUZZ_CHECK((unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data + 1;
	struct sr_err err = {0};
	char **groups = NULL, *s = NULL;
	size_t n = 0, page_n = 0, len;
	int64_t expires_in = 0;
	enum sr_rc rc;
	int which;

	if (size == 0)
		return 0;
	len = size - 1;
	switch (data[0]) {
	case 'h': which = 0; break;
	case 'r': which = 1; break;
	case 'u': which = 2; break;
	case 't': which = 3; break;
	case 'l': which = 4; break;
	case 'a': which = 5; break;
	default: which = data[0] % 6;
	}
	switch (which) {
	case 0:
		rc = sr_directory_parse_http(body, len, &groups, &n, &err);
		break;
	case 1:
		rc = sr_directory_parse_roles(body, len, &groups, &n, &page_n, &err);
		break;
	case 2:
		rc = sr_directory_parse_user(body, len, "groups", &groups, &n, &err);
		break;
	case 3:
		rc = sr_directory_parse_token(body, len, &s, &expires_in, &err);
		break;
	case 4:
		rc = sr_directory_parse_first_log_id(body, len, &s, &err);
		break;
	default:
		rc = sr_directory_parse_attribute(body, len, "email", &s, &err);
	}
	if (rc == SR_OK) {
		FUZZ_CHECK(err.code == SR_OK);
		if (which <= 2)
			check_groups(groups, n);
		if (which == 1)
			FUZZ_CHECK(n <= page_n);
		if (which == 3) {
			check_visible(s, 16 * 1024);
			FUZZ_CHECK(expires_in > 0);
		}
		if (which == 4 && s != NULL)
			check_visible(s, 128);
		if (which == 5 && s != NULL) {
			FUZZ_CHECK(strlen(s) >= 1 && strlen(s) < len);
			FUZZ_CHECK(fuzz_utf8_ok(s));
		}
	} else {
		FUZZ_CHECK(rc == err.code);
		fuzz_check_err(&err, FUZZ_RC(SR_EUNAVAIL) | FUZZ_RC(SR_ENOMEM));
		FUZZ_CHECK(s == NULL);
		FUZZ_CHECK(which == 1 || (groups == NULL && n == 0));
	}
	sr_strv_free(groups, n);
	free(s);
	return 0;
}
