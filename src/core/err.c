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
	/* One line, always: a message may quote caller input. */
	for (p = err->msg; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
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
