package transport_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/transport"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// TestIdleGroupsCPU measures, with GOQUEUE_IDLE_GROUPS=N, what N idle
// groups on three nodes over real TCP (100 ms ticks, the default timing;
// stores in memory, so no fsync) cost in CPU once elected, with and without
// quiescing. It logs figures and asserts nothing about them.
func TestIdleGroupsCPU(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("GOQUEUE_IDLE_GROUPS"))
	if err != nil || n <= 0 {
		t.Skip("set GOQUEUE_IDLE_GROUPS=1000 to measure")
	}
	for _, quiesce := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		g, ctx := errgroup.WithContext(ctx)
		var nodes []*multiraft.Node
		lns := map[uint64]net.Listener{}
		peers := map[uint64]string{}
		for id := uint64(1); id <= 3; id++ {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			lns[id], peers[id] = ln, ln.Addr().String()
		}
		for id := uint64(1); id <= 3; id++ {
			h, err := multiraft.New(multiraft.Config{NodeID: id, FS: vfs.NewMem(), Dir: "/d", Quiesce: quiesce})
			if err != nil {
				t.Fatal(err)
			}
			for gid := uint64(1); gid <= uint64(n); gid++ {
				if err := h.AddGroup(gid, []uint64{1, 2, 3}, &appendLog{}); err != nil {
					t.Fatal(err)
				}
			}
			node := multiraft.NewNode(h, 100*time.Millisecond)
			tr, err := transport.New(transport.Config{NodeID: id, Listener: lns[id], Peers: peers, Deliver: node.Deliver, Unreachable: node.Unreachable})
			if err != nil {
				t.Fatal(err)
			}
			g.Go(func() error { return tr.Run(ctx) })
			g.Go(func() error { return node.Run(ctx, tr) })
			nodes = append(nodes, node)
		}
		// Wait until every group has a leader (and, quiescing, is quiet).
		for {
			ready := 0
			for gid := uint64(1); gid <= uint64(n); gid++ {
				st, err := nodes[0].Status(ctx, gid)
				if err != nil {
					t.Fatal(err)
				}
				if st.Leader != 0 && (!quiesce || st.Quiet) {
					ready++
				}
			}
			if ready == n {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		before := cpu()
		start := time.Now()
		time.Sleep(10 * time.Second)
		used := cpu() - before
		t.Logf("quiesce=%v: %d idle groups on 3 nodes: %.1f%% of one core (all three nodes, one process)",
			quiesce, n, 100*used.Seconds()/time.Since(start).Seconds())
		cancel()
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	}
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
