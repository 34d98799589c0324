package broker

import (
	"testing"
	"time"
)

func TestLatencyBuckets(t *testing.T) {
	var l latency
	for _, d := range []time.Duration{
		10 * time.Microsecond, // first bucket
		50 * time.Microsecond, // on the first bound: first bucket (le is inclusive)
		51 * time.Microsecond, // second
		3 * time.Millisecond,  // 3.2 ms bucket
		time.Hour,             // +Inf only
	} {
		l.observe(d)
	}
	h := l.snapshot()
	if h.Count != 5 {
		t.Fatalf("count = %d, want 5", h.Count)
	}
	at := func(bound float64) uint64 {
		for i, b := range h.Bounds {
			if b >= bound*0.999 && b <= bound*1.001 {
				return h.Cumulative[i]
			}
		}
		t.Fatalf("no bound %v in %v", bound, h.Bounds)
		return 0
	}
	for _, c := range []struct {
		bound float64
		want  uint64
	}{{50e-6, 2}, {100e-6, 3}, {1.6e-3, 3}, {3.2e-3, 4}, {h.Bounds[len(h.Bounds)-1], 4}} {
		if got := at(c.bound); got != c.want {
			t.Errorf("cumulative at %v = %d, want %d", c.bound, got, c.want)
		}
	}
	wantSum := (10*time.Microsecond + 101*time.Microsecond + 3*time.Millisecond + time.Hour).Seconds()
	if h.Sum < wantSum-1e-9 || h.Sum > wantSum+1e-9 {
		t.Errorf("sum = %v, want %v", h.Sum, wantSum)
	}
}

func TestLogStatsCountsTraffic(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{Key: []byte("k"), Value: []byte("hello"), Partition: 1}, {Value: []byte("abc"), Partition: 1}}
	if _, err := b.Publish("t", msgs); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fetch(t.Context(), "t", FetchRequest{Partition: 1, Offset: 1, MaxMessages: 10, MaxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	s := b.LogStats()
	if len(s.Topics) != 1 || len(s.Topics[0].Partitions) != 2 {
		t.Fatalf("stats = %+v", s)
	}
	p0, p1 := s.Topics[0].Partitions[0], s.Topics[0].Partitions[1]
	if p0.Published != 0 || p1.Published != 2 || p1.PublishedBytes != 9 || p1.HighWatermark != 2 {
		t.Errorf("published: p0 %+v p1 %+v", p0, p1)
	}
	if p1.Fetched != 1 || p1.FetchedBytes != 3 || p1.LogBytes == 0 || p1.Segments != 1 {
		t.Errorf("fetched/log: p1 %+v", p1)
	}
	if s.Publish["interval"].Count != 1 || s.Publish["always"].Count != 0 {
		t.Errorf("publish latency counts = %d (interval), %d (always); want 1, 0", s.Publish["interval"].Count, s.Publish["always"].Count)
	}
}
