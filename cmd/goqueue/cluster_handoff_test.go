package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A node stopped with SIGTERM hands the leadership of what it leads to the
// other nodes before it stops: within a moment of its exit the survivors
// name live leaders for its partitions and another coordinator for its
// groups, and take publishes. Before, they named the stopped node until
// their election timeout (2 s and more): every publish to its partitions
// failed for 2.2–2.7 s after a clean stop, as after a crash.
func TestBinaryClusterHandOffOnStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := startClusterProcs(t, 3)
	all := []uint64{1, 2, 3}
	c.agree(all, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	if st := c.do(1, "POST", "/topics", `{"name":"handoff","partitions":3}`, nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	leaders := map[int32]uint64{}
	c.eventually(30*time.Second, "every partition of handoff has a leader", func() bool {
		for _, p := range c.topic(1, "handoff").PartitionInfo {
			leaders[p.Partition] = p.Leader
		}
		return leaders[0] != 0 && leaders[1] != 0 && leaders[2] != 0
	})
	c.knowLeaders("handoff", leaders)
	victim := leaders[0]
	group := ""
	for i := 0; group == ""; i++ {
		if g := fmt.Sprintf("handoff-%d", i); preferredCoordinator(g) == victim {
			group = g
		}
	}
	c.awaitCoordinator(victim, group, all...)
	var rest []uint64
	for _, id := range all {
		if id != victim {
			rest = append(rest, id)
		}
	}

	if err := c.procs[victim].Stop(); err != nil {
		t.Fatalf("stop node %d: %v", victim, err)
	}
	stopped := time.Now()
	// Well within the followers' election timeout: only a hand-off moves
	// leadership this soon.
	const soon = 1500 * time.Millisecond
	for _, id := range rest {
		c.eventually(soon, fmt.Sprintf("node %d names live leaders for every partition and coordinator for %s", id, group), func() bool {
			for _, p := range c.topic(id, "handoff").PartitionInfo {
				if p.Leader == victim || p.Leader == 0 {
					return false
				}
			}
			co := c.coordinatorOf(id, group)
			return co != victim && co != 0
		})
	}
	if st := c.do(rest[0], "POST", "/topics/handoff/messages", `{"messages":[{"value":"after","partition":0}]}`, nil); st != http.StatusCreated && st != http.StatusOK {
		t.Fatalf("publish to partition 0 through node %d right after node %d stopped: %d", rest[0], victim, st)
	}
	t.Logf("node %d stopped; its partitions and groups led elsewhere %v after its exit", victim, time.Since(stopped).Round(time.Millisecond))
	if log := c.procs[victim].Log(); !strings.Contains(log, `msg="handed off leadership to other nodes" still_led=0`) {
		t.Errorf("node %d's log does not say it handed everything off:\n%s", victim, log)
	}
}
