/*
 * transfer.c - the curl thread: runs every delivery attempt on the one
 * libcurl multi handle.
 *
 * Owns the multi handle's activity, the pool of idle easy handles and the
 * list of jobs in flight; nothing here touches the store. The thread runs
 * libcurl's socket interface on one epoll set: libcurl says which sockets
 * to watch (on_socket) and when to call it back (on_timer), and only the
 * sockets that are ready are handed to it (curl_multi_socket_action), so a
 * pass costs what happened, not what is in flight: curl_multi_perform()
 * looks at every transfer on every pass, and a request waiting for a slow
 * or hanging receiver cost a poll() each time. Other threads wake it
 * through an eventfd in the same set (skw_engine_wake) when they queue
 * work, a test send or forget request arrives, or the engine stops.
 *
 * Keep-alive without epoll_ctl churn: libcurl stops watching a socket when
 * its transfer ends and the connection goes back to its cache, and watches
 * it again when the next transfer reuses it. For the sockets we open
 * (open_socket; they are closed through close_socket) the registration is
 * kept across that gap and changed only when what is wanted differs, so a
 * delivery on a reused connection usually costs no epoll_ctl at all. A kept
 * socket that turns ready while libcurl does not watch it (the receiver
 * closed an idle connection) is dropped from the set then.
 *
 * Invariants: a job in flight holds exactly one easy handle, which is added
 * to the multi handle; a finished or aborted job has none and is on its way
 * to the outbox (or to its test sender). No request starts once the engine
 * is stopping, and none to a webhook after its forget request is answered.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "../core/err.h"
#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/util.h"
#include "engine_impl.h"

/* Keeps the first SKW_RESPONSE_KEEP bytes; cuts the transfer (by returning
 * less than given) once the body passes SKW_RESPONSE_MAX. */
static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct job *j = ud;
	size_t len = size * nmemb;

	if (!j->response)
		j->response = malloc(SKW_RESPONSE_KEEP + 1); /* NULL: keep none */
	if (j->response && j->response_len < SKW_RESPONSE_KEEP) {
		size_t take = SKW_RESPONSE_KEEP - j->response_len;

		if (take > len)
			take = len;
		memcpy(j->response + j->response_len, p, take);
		j->response_len += take;
	}
	if (len > SKW_RESPONSE_MAX - j->body_seen) {
		j->is_body_capped = true;
		return 0;
	}
	j->body_seen += len;
	return len;
}

/* The watch entry of socket fd, growing the table (NULL: no memory). */
static struct fd_watch *watch_of(struct skw_engine *e, int fd)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd >= e->watch_cap) {
		size_t cap = e->watch_cap ? e->watch_cap : 1024;
		struct fd_watch *p;

		while (cap <= (size_t)fd)
			cap *= 2;
		p = realloc(e->watch, cap * sizeof(*p));
		if (!p)
			return NULL;
		memset(p + e->watch_cap, 0, (cap - e->watch_cap) * sizeof(*p));
		e->watch = p;
		e->watch_cap = cap;
	}
	return &e->watch[fd];
}

/* The address guard, on the address libcurl is about to connect to; a
 * socket it opens starts with a clean watch entry. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct job *j = clientp;
	struct fd_watch *w;
	curl_socket_t fd;

	if (!j || purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	if (skw_guard_is_blocked(&j->e->cfg.guard, &a->addr)) {
		j->is_blocked = true;
		return CURL_SOCKET_BAD;
	}
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	w = fd >= 0 ? watch_of(j->e, fd) : NULL;
	if (w) {
		/* a new socket: whatever its number was registered as died with
		 * the socket that had it */
		w->reg = w->want = 0;
		w->is_ours = true;
	} else if (fd >= 0) {
		close(fd); /* no memory to track it */
		fd = CURL_SOCKET_BAD;
	}
	return fd;
}

