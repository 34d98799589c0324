// Package crashtest kills the real goqueue binary with SIGKILL, many times,
// while producers publish and a consumer group acknowledges and commits over
// HTTP, and then proves from the restarted broker that nothing it
// acknowledged was lost, duplicated or reordered, and that no committed group
// offset went backwards.
//
// The package is tests only: it owns the ledger of what the broker
// acknowledged and the checks against it, never any broker state. Run the
// short version with
//
//	go test -race ./internal/crashtest/
//
// and the long one (200 kills per fsync policy) with -crash.long or
// GOQUEUE_CRASH_LONG=1; -crash.seed replays a run's kill schedule and
// batch shapes (the seed is logged).
package crashtest
