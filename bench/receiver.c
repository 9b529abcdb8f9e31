/*
 * receiver.c - the benchmark's webhook receiver: a small epoll HTTP/1.1
 * keep-alive server that answers as fast as the machine allows.
 *
 *   receiver [--port N] [--threads N] [--slow-ms N] [--port-file PATH]
 *            [--tls-cert PEM --tls-key PEM]
 *
 * With --tls-cert and --tls-key it speaks HTTPS instead (OpenSSL,
 * non-blocking handshakes on the same epoll loop): the suite's HTTPS
 * memory row holds its requests open on /hang/ over TLS.
 *
 * Behaviour by path (the first segment is the "class"):
 *   /hang/...    reads the request and never answers (a receiver that
 *                accepts connections and then hangs)
 *   /slow/...    answers 200 after --slow-ms (default 10000)
 *   /__stats     GET: JSON with counts per path, open hung connections,
 *                the last body length, and latency per class
 *   /__reset     POST: zeroes every counter and latency sample
 *   anything else: 200 with an empty body at once
 *
 * Latency: when the body contains "t":<microseconds of CLOCK_MONOTONIC>
 * (the load generator puts it in the event's data when it starts the event
 * request), the receiver records now - t for the path's class, so the
 * suite measures "event request start to receiver arrival" without
 * correlating ids across processes.
 *
 * Threads: each of --threads has its own SO_REUSEPORT listener and epoll
 * set, and its own counters under its own mutex (uncontended except while
 * /__stats or /__reset reads or clears them from another thread).
 *
 * Only Content-Length bodies are understood (curl and wrk send them);
 * anything malformed closes the connection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "args.h"

#define MAX_PATHS 1024
#define MAX_CLASSES 16
#define PATH_MAX_LEN 96
#define BUF_MAX (1024 * 1024) /* largest request kept in memory */
#define MAX_THREADS 64

struct path_count {
	char path[PATH_MAX_LEN];
	uint64_t n;
};

struct lat_class {
	char name[32];
	uint32_t *us; /* samples, microseconds */
	size_t n, cap;
	uint64_t max_us;
};

struct conn {
	int fd;
	SSL *ssl;	    /* with --tls-cert, else NULL */
	bool is_handshaken; /* TLS: the handshake is done */
	char *buf;
	size_t len, cap;
	char *out;
	size_t out_len, out_off, out_cap;
	bool is_hung;	/* a /hang request: never answered */
	bool is_slow;	/* waiting for its delayed answer */
	bool is_close;	/* close after the pending answer */
	int64_t due_us; /* of the delayed answer */
	struct conn *slow_next;
};

struct worker {
	pthread_t thread;
	int lfd, ep;
	pthread_mutex_t mu; /* guards everything below */
	struct path_count paths[MAX_PATHS];
	size_t n_paths;
	struct lat_class classes[MAX_CLASSES];
	size_t n_classes;
	uint64_t total;
	uint64_t hung_now; /* open connections holding a /hang request */
	size_t last_body_len;
	/* the delayed answers, due in order (one delay for all) */
	struct conn *slow_head, *slow_tail;
};

static struct worker workers[MAX_THREADS];
static int n_workers = 1;
static int64_t slow_ms = 10000;
static SSL_CTX *tls_ctx; /* with --tls-cert and --tls-key */

/* The result of an OpenSSL call r that did not succeed, as read(2) would
 * say it: -1 with errno EAGAIN when it would block, 0 when the connection
 * is closed or failed. */
static ssize_t ssl_result(struct conn *c, int r)
{
	r = SSL_get_error(c->ssl, r);
	errno = EAGAIN;
	return r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE ? -1 : 0;
}

/* read(2) or, over TLS, the handshake and then SSL_read: > 0 bytes, 0 when
 * the peer closed or failed, -1 with errno EAGAIN when it would block. */
static ssize_t conn_read(struct conn *c, char *buf, size_t len)
{
	int r;

	if (!c->ssl)
		return read(c->fd, buf, len);
	if (!c->is_handshaken) {
		r = SSL_do_handshake(c->ssl);
		if (r != 1)
			return ssl_result(c, r);
		c->is_handshaken = true;
	}
	r = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	return r > 0 ? r : ssl_result(c, r);
}

