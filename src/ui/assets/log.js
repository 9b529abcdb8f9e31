// log.js - the edit page's delivery log (GET .../deliveries: newest first,
// paged by next_cursor, filtered by outcome, refreshing by itself every few
// seconds while a row on screen is pending) and its 24-hour chart
// (GET .../stats: hourly buckets of succeeded and failed attempts).

import { api, seg } from './api.js';
import {
	h, svg, uid, timeEl, statusText, durationText, hourLabel, localText, announce,
} from './dom.js';

const PAGE_SIZE = 20;
const REFRESH_MS = 3000;
const RESPONSE_PREVIEW = 40;
const FILTERS = [['', 'All'], ['succeeded', 'Succeeded'], ['failed', 'Failed'], ['pending', 'Pending']];

/**
 * Builds the delivery log for webhook id. onRefreshed() runs after every
 * successful load (the edit page refreshes the chart with it).
 * Returns {el, refresh(), stop()}.
 */
export function deliveryLog(id, { onRefreshed } = {}) {
	const state = { status: '', cursors: [null], page: 0, next: null, timer: null, loading: false, stopped: false };
	const titleId = uid('log-title');
	const tbody = h('tbody', {});
	const emptyRow = h('p', { class: 'log-empty', hidden: true });
	const errorBox = h('div', { class: 'alert alert-error', role: 'alert', hidden: true });
	const refreshNote = h('span', { class: 'refresh-note', hidden: true },
		h('span', { class: 'pulse', 'aria-hidden': 'true' }), 'Updating every few seconds while deliveries are pending');
	const pageInfo = h('span', { class: 'muted' });
	const newerBtn = h('button', { type: 'button', class: 'btn btn-sm' }, '← Newer');
	const olderBtn = h('button', { type: 'button', class: 'btn btn-sm' }, 'Older →');
	const refreshBtn = h('button', { type: 'button', class: 'btn btn-sm' }, 'Refresh');
	const pager = h('div', { class: 'pager' }, newerBtn, pageInfo, olderBtn);

	const radios = FILTERS.map(([value, label]) => h('label', {},
		h('input', { type: 'radio', name: uid('log-filter'), value, checked: value === '' }), label));
	// All radios must share one name to form a group.
	const groupName = radios[0].querySelector('input').name;
	for (const l of radios) l.querySelector('input').name = groupName;
	const filter = h('fieldset', { class: 'log-filter' },
		h('legend', { class: 'visually-hidden' }, 'Show deliveries'),
		h('div', { class: 'segmented' }, radios));
	filter.addEventListener('change', (e) => {
		state.status = e.target.value;
		state.cursors = [null];
		state.page = 0;
		load({ announceCount: true });
	});

	const table = h('table', { class: 'log-table cards' },
		h('caption', { class: 'visually-hidden' }, 'Delivery attempts, newest first'),
		h('thead', {}, h('tr', {},
			h('th', { scope: 'col' }, 'Event'),
			h('th', { scope: 'col' }, 'Attempt'),
			h('th', { scope: 'col' }, 'Status'),
			h('th', { scope: 'col' }, 'Response'),
			h('th', { scope: 'col' }, 'Error'),
			h('th', { scope: 'col', class: 'num' }, 'Duration'),
			h('th', { scope: 'col' }, 'Delivered at'))),
		tbody);

	const el = h('section', { class: 'panel panel-flush', 'aria-labelledby': titleId, id: 'delivery-log' },
		h('div', { class: 'log-toolbar' },
			h('div', {},
				h('h2', { id: titleId }, 'Delivery log'),
				h('p', { class: 'muted small' }, 'Every attempt to reach your endpoint, newest first.')),
			h('div', { class: 'page-actions' }, refreshNote, refreshBtn)),
		h('div', { class: 'log-toolbar' }, filter),
		errorBox,
		h('div', { class: 'table-scroll' }, table),
		emptyRow,
		pager);

	newerBtn.addEventListener('click', () => {
		if (state.page === 0) return;
		state.page -= 1;
		load({ focus: newerBtn });
	});
	olderBtn.addEventListener('click', () => {
		if (!state.next) return;
		state.cursors[state.page + 1] = state.next;
		state.page += 1;
		load({ focus: olderBtn });
	});
	refreshBtn.addEventListener('click', () => load({ announceCount: true }));

	async function load({ announceCount = false, focus = null, quiet = false } = {}) {
		if (state.stopped) return;
		clearTimeout(state.timer);
		state.loading = true;
		if (!quiet) table.setAttribute('aria-busy', 'true');
		const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
		if (state.status) q.set('status', state.status);
		const cursor = state.cursors[state.page];
		if (cursor) q.set('cursor', cursor);
		try {
			const data = await api('GET', `webhooks/${seg(id)}/deliveries?${q}`);
			errorBox.hidden = true;
			render((data && data.data) || [], data ? data.next_cursor : null);
			if (announceCount) announce(`${tbody.rows.length} deliveries shown.`);
			if (onRefreshed) onRefreshed();
		} catch (err) {
			if (err.status === 401) return;
			errorBox.replaceChildren(h('p', {}, `Could not load the delivery log: ${err.message}`));
			errorBox.hidden = false;
			schedule(true);
		} finally {
			state.loading = false;
			table.removeAttribute('aria-busy');
			if (focus) {
				// A pager button that just became disabled cannot keep focus.
				if (focus.disabled) (focus === newerBtn ? olderBtn : newerBtn).focus();
				else focus.focus();
			}
		}
	}

	function render(rows, next) {
		state.next = next || null;
		tbody.replaceChildren(...rows.map(rowEl));
		const filtered = state.status ? FILTERS.find(([v]) => v === state.status)[1].toLowerCase() + ' ' : '';
		emptyRow.textContent = state.page === 0
			? `No ${filtered}deliveries yet. Send a test, or wait for the next event.`
			: 'No more deliveries.';
		emptyRow.hidden = rows.length > 0;
		table.hidden = rows.length === 0;
		newerBtn.disabled = state.page === 0;
		olderBtn.disabled = !state.next;
		pager.hidden = state.page === 0 && !state.next;
		pageInfo.textContent = `Page ${state.page + 1}`;
		schedule(rows.some((r) => r.status === 'pending'));
	}

	function schedule(pending) {
		refreshNote.hidden = !pending;
		clearTimeout(state.timer);
		if (pending && !state.stopped) state.timer = setTimeout(() => load({ quiet: true }), REFRESH_MS);
	}

	return {
		el,
		refresh: () => load({}),
		stop: () => { state.stopped = true; clearTimeout(state.timer); },
	};
}

