/*
 * h_events.c - POST /api/v1/events: SchedulingKit reports an event.
 *
 * The payload each receiver gets is built here once, byte for byte:
 * {"event":...,"timestamp":...,"data":<data exactly as given>}. The answer
 * (202) is sent only after the store has durably committed the event and
 * its deliveries.
 *
 * On a node whose engine sends, the deliveries are handed to it directly
 * (skw_engine_handoff_begin): the store inserts them already leased to this
 * node and the engine starts them as soon as the ingest commits. Those that
 * do not fit (limits) stay queued and are claimed as before.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../core/err.h"
#include "../core/events.h"
#include "../core/json.h"
#include "../core/log.h"
#include "../core/metrics.h"
#include "payload.h"

#define IDEM_KEY_MAX 255

static bool idem_key_ok(const char *k)
{
	size_t n = strlen(k);

	if (!n || n > IDEM_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e)
			return false;
	return true;
}

/* An event on its way into the store: lives until the reply. */
struct ingest {
	struct skw_event_in ev;
	struct skw_event_out out;
	struct skw_engine_handoff ho;
	struct skw_payload p;
	int rc;
};

/* Hands the committed deliveries to the engine and frees in. Returns rc. */
static int settle(struct skw_req *r, struct ingest *in)
{
	int rc = in->rc;

	skw_payload_cleanup(&in->p);
	if (!rc && in->out.n_works)
		skw_engine_handoff_end(&in->ho, in->out.works, in->out.n_works); /* takes them */
	if (!rc && !in->out.is_replay) {
		skw_metric_add(SKW_M_EVENTS_ACCEPTED, 1);
		skw_metric_add(SKW_M_DELIVERIES_QUEUED, in->out.n_deliveries);
		/* what was not handed off waits in the queue: claim it now */
		if ((size_t)in->out.n_deliveries > in->out.n_works && r->api->cfg.engine)
			skw_engine_notify(r->api->cfg.engine);
	}
	return rc;
}

static enum MHD_Result answer(struct skw_req *r, struct ingest *in)
{
	char id[SKW_ID_MAX];
	int n = in->out.n_deliveries;
	int rc = settle(r, in);

	skw_strlcpy(id, in->out.id, sizeof(id));
	free(in);
	if (rc == SKW_ECONFLICT)
		return skw_reply_error(r, 409, "idempotency_conflict", "Idempotency-Key",
				       "this Idempotency-Key was used with a different request in "
				       "the last 24 hours");
	if (rc == SKW_EREVOKED)
		return skw_reply_unauthorized(r, "the API key is not valid or has been revoked");
	if (rc)
		return skw_reply_store_error(r, rc);
	return skw_reply_json(r, 202, json_pack("{s:s, s:i}", "id", id, "deliveries", n));
}

static enum MHD_Result on_resume(struct skw_req *r)
{
	return answer(r, r->wait_ctx);
}

/* The request ended before its answer was sent (the server stopping): the
 * event is stored all the same, and its deliveries go to the engine. */
static void on_abandon(struct skw_req *r)
{
	settle(r, r->wait_ctx);
	free(r->wait_ctx);
}

/* The store's answer (a store thread). */
static void on_ingested(void *arg, int rc)
{
	struct skw_req *r = arg;
	struct ingest *in = r->wait_ctx;

	in->rc = rc;
	skw_req_wake(r);
}

enum MHD_Result skw_h_events(struct skw_req *r, char **seg, size_t n_seg)
{
	struct skw_payload_error pe;
	struct skw_store *store = r->api->cfg.store;
	struct ingest *in;
	enum MHD_Result res;
	const char *idem;
	json_t *body;
	int64_t now;
	int rc;

	(void)seg;
	if (n_seg)
		return skw_reply_not_found(r);
	if (strcmp(r->method, "POST"))
		return skw_reply_method(r, "POST");
	if (!skw_auth_event(r, &res))
		return res;
	idem = skw_req_header(r, "Idempotency-Key");
	if (idem && !idem_key_ok(idem))
		return skw_reply_error(r, 422, "validation_failed", "Idempotency-Key",
				       "Idempotency-Key must be 1-%d printable ASCII characters",
				       IDEM_KEY_MAX);
	/* data is forwarded byte for byte, so integers beyond 64 bits are only
	 * validated, never converted: parse them as reals. */
	body = skw_req_json(r, JSON_DECODE_INT_AS_REAL, &res);
	if (!body)
		return res;
	in = calloc(1, sizeof(*in));
	if (!in) {
		json_decref(body);
		return skw_reply_store_error(r, SKW_ENOMEM);
	}
	now = skw_now_ms();
	rc = skw_payload_build(body, r->body, r->body_len, now, &in->p, &pe);
	json_decref(body);
	if (rc) {
		free(in);
		return skw_reply_error(r, pe.status,
				       pe.status == 400 ? "wrong_type" : "validation_failed",
				       pe.field, "%s", pe.message);
	}
	in->ev.now = now;
	skw_sorted_id("evt_", now, in->ev.id, sizeof(in->ev.id)); /* time-ordered: the index */
	in->ev.account_id = r->who.account_id;
	in->ev.event = in->p.event;
	in->ev.body = in->p.body;
	in->ev.body_len = in->p.body_len;
	in->ev.idem_key = idem;
	in->ev.key_hash = r->who.key_id[0] ? r->who.key_hash : NULL;
	if (idem) /* what a replay is compared with */
		crypto_generichash(in->ev.req_hash, sizeof(in->ev.req_hash),
				   (const unsigned char *)r->body, r->body_len, NULL, 0);
	if (skw_engine_handoff_begin(r->api->cfg.engine, &in->ho))
		in->ev.handoff = &in->ho.in;
	if (!skw_store_has_ingest_start(store)) {
		in->rc = skw_store_event_ingest(store, &in->ev, &in->out);
		return answer(r, in);
	}
	/* the answer waits for the commit; the HTTP thread serves others */
	r->wait_ctx = in;
	r->abandon = on_abandon;
	skw_req_wait(r, on_resume);
	rc = skw_store_event_ingest_start(store, &in->ev, &in->out, on_ingested, r);
	if (rc) {
		in->rc = rc;
		skw_req_wake(r);
	}
	return MHD_YES;
}