/* write(2) or SSL_write, as conn_read. */
static ssize_t conn_write(struct conn *c, const char *buf, size_t len)
{
	int r;

	if (!c->ssl)
		return write(c->fd, buf, len);
	r = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	return r > 0 ? r : ssl_result(c, r);
}

static SSL_CTX *tls_setup(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return NULL;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return ctx;
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- counters (caller holds w->mu) ------------------------------------ */

static void count_path(struct worker *w, const char *path, size_t len)
{
	if (len >= PATH_MAX_LEN)
		len = PATH_MAX_LEN - 1;
	for (size_t i = 0; i < w->n_paths; i++) {
		if (!strncmp(w->paths[i].path, path, len) && !w->paths[i].path[len]) {
			w->paths[i].n++;
			return;
		}
	}
	if (w->n_paths == MAX_PATHS)
		return;
	memcpy(w->paths[w->n_paths].path, path, len);
	w->paths[w->n_paths].path[len] = '\0';
	w->paths[w->n_paths].n = 1;
	w->n_paths++;
}

static void record_latency(struct worker *w, const char *cls, size_t cls_len, int64_t us)
{
	struct lat_class *c = NULL;

	if (us < 0)
		us = 0;
	if (cls_len >= sizeof(c->name))
		cls_len = sizeof(c->name) - 1;
	for (size_t i = 0; i < w->n_classes; i++) {
		if (!strncmp(w->classes[i].name, cls, cls_len) && !w->classes[i].name[cls_len]) {
			c = &w->classes[i];
			break;
		}
	}
	if (!c) {
		if (w->n_classes == MAX_CLASSES)
			return;
		c = &w->classes[w->n_classes++];
		memcpy(c->name, cls, cls_len);
		c->name[cls_len] = '\0';
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 65536;
		uint32_t *p = realloc(c->us, cap * sizeof(*p));

		if (!p)
			return;
		c->us = p;
		c->cap = cap;
	}
	c->us[c->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	if ((uint64_t)us > c->max_us)
		c->max_us = (uint64_t)us;
}

/* ---- output ------------------------------------------------------------ */

static int out_append(struct conn *c, const char *p, size_t len)
{
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *n;

		while (cap < c->out_len + len)
			cap *= 2;
		n = realloc(c->out, cap);
		if (!n)
			return -1;
		c->out = n;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, len);
	c->out_len += len;
	return 0;
}

/* Writes what is pending; -1 when the connection is dead. */
static int out_flush(struct worker *w, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = conn_write(c, c->out + c->out_off, c->out_len - c->out_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};

			epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
			return 0;
		}
		if (n <= 0)
			return -1;
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

static const char ok_reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

/* ---- /__stats ------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_printf(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(s->p ? s->p + s->len : NULL, s->p ? s->cap - s->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (s->p && s->len + (size_t)n < s->cap) {
			s->len += (size_t)n;
			return;
		}
		size_t cap = s->cap ? s->cap * 2 : 4096;
		while (cap < s->len + (size_t)n + 1)
			cap *= 2;
		char *q = realloc(s->p, cap);
		if (!q)
			return;
		s->p = q;
		s->cap = cap;
	}
}

static void stats_json(struct sbuf *s)
{
	struct path_count *paths = calloc(MAX_PATHS, sizeof(*paths));
	size_t n_paths = 0;
	uint64_t total = 0, hung = 0;
	size_t body_len = 0;
	char names[MAX_CLASSES][32];
	size_t n_names = 0;

	if (!paths)
		return;
	/* merge the paths and collect the class names */
	for (int t = 0; t < n_workers; t++) {
		struct worker *w = &workers[t];

		pthread_mutex_lock(&w->mu);
		total += w->total;
		hung += w->hung_now;
		if (w->last_body_len)
			body_len = w->last_body_len;
		for (size_t i = 0; i < w->n_paths; i++) {
			size_t k;

			for (k = 0; k < n_paths; k++)
				if (!strcmp(paths[k].path, w->paths[i].path))
					break;
			if (k == n_paths) {
				if (n_paths == MAX_PATHS)
					continue;
				paths[n_paths++] = w->paths[i];
			} else {
				paths[k].n += w->paths[i].n;
			}
		}
		for (size_t i = 0; i < w->n_classes; i++) {
			size_t k;

			for (k = 0; k < n_names; k++)
				if (!strcmp(names[k], w->classes[i].name))
					break;
			if (k == n_names && n_names < MAX_CLASSES)
				memcpy(names[n_names++], w->classes[i].name, 32);
		}
		pthread_mutex_unlock(&w->mu);
	}
	sb_printf(s, "{\"total\":%llu,\"hung_now\":%llu,\"body_len\":%zu,\"paths\":{",
		  (unsigned long long)total, (unsigned long long)hung, body_len);
	for (size_t i = 0; i < n_paths; i++)
		sb_printf(s, "%s\"%s\":%llu", i ? "," : "", paths[i].path,
			  (unsigned long long)paths[i].n);
	sb_printf(s, "},\"latency_us\":{");
	for (size_t k = 0; k < n_names; k++) {
		uint32_t *all = NULL;
		size_t n = 0;
		uint64_t max = 0;

		for (int t = 0; t < n_workers; t++) {
			struct worker *w = &workers[t];

			pthread_mutex_lock(&w->mu);
			for (size_t i = 0; i < w->n_classes; i++) {
				struct lat_class *c = &w->classes[i];
				uint32_t *p;

				if (strcmp(c->name, names[k]) || !c->n)
					continue;
				p = realloc(all, (n + c->n) * sizeof(*p));
				if (!p)
					continue;
				all = p;
				memcpy(all + n, c->us, c->n * sizeof(*p));
				n += c->n;
				if (c->max_us > max)
					max = c->max_us;
			}
			pthread_mutex_unlock(&w->mu);
		}
		if (n)
			qsort(all, n, sizeof(*all), cmp_u32);
		sb_printf(s, "%s\"%s\":{\"n\":%zu,\"p50\":%u,\"p90\":%u,\"p99\":%u,\"max\":%llu}",
			  k ? "," : "", names[k], n, n ? all[n / 2] : 0, n ? all[n * 9 / 10] : 0,
			  n ? all[n * 99 / 100] : 0, (unsigned long long)max);
		free(all);
	}
	sb_printf(s, "}}\n");
	free(paths);
}

