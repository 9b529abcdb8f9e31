/*
 * test_store.c - the storage interface (store.h), one suite for every
 * backend: accounts, keys, webhooks and account isolation, ingest fan-out,
 * idempotency, claim/lease, complete, release, next_due, the log with its
 * cursor, account deletion, reopen, and concurrent writers.
 *
 * The backend comes from $SKW_TEST_DB: unset or "sqlite" runs against
 * temporary SQLite files; a PostgreSQL URL or keyword string runs every test
 * on a fresh database created through it (the role needs CREATEDB) and
 * adds the multi-node tests (two stores on one database: exclusive claims,
 * concurrent migration, wakeups, a killed connection). A PostgreSQL URL
 * that does not answer fails the suite: it never skips.
 *
 * Times are fixed (T0) rather than the clock, so every lease and expiry is
 * exact. Raw SQL is used only to look at what the API cannot show (that
 * account_delete left no row behind).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>
#include <sqlite3.h>

#include "check.h"
#include "core/err.h"
#include "store/pg_int.h"
#include "store/sqlite_int.h"
#include "store/store.h"

#define T0 1700000000000LL
#define DAY_MS (24 * 3600 * 1000LL)

static char tmp_dir[] = "/tmp/skw-test-store-XXXXXX";
static int n_dbs;
static const char *pg_base; /* $SKW_TEST_DB when it is PostgreSQL, else NULL */

static bool is_pg(void)
{
	return pg_base != NULL;
}

/* Appends key='value' (libpq quoting) to a keyword string. */
static void kw_add(char *out, size_t out_len, const char *key, const char *value)
{
	size_t len = strlen(out);

	if (!value || !*value)
		return;
	len += (size_t)snprintf(out + len, len < out_len ? out_len - len : 0, "%s%s='",
				len ? " " : "", key);
	for (; *value && len + 3 < out_len; value++) {
		if (*value == '\\' || *value == '\'')
			out[len++] = '\\';
		out[len++] = *value;
	}
	if (len + 2 <= out_len) {
		out[len++] = '\'';
		out[len] = '\0';
	}
}

/* Runs one statement on a connection of its own; -1 on any failure. */
static long long pg_scalar(const char *conninfo, const char *sql)
{
	PGconn *pg = PQconnectdb(conninfo);
	PGresult *r = NULL;
	long long n = -1;

	if (PQstatus(pg) == CONNECTION_OK) {
		r = PQexec(pg, sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) && !PQgetisnull(r, 0, 0))
			n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		else if (PQresultStatus(r) == PGRES_COMMAND_OK)
			n = 0;
		else
			fprintf(stderr, "pg_scalar: %s", PQerrorMessage(pg));
	} else {
		fprintf(stderr, "pg_scalar: cannot connect: %s", PQerrorMessage(pg));
	}
	PQclear(r);
	PQfinish(pg);
	return n;
}

/* Creates database skwt_<pid>_<n> and puts a keyword string for it in out. */
static void pg_new_database(char *out, size_t out_len)
{
	PGconn *pg = PQconnectdb(pg_base);
	char name[64], sql[128];

	out[0] = '\0';
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "cannot connect to $SKW_TEST_DB: %s", PQerrorMessage(pg));
		PQfinish(pg);
		return;
	}
	snprintf(name, sizeof(name), "skwt_%d_%d", (int)getpid(), n_dbs++);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	PQclear(PQexec(pg, sql));
	kw_add(out, out_len, "host", PQhost(pg));
	kw_add(out, out_len, "port", PQport(pg));
	kw_add(out, out_len, "user", PQuser(pg));
	kw_add(out, out_len, "password", PQpass(pg));
	kw_add(out, out_len, "dbname", name);
	PQfinish(pg);
}

static void pg_drop_databases(void)
{
	char sql[128];

	for (int i = 0; i < n_dbs; i++) {
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS skwt_%d_%d WITH (FORCE)",
			 (int)getpid(), i);
		pg_scalar(pg_base, sql);
	}
}

/* A fresh database; path is set for raw inspection (a file, or the
 * PostgreSQL keyword string). */
static struct skw_store *open_new(char *path, size_t path_len, bool is_durable)
{
	struct skw_store_options opt = {.is_durable = is_durable};
	struct skw_store *s = NULL;
	char url[512], err[256] = "";
	int rc;

	if (is_pg()) {
		pg_new_database(path, path_len);
		skw_strlcpy(url, path, sizeof(url));
	} else {
		snprintf(path, path_len, "%s/db%d/skw.db", tmp_dir, n_dbs++);
		snprintf(url, sizeof(url), "sqlite:%s", path);
	}
	opt.url = url;
	rc = skw_store_open(&opt, &s, err, sizeof(err));
	if (rc)
		fprintf(stderr, "open %s: %s\n", url, err);
	CHECK(rc == 0 && s);
	return s;
}

static struct skw_store *reopen(const char *path)
{
	struct skw_store_options opt = {.is_durable = true};
	struct skw_store *s = NULL;
	char url[512], err[256] = "";

	if (is_pg())
		skw_strlcpy(url, path, sizeof(url));
	else
		snprintf(url, sizeof(url), "sqlite://%s", path);
	opt.url = url;
	CHECK(skw_store_open(&opt, &s, err, sizeof(err)) == 0 && s);
	return s;
}

static void add_account(struct skw_store *s, const char *id)
{
	struct skw_account a = {.name = "Acme", .created_at = T0};

	skw_strlcpy(a.id, id, sizeof(a.id));
	CHECK(skw_store_account_insert(s, &a) == 0);
}

static void add_webhook(struct skw_store *s, const char *acct, const char *id, const char *events,
			bool is_enabled, int retries)
{
	static unsigned char secret[] = {1, 2, 3, 0, 5};
	struct skw_webhook w = {
	    .name = "hook",
	    .url = "https://example.com/hook",
	    .events = (char *)events,
	    .timeout_s = 10,
	    .retry_attempts = retries,
	    .is_enabled = is_enabled,
	    .secret_enc = secret,
	    .secret_enc_len = sizeof(secret),
	    .created_at = T0,
	    .updated_at = T0,
	};

	skw_strlcpy(w.id, id, sizeof(w.id));
	skw_strlcpy(w.account_id, acct, sizeof(w.account_id));
	CHECK(skw_store_webhook_insert(s, &w) == 0);
}

static void set_enabled(struct skw_store *s, const char *acct, const char *id, bool is_enabled)
{
	struct skw_webhook w;

	CHECK(skw_store_webhook_get(s, acct, id, &w) == 0);
	w.is_enabled = is_enabled;
	CHECK(skw_store_webhook_update(s, &w) == 0);
	skw_webhook_cleanup(&w);
}

/* Ingests one event; returns the number of deliveries (or a negative rc). */
static int ingest(struct skw_store *s, const char *acct, const char *event, const char *idem,
		  unsigned char hash_byte, int64_t now, struct skw_event_out *out)
{
	struct skw_event_in ev = {.account_id = acct,
				  .event = event,
				  .body = "{\"a\":1}",
				  .body_len = 7,
				  .idem_key = idem,
				  .now = now};
	struct skw_event_out tmp;
	int rc;

	skw_random_id("evt_", ev.id, sizeof(ev.id));
	memset(ev.req_hash, hash_byte, sizeof(ev.req_hash));
	rc = skw_store_event_ingest(s, &ev, out ? out : &tmp);
	return rc ? rc : (out ? out : &tmp)->n_deliveries;
}

static size_t claim(struct skw_store *s, int64_t now, size_t limit, size_t per,
		    const char *const *exclude, size_t n_exclude, struct skw_work **out)
{
	struct skw_claim_opts o = {.now = now,
				   .limit = limit,
				   .per_webhook_limit = per,
				   .exclude = exclude,
				   .n_exclude = n_exclude,
				   .node_id = "node-a",
				   .lease_margin_ms = 5000};
	size_t n = 0;

	*out = NULL;
	CHECK(skw_store_claim(s, &o, out, &n) == 0);
	return n;
}

static size_t claim_count(struct skw_store *s, int64_t now)
{
	struct skw_work *w;
	size_t n = claim(s, now, 1000, 0, NULL, 0, &w);

	skw_works_free(w, n);
	return n;
}

static int complete(struct skw_store *s, const struct skw_work *w, bool is_success, int code,
		    int64_t started, int64_t next_at)
{
	struct skw_attempt_result r = {.work = w,
				       .status_code = code,
				       .response = is_success ? "ok" : "boom",
				       .response_len = is_success ? 2 : 4,
				       .error = is_success ? NULL : "HTTP 500",
				       .is_success = is_success,
				       .started_at = started,
				       .duration_ms = 12,
				       .next_attempt_at = next_at};

	return skw_store_complete(s, &r, 1);
}

static long long raw_count(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long n = -1;

	if (is_pg())
		return pg_scalar(path, sql);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* ---- tests ---------------------------------------------------------- */

static void test_open_urls(void)
{
	struct skw_store_options opt = {.is_durable = true};
	struct skw_store *s = NULL;
	char err[256];

	opt.url = "mysql://u:hunter2@h/db";
	CHECK(skw_store_open(&opt, &s, err, sizeof(err)) == SKW_EINVAL && !s);
	CHECK(strstr(err, "mysql") && !strstr(err, "hunter2"));
	/* a server that does not answer: the message never shows the password */
	opt.url = "postgres://u:hunter2@127.0.0.1:1/db";
	CHECK(skw_store_open(&opt, &s, err, sizeof(err)) == SKW_EUNAVAIL && !s);
	CHECK(*err && !strstr(err, "hunter2"));
	opt.url = "host=127.0.0.1 port=1 password=hunter2";
	CHECK(skw_store_open(&opt, &s, err, sizeof(err)) == SKW_EUNAVAIL && !s);
	CHECK(*err && !strstr(err, "hunter2"));
	opt.url = "postgres://u:hunter2@127.0.0.1:1/db?pool_max_conns=0";
	CHECK(skw_store_open(&opt, &s, err, sizeof(err)) == SKW_EINVAL && !s);
	CHECK(strstr(err, "pool_max_conns") && !strstr(err, "hunter2"));
	opt.url = "sqlite:";
	CHECK(skw_store_open(&opt, &s, err, sizeof(err)) == SKW_EINVAL && !s);
	opt.url = "no-scheme";
	CHECK(skw_store_open(&opt, &s, err, sizeof(err)) == SKW_EINVAL && *err);
	opt.url = NULL;
	CHECK(skw_store_open(&opt, &s, NULL, 0) == SKW_EINVAL);

	opt.url = "sqlite::memory:";
	CHECK(skw_store_open(&opt, &s, err, sizeof(err)) == 0 && s);
	CHECK(skw_store_ping(s) == 0);
	/* reads of an in-memory store go through the writer: they must work */
	add_account(s, "acct_m");
	add_webhook(s, "acct_m", "wh_m", "booking.created", true, 1);
	CHECK(ingest(s, "acct_m", "booking.created", NULL, 0, T0, NULL) == 1);
	CHECK(claim_count(s, T0) == 1);
	skw_store_close(s);
}

static void test_accounts(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), false);
	struct skw_account a;

	add_account(s, "acct_1");
	CHECK(skw_store_account_get(s, "acct_1", &a) == 0);
	CHECK_STR(a.id, "acct_1");
	CHECK_STR(a.name, "Acme");
	CHECK(a.created_at == T0);
	skw_account_cleanup(&a);
	a = (struct skw_account){.id = "acct_1", .name = "Again", .created_at = T0};
	CHECK(skw_store_account_insert(s, &a) == SKW_ECONFLICT);
	CHECK(skw_store_account_get(s, "acct_none", &a) == SKW_ENOTFOUND);
	CHECK(skw_store_account_delete(s, "acct_none") == SKW_ENOTFOUND);
	CHECK(skw_store_account_delete(s, "acct_1") == 0);
	CHECK(skw_store_account_get(s, "acct_1", &a) == SKW_ENOTFOUND);
	skw_store_close(s);
}

