/*
 * engine.c - the delivery engine's lifecycle, its public calls, and the
 * store thread (see engine.h, engine_impl.h; the curl thread is transfer.c,
 * the accounting of slots and jobs and the hand-off calls are slots.c).
 *
 * The store thread is the only one that calls the store on behalf of the
 * engine: it claims due work in batches, hands it to the curl thread, and
 * writes results back in one skw_store_complete() per batch (group commit).
 * It sleeps until skw_engine_notify(), results, the next due time, or 1 s,
 * whichever comes first; the 1 s poll catches work added by other processes
 * (a store that can tell, PostgreSQL with LISTEN, wakes it at once). It
 * claims when notified, when the earliest due delivery it knows of is due
 * (due_at: from the store's next_due, lowered by reschedules and releases),
 * and on the poll, but not merely because results came back: with every
 * delivery handed off, such a claim found nothing and cost the database a
 * statement per batch of results.
 *
 * Direct hand-off (skw_engine_handoff_begin/_end, on API threads): an event
 * ingested on this node has its deliveries inserted already leased to this
 * node, and they go straight into the inbox when the ingest commits: no
 * claim, no second transaction, no wait for the store thread. The slots are
 * reserved during the ingest (take), so the limits below hold for both
 * paths; what does not fit is queued unleased and claimed as before.
 *
 * Invariants:
 *   - n_outstanding counts jobs from claim (or hand-off reservation) until
 *     their result is stored (or their lease released); it never exceeds
 *     cfg.max_in_flight.
 *   - The per-webhook table counts the same jobs per webhook until their
 *     request ends (is_slot_freed, set by the curl thread), not until their
 *     result is stored: a commit must not hold a webhook's slots. Neither a
 *     claim nor a hand-off lets a webhook pass cfg.per_webhook_in_flight (a
 *     claimed delivery that no longer fits because hand-offs took the room
 *     meanwhile is released at once).
 *   - n_outstanding, the per-webhook table and the free job list are under
 *     mu: hand-offs reserve from API threads.
 *   - Once is_stopping is set, no job enters the inbox.
 *   - After skw_engine_forget_webhook() returns, no job of that webhook
 *     is in flight, and for SKW_FORGET_WINDOW_MS none enters the inbox:
 *     claims are checked against the ring of recently forgotten webhooks, so
 *     a claim racing the delete (whichever of delete and forget comes
 *     first) cannot send to it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../core/err.h"
#include "../core/log.h"
#include "../core/util.h"
#include "engine_impl.h"

#define LEASE_MARGIN_MS 60000
#define POLL_MS 1000
#define MAX_COMPLETE_TRIES 30 /* one a second: ride out a short database outage */

static void job_recycle(struct skw_engine *e, struct job *j)
{
	skw_engine_jobs_recycle(e, &j, 1);
}

/* Logs a store failure, at most every 10 s unless the error changes. */
static void store_warn(struct skw_engine *e, const char *what, int rc)
{
	static const int64_t quiet_ms = 10000;
	int64_t now = skw_mono_ms();

	if (e->last_warn_mono && now - e->last_warn_mono < quiet_ms)
		return;
	e->last_warn_mono = now;
	skw_warn("deliver store %s failed: %s", what, skw_strerror(rc));
}

static void release_ids(struct skw_engine *e, const char *const *ids, size_t n)
{
	int rc;

	if (!n)
		return;
	rc = skw_store_release(e->cfg.store, ids, n);
	if (rc) {
		store_warn(e, "release", rc);
	} else {
		e->n_released += n;
		e->due_at = 0; /* claimable again at once */
	}
}

/* ---- results (store thread) ------------------------------------------ */

