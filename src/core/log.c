/*
 * log.c - one line per event on stderr: logfmt (log.format "text") or one
 * JSON object (log.format "json").
 *
 * Callers pass already-formatted key=value pairs; values that come from
 * outside go through sr_log_quote() or sr_log_value(). The JSON form takes
 * those pairs apart again (a value is a bare word or a string quoted by
 * sr_log_quote(), whose only escapes are \" and \\) and builds the object
 * with jansson; every value is a JSON string. A whole line is written with
 * one fputs() on an unbuffered stream, so lines from threads never mix.
 */
#include "session_revoker/core.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

static _Atomic int min_level = SR_LOG_INFO;
static _Atomic int format = SR_LOG_TEXT;

void sr_log_set_level(enum sr_log_level level)
{
	atomic_store(&min_level, (int)level);
}

void sr_log_set_format(enum sr_log_format f)
{
	atomic_store(&format, (int)f);
}

enum sr_log_format sr_log_get_format(void)
{
	return (enum sr_log_format)atomic_load(&format);
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

char *sr_log_value(char *out, size_t cap, const char *value)
{
	const char *p;

	for (p = value ? value : ""; *p != '\0'; p++)
		if (*p <= ' ' || *p > '~' || *p == '"' || *p == '\\' || *p == '=')
			break;
	if (value == NULL || value[0] == '\0' || *p != '\0' || strlen(value) >= cap)
		return sr_log_quote(out, cap, value);
	memcpy(out, value, strlen(value) + 1);
	return out;
}

/* s (n bytes, NUL-terminated) as a JSON string; bytes that are not UTF-8
 * become '?'. */
static json_t *json_text(char *s, size_t n)
{
	json_t *v = json_stringn(s, n);
	size_t i, len;
	uint32_t cp;

	if (v != NULL)
		return v;
	for (i = 0; i < n; i += len) {
		len = sr_utf8_decode(s + i, &cp);
		if (len == 0) {
			s[i] = '?';
			len = 1;
		}
	}
	return json_stringn(s, n);
}

/* Sets key (klen bytes) to val in obj, appending '_' while the key is
 * taken: the line's own members (time, level, msg) are never overwritten. */
static void put(json_t *obj, const char *key, size_t klen, json_t *val)
{
	char name[80];

	if (val == NULL)
		return;
	if (klen >= sizeof(name) - 8)
		klen = sizeof(name) - 8;
	memcpy(name, key, klen);
	name[klen] = '\0';
	while (json_object_get(obj, name) != NULL && klen < sizeof(name) - 1) {
		name[klen++] = '_';
		name[klen] = '\0';
	}
	json_object_set_new(obj, name, val);
}

void sr_log_fields_to_json(json_t *obj, const char *fields)
{
	size_t cap = fields ? strlen(fields) + 1 : 1;
	char *val = malloc(cap), *junk = malloc(cap);
	const char *p = fields ? fields : "";
	size_t nj = 0;

	if (val == NULL || junk == NULL)
		goto out;
	while (*p != '\0') {
		size_t klen, n = 0;
		const char *key;

		p += strspn(p, " ");
		if (*p == '\0')
			break;
		key = p;
		klen = strcspn(p, "= \"");
		if (klen == 0 || p[klen] != '=') {
			/* not key=value: kept, word by word, in "unparsed" */
			size_t w = strcspn(p, " ");
			if (nj > 0)
				junk[nj++] = ' ';
			memcpy(junk + nj, p, w);
			nj += w;
			p += w;
			continue;
		}
		p += klen + 1;
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				val[n++] = *p;
			}
			if (*p == '"')
				p++;
		} else {
			n = strcspn(p, " ");
			memcpy(val, p, n);
			p += n;
		}
		val[n] = '\0';
		put(obj, key, klen, json_text(val, n));
	}
	if (nj > 0) {
		junk[nj] = '\0';
		put(obj, "unparsed", 8, json_text(junk, nj));
	}
out:
	free(val);
	free(junk);
}

static void write_json(const char *ts, const char *level, const char *event,
		       const char *fields)
{
	json_t *obj = json_object();
	char *text = NULL, *line;
	size_t n;

	if (obj == NULL)
		return;
	json_object_set_new(obj, "time", json_string(ts));
	json_object_set_new(obj, "level", json_string(level));
	json_object_set_new(obj, "msg", json_string(event));
	sr_log_fields_to_json(obj, fields);
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (text == NULL)
		return;
	n = strlen(text);
	line = realloc(text, n + 2);
	if (line == NULL) {
		free(text);
		return;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	fputs(line, stderr);
	free(line);
}

void sr_log(enum sr_log_level level, const char *event, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	char line[2048];
	char ts[40];
	struct timespec now;
	struct tm tm;
	va_list ap;
	int n;

	if ((int)level < atomic_load(&min_level))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03ldZ", now.tv_nsec / 1000000L);
	if (atomic_load(&format) == SR_LOG_JSON) {
		line[0] = '\0';
		if (fmt != NULL && fmt[0] != '\0') {
			va_start(ap, fmt);
			vsnprintf(line, sizeof(line), fmt, ap);
			va_end(ap);
		}
		write_json(ts, names[level], event, line);
		return;
	}
	n = snprintf(line, sizeof(line), "ts=%s level=%s msg=%s", ts, names[level], event);
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
