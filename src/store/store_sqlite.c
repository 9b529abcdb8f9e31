/*
 * store_sqlite.c - the SQLite backend: connections, the group-commit
 * writer thread, the reader pool, open/close, and the ops table. The
 * operations themselves are in sqlite_accounts.c, sqlite_queue.c and
 * sqlite_log.c; the schema and its migrations in sqlite_schema.c.
 *
 * Threads and connections:
 * - One writer thread owns the only read-write connection. Callers of a
 *   write operation queue a job and sleep on their own condition variable.
 *   The writer takes everything queued (up to SQ_MAX_BATCH jobs), runs it
 *   in ONE transaction, each job inside its own SAVEPOINT so that a failing
 *   job rolls back only itself (the hot jobs, which fail only before their
 *   first change, without one: sq_write_atomic) and commits once; each
 *   caller is woken with its own result once the commit is durable (the
 *   syncer, below). Jobs of one batch therefore see each other's writes in
 *   queue order (how two requests with the same idempotency key serialise).
 * - SQ_READERS read-only connections (PRAGMA query_only) serve reads
 *   concurrently with the writer (WAL). Each read runs in its own read
 *   transaction, so it sees every write that returned before it started.
 * - An in-memory store cannot be shared between connections, so there all
 *   reads are jobs on the writer too.
 *
 * Durability: a durable store runs WAL with synchronous=NORMAL, under which
 * SQLite itself syncs only around checkpoints (the WAL before one, the
 * database file after it, the WAL header when the WAL is reused), and the
 * commits are made durable by a second thread, the syncer: after each
 * COMMIT the writer hands the batch over and goes on with the next one,
 * the syncer fdatasync()s the WAL file and only then wakes the batch's
 * callers. One fdatasync covers every batch committed before it started,
 * so a write that returned 0 survives kill -9 and power loss, as with
 * synchronous=FULL, but the writer no longer waits for the disk. Other
 * connections may read a batch's rows before its sync has finished; no
 * caller is answered before it. Non-durable stores use synchronous=OFF and
 * no syncer.
 *
 * Invariants: a job never begins or ends a transaction; after every job all
 * cached statements of its connection are reset; the writer connection is
 * only touched by the writer thread once it runs; no secret or payload is
 * ever logged (SQL texts are logged, bound values never).
 */
#include "sqlite_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/err.h"
#include "../core/log.h"

#define SQ_READERS 4
#define SQ_MAX_BATCH 512
#define SQ_BUSY_TIMEOUT_MS 10000

struct sq_job {
	sq_job_fn fn;
	void *arg;
	bool is_atomic; /* sq_write_atomic: no savepoint of its own */
	int rc;
	bool is_done;
	pthread_cond_t cv; /* signalled when is_done is set (a waiting caller) */
	sq_done_fn done;   /* sq_write_atomic_async: called instead (owns the job) */
	void *done_arg;
	struct sq_job *next;
};

struct sq_store {
	struct skw_store base; /* first: the public handle points here */
	bool is_memory;

	/* the writer: mu guards head, tail, is_stopping and every job's is_done */
	struct sq_conn writer;
	pthread_t thread;
	bool has_thread;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* the writer sleeps on it while there is no job */
	struct sq_job *head, *tail;
	bool is_stopping;

	/* the syncer (durable file stores): mu also guards its list, the
	 * batches committed but not yet synced, and is_writer_done */
	pthread_t syncer;
	bool has_syncer;
	pthread_cond_t scv; /* the syncer sleeps on it while nothing waits */
	struct sq_job *sync_head, *sync_tail;
	bool is_writer_done;
	bool is_sync_failed; /* a sync failed: every write fails until a restart */
	int wal_fd;	     /* the WAL file, opened read-only for fdatasync() */

	/* the reader pool: rmu guards free_readers and n_free */
	pthread_mutex_t rmu;
	pthread_cond_t rcv;
	struct sq_conn readers[SQ_READERS];
	size_t n_readers;
	struct sq_conn *free_readers[SQ_READERS];
	size_t n_free;
};

