/*
 * sqlite_queue.c - events and the delivery queue in the SQLite backend:
 * ingest with fan-out and idempotency, claim/lease, complete, release,
 * next_due and test sends. These are the hot paths; every statement is
 * prepared once per connection (sq_prep).
 *
 * Claiming walks the enabled webhooks and takes at most per_webhook_limit
 * due rows from each through the queue_webhook index, then keeps the
 * `limit` oldest of those. Its cost grows with the number of enabled
 * webhooks, never with the backlog: a window function over all due rows
 * would rescan a large backlog (or a disabled webhook's held deliveries)
 * on every claim.
 *
 * A delivery's state lives in its queue row: attempts_made (attempts
 * recorded), next_attempt_at, and the lease. A result is applied only when
 * the row still exists and attempts_made + 1 equals the result's attempt;
 * anything else (webhook deleted, a lease that expired and was claimed
 * again) is dropped, so no attempt is ever counted twice.
 */
#include "sqlite_int.h"

#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../core/events.h"

#define IDEM_TTL_MS (24 * 3600 * 1000LL)
#define RESPONSE_MAX 1024

/* ---- ingest --------------------------------------------------------- */

struct ingest_job {
	const struct skw_event_in *ev;
	struct skw_event_out *out;
	struct skw_work *works; /* handed off (ev->handoff took them) */
	size_t n_works, cap_works;
};

/* 0 and out filled when the key was used within 24 h by the same request;
 * SKW_ENOTFOUND when the key is new (or expired). */
static int idem_lookup(struct sq_conn *c, const struct skw_event_in *ev, struct skw_event_out *out)
{
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = sq_prep(c,
		     "SELECT req_hash, event_id, n_deliveries, created_at FROM idempotency"
		     " WHERE account_id = ?1 AND key = ?2",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, ev->account_id);
	sq_bind_text(st, 2, ev->idem_key);
	rc = sq_step(c, st, &has_row);
	if (rc)
		return rc;
	if (!has_row || sqlite3_column_int64(st, 3) + IDEM_TTL_MS <= ev->now)
		return SKW_ENOTFOUND;
	if (sqlite3_column_bytes(st, 0) != (int)sizeof(ev->req_hash) ||
	    memcmp(sqlite3_column_blob(st, 0), ev->req_hash, sizeof(ev->req_hash)))
		return SKW_ECONFLICT;
	sq_col_copy(st, 1, out->id, sizeof(out->id));
	out->n_deliveries = sqlite3_column_int(st, 2);
	out->is_replay = true;
	return 0;
}

/* Fills the next work of j from the webhook row in st (columns: id, url,
 * secret_enc, timeout_s, retry_attempts). */
static int handoff_work(struct ingest_job *j, sqlite3_stmt *st, const char *dlv_id,
			int64_t lease_until)
{
	const struct skw_event_in *ev = j->ev;
	struct skw_work *w;
	int rc;

	if (j->n_works == j->cap_works) {
		size_t cap = j->cap_works ? 2 * j->cap_works : 16;
		struct skw_work *n = realloc(j->works, cap * sizeof(*n));

		if (!n)
			return SKW_ENOMEM;
		j->works = n;
		j->cap_works = cap;
	}
	w = &j->works[j->n_works];
	memset(w, 0, sizeof(*w));
	skw_strlcpy(w->delivery_id, dlv_id, sizeof(w->delivery_id));
	skw_strlcpy(w->event_id, ev->id, sizeof(w->event_id));
	sq_col_copy(st, 0, w->webhook_id, sizeof(w->webhook_id));
	skw_strlcpy(w->account_id, ev->account_id, sizeof(w->account_id));
	skw_strlcpy(w->event, ev->event, sizeof(w->event));
	w->timeout_s = sqlite3_column_int(st, 3);
	w->attempt = 1;
	w->max_attempts = 1 + sqlite3_column_int(st, 4);
	w->lease_until = lease_until;
	w->body = malloc(ev->body_len + 1);
	rc = w->body ? sq_col_strdup(st, 1, &w->url) : SKW_ENOMEM;
	if (!rc)
		rc = sq_col_blobdup(st, 2, &w->secret_enc, &w->secret_enc_len);
	if (rc) {
		skw_work_cleanup(w);
		return rc;
	}
	if (ev->body_len)
		memcpy(w->body, ev->body, ev->body_len);
	w->body[ev->body_len] = '\0';
	w->body_len = ev->body_len;
	j->n_works++;
	return 0;
}