static void test_apikeys(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), false);
	unsigned char h1[SKW_KEY_HASH_LEN], h2[SKW_KEY_HASH_LEN], h3[SKW_KEY_HASH_LEN];
	struct skw_apikey k = {0}, got, *list;
	size_t n;

	memset(h1, 1, sizeof(h1));
	memset(h2, 2, sizeof(h2));
	memset(h3, 3, sizeof(h3));
	add_account(s, "acct_1");
	k = (struct skw_apikey){
	    .id = "key_1", .account_id = "acct_1", .prefix = "skw_aaaa", .created_at = T0};
	CHECK(skw_store_apikey_insert(s, &k, h1) == 0);
	k = (struct skw_apikey){
	    .id = "key_2", .account_id = "acct_1", .prefix = "skw_bbbb", .created_at = T0 + 1};
	CHECK(skw_store_apikey_insert(s, &k, h2) == 0);
	k = (struct skw_apikey){
	    .id = "key_p", .is_platform = true, .prefix = "skw_pppp", .created_at = T0};
	CHECK(skw_store_apikey_insert(s, &k, h3) == 0);
	k.id[4] = 'q'; /* another id, same hash */
	CHECK(skw_store_apikey_insert(s, &k, h3) == SKW_ECONFLICT);
	k = (struct skw_apikey){.id = "key_x", .account_id = "acct_none", .created_at = T0};
	CHECK(skw_store_apikey_insert(s, &k, h1) != 0);

	CHECK(skw_store_apikey_find(s, h2, &got) == 0);
	CHECK_STR(got.id, "key_2");
	CHECK_STR(got.account_id, "acct_1");
	CHECK_STR(got.prefix, "skw_bbbb");
	CHECK(!got.is_platform && got.revoked_at == 0);
	CHECK(skw_store_apikey_find(s, h3, &got) == 0);
	CHECK(got.is_platform && got.account_id[0] == '\0');

	CHECK(skw_store_apikey_list(s, "acct_1", &list, &n) == 0);
	CHECK(n == 2);
	if (n == 2) {
		CHECK_STR(list[0].id, "key_2"); /* newest first */
		CHECK_STR(list[1].id, "key_1");
	}
	free(list);
	CHECK(skw_store_apikey_list(s, NULL, &list, &n) == 0);
	CHECK(n == 1 && !strcmp(list[0].id, "key_p"));
	free(list);

	CHECK(skw_store_apikey_revoke(s, "key_1", T0 + 50) == 0);
	CHECK(skw_store_apikey_revoke(s, "key_1", T0 + 90) == 0);
	CHECK(skw_store_apikey_find(s, h1, &got) == 0 && got.revoked_at == T0 + 50);
	CHECK(skw_store_apikey_revoke(s, "key_none", T0) == SKW_ENOTFOUND);
	memset(h1, 9, sizeof(h1));
	CHECK(skw_store_apikey_find(s, h1, &got) == SKW_ENOTFOUND);
	skw_store_close(s);
}

static void test_webhooks(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), false);
	struct skw_webhook w, *list;
	size_t n;

	add_account(s, "acct_a");
	add_account(s, "acct_b");
	add_webhook(s, "acct_a", "wh_1", "booking.created", true, 3);
	add_webhook(s, "acct_a", "wh_2", "booking.created,payment.failed", true, 3);
	add_webhook(s, "acct_a", "wh_3", "payment.failed", false, 0);
	add_webhook(s, "acct_b", "wh_b", "booking.created", true, 3);

	CHECK(skw_store_webhook_list(s, "acct_a", &list, &n) == 0);
	CHECK(n == 3);
	if (n == 3) {
		CHECK_STR(list[0].id, "wh_3"); /* newest first */
		CHECK_STR(list[1].id, "wh_2");
		CHECK_STR(list[2].id, "wh_1");
		CHECK_STR(list[1].events, "booking.created,payment.failed");
		CHECK(!list[0].is_enabled && list[1].is_enabled);
		CHECK(list[1].secret_enc_len == 5 && list[1].secret_enc[4] == 5);
	}
	skw_webhooks_free(list, n);

	/* another account's webhook does not exist for this one */
	CHECK(skw_store_webhook_get(s, "acct_b", "wh_1", &w) == SKW_ENOTFOUND);
	CHECK(skw_store_webhook_delete(s, "acct_b", "wh_1") == SKW_ENOTFOUND);
	CHECK(skw_store_webhook_get(s, "acct_a", "wh_1", &w) == 0);
	skw_strlcpy(w.account_id, "acct_b", sizeof(w.account_id));
	CHECK(skw_store_webhook_update(s, &w) == SKW_ENOTFOUND);
	skw_webhook_cleanup(&w);

	CHECK(skw_store_webhook_get(s, "acct_a", "wh_1", &w) == 0);
	free(w.url);
	w.url = strdup("https://example.org/new");
	w.timeout_s = 30;
	w.retry_attempts = 0;
	w.is_enabled = false;
	w.updated_at = T0 + 5;
	CHECK(skw_store_webhook_update(s, &w) == 0);
	skw_webhook_cleanup(&w);
	CHECK(skw_store_webhook_get(s, "acct_a", "wh_1", &w) == 0);
	CHECK_STR(w.url, "https://example.org/new");
	CHECK(w.timeout_s == 30 && w.retry_attempts == 0 && !w.is_enabled);
	CHECK(w.updated_at == T0 + 5 && w.created_at == T0);
	CHECK(w.secret_enc_len == 5); /* update leaves the secret alone */
	skw_webhook_cleanup(&w);

	CHECK(skw_store_webhook_delete(s, "acct_a", "wh_1") == 0);
	CHECK(skw_store_webhook_get(s, "acct_a", "wh_1", &w) == SKW_ENOTFOUND);
	CHECK(skw_store_webhook_list(s, "acct_b", &list, &n) == 0 && n == 1);
	skw_webhooks_free(list, n);
	CHECK(skw_store_webhook_list(s, "acct_none", &list, &n) == 0 && n == 0 && !list);

	w = (struct skw_webhook){.id = "wh_2",
				 .account_id = "acct_b",
				 .name = "n",
				 .url = "u",
				 .events = "x.y",
				 .timeout_s = 1};
	CHECK(skw_store_webhook_insert(s, &w) == SKW_ECONFLICT); /* ids are global */
	skw_strlcpy(w.id, "wh_9", sizeof(w.id));
	skw_strlcpy(w.account_id, "acct_none", sizeof(w.account_id));
	CHECK(skw_store_webhook_insert(s, &w) == SKW_ENOTFOUND);
	skw_store_close(s);
}

static void test_fanout(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), false);
	struct skw_event_out out;
	struct skw_work *w;
	size_t n;

	add_account(s, "acct_a");
	add_account(s, "acct_b");
	add_webhook(s, "acct_a", "wh_1", "booking.created,payment.failed", true, 3);
	add_webhook(s, "acct_a", "wh_2", "booking.created.v2,booking", true, 3);
	add_webhook(s, "acct_a", "wh_3", "booking.created", false, 3);
	add_webhook(s, "acct_a", "wh_4", "payment.failed,booking.created", true, 2);
	add_webhook(s, "acct_b", "wh_b", "booking.created", true, 3);

	CHECK(ingest(s, "acct_a", "booking.created", NULL, 0, T0, &out) == 2);
	CHECK(!out.is_replay && !strncmp(out.id, "evt_", 4));
	n = claim(s, T0, 100, 0, NULL, 0, &w);
	CHECK(n == 2);
	for (size_t i = 0; i < n; i++) {
		CHECK(!strcmp(w[i].webhook_id, "wh_1") || !strcmp(w[i].webhook_id, "wh_4"));
		CHECK_STR(w[i].account_id, "acct_a");
		CHECK_STR(w[i].event_id, out.id);
		CHECK_STR(w[i].event, "booking.created");
		CHECK(!strncmp(w[i].delivery_id, "dlv_", 4));
		CHECK(w[i].body_len == 7 && !memcmp(w[i].body, "{\"a\":1}", 8));
		CHECK_STR(w[i].url, "https://example.com/hook");
		CHECK(w[i].secret_enc_len == 5 && w[i].secret_enc[2] == 3);
		CHECK(w[i].timeout_s == 10 && w[i].attempt == 1 && !w[i].is_test);
		CHECK(w[i].max_attempts == (!strcmp(w[i].webhook_id, "wh_1") ? 4 : 3));
	}
	if (n == 2)
		CHECK(strcmp(w[0].delivery_id, w[1].delivery_id));
	skw_works_free(w, n);

	CHECK(ingest(s, "acct_a", "booking", NULL, 0, T0, NULL) == 1); /* wh_2 only */
	CHECK(ingest(s, "acct_a", "payment.failed", NULL, 0, T0, NULL) == 2);
	CHECK(ingest(s, "acct_a", "nobody.cares", NULL, 0, T0, NULL) == 0);
	CHECK(ingest(s, "acct_b", "booking.created", NULL, 0, T0, NULL) == 1);
	CHECK(ingest(s, "acct_none", "booking.created", NULL, 0, T0, NULL) == SKW_ENOTFOUND);
	CHECK(ingest(s, "acct_a", "a,b", NULL, 0, T0, NULL) == SKW_EINVAL);
	skw_store_close(s);
}

