// multinode.test.mjs - several `serve` nodes on one PostgreSQL database.
//
//   - three nodes, 10,000 deliveries (2,500 events x 4 webhooks), no crash:
//     every delivery arrives exactly once;
//   - the same with one node killed -9 in the middle: every delivery arrives
//     at least once, a repeat only with the same delivery id (the dead
//     node's leases run out and the others take its work over);
//   - two nodes started at the same moment on an empty database both come up,
//     with one schema;
//   - the database stopped and restarted under load (a private server of
//     this test, so other test files keep theirs): /healthz says 503 while it
//     is away, the nodes recover without a restart, and every event that got
//     a 202 is delivered.
//
// Runs when SKW_E2E_DB_URL_TEMPLATE is set (CI sets it; see
// tests/pg/start-pg.sh); a set template whose server does not answer fails.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  startServer, api, createAccount, createWebhook, waitFor, sleep, freePort, onExit,
  createDatabase, DB_URL_TEMPLATE, REPO_ROOT, rawRequest,
} from './lib.mjs';
import { startReceiver } from './receivers.mjs';

const skip = DB_URL_TEMPLATE ? false : 'SKW_E2E_DB_URL_TEMPLATE is not set (PostgreSQL tests)';
const START_PG = path.join(REPO_ROOT, 'tests', 'pg', 'start-pg.sh');

const servers = [];
const receivers = [];
after(async () => {
  for (const s of servers) await s.stop('SIGKILL');
  for (const r of receivers) await r.close();
});

