/*
 * json.c - see json.h. A bounds-checked scanner over bytes: it never reads
 * past len and never recurses (nesting is tracked with a counter), so it is
 * safe on hostile input; it has a fuzz target in fuzz/.
 */
#include "json.h"

#include <string.h>

static size_t skip_ws(const char *s, size_t i, size_t len)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* s[i] == '"'; returns the index just past the closing quote, or len+1. */
static size_t skip_string(const char *s, size_t i, size_t len)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return len + 1;
}

/* Returns the index just past the value starting at i, or len+1 on error. */
static size_t skip_value(const char *s, size_t i, size_t len)
{
	size_t depth = 0;

	if (i >= len)
		return len + 1;
	if (s[i] == '"')
		return skip_string(s, i, len);
	if (s[i] != '{' && s[i] != '[') {
		while (i < len && !strchr(",}] \t\r\n", s[i]))
			i++;
		return i;
	}
	while (i < len) {
		char c = s[i];

		if (c == '"') {
			i = skip_string(s, i, len);
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']') {
			if (--depth == 0)
				return i + 1;
		}
		i++;
	}
	return len + 1;
}

bool skw_json_raw_member(const char *doc, size_t len, const char *key, const char **val,
			 size_t *val_len)
{
	size_t klen = strlen(key);
	size_t i = skip_ws(doc, 0, len);

	if (i >= len || doc[i] != '{')
		return false;
	i++;
	for (;;) {
		size_t kstart, kend, vstart, vend;

		i = skip_ws(doc, i, len);
		if (i >= len || doc[i] != '"')
			return false;
		kstart = i + 1;
		i = skip_string(doc, i, len);
		if (i > len)
			return false;
		kend = i - 1;
		i = skip_ws(doc, i, len);
		if (i >= len || doc[i] != ':')
			return false;
		vstart = skip_ws(doc, i + 1, len);
		vend = skip_value(doc, vstart, len);
		if (vend > len || vend == vstart)
			return false;
		if (kend - kstart == klen && !memcmp(doc + kstart, key, klen)) {
			*val = doc + vstart;
			*val_len = vend - vstart;
			return true;
		}
		i = skip_ws(doc, vend, len);
		if (i >= len || doc[i] != ',')
			return false;
		i++;
	}
}
