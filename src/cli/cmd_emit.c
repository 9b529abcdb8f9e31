/*
 * cmd_emit.c - `skwebhooks emit EVENT --account ID --data @file.json`:
 * reports an event from the command line, through the same validation,
 * payload builder and store transaction as POST /api/v1/events. A running
 * server picks the deliveries up within a second (its engine polls the
 * store as a fallback to in-process notification).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../api/payload.h"
#include "../core/err.h"
#include "cli.h"

static const char usage[] =
    "usage: skwebhooks emit EVENT --account ID --data @FILE|JSON [--timestamp RFC3339]\n"
    "                       [--idempotency-key KEY] [--db URL] [--json]\n"
    "\n"
    "Reports an event, exactly like POST /api/v1/events: every enabled webhook of\n"
    "the account subscribed to EVENT gets a delivery. --data takes a JSON object,\n"
    "or @FILE to read it from a file (@- for standard input).\n";

#define EMIT_MAX_DATA (16 * 1024 * 1024)

static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);

	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (got == 0)
			break;
		if (n == cap) {
			char *b;

			if (cap >= EMIT_MAX_DATA) {
				free(buf);
				return NULL;
			}
			cap *= 2;
			b = realloc(buf, cap + 1);
			if (!b) {
				free(buf);
				return NULL;
			}
			buf = b;
		}
	}
	if (buf) {
		buf[n] = '\0';
		*len = n;
	}
	return buf;
}

/*
 * The request as the API would receive it, with --data's bytes spliced in
 * verbatim so receivers get the file's JSON exactly. Returns owned.
 */
static char *build_request(const char *event, const char *data, size_t data_len, const char *ts)
{
	json_t *e = json_string(event), *t = ts ? json_string(ts) : NULL;
	char *es = e ? json_dumps(e, JSON_ENCODE_ANY) : NULL;
	char *tsj = t ? json_dumps(t, JSON_ENCODE_ANY) : NULL;
	size_t len = (es ? strlen(es) : 0) + data_len + (tsj ? strlen(tsj) : 0) + 64;
	char *out = es ? malloc(len) : NULL;

	if (out)
		snprintf(out, len, "{\"event\":%s,\"data\":%.*s%s%s}", es, (int)data_len, data,
			 tsj ? ",\"timestamp\":" : "", tsj ? tsj : "");
	json_decref(e);
	json_decref(t);
	free(es);
	free(tsj);
	return out;
}

static void print_emit(json_t *j)
{
	printf("event %s: %lld deliveries queued\n", json_string_value(json_object_get(j, "id")),
	       (long long)json_integer_value(json_object_get(j, "deliveries")));
}

int skw_cmd_emit(int argc, char **argv)
{
	struct skw_cli c;
	struct skw_payload_error pe;
	struct skw_payload p = {0};
	struct skw_event_in ev = {0};
	struct skw_event_out out = {0};
	struct skw_store *s;
	const char *event = NULL, *account = NULL, *data = NULL, *ts = NULL, *idem = NULL;
	char *data_buf = NULL, *raw;
	size_t data_len = 0;
	json_error_t jerr;
	json_t *req;
	int rc;

	skw_cli_init(&c, "skwebhooks emit", usage);
	for (int i = 1; i < argc; i++) {
		if (skw_cli_common(&c, argc, argv, &i) ||
		    skw_cli_opt(&c, argc, argv, &i, "account", &account) ||
		    skw_cli_opt(&c, argc, argv, &i, "data", &data) ||
		    skw_cli_opt(&c, argc, argv, &i, "timestamp", &ts) ||
		    skw_cli_opt(&c, argc, argv, &i, "idempotency-key", &idem))
			continue;
		if (argv[i][0] == '-')
			skw_cli_usage_error(&c, "unknown option %s", argv[i]);
		if (event)
			skw_cli_usage_error(&c, "unexpected argument \"%s\"", argv[i]);
		event = argv[i];
	}
	if (!event)
		skw_cli_usage_error(&c, "missing EVENT");
	if (!account)
		skw_cli_usage_error(&c, "missing --account ID");
	if (!data)
		skw_cli_usage_error(&c, "missing --data");
	if (data[0] == '@') {
		FILE *f = strcmp(data, "@-") ? fopen(data + 1, "rb") : stdin;

		if (!f)
			skw_cli_usage_error(&c, "cannot open %s", data + 1);
		data_buf = read_all(f, &data_len);
		if (f != stdin)
			fclose(f);
		if (!data_buf)
			skw_cli_fail(&c, "cannot read %s (over 16 MiB?)", data + 1);
	} else {
		data_buf = strdup(data);
		data_len = strlen(data);
	}
	raw = build_request(event, data_buf, data_len, ts);
	if (!raw)
		skw_cli_fail(&c, "out of memory");
	req = json_loads(raw, JSON_REJECT_DUPLICATES, &jerr);
	if (!req || !json_is_object(req))
		skw_cli_usage_error(&c, "--data is not valid JSON: %s", jerr.text);
	ev.now = skw_now_ms();
	rc = skw_payload_build(req, raw, strlen(raw), ev.now, &p, &pe);
	if (rc)
		skw_cli_usage_error(&c, "%s: %s", pe.field, pe.message);
	skw_random_id("evt_", ev.id, sizeof(ev.id));
	ev.account_id = account;
	ev.event = p.event;
	ev.body = p.body;
	ev.body_len = p.body_len;
	ev.idem_key = idem;
	crypto_generichash(ev.req_hash, sizeof(ev.req_hash), (const unsigned char *)raw,
			   raw ? strlen(raw) : 0, NULL, 0);
	s = skw_cli_open_store(&c);
	{
		struct skw_account a;

		rc = skw_store_account_get(s, account, &a);
		if (rc)
			skw_cli_fail(&c, "no account %s", account);
		skw_account_cleanup(&a);
	}
	rc = skw_store_event_ingest(s, &ev, &out);
	skw_store_close(s);
	skw_payload_cleanup(&p);
	free(raw);
	free(data_buf);
	json_decref(req);
	if (rc == SKW_ECONFLICT)
		skw_cli_fail(&c, "this idempotency key was used with a different request");
	if (rc)
		skw_cli_fail(&c, "cannot store the event: %s", skw_strerror(rc));
	skw_cli_print(&c, json_pack("{s:s, s:i}", "id", out.id, "deliveries", out.n_deliveries),
		      print_emit);
	return 0;
}
