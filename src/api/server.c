/*
 * server.c - the libmicrohttpd daemon: accepts connections (a pool of
 * threads on epoll, each serving many), gathers request bodies under the
 * size limit, routes to handlers, suspends and resumes the connections of
 * replies that wait, writes the access log and the one error shape.
 *
 * Invariants: every request gets exactly one response queued; the access
 * log line names method, path (never the query string, which could carry
 * cursors but never secrets anyway), status and duration, and nothing from
 * headers.
 */
#include "internal.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../core/err.h"
#include "../core/log.h"
#include "../core/metrics.h"

static enum MHD_Result queue(struct skw_req *r, unsigned status, struct MHD_Response *resp,
			     const char *content_type)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	if (content_type)
		MHD_add_response_header(resp, "Content-Type", content_type);
	if (content_type && !strncmp(content_type, "text/html", 9)) {
		MHD_add_response_header(
		    resp, "Content-Security-Policy",
		    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
		    "script-src 'self'; connect-src 'self'; form-action 'self'; "
		    "frame-ancestors 'none'; base-uri 'none'");
		MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	}
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (!MHD_get_response_header(resp, "Cache-Control"))
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	r->status = status;
	if (r->is_held) { /* an offloaded handler: sent once the connection resumes */
		if (r->held)
			MHD_destroy_response(r->held);
		r->held = resp;
		r->held_status = status;
		return MHD_YES;
	}
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result skw_reply_queue(struct skw_req *r, unsigned status, struct MHD_Response *resp,
				const char *content_type)
{
	return queue(r, status, resp, content_type);
}

enum MHD_Result skw_reply_json(struct skw_req *r, unsigned status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	struct MHD_Response *resp;

	json_decref(body);
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer_with_free_callback(strlen(text), text, free);
	if (!resp)
		free(text);
	return queue(r, status, resp, "application/json");
}

/* Replaces bytes that are not valid UTF-8 (a name cut at a length limit, a
 * stray byte) with '?', so the message can always become a JSON string. */
static void utf8_repair(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		size_t n = *p < 0x80		 ? 1
			   : (*p & 0xe0) == 0xc0 ? 2
			   : (*p & 0xf0) == 0xe0 ? 3
			   : (*p & 0xf8) == 0xf0 ? 4
						 : 0;
		size_t k = 1;

		while (n > 1 && k < n && (p[k] & 0xc0) == 0x80)
			k++;
		if (n == 0 || k < n) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

enum MHD_Result skw_reply_error(struct skw_req *r, unsigned status, const char *code,
				const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *err;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_repair(msg);
	err = json_pack("{s:s, s:s}", "code", code, "message", msg);
	if (field) {
		char f[128];

		skw_strlcpy(f, field, sizeof(f));
		utf8_repair(f);
		json_object_set_new(err, "field", json_string(f));
	}
	return skw_reply_json(r, status, json_pack("{s:o}", "error", err));
}

enum MHD_Result skw_reply_empty(struct skw_req *r, unsigned status)
{
	return queue(r, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT),
		     NULL);
}

enum MHD_Result skw_reply_not_found(struct skw_req *r)
{
	return skw_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", NULL, "no such resource");
}

enum MHD_Result skw_reply_method(struct skw_req *r, const char *allow)
{
	char msg[128];
	json_t *err;
	char *text;
	struct MHD_Response *resp;

	snprintf(msg, sizeof(msg), "%s is not allowed here; allowed: %s", r->method, allow);
	err = json_pack("{s:{s:s, s:s}}", "error", "code", "method_not_allowed", "message", msg);
	text = json_dumps(err, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(err);
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer_with_free_callback(strlen(text), text, free);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Allow", allow);
	return queue(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp, "application/json");
}

enum MHD_Result skw_reply_store_error(struct skw_req *r, int rc)
{
	switch (rc) {
	case SKW_ENOTFOUND:
		return skw_reply_not_found(r);
	case SKW_EUNAVAIL:
		return skw_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
				       "the database is unavailable; try again");
	default:
		skw_metric_add(SKW_M_STORE_ERRORS, 1);
		skw_error("http store error path=%s rc=%d (%s)", r->path, rc, skw_strerror(rc));
		return skw_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", NULL,
				       "internal error");
	}
}

