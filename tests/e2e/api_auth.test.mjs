// api_auth.test.mjs - authentication, account isolation, key revocation and
// the platform key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, api, cli, createAccount, createPlatformKey, createWebhook, assertError, RFC3339_UTC, config } from './lib.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop('SIGKILL'); });

/** Same shape of id with other characters: unknown, well-formed. */
function unknownLike(id) {
  const [pfx, rest] = [id.slice(0, id.indexOf('_') + 1), id.slice(id.indexOf('_') + 1)];
  const alt = [...rest].map((c) => (c === 'a' ? 'b' : 'a')).join('');
  return pfx + alt;
}

test('missing, malformed, unknown keys answer 401 unauthorized', async () => {
  const a = await createAccount(srv, 'auth');
  await createWebhook(srv, a.api_key);
  const cases = [
    {},
    { Authorization: '' },
    { Authorization: 'Bearer' },
    { Authorization: 'Bearer ' },
    { Authorization: 'Bearer skw_thisisnotarealkey000000000000' },
    { Authorization: `Bearer ${a.api_key}x` },
    { Authorization: `Bearer ${a.api_key.slice(0, -1)}` },
    { Authorization: `Basic ${Buffer.from(`${a.api_key}:`).toString('base64')}` },
    { Authorization: a.api_key },
  ];
  for (const h of cases) {
    for (const [m, p, b] of [['GET', '/api/v1/webhooks'], ['POST', '/api/v1/webhooks', { name: 'x', url: 'https://e.com', events: ['booking.created'] }],
      ['POST', '/api/v1/events', { event: 'booking.created', data: {} }]]) {
      const r = await api(srv, null, m, p, b, h);
      assertError(r, 401, 'unauthorized');
      assert.ok(!r.text.includes(a.api_key), 'the key is not echoed');
    }
  }
  // and nothing was created by the rejected POSTs
  const l = await api(srv, a.api_key, 'GET', '/api/v1/webhooks');
  assert.equal(l.json.data.length, 1);
});

test('account A cannot read, change or delete B\'s webhook: 404 identical to an unknown id', async () => {
  const A = await createAccount(srv, 'A');
  const B = await createAccount(srv, 'B');
  const wb = await createWebhook(srv, B.api_key, { name: 'B private' });
  const bListBefore = (await api(srv, B.api_key, 'GET', '/api/v1/webhooks')).json;
  const unknown = unknownLike(wb.id);

  const norm = (r, id) => ({ status: r.status, text: r.text.split(id).join('<ID>') });
  const pairs = [
    ['GET', (id) => `/api/v1/webhooks/${id}`, undefined],
    ['PATCH', (id) => `/api/v1/webhooks/${id}`, { name: 'stolen', enabled: false }],
    ['DELETE', (id) => `/api/v1/webhooks/${id}`, undefined],
    ['GET', (id) => `/api/v1/webhooks/${id}/deliveries`, undefined],
    ['POST', (id) => `/api/v1/webhooks/${id}/test`, undefined],
  ];
  for (const [m, p, b] of pairs) {
    const other = await api(srv, A.api_key, m, p(wb.id), b);
    const missing = await api(srv, A.api_key, m, p(unknown), b);
    assertError(other, 404, 'not_found');
    assertError(missing, 404, 'not_found');
    assert.deepEqual(norm(other, wb.id), norm(missing, unknown), `${m} ${p('{id}')}: same answer as unknown id`);
    assert.ok(!other.text.includes('whsec_'));
  }
  assert.deepEqual(config((await api(srv, B.api_key, 'GET', `/api/v1/webhooks/${wb.id}`)).json), config(wb), 'B\'s webhook unchanged');
  assert.deepEqual(config((await api(srv, B.api_key, 'GET', '/api/v1/webhooks')).json), config(bListBefore), 'B\'s list unchanged');
  const aList = (await api(srv, A.api_key, 'GET', '/api/v1/webhooks')).json.data;
  assert.ok(!aList.some((w) => w.id === wb.id), 'A\'s list does not show B\'s webhook');
});