static int pend_push(struct skw_engine *e, struct job *j)
{
	if (e->n_pend == e->pend_cap) {
		size_t cap = e->pend_cap ? e->pend_cap * 2 : 64;
		struct job **p = realloc(e->pend, cap * sizeof(*p));
		struct skw_attempt_result *r;

		if (!p)
			return SKW_ENOMEM;
		e->pend = p;
		r = realloc(e->res, cap * sizeof(*r));
		if (!r)
			return SKW_ENOMEM;
		e->res = r;
		e->pend_cap = cap;
	}
	e->pend[e->n_pend++] = j;
	return 0;
}

/* Writes the pending results in one transaction. On failure they stay and
 * are tried again a second later, up to MAX_COMPLETE_TRIES times (once when
 * is_final); then they are dropped and their leases expire, so the attempt
 * is made again. */
static void flush_results(struct skw_engine *e, bool is_final)
{
	int rc;

	if (!e->n_pend || (!is_final && skw_mono_ms() < e->pend_retry_at))
		return;
	for (size_t i = 0; i < e->n_pend; i++) {
		const struct job *j = e->pend[i];
		struct skw_attempt_result *r = &e->res[i];

		r->work = &j->work;
		r->status_code = j->status_code;
		r->response = j->response_len ? j->response : NULL;
		r->response_len = j->response_len;
		r->error = j->is_success ? NULL : j->error;
		r->is_success = j->is_success;
		r->started_at = j->started_at;
		r->duration_ms = j->duration_ms;
		r->next_attempt_at = j->next_attempt_at;
	}
	rc = skw_store_complete(e->cfg.store, e->res, e->n_pend);
	if (rc) {
		store_warn(e, "complete", rc);
		if (!is_final && ++e->pend_failures < MAX_COMPLETE_TRIES) {
			e->pend_retry_at = skw_mono_ms() + POLL_MS;
			return;
		}
		skw_warn(
		    "deliver dropping %zu results; their deliveries are retried when the leases "
		    "expire",
		    e->n_pend);
	}
	for (size_t i = 0; !rc && i < e->n_pend; i++) {
		/* a rescheduled delivery is due then: claim no later */
		if (e->res[i].next_attempt_at && e->res[i].next_attempt_at < e->due_at)
			e->due_at = e->res[i].next_attempt_at;
	}
	skw_engine_jobs_recycle(e, e->pend, e->n_pend);
	e->n_pend = 0;
	e->pend_failures = 0;
	e->pend_retry_at = 0;
}

/* Sorts what the curl thread handed back: results to write, leases to
 * release, forgotten work to drop. */
static void take_back(struct skw_engine *e, struct job *list)
{
	const char *ids[64];
	struct job *rel[64];
	size_t n_rel = 0;

	while (list) {
		struct job *j = list;

		list = j->next;
		j->next = NULL;
		if (j->fate == JOB_RESULT && !pend_push(e, j))
			continue;
		if (j->fate == JOB_DROP) {
			job_recycle(e, j);
			continue;
		}
		/* JOB_RELEASE, or a result we have no memory to keep */
		ids[n_rel] = j->work.delivery_id;
		rel[n_rel++] = j;
		if (n_rel == 64 || !list) {
			release_ids(e, ids, n_rel);
			skw_engine_jobs_recycle(e, rel, n_rel);
			n_rel = 0;
		}
	}
	if (n_rel) {
		release_ids(e, ids, n_rel);
		skw_engine_jobs_recycle(e, rel, n_rel);
	}
}

/* ---- claiming (store thread) ----------------------------------------- */

/* Makes room for n excluded webhook ids. Under mu. */
static int exclude_reserve(struct skw_engine *e, size_t n)
{
	const char **x;
	char(*ids)[SKW_ID_MAX];

	if (e->exclude_cap >= n)
		return 0;
	x = realloc(e->exclude, n * sizeof(*x));
	if (!x)
		return SKW_ENOMEM;
	e->exclude = x;
	ids = realloc(e->exclude_ids, n * sizeof(*ids));
	if (!ids)
		return SKW_ENOMEM;
	e->exclude_ids = ids;
	e->exclude_cap = n;
	return 0;
}

