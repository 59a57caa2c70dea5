/*
 * fuzz_auth0.c - libFuzzer target for sr_auth0_parse(), which reads the body
 * of POST /v1/events/auth0 (an Auth0 log stream delivery: a JSON array, JSON
 * lines or one JSON object).
 *
 * Invariants: on success at most SR_EVENTS_MAX_BATCH events, each at its own
 * index; a malformed event carries a non-empty one-line message of valid
 * UTF-8 without control characters (it goes back to the sender); a good one
 * has an event id, a kind, a type, a subject and a time text, its strings
 * within their caps and free of control characters, at most 100 distinct
 * groups. On failure the code is SR_EINVAL (or SR_ENOMEM) with a clean
 * message and an empty batch. Everything is freed, so LeakSanitizer reports
 * any leak on either path.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "session_revoker/events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_clean(const char *s, size_t max)
{
	FUZZ_CHECK(s != NULL);
	FUZZ_CHECK(strlen(s) <= max);
	FUZZ_CHECK(fuzz_printable(s));
	FUZZ_CHECK(fuzz_utf8_ok(s));
	FUZZ_CHECK(!sr_utf8_has_control(s, NULL));
}

static void check_event(const struct sr_event *ev, size_t i)
{
	size_t k, j;

	FUZZ_CHECK(ev->index == i);
	if (ev->error != NULL) {
		FUZZ_CHECK(ev->error[0] != '\0');
		check_clean(ev->error, 300);
		return;
	}
	check_clean(ev->event_id, 1024);
	FUZZ_CHECK(ev->event_id[0] != '\0');
	check_clean(ev->type, 1024);
	check_clean(ev->kind, 1024);
	FUZZ_CHECK(ev->kind[0] != '\0');
	check_clean(ev->time_text, 1024);
	FUZZ_CHECK(ev->time >= 0);
	FUZZ_CHECK(ev->subject != NULL);
	/* Joined member lists: up to 100 ids of 512 bytes and the commas. */
	FUZZ_CHECK(strlen(ev->subject) <= 100 * 513);
	FUZZ_CHECK(fuzz_utf8_ok(ev->subject));
	FUZZ_CHECK(!sr_utf8_has_control(ev->subject, NULL));
	FUZZ_CHECK(ev->n_groups <= 100);
	FUZZ_CHECK((ev->groups == NULL) == (ev->n_groups == 0));
	for (k = 0; k < ev->n_groups; k++) {
		check_clean(ev->groups[k], 512);
		FUZZ_CHECK(ev->groups[k][0] != '\0');
		for (j = 0; j < k; j++)
			FUZZ_CHECK(strcmp(ev->groups[k], ev->groups[j]) != 0);
	}
	FUZZ_CHECK(!ev->has_current && ev->n_current == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sr_event_batch batch = {(struct sr_event *)1, 99};
	struct sr_err err = {0};
	enum sr_rc rc;
	size_t i;

	rc = sr_auth0_parse((const char *)data, size, &batch, &err);
	if (rc == SR_OK) {
		FUZZ_CHECK(err.code == SR_OK);
		FUZZ_CHECK(batch.n <= SR_EVENTS_MAX_BATCH);
		FUZZ_CHECK((batch.v == NULL) == (batch.n == 0));
		for (i = 0; i < batch.n; i++)
			check_event(&batch.v[i], i);
	} else {
		FUZZ_CHECK(rc == err.code);
		FUZZ_CHECK(batch.v == NULL && batch.n == 0);
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL) | FUZZ_RC(SR_ENOMEM));
	}
	sr_event_batch_free(&batch);
	return 0;
}
