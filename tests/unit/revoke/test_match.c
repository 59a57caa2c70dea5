/*
 * test_match.c - trust-policy matching and the deny policy, table-driven:
 * every variant that must match and the near misses that must not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session_revoker/revoke.h"

static char *providers[] = {"auth.example.com/", "login.example.org", "saml-provider/Okta"};
static char *claims[] = {"amr", "groups"};
static const struct sr_match_rules rules = {providers, 3, claims, 2, NULL, 0};

#define SAML_FED "\"Principal\":{\"Federated\":\"arn:aws:iam::111111111111:saml-provider/Okta\"}"
#define SAML_ACT "\"Action\":\"sts:AssumeRoleWithSAML\""
#define SAML_AUD "\"Condition\":{\"StringEquals\":{\"SAML:aud\":\"https://signin.aws.amazon.com/saml\"}}"

#define FED "\"Principal\":{\"Federated\":\"arn:aws:iam::111111111111:oidc-provider/auth.example.com/\"}"
#define WEB "\"Action\":\"sts:AssumeRoleWithWebIdentity\""
#define ALLOW "\"Effect\":\"Allow\""
#define ST(cond) "{\"Version\":\"2012-10-17\",\"Statement\":[{" ALLOW "," FED "," WEB ",\"Condition\":" cond "}]}"

struct mcase {
	const char *name;
	const char *policy;
	const char *groups; /* comma-separated */
	int matched;
	const char *op;    /* expected first reason (when matched) */
	const char *value;
	const char *group;
};

