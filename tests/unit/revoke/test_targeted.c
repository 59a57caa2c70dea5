/*
 * test_targeted.c - deny statements for people (targeted.c), table-driven:
 * the merged document exactly as it would be written, rising cut-offs,
 * shared statements, idempotence, the character budget (500 people on one
 * role, and exactly who does not fit), cleanup per person, the statements
 * that are not ours left alone, and policies that cannot be read.
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

/* cut-offs: T1 2026-03-12T09:08:31Z, T2 an hour later, T3 a day later */
#define T1 INT64_C(1773306511)
#define T2 (T1 + 3600)
#define T3 (T1 + 86400)
#define T1_ISO "2026-03-12T09:08:31Z"
#define T2_ISO "2026-03-12T10:08:31Z"
#define T3_ISO "2026-03-13T09:08:31Z"
#define T1_SID "20260312T090831Z"
#define T2_SID "20260312T100831Z"
#define T3_SID "20260313T090831Z"
#define MAX_SESSION INT64_C(43200)

#define SI "aws:SourceIdentity"
/* a targeted statement as session-revoker writes it */
#define TST(sid, iso, key, subjects)                                                          \
	"{\"Sid\":\"SessionRevokerPeople" sid "\",\"Effect\":\"Deny\",\"Action\":\"*\","          \
	"\"Resource\":\"*\",\"Condition\":{\"DateLessThan\":{\"aws:TokenIssueTime\":\"" iso "\"}," \
	"\"StringEqualsIgnoreCase\":{\"" key "\":[" subjects "]}}}"
#define DOC(stmts) "{\"Version\":\"2012-10-17\",\"Statement\":[" stmts "]}"
/* the group statement (policy.c) and someone else's */
#define GROUP                                                                                 \
	"{\"Sid\":\"SessionRevokerDenyOldSessions\",\"Effect\":\"Deny\",\"Action\":\"*\","        \
	"\"Resource\":\"*\",\"Condition\":{\"DateLessThan\":{\"aws:TokenIssueTime\":\"" T1_ISO "\"}}}"
#define FOREIGN "{\"Sid\":\"Audit\",\"Effect\":\"Deny\",\"Action\":\"s3:DeleteBucket\",\"Resource\":\"*\"}"

struct person_in {
	const char *subject;
	int64_t cutoff;
};

struct mcase {
	const char *name;
	const char *existing;      /* NULL: the role has no deny policy */
	struct person_in people[6]; /* up to the first NULL subject */
	const char *tag_key;
	const char *want;          /* the document written, NULL: none */
	int changed;
	size_t n_people;
};

