package kafka

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// A classic member's rebalance timeout past --max-rebalance-timeout is cut
// to it (Kafka bounds none: clients send max.poll.interval.ms), not
// refused: the group waits at most that long for members to rejoin.
func TestJoinRebalanceTimeoutCut(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Groups.MaxRebalanceTimeout = 10 * time.Second
	br, err := broker.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(br, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "cut", "consumer", 10_000, 3_600_000
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name = "range"
	join.Protocols = append(join.Protocols, jp)
	resp, err := join.RequestWith(ctx, cl)
	if err == nil && resp.ErrorCode == kerr.MemberIDRequired.Code {
		join.MemberID = resp.MemberID
		resp, err = join.RequestWith(ctx, cl)
	}
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("join: %v %+v", err, resp)
	}
	srv.groups.mu.Lock()
	got := srv.groups.byID["cut"].members[resp.MemberID].rebalance
	srv.groups.mu.Unlock()
	if got != 10*time.Second {
		t.Fatalf("rebalance timeout %v, want the bound, 10s", got)
	}
}
