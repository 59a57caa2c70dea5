/*
 * test_net.c - listen.trusted_proxies: IP addresses and networks, and the
 * client a request names through trusted proxies (sr_client_addr): a forged
 * X-Forwarded-For / Forwarded from a peer that is not trusted is never
 * believed; from a trusted one the right-most address that is not itself
 * trusted is the client; IPv6 both as peer and in the fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "session_revoker/core.h"

static void test_cidr_parse(void **state)
{
	static const struct {
		const char *text;
		const char *why; /* NULL: valid; else a word of the reason */
		const char *inside, *outside;
	} cases[] = {
		{"127.0.0.1", NULL, "127.0.0.1", "127.0.0.2"},
		{"10.0.0.0/8", NULL, "10.255.1.2", "11.0.0.1"},
		{"0.0.0.0/0", NULL, "203.0.113.9", "::1"},
		{"192.168.1.128/25", NULL, "192.168.1.200", "192.168.1.127"},
		{"::1", NULL, "::1", "::2"},
		{"2001:db8::/32", NULL, "2001:db8:cafe::17", "2001:db9::1"},
		{"::ffff:10.0.0.0/104", NULL, "10.1.2.3", "11.1.2.3"},
		{"10.0.0.1/8", "host bits", NULL, NULL},
		{"10.0.0.0/33", "at most 32", NULL, NULL},
		{"::/129", "at most 128", NULL, NULL},
		{"10.0.0.0/", "number", NULL, NULL},
		{"10.0.0.0/8x", "number", NULL, NULL},
		{"10.0.0.0/-1", "number", NULL, NULL},
		{"010.0.0.1", "not an IP", NULL, NULL},
		{"10.0.0", "not an IP", NULL, NULL},
		{"localhost", "not an IP", NULL, NULL},
		{"", "not an IP", NULL, NULL},
		{"fe80::1%eth0", "not an IP", NULL, NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_cidr net;
		struct sr_cidr one;
		const char *why = sr_cidr_parse(cases[i].text, &net);
		if (cases[i].why == NULL) {
			if (why != NULL)
				fail_msg("%s: %s", cases[i].text, why);
			assert_null(sr_cidr_parse(cases[i].inside, &one));
			assert_true(sr_cidr_contains(&net, one.addr));
			assert_null(sr_cidr_parse(cases[i].outside, &one));
			assert_false(sr_cidr_contains(&net, one.addr));
		} else {
			if (why == NULL || strstr(why, cases[i].why) == NULL)
				fail_msg("%s: want \"%s\", got %s", cases[i].text, cases[i].why,
					 why ? why : "valid");
		}
	}
}

