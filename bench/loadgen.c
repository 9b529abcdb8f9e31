/*
 * loadgen.c - the benchmark's load generator: POSTs events to
 * /api/v1/events over keep-alive HTTP/1.1 connections, one thread, epoll.
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
 * written: the receiver subtracts it from its own clock to get "event
 * request start to receiver arrival".
 *
 * It speaks just the HTTP/1.1 the service answers with: plain http://, a
 * status line, headers, a Content-Length body; "Connection: close" or a
 * dropped connection makes it reconnect (a dropped request counts as
 * failed). It is written for the machine it shares with the service: a
 * request costs it a write, a read and its share of one epoll_wait.
 *
 * Prints one JSON object on stdout: counts by status, the achieved rate and
 * the request (HTTP round trip) latency percentiles.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "args.h"

#define MAX_CONNS 4096
#define MAX_EVENTS 16
#define BODY_MAX 70000
#define HEAD_MAX 2048
#define IN_MAX 16384

struct conn {
	int fd;
	bool is_busy;
	int64_t start_us;
	char *out; /* the request being written */
	size_t out_len, out_off;
	char in[IN_MAX]; /* the answer being read */
	size_t in_len;
};

struct gen {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int ep;
	char head[HEAD_MAX]; /* the request line and headers up to Content-Length's value */
	uint32_t *lat;
	size_t n_lat, cap_lat;
	long long n_status[600], n_fail;
	struct conn *free[MAX_CONNS]; /* connected and idle */
	int n_free;
	int n_busy;
};

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
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

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* http://HOST[:PORT]/PATH -> the address, the Host header and the path. */
static void parse_url(struct gen *g, const char *url, char *host, size_t host_len, char *path,
		      size_t path_len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	const char *h, *slash, *colon;
	char name[256], port[16] = "80";
	size_t n;

	if (strncmp(url, "http://", 7)) {
		fprintf(stderr, "loadgen: only http:// URLs\n");
		exit(2);
	}
	h = url + 7;
	slash = strchr(h, '/');
	if (!slash)
		slash = h + strlen(h);
	n = (size_t)(slash - h);
	if (n >= host_len || n >= sizeof(name))
		usage();
	memcpy(host, h, n);
	host[n] = '\0';
	snprintf(path, path_len, "%s", *slash ? slash : "/");
	memcpy(name, h, n);
	name[n] = '\0';
	colon = strrchr(name, ':');
	if (colon && !strchr(colon, ']')) {
		snprintf(port, sizeof(port), "%s", colon + 1);
		name[colon - name] = '\0';
	}
	if (name[0] == '[') { /* [v6] */
		memmove(name, name + 1, strlen(name));
		name[strcspn(name, "]")] = '\0';
	}
	if (getaddrinfo(name, port, &hints, &ai)) {
		fprintf(stderr, "loadgen: cannot resolve %s\n", name);
		exit(1);
	}
	memcpy(&g->addr, ai->ai_addr, ai->ai_addrlen);
	g->addr_len = ai->ai_addrlen;
	freeaddrinfo(ai);
}

static void conn_open(struct gen *g, struct conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	int one = 1;

	c->fd = socket(g->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket");
	/* a blocking connect: at start, or after the service dropped one */
	if (connect(c->fd, (struct sockaddr *)&g->addr, g->addr_len))
		die("connect");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	if (epoll_ctl(g->ep, EPOLL_CTL_ADD, c->fd, &ev))
		die("epoll_ctl");
	c->in_len = 0;
	c->is_busy = false;
	g->free[g->n_free++] = c;
}

/* Writes what is left of c's request; waits for EPOLLOUT if the socket is full. */
static bool conn_flush(struct gen *g, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};

			epoll_ctl(g->ep, EPOLL_CTL_MOD, c->fd, &ev);
			return true;
		}
		if (n <= 0)
			return false;
		c->out_off += (size_t)n;
	}
	return true;
}

