/*
 * engine_cmds.c - `session-revoker plan | revoke | cleanup`: the engine from
 * the command line, with the document's fields as flags.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "cli.h"
#include "session_revoker/revoke.h"
#include "session_revoker/sources.h"
#include "session_revoker/store.h"

static void usage(const char *cmd)
{
	printf("usage: session-revoker %s --groups a,b [--subjects p,q] [--accounts id,id]%s\n"
	       "       [--dry-run] [--json] [--config FILE]\n\n", cmd,
	       strcmp(cmd, "revoke") == 0 ? " [--time T]" : "");
	if (strcmp(cmd, "plan") == 0)
		printf("Lists the IAM roles, in every configured account (or --accounts), that one of\n"
		       "the groups reaches through a configured federated provider (OIDC or SAML),\n"
		       "and what selected each: a trust policy condition, the role's\n"
		       "session-revoker:groups tag (read with one ListRoleTags call per federated\n"
		       "role the other two did not select) or revoke.role_mappings. Roles AWS lets\n"
		       "no one edit (IAM Identity Center's, service-linked) are listed as\n"
		       "unmodifiable, with the reason. Writes nothing.\n");
	else if (strcmp(cmd, "revoke") == 0)
		printf("Puts the deny policy (aws:TokenIssueTime before --time, default now) on every\n"
		       "matching role now; a later cut-off already in place is kept. --dry-run\n"
		       "reports what would change and writes nothing.\n");
	else
		printf("Removes the deny policy from matching roles once cut-off + max session +\n"
		       "skew has passed, and reports when it will be due for the others.\n"
		       "--dry-run reports what would change and writes nothing.\n\n"
		       "A role whose trust policy no longer lets the groups in keeps a deny policy\n"
		       "written earlier: cleanup visits those roles too. It finds them in the store\n"
		       "(store.path) when that file exists; otherwise it reads the names of the inline\n"
		       "policies of every role that trusts a configured provider, which costs one\n"
		       "ListRolePolicies call per such role.\n");
	printf("\n--subjects names people (targeted revocation: README, \"Revoking one person\"),\n"
	       "with or without --groups: the values their sessions carry as aws:SourceIdentity\n"
	       "(or targeted.principal_tag). Each is denied on every role they could reach\n"
	       "(targeted.scope) for sessions issued before --time + targeted.token_lifetime_seconds;\n"
	       "plan shows, per role, the people and the characters the inline policies use\n"
	       "and leave; cleanup removes each person once their own cut-off + max session\n"
	       "has passed.\n");
	if (strcmp(cmd, "plan") != 0)
		printf("\nA write AWS did not answer (a timeout, a broken connection, HTTP 500) may\n"
		       "still be carried out later: the command then waits aws.late_write_seconds\n"
		       "and reads those roles again, putting right what a late write undid.\n");
	printf("\nExit status: 0 when every account and role went through, 1 when any failed,\n"
	       "2 for bad arguments or configuration.\n");
}

static void print_text(const struct sr_engine_report *rep)
{
	char t1[32], t2[32];
	size_t i;

	for (i = 0; i < rep->n_accounts; i++) {
		const struct sr_account_result *a = &rep->accounts[i];
		if (a->error[0] != '\0')
			printf("%s  ACCOUNT FAILED  %s\n", a->id, a->error);
		else
			printf("%s  %d roles, %d matching, %lu AWS calls\n", a->id, a->roles_seen,
			       a->matched, a->aws_calls);
	}
	for (i = 0; i < rep->n_roles; i++) {
		const struct sr_role_result *r = &rep->roles[i];
		const struct sr_match_reason *m = &r->match.reasons[0];
		printf("%s  %-32s %-12s", r->account, r->role_name, r->outcome);
		if (r->cutoff)
			printf(" cutoff=%s", sr_time_format(r->cutoff, t1));
		if (r->due)
			printf(" due=%s", sr_time_format(r->due, t2));
		if (r->error[0])
			printf(" %s=\"%s\"", strcmp(r->outcome, "unmodifiable") == 0 ? "reason" : "error",
			       r->error);
		/* what selected it: a trust condition, the groups tag or a mapping */
		if (r->match.n_reasons > 0 && strcmp(m->source, "tag") == 0)
			printf("  [tag %s = %s]", m->key, m->value);
		else if (r->match.n_reasons > 0 && strcmp(m->source, "mapping") == 0)
			printf("  [mapping %s %s = %s]", m->statement, m->key, m->value);
		else if (r->match.n_reasons > 0)
			printf("  [trust %s %s %s = %s]", m->statement, m->op, m->key, m->value);
		if (r->visited)
			printf(" visited=%s", r->visited);
		if (r->recheck)
			printf(" recheck=%s", r->recheck);
		if (r->unsettled)
			printf(" unsettled-until=%s", sr_time_format(r->unsettled, t1));
		if (r->targeted && r->chars_used > 0) {
			printf(" people=%d characters=%lld", r->people, (long long)r->chars_used);
			if (r->chars_left >= 0)
				printf(" left=%lld", (long long)r->chars_left);
			if (r->unwritten)
				printf(" not-written=%d", r->unwritten);
		}
		printf("\n");
	}
}

