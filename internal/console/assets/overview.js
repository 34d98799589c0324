// Overview: every topic and every group, with lag, time lag and rates.
import { get } from './api.js';
import { h, replace, update, table, link, section, stat, ident } from './dom.js';
import { num, bytes, dur, rate } from './fmt.js';
import { observe } from './rates.js';
import { dlqName } from './dlqname.js';

export async function page(root) {
  const stats = h('div', { class: 'stats' });
  const groups = h('div', { id: 'groups' });
  const whose = h('p', { id: 'whose', class: 'muted' });
  const topics = h('div', { id: 'topics' });
  replace(root, h('h1', {}, 'Overview'), stats, section('Consumer groups', whose, groups), section('Topics', topics));

  async function refresh() {
    // GET /topics holds every topic's partitions: one request however many
    // topics there are, and none for a topic deleted since the list (a
    // request per topic was hundreds every refresh, and one that met a
    // deleted topic failed the whole page with TOPIC_NOT_FOUND).
    const [tl, gl] = await Promise.all([get('/topics'), get('/groups')]);
    const names = new Set(tl.topics.map(t => t.name));
    const dlqOf = new Map(tl.topics.map(t => [dlqName(t.name), t.name]).filter(([d]) => names.has(d))); // DLQ → its topic
    const tRows = tl.topics.map(t => {
      const pi = t.partition_info || [];
      const hw = pi.reduce((a, p) => a + p.high_watermark, 0);
      return {
        name: t.name, partitions: t.partitions, dlq: dlqOf.get(t.name),
        messages: pi.reduce((a, p) => a + p.high_watermark - p.earliest_offset, 0),
        bytes: pi.reduce((a, p) => a + p.bytes, 0),
        rate: observe('produce:' + t.name, hw),
      };
    });
    const gRows = gl.groups.map(g => {
      const parts = g.partitions || [];
      const consumed = parts.reduce((a, p) => a + Math.max(p.committed_offset, 0), 0);
      return {
        id: g.group_id, state: g.state, members: g.members.length, lag: g.lag,
        timeLag: parts.reduce((a, p) => Math.max(a, p.time_lag_ms), 0),
        topics: [...new Set(parts.map(p => p.topic))],
        inFlight: parts.reduce((a, p) => a + p.in_flight, 0),
        rate: observe('consume:' + g.group_id, consumed),
        rebalances: g.rebalances.count,
      };
    });
    // A cluster node lists every node's groups it could ask: say which
    // nodes did not answer, or their groups would seem not to exist.
    const missing = gl.node_id && !gl.complete;
    update(whose, missing ? ['Node ' + gl.node_id + ' could not reach ' +
      ((gl.unreached_nodes || []).map(id => 'node ' + id).join(', ') || 'every node') + ': their groups are missing here. ',
      link('#/cluster', 'The cluster'), ' says which nodes are alive.'] : null);
    whose.hidden = !missing;
    const prodTotal = tRows.filter(t => !t.dlq).reduce((a, t) => a + (t.rate || 0), 0);
    const consTotal = gRows.reduce((a, g) => a + (g.rate || 0), 0);
    update(stats,
      stat('Topics', num(tRows.filter(t => !t.dlq).length)),
      stat('Groups', num(gRows.length)),
      stat('Total lag', num(gRows.reduce((a, g) => a + g.lag, 0)), 'messages published but not yet consumed, over all groups'),
      stat('Produce', rate(prodTotal)),
      stat('Consume', rate(consTotal)));
    update(groups, table([
      { label: 'Group', value: g => link('#/group/' + encodeURIComponent(g.id), ident(g.id)) },
      { label: 'State', value: g => h('span', { class: 'state ' + g.state }, g.state) },
      { label: 'Members', value: g => num(g.members), num: true },
      { label: 'Topics', value: g => g.topics.map((t, i) => [i ? ', ' : '', link('#/topic/' + encodeURIComponent(t), t)]) },
      { label: 'Lag', value: g => num(g.lag), num: true },
      { label: 'Time lag', value: g => g.timeLag ? dur(g.timeLag) : 'caught up', num: true },
      { label: 'In flight', value: g => num(g.inFlight), num: true },
      { label: 'Consume rate', value: g => rate(g.rate), num: true },
      { label: 'Rebalances', value: g => num(g.rebalances), num: true },
    ], gRows, 'No consumer groups yet. A group appears when its first member joins: POST /groups/{group}/join, or `goqueue consume TOPIC --group NAME`.'));
    update(topics, table([
      { label: 'Topic', value: t => link('#/topic/' + encodeURIComponent(t.name), t.name) },
      { label: 'Partitions', value: t => num(t.partitions), num: true },
      { label: 'Messages', value: t => num(t.messages), num: true },
      { label: 'Size', value: t => bytes(t.bytes), num: true },
      { label: 'Produce rate', value: t => rate(t.rate), num: true },
      { label: '', value: t => t.dlq ? link('#/dlq/' + encodeURIComponent(t.dlq), 'dead letters') : '' },
    ], tRows, 'No topics yet. Create one: POST /topics {"name":"orders","partitions":6}, or `goqueue topic create orders --partitions 6`.'));
  }
  return { refresh, title: 'Overview' };
}