static const struct mcase cases[] = {
	{"StringEquals string", ST("{\"StringEquals\":{\"auth.example.com/:aud\":\"x\",\"auth.example.com/:amr\":\"team_opsec\"}}"),
	 "team_opsec", 1, "StringEquals", "team_opsec", "team_opsec"},
	{"StringEquals array", ST("{\"StringEquals\":{\"auth.example.com/:amr\":[\"a\",\"team_hr\"]}}"),
	 "team_opsec,team_hr", 1, "StringEquals", "team_hr", "team_hr"},
	{"StringLike pattern", ST("{\"StringLike\":{\"auth.example.com/:amr\":\"team_*\"}}"),
	 "team_opsec", 1, "StringLike", "team_*", "team_opsec"},
	{"StringLike ? pattern", ST("{\"StringLike\":{\"auth.example.com/:amr\":\"team_?r\"}}"),
	 "team_hr", 1, "StringLike", "team_?r", "team_hr"},
	{"ForAnyValue:StringLike", ST("{\"ForAnyValue:StringLike\":{\"auth.example.com/:amr\":[\"team_*\",\"contractors\"]}}"),
	 "contractors", 1, "ForAnyValue:StringLike", "contractors", "contractors"},
	{"ForAnyValue:StringEquals", ST("{\"ForAnyValue:StringEquals\":{\"auth.example.com/:amr\":\"team_opsec\"}}"),
	 "team_opsec", 1, "ForAnyValue:StringEquals", "team_opsec", "team_opsec"},
	{"ForAllValues:StringEquals", ST("{\"ForAllValues:StringEquals\":{\"auth.example.com/:amr\":[\"team_opsec\"]}}"),
	 "team_opsec", 1, "ForAllValues:StringEquals", "team_opsec", "team_opsec"},
	{"StringEqualsIgnoreCase", ST("{\"StringEqualsIgnoreCase\":{\"auth.example.com/:amr\":\"TEAM_OPSEC\"}}"),
	 "team_opsec", 1, "StringEqualsIgnoreCase", "TEAM_OPSEC", "team_opsec"},
	{"StringEqualsIfExists", ST("{\"StringEqualsIfExists\":{\"auth.example.com/:amr\":\"team_opsec\"}}"),
	 "team_opsec", 1, "StringEqualsIfExists", "team_opsec", "team_opsec"},
	{"condition key case-insensitive", ST("{\"StringEquals\":{\"AUTH.example.com/:AMR\":\"team_opsec\"}}"),
	 "team_opsec", 1, "StringEquals", "team_opsec", "team_opsec"},
	{"second claim", ST("{\"StringEquals\":{\"auth.example.com/:groups\":\"team_opsec\"}}"),
	 "team_opsec", 1, "StringEquals", "team_opsec", "team_opsec"},
	{"statement as an object",
	 "{\"Statement\":{" ALLOW "," FED "," WEB ",\"Condition\":{\"StringEquals\":{\"auth.example.com/:amr\":\"team_opsec\"}}}}",
	 "team_opsec", 1, "StringEquals", "team_opsec", "team_opsec"},
	{"Federated array, second provider, action array",
	 "{\"Statement\":[{\"Sid\":\"Org\"," ALLOW ",\"Principal\":{\"Federated\":[\"arn:aws:iam::1:saml-provider/x\",\"arn:aws:iam::111111111111:oidc-provider/login.example.org\"]},"
	 "\"Action\":[\"sts:TagSession\",\"sts:AssumeRoleWithWebIdentity\"],\"Condition\":{\"StringEquals\":{\"login.example.org:amr\":\"team_opsec\"}}}]}",
	 "team_opsec", 1, "StringEquals", "team_opsec", "team_opsec"},
	{"sts:* action", "{\"Statement\":[{" ALLOW "," FED ",\"Action\":\"sts:*\",\"Condition\":{\"StringEquals\":{\"auth.example.com/:amr\":\"team_opsec\"}}}]}",
	 "team_opsec", 1, "StringEquals", "team_opsec", "team_opsec"},
	{"GovCloud partition", "{\"Statement\":[{" ALLOW ",\"Principal\":{\"Federated\":\"arn:aws-us-gov:iam::111111111111:oidc-provider/auth.example.com/\"}," WEB ",\"Condition\":{\"StringEquals\":{\"auth.example.com/:amr\":\"team_opsec\"}}}]}",
	 "team_opsec", 1, "StringEquals", "team_opsec", "team_opsec"},
	{"SAML provider, SAML:<claim>",
	 "{\"Statement\":[{" ALLOW "," SAML_FED "," SAML_ACT ",\"Condition\":{\"ForAnyValue:StringLike\":{\"SAML:groups\":\"team_*\"}}}]}",
	 "team_opsec", 1, "ForAnyValue:StringLike", "team_*", "team_opsec"},
	{"SAML provider, action array with sts:TagSession",
	 "{\"Statement\":{" ALLOW "," SAML_FED ",\"Action\":[\"sts:AssumeRoleWithSAML\",\"sts:TagSession\"],\"Condition\":{\"StringEquals\":{\"saml:amr\":\"team_opsec\"}}}}",
	 "team_opsec", 1, "StringEquals", "team_opsec", "team_opsec"},
	/* "*": every group, so every statement that lets a configured provider in */
	{"* with a statement naming another group", ST("{\"StringEquals\":{\"auth.example.com/:amr\":\"team_hr\"}}"),
	 "*", 1, "federated", "arn:aws:iam::111111111111:oidc-provider/auth.example.com/", "*"},
	{"* with a statement without a condition", "{\"Statement\":[{" ALLOW "," FED "," WEB "}]}",
	 "*", 1, "federated", "arn:aws:iam::111111111111:oidc-provider/auth.example.com/", "*"},
	{"* with a SAML statement naming no group", "{\"Statement\":[{" ALLOW "," SAML_FED "," SAML_ACT "," SAML_AUD "}]}",
	 "*", 1, "federated", "arn:aws:iam::111111111111:saml-provider/Okta", "*"},
	{"* among other groups", ST("{\"StringEquals\":{\"auth.example.com/:amr\":\"team_hr\"}}"),
	 "team_opsec,*", 1, "federated", "arn:aws:iam::111111111111:oidc-provider/auth.example.com/", "*"},
	{"* with the second of two federated principals",
	 "{\"Statement\":[{" ALLOW ",\"Principal\":{\"Federated\":[\"arn:aws:iam::1:oidc-provider/other.example/\",\"arn:aws:iam::111111111111:oidc-provider/login.example.org\"]}," WEB "}]}",
	 "*", 1, "federated", "arn:aws:iam::111111111111:oidc-provider/login.example.org", "*"},
	/* near misses */
	{"SAML provider with the web identity action",
	 "{\"Statement\":[{" ALLOW "," SAML_FED "," WEB ",\"Condition\":{\"StringEquals\":{\"SAML:groups\":\"team_opsec\"}}}]}",
	 "team_opsec", 0, NULL, NULL, NULL},
	{"OIDC provider with the SAML action",
	 "{\"Statement\":[{" ALLOW "," FED "," SAML_ACT ",\"Condition\":{\"StringEquals\":{\"auth.example.com/:amr\":\"team_opsec\"}}}]}",
	 "team_opsec", 0, NULL, NULL, NULL},
	{"unconfigured SAML provider",
	 "{\"Statement\":[{" ALLOW ",\"Principal\":{\"Federated\":\"arn:aws:iam::111111111111:saml-provider/Other\"}," SAML_ACT ",\"Condition\":{\"StringEquals\":{\"SAML:groups\":\"team_opsec\"}}}]}",
	 "team_opsec", 0, NULL, NULL, NULL},
	{"SAML statement keyed on a provider name, not SAML:",
	 "{\"Statement\":[{" ALLOW "," SAML_FED "," SAML_ACT ",\"Condition\":{\"StringEquals\":{\"saml-provider/Okta:groups\":\"team_opsec\"}}}]}",
	 "team_opsec", 0, NULL, NULL, NULL},
	{"SAML key in an OIDC statement", ST("{\"StringEquals\":{\"SAML:amr\":\"team_opsec\"}}"),
	 "team_opsec", 0, NULL, NULL, NULL},
	{"other provider", "{\"Statement\":[{" ALLOW ",\"Principal\":{\"Federated\":\"arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com\"}," WEB ",\"Condition\":{\"StringEquals\":{\"token.actions.githubusercontent.com:amr\":\"team_opsec\"}}}]}",
	 "team_opsec", 0, NULL, NULL, NULL},
	{"provider as a prefix", "{\"Statement\":[{" ALLOW ",\"Principal\":{\"Federated\":\"arn:aws:iam::111111111111:oidc-provider/auth.example.com/evil\"}," WEB ",\"Condition\":{\"StringEquals\":{\"auth.example.com/:amr\":\"team_opsec\"}}}]}",
	 "team_opsec", 0, NULL, NULL, NULL},
	{"Deny statement", "{\"Statement\":[{\"Effect\":\"Deny\"," FED "," WEB ",\"Condition\":{\"StringEquals\":{\"auth.example.com/:amr\":\"team_opsec\"}}}]}",
	 "team_opsec", 0, NULL, NULL, NULL},
	{"sts:AssumeRole only", "{\"Statement\":[{" ALLOW "," FED ",\"Action\":\"sts:AssumeRole\",\"Condition\":{\"StringEquals\":{\"auth.example.com/:amr\":\"team_opsec\"}}}]}",
	 "team_opsec", 0, NULL, NULL, NULL},
	{"service principal", "{\"Statement\":[{" ALLOW ",\"Principal\":{\"Service\":\"ec2.amazonaws.com\"},\"Action\":\"sts:AssumeRole\"}]}",
	 "team_opsec", 0, NULL, NULL, NULL},
	{"group a prefix of another", ST("{\"StringEquals\":{\"auth.example.com/:amr\":\"team_opsec_admins\"}}"),
	 "team_opsec", 0, NULL, NULL, NULL},
	{"another group a prefix of ours", ST("{\"StringEquals\":{\"auth.example.com/:amr\":\"team\"}}"),
	 "team_opsec", 0, NULL, NULL, NULL},
	{"Like pattern that does not match", ST("{\"StringLike\":{\"auth.example.com/:amr\":\"team_h*\"}}"),
	 "team_opsec", 0, NULL, NULL, NULL},
	{"Equals does not glob", ST("{\"StringEquals\":{\"auth.example.com/:amr\":\"team_*\"}}"),
	 "team_opsec", 0, NULL, NULL, NULL},
	{"case differs without IgnoreCase", ST("{\"StringEquals\":{\"auth.example.com/:amr\":\"TEAM_OPSEC\"}}"),
	 "team_opsec", 0, NULL, NULL, NULL},
	{"negated operator", ST("{\"StringNotEquals\":{\"auth.example.com/:amr\":\"team_opsec\"}}"),
	 "team_opsec", 0, NULL, NULL, NULL},
	{"other claim", ST("{\"StringEquals\":{\"auth.example.com/:sub\":\"team_opsec\"}}"),
	 "team_opsec", 0, NULL, NULL, NULL},
	{"no condition at all", "{\"Statement\":[{" ALLOW "," FED "," WEB "}]}",
	 "team_opsec", 0, NULL, NULL, NULL},
	{"* and a service principal", "{\"Statement\":[{" ALLOW ",\"Principal\":{\"Service\":\"ec2.amazonaws.com\"},\"Action\":\"sts:AssumeRole\"}]}",
	 "*", 0, NULL, NULL, NULL},
	{"* and a Deny statement", "{\"Statement\":[{\"Effect\":\"Deny\"," FED "," WEB "}]}",
	 "*", 0, NULL, NULL, NULL},
	{"* and an unconfigured provider", "{\"Statement\":[{" ALLOW ",\"Principal\":{\"Federated\":\"arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com\"}," WEB "}]}",
	 "*", 0, NULL, NULL, NULL},
	{"* and a SAML provider with the web identity action", "{\"Statement\":[{" ALLOW "," SAML_FED "," WEB "}]}",
	 "*", 0, NULL, NULL, NULL},
	{"* and an account root principal", "{\"Statement\":[{" ALLOW ",\"Principal\":{\"AWS\":\"arn:aws:iam::111111111111:root\"},\"Action\":\"sts:AssumeRole\"}]}",
	 "*", 0, NULL, NULL, NULL},
	{"team_* is a group name, not a pattern", ST("{\"StringEquals\":{\"auth.example.com/:amr\":\"team_opsec\"}}"),
	 "team_*", 0, NULL, NULL, NULL},
	{"team_* is not a pattern under Like either", ST("{\"StringLike\":{\"auth.example.com/:amr\":\"team_opsec\"}}"),
	 "team_*", 0, NULL, NULL, NULL},
	{"a trust value * under Equals is no wildcard", ST("{\"StringEquals\":{\"auth.example.com/:amr\":\"*\"}}"),
	 "team_opsec", 0, NULL, NULL, NULL},
	{"key of a provider the statement does not federate", ST("{\"StringEquals\":{\"login.example.org:amr\":\"team_opsec\"}}"),
	 "team_opsec", 0, NULL, NULL, NULL},
};