/*
 * Fan-out with direct hand-off (store.h): one queue row per subscribed
 * webhook, inserted already leased to the node for each delivery
 * ev->handoff takes, which then also comes back in j->works. A take whose
 * work cannot be built is given back at once (its row stays unleased).
 */
static int fan_out_handoff(struct sq_conn *c, struct ingest_job *j, int *n_out)
{
	const struct skw_event_in *ev = j->ev;
	const struct skw_handoff_in *h = ev->handoff;
	sqlite3_stmt *hooks, *ins;
	bool has_row;
	int rc;

	*n_out = 0;
	rc = sq_prep(c,
		     "SELECT id, url, secret_enc, timeout_s, retry_attempts FROM webhooks"
		     " WHERE account_id = ?1 AND enabled = 1"
		     " AND instr(',' || events || ',', ',' || ?2 || ',') > 0",
		     &hooks);
	if (rc)
		return rc;
	sq_bind_text(hooks, 1, ev->account_id);
	sq_bind_text(hooks, 2, ev->event);
	for (;;) {
		const char *wh;
		char dlv[SKW_ID_MAX];
		int64_t lease_until = 0;

		rc = sq_step(c, hooks, &has_row);
		if (rc || !has_row)
			return rc;
		wh = (const char *)sqlite3_column_text(hooks, 0);
		if (!wh)
			continue;
		skw_sorted_id("dlv_", ev->now, dlv, sizeof(dlv)); /* as skw_dlv_id() */
		if (h->take(h->arg, wh)) {
			lease_until = ev->now + (int64_t)sqlite3_column_int(hooks, 3) * 1000 +
				      h->lease_margin_ms;
			if (handoff_work(j, hooks, dlv, lease_until)) {
				h->give_back(h->arg, wh);
				lease_until = 0;
			}
		}
		rc =
		    sq_prep(c,
			    "INSERT INTO queue (delivery_id, event_id, webhook_id, account_id,"
			    " attempts_made, next_attempt_at, created_at, lease_until, lease_owner)"
			    " VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5, ?6, ?7)",
			    &ins);
		if (rc)
			return rc;
		sq_bind_text(ins, 1, dlv);
		sq_bind_text(ins, 2, ev->id);
		sq_bind_text(ins, 3, wh);
		sq_bind_text(ins, 4, ev->account_id);
		sqlite3_bind_int64(ins, 5, ev->now);
		if (lease_until) {
			sqlite3_bind_int64(ins, 6, lease_until);
			sq_bind_text(ins, 7, h->lease_node);
		}
		rc = sq_done(c, ins);
		if (rc)
			return rc;
		++*n_out;
	}
}

