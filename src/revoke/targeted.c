/*
 * targeted.c - deny statements for people, not roles: the sessions of one
 * person (aws:SourceIdentity, or a principal tag) issued before their cut-off.
 *
 * DESIGN: the role's deny policy is a document of statements. Ours are
 * recognised by their Sid (SR_TARGETED_SID_PREFIX + the cut-off); each is
 *
 *   {"Sid": "SessionRevokerPeople20260312T090831Z", "Effect": "Deny",
 *    "Action": "*", "Resource": "*",
 *    "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-03-12T09:08:31Z"},
 *                  "StringEqualsIgnoreCase": {"aws:SourceIdentity": ["alice", "bob"]}}}
 *
 * IAM ANDs condition operators and ORs the values of one key, so this denies
 * alice's and bob's sessions issued before the cut-off and no one else's.
 * Case is ignored: an identity provider may spell one email differently in
 * its events and in the tokens it signs (and "Alice" and "alice" are then one
 * person here too); a statement with StringEquals (written before) is read.
 * The document is read into a list of people (key, subject, cut-off) beside
 * the statements that are not ours, changed there, and written out again in
 * one canonical order, so the same people always give the same text. The
 * budget is checked by writing the document and counting it the way IAM
 * does; with a few hundred people on a role that is cheap enough to do once
 * per person added.
 */
#include "session_revoker/revoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KEY_SOURCE_IDENTITY "aws:SourceIdentity"
#define KEY_TAG_PREFIX "aws:PrincipalTag/"
#define MAX_CUTOFF INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define OPERATOR "StringEqualsIgnoreCase"

/* One person, however the subject is spelt. */
static int same(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

struct model {
	json_t *doc;    /* the document's other members (Version, Id) */
	json_t *others; /* the statements that are not ours, in order */
	struct sr_targeted_person *p;
	size_t n, cap;
};

static void model_free(struct model *m)
{
	json_decref(m->doc);
	json_decref(m->others);
	sr_targeted_people_free(m->p, m->n);
	memset(m, 0, sizeof(*m));
}

void sr_targeted_people_free(struct sr_targeted_person *people, size_t n)
{
	size_t i;

	for (i = 0; people != NULL && i < n; i++) {
		free(people[i].key);
		free(people[i].subject);
	}
	free(people);
}

void sr_targeted_result_clear(struct sr_targeted_result *res)
{
	if (res == NULL)
		return;
	free(res->policy);
	sr_targeted_people_free(res->unwritten, res->n_unwritten);
	memset(res, 0, sizeof(*res));
}

static enum sr_rc push(struct sr_targeted_person **arr, size_t *n, size_t *cap, const char *key,
		       const char *subject, int64_t cutoff, struct sr_err *err)
{
	struct sr_targeted_person *p;

	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		p = realloc(*arr, ncap * sizeof(*p));
		if (p == NULL)
			return sr_err_set(err, SR_ENOMEM, "out of memory");
		*arr = p;
		*cap = ncap;
	}
	p = &(*arr)[*n];
	p->key = strdup(key);
	p->subject = strdup(subject);
	p->cutoff = cutoff;
	if (p->key == NULL || p->subject == NULL) {
		free(p->key);
		free(p->subject);
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	(*n)++;
	return SR_OK;
}

static int by_cutoff_key_subject(const void *a, const void *b)
{
	const struct sr_targeted_person *x = a, *y = b;
	int c;

	if (x->cutoff != y->cutoff)
		return x->cutoff < y->cutoff ? -1 : 1;
	c = strcmp(x->key, y->key);
	return c ? c : strcmp(x->subject, y->subject);
}

/* ---- reading ---- */

/* The condition key as we write it: IAM compares condition key names
 * without regard to case; the tag key part is kept as written. OUT: new
 * string, NULL when key is neither. */
static char *canonical_key(const char *key)
{
	char *out;

	if (strcasecmp(key, KEY_SOURCE_IDENTITY) == 0)
		return strdup(KEY_SOURCE_IDENTITY);
	if (strncasecmp(key, KEY_TAG_PREFIX, strlen(KEY_TAG_PREFIX)) != 0 ||
	    key[strlen(KEY_TAG_PREFIX)] == '\0')
		return NULL;
	if ((out = strdup(key)) != NULL)
		memcpy(out, KEY_TAG_PREFIX, strlen(KEY_TAG_PREFIX));
	return out;
}

static int is_targeted(json_t *st)
{
	const char *sid = json_string_value(json_object_get(st, "Sid"));

	return sid != NULL && strncmp(sid, SR_TARGETED_SID_PREFIX, strlen(SR_TARGETED_SID_PREFIX)) == 0;
}

/* A person already there: keep the later cut-off. */
static enum sr_rc add_person(struct model *m, const char *key, const char *subject,
			     int64_t cutoff, struct sr_err *err)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->p[i].key, key) == 0 && same(m->p[i].subject, subject)) {
			if (cutoff > m->p[i].cutoff)
				m->p[i].cutoff = cutoff;
			return SR_OK;
		}
	return push(&m->p, &m->n, &m->cap, key, subject, cutoff, err);
}

