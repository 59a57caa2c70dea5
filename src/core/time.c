/*
 * time.c - sr_time_parse(): the cut-off times an operator types.
 *
 * DESIGN: the revocation document's "time" (README.md, "API") is typed or pasted
 * by a person, so we take every common spelling and refuse everything else
 * with a message that quotes the value. Accepted, case-insensitive, with
 * surrounding whitespace trimmed:
 *
 *   RFC 3339 / ISO 8601   2026-03-12T09:08:31Z, 2026-03-12 09:08:31.123+02:00,
 *                         2026-03-12T09:08-0530, 2026-03-12 (midnight UTC);
 *                         no zone means UTC
 *   RFC 2822 / HTTP       [Thu, ]12 Mar 2026 09:08[:31] +0000|GMT|EST|...,
 *                         Thursday, 12-Mar-26 09:08:31 GMT (RFC 850),
 *                         Thu Mar 12 09:08:31 [UTC ]2026 (asctime, date(1))
 *   Unix seconds          1773306511, 1773306511.25 (fraction dropped)
 *   keywords              now, today, yesterday (midnight UTC)
 *   relative              30 minutes ago, 30 min ago, 2h ago, an hour ago
 *
 * Hand-written: nothing on Debian parses all of these. strptime() takes one
 * fixed format at a time and reads month names through the locale, getdate()
 * needs a DATEMSK template file, curl_getdate() knows only the HTTP forms (and
 * sr_core depends on nothing). The parser works on a lowercased copy of at
 * most MAX_LEN bytes; every number has a bounded count of digits, so nothing
 * overflows; every field is range-checked, a weekday must match its date, and
 * the result must lie in 1970-01-01 .. 9999-12-31T23:59:59Z.
 */
#include "session_revoker/core.h"

#include <stdbool.h>
#include <string.h>

#define MAX_LEN 63			/* longer than any accepted spelling */
#define MAX_AGO 1000000000		/* "N units ago": N at most 10^9 */
#define T_MAX INT64_C(253402300799)	/* 9999-12-31T23:59:59Z */

/* A broken-down time as read; off is the zone's offset east of UTC. */
struct stamp {
	int year, mon, day, hour, min, sec;
	int wday;	/* 0 = Sunday; -1 when not given */
	int off;	/* seconds */
};

static const char *const months[] = {
	"january", "february", "march", "april", "may", "june", "july",
	"august", "september", "october", "november", "december",
};

static const char *const wdays[] = {
	"sunday", "monday", "tuesday", "wednesday", "thursday", "friday",
	"saturday",
};

/* Zone names (seconds east of UTC) and "ago" units (seconds). */
struct word {
	const char *name;
	int64_t val;
};

static const struct word zones[] = {
	{"z", 0}, {"ut", 0}, {"utc", 0}, {"gmt", 0},
	{"est", -5 * 3600}, {"edt", -4 * 3600}, {"cst", -6 * 3600},
	{"cdt", -5 * 3600}, {"mst", -7 * 3600}, {"mdt", -6 * 3600},
	{"pst", -8 * 3600}, {"pdt", -7 * 3600},
};