test('an account key naming another account in X-Account-Id gets 403 and changes nothing', async () => {
  const A = await createAccount(srv, 'A2');
  const B = await createAccount(srv, 'B2');
  const wb = await createWebhook(srv, B.api_key, { name: 'B2 private' });
  const bList = (await api(srv, B.api_key, 'GET', '/api/v1/webhooks')).json;
  const h = { 'X-Account-Id': B.account_id };
  assertError(await api(srv, A.api_key, 'GET', '/api/v1/webhooks', undefined, h), 403, 'forbidden');
  assertError(await api(srv, A.api_key, 'GET', `/api/v1/webhooks/${wb.id}`, undefined, h), 403, 'forbidden');
  assertError(await api(srv, A.api_key, 'PATCH', `/api/v1/webhooks/${wb.id}`, { name: 'x' }, h), 403, 'forbidden');
  assertError(await api(srv, A.api_key, 'DELETE', `/api/v1/webhooks/${wb.id}`, undefined, h), 403, 'forbidden');
  assertError(await api(srv, A.api_key, 'POST', '/api/v1/webhooks',
    { name: 'planted', url: 'https://evil.example.com', events: ['booking.created'] }, h), 403, 'forbidden');
  assertError(await api(srv, A.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} }, h), 403, 'forbidden');
  assert.deepEqual(config((await api(srv, B.api_key, 'GET', '/api/v1/webhooks')).json), config(bList));
  assert.deepEqual((await api(srv, A.api_key, 'GET', '/api/v1/webhooks')).json.data, []);
});

test('odd ids and oversized credentials are answered, not crashed on', async () => {
  const A = await createAccount(srv, 'odd');
  for (const id of ["%27%20OR%20%271%27%3D%271", 'wh_%00', '..%2F..%2Faccounts', 'x'.repeat(5000)]) {
    const r = await api(srv, A.api_key, 'GET', `/api/v1/webhooks/${id}`);
    assert.ok([400, 404, 414].includes(r.status), `id ${id.slice(0, 30)}: ${r.status} ${r.text.slice(0, 200)}`);
  }
  const big = await api(srv, null, 'GET', '/api/v1/webhooks', undefined, { Authorization: `Bearer skw_${'a'.repeat(6000)}` });
  assert.ok([400, 401, 431].includes(big.status), `huge key: ${big.status}`);
  assert.equal((await api(srv, null, 'GET', '/healthz')).status, 200);
});

test('an account key naming its own account in X-Account-Id works', async () => {
  const A = await createAccount(srv, 'self');
  const w = await createWebhook(srv, A.api_key, {}, { 'X-Account-Id': A.account_id });
  const l = await api(srv, A.api_key, 'GET', '/api/v1/webhooks', undefined, { 'X-Account-Id': A.account_id });
  assert.equal(l.status, 200, l.text);
  assert.deepEqual(l.json.data.map((x) => x.id), [w.id]);
});

test('an account key cannot use /api/v1/accounts (403)', async () => {
  const A = await createAccount(srv, 'A3');
  assertError(await api(srv, A.api_key, 'POST', '/api/v1/accounts', { name: 'new' }), 403, 'forbidden');
  assertError(await api(srv, A.api_key, 'GET', `/api/v1/accounts/${A.account_id}`), 403, 'forbidden');
  assertError(await api(srv, A.api_key, 'DELETE', `/api/v1/accounts/${A.account_id}`), 403, 'forbidden');
  // still alive
  assert.equal((await api(srv, A.api_key, 'GET', '/api/v1/webhooks')).status, 200);
});

