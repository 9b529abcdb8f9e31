// api.js - the pages' only way to the server: the JSON API under /api/v1,
// with the session cookie (credentials 'same-origin') and, on every
// request that changes something, the session's CSRF token.
//
// Errors come back as ApiError with the API's {code, message, field}; a
// network failure is an ApiError with status 0. A 401 anywhere means the
// session ended: onUnauthorized (set by app.js) shows the sign-in message.

export class ApiError extends Error {
	constructor(status, code, message, field) {
		super(message);
		this.status = status;
		this.code = code;
		this.field = field || null;
	}
}

let csrfToken = '';
let unauthorizedHandler = null;

/** Sets the CSRF token sent with every non-GET request. */
export function setCsrfToken(token) {
	csrfToken = token || '';
}

/** Sets what happens when the server answers 401 (the session is gone). */
export function onUnauthorized(fn) {
	unauthorizedHandler = fn;
}

/**
 * Calls the API. Resolves to the parsed JSON body (null for 204); rejects
 * with ApiError. opts.quiet401 leaves a 401 to the caller.
 */
export async function api(method, path, body, opts = {}) {
	const headers = { Accept: 'application/json' };
	const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
	if (method !== 'GET' && method !== 'HEAD') {
		headers['X-CSRF-Token'] = csrfToken;
		headers['Content-Type'] = 'application/json';
		if (body !== undefined) init.body = JSON.stringify(body);
	}
	if (opts.signal) init.signal = opts.signal;
	let res;
	try {
		res = await fetch(path.startsWith('/') ? path : `/api/v1/${path}`, init);
	} catch (e) {
		if (e && e.name === 'AbortError') throw e;
		throw new ApiError(0, 'network', 'Could not reach the server. Check your connection and try again.');
	}
	if (res.status === 204) return null;
	let data = null;
	const text = await res.text();
	if (text) {
		try { data = JSON.parse(text); } catch { data = null; }
	}
	if (res.ok) return data;
	const err = data && data.error ? data.error : {};
	const apiErr = new ApiError(res.status, err.code || `http_${res.status}`,
		err.message || defaultMessage(res.status), err.field);
	if (res.status === 401 && !opts.quiet401 && unauthorizedHandler) unauthorizedHandler(apiErr);
	throw apiErr;
}

function defaultMessage(status) {
	if (status === 401) return 'Your session has ended. Sign in again from SchedulingKit.';
	if (status === 403) return 'This request was refused. Reload the page and try again.';
	if (status === 404) return 'Not found.';
	if (status >= 500) return 'The server had a problem. Try again in a moment.';
	return `The request failed (HTTP ${status}).`;
}

/** Encodes one path segment (a webhook id from the URL). */
export function seg(s) {
	return encodeURIComponent(s);
}
