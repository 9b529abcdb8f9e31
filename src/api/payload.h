/*
 * payload.h - builds the exact bytes every receiver of an event gets:
 * {"event":"...","timestamp":"...","data":...}, in that key order.
 */
#ifndef SKW_API_PAYLOAD_H
#define SKW_API_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct skw_payload {
	char event[48];
	char *body; /* owned */
	size_t body_len;
};

struct skw_payload_error {
	unsigned status; /* 400 wrong type, 422 rule broken */
	char field[32];
	char message[256];
};

/*
 * Validates a report ({"event","data","timestamp"?}) parsed from raw and
 * builds the payload. data is copied byte for byte from raw when it can be
 * located there, so receivers see it exactly as SchedulingKit sent it.
 * timestamp defaults to now. Returns 0 or SKW_EINVAL with *e filled.
 */
int skw_payload_build(json_t *req, const char *raw, size_t raw_len, int64_t now,
		      struct skw_payload *out, struct skw_payload_error *e);

/* The webhook.test payload for webhook_id. */
int skw_payload_test(const char *webhook_id, const char *webhook_name, int64_t now,
		     struct skw_payload *out);

void skw_payload_cleanup(struct skw_payload *p);

#endif
