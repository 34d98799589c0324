package history

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

func TestRingKeepsNewestAndMarksGaps(t *testing.T) {
	r := newRing[uint32](4, noneUint32)
	r.put(0, 1)
	r.put(1, 2)
	r.put(1, 1) // same seq keeps the peak
	r.put(3, 4) // seq 2 skipped
	if v, ok := r.get(1); !ok || v != 2 {
		t.Fatalf("get(1) = %d, %v; want 2, true", v, ok)
	}
	if _, ok := r.get(2); ok {
		t.Fatal("get(2) has a value; the series was absent")
	}
	r.put(5, 6)
	if r.oldest() != 2 {
		t.Fatalf("oldest = %d, want 2 (capacity 4)", r.oldest())
	}
	if _, ok := r.get(1); ok {
		t.Fatal("get(1) still answers after it was overwritten")
	}
	r.put(100, 7) // a gap longer than the ring empties it
	if r.oldest() != 100 {
		t.Fatalf("after a long gap oldest = %d, want 100", r.oldest())
	}
}

// fill allocates r whole, as a day of samples does.
func fill[T value](r *ring[T]) {
	full := make([]T, r.size)
	copy(full, r.vals)
	r.vals = full
}

// A ring holds what a model of it holds, whatever the sizes, gaps and
// repeats of the sequence numbers put: its memory grows with them now.
func TestRingAgreesWithModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 500 {
		size := 1 + rng.IntN(40)
		r := newRing[int64](size, noneInt64)
		model := map[int64]int64{} // seq → value, of the newest size seqs
		last := int64(-1)
		seq := rng.Int64N(1000)
		for range rng.IntN(300) {
			switch k := rng.IntN(10); {
			case k < 6:
				seq++
			case k < 8:
				seq += rng.Int64N(int64(2 * size)) // a gap, sometimes past the ring
			case k < 9:
				seq -= rng.Int64N(3) // a repeat or an older one
			}
			v := rng.Int64N(100)
			r.put(seq, v)
			switch {
			case last < 0 || seq > last:
				last = seq
				model[seq] = v
			case seq == last:
				model[seq] = max(model[seq], v)
			}
			for s := range model {
				if s <= last-int64(size) {
					delete(model, s)
				}
			}
			for s := last - int64(size) - 2; s <= last+2; s++ {
				got, ok := r.get(s)
				want, wok := model[s]
				if ok != wok || ok && got != want {
					t.Fatalf("round %d (size %d), after put(%d, %d): get(%d) = %d, %v; want %d, %v", round, size, seq, v, s, got, ok, want, wok)
				}
			}
			if len(r.vals) > size || cap(r.vals) > size {
				t.Fatalf("round %d: ring of size %d holds %d (cap %d)", round, size, len(r.vals), cap(r.vals))
			}
		}
	}
}

// A group sampled a few times costs what those samples hold, not a day's
// rings: 300 short-lived groups once kept 30 MB for a day.
func TestShortLivedGroupsCostLittle(t *testing.T) {
	mib := heldMiB(func() *Lag {
		l := NewLag(Config{})
		now := time.Now()
		for tick := range 2 {
			samples := make([]GroupSample, 1000)
			for g := range samples {
				samples[g] = GroupSample{Group: fmt.Sprintf("g%04d", g), Partitions: []PartitionSample{{Topic: "t", Lag: 1}}}
			}
			l.Record(now.Add(time.Duration(tick)*10*time.Second), samples)
		}
		return l
	})
	t.Logf("1000 groups of one partition, sampled twice: %.2f MiB", mib)
	if mib > 4 {
		t.Errorf("1000 groups sampled twice hold %.1f MiB; want a few", mib)
	}
}

// heldMiB is the heap build's history holds once built.
func heldMiB(build func() *Lag) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(l)
	return float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
}

func sample(group string, lags ...int64) GroupSample {
	g := GroupSample{Group: group}
	for p, l := range lags {
		g.Partitions = append(g.Partitions, PartitionSample{Topic: "orders", Partition: int32(p), Lag: l, TimeLag: time.Duration(l) * time.Second})
	}
	return g
}