static const struct mcase mcases[] = {
	{"first person, no policy yet", NULL, {{"alice", T1}}, NULL,
	 DOC(TST(T1_SID, T1_ISO, SI, "\"alice\"")), 1, 1},
	{"same cut-off: one statement, sorted", NULL, {{"bob", T1}, {"alice", T1}}, NULL,
	 DOC(TST(T1_SID, T1_ISO, SI, "\"alice\",\"bob\"")), 1, 2},
	{"two cut-offs: two statements, earlier first", NULL, {{"alice", T2}, {"bob", T1}}, NULL,
	 DOC(TST(T1_SID, T1_ISO, SI, "\"bob\"") "," TST(T2_SID, T2_ISO, SI, "\"alice\"")), 1, 2},
	{"a later cut-off moves the person", DOC(TST(T1_SID, T1_ISO, SI, "\"alice\",\"bob\"")),
	 {{"alice", T2}}, NULL,
	 DOC(TST(T1_SID, T1_ISO, SI, "\"bob\"") "," TST(T2_SID, T2_ISO, SI, "\"alice\"")), 1, 2},
	{"a later cut-off for everyone: the old statement goes",
	 DOC(TST(T1_SID, T1_ISO, SI, "\"alice\"")), {{"alice", T3}}, NULL,
	 DOC(TST(T3_SID, T3_ISO, SI, "\"alice\"")), 1, 1},
	{"an earlier cut-off never lowers", DOC(TST(T2_SID, T2_ISO, SI, "\"alice\"")),
	 {{"alice", T1}}, NULL, DOC(TST(T2_SID, T2_ISO, SI, "\"alice\"")), 0, 1},
	{"the same people again: unchanged",
	 DOC(TST(T1_SID, T1_ISO, SI, "\"bob\"") "," TST(T2_SID, T2_ISO, SI, "\"alice\"")),
	 {{"alice", T2}, {"bob", T1}}, NULL,
	 DOC(TST(T1_SID, T1_ISO, SI, "\"bob\"") "," TST(T2_SID, T2_ISO, SI, "\"alice\"")), 0, 2},
	{"the same person twice: the later cut-off", NULL, {{"alice", T1}, {"alice", T2}}, NULL,
	 DOC(TST(T2_SID, T2_ISO, SI, "\"alice\"")), 1, 1},
	{"joins an existing statement", DOC(TST(T1_SID, T1_ISO, SI, "\"carol\"")),
	 {{"alice", T1}}, NULL, DOC(TST(T1_SID, T1_ISO, SI, "\"alice\",\"carol\"")), 1, 2},
	{"group and foreign statements kept, first", DOC(FOREIGN "," GROUP), {{"alice", T1}}, NULL,
	 DOC(FOREIGN "," GROUP "," TST(T1_SID, T1_ISO, SI, "\"alice\"")), 1, 1},
	{"foreign statement after ours (edited by someone): kept, ours last",
	 DOC(TST(T1_SID, T1_ISO, SI, "\"alice\"") "," FOREIGN), {{"bob", T1}}, NULL,
	 DOC(FOREIGN "," TST(T1_SID, T1_ISO, SI, "\"alice\",\"bob\"")), 1, 2},
	{"whitespace, a Statement object, StringEquals (written before): read, rewritten ignoring case",
	 "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": {\n    \"Sid\": \"SessionRevokerPeople" T1_SID
	 "\",\n    \"Effect\": \"Deny\", \"Action\": \"*\", \"Resource\": \"*\",\n    \"Condition\": {"
	 " \"DateLessThan\": { \"aws:TokenIssueTime\": \"" T1_ISO "\" },\n"
	 "      \"StringEquals\": { \"aws:SourceIdentity\": [ \"alice\" ] } }\n  }\n}\n",
	 {{"alice", T1}}, NULL, DOC(TST(T1_SID, T1_ISO, SI, "\"alice\"")), 1, 1},
	{"one person however spelt: Alice is alice, nothing to do",
	 DOC(TST(T1_SID, T1_ISO, SI, "\"alice@example.com\"")), {{"Alice@Example.com", T1}}, NULL,
	 DOC(TST(T1_SID, T1_ISO, SI, "\"alice@example.com\"")), 0, 1},
	{"one person however spelt: a later cut-off moves them",
	 DOC(TST(T1_SID, T1_ISO, SI, "\"alice\",\"bob\"")), {{"ALICE", T2}}, NULL,
	 DOC(TST(T1_SID, T1_ISO, SI, "\"bob\"") "," TST(T2_SID, T2_ISO, SI, "\"alice\"")), 1, 2},
	{"hand-edited: one string, key in another case, Sid date wrong (the condition counts)",
	 DOC("{\"Sid\":\"SessionRevokerPeople19990101T000000Z\",\"Effect\":\"Deny\",\"Action\":\"*\","
	     "\"Resource\":\"*\",\"Condition\":{\"StringEquals\":{\"AWS:sourceIdentity\":\"alice\"},"
	     "\"DateLessThan\":{\"aws:TokenIssueTime\":\"" T1_ISO "\"}}}"),
	 {{"bob", T1}}, NULL, DOC(TST(T1_SID, T1_ISO, SI, "\"alice\",\"bob\"")), 1, 2},
	{"principal tag", NULL, {{"alice@example.com", T1}}, "user-id",
	 DOC("{\"Sid\":\"SessionRevokerPeople" T1_SID "Taguserid\",\"Effect\":\"Deny\",\"Action\":\"*\","
	     "\"Resource\":\"*\",\"Condition\":{\"DateLessThan\":{\"aws:TokenIssueTime\":\"" T1_ISO "\"},"
	     "\"StringEqualsIgnoreCase\":{\"aws:PrincipalTag/user-id\":[\"alice@example.com\"]}}}"),
	 1, 1},
	{"source identity statement kept when the key is now a tag",
	 DOC(TST(T1_SID, T1_ISO, SI, "\"alice\"")), {{"bob", T1}}, "u",
	 DOC(TST(T1_SID "Tagu", T1_ISO, "aws:PrincipalTag/u", "\"bob\"") "," TST(T1_SID, T1_ISO, SI, "\"alice\"")),
	 1, 2},
	{"a person in two of our statements (edited): the later one",
	 DOC(TST(T2_SID, T2_ISO, SI, "\"alice\"") "," TST(T1_SID, T1_ISO, SI, "\"alice\",\"bob\"")),
	 {{"carol", T3}}, NULL,
	 DOC(TST(T1_SID, T1_ISO, SI, "\"bob\"") "," TST(T2_SID, T2_ISO, SI, "\"alice\"") ","
	     TST(T3_SID, T3_ISO, SI, "\"carol\"")),
	 1, 3},
	{"no people, no policy: nothing", NULL, {{NULL, 0}}, NULL, NULL, 0, 0},
	{"source identity characters", NULL, {{"a_b+c=d,e.f@g-h", T1}, {"X9", T1}}, NULL,
	 DOC(TST(T1_SID, T1_ISO, SI, "\"X9\",\"a_b+c=d,e.f@g-h\"")), 1, 2},
};

static size_t people_of(const struct person_in *in, struct sr_person *out)
{
	size_t n = 0;

	for (; n < 6 && in[n].subject != NULL; n++) {
		out[n].subject = in[n].subject;
		out[n].cutoff = in[n].cutoff;
	}
	return n;
}

static void test_merge(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(mcases) / sizeof(mcases[0]); i++) {
		const struct mcase *c = &mcases[i];
		struct sr_person people[6];
		size_t n = people_of(c->people, people);
		struct sr_targeted_opts opts = {c->tag_key, 0};
		struct sr_targeted_result res, again;
		struct sr_err err = {0};

		print_message("%s\n", c->name);
		if (sr_targeted_merge(c->existing, people, n, &opts, &res, &err) != SR_OK)
			fail_msg("%s: %s", c->name, err.msg);
		if (c->want == NULL)
			assert_null(res.policy);
		else if (res.policy == NULL || strcmp(res.policy, c->want) != 0)
			fail_msg("%s:\n got  %s\n want %s", c->name, res.policy ? res.policy : "(none)",
				 c->want);
		if (res.changed != c->changed)
			fail_msg("%s: changed %d, want %d", c->name, res.changed, c->changed);
		assert_int_equal(res.n_people, c->n_people);
		assert_int_equal(res.n_unwritten, 0);
		/* no whitespace in what we write: every character counts */
		assert_int_equal(res.used, c->want ? strlen(c->want) : 0);
		assert_int_equal(res.left, SR_INLINE_POLICY_BUDGET - res.used);
		/* idempotent: the same people on the result write nothing */
		if (res.policy != NULL) {
			assert_int_equal(sr_targeted_merge(res.policy, people, n, &opts, &again, &err),
					 SR_OK);
			assert_false(again.changed);
			assert_string_equal(again.policy, res.policy);
			sr_targeted_result_clear(&again);
		}
		sr_targeted_result_clear(&res);
	}
}

