/*
 * sign.c - HMAC-SHA256 signatures, signing secrets and API keys.
 *
 * Owns no state. The signature key is the signing secret exactly as the
 * user sees it (the whole "whsec_..." string), so receivers can verify with
 * a few lines in any language.
 */
#include "sign.h"

#include <string.h>

#include <sodium.h>

#include "../core/util.h"

void skw_sign_hex(const char *secret, const void *body, size_t body_len,
		  char out[SKW_SIG_HEX_LEN + 1])
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&st, body, body_len);
	crypto_auth_hmacsha256_final(&st, mac);
	skw_hex(mac, sizeof(mac), out);
	sodium_memzero(&st, sizeof(st));
}

bool skw_sign_verify(const char *secret, const void *body, size_t body_len, const char *sig_hex)
{
	char want[SKW_SIG_HEX_LEN + 1];

	if (!sig_hex || strlen(sig_hex) != SKW_SIG_HEX_LEN)
		return false;
	skw_sign_hex(secret, body, body_len, want);
	return sodium_memcmp(want, sig_hex, SKW_SIG_HEX_LEN) == 0;
}

void skw_secret_generate(char out[SKW_SECRET_MAX])
{
	unsigned char raw[32];

	memcpy(out, "whsec_", 6);
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out + 6, SKW_SECRET_MAX - 6, raw, sizeof(raw),
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(raw, sizeof(raw));
}

void skw_apikey_generate(char out[SKW_APIKEY_MAX])
{
	unsigned char raw[24];

	memcpy(out, "skw_", 4);
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out + 4, SKW_APIKEY_MAX - 4, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

void skw_apikey_hash(const char *key, unsigned char out[32])
{
	static const unsigned char domain[] = "skwebhooks api key v1";

	crypto_generichash(out, 32, (const unsigned char *)key, strlen(key), domain,
			   sizeof(domain) - 1);
}
