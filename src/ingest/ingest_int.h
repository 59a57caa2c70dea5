/* ingest_int.h - inside the ingest module only. */
#ifndef SESSION_REVOKER_INGEST_INT_H
#define SESSION_REVOKER_INGEST_INT_H

#include <pthread.h>
#include <stdarg.h>

#include "session_revoker/ingest.h"

/* Threads that turn batches into revocations. Each waits out its batch's
 * directory lookups and COMMIT, so this is how many deliveries can wait at
 * once: enough that deliveries stuck on a slow directory do not hold up the
 * others, and that many batches share one group commit under load. */
#define SR_INGEST_THREADS 32

/* The sources (auth0, group-change, ssf, okta): sr_ingest_slot() numbers them. */
#define SR_INGEST_SOURCES 4

/* Envelope ids of recent deliveries remembered (okta: a redelivery of the
 * same envelope is answered at once). */
#define SR_INGEST_RECENT 512

struct sr_ingest {
	const struct sr_config *cfg;
	const struct sr_sources_config *sc;
	struct sr_store *store;          /* NULL: rules test (offline) */
	struct sr_auth0_api *api[SR_INGEST_SOURCES]; /* per source: lookup kind auth0 */
	struct sr_directory *dir[SR_INGEST_SOURCES]; /* per source: the directory a lookup asks */
	unsigned char secret_md[SR_INGEST_SOURCES][32]; /* per source: SHA-256 of its value */
	bool has_secret[SR_INGEST_SOURCES];
	char *recent[SR_INGEST_RECENT];  /* "<source> <envelope id>", a ring */
	size_t recent_next;
	int lookups_out;                 /* lookups a delivery stopped waiting for */
	pthread_cond_t lookups_done;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	struct sr_ingest_job *head, *tail;
	bool stopping;
	pthread_t threads[SR_INGEST_THREADS];
	int n_threads;
};

/* n strings as a JSON array (rules.c). New reference. */
json_t *sr_strv_json(char *const *v, size_t n);

/* Whether sr_ingest_stop() was called: no new directory lookup begins. */
bool sr_ingest_stopping(struct sr_ingest *ing);

/* Reads each enabled source's authorization_file (secret.c). */
enum sr_rc sr_ingest_load_secrets(struct sr_ingest *ing, struct sr_err *err);

/* The index of src in ing->api, dir, secret_md: 0 auth0, 1 group-change,
 * 2 okta. */
int sr_ingest_slot(const struct sr_ingest *ing, const struct sr_source_config *src);

/* The directory source's lookup rules ask, or NULL. */
struct sr_directory *sr_ingest_directory(struct sr_ingest *ing, const struct sr_source_config *src);

#endif
