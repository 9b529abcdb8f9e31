/*
 * pg_log.c - the delivery log, per-webhook statistics and housekeeping in
 * the PostgreSQL backend.
 *
 * The log is sqlite_log.c's, row for row: made attempts (status
 * succeeded/failed, at = started_at) and pending deliveries (status pending,
 * attempt = attempts_made + 1, at = next_attempt_at); key is
 * "<delivery_id>:<attempt, 3 digits>"; rows sort by (at, delivery_id,
 * attempt) descending and a cursor (at, key) continues strictly after its
 * row. Each of the up to three streams is read newest first through an
 * index (row comparisons on COLLATE "C" ids), at most `limit` rows from the
 * cursor on, and merged here, all in one REPEATABLE READ snapshot.
 *
 * Housekeeping deletes in chunks of MAINTAIN_CHUNK rows, one transaction a
 * chunk, so no long transaction holds back vacuum. Only one node at a time
 * does it: each chunk takes a transaction-level advisory lock, and a node
 * that finds it taken skips the round.
 */
#include "pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"

#define IDEM_TTL_MS (24 * 3600 * 1000LL)
#define MAINTAIN_CHUNK 2000
#define SESSION_MAX_MS (8 * 3600 * 1000LL) /* as sqlite_log.c */

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

static void cursor_params(struct pg_params *p, const struct log_job *j)
{
	pg_p_text(p, j->q->webhook_id);
	pg_p_int(p, j->c_at);
	pg_p_text(p, j->c_delivery);
	pg_p_int(p, j->c_attempt);
	pg_p_int(p, (int64_t)j->limit);
}

static int log_attempts(struct pg_conn *c, struct log_job *j, bool is_success)
{
	struct pg_params p = {0};
	PGresult *r;
	int rc = 0;

	cursor_params(&p, j);
	pg_p_bool(&p, is_success);
	rc = pg_exec(c,
		     PG_PER_CALL
		     "SELECT delivery_id, event_id, event, attempt_no, max_attempts, status_code,"
		     " response, error, started_at, duration_ms, delivered_at FROM attempts"
		     " WHERE webhook_id = $1 AND success = $6"
		     " AND (started_at, delivery_id, attempt_no) < ($2, $3, $4)"
		     " ORDER BY started_at DESC, delivery_id DESC, attempt_no DESC LIMIT $5",
		     &p, &r);
	if (rc)
		return rc;
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		struct skw_log_entry *e;
		unsigned char *resp;

		rc = skw_store_log_push(&j->rows, &j->n_rows, &j->cap_rows, j->limit, &e);
		if (rc)
			break;
		pg_copy(r, i, 0, e->delivery_id, sizeof(e->delivery_id));
		pg_copy(r, i, 1, e->event_id, sizeof(e->event_id));
		pg_copy(r, i, 2, e->event, sizeof(e->event));
		e->status = is_success ? SKW_LOG_SUCCEEDED : SKW_LOG_FAILED;
		e->attempt = (int)pg_i64(r, i, 3);
		e->max_attempts = (int)pg_i64(r, i, 4);
		e->status_code = (int)pg_i64(r, i, 5);
		e->started_at = pg_i64(r, i, 8);
		e->duration_ms = pg_i64(r, i, 9);
		e->delivered_at = pg_i64(r, i, 10);
		e->at = e->started_at;
		skw_store_log_key(e);
		rc = pg_bytea(r, i, 6, &resp, NULL);
		e->response = (char *)resp;
		if (!rc)
			rc = pg_strdup(r, i, 7, &e->error);
	}
	PQclear(r);
	return rc;
}

