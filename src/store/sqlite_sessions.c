/*
 * sqlite_sessions.c - SQLite: sign-in links, browser sessions, per-webhook
 * delivery statistics and the "last delivery" of a webhook.
 *
 * Links and sessions are keyed by the BLAKE2b hash of their random token, so
 * a copy of the database cannot be used to sign in. A link is consumed by
 * deleting it (DELETE ... RETURNING in the writer), which makes "one use"
 * atomic however many requests race for it.
 */
#include "sqlite_int.h"

#include <string.h>

#include "../core/err.h"

#define TOUCH_EVERY_MS 60000

struct sess_job {
	const unsigned char *hash;
	const char *account_id;
	const char *webhook_id;
	int64_t now;
	int64_t expires_at;
	int64_t idle_ms;
	int64_t from;
	int64_t bucket_ms;
	size_t n;
	struct skw_stat_bucket *buckets;
	struct skw_session *session;
	char *account_out;
};

static int do_link_insert(struct sq_conn *c, void *arg)
{
	struct sess_job *j = arg;
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c,
		     "INSERT INTO login_links (hash, account_id, created_at, expires_at)"
		     " VALUES (?1, ?2, ?3, ?4)",
		     &st);
	if (rc)
		return rc;
	sq_bind_blob(st, 1, j->hash, SKW_TOKEN_HASH_LEN);
	sq_bind_text(st, 2, j->account_id);
	sqlite3_bind_int64(st, 3, j->now);
	sqlite3_bind_int64(st, 4, j->expires_at);
	return sq_done(c, st);
}

int sq_login_link_insert(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
			 const char *account_id, int64_t now, int64_t expires_at)
{
	struct sess_job j = {
	    .hash = hash, .account_id = account_id, .now = now, .expires_at = expires_at};

	return sq_write(s, do_link_insert, &j);
}

static int do_link_consume(struct sq_conn *c, void *arg)
{
	struct sess_job *j = arg;
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = sq_prep(c, "DELETE FROM login_links WHERE hash = ?1 RETURNING account_id, expires_at",
		     &st);
	if (rc)
		return rc;
	sq_bind_blob(st, 1, j->hash, SKW_TOKEN_HASH_LEN);
	rc = sq_step(c, st, &has_row);
	if (rc)
		return rc;
	if (!has_row)
		return SKW_ENOTFOUND;
	/* an expired link is refused but its delete must commit: succeed here,
	 * leave account_out empty, and let the caller refuse it */
	if (sqlite3_column_int64(st, 1) > j->now)
		sq_col_copy(st, 0, j->account_out, SKW_ID_MAX);
	return 0;
}

int sq_login_link_consume(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
			  int64_t now, char account_id[SKW_ID_MAX])
{
	struct sess_job j = {.hash = hash, .now = now, .account_out = account_id};
	int rc;

	account_id[0] = '\0';
	rc = sq_write(s, do_link_consume, &j);
	if (!rc && !account_id[0])
		rc = SKW_ENOTFOUND;
	return rc;
}

static int do_session_insert(struct sq_conn *c, void *arg)
{
	struct sess_job *j = arg;
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c,
		     "INSERT INTO sessions (hash, account_id, created_at, last_seen_at, expires_at)"
		     " VALUES (?1, ?2, ?3, ?3, ?4)",
		     &st);
	if (rc)
		return rc;
	sq_bind_blob(st, 1, j->hash, SKW_TOKEN_HASH_LEN);
	sq_bind_text(st, 2, j->account_id);
	sqlite3_bind_int64(st, 3, j->now);
	sqlite3_bind_int64(st, 4, j->expires_at);
	return sq_done(c, st);
}

int sq_session_insert(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
		      const char *account_id, int64_t now, int64_t expires_at)
{
	struct sess_job j = {
	    .hash = hash, .account_id = account_id, .now = now, .expires_at = expires_at};

	return sq_write(s, do_session_insert, &j);
}

static int do_session_get(struct sq_conn *c, void *arg)
{
	struct sess_job *j = arg;
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = sq_prep(c,
		     "SELECT account_id, created_at, last_seen_at, expires_at FROM sessions"
		     " WHERE hash = ?1",
		     &st);
	if (rc)
		return rc;
	sq_bind_blob(st, 1, j->hash, SKW_TOKEN_HASH_LEN);
	rc = sq_step(c, st, &has_row);
	if (rc)
		return rc;
	if (!has_row)
		return SKW_ENOTFOUND;
	sq_col_copy(st, 0, j->session->account_id, sizeof(j->session->account_id));
	j->session->created_at = sqlite3_column_int64(st, 1);
	j->session->last_seen_at = sqlite3_column_int64(st, 2);
	j->session->expires_at = sqlite3_column_int64(st, 3);
	return 0;
}

static int do_session_seen(struct sq_conn *c, void *arg)
{
	struct sess_job *j = arg;
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c, "UPDATE sessions SET last_seen_at = ?2 WHERE hash = ?1", &st);
	if (rc)
		return rc;
	sq_bind_blob(st, 1, j->hash, SKW_TOKEN_HASH_LEN);
	sqlite3_bind_int64(st, 2, j->now);
	return sq_done(c, st);
}

