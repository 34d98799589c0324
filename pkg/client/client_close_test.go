package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestClientCloseReleasesItsConnections: a Client had no Close, and each
// connection it opened stayed open, with net/http's two goroutines, until
// the broker or the 90 s idle timeout closed it: an application making a
// Client per task could not release them. Close ends the calls in
// progress, closes the connections, and later calls fail with ErrClosed.
func TestClientCloseReleasesItsConnections(t *testing.T) {
	srv, _ := setup(t, "orders", 1)
	before := goleak.IgnoreCurrent()
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Topics(ctx); err != nil {
		t.Fatal(err)
	}
	polled := make(chan error, 1)
	go func() {
		_, _, err := c.Fetch(ctx, "orders", 0, client.FetchOptions{WaitMS: 30_000})
		polled <- err
	}()
	srv.WaitInFlight(1) // the long poll is at the broker
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-polled:
		if !errors.Is(err, client.ErrClosed) {
			t.Fatalf("long poll in progress at Close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close returned before the long poll in progress")
	}
	goleak.VerifyNone(t, before)

	tests := []struct {
		name string
		call func() error
	}{
		{"Close", c.Close},
		{"Topics", func() error { _, err := c.Topics(ctx); return err }},
		{"Topic", func() error { _, err := c.Topic(ctx, "orders"); return err }},
		{"CreateTopic", func() error {
			_, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: "more", Partitions: 1})
			return err
		}},
		{"Publish", func() error {
			_, err := c.Publish(ctx, "orders", api.PublishMessage{Value: []byte(`"v"`)})
			return err
		}},
		{"Fetch", func() error { _, _, err := c.Fetch(ctx, "orders", 0, client.FetchOptions{}); return err }},
		{"Groups", func() error { _, err := c.Groups(ctx); return err }},
		{"Group", func() error { _, err := c.Group(ctx, "billing"); return err }},
		{"Version", func() error { _, err := c.Version(ctx); return err }},
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
	goleak.VerifyNone(t, before)
}
