/*
 * loadgen.c - the benchmark's load generator: POSTs events to
 * /api/v1/events over keep-alive connections with one libcurl multi handle.
 *
 *   loadgen --url URL --key KEY [--conns N] [--duration S] [--rate R]
 *           [--count N] [--events a,b,...] [--pad BYTES]
 *
 * Without --rate it is closed-loop: every connection sends its next event
 * as soon as the previous one is answered ("as fast as the service accepts
 * them"). With --rate it is open-loop: event i is due at start + i/rate,
 * sent on a free connection (if none is free it waits and counts as late).
 * --count stops after N events; --duration after S seconds (whichever first).
 * --events names are used round robin (to split events between webhooks).
 *
 * Each body is {"event":NAME,"data":{"t":US,"seq":N,"pad":"..."}}, where
 * US is CLOCK_MONOTONIC in microseconds taken just before the request is
 * handed to libcurl: the receiver subtracts it from its own clock to get
 * "event request start to receiver arrival".
 *
 * Prints one JSON object on stdout: counts by status, the achieved rate and
 * the request (HTTP round trip) latency percentiles.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "args.h"

#define MAX_CONNS 4096
#define MAX_EVENTS 16
#define BODY_MAX 70000

struct slot {
	CURL *h;
	bool is_busy;
	int64_t start_us;
	char body[BODY_MAX];
};

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen --url URL --key KEY [--conns N] [--duration S] "
			"[--rate R] [--count N] [--events a,b] [--pad BYTES]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *url = NULL, *key = NULL, *events_arg = "booking.created";
	char *events_buf, *events[MAX_EVENTS];
	size_t n_events = 0, pad = 0;
	int conns = 32;
	double duration = 10, rate = 0;
	long long count = 0;
	static struct slot slots[MAX_CONNS];
	struct curl_slist *hdrs = NULL;
	char auth[512], *padding;
	uint32_t *lat = NULL;
	size_t n_lat = 0, cap_lat = 0;
	long long sent = 0, n_status[600] = {0}, n_fail = 0, n_late = 0;
	int64_t start, end, next_due;
	CURLM *m;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (i + 1 >= argc)
			usage();
		if (!strcmp(a, "--url"))
			url = argv[++i];
		else if (!strcmp(a, "--key"))
			key = argv[++i];
		else if (!strcmp(a, "--conns"))
			conns = (int)arg_num(argv[++i], 1, 10000);
		else if (!strcmp(a, "--duration"))
			duration = arg_real(argv[++i], 0.001, 86400);
		else if (!strcmp(a, "--rate"))
			rate = arg_real(argv[++i], 0.001, 10000000);
		else if (!strcmp(a, "--count"))
			count = arg_num(argv[++i], 1, 1000000000000LL);
		else if (!strcmp(a, "--events"))
			events_arg = argv[++i];
		else if (!strcmp(a, "--pad"))
			pad = (size_t)arg_num(argv[++i], 0, BODY_MAX - 1024);
		else
			usage();
	}
	if (!url || !key || conns < 1 || conns > MAX_CONNS || pad > BODY_MAX - 1024)
		usage();
	events_buf = strdup(events_arg);
	for (char *p = events_buf, *tok; (tok = strsep(&p, ",")) && n_events < MAX_EVENTS;)
		if (*tok)
			events[n_events++] = tok;
	if (!n_events)
		usage();
	padding = malloc(pad + 1);
	memset(padding, 'x', pad);
	padding[pad] = '\0';

	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
	hdrs = curl_slist_append(hdrs, auth);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	m = curl_multi_init();
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns);
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conns);
	for (int i = 0; i < conns; i++) {
		CURL *h = curl_easy_init();

		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(h, CURLOPT_PRIVATE, &slots[i]);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, slots[i].body);
		slots[i].h = h;
	}

	start = mono_us();
	end = start + (int64_t)(duration * 1e6);
	next_due = start;
	for (;;) {
		int64_t now = mono_us();
		bool is_done_sending = now >= end || (count && sent >= count);
		int running = 0, left, timeout_ms, n_freed = 0;
		CURLMsg *msg;

		bool is_full = !is_done_sending; /* due, but every connection is busy */

		for (int i = 0; i < conns && !is_done_sending; i++) {
			struct slot *s = &slots[i];
			int len;

			if (s->is_busy)
				continue;
			if (rate > 0 && next_due > now) {
				is_full = false;
				break;
			}
			s->start_us = mono_us();
			len = snprintf(s->body, sizeof(s->body),
				       "{\"event\":\"%s\",\"data\":{\"t\":%lld,\"seq\":%lld,"
				       "\"pad\":\"%s\"}}",
				       events[sent % (long long)n_events], (long long)s->start_us,
				       sent, padding);
			curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE, (long)len);
			curl_multi_add_handle(m, s->h);
			s->is_busy = true;
			sent++;
			if (rate > 0) {
				if (now - next_due > 1000)
					n_late++;
				next_due += (int64_t)(1e6 / rate);
			}
			is_done_sending = (count && sent >= count);
		}
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct slot *s = NULL;
			char *priv = NULL;
			long code = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			s = (struct slot *)(void *)priv;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
			if (msg->data.result != CURLE_OK || code <= 0 || code >= 600)
				n_fail++;
			else
				n_status[code]++;
			if (n_lat == cap_lat) {
				cap_lat = cap_lat ? cap_lat * 2 : 65536;
				lat = realloc(lat, cap_lat * sizeof(*lat));
			}
			lat[n_lat++] = (uint32_t)(mono_us() - s->start_us);
			curl_multi_remove_handle(m, msg->easy_handle);
			s->is_busy = false;
			n_freed++;
		}
		if (is_done_sending && !running)
			break;
		/* a connection just freed sends its next event now (or, paced, the
		 * wait below is computed for it), not after the next wake-up */
		if (n_freed && !is_done_sending)
			continue;
		timeout_ms = 50;
		/* all busy: only an answer frees a connection, and poll wakes on it */
		if (rate > 0 && !is_done_sending && !is_full) {
			/* round up: waking before the next event is due would spin
			 * (poll with a 0 ms timeout) and steal a core from the service */
			int64_t d = (next_due - mono_us() + 999) / 1000;

			timeout_ms = d < 0 ? 0 : d > 50 ? 50 : (int)d;
		}
		curl_multi_poll(m, NULL, 0, timeout_ms, NULL);
	}
	{
		double elapsed = (double)(mono_us() - start) / 1e6;
		bool first = true;

		if (n_lat)
			qsort(lat, n_lat, sizeof(*lat), cmp_u32);
		printf("{\"sent\":%lld,\"failed\":%lld,\"late\":%lld,\"elapsed_s\":%.3f,"
		       "\"rate\":%.1f,\"req_p50_us\":%u,\"req_p99_us\":%u,\"req_max_us\":%u,"
		       "\"status\":{",
		       sent, n_fail, n_late, elapsed, (double)sent / elapsed,
		       n_lat ? lat[n_lat / 2] : 0, n_lat ? lat[n_lat * 99 / 100] : 0,
		       n_lat ? lat[n_lat - 1] : 0);
		for (int c = 0; c < 600; c++) {
			if (!n_status[c])
				continue;
			printf("%s\"%d\":%lld", first ? "" : ",", c, n_status[c]);
			first = false;
		}
		printf("}}\n");
	}
	for (int i = 0; i < conns; i++)
		curl_easy_cleanup(slots[i].h);
	curl_multi_cleanup(m);
	curl_slist_free_all(hdrs);
	curl_global_cleanup();
	free(lat);
	free(padding);
	free(events_buf);
	return 0;
}
