// Dead letters: browse a topic's DLQ with filters, view one message whole,
// replay one or all back to the group that failed them (the broker's
// POST /topics/{t}/dlq/replay: each to its own group only, each once), purge.
import { get, post, del, enc } from './api.js';
import { dlqName } from './dlqname.js';
import { h, replace, update, confirmButton, ident, identText } from './dom.js';
import { num, time, ago } from './fmt.js';
import { headerEntries, headerMap, list, modeSelect, render } from './messages.js';

const H = 'goqueue-dlq-';
const PER_PARTITION = 200; // the newest dead letters read from each DLQ partition
const MAX_ROUNDS = 1000; // replay-all requests, of up to 1000 dead letters each
const MAX_NEWEST_READS = 8; // the most reads of one partition's newest dead letters

// diedAt is when a dead letter died: its died-at header, or, for one
// written before the broker recorded that, its own timestamp (which is the
// original message's).
export function diedAt(m) {
  const v = Number(headerMap(m)[H + 'died-at']);
  return Number.isFinite(v) && v > 0 ? v : m.timestamp;
}

// newest reads the newest dead letters of one DLQ partition p (from its
// partition_info): up to PER_PARTITION, as many as one answer of the broker
// holds (1 MiB by default). An answer that stops short of the end (dead
// letters of more than 5 KiB each) is read again from as many messages
// before the end as it brought: read once from PER_PARTITION before the
// end, the page showed the oldest of those as "the newest", and never the
// last ones to die.
export async function newest(dlq, p) {
  const hw = p.high_watermark;
  let from = Math.max(p.earliest_offset, hw - PER_PARTITION);
  for (let i = 0; ; i++) {
    const r = await get(`/topics/${enc(dlq)}/partitions/${p.partition}/messages?offset=${from}&max=${PER_PARTITION}`);
    const n = r.messages.length;
    if (!n || r.next_offset >= hw || i === MAX_NEWEST_READS - 1) return r.messages;
    from = Math.max(from + 1, hw - n);
  }
}

