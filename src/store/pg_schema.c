/*
 * pg_schema.c - the PostgreSQL schema as a list of migrations.
 *
 * Table skw_schema holds how many entries of migrations[] the database has
 * had applied. At open, every missing one runs, in order, in one
 * transaction together with the version bump, under a transaction-level
 * advisory lock: when several nodes start at the same moment, one migrates
 * and the others wait for it and then find nothing to do. To change the
 * schema, append an entry; never edit one that has shipped. A database newer
 * than this binary is refused.
 *
 * The tables mirror sqlite_schema.c (same names, columns and meaning);
 * differences: every id is text COLLATE "C" (bytewise order, as the log's
 * cursor and strcmp() expect, whatever the database's locale), flags are
 * boolean, blobs are bytea, and "newest first" uses bigserial columns.
 *
 * queue is the hot table: rows come and go at the delivery rate. It carries
 * per-table autovacuum settings (vacuum after a fixed number of dead rows
 * rather than a fraction of the table, without cost-based sleeping) so that
 * dead tuples never pile up between claims; docs/POSTGRES.md explains them.
 * A server that refuses those settings (some PostgreSQL-compatible
 * databases) still gets the schema.
 */
#include "pg_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "../core/err.h"

/* clang-format off: the SQL is laid out for reading */
static const char *const migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE accounts ("
    "  id text COLLATE \"C\" PRIMARY KEY,"
    "  name text NOT NULL,"
    "  created_at bigint NOT NULL);"

    "CREATE TABLE api_keys ("
    "  seq bigserial NOT NULL,"
    "  id text COLLATE \"C\" PRIMARY KEY,"
    "  account_id text COLLATE \"C\" REFERENCES accounts(id) ON DELETE CASCADE,"
    "  is_platform boolean NOT NULL,"
    "  hash bytea NOT NULL UNIQUE,"
    "  prefix text NOT NULL,"
    "  created_at bigint NOT NULL,"
    "  revoked_at bigint);"
    "CREATE INDEX api_keys_account ON api_keys(account_id, created_at);"

    "CREATE TABLE webhooks ("
    "  seq bigserial NOT NULL,"
    "  id text COLLATE \"C\" PRIMARY KEY,"
    "  account_id text COLLATE \"C\" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  name text NOT NULL,"
    "  url text NOT NULL,"
    "  events text NOT NULL,"
    "  timeout_s integer NOT NULL,"
    "  retry_attempts integer NOT NULL,"
    "  enabled boolean NOT NULL,"
    "  secret_enc bytea,"
    "  created_at bigint NOT NULL,"
    "  updated_at bigint NOT NULL);"
    "CREATE INDEX webhooks_account ON webhooks(account_id, seq);"

    "CREATE TABLE events ("
    "  id text COLLATE \"C\" PRIMARY KEY,"
    "  account_id text COLLATE \"C\" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  event text NOT NULL,"
    "  body bytea NOT NULL,"
    "  created_at bigint NOT NULL);"
    "CREATE INDEX events_account ON events(account_id);"
    "CREATE INDEX events_time ON events(created_at);"

    "CREATE TABLE queue ("
    "  delivery_id text COLLATE \"C\" PRIMARY KEY,"
    "  event_id text COLLATE \"C\" NOT NULL,"
    "  webhook_id text COLLATE \"C\" NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
    "  account_id text COLLATE \"C\" NOT NULL,"
    "  attempts_made integer NOT NULL DEFAULT 0,"
    "  next_attempt_at bigint NOT NULL,"
    "  lease_until bigint,"
    "  lease_owner text,"
    "  created_at bigint NOT NULL);"
    /* claiming: per webhook, oldest due first */
    "CREATE INDEX queue_webhook ON queue(webhook_id, next_attempt_at, delivery_id);"
    /* the leased rows, for next_due and release_node */
    "CREATE INDEX queue_leased ON queue(lease_until) WHERE lease_until IS NOT NULL;"

    "CREATE TABLE attempts ("
    "  id bigserial PRIMARY KEY,"
    "  delivery_id text COLLATE \"C\" NOT NULL,"
    "  event_id text COLLATE \"C\" NOT NULL,"
    "  webhook_id text COLLATE \"C\" NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,"
    "  account_id text COLLATE \"C\" NOT NULL,"
    "  event text NOT NULL,"
    "  attempt_no integer NOT NULL,"
    "  max_attempts integer NOT NULL,"
    "  status_code integer,"
    "  response bytea,"
    "  error text,"
    "  started_at bigint NOT NULL,"
    "  duration_ms bigint NOT NULL,"
    "  delivered_at bigint,"
    "  success boolean NOT NULL);"
    /* the per-webhook log, newest first, by outcome */
    "CREATE INDEX attempts_log ON attempts(webhook_id, success, started_at, delivery_id,"
    "  attempt_no);"
    /* the last attempt of a webhook */
    "CREATE INDEX attempts_recent ON attempts(webhook_id, started_at);"
    /* retention */
    "CREATE INDEX attempts_time ON attempts(started_at);"

    "CREATE TABLE idempotency ("
    "  account_id text COLLATE \"C\" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  key text COLLATE \"C\" NOT NULL,"
    "  req_hash bytea NOT NULL,"
    "  event_id text COLLATE \"C\" NOT NULL,"
    "  n_deliveries integer NOT NULL,"
    "  created_at bigint NOT NULL,"
    "  PRIMARY KEY (account_id, key));"
    "CREATE INDEX idempotency_time ON idempotency(created_at);"

    "CREATE TABLE login_links ("
    "  hash bytea PRIMARY KEY,"
    "  account_id text COLLATE \"C\" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  created_at bigint NOT NULL,"
    "  expires_at bigint NOT NULL);"
    "CREATE INDEX login_links_account ON login_links(account_id);"
    "CREATE TABLE sessions ("
    "  hash bytea PRIMARY KEY,"
    "  account_id text COLLATE \"C\" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  created_at bigint NOT NULL,"
    "  last_seen_at bigint NOT NULL,"
    "  expires_at bigint NOT NULL);"
    "CREATE INDEX sessions_account ON sessions(account_id);",

    /* 2: attempts_log answers "the last attempt of a webhook" (one index
     * less to write per attempt) */
    "DROP INDEX IF EXISTS attempts_recent",

    /* 3: no foreign keys from the hot tables. Every ingest checked its
     * account and webhooks with FOR KEY SHARE row locks, which on rows that
     * every transaction locks become multixacts: the queue insert was the
     * busiest statement, and dropping these three raised deliveries/s by
     * ~45% (benchmark row 6). The deletes of accounts and webhooks remove
     * what these rows belonged to themselves (pg_accounts.c); a row that an
     * ingest racing a delete leaves behind is never claimed (claims join
     * webhooks) and housekeeping removes it (pg_log.c). */
    "ALTER TABLE queue DROP CONSTRAINT IF EXISTS queue_webhook_id_fkey;"
    "ALTER TABLE attempts DROP CONSTRAINT IF EXISTS attempts_webhook_id_fkey;"
    "ALTER TABLE events DROP CONSTRAINT IF EXISTS events_account_id_fkey;",

    /* 4: the unleased deliveries of each webhook, oldest first: claims and
     * next_due read them without stepping over every delivery in flight
     * (handed-off rows are leased from their insert, so they never enter
     * this index) */
    "CREATE INDEX IF NOT EXISTS queue_ready ON queue(webhook_id, next_attempt_at,"
    " delivery_id) WHERE lease_until IS NULL",

    /* 5: cheaper rows per delivery (benchmark row 6; docs/PERFORMANCE.md,
     * seventh round).
     * - No index of all of a webhook's queue rows. Every hand-off inserted
     *   its row into queue_webhook at the end of its webhook's range and
     *   deleted it a few milliseconds later; the pool's connections
     *   contended for those few leaf pages and stepped over the dead
     *   entries until vacuum. Dropping it raised deliveries/s by about a
     *   quarter.
     *   Whatever reads a webhook's rows reads queue_ready (unleased) and
     *   queue_leased (at most the deliveries in flight) instead.
     * - Retention finds old attempts and events with block-range (BRIN)
     *   indexes: both tables are appended in time order, and a BRIN index
     *   costs an insert next to nothing where a B-tree costs a leaf
     *   write (+3-11%). autosummarize keeps the newest ranges summarized;
     *   an unsummarized range is only read, never missed. */
    "DROP INDEX IF EXISTS queue_webhook;"
    "DROP INDEX IF EXISTS attempts_time;"
    "CREATE INDEX attempts_time ON attempts USING brin (started_at)"
    " WITH (autosummarize = on);"
    "DROP INDEX IF EXISTS events_time;"
    "CREATE INDEX events_time ON events USING brin (created_at)"
    " WITH (autosummarize = on)",
};

