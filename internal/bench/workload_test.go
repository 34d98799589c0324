package bench

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestWorkloadsAgainstABroker runs every workload, tiny, against a real
// broker and checks the counts add up, the rates are computed and the
// broker's memory is read when its pid is given.
func TestWorkloadsAgainstABroker(t *testing.T) {
	srv := brokertest.Start(t)
	var progressed atomic.Int64
	cfg := Config{
		Brokers: []string{srv.URL}, Messages: 3000, Fetch: 500,
		Rate: 2000, Duration: 500 * time.Millisecond,
		BrokerPID: os.Getpid(), // brokertest serves in this process
		Stall:     10 * time.Second,
		Progress: func(_ string, total int64, done *atomic.Int64) func() {
			return func() {
				if done.Load() != total {
					t.Errorf("progress ended at %d of %d", done.Load(), total)
				}
				progressed.Add(1)
			}
		},
	}
	ctx := context.Background()
	for _, producers := range []int{1, 4} {
		p, c, err := ProduceConsume(ctx, cfg, producers)
		if err != nil {
			t.Fatalf("%d producers: %v", producers, err)
		}
		if p.Msgs != 3000 || p.Errors != 0 || p.MsgsPerS <= 0 || p.MBPerS <= 0 || p.Producers != producers {
			t.Errorf("produce: %+v", p)
		}
		if c.Msgs != 3000 || c.Acked != 3000 || c.MsgsPerS <= 0 || c.Members != 2 {
			t.Errorf("consume: %+v", c)
		}
		if p.ServerHWMKB == nil || *p.ServerHWMKB <= 0 {
			t.Errorf("no broker memory in %+v", p)
		}
	}
	l, err := Latency(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if l.Received != 1000 || l.Msgs != 1000 || l.Errors != 0 {
		t.Errorf("latency counts: %+v", l)
	}
	// From the intended send time a message can only be later than from
	// its actual one.
	if l.P50 <= 0 || l.CoP50 < l.P50*0.99 || l.CoP99 < l.CoP50 || l.CoP999 < l.CoP99 || l.CoMax < l.CoP999 {
		t.Errorf("latency quantiles out of order: %+v", l)
	}
	if progressed.Load() != 5 {
		t.Errorf("%d workloads reported progress, want 5", progressed.Load())
	}
	admin, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if left, err := admin.Topics(ctx); err != nil || len(left) != 0 {
		t.Errorf("topics left behind: %v, %v", left, err)
	}
	if left, err := admin.Groups(ctx); err != nil || len(left) != 0 {
		t.Errorf("groups left behind: %v, %v", left, err)
	}
}

// The workloads reach a broker that requires an API key when given one.
func TestWorkloadsWithAPIKey(t *testing.T) {
	const key = "bench-test-key-0123456789"
	srv := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.APIKeys = []string{key} }))
	cfg := Config{Brokers: []string{srv.URL}, APIKey: key, Messages: 500, Fetch: 500, Stall: 10 * time.Second}
	p, c, err := ProduceConsume(context.Background(), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.Msgs != 500 || c.Acked != 500 {
		t.Errorf("produce %+v, consume %+v", p, c)
	}
}
