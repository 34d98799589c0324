package broker

import (
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// rangeBroker has one member holding offsets 0–9 of t/0 and 0–4 of t/1.
func rangeBroker(t *testing.T) (*Broker, JoinResult) {
	t.Helper()
	c := DefaultConfig()
	c.DataDir = t.TempDir()
	c.Logger = slog.New(slog.DiscardHandler)
	b, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	for p, n := range []int{10, 5} {
		msgs := make([]Message, n)
		for i := range msgs {
			msgs[i] = Message{Value: []byte("v"), Partition: int32(p)}
		}
		if _, err := b.Publish("t", msgs); err != nil {
			t.Fatal(err)
		}
	}
	j, err := b.JoinGroup("g", JoinParams{Topics: []string{"t"}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := b.Poll(t.Context(), "g", PollParams{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: 100}, "h")
	if err != nil || len(ds) != 15 {
		t.Fatalf("poll: %d messages, %v", len(ds), err)
	}
	return b, j
}

func TestAckRanges(t *testing.T) {
	for _, tc := range []struct {
		name       string
		refs       []MessageRef
		ranges     []OffsetRange
		code       string // the error's code; "" for none
		succeeded  int
		failed     []int64 // offsets of t/0 in resp.Failed
		committed0 int64
		committed1 int64
	}{
		{name: "whole partitions", ranges: []OffsetRange{rg(0, 0, 10), rg(1, 0, 5)},
			succeeded: 15, committed0: 10, committed1: 5},
		{name: "prefix and a gap", ranges: []OffsetRange{rg(0, 0, 4), rg(0, 6, 8)},
			succeeded: 6, committed0: 4},
		{name: "with messages", refs: []MessageRef{{Topic: "t", Partition: 0, Offset: 4}}, ranges: []OffsetRange{rg(0, 0, 4), rg(0, 5, 6)},
			succeeded: 6, committed0: 6},
		{name: "past what was polled", ranges: []OffsetRange{rg(0, 8, 12)},
			code: api.ErrNotInFlight.Code, succeeded: 2, failed: []int64{10, 11}},
		{name: "acked twice", ranges: []OffsetRange{rg(0, 0, 2), rg(0, 1, 3)},
			code: api.ErrNotInFlight.Code, succeeded: 3, failed: []int64{1}, committed0: 3},
		{name: "partition that does not exist", ranges: []OffsetRange{rg(5, 0, 2)},
			code: api.ErrPartitionNotFound.Code},
		{name: "empty", ranges: []OffsetRange{rg(0, 3, 3)}, code: api.ErrInvalidArgument.Code},
		{name: "reversed", ranges: []OffsetRange{rg(0, 3, 1)}, code: api.ErrInvalidArgument.Code},
		{name: "negative", ranges: []OffsetRange{rg(0, -1, 1)}, code: api.ErrInvalidArgument.Code},
		{name: "too many", ranges: []OffsetRange{rg(0, 0, 60000), rg(1, 0, 60000)}, code: api.ErrInvalidArgument.Code},
		{name: "overflowing", ranges: []OffsetRange{rg(0, 0, 10), rg(1, 0, 1<<63-1)}, code: api.ErrInvalidArgument.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, j := rangeBroker(t)
			resp, err := b.Ack("g", Settle{MemberID: j.MemberID, Generation: j.Generation, Messages: tc.refs, Ranges: tc.ranges}, "h")
			var ae *api.Error
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("ack: %v", err)
			case tc.code != "" && (!errors.As(err, &ae) || ae.Code != tc.code):
				t.Fatalf("ack: %v, want %s", err, tc.code)
			}
			if resp.Succeeded != tc.succeeded {
				t.Fatalf("succeeded %d, want %d", resp.Succeeded, tc.succeeded)
			}
			var failed []int64
			for _, f := range resp.Failed {
				if f.Partition == 0 {
					failed = append(failed, f.Offset)
				}
			}
			if !slices.Equal(failed, tc.failed) {
				t.Fatalf("failed offsets %v, want %v", failed, tc.failed)
			}
			o, err := b.GroupOffsets("g")
			if err != nil {
				t.Fatal(err)
			}
			if o["t"][0] != tc.committed0 || o["t"][1] != tc.committed1 {
				t.Fatalf("committed %v, want t/0 %d t/1 %d", o["t"], tc.committed0, tc.committed1)
			}
		})
	}
}

// Nack and extend take ranges too: a nacked range comes back with a second
// delivery, an extended one stays in flight.
func TestNackExtendRanges(t *testing.T) {
	b, j := rangeBroker(t)
	req := Settle{MemberID: j.MemberID, Generation: j.Generation, Ranges: []OffsetRange{rg(1, 0, 5)}}
	if resp, err := b.Extend("g", ExtendParams{Settle: req}, "h"); err != nil || resp.Succeeded != 5 {
		t.Fatalf("extend: %+v %v", resp, err)
	}
	if resp, err := b.Nack("g", NackParams{Settle: req, Delay: time.Millisecond}, "h"); err != nil || resp.Succeeded != 5 {
		t.Fatalf("nack: %+v %v", resp, err)
	}
	ds, err := b.Poll(t.Context(), "g", PollParams{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: 100, Wait: time.Duration(5000) * time.Millisecond}, "h")
	if err != nil || len(ds) != 5 {
		t.Fatalf("poll after nack: %d, %v", len(ds), err)
	}
	for _, d := range ds {
		if d.Partition != 1 || d.DeliveryCount != 2 {
			t.Fatalf("redelivered %s/%d@%d count %d", d.Topic, d.Partition, d.Record.Offset, d.DeliveryCount)
		}
	}
}

func rg(p int32, from, to int64) OffsetRange {
	return OffsetRange{Topic: "t", Partition: p, From: from, To: to}
}