static void test_idempotency(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), false);
	struct skw_event_out first, again;

	add_account(s, "acct_a");
	add_account(s, "acct_b");
	add_webhook(s, "acct_a", "wh_1", "booking.created", true, 3);

	CHECK(ingest(s, "acct_a", "booking.created", "k1", 7, T0, &first) == 1);
	CHECK(!first.is_replay);
	CHECK(ingest(s, "acct_a", "booking.created", "k1", 7, T0 + 1000, &again) == 1);
	CHECK(again.is_replay && !strcmp(again.id, first.id));
	CHECK(claim_count(s, T0 + 1000) == 1); /* the replay queued nothing */
	CHECK(ingest(s, "acct_a", "booking.created", "k1", 8, T0 + 2000, &again) == SKW_ECONFLICT);
	/* keys are per account */
	CHECK(ingest(s, "acct_b", "booking.created", "k1", 8, T0 + 2000, &again) == 0);
	CHECK(!again.is_replay);
	/* just inside 24 h: still a replay; at 24 h: a new event */
	CHECK(ingest(s, "acct_a", "booking.created", "k1", 7, T0 + DAY_MS - 1, &again) == 1);
	CHECK(again.is_replay);
	CHECK(ingest(s, "acct_a", "booking.created", "k1", 9, T0 + DAY_MS, &again) == 1);
	CHECK(!again.is_replay && strcmp(again.id, first.id));
	CHECK(ingest(s, "acct_a", "booking.created", "k1", 9, T0 + DAY_MS + 1, &again) == 1);
	CHECK(again.is_replay);

	CHECK(raw_count(path, "SELECT count(*) FROM idempotency") == 2);
	/* a key exactly 24 h old is expired, like for the lookup above */
	CHECK(skw_store_maintain(s, T0 + 2 * DAY_MS - 1, 0) == 0);
	CHECK(raw_count(path, "SELECT count(*) FROM idempotency") == 1);
	CHECK(skw_store_maintain(s, T0 + 3 * DAY_MS, 0) == 0);
	CHECK(raw_count(path, "SELECT count(*) FROM idempotency") == 0);
	skw_store_close(s);
}

static void test_claim_lease(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), false);
	const char *ex[] = {"wh_2"};
	struct skw_work *w;
	size_t n;

	add_account(s, "acct_a");
	add_webhook(s, "acct_a", "wh_1", "e.one", true, 3);
	add_webhook(s, "acct_a", "wh_2", "e.one", true, 3);
	for (int i = 0; i < 5; i++)
		CHECK(ingest(s, "acct_a", "e.one", NULL, 0, T0 + i, NULL) == 2);

	CHECK(claim_count(s, T0 - 1) == 0); /* nothing due yet */
	n = claim(s, T0 + 10, 100, 2, ex, 1, &w);
	CHECK(n == 2);
	for (size_t i = 0; i < n; i++) {
		CHECK_STR(w[i].webhook_id, "wh_1");
		CHECK(w[i].lease_until == T0 + 10 + 10 * 1000 + 5000);
	}
	if (n == 2) /* oldest due first */
		CHECK(raw_count(path, "SELECT count(*) FROM queue WHERE lease_owner = 'node-a'"
				      " AND next_attempt_at <= 1700000000001") == 2);
	skw_works_free(w, n);

	n = claim(s, T0 + 10, 3, 0, NULL, 0, &w); /* limit in total */
	CHECK(n == 3);
	skw_works_free(w, n);
	CHECK(claim_count(s, T0 + 20) == 5); /* leased ones are not claimed again */
	CHECK(claim_count(s, T0 + 20) == 0);
	CHECK(claim_count(s, T0 + 20 + 15000 - 1) == 5); /* the first five's leases ran out */
	/* after the last lease runs out, all ten come back, still attempt 1 */
	n = claim(s, T0 + 20 + 15000 + 15000, 100, 0, NULL, 0, &w);
	CHECK(n == 10);
	for (size_t i = 0; i < n; i++) {
		CHECK(w[i].attempt == 1);
		CHECK(complete(s, &w[i], true, 200, T0, 0) == 0);
	}
	skw_works_free(w, n);
	CHECK(raw_count(path, "SELECT count(*) FROM queue") == 0);

	/* a disabled webhook's deliveries are held, and come back on enable */
	CHECK(ingest(s, "acct_a", "e.one", NULL, 0, T0 + 100000, NULL) == 2);
	set_enabled(s, "acct_a", "wh_2", false);
	n = claim(s, T0 + 100000, 100, 0, NULL, 0, &w);
	CHECK(n == 1 && !strcmp(w[0].webhook_id, "wh_1"));
	skw_works_free(w, n);
	CHECK(claim_count(s, T0 + 100000) == 0);
	set_enabled(s, "acct_a", "wh_2", true);
	CHECK(claim_count(s, T0 + 100000) == 1);
	skw_store_close(s);
}

/* A hand-off that takes wh_1's deliveries only, and counts. */
struct take_state {
	int n_taken, n_given_back;
};

static bool take_wh1(void *arg, const char *webhook_id)
{
	struct take_state *t = arg;

	if (strcmp(webhook_id, "wh_1"))
		return false;
	t->n_taken++;
	return true;
}

static void give_back_count(void *arg, const char *webhook_id)
{
	struct take_state *t = arg;

	(void)webhook_id;
	t->n_given_back++;
}

/* Direct hand-off: taken deliveries come back leased, the rest stay
 * claimable; a leased one is claimed again only after its lease; a replay
 * hands nothing off. */
static void test_handoff(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), false);
	struct take_state t = {0};
	struct skw_handoff_in h = {.lease_node = "node-h",
				   .lease_margin_ms = 5000,
				   .take = take_wh1,
				   .give_back = give_back_count,
				   .arg = &t};
	struct skw_event_in ev = {.account_id = "acct_a",
				  .event = "e.one",
				  .body = "{\"a\":1}",
				  .body_len = 7,
				  .idem_key = "k1",
				  .now = T0,
				  .handoff = &h};
	struct skw_event_out out;
	struct skw_work *w;
	size_t n;

	add_account(s, "acct_a");
	add_webhook(s, "acct_a", "wh_1", "e.one", true, 3);
	add_webhook(s, "acct_a", "wh_2", "e.one", true, 3);
	skw_random_id("evt_", ev.id, sizeof(ev.id));
	CHECK(skw_store_event_ingest(s, &ev, &out) == 0);
	CHECK(out.n_deliveries == 2 && out.n_works == 1 && t.n_taken == 1);
	if (out.n_works == 1) {
		w = out.works;
		CHECK_STR(w->webhook_id, "wh_1");
		CHECK_STR(w->event_id, ev.id);
		CHECK_STR(w->account_id, "acct_a");
		CHECK_STR(w->event, "e.one");
		CHECK_STR(w->url, "https://example.com/hook");
		CHECK(w->body_len == 7 && !memcmp(w->body, "{\"a\":1}", 7));
		CHECK(w->secret_enc_len == 5);
		CHECK(w->attempt == 1 && w->max_attempts == 4 && w->timeout_s == 10);
		CHECK(w->lease_until == T0 + 10 * 1000 + 5000);
		CHECK(raw_count(path, "SELECT count(*) FROM queue WHERE lease_owner = 'node-h'") ==
		      1);
		/* only wh_2's is claimable, until the lease runs out */
		n = claim(s, T0, 100, 0, NULL, 0, &w);
		CHECK(n == 1 && !strcmp(w[0].webhook_id, "wh_2"));
		for (size_t i = 0; i < n; i++)
			CHECK(complete(s, &w[i], true, 200, T0, 0) == 0);
		skw_works_free(w, n);
		CHECK(claim_count(s, T0 + 15000 - 1) == 0);
		/* a result of the handed-off attempt is recorded like any other */
		CHECK(complete(s, &out.works[0], false, 500, T0, T0 + 60000) == 0);
		CHECK(raw_count(path, "SELECT count(*) FROM attempts WHERE webhook_id = 'wh_1'") ==
		      1);
		CHECK(claim_count(s, T0 + 15000) == 0);
		CHECK(claim_count(s, T0 + 60000) == 1);
	}
	skw_works_free(out.works, out.n_works);

	/* the same request again: a replay, nothing handed off */
	CHECK(skw_store_event_ingest(s, &ev, &out) == 0);
	CHECK(out.is_replay && out.n_works == 0 && !out.works && t.n_taken == 1);
	CHECK(t.n_given_back == 0);
	skw_store_close(s);
}

static void test_claim_fair(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), false);
	struct skw_work *w;
	int n_1 = 0, n_2 = 0;
	size_t n;

	add_account(s, "acct_a");
	add_webhook(s, "acct_a", "wh_1", "e.one", true, 3);
	add_webhook(s, "acct_a", "wh_2", "e.two", true, 3);
	for (int i = 0; i < 6; i++) {
		CHECK(ingest(s, "acct_a", "e.one", NULL, 0, T0 + i, NULL) == 1);
		CHECK(ingest(s, "acct_a", "e.two", NULL, 0, T0 + 100 + i, NULL) == 1);
	}
	/* the oldest due goes first across webhooks */
	n = claim(s, T0 + 1000, 1, 0, NULL, 0, &w);
	CHECK(n == 1 && !strcmp(w[0].webhook_id, "wh_1"));
	skw_works_free(w, n);
	/* wh_1's backlog is older, but the per-webhook cap leaves room for wh_2 */
	n = claim(s, T0 + 1000, 100, 2, NULL, 0, &w);
	CHECK(n == 4);
	for (size_t i = 0; i < n; i++) {
		n_1 += !strcmp(w[i].webhook_id, "wh_1");
		n_2 += !strcmp(w[i].webhook_id, "wh_2");
	}
	CHECK(n_1 == 2 && n_2 == 2);
	skw_works_free(w, n);
	/* within the limit, older first: wh_1's rest before any of wh_2's */
	n = claim(s, T0 + 1000, 3, 0, NULL, 0, &w);
	CHECK(n == 3);
	for (size_t i = 0; i < n; i++)
		CHECK_STR(w[i].webhook_id, "wh_1");
	skw_works_free(w, n);
	skw_store_close(s);
}

