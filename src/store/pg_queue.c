/*
 * pg_queue.c - events and the delivery queue in the PostgreSQL backend:
 * ingest with fan-out and idempotency, claim/lease, complete, release,
 * next_due and test sends. Semantics are sqlite_queue.c's; what differs is
 * how several nodes share the queue:
 *
 * - Claim is one statement: for every enabled, not excluded webhook, a
 *   LATERAL subquery takes its oldest due rows (at most per_webhook_limit)
 *   FOR UPDATE SKIP LOCKED, the unleased ones from the partial index
 *   queue_ready and those whose lease ran out apart; the `limit` oldest of those
 *   are leased to node_id for their webhook's timeout plus the margin, and
 *   come back joined with their webhook and event. Rows another node is
 *   claiming at that moment are skipped, and a row it has just leased fails
 *   the lease re-check, so each due attempt goes to exactly one node. A dead
 *   node's rows become claimable when their lease runs out.
 * - Complete is one statement: its DELETE and UPDATE lock the batch's queue
 *   rows in delivery_id order (no deadlock between nodes) and skip stale
 *   results (the row is gone, or attempts_made + 1 is not the result's
 *   attempt: another node's lease already recorded it); only the results
 *   they applied are logged.
 * - Ingest takes the idempotency key first (INSERT ... ON CONFLICT), so two
 *   requests with one key on two nodes serialise on that row. Deliveries it
 *   hands off to its own node (store.h) need nobody else; for the others it
 *   NOTIFYs PG_CHANNEL after the commit (pg_wake_others), not inside the
 *   transaction: PostgreSQL holds one database-wide lock from a notifying
 *   transaction's pre-commit to its end, fsync included, so NOTIFY inside
 *   every ingest serialised all ingest commits (measured: ~1,000 events/s).
 * - Round trips: the hot jobs send their last statement with the COMMIT
 *   (pg_exec_commit) and their first goes out with the BEGIN (pg_run), so
 *   an ingest without an idempotency key is two and a complete one; ingests
 *   without a key share transactions under load (the ingest threads,
 *   ingest_main), and a batch of them is two statements whatever its size
 *   (ingest_events).
 */
#include "pg_int.h"

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
	size_t n_works;
	bool is_left;		 /* some delivery was not handed off: wake the others */
	int own_rc;		 /* in a batch that committed: this job's outcome */
	struct ingest_job *next; /* in the batch queue, then in its batch */
	bool is_done;		 /* under the queue's mu */
	int rc;			 /* the outcome, once is_done */
	skw_store_done_fn done;	 /* pg_event_ingest_start: called, then the job freed */
	void *done_arg;
};

#define INGEST_BATCH_MAX 64
/* A batch's payloads travel hex-encoded in one array (ingest_events):
 * it takes more events only while they stay under this many bytes. */
#define INGEST_BATCH_BYTES (1024 * 1024)

/* Gives back every work a (failed or retried) run of the job took. */
static void ingest_give_back(struct ingest_job *j)
{
	for (size_t i = 0; i < j->n_works; i++)
		j->ev->handoff->give_back(j->ev->handoff->arg, j->works[i].webhook_id);
	skw_works_free(j->works, j->n_works);
	j->works = NULL;
	j->n_works = 0;
}

/*
 * Takes the idempotency key: 0 when it is ours now (new, or expired and
 * overwritten), or 1 with out filled for a replay, or SKW_ECONFLICT when
 * the key was used within 24 h by a different request.
 */
static int idem_take(struct pg_conn *c, const struct skw_event_in *ev, struct skw_event_out *out)
{
	struct pg_params p = {0};
	PGresult *r;
	unsigned char *hash;
	size_t hash_len;
	int rc;

	pg_p_text(&p, ev->account_id);
	pg_p_text(&p, ev->idem_key);
	pg_p_bytea(&p, ev->req_hash, sizeof(ev->req_hash));
	pg_p_text(&p, ev->id);
	pg_p_int(&p, ev->now);
	pg_p_int(&p, IDEM_TTL_MS);
	rc = pg_exec(c,
		     "INSERT INTO idempotency (account_id, key, req_hash, event_id, n_deliveries,"
		     " created_at) VALUES ($1, $2, $3, $4, 0, $5)"
		     " ON CONFLICT (account_id, key) DO UPDATE SET req_hash = excluded.req_hash,"
		     " event_id = excluded.event_id, n_deliveries = 0,"
		     " created_at = excluded.created_at"
		     " WHERE idempotency.created_at + $6 <= excluded.created_at RETURNING 1",
		     &p, &r);
	if (rc)
		return rc;
	rc = PQntuples(r) ? 0 : 1;
	PQclear(r);
	if (!rc)
		return 0;

	/* a live key (now locked by us): the first request's answer, if the
	 * API key the replay came with is still live (skw_event_in.key_hash) */
	p = (struct pg_params){0};
	pg_p_text(&p, ev->account_id);
	pg_p_text(&p, ev->idem_key);
	pg_p_bytea(&p, ev->key_hash, ev->key_hash ? SKW_KEY_HASH_LEN : 0);
	rc = pg_exec(c,
		     "SELECT req_hash, event_id, n_deliveries, (octet_length($3::bytea) = 0"
		     " OR EXISTS (SELECT 1 FROM api_keys k WHERE k.hash = $3::bytea"
		     " AND k.revoked_at IS NULL)) FROM idempotency"
		     " WHERE account_id = $1 AND key = $2",
		     &p, &r);
	if (rc)
		return rc;
	if (!PQntuples(r)) {
		PQclear(r);
		return SKW_EUNAVAIL; /* deleted meanwhile: let the client try again */
	}
	if (strcmp(PQgetvalue(r, 0, 3), "t")) {
		PQclear(r);
		return SKW_EREVOKED;
	}
	rc = pg_bytea(r, 0, 0, &hash, &hash_len);
	if (!rc) {
		if (hash_len != sizeof(ev->req_hash) ||
		    memcmp(hash, ev->req_hash, sizeof(ev->req_hash))) {
			rc = SKW_ECONFLICT;
		} else {
			pg_copy(r, 0, 1, out->id, sizeof(out->id));
			out->n_deliveries = (int)pg_i64(r, 0, 2);
			out->is_replay = true;
			rc = 1;
		}
	}
	free(hash);
	PQclear(r);
	return rc;
}