/* The group statement's own merge (policy.c) moves its statement to the end;
 * ours brings the canonical order back, so the pair rewrites nothing. */
static void test_with_group_merge(void **state)
{
	struct sr_person alice = {"alice", T1};
	struct sr_targeted_result res, again;
	struct sr_err err = {0};
	char *grouped = NULL;
	int64_t eff;

	(void)state;
	assert_int_equal(sr_targeted_merge(DOC(GROUP), &alice, 1, NULL, &res, &err), SR_OK);
	assert_int_equal(sr_deny_policy_merge(res.policy, T1, &grouped, &eff, &err), SR_OK);
	assert_int_equal(eff, T1);
	assert_int_equal(sr_targeted_merge(grouped, &alice, 1, NULL, &again, &err), SR_OK);
	assert_string_equal(again.policy, res.policy);
	free(grouped);
	sr_targeted_result_clear(&res);
	sr_targeted_result_clear(&again);
}

/* 500 people on one role, one cut-off: exactly those that fit are written,
 * in order of subject, and every other one is reported; no one is lost. */
static void test_budget_500(void **state)
{
	enum { N = 500 };
	static char subjects[N][32];
	struct sr_person people[N];
	struct sr_targeted_result res, again;
	struct sr_targeted_person *listed = NULL;
	struct sr_err err = {0};
	size_t i, n_listed = 0, base, fit, used;

	(void)state;
	/* given in reverse, to see that the order of subject decides */
	for (i = 0; i < N; i++) {
		snprintf(subjects[i], sizeof(subjects[i]), "user%03zu@example.com", i);
		people[N - 1 - i].subject = subjects[i];
		people[N - 1 - i].cutoff = T1;
	}
	/* the statement with no one in it, then 19 characters + 2 quotes a
	 * person and a comma between two */
	base = strlen(DOC(TST(T1_SID, T1_ISO, SI, "")));
	fit = (SR_INLINE_POLICY_BUDGET - base + 1) / 22;
	used = base + fit * 22 - 1;
	assert_true(fit > 400 && fit < N);

	assert_int_equal(sr_targeted_merge(NULL, people, N, NULL, &res, &err), SR_OK);
	assert_int_equal(res.used, used);
	assert_true(res.used <= SR_INLINE_POLICY_BUDGET);
	assert_int_equal(res.left, SR_INLINE_POLICY_BUDGET - used);
	assert_int_equal(strlen(res.policy), used);
	assert_int_equal(res.n_people, fit);
	assert_int_equal(res.n_unwritten, N - fit);
	for (i = 0; i < res.n_unwritten; i++) {
		assert_string_equal(res.unwritten[i].subject, subjects[fit + i]);
		assert_string_equal(res.unwritten[i].key, SI);
		assert_int_equal(res.unwritten[i].cutoff, T1);
	}
	assert_int_equal(sr_targeted_list(res.policy, &listed, &n_listed, &err), SR_OK);
	assert_int_equal(n_listed, fit);
	for (i = 0; i < n_listed; i++) {
		assert_string_equal(listed[i].subject, subjects[i]);
		assert_int_equal(listed[i].cutoff, T1);
	}
	sr_targeted_people_free(listed, n_listed);

	/* again: nothing to write, the same people still do not fit */
	assert_int_equal(sr_targeted_merge(res.policy, people, N, NULL, &again, &err), SR_OK);
	assert_false(again.changed);
	assert_string_equal(again.policy, res.policy);
	assert_int_equal(again.n_unwritten, N - fit);
	sr_targeted_result_clear(&again);

	/* a budget that leaves room for one more: exactly the next one gets in */
	{
		struct sr_targeted_opts opts = {NULL, used + 22};
		assert_int_equal(sr_targeted_merge(res.policy, people, N, &opts, &again, &err), SR_OK);
		assert_true(again.changed);
		assert_int_equal(again.n_people, fit + 1);
		assert_int_equal(again.used, used + 22);
		assert_int_equal(again.left, 0);
		assert_string_equal(again.unwritten[0].subject, subjects[fit + 1]);
		sr_targeted_result_clear(&again);
	}
	sr_targeted_result_clear(&res);
}

