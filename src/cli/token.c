/*
 * token.c - `session-revoker token`: a development JWT for curl, or a
 * long-lived one for a provider that sends a fixed Authorization value on
 * every delivery (Auth0's log stream "Authorization Token").
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define TTL_MAX (730LL * 86400)  /* two years */
#define TTL_WARN (30LL * 86400) /* longer: say it cannot be revoked */

/* --ttl: whole seconds, or a whole number and one unit: s, m, h, d, w.
 * Writes why not to stderr and returns -1 when text is none of them, or is
 * 0 or beyond TTL_MAX. */
static int parse_ttl(const char *text, long long *out)
{
	static const struct {
		char unit;
		long long seconds;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
	long long n, mult = 0;
	char *end;
	size_t i;

	errno = 0;
	n = isdigit((unsigned char)text[0]) ? strtoll(text, &end, 10) : -1;
	if (n >= 0 && errno == 0 && *end == '\0')
		mult = 1;
	for (i = 0; n >= 0 && errno == 0 && i < sizeof(units) / sizeof(units[0]); i++)
		if (end[0] == units[i].unit && end[1] == '\0')
			mult = units[i].seconds;
	if (n >= 0 && errno == ERANGE)
		mult = 1; /* too large for any unit: over the cap below */
	if (mult == 0) {
		fprintf(stderr, "session-revoker token: --ttl \"%.40s\": not a duration: whole "
				"seconds, or a whole number and one unit s, m, h, d or w "
				"(3600, 8h, 90d, 52w)\n", text);
		return -1;
	}
	if (n < 1) {
		fprintf(stderr, "session-revoker token: --ttl \"%.40s\": at least 1 second\n", text);
		return -1;
	}
	if (errno == ERANGE || n > TTL_MAX / mult) {
		fprintf(stderr, "session-revoker token: --ttl \"%.40s\": longer than the cap of "
				"2 years (730d, %lld seconds)\n", text, TTL_MAX);
		return -1;
	}
	*out = n * mult;
	return 0;
}

int sr_cli_token(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"groups", required_argument, NULL, 'g'},
		{"time", required_argument, NULL, 't'},
		{"action", required_argument, NULL, 'a'},
		{"scope", required_argument, NULL, 's'},
		{"subject", required_argument, NULL, 'u'},
		{"ttl", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = getenv("SR_CONFIG");
	const char *scope = "revocations:write revocations:read", *subject = "dev-operator";
	struct sr_config *cfg;
	json_t *extra = json_object();
	long long ttl = 3600;
	char *token, until[32];
	int c, status = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:g:t:a:s:u:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'g':
			json_object_set_new(extra, "groups", sr_cli_split_list(optarg));
			break;
		case 't':
			json_object_set_new(extra, "time", json_string(optarg));
			break;
		case 'a':
			json_object_set_new(extra, "action", json_string(optarg));
			break;
		case 's':
			scope = optarg;
			break;
		case 'u':
			subject = optarg;
			break;
		case 'l':
			if (parse_ttl(optarg, &ttl) != 0) {
				status = 2;
				goto out;
			}
			break;
		case 'h':
			printf("usage: session-revoker token [--config FILE] [--scope SCOPES]\n"
			       "       [--subject SUB] [--ttl DURATION] [--groups a,b [--time T] [--action A]]\n\n"
			       "Prints a JWT signed with the development key (development.signing_key_file;\n"
			       "the embedded default creates var/dev-signing-key.pem). --scope defaults to\n"
			       "\"revocations:write revocations:read\", --ttl to 3600 (seconds, or a number\n"
			       "and a unit s, m, h, d, w: 8h, 90d, 52w; at most 2 years). A token valid for\n"
			       "more than 30 days, such as --scope events:write for Auth0's log stream,\n"
			       "cannot be revoked before it expires but by rotating the signing key.\n"
			       "With --groups the token also carries a revocation document and can be\n"
			       "POSTed as application/jwt to /v1/revocations.\n");
			status = 0;
			goto out;
		default:
			status = 2;
			goto out;
		}
	}
	cfg = sr_cli_load_config("token", path);
	if (cfg == NULL)
		goto out;
	if (sr_cli_prepare_files(cfg) == 0) {
		token = sr_cli_dev_token(cfg, subject, scope, extra, ttl);
		if (token != NULL) {
			if (ttl > TTL_WARN)
				fprintf(stderr,
					"session-revoker token: warning: this token is valid for %lld "
					"days, until %s; it cannot be revoked before then except by "
					"rotating the signing key (development.signing_key_file) or "
					"changing the issuer configuration (development.issuer, "
					"development.audience)\n",
					ttl / 86400, sr_time_format(sr_clock_now() + ttl, until));
			printf("%s\n", token);
			free(token);
			status = 0;
		}
	}
	sr_config_free(cfg);
out:
	json_decref(extra);
	return status;
}
