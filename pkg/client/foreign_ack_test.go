package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// pollOne polls c until it returns a message.
func pollOne(t *testing.T, c *client.Consumer) *client.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		msgs, err := c.Poll(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) > 0 {
			return msgs[0]
		}
	}
}

// TestAckOfAnotherConsumersMessageIsRefused: two consumers of two groups
// hold the same offset. Acknowledging one's message on the other was taken
// (it names the same partition and offset, and both consumers were in
// their first session) and settled the other group's copy, unprocessed:
// committed, never delivered again. Such a message, or one read by Fetch,
// is now refused, and the consumer's own copy stays in flight.
func TestAckOfAnotherConsumersMessageIsRefused(t *testing.T) {
	srv, admin := setup(t, "orders", 1)
	produce(t, srv.URL, "orders", 1)
	billing := newConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "billing", Topics: []string{"orders"}})
	audit := newConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "audit", Topics: []string{"orders"}})
	theirs := pollOne(t, billing)
	pollOne(t, audit) // the same offset, in flight for audit
	fetched, _, err := admin.Fetch(context.Background(), "orders", 0, client.FetchOptions{Max: 1})
	if err != nil || len(fetched) != 1 {
		t.Fatalf("fetch: %v, %d messages", err, len(fetched))
	}

	tests := []struct {
		name string
		call func() error
	}{
		{"Ack another group's message", func() error { return audit.Ack(theirs) }},
		{"Nack another group's message", func() error { return audit.Nack(theirs) }},
		{"Commit another group's message", func() error { return audit.Commit(theirs) }},
		{"Ack a fetched message", func() error { return audit.Ack(fetched[0]) }},
		{"Ack a message made by hand", func() error { return audit.Ack(&client.Message{Topic: "orders"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil || errors.Is(err, client.ErrRevoked) {
				t.Fatalf("got %v, want an error saying the message is not this consumer's", err)
			}
		})
	}
	if err := audit.Commit(); err != nil {
		t.Fatal(err)
	}
	offs, err := admin.GroupOffsets(context.Background(), "audit")
	if err != nil {
		t.Fatal(err)
	}
	if off := offs["orders"][0]; off != 0 {
		t.Fatalf("audit committed offset %d of a message it did not process", off)
	}
}
