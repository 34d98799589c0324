package node

import (
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// PartitionView takes whichever of this node's Raft and the metadata's
// record knows the newer term; a replica whose group has not elected
// names no leader, nor does one the record names but whose own Raft does
// not say it leads (restarted, its group not started: serving reads as
// leader would show its stale copy); a non-replica with no record names
// the preferred one.
func TestPartitionView(t *testing.T) {
	rec := meta.Partition{Group: 7, Replicas: []uint64{2, 1, 3}, Leader: 3, LeaderEpoch: 4, ISR: []uint64{2, 3}}
	tests := []struct {
		name   string
		self   uint64
		p      meta.Partition
		local  *multiraft.Status
		led    *ledGroup
		leader uint64
		epoch  uint64
		isr    []uint64
	}{
		{"non-replica takes the record", 4, rec, nil, nil, 3, 4, []uint64{2, 3}},
		{"non-replica before any record", 4, meta.Partition{Group: 7, Replicas: []uint64{2, 1, 3}}, nil, nil, 2, 0, nil},
		{"replica electing", 1, meta.Partition{Group: 7, Replicas: []uint64{2, 1, 3}}, &multiraft.Status{Term: 1}, nil, 0, 0, nil},
		{"replica behind the record", 1, rec, &multiraft.Status{Leader: 2, Term: 3}, nil, 3, 4, []uint64{2, 3}},
		{"replica in the recorded term", 1, rec, &multiraft.Status{Leader: 3, Term: 4}, nil, 3, 4, []uint64{2, 3}},
		{"replica ahead of the record", 1, rec, &multiraft.Status{Leader: 1, Term: 5}, nil, 1, 5, []uint64{1}},
		{"replica restarted, the record naming it", 3, rec, nil, nil, 0, 0, nil},
		{"replica behind a record naming it", 3, rec, &multiraft.Status{Leader: 2, Term: 3}, nil, 0, 0, nil},
		{"leader's own judgement", 1, rec, &multiraft.Status{Leader: 1, Term: 5, IsLeader: true}, &ledGroup{term: 5, isr: []uint64{1, 3}}, 1, 5, []uint64{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &Node{cfg: Config{ID: tt.self, Logs: &logSink{}}, leaders: map[uint64]multiraft.Status{}, isr: map[uint64]ledGroup{}}
			if tt.local != nil {
				n.leaders[7] = *tt.local
			}
			if tt.led != nil {
				n.isr[7] = *tt.led
			}
			leader, epoch, isr := n.PartitionView(tt.p)
			if leader != tt.leader || epoch != tt.epoch || !slices.Equal(isr, tt.isr) {
				t.Fatalf("got %d %d %v, want %d %d %v", leader, epoch, isr, tt.leader, tt.epoch, tt.isr)
			}
		})
	}
}
