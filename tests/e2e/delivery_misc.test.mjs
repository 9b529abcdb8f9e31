// delivery_misc.test.mjs - idempotency keys, the address guard, delivery-log
// paging and filters, the emit CLI, and account deletion dropping pending work.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import {
  startServer, api, cli, createAccount, createPlatformKey, createWebhook, getDeliveries, allDeliveries, emitEvent,
  assertError, waitFor, sleep, tmpDir, RFC3339_UTC,
} from './lib.mjs';
import { startReceiver } from './receivers.mjs';

let srv;
let rx;
before(async () => { [srv, rx] = await Promise.all([startServer(), startReceiver()]); });
after(async () => { await Promise.all([srv?.stop('SIGKILL'), rx?.close()]); });

const hmac = (secret, body) => crypto.createHmac('sha256', secret).update(body).digest('hex');

test('Idempotency-Key: 10 concurrent identical requests make one event and one delivery', async () => {
  const a = await createAccount(srv, 'idem');
  const b = await createAccount(srv, 'idem-other');
  await createWebhook(srv, a.api_key, { url: rx.at('/idem'), events: ['payment.completed'] });
  await createWebhook(srv, b.api_key, { url: rx.at('/idem-b'), events: ['payment.completed'] });
  const key = `order-${crypto.randomUUID()}`;
  const body = JSON.stringify({ event: 'payment.completed', data: { order: 991, amount: 10 } });
  const answers = await Promise.all(Array.from({ length: 10 }, () =>
    api(srv, a.api_key, 'POST', '/api/v1/events', body, { 'Idempotency-Key': key })));
  for (const r of answers) {
    assert.equal(r.status, 202, r.text);
    assert.equal(r.text, answers[0].text, 'every answer identical to the first');
  }
  assert.equal(answers[0].json.deliveries, 1);
  await rx.waitForCount('/idem', 1);
  await sleep(1500);
  assert.equal(rx.reqs('/idem').length, 1, 'one delivery at the receiver');

  // later replay: same answer, nothing new
  const again = await api(srv, a.api_key, 'POST', '/api/v1/events', body, { 'Idempotency-Key': key });
  assert.equal(again.status, 202);
  assert.equal(again.text, answers[0].text);

  // same key, different body: 409, nothing new
  const other = await api(srv, a.api_key, 'POST', '/api/v1/events',
    { event: 'payment.completed', data: { order: 992 } }, { 'Idempotency-Key': key });
  assertError(other, 409, 'idempotency_conflict');

  // another account may use the same key independently
  const ob = await api(srv, b.api_key, 'POST', '/api/v1/events', body, { 'Idempotency-Key': key });
  assert.equal(ob.status, 202, ob.text);
  assert.notEqual(ob.json.id, answers[0].json.id);
  await rx.waitForCount('/idem-b', 1);

  // without the key, the same body is a new event
  const fresh = await api(srv, a.api_key, 'POST', '/api/v1/events', body);
  assert.equal(fresh.status, 202);
  assert.notEqual(fresh.json.id, answers[0].json.id);
  await rx.waitForCount('/idem', 2);
  await sleep(800);
  assert.equal(rx.reqs('/idem').length, 2);
  assert.equal(rx.reqs('/idem-b').length, 1);
});

