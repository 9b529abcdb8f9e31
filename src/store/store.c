/*
 * store.c - the backend-independent half of store.h: picks a backend from
 * the store URL, forwards every call through s->ops, and frees what the
 * store hands out.
 *
 * URLs: "sqlite:PATH", "sqlite://PATH" (so "sqlite:///abs/x.db" is
 * "/abs/x.db") and "sqlite::memory:"; PostgreSQL as "postgres://..." or
 * "postgresql://..." URLs, or as a libpq keyword string ("host=/tmp
 * dbname=skw": whatever starts with a keyword and '=' and has no scheme),
 * both handed to libpq as they are. Error messages name the scheme but
 * never echo the URL: a database URL may carry a password.
 *
 * Invariant: a handle's ops table is set once, at open, and never changes.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../core/events.h"
#include "store_impl.h"

static bool has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* "key=value ...": a keyword, optional blanks, then '=' (libpq's syntax). */
static bool is_keyword_string(const char *s)
{
	const char *p = s;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
		return false;
	while ((*p >= 'a' && *p <= 'z') || *p == '_')
		p++;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '=';
}

int skw_store_open(const struct skw_store_options *opt, struct skw_store **out, char *err,
		   size_t err_len)
{
	const char *url;
	const char *colon;
	char dummy[1];

	*out = NULL;
	if (!err) {
		err = dummy;
		err_len = sizeof(dummy);
	}
	if (err_len)
		err[0] = '\0';
	if (!opt || !opt->url || !*opt->url) {
		snprintf(err, err_len, "no store URL given");
		return SKW_EINVAL;
	}
	url = opt->url;
	if (has_prefix(url, "sqlite:")) {
		const char *path = url + strlen("sqlite:");

		if (has_prefix(path, "//"))
			path += 2;
		if (!*path) {
			snprintf(err, err_len, "store URL sqlite: has no database path");
			return SKW_EINVAL;
		}
		return skw_store_sqlite_open(path, opt->is_durable, out, err, err_len);
	}
	if (has_prefix(url, "postgres://") || has_prefix(url, "postgresql://") ||
	    is_keyword_string(url))
		return skw_store_pg_open(url, opt->is_durable, out, err, err_len);
	colon = strchr(url, ':');
	if (colon && colon - url <= 16)
		snprintf(err, err_len,
			 "unknown store URL scheme \"%.*s\" (want sqlite:PATH or postgres://...)",
			 (int)(colon - url), url);
	else
		snprintf(err, err_len,
			 "store URL has no scheme (want sqlite:PATH or postgres://...)");
	return SKW_EINVAL;
}

void skw_store_close(struct skw_store *s)
{
	if (s)
		s->ops->close(s);
}

int skw_store_ping(struct skw_store *s)
{
	return s->ops->ping(s);
}

bool skw_store_is_shared(struct skw_store *s)
{
	return s->ops->is_shared;
}

int skw_store_set_wakeup(struct skw_store *s, skw_store_wakeup_fn fn, void *arg)
{
	if (!s->ops->set_wakeup)
		return SKW_EINVAL;
	return s->ops->set_wakeup(s, fn, arg);
}

/* ---- accounts ------------------------------------------------------- */

void skw_account_cleanup(struct skw_account *a)
{
	if (!a)
		return;
	free(a->name);
	a->name = NULL;
}

int skw_store_account_insert(struct skw_store *s, const struct skw_account *a)
{
	if (!a || !a->id[0])
		return SKW_EINVAL;
	return s->ops->account_insert(s, a);
}

int skw_store_account_get(struct skw_store *s, const char *id, struct skw_account *out)
{
	if (!id || !out)
		return SKW_EINVAL;
	return s->ops->account_get(s, id, out);
}

int skw_store_account_delete(struct skw_store *s, const char *id)
{
	if (!id)
		return SKW_EINVAL;
	return s->ops->account_delete(s, id);
}

/* ---- API keys ------------------------------------------------------- */

int skw_store_apikey_insert(struct skw_store *s, const struct skw_apikey *k,
			    const unsigned char hash[SKW_KEY_HASH_LEN])
{
	if (!k || !hash || !k->id[0])
		return SKW_EINVAL;
	return s->ops->apikey_insert(s, k, hash);
}

