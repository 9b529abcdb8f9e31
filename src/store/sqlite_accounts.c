/*
 * sqlite_accounts.c - accounts, API keys and webhooks in the SQLite backend.
 *
 * Each public operation packs its arguments into a struct and runs one job
 * (sqlite_int.h) with sq_write or sq_read. Lists come back newest first:
 * api keys by (created_at, rowid), webhooks by seq (the rowid, which only
 * grows for the newest row). Every webhook statement filters by account_id
 * as well as id, so one account never sees or changes another's webhook.
 */
#include "sqlite_int.h"

#include <stdlib.h>
#include <string.h>

#include "../core/err.h"

/* ---- accounts ------------------------------------------------------- */

struct account_job {
	const char *id;
	const struct skw_account *in;
	struct skw_account *out;
};

static int do_account_insert(struct sq_conn *c, void *arg)
{
	const struct skw_account *a = ((struct account_job *)arg)->in;
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c, "INSERT INTO accounts (id, name, created_at) VALUES (?1, ?2, ?3)", &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, a->id);
	sq_bind_text(st, 2, a->name ? a->name : "");
	sqlite3_bind_int64(st, 3, a->created_at);
	return sq_done(c, st);
}

int sq_account_insert(struct skw_store *s, const struct skw_account *a)
{
	struct account_job j = {.in = a};

	return sq_write(s, do_account_insert, &j);
}

static int do_account_get(struct sq_conn *c, void *arg)
{
	struct account_job *j = arg;
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = sq_prep(c, "SELECT id, name, created_at FROM accounts WHERE id = ?1", &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, j->id);
	rc = sq_step(c, st, &has_row);
	if (rc)
		return rc;
	if (!has_row)
		return SKW_ENOTFOUND;
	sq_col_copy(st, 0, j->out->id, sizeof(j->out->id));
	j->out->created_at = sqlite3_column_int64(st, 2);
	return sq_col_strdup(st, 1, &j->out->name);
}

int sq_account_get(struct skw_store *s, const char *id, struct skw_account *out)
{
	struct account_job j = {.id = id, .out = out};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = sq_read(s, do_account_get, &j);
	if (rc)
		skw_account_cleanup(out);
	return rc;
}

static int do_account_delete(struct sq_conn *c, void *arg)
{
	struct account_job *j = arg;
	sqlite3_stmt *st;
	int rc;

	/* the foreign keys cascade to everything the account owns */
	rc = sq_prep(c, "DELETE FROM accounts WHERE id = ?1", &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, j->id);
	rc = sq_done(c, st);
	if (rc)
		return rc;
	return sqlite3_changes(c->db) ? 0 : SKW_ENOTFOUND;
}

