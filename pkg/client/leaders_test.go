package client_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// On a single broker partitions have no leaders: the producer asks once
// whether it is a cluster (one GET /cluster, answered NOT_CLUSTERED) and
// sends every request to the broker it was given, as before clusters.
func TestSingleBrokerAsksNoLeaders(t *testing.T) {
	srv, _ := setup(t, "solo", 3)
	var mu sync.Mutex
	paths := map[string]int{}
	front := frontProxy(t, srv.URL, func(r *http.Request, _ []byte) {
		mu.Lock()
		defer mu.Unlock()
		paths[r.Method+" "+r.URL.Path]++
	})
	p := newProducer(t, front.URL, client.ProducerConfig{Linger: time.Millisecond})
	ctx := context.Background()
	for i := range 300 {
		rec := &client.Record{Value: []byte("v")}
		if i%2 == 0 {
			rec.Key = []byte{byte(i)}
		}
		p.PublishAsync(ctx, "solo", rec, nil)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, c, "solo")
	if n := len(got[0]) + len(got[1]) + len(got[2]); n != 300 {
		t.Fatalf("%d messages, want 300", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if paths["GET /cluster"] > 1 || paths["POST /topics/solo/batches"]+paths["GET "+api.StreamPath] == 0 {
		t.Fatalf("requests: %v", paths)
	}
}
