// delivery_crash.test.mjs - durability: kill -9 of serve in the middle of a
// 1,000-event run, restart on the same database; every acknowledged (202)
// event must reach every subscribed webhook, duplicates only with the same
// delivery id.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api, createAccount, createWebhook, waitFor, sleep } from './lib.mjs';
import { startReceiver } from './receivers.mjs';

const TOTAL = 1000;
const PARALLEL = 16;
const KILL_AFTER_ACKS = 400;
const PATHS = ['/crash/1', '/crash/2'];

let rx;
const servers = [];
after(async () => {
  for (const s of servers) await s.stop('SIGKILL');
  await rx?.close();
});

test('kill -9 during a 1,000-event run loses no acknowledged event', { timeout: 240000 }, async (t) => {
  rx = await startReceiver();
  // receivers are slowish so work is queued and in flight when the kill lands
  for (const p of PATHS) rx.on(p, { status: 200, delayMs: 100 });
  const s1 = await startServer();
  servers.push(s1);
  const a = await createAccount(s1, 'crash');
  for (const p of PATHS) await createWebhook(s1, a.api_key, { url: rx.at(p), events: ['booking.created'], retry_attempts: 10, timeout: 5 });

  const acked = new Map(); // n -> event id
  const failedSends = [];
  let next = 0;
  let killed = false;
  let killAt = null;
  const worker = async () => {
    while (next < TOTAL) {
      const n = next++;
      try {
        const r = await api(s1, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { n } });
        if (r.status === 202) {
          acked.set(n, r.json.id);
          if (!killed && acked.size >= KILL_AFTER_ACKS) {
            killed = true;
            killAt = Date.now();
            s1.proc.kill('SIGKILL');
          }
        } else {
          failedSends.push({ n, status: r.status });
        }
      } catch (e) {
        failedSends.push({ n, error: e.code || e.message });
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  assert.ok(killed, `the kill happened (acked ${acked.size})`);
  assert.ok(killAt);
  const st = await s1.exited;
  assert.equal(st.signal, 'SIGKILL');
  const ackedCount = acked.size;
  assert.ok(ackedCount >= KILL_AFTER_ACKS, `acked ${ackedCount}`);

  const deliveredBeforeRestart = new Set(rx.requests.filter((q) => q.json).map((q) => `${q.path}|${q.json.data.n}`)).size;
  t.diagnostic(`acked ${ackedCount}, send failures ${failedSends.length}, (event, webhook) pairs delivered before restart ${deliveredBeforeRestart} of ${ackedCount * PATHS.length}`);
  const s2 = await startServer({ dir: s1.dir });
  servers.push(s2);

  const byKey = () => {
    // (path, n) -> Set(delivery id)
    const m = new Map();
    for (const q of rx.requests) {
      if (!PATHS.includes(q.path) || !q.json) continue;
      const k = `${q.path}|${q.json.data.n}`;
      if (!m.has(k)) m.set(k, new Set());
      m.get(k).add(q.headers['x-webhook-delivery-id']);
    }
    return m;
  };
  await waitFor(() => {
    const m = byKey();
    for (const n of acked.keys()) for (const p of PATHS) if (!m.has(`${p}|${n}`)) return false;
    return true;
  }, 120000, { interval: 250, msg: `all ${ackedCount} acknowledged events at both webhooks` });
  await sleep(1500); // let stragglers arrive so duplicates would show

  const m = byKey();
  const missing = [];
  for (const n of acked.keys()) for (const p of PATHS) if (!m.has(`${p}|${n}`)) missing.push(`${p}|${n}`);
  assert.deepEqual(missing, [], 'every acknowledged event delivered to both webhooks');

  const multiIds = [...m.entries()].filter(([, ids]) => ids.size !== 1).map(([k, ids]) => `${k}: ${[...ids].join(',')}`);
  assert.deepEqual(multiIds, [], 'duplicates only with the same delivery id');

  const ackedIds = new Set();
  for (const n of acked.keys()) for (const p of PATHS) for (const id of m.get(`${p}|${n}`)) ackedIds.add(id);
  assert.equal(ackedIds.size, ackedCount * PATHS.length, 'distinct delivery ids = acknowledged x webhooks');

  // events that were not acknowledged may or may not exist, but never more than
  // the requests that were in flight when the kill landed
  const unacked = [...m.keys()].filter((k) => !acked.has(Number(k.split('|')[1])));
  const unackedEvents = new Set(unacked.map((k) => k.split('|')[1]));
  assert.ok(unackedEvents.size <= PARALLEL, `unacknowledged events delivered: ${unackedEvents.size}`);
  for (const q of rx.requests) {
    if (PATHS.includes(q.path)) assert.equal(q.method, 'POST');
  }

  // the restarted server is healthy and accepts more work
  const r = await api(s2, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { n: 'after' } });
  assert.equal(r.status, 202);
  await waitFor(() => PATHS.every((p) => rx.reqs(p).some((q) => q.json && q.json.data.n === 'after')), 20000,
    { msg: 'post-restart event delivered' });
});
