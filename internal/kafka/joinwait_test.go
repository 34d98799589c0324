package kafka

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// A JoinGroup waiting for the rebalance holds no share of
// --kafka-max-decoding-bytes: its frame's share was given back only once
// it was answered, up to the rebalance timeout later (5 min at most), so
// that a few joins with large protocol metadata, waiting for a member
// that did not rejoin, held the whole budget, and every other client's
// request past the few bytes left closed its connection (three joins of
// 67 MB held the default 200 MiB).
func TestWaitingJoinHoldsNoFrameBudget(t *testing.T) {
	const budget = 1 << 20
	s := serveFresh(t, nil, Options{MaxRequestBytes: budget, MaxDecodingBytes: budget}, nil)
	client := func(opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.addr)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	join := func(ctx context.Context, cl *kgo.Client, meta []byte) (*kmsg.JoinGroupResponse, error) {
		req := rangeJoinOf("g", meta)
		for {
			resp, err := req.RequestWith(ctx, cl)
			if err != nil || resp.ErrorCode != kerr.MemberIDRequired.Code {
				return resp, err
			}
			req.MemberID = resp.MemberID
		}
	}
	a := client()
	defer a.Close()
	joined, err := join(context.Background(), a, []byte{0})
	if err != nil || joined.ErrorCode != 0 {
		t.Fatalf("first member's join: %v, %v", err, joined)
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = "g", joined.MemberID, joined.Generation
	if resp, err := sync.RequestWith(context.Background(), a); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("leader's sync: %v, %v", err, resp)
	}

	// A second member's join waits for the first to rejoin, which it
	// does not.
	b := client()
	waited := make(chan error, 1)
	go func() {
		_, err := join(context.Background(), b, make([]byte, 900<<10))
		waited <- err
	}()
	testkit.Eventually(t, 10*time.Second, func() bool {
		s.srv.groups.mu.Lock()
		defer s.srv.groups.mu.Unlock()
		g := s.srv.groups.lookup("g")
		return g != nil && len(g.members) == 2
	}, "the second member waiting in the join")

	p := client(kgo.ProducerBatchCompression(kgo.NoCompression()))
	defer p.Close()
	value := make([]byte, 300<<10)
	rand.Read(value)
	// kgo retries a request whose connection was closed until the record
	// gets through: here once the join ended, when the first member's
	// session (10 s) expired.
	start := time.Now()
	if err := p.ProduceSync(context.Background(), &kgo.Record{Topic: "t", Value: value}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("a produce of 300 KiB while a join of 900 KiB waits (budget 1 MiB) took %v", took)
	}
	s.stop(t)
	b.Close()
	<-waited
}

// rangeJoinOf is a consumer's JoinGroup of group offering the range
// protocol with metadata meta: a session of 10 s, a rebalance timeout of
// a minute.
func rangeJoinOf(group string, meta []byte) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.ProtocolType = group, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10_000, 60_000
	pr := kmsg.NewJoinGroupRequestProtocol()
	pr.Name, pr.Metadata = "range", meta
	req.Protocols = append(req.Protocols, pr)
	return req
}
