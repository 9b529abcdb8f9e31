/*
 * err.h - the error codes every skwebhooks function returns.
 *
 * Actions return 0 or a negative enum skw_err. Human-readable detail, when
 * there is any, goes into an optional caller-supplied buffer.
 */
#ifndef SKW_CORE_ERR_H
#define SKW_CORE_ERR_H

enum skw_err {
	SKW_OK = 0,
	SKW_ENOMEM = -1,    /* allocation failed */
	SKW_EINVAL = -2,    /* bad argument or input */
	SKW_ENOTFOUND = -3, /* no such row (or not this account's) */
	SKW_ECONFLICT = -4, /* unique constraint, idempotency mismatch */
	SKW_EIO = -5,	    /* database or file error */
	SKW_ECRYPTO = -6,   /* decryption failed: wrong key or tampered */
	SKW_EUNAVAIL = -7,  /* database unreachable; try again later */
	SKW_ETOOBIG = -8,   /* input over a configured limit */
	SKW_EREVOKED = -9,  /* the API key was revoked (or deleted) meanwhile */
};

/* Returns a static, human-readable name for rc. */
const char *skw_strerror(int rc);

#endif
