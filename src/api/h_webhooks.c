/*
 * h_webhooks.c - /api/v1/webhooks: create, list, read, change and delete an
 * account's webhooks, and route /{id}/deliveries and /{id}/test.
 *
 * Every lookup is scoped by the authenticated account, so another account's
 * id answers exactly like an unknown one (404).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../core/err.h"
#include "../core/log.h"
#include "validate.h"

static json_t *events_json(const char *list)
{
	json_t *arr = json_array();
	const char *p = list;

	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		json_array_append_new(arr, json_stringn(p, n));
		p = comma ? comma + 1 : p + n;
	}
	return arr;
}

/* Returns the webhook as JSON; with_secret decrypts the signing secret. */
static json_t *webhook_json(struct skw_req *r, const struct skw_webhook *w, bool with_secret)
{
	json_t *j =
	    json_pack("{s:s, s:s, s:s, s:o, s:i, s:i, s:b}", "id", w->id, "name", w->name, "url",
		      w->url, "events", events_json(w->events), "timeout", w->timeout_s,
		      "retry_attempts", w->retry_attempts, "enabled", w->is_enabled);

	if (with_secret) {
		char secret[SKW_SECRET_MAX];

		if (skw_secret_open(r->api->cfg.keyring, w->id, w->secret_enc, w->secret_enc_len,
				    secret)) {
			skw_error("webhook %s: signing secret does not decrypt (wrong key file?)",
				  w->id);
			json_object_set_new(j, "secret", json_null());
		} else {
			json_object_set_new(j, "secret", json_string(secret));
			sodium_memzero(secret, sizeof(secret));
		}
	}
	json_object_set_new(j, "created_at", skw_json_time(w->created_at));
	json_object_set_new(j, "updated_at", skw_json_time(w->updated_at));
	json_object_set_new(
	    j, "last_delivery",
	    w->last_status
		? json_pack("{s:s, s:o, s:o}", "status",
			    w->last_status == SKW_LOG_SUCCEEDED ? "succeeded" : "failed",
			    "status_code",
			    w->last_status_code ? json_integer(w->last_status_code) : json_null(),
			    "at", skw_json_time(w->last_at))
		: json_null());
	return j;
}

static enum MHD_Result reply_field_error(struct skw_req *r, const struct skw_field_error *fe)
{
	return skw_reply_error(r, fe->status, fe->code, fe->field, "%s", fe->message);
}

static enum MHD_Result create(struct skw_req *r)
{
	struct skw_field_error fe;
	struct skw_webhook w = {0};
	char secret[SKW_SECRET_MAX];
	enum MHD_Result res;
	json_t *body = skw_req_json(r, 0, &res);
	int rc;

	if (!body)
		return res;
	rc = skw_validate_webhook(body, true, r->api->cfg.allow_http, &w, &fe);
	json_decref(body);
	if (rc) {
		skw_webhook_cleanup(&w);
		return reply_field_error(r, &fe);
	}
	skw_random_id("wh_", w.id, sizeof(w.id));
	skw_strlcpy(w.account_id, r->who.account_id, sizeof(w.account_id));
	w.created_at = w.updated_at = skw_now_ms();
	skw_secret_generate(secret);
	rc = skw_secret_seal(r->api->cfg.keyring, w.id, secret, &w.secret_enc, &w.secret_enc_len);
	sodium_memzero(secret, sizeof(secret));
	if (!rc)
		rc = skw_store_webhook_insert(r->api->cfg.store, &w);
	res = rc ? skw_reply_store_error(r, rc) : skw_reply_json(r, 201, webhook_json(r, &w, true));
	skw_webhook_cleanup(&w);
	return res;
}

static enum MHD_Result list(struct skw_req *r)
{
	struct skw_webhook *ws = NULL;
	size_t n = 0;
	json_t *data;
	int rc = skw_store_webhook_list(r->api->cfg.store, r->who.account_id, &ws, &n);

