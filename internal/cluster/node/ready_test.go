package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// unavailableNaming checks that err is UNAVAILABLE, that its message says
// what it should, and names each of nodes with its address, never an
// internal error ("multiraft: unknown group: 0", "context deadline
// exceeded").
func unavailableNaming(c *replicaCluster, err error, says string, nodes ...uint64) error {
	var ae *api.Error
	if !errors.As(err, &ae) || !errors.Is(err, api.ErrUnavailable) {
		return fmt.Errorf("%v, want UNAVAILABLE", err)
	}
	if !strings.Contains(ae.Message, says) {
		return fmt.Errorf("%q does not say %q", ae.Message, says)
	}
	for _, id := range nodes {
		if want := fmt.Sprintf("node %d (%s)", id, c.peers[id]); !strings.Contains(ae.Message, want) {
			return fmt.Errorf("%q does not name %s", ae.Message, want)
		}
	}
	for _, internal := range []string{"multiraft", "context deadline", "context canceled"} {
		if strings.Contains(ae.Message, internal) {
			return fmt.Errorf("%q shows an internal error", ae.Message)
		}
	}
	return nil
}

// A node is ready only while it has a metadata leader it reaches and has
// caught up with the metadata: one started alone (its peers unreachable)
// is not, says which peers it waits for, and its metadata reads and
// writes fail with that reason once leaderWait (1 s at these ticks) has
// passed, instead of waiting out their timeouts. A node of three with one
// peer down stays ready; left alone, it is not ready again.
func TestReadinessFollowsTheMetadataLeader(t *testing.T) {
	c := newStoppedCluster(t, commitlog.FsyncInterval, false)
	defer c.stopAll()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c.start(0)
	alone := c.nodes[0]
	if err := unavailableNaming(c, alone.Ready(ctx), "waits for its peers", 2, 3); err != nil {
		t.Fatalf("Ready of a node started alone: %v", err)
	}
	_, err := alone.Status(ctx)
	if err := unavailableNaming(c, err, "waits for its peers", 2, 3); err != nil {
		t.Fatalf("Status of a node started alone: %v", err)
	}
	createFailsFast := func(nd *Node, says string, nodes ...uint64) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := nd.CreateTopic(cctx, "t", 1, 1, nil)
		if err := unavailableNaming(c, err, says, nodes...); err != nil {
			t.Fatalf("CreateTopic: %v", err)
		}
		if took := time.Since(start); took > nd.leaderWait()+2*time.Second {
			t.Fatalf("CreateTopic failed after %v: it waited out its timeout", took)
		}
	}
	createFailsFast(alone, "waits for its peers", 2, 3)

	c.start(1)
	c.start(2)
	waitFormed(ctx, t, c.nodes, 1)
	for i, nd := range c.nodes {
		testkit.EventuallyNil(t, 10*time.Second, func() error {
			if err := nd.Ready(ctx); err != nil {
				return fmt.Errorf("node %d: %v", i+1, err)
			}
			return nil
		})
	}

	// One node down that does not lead the metadata: the two others
	// stay ready, past the transport's 2 s to count it down.
	lead := c.leader(ctx, meta.GroupID)
	down := (lead + 1) % 3
	c.stop(down)
	for until := time.Now().Add(3 * time.Second); time.Now().Before(until); time.Sleep(50 * time.Millisecond) {
		for i, nd := range c.nodes {
			if i == down {
				continue
			}
			if err := nd.Ready(ctx); err != nil {
				t.Fatalf("node %d with node %d down: %v", i+1, down+1, err)
			}
		}
	}

	// The metadata leader down too: the last node reaches no majority.
	c.stop(lead)
	last := c.nodes[3-lead-down]
	gone := []uint64{uint64(lead + 1), uint64(down + 1)}
	testkit.EventuallyNil(t, 15*time.Second, func() error {
		return unavailableNaming(c, last.Ready(ctx), "reaches no majority", gone...)
	})
	_, err = last.Status(ctx)
	if err := unavailableNaming(c, err, "reaches no majority", gone...); err != nil {
		t.Fatalf("Status of the last node: %v", err)
	}
	createFailsFast(last, "reaches no majority", gone...)
}
