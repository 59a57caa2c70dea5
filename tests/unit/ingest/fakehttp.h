/*
 * fakehttp.h - a scripted HTTP server for the directory clients' unit tests
 * (libmicrohttpd on 127.0.0.1, an OS-chosen port). It plays Auth0's token
 * endpoint (POST /oauth/token hands out "tok-1", "tok-2", ...) and checks
 * every other request's Bearer token against the newest one (401
 * otherwise); canned answers, matched by the start of the request target
 * ("/path?query" as sent, never unescaped), answer the rest. Every request is
 * recorded. The integration tests use tests/fakes/fake_idp.py over HTTPS.
 */
#ifndef SR_TEST_FAKEHTTP_H
#define SR_TEST_FAKEHTTP_H

#include <stddef.h>

struct fh_canned {
	const char *target;   /* prefix of "/path?query" */
	long status;
	const char *body;
	const char *headers[4]; /* "Name: value", NULL-terminated */
	int delay_ms;
	int once;             /* used up after one answer */
};

struct fh_request {
	char method[8];
	char target[1024];
	char auth[512];
	char body[2048];
};

/* Starts the server (fails the test if it cannot). */
void fh_start(void);
void fh_stop(void);

/* "http://127.0.0.1:<port>" */
const char *fh_base(void);

/* Forgets requests and canned answers; tokens start again at tok-1 with
 * expires_in 86400; with_auth 1. */
void fh_reset(void);

void fh_add(const struct fh_canned *c);

/* Tokens handed out from now on last expires_in seconds. */
void fh_expires_in(int expires_in);

/* Auth0 revokes the current token: API calls with it get 401. */
void fh_revoke(void);

/* Whether API calls must carry the newest token (1) or any (0). */
void fh_check_auth(int on);

size_t fh_count(const char *target_prefix);
/* The i-th request (copy); 0 when there is none. */
int fh_request(size_t i, struct fh_request *out);
size_t fh_n_requests(void);

#endif