static size_t split(const char *list, char **out, char *buf, size_t cap)
{
	size_t n = 0;
	char *p;

	snprintf(buf, cap, "%s", list);
	for (p = strtok(buf, ","); p != NULL; p = strtok(NULL, ","))
		out[n++] = p;
	return n;
}

static void test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct mcase *c = &cases[i];
		char buf[256], *groups[8];
		size_t n = split(c->groups, groups, buf, sizeof(buf));
		struct sr_match m;
		struct sr_err err = {0};

		print_message("%-45s", c->name);
		assert_int_equal(sr_match_trust_policy(c->policy, &rules, groups, n, &m, &err), SR_OK);
		print_message(" -> %s %s\n", m.matched ? "match" : "no match",
			      m.matched ? m.reasons[0].statement : "");
		assert_int_equal(m.matched, c->matched);
		if (c->matched) {
			assert_true(m.n_reasons >= 1);
			assert_string_equal(m.reasons[0].source, "trust");
			assert_string_equal(m.reasons[0].op, c->op);
			assert_string_equal(m.reasons[0].value, c->value);
			assert_string_equal(m.reasons[0].group, c->group);
		} else {
			assert_int_equal(m.n_reasons, 0);
		}
	}
}

/* federated: whether a statement lets a configured provider in at all, the
 * precondition for a tag or a mapping to select a role. */
