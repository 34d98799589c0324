// Reset a group's committed offsets: to the earliest, the latest, a time, a
// duration ago or a shift. The preview is the broker's own answer to the
// request with dry_run (POST /groups/{g}/offsets/reset); apply sends the
// same request without it. The broker allows applying on empty groups only.
import { get, post, enc, ApiError } from './api.js';
import { nodeConsole } from './cluster.js';
import { h, replace, update, table, link, ident, identText } from './dom.js';
import { num } from './fmt.js';

const UNITS = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000 };

// durationMS parses "90s", "15m", "1.5h", "2d" into milliseconds (NaN if
// it is not one).
export function durationMS(s) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(s || '');
  return m ? Math.round(Number(m[1]) * UNITS[m[2]]) : NaN;
}

const ARG = {
  timestamp: { type: 'datetime-local', placeholder: '', label: 'Time' },
  duration: { type: 'text', placeholder: '15m', label: 'How long ago (e.g. 90s, 15m, 2h, 1d)' },
  shift: { type: 'number', placeholder: '-100', label: 'Shift (negative: back)' },
};

export async function page(root, id, { showError, exclusive }) {
  let group = id ? decodeURIComponent(id) : '';
  const gSel = h('select', { id: 'rgroup', 'aria-label': 'Group', onchange: e => { location.hash = '#/reset/' + enc(e.target.value); } });
  const to = h('select', { id: 'rto', 'aria-label': 'Reset to', onchange: () => {
    const a = ARG[to.value];
    arg.hidden = !a;
    if (a) Object.assign(arg, { type: a.type, placeholder: a.placeholder, title: a.label }), arg.setAttribute('aria-label', a.label);
    arg.value = '';
    stale();
  } },
    h('option', { value: 'earliest' }, 'the earliest offset'), h('option', { value: 'latest' }, 'the latest offset (skip everything)'),
    h('option', { value: 'timestamp' }, 'a time'), h('option', { value: 'duration' }, 'a duration ago'), h('option', { value: 'shift' }, 'a shift by N messages'));
  const arg = h('input', { id: 'rarg', 'aria-label': 'Time or shift', hidden: true, oninput: () => stale() });
  const state = h('p', { id: 'rstate' });
  const preview = h('div', { id: 'rpreview', 'aria-live': 'polite' });
  const result = h('p', { id: 'rresult', role: 'status' });
  let plan = null, groupState = '';
  const form = h('form', { class: 'controls', onsubmit: e => { e.preventDefault(); makePreview(); } },
    h('label', {}, 'Group ', gSel), h('label', {}, 'Reset to ', to), arg, h('button', { id: 'rpreviewbtn', type: 'submit' }, 'Preview'));
  replace(root, h('h1', {}, 'Reset offsets'),
    h('p', { class: 'muted' }, 'Moves where an empty group resumes. Stop its consumers first: the broker refuses while it has members. The preview is the broker\'s answer to the same request as a dry run.'),
    form, state, preview, result);

  // request is the reset the form describes.
  function request() {
    const req = { to: to.value };
    switch (to.value) {
      case 'timestamp':
        req.timestamp = Date.parse(arg.value);
        if (!(req.timestamp >= 0)) throw new Error('Give the time to reset to.');
        break;
      case 'duration':
        req.duration_ms = durationMS(arg.value);
        if (!(req.duration_ms > 0)) throw new Error('Give how long ago, e.g. 15m, 2h or 1d.');
        break;
      case 'shift':
        req.shift = Number(arg.value);
        if (!arg.value || !Number.isInteger(req.shift)) throw new Error('The shift must be a whole number, e.g. -100 to consume the last 100 messages again.');
        break;
    }
    return req;
  }

  // stale drops a preview the form no longer describes, so that Apply
  // cannot send a reset other than the one shown.
  function stale() { plan = null; replace(preview); }

  async function makePreview() {
    stale();
    replace(result);
    if (!group) { showError(new Error('Choose a group first.')); return; }
    try {
      const req = request();
      const res = await post(`/groups/${enc(group)}/offsets/reset`, { ...req, dry_run: true });
      // Every partition the reset touches, as the broker would move it.
      const rows = (res.changes || []).map(c => ({ topic: c.topic, partition: c.partition, from: c.from, next: c.to }));
      if (!rows.length) { replace(preview, h('p', { class: 'empty' }, 'The group has no offsets to reset.')); showError(null); return; }
      const topics = [...new Set(rows.map(r => r.topic))];
      const hw = Object.fromEntries((await Promise.all(topics.map(t => get('/topics/' + enc(t)))))
        .flatMap(t => (t.partition_info || []).map(p => [t.name + '/' + p.partition, p.high_watermark])));
      plan = { req, rows };
      replace(preview, h('h2', {}, 'Preview'), table([
        { label: 'Partition', value: r => `${r.topic}/${r.partition}` },
        { label: 'Committed now', value: r => r.from < 0 ? 'none' : String(r.from), num: true },
        { label: 'After the reset', value: r => h('strong', { class: 'newoff' }, r.next < 0 ? 'none' : String(r.next)), num: true },
        { label: 'Change', value: r => delta(r), num: true },
        { label: 'Lag after', value: r => { const w = hw[r.topic + '/' + r.partition]; return w === undefined || r.next < 0 ? '–' : num(w - r.next); }, num: true },
      ], rows, ''), h('p', { class: 'muted' }, `${num(rows.filter(r => r.from !== r.next).length)} of ${num(rows.length)} partitions move.`),
      h('button', { id: 'rapply', onclick: apply, disabled: groupState !== 'empty' }, 'Apply this reset'),
      groupState !== 'empty' ? h('p', { class: 'bad' }, 'The group has members; stop them to apply.') : null);
      showError(null);
    } catch (e) { showError(e); }
  }

  function delta(r) {
    if (r.from < 0 || r.next < 0) return r.from === r.next ? 'none' : '–';
    const d = r.next - r.from;
    return d === 0 ? 'none' : (d > 0 ? 'skip ' + num(d) : 'replay ' + num(-d));
  }

  // apply sends the previewed request for real. The broker resolves it
  // again (a duration counts from now; retention may have moved the
  // earliest offset), so what it answers is compared with the preview.
  function apply() { return exclusive(applyNow); }
  async function applyNow() {
    if (!plan) return;
    try {
      const res = await post(`/groups/${enc(group)}/offsets/reset`, plan.req);
      const was = new Map(plan.rows.map(r => [r.topic + '/' + r.partition, r.next]));
      const moved = res.changes.filter(c => was.get(c.topic + '/' + c.partition) !== c.to);
      replace(result, `Reset ${num(res.changes.length)} partitions of `, ident(group), '. ',
        moved.length ? h('span', { class: 'bad' }, `Unlike the preview: ${moved.map(c => `${c.topic}/${c.partition} to ${c.to}`).join(', ')}. `) : '',
        link('#/group/' + enc(group), 'See the group.'));
      replace(preview);
      plan = null;
      showError(null);
    } catch (e) { showError(e); }
  }

  async function refresh() {
    const gl = await get('/groups');
    update(gSel, h('option', { value: '' }, gl.groups.length ? 'choose a group' : 'no groups yet'),
      gl.groups.map(g => h('option', { value: g.group_id, selected: g.group_id === group }, `${identText(g.group_id)} (${g.state})`)));
    const g = gl.groups.find(x => x.group_id === group);
    groupState = g ? g.state : '';
    const btn = document.getElementById('rapply');
    if (btn) btn.disabled = groupState !== 'empty';
    if (group && gl.node_id) { // a cluster node lists every node's groups, but resets only its own
      const d = await coordinator();
      if (d) {
        update(state, `Node ${d.coordinator} coordinates `, ident(group), ', not this node: ',
          d.coordinator_addr ? h('a', { href: nodeConsole(d.coordinator_addr, '#/reset/' + enc(group)) }, `reset it on node ${d.coordinator}'s console`) : 'its address is not known yet', '.');
        return;
      }
    }
    update(state, !group ? 'Choose a group.' : !g ? ['There is no group ', ident(group), '.'] :
      g.state === 'empty' ? [ident(group), ' is empty: its offsets can be reset.'] :
        h('span', { class: 'bad' }, ident(group), ` has ${g.members.length} member(s): stop its consumers, then reset.`));
  }
  // coordinator is the NOT_COORDINATOR answer's details when another node
  // coordinates the group, else null. It asks with a reset's dry run: a
  // cluster node serves another node's group's reads (it asks the
  // coordinator), but not its writes, so a GET says nothing of where a
  // reset may be applied.
  async function coordinator() {
    try {
      await post(`/groups/${enc(group)}/offsets/reset`, { to: 'earliest', dry_run: true });
    } catch (e) {
      if (e instanceof ApiError && e.code === 'NOT_COORDINATOR') return e.details || {};
      if (!(e instanceof ApiError) || e.code !== 'GROUP_NOT_FOUND') throw e;
    }
    return null;
  }
  return { refresh, title: 'Reset offsets' };
}
