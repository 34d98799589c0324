package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// A read, or an operator's write of a group, of context.Background whose
// first broker is stopped with its connections whole (SIGSTOP, a hung
// process) waited for it for as long as it stayed so: `goqueue topic
// describe|create|alter|delete`, `group describe|list|reset-offsets|delete`
// and `consume` given a live node hung on a paused cluster node until it resumed
// (these requests had no answerWithin bound, as heartbeats do).
// So did a write of context.Background: `goqueue produce` (Publish),
// `dlq replay` and `dlq purge`.
// Each attempt of a read is now bounded by readWithin (a group's write by
// twice that, a topic's change three times, a publish four, a replay
// more with the messages it may replay), and the request goes on to the
// next broker.
func TestRequestPassesAHungBroker(t *testing.T) {
	srv, hung, setup := hungBeside(t)
	ctx := context.Background()
	if _, err := setup.ResetOffsets(ctx, "g", api.ResetOffsetsRequest{To: api.ResetToEarliest, Topics: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := setup.CreateTopic(ctx, api.CreateTopicRequest{Name: api.DLQName("t"), Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	const within = 300 * time.Millisecond
	for _, tc := range []struct {
		name string
		read func(context.Context, *Client) error
	}{
		{"topics", func(ctx context.Context, c *Client) error { _, err := c.Topics(ctx); return err }},
		{"topic", func(ctx context.Context, c *Client) error { _, err := c.Topic(ctx, "t"); return err }},
		{"group", func(ctx context.Context, c *Client) error { _, err := c.Group(ctx, "g"); return err }},
		{"group offsets", func(ctx context.Context, c *Client) error { _, err := c.GroupOffsets(ctx, "g"); return err }},
		{"groups", func(ctx context.Context, c *Client) error { _, err := c.Groups(ctx); return err }},
		{"fetch", func(ctx context.Context, c *Client) error {
			_, _, err := c.Fetch(ctx, "t", 0, FetchOptions{WaitMS: 100})
			return err
		}},
		{"reset offsets", func(ctx context.Context, c *Client) error {
			_, err := c.ResetOffsets(ctx, "g", api.ResetOffsetsRequest{To: api.ResetToLatest, Topics: []string{"t"}})
			return err
		}},
		{"delete group", func(ctx context.Context, c *Client) error { return c.DeleteGroup(ctx, "g") }},
		{"create topic", func(ctx context.Context, c *Client) error {
			_, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: "t2", Partitions: 1})
			return err
		}},
		{"add partitions", func(ctx context.Context, c *Client) error { _, err := c.AddPartitions(ctx, "t2", 2); return err }},
		{"alter topic", func(ctx context.Context, c *Client) error {
			_, err := c.AlterTopic(ctx, "t2", api.AlterTopicRequest{RetentionHours: 2})
			return err
		}},
		{"delete topic", func(ctx context.Context, c *Client) error { return c.DeleteTopic(ctx, "t2") }},
		{"publish", func(ctx context.Context, c *Client) error {
			_, err := c.Publish(ctx, "t", api.PublishMessage{Value: []byte(`"x"`)})
			return err
		}},
		{"replay dlq", func(ctx context.Context, c *Client) error {
			_, err := c.ReplayDLQ(ctx, "t", api.DLQReplayRequest{Max: 10})
			return err
		}},
		{"purge dlq", func(ctx context.Context, c *Client) error { return c.PurgeDLQ(ctx, "t") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(hung.URL, srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.t.readWithin = within
			// The test's own bound, so that a read still waiting fails
			// the test rather than hang it; the read itself has none.
			start := time.Now()
			if err := returnsWithin(t, 15*time.Second, "the read, with the broker hung,", nil, func() error { return tc.read(ctx, c) }); err != nil {
				t.Fatalf("with the first broker hung: %v", err)
			}
			if took := time.Since(start); took > 10*within {
				t.Fatalf("answered after %v", took)
			}
		})
	}
}

// A request whose every broker left it unanswered (a lone broker hung,
// its connections whole) was sent to the same node again, up to five
// times: Client.Publish of context.Background gave up after 5 × 20 s,
// and a write applied by the hung node at each attempt could be stored
// five times once it resumed. A node is now asked once per request: the
// request fails once each broker has left it unanswered.
func TestRequestGivesUpOnceEveryBrokerIsHung(t *testing.T) {
	for _, tc := range []struct {
		name    string
		brokers int
		req     func(context.Context, *Client) error
	}{
		{"publish to one", 1, func(ctx context.Context, c *Client) error {
			_, err := c.Publish(ctx, "t", api.PublishMessage{Value: []byte(`"x"`)})
			return err
		}},
		{"read of one", 1, func(ctx context.Context, c *Client) error { _, err := c.Topic(ctx, "t"); return err }},
		{"publish to two", 2, func(ctx context.Context, c *Client) error {
			_, err := c.Publish(ctx, "t", api.PublishMessage{Value: []byte(`"x"`)})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var urls []string
			var asked []*atomic.Int32
			for range tc.brokers {
				srv, n := hungServer(t)
				urls, asked = append(urls, srv.URL), append(asked, n)
			}
			c, err := New(urls...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.t.readWithin = 50 * time.Millisecond
			err = tc.req(context.Background(), c)
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("error %v, want one matching ErrUnreachable", err)
			}
			for i, n := range asked {
				if got := n.Load(); got != 1 {
					t.Errorf("broker %d asked %d times, want once", i, got)
				}
			}
		})
	}
}

// A request for any broker fails only once every broker has left it
// unanswered, not after as many unanswered attempts: beside a hung
// broker, one answering UNAVAILABLE for a moment (a leader's election)
// was asked once, the hung one twice, and the request failed as if both
// were hung. Nor is a broker that left it unanswered asked again while
// another has not.
func TestRequestPassesAHungBrokerBesideAnUnavailableOne(t *testing.T) {
	srv, hung, _ := hungBeside(t)
	var asked atomic.Int32
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if asked.Add(1) == 1 {
			http.Error(w, "electing", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(busy.Close)
	c, err := New(hung.URL, busy.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.t.readWithin = 100 * time.Millisecond
	if _, err := c.Topic(context.Background(), "t"); err != nil {
		t.Fatalf("with one broker hung and the other unavailable once: %v", err)
	}
}

// A consumer's join sent to a coordinator stopped with its connections
// whole waited for it for as long as it stayed so (`goqueue consume
// --group` on a cluster whose group's coordinator was SIGSTOPped); it is
// bounded as an operator's group write is, and goes to the next broker.
func TestJoinPassesAHungBroker(t *testing.T) {
	srv, hung, _ := hungBeside(t)
	ctx := context.Background()
	c, err := NewConsumer(&ConsumerConfig{Brokers: []string{hung.URL, srv.URL}, GroupID: "g", Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const within = 300 * time.Millisecond
	c.t.readWithin = within
	err = returnsWithin(t, 15*time.Second, "the join, with the broker hung,", nil, func() error { _, err := c.Poll(ctx, 1); return err })
	if err != nil {
		t.Fatalf("a poll with the first broker hung: %v", err)
	}
}

// A consumer polling over HTTP whose group's coordinator stops answering
// with its connections whole (SIGSTOP, a hung process) waited for it, in
// a Poll of context.Background, for as long as it stayed so: on the poll
// itself, on the acknowledgements the Poll sends first, and on those the
// background goroutine or a poll ahead was sending (Poll waits for
// either). Each is now bounded as a group's write is (a poll, that plus
// its wait), and goes on to the other brokers, as a heartbeat does.
func TestConsumerPassesAHungCoordinator(t *testing.T) {
	srv, _, setup := hungBeside(t)
	bg := context.Background()
	for i := range 3 {
		if _, err := setup.Publish(bg, "t", api.PublishMessage{Value: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	const within = 300 * time.Millisecond
	for _, tc := range []struct {
		name   string
		serial bool // SerialPolls: no poll ahead
		settle func(*Consumer, *Message) error
	}{
		{"poll", true, nil},
		{"ack", true, (*Consumer).Ack},
		{"nack", true, (*Consumer).Nack},
		{"poll ahead", false, (*Consumer).Ack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hung, _ := hungServer(t)
			group := strings.ReplaceAll(tc.name, " ", "-")
			c, err := NewConsumer(&ConsumerConfig{Brokers: []string{srv.URL}, GroupID: group, Topics: []string{"t"},
				NoStream: true, SerialPolls: tc.serial, PollWait: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.t.readWithin = within
			ctx, cancel := context.WithTimeout(bg, 10*time.Second)
			defer cancel()
			var first []*Message
			for len(first) == 0 {
				if first, err = c.Poll(ctx, 1); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.awaitAhead(ctx); err != nil { // a poll ahead went to the live broker
				t.Fatal(err)
			}
			c.t.coordinators.Store(group, hung.URL) // as a redirect named it before it hung
			if tc.settle != nil {
				if err := tc.settle(c, first[0]); err != nil {
					t.Fatal(err)
				}
			}
			// Two Polls: the first may hand out what was polled ahead
			// and start the next round, which the second waits for.
			// Unstuck, else Close waits for the requests too, one of
			// them holding what its commit must take (flushMu).
			unstick := func() { hung.Listener.Close(); hung.CloseClientConnections() }
			err = returnsWithin(t, 15*time.Second, "the polls, with the coordinator hung,", unstick, func() error {
				_, err := c.Poll(bg, 1)
				if err == nil {
					_, err = c.Poll(bg, 1)
				}
				return err
			})
			if err != nil {
				t.Fatalf("with the coordinator hung: %v", err)
			}
		})
	}
}

// A Producer whose requests are not pipelined (a custom HTTPClient, TLS,
// a broker without producer IDs) sent each with no bound of its own: a
// broker that took one and answered nothing held its records, Publish of
// context.Background and Close for as long as it stayed so. Each attempt
// is now bounded as Client.Publish's is, and goes to the next broker.
func TestProducerRequestPassesAHungBroker(t *testing.T) {
	srv, hung, _ := hungBeside(t)
	const within = 300 * time.Millisecond
	p, err := NewProducer(&ProducerConfig{Brokers: []string{hung.URL, srv.URL}, HTTPClient: &http.Client{}, RequestTimeout: within})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.t.readWithin = within
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.Publish(ctx, "t", &Record{Value: []byte("a")}); err != nil { // learns the topic past the hung broker
		t.Fatal(err)
	}
	p.t.current.Store(0) // as if the live broker had failed a request meanwhile: the hung one is asked first
	// Unstuck, else Close waits for the request too.
	err = returnsWithin(t, 15*time.Second, "the publish, with the broker hung,", hung.CloseClientConnections, func() error {
		_, err := p.Publish(context.Background(), "t", &Record{Value: []byte("b")})
		return err
	})
	if err != nil {
		t.Fatalf("with the first broker hung: %v", err)
	}
}

// A consumer on the stream (the default) whose coordinator stopped with
// its connections whole after the stream opened waited for the PONG that
// confirms its acknowledgements for as long as it stayed so: the
// background goroutine's flush held flushMu, and with it the next Poll of
// context.Background, CommitContext of it, and the member's heartbeats. The
// stream now counts as gone once a PONG is later than an ack's bound,
// and what it did not confirm goes as requests, which pass the node.
func TestStreamAckPassesAHungCoordinator(t *testing.T) {
	srv, _, setup := hungBeside(t)
	bg := context.Background()
	if _, err := setup.Publish(bg, "t", api.PublishMessage{Value: []byte(`"x"`)}); err != nil {
		t.Fatal(err)
	}
	node, pause, resume := pausable(t, srv.URL)
	c, err := NewConsumer(&ConsumerConfig{Brokers: []string{node, srv.URL}, GroupID: "g", Topics: []string{"t"}, PollWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const within = 300 * time.Millisecond
	c.t.readWithin = within
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	var msgs []*Message
	for len(msgs) == 0 {
		if msgs, err = c.Poll(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	if c.liveStream() == nil {
		t.Fatal("the message did not come on the stream")
	}
	pause()
	if err := c.Ack(msgs[0]); err != nil {
		t.Fatal(err)
	}
	// resume, else Close waits for the PONG too
	err = returnsWithin(t, 15*time.Second, "the polls and commit, with the coordinator hung,", resume, func() error {
		for range 3 {
			if _, err := c.Poll(bg, 1); err != nil {
				return err
			}
		}
		return c.CommitContext(bg)
	})
	if err != nil {
		t.Fatalf("with the coordinator hung: %v", err)
	}
}

// A consumer whose coordinator stopped reading its stream (SIGSTOP, a
// hung process; the connection whole) wrote to it until the socket's
// buffers filled, then blocked in the write for as long as it stayed so:
// the flush sending nacks held flushMu, and with it the next Poll of
// context.Background, CommitContext of it and the member's heartbeats.
// Each write of the stream is now bounded as an ack is; past it the
// stream fails, and what it carried goes as requests. Close, whose
// CloseTimeout may be shorter than that bound, ends the stream before it
// waits for the background goroutine: it waited for the goroutine's write
// until CloseTimeout, then said a callback had not returned.
func TestStreamWritePassesAStalledCoordinator(t *testing.T) {
	srv, _, setup := hungBeside(t)
	bg := context.Background()
	const n = 20 // nacks of 60 kB each: more than the buffers hold
	for i := range n {
		if _, err := setup.Publish(bg, "t", api.PublishMessage{Value: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		within time.Duration // readWithin: the write's bound is twice it
		then   func(*Consumer) error
	}{
		{"poll and commit", 300 * time.Millisecond, func(c *Consumer) error {
			if _, err := c.Poll(bg, 1); err != nil {
				return err
			}
			return c.CommitContext(bg)
		}},
		{"close", readWithin, (*Consumer).Close},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node, pause, resume := pausable(t, srv.URL)
			c, err := NewConsumer(&ConsumerConfig{Brokers: []string{srv.URL}, GroupID: strings.ReplaceAll(tc.name, " ", "-"), Topics: []string{"t"},
				PollWait: 100 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond, CloseTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.t.readWithin = tc.within
			c.dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
				conn, err := (&net.Dialer{}).DialContext(ctx, network, strings.TrimPrefix(node, "http://"))
				if err == nil {
					conn.(*net.TCPConn).SetWriteBuffer(8 << 10) // full sooner
				}
				return conn, err
			}
			ctx, cancel := context.WithTimeout(bg, 10*time.Second)
			defer cancel()
			var msgs []*Message
			for len(msgs) < n {
				got, err := c.Poll(ctx, n-len(msgs))
				if err != nil {
					t.Fatal(err)
				}
				msgs = append(msgs, got...)
			}
			if c.liveStream() == nil {
				t.Fatal("the messages did not come on the stream")
			}
			pause()
			for i, m := range msgs {
				reason := strconv.Itoa(i) + strings.Repeat("r", 60_000) // a frame each
				if err := c.NackWith(m, NackOptions{Requeue: true, Delay: time.Hour, Reason: reason}); err != nil {
					t.Fatal(err)
				}
			}
			// The background goroutine sends them at its next round.
			testkit.Eventually(t, 5*time.Second, func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				return len(c.state.nacks) == 0
			}, "nacks taken to be sent")
			// resume, else Close waits for the writes too
			err = returnsWithin(t, 15*time.Second, "the writes to the stream the coordinator does not read", resume, func() error { return tc.then(c) })
			if err != nil {
				t.Fatalf("with the coordinator not reading the stream: %v", err)
			}
		})
	}
}

// Close of a consumer whose lone coordinator hung (SIGSTOP, its
// connections whole) while the application's Commit or Poll of
// context.Background was sending acknowledgements waited for flushMu,
// which that flush holds across its requests: attempts of an ack's 10 s
// each, far past CloseTimeout. Close now ends such a flush, which returns
// ErrClosed, and commits what it held itself, within CloseTimeout.
func TestCloseEndsAFlushOnAHungCoordinator(t *testing.T) {
	srv, _, setup := hungBeside(t)
	bg := context.Background()
	if _, err := setup.Publish(bg, "t", api.PublishMessage{Value: []byte(`"x"`)}); err != nil {
		t.Fatal(err)
	}
	const closeTimeout = 500 * time.Millisecond
	for _, tc := range []struct {
		name   string
		stream bool
		flush  func(*Consumer) error
	}{
		{"commit", false, func(c *Consumer) error { return c.CommitContext(bg) }},
		{"commit on the stream", true, func(c *Consumer) error { return c.CommitContext(bg) }},
		{"poll", false, func(c *Consumer) error { _, err := c.Poll(bg, 1); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node, pause, resume := pausable(t, srv.URL)
			c, err := NewConsumer(&ConsumerConfig{Brokers: []string{node}, GroupID: strings.ReplaceAll(tc.name, " ", "-"), Topics: []string{"t"},
				NoStream: !tc.stream, SerialPolls: !tc.stream, PollWait: 100 * time.Millisecond, CloseTimeout: closeTimeout})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(bg, 10*time.Second)
			defer cancel()
			var msgs []*Message
			for len(msgs) == 0 {
				if msgs, err = c.Poll(ctx, 1); err != nil {
					t.Fatal(err)
				}
			}
			if tc.stream && c.liveStream() == nil {
				t.Fatal("the message did not come on the stream")
			}
			pause()
			if err := c.Ack(msgs[0]); err != nil {
				t.Fatal(err)
			}
			flushed := make(chan error, 1)
			go func() { flushed <- tc.flush(c) }()
			testkit.Eventually(t, 5*time.Second, func() bool {
				if c.flushMu.TryLock() {
					c.flushMu.Unlock()
					return false
				}
				return true
			}, "a flush holding flushMu")
			closed := make(chan error, 1)
			go func() { closed <- c.Close() }()
			select {
			case <-closed: // with an error: the commit and the leave did not reach the broker
			case <-time.After(10 * closeTimeout):
				resume() // else the cleanup waits for the flush too
				<-closed
				t.Fatalf("Close still waiting after %v (CloseTimeout %v)", 10*closeTimeout, closeTimeout)
			}
			select {
			case err := <-flushed:
				if !errors.Is(err, ErrClosed) {
					t.Fatalf("the flush Close ended returned %v, want ErrClosed", err)
				}
			case <-time.After(10 * closeTimeout):
				resume()
				t.Fatal("the flush still going after Close returned")
			}
		})
	}
}

// returnsWithin runs f and returns its error; if f has not returned
// after d, it calls unstick (nil: none), so that the test's cleanups do
// not wait for f too, and fails the test saying what still waits.
func returnsWithin(t *testing.T, d time.Duration, what string, unstick func(), f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		if unstick != nil {
			unstick()
		}
		t.Fatalf("%s still waiting after %v", what, d)
		return nil
	}
}

// pausable forwards the connections made to the address it returns (a
// base URL) to target's, until pause: from then on it holds what either
// side sends, the connections whole, as a node stopped by SIGSTOP does
// (its kernel still accepts connections and bytes); resume forwards
// again.
func pausable(t *testing.T, target string) (addr string, pause, resume func()) {
	var (
		mu   sync.Mutex
		gate = make(chan struct{}) // closed while forwarding
	)
	close(gate)
	stop := make(chan struct{})
	pipe := func(dst, src net.Conn) {
		defer dst.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				mu.Lock()
				g := gate
				mu.Unlock()
				select {
				case <-g:
				case <-stop:
					return
				}
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	srv := testkit.ServeTCP(t, func(s *testkit.TCPServer, down net.Conn) {
		up, err := net.Dial("tcp", strings.TrimPrefix(target, "http://"))
		if err != nil {
			down.Close()
			return
		}
		s.Track(up)
		s.Go(func() { pipe(up, down) })
		pipe(down, up)
	})
	t.Cleanup(func() { close(stop) }) // before the server's cleanup: a pipe held at the gate returns
	pause = func() {
		mu.Lock()
		gate = make(chan struct{})
		mu.Unlock()
	}
	resume = func() {
		mu.Lock()
		close(gate)
		mu.Unlock()
	}
	return "http://" + srv.Addr, pause, resume
}

// hungBeside starts a broker holding topic "t" of one partition and a hung
// one, and returns them with a Client of the live one.
func hungBeside(t *testing.T) (srv *brokertest.Server, hung *httptest.Server, setup *Client) {
	t.Helper()
	srv = brokertest.Start(t)
	hung, _ = hungServer(t)
	setup, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setup.CreateTopic(context.Background(), api.CreateTopicRequest{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	return srv, hung, setup
}

// A consumer dialling its stream to a node that takes the connection and
// never answers the upgrade (stopped, hung) waited for the answer until
// the Poll's context's deadline, however far (an hour for a Poll given
// one), and did not see the context cancelled meanwhile. The upgrade is
// now answered within a group's bound (twice a read's) or given up, and
// the Poll goes over HTTP; a Poll whose context ends meanwhile returns.
func TestStreamUpgradePassesAHungNode(t *testing.T) {
	srv, _, setup := hungBeside(t)
	if _, err := setup.Publish(context.Background(), "t", api.PublishMessage{Value: []byte(`"x"`)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		within time.Duration // readWithin
		cancel bool          // the Poll's context is cancelled while it waits
	}{
		{"deadline far", 300 * time.Millisecond, false},
		{"cancelled", readWithin, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := make(chan struct{}, 1)
			hung := testkit.ServeTCP(t, func(s *testkit.TCPServer, conn net.Conn) {
				select {
				case asked <- struct{}{}:
				default:
				}
				io.Copy(io.Discard, conn) // reads the upgrade, answers nothing, until the cleanup closes conn
			})
			c, err := NewConsumer(&ConsumerConfig{Brokers: []string{srv.URL}, GroupID: strings.ReplaceAll(tc.name, " ", "-"), Topics: []string{"t"},
				PollWait: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.t.readWithin = tc.within
			c.dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, hung.Addr)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				var msgs []*Message
				var err error
				for len(msgs) == 0 && err == nil {
					msgs, err = c.Poll(ctx, 1)
				}
				done <- err
			}()
			if tc.cancel {
				<-asked
				cancel()
			}
			select {
			case err := <-done:
				if tc.cancel && !errors.Is(err, context.Canceled) {
					t.Fatalf("Poll: %v, want context.Canceled", err)
				}
				if !tc.cancel && err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				cancel()
				t.Fatal("Poll still waiting for the stream's upgrade after 5s")
			}
		})
	}
}