/* A raise that does not fit (alice would need a statement of her own) leaves
 * her at the cut-off she has and says so; someone who fits after her is
 * still written. */
static void test_budget_raise(void **state)
{
	const char *existing = DOC(TST(T1_SID, T1_ISO, SI, "\"alice\",\"bob\""));
	struct sr_person people[] = {{"alice", T2}, {"carol", T1}};
	struct sr_targeted_opts opts = {NULL, strlen(existing) + 8}; /* room for ,"carol" */
	struct sr_targeted_person *listed;
	struct sr_targeted_result res;
	struct sr_err err = {0};
	size_t n;

	(void)state;
	assert_int_equal(sr_targeted_merge(existing, people, 2, &opts, &res, &err), SR_OK);
	assert_string_equal(res.policy, DOC(TST(T1_SID, T1_ISO, SI, "\"alice\",\"bob\",\"carol\"")));
	assert_int_equal(res.n_unwritten, 1);
	assert_string_equal(res.unwritten[0].subject, "alice");
	assert_int_equal(res.unwritten[0].cutoff, T2);
	assert_int_equal(res.left, 0);
	assert_int_equal(sr_targeted_list(res.policy, &listed, &n, &err), SR_OK);
	assert_int_equal(n, 3);
	assert_string_equal(listed[0].subject, "alice");
	assert_int_equal(listed[0].cutoff, T1); /* alice: still denied until T1 */
	sr_targeted_people_free(listed, n);
	sr_targeted_result_clear(&res);
}

