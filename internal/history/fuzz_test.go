package history

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// loaded is every group's rebalances in r, oldest first.
func loaded(r *Rebalances) map[string][]api.Rebalance {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]api.Rebalance, len(r.groups))
	for g, l := range r.groups {
		out[g] = append([]api.Rebalance(nil), l...)
	}
	return out
}

// FuzzOpenRebalances opens arbitrary bytes as the rebalance history file,
// as a broker does at start with what it (or a crash, or a damaged disk)
// left there. Open must not fail or panic: a line that does not decode is
// skipped. What it loads holds no group without a name and stays within
// the bounds; encoded again as a rewrite of the file orders it, it opens
// the same.
func FuzzOpenRebalances(f *testing.F) {
	path := filepath.Join(f.TempDir(), "rebalances.jsonl")
	r, err := OpenRebalances(path)
	if err != nil {
		f.Fatal(err)
	}
	r.Add("g", api.Rebalance{Generation: 1, Reason: "member_joined", StartedAt: 10, EndedAt: 20, DurationMS: 10,
		Moved: []api.Move{{Topic: "orders", Partition: 0, To: "m1"}, {Topic: "orders", Partition: 1, From: "m1", To: "m2"}}})
	r.Add("h", api.Rebalance{Generation: 7, Reason: "session_timeout", StartedAt: 15, EndedAt: 40, DurationMS: 25})
	r.Add("g", api.Rebalance{Generation: 2, Reason: "member_left", StartedAt: 30, EndedAt: 35, DurationMS: 5,
		Moved: []api.Move{{Topic: "orders", Partition: 1, From: "m2"}}})
	if err := r.Flush(); err != nil {
		f.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	testkit.AddDamaged(f, file)
	f.Add(append(bytes.Clone(file), `{"group":"g","generation":3,"rea`...))
	f.Add([]byte{})
	f.Add([]byte("\n\n{}\nnull\n"))
	// Times no clock gives, far apart (their difference overflows), and
	// a group's going back.
	f.Add([]byte(`{"group":"g","started_at":-9223372036854775808}` + "\n" + `{"group":"g","started_at":1}` + "\n" +
		`{"group":"g","started_at":9223372036854775807}` + "\n" + `{"group":"h","started_at":5}` + "\n" + `{"group":"h","started_at":4}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "rebalances.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := OpenRebalances(path)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		got := loaded(r)
		if len(got) > r.maxGroups {
			t.Fatalf("%d groups loaded, at most %d kept", len(got), r.maxGroups)
		}
		for g, l := range got {
			if g == "" || len(l) == 0 || len(l) > r.perGroup {
				t.Fatalf("group %q loaded with %d rebalances", g, len(l))
			}
		}
		// Encoded again as Flush rewrites it, without Flush's fsyncs,
		// which made a run crawl.
		r.mu.Lock()
		recs := r.keptLocked()
		r.mu.Unlock()
		if err := os.WriteFile(path, encode(recs), 0o644); err != nil {
			t.Fatal(err)
		}
		again, err := OpenRebalances(path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, loaded(again), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("encoded again and reopened (-loaded +reopened):\n%s", diff)
		}
	})
}
