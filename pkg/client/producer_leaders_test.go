package client

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
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
)

// TestPipelinedProduceFollowsLeaders: in a cluster the producer pipelines
// each partition's idempotent batches to the partition's leader. Here the
// leaders it knows are a node that leads no more: it answers every batch
// NOT_LEADER naming the real leader, writing nothing. The refused requests
// go to that leader with their sequences, pipelined there, and every
// record is stored once, in publish order, where its callback said.
func TestPipelinedProduceFollowsLeaders(t *testing.T) {
	const topic, parts, n = "l", 3, 2000
	srv, c, rp, u := brokerBehindProxy(t, topic, parts)
	ctx := context.Background()
	var refused atomic.Int64
	deposed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/batches") {
			rp.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		part := -1
		if len(body) >= 4 {
			part = int(binary.BigEndian.Uint32(body))
		}
		refused.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMisdirectedRequest)
		fmt.Fprintf(w, `{"error":{"code":"NOT_LEADER","message":"node 2 does not lead","details":{"partition":%d,"leader":1,"leader_addr":%q}}}`,
			part, u.Host)
	}))
	defer deposed.Close()

	// HTTP requests: the deposed node is a handler of them.
	p, err := NewProducer(&ProducerConfig{Brokers: []string{srv.URL}, Linger: 100 * time.Microsecond, BatchBytes: 1024, MaxInFlight: 8, NoStream: true})
	if err != nil {
		t.Fatal(err)
	}
	pretendLeader(t, ctx, p, topic, deposed.URL, 2) // as the metadata said before a failover

	var mu sync.Mutex
	results := make([]Position, n)
	var errs []error
	for i := range n {
		part := int32(i % parts)
		p.PublishAsync(ctx, topic, &Record{Value: []byte(strconv.Itoa(i)), Partition: &part}, func(pos Position, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			results[i] = pos
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Fatalf("%d records failed; first: %v", len(errs), errs[0])
	}
	if refused.Load() == 0 {
		t.Fatal("the deposed leader refused nothing: the test tested nothing")
	}
	pipedToLeader := false
	for k := range p.pipes {
		pipedToLeader = pipedToLeader || k.node == srv.URL
	}
	if p.pid < 0 || !pipedToLeader {
		t.Fatalf("producer ID %d, pipes %v: nothing was pipelined to the leader", p.pid, p.pipes)
	}

	storedOnceInOrder(ctx, t, c, topic, parts, results)
	t.Logf("%d requests refused NOT_LEADER and sent again to the leader", refused.Load())
}

// brokerBehindProxy starts a broker with topic of parts partitions, and
// returns it, a client of it, a reverse proxy to it for a fake node to
// serve what it does not fake, and its URL.
func brokerBehindProxy(t *testing.T, topic string, parts int32) (*brokertest.Server, *Client, *httputil.ReverseProxy, *url.URL) {
	t.Helper()
	srv := brokertest.Start(t)
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTopic(context.Background(), api.CreateTopicRequest{Name: topic, Partitions: parts}); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, httputil.NewSingleHostReverseProxy(u), u
}

// storedOnceInOrder checks that topic holds each record published as
// strconv.Itoa(i) exactly once, in publish order within its partition,
// at the position its callback gave (results[i]).
func storedOnceInOrder(ctx context.Context, t *testing.T, c *Client, topic string, parts int32, results []Position) {
	t.Helper()
	seen := map[int]bool{}
	readIndexed(ctx, t, c, topic, parts, func(pos Position, i, last int) {
		if seen[i] || i <= last || results[i] != pos {
			t.Fatalf("%v holds record %d (after %d; seen before %v; answered at %v)", pos, i, last, seen[i], results[i])
		}
		seen[i] = true
	})
	if len(seen) != len(results) {
		t.Fatalf("%d records stored, want %d", len(seen), len(results))
	}
}

// readIndexed reads every partition of topic from its start and calls fn
// with each record's position, the index its value holds (records are
// published as strconv.Itoa(i)) and the index before it in its partition
// (-1 for the first).
func readIndexed(ctx context.Context, t *testing.T, c *Client, topic string, parts int32, fn func(pos Position, i, last int)) {
	t.Helper()
	for part := range parts {
		last := -1
		for off := int64(0); ; {
			msgs, r, err := c.Fetch(ctx, topic, part, FetchOptions{Offset: off, Max: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				i, err := strconv.Atoi(string(m.Value))
				if err != nil {
					t.Fatal(err)
				}
				fn(Position{Partition: part, Offset: m.Offset}, i, last)
				last = i
			}
			if r.NextOffset >= r.HighWatermark {
				break
			}
			off = r.NextOffset
		}
	}
}

// TestPipelinedProduceBeforeLeadersKnown: right after a topic's creation
// a node may describe its partitions with replicas but no leader yet (the
// elections under way); a node replaying the cluster's metadata after a
// restart names neither, and answers GET /cluster UNAVAILABLE. Requests
// opened then must still hold one partition each: one holding partitions
// of two leaders went whole to its first partition's leader, which
// refused the other partition NOT_LEADER every time until the retry
// timeout failed it. Two fake nodes front one broker here, each leading
// half of the partitions and refusing a request that holds a partition
// of the other.
func TestPipelinedProduceBeforeLeadersKnown(t *testing.T) {
	srv := brokertest.Start(t)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const parts = 2 * pipeGroups
	leaderOf := func(part int32) uint64 { return uint64(part/pipeGroups) + 1 } // partitions g and g+pipeGroups share a pipe group
	for _, tc := range []struct {
		name     string
		replicas []uint64 // listed in each partition's info
		replay   bool     // GET /cluster answers UNAVAILABLE
	}{
		{"replicas but no leaders", []uint64{1, 2}, false},
		{"neither, metadata replaying", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := strings.ReplaceAll(tc.name, " ", "-")
			topic = strings.ReplaceAll(topic, ",", "")
			if _, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: topic, Partitions: parts}); err != nil {
				t.Fatal(err)
			}
			addrs := map[uint64]string{}
			var refused atomic.Int64
			node := func(id uint64) *httptest.Server {
				return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					switch {
					case r.Method == http.MethodGet && r.URL.Path == "/topics/"+topic:
						tp := api.Topic{Name: topic, Partitions: parts}
						for i := range int32(parts) {
							tp.PartitionInfo = append(tp.PartitionInfo, api.PartitionInfo{Partition: i, Replicas: tc.replicas})
						}
						_ = json.NewEncoder(w).Encode(tp)
						return
					case r.Method == http.MethodGet && r.URL.Path == "/cluster" && tc.replay:
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusServiceUnavailable)
						fmt.Fprint(w, `{"error":{"code":"UNAVAILABLE","message":"catching up","retriable":true}}`)
						return
					case r.Method == http.MethodGet && r.URL.Path == "/cluster":
						_ = json.NewEncoder(w).Encode(api.ClusterStatus{NodeID: id, Nodes: []api.ClusterNode{{ID: 1, HTTPAddr: addrs[1]}, {ID: 2, HTTPAddr: addrs[2]}}})
						return
					case r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/batches"):
						rp.ServeHTTP(w, r)
						return
					}
					body, _ := io.ReadAll(r.Body)
					for rest := body; len(rest) >= 8; {
						part := int32(binary.BigEndian.Uint32(rest))
						if leader := leaderOf(part); leader != id {
							refused.Add(1)
							w.Header().Set("Content-Type", "application/json")
							w.WriteHeader(http.StatusMisdirectedRequest)
							fmt.Fprintf(w, `{"error":{"code":"NOT_LEADER","message":"node %d does not lead","details":{"partition":%d,"leader":%d,"leader_addr":%q}}}`,
								id, part, leader, addrs[leader])
							return
						}
						rest = rest[min(len(rest), 8+int(binary.BigEndian.Uint32(rest[4:]))):]
					}
					r.Body = io.NopCloser(strings.NewReader(string(body)))
					rp.ServeHTTP(w, r)
				}))
			}
			n1, n2 := node(1), node(2)
			defer n1.Close()
			defer n2.Close()
			addrs[1], addrs[2] = strings.TrimPrefix(n1.URL, "http://"), strings.TrimPrefix(n2.URL, "http://")

			// A long linger: records for partitions of one pipe group
			// gather in one request unless the producer knows better.
			p, err := NewProducer(&ProducerConfig{Brokers: []string{n1.URL}, Linger: 50 * time.Millisecond, NoStream: true, RetryTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var mu sync.Mutex
			var errs []error
			for i := range 4 * parts {
				part := int32(i % parts)
				p.PublishAsync(ctx, topic, &Record{Value: []byte(strconv.Itoa(i)), Partition: &part}, func(_ Position, err error) {
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
			if len(errs) > 0 {
				t.Fatalf("%d records failed; first: %v", len(errs), errs[0])
			}
			if refused.Load() == 0 {
				t.Fatal("no node refused a request: the test tested nothing")
			}
			seen := 0
			readIndexed(ctx, t, c, topic, parts, func(Position, int, int) { seen++ })
			if seen != 4*parts {
				t.Fatalf("%d records stored, want %d", seen, 4*parts)
			}
		})
	}
}

// pretendLeader makes p take topic for a cluster's, whose partitions
// (every one if none is named) node id at url leads, as if its metadata
// said so.
func pretendLeader(t *testing.T, ctx context.Context, p *Producer, topic, url string, id uint64, partitions ...int) {
	t.Helper()
	if _, err := p.refresh(ctx, topic); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ts := p.topics[topic]
	ts.cluster = true
	if len(partitions) == 0 {
		for i := range ts.leaders {
			partitions = append(partitions, i)
		}
	}
	for _, i := range partitions {
		ts.leaders[i], ts.leaderIDs[i] = url, id
	}
}
