/*
 * log.c - one logfmt line per event on stderr.
 *
 * Callers pass already-formatted key=value pairs; values that come from
 * outside go through sr_log_quote(). A whole line is written with one
 * fputs() on an unbuffered-by-line stream, so lines from threads never mix.
 */
#include "session_revoker/core.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int min_level = SR_LOG_INFO;

void sr_log_set_level(enum sr_log_level level)
{
	atomic_store(&min_level, (int)level);
}

char *sr_log_quote(char *out, size_t cap, const char *value)
{
	size_t o = 0, n;
	const char *p;

	if (cap < 3) {
		if (cap > 0)
			out[0] = '\0';
		return out;
	}
	out[o++] = '"';
	for (p = value ? value : ""; *p != '\0' && o + 4 < cap; p += n) {
		unsigned char c = (unsigned char)*p;
		uint32_t cp;
		n = sr_utf8_decode(p, &cp);
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (n == 0 || sr_unicode_is_control(cp)) {
			/* C0/C1 controls, U+2028, bidi overrides, bytes that are
			 * not UTF-8: never into a log line. */
			out[o++] = '?';
			n = n ? n : 1;
		} else if (o + n + 2 < cap) {
			memcpy(out + o, p, n);
			o += n;
		} else {
			break; /* never cut a character */
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

void sr_log(enum sr_log_level level, const char *event, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	char line[2048];
	char ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;
	int n;

	if ((int)level < atomic_load(&min_level))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "ts=%s.%03ldZ level=%s msg=%s", ts,
		     now.tv_nsec / 1000000L, names[level], event);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	if (fmt != NULL && fmt[0] != '\0' && (size_t)n < sizeof(line) - 3) {
		line[n++] = ' ';
		va_start(ap, fmt);
		int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
		va_end(ap);
		if (m > 0)
			n += m;
		if ((size_t)n > sizeof(line) - 2)
			n = (int)sizeof(line) - 2;
	}
	line[n++] = '\n';
	line[n] = '\0';
	fputs(line, stderr);
}
