/*
 * engine_int.h - inside the revoke engine: what engine.c (credentials, the
 * per-role work, late writes), select.c (which roles a run works on) and
 * report.c (the report and its log lines) share. Not for other modules.
 */
#ifndef SESSION_REVOKER_ENGINE_INT_H
#define SESSION_REVOKER_ENGINE_INT_H

#include "session_revoker/iam.h"
#include "session_revoker/revoke.h"

#include <pthread.h>
#include <stdatomic.h>

struct cached {
	char account[13];
	struct sr_aws_creds creds;
};

struct sr_engine {
	const struct sr_config *cfg;
	struct sr_aws_endpoints ep;
	struct sr_aws_endpoint_bufs bufs;
	struct sr_match_rules rules;
	pthread_mutex_t mu;
	struct sr_aws_creds base;
	char base_source[32];
	struct cached *cache;
	size_t n_cache;
};

/* One account's work. */
struct account_run {
	struct sr_engine *e;
	const struct sr_engine_request *req;
	const struct sr_account *acct;
	struct sr_account_result *result;
	struct sr_aws_creds creds;
	struct sr_role_result *roles; /* the matching roles, worked on in place */
	struct sr_iam_role *iam;      /* parallel to roles */
	size_t n_roles;
	atomic_size_t next;
	atomic_ulong calls;
	char key_id[128]; /* the access key of the listing connection's credentials */
	/* Revoke with targeted.overflow "managed": per role (parallel to
	 * roles), the people its inline budget could not hold, for overflow.c */
	struct sr_targeted_person **spill;
	size_t *n_spill;
};

/* The session-revoker:groups tags of an account's roles, read in parallel
 * before the roles are selected: per role of the listing, its value (or
 * NULL) and why it could not be read (or NULL). */
struct role_tags {
	struct account_run *run;
	const struct sr_iam_roles *all;
	char **value;
	char **error;
	size_t *to_read; /* indexes into all->items of the roles to read */
	size_t n_to_read;
	atomic_size_t next;
};

/* engine.c */

/* Whether an error says AWS refused the credentials (expired, or revoked
 * early). */
int sr_revoke_creds_refused(const char *msg);

/* Fresh credentials for the account on connection c, after AWS refused the
 * ones it had (key_id, 128 bytes, is updated): a long fan-out outlives them. */
enum sr_rc sr_revoke_renew_creds(struct account_run *run, struct sr_aws_conn *c, char *key_id);

/* Runs fn(arg) on min(threads, work, 256) threads and waits for them; each
 * pulls work items off arg itself. When no thread can be started, fn runs
 * here once (when there is work). */
void sr_revoke_parallel(void *(*fn)(void *), void *arg, int64_t threads, size_t work);

/* The condition key's tag (NULL: aws:SourceIdentity), the latest cut-off
 * asked for among the request's people, and the latest cut-off among them
 * still in policy (0: none is). */
const char *sr_revoke_people_tag(const struct account_run *run);
int64_t sr_revoke_people_cutoff(const struct sr_engine_request *req);
int64_t sr_revoke_people_left(const struct account_run *run, const char *policy);

/* Names res's people not written in r->error (what fits) and, one line each,
 * in the log (engine.person_not_written); why: the reason. */
void sr_revoke_name_unwritten(struct sr_role_result *r, const struct sr_targeted_result *res,
			      const char *why);

/* overflow.c */

/* Revoke: the people no role's inline budget could hold go into the
 * account's managed policy, attached to those roles (targeted.overflow
 * "managed"); one more entry in run->roles reports the policy. */
void sr_revoke_overflow(struct account_run *run, struct sr_aws_conn *c);

/* Cleanup: the managed policy loses each person whose sessions have all
 * expired (all: the account's roles, for the longest maximum session), and
 * goes when no one is left. */
void sr_revoke_managed_cleanup(struct account_run *run, struct sr_aws_conn *c,
			       const struct sr_iam_roles *all);

/* select.c */

/* Reads the tags of every role that may be selected by them,
 * aws.concurrency_per_account at a time. On allocation failure t stays empty
 * and sr_revoke_select_role() says so. sr_revoke_tags_clear() afterwards. */
void sr_revoke_read_tags(struct account_run *run, const struct sr_iam_roles *all,
			 struct role_tags *t);
void sr_revoke_tags_clear(struct role_tags *t);

/* Whether role i of the listing is one to work on, and why; fills r (zeroed
 * by the caller) when it is. */
int sr_revoke_select_role(struct account_run *run, const struct role_tags *tags, size_t i,
			  struct sr_role_result *r);

/* Cleanup: adds the roles that do not match today but carry (or may carry)
 * the deny policy (req->visit, req->discover). */
enum sr_rc sr_revoke_add_visited(struct account_run *run, struct sr_aws_conn *c,
				 struct sr_iam_roles *all, struct sr_err *err);

/* report.c */

/* One engine.role log line for a role whose policy was written (or that AWS
 * lets no one write). */
void sr_revoke_log_role(const struct sr_role_result *r);

#endif
