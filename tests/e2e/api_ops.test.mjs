// api_ops.test.mjs - operating the service: restart and durability, secrets
// at rest and in logs, configuration by environment, CLI conventions,
// 404/405 routing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import {
  startServer, api, rawRequest, cli, run, createAccount, createPlatformKey, createWebhook, assertError,
  tmpDir, freePort, waitFor, BIN, createDatabase, DB_URL_TEMPLATE,
} from './lib.mjs';
import { spawnSync } from 'node:child_process';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop('SIGKILL'); });

test('data survives a restart; SIGTERM exits 0', async () => {
  const s1 = await startServer();
  const a = await createAccount(s1, 'persist');
  const w1 = await createWebhook(s1, a.api_key, { name: 'persisted 1', events: ['payment.failed', 'event.created'] });
  const w2 = await createWebhook(s1, a.api_key, { name: 'persisted 2', enabled: false, timeout: 5 });
  const before_ = (await api(s1, a.api_key, 'GET', '/api/v1/webhooks')).json;
  const st = await s1.stop('SIGTERM');
  assert.equal(st.timedOut, undefined, 'exited by itself after SIGTERM');
  assert.equal(st.code, 0, `exit code after SIGTERM: ${JSON.stringify(st)}\n${s1.logs().slice(-2000)}`);

  const s2 = await startServer({ dir: s1.dir });
  try {
    assert.deepEqual((await api(s2, a.api_key, 'GET', `/api/v1/webhooks/${w1.id}`)).json, w1, 'secret and fields survive');
    assert.deepEqual((await api(s2, a.api_key, 'GET', `/api/v1/webhooks/${w2.id}`)).json, w2);
    assert.deepEqual((await api(s2, a.api_key, 'GET', '/api/v1/webhooks')).json, before_);
  } finally {
    const st2 = await s2.stop('SIGINT');
    assert.equal(st2.code, 0, `exit code after SIGINT: ${JSON.stringify(st2)}`);
  }
});

