/*
 * store.h - the one storage interface of skwebhooks.
 *
 * Everything durable goes through here: accounts, API keys, webhooks, events,
 * the delivery queue (pending deliveries only: the hot table) and the attempt
 * log (append-only history). Backends (store_sqlite.c, store_pg.c) fill
 * in a struct skw_store_ops; callers only see the opaque struct skw_store.
 *
 * Thread safety: every function may be called from any thread concurrently.
 * A function that returns 0 has durably committed what it wrote (when the
 * store was opened durable).
 *
 * Ownership: structs filled by the store own their heap members; release them
 * with the matching *_cleanup / *_free function. Strings passed in are
 * borrowed for the duration of the call.
 *
 * Times are ms since the epoch (UTC). Ids are skw_random_id() strings.
 */
#ifndef SKW_STORE_STORE_H
#define SKW_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/util.h"

struct skw_store;

struct skw_store_options {
	const char *url; /* "sqlite:./var/skwebhooks.db", "sqlite::memory:",
			  * "postgres://user:pass@host:5432/db", "host=... dbname=..." */
	bool is_durable; /* fsync on commit (default true); false only for benchmarks */
};

/* Opens (creating and migrating) the store. *out is owned by the caller. */
int skw_store_open(const struct skw_store_options *opt, struct skw_store **out, char *err,
		   size_t err_len);
void skw_store_close(struct skw_store *s);
/* 0 when the database answers. */
int skw_store_ping(struct skw_store *s);

/* True when other processes may use the database at the same time
 * (PostgreSQL): each serving node then needs a node id of its own, and must
 * never release every lease (skw_store_release_node with NULL). */
bool skw_store_is_shared(struct skw_store *s);

typedef void (*skw_store_wakeup_fn)(void *arg);
/*
 * Asks the store to call fn(arg) from a thread of its own whenever another
 * process may have queued due work (PostgreSQL: LISTEN/NOTIFY), and once
 * after a lost notification connection is back. fn NULL stops the calls:
 * when that returns, no call is running or will start. fn must not call
 * skw_store_set_wakeup. Returns 0 when the store will call fn, SKW_EINVAL
 * when the backend cannot tell (the caller keeps polling).
 */
int skw_store_set_wakeup(struct skw_store *s, skw_store_wakeup_fn fn, void *arg);

/* ---- accounts ------------------------------------------------------- */

struct skw_account {
	char id[SKW_ID_MAX]; /* "acct_..." */
	char *name;
	int64_t created_at;
};
void skw_account_cleanup(struct skw_account *a);

/* a->id, a->name, a->created_at are set by the caller. */
int skw_store_account_insert(struct skw_store *s, const struct skw_account *a);
int skw_store_account_get(struct skw_store *s, const char *id, struct skw_account *out);
/* Removes the account and everything it owns (keys, webhooks, events,
 * queue, log, idempotency keys). SKW_ENOTFOUND when there was none. */
int skw_store_account_delete(struct skw_store *s, const char *id);

/* ---- API keys ------------------------------------------------------- */

#define SKW_KEY_HASH_LEN 32

struct skw_apikey {
	char id[SKW_ID_MAX];	     /* "key_..." */
	char account_id[SKW_ID_MAX]; /* "" for a platform key */
	bool is_platform;
	char prefix[16]; /* first characters of the key, for display */
	int64_t created_at;
	int64_t revoked_at; /* 0 when active */
};

/* hash is the keyed hash of the full key (sign/apikey.h). */
int skw_store_apikey_insert(struct skw_store *s, const struct skw_apikey *k,
			    const unsigned char hash[SKW_KEY_HASH_LEN]);
/* Finds a key by hash, revoked or not. SKW_ENOTFOUND when none. */
int skw_store_apikey_find(struct skw_store *s, const unsigned char hash[SKW_KEY_HASH_LEN],
			  struct skw_apikey *out);
/* As skw_store_apikey_find, but it may answer from what this node found in
 * the last second (PostgreSQL), so a key revoked on another node or from
 * the CLI may still look live. Only for an event's ingest, which checks the
 * key again in its own statement (skw_event_in.key_hash). */
int skw_store_apikey_find_recent(struct skw_store *s, const unsigned char hash[SKW_KEY_HASH_LEN],
				 struct skw_apikey *out);
