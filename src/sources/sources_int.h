/* sources_int.h - inside the sources module only: what the parsers share. */
#ifndef SESSION_REVOKER_SOURCES_INT_H
#define SESSION_REVOKER_SOURCES_INT_H

#include <jansson.h>

#include "session_revoker/events.h"
#include "session_revoker/sources.h"

/* Copies a JSON array of strings (name is its field, for messages),
 * folding duplicates: at most max_n entries of 1..max_len bytes, no Unicode
 * control or format character, no "*" padded with spaces; is_account: each
 * a 12-digit AWS account id; allow_empty: [] is fine (else refused). OUT
 * *out (NULL-terminated, sr_strv_free with *n_out), also filled on error up
 * to the entry at fault. (document.c) */
enum sr_rc sr_sources_string_list(json_t *arr, const char *name, size_t max_n, size_t max_len,
				  int is_account, int allow_empty, char ***out, size_t *n_out,
				  struct sr_err *err);

/* What the event parsers share (events.c). */

/* Whether s (len bytes, from jansson: valid UTF-8) is fit to copy: no NUL
 * inside, no control or format character, at most max bytes. NULL when it
 * is, else what is wrong. */
const char *sr_sources_str_problem(const char *s, size_t len, size_t max);

/* The string member name of obj into *out (borrowed; NULL when absent or
 * null). Marks ev malformed (naming pfx+name) when it has another type or
 * does not pass sr_sources_str_problem(). Returns 0 when ev was marked. */
int sr_sources_get_str(struct sr_event *ev, json_t *obj, const char *pfx, const char *name,
		       size_t max, const char **out);

/* *dst replaced by a copy of s; 0 when out of memory. */
int sr_sources_set_str(char **dst, const char *s);

/* Appends s to the event's groups unless it is there already; 0 when out
 * of memory. */
int sr_sources_add_group(struct sr_event *ev, const char *s);

#endif
