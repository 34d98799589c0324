package coordinator

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
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
	var first []*storedBatch
	for next := int64(0); next < 100; next += 10 {
		got, err := c.Poll(t.Context(), "g", PollParams{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: 10}, "h")
		if err != nil || len(got) != 10 || got[0].Record.Offset != next || got[0].Record.Value[0] != byte(next) {
			t.Fatalf("poll from %d: %d messages, %v", next, len(got), err)
		}
		kept, buf := c.runs.get(key)
		buf.release()
		if first == nil {
			first = kept
		}
		if records(kept) != 100 || &kept[0] != &first[0] {
			t.Fatalf("after the poll from %d the group's run holds %d records (a new read: %v); want the first read's 100", next, records(kept), &kept[0] != &first[0])
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
	kept, buf := c.runs.get(runKey{group: "g", log: tb.log("t", 0)})
	buf.release()
	if records(kept) != 20 {
		t.Fatalf("the first poll read ahead %d records; want all 20", records(kept))
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

// The run of a group that stopped polling goes within two runIdle, and
// the cache's hold of its buffer with it; a deleted group's goes at once;
// the run of a group still polling stays. Kept until newer runs evicted them, the runs
// of groups that had stopped, been deleted or lost their topic pinned
// their buffers for good.
func TestUnusedRunsGo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := newTestBroker(t, time.Now)
		c, stop := runTest(t, testConfig(t, nil), tb)
		defer stop()
		tb.createTopic("t", 1)
		msgs := make([][]byte, 100)
		for i := range msgs {
			msgs[i] = []byte{byte(i)}
		}
		tb.publish("t", 0, msgs...)
		joined := map[string]JoinResult{}
		poll := func(g string) int64 {
			t.Helper()
			j, ok := joined[g]
			if !ok {
				var err error
				j, err = c.JoinGroup(g, JoinParams{MemberID: "m", Topics: []string{"t"}, SessionTimeout: 5 * time.Minute, VisibilityTimeout: 5 * time.Minute}, "h")
				if err != nil {
					t.Fatal(err)
				}
				joined[g] = j
			}
			got, err := c.Poll(t.Context(), g, PollParams{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: 1}, "h")
			if err != nil || len(got) != 1 || got[0].Record.Value[0] != byte(got[0].Record.Offset) {
				t.Fatalf("poll of %s: %d messages (%+v), %v", g, len(got), got, err)
			}
			return got[0].Record.Offset
		}
		// cached is what the cache counts.
		cached := func() int64 {
			c.runs.mu.Lock()
			defer c.runs.mu.Unlock()
			return c.runs.bytes
		}
		// kept looks at a group's run without using it.
		kept := func(g string) *run {
			c.runs.mu.Lock()
			defer c.runs.mu.Unlock()
			if e, ok := c.runs.runs[runKey{group: g, log: tb.log("t", 0)}]; ok {
				return e.Value.(*run)
			}
			return nil
		}
		poll("deleted")
		if err := c.LeaveGroup("deleted", "m"); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteGroup("deleted"); err != nil {
			t.Fatal(err)
		}
		if kept("deleted") != nil {
			t.Errorf("a deleted group's run is kept")
		}
		poll("busy")
		poll("stopped")
		busy, stopped := kept("busy"), kept("stopped")
		if busy == nil || stopped == nil {
			t.Fatalf("runs kept after the first polls: busy %v, stopped %v", busy != nil, stopped != nil)
		}
		// The cache holds the buffer once, and so does the answer of
		// this kind of poll (its records alias the bytes; it never
		// releases them).
		holders := stopped.buf.refs.Load()
		for range 3 * runIdle / time.Second {
			time.Sleep(time.Second)
			poll("busy")
		}
		synctest.Wait()
		if r := kept("stopped"); r != nil || stopped.buf.refs.Load() != holders-1 {
			t.Errorf("after %v unused the stopped group's run is kept: %v, its buffer held %d times (%d before)", 3*runIdle, r != nil, stopped.buf.refs.Load(), holders)
		}
		if r := kept("busy"); r != busy {
			t.Errorf("the polling group's run was dropped or read again")
		}
		if n := cached(); n != busy.bytes {
			t.Errorf("the cache counts %d bytes; want the polling group's run's %d", n, busy.bytes)
		}
		// The stopped group goes on where it was, reading again, and
		// its new run counts as used in this round: it outlives the
		// next sweep.
		if off := poll("stopped"); off != 1 {
			t.Errorf("the stopped group polled offset %d again; want 1", off)
		}
		for range runIdle / time.Second {
			time.Sleep(time.Second)
			poll("busy")
		}
		synctest.Wait()
		if kept("stopped") == nil {
			t.Errorf("the run read again went at the first sweep after it")
		}
	})
}