static int do_ingest(struct sq_conn *c, void *arg)
{
	struct ingest_job *j = arg;
	const struct skw_event_in *ev = j->ev;
	sqlite3_stmt *st;
	int n, rc;

	if (ev->idem_key) {
		rc = idem_lookup(c, ev, j->out);
		if (rc != SKW_ENOTFOUND)
			return rc;
	}
	rc = sq_prep(c,
		     "INSERT INTO events (id, account_id, event, body, created_at)"
		     " VALUES (?1, ?2, ?3, ?4, ?5)",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, ev->id);
	sq_bind_text(st, 2, ev->account_id);
	sq_bind_text(st, 3, ev->event);
	sq_bind_blob(st, 4, ev->body, ev->body_len);
	sqlite3_bind_int64(st, 5, ev->now);
	rc = sq_done(c, st);
	if (rc)
		return rc;

	/* fan-out: one delivery, due now, per enabled subscribed webhook */
	if (ev->handoff) {
		rc = fan_out_handoff(c, j, &n);
		if (rc)
			return rc;
		j->out->n_deliveries = n;
		goto queued;
	}
	rc = sq_prep(c,
		     "INSERT INTO queue (delivery_id, event_id, webhook_id, account_id,"
		     " attempts_made, next_attempt_at, created_at)"
		     " SELECT skw_dlv_id(), ?1, id, account_id, 0, ?3, ?3 FROM webhooks"
		     " WHERE account_id = ?2 AND enabled = 1"
		     " AND instr(',' || events || ',', ',' || ?4 || ',') > 0",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, ev->id);
	sq_bind_text(st, 2, ev->account_id);
	sqlite3_bind_int64(st, 3, ev->now);
	sq_bind_text(st, 4, ev->event);
	rc = sq_done(c, st);
	if (rc)
		return rc;
	j->out->n_deliveries = sqlite3_changes(c->db);
queued:
	skw_strlcpy(j->out->id, ev->id, sizeof(j->out->id));
	j->out->is_replay = false;

	if (!ev->idem_key)
		return 0;
	rc = sq_prep(c,
		     "INSERT INTO idempotency (account_id, key, req_hash, event_id, n_deliveries,"
		     " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
		     " ON CONFLICT (account_id, key) DO UPDATE SET req_hash = excluded.req_hash,"
		     " event_id = excluded.event_id, n_deliveries = excluded.n_deliveries,"
		     " created_at = excluded.created_at",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, ev->account_id);
	sq_bind_text(st, 2, ev->idem_key);
	sq_bind_blob(st, 3, ev->req_hash, sizeof(ev->req_hash));
	sq_bind_text(st, 4, ev->id);
	sqlite3_bind_int(st, 5, j->out->n_deliveries);
	sqlite3_bind_int64(st, 6, ev->now);
	return sq_done(c, st);
}

static int ingest_check(const struct skw_event_in *ev)
{
	/* a comma would match across two names of the subscription list */
	if (!ev->account_id || !ev->event || !*ev->event || strchr(ev->event, ',') ||
	    (!ev->body && ev->body_len))
		return SKW_EINVAL;
	if (ev->handoff && (!ev->handoff->take || !ev->handoff->give_back))
		return SKW_EINVAL;
	return 0;
}

/* What the ingest's answer rc leaves: the handed-off works in out, or, when
 * it was rolled back, every take given back. Returns rc. */
static int ingest_finish(struct ingest_job *j, int rc)
{
	if (rc) {
		/* rolled back: nothing was leased after all */
		for (size_t i = 0; i < j->n_works; i++)
			j->ev->handoff->give_back(j->ev->handoff->arg, j->works[i].webhook_id);
		skw_works_free(j->works, j->n_works);
		memset(j->out, 0, sizeof(*j->out));
		return rc;
	}
	if (j->n_works) {
		j->out->works = j->works;
		j->out->n_works = j->n_works;
	} else {
		free(j->works);
	}
	return 0;
}

int sq_event_ingest(struct skw_store *s, const struct skw_event_in *ev, struct skw_event_out *out)
{
	struct ingest_job j = {.ev = ev, .out = out};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ingest_check(ev);
	if (rc)
		return rc;
	return ingest_finish(&j, sq_write_atomic(s, do_ingest, &j));
}

struct ingest_async {
	struct ingest_job j; /* first: do_ingest's argument */
	skw_store_done_fn done;
	void *arg;
};

static void ingest_answered(void *arg, int rc)
{
	struct ingest_async *a = arg;

	rc = ingest_finish(&a->j, rc);
	a->done(a->arg, rc);
	free(a);
}

int sq_event_ingest_start(struct skw_store *s, const struct skw_event_in *ev,
			  struct skw_event_out *out, skw_store_done_fn done, void *arg)
{
	struct ingest_async *a;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ingest_check(ev);
	if (rc)
		return rc;
	a = calloc(1, sizeof(*a));
	if (!a)
		return SKW_ENOMEM;
	a->j.ev = ev;
	a->j.out = out;
	a->done = done;
	a->arg = arg;
	rc = sq_write_atomic_async(s, do_ingest, &a->j, ingest_answered);
	if (rc)
		free(a);
	return rc;
}

