// delivery_retry.test.mjs - failure handling: retries and their count,
// timeouts, redirects not followed, Retry-After, disable/enable, delete, and
// graceful shutdown with a delivery in flight.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  startServer, api, createAccount, createWebhook, getDeliveries, allDeliveries, waitFor, sleep, RFC3339_UTC,
} from './lib.mjs';
import { startReceiver } from './receivers.mjs';

let srv;
let rx;
before(async () => { [srv, rx] = await Promise.all([startServer(), startReceiver()]); });
after(async () => { await Promise.all([srv?.stop('SIGKILL'), rx?.close()]); });

const hmac = (secret, body) => crypto.createHmac('sha256', secret).update(body).digest('hex');

test('always-500 receiver gets exactly 1 + retry_attempts attempts with one delivery id', async () => {
  const a = await createAccount(srv, 'r500');
  rx.on('/r500', { status: 500, body: 'nope' });
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/r500'), retry_attempts: 2 });
  const ev = await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { try: 1 } });
  assert.equal(ev.status, 202);
  await rx.waitForCount('/r500', 3, 15000);
  const log = await waitFor(async () => {
    const l = await allDeliveries(srv, a.api_key, w.id);
    return l.length === 3 && l.every((e) => e.status === 'failed') ? l : false;
  }, 10000, { msg: '3 failed log rows' });
  await sleep(1500);
  const reqs = rx.reqs('/r500');
  assert.equal(reqs.length, 3, 'exactly three attempts');
  const dids = new Set(reqs.map((r) => r.headers['x-webhook-delivery-id']));
  assert.equal(dids.size, 1, 'same delivery id on every attempt');
  for (const r of reqs) {
    assert.deepEqual(r.body, reqs[0].body, 'same body on every attempt');
    assert.equal(r.headers['x-webhook-signature'], hmac(w.secret, r.body));
  }
  const final = await allDeliveries(srv, a.api_key, w.id);
  assert.equal(final.length, 3, JSON.stringify(final));
  assert.deepEqual(final.map((e) => e.attempt), [3, 2, 1], 'newest first');
  for (const e of final) {
    assert.equal(e.status, 'failed');
    assert.equal(e.status_code, 500);
    assert.equal(e.response, 'nope');
    assert.equal(e.max_attempts, 3);
    assert.equal(e.delivery_id, [...dids][0]);
    assert.equal(e.event_id, ev.json.id);
    assert.equal(e.delivered_at, null);
    assert.match(e.started_at, RFC3339_UTC);
  }
  assert.deepEqual(log.map((e) => e.attempt), [3, 2, 1]);
  assert.deepEqual(await allDeliveries(srv, a.api_key, w.id, { status: 'pending' }), [], 'nothing pending');
  assert.equal((await allDeliveries(srv, a.api_key, w.id, { status: 'failed' })).length, 3);
});

test('retry_attempts 0 means a single attempt; a later success stops retrying', async () => {
  const a = await createAccount(srv, 'r0');
  rx.on('/r0', { status: 503, body: 'down' });
  const w0 = await createWebhook(srv, a.api_key, { url: rx.at('/r0'), retry_attempts: 0 });
  rx.on('/rok', { sequence: [{ status: 500 }, { status: 502 }, { status: 200, body: 'finally' }] });
  const w1 = await createWebhook(srv, a.api_key, { url: rx.at('/rok'), retry_attempts: 5 });
  await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
  await rx.waitForCount('/r0', 1);
  await rx.waitForCount('/rok', 3);
  await sleep(1500);
  assert.equal(rx.reqs('/r0').length, 1);
  assert.equal(rx.reqs('/rok').length, 3, 'no attempt after the success');
  const l0 = await allDeliveries(srv, a.api_key, w0.id);
  assert.equal(l0.length, 1);
  assert.equal(l0[0].max_attempts, 1);
  assert.equal(l0[0].status, 'failed');
  const l1 = await allDeliveries(srv, a.api_key, w1.id);
  assert.deepEqual(l1.map((e) => [e.attempt, e.status, e.status_code]),
    [[3, 'succeeded', 200], [2, 'failed', 502], [1, 'failed', 500]]);
  assert.equal(l1[0].response, 'finally');
  assert.match(l1[0].delivered_at, RFC3339_UTC);
});

test('a hanging receiver is cut at the timeout and the error says so', async () => {
  const a = await createAccount(srv, 'hang');
  rx.on('/hang', { hang: true });
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/hang'), timeout: 1, retry_attempts: 0 });
  await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
  await rx.waitForCount('/hang', 1);
  const e = await waitFor(async () => (await getDeliveries(srv, a.api_key, w.id)).data.find((x) => x.status === 'failed'),
    15000, { msg: 'failed (timed out) log row' });
  assert.match(String(e.error), /time/i, `error mentions the timeout: ${e.error}`);
  assert.equal(e.status_code, null);
  assert.ok(e.duration_ms >= 900, `cut no earlier than the 1 s timeout (${e.duration_ms} ms)`);
});

