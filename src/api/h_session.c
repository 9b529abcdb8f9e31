/*
 * h_session.c - sign-in links (POST /api/v1/login-links), the page's view
 * of its session (GET /api/v1/session), and delivery statistics
 * (GET /api/v1/webhooks/{id}/stats).
 */
#include "internal.h"

#include <string.h>

#include "../core/err.h"
#include "session.h"

#define STATS_HOURS 24
#define HOUR_MS (3600 * 1000)

enum MHD_Result skw_h_login_links(struct skw_req *r, char **seg, size_t n_seg)
{
	char url[2200];
	int64_t expires_at;
	enum MHD_Result res;
	int rc;

	(void)seg;
	if (n_seg)
		return skw_reply_not_found(r);
	if (strcmp(r->method, "POST"))
		return skw_reply_method(r, "POST");
	if (!skw_auth(r, true, &res))
		return res;
	if (r->who.has_session)
		return skw_reply_error(r, 403, "forbidden", NULL,
				       "sign-in links are created with an API key");
	if (r->body_len) {
		json_t *body = skw_req_json(r, 0, &res);

		if (!body)
			return res;
		if (json_object_size(body)) {
			const char *key = json_object_iter_key(json_object_iter(body));

			res = skw_reply_error(r, 422, "validation_failed", key,
					      "unknown field \"%.48s\"", key);
			json_decref(body);
			return res;
		}
		json_decref(body);
	}
	rc = skw_login_link_create(r->api->cfg.store, r->who.account_id, r->api->cfg.public_url,
				   url, sizeof(url), &expires_at);
	if (rc)
		return skw_reply_store_error(r, rc);
	return skw_reply_json(
	    r, 201, json_pack("{s:s, s:o}", "url", url, "expires_at", skw_json_time(expires_at)));
}

enum MHD_Result skw_h_session(struct skw_req *r, char **seg, size_t n_seg)
{
	struct skw_session sess;
	struct skw_account a;
	char csrf[65];
	enum MHD_Result res;
	int rc;

	(void)seg;
	if (n_seg)
		return skw_reply_not_found(r);
	if (strcmp(r->method, "GET"))
		return skw_reply_method(r, "GET");
	if (!skw_auth_session(r, &sess))
		return skw_reply_error(r, 401, "unauthorized", NULL,
				       "no session; sign in from SchedulingKit");
	rc = skw_store_account_get(r->api->cfg.store, sess.account_id, &a);
	if (rc)
		return skw_reply_store_error(r, rc);
	skw_csrf_token(r->api->cfg.keyring, r->who.session_hash, csrf);
	res = skw_reply_json(r, 200,
			     json_pack("{s:{s:s, s:s}, s:s, s:o}", "account", "id", a.id, "name",
				       a.name, "csrf_token", csrf, "expires_at",
				       skw_json_time(sess.expires_at)));
	skw_account_cleanup(&a);
	return res;
}

enum MHD_Result skw_h_stats(struct skw_req *r, const char *webhook_id)
{
	struct skw_stat_bucket b[STATS_HOURS];
	int64_t now = skw_now_ms();
	int64_t from = (now / HOUR_MS - (STATS_HOURS - 1)) * HOUR_MS;
	json_t *arr;
	int rc;

	rc = skw_store_webhook_stats(r->api->cfg.store, r->who.account_id, webhook_id, from,
				     HOUR_MS, STATS_HOURS, b);
	if (rc)
		return skw_reply_store_error(r, rc);
	arr = json_array();
	for (size_t i = 0; i < STATS_HOURS; i++)
		json_array_append_new(arr, json_pack("{s:o, s:i, s:i}", "start",
						     skw_json_time(b[i].start), "succeeded",
						     b[i].succeeded, "failed", b[i].failed));
	return skw_reply_json(r, 200, json_pack("{s:o}", "buckets", arr));
}
