// Package gcfloor keeps a process with a small heap from collecting
// garbage more often than its memory needs: it gives the collector's heap
// goal a floor. The broker runs with one (--gc-heap-floor), and so can an
// application on the Go client: goqueue bench, consuming 2.0–2.3M messages
// a second, spent half of its CPU in the collector, the scavenger and the
// page faults after them; with a 32 MiB floor it used 0.18–0.22 µs of CPU
// per message instead of 0.43–0.51 (bench/cpu.py, 2 cores):
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
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
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
// is called. It changes nothing if floor is 0 or the GOGC variable is set
// (not empty), which says how the operator wants the collector run.
//
// The GC percent is one setting of the process, so floors started by
// different callers (an application and a library, parallel tests) share
// it: the highest floor not yet stopped holds, and the last stop restores
// the percent the first Start found. Calling stop more than once is
// harmless.
func Start(floor uint64) (stop func()) {
	if floor == 0 || os.Getenv("GOGC") != "" {
		return func() {}
	}
	floors.mu.Lock()
	defer floors.mu.Unlock()
	if len(floors.active) == 0 {
		floors.prev = debug.SetGCPercent(basePercent)
		floors.percent = basePercent
		floors.run++
		arm(floors.run)
	}
	floors.active = append(floors.active, floor)
	tuneLocked()
	var once sync.Once
	return func() { once.Do(func() { release(floor) }) }
}

// floors is the process's floors not yet stopped and the tuning they
// share.
var floors = floorSet{sample: [3]metrics.Sample{
	{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
}}

type floorSet struct {
	mu      sync.Mutex
	active  []uint64 // the floors started and not stopped, in start order
	prev    int      // the GC percent the first of them found
	percent int      // the GC percent set last
	run     uint64   // counts the times the first floor started: a finalizer armed in an earlier run does nothing
	sample  [3]metrics.Sample
}

// release stops one floor: the percent follows the highest left, or
// returns to what the first Start found when none is.
func release(floor uint64) {
	floors.mu.Lock()
	defer floors.mu.Unlock()
	i := slices.Index(floors.active, floor)
	floors.active = slices.Delete(floors.active, i, i+1)
	if len(floors.active) == 0 {
		floors.run++
		debug.SetGCPercent(floors.prev)
		return
	}
	tuneLocked()
}

// sentinel is garbage whose finalizer runs after each collection. It is
// larger than the tiny allocator's 16 bytes: a tiny object shares its
// block with others and may never be finalized.
type sentinel struct{ _ [32]byte }

// arm makes the next collection tune the percent, while the floors of
// run are in force.
func arm(run uint64) {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		floors.mu.Lock()
		defer floors.mu.Unlock()
		if floors.run != run {
			return
		}
		tuneLocked()
		arm(run)
	})
}

// tuneLocked sets the percent for the highest floor from the live heap
// the last collection found, when it moved by more than a tenth (each
// change takes the runtime's heap lock).
func tuneLocked() {
	metrics.Read(floors.sample[:])
	var v [3]uint64
	for i, s := range floors.sample {
		if s.Value.Kind() != metrics.KindUint64 {
			return // a runtime without the metric: GOGC's own
		}
		v[i] = s.Value.Uint64()
	}
	p := Percent(v[0], v[1]+v[2], slices.Max(floors.active))
	if d := p - floors.percent; d*10 > floors.percent || -d*10 > floors.percent {
		debug.SetGCPercent(p)
		floors.percent = p
	}
}