static void test_federated(void **state)
{
	static const struct {
		const char *policy;
		int federated;
	} fcases[] = {
		{"{\"Statement\":[{" ALLOW "," SAML_FED "," SAML_ACT "," SAML_AUD "}]}", 1},
		{"{\"Statement\":[{" ALLOW "," FED "," WEB "}]}", 1},
		{ST("{\"StringEquals\":{\"auth.example.com/:amr\":\"team_hr\"}}"), 1},
		{"{\"Statement\":[{" ALLOW "," SAML_FED "," WEB "}]}", 0},
		{"{\"Statement\":[{\"Effect\":\"Deny\"," SAML_FED "," SAML_ACT "}]}", 0},
		{"{\"Statement\":[{" ALLOW ",\"Principal\":{\"Service\":\"ec2.amazonaws.com\"},\"Action\":\"sts:AssumeRole\"}]}", 0},
		{"{\"Statement\":[{" ALLOW ",\"Principal\":{\"Federated\":\"arn:aws:iam::1:saml-provider/AWSSSO_x_DO_NOT_DELETE\"}," SAML_ACT "}]}", 0},
	};
	char *g[] = {"team_opsec"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(fcases) / sizeof(fcases[0]); i++) {
		struct sr_match m;
		assert_int_equal(sr_match_trust_policy(fcases[i].policy, &rules, g, 1, &m, NULL), SR_OK);
		if (m.federated != fcases[i].federated)
			fail_msg("case %zu: federated %d, want %d", i, m.federated, fcases[i].federated);
		assert_int_equal(m.matched, 0);
	}
}