test('the timeout bounds the whole attempt (a slowly dripping body is cut too)', async () => {
  const a = await createAccount(srv, 'drip');
  rx.on('/drip', { drip: { intervalMs: 200 } });
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/drip'), timeout: 1, retry_attempts: 0 });
  await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
  const e = await waitFor(async () => (await getDeliveries(srv, a.api_key, w.id)).data.find((x) => x.status !== 'pending'),
    15000, { msg: 'drip attempt finished' });
  assert.equal(e.status, 'failed', JSON.stringify(e));
  assert.match(String(e.error), /time/i);
});

test('a 302 is a failure, not followed: the Location target is never contacted', async () => {
  const a = await createAccount(srv, 'redirect');
  rx.on('/redir', { status: 302, redirect: rx.at('/redir-target') });
  rx.on('/redir301', { status: 301, redirect: rx.at('/redir-target') });
  rx.on('/redir307', { status: 307, redirect: rx.at('/redir-target') });
  rx.on('/redir-target', { status: 200 });
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/redir'), retry_attempts: 1 });
  const w301 = await createWebhook(srv, a.api_key, { url: rx.at('/redir301'), retry_attempts: 0 });
  const w307 = await createWebhook(srv, a.api_key, { url: rx.at('/redir307'), retry_attempts: 0 });
  await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
  await rx.waitForCount('/redir', 2);
  await rx.waitForCount('/redir301', 1);
  await rx.waitForCount('/redir307', 1);
  await sleep(1000);
  assert.equal(rx.reqs('/redir').length, 2, '1 + retry_attempts attempts');
  assert.equal(rx.reqs('/redir-target').length, 0, 'redirect never followed');
  const l = await allDeliveries(srv, a.api_key, w.id);
  assert.deepEqual(l.map((e) => [e.status, e.status_code]), [['failed', 302], ['failed', 302]]);
  assert.deepEqual((await allDeliveries(srv, a.api_key, w301.id)).map((e) => [e.status, e.status_code]), [['failed', 301]]);
  assert.deepEqual((await allDeliveries(srv, a.api_key, w307.id)).map((e) => [e.status, e.status_code]), [['failed', 307]]);
});

test('Retry-After: 2 on 503 and 429 is honoured over the 200 ms schedule', async () => {
  const a = await createAccount(srv, 'ra');
  rx.on('/ra503', { sequence: [{ status: 503, retryAfter: 2 }, { status: 200 }] });
  rx.on('/ra429', { sequence: [{ status: 429, retryAfter: 2 }, { status: 200 }] });
  const w503 = await createWebhook(srv, a.api_key, { url: rx.at('/ra503'), retry_attempts: 3 });
  const w429 = await createWebhook(srv, a.api_key, { url: rx.at('/ra429'), retry_attempts: 3 });
  await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
  await rx.waitForCount('/ra503', 1);
  // while waiting: a pending row with next_attempt_at about 2 s ahead
  // (until attempt 1's result is written, the pending row is still attempt 1's)
  const pending = await waitFor(async () => {
    const row = (await getDeliveries(srv, a.api_key, w503.id, { status: 'pending' })).data[0];
    return row && row.attempt === 2 ? row : false;
  }, 1500, { msg: 'pending row for attempt 2 while Retry-After runs', interval: 30 });
  assert.equal(pending.status, 'pending');
  assert.match(pending.next_attempt_at, RFC3339_UTC);
  const first503 = rx.reqs('/ra503')[0];
  assert.ok(Date.parse(pending.next_attempt_at) >= first503.time + 1000,
    `next_attempt_at ${pending.next_attempt_at} honours Retry-After`);
  assert.equal(pending.delivery_id, first503.headers['x-webhook-delivery-id']);
  for (const [p, w] of [['/ra503', w503], ['/ra429', w429]]) {
    const reqs = await rx.waitForCount(p, 2, 10000);
    const gap = reqs[1].time - reqs[0].time;
    assert.ok(gap >= 1900, `${p}: second attempt ${gap} ms after the first; Retry-After asked for 2000`);
    const l = await waitFor(async () => {
      const x = await allDeliveries(srv, a.api_key, w.id);
      return x.length === 2 && x[0].status === 'succeeded' ? x : false;
    }, 5000, { msg: `${p} log` });
    assert.deepEqual(l.map((e) => e.attempt), [2, 1]);
  }
});