/* The request on c failed or the service closed c: count it, reconnect. */
static void conn_reset(struct gen *g, struct conn *c, bool is_failed)
{
	if (is_failed)
		g->n_fail++;
	if (c->is_busy)
		g->n_busy--;
	epoll_ctl(g->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	conn_open(g, c);
}

static void record(struct gen *g, struct conn *c, int status)
{
	if (g->n_lat == g->cap_lat) {
		g->cap_lat = g->cap_lat ? g->cap_lat * 2 : 65536;
		g->lat = realloc(g->lat, g->cap_lat * sizeof(*g->lat));
		if (!g->lat)
			die("realloc");
	}
	g->lat[g->n_lat++] = (uint32_t)(mono_us() - c->start_us);
	if (status > 0 && status < 600)
		g->n_status[status]++;
	else
		g->n_fail++;
}

/* Whether the header value from p to the end of its line says "close". */
static bool has_close(const char *p, const char *end)
{
	const char *eol = memchr(p, '\r', (size_t)(end + 2 - p));

	for (; eol && p + 5 <= eol; p++)
		if (!strncasecmp(p, "close", 5))
			return true;
	return false;
}

/* Parses a whole answer at the start of c->in: its length, or 0 while it
 * is incomplete, -1 when it is not HTTP. */
static long answer_len(const struct conn *c, int *status, bool *is_close)
{
	const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
	const char *p;
	long body = 0;

	if (!end)
		return c->in_len == IN_MAX ? -1 : 0;
	if (c->in_len < 12 || strncmp(c->in, "HTTP/1.", 7))
		return -1;
	*status = atoi(c->in + 9);
	*is_close = false;
	for (p = memchr(c->in, '\n', (size_t)(end - c->in)); p && p < end;
	     p = memchr(p, '\n', (size_t)(end - p))) {
		p++;
		if (!strncasecmp(p, "Content-Length:", 15))
			body = atol(p + 15);
		else if (!strncasecmp(p, "Connection:", 11))
			*is_close = has_close(p + 11, end);
		else if (!strncasecmp(p, "Transfer-Encoding:", 18))
			return -1; /* the service never chunks these answers */
	}
	if (end + 4 - c->in + body > IN_MAX)
		return -1;
	if ((size_t)(end + 4 - c->in + body) > c->in_len)
		return 0;
	return end + 4 - c->in + body;
}

static void on_readable(struct gen *g, struct conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->in_len, IN_MAX - c->in_len, 0);
		bool is_close = false;
		int status = 0;
		long len;

		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_reset(g, c, c->is_busy);
			return;
		}
		c->in_len += (size_t)n;
		len = answer_len(c, &status, &is_close);
		if (len < 0 || (len > 0 && !c->is_busy)) {
			conn_reset(g, c, c->is_busy);
			return;
		}
		if (!len)
			continue;
		record(g, c, status);
		memmove(c->in, c->in + len, c->in_len - (size_t)len);
		c->in_len -= (size_t)len;
		c->is_busy = false;
		g->n_busy--;
		if (is_close) {
			conn_reset(g, c, false);
			return;
		}
		g->free[g->n_free++] = c;
		return;
	}
}

