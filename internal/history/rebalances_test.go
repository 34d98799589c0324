package history

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/abd-ulbasit/goqueue/api"
)

func TestRebalancesSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rebalances.jsonl")
	r, err := OpenRebalances(path)
	if err != nil {
		t.Fatal(err)
	}
	r.Add("g", api.Rebalance{Generation: 1, Reason: "member_joined", StartedAt: 10, EndedAt: 20, DurationMS: 10,
		Moved: []api.Move{{Topic: "orders", Partition: 0, To: "m1"}}})
	r.Add("g", api.Rebalance{Generation: 2, Reason: "member_joined", StartedAt: 30, EndedAt: 35, DurationMS: 5})
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	// A crash mid-append leaves a torn line; it is skipped.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"group":"g","generation":3,"rea`)
	f.Close()

	r2, err := OpenRebalances(path)
	if err != nil {
		t.Fatal(err)
	}
	got := r2.Group("g")
	if len(got) != 2 || got[0].Generation != 2 || got[1].Moved[0].To != "m1" {
		t.Fatalf("after reopen: %+v; want generations 2, 1 with the move", got)
	}
}

// A damaged stretch without a newline, however long, costs its own line
// only: past 16 MiB it once ended the load, dropping what came after.
func TestRebalancesLoadPastALongBadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rebalances.jsonl")
	file := `{"group":"a","generation":1,"reason":"member_joined","started_at":10}` + "\n" +
		strings.Repeat("\x00", 17<<20) + "\n" +
		`{"group":"b","generation":1,"reason":"member_joined","started_at":20}` + "\n"
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRebalances(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Group("a")) != 1 || len(r.Group("b")) != 1 {
		t.Fatalf("loaded a: %+v, b: %+v; want one each", r.Group("a"), r.Group("b"))
	}
}

func TestRebalancesFileStaysBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rebalances.jsonl")
	r, _ := OpenRebalances(path)
	for i := range 1000 {
		r.Add("g", api.Rebalance{Generation: int64(i), Reason: "member_left", StartedAt: int64(i)})
		if i%10 == 0 {
			if err := r.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if lines := strings.Count(string(b), "\n"); lines > 2*DefaultRebalancesPerGroup+64 {
		t.Fatalf("file holds %d lines; kept are %d", lines, DefaultRebalancesPerGroup)
	}
	r2, _ := OpenRebalances(path)
	got := r2.Group("g")
	if len(got) != DefaultRebalancesPerGroup || got[0].Generation != 999 {
		t.Fatalf("reopened: %d rebalances, newest %d; want %d, 999", len(got), got[0].Generation, DefaultRebalancesPerGroup)
	}
}

// A rewrite of the file orders it by time, and each group's rebalances
// come back in the order they were added, whatever their times hold: far
// apart (a damaged or hostile file; subtracting them overflowed and
// ordered the file at random), a clock stepped back, or one millisecond
// shared by many (an unstable sort swapped them).
func TestRebalancesRewriteKeepsEachGroupsOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		times []int64 // group g's StartedAt, in the order added
	}{
		{"far apart", []int64{math.MinInt64, math.MaxInt64}},
		{"far apart below", []int64{math.MinInt64, 1, math.MaxInt64}},
		{"clock stepped back", []int64{30, 10, 20}},
		{"one millisecond", slices.Repeat([]int64{7}, 30)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rebalances.jsonl")
			r, err := OpenRebalances(path)
			if err != nil {
				t.Fatal(err)
			}
			// Enough rebalances of another group, most of them
			// forgotten, that the Flush below rewrites the file.
			for i := range 3 * DefaultRebalancesPerGroup {
				r.Add("other", api.Rebalance{Generation: int64(i), Reason: "member_left", StartedAt: int64(i)})
			}
			var want []api.Rebalance
			for i, at := range tc.times {
				rb := api.Rebalance{Generation: int64(i + 1), Reason: "member_joined", StartedAt: at}
				r.Add("g", rb)
				want = append(want, rb)
			}
			slices.Reverse(want)
			if err := r.Flush(); err != nil {
				t.Fatal(err)
			}
			if r.lines != DefaultRebalancesPerGroup+len(tc.times) {
				t.Fatalf("the file holds %d lines: not rewritten", r.lines)
			}
			again, err := OpenRebalances(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, again.Group("g")); diff != "" {
				t.Fatalf("reopened after a rewrite (-added +reopened):\n%s", diff)
			}
		})
	}
}

// A rewrite killed between writing its temporary file and renaming it
// left the file in the data directory for good, one more each time.
func TestRebalancesOpenRemovesAKilledRewritesFile(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".rebalances-123456")
	if err := os.WriteFile(stale, []byte(`{"group":"g","generation":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRebalances(filepath.Join(dir, "rebalances.jsonl")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("%s still there after Open (%v)", stale, err)
	}
}
