/*
 * sqlite_schema.c - the SQLite schema as a list of migrations.
 *
 * PRAGMA user_version holds how many entries of migrations[] the database
 * has had applied. At open, every missing one runs, in order, inside one
 * transaction together with the user_version bump, so a crash leaves the
 * database at the old version or the new one, never in between. To change
 * the schema, append an entry; never edit one that has shipped. A database
 * newer than this binary is refused rather than guessed at.
 *
 * Tables (times are ms since the epoch):
 *   accounts      the tenants.
 *   api_keys      account keys (account_id set) and platform keys (NULL);
 *                 only the keyed hash of a key is stored.
 *   webhooks      seq is the rowid: newest-first listing is ORDER BY seq
 *                 DESC. events is the canonical comma list; secret_enc the
 *                 sealed signing secret.
 *   events        every ingested event with its exact body.
 *   queue         pending deliveries only (the hot table): a delivery leaves
 *                 it when its last attempt is recorded. lease_until/owner
 *                 are set while a node is sending it.
 *   attempts      the append-only log of made attempts.
 *   idempotency   (account, Idempotency-Key) -> the first request's result.
 *
 * Deleting an account cascades to everything it owns: webhooks (and through
 * them queue and attempts), events, api_keys, idempotency. queue.event_id
 * and attempts.event_id deliberately have no foreign key: the cascade goes
 * through webhooks, and an FK would need another index on the hot tables.
 */
#include "sqlite_int.h"

#include <stdio.h>

#include "../core/err.h"

/* clang-format off: the SQL is laid out for reading */
static const char *const migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE accounts ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"

    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY,"
    "  account_id TEXT REFERENCES accounts(id) ON DELETE CASCADE,"
    "  is_platform INTEGER NOT NULL,"
    "  hash BLOB NOT NULL UNIQUE,"
    "  prefix TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER);"
    "CREATE INDEX api_keys_account ON api_keys(account_id, created_at);"

    "CREATE TABLE webhooks ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  events TEXT NOT NULL,"
    "  timeout_s INTEGER NOT NULL,"
    "  retry_attempts INTEGER NOT NULL,"
    "  enabled INTEGER NOT NULL,"
    "  secret_enc BLOB,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX webhooks_account ON webhooks(account_id, seq);"

    "CREATE TABLE events ("
    "  id TEXT PRIMARY KEY,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  event TEXT NOT NULL,"
    "  body BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX events_account ON events(account_id);"
    "CREATE INDEX events_time ON events(created_at);"

    "CREATE TABLE queue ("
    "  delivery_id TEXT PRIMARY KEY,"
    "  event_id TEXT NOT NULL,"
    "  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
    "  account_id TEXT NOT NULL,"
    "  attempts_made INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at INTEGER NOT NULL,"
    "  lease_until INTEGER,"
    "  lease_owner TEXT,"
    "  created_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    /* claiming: per webhook, oldest due first (delivery_id is implied) */
    "CREATE INDEX queue_webhook ON queue(webhook_id, next_attempt_at);"
    /* the leased rows, for next_due and release_node */
    "CREATE INDEX queue_leased ON queue(lease_until) WHERE lease_until IS NOT NULL;"

    "CREATE TABLE attempts ("
    "  id INTEGER PRIMARY KEY,"
    "  delivery_id TEXT NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
    "  account_id TEXT NOT NULL,"
    "  event TEXT NOT NULL,"
    "  attempt_no INTEGER NOT NULL,"
    "  max_attempts INTEGER NOT NULL,"
    "  status_code INTEGER,"
    "  response BLOB,"
    "  error TEXT,"
    "  started_at INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL,"
    "  delivered_at INTEGER,"
    "  success INTEGER NOT NULL);"
    /* the per-webhook log, newest first, by outcome */
    "CREATE INDEX attempts_log ON attempts(webhook_id, success, started_at, delivery_id,"
    "  attempt_no);"
    /* retention */
    "CREATE INDEX attempts_time ON attempts(started_at);"

    "CREATE TABLE idempotency ("
    "  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  req_hash BLOB NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  n_deliveries INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (account_id, key)"
    ") WITHOUT ROWID;",

    /* 2: sign-in links and browser sessions; the last attempt per webhook */
    "CREATE TABLE login_links ("
    "  hash BLOB PRIMARY KEY,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL);"
    "CREATE INDEX login_links_account ON login_links(account_id);"
    "CREATE TABLE sessions ("
    "  hash BLOB PRIMARY KEY,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  created_at INTEGER NOT NULL,"
    "  last_seen_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL);"
    "CREATE INDEX sessions_account ON sessions(account_id);"
    "CREATE INDEX attempts_recent ON attempts(webhook_id, started_at);",

    /* 3: attempts_log answers "the last attempt of a webhook" (one index
     * less to write per attempt) */
    "DROP INDEX IF EXISTS attempts_recent;",
};
/* clang-format on */

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int user_version(struct sq_conn *c, int *out)
{
	sqlite3_stmt *st = NULL;
	int src;

	src = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL);
	if (src == SQLITE_OK)
		src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		src = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return src;
}

int sq_migrate(struct sq_conn *c, char *err, size_t err_len)
{
	char sql[64];
	int version = 0;
	int rc = 0;
	int src;

	src = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (src != SQLITE_OK) {
		snprintf(err, err_len, "cannot lock the database: %s", sqlite3_errmsg(c->db));
		return sq_err(c, src);
	}
	src = user_version(c, &version);
	if (src != SQLITE_OK) {
		snprintf(err, err_len, "cannot read the schema version: %s", sqlite3_errmsg(c->db));
		rc = sq_err(c, src);
		goto out;
	}
	if (version > N_MIGRATIONS) {
		snprintf(err, err_len,
			 "database schema version %d is newer than this binary's (%d)", version,
			 N_MIGRATIONS);
		rc = SKW_EINVAL;
		goto out;
	}
	for (; version < N_MIGRATIONS; version++) {
		src = sqlite3_exec(c->db, migrations[version], NULL, NULL, NULL);
		if (src != SQLITE_OK) {
			snprintf(err, err_len, "migration %d failed: %s", version + 1,
				 sqlite3_errmsg(c->db));
			rc = sq_err(c, src);
			goto out;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		src = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
		if (src != SQLITE_OK) {
			snprintf(err, err_len, "cannot set the schema version: %s",
				 sqlite3_errmsg(c->db));
			rc = sq_err(c, src);
			goto out;
		}
	}
	src = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	if (src != SQLITE_OK) {
		snprintf(err, err_len, "cannot commit the schema: %s", sqlite3_errmsg(c->db));
		rc = sq_err(c, src);
	}
out:
	if (rc && !sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}