/*
 * Claims one batch and queues it for the curl thread. Webhooks at or above
 * half their in-flight limit are excluded; the others may take up to the
 * limit minus the busiest one's count. Hand-offs may take room while the
 * claim runs: a claimed delivery that no longer fits is released at once.
 * Sets *n_got and *limit (0 when there was no room).
 */
static int claim_batch(struct skw_engine *e, size_t *n_got, size_t *limit)
{
	size_t per = e->cfg.per_webhook_in_flight;
	size_t half = (per + 1) / 2;
	size_t max_active = 0, n_ex = 0;
	struct skw_claim_opts o = {0};
	struct skw_work *works = NULL;
	const char *rel_ids[64];
	size_t n_works = 0, n_rel = 0;
	uint64_t gen;
	int64_t now_mono;
	bool is_stopping, is_recent, is_woken = false;
	int rc = 0;

	*n_got = 0;
	pthread_mutex_lock(&e->mu);
	*limit = e->cfg.max_in_flight - e->n_outstanding;
	if (*limit > e->cfg.batch)
		*limit = e->cfg.batch;
	/* the ids are copied: the table moves when it grows or shrinks */
	if (*limit)
		rc = exclude_reserve(e, e->wt_used);
	for (size_t i = 0; *limit && !rc && i < e->wt_cap; i++) {
		if (e->wt[i].n >= half) {
			skw_strlcpy(e->exclude_ids[n_ex], e->wt[i].id, SKW_ID_MAX);
			e->exclude[n_ex] = e->exclude_ids[n_ex];
			n_ex++;
		} else if (e->wt[i].n > max_active) {
			max_active = e->wt[i].n;
		}
	}
	gen = e->forget_gen;
	pthread_mutex_unlock(&e->mu);
	if (rc || !*limit)
		return rc;

	o.now = skw_now_ms();
	o.limit = *limit;
	o.per_webhook_limit = per - max_active;
	o.exclude = e->exclude;
	o.n_exclude = n_ex;
	o.node_id = e->cfg.node_id;
	o.lease_margin_ms = e->cfg.lease_margin_ms;

	rc = skw_store_claim(e->cfg.store, &o, &works, &n_works);
	if (rc)
		goto out;
	*n_got = n_works;
	for (size_t i = 0; i < n_works; i++)
		skw_engine_sign(e, &works[i]);

	/* Count them and hand them over, unless we are stopping, a webhook was
	 * deleted meanwhile, or they no longer fit. */
	now_mono = skw_mono_ms();
	pthread_mutex_lock(&e->mu);
	is_stopping = e->is_stopping;
	is_recent = e->forget_gen != gen ||
		    (e->last_forget_mono && now_mono - e->last_forget_mono <= SKW_FORGET_WINDOW_MS);
	for (size_t i = 0; i < n_works; i++) {
		struct job *j;

		if (!skw_engine_has_room(e, works[i].webhook_id))
			continue; /* released below */
		j = skw_engine_job_get(e);
		if (!j)
			continue; /* no memory: released below */
		if (skw_engine_slot_inc(e, works[i].webhook_id)) {
			j->next = e->free_jobs;
			e->free_jobs = j;
			continue;
		}
		memcpy(&j->work, &works[i], sizeof(works[i]));
		memset(&works[i], 0, sizeof(works[i]));
		j->fate = JOB_RESULT;
		e->n_outstanding++;
		if (is_stopping || e->forget_gen - gen > SKW_FORGET_RING) {
			/* stopping, or too many deletes to tell: give it back */
			j->fate = JOB_RELEASE;
		} else if (is_recent &&
			   skw_engine_was_forgotten(e, j->work.webhook_id, gen, now_mono)) {
			j->fate = JOB_DROP;
		} else {
			job_queue_push(&e->inbox_head, &e->inbox_tail, j);
			is_woken = true;
			continue;
		}
		/* kept back: the outbox takes it to take_back() */
		job_queue_push(&e->outbox_head, &e->outbox_tail, j);
	}
	pthread_mutex_unlock(&e->mu);

	/* what was not taken over above still holds its id: give it back */
	for (size_t i = 0; i < n_works; i++) {
		if (!works[i].delivery_id[0])
			continue;
		rel_ids[n_rel++] = works[i].delivery_id;
		if (n_rel == 64) {
			release_ids(e, rel_ids, n_rel);
			n_rel = 0;
		}
	}
	release_ids(e, rel_ids, n_rel);
	if (is_stopping)
		*limit = 0; /* claim no more */
	else if (is_woken)
		skw_engine_wake(e);
out:
	if (works)
		skw_works_free(works, n_works);
	return rc;
}