static enum sr_rc read_statement(struct model *m, json_t *st, struct sr_err *err)
{
	const char *sid = json_string_value(json_object_get(st, "Sid"));
	json_t *cond = json_object_get(st, "Condition"), *eq, *subjects = NULL, *v;
	const char *when, *key = NULL;
	char *ckey = NULL;
	int64_t cutoff = 0;
	enum sr_rc rc = SR_OK;
	size_t i;

	if (!json_is_string(json_object_get(st, "Effect")) ||
	    strcmp(json_string_value(json_object_get(st, "Effect")), "Deny") != 0)
		return sr_err_set(err, SR_EINVAL, "policy statement %.64s is not a Deny", sid);
	when = json_string_value(json_object_get(json_object_get(cond, "DateLessThan"),
						 "aws:TokenIssueTime"));
	if (when == NULL || sr_time_parse(when, 0, &cutoff, NULL) != SR_OK)
		return sr_err_set(err, SR_EINVAL,
				  "policy statement %.64s has no DateLessThan aws:TokenIssueTime date", sid);
	if (cutoff <= 0 || cutoff > MAX_CUTOFF)
		return sr_err_set(err, SR_EINVAL,
				  "policy statement %.64s: aws:TokenIssueTime is not between 1970 and 9999",
				  sid);
	eq = json_object_get(cond, OPERATOR);
	if (eq == NULL)
		eq = json_object_get(cond, "StringEquals");
	if (!json_is_object(eq) || json_object_size(eq) != 1)
		return sr_err_set(err, SR_EINVAL,
				  "policy statement %.64s needs " OPERATOR " with one key "
				  "(aws:SourceIdentity or aws:PrincipalTag/...)", sid);
	json_object_foreach(eq, key, subjects)
		break;
	if ((ckey = canonical_key(key)) == NULL)
		return sr_err_set(err, SR_EINVAL,
				  "policy statement %.64s names people by %.64s, not by aws:SourceIdentity "
				  "or aws:PrincipalTag/...", sid, key);
	if (json_is_string(subjects)) {
		rc = add_person(m, ckey, json_string_value(subjects), cutoff, err);
	} else if (json_is_array(subjects) && json_array_size(subjects) > 0) {
		json_array_foreach(subjects, i, v) {
			if (!json_is_string(v)) {
				rc = sr_err_set(err, SR_EINVAL,
						"policy statement %.64s: %s value %zu is not a string", sid,
						ckey, i);
				break;
			}
			if ((rc = add_person(m, ckey, json_string_value(v), cutoff, err)) != SR_OK)
				break;
		}
	} else {
		rc = sr_err_set(err, SR_EINVAL,
				"policy statement %.64s: %s must be a string or a non-empty array of strings",
				sid, ckey);
	}
	free(ckey);
	return rc;
}

/* existing (NULL: an empty document) into m. */
static enum sr_rc model_load(const char *existing, struct model *m, struct sr_err *err)
{
	json_t *stmts, *st;
	json_error_t jerr;
	size_t i;

