package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// streamCounter is a proxy to a broker that counts requests per
// "METHOD path" and can answer the stream's upgrade 404, as a broker
// older than the stream does.
type streamCounter struct {
	mu       sync.Mutex
	n        map[string]int
	noStream bool
}

func (rc *streamCounter) count(key string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.n[key]
}

func countingProxy(t *testing.T, target string, noStream bool) (*httptest.Server, *streamCounter) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rc := &streamCounter{n: map[string]int{}, noStream: noStream}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.n[r.Method+" "+r.URL.Path]++
		rc.mu.Unlock()
		if rc.noStream && r.URL.Path == api.StreamPath {
			http.Error(w, `{"error":{"code":"NOT_FOUND","message":"no route"}}`, http.StatusNotFound)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, rc
}

// consumeAcked polls until n messages came, acknowledging each, then
// commits; it fails on a duplicate or a message out of order.
func consumeAcked(t *testing.T, cons *client.Consumer, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	next := map[int32]int64{}
	for got := 0; got < n; {
		msgs, err := cons.Poll(ctx, 50)
		if err != nil {
			t.Fatalf("after %d of %d: %v", got, n, err)
		}
		for _, m := range msgs {
			if m.Offset != next[m.Partition] {
				t.Fatalf("partition %d: offset %d, want %d", m.Partition, m.Offset, next[m.Partition])
			}
			next[m.Partition]++
			if err := cons.Ack(m); err != nil {
				t.Fatal(err)
			}
		}
		got += len(msgs)
	}
	if err := cons.Commit(); err != nil {
		t.Fatal(err)
	}
}

// On the stream (the default) a consumer takes its messages: no poll
// request is made, acknowledgements settle, and Commit returns once they
// are committed.
func TestConsumerTakesMessagesOnTheStream(t *testing.T) {
	srv, admin := setup(t, "orders", 2)
	front, rc := countingProxy(t, srv.URL, false)
	produce(t, srv.URL, "orders", 300)
	cons := startConsumer(t, client.ConsumerConfig{Brokers: []string{front.URL}, GroupID: "g", Topics: []string{"orders"}})
	consumeAcked(t, cons, 300)
	if n := rc.count("GET " + api.StreamPath); n != 1 {
		t.Errorf("%d streams opened, want 1", n)
	}
	if n := rc.count("POST /groups/g/poll"); n != 0 {
		t.Errorf("%d poll requests, want none", n)
	}
	if n := rc.count("POST /groups/g/ack"); n != 0 {
		t.Errorf("%d ack requests, want none: acks go on the stream", n)
	}
	d, err := admin.Group(context.Background(), "g")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Partitions {
		if p.InFlight != 0 || p.CommittedOffset != p.HighWatermark {
			t.Errorf("partition %d after Commit: %d in flight, committed %d of %d", p.Partition, p.InFlight, p.CommittedOffset, p.HighWatermark)
		}
	}
}

// A broker without the stream (404) is polled over HTTP, and asked for
// the stream once only.
func TestConsumerPollsABrokerWithoutTheStream(t *testing.T) {
	srv, _ := setup(t, "orders", 2)
	front, rc := countingProxy(t, srv.URL, true)
	produce(t, srv.URL, "orders", 300)
	cons := startConsumer(t, client.ConsumerConfig{Brokers: []string{front.URL}, GroupID: "g", Topics: []string{"orders"}})
	consumeAcked(t, cons, 300)
	if n := rc.count("GET " + api.StreamPath); n != 1 {
		t.Errorf("asked for the stream %d times, want once", n)
	}
	if n := rc.count("POST /groups/g/poll"); n == 0 {
		t.Error("no poll requests: the messages came another way")
	}
}

// With NoStream the consumer never asks for the stream.
func TestConsumerWithoutStreamPolls(t *testing.T) {
	srv, _ := setup(t, "orders", 1)
	front, rc := countingProxy(t, srv.URL, false)
	produce(t, srv.URL, "orders", 50)
	cons := newPollingConsumer(t, client.ConsumerConfig{Brokers: []string{front.URL}, GroupID: "g", Topics: []string{"orders"}})
	consumeAcked(t, cons, 50)
	if n := rc.count("GET " + api.StreamPath); n != 0 {
		t.Errorf("asked for the stream %d times with NoStream", n)
	}
}

// A broker restart breaks the stream: the consumer polls over HTTP, opens
// a stream again, and loses no message (those unacknowledged come again).
func TestConsumerStreamSurvivesABrokerRestart(t *testing.T) {
	srv, _ := setup(t, "orders", 1)
	produce(t, srv.URL, "orders", 100)
	cons := startConsumer(t, client.ConsumerConfig{Brokers: []string{srv.URL}, GroupID: "g", Topics: []string{"orders"}})
	consumeAcked(t, cons, 100)
	srv.Restart()
	produce(t, srv.URL, "orders", 100)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := map[int64]bool{}
	for len(seen) < 100 {
		msgs, err := cons.Poll(ctx, 50)
		if err != nil && ctx.Err() != nil {
			t.Fatalf("after the restart, %d of 100 new messages: %v", len(seen), err)
		}
		for _, m := range msgs {
			if m.Offset < 100 {
				t.Fatalf("offset %d, committed before the restart, delivered again", m.Offset)
			}
			seen[m.Offset] = true
			cons.Ack(m)
		}
	}
	if err := cons.Commit(); err != nil {
		t.Fatal(fmt.Errorf("commit after the restart: %w", err))
	}
}
