/*
 * fuzz_aws_xml.c - AWS answers are network bytes: libxml2 through
 * sr_xml_parse() (no DTD, no entities, no network) and the ListRoles page
 * reader, then each role's URL-encoded trust policy through the matcher;
 * the error reader (every error shape) and the ListRoleTags page reader on
 * the same document; the managed-policy answers' readers (CreatePolicy /
 * GetPolicy, GetPolicyVersion, ListPolicyVersions, ListAttachedRolePolicies,
 * ListEntitiesForPolicy) too.
 */
#include <libxml/parser.h>

#include "fuzz_common.h"
#include "session_revoker/iam.h"
#include "session_revoker/revoke.h"

static char *providers[] = {"auth.example.com/"};
static char *claims[] = {"amr"};
static char *groups[] = {"team_opsec", "team_hr"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmlInitParser();
	return 0;
}

/* The managed-policy answers' readers on doc: each either fails with a
 * message or gives back what it promises. */
static void managed_answers(xmlDocPtr doc)
{
	static const char *const lists[][3] = {
		{"ListAttachedRolePolicies", "AttachedPolicies", "PolicyArn"},
		{"ListEntitiesForPolicy", "PolicyRoles", "RoleName"},
	};
	static const char *const policy_actions[] = {"GetPolicy", "CreatePolicy"};
	struct sr_iam_policy_versions versions = {0};
	struct sr_err err = {0};
	char marker[1024], arn[SR_IAM_ARN_MAX], version[SR_IAM_VERSION_ID_MAX], *document = NULL;
	size_t i, j;

	for (i = 0; i < 2; i++) {
		if (sr_iam_parse_policy(doc, policy_actions[i], arn, version, &err) == SR_OK)
			FUZZ_CHECK(arn[0] != '\0' && version[0] != '\0' && strlen(arn) < sizeof(arn) &&
				   strlen(version) < sizeof(version));
		else
			fuzz_check_err(&err, FUZZ_RC(SR_EINVAL));
		sr_err_clear(&err);
	}
	if (sr_iam_parse_policy_document(doc, &document, &err) == SR_OK)
		FUZZ_CHECK(document != NULL);
	else
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL));
	free(document);
	sr_err_clear(&err);
	if (sr_iam_parse_versions_page(doc, &versions, marker, sizeof(marker), &err) != SR_OK)
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL) | FUZZ_RC(SR_ENOMEM));
	FUZZ_CHECK(strlen(marker) < sizeof(marker));
	for (i = 0; i < versions.n; i++)
		FUZZ_CHECK(versions.items[i].id[0] != '\0');
	sr_iam_policy_versions_clear(&versions);
	sr_err_clear(&err);
	for (i = 0; i < 2; i++) {
		char **v = NULL;
		size_t n = 0;
		if (sr_iam_parse_names_page(doc, lists[i][0], lists[i][1], lists[i][2], &v, &n, marker,
					    sizeof(marker), &err) != SR_OK)
			fuzz_check_err(&err, FUZZ_RC(SR_EINVAL) | FUZZ_RC(SR_ENOMEM));
		FUZZ_CHECK(strlen(marker) < sizeof(marker));
		for (j = 0; j < n; j++)
			FUZZ_CHECK(v[j] != NULL && v[j][0] != '\0');
		sr_strv_free(v, n);
		sr_err_clear(&err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct sr_match_rules rules = {providers, 1, claims, 1, NULL, 0};
	struct sr_iam_roles roles = {0};
	struct sr_err err = {0};
	xmlDocPtr doc = NULL;
	char marker[1024];
	size_t i;

	if (sr_xml_parse((const char *)data, size, &doc, &err) != SR_OK) {
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL));
		FUZZ_CHECK(doc == NULL);
		return 0;
	}
	FUZZ_CHECK(doc->intSubset == NULL);
	{
		char code[80], msg[256];
		int found = sr_aws_error_read(xmlDocGetRootElement(doc), code, sizeof(code), msg,
					      sizeof(msg));
		FUZZ_CHECK(strlen(code) < sizeof(code) && strlen(msg) < sizeof(msg));
		FUZZ_CHECK(found == (code[0] != '\0'));
	}
	{
		char *tag = NULL;
		if (sr_iam_parse_tags_page(doc, SR_GROUPS_TAG, &tag, marker, sizeof(marker), &err) !=
		    SR_OK)
			fuzz_check_err(&err, FUZZ_RC(SR_EINVAL) | FUZZ_RC(SR_ENOMEM));
		FUZZ_CHECK(strlen(marker) < sizeof(marker));
		free(tag);
		sr_err_clear(&err);
	}
	managed_answers(doc);
	if (sr_iam_parse_roles_page(doc, &roles, marker, sizeof(marker), &err) != SR_OK)
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL) | FUZZ_RC(SR_ENOMEM));
	FUZZ_CHECK(strlen(marker) < sizeof(marker));
	for (i = 0; i < roles.n; i++) {
		struct sr_match m;
		struct sr_err merr = {0};
		FUZZ_CHECK(roles.items[i].name[0] != '\0');
		if (roles.items[i].trust_policy == NULL)
			continue;
		if (sr_match_trust_policy(roles.items[i].trust_policy, &rules, groups, 2, &m,
					  &merr) != SR_OK)
			fuzz_check_err(&merr, FUZZ_RC(SR_EINVAL));
		else
			FUZZ_CHECK(m.matched == (m.n_reasons > 0));
	}
	sr_iam_roles_clear(&roles);
	xmlFreeDoc(doc);
	return 0;
}