/* Claims until the store runs dry or we are full; returns the next time
 * (skw_mono_ms) to look again, and sets due_at: when nothing is due before
 * a known time, results that arrive meanwhile need no claim. */
static int64_t claim_due(struct skw_engine *e)
{
	int64_t now, due, delta;
	size_t got, limit;
	int rc;

	e->due_at = 0;
	e->claim_poll_at = skw_mono_ms() + POLL_MS;
	do {
		bool has_results;

		rc = claim_batch(e, &got, &limit);
		if (rc) {
			store_warn(e, "claim", rc);
			return skw_mono_ms() + POLL_MS;
		}
		/* Results first: until they are written their slots stay taken
		 * (no hand-off, no claim fits), so a backlog that keeps every
		 * claim full must not hold them back. Come back at once. */
		pthread_mutex_lock(&e->mu);
		has_results = e->outbox_head != NULL;
		pthread_mutex_unlock(&e->mu);
		if (has_results && limit && got == limit)
			return skw_mono_ms();
	} while (limit && got == limit);
	if (!limit)
		return skw_mono_ms() + POLL_MS; /* full: results wake us */
	rc = skw_store_next_due(e->cfg.store, &due);
	if (rc) {
		store_warn(e, "next_due", rc);
		return skw_mono_ms() + POLL_MS;
	}
	now = skw_now_ms();
	delta = due - now;
	if (delta <= 0)
		/* due but not claimable now (webhook limits, another node's
		 * lease): look again at once if the last claim got anything,
		 * else when results arrive or after the poll interval */
		delta = got ? 0 : POLL_MS;
	else
		e->due_at = due;
	if (delta > POLL_MS)
		delta = POLL_MS;
	return skw_mono_ms() + delta;
}

static void wait_until(struct skw_engine *e, int64_t mono_ms)
{
	struct timespec ts;
	int64_t now = skw_mono_ms();

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (mono_ms - now) / 1000;
	ts.tv_nsec += (long)((mono_ms - now) % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&e->store_cv, &e->mu, &ts);
}

static void *store_main(void *arg)
{
	struct skw_engine *e = arg;
	int64_t wake_at = 0;

	pthread_setname_np(pthread_self(), "skw-engine"); /* for top -H, perf */

	for (;;) {
		struct job *back;
		bool is_stopping, is_curl_done, is_notified;
		int64_t now_mono, now_wall;

		pthread_mutex_lock(&e->mu);
		while (!e->outbox_head && !e->is_notified && !e->is_curl_done &&
		       skw_mono_ms() < wake_at)
			wait_until(e, wake_at);
		back = e->outbox_head;
		e->outbox_head = e->outbox_tail = NULL;
		is_notified = e->is_notified;
		e->is_notified = false;
		is_stopping = e->is_stopping;
		is_curl_done = e->is_curl_done;
		pthread_mutex_unlock(&e->mu);

		take_back(e, back);
		flush_results(e, is_curl_done);
		if (is_curl_done)
			break;
		now_mono = skw_mono_ms();
		now_wall = skw_now_ms();
		if (is_stopping || !e->cfg.is_worker) {
			wake_at = now_mono + POLL_MS;
		} else if (is_notified || now_mono >= e->claim_poll_at || now_wall >= e->due_at) {
			wake_at = claim_due(e);
		} else {
			/* Woken by results, and nothing is due before due_at (or
			 * the poll): a claim now would find nothing. With every
			 * delivery handed off, this is most wake-ups. */
			wake_at = e->claim_poll_at;
			if (e->due_at - now_wall < wake_at - now_mono)
				wake_at = now_mono + (e->due_at - now_wall);
		}
		if (e->n_pend && e->pend_retry_at < wake_at)
			wake_at = e->pend_retry_at;
	}
	return NULL;
}

