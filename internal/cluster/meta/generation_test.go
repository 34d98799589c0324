package meta

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A rejoin gives a new generation per process start (a retry with the
// same Boot changes nothing), survives a snapshot, and partitions placed
// afterwards record the generations their groups start with; those placed
// before keep none (generation 0).
func TestRejoinGenerations(t *testing.T) {
	s := New()
	register(t, s, 1, 2, 3)
	before := apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "old", ID: TopicID{1}, Partitions: 3, ReplicationFactor: 3}})
	if before.Err != nil || before.Topic.Partitions[0].Gens != nil {
		t.Fatalf("placement before any rejoin: %+v", before)
	}
	if g := s.Generation(3); g.Gen != 0 {
		t.Fatalf("generation of a node that never rejoined: %+v", g)
	}
	for _, step := range []struct {
		boot, want uint64
	}{{7, 1}, {7, 1}, {8, 2}, {8, 2}, {7, 3}} {
		if r := apply(t, s, s.Applied()+1, Command{Rejoin: &Rejoin{ID: 3, Boot: step.boot}}); r.Err != nil {
			t.Fatal(r.Err)
		}
		if g := s.Generation(3); g.Gen != step.want || g.Boot != step.boot {
			t.Fatalf("after a rejoin with boot %d: %+v, want generation %d", step.boot, g, step.want)
		}
	}
	if r := apply(t, s, s.Applied()+1, Command{Rejoin: &Rejoin{ID: 3}}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("rejoin without a boot nonce: %v", r.Err)
	}
	after := apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "new", ID: TopicID{2}, Partitions: 3, ReplicationFactor: 3}})
	for _, p := range after.Topic.Partitions {
		i := slices.Index(p.Replicas, 3)
		if len(p.Gens) != 3 || p.Gens[i] != 3 {
			t.Fatalf("partition %d placed after the rejoins: replicas %v gens %v", p.Index, p.Replicas, p.Gens)
		}
	}
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if g := r.Generation(3); g.Gen != 3 {
		t.Fatalf("generation after a snapshot: %+v", g)
	}
	if tp, _ := r.Topic("new"); !slices.Equal(tp.Partitions[1].Gens, after.Topic.Partitions[1].Gens) {
		t.Fatalf("partition generations after a snapshot: %v", tp.Partitions[1].Gens)
	}
}

// The lost-partition rule: a group of one or two replicas is lost as soon
// as one of its voters is forgotten (its node at a newer generation than
// placement gave the replica); a group of three or more never is by this
// rule, whatever the generations, since its leaders replace forgotten
// voters while a majority lives (meta cannot tell which voters it has).
func TestLostReplicas(t *testing.T) {
	for _, c := range []struct {
		name     string
		replicas []uint64
		gens     []uint64          // placement's (nil: all 0)
		now      map[uint64]uint64 // current generations (absent: 0)
		want     []uint64
	}{
		{"one replica, never rejoined", []uint64{2}, nil, nil, nil},
		{"one replica, its node rejoined", []uint64{2}, nil, map[uint64]uint64{2: 1}, []uint64{2}},
		{"one replica, another node rejoined", []uint64{2}, nil, map[uint64]uint64{1: 1, 3: 4}, nil},
		{"one replica placed after its node rejoined", []uint64{2}, []uint64{3}, map[uint64]uint64{2: 3}, nil},
		{"one replica placed after a rejoin, rejoined again", []uint64{2}, []uint64{3}, map[uint64]uint64{2: 4}, []uint64{2}},
		{"two replicas, both current", []uint64{1, 3}, []uint64{0, 2}, map[uint64]uint64{3: 2}, nil},
		{"two replicas, one rejoined: no quorum ever", []uint64{1, 3}, nil, map[uint64]uint64{3: 1}, []uint64{3}},
		{"two replicas, both rejoined", []uint64{3, 1}, nil, map[uint64]uint64{1: 1, 3: 1}, []uint64{3, 1}},
		{"three replicas, one rejoined", []uint64{1, 2, 3}, nil, map[uint64]uint64{1: 1}, nil},
		{"three replicas, all rejoined (perhaps one by one, each replaced)", []uint64{1, 2, 3}, nil, map[uint64]uint64{1: 1, 2: 1, 3: 1}, nil},
		{"five replicas, all rejoined", []uint64{1, 2, 3, 4, 5}, []uint64{1, 1, 1, 1, 1}, map[uint64]uint64{1: 2, 2: 2, 3: 2, 4: 2, 5: 2}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := Partition{Replicas: c.replicas, Gens: c.gens}
			got := lostReplicas(p, func(id uint64) uint64 { return c.now[id] })
			if !slices.Equal(got, c.want) {
				t.Fatalf("lostReplicas(%v at %v, now %v) = %v, want %v", c.replicas, c.gens, c.now, got, c.want)
			}
		})
	}
}

// Through the store: after node 3 rejoins, the partitions of factor 1 and
// 2 that have a replica on it are lost, the others (and every partition of
// factor 3) are not; a topic created again afterwards places node 3 at its
// new generation and is not lost; a snapshot keeps the verdicts.
func TestLostAfterARejoin(t *testing.T) {
	s := New()
	register(t, s, 1, 2, 3)
	for i, rf := range []int{1, 2, 3} {
		name := fmt.Sprintf("rf%d", rf)
		if r := apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: name, ID: TopicID{byte(i + 1)}, Partitions: 3, ReplicationFactor: rf}}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	lost := func(s *Store) map[string][]uint64 {
		out := map[string][]uint64{}
		for _, tp := range s.Topics() {
			for _, p := range tp.Partitions {
				if l := s.Lost(p); l != nil {
					out[fmt.Sprintf("%s/%d", tp.Name, p.Index)] = l
				}
			}
		}
		return out
	}
	if got := lost(s); len(got) != 0 {
		t.Fatalf("lost before any rejoin: %v", got)
	}
	if r := apply(t, s, s.Applied()+1, Command{Rejoin: &Rejoin{ID: 3, Boot: 9}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	want := map[string][]uint64{}
	for _, tp := range s.Topics() {
		for _, p := range tp.Partitions {
			if len(p.Replicas) <= 2 && slices.Contains(p.Replicas, 3) {
				want[fmt.Sprintf("%s/%d", tp.Name, p.Index)] = []uint64{3}
			}
		}
	}
	if got := lost(s); len(want) < 2 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lost after node 3 rejoined: %v, want %v", got, want)
	}
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if got := lost(r); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lost after a snapshot: %v, want %v", got, want)
	}
	if res := apply(t, s, s.Applied()+1, Command{DeleteTopic: &DeleteTopic{Name: "rf1"}}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "rf1", ID: TopicID{9}, Partitions: 3, ReplicationFactor: 1}}); res.Err != nil {
		t.Fatal(res.Err)
	}
	for k := range lost(s) {
		if strings.HasPrefix(k, "rf1/") {
			t.Fatalf("%s lost after the topic was created again", k)
		}
	}
}
