// delivery_basic.test.mjs - what a receiver gets: exact body bytes, headers,
// signatures (node:crypto and the openssl CLI), HTTPS with a test CA, fan-out
// rules, the test endpoint, and the delivery log entry of a success.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import {
  startServer, api, run, BIN, createAccount, createWebhook, getDeliveries, allDeliveries,
  waitFor, sleep, tmpDir, RFC3339_UTC,
} from './lib.mjs';
import { startReceiver, startHttpsReceiver, makeTestCA, issueCert } from './receivers.mjs';

let srv;
let rx;
let ca;

before(async () => {
  ca = await makeTestCA();
  [srv, rx] = await Promise.all([
    startServer({ extraArgs: ['--ca-file', ca.certPath] }),
    startReceiver(),
  ]);
});
after(async () => { await Promise.all([srv?.stop('SIGKILL'), rx?.close()]); });

const hmac = (secret, body) => crypto.createHmac('sha256', secret).update(body).digest('hex');

test('body bytes, headers and signature as the receiver sees them', async () => {
  const a = await createAccount(srv, 'basic');
  rx.on('/basic', { status: 200, body: 'ok-basic' });
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/basic?tenant=7&x=a%20b'), events: ['booking.created'] });
  const data = {
    id: 123, event_type: '30-min-consultation', date: '2025-01-20', time: '14:00', duration: 30,
    invitee: { name: 'Jane Smith', email: 'jane@example.com' }, location: 'Zoom', meeting_link: 'https://zoom.us/j/...',
  };
  const ev = await api(srv, a.api_key, 'POST', '/api/v1/events',
    { event: 'booking.created', data, timestamp: '2025-01-15T10:30:00Z' });
  assert.equal(ev.status, 202, ev.text);
  assert.equal(typeof ev.json.id, 'string');
  assert.equal(ev.json.deliveries, 1);

  const [req] = await rx.waitForCount('/basic', 1);
  const expected = `{"event":"booking.created","timestamp":"2025-01-15T10:30:00Z","data":${JSON.stringify(data)}}`;
  assert.equal(req.method, 'POST');
  assert.equal(req.url, '/basic?tenant=7&x=a%20b', 'path and query string kept');
  assert.equal(req.body.toString('utf8'), expected, 'exact body bytes');
  assert.equal(req.headers['content-type'], 'application/json');
  assert.equal(req.headers['x-webhook-event'], 'booking.created');
  assert.match(req.headers['x-webhook-signature'], /^[0-9a-f]{64}$/);
  assert.equal(req.headers['x-webhook-signature'], hmac(w.secret, req.body), 'signature = HMAC-SHA256(whole secret, body)');
  assert.ok(req.headers['x-webhook-delivery-id'] && req.headers['x-webhook-delivery-id'].length > 0);
  assert.match(req.headers['user-agent'], /^skwebhooks\/\d+\.\d+\.\d+/);
  assert.equal(Number(req.headers['content-length'] ?? req.body.length), req.body.length);

  // the log shows the success
  const entry = await waitFor(async () => {
    const l = await getDeliveries(srv, a.api_key, w.id);
    return l.data.find((e) => e.status === 'succeeded');
  }, 10000, { msg: 'succeeded log entry' });
  const l = await getDeliveries(srv, a.api_key, w.id);
  assert.equal(l.data.length, 1, JSON.stringify(l));
  assert.equal(l.next_cursor, null);
  assert.equal(entry.delivery_id, req.headers['x-webhook-delivery-id']);
  assert.equal(entry.event_id, ev.json.id);
  assert.equal(entry.event, 'booking.created');
  assert.equal(entry.attempt, 1);
  assert.equal(entry.max_attempts, 4, '1 + retry_attempts (default 3)');
  assert.equal(entry.status_code, 200);
  assert.equal(entry.response, 'ok-basic');
  assert.equal(entry.error, null);
  assert.match(entry.started_at, RFC3339_UTC);
  assert.ok(Number.isInteger(entry.duration_ms) && entry.duration_ms >= 0);
  assert.match(entry.delivered_at, RFC3339_UTC);
  assert.equal(entry.next_attempt_at, null);
  await sleep(800);
  assert.equal(rx.reqs('/basic').length, 1, 'a success is not repeated');
});

