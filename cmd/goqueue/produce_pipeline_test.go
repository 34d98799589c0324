package main

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestPipelinedProduceAcrossBrokerKill: the Go producer keeps several
// requests per partition in flight to the real broker process, through a
// proxy that cuts connections after the broker answered (the answers are
// lost, the batches written), and the broker is killed (SIGKILL) and
// started again on the same address and data in the middle. Requests that were out are sent again; the broker, having read
// its producers' sequences back from the log, answers those it wrote with
// their first offsets. Every partition then holds its records in publish
// order with none twice, every record whose callback gave a position is
// there, a record fails only for want of a broker (while it restarts), and
// records published after the restart are written.
func TestPipelinedProduceAcrossBrokerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := filepath.Join(t.TempDir(), "data")
	b := startBinary(t, dir)
	addr := b.Addr()
	const topic, parts, n, killAt = "orders", 3, 30000, 10000
	if st := b.call(t, "POST", "/topics", `{"name":"orders","partitions":3}`, nil); st != 201 {
		t.Fatalf("create: %d", st)
	}
	cuts := cuttingProxy(t, addr, 20)
	p, err := client.NewProducer(&client.ProducerConfig{Brokers: []string{cuts.addr}, Linger: time.Millisecond, BatchBytes: 8 << 10, MaxInFlight: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	type result struct {
		pos client.Position
		err error
	}
	var (
		mu      sync.Mutex
		results = make([]result, n)
		done    int
	)
	halfway := make(chan struct{})
	ctx := context.Background()
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			part := int32(i % parts)
			p.PublishAsync(ctx, topic, &client.Record{Value: []byte(strconv.Itoa(i)), Partition: &part}, func(pos client.Position, err error) {
				mu.Lock()
				defer mu.Unlock()
				results[i] = result{pos, err}
				if done++; done == killAt/2 {
					close(halfway)
				}
			})
		}
	}
	publish(0, killAt)
	<-halfway // requests are out when the broker dies
	b.kill()
	b = proc{testkit.Start(t, goqueueBin.Path(t), testkit.Options{Dir: dir, Addr: addr})}
	publish(killAt, n)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	c, err := client.New(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[client.Position]int{}
	seen := map[int]bool{}
	for part := int32(0); part < parts; part++ {
		last := -1
		for off := int64(0); ; {
			msgs, r, err := c.Fetch(ctx, topic, part, client.FetchOptions{Offset: off, Max: 5000})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				i, err := strconv.Atoi(string(m.Value))
				if err != nil {
					t.Fatal(err)
				}
				if seen[i] {
					t.Fatalf("record %d stored twice (again at partition %d offset %d)", i, part, m.Offset)
				}
				if i <= last || int32(i%parts) != part {
					t.Fatalf("partition %d holds record %d after %d", part, i, last)
				}
				seen[i], last = true, i
				stored[client.Position{Partition: part, Offset: m.Offset}] = i
			}
			if r.NextOffset >= r.HighWatermark {
				break
			}
			off = r.NextOffset
		}
	}
	failed := 0
	mu.Lock()
	defer mu.Unlock()
	for i, r := range results {
		if r.err != nil {
			if !errors.Is(r.err, client.ErrUnreachable) {
				t.Fatalf("record %d: %v", i, r.err)
			}
			failed++ // out of attempts while the broker was down: allowed
			continue
		}
		if got, ok := stored[r.pos]; !ok || got != i {
			t.Fatalf("record %d answered at %+v, which holds record %d (%v)", i, r.pos, got, ok)
		}
	}
	if !seen[n-1] || failed > killAt {
		t.Fatalf("%d records failed; the last one stored: %v", failed, seen[n-1])
	}
	if cuts.cut.Load() == 0 {
		t.Fatal("the proxy cut no connection: no answer was lost")
	}
	t.Logf("%d of %d records stored, %d failed while the broker was down, %d connections cut", len(seen), n, failed, cuts.cut.Load())
}

// cutProxy forwards connections to a broker and cuts up to a budget of
// them just after the broker sent answers, which are dropped.
type cutProxy struct {
	addr string
	cut  atomic.Int64
}

func cuttingProxy(t *testing.T, target string, budget int64) *cutProxy {
	t.Helper()
	cp := &cutProxy{}
	var (
		mu  sync.Mutex
		rng = rand.New(rand.NewPCG(1, 2))
	)
	cutNow := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if cp.cut.Load() < budget && rng.IntN(10) == 0 {
			cp.cut.Add(1)
			return true
		}
		return false
	}
	srv := testkit.ServeTCP(t, func(s *testkit.TCPServer, in net.Conn) {
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			return
		}
		s.Track(out)
		s.Go(func() {
			_, _ = io.Copy(out, in)
			out.Close()
		})
		defer in.Close()
		defer out.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := out.Read(buf)
			if n > 0 && cutNow() {
				return // the answers in buf are lost
			}
			if n > 0 {
				if _, werr := in.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	cp.addr = srv.Addr
	return cp
}
