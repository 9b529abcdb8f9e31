// security.test.mjs - another account's webhook is "not found", and a
// cross-site (and a same-site, cross-origin) form POST carrying the
// session cookie is rejected and creates nothing.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
	startServer, startReceiver, launchBrowser, newPage, signIn, screenshots, closeAll, createWebhook, sleep,
} from './lib.mjs';

let server;
let receiver;
let browser;

before(async () => {
	server = await startServer();
	receiver = await startReceiver();
	browser = await launchBrowser();
});
after(closeAll);

test('another account\'s webhook id, or an unknown one, shows "Webhook not found"', async () => {
	const mine = server.createAccount('Mine');
	const theirs = server.createAccount('Theirs');
	const their = await createWebhook(server, theirs.api_key, { name: 'Their secret hook', url: receiver.url('/theirs') });
	const { page, context } = await newPage(browser, server);
	await signIn(page, server, mine.account_id);

	for (const id of [their.id, 'wh_doesnotexist00000000000000']) {
		await page.goto(`${server.url}/settings/webhooks/${id}/edit`);
		await page.getByRole('heading', { level: 1, name: 'Webhook not found' }).waitFor();
		const text = await page.locator('main').innerText();
		assert.ok(!text.includes('Their secret hook'), 'nothing of the other account shows');
		assert.ok(!text.includes(their.secret));
	}
	await page.goto(`${server.url}/settings/webhooks/${their.id}/edit`);
	await page.getByRole('heading', { level: 1, name: 'Webhook not found' }).waitFor();
	await screenshots(page, 'not-found');
	await page.getByRole('link', { name: 'Back to webhooks' }).click();
	await page.waitForURL(`${server.url}/settings/webhooks`);
	// Their webhook is untouched.
	assert.equal((await server.api(theirs.api_key, 'GET', `webhooks/${their.id}`)).body.name, 'Their secret hook');
	assert.deepEqual(page.problems, []);
	await context.close();
});

function attackPage(target) {
	const body = JSON.stringify({ name: 'evil', url: 'http://127.0.0.1:9/x?a=b', events: ['booking.created'] });
	// The text/plain trick: the form sends name + "=" + value, which here is
	// exactly that valid JSON body (the "=" falls inside the URL's query).
	const eq = body.indexOf('=');
	const [n, v] = [body.slice(0, eq), body.slice(eq + 1)];
	const esc = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
	return `<!doctype html><html><body>
<form id="plain" method="post" action="${target}/api/v1/webhooks" enctype="text/plain" target="f1">
<input name="${esc(n)}" value="${esc(v)}"></form>
<form id="url" method="post" action="${target}/api/v1/webhooks" target="f2">
<input name="name" value="evil2"><input name="url" value="http://127.0.0.1:9/y"><input name="events" value="booking.created"></form>
<form id="logout" method="post" action="${target}/logout" target="f3"></form>
<iframe name="f1"></iframe><iframe name="f2"></iframe><iframe name="f3"></iframe>
<script>
document.getElementById('plain').submit();
document.getElementById('url').submit();
document.getElementById('logout').submit();
fetch(${JSON.stringify(target + '/api/v1/webhooks')}, { method: 'POST', mode: 'no-cors', credentials: 'include',
  headers: { 'Content-Type': 'text/plain' }, body: ${JSON.stringify(body)} }).catch(() => {});
</script></body></html>`;
}

for (const [label, host] of [['cross-site (localhost)', 'localhost'], ['same-site, cross-origin (127.0.0.1, other port)', '127.0.0.1']]) {
	test(`a ${label} form POST is rejected and creates nothing`, async () => {
		const acct = server.createAccount(`CSRF ${host}`);
		const before = await createWebhook(server, acct.api_key, { name: 'Existing', url: receiver.url('/e') });
		const { page, context } = await newPage(browser, server, { allowedOrigins: [`http://${host}:${receiver.port}`] });
		await signIn(page, server, acct.account_id);

		const path = `/attack-${host.replace(/\W/g, '')}`;
		receiver.page(path, attackPage(server.url));
		const statuses = [];
		page.on('response', (r) => {
			if (r.url().startsWith(server.url) && r.request().method() === 'POST') statuses.push([r.url(), r.status()]);
		});
		await page.goto(`http://${host}:${receiver.port}${path}`);
		await sleep(1500);
		if (process.env.SKW_DEBUG) console.log(host, JSON.stringify(statuses));
		const apiPosts = statuses.filter(([u]) => u.endsWith('/api/v1/webhooks'));
		assert.ok(apiPosts.length >= 2, `the forms were sent: ${JSON.stringify(statuses)}`);
		// Cross-site, the SameSite=Strict cookie is not even sent (401); same-site
		// but cross-origin it is, and the CSRF check must refuse (403).
		for (const [u, s] of statuses) {
			if (host === '127.0.0.1') assert.equal(s, 403, `${u} answered ${s}`);
			else assert.ok(s === 401 || s === 403, `${u} answered ${s}`);
		}

		const list = (await server.api(acct.api_key, 'GET', 'webhooks')).body.data;
		assert.deepEqual(list.map((w) => w.id), [before.id], 'nothing created');
		// The cross-site logout did not end the session either.
		await page.goto(`${server.url}/settings/webhooks`);
		await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
		await page.getByRole('link', { name: 'Existing', exact: true }).waitFor();
		await context.close();
	});
}

test('the pages\' own requests carry the CSRF token: a request without it is refused', async () => {
	const acct = server.createAccount('Token Co');
	const { page, context } = await newPage(browser, server);
	await signIn(page, server, acct.account_id);
	// Same origin, session cookie, but no X-CSRF-Token: refused.
	const status = await page.evaluate(async () => {
		const r = await fetch('/api/v1/webhooks', {
			method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify({ name: 'no token', url: 'http://127.0.0.1:9/z', events: ['booking.created'] }),
		});
		return r.status;
	});
	assert.equal(status, 403);
	assert.deepEqual((await server.api(acct.api_key, 'GET', 'webhooks')).body.data, []);
	await context.close();
});