/* Builds the handed-off work of row i of hooks (id, url, secret_enc,
 * timeout_s, retry_attempts) into w. */
static int handoff_work(const struct skw_event_in *ev, PGresult *hooks, int i, const char *dlv,
			int64_t lease_until, struct skw_work *w)
{
	int rc;

	memset(w, 0, sizeof(*w));
	skw_strlcpy(w->delivery_id, dlv, sizeof(w->delivery_id));
	skw_strlcpy(w->event_id, ev->id, sizeof(w->event_id));
	pg_copy(hooks, i, 0, w->webhook_id, sizeof(w->webhook_id));
	skw_strlcpy(w->account_id, ev->account_id, sizeof(w->account_id));
	skw_strlcpy(w->event, ev->event, sizeof(w->event));
	w->timeout_s = (int)pg_i64(hooks, i, 3);
	w->attempt = 1;
	w->max_attempts = 1 + (int)pg_i64(hooks, i, 4);
	w->lease_until = lease_until;
	w->body = malloc(ev->body_len + 1);
	rc = w->body ? pg_strdup(hooks, i, 1, &w->url) : SKW_ENOMEM;
	if (!rc)
		rc = pg_bytea(hooks, i, 2, &w->secret_enc, &w->secret_enc_len);
	if (rc) {
		skw_work_cleanup(w);
		return rc;
	}
	if (ev->body_len)
		memcpy(w->body, ev->body, ev->body_len);
	w->body[ev->body_len] = '\0';
	w->body_len = ev->body_len;
	return 0;
}

/* The queue rows of one ingest or of a batch of them, as unnest() arrays. */
struct fan {
	const char **dlv, **wh, **evt, **acct, **owner;
	int64_t *lease, *now;
	char *ids; /* what dlv points into */
	size_t n;
};

static void fan_free(struct fan *f)
{
	free(f->dlv);
	free(f->wh);
	free(f->evt);
	free(f->acct);
	free(f->owner);
	free(f->lease);
	free(f->now);
	free(f->ids);
}

static int fan_init(struct fan *f, size_t cap)
{
	*f = (struct fan){0};
	if (!cap)
		return 0;
	f->dlv = calloc(cap, sizeof(*f->dlv));
	f->wh = calloc(cap, sizeof(*f->wh));
	f->evt = calloc(cap, sizeof(*f->evt));
	f->acct = calloc(cap, sizeof(*f->acct));
	f->owner = calloc(cap, sizeof(*f->owner));
	f->lease = calloc(cap, sizeof(*f->lease));
	f->now = calloc(cap, sizeof(*f->now));
	f->ids = calloc(cap, SKW_ID_MAX);
	if (f->dlv && f->wh && f->evt && f->acct && f->owner && f->lease && f->now && f->ids)
		return 0;
	fan_free(f);
	return SKW_ENOMEM;
}

/* Room in j->works for n more deliveries, when j's event hands off. */
static int works_reserve(struct ingest_job *j, size_t n)
{
	if (!j->ev->handoff || !n)
		return 0;
	j->works = calloc(n, sizeof(*j->works));
	return j->works ? 0 : SKW_ENOMEM;
}

/*
 * Adds j's delivery to the webhook of hooks row i. One that ev->handoff
 * takes is inserted leased to its node and comes back in j->works
 * (store.h); otherwise j->is_left says some delivery is left for any node
 * to claim.
 */
static void fan_add(struct fan *f, struct ingest_job *j, PGresult *hooks, int i)
{
	const struct skw_event_in *ev = j->ev;
	const struct skw_handoff_in *h = ev->handoff;
	char *id = f->ids + f->n * SKW_ID_MAX;
	size_t k = f->n++;

	skw_sorted_id("dlv_", ev->now, id, SKW_ID_MAX);
	f->dlv[k] = id;
	f->wh[k] = PQgetvalue(hooks, i, 0);
	f->evt[k] = ev->id;
	f->acct[k] = ev->account_id;
	f->now[k] = ev->now;
	if (h && h->take(h->arg, f->wh[k])) {
		int64_t lease = ev->now + pg_i64(hooks, i, 3) * 1000 + h->lease_margin_ms;

		if (!handoff_work(ev, hooks, i, id, lease, &j->works[j->n_works])) {
			f->owner[k] = h->lease_node;
			f->lease[k] = lease;
			j->n_works++;
			return;
		}
		h->give_back(h->arg, f->wh[k]);
	}
	j->is_left = true;
}

