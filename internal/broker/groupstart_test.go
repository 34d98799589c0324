package broker

import (
	"context"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// offset_reset latest applies to the partitions a group sees when it first
// subscribes to a topic; a partition added later starts at its earliest
// offset, so what is produced to it before the group's first poll of it is
// delivered.
func TestLatestDoesNotSkipAddedPartitions(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish("t", []Message{{Value: []byte("before the join"), Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	jr, err := b.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{"t"}, OffsetReset: api.OffsetResetLatest}, "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddPartitions("t", 2); err != nil {
		t.Fatal(err)
	}
	b.coord.syncTopics() // what the timer loop does on a topic change
	if _, err := b.Publish("t", []Message{{Value: []byte("p1 first"), Partition: 1}, {Value: []byte("p0 after"), Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	gen, owned := jr.Generation, jr.Assigned
	for range 5 {
		hr, err := b.Heartbeat("g", HeartbeatParams{MemberID: "m", Generation: gen, Owned: owned}, "h")
		if err != nil {
			t.Fatal(err)
		}
		gen, owned = hr.Generation, hr.Assigned
	}
	got, err := b.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: gen}, "h")
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
			c := testConfig(t)
			b := mustOpen(t, c)
			if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 2}); err != nil {
				b.Close()
				t.Fatal(err)
			}
			for range 3 {
				if _, err := b.Publish("t", []Message{{Value: []byte("x"), Partition: 0}}); err != nil {
					b.Close()
					t.Fatal(err)
				}
			}
			jr, err := b.JoinGroup("g", JoinParams{MemberID: "m", Topics: []string{"t"}, OffsetReset: reset}, "h")
			if err != nil {
				b.Close()
				t.Fatal(err)
			}
			if _, err := b.Publish("t", []Message{{Value: []byte("y"), Partition: 1}}); err != nil {
				b.Close()
				t.Fatal(err)
			}
			got, err := b.Poll(context.Background(), "g", PollParams{MemberID: "m", Generation: jr.Generation, MaxMessages: 1}, "h")
			if err != nil || len(got) != 1 {
				b.Close()
				t.Fatalf("poll: %d, %v", len(got), err)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			b = mustOpen(t, c)
			defer b.Close()
			d, err := b.DescribeGroup("g")
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
