/*
 * rules_cmd.c - `session-revoker rules`: the sources' rules as configured,
 * and, offline, what a saved payload would revoke under them.
 *
 *   session-revoker rules show [--source NAME]
 *   session-revoker rules test [--source auth0|group-change|ssf|okta] [--json] FILE
 *
 * `test` reads FILE as the source receives it (an Auth0 log stream body in
 * any of its formats, a group-change event as JSON, an SSF Security Event
 * Token: the compact JWS, or its claims as JSON, or an Okta event hook
 * envelope), applies the rules
 * exactly as the service does, and prints each event's fate. Nothing is
 * recorded, no directory is asked (a lookup rule says whose groups it would
 * look up), no token is checked.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "session_revoker/auth.h"
#include "session_revoker/ingest.h"

#define MAX_PAYLOAD (64 << 20)

static void usage(FILE *out)
{
	fprintf(out, "usage: session-revoker rules show [--config FILE] [--source NAME]\n"
		     "       session-revoker rules test [--config FILE] [--source NAME] [--json] FILE\n\n"
		     "show prints the rules of each source (auth0, group-change, ssf, okta) as\n"
		     "configured in \"sources\" (or built in). test reads FILE as the source would\n"
		     "receive it (--source auth0, the default: a log stream body as a JSON array,\n"
		     "JSON lines or one object; group-change: the event as a JSON object; ssf: a\n"
		     "Security Event Token, its signature not checked, or its claims; okta: an\n"
		     "event hook delivery's body) and prints\n"
		     "what each event would revoke under the current configuration. Nothing is\n"
		     "recorded and no directory is asked.\n");
}

static const struct sr_source_config *pick(const struct sr_sources_config *sc, const char *name)
{
	if (strcmp(name, "auth0") == 0)
		return &sc->auth0;
	if (strcmp(name, "group-change") == 0)
		return &sc->group_change;
	if (strcmp(name, "ssf") == 0)
		return &sc->ssf;
	if (strcmp(name, "okta") == 0)
		return &sc->okta;
	return NULL;
}

/* The source's rules; when one targets the person, also what the person is
 * revoked by (sources.<name>.identity, aws:SourceIdentity or the principal
 * tag) and how long after the event their old ID tokens are refused. */
static void print_rules(const struct sr_config *cfg, const struct sr_source_config *src)
{
	json_t *rules = sr_rules_to_json(&src->rules);
	char *text = json_dumps(rules, JSON_INDENT(2));
	bool people = false;
	size_t i;

	for (i = 0; i < src->rules.n; i++)
		people = people || src->rules.v[i].target_user;
	printf("%s (%s%s):\n", src->name, src->enabled ? "on" : "off",
	       src->rules.defaults ? ", built-in rules" : "");
	if (people)
		printf("people (\"target\": \"user\") are revoked by their %s as %s%s: their sessions"
		       " issued before the event + %lld s are refused\n",
		       src->identity ? src->identity : "email",
		       cfg->targeted_tag && cfg->targeted_tag[0] ? "aws:PrincipalTag/"
								 : "aws:SourceIdentity",
		       cfg->targeted_tag && cfg->targeted_tag[0] ? cfg->targeted_tag : "",
		       (long long)(src->token_lifetime_seconds > 0 ? src->token_lifetime_seconds
								   : cfg->targeted_lifetime));
	printf("%s\n", text ? text : "[]");
	free(text);
	json_decref(rules);
}

/* An SSF SET offline: the compact JWS (its payload read, the signature not
 * checked: rules test checks no token), or its claims as JSON (also inside
 * {"header", "payload"}, as the samples keep them). */
static int parse_set(const struct sr_config *cfg, const char *text, size_t len,
		     struct sr_event_batch *batch, struct sr_err *err)
{
	unsigned char *raw = NULL;
	size_t raw_len = 0, skip = 0;
	const char *dot1, *dot2;
	json_error_t jerr;
	json_t *obj, *claims;
	enum sr_rc rc;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		len--;
	while (skip < len && (text[skip] == ' ' || text[skip] == '\n'))
		skip++;
	if (skip < len && text[skip] == '{') {
		obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	} else {
		dot1 = memchr(text, '.', len);
		dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - text)) : NULL;
		if (dot2 == NULL) {
			sr_err_set(err, SR_EINVAL, "not a SET (a compact JWS) nor its claims as JSON");
			return -1;
		}
		if (sr_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &raw, &raw_len, err) != SR_OK)
			return -1;
		obj = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &jerr);
		free(raw);
	}
	if (!json_is_object(obj)) {
		sr_err_set(err, SR_EINVAL, "the SET's claims are not a JSON object%s%s",
			   obj ? "" : ": ", obj ? "" : jerr.text);
		json_decref(obj);
		return -1;
	}
	claims = json_is_object(json_object_get(obj, "payload")) ? json_object_get(obj, "payload")
								  : obj;
	rc = sr_ssf_parse(claims, sr_clock_now(), cfg->clock_skew, batch, err);
	json_decref(obj);
	return rc == SR_OK ? 0 : -1;
}

static int parse_payload(const struct sr_config *cfg, const struct sr_source_config *src,
			 const char *text, size_t len, struct sr_event_batch *batch,
			 struct sr_err *err)
{
	json_error_t jerr;
	json_t *obj;
	enum sr_rc rc;

