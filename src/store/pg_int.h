/*
 * pg_int.h - what the files of the PostgreSQL backend share; private to
 * src/store/ (store_pg.c, pg_exec.c, pg_schema.c, pg_accounts.c, pg_queue.c,
 * pg_log.c, pg_sessions.c).
 *
 * Every operation is a job: a function that runs against one pooled
 * connection (struct pg_conn). pg_run() checks a connection out of the pool
 * (connecting it first when needed), runs the job, optionally inside
 * BEGIN ... COMMIT, and returns the connection. A job only touches its
 * connection, its argument and memory the blocked caller owns.
 *
 * Statements go out in libpq pipeline mode (pg_exec.c), so that what one
 * round trip can carry travels together: the BEGIN of a transaction with the
 * job's first statement, a statement with its own Parse the first time the
 * connection runs that SQL text (a named prepared statement, "s1", "s2", ...,
 * reused for the rest of the session: no parse and plan per call), and the
 * job's last statement with the COMMIT (pg_exec_commit). Behind a
 * transaction-pooling proxy without prepared-statement support the URL says
 * statement_cache=off, and every statement is sent unnamed. Results come back
 * in text format; bytea columns as hex (the session sets bytea_output = hex).
 */
#ifndef SKW_STORE_PG_INT_H
#define SKW_STORE_PG_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store_impl.h"

/* The channel NOTIFY wakes the other nodes' engines on. */
#define PG_CHANNEL "skw_work"

/* Prepared statements one connection keeps (more are sent unnamed: a bound
 * on the server memory SQL built at run time could take). */
#define PG_STMT_MAX 128

/* A named prepared statement of one session, keyed by its SQL text. */
struct pg_stmt {
	uint64_t hash; /* of sql */
	char *sql;     /* owned copy of the text it was prepared from */
	unsigned id;   /* its name is "s<id>" */
};

/* One connection of the pool. Used by one thread at a time. */
struct pg_conn {
	PGconn *pg;	  /* NULL: not connected (yet, or after a failure) */
	bool is_broken;	  /* a statement found the connection dead */
	int n_ok;	  /* statements that succeeded in the current job */
	char sqlstate[6]; /* of the last failed statement, "" when none */

	/* the job's transaction (set by pg_run, read by pg_exec) */
	bool is_tx;	       /* the job runs inside BEGIN ... COMMIT */
	bool is_begin_pending; /* its BEGIN goes out with the first statement */
	bool is_committed;     /* pg_exec_commit committed it */

	/* the session's prepared statements (empty for a new session) */
	bool is_cache_on; /* false: statement_cache=off, all unnamed */
	struct pg_stmt stmts[PG_STMT_MAX];
	size_t n_stmts;
	unsigned next_id; /* never reused within a session */
};

/* Forgets c's prepared statements (frees the cache). Call when its session
 * ends, or when the server said one is gone. */
void pg_stmts_clear(struct pg_conn *c);

typedef int (*pg_job_fn)(struct pg_conn *c, void *arg);

/*
 * Runs fn on a pooled connection; inside BEGIN ... COMMIT when is_tx (the
 * job's error rolls everything back). A job that fails because its
 * connection had died before its first statement ran (a restarted server)
 * is run once more on a fresh connection; deadlocks and serialization
 * failures are retried up to three times. Blocks the caller.
 */
int pg_run(struct skw_store *s, pg_job_fn fn, void *arg, bool is_tx);
/* pg_run on the connection kept for the delivery engine's queue work (the
 * pool's when it has only one), so that API load cannot starve it. */
int pg_run_engine(struct skw_store *s, pg_job_fn fn, void *arg, bool is_tx);

/* ---- statements (pg_exec.c) -------------------------------------------- */

#define PG_MAX_PARAMS 20

/* Parameters of one statement. Text values are borrowed unless added with
 * pg_p_own; numbers are kept in num[]. */
struct pg_params {
	int n;
	const char *values[PG_MAX_PARAMS];
	int lengths[PG_MAX_PARAMS];
	int formats[PG_MAX_PARAMS];
	char num[PG_MAX_PARAMS][24];
	char *owned[PG_MAX_PARAMS];
	int n_owned;
	bool is_oom; /* an allocation failed: the statement is not sent */
};

/* s as text, SQL NULL when s is NULL. */
void pg_p_text(struct pg_params *p, const char *s);
/* s as text, SQL NULL when s is NULL or "". */
void pg_p_text_or_null(struct pg_params *p, const char *s);
void pg_p_int(struct pg_params *p, int64_t v);
void pg_p_bool(struct pg_params *p, bool v);
/* Binary bytea; an empty one is '', not NULL. p must not be NULL unless len is 0. */
void pg_p_bytea(struct pg_params *p, const void *data, size_t len);
/* Takes ownership of a malloc'd text value (NULL: out of memory). */
void pg_p_own(struct pg_params *p, char *s);
void pg_params_free(struct pg_params *p);

