/*
 * metrics.c - see metrics.h. The counter array is the only global mutable
 * state; every access is an atomic operation, so it needs no lock.
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

static _Atomic int64_t counters[SKW_M_COUNT];
static _Atomic int64_t started_at_ms;

void skw_metric_add(enum skw_metric m, int64_t n)
{
	atomic_fetch_add_explicit(&counters[m], n, memory_order_relaxed);
}

void skw_metric_http(unsigned status, int64_t duration_ms)
{
	enum skw_metric m = status >= 500   ? SKW_M_HTTP_5XX
			    : status >= 400 ? SKW_M_HTTP_4XX
			    : status >= 300 ? SKW_M_HTTP_3XX
					    : SKW_M_HTTP_2XX;

	skw_metric_add(m, 1);
	skw_metric_add(SKW_M_HTTP_MS_SUM, duration_ms);
}

void skw_metric_attempt(int is_success, int64_t duration_ms)
{
	skw_metric_add(is_success ? SKW_M_ATTEMPTS_OK : SKW_M_ATTEMPTS_FAILED, 1);
	skw_metric_add(SKW_M_ATTEMPT_MS_SUM, duration_ms);
}

static int64_t get(enum skw_metric m)
{
	return atomic_load_explicit(&counters[m], memory_order_relaxed);
}

char *skw_metrics_render(size_t *len)
{
	int64_t h2 = get(SKW_M_HTTP_2XX), h3 = get(SKW_M_HTTP_3XX), h4 = get(SKW_M_HTTP_4XX),
		h5 = get(SKW_M_HTTP_5XX), ok = get(SKW_M_ATTEMPTS_OK),
		bad = get(SKW_M_ATTEMPTS_FAILED);
	int64_t start = atomic_load_explicit(&started_at_ms, memory_order_relaxed);
	size_t cap = 4096;
	char *out = malloc(cap);
	int n;

	if (!start) {
		/* first scrape without a recorded start: the process start is near */
		start = skw_now_ms();
		atomic_store_explicit(&started_at_ms, start, memory_order_relaxed);
	}
	if (!out)
		return NULL;
	n = snprintf(
	    out, cap,
	    "# HELP skwebhooks_build_info The running version.\n"
	    "# TYPE skwebhooks_build_info gauge\n"
	    "skwebhooks_build_info{version=\"%s\"} 1\n"
	    "# HELP skwebhooks_start_time_seconds When this process started.\n"
	    "# TYPE skwebhooks_start_time_seconds gauge\n"
	    "skwebhooks_start_time_seconds %.3f\n"
	    "# HELP skwebhooks_http_requests_total HTTP requests answered, by status class.\n"
	    "# TYPE skwebhooks_http_requests_total counter\n"
	    "skwebhooks_http_requests_total{code=\"2xx\"} %lld\n"
	    "skwebhooks_http_requests_total{code=\"3xx\"} %lld\n"
	    "skwebhooks_http_requests_total{code=\"4xx\"} %lld\n"
	    "skwebhooks_http_requests_total{code=\"5xx\"} %lld\n"
	    "# HELP skwebhooks_http_request_duration_ms_sum Time spent answering HTTP requests.\n"
	    "# TYPE skwebhooks_http_request_duration_ms_sum counter\n"
	    "skwebhooks_http_request_duration_ms_sum %lld\n"
	    "# HELP skwebhooks_events_accepted_total Events reported and stored (replays not "
	    "counted).\n"
	    "# TYPE skwebhooks_events_accepted_total counter\n"
	    "skwebhooks_events_accepted_total %lld\n"
	    "# HELP skwebhooks_deliveries_queued_total Deliveries queued by those events.\n"
	    "# TYPE skwebhooks_deliveries_queued_total counter\n"
	    "skwebhooks_deliveries_queued_total %lld\n"
	    "# HELP skwebhooks_attempts_total Delivery attempts made by this node, by outcome.\n"
	    "# TYPE skwebhooks_attempts_total counter\n"
	    "skwebhooks_attempts_total{outcome=\"succeeded\"} %lld\n"
	    "skwebhooks_attempts_total{outcome=\"failed\"} %lld\n"
	    "# HELP skwebhooks_attempt_duration_ms_sum Time spent in delivery attempts.\n"
	    "# TYPE skwebhooks_attempt_duration_ms_sum counter\n"
	    "skwebhooks_attempt_duration_ms_sum %lld\n"
	    "# HELP skwebhooks_attempts_in_flight Delivery attempts in flight now.\n"
	    "# TYPE skwebhooks_attempts_in_flight gauge\n"
	    "skwebhooks_attempts_in_flight %lld\n"
	    "# HELP skwebhooks_store_errors_total Database errors seen.\n"
	    "# TYPE skwebhooks_store_errors_total counter\n"
	    "skwebhooks_store_errors_total %lld\n",
	    SKW_VERSION, (double)start / 1000.0, (long long)h2, (long long)h3, (long long)h4,
	    (long long)h5, (long long)get(SKW_M_HTTP_MS_SUM), (long long)get(SKW_M_EVENTS_ACCEPTED),
	    (long long)get(SKW_M_DELIVERIES_QUEUED), (long long)ok, (long long)bad,
	    (long long)get(SKW_M_ATTEMPT_MS_SUM), (long long)get(SKW_M_IN_FLIGHT),
	    (long long)get(SKW_M_STORE_ERRORS));
	if (n < 0 || (size_t)n >= cap) {
		free(out);
		return NULL;
	}
	*len = (size_t)n;
	return out;
}

void skw_metrics_init(void)
{
	atomic_store_explicit(&started_at_ms, skw_now_ms(), memory_order_relaxed);
}
