/*
 * events.c - the batch of events a source delivers (events.h).
 */
#include "session_revoker/events.h"
#include "sources_int.h"

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
	free(ev->email);
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

const char *sr_sources_str_problem(const char *s, size_t len, size_t max)
{
	if (len > max)
		return "too long";
	if (strlen(s) != len || sr_utf8_has_control(s, NULL))
		return "holds control characters";
	return NULL;
}

int sr_sources_get_str(struct sr_event *ev, json_t *obj, const char *pfx, const char *name,
		       size_t max, const char **out)
{
	json_t *v = json_object_get(obj, name);
	const char *why;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 1;
	if (!json_is_string(v)) {
		sr_event_fail(ev, "%s%s: must be a string", pfx, name);
		return 0;
	}
	why = sr_sources_str_problem(json_string_value(v), json_string_length(v), max);
	if (why != NULL) {
		sr_event_fail(ev, "%s%s: %s", pfx, name, why);
		return 0;
	}
	*out = json_string_value(v);
	return 1;
}

int sr_sources_set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = strdup(s);
	return *dst != NULL;
}

int sr_sources_add_group(struct sr_event *ev, const char *s)
{
	char **v;
	size_t i;

	for (i = 0; i < ev->n_groups; i++)
		if (strcmp(ev->groups[i], s) == 0)
			return 1;
	v = realloc(ev->groups, (ev->n_groups + 1) * sizeof(*v));
	if (v == NULL)
		return 0;
	ev->groups = v;
	if ((v[ev->n_groups] = strdup(s)) == NULL)
		return 0;
	ev->n_groups++;
	return 1;
}
