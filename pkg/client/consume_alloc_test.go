package client

import (
	"bytes"
	"testing"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// storedAnswer is a stored-batches answer of perPart messages of 100-byte
// values on each of parts partitions of topic "t", each partition's records
// in two batches with the answer's range starting inside the first.
func storedAnswer(t testing.TB, parts, perPart int) []byte {
	t.Helper()
	value := bytes.Repeat([]byte("v"), 100)
	batch := func(base int64, n int) []byte {
		recs := make([]recordbatch.Record, n)
		for i := range recs {
			recs[i] = recordbatch.Record{TimestampDelta: int64(i), Value: value}
		}
		h := recordbatch.NewHeader(base)
		h.FirstTimestamp = 1_700_000_000_000
		b, err := recordbatch.Build(nil, h, recordbatch.None, recs)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var body []byte
	for p := range int32(parts) {
		half := perPart / 2
		r := []storedRange{{1, int64(perPart), 1}}
		body = appendStoredFrame(body, "t", p, r, batch(0, half+1), batch(int64(half+1), perPart-half))
	}
	return body
}

// TestConsumeAllocatesNothingPerMessage: decoding a poll answer of stored
// batches, keeping it polled ahead, handing its messages out as held and
// acknowledging each costs a
// fixed number of allocations per answer, whatever the number of messages
// in it: the messages share one slice and alias the answer's bytes, and
// held and acknowledged offsets are kept as ranges.
func TestConsumeAllocatesNothingPerMessage(t *testing.T) {
	round := func(c *Consumer, body []byte) {
		msgs, err := decodePollStored(body)
		if err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		c.state.ahead = msgs // as pollAhead keeps an answer
		c.mu.Unlock()
		for _, m := range c.takeAhead(0) {
			if err := c.Ack(m); err != nil {
				t.Fatal(err)
			}
		}
		c.mu.Lock()
		c.state.takeAcksLocked(false)
		c.mu.Unlock()
	}
	allocs := func(perPart int) float64 {
		c := &Consumer{state: newMemberState(), wake: make(chan struct{}, 1)}
		c.state.session, c.state.joined = c.state.session+1, true // joined once
		body := storedAnswer(t, 6, perPart)
		round(c, body) // the partitions' state, created once
		return testing.AllocsPerRun(20, func() { round(c, body) })
	}
	few, many := allocs(10), allocs(2000)
	if many > few || few > 32 {
		t.Errorf("allocations per answer: %v with 60 messages, %v with 12000; want the same, and few", few, many)
	}
}

// Messages polled ahead are handed out in place, in parts: what the
// application does with one part's slice never reaches the messages still
// ahead.
func TestTakeAheadHandsOutPartsApart(t *testing.T) {
	c := &Consumer{state: newMemberState(), wake: make(chan struct{}, 1)}
	c.state.session, c.state.joined = c.state.session+1, true // joined once
	msgs, err := decodePollStored(storedAnswer(t, 1, 10))
	if err != nil {
		t.Fatal(err)
	}
	c.state.ahead = msgs
	first := c.takeAhead(4)
	stray := &Message{Topic: "t", Offset: 99}
	first = append(first, stray)
	first[0] = stray
	rest := c.takeAhead(0)
	if len(first) != 5 || len(rest) != 6 {
		t.Fatalf("handed out %d, then %d; want 4 (+1 appended), then 6", len(first), len(rest))
	}
	for i, m := range rest {
		if want := int64(5 + i); m.Offset != want {
			t.Errorf("rest[%d] is offset %d, want %d", i, m.Offset, want)
		}
	}
}

// BenchmarkConsumeAnswer decodes a poll answer of 6 partitions' messages,
// takes them as held and acknowledges each: the client's work per message
// on the consume path, without the network.
func BenchmarkConsumeAnswer(b *testing.B) {
	body := storedAnswer(b, 6, 1000)
	c := &Consumer{state: newMemberState(), wake: make(chan struct{}, 1)}
	c.state.session, c.state.joined = c.state.session+1, true // joined once
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		msgs, err := decodePollStored(body)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range c.accept(c.state.session, 0, dropCrossed, msgs) {
			if err := c.Ack(m); err != nil {
				b.Fatal(err)
			}
		}
		c.mu.Lock()
		c.state.takeAcksLocked(false)
		c.mu.Unlock()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*6000), "ns/msg")
}
