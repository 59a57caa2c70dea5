/*
 * config.h - the service configuration: one JSON file, every field
 * overridable by an environment variable, secrets read from files.
 *
 * Environment overrides are named SR_ plus the field's path in upper case
 * with dots as underscores: "listen.port" is SR_LISTEN_PORT. The list of
 * trusted issuers is overridden as a whole by SR_AUTH_ISSUERS holding its JSON
 * array. With no file at all the embedded default applies: listen on
 * 127.0.0.1:8080, data under ./var, a development signing key generated once
 * and trusted as the only issuer.
 */
#ifndef SESSION_REVOKER_CONFIG_H
#define SESSION_REVOKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "session_revoker/core.h"

/* JWS algorithms an issuer may be allowed; bit flags. */
enum sr_alg {
	SR_ALG_HS256 = 1u << 0,
	SR_ALG_HS384 = 1u << 1,
	SR_ALG_HS512 = 1u << 2,
	SR_ALG_RS256 = 1u << 3,
	SR_ALG_RS384 = 1u << 4,
	SR_ALG_RS512 = 1u << 5,
	SR_ALG_PS256 = 1u << 6,
	SR_ALG_PS384 = 1u << 7,
	SR_ALG_PS512 = 1u << 8,
	SR_ALG_ES256 = 1u << 9,
	SR_ALG_ES384 = 1u << 10,
	SR_ALG_ES512 = 1u << 11,
	SR_ALG_EDDSA = 1u << 12,
};
#define SR_ALG_HMAC (SR_ALG_HS256 | SR_ALG_HS384 | SR_ALG_HS512)
#define SR_ALG_RSA (SR_ALG_RS256 | SR_ALG_RS384 | SR_ALG_RS512 | SR_ALG_PS256 | SR_ALG_PS384 | SR_ALG_PS512)
#define SR_ALG_EC (SR_ALG_ES256 | SR_ALG_ES384 | SR_ALG_ES512)

/* The flag for a JWS "alg" name, or 0 when unknown (including "none"). */
unsigned sr_alg_from_name(const char *name);
const char *sr_alg_name(unsigned alg);

enum sr_key_source {
	SR_KEY_PEM_FILE = 1, /* PEM public key (or private key: public part) */
	SR_KEY_JWKS_FILE,    /* a JWK Set document */
	SR_KEY_HMAC_FILE,    /* a shared secret, the file's bytes */
	SR_KEY_JWKS_URL,     /* a JWK Set fetched over HTTPS (auth.h: caching, refresh) */
};

struct sr_issuer {
	char *issuer;   /* exact "iss" */
	char *audience; /* must be in "aud" */
	unsigned algs;  /* allowed enum sr_alg flags */
	enum sr_key_source key_source;
	char *key_file; /* the *_file sources; NULL for SR_KEY_JWKS_URL */
	char *kid; /* PEM/HMAC: the kid a token must name (NULL: none asked) */
	char *jwks_url; /* SR_KEY_JWKS_URL: https:// only */
	int64_t jwks_min_refresh; /* SR_KEY_JWKS_URL: least seconds between two
				   * fetches caused by unknown kids */
};

/* An account the engine works in: through sts:AssumeRole into role_arn
 * (with external_id when set), or with the base credentials themselves when
 * role_arn is NULL. */
struct sr_account {
	char id[13];
	char *role_arn;
	char *external_id;
};

struct sr_strlist {
	char **v;
	size_t n;
};

/* revoke.role_mappings[]: the roles a group reaches, by name, where trust
 * policies do not say (SAML federations where the IdP maps groups to roles). */
struct sr_role_mapping {
	char *group;
	struct sr_strlist roles;    /* IAM-style globs on role names */
	struct sr_strlist accounts; /* n == 0: every account */
};