/* ---- statements ------------------------------------------------------ */

int sq_err(struct sq_conn *c, int src)
{
	switch (src & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_CONSTRAINT:
		/* a missing parent row (account, webhook) reads as "no such" */
		return src == SQLITE_CONSTRAINT_FOREIGNKEY ? SKW_ENOTFOUND : SKW_ECONFLICT;
	case SQLITE_NOMEM:
		return SKW_ENOMEM;
	case SQLITE_TOOBIG:
		return SKW_ETOOBIG;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		skw_warn("store: database busy: %s", sqlite3_errmsg(c->db));
		return SKW_EUNAVAIL;
	default:
		skw_error("store: sqlite error %d: %s", src, sqlite3_errmsg(c->db));
		return SKW_EIO;
	}
}

int sq_prep(struct sq_conn *c, const char *sql, sqlite3_stmt **out)
{
	struct sq_cached *n;
	sqlite3_stmt *st;
	int src;

	for (size_t i = 0; i < c->n_cache; i++) {
		if (c->cache[i].sql == sql) {
			sqlite3_reset(c->cache[i].st);
			sqlite3_clear_bindings(c->cache[i].st);
			*out = c->cache[i].st;
			return 0;
		}
	}
	if (c->n_cache == c->cap_cache) {
		size_t cap = c->cap_cache ? 2 * c->cap_cache : 32;

		n = realloc(c->cache, cap * sizeof(*n));
		if (!n)
			return SKW_ENOMEM;
		c->cache = n;
		c->cap_cache = cap;
	}
	src = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (src != SQLITE_OK) {
		skw_error("store: cannot prepare \"%s\": %s", sql, sqlite3_errmsg(c->db));
		return SKW_EIO;
	}
	c->cache[c->n_cache].sql = sql;
	c->cache[c->n_cache].st = st;
	c->n_cache++;
	*out = st;
	return 0;
}

int sq_step(struct sq_conn *c, sqlite3_stmt *st, bool *has_row)
{
	int src = sqlite3_step(st);

	*has_row = src == SQLITE_ROW;
	if (src == SQLITE_ROW || src == SQLITE_DONE)
		return 0;
	return sq_err(c, src);
}

int sq_done(struct sq_conn *c, sqlite3_stmt *st)
{
	bool has_row;
	int rc;

	rc = sq_step(c, st, &has_row);
	return rc;
}

int sq_exec(struct sq_conn *c, const char *sql)
{
	sqlite3_stmt *st;
	int rc;

	rc = sq_prep(c, sql, &st);
	if (rc)
		return rc;
	rc = sq_done(c, st);
	sqlite3_reset(st);
	return rc;
}

void sq_reset_all(struct sq_conn *c)
{
	for (size_t i = 0; i < c->n_cache; i++)
		sqlite3_reset(c->cache[i].st);
}

void sq_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

void sq_bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	sq_bind_text(st, i, s && *s ? s : NULL);
}

void sq_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t len)
{
	if (len)
		sqlite3_bind_blob64(st, i, p, len, SQLITE_STATIC);
	else
		sqlite3_bind_zeroblob(st, i, 0);
}

int sq_col_strdup(sqlite3_stmt *st, int i, char **out)
{
	unsigned char *p;
	size_t len;
	int rc;

	rc = sq_col_blobdup(st, i, &p, &len);
	*out = (char *)p;
	return rc;
}

int sq_col_blobdup(sqlite3_stmt *st, int i, unsigned char **out, size_t *len)
{
	const void *p;
	size_t n;

	*out = NULL;
	if (len)
		*len = 0;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return 0;
	p = sqlite3_column_blob(st, i);
	n = (size_t)sqlite3_column_bytes(st, i);
	*out = malloc(n + 1);
	if (!*out)
		return SKW_ENOMEM;
	if (n)
		memcpy(*out, p, n);
	(*out)[n] = '\0';
	if (len)
		*len = n;
	return 0;
}