const char *skw_req_header(struct skw_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *skw_req_arg(struct skw_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

static bool is_json_type(const char *ct)
{
	size_t n = strlen("application/json");

	if (!ct || strncasecmp(ct, "application/json", n))
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

json_t *skw_req_json(struct skw_req *r, size_t flags, enum MHD_Result *res)
{
	json_error_t jerr;
	json_t *j;

	if (!r->body_len) {
		*res = skw_reply_error(r, MHD_HTTP_BAD_REQUEST, "malformed_json", NULL,
				       "the request body is empty; send a JSON object");
		return NULL;
	}
	if (!is_json_type(skw_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		*res = skw_reply_error(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
				       NULL, "send the body as Content-Type: application/json");
		return NULL;
	}
	j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES | flags, &jerr);
	if (!j) {
		*res = skw_reply_error(r, MHD_HTTP_BAD_REQUEST, "malformed_json", NULL,
				       "malformed JSON at line %d column %d: %s", jerr.line,
				       jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		*res = skw_reply_error(r, MHD_HTTP_BAD_REQUEST, "wrong_type", NULL,
				       "the request body must be a JSON object");
		return NULL;
	}
	return j;
}

json_t *skw_json_time(int64_t ms)
{
	char buf[40];

	if (!ms)
		return json_null();
	skw_time_format(ms, buf, sizeof(buf));
	return json_string(buf);
}

static enum MHD_Result route_healthz(struct skw_req *r)
{
	if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD"))
		return skw_reply_method(r, "GET");
	if (skw_store_ping(r->api->cfg.store))
		return skw_reply_json(
		    r, MHD_HTTP_SERVICE_UNAVAILABLE,
		    json_pack("{s:s, s:s}", "status", "unavailable", "database", "unreachable"));
	return skw_reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

/* Prometheus text; the platform key only (the numbers span all accounts). */
static enum MHD_Result route_metrics(struct skw_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result res;
	size_t len;
	char *text;

	if (strcmp(r->method, "GET"))
		return skw_reply_method(r, "GET");
	if (!skw_auth(r, false, &res))
		return res;
	if (!r->who.is_platform)
		return skw_reply_error(r, MHD_HTTP_FORBIDDEN, "forbidden", NULL,
				       "metrics are for the platform key");
	text = skw_metrics_render(&len);
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer_with_free_callback(len, text, free);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	return queue(r, MHD_HTTP_OK, resp, "text/plain; version=0.0.4; charset=utf-8");
}

/* Splits path (modified in place) at '/' into seg; returns the count or -1. */
static int split_path(char *path, char **seg, size_t max)
{
	size_t n = 0;
	char *p = path;

	while (*p == '/')
		p++;
	while (*p) {
		char *slash = strchr(p, '/');

		if (n == max)
			return -1;
		seg[n++] = p;
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
		if (!*p)
			break; /* tolerate one trailing slash */
	}
	return (int)n;
}

static enum MHD_Result dispatch(struct skw_req *r)
{
	char path[sizeof(r->path)];
	char *seg[SKW_MAX_SEGMENTS];
	int n;

	enum MHD_Result res;

	if (!strcmp(r->path, "/healthz"))
		return route_healthz(r);
	if (!strcmp(r->path, "/metrics"))
		return route_metrics(r);
	if (skw_pages_route(r, &res))
		return res;
	memcpy(path, r->path, sizeof(path));
	n = split_path(path, seg, SKW_MAX_SEGMENTS);
	if (n >= 3 && !strcmp(seg[0], "api") && !strcmp(seg[1], "v1")) {
		if (r->is_too_big)
			return skw_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large",
					       NULL, "the request body is over %zu bytes",
					       r->api->cfg.max_body);
		if (!strcmp(seg[2], "accounts"))
			return skw_h_accounts(r, seg + 3, (size_t)n - 3);
		if (!strcmp(seg[2], "webhooks"))
			return skw_h_webhooks(r, seg + 3, (size_t)n - 3);
		if (!strcmp(seg[2], "events"))
			return skw_h_events(r, seg + 3, (size_t)n - 3);
		if (!strcmp(seg[2], "login-links"))
			return skw_h_login_links(r, seg + 3, (size_t)n - 3);
		if (!strcmp(seg[2], "session"))
			return skw_h_session(r, seg + 3, (size_t)n - 3);
	}
	return skw_reply_not_found(r);
}

void skw_req_wait(struct skw_req *r, skw_reply_fn resume)
{
	pthread_mutex_lock(&r->api->mu);
	r->api->n_waiting++;
	pthread_mutex_unlock(&r->api->mu);
	r->resume = resume;
	MHD_suspend_connection(r->conn);
}

void skw_req_wake(struct skw_req *r)
{
	struct skw_api *api = r->api; /* r may be gone once resumed */

	MHD_resume_connection(r->conn);
	pthread_mutex_lock(&api->mu);
	if (--api->n_waiting == 0)
		pthread_cond_broadcast(&api->idle);
	pthread_mutex_unlock(&api->mu);
}

/* An offloaded handler's reply, queued on the HTTP thread. */
static enum MHD_Result reply_held(struct skw_req *r)
{
	enum MHD_Result ret = r->offload_res;

	r->is_held = false;
	if (r->held) {
		if (MHD_queue_response(r->conn, r->held_status, r->held) != MHD_YES)
			ret = MHD_NO;
		MHD_destroy_response(r->held);
		r->held = NULL;
	}
	return ret;
}

static void *offload_main(void *arg)
{
	struct skw_req *r = arg;

	r->offload_res = r->offload_fn(r);
	skw_req_wake(r);
	return NULL;
}

enum MHD_Result skw_req_offload(struct skw_req *r, skw_reply_fn fn)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	r->is_held = true;
	r->offload_fn = fn;
	skw_req_wait(r, reply_held);
	if (pthread_attr_init(&attr)) {
		rc = -1;
	} else {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, (size_t)1024 * 1024);
		rc = pthread_create(&t, &attr, offload_main, r);
		pthread_attr_destroy(&attr);
	}
	if (rc) {
		skw_warn("http cannot start a thread for path=%s: replying 503", r->path);
		r->offload_res = skw_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
						 NULL, "the server is busy; try again");
		skw_req_wake(r);
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct skw_api *api = cls;
	struct skw_req *r = *con_cls;

	(void)version;
	if (!r) {
		const char *cl;
		long long clen;

		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->api = api;
		r->conn = conn;
		r->method = method;
		r->started_mono = skw_mono_ms();
		skw_strlcpy(r->path, url, sizeof(r->path));
		*con_cls = r;
		pthread_mutex_lock(&api->mu);
		api->n_in_flight++;
		pthread_mutex_unlock(&api->mu);
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && skw_parse_int(cl, 0, INT64_MAX, &clen) &&
		    (unsigned long long)clen > api->cfg.max_body)
			r->is_too_big = true;
		return MHD_YES;
	}
	if (r->resume) { /* woken after skw_req_wait */
		skw_reply_fn resume = r->resume;

		r->resume = NULL;
		r->abandon = NULL;
		return resume(r);
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (r->is_too_big || r->body_len + n > r->api->cfg.max_body) {
			r->is_too_big = true;
			return MHD_YES;
		}
		if (r->body_len + n + 1 > r->body_cap) {
			size_t cap = r->body_cap ? r->body_cap : 4096;
			char *b;

			while (cap < r->body_len + n + 1)
				cap *= 2;
			b = realloc(r->body, cap);
			if (!b)
				return MHD_NO;
			r->body = b;
			r->body_cap = cap;
		}
		memcpy(r->body + r->body_len, upload_data, n);
		r->body_len += n;
		r->body[r->body_len] = '\0';
		return MHD_YES;
	}
	return dispatch(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct skw_api *api = cls;
	struct skw_req *r = *con_cls;

	(void)conn;
	if (!r)
		return;
	pthread_mutex_lock(&api->mu);
	if (--api->n_in_flight == 0)
		pthread_cond_broadcast(&api->idle);
	pthread_mutex_unlock(&api->mu);
	{
		int64_t ms = skw_mono_ms() - r->started_mono;

		skw_info("http method=%s path=%s status=%u duration_ms=%lld%s", r->method, r->path,
			 r->status, (long long)ms,
			 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
		skw_metric_http(r->status, ms);
	}
	if (r->resume && r->abandon)
		r->abandon(r);
	if (r->held)
		MHD_destroy_response(r->held);
	free(r->body);
	free(r);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	skw_warn("http %s", msg);
}

static int resolve_listen(const char *listen, struct sockaddr_storage *ss, char *err,
			  size_t err_len)
{
	char host[256];
	const char *colon, *port, *h = listen;
	size_t hlen;
	struct addrinfo hints = {0}, *ai = NULL;
	int rc;

	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');

		if (!close || close[1] != ':')
			goto bad;
		h = listen + 1;
		hlen = (size_t)(close - h);
		port = close + 2;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			goto bad;
		hlen = (size_t)(colon - listen);
		port = colon + 1;
	}
	if (hlen >= sizeof(host) || !*port)
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(hlen ? host : NULL, port, &hints, &ai);
	if (rc) {
		snprintf(err, err_len, "cannot resolve listen address %s: %s", listen,
			 gai_strerror(rc));
		return SKW_EINVAL;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
bad:
	snprintf(err, err_len, "listen address must be HOST:PORT, got \"%s\"", listen);
	return SKW_EINVAL;
}

/* The HTTP threads: handlers do not wait (skw_req_wait), so twice the cores
 * is plenty; at least 4, for the short waits that remain (a read of the
 * store). */
static unsigned http_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 2)
		return 4;
	return n > 32 ? 64 : (unsigned)(2 * n) < 4 ? 4 : (unsigned)(2 * n);
}

int skw_api_start(const struct skw_api_config *c, struct skw_api **out, char *err, size_t err_len)
{
	struct sockaddr_storage ss = {0};
	struct skw_api *a;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_ITC;
	int rc;

	rc = resolve_listen(c->listen, &ss, err, err_len);
	if (rc)
		return rc;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	a = calloc(1, sizeof(*a));
	if (!a)
		return SKW_ENOMEM;
	a->cfg = *c;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->idle, NULL);
	a->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, a, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
	    a, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)2000, MHD_OPTION_THREAD_POOL_SIZE, http_threads(),
	    MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1024 * 1024), MHD_OPTION_LISTEN_BACKLOG_SIZE,
	    (unsigned)1024, MHD_OPTION_END);
	if (!a->daemon) {
		snprintf(err, err_len, "cannot listen on %s (address in use or not permitted)",
			 c->listen);
		free(a);
		return SKW_EIO;
	}
	info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
	a->port = info ? info->port : 0;
	*out = a;
	return 0;
}