test('Retry-After as an HTTP date is honoured', async () => {
  const a = await createAccount(srv, 'ra-date');
  rx.on('/ra-date', (req, n) => (n === 0
    ? { status: 503, headers: { 'Retry-After': new Date(Date.now() + 3000).toUTCString() } }
    : { status: 200 }));
  await createWebhook(srv, a.api_key, { url: rx.at('/ra-date'), retry_attempts: 3 });
  await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
  const reqs = await rx.waitForCount('/ra-date', 2, 10000);
  const gap = reqs[1].time - reqs[0].time;
  // HTTP dates have 1 s resolution: the date lies 2-3 s after the first answer
  assert.ok(gap >= 1900, `second attempt ${gap} ms after the first`);
});

test('Retry-After beyond 24 h is capped at 24 h', async () => {
  const a = await createAccount(srv, 'ra-cap');
  rx.on('/ra-cap', { status: 429, retryAfter: 10 * 86400 });
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/ra-cap'), retry_attempts: 3 });
  await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
  await rx.waitForCount('/ra-cap', 1);
  // (until attempt 1's result is written, the pending row is still attempt 1's)
  const p = await waitFor(async () => {
    const row = (await getDeliveries(srv, a.api_key, w.id, { status: 'pending' })).data[0];
    return row && row.attempt === 2 ? row : false;
  }, 5000, { msg: 'pending row for attempt 2' });
  const at = Date.parse(p.next_attempt_at);
  const now = Date.now();
  assert.ok(at > now + 3600 * 1000, `Retry-After honoured beyond the schedule (${p.next_attempt_at})`);
  assert.ok(at <= now + 24 * 3600 * 1000 + 60000, `capped at 24 h (${p.next_attempt_at})`);
  assert.equal((await api(srv, a.api_key, 'DELETE', `/api/v1/webhooks/${w.id}`)).status, 204);
});

test('disable holds pending retries; new events create nothing; enable resumes', async () => {
  const a = await createAccount(srv, 'hold');
  let release;
  const firstSeen = new Promise((r) => { release = r; });
  rx.on('/hold', { sequence: [{ status: 500, delayMs: 1000 }, { status: 200, body: 'resumed' }] });
  const off = rx.onRequest((q) => { if (q.path === '/hold') release(); });
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/hold'), retry_attempts: 3 });
  const ev = await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { held: true } });
  assert.equal(ev.status, 202);
  await firstSeen;
  off();
  // disable while the first attempt is still waiting for its (500) answer
  const d = await api(srv, a.api_key, 'PATCH', `/api/v1/webhooks/${w.id}`, { enabled: false });
  assert.equal(d.status, 200);
  assert.equal(d.json.enabled, false);
  await sleep(2500);
  assert.equal(rx.reqs('/hold').length, 1, 'retry held while disabled');
  const log = await allDeliveries(srv, a.api_key, w.id);
  assert.ok(log.some((e) => e.status === 'failed' && e.attempt === 1), JSON.stringify(log));
  assert.ok(log.some((e) => e.status === 'pending'), `held retry shows as pending: ${JSON.stringify(log)}`);

  const ev2 = await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { held: false } });
  assert.equal(ev2.status, 202);
  assert.equal(ev2.json.deliveries, 0, 'no delivery for a disabled webhook');

  const e = await api(srv, a.api_key, 'PATCH', `/api/v1/webhooks/${w.id}`, { enabled: true });
  assert.equal(e.status, 200);
  const reqs = await rx.waitForCount('/hold', 2, 10000);
  assert.equal(reqs[1].headers['x-webhook-delivery-id'], reqs[0].headers['x-webhook-delivery-id']);
  assert.deepEqual(reqs[1].json.data, { held: true });
  await sleep(1200);
  assert.equal(rx.reqs('/hold').length, 2, 'the event sent while disabled is never delivered');
  const final = await waitFor(async () => {
    const l = await allDeliveries(srv, a.api_key, w.id);
    return l[0]?.status === 'succeeded' ? l : false;
  }, 5000, { msg: 'succeeded after enable' });
  assert.deepEqual(final.map((x) => [x.attempt, x.status]), [[2, 'succeeded'], [1, 'failed']]);
});