/* Someone who does not fit at first may fit once someone after them moved
 * and emptied a statement: tried again until nothing changes (and so
 * merging the result again writes nothing). */
static void test_budget_retry(void **state)
{
	const char *existing = DOC(TST(T1_SID, T1_ISO, SI, "\"bob\"") "," TST(T2_SID, T2_ISO, SI, "\"carol\""));
	const char *want = DOC(TST(T2_SID, T2_ISO, SI, "\"bob\",\"carol\"") "," TST(T3_SID, T3_ISO, SI, "\"alice\""));
	const char *alice_first = DOC(TST(T1_SID, T1_ISO, SI, "\"bob\"") "," TST(T2_SID, T2_ISO, SI, "\"carol\"") ","
				      TST(T3_SID, T3_ISO, SI, "\"alice\""));
	struct sr_person people[] = {{"alice", T3}, {"bob", T2}};
	struct sr_targeted_opts opts = {NULL, strlen(want)};
	struct sr_targeted_result res, again;
	struct sr_err err = {0};

	(void)state;
	assert_true(strlen(alice_first) > opts.budget); /* alice alone does not fit */
	assert_int_equal(sr_targeted_merge(existing, people, 2, &opts, &res, &err), SR_OK);
	assert_string_equal(res.policy, want);
	assert_int_equal(res.n_unwritten, 0);
	assert_int_equal(res.left, 0);
	assert_int_equal(sr_targeted_merge(res.policy, people, 2, &opts, &again, &err), SR_OK);
	assert_false(again.changed);
	sr_targeted_result_clear(&again);
	sr_targeted_result_clear(&res);
}

/* IAM does not count whitespace: a pretty-printed policy counts as its
 * compact form, and fits a budget its compact form fits. */
static void test_whitespace(void **state)
{
	const char *pretty = "{\n    \"Version\": \"2012-10-17\",\n    \"Statement\": [\n        " FOREIGN
			     "\n    ]\n}\n";
	const char *compact = DOC(FOREIGN);
	const char *want = DOC(FOREIGN "," TST(T1_SID, T1_ISO, SI, "\"alice\""));
	struct sr_person alice = {"alice", T1};
	struct sr_targeted_opts opts = {NULL, strlen(want)};
	struct sr_targeted_result res;
	struct sr_err err = {0};
	size_t n = 0;

	(void)state;
	assert_int_equal(sr_policy_size(pretty, &n, &err), SR_OK);
	assert_int_equal(n, strlen(compact));
	/* characters, not bytes: "é" is one */
	assert_int_equal(sr_policy_size("{\"a\":\"\xc3\xa9\"}", &n, &err), SR_OK);
	assert_int_equal(n, 9);
	assert_int_equal(sr_policy_size("{not json", &n, &err), SR_EINVAL);
	assert_int_equal(sr_policy_size("0", &n, &err), SR_EINVAL);
	assert_int_equal(sr_policy_size("[]", &n, &err), SR_EINVAL);

	assert_int_equal(sr_targeted_merge(pretty, &alice, 1, &opts, &res, &err), SR_OK);
	assert_int_equal(res.n_unwritten, 0);
	assert_string_equal(res.policy, want);
	assert_int_equal(res.used, strlen(want));
	assert_int_equal(res.left, 0);
	sr_targeted_result_clear(&res);
}

struct ccase {
	const char *name;
	int64_t now;
	const char *want; /* NULL: nothing left, delete the policy */
	int changed;
	size_t removed;
	int64_t next_due;
};

#define CLEAN_DOC                                                                              \
	DOC(FOREIGN "," GROUP "," TST(T1_SID, T1_ISO, SI, "\"alice\",\"bob\"") "," TST(            \
		T2_SID, T2_ISO, SI, "\"carol\""))

static const struct ccase ccases[] = {
	{"a second before anyone is due", T1 + MAX_SESSION - 1, CLEAN_DOC, 0, 0, T1 + MAX_SESSION},
	{"alice and bob due, carol not", T1 + MAX_SESSION,
	 DOC(FOREIGN "," GROUP "," TST(T2_SID, T2_ISO, SI, "\"carol\"")), 1, 2, T2 + MAX_SESSION},
	{"everyone due: group and foreign statements stay", T2 + MAX_SESSION, DOC(FOREIGN "," GROUP),
	 1, 3, 0},
};

