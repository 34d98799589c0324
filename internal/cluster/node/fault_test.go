package node

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// CutLinks cuts a node off as a network would: its peers see it down, and
// its metadata proposals (forwarded to the leader by a transport call) get
// no answer; healed, it is alive and proposes again.
func TestCutLinksIsolatesAndHeals(t *testing.T) {
	defer goleak.VerifyNone(t)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes, stop := startNodes(t, 3, dirs)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leader := waitFormed(ctx, t, nodes, 1)
	cut := nodes[leader%3] // a follower
	var others []uint64
	for _, nd := range nodes {
		if nd != cut {
			others = append(others, nd.cfg.ID)
			nd.CutLinks([]uint64{cut.cfg.ID})
		}
	}
	cut.CutLinks(others)

	lead := nodes[leader-1]
	for {
		st, err := lead.Status(ctx)
		if err == nil && !st.Nodes[cut.cfg.ID-1].Alive {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the leader still sees node %d alive after the cut", cut.cfg.ID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	if _, err := cut.Status(short); err == nil {
		t.Fatalf("node %d answered a consistent read while cut off", cut.cfg.ID)
	}

	for _, nd := range nodes {
		nd.CutLinks(nil)
	}
	waitFormed(ctx, t, nodes, 1)
}