test('apikey create/list/revoke: a revoked key gets 401, the other key keeps working', async () => {
  const A = await createAccount(srv, 'keys');
  const k2r = await cli(srv, ['apikey', 'create', A.account_id, '--json']);
  assert.equal(k2r.code, 0, k2r.stderr);
  const k2 = k2r.json;
  assert.match(k2.api_key, /^skw_/);
  assert.equal(k2.account_id, A.account_id);
  assert.notEqual(k2.api_key, A.api_key);
  assert.notEqual(k2.key_id, A.key_id);
  const w = await createWebhook(srv, k2.api_key, { name: 'made with key 2' });
  assert.equal((await api(srv, A.api_key, 'GET', `/api/v1/webhooks/${w.id}`)).status, 200, 'same account, either key');
  // an event first: on PostgreSQL the node then remembers the key for a second, and the
  // revoke below comes from another process (the CLI), so the ingest itself must refuse it
  assert.equal((await api(srv, k2.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} })).status, 202);

  const lr = await cli(srv, ['apikey', 'list', A.account_id, '--json']);
  assert.equal(lr.code, 0, lr.stderr);
  const list = lr.json.data;
  assert.equal(list.length, 2, lr.stdout);
  for (const [key, id] of [[A.api_key, A.key_id], [k2.api_key, k2.key_id]]) {
    const e = list.find((x) => x.id === id);
    assert.ok(e, `key ${id} listed`);
    assert.equal(typeof e.prefix, 'string');
    assert.ok(e.prefix.length >= 4 && e.prefix.length < key.length - 16, `prefix is short: ${e.prefix}`);
    assert.ok(key.startsWith(e.prefix), 'prefix is the start of the key');
    assert.match(e.created_at, RFC3339_UTC);
    assert.equal(e.revoked_at, null);
  }
  assert.ok(!lr.stdout.includes(A.api_key) && !lr.stdout.includes(k2.api_key), 'list shows no full key');

  const rv = await cli(srv, ['apikey', 'revoke', k2.key_id, '--json']);
  assert.equal(rv.code, 0, rv.stderr);
  assert.deepEqual(rv.json, { id: k2.key_id, revoked: true });

  for (const [m, p, b] of [['GET', '/api/v1/webhooks'], ['GET', `/api/v1/webhooks/${w.id}`],
    ['POST', '/api/v1/webhooks', { name: 'x', url: 'https://e.com', events: ['booking.created'] }],
    ['DELETE', `/api/v1/webhooks/${w.id}`], ['POST', '/api/v1/events', { event: 'booking.created', data: {} }]]) {
    assertError(await api(srv, k2.api_key, m, p, b), 401, 'unauthorized');
  }
  const still = await api(srv, A.api_key, 'GET', '/api/v1/webhooks');
  assert.equal(still.status, 200);
  assert.deepEqual(still.json.data.map((x) => x.id), [w.id], 'the revoked key\'s requests changed nothing');

  const lr2 = await cli(srv, ['apikey', 'list', A.account_id, '--json']);
  const revoked = lr2.json.data.find((x) => x.id === k2.key_id);
  assert.match(String(revoked.revoked_at), RFC3339_UTC);
  assert.equal(lr2.json.data.find((x) => x.id === A.key_id).revoked_at, null);
});

test('platform key: create, get and delete accounts', async () => {
  const p = await createPlatformKey(srv);
  assert.match(p.api_key, /^skw_/);
  assert.equal(p.platform, true);
  assert.equal(typeof p.key_id, 'string');

  const c = await api(srv, p.api_key, 'POST', '/api/v1/accounts', { name: 'Acme Corp' });
  assert.equal(c.status, 201, c.text);
  assert.equal(c.json.name, 'Acme Corp');
  assert.equal(typeof c.json.id, 'string');
  assert.match(c.json.created_at, RFC3339_UTC);
  const g = await api(srv, p.api_key, 'GET', `/api/v1/accounts/${c.json.id}`);
  assert.equal(g.status, 200, g.text);
  assert.deepEqual(config(g.json), config(c.json));

  const c2 = await api(srv, p.api_key, 'POST', '/api/v1/accounts', { name: 'Other' });
  assert.equal(c2.status, 201);
  assert.notEqual(c2.json.id, c.json.id);

  assertError(await api(srv, p.api_key, 'GET', `/api/v1/accounts/${unknownLike(c.json.id)}`), 404, 'not_found');
  assertError(await api(srv, p.api_key, 'DELETE', `/api/v1/accounts/${unknownLike(c.json.id)}`), 404, 'not_found');

  const d = await api(srv, p.api_key, 'DELETE', `/api/v1/accounts/${c2.json.id}`);
  assert.equal(d.status, 204, d.text);
  assertError(await api(srv, p.api_key, 'GET', `/api/v1/accounts/${c2.json.id}`), 404, 'not_found');
  assert.equal((await api(srv, p.api_key, 'GET', `/api/v1/accounts/${c.json.id}`)).status, 200, 'the other account remains');
});