/* ---- claim ---------------------------------------------------------- */

struct cand {
	char delivery_id[SKW_ID_MAX];
	int64_t due;
};

struct claim_job {
	const struct skw_claim_opts *o;
	const char **exclude; /* sorted copy of o->exclude */
	size_t per;
	struct cand *cands;
	size_t n_cands;
	size_t cap_cands;
	struct skw_work *works;
	size_t n_works;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->due != y->due)
		return x->due < y->due ? -1 : 1;
	return strcmp(x->delivery_id, y->delivery_id);
}

/* Keeps the limit oldest candidates. */
static void cands_trim(struct claim_job *j)
{
	if (!j->n_cands)
		return;
	qsort(j->cands, j->n_cands, sizeof(*j->cands), cmp_cand);
	if (j->n_cands > j->o->limit)
		j->n_cands = j->o->limit;
}

/* Adds up to j->per due, unleased deliveries of webhook_id. */
static int claim_collect(struct sq_conn *c, struct claim_job *j, const char *webhook_id)
{
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = sq_prep(c,
		     "SELECT delivery_id, next_attempt_at FROM queue WHERE webhook_id = ?1"
		     " AND next_attempt_at <= ?2 AND (lease_until IS NULL OR lease_until <= ?2)"
		     " ORDER BY next_attempt_at, delivery_id LIMIT ?3",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, webhook_id);
	sqlite3_bind_int64(st, 2, j->o->now);
	sqlite3_bind_int64(st, 3, (int64_t)j->per);
	for (;;) {
		rc = sq_step(c, st, &has_row);
		if (rc || !has_row)
			return rc;
		if (j->n_cands == j->cap_cands) {
			size_t cap = j->cap_cands ? 2 * j->cap_cands : 64;
			struct cand *n = realloc(j->cands, cap * sizeof(*n));

			if (!n)
				return SKW_ENOMEM;
			j->cands = n;
			j->cap_cands = cap;
		}
		sq_col_copy(st, 0, j->cands[j->n_cands].delivery_id, SKW_ID_MAX);
		j->cands[j->n_cands].due = sqlite3_column_int64(st, 1);
		j->n_cands++;
	}
}

/* Fills w from the delivery's queue, webhook and event rows and leases it. */
static int claim_one(struct sq_conn *c, struct claim_job *j, const char *delivery_id,
		     struct skw_work *w, bool *is_found)
{
	unsigned char *body;
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	*is_found = false;
	rc = sq_prep(c,
		     "SELECT q.event_id, q.webhook_id, q.account_id, q.attempts_made, e.event,"
		     " e.body, w.url, w.secret_enc, w.timeout_s, w.retry_attempts"
		     " FROM queue q JOIN webhooks w ON w.id = q.webhook_id"
		     " JOIN events e ON e.id = q.event_id WHERE q.delivery_id = ?1",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, delivery_id);
	rc = sq_step(c, st, &has_row);
	if (rc || !has_row)
		return rc;
	memset(w, 0, sizeof(*w));
	skw_strlcpy(w->delivery_id, delivery_id, sizeof(w->delivery_id));
	sq_col_copy(st, 0, w->event_id, sizeof(w->event_id));
	sq_col_copy(st, 1, w->webhook_id, sizeof(w->webhook_id));
	sq_col_copy(st, 2, w->account_id, sizeof(w->account_id));
	w->attempt = sqlite3_column_int(st, 3) + 1;
	sq_col_copy(st, 4, w->event, sizeof(w->event));
	w->timeout_s = sqlite3_column_int(st, 8);
	w->max_attempts = 1 + sqlite3_column_int(st, 9);
	w->lease_until = j->o->now + (int64_t)w->timeout_s * 1000 + j->o->lease_margin_ms;
	rc = sq_col_blobdup(st, 5, &body, &w->body_len);
	w->body = (char *)body;
	if (!rc)
		rc = sq_col_strdup(st, 6, &w->url);
	if (!rc)
		rc = sq_col_blobdup(st, 7, &w->secret_enc, &w->secret_enc_len);
	if (rc) {
		skw_work_cleanup(w);
		return rc;
	}
	*is_found = true;
	sqlite3_reset(st);

