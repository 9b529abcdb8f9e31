/*
 * pg_accounts.c - accounts, API keys and webhooks in the PostgreSQL backend.
 *
 * Mirrors sqlite_accounts.c: lists come back newest first (api keys by
 * (created_at, seq), webhooks by seq); every webhook statement filters by
 * account_id as well as id, so one account never sees or changes another's
 * webhook. Single statements run in autocommit; nothing here needs a
 * transaction of its own.
 */
#include "pg_int.h"

#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../core/util.h"

/* ---- the key cache (pg_int.h) ---------------------------------------- */

/* The hash is keyed and uniform: its first bytes pick the slot. */
static struct pg_key_entry *key_slot(struct pg_key_cache *kc,
				     const unsigned char hash[SKW_KEY_HASH_LEN])
{
	return &kc->slots[(hash[0] | (unsigned)hash[1] << 8) % PG_KEY_CACHE_SLOTS];
}

/* Forgets every remembered key: after a revoke or an account delete. */
static void keys_forget(struct skw_store *s)
{
	struct pg_key_cache *kc = pg_key_cache(s);

	pthread_mutex_lock(&kc->mu);
	kc->gen++;
	for (size_t i = 0; i < PG_KEY_CACHE_SLOTS; i++)
		kc->slots[i].until_ms = 0;
	pthread_mutex_unlock(&kc->mu);
}

/* ---- accounts ------------------------------------------------------- */

struct account_job {
	const char *id;
	const struct skw_account *in;
	struct skw_account *out;
};

static int do_account_insert(struct pg_conn *c, void *arg)
{
	const struct skw_account *a = ((struct account_job *)arg)->in;
	struct pg_params p = {0};

	pg_p_text(&p, a->id);
	pg_p_text(&p, a->name ? a->name : "");
	pg_p_int(&p, a->created_at);
	return pg_exec(c, "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)", &p,
		       NULL);
}

int pg_account_insert(struct skw_store *s, const struct skw_account *a)
{
	struct account_job j = {.in = a};

	return pg_run(s, do_account_insert, &j, false);
}

static int do_account_get(struct pg_conn *c, void *arg)
{
	struct account_job *j = arg;
	struct pg_params p = {0};
	PGresult *r;
	int rc;

	pg_p_text(&p, j->id);
	rc = pg_exec(c, "SELECT id, name, created_at FROM accounts WHERE id = $1", &p, &r);
	if (rc)
		return rc;
	if (!PQntuples(r)) {
		rc = SKW_ENOTFOUND;
	} else {
		pg_copy(r, 0, 0, j->out->id, sizeof(j->out->id));
		j->out->created_at = pg_i64(r, 0, 2);
		rc = pg_strdup(r, 0, 1, &j->out->name);
	}
	PQclear(r);
	return rc;
}

int pg_account_get(struct skw_store *s, const char *id, struct skw_account *out)
{
	struct account_job j = {.id = id, .out = out};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = pg_run(s, do_account_get, &j, false);
	if (rc)
		skw_account_cleanup(out);
	return rc;
}

static int do_account_delete(struct pg_conn *c, void *arg)
{
	struct account_job *j = arg;
	struct pg_params p = {0};
	PGresult *r;
	int rc;

	/* one statement (atomic without a transaction): the queue, log and
	 * events have no foreign keys (pg_schema.c, migration 3); the foreign
	 * keys cascade to the rest the account owns. The queue rows go in two
	 * parts, each an index range (queue_ready, queue_leased: migration 5) */
	pg_p_text(&p, j->id);
	rc = pg_exec(c,
		     PG_PER_CALL
		     "WITH w AS (SELECT id FROM webhooks WHERE account_id = $1),"
		     " dq AS (DELETE FROM queue WHERE webhook_id IN (SELECT id FROM w)"
		     "  AND lease_until IS NULL),"
		     " dl AS (DELETE FROM queue WHERE webhook_id IN (SELECT id FROM w)"
		     "  AND lease_until IS NOT NULL),"
		     " da AS (DELETE FROM attempts WHERE webhook_id IN (SELECT id FROM w)),"
		     " de AS (DELETE FROM events WHERE account_id = $1)"
		     " DELETE FROM accounts WHERE id = $1",
		     &p, &r);
	if (rc)
		return rc;
	rc = pg_changes(r) ? 0 : SKW_ENOTFOUND;
	PQclear(r);
	return rc;
}

