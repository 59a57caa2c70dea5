/*
 * fuzz_policy.c - policy documents come from AWS (trust policies from
 * ListRoles, inline policies from GetRolePolicy): the trust-policy matcher and
 * the deny-policy merge, cut-off and removal on arbitrary JSON.
 */
#include "fuzz_common.h"
#include "session_revoker/revoke.h"

static char *providers[] = {"auth.example.com/", "login.example.org", "saml-provider/Okta"};
static char *claims[] = {"amr", "groups"};
static char *groups[] = {"team_opsec", "team_hr", "TEAM_*"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct sr_match_rules rules = {providers, 3, claims, 2, NULL, 0};
	struct sr_match m;
	struct sr_err err = {0};
	char *text = malloc(size + 1), *merged = NULL, *rest = NULL;
	int64_t cut = 0, eff = 0, again = 0;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (sr_match_trust_policy(text, &rules, groups, 3, &m, &err) != SR_OK)
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL));
	else
		FUZZ_CHECK(m.matched == (m.n_reasons > 0) && m.n_reasons <= SR_MATCH_MAX_REASONS &&
			   (!m.matched || m.federated));
	/* the same bytes as a session-revoker:groups tag value */
	memset(&m, 0, sizeof(m));
	FUZZ_CHECK(sr_match_tag(text, groups, 3, &m) == m.matched);
	sr_err_clear(&err);
	if (sr_deny_policy_cutoff(text, &cut, &err) != SR_OK) {
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL));
		goto out;
	}
	/* Merging never lowers a cut-off, and the result reads back. */
	FUZZ_CHECK(sr_deny_policy_merge(text, FUZZ_NOW, &merged, &eff, &err) == SR_OK);
	FUZZ_CHECK(eff == (cut > FUZZ_NOW ? cut : FUZZ_NOW));
	FUZZ_CHECK(sr_deny_policy_cutoff(merged, &again, &err) == SR_OK);
	FUZZ_CHECK(again == eff);
	/* Removing ours leaves none of ours. */
	FUZZ_CHECK(sr_deny_policy_remove(merged, &rest, &err) == SR_OK);
	if (rest != NULL) {
		FUZZ_CHECK(sr_deny_policy_cutoff(rest, &again, &err) == SR_OK);
		FUZZ_CHECK(again == 0);
	}
out:
	free(merged);
	free(rest);
	free(text);
	return 0;
}
