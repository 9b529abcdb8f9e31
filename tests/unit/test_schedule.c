/*
 * test_schedule.c - the delivery engine's pure policy: defaults, retry
 * schedule parsing, jitter bounds, Retry-After capping, how a finished
 * transfer is judged and worded, and response text sanitising.
 */
#include <curl/curl.h>
#include <errno.h>
#include <string.h>

#include "check.h"
#include "deliver/engine.h"
#include "deliver/policy.h"

#define S 1000LL
#define M (60 * S)
#define H (60 * M)

static void test_defaults(void)
{
	struct skw_engine_config c;
	static const int64_t want[] = {5 * S,  5 * M,  30 * M, 2 * H,  5 * H,
				       10 * H, 10 * H, 14 * H, 20 * H, 24 * H};

	skw_engine_config_defaults(&c);
	CHECK(c.n_retry_schedule == 10);
	for (size_t i = 0; i < 10; i++)
		CHECK(c.retry_schedule[i] == want[i]);
	CHECK(c.jitter > 0.199 && c.jitter < 0.201);
	CHECK(c.max_in_flight == 10000);
	CHECK(c.per_webhook_in_flight == 128);
	CHECK(c.batch == 256);
	CHECK(c.is_worker);
	CHECK(!c.allow_http);
	CHECK(c.node_id == NULL);
	CHECK(c.user_agent && !strncmp(c.user_agent, "skwebhooks/", 11));
}

static void test_parse_schedule(void)
{
	struct skw_engine_config c;

	skw_engine_config_defaults(&c);
	CHECK(skw_engine_parse_schedule(&c, "5s,5m,30m"));
	CHECK(c.n_retry_schedule == 3);
	CHECK(c.retry_schedule[0] == 5 * S);
	CHECK(c.retry_schedule[1] == 5 * M);
	CHECK(c.retry_schedule[2] == 30 * M);

	CHECK(skw_engine_parse_schedule(&c, "250ms"));
	CHECK(c.n_retry_schedule == 1 && c.retry_schedule[0] == 250);

	CHECK(skw_engine_parse_schedule(&c, " 1s , 2h,1d "));
	CHECK(c.n_retry_schedule == 3);
	CHECK(c.retry_schedule[0] == S && c.retry_schedule[1] == 2 * H &&
	      c.retry_schedule[2] == 24 * H);

	/* exactly the maximum number of steps */
	CHECK(skw_engine_parse_schedule(&c,
					"1s,2s,3s,4s,5s,6s,7s,8s,9s,10s,11s,12s,13s,14s,15s,16s"));
	CHECK(c.n_retry_schedule == SKW_RETRY_MAX_STEPS);
	CHECK(c.retry_schedule[15] == 16 * S);
}

static void test_parse_schedule_errors(void)
{
	static const char *const bad[] = {
	    "",
	    ",",
	    "5s,",
	    ",5s",
	    "5s,,5m",
	    "5x",
	    "-5s",
	    "s",
	    "5s;5m",
	    "abc",
	    "1s,2s,3s,4s,5s,6s,7s,8s,9s,10s,11s,12s,13s,14s,15s,16s,17s",
	};
	struct skw_engine_config c;

	skw_engine_config_defaults(&c);
	CHECK(!skw_engine_parse_schedule(&c, NULL));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (skw_engine_parse_schedule(&c, bad[i])) {
			fprintf(stderr, "accepted bad schedule \"%s\"\n", bad[i]);
			check_failures++;
		}
	}
	/* a failed parse leaves the old schedule alone */
	CHECK(c.n_retry_schedule == 10);
	CHECK(c.retry_schedule[0] == 5 * S && c.retry_schedule[9] == 24 * H);
}

static void test_delay_steps(void)
{
	struct skw_engine_config c;

	skw_engine_config_defaults(&c);
	c.jitter = 0;
	CHECK(skw_schedule_delay(&c, 1, 0.9) == 5 * S);
	CHECK(skw_schedule_delay(&c, 2, 0.9) == 5 * M);
	CHECK(skw_schedule_delay(&c, 10, 0.9) == 24 * H);
	/* the last step repeats */
	CHECK(skw_schedule_delay(&c, 11, 0.9) == 24 * H);
	CHECK(skw_schedule_delay(&c, 50, 0.9) == 24 * H);

	CHECK(skw_engine_parse_schedule(&c, "1s,10s"));
	CHECK(skw_schedule_delay(&c, 1, 0.5) == S);
	CHECK(skw_schedule_delay(&c, 2, 0.5) == 10 * S);
	CHECK(skw_schedule_delay(&c, 3, 0.5) == 10 * S);
}

