// api_validation.test.mjs - every boundary and every rejection of the
// webhook API; each rejected request must leave the account's list unchanged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, api, createAccount, createWebhook, assertError, config } from './lib.mjs';

let srv;      // --allow-http (the default e2e server)
let strict;   // no --allow-http, --max-body 4096
let acct;
let sacct;

before(async () => {
  [srv, strict] = await Promise.all([
    startServer(),
    startServer({ allowHttp: false, extraArgs: ['--max-body', '4096'] }),
  ]);
  acct = await createAccount(srv, 'validation');
  sacct = await createAccount(strict, 'strict');
});
after(async () => { await Promise.all([srv?.stop('SIGKILL'), strict?.stop('SIGKILL')]); });

const base = () => ({ name: 'v', url: 'https://example.com/hook', events: ['booking.created'] });

async function listOf(s, key) {
  const r = await api(s, key, 'GET', '/api/v1/webhooks');
  assert.equal(r.status, 200, r.text);
  return config(r.json.data);
}

/** Sends a request that must be rejected; asserts the error and that the list did not change. */
async function rejected(s, key, method, path, body, status, code, field, headers) {
  const before_ = await listOf(s, key);
  const r = await api(s, key, method, path, body, headers);
  assertError(r, status, code, field);
  const after_ = await listOf(s, key);
  assert.deepEqual(after_, before_, `list unchanged after rejected ${method} ${path}`);
  return r;
}

const create = (body, status, code, field, headers) =>
  rejected(srv, acct.api_key, 'POST', '/api/v1/webhooks', body, status, code, field, headers);

test('timeout: 0 and 301 rejected, 1 and 300 accepted', async () => {
  await create({ ...base(), timeout: 0 }, 422, 'validation_failed', 'timeout');
  await create({ ...base(), timeout: 301 }, 422, 'validation_failed', 'timeout');
  await create({ ...base(), timeout: -5 }, 422, 'validation_failed', 'timeout');
  assert.equal((await createWebhook(srv, acct.api_key, { timeout: 1 })).timeout, 1);
  assert.equal((await createWebhook(srv, acct.api_key, { timeout: 300 })).timeout, 300);
});

test('retry_attempts: -1 and 11 rejected, 0 and 10 accepted', async () => {
  await create({ ...base(), retry_attempts: -1 }, 422, 'validation_failed', 'retry_attempts');
  await create({ ...base(), retry_attempts: 11 }, 422, 'validation_failed', 'retry_attempts');
  assert.equal((await createWebhook(srv, acct.api_key, { retry_attempts: 0 })).retry_attempts, 0);
  assert.equal((await createWebhook(srv, acct.api_key, { retry_attempts: 10 })).retry_attempts, 10);
});

test('name: empty, blank and 101 characters rejected; 100 characters accepted', async () => {
  await create({ ...base(), name: '' }, 422, 'validation_failed', 'name');
  await create({ ...base(), name: '   ' }, 422, 'validation_failed', 'name');
  await create({ ...base(), name: 'n'.repeat(101) }, 422, 'validation_failed', 'name');
  const { name, ...noName } = base();
  assert.ok(name);
  await create(noName, 422, 'validation_failed', 'name');
  assert.equal((await createWebhook(srv, acct.api_key, { name: 'n'.repeat(100) })).name, 'n'.repeat(100));
  // The limit applies after trimming.
  const padded = await createWebhook(srv, acct.api_key, { name: `  ${'p'.repeat(100)}  ` });
  assert.equal(padded.name, 'p'.repeat(100));
});

test('name length counts characters, not bytes', async () => {
  const w = await createWebhook(srv, acct.api_key, { name: 'é'.repeat(100) });
  assert.equal(w.name, 'é'.repeat(100));
  await create({ ...base(), name: 'é'.repeat(101) }, 422, 'validation_failed', 'name');
});

