package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// setup starts a broker with topic (parts partitions) and an admin Client.
func setup(t *testing.T, topic string, parts int32, opts ...brokertest.Option) (*brokertest.Server, *client.Client) {
	t.Helper()
	srv := brokertest.Start(t, opts...)
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTopic(context.Background(), api.CreateTopicRequest{Name: topic, Partitions: parts}); err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// readAll fetches every message of every partition of topic.
func readAll(t *testing.T, c *client.Client, topic string) map[int32][]*client.Message {
	t.Helper()
	ctx := context.Background()
	info, err := c.Topic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int32][]*client.Message)
	for p := int32(0); p < info.Partitions; p++ {
		off := int64(0)
		for {
			msgs, r, err := c.Fetch(ctx, topic, p, client.FetchOptions{Offset: off, Max: 1000})
			if err != nil {
				t.Fatal(err)
			}
			out[p] = append(out[p], msgs...)
			if r.NextOffset >= r.HighWatermark {
				break
			}
			off = r.NextOffset
		}
	}
	return out
}

func newProducer(t *testing.T, url string, cfg client.ProducerConfig) *client.Producer {
	t.Helper()
	cfg.Brokers = []string{url}
	p, err := client.NewProducer(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestProducerKeyedAndKeylessRoundTrip(t *testing.T) {
	srv, c := setup(t, "orders", 4)
	p := newProducer(t, srv.URL, client.ProducerConfig{Linger: time.Millisecond, BatchBytes: 4096})
	ctx := context.Background()
	const n = 2000
	var (
		mu   sync.Mutex
		pos  = make(map[string]client.Position)
		errs []error
	)
	for i := range n {
		rec := &client.Record{Value: []byte(fmt.Sprintf("v%d", i))}
		if i%2 == 0 {
			rec.Key = []byte(fmt.Sprintf("k%d", i%17))
			rec.Headers = []client.Header{{Key: "i", Value: []byte(fmt.Sprint(i))}}
		}
		p.PublishAsync(ctx, "orders", rec, func(at client.Position, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			pos[string(rec.Value)] = at
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 || len(pos) != n {
		t.Fatalf("%d callbacks, errors %v", len(pos), errs)
	}
	got := readAll(t, c, "orders")
	total := 0
	last := make(map[string]int) // key → last index seen, to check per-key order
	for part, msgs := range got {
		for _, m := range msgs {
			total++
			at, ok := pos[string(m.Value)]
			if !ok || at.Partition != part || at.Offset != m.Offset {
				t.Fatalf("%s at %d/%d; callback said %+v", m.Value, part, m.Offset, at)
			}
			if m.Key == nil {
				continue
			}
			if want := api.KeyPartition(m.Key, 4); want != part {
				t.Fatalf("key %s on partition %d, broker's partitioner says %d", m.Key, part, want)
			}
			var i int
			fmt.Sscanf(string(m.Value), "v%d", &i)
			if prev, ok := last[string(m.Key)]; ok && prev > i {
				t.Fatalf("key %s: v%d after v%d", m.Key, i, prev)
			}
			last[string(m.Key)] = i
			if m.Headers["i"] != fmt.Sprint(i) {
				t.Fatalf("headers %v, want i=%d", m.Headers, i)
			}
		}
	}
	if total != n {
		t.Fatalf("read %d messages, published %d", total, n)
	}
}

func TestProducerPublishSyncAndExplicitPartition(t *testing.T) {
	srv, c := setup(t, "t", 3)
	p := newProducer(t, srv.URL, client.ProducerConfig{})
	ctx := context.Background()
	two := int32(2)
	ts := time.UnixMilli(1_700_000_000_000)
	bin := []byte{0, 0xff, 0xfe, 'x'}
	at, err := p.Publish(ctx, "t", &client.Record{Value: bin, Partition: &two, Timestamp: ts})
	if err != nil {
		t.Fatal(err)
	}
	if at.Partition != 2 || at.Offset != 0 {
		t.Fatalf("landed at %+v", at)
	}
	msgs, _, err := c.Fetch(ctx, "t", 2, client.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Value, bin) || !msgs[0].Timestamp.Equal(ts) || msgs[0].Key != nil {
		t.Fatalf("read back %+v", msgs)
	}
}

func TestProducerErrors(t *testing.T) {
	srv, _ := setup(t, "t", 2)
	p := newProducer(t, srv.URL, client.ProducerConfig{})
	ctx := context.Background()
	nine := int32(9)
	tests := []struct {
		name  string
		topic string
		rec   client.Record
		want  error
	}{
		{"unknown topic", "nope", client.Record{Value: []byte("x")}, api.ErrTopicNotFound},
		{"unknown partition", "t", client.Record{Value: []byte("x"), Partition: &nine}, api.ErrPartitionNotFound},
		{"empty topic name", "", client.Record{Value: []byte("x")}, api.ErrInvalidTopicName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := p.Publish(ctx, tt.topic, &tt.rec); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	p.Close()
	if _, err := p.Publish(ctx, "t", &client.Record{Value: []byte("x")}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestProducerDoneContextPublishesNothing: a publish whose context was
// done already returned the context's error, and its record was written
// all the same (queued before the context was looked at): a caller that
// took the error for "not published" and published again stored it twice.
func TestProducerDoneContextPublishesNothing(t *testing.T) {
	srv, admin := setup(t, "t", 1)
	p := newProducer(t, srv.URL, client.ProducerConfig{})
	live := context.Background()
	if _, err := p.Publish(live, "t", &client.Record{Value: []byte("first")}); err != nil {
		t.Fatal(err) // the topic known: the next records are queued at once
	}
	done, cancel := context.WithCancel(live)
	cancel()
	tests := []struct {
		name    string
		publish func() error
	}{
		{"Publish", func() error { _, err := p.Publish(done, "t", &client.Record{Value: []byte("cancelled")}); return err }},
		{"PublishAsync", func() error {
			ch := make(chan error, 1)
			p.PublishAsync(done, "t", &client.Record{Value: []byte("cancelled")}, func(_ client.Position, err error) { ch <- err })
			return <-ch
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.publish(); !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want context.Canceled", err)
			}
		})
	}
	if err := p.Flush(live); err != nil {
		t.Fatal(err)
	}
	if msgs := readAll(t, admin, "t")[0]; len(msgs) != 1 {
		t.Fatalf("%d records stored, want only the first", len(msgs))
	}
}

func TestProducerBufferFullHonoursContext(t *testing.T) {
	srv, _ := setup(t, "t", 1)
	// The first record's request is held at a proxy until the end, with a
	// one-record buffer: the second record can only wait for space, until
	// its context ends.
	held := make(chan struct{})
	front := frontProxy(t, srv.URL, func(r *http.Request, _ []byte) {
		if strings.HasSuffix(r.URL.Path, "/batches") {
			<-held
		}
	})
	p := newProducer(t, front.URL, client.ProducerConfig{BufferBytes: 1, NoStream: true}) // HTTP requests, which the proxy holds
	p.PublishAsync(context.Background(), "t", &client.Record{Value: []byte("first")}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	p.PublishAsync(ctx, "t", &client.Record{Value: []byte("second")}, func(_ client.Position, err error) { done <- err })
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	close(held)
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestProducerDefaultBufferKeepsMaxInFlightBatches checks the default
// buffer: room for MaxInFlight full requests and one gathering, no more (a
// larger one only made each producer touch more fresh memory).
func TestProducerDefaultBufferKeepsMaxInFlightBatches(t *testing.T) {
	srv, _ := setup(t, "t", 1)
	held := make(chan struct{})
	front := frontProxy(t, srv.URL, func(r *http.Request, _ []byte) {
		if strings.HasSuffix(r.URL.Path, "/batches") {
			<-held
		}
	})
	const batch, inFlight = 4096, 2
	p := newProducer(t, front.URL, client.ProducerConfig{BatchBytes: batch, MaxInFlight: inFlight, NoStream: true}) // HTTP requests, which the proxy holds
	release := sync.OnceFunc(func() { close(held) })
	t.Cleanup(release) // runs before the producer's and the proxy's cleanups, which wait for held requests
	value := make([]byte, 1000)
	p.PublishAsync(context.Background(), "t", &client.Record{Value: value}, nil)
	// Nothing is answered: every later record is taken at once while it
	// fits the buffer, and waits for room, until its context ends, after.
	// (A context done already is refused before the buffer is looked at.)
	taken := 1
	for range 100 {
		refused := false
		full, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		p.PublishAsync(full, "t", &client.Record{Value: value}, func(_ client.Position, err error) {
			if errors.Is(err, context.DeadlineExceeded) { // only ever from PublishAsync itself
				refused = true
			}
		})
		cancel()
		if refused {
			break
		}
		taken++
	}
	if limit := (inFlight + 1) * batch; taken*len(value) > limit || (taken+2)*len(value) < limit {
		t.Fatalf("the buffer took %d records of %d bytes; want about %d bytes' worth", taken, len(value), limit)
	}
	release()
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestBatchesEndpointIsAllOrNothing(t *testing.T) {
	srv, c := setup(t, "t", 2)
	good := validBatch(t)
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 0xff // breaks the CRC
	tests := []struct {
		name   string
		body   []byte
		ctype  string
		status int
		code   string
	}{
		{"bad crc in second frame", append(api.AppendFrame(nil, 0, good), api.AppendFrame(nil, 1, bad)...), api.BatchesContentType, 400, "BAD_REQUEST"},
		{"unknown partition", api.AppendFrame(api.AppendFrame(nil, 0, good), 7, good), api.BatchesContentType, 404, "PARTITION_NOT_FOUND"},
		{"torn frame", api.AppendFrame(nil, 0, good)[:20], api.BatchesContentType, 400, "BAD_REQUEST"},
		{"empty", nil, api.BatchesContentType, 400, "INVALID_ARGUMENT"},
		{"json content type", api.AppendFrame(nil, 0, good), "application/json", 415, "UNSUPPORTED_MEDIA_TYPE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/topics/t/batches", bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.ctype)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb api.ErrorBody
			_ = jsonDecode(resp, &eb)
			if resp.StatusCode != tt.status || eb.Error == nil || eb.Error.Code != tt.code {
				t.Fatalf("status %d body %+v; want %d %s", resp.StatusCode, eb.Error, tt.status, tt.code)
			}
		})
	}
	for p, msgs := range readAll(t, c, "t") {
		if len(msgs) != 0 {
			t.Fatalf("partition %d holds %d messages after refused requests", p, len(msgs))
		}
	}
}

// With nothing in flight a record leaves at once, whatever the linger; the
// records that come while a request is out gather into the next request.
func TestProducerLingersOnlyWhileARequestIsOut(t *testing.T) {
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
	p := newProducer(t, front.URL, client.ProducerConfig{Linger: time.Hour, NoStream: true}) // HTTP requests, which the proxy holds
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 11)
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
	}, "the first record sent at once despite an hour's linger")
	for i := range 10 {
		publish(fmt.Sprint(i))
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
	if requests != 2 {
		t.Fatalf("%d requests, want 2: the first record, then the ten that came while it was out", requests)
	}
}
