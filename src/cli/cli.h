/* cli.h - the subcommands of the session-revoker binary. */
#ifndef SESSION_REVOKER_CLI_H
#define SESSION_REVOKER_CLI_H

#include <jansson.h>

#include "session_revoker/config.h"

int sr_cli_serve(int argc, char **argv);
int sr_cli_token(int argc, char **argv);
int sr_cli_check_config(int argc, char **argv);
int sr_cli_plan(int argc, char **argv);
int sr_cli_revoke(int argc, char **argv);
int sr_cli_cleanup(int argc, char **argv);
int sr_cli_jobs(int argc, char **argv);
int sr_cli_rules(int argc, char **argv);
int sr_cli_status(int argc, char **argv);
int sr_cli_store(int argc, char **argv);
int sr_cli_ssf(int argc, char **argv);

/* Loads the configuration named by --config / SR_CONFIG (NULL: the embedded
 * default) and validates it for what command needs, printing every problem
 * to stderr; then shifts the process's clock by
 * development.clock_offset_seconds, so every command sees one clock. NULL on
 * failure. */
struct sr_config *sr_cli_load_config(const char *command, const char *path);

/* OUT *needs: what command needs of the configuration (enum sr_config_need).
 * -1 when there is no such command. */
int sr_cli_config_needs(const char *command, unsigned *needs);

/* Makes sure the development key and an SQLite store's folder exist. */
int sr_cli_prepare_files(const struct sr_config *cfg);

struct sr_store_config;

/* The store's settings of cfg (strings borrowed from cfg); readers: 0 for
 * store.readers. */
void sr_cli_store_config(const struct sr_config *cfg, int readers, struct sr_store_config *out);

/* "a,b,c" as a JSON array of strings (empty items skipped). New reference. */
json_t *sr_cli_split_list(const char *list);

/* Mints a development token (new string, free()) or prints why not. */
char *sr_cli_dev_token(const struct sr_config *cfg, const char *subject,
		       const char *scope, json_t *extra, long long ttl);

#endif
