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

#endif