/* libcurl closes a socket it opened through open_socket. */
static int close_socket(void *clientp, curl_socket_t fd)
{
	struct skw_engine *e = clientp;

	if (fd >= 0 && (size_t)fd < e->watch_cap) {
		/* closing takes it out of the epoll set; the number is free */
		e->watch[fd].reg = e->watch[fd].want = 0;
		e->watch[fd].is_ours = false;
	}
	return close(fd);
}

/* A new easy handle with the options every attempt shares. */
static CURL *easy_new(struct skw_engine *e)
{
	CURL *h = curl_easy_init();
	CURLcode cc = CURLE_OK;

	if (!h)
		return NULL;
	cc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	cc |=
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, e->cfg.allow_http ? "http,https" : "https");
	cc |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	cc |= curl_easy_setopt(h, CURLOPT_PROXY, "");
	cc |= curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	cc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	cc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	cc |= curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	cc |= skw_engine_trust_apply(e, h);
	cc |= curl_easy_setopt(h, CURLOPT_USERAGENT, e->cfg.user_agent);
	cc |= curl_easy_setopt(h, CURLOPT_POST, 1L);
	cc |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	cc |= curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	cc |= curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
	cc |= curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, e);
	cc |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/* The receive buffer is malloc'd per transfer when it starts and held
	 * while it waits for an answer: libcurl's default (16 KiB) was the
	 * largest single cost of an attempt in flight (massif, 3,000 in flight
	 * to hanging receivers: 16.2 KiB each of 28 KiB). We keep at most
	 * SKW_RESPONSE_KEEP bytes of an answer and read at most 64 KiB, so a
	 * small buffer only costs a few more reads for a large answer. */
	cc |= curl_easy_setopt(h, CURLOPT_BUFFERSIZE, (long)SKW_RECV_BUFFER);
	if (e->share)
		cc |= curl_easy_setopt(h, CURLOPT_SHARE, e->share);
	if (cc != CURLE_OK) {
		curl_easy_cleanup(h);
		return NULL;
	}
	return h;
}

static CURL *pool_get(struct skw_engine *e)
{
	if (e->n_pool)
		return e->pool[--e->n_pool];
	return easy_new(e);
}

static void pool_put(struct skw_engine *e, CURL *h)
{
	if (e->n_pool == e->pool_cap) {
		size_t cap = e->pool_cap ? e->pool_cap * 2 : 64;
		CURL **p = realloc(e->pool, cap * sizeof(*p));

		if (!p) {
			curl_easy_cleanup(h);
			return;
		}
		e->pool = p;
		e->pool_cap = cap;
	}
	e->pool[e->n_pool++] = h;
}

/* ---- young transfers (SKW_SEND_YOUNG in policy.h) ---------------------- */

/* The hint slot of a webhook: a direct-mapped table, so two webhooks may
 * share one and a hint is only ever a guess. */
static struct dest_hint *dest_hint_of(struct skw_engine *e, const char *webhook_id)
{
	if (!e->hints) {
		e->hints = calloc(SKW_SEND_HINTS, sizeof(*e->hints));
		if (!e->hints)
			return NULL;
	}
	return &e->hints[skw_engine_id_hash(webhook_id) & (SKW_SEND_HINTS - 1)];
}

/* Whether a webhook's recent answers took SKW_SEND_SLOW_US or longer. */
static bool dest_is_slow(struct skw_engine *e, const char *webhook_id)
{
	const struct dest_hint *d = dest_hint_of(e, webhook_id);

	return d && d->ewma_us >= SKW_SEND_SLOW_US;
}

/* Learns from a finished transfer how long its webhook takes to answer. */
static void dest_learn(struct skw_engine *e, const char *webhook_id, int64_t took_us)
{
	struct dest_hint *d = dest_hint_of(e, webhook_id);
	uint32_t t = took_us < 0		? 0
		     : took_us > UINT32_MAX / 8 ? UINT32_MAX / 8
						: (uint32_t)took_us;

	if (d)
		d->ewma_us = d->ewma_us ? (d->ewma_us * 7 + t) / 8 : t;
}

