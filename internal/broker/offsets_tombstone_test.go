package broker

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
			s, err := openOffsets(dir, policy)
			if err != nil {
				t.Fatal(err)
			}
			tp := delivery.TP{Topic: "t", Partition: 0}
			put := func(g string, seq uint64) offsetWrite {
				return offsetWrite{group: g, tp: tp, off: storedOffset{Seq: seq, Committed: int64(seq)}}
			}
			writes := [][]offsetWrite{
				{put("part", 5), put("group", 5), put("again", 5)},
				{{group: "part", tp: tp, del: true, off: storedOffset{Seq: 7}}},
				{{group: "group", delGroup: true, off: storedOffset{Seq: 7}}},
				{{group: "again", delGroup: true, off: storedOffset{Seq: 7}}},
				{put("part", 6), put("group", 6), put("again", 8)}, // late, late, new
			}
			for _, ws := range writes {
				if err := s.write(ws); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.close(); err != nil {
				t.Fatal(err)
			}
			s, err = openOffsets(dir, policy)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			got, err := s.load()
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
			if n := s.next(); n <= 8 {
				t.Errorf("next seq %d after a load of seq 8", n)
			}
		})
	}
}
