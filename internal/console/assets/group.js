// One group: state, members, partitions, lag over time, rebalance timeline.
import { get, enc, ApiError } from './api.js';
import { nodeConsole } from './cluster.js';
import { h, replace, update, table, link, section, stat, ident, identText } from './dom.js';
import { num, dur, ago, time, parts } from './fmt.js';
import { lineChart, color } from './chart.js';

const WINDOWS = [['1 min', 60e3], ['5 min', 5 * 60e3], ['15 min', 15 * 60e3], ['1 h', 3600e3], ['6 h', 6 * 3600e3], ['24 h', 24 * 3600e3]];

export async function page(root, id, { showError, exclusive }) {
  id = decodeURIComponent(id);
  const head = h('div', { class: 'stats' });
  const members = h('div', { id: 'members' });
  const partitions = h('div', { id: 'partitions' });
  const groupChart = h('div', { id: 'lagchart', class: 'chart-box' });
  const partChart = h('div', { id: 'partchart', class: 'chart-box' });
  const timeline = h('div', { id: 'timeline' });
  const elsewhere = h('div', { id: 'elsewhere', hidden: true });
  let windowMs = 15 * 60e3;
  let only = ''; // one partition ("topic/p") or all
  const winSel = h('select', { id: 'window', 'aria-label': 'Time window', onchange: e => { windowMs = +e.target.value; redraw(); } },
    WINDOWS.map(([l, ms]) => h('option', { value: ms, selected: ms === windowMs }, 'last ' + l)));
  const partSel = h('select', { id: 'partsel', 'aria-label': 'Partition', onchange: e => { only = e.target.value; redraw(); } });
  replace(root,
    h('p', { class: 'crumbs' }, link('#/', 'Overview'), ' / group'),
    h('h1', {}, ident(id)),
    elsewhere,
    head,
    section('Lag over time', h('div', { class: 'controls' }, winSel, partSel), groupChart, partChart),
    section('Members', members),
    section('Partitions', partitions),
    section('Rebalances', timeline),
    h('p', {}, link('#/reset/' + enc(id), 'Reset this group\'s offsets…'), ' · ', link('#/dlq', 'Dead letters…')));

  // redraw refreshes at once for a changed control: in turn with the
  // polling's refreshes, its error shown as theirs are. Called bare, a
  // failure was an uncaught rejection, shown nowhere, and it could
  // interleave with a poll.
  function redraw() {
    exclusive(refresh).then(() => showError(null), showError);
  }

  async function refresh() {
    const since = Date.now() - windowMs;
    let g, lh, rb;
    try {
      [g, lh, rb] = await Promise.all([
        get('/groups/' + enc(id)),
        get(`/groups/${enc(id)}/lag-history?since=${since}&points=240`),
        get(`/groups/${enc(id)}/rebalances`),
      ]);
    } catch (e) {
      // In a cluster any node serves a group's reads by asking its
      // coordinator; one it cannot ask answers NOT_COORDINATOR, and the
      // console cannot ask another node (another origin): point there.
      if (!(e instanceof ApiError) || e.code !== 'NOT_COORDINATOR') throw e;
      const d = e.details || {};
      update(elsewhere, h('p', { class: 'empty' }, `Node ${d.coordinator} coordinates `, ident(id), ', not this node: ',
        d.coordinator_addr ? h('a', { href: nodeConsole(d.coordinator_addr, '#/group/' + enc(id)) }, `see it on node ${d.coordinator}'s console`) : 'its address is not known yet',
        '. ', link('#/cluster', 'The cluster\'s nodes.')));
      elsewhere.hidden = false;
      for (const el of [head, groupChart, partChart, members, partitions, timeline]) update(el);
      return;
    }
    elsewhere.hidden = true;
    const ps = g.partitions || [];
    update(head,
      stat('State', h('span', { class: 'state ' + g.state }, g.state)),
      stat('Generation', num(g.generation)),
      stat('Assignor', g.assignor || '–'),
      stat('Members', num(g.members.length)),
      stat('Lag', num(g.lag)),
      stat('Time lag', dur(ps.reduce((a, p) => Math.max(a, p.time_lag_ms), 0))),
      stat('Rebalances', num(g.rebalances.count), `${dur(g.rebalances.total_duration_ms)} in rebalance in all`));

    const width = Math.min(groupChart.clientWidth || 640, 1200);
    update(groupChart, lh.times.length ? [
      h('h3', {}, 'Group lag (messages)'),
      lineChart({ times: lh.times, series: [{ name: 'lag', values: lh.lag }], label: `Lag of ${identText(id)} over time`, width }),
      h('h3', {}, 'Time lag (age of the oldest unconsumed message)'),
      lineChart({ times: lh.times, series: [{ name: 'time lag', values: lh.time_lag_ms, color: '#ea580c' }], label: `Time lag of ${identText(id)} over time`, width, height: 120, format: v => dur(v) }),
    ] : h('p', { class: 'empty' }, 'No samples yet: the broker samples lag every ' + dur(lh.interval_ms) + '.'));

    const keys = lh.partitions.map(p => p.topic + '/' + p.partition);
    if (partSel.options.length !== keys.length + 1) {
      update(partSel, h('option', { value: '' }, 'every partition'), keys.map(k => h('option', { value: k, selected: k === only }, 'partition ' + k)));
    }
    const shown = lh.partitions.filter(p => !only || p.topic + '/' + p.partition === only);
    update(partChart, shown.length ? [
      h('h3', {}, 'Lag per partition'),
      lineChart({ times: lh.times, series: shown.map(p => ({ name: p.topic + '/' + p.partition, values: p.lag, color: color(keys.indexOf(p.topic + '/' + p.partition)) })), label: 'Lag per partition', width, height: 160 }),
      h('ul', { class: 'legend' }, shown.slice(0, 24).map(p => {
        const k = p.topic + '/' + p.partition;
        const sw = h('span', { class: 'swatch' });
        sw.style.background = color(keys.indexOf(k));
        return h('li', {}, sw, k);
      })),
    ] : null);

    update(members, table([
      { label: 'Member', value: m => h('code', {}, ident(m.member_id)) },
      { label: 'Client', value: m => m.client_id || '–' },
      { label: 'Host', value: m => m.client_host },
      { label: 'Instance', value: m => m.instance_id || '–' },
      { label: 'Partitions', value: m => m.idle ? 'idle (more members than partitions)' : [parts(m.assigned_partitions), m.revoking_partitions ? h('span', { class: 'muted' }, ' (releasing ' + parts(m.revoking_partitions) + ')') : null] },
      { label: 'In flight', value: m => num(m.in_flight), num: true },
      { label: 'Last heartbeat', value: m => h('span', { title: time(m.last_heartbeat) }, ago(m.last_heartbeat)), num: true },
    ], g.members, ['No members: the group is empty. Its offsets are kept; start a consumer with group id “', ident(id), '” to resume, or reset its offsets first.']));

    update(partitions, table([
      { label: 'Partition', value: p => [link('#/topic/' + enc(p.topic), p.topic), '/' + p.partition] },
      { label: 'Owner', value: p => p.owner ? h('code', {}, p.owner) : h('span', { class: 'muted' }, 'none') },
      { label: 'Committed', value: p => p.committed_offset < 0 ? 'none' : num(p.committed_offset), num: true },
      { label: 'High watermark', value: p => num(p.high_watermark), num: true },
      { label: 'Lag', value: p => num(p.lag), num: true },
      { label: 'Time lag', value: p => p.time_lag_ms ? dur(p.time_lag_ms) : '0', num: true },
      { label: 'In flight', value: p => num(p.in_flight), num: true },
      { label: 'Redelivered', value: p => num(p.redelivered), num: true },
      { label: 'Dead-lettered', value: p => p.dead_lettered ? link('#/dlq/' + enc(p.topic), num(p.dead_lettered)) : '0', num: true },
    ], ps, 'The group has no partitions: it subscribes to no existing topic.'));

    update(timeline, rb.rebalances.length ? h('ol', { class: 'timeline' }, rb.rebalances.map(r => h('li', { class: r.ended_at ? '' : 'open' },
      h('div', { class: 'when' }, h('time', { datetime: new Date(r.started_at).toISOString(), title: time(r.started_at) }, ago(r.started_at))),
      h('div', {},
        h('strong', {}, r.reason.replaceAll('_', ' ')), ` · generation ${r.generation} · `,
        r.ended_at ? 'took ' + dur(r.ended_at - r.started_at) : h('em', {}, 'in progress'),
        r.moved && r.moved.length ? h('ul', { class: 'moves' }, r.moved.map(m => h('li', {},
          `${m.topic}/${m.partition}: `, m.from ? h('code', {}, ident(m.from)) : h('span', { class: 'muted' }, 'nobody'), ' → ',
          m.to ? h('code', {}, ident(m.to)) : h('span', { class: 'muted' }, 'nobody')))) : h('div', { class: 'muted' }, 'no partition moved'))))) :
      h('p', { class: 'empty' }, 'No rebalances recorded yet. One happens when a member joins or leaves.'));
  }
  return { refresh, title: identText(id) };
}