function psql(url, sql) {
  const r = spawnSync('psql', [url, '-qXAt', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, `psql ${sql}: ${r.stderr}`);
  return r.stdout.trim();
}

/** n nodes on dbUrl sharing one key file; the first creates it. */
async function startNodes(dbUrl, n, extraArgs = []) {
  const args = ['--lease-margin', '2s', '--per-webhook-in-flight', '32', ...extraArgs];
  const first = await startServer({ dbUrl, extraArgs: [...args, '--node-id', 'node-0'] });
  servers.push(first);
  const nodes = [first];
  for (let i = 1; i < n; i++) {
    const s = await startServer({ dbUrl, keyFile: first.keyFile, extraArgs: [...args, '--node-id', `node-${i}`] });
    servers.push(s);
    nodes.push(s);
  }
  return nodes;
}

/**
 * Posts `total` events spread over the live nodes, `parallel` at a time;
 * calls onAck(count) after each 202. Returns Map n -> event id of the 202s.
 */
async function postEvents(nodes, key, total, { parallel = 24, onAck, isAlive = () => true, base = 0 } = {}) {
  const acked = new Map();
  let next = base;
  const worker = async (w) => {
    while (next < base + total) {
      const n = next++;
      const live = nodes.filter(isAlive);
      const s = live[(n + w) % live.length];
      try {
        const r = await api(s, key, 'POST', '/api/v1/events', { event: 'booking.created', data: { n } });
        if (r.status === 202) {
          acked.set(n, r.json.id);
          onAck?.(acked.size);
        }
      } catch { /* a node killed under us: the event may or may not exist */ }
    }
  };
  await Promise.all(Array.from({ length: parallel }, (_, w) => worker(w)));
  return acked;
}

/** (path|n) -> Set of delivery ids, and delivery id -> count of requests. */
function received(rx, paths) {
  const byKey = new Map();
  const byId = new Map();
  for (const q of rx.requests) {
    if (!paths.includes(q.path) || !q.json) continue;
    const k = `${q.path}|${q.json.data.n}`;
    const id = q.headers['x-webhook-delivery-id'];
    if (!byKey.has(k)) byKey.set(k, new Set());
    byKey.get(k).add(id);
    byId.set(id, (byId.get(id) || 0) + 1);
  }
  return { byKey, byId };
}

function missingOf(acked, paths, byKey) {
  const missing = [];
  for (const n of acked.keys()) for (const p of paths) if (!byKey.has(`${p}|${n}`)) missing.push(`${p}|${n}`);
  return missing;
}

async function fanOutRun(t, { kill }) {
  const EVENTS = 2500;
  const paths = ['/mn/1', '/mn/2', '/mn/3', '/mn/4'];
  const rx = await startReceiver();
  receivers.push(rx);
  for (const p of paths) rx.on(p, { status: 200, delayMs: 5 });
  const dbUrl = createDatabase();
  const nodes = await startNodes(dbUrl, 3);
  const a = await createAccount(nodes[0], kill ? 'multinode crash' : 'multinode');
  // without a crash, a timeout (this one process both posts and receives
  // 10,000 requests) would be a legitimate retry: give the receiver time. With
  // the crash, the timeout sets how soon the dead node's leases run out.
  for (const p of paths) {
    await createWebhook(nodes[0], a.api_key,
      { url: rx.at(p), events: ['booking.created'], retry_attempts: 10, timeout: kill ? 2 : 60 });
  }

  const t0 = Date.now();
  let victim = null;
  const dead = new Set();
  if (kill) {
    // kill node 1 once a good share of the deliveries is through and the
    // rest is queued or in flight on every node
    const timer = setInterval(() => {
      if (victim || rx.requests.length < 3000) return;
      victim = nodes[1];
      dead.add(victim);
      victim.proc.kill('SIGKILL');
      clearInterval(timer);
    }, 5);
    onExit(() => clearInterval(timer));
  }
  const acked = await postEvents(nodes, a.api_key, EVENTS, { isAlive: (s) => !dead.has(s) });
  const tPosted = Date.now() - t0;
  await waitFor(() => missingOf(acked, paths, received(rx, paths).byKey).length === 0, 90000,
    { interval: 200, msg: `${acked.size * paths.length} deliveries at the receivers` });
  const tDelivered = Date.now() - t0;
  await sleep(kill ? 3000 : 1500); // stragglers would show as duplicates

  const { byKey, byId } = received(rx, paths);
  t.diagnostic(`${acked.size} events acked in ${tPosted} ms; ${acked.size * paths.length} deliveries ` +
    `in ${tDelivered} ms; ${rx.requests.length} requests${kill ? `, node-1 killed at ${victim ? 'yes' : 'no'}` : ''}`);
  assert.deepEqual(missingOf(acked, paths, byKey), [], 'every acknowledged event at every webhook');
  const multi = [...byKey.entries()].filter(([, ids]) => ids.size !== 1).map(([k, ids]) => `${k}: ${[...ids]}`);
  assert.deepEqual(multi, [], 'one delivery id per (event, webhook)');
  const ackedN = new Set([...acked.keys()].map(String));
  const stray = [...byKey.keys()].filter((k) => !ackedN.has(k.split('|')[1]));
  if (kill) {
    assert.ok(victim, 'a node was killed in the middle of the run');
    const st = await victim.exited;
    assert.equal(st.signal, 'SIGKILL');
    assert.ok(stray.length <= 24 * paths.length, `deliveries of unacknowledged events: ${stray.length}`);
    const repeats = [...byId.values()].filter((c) => c > 1).length;
    t.diagnostic(`deliveries repeated after the kill (same id): ${repeats}`);
  } else {
    assert.equal(acked.size, EVENTS, 'every event acknowledged');
    assert.deepEqual(stray, []);
    const twice = [...byId.entries()].filter(([, c]) => c > 1);
    const failed = twice.length
      ? psql(dbUrl, 'SELECT attempt_no, status_code, error, count(*) FROM attempts WHERE NOT success GROUP BY 1, 2, 3')
      : '';
    assert.deepEqual(twice, [], `no delivery sent twice (failed attempts: ${failed})`);
    assert.equal(byId.size, EVENTS * paths.length);
  }
  // events a killed node committed but never acknowledged are in the queue
  // too, leased to it: they go once its leases run out (timeout + margin)
  await waitFor(() => psql(dbUrl, 'SELECT count(*) FROM queue') === '0', 20000,
    { interval: 200, msg: 'the queue is empty' });
  for (const s of nodes.filter((n) => !dead.has(n))) {
    const st = await s.stop('SIGTERM');
    assert.equal(st.code, 0, `a clean exit after SIGTERM: ${s.logs().slice(-1500)}`);
  }
  assertNoPassword(dbUrl, nodes);
  await rx.close();
}

/** The database password never reaches a node's output. */
function assertNoPassword(dbUrl, nodes) {
  const pw = decodeURIComponent(new URL(dbUrl).password);
  assert.ok(pw.length >= 4, 'the test database URL has a password');
  for (const s of nodes) assert.ok(!s.logs().includes(pw), 'no password in the logs');
}

test('three nodes, 10,000 deliveries, no crash: each delivered exactly once', { skip, timeout: 180000 }, async (t) => {
  await fanOutRun(t, { kill: false });
});

test('three nodes, 10,000 deliveries, one killed -9 midway: each delivered at least once', { skip, timeout: 180000 }, async (t) => {
  await fanOutRun(t, { kill: true });
});

test('two nodes started at the same moment on an empty database: both up, one schema', { skip, timeout: 60000 }, async () => {
  for (let round = 0; round < 3; round++) {
    const dbUrl = createDatabase();
    const [x, y] = await Promise.all([
      startServer({ dbUrl, extraArgs: ['--node-id', 'twin-a'] }),
      startServer({ dbUrl, extraArgs: ['--node-id', 'twin-b'] }),
    ]);
    servers.push(x, y);
    assert.equal(psql(dbUrl, 'SELECT count(*) FROM skw_schema'), '1');
    assert.equal(psql(dbUrl, "SELECT count(*) FROM pg_tables WHERE tablename = 'queue'"), '1');
    // and both serve from it
    const a = await createAccount(x, 'twins');
    const r = await api(y, a.api_key, 'GET', '/api/v1/webhooks');
    assert.equal(r.status, 200);
    await x.stop('SIGTERM');
    await y.stop('SIGTERM');
  }
});

test('--role api never sends; --role worker sends what the api node accepted', { skip, timeout: 60000 }, async () => {
  const rx = await startReceiver();
  receivers.push(rx);
  const dbUrl = createDatabase();
  const apiNode = await startServer({ dbUrl, extraArgs: ['--role', 'api', '--node-id', 'api-1'] });
  servers.push(apiNode);
  const a = await createAccount(apiNode, 'roles');
  await createWebhook(apiNode, a.api_key, { url: rx.at('/roles'), events: ['booking.created'] });
  for (let n = 0; n < 20; n++) await api(apiNode, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { n } });
  await sleep(1500);
  assert.equal(rx.reqs('/roles').length, 0, 'the api node sends nothing');
  assert.equal(psql(dbUrl, 'SELECT count(*) FROM queue'), '20');
  const worker = await startServer({ dbUrl, keyFile: apiNode.keyFile, extraArgs: ['--role', 'worker', '--node-id', 'worker-1'] });
  servers.push(worker);
  await waitFor(() => rx.reqs('/roles').length >= 20, 20000, { msg: 'the worker sends the queued deliveries' });
  // new events accepted by the api node reach the idle worker at once
  // (NOTIFY): with only its 1 s poll, few would arrive within 300 ms
  const latencies = [];
  for (let i = 0; i < 8; i++) {
    await sleep(50 + Math.floor(Math.random() * 400));
    const t0 = Date.now();
    await api(apiNode, a.api_key, 'POST', '/api/v1/events', { event: 'booking.created', data: { n: `late${i}` } });
    await waitFor(() => rx.reqs('/roles').some((q) => q.json?.data?.n === `late${i}`), 5000, { interval: 5, msg: 'late event delivered' });
    latencies.push(Date.now() - t0);
  }
  assert.ok(latencies.filter((ms) => ms < 300).length >= 6, `woken by NOTIFY, not the poll: ${latencies} ms`);
  for (const s of [apiNode, worker]) assert.equal((await s.stop('SIGTERM')).code, 0);
});

