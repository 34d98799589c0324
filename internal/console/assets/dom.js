// h builds DOM nodes: text is always set as text, never parsed as HTML, so
// nothing a message holds can run in the page.
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) { el.addEventListener(k.slice(2), v); (el.__on ||= {})[k.slice(2)] = v; }
    else if (k === 'class') el.className = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  add(el, kids);
  return el;
}

function add(el, kids) {
  for (const k of kids) {
    if (k === null || k === undefined || k === false) continue;
    if (Array.isArray(k)) add(el, k);
    else el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

// replace swaps el's children for kids.
export function replace(el, ...kids) {
  el.replaceChildren();
  add(el, kids);
  return el;
}

// update makes el's children like kids, changing only what differs, so
// that a page refreshed every few seconds keeps the reader's focus and
// place. Use it for what a refresh redraws; kids are copied from, so the
// caller must keep no reference to them.
export function update(el, ...kids) {
  const want = document.createElement('div');
  add(want, kids);
  morphChildren(el, [...want.childNodes]);
  return el;
}

function morphChildren(el, kids) {
  const have = [...el.childNodes];
  kids.forEach((k, i) => {
    const o = have[i];
    if (!o) el.append(k);
    else if (o !== k) morph(o, k);
  });
  for (const o of have.slice(kids.length)) if (!kids.includes(o)) o.remove();
}

// morph turns node o into a copy of n in place, or swaps it for n when
// they are not the same kind of node.
function morph(o, n) {
  if (o.nodeType !== n.nodeType || o.nodeName !== n.nodeName || o.__on && !n.__on) {
    o.replaceWith(n);
    return;
  }
  if (o.nodeType !== Node.ELEMENT_NODE) {
    if (o.nodeValue !== n.nodeValue) o.nodeValue = n.nodeValue;
    return;
  }
  for (const a of [...o.attributes]) if (!n.hasAttribute(a.name)) o.removeAttribute(a.name);
  for (const a of n.attributes) if (o.getAttribute(a.name) !== a.value) o.setAttribute(a.name, a.value);
  for (const [t, f] of Object.entries(o.__on || {})) o.removeEventListener(t, f);
  for (const [t, f] of Object.entries(n.__on || {})) o.addEventListener(t, f);
  o.__on = n.__on;
  if (n.style && n.style.cssText !== o.style.cssText) o.style.cssText = n.style.cssText;
  if ('disabled' in n && o.disabled !== n.disabled) o.disabled = n.disabled;
  morphChildren(o, [...n.childNodes]);
}

// table renders rows with columns [{label, value(row) → node|text, num}];
// an empty list shows the empty message instead.
export function table(cols, rows, empty, caption) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'scroll' }, h('table', {},
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, cols.map(c => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
    h('tbody', {}, rows.map(r => h('tr', {}, cols.map(c => h('td', { class: c.num ? 'num' : null }, c.value(r))))))));
}

export function link(href, text) { return h('a', { href }, text); }

export function section(title, ...kids) {
  return h('section', {}, h('h2', {}, title), ...kids);
}

export function stat(label, value, title) {
  return h('div', { class: 'stat', title }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value));
}

// confirmButton is a button that asks before it acts: the first press
// shows the question with Yes and Cancel beside it (in the page, so the
// keyboard and tests reach it like any other control).
export function confirmButton(attrs, label, question, action) {
  const box = h('span', { class: 'confirm' });
  const btn = h('button', { ...attrs, onclick: () => {
    replace(box, h('span', { class: 'question' }, question), ' ',
      h('button', { class: 'yes danger', onclick: async () => { replace(box, btn); await action(); } }, 'Yes'), ' ',
      h('button', { class: 'no', onclick: () => { replace(box, btn); btn.focus(); } }, 'Cancel'));
    box.querySelector('.yes').focus();
  } }, label);
  box.append(btn);
  return box;
}

// Identifiers a client chose (group and member IDs: Kafka lets them hold
// any character) are shown so that two that differ look different: a
// character that prints nothing or reorders the text around it (controls,
// format characters such as U+202E RIGHT-TO-LEFT OVERRIDE or U+200B ZERO
// WIDTH SPACE, separators other than the plain space) and spaces at either
// end are spelled out as \u{…}, and the whole is isolated from the text
// around it (<bdi>), so a name cannot pass for another or turn the
// sentence it sits in around.
const hidden = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]|(?! )\p{Zs}|^ +| +$/gu;

function escapeRuns(s, each) {
  if (s === '') return [each('(empty)')];
  const out = [];
  let at = 0;
  for (const m of s.matchAll(hidden)) {
    if (m.index > at) out.push(s.slice(at, m.index));
    for (const c of m[0]) out.push(each('\\u{' + c.codePointAt(0).toString(16).toUpperCase() + '}'));
    at = m.index + m[0].length;
  }
  if (at < s.length) out.push(s.slice(at));
  return out;
}

// identText is ident as plain text, for where no markup goes (an option,
// a title, a chart's label).
export function identText(s) {
  return escapeRuns(String(s), e => e).join('');
}

// ident is a client-chosen identifier as a node (see identText).
export function ident(s) {
  return h('bdi', { class: 'ident' }, escapeRuns(String(s), e => h('span', { class: 'esc', title: 'a character that does not print' }, e)));
}