static void test_tag(void **state)
{
	static const struct {
		const char *value, *groups;
		int hit;
		const char *group; /* the first reason's */
	} tcases[] = {
		{"team_opsec", "team_opsec", 1, "team_opsec"},
		{"team_hr team_opsec", "team_opsec", 1, "team_opsec"},
		{"team_hr,team_opsec", "team_opsec", 1, "team_opsec"},
		{" , team_hr ,, team_opsec ", "team_opsec", 1, "team_opsec"},
		{"team_hr team_opsec", "team_opsec,team_hr", 1, "team_hr"},
		{"team_opsec_admins", "team_opsec", 0, NULL},
		{"team_ops", "team_opsec", 0, NULL},
		{"TEAM_OPSEC", "team_opsec", 0, NULL},
		{"team_*", "team_opsec", 0, NULL}, /* a tag names groups, it is no pattern */
		{"team_hr", "*", 1, "*"},          /* "*": any group the tag names */
		{"team_hr", "team_opsec,*", 1, "*"},
		{"team_opsec", "team_*", 0, NULL}, /* a revocation's group is no pattern */
		{"", "*", 0, NULL},
		{" , ", "*", 0, NULL},
		{"", "team_opsec", 0, NULL},
		{" , ", "team_opsec", 0, NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tcases) / sizeof(tcases[0]); i++) {
		char buf[256], *groups[8];
		size_t n = split(tcases[i].groups, groups, buf, sizeof(buf));
		struct sr_match m;
		memset(&m, 0, sizeof(m));
		if (sr_match_tag(tcases[i].value, groups, n, &m) != tcases[i].hit ||
		    m.matched != tcases[i].hit)
			fail_msg("tag \"%s\" groups %s: want %d", tcases[i].value, tcases[i].groups,
				 tcases[i].hit);
		if (tcases[i].hit) {
			assert_string_equal(m.reasons[0].source, "tag");
			assert_string_equal(m.reasons[0].key, SR_GROUPS_TAG);
			assert_string_equal(m.reasons[0].value, tcases[i].value);
			assert_string_equal(m.reasons[0].group, tcases[i].group);
		}
	}
}

