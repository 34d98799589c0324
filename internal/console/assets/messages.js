// Rendering of messages, shared by the topic browser and the DLQ: key,
// value as text, pretty JSON or hex, headers.
import { h } from './dom.js';
import { time, bytes } from './fmt.js';

// valueBytes returns the message's value as bytes and whether it was JSON.
export function valueBytes(m) {
  if (m.value_base64 !== undefined) return [b64(m.value_base64), false];
  if (m.value === undefined || m.value === null) return [new Uint8Array(), false];
  const text = typeof m.value === 'string' ? m.value : JSON.stringify(m.value);
  return [new TextEncoder().encode(text), typeof m.value !== 'string'];
}

function b64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function keyText(m) {
  if (m.key !== undefined) return m.key;
  if (m.key_base64 !== undefined) return hex(b64(m.key_base64));
  return null;
}

export function hex(b) {
  const lines = [];
  for (let i = 0; i < b.length; i += 16) {
    const row = b.slice(i, i + 16);
    const hx = [...row].map(x => x.toString(16).padStart(2, '0')).join(' ');
    const asc = [...row].map(x => x >= 32 && x < 127 ? String.fromCharCode(x) : '.').join('');
    lines.push(i.toString(16).padStart(6, '0') + '  ' + hx.padEnd(48) + ' ' + asc);
  }
  return lines.join('\n');
}

// render shows v in mode: "text", "json" (pretty, or text if it is not
// JSON) or "hex".
export function render(m, mode) {
  const [b] = valueBytes(m);
  if (mode === 'hex') return hex(b);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(b);
  if (mode === 'json') {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
  }
  return text;
}

// headerEntries is m's headers as [key, value] pairs: its headers object,
// or header_list in order, which the broker sends for headers the object
// cannot say exactly (a repeated key, bytes that are not UTF-8, shown here
// as base64:..., a null value, shown as (null)).
export function headerEntries(m) {
  if (!m.header_list) return Object.entries(m.headers || {});
  return m.header_list.map(e => [e.key ?? `base64:${e.key_base64}`,
    e.value ?? (e.value_base64 !== undefined ? `base64:${e.value_base64}` : '(null)')]);
}

// headerMap is m's headers by key, the last of a repeated key winning.
export function headerMap(m) { return Object.fromEntries(headerEntries(m)); }

// list renders messages as cards; opts.actions(m) adds buttons per message.
export function list(msgs, mode, opts = {}) {
  return h('ol', { class: 'messages' }, msgs.map(m => {
    const key = keyText(m);
    const headers = headerEntries(m).filter(([k]) => !opts.hideHeader || !opts.hideHeader(k));
    return h('li', { class: 'message' },
      h('div', { class: 'meta' },
        h('strong', {}, `${m.partition}/${m.offset}`), ' · ', time(m.timestamp), ' · ', bytes(valueBytes(m)[0].length),
        key !== null ? [' · key ', h('code', {}, key)] : h('span', { class: 'muted' }, ' · no key'),
        opts.meta ? opts.meta(m) : null),
      h('pre', { class: 'value', tabindex: 0 }, render(m, mode)),
      headers.length ? h('dl', { class: 'headers' }, headers.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])) : null,
      opts.actions ? h('div', { class: 'actions' }, opts.actions(m)) : null);
  }));
}

export function modeSelect(onchange, value = 'text') {
  return h('select', { class: 'mode', 'aria-label': 'Show values as', onchange: e => onchange(e.target.value) },
    [['text', 'text'], ['json', 'pretty JSON'], ['hex', 'hex']].map(([v, l]) => h('option', { value: v, selected: v === value }, l)));
}
