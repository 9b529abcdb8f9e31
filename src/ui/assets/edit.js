// edit.js - /settings/webhooks/create and /settings/webhooks/{id}/edit.
//
// Create: the empty form; after Save the generated signing secret is shown
// once, prominently, with Copy, and a button leads on to the edit page.
// Edit: the same form filled in, the secret behind Reveal (with Copy),
// Test, Delete, the enable switch, the 24-hour chart and the delivery log.
// An unknown id (or another account's: the API answers the same 404) shows
// "Webhook not found".

import { api, seg } from './api.js';
import { h, uid, announce, confirmDeleteWebhook, copyButton, setFlash, testResultText } from './dom.js';
import { webhookForm } from './form.js';
import { enabledSwitch, showBusy, showResult } from './list.js';
import { deliveryLog, deliveryChart } from './log.js';

const DEFAULTS = { name: '', url: '', events: [], timeout: 30, retry_attempts: 3 };

function breadcrumb(current) {
	return h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' },
		h('ol', {},
			h('li', {}, h('a', { href: '/settings/webhooks' }, 'Webhooks')),
			h('li', {}, h('span', { 'aria-current': 'page' }, current))));
}

function editHref(id) {
	return `/settings/webhooks/${encodeURIComponent(id)}/edit`;
}

// ---------------------------------------------------------------- create

/** Renders the create page into main. */
export function renderCreate(main, { setTitle }) {
	setTitle('Create webhook');
	const form = webhookForm({
		initial: DEFAULTS,
		submitLabel: 'Save',
		busyLabel: 'Saving…',
		extraActions: [h('a', { class: 'btn btn-ghost', href: '/settings/webhooks' }, 'Cancel')],
		async onSubmit(v) {
			const w = await api('POST', 'webhooks', v);
			showCreated(main, w, setTitle);
			return null;
		},
	});
	main.replaceChildren(
		breadcrumb('Create'),
		h('div', { class: 'page-head' },
			h('div', {},
				h('h1', {}, 'Create webhook'),
				h('p', {}, 'SchedulingKit will send a signed JSON POST request to your URL whenever one of the selected events happens.'))),
		h('section', { class: 'panel', 'aria-label': 'Webhook details' }, form.el));
}

function showCreated(main, w, setTitle) {
	setTitle(`${w.name} created`);
	const headId = uid('created');
	const value = h('code', { class: 'secret-value', id: 'new-secret' }, w.secret || '');
	const heading = h('h2', { id: headId, tabindex: '-1' }, 'Webhook created');
	main.replaceChildren(
		breadcrumb('Create'),
		h('section', { class: 'panel', 'aria-labelledby': headId },
			h('div', { class: 'success-head' }, h('span', { class: 'success-icon', 'aria-hidden': 'true' }, '✓'), heading),
			h('p', {}, h('strong', {}, w.name), ' will send ', String((w.events || []).length),
				` event type${(w.events || []).length === 1 ? '' : 's'} to `, h('code', {}, w.url), '.'),
			h('h3', {}, 'Your signing secret'),
			h('div', { class: 'callout' },
				h('p', {}, 'Copy it now and keep it somewhere safe: this is the only time it is shown without asking. Use it to verify the ',
					h('code', {}, 'X-Webhook-Signature'), ' header (HMAC-SHA256 of the request body).')),
			h('div', { class: 'secret-box secret-new' },
				value,
				copyButton(() => w.secret, { label: 'Copy secret', selectEl: value, extraClass: 'btn-primary' })),
			h('div', { class: 'form-actions' },
				h('a', { class: 'btn btn-primary', href: editHref(w.id) }, 'Continue to webhook'),
				h('a', { class: 'btn btn-ghost', href: '/settings/webhooks' }, 'Back to all webhooks'))));
	heading.focus();
	announce(`Webhook ${w.name} created. Your signing secret is shown once; copy it now.`);
}

// ---------------------------------------------------------------- edit