static void test_complete(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), false);
	struct skw_webhook wh;
	struct skw_work *w, *w2;
	int64_t due;
	size_t n;

	add_account(s, "acct_a");
	add_webhook(s, "acct_a", "wh_1", "e.one", true, 1);
	CHECK(ingest(s, "acct_a", "e.one", NULL, 0, T0, NULL) == 1);
	n = claim(s, T0, 10, 0, NULL, 0, &w);
	CHECK(n == 1);
	if (n != 1)
		goto out;
	CHECK(w[0].attempt == 1 && w[0].max_attempts == 2);

	/* a retry: rescheduled, lease cleared, attempt 2 at the new time */
	CHECK(complete(s, &w[0], false, 500, T0, T0 + 60000) == 0);
	CHECK(skw_store_next_due(s, &due) == 0 && due == T0 + 60000);
	CHECK(claim_count(s, T0 + 59999) == 0);
	/* the same result again (a stale duplicate) changes nothing */
	CHECK(complete(s, &w[0], false, 500, T0, T0 + 1) == 0);
	CHECK(skw_store_next_due(s, &due) == 0 && due == T0 + 60000);
	/* max_attempts follows the webhook's retry setting as it is now */
	CHECK(skw_store_webhook_get(s, "acct_a", "wh_1", &wh) == 0);
	wh.retry_attempts = 4;
	CHECK(skw_store_webhook_update(s, &wh) == 0);
	skw_webhook_cleanup(&wh);
	n = claim(s, T0 + 60000, 10, 0, NULL, 0, &w2);
	CHECK(n == 1);
	if (n == 1) {
		CHECK(w2[0].attempt == 2 && w2[0].max_attempts == 5);
		CHECK_STR(w2[0].delivery_id, w[0].delivery_id);
		/* final: the delivery leaves the queue */
		CHECK(complete(s, &w2[0], true, 200, T0 + 60000, 0) == 0);
	}
	skw_works_free(w2, n);
	CHECK(raw_count(path, "SELECT count(*) FROM queue") == 0);
	CHECK(raw_count(path, "SELECT count(*) FROM attempts") == 2);
	CHECK(raw_count(path, "SELECT count(*) FROM attempts WHERE success IS TRUE AND"
			      " delivered_at = 1700000060012 AND status_code = 200") == 1);
	CHECK(skw_store_next_due(s, &due) == 0 && due == INT64_MAX);
	CHECK(claim_count(s, T0 + 10 * DAY_MS) == 0);

	/* results for a deleted webhook are dropped without error */
	CHECK(ingest(s, "acct_a", "e.one", NULL, 0, T0, NULL) == 1);
	skw_works_free(w, 1);
	n = claim(s, T0, 10, 0, NULL, 0, &w);
	CHECK(n == 1);
	/* the delete takes the webhook's queue rows, leased and not */
	CHECK(ingest(s, "acct_a", "e.one", NULL, 0, T0, NULL) == 1);
	CHECK(raw_count(path, "SELECT count(*) FROM queue") == 2);
	CHECK(skw_store_webhook_delete(s, "acct_a", "wh_1") == 0);
	if (n == 1)
		CHECK(complete(s, &w[0], true, 200, T0, 0) == 0);
	CHECK(raw_count(path, "SELECT count(*) FROM attempts") == 0);
	CHECK(raw_count(path, "SELECT count(*) FROM queue") == 0);
out:
	skw_works_free(w, n);
	skw_store_close(s);
}

static void test_release_next_due(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), false);
	struct skw_work *w;
	const char *ids[2];
	int64_t due;
	size_t n;

	add_account(s, "acct_a");
	add_webhook(s, "acct_a", "wh_1", "e.one", true, 1);
	add_webhook(s, "acct_a", "wh_2", "e.two", false, 1);
	CHECK(skw_store_next_due(s, &due) == 0 && due == INT64_MAX);
	CHECK(ingest(s, "acct_a", "e.two", NULL, 0, T0 + 5, NULL) == 0); /* disabled */
	set_enabled(s, "acct_a", "wh_2", true);
	CHECK(ingest(s, "acct_a", "e.two", NULL, 0, T0 + 7, NULL) == 1);
	set_enabled(s, "acct_a", "wh_2", false);
	CHECK(skw_store_next_due(s, &due) == 0 && due == INT64_MAX); /* held */
	CHECK(ingest(s, "acct_a", "e.one", NULL, 0, T0 + 3, NULL) == 1);
	CHECK(ingest(s, "acct_a", "e.one", NULL, 0, T0 + 4, NULL) == 1);
	CHECK(skw_store_next_due(s, &due) == 0 && due == T0 + 3);

	n = claim(s, T0 + 10, 10, 0, NULL, 0, &w);
	CHECK(n == 2);
	/* both leased: due again when the leases run out */
	CHECK(skw_store_next_due(s, &due) == 0 && due == T0 + 10 + 15000);
	if (n == 2) {
		ids[0] = w[0].delivery_id;
		CHECK(skw_store_release(s, ids, 1) == 0);
		CHECK(skw_store_next_due(s, &due) == 0 && due == T0 + 3);
		CHECK(claim_count(s, T0 + 11) == 1);
		CHECK(skw_store_release_node(s, "node-b") == 0); /* not ours */
		CHECK(claim_count(s, T0 + 12) == 0);
		CHECK(skw_store_release_node(s, "node-a") == 0);
		CHECK(claim_count(s, T0 + 12) == 2);
		CHECK(skw_store_release_node(s, NULL) == 0);
		CHECK(claim_count(s, T0 + 12) == 2);
	}
	skw_works_free(w, n);
	skw_store_close(s);
}

/* Builds a log for wh_1: d1 failed then succeeded, d2 failed once and is
 * pending, d3 in flight before any attempt is recorded, d4 pending before
 * any attempt. Returns the number of rows. */
static size_t build_log(struct skw_store *s)
{
	struct skw_work *w;
	size_t n;

	add_account(s, "acct_a");
	add_account(s, "acct_b");
	add_webhook(s, "acct_a", "wh_1", "e.one", true, 3);
	for (int i = 0; i < 2; i++)
		CHECK(ingest(s, "acct_a", "e.one", NULL, 0, T0 + i, NULL) == 1);
	n = claim(s, T0 + 100, 10, 0, NULL, 0, &w);
	CHECK(n == 2);
	if (n == 2) {
		CHECK(complete(s, &w[0], false, 500, T0 + 100, T0 + 1000) == 0);
		CHECK(complete(s, &w[1], false, 503, T0 + 100, T0 + 5000) == 0);
	}
	skw_works_free(w, n);
	n = claim(s, T0 + 1000, 10, 0, NULL, 0, &w);
	CHECK(n == 1);
	if (n == 1)
		CHECK(complete(s, &w[0], true, 200, T0 + 1000, 0) == 0);
	skw_works_free(w, n);
	CHECK(ingest(s, "acct_a", "e.one", NULL, 0, T0 + 2000, NULL) == 1);
	CHECK(ingest(s, "acct_a", "e.one", NULL, 0, T0 + 3000, NULL) == 1);
	/* d3 is being sent (leased), d4 waits */
	n = claim(s, T0 + 2000, 1, 0, NULL, 0, &w);
	CHECK(n == 1);
	skw_works_free(w, n);
	return 6; /* 3 made attempts + 3 pending */
}

static void test_log(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), false);
	struct skw_log_query q = {.account_id = "acct_a", .webhook_id = "wh_1", .limit = 100};
	struct skw_log_entry *e, *page;
	size_t n, n_page, total;

	total = build_log(s);
	CHECK(skw_store_log_list(s, &q, &e, &n) == 0);
	CHECK(n == total);
	if (n == total) {
		/* newest first: d2 retry due at +5000, d4 pending at +3000, d3
		 * in flight since +2000, d1's success at +1000, then the two
		 * failures at +100 */
		CHECK(e[0].status == SKW_LOG_PENDING && e[0].at == T0 + 5000);
		CHECK(e[0].attempt == 2 && e[0].max_attempts == 4);
		CHECK(e[0].next_attempt_at == T0 + 5000 && e[0].started_at == 0);
		CHECK(e[1].status == SKW_LOG_PENDING && e[1].at == T0 + 3000 && e[1].attempt == 1);
		CHECK(e[2].status == SKW_LOG_PENDING && e[2].at == T0 + 2000 && e[2].attempt == 1);
		CHECK(e[3].status == SKW_LOG_SUCCEEDED && e[3].status_code == 200);
		CHECK(e[3].attempt == 2 && e[3].delivered_at == T0 + 1000 + 12);
		CHECK_STR(e[3].response, "ok");
		CHECK(e[3].error == NULL);
		CHECK(e[4].status == SKW_LOG_FAILED && e[5].status == SKW_LOG_FAILED);
		CHECK(e[4].at == T0 + 100 && e[5].at == T0 + 100);
		CHECK(strcmp(e[4].key, e[5].key) > 0);
		CHECK_STR(e[4].error, "HTTP 500");
		CHECK_STR(e[4].event, "e.one");
		for (size_t i = 0; i + 1 < n; i++)
			CHECK(e[i].at >= e[i + 1].at);
	}

	/* paging by 2 gives the same rows, each once */
	q.limit = 2;
	for (size_t got = 0, pages = 0; pages < 10; pages++) {
		CHECK(skw_store_log_list(s, &q, &page, &n_page) == 0);
		for (size_t i = 0; i < n_page && got + i < n; i++)
			CHECK_STR(page[i].key, e[got + i].key);
		got += n_page;
		if (n_page < 2) {
			CHECK(got == total);
			skw_log_entries_free(page, n_page);
			break;
		}
		q.has_cursor = true;
		q.cursor_at = page[n_page - 1].at;
		skw_strlcpy(q.cursor_key, page[n_page - 1].key, sizeof(q.cursor_key));
		skw_log_entries_free(page, n_page);
	}
	skw_log_entries_free(e, n);

	q = (struct skw_log_query){.account_id = "acct_a", .webhook_id = "wh_1", .limit = 100};
	q.status = SKW_LOG_FAILED;
	CHECK(skw_store_log_list(s, &q, &e, &n) == 0 && n == 2);
	skw_log_entries_free(e, n);
	q.status = SKW_LOG_SUCCEEDED;
	CHECK(skw_store_log_list(s, &q, &e, &n) == 0 && n == 1);
	skw_log_entries_free(e, n);
	q.status = SKW_LOG_PENDING;
	CHECK(skw_store_log_list(s, &q, &e, &n) == 0 && n == 3);
	skw_log_entries_free(e, n);

	q.status = SKW_LOG_ANY;
	q.account_id = "acct_b";
	CHECK(skw_store_log_list(s, &q, &e, &n) == SKW_ENOTFOUND);
	q.account_id = "acct_a";
	q.has_cursor = true;
	skw_strlcpy(q.cursor_key, "garbage", sizeof(q.cursor_key));
	CHECK(skw_store_log_list(s, &q, &e, &n) == SKW_EINVAL);

	/* retention drops old log rows and events nothing waits for */
	CHECK(skw_store_maintain(s, T0 + 1000 + DAY_MS, DAY_MS) == 0);
	CHECK(raw_count(path, "SELECT count(*) FROM attempts") == 1);
	CHECK(raw_count(path, "SELECT count(*) FROM events") == 3);
	skw_store_close(s);
}

