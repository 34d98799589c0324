package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/transport"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// appendLog is a state machine that appends every command to a list.
type appendLog struct {
	mu  sync.Mutex // Apply runs on the node's loop, the test reads
	cmd []string
}

func (s *appendLog) Apply(_ uint64, cmd []byte) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd = append(s.cmd, string(cmd))
	return len(s.cmd)
}
func (s *appendLog) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []byte(strings.Join(s.cmd, "\n")), nil
}
func (s *appendLog) Restore(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd = nil
	if len(b) > 0 {
		s.cmd = strings.Split(string(b), "\n")
	}
	return nil
}
func (s *appendLog) list() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.cmd, ",")
}

type testNode struct {
	node *multiraft.Node
	tr   *transport.Transport
	sms  map[uint64]*appendLog
}

// startCluster runs n nodes hosting groups over real TCP on 127.0.0.1.
func startCluster(t *testing.T, n int, groups []uint64, quiesce bool) []*testNode {
	t.Helper()
	lns := map[uint64]net.Listener{}
	peers := map[uint64]string{}
	var voters []uint64
	for i := 1; i <= n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[uint64(i)] = ln
		peers[uint64(i)] = ln.Addr().String()
		voters = append(voters, uint64(i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, ctx := errgroup.WithContext(ctx)
	var nodes []*testNode
	for i := 1; i <= n; i++ {
		id := uint64(i)
		h, err := multiraft.New(multiraft.Config{NodeID: id, FS: vfs.OS{}, Dir: t.TempDir(), ElectionTicks: 10, HeartbeatTicks: 1, Quiesce: quiesce})
		if err != nil {
			t.Fatal(err)
		}
		tn := &testNode{sms: map[uint64]*appendLog{}}
		for _, gid := range groups {
			tn.sms[gid] = &appendLog{}
			if err := h.AddGroup(gid, voters, tn.sms[gid]); err != nil {
				t.Fatal(err)
			}
		}
		tn.node = multiraft.NewNode(h, 20*time.Millisecond)
		tn.tr, err = transport.New(transport.Config{
			NodeID: id, Listener: lns[id], Peers: peers,
			Deliver: tn.node.Deliver, Unreachable: tn.node.Unreachable,
			KeepAlive: 20 * time.Millisecond, DownAfter: 150 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		g.Go(func() error { return tn.tr.Run(ctx) })
		g.Go(func() error { return tn.node.Run(ctx, tn.tr) })
		nodes = append(nodes, tn)
	}
	t.Cleanup(func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Error(err)
		}
	})
	return nodes
}

// leaderOf waits until one node leads group and every node but the
// excluded one (0: none) names it.
func leaderOf(t *testing.T, nodes []*testNode, group uint64, excluded uint64) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		var lead uint64
		named := map[uint64]int{}
		for i, tn := range nodes {
			id := uint64(i + 1)
			if id == excluded {
				continue
			}
			st, err := tn.node.Status(ctx, group)
			if err != nil {
				continue
			}
			if st.IsLeader {
				lead = id
			}
			named[st.Leader]++
		}
		want := len(nodes)
		if excluded != 0 {
			want--
		}
		if lead != 0 && named[lead] == want {
			return lead
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("group %d: no leader", group)
	return 0
}

// quietState waits until group is quiet on every node, all following one
// leader in one term, and returns that leader and term.
func quietState(t *testing.T, ctx context.Context, nodes []*testNode, group uint64) [2]uint64 {
	t.Helper()
	for ctx.Err() == nil {
		var seen [][2]uint64
		for _, tn := range nodes {
			st, err := tn.node.Status(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			if st.Quiet {
				seen = append(seen, [2]uint64{st.Leader, st.Term})
			}
		}
		if len(seen) == len(nodes) && seen[0] == seen[1] && seen[1] == seen[2] {
			return seen[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("group %d never went quiet on every node", group)
	return [2]uint64{}
}

// TestClusterOverTCP runs three nodes with two groups over real
// connections: writes go through the leader, a follower answers with the
// leader's ID, a leader cut off by the fault hook is replaced, and after
// healing every replica holds the same commands in the same order.
//
// With quiesce, the groups go quiet once idle, and the transport's
// keepalives are the failure detector that wakes them when the leader is
// cut off.
func TestClusterOverTCP(t *testing.T) {
	for _, quiesce := range []bool{false, true} {
		t.Run(fmt.Sprintf("quiesce=%v", quiesce), func(t *testing.T) { testClusterOverTCP(t, quiesce) })
	}
}

func testClusterOverTCP(t *testing.T, quiesce bool) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the cluster stops: cleanups run last first
	nodes := startCluster(t, 3, []uint64{1, 2}, quiesce)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for _, g := range []uint64{1, 2} {
		lead := leaderOf(t, nodes, g, 0)
		for i := range 5 {
			if _, err := nodes[lead-1].node.Propose(ctx, g, fmt.Appendf(nil, "g%d-a%d", g, i)); err != nil {
				t.Fatalf("propose on leader: %v", err)
			}
		}
		follower := lead%3 + 1
		_, err := nodes[follower-1].node.Propose(ctx, g, []byte("x"))
		var nl *multiraft.NotLeaderError
		if !errors.As(err, &nl) || nl.Leader != lead {
			t.Fatalf("propose on follower: %v, want NotLeaderError naming %d", err, lead)
		}
	}

	if quiesce {
		// Idle: every group goes quiet on every node under one leader (the
		// notes cross the wire), and stays so — no election for many
		// election timeouts.
		for _, g := range []uint64{1, 2} {
			first := quietState(t, ctx, nodes, g)
			time.Sleep(time.Second)
			if again := quietState(t, ctx, nodes, g); again != first {
				t.Fatalf("group %d: quiet under %+v, then under %+v", g, first, again)
			}
		}
	}
	// Cut group 1's leader off from everyone, in both directions.
	old := leaderOf(t, nodes, 1, 0)
	cut := func(from, to uint64) bool { return from != old && to != old }
	for _, tn := range nodes {
		tn.tr.SetFault(cut)
	}
	lead := leaderOf(t, nodes, 1, old)
	for { // CheckQuorum: the cut-off leader steps down on its own
		st, err := nodes[old-1].node.Status(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !st.IsLeader {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	newLead := nodes[lead-1]
	for i := range 5 {
		if _, err := newLead.node.Propose(ctx, 1, fmt.Appendf(nil, "g1-b%d", i)); err != nil {
			t.Fatalf("propose to the new leader: %v", err)
		}
	}
	for _, tn := range nodes {
		tn.tr.SetFault(nil)
	}
	for _, g := range []uint64{1, 2} {
		var want string
		for ctx.Err() == nil {
			want = nodes[0].sms[g].list()
			same := true
			for _, tn := range nodes[1:] {
				if tn.sms[g].list() != want {
					same = false
				}
			}
			if same && strings.Count(want, ",") >= 4 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if ctx.Err() != nil {
			t.Fatalf("group %d: replicas never converged", g)
		}
		if g == 1 && !strings.HasSuffix(want, "g1-b4") {
			t.Fatalf("group 1 replicas hold %q", want)
		}
	}
}