/* Applied after migration 1 when the server accepts them; optional. */
static const char queue_tuning[] = "ALTER TABLE queue SET ("
				   "  fillfactor = 80,"
				   "  autovacuum_vacuum_scale_factor = 0,"
				   "  autovacuum_vacuum_threshold = 5000,"
				   "  autovacuum_vacuum_insert_scale_factor = 0,"
				   "  autovacuum_vacuum_insert_threshold = 5000,"
				   "  autovacuum_analyze_scale_factor = 0,"
				   "  autovacuum_analyze_threshold = 5000,"
				   "  autovacuum_vacuum_cost_delay = 0)";
/* clang-format on */

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Runs sql; on failure describes it in err (without any value). */
static int run(PGconn *pg, const char *sql, PGresult **out, const char *what, char *err,
	       size_t err_len)
{
	PGresult *r = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (out)
			*out = r;
		else
			PQclear(r);
		return 0;
	}
	snprintf(err, err_len, "%s: %s", what,
		 r && PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
		     ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
		     : PQerrorMessage(pg));
	PQclear(r);
	return PQstatus(pg) == CONNECTION_OK ? SKW_EIO : SKW_EUNAVAIL;
}

int pg_migrate(PGconn *pg, char *err, size_t err_len)
{
	char sql[128];
	PGresult *r = NULL;
	int version, rc;

	rc = run(pg, "BEGIN", NULL, "cannot begin", err, err_len);
	if (rc)
		return rc;
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%lld)", PG_LOCK_MIGRATE);
	rc = run(pg, sql, NULL, "cannot lock the schema", err, err_len);
	if (rc)
		goto out;
	rc = run(pg, "CREATE TABLE IF NOT EXISTS skw_schema (version integer NOT NULL)", NULL,
		 "cannot create the schema version table", err, err_len);
	if (rc)
		goto out;
	rc = run(pg, "SELECT coalesce(max(version), 0) FROM skw_schema", &r,
		 "cannot read the schema version", err, err_len);
	if (rc)
		goto out;
	version = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (version > N_MIGRATIONS) {
		snprintf(err, err_len,
			 "database schema version %d is newer than this binary's (%d)", version,
			 N_MIGRATIONS);
		rc = SKW_EINVAL;
		goto out;
	}
	if (version == N_MIGRATIONS)
		goto out;
	for (int v = version; v < N_MIGRATIONS; v++) {
		snprintf(sql, sizeof(sql), "migration %d failed", v + 1);
		rc = run(pg, migrations[v], NULL, sql, err, err_len);
		if (rc)
			goto out;
		if (v == 0) {
			/* optional tuning, inside a savepoint so a refusal is harmless */
			rc = run(pg, "SAVEPOINT tuning", NULL, "cannot set a savepoint", err,
				 err_len);
			if (rc)
				goto out;
			if (run(pg, queue_tuning, NULL, "queue tuning", err, err_len)) {
				rc = run(pg, "ROLLBACK TO tuning", NULL, "cannot roll back", err,
					 err_len);
				if (rc)
					goto out;
			}
			err[0] = '\0';
		}
	}
	snprintf(sql, sizeof(sql), "%s INTO skw_schema (version) VALUES (%d)",
		 version ? "DELETE FROM skw_schema; INSERT" : "INSERT", N_MIGRATIONS);
	rc = run(pg, sql, NULL, "cannot set the schema version", err, err_len);
out:
	if (rc) {
		PQclear(PQexec(pg, "ROLLBACK"));
		return rc;
	}
	return run(pg, "COMMIT", NULL, "cannot commit the schema", err, err_len);
}