static void test_mapping(void **state)
{
	static char *opsec_roles[] = {"Okta-Opsec-*", "BreakGlass"};
	static char *hr_roles[] = {"Okta-HR-?"};
	static char *only_222[] = {"222222222222"};
	static const struct sr_role_mapping maps[] = {
		{"team_opsec", {opsec_roles, 2}, {NULL, 0}},
		{"team_hr", {hr_roles, 1}, {only_222, 1}},
	};
	static const struct sr_match_rules mrules = {providers, 3, claims, 2, maps, 2};
	static const struct {
		const char *account, *role, *groups;
		int hit;
		const char *where, *pattern;
	} mcases2[] = {
		{"111111111111", "Okta-Opsec-Admin", "team_opsec", 1, "revoke.role_mappings[0]", "Okta-Opsec-*"},
		{"111111111111", "okta-opsec-readonly", "team_opsec", 1, "revoke.role_mappings[0]", "Okta-Opsec-*"},
		{"333333333333", "breakglass", "team_opsec", 1, "revoke.role_mappings[0]", "BreakGlass"},
		{"222222222222", "Okta-HR-1", "team_opsec,team_hr", 1, "revoke.role_mappings[1]", "Okta-HR-?"},
		{"111111111111", "Okta-HR-1", "team_hr", 0, NULL, NULL}, /* not that account */
		{"222222222222", "Okta-HR-12", "team_hr", 0, NULL, NULL},
		{"111111111111", "Okta-Opsec-Admin", "team_hr", 0, NULL, NULL},
		{"111111111111", "BreakGlass2", "team_opsec", 0, NULL, NULL},
		{"111111111111", "Okta-Opsec-Admin", "team_opsec_admins", 0, NULL, NULL},
		/* "*": every mapping of the account */
		{"111111111111", "Okta-Opsec-Admin", "*", 1, "revoke.role_mappings[0]", "Okta-Opsec-*"},
		{"222222222222", "Okta-HR-1", "*", 1, "revoke.role_mappings[1]", "Okta-HR-?"},
		{"111111111111", "Okta-HR-1", "*", 0, NULL, NULL}, /* not that account */
		{"111111111111", "Unmapped", "*", 0, NULL, NULL},
		{"111111111111", "Okta-Opsec-Admin", "team_*", 0, NULL, NULL}, /* no pattern */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(mcases2) / sizeof(mcases2[0]); i++) {
		char buf[256], *groups[8];
		size_t n = split(mcases2[i].groups, groups, buf, sizeof(buf));
		struct sr_match m;
		memset(&m, 0, sizeof(m));
		if (sr_match_mapping(&mrules, mcases2[i].account, mcases2[i].role, groups, n, &m) !=
		    mcases2[i].hit)
			fail_msg("%s/%s groups %s: want %d", mcases2[i].account, mcases2[i].role,
				 mcases2[i].groups, mcases2[i].hit);
		if (mcases2[i].hit) {
			assert_string_equal(m.reasons[0].source, "mapping");
			assert_string_equal(m.reasons[0].statement, mcases2[i].where);
			if (strcmp(mcases2[i].groups, "*") == 0)
				assert_string_equal(m.reasons[0].group, "*");
			assert_string_equal(m.reasons[0].value, mcases2[i].pattern);
		}
	}
	/* no mappings configured: nothing */
	{
		char *g[] = {"team_opsec"};
		struct sr_match m;
		memset(&m, 0, sizeof(m));
		assert_int_equal(sr_match_mapping(&rules, "111111111111", "Okta-Opsec-Admin", g, 1, &m), 0);
	}
}