test('address guard: without --allow-net, loopback deliveries fail with "blocked address"', async () => {
  const g = await startServer({ allowNet: [] });
  try {
    const a = await createAccount(g, 'guarded');
    const port = rx.port;
    const urls = [
      `http://127.0.0.1:${port}/guard-ip`,
      `http://localhost:${port}/guard-name`,
      `http://127.1.2.3:${port}/guard-other-loopback`,
    ];
    const hooks = [];
    for (const url of urls) hooks.push(await createWebhook(g, a.api_key, { url, retry_attempts: 0 }));
    const ev = await api(g, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
    assert.equal(ev.json.deliveries, hooks.length);
    for (const w of hooks) {
      const e = await waitFor(async () => (await getDeliveries(g, a.api_key, w.id)).data.find((x) => x.status === 'failed'),
        10000, { msg: `failed row for ${w.url}` });
      assert.match(String(e.error), /blocked address/, `${w.url}: ${e.error}`);
      assert.equal(e.status_code, null);
    }
    const t = await api(g, a.api_key, 'POST', `/api/v1/webhooks/${hooks[0].id}/test`);
    assert.equal(t.status, 200, t.text);
    assert.equal(t.json.success, false);
    assert.match(String(t.json.error), /blocked address/);
    await sleep(500);
    for (const p of ['/guard-ip', '/guard-name', '/guard-other-loopback']) {
      assert.equal(rx.reqs(p).length, 0, `receiver saw nothing on ${p}`);
    }
  } finally { await g.stop('SIGKILL'); }
});

test('address guard: other spellings of loopback are blocked too (never reach the receiver)', async () => {
  const g = await startServer({ allowNet: [] });
  try {
    const a = await createAccount(g, 'guard-spellings');
    const port = rx.port;
    const variants = {
      '/gs-unspecified': `http://0.0.0.0:${port}/gs-unspecified`,
      '/gs-decimal': `http://2130706433:${port}/gs-decimal`,
      '/gs-hex': `http://0x7f.1:${port}/gs-hex`,
      '/gs-mapped': `http://[::ffff:127.0.0.1]:${port}/gs-mapped`,
      '/gs-v6-loopback': `http://[::1]:${port}/gs-v6-loopback`,
    };
    const hooks = [];
    for (const [p, url] of Object.entries(variants)) {
      const r = await api(g, a.api_key, 'POST', '/api/v1/webhooks', { name: p, url, events: ['booking.created'], retry_attempts: 0 });
      // refusing such a URL up front is fine too; delivering to it is not
      if (r.status === 201) hooks.push([p, r.json]);
      else assertError(r, 422, 'validation_failed', 'url');
    }
    if (hooks.length) {
      await api(g, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
      for (const [p, w] of hooks) {
        const e = await waitFor(async () => (await getDeliveries(g, a.api_key, w.id)).data.find((x) => x.status === 'failed' || x.status === 'succeeded'),
          10000, { msg: `attempt for ${w.url}` });
        assert.equal(e.status, 'failed', `${w.url}: ${JSON.stringify(e)}`);
        assert.match(String(e.error), /blocked address/, `${p}: ${e.error}`);
      }
    }
    await sleep(300);
    for (const p of Object.keys(variants)) assert.equal(rx.reqs(p).length, 0, `receiver reached through ${variants[p]}`);
  } finally { await g.stop('SIGKILL'); }
});

test('address guard: --allow-net for a narrower range still blocks the rest of loopback', async () => {
  const g = await startServer({ allowNet: ['127.0.0.1/32'] });
  const r2 = await startReceiver();
  try {
    const a = await createAccount(g, 'narrow');
    const ok = await createWebhook(g, a.api_key, { url: r2.at('/narrow-ok'), retry_attempts: 0 });
    const blocked = await createWebhook(g, a.api_key, { url: `http://127.0.0.2:${r2.port}/narrow-blocked`, retry_attempts: 0 });
    await api(g, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
    await r2.waitForCount('/narrow-ok', 1);
    const e = await waitFor(async () => (await getDeliveries(g, a.api_key, blocked.id)).data.find((x) => x.status === 'failed'),
      10000, { msg: 'blocked 127.0.0.2' });
    assert.match(String(e.error), /blocked address/);
    const okLog = await waitFor(async () => (await getDeliveries(g, a.api_key, ok.id)).data.find((x) => x.status === 'succeeded'),
      10000, { msg: 'allowed 127.0.0.1 delivery logged' });
    assert.equal(okLog.status_code, 200);
  } finally { await g.stop('SIGKILL'); await r2.close(); }
});

test('delivery log: paging with limit/cursor, status filters, newest first', async () => {
  const a = await createAccount(srv, 'paging');
  // even n succeed, odd n fail (single attempt each)
  rx.on('/page', (req) => (req.json && req.json.data.n % 2 === 0 ? { status: 200, body: `ok ${req.json.data.n}` } : { status: 500, body: 'odd' }));
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/page'), retry_attempts: 0 });
  const eventIds = [];
  for (let n = 0; n < 7; n++) {
    const ev = await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { n } });
    assert.equal(ev.status, 202);
    eventIds.push(ev.json.id);
    await waitFor(async () => (await allDeliveries(srv, a.api_key, w.id)).filter((e) => e.status !== 'pending').length === n + 1,
      10000, { msg: `attempt for n=${n} logged` });
    await sleep(30);
  }
  const full = await getDeliveries(srv, a.api_key, w.id, { limit: '100' });
  assert.equal(full.data.length, 7);
  assert.equal(full.next_cursor, null);
  assert.deepEqual(full.data.map((e) => e.event_id), [...eventIds].reverse(), 'newest first');
  for (let i = 1; i < full.data.length; i++) {
    assert.ok(Date.parse(full.data[i - 1].started_at) >= Date.parse(full.data[i].started_at));
  }

  const pages = [];
  let cursor = null;
  for (let i = 0; i < 10; i++) {
    const q = { limit: '3' };
    if (cursor) q.cursor = cursor;
    const p = await getDeliveries(srv, a.api_key, w.id, q);
    assert.ok(p.data.length <= 3);
    pages.push(p.data);
    assert.ok(p.next_cursor === null || typeof p.next_cursor === 'string');
    if (!p.next_cursor) break;
    cursor = p.next_cursor;
  }
  assert.deepEqual(pages.map((p) => p.length), [3, 3, 1]);
  assert.deepEqual(pages.flat(), full.data, 'pages concatenate to the full list without gaps or repeats');

  const ok = await allDeliveries(srv, a.api_key, w.id, { status: 'succeeded' });
  assert.deepEqual(ok.map((e) => e.event_id), [eventIds[6], eventIds[4], eventIds[2], eventIds[0]]);
  for (const e of ok) {
    assert.equal(e.status, 'succeeded');
    assert.equal(e.status_code, 200);
    assert.match(e.delivered_at, RFC3339_UTC);
  }
  const bad = await allDeliveries(srv, a.api_key, w.id, { status: 'failed' });
  assert.deepEqual(bad.map((e) => e.event_id), [eventIds[5], eventIds[3], eventIds[1]]);
  for (const e of bad) {
    assert.equal(e.status_code, 500);
    assert.equal(e.response, 'odd');
    assert.equal(e.delivered_at, null);
  }
  assert.deepEqual((await getDeliveries(srv, a.api_key, w.id, { status: 'pending' })).data, []);

  // paging inside a filter
  const f1 = await getDeliveries(srv, a.api_key, w.id, { status: 'succeeded', limit: '3' });
  assert.equal(f1.data.length, 3);
  assert.equal(typeof f1.next_cursor, 'string');
  const f2 = await getDeliveries(srv, a.api_key, w.id, { status: 'succeeded', limit: '3', cursor: f1.next_cursor });
  assert.deepEqual(f2.data.map((e) => e.event_id), [eventIds[0]]);
  assert.equal(f2.next_cursor, null);
});

test('delivery log: cursor paging has no gaps or repeats with ties and with new rows arriving', async () => {
  const a = await createAccount(srv, 'ties');
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/ties'), retry_attempts: 0 });
  const N = 25;
  await Promise.all(Array.from({ length: N }, (_, n) =>
    api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { n } })));
  await rx.waitForCount('/ties', N, 15000);
  const full = await waitFor(async () => {
    const l = await allDeliveries(srv, a.api_key, w.id);
    return l.length === N && l.every((e) => e.status === 'succeeded') ? l : false;
  }, 10000, { msg: `${N} succeeded rows` });
  assert.equal(new Set(full.map((e) => e.delivery_id)).size, N);
  for (const limit of [1, 2, 7]) {
    const got = [];
    let cursor = null;
    for (let i = 0; i < N + 2; i++) {
      const q = { limit: String(limit) };
      if (cursor) q.cursor = cursor;
      const p = await getDeliveries(srv, a.api_key, w.id, q);
      got.push(...p.data);
      cursor = p.next_cursor;
      if (!cursor) break;
    }
    assert.deepEqual(got.map((e) => e.delivery_id), full.map((e) => e.delivery_id), `limit ${limit}: same rows, same order`);
  }
  // new rows arriving between pages do not shift the pages already started
  const p1 = await getDeliveries(srv, a.api_key, w.id, { limit: '10' });
  await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { n: 'late' } });
  await rx.waitForCount('/ties', N + 1);
  await waitFor(async () => (await allDeliveries(srv, a.api_key, w.id)).length === N + 1, 5000, { msg: 'late row' });
  const rest = [];
  let cursor = p1.next_cursor;
  while (cursor) {
    const p = await getDeliveries(srv, a.api_key, w.id, { limit: '10', cursor });
    rest.push(...p.data);
    cursor = p.next_cursor;
  }
  assert.deepEqual([...p1.data, ...rest].map((e) => e.delivery_id), full.map((e) => e.delivery_id),
    'continuing an old cursor yields exactly the older rows');
});

