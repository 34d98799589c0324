package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// A group's generation does not go back when its coordinator is killed:
// its member, joining the next coordinator again with the member ID it
// had, gets a generation past the one the dead coordinator gave it, and a
// commit still carrying the old one (a request the client sends again, or
// a zombie's) is refused as stale: it was accepted when the next
// coordinator started the group over at generation 0 and gave the member
// the same generation again.
func TestBinaryClusterGroupGenerationAfterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const topic = "gens"
	c := startClusterProcs(t, 3)
	metaLeader := c.agree([]uint64{1, 2, 3}, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	if st := c.do(1, "POST", "/topics", fmt.Sprintf(`{"name":%q,"partitions":1}`, topic), nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	for id := uint64(1); id <= 3; id++ {
		c.topic(id, topic)
	}
	coord := metaLeader%3 + 1 // not the metadata's leader: the cluster goes on
	group := groupOn("gens", coord)
	c.awaitCoordinator(coord, group, 1, 2, 3)

	join := func(node uint64) api.JoinResponse {
		var res api.JoinResponse
		c.eventually(30*time.Second, fmt.Sprintf("member x joins group %s at node %d", group, node), func() bool {
			return c.do(node, "POST", "/groups/"+group+"/join", fmt.Sprintf(`{"member_id":"x","topics":[%q]}`, topic), &res) == http.StatusOK
		})
		return res
	}
	before := join(coord)

	c.procs[coord].Kill()
	var alive []uint64
	for id := uint64(1); id <= 3; id++ {
		if id != coord {
			alive = append(alive, id)
		}
	}
	var next uint64
	c.eventually(30*time.Second, "the survivors naming a new coordinator", func() bool {
		next = c.coordinatorOf(alive[0], group)
		return next != 0 && next != coord
	})
	c.awaitCoordinator(next, group, alive...)
	after := join(next)
	if after.Generation <= before.Generation {
		t.Fatalf("member x: generation %d at node %d, %d at node %d after its kill: want it past", before.Generation, coord, after.Generation, next)
	}

	for _, stale := range []struct{ path, body string }{
		{"offsets", fmt.Sprintf(`{"member_id":"x","generation":%d,"offsets":{%q:{"0":0}}}`, before.Generation, topic)},
		{"heartbeat", fmt.Sprintf(`{"member_id":"x","generation":%d,"owned_partitions":{}}`, before.Generation)},
	} {
		var e api.ErrorBody
		if st := c.do(next, "POST", "/groups/"+group+"/"+stale.path, stale.body, &e); st == http.StatusOK || e.Error == nil ||
			e.Error.Code != api.ErrStaleGeneration.Code && e.Error.Code != api.ErrFencedMember.Code {
			t.Errorf("%s with generation %d of the dead coordinator: %d %+v; want STALE_GENERATION or FENCED_MEMBER", stale.path, before.Generation, st, e.Error)
		}
	}
	t.Logf("generation %d at node %d, %d at node %d after its SIGKILL", before.Generation, coord, after.Generation, next)
}
