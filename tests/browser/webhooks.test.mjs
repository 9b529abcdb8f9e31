// webhooks.test.mjs - what the help page's "Creating a webhook", "Testing"
// and "Managing webhooks" describe, done in the browser: create (with API
// errors shown next to their fields and nothing typed lost), the secret
// shown once, edit, the enable switch, Test, delete after confirming.
// Every change is checked through the JSON API as well as on screen.

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

/** The error text an input (or the events group) points at through aria-describedby. */
async function describedError(locator) {
	return locator.evaluate((el) => (el.getAttribute('aria-describedby') || '').split(/\s+/)
		.map((id) => document.getElementById(id))
		.filter((e) => e && e.classList.contains('field-error'))
		.map((e) => e.textContent).join(' '));
}

test('create: API errors next to their fields, nothing lost; then the secret shown once', async () => {
	const acct = server.createAccount('Create Co');
	const { page, context } = await newPage(browser, server);
	await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
	await signIn(page, server, acct.account_id);

	await page.getByRole('link', { name: 'Create Webhook' }).click();
	await page.waitForURL(`${server.url}/settings/webhooks/create`);
	await page.getByRole('heading', { level: 1, name: 'Create webhook' }).waitFor();

	const name = page.getByLabel('Name', { exact: true });
	const url = page.getByLabel('URL', { exact: true });
	const timeout = page.getByLabel('Timeout', { exact: true });
	const retries = page.getByLabel('Retry attempts', { exact: true });
	assert.equal(await timeout.inputValue(), '30', 'default timeout');
	assert.equal(await retries.inputValue(), '3', 'default retry attempts');
	// Each event has the help page's description and a group select-all.
	await page.getByRole('group', { name: 'Booking' }).waitFor();
	await page.getByRole('checkbox', { name: 'Select all Payment events' }).check();
	for (const ev of ['payment.completed', 'payment.failed', 'payment.refunded'])
		assert.equal(await page.getByRole('checkbox', { name: ev, exact: true }).isChecked(), true, ev);
	await page.getByRole('checkbox', { name: 'payment.failed', exact: true }).uncheck();
	assert.equal(await page.getByRole('checkbox', { name: 'Select all Payment events' }).isChecked(), false);
	const bc = page.getByRole('checkbox', { name: 'booking.created', exact: true });
	await bc.check();
	assert.match(await bc.evaluate((el) => document.getElementById(el.getAttribute('aria-describedby')).textContent),
		/A booking is created \(customer side\)/);

	await name.fill('CRM sync');
	await url.fill('not a url');
	await timeout.fill('301');
	await page.getByRole('button', { name: 'Save' }).click();

	// The URL error first (the API checks one field at a time).
	await waitFor(async () => (await url.getAttribute('aria-invalid')) === 'true', 10000, 'url marked invalid');
	assert.match(await describedError(url), /URL/i);
	assert.ok(await url.evaluate((el) => el === document.activeElement), 'focus on the URL field');
	assert.equal(await name.inputValue(), 'CRM sync');
	assert.equal(await url.inputValue(), 'not a url');
	assert.equal(await timeout.inputValue(), '301');
	assert.equal(await bc.isChecked(), true);
	await screenshots(page, 'create-error-url');

	await url.fill(receiver.url('/hook'));
	await page.getByRole('button', { name: 'Save' }).click();
	await waitFor(async () => (await timeout.getAttribute('aria-invalid')) === 'true', 10000, 'timeout marked invalid');
	assert.match(await describedError(timeout), /300/);
	assert.ok(await timeout.evaluate((el) => el === document.activeElement), 'focus on the timeout field');
	assert.equal(await url.getAttribute('aria-invalid'), null, 'the fixed URL is no longer marked');
	assert.equal(await describedError(url), '');
	assert.equal(await name.inputValue(), 'CRM sync');
	assert.equal(await url.inputValue(), receiver.url('/hook'));
	await screenshots(page, 'create-error-timeout');
	// Nothing was created by the refused attempts.
	assert.deepEqual((await server.api(acct.api_key, 'GET', 'webhooks')).body.data, []);

	await timeout.fill('10');
	await page.getByRole('button', { name: 'Save' }).click();
	await page.getByRole('heading', { name: 'Webhook created' }).waitFor();
	const list = (await server.api(acct.api_key, 'GET', 'webhooks')).body.data;
	assert.equal(list.length, 1);
	const w = (await server.api(acct.api_key, 'GET', `webhooks/${list[0].id}`)).body;
	assert.equal(w.name, 'CRM sync');
	assert.equal(w.url, receiver.url('/hook'));
	assert.deepEqual(w.events, ['booking.created', 'payment.completed', 'payment.refunded']);
	assert.equal(w.timeout, 10);
	assert.equal(w.retry_attempts, 3);
	assert.equal(w.enabled, true);

	// The secret, shown once, prominently, with Copy.
	assert.match(w.secret, /^whsec_/);
	assert.equal(await page.locator('#new-secret').innerText(), w.secret);
	await page.getByRole('button', { name: 'Copy secret' }).click();
	await page.getByRole('button', { name: 'Copied' }).waitFor();
	assert.equal(await page.evaluate(() => navigator.clipboard.readText()), w.secret);
	await screenshots(page, 'create-secret');

	// On to the webhook: the secret is hidden until Reveal.
	await page.getByRole('link', { name: 'Continue to webhook' }).click();
	await page.waitForURL(`${server.url}/settings/webhooks/${w.id}/edit`);
	await page.getByRole('heading', { level: 1, name: 'CRM sync' }).waitFor();
	assert.ok(!(await page.locator('body').innerText()).includes(w.secret), 'secret hidden');
	assert.ok(!(await page.content()).includes(w.secret), 'secret not in the DOM text');
	await page.getByRole('button', { name: 'Reveal' }).click();
	await waitFor(async () => (await page.locator('body').innerText()).includes(w.secret), 5000, 'secret revealed');
	await page.getByRole('button', { name: 'Hide' }).click();
	assert.ok(!(await page.locator('body').innerText()).includes(w.secret), 'hidden again');
	assert.deepEqual(page.problems, []);
	assert.deepEqual(page.foreign, []);
	await context.close();
});