static void stats_reset(void)
{
	for (int t = 0; t < n_workers; t++) {
		struct worker *w = &workers[t];

		pthread_mutex_lock(&w->mu);
		w->n_paths = 0;
		w->total = 0;
		for (size_t i = 0; i < w->n_classes; i++) {
			w->classes[i].n = 0;
			w->classes[i].max_us = 0;
		}
		pthread_mutex_unlock(&w->mu);
	}
}

/* ---- requests --------------------------------------------------------- */

/* Value of Content-Length in the header block [h, end), or -1 if absent. */
static long long content_length(const char *h, const char *end, bool *is_close)
{
	long long cl = -1;

	*is_close = false;
	while (h < end) {
		const char *eol = memchr(h, '\n', (size_t)(end - h));
		size_t n = eol ? (size_t)(eol - h) : (size_t)(end - h);

		if (n > 15 && !strncasecmp(h, "content-length:", 15))
			cl = strtoll(h + 15, NULL, 10);
		else if (n > 11 && !strncasecmp(h, "connection:", 11) && memmem(h, n, "close", 5))
			*is_close = true;
		else if (n > 18 && !strncasecmp(h, "transfer-encoding:", 18))
			return -2;
		h += n + 1;
	}
	return cl;
}

/* Handles the complete requests in c->buf. -1: close the connection. */
static int handle_input(struct worker *w, struct conn *c)
{
	size_t off = 0;

	while (!c->is_hung && !c->is_slow && off < c->len) {
		char *req = c->buf + off;
		size_t avail = c->len - off;
		char *hend = memmem(req, avail, "\r\n\r\n", 4);
		char *sp1, *sp2, *body, *q;
		size_t path_len, hdr_len, cls_len;
		long long cl;
		bool is_close;

		if (!hend)
			break;
		hdr_len = (size_t)(hend - req) + 4;
		sp1 = memchr(req, ' ', hdr_len);
		if (!sp1)
			return -1;
		sp2 = memchr(sp1 + 1, ' ', hdr_len - (size_t)(sp1 + 1 - req));
		if (!sp2)
			return -1;
		cl = content_length(memchr(req, '\n', hdr_len) + 1, hend + 2, &is_close);
		if (cl == -2 || cl > BUF_MAX)
			return -1;
		if (cl < 0)
			cl = 0;
		if (avail < hdr_len + (size_t)cl)
			break;
		body = req + hdr_len;
		off += hdr_len + (size_t)cl;
		c->is_close = is_close;

		path_len = (size_t)(sp2 - sp1 - 1);
		q = memchr(sp1 + 1, '?', path_len);
		if (q)
			path_len = (size_t)(q - sp1 - 1);
		if (path_len >= 7 && !strncmp(sp1 + 1, "/__stats", 8)) {
			struct sbuf s = {0};
			char head[128];
			int n;

			stats_json(&s);
			n = snprintf(head, sizeof(head),
				     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				     "Content-Length: %zu\r\n\r\n",
				     s.len);
			if (out_append(c, head, (size_t)n) || out_append(c, s.p, s.len)) {
				free(s.p);
				return -1;
			}
			free(s.p);
			continue;
		}
		if (path_len >= 7 && !strncmp(sp1 + 1, "/__reset", 8)) {
			stats_reset();
			if (out_append(c, ok_reply, sizeof(ok_reply) - 1))
				return -1;
			continue;
		}
		/* the class: the first path segment */
		cls_len = 0;
		while (cls_len + 2 <= path_len && sp1[2 + cls_len] != '/')
			cls_len++;

		pthread_mutex_lock(&w->mu);
		w->total++;
		w->last_body_len = (size_t)cl;
		count_path(w, sp1 + 1, path_len);
		if (cl > 4) {
			char *t = memmem(body, (size_t)cl, "\"t\":", 4);

			if (t)
				record_latency(w, sp1 + 2, cls_len,
					       mono_us() - strtoll(t + 4, NULL, 10));
		}
		if (cls_len == 4 && !strncmp(sp1 + 2, "hang", 4)) {
			c->is_hung = true;
			w->hung_now++;
		}
		pthread_mutex_unlock(&w->mu);
		if (c->is_hung)
			break;
		if (cls_len == 4 && !strncmp(sp1 + 2, "slow", 4)) {
			c->is_slow = true;
			c->due_us = mono_us() + slow_ms * 1000;
			c->slow_next = NULL;
			if (w->slow_tail)
				w->slow_tail->slow_next = c;
			else
				w->slow_head = c;
			w->slow_tail = c;
			break;
		}
		if (out_append(c, ok_reply, sizeof(ok_reply) - 1))
			return -1;
	}
	if (off) {
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	}
	if (c->is_hung)
		c->len = 0; /* whatever else comes is ignored */
	if (out_flush(w, c))
		return -1;
	return c->is_close && !c->out_len && !c->is_slow && !c->is_hung ? -1 : 0;
}

