// lib.mjs - helpers for the browser tests: the real skwebhooks binary on a
// free port with a temp SQLite database, a real HTTP receiver, accounts and
// sign-in links from the CLI, and Debian's chromium driven by playwright-core.
//
// Environment: SKW_BIN (default build/skwebhooks), CHROMIUM (default
// /usr/bin/chromium), SKW_KEEP_TMP=1 keeps temp dirs. Screenshots go to
// build/screenshots/<name>-desktop.png and -mobile.png. Every process and
// temp dir is removed when the test file's process exits.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.resolve(REPO_ROOT, process.env.SKW_BIN || 'build/skwebhooks');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SHOTS = path.join(REPO_ROOT, 'build', 'screenshots');
export const DESKTOP = { width: 1280, height: 900 };
export const MOBILE = { width: 375, height: 812 };

// ---------------------------------------------------------------- cleanup

const procs = new Set();
const dirs = new Set();
const closers = new Set();

process.on('exit', () => {
	for (const p of procs) { try { p.kill('SIGKILL'); } catch { /* gone */ } }
	if (!process.env.SKW_KEEP_TMP) for (const d of dirs) { try { rmSync(d, { recursive: true, force: true }); } catch { /* */ } }
});
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));

/** Closes everything opened through this module (call from after()). */
export async function closeAll() {
	for (const c of [...closers].reverse()) { try { await c(); } catch { /* best effort */ } }
	closers.clear();
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value; throws after timeoutMs. */
export async function waitFor(fn, timeoutMs = 10000, what = 'condition') {
	const end = Date.now() + timeoutMs;
	let last;
	for (;;) {
		try { last = await fn(); if (last) return last; } catch (e) { last = e; }
		if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last && last.message ? last.message : JSON.stringify(last)})`);
		await sleep(50);
	}
}

export function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.on('error', reject);
		s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
	});
}

// ---------------------------------------------------------------- the server

/**
 * Starts `skwebhooks serve` on a free port with a fresh database. Returns
 * {url, port, dir, db, cli(args), createAccount(name), loginLink(id), api(...), stop()}.
 */
export async function startServer({ retrySchedule = '300ms,300ms,300ms' } = {}) {
	const dir = mkdtempSync(path.join(os.tmpdir(), 'skw-browser-'));
	dirs.add(dir);
	const port = await freePort();
	const db = `sqlite:${path.join(dir, 'db')}`;
	const keyFile = path.join(dir, 'key');
	const args = ['serve', '--listen', `127.0.0.1:${port}`, '--db', db, '--key-file', keyFile,
		'--allow-http', '--allow-net', '127.0.0.0/8', '--retry-schedule', retrySchedule];
	const env = { ...process.env };
	delete env.SKWEBHOOKS_SECRET_KEY;
	const proc = spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
	procs.add(proc);
	let logs = '';
	proc.stdout.on('data', (b) => { logs += b; });
	proc.stderr.on('data', (b) => { logs += b; });
	let exited = null;
	proc.on('exit', (code, sig) => { exited = { code, sig }; procs.delete(proc); });
	proc.on('error', (e) => { exited = { error: e.message }; procs.delete(proc); });
	const url = `http://127.0.0.1:${port}`;
	await waitFor(async () => {
		if (exited) throw new Error(`skwebhooks exited (${JSON.stringify(exited)}): ${logs}`);
		const r = await fetch(`${url}/healthz`).catch(() => null);
		return r && r.status === 200;
	}, 15000, 'the server to answer /healthz');

	const cli = (cliArgs) => execFileSync(BIN, cliArgs, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
	const server = {
		url, port, dir, db, proc, logs: () => logs, cli,
		/** Creates an account with the CLI: {account_id, api_key}. */
		createAccount(name) {
			return JSON.parse(cli(['account', 'create', name, '--db', db, '--json']));
		},
		/** A fresh one-time sign-in URL for the account (from the CLI). */
		loginLink(accountId) {
			return JSON.parse(cli(['login-link', accountId, '--db', db, '--base-url', url, '--json'])).url;
		},
		/** Calls the JSON API with an API key; returns {status, body}. */
		async api(key, method, p, body) {
			const headers = { Authorization: `Bearer ${key}` };
			if (body !== undefined) headers['Content-Type'] = 'application/json';
			const r = await fetch(`${url}/api/v1/${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
			const text = await r.text();
			let json = null;
			try { json = text ? JSON.parse(text) : null; } catch { json = text; }
			return { status: r.status, body: json };
		},
		async stop() {
			if (exited) return;
			proc.kill('SIGTERM');
			await waitFor(() => exited, 10000, 'the server to exit').catch(() => proc.kill('SIGKILL'));
		},
	};
	closers.add(() => server.stop());
	return server;
}

// ---------------------------------------------------------------- the receiver

/**
 * A real HTTP receiver on 127.0.0.1 (or host). Every request is recorded
 * ({method, path, headers, body, json}). respond(path, ...answers): the
 * answers for that path in turn ({status, body, headers}), the last one
 * repeating; unknown paths answer 200 "ok". page(path, html) serves HTML.
 */
export async function startReceiver() {
	const requests = [];
	const plans = new Map();
	const pages = new Map();
	const srv = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			const body = Buffer.concat(chunks).toString('utf8');
			let json = null;
			try { json = JSON.parse(body); } catch { /* not JSON */ }
			const p = req.url.split('?')[0];
			if (req.method === 'GET' && pages.has(p)) {
				res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
				res.end(pages.get(p));
				return;
			}
			requests.push({ method: req.method, path: p, headers: req.headers, body, json });
			const plan = plans.get(p);
			const a = plan ? (plan.length > 1 ? plan.shift() : plan[0]) : { status: 200, body: 'ok' };
			res.writeHead(a.status, { 'Content-Type': 'text/plain', ...(a.headers || {}) });
			res.end(a.body ?? '');
		});
	});
	await new Promise((r) => srv.listen(0, '127.0.0.1', r));
	const port = srv.address().port;
	const rc = {
		port,
		url: (p = '/') => `http://127.0.0.1:${port}${p}`,
		requests,
		received: (p) => requests.filter((r) => r.path === p),
		respond(p, ...answers) { plans.set(p, answers); },
		page(p, html) { pages.set(p, html); },
		close: () => new Promise((r) => { srv.closeAllConnections?.(); srv.close(() => r()); }),
	};
	closers.add(rc.close);
	return rc;
}

// ---------------------------------------------------------------- the browser

/**
 * Launches Debian's chromium headless. playwright-core's launch() gives it
 * a fresh temporary user-data dir of its own (and removes it on close);
 * each test's browser context then has its own cookies and storage.
 */
export async function launchBrowser() {
	const browser = await chromium.launch({
		executablePath: CHROMIUM,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	closers.add(() => browser.close());
	return browser;
}

/**
 * A fresh browser context (own cookies) with a page. The page records
 * console errors, page errors and every request to another origin than
 * allowedOrigins (the server's, by default), so tests can assert the
 * pages ran cleanly and fetched nothing from elsewhere.
 */
export async function newPage(browser, server, { viewport = DESKTOP, javaScriptEnabled = true, allowedOrigins = [] } = {}) {
	const context = await browser.newContext({ viewport, javaScriptEnabled, permissions: [] });
	const page = await context.newPage();
	page.problems = [];
	page.foreign = [];
	const origins = new Set([new URL(server.url).origin, ...allowedOrigins]);
	page.on('console', (m) => {
		// A failed resource load (401 for the session probe, 422 from the API) is expected.
		if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.problems.push(m.text());
	});
	page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
	page.on('request', (r) => {
		const u = r.url();
		if (u.startsWith('data:') || u.startsWith('blob:') || u === 'about:blank') return;
		if (!origins.has(new URL(u).origin)) page.foreign.push(u);
	});
	return { context, page };
}

/** Signs the page's context in with a fresh one-time link for accountId. */
export async function signIn(page, server, accountId) {
	const link = server.loginLink(accountId);
	await page.goto(link);
	await page.waitForURL(`${server.url}/settings/webhooks`);
	await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
	return link;
}

/**
 * Saves full-page screenshots of the page as it is now, at 1280 px and at
 * 375 px wide (build/screenshots/NAME-desktop.png, NAME-mobile.png), then
 * restores the viewport.
 */
export async function screenshots(page, name) {
	mkdirSync(SHOTS, { recursive: true });
	const vp = page.viewportSize();
	for (const [tag, size] of [['desktop', DESKTOP], ['mobile', MOBILE]]) {
		await page.setViewportSize(size);
		await sleep(100);
		await page.screenshot({ path: path.join(SHOTS, `${name}-${tag}.png`), fullPage: true, animations: 'disabled' });
	}
	await page.setViewportSize(vp);
}

/** Creates a webhook through the API with an account key; returns it. */
export async function createWebhook(server, key, fields) {
	const r = await server.api(key, 'POST', 'webhooks', {
		name: 'Hook', events: ['booking.created'], ...fields,
	});
	if (r.status !== 201) throw new Error(`create webhook: ${r.status} ${JSON.stringify(r.body)}`);
	return r.body;
}
