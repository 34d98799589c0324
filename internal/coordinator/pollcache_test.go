package coordinator

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// A poll reads ahead of what it takes and the group's next polls take from
// that run: the stored batch is not read (and checked and decoded) again.
func TestPollTakesFromTheRunReadAhead(t *testing.T) {
	c, tb := openTest(t, nil)
	tb.createTopic("t", 1)
	msgs := make([][]byte, 100)
	for i := range msgs {
		msgs[i] = []byte{byte(i)}
	}
	tb.publish("t", 0, msgs...)
	j, err := c.JoinGroup("g", JoinParams{Topics: []string{"t"}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	key := runKey{group: "g", log: tb.log("t", 0)}
	var first []commitlog.Record
	for next := int64(0); next < 100; next += 10 {
		got, err := c.Poll(t.Context(), "g", PollParams{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: 10}, "h")
		if err != nil || len(got) != 10 || got[0].Record.Offset != next || got[0].Record.Value[0] != byte(next) {
			t.Fatalf("poll from %d: %d messages, %v", next, len(got), err)
		}
		kept := c.runs.get(key)
		if first == nil {
			first = kept
		}
		if len(kept) != 100 || &kept[0] != &first[0] {
			t.Fatalf("after the poll from %d the group's run holds %d records (a new read: %v); want the first read's 100", next, len(kept), &kept[0] != &first[0])
		}
	}
}

// Records that retention removed after a poll read them ahead are not
// handed out from the run: the group continues from the earliest offset.
func TestPollRunSkipsWhatRetentionRemoved(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	c, tb := openTest(t, func() time.Time { return time.Unix(0, clock.Load()) })
	tb.opts = commitlog.Options{RetentionAge: time.Hour, SegmentBytes: 4 << 10}
	tb.createTopic("t", 1)
	j, err := c.JoinGroup("g", JoinParams{Topics: []string{"t"}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	poll := func(max int) []Delivered {
		t.Helper()
		got, err := c.Poll(t.Context(), "g", PollParams{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: max}, "h")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	value := make([]byte, 1000)
	for range 20 {
		tb.publish("t", 0, value)
	}
	if got := poll(1); len(got) != 1 || got[0].Record.Offset != 0 {
		t.Fatalf("first poll: %+v", got)
	}
	if kept := c.runs.get(runKey{group: "g", log: tb.log("t", 0)}); len(kept) != 20 {
		t.Fatalf("the first poll read ahead %d records; want all 20", len(kept))
	}
	clock.Add(int64(2 * time.Hour))
	tb.publish("t", 0, []byte("fresh"))
	if _, err := tb.log("t", 0).EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	earliest := tb.log("t", 0).EarliestOffset()
	if earliest <= 1 {
		t.Fatalf("retention removed up to %d; the test needs more", earliest)
	}
	got := poll(1000)
	if len(got) == 0 || got[0].Record.Offset != earliest || string(got[len(got)-1].Record.Value) != "fresh" {
		t.Fatalf("after retention polled %d messages from %v; want from the earliest offset %d to fresh", len(got), got, earliest)
	}
}

// The cache keeps at most its limit, dropping the least recently used run.
func TestRunCacheDropsLeastRecentlyUsed(t *testing.T) {
	recs := func(n int) []commitlog.Record {
		rs := make([]commitlog.Record, n)
		for i := range rs {
			rs[i] = commitlog.Record{Offset: int64(i), Value: make([]byte, 100)}
		}
		return rs
	}
	one := 10 * (recordStructSize + 100)
	rc := newRunCache(3 * one)
	k := func(g string) runKey { return runKey{group: g} }
	rc.put(k("a"), recs(10))
	rc.put(k("b"), recs(10))
	rc.put(k("c"), recs(10))
	rc.get(k("a")) // a is now the most recently used
	rc.put(k("d"), recs(10))
	for g, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if got := rc.get(k(g)) != nil; got != want {
			t.Errorf("run %s kept: %v, want %v", g, got, want)
		}
	}
	rc.put(k("a"), recs(10)) // replaces a's run, no growth
	if rc.bytes != 3*one || len(rc.runs) != 3 || rc.lru.Len() != 3 {
		t.Errorf("cache holds %d bytes in %d runs (%d listed); want %d in 3", rc.bytes, len(rc.runs), rc.lru.Len(), 3*one)
	}
	rc.put(k("big"), recs(40)) // larger than the limit on its own: not kept
	if rc.get(k("big")) != nil || rc.bytes != 3*one {
		t.Errorf("a run over the limit was kept, or evicted others: %d bytes", rc.bytes)
	}
}

// find takes the direct index in a run of consecutive offsets and
// searches when offsets have gaps.
func TestFind(t *testing.T) {
	run := func(offs ...int64) []commitlog.Record {
		rs := make([]commitlog.Record, len(offs))
		for i, o := range offs {
			rs[i].Offset = o
		}
		return rs
	}
	for _, tc := range []struct {
		recs []commitlog.Record
		off  int64
		ok   bool
	}{
		{nil, 0, false},
		{run(5, 6, 7), 6, true},
		{run(5, 6, 7), 4, false},
		{run(5, 6, 7), 8, false},
		{run(5, 7, 8, 9), 8, true}, // a gap: index 3 holds 9
		{run(5, 7, 8, 9), 6, false},
		{run(5, 7, 8, 9), 9, true},
	} {
		r, ok := find(tc.recs, tc.off)
		if ok != tc.ok || ok && r.Offset != tc.off {
			t.Errorf("find(%v, %d) = %d, %v; want ok %v", tc.recs, tc.off, r.Offset, ok, tc.ok)
		}
	}
}
