/*
 * util.c - files, directories, randomness and secret memory.
 */
#include "session_revoker/core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

static _Atomic int64_t clock_offset;

void sr_clock_set_offset(int64_t offset)
{
	atomic_store(&clock_offset, offset);
}

int64_t sr_clock_now(void)
{
	return (int64_t)time(NULL) + atomic_load(&clock_offset);
}

char *sr_time_format(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "invalid-time");
	return out;
}

enum sr_rc sr_file_read(const char *path, size_t max, char **out, size_t *len,
			struct sr_err *err)
{
	enum sr_rc rc = SR_OK;
	char *buf = NULL;
	size_t cap, used = 0;
	FILE *f;

	*out = NULL;
	f = fopen(path, "rb");
	if (f == NULL)
		return sr_err_set(err, SR_EIO, "cannot open %s: %s", path,
				  strerror(errno));
	cap = 4096;
	buf = malloc(cap + 1);
	if (buf == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory reading %s", path);
		goto out;
	}
	for (;;) {
		size_t n;
		if (used == cap) {
			char *nb;
			if (cap >= max) {
				rc = sr_err_set(err, SR_ETOOBIG,
						"%s is larger than %zu bytes", path, max);
				goto out;
			}
			cap = cap * 2 > max ? max : cap * 2;
			nb = malloc(cap + 1);
			if (nb == NULL) {
				rc = sr_err_set(err, SR_ENOMEM, "out of memory reading %s", path);
				goto out;
			}
			memcpy(nb, buf, used);
			sr_secret_free(buf, used);
			buf = nb;
		}
		n = fread(buf + used, 1, cap - used, f);
		used += n;
		if (n == 0) {
			if (ferror(f)) {
				rc = sr_err_set(err, SR_EIO, "cannot read %s", path);
				goto out;
			}
			break;
		}
	}
	buf[used] = '\0';
	*out = buf;
	buf = NULL;
	if (len != NULL)
		*len = used;
out:
	if (buf != NULL)
		sr_secret_free(buf, cap);
	fclose(f);
	return rc;
}

enum sr_rc sr_file_write(const char *path, const void *data, size_t len,
			 int mode, struct sr_err *err)
{
	char tmp[PATH_MAX];
	int fd;
	size_t off = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
			     (long)getpid()) >= sizeof(tmp))
		return sr_err_set(err, SR_EIO, "path too long: %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return sr_err_set(err, SR_EIO, "cannot create %s: %s", tmp,
				  strerror(errno));
	while (off < len) {
		ssize_t n = write(fd, (const char *)data + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			unlink(tmp);
			return sr_err_set(err, SR_EIO, "cannot write %s: %s", tmp,
					  strerror(errno));
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		unlink(tmp);
		return sr_err_set(err, SR_EIO, "cannot sync %s", tmp);
	}
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return sr_err_set(err, SR_EIO, "cannot rename %s to %s: %s", tmp,
				  path, strerror(errno));
	}
	return SR_OK;
}

enum sr_rc sr_mkdirs(const char *dir, struct sr_err *err)
{
	char buf[PATH_MAX];
	size_t i, n = strlen(dir);

	if (n == 0 || n >= sizeof(buf))
		return sr_err_set(err, SR_EIO, "bad directory name");
	memcpy(buf, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return sr_err_set(err, SR_EIO, "cannot create directory %s: %s",
					  buf, strerror(errno));
		buf[i] = c;
	}
	return SR_OK;
}

void sr_strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

void sr_secret_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

enum sr_rc sr_random_hex(char *out, size_t n, struct sr_err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[64];
	size_t i;

	if (n > sizeof(b))
		return sr_err_set(err, SR_EINTERNAL, "random_hex: %zu bytes", n);
	if (RAND_bytes(b, (int)n) != 1)
		return sr_err_set(err, SR_EINTERNAL, "RAND_bytes failed");
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
	return SR_OK;
}

enum sr_rc sr_uuid4(char out[37], struct sr_err *err)
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return sr_err_set(err, SR_EINTERNAL, "RAND_bytes failed");
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
		 b[11], b[12], b[13], b[14], b[15]);
	return SR_OK;
}

enum sr_rc sr_buf_append(struct sr_buf *b, const void *p, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return SR_ETOOBIG;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *nd;
		while (cap < b->len + n + 1)
			cap *= 2;
		nd = realloc(b->data, cap);
		if (nd == NULL)
			return SR_ENOMEM;
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return SR_OK;
}

void sr_buf_free(struct sr_buf *b)
{
	sr_secret_free(b->data, b->cap);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Appends len bytes of s to out (cap) at *n, cut to fit. */
static void put(char *out, size_t cap, size_t *n, const char *s, size_t len)
{
	if (*n + 1 >= cap)
		return;
	if (len > cap - 1 - *n)
		len = cap - 1 - *n;
	memcpy(out + *n, s, len);
	*n += len;
	out[*n] = '\0';
}

char *sr_url_redact(const char *url, char *out, size_t cap)
{
	const char *auth = url ? strstr(url, "://") : NULL, *p, *end, *at = NULL, *colon = NULL;
	bool query = false;
	size_t n = 0;

	if (cap == 0)
		return out;
	out[0] = '\0';
	if (url == NULL)
		return out;
	p = url;
	if (auth != NULL) {
		auth += 3;
		end = auth + strcspn(auth, "/?#");
		for (p = auth; p < end; p++)
			if (*p == '@')
				at = p; /* the last '@' ends the user part */
		p = url;
		if (at != NULL && (colon = memchr(auth, ':', (size_t)(at - auth))) != NULL) {
			put(out, cap, &n, url, (size_t)(colon + 1 - url));
			put(out, cap, &n, "***", 3);
			p = at;
		}
	}
	for (; *p != '\0'; p++) {
		put(out, cap, &n, p, 1);
		if (*p == '#')
			query = false;
		else if (*p == '?')
			query = true;
		if (query && (*p == '?' || *p == '&') && strncmp(p + 1, "password=", 9) == 0) {
			put(out, cap, &n, "password=***", 12);
			p += 10;
			p += strcspn(p, "&#");
			p--; /* the loop steps onto the '&', '#' or the end */
		}
	}
	return out;
}

/* Whether subject is one the key can hold: a source identity is 2 to 64 of
 * [A-Za-z0-9_+=,.@-] (STS sourceIdentityType); a tag value 1 to 256 of
 * letters, digits, spaces and _.:/=+-@ (ASCII here: a policy holds only
 * U+0009, U+000A, U+000D and U+0020..U+00FF). */
const char *sr_subject_problem(const char *tag_key, const char *subject)
{
	int si = tag_key == NULL || tag_key[0] == '\0';
	const char *allowed = si ? "_+=,.@-" : " _.:/=+-@";
	size_t i, n = subject ? strlen(subject) : 0;

	for (i = 0; i < n; i++) {
		char c = subject[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      strchr(allowed, c) != NULL))
			break;
	}
	if (i < n || n < (si ? 2u : 1u) || n > (si ? 64u : 256u))
		return si ? "must be 2 to 64 of A-Z a-z 0-9 _+=,.@- to match aws:SourceIdentity"
			  : "must be 1 to 256 of A-Z a-z 0-9 space _.:/=+-@ to match a principal tag";
	return NULL;
}
