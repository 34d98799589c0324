package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// faults breaks and slows the connections of a producer's pipe: a read
// or a write fails (closing the connection) with probability drop while
// the budget of faults lasts, and reads are delayed now and then, so
// answers are lost after the broker wrote the batch (the batch is sent
// again and must not be written twice), requests are cut in the middle
// (nothing written, later ones refused as a gap), and many requests are
// out at once. It counts requests written and answers read.
type faults struct {
	mu       sync.Mutex
	rng      *rand.Rand
	drop     float64
	framed   bool // the pipes speak PRODUCE frames, not HTTP requests
	budget   int  // faults still to inject
	injected int
	written  int // requests (or PRODUCE frames) written
	answers  int // answers (or answer frames) read
	maxOut   int // most requests written and not answered
}

var errInjected = errors.New("injected fault")

func (f *faults) roll() (fail bool, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.budget > 0 && f.rng.Float64() < f.drop {
		f.budget--
		f.injected++
		return true, 0
	}
	if f.rng.IntN(8) == 0 {
		delay = time.Duration(f.rng.IntN(500)) * time.Microsecond
	}
	return false, delay
}

func (f *faults) count(written, answers int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.written += written
	f.answers += answers
	f.maxOut = max(f.maxOut, f.written-f.answers)
}

type faultConn struct {
	net.Conn
	f      *faults
	frames frameCounter // the answers of a framed pipe
}

func (c *faultConn) Read(b []byte) (int, error) {
	fail, delay := c.f.roll()
	if fail {
		c.Conn.Close()
		return 0, errInjected
	}
	time.Sleep(delay)
	n, err := c.Conn.Read(b)
	if c.f.framed {
		c.f.count(0, c.frames.feed(b[:n]))
	} else {
		c.f.count(0, bytes.Count(b[:n], []byte("HTTP/1.1 ")))
	}
	return n, err
}

func (c *faultConn) Write(b []byte) (int, error) {
	if fail, _ := c.f.roll(); fail {
		n, _ := c.Conn.Write(b[:len(b)/2]) // cut in the middle
		c.Conn.Close()
		return n, errInjected
	}
	switch {
	case !c.f.framed:
		c.f.count(bytes.Count(b, []byte("POST /topics/")), 0)
	case len(b) >= api.StreamHeaderLen && api.StreamType(b[4]) == api.StreamProduce:
		c.f.count(1, 0) // the test's batches are small: a frame is one write
	}
	return c.Conn.Write(b)
}

// frameCounter counts the frames in what a stream's reader reads: the
// upgrade's answer head, then frames.
type frameCounter struct {
	head bool   // the answer head has been read
	buf  []byte // bytes not yet counted
}

func (fc *frameCounter) feed(b []byte) int {
	fc.buf = append(fc.buf, b...)
	if !fc.head {
		i := bytes.Index(fc.buf, []byte("\r\n\r\n"))
		if i < 0 {
			return 0
		}
		fc.head, fc.buf = true, fc.buf[i+4:]
	}
	n := 0
	for len(fc.buf) >= 4 {
		l := 4 + int(uint64FromBE(fc.buf[:4]))
		if len(fc.buf) < l {
			break
		}
		fc.buf = fc.buf[l:]
		n++
	}
	return n
}

// TestPipelinedProduceKeepsOrderUnderFaults publishes to a real broker
// over a pipe whose connections break and stall, with many requests of a
// partition in flight, as HTTP requests and as PRODUCE frames on the
// stream: every partition holds the records in publish order with none
// twice, each record whose callback said where it landed is there, and
// (with a budget of faults small against the attempts) every record is
// written.
func TestPipelinedProduceKeepsOrderUnderFaults(t *testing.T) {
	for _, tc := range []struct {
		stream bool
		seed   uint64
	}{{false, 1}, {false, 2}, {false, 3}, {true, 1}, {true, 2}, {true, 3}} {
		stream, seed := tc.stream, tc.seed
		t.Run(fmt.Sprintf("stream=%t/seed=%d", stream, seed), func(t *testing.T) {
			srv := brokertest.Start(t)
			const topic, parts, n = "f", 3, 3000
			c, err := New(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: topic, Partitions: parts}); err != nil {
				t.Fatal(err)
			}
			f := &faults{rng: rand.New(rand.NewPCG(seed, 7)), drop: 0.1, budget: 12, framed: stream}
			p, err := NewProducer(&ProducerConfig{Brokers: []string{srv.URL}, Linger: 100 * time.Microsecond, BatchBytes: 1024, MaxInFlight: 12, NoStream: !stream})
			if err != nil {
				t.Fatal(err)
			}
			p.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &faultConn{Conn: conn, f: f}, nil
			}
			type result struct {
				pos   Position
				err   error
				calls int
			}
			var mu sync.Mutex
			results := make([]result, n)
			for i := range n {
				part := int32(i % parts)
				p.PublishAsync(ctx, topic, &Record{Value: []byte(strconv.Itoa(i)), Partition: &part}, func(pos Position, err error) {
					mu.Lock()
					defer mu.Unlock()
					results[i].pos, results[i].err = pos, err
					results[i].calls++
				})
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if p.pid < 0 {
				t.Fatal("the producer did not get a producer ID: nothing was pipelined")
			}

			stored := map[Position]int{}
			seen := map[int]Position{}
			readIndexed(ctx, t, c, topic, parts, func(pos Position, i, last int) {
				if prev, dup := seen[i]; dup {
					t.Fatalf("record %d stored twice: at %v and %v", i, prev, pos)
				}
				if i <= last || int32(i%parts) != pos.Partition {
					t.Fatalf("partition %d holds record %d after %d", pos.Partition, i, last)
				}
				seen[i], stored[pos] = pos, i
			})
			for i, r := range results {
				if r.calls != 1 {
					t.Fatalf("record %d: %d callbacks", i, r.calls)
				}
				if r.err != nil {
					t.Errorf("record %d failed: %v", i, r.err)
					continue
				}
				if stored[r.pos] != i {
					t.Fatalf("record %d answered at %v, which holds record %d", i, r.pos, stored[r.pos])
				}
			}
			if len(seen) != n {
				t.Errorf("%d records stored, want %d", len(seen), n)
			}
			if f.injected == 0 || f.maxOut < 2 {
				t.Fatalf("%d faults injected, at most %d requests out at once: the test tested nothing", f.injected, f.maxOut)
			}
			t.Logf("%d faults, up to %d requests out at once", f.injected, f.maxOut)
		})
	}
}

