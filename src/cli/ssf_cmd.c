/*
 * ssf_cmd.c - `session-revoker ssf register`: registers this service as an
 * OpenID Shared Signals push receiver with a transmitter (ssfreg.h): reads
 * its /.well-known/ssf-configuration, then creates the stream delivering to
 * --delivery-url, or updates the one that already does (or --stream-id).
 *
 * The transmitter's management token (--token-file) and the value it is to
 * send in each push's Authorization header (--authorization-file, by default
 * sources.ssf.authorization_file) are read from files and never printed.
 *
 * Exit status: 0 done (or, with --dry-run, what would be done shown); 1 the
 * transmitter or the network said no; 2 usage or configuration error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "session_revoker/ssfreg.h"

#define MAX_SECRET 4096

static const char *const default_events =
	"https://schemas.openid.net/secevent/caep/event-type/session-revoked,"
	"https://schemas.openid.net/secevent/caep/event-type/credential-change,"
	"https://schemas.openid.net/secevent/risc/event-type/account-disabled,"
	"https://schemas.openid.net/secevent/risc/event-type/account-purged";

static void usage(FILE *out)
{
	fprintf(out,
		"usage: session-revoker ssf register --delivery-url URL [--transmitter ISSUER]\n"
		"         [--token-file FILE] [--authorization-file FILE] [--events URI,...]\n"
		"         [--stream-id ID] [--ca-file FILE] [--dry-run] [--json] [--config FILE]\n\n"
		"Registers this service as a push receiver (RFC 8935) with an OpenID Shared\n"
		"Signals transmitter: reads ISSUER's /.well-known/ssf-configuration, checks that\n"
		"it supports push delivery, then updates the stream that already delivers to\n"
		"--delivery-url (or --stream-id), or creates one, asking for the CAEP\n"
		"session-revoked and credential-change and the RISC account-disabled and\n"
		"account-purged events (--events replaces that list).\n\n"
		"  --transmitter ISSUER       the transmitter's issuer (default: sources.ssf.issuer)\n"
		"  --delivery-url URL         where it is to push: this service's /v1/events/ssf\n"
		"  --token-file FILE          its management API's bearer token (first line)\n"
		"  --authorization-file FILE  the Authorization value it is to send with each SET\n"
		"                             (default: sources.ssf.authorization_file; none: no\n"
		"                             authorization_header)\n"
		"  --ca-file FILE             trust these CAs (default: http_client.ca_file)\n"
		"  --dry-run                  only read: say whether it would create or update\n"
		"  --json                     print the result as JSON\n\n"
		"Exit status: 0 done; 1 the transmitter refused or could not be reached;\n"
		"2 usage or configuration error.\n");
}

/* The first line of path, a secret. OUT *value: free with sr_secret_free(). */
static int read_secret(const char *flag, const char *path, char **value, size_t *len)
{
	struct sr_err err = {0};
	size_t n = 0;

	if (sr_file_read(path, MAX_SECRET, value, &n, &err) != SR_OK) {
		fprintf(stderr, "session-revoker ssf register: %s: %s\n", flag, err.msg);
		return -1;
	}
	*len = n;
	(*value)[strcspn(*value, "\r\n")] = '\0';
	if ((*value)[0] == '\0') {
		fprintf(stderr, "session-revoker ssf register: %s: %s is empty\n", flag, path);
		sr_secret_free(*value, n);
		*value = NULL;
		return -1;
	}
	return 0;
}

static const char *ssf_setting(const struct sr_config *cfg, const char *name)
{
	return json_string_value(
		json_object_get(json_object_get(cfg->sources, "ssf"), name));
}

static void print_text(json_t *r)
{
	const char *action = json_string_value(json_object_get(r, "action"));
	json_t *v, *delivered = json_object_get(r, "events_delivered");
	size_t i;

	printf("%s stream %s with %s\n", action,
	       json_is_string(json_object_get(r, "stream_id"))
		       ? json_string_value(json_object_get(r, "stream_id")) : "(new)",
	       json_string_value(json_object_get(r, "transmitter")));
	printf("  delivery      %s to %s\n", json_string_value(json_object_get(r, "delivery_method")),
	       json_string_value(json_object_get(r, "delivery_url")));
	printf("  requested\n");
	json_array_foreach(json_object_get(r, "events_requested"), i, v)
		printf("    %s\n", json_string_value(v));
	if (!json_is_array(delivered)) {
		printf("  delivered     (the transmitter did not say)\n");
		return;
	}
	printf("  delivered%s\n", json_array_size(delivered) == 0 ? "     none" : "");
	json_array_foreach(delivered, i, v)
		printf("    %s\n", json_string_value(v));
}

