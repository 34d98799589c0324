package offsetstore

import (
	"maps"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// The retention clocks outlive a restart; a group's deletion forgets its
// mark, but not one taken after it (a group of the same name made
// again), and a mark taken before a deletion that arrives after it does
// not bring it back; an older mark never replaces a newer one.
func TestMarksOutliveRestartAndDeletion(t *testing.T) {
	eachPolicy(t, func(t *testing.T, policy commitlog.FsyncPolicy, dir string, s *Store) {
		seq := make([]uint64, 4) // taken as the coordinator takes them
		for i := range seq {
			seq[i] = s.Next()
		}
		if err := s.SaveMarks(1000, []Mark{{"kept", seq[0], 10}, {"deleted", seq[1], 20}, {"again", seq[2], 30}, {"late", seq[3], 40}, {"busy", seq[3], -1}}); err != nil {
			t.Fatal(err)
		}
		for _, g := range []string{"deleted", "again", "late"} {
			if err := s.DeleteGroup(g); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Sync(); err != nil { // the deletions' checkpoint, under a journal
			t.Fatal(err)
		}
		again := s.Next()
		if err := s.SaveMarks(0, []Mark{{"again", again, 80}, {"late", seq[3], 41}, {"kept", 0, 5}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, policy)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		alive, active, err := s.Marks()
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int64{"kept": 10, "again": 80, "busy": -1}; alive != 1000 || !maps.Equal(active, want) {
			t.Fatalf("after a restart: alive %d, marks %v; want 1000, %v", alive, active, want)
		}
		if next := s.Next(); next <= again {
			t.Fatalf("Next() = %d after a restart, want above every mark's seq", next)
		}
	})
}

// eachPolicy runs f on a new store under each fsync policy whose journal
// replay differs (every write synced, or none), in subtests.
func eachPolicy(t *testing.T, f func(t *testing.T, policy commitlog.FsyncPolicy, dir string, s *Store)) {
	for _, policy := range []commitlog.FsyncPolicy{commitlog.FsyncAlways, commitlog.FsyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, policy)
			if err != nil {
				t.Fatal(err)
			}
			f(t, policy, dir, s)
		})
	}
}
