/*
 * pg_exec.c - statement helpers of the PostgreSQL backend (pg_int.h):
 * parameters, array literals, running a statement and mapping its errors,
 * and reading text-format results.
 *
 * Every statement goes out in libpq pipeline mode with whatever the same
 * round trip can carry: a pending BEGIN before it, its Parse the first time
 * this session sees its text (then it is a named prepared statement, parsed
 * once per session, and planned as plan_cache_mode = auto says; one
 * marked PG_PER_CALL goes unnamed instead, planned for its values on every
 * call), and a COMMIT after it (pg_exec_commit). The cache of prepared statements belongs to the
 * struct pg_conn: store_pg.c clears it whenever the session is replaced.
 *
 * Errors are logged with their SQLSTATE and primary message only: never a
 * bound value, never the DETAIL (which can quote row values).
 */
#include "pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../core/log.h"

/* ---- parameters ------------------------------------------------------ */

static int p_slot(struct pg_params *p)
{
	if (p->n >= PG_MAX_PARAMS) {
		p->is_oom = true;
		return -1;
	}
	p->lengths[p->n] = 0;
	p->formats[p->n] = 0;
	return p->n++;
}

void pg_p_text(struct pg_params *p, const char *s)
{
	int i = p_slot(p);

	if (i >= 0)
		p->values[i] = s;
}

void pg_p_text_or_null(struct pg_params *p, const char *s)
{
	pg_p_text(p, s && *s ? s : NULL);
}

void pg_p_int(struct pg_params *p, int64_t v)
{
	int i = p_slot(p);

	if (i < 0)
		return;
	snprintf(p->num[i], sizeof(p->num[i]), "%lld", (long long)v);
	p->values[i] = p->num[i];
}

void pg_p_bool(struct pg_params *p, bool v)
{
	pg_p_text(p, v ? "t" : "f");
}

void pg_p_bytea(struct pg_params *p, const void *data, size_t len)
{
	int i = p_slot(p);

	if (i < 0)
		return;
	if (len > (size_t)INT32_MAX) {
		p->is_oom = true;
		return;
	}
	p->values[i] = len ? data : "";
	p->lengths[i] = (int)len;
	p->formats[i] = 1;
}

void pg_p_own(struct pg_params *p, char *s)
{
	if (!s || p->n_owned >= PG_MAX_PARAMS) {
		free(s);
		p->is_oom = true;
		p_slot(p);
		return;
	}
	p->owned[p->n_owned++] = s;
	pg_p_text(p, s);
}

void pg_params_free(struct pg_params *p)
{
	for (int i = 0; i < p->n_owned; i++)
		free(p->owned[i]);
	p->n_owned = 0;
}

/* A growing string for array literals. */
struct abuf {
	char *s;
	size_t len, cap;
	bool is_oom;
};

