/*
 * engine_impl.h - what engine.c (lifecycle, store thread) and transfer.c
 * (curl thread) share. Not for use outside src/deliver/.
 *
 * A struct job carries one claimed delivery from the store thread to the
 * curl thread and its result back:
 *
 *   store thread: claim -> job -> inbox --(skw_engine_wake)--> curl thread
 *   curl thread:  start (easy handle from the pool) ... done -> outbox
 *   store thread: outbox -> skw_store_complete / skw_store_release -> free list
 *
 * Ownership: the store thread allocates and recycles jobs; while a job sits
 * in the inbox or is in flight the curl thread owns it; the outbox hands it
 * back. Fields marked "under mu" are only touched with e->mu held; "curl
 * thread" and "store thread" fields only by that thread.
 */
#ifndef SKW_DELIVER_ENGINE_IMPL_H
#define SKW_DELIVER_ENGINE_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include <curl/curl.h>

#include "engine.h"
#include "policy.h"

#define SKW_FORGET_RING 256	   /* recently forgotten webhooks, for racing claims */
#define SKW_FORGET_WINDOW_MS 60000 /* how long a forgotten webhook's claims are dropped */

enum job_fate {
	JOB_RESULT,  /* an attempt was made (or failed before sending): record it */
	JOB_RELEASE, /* not attempted or aborted at shutdown: clear the lease */
	JOB_DROP,    /* its webhook was deleted: forget it */
};

struct test_req;

/* A socket's entry in the curl thread's epoll set (transfer.c). */
struct fd_watch {
	uint32_t reg;  /* events registered with epoll; 0: not registered */
	uint32_t want; /* events libcurl wants; 0: it does not watch the socket */
	bool is_ours;  /* opened by open_socket: its close goes through close_socket */
};

struct job {
	struct job *next;	     /* inbox, outbox or free list */
	struct job *a_prev, *a_next; /* the curl thread's in-flight list */
	struct skw_engine *e;
	struct skw_work work; /* owned */
	enum job_fate fate;
	bool is_slot_freed;    /* its request ended: the webhook's slot is free (under mu) */
	struct test_req *test; /* a test send's waiter, else NULL */

	/* curl thread, while in flight */
	CURL *easy;		  /* borrowed from the pool */
	struct curl_slist hdr[5]; /* our own list nodes: no malloc per attempt */
	char h_type[32];
	char h_event[24 + sizeof(((struct skw_work *)0)->event)];
	char h_sig[24 + SKW_SIG_HEX_LEN];
	char h_id[32 + SKW_ID_MAX];
	char h_expect[8];
	char errbuf[CURL_ERROR_SIZE];
	size_t body_seen;
	bool is_blocked;
	bool is_body_capped;
	int64_t start_us; /* skw_mono_us() when the attempt started */
	bool is_young;	  /* counts against SKW_SEND_YOUNG */

	/* the result, complete when the job reaches the outbox */
	int status_code;
	bool is_success;
	bool is_aborted; /* a test send cut by shutdown */
	int64_t started_at;
	int64_t duration_ms;
	int64_t next_attempt_at;
	size_t response_len;
	/* SKW_RESPONSE_KEEP + 1 bytes, allocated at the first body byte and
	 * kept with the job: a request still waiting for its answer costs none */
	char *response;
	char error[128];
};

struct test_req {
	struct test_req *next; /* under mu */
	bool is_done;	       /* under mu */
	struct job job;
};

struct forget_req {
	struct forget_req *next; /* under mu */
	const char *webhook_id;
	bool is_done; /* under mu */
};

/* How long a webhook took to answer lately (transfer.c). */
struct dest_hint {
	uint32_t ewma_us; /* 0: nothing known */
};

/* Open-addressing count of claimed-but-unfinished jobs per webhook. */
struct wslot {
	char id[SKW_ID_MAX];
	size_t n; /* 0: empty slot */
};

struct skw_engine {
	struct skw_engine_config cfg; /* strings point at the owned copies below */
	char *node_id;
	char *ca_file;
	char *user_agent;
	bool is_capath_off; /* CURLOPT_CAPATH NULL: one file, one shared store */
	int ca_fd;	    /* the memory file of ca_path, or -1 */
	char ca_path[32];   /* "/proc/self/fd/N": the bundle and ca_file together */
	CURLM *multi;
	CURLSH *share;
	pthread_t curl_thread;
	pthread_t store_thread;
	bool has_curl_thread;
	bool has_store_thread;

	pthread_mutex_t mu;
	pthread_cond_t store_cv; /* the store thread waits on it (CLOCK_MONOTONIC) */
	pthread_cond_t done_cv;	 /* test sends and forgets wait on it */
	/* under mu */
	struct job *inbox_head, *inbox_tail;
	struct job *outbox_head, *outbox_tail;
	struct test_req *tests;
	struct forget_req *forgets;
	bool is_notified;
	bool is_stopping;
	bool is_curl_done;
	int64_t grace_deadline; /* skw_mono_ms() */
	uint64_t forget_gen;
	int64_t last_forget_mono;
	struct {
		char id[SKW_ID_MAX];
		uint64_t gen;
		int64_t at_mono;
	} forgotten[SKW_FORGET_RING];

