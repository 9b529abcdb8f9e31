/*
 * h_deliveries.c - the delivery log (GET /api/v1/webhooks/{id}/deliveries)
 * and test sends (POST /api/v1/webhooks/{id}/test).
 *
 * Cursors are opaque to clients: URL-safe base64 of "<at>.<key>" of the last
 * row returned; the store continues strictly after it.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../core/err.h"
#include "../core/events.h"
#include "payload.h"

#define LOG_DEFAULT_LIMIT 20
#define LOG_MAX_LIMIT 100

static const char *status_name(enum skw_log_status s)
{
	switch (s) {
	case SKW_LOG_SUCCEEDED:
		return "succeeded";
	case SKW_LOG_FAILED:
		return "failed";
	case SKW_LOG_PENDING:
		return "pending";
	default:
		return "unknown";
	}
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *entry_json(const struct skw_log_entry *e)
{
	bool made = e->status != SKW_LOG_PENDING;
	json_t *resp = e->response ? json_string(e->response) : json_null();

	if (!resp) /* not valid UTF-8: keep what can be shown */
		resp = json_string("(binary response body)");
	return json_pack(
	    "{s:s, s:s, s:s, s:i, s:i, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "delivery_id",
	    e->delivery_id, "event_id", e->event_id, "event", e->event, "attempt", e->attempt,
	    "max_attempts", e->max_attempts, "status", status_name(e->status), "status_code",
	    e->status_code ? json_integer(e->status_code) : json_null(), "response", resp, "error",
	    str_or_null(e->error), "started_at", made ? skw_json_time(e->started_at) : json_null(),
	    "duration_ms", made ? json_integer(e->duration_ms) : json_null(), "delivered_at",
	    skw_json_time(e->delivered_at), "next_attempt_at",
	    made ? json_null() : skw_json_time(e->next_attempt_at));
}

static bool parse_cursor(const char *c, struct skw_log_query *q)
{
	char raw[128];
	size_t n = 0;
	char *dot;
	long long at;

	if (strlen(c) > 160 ||
	    sodium_base642bin((unsigned char *)raw, sizeof(raw) - 1, c, strlen(c), NULL, &n, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING))
		return false;
	raw[n] = '\0';
	dot = strchr(raw, '.');
	if (!dot)
		return false;
	*dot = '\0';
	if (!skw_parse_int(raw, 0, INT64_MAX, &at) || strlen(dot + 1) >= sizeof(q->cursor_key) ||
	    !dot[1])
		return false;
	q->has_cursor = true;
	q->cursor_at = at;
	skw_strlcpy(q->cursor_key, dot + 1, sizeof(q->cursor_key));
	return true;
}

static json_t *make_cursor(const struct skw_log_entry *e)
{
	char raw[128], b64[200];
	int n = snprintf(raw, sizeof(raw), "%lld.%s", (long long)e->at, e->key);

	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)raw, (size_t)n,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return json_string(b64);
}

enum MHD_Result skw_h_deliveries(struct skw_req *r, const char *webhook_id)
{
	struct skw_log_query q = {0};
	struct skw_log_entry *es = NULL;
	const char *limit = skw_req_arg(r, "limit");
	const char *cursor = skw_req_arg(r, "cursor");
	const char *status = skw_req_arg(r, "status");
	size_t n = 0;
	long long lim = LOG_DEFAULT_LIMIT;
	json_t *data, *next;
	int rc;

	q.account_id = r->who.account_id;
	q.webhook_id = webhook_id;
	if (limit && !skw_parse_int(limit, 1, LOG_MAX_LIMIT, &lim))
		return skw_reply_error(r, 422, "validation_failed", "limit",
				       "limit must be an integer from 1 to %d", LOG_MAX_LIMIT);
	q.limit = (size_t)lim;
	if (cursor && !parse_cursor(cursor, &q))
		return skw_reply_error(r, 422, "validation_failed", "cursor",
				       "cursor is not one this API returned");
	if (!status || !*status)
		q.status = SKW_LOG_ANY;
	else if (!strcmp(status, "succeeded"))
		q.status = SKW_LOG_SUCCEEDED;
	else if (!strcmp(status, "failed"))
		q.status = SKW_LOG_FAILED;
	else if (!strcmp(status, "pending"))
		q.status = SKW_LOG_PENDING;
	else
		return skw_reply_error(r, 422, "validation_failed", "status",
				       "status must be succeeded, failed or pending");
	rc = skw_store_log_list(r->api->cfg.store, &q, &es, &n);
	if (rc)
		return skw_reply_store_error(r, rc);
	data = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(data, entry_json(&es[i]));
	next = n == q.limit ? make_cursor(&es[n - 1]) : json_null();
	skw_log_entries_free(es, n);
	return skw_reply_json(r, 200, json_pack("{s:o, s:o}", "data", data, "next_cursor", next));
}

enum MHD_Result skw_h_test(struct skw_req *r)
{
	const char *webhook_id = r->wait_id;
	struct skw_test_outcome o;
	struct skw_webhook w;
	struct skw_payload p = {0};
	struct skw_work *work;
	char event_id[SKW_ID_MAX];
	char delivery_id[SKW_ID_MAX];
	int64_t now = skw_now_ms();
	int rc;

	rc = skw_store_webhook_get(r->api->cfg.store, r->who.account_id, webhook_id, &w);
	if (rc)
		return skw_reply_store_error(r, rc);
	if (!r->api->cfg.engine) {
		skw_webhook_cleanup(&w);
		return skw_reply_error(r, 503, "unavailable", NULL,
				       "this node does not send webhooks");
	}
	work = calloc(1, sizeof(*work));
	rc = work ? skw_payload_test(w.id, w.name, now, &p) : SKW_ENOMEM;
	skw_random_id("evt_", event_id, sizeof(event_id));
	if (!rc)
		rc = skw_store_test_prepare(r->api->cfg.store, &w, event_id, p.body, p.body_len,
					    now, work);
	skw_payload_cleanup(&p);
	skw_webhook_cleanup(&w);
	if (rc) {
		free(work);
		return skw_reply_store_error(r, rc);
	}
	skw_strlcpy(delivery_id, work->delivery_id, sizeof(delivery_id));
	rc = skw_engine_test_send(r->api->cfg.engine, work, &o);
	if (rc)
		return skw_reply_store_error(r, rc);
	return skw_reply_json(
	    r, 200,
	    json_pack("{s:s, s:o, s:o, s:o, s:I, s:b}", "delivery_id", delivery_id, "status_code",
		      o.status_code ? json_integer(o.status_code) : json_null(), "response",
		      o.status_code ? json_string(o.response) : json_null(), "error",
		      o.error[0] ? json_string(o.error) : json_null(), "duration_ms",
		      (json_int_t)o.duration_ms, "success", o.is_success));
}
