/*
 * fuzz_okta.c - libFuzzer target for sr_okta_parse(), which reads the body
 * of POST /v1/events/okta (an Okta event hook delivery: the envelope with
 * eventId and data.events[]).
 *
 * Invariants: on success an envelope id of 1..512 bytes without control
 * characters, 1..SR_EVENTS_MAX_BATCH events, each at its own index; a
 * malformed event carries a non-empty one-line message of valid UTF-8
 * without control characters; a good one has an event id (its uuid), a
 * kind equal to its type, a subject and a time text, its strings within
 * their caps and free of control characters, at most 64 distinct groups;
 * an event of a type the built-in rules name has a subject (and a group for
 * group.user_membership.remove). On failure SR_EINVAL (or SR_ENOMEM) with a
 * clean message, an empty batch and no envelope id. Everything is freed,
 * so LeakSanitizer reports any leak on either path.
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
	check_clean(ev->event_id, 512);
	FUZZ_CHECK(ev->event_id[0] != '\0');
	check_clean(ev->type, 1024);
	check_clean(ev->kind, 1024);
	FUZZ_CHECK(strcmp(ev->kind, ev->type) == 0);
	FUZZ_CHECK(ev->kind[0] != '\0');
	check_clean(ev->time_text, 1024);
	check_clean(ev->subject, 512);
	if (strcmp(ev->kind, "user.lifecycle.deactivate") == 0 ||
	    strcmp(ev->kind, "user.lifecycle.suspend") == 0 ||
	    strcmp(ev->kind, "user.session.clear") == 0)
		FUZZ_CHECK(ev->subject[0] != '\0');
	if (strcmp(ev->kind, "group.user_membership.remove") == 0)
		FUZZ_CHECK(ev->subject[0] != '\0' && ev->n_groups > 0);
	FUZZ_CHECK(ev->n_groups <= 64);
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
	char *envelope = (char *)1;
	enum sr_rc rc;
	size_t i;

	rc = sr_okta_parse((const char *)data, size, &batch, &envelope, &err);
	if (rc == SR_OK) {
		FUZZ_CHECK(err.code == SR_OK);
		check_clean(envelope, 512);
		FUZZ_CHECK(envelope[0] != '\0');
		FUZZ_CHECK(batch.n > 0 && batch.n <= SR_EVENTS_MAX_BATCH);
		for (i = 0; i < batch.n; i++)
			check_event(&batch.v[i], i);
		free(envelope);
	} else {
		FUZZ_CHECK(rc == err.code);
		FUZZ_CHECK(batch.v == NULL && batch.n == 0);
		FUZZ_CHECK(envelope == NULL);
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL) | FUZZ_RC(SR_ENOMEM));
	}
	sr_event_batch_free(&batch);
	return 0;
}
