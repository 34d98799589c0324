package history

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// A Flush cut short by the device (a full disk; here the file size limit,
// which cuts a write the same way, in process and without root) left the
// lines it had written and a torn one; the next Flush appended them all
// again. After a restart the rebalances written before the cut were there
// twice and the one the torn line ran into not at all. A failed append now
// takes back what it wrote.
func TestRebalancesFlushCutShortLeavesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rebalances.jsonl")
	r, err := OpenRebalances(path)
	if err != nil {
		t.Fatal(err)
	}
	r.Add("g", api.Rebalance{Generation: 1, Reason: "member_joined", StartedAt: 1})
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(2); i <= 40; i++ {
		r.Add("g", api.Rebalance{Generation: i, Reason: "member_left", StartedAt: i})
	}

	// Room for a few lines of the 39.
	testkit.WithFileSizeLimit(t, fi.Size()+300, func() { err = r.Flush() })
	if err == nil {
		t.Fatal("Flush past the file size limit succeeded")
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}

	reopened, err := OpenRebalances(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(loaded(r), loaded(reopened)); diff != "" {
		t.Fatalf("reopened history differs (-flushed +reopened):\n%s", diff)
	}
}
