/*
 * session.c - see session.h.
 */
#include "session.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "../core/err.h"

void skw_token_hash(const char *token, unsigned char out[SKW_TOKEN_HASH_LEN])
{
	static const unsigned char domain[] = "skwebhooks token v1";

	crypto_generichash(out, SKW_TOKEN_HASH_LEN, (const unsigned char *)token, strlen(token),
			   domain, sizeof(domain) - 1);
}

void skw_csrf_token(const struct skw_keyring *kr, const unsigned char hash[SKW_TOKEN_HASH_LEN],
		    char out[65])
{
	unsigned char mac[32];

	skw_keyring_mac(kr, "csrf", hash, SKW_TOKEN_HASH_LEN, mac);
	skw_hex(mac, sizeof(mac), out);
}

int skw_login_link_create(struct skw_store *s, const char *account_id, const char *base_url,
			  char *url, size_t url_len, int64_t *expires_at)
{
	unsigned char raw[32], hash[SKW_TOKEN_HASH_LEN];
	char token[SKW_TOKEN_MAX];
	size_t blen = strlen(base_url);
	int64_t now = skw_now_ms();
	int rc;

	while (blen && base_url[blen - 1] == '/')
		blen--;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(token, sizeof(token), raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	skw_token_hash(token, hash);
	*expires_at = now + SKW_LINK_TTL_MS;
	rc = skw_store_login_link_insert(s, hash, account_id, now, *expires_at);
	if (!rc &&
	    (size_t)snprintf(url, url_len, "%.*s/login/%s", (int)blen, base_url, token) >= url_len)
		rc = SKW_ETOOBIG;
	sodium_memzero(token, sizeof(token));
	return rc;
}
