/*
 * serve.c - `session-revoker serve`: wire config, store, auth and HTTP
 * together, then wait for SIGTERM/SIGINT and shut down in reverse order.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "session_revoker/auth.h"
#include "session_revoker/http.h"
#include "session_revoker/ingest.h"
#include "session_revoker/jobs.h"
#include "session_revoker/revoke.h"
#include "session_revoker/store.h"

#define EXAMPLE_DOCUMENT "{\"groups\":[\"team_opsec\"],\"time\":\"30 minutes ago\",\"action\":\"revoke\"}"

static void print_banner(const struct sr_config *cfg, int port)
{
	const char *scheme = cfg->tls_cert_file ? "https" : "http";
	char base[300];
	char *token;

	if (cfg->public_url != NULL)
		snprintf(base, sizeof(base), "%s", cfg->public_url);
	else
		snprintf(base, sizeof(base), "%s://%s:%d", scheme,
			 strchr(cfg->listen_address, ':') ? "[::1]" :
			 strcmp(cfg->listen_address, "0.0.0.0") == 0 ? "127.0.0.1" :
			 cfg->listen_address, port);
	printf("session-revoker listening on %s\n", base);
	if (cfg->dev_key_file != NULL) {
		token = sr_cli_dev_token(cfg, "dev-operator",
					 "revocations:write revocations:read", NULL, 12 * 3600);
		if (token != NULL) {
			printf("Try it (development token, valid 12 hours):\n");
			printf("curl -sS -i %s%s%s-X POST %s/v1/revocations "
			       "-H 'Authorization: Bearer %s' "
			       "-H 'Content-Type: application/json' -d '%s'\n",
			       cfg->tls_cert_file ? "--cacert " : "",
			       cfg->tls_cert_file ? cfg->tls_cert_file : "",
			       cfg->tls_cert_file ? " " : "", base, token, EXAMPLE_DOCUMENT);
			printf("Then see what was done, account by account and role by role (ID is the\n"
			       "\"id\" in the answer, also at the end of its Location header):\n");
			printf("curl -sS %s%s%s%s/v1/revocations/ID -H 'Authorization: Bearer %s'\n",
			       cfg->tls_cert_file ? "--cacert " : "",
			       cfg->tls_cert_file ? cfg->tls_cert_file : "",
			       cfg->tls_cert_file ? " " : "", base, token);
			free(token);
		}
	}
	fflush(stdout);
}

int sr_cli_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = getenv("SR_CONFIG");
	struct sr_config *cfg = NULL;
	struct sr_store *store = NULL;
	struct sr_store_config store_cfg;
	struct sr_auth *auth = NULL;
	struct sr_http *http = NULL;
	struct sr_engine *engine = NULL;
	struct sr_jobs *jobs = NULL;
	struct sr_sources_config *sources = NULL;
	struct sr_ingest *ingest = NULL;
	struct sr_auth0_poll *poll = NULL;
	struct sr_config_problems problems = {0};
	struct sr_app app = {0};
	struct sr_err err = {0};
	sigset_t sigs;
	int c, sig = 0, status = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			printf("usage: session-revoker serve [--config FILE]\n\n"
			       "Runs the webhook service. FILE (or $SR_CONFIG) is the JSON\n"
			       "configuration; without one the embedded default listens on\n"
			       "127.0.0.1:8080, keeps its data under ./var, and prints a curl line\n"
			       "with a development token. SIGTERM or SIGINT stops it cleanly.\n");
			return 0;
		default:
			return 2;
		}
	}
	/* Signals go to sigwait() below, never to a worker thread. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	cfg = sr_cli_load_config("serve", path);
	if (cfg == NULL)
		return 1;
	if (sr_cli_prepare_files(cfg) != 0)
		goto out;
	sr_cli_store_config(cfg, 0, &store_cfg);
	if (sr_store_open_config(&store_cfg, &store, &err) != SR_OK ||
	    sr_auth_new(cfg, &auth, &err) != SR_OK)
		goto out;
	if (cfg->n_accounts > 0 && cfg->jobs_workers > 0) {
		/* A job taken over from a dead process runs once its lease expired,
		 * at least 2/3 of a lease after the dead process's last write. */
		if (cfg->aws_late_write_seconds * 3 > cfg->jobs_lease_seconds * 2)
			sr_log(SR_LOG_WARN, "config.late_writes",
			       "aws.late_write_seconds=%lld jobs.lease_seconds=%lld detail=\"a job taken"
			       " over from a dead process may run before its late writes could land:"
			       " keep aws.late_write_seconds within two thirds of jobs.lease_seconds\"",
			       (long long)cfg->aws_late_write_seconds, (long long)cfg->jobs_lease_seconds);
		if (sr_engine_new(cfg, &engine, &err) != SR_OK ||
		    sr_jobs_start(cfg, store, engine, &jobs, &err) != SR_OK)
			goto out;
	} else {
		sr_log(SR_LOG_WARN, "jobs.off", "reason=\"%s\"",
		       cfg->n_accounts == 0 ? "no aws.accounts configured: revocations are recorded only"
					    : "jobs.workers is 0: another process applies them");
	}
	if (sr_sources_config_load(cfg, &sources, &problems, &err) != SR_OK ||
	    sr_ingest_new(cfg, sources, store, &ingest, &err) != SR_OK)
		goto out;
	if (sources->auth0.enabled && sources->auth0.poll.enabled &&
	    sr_auth0_poll_start(ingest, &sources->auth0, store, &poll, &err) != SR_OK)
		goto out;
	app.cfg = cfg;
	app.auth = auth;
	app.store = store;
	app.jobs = jobs;
	app.sources = sources;
	app.ingest = ingest;
	if (sr_http_start(&app, &http, &err) != SR_OK)
		goto out;
	sr_log(SR_LOG_INFO, "serve.listening", "address=%s port=%d tls=%s store=%s",
	       cfg->listen_address, sr_http_port(http), cfg->tls_cert_file ? "true" : "false",
	       sr_log_value((char[300]){0}, 300,
			    sr_url_redact(cfg->store_url, (char[1024]){0}, 1024)));
	print_banner(cfg, sr_http_port(http));
	sigwait(&sigs, &sig);
	sr_log(SR_LOG_INFO, "serve.stopping", "signal=%d", sig);
	status = 0;
out:
	if (err.code != SR_OK && sr_log_get_format() == SR_LOG_JSON) {
		char quoted[300];
		sr_log(SR_LOG_ERROR, "serve.failed", "error=%s",
		       sr_log_quote(quoted, sizeof(quoted), err.msg));
	} else if (err.code != SR_OK) {
		fprintf(stderr, "session-revoker: %s\n", err.msg);
	}
	/* The poll's page in flight commits; then batches not begun are refused
	 * (503: the provider sends them again) and those in flight end within a
	 * lookup's timeout, so every suspended request is back before the HTTP
	 * server waits for them. */
	sr_auth0_poll_stop(poll);
	sr_ingest_stop(ingest);
	sr_http_stop(http);
	sr_ingest_free(ingest);
	sr_sources_config_free(sources);
	sr_jobs_stop(jobs); /* running jobs finish and are recorded */
	sr_engine_free(engine);
	sr_store_close(store);
	sr_auth_free(auth);
	sr_config_free(cfg);
	if (status == 0)
		sr_log(SR_LOG_INFO, "serve.stopped", "%s", "");
	return status;
}