static int log_pending(struct pg_conn *c, struct log_job *j)
{
	struct pg_params p = {0};
	PGresult *r;
	int rc;

	cursor_params(&p, j);
	rc = pg_exec(c,
		     PG_PER_CALL
		     /* a webhook's queue rows are two index ranges: the unleased
		      * ones in queue_ready, the leased ones (at most those in
		      * flight) in queue_leased; there is no index of all of
		      * them (pg_schema.c, migration 5) */
		     "SELECT q.delivery_id, q.event_id, e.event, q.attempts_made + 1,"
		     " q.next_attempt_at FROM ("
		     " (SELECT * FROM queue WHERE webhook_id = $1 AND lease_until IS NULL"
		     "  AND (next_attempt_at, delivery_id) <= ($2, $3)"
		     "  AND ((next_attempt_at, delivery_id) < ($2, $3) OR attempts_made + 1 < $4)"
		     "  ORDER BY next_attempt_at DESC, delivery_id DESC LIMIT $5)"
		     " UNION ALL"
		     " (SELECT * FROM queue WHERE webhook_id = $1 AND lease_until IS NOT NULL"
		     "  AND (next_attempt_at, delivery_id) <= ($2, $3)"
		     "  AND ((next_attempt_at, delivery_id) < ($2, $3) OR attempts_made + 1 < $4)"
		     "  ORDER BY next_attempt_at DESC, delivery_id DESC LIMIT $5)"
		     ") q LEFT JOIN events e ON e.id = q.event_id"
		     " ORDER BY q.next_attempt_at DESC, q.delivery_id DESC LIMIT $5",
		     &p, &r);
	if (rc)
		return rc;
	for (int i = 0; !rc && i < PQntuples(r); i++) {
		struct skw_log_entry *e;

		rc = skw_store_log_push(&j->rows, &j->n_rows, &j->cap_rows, j->limit, &e);
		if (rc)
			break;
		pg_copy(r, i, 0, e->delivery_id, sizeof(e->delivery_id));
		pg_copy(r, i, 1, e->event_id, sizeof(e->event_id));
		pg_copy(r, i, 2, e->event, sizeof(e->event));
		e->status = SKW_LOG_PENDING;
		e->attempt = (int)pg_i64(r, i, 3);
		e->max_attempts = j->max_attempts;
		e->next_attempt_at = pg_i64(r, i, 4);
		e->at = e->next_attempt_at;
		skw_store_log_key(e);
	}
	PQclear(r);
	return rc;
}

