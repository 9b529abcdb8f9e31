// api_errors.test.mjs - error answers stay well-formed JSON whatever the
// input (regression: a field name cut mid-character in the message).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, createAccount, api } from './lib.mjs';

let srv;
let acct;
before(async () => { srv = await startServer(); acct = await createAccount(srv, 'errors'); });
after(async () => { await srv.stop(); });

test('an unknown field whose name is cut mid-character still gets a JSON 422', async () => {
  const name = 'a' + 'é'.repeat(40); // the message keeps 48 bytes: the cut splits an é
  const body = `{"name":"x","url":"https://example.com/h","events":["booking.created"],"${name}":1}`;
  const r = await api(srv, acct.api_key, 'POST', '/api/v1/webhooks', body);
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.code, 'validation_failed');
  assert.match(r.json.error.message, /^unknown field "aé+\??"$/);
  assert.ok(name.startsWith(r.json.error.field.replace(/\?$/, '')) && r.json.error.field.length >= 20,
    `field names the culprit: ${r.json.error.field}`);
  const list = await api(srv, acct.api_key, 'GET', '/api/v1/webhooks');
  assert.equal(list.json.data.length, 0);
});
