/*
 * sign.h - webhook signatures, signing secrets, API keys and the keyring that
 * encrypts secrets at rest.
 *
 * All randomness and crypto is libsodium's; sodium_init() must have run.
 */
#ifndef SKW_SIGN_SIGN_H
#define SKW_SIGN_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#define SKW_SIG_HEX_LEN 64 /* lowercase hex of HMAC-SHA256 */
#define SKW_SECRET_MAX 64  /* "whsec_" + base64(32 bytes) + NUL fits */
#define SKW_APIKEY_MAX 64  /* "skw_" + base64url(24 bytes) + NUL fits */
#define SKW_KEYRING_KEY_LEN 32

/* out = lowercase hex of HMAC-SHA256(key = secret as typed, message = body). */
void skw_sign_hex(const char *secret, const void *body, size_t body_len,
		  char out[SKW_SIG_HEX_LEN + 1]);
/* True when sig_hex is the right signature; compares in constant time. */
bool skw_sign_verify(const char *secret, const void *body, size_t body_len, const char *sig_hex);

/* A new signing secret: "whsec_" + standard base64 of 32 random bytes. */
void skw_secret_generate(char out[SKW_SECRET_MAX]);

/* A new API key: "skw_" + URL-safe base64 (no padding) of 24 random bytes. */
void skw_apikey_generate(char out[SKW_APIKEY_MAX]);
/* The stored form of a key: BLAKE2b-256 of the key, keyed with a fixed
 * domain string. The key has 192 random bits, so no slow hash is needed. */
void skw_apikey_hash(const char *key, unsigned char out[32]);

/*
 * The keyring: one 32-byte key that seals signing secrets with
 * XChaCha20-Poly1305, the webhook id as associated data (a sealed secret
 * moved to another row does not open).
 */
struct skw_keyring;

/*
 * Loads the key from env_b64 (base64 of 32 bytes) when non-NULL, else from
 * key_file, creating that file (mode 0600, its directory too) with a random
 * key when it does not exist. Returns owned *out (skw_keyring_free).
 */
int skw_keyring_load(const char *key_file, const char *env_b64, struct skw_keyring **out, char *err,
		     size_t err_len);
void skw_keyring_free(struct skw_keyring *kr);

/* out = BLAKE2b-256 keyed with the keyring's key, over purpose, a zero byte
 * and msg: a server-side MAC (e.g. CSRF tokens bound to a session). */
void skw_keyring_mac(const struct skw_keyring *kr, const char *purpose, const void *msg,
		     size_t msg_len, unsigned char out[32]);

/* Returns owned *blob (free()). */
int skw_secret_seal(const struct skw_keyring *kr, const char *webhook_id, const char *secret,
		    unsigned char **blob, size_t *blob_len);
/* Opens a sealed secret into out (NUL-terminated). SKW_ECRYPTO when the
 * blob was tampered with, moved, or sealed under another key. */
int skw_secret_open(const struct skw_keyring *kr, const char *webhook_id, const unsigned char *blob,
		    size_t blob_len, char out[SKW_SECRET_MAX]);

#endif