/* A transfer that just started: the newest, young unless its webhook is
 * known to be slow. */
static void active_link(struct skw_engine *e, struct job *j)
{
	j->a_next = NULL;
	j->a_prev = e->active_tail;
	if (e->active_tail)
		e->active_tail->a_next = j;
	else
		e->active = j;
	e->active_tail = j;
	e->n_active++;
	j->is_young = !dest_is_slow(e, j->work.webhook_id);
	if (j->is_young) {
		e->n_young++;
		if (!e->young)
			e->young = j;
	}
	skw_metric_add(SKW_M_IN_FLIGHT, 1);
}

static void active_unlink(struct skw_engine *e, struct job *j)
{
	if (j->is_young) {
		j->is_young = false;
		e->n_young--;
	}
	if (e->young == j)
		e->young = j->a_next;
	if (j->a_prev)
		j->a_prev->a_next = j->a_next;
	else
		e->active = j->a_next;
	if (j->a_next)
		j->a_next->a_prev = j->a_prev;
	else
		e->active_tail = j->a_prev;
	j->a_prev = j->a_next = NULL;
	e->n_active--;
	skw_metric_add(SKW_M_IN_FLIGHT, -1);
}

/* Transfers open for SKW_SEND_YOUNG_US stop counting as young. The active
 * list is in start order, and e->young is the oldest that may still be
 * young: none before it is. */
static void active_age(struct skw_engine *e, int64_t now_us)
{
	while (e->young && now_us - e->young->start_us >= SKW_SEND_YOUNG_US) {
		if (e->young->is_young) {
			e->young->is_young = false;
			e->n_young--;
		}
		e->young = e->young->a_next;
	}
}

/* Detaches the easy handle of a job in flight and gives it back. */
static void job_detach(struct skw_engine *e, struct job *j)
{
	curl_multi_remove_handle(e->multi, j->easy);
	/* an idle handle must not point into a job that moves on */
	curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(j->easy, CURLOPT_PRIVATE, NULL);
	curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(j->easy, CURLOPT_OPENSOCKETDATA, NULL);
	pool_put(e, j->easy);
	j->easy = NULL;
	active_unlink(e, j);
}

/* Hands a finished job on: to its test sender, or to the local outbox. */
static void job_hand_back(struct skw_engine *e, struct job *j, struct job **oh, struct job **ot)
{
	if (j->test) {
		pthread_mutex_lock(&e->mu);
		j->test->is_done = true;
		pthread_cond_broadcast(&e->done_cv);
		pthread_mutex_unlock(&e->mu);
		return;
	}
	job_queue_push(oh, ot, j);
}

/* Completes the result of an attempt: retry time, log line, hand back. */
static void job_finish(struct skw_engine *e, struct job *j, int64_t retry_after_s, struct job **oh,
		       struct job **ot)
{
	const struct skw_work *w = &j->work;
	double u;

	j->fate = JOB_RESULT;
	j->duration_ms = (skw_mono_us() - j->start_us) / 1000;
	if (j->response) {
		j->response_len = skw_outcome_sanitize(j->response, j->response_len);
		j->response[j->response_len] = '\0';
	}
	j->next_attempt_at = 0;
	if (!j->is_success && !w->is_test) {
		u = (double)randombytes_uniform(1000001) / 1000000.0; /* jitter */
		j->next_attempt_at =
		    skw_schedule_next(&e->cfg, w->attempt, w->max_attempts, skw_now_ms(),
				      j->status_code, retry_after_s, u);
	}
	skw_debug("attempt delivery=%s webhook=%s event=%s n=%d/%d%s status=%d duration_ms=%lld "
		  "ok=%s error=\"%s\" retry_in_ms=%lld",
		  w->delivery_id, w->webhook_id, w->event, w->attempt, w->max_attempts,
		  w->is_test ? " test=true" : "", j->status_code, (long long)j->duration_ms,
		  j->is_success ? "true" : "false", j->error,
		  (long long)(j->next_attempt_at ? j->next_attempt_at - skw_now_ms() : 0));
	skw_metric_attempt(j->is_success, j->duration_ms);
	job_hand_back(e, j, oh, ot);
}

