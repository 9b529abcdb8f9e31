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
	// Coming back to this page with the Back button must not resend a used
	// token automatically; the user can still press Continue.
	window.addEventListener('pageshow', (e) => {
		if (e.persisted) sent = false;
	});
	if (sessionStorage.getItem('skw-login-sent') === location.pathname) return;
	try { sessionStorage.setItem('skw-login-sent', location.pathname); } catch { /* private mode */ }
	if (form.requestSubmit) form.requestSubmit();
	else form.submit();
})();