static void test_test_send(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), false);
	struct skw_log_query q = {.account_id = "acct_a", .webhook_id = "wh_1", .limit = 10};
	struct skw_log_entry *e;
	struct skw_webhook wh;
	struct skw_work w;
	size_t n;

	add_account(s, "acct_a");
	add_webhook(s, "acct_a", "wh_1", "e.one", true, 3);
	CHECK(skw_store_webhook_get(s, "acct_a", "wh_1", &wh) == 0);
	CHECK(skw_store_test_prepare(s, &wh, "evt_test1", "{}", 2, T0, &w) == 0);
	CHECK(w.is_test && w.attempt == 1 && w.max_attempts == 1);
	CHECK_STR(w.event, "webhook.test");
	CHECK(w.body_len == 2 && !strcmp(w.body, "{}"));
	CHECK(w.secret_enc_len == wh.secret_enc_len);
	CHECK(claim_count(s, T0 + DAY_MS) == 0); /* never queued */
	CHECK(complete(s, &w, true, 204, T0, 0) == 0);
	/* the same result again (PostgreSQL: a batch retried after its COMMIT
	 * went through but the answer was lost) is logged once */
	CHECK(complete(s, &w, true, 204, T0, 0) == 0);
	CHECK(skw_store_log_list(s, &q, &e, &n) == 0 && n == 1);
	if (n == 1) {
		CHECK_STR(e[0].delivery_id, w.delivery_id);
		CHECK_STR(e[0].event, "webhook.test");
		CHECK(e[0].status == SKW_LOG_SUCCEEDED && e[0].status_code == 204);
	}
	skw_log_entries_free(e, n);
	CHECK(raw_count(path, "SELECT count(*) FROM events WHERE id = 'evt_test1'") == 1);
	skw_work_cleanup(&w);
	skw_webhook_cleanup(&wh);
	skw_store_close(s);
}

static void test_account_delete(void)
{
	static const char *const tables[] = {"api_keys", "webhooks", "events",
					     "queue",	 "attempts", "idempotency"};
	char path[512], sql[128];
	struct skw_store *s = open_new(path, sizeof(path), false);
	unsigned char hash[SKW_KEY_HASH_LEN];
	struct skw_apikey k = {.id = "key_1", .account_id = "acct_a", .created_at = T0};
	struct skw_event_out out;
	struct skw_webhook *list;
	size_t n;

	memset(hash, 4, sizeof(hash));
	build_log(s); /* acct_a with attempts and queued deliveries */
	CHECK(ingest(s, "acct_a", "e.one", "key-1", 1, T0, NULL) == 1);
	CHECK(skw_store_apikey_insert(s, &k, hash) == 0);
	add_webhook(s, "acct_b", "wh_b", "e.one", true, 3);
	CHECK(ingest(s, "acct_b", "e.one", "key-1", 1, T0, NULL) == 1);

	CHECK(skw_store_account_delete(s, "acct_a") == 0);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE account_id = 'acct_a'",
			 tables[i]);
		CHECK(raw_count(path, sql) == 0);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE account_id = 'acct_b'",
			 tables[i]);
		CHECK(raw_count(path, sql) ==
		      (!strcmp(tables[i], "api_keys") || !strcmp(tables[i], "attempts") ? 0 : 1));
	}
	CHECK(skw_store_apikey_find(s, hash, &k) == SKW_ENOTFOUND);
	/* the same id again starts empty: the old idempotency key is gone */
	add_account(s, "acct_a");
	CHECK(skw_store_webhook_list(s, "acct_a", &list, &n) == 0 && n == 0);
	CHECK(ingest(s, "acct_a", "e.one", "key-1", 1, T0, &out) == 0 && !out.is_replay);
	skw_store_close(s);
}

static void test_reopen(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), true);
	struct skw_account a;
	struct skw_work *w;
	struct stat st;
	size_t n;

	add_account(s, "acct_a");
	add_webhook(s, "acct_a", "wh_1", "e.one", true, 3);
	CHECK(ingest(s, "acct_a", "e.one", NULL, 0, T0, NULL) == 1);
	skw_store_close(s);
	s = reopen(path);
	CHECK(skw_store_account_get(s, "acct_a", &a) == 0);
	skw_account_cleanup(&a);
	n = claim(s, T0, 10, 0, NULL, 0, &w);
	CHECK(n == 1 && !strcmp(w[0].webhook_id, "wh_1"));
	skw_works_free(w, n);
	skw_store_close(s);
	s = reopen(path); /* and a migrated database opens again */
	CHECK(claim_count(s, T0 + 60000) == 1);
	skw_store_close(s);
	if (is_pg()) {
		CHECK(raw_count(path, "SELECT max(version) FROM skw_schema") >= 1);
	} else {
		CHECK(raw_count(path, "PRAGMA user_version") >= 1);
		CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600); /* payloads */
	}
	CHECK(raw_count(path, "SELECT count(*) FROM queue") == 1);
}

#define N_THREADS 8
#define N_PER_THREAD 150

struct worker {
	struct skw_store *s;
	const char *idem; /* when set, every call uses it */
	int n_ok;
	int n_replay;
	char first_id[SKW_ID_MAX];
};

static void *ingest_worker(void *arg)
{
	struct worker *wk = arg;
	int n = wk->idem ? 1 : N_PER_THREAD;

	for (int i = 0; i < n; i++) {
		struct skw_event_out out;

		if (ingest(wk->s, "acct_a", "e.one", wk->idem, 1, T0, &out) == 2) {
			wk->n_ok++;
			wk->n_replay += out.is_replay;
			skw_strlcpy(wk->first_id, out.id, sizeof(wk->first_id));
		}
	}
	return NULL;
}

static void test_concurrent(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), true);
	struct worker wk[N_THREADS];
	pthread_t th[N_THREADS];
	int n_ok = 0, n_replay = 0;

	add_account(s, "acct_a");
	add_webhook(s, "acct_a", "wh_1", "e.one", true, 3);
	add_webhook(s, "acct_a", "wh_2", "e.one", true, 3);
	for (int i = 0; i < N_THREADS; i++) {
		wk[i] = (struct worker){.s = s};
		CHECK(pthread_create(&th[i], NULL, ingest_worker, &wk[i]) == 0);
	}
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(th[i], NULL);
		n_ok += wk[i].n_ok;
	}
	CHECK(n_ok == N_THREADS * N_PER_THREAD);
	CHECK(raw_count(path, "SELECT count(*) FROM events") == N_THREADS * N_PER_THREAD);
	CHECK(raw_count(path, "SELECT count(DISTINCT delivery_id) FROM queue") ==
	      2 * N_THREADS * N_PER_THREAD);

	/* the same idempotency key from every thread at once: one event */
	n_ok = 0;
	for (int i = 0; i < N_THREADS; i++) {
		wk[i] = (struct worker){.s = s, .idem = "same-key"};
		CHECK(pthread_create(&th[i], NULL, ingest_worker, &wk[i]) == 0);
	}
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(th[i], NULL);
		n_ok += wk[i].n_ok;
		n_replay += wk[i].n_replay;
	}
	CHECK(n_ok == N_THREADS && n_replay == N_THREADS - 1);
	for (int i = 1; i < N_THREADS; i++)
		CHECK_STR(wk[i].first_id, wk[0].first_id);
	CHECK(raw_count(path, "SELECT count(*) FROM events") == N_THREADS * N_PER_THREAD + 1);
	skw_store_close(s);
}

/* skw_store_event_ingest_start: each ingest is answered exactly once, on a
 * store thread, with what the blocking call gives; closing the store
 * answers every ingest still queued before it returns, and they are all
 * stored. */
#define N_STARTS 40
struct started {
	struct skw_event_in ev;
	struct skw_event_out out;
	int rc;
	int n_calls;
	bool is_other_thread;
};
static pthread_mutex_t started_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t started_cv = PTHREAD_COND_INITIALIZER;
static int n_answered;
static pthread_t test_thread;

static void on_started(void *arg, int rc)
{
	struct started *st = arg;

	pthread_mutex_lock(&started_mu);
	st->rc = rc;
	st->n_calls++;
	st->is_other_thread = !pthread_equal(pthread_self(), test_thread);
	n_answered++;
	pthread_cond_broadcast(&started_cv);
	pthread_mutex_unlock(&started_mu);
}

static void start_one(struct skw_store *s, struct started *st, const char *acct, const char *idem,
		      unsigned char hash_byte)
{
	*st = (struct started){.ev = {.account_id = acct,
				      .event = "e.one",
				      .body = "{\"a\":1}",
				      .body_len = 7,
				      .idem_key = idem,
				      .now = T0}};
	skw_random_id("evt_", st->ev.id, sizeof(st->ev.id));
	memset(st->ev.req_hash, hash_byte, sizeof(st->ev.req_hash));
	CHECK(skw_store_event_ingest_start(s, &st->ev, &st->out, on_started, st) == 0);
}

/* Waits (at most 20 s) until n answers have come. */
static void wait_answered(int n)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&started_mu);
	while (n_answered < n && pthread_cond_timedwait(&started_cv, &started_mu, &until) == 0)
		;
	CHECK(n_answered == n);
	pthread_mutex_unlock(&started_mu);
}

static void test_ingest_start(void)
{
	static struct started st[N_STARTS], idem[3], missing;
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), true);

	CHECK(skw_store_has_ingest_start(s));
	test_thread = pthread_self();
	n_answered = 0;
	add_account(s, "acct_a");
	add_webhook(s, "acct_a", "wh_1", "e.one", true, 3);
	add_webhook(s, "acct_a", "wh_2", "e.one", true, 3);
	for (int i = 0; i < N_STARTS; i++)
		start_one(s, &st[i], "acct_a", NULL, 0);
	wait_answered(N_STARTS);
	for (int i = 0; i < N_STARTS; i++) {
		CHECK(st[i].n_calls == 1 && st[i].is_other_thread);
		CHECK(st[i].rc == 0 && st[i].out.n_deliveries == 2 && !st[i].out.is_replay);
		CHECK_STR(st[i].out.id, st[i].ev.id);
	}
	CHECK(raw_count(path, "SELECT count(*) FROM events") == N_STARTS);

	/* the answers of the blocking call: not found, replay, conflict */
	start_one(s, &missing, "acct_gone", NULL, 0);
	wait_answered(N_STARTS + 1);
	CHECK(missing.rc == SKW_ENOTFOUND && missing.out.n_deliveries == 0);
	start_one(s, &idem[0], "acct_a", "k-1", 1);
	wait_answered(N_STARTS + 2);
	start_one(s, &idem[1], "acct_a", "k-1", 1);
	wait_answered(N_STARTS + 3);
	start_one(s, &idem[2], "acct_a", "k-1", 2);
	wait_answered(N_STARTS + 4);
	CHECK(idem[0].rc == 0 && !idem[0].out.is_replay);
	CHECK(idem[1].rc == 0 && idem[1].out.is_replay && idem[1].out.n_deliveries == 2);
	CHECK_STR(idem[1].out.id, idem[0].ev.id);
	CHECK(idem[2].rc == SKW_ECONFLICT);

	/* closing answers what is still queued, and stores it */
	n_answered = 0;
	for (int i = 0; i < N_STARTS; i++)
		start_one(s, &st[i], "acct_a", NULL, 0);
	skw_store_close(s);
	CHECK(n_answered == N_STARTS);
	for (int i = 0; i < N_STARTS; i++)
		CHECK(st[i].n_calls == 1 && st[i].rc == 0 && st[i].out.n_deliveries == 2);
	s = reopen(path);
	CHECK(raw_count(path, "SELECT count(*) FROM events") == 2 * N_STARTS + 1);
	CHECK(claim_count(s, T0) == 2 * (2 * N_STARTS + 1));
	skw_store_close(s);
}

