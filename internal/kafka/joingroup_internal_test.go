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

// A KIP-848 member's rebalance timeout is cut to --max-rebalance-timeout
// as a classic member's is: a member that keeps a partition it was asked
// to revoke is fenced once the bound passes, not after the hour it asked.
func TestHeartbeatRebalanceTimeoutCut(t *testing.T) {
	s := serveFresh(t, func(cfg *broker.Config) { cfg.Groups.MaxRebalanceTimeout = time.Second }, Options{}, nil)
	defer s.br.Close()
	defer func() {
		s.cancel()
		<-s.done
	}()
	if _, err := s.br.CreateTopic(broker.TopicSpec{Name: "two", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- s.br.Run(runCtx) }() // the coordinator's timers fence
	defer func() {
		stop()
		<-ran
	}()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	beat := func(member string, epoch int32, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "cut848", member, epoch
		req.RebalanceTimeoutMillis, req.SubscribedTopicNames, req.Topics = 3_600_000, []string{"two"}, owned
		if epoch != 0 {
			req.RebalanceTimeoutMillis, req.SubscribedTopicNames = -1, nil
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	owned := func(r *kmsg.ConsumerGroupHeartbeatResponse) []kmsg.ConsumerGroupHeartbeatRequestTopic {
		var out []kmsg.ConsumerGroupHeartbeatRequestTopic
		if r.Assignment != nil {
			for _, tp := range r.Assignment.Topics {
				out = append(out, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: tp.TopicID, Partitions: tp.Partitions})
			}
		}
		return out
	}
	a := beat("a", 0, []kmsg.ConsumerGroupHeartbeatRequestTopic{})
	if a.ErrorCode != 0 || a.Assignment == nil || len(a.Assignment.Topics) != 1 || len(a.Assignment.Topics[0].Partitions) != 2 {
		t.Fatalf("a joins: %+v, want both partitions", a)
	}
	mine := owned(a)
	if b := beat("b", 0, []kmsg.ConsumerGroupHeartbeatRequestTopic{}); b.ErrorCode != 0 {
		t.Fatalf("b joins: %d", b.ErrorCode)
	}
	// a keeps both partitions, though asked to give one to b, heartbeating
	// well within its session.
	asked, epoch := time.Now(), a.MemberEpoch
	for {
		r := beat("a", epoch, mine)
		if r.ErrorCode != 0 {
			if r.ErrorCode != kerr.FencedMemberEpoch.Code && r.ErrorCode != kerr.UnknownMemberID.Code {
				t.Fatalf("a's heartbeat answered %d, want it fenced", r.ErrorCode)
			}
			t.Logf("a fenced %v after it was asked to revoke", time.Since(asked).Round(10*time.Millisecond))
			return
		}
		if time.Since(asked) > 20*time.Second {
			t.Fatal("a still a member 20 s after it was asked to revoke, under a 1 s bound")
		}
		epoch = r.MemberEpoch
		time.Sleep(100 * time.Millisecond)
	}
}