test('data is forwarded byte for byte as given (spacing, key order, escapes, numbers)', async () => {
  const a = await createAccount(srv, 'verbatim');
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/verbatim'), events: ['payment.completed'] });
  const rawData = '{ "z" : 1,"a":[1, 2 ,3.50],  "u":"caf\\u00e9 é \\"q\\"", "n":null,"e":1E+2, "neg":-0.0 }';
  const body = `{"event":"payment.completed","data":${rawData},"timestamp":"2026-01-02T03:04:05Z"}`;
  const ev = await api(srv, a.api_key, 'POST', '/api/v1/events', body);
  assert.equal(ev.status, 202, ev.text);
  const [req] = await rx.waitForCount('/verbatim', 1);
  const expected = `{"event":"payment.completed","timestamp":"2026-01-02T03:04:05Z","data":${rawData}}`;
  assert.equal(req.body.toString('utf8'), expected);
  assert.deepEqual(req.body, Buffer.from(expected, 'utf8'));
  assert.equal(req.headers['x-webhook-signature'], hmac(w.secret, req.body));
});

test('integers beyond 64 bits are valid JSON and are forwarded as given', async () => {
  const a = await createAccount(srv, 'bigint');
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/bigint'), events: ['payment.completed'] });
  const rawData = '{"big":12345678901234567890,"small":-98765432109876543210}';
  const ev = await api(srv, a.api_key, 'POST', '/api/v1/events', `{"event":"payment.completed","data":${rawData}}`);
  assert.equal(ev.status, 202, ev.text);
  const [req] = await rx.waitForCount('/bigint', 1);
  assert.ok(req.text.endsWith(`"data":${rawData}}`), req.text);
  assert.equal(req.headers['x-webhook-signature'], hmac(w.secret, req.body));
});

test('a given timestamp with an offset is forwarded as given', async () => {
  const a = await createAccount(srv, 'ts-offset');
  await createWebhook(srv, a.api_key, { url: rx.at('/ts-offset'), events: ['event.updated'] });
  const ev = await api(srv, a.api_key, 'POST', '/api/v1/events',
    { event: 'event.updated', data: {}, timestamp: '2025-01-15T12:30:00.250+02:00' });
  assert.equal(ev.status, 202, ev.text);
  const [req] = await rx.waitForCount('/ts-offset', 1);
  assert.equal(req.text, '{"event":"event.updated","timestamp":"2025-01-15T12:30:00.250+02:00","data":{}}');
});

