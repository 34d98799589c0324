// h builds DOM nodes: text is always set as text, never parsed as HTML, so
// nothing a message holds can run in the page.
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
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