static void test_jitter_bounds(void)
{
	struct skw_engine_config c;
	int64_t lo = INT64_MAX, hi = 0;

	skw_engine_config_defaults(&c);
	/* +-20% of 5 s: 4 s .. 6 s, both ends reached */
	CHECK(skw_schedule_delay(&c, 1, 0.0) == 4000);
	CHECK(skw_schedule_delay(&c, 1, 1.0) == 6000);
	CHECK(skw_schedule_delay(&c, 1, 0.5) == 5000);
	for (int i = 0; i <= 1000; i++) {
		int64_t d = skw_schedule_delay(&c, 3, i / 1000.0);

		if (d < lo)
			lo = d;
		if (d > hi)
			hi = d;
	}
	CHECK(lo == 24 * M);
	CHECK(hi == 36 * M);
	/* out-of-range inputs are clamped, never negative */
	CHECK(skw_schedule_delay(&c, 1, -3.0) == 4000);
	CHECK(skw_schedule_delay(&c, 1, 7.0) == 6000);
	c.jitter = 5.0;
	CHECK(skw_schedule_delay(&c, 1, 0.0) == 0);
	CHECK(skw_schedule_delay(&c, 1, 1.0) == 10000);
	c.jitter = 0.5;
	CHECK(skw_schedule_delay(&c, 1, 0.0) == 2500);
	CHECK(skw_schedule_delay(&c, 1, 1.0) == 7500);
}

static void test_retry_after(void)
{
	/* honoured for 429 and 503 when it asks for longer */
	CHECK(skw_schedule_retry_after(5 * S, 429, 120) == 120 * S);
	CHECK(skw_schedule_retry_after(5 * S, 503, 60) == 60 * S);
	CHECK(skw_schedule_retry_after(5 * M, 503, 60) == 5 * M);
	/* capped at 24 h */
	CHECK(skw_schedule_retry_after(5 * S, 429, 7 * 86400) == 24 * H);
	CHECK(skw_schedule_retry_after(5 * S, 429, INT64_MAX) == 24 * H);
	CHECK(skw_schedule_retry_after(5 * S, 429, 86400) == 24 * H);
	/* ignored for other statuses, and when absent */
	CHECK(skw_schedule_retry_after(5 * S, 500, 120) == 5 * S);
	CHECK(skw_schedule_retry_after(5 * S, 200, 120) == 5 * S);
	CHECK(skw_schedule_retry_after(5 * S, 0, 120) == 5 * S);
	CHECK(skw_schedule_retry_after(5 * S, 429, 0) == 5 * S);
	CHECK(skw_schedule_retry_after(5 * S, 429, -1) == 5 * S);
}

static void test_next(void)
{
	struct skw_engine_config c;
	int64_t now = 1700000000000LL;

	skw_engine_config_defaults(&c);
	c.jitter = 0;
	CHECK(skw_schedule_next(&c, 1, 11, now, 500, 0, 0.3) == now + 5 * S);
	CHECK(skw_schedule_next(&c, 2, 11, now, 0, 0, 0.3) == now + 5 * M);
	CHECK(skw_schedule_next(&c, 10, 11, now, 500, 0, 0.3) == now + 24 * H);
	/* the last attempt is final */
	CHECK(skw_schedule_next(&c, 11, 11, now, 500, 0, 0.3) == 0);
	CHECK(skw_schedule_next(&c, 1, 1, now, 500, 0, 0.3) == 0);
	/* Retry-After stretches the wait, within the cap */
	CHECK(skw_schedule_next(&c, 1, 3, now, 429, 600, 0.3) == now + 600 * S);
	CHECK(skw_schedule_next(&c, 1, 3, now, 503, 999999, 0.3) == now + 24 * H);
	/* ...but never on the last attempt */
	CHECK(skw_schedule_next(&c, 3, 3, now, 429, 600, 0.3) == 0);
}

static bool judge(int curl_code, int os_errno, int status, bool blocked, bool capped,
		  const char *detail, const char *want_error)
{
	struct skw_outcome_in in = {0};
	char err[128];
	bool ok;

	in.curl_code = curl_code;
	in.os_errno = os_errno;
	in.status_code = status;
	in.is_blocked = blocked;
	in.is_body_capped = capped;
	in.timeout_s = 30;
	in.detail = detail;
	memset(err, 'x', sizeof(err));
	ok = skw_outcome_classify(&in, err, sizeof(err));
	CHECK_STR(err, want_error);
	return ok;
}

