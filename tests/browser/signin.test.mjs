// signin.test.mjs - signing in by one-time link, refused links, the page
// shown without a session, and signing out.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
	startServer, launchBrowser, newPage, signIn, screenshots, closeAll,
} from './lib.mjs';

let server;
let browser;

before(async () => {
	server = await startServer();
	browser = await launchBrowser();
});
after(closeAll);

test('a page requested without a session shows "sign in from SchedulingKit" (401, no redirect)', async () => {
	const { page, context } = await newPage(browser, server);
	const res = await page.goto(`${server.url}/settings/webhooks`);
	assert.equal(res.status(), 401);
	assert.equal(res.request().redirectedFrom(), null, 'no redirect');
	assert.equal(page.url(), `${server.url}/settings/webhooks`);
	await page.getByRole('heading', { name: 'Sign in from SchedulingKit' }).waitFor();
	assert.match(await page.locator('body').innerText(), /Settings → Webhooks/);
	for (const p of ['/settings/webhooks/create', '/settings/webhooks/wh_x/edit']) {
		const r = await page.goto(server.url + p);
		assert.equal(r.status(), 401, p);
		await page.getByRole('heading', { name: 'Sign in from SchedulingKit' }).waitFor();
	}
	await screenshots(page, 'signin');
	assert.deepEqual(page.problems, []);
	await context.close();
});

test('sign in by link: lands on the webhooks page with the account name in the header', async () => {
	const acct = server.createAccount('Acme Dental');
	const { page, context } = await newPage(browser, server);
	const link = server.loginLink(acct.account_id);
	assert.ok(link.startsWith(`${server.url}/login/`), link);
	await page.goto(link);
	await page.waitForURL(`${server.url}/settings/webhooks`);
	await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
	assert.equal(await page.locator('#account-name').innerText(), 'Acme Dental');
	await page.getByRole('button', { name: 'Sign out' }).waitFor();
	// The empty state explains webhooks and offers to create one.
	await page.getByRole('heading', { name: 'No webhooks yet' }).waitFor();
	await page.getByRole('link', { name: 'Create Webhook' }).waitFor();
	// The session cookie is HttpOnly and SameSite=Strict.
	const cookies = await context.cookies(server.url);
	assert.ok(cookies.length >= 1, 'a session cookie');
	for (const c of cookies) {
		assert.equal(c.httpOnly, true, `${c.name} HttpOnly`);
		assert.equal(c.sameSite, 'Strict', `${c.name} SameSite`);
	}
	await screenshots(page, 'list-empty');
	assert.deepEqual(page.problems, []);
	assert.deepEqual(page.foreign, [], 'nothing fetched from another origin');
	await context.close();
});

test('a used link is refused, also in another browser', async () => {
	const acct = server.createAccount('Used Link Co');
	const first = await newPage(browser, server);
	const link = await signIn(first.page, server, acct.account_id);

	const second = await newPage(browser, server);
	const refused = second.page.waitForResponse((r) => r.url() === `${server.url}/login` && r.request().method() === 'POST');
	await second.page.goto(link);
	assert.equal((await refused).status(), 401);
	await second.page.getByRole('heading', { name: /expired or was already used/ }).waitFor();
	// ...and it started no session there.
	const r = await second.page.goto(`${server.url}/settings/webhooks`);
	assert.equal(r.status(), 401);
	await second.page.getByRole('heading', { name: 'Sign in from SchedulingKit' }).waitFor();
	await second.page.goto(link);
	await second.page.getByRole('heading', { name: /expired or was already used/ }).waitFor();
	await screenshots(second.page, 'link-invalid');

	// The first browser is still signed in.
	await first.page.reload();
	await first.page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
	await first.context.close();
	await second.context.close();
});

test('a garbage token is refused', async () => {
	const { page, context } = await newPage(browser, server);
	for (const token of ['garbage', 'A'.repeat(43), '%3Cscript%3E']) {
		await page.goto(`${server.url}/login/${token}`);
		await page.getByRole('heading', { name: /expired or was already used/ }).waitFor();
		assert.equal(await page.locator('script:not([src])').count(), 0);
	}
	const r = await page.goto(`${server.url}/settings/webhooks`);
	assert.equal(r.status(), 401);
	assert.deepEqual(page.problems, []);
	await context.close();
});

test('the sign-in page works without JavaScript (Continue button)', async () => {
	const acct = server.createAccount('No JS Inc');
	const { page, context } = await newPage(browser, server, { javaScriptEnabled: false });
	await page.goto(server.loginLink(acct.account_id));
	await page.getByRole('heading', { name: 'Signing you in…' }).waitFor();
	await screenshots(page, 'login');
	await page.getByRole('button', { name: 'Continue' }).click();
	await page.waitForURL(`${server.url}/settings/webhooks`);
	const cookies = await context.cookies(server.url);
	assert.ok(cookies.length >= 1);
	await context.close();
});

test('sign out ends the session', async () => {
	const acct = server.createAccount('Sign Out Ltd');
	const { page, context } = await newPage(browser, server);
	await signIn(page, server, acct.account_id);
	const before = await context.cookies(server.url);
	await page.getByRole('button', { name: 'Sign out' }).click();
	await page.waitForURL(`${server.url}/signed-out`);
	await page.getByRole('heading', { name: /signed out/i }).waitFor();
	await screenshots(page, 'signed-out');

	// Back to a page: the sign-in message, not the webhooks.
	await page.goBack();
	await page.getByRole('heading', { name: 'Sign in from SchedulingKit' }).waitFor();
	const r = await page.goto(`${server.url}/settings/webhooks`);
	assert.equal(r.status(), 401);
	await page.getByRole('heading', { name: 'Sign in from SchedulingKit' }).waitFor();

	// The old cookie is dead on the server, not just dropped by the browser.
	const other = await browser.newContext();
	await other.addCookies(before.map((c) => ({ ...c })));
	const res = await other.request.get(`${server.url}/api/v1/session`);
	assert.equal(res.status(), 401);
	await other.close();
	await context.close();
});
