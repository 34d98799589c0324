package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		live, roots, floor uint64
		want               int
	}{
		{live: 4 * mib, floor: 32 * mib, want: 700}, // goal 32 MiB
		{live: 1 * mib, floor: 32 * mib, want: 800}, // the minimum goal, 32 MiB
		{live: 1 * mib, roots: 3 * mib, floor: 32 * mib, want: 775},
		{live: 16 * mib, floor: 32 * mib, want: 100}, // goal 32 MiB, GOGC's own
		{live: 15 * mib, roots: 2 * mib, floor: 32 * mib, want: 100},
		{live: 100 * mib, floor: 32 * mib, want: 100},
		{live: 0, floor: 32 * mib, want: 800}, // nothing measured yet
		{live: 10 * mib, floor: 25 * mib, want: 150},
		{live: 1 * mib, floor: 2 * mib, want: 100}, // under the runtime's own minimum
	}
	for _, c := range cases {
		p := Percent(c.live, c.roots, c.floor)
		if p != c.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", c.live, c.roots, c.floor, p, c.want)
		}
		goal := max(c.live+(c.live+c.roots)*uint64(p)/100, minHeap*uint64(p)/100)
		if want := max(c.floor, 2*c.live+c.roots, minHeap); goal < want-want/100 || goal > want {
			t.Errorf("live %d, roots %d, floor %d: goal %d, want %d", c.live, c.roots, c.floor, goal, want)
		}
	}
}

// After Start the collector runs at the floor's goal, not GOGC's: a test
// with a small live heap allocating 64 MiB sees far fewer collections
// with a 32 MiB floor than without, and the percent is restored by stop.
func TestStartRaisesTheGoal(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: Start changes nothing")
	}
	collections := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	churn := func() uint64 {
		runtime.GC()
		before := collections()
		for range 64 << 10 {
			sink = make([]byte, 1024)
		}
		return collections() - before
	}
	without := churn()
	stop := Start(32 << 20)
	runtime.GC() // the finalizer tunes after it
	runtime.GC()
	with := churn()
	stop()
	t.Logf("%d collections with the floor, %d without", with, without)
	if with*2 > without {
		t.Fatalf("%d collections with a 32 MiB floor, %d without: the floor did not hold", with, without)
	}
	if p := debug.SetGCPercent(100); p != 100 {
		t.Fatalf("stop left the GC percent at %d", p)
	}
}

var sink []byte

// percentNow reads the process's GC percent, holding the floors' lock so
// that no tuning lands between the read and the restore.
func percentNow() int {
	floors.mu.Lock()
	defer floors.mu.Unlock()
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// Floors that overlap share the one GC percent: the highest still running
// holds whichever stops first, and only the last stop restores the percent
// found before the first. (Each floor kept its own idea of the percent and
// its own percent to restore: A, B, stop A left B's floor undone while B
// believed it in force, and stop B then restored A's tuned percent for
// good.)
func TestOverlappingFloors(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: Start changes nothing")
	}
	runtime.GC()
	const mib = 1 << 20
	for _, order := range []string{"first stopped first", "last stopped first"} {
		t.Run(order, func(t *testing.T) {
			before := percentNow()
			stopSmall := Start(32 * mib)
			small := percentNow()
			stopLarge := Start(64 * mib)
			large := percentNow()
			if small <= before || large <= small {
				t.Fatalf("percent %d, with a 32 MiB floor %d, with 64 MiB too %d: want each higher", before, small, large)
			}
			first, second, left := stopSmall, stopLarge, large
			if order == "last stopped first" {
				first, second, left = stopLarge, stopSmall, small
			}
			first()
			first() // a second call changes nothing
			if p := percentNow(); p*10 < left*9 || p*10 > left*11 {
				t.Fatalf("after one stop the percent is %d, want about %d (the floor left)", p, left)
			}
			second()
			if p := percentNow(); p != before {
				t.Fatalf("after both stops the percent is %d, want %d as before", p, before)
			}
		})
	}
}

// A GOGC variable says how the operator wants the collector run: Start
// leaves the percent alone.
func TestStartLeavesGOGCAlone(t *testing.T) {
	t.Setenv("GOGC", "300")
	before := percentNow()
	stop := Start(32 << 20)
	defer stop()
	if p := percentNow(); p != before {
		t.Fatalf("with GOGC set Start moved the percent from %d to %d", before, p)
	}
}
