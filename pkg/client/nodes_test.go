package client_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// twoNodes fronts one broker with two fake cluster nodes: both name each
// other in GET /cluster, describe the topic's partitions as led by node 1
// (even ones) and node 2 (odd ones) until node 1 dies, then by node 2,
// refuse a batch of a partition the other leads NOT_LEADER naming it,
// name themselves in join answers, and pass everything else to the
// broker. Once node 1 died, GET /cluster answers nothing while electing is
// set, as a node's consistent read of the metadata waits while the
// metadata elects a leader. While ownOnly is set, a node describes the
// partitions the other leads as leaderless, as a node does that has not
// heard of their elections' outcome yet; while lone is set, node 1 leads
// every partition until it dies; while unreadable is set, GET /cluster
// answers UNAVAILABLE, as a node does that cannot confirm the metadata.
type twoNodes struct {
	n1, n2     *httptest.Server
	dead       atomic.Bool
	electing   atomic.Bool
	ownOnly    atomic.Bool
	lone       atomic.Bool
	unreadable atomic.Bool
	asked      atomic.Int64 // GET /cluster requests since node 1 died
	listed     atomic.Int64 // GET /cluster requests answered with the nodes
	conns      *connTracker // node 1's connections, hijacked ones (the stream) included
}

func (c *twoNodes) leaderOf(p int32) uint64 {
	switch {
	case c.dead.Load():
		return 2
	case c.lone.Load():
		return 1
	}
	return uint64(p%2) + 1
}

// connTracker is a listener that remembers the connections it accepted.
type connTracker struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *connTracker) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// closeAll closes every connection accepted.
func (l *connTracker) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
}

func startTwoNodes(t *testing.T, brokerURL, topic string) *twoNodes {
	t.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	c := &twoNodes{}
	var addrs [3]string
	node := func(id uint64) *httptest.Server {
		return httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodGet && r.URL.Path == "/cluster":
				if c.unreadable.Load() {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusServiceUnavailable)
					fmt.Fprint(w, `{"error":{"code":"UNAVAILABLE","message":"no metadata leader","retriable":true}}`)
					return
				}
				if c.dead.Load() {
					c.asked.Add(1)
					if c.electing.Load() {
						<-r.Context().Done()
						return
					}
				}
				c.listed.Add(1)
				st := api.ClusterStatus{NodeID: id, Nodes: []api.ClusterNode{{ID: 1, HTTPAddr: addrs[1]}, {ID: 2, HTTPAddr: addrs[2]}}}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(st)
			case r.Method == http.MethodGet && r.URL.Path == "/topics/"+topic:
				rec := httptest.NewRecorder()
				rp.ServeHTTP(rec, r)
				var tp api.Topic
				if err := json.Unmarshal(rec.Body.Bytes(), &tp); err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				for i := range tp.PartitionInfo {
					pi := &tp.PartitionInfo[i]
					pi.Leader, pi.Replicas = c.leaderOf(pi.Partition), []uint64{1, 2}
					if pi.Leader != id && c.ownOnly.Load() {
						pi.Leader = 0
					}
					pi.LeaderAddr = addrs[pi.Leader]
				}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(tp)
			case r.Method == http.MethodPost && r.URL.Path == "/topics/"+topic+"/batches":
				// A cluster's topic: one partition per request.
				body, _ := io.ReadAll(r.Body)
				if len(body) >= 4 {
					part := int32(binary.BigEndian.Uint32(body))
					if leader := c.leaderOf(part); leader != id {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusMisdirectedRequest)
						fmt.Fprintf(w, `{"error":{"code":"NOT_LEADER","message":"node %d does not lead","details":{"partition":%d,"leader":%d,"leader_addr":%q}}}`,
							id, part, leader, addrs[leader])
						return
					}
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
				rp.ServeHTTP(w, r)
			case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/join"):
				rec := httptest.NewRecorder()
				rp.ServeHTTP(rec, r)
				var jr api.JoinResponse
				if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &jr) != nil {
					w.WriteHeader(rec.Code)
					_, _ = w.Write(rec.Body.Bytes())
					return
				}
				jr.NodeID = id
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(jr)
			default:
				rp.ServeHTTP(w, r)
			}
		}))
	}
	c.n1, c.n2 = node(1), node(2)
	c.conns = &connTracker{Listener: c.n1.Listener}
	c.n1.Listener = c.conns
	c.n1.Start()
	c.n2.Start()
	t.Cleanup(c.n1.Close)
	t.Cleanup(c.n2.Close)
	addrs[1], addrs[2] = strings.TrimPrefix(c.n1.URL, "http://"), strings.TrimPrefix(c.n2.URL, "http://")
	return c
}

// kill stops node 1 as SIGKILL would (its port refuses connections) and
// makes node 2 the leader of every partition, as the survivors' election
// would.
func (c *twoNodes) kill() {
	c.dead.Store(true)
	c.conns.closeAll()
	c.n1.Close()
}

