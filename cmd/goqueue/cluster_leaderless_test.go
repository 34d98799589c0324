package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// A partition whose only replica's node is killed has no leader: within
// the 6 s after which the others count that node down, GET /topics/{t}
// and GET /cluster on the other nodes stop naming it as leader and in the
// ISR (as Kafka shows leader -1), and a publish to it is refused
// UNAVAILABLE saying which replica is down, not that an election is
// under way. They used to show the dead node as leader for as long as it
// was down. Partitions of replication factor 3 are left to elect a new
// leader among the survivors, as before.
func TestBinaryClusterDeadReplicasShowNoLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := startClusterProcs(t, 3)
	all := []uint64{1, 2, 3}
	metaLeader := c.agree(all, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	var one api.Topic
	if st := c.do(metaLeader, "POST", "/topics", `{"name":"one","partitions":3,"replication_factor":1}`, &one); st != http.StatusCreated {
		t.Fatalf("create one: %d", st)
	}
	if st := c.do(metaLeader, "POST", "/topics", `{"name":"three","partitions":3}`, nil); st != http.StatusCreated {
		t.Fatalf("create three: %d", st)
	}
	leaders := map[int32]uint64{}
	for _, p := range one.PartitionInfo {
		leaders[p.Partition] = p.Leader
	}
	c.knowLeaders("one", leaders)

	victim := metaLeader%3 + 1 // not the metadata leader: no metadata election on the way
	part := slices.IndexFunc(one.PartitionInfo, func(p api.PartitionInfo) bool { return p.Leader == victim })
	if part < 0 {
		t.Fatalf("node %d leads no partition of one: %+v", victim, one.PartitionInfo)
	}
	killed := time.Now()
	c.procs[victim].Kill()
	for _, id := range all {
		if id == victim {
			continue
		}
		c.eventually(15*time.Second, fmt.Sprintf("node %d shows partition one/%d without a leader", id, part), func() bool {
			tp := c.topic(id, "one")
			p := tp.PartitionInfo[part]
			if p.Leader != 0 || p.LeaderAddr != "" || slices.Contains(p.ISR, victim) || !slices.Equal(p.Replicas, []uint64{victim}) {
				return false
			}
			var st api.ClusterStatus
			if c.do(id, "GET", "/cluster", "", &st) != http.StatusOK {
				return false
			}
			for _, ct := range st.Topics {
				if ct.Name == "one" {
					cp := ct.Partitions[part]
					return cp.Leader == 0 && !slices.Contains(cp.ISR, victim)
				}
			}
			return false
		})
		// The others keep their leaders.
		for _, p := range c.topic(id, "one").PartitionInfo {
			if int(p.Partition) != part && p.Leader != leaders[p.Partition] {
				t.Fatalf("node %d: partition one/%d led by %d, want %d", id, p.Partition, p.Leader, leaders[p.Partition])
			}
		}
		var refused api.ErrorBody
		st := c.do(id, "POST", "/topics/one/messages", fmt.Sprintf(`{"partition":%d,"value":"x"}`, part), &refused)
		if st != http.StatusServiceUnavailable || refused.Error == nil || refused.Error.Code != api.ErrUnavailable.Code || !refused.Error.Retriable ||
			!strings.Contains(refused.Error.Message, fmt.Sprintf("replicas are down (node %d)", victim)) ||
			fmt.Sprint(refused.Error.Details["offline_replicas"]) != fmt.Sprintf("[%d]", victim) {
			t.Fatalf("publish on node %d to one/%d: %d %+v, want UNAVAILABLE naming node %d down", id, part, st, refused.Error, victim)
		}
	}
	t.Logf("node %d killed; its factor-1 partition shown without a leader on both survivors after %v", victim, time.Since(killed).Round(10*time.Millisecond))

	// A majority of each factor-3 partition survives: the survivors lead
	// them all.
	for _, id := range all {
		if id == victim {
			continue
		}
		c.eventually(15*time.Second, fmt.Sprintf("node %d names live leaders for every partition of three", id), func() bool {
			for _, p := range c.topic(id, "three").PartitionInfo {
				if p.Leader == 0 || p.Leader == victim {
					return false
				}
			}
			return true
		})
	}
}