test('edit: the form is filled in, an error keeps the typed values, saving changes the webhook', async () => {
	const acct = server.createAccount('Edit Co');
	const w = await createWebhook(server, acct.api_key, {
		name: 'Zapier trigger', url: receiver.url('/zap'), events: ['event.created', 'booking.confirmed'], timeout: 20, retry_attempts: 2,
	});
	const { page, context } = await newPage(browser, server);
	await signIn(page, server, acct.account_id);
	await page.getByRole('link', { name: 'Edit Zapier trigger' }).click();
	await page.waitForURL(`${server.url}/settings/webhooks/${w.id}/edit`);

	const name = page.getByLabel('Name', { exact: true });
	const timeout = page.getByLabel('Timeout', { exact: true });
	const retries = page.getByLabel('Retry attempts', { exact: true });
	assert.equal(await name.inputValue(), 'Zapier trigger');
	assert.equal(await page.getByLabel('URL', { exact: true }).inputValue(), receiver.url('/zap'));
	assert.equal(await timeout.inputValue(), '20');
	assert.equal(await retries.inputValue(), '2');
	assert.equal(await page.getByRole('checkbox', { name: 'event.created', exact: true }).isChecked(), true);
	assert.equal(await page.getByRole('checkbox', { name: 'booking.confirmed', exact: true }).isChecked(), true);
	assert.equal(await page.getByRole('checkbox', { name: 'booking.created', exact: true }).isChecked(), false);
	await screenshots(page, 'edit');

	await name.fill('Zapier trigger v2');
	await retries.fill('11');
	await page.getByRole('button', { name: 'Save changes' }).click();
	await waitFor(async () => (await retries.getAttribute('aria-invalid')) === 'true', 10000, 'retries marked invalid');
	assert.match(await describedError(retries), /10/);
	assert.equal(await name.inputValue(), 'Zapier trigger v2', 'typed name kept');
	assert.equal((await server.api(acct.api_key, 'GET', `webhooks/${w.id}`)).body.name, 'Zapier trigger', 'nothing saved');

	await retries.fill('5');
	await page.getByRole('checkbox', { name: 'booking.created', exact: true }).check();
	await page.getByRole('button', { name: 'Save changes' }).click();
	await page.getByText('Changes saved', { exact: true }).waitFor();
	assert.equal(await retries.getAttribute('aria-invalid'), null);
	await page.getByRole('heading', { level: 1, name: 'Zapier trigger v2' }).waitFor();
	const got = (await server.api(acct.api_key, 'GET', `webhooks/${w.id}`)).body;
	assert.equal(got.name, 'Zapier trigger v2');
	assert.equal(got.retry_attempts, 5);
	assert.deepEqual(got.events, ['event.created', 'booking.created', 'booking.confirmed']);
	assert.equal(got.secret, w.secret, 'the secret is unchanged');

	// After a reload the page shows what was saved.
	await page.reload();
	assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'Zapier trigger v2');
	assert.equal(await page.getByLabel('Retry attempts', { exact: true }).inputValue(), '5');
	assert.deepEqual(page.problems, []);
	await context.close();
});

