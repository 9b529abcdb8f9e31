// list.js - /settings/webhooks: the account's webhooks with the outcome of
// each one's last delivery, and per row Test, Edit, an enable/disable
// switch and Delete. An empty account gets an explanation instead.

import { api, seg } from './api.js';
import {
	h, svg, timeEl, statusText, testResultText, announce, confirmDeleteWebhook, takeFlash,
} from './dom.js';

const MAX_CHIPS = 3;

/** Renders the list page into main. */
export async function renderList(main, { setTitle }) {
	setTitle('Webhooks');
	const data = await api('GET', 'webhooks');
	const hooks = (data && data.data) || [];
	const flash = takeFlash();
	const head = pageHead(hooks.length > 0);
	const body = hooks.length ? table(hooks, main) : emptyState();
	main.replaceChildren(...[
		head,
		flash ? h('div', { class: 'alert alert-success', role: 'status' }, h('p', {}, flash)) : null,
		body].filter(Boolean));
}

function pageHead(withButton) {
	return h('div', { class: 'page-head' },
		h('div', {},
			h('h1', {}, 'Webhooks'),
			h('p', {}, 'Send real-time HTTP notifications to your endpoints when events happen in SchedulingKit.')),
		withButton ? h('div', { class: 'page-actions' },
			h('a', { class: 'btn btn-primary', href: '/settings/webhooks/create' }, plusIcon(), 'Create Webhook')) : null);
}