function rowEl(d) {
	const status = { succeeded: 'Succeeded', failed: 'Failed', pending: 'Pending' }[d.status] || d.status;
	let delivered;
	if (d.delivered_at) delivered = timeEl(d.delivered_at, 'compact');
	else if (d.status === 'pending' && d.next_attempt_at) delivered = h('span', { class: 'muted' }, 'Next try ', timeEl(d.next_attempt_at, 'compact'));
	else delivered = h('span', { class: 'muted' }, d.status === 'pending' ? 'Waiting' : 'Not delivered');
	const empty = (v) => v === null || v === undefined || v === '';
	return h('tr', { class: `log-row log-${d.status}` },
		h('td', { class: 'c-event' },
			h('span', { class: 'event-name' }, d.event),
			d.started_at && !d.delivered_at ? h('div', { class: 'muted small' }, 'Tried ', timeEl(d.started_at, 'compact')) : null),
		h('td', { 'data-label': 'Attempt', class: 'c-attempt nowrap' },
			d.max_attempts ? `${d.attempt} of ${d.max_attempts}` : String(d.attempt ?? '—')),
		h('td', { class: 'c-status status-cell' },
			h('span', { class: `badge badge-${d.status}` }, status),
			d.status_code ? h('span', { class: 'status-code', title: statusText(d.status_code) }, String(d.status_code)) : null),
		h('td', { 'data-label': 'Response', class: `c-response response${empty(d.response) ? ' is-empty' : ''}` }, responseCell(d.response)),
		h('td', { class: `c-error${empty(d.error) ? ' is-empty' : ''}` },
			d.error ? h('span', { class: 'log-error' }, d.error) : h('span', { class: 'muted' }, '—')),
		h('td', { 'data-label': 'Duration', class: 'c-duration num' }, empty(d.duration_ms) ? '—' : durationText(d.duration_ms)),
		h('td', { 'data-label': 'Delivered at', class: 'c-delivered' }, delivered));
}

function responseCell(resp) {
	if (resp === null || resp === undefined || resp === '') return h('span', { class: 'muted' }, '—');
	const s = String(resp);
	const oneLine = s.replace(/\s+/g, ' ').trim();
	if (s.length <= RESPONSE_PREVIEW && !/\n/.test(s)) return h('code', {}, s);
	return h('details', {},
		h('summary', { title: 'Show the whole response' },
			oneLine.length > RESPONSE_PREVIEW ? `${oneLine.slice(0, RESPONSE_PREVIEW)}…` : oneLine),
		h('pre', {}, s));
}

// ---------------------------------------------------------------- chart

const W = 720;
const H = 170;
const PAD_L = 34;
const PAD_R = 8;
const PAD_T = 10;
const PAD_B = 24;

/**
 * Builds the "last 24 hours" panel for webhook id and returns
 * {el, refresh()}. The chart is an inline SVG with role="img" and a text
 * summary; the numbers are also in a table behind "Show as a table".
 */