test('POST /api/v1/accounts validates its body', async () => {
  const p = await createPlatformKey(srv);
  assertError(await api(srv, p.api_key, 'POST', '/api/v1/accounts', '{"name":'), 400, 'malformed_json');
  assertError(await api(srv, p.api_key, 'POST', '/api/v1/accounts', { name: 7 }), 400, 'wrong_type', 'name');
  assertError(await api(srv, p.api_key, 'POST', '/api/v1/accounts', {}), 422, 'validation_failed', 'name');
  assertError(await api(srv, p.api_key, 'POST', '/api/v1/accounts', JSON.stringify({ name: 'x' }),
    { 'Content-Type': 'text/plain' }), 415, 'unsupported_media_type');
  // the unknown field must be the one named, every time
  const fields = new Set();
  for (let i = 0; i < 20; i++) {
    const r = await api(srv, p.api_key, 'POST', '/api/v1/accounts', { name: 'x', plan: 'gold' });
    assertError(r, 422, 'validation_failed');
    fields.add(String(r.json.error.field));
  }
  assert.deepEqual([...fields], ['plan'], 'error.field names the unknown field "plan"');
});

test('platform key acts as an account with X-Account-Id; without it 400 account_required; unknown 404', async () => {
  const p = await createPlatformKey(srv);
  const A = await createAccount(srv, 'PA');
  const B = await createAccount(srv, 'PB');
  const wa = await createWebhook(srv, A.api_key, { name: 'A one' });
  const wb = await createWebhook(srv, B.api_key, { name: 'B one' });

  assertError(await api(srv, p.api_key, 'GET', '/api/v1/webhooks'), 400, 'account_required');
  assertError(await api(srv, p.api_key, 'POST', '/api/v1/webhooks',
    { name: 'x', url: 'https://e.com', events: ['booking.created'] }), 400, 'account_required');
  assertError(await api(srv, p.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} }), 400, 'account_required');
  assertError(await api(srv, p.api_key, 'GET', '/api/v1/webhooks', undefined,
    { 'X-Account-Id': unknownLike(A.account_id) }), 404, 'not_found');

  const hA = { 'X-Account-Id': A.account_id };
  const la = await api(srv, p.api_key, 'GET', '/api/v1/webhooks', undefined, hA);
  assert.equal(la.status, 200, la.text);
  assert.deepEqual(la.json.data.map((w) => w.id), [wa.id]);
  const ga = await api(srv, p.api_key, 'GET', `/api/v1/webhooks/${wa.id}`, undefined, hA);
  assert.deepEqual(config(ga.json), config(wa));
  // B's webhook through A's context is not found
  assertError(await api(srv, p.api_key, 'GET', `/api/v1/webhooks/${wb.id}`, undefined, hA), 404, 'not_found');
  assertError(await api(srv, p.api_key, 'DELETE', `/api/v1/webhooks/${wb.id}`, undefined, hA), 404, 'not_found');
  assert.equal((await api(srv, B.api_key, 'GET', `/api/v1/webhooks/${wb.id}`)).status, 200);

  const made = await api(srv, p.api_key, 'POST', '/api/v1/webhooks',
    { name: 'made by platform', url: 'https://example.com/p', events: ['payment.completed'] }, hA);
  assert.equal(made.status, 201, made.text);
  const seenByA = await api(srv, A.api_key, 'GET', `/api/v1/webhooks/${made.json.id}`);
  assert.equal(seenByA.status, 200, 'the webhook belongs to A');
  assertError(await api(srv, B.api_key, 'GET', `/api/v1/webhooks/${made.json.id}`), 404, 'not_found');
  const pt = await api(srv, p.api_key, 'PATCH', `/api/v1/webhooks/${made.json.id}`, { enabled: false }, hA);
  assert.equal(pt.status, 200);
  assert.equal(pt.json.enabled, false);
  const ev = await api(srv, p.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { a: 1 } }, hA);
  assert.equal(ev.status, 202, ev.text);
  const del = await api(srv, p.api_key, 'DELETE', `/api/v1/webhooks/${made.json.id}`, undefined, hA);
  assert.equal(del.status, 204);
});