test('rejected events create no delivery', async () => {
  const a = await createAccount(srv, 'rejected-events');
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/rejected'), events: ['booking.created'] });
  const bad = [
    [{ event: 'booking.nope', data: {} }, 422],
    [{ event: 'booking.created', data: [] }, 422],
    [{ event: 'booking.created', data: {}, timestamp: 'soon' }, 422],
    [{ event: 'booking.created', data: {}, more: 1 }, 422],
    ['{"event":"booking.created","data":{}', 400],
    [JSON.stringify({ event: 'booking.created', data: { pad: 'x'.repeat(262144) } }), 413],
  ];
  for (const [body, status] of bad) {
    const r = await api(srv, a.api_key, 'POST', '/api/v1/events', body);
    assert.equal(r.status, status, r.text.slice(0, 200));
  }
  const ct = await api(srv, a.api_key, 'POST', '/api/v1/events', JSON.stringify({ event: 'booking.created', data: {} }),
    { 'Content-Type': 'text/plain' });
  assert.equal(ct.status, 415);
  const noauth = await api(srv, null, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
  assert.equal(noauth.status, 401);
  await sleep(1200);
  assert.equal(rx.reqs('/rejected').length, 0, 'receiver saw nothing');
  assert.deepEqual((await getDeliveries(srv, a.api_key, w.id)).data, []);
});

test('User-Agent carries the version that `skwebhooks version` prints', async () => {
  const a = await createAccount(srv, 'ua');
  await createWebhook(srv, a.api_key, { url: rx.at('/ua'), events: ['booking.created'] });
  await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
  const [req] = await rx.waitForCount('/ua', 1);
  const v = await run(BIN, ['version']);
  assert.equal(v.code, 0, v.stderr);
  const m = /(\d+\.\d+\.\d+[^\s]*)/.exec(v.stdout);
  assert.ok(m, `version output: ${v.stdout}`);
  assert.equal(req.headers['user-agent'], `skwebhooks/${m[1]}`);
});

test('timestamp defaults to the ingestion time (RFC 3339 UTC, seconds)', async () => {
  const a = await createAccount(srv, 'ts');
  await createWebhook(srv, a.api_key, { url: rx.at('/ts'), events: ['event.reminder'] });
  const t0 = Date.now();
  await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'event.reminder', data: { k: 'v' } });
  const t1 = Date.now();
  const [req] = await rx.waitForCount('/ts', 1);
  const m = /^\{"event":"event\.reminder","timestamp":"([^"]+)","data":\{"k":"v"\}\}$/.exec(req.text);
  assert.ok(m, `body shape: ${req.text}`);
  assert.match(m[1], /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  const ts = Date.parse(m[1]);
  assert.ok(ts >= Math.floor(t0 / 1000) * 1000 - 1000 && ts <= t1 + 1000, `timestamp ${m[1]} within the request`);
});

test('signature also verifies with `openssl dgst -sha256 -hmac`', async () => {
  const a = await createAccount(srv, 'openssl');
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/openssl'), events: ['payment.refunded'] });
  await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'payment.refunded', data: { amount: 4200, currency: 'EUR', note: 'ünïcödé' } });
  const [req] = await rx.waitForCount('/openssl', 1);
  const dir = tmpDir('skw-e2e-sig-');
  const f = path.join(dir, 'body.bin');
  writeFileSync(f, req.body);
  const r = await run('openssl', ['dgst', '-sha256', '-hmac', w.secret, '-r', f]);
  assert.equal(r.code, 0, r.stderr);
  const hex = r.stdout.trim().split(/\s+/)[0].replace(/^\*/, '');
  assert.match(hex, /^[0-9a-f]{64}$/);
  assert.equal(req.headers['x-webhook-signature'], hex);
});

test('HTTPS receiver with a certificate from the --ca-file CA works', async () => {
  const leaf = await issueCert(ca);
  const hrx = await startHttpsReceiver(leaf);
  try {
    const a = await createAccount(srv, 'tls');
    hrx.on('/tls', { status: 204, body: '' });
    const w = await createWebhook(srv, a.api_key, { url: hrx.at('/tls'), events: ['booking.confirmed'] });
    await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.confirmed', data: { via: 'tls' } });
    const [req] = await hrx.waitForCount('/tls', 1);
    assert.equal(req.headers['x-webhook-signature'], hmac(w.secret, req.body));
    const e = await waitFor(async () => (await getDeliveries(srv, a.api_key, w.id)).data.find((x) => x.status === 'succeeded'),
      10000, { msg: 'tls success in the log' });
    assert.equal(e.status_code, 204);
    // the system's bundle and the --ca-file CA in one store, shared by every connection
    assert.match(srv.logs(), /deliver trust bundle=\/\S+ extra=\S+ store=shared/);
    assert.ok(srv.logs().includes(`extra=${ca.certPath} store=shared`), 'the --ca-file CA is in the shared store');
  } finally { await hrx.close(); }
});