/* Fails a job before any request was made. */
static void job_fail_early(struct skw_engine *e, struct job *j, const char *why, struct job **oh,
			   struct job **ot)
{
	j->is_success = false;
	j->status_code = 0;
	skw_strlcpy(j->error, why, sizeof(j->error));
	job_finish(e, j, 0, oh, ot);
}

static bool is_http_url(const char *url)
{
	return url && !strncasecmp(url, "http:", 5);
}

/* Header values must not smuggle in line breaks or other control bytes. */
static bool is_header_safe(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	}
	return true;
}

static void build_headers(struct job *j, const char *sig)
{
	const struct skw_work *w = &j->work;
	char *bufs[5];

	skw_strlcpy(j->h_type, "Content-Type: application/json", sizeof(j->h_type));
	snprintf(j->h_event, sizeof(j->h_event), "X-Webhook-Event: %s", w->event);
	snprintf(j->h_sig, sizeof(j->h_sig), "X-Webhook-Signature: %s", sig);
	snprintf(j->h_id, sizeof(j->h_id), "X-Webhook-Delivery-Id: %s", w->delivery_id);
	skw_strlcpy(j->h_expect, "Expect:", sizeof(j->h_expect));
	bufs[0] = j->h_type;
	bufs[1] = j->h_event;
	bufs[2] = j->h_sig;
	bufs[3] = j->h_id;
	bufs[4] = j->h_expect;
	for (int i = 0; i < 5; i++) {
		j->hdr[i].data = bufs[i];
		j->hdr[i].next = i < 4 ? &j->hdr[i + 1] : NULL;
	}
}

/* Starts one attempt; a job that cannot start is finished as a failure. */
static void job_start(struct skw_engine *e, struct job *j, struct job **oh, struct job **ot)
{
	const struct skw_work *w = &j->work;
	int timeout_s = w->timeout_s > 0 ? w->timeout_s : 30;
	CURLcode cc = CURLE_OK;
	CURL *h;

	j->e = e;
	j->started_at = skw_now_ms();
	j->start_us = skw_mono_us();
	j->status_code = 0;
	j->is_success = false;
	j->is_aborted = false;
	j->is_blocked = false;
	j->is_body_capped = false;
	j->body_seen = 0;
	j->response_len = 0;
	j->error[0] = '\0';
	j->errbuf[0] = '\0';

	if (!w->url || !w->url[0]) {
		job_fail_early(e, j, "invalid URL", oh, ot);
		return;
	}
	if (!e->cfg.allow_http && is_http_url(w->url)) {
		job_fail_early(e, j, "http URLs are not allowed", oh, ot);
		return;
	}
	if (!is_header_safe(w->event)) {
		job_fail_early(e, j, "invalid event name", oh, ot);
		return;
	}
	skw_engine_sign(e, &j->work); /* signed already unless a test send */
	if (!w->sig[0]) {
		job_fail_early(e, j, "signing secret could not be decrypted", oh, ot);
		return;
	}
	build_headers(j, w->sig);

	h = pool_get(e);
	if (!h) {
		job_fail_early(e, j, "out of memory", oh, ot);
		return;
	}
	cc |= curl_easy_setopt(h, CURLOPT_URL, w->url);
	cc |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)w->body_len);
	cc |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, w->body ? w->body : "");
	cc |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, j->hdr);
	cc |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_s * 1000L);
	cc |= curl_easy_setopt(h, CURLOPT_PRIVATE, j);
	cc |= curl_easy_setopt(h, CURLOPT_WRITEDATA, j);
	cc |= curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, j);
	cc |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, j->errbuf);
	if (cc != CURLE_OK) {
		pool_put(e, h);
		job_fail_early(e, j, "invalid URL", oh, ot);
		return;
	}
	if (curl_multi_add_handle(e->multi, h) != CURLM_OK) {
		pool_put(e, h);
		job_fail_early(e, j, "could not start the request", oh, ot);
		return;
	}
	j->easy = h;
	active_link(e, j);
}

