/*
 * sqlite_log.c - the delivery log and housekeeping in the SQLite backend.
 *
 * The log of a webhook is the union of two kinds of row:
 *   - made attempts (table attempts): status succeeded/failed, at =
 *     started_at;
 *   - pending deliveries (table queue): status pending, attempt =
 *     attempts_made + 1, max_attempts = 1 + the webhook's retry_attempts
 *     now, at = next_attempt_at (when the next attempt is due; a retry in
 *     the future therefore sorts above the attempts already made).
 * key is "<delivery_id>:<attempt, 3 digits>", unique per row. Rows sort by
 * (at, delivery_id, attempt) descending, which is (at, key) descending
 * because delivery ids all have the same length. A cursor (at, key)
 * continues strictly after that row.
 *
 * Each of the (up to three) streams - succeeded, failed, pending - is read
 * newest first through an index, at most `limit` rows from the cursor on,
 * and the streams are merged here: deep pages cost the same as the first.
 *
 * Housekeeping deletes in chunks of MAINTAIN_CHUNK rows, one write job per
 * chunk, so that the writer never stalls ingest for long.
 */
#include "sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"

#define IDEM_TTL_MS (24 * 3600 * 1000LL)
#define MAINTAIN_CHUNK 2000

struct log_job {
	const struct skw_log_query *q;
	size_t limit;
	int64_t c_at; /* the cursor, or a position above every row */
	char c_delivery[SKW_ID_MAX];
	int c_attempt;
	int max_attempts;
	struct skw_log_entry *rows;
	size_t n_rows;
	size_t cap_rows;
};

static int log_attempts(struct sq_conn *c, struct log_job *j, bool is_success)
{
	struct skw_log_entry *e;
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = sq_prep(c,
		     "SELECT delivery_id, event_id, event, attempt_no, max_attempts, status_code,"
		     " response, error, started_at, duration_ms, delivered_at FROM attempts"
		     " WHERE webhook_id = ?1 AND success = ?2"
		     " AND (started_at, delivery_id, attempt_no) < (?3, ?4, ?5)"
		     " ORDER BY started_at DESC, delivery_id DESC, attempt_no DESC LIMIT ?6",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, j->q->webhook_id);
	sqlite3_bind_int(st, 2, is_success);
	sqlite3_bind_int64(st, 3, j->c_at);
	sq_bind_text(st, 4, j->c_delivery);
	sqlite3_bind_int(st, 5, j->c_attempt);
	sqlite3_bind_int64(st, 6, (int64_t)j->limit);
	for (;;) {
		unsigned char *resp;

		rc = sq_step(c, st, &has_row);
		if (rc || !has_row)
			return rc;
		rc = skw_store_log_push(&j->rows, &j->n_rows, &j->cap_rows, j->limit, &e);
		if (rc)
			return rc;
		sq_col_copy(st, 0, e->delivery_id, sizeof(e->delivery_id));
		sq_col_copy(st, 1, e->event_id, sizeof(e->event_id));
		sq_col_copy(st, 2, e->event, sizeof(e->event));
		e->status = is_success ? SKW_LOG_SUCCEEDED : SKW_LOG_FAILED;
		e->attempt = sqlite3_column_int(st, 3);
		e->max_attempts = sqlite3_column_int(st, 4);
		e->status_code = sqlite3_column_int(st, 5);
		e->started_at = sqlite3_column_int64(st, 8);
		e->duration_ms = sqlite3_column_int64(st, 9);
		e->delivered_at = sqlite3_column_int64(st, 10);
		e->at = e->started_at;
		skw_store_log_key(e);
		rc = sq_col_blobdup(st, 6, &resp, NULL);
		e->response = (char *)resp;
		if (!rc)
			rc = sq_col_strdup(st, 7, &e->error);
		if (rc)
			return rc;
	}
}

static int log_pending(struct sq_conn *c, struct log_job *j)
{
	struct skw_log_entry *e;
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = sq_prep(c,
		     "SELECT q.delivery_id, q.event_id, e.event, q.attempts_made + 1,"
		     " q.next_attempt_at FROM queue q LEFT JOIN events e ON e.id = q.event_id"
		     " WHERE q.webhook_id = ?1 AND (q.next_attempt_at, q.delivery_id) <= (?2, ?3)"
		     " AND ((q.next_attempt_at, q.delivery_id) < (?2, ?3)"
		     "  OR q.attempts_made + 1 < ?4)"
		     " ORDER BY q.next_attempt_at DESC, q.delivery_id DESC LIMIT ?5",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, j->q->webhook_id);
	sqlite3_bind_int64(st, 2, j->c_at);
	sq_bind_text(st, 3, j->c_delivery);
	sqlite3_bind_int(st, 4, j->c_attempt);
	sqlite3_bind_int64(st, 5, (int64_t)j->limit);
	for (;;) {
		rc = sq_step(c, st, &has_row);
		if (rc || !has_row)
			return rc;
		rc = skw_store_log_push(&j->rows, &j->n_rows, &j->cap_rows, j->limit, &e);
		if (rc)
			return rc;
		sq_col_copy(st, 0, e->delivery_id, sizeof(e->delivery_id));
		sq_col_copy(st, 1, e->event_id, sizeof(e->event_id));
		sq_col_copy(st, 2, e->event, sizeof(e->event));
		e->status = SKW_LOG_PENDING;
		e->attempt = sqlite3_column_int(st, 3);
		e->max_attempts = j->max_attempts;
		e->next_attempt_at = sqlite3_column_int64(st, 4);
		e->at = e->next_attempt_at;
		skw_store_log_key(e);
	}
}