static void ab_put(struct abuf *b, const char *s, size_t n)
{
	if (b->is_oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *ns;

		while (cap < b->len + n + 1)
			cap *= 2;
		ns = realloc(b->s, cap);
		if (!ns) {
			b->is_oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static char *ab_done(struct abuf *b)
{
	if (b->is_oom) {
		free(b->s);
		return NULL;
	}
	return b->s;
}

char *pg_array_text(const char *const *v, size_t n)
{
	struct abuf b = {0};

	ab_put(&b, "{", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			ab_put(&b, ",", 1);
		if (!v[i]) {
			ab_put(&b, "NULL", 4);
			continue;
		}
		ab_put(&b, "\"", 1);
		for (const char *c = v[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				ab_put(&b, "\\", 1);
			ab_put(&b, c, 1);
		}
		ab_put(&b, "\"", 1);
	}
	ab_put(&b, "}", 1);
	return ab_done(&b);
}

char *pg_array_int(const int64_t *v, size_t n)
{
	struct abuf b = {0};
	char num[24];

	ab_put(&b, "{", 1);
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(num, sizeof(num), "%s%lld", i ? "," : "", (long long)v[i]);

		ab_put(&b, num, (size_t)len);
	}
	ab_put(&b, "}", 1);
	return ab_done(&b);
}

char *pg_array_hex(const unsigned char *const *v, const size_t *len, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	struct abuf b = {0};

	ab_put(&b, "{", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			ab_put(&b, ",", 1);
		if (!v[i]) {
			ab_put(&b, "NULL", 4);
			continue;
		}
		ab_put(&b, "\"", 1);
		for (size_t k = 0; k < len[i]; k++) {
			char two[2] = {hex[v[i][k] >> 4], hex[v[i][k] & 15]};

			ab_put(&b, two, 2);
		}
		ab_put(&b, "\"", 1);
	}
	ab_put(&b, "}", 1);
	return ab_done(&b);
}

/* ---- statements ------------------------------------------------------ */

static bool is_conn_state(const char *st)
{
	/* 08: connection exception; 57P01-3: shutdown, crash, starting up;
	 * 53: insufficient resources (too many connections, disk full) */
	return !strncmp(st, "08", 2) || !strncmp(st, "57P0", 4) || !strncmp(st, "53", 2);
}

static int map_error(struct pg_conn *c, PGresult *r)
{
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	skw_strlcpy(c->sqlstate, st ? st : "", sizeof(c->sqlstate));
	if (PQstatus(c->pg) != CONNECTION_OK || !st || is_conn_state(st)) {
		if (!c->is_broken)
			skw_warn("store: postgres connection failed: %s",
				 msg ? msg : "connection lost");
		c->is_broken = true;
		return SKW_EUNAVAIL;
	}
	if (!strcmp(st, "23505"))
		return SKW_ECONFLICT;
	if (!strcmp(st, "23503"))
		return SKW_ENOTFOUND;
	/* 26000: a prepared statement is gone (exec() and pg_run try again) */
	if (!strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03") ||
	    !strcmp(st, "57014") || !strcmp(st, "26000"))
		return SKW_EUNAVAIL;
	if (!strcmp(st, "54000") || !strcmp(st, "22001"))
		return SKW_ETOOBIG;
	if (!strcmp(st, "22021")) /* not UTF-8: SQLite would have stored it */
		return SKW_EINVAL;
	skw_error("store: postgres error %s: %s", st, msg ? msg : "?");
	return SKW_EIO;
}

/* ---- the statement cache --------------------------------------------- */

/* FNV-1a: the key of a statement is its text (SQL may be built at run time,
 * so its address proves nothing). */
static uint64_t sql_hash(const char *sql)
{
	uint64_t h = 14695981039346656037ULL;

	for (const unsigned char *q = (const unsigned char *)sql; *q; q++)
		h = (h ^ *q) * 1099511628211ULL;
	return h;
}

static struct pg_stmt *stmt_find(struct pg_conn *c, const char *sql, uint64_t hash)
{
	for (size_t i = 0; i < c->n_stmts; i++) {
		if (c->stmts[i].hash == hash && !strcmp(c->stmts[i].sql, sql))
			return &c->stmts[i];
	}
	return NULL;
}

void pg_stmts_clear(struct pg_conn *c)
{
	for (size_t i = 0; i < c->n_stmts; i++)
		free(c->stmts[i].sql);
	c->n_stmts = 0;
	/* next_id goes on: a name the server may still hold is never reused */
}

/* ---- statements ------------------------------------------------------ */

/* What one round trip carries, in order; each but the statement optional. */
enum cmd { CMD_BEGIN, CMD_PARSE, CMD_STMT, CMD_COMMIT };

/*
 * Sends the commands and a Sync, then reads every result up to the Sync.
 * After an error the server skips the rest up to the Sync (their results
 * are PGRES_PIPELINE_ABORTED): a failed statement is never committed.
 * *err gets the first failed command's result, *stmt the statement's when
 * it succeeded; *is_parsed tells whether the Parse succeeded. false when
 * the connection failed before the Sync came back.
 */
static bool run_pipeline(struct pg_conn *c, const enum cmd *cmds, int n_cmds, const char *name,
			 const char *sql, const struct pg_params *p, PGresult **stmt,
			 PGresult **err, bool *is_parsed)
{
	int n = p ? p->n : 0;
	bool is_sent = PQenterPipelineMode(c->pg) == 1;
	int k = 0; /* the command whose results come next */

	for (int i = 0; i < n_cmds && is_sent; i++) {
		switch (cmds[i]) {
		case CMD_BEGIN:
			is_sent = PQsendQueryParams(c->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
			break;
		case CMD_PARSE:
			is_sent = PQsendPrepare(c->pg, name, sql, n, NULL);
			break;
		case CMD_STMT:
			is_sent = name
				      ? PQsendQueryPrepared(c->pg, name, n, p ? p->values : NULL,
							    p ? p->lengths : NULL,
							    p ? p->formats : NULL, 0)
				      : PQsendQueryParams(c->pg, sql, n, NULL, p ? p->values : NULL,
							  p ? p->lengths : NULL,
							  p ? p->formats : NULL, 0);
			break;
		case CMD_COMMIT:
			is_sent = PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
			break;
		}
	}
	if (!is_sent || PQpipelineSync(c->pg) != 1)
		return false; /* the caller drops the connection: no need to drain it */
	for (;;) {
		PGresult *r = PQgetResult(c->pg);
		ExecStatusType est;

		if (!r) {
			/* the end of one command's results; more NULLs than
			 * commands means the Sync will never come */
			if (++k > n_cmds || PQstatus(c->pg) != CONNECTION_OK)
				return false;
			continue;
		}
		est = PQresultStatus(r);
		if (est == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			break;
		}
		if (est == PGRES_COMMAND_OK || est == PGRES_TUPLES_OK) {
			if (k < n_cmds && cmds[k] == CMD_PARSE)
				*is_parsed = true;
			else
				c->n_ok++;
			if (k < n_cmds && cmds[k] == CMD_STMT && !*stmt) {
				*stmt = r;
				continue;
			}
		} else if (est != PGRES_PIPELINE_ABORTED && !*err) {
			*err = r;
			continue;
		}
		PQclear(r);
	}
	return PQexitPipelineMode(c->pg) == 1;
}

static int exec_once(struct pg_conn *c, const char *sql, struct pg_params *p, PGresult **out,
		     bool is_commit, bool *is_gone)
{
	bool is_cached = c->is_cache_on && strncmp(sql, PG_PER_CALL, sizeof(PG_PER_CALL) - 1);
	uint64_t hash = is_cached ? sql_hash(sql) : 0;
	struct pg_stmt *st = is_cached ? stmt_find(c, sql, hash) : NULL;
	bool is_parse = is_cached && !st && c->n_stmts < PG_STMT_MAX;
	bool is_parsed = false;
	PGresult *stmt = NULL, *err = NULL;
	enum cmd cmds[4];
	int n_cmds = 0, rc;
	char name[16];

	*is_gone = false;
	if (st || is_parse)
		snprintf(name, sizeof(name), "s%u", st ? st->id : c->next_id);
	if (c->is_begin_pending)
		cmds[n_cmds++] = CMD_BEGIN;
	if (is_parse)
		cmds[n_cmds++] = CMD_PARSE;
	cmds[n_cmds++] = CMD_STMT;
	if (is_commit)
		cmds[n_cmds++] = CMD_COMMIT;
	c->is_begin_pending = false;

	if (!run_pipeline(c, cmds, n_cmds, st || is_parse ? name : NULL, sql, p, &stmt, &err,
			  &is_parsed)) {
		/* in the middle of a pipeline: this session is unusable */
		PQclear(stmt);
		rc = map_error(c, err);
		c->is_broken = true;
		PQclear(err);
		return rc;
	}
	if (is_parsed) {
		char *copy = skw_strdup(sql);

		/* without the copy the statement stays on the server unused:
		 * harmless, and its name is never given out again */
		if (copy)
			c->stmts[c->n_stmts++] = (struct pg_stmt){hash, copy, c->next_id};
		c->next_id++;
	}
	if (err) {
		PQclear(stmt);
		rc = map_error(c, err);
		/* 26000: our named statement is gone (DISCARD ALL, or a proxy
		 * moved us to another server session): forget them all */
		*is_gone = st && !strcmp(c->sqlstate, "26000");
		if (*is_gone)
			pg_stmts_clear(c);
		PQclear(err);
		return rc;
	}
	if (is_commit)
		c->is_committed = true;
	if (out)
		*out = stmt;
	else
		PQclear(stmt);
	return 0;
}

static int exec(struct pg_conn *c, const char *sql, struct pg_params *p, PGresult **out,
		bool is_commit)
{
	bool is_gone = false;
	int rc;

	if (out)
		*out = NULL;
	if (p && p->is_oom)
		return SKW_ENOMEM;
	rc = exec_once(c, sql, p, out, is_commit, &is_gone);
	/* outside a transaction nothing else was lost: prepare it again, once;
	 * inside one the transaction is aborted, and pg_run runs the job again
	 * (SKW_EUNAVAIL with sqlstate 26000) */
	if (is_gone && PQtransactionStatus(c->pg) == PQTRANS_IDLE)
		rc = exec_once(c, sql, p, out, is_commit, &is_gone);
	return rc;
}

int pg_exec(struct pg_conn *c, const char *sql, struct pg_params *p, PGresult **out)
{
	return exec(c, sql, p, out, false);
}

int pg_exec_commit(struct pg_conn *c, const char *sql, struct pg_params *p, PGresult **out)
{
	return exec(c, sql, p, out, c->is_tx);
}

long long pg_changes(PGresult *r)
{
	const char *n = PQcmdTuples(r);

	return n && *n ? strtoll(n, NULL, 10) : 0;
}

int64_t pg_i64(PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool pg_bool(PGresult *r, int row, int col)
{
	return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

bool pg_is_null(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col);
}

void pg_copy(PGresult *r, int row, int col, char *dst, size_t dst_len)
{
	skw_strlcpy(dst, PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col), dst_len);
}

int pg_strdup(PGresult *r, int row, int col, char **out)
{
	*out = NULL;
	if (PQgetisnull(r, row, col))
		return 0;
	*out = skw_strdup(PQgetvalue(r, row, col));
	return *out ? 0 : SKW_ENOMEM;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int pg_bytea(PGresult *r, int row, int col, unsigned char **out, size_t *len)
{
	const char *v;
	size_t n;

	*out = NULL;
	if (len)
		*len = 0;
	if (PQgetisnull(r, row, col))
		return 0;
	v = PQgetvalue(r, row, col);
	n = (size_t)PQgetlength(r, row, col);
	if (n < 2 || v[0] != '\\' || v[1] != 'x' || n % 2) {
		skw_error("store: postgres sent bytea in an unexpected format");
		return SKW_EIO;
	}
	n = (n - 2) / 2;
	*out = malloc(n + 1);
	if (!*out)
		return SKW_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(v[2 + 2 * i]), lo = hexval(v[3 + 2 * i]);

		if (hi < 0 || lo < 0) {
			free(*out);
			*out = NULL;
			skw_error("store: postgres sent malformed bytea");
			return SKW_EIO;
		}
		(*out)[i] = (unsigned char)(hi << 4 | lo);
	}
	(*out)[n] = '\0';
	if (len)
		*len = n;
	return 0;
}

void pg_notify(struct pg_conn *c)
{
	pg_exec(c, "SELECT pg_notify('" PG_CHANNEL "', '')", NULL, NULL);
}