test('HTTPS receiver whose certificate is not from a trusted CA fails with a TLS error', async () => {
  const rogueCA = await makeTestCA('rogue CA');
  const leaf = await issueCert(rogueCA);
  const hrx = await startHttpsReceiver(leaf);
  try {
    const a = await createAccount(srv, 'tls-bad');
    const w = await createWebhook(srv, a.api_key, { url: hrx.at('/untrusted'), events: ['booking.confirmed'], retry_attempts: 0 });
    await api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.confirmed', data: {} });
    const e = await waitFor(async () => (await getDeliveries(srv, a.api_key, w.id)).data.find((x) => x.status === 'failed'),
      10000, { msg: 'tls failure in the log' });
    assert.equal(e.status_code, null);
    assert.match(String(e.error), /tls|ssl|certificate|cert/i);
    assert.equal(hrx.reqs('/untrusted').length, 0, 'no HTTP request passed the failed handshake');
    assert.equal(e.delivered_at, null);
    // the test endpoint reports the same
    const t = await api(srv, a.api_key, 'POST', `/api/v1/webhooks/${w.id}/test`);
    assert.equal(t.status, 200, t.text);
    assert.equal(t.json.success, false);
    assert.match(String(t.json.error), /tls|ssl|certificate|cert/i);
  } finally { await hrx.close(); }
});

test('fan-out: only enabled, subscribed webhooks of the emitting account', async () => {
  const A = await createAccount(srv, 'fanA');
  const B = await createAccount(srv, 'fanB');
  const mk = (acct, p, fields) => createWebhook(srv, acct.api_key, { url: rx.at(p), ...fields });
  await mk(A, '/fan/1', { events: ['booking.created'] });
  await mk(A, '/fan/2', { events: ['payment.failed', 'booking.created'] });
  const w3 = await mk(A, '/fan/3', { events: ['booking.created'], enabled: false });
  await mk(A, '/fan/4', { events: ['payment.failed'] });
  await mk(B, '/fan/5', { events: ['booking.created'] });
  const w6 = await mk(A, '/fan/6', { events: ['booking.created'] });
  assert.equal((await api(srv, A.api_key, 'DELETE', `/api/v1/webhooks/${w6.id}`)).status, 204);
  const w7 = await mk(A, '/fan/7', { events: ['booking.created'] });
  assert.equal((await api(srv, A.api_key, 'PATCH', `/api/v1/webhooks/${w7.id}`, { events: ['event.created'] })).status, 200);

  const e1 = await api(srv, A.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { n: 1 } });
  assert.equal(e1.status, 202);
  assert.equal(e1.json.deliveries, 2, 'w1 and w2');
  await rx.waitForCount('/fan/1', 1);
  await rx.waitForCount('/fan/2', 1);

  const e2 = await api(srv, A.api_key, 'POST', '/api/v1/events', { event: 'payment.failed', data: { n: 2 } });
  assert.equal(e2.json.deliveries, 2, 'w2 and w4');
  await rx.waitForCount('/fan/4', 1);
  await rx.waitForCount('/fan/2', 2);

  const e3 = await api(srv, B.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { n: 3 } });
  assert.equal(e3.json.deliveries, 1, 'w5 only');
  await rx.waitForCount('/fan/5', 1);

  const e4 = await api(srv, A.api_key, 'POST', '/api/v1/events', { event: 'event.cancelled', data: { n: 4 } });
  assert.equal(e4.status, 202);
  assert.equal(e4.json.deliveries, 0, 'nobody subscribed');

  await sleep(1500);
  const count = (p) => rx.reqs(p).length;
  assert.equal(count('/fan/1'), 1);
  assert.equal(count('/fan/2'), 2);
  assert.equal(count('/fan/3'), 0, 'disabled webhook gets nothing');
  assert.equal(count('/fan/4'), 1);
  assert.equal(count('/fan/5'), 1, 'B gets only B\'s event');
  assert.equal(count('/fan/6'), 0, 'deleted webhook gets nothing');
  assert.equal(count('/fan/7'), 0, 'unsubscribed by PATCH');
  assert.deepEqual(rx.reqs('/fan/5')[0].json.data, { n: 3 });
  assert.deepEqual(rx.reqs('/fan/2').map((r) => r.json.event).sort(), ['booking.created', 'payment.failed']);
  // each delivery has its own id
  const dids = ['/fan/1', '/fan/2', '/fan/4', '/fan/5'].flatMap((p) => rx.reqs(p).map((r) => r.headers['x-webhook-delivery-id']));
  assert.equal(new Set(dids).size, dids.length);
  // disabled webhook's log is empty
  assert.deepEqual((await getDeliveries(srv, A.api_key, w3.id)).data, []);
});

