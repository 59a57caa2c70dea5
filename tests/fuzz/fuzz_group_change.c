/*
 * fuzz_group_change.c - libFuzzer target for sr_group_change_parse(), which
 * reads a group-change event (POST /v1/events/group-change: a JSON body sent
 * with a Bearer token, or the claims of a verified JWT).
 *
 * The input is the JSON text, read as the HTTP layer reads it (json_loadb,
 * duplicate keys refused); what jansson refuses never reaches the parser.
 *
 * Invariants: on success exactly one event: kind "groups_removed" exactly
 * when it names groups, else "user_changed"; event_id 1..256 bytes, subject
 * 1..512, no control characters; groups and current groups at most 100,
 * distinct, non-empty, at most 256 bytes; the time not later than now plus
 * the skew. On failure SR_EINVAL (or SR_ENOMEM) with a clean one-line
 * message and an empty batch. Everything is freed.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "session_revoker/events.h"

#define SKEW 60

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_list(char **v, size_t n)
{
	size_t i, j;

	FUZZ_CHECK(n <= 100);
	FUZZ_CHECK((v == NULL) == (n == 0));
	for (i = 0; i < n; i++) {
		size_t len = strlen(v[i]);

		FUZZ_CHECK(len >= 1 && len <= 256);
		FUZZ_CHECK(fuzz_printable(v[i]) && !sr_utf8_has_control(v[i], NULL));
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(v[i], v[j]) != 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sr_event_batch batch = {0};
	struct sr_err err = {0};
	json_error_t jerr;
	json_t *obj;
	enum sr_rc rc;

	obj = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL)
		return 0;
	rc = sr_group_change_parse(obj, FUZZ_NOW, SKEW, &batch, &err);
	if (rc == SR_OK) {
		const struct sr_event *ev = &batch.v[0];

		FUZZ_CHECK(err.code == SR_OK);
		FUZZ_CHECK(batch.n == 1 && ev->index == 0 && ev->error == NULL);
		FUZZ_CHECK(strlen(ev->event_id) >= 1 && strlen(ev->event_id) <= 256);
		FUZZ_CHECK(!sr_utf8_has_control(ev->event_id, NULL));
		FUZZ_CHECK(strlen(ev->subject) >= 1 && strlen(ev->subject) <= 512);
		FUZZ_CHECK(!sr_utf8_has_control(ev->subject, NULL));
		FUZZ_CHECK(ev->time <= FUZZ_NOW + SKEW && ev->time >= 0);
		FUZZ_CHECK(ev->time_text != NULL);
		check_list(ev->groups, ev->n_groups);
		check_list(ev->current, ev->n_current);
		FUZZ_CHECK(ev->has_current || ev->n_current == 0);
		FUZZ_CHECK(strcmp(ev->kind, ev->n_groups > 0 ? "groups_removed" : "user_changed") == 0);
	} else {
		FUZZ_CHECK(rc == err.code);
		FUZZ_CHECK(batch.v == NULL && batch.n == 0);
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL) | FUZZ_RC(SR_ENOMEM));
	}
	sr_event_batch_free(&batch);
	json_decref(obj);
	return 0;
}