int pg_account_delete(struct skw_store *s, const char *id)
{
	struct account_job j = {.id = id};
	int rc;

	rc = pg_run(s, do_account_delete, &j, false);
	keys_forget(s);
	return rc;
}

/* ---- API keys ------------------------------------------------------- */

struct apikey_job {
	const struct skw_apikey *in;
	const unsigned char *hash;
	const char *id;
	int64_t now;
	struct skw_apikey *out;
	struct skw_apikey *list;
	size_t n_list;
};

#define APIKEY_COLS "id, account_id, is_platform, prefix, created_at, revoked_at"

static void fill_apikey(PGresult *r, int row, struct skw_apikey *k)
{
	memset(k, 0, sizeof(*k));
	pg_copy(r, row, 0, k->id, sizeof(k->id));
	pg_copy(r, row, 1, k->account_id, sizeof(k->account_id));
	k->is_platform = pg_bool(r, row, 2);
	pg_copy(r, row, 3, k->prefix, sizeof(k->prefix));
	k->created_at = pg_i64(r, row, 4);
	k->revoked_at = pg_i64(r, row, 5); /* NULL reads as 0 */
}

static int do_apikey_insert(struct pg_conn *c, void *arg)
{
	struct apikey_job *j = arg;
	const struct skw_apikey *k = j->in;
	struct pg_params p = {0};

	pg_p_text(&p, k->id);
	pg_p_text_or_null(&p, k->is_platform ? NULL : k->account_id);
	pg_p_bool(&p, k->is_platform);
	pg_p_bytea(&p, j->hash, SKW_KEY_HASH_LEN);
	pg_p_text(&p, k->prefix);
	pg_p_int(&p, k->created_at);
	if (k->revoked_at)
		pg_p_int(&p, k->revoked_at);
	else
		pg_p_text(&p, NULL);
	return pg_exec(
	    c,
	    "INSERT INTO api_keys (id, account_id, is_platform, hash, prefix, created_at,"
	    " revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
	    &p, NULL);
}

int pg_apikey_insert(struct skw_store *s, const struct skw_apikey *k,
		     const unsigned char hash[SKW_KEY_HASH_LEN])
{
	struct apikey_job j = {.in = k, .hash = hash};

	if (!k->is_platform && !k->account_id[0])
		return SKW_EINVAL;
	return pg_run(s, do_apikey_insert, &j, false);
}

static int do_apikey_find(struct pg_conn *c, void *arg)
{
	struct apikey_job *j = arg;
	struct pg_params p = {0};
	PGresult *r;
	int rc;

	pg_p_bytea(&p, j->hash, SKW_KEY_HASH_LEN);
	rc = pg_exec(c, "SELECT " APIKEY_COLS " FROM api_keys WHERE hash = $1", &p, &r);
	if (rc)
		return rc;
	if (PQntuples(r))
		fill_apikey(r, 0, j->out);
	else
		rc = SKW_ENOTFOUND;
	PQclear(r);
	return rc;
}

int pg_apikey_find(struct skw_store *s, const unsigned char hash[SKW_KEY_HASH_LEN],
		   struct skw_apikey *out)
{
	struct apikey_job j = {.hash = hash, .out = out};

	memset(out, 0, sizeof(*out));
	return pg_run(s, do_apikey_find, &j, false);
}

/* As pg_apikey_find, from the key cache when it has the key (pg_int.h). */
int pg_apikey_find_recent(struct skw_store *s, const unsigned char hash[SKW_KEY_HASH_LEN],
			  struct skw_apikey *out)
{
	struct pg_key_cache *kc = pg_key_cache(s);
	struct pg_key_entry *e = key_slot(kc, hash);
	int64_t now = skw_mono_ms();
	uint64_t gen;
	int rc;

