/*
 * core.h - errors, logging and small helpers shared by every module.
 *
 * DESIGN: every function that can fail returns enum sr_rc and takes a
 * struct sr_err * as its last parameter. The first, most specific message
 * wins: sr_err_set() does not overwrite a message already set. Messages never
 * carry secrets (tokens, keys, credentials) and never contain newlines. The
 * mapping from sr_rc to an HTTP status lives in src/http, nowhere else.
 */
#ifndef SESSION_REVOKER_CORE_H
#define SESSION_REVOKER_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sr_rc {
	SR_OK = 0,
	SR_EINVAL,     /* malformed input from a caller (HTTP 400) */
	SR_EAUTH,      /* bad or missing credentials (HTTP 401) */
	SR_EFORBIDDEN, /* authenticated but not allowed (HTTP 403) */
	SR_ENOTFOUND,  /* no such thing (HTTP 404) */
	SR_ECONFLICT,  /* conflicts with what is stored (HTTP 409/422) */
	SR_ETOOBIG,    /* input larger than allowed (HTTP 413) */
	SR_EMEDIA,     /* unsupported media type (HTTP 415) */
	SR_EUNAVAIL,   /* not ready, try again later (HTTP 503) */
	SR_ENOMEM,     /* allocation failed */
	SR_EIO,        /* file or network error */
	SR_ESTORE,     /* the database failed */
	SR_ECONFIG,    /* configuration is wrong */
	SR_EINTERNAL,  /* a bug */
};

struct sr_err {
	enum sr_rc code;
	char msg[256];
};

#define SR_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Records code and message in err unless err already holds an error (first
 * error wins). err may be NULL. Returns code. */
enum sr_rc sr_err_set(struct sr_err *err, enum sr_rc code, const char *fmt, ...)
	SR_PRINTF(3, 4);

/* Clears err to SR_OK with an empty message. */
void sr_err_clear(struct sr_err *err);

/* A short stable name for code ("invalid", "unauthorized", ...). */
const char *sr_rc_name(enum sr_rc code);

/* ---- logging: one line per event on stderr, logfmt or JSON ---- */
enum sr_log_level { SR_LOG_DEBUG, SR_LOG_INFO, SR_LOG_WARN, SR_LOG_ERROR };
enum sr_log_format { SR_LOG_TEXT, SR_LOG_JSON };

void sr_log_set_level(enum sr_log_level level);
void sr_log_set_format(enum sr_log_format format);
enum sr_log_format sr_log_get_format(void);

/* Logs "ts=... level=... msg=<event> <fields>" (text), or the JSON object
 * {"time", "level", "msg", <field>: <value>, ...} (json). fields is a printf
 * format for key=value pairs separated by spaces: a value is a bare word
 * (no space, no '"') or a string quoted by sr_log_quote() / sr_log_value(),
 * so the JSON form can take the pairs apart again; every value becomes a
 * JSON string. */
void sr_log(enum sr_log_level level, const char *event, const char *fmt, ...)
	SR_PRINTF(3, 4);

/* Writes value into out (cap bytes) as a logfmt-safe quoted string,
 * truncating if needed. Returns out. */
char *sr_log_quote(char *out, size_t cap, const char *value);

/* value as is when it is a plain word (printable ASCII, no space, '"', '\\'
 * or '='), else quoted as sr_log_quote() does. Returns out. */
char *sr_log_value(char *out, size_t cap, const char *value);

/* The members of the JSON form of one line: "fields" (the formatted
 * key=value pairs) taken apart into obj, each value a string; a piece that
 * is not key=value lands in the member "unparsed". A key that obj already
 * holds gets a '_' appended. (Exposed for the unit test.) */
struct json_t;
void sr_log_fields_to_json(struct json_t *obj, const char *fields);

/* ---- Unicode: control and format characters (unicode.c) ---- */

/* Whether cp is of general category Cc, Cf, Zl or Zp (a table generated
 * from the Unicode Character Database by scripts/gen-unicode-controls.py). */
bool sr_unicode_is_control(uint32_t cp);

/* Decodes the well-formed UTF-8 character at s into *cp and returns its
 * length; 0 at the terminating NUL or at a malformed sequence (a stray
 * continuation byte, a cut sequence, an overlong or surrogate form). */
size_t sr_utf8_decode(const char *s, uint32_t *cp);

/* Whether s holds a control or format character (or is not UTF-8); the
 * first one into *found (U+FFFD for bytes that are not UTF-8) unless found
 * is NULL. */
bool sr_utf8_has_control(const char *s, uint32_t *found);

/* A copy of s without control and format characters: a tab or line break
 * (C0, U+0085, U+2028, U+2029) becomes one space between words, the rest
 * (and bytes that are not UTF-8) are dropped. OUT: new string, free();
 * NULL when memory runs out. */
char *sr_utf8_strip_controls(const char *s);

/* ---- time ---- */

/* Seconds since the Unix epoch: the real clock plus the offset below. */
int64_t sr_clock_now(void);

/* Shifts sr_clock_now() by offset seconds for the whole process. Set once at
 * start (development.clock_offset_seconds), so tests can see what a process
 * does hours later without waiting hours; 0 in production. */
