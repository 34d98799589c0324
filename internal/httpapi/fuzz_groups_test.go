package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// groupOps are the group endpoints whose bodies FuzzGroupBodies sends; the
// fuzzed op byte picks one.
var groupOps = []string{"join", "heartbeat", "leave", "poll", "ack", "nack", "extend", "offsets", "offsets/reset"}

// Member IDs are "<client_id or member>-<seq>" so that fuzzed bodies can
// name real members: the anchor of each group is "anchor-1".
func fuzzMemberID(clientID string, seq uint64, _ time.Time) string {
	if clientID == "" {
		clientID = "member"
	}
	return fmt.Sprintf("%s-%d", clientID, seq)
}

// FuzzGroupBodies sends arbitrary bytes as the body of one group request to
// a real broker, in a fresh group whose anchor member has joined and holds
// messages in flight. The answer must never be a 5xx; it is either a success
// with a JSON (or empty) body or a coded error of the table with its own
// status. Afterwards the group must still be consistent (no partition owned
// or being revoked by two members, only existing subscribed partitions) and
// the anchor must still get a coded answer to a heartbeat.
func FuzzGroupBodies(f *testing.F) {
	quiet := slog.New(slog.DiscardHandler)
	srv := brokertest.Start(f,
		brokertest.WithConfig(func(c *broker.Config) {
			c.Logger = quiet
			c.Groups.SessionTimeout = time.Second
			c.Groups.MinSessionTimeout = 50 * time.Millisecond
			c.Groups.MaxSessionTimeout = time.Second
			c.Groups.MaxRebalanceTimeout = time.Second
			c.Groups.NewMemberID = fuzzMemberID
		}),
		brokertest.WithHTTP(func(o *httpapi.Options) {
			o.Logger = quiet
			o.MaxWait = 20 * time.Millisecond // a fuzzed wait_ms must not stall the fuzzer
		}))
	if st, raw := srv.Do("POST", "/topics", api.CreateTopicRequest{Name: "t", Partitions: 2}); st != http.StatusCreated {
		f.Fatalf("create topic: %d %s", st, raw)
	}
	if st, raw := srv.Do("POST", "/topics", api.CreateTopicRequest{Name: "u", Partitions: 1}); st != http.StatusCreated {
		f.Fatalf("create topic: %d %s", st, raw)
	}
	msgs := make([]map[string]any, 20)
	for i := range msgs {
		msgs[i] = map[string]any{"value": fmt.Sprintf("m%d", i), "partition": i % 2}
	}
	if st, raw := srv.Do("POST", "/topics/t/messages", map[string]any{"messages": msgs}); st != http.StatusOK && st != http.StatusCreated {
		f.Fatalf("publish: %d %s", st, raw)
	}

	anchor := `"member_id":"anchor-1","generation":1`
	for op, body := range map[string]string{
		"join":          `{"topics":["t"],"session_timeout_ms":200,"assignor":"range","client_id":"c"}`,
		"heartbeat":     `{` + anchor + `,"owned_partitions":{"t":[0,1]}}`,
		"leave":         `{"member_id":"anchor-1"}`,
		"poll":          `{` + anchor + `,"max_messages":3,"wait_ms":0}`,
		"ack":           `{` + anchor + `,"messages":[{"topic":"t","partition":0,"offset":0}],"ranges":[{"topic":"t","partition":1,"from":0,"to":2}]}`,
		"nack":          `{` + anchor + `,"messages":[{"topic":"t","partition":0,"offset":1}],"requeue":false,"reason":"x"}`,
		"extend":        `{` + anchor + `,"messages":[{"topic":"t","partition":1,"offset":0}],"visibility_timeout_ms":1000}`,
		"offsets":       `{` + anchor + `,"offsets":{"t":{"0":5,"1":-3}}}`,
		"offsets/reset": `{"offsets":{"t":{"0":0}},"to":"earliest"}`,
	} {
		for i, o := range groupOps {
			if o == op {
				f.Add(uint8(i), []byte(body))
			}
		}
	}
	f.Add(uint8(0), []byte(`{"topics":["t","u","nope"],"instance_id":"i","session_timeout_ms":-1}`))
	f.Add(uint8(1), []byte(`{"member_id":"anchor-1","generation":99,"owned_partitions":{"t":[7]}}`))
	f.Add(uint8(4), []byte(`{"member_id":"anchor-1","generation":1,"ranges":[{"topic":"t","partition":0,"from":9,"to":1}]}`))
	f.Add(uint8(3), []byte(`null`))
	f.Add(uint8(2), []byte{})

	var seq atomic.Int64
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		group := fmt.Sprintf("fz-%d", seq.Add(1))
		path := "/groups/" + group + "/"
		st, raw := post(t, srv, path+"join", []byte(`{"topics":["t"],"client_id":"anchor","session_timeout_ms":1000}`))
		if st != http.StatusOK {
			t.Fatalf("anchor join: %d %s", st, raw)
		}
		var joined api.JoinResponse
		if err := json.Unmarshal(raw, &joined); err != nil || joined.MemberID != "anchor-1" {
			t.Fatalf("anchor join answer %s: %v", raw, err)
		}
		if st, raw := post(t, srv, path+"poll", fmt.Appendf(nil, `{"member_id":"anchor-1","generation":%d,"max_messages":4}`, joined.Generation)); st != http.StatusOK {
			t.Fatalf("anchor poll: %d %s", st, raw)
		}

		name := groupOps[int(op)%len(groupOps)]
		st, raw = post(t, srv, path+name, body)
		checkAnswer(t, name, st, raw)
		checkGroup(t, srv, group)
		st, raw = post(t, srv, path+"heartbeat", fmt.Appendf(nil, `{"member_id":"anchor-1","generation":%d,"owned_partitions":{}}`, joined.Generation))
		checkAnswer(t, "anchor heartbeat", st, raw)

		// Leave room for the next inputs: members go, the group is deleted
		// once empty (fuzzed joins expire within a second).
		post(t, srv, path+"leave", []byte(`{"member_id":"anchor-1"}`))
		deleteGroup(t, srv, group)
	})
}