test('a platform-created account works end to end with its own CLI key', async () => {
  const p = await createPlatformKey(srv);
  const c = await api(srv, p.api_key, 'POST', '/api/v1/accounts', { name: 'Via platform' });
  assert.equal(c.status, 201);
  const k = await cli(srv, ['apikey', 'create', c.json.id, '--json']);
  assert.equal(k.code, 0, k.stderr);
  const w = await createWebhook(srv, k.json.api_key);
  const viaPlatform = await api(srv, p.api_key, 'GET', '/api/v1/webhooks', undefined, { 'X-Account-Id': c.json.id });
  assert.deepEqual(viaPlatform.json.data.map((x) => x.id), [w.id]);
});

test('deleting an account removes its webhooks and its keys stop working', async () => {
  const p = await createPlatformKey(srv);
  const A = await createAccount(srv, 'doomed');
  const keep = await createAccount(srv, 'keeper');
  const w1 = await createWebhook(srv, A.api_key);
  const w2 = await createWebhook(srv, A.api_key);
  const wk = await createWebhook(srv, keep.api_key);
  const hA = { 'X-Account-Id': A.account_id };
  assert.equal((await api(srv, p.api_key, 'GET', '/api/v1/webhooks', undefined, hA)).json.data.length, 2);

  const d = await api(srv, p.api_key, 'DELETE', `/api/v1/accounts/${A.account_id}`);
  assert.equal(d.status, 204, d.text);
  assertError(await api(srv, A.api_key, 'GET', '/api/v1/webhooks'), 401, 'unauthorized');
  assertError(await api(srv, A.api_key, 'GET', `/api/v1/webhooks/${w1.id}`), 401, 'unauthorized');
  assertError(await api(srv, p.api_key, 'GET', '/api/v1/webhooks', undefined, hA), 404, 'not_found');
  assertError(await api(srv, p.api_key, 'GET', `/api/v1/accounts/${A.account_id}`), 404, 'not_found');
  assertError(await api(srv, p.api_key, 'DELETE', `/api/v1/accounts/${A.account_id}`), 404, 'not_found');
  const lk = await cli(srv, ['apikey', 'list', A.account_id, '--json']);
  assert.ok(lk.code !== 0 || (lk.json && lk.json.data.length === 0), `no keys listed for a deleted account: ${lk.stdout}${lk.stderr}`);
  // the other account is untouched
  assert.deepEqual((await api(srv, keep.api_key, 'GET', `/api/v1/webhooks/${wk.id}`)).json, wk);
  // A's webhooks are not reachable through anyone
  for (const w of [w1, w2]) {
    assertError(await api(srv, keep.api_key, 'GET', `/api/v1/webhooks/${w.id}`), 404, 'not_found');
    assertError(await api(srv, p.api_key, 'GET', `/api/v1/webhooks/${w.id}`, undefined, { 'X-Account-Id': keep.account_id }), 404, 'not_found');
  }
});

test('a revoked platform key gets 401', async () => {
  const p = await createPlatformKey(srv);
  assert.equal((await api(srv, p.api_key, 'POST', '/api/v1/accounts', { name: 'pre' })).status, 201);
  const rv = await cli(srv, ['apikey', 'revoke', p.key_id, '--json']);
  assert.equal(rv.code, 0, rv.stderr);
  assertError(await api(srv, p.api_key, 'POST', '/api/v1/accounts', { name: 'post' }), 401, 'unauthorized');
});
