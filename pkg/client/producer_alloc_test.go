package client

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// TestEnqueueAllocatesNothingPerRecord: a record is encoded into its
// partition's open batch with no allocation of its own (buffers and
// requests are taken once per batch), whichever way its partition is
// chosen.
func TestEnqueueAllocatesNothingPerRecord(t *testing.T) {
	p := &Producer{
		cfg:     ProducerConfig{BatchBytes: 1 << 20, BufferBytes: 1 << 30, MetadataMaxAge: time.Hour, Linger: time.Hour},
		topics:  map[string]*topicState{"t": {partitions: 4, fetchedAt: time.Now()}},
		pending: make(map[uint64]struct{}),
		wake:    make(chan struct{}, 1),
		asked:   true,
		pid:     -1,
	}
	part := int32(2)
	value := bytes.Repeat([]byte("x"), 100)
	recs := []*Record{
		{Value: value},
		{Key: []byte("key"), Value: value, Headers: []Header{{Key: "h", Value: []byte("v")}}},
		{Value: value, Partition: &part, Timestamp: time.UnixMilli(1_700_000_000_000)},
	}
	cb := func(Position, error) {}
	ctx := context.Background()
	for _, rec := range recs {
		if err := p.enqueue(ctx, "t", rec, cb); err != nil { // opens the batch
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(2000, func() {
			if err := p.enqueue(ctx, "t", rec, cb); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("record %+v: %v allocations per record", rec, n)
		}
	}
}

// cannedBroker is a broker stand-in on 127.0.0.1 that answers every
// request with the same small JSON body, allocating nothing per request,
// so allocation counts are the producer's own.
func cannedBroker(t *testing.T) string {
	t.Helper()
	body := `{"topic":"t","name":"t","partitions":1,"producer_id":7,"producer_epoch":0,"offsets":[{"partition":0,"offset":0}]}`
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	return testkit.ServeTCP(t, func(_ *testkit.TCPServer, conn net.Conn) { serveCanned(conn, answer) }).Addr
}

func serveCanned(conn net.Conn, answer []byte) {
	br := bufio.NewReaderSize(conn, 64<<10)
	for {
		length := 0
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
				length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if _, err := br.Discard(length); err != nil {
			return
		}
		if _, err := conn.Write(answer); err != nil {
			return
		}
	}
}

// TestPipelinedRequestAllocations: a pipelined request (one record,
// published, sent, answered, its callback run) allocates a handful of
// objects, mostly reading the HTTP answer; a request sent one at a time
// through net/http allocates several times as many. Run with -v for the
// counts.
func TestPipelinedRequestAllocations(t *testing.T) {
	count := func(hc *http.Client, stream bool) float64 {
		p, err := NewProducer(&ProducerConfig{Brokers: []string{cannedBroker(t)}, HTTPClient: hc, NoStream: !stream})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ctx := context.Background()
		rec := &Record{Value: bytes.Repeat([]byte("x"), 100)}
		var failed error
		cb := func(_ Position, err error) {
			if err != nil {
				failed = err
			}
		}
		one := func() {
			p.PublishAsync(ctx, "t", rec, cb)
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for range 10 {
			one()
		}
		n := testing.AllocsPerRun(500, one)
		if failed != nil {
			t.Fatal(failed)
		}
		if piped := p.pid >= 0 && p.canPipe; piped != (hc == nil) {
			t.Fatalf("pipelined %v with HTTPClient %v", piped, hc)
		}
		return n
	}
	// The canned broker answers the stream's upgrade as any request (200):
	// a producer configured for the stream pipelines HTTP requests there.
	piped, plain, refused := count(nil, false), count(&http.Client{}, false), count(nil, true)
	t.Logf("allocations per request: pipelined %.1f, one at a time through net/http %.1f; pipelined after the stream was refused %.1f", piped, plain, refused)
	if piped > maxPipedAllocs || refused > maxPipedAllocs || piped*3 > plain {
		t.Errorf("a pipelined request allocates %.1f objects, %.1f after a refused stream (at most %d, and under a third of net/http's %.1f)", piped, refused, maxPipedAllocs, plain)
	}
}

// maxPipedAllocs bounds the allocations of one pipelined request: reading
// the answer (http.ReadResponse, the decoded topic name) and waking the
// publishers that wait for progress.
const maxPipedAllocs = 25