static const struct word units[] = {
	{"s", 1}, {"sec", 1}, {"secs", 1}, {"second", 1}, {"seconds", 1},
	{"m", 60}, {"min", 60}, {"mins", 60}, {"minute", 60}, {"minutes", 60},
	{"h", 3600}, {"hr", 3600}, {"hrs", 3600}, {"hour", 3600}, {"hours", 3600},
	{"d", 86400}, {"day", 86400}, {"days", 86400},
	{"w", 604800}, {"week", 604800}, {"weeks", 604800},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_space(char c)
{
	return c != '\0' && strchr(" \t\n\r\v\f", c) != NULL;
}

/* Skips blanks; returns how many. */
static size_t blanks(const char **pp)
{
	size_t n = 0;

	while ((*pp)[n] == ' ')
		n++;
	*pp += n;
	return n;
}

/* Reads min (>= 1) to max (<= 4) digits into *v; returns how many were
 * read, 0 (and reads nothing) when fewer than min. */
static int digits(const char **pp, int min, int max, int *v)
{
	const char *p = *pp;
	int n = 0, x = 0;

	while (n < max && is_digit(p[n])) {
		x = x * 10 + (p[n] - '0');
		n++;
	}
	if (n < min)
		return 0;
	*pp = p + n;
	*v = x;
	return n;
}

static size_t word_len(const char *p)
{
	size_t n = 0;

	while (p[n] >= 'a' && p[n] <= 'z')
		n++;
	return n;
}

/* A month or weekday name, full or its first three letters; -1 if none. */
static int name_index(const char *w, size_t n, const char *const *tab,
		      size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		if ((n == 3 || n == strlen(tab[i])) && strncmp(tab[i], w, n) == 0)
			return (int)i;
	return -1;
}

/* The entry of tab named exactly w[0..n), or NULL. */
static const struct word *find_word(const struct word *tab, size_t count,
				    const char *w, size_t n)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (strlen(tab[i].name) == n && strncmp(tab[i].name, w, n) == 0)
			return &tab[i];
	return NULL;
}

/* Skips an optional ".digits" (dropped); false when '.' has no digits. */
static bool skip_fraction(const char **pp)
{
	if (**pp != '.')
		return true;
	if (!is_digit(*++*pp))
		return false;
	while (is_digit(**pp))
		(*pp)++;
	return true;
}

/* HH:MM[:SS[.fraction]]; the fraction is dropped. */
static const char *parse_clock(const char **pp, struct stamp *t)
{
	if (!digits(pp, 2, 2, &t->hour) || **pp != ':')
		return "expected HH:MM";
	(*pp)++;
	if (!digits(pp, 2, 2, &t->min))
		return "expected HH:MM";
	if (**pp != ':')
		return NULL;
	(*pp)++;
	if (!digits(pp, 2, 2, &t->sec))
		return "expected two-digit seconds";
	return skip_fraction(pp) ? NULL : "expected digits after '.'";
}

/* +HH, +HHMM, +HH:MM (or -) or a zone name from the table. */
static const char *parse_zone(const char **pp, int *off)
{
	const struct word *z;
	const char *p = *pp;
	int sign, h, m = 0;

	if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		p++;
		if (!digits(&p, 2, 2, &h))
			return "bad zone offset";
		if (*p == ':' || is_digit(*p)) {
			if (*p == ':')
				p++;
			if (!digits(&p, 2, 2, &m))
				return "bad zone offset";
		}
		if (h > 23 || m > 59)
			return "zone offset out of range";
		*off = sign * (h * 3600 + m * 60);
		*pp = p;
		return NULL;
	}
	z = find_word(zones, COUNT(zones), p, word_len(p));
	if (z == NULL)
		return "unknown time zone";
	*off = (int)z->val;
	*pp = p + strlen(z->name);
	return NULL;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int y, int m, int d)
{
	int era, yoe, doy, doe;

	y -= m <= 2;
	era = y / 400;			/* y >= 1969 here: no negative case */
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int64_t)era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : mdays[m - 1];
}

static const char *stamp_to_unix(struct stamp *t, int64_t *out)
{
	int64_t days;

	if (t->year < 1970 || t->year > 9999)
		return "year out of range (1970-9999)";
	if (t->mon < 1 || t->mon > 12)
		return "month out of range";
	if (t->day < 1 || t->day > days_in_month(t->year, t->mon))
		return "day out of range for the month";
	if (t->hour > 23 || t->min > 59 || t->sec > 60)
		return "time of day out of range";
	if (t->sec == 60)
		t->sec = 59;	/* a leap second: the moment just before */
	days = days_from_civil(t->year, t->mon, t->day);
	if (t->wday >= 0 && (days + 4) % 7 != t->wday)
		return "weekday does not match the date";
	*out = days * 86400 + t->hour * 3600 + t->min * 60 + t->sec - t->off;
	return NULL;
}

