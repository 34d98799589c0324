package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
)

// startNodes runs n nodes in this process over 127.0.0.1, with a short tick.
func startNodes(t *testing.T, n int, dirs []string, sinks ...TopicSink) ([]*Node, func()) {
	t.Helper()
	return startNodesWith(t, n, dirs, func(*Config) {}, sinks...)
}

// startNodesWith is startNodes with each node's Config passed to tune
// before it opens.
func startNodesWith(t *testing.T, n int, dirs []string, tune func(*Config), sinks ...TopicSink) ([]*Node, func()) {
	t.Helper()
	peers := map[uint64]string{}
	lns := map[uint64]net.Listener{}
	for i := 1; i <= n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[uint64(i)], peers[uint64(i)] = ln, ln.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, gctx := errgroup.WithContext(ctx)
	var nodes []*Node
	for i := 1; i <= n; i++ {
		cfg := Config{
			ID: uint64(i), Peers: peers, Listener: lns[uint64(i)], Dir: dirs[i-1],
			HTTPAddr: fmt.Sprintf("127.0.0.1:%d", 8000+i), Tick: 20 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		}
		tune(&cfg)
		nd, err := Open(cfg)
		if err == nil && len(sinks) >= i {
			nd.cfg.Topics = sinks[i-1]
		}
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, nd)
		g.Go(func() error { return nd.Run(gctx) })
	}
	return nodes, func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Error(err)
		}
	}
}

// The nodes elect a metadata leader, register (forwarded to the leader by
// the followers), agree in their consistent reads, and a topic proposed on
// a follower is applied everywhere; a retried creation with the same ID is
// recognised. Everything stops on shutdown.
func TestNodesFormACluster(t *testing.T) {
	defer goleak.VerifyNone(t)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes, stop := startNodes(t, 3, dirs)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leader := waitFormed(ctx, t, nodes, 1)

	follower := nodes[leader%3] // any node but the leader
	id, _ := meta.NewTopicID()
	create := meta.Command{CreateTopic: &meta.CreateTopic{Name: "orders", ID: id, Partitions: 3, ReplicationFactor: 1}}
	r, err := follower.Propose(ctx, create)
	if err != nil || r.Err != nil || r.Topic == nil || len(r.Topic.Partitions) != 3 {
		t.Fatalf("create through a follower: %+v %v", r, err)
	}
	r, err = follower.Propose(ctx, create)
	if err != nil || !errors.Is(r.Err, meta.ErrTopicExists) {
		t.Fatalf("second create: %+v %v", r, err)
	}
	gone, cancelGone := context.WithCancel(ctx)
	cancelGone()
	if _, err := nodes[0].Status(gone); !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("status for a caller that left: %v, want UNAVAILABLE (coded, not a broker fault)", err)
	}
	for _, nd := range nodes {
		st, err := nd.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Topics) != 1 || st.Topics[0].ID != id.String() || len(st.Topics[0].Partitions) != 3 || st.Topics[0].Partitions[0].Leader == 0 {
			t.Fatalf("node %d: topics %+v", nd.cfg.ID, st.Topics)
		}
	}
}

// The metadata group gets a leader by the first live node's campaign, at
// a cluster's first start and after all its nodes restart, not by an
// election timeout: here the timeout is out of reach (hours), and a
// restart used to leave the cluster without a leader for good.
func TestMetadataLeaderWithoutElectionTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	noTimeout := func(c *Config) { c.electionTicks = 1 << 20 }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for incarnation := uint64(1); incarnation <= 2; incarnation++ {
		nodes, stop := startNodesWith(t, 3, dirs, noTimeout)
		leader := waitFormed(ctx, t, nodes, incarnation)
		stop()
		if leader != 1 {
			t.Fatalf("start %d: metadata leader %d, want node 1 (the first, all alive)", incarnation, leader)
		}
	}
}

// waitFormed waits until every node's consistent read names the same
// leader and every node registered with the given incarnation.
func waitFormed(ctx context.Context, t *testing.T, nodes []*Node, incarnation uint64) uint64 {
	t.Helper()
	for {
		var leaders []uint64
		ok := true
		for _, nd := range nodes {
			st, err := nd.Status(ctx)
			if err != nil {
				ok = false
				break
			}
			leaders = append(leaders, st.MetaLeader)
			for _, m := range st.Nodes {
				ok = ok && m.Registered && m.Incarnation == incarnation && m.Alive && m.HTTPAddr != ""
			}
		}
		if ok && leaders[0] != 0 && leaders[0] == leaders[1] && leaders[1] == leaders[2] {
			return leaders[0]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no cluster formed: leaders %v", leaders)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// A restarted cluster keeps its metadata (the Raft state is on disk) and
// each node registers again with the next incarnation.
func TestNodesRestartFromDisk(t *testing.T) {
	defer goleak.VerifyNone(t)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes, stop := startNodes(t, 3, dirs)
	waitFormed(ctx, t, nodes, 1)
	stop()
	nodes, stop = startNodes(t, 3, dirs)
	defer stop()
	waitFormed(ctx, t, nodes, 2)
}

// A Raft directory remembers its node: opening it as another node fails
// with a message naming both.
func TestDirBelongsToOneNode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	if err := claimDir(dir, 1); err != nil {
		t.Fatal(err)
	}
	if err := claimDir(dir, 1); err != nil {
		t.Fatal(err)
	}
	err := claimDir(dir, 2)
	if err == nil || !strings.Contains(err.Error(), `node "1", not node 2`) {
		t.Fatalf("claim as node 2: %v", err)
	}
}

// sink records the topics EnsureTopic was called with.
type sink struct {
	mu     sync.Mutex
	topics map[string]int32
}

func (s *sink) EnsureTopic(name string, partitions int32, settings json.RawMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if string(settings) != `{"retention":1}` {
		return fmt.Errorf("settings %s", settings)
	}
	s.topics[name] = partitions
	return nil
}

func (s *sink) RemoveTopic(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.topics, name)
	return nil
}

func (s *sink) partitions(name string) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.topics[name]
}

// CreateTopic on any node reaches every node's sink with its settings,
// and each partition has one replica, spread over the nodes.
func TestCreateTopicReachesEveryNode(t *testing.T) {
	defer goleak.VerifyNone(t)
	sinks := []*sink{{topics: map[string]int32{}}, {topics: map[string]int32{}}, {topics: map[string]int32{}}}
	nodes, stop := startNodes(t, 3, []string{t.TempDir(), t.TempDir(), t.TempDir()}, sinks[0], sinks[1], sinks[2])
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leader := waitFormed(ctx, t, nodes, 1)
	tp, err := nodes[leader%3].CreateTopic(ctx, "orders", 3, 1, json.RawMessage(`{"retention":1}`))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, p := range tp.Partitions {
		if len(p.Replicas) != 1 {
			t.Fatalf("replicas %v", p.Replicas)
		}
		seen[p.Replicas[0]] = true
	}
	if len(seen) != 3 {
		t.Fatalf("partitions on nodes %v, want all three", seen)
	}
	for i, s := range sinks {
		for s.partitions("orders") != 3 {
			select {
			case <-ctx.Done():
				t.Fatalf("node %d never created the topic", i+1)
			case <-time.After(20 * time.Millisecond):
			}
		}
		if p, ok := nodes[i].Placement("orders"); !ok || p.ID != tp.ID {
			t.Fatalf("node %d placement: %+v", i+1, p)
		}
	}
	if _, err := nodes[0].CreateTopic(ctx, "orders", 3, 1, nil); !errors.Is(err, meta.ErrTopicExists) {
		t.Fatalf("second create: %v", err)
	}
}