	pthread_mutex_lock(&kc->mu);
	if (e->until_ms > now && !memcmp(e->hash, hash, SKW_KEY_HASH_LEN)) {
		*out = e->key;
		pthread_mutex_unlock(&kc->mu);
		return 0;
	}
	gen = kc->gen;
	pthread_mutex_unlock(&kc->mu);

	rc = pg_apikey_find(s, hash, out);
	if (rc)
		return rc;
	pthread_mutex_lock(&kc->mu);
	if (kc->gen == gen) { /* no revoke or delete ran meanwhile */
		memcpy(e->hash, hash, SKW_KEY_HASH_LEN);
		e->key = *out;
		e->until_ms = now + PG_KEY_CACHE_MS;
	}
	pthread_mutex_unlock(&kc->mu);
	return 0;
}

static int do_apikey_list(struct pg_conn *c, void *arg)
{
	struct apikey_job *j = arg;
	struct pg_params p = {0};
	PGresult *r;
	int rc, n;

	if (j->id) {
		pg_p_text(&p, j->id);
		rc = pg_exec(c,
			     "SELECT " APIKEY_COLS " FROM api_keys WHERE account_id = $1"
			     " ORDER BY created_at DESC, seq DESC",
			     &p, &r);
	} else {
		rc = pg_exec(c,
			     "SELECT " APIKEY_COLS " FROM api_keys WHERE account_id IS NULL"
			     " ORDER BY created_at DESC, seq DESC",
			     NULL, &r);
	}
	if (rc)
		return rc;
	n = PQntuples(r);
	if (n) {
		j->list = calloc((size_t)n, sizeof(*j->list));
		if (!j->list) {
			PQclear(r);
			return SKW_ENOMEM;
		}
	}
	for (int i = 0; i < n; i++)
		fill_apikey(r, i, &j->list[i]);
	j->n_list = (size_t)n;
	PQclear(r);
	return 0;
}

int pg_apikey_list(struct skw_store *s, const char *account_id, struct skw_apikey **out,
		   size_t *n_out)
{
	struct apikey_job j = {.id = account_id};
	int rc;

	rc = pg_run(s, do_apikey_list, &j, false);
	if (rc) {
		free(j.list);
		j.list = NULL;
		j.n_list = 0;
	}
	*out = j.list;
	*n_out = j.n_list;
	return rc;
}

static int do_apikey_revoke(struct pg_conn *c, void *arg)
{
	struct apikey_job *j = arg;
	struct pg_params p = {0};
	PGresult *r;
	int rc;

	/* revoking twice keeps the first time */
	pg_p_text(&p, j->id);
	pg_p_int(&p, j->now);
	rc = pg_exec(c, "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1",
		     &p, &r);
	if (rc)
		return rc;
	rc = pg_changes(r) ? 0 : SKW_ENOTFOUND;
	PQclear(r);
	return rc;
}

int pg_apikey_revoke(struct skw_store *s, const char *key_id, int64_t now)
{
	struct apikey_job j = {.id = key_id, .now = now};
	int rc;

	rc = pg_run(s, do_apikey_revoke, &j, false);
	keys_forget(s);
	return rc;
}

/* ---- webhooks ------------------------------------------------------- */

struct webhook_job {
	const struct skw_webhook *in;
	const char *account_id;
	const char *id;
	struct skw_webhook *out;
	struct skw_webhook *list;
	size_t n_list;
};

/* The webhook's columns and its last attempt (started_at DESC, as SQLite): the
 * newest of each outcome, each one step of attempts_log. */
#define WEBHOOK_SELECT                                                                             \
	"SELECT w.id, w.account_id, w.name, w.url, w.events, w.timeout_s, w.retry_attempts,"       \
	" w.enabled, w.secret_enc, w.created_at, w.updated_at, l.success, l.status_code,"          \
	" l.started_at FROM webhooks w LEFT JOIN LATERAL (SELECT * FROM ((SELECT a.success,"       \
	" a.status_code, a.started_at FROM attempts a WHERE a.webhook_id = w.id AND a.success"     \
	" ORDER BY a.started_at DESC LIMIT 1) UNION ALL (SELECT a.success, a.status_code,"         \
	" a.started_at FROM attempts a WHERE a.webhook_id = w.id AND NOT a.success"                \
	" ORDER BY a.started_at DESC LIMIT 1)) x ORDER BY started_at DESC LIMIT 1) l ON true"