static void test_client_addr(void **state)
{
	static const char *const trusted_text[] = {"127.0.0.1", "10.0.0.0/8", "::1",
						   "2001:db8:ffff::/48"};
	static const struct {
		const char *peer, *forwarded, *xff, *client;
	} cases[] = {
		/* a peer that is not trusted: its headers are never read */
		{"203.0.113.5", NULL, "6.6.6.6", "203.0.113.5"},
		{"203.0.113.5", "for=6.6.6.6", NULL, "203.0.113.5"},
		{"2001:db8::5", NULL, "6.6.6.6", "2001:db8::5"},
		/* a trusted peer: the right-most untrusted address */
		{"127.0.0.1", NULL, NULL, "127.0.0.1"},
		{"127.0.0.1", NULL, "198.51.100.7", "198.51.100.7"},
		{"127.0.0.1", NULL, "6.6.6.6, 198.51.100.7", "198.51.100.7"},
		{"127.0.0.1", NULL, "6.6.6.6, 198.51.100.7, 10.1.2.3", "198.51.100.7"},
		{"127.0.0.1", NULL, "6.6.6.6,198.51.100.7 ,  10.1.2.3,10.9.9.9", "198.51.100.7"},
		{"127.0.0.1", NULL, "10.0.0.9, 10.1.2.3", "10.0.0.9"}, /* all trusted */
		{"127.0.0.1", NULL, "", "127.0.0.1"},
		{"127.0.0.1", NULL, "198.51.100.7:4711", "198.51.100.7"},
		{"127.0.0.1", NULL, "2001:db8:cafe::17", "2001:db8:cafe::17"},
		{"127.0.0.1", NULL, "[2001:db8:cafe::17]:4711", "2001:db8:cafe::17"},
		/* a node that is no address ends the walk at the last trusted hop */
		{"127.0.0.1", NULL, "198.51.100.7, unknown", "127.0.0.1"},
		{"127.0.0.1", NULL, "198.51.100.7, junk, 10.1.2.3", "10.1.2.3"},
		{"127.0.0.1", NULL, "198.51.100.7, 1.2.3.4.5", "127.0.0.1"},
		{"127.0.0.1", NULL, "198.51.100.7, 198.51.100.7:99999x", "127.0.0.1"},
		/* RFC 7239 */
		{"127.0.0.1", "for=192.0.2.60;proto=http;by=203.0.113.43", NULL, "192.0.2.60"},
		{"127.0.0.1", "for=192.0.2.43, for=198.51.100.17", NULL, "198.51.100.17"},
		{"127.0.0.1", "For=\"[2001:db8:cafe::17]:4711\"", NULL, "2001:db8:cafe::17"},
		{"127.0.0.1", "for=\"[2001:db8:cafe::17]\", for=10.0.0.3", NULL, "2001:db8:cafe::17"},
		{"127.0.0.1", "for=\"192.0.2.43:47011\"", NULL, "192.0.2.43"},
		{"127.0.0.1", "for=192.0.2.43;by=_x , for=10.0.0.3 ;proto=https", NULL, "192.0.2.43"},
		{"127.0.0.1", "for=192.0.2.43, for=_hidden", NULL, "127.0.0.1"},
		{"127.0.0.1", "for=192.0.2.43, for=unknown, for=10.0.0.2", NULL, "10.0.0.2"},
		{"127.0.0.1", "for=192.0.2.43, proto=https", NULL, "127.0.0.1"}, /* hop without for */
		{"127.0.0.1", "for=\"[2001:db8::1\"", NULL, "127.0.0.1"},
		{"127.0.0.1", "for=[2001:db8::1]", NULL, "127.0.0.1"},  /* must be quoted */
		{"127.0.0.1", "for=\"[192.0.2.1]\"", NULL, "127.0.0.1"},  /* brackets: IPv6 */
		/* a Forwarded field that breaks the syntax is not believed */
		{"127.0.0.1", "for=\"6.6.6.6", NULL, "127.0.0.1"},
		{"127.0.0.1", "for=6.6.6.6;for=7.7.7.7", NULL, "127.0.0.1"},
		{"127.0.0.1", "for 6.6.6.6", NULL, "127.0.0.1"},
		{"127.0.0.1", "for=6.6.6.6 x", NULL, "127.0.0.1"},
		{"127.0.0.1", "for=\"6.6.6.6\", for=\"", "198.51.100.7", "127.0.0.1"},
		/* both fields: believed only when they agree */
		{"127.0.0.1", "for=198.51.100.7", "198.51.100.7", "198.51.100.7"},
		{"127.0.0.1", "for=6.6.6.6", "198.51.100.7", "127.0.0.1"},
		{"127.0.0.1", "for=6.6.6.6, for=198.51.100.7", "198.51.100.7", "198.51.100.7"},
		/* IPv6 peers; an IPv4 peer on a dual-stack socket (mapped) */
		{"::1", NULL, "198.51.100.7", "198.51.100.7"},
		{"2001:db8:ffff::10", NULL, "6.6.6.6, 2001:db8:ffff::11", "6.6.6.6"},
		{"::ffff:127.0.0.1", NULL, "198.51.100.7", "198.51.100.7"},
		{"::ffff:203.0.113.5", NULL, "198.51.100.7", "203.0.113.5"},
	};
	struct sr_cidr trusted[4];
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_null(sr_cidr_parse(trusted_text[i], &trusted[i]));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sr_cidr peer;
		unsigned char client[16];
		char text[64];
		assert_null(sr_cidr_parse(cases[i].peer, &peer));
		sr_client_addr(peer.addr, trusted, 4, cases[i].forwarded, cases[i].xff, client);
		sr_ip_format(client, text, sizeof(text));
		if (strcmp(text, cases[i].client) != 0)
			fail_msg("case %zu (peer %s, Forwarded %s, X-Forwarded-For %s): want %s, got %s",
				 i, cases[i].peer, cases[i].forwarded ? cases[i].forwarded : "-",
				 cases[i].xff ? cases[i].xff : "-", cases[i].client, text);
	}
}

/* More hops than are looked at: the right-most ones decide. */
static void test_long_chain(void **state)
{
	struct sr_cidr trusted, peer;
	unsigned char client[16];
	char xff[4096] = "", text[64];
	size_t i;

	(void)state;
	assert_null(sr_cidr_parse("10.0.0.0/8", &trusted));
	assert_null(sr_cidr_parse("10.0.0.1", &peer));
	for (i = 0; i < 200; i++)
		strcat(xff, "6.6.6.6, ");
	strcat(xff, "198.51.100.7, 10.0.0.2");
	sr_client_addr(peer.addr, &trusted, 1, NULL, xff, client);
	sr_ip_format(client, text, sizeof(text));
	assert_string_equal(text, "198.51.100.7");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_client_addr),
		cmocka_unit_test(test_long_chain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
