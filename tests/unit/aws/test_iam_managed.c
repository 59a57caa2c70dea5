/*
 * test_iam_managed.c - the readers of IAM's managed-policy answers
 * (CreatePolicy/GetPolicy, GetPolicyVersion, ListPolicyVersions,
 * ListAttachedRolePolicies, ListEntitiesForPolicy), shaped as the IAM API
 * Reference shows them, and what each does with an answer that lacks a part.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session_revoker/iam.h"

#define NS "xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\""
#define META "<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>"

static xmlDocPtr parse(const char *xml)
{
	struct sr_err err = {0};
	xmlDocPtr doc = NULL;

	if (sr_xml_parse(xml, strlen(xml), &doc, &err) != SR_OK)
		fail_msg("does not parse: %s", err.msg);
	return doc;
}

/* ---- CreatePolicy / GetPolicy ---- */

struct pcase {
	const char *name;
	const char *action;
	const char *xml;
	enum sr_rc rc;
	const char *arn;     /* or the error's words */
	const char *version;
};

static const struct pcase policy_cases[] = {
	{"GetPolicy", "GetPolicy",
	 "<GetPolicyResponse " NS "><GetPolicyResult><Policy><PolicyName>people</PolicyName>"
	 "<DefaultVersionId>v3</DefaultVersionId><PolicyId>ANPAX</PolicyId><Path>/sr/</Path>"
	 "<Arn>arn:aws:iam::111111111111:policy/sr/people</Arn><AttachmentCount>2</AttachmentCount>"
	 "<IsAttachable>true</IsAttachable></Policy></GetPolicyResult>" META "</GetPolicyResponse>",
	 SR_OK, "arn:aws:iam::111111111111:policy/sr/people", "v3"},
	{"CreatePolicy", "CreatePolicy",
	 "<CreatePolicyResponse " NS "><CreatePolicyResult><Policy><PolicyName>p</PolicyName>"
	 "<DefaultVersionId>v1</DefaultVersionId>"
	 "<Arn>arn:aws-us-gov:iam::111111111111:policy/p</Arn></Policy></CreatePolicyResult>" META
	 "</CreatePolicyResponse>",
	 SR_OK, "arn:aws-us-gov:iam::111111111111:policy/p", "v1"},
	{"another action's answer", "GetPolicy",
	 "<CreatePolicyResponse><CreatePolicyResult><Policy><Arn>a</Arn>"
	 "<DefaultVersionId>v1</DefaultVersionId></Policy></CreatePolicyResult></CreatePolicyResponse>",
	 SR_EINVAL, "no GetPolicyResult/Policy", NULL},
	{"no Arn", "GetPolicy",
	 "<GetPolicyResponse><GetPolicyResult><Policy><DefaultVersionId>v1</DefaultVersionId>"
	 "</Policy></GetPolicyResult></GetPolicyResponse>",
	 SR_EINVAL, "without an Arn", NULL},
	{"no DefaultVersionId", "GetPolicy",
	 "<GetPolicyResponse><GetPolicyResult><Policy><Arn>arn:aws:iam::1:policy/p</Arn>"
	 "</Policy></GetPolicyResult></GetPolicyResponse>",
	 SR_EINVAL, "without a DefaultVersionId", NULL},
};

static void test_policy(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(policy_cases) / sizeof(policy_cases[0]); i++) {
		const struct pcase *c = &policy_cases[i];
		struct sr_err err = {0};
		char arn[SR_IAM_ARN_MAX] = "", version[SR_IAM_VERSION_ID_MAX] = "";
		xmlDocPtr doc = parse(c->xml);
		enum sr_rc rc = sr_iam_parse_policy(doc, c->action, arn, version, &err);

		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d (%s)", c->name, rc, c->rc, err.msg);
		if (rc == SR_OK && (strcmp(arn, c->arn) != 0 || strcmp(version, c->version) != 0))
			fail_msg("%s: got %s %s", c->name, arn, version);
		if (rc != SR_OK && strstr(err.msg, c->arn) == NULL)
			fail_msg("%s: message \"%s\" does not say \"%s\"", c->name, err.msg, c->arn);
		xmlFreeDoc(doc);
	}
}

/* ---- GetPolicyVersion: the document is URL-encoded in the answer ---- */

