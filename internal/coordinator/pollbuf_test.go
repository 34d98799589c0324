package coordinator

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Read buffers are recycled only when nothing holds them: polls of two
// groups, two at a time per member (as the client pipelines them), with
// a run cache too small to keep anything, so each read's buffer goes back
// to the pool as soon as its answer is released. Every answer is checked
// after the polls that ran meanwhile, and the records of a JSON poll after
// all of them: each record is still the one at its offset.
func TestPollBuffersRecycledOnlyWhenReleased(t *testing.T) {
	c, tb := openTest(t, time.Now)
	c.runs = newRunCache(64 << 10) // less than one read: no run is kept
	tb.createTopic("t", 2)
	const batches, perBatch = 12, 400 // batches of about 90 KiB: pooled reads
	for p := range int32(2) {
		for b := range batches {
			values := make([][]byte, perBatch)
			for i := range values {
				v := fmt.Appendf(nil, "v%d", b*perBatch+i)
				values[i] = append(v, make([]byte, 200)...)
			}
			tb.publish("t", p, values...)
		}
	}
	jsonJoin, err := c.JoinGroup("json", JoinParams{Topics: []string{"t"}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	early, err := c.Poll(t.Context(), "json", PollParams{MemberID: jsonJoin.MemberID, Generation: jsonJoin.Generation, MaxMessages: 500}, "h")
	if err != nil || len(early) == 0 {
		t.Fatalf("JSON poll: %d messages, %v", len(early), err)
	}

	var wg sync.WaitGroup
	for _, g := range []string{"g1", "g2"} {
		j, err := c.JoinGroup(g, JoinParams{Topics: []string{"t"}, MaxInFlight: 100000}, "h")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			wg.Go(func() {
				req := PollParams{MemberID: j.MemberID, Generation: j.Generation, MaxMessages: 300}
				var held [][]StoredPart // answers not yet checked and released
				check := func(parts []StoredPart) bool {
					n := 0
					for _, p := range parts {
						offs := servedOffsets(t, p.Batches) // fails on a record not at its offset
						n += len(offs)
						var rs []OffsetRange
						for _, r := range p.Ranges {
							rs = append(rs, OffsetRange{Topic: p.Topic, Partition: p.Partition, From: r.First, To: r.Last + 1})
						}
						if _, err := c.Ack(g, Settle{MemberID: j.MemberID, Generation: j.Generation, Ranges: rs}, "h"); err != nil {
							t.Errorf("ack: %v", err)
						}
					}
					ReleaseStored(parts)
					return n > 0
				}
				for {
					parts, err := c.PollStored(t.Context(), g, req, "h")
					if err != nil {
						t.Errorf("poll: %v", err)
						return
					}
					if len(parts) == 0 {
						break
					}
					held = append(held, parts)
					if len(held) == 2 { // check the older after a newer poll ran
						check(held[0])
						held = held[1:]
					}
				}
				for _, parts := range held {
					check(parts)
				}
			})
		}
	}
	wg.Wait()
	for _, d := range early {
		if want := fmt.Sprintf("v%d", d.Record.Offset%(batches*perBatch)); string(d.Record.Value[:len(want)]) != want {
			t.Fatalf("a JSON poll's record at %d now reads %.8q: its buffer was recycled", d.Record.Offset, d.Record.Value)
		}
	}
}

// An answer holds its buffers until ReleaseStored; then only the run
// cache does.
func TestStoredAnswerHoldsItsBuffers(t *testing.T) {
	c, tb := openTest(t, time.Now)
	tb.createTopic("t", 1)
	tb.publish("t", 0, make([]byte, 100<<10))
	j, err := c.JoinGroup("g", JoinParams{Topics: []string{"t"}}, "h")
	if err != nil {
		t.Fatal(err)
	}
	parts, err := c.PollStored(t.Context(), "g", PollParams{MemberID: j.MemberID, Generation: j.Generation}, "h")
	if err != nil || len(parts) != 1 || len(parts[0].bufs) != 1 {
		t.Fatalf("poll: %+v, %v", parts, err)
	}
	buf := parts[0].bufs[0]
	if n := buf.refs.Load(); n != 2 {
		t.Fatalf("the answer's buffer has %d holders; want 2 (the answer and the cache)", n)
	}
	ReleaseStored(parts)
	if n := buf.refs.Load(); n != 1 {
		t.Fatalf("after ReleaseStored the buffer has %d holders; want the cache's alone", n)
	}
}

// A pooled buffer is at least what its read asks and at most half again
// as large; reads below or above the pooled sizes get their own.
func TestBufPoolSizes(t *testing.T) {
	var p bufPool
	for _, n := range []int{1, minPooledRead - 1, minPooledRead, minPooledRead + 1, 1<<20 + 4<<10, 3 << 20, 64 << 20, 64<<20 + 1} {
		r := p.get(n)
		if c := cap(r.b); c < n || c > n+n/2+1 || len(r.b) != 0 || r.refs.Load() != 1 {
			t.Errorf("get(%d): cap %d len %d holders %d", n, c, len(r.b), r.refs.Load())
		}
		if pooled := r.pool != nil; pooled != (n >= minPooledRead && n <= 64<<20) {
			t.Errorf("get(%d) pooled: %v", n, pooled)
		}
		r.release()
	}
}