// post sends body to path with the JSON content type.
func post(t *testing.T, srv *brokertest.Server, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return fuzzSend(t, srv, req)
}

func fuzzSend(t *testing.T, srv *brokertest.Server, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, raw
}

// deleteGroup deletes group if it is empty, best effort.
func deleteGroup(t *testing.T, srv *brokertest.Server, group string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, srv.URL+"/groups/"+group, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, raw := fuzzSend(t, srv, req)
	checkAnswer(t, "delete group", st, raw)
}

// checkAnswer fails unless the answer is a success with an empty or JSON
// body, or a coded error of api's table with the table's status.
func checkAnswer(t *testing.T, what string, status int, raw []byte) {
	t.Helper()
	if status >= 500 {
		t.Fatalf("%s: %d %s", what, status, raw)
	}
	if status < 300 {
		if len(raw) > 0 && !json.Valid(raw) {
			t.Fatalf("%s: %d with a body that is not JSON: %q", what, status, raw)
		}
		return
	}
	var body api.ErrorBody
	if err := json.Unmarshal(raw, &body); err != nil || body.Error == nil || body.Error.Message == "" {
		t.Fatalf("%s: %d answer is not a coded error: %q (%v)", what, status, raw, err)
	}
	for _, e := range api.Codes() {
		if e.Code == body.Error.Code {
			if e.Status != status {
				t.Fatalf("%s: %s answered with %d, the table says %d", what, e.Code, status, e.Status)
			}
			return
		}
	}
	t.Fatalf("%s: code %q is not in the table", what, body.Error.Code)
}

// checkGroup fails unless group is described consistently: every member's
// assigned and revoking partitions exist, are of topics it subscribes to,
// and belong to no other member.
func checkGroup(t *testing.T, srv *brokertest.Server, group string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/groups/"+group, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, raw := fuzzSend(t, srv, req)
	if st == http.StatusNotFound {
		checkAnswer(t, "describe group", st, raw)
		return
	}
	var d api.GroupDescription
	if err := json.Unmarshal(raw, &d); st != http.StatusOK || err != nil {
		t.Fatalf("describe group: %d %s (%v)", st, raw, err)
	}
	counts := map[string]int32{"t": 2, "u": 1}
	owner := make(map[string]string)
	for _, m := range d.Members {
		subscribed := make(map[string]bool)
		for _, tp := range m.Topics {
			subscribed[tp] = true
		}
		for _, a := range []api.Assignment{m.AssignedPartitions, m.RevokingPartitions} {
			for tp, parts := range a {
				for _, p := range parts {
					if !subscribed[tp] || p < 0 || p >= counts[tp] {
						t.Fatalf("member %s holds %s/%d (subscribed to %v): %s", m.MemberID, tp, p, m.Topics, raw)
					}
					k := fmt.Sprintf("%s/%d", tp, p)
					if o, ok := owner[k]; ok && o != m.MemberID {
						t.Fatalf("%s held by both %s and %s: %s", k, o, m.MemberID, raw)
					}
					owner[k] = m.MemberID
				}
			}
		}
		if m.InFlight < 0 {
			t.Fatalf("member %s has %d in flight", m.MemberID, m.InFlight)
		}
	}
	if d.Lag < 0 {
		t.Fatalf("group lag %d: %s", d.Lag, raw)
	}
}
