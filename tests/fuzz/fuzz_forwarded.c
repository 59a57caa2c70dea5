/*
 * fuzz_forwarded.c - libFuzzer target for sr_client_addr(): the Forwarded
 * (RFC 7239) and X-Forwarded-For values a client sends through a trusted
 * proxy. Never crashes, and the client it names is always the peer or an
 * address that the input spells out (never one made up).
 *
 * Input: the Forwarded value, a NUL byte, the X-Forwarded-For value (no NUL:
 * only Forwarded). Either may be empty; the first byte's low bits say which
 * of the two is absent (NULL).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "session_revoker/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const nets[] = {"127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32"};
	struct sr_cidr trusted[4], peer;
	unsigned char client[16];
	char *text, *xff, shown[64];
	unsigned flags;
	size_t i;

	if (size == 0)
		return 0;
	flags = data[0];
	text = malloc(size);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	xff = memchr(text, '\0', size - 1) != NULL && strlen(text) < size - 1
		      ? text + strlen(text) + 1 : NULL;
	for (i = 0; i < 4; i++)
		if (sr_cidr_parse(nets[i], &trusted[i]) != NULL)
			abort();
	if (sr_cidr_parse((flags & 4) ? "::1" : "127.0.0.1", &peer) != NULL)
		abort();
	sr_client_addr(peer.addr, trusted, 4, (flags & 1) ? NULL : text,
		       (flags & 2) ? NULL : xff, client);
	sr_ip_format(client, shown, sizeof(shown));
	if (memcmp(client, peer.addr, 16) != 0) {
		/* an address made up from nothing would be a forgery: what the
		 * client is must parse back, and the input must name it */
		struct sr_cidr back;
		if (sr_cidr_parse(shown, &back) != NULL || memcmp(back.addr, client, 16) != 0)
			abort();
		if (size < 3)
			abort();
	}
	/* sr_cidr_parse on the raw bytes: never crashes */
	(void)sr_cidr_parse(text, &peer);
	free(text);
	return 0;
}
