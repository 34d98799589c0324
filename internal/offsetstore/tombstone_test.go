package offsetstore

import (
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// A write older than a deletion, of one partition or of the whole group,
// arriving after it is dropped: neither comes back, in the database or
// after a replay of the journal, while a newer write (a group of the same
// name created again) is kept.
func TestLateWritesAfterDeletion(t *testing.T) {
	eachPolicy(t, func(t *testing.T, policy commitlog.FsyncPolicy, dir string, s *Store) {
		tp := delivery.TP{Topic: "t", Partition: 0}
		put := func(g string, seq uint64) op {
			return op{Write: Write{Group: g, TP: tp, Offset: Offset{Seq: seq, Committed: int64(seq)}}}
		}
		writes := [][]op{
			{put("part", 5), put("group", 5), put("again", 5)},
			{{Write: Write{Group: "part", TP: tp, Delete: true, Offset: Offset{Seq: 7}}}},
			{{Write: Write{Group: "group", Offset: Offset{Seq: 7}}, deleteGroup: true}},
			{{Write: Write{Group: "again", Offset: Offset{Seq: 7}}, deleteGroup: true}},
			{put("part", 6), put("group", 6), put("again", 8)}, // late, late, new
		}
		for _, ws := range writes {
			if err := s.write(ws); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, policy)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		if parts, ok := got["part"]; ok && len(parts) != 0 {
			t.Errorf("deleted partition came back: %+v", parts)
		}
		if parts, ok := got["group"]; ok {
			t.Errorf("deleted group came back: %+v", parts)
		}
		if so := got["again"][tp]; so.Committed != 8 {
			t.Errorf("group created again: %+v, want committed 8", got["again"])
		}
		if n := s.Next(); n <= 8 {
			t.Errorf("next seq %d after a load of seq 8", n)
		}
	})
}

// A deleted group's tombstone goes at the next Open, once the journal
// is replayed: no write of the previous run is left to arrive. Kept,
// every group ever deleted (by offsets retention too: random names made
// by the thousand) grew offsets.db for good.
func TestTombstonesGoAtOpen(t *testing.T) {
	eachPolicy(t, func(t *testing.T, policy commitlog.FsyncPolicy, dir string, s *Store) {
		tp := delivery.TP{Topic: "t", Partition: 0}
		for i := range 100 {
			g := fmt.Sprintf("run-%d", i)
			if err := s.Write([]Write{{Group: g, TP: tp, Offset: Offset{Seq: s.Next(), Committed: 1}}}); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteGroup(g); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		var err error
		if s, err = Open(dir, policy); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var n int
		if err := s.db.View(func(tx *bolt.Tx) error {
			n = tx.Bucket(deletedBucket).Stats().KeyN
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Load(); err != nil || len(got) != 0 || n != 0 {
			t.Fatalf("after a reopen: %d groups (%v), %d tombstones; want none", len(got), err, n)
		}
	})
}
