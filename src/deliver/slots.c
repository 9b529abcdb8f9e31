/*
 * slots.c - the delivery engine's accounting, shared by the store thread
 * (claims, results) and the API threads (direct hand-off): the per-webhook
 * in-flight table, the free list of jobs, the check against recently
 * forgotten webhooks, the hand-off calls of engine.h, and the signing of
 * a work where it is created (hand-off, claim).
 *
 * Everything here is under the engine's mu (the callers hold it, except
 * where a function says it takes it, and skw_engine_sign, which needs
 * none), because a hand-off reserves its slots from an API thread, inside
 * the ingest's transaction, while the store thread claims and recycles.
 * See engine.c for the invariants these keep.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../core/err.h"
#include "../core/util.h"
#include "../sign/sign.h"
#include "engine_impl.h"

_Static_assert(sizeof(((struct skw_work *)0)->sig) == SKW_SIG_HEX_LEN + 1, "signature size");

/* ---- the per-webhook in-flight table (under mu) ---------------------- */

size_t skw_engine_id_hash(const char *s)
{
	size_t h = 14695981039346656037ULL & SIZE_MAX;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * (size_t)1099511628211ULL;
	return h;
}

static int wt_grow(struct skw_engine *e)
{
	size_t cap = e->wt_cap ? e->wt_cap * 2 : 256;
	struct wslot *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return SKW_ENOMEM;
	for (size_t i = 0; i < e->wt_cap; i++) {
		size_t k;

		if (!e->wt[i].n)
			continue;
		k = skw_engine_id_hash(e->wt[i].id) & (cap - 1);
		while (slots[k].n)
			k = (k + 1) & (cap - 1);
		slots[k] = e->wt[i];
	}
	free(e->wt);
	e->wt = slots;
	e->wt_cap = cap;
	return 0;
}

/* The slot of id, or the empty slot where it would go. */
static size_t wt_find(const struct skw_engine *e, const char *id)
{
	size_t k = skw_engine_id_hash(id) & (e->wt_cap - 1);

	while (e->wt[k].n && strcmp(e->wt[k].id, id))
		k = (k + 1) & (e->wt_cap - 1);
	return k;
}

int skw_engine_slot_inc(struct skw_engine *e, const char *id)
{
	size_t k;
	int rc;

	if ((e->wt_used + 1) * 2 > e->wt_cap) {
		rc = wt_grow(e);
		if (rc)
			return rc;
	}
	k = wt_find(e, id);
	if (!e->wt[k].n) {
		skw_strlcpy(e->wt[k].id, id, sizeof(e->wt[k].id));
		e->wt_used++;
	}
	e->wt[k].n++;
	return 0;
}

/* Decrements id's count; an emptied slot is removed by shifting later
 * members of its probe run back (linear probing, no tombstones). */
void skw_engine_slot_dec(struct skw_engine *e, const char *id)
{
	size_t mask = e->wt_cap - 1;
	size_t i, j;

	if (!e->wt_cap)
		return;
	i = wt_find(e, id);
	if (!e->wt[i].n || --e->wt[i].n)
		return;
	e->wt_used--;
	for (j = i;;) {
		size_t k;

		j = (j + 1) & mask;
		if (!e->wt[j].n)
			break;
		k = skw_engine_id_hash(e->wt[j].id) & mask;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		e->wt[i] = e->wt[j];
		i = j;
	}
	e->wt[i].n = 0;
	e->wt[i].id[0] = '\0';
}

/* True when one more job of webhook id fits both limits. Under mu. */
bool skw_engine_has_room(const struct skw_engine *e, const char *id)
{
	size_t k;

	if (e->n_outstanding >= e->cfg.max_in_flight)
		return false;
	if (!e->wt_cap)
		return true;
	k = wt_find(e, id);
	return e->wt[k].n < e->cfg.per_webhook_in_flight;
}

/* ---- signing --------------------------------------------------------- */

/* Signing runs where the work is created (the API thread of a hand-off, the
 * store thread of a claim), not on the one send thread: opening the secret
 * and the HMAC were 5% of that thread's time under load. */
void skw_engine_sign(const struct skw_engine *e, struct skw_work *w)
{
	char secret[SKW_SECRET_MAX];

	if (w->sig[0])
		return;
	if (skw_secret_open(e->cfg.keyring, w->webhook_id, w->secret_enc, w->secret_enc_len,
			    secret))
		return;
	skw_sign_hex(secret, w->body ? w->body : "", w->body_len, w->sig);
	sodium_memzero(secret, sizeof(secret));
}

/* ---- jobs (under mu) ------------------------------------------------- */

struct job *skw_engine_job_get(struct skw_engine *e)
{
	struct job *j = e->free_jobs;

	if (j) {
		e->free_jobs = j->next;
		j->next = NULL;
		return j;
	}
	return calloc(1, sizeof(*j));
}

/* The stories of these jobs are over: free their work (outside the lock)
 * and keep their memory for reuse. Takes mu. */