static int do_log_list(struct sq_conn *c, void *arg)
{
	struct log_job *j = arg;
	enum skw_log_status status = j->q->status;
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = sq_prep(c, "SELECT retry_attempts FROM webhooks WHERE id = ?1 AND account_id = ?2",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, j->q->webhook_id);
	sq_bind_text(st, 2, j->q->account_id);
	rc = sq_step(c, st, &has_row);
	if (rc)
		return rc;
	if (!has_row)
		return SKW_ENOTFOUND;
	j->max_attempts = 1 + sqlite3_column_int(st, 0);

	if (status == SKW_LOG_ANY || status == SKW_LOG_SUCCEEDED) {
		rc = log_attempts(c, j, true);
		if (rc)
			return rc;
	}
	if (status == SKW_LOG_ANY || status == SKW_LOG_FAILED) {
		rc = log_attempts(c, j, false);
		if (rc)
			return rc;
	}
	if (status == SKW_LOG_ANY || status == SKW_LOG_PENDING)
		rc = log_pending(c, j);
	return rc;
}

int sq_log_list(struct skw_store *s, const struct skw_log_query *q, struct skw_log_entry **out,
		size_t *n_out)
{
	struct skw_log_start start;
	struct log_job j = {.q = q};
	int rc;

	*out = NULL;
	*n_out = 0;
	rc = skw_store_log_start(q, &start);
	if (rc)
		return rc;
	j.limit = start.limit;
	j.c_at = start.at;
	skw_strlcpy(j.c_delivery, start.delivery, sizeof(j.c_delivery));
	j.c_attempt = start.attempt;
	rc = sq_read(s, do_log_list, &j);
	if (rc) {
		skw_log_entries_free(j.rows, j.n_rows);
		return rc;
	}
	skw_store_log_finish(j.rows, j.n_rows, j.limit, out, n_out);
	return 0;
}

/* ---- housekeeping ---------------------------------------------------- */

struct maintain_job {
	int64_t before;
	int n_deleted;
};

static int do_drop_idempotency(struct sq_conn *c, void *arg)
{
	struct maintain_job *j = arg;
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c, "DELETE FROM idempotency WHERE created_at <= ?1", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, j->before);
	rc = sq_done(c, st);
	j->n_deleted = sqlite3_changes(c->db);
	return rc;
}

static int do_drop_attempts(struct sq_conn *c, void *arg)
{
	struct maintain_job *j = arg;
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c,
		     "DELETE FROM attempts WHERE id IN (SELECT id FROM attempts"
		     " WHERE started_at < ?1 LIMIT ?2)",
		     &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, j->before);
	sqlite3_bind_int(st, 2, MAINTAIN_CHUNK);
	rc = sq_done(c, st);
	j->n_deleted = sqlite3_changes(c->db);
	return rc;
}

/* Events older than the retention that no pending delivery still needs. */
static int do_drop_events(struct sq_conn *c, void *arg)
{
	struct maintain_job *j = arg;
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c,
		     "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events"
		     " WHERE created_at < ?1 AND id NOT IN (SELECT event_id FROM queue) LIMIT ?2)",
		     &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, j->before);
	sqlite3_bind_int(st, 2, MAINTAIN_CHUNK);
	rc = sq_done(c, st);
	j->n_deleted = sqlite3_changes(c->db);
	return rc;
}

static int drop_in_chunks(struct skw_store *s, sq_job_fn fn, int64_t before)
{
	struct maintain_job j = {.before = before};
	int rc;

	do {
		rc = sq_write(s, fn, &j);
	} while (!rc && j.n_deleted >= MAINTAIN_CHUNK);
	return rc;
}

static int do_optimize(struct sq_conn *c, void *arg)
{
	(void)arg;
	return sq_exec(c, "PRAGMA optimize");
}

/* retention_ms <= 0 keeps the log and events forever. */
int sq_maintain(struct skw_store *s, int64_t now, int64_t retention_ms)
{
	struct maintain_job j = {.before = now - IDEM_TTL_MS};
	int rc;

	rc = sq_write(s, do_drop_idempotency, &j);
	if (rc)
		return rc;
	if (retention_ms > 0) {
		rc = drop_in_chunks(s, do_drop_attempts, now - retention_ms);
		if (rc)
			return rc;
		rc = drop_in_chunks(s, do_drop_events, now - retention_ms);
		if (rc)
			return rc;
	}
	/* sessions lapse after 30 idle minutes at most; 8 h is their absolute end */
	rc = sq_sessions_gc(s, now, 8 * 3600 * 1000);
	if (rc)
		return rc;
	return sq_write(s, do_optimize, NULL);
}
