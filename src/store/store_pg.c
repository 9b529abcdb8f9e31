/*
 * store_pg.c - the PostgreSQL backend (libpq): the connection pool, the job
 * runner, the LISTEN thread, open/close and the ops table. Statement helpers
 * are in pg_exec.c; the operations in pg_accounts.c, pg_queue.c, pg_log.c
 * and pg_sessions.c; the schema in pg_schema.c. docs/POSTGRES.md explains the
 * multi-node design.
 *
 * Connections:
 * - A pool of n_conns connections (URL parameter pool_max_conns, default
 *   PG_POOL_DEFAULT), opened lazily except the first, which migrates the
 *   schema at open. A caller checks one out for the length of one job and
 *   waits when all are busy. With two or more, the last one is kept for the
 *   delivery engine's queue work (pg_run_engine: claim, complete, release,
 *   next_due): under an ingest load that keeps every pooled connection busy,
 *   the engine must still write its results, or nothing leaves the queue
 *   and the backlog grows until the node collapses (measured: 8,000
 *   deliveries/s held, 1,200 events/s offered fell to ~1,150 deliveries/s).
 *   Commits are PostgreSQL's own (which group commits concurrent
 *   transactions); hot statements are batched (claim and complete take
 *   arrays).
 * - A connection that fails is closed and reopened on its next use. After a
 *   failed connect the pool waits (100 ms, doubling to 5 s) before the next
 *   try and answers SKW_EUNAVAIL meanwhile, so callers fail fast while the
 *   database is away and everything recovers by itself when it is back.
 * - Each connection keeps its own named prepared statements (pg_exec.c),
 *   unless the URL says statement_cache=off (for a transaction-pooling proxy
 *   that does not track them); they are forgotten with the session, so a
 *   reconnected connection starts with none.
 * - Ingests are committed by (n_conns - 1) / 2 threads of the store's own
 *   (at least one; pg_queue.c), so at most that many connections commit
 *   ingests at once and a caller need not wait on a thread of its own
 *   (skw_store_event_ingest_start).
 * - One more connection, on its own thread, LISTENs on PG_CHANNEL once
 *   skw_store_set_wakeup() asks for it; a server that does not support
 *   LISTEN leaves the engine polling.
 *
 * Durability: a job that returned 0 has committed; with is_durable false the
 * sessions use synchronous_commit = off.
 *
 * Invariants: the connection string (it may hold a password) is never
 * logged or put into an error message; neither are bound values. mu guards
 * the free list and the backoff state; wmu the wakeup callback.
 */
#include "pg_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/err.h"
#include "../core/log.h"

#define PG_POOL_DEFAULT 8
#define PG_POOL_MAX 256
#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 5000
#define PG_MAX_RETRIES 3

struct pg_store {
	struct skw_store base; /* first: the public handle points here */
	char *conninfo;	       /* owned; may hold a password: never logged */
	bool is_durable;
	bool is_cache_on; /* named prepared statements (URL statement_cache) */

	/* the pool: mu guards free_conns, n_free and the backoff state */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pg_conn *conns;
	size_t n_conns;
	struct pg_conn **free_conns;
	size_t n_free;
	struct pg_conn *engine_conn; /* NULL: the engine shares the pool */
	bool is_engine_busy;	     /* under mu */
	pthread_cond_t ecv;	     /* engine_conn became free */
	int64_t connect_after;	     /* skw_mono_ms(): no connect attempt before */
	int64_t backoff_ms;
	bool is_down;	      /* the last connect failed (for logging transitions) */
	bool is_notifying;    /* a pg_wake_others() NOTIFY is running (under mu) */
	bool is_notify_again; /* and one more was asked for meanwhile (under mu) */

	/* the LISTEN thread: wmu guards wake_fn/wake_arg and is_listening */
	pthread_mutex_t wmu;
	skw_store_wakeup_fn wake_fn;
	void *wake_arg;
	bool is_listening;
	pthread_t listener;
	int stop_pipe[2];

	struct pg_ingest_q ingest_q;
	struct pg_key_cache *keys; /* owned; 10 kB, so not inline */
};