void skw_engine_jobs_recycle(struct skw_engine *e, struct job *const *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct job *j = jobs[i];

		/* the id stays for wt_dec below; the heap parts go now */
		skw_work_cleanup(&j->work);
		j->test = NULL;
	}
	pthread_mutex_lock(&e->mu);
	for (size_t i = 0; i < n; i++) {
		struct job *j = jobs[i];

		if (!j->is_slot_freed)
			skw_engine_slot_dec(e, j->work.webhook_id);
		j->is_slot_freed = false;
		memset(&j->work, 0, sizeof(j->work));
		j->next = e->free_jobs;
		e->free_jobs = j;
		e->n_outstanding--;
	}
	pthread_mutex_unlock(&e->mu);
}

/* True when webhook_id was forgotten after generation gen (during the
 * claim) or within the last SKW_FORGET_WINDOW_MS. Under mu. */
bool skw_engine_was_forgotten(const struct skw_engine *e, const char *webhook_id, uint64_t gen,
			      int64_t now_mono)
{
	for (size_t i = 0; i < SKW_FORGET_RING; i++) {
		const int64_t at = e->forgotten[i].at_mono;

		if (!at || (e->forgotten[i].gen <= gen && now_mono - at > SKW_FORGET_WINDOW_MS))
			continue;
		if (!strcmp(e->forgotten[i].id, webhook_id))
			return true;
	}
	return false;
}

/* ---- direct hand-off ------------------------------------------------- */

/* The store's take (store.h): reserves room for one delivery of webhook_id,
 * which the ingest then leases to this node. Runs on a store thread inside
 * the ingest's transaction. */
static bool handoff_take(void *arg, const char *webhook_id)
{
	struct skw_engine *e = arg;
	bool is_taken = false;

	pthread_mutex_lock(&e->mu);
	if (!e->is_stopping && skw_engine_has_room(e, webhook_id) &&
	    !skw_engine_slot_inc(e, webhook_id)) {
		e->n_outstanding++;
		is_taken = true;
	}
	pthread_mutex_unlock(&e->mu);
	return is_taken;
}

/* The store's give_back: the ingest did not commit; undoes one take. */
static void handoff_give_back(void *arg, const char *webhook_id)
{
	struct skw_engine *e = arg;

	pthread_mutex_lock(&e->mu);
	skw_engine_slot_dec(e, webhook_id);
	e->n_outstanding--;
	pthread_mutex_unlock(&e->mu);
}

bool skw_engine_handoff_begin(struct skw_engine *e, struct skw_engine_handoff *h)
{
	bool is_open;

	memset(h, 0, sizeof(*h));
	if (!e || !e->cfg.is_worker)
		return false;
	pthread_mutex_lock(&e->mu);
	is_open = !e->is_stopping;
	h->gen = e->forget_gen;
	pthread_mutex_unlock(&e->mu);
	h->e = e;
	h->in.lease_node = e->cfg.node_id;
	h->in.lease_margin_ms = e->cfg.lease_margin_ms;
	h->in.take = handoff_take;
	h->in.give_back = handoff_give_back;
	h->in.arg = e;
	return is_open;
}

void skw_engine_handoff_end(struct skw_engine_handoff *h, struct skw_work *works, size_t n)
{
	struct skw_engine *e = h->e;
	int64_t now_mono = skw_mono_ms();
	bool is_stopping, is_recent, is_woken = false, is_kept = false;

	if (!e || !n) {
		skw_works_free(works, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		skw_engine_sign(e, &works[i]);
	pthread_mutex_lock(&e->mu);
	is_stopping = e->is_stopping;
	is_recent = e->forget_gen != h->gen ||
		    (e->last_forget_mono && now_mono - e->last_forget_mono <= SKW_FORGET_WINDOW_MS);
	for (size_t i = 0; i < n; i++) {
		struct job *j = e->is_curl_done ? NULL : skw_engine_job_get(e);

		if (!j) {
			/* too late (stopped) or no memory: the lease stays and runs
			 * out, or this node releases it when it starts again */
			skw_engine_slot_dec(e, works[i].webhook_id);
			e->n_outstanding--;
			continue;
		}
		memcpy(&j->work, &works[i], sizeof(works[i]));
		memset(&works[i], 0, sizeof(works[i]));
		j->fate = JOB_RESULT;
		if (is_stopping || e->forget_gen - h->gen > SKW_FORGET_RING) {
			j->fate = JOB_RELEASE;
		} else if (is_recent &&
			   skw_engine_was_forgotten(e, j->work.webhook_id, h->gen, now_mono)) {
			j->fate = JOB_DROP; /* its webhook was deleted meanwhile */
		} else {
			job_queue_push(&e->inbox_head, &e->inbox_tail, j);
			is_woken = true;
			continue;
		}
		job_queue_push(&e->outbox_head, &e->outbox_tail, j);
		is_kept = true;
	}
	if (is_kept)
		pthread_cond_signal(&e->store_cv);
	pthread_mutex_unlock(&e->mu);
	skw_works_free(works, n);
	if (is_woken)
		skw_engine_wake(e);
}