test('the database stopped and restarted under load: nodes recover, no acknowledged event lost', { skip, timeout: 180000 }, async (t) => {
  // a private server: stopping it must not disturb other test files
  const port = await freePort();
  const env = { ...process.env, SKW_PG_PORT: String(port), SKW_PG_DATA: `/tmp/skw-e2e-pg-${process.pid}-${port}` };
  const pgctl = (...args) => spawnSync(START_PG, args, { env, encoding: 'utf8' });
  const started = pgctl();
  assert.equal(started.status, 0, `start-pg.sh: ${started.stderr}`);
  onExit(() => {
    spawnSync(START_PG, ['stop'], { env });
    spawnSync('rm', ['-rf', env.SKW_PG_DATA]);
  });
  const dbUrl = started.stdout.trim();

  const paths = ['/db/1', '/db/2'];
  const rx = await startReceiver();
  receivers.push(rx);
  for (const p of paths) rx.on(p, { status: 200, delayMs: 5 });
  const nodes = await startNodes(dbUrl, 2);
  const a = await createAccount(nodes[0], 'db restart');
  for (const p of paths) {
    await createWebhook(nodes[0], a.api_key, { url: rx.at(p), events: ['booking.created'], retry_attempts: 10, timeout: 2 });
  }

  // load all along: before, during (answered 503) and after the outage
  let isDone = false;
  let nRefused = 0;
  const acked = new Map();
  let next = 0;
  const loader = async (w) => {
    while (!isDone) {
      const n = next++;
      const r = await api(nodes[(n + w) % nodes.length], a.api_key, 'POST', '/api/v1/events',
        { event: 'booking.created', data: { n } }).catch(() => null);
      if (r?.status === 202) acked.set(n, r.json.id);
      else { nRefused++; await sleep(20); }
    }
  };
  const load = Promise.all(Array.from({ length: 8 }, (_, w) => loader(w)));
  await waitFor(() => acked.size >= 300, 30000, { msg: '300 events before the outage' });
  const st = pgctl('stop');
  assert.equal(st.status, 0, `stop: ${st.stderr}`);
  const atStop = acked.size;
  await sleep(500);
  const health = [];
  for (const s of nodes) health.push((await rawRequest(s.url, 'GET', '/healthz')).status);
  await sleep(2500);
  const st2 = pgctl();
  assert.equal(st2.status, 0, `restart: ${st2.stderr}`);
  const atRestart = acked.size;
  for (const s of nodes) {
    await waitFor(async () => (await rawRequest(s.url, 'GET', '/healthz')).status === 200, 30000,
      { msg: 'healthy again without a restart' });
  }
  const atHealthy = acked.size;
  await waitFor(() => acked.size >= atHealthy + 300, 30000, { msg: '300 events after the recovery' });
  isDone = true;
  await load;
  t.diagnostic(`acked ${acked.size} (${atStop} before the outage, ${atRestart - atStop} during it, ` +
    `${acked.size - atHealthy} after), refused ${nRefused}`);
  assert.deepEqual(health, [503, 503], '/healthz reports the database unreachable');
  assert.ok(nRefused > 0, 'events were refused while the database was away');
  for (const s of nodes) assert.equal(s.exitInfo, null, 'the node kept running');

  await waitFor(() => missingOf(acked, paths, received(rx, paths).byKey).length === 0, 90000,
    { interval: 250, msg: `${acked.size * paths.length} acknowledged deliveries` });
  const multi = [...received(rx, paths).byKey.entries()].filter(([, ids]) => ids.size !== 1);
  assert.deepEqual(multi, [], 'one delivery id per (event, webhook)');
  for (const s of nodes) {
    const st = await s.stop('SIGTERM');
    assert.equal(st.code, 0, `a clean exit after SIGTERM: ${s.logs().slice(-1500)}`);
  }
  assertNoPassword(dbUrl, nodes);
  await rx.close();
});