/* ---- public calls ---------------------------------------------------- */

void skw_engine_notify(struct skw_engine *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->mu);
	e->is_notified = true;
	pthread_cond_signal(&e->store_cv);
	pthread_mutex_unlock(&e->mu);
}

/* The store's wakeup: another node queued work (runs on a store thread). */
static void store_wakeup(void *arg)
{
	skw_engine_notify(arg);
}

void skw_engine_forget_webhook(struct skw_engine *e, const char *webhook_id)
{
	struct forget_req f = {.webhook_id = webhook_id};
	struct job *j, *next, *keep_h = NULL, *keep_t = NULL;
	bool is_dropped = false;

	if (!e || !webhook_id)
		return;
	pthread_mutex_lock(&e->mu);
	e->forget_gen++;
	e->last_forget_mono = skw_mono_ms();
	skw_strlcpy(e->forgotten[e->forget_gen % SKW_FORGET_RING].id, webhook_id, SKW_ID_MAX);
	e->forgotten[e->forget_gen % SKW_FORGET_RING].gen = e->forget_gen;
	e->forgotten[e->forget_gen % SKW_FORGET_RING].at_mono = e->last_forget_mono;
	for (j = e->inbox_head; j; j = next) {
		next = j->next;
		if (strcmp(j->work.webhook_id, webhook_id)) {
			job_queue_push(&keep_h, &keep_t, j);
			continue;
		}
		j->fate = JOB_DROP;
		job_queue_push(&e->outbox_head, &e->outbox_tail, j);
		is_dropped = true;
	}
	e->inbox_head = keep_h;
	e->inbox_tail = keep_t;
	if (is_dropped)
		pthread_cond_signal(&e->store_cv);
	if (e->is_curl_done) {
		pthread_mutex_unlock(&e->mu);
		return;
	}
	f.next = e->forgets;
	/* f lives on this stack until the curl thread marks it done below */
	/* cppcheck-suppress autoVariables */
	e->forgets = &f;
	pthread_mutex_unlock(&e->mu);
	skw_engine_wake(e);

	pthread_mutex_lock(&e->mu);
	while (!f.is_done)
		pthread_cond_wait(&e->done_cv, &e->mu);
	pthread_mutex_unlock(&e->mu);
}

