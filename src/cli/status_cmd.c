/*
 * status_cmd.c - `session-revoker status`: the store, the jobs due and
 * failed, the last AWS error of each account, the revocations by state and
 * source, from the store file alone (read-only; no AWS, no issuer, no
 * sources). Safe beside a running `serve`.
 *
 * Exit status: 0 healthy; 1 unhealthy (no store or an unreadable one, a
 * store this user cannot write, a schema newer than this binary, failed
 * jobs, or with --max-lag a due job older than that); 2 usage or
 * configuration error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "session_revoker/store.h"

static long long int_at(json_t *obj, const char *path1, const char *path2)
{
	json_t *v = json_object_get(obj, path1);

	if (path2 != NULL)
		v = json_object_get(v, path2);
	return (long long)json_integer_value(v);
}

static long long sum(json_t *counts)
{
	const char *k;
	json_t *v;
	long long n = 0;

	json_object_foreach(counts, k, v)
		n += (long long)json_integer_value(v);
	return n;
}

/* "apply 1, cleanup 2" (or "none") */
static void print_counts(json_t *counts)
{
	const char *k;
	json_t *v;
	int first = 1;

	json_object_foreach(counts, k, v) {
		printf("%s%s %lld", first ? "" : ", ", k, (long long)json_integer_value(v));
		first = 0;
	}
	printf("%s\n", first ? "none" : "");
}

/* The verdict: problems (a JSON array of strings) is empty when healthy. */
static json_t *judge(json_t *st, const char *failure, long long max_lag)
{
	json_t *problems = json_array(), *store = json_object_get(st, "store");
	json_t *oldest = json_object_get(json_object_get(st, "jobs"), "oldest_due");
	long long failed = sum(json_object_get(json_object_get(st, "jobs"), "failed"));
	char buf[400];

	if (failure != NULL)
		json_array_append_new(problems, json_string(failure));
	if (json_is_false(json_object_get(store, "writable"))) {
		snprintf(buf, sizeof(buf), "the store takes no writes: %s",
			 json_string_value(json_object_get(store, "not_writable_because")));
		json_array_append_new(problems, json_string(buf));
	}
	if (int_at(store, "schema_version", NULL) > int_at(store, "schema_expected", NULL)) {
		snprintf(buf, sizeof(buf), "the store's schema version %lld is newer than this"
			 " binary's (%lld)", int_at(store, "schema_version", NULL),
			 int_at(store, "schema_expected", NULL));
		json_array_append_new(problems, json_string(buf));
	}
	if (failed > 0) {
		snprintf(buf, sizeof(buf), "%lld failed job%s (session-revoker jobs --state failed;"
			 " --retry ID)", failed, failed == 1 ? "" : "s");
		json_array_append_new(problems, json_string(buf));
	}
	if (max_lag > 0 && oldest != NULL && json_is_object(oldest) &&
	    int_at(oldest, "age_seconds", NULL) > max_lag) {
		snprintf(buf, sizeof(buf), "job %lld has been due for %lld s (more than --max-lag %lld)",
			 int_at(oldest, "id", NULL), int_at(oldest, "age_seconds", NULL), max_lag);
		json_array_append_new(problems, json_string(buf));
	}
	return problems;
}

static void print_store(json_t *store)
{
	json_t *free_bytes = json_object_get(store, "free_bytes");

	if (json_object_get(store, "url") != NULL) { /* a server */
		printf("store         %s\n", json_string_value(json_object_get(store, "url")));
		if (json_object_get(store, "server_version") == NULL)
			return; /* not reached */
		printf("  server      PostgreSQL %s\n",
		       json_string_value(json_object_get(store, "server_version")));
	} else {
		printf("store         %s\n", json_string_value(json_object_get(store, "path")));
		if (json_object_get(store, "size_bytes") == NULL)
			return; /* no such file */
	}
	if (json_object_get(store, "schema_version") != NULL)
		printf("  schema      version %lld (this binary: %lld)\n",
		       int_at(store, "schema_version", NULL), int_at(store, "schema_expected", NULL));
	if (json_object_get(store, "size_bytes") != NULL) {
		printf("  size        %lld bytes, %lld in the write-ahead log",
		       int_at(store, "size_bytes", NULL), int_at(store, "wal_bytes", NULL));
		if (json_is_integer(free_bytes))
			printf("; %lld bytes free on its disk",
			       (long long)json_integer_value(free_bytes));
		printf("\n");
	}
	if (json_is_true(json_object_get(store, "writable")))
		printf("  writes      yes (checked without writing)\n");
	else
		printf("  writes      NO: %s\n",
		       json_string_value(json_object_get(store, "not_writable_because")));
}

