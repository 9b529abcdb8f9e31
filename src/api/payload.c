/*
 * payload.c - see payload.h.
 */
#include "payload.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../core/events.h"
#include "../core/json.h"
#include "../core/util.h"

static int fail(struct skw_payload_error *e, unsigned status, const char *field, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

static int fail(struct skw_payload_error *e, unsigned status, const char *field, const char *fmt,
		...)
{
	va_list ap;

	e->status = status;
	skw_strlcpy(e->field, field, sizeof(e->field));
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return SKW_EINVAL;
}

/* Assembles {"event":"E","timestamp":"T","data":D}; returns owned bytes. */
static int assemble(const char *event, const char *ts, const char *data, size_t data_len,
		    struct skw_payload *out)
{
	static const char a[] = "{\"event\":\"", b[] = "\",\"timestamp\":\"", c[] = "\",\"data\":";
	size_t elen = strlen(event), tlen = strlen(ts);
	size_t len = sizeof(a) - 1 + elen + sizeof(b) - 1 + tlen + sizeof(c) - 1 + data_len + 1;
	char *p = malloc(len + 1);
	size_t o = 0;

	if (!p)
		return SKW_ENOMEM;
#define PUT(s, n)                                                                                  \
	do {                                                                                       \
		memcpy(p + o, (s), (n));                                                           \
		o += (n);                                                                          \
	} while (0)
	PUT(a, sizeof(a) - 1);
	PUT(event, elen);
	PUT(b, sizeof(b) - 1);
	PUT(ts, tlen);
	PUT(c, sizeof(c) - 1);
	PUT(data, data_len);
	PUT("}", 1);
#undef PUT
	p[o] = '\0';
	skw_strlcpy(out->event, event, sizeof(out->event));
	out->body = p;
	out->body_len = o;
	return 0;
}

int skw_payload_build(json_t *req, const char *raw, size_t raw_len, int64_t now,
		      struct skw_payload *out, struct skw_payload_error *e)
{
	json_t *event = json_object_get(req, "event");
	json_t *data = json_object_get(req, "data");
	json_t *ts = json_object_get(req, "timestamp");
	const char *key, *name, *draw = NULL;
	char tsbuf[64];
	char *dumped = NULL;
	size_t dlen = 0;
	int64_t ms;
	json_t *v;
	int rc;

	json_object_foreach(req, key, v)
	{
		if (strcmp(key, "event") && strcmp(key, "data") && strcmp(key, "timestamp"))
			return fail(e, 422, key, "unknown field \"%.48s\"", key);
	}
	if (!event)
		return fail(e, 422, "event", "event is required");
	if (!json_is_string(event))
		return fail(e, 400, "event", "event must be a string");
	name = json_string_value(event);
	if (!strcmp(name, SKW_EVENT_TEST))
		return fail(e, 422, "event",
			    "webhook.test is sent only by the Test button, not reported");
	if (!skw_event_is_subscribable(name))
		return fail(e, 422, "event", "unknown event \"%.64s\"", name);
	if (!data)
		return fail(e, 422, "data", "data is required");
	if (!json_is_object(data))
		return fail(e, 422, "data", "data must be a JSON object");
	if (ts && !json_is_null(ts)) {
		const char *s = json_string_value(ts);

		if (!s)
			return fail(e, 400, "timestamp", "timestamp must be a string");
		if (strlen(s) >= sizeof(tsbuf) || !skw_time_parse(s, &ms))
			return fail(e, 422, "timestamp",
				    "timestamp must be an RFC 3339 date-time such as "
				    "2025-01-15T10:30:00Z");
		skw_strlcpy(tsbuf, s, sizeof(tsbuf));
	} else {
		skw_time_format(now, tsbuf, sizeof(tsbuf));
	}
	if (!raw || !skw_json_raw_member(raw, raw_len, "data", &draw, &dlen)) {
		dumped = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (!dumped)
			return SKW_ENOMEM;
		draw = dumped;
		dlen = strlen(dumped);
	}
	rc = assemble(name, tsbuf, draw, dlen, out);
	free(dumped);
	return rc;
}

int skw_payload_test(const char *webhook_id, const char *webhook_name, int64_t now,
		     struct skw_payload *out)
{
	char ts[40];
	json_t *data =
	    json_pack("{s:s, s:s, s:s}", "webhook_id", webhook_id, "webhook_name", webhook_name,
		      "message", "This is a test event from SchedulingKit.");
	char *d = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
	int rc;

	json_decref(data);
	if (!d)
		return SKW_ENOMEM;
	skw_time_format(now, ts, sizeof(ts));
	rc = assemble(SKW_EVENT_TEST, ts, d, strlen(d), out);
	free(d);
	return rc;
}

void skw_payload_cleanup(struct skw_payload *p)
{
	free(p->body);
	p->body = NULL;
}