int sq_account_delete(struct skw_store *s, const char *id)
{
	struct account_job j = {.id = id};

	return sq_write(s, do_account_delete, &j);
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

static void fill_apikey(sqlite3_stmt *st, struct skw_apikey *k)
{
	memset(k, 0, sizeof(*k));
	sq_col_copy(st, 0, k->id, sizeof(k->id));
	sq_col_copy(st, 1, k->account_id, sizeof(k->account_id));
	k->is_platform = sqlite3_column_int(st, 2) != 0;
	sq_col_copy(st, 3, k->prefix, sizeof(k->prefix));
	k->created_at = sqlite3_column_int64(st, 4);
	k->revoked_at = sqlite3_column_int64(st, 5); /* NULL reads as 0 */
}

static int do_apikey_insert(struct sq_conn *c, void *arg)
{
	struct apikey_job *j = arg;
	const struct skw_apikey *k = j->in;
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c,
		     "INSERT INTO api_keys (id, account_id, is_platform, hash, prefix, created_at,"
		     " revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, k->id);
	sq_bind_text_or_null(st, 2, k->is_platform ? NULL : k->account_id);
	sqlite3_bind_int(st, 3, k->is_platform);
	sq_bind_blob(st, 4, j->hash, SKW_KEY_HASH_LEN);
	sq_bind_text(st, 5, k->prefix);
	sqlite3_bind_int64(st, 6, k->created_at);
	if (k->revoked_at)
		sqlite3_bind_int64(st, 7, k->revoked_at);
	return sq_done(c, st);
}

int sq_apikey_insert(struct skw_store *s, const struct skw_apikey *k,
		     const unsigned char hash[SKW_KEY_HASH_LEN])
{
	struct apikey_job j = {.in = k, .hash = hash};

	if (!k->is_platform && !k->account_id[0])
		return SKW_EINVAL;
	return sq_write(s, do_apikey_insert, &j);
}

static int do_apikey_find(struct sq_conn *c, void *arg)
{
	struct apikey_job *j = arg;
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = sq_prep(c, "SELECT " APIKEY_COLS " FROM api_keys WHERE hash = ?1", &st);
	if (rc)
		return rc;
	sq_bind_blob(st, 1, j->hash, SKW_KEY_HASH_LEN);
	rc = sq_step(c, st, &has_row);
	if (rc)
		return rc;
	if (!has_row)
		return SKW_ENOTFOUND;
	fill_apikey(st, j->out);
	return 0;
}

int sq_apikey_find(struct skw_store *s, const unsigned char hash[SKW_KEY_HASH_LEN],
		   struct skw_apikey *out)
{
	struct apikey_job j = {.hash = hash, .out = out};

	memset(out, 0, sizeof(*out));
	return sq_read(s, do_apikey_find, &j);
}

static int do_apikey_list(struct sq_conn *c, void *arg)
{
	struct apikey_job *j = arg;
	size_t cap = 0;
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	if (j->id)
		rc = sq_prep(c,
			     "SELECT " APIKEY_COLS " FROM api_keys WHERE account_id = ?1"
			     " ORDER BY created_at DESC, rowid DESC",
			     &st);
	else
		rc = sq_prep(c,
			     "SELECT " APIKEY_COLS " FROM api_keys WHERE account_id IS NULL"
			     " ORDER BY created_at DESC, rowid DESC",
			     &st);
	if (rc)
		return rc;
	if (j->id)
		sq_bind_text(st, 1, j->id);
	for (;;) {
		rc = sq_step(c, st, &has_row);
		if (rc || !has_row)
			return rc;
		if (j->n_list == cap) {
			struct skw_apikey *n;

			cap = cap ? 2 * cap : 8;
			n = realloc(j->list, cap * sizeof(*n));
			if (!n)
				return SKW_ENOMEM;
			j->list = n;
		}
		fill_apikey(st, &j->list[j->n_list++]);
	}
}

int sq_apikey_list(struct skw_store *s, const char *account_id, struct skw_apikey **out,
		   size_t *n_out)
{
	struct apikey_job j = {.id = account_id};
	int rc;

	rc = sq_read(s, do_apikey_list, &j);
	if (rc) {
		free(j.list);
		j.list = NULL;
		j.n_list = 0;
	}
	*out = j.list;
	*n_out = j.n_list;
	return rc;
}

static int do_apikey_revoke(struct sq_conn *c, void *arg)
{
	struct apikey_job *j = arg;
	sqlite3_stmt *st;
	int rc;

	/* revoking twice keeps the first time */
	rc = sq_prep(c, "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, j->id);
	sqlite3_bind_int64(st, 2, j->now);
	rc = sq_done(c, st);
	if (rc)
		return rc;
	return sqlite3_changes(c->db) ? 0 : SKW_ENOTFOUND;
}

int sq_apikey_revoke(struct skw_store *s, const char *key_id, int64_t now)
{
	struct apikey_job j = {.id = key_id, .now = now};

	return sq_write(s, do_apikey_revoke, &j);
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

#define WEBHOOK_COLS                                                                               \
	"id, account_id, name, url, events, timeout_s, retry_attempts, enabled, secret_enc,"       \
	" created_at, updated_at"

static int fill_webhook(sqlite3_stmt *st, struct skw_webhook *w)
{
	int rc;

	memset(w, 0, sizeof(*w));
	sq_col_copy(st, 0, w->id, sizeof(w->id));
	sq_col_copy(st, 1, w->account_id, sizeof(w->account_id));
	w->timeout_s = sqlite3_column_int(st, 5);
	w->retry_attempts = sqlite3_column_int(st, 6);
	w->is_enabled = sqlite3_column_int(st, 7) != 0;
	w->created_at = sqlite3_column_int64(st, 9);
	w->updated_at = sqlite3_column_int64(st, 10);
	rc = sq_col_strdup(st, 2, &w->name);
	if (!rc)
		rc = sq_col_strdup(st, 3, &w->url);
	if (!rc)
		rc = sq_col_strdup(st, 4, &w->events);
	if (!rc)
		rc = sq_col_blobdup(st, 8, &w->secret_enc, &w->secret_enc_len);
	if (rc)
		skw_webhook_cleanup(w);
	return rc;
}

static int do_webhook_insert(struct sq_conn *c, void *arg)
{
	const struct skw_webhook *w = ((struct webhook_job *)arg)->in;
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c,
		     "INSERT INTO webhooks (id, account_id, name, url, events, timeout_s,"
		     " retry_attempts, enabled, secret_enc, created_at, updated_at)"
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, w->id);
	sq_bind_text(st, 2, w->account_id);
	sq_bind_text(st, 3, w->name ? w->name : "");
	sq_bind_text(st, 4, w->url ? w->url : "");
	sq_bind_text(st, 5, w->events ? w->events : "");
	sqlite3_bind_int(st, 6, w->timeout_s);
	sqlite3_bind_int(st, 7, w->retry_attempts);
	sqlite3_bind_int(st, 8, w->is_enabled);
	if (w->secret_enc)
		sq_bind_blob(st, 9, w->secret_enc, w->secret_enc_len);
	sqlite3_bind_int64(st, 10, w->created_at);
	sqlite3_bind_int64(st, 11, w->updated_at);
	return sq_done(c, st);
}

int sq_webhook_insert(struct skw_store *s, const struct skw_webhook *w)
{
	struct webhook_job j = {.in = w};

	return sq_write(s, do_webhook_insert, &j);
}

static int do_webhook_get(struct sq_conn *c, void *arg)
{
	struct webhook_job *j = arg;
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = sq_prep(c, "SELECT " WEBHOOK_COLS " FROM webhooks WHERE id = ?1 AND account_id = ?2",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, j->id);
	sq_bind_text(st, 2, j->account_id);
	rc = sq_step(c, st, &has_row);
	if (rc)
		return rc;
	if (!has_row)
		return SKW_ENOTFOUND;
	rc = fill_webhook(st, j->out);
	if (!rc)
		rc = sq_fill_last(c, j->out);
	return rc;
}

int sq_webhook_get(struct skw_store *s, const char *account_id, const char *id,
		   struct skw_webhook *out)
{
	struct webhook_job j = {.account_id = account_id, .id = id, .out = out};

	memset(out, 0, sizeof(*out));
	return sq_read(s, do_webhook_get, &j);
}

static int do_webhook_list(struct sq_conn *c, void *arg)
{
	struct webhook_job *j = arg;
	size_t cap = 0;
	sqlite3_stmt *st;
	bool has_row;
	int rc;

	rc = sq_prep(c,
		     "SELECT " WEBHOOK_COLS " FROM webhooks WHERE account_id = ?1"
		     " ORDER BY seq DESC",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, j->account_id);
	for (;;) {
		rc = sq_step(c, st, &has_row);
		if (rc || !has_row)
			return rc;
		if (j->n_list == cap) {
			struct skw_webhook *n;

			cap = cap ? 2 * cap : 8;
			n = realloc(j->list, cap * sizeof(*n));
			if (!n)
				return SKW_ENOMEM;
			j->list = n;
		}
		rc = fill_webhook(st, &j->list[j->n_list]);
		if (rc)
			return rc;
		j->n_list++;
		rc = sq_fill_last(c, &j->list[j->n_list - 1]);
		if (rc)
			return rc;
	}
}

int sq_webhook_list(struct skw_store *s, const char *account_id, struct skw_webhook **out,
		    size_t *n_out)
{
	struct webhook_job j = {.account_id = account_id};
	int rc;

	rc = sq_read(s, do_webhook_list, &j);
	if (rc) {
		skw_webhooks_free(j.list, j.n_list);
		j.list = NULL;
		j.n_list = 0;
	}
	*out = j.list;
	*n_out = j.n_list;
	return rc;
}

static int do_webhook_update(struct sq_conn *c, void *arg)
{
	const struct skw_webhook *w = ((struct webhook_job *)arg)->in;
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c,
		     "UPDATE webhooks SET name = ?3, url = ?4, events = ?5, timeout_s = ?6,"
		     " retry_attempts = ?7, enabled = ?8, updated_at = ?9"
		     " WHERE id = ?1 AND account_id = ?2",
		     &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, w->id);
	sq_bind_text(st, 2, w->account_id);
	sq_bind_text(st, 3, w->name ? w->name : "");
	sq_bind_text(st, 4, w->url ? w->url : "");
	sq_bind_text(st, 5, w->events ? w->events : "");
	sqlite3_bind_int(st, 6, w->timeout_s);
	sqlite3_bind_int(st, 7, w->retry_attempts);
	sqlite3_bind_int(st, 8, w->is_enabled);
	sqlite3_bind_int64(st, 9, w->updated_at);
	rc = sq_done(c, st);
	if (rc)
		return rc;
	return sqlite3_changes(c->db) ? 0 : SKW_ENOTFOUND;
}

int sq_webhook_update(struct skw_store *s, const struct skw_webhook *w)
{
	struct webhook_job j = {.in = w};

	return sq_write(s, do_webhook_update, &j);
}

static int do_webhook_delete(struct sq_conn *c, void *arg)
{
	struct webhook_job *j = arg;
	sqlite3_stmt *st;
	int rc;

	/* cascades to the webhook's queue rows and log */
	rc = sq_prep(c, "DELETE FROM webhooks WHERE id = ?1 AND account_id = ?2", &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, j->id);
	sq_bind_text(st, 2, j->account_id);
	rc = sq_done(c, st);
	if (rc)
		return rc;
	return sqlite3_changes(c->db) ? 0 : SKW_ENOTFOUND;
}

int sq_webhook_delete(struct skw_store *s, const char *account_id, const char *id)
{
	struct webhook_job j = {.account_id = account_id, .id = id};

	return sq_write(s, do_webhook_delete, &j);
}
