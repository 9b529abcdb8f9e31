/*
 * store_impl.h - what a storage backend implements. Only store.c and the
 * backends include this; everyone else uses store.h.
 */
#ifndef SKW_STORE_IMPL_H
#define SKW_STORE_IMPL_H

#include "store.h"

struct skw_store_ops {
	const char *name;
	bool is_shared; /* other processes may use the database at the same time */
	void (*close)(struct skw_store *s);
	int (*ping)(struct skw_store *s);
	/* optional: NULL when the backend cannot tell about others' work */
	int (*set_wakeup)(struct skw_store *s, skw_store_wakeup_fn fn, void *arg);
	int (*account_insert)(struct skw_store *s, const struct skw_account *a);
	int (*account_get)(struct skw_store *s, const char *id, struct skw_account *out);
	int (*account_delete)(struct skw_store *s, const char *id);
	int (*apikey_insert)(struct skw_store *s, const struct skw_apikey *k,
			     const unsigned char hash[SKW_KEY_HASH_LEN]);
	/* NULL: apikey_find serves it */
	int (*apikey_find_recent)(struct skw_store *s, const unsigned char hash[SKW_KEY_HASH_LEN],
				  struct skw_apikey *out);
	int (*apikey_find)(struct skw_store *s, const unsigned char hash[SKW_KEY_HASH_LEN],
			   struct skw_apikey *out);
	int (*apikey_list)(struct skw_store *s, const char *account_id, struct skw_apikey **out,
			   size_t *n_out);
	int (*apikey_revoke)(struct skw_store *s, const char *key_id, int64_t now);
	int (*webhook_insert)(struct skw_store *s, const struct skw_webhook *w);
	int (*webhook_get)(struct skw_store *s, const char *account_id, const char *id,
			   struct skw_webhook *out);
	int (*webhook_list)(struct skw_store *s, const char *account_id, struct skw_webhook **out,
			    size_t *n_out);
	int (*webhook_update)(struct skw_store *s, const struct skw_webhook *w);
	int (*webhook_delete)(struct skw_store *s, const char *account_id, const char *id);
	int (*event_ingest)(struct skw_store *s, const struct skw_event_in *ev,
			    struct skw_event_out *out);
	/* NULL: the backend answers ingests only while the caller waits */
	int (*event_ingest_start)(struct skw_store *s, const struct skw_event_in *ev,
				  struct skw_event_out *out, skw_store_done_fn done, void *arg);
	int (*claim)(struct skw_store *s, const struct skw_claim_opts *o, struct skw_work **out,
		     size_t *n_out);
	int (*complete)(struct skw_store *s, const struct skw_attempt_result *r, size_t n);
	int (*release)(struct skw_store *s, const char *const *ids, size_t n);
	int (*release_node)(struct skw_store *s, const char *node_id);
	int (*next_due)(struct skw_store *s, int64_t *out);
	int (*test_prepare)(struct skw_store *s, const struct skw_webhook *w, const char *event_id,
			    const char *body, size_t body_len, int64_t now, struct skw_work *out);
	int (*log_list)(struct skw_store *s, const struct skw_log_query *q,
			struct skw_log_entry **out, size_t *n_out);
	int (*maintain)(struct skw_store *s, int64_t now, int64_t retention_ms);
	int (*webhook_stats)(struct skw_store *s, const char *account_id, const char *webhook_id,
			     int64_t from, int64_t bucket_ms, size_t n,
			     struct skw_stat_bucket *out);
	int (*login_link_insert)(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
				 const char *account_id, int64_t now, int64_t expires_at);
	int (*login_link_consume)(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
				  int64_t now, char account_id[SKW_ID_MAX]);
	int (*session_insert)(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
			      const char *account_id, int64_t now, int64_t expires_at);
	int (*session_touch)(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
			     int64_t now, int64_t idle_ms, struct skw_session *out);
	int (*session_delete)(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN]);
};

/*
 * Where a log page starts, the same for every backend: rows sort newest
 * first by (at, delivery id, attempt), and a page continues strictly after
 * the cursor, or starts above every row when there is none. Also clamps the
 * page size. SKW_EINVAL on a bad query or cursor key ("dlv_...:N").
 */
struct skw_log_start {
	size_t limit;
	int64_t at;
	char delivery[SKW_ID_MAX];
	int attempt;
};
int skw_store_log_start(const struct skw_log_query *q, struct skw_log_start *out);
/* Appends a zeroed row to *rows (capacity starts at 3 * limit: one page from
 * each source) and points *out at it. */
int skw_store_log_push(struct skw_log_entry **rows, size_t *n, size_t *cap, size_t limit,
		       struct skw_log_entry **out);
/* Sets e->key ("dlv_...:003") from its delivery id and attempt: the cursor
 * key that skw_store_log_start parses back. */
void skw_store_log_key(struct skw_log_entry *e);
/*
 * Merges what a backend gathered (up to limit rows from each of the three
 * sources) into the page: sorts newest first, frees rows past limit, and
 * hands the array to *out (NULL when empty). Takes ownership of rows.
 */
void skw_store_log_finish(struct skw_log_entry *rows, size_t n, size_t limit,
			  struct skw_log_entry **out, size_t *n_out);

/* Fills out with a test send's work for w (attempt 1 of 1, leased for its
 * timeout, a new delivery id); the backend then stores the event. */
int skw_store_test_work(const struct skw_webhook *w, const char *event_id, const char *body,
			size_t body_len, int64_t now, struct skw_work *out);

/* Every backend's handle starts with this. */
struct skw_store {
	const struct skw_store_ops *ops;
};

/* Backend constructors. path is what follows the scheme. */
int skw_store_sqlite_open(const char *path, bool is_durable, struct skw_store **out, char *err,
			  size_t err_len);
/* conninfo: a postgres:// URL or a libpq keyword string (store_pg.c). */
int skw_store_pg_open(const char *conninfo, bool is_durable, struct skw_store **out, char *err,
		      size_t err_len);

#endif
