// Cluster: the nodes (alive or not, each with a link to its own console)
// and every partition's leader, replicas and in-sync replicas, as the
// answering node reads them with GET /cluster. A single broker says so.
import { get, ApiError } from './api.js';
import { h, replace, update, table, section, stat } from './dom.js';
import { num } from './fmt.js';

// nodeConsole is the console of the node at addr (its HTTP address, as it
// registered it), at fragment.
export function nodeConsole(addr, fragment) {
  return `${location.protocol}//${addr}/ui/${fragment}`;
}

export async function page(root) {
  const head = h('div', { class: 'stats' });
  const nodes = h('div', { id: 'nodes' });
  const parts = h('div', { id: 'leaders' });
  replace(root, h('h1', {}, 'Cluster'), head, section('Nodes', nodes), section('Partitions', parts));

  async function refresh() {
    let c;
    try {
      c = await get('/cluster');
    } catch (e) {
      if (!(e instanceof ApiError) || e.code !== 'NOT_CLUSTERED') throw e;
      update(head);
      update(nodes, h('p', { class: 'empty' }, 'This broker runs alone, not in a cluster (it was started without --node-id and --peers).'));
      update(parts);
      return;
    }
    const alive = c.nodes.filter(n => n.alive).length;
    const rows = c.topics.flatMap(t => t.partitions.map(p => ({ topic: t.name, ...p })));
    const under = rows.filter(p => !p.leader || (p.isr || []).length < p.replicas.length).length;
    update(head,
      stat('This node', String(c.node_id)),
      stat('Nodes alive', `${alive} of ${c.nodes.length}`),
      stat('Metadata leader', c.meta_leader ? 'node ' + c.meta_leader : 'none', `term ${c.meta_term}`),
      stat('Partitions', num(rows.length)),
      stat('Under-replicated', num(under), 'partitions without a leader, or with fewer replicas in sync than they have'));
    update(nodes, table([
      { label: 'Node', value: n => n.id === c.node_id ? [String(n.id), h('span', { class: 'muted' }, ' (this one)')] : String(n.id), num: true },
      { label: 'State', value: n => h('span', { class: 'state ' + (n.alive ? 'stable' : 'down') }, n.alive ? 'alive' : 'not heard from') },
      { label: 'HTTP', value: n => n.http_addr ? h('a', { href: nodeConsole(n.http_addr, '#/cluster') }, n.http_addr) : h('span', { class: 'muted' }, 'not registered') },
      { label: 'Cluster address', value: n => n.cluster_addr },
      { label: 'Starts', value: n => num(n.incarnation), num: true },
    ], c.nodes, 'No nodes.'));
    update(parts, table([
      { label: 'Partition', value: p => `${p.topic}/${p.partition}` },
      { label: 'Leader', value: p => p.leader ? 'node ' + p.leader : h('span', { class: 'bad' }, 'none') },
      { label: 'Replicas', value: p => p.replicas.join(', ') },
      { label: 'In sync', value: p => p.isr ? h('span', { class: p.isr.length < p.replicas.length ? 'bad' : null }, p.isr.join(', ')) : '–' },
      { label: 'Leader epoch', value: p => num(p.leader_epoch), num: true },
    ], rows, 'No topics yet.'));
  }
  return { refresh, title: 'Cluster' };
}