func TestLagQueryPeaksPerPoint(t *testing.T) {
	cfg := Config{Interval: time.Second, Retention: time.Minute, FineRetention: 10 * time.Second, CoarseStep: 5 * time.Second}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	l := NewLag(cfg)
	start := time.UnixMilli(1_000_000)
	for i := range 30 {
		l.Record(start.Add(time.Duration(i)*time.Second), []GroupSample{sample("g", int64(i), int64(2*i))})
	}
	now := start.Add(29 * time.Second)
	h, ok := l.Query("g", start, now, 30)
	if !ok {
		t.Fatal("no history")
	}
	if h.StepMS != 1000 || len(h.Times) != 30 {
		t.Fatalf("step %d, %d points; want 1000 and 30", h.StepMS, len(h.Times))
	}
	for i, v := range h.Lag {
		if v != int64(3*i) {
			t.Fatalf("group lag[%d] = %d, want %d", i, v, 3*i)
		}
		if h.TimeLagMS[i] != int64(2*i)*1000 {
			t.Fatalf("time lag[%d] = %d, want %d", i, h.TimeLagMS[i], 2*i*1000)
		}
	}
	if len(h.Partitions) != 2 {
		t.Fatalf("%d partitions, want 2", len(h.Partitions))
	}
	p1 := h.Partitions[1].Lag
	// The last 10 s are fine samples; before them, 5 s peaks.
	for i := 20; i < 30; i++ {
		if p1[i] != int64(2*i) {
			t.Fatalf("partition 1 lag[%d] = %d, want the sample %d", i, p1[i], 2*i)
		}
	}
	if p1[10] != 2*14 || p1[14] != 2*14 {
		t.Fatalf("partition 1 lag[10..14] = %v, want the peak of the bucket, 28", p1[10:15])
	}

	wide, _ := l.Query("g", start, now, 3)
	if wide.StepMS != 10000 || slices.Max(wide.Lag) != 87 {
		t.Fatalf("3 points: step %d, max %d; want 10000 and 87", wide.StepMS, slices.Max(wide.Lag))
	}
}

// TestLagQuerySinceClampedToRetention: a since before the retention
// (the epoch, say) asks only for what is kept, so the points cover it
// rather than decades of empty buckets.
func TestLagQuerySinceClampedToRetention(t *testing.T) {
	cfg := Config{Interval: time.Second, Retention: time.Minute, FineRetention: 10 * time.Second, CoarseStep: 5 * time.Second}
	l := NewLag(cfg)
	start := time.UnixMilli(1_000_000)
	for i := range 120 {
		l.Record(start.Add(time.Duration(i)*time.Second), []GroupSample{sample("g", int64(i), 0)})
	}
	now := start.Add(119 * time.Second)
	h, ok := l.Query("g", time.UnixMilli(0), now, 60)
	if !ok {
		t.Fatal("no history")
	}
	// The minute holds 61 samples (both ends): 2 s steps, as 60 points.
	if h.StepMS != 2000 || h.Times[0] < now.Add(-time.Minute).UnixMilli()-2000 || len(h.Times) > 60 {
		t.Fatalf("since 0: %d points of %d ms from %d; want at most 60 of 2 s over the last minute (from %d)", len(h.Times), h.StepMS, h.Times[0], now.Add(-time.Minute).UnixMilli())
	}
	if last := h.Lag[len(h.Lag)-1]; last != 119 {
		t.Fatalf("newest point %d, want 119", last)
	}
}

func TestLagForgetsGroupsPastRetention(t *testing.T) {
	l := NewLag(Config{Interval: time.Second, Retention: 5 * time.Second, FineRetention: 5 * time.Second, CoarseStep: time.Second})
	at := time.UnixMilli(0)
	l.Record(at, []GroupSample{sample("gone", 1), sample("stays", 1)})
	for i := 1; i <= 5; i++ {
		l.Record(at.Add(time.Duration(i)*time.Second), []GroupSample{sample("stays", 1)})
	}
	if l.Has("gone") || !l.Has("stays") {
		t.Fatalf("Has(gone) = %v, Has(stays) = %v; want false, true", l.Has("gone"), l.Has("stays"))
	}
}

