/*
 * pg_exec.c - statement helpers of the PostgreSQL backend (pg_int.h):
 * parameters, array literals, running a statement and mapping its errors,
 * and reading text-format results.
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
	if (!strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03") ||
	    !strcmp(st, "57014"))
		return SKW_EUNAVAIL;
	if (!strcmp(st, "54000") || !strcmp(st, "22001"))
		return SKW_ETOOBIG;
	if (!strcmp(st, "22021")) /* not UTF-8: SQLite would have stored it */
		return SKW_EINVAL;
	skw_error("store: postgres error %s: %s", st, msg ? msg : "?");
	return SKW_EIO;
}

int pg_exec(struct pg_conn *c, const char *sql, struct pg_params *p, PGresult **out)
{
	ExecStatusType est;
	PGresult *r;
	int rc;

	if (out)
		*out = NULL;
	if (p && p->is_oom)
		return SKW_ENOMEM;
	r = PQexecParams(c->pg, sql, p ? p->n : 0, NULL, p ? p->values : NULL,
			 p ? p->lengths : NULL, p ? p->formats : NULL, 0);
	est = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (est == PGRES_COMMAND_OK || est == PGRES_TUPLES_OK) {
		c->n_ok++;
		if (out)
			*out = r;
		else
			PQclear(r);
		return 0;
	}
	if (!r && PQstatus(c->pg) == CONNECTION_OK) {
		PQclear(r);
		return SKW_ENOMEM;
	}
	rc = map_error(c, r);
	PQclear(r);
	return rc;
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
