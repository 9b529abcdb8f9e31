/*
 * sqlite_int.h - what the files of the SQLite backend share; private to
 * src/store/ (store_sqlite.c, sqlite_schema.c, sqlite_accounts.c,
 * sqlite_queue.c, sqlite_log.c, sqlite_sessions.c).
 *
 * Every operation is written as a job: a function that runs against one
 * connection and does not open or close transactions itself. sq_write()
 * hands a job to the writer thread, which runs it inside a SAVEPOINT of the
 * current group-commit transaction; sq_read() runs it inside a read
 * transaction on a pooled read-only connection. A job may only touch its
 * struct sq_conn, its argument, and memory the blocked caller owns.
 */
#ifndef SKW_STORE_SQLITE_INT_H
#define SKW_STORE_SQLITE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store_impl.h"

/* One prepared statement, cached by the address of its SQL text. */
struct sq_cached {
	const char *sql;
	sqlite3_stmt *st;
};

/* A connection and its statement cache. Used by one thread at a time. */
struct sq_conn {
	sqlite3 *db;
	struct sq_cached *cache;
	size_t n_cache;
	size_t cap_cache;
};

typedef int (*sq_job_fn)(struct sq_conn *c, void *arg);

/* Runs fn on the writer thread in the next group commit and returns its
 * result once that commit is durable (or its failure). Blocks the caller. */
int sq_write(struct skw_store *s, sq_job_fn fn, void *arg);
/*
 * sq_write for a job whose only failures by design come before its first
 * change (its first write fails whole, as every SQLite statement does):
 * ingest, claim, complete. It runs without a savepoint of its own: a
 * savepoint copies every page the job changes that the batch had changed
 * before it, which cost the writer 8-24% of its time (docs/PERFORMANCE.md,
 * seventh round). If such a job fails after all (SQLite itself failing
 * half-way), its changes cannot be undone alone: the whole batch is rolled
 * back and every job in it gets the error.
 */
int sq_write_atomic(struct skw_store *s, sq_job_fn fn, void *arg);
/*
 * sq_write_atomic without blocking: returns 0 once the job is queued, and
 * done(arg, rc) then runs exactly once, on a store thread, with what
 * sq_write_atomic would have returned, once the commit is durable (or
 * failed). It must be short and must not wait for the store. Any other
 * return (SKW_EUNAVAIL: the store is closing): not queued, done is not
 * called. arg and what fn touches must live until done.
 */
typedef void (*sq_done_fn)(void *arg, int rc);
int sq_write_atomic_async(struct skw_store *s, sq_job_fn fn, void *arg, sq_done_fn done);
/* Runs fn in a read transaction on a pooled connection (on the writer for
 * an in-memory store). Blocks the caller. */
int sq_read(struct skw_store *s, sq_job_fn fn, void *arg);

/*
 * Statement helpers. sql must be a string with static storage: its address
 * is the cache key. The statement comes back reset with no bindings; the
 * job runners reset every cached statement after each job, so a job need
 * not reset what it steps.
 */
int sq_prep(struct sq_conn *c, const char *sql, sqlite3_stmt **out);
/* Steps st: 0 with *has_row, or a negative skw_err. */
int sq_step(struct sq_conn *c, sqlite3_stmt *st, bool *has_row);
/* Steps a statement that returns no rows. */
int sq_done(struct sq_conn *c, sqlite3_stmt *st);
/* Prepares (cached) and runs a statement without parameters. */
int sq_exec(struct sq_conn *c, const char *sql);
/* Maps an SQLite result code to a skw_err, logging unexpected ones. */
int sq_err(struct sq_conn *c, int src);
/* Resets every cached statement (ends implicit reads). */
void sq_reset_all(struct sq_conn *c);

/* Binds s, or NULL when s is NULL. Borrowed for the statement's use. */
void sq_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Binds s, or NULL when s is NULL or "". */
void sq_bind_text_or_null(sqlite3_stmt *st, int i, const char *s);
/* Binds a blob; an empty one is a zero-length blob, not NULL. */
void sq_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t len);

