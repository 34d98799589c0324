package meta

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

func apply(t *testing.T, s *Store, index uint64, c Command) Result {
	t.Helper()
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s.Apply(index, b).(Result)
}

func register(t *testing.T, s *Store, ids ...uint64) {
	t.Helper()
	for _, id := range ids {
		if r := apply(t, s, s.Applied()+1, Command{RegisterNode: &RegisterNode{ID: id, Addr: fmt.Sprintf("127.0.0.1:%d", 9000+id)}}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

func TestCommands(t *testing.T) {
	id := func(b byte) TopicID { return TopicID{b} }
	tests := []struct {
		name    string
		nodes   []uint64
		cmds    []Command
		wantErr error // of the last command
	}{
		{"create", []uint64{1, 2, 3}, []Command{{CreateTopic: &CreateTopic{Name: "orders", ID: id(1), Partitions: 3, ReplicationFactor: 3}}}, nil},
		{"create twice", []uint64{1, 2, 3}, []Command{
			{CreateTopic: &CreateTopic{Name: "orders", ID: id(1), Partitions: 3, ReplicationFactor: 1}},
			{CreateTopic: &CreateTopic{Name: "orders", ID: id(2), Partitions: 3, ReplicationFactor: 1}},
		}, ErrTopicExists},
		{"topic ID reused", []uint64{1}, []Command{
			{CreateTopic: &CreateTopic{Name: "a", ID: id(1), Partitions: 1, ReplicationFactor: 1}},
			{CreateTopic: &CreateTopic{Name: "b", ID: id(1), Partitions: 1, ReplicationFactor: 1}},
		}, ErrTopicIDInUse},
		{"factor above nodes", []uint64{1, 2}, []Command{{CreateTopic: &CreateTopic{Name: "a", ID: id(1), Partitions: 1, ReplicationFactor: 3}}}, ErrTooFewNodes},
		{"zero partitions", []uint64{1}, []Command{{CreateTopic: &CreateTopic{Name: "a", ID: id(1), Partitions: 0, ReplicationFactor: 1}}}, ErrInvalid},
		{"zero ID", []uint64{1}, []Command{{CreateTopic: &CreateTopic{Name: "a", Partitions: 1, ReplicationFactor: 1}}}, ErrInvalid},
		{"delete unknown", nil, []Command{{DeleteTopic: &DeleteTopic{Name: "a"}}}, ErrUnknownTopic},
		{"shrink", []uint64{1}, []Command{
			{CreateTopic: &CreateTopic{Name: "a", ID: id(1), Partitions: 3, ReplicationFactor: 1}},
			{AddPartitions: &AddPartitions{Name: "a", Count: 2}},
		}, ErrPartitionCount},
		{"grow", []uint64{1}, []Command{
			{CreateTopic: &CreateTopic{Name: "a", ID: id(1), Partitions: 3, ReplicationFactor: 1}},
			{AddPartitions: &AddPartitions{Name: "a", Count: 5}},
		}, nil},
		{"empty", nil, []Command{{}}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			register(t, s, tt.nodes...)
			var r Result
			for _, c := range tt.cmds {
				r = apply(t, s, s.Applied()+1, c)
			}
			if !errors.Is(r.Err, tt.wantErr) || (tt.wantErr == nil && r.Err != nil) {
				t.Fatalf("err %v, want %v", r.Err, tt.wantErr)
			}
		})
	}
}

func TestRegisterBumpsIncarnation(t *testing.T) {
	s := New()
	register(t, s, 1, 1, 2)
	ns := s.Nodes()
	if len(ns) != 2 || ns[0].Incarnation != 2 || ns[1].Incarnation != 1 {
		t.Fatalf("nodes %+v", ns)
	}
}

// TestPlacementSpreads creates many topics on 3 and 5 nodes: preferred
// leaders differ by at most one between nodes, every partition's replicas
// are distinct nodes, and group IDs are unique and never zero (the
// metadata's own group).
func TestPlacementSpreads(t *testing.T) {
	for _, nodes := range []int{3, 5} {
		for rf := 1; rf <= nodes; rf++ {
			s := New()
			for i := 1; i <= nodes; i++ {
				register(t, s, uint64(i))
			}
			for i := range 7 {
				r := apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: fmt.Sprintf("t%d", i), ID: TopicID{byte(i + 1)}, Partitions: 1 + i*3%7, ReplicationFactor: rf}})
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			}
			leaders := map[uint64]int{}
			groups := map[uint64]bool{}
			for _, tp := range s.Topics() {
				for _, p := range tp.Partitions {
					if p.Group == GroupID || groups[p.Group] {
						t.Fatalf("group %d reused or zero", p.Group)
					}
					groups[p.Group] = true
					seen := map[uint64]bool{}
					for _, r := range p.Replicas {
						if seen[r] {
							t.Fatalf("%s/%d: replicas %v repeat a node", tp.Name, p.Index, p.Replicas)
						}
						seen[r] = true
					}
					leaders[p.Replicas[0]]++
				}
			}
			lo, hi := 1<<30, 0
			for i := 1; i <= nodes; i++ {
				lo, hi = min(lo, leaders[uint64(i)]), max(hi, leaders[uint64(i)])
			}
			if hi-lo > 1 {
				t.Fatalf("%d nodes, factor %d: leaders per node %v", nodes, rf, leaders)
			}
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := New()
	register(t, s, 1, 2, 3)
	apply(t, s, 4, Command{CreateTopic: &CreateTopic{Name: "orders", ID: TopicID{9}, Partitions: 4, ReplicationFactor: 3}})
	b, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	s2 := New()
	if err := s2.Restore(b); err != nil {
		t.Fatal(err)
	}
	b2, _ := s2.Snapshot()
	if string(b) != string(b2) {
		t.Fatalf("restored state differs:\n%s\n%s", b, b2)
	}
	// The restored store goes on deciding the same: the next group ID too.
	r1 := apply(t, s, 5, Command{CreateTopic: &CreateTopic{Name: "x", ID: TopicID{8}, Partitions: 1, ReplicationFactor: 1}})
	r2 := apply(t, s2, 5, Command{CreateTopic: &CreateTopic{Name: "x", ID: TopicID{8}, Partitions: 1, ReplicationFactor: 1}})
	if fmt.Sprint(r1.Topic) != fmt.Sprint(r2.Topic) {
		t.Fatalf("after restore: %v vs %v", r1.Topic, r2.Topic)
	}
}

// A snapshot that does not decode, or decodes to a state no commands make
// (which Apply or the readers panicked on), is refused and leaves the
// state as it was; JSON stopped half-way used to leave half a state.
func TestRestoreRefusesBadSnapshots(t *testing.T) {
	for _, bad := range []string{
		`{"nodes":{"1":{"id":1}},"next_slot":"x"}`,
		`{"nodes":null,"topics":{}}`,
		`{"nodes":{"1":null},"topics":{}}`,
		`{"nodes":{},"topics":{"a":null}}`,
		`{"nodes":{},"topics":{"a":{"name":"a","replication_factor":-1}}}`,
		`{"nodes":{},"topics":{},"gens":{"1":null}}`,
		`{"nodes":{},"topics":{},"next_slot":-1}`,
		// Counters that would hand out an ID in use: the metadata's
		// group, a group twice, a negative producer ID.
		`{"nodes":{},"topics":{},"next_group":0}`,
		`{"nodes":{},"topics":{"a":{"name":"a","replication_factor":1,"partitions":[{"index":0,"group":0}]}}}`,
		`{"nodes":{},"topics":{"a":{"name":"a","replication_factor":1,"partitions":[{"index":0,"group":5}]}},"next_group":5}`,
		`{"nodes":{},"topics":{"a":{"name":"a","replication_factor":1,"partitions":[{"index":0,"group":1}]},` +
			`"b":{"name":"b","replication_factor":1,"partitions":[{"index":0,"group":1}]}},"next_group":2}`,
		`{"nodes":{},"topics":{},"next_producer_id":-1}`,
		// Past the partitions' group IDs: the consumer-group shards' from
		// there on.
		`{"nodes":{},"topics":{},"next_group":281474976710657}`,
	} {
		s := New()
		register(t, s, 1, 2)
		before, _ := s.Snapshot()
		if err := s.Restore([]byte(bad)); err == nil {
			t.Errorf("%s restored", bad)
		}
		if after, _ := s.Snapshot(); string(after) != string(before) {
			t.Errorf("%s: state after the refusal %s, want %s", bad, after, before)
		}
	}
}

// A registration applied twice with the same Boot (a retried proposal) is
// one registration; a new Boot is a restart.
func TestRegisterIsIdempotentPerBoot(t *testing.T) {
	s := New()
	reg := func(boot uint64, http string) Node {
		r := apply(t, s, s.Applied()+1, Command{RegisterNode: &RegisterNode{ID: 1, Addr: "a:1", HTTPAddr: http, KafkaAddr: "k" + http, Boot: boot}})
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		return *r.Node
	}
	reg(7, "h:1")
	if n := reg(7, "h:1"); n.Incarnation != 1 {
		t.Fatalf("retry bumped the incarnation: %+v", n)
	}
	if n := reg(8, "h:2"); n.Incarnation != 2 || n.HTTPAddr != "h:2" || n.KafkaAddr != "kh:2" || n.Boot != 8 {
		t.Fatalf("restart: %+v", n)
	}
}

// A command that would take a counter past its largest value is refused
// with ErrExhausted, changing nothing: wrapped, it handed out group 0
// (the metadata's) and then groups in use, negative producer IDs, an
// incarnation or generation of 0 (a node's first, or never rejoined).
// The placement slot, which only rotates, starts again at 0 instead (it
// went negative, and placement panicked on every replica). Each case
// restores the fixture with one counter near its end, as a damaged or
// forged snapshot may hold it, and applies one command.
func TestCountersDoNotWrap(t *testing.T) {
	const maxU, maxI = "18446744073709551615", "9223372036854775807"
	for _, tc := range []struct {
		name     string
		from, to string // in the fixture's snapshot
		cmd      Command
		wantErr  error
		check    func(*Store, Result) string // for a command taken
	}{
		// Partition group IDs end below PartitionGroups (1<<48), where
		// the consumer-group shards' start.
		{name: "group IDs", from: `"next_group":4`, to: `"next_group":281474976710655`,
			cmd: Command{CreateTopic: &CreateTopic{Name: "events", ID: TopicID{7}, Partitions: 2, ReplicationFactor: 1}}, wantErr: ErrExhausted},
		{name: "group IDs at the end", from: `"next_group":4`, to: `"next_group":281474976710656`,
			cmd: Command{AddPartitions: &AddPartitions{Name: "orders", Count: 4}}, wantErr: ErrExhausted},
		{name: "the last group IDs", from: `"next_group":4`, to: `"next_group":281474976710654`,
			cmd: Command{AddPartitions: &AddPartitions{Name: "orders", Count: 5}},
			check: func(s *Store, r Result) string {
				if g := r.Topic.Partitions[4].Group; g != PartitionGroups-1 || s.d.NextGroup != PartitionGroups {
					return fmt.Sprintf("last group %d, next %d", g, s.d.NextGroup)
				}
				return ""
			}},
		{name: "producer IDs", from: `"next_producer_id":10`, to: `"next_producer_id":9223372036854775800`,
			cmd: Command{ReserveProducerIDs: &ReserveProducerIDs{Node: 1, Count: 10}}, wantErr: ErrExhausted},
		{name: "the last producer IDs", from: `"next_producer_id":10`, to: `"next_producer_id":9223372036854775797`,
			cmd: Command{ReserveProducerIDs: &ReserveProducerIDs{Node: 1, Count: 10}},
			check: func(s *Store, r Result) string {
				if b := *r.ProducerIDs; b.First != math.MaxInt64-10 || s.d.NextProducerID != math.MaxInt64 {
					return fmt.Sprintf("reserved %+v, next %d", b, s.d.NextProducerID)
				}
				return ""
			}},
		{name: "incarnation", from: `"boot":11,"incarnation":1`, to: `"boot":11,"incarnation":` + maxU,
			cmd: Command{RegisterNode: &RegisterNode{ID: 1, Addr: "127.0.0.1:9001", Boot: 12}}, wantErr: ErrExhausted},
		{name: "generation", from: `"gen":1,"boot":23`, to: `"gen":` + maxU + `,"boot":23`,
			cmd: Command{Rejoin: &Rejoin{ID: 2, Boot: 24}}, wantErr: ErrExhausted},
		{name: "placement slot", from: `"next_slot":3`, to: `"next_slot":` + maxI,
			cmd: Command{CreateTopic: &CreateTopic{Name: "events", ID: TopicID{7}, Partitions: 3, ReplicationFactor: 2}},
			check: func(s *Store, r Result) string {
				if s.d.NextSlot != 2 { // the first from slot MaxInt64, then 0 and 1
					return fmt.Sprintf("next slot %d", s.d.NextSlot)
				}
				return ""
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testkit.Snap(t, fixture(t))
			forged := bytes.Replace(b, []byte(tc.from), []byte(tc.to), 1)
			if bytes.Equal(forged, b) {
				t.Fatalf("%s is not in the fixture's snapshot %s", tc.from, b)
			}
			s := testkit.Restored(t, New, forged)
			before := testkit.Snap(t, s)
			r := apply(t, s, s.Applied()+1, tc.cmd)
			if !errors.Is(r.Err, tc.wantErr) || (tc.wantErr == nil && r.Err != nil) {
				t.Fatalf("answered %+v, want %v", r, tc.wantErr)
			}
			if tc.wantErr != nil {
				unchanged := testkit.Restored(t, New, before)
				unchanged.d.Applied = s.Applied()
				if got, want := testkit.Snap(t, s), testkit.Snap(t, unchanged); !bytes.Equal(got, want) {
					t.Fatalf("refused command changed the state:\n%s\nwant\n%s", got, want)
				}
				return
			}
			if msg := tc.check(s, r); msg != "" {
				t.Fatal(msg)
			}
		})
	}
}