/* A transfer libcurl reports as done. */
static void job_done(struct skw_engine *e, struct job *j, CURLcode result, struct job **oh,
		     struct job **ot)
{
	struct skw_outcome_in in = {0};
	long code = 0, os_errno = 0;
	curl_off_t retry_after = 0;

	curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(j->easy, CURLINFO_OS_ERRNO, &os_errno);
	dest_learn(e, j->work.webhook_id, skw_mono_us() - j->start_us);
	if (code == 429 || code == 503)
		curl_easy_getinfo(j->easy, CURLINFO_RETRY_AFTER, &retry_after);
	job_detach(e, j);

	j->status_code = (int)code;
	in.curl_code = (int)result;
	in.os_errno = (int)os_errno;
	in.status_code = j->status_code;
	in.is_blocked = j->is_blocked;
	in.is_body_capped = j->is_body_capped;
	in.timeout_s = j->work.timeout_s > 0 ? j->work.timeout_s : 30;
	in.detail = j->errbuf;
	j->is_success = skw_outcome_classify(&in, j->error, sizeof(j->error));
	job_finish(e, j, (int64_t)retry_after, oh, ot);
}

/* Takes a job out of flight without a result (shutdown, deleted webhook). */
static void job_abort(struct skw_engine *e, struct job *j, enum job_fate fate, struct job **oh,
		      struct job **ot)
{
	if (j->easy)
		job_detach(e, j);
	j->fate = fate;
	if (j->test) {
		j->is_aborted = true;
		skw_strlcpy(j->error, "aborted: the server is stopping", sizeof(j->error));
	}
	job_hand_back(e, j, oh, ot);
}

static void forget_in_flight(struct skw_engine *e, const char *webhook_id, struct job **oh,
			     struct job **ot)
{
	struct job *j = e->active, *next;

	for (; j; j = next) {
		next = j->a_next;
		if (!j->test && !strcmp(j->work.webhook_id, webhook_id))
			job_abort(e, j, JOB_DROP, oh, ot);
	}
	/* and those not started yet, keeping the others' order */
	j = e->ready_head;
	e->ready_head = e->ready_tail = NULL;
	for (; j; j = next) {
		next = j->next;
		if (!strcmp(j->work.webhook_id, webhook_id)) {
			job_abort(e, j, JOB_DROP, oh, ot);
			continue;
		}
		job_queue_push(&e->ready_head, &e->ready_tail, j);
	}
}

static void read_done(struct skw_engine *e, struct job **oh, struct job **ot)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(e->multi, &left))) {
		char *priv = NULL;
		CURLcode result;

		if (m->msg != CURLMSG_DONE)
			continue;
		result = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		if (priv)
			job_done(e, (struct job *)(void *)priv, result, oh, ot);
	}
}

/* epoll_ctl for socket s to watch events ev (0: not at all). */
static int watch_set(struct skw_engine *e, struct fd_watch *w, curl_socket_t s, uint32_t ev)
{
	struct epoll_event ee = {.events = ev, .data.fd = s};
	int op = !ev ? EPOLL_CTL_DEL : w->reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	if (epoll_ctl(e->epfd, op, s, op == EPOLL_CTL_DEL ? NULL : &ee)) {
		/* ADD of a number still registered, MOD/DEL of one closed */
		if (op == EPOLL_CTL_DEL)
			ev = 0;
		else if (epoll_ctl(e->epfd, op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s,
				   &ee))
			return -1;
	}
	w->reg = ev;
	return 0;
}