// records counts the messages of bs.
func records(bs []*storedBatch) int {
	n := 0
	for _, b := range bs {
		n += len(b.recs)
	}
	return n
}

// The cache keeps at most its limit, dropping the least recently used run
// and its hold of the run's buffer.
func TestRunCacheDropsLeastRecentlyUsed(t *testing.T) {
	bufs := map[string]*readBuf{}
	batches := func(name string, n int) ([]*storedBatch, *readBuf) {
		buf := &readBuf{b: make([]byte, n*1000, n*1500)} // as the pool's classes round up
		buf.refs.Store(1)                                // the reader's, released after put as a poll does
		bufs[name] = buf
		bs := make([]*storedBatch, n)
		for i := range bs {
			bs[i] = &storedBatch{raw: buf.b[i*1000 : (i+1)*1000], base: int64(i), next: int64(i + 1), buf: buf}
		}
		return bs, buf
	}
	put := func(rc *runCache, name string, n int) {
		bs, buf := batches(name, n)
		rc.put(runKey{group: name}, bs, buf)
		buf.release()
	}
	kept := func(rc *runCache, name string) bool {
		bs, buf := rc.get(runKey{group: name})
		buf.release()
		return bs != nil
	}
	one := runBytes(batches("one", 10))
	if one < 15000 {
		t.Fatalf("a run whose buffer holds 15000 bytes counts %d", one)
	}
	rc := newRunCache(3 * one)
	put(rc, "a", 10)
	put(rc, "b", 10)
	put(rc, "c", 10)
	kept(rc, "a") // a is now the most recently used
	put(rc, "d", 10)
	for g, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if got := kept(rc, g); got != want {
			t.Errorf("run %s kept: %v, want %v", g, got, want)
		}
		if holders := bufs[g].refs.Load(); holders != map[bool]int32{true: 1, false: 0}[want] {
			t.Errorf("run %s's buffer has %d holders; want the cache's alone, or none once dropped", g, holders)
		}
	}
	oldA := bufs["a"]
	put(rc, "a", 10) // replaces a's run, no growth
	if rc.bytes != 3*one || len(rc.runs) != 3 || rc.lru.Len() != 3 {
		t.Errorf("cache holds %d bytes in %d runs (%d listed); want %d in 3", rc.bytes, len(rc.runs), rc.lru.Len(), 3*one)
	}
	if oldA.refs.Load() != 0 {
		t.Errorf("a replaced run's buffer is still held by the cache")
	}
	put(rc, "big", 40) // larger than the limit on its own: not kept
	if kept(rc, "big") || rc.bytes != 3*one || bufs["big"].refs.Load() != 0 {
		t.Errorf("a run over the limit was kept, or evicted others: %d bytes", rc.bytes)
	}
}

// findBatch finds the batch holding an offset in a run of consecutive
// batches, and nothing outside it.
func TestFindBatch(t *testing.T) {
	run := []*storedBatch{{base: 5, next: 7}, {base: 7, next: 8}, {base: 8, next: 20}}
	for _, tc := range []struct {
		bs   []*storedBatch
		off  int64
		want int // index in bs; -1: none
	}{
		{nil, 0, -1},
		{run, 4, -1},
		{run, 5, 0},
		{run, 6, 0},
		{run, 7, 1},
		{run, 8, 2},
		{run, 19, 2},
		{run, 20, -1},
	} {
		got := findBatch(tc.bs, tc.off)
		if tc.want < 0 && got != nil || tc.want >= 0 && got != tc.bs[tc.want] {
			t.Errorf("findBatch(%d) = %+v; want batch %d", tc.off, got, tc.want)
		}
	}
}