int skw_engine_test_send(struct skw_engine *e, struct skw_work *work, struct skw_test_outcome *out)
{
	struct skw_attempt_result r = {0};
	struct test_req *t;
	size_t n;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	t = calloc(1, sizeof(*t));
	if (!t) {
		skw_work_cleanup(work);
		free(work);
		return SKW_ENOMEM;
	}
	memcpy(&t->job.work, work, sizeof(*work));
	free(work);
	t->job.work.is_test = true;
	t->job.work.max_attempts = 1;
	t->job.test = t;
	t->job.fate = JOB_RESULT;

	pthread_mutex_lock(&e->mu);
	if (e->is_stopping || e->is_curl_done) {
		pthread_mutex_unlock(&e->mu);
		rc = SKW_EUNAVAIL;
		goto out;
	}
	t->next = e->tests;
	e->tests = t;
	pthread_mutex_unlock(&e->mu);
	skw_engine_wake(e);

	pthread_mutex_lock(&e->mu);
	while (!t->is_done)
		pthread_cond_wait(&e->done_cv, &e->mu);
	pthread_mutex_unlock(&e->mu);

	out->status_code = t->job.status_code;
	n = t->job.response ? t->job.response_len : 0;
	if (n >= sizeof(out->response))
		n = sizeof(out->response) - 1;
	if (n)
		memcpy(out->response, t->job.response, n);
	out->response[n] = '\0';
	skw_strlcpy(out->error, t->job.error, sizeof(out->error));
	out->duration_ms = t->job.duration_ms;
	out->is_success = t->job.is_success;
	if (t->job.is_aborted) {
		rc = SKW_EUNAVAIL;
		goto out;
	}

	r.work = &t->job.work;
	r.status_code = t->job.status_code;
	r.response = t->job.response_len ? t->job.response : NULL;
	r.response_len = t->job.response_len;
	r.error = t->job.is_success ? NULL : t->job.error;
	r.is_success = t->job.is_success;
	r.started_at = t->job.started_at;
	r.duration_ms = t->job.duration_ms;
	r.next_attempt_at = 0;
	rc = skw_store_complete(e->cfg.store, &r, 1);
	if (rc)
		skw_warn("deliver store complete (test send) failed: %s", skw_strerror(rc));
out:
	skw_work_cleanup(&t->job.work);
	free(t->job.response);
	free(t);
	return rc;
}

/* Lets many transfers have a socket each: raise the soft descriptor limit
 * towards the hard one when it is below what max_in_flight needs. */
static void raise_nofile(size_t max_in_flight)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_in_flight + 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		skw_warn("deliver could not raise the open file limit");
}

static void engine_free(struct skw_engine *e)
{
	struct job *j;

	if (e->multi)
		curl_multi_cleanup(e->multi);
	if (e->share)
		curl_share_cleanup(e->share);
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->wake_fd >= 0)
		close(e->wake_fd);
	free(e->watch);
	while ((j = e->free_jobs)) {
		e->free_jobs = j->next;
		free(j->response);
		free(j);
	}
	free(e->pool);
	free(e->hints);
	free(e->wt);
	free(e->exclude);
	free(e->exclude_ids);
	free(e->pend);
	free(e->res);
	free(e->node_id);
	skw_engine_trust_free(e);
	free(e->ca_file);
	free(e->user_agent);
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->store_cv);
	pthread_cond_destroy(&e->done_cv);
	free(e);
	curl_global_cleanup();
}

static int engine_copy_config(struct skw_engine *e, const struct skw_engine_config *c)
{
	e->cfg = *c;
	if (!e->cfg.n_retry_schedule) {
		e->cfg.retry_schedule[0] = 5000;
		e->cfg.n_retry_schedule = 1;
	}
	if (e->cfg.n_retry_schedule > SKW_RETRY_MAX_STEPS)
		e->cfg.n_retry_schedule = SKW_RETRY_MAX_STEPS;
	if (!e->cfg.max_in_flight)
		e->cfg.max_in_flight = SKW_MAX_IN_FLIGHT;
	if (!e->cfg.per_webhook_in_flight)
		e->cfg.per_webhook_in_flight = SKW_PER_WEBHOOK_IN_FLIGHT;
	if (!e->cfg.batch)
		e->cfg.batch = 256;
	if (e->cfg.lease_margin_ms <= 0)
		e->cfg.lease_margin_ms = LEASE_MARGIN_MS;
	e->node_id = skw_strdup(c->node_id ? c->node_id : "local");
	e->ca_file = skw_strdup(c->ca_file);
	e->user_agent = skw_strdup(c->user_agent ? c->user_agent : "skwebhooks/" SKW_VERSION);
	if (!e->node_id || !e->user_agent || (c->ca_file && !e->ca_file))
		return SKW_ENOMEM;
	e->cfg.node_id = e->node_id;
	e->cfg.ca_file = e->ca_file;
	e->cfg.user_agent = e->user_agent;
	return 0;
}

