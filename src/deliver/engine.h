/*
 * engine.h - the delivery engine.
 *
 * Two threads: the curl thread owns one libcurl multi handle and runs every
 * attempt on it (no thread per request, keep-alive reused per host); the
 * store thread claims due work in batches, hands it to the curl thread and
 * writes results back in batched transactions, so the curl loop never blocks
 * on disk. The public functions below may be called from any thread.
 */
#ifndef SKW_DELIVER_ENGINE_H
#define SKW_DELIVER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../sign/sign.h"
#include "../store/store.h"
#include "guard.h"

#define SKW_RETRY_MAX_STEPS 16
#define SKW_MAX_IN_FLIGHT 10000
/* A slot is taken when an event's deliveries are handed over, while the event
 * commits, and freed when the answer arrives: 64 left the CPU idle waiting on
 * commits at ~5,000 events/s (docs/PERFORMANCE.md, tenth round). */
#define SKW_PER_WEBHOOK_IN_FLIGHT 128

struct skw_engine_config {
	struct skw_store *store;	   /* borrowed */
	const struct skw_keyring *keyring; /* borrowed */
	struct skw_guard guard;
	bool allow_http;			     /* permit http:// URLs (tests, demos) */
	const char *ca_file;			     /* extra CA bundle, or NULL for the system's */
	int64_t retry_schedule[SKW_RETRY_MAX_STEPS]; /* ms before retry 1, 2, ... */
	size_t n_retry_schedule;		     /* the last step repeats */
	double jitter;				     /* 0.2 = +-20% */
	size_t max_in_flight;			     /* all webhooks, SKW_MAX_IN_FLIGHT */
	size_t per_webhook_in_flight;		     /* SKW_PER_WEBHOOK_IN_FLIGHT */
	size_t batch;				     /* claim batch size, default 256 */
	const char *node_id;			     /* lease holder name; NULL: single node,
						      * every lease is released at start */
	bool is_worker;		 /* claim queued work (false: test sends only) */
	int64_t lease_margin_ms; /* lease = the webhook's timeout + this; 0: 60 s.
				  * Another node takes work over when it expires */
	const char *user_agent;	 /* "skwebhooks/0.1.0" */
};

/* Fills c with the defaults (the help page's schedule, limits above). */
void skw_engine_config_defaults(struct skw_engine_config *c);
/* Parses "5s,5m,30m" into c->retry_schedule. */
bool skw_engine_parse_schedule(struct skw_engine_config *c, const char *s);

struct skw_engine;

/* Starts both threads. *out is owned by the caller (skw_engine_stop). */
int skw_engine_start(const struct skw_engine_config *c, struct skw_engine **out);

/* New work may be due now (an event was ingested, a webhook enabled). */
void skw_engine_notify(struct skw_engine *e);

/*
 * Direct hand-off of an event's deliveries to this node's engine (see
 * skw_handoff_in in store.h): begin fills h (h->in goes into the event's
 * skw_event_in) and says whether the engine takes work (a worker, not
 * stopping); after a successful ingest, end takes the handed-off works
 * (ownership passes, in every case) and starts them at once. Every slot the
 * store took is either in works or was given back. Any thread.
 */
struct skw_engine_handoff {
	struct skw_handoff_in in;
	struct skw_engine *e;
	uint64_t gen; /* forget generation at begin: deletes since are checked */
};
bool skw_engine_handoff_begin(struct skw_engine *e, struct skw_engine_handoff *h);
void skw_engine_handoff_end(struct skw_engine_handoff *h, struct skw_work *works, size_t n);

/* A webhook was deleted: drop any claimed-but-unsent work for it. Returns
 * once no new request to it will start (requests in flight to it are
 * aborted). It may be called just before or just after the deletion is
 * committed: for a minute, work of this webhook that a racing claim picks
 * up is dropped too (its lease then expires). */
void skw_engine_forget_webhook(struct skw_engine *e, const char *webhook_id);

struct skw_test_outcome {
	int status_code;
	char response[1025];
	char error[128];
	int64_t duration_ms;
	bool is_success;
};

/* Sends work (a test send; ownership passes to the engine) at once, waits
 * for the outcome, records it in the log and fills *out. work must come
 * from malloc/calloc: the engine frees it and its members in every case.
 * Returns SKW_EUNAVAIL when the engine is stopping; the store's error when
 * recording failed (*out is filled all the same). */
int skw_engine_test_send(struct skw_engine *e, struct skw_work *work, struct skw_test_outcome *out);

/* Stops claiming, lets in-flight attempts finish for up to grace_ms, aborts
 * and releases the rest, writes all results, joins the threads, frees e. */
void skw_engine_stop(struct skw_engine *e, int64_t grace_ms);

#endif