/* Which revocations' denied roles a cleanup visits: its groups' and those of
 * "*" revocations; a cleanup of "*" every revocation's (no group filter). */
static void test_cleanup_groups(void **state)
{
	static const struct {
		const char *groups, *want; /* want: comma-separated, NULL: every group */
	} ccases[] = {
		{"team_opsec", "team_opsec,*"},
		{"team_opsec,team_hr", "team_opsec,team_hr,*"},
		{"team_*", "team_*,*"},
		{"*", NULL},
		{"team_hr,*", NULL},
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(ccases) / sizeof(ccases[0]); i++) {
		char buf[256], wbuf[256], *groups[8], *want[8], **out = (char **)&out;
		size_t n = split(ccases[i].groups, groups, buf, sizeof(buf)), n_out = 99, n_want = 0;
		struct sr_err err = {0};

		assert_int_equal(sr_match_cleanup_groups(groups, n, &out, &n_out, &err), SR_OK);
		if (ccases[i].want == NULL) {
			assert_null(out);
			assert_int_equal(n_out, 0);
			continue;
		}
		n_want = split(ccases[i].want, want, wbuf, sizeof(wbuf));
		assert_int_equal(n_out, n_want);
		for (j = 0; j < n_want; j++)
			assert_string_equal(out[j], want[j]);
		free(out);
	}
}

static void test_unmodifiable(void **state)
{
	(void)state;
	assert_non_null(strstr(sr_match_unmodifiable("/aws-reserved/sso.amazonaws.com/"),
			       "IAM Identity Center"));
	assert_non_null(strstr(sr_match_unmodifiable("/aws-reserved/sso.amazonaws.com/eu-west-1/"),
			       "SCP"));
	assert_non_null(strstr(sr_match_unmodifiable("/aws-service-role/ops.amazonaws.com/"),
			       "service-linked"));
	assert_null(sr_match_unmodifiable("/"));
	assert_null(sr_match_unmodifiable("/aws-reserved/"));
	assert_null(sr_match_unmodifiable("/teams/aws-service-role/"));
	assert_null(sr_match_unmodifiable("/aws-reserved/sso.amazonaws.com"));
}

static void test_bad_policy(void **state)
{
	struct sr_match m;
	struct sr_err err = {0};
	char *g[] = {"x"};

	(void)state;
	assert_int_equal(sr_match_trust_policy("not json", &rules, g, 1, &m, &err), SR_EINVAL);
	assert_int_equal(sr_match_trust_policy("[]", &rules, g, 1, &m, &err), SR_EINVAL);
	assert_int_equal(m.matched, 0);
}

static void test_glob(void **state)
{
	(void)state;
	assert_true(sr_match_glob("*", "", 0));
	assert_true(sr_match_glob("a*b*c", "aXXbYYc", 0));
	assert_false(sr_match_glob("a*b*c", "aXXbYY", 0));
	assert_true(sr_match_glob("team_??", "team_hr", 0));
	assert_false(sr_match_glob("team_??", "team_h", 0));
	assert_true(sr_match_glob("TEAM_*", "team_x", 1));
	assert_false(sr_match_glob("TEAM_*", "team_x", 0));
	assert_true(sr_match_glob("**a", "ba", 0));
}

#define T1 1773306511 /* 2026-03-12T09:08:31Z */