/* Ingests that share a commit (the SQLite writer's batch, PostgreSQL's
 * group commit once more threads ingest than may commit at once): one for
 * an account that does not exist fails alone, the others in its batch all
 * go in. */
struct mixed_arg {
	struct skw_store *s;
	const char *acct;
	int n_ok, n_notfound, n_other;
};

static void *mixed_worker(void *arg)
{
	struct mixed_arg *m = arg;

	for (int i = 0; i < N_PER_THREAD; i++) {
		int rc = ingest(m->s, m->acct, "e.one", NULL, 0, T0, NULL);

		if (rc == 2)
			m->n_ok++;
		else if (rc == SKW_ENOTFOUND)
			m->n_notfound++;
		else
			m->n_other++;
	}
	return NULL;
}

static void test_ingest_batch_failure(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), true);
	struct mixed_arg m[2 * N_THREADS];
	pthread_t th[2 * N_THREADS];
	int n_ok = 0, n_notfound = 0, n_other = 0;

	add_account(s, "acct_a");
	add_webhook(s, "acct_a", "wh_1", "e.one", true, 3);
	add_webhook(s, "acct_a", "wh_2", "e.one", true, 3);
	for (int i = 0; i < 2 * N_THREADS; i++) {
		m[i] = (struct mixed_arg){.s = s, .acct = i % 4 == 3 ? "acct_none" : "acct_a"};
		CHECK(pthread_create(&th[i], NULL, mixed_worker, &m[i]) == 0);
	}
	for (int i = 0; i < 2 * N_THREADS; i++) {
		pthread_join(th[i], NULL);
		n_ok += m[i].n_ok;
		n_notfound += m[i].n_notfound;
		n_other += m[i].n_other;
	}
	CHECK(n_other == 0);
	CHECK(n_notfound == (2 * N_THREADS / 4) * N_PER_THREAD);
	CHECK(n_ok == (2 * N_THREADS - 2 * N_THREADS / 4) * N_PER_THREAD);
	CHECK(raw_count(path, "SELECT count(*) FROM events") == n_ok);
	CHECK(raw_count(path, "SELECT count(*) FROM queue") == 2LL * n_ok);
	CHECK(raw_count(path, "SELECT count(*) FROM events WHERE account_id = 'acct_none'") == 0);
	skw_store_close(s);
}

/* A failing job in a batch rolls back only itself: concurrent inserts of
 * the same account id, only one wins, the others get SKW_ECONFLICT. */
struct insert_arg {
	struct skw_store *s;
	char id[SKW_ID_MAX];
	int rc;
};

static void *insert_worker(void *arg)
{
	struct insert_arg *ia = arg;
	struct skw_account a = {.name = "x", .created_at = T0};

	skw_strlcpy(a.id, ia->id, sizeof(a.id));
	ia->rc = skw_store_account_insert(ia->s, &a);
	return NULL;
}

static void test_batch_isolation(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), true);
	struct insert_arg args[2 * N_THREADS];
	pthread_t th[2 * N_THREADS];
	int n_ok = 0, n_conflict = 0;

	/* half insert the same id, half distinct ones, all at once */
	for (int i = 0; i < 2 * N_THREADS; i++) {
		args[i] = (struct insert_arg){.s = s};
		if (i % 2)
			snprintf(args[i].id, sizeof(args[i].id), "acct_%d", i);
		else
			skw_strlcpy(args[i].id, "acct_same", sizeof(args[i].id));
		CHECK(pthread_create(&th[i], NULL, insert_worker, &args[i]) == 0);
	}
	for (int i = 0; i < 2 * N_THREADS; i++) {
		pthread_join(th[i], NULL);
		n_ok += args[i].rc == 0;
		n_conflict += args[i].rc == SKW_ECONFLICT;
		if (i % 2)
			CHECK(args[i].rc == 0);
	}
	CHECK(n_ok == N_THREADS + 1 && n_conflict == N_THREADS - 1);
	CHECK(raw_count(path, "SELECT count(*) FROM accounts") == N_THREADS + 1);
	skw_store_close(s);
}

/* ---- PostgreSQL: several nodes on one database ---------------------- */

#define N_NODES 4
#define N_EVENTS 300

struct node {
	struct skw_store *s;
	char name[16];
	char (*ids)[SKW_ID_MAX]; /* what this node claimed */
	size_t n_ids;
	int rc;
};

static void *claim_worker(void *arg)
{
	struct node *nd = arg;

	for (;;) {
		struct skw_claim_opts o = {
		    .now = T0 + 10, .limit = 7, .node_id = nd->name, .lease_margin_ms = 60000};
		struct skw_work *w = NULL;
		size_t n = 0;

		nd->rc = skw_store_claim(nd->s, &o, &w, &n);
		for (size_t i = 0; i < n; i++)
			skw_strlcpy(nd->ids[nd->n_ids++], w[i].delivery_id, SKW_ID_MAX);
		skw_works_free(w, n);
		if (nd->rc || !n)
			return NULL;
	}
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Nodes claiming at the same time never get the same delivery. */
struct key_ingest_arg {
	struct skw_store *s;
	const unsigned char *key;
	int rc;
};

static int ingest_with_key(struct skw_store *s, const char *acct, const unsigned char *key_hash,
			   const char *idem);

static void *key_ingest_worker(void *arg)
{
	struct key_ingest_arg *a = arg;

	a->rc = ingest_with_key(a->s, "acct_k", a->key, NULL);
	return NULL;
}

/* An event ingested with its API key's hash (the API's recent-lookup path). */
static int ingest_with_key(struct skw_store *s, const char *acct, const unsigned char *key_hash,
			   const char *idem)
{
	struct skw_event_in ev = {.account_id = acct,
				  .event = "e.one",
				  .body = "{\"a\":1}",
				  .body_len = 7,
				  .idem_key = idem,
				  .now = T0,
				  .key_hash = key_hash};
	struct skw_event_out out;
	int rc;

	skw_random_id("evt_", ev.id, sizeof(ev.id));
	rc = skw_store_event_ingest(s, &ev, &out);
	return rc ? rc : out.n_deliveries;
}

/*
 * PostgreSQL's recent key lookups: a revoke or an account delete shows at
 * once on the node that made it, and within PG_KEY_CACHE_MS (one second) on
 * another; a key not found is looked up again every time. Whatever the
 * lookup said, an event whose key is revoked is refused by the ingest
 * itself (SKW_EREVOKED) and stores nothing, alone and in concurrent batches.
 */
static void test_pg_key_cache(void)
{
	char path[512];
	struct skw_store *a = open_new(path, sizeof(path), true);
	struct skw_store *b = reopen(path);
	unsigned char h1[SKW_KEY_HASH_LEN], h2[SKW_KEY_HASH_LEN], h3[SKW_KEY_HASH_LEN];
	struct skw_apikey k, got;
	struct skw_log_query q = {.account_id = "acct_k", .webhook_id = "wh_k", .limit = 100};
	struct skw_log_entry *e;
	size_t n;

	memset(h1, 0x11, sizeof(h1));
	memset(h2, 0x22, sizeof(h2));
	memset(h3, 0x33, sizeof(h3));
	add_account(a, "acct_k");
	add_webhook(a, "acct_k", "wh_k", "e.one", true, 3);
	k = (struct skw_apikey){.id = "key_1", .account_id = "acct_k", .created_at = T0};
	CHECK(skw_store_apikey_insert(a, &k, h1) == 0);
	k = (struct skw_apikey){.id = "key_2", .account_id = "acct_k", .created_at = T0};
	CHECK(skw_store_apikey_insert(a, &k, h2) == 0);
	for (int i = 0; i < 3; i++) { /* found, then remembered, on both nodes */
		CHECK(skw_store_apikey_find_recent(a, h1, &got) == 0 && got.revoked_at == 0);
		CHECK(skw_store_apikey_find_recent(b, h1, &got) == 0 && got.revoked_at == 0);
		CHECK_STR(got.id, "key_1");
		CHECK_STR(got.account_id, "acct_k");
	}
	CHECK(ingest_with_key(b, "acct_k", h1, NULL) == 1);
	CHECK(ingest_with_key(b, "acct_k", h1, "idem-1") == 1);

	/* revoked through a: a knows at once; b's ingest refuses it at once,
	 * whatever b's lookup still says */
	CHECK(skw_store_apikey_revoke(a, "key_1", T0 + 5) == 0);
	CHECK(skw_store_apikey_find_recent(a, h1, &got) == 0 && got.revoked_at == T0 + 5);
	CHECK(skw_store_apikey_find(b, h1, &got) == 0 && got.revoked_at == T0 + 5);
	CHECK(ingest_with_key(b, "acct_k", h1, NULL) == SKW_EREVOKED);
	CHECK(ingest_with_key(b, "acct_k", h1, "idem-2") == SKW_EREVOKED);
	CHECK(ingest_with_key(b, "acct_k", h1, "idem-1") == SKW_EREVOKED); /* a replay too */
	{
		struct key_ingest_arg args[N_THREADS];
		pthread_t th[N_THREADS];

		for (int i = 0; i < N_THREADS; i++) { /* batches of both keys */
			args[i] = (struct key_ingest_arg){.s = b, .key = i % 2 ? h1 : h2};
			CHECK(pthread_create(&th[i], NULL, key_ingest_worker, &args[i]) == 0);
		}
		for (int i = 0; i < N_THREADS; i++) {
			pthread_join(th[i], NULL);
			CHECK(args[i].rc == (i % 2 ? SKW_EREVOKED : 1));
		}
	}
	CHECK(skw_store_log_list(a, &q, &e, &n) == 0);
	CHECK(n == 2 + N_THREADS / 2); /* the live key's events only, one delivery each */
	skw_log_entries_free(e, n);
	usleep((PG_KEY_CACHE_MS + 200) * 1000);
	CHECK(skw_store_apikey_find_recent(b, h1, &got) == 0 && got.revoked_at == T0 + 5);

	/* not found is not remembered */
	CHECK(skw_store_apikey_find_recent(a, h3, &got) == SKW_ENOTFOUND);
	k = (struct skw_apikey){.id = "key_3", .account_id = "acct_k", .created_at = T0};
	CHECK(skw_store_apikey_insert(b, &k, h3) == 0);
	CHECK(skw_store_apikey_find_recent(a, h3, &got) == 0);
	CHECK_STR(got.id, "key_3");

	CHECK(skw_store_apikey_find_recent(b, h2, &got) == 0);
	CHECK(skw_store_account_delete(a, "acct_k") == 0);
	CHECK(skw_store_apikey_find_recent(a, h2, &got) == SKW_ENOTFOUND);
	CHECK(skw_store_apikey_find_recent(a, h3, &got) == SKW_ENOTFOUND);
	CHECK(ingest_with_key(b, "acct_k", h2, NULL) == SKW_EREVOKED); /* its key is gone */
	usleep((PG_KEY_CACHE_MS + 200) * 1000);
	CHECK(skw_store_apikey_find_recent(b, h2, &got) == SKW_ENOTFOUND);
	skw_store_close(b);
	skw_store_close(a);
}

static void test_pg_exclusive_claims(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), true);
	struct node nodes[N_NODES];
	pthread_t th[N_NODES];
	char(*all)[SKW_ID_MAX] = calloc(2 * N_EVENTS, SKW_ID_MAX);
	size_t n_all = 0;

	add_account(s, "acct_a");
	add_webhook(s, "acct_a", "wh_1", "e.one", true, 3);
	add_webhook(s, "acct_a", "wh_2", "e.one", true, 3);
	for (int i = 0; i < N_EVENTS; i++)
		CHECK(ingest(s, "acct_a", "e.one", NULL, 0, T0 + i % 7, NULL) == 2);
	for (int i = 0; i < N_NODES; i++) {
		nodes[i] = (struct node){.s = i ? reopen(path) : s};
		nodes[i].ids = calloc(2 * N_EVENTS, SKW_ID_MAX);
		snprintf(nodes[i].name, sizeof(nodes[i].name), "node-%d", i);
		CHECK(pthread_create(&th[i], NULL, claim_worker, &nodes[i]) == 0);
	}
	for (int i = 0; i < N_NODES; i++) {
		pthread_join(th[i], NULL);
		CHECK(nodes[i].rc == 0);
		for (size_t k = 0; k < nodes[i].n_ids && n_all < 2 * N_EVENTS; k++)
			memcpy(all[n_all++], nodes[i].ids[k], SKW_ID_MAX);
		free(nodes[i].ids);
	}
	CHECK(n_all == 2 * N_EVENTS);
	qsort(all, n_all, SKW_ID_MAX, cmp_id);
	for (size_t i = 1; i < n_all; i++)
		CHECK(strcmp(all[i - 1], all[i]) != 0);
	/* every lease names the node that holds it */
	CHECK(raw_count(path, "SELECT count(*) FROM queue WHERE lease_owner LIKE 'node-%'") ==
	      2 * N_EVENTS);
	/* a node releases only its own leases at start */
	CHECK(skw_store_release_node(nodes[1].s, "node-1") == 0);
	CHECK(raw_count(path, "SELECT count(*) FROM queue WHERE lease_owner IS NULL") ==
	      (long long)nodes[1].n_ids);
	for (int i = 1; i < N_NODES; i++)
		skw_store_close(nodes[i].s);
	free(all);
	skw_store_close(s);
}

