/*
 * jobs_cmd.c - `session-revoker jobs`: list the job table, retry a job.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "session_revoker/store.h"

static void print_text(json_t *jobs)
{
	size_t i;
	json_t *j;

	printf("%-6s %-8s %-12s %-8s %-20s %-3s %s\n", "ID", "KIND", "ACCOUNT", "STATE", "RUN AT",
	       "TRY", "REVOCATION / LAST ERROR");
	json_array_foreach(jobs, i, j) {
		const char *e = json_string_value(json_object_get(j, "last_error"));
		printf("%-6lld %-8s %-12s %-8s %-20s %-3lld %s%s%s\n",
		       (long long)json_integer_value(json_object_get(j, "id")),
		       json_string_value(json_object_get(j, "kind")),
		       json_string_value(json_object_get(j, "account")),
		       json_string_value(json_object_get(j, "state")),
		       json_string_value(json_object_get(j, "run_at")),
		       (long long)json_integer_value(json_object_get(j, "attempts")),
		       json_string_value(json_object_get(j, "revocation_id")), e ? "  " : "", e ? e : "");
	}
}

int sr_cli_jobs(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"state", required_argument, NULL, 's'},
		{"limit", required_argument, NULL, 'l'},
		{"retry", required_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = getenv("SR_CONFIG"), *state = NULL;
	struct sr_config *cfg = NULL;
	struct sr_store *store = NULL;
	struct sr_store_config store_cfg;
	struct sr_err err = {0};
	json_t *jobs = NULL;
	long long retry = 0, limit = 50;
	int c, as_json = 0, status = 2;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:s:l:r:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 's':
			state = optarg;
			if (strcmp(state, "pending") && strcmp(state, "running") &&
			    strcmp(state, "done") && strcmp(state, "failed")) {
				fprintf(stderr, "session-revoker jobs: --state is pending, running, done or failed\n");
				return 2;
			}
			break;
		case 'l':
			errno = 0;
			limit = strtoll(optarg, &end, 10);
			if (errno || *end || limit < 1 || limit > 10000) {
				fprintf(stderr, "session-revoker jobs: --limit is 1..10000\n");
				return 2;
			}
			break;
		case 'r':
			errno = 0;
			retry = strtoll(optarg, &end, 10);
			if (errno || *end || retry < 1) {
				fprintf(stderr, "session-revoker jobs: --retry takes a job id\n");
				return 2;
			}
			break;
		case 'j':
			as_json = 1;
			break;
		case 'h':
			printf("usage: session-revoker jobs [--config FILE] [--state S] [--limit N] [--json]\n"
			       "       session-revoker jobs [--config FILE] --retry ID\n\n"
			       "Lists the job table (newest first): which revocation, which account, apply\n"
			       "or cleanup, its state, when it runs next, how many attempts, the last error.\n"
			       "--retry makes a failed job due now with its attempts reset; a running\n"
			       "service picks it up.\n");
			return 0;
		default:
			return 2;
		}
	}
	cfg = sr_cli_load_config("jobs", path);
	if (cfg == NULL)
		return 2;
	sr_cli_store_config(cfg, 1, &store_cfg);
	if (sr_store_open_config(&store_cfg, &store, &err) != SR_OK)
		goto out;
	if (retry) {
		if (sr_store_job_retry(store, retry, sr_clock_now(), &err) != SR_OK)
			goto out;
		printf("job %lld is due now\n", retry);
		status = 0;
		goto out;
	}
	if (sr_store_jobs_list(store, state, (int)limit, &jobs, &err) != SR_OK)
		goto out;
	if (as_json) {
		char *text = json_dumps(jobs, JSON_INDENT(2));
		printf("%s\n", text ? text : "[]");
		free(text);
	} else {
		print_text(jobs);
	}
	status = 0;
out:
	if (err.code != SR_OK) {
		fprintf(stderr, "session-revoker jobs: %s\n", err.msg);
		status = err.code == SR_ENOTFOUND ? 1 : 2;
	}
	json_decref(jobs);
	sr_store_close(store);
	sr_config_free(cfg);
	return status;
}