void sq_col_copy(sqlite3_stmt *st, int i, char *dst, size_t dst_len)
{
	const unsigned char *p = sqlite3_column_text(st, i);

	skw_strlcpy(dst, p ? (const char *)p : "", dst_len);
}

/* ---- connections ----------------------------------------------------- */

static void conn_close(struct sq_conn *c)
{
	for (size_t i = 0; i < c->n_cache; i++)
		sqlite3_finalize(c->cache[i].st);
	free(c->cache);
	c->cache = NULL;
	c->n_cache = c->cap_cache = 0;
	if (c->db)
		sqlite3_close(c->db);
	c->db = NULL;
}

/* The SQL function skw_dlv_id(): a fresh delivery id, so that fan-out is
 * one INSERT ... SELECT. */
static void fn_dlv_id(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	char id[SKW_ID_MAX];

	(void)argc;
	(void)argv;
	/* time-ordered: see skw_sorted_id */
	skw_sorted_id("dlv_", skw_now_ms(), id, sizeof(id));
	sqlite3_result_text(ctx, id, -1, SQLITE_TRANSIENT);
}

static int conn_pragma(struct sq_conn *c, const char *sql, char *err, size_t err_len)
{
	if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	snprintf(err, err_len, "%s: %s", sql, sqlite3_errmsg(c->db));
	return SKW_EIO;
}

static int conn_open(struct sq_conn *c, const char *path, bool is_writer, char *err, size_t err_len)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	int rc;

	if (is_writer)
		flags |= SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
		snprintf(err, err_len, "cannot open database %s: %s", path,
			 c->db ? sqlite3_errmsg(c->db) : "out of memory");
		return c->db ? SKW_EIO : SKW_ENOMEM;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, SQ_BUSY_TIMEOUT_MS);
	rc = conn_pragma(c, "PRAGMA foreign_keys = ON", err, err_len);
	if (rc)
		return rc;
	rc = conn_pragma(c, "PRAGMA temp_store = MEMORY", err, err_len);
	if (rc)
		return rc;
	if (!is_writer)
		return conn_pragma(c, "PRAGMA query_only = ON", err, err_len);
	if (sqlite3_create_function_v2(c->db, "skw_dlv_id", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY,
				       NULL, fn_dlv_id, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, err_len, "cannot register skw_dlv_id: %s", sqlite3_errmsg(c->db));
		return SKW_EIO;
	}
	return 0;
}

/* WAL (file databases only) and the sync level; outside any transaction. */
static int writer_setup(struct sq_conn *c, bool is_memory, bool is_durable, char *err,
			size_t err_len)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	int rc;

	if (!is_memory) {
		if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) !=
			SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_ROW) {
			snprintf(err, err_len, "cannot enable WAL: %s", sqlite3_errmsg(c->db));
			rc = SKW_EIO;
			goto out;
		}
		mode = sqlite3_column_text(st, 0);
		if (!mode || strcmp((const char *)mode, "wal")) {
			snprintf(err, err_len, "cannot enable WAL (journal mode stays %s)",
				 mode ? (const char *)mode : "?");
			rc = SKW_EIO;
			goto out;
		}
	}
	/* durable file stores: the syncer makes each commit durable */
	rc = conn_pragma(c,
			 !is_durable ? "PRAGMA synchronous = OFF"
			 : is_memory ? "PRAGMA synchronous = FULL"
				     : "PRAGMA synchronous = NORMAL",
			 err, err_len);
out:
	sqlite3_finalize(st);
	return rc;
}

static int make_dir(const char *dir, char *err, size_t err_len)
{
	if (!mkdir(dir, 0700) || errno == EEXIST)
		return 0;
	snprintf(err, err_len, "cannot create directory %s: %s", dir, strerror(errno));
	return SKW_EIO;
}

