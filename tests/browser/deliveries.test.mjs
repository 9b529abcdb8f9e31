// deliveries.test.mjs - the edit page's delivery log and chart: a failed
// attempt and then a successful retry, filtering by outcome, paging, the
// log refreshing by itself while a delivery is pending, and the 24-hour
// chart with its text alternative.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
	startServer, startReceiver, launchBrowser, newPage, signIn, screenshots, closeAll, waitFor,
	createWebhook,
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

async function emit(key, event, data = { id: 1 }) {
	const r = await server.api(key, 'POST', 'events', { event, data });
	assert.equal(r.status, 202, JSON.stringify(r.body));
	return r.body;
}

async function deliveries(key, id) {
	return (await server.api(key, 'GET', `webhooks/${id}/deliveries`)).body.data;
}

function logRows(page) {
	return page.locator('#delivery-log tbody tr');
}

test('the log shows a failed attempt and then the successful retry', async () => {
	const acct = server.createAccount('Log Co');
	receiver.respond('/flaky', { status: 500, body: 'oops, database down' }, { status: 200, body: '{"ok":true}' });
	const w = await createWebhook(server, acct.api_key, { name: 'Flaky', url: receiver.url('/flaky'), events: ['booking.created'] });
	await emit(acct.api_key, 'booking.created', { id: 123 });
	await waitFor(async () => (await deliveries(acct.api_key, w.id)).some((d) => d.status === 'succeeded'), 15000, 'the retry to succeed');
	assert.equal(receiver.received('/flaky').length, 2);

	const { page, context } = await newPage(browser, server);
	await signIn(page, server, acct.account_id);
	// The list shows the last delivery's outcome.
	const row = page.locator('tr', { has: page.getByRole('link', { name: 'Flaky', exact: true }) });
	assert.match(await row.innerText(), /Succeeded · 200/);

	await page.getByRole('link', { name: 'Flaky', exact: true }).click();
	await page.getByRole('heading', { name: 'Delivery log' }).waitFor();
	await waitFor(async () => (await logRows(page).count()) === 2, 10000, 'two rows');
	const [newest, older] = [await logRows(page).nth(0).innerText(), await logRows(page).nth(1).innerText()];
	// Newest first: the successful second attempt, then the failed first one.
	assert.match(newest, /booking\.created/);
	assert.match(newest, /2 of 4/);
	assert.match(newest, /Succeeded/);
	assert.match(newest, /200/);
	assert.match(older, /1 of 4/);
	assert.match(older, /Failed/);
	assert.match(older, /500/);
	assert.match(older, /HTTP 500/);
	assert.match(older, /oops, database down/);
	assert.match(older, /Not delivered/);
	// Times are <time> elements in local time with the UTC value on hover.
	const t = logRows(page).nth(0).locator('time').first();
	assert.match(await t.getAttribute('datetime'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
	assert.match(await t.getAttribute('title'), /UTC$/);

	// Filter by outcome.
	await page.getByRole('radio', { name: 'Failed' }).check();
	await waitFor(async () => (await logRows(page).count()) === 1 && /Failed/.test(await logRows(page).first().innerText()), 10000, 'only the failed row');
	await page.getByRole('radio', { name: 'Succeeded' }).check();
	await waitFor(async () => (await logRows(page).count()) === 1 && /Succeeded/.test(await logRows(page).first().innerText()), 10000, 'only the succeeded row');
	await page.getByRole('radio', { name: 'Pending' }).check();
	await page.getByText('No pending deliveries yet.').waitFor();
	await page.getByRole('radio', { name: 'All' }).check();
	await waitFor(async () => (await logRows(page).count()) === 2, 10000, 'both rows again');

	// The chart: one success and one failure in the last 24 hours, as text too.
	await page.getByText(/1 succeeded and 1 failed/).first().waitFor();
	const img = page.getByRole('img', { name: /last 24 hours/i });
	await img.waitFor();
	await page.getByText('Show as a table').click();
	assert.equal(await page.locator('.chart-table tbody tr').count(), 24);
	await screenshots(page, 'edit-log');
	assert.deepEqual(page.problems, []);
	assert.deepEqual(page.foreign, []);
	await context.close();
});

test('the log refreshes by itself while a delivery is pending', async () => {
	const acct = server.createAccount('Pending Co');
	receiver.respond('/later', { status: 503, body: 'busy', headers: { 'Retry-After': '3' } }, { status: 200, body: 'ok now' });
	const w = await createWebhook(server, acct.api_key, { name: 'Later', url: receiver.url('/later'), events: ['payment.completed'] });
	const { page, context } = await newPage(browser, server);
	await signIn(page, server, acct.account_id);
	await emit(acct.api_key, 'payment.completed');
	await waitFor(async () => (await deliveries(acct.api_key, w.id)).some((d) => d.status === 'pending'), 10000, 'a pending row in the API');

	await page.goto(`${server.url}/settings/webhooks/${w.id}/edit`);
	await page.getByRole('heading', { name: 'Delivery log' }).waitFor();
	await waitFor(async () => /Pending/.test(await logRows(page).first().innerText()), 10000, 'the pending row on screen');
	assert.match(await logRows(page).first().innerText(), /Next try/);
	await page.getByText('Updating every few seconds while deliveries are pending').waitFor();
	// No reload, no click: the success appears.
	await waitFor(async () => /Succeeded/.test(await logRows(page).first().innerText()), 20000, 'the success to appear by itself');
	assert.equal(receiver.received('/later').length, 2);
	await page.getByText('Updating every few seconds while deliveries are pending').waitFor({ state: 'hidden' });
	await context.close();
});

test('the log pages through older deliveries', async () => {
	const acct = server.createAccount('Paging Co');
	const w = await createWebhook(server, acct.api_key, { name: 'Busy', url: receiver.url('/busy'), events: ['event.created'] });
	for (let i = 0; i < 23; i++) await emit(acct.api_key, 'event.created', { id: i });
	await waitFor(async () => {
		const r = await server.api(acct.api_key, 'GET', `webhooks/${w.id}/deliveries?limit=100&status=succeeded`);
		return r.body.data.length === 23;
	}, 20000, '23 deliveries');
	const { page, context } = await newPage(browser, server);
	await signIn(page, server, acct.account_id);
	await page.goto(`${server.url}/settings/webhooks/${w.id}/edit`);
	await waitFor(async () => (await logRows(page).count()) === 20, 10000, 'a first page of 20');
	assert.equal(await page.getByRole('button', { name: '← Newer' }).isDisabled(), true);
	await page.getByRole('button', { name: 'Older →' }).click();
	await waitFor(async () => (await logRows(page).count()) === 3, 10000, 'a second page of 3');
	assert.equal(await page.getByRole('button', { name: 'Older →' }).isDisabled(), true);
	await page.getByRole('button', { name: '← Newer' }).click();
	await waitFor(async () => (await logRows(page).count()) === 20, 10000, 'back to the first page');
	await context.close();
});