static int run(const char *cmd, enum sr_engine_mode mode, int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"groups", required_argument, NULL, 'g'},
		{"subjects", required_argument, NULL, 's'},
		{"time", required_argument, NULL, 't'},
		{"accounts", required_argument, NULL, 'a'},
		{"dry-run", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = getenv("SR_CONFIG");
	json_t *doc = json_object();
	struct sr_config *cfg = NULL;
	struct sr_engine *engine = NULL;
	struct sr_document *d = NULL;
	struct sr_person *people = NULL;
	struct sr_engine_report rep = {0};
	struct sr_engine_request req = {0};
	struct sr_store *store = NULL;
	char **visit = NULL, **cleanup_groups = NULL; /* cleanup_groups: borrowed strings */
	size_t n_visit = 0;
	struct sr_err err = {0};
	int c, as_json = 0, status = 2;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:g:s:t:a:njh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'g':
			json_object_set_new(doc, "groups", sr_cli_split_list(optarg));
			break;
		case 's':
			json_object_set_new(doc, "subjects", sr_cli_split_list(optarg));
			break;
		case 't':
			if (mode != SR_ENGINE_REVOKE) {
				fprintf(stderr, "session-revoker %s: --time is for revoke\n", cmd);
				goto out;
			}
			json_object_set_new(doc, "time", json_string(optarg));
			break;
		case 'a':
			json_object_set_new(doc, "accounts", sr_cli_split_list(optarg));
			break;
		case 'n':
			req.dry_run = 1;
			break;
		case 'j':
			as_json = 1;
			break;
		case 'h':
			usage(cmd);
			status = 0;
			goto out;
		default:
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "session-revoker %s: unexpected argument \"%s\"\n", cmd, argv[optind]);
		goto out;
	}
	cfg = sr_cli_load_config(cmd, path);
	if (cfg == NULL)
		goto out;
	{
		struct sr_document_limits lim = {(size_t)cfg->max_groups, (size_t)cfg->max_group_length,
						 cfg->clock_skew, 0, cfg->targeted_tag};
		if (sr_document_parse(doc, &lim, sr_clock_now(), &d, &err) != SR_OK) {
			fprintf(stderr, "session-revoker %s: %s\n", cmd,
				strncmp(err.msg, "groups: required", 16) == 0
					? "--groups or --subjects is required" : err.msg);
			goto out;
		}
		sr_document_set_cutoffs(d, cfg->hold_seconds, cfg->targeted_lifetime);
		if (sr_targeted_people(d->subjects, d->n_subjects, d->subjects_cutoff, &people,
				       &err) != SR_OK) {
			fprintf(stderr, "session-revoker %s: %s\n", cmd, err.msg);
			goto out;
		}
	}
	req.mode = mode;
	req.groups = d->groups;
	req.n_groups = d->n_groups;
	req.cutoff = d->groups_cutoff ? d->groups_cutoff : d->cutoff;
	req.people = people;
	req.n_people = d->n_subjects;
	req.accounts = d->accounts;
	req.n_accounts = d->n_accounts;
	req.now = sr_clock_now();
	req.max_wait = cfg->aws_late_write_seconds + 5;
	if (mode == SR_ENGINE_CLEANUP) {
		/* The roles denied earlier, whatever their trust policy says now. */
		if (sr_store_url_is_server(cfg->store_url) || access(cfg->store_url, F_OK) == 0) {
			/* and what revocations of every group ("*") denied */
			struct sr_denied_filter f = {0};
			enum sr_rc rc = sr_match_cleanup_groups(d->groups, d->n_groups,
								&cleanup_groups, &f.n_groups, &err);
			f.groups = cleanup_groups;
			struct sr_store_config sc;
			sr_cli_store_config(cfg, 1, &sc);
			if (rc != SR_OK || sr_store_open_config(&sc, &store, &err) != SR_OK ||
			    sr_store_denied_roles(store, &f, &visit, &n_visit, &err) != SR_OK) {
				fprintf(stderr, "session-revoker %s: %s\n", cmd, err.msg);
				goto out;
			}
			req.visit = visit;
			req.n_visit = n_visit;
		} else {
			req.discover = 1;
		}
	}
	if (sr_engine_new(cfg, &engine, &err) != SR_OK ||
	    sr_engine_run(engine, &req, &rep, &err) != SR_OK) {
		fprintf(stderr, "session-revoker %s: %s\n", cmd, err.msg);
		goto out;
	}
	if (as_json) {
		json_t *j = sr_engine_report_json(&rep);
		char *text = json_dumps(j, JSON_INDENT(2));
		printf("%s\n", text ? text : "{}");
		free(text);
		json_decref(j);
	} else {
		print_text(&rep);
	}
	status = rep.failed ? 1 : 0;
out:
	free(people);
	free(cleanup_groups);
	sr_strv_free(visit, n_visit);
	sr_store_close(store);
	sr_engine_report_clear(&rep);
	sr_engine_free(engine);
	sr_document_free(d);
	sr_config_free(cfg);
	json_decref(doc);
	return status;
}

int sr_cli_plan(int argc, char **argv)
{
	return run("plan", SR_ENGINE_PLAN, argc, argv);
}

int sr_cli_revoke(int argc, char **argv)
{
	return run("revoke", SR_ENGINE_REVOKE, argc, argv);
}

int sr_cli_cleanup(int argc, char **argv)
{
	return run("cleanup", SR_ENGINE_CLEANUP, argc, argv);
}
