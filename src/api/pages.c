/*
 * pages.c - the settings pages: serves the embedded static files, the page
 * shell for /settings/webhooks routes (or the "sign in from SchedulingKit"
 * page without a session), and the sign-in / sign-out flow.
 *
 * Sign-in: GET /login/{token} answers a page that POSTs the token to /login
 * (so link scanners that only GET cannot use up a link, and the cookie is set
 * on a same-site navigation, which SameSite=Strict needs); POST /login uses
 * the link up, starts a session and redirects to /settings/webhooks.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../core/err.h"
#include "../core/log.h"
#include "../ui/ui.h"
#include "session.h"

static enum MHD_Result asset(struct skw_req *r, unsigned status, const char *name,
			     const char *cache)
{
	const unsigned char *body;
	const char *type;
	size_t len;
	struct MHD_Response *resp;

	if (!skw_ui_asset(name, &body, &len, &type))
		return skw_reply_not_found(r);
	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
	if (resp && cache)
		MHD_add_response_header(resp, "Cache-Control", cache);
	return skw_reply_queue(r, status, resp, type);
}

static enum MHD_Result redirect(struct skw_req *r, const char *location, const char *cookie)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Location", location);
	if (cookie)
		MHD_add_response_header(resp, "Set-Cookie", cookie);
	return skw_reply_queue(r, 303, resp, NULL);
}

/* /login/{token}: login.html with the token in its form. */
static enum MHD_Result login_page(struct skw_req *r, const char *token)
{
	static const char mark[] = "{{TOKEN}}";
	const unsigned char *body;
	const char *type, *at;
	size_t len, tlen = strlen(token);
	struct MHD_Response *resp;
	char *out;

	for (size_t i = 0; i < tlen; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
			    token[i]) ||
		    tlen >= SKW_TOKEN_MAX)
			return asset(r, 401, "link-invalid.html", NULL);
	if (!skw_ui_asset("login.html", &body, &len, &type))
		return skw_reply_not_found(r);
	at = memmem(body, len, mark, sizeof(mark) - 1);
	if (!at)
		return skw_reply_not_found(r);
	out = malloc(len + tlen + 1);
	if (!out)
		return MHD_NO;
	/* the token is URL-safe base64 (checked above): nothing to escape */
	memcpy(out, body, (size_t)(at - (const char *)body));
	memcpy(out + (at - (const char *)body), token, tlen);
	memcpy(out + (at - (const char *)body) + tlen, at + sizeof(mark) - 1,
	       len - (size_t)(at - (const char *)body) - (sizeof(mark) - 1));
	resp = MHD_create_response_from_buffer_with_free_callback(len - (sizeof(mark) - 1) + tlen,
								  out, free);
	if (!resp) {
		free(out);
		return MHD_NO;
	}
	return skw_reply_queue(r, 200, resp, type);
}

/* Decodes the "token" field of an application/x-www-form-urlencoded body. */
static bool form_token(const char *body, size_t len, char out[SKW_TOKEN_MAX])
{
	const char *p = body, *end = body + len;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		size_t n = 0;

		if (stop - p > 6 && !memcmp(p, "token=", 6)) {
			for (const char *q = p + 6; q < stop; q++) {
				if (n + 1 >= SKW_TOKEN_MAX)
					return false;
				out[n++] = *q; /* URL-safe base64 needs no decoding */
			}
			out[n] = '\0';
			return n > 0;
		}
		p = stop + 1;
	}
	return false;
}

static enum MHD_Result login_post(struct skw_req *r)
{
	char token[SKW_TOKEN_MAX], sid[SKW_TOKEN_MAX], cookie[256];
	char account_id[SKW_ID_MAX];
	unsigned char raw[16], hash[SKW_TOKEN_HASH_LEN];
	int64_t now = skw_now_ms();
	bool secure = r->api->cfg.public_url && !strncmp(r->api->cfg.public_url, "https:", 6);
	int rc;

