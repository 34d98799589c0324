package client_test

import (
	"context"
	"errors"
	"testing"

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