// TestProducerWithOldBroker: a broker without POST /producers (older than
// pipelined producing) answers 404; the producer then sends batches
// without a producer ID, one request per partition at a time, and every
// record lands in order.
func TestProducerWithOldBroker(t *testing.T) {
	testProducerWithOldBroker(t, "/producers")
}

// TestProducerWithoutTheStream: a broker that hands out producer IDs but
// has no stream (404), or a stream without PRODUCE frames (older than
// them), gets the pipelined batches as HTTP requests, and is asked for
// the stream once; every record lands in order.
func TestProducerWithoutTheStream(t *testing.T) {
	for _, missing := range []string{api.StreamPath, "produce frames"} {
		t.Run(missing, func(t *testing.T) { testProducerWithOldBroker(t, missing) })
	}
}

// testProducerWithOldBroker publishes through a proxy to a broker without
// missing — POST /producers, the stream (api.StreamPath), or the stream's
// PRODUCE frames ("produce frames": the proxy drops the 101's
// api.StreamFramesHeader) — and counts the batches posted.
func testProducerWithOldBroker(t *testing.T, missing string) {
	srv := brokertest.Start(t)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		if missing == "produce frames" {
			r.Header.Del(api.StreamFramesHeader)
		}
		return nil
	}
	var mu sync.Mutex
	var withID, batches, streams int
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.StreamPath {
			mu.Lock()
			streams++
			mu.Unlock()
		}
		if r.URL.Path == missing {
			http.NotFound(w, r)
			return
		}
		if r.Method == http.MethodPost && r.Header.Get("Content-Type") == api.BatchesContentType {
			body := new(bytes.Buffer)
			if _, err := body.ReadFrom(r.Body); err != nil {
				t.Error(err)
			}
			frames, err := api.SplitFrames(body.Bytes())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			for _, fr := range frames {
				batches++
				if pid := int64(uint64FromBE(fr.Batch[43:51])); pid != -1 {
					withID++
				}
			}
			mu.Unlock()
			r.Body = readCloser{bytes.NewReader(body.Bytes())}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(old.Close)
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: "o", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	p, err := NewProducer(&ProducerConfig{Brokers: []string{old.URL}, Linger: 100 * time.Microsecond, BatchBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 500
	errs := make(chan error, n)
	for i := range n {
		part := int32(i % 2)
		p.PublishAsync(ctx, "o", &Record{Value: []byte(strconv.Itoa(i)), Partition: &part}, func(_ Position, err error) { errs <- err })
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for part := int32(0); part < 2; part++ {
		msgs, _, err := c.Fetch(ctx, "o", part, FetchOptions{Max: n})
		if err != nil {
			t.Fatal(err)
		}
		for k, m := range msgs {
			if want := strconv.Itoa(2*k + int(part)); string(m.Value) != want {
				t.Fatalf("partition %d offset %d holds %q, want %q", part, k, m.Value, want)
			}
		}
		if len(msgs) != n/2 {
			t.Fatalf("partition %d holds %d records, want %d", part, len(msgs), n/2)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	switch {
	case batches == 0:
		t.Fatal("no batches were posted")
	case missing == "/producers" && withID != 0:
		t.Fatalf("%d of %d batches carried a producer ID; an old broker gets none", withID, batches)
	case missing != "/producers" && withID != batches:
		t.Fatalf("%d of %d batches carried a producer ID; all are pipelined", withID, batches)
	case missing != "/producers" && streams != 1:
		t.Fatalf("the stream was asked for %d times, want once", streams)
	}
}

func uint64FromBE(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// A request larger than the broker takes fails its records at once with
// BODY_TOO_LARGE on the stream, as over HTTP: the broker refuses the
// stream while reading it, and the producer gives that refusal to the
// request it was reading instead of sending it again until RetryTimeout.
// The next records go on a new stream.
func TestProducerRequestTooLargeForTheStream(t *testing.T) {
	srv := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.MaxBodyBytes = 4096 }))
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: "o", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	p, err := NewProducer(&ProducerConfig{Brokers: []string{srv.URL}, RetryTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	errs := make(chan error, 2)
	start := time.Now()
	p.PublishAsync(ctx, "o", &Record{Value: make([]byte, 8192)}, func(_ Position, err error) { errs <- err })
	if err := <-errs; !isCode(err, api.ErrBodyTooLarge) {
		t.Fatalf("a request of 8 KiB to a broker taking 4 KiB: %v, want BODY_TOO_LARGE", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("refused after %v: sent again instead of failing", d)
	}
	p.PublishAsync(ctx, "o", &Record{Value: []byte("small")}, func(_ Position, err error) { errs <- err })
	if err := <-errs; err != nil {
		t.Fatalf("the next record: %v", err)
	}
}