static void conn_close(struct worker *w, struct conn *c)
{
	if (c->is_hung) {
		pthread_mutex_lock(&w->mu);
		w->hung_now--;
		pthread_mutex_unlock(&w->mu);
	}
	if (c->is_slow) {
		/* unlink from the delayed answers */
		struct conn **pp = &w->slow_head, *prev = NULL;

		while (*pp && *pp != c) {
			prev = *pp;
			pp = &(*pp)->slow_next;
		}
		if (*pp) {
			*pp = c->slow_next;
			if (w->slow_tail == c)
				w->slow_tail = prev;
		}
	}
	SSL_free(c->ssl);
	close(c->fd);
	free(c->buf);
	free(c->out);
	free(c);
}

static void on_readable(struct worker *w, struct conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->len == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 16384;
			char *b;

			if (cap > BUF_MAX + 65536) {
				if (c->is_hung) {
					c->len = 0;
					continue;
				}
				conn_close(w, c);
				return;
			}
			b = realloc(c->buf, cap);
			if (!b) {
				conn_close(w, c);
				return;
			}
			c->buf = b;
			c->cap = cap;
		}
		n = conn_read(c, c->buf + c->len, c->cap - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			conn_close(w, c);
			return;
		}
		c->len += (size_t)n;
		/* drained: the next read would say EAGAIN (TLS may hold more
		 * decrypted, or the rest of a record, so it reads on) */
		if (c->len < c->cap && !c->ssl)
			break;
	}
	if (c->is_hung) {
		c->len = 0;
		return;
	}
	if (handle_input(w, c))
		conn_close(w, c);
}

