/*
 * net.c - IP addresses and networks (listen.trusted_proxies), and the
 * client address a request names through trusted proxies.
 *
 * DESIGN: addresses are parsed by inet_pton() only, and everything is kept
 * as 16 bytes (IPv4 as ::ffff:a.b.c.d) so that one comparison serves both
 * families and a dual-stack socket's mapped peer matches an IPv4 network.
 * The Forwarded field (RFC 7239 §4: elements separated by ",", pairs by
 * ";", each pair token "=" (token / quoted-string)) and X-Forwarded-For (a
 * list of addresses separated by ",") are header values, read here with a
 * small tokenizer; what a node names is decided by inet_pton(), so a node
 * that is not an address is never taken as one and never reaches a log.
 */
#include "session_revoker/core.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HOPS 64 /* the right-most hops of a chain that are looked at */

static const unsigned char v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* text (n bytes) as an address alone: dotted IPv4 or IPv6, nothing else. */
static bool parse_ip(const char *text, size_t n, unsigned char out[16])
{
	char buf[64];
	unsigned char v4[4];

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, text, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, v4) == 1) {
		memcpy(out, v4_prefix, 12);
		memcpy(out + 12, v4, 4);
		return true;
	}
	return inet_pton(AF_INET6, buf, out) == 1;
}

const char *sr_cidr_parse(const char *text, struct sr_cidr *out)
{
	const char *slash = text ? strchr(text, '/') : NULL;
	size_t n = slash ? (size_t)(slash - text) : (text ? strlen(text) : 0);
	bool v4;
	unsigned long bits, i;
	char *end;

	if (text == NULL || !parse_ip(text, n, out->addr))
		return "not an IP address";
	v4 = memcmp(out->addr, v4_prefix, 12) == 0 && memchr(text, ':', n) == NULL;
	if (slash == NULL) {
		out->bits = 128;
		return NULL;
	}
	if (!isdigit((unsigned char)slash[1]) || strlen(slash + 1) > 3)
		return "the prefix length after / must be a number";
	bits = strtoul(slash + 1, &end, 10);
	if (*end != '\0')
		return "the prefix length after / must be a number";
	if (bits > (v4 ? 32u : 128u))
		return v4 ? "an IPv4 prefix length is at most 32" : "an IPv6 prefix length is at most 128";
	out->bits = (unsigned)bits + (v4 ? 96u : 0u);
	for (i = out->bits; i < 128; i++)
		if (out->addr[i / 8] & (0x80u >> (i % 8)))
			return "host bits are set after the prefix (write the network's first address)";
	return NULL;
}