/* Array literals for $n::text[] / $n::bigint[] parameters. Return owned
 * strings, NULL when out of memory. NULL elements of v are SQL NULLs. */
char *pg_array_text(const char *const *v, size_t n);
char *pg_array_int(const int64_t *v, size_t n);
/* Lowercase hex of each buffer, for decode(x, 'hex'); NULL v[i] is NULL. */
char *pg_array_hex(const unsigned char *const *v, const size_t *len, size_t n);

/*
 * Runs sql with p (may be NULL). 0 and *out (PQclear it; out may be NULL)
 * when it succeeded; else a negative skw_err: SKW_ECONFLICT (unique),
 * SKW_ENOTFOUND (foreign key), SKW_EUNAVAIL (connection, shutdown,
 * deadlock: try again), SKW_EIO (anything else, logged without values).
 */
int pg_exec(struct pg_conn *c, const char *sql, struct pg_params *p, PGresult **out);
/*
 * pg_exec, then COMMIT in the same round trip: for the last statement of a
 * job that pg_run runs in a transaction (outside one, plain pg_exec). 0 only
 * when both succeeded; the job must run nothing after it and return its
 * result. On an error nothing is committed and pg_run rolls back as usual.
 */
int pg_exec_commit(struct pg_conn *c, const char *sql, struct pg_params *p, PGresult **out);
/*
 * Put in front of a statement's text (PG_PER_CALL "SELECT ..."): it is sent
 * unnamed, so the server plans it for its values on every call, as it must
 * for a LIMIT $n or an array whose size decides the join (a generic plan
 * turned the claim into a sequential scan of the queue). Every other
 * statement is prepared once per session, and plan_cache_mode = auto (set by
 * every session, store_pg.c) decides between a custom and a cached generic
 * plan.
 */
#define PG_PER_CALL "/* planned per call */ "
/* Number of rows a command changed. */
long long pg_changes(PGresult *r);

/* Column readers (text format). NULL reads as 0 / "" / NULL. */
int64_t pg_i64(PGresult *r, int row, int col);
bool pg_bool(PGresult *r, int row, int col);
bool pg_is_null(PGresult *r, int row, int col);
void pg_copy(PGresult *r, int row, int col, char *dst, size_t dst_len);
/* *out = owned copy (NUL-terminated), NULL when the value is NULL. */
int pg_strdup(PGresult *r, int row, int col, char **out);
/* Decodes a bytea column into an owned buffer plus a NUL byte. */
int pg_bytea(PGresult *r, int row, int col, unsigned char **out, size_t *len);

/* Wakes the other nodes (NOTIFY PG_CHANNEL); errors are ignored. */
void pg_notify(struct pg_conn *c);
/*
 * NOTIFYs PG_CHANNEL in a transaction of its own, after the caller's commit
 * (store_pg.c). Coalesced: while one caller's NOTIFY runs, the others only
 * ask for one more, which that caller sends when its own is done, so every
 * commit before a caller returns is followed by a NOTIFY, and notifying
 * transactions (serialised by PostgreSQL) never queue up. Errors are
 * ignored: idle nodes also poll.
 */
void pg_wake_others(struct skw_store *s);

/*
 * Ingests waiting to share one transaction (pg_queue.c; group commit as the
 * SQLite writer does it). n_threads ingest threads each take everything
 * queued (up to a cap) into one transaction on a pooled connection; an
 * ingest with an Idempotency-Key runs alone. Callers either wait for their
 * job (pg_event_ingest) or are called back (pg_event_ingest_start).
 */
struct ingest_job;
struct pg_ingest_q {
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* the ingest threads sleep on it while nothing is queued */
	pthread_cond_t done_cv; /* a job is done: waiting callers check theirs */
	struct ingest_job *head, *tail;
	bool is_stopping;
	pthread_t *threads;
	int n_threads;
};
/* Starts n ingest threads for s (at open), and stops them once they have
 * answered every queued job (at close). */
int pg_ingest_threads_start(struct skw_store *s, int n);
void pg_ingest_threads_stop(struct skw_store *s);
/* The store's queue (store_pg.c owns it). */
struct pg_ingest_q *pg_ingest_q(struct skw_store *s);

