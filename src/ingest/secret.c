/*
 * secret.c - a source's static authorization value (Auth0's log stream
 * "Authorization Token" is sent verbatim as the Authorization header).
 *
 * DESIGN: only the SHA-256 of the value is kept in memory once it is read;
 * a delivery's header is hashed and the two digests compared with
 * CRYPTO_memcmp, so neither the comparison's time nor an error message can
 * tell anything about the value. One trailing newline of the file (what an
 * editor or `echo` leaves) is not part of the value.
 */
#include "ingest_int.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define MAX_SECRET 4096

static void digest(const void *p, size_t n, unsigned char md[32])
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) != 1)
		memset(md, 0xff, 32); /* matches no real value's digest by chance */
}

int sr_ingest_slot(const struct sr_ingest *ing, const struct sr_source_config *src)
{
	return src == &ing->sc->auth0 ? 0 : src == &ing->sc->group_change ? 1
	       : src == &ing->sc->ssf ? 2 : 3;
}

enum sr_rc sr_ingest_load_secrets(struct sr_ingest *ing, struct sr_err *err)
{
	const struct sr_source_config *srcs[SR_INGEST_SOURCES] = {
		&ing->sc->auth0, &ing->sc->group_change, &ing->sc->ssf, &ing->sc->okta,
	};
	int i;

	for (i = 0; i < SR_INGEST_SOURCES; i++) {
		char *text = NULL;
		size_t len = 0;
		struct sr_err ferr = {0};
		if (!srcs[i]->enabled || srcs[i]->secret_file == NULL)
			continue;
		if (sr_file_read(srcs[i]->secret_file, MAX_SECRET, &text, &len, &ferr) != SR_OK)
			return sr_err_set(err, SR_ECONFIG, "sources.%s.authorization_file: %s",
					  srcs[i]->name, ferr.msg);
		if (len > 0 && text[len - 1] == '\n')
			len--;
		if (len > 0 && text[len - 1] == '\r')
			len--;
		if (len == 0) {
			sr_secret_free(text, len);
			return sr_err_set(err, SR_ECONFIG, "sources.%s.authorization_file: %s is empty",
					  srcs[i]->name, srcs[i]->secret_file);
		}
		digest(text, len, ing->secret_md[i]);
		ing->has_secret[i] = true;
		sr_secret_free(text, len);
	}
	return SR_OK;
}

bool sr_ingest_uses_secret(const struct sr_ingest *ing, const struct sr_source_config *src)
{
	return ing->has_secret[sr_ingest_slot(ing, src)];
}

bool sr_ingest_secret_ok(const struct sr_ingest *ing, const struct sr_source_config *src,
			 const char *value)
{
	unsigned char md[32];
	int slot = sr_ingest_slot(ing, src);

	if (!ing->has_secret[slot] || value == NULL)
		return false;
	digest(value, strlen(value), md);
	return CRYPTO_memcmp(md, ing->secret_md[slot], 32) == 0;
}
