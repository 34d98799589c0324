package testkit

import "runtime"

// Allocated is the bytes f allocated on the heap, from the runtime's
// running total: for tests that bound what an input makes code allocate
// (a size field announcing far more than is sent). Other goroutines'
// allocations meanwhile count too, so bound it loosely.
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
