// lib.mjs - helpers for the skwebhooks end-to-end suite.
//
// Everything here drives the real binary (env SKW_BIN, default
// build/skwebhooks relative to the repository root) as a user would: as a
// child process, over HTTP, and through its CLI. Every process and temp dir
// created here is registered and removed when the test file's process exits,
// even when a test fails or the runner interrupts the file.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.resolve(REPO_ROOT, process.env.SKW_BIN || 'build/skwebhooks');

/** The 12 subscribable events of the help page's table (webhook.test excluded). */
export const EVENTS = [
  'event.created', 'event.updated', 'event.cancelled', 'event.rescheduled',
  'event.reminder', 'event.follow_up', 'booking.created', 'booking.confirmed',
  'booking.cancelled', 'payment.completed', 'payment.failed', 'payment.refunded',
];

export const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
export const DEFAULT_SCHEDULE = '200ms,200ms,200ms';

// ---------------------------------------------------------------- cleanup

const liveProcs = new Set();
const tmpDirs = new Set();
const cleanupHooks = new Set();

function killAllNow() {
  for (const p of liveProcs) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
  liveProcs.clear();
  for (const h of cleanupHooks) {
    try { h(); } catch { /* best effort */ }
  }
  cleanupHooks.clear();
  if (!process.env.SKW_KEEP_TMP) {
    for (const d of tmpDirs) {
      try { rmSync(d, { recursive: true, force: true }); } catch { /* ignore */ }
    }
    tmpDirs.clear();
  }
}

process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { killAllNow(); process.exit(128 + (os.constants.signals[sig] || 1)); });
}

/** Registers a synchronous function run when this test file's process exits. */
export function onExit(fn) { cleanupHooks.add(fn); }

/** A fresh temp dir under os.tmpdir(), removed at exit (kept with SKW_KEEP_TMP=1). */
export function tmpDir(prefix = 'skw-e2e-') {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.add(d);
  return d;
}

// ---------------------------------------------------------------- small utils

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls predicate (sync or async) until it returns a truthy value, which is
 * returned. Throws after timeoutMs with msg (and the last value seen).
 */
export async function waitFor(predicate, timeoutMs = 10000, { interval = 50, msg = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  let lastErr;
  for (;;) {
    try {
      last = await predicate();
      if (last) return last;
    } catch (e) { lastErr = e; }
    if (Date.now() > deadline) {
      const detail = lastErr ? ` (last error: ${lastErr.message})` : ` (last value: ${safeJson(last)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${msg}${detail}`);
    }
    await sleep(interval);
  }
}

