package node

import (
	"slices"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// PartitionView takes whichever of this node's Raft and the metadata's
// record knows the newer term; a replica whose group has not elected
// names no leader, nor does one the record names but whose own Raft does
// not say it leads (restarted, its group not started: serving reads as
// leader would show its stale copy); a non-replica with no record names
// the preferred one. A leader on a node counted down is not named while
// too few replicas are alive to elect another (the ISR then leaves the
// down nodes out); with a majority alive the view is left alone. A lost
// partition (meta.Store.Lost) names no leader.
func TestPartitionView(t *testing.T) {
	rec := meta.Partition{Group: 7, Replicas: []uint64{2, 1, 3}, Leader: 3, LeaderEpoch: 4, ISR: []uint64{2, 3}}
	one := meta.Partition{Group: 7, Replicas: []uint64{3}, Leader: 3, LeaderEpoch: 1, ISR: []uint64{3}}
	two := meta.Partition{Group: 7, Replicas: []uint64{3, 1}, Leader: 3, LeaderEpoch: 2, ISR: []uint64{1, 3}}
	lone := meta.Partition{Group: 7, Replicas: []uint64{5}, Leader: 5, LeaderEpoch: 1, ISR: []uint64{5}}
	pair := meta.Partition{Group: 7, Replicas: []uint64{5, 1}, Leader: 5, LeaderEpoch: 2, ISR: []uint64{5, 1}}
	trio := meta.Partition{Group: 7, Replicas: []uint64{5, 1, 2}, Leader: 5, LeaderEpoch: 2, ISR: []uint64{5, 1, 2}}
	tests := []struct {
		name   string
		self   uint64
		p      meta.Partition
		local  *multiraft.Status
		led    *ledGroup
		down   []uint64 // nodes not Listed
		leader uint64
		epoch  uint64
		isr    []uint64
	}{
		{"non-replica takes the record", 4, rec, nil, nil, nil, 3, 4, []uint64{2, 3}},
		{"non-replica before any record", 4, meta.Partition{Group: 7, Replicas: []uint64{2, 1, 3}}, nil, nil, nil, 2, 0, nil},
		{"replica electing", 1, meta.Partition{Group: 7, Replicas: []uint64{2, 1, 3}}, &multiraft.Status{Term: 1}, nil, nil, 0, 0, nil},
		{"replica behind the record", 1, rec, &multiraft.Status{Leader: 2, Term: 3}, nil, nil, 3, 4, []uint64{2, 3}},
		{"replica in the recorded term", 1, rec, &multiraft.Status{Leader: 3, Term: 4}, nil, nil, 3, 4, []uint64{2, 3}},
		{"replica ahead of the record", 1, rec, &multiraft.Status{Leader: 1, Term: 5}, nil, nil, 1, 5, []uint64{1}},
		{"replica restarted, the record naming it", 3, rec, nil, nil, nil, 0, 0, nil},
		{"replica behind a record naming it", 3, rec, &multiraft.Status{Leader: 2, Term: 3}, nil, nil, 0, 0, nil},
		{"leader's own judgement", 1, rec, &multiraft.Status{Leader: 1, Term: 5, IsLeader: true}, &ledGroup{term: 5, isr: []uint64{1, 3}}, nil, 1, 5, []uint64{1, 3}},
		{"only replica down", 1, one, nil, nil, []uint64{3}, 0, 0, nil},
		{"only replica down, before any record", 1, meta.Partition{Group: 7, Replicas: []uint64{3}}, nil, nil, []uint64{3}, 0, 0, nil},
		{"only replica alive", 1, one, nil, nil, []uint64{2}, 3, 1, []uint64{3}},
		{"leader down, one of two replicas left", 2, two, nil, nil, []uint64{3}, 0, 0, []uint64{1}},
		{"replica following a leader that is down, one of two left", 1, two, &multiraft.Status{Leader: 3, Term: 2}, nil, []uint64{3}, 0, 0, []uint64{1}},
		{"leader down, a majority left to elect", 4, rec, nil, nil, []uint64{3}, 3, 4, []uint64{2, 3}},
		{"follower down, the leader alive", 4, two, nil, nil, []uint64{1}, 3, 2, []uint64{3, 1}},
		// Node 5 rejoined (a wiped disk): the partitions whose group
		// needs its forgotten replica are lost, whatever was recorded.
		{"only replica forgotten, the record naming it", 1, lone, nil, nil, nil, 0, 0, nil},
		{"only replica forgotten, on its node", 5, lone, &multiraft.Status{}, nil, nil, 0, 0, nil},
		{"one of two replicas forgotten", 1, pair, &multiraft.Status{Leader: 1, Term: 2}, nil, nil, 0, 0, nil},
		{"one of three replicas forgotten: not lost", 4, trio, nil, nil, nil, 5, 2, []uint64{5, 1, 2}},
	}
	forgot := meta.New()
	if r, _ := forgot.Apply(1, []byte(`{"rejoin":{"id":5,"boot":1}}`)).(meta.Result); r.Err != nil {
		t.Fatal(r.Err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &Node{cfg: Config{ID: tt.self, Logs: &logSink{}}, meta: forgot, leaders: map[uint64]multiraft.Status{}, isr: map[uint64]ledGroup{}}
			if tt.local != nil {
				n.leaders[7] = *tt.local
			}
			if tt.led != nil {
				n.isr[7] = *tt.led
			}
			listed := func(id uint64) bool { return !slices.Contains(tt.down, id) }
			record := slices.Clone(tt.p.ISR)
			leader, epoch, isr := n.partitionView(tt.p, listed)
			if leader != tt.leader || epoch != tt.epoch || !slices.Equal(isr, tt.isr) {
				t.Fatalf("got %d %d %v, want %d %d %v", leader, epoch, isr, tt.leader, tt.epoch, tt.isr)
			}
			if !slices.Equal(tt.p.ISR, record) {
				t.Fatalf("the view changed the record's ISR from %v to %v", record, tt.p.ISR)
			}
		})
	}
}

