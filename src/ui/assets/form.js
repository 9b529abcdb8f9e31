// form.js - the webhook form shared by the create and edit pages: Name,
// URL, Events (grouped, with the help page's descriptions and a select-all
// per group), Timeout and Retry attempts.
//
// The API is the one judge of what is valid: the form sends what was typed
// (novalidate, no browser pop-ups) and shows the API's error next to the
// field it names, with aria-invalid and aria-describedby, and moves focus
// there. Nothing typed is ever cleared by an error.

import { h, uid } from './dom.js';

/** The help page's event table (webhook.test is sent only by Test). */
export const EVENT_GROUPS = [
	{ name: 'Event', events: [
		['event.created', 'A new event/booking is created'],
		['event.updated', 'An event is updated (details changed)'],
		['event.cancelled', 'An event is cancelled'],
		['event.rescheduled', 'An event is rescheduled to a new time'],
		['event.reminder', 'A reminder is triggered before the event'],
		['event.follow_up', 'A follow-up is triggered after the event'],
	] },
	{ name: 'Booking', events: [
		['booking.created', 'A booking is created (customer side)'],
		['booking.confirmed', 'A booking is confirmed'],
		['booking.cancelled', 'A booking is cancelled'],
	] },
	{ name: 'Payment', events: [
		['payment.completed', 'A payment is successfully processed'],
		['payment.failed', 'A payment attempt failed'],
		['payment.refunded', 'A payment is refunded'],
	] },
];

const FIELDS = ['name', 'url', 'events', 'timeout', 'retry_attempts'];

/**
 * Builds the form. initial: a webhook (or defaults); submitLabel: the
 * button text; onSubmit(values) is awaited and may throw ApiError, whose
 * field error is then shown in place. extraActions: nodes after Save.
 * Returns {el, values(), setValues(w), showError(err), clearErrors()}.
 */
