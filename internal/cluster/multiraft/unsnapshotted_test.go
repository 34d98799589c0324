package multiraft_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
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
	var (
		slow  uint64 // the node putting its snapshots off, once chosen
		later = true
	)
	c, led := quietClusterWith(t, 3, 3, groups, cfg, func(k *kv) multiraft.StateMachine {
		return &putOff{kv: k, later: func() bool { return later && k.node == slow }}
	})
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

// A leader hands leadership only to a replica taking its appends in step
// with the log: raft sends the target appends until it has the whole log,
// dropping every proposal meanwhile, and gives up only after an election
// timeout. A replica that does not take them (down, or full and dropping
// them) cost the group's writes that long at every try; the node tries
// every 10 s to give a partition back to its preferred replica (a review
// found it).
func TestTransferOnlyToAReplicaInStep(t *testing.T) {
	c, _ := quietCluster(t, 5, 3, []uint64{1}, multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1})
	lead := c.Leader(1)
	behind := lead%3 + 1
	c.Crash(behind)
	for i := range 100 {
		if r := propose(t, c, 1, fmt.Sprintf("p k%d v", i)); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if c.Node(lead).Host.TransferLeader(1, behind) {
		t.Fatal("the leader started a transfer to a replica 100 entries behind, down")
	}
	if err := c.Restart(behind); err != nil {
		t.Fatal(err)
	}
	if err := converge(c, []uint64{1}); err != nil {
		t.Fatal(err)
	}
	// Once the leader has heard that it caught up, it hands leadership over.
	for range 200 {
		if c.Leader(1) == behind {
			return
		}
		if l := c.Leader(1); l != 0 { // 0 while a transfer runs
			c.Node(l).Host.TransferLeader(1, behind)
		}
		if err := c.Run(10); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("leadership never moved to node %d once it caught up", behind)
}

// A node's groups together keep at most about MaxLogBytes of applied
// entries in their logs (since their snapshots and kept behind them):
// each group's own bound (SnapshotBytes) let a node of many busy
// partitions hold that much of every one, 20 MiB each by default.
// Trimmed early, the groups still agree and converge.
func TestNodeLogsBoundedTogether(t *testing.T) {
	cfg := multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1,
		SnapshotBytes: 64 << 10, MaxLogBytes: 128 << 10, MaxSizePerMsg: 32 << 10, MaxInflightMsgs: 4}
	groups := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	c, led := quietCluster(t, 5, 3, groups, cfg)
	value := strings.Repeat("v", 4<<10)
	var most uint64
	for i := range 400 {
		g := groups[i%len(groups)]
		if r := propose(t, c, g, fmt.Sprintf("p k%d %s", i, value)); r.Err != nil {
			t.Fatalf("put %d in group %d: %v", i, g, r.Err)
		}
		for node := uint64(1); node <= 3; node++ {
			var held uint64
			for _, g := range groups {
				st, err := c.Node(node).Host.Status(g)
				if err != nil {
					t.Fatal(err)
				}
				held += st.Unsnapshotted + st.Kept
			}
			most = max(most, held)
		}
	}
	// Between passes a node may apply a few entries beyond it.
	t.Logf("a node's groups held up to %d bytes of applied entries together", most)
	if bound := cfg.MaxLogBytes + 32<<10; most > bound {
		t.Fatalf("a node's groups held up to %d bytes of applied entries together, want at most %d", most, bound)
	}
	if err := converge(c, groups); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		lead := c.Node(c.Leader(g)).SMs[g].(*kv)
		for node := uint64(1); node <= 3; node++ {
			if got := c.Node(node).SMs[g].(*kv); !got.equal(lead) {
				t.Fatalf("group %d on node %d: applied %d, want %d like its leader", g, node, got.state.Applied, lead.state.Applied)
			}
		}
	}
	if len(led.problems) > 0 {
		t.Fatal(led.problems)
	}
}

// A group idle since its snapshot gives back the entries kept behind it
// once the node holds too much: it cannot snapshot again before it
// applies more, so those tails stayed, counted in the node's total, and
// the busy groups were snapshotted ever earlier to make up for them.
func TestIdleTailsDropped(t *testing.T) {
	cfg := multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1,
		SnapshotBytes: 64 << 10, MaxLogBytes: 96 << 10, MaxSizePerMsg: 32 << 10, MaxInflightMsgs: 4}
	idle, busy := []uint64{1, 2, 3, 4, 5, 6, 7}, uint64(8)
	c, led := quietCluster(t, 5, 3, append(slices.Clone(idle), busy), cfg)
	value := strings.Repeat("v", 4<<10)
	put := func(g uint64, n int) {
		t.Helper()
		for i := range n {
			if r := propose(t, c, g, fmt.Sprintf("p k%d %s", i, value)); r.Err != nil {
				t.Fatalf("put %d in group %d: %v", i, g, r.Err)
			}
		}
	}
	// Each idle group is snapshotted by its own bound (at its 16th entry),
	// leaving a tail of at most a quarter of it behind (3 entries here).
	for _, g := range idle {
		put(g, 16)
	}
	tails := func() (most uint64) {
		for node := uint64(1); node <= 3; node++ {
			var held uint64
			for _, g := range idle {
				st, err := c.Node(node).Host.Status(g)
				if err != nil {
					t.Fatal(err)
				}
				held += st.Kept
			}
			most = max(most, held)
		}
		return most
	}
	if got := tails(); got < 32<<10 {
		t.Fatalf("the idle groups kept %d bytes behind their snapshots on some node, want the tails this test is about", got)
	}
	put(busy, 40)
	if err := converge(c, []uint64{busy}); err != nil {
		t.Fatal(err)
	}
	t.Logf("the idle groups kept up to %d bytes behind their snapshots on a node", tails())
	if got, want := tails(), cfg.MaxLogBytes/3; got > want {
		t.Fatalf("the idle groups still kept %d bytes behind their snapshots on some node, want at most %d", got, want)
	}
	if len(led.problems) > 0 {
		t.Fatal(led.problems)
	}
}