bool sr_cidr_contains(const struct sr_cidr *net, const unsigned char ip[16])
{
	unsigned full = net->bits / 8, rest = net->bits % 8;

	if (memcmp(net->addr, ip, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((net->addr[full] ^ ip[full]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

void sr_ip_format(const unsigned char ip[16], char *out, size_t cap)
{
	char buf[INET6_ADDRSTRLEN];
	const char *r;

	if (memcmp(ip, v4_prefix, 12) == 0)
		r = inet_ntop(AF_INET, ip + 12, buf, sizeof(buf));
	else
		r = inet_ntop(AF_INET6, ip, buf, sizeof(buf));
	snprintf(out, cap, "%s", r ? r : "-");
}

/* RFC 7239 §6: a node is a name (IPv4, "[" IPv6 "]", "unknown" or an
 * obfuscated "_..." identifier) with an optional ":" port. X-Forwarded-For
 * items are an address, sometimes with a port (IPv6 bare or bracketed).
 * True only when the node names an address. */
static bool port_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	if (p[0] == '_') { /* obfport */
		for (i = 1; i < n; i++)
			if (!isalnum((unsigned char)p[i]) && p[i] != '.' && p[i] != '_' && p[i] != '-')
				return false;
		return n > 1;
	}
	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)p[i]))
			return false;
	return n <= 5;
}

static bool node_ip(const char *text, size_t n, unsigned char out[16])
{
	const char *colon;

	if (n > 0 && text[0] == '[') {
		const char *close = memchr(text, ']', n);
		size_t after;
		char buf[64];
		size_t len = close ? (size_t)(close - text - 1) : 0;
		if (close == NULL || len == 0 || len >= sizeof(buf))
			return false;
		memcpy(buf, text + 1, len);
		buf[len] = '\0';
		if (inet_pton(AF_INET6, buf, out) != 1)
			return false; /* brackets hold IPv6 only */
		after = n - (size_t)(close + 1 - text);
		return after == 0 || (close[1] == ':' && port_ok(close + 2, after - 1));
	}
	if (parse_ip(text, n, out))
		return true;
	colon = memchr(text, ':', n);
	if (colon == NULL || memchr(colon + 1, ':', n - (size_t)(colon + 1 - text)) != NULL)
		return false;
	/* a.b.c.d:port */
	return port_ok(colon + 1, n - (size_t)(colon + 1 - text)) &&
	       memchr(text, '.', (size_t)(colon - text)) != NULL &&
	       parse_ip(text, (size_t)(colon - text), out) &&
	       memcmp(out, v4_prefix, 12) == 0;
}

/* The right-most MAX_HOPS nodes of a chain, as (offset, length) into a
 * buffer; length SIZE_MAX: a hop that named no node. */
struct chain {
	char *buf;
	size_t off[MAX_HOPS], len[MAX_HOPS];
	size_t n; /* hops seen, possibly more than kept */
};

static void hop(struct chain *c, size_t off, size_t len)
{
	c->off[c->n % MAX_HOPS] = off;
	c->len[c->n % MAX_HOPS] = len;
	c->n++;
}

static bool tchar(char c)
{
	return isalnum((unsigned char)c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 7239 §4 into c (buf: a copy of the decoded values). False when the
 * field breaks the syntax. */
static bool read_forwarded(const char *s, struct chain *c)
{
	const char *p = s;
	size_t o = 0, for_off = 0, for_len = SIZE_MAX;
	bool in_element = false;

	for (;;) {
		const char *name;
		size_t nlen, voff;

		p += strspn(p, " \t");
		if (*p == ',' || *p == '\0') {
			if (in_element)
				hop(c, for_off, for_len);
			in_element = false;
			for_len = SIZE_MAX;
			if (*p == '\0')
				return true;
			p++;
			continue;
		}
		if (*p == ';') {
			p++;
			continue;
		}
		name = p;
		for (nlen = 0; tchar(p[nlen]); nlen++)
			;
		if (nlen == 0 || p[nlen] != '=')
			return false;
		p += nlen + 1;
		voff = o;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\\')
					p++;
				if (*p == '\0' || ((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
					return false;
				c->buf[o++] = *p;
			}
			p++;
		} else {
			size_t n;
			for (n = 0; tchar(p[n]); n++)
				c->buf[o++] = p[n];
			if (n == 0)
				return false;
			p += n;
		}
		in_element = true;
		if (nlen == 3 && strncasecmp(name, "for", 3) == 0) {
			if (for_len != SIZE_MAX)
				return false; /* §4: a parameter at most once per element */
			for_off = voff;
			for_len = o - voff;
		}
		p += strspn(p, " \t");
		if (*p != ';' && *p != ',' && *p != '\0')
			return false;
	}
}

static void read_xff(const char *s, struct chain *c)
{
	const char *p = s;

	memcpy(c->buf, s, strlen(s) + 1);
	while (*p != '\0') {
		size_t n;
		p += strspn(p, " \t,");
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0)
			hop(c, (size_t)(p - s), n);
		p += n;
		p += strcspn(p, ",");
	}
}

/* Right to left: the first hop that is not trusted, else the last trusted
 * one reached. */
static void walk(const struct chain *c, const unsigned char peer[16],
		 const struct sr_cidr *trusted, size_t n, unsigned char client[16])
{
	unsigned char at[16];
	size_t i, k, kept = c->n < MAX_HOPS ? c->n : MAX_HOPS;

	memcpy(client, peer, 16);
	for (k = 0; k < kept; k++) {
		bool t = false;
		i = (c->n - 1 - k) % MAX_HOPS;
		if (c->len[i] == SIZE_MAX || !node_ip(c->buf + c->off[i], c->len[i], at))
			return;
		for (size_t j = 0; j < n && !t; j++)
			t = sr_cidr_contains(&trusted[j], at);
		memcpy(client, at, 16);
		if (!t)
			return;
	}
}

void sr_client_addr(const unsigned char peer[16], const struct sr_cidr *trusted, size_t n,
		    const char *forwarded, const char *xff, unsigned char client[16])
{
	struct chain fc = {0}, xc = {0};
	unsigned char from_fwd[16], from_xff[16];
	bool peer_trusted = false;
	size_t i;

	memcpy(client, peer, 16);
	for (i = 0; i < n && !peer_trusted; i++)
		peer_trusted = sr_cidr_contains(&trusted[i], peer);
	if (!peer_trusted || (forwarded == NULL && xff == NULL))
		return;
	if (forwarded != NULL) {
		fc.buf = malloc(strlen(forwarded) + 1);
		if (fc.buf == NULL || !read_forwarded(forwarded, &fc))
			goto out; /* not believed: the peer */
		walk(&fc, peer, trusted, n, from_fwd);
	}
	if (xff != NULL) {
		xc.buf = malloc(strlen(xff) + 1);
		if (xc.buf == NULL)
			goto out;
		read_xff(xff, &xc);
		walk(&xc, peer, trusted, n, from_xff);
	}
	if (forwarded != NULL && xff != NULL && memcmp(from_fwd, from_xff, 16) != 0)
		goto out; /* they disagree: one of them was written by the sender */
	memcpy(client, forwarded != NULL ? from_fwd : from_xff, 16);
out:
	free(fc.buf);
	free(xc.buf);
}