static void test_cleanup(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ccases) / sizeof(ccases[0]); i++) {
		const struct ccase *c = &ccases[i];
		struct sr_targeted_result res;
		struct sr_err err = {0};

		print_message("%s\n", c->name);
		assert_int_equal(sr_targeted_cleanup(CLEAN_DOC, c->now, MAX_SESSION, NULL, &res, &err),
				 SR_OK);
		if (res.policy == NULL || strcmp(res.policy, c->want) != 0)
			fail_msg("%s:\n got  %s\n want %s", c->name, res.policy ? res.policy : "(none)",
				 c->want);
		assert_int_equal(res.changed, c->changed);
		assert_int_equal(res.n_removed, c->removed);
		assert_int_equal(res.next_due, c->next_due);
		assert_int_equal(res.used, strlen(c->want));
		sr_targeted_result_clear(&res);
	}
}

/* Each person goes on their own cut-off, in one statement or across two;
 * with only our statements left empty there is nothing to keep. */
static void test_cleanup_per_person(void **state)
{
	const char *doc = DOC(TST(T1_SID, T1_ISO, SI, "\"alice\"") "," TST(T3_SID, T3_ISO, SI, "\"bob\""));
	struct sr_targeted_result res;
	struct sr_err err = {0};

	(void)state;
	assert_int_equal(sr_targeted_cleanup(doc, T2 + MAX_SESSION, MAX_SESSION, NULL, &res, &err),
			 SR_OK);
	assert_string_equal(res.policy, DOC(TST(T3_SID, T3_ISO, SI, "\"bob\"")));
	assert_int_equal(res.n_people, 1);
	assert_int_equal(res.next_due, T3 + MAX_SESSION);
	sr_targeted_result_clear(&res);

	assert_int_equal(sr_targeted_cleanup(doc, T3 + MAX_SESSION, MAX_SESSION, NULL, &res, &err),
			 SR_OK);
	assert_null(res.policy);
	assert_true(res.changed);
	assert_int_equal(res.n_removed, 2);
	assert_int_equal(res.used, 0);
	assert_int_equal(res.next_due, 0);
	sr_targeted_result_clear(&res);

	/* no policy: nothing to clean */
	assert_int_equal(sr_targeted_cleanup(NULL, T3, MAX_SESSION, NULL, &res, &err), SR_OK);
	assert_null(res.policy);
	assert_false(res.changed);
	sr_targeted_result_clear(&res);
}

struct ecase {
	const char *name;
	const char *existing;
	const char *subject;
	int64_t cutoff;
	const char *tag_key;
	const char *msg; /* in the error */
};

#define OURS(body) DOC("{\"Sid\":\"SessionRevokerPeople" T1_SID "\"," body "}")
#define DENY "\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\""
#define WHEN "\"DateLessThan\":{\"aws:TokenIssueTime\":\"" T1_ISO "\"}"