test('url: must be an absolute https URL with a host, at most 2048 bytes', async () => {
  await create({ ...base(), url: 'https://' }, 422, 'validation_failed', 'url');
  await create({ ...base(), url: 'not a url' }, 422, 'validation_failed', 'url');
  await create({ ...base(), url: '/relative/path' }, 422, 'validation_failed', 'url');
  await create({ ...base(), url: 'ftp://example.com/x' }, 422, 'validation_failed', 'url');
  await create({ ...base(), url: '' }, 422, 'validation_failed', 'url');
  const { url, ...noUrl } = base();
  assert.ok(url);
  await create(noUrl, 422, 'validation_failed', 'url');
  const prefix = 'https://example.com/';
  const exact = prefix + 'a'.repeat(2048 - prefix.length);
  assert.equal(Buffer.byteLength(exact), 2048);
  await create({ ...base(), url: `${exact}b` }, 422, 'validation_failed', 'url');
  assert.equal((await createWebhook(srv, acct.api_key, { url: exact })).url, exact);
});

test('url: http:// rejected without --allow-http, accepted with it', async () => {
  await rejected(strict, sacct.api_key, 'POST', '/api/v1/webhooks',
    { ...base(), url: 'http://example.com/hook' }, 422, 'validation_failed', 'url');
  const w = await createWebhook(strict, sacct.api_key, { url: 'https://example.com/ok' });
  await rejected(strict, sacct.api_key, 'PATCH', `/api/v1/webhooks/${w.id}`,
    { url: 'http://example.com/hook' }, 422, 'validation_failed', 'url');
  assert.equal((await createWebhook(srv, acct.api_key, { url: 'http://example.com/hook' })).url,
    'http://example.com/hook');
});

test('events: unknown, empty, webhook.test and missing rejected (field "events")', async () => {
  await create({ ...base(), events: ['booking.nope'] }, 422, 'validation_failed', 'events');
  await create({ ...base(), events: ['booking.created', 'nope'] }, 422, 'validation_failed', 'events');
  await create({ ...base(), events: [] }, 422, 'validation_failed', 'events');
  await create({ ...base(), events: ['webhook.test'] }, 422, 'validation_failed', 'events');
  await create({ ...base(), events: ['Booking.Created'] }, 422, 'validation_failed', 'events');
  const { events, ...noEvents } = base();
  assert.ok(events);
  await create(noEvents, 422, 'validation_failed', 'events');
});

test('wrong JSON types answer 400 wrong_type with the field', async () => {
  await create({ ...base(), timeout: '30' }, 400, 'wrong_type', 'timeout');
  await create({ ...base(), events: 'a' }, 400, 'wrong_type', 'events');
  await create({ ...base(), name: 5 }, 400, 'wrong_type', 'name');
  await create({ ...base(), enabled: 'yes' }, 400, 'wrong_type', 'enabled');
  await create({ ...base(), retry_attempts: true }, 400, 'wrong_type', 'retry_attempts');
  await create({ ...base(), url: 42 }, 400, 'wrong_type', 'url');
  await create({ ...base(), timeout: null }, 400, 'wrong_type', 'timeout');
});

test('non-integer numbers are rejected for timeout and retry_attempts', async () => {
  for (const [field, v] of [['timeout', 1.5], ['retry_attempts', 2.5]]) {
    const r = await api(srv, acct.api_key, 'POST', '/api/v1/webhooks', { ...base(), [field]: v });
    assert.ok(r.status === 400 || r.status === 422, `${field}=${v}: ${r.status} ${r.text}`);
    assertError(r, r.status, r.status === 400 ? 'wrong_type' : 'validation_failed', field);
  }
});

test('malformed JSON answers 400 malformed_json', async () => {
  await create('{"name": "x", ', 400, 'malformed_json');
  await create('{name: x}', 400, 'malformed_json');
  await create('', 400, 'malformed_json');
  await create('{"name":"a","url":"https://example.com","events":["booking.created"]} trailing', 400, 'malformed_json');
});

test('a JSON body that is not an object answers 400', async () => {
  const r = await create('[]', 400);
  assert.ok(['wrong_type', 'malformed_json'].includes(r.json.error.code), r.text);
  await create('"just a string"', 400);
});

test('unknown fields answer 422 validation_failed naming the field', async () => {
  await create({ ...base(), colour: 'red' }, 422, 'validation_failed', 'colour');
  await create({ ...base(), secret: 'whsec_mine' }, 422, 'validation_failed', 'secret');
  await create({ ...base(), id: 'wh_mine' }, 422, 'validation_failed', 'id');
});

