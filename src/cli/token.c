/*
 * token.c - `session-revoker token`: a development JWT for curl.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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
	char *token, *end;
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
			errno = 0;
			ttl = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || ttl < 1 || ttl > 7 * 86400) {
				fprintf(stderr, "session-revoker token: --ttl must be 1..604800 seconds\n");
				goto out;
			}
			break;
		case 'h':
			printf("usage: session-revoker token [--config FILE] [--scope SCOPES]\n"
			       "       [--subject SUB] [--ttl SECONDS] [--groups a,b [--time T] [--action A]]\n\n"
			       "Prints a JWT signed with the development key (development.signing_key_file;\n"
			       "the embedded default creates var/dev-signing-key.pem). --scope defaults to\n"
			       "\"revocations:write revocations:read\", --ttl to 3600. With --groups the\n"
			       "token also carries a revocation document and can be POSTed as\n"
			       "application/jwt to /v1/revocations.\n");
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
