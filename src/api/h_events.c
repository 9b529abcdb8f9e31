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

enum MHD_Result skw_h_events(struct skw_req *r, char **seg, size_t n_seg)
{
	struct skw_event_in ev = {0};
	struct skw_event_out out = {0};
	struct skw_engine_handoff ho;
	struct skw_payload_error pe;
	struct skw_payload p = {0};
	enum MHD_Result res;
	const char *idem;
	json_t *body;
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
	ev.now = skw_now_ms();
	rc = skw_payload_build(body, r->body, r->body_len, ev.now, &p, &pe);
	json_decref(body);
	if (rc)
		return skw_reply_error(r, pe.status,
				       pe.status == 400 ? "wrong_type" : "validation_failed",
				       pe.field, "%s", pe.message);
	skw_sorted_id("evt_", ev.now, ev.id, sizeof(ev.id)); /* time-ordered: the events index */
	ev.account_id = r->who.account_id;
	ev.event = p.event;
	ev.body = p.body;
	ev.body_len = p.body_len;
	ev.idem_key = idem;
	ev.key_hash = r->who.key_id[0] ? r->who.key_hash : NULL;
	if (idem) /* what a replay is compared with */
		crypto_generichash(ev.req_hash, sizeof(ev.req_hash), (const unsigned char *)r->body,
				   r->body_len, NULL, 0);
	if (skw_engine_handoff_begin(r->api->cfg.engine, &ho))
		ev.handoff = &ho.in;
	rc = skw_store_event_ingest(r->api->cfg.store, &ev, &out);
	skw_payload_cleanup(&p);
	if (!rc && out.n_works)
		skw_engine_handoff_end(&ho, out.works, out.n_works); /* takes them */
	if (rc == SKW_ECONFLICT)
		return skw_reply_error(r, 409, "idempotency_conflict", "Idempotency-Key",
				       "this Idempotency-Key was used with a different request in "
				       "the last 24 hours");
	if (rc == SKW_EREVOKED)
		return skw_reply_unauthorized(r, "the API key is not valid or has been revoked");
	if (rc)
		return skw_reply_store_error(r, rc);
	if (!out.is_replay) {
		skw_metric_add(SKW_M_EVENTS_ACCEPTED, 1);
		skw_metric_add(SKW_M_DELIVERIES_QUEUED, out.n_deliveries);
	}
	/* what was not handed off waits in the queue: claim it now */
	if ((size_t)out.n_deliveries > out.n_works && !out.is_replay && r->api->cfg.engine)
		skw_engine_notify(r->api->cfg.engine);
	return skw_reply_json(
	    r, 202, json_pack("{s:s, s:i}", "id", out.id, "deliveries", out.n_deliveries));
}