static void test_policy_document(void **state)
{
	static const char *ok =
		"<GetPolicyVersionResponse " NS "><GetPolicyVersionResult><PolicyVersion>"
		"<Document>%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D</Document>"
		"<VersionId>v2</VersionId><IsDefaultVersion>true</IsDefaultVersion></PolicyVersion>"
		"</GetPolicyVersionResult>" META "</GetPolicyVersionResponse>";
	static const char *missing =
		"<GetPolicyVersionResponse><GetPolicyVersionResult><PolicyVersion>"
		"<VersionId>v2</VersionId></PolicyVersion></GetPolicyVersionResult>"
		"</GetPolicyVersionResponse>";
	static const char *nul =
		"<GetPolicyVersionResponse><GetPolicyVersionResult><PolicyVersion>"
		"<Document>%7B%00%7D</Document></PolicyVersion></GetPolicyVersionResult>"
		"</GetPolicyVersionResponse>";
	struct sr_err err = {0};
	char *document = NULL;
	xmlDocPtr doc;

	(void)state;
	doc = parse(ok);
	assert_int_equal(sr_iam_parse_policy_document(doc, &document, &err), SR_OK);
	assert_string_equal(document, "{\"Version\":\"2012-10-17\",\"Statement\":[]}");
	free(document);
	xmlFreeDoc(doc);

	doc = parse(missing);
	assert_int_equal(sr_iam_parse_policy_document(doc, &document, &err), SR_EINVAL);
	assert_null(document);
	assert_non_null(strstr(err.msg, "no Document"));
	xmlFreeDoc(doc);

	sr_err_clear(&err);
	doc = parse(nul); /* an encoded NUL is no policy */
	assert_int_equal(sr_iam_parse_policy_document(doc, &document, &err), SR_EINVAL);
	assert_null(document);
	xmlFreeDoc(doc);
}

/* ---- ListPolicyVersions ---- */

static void test_versions_page(void **state)
{
	static const char *page1 =
		"<ListPolicyVersionsResponse " NS "><ListPolicyVersionsResult>"
		"<Versions><member><VersionId>v4</VersionId><IsDefaultVersion>false</IsDefaultVersion>"
		"<CreateDate>2026-03-12T08:00:00Z</CreateDate></member>"
		"<member><VersionId>v3</VersionId><IsDefaultVersion>true</IsDefaultVersion></member>"
		"</Versions><IsTruncated>true</IsTruncated><Marker>m2</Marker>"
		"</ListPolicyVersionsResult>" META "</ListPolicyVersionsResponse>";
	static const char *page2 =
		"<ListPolicyVersionsResponse><ListPolicyVersionsResult><Versions>"
		"<member><VersionId>v1</VersionId></member></Versions>"
		"<IsTruncated>false</IsTruncated></ListPolicyVersionsResult></ListPolicyVersionsResponse>";
	static const char *truncated_no_marker =
		"<ListPolicyVersionsResponse><ListPolicyVersionsResult><Versions/>"
		"<IsTruncated>true</IsTruncated></ListPolicyVersionsResult></ListPolicyVersionsResponse>";
	static const char *no_id =
		"<ListPolicyVersionsResponse><ListPolicyVersionsResult><Versions><member>"
		"<IsDefaultVersion>true</IsDefaultVersion></member></Versions>"
		"</ListPolicyVersionsResult></ListPolicyVersionsResponse>";
	struct sr_iam_policy_versions v = {0};
	struct sr_err err = {0};
	char marker[64];
	xmlDocPtr doc;

	(void)state;
	doc = parse(page1);
	assert_int_equal(sr_iam_parse_versions_page(doc, &v, marker, sizeof(marker), &err), SR_OK);
	assert_string_equal(marker, "m2");
	xmlFreeDoc(doc);
	doc = parse(page2);
	assert_int_equal(sr_iam_parse_versions_page(doc, &v, marker, sizeof(marker), &err), SR_OK);
	assert_string_equal(marker, "");
	xmlFreeDoc(doc);
	assert_int_equal(v.n, 3);
	assert_string_equal(v.items[0].id, "v4");
	assert_int_equal(v.items[0].is_default, 0);
	assert_string_equal(v.items[1].id, "v3");
	assert_int_equal(v.items[1].is_default, 1);
	assert_string_equal(v.items[2].id, "v1");
	assert_int_equal(v.items[2].is_default, 0); /* absent: not the default */
	sr_iam_policy_versions_clear(&v);

	doc = parse(truncated_no_marker);
	assert_int_equal(sr_iam_parse_versions_page(doc, &v, marker, sizeof(marker), &err),
			 SR_EINVAL);
	assert_non_null(strstr(err.msg, "without a Marker"));
	xmlFreeDoc(doc);
	sr_err_clear(&err);
	doc = parse(no_id);
	assert_int_equal(sr_iam_parse_versions_page(doc, &v, marker, sizeof(marker), &err),
			 SR_EINVAL);
	assert_non_null(strstr(err.msg, "without a VersionId"));
	sr_iam_policy_versions_clear(&v);
	xmlFreeDoc(doc);
}

