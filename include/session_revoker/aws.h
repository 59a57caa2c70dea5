/*
 * aws.h - IAM and STS over libcurl, signed by libcurl itself (SigV4).
 *
 * DESIGN: every call is a POST of an application/x-www-form-urlencoded body
 * ("Action=...&Version=..."), each value percent-encoded as RFC 3986 asks;
 * libcurl signs it (CURLOPT_AWS_SIGV4, keys via CURLOPT_USERPWD, the session
 * token as an X-Amz-Security-Token header that libcurl then signs too).
 * Responses are parsed by libxml2 with network access and entity expansion
 * off and DTDs refused. AWS error codes are surfaced by name. Throttling,
 * 5xx and connection errors are retried with exponential backoff and full
 * jitter, bounded in attempts and in time.
 *
 * A struct sr_aws_conn is one keep-alive connection's worth of state (a curl
 * handle and credentials) for one account; it is used by one thread at a time.
 */
#ifndef SESSION_REVOKER_AWS_H
#define SESSION_REVOKER_AWS_H

#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "session_revoker/core.h"

enum sr_aws_service { SR_AWS_IAM, SR_AWS_STS };

/* Every AWS API action the service can call, and nothing else: sr_aws_call()
 * takes one of these, so a call the table does not hold does not compile. The
 * table (src/aws/actions.c) says per action which IAM permission it needs and
 * who must hold it; deploy/aws/'s CloudFormation template grants exactly the
 * SR_AWS_GRANT_TARGET ones (tests/integration/test_deploy_aws.py holds them to it). */
enum sr_aws_action {
	SR_AWS_LIST_ROLES,
	SR_AWS_LIST_ROLE_TAGS,
	SR_AWS_LIST_ROLE_POLICIES,
	SR_AWS_GET_ROLE_POLICY,
	SR_AWS_PUT_ROLE_POLICY,
	SR_AWS_DELETE_ROLE_POLICY,
	SR_AWS_ASSUME_ROLE,
	SR_AWS_ASSUME_ROLE_WITH_WEB_IDENTITY,
	SR_AWS_GET_CALLER_IDENTITY,
	/* the managed-policy fallback of targeted revocation (revoke.h, managed.c) */
	SR_AWS_CREATE_POLICY,
	SR_AWS_GET_POLICY,
	SR_AWS_GET_POLICY_VERSION,
	SR_AWS_CREATE_POLICY_VERSION,
	SR_AWS_LIST_POLICY_VERSIONS,
	SR_AWS_DELETE_POLICY_VERSION,
	SR_AWS_DELETE_POLICY,
	SR_AWS_ATTACH_ROLE_POLICY,
	SR_AWS_DETACH_ROLE_POLICY,
	SR_AWS_LIST_ATTACHED_ROLE_POLICIES,
	SR_AWS_LIST_ENTITIES_FOR_POLICY,
	SR_AWS_N_ACTIONS
};

/* Who must be allowed an action's permission. */
enum sr_aws_grant {
	SR_AWS_GRANT_TARGET,  /* the role the service assumes in each account (or the
			       * base credentials, for a base_credentials account) */
	SR_AWS_GRANT_SERVICE, /* the service's own principal in the central account */
	SR_AWS_GRANT_NONE     /* nobody: AWS asks no permission for it */
};

struct sr_aws_action_info {
	enum sr_aws_service svc;
	const char *name;       /* the Query API's Action=, e.g. "ListRoles" */
	const char *permission; /* the IAM policy action, e.g. "iam:ListRoles" */
	enum sr_aws_grant grant;
};

/* The table's row for a (borrowed, static); NULL for a value out of range. */
const struct sr_aws_action_info *sr_aws_action_info(enum sr_aws_action a);

/* Credentials. secret and token are cleansed by sr_aws_creds_clear(). */
struct sr_aws_creds {
	char access_key_id[128];
	char *secret;     /* owned */
	char *token;      /* owned, NULL for long-term keys */
	int64_t expires;  /* Unix seconds, 0: does not expire */
};

void sr_aws_creds_clear(struct sr_aws_creds *c);
enum sr_rc sr_aws_creds_copy(struct sr_aws_creds *dst, const struct sr_aws_creds *src,
			     struct sr_err *err);

/* Where and how to reach AWS; strings borrowed, outlive the connections. */
struct sr_aws_endpoints {
	const char *iam_url;      /* e.g. https://iam.amazonaws.com/ */
	const char *sts_url;      /* e.g. https://sts.us-east-1.amazonaws.com/ */
	const char *iam_region;   /* signing region for IAM: us-east-1, us-gov-west-1, cn-north-1 */
	const char *sts_region;
	int max_attempts;         /* including the first */
	int64_t max_retry_ms;     /* give up retrying once this much time has passed */
	int64_t base_backoff_ms;  /* first backoff cap; doubles per attempt */
	int64_t max_backoff_ms;
	long timeout_ms;          /* per attempt */
};

/* Fills e from the partition ("aws", "aws-us-gov", "aws-cn") and the STS
 * region, then applies the SDK environment overrides AWS_ENDPOINT_URL,
 * AWS_ENDPOINT_URL_IAM, AWS_ENDPOINT_URL_STS. The strings live in bufs. */
