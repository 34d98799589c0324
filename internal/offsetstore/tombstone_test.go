package offsetstore

import (
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// A write older than a deletion, of one partition or of the whole group,
// arriving after it is dropped: neither comes back, in the database or
// after a replay of the journal, while a newer write (a group of the same
// name created again) is kept.
func TestLateWritesAfterDeletion(t *testing.T) {
	for _, policy := range []commitlog.FsyncPolicy{commitlog.FsyncAlways, commitlog.FsyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, policy)
			if err != nil {
				t.Fatal(err)
			}
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
			s, err = Open(dir, policy)
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
}
