// receivers.mjs - webhook receivers for the e2e suite.
//
// startReceiver() listens on 127.0.0.1 (random port), records every request
// (method, url, path, headers, exact raw body bytes as a Buffer, times) and
// answers per path as programmed with on(path, behaviour).
//
// A behaviour is one of:
//   { status, body, headers, delayMs, hang, retryAfter, redirect, drip }
//       status      response status (default 200)
//       body        response body (default "ok")
//       headers     extra response headers
//       delayMs     wait this long before answering
//       hang        never answer (the socket is closed when the receiver closes)
//       retryAfter  adds a Retry-After header with this value
//       redirect    adds Location (status defaults to 302)
//       drip        { intervalMs } send 200 headers at once, then one body byte
//                   every intervalMs, forever
//   { sequence: [behaviour, ...] }  n-th request to the path gets the n-th
//                   behaviour; the last one repeats
//   function (req, n) -> behaviour  (req is the recorded request, n its index
//                   on that path)
// startHttpsReceiver({cert, key}) is the same over TLS. makeTestCA() and
// issueCert() create certificates with the openssl CLI.

import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { onExit, run, tmpDir, waitFor } from './lib.mjs';

export { waitFor } from './lib.mjs';

const liveServers = new Set();
onExit(() => {
  for (const s of liveServers) {
    try { s.closeAllConnections?.(); s.close(); } catch { /* ignore */ }
  }
});

function makeHandler(state) {
  return (req, res) => {
    const startTime = Date.now();
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url, 'http://x');
      const pathKey = u.pathname;
      const n = state.countByPath.get(pathKey) || 0;
      state.countByPath.set(pathKey, n + 1);
      const rec = {
        method: req.method,
        url: req.url,
        path: pathKey,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
        startTime,
        time: Date.now(),
        index: n,
      };
      rec.text = rec.body.toString('utf8');
      try { rec.json = JSON.parse(rec.text); } catch { rec.json = undefined; }
      state.requests.push(rec);
      for (const cb of state.listeners) {
        try { cb(rec); } catch { /* listener errors must not break the receiver */ }
      }
      let b = state.behaviours.get(pathKey) ?? state.defaultBehaviour;
      if (typeof b === 'function') b = b(rec, n);
      if (b && Array.isArray(b.sequence)) b = b.sequence[Math.min(n, b.sequence.length - 1)];
      b = b || {};
      respond(res, b, state);
    });
  };
}

function respond(res, b, state) {
  if (b.hang) return; // never answer
  const send = () => {
    if (res.destroyed || state.closed) return;
    const headers = { 'Content-Type': 'text/plain', ...(b.headers || {}) };
    if (b.retryAfter !== undefined) headers['Retry-After'] = String(b.retryAfter);
    let status = b.status ?? 200;
    if (b.redirect) { headers.Location = b.redirect; status = b.status ?? 302; }
    if (b.drip) {
      res.writeHead(status, headers);
      res.write('x');
      const t = setInterval(() => {
        if (res.destroyed || state.closed) { clearInterval(t); return; }
        res.write('x');
      }, b.drip.intervalMs || 200);
      res.on('close', () => clearInterval(t));
      state.timers.add(t);
      return;
    }
    res.writeHead(status, headers);
    res.end(b.body ?? 'ok');
  };
  if (b.delayMs) {
    const t = setTimeout(send, b.delayMs);
    state.timers.add(t);
  } else {
    send();
  }
}

function wrap(server, state, scheme) {
  const sockets = new Set();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.on('secureConnection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.on('tlsClientError', (err) => { state.tlsErrors.push(err); });
  liveServers.add(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      const base = `${scheme}://127.0.0.1:${port}`;
      const r = {
        port,
        url: base,
        /** Full URL of path on this receiver. */
        at: (p) => base + p,
        /** Every recorded request (array, in arrival order). */
        requests: state.requests,
        tlsErrors: state.tlsErrors,
        /** Programs the answer for a path ("/x"). */
        on(p, behaviour) { state.behaviours.set(p, behaviour); return r; },
        /** Answer for paths without a programmed behaviour. */
        setDefault(behaviour) { state.defaultBehaviour = behaviour; return r; },
        /** Requests to path (pathname, query ignored), in arrival order. */
        reqs(p) { return state.requests.filter((q) => q.path === p); },
        /** Calls cb(rec) for each request once its body has arrived. */
        onRequest(cb) { state.listeners.add(cb); return () => state.listeners.delete(cb); },
        /** Waits until path has at least n requests; returns them. */
        async waitForCount(p, n, timeoutMs = 10000) {
          await waitFor(() => r.reqs(p).length >= n, timeoutMs,
            { msg: `${n} request(s) to ${p} (have ${r.reqs(p).length})` });
          return r.reqs(p);
        },
        async close() {
          state.closed = true;
          for (const t of state.timers) { clearTimeout(t); clearInterval(t); }
          for (const s of sockets) s.destroy();
          liveServers.delete(server);
          await new Promise((res) => server.close(() => res()));
        },
      };
      resolve(r);
    });
  });
}

function newState() {
  return {
    requests: [],
    behaviours: new Map(),
    countByPath: new Map(),
    listeners: new Set(),
    timers: new Set(),
    tlsErrors: [],
    defaultBehaviour: { status: 200, body: 'ok' },
    closed: false,
  };
}

/** Plain HTTP receiver on 127.0.0.1:random. */
export function startReceiver() {
  const state = newState();
  const server = http.createServer({ keepAliveTimeout: 5000 }, makeHandler(state));
  return wrap(server, state, 'http');
}

/** HTTPS receiver on 127.0.0.1:random with the given PEM cert and key. */
export function startHttpsReceiver({ cert, key }) {
  const state = newState();
  const server = https.createServer({ cert, key, keepAliveTimeout: 5000 }, makeHandler(state));
  return wrap(server, state, 'https');
}

async function openssl(args, cwd) {
  const r = await run('openssl', args, { timeoutMs: 30000, env: { OPENSSL_CONF: '/dev/null' } });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.code}) in ${cwd}: ${r.stderr}`);
  return r;
}

/**
 * A fresh test CA made with the openssl CLI. Returns
 * {dir, keyPath, certPath, cert (PEM string)}.
 */
export async function makeTestCA(name = 'skw e2e test CA') {
  const dir = tmpDir('skw-e2e-ca-');
  const keyPath = path.join(dir, 'ca.key');
  const certPath = path.join(dir, 'ca.pem');
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { dir, keyPath, certPath, cert: readFileSync(certPath, 'utf8') };
}

/**
 * A server certificate for IP 127.0.0.1 signed by ca (from makeTestCA).
 * Returns {cert, key} PEM strings (cert is the leaf only).
 */
export async function issueCert(ca, { cn = '127.0.0.1', san = 'IP:127.0.0.1' } = {}) {
  const dir = tmpDir('skw-e2e-leaf-');
  const keyPath = path.join(dir, 'srv.key');
  const csrPath = path.join(dir, 'srv.csr');
  const certPath = path.join(dir, 'srv.pem');
  const extPath = path.join(dir, 'ext.cnf');
  writeFileSync(extPath, [
    `subjectAltName=${san}`,
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    '',
  ].join('\n'));
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', csrPath, '-subj', `/CN=${cn}`], dir);
  await openssl(['x509', '-req', '-in', csrPath, '-CA', ca.certPath, '-CAkey', ca.keyPath,
    '-CAcreateserial', '-out', certPath, '-days', '2', '-extfile', extPath], dir);
  return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}
