package coordinator

import (
	"context"
	"testing"
	"time"
)

// A topic deleted and created again under its name with as many
// partitions, with no topic sync in between, is a new topic to the group:
// its old offsets are dropped (in memory and in offsets.db) and the new
// topic is consumed from its start.
func TestRecreatedTopicDropsOldOffsets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	tb := newTestBroker(t, clock)
	cfg := testConfig(t, clock)
	c := mustOpen(t, cfg, tb)
	defer func() { c.Close() }()
	tb.createTopic("t", 1)
	c.syncTopics()
	for range 5 {
		tb.publish("t", 0, []byte("old"))
	}
	jr, err := c.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{"t"}, SessionTimeout: time.Duration(300000) * time.Millisecond}, "h")
	if err != nil {
		t.Fatal(err)
	}
	poll := func() []Delivered {
		got, err := c.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: jr.Generation}, "h")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := poll()
	if len(got) != 5 {
		t.Fatalf("polled %d of the old topic", len(got))
	}
	if _, err := c.Ack("g", Settle{MemberID: "m", Generation: jr.Generation, Ranges: []OffsetRange{{Topic: "t", From: 0, To: 5}}}, "h"); err != nil {
		t.Fatal(err)
	}
	tb.deleteTopic("t")
	now = now.Add(time.Second)
	tb.createTopic("t", 1)
	tb.publish("t", 0, []byte("new 0"), []byte("new 1"))
	c.syncTopics() // one sync sees only the end state: same name, same count
	hr, err := c.Heartbeat("g", HeartbeatParams{MemberID: "m", Generation: jr.Generation, Owned: jr.Assigned}, "h")
	if err != nil {
		t.Fatal(err)
	}
	jr.Generation = hr.Generation
	got = poll()
	if len(got) != 2 || string(got[0].Record.Value) != "new 0" {
		t.Fatalf("polled %d of the new topic, want its 2 messages", len(got))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = mustOpen(t, cfg, tb)
	offs, err := c.GroupOffsets("g")
	if err != nil {
		t.Fatal(err)
	}
	if off, ok := offs["t"][0]; !ok || off != 0 {
		t.Fatalf("stored offsets after a restart: %v, want t/0 at 0", offs)
	}
}

// The same across a restart: offsets stored for a topic that was deleted
// and created again before any topic sync (the broker stopped first) are
// dropped at the first sync after the restart.
func TestRecreatedTopicAcrossRestart(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	tb := newTestBroker(t, clock)
	cfg := testConfig(t, clock)
	c := mustOpen(t, cfg, tb)
	defer func() { c.Close() }()
	tb.createTopic("t", 1)
	for range 5 {
		tb.publish("t", 0, []byte("old"))
	}
	jr, err := c.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{"t"}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: jr.Generation}, "h"); err != nil || len(got) != 5 {
		t.Fatalf("poll: %d, %v", len(got), err)
	}
	if _, err := c.Ack("g", Settle{MemberID: "m", Generation: jr.Generation, Ranges: []OffsetRange{{Topic: "t", From: 0, To: 5}}}, "h"); err != nil {
		t.Fatal(err)
	}
	tb.deleteTopic("t")
	now = now.Add(time.Second)
	tb.createTopic("t", 1)
	tb.publish("t", 0, []byte("new 0"), []byte("new 1"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = mustOpen(t, cfg, tb)
	c.syncTopics() // the first, as Run does
	jr, err = c.JoinGroup("g", JoinParams{MemberID: "m2", Topics: []string{"t"}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Poll(context.Background(), "g", PollParams{MemberID: "m2", Generation: jr.Generation}, "h")
	if err != nil || len(got) != 2 {
		t.Fatalf("polled %d of the new topic, %v; want its 2 messages", len(got), err)
	}
}