int skw_store_apikey_find(struct skw_store *s, const unsigned char hash[SKW_KEY_HASH_LEN],
			  struct skw_apikey *out)
{
	if (!hash || !out)
		return SKW_EINVAL;
	return s->ops->apikey_find(s, hash, out);
}

int skw_store_apikey_find_recent(struct skw_store *s, const unsigned char hash[SKW_KEY_HASH_LEN],
				 struct skw_apikey *out)
{
	if (!hash || !out)
		return SKW_EINVAL;
	if (!s->ops->apikey_find_recent)
		return s->ops->apikey_find(s, hash, out);
	return s->ops->apikey_find_recent(s, hash, out);
}

int skw_store_apikey_list(struct skw_store *s, const char *account_id, struct skw_apikey **out,
			  size_t *n_out)
{
	if (!out || !n_out)
		return SKW_EINVAL;
	return s->ops->apikey_list(s, account_id, out, n_out);
}

int skw_store_apikey_revoke(struct skw_store *s, const char *key_id, int64_t now)
{
	if (!key_id)
		return SKW_EINVAL;
	return s->ops->apikey_revoke(s, key_id, now);
}

/* ---- webhooks ------------------------------------------------------- */

void skw_webhook_cleanup(struct skw_webhook *w)
{
	if (!w)
		return;
	free(w->name);
	free(w->url);
	free(w->events);
	free(w->secret_enc);
	w->name = w->url = w->events = NULL;
	w->secret_enc = NULL;
	w->secret_enc_len = 0;
}

void skw_webhooks_free(struct skw_webhook *w, size_t n)
{
	if (!w)
		return;
	for (size_t i = 0; i < n; i++)
		skw_webhook_cleanup(&w[i]);
	free(w);
}

int skw_store_webhook_insert(struct skw_store *s, const struct skw_webhook *w)
{
	if (!w || !w->id[0] || !w->account_id[0])
		return SKW_EINVAL;
	return s->ops->webhook_insert(s, w);
}

int skw_store_webhook_get(struct skw_store *s, const char *account_id, const char *id,
			  struct skw_webhook *out)
{
	if (!account_id || !id || !out)
		return SKW_EINVAL;
	return s->ops->webhook_get(s, account_id, id, out);
}

int skw_store_webhook_list(struct skw_store *s, const char *account_id, struct skw_webhook **out,
			   size_t *n_out)
{
	if (!account_id || !out || !n_out)
		return SKW_EINVAL;
	return s->ops->webhook_list(s, account_id, out, n_out);
}

int skw_store_webhook_update(struct skw_store *s, const struct skw_webhook *w)
{
	if (!w || !w->id[0] || !w->account_id[0])
		return SKW_EINVAL;
	return s->ops->webhook_update(s, w);
}

int skw_store_webhook_delete(struct skw_store *s, const char *account_id, const char *id)
{
	if (!account_id || !id)
		return SKW_EINVAL;
	return s->ops->webhook_delete(s, account_id, id);
}

/* ---- events and the delivery queue ---------------------------------- */

void skw_work_cleanup(struct skw_work *w)
{
	if (!w)
		return;
	free(w->url);
	free(w->secret_enc);
	free(w->body);
	w->url = NULL;
	w->secret_enc = NULL;
	w->body = NULL;
	w->secret_enc_len = w->body_len = 0;
}

void skw_works_free(struct skw_work *w, size_t n)
{
	if (!w)
		return;
	for (size_t i = 0; i < n; i++)
		skw_work_cleanup(&w[i]);
	free(w);
}

int skw_store_event_ingest(struct skw_store *s, const struct skw_event_in *ev,
			   struct skw_event_out *out)
{
	if (!ev || !out || !ev->id[0])
		return SKW_EINVAL;
	return s->ops->event_ingest(s, ev, out);
}

bool skw_store_has_ingest_start(const struct skw_store *s)
{
	return s->ops->event_ingest_start != NULL;
}

