/*
 * store_cmd.c - `session-revoker store copy`: an SQLite store moved into
 * PostgreSQL (sr_store_copy says what is checked and how).
 *
 * Exit status: 0 copied; 1 not copied (the message says why; nothing was
 * committed on the destination); 2 usage or configuration error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "session_revoker/store.h"

static const char usage_text[] =
	"usage: session-revoker store copy --from FILE [--to postgres://...] [--config FILE]\n";

static void help(void)
{
	printf("%s\n"
	       "Copies the SQLite store in FILE into a PostgreSQL database: every table,\n"
	       "with its ids, in one transaction; then PostgreSQL's id sequences continue\n"
	       "after the copied ids. --to defaults to store.url (SR_STORE_URL); the\n"
	       "password comes from store.password_file (SR_STORE_PASSWORD_FILE) or\n"
	       "libpq's own (PGPASSWORD, ~/.pgpass). Stop every serve using FILE first.\n\n"
	       "Both stores are migrated to this binary's schema (as serve would). Refused,\n"
	       "with nothing written: a destination that holds any row, a FILE that is\n"
	       "not a session-revoker store, is newer than this binary, or holds a table\n"
	       "the copy does not know. Prints the rows copied per table.\n"
	       "Exit status 0 copied, 1 not copied, 2 usage or configuration error.\n",
	       usage_text);
}

static int copy(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = getenv("SR_CONFIG"), *from = NULL, *to = NULL;
	struct sr_store_copy_report report;
	struct sr_store_config store_cfg;
	struct sr_config *cfg = NULL;
	struct sr_err err = {0};
	char shown[512];
	int64_t total = 0;
	size_t i;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:f:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'h':
			help();
			return 0;
		default:
			fprintf(stderr, "%s", usage_text);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "session-revoker store copy: unexpected argument \"%s\"\n%s",
			argv[optind], usage_text);
		return 2;
	}
	if (from == NULL || from[0] == '\0') {
		fprintf(stderr, "session-revoker store copy: --from FILE (the SQLite store) is"
				" required\n%s", usage_text);
		return 2;
	}
	if ((cfg = sr_cli_load_config("store", path)) == NULL)
		return 2;
	sr_cli_store_config(cfg, 1, &store_cfg);
	if (to != NULL)
		store_cfg.url = to;
	if (!sr_store_url_is_server(store_cfg.url)) {
		fprintf(stderr, "session-revoker store copy: the destination must be a PostgreSQL"
				" URL (postgres://...): %s \"%s\"\n", to ? "--to is" : "no --to, and"
				" store.url is", sr_url_redact(store_cfg.url ? store_cfg.url : "",
							       shown, sizeof(shown)));
		sr_config_free(cfg);
		return 2;
	}
	if (sr_store_copy(from, &store_cfg, &report, &err) != SR_OK) {
		fprintf(stderr, "session-revoker store copy: %s\n", err.msg);
		sr_config_free(cfg);
		return 1;
	}
	printf("copied %s (schema version %d) into %s\n", from, report.schema_version,
	       sr_url_redact(store_cfg.url, shown, sizeof(shown)));
	printf("%-20s %12s\n", "TABLE", "ROWS");
	for (i = 0; i < report.n; i++) {
		printf("%-20s %12lld\n", report.tables[i].table, (long long)report.tables[i].rows);
		total += report.tables[i].rows;
	}
	printf("%-20s %12lld\n", "total", (long long)total);
	sr_config_free(cfg);
	return 0;
}

int sr_cli_store(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "copy") == 0)
		return copy(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: session-revoker store copy [options]   (store copy --help)\n");
		return 0;
	}
	fprintf(stderr, "session-revoker store: %s\n%s",
		argc < 2 ? "name a subcommand: copy" : "the only subcommand is copy", usage_text);
	return 2;
}