	memset(m, 0, sizeof(*m));
	m->others = json_array();
	if (existing == NULL) {
		m->doc = json_pack("{s:s}", "Version", "2012-10-17");
	} else {
		m->doc = json_loads(existing, JSON_REJECT_DUPLICATES, &jerr);
		if (m->doc == NULL || !json_is_object(m->doc)) {
			model_free(m);
			return sr_err_set(err, SR_EINVAL, "policy document is not a JSON object");
		}
	}
	if (m->doc == NULL || m->others == NULL) {
		model_free(m);
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	stmts = json_object_get(m->doc, "Statement");
	if (stmts != NULL && !json_is_array(stmts) && !json_is_object(stmts)) {
		model_free(m);
		return sr_err_set(err, SR_EINVAL,
				  "policy document's Statement is neither an object nor an array");
	}
	if (json_is_object(stmts)) {
		if (is_targeted(stmts)) {
			if (read_statement(m, stmts, err) != SR_OK)
				goto bad;
		} else {
			json_array_append(m->others, stmts);
		}
	}
	json_array_foreach(json_is_array(stmts) ? stmts : NULL, i, st) {
		if (is_targeted(st)) {
			if (read_statement(m, st, err) != SR_OK)
				goto bad;
		} else {
			json_array_append(m->others, st);
		}
	}
	json_object_del(m->doc, "Statement");
	return SR_OK;
bad:
	model_free(m);
	return SR_EINVAL;
}

/* ---- writing ---- */

static void make_sid(int64_t cutoff, const char *key, char *out, size_t cap)
{
	char when[32], *w = when;
	const char *o;
	size_t n;

	sr_time_format(cutoff, when);
	n = (size_t)snprintf(out, cap, "%s", SR_TARGETED_SID_PREFIX);
	for (; *w && n + 1 < cap; w++)
		if (*w != '-' && *w != ':')
			out[n++] = *w;
	if (strcmp(key, KEY_SOURCE_IDENTITY) != 0 && n + 4 < cap) {
		memcpy(out + n, "Tag", 3);
		n += 3;
		for (o = key + strlen(KEY_TAG_PREFIX); *o && n + 1 < cap; o++)
			if ((*o >= 'A' && *o <= 'Z') || (*o >= 'a' && *o <= 'z') ||
			    (*o >= '0' && *o <= '9'))
				out[n++] = *o;
	}
	out[n] = '\0';
}

/* The statement for people[0..n), who share a cut-off and key. New reference. */
static json_t *statement(const struct sr_targeted_person *people, size_t n)
{
	char sid[256], when[32];
	json_t *subjects = json_array(), *st;
	size_t i;

	for (i = 0; subjects != NULL && i < n; i++)
		json_array_append_new(subjects, json_string(people[i].subject));
	make_sid(people[0].cutoff, people[0].key, sid, sizeof(sid));
	st = json_pack("{s:s, s:s, s:s, s:s, s:{s:{s:s}, s:{s:o}}}", "Sid", sid, "Effect", "Deny",
		       "Action", "*", "Resource", "*", "Condition", "DateLessThan",
		       "aws:TokenIssueTime", sr_time_format(people[0].cutoff, when), OPERATOR,
		       people[0].key, subjects);
	return st;
}

/* The document m stands for (new reference; NULL when out of memory), its
 * statement count in *n_statements. */
static json_t *model_build(struct model *m, size_t *n_statements)
{
	json_t *doc = json_deep_copy(m->doc), *stmts = json_copy(m->others);
	size_t i, j;

	if (doc == NULL || stmts == NULL)
		goto fail;
	if (m->n > 0)
		qsort(m->p, m->n, sizeof(*m->p), by_cutoff_key_subject);
	for (i = 0; i < m->n; i = j) {
		for (j = i + 1; j < m->n && m->p[j].cutoff == m->p[i].cutoff &&
				strcmp(m->p[j].key, m->p[i].key) == 0;
		     j++)
			;
		if (json_array_append_new(stmts, statement(&m->p[i], j - i)) != 0)
			goto fail;
	}
	if (json_object_get(doc, "Version") == NULL)
		json_object_set_new(doc, "Version", json_string("2012-10-17"));
	*n_statements = json_array_size(stmts);
	if (json_object_set_new(doc, "Statement", stmts) != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
fail:
	json_decref(doc);
	json_decref(stmts);
	return NULL;
}

/* Unicode characters of text (UTF-8; a stray byte counts as one). */
static size_t chars(const char *text)
{
	size_t n = 0;

	for (; *text; text++)
		if (((unsigned char)*text & 0xC0) != 0x80)
			n++;
	return n;
}

static size_t doc_size(json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	size_t n = text ? chars(text) : SIZE_MAX;

	free(text);
	return n;
}

enum sr_rc sr_policy_size(const char *text, size_t *out, struct sr_err *err)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr);

	*out = 0;
	if (doc == NULL || !json_is_object(doc)) {
		json_decref(doc);
		return sr_err_set(err, SR_EINVAL, "policy document is not a JSON object");
	}
	*out = doc_size(doc);
	json_decref(doc);
	return *out == SIZE_MAX ? sr_err_set(err, SR_ENOMEM, "out of memory") : SR_OK;
}

/* existing as it was read (an empty document when NULL), its Statement as
 * an array: what "unchanged" is decided against. New reference. */
static json_t *read_before(const char *existing)
{
	json_t *doc, *st;

	if (existing == NULL)
		return json_pack("{s:s, s:[]}", "Version", "2012-10-17", "Statement");
	doc = json_loads(existing, 0, NULL);
	st = json_object_get(doc, "Statement");
	if (json_is_object(st))
		json_object_set_new(doc, "Statement", json_pack("[O]", st));
	return doc;
}

