package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// emptyGroupWithOffsets makes group g of p commit offset 1 of orders/0
// and lose its member: an empty group that keeps its offsets.
func emptyGroupWithOffsets(t *testing.T, p proc, g string) {
	t.Helper()
	var jr api.JoinResponse
	if st := p.call(t, "POST", "/groups/"+g+"/join", `{"topics":["orders"]}`, &jr); st != 200 {
		t.Fatalf("join %s: %d", g, st)
	}
	commit := fmt.Sprintf(`{"member_id":%q,"generation":%d,"offsets":{"orders":{"0":1}}}`, jr.MemberID, jr.Generation)
	if st := p.call(t, "POST", "/groups/"+g+"/offsets", commit, nil); st != 200 && st != 204 {
		t.Fatalf("commit %s: %d", g, st)
	}
	if st := p.call(t, "POST", "/groups/"+g+"/leave", fmt.Sprintf(`{"member_id":%q}`, jr.MemberID), nil); st != 200 && st != 204 {
		t.Fatalf("leave %s: %d", g, st)
	}
}

// With --max-groups full of empty groups that keep offsets, a new group
// was refused TOO_MANY_GROUPS for ever: nothing but a DELETE of each freed
// its place. With --offsets-retention the empty groups go once empty for
// that long, as Kafka's offsets.retention.minutes makes them go: GET
// /groups no longer lists them, their place is free, and the metric and
// the log count them.
func TestBinaryEmptyGroupsExpire(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	p := startBinary(t, "", "--offsets-retention", "2s", "--max-groups", "2")
	defer p.stop(t)
	if st := p.call(t, "POST", "/topics", `{"name":"orders","partitions":1}`, nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	if st := p.call(t, "POST", "/topics/orders/messages", `{"value":"a"}`, nil); st != 200 {
		t.Fatalf("publish: %d", st)
	}
	emptyGroupWithOffsets(t, p, "run-1")
	emptyGroupWithOffsets(t, p, "run-2")
	var refused api.ErrorBody
	if st := p.call(t, "POST", "/groups/run-3/join", `{"topics":["orders"]}`, &refused); st != http.StatusConflict || refused.Error == nil || refused.Error.Code != "TOO_MANY_GROUPS" {
		t.Fatalf("a third group with --max-groups 2: %d %+v, want 409 TOO_MANY_GROUPS", st, refused)
	}
	// Still there within the retention, saying until when.
	var list api.GroupList
	if st := p.call(t, "GET", "/groups", "", &list); st != 200 || len(list.Groups) != 2 || list.Groups[0].ExpiresAt == 0 {
		t.Fatalf("GET /groups at once: %d, %+v; want 2 groups with expires_at", st, list.Groups)
	}
	if code, out, errs := cliRun(t, goqueueBin.Path(t), p.URL, "", "group", "describe", "run-1"); code != 0 || !strings.Contains(out, "\nexpires ") {
		t.Fatalf("goqueue group describe run-1: %d, no expiry line:\n%s%s", code, out, errs)
	}
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		var list api.GroupList
		if st := p.call(t, "GET", "/groups", "", &list); st != 200 || len(list.Groups) != 0 {
			return fmt.Errorf("GET /groups: %d, %d groups", st, len(list.Groups))
		}
		return nil
	})
	if st := p.call(t, "GET", "/groups/run-1/offsets", "", nil); st != http.StatusNotFound {
		t.Fatalf("offsets of an expired group: %d, want 404", st)
	}
	var jr api.JoinResponse
	if st := p.call(t, "POST", "/groups/run-3/join", `{"topics":["orders"]}`, &jr); st != 200 {
		t.Fatalf("a new group once the empty ones expired: %d", st)
	}
	resp, err := http.Get(p.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "\ngoqueue_groups_expired_total 2\n") {
		t.Fatalf("/metrics: no goqueue_groups_expired_total 2")
	}
	for _, g := range []string{"run-1", "run-2"} {
		if !strings.Contains(p.Log(), `msg="group expired" group=`+g) {
			t.Fatalf("no log line of %s's expiry:\n%s", g, p.Log())
		}
	}
}