	if (rc)
		return skw_reply_store_error(r, rc);
	data = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(data, webhook_json(r, &ws[i], false));
	skw_webhooks_free(ws, n);
	return skw_reply_json(r, 200, json_pack("{s:o}", "data", data));
}

static enum MHD_Result patch(struct skw_req *r, const char *id)
{
	struct skw_field_error fe;
	struct skw_webhook w = {0};
	enum MHD_Result res;
	json_t *body;
	bool was_enabled;
	int rc;

	body = skw_req_json(r, 0, &res);
	if (!body)
		return res;
	rc = skw_store_webhook_get(r->api->cfg.store, r->who.account_id, id, &w);
	if (rc) {
		json_decref(body);
		return skw_reply_store_error(r, rc);
	}
	was_enabled = w.is_enabled;
	rc = skw_validate_webhook(body, false, r->api->cfg.allow_http, &w, &fe);
	json_decref(body);
	if (rc) {
		skw_webhook_cleanup(&w);
		return reply_field_error(r, &fe);
	}
	w.updated_at = skw_now_ms();
	rc = skw_store_webhook_update(r->api->cfg.store, &w);
	if (!rc && w.is_enabled && !was_enabled && r->api->cfg.engine)
		skw_engine_notify(r->api->cfg.engine);
	res = rc ? skw_reply_store_error(r, rc) : skw_reply_json(r, 200, webhook_json(r, &w, true));
	skw_webhook_cleanup(&w);
	return res;
}

static enum MHD_Result one(struct skw_req *r, const char *id)
{
	struct skw_webhook w;
	enum MHD_Result res;
	int rc;

	if (!strcmp(r->method, "GET")) {
		rc = skw_store_webhook_get(r->api->cfg.store, r->who.account_id, id, &w);
		if (rc)
			return skw_reply_store_error(r, rc);
		res = skw_reply_json(r, 200, webhook_json(r, &w, true));
		skw_webhook_cleanup(&w);
		return res;
	}
	if (!strcmp(r->method, "PATCH"))
		return patch(r, id);
	if (!strcmp(r->method, "DELETE")) {
		rc = skw_store_webhook_delete(r->api->cfg.store, r->who.account_id, id);
		if (rc)
			return skw_reply_store_error(r, rc);
		if (r->api->cfg.engine)
			skw_engine_forget_webhook(r->api->cfg.engine, id);
		return skw_reply_empty(r, 204);
	}
	return skw_reply_method(r, "GET, PATCH, DELETE");
}

enum MHD_Result skw_h_webhooks(struct skw_req *r, char **seg, size_t n_seg)
{
	enum MHD_Result res;

	if (!skw_auth(r, true, &res))
		return res;
	if (n_seg == 0) {
		if (!strcmp(r->method, "GET"))
			return list(r);
		if (!strcmp(r->method, "POST"))
			return create(r);
		return skw_reply_method(r, "GET, POST");
	}
	if (n_seg == 1)
		return one(r, seg[0]);
	if (n_seg == 2 && !strcmp(seg[1], "deliveries")) {
		if (strcmp(r->method, "GET"))
			return skw_reply_method(r, "GET");
		return skw_h_deliveries(r, seg[0]);
	}
	if (n_seg == 2 && !strcmp(seg[1], "stats")) {
		if (strcmp(r->method, "GET"))
			return skw_reply_method(r, "GET");
		return skw_h_stats(r, seg[0]);
	}
	if (n_seg == 2 && !strcmp(seg[1], "test")) {
		if (strcmp(r->method, "POST"))
			return skw_reply_method(r, "POST");
		if (strlen(seg[0]) >= sizeof(r->wait_id))
			return skw_reply_not_found(r);
		skw_strlcpy(r->wait_id, seg[0], sizeof(r->wait_id));
		return skw_req_offload(r, skw_h_test); /* it waits for the receiver */
	}
	return skw_reply_not_found(r);
}