/* HH:MM[:SS[.f]] [zone] up to the end of the text. */
static const char *parse_time_zone(const char *p, struct stamp *t)
{
	const char *why;

	if ((why = parse_clock(&p, t)) != NULL)
		return why;
	blanks(&p);
	if (*p != '\0' && (why = parse_zone(&p, &t->off)) != NULL)
		return why;
	return *p == '\0' ? NULL : "unexpected text after the time";
}

/* YYYY-MM-DD[(T| )HH:MM[:SS[.f]][ ][zone]] */
static const char *parse_iso(const char *p, struct stamp *t)
{
	if (!digits(&p, 4, 4, &t->year) || *p++ != '-' ||
	    !digits(&p, 2, 2, &t->mon) || *p++ != '-' ||
	    !digits(&p, 2, 2, &t->day))
		return "expected YYYY-MM-DD";
	if (*p == '\0')
		return NULL;
	if (*p != 't' && *p != ' ')
		return "expected 'T' or a space after the date";
	p++;
	blanks(&p);
	return parse_time_zone(p, t);
}

/*
 * [wday[,]] D Mon YYYY [HH:MM[:SS] [zone]]   RFC 2822, IMF-fixdate
 * [wday[,]] D-Mon-YY HH:MM:SS zone           RFC 850 (YY < 70 is 20YY)
 * [wday] Mon D HH:MM:SS [zone] YYYY          asctime, date(1)
 */
static const char *parse_words(const char *p, struct stamp *t)
{
	const char *why;
	size_t n = word_len(p);
	char sep;
	int i, nd;

	if (n > 0 && (i = name_index(p, n, wdays, COUNT(wdays))) >= 0) {
		t->wday = i;
		p += n;
		if (*p == ',')
			p++;
		blanks(&p);
		n = word_len(p);
	}
	if (n > 0) {		/* month first: asctime */
		if ((i = name_index(p, n, months, COUNT(months))) < 0)
			return "unrecognised format";
		t->mon = i + 1;
		p += n;
		if (blanks(&p) == 0 || !digits(&p, 1, 2, &t->day) ||
		    blanks(&p) == 0)
			return "expected \"Mon D HH:MM:SS YYYY\"";
		if ((why = parse_clock(&p, t)) != NULL)
			return why;
		if (blanks(&p) == 0)
			return "expected a year after the time";
		if (word_len(p) > 0) {
			if ((why = parse_zone(&p, &t->off)) != NULL)
				return why;
			if (blanks(&p) == 0)
				return "expected a year after the zone";
		}
		if (!digits(&p, 4, 4, &t->year))
			return "expected a four-digit year";
		return *p == '\0' ? NULL : "unexpected text after the year";
	}
	if (!digits(&p, 1, 2, &t->day))
		return "unrecognised format";
	sep = *p;
	if (sep != '-' && sep != ' ')
		return "unrecognised format";
	p++;
	blanks(&p);
	n = word_len(p);
	if ((i = name_index(p, n, months, COUNT(months))) < 0)
		return find_word(units, COUNT(units), p, n) ?
		       "a relative time needs \"ago\"" : "expected a month name";
	t->mon = i + 1;
	p += n;
	if (sep == '-' ? *p++ != '-' : blanks(&p) == 0)
		return "expected a year after the month";
	if ((nd = digits(&p, 2, 4, &t->year)) == 0 || nd == 3)
		return "expected a two- or four-digit year";
	if (nd == 2)
		t->year += t->year < 70 ? 2000 : 1900;
	if (*p == '\0')
		return NULL;
	if (blanks(&p) == 0)
		return "unexpected text after the year";
	return parse_time_zone(p, t);
}

/* Digits with an optional fraction, which is dropped. */
static const char *parse_unix(const char *p, int64_t *out)
{
	int64_t v = 0;
	int n = 0;

	for (; is_digit(*p); p++) {
		if (++n > 11)
			return "number too large";
		v = v * 10 + (*p - '0');
	}
	if (n == 0 || !skip_fraction(&p) || *p != '\0')
		return "unrecognised format";
	*out = v;
	return NULL;
}

