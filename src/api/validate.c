/*
 * validate.c - see validate.h. URLs are parsed with libcurl's URL API so
 * validation and the sender read a URL the same way.
 */
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "../core/err.h"
#include "../core/events.h"

static int fail(struct skw_field_error *e, unsigned status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct skw_field_error *e, unsigned status, const char *field, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->code = status == 400 ? "wrong_type" : "validation_failed";
	skw_strlcpy(e->field, field, sizeof(e->field));
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return SKW_EINVAL;
}

/* Counts UTF-8 code points; -1 on invalid UTF-8 or a control character. */
static long utf8_chars(const char *s, size_t len)
{
	long n = 0;

	for (size_t i = 0; i < len; n++) {
		unsigned char c = (unsigned char)s[i];
		size_t extra;

		if (c < 0x20 || c == 0x7f)
			return -1;
		if (c < 0x80)
			extra = 0;
		else if ((c & 0xe0) == 0xc0)
			extra = 1;
		else if ((c & 0xf0) == 0xe0)
			extra = 2;
		else if ((c & 0xf8) == 0xf0)
			extra = 3;
		else
			return -1;
		for (size_t k = 1; k <= extra; k++)
			if (i + k >= len || ((unsigned char)s[i + k] & 0xc0) != 0x80)
				return -1;
		i += extra + 1;
	}
	return n;
}

char *skw_validate_name(const char *field, const char *name, size_t max_chars,
			struct skw_field_error *e)
{
	const char *start = name, *end = name + strlen(name);
	long n;
	char *out;

