package client

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// Close of a consumer with a callback in progress on the application's
// goroutine (an OnAssigned a Poll calls, for a partition its answer or a
// heartbeat it made gave the member) that never returns waited for it
// for ever, to call OnRevoked: the callbacks run one at a time, and only
// those of the consumer's own goroutines were given up on. It returns
// within twice CloseTimeout, without calling OnRevoked, and says so.
func TestCloseWithACallbackOfAPollStuck(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	defer free() // before the cleanup's Close
	var armed, revoked atomic.Bool
	const closeTimeout = 500 * time.Millisecond
	cfg := ConsumerConfig{CloseTimeout: closeTimeout,
		OnAssigned: func(api.Assignment) {
			if armed.Load() {
				entered <- struct{}{}
				<-release
			}
		},
		OnRevoked: func(api.Assignment) { revoked.Store(true) }}
	_, cons, _ := groupConsumer(t, 1, 1, cfg, nil)
	armed.Store(true)
	go cons.callback(cons.cfg.OnAssigned, cons.Assignment()) // as Poll's accept calls it
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- cons.Close() }()
	select {
	case err := <-closed:
		if err == nil || !strings.Contains(err.Error(), "OnRevoked not called") {
			t.Fatalf("Close: %v, want the error that a callback did not return", err)
		}
		if revoked.Load() {
			t.Fatal("OnRevoked called while OnAssigned had not returned")
		}
	case <-time.After(10 * closeTimeout):
		free()
		<-closed
		t.Fatalf("Close still waiting after %v (CloseTimeout %v)", 10*closeTimeout, closeTimeout)
	}
}

// Close with a callback that does not return returns within twice
// CloseTimeout, says so, and leaves no goroutine of the consumer running
// but the callback's: an OnRevoked that Close itself calls (it waited for
// it without bound: for ever), or a stream reader's (an OnLost; the
// goroutine that waited for the readers, to tell Close, outlived Close
// until the callback returned; and so did a goroutine of the consumer
// waiting for its turn to call another, which it then called after
// Close).
func TestCloseLeavesOnlyAStuckCallback(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stuck func(cons *Consumer, cb func(api.Assignment)) // starts cb, stuck, as the consumer would
		// waiting: another callback waits for its turn meanwhile, as the
		// background goroutine's OnAssigned for a heartbeat's answer: it
		// must not outlive Close, to be called after it.
		waiting bool
		want    string // in Close's error
	}{
		{"OnRevoked", nil, false, "OnRevoked did not return"},
		{"a stream reader's OnLost", func(cons *Consumer, cb func(api.Assignment)) {
			cons.streamWG.Go(func() { cons.callback(cb, cons.Assignment()) })
		}, false, "OnRevoked not called"},
		{"a stream reader's OnLost, another callback waiting", func(cons *Consumer, cb func(api.Assignment)) {
			cons.streamWG.Go(func() { cons.callback(cb, cons.Assignment()) })
		}, true, "OnRevoked not called"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entered, release := make(chan struct{}, 1), make(chan struct{})
			var releaseOnce sync.Once
			free := func() { releaseOnce.Do(func() { close(release) }) }
			defer free() // before the cleanup's Close
			stuck := func(api.Assignment) {
				entered <- struct{}{}
				<-release
			}
			const closeTimeout = 500 * time.Millisecond
			cfg := ConsumerConfig{CloseTimeout: closeTimeout}
			if tc.stuck == nil {
				cfg.OnRevoked = stuck
			}
			before := clientGoroutines() // of the tests before, say
			_, cons, _ := groupConsumer(t, 1, 1, cfg, nil)
			if tc.stuck != nil {
				tc.stuck(cons, stuck)
				<-entered
			}
			if tc.waiting {
				go cons.callback(func(api.Assignment) { t.Error("a callback called after Close") }, cons.Assignment())
			}
			closed := make(chan error, 1)
			go func() { closed <- cons.Close() }()
			select {
			case err := <-closed:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Close: %v, want an error saying %q", err, tc.want)
				}
			case <-time.After(10 * closeTimeout):
				free()
				<-closed
				t.Fatalf("Close still waiting after %v (CloseTimeout %v)", 10*closeTimeout, closeTimeout)
			}
			// The consumer's goroutines but the callback's have returned,
			// or are returning.
			deadline := time.Now().Add(5 * time.Second)
			for {
				var left []string
				for id, g := range clientGoroutines() {
					if _, ok := before[id]; !ok {
						left = append(left, g)
					}
				}
				if len(left) == 1 && strings.Contains(left[0], "TestCloseLeavesOnlyAStuckCallback.") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d goroutines of the consumer after Close, want the callback's only:\n%s", len(left), strings.Join(left, "\n\n"))
				}
				time.Sleep(10 * time.Millisecond) // polled: returning goroutines signal nothing
			}
		})
	}
}

// clientGoroutines returns the stacks of the goroutines running code of
// the package's types (a method, or a function literal in one), by
// goroutine ID, but the caller's.
func clientGoroutines() map[string]string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := make(map[string]string)
	for i, g := range strings.Split(string(buf), "\n\n") {
		if id, _, ok := strings.Cut(strings.TrimPrefix(g, "goroutine "), " "); ok && i > 0 && strings.Contains(g, "goqueue/pkg/client.(*") {
			out[id] = g
		}
	}
	return out
}
