// The broker's API as the console uses it: every call carries the API key
// kept in session storage; a 401 asks for the key and tries again; any
// other error becomes an ApiError with the broker's code and message.

const KEY = 'goqueue-api-key';

// TIMEOUT_MS bounds each request with its answer read whole. A broker that
// takes connections but does not answer (stopped, overloaded, cut off by
// the network) held the first request for good, and every refresh and
// action queued behind it: the page kept its old data under "updated" and
// the time of the last answer, and opened no other page.
const TIMEOUT_MS = Number(new URLSearchParams(location.search).get('timeout')) || 15000;

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let askKey = null; // set by the app: returns a promise of a new key
export function onKeyNeeded(fn) { askKey = fn; }

export function setKey(k) { sessionStorage.setItem(KEY, k); }
export function hasKey() { return !!sessionStorage.getItem(KEY); }

// keyProblem says what makes k unusable as an API key, or '' if nothing
// does. A browser sends a header of printable ASCII only (and the broker
// compares the bytes): a key pasted with a zero-width space or a
// typographic dash made every fetch throw before it was sent, which read
// as "cannot reach the broker", and the key, kept for the tab, was never
// asked for again.
export function keyProblem(k) {
  const i = [...k].findIndex(c => c < ' ' || c > '~');
  if (i < 0) return '';
  const c = [...k][i];
  return `That key holds ${JSON.stringify(c)} (U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}) at character ${i + 1}; an API key is printable ASCII. Paste it again.`;
}

export async function call(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    const headers = {};
    const key = sessionStorage.getItem(KEY);
    if (key && keyProblem(key) && askKey && attempt < 5) { // kept from before this check
      await askKey(keyProblem(key));
      continue;
    }
    if (key) headers['X-API-Key'] = key;
    const init = { method, headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res, text;
    try {
      res = await fetch(path, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
      text = await res.text();
    } catch (e) {
      if (e.name === 'TimeoutError') {
        throw new ApiError(0, 'TIMEOUT', `the broker did not answer ${method} ${path} within ${TIMEOUT_MS / 1000} s` +
          (method === 'GET' ? '' : '; what was asked may still be done'));
      }
      throw new ApiError(0, 'NETWORK', 'cannot reach the broker: ' + e.message);
    }
    if (res.status === 401 && askKey && attempt < 5) {
      await askKey(key ? 'That key was refused; try another.' : '');
      continue;
    }
    if (res.status === 204) return null;
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    if (!res.ok) {
      const e = data && data.error;
      throw new ApiError(res.status, e ? e.code : 'HTTP_' + res.status, e ? e.message : text || res.statusText, e && e.details);
    }
    return data;
  }
}

export const get = p => call('GET', p);
export const post = (p, b) => call('POST', p, b);
export const del = p => call('DELETE', p);
export const enc = encodeURIComponent;
