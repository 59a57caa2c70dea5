/*
 * fuzz_policy.c - policy documents come from AWS (trust policies from
 * ListRoles, inline policies from GetRolePolicy): the trust-policy matcher and
 * the deny-policy merge, cut-off and removal, and the targeted statements
 * for people (merge, cleanup, list) on arbitrary JSON.
 */
#include "fuzz_common.h"
#include "session_revoker/revoke.h"

#include <strings.h>

static char *providers[] = {"auth.example.com/", "login.example.org", "saml-provider/Okta"};
static char *claims[] = {"amr", "groups"};
static char *groups[] = {"team_opsec", "team_hr", "TEAM_*"};

#define MAX_SESSION INT64_C(43200)

/* The cut-off person p (key aws:SourceIdentity) has in people, 0: none. */
static int64_t cutoff_of(const struct sr_targeted_person *people, size_t n, const char *key,
			 const char *subject)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(people[i].key, key) == 0 && strcasecmp(people[i].subject, subject) == 0)
			return people[i].cutoff;
	return 0;
}

/* Targeted statements (a person is one however their subject is spelt:
 * case is ignored): merging never drops or lowers anyone already there,
 * writes each person asked for or names them as unwritten, stays within the
 * budget when it adds anyone, and says "unchanged" when run again; cleanup
 * leaves no one whose time has passed. */
static void check_targeted(const char *text)
{
	static const struct sr_person people[] = {
		{"alice", FUZZ_NOW}, {"bob@example.com", FUZZ_NOW - 3600}, {"alice", FUZZ_NOW - 60}};
	struct sr_targeted_person *before = NULL, *after = NULL;
	size_t n_before = 0, n_after = 0, i, j, chars = 0;
	struct sr_targeted_result res = {0}, again = {0}, clean = {0};
	struct sr_targeted_opts opts = {NULL, 4096};
	struct sr_err err = {0};

	if (sr_policy_size(text, &chars, &err) != SR_OK)
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL));
	sr_err_clear(&err);
	if (sr_targeted_list(text, &before, &n_before, &err) != SR_OK) {
		fuzz_check_err(&err, FUZZ_RC(SR_EINVAL));
		sr_err_clear(&err);
		FUZZ_CHECK(sr_targeted_merge(text, people, 3, &opts, &res, &err) == SR_EINVAL);
		FUZZ_CHECK(res.policy == NULL && res.n_unwritten == 0);
		return;
	}
	FUZZ_CHECK(sr_targeted_merge(text, people, 3, &opts, &res, &err) == SR_OK);
	if (res.policy != NULL) {
		FUZZ_CHECK(sr_targeted_list(res.policy, &after, &n_after, &err) == SR_OK);
		FUZZ_CHECK(n_after == res.n_people);
		FUZZ_CHECK(sr_policy_size(res.policy, &chars, &err) == SR_OK && chars == res.used);
	}
	for (i = 0; i < n_before; i++)
		FUZZ_CHECK(cutoff_of(after, n_after, before[i].key, before[i].subject) >=
			   before[i].cutoff);
	for (i = 0; i < 2; i++) {
		int64_t have = cutoff_of(after, n_after, "aws:SourceIdentity", people[i].subject);
		int unwritten = 0;
		for (j = 0; j < res.n_unwritten; j++)
			unwritten |= strcasecmp(res.unwritten[j].subject, people[i].subject) == 0;
		FUZZ_CHECK(have >= people[i].cutoff || unwritten);
	}
	/* anyone written who was not there at that cut-off: within the budget */
	for (i = 0; i < 2; i++)
		if (cutoff_of(before, n_before, "aws:SourceIdentity", people[i].subject) <
		    cutoff_of(after, n_after, "aws:SourceIdentity", people[i].subject))
			FUZZ_CHECK(res.used <= opts.budget);
	if (res.policy != NULL) {
		FUZZ_CHECK(sr_targeted_merge(res.policy, people, 3, &opts, &again, &err) == SR_OK);
		FUZZ_CHECK(!again.changed && strcmp(again.policy, res.policy) == 0);
		sr_targeted_result_clear(&again);
	}
	/* cleanup an hour after the latest cut-off asked for is due */
	FUZZ_CHECK(sr_targeted_cleanup(text, FUZZ_NOW + MAX_SESSION, MAX_SESSION, NULL, &clean,
				       &err) == SR_OK);
	sr_targeted_people_free(after, n_after);
	after = NULL;
	n_after = 0;
	if (clean.policy != NULL)
		FUZZ_CHECK(sr_targeted_list(clean.policy, &after, &n_after, &err) == SR_OK);
	FUZZ_CHECK(clean.n_removed + n_after == n_before);
	for (i = 0; i < n_after; i++)
		FUZZ_CHECK(after[i].cutoff + MAX_SESSION > FUZZ_NOW + MAX_SESSION &&
			   clean.next_due <= after[i].cutoff + MAX_SESSION);
	sr_targeted_result_clear(&clean);
	sr_targeted_result_clear(&res);
	sr_targeted_people_free(before, n_before);
	sr_targeted_people_free(after, n_after);
}

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
	check_targeted(text);
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
