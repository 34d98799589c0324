// Package periodic runs a function at a fixed interval for as long as a
// context lasts: the broker's fsync, retention and storage checks, the
// coordinator's history samples and cache sweeps, and a cluster node's
// per-tick work all share this one loop.
package periodic

import (
	"context"
	"time"
)

// Every calls fn every d until ctx ends (not at once: the first call
// comes d after the start). A call that outlasts d delays the next one
// rather than overlapping it: ticks missed meanwhile are dropped, as a
// time.Ticker drops them.
func Every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
