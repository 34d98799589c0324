package broker

import (
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds, in seconds, of the buckets of every
// latency the broker records: 50 µs doubling up to about 13 s, which spans a
// page-cache append and a slow disk's fsync. Fixed so that recording is a few
// atomic adds and a scrape reads a consistent shape.
var latencyBounds = func() []float64 {
	b := make([]float64, 19)
	for i, v := 0, 50e-6; i < len(b); i, v = i+1, v*2 {
		b[i] = v
	}
	return b
}()

// latency is a lock-free histogram of durations. The zero value is ready.
// Counts are per bucket (not cumulative); the last bucket is +Inf.
type latency struct {
	buckets [20]atomic.Uint64 // len(latencyBounds)+1
	sumNS   atomic.Int64
}

func (l *latency) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(latencyBounds) && s > latencyBounds[i] {
		i++
	}
	l.buckets[i].Add(1)
	l.sumNS.Add(int64(d))
}

// since records the time elapsed since start.
func (l *latency) since(start time.Time) { l.observe(time.Since(start)) }

// Histogram is a snapshot of a latency histogram in Prometheus' shape:
// Cumulative[i] counts observations ≤ Bounds[i] seconds; Count includes
// those above the last bound.
type Histogram struct {
	Bounds     []float64 // seconds, ascending; shared, do not modify
	Cumulative []uint64
	Count      uint64
	Sum        float64 // seconds
}

func (l *latency) snapshot() Histogram {
	h := Histogram{Bounds: latencyBounds, Cumulative: make([]uint64, len(latencyBounds))}
	for i := range l.buckets {
		h.Count += l.buckets[i].Load()
		if i < len(latencyBounds) {
			h.Cumulative[i] = h.Count
		}
	}
	h.Sum = time.Duration(l.sumNS.Load()).Seconds()
	return h
}
