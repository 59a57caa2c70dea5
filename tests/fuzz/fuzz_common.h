/*
 * fuzz_common.h - small helpers shared by the libFuzzer targets (test side
 * only): a failed invariant, the checks every error message must pass, a
 * base64url encoder of our own (OpenSSL's EVP_EncodeBlock plus translation,
 * independent of the sr_b64url_decode() under test) and the invariants of a
 * parsed revocation document.
 *
 * Every target is one translation unit; everything here is static inline.
 */
#ifndef SR_FUZZ_COMMON_H
#define SR_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "session_revoker/core.h"
#include "session_revoker/sources.h"

/* 2026-03-12T09:08:31Z: every target runs at this fixed instant. */
#define FUZZ_NOW INT64_C(1773306511)

/* Reports which invariant broke, then aborts so libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

/* Whether s is well-formed UTF-8 (what json_string() will accept). */
static inline int fuzz_utf8_ok(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

/* A set of enum sr_rc codes for fuzz_check_err(). */
#define FUZZ_RC(code) (1u << (code))

/*
 * The contract of struct sr_err on failure (core.h, err.c): the code is in
 * the set allowed, and the message is set, one line, free of control
 * characters and valid UTF-8 -- the HTTP layer puts it into a JSON "detail",
 * where anything else made json_pack fail and a 400 go out as a 500.
 */
static inline void fuzz_check_err(const struct sr_err *err, unsigned allowed)
{
	const char *p;

	FUZZ_CHECK(err->code != SR_OK && (allowed & FUZZ_RC(err->code)) != 0);
	FUZZ_CHECK(err->msg[0] != '\0');
	FUZZ_CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL);
	for (p = err->msg; *p != '\0'; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	FUZZ_CHECK(fuzz_utf8_ok(err->msg));
	/* Nor U+0085, U+2028, a bidi override: messages quote caller input. */
	FUZZ_CHECK(!sr_utf8_has_control(err->msg, NULL));
}

/* base64url without padding of len bytes; new NUL-terminated string or NULL. */
static inline char *fuzz_b64url_encode(const unsigned char *in, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1);
	int n;
	size_t i;

	if (out == NULL)
		return NULL;
	n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (i = 0; i < (size_t)n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return out;
}

static inline int fuzz_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/*
 * What every successfully parsed document promises (sources.h): up to
 * max_groups distinct, non-empty, printable groups of at most
 * max_group_length bytes, and up to SR_MAX_SUBJECTS distinct subjects each a
 * valid source identity (or principal tag value), at least one of the two; a
 * cut-off between the epoch and now + skew; 12-digit accounts; a bounded
 * reason; and that it can be turned back into JSON.
 */
static inline void fuzz_check_document(const struct sr_document *doc,
				const struct sr_document_limits *lim, int64_t now)
{
	json_t *j;
	char *text;
	size_t i, k;

	FUZZ_CHECK(doc != NULL);
	FUZZ_CHECK(doc->n_groups + doc->n_subjects >= 1 && doc->n_groups <= lim->max_groups);
	FUZZ_CHECK(doc->n_subjects <= SR_MAX_SUBJECTS);
	for (i = 0; i < doc->n_subjects; i++) {
		FUZZ_CHECK(sr_subject_problem(lim->principal_tag, doc->subjects[i]) == NULL);
		for (k = 0; k < i; k++)
			FUZZ_CHECK(strcmp(doc->subjects[i], doc->subjects[k]) != 0);
	}
	for (i = 0; i < doc->n_groups; i++) {
		size_t len = strlen(doc->groups[i]);
		FUZZ_CHECK(len >= 1 && len <= lim->max_group_length);
		FUZZ_CHECK(fuzz_printable(doc->groups[i]));
		/* No Unicode control or format character (Cc, Cf, Zl, Zp). */
		FUZZ_CHECK(!sr_utf8_has_control(doc->groups[i], NULL));
		for (k = 0; k < i; k++)
			FUZZ_CHECK(strcmp(doc->groups[i], doc->groups[k]) != 0);
	}
	FUZZ_CHECK(doc->cutoff <= now + lim->skew);
	FUZZ_CHECK(doc->cutoff >= 0);
	FUZZ_CHECK(doc->action == SR_ACTION_REVOKE || doc->action == SR_ACTION_CLEANUP);
	FUZZ_CHECK((doc->accounts == NULL) == (doc->n_accounts == 0));
	FUZZ_CHECK(doc->n_accounts <= SR_MAX_ACCOUNTS);
	for (i = 0; i < doc->n_accounts; i++)
		FUZZ_CHECK(strlen(doc->accounts[i]) == 12 &&
			   strspn(doc->accounts[i], "0123456789") == 12);
	FUZZ_CHECK(doc->reason == NULL || strlen(doc->reason) <= SR_MAX_REASON);
	/* reason is kept, but without control or format characters. */
	FUZZ_CHECK(doc->reason == NULL || !sr_utf8_has_control(doc->reason, NULL));

	j = sr_document_to_json(doc);
	FUZZ_CHECK(j != NULL);
	FUZZ_CHECK(json_array_size(json_object_get(j, "groups")) == doc->n_groups);
	FUZZ_CHECK(json_array_size(json_object_get(j, "subjects")) == doc->n_subjects);
	text = json_dumps(j, JSON_COMPACT);
	FUZZ_CHECK(text != NULL);
	free(text);
	json_decref(j);
}

#endif
