package client

import (
	"context"
	"encoding/binary"
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
	srv := brokertest.Start(t)
	const topic, parts, n = "l", 3, 2000
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: topic, Partitions: parts}); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
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
	if _, err := p.refresh(ctx, topic); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	ts := p.topics[topic]
	ts.cluster = true
	for i := range ts.leaders {
		ts.leaders[i], ts.leaderIDs[i] = deposed.URL, 2 // as the metadata said before a failover
	}
	p.mu.Unlock()

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

	seen := map[int]bool{}
	readIndexed(ctx, t, c, topic, parts, func(pos Position, i, last int) {
		if seen[i] || i <= last || results[i] != pos {
			t.Fatalf("%v holds record %d (after %d; seen before %v; answered at %v)", pos, i, last, seen[i], results[i])
		}
		seen[i] = true
	})
	if len(seen) != n {
		t.Fatalf("%d records stored, want %d", len(seen), n)
	}
	t.Logf("%d requests refused NOT_LEADER and sent again to the leader", refused.Load())
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
