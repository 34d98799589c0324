package coordinator

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// A Kafka commit may name an offset retention has removed, as Kafka takes
// it (the consumer resuming there is told OFFSET_OUT_OF_RANGE and
// resets): it was refused, and with it every other partition of the
// commit. An operator's reset still keeps to earliest..high watermark, and
// a commit past the high watermark is refused.
func TestKafkaCommitBelowEarliest(t *testing.T) {
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
	if err := c.StoreOffsets("g", Offsets{"t": {0: 1}}, nil, false); err != nil {
		t.Fatalf("Kafka commit below the earliest offset: %v", err)
	}
	if got, err := c.GroupOffsets("g"); err != nil || got["t"][0] != 1 {
		t.Fatalf("offsets %v, %v; want t/0 at 1 as committed", got, err)
	}
	if _, err := c.ResetOffsets("g", ResetParams{To: ResetOffsets, Offsets: Offsets{"t": {0: 0}}}); !errors.Is(err, api.ErrOffsetOutOfRange) {
		t.Fatalf("operator's reset below the earliest offset: %v, want OFFSET_OUT_OF_RANGE", err)
	}
	if err := c.StoreOffsets("g", Offsets{"t": {0: 22}}, nil, false); !errors.Is(err, api.ErrOffsetOutOfRange) {
		t.Fatalf("Kafka commit past the high watermark: %v, want OFFSET_OUT_OF_RANGE", err)
	}
}