int skw_store_event_ingest_start(struct skw_store *s, const struct skw_event_in *ev,
				 struct skw_event_out *out, skw_store_done_fn done, void *arg)
{
	if (!ev || !out || !ev->id[0] || !done || !s->ops->event_ingest_start)
		return SKW_EINVAL;
	return s->ops->event_ingest_start(s, ev, out, done, arg);
}

int skw_store_claim(struct skw_store *s, const struct skw_claim_opts *o, struct skw_work **out,
		    size_t *n_out)
{
	if (!o || !out || !n_out || (o->n_exclude && !o->exclude))
		return SKW_EINVAL;
	return s->ops->claim(s, o, out, n_out);
}

int skw_store_complete(struct skw_store *s, const struct skw_attempt_result *r, size_t n)
{
	if (n && !r)
		return SKW_EINVAL;
	return s->ops->complete(s, r, n);
}

int skw_store_release(struct skw_store *s, const char *const *delivery_ids, size_t n)
{
	if (n && !delivery_ids)
		return SKW_EINVAL;
	return s->ops->release(s, delivery_ids, n);
}

int skw_store_release_node(struct skw_store *s, const char *node_id)
{
	return s->ops->release_node(s, node_id);
}

int skw_store_next_due(struct skw_store *s, int64_t *out)
{
	if (!out)
		return SKW_EINVAL;
	return s->ops->next_due(s, out);
}

int skw_store_test_prepare(struct skw_store *s, const struct skw_webhook *w, const char *event_id,
			   const char *body, size_t body_len, int64_t now, struct skw_work *out)
{
	if (!w || !out)
		return SKW_EINVAL;
	return s->ops->test_prepare(s, w, event_id, body, body_len, now, out);
}

/* ---- the delivery log ---------------------------------------------- */

void skw_log_entries_free(struct skw_log_entry *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++) {
		free(e[i].response);
		free(e[i].error);
	}
	free(e);
}

int skw_store_log_list(struct skw_store *s, const struct skw_log_query *q,
		       struct skw_log_entry **out, size_t *n_out)
{
	if (!q || !out || !n_out)
		return SKW_EINVAL;
	return s->ops->log_list(s, q, out, n_out);
}

int skw_store_maintain(struct skw_store *s, int64_t now, int64_t retention_ms)
{
	return s->ops->maintain(s, now, retention_ms);
}

int skw_store_webhook_stats(struct skw_store *s, const char *account_id, const char *webhook_id,
			    int64_t from, int64_t bucket_ms, size_t n, struct skw_stat_bucket *out)
{
	if (!account_id || !webhook_id || !out || !n || n > 10000)
		return SKW_EINVAL;
	return s->ops->webhook_stats(s, account_id, webhook_id, from, bucket_ms, n, out);
}

int skw_store_login_link_insert(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
				const char *account_id, int64_t now, int64_t expires_at)
{
	if (!hash || !account_id)
		return SKW_EINVAL;
	return s->ops->login_link_insert(s, hash, account_id, now, expires_at);
}

int skw_store_login_link_consume(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
				 int64_t now, char account_id[SKW_ID_MAX])
{
	if (!hash || !account_id)
		return SKW_EINVAL;
	return s->ops->login_link_consume(s, hash, now, account_id);
}

int skw_store_session_insert(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
			     const char *account_id, int64_t now, int64_t expires_at)
{
	if (!hash || !account_id)
		return SKW_EINVAL;
	return s->ops->session_insert(s, hash, account_id, now, expires_at);
}

int skw_store_session_touch(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
			    int64_t now, int64_t idle_ms, struct skw_session *out)
{
	if (!hash || !out)
		return SKW_EINVAL;
	return s->ops->session_touch(s, hash, now, idle_ms, out);
}

int skw_store_session_delete(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN])
{
	if (!hash)
		return SKW_EINVAL;
	return s->ops->session_delete(s, hash);
}

#define LOG_LIMIT_MAX 100

