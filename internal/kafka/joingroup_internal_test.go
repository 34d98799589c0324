package kafka

import (
	"context"
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
	s := serveFresh(t, func(cfg *broker.Config) { cfg.Groups.MaxRebalanceTimeout = 10 * time.Second }, Options{}, nil)
	defer s.br.Close()
	defer func() {
		s.cancel()
		<-s.done
	}()
	srv, ctx := s.srv, context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
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
