/*
 * validate.h - the rules of the help page for webhooks, applied to JSON
 * input. Shared by the API and the unit tests.
 */
#ifndef SKW_API_VALIDATE_H
#define SKW_API_VALIDATE_H

#include <stdbool.h>

#include <jansson.h>

#include "../store/store.h"

#define SKW_NAME_MAX_CHARS 100
#define SKW_URL_MAX_BYTES 2048

struct skw_field_error {
	unsigned status;  /* 400 wrong type, 422 rule broken */
	const char *code; /* "wrong_type", "validation_failed" */
	char field[128];
	char message[256];
};

/*
 * Applies body's fields onto w. On create, w starts from the defaults
 * (timeout 30, retry_attempts 3, enabled) and name, url, events are
 * required. Unknown fields are refused. On error w may be partly changed
 * (callers validate into a copy) and *e says why. Returns 0 or SKW_EINVAL.
 */
int skw_validate_webhook(json_t *body, bool is_create, bool allow_http, struct skw_webhook *w,
			 struct skw_field_error *e);

/* Trims name into an owned string when it has 1..max characters (UTF-8 code
 * points) and no control characters; NULL otherwise with e filled. */
char *skw_validate_name(const char *field, const char *name, size_t max_chars,
			struct skw_field_error *e);

/* 0 when url is an absolute https:// URL (http:// too when allow_http) with
 * a host, at most SKW_URL_MAX_BYTES, as libcurl's URL parser reads it. */
int skw_validate_url(const char *url, bool allow_http, struct skw_field_error *e);

/* Canonical comma list of the events in arr (catalogue order, duplicates
 * collapsed), returned owned; NULL with e filled when invalid. */
char *skw_validate_events(json_t *arr, struct skw_field_error *e);

#endif