function safeJson(v) {
  try { return JSON.stringify(v)?.slice(0, 500); } catch { return String(v); }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- database

// With SKW_E2E_DB_URL_TEMPLATE set (e.g. postgres://u:p@127.0.0.1:55432/{db},
// see tests/pg/start-pg.sh) every new server data dir gets a fresh PostgreSQL
// database named in place of {db} instead of a SQLite file; a restart on the
// same dir reuses it. The databases are dropped when the file's process exits.
// Servers given an explicit dbUrl keep it.
export const DB_URL_TEMPLATE = process.env.SKW_E2E_DB_URL_TEMPLATE || '';
const dirDatabases = new Map();
let dbCounter = 0;

function psql(url, sql) {
  return spawnSync('psql', [url, '-qXAt', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' });
}

/** A fresh PostgreSQL database from the template; returns its URL. */
export function createDatabase(name = `skwe2e_${process.pid}_${++dbCounter}`) {
  const admin = DB_URL_TEMPLATE.replace('{db}', 'postgres');
  const r = psql(admin, `CREATE DATABASE ${name}`);
  if (r.status !== 0) throw new Error(`CREATE DATABASE ${name} failed: ${r.stderr || r.error}`);
  onExit(() => psql(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  return DB_URL_TEMPLATE.replace('{db}', name);
}

function defaultDbUrl(dir) {
  if (!DB_URL_TEMPLATE) return `sqlite:${path.join(dir, 'db.sqlite')}`;
  if (!dirDatabases.has(dir)) dirDatabases.set(dir, createDatabase());
  return dirDatabases.get(dir);
}

// ---------------------------------------------------------------- server

/**
 * Starts `skwebhooks serve`. Options:
 *   dir        reuse this data dir (restart on the same database and key file)
 *   dbUrl      database URL (default sqlite:DIR/db.sqlite, or a fresh PostgreSQL
 *              database per DIR with SKW_E2E_DB_URL_TEMPLATE)
 *   keyFile    key file path (default DIR/key); null = pass no --key-file
 *   allowHttp  pass --allow-http (default true)
 *   allowNet   list of --allow-net CIDRs (default ['127.0.0.0/8'])
 *   retrySchedule  --retry-schedule (default 200ms,200ms,200ms); null = omit
 *   extraArgs  appended arguments
 *   args       replaces every argument after `serve` (listen is then up to you)
 *   env        extra environment
 *   port       listen port (default: a free one)
 *   waitHealthy  wait for GET /healthz == 200 (default true)
 */
export async function startServer(opts = {}) {
  const dir = opts.dir || tmpDir('skw-e2e-srv-');
  const port = opts.port || await freePort();
  const dbPath = path.join(dir, 'db.sqlite');
  const dbUrl = opts.dbUrl || defaultDbUrl(dir);
  const keyFile = opts.keyFile === undefined ? path.join(dir, 'key') : opts.keyFile;
  const allowHttp = opts.allowHttp !== false;
  const allowNet = opts.allowNet === undefined ? ['127.0.0.0/8'] : opts.allowNet;
  const schedule = opts.retrySchedule === undefined ? DEFAULT_SCHEDULE : opts.retrySchedule;

  let args;
  if (opts.args) {
    args = ['serve', ...opts.args];
  } else {
    args = ['serve', '--listen', `127.0.0.1:${port}`, '--db', dbUrl];
    if (keyFile) args.push('--key-file', keyFile);
    if (allowHttp) args.push('--allow-http');
    for (const c of allowNet) args.push('--allow-net', c);
    if (schedule) args.push('--retry-schedule', schedule);
  }
  if (opts.extraArgs) args.push(...opts.extraArgs);

  const env = { ...process.env, ...(opts.env || {}) };
  if (!opts.env || !('SKWEBHOOKS_SECRET_KEY' in opts.env)) delete env.SKWEBHOOKS_SECRET_KEY;
  const proc = spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  liveProcs.add(proc);
  let out = '';
  proc.stdout.on('data', (d) => { out += d.toString('utf8'); });
  proc.stderr.on('data', (d) => { out += d.toString('utf8'); });
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => { liveProcs.delete(proc); resolve({ code, signal }); });
    proc.on('error', (err) => { liveProcs.delete(proc); resolve({ code: null, signal: null, error: err }); });
  });
  let exitInfo = null;
  exited.then((e) => { exitInfo = e; });

  const url = `http://127.0.0.1:${port}`;
  const srv = {
    url, port, dir, dbPath, dbUrl, keyFile, proc, args, exited,
    logs: () => out,
    get exitInfo() { return exitInfo; },
    /** Sends signal, waits for exit (SIGKILL after timeoutMs). Returns {code, signal, timedOut}. */
    async stop(signal = 'SIGTERM', timeoutMs = 15000) {
      if (exitInfo) return exitInfo;
      try { proc.kill(signal); } catch { /* gone */ }
      let timer;
      const res = await Promise.race([
        exited,
        new Promise((r) => { timer = setTimeout(() => r(null), timeoutMs); }),
      ]);
      clearTimeout(timer);
      if (res) return res;
      try { proc.kill('SIGKILL'); } catch { /* gone */ }
      const e = await exited;
      return { ...e, timedOut: true };
    },
  };

  if (opts.waitHealthy !== false) {
    try {
      await waitFor(async () => {
        if (exitInfo) throw new Error(`serve exited early (${safeJson(exitInfo)}): ${out.slice(-2000)}`);
        const r = await rawRequest(url, 'GET', '/healthz', {}, undefined, 1000).catch(() => null);
        return r && r.status === 200;
      }, 15000, { msg: `GET /healthz of ${BIN} ${args.join(' ')}` , interval: 50 });
    } catch (e) {
      await srv.stop('SIGKILL');
      e.message += `\n--- server output ---\n${out.slice(-3000)}`;
      throw e;
    }
  }
  return srv;
}

// ---------------------------------------------------------------- HTTP

/**
 * One HTTP request on a fresh connection. body: undefined | string | Buffer.
 * Resolves {status, headers, text, json, body} ; rejects on network error.
 */
export function rawRequest(baseUrl, method, reqPath, headers = {}, body, timeoutMs = 30000) {
  return new Promise((resolve, reject) => {
    const u = new URL(reqPath, baseUrl);
    const h = { ...headers };
    if (body !== undefined && h['content-length'] === undefined && h['Content-Length'] === undefined) {
      h['Content-Length'] = Buffer.byteLength(body);
    }
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h, agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        let json;
        try { json = text.length ? JSON.parse(text) : undefined; } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json, body: buf });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`request timeout ${method} ${reqPath}`)));
    req.on('error', reject);
    if (body !== undefined) req.end(body); else req.end();
  });
}

