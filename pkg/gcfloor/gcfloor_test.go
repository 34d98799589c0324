package gcfloor

import (
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
