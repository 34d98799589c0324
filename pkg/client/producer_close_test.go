package client_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestProducerCloseWithBrokerDownTakesOneRetryTimeout: with the broker
// down, Close fails the records it could not write and returns about one
// RetryTimeout after they were published. A request that waited behind an
// earlier one of its partition, retried meanwhile, had a RetryTimeout of
// its own once that one failed: Close took twice as long, and one more
// RetryTimeout for each request a partition had queued.
func TestProducerCloseWithBrokerDownTakesOneRetryTimeout(t *testing.T) {
	const retry = 1500 * time.Millisecond
	for _, tt := range []struct {
		name     string
		noStream bool
	}{{"stream", false}, {"http", true}} {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := setup(t, "orders", 1)
			p := newProducer(t, srv.URL, client.ProducerConfig{RetryTimeout: retry, NoStream: tt.noStream})
			ctx := context.Background()
			if _, err := p.Publish(ctx, "orders", &client.Record{Value: []byte("up")}); err != nil {
				t.Fatal(err)
			}
			srv.Stop()
			// The broker's address now takes connections and closes them:
			// a broker down, whose dials can be counted.
			ln, err := net.Listen("tcp", srv.URL[len("http://"):])
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			dials := make(chan struct{}, 1000)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
					dials <- struct{}{}
				}
			}()
			failed := make(chan error, 2)
			cb := func(_ client.Position, err error) { failed <- err }
			start := time.Now()
			p.PublishAsync(ctx, "orders", &client.Record{Value: []byte("first")}, cb)
			<-dials
			<-dials // the first request is being sent again: the next waits behind it
			p.PublishAsync(ctx, "orders", &client.Record{Value: []byte("second")}, cb)
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			for range 2 {
				if err := <-failed; !errors.Is(err, client.ErrUnreachable) {
					t.Errorf("record failed with %v, want ErrUnreachable", err)
				}
			}
			if took > retry*3/2 {
				t.Fatalf("Close returned %v after the first publish, want about RetryTimeout (%v)", took, retry)
			}
		})
	}
}