/* Fills out from m, compared with before (the document as it was read). */
static enum sr_rc finish(struct model *m, json_t *before, size_t budget,
			 struct sr_targeted_result *out, struct sr_err *err)
{
	size_t n_statements = 0;
	json_t *doc = model_build(m, &n_statements);

	if (doc == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	out->changed = !json_equal(doc, before);
	out->n_people = m->n;
	if (n_statements > 0) {
		out->policy = json_dumps(doc, JSON_COMPACT);
		if (out->policy == NULL) {
			json_decref(doc);
			return sr_err_set(err, SR_ENOMEM, "out of memory");
		}
		out->used = chars(out->policy);
	}
	out->left = out->used < budget ? budget - out->used : 0;
	json_decref(doc);
	return SR_OK;
}

/* ---- checking what callers pass ---- */

static enum sr_rc check_opts(const struct sr_targeted_opts *opts, char **key, size_t *budget,
			     struct sr_err *err)
{
	const char *t = opts ? opts->tag_key : NULL;
	size_t i, n;

	*budget = opts && opts->budget ? opts->budget : SR_INLINE_POLICY_BUDGET;
	if (t == NULL) {
		*key = strdup(KEY_SOURCE_IDENTITY);
		return *key ? SR_OK : sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	/* tag keys: 1 to 128 of letters, digits, spaces and _.:/=+-@ (STS Tag) */
	n = strlen(t);
	for (i = 0; i < n; i++)
		if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') ||
		      (t[i] >= '0' && t[i] <= '9') || strchr(" _.:/=+-@", t[i]) != NULL))
			break;
	if (n == 0 || n > 128 || i < n)
		return sr_err_set(err, SR_EINVAL,
				  "principal tag key must be 1 to 128 of A-Z a-z 0-9 space _.:/=+-@");
	n = strlen(KEY_TAG_PREFIX) + n + 1;
	if ((*key = malloc(n)) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	snprintf(*key, n, "%s%s", KEY_TAG_PREFIX, t);
	return SR_OK;
}

enum sr_rc sr_targeted_people(char *const *subjects, size_t n, int64_t cutoff,
			      struct sr_person **people, struct sr_err *err)
{
	size_t i;

	*people = NULL;
	if (n == 0)
		return SR_OK;
	if ((*people = calloc(n, sizeof(**people))) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		(*people)[i] = (struct sr_person){.subject = subjects[i], .cutoff = cutoff};
	return SR_OK;
}

static enum sr_rc check_subject(const char *key, const struct sr_person *p, size_t idx,
				struct sr_err *err)
{
	const char *why = sr_subject_problem(
		strcmp(key, KEY_SOURCE_IDENTITY) == 0 ? NULL : key, p->subject);

