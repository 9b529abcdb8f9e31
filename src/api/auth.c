/*
 * auth.c - who is asking: the bearer API key and, for platform keys, the
 * account named in X-Account-Id.
 *
 * Keys are looked up by their keyed hash, so the comparison is an index
 * lookup of a 256-bit digest rather than a byte-by-byte compare of the key.
 * An account key is confined to its own account whatever headers it sends.
 */
#include "internal.h"

#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "../core/err.h"
#include "session.h"

enum MHD_Result skw_reply_unauthorized(struct skw_req *r, const char *why)
{
	enum MHD_Result ret;
	struct MHD_Response *resp;
	json_t *err = json_pack("{s:{s:s, s:s}}", "error", "code", "unauthorized", "message", why);
	char *text = json_dumps(err, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(err);
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer_with_free_callback(strlen(text), text, free);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"skwebhooks\"");
	ret = MHD_queue_response(r->conn, MHD_HTTP_UNAUTHORIZED, resp);
	MHD_destroy_response(resp);
	r->status = MHD_HTTP_UNAUTHORIZED;
	return ret;
}

bool skw_auth_session(struct skw_req *r, struct skw_session *out)
{
	const char *cookie =
	    MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, SKW_SESSION_COOKIE);
	unsigned char hash[SKW_TOKEN_HASH_LEN];

	if (!cookie || !*cookie || strlen(cookie) >= SKW_TOKEN_MAX)
		return false;
	skw_token_hash(cookie, hash);
	if (skw_store_session_touch(r->api->cfg.store, hash, skw_now_ms(), SKW_SESSION_IDLE_MS,
				    out))
		return false;
	memcpy(r->who.session_hash, hash, sizeof(hash));
	r->who.has_session = true;
	r->who.session_expires_at = out->expires_at;
	skw_strlcpy(r->who.account_id, out->account_id, sizeof(r->who.account_id));
	return true;
}

/* The host part of an origin ("http://h:1" -> "h:1"), or NULL. */
static const char *origin_host(const char *origin)
{
	const char *p = strstr(origin, "://");

	return p ? p + 3 : NULL;
}

/*
 * A state-changing request from a page must come from our own pages: the
 * per-session CSRF token (a form on another site cannot set a header), and
 * the browser's own word on where it comes from.
 */
static bool same_site_request(struct skw_req *r)
{
	const char *token = skw_req_header(r, "X-CSRF-Token");
	const char *origin = skw_req_header(r, "Origin");
	const char *fetch_site = skw_req_header(r, "Sec-Fetch-Site");
	const char *host = skw_req_header(r, MHD_HTTP_HEADER_HOST);
	char want[65];

	if (fetch_site && strcmp(fetch_site, "same-origin") && strcmp(fetch_site, "none"))
		return false;
	if (origin) {
		const char *oh = origin_host(origin);

		if (!oh || !host || strcasecmp(oh, host))
			return false;
	}
	skw_csrf_token(r->api->cfg.keyring, r->who.session_hash, want);
	return token && strlen(token) == 64 && sodium_memcmp(token, want, 64) == 0;
}

static bool auth_by_session(struct skw_req *r, enum MHD_Result *res)
{
	const char *acct = skw_req_header(r, "X-Account-Id");
	struct skw_session sess;

	if (!skw_auth_session(r, &sess)) {
		*res = skw_reply_unauthorized(
		    r, "sign in again from SchedulingKit (Settings → Webhooks)");
		return false;
	}
	if (acct && strcmp(acct, sess.account_id)) {
		*res = skw_reply_error(r, MHD_HTTP_FORBIDDEN, "forbidden", NULL,
				       "a session cannot act for another account");
		return false;
	}
	if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD") && !same_site_request(r)) {
		*res = skw_reply_error(r, MHD_HTTP_FORBIDDEN, "csrf_rejected", NULL,
				       "this request did not come from the settings pages");
		return false;
	}
	return true;
}

static bool auth(struct skw_req *r, bool need_account, bool is_recent, enum MHD_Result *res)
{
	const char *h = skw_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *acct = skw_req_header(r, "X-Account-Id");
	unsigned char hash[SKW_KEY_HASH_LEN];
	struct skw_apikey key;
	int rc;

	if (!h && MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, SKW_SESSION_COOKIE))
		return auth_by_session(r, res);
	if (!h || strncasecmp(h, "Bearer ", 7) || strlen(h + 7) < 5 ||
	    strlen(h + 7) >= SKW_APIKEY_MAX) {
		*res =
		    skw_reply_unauthorized(r, "send an API key as Authorization: Bearer skw_...");
		return false;
	}
	skw_apikey_hash(h + 7, hash);
	rc = is_recent ? skw_store_apikey_find_recent(r->api->cfg.store, hash, &key)
		       : skw_store_apikey_find(r->api->cfg.store, hash, &key);
	if (rc == SKW_ENOTFOUND || (!rc && key.revoked_at)) {
		*res = skw_reply_unauthorized(r, "the API key is not valid or has been revoked");
		return false;
	}
	if (rc) {
		*res = skw_reply_store_error(r, rc);
		return false;
	}
	skw_strlcpy(r->who.key_id, key.id, sizeof(r->who.key_id));
	memcpy(r->who.key_hash, hash, sizeof(r->who.key_hash));
	r->who.is_platform = key.is_platform;
	if (!key.is_platform) {
		if (acct && strcmp(acct, key.account_id)) {
			*res = skw_reply_error(r, MHD_HTTP_FORBIDDEN, "forbidden", NULL,
					       "an account key cannot act for another account");
			return false;
		}
		skw_strlcpy(r->who.account_id, key.account_id, sizeof(r->who.account_id));
		return true;
	}
	if (!need_account)
		return true;
	if (!acct || !*acct) {
		*res = skw_reply_error(r, MHD_HTTP_BAD_REQUEST, "account_required", NULL,
				       "a platform key must name the account in X-Account-Id");
		return false;
	}
	{
		struct skw_account a;

		rc = skw_store_account_get(r->api->cfg.store, acct, &a);
		if (rc) {
			*res = rc == SKW_ENOTFOUND
				   ? skw_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", NULL,
						     "no such account")
				   : skw_reply_store_error(r, rc);
			return false;
		}
		skw_account_cleanup(&a);
	}
	skw_strlcpy(r->who.account_id, acct, sizeof(r->who.account_id));
	return true;
}

bool skw_auth(struct skw_req *r, bool need_account, enum MHD_Result *res)
{
	return auth(r, need_account, false, res);
}

bool skw_auth_event(struct skw_req *r, enum MHD_Result *res)
{
	return auth(r, true, true, res);
}