static void answer_slow(struct worker *w, int64_t now)
{
	while (w->slow_head && w->slow_head->due_us <= now) {
		struct conn *c = w->slow_head;

		w->slow_head = c->slow_next;
		if (!w->slow_head)
			w->slow_tail = NULL;
		c->is_slow = false;
		if (out_append(c, ok_reply, sizeof(ok_reply) - 1) || handle_input(w, c))
			conn_close(w, c);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};

	epoll_ctl(w->ep, EPOLL_CTL_ADD, w->lfd, &lev);
	for (;;) {
		int timeout = -1, n;

		if (w->slow_head) {
			int64_t d = (w->slow_head->due_us - mono_us()) / 1000 + 1;

			timeout = d < 0 ? 0 : (int)d;
		}
		n = epoll_wait(w->ep, evs, 256, timeout);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (!c) {
				for (;;) {
					int fd = accept4(w->lfd, NULL, NULL,
							 SOCK_NONBLOCK | SOCK_CLOEXEC);
					int one = 1;
					struct epoll_event ev = {.events = EPOLLIN};

					if (fd < 0)
						break;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					c = calloc(1, sizeof(*c));
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					if (tls_ctx) {
						c->ssl = SSL_new(tls_ctx);
						if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
							SSL_free(c->ssl);
							free(c);
							close(fd);
							continue;
						}
						SSL_set_accept_state(c->ssl);
					}
					ev.data.ptr = c;
					epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			if (evs[i].events & EPOLLOUT) {
				struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

				if (out_flush(w, c)) {
					conn_close(w, c);
					continue;
				}
				if (!c->out_len)
					epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(w, c);
		}
		if (w->slow_head)
			answer_slow(w, mono_us());
	}
	return NULL;
}

static int listen_on(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096)) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	const char *port_file = NULL, *tls_cert = NULL, *tls_key = NULL;
	int port = 0;
	struct rlimit rl;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = (int)arg_num(argv[++i], 0, 65535);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			n_workers = (int)arg_num(argv[++i], 1, MAX_THREADS);
		else if (!strcmp(argv[i], "--slow-ms") && i + 1 < argc)
			slow_ms = arg_num(argv[++i], 0, 3600000);
		else if (!strcmp(argv[i], "--port-file") && i + 1 < argc)
			port_file = argv[++i];
		else if (!strcmp(argv[i], "--tls-cert") && i + 1 < argc)
			tls_cert = argv[++i];
		else if (!strcmp(argv[i], "--tls-key") && i + 1 < argc)
			tls_key = argv[++i];
		else {
			fprintf(stderr, "usage: receiver [--port N] [--threads N] [--slow-ms N] "
					"[--port-file PATH] [--tls-cert PEM --tls-key PEM]\n");
			return 2;
		}
	}
	if (!tls_cert != !tls_key) {
		fprintf(stderr, "receiver: --tls-cert and --tls-key go together\n");
		return 2;
	}
	if (tls_cert && !(tls_ctx = tls_setup(tls_cert, tls_key)))
		return 1;
	if (n_workers < 1 || n_workers > MAX_THREADS)
		n_workers = 1;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (int t = 0; t < n_workers; t++) {
		struct worker *w = &workers[t];

		w->lfd = listen_on(port);
		if (w->lfd < 0) {
			perror("receiver: listen");
			return 1;
		}
		if (!port) {
			struct sockaddr_in a;
			socklen_t alen = sizeof(a);

			getsockname(w->lfd, (struct sockaddr *)&a, &alen);
			port = ntohs(a.sin_port);
		}
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		pthread_mutex_init(&w->mu, NULL);
	}
	if (port_file) {
		FILE *f = fopen(port_file, "w");

		if (!f) {
			perror("receiver: port file");
			return 1;
		}
		fprintf(f, "%d\n", port);
		fclose(f);
	}
	printf("receiver listening on 127.0.0.1:%d threads=%d%s\n", port, n_workers,
	       tls_ctx ? " tls" : "");
	fflush(stdout);
	for (int t = 1; t < n_workers; t++)
		pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]);
	worker_main(&workers[0]);
	return 0;
}
