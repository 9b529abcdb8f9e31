// allocator.test.mjs - the service under tcmalloc, as README's Configuration
// and docs/PERFORMANCE.md offer it (LD_PRELOAD of Debian's
// libtcmalloc-minimal4): the allocator is really loaded, deliveries over
// plain HTTP and HTTPS arrive signed and are logged, and SIGTERM still exits 0.
// Skipped on the sanitizer build, whose runtime must be the only allocator.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import {
  startServer, api, createAccount, createWebhook, allDeliveries, waitFor, BIN, run,
} from './lib.mjs';
import { startReceiver, startHttpsReceiver, makeTestCA, issueCert } from './receivers.mjs';

const TCMALLOC = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib']
  .map((d) => `${d}/libtcmalloc_minimal.so.4`).find((p) => existsSync(p));

async function isSanitized() {
  const r = await run('nm', ['-D', BIN]).catch(() => null);
  return !!r && /__asan_init|__ubsan_handle/.test(r.stdout);
}

let skip = false;
let srv;
let rx;
let rxs;

before(async () => {
  if (!TCMALLOC) { skip = 'libtcmalloc-minimal4 is not installed'; return; }
  if (await isSanitized()) { skip = 'sanitizer build: its runtime is the allocator'; return; }
  const ca = await makeTestCA();
  const leaf = await issueCert(ca);
  [srv, rx, rxs] = await Promise.all([
    startServer({ env: { LD_PRELOAD: TCMALLOC }, extraArgs: ['--ca-file', ca.certPath] }),
    startReceiver(),
    startHttpsReceiver(leaf),
  ]);
});
after(async () => { await Promise.all([srv?.stop('SIGKILL'), rx?.close(), rxs?.close()]); });

const hmac = (secret, body) => crypto.createHmac('sha256', secret).update(body).digest('hex');

test('under tcmalloc: every delivery arrives signed and is logged; SIGTERM exits 0', async (t) => {
  if (skip) { t.skip(skip); return; }
  const maps = readFileSync(`/proc/${srv.proc.pid}/maps`, 'utf8');
  assert.match(maps, /libtcmalloc_minimal\.so/, 'the allocator is loaded into the service');

  const a = await createAccount(srv, 'alloc');
  const plain = await createWebhook(srv, a.api_key, { url: rx.at('/alloc'), events: ['booking.created'] });
  const tls = await createWebhook(srv, a.api_key, {
    url: rxs.at('/alloc-tls'), events: ['booking.created'],
  });
  const n = 200;
  const answers = await Promise.all(Array.from({ length: n }, (_, i) =>
    api(srv, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { i } })));
  for (const r of answers) assert.equal(r.status, 202, r.text);

  const got = await rx.waitForCount('/alloc', n, 20000);
  const gotTls = await rxs.waitForCount('/alloc-tls', n, 20000);
  for (const req of got) assert.equal(req.headers['x-webhook-signature'], hmac(plain.secret, req.body));
  for (const req of gotTls) assert.equal(req.headers['x-webhook-signature'], hmac(tls.secret, req.body));
  const seen = new Set(got.map((req) => JSON.parse(req.body).data.i));
  assert.equal(seen.size, n, 'each event once');

  for (const w of [plain, tls]) {
    await waitFor(async () => {
      const log = await allDeliveries(srv, a.api_key, w.id);
      return log.filter((e) => e.status === 'succeeded').length === n;
    }, 20000, { msg: `${n} successes logged for ${w.url}` });
  }
  const exit = await srv.stop('SIGTERM');
  assert.equal(exit.code, 0, srv.logs().slice(-2000));
});