static void test_classify(void)
{
	CHECK(judge(CURLE_OK, 0, 200, false, false, NULL, ""));
	CHECK(judge(CURLE_OK, 0, 204, false, false, NULL, ""));
	CHECK(judge(CURLE_OK, 0, 299, false, false, NULL, ""));
	/* a big body cut at 64 KiB: the status still decides */
	CHECK(judge(CURLE_WRITE_ERROR, 0, 200, false, true, "Failure writing", ""));
	CHECK(!judge(CURLE_WRITE_ERROR, 0, 500, false, true, NULL, "HTTP 500"));
	CHECK(!judge(CURLE_OK, 0, 500, false, false, NULL, "HTTP 500"));
	CHECK(!judge(CURLE_OK, 0, 404, false, false, NULL, "HTTP 404"));
	CHECK(!judge(CURLE_OK, 0, 199, false, false, NULL, "HTTP 199"));
	CHECK(!judge(CURLE_OK, 0, 302, false, false, NULL, "redirect not followed (HTTP 302)"));
	CHECK(!judge(CURLE_OK, 0, 301, false, false, NULL, "redirect not followed (HTTP 301)"));
	CHECK(!judge(CURLE_OPERATION_TIMEDOUT, 0, 200, false, false, NULL, "timeout after 30 s"));
	CHECK(!judge(CURLE_OPERATION_TIMEDOUT, 0, 0, false, false, NULL, "timeout after 30 s"));
	CHECK(!judge(CURLE_COULDNT_CONNECT, ECONNREFUSED, 0, false, false, NULL,
		     "connection refused"));
	CHECK(!judge(CURLE_COULDNT_CONNECT, 0, 0, true, false, NULL, "blocked address"));
	CHECK(!judge(CURLE_COULDNT_CONNECT, ECONNREFUSED, 0, true, false, NULL, "blocked address"));
	CHECK(!judge(CURLE_COULDNT_CONNECT, ENETUNREACH, 0, false, false, NULL,
		     "network unreachable"));
	CHECK(!judge(CURLE_COULDNT_RESOLVE_HOST, 0, 0, false, false, NULL, "DNS lookup failed"));
	CHECK(!judge(CURLE_RECV_ERROR, 0, 0, false, false, "Recv failure: Connection reset by peer",
		     "connection reset"));
	CHECK(!judge(CURLE_SEND_ERROR, ECONNRESET, 0, false, false, NULL, "connection reset"));
	CHECK(!judge(CURLE_GOT_NOTHING, 0, 0, false, false, NULL,
		     "connection closed without a response"));
	CHECK(!judge(CURLE_PEER_FAILED_VERIFICATION, 0, 0, false, false,
		     "SSL certificate problem: self-signed certificate",
		     "TLS error: SSL certificate problem: self-signed certificate"));
	CHECK(!judge(CURLE_SSL_CONNECT_ERROR, 0, 0, false, false, "handshake failure",
		     "TLS error: handshake failure"));
	CHECK(
	    !judge(CURLE_UNSUPPORTED_PROTOCOL, 0, 0, false, false, NULL, "unsupported URL scheme"));
	/* a WRITE_ERROR we did not cause is a failure */
	CHECK(!judge(CURLE_WRITE_ERROR, 0, 200, false, false, "Failure writing output",
		     "Failure writing output"));
}

static void test_sanitize(void)
{
	char a[] = "hello \xc3\xa9t\xc3\xa9"; /* valid: kept */
	char b[] = "ok\xff\xfe!";	      /* invalid bytes */
	char c[] = "cut \xe2\x82";	      /* euro sign cut short */
	char d[] = "nul\0in";		      /* embedded NUL */
	char e[] = "\xed\xa0\x80x";	      /* UTF-16 surrogate */
	char f[] = "\xf0\x9f\x98\x80";	      /* 4-byte emoji */
	size_t n;

	n = skw_outcome_sanitize(a, sizeof(a) - 1);
	CHECK(n == sizeof(a) - 1 && !memcmp(a, "hello \xc3\xa9t\xc3\xa9", n));
	n = skw_outcome_sanitize(b, sizeof(b) - 1);
	CHECK(n == 5 && !memcmp(b,
				"ok?"
				"?!",
				5));
	n = skw_outcome_sanitize(c, sizeof(c) - 1);
	CHECK(n == 4 && !memcmp(c, "cut ", 4));
	n = skw_outcome_sanitize(d, sizeof(d) - 1);
	CHECK(n == 6 && !memcmp(d, "nul?in", 6));
	n = skw_outcome_sanitize(e, sizeof(e) - 1);
	CHECK(n == 4 && !memcmp(e, "???x", 4));
	n = skw_outcome_sanitize(f, sizeof(f) - 1);
	CHECK(n == 4 && !memcmp(f, "\xf0\x9f\x98\x80", 4));
	CHECK(skw_outcome_sanitize(a, 0) == 0);
}

int main(void)
{
	RUN(test_defaults);
	RUN(test_parse_schedule);
	RUN(test_parse_schedule_errors);
	RUN(test_delay_steps);
	RUN(test_jitter_bounds);
	RUN(test_retry_after);
	RUN(test_next);
	RUN(test_classify);
	RUN(test_sanitize);
	return CHECK_DONE();
}
