/*
 * common.c - what several subcommands share: loading the configuration,
 * the files the embedded default needs, development tokens, list flags.
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "session_revoker/store.h"
#include "session_revoker/ingest.h"
#include "session_revoker/auth.h"

json_t *sr_cli_split_list(const char *list)
{
	json_t *arr = json_array();
	const char *p = list;

	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		if (n > 0)
			json_array_append_new(arr, json_stringn(p, n));
		p += n;
		if (*p == ',')
			p++;
	}
	return arr;
}

/* What each command needs of the configuration (enum sr_config_need): a
 * command that never verifies a token does not need a trusted issuer. */
static const struct {
	const char *command;
	unsigned needs;
} command_needs[] = {
	{"serve", SR_CONFIG_NEED_ISSUER | SR_CONFIG_NEED_SOURCES},
	{"token", 0}, /* the development key: sr_cli_dev_token() says when it is missing */
	{"plan", 0},
	{"revoke", 0},
	{"cleanup", 0},
	{"jobs", 0},
	{"rules", SR_CONFIG_NEED_SOURCES},
	{"status", 0}, /* the store file alone */
	{"store", 0},  /* store copy: the stores alone */
	{"ssf", 0},    /* ssf register: the transmitter alone */
};

int sr_cli_config_needs(const char *command, unsigned *needs)
{
	size_t i;

	for (i = 0; i < sizeof(command_needs) / sizeof(command_needs[0]); i++)
		if (strcmp(command_needs[i].command, command) == 0) {
			*needs = command_needs[i].needs;
			return 0;
		}
	return -1;
}

static enum sr_log_level level_of(const char *name)
{
	if (strcmp(name, "debug") == 0)
		return SR_LOG_DEBUG;
	if (strcmp(name, "warn") == 0)
		return SR_LOG_WARN;
	if (strcmp(name, "error") == 0)
		return SR_LOG_ERROR;
	return SR_LOG_INFO;
}

/* development.clock_offset_seconds: one clock for every command. */
static void set_clock(const struct sr_config *cfg)
{
	if (cfg->clock_offset == 0)
		return;
	sr_clock_set_offset(cfg->clock_offset);
	sr_log(SR_LOG_WARN, "clock.shifted", "offset_seconds=%lld", (long long)cfg->clock_offset);
}

struct sr_config *sr_cli_load_config(const char *command, const char *path)
{
	struct sr_config_problems problems;
	struct sr_config *cfg = NULL;
	struct sr_err err = {0};
	unsigned needs = SR_CONFIG_NEED_ISSUER;
	size_t i;

	sr_cli_config_needs(command, &needs);
	if (sr_config_load_for(path, needs, &cfg, &problems, &err) == SR_OK) {
		/* The "sources" section is the sources module's to judge, for
		 * the commands that take events. */
		struct sr_sources_config *sc = NULL;
		if (!(needs & SR_CONFIG_NEED_SOURCES) ||
		    sr_sources_config_load(cfg, &sc, &problems, &err) == SR_OK) {
			sr_sources_config_free(sc);
			/* log.level and log.format hold for every command from here */
			sr_log_set_level(level_of(cfg->log_level));
			sr_log_set_format(strcmp(cfg->log_format, "json") == 0 ? SR_LOG_JSON
									    : SR_LOG_TEXT);
			set_clock(cfg);
			return cfg;
		}
		sr_config_free(cfg);
	}
	fprintf(stderr, "session-revoker: configuration %s has %zu problem%s:\n",
		path ? path : "(embedded default)", problems.n, problems.n == 1 ? "" : "s");
	for (i = 0; i < problems.n; i++)
		fprintf(stderr, "  %s: %s\n", problems.items[i].path, problems.items[i].msg);
	if (problems.n == 0)
		fprintf(stderr, "  %s\n", err.msg);
	return NULL;
}

static int parent_dir(const char *file)
{
	char buf[PATH_MAX];
	struct sr_err err = {0};

	snprintf(buf, sizeof(buf), "%s", file);
	if (sr_mkdirs(dirname(buf), &err) != SR_OK) {
		fprintf(stderr, "session-revoker: %s\n", err.msg);
		return -1;
	}
	return 0;
}

int sr_cli_prepare_files(const struct sr_config *cfg)
{
	struct sr_err err = {0};
	int created = 0;

	if (!sr_store_url_is_server(cfg->store_url) && parent_dir(cfg->store_url) != 0)
		return -1;
	if (cfg->dev_key_file == NULL)
		return 0;
	if (parent_dir(cfg->dev_key_file) != 0)
		return -1;
	if (sr_auth_devkey_ensure(cfg->dev_key_file, &created, &err) != SR_OK) {
		fprintf(stderr, "session-revoker: %s\n", err.msg);
		return -1;
	}
	if (created)
		sr_log(SR_LOG_INFO, "devkey.created", "file=%s",
		       sr_log_value((char[300]){0}, 300, cfg->dev_key_file));
	return 0;
}

char *sr_cli_dev_token(const struct sr_config *cfg, const char *subject,
		       const char *scope, json_t *extra, long long ttl)
{
	struct sr_err err = {0};
	json_t *claims = extra ? json_deep_copy(extra) : json_object();
	char *token = NULL;

	if (cfg->dev_key_file == NULL) {
		fprintf(stderr, "session-revoker: no development key configured "
				"(development.signing_key_file)\n");
		json_decref(claims);
		return NULL;
	}
	json_object_set_new(claims, "sub", json_string(subject));
	json_object_set_new(claims, "scope", json_string(scope));
	if (sr_auth_mint(cfg->dev_key_file, cfg->dev_issuer, cfg->dev_audience, claims,
			 ttl, sr_clock_now(), &token, &err) != SR_OK)
		fprintf(stderr, "session-revoker: %s\n", err.msg);
	json_decref(claims);
	return token;
}


void sr_cli_store_config(const struct sr_config *cfg, int readers, struct sr_store_config *out)
{
	*out = (struct sr_store_config){
		.url = cfg->store_url,
		.password_file = cfg->store_password_file,
		.readers = readers > 0 ? readers : (int)cfg->store_readers,
		.reconnect_seconds = (int)cfg->store_reconnect_seconds,
	};
}
