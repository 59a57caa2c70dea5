/*
 * fuzz_ssf.c - libFuzzer target for sr_ssf_parse(), which reads the claims
 * of a Security Event Token pushed to POST /v1/events/ssf (after the SET's
 * signature held: a transmitter's bytes all the same).
 *
 * The input is the claims' JSON text, read as the auth module reads a
 * token's payload (json_loadb, duplicate keys refused); what jansson
 * refuses never reaches the parser.
 *
 * Invariants: on success exactly one event with error NULL; event_id (the
 * jti) 1..512 bytes without control characters; kind one of the known
 * kinds or the event type URI (at most 256 bytes, no control characters);
 * subject at most 512 bytes, no control characters, empty only for the
 * verification event; the time from 0 to now plus the skew, time_text set;
 * no groups. On failure SR_EINVAL (or SR_ENOMEM) with a clean one-line
 * message and an empty batch. Everything is freed.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "session_revoker/events.h"

#define SKEW 60

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int known_kind(const char *k)
{
	static const char *const kinds[] = {"session_revoked", "credential_change",
					    "account_disabled", "account_purged", "verification"};
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(k, kinds[i]) == 0)
			return 1;
	return 0;
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
	rc = sr_ssf_parse(obj, FUZZ_NOW, SKEW, &batch, &err);
	if (rc == SR_OK) {
		const struct sr_event *ev = &batch.v[0];

		FUZZ_CHECK(err.code == SR_OK);
		FUZZ_CHECK(batch.n == 1 && ev->index == 0 && ev->error == NULL);
		FUZZ_CHECK(strlen(ev->event_id) >= 1 && strlen(ev->event_id) <= 512);
		FUZZ_CHECK(!sr_utf8_has_control(ev->event_id, NULL));
		FUZZ_CHECK(known_kind(ev->kind) || (strcmp(ev->kind, ev->type) == 0 &&
						    strlen(ev->kind) <= 256 &&
						    !sr_utf8_has_control(ev->kind, NULL)));
		FUZZ_CHECK(strlen(ev->subject) <= 512 && !sr_utf8_has_control(ev->subject, NULL));
		FUZZ_CHECK(ev->subject[0] != '\0' || strcmp(ev->kind, "verification") == 0);
		FUZZ_CHECK(ev->time >= 0 && ev->time <= FUZZ_NOW + SKEW);
		FUZZ_CHECK(ev->time_text != NULL);
		FUZZ_CHECK(ev->n_groups == 0 && ev->groups == NULL);
	} else {
		FUZZ_CHECK(rc == err.code);
		FUZZ_CHECK(batch.v == NULL && batch.n == 0);
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL) | FUZZ_RC(SR_ENOMEM));
	}
	sr_event_batch_free(&batch);
	json_decref(obj);
	return 0;
}