/*
 * mkdir -p of the directory part of path, then creates the database file
 * itself with mode 0600 when it does not exist: it holds event payloads,
 * and SQLite gives the -wal and -shm files the mode of the database file.
 */
static int prepare_path(const char *path, char *err, size_t err_len)
{
	char dir[4096];
	char *p;
	int fd, rc;

	if (strlen(path) >= sizeof(dir)) {
		snprintf(err, err_len, "database path too long");
		return SKW_EINVAL;
	}
	skw_strlcpy(dir, path, sizeof(dir));
	p = strrchr(dir, '/');
	if (p && p != dir) {
		*p = '\0';
		for (p = dir + 1; *p; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			rc = make_dir(dir, err, err_len);
			*p = '/';
			if (rc)
				return rc;
		}
		rc = make_dir(dir, err, err_len);
		if (rc)
			return rc;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST) {
		snprintf(err, err_len, "cannot create database %s: %s", path, strerror(errno));
		return SKW_EIO;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

/* ---- the writer ------------------------------------------------------ */

/* Gives every job of batch that has no error of its own the error rc and
 * rolls back what is left of the transaction. */
static void batch_fail(struct sq_conn *c, struct sq_job *batch, int rc)
{
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	for (struct sq_job *j = batch; j; j = j->next) {
		if (!j->rc)
			j->rc = rc;
	}
}

static void run_batch(struct sq_conn *c, struct sq_job *batch)
{
	int rc;

	rc = sq_exec(c, "BEGIN IMMEDIATE");
	if (rc) {
		batch_fail(c, batch, rc);
		return;
	}
	for (struct sq_job *j = batch; j; j = j->next) {
		sqlite3_int64 changes = sqlite3_total_changes64(c->db);

		rc = j->is_atomic ? 0 : sq_exec(c, "SAVEPOINT job");
		if (rc) {
			batch_fail(c, batch, rc);
			return;
		}
		j->rc = j->fn(c, j->arg);
		sq_reset_all(c);
		if (sqlite3_get_autocommit(c->db)) {
			/* SQLite rolled the whole transaction back (I/O error, full
			 * disk): the jobs before this one are lost too */
			batch_fail(c, batch, j->rc ? j->rc : SKW_EIO);
			return;
		}
		if (j->is_atomic) {
			/* a failed statement undid itself; a job that failed
			 * after a change cannot be undone alone */
			if (j->rc && sqlite3_total_changes64(c->db) != changes) {
				batch_fail(c, batch, j->rc);
				return;
			}
			continue;
		}
		if (j->rc) {
			rc = sq_exec(c, "ROLLBACK TO job");
			if (rc) {
				batch_fail(c, batch, rc);
				return;
			}
		}
		rc = sq_exec(c, "RELEASE job");
		if (rc) {
			batch_fail(c, batch, rc);
			return;
		}
	}
	rc = sq_exec(c, "COMMIT");
	if (rc)
		batch_fail(c, batch, rc);
}

/* Answers every job of the list (linked by next), the ones without an error
 * of their own with rc. Called with mu held: waiting callers are signalled;
 * the jobs of sq_write_atomic_async are returned (linked by next), to be
 * passed to run_done once mu is released. */
static struct sq_job *wake_jobs(struct sq_job *list, int rc)
{
	struct sq_job *next, *async = NULL, **tail = &async;

	for (struct sq_job *j = list; j; j = next) {
		next = j->next;
		if (!j->rc)
			j->rc = rc;
		if (j->done) {
			j->next = NULL;
			*tail = j;
			tail = &j->next;
			continue;
		}
		j->is_done = true;
		pthread_cond_signal(&j->cv); /* j may be gone after this unlock */
	}
	return async;
}

/* Calls back the jobs wake_jobs returned, without mu, and frees them. */
static void run_done(struct sq_job *list)
{
	struct sq_job *next;

	for (struct sq_job *j = list; j; j = next) {
		next = j->next;
		j->done(j->done_arg, j->rc);
		free(j);
	}
}

static void *writer_main(void *arg)
{
	struct sq_store *s = arg;
	struct sq_job *batch, *last;

	pthread_setname_np(pthread_self(), "skw-writer");
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct sq_job *answered;
		size_t n = 1;

		while (!s->head && !s->is_stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->head)
			break; /* stopping, and every job is answered */
		batch = last = s->head;
		while (last->next && n < SQ_MAX_BATCH) {
			last = last->next;
			n++;
		}
		s->head = last->next;
		if (!s->head)
			s->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&s->mu);

		run_batch(&s->writer, batch);

		pthread_mutex_lock(&s->mu);
		if (s->has_syncer) {
			if (s->sync_tail)
				s->sync_tail->next = batch;
			else
				s->sync_head = batch;
			s->sync_tail = last;
			pthread_cond_signal(&s->scv);
			continue;
		}
		answered = wake_jobs(batch, 0);
		if (answered) {
			pthread_mutex_unlock(&s->mu);
			run_done(answered);
			pthread_mutex_lock(&s->mu);
		}
	}
	s->is_writer_done = true;
	pthread_cond_signal(&s->scv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/*
 * The syncer: takes every batch committed since its last round, makes them
 * durable with one fdatasync() of the WAL file, and wakes their callers.
 * Rounds run one after the other, so a batch is never answered before the
 * batches committed ahead of it are durable. If the sync fails, nobody
 * knows what reached the disk: every job of the round that had succeeded
 * gets SKW_EIO (its caller may retry; an ingest then may be stored twice,
 * never lost). And every later one too, until a restart: Linux may drop the
 * pages a failed sync could not write and report the next sync as a
 * success, and a WAL frame lost in the middle ends SQLite's recovery there,
 * taking the later commits with it. The ping fails as well, so /healthz
 * reports the store unavailable.
 */
static void *syncer_main(void *arg)
{
	struct sq_store *s = arg;
	struct sq_job *round, *answered;
	int rc;

	pthread_setname_np(pthread_self(), "skw-sync");
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->sync_head && !s->is_writer_done)
			pthread_cond_wait(&s->scv, &s->mu);
		if (!s->sync_head)
			break; /* the writer has stopped and every batch is answered */
		round = s->sync_head;
		s->sync_head = s->sync_tail = NULL;
		pthread_mutex_unlock(&s->mu);

		rc = 0;
		if (s->is_sync_failed) {
			rc = SKW_EIO;
		} else if (fdatasync(s->wal_fd)) {
			skw_error("store: cannot sync the WAL (%s): from now on every write "
				  "fails; restart the service once the disk is fixed",
				  strerror(errno));
			rc = SKW_EIO;
		}

		pthread_mutex_lock(&s->mu);
		if (rc)
			s->is_sync_failed = true; /* only this thread sets it */
		answered = wake_jobs(round, rc);
		if (answered) {
			pthread_mutex_unlock(&s->mu);
			run_done(answered);
			pthread_mutex_lock(&s->mu);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Appends job to the writer's queue. Called with mu held; SKW_EUNAVAIL
 * once the store is closing. */
static int enqueue(struct sq_store *s, struct sq_job *job)
{
	if (s->is_stopping)
		return SKW_EUNAVAIL;
	if (s->tail)
		s->tail->next = job;
	else
		s->head = job;
	s->tail = job;
	pthread_cond_signal(&s->cv);
	return 0;
}

static int submit(struct skw_store *base, sq_job_fn fn, void *arg, bool is_atomic)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_job job = {.fn = fn, .arg = arg, .is_atomic = is_atomic};
	int rc;

	if (pthread_cond_init(&job.cv, NULL))
		return SKW_ENOMEM;
	pthread_mutex_lock(&s->mu);
	rc = enqueue(s, &job);
	while (!rc && !job.is_done)
		pthread_cond_wait(&job.cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	pthread_cond_destroy(&job.cv);
	return rc ? rc : job.rc;
}

int sq_write(struct skw_store *base, sq_job_fn fn, void *arg)
{
	return submit(base, fn, arg, false);
}

int sq_write_atomic(struct skw_store *base, sq_job_fn fn, void *arg)
{
	return submit(base, fn, arg, true);
}

int sq_write_atomic_async(struct skw_store *base, sq_job_fn fn, void *arg, sq_done_fn done)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_job *job = calloc(1, sizeof(*job));
	int rc;

	if (!job)
		return SKW_ENOMEM;
	job->fn = fn;
	job->arg = arg;
	job->is_atomic = true;
	job->done = done;
	job->done_arg = arg;
	pthread_mutex_lock(&s->mu);
	rc = enqueue(s, job);
	pthread_mutex_unlock(&s->mu);
	if (rc)
		free(job);
	return rc;
}

/* ---- the readers ----------------------------------------------------- */

int sq_read(struct skw_store *base, sq_job_fn fn, void *arg)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_conn *c;
	int rc, rc2;

	if (s->is_memory)
		return sq_write(base, fn, arg);
	pthread_mutex_lock(&s->rmu);
	while (!s->n_free)
		pthread_cond_wait(&s->rcv, &s->rmu);
	c = s->free_readers[--s->n_free];
	pthread_mutex_unlock(&s->rmu);

	rc = sq_exec(c, "BEGIN");
	if (!rc) {
		rc = fn(c, arg);
		sq_reset_all(c);
		rc2 = sq_exec(c, "COMMIT");
		if (rc2) {
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			if (!rc)
				rc = rc2;
		}
	}

	pthread_mutex_lock(&s->rmu);
	s->free_readers[s->n_free++] = c;
	pthread_cond_signal(&s->rcv);
	pthread_mutex_unlock(&s->rmu);
	return rc;
}

/* ---- open, close, ping ----------------------------------------------- */

/*
 * Opens the WAL file for the syncer and makes its directory entry durable.
 * The file exists once the writer has run the migrations in WAL mode, and
 * SQLite keeps it (reused, never truncated: no journal_size_limit) until
 * the last connection closes, which is after the syncer has stopped.
 */
static int open_wal(struct sq_store *s, const char *path, char *err, size_t err_len)
{
	char wal[4096], dir[4096];
	char *slash;
	int dfd;

	if (snprintf(wal, sizeof(wal), "%s-wal", path) >= (int)sizeof(wal)) {
		snprintf(err, err_len, "database path too long");
		return SKW_EINVAL;
	}
	s->wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
	if (s->wal_fd < 0) {
		snprintf(err, err_len, "cannot open %s: %s", wal, strerror(errno));
		return SKW_EIO;
	}
	skw_strlcpy(dir, path, sizeof(dir));
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		skw_strlcpy(dir, ".", sizeof(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd)) {
		snprintf(err, err_len, "cannot sync directory %s: %s", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return SKW_EIO;
	}
	close(dfd);
	return 0;
}

static void sq_destroy(struct sq_store *s)
{
	if (s->has_thread) {
		pthread_mutex_lock(&s->mu);
		s->is_stopping = true;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
	}
	if (s->has_syncer) {
		pthread_mutex_lock(&s->mu);
		s->is_writer_done = true; /* also when the writer never ran */
		pthread_cond_signal(&s->scv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->syncer, NULL);
	}
	if (s->wal_fd >= 0)
		close(s->wal_fd);
	for (size_t i = 0; i < s->n_readers; i++)
		conn_close(&s->readers[i]);
	conn_close(&s->writer); /* the last close checkpoints the WAL */
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->scv);
	pthread_mutex_destroy(&s->rmu);
	pthread_cond_destroy(&s->rcv);
	free(s);
}

static void sq_close(struct skw_store *base)
{
	sq_destroy((struct sq_store *)base);
}

static int do_ping(struct sq_conn *c, void *arg)
{
	(void)arg;
	return sq_exec(c, "SELECT 1");
}

static int sq_ping(struct skw_store *base)
{
	struct sq_store *s = (struct sq_store *)base;
	bool is_failed;

	pthread_mutex_lock(&s->mu);
	is_failed = s->is_sync_failed;
	pthread_mutex_unlock(&s->mu);
	return is_failed ? SKW_EIO : sq_read(base, do_ping, NULL);
}

static const struct skw_store_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .ping = sq_ping,
    .account_insert = sq_account_insert,
    .account_get = sq_account_get,
    .account_delete = sq_account_delete,
    .apikey_insert = sq_apikey_insert,
    .apikey_find = sq_apikey_find,
    .apikey_list = sq_apikey_list,
    .apikey_revoke = sq_apikey_revoke,
    .webhook_insert = sq_webhook_insert,
    .webhook_get = sq_webhook_get,
    .webhook_list = sq_webhook_list,
    .webhook_update = sq_webhook_update,
    .webhook_delete = sq_webhook_delete,
    .event_ingest = sq_event_ingest,
    .event_ingest_start = sq_event_ingest_start,
    .claim = sq_claim,
    .complete = sq_complete,
    .release = sq_release,
    .release_node = sq_release_node,
    .next_due = sq_next_due,
    .test_prepare = sq_test_prepare,
    .log_list = sq_log_list,
    .maintain = sq_maintain,
    .webhook_stats = sq_webhook_stats,
    .login_link_insert = sq_login_link_insert,
    .login_link_consume = sq_login_link_consume,
    .session_insert = sq_session_insert,
    .session_touch = sq_session_touch,
    .session_delete = sq_session_delete,
};