/* Inserts the rows of f; is_commit sends the COMMIT with them. */
static int fan_insert(struct pg_conn *c, struct fan *f, bool is_commit)
{
	struct pg_params p = {0};
	int rc;

	pg_p_own(&p, pg_array_text(f->dlv, f->n));
	pg_p_own(&p, pg_array_text(f->wh, f->n));
	pg_p_own(&p, pg_array_text(f->evt, f->n));
	pg_p_own(&p, pg_array_text(f->acct, f->n));
	pg_p_own(&p, pg_array_int(f->now, f->n));
	pg_p_own(&p, pg_array_int(f->lease, f->n));
	pg_p_own(&p, pg_array_text(f->owner, f->n));
	rc = (is_commit ? pg_exec_commit : pg_exec)(
	    c,
	    "INSERT INTO queue (delivery_id, event_id, webhook_id, account_id,"
	    " attempts_made, next_attempt_at, created_at, lease_until, lease_owner)"
	    " SELECT d, e, w, a, 0, t, t, nullif(l, 0), o FROM unnest($1::text[], $2::text[],"
	    " $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[]) AS u(d, w, e, a, t,"
	    " l, o)",
	    &p, NULL);
	pg_params_free(&p);
	return rc;
}

/* What a run of j starts from: nothing taken, nothing left. */
static void ingest_reset(struct ingest_job *j)
{
	if (j->n_works || j->works)
		ingest_give_back(j); /* a retry: the last run was rolled back */
	j->is_left = false;
	j->own_rc = 0;
}

static void ingest_done(struct ingest_job *j, int n)
{
	j->out->n_deliveries = n;
	skw_strlcpy(j->out->id, j->ev->id, sizeof(j->out->id));
	j->out->is_replay = false;
}

/* The events of n jobs from jobs on, as arrays. */
static int events_params(struct ingest_job *jobs, size_t n, struct pg_params *p)
{
	const char **id = calloc(n, sizeof(*id)), **acct = calloc(n, sizeof(*acct));
	const char **name = calloc(n, sizeof(*name));
	const unsigned char **body = calloc(n, sizeof(*body)), **key = calloc(n, sizeof(*key));
	size_t *body_len = calloc(n, sizeof(*body_len)), *key_len = calloc(n, sizeof(*key_len));
	int64_t *now = calloc(n, sizeof(*now));
	struct ingest_job *j = jobs;
	int rc = SKW_ENOMEM;

	if (!id || !acct || !name || !body || !body_len || !now || !key || !key_len)
		goto out;
	for (size_t i = 0; i < n; i++, j = j->next) {
		id[i] = j->ev->id;
		acct[i] = j->ev->account_id;
		name[i] = j->ev->event;
		body[i] =
		    j->ev->body ? (const unsigned char *)j->ev->body : (const unsigned char *)"";
		body_len[i] = j->ev->body_len;
		now[i] = j->ev->now;
		key[i] = j->ev->key_hash ? j->ev->key_hash : (const unsigned char *)"";
		key_len[i] = j->ev->key_hash ? SKW_KEY_HASH_LEN : 0; /* '': not checked */
	}
	pg_p_own(p, pg_array_text(id, n));
	pg_p_own(p, pg_array_text(acct, n));
	pg_p_own(p, pg_array_text(name, n));
	pg_p_own(p, pg_array_hex(body, body_len, n));
	pg_p_own(p, pg_array_int(now, n));
	pg_p_own(p, pg_array_hex(key, key_len, n));
	rc = 0;
out:
	free(id);
	free(acct);
	free(name);
	free(body);
	free(body_len);
	free(now);
	free(key);
	free(key_len);
	return rc;
}

/*
 * Ingests the events of n jobs from jobs on (a batch, or one) in two
 * statements, whatever n: every event with the webhooks subscribed to it
 * (rows in job order, column 5 the event's place, column 6 whether it
 * went in, column 7 whether its API key is still live), then every queue
 * row, with the COMMIT when is_commit. An event whose account is gone is
 * that job's NOT FOUND (own_rc) alone, one whose key was revoked meanwhile
 * its SKW_EREVOKED: it inserted nothing, and the others go on.
 */