int skw_api_port(const struct skw_api *a)
{
	return a->port;
}

void skw_api_quiesce(struct skw_api *a)
{
	MHD_socket s = MHD_quiesce_daemon(a->daemon);

	if (s != MHD_INVALID_SOCKET)
		close(s);
}

void skw_api_stop(struct skw_api *a, int64_t grace_ms)
{
	struct timespec until;
	int64_t end_ms;

	if (!a)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	end_ms = (int64_t)until.tv_sec * 1000 + until.tv_nsec / 1000000 + grace_ms;
	until.tv_sec = (time_t)(end_ms / 1000);
	until.tv_nsec = (long)(end_ms % 1000) * 1000000;
	pthread_mutex_lock(&a->mu);
	while (a->n_in_flight > 0) {
		if (pthread_cond_timedwait(&a->idle, &a->mu, &until) == ETIMEDOUT) {
			skw_warn("http shutdown: %zu requests still in flight after the grace "
				 "period; closing them",
				 a->n_in_flight);
			break;
		}
	}
	/* a suspended connection must be resumed before the daemon stops: the
	 * store answers every ingest, and a test send ends by its timeout */
	if (a->n_waiting)
		skw_warn("http shutdown: waiting for %zu requests the store or a test send "
			 "still holds",
			 a->n_waiting);
	while (a->n_waiting)
		pthread_cond_wait(&a->idle, &a->mu);
	pthread_mutex_unlock(&a->mu);
	MHD_stop_daemon(a->daemon);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->idle);
	free(a);
}

int skw_api_check_listen(const char *listen, char *err, size_t err_len)
{
	struct sockaddr_storage ss;

	return resolve_listen(listen, &ss, err, err_len);
}