// TestLagBoundsGoneGroups checks that the history of groups no longer
// sampled (deleted ones) is bounded by GoneGroups, whatever the churn:
// those last sampled longest ago go first, and groups sampled at the
// latest tick are all kept, however many.
func TestLagBoundsGoneGroups(t *testing.T) {
	l := NewLag(Config{GoneGroups: 3})
	at := time.UnixMilli(0)
	names := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", prefix, i)
		}
		return out
	}
	ticks := []struct {
		sampled []string
		kept    []string // besides the sampled
		gone    []string
	}{
		{sampled: names("a", 5)},
		{sampled: []string{"b0"}, kept: []string{"a2", "a3", "a4"}, gone: []string{"a0", "a1"}},
		{sampled: []string{"c0", "c1"}, kept: []string{"b0", "a3", "a4"}, gone: []string{"a2"}},
		{sampled: names("d", 4), kept: []string{"c0", "c1", "b0"}, gone: []string{"a3", "a4"}},
		{sampled: names("d", 4), kept: []string{"c0", "c1", "b0"}},
	}
	for i, tick := range ticks {
		samples := make([]GroupSample, len(tick.sampled))
		for j, g := range tick.sampled {
			samples[j] = sample(g, 1)
		}
		l.Record(at.Add(time.Duration(i)*DefaultInterval), samples)
		for _, g := range slices.Concat(tick.sampled, tick.kept) {
			if !l.Has(g) {
				t.Errorf("tick %d: %s forgotten", i, g)
			}
		}
		for _, g := range tick.gone {
			if l.Has(g) {
				t.Errorf("tick %d: %s kept", i, g)
			}
		}
		if n := len(l.groups); n != len(tick.sampled)+len(tick.kept) {
			t.Errorf("tick %d: %d groups kept, want %d", i, n, len(tick.sampled)+len(tick.kept))
		}
	}
}

func TestConfigRefusesHugeRings(t *testing.T) {
	if err := (Config{Interval: time.Millisecond, Retention: 24 * time.Hour}).Validate(); err == nil {
		t.Fatal("1 ms for 24 h accepted")
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
}

// TestLagMemory100x100 measures what the default history costs when full
// for 100 groups of 100 partitions (the figure in the README).
func TestLagMemory100x100(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates tens of MB")
	}
	mib := heldMiB(func() *Lag {
		l := NewLag(Config{})
		samples := make([]GroupSample, 100)
		for g := range samples {
			samples[g].Group = fmt.Sprintf("group-%03d", g)
			for p := range 100 {
				samples[g].Partitions = append(samples[g].Partitions, PartitionSample{Topic: "t", Partition: int32(p), Lag: int64(p)})
			}
		}
		l.Record(time.Now(), samples)
		for _, s := range l.groups { // rings grow with their samples: as after 24 h of them
			fill(s.lag)
			fill(s.timeLag)
			for _, ps := range s.parts {
				fill(ps.fine)
				fill(ps.coarse)
			}
		}
		return l
	})
	t.Logf("lag history, 100 groups x 100 partitions, 24 h at 10 s: %.1f MiB", mib)
	if mib > 64 {
		t.Errorf("%.1f MiB; the bound is 64", mib)
	}
}

// A query answers at most the points asked for, whatever the window, and
// its buckets cover it: its first starts at or before since (or the
// retention's start) and its last holds now. It answered points+1 when
// the aligned window ran a step longer.
func TestQueryPointsAtMost(t *testing.T) {
	l := NewLag(Config{})
	rng := rand.New(rand.NewPCG(3, 4))
	now := time.UnixMilli(1_796_000_000_000)
	for range 2000 {
		at := now.Add(time.Duration(rng.Int64N(int64(time.Hour))))
		since := at.Add(-time.Duration(rng.Int64N(int64(30 * time.Hour))))
		points := 1 + rng.IntN(2000)
		h, _ := l.Query("g", since, at, points)
		from := max(since.UnixMilli(), at.UnixMilli()-l.cfg.Retention.Milliseconds())
		n := len(h.Times)
		if n > points || n == 0 {
			t.Fatalf("since %v, now %v, points %d: %d points", since, at, points, n)
		}
		if h.Times[0] > from || h.Times[n-1]+h.StepMS <= at.UnixMilli() {
			t.Fatalf("since %v, now %v, points %d: buckets from %d to %d+%d do not cover [%d, %d]", since, at, points, h.Times[0], h.Times[n-1], h.StepMS, from, at.UnixMilli())
		}
	}
}