/* N unit ago, Nunit ago, a|an unit ago. */
static const char *parse_ago(const char *p, int64_t now, int64_t *out)
{
	const struct word *u;
	size_t len = word_len(p);
	int64_t n = 0;

	if ((len == 1 && p[0] == 'a') || (len == 2 && strncmp(p, "an", 2) == 0)) {
		n = 1;
		p += len;
		if (blanks(&p) == 0)
			return "expected a unit";
	} else {
		if (!is_digit(*p))
			return "expected a number before the unit";
		for (; is_digit(*p); p++)
			if (n <= MAX_AGO)	/* saturate: no overflow */
				n = n * 10 + (*p - '0');
		if (n > MAX_AGO)
			return "number too large";
		blanks(&p);
	}
	len = word_len(p);
	if ((u = find_word(units, COUNT(units), p, len)) == NULL)
		return "unknown unit (use s, min, h, d or w)";
	p += len;
	if (blanks(&p) == 0 || strcmp(p, "ago") != 0)
		return "unrecognised format";
	if (now < 0 || now > T_MAX)
		return "reference time out of range";
	*out = now - n * u->val;	/* n * u->val <= 6.1e14: no overflow */
	return NULL;
}

static const char *parse(const char *s, int64_t now, int64_t *out)
{
	struct stamp t = {.wday = -1};
	size_t len = strlen(s), k = 0;
	const char *why;

	if (len == 0)
		return "empty";
	if (strcmp(s, "now") == 0 || strcmp(s, "today") == 0 ||
	    strcmp(s, "yesterday") == 0) {
		if (now < 0 || now > T_MAX)
			return "reference time out of range";
		*out = now;
		if (s[0] != 'n')
			*out -= now % 86400 + (s[0] == 'y' ? 86400 : 0);
		return NULL;
	}
	if (len >= 4 && strcmp(s + len - 4, " ago") == 0)
		return parse_ago(s, now, out);
	while (is_digit(s[k]))
		k++;
	if (k == 4 && s[k] == '-')
		why = parse_iso(s, &t);
	else if (s[k] == '\0' || s[k] == '.' || k > 2)
		return parse_unix(s, out);
	else
		why = parse_words(s, &t);
	return why != NULL ? why : stamp_to_unix(&t, out);
}

/* Quotes at most 60 bytes of text, control and non-ASCII bytes as '?' (so a
 * cut never splits a UTF-8 sequence and the message stays one line). */
static enum sr_rc fail(struct sr_err *err, const char *text, const char *why)
{
	char q[61];
	size_t i;

	for (i = 0; i < 60 && text[i] != '\0'; i++) {
		unsigned char c = (unsigned char)text[i];
		q[i] = c == '\t' ? ' ' : c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	q[i] = '\0';
	return sr_err_set(err, SR_EINVAL, "cannot parse time \"%s\": %s", q, why);
}

enum sr_rc sr_time_parse(const char *text, int64_t now, int64_t *out,
			 struct sr_err *err)
{
	char buf[MAX_LEN + 1];
	const char *start, *end, *why;
	size_t i, len;
	int64_t t = 0;

	if (text == NULL)
		return sr_err_set(err, SR_EINVAL, "cannot parse time: no value");
	for (start = text; is_space(*start); start++)
		;
	for (end = start + strlen(start); end > start && is_space(end[-1]); end--)
		;
	len = (size_t)(end - start);
	if (len > MAX_LEN)
		return fail(err, text, "too long");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)start[i];
		if (c == '\t')
			c = ' ';
		else if (c < 0x20 || c >= 0x7f)
			return fail(err, text, "unexpected character");
		buf[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	buf[len] = '\0';
	if ((why = parse(buf, now, &t)) != NULL)
		return fail(err, text, why);
	if (t < 0 || t > T_MAX)
		return fail(err, text, "out of range (1970-9999)");
	*out = t;
	return SR_OK;
}