function plusIcon() {
	return svg('svg', { viewBox: '0 0 16 16', width: '16', height: '16', 'aria-hidden': 'true', focusable: 'false' },
		svg('path', { d: 'M8 3v10M3 8h10', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linecap': 'round', fill: 'none' }));
}

function emptyState() {
	const illo = svg('svg', { class: 'empty-illustration', viewBox: '0 0 64 64', width: '64', height: '64', 'aria-hidden': 'true', focusable: 'false' },
		svg('rect', { x: '4', y: '12', width: '24', height: '40', rx: '4', fill: 'none', stroke: 'currentColor', 'stroke-width': '3' }),
		svg('rect', { x: '36', y: '12', width: '24', height: '40', rx: '4', fill: 'none', stroke: 'currentColor', 'stroke-width': '3', opacity: '0.45' }),
		svg('path', { d: 'M24 32h14m-5-5 5 5-5 5', fill: 'none', stroke: 'currentColor', 'stroke-width': '3', 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }));
	return h('section', { class: 'panel empty', 'aria-labelledby': 'empty-title' },
		illo,
		h('h2', { id: 'empty-title' }, 'No webhooks yet'),
		h('p', {}, 'A webhook sends an HTTP POST to your server the moment something happens in SchedulingKit: a booking is created, a payment is completed, an event is cancelled. Use it to keep your CRM in sync, trigger automations in Zapier or Make, or update your own database.'),
		h('ul', { class: 'empty-list' },
			h('li', {}, 'Pick the events you care about and the URL to send them to.'),
			h('li', {}, 'Every request is signed (HMAC-SHA256) so you can verify it came from SchedulingKit.'),
			h('li', {}, 'Failed deliveries are retried, and every attempt shows up in the delivery log.')),
		h('div', {},
			h('a', { class: 'btn btn-primary btn-lg', href: '/settings/webhooks/create' }, plusIcon(), 'Create Webhook')));
}

function table(hooks, main) {
	const tbody = h('tbody', {});
	const count = h('p', { class: 'muted small', id: 'hook-count' });
	const updateCount = () => {
		const n = tbody.rows.length;
		count.textContent = `${n} webhook${n === 1 ? '' : 's'}`;
	};
	const ctx = {
		onDeleted(tr) {
			const next = tr.nextElementSibling || tr.previousElementSibling;
			tr.remove();
			updateCount();
			if (next) {
				next.querySelector('.hook-name').focus();
			} else {
				// Last one gone: the empty state, with focus on its heading.
				main.replaceChildren(pageHead(false), emptyState());
				const t = document.getElementById('empty-title');
				t.setAttribute('tabindex', '-1');
				t.focus();
			}
		},
	};
	for (const w of hooks) tbody.append(row(w, ctx));
	updateCount();
	return h('div', {},
		h('section', { class: 'panel panel-flush', 'aria-labelledby': 'hooks-caption' },
			h('table', { class: 'hook-table cards' },
				h('caption', { class: 'visually-hidden', id: 'hooks-caption' }, 'Your webhooks'),
				h('thead', {}, h('tr', {},
					h('th', { scope: 'col' }, 'Webhook'),
					h('th', { scope: 'col' }, 'Events'),
					h('th', { scope: 'col' }, 'Last delivery'),
					h('th', { scope: 'col' }, 'Enabled'),
					h('th', { scope: 'col', class: 'col-actions' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
				tbody)),
		count);
}

function row(w, ctx) {
	const editHref = `/settings/webhooks/${encodeURIComponent(w.id)}/edit`;
	const last = h('div', { class: 'last-delivery' });
	const setLast = (ld) => last.replaceChildren(...lastDelivery(ld));
	setLast(w.last_delivery);

	const result = h('p', { class: 'result row-result' });
	const sw = enabledSwitch(w, {
		label: `${w.name} enabled`,
		onError: (err) => showResult(result, false, err.message),
	});

	const testBtn = h('button', { type: 'button', class: 'btn btn-sm' }, 'Test', h('span', { class: 'visually-hidden' }, ` ${w.name}`));
	testBtn.addEventListener('click', async () => {
		if (testBtn.getAttribute('aria-disabled') === 'true') return;
		testBtn.setAttribute('aria-disabled', 'true');
		showBusy(result, 'Sending a test event…');
		try {
			const r = await api('POST', `webhooks/${seg(w.id)}/test`);
			const text = testResultText(r);
			showResult(result, r.success, text);
			announce(`Test of ${w.name}: ${text}`);
			setLast({ status: r.success ? 'succeeded' : 'failed', status_code: r.status_code, at: new Date().toISOString() });
		} catch (err) {
			showResult(result, false, err.message);
			announce(`Test of ${w.name} failed: ${err.message}`);
		} finally {
			testBtn.removeAttribute('aria-disabled');
		}
	});

	const delBtn = h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost' }, 'Delete', h('span', { class: 'visually-hidden' }, ` ${w.name}`));
	const tr = h('tr', { dataset: { id: w.id } });
	delBtn.addEventListener('click', async () => {
		const ok = await confirmDeleteWebhook(w);
		if (!ok) { delBtn.focus(); return; }
		try {
			await api('DELETE', `webhooks/${seg(w.id)}`);
			announce(`Deleted ${w.name}.`);
			ctx.onDeleted(tr);
		} catch (err) {
			if (err.status === 404) {
				announce(`${w.name} was already deleted.`);
				ctx.onDeleted(tr);
				return;
			}
			showResult(result, false, err.message);
			delBtn.focus();
		}
	});

	tr.append(
		h('td', { class: 'col-name' },
			h('a', { class: 'hook-name', href: editHref }, w.name),
			h('span', { class: 'hook-url' }, w.url)),
		h('td', { 'data-label': 'Events', class: 'col-events' }, eventChips(w.events || [])),
		h('td', { 'data-label': 'Last delivery' }, last),
		h('td', { 'data-label': 'Enabled' }, sw),
		h('td', { class: 'col-actions' },
			h('div', { class: 'row-actions' },
				testBtn,
				h('a', { class: 'btn btn-sm', href: editHref }, 'Edit', h('span', { class: 'visually-hidden' }, ` ${w.name}`)),
				delBtn),
			result));
	return tr;
}

function eventChips(events) {
	const shown = events.slice(0, MAX_CHIPS);
	const rest = events.length - shown.length;
	return h('ul', { class: 'chips', 'aria-label': `${events.length} event${events.length === 1 ? '' : 's'}` },
		shown.map((e) => h('li', { class: 'chip' }, e)),
		rest > 0 ? h('li', { class: 'chip chip-more', title: events.slice(MAX_CHIPS).join(', ') }, `+${rest} more`) : null);
}

/** The badge and time for a webhook's last delivery (or "No deliveries yet"). */
export function lastDelivery(ld) {
	if (!ld) return [h('span', { class: 'muted small' }, 'No deliveries yet')];
	const label = { succeeded: 'Succeeded', failed: 'Failed', pending: 'Pending' }[ld.status] || ld.status;
	const code = ld.status_code ? ` · ${ld.status_code}` : '';
	return [
		h('span', { class: `badge badge-${ld.status}`, title: ld.status_code ? statusText(ld.status_code) : null }, `${label}${code}`),
		ld.at ? timeEl(ld.at, 'relative') : null,
	];
}

/**
 * The enable/disable switch: a <button role="switch"> whose aria-checked
 * follows the server (it flips only after the PATCH succeeded).
 */
export function enabledSwitch(w, { label, onChange, onError }) {
	const text = h('span', { class: 'switch-label', 'aria-hidden': 'true' });
	const btn = h('button', { type: 'button', role: 'switch', class: 'switch', 'aria-label': label },
		h('span', { class: 'switch-track', 'aria-hidden': 'true' }, h('span', { class: 'switch-thumb' })), text);
	const set = (on) => {
		btn.setAttribute('aria-checked', on ? 'true' : 'false');
		text.textContent = on ? 'Enabled' : 'Disabled';
	};
	set(Boolean(w.enabled));
	btn.addEventListener('click', async () => {
		if (btn.getAttribute('aria-busy') === 'true') return;
		const want = btn.getAttribute('aria-checked') !== 'true';
		btn.setAttribute('aria-busy', 'true');
		try {
			const nw = await api('PATCH', `webhooks/${seg(w.id)}`, { enabled: want });
			w.enabled = nw ? nw.enabled : want;
			set(w.enabled);
			announce(`${w.name} ${w.enabled ? 'enabled' : 'disabled'}.`);
			if (onChange) onChange(w.enabled);
		} catch (err) {
			set(Boolean(w.enabled));
			if (onError) onError(err);
			announce(`Could not change ${w.name}: ${err.message}`);
		} finally {
			btn.removeAttribute('aria-busy');
		}
	});
	return btn;
}

/** Shows "busy" text in a result element. */
export function showBusy(el, text) {
	el.className = el.className.replace(/\bresult-\w+/g, '').trim() + ' result-busy';
	el.textContent = text;
}

/** Shows a success or failure line in a result element. */
export function showResult(el, ok, text) {
	el.className = el.className.replace(/\bresult-\w+/g, '').trim() + (ok ? ' result-ok' : ' result-fail');
	el.replaceChildren(
		svg('svg', { viewBox: '0 0 16 16', width: '14', height: '14', 'aria-hidden': 'true', focusable: 'false' },
			ok ? svg('path', { d: 'M3 8.5 6.5 12 13 4.5', fill: 'none', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linecap': 'round', 'stroke-linejoin': 'round' })
				: svg('path', { d: 'M4 4l8 8M12 4l-8 8', fill: 'none', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linecap': 'round' })),
		h('span', {}, text));
}
