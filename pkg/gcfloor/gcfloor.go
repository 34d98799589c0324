// Package gcfloor keeps a process with a small heap from collecting
// garbage more often than its memory needs: it gives the collector's heap
// goal a floor. The broker runs with one (--gc-heap-floor), and so can an
// application on the Go client: one that consumed about 2.4M messages a
// second spent half of its CPU in the collector, the scavenger and the page
// faults after them; with a 32 MiB floor it used 0.2 µs of CPU per message
// instead of 0.4 (bench/cpu.py, 2 cores):
//
//	defer gcfloor.Start(32 << 20)()
//
// With GOGC=100 the runtime collects once the heap has grown by as much as
// was live after the last collection, but at least 4 MB. A broker at 20,000
// messages a second has about 1–4 MB live and allocates about 5 KB per
// message, so it collected every 25 ms; each collection takes a quarter of
// the CPU for its mark phase and stops the world twice, and on a busy
// 2-core machine those stops stretched to milliseconds: about a sixth of
// the end-to-end p99 (docs/latency.md). Go has no setting for a minimum
// heap goal (GOMEMLIMIT caps the heap, it does not raise the goal; GOGC=off
// with a limit collects without end once the live heap nears the limit).
// So after each collection the GC percent is set so that the next goal is
// the floor while the live heap is under half of it, and GOGC's 100 above:
// the heap stays within about max(floor, 2 × live), the bound GOGC=100
// keeps for a heap past the floor. Because the percent is set after every
// collection from what that collection found live, an allocation burst
// still triggers the next collection near the floor, not at a goal
// computed from an older, smaller heap. (Between a collection that finds
// the live heap much larger and the finalizer that runs right after it,
// the old percent applies; and the percent is changed only when it moves
// by a tenth.)
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// basePercent is GOGC's default: the percent used once the live heap is
// at least half the floor.
const basePercent = 100

// minHeap is the runtime's smallest heap goal at GOGC=100. It scales with
// the percent (4 MB × percent/100), so a percent set for a tiny live heap
// alone would raise the goal far past the floor.
const minHeap = 4 << 20

// Percent is the GC percent that makes the heap goal after a collection
// the larger of floor and GOGC=100's, when it found live bytes of heap
// live and roots bytes of stacks and globals to scan. The runtime's goal
// is the larger of live + (live + roots) × percent/100 (GOGC counts the
// roots too) and minHeap × percent/100.
func Percent(live, roots, floor uint64) int {
	if floor <= 2*live+roots || floor <= minHeap {
		return basePercent
	}
	p := floor * 100 / minHeap // the minimum goal at the floor
	if live > 0 {
		p = min(p, (floor-live)*100/(live+roots))
	}
	return int(max(p, basePercent))
}

// Start sets the heap goal's floor to floor bytes until the returned stop
// is called, which restores the GC percent found. It changes nothing if
// floor is 0.
func Start(floor uint64) (stop func()) {
	if floor == 0 {
		return func() {}
	}
	prev := debug.SetGCPercent(basePercent)
	t := &tuner{floor: floor, percent: basePercent, sample: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	t.tune()
	t.arm()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.stopped = true
		debug.SetGCPercent(prev)
	}
}

// tuner sets the GC percent after each collection. mu orders the
// finalizer's tuning with stop, so a tuning cannot land after stop
// restored the percent.
type tuner struct {
	floor   uint64
	sample  []metrics.Sample
	mu      sync.Mutex
	percent int  // guarded by mu
	stopped bool // guarded by mu
}

// sentinel is garbage whose finalizer runs after each collection. It is
// larger than the tiny allocator's 16 bytes: a tiny object shares its
// block with others and may never be finalized.
type sentinel struct{ _ [32]byte }

// arm makes the next collection call tune.
func (t *tuner) arm() {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.stopped {
			return
		}
		t.tuneLocked()
		t.arm()
	})
}

func (t *tuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tuneLocked()
}

// tuneLocked sets the percent from the live heap the last collection
// found, when it moved by more than a tenth (each change takes the
// runtime's heap lock).
func (t *tuner) tuneLocked() {
	metrics.Read(t.sample)
	var v [3]uint64
	for i, s := range t.sample {
		if s.Value.Kind() != metrics.KindUint64 {
			return // a runtime without the metric: GOGC's own
		}
		v[i] = s.Value.Uint64()
	}
	p := Percent(v[0], v[1]+v[2], t.floor)
	if d := p - t.percent; d*10 > t.percent || -d*10 > t.percent {
		debug.SetGCPercent(p)
		t.percent = p
	}
}