export function webhookForm({ initial, submitLabel, busyLabel, onSubmit, extraActions = [] }) {
	const errs = {};
	const inputs = {};
	const formAlert = h('div', { class: 'alert alert-error', role: 'alert', hidden: true });

	function errEl(field) {
		errs[field] = h('p', { class: 'field-error', id: uid(`err-${field}`) });
		return errs[field];
	}

	// Name
	const nameHint = h('p', { class: 'hint', id: uid('hint-name') }, 'A label for this webhook, e.g. “CRM sync” or “Zapier trigger”.');
	inputs.name = h('input', {
		class: 'input', id: uid('f-name'), name: 'name', type: 'text', autocomplete: 'off',
		maxlength: '200', spellcheck: 'false',
	});
	const nameField = h('div', { class: 'field' },
		h('label', { for: inputs.name.id }, 'Name'), nameHint, inputs.name, errEl('name'));

	// URL
	const urlHint = h('p', { class: 'hint', id: uid('hint-url') }, 'The endpoint that receives the POST requests. It must use HTTPS.');
	inputs.url = h('input', {
		class: 'input input-mono', id: uid('f-url'), name: 'url', type: 'url', inputmode: 'url',
		autocomplete: 'off', spellcheck: 'false', placeholder: 'https://example.com/webhooks/schedulingkit',
	});
	const urlField = h('div', { class: 'field' },
		h('label', { for: inputs.url.id }, 'URL'), urlHint, inputs.url, errEl('url'));

	// Events
	const eventBoxes = [];
	const eventsHint = h('p', { class: 'hint', id: uid('hint-events') }, 'Select which events send a request to this URL.');
	const groups = EVENT_GROUPS.map((g) => {
		const boxes = [];
		const all = h('input', { type: 'checkbox', 'aria-label': `Select all ${g.name} events` });
		const items = g.events.map(([ev, desc]) => {
			const id = uid('ev');
			const descId = `${id}-desc`;
			const box = h('input', { type: 'checkbox', id, name: 'events', value: ev, 'aria-describedby': descId });
			boxes.push(box);
			eventBoxes.push(box);
			return h('div', { class: 'check' }, box, h('label', { for: id }, ev), h('p', { class: 'hint', id: descId }, desc));
		});
		const sync = () => {
			const n = boxes.filter((b) => b.checked).length;
			all.checked = n === boxes.length;
			all.indeterminate = n > 0 && n < boxes.length;
		};
		all.addEventListener('change', () => {
			for (const b of boxes) b.checked = all.checked;
			sync();
		});
		for (const b of boxes) b.addEventListener('change', sync);
		const fs = h('fieldset', { class: 'event-group' },
			h('legend', {}, g.name),
			h('label', { class: 'select-all' }, all, 'Select all'),
			h('div', { class: 'event-items' }, items));
		fs.syncAll = sync;
		return fs;
	});
	const eventsErr = errEl('events');
	const eventsField = h('fieldset', {
		class: 'events-fieldset field', id: uid('f-events'),
		'aria-describedby': `${eventsHint.id} ${eventsErr.id}`,
	}, h('legend', {}, 'Events'), eventsHint, h('div', { class: 'event-groups' }, groups), eventsErr);
	inputs.events = eventsField;

	// Timeout and retries
	const timeoutHint = h('p', { class: 'hint', id: uid('hint-timeout') }, 'How long to wait for a response: 1–300 seconds.');
	inputs.timeout = h('input', {
		class: 'input input-short', id: uid('f-timeout'), name: 'timeout', type: 'number',
		inputmode: 'numeric', min: '1', max: '300', step: '1',
	});
	const timeoutField = h('div', { class: 'field' },
		h('label', { for: inputs.timeout.id }, 'Timeout'), timeoutHint,
		h('div', { class: 'input-group' }, inputs.timeout, h('span', { class: 'input-suffix', 'aria-hidden': 'true' }, 'seconds')),
		errEl('timeout'));
	const retryHint = h('p', { class: 'hint', id: uid('hint-retry') }, 'How many times to retry on failure: 0–10.');
	inputs.retry_attempts = h('input', {
		class: 'input input-short', id: uid('f-retry'), name: 'retry_attempts', type: 'number',
		inputmode: 'numeric', min: '0', max: '10', step: '1',
	});
	const retryField = h('div', { class: 'field' },
		h('label', { for: inputs.retry_attempts.id }, 'Retry attempts'), retryHint, inputs.retry_attempts,
		errEl('retry_attempts'));

	const hints = { name: nameHint, url: urlHint, timeout: timeoutHint, retry_attempts: retryHint };
	for (const f of ['name', 'url', 'timeout', 'retry_attempts'])
		inputs[f].setAttribute('aria-describedby', `${hints[f].id} ${errs[f].id}`);

	const saveBtn = h('button', { type: 'submit', class: 'btn btn-primary' }, submitLabel);
	const saved = h('span', { class: 'result result-ok', role: 'status' });
	const form = h('form', { class: 'form-grid', novalidate: true },
		formAlert, nameField, urlField, eventsField,
		h('div', { class: 'field-row' }, timeoutField, retryField),
		h('div', { class: 'form-actions' }, saveBtn, extraActions, saved));

	function setValues(w) {
		inputs.name.value = w.name || '';
		inputs.url.value = w.url || '';
		const evs = new Set(w.events || []);
		for (const b of eventBoxes) b.checked = evs.has(b.value);
		for (const g of groups) g.syncAll();
		inputs.timeout.value = w.timeout ?? 30;
		inputs.retry_attempts.value = w.retry_attempts ?? 3;
	}

	function values() {
		return {
			name: inputs.name.value,
			url: inputs.url.value.trim(),
			events: eventBoxes.filter((b) => b.checked).map((b) => b.value),
			timeout: numberOrRaw(inputs.timeout),
			retry_attempts: numberOrRaw(inputs.retry_attempts),
		};
	}

	function clearErrors() {
		formAlert.hidden = true;
		formAlert.textContent = '';
		for (const f of FIELDS) {
			errs[f].textContent = '';
			inputs[f].removeAttribute('aria-invalid');
		}
	}

	function fieldError(field, message) {
		errs[field].textContent = message;
		inputs[field].setAttribute('aria-invalid', 'true');
	}

	function focusFirstInvalid() {
		for (const f of FIELDS) {
			if (inputs[f].getAttribute('aria-invalid') !== 'true') continue;
			if (f === 'events') eventBoxes[0].focus();
			else inputs[f].focus();
			return true;
		}
		return false;
	}

	// Only what cannot be sent as JSON at all is checked here; every rule
	// (ranges, URL, required) is the API's.
	function localErrors(v) {
		let bad = false;
		if (v.timeout === '') { fieldError('timeout', 'Enter the timeout in seconds, from 1 to 300.'); bad = true; }
		else if (typeof v.timeout !== 'number') { fieldError('timeout', 'Timeout must be a whole number of seconds.'); bad = true; }
		if (v.retry_attempts === '') { fieldError('retry_attempts', 'Enter the number of retry attempts, from 0 to 10.'); bad = true; }
		else if (typeof v.retry_attempts !== 'number') { fieldError('retry_attempts', 'Retry attempts must be a whole number.'); bad = true; }
		return bad;
	}

	/** Shows an ApiError (or any error) next to its field, or above the form. */
	function showError(err) {
		const field = normaliseField(err.field);
		if (field) {
			fieldError(field, sentence(err.message));
		} else {
			formAlert.textContent = '';
			formAlert.append(h('p', {}, sentence(err.message || 'Saving failed.')));
			formAlert.hidden = false;
		}
		if (!focusFirstInvalid()) formAlert.focus();
	}
	formAlert.setAttribute('tabindex', '-1');

	let busy = false;
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		if (busy) return;
		clearErrors();
		saved.textContent = '';
		const v = values();
		if (localErrors(v)) {
			focusFirstInvalid();
			return;
		}
		busy = true;
		saveBtn.setAttribute('aria-disabled', 'true');
		saveBtn.textContent = busyLabel || 'Saving…';
		try {
			const msg = await onSubmit(v);
			if (msg) saved.textContent = msg;
		} catch (err) {
			if (err && err.name === 'AbortError') return;
			showError(err);
		} finally {
			busy = false;
			saveBtn.removeAttribute('aria-disabled');
			saveBtn.textContent = submitLabel;
		}
	});
	// A change after "Saved" makes that note stale.
	form.addEventListener('input', () => { saved.textContent = ''; });

	setValues(initial || {});
	return { el: form, values, setValues, showError, clearErrors, focusName: () => inputs.name.focus() };
}

function numberOrRaw(input) {
	const raw = input.value.trim();
	if (raw === '') return input.validity && input.validity.badInput ? 'bad' : '';
	const n = Number(raw);
	return Number.isInteger(n) ? n : raw;
}

function normaliseField(f) {
	if (!f) return null;
	const base = String(f).split(/[.[]/)[0];
	return FIELDS.includes(base) ? base : null;
}

const LABELS = { name: 'Name', url: 'URL', events: 'Events', timeout: 'Timeout', retry_attempts: 'Retry attempts' };

/**
 * The API's messages start with the field's JSON name ("retry_attempts must
 * be ..."); show them as sentences that use the form's labels instead.
 */
function sentence(msg) {
	let s = String(msg || '').trim();
	if (!s) return s;
	const m = s.match(/^([a-z_]+)\b/);
	if (m && LABELS[m[1]]) s = LABELS[m[1]] + s.slice(m[1].length);
	const t = s.charAt(0).toUpperCase() + s.slice(1);
	return /[.!?)]$/.test(t) ? t : `${t}.`;
}