test('DELETE stops deliveries: no request after DELETE is answered', async () => {
  const a = await createAccount(srv, 'del');
  rx.on('/del', { status: 500, delayMs: 150 });
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/del'), retry_attempts: 10 });
  for (let i = 0; i < 3; i++) {
    await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { i } });
  }
  await rx.waitForCount('/del', 4, 10000);
  const r = await api(srv, a.api_key, 'DELETE', `/api/v1/webhooks/${w.id}`);
  const answeredAt = Date.now();
  assert.equal(r.status, 204);
  const n = rx.reqs('/del').length;
  await sleep(2500);
  const late = rx.reqs('/del').filter((q) => q.startTime > answeredAt);
  assert.deepEqual(late.map((q) => q.startTime - answeredAt), [], 'requests that started after DELETE was answered');
  assert.ok(rx.reqs('/del').length <= n + 0, 'no new request after DELETE');
  const g = await api(srv, a.api_key, 'GET', `/api/v1/webhooks/${w.id}/deliveries`);
  assert.equal(g.status, 404);
});

test('attempt counting survives a restart: still exactly 1 + retry_attempts in total', async () => {
  const s = await startServer();
  const r2 = await startReceiver();
  try {
    const a = await createAccount(s, 'count-restart');
    r2.on('/cr', { status: 503, retryAfter: 2 });
    const w = await createWebhook(s, a.api_key, { url: r2.at('/cr'), retry_attempts: 2 });
    await api(s, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
    await r2.waitForCount('/cr', 1);
    await sleep(300);
    assert.equal((await s.stop()).code, 0);
    const s2 = await startServer({ dir: s.dir });
    try {
      await r2.waitForCount('/cr', 3, 15000);
      await waitFor(async () => {
        const l = await allDeliveries(s2, a.api_key, w.id);
        return l.length === 3 && l.every((e) => e.status === 'failed');
      }, 10000, { msg: '3 failed rows after restart' });
      await sleep(2500);
      const reqs = r2.reqs('/cr');
      assert.equal(reqs.length, 3, 'exactly three attempts across the restart');
      assert.equal(new Set(reqs.map((q) => q.headers['x-webhook-delivery-id'])).size, 1);
    } finally { await s2.stop('SIGKILL'); }
  } finally { await s.stop('SIGKILL'); await r2.close(); }
});

test('SIGTERM with a hung receiver exits within the grace and the delivery is done after restart', async () => {
  const s = await startServer({ extraArgs: ['--shutdown-grace', '1s'] });
  const r2 = await startReceiver();
  try {
    const a = await createAccount(s, 'grace-hang');
    r2.on('/gh', { sequence: [{ hang: true }, { status: 200, body: 'second time lucky' }] });
    const w = await createWebhook(s, a.api_key, { url: r2.at('/gh'), timeout: 60 });
    await api(s, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
    await r2.waitForCount('/gh', 1);
    const st = await s.stop('SIGTERM', 20000);
    assert.equal(st.timedOut, undefined, 'exited by itself');
    assert.equal(st.code, 0);
    const s2 = await startServer({ dir: s.dir });
    try {
      const reqs = await r2.waitForCount('/gh', 2, 20000);
      assert.equal(reqs[1].headers['x-webhook-delivery-id'], reqs[0].headers['x-webhook-delivery-id']);
      const l = await waitFor(async () => {
        const x = await allDeliveries(s2, a.api_key, w.id);
        return x[0]?.status === 'succeeded' ? x : false;
      }, 10000, { msg: 'succeeded after restart' });
      assert.equal(l[0].response, 'second time lucky');
    } finally { await s2.stop('SIGKILL'); }
  } finally { await s.stop('SIGKILL'); await r2.close(); }
});

test('SIGTERM lets an in-flight delivery finish, exits 0, and it is not re-sent after restart', async () => {
  const s = await startServer({ extraArgs: ['--shutdown-grace', '10s'] });
  const r2 = await startReceiver();
  try {
    const a = await createAccount(s, 'graceful');
    r2.on('/slow', { status: 200, delayMs: 1500, body: 'slow ok' });
    const w = await createWebhook(s, a.api_key, { url: r2.at('/slow'), timeout: 10 });
    await api(s, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
    await r2.waitForCount('/slow', 1);
    const st = await s.stop('SIGTERM', 20000);
    assert.equal(st.code, 0, `exit code ${JSON.stringify(st)}`);
    const s2 = await startServer({ dir: s.dir });
    try {
      const l = await waitFor(async () => {
        const x = await allDeliveries(s2, a.api_key, w.id);
        return x.length && x[0].status !== 'pending' ? x : false;
      }, 10000, { msg: 'log after restart' });
      assert.equal(l[0].status, 'succeeded', `in-flight attempt finished and recorded: ${JSON.stringify(l)}`);
      assert.equal(l[0].response, 'slow ok');
      await sleep(1500);
      assert.equal(r2.reqs('/slow').length, 1, 'not sent again after restart');
    } finally { await s2.stop('SIGKILL'); }
  } finally { await s.stop('SIGKILL'); await r2.close(); }
});