static const struct ecase ecases[] = {
	{"not JSON", "{\"Version\":", "alice", T1, NULL, "not a JSON object"},
	{"an array", "[]", "alice", T1, NULL, "not a JSON object"},
	{"duplicate keys", "{\"Statement\":[],\"Statement\":[]}", "alice", T1, NULL, "not a JSON object"},
	{"Statement a number", "{\"Statement\":5}", "alice", T1, NULL, "neither an object nor an array"},
	{"our Sid on an Allow",
	 OURS("\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{" WHEN
	      ",\"StringEquals\":{\"aws:SourceIdentity\":\"x1\"}}"),
	 "alice", T1, NULL, "SessionRevokerPeople" T1_SID " is not a Deny"},
	{"our Sid without a date", OURS(DENY ",\"Condition\":{\"StringEquals\":{\"aws:SourceIdentity\":\"x1\"}}"),
	 "alice", T1, NULL, "no DateLessThan aws:TokenIssueTime"},
	{"our Sid with a date that is none",
	 OURS(DENY ",\"Condition\":{\"DateLessThan\":{\"aws:TokenIssueTime\":\"soon\"},"
	      "\"StringEquals\":{\"aws:SourceIdentity\":\"x1\"}}"),
	 "alice", T1, NULL, "no DateLessThan aws:TokenIssueTime"},
	{"our Sid with the epoch as its date",
	 OURS(DENY ",\"Condition\":{\"DateLessThan\":{\"aws:TokenIssueTime\":\"1970-01-01T00:00:00Z\"},"
	      "\"StringEquals\":{\"aws:SourceIdentity\":\"x1\"}}"),
	 "alice", T1, NULL, "aws:TokenIssueTime is not between 1970 and 9999"},
	{"our Sid with StringLike", OURS(DENY ",\"Condition\":{" WHEN ",\"StringLike\":{\"aws:SourceIdentity\":\"x*\"}}"),
	 "alice", T1, NULL, "needs StringEqualsIgnoreCase with one key"},
	{"our Sid keyed on aws:userid", OURS(DENY ",\"Condition\":{" WHEN ",\"StringEquals\":{\"aws:userid\":\"x1\"}}"),
	 "alice", T1, NULL, "names people by aws:userid"},
	{"our Sid with a number among the people",
	 OURS(DENY ",\"Condition\":{" WHEN ",\"StringEquals\":{\"aws:SourceIdentity\":[\"x1\",7]}}"),
	 "alice", T1, NULL, "value 1 is not a string"},
	{"our Sid with no people", OURS(DENY ",\"Condition\":{" WHEN ",\"StringEquals\":{\"aws:SourceIdentity\":[]}}"),
	 "alice", T1, NULL, "non-empty array"},
	{"subject too short", NULL, "a", T1, NULL, "person 0: subject must be 2 to 64"},
	{"subject with a space", NULL, "alice smith", T1, NULL, "person 0: subject must be 2 to 64"},
	{"subject with a wildcard", NULL, "ali*", T1, NULL, "person 0: subject must be 2 to 64"},
	{"subject too long", NULL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", T1, NULL,
	 "person 0: subject must be 2 to 64"},
	{"empty tag value", NULL, "", T1, "user", "person 0: subject must be 1 to 256"},
	{"tag value with a quote", NULL, "a\"b", T1, "user", "person 0: subject must be 1 to 256"},
	{"cut-off 0", NULL, "alice", 0, NULL, "person 0: cut-off 0 is not between 1970 and 9999"},
	{"bad tag key", NULL, "alice", T1, "user\nid", "principal tag key must be"},
	{"empty tag key", NULL, "alice", T1, "", "principal tag key must be"},
};

static void test_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ecases) / sizeof(ecases[0]); i++) {
		const struct ecase *c = &ecases[i];
		struct sr_person p = {c->subject, c->cutoff};
		struct sr_targeted_opts opts = {c->tag_key, 0};
		struct sr_targeted_result res;
		struct sr_err err = {0};

		print_message("%s\n", c->name);
		assert_int_equal(sr_targeted_merge(c->existing, &p, 1, &opts, &res, &err), SR_EINVAL);
		if (strstr(err.msg, c->msg) == NULL)
			fail_msg("%s: error \"%s\", want \"%s\"", c->name, err.msg, c->msg);
		assert_null(res.policy);
		assert_int_equal(res.n_unwritten, 0);
		/* cleanup reads the same way */
		if (c->existing != NULL) {
			sr_err_clear(&err);
			assert_int_equal(sr_targeted_cleanup(c->existing, T3, MAX_SESSION, NULL, &res, &err),
					 SR_EINVAL);
			assert_null(res.policy);
		}
	}
}

static void test_list(void **state)
{
	struct sr_targeted_person *p;
	struct sr_err err = {0};
	size_t n;

	(void)state;
	assert_int_equal(sr_targeted_list(CLEAN_DOC, &p, &n, &err), SR_OK);
	assert_int_equal(n, 3);
	assert_string_equal(p[0].subject, "alice");
	assert_int_equal(p[0].cutoff, T1);
	assert_string_equal(p[1].subject, "bob");
	assert_string_equal(p[2].subject, "carol");
	assert_int_equal(p[2].cutoff, T2);
	assert_string_equal(p[2].key, SI);
	sr_targeted_people_free(p, n);
	assert_int_equal(sr_targeted_list(DOC(GROUP), &p, &n, &err), SR_OK);
	assert_int_equal(n, 0);
	assert_null(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_with_group_merge),
		cmocka_unit_test(test_budget_500),
		cmocka_unit_test(test_budget_raise),
		cmocka_unit_test(test_budget_retry),
		cmocka_unit_test(test_whitespace),
		cmocka_unit_test(test_cleanup),
		cmocka_unit_test(test_cleanup_per_person),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
