package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// A long poll answers at once, with "rebalance": true (and the header),
// when a join gives its member partitions to release; its member then
// learns the revocation from a heartbeat.
func TestPollAnswersRebalanceAtOnce(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	a := join(t, s, "g", api.JoinRequest{MemberID: "a", Topics: []string{"orders"}})
	answered := make(chan *http.Response, 1)
	started := time.Now()
	go func() {
		body, _ := json.Marshal(api.PollRequest{MemberID: a.id, Generation: a.gen, WaitMS: 20000})
		resp, err := s.Client().Post(s.URL+"/groups/g/poll", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Error(err)
			answered <- nil
			return
		}
		answered <- resp
	}()
	s.WaitInFlight(1) // a's poll waits
	join(t, s, "g", api.JoinRequest{MemberID: "b", Topics: []string{"orders"}})
	resp := <-answered
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	var got api.PollResponse
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !got.Rebalance || resp.Header.Get(api.PollRebalanceHeader) != "true" || len(got.Messages) != 0 {
		t.Fatalf("poll answered %+v, header %q; want rebalance true, no messages", got, resp.Header.Get(api.PollRebalanceHeader))
	}
	if waited := time.Since(started); waited > 10*time.Second {
		t.Fatalf("poll answered after %v, not at the join", waited)
	}
	if hb := a.heartbeat(); len(hb.RevokedPartitions["orders"]) != 1 {
		t.Fatalf("a's heartbeat after the nudge: %+v, want one partition revoked", hb)
	}
}