test('body over the default limit (262144 bytes) answers 413 payload_too_large', async () => {
  const body = JSON.stringify({ ...base(), name: 'x'.repeat(262144) });
  assert.ok(Buffer.byteLength(body) > 262144);
  await create(body, 413, 'payload_too_large');
});

test('--max-body is honoured: over the limit 413, under it accepted', async () => {
  const over = JSON.stringify({ ...base(), name: 'x', url: `https://example.com/${'a'.repeat(4200)}` });
  await rejected(strict, sacct.api_key, 'POST', '/api/v1/webhooks', over, 413, 'payload_too_large');
  const under = { ...base(), url: `https://example.com/${'a'.repeat(2000)}` };
  assert.ok(JSON.stringify(under).length < 4096);
  const r = await api(strict, sacct.api_key, 'POST', '/api/v1/webhooks', under);
  assert.equal(r.status, 201, r.text);
});

test('Content-Type other than application/json answers 415', async () => {
  const body = JSON.stringify(base());
  await create(body, 415, 'unsupported_media_type', undefined, { 'Content-Type': 'text/plain' });
  await create(body, 415, 'unsupported_media_type', undefined, { 'Content-Type': 'application/x-www-form-urlencoded' });
  await create(body, 415, 'unsupported_media_type', undefined, { 'Content-Type': null });
});

test('Content-Type application/json with a charset parameter is accepted', async () => {
  const r = await api(srv, acct.api_key, 'POST', '/api/v1/webhooks', JSON.stringify(base()),
    { 'Content-Type': 'application/json; charset=utf-8' });
  assert.equal(r.status, 201, r.text);
});

test('PATCH applies the same rules and a rejected PATCH changes nothing', async () => {
  const w = await createWebhook(srv, acct.api_key, { name: 'patch target' });
  const path = `/api/v1/webhooks/${w.id}`;
  const cases = [
    [{ timeout: 0 }, 422, 'validation_failed', 'timeout'],
    [{ timeout: 301 }, 422, 'validation_failed', 'timeout'],
    [{ retry_attempts: 11 }, 422, 'validation_failed', 'retry_attempts'],
    [{ retry_attempts: -1 }, 422, 'validation_failed', 'retry_attempts'],
    [{ name: '   ' }, 422, 'validation_failed', 'name'],
    [{ name: 'n'.repeat(101) }, 422, 'validation_failed', 'name'],
    [{ url: 'https://' }, 422, 'validation_failed', 'url'],
    [{ events: [] }, 422, 'validation_failed', 'events'],
    [{ events: ['nope'] }, 422, 'validation_failed', 'events'],
    [{ timeout: '30' }, 400, 'wrong_type', 'timeout'],
    [{ enabled: 'yes' }, 400, 'wrong_type', 'enabled'],
    [{ events: 'a' }, 400, 'wrong_type', 'events'],
    [{ secret: 'whsec_x' }, 422, 'validation_failed', 'secret'],
    [{ colour: 'red' }, 422, 'validation_failed', 'colour'],
    // one good field plus one bad one: nothing at all may change
    [{ name: 'half applied?', timeout: 301 }, 422, 'validation_failed', 'timeout'],
    ['{"name":', 400, 'malformed_json', undefined],
  ];
  for (const [body, status, code, field] of cases) {
    await rejected(srv, acct.api_key, 'PATCH', path, body, status, code, field);
    const g = await api(srv, acct.api_key, 'GET', path);
    assert.deepEqual(config(g.json), config(w), `webhook unchanged after PATCH ${JSON.stringify(body)}`);
  }
  await rejected(srv, acct.api_key, 'PATCH', path, JSON.stringify({ name: 'x' }), 415,
    'unsupported_media_type', undefined, { 'Content-Type': 'text/plain' });
  assert.deepEqual(config((await api(srv, acct.api_key, 'GET', path)).json), config(w));
});

