package client

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// A node that accepts connections and answers nothing (stopped, hung)
// held a producer's first Publish for as long as its context — for ever
// with context.Background — on the request for a producer ID, which
// alone of the producer's requests had no bound of its own. It now gets
// refreshAttempt, then the next node is asked.
func TestProducerFirstPublishPassesASilentNode(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		var held []net.Conn // accepted, never read nor answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	srv := brokertest.Start(t)
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTopic(context.Background(), api.CreateTopicRequest{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	p, err := NewProducer(&ProducerConfig{Brokers: []string{silent.Addr().String(), srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := make(chan error, 1)
	go func() {
		_, err := p.Publish(context.Background(), "t", &Record{Value: []byte("x")})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
	case <-time.After(10 * refreshAttempt):
		t.Fatalf("Publish still blocked %v after it started, the first node silent", 10*refreshAttempt)
	}
}
