package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// offset_reset latest applies to the partitions a group sees when it first
// subscribes to a topic; a partition added later starts at its earliest
// offset, so what is produced to it before the group's first poll of it is
// delivered.
func TestLatestDoesNotSkipAddedPartitions(t *testing.T) {
	c, tb := openTest(t, nil)
	tb.createTopic("t", 1)
	tb.publish("t", 0, []byte("before the join"))
	jr, err := c.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{"t"}, OffsetReset: api.OffsetResetLatest}, "h")
	if err != nil {
		t.Fatal(err)
	}
	tb.addPartitions("t", 2)
	c.syncTopics() // what the timer loop does on a topic change
	tb.publish("t", 1, []byte("p1 first"))
	tb.publish("t", 0, []byte("p0 after"))
	gen, owned := jr.Generation, jr.Assigned
	for range 5 {
		hr, err := c.Heartbeat("g", HeartbeatParams{MemberID: "m", Generation: gen, Owned: owned}, "h")
		if err != nil {
			t.Fatal(err)
		}
		gen, owned = hr.Generation, hr.Assigned
	}
	got, err := c.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: gen}, "h")
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, d := range got {
		vals = append(vals, string(d.Record.Value))
	}
	if len(vals) != 2 || !(vals[0] == "p1 first" || vals[1] == "p1 first") {
		t.Fatalf("polled %q, want p0's message after the join and p1's first", vals)
	}
}

// A group that took partitions but acknowledged nothing keeps its start
// offsets (of every partition of the topic, owned or not polled yet), and so
// its lag, across a restart.
func TestStartOffsetsSurviveRestart(t *testing.T) {
	for _, reset := range []string{api.OffsetResetEarliest, api.OffsetResetLatest} {
		t.Run(reset, func(t *testing.T) {
			tb := newTestBroker(t, time.Now)
			cfg := testConfig(t, nil)
			c := mustOpen(t, cfg, tb)
			tb.createTopic("t", 2)
			tb.publish("t", 0, []byte("x"), []byte("x"), []byte("x"))
			jr, err := c.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{"t"}, OffsetReset: reset}, "h")
			if err != nil {
				c.Close()
				t.Fatal(err)
			}
			tb.publish("t", 1, []byte("y"))
			got, err := c.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: jr.Generation, MaxMessages: 1}, "h")
			if err != nil || len(got) != 1 {
				c.Close()
				t.Fatalf("poll: %d, %v", len(got), err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			c = mustOpen(t, cfg, tb)
			defer c.Close()
			d, err := c.DescribeGroup("g")
			if err != nil {
				t.Fatalf("after a restart: %v", err)
			}
			want := int64(4) // earliest: all of p0 and p1
			if reset == api.OffsetResetLatest {
				want = 1 // p1's message after the join
			}
			if d.Lag != want || len(d.Partitions) != 2 {
				t.Fatalf("after a restart: lag %d over %+v, want %d over 2 partitions", d.Lag, d.Partitions, want)
			}
		})
	}
}
