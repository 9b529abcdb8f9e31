// metrics.test.mjs - GET /metrics: Prometheus text for operators, platform
// key only, counting what a user can cause.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, createAccount, createPlatformKey, createWebhook, api, rawRequest, waitFor } from './lib.mjs';
import { startReceiver } from './receivers.mjs';

let srv;
let rx;
before(async () => { srv = await startServer(); rx = await startReceiver(); });
after(async () => { await srv.stop(); await rx.close(); });

function value(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  assert.ok(line, `${name} in\n${text}`);
  return Number(line.slice(name.length + 1));
}

test('metrics need the platform key', async () => {
  const acct = await createAccount(srv, 'm1');
  assert.equal((await rawRequest(srv.url, 'GET', '/metrics')).status, 401);
  assert.equal((await api(srv, acct.api_key, 'GET', '/metrics')).status, 403);
});

test('metrics count events, deliveries, attempts and answers', async () => {
  const plat = await createPlatformKey(srv);
  const scrape = async () => {
    const r = await api(srv, plat.api_key, 'GET', '/metrics');
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers['content-type'], /^text\/plain; version=0.0.4/);
    return r.text;
  };
  const before_ = await scrape();
  assert.match(before_, /^skwebhooks_build_info\{version="[^"]+"\} 1$/m);
  const acct = await createAccount(srv, 'm2');
  await createWebhook(srv, acct.api_key, { url: rx.at('/ok') });
  await createWebhook(srv, acct.api_key, { url: rx.at('/ok2') });
  const ev = await api(srv, acct.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: {} });
  assert.equal(ev.status, 202);
  await api(srv, acct.api_key, 'POST', '/api/v1/events', { event: 'nope', data: {} });
  await rx.waitForCount('/ok', 1);
  await rx.waitForCount('/ok2', 1);
  const after_ = await waitFor(async () => {
    const t = await scrape();
    return value(t, 'skwebhooks_attempts_total{outcome="succeeded"}') -
      value(before_, 'skwebhooks_attempts_total{outcome="succeeded"}') >= 2 ? t : false;
  }, 5000, { msg: 'attempts counted' });
  assert.equal(value(after_, 'skwebhooks_events_accepted_total') - value(before_, 'skwebhooks_events_accepted_total'), 1);
  assert.equal(value(after_, 'skwebhooks_deliveries_queued_total') - value(before_, 'skwebhooks_deliveries_queued_total'), 2);
  assert.ok(value(after_, 'skwebhooks_http_requests_total{code="4xx"}') > value(before_, 'skwebhooks_http_requests_total{code="4xx"}'));
  assert.ok(value(after_, 'skwebhooks_http_requests_total{code="2xx"}') > value(before_, 'skwebhooks_http_requests_total{code="2xx"}'));
  assert.ok(!after_.includes(acct.account_id), 'no tenant data');
});
