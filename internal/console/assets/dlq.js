// Dead letters: browse a topic's DLQ with filters, view one message whole,
// replay one or all back to the original topic, purge.
import { get, post, del, enc } from './api.js';
import { h, replace, update, confirmButton } from './dom.js';
import { num, time, ago } from './fmt.js';
import { list, modeSelect, render } from './messages.js';

const H = 'goqueue-dlq-';
const PER_PARTITION = 200; // the newest dead letters read from each DLQ partition

export async function page(root, topic, { showError, exclusive }) {
  topic = topic ? decodeURIComponent(topic) : '';
  const pick = h('select', { id: 'dlqtopic', 'aria-label': 'Topic', onchange: e => { location.hash = '#/dlq/' + enc(e.target.value); } });
  const fGroup = h('select', { id: 'fgroup', 'aria-label': 'Original group', onchange: () => draw() });
  const fReason = h('select', { id: 'freason', 'aria-label': 'Reason', onchange: () => draw() });
  const fFrom = h('input', { id: 'ffrom', type: 'datetime-local', 'aria-label': 'From time', onchange: () => draw() });
  const fTo = h('input', { id: 'fto', type: 'datetime-local', 'aria-label': 'To time', onchange: () => draw() });
  const summary = h('p', { id: 'dlqsummary' });
  const out = h('div', { id: 'dlqlist' });
  const view = h('div', { id: 'dlqview' });
  let mode = 'text', msgs = [], sig = '';

  const controls = topic ? h('div', {},
    h('div', { class: 'controls' }, h('label', {}, 'Group ', fGroup), h('label', {}, 'Reason ', fReason),
      h('label', {}, 'From ', fFrom), h('label', {}, 'To ', fTo), h('label', {}, 'Values as ', modeSelect(v => { mode = v; draw(); }))),
    h('div', { class: 'controls' },
      confirmButton({ id: 'replayall' }, 'Replay all to ' + topic, `Publish every dead letter of ${topic} back to ${topic}? Its consumers receive them again.`, replayAll),
      confirmButton({ id: 'purge', class: 'danger' }, 'Purge the DLQ', `Delete every dead letter of ${topic}? This cannot be undone.`, purge))) : null;
  replace(root, h('h1', {}, 'Dead letters'),
    h('p', { class: 'muted' }, 'Messages a group gave up on (nacked without requeue, or out of retries) are kept in the topic\'s DLQ, ', h('code', {}, '<topic>.dlq'), ', with why and where they came from.'),
    h('div', { class: 'controls' }, h('label', {}, 'Topic ', pick)), summary, controls, view, out);

  function filtered() {
    const from = fFrom.value ? Date.parse(fFrom.value) : 0, to = fTo.value ? Date.parse(fTo.value) : Infinity;
    return msgs.filter(m => {
      const hd = m.headers || {};
      return (!fGroup.value || hd[H + 'group'] === fGroup.value) && (!fReason.value || hd[H + 'reason'] === fReason.value) &&
        m.timestamp >= from && m.timestamp <= to;
    });
  }

  function options(sel, label, values) {
    const cur = sel.value;
    replace(sel, h('option', { value: '' }, 'any ' + label), [...values].sort().map(v => h('option', { value: v, selected: v === cur }, v)));
  }

  function draw() {
    const shown = filtered();
    update(out, shown.length ? list(shown, mode, {
      hideHeader: k => k.startsWith(H),
      meta: m => {
        const hd = m.headers || {};
        return h('div', { class: 'why' }, h('strong', {}, hd[H + 'reason'] || '?'), ' in group ', h('code', {}, hd[H + 'group'] || '?'),
          ` from ${hd[H + 'original-topic']}/${hd[H + 'original-partition']}@${hd[H + 'original-offset']}, delivered ${hd[H + 'delivery-count']}×`,
          hd[H + 'last-error'] ? [': ', h('q', {}, hd[H + 'last-error'])] : null);
      },
      actions: m => [h('button', { class: 'view', onclick: () => show(m) }, 'View'), h('button', { class: 'replay', onclick: () => replayOne(m) }, 'Replay')],
    }) : h('p', { class: 'empty' }, msgs.length ? 'No dead letter matches the filters.' : 'The DLQ is empty: no message of ' + topic + ' has been dead-lettered.'));
  }

  function show(m) {
    replace(view, h('section', { class: 'whole' }, h('h2', {}, `Dead letter ${m.partition}/${m.offset}`),
      h('button', { class: 'link', onclick: () => replace(view) }, 'Close'),
      h('dl', { class: 'headers' }, Object.entries(m.headers || {}).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      h('h3', {}, 'Value'), h('pre', { class: 'value' }, render(m, mode)),
      h('h3', {}, 'As the API returns it'), h('pre', { class: 'value' }, JSON.stringify(m, null, 2))));
    view.querySelector('h2').scrollIntoView();
  }

  // replayOne publishes the message back to its original topic and
  // partition, without the DLQ's headers (what the replay endpoint does,
  // for one message).
  function replayOne(m) { return exclusive(() => replayOneNow(m)); }
  async function replayOneNow(m) {
    const hd = m.headers || {};
    const orig = hd[H + 'original-topic'] || topic;
    const headers = Object.fromEntries(Object.entries(hd).filter(([k]) => !k.startsWith(H)));
    const body = { headers, partition: Number(hd[H + 'original-partition']) };
    for (const k of ['key', 'key_base64', 'value', 'value_base64']) if (m[k] !== undefined) body[k] = m[k];
    try {
      const r = await post('/topics/' + enc(orig) + '/messages', body);
      replace(summary, `Replayed ${m.partition}/${m.offset} to ${orig}/${r.offsets[0].partition} at offset ${r.offsets[0].offset}.`);
      showError(null);
    } catch (e) { showError(e); }
  }

  function replayAll() { return exclusive(() => replayAllNow()); }
  async function replayAllNow() {
    try {
      const r = await post('/topics/' + enc(topic) + '/dlq/replay', {});
      replace(summary, `Replayed ${num(r.replayed)} dead letters to ${topic}.`);
      showError(null);
    } catch (e) { showError(e); }
  }

  function purge() { return exclusive(() => purgeNow()); }
  async function purgeNow() {
    try {
      await del('/topics/' + enc(topic + '.dlq'));
      msgs = []; sig = '';
      draw();
      replace(summary, 'The DLQ of ' + topic + ' was purged.');
      showError(null);
    } catch (e) { showError(e); }
  }

  async function refresh() {
    const tl = await get('/topics');
    const dlqs = tl.topics.filter(t => t.name.endsWith('.dlq')).map(t => t.name.slice(0, -4));
    update(pick, h('option', { value: '' }, dlqs.length ? 'choose a topic' : 'no DLQ yet'), dlqs.map(d => h('option', { value: d, selected: d === topic }, d)));
    if (!topic) {
      update(out, h('p', { class: 'empty' }, dlqs.length ? 'Choose a topic to see its dead letters.' : 'No dead letters anywhere. A DLQ appears when a group nacks a message with requeue:false or runs out of retries.'));
      return;
    }
    let t = null;
    if (dlqs.includes(topic)) { // asking for a DLQ that is not there would log a 404 in the browser
      try { t = await get('/topics/' + enc(topic + '.dlq')); } catch (e) { if (e.code !== 'TOPIC_NOT_FOUND') throw e; }
    }
    if (!t) {
      msgs = []; sig = '';
      update(summary, 'No dead letters for ' + topic + '.');
      draw();
      return;
    }
    const pi = t.partition_info || [];
    const s = pi.map(p => p.earliest_offset + ':' + p.high_watermark).join(',');
    if (s === sig) return;
    sig = s;
    const got = await Promise.all(pi.filter(p => p.high_watermark > p.earliest_offset).map(p =>
      get(`/topics/${enc(topic + '.dlq')}/partitions/${p.partition}/messages?offset=${Math.max(p.earliest_offset, p.high_watermark - PER_PARTITION)}&max=${PER_PARTITION}`)));
    msgs = got.flatMap(r => r.messages).sort((a, b) => b.timestamp - a.timestamp || b.offset - a.offset);
    options(fGroup, 'group', new Set(msgs.map(m => (m.headers || {})[H + 'group']).filter(Boolean)));
    options(fReason, 'reason', new Set(msgs.map(m => (m.headers || {})[H + 'reason']).filter(Boolean)));
    const total = pi.reduce((a, p) => a + p.high_watermark - p.earliest_offset, 0);
    update(summary, `${num(total)} dead letters in ${topic}.dlq`, total > msgs.length ? ` (the newest ${num(msgs.length)} shown)` : '',
      msgs.length ? ` · newest ${ago(msgs[0].timestamp)} (${time(msgs[0].timestamp)})` : '');
    draw();
  }
  return { refresh, title: 'Dead letters' };
}