/**
 * Calls the JSON API. body: object/array/number -> JSON with
 * Content-Type: application/json; string/Buffer -> sent as is (Content-Type
 * application/json unless headers say otherwise; pass 'content-type': null to
 * send none). key null -> no Authorization header.
 */
export async function api(srv, key, method, reqPath, body, headers = {}) {
  const h = {};
  if (key) h.Authorization = `Bearer ${key}`;
  let payload;
  if (body !== undefined) {
    payload = (typeof body === 'string' || Buffer.isBuffer(body)) ? body : JSON.stringify(body);
    h['Content-Type'] = 'application/json';
  }
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === 'content-type') delete h['Content-Type'];
    if (v !== null && v !== undefined) h[k] = v;
  }
  return rawRequest(srv.url, method, reqPath, h, payload);
}

/** Asserts an error answer: status, error.code, and field (when given; null = absent). */
export function assertError(res, status, code, field) {
  const ctx = `${res.status} ${res.text.slice(0, 400)}`;
  assert.equal(res.status, status, `status; got ${ctx}`);
  assert.ok(res.json && typeof res.json === 'object' && res.json.error && typeof res.json.error === 'object',
    `error body shape; got ${ctx}`);
  if (code !== undefined) assert.equal(res.json.error.code, code, `error.code; got ${ctx}`);
  assert.equal(typeof res.json.error.message, 'string', `error.message is a string; got ${ctx}`);
  assert.ok(res.json.error.message.length > 0, `error.message non-empty; got ${ctx}`);
  if (field === null) {
    assert.ok(!('field' in res.json.error) || res.json.error.field === null, `no field expected; got ${ctx}`);
  } else if (field !== undefined) {
    assert.equal(res.json.error.field, field, `error.field; got ${ctx}`);
  }
}

// ---------------------------------------------------------------- CLI

/**
 * Runs the binary. When srv (or {dbUrl, keyFile}) is given, --db and
 * --key-file of that server's data dir are appended. Resolves
 * {code, signal, stdout, stderr, json}.
 */
export function cli(srv, args, { env, timeoutMs = 20000, input, cwd } = {}) {
  const full = [...args];
  if (srv) {
    full.push('--db', srv.dbUrl);
    if (srv.keyFile) full.push('--key-file', srv.keyFile);
  }
  return run(BIN, full, { env, timeoutMs, input, cwd });
}