/* libcurl's socket callback: what socket s should be watched for. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct skw_engine *e = userp;
	/* no memory for the table: an entry that knows nothing, so that every
	 * change goes to epoll (watch_set falls back from MOD to ADD) */
	struct fd_watch unknown = {.reg = UINT32_MAX};
	struct fd_watch *w = watch_of(e, s);
	uint32_t ev = 0;

	(void)easy;
	(void)socketp;
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (!w)
		w = &unknown;
	w->want = ev;
	if (what == CURL_POLL_REMOVE && w->is_ours)
		return 0; /* kept registered: the next transfer likely reuses it */
	if (w->reg == ev)
		return 0;
	if (watch_set(e, w, s, ev)) {
		skw_warn("deliver could not watch a socket: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* libcurl's timer callback: when to call curl_multi_socket_action() with
 * CURL_SOCKET_TIMEOUT (-1: never). Runs on the curl thread only. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct skw_engine *e = userp;

	(void)multi;
	e->timer_at = timeout_ms < 0 ? -1 : skw_mono_ms() + timeout_ms;
	return 0;
}

int skw_engine_loop_init(struct skw_engine *e)
{
	struct epoll_event ev = {.events = EPOLLIN};

	e->timer_at = -1;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->epfd < 0 || e->wake_fd < 0)
		return SKW_EIO;
	ev.data.fd = e->wake_fd;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wake_fd, &ev))
		return SKW_EIO;
	if (curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
	    curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e) != CURLM_OK ||
	    curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
	    curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e) != CURLM_OK)
		return SKW_ENOMEM;
	return 0;
}

