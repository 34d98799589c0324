// Reset a group's committed offsets: to the earliest, the latest, a time or
// a shift; preview first, then apply exactly the previewed offsets. The
// broker allows it on empty groups only.
import { get, post, enc } from './api.js';
import { h, replace, update, table, link } from './dom.js';
import { num } from './fmt.js';

export async function page(root, id, { showError, exclusive }) {
  let group = id ? decodeURIComponent(id) : '';
  const gSel = h('select', { id: 'rgroup', 'aria-label': 'Group', onchange: e => { location.hash = '#/reset/' + enc(e.target.value); } });
  const to = h('select', { id: 'rto', 'aria-label': 'Reset to', onchange: () => { arg.hidden = to.value === 'earliest' || to.value === 'latest'; arg.type = to.value === 'timestamp' ? 'datetime-local' : 'number'; arg.value = ''; } },
    h('option', { value: 'earliest' }, 'the earliest offset'), h('option', { value: 'latest' }, 'the latest offset (skip everything)'),
    h('option', { value: 'timestamp' }, 'a time'), h('option', { value: 'shift' }, 'a shift by N messages'));
  const arg = h('input', { id: 'rarg', 'aria-label': 'Time or shift', hidden: true, placeholder: '-100' });
  const state = h('p', { id: 'rstate' });
  const preview = h('div', { id: 'rpreview', 'aria-live': 'polite' });
  const result = h('p', { id: 'rresult', role: 'status' });
  let plan = null, groupState = '';
  const form = h('form', { class: 'controls', onsubmit: e => { e.preventDefault(); makePreview(); } },
    h('label', {}, 'Group ', gSel), h('label', {}, 'Reset to ', to), arg, h('button', { id: 'rpreviewbtn', type: 'submit' }, 'Preview'));
  replace(root, h('h1', {}, 'Reset offsets'),
    h('p', { class: 'muted' }, 'Moves where an empty group resumes. Stop its consumers first: the broker refuses while it has members.'),
    form, state, preview, result);

  async function makePreview() {
    plan = null;
    replace(result);
    if (!group) { showError(new Error('Choose a group first.')); return; }
    try {
      const g = await get('/groups/' + enc(group));
      const ps = g.partitions || [];
      if (!ps.length) { replace(preview, h('p', { class: 'empty' }, 'The group has no offsets to reset.')); return; }
      const topics = [...new Set(ps.map(p => p.topic))];
      const info = Object.fromEntries(await Promise.all(topics.map(async t => [t, await get('/topics/' + enc(t))])));
      const ts = to.value === 'timestamp' ? Date.parse(arg.value) : 0;
      const shift = to.value === 'shift' ? Number(arg.value) : 0;
      if (to.value === 'timestamp' && !(ts >= 0)) throw new Error('Give the time to reset to.');
      if (to.value === 'shift' && !Number.isInteger(shift)) throw new Error('The shift must be a whole number, e.g. -100 to consume the last 100 messages again.');
      const rows = await Promise.all(ps.map(async p => {
        const pi = (info[p.topic].partition_info || []).find(x => x.partition === p.partition) || { earliest_offset: 0, high_watermark: 0 };
        let next;
        switch (to.value) {
          case 'earliest': next = pi.earliest_offset; break;
          case 'latest': next = pi.high_watermark; break;
          case 'timestamp': {
            const r = await get(`/topics/${enc(p.topic)}/partitions/${p.partition}/messages?timestamp=${ts}&max=1&max_bytes=1`);
            next = r.messages.length ? r.messages[0].offset : r.next_offset;
            break;
          }
          default: next = (p.committed_offset < 0 ? pi.earliest_offset : p.committed_offset) + shift;
        }
        next = Math.min(Math.max(next, pi.earliest_offset), pi.high_watermark);
        return { ...p, next, hw: pi.high_watermark };
      }));
      plan = rows;
      replace(preview, h('h2', {}, 'Preview'), table([
        { label: 'Partition', value: r => `${r.topic}/${r.partition}` },
        { label: 'Committed now', value: r => r.committed_offset < 0 ? 'none' : String(r.committed_offset), num: true },
        { label: 'After the reset', value: r => h('strong', { class: 'newoff' }, String(r.next)), num: true },
        { label: 'Change', value: r => delta(r), num: true },
        { label: 'Lag after', value: r => num(r.hw - r.next), num: true },
      ], rows, ''), h('button', { id: 'rapply', onclick: apply, disabled: groupState !== 'empty' }, 'Apply this reset'),
      groupState !== 'empty' ? h('p', { class: 'bad' }, 'The group has members; stop them to apply.') : null);
      showError(null);
    } catch (e) { showError(e); }
  }

  function delta(r) {
    if (r.committed_offset < 0) return '–';
    const d = r.next - r.committed_offset;
    return d === 0 ? 'none' : (d > 0 ? 'skip ' + num(d) : 'replay ' + num(-d));
  }

  function apply() { return exclusive(applyNow); }
  async function applyNow() {
    if (!plan) return;
    const offsets = {};
    for (const r of plan) (offsets[r.topic] ||= {})[r.partition] = r.next;
    try {
      const res = await post(`/groups/${enc(group)}/offsets/reset`, { to: 'offsets', offsets });
      const n = Object.values(res.offsets || {}).reduce((a, o) => a + Object.keys(o).length, 0);
      replace(result, `Reset ${n} partitions of ${group}. `, link('#/group/' + enc(group), 'See the group.'));
      replace(preview);
      plan = null;
      showError(null);
    } catch (e) { showError(e); }
  }

  async function refresh() {
    const gl = await get('/groups');
    update(gSel, h('option', { value: '' }, gl.groups.length ? 'choose a group' : 'no groups yet'),
      gl.groups.map(g => h('option', { value: g.group_id, selected: g.group_id === group }, `${g.group_id} (${g.state})`)));
    const g = gl.groups.find(x => x.group_id === group);
    groupState = g ? g.state : '';
    const btn = document.getElementById('rapply');
    if (btn) btn.disabled = groupState !== 'empty';
    update(state, !group ? 'Choose a group.' : !g ? `There is no group ${group}.` :
      g.state === 'empty' ? `${group} is empty: its offsets can be reset.` :
        h('span', { class: 'bad' }, `${group} has ${g.members.length} member(s): stop its consumers, then reset.`));
  }
  return { refresh, title: 'Reset offsets' };
}
