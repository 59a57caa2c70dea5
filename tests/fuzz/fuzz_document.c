/*
 * fuzz_document.c - libFuzzer target for sr_document_parse_text(), which
 * reads the body of POST /v1/revocations.
 *
 * The input is the request body as it arrives. Its first byte's low bit also
 * says whether JWT claims are allowed beside the document fields ('{' has it
 * set; a body starting with a space or a newline does not), so both modes are
 * reached from realistic bodies.
 *
 * Invariants: on success the document keeps every promise of sources.h (see
 * fuzz_check_document) and converts back to JSON; on failure the code is
 * SR_EINVAL (or SR_ENOMEM) with a non-empty one-line message. Everything is
 * freed, so LeakSanitizer reports any leak on either path.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "session_revoker/sources.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sr_document_limits lim = {
		.max_groups = 100,
		.max_group_length = 256,
		.skew = 60,
		.allow_jwt_claims = size > 0 && (data[0] & 1),
		/* subjects as a principal tag's values, or as source identities */
		.principal_tag = size > 0 && (data[0] & 2) ? "user" : NULL,
	};
	struct sr_document *doc = (struct sr_document *)1;
	struct sr_err err = {0};
	enum sr_rc rc;

	rc = sr_document_parse_text((const char *)data, size, &lim, FUZZ_NOW, &doc, &err);
	if (rc == SR_OK) {
		FUZZ_CHECK(err.code == SR_OK);
		fuzz_check_document(doc, &lim, FUZZ_NOW);
	} else {
		FUZZ_CHECK(rc == err.code);
		FUZZ_CHECK(doc == NULL);
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL) | FUZZ_RC(SR_ENOMEM));
	}
	sr_document_free(doc);
	return 0;
}