export function deliveryChart(id) {
	const titleId = uid('chart-title');
	const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
	const el = h('section', { class: 'panel', 'aria-labelledby': titleId },
		h('div', { class: 'panel-head' },
			h('div', {},
				h('h2', { id: titleId }, 'Last 24 hours'),
				h('p', {}, 'Successful and failed delivery attempts per hour.'))),
		body);
	let lastKey = '';

	async function refresh() {
		try {
			const data = await api('GET', `webhooks/${seg(id)}/stats`);
			const buckets = (data && data.buckets) || [];
			const key = JSON.stringify(buckets);
			if (key === lastKey) return;
			lastKey = key;
			const open = body.querySelector('details') && body.querySelector('details').open;
			body.replaceChildren(...chart(buckets, open));
		} catch (err) {
			if (err.status === 401) return;
			if (!lastKey) body.replaceChildren(h('p', { class: 'muted' }, 'The chart is not available right now.'));
		}
	}
	return { el, refresh };
}

function chart(buckets, tableOpen) {
	const ok = buckets.reduce((n, b) => n + (b.succeeded || 0), 0);
	const fail = buckets.reduce((n, b) => n + (b.failed || 0), 0);
	const max = Math.max(1, ...buckets.map((b) => (b.succeeded || 0) + (b.failed || 0)));
	const top = niceMax(max);
	const summary = ok + fail === 0
		? 'No delivery attempts in the last 24 hours.'
		: `In the last 24 hours: ${ok} succeeded and ${fail} failed (${Math.round((ok / (ok + fail)) * 100)}% success).`;
	const n = Math.max(buckets.length, 1);
	const slot = (W - PAD_L - PAD_R) / n;
	const bw = Math.max(2, slot * 0.68);
	const plotH = H - PAD_T - PAD_B;
	const y = (v) => PAD_T + plotH - (v / top) * plotH;
	const titleId = uid('svg-title');
	const descId = uid('svg-desc');
	const parts = [
		svg('title', { id: titleId }, 'Deliveries per hour over the last 24 hours'),
		svg('desc', { id: descId }, summary),
	];
	for (const v of [0, top / 2, top]) {
		parts.push(svg('line', { class: 'grid', x1: PAD_L, x2: W - PAD_R, y1: y(v), y2: y(v) }));
		parts.push(svg('text', { class: 'axis-label', x: PAD_L - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(Math.round(v))));
	}
	buckets.forEach((b, i) => {
		const x = PAD_L + i * slot + (slot - bw) / 2;
		const s = b.succeeded || 0;
		const f = b.failed || 0;
		const start = new Date(b.start);
		const g = svg('g', {}, svg('title', {}, `${hourLabel(start)}: ${s} succeeded, ${f} failed`));
		if (s + f === 0) {
			g.append(svg('rect', { class: 'bar-empty', x, y: y(0) - 2, width: bw, height: 2, rx: 1 }));
		} else {
			if (s) g.append(svg('rect', { class: 'bar-ok', x, y: y(s), width: bw, height: Math.max(1, y(0) - y(s)), rx: 2 }));
			if (f) g.append(svg('rect', { class: 'bar-fail', x, y: y(s + f), width: bw, height: Math.max(1, y(s) - y(s + f)), rx: 2 }));
		}
		parts.push(g);
		if (i % 6 === 0 || i === buckets.length - 1) {
			parts.push(svg('text', { class: 'axis-label', x: x + bw / 2, y: H - 6, 'text-anchor': 'middle' }, hourLabel(start)));
		}
	});
	const fig = svg('svg', {
		class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': titleId,
		'aria-describedby': descId, preserveAspectRatio: 'xMidYMid meet',
	}, parts);
	const legend = h('div', { class: 'chart-legend' },
		h('span', {}, h('span', { class: 'legend-swatch legend-ok', 'aria-hidden': 'true' }), `Succeeded: ${ok}`),
		h('span', {}, h('span', { class: 'legend-swatch legend-fail', 'aria-hidden': 'true' }), `Failed: ${fail}`));
	const rows = buckets.map((b) => h('tr', {},
		h('th', { scope: 'row', class: 'nowrap' }, h('time', { datetime: b.start, title: localText(b.start) }, hourLabel(new Date(b.start)))),
		h('td', {}, String(b.succeeded || 0)),
		h('td', {}, String(b.failed || 0))));
	const tableDetails = h('details', { class: 'chart-table', open: tableOpen ? true : null },
		h('summary', {}, 'Show as a table'),
		h('table', {},
			h('caption', { class: 'visually-hidden' }, 'Delivery attempts per hour'),
			h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Hour starting'), h('th', { scope: 'col' }, 'Succeeded'), h('th', { scope: 'col' }, 'Failed'))),
			h('tbody', {}, rows)));
	return [h('p', { class: 'chart-summary' }, summary), legend, h('figure', { class: 'chart-wrap' }, fig), tableDetails];
}

function niceMax(v) {
	if (v <= 4) return 4;
	const p = 10 ** Math.floor(Math.log10(v));
	for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
	return 10 * p;
}