static void on_writable(struct gen *g, struct conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

	if (!conn_flush(g, c)) {
		conn_reset(g, c, true);
		return;
	}
	if (c->out_off == c->out_len)
		epoll_ctl(g->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

int main(int argc, char **argv)
{
	const char *url = NULL, *key = NULL, *events_arg = "booking.created";
	char *events_buf, *events[MAX_EVENTS], *padding, host[256], path[512];
	size_t n_events = 0, pad = 0;
	int conns = 32;
	double duration = 10, rate = 0;
	long long count = 0, sent = 0, n_late = 0;
	int64_t start, end, next_due;
	static struct conn slots[MAX_CONNS];
	static struct gen g;
	struct epoll_event evs[256];

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
	if (!url || !key || conns < 1 || conns > MAX_CONNS || pad > BODY_MAX - 1024 ||
	    strlen(key) > 256)
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

	parse_url(&g, url, host, sizeof(host), path, sizeof(path));
	/* the headers libcurl sent when this tool used it, in its order */
	snprintf(g.head, sizeof(g.head),
		 "POST %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\nAuthorization: Bearer %s\r\n"
		 "Content-Type: application/json\r\nContent-Length: ",
		 path, host, key);
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if (g.ep < 0)
		die("epoll_create1");
	for (int i = 0; i < conns; i++) {
		slots[i].out = malloc(HEAD_MAX + 300 + BODY_MAX);
		if (!slots[i].out)
			die("malloc");
		conn_open(&g, &slots[i]);
	}

	start = mono_us();
	end = start + (int64_t)(duration * 1e6);
	next_due = start;
	for (;;) {
		int64_t now = mono_us();
		bool is_done_sending = now >= end || (count && sent >= count);
		int timeout_ms = 50, n;

		while (!is_done_sending && g.n_free && (rate <= 0 || next_due <= now)) {
			struct conn *c = g.free[--g.n_free];
			char body[BODY_MAX + 300];
			int head, len;

			c->start_us = mono_us();
			len = snprintf(body, sizeof(body),
				       "{\"event\":\"%s\",\"data\":{\"t\":%lld,\"seq\":%lld,"
				       "\"pad\":\"%s\"}}",
				       events[sent % (long long)n_events], (long long)c->start_us,
				       sent, padding);
			head = snprintf(c->out, HEAD_MAX + 300, "%s%d\r\n\r\n", g.head, len);
			memcpy(c->out + head, body, (size_t)len);
			c->out_len = (size_t)head + (size_t)len;
			c->out_off = 0;
			c->is_busy = true;
			g.n_busy++;
			sent++;
			if (rate > 0) {
				if (now - next_due > 1000)
					n_late++;
				next_due += (int64_t)(1e6 / rate);
			}
			if (!conn_flush(&g, c))
				conn_reset(&g, c, true);
			is_done_sending = count && sent >= count;
		}
		if (is_done_sending && !g.n_busy)
			break;
		if (rate > 0 && !is_done_sending && g.n_free) {
			/* round up: waking before the next event is due would spin
			 * (a 0 ms timeout) and steal a core from the service */
			int64_t d = (next_due - mono_us() + 999) / 1000;

			timeout_ms = d < 0 ? 0 : d > 50 ? 50 : (int)d;
		}
		if (is_done_sending && mono_us() > end + 60000000)
			break; /* answers that never come (60 s, as the old timeout) */
		n = epoll_wait(g.ep, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout_ms);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (evs[i].events & EPOLLOUT)
				on_writable(&g, c);
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_readable(&g, c);
		}
	}
	{
		double elapsed = (double)(mono_us() - start) / 1e6;
		bool first = true;
		uint32_t *lat = g.lat;
		size_t n_lat = g.n_lat;

		g.n_fail += g.n_busy; /* never answered */
		if (n_lat)
			qsort(lat, n_lat, sizeof(*lat), cmp_u32);
		printf("{\"sent\":%lld,\"failed\":%lld,\"late\":%lld,\"elapsed_s\":%.3f,"
		       "\"rate\":%.1f,\"req_p50_us\":%u,\"req_p99_us\":%u,\"req_max_us\":%u,"
		       "\"status\":{",
		       sent, g.n_fail, n_late, elapsed, (double)sent / elapsed,
		       n_lat ? lat[n_lat / 2] : 0, n_lat ? lat[n_lat * 99 / 100] : 0,
		       n_lat ? lat[n_lat - 1] : 0);
		for (int c = 0; c < 600; c++) {
			if (!g.n_status[c])
				continue;
			printf("%s\"%d\":%lld", first ? "" : ",", c, g.n_status[c]);
			first = false;
		}
		printf("}}\n");
	}
	for (int i = 0; i < conns; i++) {
		close(slots[i].fd);
		free(slots[i].out);
	}
	close(g.ep);
	free(g.lat);
	free(padding);
	free(events_buf);
	return 0;
}