test('SIGTERM finishes an in-flight API request and stops accepting new connections', async () => {
  const s = await startServer();
  const a = await createAccount(s, 'inflight');
  // a large body sent slowly keeps one request in flight while SIGTERM arrives
  const http = await import('node:http');
  const body = JSON.stringify({ name: 'slow', url: 'https://example.com/slow', events: ['booking.created'] });
  const half = Math.floor(body.length / 2);
  const answer = new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: s.port, method: 'POST', path: '/api/v1/webhooks', agent: false,
      headers: { Authorization: `Bearer ${a.api_key}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      let t = '';
      res.on('data', (c) => { t += c; });
      res.on('end', () => resolve({ status: res.statusCode, text: t }));
    });
    req.on('error', reject);
    req.write(body.slice(0, half));
    setTimeout(() => {
      s.proc.kill('SIGTERM');
      setTimeout(() => {
        // a new connection while shutting down is not served (refused, reset, or 503)
        probe = rawRequest(s.url, 'GET', '/healthz', {}, undefined, 8000).then((x) => x.status, (e) => e.code || 'error');
        setTimeout(() => req.end(body.slice(half)), 200);
      }, 300);
    }, 300);
  });
  let probe;
  const r = await answer;
  const newConn = await probe;
  assert.ok(newConn !== 200, `a new request during shutdown must not be served normally, got ${newConn}`);
  assert.equal(r.status, 201, `in-flight request completed: ${r.text}`);
  const st = await s.stop('SIGTERM');
  assert.equal(st.code, 0);
  const s2 = await startServer({ dir: s.dir });
  try {
    const l = await api(s2, a.api_key, 'GET', '/api/v1/webhooks');
    assert.equal(l.json.data.length, 1, 'the in-flight create was committed');
  } finally { await s2.stop(); }
});

async function stringsOf(file) {
  if (!existsSync(file)) return '';
  const r = await run('strings', ['-a', '-n', '6', file]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

function secretsAndKeys(values) {
  // Whole values plus their random parts, so an encoding change cannot hide them.
  const out = [];
  for (const v of values) {
    out.push(v);
    if (v.startsWith('whsec_')) out.push(v.slice(6), v.slice(6, 30));
    if (v.startsWith('skw_')) out.push(v.slice(4), v.slice(4, 24));
  }
  return out;
}

test('the database files hold no signing secret and no API key (strings)', async () => {
  // inspects SQLite's files, so SQLite even when the suite runs on PostgreSQL
  const dir = tmpDir('skw-e2e-srv-');
  const s = await startServer({ dir, dbUrl: `sqlite:${path.join(dir, 'db.sqlite')}` });
  const a = await createAccount(s, 'at rest');
  const p = await createPlatformKey(s);
  const k2 = (await cli(s, ['apikey', 'create', a.account_id, '--json'])).json;
  const hooks = [];
  for (let i = 0; i < 5; i++) hooks.push(await createWebhook(s, a.api_key, { name: `rest ${i}` }));
  const values = [a.api_key, p.api_key, k2.api_key, ...hooks.map((h) => h.secret)];
  const needles = secretsAndKeys(values);
  const files = [s.dbPath, `${s.dbPath}-wal`, `${s.dbPath}-shm`, `${s.dbPath}-journal`];
  assert.ok(existsSync(s.dbPath), `database file exists at ${s.dbPath}`);
  const check = async (when) => {
    for (const f of files) {
      const txt = await stringsOf(f);
      for (const n of needles) assert.ok(!txt.includes(n), `${path.basename(f)} (${when}) contains ${n.slice(0, 12)}...`);
    }
  };
  await check('running');
  const st = await s.stop('SIGTERM');
  assert.equal(st.code, 0);
  await check('stopped');
  // the sanity of the check itself: the names we stored are visible
  const all = await stringsOf(s.dbPath) + await stringsOf(`${s.dbPath}-wal`);
  assert.ok(all.includes('rest 0') || all.includes('at rest'), 'strings does see stored plain text');
});

test('PostgreSQL: a dump of the database holds no signing secret and no API key', { skip: !DB_URL_TEMPLATE }, async () => {
  const dbUrl = createDatabase();
  const s = await startServer({ dbUrl });
  try {
    const a = await createAccount(s, 'at rest pg');
    const p = await createPlatformKey(s);
    const hooks = [];
    for (let i = 0; i < 3; i++) hooks.push(await createWebhook(s, a.api_key, { name: `rest pg ${i}` }));
    // a delivery attempt too: the log must not carry the secret either
    const ev = await api(s, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { n: 1 } });
    assert.equal(ev.status, 202, ev.text);
    const values = [a.api_key, p.api_key, ...hooks.map((h) => h.secret)];
    // as text, and as bytea would show them (hex)
    const needles = secretsAndKeys(values).flatMap((n) => [n, Buffer.from(n).toString('hex')]);
    await waitFor(() => {
      const r = spawnSync('pg_dump', ['--data-only', dbUrl], { encoding: 'utf8' });
      return r.status === 0 && r.stdout.includes('rest pg 0') && r.stdout.includes(ev.json.id);
    }, 10000, { msg: 'pg_dump shows the stored plain text (names, the event)' });
    const dump = spawnSync('pg_dump', [dbUrl], { encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(dump.status, 0, dump.stderr);
    for (const n of needles) assert.ok(!dump.stdout.includes(n), `the dump contains ${n.slice(0, 12)}...`);
  } finally {
    await s.stop('SIGKILL');
  }
});

test('logs: one line per request with method, path, status; never a key or secret', async () => {
  const s = await startServer();
  const a = await createAccount(s, 'logs');
  const p = await createPlatformKey(s);
  const w = await createWebhook(s, a.api_key, { name: 'log hook' });
  await api(s, a.api_key, 'GET', `/api/v1/webhooks/${w.id}`);
  await api(s, a.api_key, 'PATCH', `/api/v1/webhooks/${w.id}`, { name: 'log hook 2' });
  await api(s, a.api_key, 'GET', '/api/v1/webhooks/wh_logprobe_missing');
  await api(s, `${a.api_key}zz`, 'GET', '/api/v1/webhooks');
  await api(s, p.api_key, 'POST', '/api/v1/accounts', { name: 'logged' });
  await api(s, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { token: 'x' } });
  await api(s, a.api_key, 'GET', '/api/v1/webhooks?probe=1');
  await new Promise((r) => setTimeout(r, 300));
  const logs = s.logs();
  const lines = logs.split('\n');
  const probe = lines.filter((l) => l.includes('/api/v1/webhooks/wh_logprobe_missing'));
  assert.equal(probe.length, 1, `exactly one log line for the probe request:\n${logs.slice(-3000)}`);
  assert.match(probe[0], /\bGET\b/);
  assert.match(probe[0], /\b404\b/);
  assert.match(probe[0], /\d/);
  const patchLine = lines.filter((l) => l.includes('PATCH') && l.includes(`/api/v1/webhooks/${w.id}`));
  assert.equal(patchLine.length, 1, 'one line for the PATCH');
  assert.match(patchLine[0], /\b200\b/);
  const unauth = lines.filter((l) => /\b401\b/.test(l));
  assert.ok(unauth.length >= 1, 'the 401 is logged');
  for (const n of secretsAndKeys([a.api_key, p.api_key, w.secret])) {
    assert.ok(!logs.includes(n), `logs contain ${n.slice(0, 12)}...`);
  }
  const st = await s.stop();
  assert.equal(st.code, 0);
  for (const n of secretsAndKeys([a.api_key, p.api_key, w.secret])) assert.ok(!s.logs().includes(n));
});

test('the CLI prints no key or secret to stderr, only the created key on stdout', async () => {
  const s = await startServer();
  try {
    const r = await cli(s, ['account', 'create', 'cli out', '--json']);
    assert.equal(r.code, 0);
    assert.ok(!r.stderr.includes(r.json.api_key));
    assert.ok(r.stdout.includes(r.json.api_key));
    assert.ok(!s.logs().includes(r.json.api_key));
  } finally { await s.stop('SIGKILL'); }
});

test('configuration from SKWEBHOOKS_LISTEN, SKWEBHOOKS_DB and SKWEBHOOKS_SECRET_KEY', async () => {
  const dir = tmpDir('skw-e2e-env-');
  const port = await freePort();
  const key = crypto.randomBytes(32).toString('base64');
  const dbFile = path.join(dir, 'env.db');
  const env = {
    SKWEBHOOKS_LISTEN: `127.0.0.1:${port}`,
    SKWEBHOOKS_DB: `sqlite:${dbFile}`,
    SKWEBHOOKS_SECRET_KEY: key,
  };
  const s = await startServer({ args: ['--allow-http'], env, port, dir, keyFile: null, dbUrl: `sqlite:${dbFile}` });
  let w;
  let a;
  try {
    assert.ok(existsSync(dbFile), 'database created at the SKWEBHOOKS_DB path');
    assert.ok(!existsSync(path.join(dir, 'key')), 'no key file needed');
    const r = await cli(null, ['account', 'create', 'env', '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    a = r.json;
    w = await createWebhook(s, a.api_key, { name: 'env hook' });
    assert.ok(!s.logs().includes(key), 'the master key is never logged');
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
  const s2 = await startServer({ args: [], env, port: await freePort(), dir, keyFile: null, dbUrl: `sqlite:${dbFile}`, waitHealthy: false });
  // SKWEBHOOKS_LISTEN decides the port: the one given there, not s2.port
  try {
    await waitFor(async () => {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
      return r && r.status === 200;
    }, 15000, { msg: 'restart on SKWEBHOOKS_LISTEN' });
    const g = await fetch(`http://127.0.0.1:${port}/api/v1/webhooks/${w.id}`, { headers: { Authorization: `Bearer ${a.api_key}` } });
    assert.equal(g.status, 200);
    assert.equal((await g.json()).secret, w.secret, 'secret sealed under SKWEBHOOKS_SECRET_KEY opens again');
  } finally { await s2.stop(); }
});