/* Returns owned array (free()) of the account's keys, newest first.
 * account_id NULL lists platform keys. */
int skw_store_apikey_list(struct skw_store *s, const char *account_id, struct skw_apikey **out,
			  size_t *n_out);
/* Sets revoked_at; SKW_ENOTFOUND when no such key. Revoking twice is fine. */
int skw_store_apikey_revoke(struct skw_store *s, const char *key_id, int64_t now);

/* ---- webhooks ------------------------------------------------------- */

struct skw_webhook {
	char id[SKW_ID_MAX]; /* "wh_..." */
	char account_id[SKW_ID_MAX];
	char *name;
	char *url;
	char *events;	    /* canonical comma-separated list: "booking.created,payment.failed" */
	int timeout_s;	    /* 1..300 */
	int retry_attempts; /* 0..10 */
	bool is_enabled;
	unsigned char *secret_enc; /* sealed signing secret (sign/secret.h) */
	size_t secret_enc_len;
	int64_t created_at;
	int64_t updated_at;
	/* The last attempt made (filled by get and list; 0/SKW_LOG_ANY: none). */
	int last_status;      /* enum skw_log_status: SUCCEEDED or FAILED */
	int last_status_code; /* 0: none */
	int64_t last_at;      /* started_at of that attempt */
};
void skw_webhook_cleanup(struct skw_webhook *w);
void skw_webhooks_free(struct skw_webhook *w, size_t n);

int skw_store_webhook_insert(struct skw_store *s, const struct skw_webhook *w);
/* SKW_ENOTFOUND when id does not exist or belongs to another account. */
int skw_store_webhook_get(struct skw_store *s, const char *account_id, const char *id,
			  struct skw_webhook *out);
/* Returns owned array, newest first (free with skw_webhooks_free). */
int skw_store_webhook_list(struct skw_store *s, const char *account_id, struct skw_webhook **out,
			   size_t *n_out);
/* Replaces name, url, events, timeout_s, retry_attempts, is_enabled,
 * updated_at of (w->account_id, w->id). SKW_ENOTFOUND as for get. */
int skw_store_webhook_update(struct skw_store *s, const struct skw_webhook *w);
/* Deletes the webhook, its queued deliveries and its log. */
int skw_store_webhook_delete(struct skw_store *s, const char *account_id, const char *id);

/* ---- events and the delivery queue ---------------------------------- */

struct skw_work;

/*
 * Direct hand-off (optional): lets the node that ingests an event send its
 * deliveries itself, with no claim (no second transaction, no wait for the
 * engine's next look at the queue). For each delivery it queues, the store
 * asks take(arg, webhook_id); when that says yes, the queue row is inserted
 * already leased to lease_node (until now + the webhook's timeout +
 * lease_margin_ms, as a claim would) and the delivery comes back in
 * out->works. The row is as durable as any other, so a crash is covered as
 * for claimed work: the lease runs out, or the node releases its leases at
 * start. For every take() that said yes, the store calls give_back() exactly
 * once unless the ingest returns 0 with that delivery in out->works.
 * take and give_back may run on a store thread in the middle of a
 * transaction: they must be short and must not call the store.
 */
struct skw_handoff_in {
	const char *lease_node;
	int64_t lease_margin_ms;
	bool (*take)(void *arg, const char *webhook_id);
	void (*give_back)(void *arg, const char *webhook_id);
	void *arg;
};

struct skw_event_in {
	char id[SKW_ID_MAX]; /* "evt_...", chosen by the caller */
	const char *account_id;
	const char *event; /* "booking.created" */
	const char *body;  /* exact payload bytes sent to receivers */
	size_t body_len;
	const char *idem_key;	    /* Idempotency-Key or NULL */
	unsigned char req_hash[32]; /* hash of the request, to detect a reused key */
	int64_t now;
	const struct skw_handoff_in *handoff; /* borrowed; NULL: queue only */
	/* the hash of the API key the event came with, or NULL (a browser
	 * session): the ingest fails with SKW_EREVOKED, storing nothing, when
	 * that key is revoked or gone by then (a backend whose key lookups
	 * are always current may skip the check) */
	const unsigned char *key_hash;
};

