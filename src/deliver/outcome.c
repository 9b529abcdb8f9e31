/*
 * outcome.c - turns what libcurl reported about one attempt into the
 * user-visible verdict: success or a failure in plain words, and response
 * text that is safe to store and show.
 *
 * Owns no state. Invariant: success means a 2xx status with the transfer
 * either complete or cut by us at SKW_RESPONSE_MAX; every other result is a
 * failure with a non-empty error.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "policy.h"

static bool is_tls_error(CURLcode cc)
{
	switch (cc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_USE_SSL_FAILED:
		return true;
	default:
		return false;
	}
}

static bool mentions(const char *detail, const char *what)
{
	return detail && strcasestr(detail, what);
}

/* The verdict on a response that arrived (complete, or cut by us). */
static bool judge_status(int status, char *error, size_t error_len)
{
	if (status >= 200 && status <= 299) {
		error[0] = '\0';
		return true;
	}
	if (status >= 300 && status <= 399)
		snprintf(error, error_len, "redirect not followed (HTTP %d)", status);
	else if (status == 0)
		snprintf(error, error_len, "no HTTP response");
	else
		snprintf(error, error_len, "HTTP %d", status);
	return false;
}

bool skw_outcome_classify(const struct skw_outcome_in *in, char *error, size_t error_len)
{
	CURLcode cc = (CURLcode)in->curl_code;
	const char *detail = in->detail && in->detail[0] ? in->detail : curl_easy_strerror(cc);

	if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && in->is_body_capped))
		return judge_status(in->status_code, error, error_len);

	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(error, error_len, "timeout after %d s", in->timeout_s);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(error, error_len, "DNS lookup failed");
		break;
	case CURLE_COULDNT_CONNECT:
		if (in->is_blocked)
			snprintf(error, error_len, "blocked address");
		else if (in->os_errno == ECONNREFUSED)
			snprintf(error, error_len, "connection refused");
		else if (in->os_errno == ENETUNREACH)
			snprintf(error, error_len, "network unreachable");
		else if (in->os_errno == EHOSTUNREACH)
			snprintf(error, error_len, "host unreachable");
		else if (in->os_errno == ETIMEDOUT)
			snprintf(error, error_len, "connection timed out");
		else
			snprintf(error, error_len, "could not connect");
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		if (in->os_errno == ECONNRESET || in->os_errno == EPIPE ||
		    mentions(detail, "reset by peer") || mentions(detail, "broken pipe"))
			snprintf(error, error_len, "connection reset");
		else if (mentions(detail, "connection died"))
			/* curl gave up re-sending over fresh connections */
			snprintf(error, error_len, "connection closed without a response");
		else
			snprintf(error, error_len, "connection error: %s", detail);
		break;
	case CURLE_GOT_NOTHING:
		snprintf(error, error_len, "connection closed without a response");
		break;
	case CURLE_PARTIAL_FILE:
		snprintf(error, error_len, "connection closed mid-response");
		break;
	case CURLE_WEIRD_SERVER_REPLY:
		snprintf(error, error_len, "invalid HTTP response");
		break;
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		snprintf(error, error_len, "HTTP/2 error: %s", detail);
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		snprintf(error, error_len, "unsupported URL scheme");
		break;
	case CURLE_URL_MALFORMAT:
		snprintf(error, error_len, "invalid URL");
		break;
	case CURLE_OUT_OF_MEMORY:
		snprintf(error, error_len, "out of memory");
		break;
	default:
		if (is_tls_error(cc))
			snprintf(error, error_len, "TLS error: %s", detail);
		else
			snprintf(error, error_len, "%s", detail);
		break;
	}
	if (!error[0])
		snprintf(error, error_len, "failed");
	return false;
}

/* Length of the valid UTF-8 sequence at s (n bytes left): 1..4; 0 when
 * invalid; -1 when valid so far but cut by the end of the buffer. */
static int utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	int len;

	if (c >= 0x01 && c <= 0x7f)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	for (int i = 1; i < len; i++) {
		if ((size_t)i >= n)
			return -1;
		if (s[i] < lo || s[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return len;
}

size_t skw_outcome_sanitize(char *s, size_t len)
{
	unsigned char *p = (unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		int n = utf8_seq(p + i, len - i);

		if (n < 0)
			return i;
		if (n == 0) {
			p[i++] = '?';
			continue;
		}
		i += (size_t)n;
	}
	return len;
}
