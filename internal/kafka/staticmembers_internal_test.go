package kafka

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A static member's new incarnation that takes its place back in a Stable
// group keeps the subscription it joined with, not a slice of the
// connection's read buffer: DescribeGroups answered, after the
// connection's next requests, with bytes of those requests in its place
// (kafka-python's describe_consumer_groups failed to decode them), and a
// leader would have been handed them for that member.
func TestStaticRejoinOwnsItsMetadata(t *testing.T) {
	s := serveFresh(t, nil, Options{}, nil)
	defer s.br.Close()
	defer func() {
		s.cancel()
		<-s.done
	}()
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	instance := "s1"
	join := func(metadata string) *kmsg.JoinGroupResponse {
		t.Helper()
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.ProtocolType, req.InstanceID = "statics", "consumer", &instance
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 30_000, 30_000
		pr := kmsg.NewJoinGroupRequestProtocol()
		pr.Name, pr.Metadata = "range", []byte(metadata)
		req.Protocols = append(req.Protocols, pr)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("join: %v %+v", err, resp)
		}
		return resp
	}
	first := join("first incarnation's subscription")
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.InstanceID, sync.Generation = "statics", first.MemberID, &instance, first.Generation
	if resp, err := sync.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("sync: %v %+v", err, resp)
	}
	want := "second incarnation's subscription"
	if again := join(want); again.Generation != first.Generation {
		t.Fatalf("static rejoin: generation %d, want %d (no rebalance)", again.Generation, first.Generation)
	}
	// A request that overwrites the connection's read buffer: the join
	// of another group goes over the same connection (kgo keeps one for
	// group requests).
	other := kmsg.NewPtrJoinGroupRequest()
	other.Group, other.ProtocolType, other.SessionTimeoutMillis = strings.Repeat("x", 60), "consumer", 30_000
	pr := kmsg.NewJoinGroupRequestProtocol()
	pr.Name, pr.Metadata = "range", bytes.Repeat([]byte("y"), 100)
	other.Protocols = append(other.Protocols, pr)
	if _, err := other.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{"statics"}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Groups) != 1 || len(resp.Groups[0].Members) != 1 {
		t.Fatalf("describe: %v %+v", err, resp)
	}
	if got := resp.Groups[0].Members[0].ProtocolMetadata; !bytes.Equal(got, []byte(want)) {
		t.Fatalf("the new incarnation's metadata: %q, want %q", got, want)
	}
}