struct sr_config {
	char *listen_address;
	int64_t listen_port;
	int64_t max_connections;
	int64_t http_threads; /* event-loop threads */
	char *tls_cert_file; /* both set: HTTPS */
	char *tls_key_file;
	int64_t max_body_bytes;
	int64_t max_event_body_bytes; /* POST /v1/events/... (batches) */
	int64_t max_header_bytes;
	int64_t max_groups;
	int64_t max_group_length;
	char *store_path;     /* older name of store_url, for a file */
	char *store_url;      /* after loading: the store, a file path or postgres://... */
	char *store_password_file; /* NULL: libpq's own (PGPASSWORD, ~/.pgpass) */
	int64_t store_readers;
	int64_t store_reconnect_seconds;
	int64_t clock_skew;
	struct sr_issuer *issuers;
	size_t n_issuers;
	char *dev_key_file; /* NULL: no development issuer */
	char *dev_issuer;
	char *dev_audience;
	char *log_level;
	char *log_format; /* "text" (logfmt) or "json" */
	int64_t clock_offset; /* development: shift the clock (tests) */
	char *public_url; /* how clients reach us; used in printed examples */
	/* listen.trusted_proxies: peers whose Forwarded / X-Forwarded-For name
	 * the client (IP addresses or CIDRs, checked by sr_cidr_parse) */
	struct sr_strlist trusted_proxies;
	/* AWS and the engine */
	char *aws_partition;
	char *aws_region;
	int64_t aws_max_attempts;
	int64_t aws_max_retry_seconds;
	int64_t aws_timeout_seconds;
	int64_t aws_late_write_seconds; /* how long an unanswered write may still land */
	int64_t aws_concurrency;       /* calls in flight per account */
	int64_t aws_parallel_accounts; /* accounts worked on at once */
	char *aws_session_name;
	struct sr_account *accounts;
	size_t n_accounts;
	struct sr_strlist providers;    /* federated providers: auth.example.com/ (OIDC), saml-provider/NAME */
	struct sr_role_mapping *role_mappings;
	size_t n_role_mappings;
	struct sr_strlist group_claims; /* default: amr */
	char *policy_name;
	char *role_tags;   /* revoke.role_tags: whose session-revoker:groups tag is read: off, saml, all */
	int64_t max_session_seconds;
	/* revoke.hold_seconds: a group revocation's cut-off is its time plus
	 * this (old ID tokens minting sessions after the event are denied too;
	 * the whole group logs in again after it) */
	int64_t hold_seconds;
	/* targeted revocation (README, "Revoking one person") */
	char *targeted_tag;        /* NULL: people are named by aws:SourceIdentity, else
				    * by aws:PrincipalTag/<this> */
	char *targeted_scope;      /* "federated": roles that trust a configured provider;
				    * "all": every role of the account AWS lets us write */
	int64_t targeted_lifetime; /* the IdP's ID token lifetime (a source may set its own) */
	/* people a role's inline budget cannot hold: "managed" (into the
	 * account's customer managed policy, attached to the role) or "report"
	 * (named as not written) */
	char *targeted_overflow;
	char *targeted_managed_name;
	char *targeted_managed_path;
	/* the job workers */
	int64_t jobs_workers;
	int64_t jobs_lease_seconds;
	int64_t jobs_max_attempts;
	int64_t jobs_retry_base; /* seconds; doubles per attempt */
	int64_t jobs_retry_max;
	int64_t jobs_poll_ms;    /* how often an idle worker looks for due jobs */
	/* outbound HTTPS to the identity providers (JWKS, management APIs) */
	char *http_client_ca_file;     /* NULL: the system's CA store */
	int64_t http_client_timeout;   /* seconds, whole request */
	int64_t http_client_max_bytes; /* largest answer read */
	/* the "sources" section as given (NULL: none), read by the sources
	 * module (ingest.h: sr_sources_config_load) */
	json_t *sources;
	bool embedded_default; /* no file was given */
};

/* One problem found while loading, named by its path in the file. */
struct sr_config_problem {
	char path[96];
	char msg[160];
};

struct sr_config_problems {
	struct sr_config_problem items[32];
	size_t n;
};

/* Records a problem at path (the module reading a section of its own, such
 * as "sources", reports through this too). */
void sr_config_problem(struct sr_config_problems *pr, const char *path, const char *fmt, ...)
	SR_PRINTF(3, 4);

/* Records a problem at path unless file (may be NULL) can be read. */
void sr_config_check_readable(struct sr_config_problems *pr, const char *path,
			      const char *file);

/* What a command needs from the configuration beyond a valid file: each
 * command is validated for what it uses, nothing more. */
enum sr_config_need {
	SR_CONFIG_NEED_ISSUER = 1u << 0, /* verifies tokens: a trusted issuer or
					    the development key (serve) */
	SR_CONFIG_NEED_SOURCES = 1u << 1, /* takes identity providers' events: the
					     "sources" section (serve, rules) */
};

/* Loads path (NULL: the embedded default), applies environment overrides
 * from envp-style getenv(), validates for needs (enum sr_config_need flags).
 * OUT *cfg: new, free with sr_config_free(). problems (may be NULL) receives
 * every problem found; err the first. */
enum sr_rc sr_config_load_for(const char *path, unsigned needs, struct sr_config **cfg,
			      struct sr_config_problems *problems, struct sr_err *err);

/* sr_config_load_for() with what `serve` needs (SR_CONFIG_NEED_ISSUER). */
enum sr_rc sr_config_load(const char *path, struct sr_config **cfg,
			  struct sr_config_problems *problems, struct sr_err *err);

void sr_config_free(struct sr_config *cfg);

/* Prints the effective configuration as JSON (secrets are only ever file
 * names, so nothing secret is printed). Returns a new string, free(). */
char *sr_config_dump(const struct sr_config *cfg);

#endif