int skw_engine_start(const struct skw_engine_config *c, struct skw_engine **out)
{
	struct skw_engine *e;
	pthread_condattr_t ca;
	long conns;
	int rc;

	*out = NULL;
	if (!c || !c->store || !c->keyring)
		return SKW_EINVAL;
	/* a shared database: releasing every lease would steal other nodes' */
	if (c->is_worker && !c->node_id && skw_store_is_shared(c->store))
		return SKW_EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return SKW_ENOMEM;
	e = calloc(1, sizeof(*e));
	if (!e) {
		curl_global_cleanup();
		return SKW_ENOMEM;
	}
	e->epfd = e->wake_fd = e->ca_fd = -1;
	pthread_mutex_init(&e->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->store_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&e->done_cv, NULL);

	rc = engine_copy_config(e, c);
	if (rc)
		goto out;
	skw_engine_trust_init(e);
	rc = SKW_ENOMEM;
	e->multi = curl_multi_init();
	if (!e->multi)
		goto out;
	/* One connection per transfer at most; idle ones stay cached per host
	 * for keep-alive. */
	conns = e->cfg.max_in_flight > 100000 ? 100000L : (long)e->cfg.max_in_flight;
	curl_multi_setopt(e->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
	curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, conns);
	rc = skw_engine_loop_init(e);
	if (rc)
		goto out;
	rc = SKW_ENOMEM;
	/* TLS sessions resumed across pooled easy handles; only the curl
	 * thread uses the share, so it needs no lock callbacks. */
	e->share = curl_share_init();
	if (e->share)
		curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);

	if (e->cfg.is_worker) {
		/* Leases left by a crash of this node (or, single node, any). */
		rc = skw_store_release_node(e->cfg.store, c->node_id);
		if (rc)
			skw_warn("deliver releasing leases at start failed: %s", skw_strerror(rc));
	}
	raise_nofile(e->cfg.max_in_flight);

	rc = SKW_ENOMEM;
	if (pthread_create(&e->curl_thread, NULL, skw_engine_curl_main, e))
		goto out;
	e->has_curl_thread = true;
	if (pthread_create(&e->store_thread, NULL, store_main, e))
		goto out;
	e->has_store_thread = true;
	/* other nodes' work wakes us at once (polling stays the fallback) */
	if (e->cfg.is_worker)
		skw_store_set_wakeup(e->cfg.store, store_wakeup, e);
	rc = 0;
	*out = e;
	skw_info("deliver engine started worker=%s node=%s max_in_flight=%zu per_webhook=%zu",
		 e->cfg.is_worker ? "true" : "false", c->node_id ? c->node_id : "(single)",
		 e->cfg.max_in_flight, e->cfg.per_webhook_in_flight);
out:
	if (rc) {
		if (e->has_curl_thread) {
			pthread_mutex_lock(&e->mu);
			e->is_stopping = true;
			pthread_mutex_unlock(&e->mu);
			skw_engine_wake(e);
			pthread_join(e->curl_thread, NULL);
		}
		engine_free(e);
	}
	return rc;
}

void skw_engine_stop(struct skw_engine *e, int64_t grace_ms)
{
	if (!e)
		return;
	if (e->cfg.is_worker)
		skw_store_set_wakeup(e->cfg.store, NULL, NULL);
	pthread_mutex_lock(&e->mu);
	e->is_stopping = true;
	e->grace_deadline = skw_mono_ms() + (grace_ms > 0 ? grace_ms : 0);
	pthread_cond_signal(&e->store_cv);
	pthread_mutex_unlock(&e->mu);
	skw_engine_wake(e);
	pthread_join(e->curl_thread, NULL);
	pthread_join(e->store_thread, NULL);
	if (e->n_outstanding)
		skw_warn("deliver stopped with %zu deliveries unaccounted for", e->n_outstanding);
	skw_info("deliver engine stopped released=%zu", e->n_released);
	engine_free(e);
}