test('the key file is created with mode 0600 and reused', async () => {
  const s = await startServer();
  try {
    assert.ok(existsSync(s.keyFile));
    assert.equal(statSync(s.keyFile).mode & 0o077, 0, 'key file not readable by group/others');
    const k1 = readFileSync(s.keyFile);
    await s.stop();
    const s2 = await startServer({ dir: s.dir });
    await s2.stop();
    assert.deepEqual(readFileSync(s.keyFile), k1, 'key file unchanged by a restart');
  } finally { await s.stop('SIGKILL'); }
});

test('--help of every command exits 0 and prints help', async () => {
  const cmds = [
    ['--help'], ['serve', '--help'], ['account', 'create', '--help'], ['apikey', 'create', '--help'],
    ['apikey', 'list', '--help'], ['apikey', 'revoke', '--help'], ['emit', '--help'],
  ];
  for (const c of cmds) {
    const r = await run(BIN, c, { timeoutMs: 10000 });
    assert.equal(r.timedOut, false, `${c.join(' ')} returned`);
    assert.equal(r.code, 0, `${c.join(' ')} exit code; stderr: ${r.stderr}`);
    assert.ok(r.stdout.trim().length > 0, `${c.join(' ')} prints help on stdout`);
  }
  const top = await run(BIN, ['--help']);
  for (const word of ['serve', 'account', 'apikey', 'emit']) assert.ok(top.stdout.includes(word), `top help mentions ${word}`);
  const sv = await run(BIN, ['serve', '--help']);
  for (const opt of ['--listen', '--db', '--key-file', '--allow-http', '--allow-net', '--ca-file', '--retry-schedule', '--max-body', '--shutdown-grace']) {
    assert.ok(sv.stdout.includes(opt), `serve --help mentions ${opt}`);
  }
});

