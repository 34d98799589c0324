package client_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// Records that come while their partition cannot take another request,
// over many lingers, gather into one request, not one request per linger:
// a queue of small requests of one partition drains at one round trip each
// (or MaxInFlightPerPartition when pipelined), and after a leader's
// failover (seconds of requests out to a dead node) a producer publishing
// steadily never caught up with it again. Sent one at a time (a client of
// the caller's own), the partition takes nothing while its first request
// is out; pipelined, the same here, since a partition's first batch goes
// alone (partSeq.landed), and once one landed it would take
// api.MaxInFlightPerPartition requests, then gather: at most that many
// and one in all.
func TestProducerGathersWhileItsPartitionIsOut(t *testing.T) {
	t.Run("one at a time", func(t *testing.T) { testGathers(t, &http.Client{}, 2) })
	t.Run("pipelined", func(t *testing.T) { testGathers(t, nil, api.MaxInFlightPerPartition+1) })
}

func testGathers(t *testing.T, hc *http.Client, most int) {
	srv, _ := setup(t, "t", 1)
	var (
		mu       sync.Mutex
		requests int
	)
	held := make(chan struct{})
	front := frontProxy(t, srv.URL, func(r *http.Request, _ []byte) {
		if !strings.HasSuffix(r.URL.Path, "/batches") {
			return
		}
		mu.Lock()
		requests++
		first := requests == 1
		mu.Unlock()
		if first {
			<-held
		}
	})
	const linger = time.Millisecond
	p := newProducer(t, front.URL, client.ProducerConfig{Linger: linger, HTTPClient: hc, NoStream: true}) // HTTP requests, which the proxy holds
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 21)
	publish := func(v string) {
		wg.Add(1)
		p.PublishAsync(ctx, "t", &client.Record{Value: []byte(v)}, func(_ client.Position, err error) {
			errs <- err
			wg.Done()
		})
	}
	publish("first")
	testkit.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return requests == 1
	}, "the first request out")
	for i := range 20 {
		publish(fmt.Sprint(i))
		time.Sleep(3 * linger) // each record's linger passes while the first request is out
	}
	close(held)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if requests < 2 || requests > most {
		t.Fatalf("%d requests, want 2 to %d: the first, then the twenty records that came while it was out", requests, most)
	}
}