	rc = sq_prep(
	    c, "UPDATE queue SET lease_until = ?2, lease_owner = ?3 WHERE delivery_id = ?1", &st);
	if (!rc) {
		sq_bind_text(st, 1, delivery_id);
		sqlite3_bind_int64(st, 2, w->lease_until);
		sq_bind_text(st, 3, j->o->node_id);
		rc = sq_done(c, st);
	}
	if (rc) {
		skw_work_cleanup(w);
		*is_found = false;
	}
	return rc;
}

static int do_claim(struct sq_conn *c, void *arg)
{
	struct claim_job *j = arg;
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = sq_prep(c,
		     "SELECT w.id FROM webhooks w WHERE w.enabled = 1 AND EXISTS (SELECT 1"
		     " FROM queue q WHERE q.webhook_id = w.id AND q.next_attempt_at <= ?1)",
		     &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, j->o->now);
	for (;;) {
		const char *id;

		rc = sq_step(c, st, &has_row);
		if (rc)
			return rc;
		if (!has_row)
			break;
		id = (const char *)sqlite3_column_text(st, 0);
		if (!id || (j->exclude && bsearch(&id, j->exclude, j->o->n_exclude,
						  sizeof(*j->exclude), cmp_str)))
			continue;
		rc = claim_collect(c, j, id);
		if (rc)
			return rc;
		if (j->n_cands >= 2 * j->o->limit)
			cands_trim(j);
	}
	cands_trim(j);
	if (!j->n_cands)
		return 0;

	j->works = calloc(j->n_cands, sizeof(*j->works));
	if (!j->works)
		return SKW_ENOMEM;
	for (size_t i = 0; i < j->n_cands; i++) {
		bool is_found;

		rc = claim_one(c, j, j->cands[i].delivery_id, &j->works[j->n_works], &is_found);
		if (rc)
			return rc;
		if (is_found)
			j->n_works++;
	}
	return 0;
}

int sq_claim(struct skw_store *s, const struct skw_claim_opts *o, struct skw_work **out,
	     size_t *n_out)
{
	struct claim_job j = {.o = o};
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	if (!o->limit)
		return 0;
	j.per = o->per_webhook_limit && o->per_webhook_limit < o->limit ? o->per_webhook_limit
									: o->limit;
	if (o->n_exclude) {
		j.exclude = malloc(o->n_exclude * sizeof(*j.exclude));
		if (!j.exclude)
			return SKW_ENOMEM;
		memcpy(j.exclude, o->exclude, o->n_exclude * sizeof(*j.exclude));
		qsort(j.exclude, o->n_exclude, sizeof(*j.exclude), cmp_str);
	}
	rc = sq_write_atomic(s, do_claim, &j);
	if (rc) {
		skw_works_free(j.works, j.n_works);
		j.works = NULL;
		j.n_works = 0;
	} else if (!j.n_works) {
		free(j.works);
		j.works = NULL;
	}
	free(j.cands);
	free(j.exclude);
	*out = j.works;
	*n_out = j.n_works;
	return rc;
}

/* ---- complete, release ---------------------------------------------- */

struct complete_job {
	const struct skw_attempt_result *r;
	size_t n;
	const char *const *ids;
	const char *node_id;
};

