package client

import "sync"

// goroutines runs goroutines and tells when they have all returned, as a
// sync.WaitGroup does, but by a channel that the last of them closes, so
// that no goroutine of its own waits on them to tell a caller whose wait
// is bounded. Close bounds its wait for the consumer's goroutines, one of
// which may be in an application's callback that does not return: a
// goroutine waiting on a WaitGroup for it, to close Close's channel,
// outlived Close as long as the callback did. The zero value is ready.
type goroutines struct {
	mu   sync.Mutex
	n    int           // running
	idle chan struct{} // closed when n last fell to 0; nil before the first
}

// Go runs f in a goroutine.
func (g *goroutines) Go(f func()) {
	g.mu.Lock()
	if g.n == 0 {
		g.idle = make(chan struct{})
	}
	g.n++
	g.mu.Unlock()
	go func() {
		defer g.exit()
		f()
	}()
}

func (g *goroutines) exit() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n--; g.n == 0 {
		close(g.idle)
	}
}

// Idle returns a channel closed once no goroutine g ran is running: at
// once if none is, else when the last running (or started meanwhile)
// returns.
func (g *goroutines) Idle() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n == 0 {
		done := make(chan struct{})
		close(done)
		return done
	}
	return g.idle
}
