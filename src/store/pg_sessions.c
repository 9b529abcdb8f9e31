/*
 * pg_sessions.c - sign-in links and browser sessions in the PostgreSQL
 * backend (sqlite_sessions.c's semantics).
 *
 * Links and sessions are keyed by the BLAKE2b hash of their random token. A
 * link is consumed by DELETE ... RETURNING: of racing requests, on any node,
 * exactly one gets the row. An expired link is deleted too, and reads as
 * unknown.
 */
#include "pg_int.h"

#include <string.h>

#include "../core/err.h"

#define TOUCH_EVERY_MS 60000

struct sess_job {
	const unsigned char *hash;
	const char *account_id;
	int64_t now;
	int64_t expires_at;
	struct skw_session *session;
	char *account_out;
};

static int do_link_insert(struct pg_conn *c, void *arg)
{
	struct sess_job *j = arg;
	struct pg_params p = {0};

	pg_p_bytea(&p, j->hash, SKW_TOKEN_HASH_LEN);
	pg_p_text(&p, j->account_id);
	pg_p_int(&p, j->now);
	pg_p_int(&p, j->expires_at);
	return pg_exec(c,
		       "INSERT INTO login_links (hash, account_id, created_at, expires_at)"
		       " VALUES ($1, $2, $3, $4)",
		       &p, NULL);
}

int pg_login_link_insert(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
			 const char *account_id, int64_t now, int64_t expires_at)
{
	struct sess_job j = {
	    .hash = hash, .account_id = account_id, .now = now, .expires_at = expires_at};

	return pg_run(s, do_link_insert, &j, false);
}

static int do_link_consume(struct pg_conn *c, void *arg)
{
	struct sess_job *j = arg;
	struct pg_params p = {0};
	PGresult *r;
	int rc;

	pg_p_bytea(&p, j->hash, SKW_TOKEN_HASH_LEN);
	rc = pg_exec(c, "DELETE FROM login_links WHERE hash = $1 RETURNING account_id, expires_at",
		     &p, &r);
	if (rc)
		return rc;
	if (!PQntuples(r) || pg_i64(r, 0, 1) <= j->now) {
		rc = SKW_ENOTFOUND; /* the delete stands: an expired link is gone too */
	} else {
		pg_copy(r, 0, 0, j->account_out, SKW_ID_MAX);
		rc = 0;
	}
	PQclear(r);
	return rc;
}

int pg_login_link_consume(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
			  int64_t now, char account_id[SKW_ID_MAX])
{
	struct sess_job j = {.hash = hash, .now = now, .account_out = account_id};

	account_id[0] = '\0';
	return pg_run(s, do_link_consume, &j, false);
}

static int do_session_insert(struct pg_conn *c, void *arg)
{
	struct sess_job *j = arg;
	struct pg_params p = {0};

	pg_p_bytea(&p, j->hash, SKW_TOKEN_HASH_LEN);
	pg_p_text(&p, j->account_id);
	pg_p_int(&p, j->now);
	pg_p_int(&p, j->expires_at);
	return pg_exec(
	    c,
	    "INSERT INTO sessions (hash, account_id, created_at, last_seen_at, expires_at)"
	    " VALUES ($1, $2, $3, $3, $4)",
	    &p, NULL);
}

int pg_session_insert(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN],
		      const char *account_id, int64_t now, int64_t expires_at)
{
	struct sess_job j = {
	    .hash = hash, .account_id = account_id, .now = now, .expires_at = expires_at};

	return pg_run(s, do_session_insert, &j, false);
}

static int do_session_get(struct pg_conn *c, void *arg)
{
	struct sess_job *j = arg;
	struct pg_params p = {0};
	PGresult *r;
	int rc;

	pg_p_bytea(&p, j->hash, SKW_TOKEN_HASH_LEN);
	rc = pg_exec(c,
		     "SELECT account_id, created_at, last_seen_at, expires_at FROM sessions"
		     " WHERE hash = $1",
		     &p, &r);
	if (rc)
		return rc;
	if (PQntuples(r)) {
		pg_copy(r, 0, 0, j->session->account_id, sizeof(j->session->account_id));
		j->session->created_at = pg_i64(r, 0, 1);
		j->session->last_seen_at = pg_i64(r, 0, 2);
		j->session->expires_at = pg_i64(r, 0, 3);
	} else {
		rc = SKW_ENOTFOUND;
	}
	PQclear(r);
	return rc;
}

static int do_session_seen(struct pg_conn *c, void *arg)
{
	struct sess_job *j = arg;
	struct pg_params p = {0};

	pg_p_bytea(&p, j->hash, SKW_TOKEN_HASH_LEN);
	pg_p_int(&p, j->now);
	return pg_exec(c, "UPDATE sessions SET last_seen_at = $2 WHERE hash = $1", &p, NULL);
}

int pg_session_touch(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN], int64_t now,
		     int64_t idle_ms, struct skw_session *out)
{
	struct sess_job j = {.hash = hash, .now = now, .session = out};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = pg_run(s, do_session_get, &j, false);
	if (rc)
		return rc;
	if (now >= out->expires_at || now - out->last_seen_at >= idle_ms)
		return SKW_ENOTFOUND;
	if (now - out->last_seen_at >= TOUCH_EVERY_MS) {
		rc = pg_run(s, do_session_seen, &j, false);
		if (rc)
			return rc;
		out->last_seen_at = now;
	}
	return 0;
}

static int do_session_delete(struct pg_conn *c, void *arg)
{
	struct sess_job *j = arg;
	struct pg_params p = {0};

	pg_p_bytea(&p, j->hash, SKW_TOKEN_HASH_LEN);
	return pg_exec(c, "DELETE FROM sessions WHERE hash = $1", &p, NULL);
}

int pg_session_delete(struct skw_store *s, const unsigned char hash[SKW_TOKEN_HASH_LEN])
{
	struct sess_job j = {.hash = hash};

	return pg_run(s, do_session_delete, &j, false);
}
