// dom.js - small helpers shared by the pages: building elements (never from
// HTML strings, so nothing from the API is ever parsed as markup), times in
// the browser's time zone, announcements for screen readers, the copy
// button and the confirmation dialog.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false) continue;
		if (k === 'class') el.setAttribute('class', v);
		else if (k === 'text') el.textContent = v;
		else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
		else if (k === 'dataset') Object.assign(el.dataset, v);
		else if (k === 'value' && 'value' in el) el.value = v;
		else if (k === 'checked' || k === 'disabled' || k === 'indeterminate') el[k] = Boolean(v);
		else el.setAttribute(k, v === true ? '' : String(v));
	}
	for (const c of children.flat(Infinity)) {
		if (c === undefined || c === null || c === false) continue;
		el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
	return el;
}

/** Creates an HTML element: h('button', {class: 'btn', onclick: f}, 'Save'). */
export function h(tag, attrs, ...children) {
	return build(document.createElement(tag), attrs, children);
}

/** Creates an SVG element (same calling convention as h). */
export function svg(tag, attrs, ...children) {
	return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

let idSeq = 0;
/** A fresh element id with the given prefix. */
export function uid(prefix = 'id') {
	idSeq += 1;
	return `${prefix}-${idSeq}`;
}

// ---------------------------------------------------------------- times

const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const shortFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
const timeOnlyFmt = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const compactFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', second: '2-digit' });
const hourFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric' });
const relFmt = typeof Intl.RelativeTimeFormat === 'function'
	? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null;

/** "2026-11-27 10:00:05 UTC" for a title attribute. */
export function utcText(iso) {
	const d = new Date(iso);
	if (Number.isNaN(d.getTime())) return String(iso);
	return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
}

/**
 * A <time> element showing iso in the browser's time zone, with the UTC
 * value in datetime and title. style: 'full' (date and seconds), 'short',
 * 'compact' (time with seconds, plus the date unless it is today) or 'relative' ("5 minutes ago", falling back to short after a day).
 */
export function timeEl(iso, style = 'full') {
	if (!iso) return h('span', { class: 'muted' }, '—');
	const d = new Date(iso);
	if (Number.isNaN(d.getTime())) return h('span', {}, String(iso));
	let text;
	if (style === 'relative') text = relative(d) || shortFmt.format(d);
	else if (style === 'short') text = shortFmt.format(d);
	else if (style === 'compact') text = (sameDay(d, new Date()) ? timeOnlyFmt : compactFmt).format(d);
	else text = dateTimeFmt.format(d);
	return h('time', { datetime: d.toISOString(), title: utcText(iso) }, text);
}

function sameDay(a, b) {
	return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

function relative(d) {
	if (!relFmt) return null;
	const s = Math.round((d.getTime() - Date.now()) / 1000);
	const a = Math.abs(s);
	if (a < 45) return s <= 0 ? 'just now' : relFmt.format(s, 'second');
	if (a < 3600) return relFmt.format(Math.round(s / 60), 'minute');
	if (a < 86400) return relFmt.format(Math.round(s / 3600), 'hour');
	return null;
}

/** The hour of a date in the browser's time zone ("3 PM", "15"). */
export function hourLabel(d) {
	return hourFmt.format(d);
}

/** A full local date-time string (for text alternatives). */
export function localText(iso) {
	const d = new Date(iso);
	return Number.isNaN(d.getTime()) ? String(iso) : dateTimeFmt.format(d);
}

// ---------------------------------------------------------------- HTTP words

const REASONS = {
	200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 301: 'Moved Permanently',
	302: 'Found', 303: 'See Other', 307: 'Temporary Redirect', 308: 'Permanent Redirect',
	400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
	405: 'Method Not Allowed', 408: 'Request Timeout', 409: 'Conflict', 410: 'Gone',
	413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity',
	429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented',
	502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** "200 OK", "599" for an HTTP status code. */
export function statusText(code) {
	return REASONS[code] ? `${code} ${REASONS[code]}` : String(code);
}

/** "84 ms" / "1.2 s". */
export function durationText(ms) {
	if (ms === null || ms === undefined) return '—';
	if (ms < 1000) return `${Math.round(ms)} ms`;
	return `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s`;
}

/**
 * One line for the outcome of a test send: "200 OK in 84 ms" or, when it
 * failed, the status or the error in plain words.
 */
export function testResultText(r) {
	const dur = r.duration_ms !== null && r.duration_ms !== undefined ? ` in ${durationText(r.duration_ms)}` : '';
	if (r.success) return `${statusText(r.status_code)}${dur}`;
	if (r.status_code) return `Failed: ${statusText(r.status_code)}${dur}`;
	return `Failed: ${r.error || 'no response'}${dur}`;
}

// ---------------------------------------------------------------- screen readers

/** Says msg through the page's polite live region. */
export function announce(msg) {
	const live = document.getElementById('live');
	if (!live) return;
	live.textContent = '';
	// A separate task, so the same message twice is still read.
	setTimeout(() => { live.textContent = msg; }, 50);
}

// ---------------------------------------------------------------- clipboard

async function copyText(text) {
	if (navigator.clipboard && window.isSecureContext) {
		try {
			await navigator.clipboard.writeText(text);
			return true;
		} catch { /* fall through to the selection fallback */ }
	}
	const ta = h('textarea', { class: 'visually-hidden', readonly: true, 'aria-hidden': 'true' });
	ta.value = text;
	document.body.append(ta);
	ta.select();
	let ok = false;
	try { ok = document.execCommand('copy'); } catch { ok = false; }
	ta.remove();
	return ok;
}

/**
 * A Copy button for the text getText() returns. It confirms in its own
 * label and through the live region; when copying is impossible it selects
 * selectEl's text so the user can copy by hand.
 */
export function copyButton(getText, { label = 'Copy', selectEl = null, extraClass = '' } = {}) {
	const btn = h('button', { type: 'button', class: `btn btn-sm ${extraClass}`.trim() }, label);
	let timer;
	btn.addEventListener('click', async () => {
		const prevFocus = document.activeElement;
		const ok = await copyText(getText());
		clearTimeout(timer);
		if (ok) {
			btn.textContent = 'Copied';
			announce('Copied to the clipboard.');
		} else {
			btn.textContent = 'Press Ctrl+C to copy';
			if (selectEl) {
				const range = document.createRange();
				range.selectNodeContents(selectEl);
				const sel = window.getSelection();
				sel.removeAllRanges();
				sel.addRange(range);
			}
			announce('Copying is blocked by the browser; the text is selected, press Control C to copy it.');
		}
		if (prevFocus === btn) btn.focus();
		timer = setTimeout(() => { btn.textContent = label; }, 2500);
	});
	return btn;
}

// ---------------------------------------------------------------- dialog

/**
 * Asks for confirmation in the page's <dialog>. Resolves true only when
 * the confirm button was pressed; Escape and Cancel resolve
 * false. The caller puts focus where it belongs afterwards.
 */
export function confirmDialog({ title, body, confirmLabel }) {
	const dlg = document.getElementById('confirm-dialog');
	document.getElementById('confirm-title').textContent = title;
	document.getElementById('confirm-body').textContent = body;
	document.getElementById('confirm-ok').textContent = confirmLabel;
	return new Promise((resolve) => {
		dlg.returnValue = '';
		const onClose = () => {
			dlg.removeEventListener('close', onClose);
			resolve(dlg.returnValue === 'confirm');
		};
		dlg.addEventListener('close', onClose);
		dlg.showModal();
		document.getElementById('confirm-cancel').focus();
	});
}

// ---------------------------------------------------------------- flash

const FLASH_KEY = 'skw-flash';

/** Keeps a message to show on the next page this tab opens. */
export function setFlash(msg) {
	try { sessionStorage.setItem(FLASH_KEY, msg); } catch { /* storage off */ }
}

/** Returns and forgets the message kept by setFlash, if any. */
export function takeFlash() {
	try {
		const m = sessionStorage.getItem(FLASH_KEY);
		sessionStorage.removeItem(FLASH_KEY);
		return m;
	} catch {
		return null;
	}
}

// Asks before a webhook is deleted for good; resolves true to go ahead.
export function confirmDeleteWebhook(w) {
	return confirmDialog({
		title: `Delete “${w.name}”?`,
		body: 'The webhook and its delivery log are removed for good, and deliveries still waiting are dropped. This cannot be undone.',
		confirmLabel: 'Delete webhook',
	});
}
