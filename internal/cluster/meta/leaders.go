package meta

import "slices"

// Leadership lives in the partitions' Raft groups; the metadata records it
// after the fact, so that every node (those holding no replica of a
// partition included) answers GET /cluster and Kafka Metadata with the
// same leaders and in-sync replicas. A partition's leader reports its
// term and in-sync set whenever they differ from what the metadata holds
// (internal/cluster/node/report.go); a report is taken only if it is not
// older than what is recorded:
//
//   - a higher term wins (Raft elects at most one leader per term, so the
//     reporter of the highest term is the newest leader), and
//   - within a term, only the term's leader reports, and its sequence
//     number orders its reports (a retried old report applied late is
//     ignored). A node restarted within a term cannot lead that term again
//     (it must win an election, which raises the term), so a sequence that
//     starts again at 1 after a restart never meets its past self's.

// ReportLeaders is a node's reports for partitions it leads.
type ReportLeaders struct {
	Node    uint64         `json:"node"`
	Reports []LeaderReport `json:"reports"`
}

// LeaderReport is one partition's leadership as its leader sees it.
type LeaderReport struct {
	Group uint64 `json:"group"`
	Term  uint64 `json:"term"`
	Seq   uint64 `json:"seq"`
	// ISR are the replicas in sync (see node.inSync), the leader among
	// them.
	ISR []uint64 `json:"isr"`
}

// reportLocked records the reports that are new. Reports for groups no
// topic holds (deleted) and that are no shard's, from nodes that are no
// replica, or naming an in-sync set that is not a subset of the replicas
// with the leader in it, change nothing.
func (s *Store) reportLocked(r ReportLeaders) {
	byGroup := map[uint64]*Partition{}
	for _, t := range s.d.Topics {
		for i := range t.Partitions {
			byGroup[t.Partitions[i].Group] = &t.Partitions[i]
		}
	}
	for _, rep := range r.Reports {
		p, ok := byGroup[rep.Group]
		if !ok {
			s.reportShardLocked(r.Node, rep)
			continue
		}
		switch {
		case !slices.Contains(p.Replicas, r.Node), !slices.Contains(rep.ISR, r.Node):
			continue
		case rep.Term < p.LeaderEpoch:
			continue
		case rep.Term == p.LeaderEpoch && (p.Leader != r.Node || rep.Seq <= p.ReportSeq):
			continue
		}
		isr := make([]uint64, 0, len(rep.ISR))
		for _, id := range p.Replicas { // in replica order, each once
			if slices.Contains(rep.ISR, id) {
				isr = append(isr, id)
			}
		}
		p.Leader, p.LeaderEpoch, p.ReportSeq, p.ISR = r.Node, rep.Term, rep.Seq, isr
	}
}

// Consumer-group shards are Raft groups too, numbered from PartitionGroups
// (fewer than MaxShards of them), whose voters every node derives from
// the cluster's nodes; no metadata entry places them. Their leaders
// report as partitions' do, by the same rules, so that a node that holds
// no replica of a shard (5 nodes or more) names the shard's current
// leader as its groups' coordinator: naming the preferred voter, it sent
// clients to a dead node for as long as that node was down.

// MaxShards bounds the consumer-group shards' group IDs a report may name.
const MaxShards = 1 << 10

// ShardLeader is a shard's leader as last reported.
type ShardLeader struct {
	Leader uint64 `json:"leader"`
	Term   uint64 `json:"term"`
	Seq    uint64 `json:"seq"`
}

// reportShardLocked records rep if it names a shard and is new.
func (s *Store) reportShardLocked(node uint64, rep LeaderReport) {
	if rep.Group < PartitionGroups || rep.Group-PartitionGroups >= MaxShards || !slices.Contains(rep.ISR, node) {
		return
	}
	cur := s.d.Shards[rep.Group]
	if cur != nil && (rep.Term < cur.Term || rep.Term == cur.Term && (cur.Leader != node || rep.Seq <= cur.Seq)) {
		return
	}
	if s.d.Shards == nil {
		s.d.Shards = map[uint64]*ShardLeader{}
	}
	s.d.Shards[rep.Group] = &ShardLeader{Leader: node, Term: rep.Term, Seq: rep.Seq}
}

// ShardLeader is the leader last reported for shard group g; false before
// any report.
func (s *Store) ShardLeader(g uint64) (ShardLeader, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.d.Shards[g]
	if !ok {
		return ShardLeader{}, false
	}
	return *l, true
}
