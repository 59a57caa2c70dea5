/*
 * recent.c - the envelopes a source's deliveries committed lately
 * (ingest.h: sr_ingest_recent_seen, sr_ingest_recent_add).
 *
 * DESIGN: Okta retries a delivery it got no answer to in 3 seconds, with
 * the same envelope eventId. A ring of the last SR_INGEST_RECENT envelope
 * ids ("<source> <id>") in memory answers such a redelivery without parsing
 * or asking the store. It is only a shortcut: after a restart, or on
 * another replica, the redelivery is parsed and each event is found in the
 * store by its own id, so nothing is recorded twice either way.
 */
#include "ingest_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *key_of(const struct sr_source_config *src, const char *id)
{
	size_t n = strlen(src->name) + 1 + strlen(id) + 1;
	char *k = malloc(n);

	if (k != NULL)
		snprintf(k, n, "%s %s", src->name, id);
	return k;
}

bool sr_ingest_recent_seen(struct sr_ingest *ing, const struct sr_source_config *src,
			   const char *id)
{
	char *k = key_of(src, id);
	bool seen = false;
	size_t i;

	if (k == NULL)
		return false;
	pthread_mutex_lock(&ing->mu);
	for (i = 0; i < SR_INGEST_RECENT && !seen; i++)
		seen = ing->recent[i] != NULL && strcmp(ing->recent[i], k) == 0;
	pthread_mutex_unlock(&ing->mu);
	free(k);
	return seen;
}

void sr_ingest_recent_add(struct sr_ingest *ing, const struct sr_source_config *src,
			  const char *id)
{
	char *k = key_of(src, id);

	if (k == NULL)
		return;
	pthread_mutex_lock(&ing->mu);
	free(ing->recent[ing->recent_next]);
	ing->recent[ing->recent_next] = k;
	ing->recent_next = (ing->recent_next + 1) % SR_INGEST_RECENT;
	pthread_mutex_unlock(&ing->mu);
}
