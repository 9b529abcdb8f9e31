// api_errors.test.mjs - error answers stay well-formed JSON whatever the
// input (regression: a field name cut mid-character in the message).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, createAccount, api, assertError } from './lib.mjs';

let srv;
let acct;
before(async () => { srv = await startServer(); acct = await createAccount(srv, 'errors'); });
after(async () => { await srv.stop(); });

test('an unknown field whose name is cut mid-character still gets a JSON 422', async () => {
  const name = 'a' + 'é'.repeat(40); // the message keeps 48 bytes: the cut splits an é
  const body = `{"name":"x","url":"https://example.com/h","events":["booking.created"],"${name}":1}`;
  const r = await api(srv, acct.api_key, 'POST', '/api/v1/webhooks', body);
  assertError(r, 422, 'validation_failed', name);
  assert.match(r.json.error.message, /^unknown field "aé+\??"$/);
  const list = await api(srv, acct.api_key, 'GET', '/api/v1/webhooks');
  assert.equal(list.json.data.length, 0);
});