struct pg_ingest_q *pg_ingest_q(struct skw_store *base)
{
	return &((struct pg_store *)base)->ingest_q;
}

struct pg_key_cache *pg_key_cache(struct skw_store *base)
{
	return ((struct pg_store *)base)->keys;
}

/* ---- connections ----------------------------------------------------- */

/* Server notices ("relation already exists, skipping") are not for users. */
static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	skw_debug("store: postgres notice: %.200s", message);
}

/* Opens a connection with our defaults under the operator's settings (the
 * connection string is expanded last, so what it says wins). */
static PGconn *connect_db(const char *conninfo, bool is_durable, char *err, size_t err_len)
{
	static const char *const keys[] = {"connect_timeout",
					   "application_name",
					   "keepalives_idle",
					   "keepalives_interval",
					   "keepalives_count",
					   "dbname",
					   NULL};
	const char *vals[] = {"5", "skwebhooks", "30", "10", "3", conninfo, NULL};
	PGresult *r;
	PGconn *pg;

	pg = PQconnectdbParams(keys, vals, 1);
	if (!pg) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	if (PQstatus(pg) != CONNECTION_OK) {
		/* libpq's message names host and port, never the password */
		snprintf(err, err_len, "%s", PQerrorMessage(pg));
		err[strcspn(err, "\n")] = '\0';
		PQfinish(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg, quiet_notice, NULL);
	/* jit off: our statements are short OLTP ones, and a claim over a large
	 * backlog crossed jit_above_cost and spent ~7 ms compiling (measured) */
	r = PQexec(pg, is_durable
			   ? "SET bytea_output = hex; SET synchronous_commit = on; SET jit = off"
			   : "SET bytea_output = hex; SET synchronous_commit = off; SET jit = off");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		snprintf(err, err_len, "session setup failed: %s", PQerrorMessage(pg));
		err[strcspn(err, "\n")] = '\0';
		PQclear(r);
		PQfinish(pg);
		return NULL;
	}
	PQclear(r);
	/* auto, whatever the server's default: the statements that need a plan
	 * for their values are sent unnamed (PG_PER_CALL), and force_generic_plan
	 * would give even those a generic one. PostgreSQL 12+: where the setting
	 * is unknown, its behaviour is auto's. */
	PQclear(PQexec(pg, "SET plan_cache_mode = auto"));
	return pg;
}

/* Makes c usable: reconnects a broken or unopened connection unless the
 * pool is backing off. */