/*
 * API keys found by hash, remembered for PG_KEY_CACHE_MS so that an event
 * does not cost a round trip for its key (pg_apikey_find_recent). Keys that
 * are not found are never remembered. A revoke or an account delete on this
 * node forgets every entry at once. A key revoked elsewhere (the CLI,
 * another node) can be found here as live until its entry ages out, which
 * is why the ingest statement checks the key again (pg_queue.c): an event
 * is never stored with a revoked key.
 */
#define PG_KEY_CACHE_MS 1000
#define PG_KEY_CACHE_SLOTS 256 /* direct-mapped by the (keyed, uniform) hash */
struct pg_key_entry {
	unsigned char hash[SKW_KEY_HASH_LEN];
	struct skw_apikey key;
	int64_t until_ms; /* skw_mono_ms(); 0: empty */
};
struct pg_key_cache {
	pthread_mutex_t mu;
	uint64_t gen; /* bumped by every forget: a lookup that began before one
		       * does not remember what it found */
	struct pg_key_entry slots[PG_KEY_CACHE_SLOTS];
};
/* The store's key cache (store_pg.c owns it). */
struct pg_key_cache *pg_key_cache(struct skw_store *s);

/* ---- the parts ------------------------------------------------------- */

/* pg_schema.c: brings the schema to the newest version under an advisory
 * lock, so that nodes starting together migrate once. */
int pg_migrate(PGconn *pg, char *err, size_t err_len);
/* Advisory lock keys: migrations, and housekeeping (one node at a time). */
#define PG_LOCK_MIGRATE 0x736b7701LL
#define PG_LOCK_MAINTAIN 0x736b7702LL

/* pg_accounts.c */
int pg_account_insert(struct skw_store *s, const struct skw_account *a);
int pg_account_get(struct skw_store *s, const char *id, struct skw_account *out);
int pg_account_delete(struct skw_store *s, const char *id);
int pg_apikey_insert(struct skw_store *s, const struct skw_apikey *k,
		     const unsigned char hash[SKW_KEY_HASH_LEN]);
int pg_apikey_find_recent(struct skw_store *s, const unsigned char hash[SKW_KEY_HASH_LEN],
			  struct skw_apikey *out);
int pg_apikey_find(struct skw_store *s, const unsigned char hash[SKW_KEY_HASH_LEN],
		   struct skw_apikey *out);
int pg_apikey_list(struct skw_store *s, const char *account_id, struct skw_apikey **out,
		   size_t *n_out);
int pg_apikey_revoke(struct skw_store *s, const char *key_id, int64_t now);
int pg_webhook_insert(struct skw_store *s, const struct skw_webhook *w);
int pg_webhook_get(struct skw_store *s, const char *account_id, const char *id,
		   struct skw_webhook *out);
int pg_webhook_list(struct skw_store *s, const char *account_id, struct skw_webhook **out,
		    size_t *n_out);
int pg_webhook_update(struct skw_store *s, const struct skw_webhook *w);
int pg_webhook_delete(struct skw_store *s, const char *account_id, const char *id);

/* pg_queue.c */
int pg_event_ingest(struct skw_store *s, const struct skw_event_in *ev, struct skw_event_out *out);
int pg_event_ingest_start(struct skw_store *s, const struct skw_event_in *ev,
			  struct skw_event_out *out, skw_store_done_fn done, void *arg);
int pg_claim(struct skw_store *s, const struct skw_claim_opts *o, struct skw_work **out,
	     size_t *n_out);
int pg_complete(struct skw_store *s, const struct skw_attempt_result *r, size_t n);
int pg_release(struct skw_store *s, const char *const *ids, size_t n);
int pg_release_node(struct skw_store *s, const char *node_id);
int pg_next_due(struct skw_store *s, int64_t *out);
int pg_test_prepare(struct skw_store *s, const struct skw_webhook *w, const char *event_id,
		    const char *body, size_t body_len, int64_t now, struct skw_work *out);

/* pg_log.c */
int pg_log_list(struct skw_store *s, const struct skw_log_query *q, struct skw_log_entry **out,
		size_t *n_out);
int pg_maintain(struct skw_store *s, int64_t now, int64_t retention_ms);
int pg_webhook_stats(struct skw_store *s, const char *account_id, const char *webhook_id,
		     int64_t from, int64_t bucket_ms, size_t n, struct skw_stat_bucket *out);

/* pg_sessions.c */
int pg_login_link_insert(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
			 const char *account_id, int64_t now, int64_t expires_at);
int pg_login_link_consume(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
			  int64_t now, char account_id[SKW_ID_MAX]);
int pg_session_insert(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
		      const char *account_id, int64_t now, int64_t expires_at);
int pg_session_touch(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN], int64_t now,
		     int64_t idle_ms, struct skw_session *out);
int pg_session_delete(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN]);

#endif
