/*
 * metrics.h - process-wide counters for operators, rendered in the
 * Prometheus text format at GET /metrics.
 *
 * Counters are relaxed atomics: any thread may bump them without a lock; a
 * scrape reads each one once (the set is not a consistent snapshot, which
 * Prometheus does not need). Nothing tenant-specific is ever counted here.
 */
#ifndef SKW_CORE_METRICS_H
#define SKW_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum skw_metric {
	SKW_M_HTTP_2XX,
	SKW_M_HTTP_3XX,
	SKW_M_HTTP_4XX,
	SKW_M_HTTP_5XX,
	SKW_M_HTTP_MS_SUM,	 /* request durations, ms */
	SKW_M_EVENTS_ACCEPTED,	 /* new events (replays not counted) */
	SKW_M_DELIVERIES_QUEUED, /* deliveries those events queued */
	SKW_M_ATTEMPTS_OK,
	SKW_M_ATTEMPTS_FAILED,
	SKW_M_ATTEMPT_MS_SUM, /* attempt durations, ms */
	SKW_M_IN_FLIGHT,      /* gauge: attempts in flight now */
	SKW_M_STORE_ERRORS,
	SKW_M_COUNT
};

/* Records the process start; call once from main before threads start. */
void skw_metrics_init(void);
void skw_metric_add(enum skw_metric m, int64_t n);
/* Counts an HTTP answer by status class and its duration. */
void skw_metric_http(unsigned status, int64_t duration_ms);
/* Counts a finished attempt. */
void skw_metric_attempt(int is_success, int64_t duration_ms);

/* Returns the Prometheus text exposition, owned (free()); NULL on ENOMEM. */
char *skw_metrics_render(size_t *len);

#endif
