package meta

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// A topic deleted and created again under its name has a new ID and Raft
// groups never used before; a deletion naming the old ID (a retry) does
// not delete the new topic.
func TestDeleteThenRecreate(t *testing.T) {
	s := New()
	register(t, s, 1, 2, 3)
	old := apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "orders", ID: TopicID{1}, Partitions: 3, ReplicationFactor: 3}})
	if r := apply(t, s, s.Applied()+1, Command{DeleteTopic: &DeleteTopic{Name: "orders", ID: TopicID{1}}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if _, ok := s.Topic("orders"); ok {
		t.Fatal("deleted topic still there")
	}
	again := apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "orders", ID: TopicID{2}, Partitions: 3, ReplicationFactor: 3}})
	if again.Err != nil {
		t.Fatal(again.Err)
	}
	for _, p := range again.Topic.Partitions {
		for _, q := range old.Topic.Partitions {
			if p.Group == q.Group {
				t.Fatalf("group %d reused", p.Group)
			}
		}
	}
	r := apply(t, s, s.Applied()+1, Command{DeleteTopic: &DeleteTopic{Name: "orders", ID: TopicID{1}}})
	if !errors.Is(r.Err, ErrUnknownTopic) {
		t.Fatalf("stale deletion: %v", r.Err)
	}
	if tp, ok := s.Topic("orders"); !ok || tp.ID != (TopicID{2}) {
		t.Fatalf("recreated topic: %+v %v", tp, ok)
	}
}

// AlterTopic merges its keys into the settings, the same bytes whatever
// the key order; it refuses a non-object and an unknown topic.
func TestAlterMergesSettings(t *testing.T) {
	s := New()
	register(t, s, 1)
	apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "a", ID: TopicID{1}, Partitions: 1, ReplicationFactor: 1,
		Settings: json.RawMessage(`{"retention_hours":24,"fsync":"always"}`)}})
	r := apply(t, s, s.Applied()+1, Command{AlterTopic: &AlterTopic{Name: "a", Settings: json.RawMessage(`{"retention_hours":1,"max_message_bytes":100}`)}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if got, want := string(r.Topic.Settings), `{"fsync":"always","max_message_bytes":100,"retention_hours":1}`; got != want {
		t.Fatalf("settings %s, want %s", got, want)
	}
	for _, bad := range []Command{
		{AlterTopic: &AlterTopic{Name: "a", Settings: json.RawMessage(`[1]`)}},
		{AlterTopic: &AlterTopic{Name: "a", Settings: json.RawMessage(`null`)}},
	} {
		if r := apply(t, s, s.Applied()+1, bad); !errors.Is(r.Err, ErrInvalid) {
			t.Fatalf("%s: %v", bad.AlterTopic.Settings, r.Err)
		}
	}
	if r := apply(t, s, s.Applied()+1, Command{AlterTopic: &AlterTopic{Name: "a", ID: TopicID{9}, Settings: json.RawMessage(`{}`)}}); !errors.Is(r.Err, ErrUnknownTopic) {
		t.Fatalf("wrong ID: %v", r.Err)
	}
	// CreateTopic takes settings as they come, null too; altering them
	// then starts from none (it panicked, on every replica).
	apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "n", ID: TopicID{2}, Partitions: 1, ReplicationFactor: 1, Settings: json.RawMessage(`null`)}})
	r = apply(t, s, s.Applied()+1, Command{AlterTopic: &AlterTopic{Name: "n", Settings: json.RawMessage(`{"fsync":"never"}`)}})
	if r.Err != nil || string(r.Topic.Settings) != `{"fsync":"never"}` {
		t.Fatalf("alter settings created null: %+v", r)
	}
}

