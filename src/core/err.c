/*
 * err.c - the one error type: a code and the first, most specific message.
 */
#include "session_revoker/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The length of the well-formed UTF-8 character at p, 0 when it is not one
 * (a stray continuation byte, a cut sequence, an overlong or surrogate form). */
static size_t utf8_len(const unsigned char *p)
{
	size_t n, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

enum sr_rc sr_err_set(struct sr_err *err, enum sr_rc code, const char *fmt, ...)
{
	va_list ap;
	char *p;

	if (err == NULL || err->code != SR_OK)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	/* One line of valid UTF-8, always: a message may quote caller input,
	 * and a cut (by a %.Ns or by the buffer's end) may split a character. */
	for (p = err->msg; *p != '\0';) {
		unsigned char c = (unsigned char)*p;
		size_t n = utf8_len((const unsigned char *)p);
		if (n == 0) {
			*p++ = '?';
		} else if (c < 0x20 || c == 0x7f) {
			*p++ = ' ';
		} else {
			p += n;
		}
	}
	return code;
}

void sr_err_clear(struct sr_err *err)
{
	if (err == NULL)
		return;
	err->code = SR_OK;
	err->msg[0] = '\0';
}

const char *sr_rc_name(enum sr_rc code)
{
	static const char *const names[] = {
		[SR_OK] = "ok",
		[SR_EINVAL] = "invalid_request",
		[SR_EAUTH] = "invalid_token",
		[SR_EFORBIDDEN] = "insufficient_scope",
		[SR_ENOTFOUND] = "not_found",
		[SR_ECONFLICT] = "conflict",
		[SR_ETOOBIG] = "payload_too_large",
		[SR_EMEDIA] = "unsupported_media_type",
		[SR_EUNAVAIL] = "unavailable",
		[SR_ENOMEM] = "out_of_memory",
		[SR_EIO] = "io_error",
		[SR_ESTORE] = "store_error",
		[SR_ECONFIG] = "config_error",
		[SR_EINTERNAL] = "internal_error",
	};
	if ((size_t)code >= sizeof(names) / sizeof(names[0]) || names[code] == NULL)
		return "internal_error";
	return names[code];
}
