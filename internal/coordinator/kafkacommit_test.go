package coordinator

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// A Kafka commit may name an offset retention removed, as Kafka takes it
// (the consumer resuming there is told OFFSET_OUT_OF_RANGE and resets): it
// was refused, and with it every other partition of the commit. A
// partition that does not exist, or an offset outside 0..the high
// watermark, is refused on its own (Kafka takes one past the high
// watermark; a group's HTTP members would wait for it and skip what comes
// before). An operator's reset still keeps to earliest..high watermark.
func TestKafkaCommitOffsetBounds(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	c, tb := openTest(t, func() time.Time { return time.Unix(0, clock.Load()) })
	tb.opts = commitlog.Options{RetentionAge: time.Hour, SegmentBytes: 4 << 10}
	tb.createTopic("t", 1)
	value := make([]byte, 1000)
	for range 20 {
		tb.publish("t", 0, value)
	}
	clock.Add(int64(2 * time.Hour))
	tb.publish("t", 0, []byte("fresh"))
	if _, err := tb.log("t", 0).EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if earliest := tb.log("t", 0).EarliestOffset(); earliest <= 1 {
		t.Fatalf("retention removed up to %d; the test needs more", earliest)
	}
	refused, err := c.StoreOffsets("g", Offsets{"t": {0: 1, 3: 1}, "nope": {0: 1}}, nil, false)
	if err != nil || len(refused) != 2 {
		t.Fatalf("Kafka commit of t/0 at 1: %v, refused %v; want t/3 and nope/0 refused alone", err, refused)
	}
	if got, err := c.GroupOffsets("g"); err != nil || got["t"][0] != 1 {
		t.Fatalf("offsets %v, %v; want t/0 at 1 as committed", got, err)
	}
	t0 := delivery.TP{Topic: "t"}
	if refused, err := c.StoreOffsets("g", Offsets{"t": {0: 22}}, nil, false); err != nil || !errors.Is(refused[t0], api.ErrOffsetOutOfRange) {
		t.Fatalf("Kafka commit of 22: %v, refused %v; want OFFSET_OUT_OF_RANGE", err, refused)
	}
	// kafkajs's -2 (earliest) is the earliest offset kept; any other
	// negative offset forgets the partition's, as Kafka's consumers read
	// one back.
	if refused, err := c.StoreOffsets("g", Offsets{"t": {0: -2}}, nil, false); err != nil || len(refused) != 0 {
		t.Fatalf("Kafka commit of -2: %v, refused %v; want it taken", err, refused)
	}
	if got, err := c.GroupOffsets("g"); err != nil || got["t"][0] != tb.log("t", 0).EarliestOffset() {
		t.Fatalf("offsets %v, %v; want t/0 at the earliest offset, %d", got, err, tb.log("t", 0).EarliestOffset())
	}
	if refused, err := c.StoreOffsets("g", Offsets{"t": {0: -1}}, nil, false); err != nil || len(refused) != 0 {
		t.Fatalf("Kafka commit of -1: %v, refused %v; want it taken", err, refused)
	}
	if got, err := c.GroupOffsets("g"); err != nil || len(got["t"]) != 0 {
		t.Fatalf("offsets %v, %v; want t/0 forgotten", got, err)
	}
	if _, err := c.ResetOffsets("g", ResetParams{To: ResetOffsets, Offsets: Offsets{"t": {0: 0}}}); !errors.Is(err, api.ErrOffsetOutOfRange) {
		t.Fatalf("operator's reset below the earliest offset: %v, want OFFSET_OUT_OF_RANGE", err)
	}
}
