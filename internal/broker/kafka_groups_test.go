package broker

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
)

// A group speaks one protocol at a time: HTTP, KIP-848 or classic Kafka.
// The coordinator keeps the protocol of the join that created the group
// (across restarts, not across a deletion) and refuses joins of the others.
func TestGroupSpeaksOneProtocol(t *testing.T) {
	c := testConfig(t)
	b := mustOpen(t, c)
	defer func() { b.Close() }()
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	join := func(proto, g string) (string, error) {
		req := JoinParams{Topics: []string{"t"}}
		var res JoinResult
		var err error
		if proto == ProtocolConsumer {
			res, err = b.JoinConsumerGroup(g, req, "h")
		} else {
			res, err = b.JoinGroup(g, req, "h")
		}
		return res.MemberID, err
	}
	must := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	refused := func(step string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", step, err, want)
		}
	}
	protocol := func(step, g, want string) {
		t.Helper()
		got, err := b.GroupProtocol(g)
		if err != nil || got != want {
			t.Fatalf("%s: protocol of %s %q, %v; want %q", step, g, got, err, want)
		}
	}

	k, err := join(ProtocolConsumer, "k")
	must("KIP-848 join", err)
	_, err = join(ProtocolHTTP, "k")
	refused("HTTP join into a KIP-848 group", err, api.ErrInconsistentProtocol)
	hold := func(g string) (int64, error) {
		h, err := b.HoldClassicGroup(g)
		return h.Generation, err
	}
	_, err = hold("k")
	refused("classic hold of a KIP-848 group", err, api.ErrInconsistentProtocol)
	h, err := join(ProtocolHTTP, "h")
	must("HTTP join", err)
	_, err = join(ProtocolConsumer, "h")
	refused("KIP-848 join into an HTTP group", err, api.ErrInconsistentProtocol)
	protocol("live", "k", ProtocolConsumer)
	protocol("live", "h", ProtocolHTTP)

	must("leave", b.LeaveGroup("k", k))
	protocol("empty", "k", ProtocolConsumer)
	gen, err := hold("k")
	must("classic hold of an empty group", err)
	// The classic members' generations go on from the group's, and their
	// closed rebalances are the group's own.
	d, err := b.DescribeGroup("k")
	if err != nil || gen != d.Generation || gen == 0 {
		t.Fatalf("hold gave generation %d, the group has %+v, %v", gen, d, err)
	}
	b.RecordRebalance("k", api.Rebalance{Generation: gen + 3, Reason: "member_joined", StartedAt: 1, EndedAt: 2})
	_, err = join(ProtocolHTTP, "k")
	refused("HTTP join into a classic group", err, api.ErrInconsistentProtocol)
	_, err = join(ProtocolConsumer, "k")
	refused("KIP-848 join into a classic group", err, api.ErrInconsistentProtocol)
	refused("delete a classic group", b.DeleteGroup("k"), api.ErrGroupNotEmpty)
	b.ReleaseClassicGroup("k")
	_, err = join(ProtocolHTTP, "k")
	must("HTTP join once the classic members left", err)
	protocol("taken over by HTTP", "k", ProtocolHTTP)
	if d, err := b.DescribeGroup("k"); err != nil || d.Generation <= gen+3 || d.Rebalances.ByReason["member_joined"] < 3 {
		t.Fatalf("after the classic rebalance to generation %d and an HTTP join: %+v, %v", gen+3, d, err)
	}

	// Deleted over HTTP and created again by HTTP members: not KIP-848.
	p, err := join(ProtocolConsumer, "p")
	must("KIP-848 join", err)
	must("leave", b.LeaveGroup("p", p))
	must("leave", b.LeaveGroup("h", h))
	b.Close()
	b = mustOpen(t, c)
	protocol("after a restart", "p", ProtocolConsumer)
	must("delete", b.DeleteGroup("p"))
	_, err = join(ProtocolHTTP, "p")
	must("HTTP join", err)
	protocol("created again by HTTP", "p", ProtocolHTTP)
}

// The classic hold and a join of the coordinator's own members are one
// decision: of the two racing for an empty group, exactly one wins.
func TestClassicHoldRacesJoin(t *testing.T) {
	b := mustOpen(t, testConfig(t))
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		g := fmt.Sprintf("g%d", i)
		var holdErr, joinErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _, holdErr = b.HoldClassicGroup(g) }()
		go func() { defer wg.Done(); _, joinErr = b.JoinGroup(g, JoinParams{Topics: []string{"t"}}, "h") }()
		wg.Wait()
		if (holdErr == nil) == (joinErr == nil) {
			t.Fatalf("group %s: hold %v, join %v; want exactly one to succeed", g, holdErr, joinErr)
		}
		for _, err := range []error{holdErr, joinErr} {
			if err != nil && !errors.Is(err, api.ErrInconsistentProtocol) {
				t.Fatalf("group %s: %v, want INCONSISTENT_GROUP_PROTOCOL", g, err)
			}
		}
	}
}
