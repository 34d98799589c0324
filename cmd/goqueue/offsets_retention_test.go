package main

import (
	"fmt"
	"io"
	"net/http"
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
	// Still there within the retention.
	var list api.GroupList
	if st := p.call(t, "GET", "/groups", "", &list); st != 200 || len(list.Groups) != 2 {
		t.Fatalf("GET /groups at once: %d, %d groups, want 2", st, len(list.Groups))
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