static int attempt_insert(struct sq_conn *c, const struct skw_attempt_result *r)
{
	const struct skw_work *w = r->work;
	size_t resp_len = r->response ? r->response_len : 0;
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c,
		     "INSERT INTO attempts (delivery_id, event_id, webhook_id, account_id, event,"
		     " attempt_no, max_attempts, status_code, response, error, started_at,"
		     " duration_ms, delivered_at, success)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
		     &st);
	if (rc)
		return rc;
	if (resp_len > RESPONSE_MAX)
		resp_len = RESPONSE_MAX;
	sq_bind_text(st, 1, w->delivery_id);
	sq_bind_text(st, 2, w->event_id);
	sq_bind_text(st, 3, w->webhook_id);
	sq_bind_text(st, 4, w->account_id);
	sq_bind_text(st, 5, w->event);
	sqlite3_bind_int(st, 6, w->attempt);
	sqlite3_bind_int(st, 7, w->max_attempts);
	if (r->status_code)
		sqlite3_bind_int(st, 8, r->status_code);
	if (r->response)
		sq_bind_blob(st, 9, r->response, resp_len);
	sq_bind_text(st, 10, r->error);
	sqlite3_bind_int64(st, 11, r->started_at);
	sqlite3_bind_int64(st, 12, r->duration_ms);
	if (r->is_success)
		sqlite3_bind_int64(st, 13, r->started_at + r->duration_ms);
	sqlite3_bind_int(st, 14, r->is_success);
	return sq_done(c, st);
}

static int complete_test(struct sq_conn *c, const struct skw_attempt_result *r)
{
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	/* A test send has no queue row to tell a repeated result: the attempt
	 * itself does (one attempts_log step). */
	rc = sq_prep(c,
		     "SELECT 1 FROM webhooks WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM"
		     " attempts WHERE webhook_id = ?1 AND success = ?2 AND started_at = ?3"
		     " AND delivery_id = ?4 AND attempt_no = ?5)",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, r->work->webhook_id);
	sqlite3_bind_int(st, 2, r->is_success);
	sqlite3_bind_int64(st, 3, r->started_at);
	sq_bind_text(st, 4, r->work->delivery_id);
	sqlite3_bind_int(st, 5, r->work->attempt);
	rc = sq_step(c, st, &has_row);
	if (rc || !has_row)
		return rc; /* the webhook is gone, or this result is logged already */
	return attempt_insert(c, r);
}

/* Applies one result: the queue row is removed (final) or rescheduled only
 * while attempts_made is still the attempt before this one, and the attempt
 * is logged only when that happened; one statement decides, no SELECT
 * first. */
static int complete_one(struct sq_conn *c, const struct skw_attempt_result *r)
{
	sqlite3_stmt *st;
	int rc;

	if (r->work->is_test)
		return complete_test(c, r);
	if (!r->next_attempt_at)
		rc = sq_prep(c, "DELETE FROM queue WHERE delivery_id = ?1 AND attempts_made = ?2",
			     &st);
	else
		rc = sq_prep(c,
			     "UPDATE queue SET attempts_made = ?2 + 1, next_attempt_at = ?3,"
			     " lease_until = NULL, lease_owner = NULL"
			     " WHERE delivery_id = ?1 AND attempts_made = ?2",
			     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, r->work->delivery_id);
	sqlite3_bind_int(st, 2, r->work->attempt - 1);
	if (r->next_attempt_at)
		sqlite3_bind_int64(st, 3, r->next_attempt_at);
	rc = sq_done(c, st);
	if (rc)
		return rc;
	if (sqlite3_changes(c->db) != 1)
		return 0; /* gone, or a stale result: this attempt was already recorded */
	return attempt_insert(c, r);
}