static void test_deny_policy(void **state)
{
	struct sr_err err = {0};
	char *p1 = NULL, *p2 = NULL, *p3 = NULL;
	int64_t eff = 0, cut = 0;

	(void)state;
	assert_int_equal(sr_deny_policy_merge(NULL, T1, &p1, &eff, &err), SR_OK);
	assert_int_equal(eff, T1);
	assert_non_null(strstr(p1, "\"Effect\":\"Deny\""));
	assert_non_null(strstr(p1, "\"aws:TokenIssueTime\":\"2026-03-12T09:08:31Z\""));
	assert_non_null(strstr(p1, "\"Action\":\"*\""));
	assert_int_equal(sr_deny_policy_cutoff(p1, &cut, &err), SR_OK);
	assert_int_equal(cut, T1);
	/* A later revocation raises the cut-off... */
	assert_int_equal(sr_deny_policy_merge(p1, T1 + 600, &p2, &eff, &err), SR_OK);
	assert_int_equal(eff, T1 + 600);
	assert_int_equal(sr_deny_policy_cutoff(p2, &cut, &err), SR_OK);
	assert_int_equal(cut, T1 + 600);
	/* ...an earlier one leaves the later cut-off in place. */
	assert_int_equal(sr_deny_policy_merge(p2, T1 - 600, &p3, &eff, &err), SR_OK);
	assert_int_equal(eff, T1 + 600);
	assert_string_equal(p2, p3);
	free(p1);
	free(p2);
	free(p3);
}

static void test_deny_policy_keeps_other_statements(void **state)
{
	const char *existing = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Sid\":\"Other\","
			       "\"Effect\":\"Deny\",\"Action\":\"s3:*\",\"Resource\":\"*\"}}";
	struct sr_err err = {0};
	char *p = NULL;
	int64_t eff = 0, cut = 1;

	(void)state;
	assert_int_equal(sr_deny_policy_cutoff(existing, &cut, &err), SR_OK);
	assert_int_equal(cut, 0);
	assert_int_equal(sr_deny_policy_merge(existing, T1, &p, &eff, &err), SR_OK);
	assert_non_null(strstr(p, "\"Sid\":\"Other\""));
	assert_non_null(strstr(p, SR_DENY_SID));
	free(p);
	assert_int_equal(sr_deny_policy_merge("{", T1, &p, &eff, &err), SR_EINVAL);
	assert_null(p);
}

static void test_deny_policy_remove(void **state)
{
	const char *other = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Sid\":\"Other\","
			    "\"Effect\":\"Deny\",\"Action\":\"s3:*\",\"Resource\":\"*\"}}";
	struct sr_err err = {0};
	char *merged = NULL, *only = NULL, *rest = NULL;
	int64_t eff = 0, cut = 1;

	(void)state;
	/* ours alone: nothing is left, the policy is to be deleted */
	assert_int_equal(sr_deny_policy_merge(NULL, T1, &only, &eff, &err), SR_OK);
	assert_int_equal(sr_deny_policy_remove(only, &rest, &err), SR_OK);
	assert_null(rest);
	/* ours beside another statement: the other one stays */
	assert_int_equal(sr_deny_policy_merge(other, T1, &merged, &eff, &err), SR_OK);
	assert_int_equal(sr_deny_policy_remove(merged, &rest, &err), SR_OK);
	assert_non_null(rest);
	assert_non_null(strstr(rest, "\"Sid\":\"Other\""));
	assert_null(strstr(rest, SR_DENY_SID));
	assert_int_equal(sr_deny_policy_cutoff(rest, &cut, &err), SR_OK);
	assert_int_equal(cut, 0);
	free(only);
	free(merged);
	free(rest);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_federated),
		cmocka_unit_test(test_tag),
		cmocka_unit_test(test_mapping),
		cmocka_unit_test(test_cleanup_groups),
		cmocka_unit_test(test_unmodifiable),
		cmocka_unit_test(test_bad_policy),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_deny_policy),
		cmocka_unit_test(test_deny_policy_keeps_other_statements),
		cmocka_unit_test(test_deny_policy_remove),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