struct opener {
	const char *url;
	int rc;
	struct skw_store *s;
};

static void *open_worker(void *arg)
{
	struct opener *op = arg;
	struct skw_store_options opt = {.url = op->url, .is_durable = true};

	op->rc = skw_store_open(&opt, &op->s, NULL, 0);
	return NULL;
}

/* Nodes starting together on an empty database: all open, one schema. */
static void test_pg_migrate_race(void)
{
	struct opener ops[N_NODES * 2];
	pthread_t th[N_NODES * 2];
	char path[512];

	pg_new_database(path, sizeof(path));
	for (int i = 0; i < N_NODES * 2; i++) {
		ops[i] = (struct opener){.url = path};
		CHECK(pthread_create(&th[i], NULL, open_worker, &ops[i]) == 0);
	}
	for (int i = 0; i < N_NODES * 2; i++) {
		pthread_join(th[i], NULL);
		CHECK(ops[i].rc == 0 && ops[i].s);
		if (ops[i].s)
			CHECK(skw_store_is_shared(ops[i].s));
		skw_store_close(ops[i].s);
	}
	CHECK(raw_count(path, "SELECT count(*) FROM skw_schema") == 1);
	CHECK(raw_count(path, "SELECT count(*) FROM pg_tables WHERE tablename = 'queue'") == 1);
}

static int n_wakeups;
static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_wakeup(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wake_mu);
	n_wakeups++;
	pthread_mutex_unlock(&wake_mu);
}

static int wakeups(void)
{
	int n;

	pthread_mutex_lock(&wake_mu);
	n = n_wakeups;
	pthread_mutex_unlock(&wake_mu);
	return n;
}

/* Work queued through one node wakes the others (LISTEN/NOTIFY). */
static void test_pg_wakeup(void)
{
	char path[512];
	struct skw_store *a = open_new(path, sizeof(path), true);
	struct skw_store *b = reopen(path);
	int before;

	add_account(a, "acct_a");
	add_webhook(a, "acct_a", "wh_1", "e.one", true, 3);
	CHECK(skw_store_set_wakeup(b, on_wakeup, NULL) == 0);
	usleep(300 * 1000); /* the listener connects */
	before = wakeups();
	CHECK(ingest(a, "acct_a", "e.one", NULL, 0, T0, NULL) == 1);
	for (int i = 0; i < 50 && wakeups() == before; i++)
		usleep(100 * 1000);
	CHECK(wakeups() > before);
	/* an event nobody subscribes to wakes nobody */
	before = wakeups();
	CHECK(ingest(a, "acct_a", "e.none", NULL, 0, T0, NULL) == 0);
	usleep(500 * 1000);
	CHECK(wakeups() == before);
	CHECK(skw_store_set_wakeup(b, NULL, NULL) == 0);
	skw_store_close(b);
	skw_store_close(a);
}

/* A connection the server dropped is replaced without the caller noticing;
 * a server that is gone gives SKW_EUNAVAIL, not a hang. */
static void test_pg_reconnect(void)
{
	char path[512], sql[256];
	struct skw_store *s = open_new(path, sizeof(path), true);
	struct skw_account a;
	int64_t due;

	add_account(s, "acct_a");
	CHECK(skw_store_ping(s) == 0);
	snprintf(sql, sizeof(sql),
		 "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
		 " WHERE datname = current_database() AND pid <> pg_backend_pid()");
	CHECK(raw_count(path, sql) >= 1);
	usleep(100 * 1000);
	CHECK(skw_store_ping(s) == 0);
	CHECK(skw_store_account_get(s, "acct_a", &a) == 0);
	skw_account_cleanup(&a);
	CHECK(skw_store_next_due(s, &due) == 0 && due == INT64_MAX);
	skw_store_close(s);
}

/* "--pg": the suite against $SKW_TEST_PG_URL (exit 77, skipped, when unset). */
/* Sign-in links: one use, expire; sessions: idle and absolute limits. */
/* The SQLite writer's jobs without a savepoint of their own
 * (sq_write_atomic, as ingest, claim and results run): one that fails
 * before any change fails alone; one that fails after a change takes its
 * whole batch down with the same error. Either way every job that returned
 * 0 is in the database and no other is. */
enum atomic_mode { AM_INSERT, AM_FAIL_AFTER, AM_FAIL_BEFORE, AM_PLAIN };

struct atomic_arg {
	struct skw_store *s;
	enum atomic_mode mode;
	char id[32];
	int rc;
};

static int atomic_job(struct sq_conn *c, void *arg)
{
	struct atomic_arg *a = arg;
	sqlite3_stmt *st;
	int rc;

	if (a->mode == AM_FAIL_BEFORE)
		return SKW_ENOTFOUND;
	rc = sq_prep(c, "INSERT INTO accounts (id, name, created_at) VALUES (?1, 'x', 0)", &st);
	if (rc)
		return rc;
	sq_bind_text(st, 1, a->id);
	rc = sq_done(c, st);
	return rc ? rc : a->mode == AM_FAIL_AFTER ? SKW_EIO : 0;
}

static void *atomic_worker(void *arg)
{
	struct atomic_arg *a = arg;

	a->rc = a->mode == AM_PLAIN ? sq_write(a->s, atomic_job, a)
				    : sq_write_atomic(a->s, atomic_job, a);
	return NULL;
}

static bool account_exists(const char *path, const char *id)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM accounts WHERE id = '%s'", id);
	return raw_count(path, sql) == 1;
}

static void test_sqlite_atomic_jobs(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), true);
	struct atomic_arg a[4 * N_THREADS];
	pthread_t th[4 * N_THREADS];
	int n_ok = 0;

	/* alone */
	a[0] = (struct atomic_arg){.s = s, .mode = AM_FAIL_AFTER, .id = "acct_alone_fail"};
	CHECK(sq_write_atomic(s, atomic_job, &a[0]) == SKW_EIO);
	CHECK(!account_exists(path, "acct_alone_fail"));
	a[0] = (struct atomic_arg){.s = s, .mode = AM_FAIL_BEFORE, .id = "acct_alone_none"};
	CHECK(sq_write_atomic(s, atomic_job, &a[0]) == SKW_ENOTFOUND);
	a[0] = (struct atomic_arg){.s = s, .mode = AM_INSERT, .id = "acct_alone_ok"};
	CHECK(sq_write_atomic(s, atomic_job, &a[0]) == 0);
	CHECK(account_exists(path, "acct_alone_ok"));

	/* mixed in batches */
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 4 * N_THREADS; i++) {
			a[i] = (struct atomic_arg){.s = s, .mode = (enum atomic_mode)(i % 4)};
			snprintf(a[i].id, sizeof(a[i].id), "acct_%d_%d", round, i);
			CHECK(pthread_create(&th[i], NULL, atomic_worker, &a[i]) == 0);
		}
		for (int i = 0; i < 4 * N_THREADS; i++)
			pthread_join(th[i], NULL);
		for (int i = 0; i < 4 * N_THREADS; i++) {
			bool is_there = account_exists(path, a[i].id);

			if (a[i].mode == AM_FAIL_AFTER)
				CHECK(a[i].rc == SKW_EIO && !is_there);
			else if (a[i].mode == AM_FAIL_BEFORE) /* or after a batchmate failed */
				CHECK((a[i].rc == SKW_ENOTFOUND || a[i].rc == SKW_EIO) &&
				      !is_there);
			else if (a[i].rc == 0)
				CHECK(is_there);
			else
				CHECK(a[i].rc == SKW_EIO && !is_there); /* a batchmate failed */
			n_ok += a[i].rc == 0;
		}
	}
	CHECK(n_ok > 0);
	skw_store_close(s);
}

