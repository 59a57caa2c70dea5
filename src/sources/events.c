/*
 * events.c - the batch of events a source delivers (events.h).
 */
#include "session_revoker/events.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void event_clear(struct sr_event *ev)
{
	free(ev->error);
	free(ev->event_id);
	free(ev->kind);
	free(ev->type);
	free(ev->subject);
	free(ev->time_text);
	sr_strv_free(ev->groups, ev->n_groups);
	sr_strv_free(ev->current, ev->n_current);
}

void sr_event_batch_free(struct sr_event_batch *batch)
{
	size_t i;

	if (batch == NULL)
		return;
	for (i = 0; i < batch->n; i++)
		event_clear(&batch->v[i]);
	free(batch->v);
	batch->v = NULL;
	batch->n = 0;
}

struct sr_event *sr_event_batch_add(struct sr_event_batch *batch)
{
	struct sr_event *v = realloc(batch->v, (batch->n + 1) * sizeof(*v));

	if (v == NULL)
		return NULL;
	batch->v = v;
	memset(&v[batch->n], 0, sizeof(v[batch->n]));
	v[batch->n].index = batch->n;
	return &v[batch->n++];
}

void sr_event_fail(struct sr_event *ev, const char *fmt, ...)
{
	char msg[300];
	struct sr_err clean = {0};
	va_list ap;

	if (ev->error != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The message may quote provider input (a jansson error quotes the
	 * bytes near it): one line of valid UTF-8, as sr_err_set() makes it. */
	sr_err_set(&clean, SR_EINVAL, "%s", msg);
	ev->error = strdup(clean.msg);
}