// Added partitions get new groups and are placed as at creation.
func TestAddPartitionsPlacesNewGroups(t *testing.T) {
	s := New()
	register(t, s, 1, 2, 3)
	c := apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "a", ID: TopicID{1}, Partitions: 2, ReplicationFactor: 2}})
	r := apply(t, s, s.Applied()+1, Command{AddPartitions: &AddPartitions{Name: "a", ID: TopicID{1}, Count: 4}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	ps := r.Topic.Partitions
	if len(ps) != 4 || !slices.Equal(ps[0].Replicas, c.Topic.Partitions[0].Replicas) || ps[2].Group <= ps[1].Group || ps[3].Group <= ps[2].Group {
		t.Fatalf("partitions %+v", ps)
	}
	for _, p := range ps[2:] {
		if len(p.Replicas) != 2 || p.Replicas[0] == p.Replicas[1] {
			t.Fatalf("replicas %+v", p)
		}
	}
}

// Leader reports are taken when newer: a higher term, or the same
// term's leader with a higher sequence; older, foreign and malformed
// reports change nothing.
func TestReportLeaders(t *testing.T) {
	s := New()
	register(t, s, 1, 2, 3)
	r := apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "a", ID: TopicID{1}, Partitions: 1, ReplicationFactor: 2}})
	p := r.Topic.Partitions[0] // two of the three nodes
	notReplica := uint64(6) - p.Replicas[0] - p.Replicas[1]
	report := func(node, term, seq uint64, isr ...uint64) {
		t.Helper()
		apply(t, s, s.Applied()+1, Command{ReportLeaders: &ReportLeaders{Node: node, Reports: []LeaderReport{{Group: p.Group, Term: term, Seq: seq, ISR: isr}}}})
	}
	state := func() Partition { tp, _ := s.Topic("a"); return tp.Partitions[0] }
	a, b := p.Replicas[0], p.Replicas[1]
	steps := []struct {
		name   string
		do     func()
		leader uint64
		epoch  uint64
		isr    []uint64
	}{
		{"first", func() { report(a, 2, 1, b, a) }, a, 2, []uint64{a, b}},
		{"shrink", func() { report(a, 2, 2, a) }, a, 2, []uint64{a}},
		{"late retry", func() { report(a, 2, 1, a, b) }, a, 2, []uint64{a}},
		{"other node same term", func() { report(b, 2, 9, b) }, a, 2, []uint64{a}},
		{"older term", func() { report(b, 1, 9, b) }, a, 2, []uint64{a}},
		{"not a replica", func() { report(notReplica, 5, 1, notReplica) }, a, 2, []uint64{a}},
		{"leader outside its ISR", func() { report(b, 5, 1, a) }, a, 2, []uint64{a}},
		{"new term", func() { report(b, 3, 1, b, notReplica, a) }, b, 3, []uint64{a, b}},
	}
	for _, st := range steps {
		st.do()
		got := state()
		if got.Leader != st.leader || got.LeaderEpoch != st.epoch || !slices.Equal(got.ISR, st.isr) {
			t.Fatalf("%s: leader %d epoch %d isr %v, want %d %d %v", st.name, got.Leader, got.LeaderEpoch, got.ISR, st.leader, st.epoch, st.isr)
		}
	}
	// A report for a deleted topic's group is ignored.
	apply(t, s, s.Applied()+1, Command{DeleteTopic: &DeleteTopic{Name: "a"}})
	report(a, 9, 1, a)
}

// A consumer-group shard's leader is recorded by the same rules as a
// partition's: a newer term wins, within a term only its leader's later
// reports; a group outside the shards' range, or a reporter outside its
// own in-sync set, changes nothing; snapshots carry the record.
func TestReportShardLeaders(t *testing.T) {
	s := New()
	register(t, s, 1, 2, 3, 4, 5)
	g := uint64(PartitionGroups + 3)
	report := func(group, node, term, seq uint64, isr ...uint64) {
		t.Helper()
		apply(t, s, s.Applied()+1, Command{ReportLeaders: &ReportLeaders{Node: node, Reports: []LeaderReport{{Group: group, Term: term, Seq: seq, ISR: isr}}}})
	}
	steps := []struct {
		name         string
		do           func()
		leader, term uint64
	}{
		{"first", func() { report(g, 2, 4, 1, 2, 3) }, 2, 4},
		{"other node same term", func() { report(g, 3, 4, 9, 3) }, 2, 4},
		{"older term", func() { report(g, 3, 3, 9, 3) }, 2, 4},
		{"outside its ISR", func() { report(g, 3, 7, 1, 2) }, 2, 4},
		{"past the shards", func() { report(PartitionGroups+MaxShards, 3, 9, 1, 3) }, 2, 4},
		{"new term", func() { report(g, 4, 5, 1, 4, 2) }, 4, 5},
	}
	for _, st := range steps {
		st.do()
		if l, ok := s.ShardLeader(g); !ok || l.Leader != st.leader || l.Term != st.term {
			t.Fatalf("%s: shard leader %+v %v, want node %d term %d", st.name, l, ok, st.leader, st.term)
		}
	}
	if _, ok := s.ShardLeader(PartitionGroups + MaxShards); ok {
		t.Fatal("a report past the shards was recorded")
	}
	restored := testkit.Restored(t, New, testkit.Snap(t, s))
	if l, _ := restored.ShardLeader(g); l.Leader != 4 || l.Term != 5 {
		t.Fatalf("restored shard leader %+v", l)
	}
}