	while (start < end && (*start == ' ' || *start == '\t' || *start == '\n' || *start == '\r'))
		start++;
	while (end > start &&
	       (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if (start == end) {
		fail(e, 422, field, "%s must not be empty", field);
		return NULL;
	}
	n = utf8_chars(start, (size_t)(end - start));
	if (n < 0) {
		fail(e, 422, field, "%s must be text without control characters", field);
		return NULL;
	}
	if ((size_t)n > max_chars) {
		fail(e, 422, field, "%s must be at most %zu characters (got %ld)", field, max_chars,
		     n);
		return NULL;
	}
	out = malloc((size_t)(end - start) + 1);
	if (!out) {
		fail(e, 500, field, "out of memory");
		return NULL;
	}
	memcpy(out, start, (size_t)(end - start));
	out[end - start] = '\0';
	return out;
}

int skw_validate_url(const char *url, bool allow_http, struct skw_field_error *e)
{
	CURLU *h;
	CURLUcode uc;
	char *scheme = NULL, *host = NULL;
	int rc = 0;

	if (strlen(url) > SKW_URL_MAX_BYTES)
		return fail(e, 422, "url", "url must be at most %d bytes", SKW_URL_MAX_BYTES);
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return fail(e, 422, "url",
				    "url must not contain spaces or control characters");
	if (strncasecmp(url, "https://", 8) && strncasecmp(url, "http://", 7))
		return fail(e, 422, "url", "url must be an absolute https:// URL");
	h = curl_url();
	if (!h)
		return fail(e, 500, "url", "out of memory");
	uc = curl_url_set(h, CURLUPART_URL, url, 0);
	if (uc) {
		rc = fail(e, 422, "url", "url is not a valid URL: %s", curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(h, CURLUPART_HOST, &host, 0) || !host || !*host) {
		rc = fail(e, 422, "url", "url must name a host");
		goto out;
	}
	if (strcasecmp(scheme, "https") && !(allow_http && !strcasecmp(scheme, "http"))) {
		rc = fail(e, 422, "url", "url must use https://");
		goto out;
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(h);
	return rc;
}

char *skw_validate_events(json_t *arr, struct skw_field_error *e)
{
	size_t n_all, i, len = 0;
	const struct skw_event_def *all = skw_events_all(&n_all);
	bool chosen[32] = {false};
	json_t *v;
	char *out;

	if (!json_is_array(arr)) {
		fail(e, 400, "events", "events must be an array of event names");
		return NULL;
	}
	if (!json_array_size(arr)) {
		fail(e, 422, "events", "choose at least one event");
		return NULL;
	}
	json_array_foreach(arr, i, v)
	{
		const char *name = json_string_value(v);
		size_t k;

		if (!name) {
			fail(e, 400, "events", "events must be an array of strings");
			return NULL;
		}
		for (k = 0; k < n_all; k++)
			if (!strcmp(all[k].name, name))
				break;
		if (k == n_all || !skw_event_is_subscribable(name)) {
			fail(e, 422, "events", "unknown event \"%.64s\"", name);
			return NULL;
		}
		chosen[k] = true;
	}
	for (i = 0; i < n_all; i++)
		if (chosen[i])
			len += strlen(all[i].name) + 1;
	out = malloc(len + 1);
	if (!out) {
		fail(e, 500, "events", "out of memory");
		return NULL;
	}
	out[0] = '\0';
	len = 0;
	for (i = 0; i < n_all; i++) {
		if (!chosen[i])
			continue;
		if (len)
			out[len++] = ',';
		memcpy(out + len, all[i].name, strlen(all[i].name) + 1);
		len += strlen(all[i].name);
	}
	return out;
}

static int int_field(json_t *v, const char *field, long long min, long long max, int *out,
		     struct skw_field_error *e)
{
	long long x;

	if (!json_is_integer(v))
		return fail(e, 400, field, "%s must be an integer", field);
	x = json_integer_value(v);
	if (x < min || x > max)
		return fail(e, 422, field, "%s must be between %lld and %lld (got %lld)", field,
			    min, max, x);
	*out = (int)x;
	return 0;
}

static void replace(char **slot, char *value)
{
	free(*slot);
	*slot = value;
}

int skw_validate_webhook(json_t *body, bool is_create, bool allow_http, struct skw_webhook *w,
			 struct skw_field_error *e)
{
	static const char *const required[] = {"name", "url", "events"};
	const char *key;
	json_t *v;
	int rc;

	if (is_create) {
		w->timeout_s = 30;
		w->retry_attempts = 3;
		w->is_enabled = true;
		for (size_t i = 0; i < 3; i++)
			if (!json_object_get(body, required[i]))
				return fail(e, 422, required[i], "%s is required", required[i]);
	}
	json_object_foreach(body, key, v)
	{
		if (!strcmp(key, "name")) {
			char *name;

			if (!json_is_string(v))
				return fail(e, 400, "name", "name must be a string");
			name =
			    skw_validate_name("name", json_string_value(v), SKW_NAME_MAX_CHARS, e);
			if (!name)
				return SKW_EINVAL;
			replace(&w->name, name);
		} else if (!strcmp(key, "url")) {
			char *url;

			if (!json_is_string(v))
				return fail(e, 400, "url", "url must be a string");
			rc = skw_validate_url(json_string_value(v), allow_http, e);
			if (rc)
				return rc;
			url = strdup(json_string_value(v));
			if (!url)
				return fail(e, 500, "url", "out of memory");
			replace(&w->url, url);
		} else if (!strcmp(key, "events")) {
			char *events = skw_validate_events(v, e);

			if (!events)
				return SKW_EINVAL;
			replace(&w->events, events);
		} else if (!strcmp(key, "timeout")) {
			rc = int_field(v, "timeout", 1, 300, &w->timeout_s, e);
			if (rc)
				return rc;
		} else if (!strcmp(key, "retry_attempts")) {
			rc = int_field(v, "retry_attempts", 0, 10, &w->retry_attempts, e);
			if (rc)
				return rc;
		} else if (!strcmp(key, "enabled")) {
			if (!json_is_boolean(v))
				return fail(e, 400, "enabled", "enabled must be true or false");
			w->is_enabled = json_is_true(v);
		} else {
			return fail(e, 422, key, "unknown field \"%.48s\"", key);
		}
	}
	return 0;
}
