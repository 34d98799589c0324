package offsetstore

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// storedPartitions returns what offsets.db holds for group g.
func storedPartitions(t *testing.T, s *Store) map[delivery.TP]Offset {
	t.Helper()
	all, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	return all["g"]
}

// Under fsync=always a write is in offsets.db when it returns; under
// interval and never it is in the journal until sync checkpoints it, and a
// reopen replays a journal left behind.
func TestOffsetStoreFollowsPolicy(t *testing.T) {
	tp := delivery.TP{Topic: "t", Partition: 1}
	for _, policy := range []commitlog.FsyncPolicy{commitlog.FsyncAlways, commitlog.FsyncInterval, commitlog.FsyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, policy)
			if err != nil {
				t.Fatal(err)
			}
			if (s.jr == nil) != (policy == commitlog.FsyncAlways) {
				t.Fatalf("journal %v under %s", s.jr != nil, policy)
			}
			w := Write{Group: "g", TP: tp, Offset: Offset{Seq: s.Next(), Committed: 1}}
			if err := s.Write([]Write{w}); err != nil {
				t.Fatal(err)
			}
			inDB := len(storedPartitions(t, s)) == 1
			if inDB != (policy == commitlog.FsyncAlways) {
				t.Fatalf("in offsets.db before sync: %v", inDB)
			}
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			if got := storedPartitions(t, s)[tp].Committed; got != 1 {
				t.Fatalf("committed %d after sync, want 1", got)
			}
			files, _, _ := journalFiles(dir)
			if len(files) > 1 {
				t.Fatalf("journal files after a checkpoint: %v", files)
			}
			// A write left in the journal is replayed by the next open.
			w.Offset = Offset{Seq: s.Next(), Committed: 2}
			if err := s.Write([]Write{w}); err != nil {
				t.Fatal(err)
			}
			if s.jr != nil {
				s.jr.f.Close() // as a crash leaves it: no checkpoint
				s.jr = nil
			}
			s.db.Close()
			s, err = Open(dir, policy)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := storedPartitions(t, s)[tp].Committed; got != 2 {
				t.Fatalf("committed %d after reopen, want 2", got)
			}
		})
	}
}

// A journal whose last frame is torn or corrupt replays every frame
// before it; a group deletion in it deletes what came before only.
func TestOffsetJournalReplay(t *testing.T) {
	for _, damage := range []string{"torn", "corrupt"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, commitlog.FsyncInterval)
			if err != nil {
				t.Fatal(err)
			}
			w := func(g string, p int32, committed int64) op {
				return op{Write: Write{Group: g, TP: delivery.TP{Topic: "t", Partition: p}, Offset: Offset{Seq: s.Next(), Committed: committed}}}
			}
			for _, ops := range [][]op{
				{w("g", 0, 5), w("gone", 0, 1)},
				{{Write: Write{Group: "gone", Offset: Offset{Seq: s.Next()}}, deleteGroup: true}},
				{w("g", 1, 7), w("gone", 3, 9)},
				{w("g", 0, 99)}, // damaged below
			} {
				if err := s.write(ops); err != nil {
					t.Fatal(err)
				}
			}
			path := s.jr.f.Name()
			s.jr.f.Close()
			s.db.Close()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if damage == "torn" {
				b = b[:len(b)-3]
			} else {
				b[len(b)-2] ^= 0xff
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err = Open(dir, commitlog.FsyncInterval)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			all, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]map[int32]int64{}
			for g, parts := range all {
				got[g] = map[int32]int64{}
				for tp, so := range parts {
					got[g][tp.Partition] = so.Committed
				}
			}
			want := map[string]map[int32]int64{"g": {0: 5, 1: 7}, "gone": {3: 9}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("replayed offsets (-want +got):\n%s", diff)
			}
			if files, _, _ := journalFiles(dir); len(files) != 1 || files[0] == path {
				t.Fatalf("journal files after replay: %v (replayed %s)", files, path)
			}
		})
	}
}
