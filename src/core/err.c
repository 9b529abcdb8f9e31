/* err.c - names for enum skw_err. */
#include "err.h"

const char *skw_strerror(int rc)
{
	switch (rc) {
	case SKW_OK:
		return "ok";
	case SKW_ENOMEM:
		return "out of memory";
	case SKW_EINVAL:
		return "invalid argument";
	case SKW_ENOTFOUND:
		return "not found";
	case SKW_ECONFLICT:
		return "conflict";
	case SKW_EIO:
		return "storage error";
	case SKW_ECRYPTO:
		return "decryption failed";
	case SKW_EUNAVAIL:
		return "database unavailable";
	case SKW_ETOOBIG:
		return "too large";
	case SKW_EREVOKED:
		return "API key revoked";
	}
	return "unknown error";
}