test('test endpoint: reports the receiver\'s answer; receiver gets a signed webhook.test', async () => {
  const a = await createAccount(srv, 'tester');
  rx.on('/test-ok', { status: 201, body: 'hello from receiver' });
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/test-ok'), events: ['booking.created'] });
  const r = await api(srv, a.api_key, 'POST', `/api/v1/webhooks/${w.id}/test`);
  assert.equal(r.status, 200, r.text);
  const t = r.json;
  assert.equal(t.status_code, 201);
  assert.equal(t.response, 'hello from receiver');
  assert.equal(t.error, null);
  assert.equal(t.success, true);
  assert.ok(Number.isInteger(t.duration_ms) && t.duration_ms >= 0);
  assert.equal(typeof t.delivery_id, 'string');
  const reqs = rx.reqs('/test-ok');
  assert.equal(reqs.length, 1, 'sent before the answer');
  const req = reqs[0];
  assert.equal(req.headers['x-webhook-event'], 'webhook.test');
  assert.equal(req.json.event, 'webhook.test');
  assert.match(req.json.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  assert.equal(typeof req.json.data, 'object');
  assert.ok(req.text.startsWith('{"event":"webhook.test","timestamp":"'), req.text);
  assert.equal(req.headers['x-webhook-signature'], hmac(w.secret, req.body));
  assert.equal(req.headers['x-webhook-delivery-id'], t.delivery_id);
  const log = await allDeliveries(srv, a.api_key, w.id);
  const e = log.find((x) => x.delivery_id === t.delivery_id);
  assert.ok(e, `test send recorded in the log: ${JSON.stringify(log)}`);
  assert.equal(e.event, 'webhook.test');
  assert.equal(e.status, 'succeeded');
  assert.equal(e.status_code, 201);
});

test('test endpoint: a failing receiver is reported and never retried', async () => {
  const a = await createAccount(srv, 'tester-fail');
  rx.on('/test-500', { status: 500, body: 'boom' });
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/test-500'), retry_attempts: 5 });
  const r = await api(srv, a.api_key, 'POST', `/api/v1/webhooks/${w.id}/test`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.success, false);
  assert.equal(r.json.status_code, 500);
  assert.equal(r.json.response, 'boom');
  await sleep(1500);
  assert.equal(rx.reqs('/test-500').length, 1, 'never retried');
  const log = await allDeliveries(srv, a.api_key, w.id);
  assert.equal(log.length, 1, JSON.stringify(log));
  assert.equal(log[0].status, 'failed');
  assert.equal(log[0].status_code, 500);
  assert.deepEqual(await allDeliveries(srv, a.api_key, w.id, { status: 'pending' }), []);
});

test('test endpoint works on a disabled webhook', async () => {
  const a = await createAccount(srv, 'tester-disabled');
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/test-disabled'), enabled: false });
  const r = await api(srv, a.api_key, 'POST', `/api/v1/webhooks/${w.id}/test`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.success, true);
  assert.equal(r.json.status_code, 200);
  assert.equal(rx.reqs('/test-disabled').length, 1);
  assert.equal(rx.reqs('/test-disabled')[0].json.event, 'webhook.test');
});

test('test endpoint honours the webhook timeout on a hanging receiver', async () => {
  const a = await createAccount(srv, 'tester-hang');
  rx.on('/test-hang', { hang: true });
  const w = await createWebhook(srv, a.api_key, { url: rx.at('/test-hang'), timeout: 1 });
  const r = await api(srv, a.api_key, 'POST', `/api/v1/webhooks/${w.id}/test`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.success, false);
  assert.equal(r.json.status_code, null);
  assert.match(String(r.json.error), /time/i);
  assert.ok(r.json.duration_ms >= 900, `${r.json.duration_ms}`);
});

test('test sends waiting on a receiver that never answers hold up no other request', async () => {
  // more test sends at once than the server has HTTP threads (64 at most):
  // each waits for its receiver without keeping a thread from other clients
  const a = await createAccount(srv, 'tester-many');
  rx.on('/test-many-hang', { hang: true });
  rx.on('/test-many-ok', {});
  const hung = await createWebhook(srv, a.api_key, { url: rx.at('/test-many-hang'), timeout: 4 });
  const ok = await createWebhook(srv, a.api_key, { url: rx.at('/test-many-ok'), events: ['booking.created'] });
  let nTestsDone = 0;
  const tests = Array.from({ length: 70 }, () =>
    api(srv, a.api_key, 'POST', `/api/v1/webhooks/${hung.id}/test`).then((r) => { nTestsDone++; return r; }));
  await waitFor(() => rx.reqs('/test-many-hang').length === 70, 15000, { msg: 'all 70 test sends reached the receiver' });
  const others = await Promise.all([
    ...Array.from({ length: 20 }, (_, i) => api(srv, a.api_key, 'POST', '/api/v1/events',
      { event: 'booking.created', data: { i } })),
    api(srv, a.api_key, 'GET', '/api/v1/webhooks'),
    api(srv, a.api_key, 'GET', `/api/v1/webhooks/${ok.id}/deliveries`),
    api(srv, null, 'GET', '/healthz'),
  ]);
  assert.equal(nTestsDone, 0, 'the other requests were answered while every test send still waited');
  for (const r of others.slice(0, 20)) assert.equal(r.status, 202, r.text);
  for (const r of others.slice(20)) assert.equal(r.status, 200, r.text);
  await waitFor(() => rx.reqs('/test-many-ok').length === 20, 15000, { msg: 'the 20 events delivered' });
  for (const r of await Promise.all(tests)) {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.success, false);
    assert.match(String(r.json.error), /time/i);
  }
});

