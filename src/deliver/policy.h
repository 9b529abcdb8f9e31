/*
 * policy.h - the pure decisions of the delivery engine, kept apart from the
 * threads so unit tests can pin them down: when to retry (schedule.c) and
 * how an attempt's outcome is put into words (outcome.c). Nothing here
 * keeps state; every function may run on any thread.
 */
#ifndef SKW_DELIVER_POLICY_H
#define SKW_DELIVER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#define SKW_RETRY_AFTER_CAP_MS (24 * 3600 * 1000LL) /* longest Retry-After honoured */
#define SKW_RESPONSE_MAX (64 * 1024)		    /* body bytes read before the transfer is cut */
#define SKW_RESPONSE_KEEP 1024			    /* body bytes kept for the log */
#define SKW_RECV_BUFFER 1024 /* libcurl's receive buffer per transfer (its minimum) */

/*
 * The send thread starts a transfer only while fewer than SKW_SEND_YOUNG
 * "young" ones are open; the others wait, in order, in its ready list. A
 * transfer is young for its first SKW_SEND_YOUNG_US, unless its webhook's
 * recent answers took SKW_SEND_SLOW_US or longer (an average over its last
 * few attempts, kept in SKW_SEND_HINTS slots): slow and hanging receivers
 * hold the limit for SKW_SEND_YOUNG_US at most, and a far receiver's
 * requests, once it is known to be far, do not count at all. The
 * limit bounds how many quick transfers the thread interleaves, not how
 * many are open (that is --per-webhook-in-flight and --max-in-flight): with
 * hundreds interleaved, each one's libcurl state had gone cold by the time
 * its answer was read, and the thread spent ~25 us per delivery instead of
 * ~14 (docs/PERFORMANCE.md, sixth round).
 */
#define SKW_SEND_YOUNG 32
#define SKW_SEND_YOUNG_US 2000
#define SKW_SEND_SLOW_US 10000
#define SKW_SEND_HINTS 4096 /* a power of two */

/*
 * Delay in ms before the attempt after failed attempt number attempt
 * (1-based): the schedule's step attempt-1, the last step repeating,
 * scaled by 1 + jitter * (2u - 1). u is a uniform random number in [0, 1].
 */
int64_t skw_schedule_delay(const struct skw_engine_config *c, int attempt, double u);

/*
 * Applies a Retry-After of retry_after_s seconds (<= 0: none) to delay_ms:
 * only for HTTP 429 and 503, only when it asks for longer, capped at
 * SKW_RETRY_AFTER_CAP_MS.
 */
int64_t skw_schedule_retry_after(int64_t delay_ms, int status_code, int64_t retry_after_s);

/*
 * When failed attempt number attempt of max_attempts should be retried:
 * now + the (jittered, Retry-After adjusted) delay, or 0 when it was the
 * last one.
 */
int64_t skw_schedule_next(const struct skw_engine_config *c, int attempt, int max_attempts,
			  int64_t now, int status_code, int64_t retry_after_s, double u);

/* What the transfer reported; see skw_outcome_classify. */
struct skw_outcome_in {
	int curl_code;	     /* CURLcode of the finished transfer */
	int os_errno;	     /* CURLINFO_OS_ERRNO */
	int status_code;     /* 0 when no response arrived */
	bool is_blocked;     /* the address guard refused a peer address */
	bool is_body_capped; /* the body passed SKW_RESPONSE_MAX and was cut */
	int timeout_s;
	const char *detail; /* curl's error buffer, may be NULL or empty */
};

/*
 * Decides success (a 2xx that arrived in time) and puts a failure into plain
 * words in error ("connection refused", "HTTP 500", "timeout after 30 s").
 * error is "" on success.
 */
bool skw_outcome_classify(const struct skw_outcome_in *in, char *error, size_t error_len);

/*
 * Makes the first bytes of a response safe to store and show as text, in
 * place: NUL and invalid UTF-8 bytes become '?', a multi-byte character cut
 * at the end is dropped. Returns the new length (<= len).
 */
size_t skw_outcome_sanitize(char *s, size_t len);

#endif