/** Renders the edit page for webhook id into main. */
export async function renderEdit(main, { setTitle, id, onLeave }) {
	let w;
	try {
		w = await api('GET', `webhooks/${seg(id)}`);
	} catch (err) {
		if (err.status === 404 || err.status === 400) return renderNotFound(main, setTitle);
		throw err;
	}
	setTitle(`${w.name} · Webhooks`);

	const title = h('h1', {}, w.name);
	const crumb = breadcrumb(w.name);
	const urlLine = h('span', { class: 'hook-url' }, w.url);
	const testResult = h('p', { class: 'result' });
	const sw = enabledSwitch(w, {
		label: 'Enabled',
		onError: (err) => showResult(testResult, false, err.message),
	});

	// Test
	const testBtn = h('button', { type: 'button', class: 'btn' }, 'Test');
	let log;
	testBtn.addEventListener('click', async () => {
		if (testBtn.getAttribute('aria-disabled') === 'true') return;
		testBtn.setAttribute('aria-disabled', 'true');
		showBusy(testResult, 'Sending a test event…');
		try {
			const r = await api('POST', `webhooks/${seg(w.id)}/test`);
			const text = testResultText(r);
			showResult(testResult, r.success, text);
			announce(`Test: ${text}`);
		} catch (err) {
			showResult(testResult, false, err.message);
			announce(`Test failed: ${err.message}`);
		} finally {
			testBtn.removeAttribute('aria-disabled');
			if (log) log.refresh();
		}
	});

	// Delete
	const delBtn = h('button', { type: 'button', class: 'btn btn-danger-ghost' }, 'Delete');
	delBtn.addEventListener('click', async () => {
		const ok = await confirmDeleteWebhook(w);
		if (!ok) { delBtn.focus(); return; }
		try {
			await api('DELETE', `webhooks/${seg(w.id)}`);
		} catch (err) {
			if (err.status !== 404) {
				showResult(testResult, false, err.message);
				delBtn.focus();
				return;
			}
		}
		if (onLeave) onLeave();
		setFlash(`Deleted “${w.name}”.`);
		location.assign('/settings/webhooks');
	});

	// Secret
	const secretPanel = secretSection(w);

	// Form
	const form = webhookForm({
		initial: w,
		submitLabel: 'Save changes',
		busyLabel: 'Saving…',
		async onSubmit(v) {
			const nw = await api('PATCH', `webhooks/${seg(w.id)}`, v);
			Object.assign(w, nw);
			title.textContent = w.name;
			crumb.querySelector('[aria-current]').textContent = w.name;
			urlLine.textContent = w.url;
			setTitle(`${w.name} · Webhooks`);
			form.setValues(w);
			announce('Changes saved.');
			return 'Changes saved';
		},
	});

	const chart = deliveryChart(w.id);
	log = deliveryLog(w.id, { onRefreshed: () => chart.refresh() });

	main.replaceChildren(
		crumb,
		h('div', { class: 'page-head' },
			h('div', {},
				title,
				h('div', { class: 'edit-head-meta' }, sw, urlLine)),
			h('div', { class: 'page-actions' }, testBtn, delBtn)),
		h('div', { class: 'test-row' }, testResult),
		secretPanel,
		h('section', { class: 'panel', 'aria-labelledby': 'settings-title' },
			h('div', { class: 'panel-head' },
				h('div', {}, h('h2', { id: 'settings-title' }, 'Settings'),
					h('p', {}, 'Changes to the URL, timeout and retries also apply to deliveries waiting for a retry.'))),
			form.el),
		chart.el,
		log.el);
	log.refresh();
	return () => log.stop();
}

function secretSection(w) {
	const id = uid('secret');
	let shown = false;
	const value = h('code', { class: 'secret-value secret-masked', id: `${id}-value` });
	const reveal = h('button', { type: 'button', class: 'btn btn-sm', 'aria-controls': value.id, 'aria-expanded': 'false' }, 'Reveal');
	const mask = () => `whsec_${'•'.repeat(16)}`;
	const set = () => {
		value.textContent = shown ? w.secret : mask();
		value.classList.toggle('secret-masked', !shown);
		reveal.textContent = shown ? 'Hide' : 'Reveal';
		reveal.setAttribute('aria-expanded', shown ? 'true' : 'false');
		if (!shown) value.setAttribute('aria-label', 'Signing secret, hidden');
		else value.removeAttribute('aria-label');
	};
	reveal.addEventListener('click', () => {
		shown = !shown;
		set();
		announce(shown ? 'Signing secret revealed.' : 'Signing secret hidden.');
	});
	set();
	return h('section', { class: 'panel', 'aria-labelledby': `${id}-title` },
		h('div', { class: 'panel-head' },
			h('div', {},
				h('h2', { id: `${id}-title` }, 'Signing secret'),
				h('p', {}, 'Verify the X-Webhook-Signature header with it: HMAC-SHA256 of the request body.'))),
		h('div', { class: 'secret-box' },
			value, reveal, copyButton(() => w.secret, { label: 'Copy', selectEl: value })));
}

/** The "Webhook not found" state (unknown id, or another account's). */
export function renderNotFound(main, setTitle) {
	setTitle('Webhook not found');
	const heading = h('h1', { tabindex: '-1' }, 'Webhook not found');
	main.replaceChildren(
		breadcrumb('Not found'),
		h('section', { class: 'panel empty state-card' },
			heading,
			h('p', {}, 'There is no webhook at this address in your account. It may have been deleted, or the link may be wrong.'),
			h('a', { class: 'btn btn-primary', href: '/settings/webhooks' }, 'Back to webhooks')));
}
