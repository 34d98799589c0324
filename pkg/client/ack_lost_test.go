package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// An acknowledgement the broker refuses because the message is no longer
// the member's to settle (here: never delivered to it; as well, redelivered
// after its visibility deadline, or its partition gone to another member)
// did not take: the message is delivered again, and Commit says so
// (ErrAckLost), whichever way the acknowledgement went. One refused because
// the message is settled already (an ack applied whose answer was lost, sent
// again) holds, and is not counted. Commit returned nil for both before.
func TestCommitReportsLostAcks(t *testing.T) {
	sendOnAPoll := func(t *testing.T, cons *Consumer) {
		cons.mu.Lock()
		j := &aheadJob{sess: cons.state.session, want: 1}
		cons.mu.Unlock()
		cons.flushMu.Lock()
		defer cons.flushMu.Unlock()
		if _, err := cons.pollCarryingAcks(t.Context(), j); err != nil {
			t.Fatal(err)
		}
	}
	commitSends := func(*testing.T, *Consumer) {}
	for _, tc := range []struct {
		name     string
		noStream bool
		send     func(t *testing.T, cons *Consumer) // sends what is acknowledged
		lost     int64                              // acks of offsets not written yet
	}{
		{"ack requests", true, commitSends, 2},
		{"acks on a poll", true, sendOnAPoll, 2},
		{"the stream", false, commitSends, 2},
		// More refusals than an error body the client reads whole lists:
		// the broker counts them (the client found no list and counted 0).
		{"many, ack requests", true, commitSends, 20000},
		{"many, the stream", false, commitSends, 20000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Offsets 0 and 1 are delivered; those after are not written yet.
			_, cons, got := groupConsumer(t, 2, 2, ConsumerConfig{NoStream: tc.noStream}, nil)
			if (cons.liveStream() == nil) != tc.noStream {
				t.Fatalf("on the stream: %v, want %v", cons.liveStream() != nil, !tc.noStream)
			}
			if err := cons.Commit(got[0]); err != nil {
				t.Fatal(err)
			}
			// Acknowledge 0 again (settled), 1 (held) and those after (not
			// the member's): only the last are lost.
			cons.mu.Lock()
			cons.state.requeueAcksLocked([]api.OffsetRange{{Topic: "t", Partition: 0, From: 0, To: 2 + tc.lost}})
			cons.mu.Unlock()
			tc.send(t, cons)
			err := cons.Commit()
			var lost *AckLostError
			if !errors.Is(err, ErrAckLost) || !errors.As(err, &lost) || lost.Count != int64(tc.lost) ||
				!strings.Contains(err.Error(), fmt.Sprintf(" %d acknowledged messages", tc.lost)) {
				t.Fatalf("commit after acks of %d messages never delivered: %v, want ErrAckLost for them", tc.lost, err)
			}
			if err := cons.Commit(); err != nil {
				t.Fatalf("a commit after the report: %v, want nil (reported once)", err)
			}
		})
	}
}

// A poll carrying acks whose 200 answer says 2 acks lost but whose body does
// not decode is sent again by the transport; that try fails (STALE_GENERATION),
// so the acks are queued again, and the flush that sends them is refused for
// the same 2: they are counted there, once. The failed poll's count was
// counted too before (a review found it): Commit reported 4.
func TestPollAckRefusalsCountedOnce(t *testing.T) {
	var polls atomic.Int32
	fail := func(w http.ResponseWriter, e *api.Error) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.Status)
		json.NewEncoder(w).Encode(api.ErrorBody{Error: e})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/join"):
			json.NewEncoder(w).Encode(api.JoinResponse{MemberID: "m", Generation: 1, HeartbeatIntervalMS: 60000, SessionTimeoutMS: 60000,
				AssignedPartitions: api.Assignment{"t": {0}}})
		case strings.HasSuffix(r.URL.Path, "/poll"):
			if polls.Add(1) == 1 {
				w.Header().Set(api.PollAckRefusedHeader, "2")
				w.Header().Set("Content-Type", api.PollBatchesContentType)
				w.Write([]byte{1, 2, 3}) // does not decode
				return
			}
			fail(w, api.ErrStaleGeneration.Withf("heartbeat"))
		case strings.HasSuffix(r.URL.Path, "/ack"):
			var res api.AckResponse
			for off := int64(0); off < 2; off++ {
				res.Failed = append(res.Failed, api.MessageErr{MessageRef: api.MessageRef{Topic: "t", Partition: 0, Offset: off},
					Error: api.ErrNotInFlight.Withf("lost").WithDetail("state", "delivered")})
			}
			fail(w, api.ErrNotInFlight.Withf("lost").WithDetail("result", res))
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	cons, err := NewConsumer(&ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"t"}, NoStream: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if err := cons.ensureJoined(t.Context()); err != nil {
		t.Fatal(err)
	}
	cons.mu.Lock()
	cons.state.requeueAcksLocked([]api.OffsetRange{{Topic: "t", Partition: 0, From: 0, To: 2}})
	j := &aheadJob{sess: cons.state.session, want: 1}
	cons.mu.Unlock()
	cons.flushMu.Lock()
	_, err = cons.pollCarryingAcks(t.Context(), j)
	cons.flushMu.Unlock()
	if err == nil {
		t.Fatal("poll: want an error")
	}
	err = cons.Commit()
	if err == nil || !strings.Contains(err.Error(), " 2 acknowledged messages") {
		t.Fatalf("commit: %v, want ErrAckLost for 2", err)
	}
}
