// One topic: partitions, the groups consuming it, a message browser.
import { get, enc } from './api.js';
import { h, replace, update, table, link, section, ident } from './dom.js';
import { num, bytes, dur } from './fmt.js';
import { list, modeSelect } from './messages.js';

export async function page(root, name, { showError }) {
  name = decodeURIComponent(name);
  const parts = h('div', { id: 'tparts' });
  const groups = h('div', { id: 'tgroups' });
  const out = h('div', { id: 'browser-out', 'aria-live': 'polite' });
  let mode = 'text', last = null;
  const pSel = h('select', { id: 'bpart', 'aria-label': 'Partition' });
  const how = h('select', { id: 'bhow', 'aria-label': 'Start from' },
    h('option', { value: 'offset' }, 'offset'), h('option', { value: 'timestamp' }, 'time'));
  const at = h('input', { id: 'bat', 'aria-label': 'Offset or time', placeholder: 'earliest, latest, 42, or 2026-12-02 10:00', value: 'earliest' });
  const max = h('input', { id: 'bmax', type: 'number', min: 1, max: 1000, value: 20, 'aria-label': 'How many' });
  const form = h('form', { class: 'controls', onsubmit: e => { e.preventDefault(); browse(); } },
    h('label', {}, 'Partition ', pSel), h('label', {}, 'From ', how), at, h('label', {}, 'Max ', max),
    h('button', { type: 'submit', id: 'browse' }, 'Show messages'),
    h('label', {}, 'Values as ', modeSelect(v => { mode = v; if (last) show(last); })));
  replace(root,
    h('p', { class: 'crumbs' }, link('#/', 'Overview'), ' / topic'),
    h('h1', {}, name),
    section('Partitions', parts),
    section('Groups consuming it', groups),
    section('Messages', form, out));

  function show(r) {
    last = r;
    replace(out, r.messages.length ? [
      list(r.messages, mode),
      h('p', {}, `next offset ${r.next_offset} of ${r.high_watermark}. `,
        r.next_offset < r.high_watermark ? h('button', { class: 'link', id: 'bnext', onclick: () => { how.value = 'offset'; at.value = r.next_offset; browse(); } }, 'Next page') : 'That is the end of the partition.'),
    ] : h('p', { class: 'empty' }, `No messages there (the partition holds offsets ${r.earliest_offset} to ${r.high_watermark - 1}). Publish with POST /topics/${name}/messages, or pick an earlier offset.`));
  }

  async function browse() {
    let q;
    if (how.value === 'timestamp') {
      const t = /^\d+$/.test(at.value) ? Number(at.value) : Date.parse(at.value.replace(' ', 'T'));
      if (!(t >= 0)) { showError(new Error('The time must be like 2026-12-02 10:00 or milliseconds since the epoch.')); return; }
      q = 'timestamp=' + t;
    } else {
      q = 'offset=' + enc(at.value.trim() || 'earliest');
    }
    try {
      show(await get(`/topics/${enc(name)}/partitions/${pSel.value}/messages?${q}&max=${Math.max(1, Math.min(1000, +max.value || 20))}`));
      showError(null);
    } catch (e) { showError(e); }
  }

  // refresh runs from the shell's polling, which shows its errors and
  // tries again: run once by page() before, a topic missing at first (not
  // created yet, the broker restarting) failed the page for good. The
  // first refresh to succeed shows the first messages.
  let browsed = false;
  async function refresh() {
    const [t, gl] = await Promise.all([get('/topics/' + enc(name)), get('/groups')]);
    const pi = t.partition_info || [];
    if (pSel.options.length !== pi.length) update(pSel, pi.map(p => h('option', { value: p.partition }, String(p.partition))));
    update(parts, table([
      { label: 'Partition', value: p => String(p.partition), num: true },
      { label: 'Earliest', value: p => num(p.earliest_offset), num: true },
      { label: 'High watermark', value: p => num(p.high_watermark), num: true },
      { label: 'Messages', value: p => num(p.high_watermark - p.earliest_offset), num: true },
      { label: 'Size', value: p => bytes(p.bytes), num: true },
      { label: 'Segments', value: p => num(p.segments), num: true },
      ...(pi.some(p => p.replicas) ? [ // a cluster's placement
        { label: 'Leader', value: p => p.leader ? 'node ' + p.leader : h('span', { class: 'bad' }, 'none') },
        { label: 'Replicas', value: p => (p.replicas || []).join(', ') },
        { label: 'In sync', value: p => p.isr ? h('span', { class: p.isr.length < (p.replicas || []).length ? 'bad' : null }, p.isr.join(', ')) : '–' },
      ] : []),
    ], pi, 'No partitions.', `${t.partitions} partitions · retention ${t.retention_hours < 0 ? 'forever' : t.retention_hours + ' h'} · fsync ${t.fsync}`));
    const rows = gl.groups.map(g => {
      const mine = (g.partitions || []).filter(p => p.topic === name);
      return { id: g.group_id, state: g.state, n: mine.length, lag: mine.reduce((a, p) => a + p.lag, 0), tl: mine.reduce((a, p) => Math.max(a, p.time_lag_ms), 0) };
    }).filter(r => r.n);
    update(groups, table([
      { label: 'Group', value: r => link('#/group/' + enc(r.id), ident(r.id)) },
      { label: 'State', value: r => h('span', { class: 'state ' + r.state }, r.state) },
      { label: 'Lag', value: r => num(r.lag), num: true },
      { label: 'Time lag', value: r => r.tl ? dur(r.tl) : 'caught up', num: true },
    ], rows, 'No group consumes this topic. Start a consumer: `goqueue consume ' + name + ' --group NAME`.'));
    if (!browsed) { browsed = true; browse(); }
  }
  return { refresh, title: name };
}
