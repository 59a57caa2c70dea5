/*
 * fuzz_time.c - libFuzzer target for sr_time_parse(): never crashes, and
 * either returns a time in 1970..9999 or SR_EINVAL with a one-line message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "session_revoker/core.h"

#define FUZZ_NOW INT64_C(1773306511)	/* 2026-03-12T09:08:31Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sr_err err = {0};
	int64_t t = -1;
	char *text;
	const char *p;

	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (sr_time_parse(text, FUZZ_NOW, &t, &err) == SR_OK) {
		if (err.code != SR_OK || t < 0 || t > INT64_C(253402300799))
			abort();
	} else {
		if (err.code != SR_EINVAL || err.msg[0] == '\0' ||
		    strncmp(err.msg, "cannot parse time", 17) != 0)
			abort();
		for (p = err.msg; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				abort();
	}
	free(text);
	return 0;
}
