// session.test.mjs - sign-in links, browser sessions and CSRF, at the HTTP
// level (the browser suite drives the same flow in Chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, createAccount, createPlatformKey, cli, api, rawRequest, assertError } from './lib.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); });

async function signIn(url) {
  const token = url.split('/login/')[1];
  const page = await rawRequest(srv.url, 'GET', `/login/${token}`);
  assert.equal(page.status, 200);
  assert.ok(page.text.includes(`value="${token}"`), 'the page carries the token in its form');
  const res = await rawRequest(srv.url, 'POST', '/login',
    { 'Content-Type': 'application/x-www-form-urlencoded' }, `token=${token}`);
  return { token, res };
}

function cookieOf(res) {
  const sc = res.headers['set-cookie'];
  assert.ok(sc && sc.length, 'a cookie is set');
  return sc[0].split(';')[0];
}

test('a sign-in link from the API starts a session once; the cookie is locked down', async () => {
  const acct = await createAccount(srv, 'Owner');
  const link = await api(srv, acct.api_key, 'POST', '/api/v1/login-links');
  assert.equal(link.status, 201, link.text);
  assert.ok(link.json.url.startsWith(srv.url + '/login/'), link.json.url);
  const ttl = Date.parse(link.json.expires_at) - Date.now();
  assert.ok(ttl > 14 * 60e3 && ttl <= 15 * 60e3 + 1000, `valid for 15 minutes, got ${ttl} ms`);

  const { token, res } = await signIn(link.json.url);
  assert.equal(res.status, 303);
  assert.equal(res.headers.location, '/settings/webhooks');
  const sc = res.headers['set-cookie'][0];
  assert.match(sc, /HttpOnly/);
  assert.match(sc, /SameSite=Strict/);
  assert.match(sc, /Max-Age=28800/);
  const cookie = cookieOf(res);

  const again = await rawRequest(srv.url, 'POST', '/login',
    { 'Content-Type': 'application/x-www-form-urlencoded' }, `token=${token}`);
  assert.equal(again.status, 401, 'a used link is refused');
  assert.equal(again.headers['set-cookie'], undefined);

  const page = await rawRequest(srv.url, 'GET', '/settings/webhooks', { Cookie: cookie });
  assert.equal(page.status, 200);
  assert.match(page.headers['content-security-policy'], /default-src 'self'/);
  const session = await rawRequest(srv.url, 'GET', '/api/v1/session', { Cookie: cookie });
  assert.equal(session.status, 200);
  assert.equal(session.json.account.id, acct.account_id);
  assert.equal(session.json.account.name, 'Owner');
  assert.match(session.json.csrf_token, /^[0-9a-f]{64}$/);
});

test('pages without a session explain how to sign in; garbage links are refused', async () => {
  const page = await rawRequest(srv.url, 'GET', '/settings/webhooks/create');
  assert.equal(page.status, 401);
  assert.match(page.text, /SchedulingKit/);
  const bad = await rawRequest(srv.url, 'POST', '/login',
    { 'Content-Type': 'application/x-www-form-urlencoded' }, 'token=not-a-real-token');
  assert.equal(bad.status, 401);
  const odd = await rawRequest(srv.url, 'GET', '/login/%3Cscript%3E');
  assert.equal(odd.status, 401);
  assert.ok(!odd.text.includes('<script>'));
});

test('CLI login-link works; a session needs the CSRF token and its own origin to change anything', async () => {
  const acct = await createAccount(srv, 'Cli');
  const r = await cli(srv, ['login-link', acct.account_id, '--base-url', srv.url, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const { res } = await signIn(r.json.url);
  const cookie = cookieOf(res);
  const session = await rawRequest(srv.url, 'GET', '/api/v1/session', { Cookie: cookie });
  const csrf = session.json.csrf_token;
  const body = JSON.stringify({ name: 'x', url: 'https://example.com/h', events: ['booking.created'] });
  const json = { 'Content-Type': 'application/json', Cookie: cookie };

  assertError(await rawRequest(srv.url, 'POST', '/api/v1/webhooks', json, body), 403, 'csrf_rejected');
  assertError(await rawRequest(srv.url, 'POST', '/api/v1/webhooks',
    { ...json, 'X-CSRF-Token': csrf, Origin: 'http://evil.example' }, body), 403, 'csrf_rejected');
  assertError(await rawRequest(srv.url, 'POST', '/api/v1/webhooks',
    { ...json, 'X-CSRF-Token': csrf, 'Sec-Fetch-Site': 'cross-site' }, body), 403, 'csrf_rejected');
  assertError(await rawRequest(srv.url, 'POST', '/api/v1/webhooks',
    { ...json, 'X-CSRF-Token': '0'.repeat(64) }, body), 403, 'csrf_rejected');
  let list = await api(srv, acct.api_key, 'GET', '/api/v1/webhooks');
  assert.equal(list.json.data.length, 0, 'nothing was created');

  const ok = await rawRequest(srv.url, 'POST', '/api/v1/webhooks',
    { ...json, 'X-CSRF-Token': csrf, Origin: srv.url, 'Sec-Fetch-Site': 'same-origin' }, body);
  assert.equal(ok.status, 201, ok.text);
  list = await api(srv, acct.api_key, 'GET', '/api/v1/webhooks');
  assert.equal(list.json.data.length, 1);

  // the session is confined to its account
  const other = await createAccount(srv, 'Other');
  assertError(await rawRequest(srv.url, 'GET', '/api/v1/webhooks',
    { Cookie: cookie, 'X-Account-Id': other.account_id }), 403, 'forbidden');
  const plat = await createPlatformKey(srv);
  assertError(await rawRequest(srv.url, 'GET', `/api/v1/accounts/${acct.account_id}`, { Cookie: cookie }),
    403, 'forbidden');
  assert.ok(plat.api_key);

  // stats: 24 hourly buckets
  const stats = await rawRequest(srv.url, 'GET', `/api/v1/webhooks/${ok.json.id}/stats`, { Cookie: cookie });
  assert.equal(stats.status, 200);
  assert.equal(stats.json.buckets.length, 24);

  // sign out ends the session for good
  const out = await rawRequest(srv.url, 'POST', '/logout', { Cookie: cookie, 'X-CSRF-Token': csrf });
  assert.equal(out.status, 204);
  assert.match(out.headers['set-cookie'][0], /Max-Age=0/);
  const after = await rawRequest(srv.url, 'GET', '/api/v1/session', { Cookie: cookie });
  assert.equal(after.status, 401);
  const page = await rawRequest(srv.url, 'GET', '/settings/webhooks', { Cookie: cookie });
  assert.equal(page.status, 401);
});

test('a sign-in link for an unknown account is refused; keys cannot be used as sessions', async () => {
  const r = await cli(srv, ['login-link', 'acct_nope', '--json']);
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  const acct = await createAccount(srv, 'K');
  const s = await api(srv, acct.api_key, 'GET', '/api/v1/session');
  assert.equal(s.status, 401);
});