/* ---- ListAttachedRolePolicies / ListEntitiesForPolicy ---- */

struct ncase {
	const char *name;
	const char *action, *list, *field;
	const char *xml;
	enum sr_rc rc;
	const char *want; /* names joined by ',' then ";" + marker; or the error's words */
};

static const struct ncase names_cases[] = {
	{"attached policies", "ListAttachedRolePolicies", "AttachedPolicies", "PolicyArn",
	 "<ListAttachedRolePoliciesResponse " NS "><ListAttachedRolePoliciesResult>"
	 "<AttachedPolicies><member><PolicyName>a</PolicyName>"
	 "<PolicyArn>arn:aws:iam::aws:policy/ReadOnlyAccess</PolicyArn></member>"
	 "<member><PolicyName>people</PolicyName>"
	 "<PolicyArn>arn:aws:iam::111111111111:policy/sr/people</PolicyArn></member>"
	 "</AttachedPolicies><IsTruncated>false</IsTruncated></ListAttachedRolePoliciesResult>"
	 META "</ListAttachedRolePoliciesResponse>",
	 SR_OK, "arn:aws:iam::aws:policy/ReadOnlyAccess,arn:aws:iam::111111111111:policy/sr/people;"},
	{"no policy attached", "ListAttachedRolePolicies", "AttachedPolicies", "PolicyArn",
	 "<ListAttachedRolePoliciesResponse><ListAttachedRolePoliciesResult><AttachedPolicies/>"
	 "<IsTruncated>false</IsTruncated></ListAttachedRolePoliciesResult>"
	 "</ListAttachedRolePoliciesResponse>",
	 SR_OK, ";"},
	{"entities, a page of more", "ListEntitiesForPolicy", "PolicyRoles", "RoleName",
	 "<ListEntitiesForPolicyResponse " NS "><ListEntitiesForPolicyResult><PolicyGroups/>"
	 "<PolicyUsers><member><UserName>u</UserName></member></PolicyUsers>"
	 "<PolicyRoles><member><RoleName>Engineers</RoleName><RoleId>AROA1</RoleId></member>"
	 "<member><RoleName>Auditors</RoleName><RoleId>AROA2</RoleId></member></PolicyRoles>"
	 "<IsTruncated>true</IsTruncated><Marker>next</Marker></ListEntitiesForPolicyResult>"
	 META "</ListEntitiesForPolicyResponse>",
	 SR_OK, "Engineers,Auditors;next"},
	{"a member without its field", "ListEntitiesForPolicy", "PolicyRoles", "RoleName",
	 "<ListEntitiesForPolicyResponse><ListEntitiesForPolicyResult><PolicyRoles>"
	 "<member><RoleId>AROA1</RoleId></member></PolicyRoles></ListEntitiesForPolicyResult>"
	 "</ListEntitiesForPolicyResponse>",
	 SR_EINVAL, "a member of PolicyRoles without RoleName"},
	{"another answer", "ListEntitiesForPolicy", "PolicyRoles", "RoleName",
	 "<ListRolesResponse><ListRolesResult/></ListRolesResponse>",
	 SR_EINVAL, "no ListEntitiesForPolicyResult"},
};

static void test_names_page(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(names_cases) / sizeof(names_cases[0]); i++) {
		const struct ncase *c = &names_cases[i];
		struct sr_err err = {0};
		char marker[64], got[512] = "";
		char **v = NULL;
		size_t n = 0;
		xmlDocPtr doc = parse(c->xml);
		enum sr_rc rc = sr_iam_parse_names_page(doc, c->action, c->list, c->field, &v, &n,
							 marker, sizeof(marker), &err);

		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d (%s)", c->name, rc, c->rc, err.msg);
		if (rc == SR_OK) {
			for (j = 0; j < n; j++)
				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
					 j ? "," : "", v[j]);
			snprintf(got + strlen(got), sizeof(got) - strlen(got), ";%s", marker);
			if (strcmp(got, c->want) != 0)
				fail_msg("%s: got \"%s\", want \"%s\"", c->name, got, c->want);
		} else if (strstr(err.msg, c->want) == NULL) {
			fail_msg("%s: message \"%s\" does not say \"%s\"", c->name, err.msg, c->want);
		}
		sr_strv_free(v, n);
		xmlFreeDoc(doc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_policy_document),
		cmocka_unit_test(test_versions_page),
		cmocka_unit_test(test_names_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