/*
 * This binary's own fdatasync(), which the store and SQLite call instead of
 * libc's: it counts the syncs of WAL files and, while fail_wal_syncs is set,
 * fails them with EIO as a failing disk would. Every other sync goes to the
 * kernel unchanged.
 */
static atomic_int n_wal_syncs;
static atomic_bool fail_wal_syncs;

static bool is_wal_fd(int fd)
{
	char link[64], target[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target));
	return n > 4 && !memcmp(target + n - 4, "-wal", 4);
}

int fdatasync(int fd)
{
	if (is_wal_fd(fd)) {
		if (atomic_load(&fail_wal_syncs)) {
			errno = EIO;
			return -1;
		}
		atomic_fetch_add(&n_wal_syncs, 1);
	}
	return (int)syscall(SYS_fdatasync, fd);
}

/* A durable SQLite store answers a write only once the WAL holding it has
 * been synced; a write whose sync fails is not reported as done, and
 * neither is any later one until the store is reopened. */
static void test_sqlite_sync(void)
{
	char path[512], id[32];
	struct skw_store *s = open_new(path, sizeof(path), true);
	struct skw_account a = {.name = "Acme", .created_at = T0};
	int before;

	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "acct_sync_%d", i);
		before = atomic_load(&n_wal_syncs);
		add_account(s, id);
		CHECK(atomic_load(&n_wal_syncs) > before);
	}
	atomic_store(&fail_wal_syncs, true);
	skw_strlcpy(a.id, "acct_sync_fail", sizeof(a.id));
	CHECK(skw_store_account_insert(s, &a) == SKW_EIO);
	atomic_store(&fail_wal_syncs, false);
	/* failed until reopened: a later sync's success could hide lost pages */
	skw_strlcpy(a.id, "acct_sync_later", sizeof(a.id));
	CHECK(skw_store_account_insert(s, &a) == SKW_EIO);
	CHECK(skw_store_ping(s) == SKW_EIO);
	skw_store_close(s);
	s = reopen(path);
	CHECK(skw_store_ping(s) == 0);
	add_account(s, "acct_sync_after");
	CHECK(account_exists(path, "acct_sync_after"));
	skw_store_close(s);

	/* the non-durable setting never syncs on a write */
	s = open_new(path, sizeof(path), false);
	before = atomic_load(&n_wal_syncs);
	add_account(s, "acct_nosync");
	CHECK(atomic_load(&n_wal_syncs) == before);
	skw_store_close(s);
}

static void test_links_sessions(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), false);
	unsigned char h1[SKW_TOKEN_HASH_LEN], h2[SKW_TOKEN_HASH_LEN], h3[SKW_TOKEN_HASH_LEN];
	char acct[SKW_ID_MAX];
	struct skw_session sess;
	const int64_t MIN = 60000;

	memset(h1, 1, sizeof(h1));
	memset(h2, 2, sizeof(h2));
	memset(h3, 3, sizeof(h3));
	add_account(s, "acct_a");
	CHECK(skw_store_login_link_insert(s, h1, "acct_a", T0, T0 + 15 * MIN) == 0);
	CHECK(skw_store_login_link_insert(s, h2, "acct_a", T0, T0 + 15 * MIN) == 0);
	CHECK(skw_store_login_link_insert(s, h3, "acct_none", T0, T0 + 15 * MIN) == SKW_ENOTFOUND);
	/* used once */
	CHECK(skw_store_login_link_consume(s, h1, T0 + MIN, acct) == 0);
	CHECK_STR(acct, "acct_a");
	CHECK(skw_store_login_link_consume(s, h1, T0 + MIN, acct) == SKW_ENOTFOUND);
	/* expired: refused (and gone) */
	CHECK(skw_store_login_link_consume(s, h2, T0 + 15 * MIN, acct) == SKW_ENOTFOUND);
	CHECK(skw_store_login_link_consume(s, h2, T0, acct) == SKW_ENOTFOUND);
	CHECK(skw_store_login_link_consume(s, h3, T0, acct) == SKW_ENOTFOUND);

	/* idle timeout: 30 minutes without a request ends it */
	CHECK(skw_store_session_insert(s, h1, "acct_a", T0, T0 + 480 * MIN) == 0);
	CHECK(skw_store_session_touch(s, h1, T0 + 10 * MIN, 30 * MIN, &sess) == 0);
	CHECK_STR(sess.account_id, "acct_a");
	CHECK(sess.expires_at == T0 + 480 * MIN);
	CHECK(skw_store_session_touch(s, h1, T0 + 39 * MIN, 30 * MIN, &sess) == 0);
	CHECK(skw_store_session_touch(s, h1, T0 + 70 * MIN, 30 * MIN, &sess) == SKW_ENOTFOUND);
	/* absolute end: 8 hours however busy */
	CHECK(skw_store_session_insert(s, h2, "acct_a", T0, T0 + 480 * MIN) == 0);
	for (int64_t t = T0 + 20 * MIN; t < T0 + 480 * MIN; t += 20 * MIN)
		CHECK(skw_store_session_touch(s, h2, t, 30 * MIN, &sess) == 0);
	CHECK(skw_store_session_touch(s, h2, T0 + 480 * MIN, 30 * MIN, &sess) == SKW_ENOTFOUND);
	/* sign out */
	CHECK(skw_store_session_insert(s, h3, "acct_a", T0, T0 + 480 * MIN) == 0);
	CHECK(skw_store_session_delete(s, h3) == 0);
	CHECK(skw_store_session_touch(s, h3, T0 + MIN, 30 * MIN, &sess) == SKW_ENOTFOUND);
	CHECK(skw_store_session_delete(s, h3) == 0);
	/* deleting the account ends its sessions */
	CHECK(skw_store_session_insert(s, h3, "acct_a", T0, T0 + 480 * MIN) == 0);
	CHECK(skw_store_account_delete(s, "acct_a") == 0);
	CHECK(skw_store_session_touch(s, h3, T0 + MIN, 30 * MIN, &sess) == SKW_ENOTFOUND);
	skw_store_close(s);
}

/* Hourly statistics and the last delivery shown in the list. */
static void test_stats_last(void)
{
	char path[512];
	struct skw_store *s = open_new(path, sizeof(path), false);
	struct skw_stat_bucket b[3];
	struct skw_webhook wh;
	struct skw_work w;
	const int64_t HOUR = 3600000;

	add_account(s, "acct_a");
	add_account(s, "acct_b");
	add_webhook(s, "acct_a", "wh_1", "e.one", true, 3);
	CHECK(skw_store_webhook_get(s, "acct_a", "wh_1", &wh) == 0);
	CHECK(wh.last_status == 0 && wh.last_at == 0);
	CHECK(skw_store_test_prepare(s, &wh, "evt_s1", "{}", 2, T0, &w) == 0);
	CHECK(complete(s, &w, false, 500, T0 + 10, 0) == 0);
	skw_work_cleanup(&w);
	CHECK(skw_store_test_prepare(s, &wh, "evt_s2", "{}", 2, T0, &w) == 0);
	CHECK(complete(s, &w, true, 200, T0 + HOUR + 10, 0) == 0);
	skw_work_cleanup(&w);
	CHECK(skw_store_test_prepare(s, &wh, "evt_s3", "{}", 2, T0, &w) == 0);
	CHECK(complete(s, &w, true, 204, T0 + HOUR + 20, 0) == 0);
	skw_work_cleanup(&w);
	skw_webhook_cleanup(&wh);

	CHECK(skw_store_webhook_stats(s, "acct_a", "wh_1", T0, HOUR, 3, b) == 0);
	CHECK(b[0].start == T0 && b[0].succeeded == 0 && b[0].failed == 1);
	CHECK(b[1].start == T0 + HOUR && b[1].succeeded == 2 && b[1].failed == 0);
	CHECK(b[2].succeeded == 0 && b[2].failed == 0);
	CHECK(skw_store_webhook_stats(s, "acct_b", "wh_1", T0, HOUR, 3, b) == SKW_ENOTFOUND);

	CHECK(skw_store_webhook_get(s, "acct_a", "wh_1", &wh) == 0);
	CHECK(wh.last_status == SKW_LOG_SUCCEEDED && wh.last_status_code == 204);
	CHECK(wh.last_at == T0 + HOUR + 20);
	skw_webhook_cleanup(&wh);
	skw_store_close(s);
}

int main(int argc, char **argv)
{
	const char *db = getenv("SKW_TEST_DB");
	char cmd[128];

	if (argc > 1 && !strcmp(argv[1], "--pg")) {
		db = getenv("SKW_TEST_PG_URL");
		if (!db || !*db) {
			printf("SKW_TEST_PG_URL is not set: skipped\n");
			return 77;
		}
	}

	if (sodium_init() < 0 || !mkdtemp(tmp_dir)) {
		fprintf(stderr, "setup failed\n");
		return EXIT_FAILURE;
	}
	if (db && *db && strncmp(db, "sqlite", 6)) {
		pg_base = db;
		if (pg_scalar(pg_base, "SELECT 1") != 1) {
			fprintf(stderr, "SKW_TEST_DB is set but PostgreSQL does not answer\n");
			return EXIT_FAILURE;
		}
		printf("backend: postgres\n");
	} else {
		printf("backend: sqlite\n");
	}
	RUN(test_open_urls);
	RUN(test_accounts);
	RUN(test_apikeys);
	RUN(test_webhooks);
	RUN(test_fanout);
	RUN(test_idempotency);
	RUN(test_claim_lease);
	RUN(test_handoff);
	RUN(test_claim_fair);
	RUN(test_complete);
	RUN(test_release_next_due);
	RUN(test_log);
	RUN(test_test_send);
	RUN(test_account_delete);
	RUN(test_reopen);
	RUN(test_concurrent);
	RUN(test_ingest_start);
	RUN(test_ingest_batch_failure);
	RUN(test_batch_isolation);
	RUN(test_links_sessions);
	RUN(test_stats_last);
	if (!is_pg()) {
		RUN(test_sqlite_atomic_jobs);
		RUN(test_sqlite_sync);
	}
	if (is_pg()) {
		RUN(test_pg_exclusive_claims);
		RUN(test_pg_key_cache);
		RUN(test_pg_migrate_race);
		RUN(test_pg_wakeup);
		RUN(test_pg_reconnect);
		pg_drop_databases();
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmp_dir);
	return CHECK_DONE();
}
