/* config_int.h - inside the config module only. */
#ifndef SESSION_REVOKER_CONFIG_INT_H
#define SESSION_REVOKER_CONFIG_INT_H

#include "session_revoker/config.h"

enum sr_field_type { FIELD_STR, FIELD_INT };

struct sr_field {
	const char *path;
	const char *env;
	enum sr_field_type type;
	size_t offset;
	const char *def_str;
	int64_t def_int, min, max;
};

extern const struct sr_field sr_config_fields[];
extern const size_t sr_config_n_fields;

#endif
