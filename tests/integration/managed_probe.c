/*
 * managed_probe.c - drives the managed-policy fallback's AWS side
 * (sr_managed_read/write/attach/remove, src/revoke/managed.c) from the
 * command line, so tests/integration/test_managed.py can run it against the
 * fake AWS. Credentials and endpoint as the service finds them
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL).
 *
 *   managed_probe read   PARTITION ACCOUNT NAME PATH
 *   managed_probe write  PARTITION ACCOUNT NAME PATH DOCUMENT-FILE
 *   managed_probe people PARTITION ACCOUNT NAME PATH SUBJECT=CUTOFF...
 *   managed_probe attach ROLE POLICY-ARN
 *   managed_probe remove POLICY-ARN
 *
 * Prints one JSON object: what the call returned ({"arn", "document"} for
 * read, {"request_id"} for write; people: the policy's document merged with
 * those people by sr_targeted_merge (budget SR_MANAGED_POLICY_BUDGET), then
 * written, as the engine's fallback does: {"request_id", "n_people",
 * "unwritten"}, {"attached"} for attach, {"detached"} for
 * remove), or {"error", "rc"} with exit status 1.
 */
#include "session_revoker/aws.h"
#include "session_revoker/revoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = calloc(1, (size_t)n + 1)) != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* read, merge the people (SUBJECT=CUTOFF, Unix seconds) in, write. */
static enum sr_rc people(struct sr_aws_conn *conn, const struct sr_managed_id *id,
			 char **args, size_t n, json_t *out, struct sr_err *err)
{
	struct sr_person *ps = calloc(n, sizeof(*ps));
	struct sr_targeted_opts opts = {.tag_key = NULL, .budget = SR_MANAGED_POLICY_BUDGET};
	struct sr_targeted_result res = {0};
	char arn[SR_MANAGED_ARN_MAX], request_id[80] = "", *doc = NULL;
	enum sr_rc rc = SR_OK;
	size_t i;

	if (ps == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	for (i = 0; i < n && rc == SR_OK; i++) {
		char *eq = strrchr(args[i], '=');
		if (eq == NULL)
			rc = sr_err_set(err, SR_EINVAL, "not SUBJECT=CUTOFF: %s", args[i]);
		else {
			*eq = '\0';
			ps[i].subject = args[i];
			ps[i].cutoff = strtoll(eq + 1, NULL, 10);
		}
	}
	if (rc == SR_OK)
		rc = sr_managed_read(conn, id, &doc, arn, err);
	if (rc == SR_OK)
		rc = sr_targeted_merge(doc, ps, n, &opts, &res, err);
	if (rc == SR_OK && res.policy != NULL)
		rc = sr_managed_write(conn, id, res.policy, request_id, err);
	if (rc == SR_OK) {
		json_object_set_new(out, "arn", json_string(arn));
		json_object_set_new(out, "request_id", json_string(request_id));
		json_object_set_new(out, "n_people", json_integer((json_int_t)res.n_people));
		json_object_set_new(out, "unwritten", json_integer((json_int_t)res.n_unwritten));
	}
	sr_targeted_result_clear(&res);
	free(doc);
	free(ps);
	return rc;
}

static int usage(void)
{
	fprintf(stderr, "usage: managed_probe read|write|attach|remove ...\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct sr_aws_endpoints ep;
	struct sr_aws_endpoint_bufs bufs;
	struct sr_aws_creds creds = {0};
	struct sr_aws_conn *conn = NULL;
	struct sr_err err = {0};
	char source[32], arn[SR_MANAGED_ARN_MAX], request_id[80] = "";
	json_t *out = json_object();
	enum sr_rc rc;
	int status = 0;

	if (argc < 3)
		return usage();
	rc = sr_aws_endpoints_init(&ep, &bufs, "aws", "us-east-1", &err);
	if (rc == SR_OK)
		rc = sr_aws_creds_resolve(&ep, &creds, source, &err);
	if (rc == SR_OK)
		rc = sr_aws_conn_new(&ep, &creds, &conn, &err);
	if (rc != SR_OK)
		goto out;
	if ((strcmp(argv[1], "read") == 0 && argc == 6) ||
	    (strcmp(argv[1], "write") == 0 && argc == 7)) {
		struct sr_managed_id id = {argv[2], argv[3], argv[4], argv[5]};
		if (argv[1][0] == 'r') {
			char *doc = NULL;
			rc = sr_managed_read(conn, &id, &doc, arn, &err);
			if (rc == SR_OK) {
				json_object_set_new(out, "arn", json_string(arn));
				json_object_set_new(out, "document", doc ? json_string(doc) : json_null());
			}
			free(doc);
		} else {
			char *doc = slurp(argv[6]);
			if (doc == NULL) {
				rc = sr_err_set(&err, SR_EIO, "cannot read %s", argv[6]);
				goto out;
			}
			rc = sr_managed_write(conn, &id, doc, request_id, &err);
			if (rc == SR_OK)
				json_object_set_new(out, "request_id", json_string(request_id));
			free(doc);
		}
	} else if (strcmp(argv[1], "people") == 0 && argc >= 7) {
		struct sr_managed_id id = {argv[2], argv[3], argv[4], argv[5]};
		rc = people(conn, &id, argv + 6, (size_t)(argc - 6), out, &err);
	} else if (strcmp(argv[1], "attach") == 0 && argc == 4) {
		int attached = 0;
		rc = sr_managed_attach(conn, argv[2], argv[3], &attached, &err);
		if (rc == SR_OK)
			json_object_set_new(out, "attached", json_boolean(attached));
	} else if (strcmp(argv[1], "remove") == 0 && argc == 3) {
		size_t detached = 0;
		rc = sr_managed_remove(conn, argv[2], &detached, &err);
		if (rc == SR_OK)
			json_object_set_new(out, "detached", json_integer((json_int_t)detached));
	} else {
		status = usage();
		goto out;
	}
out:
	if (status == 0 && rc != SR_OK) {
		json_object_clear(out);
		json_object_set_new(out, "error", json_string(err.msg));
		json_object_set_new(out, "rc", json_integer(rc));
		status = 1;
	}
	if (status != 2) {
		char *text = json_dumps(out, JSON_COMPACT);
		if (text != NULL)
			puts(text);
		free(text);
	}
	json_decref(out);
	sr_aws_conn_free(conn);
	sr_aws_creds_clear(&creds);
	return status;
}
