// app.js - entry point of the settings pages (index.html loads it as an
// ES module). It asks the API who is signed in (GET /api/v1/session),
// fills in the header (account name, Sign out) and routes on
// location.pathname:
//
//   /settings/webhooks               list.js
//   /settings/webhooks/create        edit.js (create)
//   /settings/webhooks/{id}/edit     edit.js (edit)
//
// Without a session (401, also when it ends while the page is open) the
// page shows the "Sign in from SchedulingKit" message instead.

import { api, ApiError, setCsrfToken, onUnauthorized } from './api.js';
import { h } from './dom.js';
import { renderList } from './list.js';
import { renderCreate, renderEdit } from './edit.js';

const main = document.getElementById('main');
let leave = null;
let signedOut = false;

function setTitle(t) {
	document.title = `${t} · Settings · SchedulingKit`;
}

function showSignIn() {
	if (signedOut) return;
	signedOut = true;
	if (leave) leave();
	document.getElementById('account').hidden = true;
	setTitle('Sign in from SchedulingKit');
	const heading = h('h1', { tabindex: '-1' }, 'Sign in from SchedulingKit');
	main.replaceChildren(h('section', { class: 'panel state-card' },
		heading,
		h('p', { class: 'lead' }, 'Your session has ended, or you have not signed in yet. Webhook settings open from inside SchedulingKit, which signs you in automatically.'),
		h('ol', { class: 'steps' },
			h('li', {}, 'Open ', h('strong', {}, 'SchedulingKit'), '.'),
			h('li', {}, 'Go to ', h('strong', {}, 'Settings → Webhooks'), '.')),
		h('p', { class: 'muted' }, 'Sign-in links work once and expire after 15 minutes.')));
	heading.focus();
}

function showError(err) {
	setTitle('Something went wrong');
	const retry = h('button', { type: 'button', class: 'btn btn-primary' }, 'Try again');
	retry.addEventListener('click', () => location.reload());
	main.replaceChildren(h('section', { class: 'panel empty state-card', role: 'alert' },
		h('h1', {}, 'This page could not be loaded'),
		h('p', {}, err && err.message ? err.message : 'Something went wrong.'),
		retry));
}

function showPageNotFound() {
	setTitle('Page not found');
	main.replaceChildren(h('section', { class: 'panel empty state-card' },
		h('h1', {}, 'Page not found'),
		h('p', {}, 'There is nothing at this address.'),
		h('a', { class: 'btn btn-primary', href: '/settings/webhooks' }, 'Go to webhooks')));
}

async function signOut(btn) {
	btn.setAttribute('aria-disabled', 'true');
	btn.textContent = 'Signing out…';
	try {
		await api('POST', '/logout', undefined, { quiet401: true });
	} catch (err) {
		// 401: already signed out. Anything else: say so and stay.
		if (!(err instanceof ApiError) || err.status !== 401) {
			btn.removeAttribute('aria-disabled');
			btn.textContent = 'Sign out';
			main.prepend(h('div', { class: 'alert alert-error', role: 'alert' },
				h('p', {}, `Signing out failed: ${err.message}`)));
			return;
		}
	}
	if (leave) leave();
	location.assign('/signed-out');
}

async function route() {
	const path = location.pathname.replace(/\/+$/, '') || '/';
	const ctx = { setTitle };
	if (path === '/settings/webhooks' || path === '/settings' || path === '/') {
		await renderList(main, ctx);
		return;
	}
	if (path === '/settings/webhooks/create') {
		renderCreate(main, ctx);
		return;
	}
	const m = path.match(/^\/settings\/webhooks\/([^/]+)\/edit$/);
	if (m) {
		let id;
		try { id = decodeURIComponent(m[1]); } catch { id = m[1]; }
		leave = await renderEdit(main, { ...ctx, id, onLeave: () => leave && leave() }) || null;
		return;
	}
	showPageNotFound();
}

async function start() {
	onUnauthorized(showSignIn);
	let session;
	try {
		session = await api('GET', 'session', undefined, { quiet401: true });
	} catch (err) {
		if (err.status === 401) { showSignIn(); return; }
		showError(err);
		return;
	}
	setCsrfToken(session.csrf_token);
	document.getElementById('account-name').textContent = session.account ? session.account.name : '';
	const btn = document.getElementById('sign-out');
	btn.addEventListener('click', () => {
		if (btn.getAttribute('aria-disabled') !== 'true') signOut(btn);
	});
	document.getElementById('account').hidden = false;
	try {
		await route();
	} catch (err) {
		if (err instanceof ApiError && err.status === 401) return;
		showError(err);
	}
}

// A page restored from the back/forward cache after signing out must not
// show stale data: ask the server again.
window.addEventListener('pageshow', (e) => {
	if (e.persisted) location.reload();
});

start();
