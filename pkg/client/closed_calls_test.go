package client_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestConsumerCallsAfterCloseFailClosed: every call on a closed Consumer
// returns ErrClosed, as the package promises. Commit without messages
// returned nil, as if it had committed, and CommitAll acknowledged the
// messages Close had handed back and reported them dropped (ErrRevoked).
func TestConsumerCallsAfterCloseFailClosed(t *testing.T) {
	srv, _ := setup(t, "orders", 1)
	produce(t, srv.URL, "orders", 3)
	c := newConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "billing", Topics: []string{"orders"}})
	held := pollOne(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
	}{
		{"Close", c.Close},
		{"Poll", func() error { _, err := c.Poll(ctx, 1); return err }},
		{"Ack", func() error { return c.Ack(held) }},
		{"Nack", func() error { return c.Nack(held) }},
		{"Commit", func() error { return c.Commit() }},
		{"Commit(msg)", func() error { return c.Commit(held) }},
		{"CommitContext", func() error { return c.CommitContext(ctx) }},
		{"CommitAll", c.CommitAll},
		{"CommitAllContext", func() error { return c.CommitAllContext(ctx) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.name == "Close" {
				if err != nil {
					t.Fatalf("second Close: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, client.ErrClosed) {
				t.Fatalf("got %v, want ErrClosed", err)
			}
		})
	}
}

// TestSecondCloseWaitsForTheFirst: a consumer closed twice at once — a
// signal handler's Close and main's deferred one — returned nil from the
// second at once, while the first was still committing and leaving: main
// returned and the process exited before the commit and the leave. The
// second Close now returns only after the first.
func TestSecondCloseWaitsForTheFirst(t *testing.T) {
	srv, admin := setup(t, "orders", 1)
	produce(t, srv.URL, "orders", 1)
	leaving, release := make(chan struct{}), make(chan struct{})
	proxy := frontProxy(t, srv.URL, func(r *http.Request, _ []byte) {
		if strings.HasSuffix(r.URL.Path, "/leave") {
			close(leaving)
			<-release // the first Close waits here, committed, not yet left
		}
	})
	c := newConsumer(t, client.ConsumerConfig{Brokers: []string{proxy.URL}, GroupID: "billing", Topics: []string{"orders"}})
	if err := c.Ack(pollOne(t, c)); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before the proxy's Close, which waits for its handler
	first := make(chan error, 1)
	go func() { first <- c.Close() }()
	<-leaving
	second := make(chan error, 1)
	go func() { second <- c.Close() }()
	select {
	case err := <-second:
		t.Fatalf("second Close returned %v while the first was leaving", err)
	case <-time.After(200 * time.Millisecond): // it does not return before release
	}
	free()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	g, err := admin.Group(context.Background(), "billing")
	if err != nil || len(g.Members) != 0 {
		t.Fatalf("after both Closes: %+v, %v; want no members", g, err)
	}
}
