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
// RetryTimeout for each request a partition had queued. A broker that
// takes connections and answers nothing (stopped, its host unreachable)
// held each try for RequestTimeout, and the five tries a request was
// promised took five of them, well past RetryTimeout.
func TestProducerCloseWithBrokerDownTakesOneRetryTimeout(t *testing.T) {
	const retry, request = 1500 * time.Millisecond, time.Second
	for _, tt := range []struct {
		name     string
		noStream bool
		hung     bool // connections are held unanswered, not closed
		within   time.Duration
	}{
		{"stream", false, false, retry * 3 / 2},
		{"http", true, false, retry * 3 / 2},
		{"hung", false, true, 2*retry + request}, // a try ends RequestTimeout at most after RetryTimeout
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := setup(t, "orders", 1)
			p := newProducer(t, srv.URL, client.ProducerConfig{RetryTimeout: retry, RequestTimeout: request, NoStream: tt.noStream})
			ctx := context.Background()
			if _, err := p.Publish(ctx, "orders", &client.Record{Value: []byte("up")}); err != nil {
				t.Fatal(err)
			}
			srv.Stop()
			// The broker's address now takes connections and closes (or
			// holds) them: a broker down, whose dials can be counted.
			ln, err := net.Listen("tcp", srv.URL[len("http://"):])
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			dials := make(chan net.Conn, 1000)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					if !tt.hung {
						c.Close()
					}
					dials <- c
				}
			}()
			defer func() {
				ln.Close()
				for len(dials) > 0 {
					(<-dials).Close()
				}
			}()
			failed := make(chan error, 2)
			cb := func(_ client.Position, err error) { failed <- err }
			start := time.Now()
			p.PublishAsync(ctx, "orders", &client.Record{Value: []byte("first")}, cb)
			<-dials
			if !tt.hung {
				<-dials // the first request is being sent again: the next waits behind it
			}
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
			if took > tt.within {
				t.Fatalf("Close returned %v after the first publish, want within %v (RetryTimeout %v)", took, tt.within, retry)
			}
		})
	}
}
