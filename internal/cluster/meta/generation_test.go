package meta

import (
	"errors"
	"slices"
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
