package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestTransportKeepsRotating: a request for any broker moves on from an
// unavailable broker to the next, however often the brokers failed before.
// The index of the current broker once grew past the broker count and then
// stayed on the first broker for good: a producer that lived through three
// leader failovers could not read a topic's leaders while that broker was
// down, and kept sending a partition to its dead leader.
func TestTransportKeepsRotating(t *testing.T) {
	const n = 3
	var down atomic.Int32 // index of the broker answering 503
	asked := make([]atomic.Int32, n)
	var urls []string
	for i := range n {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			asked[i].Add(1)
			if down.Load() == int32(i) {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("{}"))
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	tr, err := newTransport(urls, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	// Each broker in turn goes down while it is the current one, three
	// times round.
	for round := range 3 * n {
		i := int32(round % n)
		down.Store(i)
		if err := tr.do(context.Background(), "GET", "/version", nil, nil); err != nil {
			t.Fatalf("round %d, broker %d down: %v", round, i, err)
		}
		var counts []int32
		for j := range asked {
			counts = append(counts, asked[j].Swap(0))
		}
		want := make([]int32, n)
		want[i], want[(i+1)%n] = 1, 1
		if fmt.Sprint(counts) != fmt.Sprint(want) {
			t.Fatalf("round %d, broker %d down: brokers asked %v times, want %v (the down one once, then the next)", round, i, counts, want)
		}
	}
}
