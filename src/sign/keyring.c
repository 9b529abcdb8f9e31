/*
 * keyring.c - the key that encrypts signing secrets at rest.
 *
 * The key never lives in the database: it comes from SKWEBHOOKS_SECRET_KEY
 * or a key file created with mode 0600 on first start. Secrets are sealed
 * with XChaCha20-Poly1305 (random 24-byte nonce || ciphertext+tag), with the
 * webhook id as associated data. The key is held in sodium_malloc'd memory
 * (guarded, locked, wiped on free).
 */
#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../core/err.h"

#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES

struct skw_keyring {
	unsigned char key[SKW_KEYRING_KEY_LEN];
};

static int keyring_from_b64(const char *b64, struct skw_keyring *kr, char *err, size_t err_len,
			    const char *where)
{
	size_t n = 0;
	const char *end;

	if (sodium_base642bin(kr->key, sizeof(kr->key), b64, strlen(b64), " \t\r\n", &n, &end,
			      sodium_base64_VARIANT_ORIGINAL) ||
	    n != SKW_KEYRING_KEY_LEN || *end) {
		snprintf(err, err_len, "%s: expected base64 of %d bytes", where,
			 SKW_KEYRING_KEY_LEN);
		return SKW_EINVAL;
	}
	return 0;
}

static int make_parent_dir(const char *path)
{
	char dir[4096];
	char *slash;

	if (strlen(path) >= sizeof(dir))
		return SKW_EINVAL;
	memcpy(dir, path, strlen(path) + 1);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) && errno != EEXIST)
		return SKW_EIO;
	return 0;
}

static int create_key_file(const char *path, struct skw_keyring *kr, char *err, size_t err_len)
{
	char b64[64];
	int fd, rc = 0;
	size_t len;

	if (make_parent_dir(path)) {
		snprintf(err, err_len, "cannot create the directory of %s: %s", path,
			 strerror(errno));
		return SKW_EIO;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? SKW_ECONFLICT : SKW_EIO;
	randombytes_buf(kr->key, sizeof(kr->key));
	sodium_bin2base64(b64, sizeof(b64), kr->key, sizeof(kr->key),
			  sodium_base64_VARIANT_ORIGINAL);
	len = strlen(b64);
	b64[len++] = '\n';
	if (write(fd, b64, len) != (ssize_t)len || fsync(fd)) {
		snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
		rc = SKW_EIO;
	}
	close(fd);
	sodium_memzero(b64, sizeof(b64));
	if (rc)
		unlink(path);
	return rc;
}

static int read_key_file(const char *path, struct skw_keyring *kr, char *err, size_t err_len)
{
	char buf[128];
	struct stat st;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, err_len, "cannot open key file %s: %s", path, strerror(errno));
		return SKW_EIO;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077)) {
		close(fd);
		snprintf(err, err_len, "key file %s is readable by others; chmod 600 it", path);
		return SKW_EINVAL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		snprintf(err, err_len, "cannot read key file %s", path);
		return SKW_EIO;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	rc = keyring_from_b64(buf, kr, err, err_len, path);
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

int skw_keyring_load(const char *key_file, const char *env_b64, struct skw_keyring **out, char *err,
		     size_t err_len)
{
	struct skw_keyring *kr;
	int rc;

	kr = sodium_malloc(sizeof(*kr));
	if (!kr)
		return SKW_ENOMEM;
	if (env_b64 && *env_b64) {
		rc = keyring_from_b64(env_b64, kr, err, err_len, "SKWEBHOOKS_SECRET_KEY");
	} else {
		rc = create_key_file(key_file, kr, err, err_len);
		if (rc == SKW_ECONFLICT)
			rc = read_key_file(key_file, kr, err, err_len);
		else if (rc == SKW_EIO && !*err)
			snprintf(err, err_len, "cannot create key file %s: %s", key_file,
				 strerror(errno));
	}
	if (rc) {
		sodium_free(kr);
		return rc;
	}
	*out = kr;
	return 0;
}

void skw_keyring_free(struct skw_keyring *kr)
{
	if (kr)
		sodium_free(kr);
}

int skw_secret_seal(const struct skw_keyring *kr, const char *webhook_id, const char *secret,
		    unsigned char **blob, size_t *blob_len)
{
	size_t mlen = strlen(secret);
	unsigned char *b = malloc(NONCE_LEN + mlen + TAG_LEN);
	unsigned long long clen;

	if (!b)
		return SKW_ENOMEM;
	randombytes_buf(b, NONCE_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
	    b + NONCE_LEN, &clen, (const unsigned char *)secret, mlen,
	    (const unsigned char *)webhook_id, strlen(webhook_id), NULL, b, kr->key);
	*blob = b;
	*blob_len = NONCE_LEN + (size_t)clen;
	return 0;
}

int skw_secret_open(const struct skw_keyring *kr, const char *webhook_id, const unsigned char *blob,
		    size_t blob_len, char out[SKW_SECRET_MAX])
{
	unsigned long long mlen;

	if (blob_len < NONCE_LEN + TAG_LEN || blob_len - NONCE_LEN - TAG_LEN >= SKW_SECRET_MAX)
		return SKW_ECRYPTO;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		(unsigned char *)out, &mlen, NULL, blob + NONCE_LEN, blob_len - NONCE_LEN,
		(const unsigned char *)webhook_id, strlen(webhook_id), blob, kr->key))
		return SKW_ECRYPTO;
	out[mlen] = '\0';
	return 0;
}

void skw_keyring_mac(const struct skw_keyring *kr, const char *purpose, const void *msg,
		     size_t msg_len, unsigned char out[32])
{
	crypto_generichash_state st;
	static const unsigned char zero = 0;

	crypto_generichash_init(&st, kr->key, sizeof(kr->key), 32);
	crypto_generichash_update(&st, (const unsigned char *)purpose, strlen(purpose));
	crypto_generichash_update(&st, &zero, 1);
	crypto_generichash_update(&st, msg, msg_len);
	crypto_generichash_final(&st, out, 32);
	sodium_memzero(&st, sizeof(st));
}
