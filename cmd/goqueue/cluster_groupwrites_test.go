package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// The user guide's consumer-group sequence (docs: consumer-groups.md),
// sent with plain HTTP as curl sends it to a node that does not coordinate
// the group, works as on a single broker: join, poll, ack, commit,
// heartbeat, describe, leave, each answered by the coordinator, which the
// answer names. Every write answered 421 NOT_COORDINATOR there, which
// curl does not follow. A request saying it talks to coordinators itself
// (the Go client's) is still told NOT_COORDINATOR.
func TestBinaryClusterGuideSequenceOnAnyNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const coord, via = 2, 1
	c := startClusterProcs(t, 3)
	c.agree([]uint64{1, 2, 3}, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	var tp api.Topic
	if st := c.do(via, "POST", "/topics", `{"name":"orders","partitions":1}`, &tp); st != http.StatusCreated {
		t.Fatalf("create orders: %d", st)
	}
	c.topic(coord, "orders")
	if st := c.do(tp.PartitionInfo[0].Leader, "POST", "/topics/orders/messages", `{"messages":[{"value":"order 1"}]}`, nil); st != http.StatusOK && st != http.StatusCreated {
		t.Fatalf("publish: %d", st)
	}
	group := groupOn("order-service", coord)
	c.awaitCoordinator(coord, group, 1, 2, 3)

	send := func(method, path, body string, header ...string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, c.procs[via].URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := c.httpClient().Do(req)
		if err != nil {
			t.Fatalf("%s %s on node %d: %v", method, path, via, err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s on node %d: %v", method, path, via, err)
		}
		if by := resp.Header.Get(httpapi.ServedByHeader); resp.StatusCode < 300 && by != strconv.Itoa(coord) {
			t.Fatalf("%s %s on node %d: %d, served by %q, want node %d: %s", method, path, via, resp.StatusCode, by, coord, raw)
		}
		return resp.StatusCode, raw
	}
	g := "/groups/" + group
	var joined api.JoinResponse
	st, raw := send("POST", g+"/join", `{"member_id":"consumer-1","topics":["orders"],"session_timeout_ms":30000}`)
	if st != http.StatusOK || json.Unmarshal(raw, &joined) != nil || joined.Generation == 0 || len(joined.AssignedPartitions["orders"]) != 1 {
		t.Fatalf("join: %d %s", st, raw)
	}
	member := fmt.Sprintf(`"member_id":"consumer-1","generation":%d`, joined.Generation)
	var polled api.PollResponse
	st, raw = send("POST", g+"/poll", `{`+member+`,"wait_ms":5000}`)
	if st != http.StatusOK || json.Unmarshal(raw, &polled) != nil || len(polled.Messages) != 1 {
		t.Fatalf("poll: %d %s", st, raw)
	}
	m := polled.Messages[0]
	for _, s := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", g + "/ack", fmt.Sprintf(`{%s,"messages":[{"topic":"orders","partition":%d,"offset":%d}]}`, member, m.Partition, m.Offset), http.StatusOK},
		{"POST", g + "/offsets", fmt.Sprintf(`{%s,"offsets":{"orders":{"%d":%d}}}`, member, m.Partition, m.Offset+1), http.StatusOK},
		{"POST", g + "/heartbeat", `{` + member + `}`, http.StatusOK},
		{"GET", g, "", http.StatusOK},
		{"POST", g + "/leave", `{"member_id":"consumer-1"}`, http.StatusNoContent},
	} {
		if st, raw := send(s.method, s.path, s.body); st != s.want {
			t.Fatalf("%s %s: %d %s", s.method, s.path, st, raw)
		}
	}
	var offsets api.OffsetsResponse
	if st := c.do(coord, "GET", g+"/offsets", "", &offsets); st != http.StatusOK || offsets.Offsets["orders"][m.Partition] != m.Offset+1 {
		t.Fatalf("the group's offsets on its coordinator: %d %v", st, offsets.Offsets)
	}
	var e api.ErrorBody
	st, raw = send("POST", g+"/join", `{"topics":["orders"]}`, api.NoForwardHeader, "true")
	if json.Unmarshal(raw, &e); st != http.StatusMisdirectedRequest || e.Error == nil || e.Error.Code != api.ErrNotCoordinator.Code ||
		e.Error.Details["coordinator_addr"] != strings.TrimPrefix(c.procs[coord].URL, "http://") {
		t.Fatalf("a join asking not to be passed on: %d %s", st, raw)
	}
}
