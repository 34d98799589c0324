package client

import (
	"errors"
	"strings"
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
	for _, tc := range []struct {
		name     string
		noStream bool
		send     func(t *testing.T, cons *Consumer) // sends what is acknowledged
	}{
		{"ack requests", true, func(*testing.T, *Consumer) {}}, // Commit sends them
		{"acks on a poll", true, func(t *testing.T, cons *Consumer) {
			cons.mu.Lock()
			j := &aheadJob{sess: cons.state.session, want: 1}
			cons.mu.Unlock()
			if _, err := cons.pollCarryingAcks(t.Context(), j); err != nil {
				t.Fatal(err)
			}
		}},
		{"the stream", false, func(*testing.T, *Consumer) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Offsets 0 and 1 are delivered; 2 and 3 are not written yet.
			_, cons, got := groupConsumer(t, 2, 2, ConsumerConfig{NoStream: tc.noStream}, nil)
			if (cons.liveStream() == nil) != tc.noStream {
				t.Fatalf("on the stream: %v, want %v", cons.liveStream() != nil, !tc.noStream)
			}
			if err := cons.Commit(got[0]); err != nil {
				t.Fatal(err)
			}
			// Acknowledge 0 again (settled), 1 (held) and 2–3 (not the
			// member's): only the last two are lost.
			cons.mu.Lock()
			cons.state.requeueAcksLocked([]api.OffsetRange{{Topic: "t", Partition: 0, From: 0, To: 4}})
			cons.mu.Unlock()
			tc.send(t, cons)
			err := cons.Commit()
			if !errors.Is(err, ErrAckLost) || !strings.Contains(err.Error(), " 2 acknowledged messages") {
				t.Fatalf("commit after acks of 2 messages never delivered: %v, want ErrAckLost for 2", err)
			}
			if err := cons.Commit(); err != nil {
				t.Fatalf("a commit after the report: %v, want nil (reported once)", err)
			}
		})
	}
}