static int do_log_list(struct pg_conn *c, void *arg)
{
	struct log_job *j = arg;
	enum skw_log_status status = j->q->status;
	struct pg_params p = {0};
	PGresult *r;
	int rc;

	/* one snapshot for the three streams */
	rc = pg_exec(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", NULL, NULL);
	if (rc)
		return rc;
	pg_p_text(&p, j->q->webhook_id);
	pg_p_text(&p, j->q->account_id);
	rc = pg_exec(c, "SELECT retry_attempts FROM webhooks WHERE id = $1 AND account_id = $2", &p,
		     &r);
	if (rc)
		return rc;
	if (!PQntuples(r)) {
		PQclear(r);
		return SKW_ENOTFOUND;
	}
	j->max_attempts = 1 + (int)pg_i64(r, 0, 0);
	PQclear(r);

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

int pg_log_list(struct skw_store *s, const struct skw_log_query *q, struct skw_log_entry **out,
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
	rc = pg_run(s, do_log_list, &j, true);
	if (rc) {
		skw_log_entries_free(j.rows, j.n_rows);
		return rc;
	}
	skw_store_log_finish(j.rows, j.n_rows, j.limit, out, n_out);
	return 0;
}

/* ---- statistics ------------------------------------------------------ */

struct stats_job {
	const char *account_id;
	const char *webhook_id;
	int64_t from;
	int64_t bucket_ms;
	size_t n;
	struct skw_stat_bucket *buckets;
};

static int do_stats(struct pg_conn *c, void *arg)
{
	struct stats_job *j = arg;
	struct pg_params p = {0};
	PGresult *r;
	int rc;

	pg_p_text(&p, j->webhook_id);
	pg_p_text(&p, j->account_id);
	rc = pg_exec(c, "SELECT 1 FROM webhooks WHERE id = $1 AND account_id = $2", &p, &r);
	if (rc)
		return rc;
	rc = PQntuples(r) ? 0 : SKW_ENOTFOUND;
	PQclear(r);
	if (rc)
		return rc;
	p = (struct pg_params){0};
	pg_p_text(&p, j->webhook_id);
	pg_p_int(&p, j->from);
	pg_p_int(&p, j->bucket_ms);
	pg_p_int(&p, j->from + (int64_t)j->n * j->bucket_ms);
	rc = pg_exec(c,
		     "SELECT (started_at - $2) / $3, success, count(*) FROM attempts"
		     /* success IN: a range of attempts_log per outcome */
		     " WHERE webhook_id = $1 AND success IN (true, false) AND started_at >= $2"
		     " AND started_at < $4"
		     " GROUP BY 1, 2",
		     &p, &r);
	if (rc)
		return rc;
	for (int i = 0; i < PQntuples(r); i++) {
		int64_t b = pg_i64(r, i, 0);
		int count = (int)pg_i64(r, i, 2);

		if (b < 0 || (size_t)b >= j->n)
			continue;
		if (pg_bool(r, i, 1))
			j->buckets[b].succeeded += count;
		else
			j->buckets[b].failed += count;
	}
	PQclear(r);
	return 0;
}

int pg_webhook_stats(struct skw_store *s, const char *account_id, const char *webhook_id,
		     int64_t from, int64_t bucket_ms, size_t n, struct skw_stat_bucket *out)
{
	struct stats_job j = {.account_id = account_id,
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
	return pg_run(s, do_stats, &j, false);
}

/* ---- housekeeping ---------------------------------------------------- */

struct chunk_job {
	const char *sql; /* $1 = a, $2 = MAINTAIN_CHUNK, $3 = b when has_b */
	int64_t a, b;
	bool has_b;
	bool is_locked; /* out: this node holds the housekeeping lock */
	long long n;	/* out: rows deleted */
};

/* One chunk in one short transaction, under a transaction-level advisory
 * lock (safe behind a transaction-pooling proxy): when another node holds
 * it, that node is doing this round. */
static int do_chunk(struct pg_conn *c, void *arg)
{
	struct chunk_job *j = arg;
	struct pg_params p = {0};
	char sql[96];
	PGresult *r;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_xact_lock(%lld)", PG_LOCK_MAINTAIN);
	rc = pg_exec(c, sql, NULL, &r);
	if (rc)
		return rc;
	j->is_locked = pg_bool(r, 0, 0);
	PQclear(r);
	j->n = 0;
	if (!j->is_locked)
		return 0;
	pg_p_int(&p, j->a);
	pg_p_int(&p, MAINTAIN_CHUNK);
	if (j->has_b)
		pg_p_int(&p, j->b);
	rc = pg_exec(c, j->sql, &p, &r);
	if (rc)
		return rc;
	j->n = pg_changes(r);
	PQclear(r);
	return 0;
}

/* Runs chunks until one deletes less than a chunk; *is_busy when another
 * node holds the lock. */
static int drop_in_chunks(struct skw_store *s, struct chunk_job *j, bool *is_busy)
{
	int rc;

	do {
		rc = pg_run(s, do_chunk, j, true);
		if (rc)
			return rc;
		if (!j->is_locked) {
			*is_busy = true;
			return 0;
		}
	} while (j->n >= MAINTAIN_CHUNK);
	return 0;
}

/* retention_ms <= 0 keeps the log and events forever. */
int pg_maintain(struct skw_store *s, int64_t now, int64_t retention_ms)
{
	struct chunk_job jobs[] = {
	    /* a key exactly 24 h old is expired, as for the lookup */
	    {.sql = PG_PER_CALL
	     "DELETE FROM idempotency WHERE (account_id, key) IN (SELECT account_id, key"
	     " FROM idempotency WHERE created_at <= $1 LIMIT $2)",
	     .a = now - IDEM_TTL_MS},
	    {.sql = PG_PER_CALL "DELETE FROM attempts WHERE id IN (SELECT id FROM attempts"
				" WHERE started_at < $1 LIMIT $2)",
	     .a = now - retention_ms},
	    /* events older than the retention that no pending delivery needs */
	    {.sql = PG_PER_CALL "DELETE FROM events WHERE id IN (SELECT e.id FROM events e"
				" WHERE e.created_at < $1 AND NOT EXISTS (SELECT 1 FROM queue q"
				" WHERE q.event_id = e.id) LIMIT $2)",
	     .a = now - retention_ms},
	    /* deliveries an ingest racing a webhook's delete left behind
	     * (no foreign key: pg_schema.c); never claimed, as claims join
	     * webhooks */
	    {.sql = PG_PER_CALL
	     "DELETE FROM queue WHERE delivery_id IN (SELECT q.delivery_id FROM queue q"
	     " WHERE q.created_at < $1 AND NOT EXISTS (SELECT 1 FROM webhooks w"
	     " WHERE w.id = q.webhook_id) LIMIT $2)",
	     .a = now - 60000},
	    {.sql =
		 PG_PER_CALL "DELETE FROM login_links WHERE hash IN (SELECT hash FROM login_links"
			     " WHERE expires_at <= $1 LIMIT $2)",
	     .a = now},
	    {.sql = PG_PER_CALL "DELETE FROM sessions WHERE hash IN (SELECT hash FROM sessions"
				" WHERE expires_at <= $1 OR last_seen_at <= $3 LIMIT $2)",
	     .a = now,
	     .b = now - SESSION_MAX_MS,
	     .has_b = true},
	};
	bool is_busy = false;
	int rc;

	for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]) && !is_busy; i++) {
		if ((i == 1 || i == 2) && retention_ms <= 0)
			continue;
		rc = drop_in_chunks(s, &jobs[i], &is_busy);
		if (rc)
			return rc;
	}
	return 0;
}