static int fill_webhook(PGresult *r, int row, struct skw_webhook *w)
{
	int rc;

	memset(w, 0, sizeof(*w));
	pg_copy(r, row, 0, w->id, sizeof(w->id));
	pg_copy(r, row, 1, w->account_id, sizeof(w->account_id));
	w->timeout_s = (int)pg_i64(r, row, 5);
	w->retry_attempts = (int)pg_i64(r, row, 6);
	w->is_enabled = pg_bool(r, row, 7);
	w->created_at = pg_i64(r, row, 9);
	w->updated_at = pg_i64(r, row, 10);
	if (!pg_is_null(r, row, 11)) {
		w->last_status = pg_bool(r, row, 11) ? SKW_LOG_SUCCEEDED : SKW_LOG_FAILED;
		w->last_status_code = (int)pg_i64(r, row, 12);
		w->last_at = pg_i64(r, row, 13);
	}
	rc = pg_strdup(r, row, 2, &w->name);
	if (!rc)
		rc = pg_strdup(r, row, 3, &w->url);
	if (!rc)
		rc = pg_strdup(r, row, 4, &w->events);
	if (!rc)
		rc = pg_bytea(r, row, 8, &w->secret_enc, &w->secret_enc_len);
	if (rc)
		skw_webhook_cleanup(w);
	return rc;
}

static int do_webhook_insert(struct pg_conn *c, void *arg)
{
	const struct skw_webhook *w = ((struct webhook_job *)arg)->in;
	struct pg_params p = {0};

	pg_p_text(&p, w->id);
	pg_p_text(&p, w->account_id);
	pg_p_text(&p, w->name ? w->name : "");
	pg_p_text(&p, w->url ? w->url : "");
	pg_p_text(&p, w->events ? w->events : "");
	pg_p_int(&p, w->timeout_s);
	pg_p_int(&p, w->retry_attempts);
	pg_p_bool(&p, w->is_enabled);
	if (w->secret_enc)
		pg_p_bytea(&p, w->secret_enc, w->secret_enc_len);
	else
		pg_p_text(&p, NULL);
	pg_p_int(&p, w->created_at);
	pg_p_int(&p, w->updated_at);
	return pg_exec(c,
		       "INSERT INTO webhooks (id, account_id, name, url, events, timeout_s,"
		       " retry_attempts, enabled, secret_enc, created_at, updated_at)"
		       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
		       &p, NULL);
}

int pg_webhook_insert(struct skw_store *s, const struct skw_webhook *w)
{
	struct webhook_job j = {.in = w};

	return pg_run(s, do_webhook_insert, &j, false);
}

static int do_webhook_get(struct pg_conn *c, void *arg)
{
	struct webhook_job *j = arg;
	struct pg_params p = {0};
	PGresult *r;
	int rc;

	pg_p_text(&p, j->id);
	pg_p_text(&p, j->account_id);
	rc = pg_exec(c, WEBHOOK_SELECT " WHERE w.id = $1 AND w.account_id = $2", &p, &r);
	if (rc)
		return rc;
	rc = PQntuples(r) ? fill_webhook(r, 0, j->out) : SKW_ENOTFOUND;
	PQclear(r);
	return rc;
}

int pg_webhook_get(struct skw_store *s, const char *account_id, const char *id,
		   struct skw_webhook *out)
{
	struct webhook_job j = {.account_id = account_id, .id = id, .out = out};

	memset(out, 0, sizeof(*out));
	return pg_run(s, do_webhook_get, &j, false);
}

