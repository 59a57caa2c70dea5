/* config_int.h - inside the config module only. */
#ifndef SESSION_REVOKER_CONFIG_INT_H
#define SESSION_REVOKER_CONFIG_INT_H

#include <jansson.h>

#include "session_revoker/config.h"

enum sr_field_type { FIELD_STR, FIELD_INT, FIELD_STRLIST };

struct sr_field {
	const char *path;
	const char *env;
	enum sr_field_type type;
	size_t offset;
	const char *def_str;
	int64_t def_int, min, max; /* FIELD_STRLIST: def_str is comma-separated */
};


/* The aws.accounts array (or SR_AWS_ACCOUNTS) into cfg (accounts.c). */
void sr_config_load_accounts(struct sr_config *cfg, json_t *root,
			     struct sr_config_problems *pr);
void sr_config_free_accounts(struct sr_config *cfg);
json_t *sr_config_dump_accounts(const struct sr_config *cfg);

/* revoke.role_mappings (or SR_REVOKE_ROLE_MAPPINGS) into cfg, after the
 * accounts; and the check of revoke.providers' entries (mappings.c). */
void sr_config_load_role_mappings(struct sr_config *cfg, json_t *root,
				  struct sr_config_problems *pr);
void sr_config_check_providers(const struct sr_config *cfg, struct sr_config_problems *pr);
void sr_config_free_role_mappings(struct sr_config *cfg);
json_t *sr_config_dump_role_mappings(const struct sr_config *cfg);

/* The value at a dotted path, or NULL. Borrowed reference. */
json_t *sr_config_lookup(json_t *root, const char *path);

extern const struct sr_field sr_config_fields[];
extern const size_t sr_config_n_fields;

#endif