static int conn_ready(struct pg_store *s, struct pg_conn *c)
{
	char err[256];
	int64_t now;

	c->n_ok = 0;
	c->sqlstate[0] = '\0';
	c->is_tx = c->is_begin_pending = c->is_committed = false;
	c->is_cache_on = s->is_cache_on;
	if (c->pg && !c->is_broken && PQstatus(c->pg) == CONNECTION_OK)
		return 0;
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->is_broken = false;
	pg_stmts_clear(c); /* they died with the session */

	now = skw_mono_ms();
	pthread_mutex_lock(&s->mu);
	if (now < s->connect_after) {
		pthread_mutex_unlock(&s->mu);
		return SKW_EUNAVAIL;
	}
	pthread_mutex_unlock(&s->mu);

	c->pg = connect_db(s->conninfo, s->is_durable, err, sizeof(err));

	pthread_mutex_lock(&s->mu);
	if (!c->pg) {
		s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : PG_BACKOFF_MIN_MS;
		if (s->backoff_ms > PG_BACKOFF_MAX_MS)
			s->backoff_ms = PG_BACKOFF_MAX_MS;
		s->connect_after = skw_mono_ms() + s->backoff_ms;
		if (!s->is_down)
			skw_warn("store: cannot connect to postgres: %s", err);
		s->is_down = true;
	} else {
		if (s->is_down)
			skw_info("store: connected to postgres again");
		s->is_down = false;
		s->backoff_ms = 0;
		s->connect_after = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return c->pg ? 0 : SKW_EUNAVAIL;
}

static struct pg_conn *pool_get(struct pg_store *s, bool is_engine)
{
	struct pg_conn *c;

	pthread_mutex_lock(&s->mu);
	if (is_engine && s->engine_conn) {
		while (s->is_engine_busy)
			pthread_cond_wait(&s->ecv, &s->mu);
		s->is_engine_busy = true;
		pthread_mutex_unlock(&s->mu);
		return s->engine_conn;
	}
	while (!s->n_free)
		pthread_cond_wait(&s->cv, &s->mu);
	c = s->free_conns[--s->n_free];
	pthread_mutex_unlock(&s->mu);
	return c;
}

/* Returns c; connected ones go on top so that the pool stays warm. */
static void pool_put(struct pg_store *s, struct pg_conn *c)
{
	pthread_mutex_lock(&s->mu);
	if (c == s->engine_conn) {
		s->is_engine_busy = false;
		pthread_cond_signal(&s->ecv);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	if (c->pg || !s->n_free) {
		s->free_conns[s->n_free++] = c;
	} else {
		/* unconnected: below the connected ones */
		memmove(&s->free_conns[1], &s->free_conns[0], s->n_free * sizeof(c));
		s->free_conns[0] = c;
		s->n_free++;
	}
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/*
 * Runs the job, in a transaction when is_tx. BEGIN is not a round trip of
 * its own: it goes out with the job's first statement (pg_exec), and a job
 * may send its last statement with the COMMIT (pg_exec_commit).
 */
static int run_once(struct pg_conn *c, pg_job_fn fn, void *arg, bool is_tx)
{
	int rc;

	c->is_tx = is_tx;
	c->is_begin_pending = is_tx;
	c->is_committed = false;
	rc = fn(c, arg);
	if (!is_tx || c->is_committed)
		return rc;
	if (c->is_begin_pending) {
		/* the job sent nothing: there is no transaction to end */
		c->is_begin_pending = false;
		return rc;
	}
	c->is_tx = false;
	if (rc) {
		if (!c->is_broken)
			pg_exec(c, "ROLLBACK", NULL, NULL);
		return rc;
	}
	return pg_exec(c, "COMMIT", NULL, NULL);
}

static int run_on(struct skw_store *base, pg_job_fn fn, void *arg, bool is_tx, bool is_engine)
{
	struct pg_store *s = (struct pg_store *)base;
	int rc;

	for (int attempt = 0;; attempt++) {
		struct pg_conn *c = pool_get(s, is_engine);
		bool was_open = c->pg != NULL && !c->is_broken;
		bool is_retry = false;

		rc = conn_ready(s, c);
		if (!rc) {
			rc = run_once(c, fn, arg, is_tx);
			if (rc == SKW_EUNAVAIL && attempt < PG_MAX_RETRIES) {
				/* a dead pooled connection (nothing ran), or a
				 * deadlock / serialization failure, or a prepared
				 * statement gone from the session (rolled back) */
				if (c->is_broken)
					is_retry = was_open && !c->n_ok && !attempt;
				else
					is_retry = !strcmp(c->sqlstate, "40001") ||
						   !strcmp(c->sqlstate, "40P01") ||
						   !strcmp(c->sqlstate, "26000");
			}
		}
		pool_put(s, c);
		if (!is_retry)
			return rc;
	}
}

int pg_run(struct skw_store *s, pg_job_fn fn, void *arg, bool is_tx)
{
	return run_on(s, fn, arg, is_tx, false);
}

int pg_run_engine(struct skw_store *s, pg_job_fn fn, void *arg, bool is_tx)
{
	return run_on(s, fn, arg, is_tx, true);
}

static int do_notify(struct pg_conn *c, void *arg)
{
	(void)arg;
	pg_notify(c);
	return 0;
}

void pg_wake_others(struct skw_store *base)
{
	struct pg_store *s = (struct pg_store *)base;

	pthread_mutex_lock(&s->mu);
	if (s->is_notifying) {
		s->is_notify_again = true;
		pthread_mutex_unlock(&s->mu);
		return;
	}
	s->is_notifying = true;
	do {
		s->is_notify_again = false;
		pthread_mutex_unlock(&s->mu);
		pg_run(base, do_notify, NULL, false);
		pthread_mutex_lock(&s->mu);
	} while (s->is_notify_again);
	s->is_notifying = false;
	pthread_mutex_unlock(&s->mu);
}

/* ---- the LISTEN thread ----------------------------------------------- */

static void wake(struct pg_store *s)
{
	pthread_mutex_lock(&s->wmu);
	if (s->wake_fn)
		s->wake_fn(s->wake_arg);
	pthread_mutex_unlock(&s->wmu);
}

/* Sleeps up to ms; true when asked to stop. */
static bool nap(struct pg_store *s, int ms)
{
	struct pollfd p = {.fd = s->stop_pipe[0], .events = POLLIN};

	return poll(&p, 1, ms) > 0;
}

static void *listen_main(void *arg)
{
	struct pg_store *s = arg;
	int backoff = PG_BACKOFF_MIN_MS;
	bool is_lost = false;
	PGconn *pg = NULL;
	char err[256];

	for (;;) {
		struct pollfd p[2];
		PGnotify *n;
		bool has_any = false;

		if (!pg) {
			PGresult *r;

			pg = connect_db(s->conninfo, true, err, sizeof(err));
			if (!pg) {
				is_lost = true;
				if (nap(s, backoff))
					break;
				backoff = backoff * 2 > PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS
									  : backoff * 2;
				continue;
			}
			r = PQexec(pg, "LISTEN " PG_CHANNEL);
			if (PQresultStatus(r) != PGRES_COMMAND_OK) {
				bool is_ok = PQstatus(pg) == CONNECTION_OK;

				PQclear(r);
				PQfinish(pg);
				pg = NULL;
				if (is_ok) {
					skw_warn("store: the database does not support LISTEN; "
						 "nodes poll for work instead");
					break;
				}
				continue;
			}
			PQclear(r);
			backoff = PG_BACKOFF_MIN_MS;
			if (is_lost) /* notifications may have been missed */
				wake(s);
			is_lost = false;
		}
		p[0] = (struct pollfd){.fd = PQsocket(pg), .events = POLLIN};
		p[1] = (struct pollfd){.fd = s->stop_pipe[0], .events = POLLIN};
		if (poll(p, 2, 30000) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK) {
			PQfinish(pg);
			pg = NULL;
			is_lost = true;
			continue;
		}
		while ((n = PQnotifies(pg))) {
			has_any = true;
			PQfreemem(n);
		}
		if (has_any)
			wake(s);
	}
	if (pg)
		PQfinish(pg);
	return NULL;
}

static int pgs_set_wakeup(struct skw_store *base, skw_store_wakeup_fn fn, void *arg)
{
	struct pg_store *s = (struct pg_store *)base;
	int rc = 0;

	pthread_mutex_lock(&s->wmu);
	s->wake_fn = fn;
	s->wake_arg = arg;
	if (fn && !s->is_listening) {
		if (pthread_create(&s->listener, NULL, listen_main, s))
			rc = SKW_ENOMEM;
		else
			s->is_listening = true;
	}
	pthread_mutex_unlock(&s->wmu);
	return rc;
}

/* ---- open, close, ping ----------------------------------------------- */

static void pgs_destroy(struct pg_store *s)
{
	bool is_listening;

	pg_ingest_threads_stop(&s->base); /* they answer every queued ingest first */
	pthread_mutex_lock(&s->wmu);
	s->wake_fn = NULL;
	is_listening = s->is_listening;
	pthread_mutex_unlock(&s->wmu);
	if (is_listening) {
		if (write(s->stop_pipe[1], "x", 1) != 1)
			skw_warn("store: cannot stop the postgres listener");
		pthread_join(s->listener, NULL);
	}
	for (size_t i = 0; s->conns && i < s->n_conns; i++) {
		if (s->conns[i].pg)
			PQfinish(s->conns[i].pg);
		pg_stmts_clear(&s->conns[i]);
	}
	if (s->stop_pipe[0] >= 0)
		close(s->stop_pipe[0]);
	if (s->stop_pipe[1] >= 0)
		close(s->stop_pipe[1]);
	free(s->conns);
	free(s->free_conns);
	if (s->conninfo) {
		/* it may hold a password */
		memset(s->conninfo, 0, strlen(s->conninfo));
		free(s->conninfo);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->ecv);
	pthread_mutex_destroy(&s->wmu);
	pthread_mutex_destroy(&s->ingest_q.mu);
	pthread_cond_destroy(&s->ingest_q.cv);
	pthread_cond_destroy(&s->ingest_q.done_cv);
	if (s->keys) {
		pthread_mutex_destroy(&s->keys->mu);
		free(s->keys);
	}
	free(s);
}

static void pgs_close(struct skw_store *base)
{
	pgs_destroy((struct pg_store *)base);
}

static int do_ping(struct pg_conn *c, void *arg)
{
	(void)arg;
	return pg_exec(c, "SELECT 1", NULL, NULL);
}

static int pgs_ping(struct skw_store *s)
{
	return pg_run(s, do_ping, NULL, false);
}

/*
 * Removes our own parameter key=value from a URI query or a keyword string
 * (libpq rejects parameters it does not know) and copies its value to val:
 * 1 when it was there, 0 when absent, -1 when its value is empty or does not
 * fit val.
 */
static int take_param(char *ci, const char *key, char *val, size_t val_len)
{
	bool is_uri = !strncmp(ci, "postgres://", 11) || !strncmp(ci, "postgresql://", 13);
	size_t key_len = strlen(key);
	char *p = ci;

	while ((p = strstr(p, key))) {
		char *v = p + key_len, *end;
		bool is_start = p == ci || (is_uri ? (p[-1] == '?' || p[-1] == '&')
						   : (p[-1] == ' ' || p[-1] == '\t'));

		while (!is_uri && (*v == ' ' || *v == '\t'))
			v++;
		if (!is_start || *v != '=') {
			p++;
			continue;
		}
		v++;
		while (!is_uri && (*v == ' ' || *v == '\t'))
			v++;
		end = v + strcspn(v, is_uri ? "&#" : " \t");
		if (end - v <= 0 || (size_t)(end - v) >= val_len)
			return -1;
		memcpy(val, v, (size_t)(end - v));
		val[end - v] = '\0';
		/* cut "key=value" and one separator */
		if (is_uri && *end == '&')
			end++;
		else if (is_uri && p[-1] == '&')
			p--;
		else if (is_uri && p[-1] == '?' && *end != '&')
			p--; /* the query is now empty: drop the '?' too */
		memmove(p, end, strlen(end) + 1);
		return 1;
	}
	return 0;
}

/* pool_max_conns=N: N, or 0 when absent; -1 when N is not from 1 to
 * PG_POOL_MAX. */
static int take_pool_size(char *ci)
{
	char num[8];
	long long n;
	int rc = take_param(ci, "pool_max_conns", num, sizeof(num));

	if (rc <= 0)
		return rc;
	return skw_parse_int(num, 1, PG_POOL_MAX, &n) ? (int)n : -1;
}

/* statement_cache=on|off (default on): 1 or 0; -1 for anything else. */
static int take_statement_cache(char *ci)
{
	char v[4];
	int rc = take_param(ci, "statement_cache", v, sizeof(v));

	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	if (!strcmp(v, "on"))
		return 1;
	return strcmp(v, "off") ? -1 : 0;
}

static const struct skw_store_ops pg_ops = {
    .name = "postgres",
    .is_shared = true,
    .close = pgs_close,
    .ping = pgs_ping,
    .set_wakeup = pgs_set_wakeup,
    .account_insert = pg_account_insert,
    .account_get = pg_account_get,
    .account_delete = pg_account_delete,
    .apikey_insert = pg_apikey_insert,
    .apikey_find = pg_apikey_find,
    .apikey_find_recent = pg_apikey_find_recent,
    .apikey_list = pg_apikey_list,
    .apikey_revoke = pg_apikey_revoke,
    .webhook_insert = pg_webhook_insert,
    .webhook_get = pg_webhook_get,
    .webhook_list = pg_webhook_list,
    .webhook_update = pg_webhook_update,
    .webhook_delete = pg_webhook_delete,
    .event_ingest = pg_event_ingest,
    .event_ingest_start = pg_event_ingest_start,
    .claim = pg_claim,
    .complete = pg_complete,
    .release = pg_release,
    .release_node = pg_release_node,
    .next_due = pg_next_due,
    .test_prepare = pg_test_prepare,
    .log_list = pg_log_list,
    .maintain = pg_maintain,
    .webhook_stats = pg_webhook_stats,
    .login_link_insert = pg_login_link_insert,
    .login_link_consume = pg_login_link_consume,
    .session_insert = pg_session_insert,
    .session_touch = pg_session_touch,
    .session_delete = pg_session_delete,
};

int skw_store_pg_open(const char *conninfo, bool is_durable, struct skw_store **out, char *err,
		      size_t err_len)
{
	struct pg_store *s;
	char dummy[1];
	int n_pool, rc;

	*out = NULL;
	if (!err) {
		err = dummy;
		err_len = sizeof(dummy);
	}
	if (!PQisthreadsafe()) {
		snprintf(err, err_len, "libpq was built without thread support");
		return SKW_EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return SKW_ENOMEM;
	s->base.ops = &pg_ops;
	s->is_durable = is_durable;
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->ecv, NULL);
	pthread_mutex_init(&s->wmu, NULL);
	pthread_mutex_init(&s->ingest_q.mu, NULL);
	pthread_cond_init(&s->ingest_q.cv, NULL);
	pthread_cond_init(&s->ingest_q.done_cv, NULL);

	rc = SKW_ENOMEM;
	s->conninfo = skw_strdup(conninfo);
	if (!s->conninfo)
		goto out;
	s->keys = calloc(1, sizeof(*s->keys));
	if (!s->keys)
		goto out;
	pthread_mutex_init(&s->keys->mu, NULL);
	n_pool = take_pool_size(s->conninfo);
	if (n_pool < 0) {
		snprintf(err, err_len, "pool_max_conns must be a number from 1 to %d", PG_POOL_MAX);
		rc = SKW_EINVAL;
		goto out;
	}
	switch (take_statement_cache(s->conninfo)) {
	case 1:
		s->is_cache_on = true;
		break;
	case 0:
		break;
	default:
		snprintf(err, err_len, "statement_cache must be on or off");
		rc = SKW_EINVAL;
		goto out;
	}
	s->n_conns = n_pool ? (size_t)n_pool : PG_POOL_DEFAULT;
	s->conns = calloc(s->n_conns, sizeof(*s->conns));
	s->free_conns = calloc(s->n_conns, sizeof(*s->free_conns));
	if (!s->conns || !s->free_conns)
		goto out;
	if (pipe2(s->stop_pipe, O_CLOEXEC)) {
		snprintf(err, err_len, "cannot create a pipe: %s", strerror(errno));
		rc = SKW_EIO;
		goto out;
	}
	/* the first connection: fails fast on a wrong URL, and migrates */
	for (size_t i = 0; i < s->n_conns; i++)
		s->conns[i].is_cache_on = s->is_cache_on;
	s->conns[0].pg = connect_db(s->conninfo, is_durable, err, err_len);
	if (!s->conns[0].pg) {
		rc = SKW_EUNAVAIL;
		goto out;
	}
	rc = pg_migrate(s->conns[0].pg, err, err_len);
	if (rc)
		goto out;
	for (size_t i = s->n_conns; i > 0; i--) {
		if (i == s->n_conns && s->n_conns >= 2)
			s->engine_conn = &s->conns[i - 1]; /* the engine's own */
		else
			s->free_conns[s->n_free++] = &s->conns[i - 1];
	}
	/* half the API's connections commit ingests: the rest serve the reads
	 * every request makes (the API key) and the other writes */
	rc = pg_ingest_threads_start(&s->base, s->n_conns > 2 ? (int)(s->n_conns - 1) / 2 : 1);
	if (rc) {
		snprintf(err, err_len, "cannot start the ingest threads");
		goto out;
	}
	*out = &s->base;
out:
	if (rc)
		pgs_destroy(s);
	return rc;
}
