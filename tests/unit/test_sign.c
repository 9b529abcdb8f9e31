/* test_sign.c - signatures against a known vector, secrets, API key hashing,
 * and the keyring: round trip, tamper detection, wrong key, wrong row. */
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/err.h"
#include "sign/sign.h"

static void test_hmac_vector(void)
{
	/* RFC 4231 test case 2: key "Jefe", "what do ya want for nothing?" */
	char hex[SKW_SIG_HEX_LEN + 1];
	const char *msg = "what do ya want for nothing?";

	skw_sign_hex("Jefe", msg, strlen(msg), hex);
	CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	CHECK(skw_sign_verify("Jefe", msg, strlen(msg), hex));
	hex[0] = hex[0] == '0' ? '1' : '0';
	CHECK(!skw_sign_verify("Jefe", msg, strlen(msg), hex));
	CHECK(!skw_sign_verify("Jefe", msg, strlen(msg), "abc"));
}

static void test_secret_format(void)
{
	char a[SKW_SECRET_MAX], b[SKW_SECRET_MAX];
	unsigned char raw[64];
	size_t n = 0;

	skw_secret_generate(a);
	skw_secret_generate(b);
	CHECK(!strncmp(a, "whsec_", 6));
	CHECK(strcmp(a, b) != 0);
	CHECK(sodium_base642bin(raw, sizeof(raw), a + 6, strlen(a + 6), NULL, &n, NULL,
				sodium_base64_VARIANT_ORIGINAL) == 0);
	CHECK(n == 32);
}

static void test_apikey(void)
{
	char k1[SKW_APIKEY_MAX], k2[SKW_APIKEY_MAX];
	unsigned char h1[32], h2[32], h1b[32];

	skw_apikey_generate(k1);
	skw_apikey_generate(k2);
	CHECK(!strncmp(k1, "skw_", 4));
	CHECK(strlen(k1) == 4 + 32); /* 24 bytes = 192 bits */
	skw_apikey_hash(k1, h1);
	skw_apikey_hash(k1, h1b);
	skw_apikey_hash(k2, h2);
	CHECK(!memcmp(h1, h1b, 32));
	CHECK(memcmp(h1, h2, 32) != 0);
}

static void test_keyring(void)
{
	char dir[] = "/tmp/skw-sign-XXXXXX";
	char path[256], out[SKW_SECRET_MAX], err[256] = "";
	struct skw_keyring *kr = NULL, *kr2 = NULL, *other = NULL;
	unsigned char *blob = NULL;
	size_t len = 0;
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/sub/key", dir);
	CHECK(skw_keyring_load(path, NULL, &kr, err, sizeof(err)) == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(skw_secret_seal(kr, "wh_1", "whsec_hello", &blob, &len) == 0);
	CHECK(memmem(blob, len, "whsec_hello", 11) == NULL);
	CHECK(skw_secret_open(kr, "wh_1", blob, len, out) == 0);
	CHECK_STR(out, "whsec_hello");
	/* the same file loads the same key */
	CHECK(skw_keyring_load(path, NULL, &kr2, err, sizeof(err)) == 0);
	CHECK(skw_secret_open(kr2, "wh_1", blob, len, out) == 0);
	/* moved to another row: refused */
	CHECK(skw_secret_open(kr, "wh_2", blob, len, out) == SKW_ECRYPTO);
	/* tampered: refused */
	blob[len - 1] ^= 1;
	CHECK(skw_secret_open(kr, "wh_1", blob, len, out) == SKW_ECRYPTO);
	blob[len - 1] ^= 1;
	/* another key (from the environment): refused */
	CHECK(skw_keyring_load(path, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &other, err,
			       sizeof(err)) == 0);
	CHECK(skw_secret_open(other, "wh_1", blob, len, out) == SKW_ECRYPTO);
	/* bad environment key */
	CHECK(skw_keyring_load(path, "short", &kr2 /* unchanged on error */, err, sizeof(err)) ==
	      SKW_EINVAL);
	/* a key file others can read is refused */
	chmod(path, 0644);
	{
		struct skw_keyring *k3 = NULL;

		CHECK(skw_keyring_load(path, NULL, &k3, err, sizeof(err)) == SKW_EINVAL);
		skw_keyring_free(k3);
	}
	unlink(path);
	free(blob);
	skw_keyring_free(kr);
	skw_keyring_free(kr2);
	skw_keyring_free(other);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_hmac_vector);
	RUN(test_secret_format);
	RUN(test_apikey);
	RUN(test_keyring);
	return CHECK_DONE();
}