// TestClientOutlivesItsOnlyBroker: a producer and a consumer given one
// cluster node's address go on when that node dies, through the nodes the
// cluster named (GET /cluster), as Kafka clients go on after their
// bootstrap broker dies. They stopped for good: every request for "any
// broker" (the topic's leaders, a lost coordinator) went to the dead node
// alone, so the producer failed every record — those for partitions whose
// leader lived too — and the consumer's polls failed until it was closed.
func TestClientOutlivesItsOnlyBroker(t *testing.T) {
	t.Run("producer", func(t *testing.T) { publishAcrossTheKill(t, "p", nil, false) })
	t.Run("consumer", func(t *testing.T) {
		const topic, n = "c", 200
		srv, _ := setup(t, topic, 2)
		nodes := startTwoNodes(t, srv.URL, topic)
		// Messages written to the dying node's stream just as it dies
		// stay in flight until the visibility timeout, then come again
		// (the proxy of this fake node may still pass a few after the
		// kill): a short one keeps them within the test's time.
		cons := newConsumer(t, client.ConsumerConfig{Brokers: []string{nodes.n1.URL}, GroupID: "g", Topics: []string{topic},
			VisibilityTimeout: 2 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		consume := func(want int) {
			t.Helper()
			seen := map[string]bool{}
			for len(seen) < want {
				msgs, err := cons.Poll(ctx, 10)
				if ctx.Err() != nil {
					t.Fatalf("%d of %d messages consumed; the last poll: %v", len(seen), want, err)
				}
				for _, m := range msgs {
					seen[string(m.Value)] = true
					_ = cons.Ack(m)
				}
			}
		}
		produce(t, srv.URL, topic, n)
		consume(n)
		if err := cons.Commit(); err != nil {
			t.Fatal(err)
		}
		nodes.kill()
		produce(t, srv.URL, topic, n) // the same values again
		consume(n)
	})
}

// TestProducerOutlivesItsSeed: a producer given node 1 only goes on
// through node 2 when node 1 dies, although the descriptions of the topic
// it had named no leader but node 1. It did not: the nodes a producer
// asked for the leaders were those the descriptions (and GET /cluster,
// asked only of a cluster whose descriptions name no leader) had named,
// node 1 alone, so every refresh failed and every record of node 1's
// partitions went to the dead node until RetryTimeout failed it. Seen in
// a 3-node cluster (TestBinaryClusterClientsOutliveTheirNode): the seed
// described only its own partition's leader, the others being elected as
// the producer started.
func TestProducerOutlivesItsSeed(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode func(*twoNodes)
	}{
		// Node 2 known only from NOT_LEADER answers, which named it as
		// the leader of the partitions node 1's description left
		// leaderless: GET /cluster could not be read.
		{"others' leaders not described", func(c *twoNodes) { c.ownOnly.Store(true); c.unreadable.Store(true) }},
		// Node 2 named by GET /cluster only.
		{"seed led every partition", func(c *twoNodes) { c.lone.Store(true) }},
	} {
		t.Run(tc.name, func(t *testing.T) { publishAcrossTheKill(t, "s", tc.mode, true) })
	}
}

// TestProducerAsksForNodesItMeets: a producer given node 1, which leads
// every partition, whose first GET /cluster failed (the metadata could
// not be read), knew node 1 alone for good: the leaders it learned from
// the topic's description made it never ask GET /cluster again, so once
// node 1 died it had no node to ask, and its records failed although
// node 2 led every partition. A node it has no address for (node 2,
// named as a replica) now has it ask again, at most once a second.
func TestProducerAsksForNodesItMeets(t *testing.T) {
	const topic = "m"
	srv, c := setup(t, topic, 2)
	nodes := startTwoNodes(t, srv.URL, topic)
	nodes.lone.Store(true)
	nodes.unreadable.Store(true)
	p, err := client.NewProducer(&client.ProducerConfig{Brokers: []string{nodes.n1.URL}, NoStream: true,
		RetryTimeout: 3 * time.Second, MetadataMaxAge: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sent := 0
	publishEach(ctx, t, p, topic, sent, 10, true)
	sent += 10
	nodes.unreadable.Store(false) // the metadata can be read again
	testkit.Eventually(t, 5*time.Second, func() bool {
		publishEach(ctx, t, p, topic, sent, 1, true) // its topic's description, older than MetadataMaxAge, asked again
		sent++
		return nodes.listed.Load() > 0
	}, "the producer never asked GET /cluster again")
	nodes.kill()
	publishEach(ctx, t, p, topic, sent, 10, true)
	sent += 10
	stored := 0
	for _, msgs := range readAll(t, c, topic) {
		stored += len(msgs)
	}
	if stored != sent {
		t.Fatalf("%d records stored, want %d", stored, sent)
	}
}

// TestProducerGoesOnWhileTheMetadataElects: the node that dies leads
// partitions and the cluster's metadata, so the survivors' GET /cluster
// waits (a consistent read) until the metadata elects a leader. The
// producer, asking leaders again after its records to the dead node
// failed, must not wait for that: partition info names each leader's
// address. It did: every record, of every partition, waited 2.6 s (the
// metadata's election) in a 3-node cluster on this machine, and here,
// where the metadata stays leaderless, 5 s until the producer gave
// up on GET /cluster.
func TestProducerGoesOnWhileTheMetadataElects(t *testing.T) {
	const topic, n = "e", 200
	srv, c := setup(t, topic, 2)
	nodes := startTwoNodes(t, srv.URL, topic)
	nodes.electing.Store(true)
	p, err := client.NewProducer(&client.ProducerConfig{Brokers: []string{nodes.n1.URL, nodes.n2.URL}, NoStream: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	publishEach(ctx, t, p, topic, 0, n/2, true)
	nodes.kill()
	// Generous for a loaded machine: without the leaders' addresses each
	// GET /cluster attempt alone waits 1.5 s.
	start := time.Now()
	publishEach(ctx, t, p, topic, n/2, n/2, true)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("records published after node 1 died took %v (GET /cluster asked %d times meanwhile): they waited for the metadata", took, nodes.asked.Load())
	}
	stored := 0
	for _, msgs := range readAll(t, c, topic) {
		stored += len(msgs)
	}
	if stored != n {
		t.Fatalf("%d records stored, want %d", stored, n)
	}
}

// publishEach publishes the values from, from+1, ... (count of them) to
// topic, each to partition value%2 if spread, and fails t unless every one
// is acknowledged.
// publishAcrossTheKill publishes 200 records to topic through a producer
// given node 1 only (of two fake nodes set up by mode, unless nil), half
// before node 1 dies and half after (spread: see publishEach), and checks
// the broker stored all of them.
func publishAcrossTheKill(t *testing.T, topic string, mode func(*twoNodes), spread bool) {
	t.Helper()
	const n = 200
	srv, c := setup(t, topic, 2)
	nodes := startTwoNodes(t, srv.URL, topic)
	if mode != nil {
		mode(nodes)
	}
	p, err := client.NewProducer(&client.ProducerConfig{Brokers: []string{nodes.n1.URL}, NoStream: true, RetryTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	publishEach(ctx, t, p, topic, 0, n/2, spread)
	nodes.kill()
	publishEach(ctx, t, p, topic, n/2, n/2, spread)
	stored := 0
	for _, msgs := range readAll(t, c, topic) {
		stored += len(msgs)
	}
	if stored != n {
		t.Fatalf("%d records stored, want %d", stored, n)
	}
}

func publishEach(ctx context.Context, t *testing.T, p *client.Producer, topic string, from, count int, spread bool) {
	t.Helper()
	var mu sync.Mutex
	var errs []error
	for i := from; i < from+count; i++ {
		r := &client.Record{Value: []byte(fmt.Sprint(i))}
		if spread {
			part := int32(i % 2)
			r.Partition = &part
		}
		p.PublishAsync(ctx, topic, r, func(_ client.Position, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("%d records failed; first: %v", len(errs), errs[0])
	}
}

// TestProducerAsksForUnknownNodesAtMostOnceASecond: a node the producer
// meets without an address (node 2, a replica) has it ask GET /cluster
// again, but not at every description of the topic: once a second, then
// less often while the ask leaves the node unknown (here GET /cluster
// does not list it: it has not registered its address yet).
func TestProducerAsksForUnknownNodesAtMostOnceASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var asks atomic.Int64
		node := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			switch {
			case r.URL.Path == "/cluster":
				asks.Add(1)
				_ = json.NewEncoder(w).Encode(api.ClusterStatus{NodeID: 1, Nodes: []api.ClusterNode{{ID: 1, HTTPAddr: "node1:8080"}}})
			case r.URL.Path == "/topics/m":
				_ = json.NewEncoder(w).Encode(api.Topic{Name: "m", Partitions: 1, PartitionInfo: []api.PartitionInfo{
					{Partition: 0, Leader: 1, LeaderAddr: "node1:8080", Replicas: []uint64{1, 2}}}})
			case r.URL.Path == "/topics/m/batches":
				_ = json.NewEncoder(w).Encode(api.PublishResponse{Topic: "m", Offsets: []api.PublishResult{{Partition: 0}}})
			default:
				w.WriteHeader(http.StatusNotFound)
				_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrNotFound.Withf("%s", r.URL.Path)})
			}
		})
		p, err := client.NewProducer(&client.ProducerConfig{Brokers: []string{"node1:8080"},
			HTTPClient: &http.Client{Transport: handlerTransport{node}}, MetadataMaxAge: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		for range 80 { // 8 s, the topic described again at each record
			if _, err := p.Publish(t.Context(), "m", &client.Record{Value: []byte("v")}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// At 0, 2 and 6 s: no more than once a second, and twice as long
		// after each ask that left node 2 unknown.
		if got := asks.Load(); got != 3 {
			t.Fatalf("GET /cluster asked %d times in 8 s, want 3", got)
		}
	})
}
