/*
 * json.h - a scanner that finds the raw bytes of a top-level member of a
 * JSON object, so a payload's "data" can be forwarded exactly as given
 * (jansson validates the document first; this only locates spans).
 */
#ifndef SKW_CORE_JSON_H
#define SKW_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Looks for member key (matched against the raw, unescaped-in-source key
 * bytes) at the top level of the object in doc[0..len). Returns true and
 * points *val and *val_len into doc (borrowed) at the value, without surrounding
 * whitespace. Safe on any input: returns false when doc is not an object
 * of the expected shape.
 */
bool skw_json_raw_member(const char *doc, size_t len, const char *key, const char **val,
			 size_t *val_len);

#endif
