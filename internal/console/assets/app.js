// The console's shell: routes on the URL fragment (#/group/billing), runs the
// current page's refresh every few seconds, asks for the API key when the
// broker wants one and shows the API's errors.
import { onKeyNeeded, setKey, hasKey, keyProblem, ApiError } from './api.js';
import { replace, h } from './dom.js';
import * as overview from './overview.js';
import * as group from './group.js';
import * as topic from './topic.js';
import * as dlq from './dlq.js';
import * as reset from './reset.js';
import * as cluster from './cluster.js';

// POLL_MS is the time between refreshes: 3 s, or the URL's ?poll= (for
// tests), at least MIN_POLL_MS: a link with ?poll=1 (or a negative one)
// made the tab refresh back to back, hundreds of requests a second for as
// long as it stayed open.
const MIN_POLL_MS = 100;
const POLL_MS = Math.max(MIN_POLL_MS, Number(new URLSearchParams(location.search).get('poll')) || 3000);

const routes = [
  [/^\/?$/, overview, 'overview'],
  [/^\/group\/([^/]+)$/, group, 'overview'],
  [/^\/topic\/([^/]+)$/, topic, 'overview'],
  [/^\/dlq(?:\/([^/]+))?$/, dlq, 'dlq'],
  [/^\/reset(?:\/([^/]+))?$/, reset, 'reset'],
  [/^\/cluster$/, cluster, 'cluster'],
];

const main = document.getElementById('main');
const errBox = document.getElementById('error');
const status = document.getElementById('status');
let current = null; // {refresh, gen}
let gen = 0;
let timer = null;
let rendered = false; // the first page has rendered with data (a mark for tests and profiling)

// exclusive runs fn after every refresh or action started before it has
// finished, so that an action (a purge, a reset) never interleaves with a
// refresh that read the state before it.
let chain = Promise.resolve();
export function exclusive(fn) {
  const run = chain.then(fn, fn);
  chain = run.catch(() => {});
  return run;
}

export function showError(e) {
  if (!e) { errBox.hidden = true; return; }
  const code = e instanceof ApiError ? e.code : 'ERROR';
  replace(errBox, h('strong', {}, code), ' ', e.message,
    h('button', { class: 'link', onclick: () => { errBox.hidden = true; } , 'aria-label': 'Dismiss' }, '×'));
  errBox.hidden = false;
}

async function tick(g) {
  if (!current || g !== gen) return;
  try {
    await exclusive(() => current.refresh());
    if (g !== gen) return;
    if (!rendered) { rendered = true; performance.mark('goqueue-first-render'); }
    status.textContent = 'updated ' + new Date().toLocaleTimeString();
    status.classList.remove('bad');
    if (errBox.dataset.from === 'poll') showError(null);
  } catch (e) {
    if (g !== gen) return;
    status.textContent = 'update failed';
    status.classList.add('bad');
    errBox.dataset.from = 'poll';
    showError(e);
  }
  clearTimeout(timer);
  if (g === gen) timer = setTimeout(() => tick(g), POLL_MS);
}

async function route() {
  // Matched escaped, and each page decodes its part: a group ID may hold
  // a '/' (team%2Fapp), which decoded first split it into two segments
  // (and a '%' in one was decoded twice).
  const path = location.hash.replace(/^#/, '') || '/';
  gen++;
  clearTimeout(timer);
  showError(null);
  for (const a of document.querySelectorAll('[data-nav]')) a.removeAttribute('aria-current');
  for (const [re, mod, nav] of routes) {
    const m = path.match(re);
    if (!m) continue;
    document.querySelector(`[data-nav="${nav}"]`).setAttribute('aria-current', 'page');
    replace(main, h('p', { class: 'muted' }, 'Loading…'));
    const g = gen;
    try {
      const page = await mod.page(main, m[1], { showError, exclusive });
      if (g !== gen) return;
      current = page;
      document.title = (page.title || 'GoQueue') + ' · GoQueue console';
      await tick(g);
    } catch (e) {
      if (g === gen) showError(e);
    }
    return;
  }
  current = null; // nothing to refresh: the last page's "updated …" would say this one was
  status.textContent = '';
  status.classList.remove('bad');
  replace(main, h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, path), '. ', h('a', { href: '#/' }, 'Go to the overview.')));
}

// The key prompt: resolves once a key is entered, or, when the reader
// asked to change a key that works (optional), once they cancel.
const dialog = document.getElementById('keydialog');
const keyBtn = document.getElementById('changekey');
const keyCancel = document.getElementById('keycancel');
let pending = null, done = null, optional = false;
function askKey(msg, canCancel = false) {
  const kerr = document.getElementById('keyerror');
  kerr.textContent = msg;
  kerr.hidden = !msg;
  optional = canCancel && (!pending || optional); // a 401's prompt stays until a key is given
  keyCancel.hidden = !optional;
  if (!pending) {
    pending = new Promise(resolve => {
      done = () => { pending = null; resolve(); };
      document.getElementById('keyform').onsubmit = e => {
        const key = document.getElementById('keyinput').value.trim();
        const bad = keyProblem(key);
        if (bad) { // the dialog stays open
          e.preventDefault();
          kerr.textContent = bad;
          kerr.hidden = false;
          return;
        }
        setKey(key);
        keyBtn.hidden = false;
        done();
      };
    });
    if (!dialog.open) dialog.showModal();
  }
  return pending;
}
onKeyNeeded(msg => askKey(msg));
function cancelKey(e) {
  if (!optional) { e.preventDefault(); return; } // nothing works without a key
  if (e.type === 'click') dialog.close();
  done();
}
dialog.addEventListener('cancel', cancelKey);
keyCancel.addEventListener('click', cancelKey);
// A key that works may not be the one wanted (a scoped key answered 403
// FORBIDDEN): without this the tab kept it until it was closed.
keyBtn.hidden = !hasKey();
keyBtn.addEventListener('click', async () => {
  document.getElementById('keyinput').value = '';
  await askKey('', true);
  route();
});

window.addEventListener('hashchange', route);
route();
