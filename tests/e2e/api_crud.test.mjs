// api_crud.test.mjs - webhook CRUD over the HTTP API: shapes, defaults,
// stored values, ordering, PATCH and DELETE.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, api, createAccount, createWebhook, assertError, EVENTS, RFC3339_UTC,
} from './lib.mjs';

const WEBHOOK_KEYS = ['id', 'name', 'url', 'events', 'timeout', 'retry_attempts', 'enabled',
  'secret', 'created_at', 'updated_at'];
const SECRET_RE = /^whsec_[A-Za-z0-9+/]{43}=$/;

let srv;
let acct;

before(async () => {
  srv = await startServer();
  acct = await createAccount(srv, 'crud');
});
after(async () => { await srv?.stop('SIGKILL'); });

function assertNearNow(ts, what) {
  assert.match(ts, RFC3339_UTC, `${what} is RFC 3339 UTC`);
  const t = Date.parse(ts);
  assert.ok(Math.abs(t - Date.now()) < 120000, `${what} ${ts} is close to now`);
}

test('GET /healthz answers 200 {"status":"ok"} without a key', async () => {
  const r = await api(srv, null, 'GET', '/healthz');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { status: 'ok' });
  assert.match(String(r.headers['content-type']), /^application\/json/);
});

test('API keys and account ids from the CLI look right', async () => {
  assert.match(acct.api_key, /^skw_/);
  assert.equal(typeof acct.account_id, 'string');
  assert.ok(acct.account_id.length > 0);
  assert.equal(typeof acct.key_id, 'string');
  assert.ok(acct.key_id.length > 0);
});

test('POST /api/v1/webhooks creates a webhook with defaults and a signing secret', async () => {
  const body = { name: 'CRM sync', url: 'https://example.com/hooks/crm', events: ['booking.created'] };
  const r = await api(srv, acct.api_key, 'POST', '/api/v1/webhooks', body);
  assert.equal(r.status, 201, r.text);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const w = r.json;
  for (const k of WEBHOOK_KEYS) assert.ok(k in w, `webhook has "${k}": ${r.text}`);
  assert.match(w.id, /^wh_[A-Za-z0-9_-]{12,}$/);
  assert.equal(w.name, 'CRM sync');
  assert.equal(w.url, 'https://example.com/hooks/crm');
  assert.deepEqual(w.events, ['booking.created']);
  assert.equal(w.timeout, 30);
  assert.equal(w.retry_attempts, 3);
  assert.equal(w.enabled, true);
  assert.match(w.secret, SECRET_RE);
  assert.equal(Buffer.from(w.secret.slice('whsec_'.length), 'base64').length, 32);
  assertNearNow(w.created_at, 'created_at');
  assertNearNow(w.updated_at, 'updated_at');

  const g = await api(srv, acct.api_key, 'GET', `/api/v1/webhooks/${w.id}`);
  assert.equal(g.status, 200, g.text);
  assert.deepEqual(g.json, w, 'GET returns what POST returned, secret included');
});

test('all explicit fields are stored; enabled:false at creation', async () => {
  const w = await createWebhook(srv, acct.api_key, {
    name: 'all fields', url: 'https://hooks.example.org:8443/p/a/t/h?x=1&y=2', events: ['payment.failed', 'event.created'],
    timeout: 12, retry_attempts: 7, enabled: false,
  });
  assert.equal(w.url, 'https://hooks.example.org:8443/p/a/t/h?x=1&y=2');
  assert.deepEqual([...w.events].sort(), ['event.created', 'payment.failed']);
  assert.equal(w.timeout, 12);
  assert.equal(w.retry_attempts, 7);
  assert.equal(w.enabled, false);
  const g = await api(srv, acct.api_key, 'GET', `/api/v1/webhooks/${w.id}`);
  assert.deepEqual(g.json, w);
});

test('every one of the 12 events can be subscribed at once', async () => {
  const w = await createWebhook(srv, acct.api_key, { events: EVENTS });
  assert.deepEqual([...w.events].sort(), [...EVENTS].sort());
});

test('duplicate events are collapsed', async () => {
  const w = await createWebhook(srv, acct.api_key, {
    events: ['booking.created', 'payment.failed', 'booking.created', 'payment.failed', 'booking.created'],
  });
  assert.equal(w.events.length, 2, JSON.stringify(w.events));
  assert.deepEqual([...w.events].sort(), ['booking.created', 'payment.failed']);
  const g = await api(srv, acct.api_key, 'GET', `/api/v1/webhooks/${w.id}`);
  assert.equal(g.json.events.length, 2);
});

test('name is stored trimmed', async () => {
  const w = await createWebhook(srv, acct.api_key, { name: '   Zapier trigger \t ' });
  assert.equal(w.name, 'Zapier trigger');
  const g = await api(srv, acct.api_key, 'GET', `/api/v1/webhooks/${w.id}`);
  assert.equal(g.json.name, 'Zapier trigger');
});