test('toggle: the switch disables and enables the webhook, with the keyboard too', async () => {
	const acct = server.createAccount('Toggle Co');
	const w = await createWebhook(server, acct.api_key, { name: 'Analytics', url: receiver.url('/a') });
	const { page, context } = await newPage(browser, server);
	await signIn(page, server, acct.account_id);
	const sw = page.getByRole('switch', { name: 'Analytics enabled' });
	assert.equal(await sw.getAttribute('aria-checked'), 'true');
	await sw.click();
	await waitFor(async () => (await sw.getAttribute('aria-checked')) === 'false', 10000, 'switch off');
	await waitFor(async () => (await server.api(acct.api_key, 'GET', `webhooks/${w.id}`)).body.enabled === false, 5000, 'disabled in the API');
	await page.reload();
	assert.equal(await page.getByRole('switch', { name: 'Analytics enabled' }).getAttribute('aria-checked'), 'false');
	await screenshots(page, 'list-disabled');

	// Keyboard: focus the switch and press Space.
	await page.getByRole('switch', { name: 'Analytics enabled' }).focus();
	await page.keyboard.press('Space');
	await waitFor(async () => (await page.getByRole('switch', { name: 'Analytics enabled' }).getAttribute('aria-checked')) === 'true', 10000, 'switch on');
	await waitFor(async () => (await server.api(acct.api_key, 'GET', `webhooks/${w.id}`)).body.enabled === true, 5000, 'enabled in the API');

	// The edit page has the same switch.
	await page.goto(`${server.url}/settings/webhooks/${w.id}/edit`);
	const esw = page.getByRole('switch', { name: 'Enabled' });
	assert.equal(await esw.getAttribute('aria-checked'), 'true');
	await esw.click();
	await waitFor(async () => (await server.api(acct.api_key, 'GET', `webhooks/${w.id}`)).body.enabled === false, 5000, 'disabled from the edit page');
	// the page flips the switch when its own PATCH answers, which may be a moment
	// after the API already shows the change
	await waitFor(async () => (await esw.getAttribute('aria-checked')) === 'false', 5000, 'edit switch off');
	assert.deepEqual(page.problems, []);
	await context.close();
});