static int do_complete(struct sq_conn *c, void *arg)
{
	struct complete_job *j = arg;
	int rc;

	for (size_t i = 0; i < j->n; i++) {
		rc = complete_one(c, &j->r[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int sq_complete(struct skw_store *s, const struct skw_attempt_result *r, size_t n)
{
	struct complete_job j = {.r = r, .n = n};

	for (size_t i = 0; i < n; i++) {
		if (!r[i].work)
			return SKW_EINVAL;
	}
	if (!n)
		return 0;
	return sq_write_atomic(s, do_complete, &j);
}

static int do_release(struct sq_conn *c, void *arg)
{
	struct complete_job *j = arg;
	sqlite3_stmt *st;
	int rc;

	for (size_t i = 0; i < j->n; i++) {
		rc = sq_prep(c,
			     "UPDATE queue SET lease_until = NULL, lease_owner = NULL"
			     " WHERE delivery_id = ?1",
			     &st);
		if (rc)
			return rc;
		sq_bind_text(st, 1, j->ids[i]);
		rc = sq_done(c, st);
		if (rc)
			return rc;
	}
	return 0;
}

int sq_release(struct skw_store *s, const char *const *ids, size_t n)
{
	struct complete_job j = {.ids = ids, .n = n};

	if (!n)
		return 0;
	return sq_write(s, do_release, &j);
}

static int do_release_node(struct sq_conn *c, void *arg)
{
	struct complete_job *j = arg;
	sqlite3_stmt *st;
	int rc;

	if (j->node_id)
		rc = sq_prep(c,
			     "UPDATE queue SET lease_until = NULL, lease_owner = NULL"
			     " WHERE lease_until IS NOT NULL AND lease_owner = ?1",
			     &st);
	else
		rc = sq_prep(c,
			     "UPDATE queue SET lease_until = NULL, lease_owner = NULL"
			     " WHERE lease_until IS NOT NULL",
			     &st);
	if (rc)
		return rc;
	if (j->node_id)
		sq_bind_text(st, 1, j->node_id);
	return sq_done(c, st);
}

int sq_release_node(struct skw_store *s, const char *node_id)
{
	struct complete_job j = {.node_id = node_id};

	return sq_write(s, do_release_node, &j);
}

/* ---- next_due ------------------------------------------------------- */

static int do_next_due(struct sq_conn *c, void *arg)
{
	int64_t *out = arg;
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	*out = INT64_MAX;
	/* the oldest unleased delivery of each enabled webhook */
	rc = sq_prep(c,
		     "SELECT min((SELECT q.next_attempt_at FROM queue q WHERE q.webhook_id = w.id"
		     " AND q.lease_until IS NULL ORDER BY q.next_attempt_at LIMIT 1))"
		     " FROM webhooks w WHERE w.enabled = 1",
		     &st);
	if (rc)
		return rc;
	rc = sq_step(c, st, &has_row);
	if (rc)
		return rc;
	if (has_row && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*out = sqlite3_column_int64(st, 0);

	/* a leased delivery is claimable again when its lease runs out */
	rc = sq_prep(c,
		     "SELECT min(max(q.next_attempt_at, q.lease_until)) FROM queue q"
		     " JOIN webhooks w ON w.id = q.webhook_id"
		     " WHERE q.lease_until IS NOT NULL AND w.enabled = 1",
		     &st);
	if (rc)
		return rc;
	rc = sq_step(c, st, &has_row);
	if (rc)
		return rc;
	if (has_row && sqlite3_column_type(st, 0) != SQLITE_NULL &&
	    sqlite3_column_int64(st, 0) < *out)
		*out = sqlite3_column_int64(st, 0);
	return 0;
}

int sq_next_due(struct skw_store *s, int64_t *out)
{
	return sq_read(s, do_next_due, out);
}

/* ---- test sends ----------------------------------------------------- */

struct test_job {
	const struct skw_webhook *w;
	const char *event_id;
	const char *body;
	size_t body_len;
	int64_t now;
};

static int do_test_prepare(struct sq_conn *c, void *arg)
{
	struct test_job *j = arg;
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c,
		     "INSERT INTO events (id, account_id, event, body, created_at)"
		     " VALUES (?1, ?2, ?3, ?4, ?5)",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, j->event_id);
	sq_bind_text(st, 2, j->w->account_id);
	sq_bind_text(st, 3, SKW_EVENT_TEST);
	sq_bind_blob(st, 4, j->body, j->body_len);
	sqlite3_bind_int64(st, 5, j->now);
	return sq_done(c, st);
}

int sq_test_prepare(struct skw_store *s, const struct skw_webhook *w, const char *event_id,
		    const char *body, size_t body_len, int64_t now, struct skw_work *out)
{
	struct test_job j = {
	    .w = w, .event_id = event_id, .body = body, .body_len = body_len, .now = now};
	int rc;

	rc = skw_store_test_work(w, event_id, body, body_len, now, out);
	if (rc)
		return rc;
	rc = sq_write(s, do_test_prepare, &j);
	if (rc)
		skw_work_cleanup(out);
	return rc;
}