struct skw_event_out {
	char id[SKW_ID_MAX]; /* the event id (the first one's, on a replay) */
	int n_deliveries;
	bool is_replay;		/* the idempotency key was seen within 24 h */
	struct skw_work *works; /* handed-off deliveries (see skw_handoff_in): owned,
				 * skw_works_free; NULL when none */
	size_t n_works;
};

/*
 * In one transaction: honours the idempotency key (same key within 24 h:
 * fills out from the first request, is_replay = true, writes nothing; a
 * different req_hash gives SKW_ECONFLICT), stores the event, and queues one
 * delivery ("dlv_...") due now for every enabled webhook of the account
 * subscribed to ev->event (leasing those ev->handoff takes; see above).
 */
int skw_store_event_ingest(struct skw_store *s, const struct skw_event_in *ev,
			   struct skw_event_out *out);

/*
 * skw_store_event_ingest without blocking the caller, on a backend that
 * can (skw_store_has_ingest_start): returns 0 once the ingest is queued,
 * and done(arg, rc) then runs exactly once, on a store thread, with what
 * skw_store_event_ingest would have returned (out filled as it fills it),
 * once the commit is durable or failed. done must be short and must not
 * call the store. ev, out and everything ev points to must live until
 * done. Any other return: nothing was queued and done is not called.
 */
typedef void (*skw_store_done_fn)(void *arg, int rc);
bool skw_store_has_ingest_start(const struct skw_store *s);
int skw_store_event_ingest_start(struct skw_store *s, const struct skw_event_in *ev,
				 struct skw_event_out *out, skw_store_done_fn done, void *arg);

/* One claimed delivery attempt: everything the sender needs. */
struct skw_work {
	char delivery_id[SKW_ID_MAX];
	char event_id[SKW_ID_MAX];
	char webhook_id[SKW_ID_MAX];
	char account_id[SKW_ID_MAX];
	char event[48];
	char *url;
	unsigned char *secret_enc;
	size_t secret_enc_len;
	char *body;
	size_t body_len;
	int timeout_s;
	int attempt;	  /* 1-based number of this attempt */
	int max_attempts; /* 1 + the webhook's retry_attempts now */
	bool is_test;	  /* a test send: never queued, never retried */
	int64_t lease_until;
	/* the X-Webhook-Signature value (hex HMAC-SHA256 of body): "" from the
	 * store; the engine fills it off its send thread (skw_engine_sign) */
	char sig[65];
};
void skw_work_cleanup(struct skw_work *w);
void skw_works_free(struct skw_work *w, size_t n);

struct skw_claim_opts {
	int64_t now;
	size_t limit;		    /* at most this many in total */
	size_t per_webhook_limit;   /* at most this many per webhook */
	const char *const *exclude; /* webhook ids not to claim (saturated) */
	size_t n_exclude;
	const char *node_id;	 /* recorded as the lease holder */
	int64_t lease_margin_ms; /* lease = now + timeout + margin */
};

/*
 * Claims due deliveries (next_attempt_at <= now, lease free or expired,
 * webhook enabled), oldest due first, and leases them to node_id.
 * Returns an owned array (skw_works_free).
 */
int skw_store_claim(struct skw_store *s, const struct skw_claim_opts *o, struct skw_work **out,
		    size_t *n_out);

/* The outcome of one attempt, as the sender saw it. */
struct skw_attempt_result {
	const struct skw_work *work; /* borrowed */
	int status_code;	     /* 0 when there was no response */
	const char *response;	     /* first bytes of the body (<= 1 KiB), may be NULL */
	size_t response_len;
	const char *error; /* plain words, NULL on success */
	bool is_success;
	int64_t started_at;
	int64_t duration_ms;
	int64_t next_attempt_at; /* 0: final (success, or no attempts left) */
};

/*
 * Records a batch of results in one transaction: appends each attempt to the
 * log; a final one removes the delivery from the queue, otherwise the
 * delivery is rescheduled at next_attempt_at with its lease cleared. Results
 * for deliveries whose webhook was deleted meanwhile are dropped. Test sends
 * (work->is_test) only append to the log.
 */
int skw_store_complete(struct skw_store *s, const struct skw_attempt_result *r, size_t n);

/* Clears the leases on these deliveries without counting an attempt
 * (graceful shutdown). */
int skw_store_release(struct skw_store *s, const char *const *delivery_ids, size_t n);
/* Clears every lease held by node_id, or every lease when node_id is NULL
 * (a single-node store at start-up). */