	/* the curl thread's event loop: libcurl's sockets and wake_fd (an
	 * eventfd any thread writes to) in one epoll set */
	int epfd;
	int wake_fd;
	/* curl thread */
	int64_t timer_at;	/* skw_mono_ms() libcurl asked to be called at; -1: none */
	struct fd_watch *watch; /* by socket number: what epoll and libcurl watch */
	size_t watch_cap;
	CURL **pool;
	size_t n_pool, pool_cap;
	struct job *active, *active_tail; /* open transfers, oldest first */
	size_t n_active;
	struct job *young;		     /* the oldest of those still young */
	size_t n_young;			     /* young transfers: see SKW_SEND_YOUNG */
	struct job *ready_head, *ready_tail; /* jobs waiting for a young slot */
	struct dest_hint *hints;	     /* SKW_SEND_HINTS, allocated when first used */

	/* under mu: API threads reserve room for hand-offs (engine.c) */
	struct job *free_jobs;
	size_t n_outstanding; /* claimed or reserved jobs not yet recycled */
	struct wslot *wt;
	size_t wt_cap, wt_used;
	const char **exclude;		 /* the claim's excluded webhooks: pointers into */
	char (*exclude_ids)[SKW_ID_MAX]; /* copies of their ids */
	size_t exclude_cap;

	/* store thread */
	size_t n_released; /* leases given back at shutdown, for the log */
	struct job **pend; /* results waiting for skw_store_complete */
	size_t n_pend, pend_cap;
	struct skw_attempt_result *res;
	int pend_failures;
	int64_t pend_retry_at; /* skw_mono_ms() of the next skw_store_complete try */
	int64_t last_warn_mono;
	/* When a claim is worth making (engine.c, store_main): skw_now_ms() of
	 * the earliest known due delivery (0: at the next wake), and at the
	 * latest skw_mono_ms() claim_poll_at, whatever is known. */
	int64_t due_at;
	int64_t claim_poll_at;
};

/* transfer.c: the curl thread's main function. */
void *skw_engine_curl_main(void *arg);
/* transfer.c: sets up the event loop on e->multi (epoll set, wake fd,
 * libcurl's socket and timer callbacks); e->epfd and e->wake_fd are -1
 * before. SKW_EIO or SKW_ENOMEM on failure. */
int skw_engine_loop_init(struct skw_engine *e);
/* Wakes the curl thread (any thread; no lock needed). */
void skw_engine_wake(struct skw_engine *e);

/* trust.c: the CAs every transfer trusts (see there). trust_init picks
 * them once, after the config is copied; it never fails (the fallback is
 * libcurl's defaults plus ca_file). trust_apply sets them on an easy handle. */
void skw_engine_trust_init(struct skw_engine *e);
void skw_engine_trust_free(struct skw_engine *e);
CURLcode skw_engine_trust_apply(const struct skw_engine *e, CURL *h);

/* slots.c: the accounting of jobs and in-flight slots (under mu unless
 * said otherwise). */
int skw_engine_slot_inc(struct skw_engine *e, const char *webhook_id);
void skw_engine_slot_dec(struct skw_engine *e, const char *webhook_id);
/* Signs w (w->sig) unless it is signed already; any thread, no lock. On
 * failure w->sig stays "" and the send thread reports the error. */
void skw_engine_sign(const struct skw_engine *e, struct skw_work *w);
/* True when one more job of webhook_id fits both in-flight limits. */
bool skw_engine_has_room(const struct skw_engine *e, const char *webhook_id);
/* A job from the free list or a new one (NULL: out of memory). */
struct job *skw_engine_job_get(struct skw_engine *e);
/* Frees the jobs' work and puts them on the free list; takes mu itself. */
void skw_engine_jobs_recycle(struct skw_engine *e, struct job *const *jobs, size_t n);
/* True when webhook_id was forgotten after generation gen or within the
 * last SKW_FORGET_WINDOW_MS. */
bool skw_engine_was_forgotten(const struct skw_engine *e, const char *webhook_id, uint64_t gen,
			      int64_t now_mono);

/* Appends j to a singly linked queue. */
static inline void job_queue_push(struct job **head, struct job **tail, struct job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

/* slots.c: FNV-1a of a webhook id, for the tables keyed by it. */
size_t skw_engine_id_hash(const char *s);

/* Takes the first job off a singly linked queue (NULL when empty). */
static inline struct job *job_queue_pop(struct job **head, struct job **tail)
{
	struct job *j = *head;

	if (j) {
		*head = j->next;
		if (!*head)
			*tail = NULL;
		j->next = NULL;
	}
	return j;
}

#endif
