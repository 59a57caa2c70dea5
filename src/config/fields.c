/*
 * fields.c - the table of scalar configuration fields.
 *
 * DESIGN: one row per field names its path in the JSON file, its environment
 * variable, its type, where it lives in struct sr_config and its default.
 * Loading, environment overrides, unknown-field detection and the dump all
 * walk this table, so a new field is one new row.
 */
#include "config_int.h"

#include <stddef.h>

#define STR(path, env, member, def) \
	{path, env, FIELD_STR, offsetof(struct sr_config, member), def, 0, 0, 0}
#define INT(path, env, member, def, lo, hi) \
	{path, env, FIELD_INT, offsetof(struct sr_config, member), NULL, def, lo, hi}

#define LIST(path, env, member, def) \
	{path, env, FIELD_STRLIST, offsetof(struct sr_config, member), def, 0, 0, 0}

const struct sr_field sr_config_fields[] = {
	STR("listen.address", "SR_LISTEN_ADDRESS", listen_address, "127.0.0.1"),
	INT("listen.port", "SR_LISTEN_PORT", listen_port, 8080, 0, 65535),
	INT("listen.max_connections", "SR_LISTEN_MAX_CONNECTIONS", max_connections, 4096, 1, 65536),
	INT("listen.threads", "SR_LISTEN_THREADS", http_threads, 4, 1, 64),
	STR("listen.tls.cert_file", "SR_LISTEN_TLS_CERT_FILE", tls_cert_file, NULL),
	STR("listen.tls.key_file", "SR_LISTEN_TLS_KEY_FILE", tls_key_file, NULL),
	STR("listen.public_url", "SR_LISTEN_PUBLIC_URL", public_url, NULL),
	LIST("listen.trusted_proxies", "SR_LISTEN_TRUSTED_PROXIES", trusted_proxies, NULL),
	INT("limits.max_body_bytes", "SR_LIMITS_MAX_BODY_BYTES", max_body_bytes, 65536, 1024, 16 << 20),
	INT("limits.max_event_body_bytes", "SR_LIMITS_MAX_EVENT_BODY_BYTES", max_event_body_bytes,
	    4 << 20, 1024, 64 << 20),
	INT("limits.max_header_bytes", "SR_LIMITS_MAX_HEADER_BYTES", max_header_bytes, 32768, 4096, 1 << 20),
	INT("limits.max_groups", "SR_LIMITS_MAX_GROUPS", max_groups, 100, 1, 10000),
	INT("limits.max_group_length", "SR_LIMITS_MAX_GROUP_LENGTH", max_group_length, 256, 1, 4096),
	STR("store.path", "SR_STORE_PATH", store_path, "var/session-revoker.db"),
	STR("store.url", "SR_STORE_URL", store_url, NULL),
	STR("store.password_file", "SR_STORE_PASSWORD_FILE", store_password_file, NULL),
	INT("store.readers", "SR_STORE_READERS", store_readers, 4, 1, 64),
	INT("store.reconnect_seconds", "SR_STORE_RECONNECT_SECONDS", store_reconnect_seconds, 30, 1, 600),
	INT("auth.clock_skew_seconds", "SR_AUTH_CLOCK_SKEW_SECONDS", clock_skew, 60, 0, 3600),
	STR("development.signing_key_file", "SR_DEVELOPMENT_SIGNING_KEY_FILE", dev_key_file, NULL),
	STR("development.issuer", "SR_DEVELOPMENT_ISSUER", dev_issuer, "session-revoker-dev"),
	STR("development.audience", "SR_DEVELOPMENT_AUDIENCE", dev_audience, "session-revoker"),
	STR("log.level", "SR_LOG_LEVEL", log_level, "info"),
	STR("log.format", "SR_LOG_FORMAT", log_format, "text"),
	INT("development.clock_offset_seconds", "SR_DEVELOPMENT_CLOCK_OFFSET_SECONDS", clock_offset,
	    0, -10LL * 365 * 86400, 10LL * 365 * 86400),
	STR("aws.partition", "SR_AWS_PARTITION", aws_partition, "aws"),
	STR("aws.region", "SR_AWS_REGION", aws_region, "us-east-1"),
	INT("aws.max_attempts", "SR_AWS_MAX_ATTEMPTS", aws_max_attempts, 6, 1, 20),
	INT("aws.max_retry_seconds", "SR_AWS_MAX_RETRY_SECONDS", aws_max_retry_seconds, 60, 0, 3600),
	INT("aws.timeout_seconds", "SR_AWS_TIMEOUT_SECONDS", aws_timeout_seconds, 10, 1, 300),
	INT("aws.late_write_seconds", "SR_AWS_LATE_WRITE_SECONDS", aws_late_write_seconds, 60, 0, 3600),
	INT("aws.concurrency_per_account", "SR_AWS_CONCURRENCY_PER_ACCOUNT", aws_concurrency, 8, 1, 64),
	INT("aws.parallel_accounts", "SR_AWS_PARALLEL_ACCOUNTS", aws_parallel_accounts, 20, 1, 256),
	STR("aws.session_name", "SR_AWS_SESSION_NAME", aws_session_name, "session-revoker"),
	LIST("revoke.providers", "SR_REVOKE_PROVIDERS", providers, NULL),
	LIST("revoke.group_claims", "SR_REVOKE_GROUP_CLAIMS", group_claims, "amr"),
	STR("revoke.role_tags", "SR_REVOKE_ROLE_TAGS", role_tags, "saml"),
	STR("revoke.policy_name", "SR_REVOKE_POLICY_NAME", policy_name, "session-revoker-deny"),
	INT("jobs.workers", "SR_JOBS_WORKERS", jobs_workers, 2, 0, 64),
	INT("jobs.lease_seconds", "SR_JOBS_LEASE_SECONDS", jobs_lease_seconds, 120, 5, 3600),
	INT("jobs.max_attempts", "SR_JOBS_MAX_ATTEMPTS", jobs_max_attempts, 10, 1, 1000),
	INT("jobs.retry_base_seconds", "SR_JOBS_RETRY_BASE_SECONDS", jobs_retry_base, 5, 0, 3600),
	INT("jobs.retry_max_seconds", "SR_JOBS_RETRY_MAX_SECONDS", jobs_retry_max, 900, 0, 86400),
	INT("jobs.poll_ms", "SR_JOBS_POLL_MS", jobs_poll_ms, 1000, 10, 60000),
	INT("revoke.hold_seconds", "SR_REVOKE_HOLD_SECONDS", hold_seconds, 0, 0, 7 * 86400),
	STR("targeted.principal_tag", "SR_TARGETED_PRINCIPAL_TAG", targeted_tag, NULL),
	STR("targeted.scope", "SR_TARGETED_SCOPE", targeted_scope, "federated"),
	STR("targeted.overflow", "SR_TARGETED_OVERFLOW", targeted_overflow, "managed"),
	STR("targeted.managed_policy_name", "SR_TARGETED_MANAGED_POLICY_NAME", targeted_managed_name,
	    "session-revoker-people"),
	STR("targeted.managed_policy_path", "SR_TARGETED_MANAGED_POLICY_PATH", targeted_managed_path,
	    "/session-revoker/"),
	INT("targeted.token_lifetime_seconds", "SR_TARGETED_TOKEN_LIFETIME_SECONDS", targeted_lifetime,
	    36000, 0, 7 * 86400),
	INT("revoke.max_session_seconds", "SR_REVOKE_MAX_SESSION_SECONDS", max_session_seconds, 43200, 900, 7 * 86400),
	STR("http_client.ca_file", "SR_HTTP_CLIENT_CA_FILE", http_client_ca_file, NULL),
	INT("http_client.timeout_seconds", "SR_HTTP_CLIENT_TIMEOUT_SECONDS", http_client_timeout, 5, 1, 120),
	INT("http_client.max_response_bytes", "SR_HTTP_CLIENT_MAX_RESPONSE_BYTES", http_client_max_bytes,
	    1 << 20, 1024, 64 << 20),
};
const size_t sr_config_n_fields = sizeof(sr_config_fields) / sizeof(sr_config_fields[0]);
