/*
 * h_accounts.c - /api/v1/accounts: the platform key's view of accounts.
 * Only platform keys reach these routes.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "validate.h"

static json_t *account_json(const struct skw_account *a)
{
	return json_pack("{s:s, s:s, s:o}", "id", a->id, "name", a->name, "created_at",
			 skw_json_time(a->created_at));
}

static enum MHD_Result create(struct skw_req *r)
{
	struct skw_field_error fe;
	struct skw_account a = {0};
	enum MHD_Result res;
	json_t *body = skw_req_json(r, 0, &res), *name;
	const char *key;
	json_t *v;
	int rc;

	if (!body)
		return res;
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "name")) {
			res = skw_reply_error(r, 422, "validation_failed", key,
					      "unknown field \"%.48s\"", key);
			json_decref(body);
			return res;
		}
	}
	name = json_object_get(body, "name");
	if (!name) {
		json_decref(body);
		return skw_reply_error(r, 422, "validation_failed", "name", "name is required");
	}
	if (!json_is_string(name)) {
		json_decref(body);
		return skw_reply_error(r, 400, "wrong_type", "name", "name must be a string");
	}
	a.name = skw_validate_name("name", json_string_value(name), SKW_NAME_MAX_CHARS, &fe);
	json_decref(body);
	if (!a.name)
		return skw_reply_error(r, fe.status, fe.code, fe.field, "%s", fe.message);
	skw_random_id("acct_", a.id, sizeof(a.id));
	a.created_at = skw_now_ms();
	rc = skw_store_account_insert(r->api->cfg.store, &a);
	res = rc ? skw_reply_store_error(r, rc) : skw_reply_json(r, 201, account_json(&a));
	skw_account_cleanup(&a);
	return res;
}

/* Stops the engine from starting new requests to any of the account's
 * webhooks; called before the rows disappear. */
static void forget_webhooks(struct skw_req *r, const char *account_id)
{
	struct skw_webhook *list = NULL;
	size_t n = 0;

	if (!r->api->cfg.engine || skw_store_webhook_list(r->api->cfg.store, account_id, &list, &n))
		return;
	for (size_t i = 0; i < n; i++)
		skw_engine_forget_webhook(r->api->cfg.engine, list[i].id);
	skw_webhooks_free(list, n);
}

enum MHD_Result skw_h_accounts(struct skw_req *r, char **seg, size_t n_seg)
{
	struct skw_account a;
	enum MHD_Result res;
	int rc;

	if (!skw_auth(r, false, &res))
		return res;
	if (!r->who.is_platform)
		return skw_reply_error(r, 403, "forbidden", NULL,
				       "only a platform key may manage accounts");
	if (n_seg == 0) {
		if (strcmp(r->method, "POST"))
			return skw_reply_method(r, "POST");
		return create(r);
	}
	if (n_seg != 1)
		return skw_reply_not_found(r);
	if (!strcmp(r->method, "GET")) {
		rc = skw_store_account_get(r->api->cfg.store, seg[0], &a);
		if (rc)
			return skw_reply_store_error(r, rc);
		res = skw_reply_json(r, 200, account_json(&a));
		skw_account_cleanup(&a);
		return res;
	}
	if (!strcmp(r->method, "DELETE")) {
		forget_webhooks(r, seg[0]);
		rc = skw_store_account_delete(r->api->cfg.store, seg[0]);
		if (rc)
			return skw_reply_store_error(r, rc);
		return skw_reply_empty(r, 204);
	}
	return skw_reply_method(r, "GET, DELETE");
}