int skw_store_release_node(struct skw_store *s, const char *node_id);
/* Earliest time a claimable delivery is due, INT64_MAX when none. */
int skw_store_next_due(struct skw_store *s, int64_t *out);

/* Stores a webhook.test event for w and fills *out with its work (attempt 1,
 * max_attempts 1, is_test). */
int skw_store_test_prepare(struct skw_store *s, const struct skw_webhook *w, const char *event_id,
			   const char *body, size_t body_len, int64_t now, struct skw_work *out);

/* ---- the delivery log ---------------------------------------------- */

enum skw_log_status { SKW_LOG_ANY, SKW_LOG_SUCCEEDED, SKW_LOG_FAILED, SKW_LOG_PENDING };

struct skw_log_query {
	const char *account_id;
	const char *webhook_id;
	enum skw_log_status status;
	size_t limit;	 /* 1..100 */
	bool has_cursor; /* continue after (cursor_at, cursor_key) */
	int64_t cursor_at;
	char cursor_key[64];
};

/*
 * One row of the log: a made attempt (succeeded/failed) or a pending
 * delivery's next attempt. Rows sort newest first by (at, key).
 */
struct skw_log_entry {
	char delivery_id[SKW_ID_MAX];
	char event_id[SKW_ID_MAX];
	char event[48];
	enum skw_log_status status;
	int attempt;
	int max_attempts;
	int status_code;    /* 0: none */
	char *response;	    /* may be NULL */
	char *error;	    /* may be NULL */
	int64_t started_at; /* 0 for pending */
	int64_t duration_ms;
	int64_t delivered_at;	 /* 0 unless succeeded */
	int64_t next_attempt_at; /* pending only */
	int64_t at;		 /* sort time */
	char key[64];		 /* sort tie-breaker, unique */
};
void skw_log_entries_free(struct skw_log_entry *e, size_t n);

/* Returns an owned array of at most q->limit rows. SKW_ENOTFOUND when the
 * webhook is not the account's. */
int skw_store_log_list(struct skw_store *s, const struct skw_log_query *q,
		       struct skw_log_entry **out, size_t *n_out);

/* Housekeeping: drops idempotency keys older than 24 h, log rows older
 * than retention_ms, and expired sign-in links and sessions. */
int skw_store_maintain(struct skw_store *s, int64_t now, int64_t retention_ms);

/* ---- delivery statistics --------------------------------------------- */

struct skw_stat_bucket {
	int64_t start; /* bucket start, ms */
	int succeeded; /* attempts made in [start, start + bucket_ms) */
	int failed;
};

/* Fills out[0..n) with consecutive buckets of bucket_ms from `from`, counting
 * the webhook's attempts by outcome. SKW_ENOTFOUND when the webhook is not
 * the account's. */
int skw_store_webhook_stats(struct skw_store *s, const char *account_id, const char *webhook_id,
			    int64_t from, int64_t bucket_ms, size_t n, struct skw_stat_bucket *out);

/* ---- sign-in links and browser sessions ------------------------------ */

/* Hashes are BLAKE2b-256 of the random token/id; the store never sees the
 * token itself. */
#define SKW_TOKEN_HASH_LEN 32

int skw_store_login_link_insert(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
				const char *account_id, int64_t now, int64_t expires_at);
/* Uses a link once: atomically removes it and fills account_id when it
 * exists and now < its expiry. SKW_ENOTFOUND otherwise (unknown, used or
 * expired). */
int skw_store_login_link_consume(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
				 int64_t now, char account_id[SKW_ID_MAX]);

struct skw_session {
	char account_id[SKW_ID_MAX];
	int64_t created_at;
	int64_t last_seen_at;
	int64_t expires_at; /* absolute end */
};

int skw_store_session_insert(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
			     const char *account_id, int64_t now, int64_t expires_at);
/*
 * Finds a live session (now < expires_at and now - last_seen_at < idle_ms)
 * and records now as last seen (at most once a minute, to spare writes).
 * SKW_ENOTFOUND when there is none or it has lapsed.
 */
int skw_store_session_touch(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
			    int64_t now, int64_t idle_ms, struct skw_session *out);
/* Ends a session; 0 also when there was none. */
int skw_store_session_delete(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN]);

#endif
