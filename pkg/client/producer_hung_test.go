package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestProducerOutlivesAHungNode: a node that stops answering without its
// connections breaking (SIGSTOP, a hung process) used to stall the whole
// producer for as long as it stayed so: its requests, never answered,
// held every in-flight slot, the other nodes' partitions included. Here
// node n2 leads partition 0 in front of a real broker, then hangs. The
// other partitions' records published after the hang are acknowledged
// before any of partition 0's (MaxInFlight is per node); partition 0's
// connection is given up after RequestTimeout and its records go to the
// leader known after that; every record is stored once, in order, where
// its callback said.
func TestProducerOutlivesAHungNode(t *testing.T) {
	const topic, parts, n, hangAt = "hung", 3, 450, 150
	srv, c, rp, _ := brokerBehindProxy(t, topic, parts)
	ctx := context.Background()
	var hung atomic.Bool
	release := make(chan struct{})
	n2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hung.Load() {
			<-release // stopped: reads the request, answers nothing
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer n2.Close()
	defer close(release) // before n2.Close, which waits for its handlers

	// Long enough for the records after the hang to be published and
	// the other partitions' acknowledged first, on a loaded machine too.
	const timeout = 4 * time.Second
	p, err := NewProducer(&ProducerConfig{Brokers: []string{srv.URL}, Linger: 100 * time.Microsecond, BatchBytes: 512,
		NoStream: true, RequestTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	pretendLeader(t, ctx, p, topic, n2.URL, 2, 0)

	var (
		mu      sync.Mutex
		results = make([]Position, n)
		acked   = make([]time.Time, n)
		errs    []error
	)
	for i := range n {
		if i == hangAt {
			if err := p.Flush(ctx); err != nil { // partition 0's batches have landed on n2
				t.Fatal(err)
			}
			hung.Store(true)
		}
		part := int32(i % parts)
		p.PublishAsync(ctx, topic, &Record{Value: []byte(strconv.Itoa(i)), Partition: &part}, func(pos Position, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			results[i], acked[i] = pos, time.Now()
		})
		time.Sleep(time.Millisecond) // a steady stream: many requests, each partition several in flight
	}
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatalf("flush with a node hung: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("%d records failed; first: %v", len(errs), errs[0])
	}
	var firstHung, lastOther time.Time
	for i := hangAt; i < n; i++ {
		if i%parts == 0 {
			if firstHung.IsZero() || acked[i].Before(firstHung) {
				firstHung = acked[i]
			}
		} else if acked[i].After(lastOther) {
			lastOther = acked[i]
		}
	}
	if !lastOther.Before(firstHung) {
		t.Fatalf("the other partitions' last record was acknowledged %v after partition 0's first: they waited for the hung node",
			lastOther.Sub(firstHung))
	}
	storedOnceInOrder(ctx, t, c, topic, parts, results)
}
