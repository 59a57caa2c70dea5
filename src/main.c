/*
 * main.c - argv to a subcommand. Nothing else lives here.
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libxml/parser.h>

#include "cli/cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *what;
} commands[] = {
	{"serve", sr_cli_serve, "run the webhook service"},
	{"token", sr_cli_token, "mint a development JWT for curl"},
	{"check-config", sr_cli_check_config, "validate a configuration file and explain problems"},
	{"plan", sr_cli_plan, "list the IAM roles a revocation of some groups would hit, and why"},
	{"revoke", sr_cli_revoke, "deny old sessions of the matching roles now"},
	{"cleanup", sr_cli_cleanup, "remove deny policies whose sessions have all expired"},
	{"jobs", sr_cli_jobs, "list the job table, retry a failed job"},
	{"rules", sr_cli_rules, "show the sources' rules; test what a saved payload would revoke"},
	{"status", sr_cli_status, "the store, jobs due and failed, last AWS errors (read-only)"},
	{"store", sr_cli_store, "store copy: move an SQLite store into PostgreSQL"},
	{"ssf", sr_cli_ssf, "ssf register: become a Shared Signals transmitter's push receiver"},
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: session-revoker <command> [options]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].what);
	fprintf(out, "\nsession-revoker <command> --help shows each command's options.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	/* Library set-up that is not thread-safe happens here, once, first. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "session-revoker: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return 2;
}