// A partition's replicas are offline when too few are alive for its Raft
// group to elect a leader; with a majority alive, none are.
func TestOffline(t *testing.T) {
	for _, tc := range []struct {
		replicas, down, want []uint64
	}{
		{[]uint64{3}, nil, nil},
		{[]uint64{3}, []uint64{3}, []uint64{3}},
		{[]uint64{3, 1}, []uint64{1}, []uint64{1}},
		{[]uint64{2, 1, 3}, []uint64{3}, nil},
		{[]uint64{2, 1, 3}, []uint64{3, 2}, []uint64{2, 3}},
		{[]uint64{2, 1, 3}, []uint64{4}, nil},
	} {
		listed := func(id uint64) bool { return !slices.Contains(tc.down, id) }
		if got := offline(tc.replicas, listed); !slices.Equal(got, tc.want) {
			t.Errorf("replicas %v, %v down: offline %v, want %v", tc.replicas, tc.down, got, tc.want)
		}
	}
}

// A follower is in sync while the leader heard from it within the last
// election timeout and it caught up within replicaLag. A live follower
// whose RecentActive CheckQuorum just cleared (until its next answer) stays
// in: it left the set for that moment, every timeout, on a restarted
// node's ticking groups. One not heard from for a whole timeout leaves,
// as does one that stops catching up.
func TestJudgeInSync(t *testing.T) {
	const timeout = 2 * time.Second
	t0 := time.Unix(1_800_000_000, 0)
	self, two, three := multiraft.ReplicaID(1, 0), multiraft.ReplicaID(2, 0), multiraft.ReplicaID(3, 0)
	led := func(commit, match2 uint64, active2, active3 bool) multiraft.Led {
		return multiraft.Led{Term: 5, Commit: commit, Voters: []multiraft.Follower{
			{ID: self, Match: commit, RecentActive: true},
			{ID: two, Match: match2, RecentActive: active2},
			{ID: three, Match: commit, RecentActive: active3},
		}}
	}
	f := newFollow(led(10, 10, true, true))
	for _, step := range []struct {
		at   time.Duration
		l    multiraft.Led
		want []uint64
	}{
		{0, led(10, 10, true, true), []uint64{1, 2, 3}},
		{100 * time.Millisecond, led(10, 10, false, false), []uint64{1, 2, 3}}, // cleared by CheckQuorum
		{300 * time.Millisecond, led(10, 10, true, false), []uint64{1, 2, 3}},  // 2 answered again
		{2 * time.Second, led(10, 10, true, false), []uint64{1, 2, 3}},         // 3 heard 2 s ago
		{2100 * time.Millisecond, led(10, 10, true, false), []uint64{1, 2}},    // 3 silent past a timeout
		{3 * time.Second, led(20, 10, true, true), []uint64{1, 2, 3}},          // 3 back; 2 behind since the last tick
		{12 * time.Second, led(30, 10, true, true), []uint64{1, 2, 3}},         // 2 last caught up at +3 s
		{13100 * time.Millisecond, led(30, 10, true, true), []uint64{1, 3}},    // not since, for replicaLag
	} {
		if got := f.judge(step.l, t0.Add(step.at), 1, timeout); !slices.Equal(got, step.want) {
			t.Fatalf("at +%v: ISR %v, want %v", step.at, got, step.want)
		}
	}
}