test('ids and secrets are random: distinct, no long shared prefix', async () => {
  const hooks = [];
  for (let i = 0; i < 5; i++) hooks.push(await createWebhook(srv, acct.api_key));
  const ids = hooks.map((h) => h.id.slice(3));
  const secrets = hooks.map((h) => h.secret);
  assert.equal(new Set(ids).size, 5);
  assert.equal(new Set(secrets).size, 5);
  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      let k = 0;
      while (k < ids[i].length && ids[i][k] === ids[j][k]) k++;
      assert.ok(k < 8, `ids ${hooks[i].id} and ${hooks[j].id} share a ${k}-char prefix (sequential?)`);
    }
  }
});

test('GET /api/v1/webhooks lists newest first, without secrets', async () => {
  const a2 = await createAccount(srv, 'lister');
  const made = [];
  for (let i = 0; i < 4; i++) {
    made.push(await createWebhook(srv, a2.api_key, { name: `list ${i}` }));
    await new Promise((r) => setTimeout(r, 20));
  }
  const r = await api(srv, a2.api_key, 'GET', '/api/v1/webhooks');
  assert.equal(r.status, 200, r.text);
  assert.ok(Array.isArray(r.json.data), r.text);
  assert.deepEqual(r.json.data.map((w) => w.id), made.map((w) => w.id).reverse(), 'newest first');
  for (const w of r.json.data) {
    assert.ok(!('secret' in w), `list entry must not carry the secret: ${JSON.stringify(w)}`);
    const full = made.find((m) => m.id === w.id);
    const { secret, ...rest } = full;
    assert.ok(secret);
    for (const [k, v] of Object.entries(rest)) assert.deepEqual(w[k], v, `list field ${k}`);
  }
  assert.ok(!r.text.includes('whsec_'), 'no secret anywhere in the list body');
});

test('PATCH changes each field, keeps the rest, the secret and created_at', async () => {
  const w = await createWebhook(srv, acct.api_key, { name: 'patch me' });
  await new Promise((r) => setTimeout(r, 1100)); // so updated_at can move (second precision)
  const changes = [
    { name: '  renamed  ' },
    { url: 'https://other.example.com/new' },
    { events: ['payment.refunded', 'payment.completed'] },
    { timeout: 300 },
    { retry_attempts: 0 },
    { enabled: false },
    { enabled: true, timeout: 1, retry_attempts: 10 },
  ];
  let cur = w;
  for (const ch of changes) {
    const r = await api(srv, acct.api_key, 'PATCH', `/api/v1/webhooks/${w.id}`, ch);
    assert.equal(r.status, 200, `PATCH ${JSON.stringify(ch)}: ${r.text}`);
    const expected = { ...cur, ...ch };
    if (ch.name) expected.name = ch.name.trim();
    const got = r.json;
    for (const k of ['id', 'name', 'url', 'timeout', 'retry_attempts', 'enabled', 'secret', 'created_at']) {
      assert.deepEqual(got[k], expected[k], `after PATCH ${JSON.stringify(ch)} field ${k}`);
    }
    assert.deepEqual([...got.events].sort(), [...expected.events].sort());
    assert.match(got.updated_at, RFC3339_UTC);
    assert.ok(Date.parse(got.updated_at) >= Date.parse(got.created_at));
    const g = await api(srv, acct.api_key, 'GET', `/api/v1/webhooks/${w.id}`);
    assert.deepEqual(g.json, got, 'GET after PATCH equals the PATCH answer');
    cur = got;
  }
  assert.ok(Date.parse(cur.updated_at) > Date.parse(w.updated_at), 'updated_at moved forward');
  assert.equal(cur.secret, w.secret, 'secret unchanged by PATCH');
});

test('DELETE answers 204, then the webhook is gone everywhere', async () => {
  const w = await createWebhook(srv, acct.api_key, { name: 'delete me' });
  const d = await api(srv, acct.api_key, 'DELETE', `/api/v1/webhooks/${w.id}`);
  assert.equal(d.status, 204, d.text);
  assert.equal(d.body.length, 0, '204 has no body');
  assertError(await api(srv, acct.api_key, 'GET', `/api/v1/webhooks/${w.id}`), 404, 'not_found');
  assertError(await api(srv, acct.api_key, 'PATCH', `/api/v1/webhooks/${w.id}`, { name: 'x' }), 404, 'not_found');
  assertError(await api(srv, acct.api_key, 'DELETE', `/api/v1/webhooks/${w.id}`), 404, 'not_found');
  assertError(await api(srv, acct.api_key, 'GET', `/api/v1/webhooks/${w.id}/deliveries`), 404, 'not_found');
  assertError(await api(srv, acct.api_key, 'POST', `/api/v1/webhooks/${w.id}/test`), 404, 'not_found');
  const l = await api(srv, acct.api_key, 'GET', '/api/v1/webhooks');
  assert.ok(!l.json.data.some((x) => x.id === w.id));
});

test('unknown webhook id answers 404 not_found', async () => {
  assertError(await api(srv, acct.api_key, 'GET', '/api/v1/webhooks/wh_doesnotexist0000000000000'), 404, 'not_found');
});