int skw_store_log_start(const struct skw_log_query *q, struct skw_log_start *out)
{
	const char *colon;
	long long n;

	if (!q->account_id || !q->webhook_id || q->status < SKW_LOG_ANY ||
	    q->status > SKW_LOG_PENDING)
		return SKW_EINVAL;
	out->limit = q->limit < 1 ? 1 : q->limit > LOG_LIMIT_MAX ? LOG_LIMIT_MAX : q->limit;
	if (!q->has_cursor) {
		/* above every row: ids are printable ASCII, all below DEL */
		out->at = INT64_MAX;
		skw_strlcpy(out->delivery, "\x7f", sizeof(out->delivery));
		out->attempt = 0;
		return 0;
	}
	colon = strrchr(q->cursor_key, ':');
	if (!colon || colon == q->cursor_key ||
	    (size_t)(colon - q->cursor_key) >= sizeof(out->delivery) ||
	    !skw_parse_int(colon + 1, 0, 1000000, &n))
		return SKW_EINVAL;
	out->at = q->cursor_at;
	memcpy(out->delivery, q->cursor_key, (size_t)(colon - q->cursor_key));
	out->delivery[colon - q->cursor_key] = '\0';
	out->attempt = (int)n;
	return 0;
}

static int cmp_entry_desc(const void *a, const void *b)
{
	const struct skw_log_entry *x = a, *y = b;
	int d;

	if (x->at != y->at)
		return x->at > y->at ? -1 : 1;
	d = strcmp(x->delivery_id, y->delivery_id);
	if (d)
		return -d;
	return x->attempt > y->attempt ? -1 : x->attempt < y->attempt;
}

void skw_store_log_finish(struct skw_log_entry *rows, size_t n, size_t limit,
			  struct skw_log_entry **out, size_t *n_out)
{
	if (n)
		qsort(rows, n, sizeof(*rows), cmp_entry_desc);
	if (n > limit) {
		for (size_t i = limit; i < n; i++) {
			free(rows[i].response);
			free(rows[i].error);
		}
		n = limit;
	}
	if (!n) {
		free(rows);
		rows = NULL;
	}
	*out = rows;
	*n_out = n;
}

int skw_store_test_work(const struct skw_webhook *w, const char *event_id, const char *body,
			size_t body_len, int64_t now, struct skw_work *out)
{
	memset(out, 0, sizeof(*out));
	if (!event_id || !w->url || (!body && body_len))
		return SKW_EINVAL;
	skw_random_id("dlv_", out->delivery_id, sizeof(out->delivery_id));
	skw_strlcpy(out->event_id, event_id, sizeof(out->event_id));
	skw_strlcpy(out->webhook_id, w->id, sizeof(out->webhook_id));
	skw_strlcpy(out->account_id, w->account_id, sizeof(out->account_id));
	skw_strlcpy(out->event, SKW_EVENT_TEST, sizeof(out->event));
	out->url = skw_strdup(w->url);
	out->body = malloc(body_len + 1);
	if (w->secret_enc_len)
		out->secret_enc = malloc(w->secret_enc_len);
	if (!out->url || !out->body || (w->secret_enc_len && !out->secret_enc)) {
		skw_work_cleanup(out);
		return SKW_ENOMEM;
	}
	if (body_len)
		memcpy(out->body, body, body_len);
	out->body[body_len] = '\0';
	out->body_len = body_len;
	if (w->secret_enc_len)
		memcpy(out->secret_enc, w->secret_enc, w->secret_enc_len);
	out->secret_enc_len = w->secret_enc_len;
	out->timeout_s = w->timeout_s;
	out->attempt = 1;
	out->max_attempts = 1;
	out->is_test = true;
	out->lease_until = now + (int64_t)w->timeout_s * 1000;
	return 0;
}

int skw_store_log_push(struct skw_log_entry **rows, size_t *n, size_t *cap, size_t limit,
		       struct skw_log_entry **out)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 3 * (limit ? limit : 1);
		struct skw_log_entry *grown = realloc(*rows, c * sizeof(*grown));

		if (!grown)
			return SKW_ENOMEM;
		*rows = grown;
		*cap = c;
	}
	*out = &(*rows)[(*n)++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

void skw_store_log_key(struct skw_log_entry *e)
{
	snprintf(e->key, sizeof(e->key), "%s:%03d", e->delivery_id, e->attempt);
}