int skw_store_sqlite_open(const char *path, bool is_durable, struct skw_store **out, char *err,
			  size_t err_len)
{
	struct sq_store *s;
	char dummy[1];
	int rc;

	*out = NULL;
	if (!err) {
		err = dummy;
		err_len = sizeof(dummy);
	}
	if (!path || !*path) {
		snprintf(err, err_len, "empty database path");
		return SKW_EINVAL;
	}
	if (!sqlite3_threadsafe()) {
		snprintf(err, err_len, "sqlite3 was built without thread support");
		return SKW_EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return SKW_ENOMEM;
	s->base.ops = &sq_ops;
	s->is_memory = !strcmp(path, ":memory:");
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->scv, NULL);
	s->wal_fd = -1;
	pthread_mutex_init(&s->rmu, NULL);
	pthread_cond_init(&s->rcv, NULL);

	if (!s->is_memory) {
		rc = prepare_path(path, err, err_len);
		if (rc)
			goto out;
	}
	rc = conn_open(&s->writer, path, true, err, err_len);
	if (rc)
		goto out;
	rc = writer_setup(&s->writer, s->is_memory, is_durable, err, err_len);
	if (rc)
		goto out;
	rc = sq_migrate(&s->writer, err, err_len);
	if (rc)
		goto out;
	sq_reset_all(&s->writer);
	if (!s->is_memory) {
		for (; s->n_readers < SQ_READERS; s->n_readers++) {
			rc = conn_open(&s->readers[s->n_readers], path, false, err, err_len);
			if (rc) {
				s->n_readers++; /* so that sq_destroy closes it */
				goto out;
			}
			s->free_readers[s->n_free++] = &s->readers[s->n_readers];
		}
	}
	if (!s->is_memory && is_durable) {
		rc = open_wal(s, path, err, err_len);
		if (rc)
			goto out;
		if (pthread_create(&s->syncer, NULL, syncer_main, s)) {
			snprintf(err, err_len, "cannot start the store syncer thread");
			rc = SKW_ENOMEM;
			goto out;
		}
		s->has_syncer = true;
	}
	if (pthread_create(&s->thread, NULL, writer_main, s)) {
		snprintf(err, err_len, "cannot start the store writer thread");
		rc = SKW_ENOMEM;
		goto out;
	}
	s->has_thread = true;
	*out = &s->base;
out:
	if (rc)
		sq_destroy(s);
	return rc;
}