test('delivery log: bad query parameters are rejected', async () => {
  const a = await createAccount(srv, 'badq');
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/badq') });
  for (const qs of ['limit=0', 'limit=101', 'limit=-1', 'limit=abc', 'status=bogus', 'cursor=%%%not-a-cursor']) {
    const r = await api(srv, a.api_key, 'GET', `/api/v1/webhooks/${w.id}/deliveries?${qs}`);
    assert.ok(r.status === 400 || r.status === 422, `${qs}: ${r.status} ${r.text}`);
    assertError(r, r.status);
  }
});

test('emit CLI creates deliveries that the running server sends', async () => {
  const a = await createAccount(srv, 'emitter');
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/emit'), events: ['event.follow_up'] });
  const dir = tmpDir('skw-e2e-emit-');
  const f = path.join(dir, 'data.json');
  const raw = '{"id":42,"note":"from the CLI","nested":{"ok":true}}';
  writeFileSync(f, raw);
  const r = await cli(srv, ['emit', 'event.follow_up', '--account', a.account_id, '--data', `@${f}`, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(typeof r.json.id, 'string');
  assert.equal(r.json.deliveries, 1);
  const [req] = await rx.waitForCount('/emit', 1, 15000);
  assert.equal(req.json.event, 'event.follow_up');
  assert.deepEqual(req.json.data, JSON.parse(raw));
  assert.ok(req.text.endsWith(`"data":${raw}}`), `data bytes as in the file: ${req.text}`);
  assert.equal(req.headers['x-webhook-signature'], hmac(w.secret, req.body));
  const e = await waitFor(async () => (await getDeliveries(srv, a.api_key, w.id)).data.find((x) => x.status === 'succeeded'),
    10000, { msg: 'emit delivery logged' });
  assert.equal(e.event_id, r.json.id);
});

test('Idempotency-Key answers survive a restart', async () => {
  const s = await startServer();
  try {
    const a = await createAccount(s, 'idem-restart');
    const body = { event: 'booking.cancelled', data: { b: 1 } };
    const first = await api(s, a.api_key, 'POST', '/api/v1/events', body, { 'Idempotency-Key': 'restart-key' });
    assert.equal(first.status, 202);
    assert.equal((await s.stop()).code, 0);
    const s2 = await startServer({ dir: s.dir });
    try {
      const again = await api(s2, a.api_key, 'POST', '/api/v1/events', body, { 'Idempotency-Key': 'restart-key' });
      assert.equal(again.status, 202);
      assert.equal(again.text, first.text);
      assertError(await api(s2, a.api_key, 'POST', '/api/v1/events', { ...body, data: { b: 2 } },
        { 'Idempotency-Key': 'restart-key' }), 409, 'idempotency_conflict');
    } finally { await s2.stop('SIGKILL'); }
  } finally { await s.stop('SIGKILL'); }
});

test('a large response body is truncated in the log and does not break delivery', async () => {
  const a = await createAccount(srv, 'bigresp');
  const big = 'R'.repeat(1024 * 1024);
  rx.on('/bigresp', { status: 200, body: big });
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/bigresp') });
  await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
  const e = await waitFor(async () => (await getDeliveries(srv, a.api_key, w.id)).data.find((x) => x.status !== 'pending'),
    10000, { msg: 'big response logged' });
  assert.equal(e.status, 'succeeded');
  assert.equal(typeof e.response, 'string');
  assert.ok(e.response.length > 0 && e.response.length < big.length, `response truncated (${e.response.length})`);
  assert.ok(big.startsWith(e.response.replace(/[^R]+$/, '')), 'truncated response is the start of the body');
  await sleep(500);
  assert.equal(rx.reqs('/bigresp').length, 1);
});

test('deleting an account drops its pending deliveries', async () => {
  const p = await createPlatformKey(srv);
  const a = await createAccount(srv, 'dropme');
  rx.on('/acct-del', { status: 500, delayMs: 100 });
  await createWebhook(srv, a.api_key, { url: rx.at('/acct-del'), retry_attempts: 10 });
  await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
  await rx.waitForCount('/acct-del', 2, 10000);
  const d = await api(srv, p.api_key, 'DELETE', `/api/v1/accounts/${a.account_id}`);
  const answeredAt = Date.now();
  assert.equal(d.status, 204, d.text);
  await sleep(2000);
  const late = rx.reqs('/acct-del').filter((q) => q.startTime > answeredAt);
  assert.equal(late.length, 0, 'no delivery after the account was deleted');
});

test('--per-webhook-in-flight caps the requests open to one webhook; another webhook is not held back', async () => {
  const limited = await startServer({ extraArgs: ['--per-webhook-in-flight', '3'] });
  // a receiver of our own that counts the requests open at once
  let open = 0;
  let maxOpen = 0;
  let slowDone = 0;
  let fastDone = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/fast') {
        fastDone++;
        res.end('ok');
        return;
      }
      open++;
      maxOpen = Math.max(maxOpen, open);
      setTimeout(() => { open--; slowDone++; res.end('ok'); }, 300);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const a = await createAccount(limited, 'inflight');
    await createWebhook(limited, a.api_key, { url: `${base}/slow`, events: ['booking.created'] });
    await createWebhook(limited, a.api_key, { url: `${base}/fast`, events: ['booking.cancelled'] });
    for (let i = 0; i < 12; i++) {
      const r = await api(limited, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { i } });
      assert.equal(r.status, 202, r.text);
    }
    // the slow webhook is saturated (3 open, 9 waiting); the other one still goes at once
    const t0 = Date.now();
    const r = await api(limited, a.api_key, 'POST', '/api/v1/events', { event: 'booking.cancelled', data: {} });
    assert.equal(r.status, 202, r.text);
    await waitFor(() => fastDone === 1, 10000, { msg: 'the other webhook delivered' });
    assert.ok(Date.now() - t0 < 900, `the other webhook waited ${Date.now() - t0} ms behind the slow one`);
    await waitFor(() => slowDone === 12, 20000, { msg: 'all 12 slow deliveries answered' });
    assert.equal(maxOpen, 3, 'at most --per-webhook-in-flight requests open, and the limit is used');
  } finally {
    server.closeAllConnections();
    server.close();
    await limited.stop('SIGKILL');
  }
});