	if (strcmp(src->name, "auth0") == 0)
		return sr_auth0_parse(text, len, batch, err) == SR_OK ? 0 : -1;
	if (strcmp(src->name, "ssf") == 0)
		return parse_set(cfg, text, len, batch, err);
	if (strcmp(src->name, "okta") == 0) {
		char *envelope = NULL;
		rc = sr_okta_parse(text, len, batch, &envelope, err);
		free(envelope);
		return rc == SR_OK ? 0 : -1;
	}
	obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(obj)) {
		sr_err_set(err, SR_EINVAL, "not a JSON object: %s", obj ? "" : jerr.text);
		json_decref(obj);
		return -1;
	}
	rc = sr_group_change_parse(obj, sr_clock_now(), cfg->clock_skew, batch, err);
	json_decref(obj);
	return rc == SR_OK ? 0 : -1;
}

static void print_text(json_t *summary)
{
	json_t *one;
	size_t i;

	printf("%lld events: %zu would revoke, %lld no rule matches, %zu malformed\n",
	       (long long)json_integer_value(json_object_get(summary, "received")),
	       json_array_size(json_object_get(summary, "revocations")),
	       (long long)json_integer_value(json_object_get(summary, "dropped")),
	       json_array_size(json_object_get(summary, "errors")));
	json_array_foreach(json_object_get(summary, "revocations"), i, one) {
		json_t *people = json_object_get(one, "subjects");
		char *groups = json_dumps(json_array_size(people) > 0 ? people
								  : json_object_get(one, "groups"),
					  JSON_COMPACT);
		const char *note = json_string_value(json_object_get(one, "note"));
		printf("  [%lld] %s %s for %s: rule %s revokes %s%s%s%s%s\n",
		       (long long)json_integer_value(json_object_get(one, "index")),
		       json_string_value(json_object_get(one, "event_id")),
		       json_string_value(json_object_get(one, "kind")),
		       json_string_value(json_object_get(one, "subject")),
		       json_string_value(json_object_get(one, "rule")),
		       json_array_size(people) > 0 ? "the person " : "", groups ? groups : "[]",
		       note ? " (" : "", note ? note : "", note ? ")" : "");
		free(groups);
	}
	json_array_foreach(json_object_get(summary, "errors"), i, one)
		printf("  [%lld] malformed: %s\n",
		       (long long)json_integer_value(json_object_get(one, "index")),
		       json_string_value(json_object_get(one, "error")));
}

int sr_cli_rules(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"source", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = getenv("SR_CONFIG"), *source = NULL, *verb;
	struct sr_config *cfg = NULL;
	struct sr_sources_config *sc = NULL;
	struct sr_config_problems problems = {0};
	struct sr_ingest *ing = NULL;
	struct sr_event_batch batch = {0};
	struct sr_err err = {0};
	const struct sr_source_config *src;
	json_t *summary = NULL;
	char *text = NULL;
	size_t len = 0;
	int c, as_json = 0, status = 2;

	if (argc < 2 || (strcmp(argv[1], "show") != 0 && strcmp(argv[1], "test") != 0)) {
		usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	verb = argv[1];
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 's':
			source = optarg;
			break;
		case 'j':
			as_json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return 2;
		}
	}
	if (strcmp(verb, "test") == 0 && optind != argc - 1) {
		fprintf(stderr, "session-revoker rules test: name one FILE (the saved payload)\n");
		return 2;
	}
	if ((cfg = sr_cli_load_config("rules", path)) == NULL)
		return 1;
	status = 1;
	if (sr_sources_config_load(cfg, &sc, &problems, &err) != SR_OK)
		goto out;
	if (source != NULL && pick(sc, source) == NULL) {
		fprintf(stderr, "session-revoker rules: --source takes auth0, group-change, ssf or okta\n");
		status = 2;
		goto out;
	}
	if (strcmp(verb, "show") == 0) {
		if (source == NULL || strcmp(source, "auth0") == 0)
			print_rules(cfg, &sc->auth0);
		if (source == NULL || strcmp(source, "group-change") == 0)
			print_rules(cfg, &sc->group_change);
		if (source == NULL || strcmp(source, "ssf") == 0)
			print_rules(cfg, &sc->ssf);
		if (source == NULL || strcmp(source, "okta") == 0)
			print_rules(cfg, &sc->okta);
		status = 0;
		goto out;
	}
	src = pick(sc, source ? source : "auth0");
	if (sr_file_read(argv[optind], MAX_PAYLOAD, &text, &len, &err) != SR_OK ||
	    parse_payload(cfg, src, text, len, &batch, &err) != 0 ||
	    sr_ingest_new(cfg, sc, NULL, &ing, &err) != SR_OK ||
	    sr_ingest_commit(ing, src, &batch, &(struct sr_ingest_sender){"rules-test", "", ""},
			     sr_clock_now(), &summary, &err) != SR_OK)
		goto out;
	if (as_json) {
		char *out = json_dumps(summary, JSON_INDENT(2));
		printf("%s\n", out ? out : "{}");
		free(out);
	} else {
		print_text(summary);
	}
	status = 0;
out:
	if (err.code != SR_OK)
		fprintf(stderr, "session-revoker rules: %s\n", err.msg);
	json_decref(summary);
	sr_event_batch_free(&batch);
	sr_ingest_free(ing);
	free(text);
	sr_sources_config_free(sc);
	sr_config_free(cfg);
	return status;
}