struct sr_aws_endpoint_bufs {
	char iam_url[512], sts_url[512], iam_region[32], sts_region[32];
};
enum sr_rc sr_aws_endpoints_init(struct sr_aws_endpoints *e, struct sr_aws_endpoint_bufs *bufs,
				 const char *partition, const char *region,
				 struct sr_err *err);

struct sr_aws_conn;

/* OUT *conn: new, sr_aws_conn_free(). creds are copied. */
enum sr_rc sr_aws_conn_new(const struct sr_aws_endpoints *e, const struct sr_aws_creds *creds,
			   struct sr_aws_conn **conn, struct sr_err *err);
void sr_aws_conn_free(struct sr_aws_conn *conn);

/* Replaces the connection's credentials (copied). */
enum sr_rc sr_aws_conn_set_creds(struct sr_aws_conn *conn, const struct sr_aws_creds *creds,
				 struct sr_err *err);

/* A parsed answer. */
struct sr_aws_response {
	xmlDocPtr doc;         /* owned; NULL when there was no XML */
	long status;           /* HTTP status */
	char request_id[80];
	char code[80];         /* AWS error code, "" on success */
	char message[256];     /* AWS error message */
	int attempts;          /* how many tries it took */
};

void sr_aws_response_clear(struct sr_aws_response *r);

/* Calls action (its service from the table) with params (name, value pairs,
 * NULL-terminated; the Version is added). On an AWS error the response is
 * filled, err names the code, and the rc is: SR_ENOTFOUND (NoSuchEntity),
 * SR_EFORBIDDEN (AccessDenied and other permanent refusals, bad credentials), SR_ECONFLICT
 * (LimitExceeded, MalformedPolicyDocument and other request errors),
 * SR_EUNAVAIL (still throttled or failing after every retry), SR_EIO
 * (no connection). unsigned_call: send without a signature
 * (AssumeRoleWithWebIdentity). */
enum sr_rc sr_aws_call(struct sr_aws_conn *conn, enum sr_aws_action action,
		       const char *const *params, struct sr_aws_response *resp,
		       struct sr_err *err);
enum sr_rc sr_aws_call_unsigned(struct sr_aws_conn *conn, enum sr_aws_action action,
				const char *const *params, struct sr_aws_response *resp,
				struct sr_err *err);

/* How many requests this connection has sent (retries included). */
unsigned long sr_aws_conn_requests(const struct sr_aws_conn *conn);

/* How many of those requests went out and got no answer that says whether
 * they were carried out (a timeout or a broken connection after sending, an
 * HTTP 500 or 504). AWS may still carry such a request out later: a write
 * among them is "unsettled" until aws.late_write_seconds have passed. */
unsigned long sr_aws_conn_unanswered(const struct sr_aws_conn *conn);

/* ---- XML helpers (libxml2, namespaces ignored) ---- */

/* Parses untrusted XML: no network, no entity expansion, no DTD. */
enum sr_rc sr_xml_parse(const char *buf, size_t len, xmlDocPtr *doc, struct sr_err *err);

/* The first descendant-or-self element at the '/'-separated path of local
 * names below node, e.g. "ListRolesResult/Roles". NULL if absent. */
xmlNodePtr sr_xml_path(xmlNodePtr node, const char *path);

/* The text of the child element at path, copied into out (cap bytes).
 * Returns out, or NULL (and out = "") when absent or too long. */
const char *sr_xml_text(xmlNodePtr node, const char *path, char *out, size_t cap);

/* The same as a new string (free()), NULL when absent. */
char *sr_xml_strdup(xmlNodePtr node, const char *path);

/* Next element sibling / first element child, skipping text nodes. */
xmlNodePtr sr_xml_first(xmlNodePtr node);
xmlNodePtr sr_xml_next(xmlNodePtr node);

/* An error answer's code and message (code_cap / message_cap bytes, a
 * message too long is cut), from <ErrorResponse><Error>, the wrapped
 * <ErrorResponse><Errors><Error> (also under a <Response> root) or a bare
 * <Error> root. Returns 1 when a Code was found, else 0 (both ""). */
int sr_aws_error_read(xmlNodePtr root, char *code, size_t code_cap, char *message,
		      size_t message_cap);

/* Percent-decodes an RFC 3986 URL-encoded string (policy documents arrive
 * like that inside IAM's XML). New string, free(). */
char *sr_url_decode(const char *in);

#endif

/* ---- credentials, found the way AWS SDKs find them ---- */

/* In order: the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN); a web identity token file (AWS_WEB_IDENTITY_TOKEN_FILE +
 * AWS_ROLE_ARN, exchanged through STS AssumeRoleWithWebIdentity); the
 * container credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
 * _FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)); IMDSv2
 * (AWS_EC2_METADATA_SERVICE_ENDPOINT, off with AWS_EC2_METADATA_DISABLED).
 * OUT creds; source (32 bytes) names where they came from. */
enum sr_rc sr_aws_creds_resolve(const struct sr_aws_endpoints *e, struct sr_aws_creds *creds,
				char *source, struct sr_err *err);