	if (!r->body || !form_token(r->body, r->body_len, token))
		return asset(r, 401, "link-invalid.html", NULL);
	skw_token_hash(token, hash);
	rc = skw_store_login_link_consume(r->api->cfg.store, hash, now, account_id);
	if (rc == SKW_ENOTFOUND)
		return asset(r, 401, "link-invalid.html", NULL);
	if (rc)
		return skw_reply_store_error(r, rc);
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(sid, sizeof(sid), raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	skw_token_hash(sid, hash);
	rc = skw_store_session_insert(r->api->cfg.store, hash, account_id, now,
				      now + SKW_SESSION_MAX_MS);
	if (rc)
		return skw_reply_store_error(r, rc);
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
		 SKW_SESSION_COOKIE, sid, SKW_SESSION_MAX_MS / 1000, secure ? "; Secure" : "");
	sodium_memzero(sid, sizeof(sid));
	skw_info("session started account=%s", account_id);
	return redirect(r, "/settings/webhooks", cookie);
}

static enum MHD_Result logout(struct skw_req *r)
{
	char cookie[128];
	enum MHD_Result res;
	struct MHD_Response *resp;
	int rc;

	if (!skw_auth(r, false, &res))
		return res;
	if (!r->who.has_session)
		return skw_reply_error(r, 400, "no_session", NULL, "there is no session to end");
	rc = skw_store_session_delete(r->api->cfg.store, r->who.session_hash);
	if (rc)
		return skw_reply_store_error(r, rc);
	resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	snprintf(cookie, sizeof(cookie), "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict",
		 SKW_SESSION_COOKIE);
	MHD_add_response_header(resp, "Set-Cookie", cookie);
	return skw_reply_queue(r, 204, resp, NULL);
}

/* True for /settings/webhooks, /settings/webhooks/create, /settings/webhooks/{id}/edit. */
static bool is_page(const char *path)
{
	static const char base[] = "/settings/webhooks";
	const char *rest;

	if (strncmp(path, base, sizeof(base) - 1))
		return false;
	rest = path + sizeof(base) - 1;
	if (!*rest || !strcmp(rest, "/") || !strcmp(rest, "/create"))
		return true;
	if (*rest == '/') {
		const char *slash = strchr(rest + 1, '/');

		return slash && slash > rest + 1 && slash - rest < 64 && !strcmp(slash, "/edit");
	}
	return false;
}

static bool is_read(struct skw_req *r)
{
	return !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
}

bool skw_pages_route(struct skw_req *r, enum MHD_Result *res)
{
	const char *p = r->path;

	if (!strcmp(p, "/") || !strcmp(p, "/settings")) {
		*res = redirect(r, "/settings/webhooks", NULL);
	} else if (is_page(p)) {
		struct skw_session sess;

		if (!is_read(r))
			*res = skw_reply_method(r, "GET");
		else
			*res = skw_auth_session(r, &sess) ? asset(r, 200, "index.html", NULL)
							  : asset(r, 401, "signin.html", NULL);
	} else if (!strncmp(p, "/assets/", 8)) {
		*res = is_read(r) ? asset(r, 200, p + 8, "no-cache") : skw_reply_method(r, "GET");
	} else if (!strcmp(p, "/favicon.ico")) {
		*res = asset(r, 200, "favicon.svg", "max-age=86400");
	} else if (!strncmp(p, "/login/", 7)) {
		*res = is_read(r) ? login_page(r, p + 7) : skw_reply_method(r, "GET");
	} else if (!strcmp(p, "/login")) {
		*res = strcmp(r->method, "POST") ? skw_reply_method(r, "POST") : login_post(r);
	} else if (!strcmp(p, "/logout")) {
		*res = strcmp(r->method, "POST") ? skw_reply_method(r, "POST") : logout(r);
	} else if (!strcmp(p, "/signed-out")) {
		*res = asset(r, 200, "signed-out.html", NULL);
	} else {
		return false;
	}
	return true;
}
