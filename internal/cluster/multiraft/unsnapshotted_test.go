package multiraft_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/cryptotest"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/raftsim"
)

// putOff is a kv whose snapshots are put off while later says so, as a
// partition replica's are while it fetches the bytes below a snapshot.
type putOff struct {
	*kv
	later func() bool
}

func (s *putOff) Snapshot() ([]byte, error) {
	if s.later() {
		return nil, multiraft.ErrSnapshotLater
	}
	return s.kv.Snapshot()
}

// A replica whose state machine puts its snapshots off (a partition
// replica catching up, for minutes) keeps at most MaxUnsnapshotted bytes
// of applied entries, and a window of appends, in its log, while the
// others go on committing; once it can snapshot again it catches up. It
// kept every entry committed meanwhile before: 1.6 MiB here, gigabytes
// for a partition catching up under load.
func TestPutOffSnapshotsKeepTheLogBounded(t *testing.T) {
	cfg := multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1,
		SnapshotBytes: 64 << 10, MaxUnsnapshotted: 256 << 10, MaxSizePerMsg: 32 << 10, MaxInflightMsgs: 4}
	groups := []uint64{1}
	cryptotest.SetGlobalRandom(t, 3)
	var (
		c     *raftsim.Cluster
		slow  uint64 // the node putting its snapshots off, once chosen
		later = true
	)
	led := newLedger(func() int64 { return c.Now })
	c, err := raftsim.New(rand.New(rand.NewPCG(3, 7)), raftsim.Options{
		Nodes: 3, Groups: groups,
		NewStateMachine: func(node, group uint64) multiraft.StateMachine {
			return &putOff{kv: &kv{node: node, group: group, ledger: led, durability: multiraft.SyncEachPass},
				later: func() bool { return later && node == slow }}
		},
		Faults: raftsim.Faults{MinDelay: 1, MaxDelay: 5},
		Host:   cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := converge(c, groups); err != nil {
		t.Fatal(err)
	}
	slow = c.Leader(1)%3 + 1

	value := strings.Repeat("v", 8<<10)
	bound := cfg.MaxUnsnapshotted + cfg.MaxSizePerMsg*uint64(cfg.MaxInflightMsgs)
	var most uint64
	full := false
	for i := range 200 {
		if r := propose(t, c, 1, fmt.Sprintf("p k%d %s", i, value)); r.Err != nil {
			t.Fatalf("put %d: %v", i, r.Err)
		}
		st, err := c.Node(slow).Host.Status(1)
		if err != nil {
			t.Fatal(err)
		}
		most, full = max(most, st.Unsnapshotted), full || st.Full
	}
	if most > bound || !full {
		t.Fatalf("the replica putting snapshots off held up to %d bytes of entries (full: %v), want at most %d", most, full, bound)
	}

	later = false
	if err := converge(c, groups); err != nil {
		t.Fatal(err)
	}
	lead := c.Node(c.Leader(1)).SMs[1].(*putOff)
	if got := c.Node(slow).SMs[1].(*putOff); !got.equal(lead.kv) {
		t.Fatalf("after catching up: applied %d, want %d like the leader", got.state.Applied, lead.state.Applied)
	}
	if len(led.problems) > 0 {
		t.Fatal(led.problems)
	}
}