static int ingest_events(struct pg_conn *c, struct ingest_job *jobs, size_t n, bool is_commit)
{
	struct ingest_job *j = jobs;
	struct pg_params p = {0};
	struct fan f = {0};
	PGresult *hooks;
	int rows, i = 0, rc;

	/* events has no foreign key (pg_schema.c): the account is checked
	 * without a row lock */
	rc = events_params(jobs, n, &p);
	if (!rc)
		rc = pg_exec(
		    c,
		    "WITH ev AS (SELECT t.*, (t.keyh = '' OR EXISTS (SELECT 1 FROM api_keys k"
		    "  WHERE k.hash = decode(t.keyh, 'hex') AND k.revoked_at IS NULL)) AS key_ok"
		    "  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],"
		    "  $6::text[]) WITH ORDINALITY AS t(id, acct, name, body, now, keyh, ord)),"
		    " e AS (INSERT INTO events (id, account_id, event, body, created_at)"
		    "  SELECT id, acct, name, decode(body, 'hex'), now FROM ev"
		    "  WHERE ev.key_ok AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = ev.acct)"
		    "  RETURNING id)"
		    " SELECT w.id, w.url, w.secret_enc, w.timeout_s, w.retry_attempts, ev.ord,"
		    "  ev.id IN (SELECT id FROM e), ev.key_ok"
		    " FROM ev LEFT JOIN webhooks w ON w.account_id = ev.acct AND w.enabled"
		    "  AND strpos(',' || w.events || ',', ',' || ev.name || ',') > 0"
		    " ORDER BY ev.ord",
		    &p, &hooks);
	pg_params_free(&p);
	if (rc)
		return rc;
	rows = PQntuples(hooks);
	rc = fan_init(&f, (size_t)rows);
	for (int64_t ord = 1; !rc && ord <= (int64_t)n; j = j->next, ord++) {
		int first = i, has_hooks;

		while (i < rows && pg_i64(hooks, i, 5) == ord)
			i++;
		if (i > first && strcmp(PQgetvalue(hooks, first, 7), "t")) {
			j->own_rc = SKW_EREVOKED; /* its API key, meanwhile */
			continue;
		}
		if (i == first || strcmp(PQgetvalue(hooks, first, 6), "t")) {
			j->own_rc = SKW_ENOTFOUND; /* no such account */
			continue;
		}
		has_hooks = !pg_is_null(hooks, first, 0);
		rc = works_reserve(j, has_hooks ? (size_t)(i - first) : 0);
		for (int k = first; !rc && has_hooks && k < i; k++)
			fan_add(&f, j, hooks, k);
		ingest_done(j, has_hooks ? i - first : 0);
	}
	if (!rc && f.n)
		rc = fan_insert(c, &f, is_commit);
	fan_free(&f);
	PQclear(hooks);
	return rc;
}

/* One ingest in its own transaction: with an Idempotency-Key, the key is
 * taken first and its update carries the COMMIT. */
static int do_ingest(struct pg_conn *c, void *arg)
{
	struct ingest_job *j = arg;
	const struct skw_event_in *ev = j->ev;
	struct pg_params p = {0};
	int rc;

	ingest_reset(j);
	if (ev->idem_key) {
		rc = idem_take(c, ev, j->out);
		if (rc)
			return rc == 1 ? 0 : rc;
	}
	rc = ingest_events(c, j, 1, !ev->idem_key);
	if (!rc)
		rc = j->own_rc;
	if (rc || !ev->idem_key)
		return rc;
	pg_p_text(&p, ev->account_id);
	pg_p_text(&p, ev->idem_key);
	pg_p_int(&p, j->out->n_deliveries);
	return pg_exec_commit(
	    c, "UPDATE idempotency SET n_deliveries = $3 WHERE account_id = $1 AND key = $2", &p,
	    NULL);
}

/* A batch of ingests without a key in one transaction. */
static int do_ingest_batch(struct pg_conn *c, void *arg)
{
	struct ingest_job *jobs = arg;
	size_t n = 0;

	for (struct ingest_job *b = jobs; b; b = b->next, n++)
		ingest_reset(b);
	return ingest_events(c, jobs, n, true);
}

/* The errors that belong to one ingest of a batch (its account or webhook
 * is gone, its event is too big): the others may go on without it. */
static bool is_own_error(int rc)
{
	return rc == SKW_ENOTFOUND || rc == SKW_ECONFLICT || rc == SKW_EINVAL || rc == SKW_ETOOBIG;
}

/* Runs a list of ingests in one transaction. An event whose account is
 * gone fails alone (ingest_events). When a statement fails for one of
 * them (an event the server refuses), the transaction is gone for all;
 * each is then run on its own, so that only the failing one fails. Any
 * other error (a lost connection, a commit in doubt) is every job's:
 * running them again could store an event twice. */