int sq_session_touch(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN], int64_t now,
		     int64_t idle_ms, struct skw_session *out)
{
	struct sess_job j = {.hash = hash, .now = now, .idle_ms = idle_ms, .session = out};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = sq_read(s, do_session_get, &j);
	if (rc)
		return rc;
	if (now >= out->expires_at || now - out->last_seen_at >= idle_ms)
		return SKW_ENOTFOUND;
	if (now - out->last_seen_at >= TOUCH_EVERY_MS) {
		rc = sq_write(s, do_session_seen, &j);
		if (rc)
			return rc;
		out->last_seen_at = now;
	}
	return 0;
}

static int do_session_delete(struct sq_conn *c, void *arg)
{
	struct sess_job *j = arg;
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c, "DELETE FROM sessions WHERE hash = ?1", &st);
	if (rc)
		return rc;
	sq_bind_blob(st, 1, j->hash, SKW_TOKEN_HASH_LEN);
	return sq_done(c, st);
}

int sq_session_delete(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN])
{
	struct sess_job j = {.hash = hash};

	return sq_write(s, do_session_delete, &j);
}

static int do_sessions_gc(struct sq_conn *c, void *arg)
{
	struct sess_job *j = arg;
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c, "DELETE FROM login_links WHERE expires_at <= ?1", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, j->now);
	rc = sq_done(c, st);
	if (rc)
		return rc;
	rc = sq_prep(c, "DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen_at <= ?2", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, j->now);
	sqlite3_bind_int64(st, 2, j->now - j->idle_ms);
	return sq_done(c, st);
}

int sq_sessions_gc(struct skw_store *s, int64_t now, int64_t idle_ms)
{
	struct sess_job j = {.now = now, .idle_ms = idle_ms};

	return sq_write(s, do_sessions_gc, &j);
}

/* ---- statistics ------------------------------------------------------ */

static int owns_webhook(struct sq_conn *c, const char *account_id, const char *webhook_id)
{
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = sq_prep(c, "SELECT 1 FROM webhooks WHERE id = ?1 AND account_id = ?2", &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, webhook_id);
	sq_bind_text(st, 2, account_id);
	rc = sq_step(c, st, &has_row);
	if (rc)
		return rc;
	return has_row ? 0 : SKW_ENOTFOUND;
}

static int do_stats(struct sq_conn *c, void *arg)
{
	struct sess_job *j = arg;
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = owns_webhook(c, j->account_id, j->webhook_id);
	if (rc)
		return rc;
	rc = sq_prep(c,
		     "SELECT (started_at - ?2) / ?3, success, count(*) FROM attempts"
		     " WHERE webhook_id = ?1 AND success IN (0, 1) AND started_at >= ?2"
		     " AND started_at < ?4"
		     " GROUP BY 1, 2",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, j->webhook_id);
	sqlite3_bind_int64(st, 2, j->from);
	sqlite3_bind_int64(st, 3, j->bucket_ms);
	sqlite3_bind_int64(st, 4, j->from + (int64_t)j->n * j->bucket_ms);
	for (;;) {
		int64_t b;

		rc = sq_step(c, st, &has_row);
		if (rc || !has_row)
			return rc;
		b = sqlite3_column_int64(st, 0);
		if (b < 0 || (size_t)b >= j->n)
			continue;
		if (sqlite3_column_int(st, 1))
			j->buckets[b].succeeded += sqlite3_column_int(st, 2);
		else
			j->buckets[b].failed += sqlite3_column_int(st, 2);
	}
}

int sq_webhook_stats(struct skw_store *s, const char *account_id, const char *webhook_id,
		     int64_t from, int64_t bucket_ms, size_t n, struct skw_stat_bucket *out)
{
	struct sess_job j = {.account_id = account_id,
			     .webhook_id = webhook_id,
			     .from = from,
			     .bucket_ms = bucket_ms,
			     .n = n,
			     .buckets = out};

	if (bucket_ms <= 0)
		return SKW_EINVAL;
	for (size_t i = 0; i < n; i++) {
		out[i].start = from + (int64_t)i * bucket_ms;
		out[i].succeeded = out[i].failed = 0;
	}
	return sq_read(s, do_stats, &j);
}

int sq_fill_last(struct sq_conn *c, struct skw_webhook *w)
{
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = sq_prep(c,
		     /* the newest of each outcome, each one step of attempts_log */
		     "SELECT * FROM (SELECT success, status_code, started_at FROM attempts"
		     " WHERE webhook_id = ?1 AND success = 1 ORDER BY started_at DESC LIMIT 1)"
		     " UNION ALL SELECT * FROM (SELECT success, status_code, started_at"
		     " FROM attempts WHERE webhook_id = ?1 AND success = 0"
		     " ORDER BY started_at DESC LIMIT 1) ORDER BY 3 DESC LIMIT 1",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, w->id);
	rc = sq_step(c, st, &has_row);
	if (rc || !has_row)
		return rc;
	w->last_status = sqlite3_column_int(st, 0) ? SKW_LOG_SUCCEEDED : SKW_LOG_FAILED;
	w->last_status_code = sqlite3_column_int(st, 1);
	w->last_at = sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	return 0;
}
