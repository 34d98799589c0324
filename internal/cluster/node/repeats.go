package node

import "time"

// repeatEvery is how often a failure retried every tick is logged again
// while it stays the same.
const repeatEvery = 30 * time.Second

// repeats keeps a failure the reconcile loop retries from flooding the
// log: it retries every tick (100 ms), and one partition that could not
// start was logged ten times a second for as long as it lasted. A
// failure is logged when it first comes or changes, and again every
// repeatEvery while it lasts. Owned by the goroutine that retries.
type repeats map[string]repeat

type repeat struct {
	err string
	at  time.Time
}

// due reports whether failure, of what key names, is to be logged at now,
// and notes it if so.
func (r repeats) due(key, failure string, now time.Time) bool {
	last, seen := r[key]
	if seen && last.err == failure && now.Sub(last.at) < repeatEvery {
		return false
	}
	r[key] = repeat{err: failure, at: now}
	return true
}

// done forgets key's failure: it succeeded, and a new one is logged at once.
func (r repeats) done(key string) { delete(r, key) }
