/*
 * unicode.c - control and format characters in UTF-8 text.
 *
 * DESIGN: what counts as a control character is a table generated from the
 * Unicode Character Database (scripts/gen-unicode-controls.py writes
 * unicode_controls.inc from Python's unicodedata): the general categories
 * Cc (C0/C1 controls, U+0085 NEL), Cf (format: U+200B zero width space,
 * U+202E right-to-left override, U+FEFF, tag characters), Zl (U+2028) and
 * Zp (U+2029). Text reaching these functions has been checked to be UTF-8
 * by jansson, but each sequence is decoded strictly anyway: a malformed one
 * counts as a control.
 */
#include "session_revoker/core.h"

#include <stdlib.h>
#include <string.h>

#include "unicode_controls.inc"

bool sr_unicode_is_control(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(control_ranges) / sizeof(control_ranges[0]);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cp < control_ranges[mid].lo)
			hi = mid;
		else if (cp > control_ranges[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

size_t sr_utf8_decode(const char *s, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, i;
	uint32_t v;

	if (p[0] < 0x80) {
		*cp = p[0];
		return p[0] != 0;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, v = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, v = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, v = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) ||
	    (n == 4 && (v < 0x10000 || v > 0x10ffff)))
		return 0;
	*cp = v;
	return n;
}

bool sr_utf8_has_control(const char *s, uint32_t *found)
{
	uint32_t cp = 0;
	size_t n;

	for (; *s != '\0'; s += n)
		if ((n = sr_utf8_decode(s, &cp)) == 0 || sr_unicode_is_control(cp)) {
			if (found != NULL)
				*found = n == 0 ? 0xFFFD : cp;
			return true;
		}
	return false;
}

char *sr_utf8_strip_controls(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;
	uint32_t cp;
	size_t n;

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s += n) {
		n = sr_utf8_decode(s, &cp);
		if (n == 0) { /* not UTF-8: one byte dropped */
			n = 1;
			continue;
		}
		if (!sr_unicode_is_control(cp)) {
			memcpy(o, s, n);
			o += n;
		} else if (cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c ||
			   cp == 0x85 || cp == 0x2028 || cp == 0x2029) {
			/* A line break or tab still separates words. */
			if (o > out && o[-1] != ' ')
				*o++ = ' ';
		}
	}
	*o = '\0';
	return out;
}
