// login.js - submits the one-time sign-in form on login.html by itself.
//
// The form (a same-origin POST carrying the token from the link) is what
// starts the session: a plain GET of the link never does, so link
// previewers and prefetchers cannot use up a link. The visible Continue
// button stays as the fallback when this script does not run.
'use strict';

(function () {
	const form = document.getElementById('login-form');
	if (!form) return;
	let sent = false;
	form.addEventListener('submit', (e) => {
		if (sent) { e.preventDefault(); return; }
		sent = true;
		const btn = document.getElementById('login-continue');
		if (btn) btn.setAttribute('aria-disabled', 'true');
	});
	window.addEventListener('pageshow', (e) => {
		if (e.persisted) sent = false;
	});
	const submit = () => {
		try { sessionStorage.setItem('skw-login-sent', location.pathname); } catch { /* storage off */ }
		if (form.requestSubmit) form.requestSubmit();
		else form.submit();
	};
	let again = false;
	try { again = sessionStorage.getItem('skw-login-sent') === location.pathname; } catch { /* storage off */ }
	if (!again) {
		submit();
		return;
	}
	// This tab already used this link (Back button, reload): when that
	// session is still alive go on to the settings instead of spending a
	// used token and showing "expired".
	fetch('/api/v1/session', { credentials: 'same-origin', cache: 'no-store' })
		.then((r) => (r.ok ? location.replace('/settings/webhooks') : submit()))
		.catch(submit);
})();
