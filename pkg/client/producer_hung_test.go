package client

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
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

// A broker that stops reading a producer's stream (SIGSTOP, a hung
// process; the connection whole) leaves the write of a PRODUCE frame
// blocked once the socket's buffers are full. The pipe's write has no
// deadline of its own: the read deadline it set for the request's answer
// (RequestTimeout) closes the connection, which ends the write, and the
// request is sent again until RetryTimeout, then fails; Publish of
// context.Background and Close return.
func TestProducerPassesAStalledStream(t *testing.T) {
	srv, _, _ := hungBeside(t)
	stalled := testkit.ServeTCP(t, func(s *testkit.TCPServer, conn net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
			return
		}
		conn.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + api.StreamProtocol +
			"\r\n" + api.StreamFramesHeader + ": " + api.StreamProduceFrames + "\r\n\r\n"))
		// and never reads again: the cleanup closes conn
	})
	const timeout = 300 * time.Millisecond
	p, err := NewProducer(&ProducerConfig{Brokers: []string{srv.URL}, RequestTimeout: timeout, RetryTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p.dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, stalled.Addr)
		if err == nil {
			conn.(*net.TCPConn).SetWriteBuffer(8 << 10) // full sooner
		}
		return conn, err
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.Publish(context.Background(), "t", &Record{Value: []byte(strings.Repeat("v", 900_000))})
		if err == nil {
			err = p.Close()
		} else {
			p.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Publish succeeded on a stream nothing reads")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Publish or Close still writing to the stream nothing reads after 15s")
	}
}