static void ingest_run(struct skw_store *s, struct ingest_job *jobs)
{
	int rc;

	rc = pg_run(s, jobs->next ? do_ingest_batch : do_ingest, jobs, true);
	for (struct ingest_job *j = jobs; j; j = j->next)
		j->rc = rc ? rc : j->own_rc;
	if (!rc || !jobs->next || !is_own_error(rc))
		return;
	for (struct ingest_job *j = jobs; j; j = j->next)
		j->rc = pg_run(s, do_ingest, j, true); /* do_ingest undoes the last run */
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

/* Takes the next batch off the queue (mu held, head set): everything
 * queued without an Idempotency-Key, up to INGEST_BATCH_MAX events and
 * INGEST_BATCH_BYTES of payloads; a job with a key runs alone (with a key
 * two statements decide what it means, and concurrent requests with one
 * key must serialise). */
static struct ingest_job *take_batch(struct pg_ingest_q *q)
{
	struct ingest_job *batch = q->head, *last = batch;
	size_t bytes = batch->ev->body_len;
	int n = 1;

	while (!batch->ev->idem_key && last->next && !last->next->ev->idem_key &&
	       n < INGEST_BATCH_MAX && bytes + last->next->ev->body_len <= INGEST_BATCH_BYTES) {
		last = last->next;
		bytes += last->ev->body_len;
		n++;
	}
	q->head = last->next;
	if (!q->head)
		q->tail = NULL;
	last->next = NULL;
	return batch;
}

/* What the outcome rc leaves: the handed-off works in out, or, when the
 * ingest was rolled back (or its commit is in doubt: then the leases run
 * out and the deliveries are claimed like any other), every take given
 * back. Then answers the caller. */
static void ingest_answer(struct pg_ingest_q *q, struct ingest_job *j, int rc)
{
	if (rc) {
		if (j->ev->handoff)
			ingest_give_back(j);
		memset(j->out, 0, sizeof(*j->out));
	} else if (j->n_works) {
		j->out->works = j->works;
		j->out->n_works = j->n_works;
	} else {
		free(j->works);
	}
	if (j->done) {
		j->done(j->done_arg, rc);
		free(j);
		return;
	}
	pthread_mutex_lock(&q->mu);
	j->rc = rc;
	j->is_done = true; /* its caller returns only after the unlock */
	pthread_cond_broadcast(&q->done_cv);
	pthread_mutex_unlock(&q->mu);
}

/* An ingest thread: runs batches until the store closes and nothing is
 * queued. Under light load every ingest is a batch of one; under heavy
 * load one commit (one WAL flush) serves many. */
static void *ingest_main(void *arg)
{
	struct skw_store *s = arg;
	struct pg_ingest_q *q = pg_ingest_q(s);

	pthread_setname_np(pthread_self(), "skw-pg-ingest");
	pthread_mutex_lock(&q->mu);
	for (;;) {
		struct ingest_job *batch, *next;
		bool is_left = false;

		while (!q->head && !q->is_stopping)
			pthread_cond_wait(&q->cv, &q->mu);
		if (!q->head)
			break;
		batch = take_batch(q);
		pthread_mutex_unlock(&q->mu);
		ingest_run(s, batch);
		for (struct ingest_job *j = batch; j; j = next) {
			next = j->next;
			is_left |= !j->rc && j->is_left;
			ingest_answer(q, j, j->rc); /* j may be gone after this */
		}
		if (is_left)
			pg_wake_others(s);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

int pg_ingest_threads_start(struct skw_store *s, int n)
{
	struct pg_ingest_q *q = pg_ingest_q(s);

	q->threads = calloc((size_t)n, sizeof(*q->threads));
	if (!q->threads)
		return SKW_ENOMEM;
	for (; q->n_threads < n; q->n_threads++) {
		if (pthread_create(&q->threads[q->n_threads], NULL, ingest_main, s))
			return SKW_ENOMEM; /* pg_ingest_threads_stop joins those started */
	}
	return 0;
}

void pg_ingest_threads_stop(struct skw_store *s)
{
	struct pg_ingest_q *q = pg_ingest_q(s);

	pthread_mutex_lock(&q->mu);
	q->is_stopping = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (int i = 0; i < q->n_threads; i++)
		pthread_join(q->threads[i], NULL);
	free(q->threads);
	q->threads = NULL;
	q->n_threads = 0;
}

/* Queues j for the ingest threads; SKW_EUNAVAIL once the store closes. */
static int ingest_enqueue(struct pg_ingest_q *q, struct ingest_job *j)
{
	j->next = NULL;
	if (q->is_stopping || !q->n_threads)
		return SKW_EUNAVAIL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	pthread_cond_signal(&q->cv);
	return 0;
}

int pg_event_ingest(struct skw_store *s, const struct skw_event_in *ev, struct skw_event_out *out)
{
	struct pg_ingest_q *q = pg_ingest_q(s);
	struct ingest_job j = {.ev = ev, .out = out};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ingest_check(ev);
	if (rc)
		return rc;
	pthread_mutex_lock(&q->mu);
	rc = ingest_enqueue(q, &j);
	while (!rc && !j.is_done)
		pthread_cond_wait(&q->done_cv, &q->mu);
	pthread_mutex_unlock(&q->mu);
	return rc ? rc : j.rc;
}

int pg_event_ingest_start(struct skw_store *s, const struct skw_event_in *ev,
			  struct skw_event_out *out, skw_store_done_fn done, void *arg)
{
	struct pg_ingest_q *q = pg_ingest_q(s);
	struct ingest_job *j;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ingest_check(ev);
	if (rc)
		return rc;
	j = calloc(1, sizeof(*j));
	if (!j)
		return SKW_ENOMEM;
	j->ev = ev;
	j->out = out;
	j->done = done;
	j->done_arg = arg;
	pthread_mutex_lock(&q->mu);
	rc = ingest_enqueue(q, j);
	pthread_mutex_unlock(&q->mu);
	if (rc)
		free(j);
	return rc;
}

/* ---- claim ---------------------------------------------------------- */

struct claim_job {
	const struct skw_claim_opts *o;
	size_t per;
	struct skw_work *works;
	size_t n_works;
	int64_t *due; /* next_attempt_at of each work, for the ordering */
};

static int fill_work(PGresult *r, int row, struct skw_work *w)
{
	unsigned char *body;
	int rc;

	memset(w, 0, sizeof(*w));
	pg_copy(r, row, 0, w->delivery_id, sizeof(w->delivery_id));
	pg_copy(r, row, 1, w->event_id, sizeof(w->event_id));
	pg_copy(r, row, 2, w->webhook_id, sizeof(w->webhook_id));
	pg_copy(r, row, 3, w->account_id, sizeof(w->account_id));
	w->attempt = (int)pg_i64(r, row, 4) + 1;
	pg_copy(r, row, 5, w->event, sizeof(w->event));
	w->timeout_s = (int)pg_i64(r, row, 9);
	w->max_attempts = 1 + (int)pg_i64(r, row, 10);
	w->lease_until = pg_i64(r, row, 11);
	rc = pg_bytea(r, row, 6, &body, &w->body_len);
	w->body = (char *)body;
	if (!rc)
		rc = pg_strdup(r, row, 7, &w->url);
	if (!rc)
		rc = pg_bytea(r, row, 8, &w->secret_enc, &w->secret_enc_len);
	if (rc)
		skw_work_cleanup(w);
	return rc;
}

static int do_claim(struct pg_conn *c, void *arg)
{
	struct claim_job *j = arg;
	const struct skw_claim_opts *o = j->o;
	struct pg_params p = {0};
	PGresult *r;
	int rc, n;

	pg_p_int(&p, o->now);
	pg_p_int(&p, (int64_t)j->per);
	pg_p_int(&p, (int64_t)o->limit);
	pg_p_own(&p, pg_array_text(o->exclude, o->n_exclude));
	pg_p_int(&p, o->lease_margin_ms);
	pg_p_text(&p, o->node_id);
	rc = pg_exec(c,
		     /* per webhook: the due unleased rows (queue_ready) and the
		      * rows whose lease ran out (queue_leased), each an index
		      * range: one scan of (webhook_id, next_attempt_at) stepped
		      * over every delivery in flight, which hand-offs lease */
		     PG_PER_CALL
		     "WITH cand AS (SELECT c.delivery_id FROM webhooks w CROSS JOIN LATERAL"
		     " (SELECT * FROM (SELECT q.delivery_id, q.next_attempt_at FROM queue q"
		     "   WHERE q.webhook_id = w.id AND q.lease_until IS NULL"
		     "   AND q.next_attempt_at <= $1 ORDER BY q.next_attempt_at, q.delivery_id"
		     "   LIMIT $2 FOR UPDATE OF q SKIP LOCKED) ready"
		     "  UNION ALL SELECT * FROM (SELECT q.delivery_id, q.next_attempt_at"
		     "   FROM queue q WHERE q.webhook_id = w.id AND q.lease_until <= $1"
		     "   AND q.next_attempt_at <= $1 ORDER BY q.next_attempt_at, q.delivery_id"
		     "   LIMIT $2 FOR UPDATE OF q SKIP LOCKED) expired"
		     "  ORDER BY 2, 1 LIMIT $2) c"
		     " WHERE w.enabled AND NOT (w.id = ANY ($4::text[]))"
		     " ORDER BY c.next_attempt_at, c.delivery_id LIMIT $3)"
		     " UPDATE queue q SET lease_until = $1 + w.timeout_s * 1000::bigint + $5,"
		     " lease_owner = $6 FROM cand, webhooks w, events e"
		     " WHERE q.delivery_id = cand.delivery_id AND w.id = q.webhook_id"
		     " AND e.id = q.event_id"
		     " RETURNING q.delivery_id, q.event_id, q.webhook_id, q.account_id,"
		     " q.attempts_made, e.event, e.body, w.url, w.secret_enc, w.timeout_s,"
		     " w.retry_attempts, q.lease_until, q.next_attempt_at",
		     &p, &r);
	pg_params_free(&p);
	if (rc)
		return rc;
	n = PQntuples(r);
	if (n) {
		j->works = calloc((size_t)n, sizeof(*j->works));
		j->due = calloc((size_t)n, sizeof(*j->due));
		if (!j->works || !j->due) {
			PQclear(r);
			return SKW_ENOMEM;
		}
	}
	for (int i = 0; i < n; i++) {
		rc = fill_work(r, i, &j->works[j->n_works]);
		if (rc)
			break; /* the leases of the rest run out */
		j->due[j->n_works++] = pg_i64(r, i, 12);
	}
	PQclear(r);
	return rc;
}

/* Oldest due first, as SQLite hands them out (insertion sort: batches are
 * a few hundred at most, and mostly in order already). */
static void sort_works(struct skw_work *w, int64_t *due, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct skw_work tw = w[i];
		int64_t td = due[i];
		size_t k = i;

		while (k > 0 &&
		       (due[k - 1] > td ||
			(due[k - 1] == td && strcmp(w[k - 1].delivery_id, tw.delivery_id) > 0))) {
			w[k] = w[k - 1];
			due[k] = due[k - 1];
			k--;
		}
		w[k] = tw;
		due[k] = td;
	}
}

int pg_claim(struct skw_store *s, const struct skw_claim_opts *o, struct skw_work **out,
	     size_t *n_out)
{
	struct claim_job j = {.o = o};
	int rc;

	*out = NULL;
	*n_out = 0;
	if (!o->limit)
		return 0;
	j.per = o->per_webhook_limit && o->per_webhook_limit < o->limit ? o->per_webhook_limit
									: o->limit;
	rc = pg_run_engine(s, do_claim, &j, false);
	if (rc) {
		skw_works_free(j.works, j.n_works);
		j.works = NULL;
		j.n_works = 0;
	} else if (!j.n_works) {
		free(j.works);
		j.works = NULL;
	} else {
		sort_works(j.works, j.due, j.n_works);
	}
	free(j.due);
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

/* Writes a batch of results in one statement (with the COMMIT). */
static int do_complete(struct pg_conn *c, void *arg)
{
	struct complete_job *j = arg;
	size_t n = 0;
	const char **dlv = calloc(j->n, sizeof(*dlv)), **evt = calloc(j->n, sizeof(*evt));
	const char **wh = calloc(j->n, sizeof(*wh)), **acct = calloc(j->n, sizeof(*acct));
	const char **name = calloc(j->n, sizeof(*name)), **err = calloc(j->n, sizeof(*err));
	const unsigned char **resp = calloc(j->n, sizeof(*resp));
	size_t *resp_len = calloc(j->n, sizeof(*resp_len));
	int64_t *nums = calloc(8 * j->n, sizeof(*nums));
	struct pg_params p = {0};
	int rc = SKW_ENOMEM;

	if (!dlv || !evt || !wh || !acct || !name || !err || !resp || !resp_len || !nums)
		goto out;
	for (size_t i = 0; i < j->n; i++) {
		const struct skw_attempt_result *r = &j->r[i];
		const struct skw_work *w = r->work;

		dlv[n] = w->delivery_id;
		evt[n] = w->event_id;
		wh[n] = w->webhook_id;
		acct[n] = w->account_id;
		name[n] = w->event;
		err[n] = r->error;
		resp[n] = (const unsigned char *)r->response;
		resp_len[n] =
		    r->response ? (r->response_len > RESPONSE_MAX ? RESPONSE_MAX : r->response_len)
				: 0;
		nums[0 * j->n + n] = w->attempt;
		nums[1 * j->n + n] = w->max_attempts;
		nums[2 * j->n + n] = r->status_code;
		nums[3 * j->n + n] = r->started_at;
		nums[4 * j->n + n] = r->duration_ms;
		nums[5 * j->n + n] = r->is_success;
		nums[6 * j->n + n] = w->is_test ? 0 : r->next_attempt_at;
		nums[7 * j->n + n] = w->is_test;
		n++;
	}
	rc = 0;
	if (!n)
		goto out;
	pg_p_own(&p, pg_array_text(dlv, n));
	pg_p_own(&p, pg_array_text(evt, n));
	pg_p_own(&p, pg_array_text(wh, n));
	pg_p_own(&p, pg_array_text(acct, n));
	pg_p_own(&p, pg_array_text(name, n));
	pg_p_own(&p, pg_array_text(err, n));
	pg_p_own(&p, pg_array_hex(resp, resp_len, n));
	for (size_t k = 0; k < 8; k++)
		pg_p_own(&p, pg_array_int(nums + k * j->n, n));
	/*
	 * One statement, the job's last, so the COMMIT goes with it. A result
	 * applies only while its delivery still waits for exactly this attempt
	 * (attempts_made = attempt - 1): a stale or repeated one changes
	 * nothing. The rows are locked by the DELETE and UPDATE themselves (a
	 * concurrent change is re-checked against that condition), in
	 * delivery_id order (r is sorted), so two nodes cannot deadlock over
	 * a batch. Final deliveries leave the queue, the others are
	 * rescheduled with their lease cleared, and the attempts that applied
	 * go to the log: a test send's while its webhook exists (no foreign
	 * key, pg_schema.c), as do the others. A test send has no queue row, so
	 * its attempt is logged unless the log holds it already: a batch that
	 * is run again because the answer to its COMMIT was lost logs nothing
	 * twice.
	 */
	rc = pg_exec_commit(
	    c,
	    PG_PER_CALL
	    "WITH r AS (SELECT DISTINCT ON (dlv, attempt) * FROM unnest($1::text[],"
	    "  $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
	    "  $8::int[], $9::int[], $10::int[], $11::bigint[], $12::bigint[],"
	    "  $13::int[], $14::bigint[], $15::int[]) WITH ORDINALITY AS r(dlv, evt, wh,"
	    "  acct, name, err, resp, attempt, max_att, code, started, dur, ok, next_at,"
	    "  is_test, ord) ORDER BY dlv, attempt, ord),"
	    " gone AS (DELETE FROM queue q USING r WHERE q.delivery_id = r.dlv"
	    "  AND r.is_test = 0 AND r.next_at = 0 AND q.attempts_made = r.attempt - 1"
	    "  RETURNING r.dlv, r.attempt),"
	    " moved AS (UPDATE queue q SET attempts_made = r.attempt,"
	    "  next_attempt_at = r.next_at, lease_until = NULL, lease_owner = NULL"
	    "  FROM r WHERE q.delivery_id = r.dlv AND r.is_test = 0 AND r.next_at <> 0"
	    "  AND q.attempts_made = r.attempt - 1 RETURNING r.dlv, r.attempt)"
	    " INSERT INTO attempts (delivery_id, event_id, webhook_id, account_id, event,"
	    "  attempt_no, max_attempts, status_code, response, error, started_at,"
	    "  duration_ms, delivered_at, success)"
	    " SELECT dlv, evt, wh, acct, name, attempt, max_att, nullif(code, 0),"
	    "  decode(resp, 'hex'), err, started, dur,"
	    "  CASE WHEN ok <> 0 THEN started + dur END, ok <> 0 FROM r"
	    " WHERE ((r.is_test <> 0 AND NOT EXISTS (SELECT 1 FROM attempts a"
	    "  WHERE a.webhook_id = r.wh AND a.success = (r.ok <> 0)"
	    "  AND a.started_at = r.started AND a.delivery_id = r.dlv"
	    "  AND a.attempt_no = r.attempt))"
	    "  OR (r.dlv, r.attempt) IN (SELECT * FROM gone UNION ALL SELECT * FROM moved))"
	    "  AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = r.wh)",
	    &p, NULL);
	pg_params_free(&p);
out:
	free(dlv);
	free(evt);
	free(wh);
	free(acct);
	free(name);
	free(err);
	free(resp);
	free(resp_len);
	free(nums);
	return rc;
}

int pg_complete(struct skw_store *s, const struct skw_attempt_result *r, size_t n)
{
	struct complete_job j = {.r = r, .n = n};

	for (size_t i = 0; i < n; i++) {
		if (!r[i].work)
			return SKW_EINVAL;
	}
	if (!n)
		return 0;
	return pg_run_engine(s, do_complete, &j, true);
}

static int do_release(struct pg_conn *c, void *arg)
{
	struct complete_job *j = arg;
	struct pg_params p = {0};
	int rc;

	pg_p_own(&p, pg_array_text(j->ids, j->n));
	rc = pg_exec(c,
		     PG_PER_CALL "UPDATE queue SET lease_until = NULL, lease_owner = NULL"
				 " WHERE delivery_id = ANY ($1::text[])",
		     &p, NULL);
	pg_params_free(&p);
	if (!rc)
		pg_notify(c); /* another node may take them at once */
	return rc;
}

int pg_release(struct skw_store *s, const char *const *ids, size_t n)
{
	struct complete_job j = {.ids = ids, .n = n};

	if (!n)
		return 0;
	return pg_run_engine(s, do_release, &j, false);
}

static int do_release_node(struct pg_conn *c, void *arg)
{
	struct complete_job *j = arg;
	struct pg_params p = {0};

	if (!j->node_id)
		return pg_exec(c,
			       "UPDATE queue SET lease_until = NULL, lease_owner = NULL"
			       " WHERE lease_until IS NOT NULL",
			       NULL, NULL);
	pg_p_text(&p, j->node_id);
	return pg_exec(c,
		       PG_PER_CALL "UPDATE queue SET lease_until = NULL, lease_owner = NULL"
				   " WHERE lease_until IS NOT NULL AND lease_owner = $1",
		       &p, NULL);
}

int pg_release_node(struct skw_store *s, const char *node_id)
{
	struct complete_job j = {.node_id = node_id};

	return pg_run_engine(s, do_release_node, &j, false);
}

/* ---- next_due ------------------------------------------------------- */

static int do_next_due(struct pg_conn *c, void *arg)
{
	int64_t *out = arg;
	PGresult *r;
	int rc;

	*out = INT64_MAX;
	/* the oldest unleased delivery of each enabled webhook (queue_ready),
	 * and the first lease to run out (queue_leased, in order; a lease
	 * always ends after its delivery was due: claims and hand-offs lease
	 * due rows, a reschedule clears the lease). Both are index steps, not
	 * scans over the deliveries in flight: under load this ran for
	 * 100-350 ms on the engine's connection. */
	rc = pg_exec(c,
		     "SELECT least((SELECT min((SELECT q.next_attempt_at FROM queue q"
		     "  WHERE q.webhook_id = w.id AND q.lease_until IS NULL"
		     "  ORDER BY q.next_attempt_at LIMIT 1)) FROM webhooks w WHERE w.enabled),"
		     " (SELECT greatest(q.next_attempt_at, q.lease_until) FROM queue q"
		     "  JOIN webhooks w ON w.id = q.webhook_id"
		     "  WHERE q.lease_until IS NOT NULL AND w.enabled"
		     "  ORDER BY q.lease_until LIMIT 1))",
		     NULL, &r);
	if (rc)
		return rc;
	if (PQntuples(r) && !pg_is_null(r, 0, 0))
		*out = pg_i64(r, 0, 0);
	PQclear(r);
	return 0;
}

int pg_next_due(struct skw_store *s, int64_t *out)
{
	return pg_run_engine(s, do_next_due, out, false);
}

/* ---- test sends ----------------------------------------------------- */

struct test_job {
	const struct skw_webhook *w;
	const char *event_id;
	const char *body;
	size_t body_len;
	int64_t now;
};

static int do_test_prepare(struct pg_conn *c, void *arg)
{
	struct test_job *j = arg;
	struct pg_params p = {0};

	pg_p_text(&p, j->event_id);
	pg_p_text(&p, j->w->account_id);
	pg_p_text(&p, SKW_EVENT_TEST);
	pg_p_bytea(&p, j->body, j->body_len);
	pg_p_int(&p, j->now);
	return pg_exec(c,
		       "INSERT INTO events (id, account_id, event, body, created_at)"
		       " VALUES ($1, $2, $3, $4, $5)",
		       &p, NULL);
}

int pg_test_prepare(struct skw_store *s, const struct skw_webhook *w, const char *event_id,
		    const char *body, size_t body_len, int64_t now, struct skw_work *out)
{
	struct test_job j = {
	    .w = w, .event_id = event_id, .body = body, .body_len = body_len, .now = now};
	int rc;

	rc = skw_store_test_work(w, event_id, body, body_len, now, out);
	if (rc)
		return rc;
	rc = pg_run(s, do_test_prepare, &j, false);
	if (rc)
		skw_work_cleanup(out);
	return rc;
}