static void print_text(json_t *st, json_t *problems)
{
	json_t *jobs = json_object_get(st, "jobs"), *revs = json_object_get(st, "revocations");
	json_t *oldest = json_object_get(jobs, "oldest_due"), *v, *counts;
	const char *k;
	size_t i;

	print_store(json_object_get(st, "store"));
	if (jobs != NULL) {
		printf("jobs\n");
		json_object_foreach(json_object_get(jobs, "by_kind_and_state"), k, counts) {
			printf("  %-11s ", k);
			print_counts(counts);
		}
		printf("  due now     ");
		print_counts(json_object_get(jobs, "due_now"));
		printf("  failed      ");
		print_counts(json_object_get(jobs, "failed"));
		if (json_is_object(oldest))
			printf("  oldest due  job %lld (%s, account %s, %s) due since %s, %lld s ago,"
			       " %lld attempts\n", int_at(oldest, "id", NULL),
			       json_string_value(json_object_get(oldest, "kind")),
			       json_string_value(json_object_get(oldest, "account")),
			       json_string_value(json_object_get(oldest, "state")),
			       json_string_value(json_object_get(oldest, "run_at")),
			       int_at(oldest, "age_seconds", NULL), int_at(oldest, "attempts", NULL));
		else
			printf("  oldest due  none\n");
		printf("last AWS error per account\n");
		if (json_array_size(json_object_get(st, "aws_errors")) == 0)
			printf("  none\n");
		json_array_foreach(json_object_get(st, "aws_errors"), i, v)
			printf("  %s  %s  job %lld (%s, %s%s): %s\n",
			       json_string_value(json_object_get(v, "account")),
			       json_string_value(json_object_get(v, "at")), int_at(v, "job_id", NULL),
			       json_string_value(json_object_get(v, "kind")),
			       json_string_value(json_object_get(v, "job_state")),
			       json_is_true(json_object_get(v, "later_job_done"))
				       ? "; a later job of the account is done" : "",
			       json_string_value(json_object_get(v, "error")));
		printf("revocations\n  by state    ");
		print_counts(json_object_get(revs, "by_state"));
		printf("  by source   ");
		print_counts(json_object_get(revs, "by_source"));
	}
	if (json_array_size(problems) == 0) {
		printf("status        healthy\n");
		return;
	}
	printf("status        UNHEALTHY\n");
	json_array_foreach(problems, i, v)
		printf("  - %s\n", json_string_value(v));
}

int sr_cli_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"max-lag", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = getenv("SR_CONFIG");
	struct sr_config *cfg = NULL;
	struct sr_err err = {0};
	struct sr_store_config store_cfg;
	json_t *st = NULL, *problems = NULL;
	long long max_lag = 0;
	int c, as_json = 0;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:jm:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'j':
			as_json = 1;
			break;
		case 'm':
			errno = 0;
			max_lag = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || max_lag < 1) {
				fprintf(stderr, "session-revoker status: --max-lag takes seconds"
						" (a whole number, 1 or more), not \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'h':
			printf("usage: session-revoker status [--config FILE] [--json] [--max-lag SECONDS]\n\n"
			       "Reads the store (read-only; never AWS) and shows: the store file (path,\n"
			       "schema version, size, whether it takes writes), jobs by kind and state,\n"
			       "the jobs due now and failed, the oldest due job, the last AWS error of each\n"
			       "account, revocations by state and source. Safe while serve runs.\n"
			       "Exit status: 0 healthy; 1 unhealthy (the store is missing, unreadable or\n"
			       "takes no writes, its schema is newer than this binary, a job failed, or a\n"
			       "job has been due longer than --max-lag); 2 usage or configuration error.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "session-revoker status: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	cfg = sr_cli_load_config("status", path);
	if (cfg == NULL)
		return 2;
	sr_cli_store_config(cfg, 1, &store_cfg);
	if (sr_store_status(&store_cfg, sr_clock_now(), &st, &err) != SR_OK) {
		fprintf(stderr, "session-revoker status: %s\n", err.msg);
		if (st == NULL)
			st = json_pack("{s:{s:s}}", "store", sr_store_url_is_server(cfg->store_url)
							 ? "url" : "path",
				       sr_url_redact(cfg->store_url, (char[1024]){0}, 1024));
	}
	problems = judge(st, err.code != SR_OK ? err.msg : NULL, max_lag);
	if (as_json) {
		char *text;
		json_object_set_new(st, "healthy", json_boolean(json_array_size(problems) == 0));
		json_object_set(st, "problems", problems);
		text = json_dumps(st, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", text ? text : "{}");
		free(text);
	} else {
		print_text(st, problems);
	}
	c = json_array_size(problems) == 0 ? 0 : 1;
	json_decref(problems);
	json_decref(st);
	sr_config_free(cfg);
	return c;
}
