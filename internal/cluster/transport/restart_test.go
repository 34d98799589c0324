package transport_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/transport"
)

// A peer killed and started again within DownAfter never goes silent for
// long, yet its old process's replicas are gone: Restarted must be told
// at its new hello, while Down does not name it. Checked with the
// restarted node on either end of the link (node 1 dials, node 2 accepts).
// Its first start is no restart.
func TestRestartedPeerIsReported(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, restarted := range []uint64{1, 2} {
		t.Run(fmt.Sprintf("node%d", restarted), func(t *testing.T) {
			// Long bounds: a busy machine (a CI run, fuzzers beside it)
			// once took more than 3 s to reconnect; the test waits only
			// for as long as the reconnection takes.
			const downAfter, reported = 20 * time.Second, 15 * time.Second
			peers := map[uint64]string{}
			for id := uint64(1); id <= 2; id++ {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				peers[id] = ln.Addr().String()
				ln.Close()
			}
			heard := make(chan struct{}, 1)  // the observer got a message
			reports := make(chan uint64, 10) // the observer's Restarted
			start := func(id uint64) (*transport.Transport, func()) {
				ln, err := net.Listen("tcp", peers[id])
				if err != nil {
					t.Fatal(err)
				}
				tr, err := transport.New(transport.Config{NodeID: id, Listener: ln, Peers: peers,
					Deliver: func(uint64, []multiraft.Envelope) {
						select {
						case heard <- struct{}{}:
						default:
						}
					}, Restarted: func(p uint64) { reports <- p }, KeepAlive: 20 * time.Millisecond, DownAfter: downAfter})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- tr.Run(ctx) }()
				return tr, func() {
					cancel()
					if err := <-done; err != nil {
						t.Error(err)
					}
				}
			}
			observer := 3 - restarted
			obs, stopObs := start(observer)
			defer stopObs()
			tr, stop := start(restarted)
			// Connected (a message came through), and not counted down
			// for its first start.
			waitFor(t, func() bool {
				tr.Send([]multiraft.Envelope{{Group: 1, Msg: &pb.Message{Type: pb.MsgHeartbeat.Enum(), To: new(observer), From: new(restarted)}}})
				select {
				case <-heard:
					return true
				default:
					return false
				}
			})
			select {
			case p := <-reports:
				t.Fatalf("node %d reported restarted at its first start", p)
			default:
			}
			stop()
			_, stop = start(restarted)
			defer stop()
			select {
			case p := <-reports:
				if p != restarted || len(obs.Down()) != 0 {
					t.Fatalf("reported %d restarted (want %d), down %v", p, restarted, obs.Down())
				}
			case <-time.After(reported):
				t.Fatalf("no restart reported in %v", reported)
			}
		})
	}
}

// waitFor polls ok every 10 ms for up to 3 s.
func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for range 300 {
		if ok() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached in 3 s")
}