test('POST /api/v1/events rejects bad input with 422 naming the field', async () => {
  const ev = (body, status, code, field) =>
    rejected(srv, acct.api_key, 'POST', '/api/v1/events', body, status, code, field);
  await ev({ event: 'booking.nope', data: {} }, 422, 'validation_failed', 'event');
  await ev({ event: 'webhook.test', data: {} }, 422, 'validation_failed', 'event');
  await ev({ data: {} }, 422, 'validation_failed', 'event');
  await ev({ event: 'booking.created', data: [1, 2] }, 422, 'validation_failed', 'data');
  await ev({ event: 'booking.created', data: 'x' }, 422, 'validation_failed', 'data');
  await ev({ event: 'booking.created', data: null }, 422, 'validation_failed', 'data');
  await ev({ event: 'booking.created', data: {}, timestamp: 'yesterday' }, 422, 'validation_failed', 'timestamp');
  await ev({ event: 'booking.created', data: {}, timestamp: '2025-13-45T10:30:00Z' }, 422, 'validation_failed', 'timestamp');
  await ev({ event: 'booking.created', data: {}, timestamp: '2025-02-30T10:00:00Z' }, 422, 'validation_failed', 'timestamp');
  await ev({ event: 'booking.created', data: {}, timestamp: '2025-01-15' }, 422, 'validation_failed', 'timestamp');
  await ev({ event: 'booking.created', data: {}, timestamp: '' }, 422, 'validation_failed', 'timestamp');
  await ev({ event: 'booking.created', data: {}, timestamp: 1736937000 }, 400, 'wrong_type', 'timestamp');
  await ev({ event: 5, data: {} }, 400, 'wrong_type', 'event');
  await ev({ event: 'booking.created', data: {}, extra: 1 }, 422, 'validation_failed', 'extra');
  await ev('{"event":', 400, 'malformed_json');
});

test('--max-body boundary on events: exactly the limit accepted, one byte more 413', async () => {
  const make = (len) => {
    const head = '{"event":"booking.created","data":{"pad":"';
    const tail = '"}}';
    return head + 'p'.repeat(len - head.length - tail.length) + tail;
  };
  const exact = make(4096);
  assert.equal(Buffer.byteLength(exact), 4096);
  const r1 = await api(strict, sacct.api_key, 'POST', '/api/v1/events', exact);
  assert.equal(r1.status, 202, r1.text);
  assertError(await api(strict, sacct.api_key, 'POST', '/api/v1/events', make(4097)), 413, 'payload_too_large');
});

test('a chunked body (no Content-Length) over the limit answers 413', async () => {
  const http = await import('node:http');
  const before_ = await listOf(strict, sacct.api_key);
  const r = await new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: strict.port, method: 'POST', path: '/api/v1/webhooks', agent: false,
      headers: { Authorization: `Bearer ${sacct.api_key}`, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
    }, (res) => {
      let t = '';
      res.on('data', (c) => { t += c; });
      res.on('end', () => resolve({ status: res.statusCode, text: t }));
    });
    req.on('error', reject);
    const body = JSON.stringify({ ...base(), url: `https://example.com/${'c'.repeat(6000)}` });
    for (let i = 0; i < body.length; i += 1000) req.write(body.slice(i, i + 1000));
    req.end();
  });
  assert.equal(r.status, 413, r.text);
  assert.equal(JSON.parse(r.text).error.code, 'payload_too_large');
  assert.deepEqual(await listOf(strict, sacct.api_key), before_);
});

test('invalid UTF-8 in a JSON string is malformed JSON', async () => {
  const body = Buffer.concat([Buffer.from('{"name":"bad '), Buffer.from([0xff, 0xfe]),
    Buffer.from('","url":"https://example.com","events":["booking.created"]}')]);
  await create(body, 400, 'malformed_json');
});

test('deeply nested JSON is rejected without harming the server', async () => {
  const depth = 100000;
  const data = `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const r = await api(srv, acct.api_key, 'POST', '/api/v1/events', `{"event":"booking.created","data":{"x":${data}}}`);
  assert.ok(r.status >= 400 && r.status < 500, `4xx expected, got ${r.status} ${r.text.slice(0, 200)}`);
  const h = await api(srv, null, 'GET', '/healthz');
  assert.equal(h.status, 200, 'server still alive');
});