	if (why != NULL)
		return sr_err_set(err, SR_EINVAL, "person %zu: subject %s", idx, why);
	if (p->cutoff <= 0 || p->cutoff > MAX_CUTOFF)
		return sr_err_set(err, SR_EINVAL,
				  "person %zu: cut-off %lld is not between 1970 and 9999", idx,
				  (long long)p->cutoff);
	return SR_OK;
}

/* ---- merge, cleanup, list ---- */

static int by_subject_then_later(const void *a, const void *b)
{
	const struct sr_person *x = a, *y = b;
	int c = strcasecmp(x->subject, y->subject);

	if (c)
		return c;
	return x->cutoff > y->cutoff ? -1 : x->cutoff < y->cutoff;
}

/* p into m if the document stays within budget: *placed says whether p is
 * there now with a cut-off at least as late as p's. */
static enum sr_rc place(struct model *m, const char *key, const struct sr_person *p,
			size_t budget, int *placed, struct sr_err *err)
{
	size_t i, n_statements, size;
	int64_t had = 0;
	json_t *doc;

	*placed = 1;
	for (i = 0; i < m->n; i++)
		if (strcmp(m->p[i].key, key) == 0 && same(m->p[i].subject, p->subject))
			break;
	if (i < m->n) {
		if (m->p[i].cutoff >= p->cutoff)
			return SR_OK; /* a cut-off at least as late is in place */
		had = m->p[i].cutoff;
		m->p[i].cutoff = p->cutoff;
	} else if (push(&m->p, &m->n, &m->cap, key, p->subject, p->cutoff, err) != SR_OK) {
		return SR_ENOMEM;
	}
	if ((doc = model_build(m, &n_statements)) == NULL)
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	size = doc_size(doc);
	json_decref(doc);
	if (size <= budget)
		return SR_OK;
	*placed = 0;
	/* model_build sorted m: find the person again and undo */
	for (i = 0; i < m->n; i++)
		if (strcmp(m->p[i].key, key) == 0 && same(m->p[i].subject, p->subject))
			break;
	if (had) {
		m->p[i].cutoff = had;
	} else {
		free(m->p[i].key);
		free(m->p[i].subject);
		m->p[i] = m->p[--m->n];
	}
	return SR_OK;
}

enum sr_rc sr_targeted_merge(const char *existing, const struct sr_person *people,
			     size_t n_people, const struct sr_targeted_opts *opts,
			     struct sr_targeted_result *out, struct sr_err *err)
{
	struct model m = {0};
	struct sr_person *sorted = NULL;
	json_t *before = NULL;
	char *key = NULL;
	size_t budget, i, k, n = 0, ucap = 0;
	int placed, progress;
	enum sr_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = check_opts(opts, &key, &budget, err)) != SR_OK)
		return rc;
	for (i = 0; i < n_people; i++)
		if ((rc = check_subject(key, &people[i], i, err)) != SR_OK)
			goto out;
	if ((rc = model_load(existing, &m, err)) != SR_OK)
		goto out;
	if ((before = read_before(existing)) == NULL ||
	    (n_people && (sorted = malloc(n_people * sizeof(*sorted))) == NULL)) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	if (n_people) {
		memcpy(sorted, people, n_people * sizeof(*sorted));
		qsort(sorted, n_people, sizeof(*sorted), by_subject_then_later);
	}
	for (i = 0; i < n_people; i++) /* the same person again: an earlier cut-off */
		if (i == 0 || !same(sorted[i].subject, sorted[n - 1].subject))
			sorted[n++] = sorted[i];
	/* Until no one more fits: a person placed (or moved, emptying a
	 * statement) can make room for one tried before, and going on until
	 * nothing changes is what makes merging the result again write nothing. */
	do {
		progress = 0;
		for (i = k = 0; i < n; i++) {
			if ((rc = place(&m, key, &sorted[i], budget, &placed, err)) != SR_OK)
				goto out;
			if (placed)
				progress = 1;
			else
				sorted[k++] = sorted[i];
		}
		n = k;
	} while (progress && n > 0);
	for (i = 0; i < n; i++)
		if ((rc = push(&out->unwritten, &out->n_unwritten, &ucap, key, sorted[i].subject,
			       sorted[i].cutoff, err)) != SR_OK)
			goto out;
	rc = finish(&m, before, budget, out, err);
out:
	if (rc != SR_OK)
		sr_targeted_result_clear(out);
	json_decref(before);
	model_free(&m);
	free(sorted);
	free(key);
	return rc;
}

enum sr_rc sr_targeted_cleanup(const char *existing, int64_t now, int64_t max_session,
			       const struct sr_targeted_opts *opts,
			       struct sr_targeted_result *out, struct sr_err *err)
{
	struct model m = {0};
	json_t *before = NULL;
	char *key = NULL;
	size_t budget, i = 0;
	enum sr_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = check_opts(opts, &key, &budget, err)) != SR_OK)
		return rc;
	if (max_session < 0) {
		rc = sr_err_set(err, SR_EINVAL, "maximum session length is negative");
		goto out;
	}
	if ((rc = model_load(existing, &m, err)) != SR_OK)
		goto out;
	if ((before = read_before(existing)) == NULL) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	while (i < m.n) {
		int64_t due = m.p[i].cutoff + max_session;
		if (due <= now) {
			free(m.p[i].key);
			free(m.p[i].subject);
			m.p[i] = m.p[--m.n];
			out->n_removed++;
			continue;
		}
		if (out->next_due == 0 || due < out->next_due)
			out->next_due = due;
		i++;
	}
	rc = finish(&m, before, budget, out, err);
out:
	if (rc != SR_OK)
		sr_targeted_result_clear(out);
	json_decref(before);
	model_free(&m);
	free(key);
	return rc;
}

enum sr_rc sr_targeted_list(const char *policy, struct sr_targeted_person **people,
			    size_t *n_people, struct sr_err *err)
{
	struct model m;

	*people = NULL;
	*n_people = 0;
	if (model_load(policy, &m, err) != SR_OK)
		return SR_EINVAL;
	if (m.n > 0)
		qsort(m.p, m.n, sizeof(*m.p), by_cutoff_key_subject);
	*people = m.p;
	*n_people = m.n;
	m.p = NULL;
	m.n = 0;
	model_free(&m);
	return SR_OK;
}