test('Test shows the receiver\'s answer in place, and the receiver got a webhook.test', async () => {
	const acct = server.createAccount('Test Co');
	await createWebhook(server, acct.api_key, { name: 'Good endpoint', url: receiver.url('/good') });
	await createWebhook(server, acct.api_key, { name: 'Broken endpoint', url: receiver.url('/broken') });
	receiver.respond('/good', { status: 200, body: 'thanks' });
	receiver.respond('/broken', { status: 503, body: 'down for maintenance' });
	const { page, context } = await newPage(browser, server);
	await signIn(page, server, acct.account_id);

	const good = page.locator('tr', { has: page.getByRole('link', { name: 'Good endpoint', exact: true }) });
	await page.getByRole('button', { name: 'Test Good endpoint' }).click();
	await waitFor(async () => /200 OK in \d+ ms/.test(await good.innerText()), 15000, '"200 OK in N ms" in the row');
	const got = receiver.received('/good');
	assert.equal(got.length, 1);
	assert.equal(got[0].method, 'POST');
	assert.equal(got[0].headers['x-webhook-event'], 'webhook.test');
	assert.equal(got[0].json.event, 'webhook.test');
	// The row's last delivery now shows the success.
	assert.match(await good.innerText(), /Succeeded/);

	const broken = page.locator('tr', { has: page.getByRole('link', { name: 'Broken endpoint', exact: true }) });
	await page.getByRole('button', { name: 'Test Broken endpoint' }).click();
	await waitFor(async () => /503 Service Unavailable/.test(await broken.innerText()), 15000, 'the 503 in the row');
	assert.match(await broken.innerText(), /Failed/);
	assert.equal(receiver.received('/broken').length, 1);
	await screenshots(page, 'list');

	// Test on the edit page too; the attempt shows up in the log.
	await page.getByRole('link', { name: 'Edit Good endpoint' }).click();
	await page.getByRole('heading', { level: 1, name: 'Good endpoint' }).waitFor();
	await page.getByRole('button', { name: 'Test', exact: true }).click();
	await page.getByText(/200 OK in \d+ ms/).waitFor();
	assert.equal(receiver.received('/good').length, 2);
	await waitFor(async () => (await page.locator('#delivery-log tbody tr').count()) >= 2, 10000, 'two test rows in the log');
	assert.match(await page.locator('#delivery-log tbody tr').first().innerText(), /webhook\.test/);
	assert.deepEqual(page.problems, []);
	await context.close();
});

test('delete asks for confirmation; Cancel keeps, Delete removes', async () => {
	const acct = server.createAccount('Delete Co');
	const a = await createWebhook(server, acct.api_key, { name: 'Keep me', url: receiver.url('/k') });
	const b = await createWebhook(server, acct.api_key, { name: 'Remove me', url: receiver.url('/r') });
	const { page, context } = await newPage(browser, server);
	await signIn(page, server, acct.account_id);

	await page.getByRole('button', { name: 'Delete Remove me' }).click();
	const dialog = page.getByRole('dialog', { name: /Delete “Remove me”\?/ });
	await dialog.waitFor();
	await screenshots(page, 'delete-dialog');
	// Escape cancels.
	await page.keyboard.press('Escape');
	await dialog.waitFor({ state: 'hidden' });
	assert.equal((await server.api(acct.api_key, 'GET', `webhooks/${b.id}`)).status, 200);
	// Cancel keeps it.
	await page.getByRole('button', { name: 'Delete Remove me' }).click();
	await dialog.getByRole('button', { name: 'Cancel' }).click();
	await dialog.waitFor({ state: 'hidden' });
	assert.equal((await server.api(acct.api_key, 'GET', `webhooks/${b.id}`)).status, 200);
	assert.equal(await page.getByRole('link', { name: 'Remove me', exact: true }).count(), 1);
	// Confirming deletes it.
	await page.getByRole('button', { name: 'Delete Remove me' }).click();
	await dialog.getByRole('button', { name: 'Delete webhook' }).click();
	await page.getByRole('link', { name: 'Remove me', exact: true }).waitFor({ state: 'detached' });
	assert.equal((await server.api(acct.api_key, 'GET', `webhooks/${b.id}`)).status, 404);
	assert.equal((await server.api(acct.api_key, 'GET', `webhooks/${a.id}`)).status, 200);
	// Focus went somewhere sensible (not lost to <body>).
	assert.notEqual(await page.evaluate(() => document.activeElement.tagName), 'BODY');

	// From the edit page: back to the list, which says it was deleted.
	await page.goto(`${server.url}/settings/webhooks/${a.id}/edit`);
	await page.getByRole('button', { name: 'Delete', exact: true }).click();
	await page.getByRole('dialog').getByRole('button', { name: 'Delete webhook' }).click();
	await page.waitForURL(`${server.url}/settings/webhooks`);
	await page.getByText('Deleted “Keep me”.').waitFor();
	await page.getByRole('heading', { name: 'No webhooks yet' }).waitFor();
	assert.equal((await server.api(acct.api_key, 'GET', `webhooks/${a.id}`)).status, 404);
	assert.deepEqual(page.problems, []);
	await context.close();
});
