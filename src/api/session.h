/*
 * session.h - sign-in links and browser sessions for the settings pages.
 *
 * A link carries 256 random bits, is valid for 15 minutes and one use. A
 * session id carries 128 random bits and lives only in an HttpOnly,
 * SameSite=Strict cookie; the store keeps hashes of both. A session lapses
 * after 30 idle minutes and at most 8 hours after sign-in. Its CSRF token is
 * a MAC of the session hash under the server key, so it needs no storage.
 */
#ifndef SKW_API_SESSION_H
#define SKW_API_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "../sign/sign.h"
#include "../store/store.h"

#define SKW_LINK_TTL_MS (15 * 60 * 1000)
#define SKW_SESSION_IDLE_MS (30 * 60 * 1000)
#define SKW_SESSION_MAX_MS (8 * 3600 * 1000)
#define SKW_SESSION_COOKIE "skw_session"
#define SKW_TOKEN_MAX 64

/*
 * Creates a sign-in link for account_id: fills url (base_url + "/login/" +
 * token) and *expires_at. Shared by the API and the CLI.
 */
int skw_login_link_create(struct skw_store *s, const char *account_id, const char *base_url,
			  char *url, size_t url_len, int64_t *expires_at);

/* The hash under which the store keeps a token. */
void skw_token_hash(const char *token, unsigned char out[SKW_TOKEN_HASH_LEN]);

/* The CSRF token (64 hex characters) of the session with this hash. */
void skw_csrf_token(const struct skw_keyring *kr, const unsigned char hash[SKW_TOKEN_HASH_LEN],
		    char out[65]);

#endif