test('by default one webhook has at most 128 requests open; the rest wait and are delivered', async () => {
  // the shared server runs with the defaults
  let open = 0;
  let maxOpen = 0;
  let done = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      open++;
      maxOpen = Math.max(maxOpen, open);
      setTimeout(() => { open--; done++; res.end('ok'); }, 1500);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const a = await createAccount(srv, 'inflight-default');
    const w = await createWebhook(srv, a.api_key, {
      url: `http://127.0.0.1:${server.address().port}/held`, events: ['booking.created'],
    });
    for (let i = 0; i < 140; i++) {
      const r = await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { i } });
      assert.equal(r.status, 202, r.text);
    }
    await waitFor(() => done === 140, 20000, { msg: 'all 140 deliveries answered' });
    assert.equal(maxOpen, 128, 'at most 128 requests open to the webhook, and all 128 used');
    const d = await waitFor(async () => {
      const all = await allDeliveries(srv, a.api_key, w.id);
      return all.length === 140 && all.every((x) => x.status === 'succeeded') ? all : null;
    }, 15000, { msg: '140 deliveries logged as succeeded' });
    assert.ok(d.every((x) => x.attempt === 1), 'none was retried');
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('a receiver that closes every kept-alive connection without saying so still gets each delivery once', async () => {
  // HTTP/1.1 keep-alive is implied, yet the socket is closed after each answer: the
  // sender's cached connection is dead at once (back-to-back events) or dies while it
  // sits idle (spaced events)
  const seen = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(req.headers['x-webhook-delivery-id']);
      res.on('finish', () => req.socket.destroy());
      res.end('ok');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const a = await createAccount(srv, 'silentclose');
    const w = await createWebhook(srv, a.api_key, {
      url: `http://127.0.0.1:${server.address().port}/h`, events: ['booking.created'],
    });
    for (let i = 0; i < 10; i++) {
      const r = await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { i } });
      assert.equal(r.status, 202, r.text);
    }
    for (let i = 10; i < 15; i++) {
      await sleep(300);
      const r = await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { i } });
      assert.equal(r.status, 202, r.text);
    }
    const done = await waitFor(async () => {
      const d = await allDeliveries(srv, a.api_key, w.id);
      return d.length === 15 && d.every((x) => x.status === 'succeeded') ? d : null;
    }, 15000, { msg: '15 deliveries succeeded' });
    assert.ok(done.every((x) => x.attempt === 1), 'each succeeded on its first attempt');
    assert.equal(seen.length, 15, 'the receiver got 15 requests');
    assert.equal(new Set(seen).size, 15, 'one request per delivery');
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('many requests waiting on a receiver that never answers do not hold back quick deliveries', async () => {
  // The send thread starts a transfer only while fewer than 32 started in
  // the last 2 ms are still open; one that waits longer must stop counting,
  // or 100 requests hanging here would stall every other delivery.
  const busy = await startServer({ extraArgs: ['--per-webhook-in-flight', '200'] });
  const hanging = new Set();
  const seen = new Map(); // delivery id -> times received
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.url === '/hang') {
      hanging.add(res);
      return; // never answers
    }
    req.on('end', () => {
      const id = req.headers['x-webhook-delivery-id'];
      seen.set(id, (seen.get(id) || 0) + 1);
      res.end('ok');
    });
  });
  server.keepAliveTimeout = 60000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const a = await createAccount(busy, 'young');
    await createWebhook(busy, a.api_key, { url: `${base}/hang`, events: ['booking.created'], timeout: 60 });
    const quick = await createWebhook(busy, a.api_key, { url: `${base}/quick`, events: ['booking.cancelled'] });
    for (let i = 0; i < 100; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, k) =>
        emitEvent(busy, a.api_key, 'booking.created', { i: i + k })));
    }
    await waitFor(() => hanging.size === 100, 15000, { msg: '100 requests open on the hanging receiver' });
    // 300 quick deliveries, sent 30 at a time so that many wait to start
    const t0 = Date.now();
    for (let i = 0; i < 300; i += 30) {
      await Promise.all(Array.from({ length: 30 }, (_, k) =>
        emitEvent(busy, a.api_key, 'booking.cancelled', { i: i + k })));
    }
    await waitFor(() => seen.size === 300, 20000, { msg: 'all 300 quick deliveries received' });
    assert.ok(Date.now() - t0 < 20000, `quick deliveries took ${Date.now() - t0} ms`);
    assert.ok([...seen.values()].every((n) => n === 1), 'each quick delivery arrived once');
    assert.equal(hanging.size, 100, 'the hanging requests are still open');
    await waitFor(async () => (await allDeliveries(busy, a.api_key, quick.id))
      .filter((d) => d.status === 'succeeded').length === 300, 10000, { msg: '300 successes in the log' });
  } finally {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    server.close();
    await busy.stop('SIGKILL');
  }
});