test('bad arguments exit non-zero with one line on stderr', async () => {
  const dataFile = path.join(srv.dir, 'ok.json');
  writeFileSync(dataFile, '{"a":1}');
  const badJson = path.join(srv.dir, 'bad.json');
  writeFileSync(badJson, '{"a":');
  const a = await createAccount(srv, 'badargs');
  const scratch = tmpDir('skw-e2e-cwd-');
  const cases = [
    { args: [] },
    { args: ['frobnicate'] },
    { args: ['--no-such-flag'] },
    { args: ['serve', '--no-such-flag'], db: true },
    { args: ['serve', '--listen'] },
    { args: ['serve', '--listen', 'not-a-host-port'], db: true },
    { args: ['serve', '--retry-schedule', 'soon'], db: true, listen: true },
    { args: ['serve', '--allow-net', '300.1.2.3/8'], db: true, listen: true },
    { args: ['serve', '--max-body', '-5'], db: true, listen: true },
    { args: ['serve', '--shutdown-grace', 'forever'], db: true, listen: true },
    { args: ['serve', '--ca-file', '/nonexistent/ca.pem'], db: true, listen: true },
    { args: ['account', 'create'], db: true },
    { args: ['account', 'frob', 'x'], db: true },
    { args: ['apikey', 'create'], db: true },
    { args: ['apikey', 'list'], db: true },
    { args: ['apikey', 'revoke'], db: true },
    { args: ['apikey', 'revoke', 'key_doesnotexist000000000000'], db: true },
    { args: ['apikey', 'create', 'acct_doesnotexist00000000000', '--json'], db: true },
    { args: ['emit'], db: true },
    { args: ['emit', 'booking.created', '--account', a.account_id], db: true },
    { args: ['emit', 'booking.created', '--data', `@${dataFile}`], db: true },
    { args: ['emit', 'booking.nope', '--account', a.account_id, '--data', `@${dataFile}`], db: true },
    { args: ['emit', 'webhook.test', '--account', a.account_id, '--data', `@${dataFile}`], db: true },
    { args: ['emit', 'booking.created', '--account', a.account_id, '--data', '@/nonexistent/x.json'], db: true },
    { args: ['emit', 'booking.created', '--account', a.account_id, '--data', `@${badJson}`], db: true },
    { args: ['emit', 'booking.created', '--account', 'acct_doesnotexist00000000000', '--data', `@${dataFile}`], db: true },
    { args: ['--db', 'nosuchscheme:/x', 'account', 'create', 'x'] },
  ];
  const problems = [];
  for (const c of cases) {
    const args = [...c.args];
    if (c.listen) args.push('--listen', `127.0.0.1:${await freePort()}`);
    // cwd: a scratch dir, so a default ./var database could not land in the repository
    const r = c.db ? await cli(srv, args, { timeoutMs: 10000, cwd: scratch })
      : await run(BIN, args, { timeoutMs: 10000, cwd: scratch });
    const what = `skwebhooks ${c.args.join(' ')}`;
    const err = r.stderr.replace(/\n$/, '');
    if (r.timedOut) problems.push(`${what}: did not exit`);
    else if (r.code === 0) problems.push(`${what}: exit 0 (stdout ${JSON.stringify(r.stdout.slice(0, 200))})`);
    else if (err.length === 0) problems.push(`${what}: exit ${r.code} but nothing on stderr`);
    else if (err.includes('\n')) problems.push(`${what}: ${err.split('\n').length} lines on stderr: ${JSON.stringify(err.slice(0, 200))}`);
  }
  assert.deepEqual(problems, [], `bad-argument handling:\n${problems.join('\n')}`);
});

test('unknown routes answer 404 not_found; wrong methods 405 method_not_allowed', async () => {
  const a = await createAccount(srv, 'routes');
  const w = await createWebhook(srv, a.api_key);
  for (const p of ['/api/v1/nope', '/api/v2/webhooks', '/api/v1/webhooks/x/y/z', '/nope']) {
    assertError(await api(srv, a.api_key, 'GET', p), 404, 'not_found');
  }
  const m405 = [
    ['PUT', `/api/v1/webhooks/${w.id}`, { name: 'x' }],
    ['POST', `/api/v1/webhooks/${w.id}`, { name: 'x' }],
    ['DELETE', '/api/v1/webhooks'],
    ['PATCH', '/api/v1/webhooks', { name: 'x' }],
    ['GET', '/api/v1/events'],
    ['DELETE', '/api/v1/events'],
    ['GET', `/api/v1/webhooks/${w.id}/test`],
    ['POST', `/api/v1/webhooks/${w.id}/deliveries`, {}],
    ['POST', '/healthz', {}],
  ];
  for (const [m, p, b] of m405) {
    assertError(await api(srv, a.api_key, m, p, b), 405, 'method_not_allowed');
  }
  assert.deepEqual((await api(srv, a.api_key, 'GET', `/api/v1/webhooks/${w.id}`)).json, w, 'unchanged');
});

test('error answers are JSON with Content-Type application/json', async () => {
  const r = await api(srv, null, 'GET', '/api/v1/webhooks');
  assert.equal(r.status, 401);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const keys = Object.keys(r.json);
  assert.deepEqual(keys, ['error']);
  assert.ok(!('field' in r.json.error), 'no field when no field is to blame');
});
