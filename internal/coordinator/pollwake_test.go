package coordinator

import (
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// A long poll waits on the appends to the partitions assigned to its
// member only: an append to another member's partition does not wake it
// (it used to wake every member's poll, each to find nothing of its own),
// an append to its own does.
func TestPollWaitsOnAssignedPartitions(t *testing.T) {
	c, tb := openTest(t, nil)
	tb.createTopic("t", 3)
	_, chans := c.pollView([]string{"t"}, api.Assignment{"t": {1}})
	if len(chans) != 1 {
		t.Fatalf("waits on %d partitions, want 1 (the assigned)", len(chans))
	}
	tb.publish("t", 0, []byte("other's"))
	tb.publish("t", 2, []byte("other's"))
	select {
	case <-chans[0]:
		t.Fatal("woken by an append to a partition it is not assigned")
	default:
	}
	tb.publish("t", 1, []byte("own"))
	select {
	case <-chans[0]:
	default:
		t.Fatal("not woken by an append to its partition")
	}
	if _, chans := c.pollView([]string{"t"}, nil); len(chans) != 0 {
		t.Fatalf("a member assigned nothing waits on %d partitions", len(chans))
	}
}
