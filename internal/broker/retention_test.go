package broker

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// fakeClock is a settable clock for retention tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Retention deletes whole old segments; fetching below the new earliest
// offset is then OFFSET_OUT_OF_RANGE, and what remains is intact.
func TestRetentionDeletesOldSegments(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := testConfig(t)
	c.Now = clock.Now
	b := mustOpen(t, c)
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1, Retention: time.Duration(1) * time.Hour, SegmentBytes: MinSegmentBytes}); err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("x"), 1000)
	for range 20 { // about 20 KB: several 4 KiB segments
		if _, err := b.Publish("t", []Message{{Value: value, Partition: AnyPartition}}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(2 * time.Hour)
	if _, err := b.Publish("t", []Message{{Value: []byte("fresh"), Partition: AnyPartition}}); err != nil {
		t.Fatal(err)
	}
	before := must(b.Topic("t")).Partitions[0]
	b.enforceRetention()
	after := must(b.Topic("t")).Partitions[0]
	if after.EarliestOffset == 0 || after.Segments >= before.Segments || after.HighWatermark != 21 {
		t.Fatalf("retention: before %+v, after %+v", before.Stats, after.Stats)
	}
	_, err := b.Fetch(t.Context(), "t", FetchRequest{Offset: 0, MaxMessages: 1, MaxBytes: 1})
	if !errors.Is(err, api.ErrOffsetOutOfRange) {
		t.Fatalf("fetch of a deleted offset: %v", err)
	}
	res, err := b.Fetch(t.Context(), "t", FetchRequest{Offset: OffsetEarliest, MaxMessages: 100, MaxBytes: 1 << 20})
	if err != nil || len(res.Records) == 0 || string(res.Records[len(res.Records)-1].Value) != "fresh" || res.Records[0].Offset != after.EarliestOffset {
		t.Fatalf("fetch after retention: %v %+v", err, res)
	}
}