/** Runs any program asynchronously (the event loop keeps serving receivers). */
export function run(cmd, args, { env, timeoutMs = 20000, input, cwd } = {}) {
  return new Promise((resolve) => {
    const e = { ...process.env, ...(env || {}) };
    const p = spawn(cmd, args, { env: e, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    liveProcs.add(p);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    p.stdout.on('data', (d) => { stdout += d.toString('utf8'); });
    p.stderr.on('data', (d) => { stderr += d.toString('utf8'); });
    const timer = setTimeout(() => { timedOut = true; p.kill('SIGKILL'); }, timeoutMs);
    p.on('error', (err) => {
      clearTimeout(timer); liveProcs.delete(p);
      resolve({ code: null, signal: null, stdout, stderr: stderr + String(err), json: undefined, timedOut });
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer); liveProcs.delete(p);
      let json;
      try { json = JSON.parse(stdout); } catch { json = undefined; }
      resolve({ code, signal, stdout, stderr, json, timedOut });
    });
    p.stdin.on('error', () => {});
    if (input !== undefined) p.stdin.end(input); else p.stdin.end();
  });
}

// ---------------------------------------------------------------- domain helpers

/** `skwebhooks account create NAME --json` -> {account_id, api_key, key_id}. */
export async function createAccount(srv, name = 'acct') {
  const r = await cli(srv, ['account', 'create', name, '--json']);
  assert.equal(r.code, 0, `account create failed: ${r.stderr}`);
  assert.ok(r.json && r.json.account_id && r.json.api_key, `account create output: ${r.stdout}`);
  return r.json;
}

/** `skwebhooks apikey create --platform --json` -> {key_id, api_key, platform}. */
export async function createPlatformKey(srv) {
  const r = await cli(srv, ['apikey', 'create', '--platform', '--json']);
  assert.equal(r.code, 0, `apikey create --platform failed: ${r.stderr}`);
  assert.ok(r.json && r.json.api_key, `apikey create --platform output: ${r.stdout}`);
  return r.json;
}

let whCounter = 0;
/** POST /api/v1/webhooks with sane defaults; asserts 201 and returns the webhook. */
export async function createWebhook(srv, key, fields = {}, headers = {}) {
  const body = {
    name: `hook ${++whCounter}`,
    url: 'https://example.com/hook',
    events: ['booking.created'],
    ...fields,
  };
  const r = await api(srv, key, 'POST', '/api/v1/webhooks', body, headers);
  assert.equal(r.status, 201, `create webhook: ${r.status} ${r.text}`);
  return r.json;
}

/** POST /api/v1/events; asserts 202 and returns {id, deliveries}. */
export async function emitEvent(srv, key, event, data = {}, extra = {}, headers = {}) {
  const r = await api(srv, key, 'POST', '/api/v1/events', { event, data, ...extra }, headers);
  assert.equal(r.status, 202, `emit ${event}: ${r.status} ${r.text}`);
  return r.json;
}

/** GET the delivery log (query: object) -> the parsed answer; asserts 200. */
export async function getDeliveries(srv, key, webhookId, query = {}) {
  const qs = new URLSearchParams(query).toString();
  const r = await api(srv, key, 'GET', `/api/v1/webhooks/${webhookId}/deliveries${qs ? `?${qs}` : ''}`);
  assert.equal(r.status, 200, `deliveries: ${r.status} ${r.text}`);
  return r.json;
}

/** Whole log (follows cursors, limit 100). */
export async function allDeliveries(srv, key, webhookId, query = {}) {
  const out = [];
  let cursor;
  for (let i = 0; i < 1000; i++) {
    const q = { limit: '100', ...query };
    if (cursor) q.cursor = cursor;
    const page = await getDeliveries(srv, key, webhookId, q);
    out.push(...page.data);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}

export function fileExists(p) { return existsSync(p); }

/**
 * A webhook's configuration without its delivery activity (last_delivery
 * changes as deliveries happen; tests that check "nothing changed" compare
 * configuration).
 */
export function config(w) {
  if (Array.isArray(w)) return w.map(config);
  if (w && typeof w === 'object' && Array.isArray(w.data)) return { ...w, data: w.data.map(config) };
  if (!w || typeof w !== 'object') return w;
  const { last_delivery: _ignored, ...rest } = w;
  return rest;
}