void skw_engine_wake(struct skw_engine *e)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is full, so a wake-up is pending anyway */
	if (write(e->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		skw_warn("deliver could not wake the send thread: %s", strerror(errno));
}

/* Waits up to timeout_ms for ready sockets, a wake-up or libcurl's timer,
 * and hands libcurl what happened. */
static void loop_wait(struct skw_engine *e, int timeout_ms)
{
	struct epoll_event ev[256];
	int64_t now = skw_mono_ms();
	int n, running;

	if (e->timer_at >= 0 && e->timer_at - now < timeout_ms)
		timeout_ms = e->timer_at > now ? (int)(e->timer_at - now) : 0;
	n = epoll_wait(e->epfd, ev, 256, timeout_ms);
	for (int i = 0; i < n; i++) {
		int fd = ev[i].data.fd, flags = 0;
		struct fd_watch *w;

		if (fd == e->wake_fd) {
			uint64_t v;

			if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				skw_warn("deliver wake-up read failed: %s", strerror(errno));
			continue;
		}
		w = (size_t)fd < e->watch_cap ? &e->watch[fd] : NULL;
		if (w && !w->want) {
			/* kept for reuse, and now closed by the receiver (or sent
			 * something unasked): libcurl finds out when it next looks */
			watch_set(e, w, fd, 0);
			continue;
		}
		if (ev[i].events & (EPOLLIN | EPOLLHUP))
			flags |= CURL_CSELECT_IN;
		if (ev[i].events & EPOLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (ev[i].events & EPOLLERR)
			flags |= CURL_CSELECT_ERR;
		curl_multi_socket_action(e->multi, fd, flags, &running);
	}
	if (e->timer_at >= 0 && skw_mono_ms() >= e->timer_at) {
		e->timer_at = -1;
		curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
}

void *skw_engine_curl_main(void *arg)
{
	struct skw_engine *e = arg;

	pthread_setname_np(pthread_self(), "skw-send");

	for (;;) {
		struct job *in, *oh = NULL, *ot = NULL, *j, *next;
		struct test_req *tests, *t, *tnext;
		struct forget_req *forgets, *f;
		bool is_stopping;
		int64_t deadline, now, now_us;
		int timeout_ms = 1000;

		pthread_mutex_lock(&e->mu);
		in = e->inbox_head;
		e->inbox_head = e->inbox_tail = NULL;
		tests = e->tests;
		e->tests = NULL;
		forgets = e->forgets;
		e->forgets = NULL;
		is_stopping = e->is_stopping;
		deadline = e->grace_deadline;
		pthread_mutex_unlock(&e->mu);

		for (j = in; j; j = next) {
			next = j->next;
			if (is_stopping)
				job_abort(e, j, JOB_RELEASE, &oh, &ot);
			else
				job_queue_push(&e->ready_head, &e->ready_tail, j);
		}
		while (is_stopping && e->ready_head)
			job_abort(e, job_queue_pop(&e->ready_head, &e->ready_tail), JOB_RELEASE,
				  &oh, &ot);
		for (t = tests; t; t = tnext) {
			tnext = t->next;
			if (is_stopping)
				job_abort(e, &t->job, JOB_RELEASE, &oh, &ot);
			else
				job_start(e, &t->job, &oh, &ot);
		}
		if (forgets) {
			for (f = forgets; f; f = f->next)
				forget_in_flight(e, f->webhook_id, &oh, &ot);
			pthread_mutex_lock(&e->mu);
			for (f = forgets; f; f = f->next)
				f->is_done = true;
			pthread_cond_broadcast(&e->done_cv);
			pthread_mutex_unlock(&e->mu);
		}

		read_done(e, &oh, &ot);

		now_us = skw_mono_us();
		now = now_us / 1000;
		active_age(e, now_us);
		while (e->ready_head && e->n_young < SKW_SEND_YOUNG)
			job_start(e, job_queue_pop(&e->ready_head, &e->ready_tail), &oh, &ot);
		if (is_stopping && e->n_active && now >= deadline) {
			while (e->active)
				job_abort(e, e->active, JOB_RELEASE, &oh, &ot);
		}
		if (oh) {
			pthread_mutex_lock(&e->mu);
			/* A request that ended frees its webhook's slot now, not when
			 * its result is stored: the per-webhook limit is about open
			 * requests, and the result's commit must not hold one. */
			for (j = oh; j; j = j->next) {
				if (j->fate == JOB_RESULT && !j->is_slot_freed) {
					skw_engine_slot_dec(e, j->work.webhook_id);
					j->is_slot_freed = true;
				}
			}
			if (e->outbox_tail)
				e->outbox_tail->next = oh;
			else
				e->outbox_head = oh;
			e->outbox_tail = ot;
			pthread_cond_signal(&e->store_cv);
			pthread_mutex_unlock(&e->mu);
		}
		if (is_stopping && !e->n_active)
			break;
		if (is_stopping && deadline - now < timeout_ms)
			timeout_ms = deadline - now > 0 ? (int)(deadline - now) : 0;
		/* jobs wait for a young slot: one frees at the latest when the
		 * oldest young transfer ages */
		if (e->ready_head && e->young) {
			int64_t d =
			    (e->young->start_us + SKW_SEND_YOUNG_US - skw_mono_us() + 999) / 1000;

			if (d < timeout_ms)
				timeout_ms = d > 0 ? (int)d : 0;
		}
		loop_wait(e, timeout_ms);
	}

	/* Nothing is in flight; answer whoever still waits on this thread. */
	pthread_mutex_lock(&e->mu);
	for (struct test_req *t = e->tests; t; t = t->next) {
		t->job.is_aborted = true;
		skw_strlcpy(t->job.error, "aborted: the server is stopping", sizeof(t->job.error));
		t->is_done = true;
	}
	e->tests = NULL;
	for (struct forget_req *f = e->forgets; f; f = f->next)
		f->is_done = true;
	e->forgets = NULL;
	e->is_curl_done = true;
	pthread_cond_broadcast(&e->done_cv);
	pthread_cond_signal(&e->store_cv);
	pthread_mutex_unlock(&e->mu);

	while (e->n_pool)
		curl_easy_cleanup(e->pool[--e->n_pool]);
	return NULL;
}