// On a cluster the group's coordinator alone expires it, once, through
// the replicated deletion: every node then answers GROUP_NOT_FOUND and
// lists it no longer, and the coordinator's death after the expiry does
// not bring it back on the node that adopts its shard. Another empty
// group of that coordinator keeps its clock across the move (its
// expires_at moves on by the time it had no coordinator, not to a full
// retention after the adoption) and goes on the new coordinator.
func TestBinaryClusterGroupExpiresOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const retention = 6 * time.Second
	// What a move may add to a group's clock beyond the time it had no
	// coordinator: two slacks (coordinator.clockSlack: a step, r/64, and
	// a check, r/16, for a retention under 16 minutes).
	const slack = 2 * (retention/64 + retention/16)
	started := time.Now()
	c := startClusterProcsWith(t, 3, clusterSetup{flags: []string{"--offsets-retention", retention.String()}})
	all := []uint64{1, 2, 3}
	c.agree(all, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	if st := c.do(1, "POST", "/topics", `{"name":"ret","partitions":1}`, nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	for id := range c.procs {
		c.topic(id, "ret")
	}
	const coord = 2
	g, moved := groupOn("ret", coord), groupOn("moved", coord)
	c.awaitCoordinator(coord, g, all...)
	c.awaitCoordinator(coord, moved, all...)
	// Empty groups with offsets, made by resets through another node.
	reset := func(group string) {
		t.Helper()
		if st := c.do(1, "POST", "/groups/"+group+"/offsets/reset", `{"to":"earliest","topics":["ret"]}`, nil); st != http.StatusOK {
			t.Fatalf("reset %s: %d", group, st)
		}
	}
	reset(g)
	for _, id := range all {
		if st := c.do(id, "GET", "/groups/"+g, "", nil); st != http.StatusOK {
			t.Fatalf("node %d: GET /groups/%s at once: %d", id, g, st)
		}
	}
	time.Sleep(retention / 2)
	reset(moved)
	gone := func(id uint64) error {
		var list api.GroupList
		if st := c.do(id, "GET", "/groups/"+g, "", nil); st != http.StatusNotFound {
			return fmt.Errorf("node %d: GET /groups/%s: %d", id, g, st)
		}
		if st := c.do(id, "GET", "/groups", "", &list); st != http.StatusOK || !list.Complete {
			return fmt.Errorf("node %d: GET /groups: %d, complete %v", id, st, list.Complete)
		}
		for _, d := range list.Groups {
			if d.GroupID == g {
				return fmt.Errorf("node %d: GET /groups lists %s", id, g)
			}
		}
		return nil
	}
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		for _, id := range all {
			if err := gone(id); err != nil {
				return err
			}
		}
		return nil
	})
	expired := func(group string) string { return `msg="group expired" group=` + group }
	for _, id := range all {
		log := c.procs[id].Log()
		if n, want := strings.Count(log, expired(g)), map[bool]int{true: 1}[id == coord]; n != want {
			t.Fatalf("node %d logged the expiry %d times, want %d:\n%s", id, n, want, log)
		}
		// The sweep kept the clocks in the shards (groupstore's active
		// and alive) without a refusal.
		if strings.Contains(log, "retention clocks") {
			t.Fatalf("node %d could not keep the retention clocks:\n%s", id, log)
		}
	}
	if n := c.metrics(coord)["goqueue_groups_expired_total"]; n != 1 {
		t.Fatalf("node %d: goqueue_groups_expired_total %v, want 1", coord, n)
	}
	var before api.GroupDescription
	if st := c.do(coord, "GET", "/groups/"+moved, "", &before); st != http.StatusOK || before.ExpiresAt == 0 {
		t.Fatalf("GET /groups/%s: %d, expires_at %d", moved, st, before.ExpiresAt)
	}
	// The coordinator dies: the node adopting the shard has no such group.
	killed := time.Now()
	c.procs[coord].Kill()
	others := []uint64{1, 3}
	var next uint64
	c.eventually(15*time.Second, "another node coordinates "+g+" and "+moved, func() bool {
		next = c.coordinatorOf(1, moved)
		ofG := c.coordinatorOf(1, g)
		return next != 0 && next != coord && c.coordinatorOf(3, moved) == next &&
			ofG != 0 && ofG != coord && c.coordinatorOf(3, g) == ofG
	})
	adopted := time.Now()
	var after api.GroupDescription
	if st := c.do(next, "GET", "/groups/"+moved, "", &after); st != http.StatusOK {
		t.Fatalf("node %d: GET /groups/%s once adopted: %d", next, moved, st)
	}
	for _, id := range others {
		if st := c.do(id, "GET", "/groups/"+g, "", nil); st != http.StatusNotFound {
			t.Fatalf("node %d: GET /groups/%s after the coordinator's death: %d, want 404", id, g, st)
		}
	}
	// Never sooner; later by no more than the time it had no coordinator
	// (at most killed..adopted) and the slack.
	shift := time.Duration(after.ExpiresAt-before.ExpiresAt) * time.Millisecond
	if shift < 0 || shift > adopted.Sub(killed)+slack+250*time.Millisecond {
		t.Fatalf("%s's expires_at moved %v across the move (no coordinator for at most %v): want between 0 and that plus %v",
			moved, shift, adopted.Sub(killed).Round(time.Millisecond), slack)
	}
	testkit.EventuallyNil(t, 10*time.Second, func() error {
		for _, id := range others {
			if st := c.do(id, "GET", "/groups/"+moved, "", nil); st != http.StatusNotFound {
				return fmt.Errorf("node %d: GET /groups/%s: %d", id, moved, st)
			}
		}
		return nil
	})
	if !strings.Contains(c.procs[next].Log(), expired(moved)) {
		t.Fatalf("node %d, %s's new coordinator, logged no expiry of it", next, moved)
	}
	t.Logf("took %v", time.Since(started).Round(10*time.Millisecond))
}

// A group's clock outlives a crash of the real binary (offsets.db keeps
// it) without the downtime: a group empty for most of --offsets-retention
// when the broker is killed is still there when it starts again, and goes
// the rest of the period later, well before a full one.
func TestBinaryGroupClockOutlivesCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const retention = 4 * time.Second
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"--offsets-retention", retention.String()}
	p := startBinary(t, dir, args...)
	if st := p.call(t, "POST", "/topics", `{"name":"orders","partitions":1}`, nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	if st := p.call(t, "POST", "/topics/orders/messages", `{"value":"a"}`, nil); st != 200 {
		t.Fatalf("publish: %d", st)
	}
	emptyGroupWithOffsets(t, p, "crashed")
	time.Sleep(retention * 5 / 8) // the sweeps keep its clock meanwhile
	p.kill()
	time.Sleep(retention) // down for a whole period: not counted
	p = startBinary(t, dir, args...)
	defer p.stop(t)
	started := time.Now()
	if st := p.call(t, "GET", "/groups/crashed", "", nil); st != http.StatusOK {
		t.Fatalf("GET /groups/crashed at the restart: %d, want 200", st)
	}
	testkit.EventuallyNil(t, retention*7/8, func() error {
		if st := p.call(t, "GET", "/groups/crashed", "", nil); st != http.StatusNotFound {
			return fmt.Errorf("GET /groups/crashed %v after the restart: %d", time.Since(started).Round(time.Millisecond), st)
		}
		return nil
	})
}