static int do_webhook_list(struct pg_conn *c, void *arg)
{
	struct webhook_job *j = arg;
	struct pg_params p = {0};
	PGresult *r;
	int rc = 0, n;

	pg_p_text(&p, j->account_id);
	rc = pg_exec(c, WEBHOOK_SELECT " WHERE w.account_id = $1 ORDER BY w.seq DESC", &p, &r);
	if (rc)
		return rc;
	n = PQntuples(r);
	if (n) {
		j->list = calloc((size_t)n, sizeof(*j->list));
		if (!j->list)
			rc = SKW_ENOMEM;
	}
	for (int i = 0; !rc && i < n; i++) {
		rc = fill_webhook(r, i, &j->list[i]);
		if (!rc)
			j->n_list++;
	}
	PQclear(r);
	return rc;
}

int pg_webhook_list(struct skw_store *s, const char *account_id, struct skw_webhook **out,
		    size_t *n_out)
{
	struct webhook_job j = {.account_id = account_id};
	int rc;

	rc = pg_run(s, do_webhook_list, &j, false);
	if (rc) {
		skw_webhooks_free(j.list, j.n_list);
		j.list = NULL;
		j.n_list = 0;
	}
	*out = j.list;
	*n_out = j.n_list;
	return rc;
}

static int do_webhook_update(struct pg_conn *c, void *arg)
{
	const struct skw_webhook *w = ((struct webhook_job *)arg)->in;
	struct pg_params p = {0};
	PGresult *r;
	int rc;

	pg_p_text(&p, w->id);
	pg_p_text(&p, w->account_id);
	pg_p_text(&p, w->name ? w->name : "");
	pg_p_text(&p, w->url ? w->url : "");
	pg_p_text(&p, w->events ? w->events : "");
	pg_p_int(&p, w->timeout_s);
	pg_p_int(&p, w->retry_attempts);
	pg_p_bool(&p, w->is_enabled);
	pg_p_int(&p, w->updated_at);
	rc = pg_exec(c,
		     "UPDATE webhooks SET name = $3, url = $4, events = $5, timeout_s = $6,"
		     " retry_attempts = $7, enabled = $8, updated_at = $9"
		     " WHERE id = $1 AND account_id = $2",
		     &p, &r);
	if (rc)
		return rc;
	rc = pg_changes(r) ? 0 : SKW_ENOTFOUND;
	PQclear(r);
	/* held deliveries may be due now: wake the other nodes */
	if (!rc && w->is_enabled)
		pg_notify(c);
	return rc;
}

int pg_webhook_update(struct skw_store *s, const struct skw_webhook *w)
{
	struct webhook_job j = {.in = w};

	return pg_run(s, do_webhook_update, &j, false);
}

static int do_webhook_delete(struct pg_conn *c, void *arg)
{
	struct webhook_job *j = arg;
	struct pg_params p = {0};
	PGresult *r;
	int rc;

	/* with its queue rows (unleased and leased, each an index range:
	 * pg_schema.c, migration 5) and log (no foreign keys), in one
	 * statement */
	pg_p_text(&p, j->id);
	pg_p_text(&p, j->account_id);
	rc = pg_exec(c,
		     PG_PER_CALL
		     "WITH d AS (DELETE FROM webhooks WHERE id = $1 AND account_id = $2"
		     " RETURNING id),"
		     " dq AS (DELETE FROM queue WHERE webhook_id IN (SELECT id FROM d)"
		     "  AND lease_until IS NULL),"
		     " dl AS (DELETE FROM queue WHERE webhook_id IN (SELECT id FROM d)"
		     "  AND lease_until IS NOT NULL),"
		     " da AS (DELETE FROM attempts WHERE webhook_id IN (SELECT id FROM d))"
		     " SELECT count(*) FROM d",
		     &p, &r);
	if (rc)
		return rc;
	rc = pg_i64(r, 0, 0) ? 0 : SKW_ENOTFOUND;
	PQclear(r);
	return rc;
}

int pg_webhook_delete(struct skw_store *s, const char *account_id, const char *id)
{
	struct webhook_job j = {.account_id = account_id, .id = id};

	return pg_run(s, do_webhook_delete, &j, false);
}