static int do_register(int argc, char **argv)
{
	static const struct option opts[] = {
		{"transmitter", required_argument, NULL, 't'},
		{"delivery-url", required_argument, NULL, 'd'},
		{"token-file", required_argument, NULL, 'k'},
		{"authorization-file", required_argument, NULL, 'a'},
		{"events", required_argument, NULL, 'e'},
		{"stream-id", required_argument, NULL, 's'},
		{"ca-file", required_argument, NULL, 'C'},
		{"dry-run", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = getenv("SR_CONFIG"), *token_file = NULL, *auth_file = NULL;
	const char *events = default_events, *ca_file = NULL;
	struct sr_ssfreg_req req = {0};
	struct sr_config *cfg = NULL;
	struct sr_err err = {0};
	char *token = NULL, *authz = NULL;
	size_t token_len = 0, authz_len = 0;
	json_t *result = NULL;
	int c, as_json = 0, status = 2;

	optind = 1;
	while ((c = getopt_long(argc, argv, "t:d:k:a:e:s:C:njc:h", opts, NULL)) != -1) {
		switch (c) {
		case 't': req.transmitter = optarg; break;
		case 'd': req.delivery_url = optarg; break;
		case 'k': token_file = optarg; break;
		case 'a': auth_file = optarg; break;
		case 'e': events = optarg; break;
		case 's': req.stream_id = optarg; break;
		case 'C': ca_file = optarg; break;
		case 'n': req.dry_run = 1; break;
		case 'j': as_json = 1; break;
		case 'c': path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "session-revoker ssf register: unexpected argument \"%s\"\n",
			argv[optind]);
		return 2;
	}
	if ((cfg = sr_cli_load_config("ssf", path)) == NULL)
		return 2;
	if (req.transmitter == NULL)
		req.transmitter = ssf_setting(cfg, "issuer");
	if (auth_file == NULL)
		auth_file = ssf_setting(cfg, "authorization_file");
	if (req.transmitter == NULL || req.delivery_url == NULL) {
		fprintf(stderr, "session-revoker ssf register: %s is required (see --help)\n",
			req.delivery_url == NULL ? "--delivery-url"
						 : "--transmitter (or sources.ssf.issuer)");
		goto out;
	}
	if (strncmp(req.delivery_url, "https://", 8) != 0 &&
	    strncmp(req.delivery_url, "http://", 7) != 0) {
		fprintf(stderr, "session-revoker ssf register: --delivery-url must be an http(s)"
				" URL, not \"%s\"\n", req.delivery_url);
		goto out;
	}
	if (token_file != NULL && read_secret("--token-file", token_file, &token, &token_len) != 0)
		goto out;
	if (auth_file != NULL &&
	    read_secret("--authorization-file", auth_file, &authz, &authz_len) != 0)
		goto out;
	req.events = sr_cli_split_list(events);
	if (json_array_size(req.events) == 0) {
		fprintf(stderr, "session-revoker ssf register: --events names no event type\n");
		goto out;
	}
	req.token = token;
	req.authorization = authz;
	req.ca_file = ca_file ? ca_file : cfg->http_client_ca_file;
	req.timeout_seconds = cfg->http_client_timeout;
	req.max_bytes = (size_t)cfg->http_client_max_bytes;
	if (sr_ssfreg_register(&req, &result, &err) != SR_OK) {
		fprintf(stderr, "session-revoker ssf register: %s\n", err.msg);
		status = 1;
		goto out;
	}
	if (as_json) {
		char *text = json_dumps(result, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", text ? text : "{}");
		free(text);
	} else {
		print_text(result);
	}
	status = 0;
out:
	if (token != NULL)
		sr_secret_free(token, token_len);
	if (authz != NULL)
		sr_secret_free(authz, authz_len);
	json_decref(req.events);
	json_decref(result);
	sr_config_free(cfg);
	return status;
}

int sr_cli_ssf(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "register") == 0)
		return do_register(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "session-revoker ssf: %s\n\n",
		argc < 2 ? "which subcommand? (register)" : "unknown subcommand");
	usage(stderr);
	return 2;
}
