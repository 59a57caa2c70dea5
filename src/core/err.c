/*
 * err.c - the one error type: a code and the first, most specific message.
 */
#include "session_revoker/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
		uint32_t cp;
		size_t n = sr_utf8_decode(p, &cp);
		if (n == 0) {
			*p++ = '?';
		} else if (c < 0x20 || c == 0x7f) {
			*p++ = ' ';
		} else if (sr_unicode_is_control(cp)) {
			/* U+0085, U+2028, a bidi override, a zero width space: a
			 * '?' where a reader would otherwise see nothing, or see the
			 * rest of the message reordered. */
			*p = '?';
			memmove(p + 1, p + n, strlen(p + n) + 1);
			p++;
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