test('SIGTERM answers the test sends still waiting, then exits 0', async () => {
  const s = await startServer();
  try {
    const a = await createAccount(s, 'tester-stop');
    rx.on('/test-stop-hang', { hang: true });
    const w = await createWebhook(s, a.api_key, { url: rx.at('/test-stop-hang'), timeout: 2 });
    const tests = Array.from({ length: 5 }, () => api(s, a.api_key, 'POST', `/api/v1/webhooks/${w.id}/test`));
    await waitFor(() => rx.reqs('/test-stop-hang').length === 5, 10000, { msg: 'the test sends reached the receiver' });
    s.proc.kill('SIGTERM');
    for (const r of await Promise.all(tests)) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.success, false);
    }
    const st = await s.stop('SIGTERM');
    assert.equal(st.timedOut, undefined, 'exited by itself');
    assert.equal(st.code, 0, `${JSON.stringify(st)}\n${s.logs().slice(-2000)}`);
  } finally {
    await s.stop('SIGKILL');
  }
});

test('test endpoint reports an unreachable receiver as an error without a status code', async () => {
  const a = await createAccount(srv, 'tester-down');
  const closed = await startReceiver();
  const url = closed.at('/gone');
  await closed.close();
  const w = await createWebhook(srv, a.api_key, { url });
  const r = await api(srv, a.api_key, 'POST', `/api/v1/webhooks/${w.id}/test`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.success, false);
  assert.equal(r.json.status_code, null);
  assert.equal(typeof r.json.error, 'string');
  assert.ok(r.json.error.length > 0);
});