/* *out = owned copy of column i (NUL-terminated), NULL when it is NULL. */
int sq_col_strdup(sqlite3_stmt *st, int i, char **out);
/* *out = owned copy of blob column i plus a NUL byte, NULL when it is NULL. */
int sq_col_blobdup(sqlite3_stmt *st, int i, unsigned char **out, size_t *len);
/* Copies text column i into dst (truncating), "" when NULL. */
void sq_col_copy(sqlite3_stmt *st, int i, char *dst, size_t dst_len);

/* sqlite_schema.c: brings the schema to the newest version. */
int sq_migrate(struct sq_conn *c, char *err, size_t err_len);

/* sqlite_accounts.c */
int sq_account_insert(struct skw_store *s, const struct skw_account *a);
int sq_account_get(struct skw_store *s, const char *id, struct skw_account *out);
int sq_account_delete(struct skw_store *s, const char *id);
int sq_apikey_insert(struct skw_store *s, const struct skw_apikey *k,
		     const unsigned char hash[SKW_KEY_HASH_LEN]);
int sq_apikey_find(struct skw_store *s, const unsigned char hash[SKW_KEY_HASH_LEN],
		   struct skw_apikey *out);
int sq_apikey_list(struct skw_store *s, const char *account_id, struct skw_apikey **out,
		   size_t *n_out);
int sq_apikey_revoke(struct skw_store *s, const char *key_id, int64_t now);
int sq_webhook_insert(struct skw_store *s, const struct skw_webhook *w);
int sq_webhook_get(struct skw_store *s, const char *account_id, const char *id,
		   struct skw_webhook *out);
int sq_webhook_list(struct skw_store *s, const char *account_id, struct skw_webhook **out,
		    size_t *n_out);
int sq_webhook_update(struct skw_store *s, const struct skw_webhook *w);
int sq_webhook_delete(struct skw_store *s, const char *account_id, const char *id);

/* sqlite_queue.c */
int sq_event_ingest(struct skw_store *s, const struct skw_event_in *ev, struct skw_event_out *out);
int sq_event_ingest_start(struct skw_store *s, const struct skw_event_in *ev,
			  struct skw_event_out *out, skw_store_done_fn done, void *arg);
int sq_claim(struct skw_store *s, const struct skw_claim_opts *o, struct skw_work **out,
	     size_t *n_out);
int sq_complete(struct skw_store *s, const struct skw_attempt_result *r, size_t n);
int sq_release(struct skw_store *s, const char *const *ids, size_t n);
int sq_release_node(struct skw_store *s, const char *node_id);
int sq_next_due(struct skw_store *s, int64_t *out);
int sq_test_prepare(struct skw_store *s, const struct skw_webhook *w, const char *event_id,
		    const char *body, size_t body_len, int64_t now, struct skw_work *out);

/* sqlite_log.c */
int sq_log_list(struct skw_store *s, const struct skw_log_query *q, struct skw_log_entry **out,
		size_t *n_out);
int sq_maintain(struct skw_store *s, int64_t now, int64_t retention_ms);

/* sqlite_sessions.c */
int sq_login_link_insert(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
			 const char *account_id, int64_t now, int64_t expires_at);
int sq_login_link_consume(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
			  int64_t now, char account_id[SKW_ID_MAX]);
int sq_session_insert(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
		      const char *account_id, int64_t now, int64_t expires_at);
int sq_session_touch(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN], int64_t now,
		     int64_t idle_ms, struct skw_session *out);
int sq_session_delete(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN]);
/* Drops expired links and sessions idle for idle_ms or past their end. */
int sq_sessions_gc(struct skw_store *s, int64_t now, int64_t idle_ms);
int sq_webhook_stats(struct skw_store *s, const char *account_id, const char *webhook_id,
		     int64_t from, int64_t bucket_ms, size_t n, struct skw_stat_bucket *out);
/* Fills w's last_* fields from the attempt log (job context). */
int sq_fill_last(struct sq_conn *c, struct skw_webhook *w);

#endif