export async function page(root, topic, { showError, exclusive }) {
  topic = topic ? decodeURIComponent(topic) : '';
  const pick = h('select', { id: 'dlqtopic', 'aria-label': 'Topic', onchange: e => { location.hash = '#/dlq/' + enc(e.target.value); } });
  const fGroup = h('select', { id: 'fgroup', 'aria-label': 'Original group', onchange: () => draw() });
  const fReason = h('select', { id: 'freason', 'aria-label': 'Reason', onchange: () => draw() });
  const fFrom = h('input', { id: 'ffrom', type: 'datetime-local', 'aria-label': 'From time', onchange: () => draw() });
  const fTo = h('input', { id: 'fto', type: 'datetime-local', 'aria-label': 'To time', onchange: () => draw() });
  const again = h('input', { id: 'again', type: 'checkbox' });
  const summary = h('p', { id: 'dlqsummary' });
  const out = h('div', { id: 'dlqlist' });
  const view = h('div', { id: 'dlqview' });
  let mode = 'text', msgs = [], sig = '';

  const controls = topic ? h('div', {},
    h('div', { class: 'controls' }, h('label', {}, 'Group ', fGroup), h('label', {}, 'Reason ', fReason),
      h('label', { title: 'When the message died' }, 'Died from ', fFrom), h('label', {}, 'to ', fTo), h('label', {}, 'Values as ', modeSelect(v => { mode = v; draw(); }))),
    h('div', { class: 'controls' },
      h('label', { title: 'By default each dead letter is replayed once. One replayed the most times allowed (3 unless the API is told otherwise) stays here.' }, again, ' Also those replayed before'),
      confirmButton({ id: 'replayall' }, 'Replay all matching', `Replay the dead letters of ${topic} that match the filters, each to the group that failed it?`, replayAll),
      confirmButton({ id: 'purge', class: 'danger' }, 'Purge the DLQ', `Delete every dead letter of ${topic}? This cannot be undone.`, purge))) : null;
  replace(root, h('h1', {}, 'Dead letters'),
    h('p', { class: 'muted' }, 'Messages a group gave up on (nacked without requeue, or out of retries) are kept in the topic\'s DLQ (', h('code', {}, '<topic>.dlq'),
      ') with why and where they came from. A replay publishes one back to its original partition for the group that failed it only.'),
    h('div', { class: 'controls' }, h('label', {}, 'Topic ', pick)), summary, controls, view, out);

  function filtered() {
    const { since, until } = window_();
    return msgs.filter(m => {
      const hd = headerMap(m), d = diedAt(m);
      return (!fGroup.value || hd[H + 'group'] === fGroup.value) && (!fReason.value || hd[H + 'reason'] === fReason.value) &&
        d >= since && (!until || d < until);
    });
  }

  // window_ is the time filter as the replay endpoint takes it: died at or
  // after since, before until (0: no bound). "To" includes its minute.
  function window_() {
    const since = fFrom.value ? Date.parse(fFrom.value) : 0, to = fTo.value ? Date.parse(fTo.value) : 0;
    return { since, until: to ? to + 60000 : 0 };
  }

  function options(sel, label, values) {
    const cur = sel.value;
    replace(sel, h('option', { value: '' }, 'any ' + label), [...values].sort().map(v => h('option', { value: v, selected: v === cur }, identText(v))));
  }

  function draw() {
    const shown = filtered();
    update(out, shown.length ? list(shown, mode, {
      hideHeader: k => k.startsWith(H),
      meta: m => {
        const hd = headerMap(m);
        return h('div', { class: 'why' }, h('strong', {}, hd[H + 'reason'] || '?'), ' in group ', h('code', {}, hd[H + 'group'] ? ident(hd[H + 'group']) : '?'),
          ` from ${hd[H + 'original-topic']}/${hd[H + 'original-partition']}@${hd[H + 'original-offset']}, delivered ${hd[H + 'delivery-count']}×, died `,
          h('time', { title: time(diedAt(m)) }, ago(diedAt(m))),
          hd['goqueue-replay-count'] ? `, replayed ${hd['goqueue-replay-count']}× before` : '',
          hd[H + 'last-error'] ? [': ', h('q', {}, hd[H + 'last-error'])] : null);
      },
      actions: m => [h('button', { class: 'view', onclick: () => show(m) }, 'View'), h('button', { class: 'replay', onclick: () => replayOne(m) }, 'Replay')],
    }) : h('p', { class: 'empty' }, msgs.length ? 'No dead letter matches the filters.' : 'The DLQ is empty: no message of ' + topic + ' has been dead-lettered.'));
  }

  function show(m) {
    replace(view, h('section', { class: 'whole' }, h('h2', {}, `Dead letter ${m.partition}/${m.offset}`),
      h('button', { class: 'link', onclick: () => replace(view) }, 'Close'),
      h('dl', { class: 'headers' }, headerEntries(m).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      h('h3', {}, 'Value'), h('pre', { class: 'value' }, render(m, mode)),
      h('h3', {}, 'As the API returns it'), h('pre', { class: 'value' }, JSON.stringify(m, null, 2))));
    view.querySelector('h2').scrollIntoView();
  }

  // replayOne replays the dead letter at its DLQ partition and offset,
  // to the group that failed it only.
  function replayOne(m) { return exclusive(() => replayNow({ partition: m.partition, offset: m.offset, end_offset: m.offset + 1 }, `${m.partition}/${m.offset}`)); }

  // replayAll replays every dead letter matching the filters, in rounds of
  // up to 1000 (the broker's default max) from where the last one stopped.
  function replayAll() {
    const f = { ...window_() };
    if (fGroup.value) f.group = fGroup.value;
    if (fReason.value) f.reason = fReason.value;
    return exclusive(() => replayNow(f, 'all'));
  }

  async function replayNow(req, what) {
    if (again.checked) req.again = true;
    const sum = { replayed: 0, skipped: 0, poison: 0, groups: new Set() };
    try {
      let off = req.offset || 0;
      for (let i = 0; i < MAX_ROUNDS; i++) {
        const r = await post('/topics/' + enc(topic) + '/dlq/replay', { ...req, offset: off });
        sum.replayed += r.replayed; sum.skipped += r.skipped; sum.poison += r.poison;
        for (const d of r.messages || []) sum.groups.add(d.group || 'every group');
        if (req.end_offset || r.next_offset <= off) break;
        off = r.next_offset;
      }
      const to = sum.groups.size ? ' to ' + [...sum.groups].sort().map(identText).join(', ') : '';
      replace(summary, what === 'all' ? `Replayed ${num(sum.replayed)} dead letters${to}.` : sum.replayed ? `Replayed ${what}${to}.` : `Replayed nothing of ${what}.`,
        sum.skipped ? ` ${num(sum.skipped)} skipped: replayed before (tick “Also those replayed before” to replay them again).` : '',
        sum.poison ? ` ${num(sum.poison)} left: replayed the most times allowed already.` : '');
      showError(null);
    } catch (e) { showError(e); }
  }

  function purge() { return exclusive(() => purgeNow()); }
  async function purgeNow() {
    try {
      await del('/topics/' + enc(topic) + '/dlq');
      msgs = []; sig = '';
      draw();
      replace(summary, 'The DLQ of ' + topic + ' was purged.');
      showError(null);
    } catch (e) { showError(e); }
  }

  async function refresh() {
    const tl = await get('/topics');
    const names = new Set(tl.topics.map(t => t.name));
    const dlqs = tl.topics.map(t => t.name).filter(n => names.has(dlqName(n))).sort();
    const dlq = dlqName(topic);
    update(pick, h('option', { value: '' }, dlqs.length ? 'choose a topic' : 'no DLQ yet'), dlqs.map(d => h('option', { value: d, selected: d === topic }, d)));
    if (!topic) {
      update(out, h('p', { class: 'empty' }, dlqs.length ? 'Choose a topic to see its dead letters.' : 'No dead letters anywhere. A DLQ appears when a group nacks a message with requeue:false or runs out of retries.'));
      return;
    }
    let t = null;
    if (dlqs.includes(topic)) { // asking for a DLQ that is not there would log a 404 in the browser
      try { t = await get('/topics/' + enc(dlq)); } catch (e) { if (e.code !== 'TOPIC_NOT_FOUND') throw e; }
    }
    if (!t) {
      msgs = []; sig = '';
      update(summary, 'No dead letters for ' + topic + '.');
      draw();
      return;
    }
    const pi = t.partition_info || [];
    const s = pi.map(p => p.earliest_offset + ':' + p.high_watermark).join(',');
    // The dead letters are read again only when the DLQ changed; the page
    // is drawn at every refresh all the same, so that "died 5 s ago" ages
    // (it said so for as long as the page stayed open). A replay's or
    // purge's outcome in the summary stays until the DLQ changes.
    const lastDied = () => ` · the last died ${ago(diedAt(msgs[0]))} (${time(diedAt(msgs[0]))})`;
    if (s === sig) {
      const el = document.getElementById('lastdied');
      if (el && msgs.length) el.textContent = lastDied();
      draw();
      return;
    }
    sig = s;
    const got = await Promise.all(pi.filter(p => p.high_watermark > p.earliest_offset).map(p => newest(dlq, p)));
    msgs = got.flat().sort((a, b) => diedAt(b) - diedAt(a) || b.offset - a.offset);
    options(fGroup, 'group', new Set(msgs.map(m => headerMap(m)[H + 'group']).filter(Boolean)));
    options(fReason, 'reason', new Set(msgs.map(m => headerMap(m)[H + 'reason']).filter(Boolean)));
    const total = pi.reduce((a, p) => a + p.high_watermark - p.earliest_offset, 0);
    update(summary, `${num(total)} dead letters in `, h('code', {}, dlq), total > msgs.length ? ` (the newest ${num(msgs.length)} shown)` : '',
      msgs.length ? h('span', { id: 'lastdied' }, lastDied()) : '');
    draw();
  }
  return { refresh, title: 'Dead letters' };
}
