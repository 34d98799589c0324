package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// pollWith polls with acks riding on the poll and returns the status and
// body.
func (m *member) pollWith(max int, acks ...api.OffsetRange) (int, []byte) {
	m.t.Helper()
	return m.s.Do("POST", "/groups/"+m.group+"/poll",
		api.PollRequest{MemberID: m.id, Generation: m.gen, MaxMessages: max, Acks: acks})
}

func committed(t *testing.T, s *brokertest.Server, group, topic string) int64 {
	t.Helper()
	var resp api.OffsetsResponse
	if status := s.DoJSON("GET", "/groups/"+group+"/offsets", nil, &resp); status != http.StatusOK {
		t.Fatalf("offsets of %s: %d", group, status)
	}
	return resp.Offsets[topic][0]
}

func orders(from, to int64) api.OffsetRange {
	return api.OffsetRange{Topic: "orders", Partition: 0, From: from, To: to}
}

// Acks riding on a poll settle what they name before the poll takes the next
// messages; what is not this member's to settle is counted, not an error.
func TestPollCarriesAcks(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	publishSpread(t, s, "orders", 10)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	if got := m.poll(5, 0); len(got) != 5 {
		t.Fatalf("first poll: %d messages, want 5", len(got))
	}

	// 0–4 are in flight; 7 and 8 were never delivered.
	status, raw := m.pollWith(10, orders(0, 5), orders(7, 9))
	if status != http.StatusOK {
		t.Fatalf("poll with acks: %d %s", status, raw)
	}
	var resp api.PollResponse
	mustUnmarshal(t, raw, &resp)
	if resp.AckRefused != 2 {
		t.Fatalf("ack_refused %d, want 2 (offsets 7 and 8 were not in flight): %s", resp.AckRefused, raw)
	}
	if len(resp.Messages) != 5 || resp.Messages[0].Offset != 5 {
		t.Fatalf("poll after acks answered %v, want offsets 5–9", refs(resp.Messages))
	}
	if c := committed(t, s, "g", "orders"); c != 5 {
		t.Fatalf("committed %d after acking 0–4 on a poll, want 5", c)
	}

	// The binary answer says the refusals in its header; an ack of a
	// message settled already (offset 0) holds, and is not counted.
	body, _ := json.Marshal(api.PollRequest{MemberID: m.id, Generation: m.gen, Acks: []api.OffsetRange{orders(0, 1), orders(5, 11)}})
	req, err := http.NewRequest("POST", s.URL+"/groups/g/poll", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", api.PollBatchesContentType)
	hr, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, hr.Body)
	hr.Body.Close()
	if hr.StatusCode != http.StatusOK || hr.Header.Get(api.PollAckRefusedHeader) != "1" {
		t.Fatalf("binary poll: %d, %s %q, want 200 and 1 (offset 10 was never delivered; 0 is settled)",
			hr.StatusCode, api.PollAckRefusedHeader, hr.Header.Get(api.PollAckRefusedHeader))
	}
	if c := committed(t, s, "g", "orders"); c != 10 {
		t.Fatalf("committed %d after acking 5–9 on a binary poll, want 10", c)
	}
}

// Acks a poll cannot take as a whole fail the poll and settle nothing.
func TestPollAcksRefusedAsAWhole(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	publishSpread(t, s, "orders", 4)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	if got := m.poll(2, 0); len(got) != 2 {
		t.Fatalf("first poll: %d messages, want 2", len(got))
	}

	status, raw := m.pollWith(10, orders(1, 0))
	if e := wantError(t, status, raw, api.ErrInvalidArgument); e.Details["field"] != "acks" {
		t.Fatalf("a reversed range: details %v, want field acks", e.Details)
	}

	stale := *m
	stale.gen--
	status, raw = stale.pollWith(10, orders(0, 2))
	wantError(t, status, raw, api.ErrStaleGeneration)

	if c := committed(t, s, "g", "orders"); c != 0 {
		t.Fatalf("committed %d after refused acks, want 0", c)
	}
	// Still this member's, in flight: a plain ack settles them.
	if status, res := m.settle("ack", api.AckRequest{Ranges: []api.OffsetRange{orders(0, 2)}}); status != http.StatusOK || res.Succeeded != 2 {
		t.Fatalf("ack after refused poll acks: %d %+v, want both settled", status, res)
	}
}
