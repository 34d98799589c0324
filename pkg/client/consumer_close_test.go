package client

import (
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
