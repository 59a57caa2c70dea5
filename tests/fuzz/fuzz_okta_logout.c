/*
 * fuzz_okta_logout.c - libFuzzer target for sr_okta_logout_parse(), which
 * reads the body of POST /v1/events/okta/logout (an Okta Universal Logout
 * request: {"sub_id": {"format": "email"|"iss_sub", ...}}).
 *
 * Invariants: on success exactly one event at index 0, of kind
 * universal_logout, type email or iss_sub, the given id, the given time,
 * a subject of 1..512 bytes free of control characters (an email with an
 * '@' not first), no groups; on failure SR_EINVAL (or SR_ENOMEM) with a
 * clean message and an empty batch. Everything is freed, so LeakSanitizer
 * reports any leak on either path.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "session_revoker/events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ID "https://example.okta.com#jti-1"
#define NOW 1773306000

static void check_clean(const char *s, size_t max)
{
	FUZZ_CHECK(s != NULL);
	FUZZ_CHECK(strlen(s) <= max);
	FUZZ_CHECK(fuzz_printable(s));
	FUZZ_CHECK(fuzz_utf8_ok(s));
	FUZZ_CHECK(!sr_utf8_has_control(s, NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sr_event_batch batch = {(struct sr_event *)1, 99};
	struct sr_err err = {0};
	const struct sr_event *ev;
	enum sr_rc rc;

	rc = sr_okta_logout_parse((const char *)data, size, ID, NOW, &batch, &err);
	if (rc == SR_OK) {
		FUZZ_CHECK(err.code == SR_OK);
		FUZZ_CHECK(batch.n == 1);
		ev = &batch.v[0];
		FUZZ_CHECK(ev->index == 0 && ev->error == NULL);
		FUZZ_CHECK(strcmp(ev->kind, "universal_logout") == 0);
		FUZZ_CHECK(strcmp(ev->event_id, ID) == 0);
		FUZZ_CHECK(ev->time == NOW);
		check_clean(ev->subject, 512);
		FUZZ_CHECK(ev->subject[0] != '\0');
		if (strcmp(ev->type, "email") == 0)
			FUZZ_CHECK(ev->subject[0] != '@' && strchr(ev->subject, '@') != NULL);
		else
			FUZZ_CHECK(strcmp(ev->type, "iss_sub") == 0);
		FUZZ_CHECK(ev->n_groups == 0 && ev->groups == NULL);
		FUZZ_CHECK(!ev->has_current && ev->n_current == 0);
	} else {
		FUZZ_CHECK(rc == err.code);
		FUZZ_CHECK(batch.v == NULL && batch.n == 0);
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL) | FUZZ_RC(SR_ENOMEM));
	}
	sr_event_batch_free(&batch);
	return 0;
}