void sr_clock_set_offset(int64_t offset);

/* Formats t (Unix seconds, UTC) as RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" into
 * out[32]. Returns out. */
char *sr_time_format(int64_t t, char out[32]);

/* Parses what an operator would type as a point in time (README, "API"):
 * RFC 3339 / ISO 8601 (no zone means UTC), RFC 2822 and HTTP dates, Unix
 * seconds, "now", "today", "yesterday", "N unit(s) ago" (second, minute, hour,
 * day, week and their short forms: s, sec, secs, m, min, mins, h, hr, hrs, d,
 * w). now is the reference point for the relative forms. On success *out
 * holds Unix seconds (UTC). Fails with SR_EINVAL and a message quoting the
 * text (truncated) when it cannot be parsed. */
enum sr_rc sr_time_parse(const char *text, int64_t now, int64_t *out,
			 struct sr_err *err);

/* ---- small helpers ---- */

/* A growable byte buffer that never holds more than max bytes and is always
 * NUL-terminated once anything was appended (data may be NULL before). */
struct sr_buf {
	char *data;
	size_t len, cap, max;
};

/* Appends n bytes; SR_ETOOBIG (nothing appended) when that would pass max,
 * SR_ENOMEM when memory runs out. */
enum sr_rc sr_buf_append(struct sr_buf *b, const void *p, size_t n);

/* Frees the buffer's memory (cleansed: it may hold a token). */
void sr_buf_free(struct sr_buf *b);

/* Reads a whole file (at most max bytes) into a new NUL-terminated buffer
 * (caller frees with free(), or sr_secret_free() for secrets). *len gets the
 * length without the NUL when len is not NULL. */
enum sr_rc sr_file_read(const char *path, size_t max, char **out, size_t *len,
			struct sr_err *err);

/* Writes data to path atomically (temporary file + rename) with mode. */
enum sr_rc sr_file_write(const char *path, const void *data, size_t len,
			 int mode, struct sr_err *err);

/* Creates dir and its parents (mode 0700) when missing. */
enum sr_rc sr_mkdirs(const char *dir, struct sr_err *err);

/* Cleanses len bytes of p (OPENSSL_cleanse) and frees p. NULL is safe. */
void sr_secret_free(void *p, size_t len);

/* Frees n strings and the array holding them. NULL is safe. */
void sr_strv_free(char **v, size_t n);

/* Why subject cannot name a person in a deny policy's condition (tag_key
 * NULL or "": as aws:SourceIdentity, else as that principal tag's value):
 * a static message ("must be ..."), or NULL when it can. */
const char *sr_subject_problem(const char *tag_key, const char *subject);

/* url as it may be shown (logs, dumps, errors): a password in its user part
 * (scheme://user:PASSWORD@host) or in a password= parameter replaced by
 * "***". Anything else is copied as it is. Returns out. */
char *sr_url_redact(const char *url, char *out, size_t cap);

/* Fills out with 2*n lowercase hex characters of n random bytes plus NUL. */
enum sr_rc sr_random_hex(char *out, size_t n, struct sr_err *err);

/* A random RFC 4122 version 4 UUID, out[37]. */
enum sr_rc sr_uuid4(char out[37], struct sr_err *err);

/* ---- IP addresses, networks, the client behind a proxy (net.c) ---- */

/* An IPv4 or IPv6 address or network; IPv4 is kept as ::ffff:a.b.c.d (and
 * its prefix length plus 96), so one comparison serves both. */
struct sr_cidr {
	unsigned char addr[16];
	unsigned bits;
};

/* Parses "10.1.2.3", "10.0.0.0/8", "2001:db8::1" or "2001:db8::/32" into
 * out (an address alone is a /32 or /128). Returns NULL, or why text is not
 * one (a network with host bits set is refused). */
const char *sr_cidr_parse(const char *text, struct sr_cidr *out);

/* Whether ip (16 bytes, IPv4 mapped) is in net. */
bool sr_cidr_contains(const struct sr_cidr *net, const unsigned char ip[16]);

/* ip (16 bytes, IPv4 mapped) as text: dotted IPv4, or RFC 5952 IPv6. */
void sr_ip_format(const unsigned char ip[16], char *out, size_t cap);

/* The client address of a request whose TCP peer is peer: peer itself
 * unless peer is in trusted (n networks); then the chain the proxies wrote
 * is read from right to left, from forwarded (the Forwarded field lines,
 * RFC 7239, joined by ",": the for= of each element) and from xff (the
 * X-Forwarded-For lines joined by ","), and the client is the right-most
 * address that is not itself trusted (every one trusted: the left-most).
 * A node that is not an address ("unknown", "_hidden", junk) ends the walk
 * at the last trusted hop. A Forwarded field that breaks RFC 7239's syntax,
 * or two fields that name different clients, are not believed at all: the
 * client is then peer. Either field may be NULL (not sent).
 * OUT client: 16 bytes. */
void sr_client_addr(const unsigned char peer[16], const struct sr_cidr *trusted, size_t n,
		    const char *forwarded, const char *xff, unsigned char client[16]);

#endif
