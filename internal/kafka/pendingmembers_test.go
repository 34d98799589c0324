package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// A JoinGroup without a member ID is answered MEMBER_ID_REQUIRED (v4+)
// with an ID kept for the client's next join. A client that never came
// back with it left it in its group for good: 1,000,000 such joins (17 s
// from one kgo client) held 155 MB of a broker until restart. As in Kafka,
// an ID handed out is forgotten once the session timeout its join asked
// for passes. And a join the coordinator refuses (here past --max-groups)
// left an empty group behind in the listener, one per group name asked.
func TestJoinsThatAddNoMemberLeaveNothing(t *testing.T) {
	s := serveFresh(t, func(c *broker.Config) { c.Limits.MaxGroups = 1 }, Options{}, nil)
	defer s.stop(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const session = 10 * time.Second
	join := func(group string) int16 {
		t.Helper()
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = 5
		req.Group, req.ProtocolType = group, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = int32(session.Milliseconds()), 10_000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	gs := s.srv.groups
	count := func() (groups, pending int) {
		gs.mu.Lock()
		defer gs.mu.Unlock()
		for _, g := range gs.byID {
			pending += len(g.pending)
		}
		return len(gs.byID), pending
	}
	start := time.Now()
	for range 20 {
		if code := join("g"); code != kerr.MemberIDRequired.Code {
			t.Fatalf("join: %v, want MEMBER_ID_REQUIRED", kerr.ErrorForCode(code))
		}
	}
	for i := range 20 { // past the one group allowed
		if code := join(fmt.Sprintf("refused-%d", i)); code == 0 || code == kerr.MemberIDRequired.Code {
			t.Fatalf("join of a second group: %v, want a refusal", kerr.ErrorForCode(code))
		}
	}
	if groups, pending := count(); groups != 1 || pending != 20 {
		t.Fatalf("%d groups, %d member IDs pending; want 1 and 20", groups, pending)
	}
	gs.tick(start.Add(session / 2))
	if _, pending := count(); pending != 20 {
		t.Fatalf("%d member IDs pending within their session timeout, want 20", pending)
	}
	gs.tick(time.Now().Add(session + time.Second))
	if _, pending := count(); pending != 0 {
		t.Fatalf("%d member IDs pending past their session timeout, want none", pending)
	}
}

// A JoinGroup that adds no member (answered MEMBER_ID_REQUIRED, or
// UNKNOWN_MEMBER_ID for an ID the group never handed out) into a group
// that did not exist made a group of the broker's coordinator that stayed
// for good: listed by GET /groups and counted against --max-groups, so
// that a client that never came back (or one asking under many group IDs)
// left real users TOO_MANY_GROUPS. As Kafka drops an Empty group without
// offsets, such a group lasts no longer than the member IDs handed out in
// it.
func TestJoinsThatAddNoMemberLeaveNoGroup(t *testing.T) {
	const session = 10 * time.Second
	for _, tc := range []struct {
		name     string
		memberID string
		code     int16
		expire   bool // the group goes once its pending IDs expire (else at once)
	}{
		{"member ID required", "", kerr.MemberIDRequired.Code, true},
		{"unknown member ID", "ghost", kerr.UnknownMemberID.Code, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serveFresh(t, func(c *broker.Config) { c.Limits.MaxGroups = 1 }, Options{}, nil)
			defer s.stop(t)
			cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			join := func(group, memberID string) int16 {
				t.Helper()
				req := kmsg.NewPtrJoinGroupRequest()
				req.Version = 5
				req.Group, req.MemberID, req.ProtocolType = group, memberID, "consumer"
				req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = int32(session.Milliseconds()), 10_000
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name = "range"
				req.Protocols = append(req.Protocols, p)
				resp, err := req.RequestWith(ctx, cl)
				if err != nil {
					t.Fatal(err)
				}
				return resp.ErrorCode
			}
			if code := join("a", tc.memberID); code != tc.code {
				t.Fatalf("join of a: %v, want %v", kerr.ErrorForCode(code), kerr.ErrorForCode(tc.code))
			}
			if tc.expire {
				s.srv.groups.tick(time.Now().Add(session + time.Second))
			}
			if gs := s.br.Groups(); len(gs) != 0 {
				t.Fatalf("broker lists %d groups (%s), want none", len(gs), gs[0].ID)
			}
			s.srv.groups.mu.Lock()
			n := len(s.srv.groups.byID)
			s.srv.groups.mu.Unlock()
			if n != 0 {
				t.Fatalf("listener keeps %d groups, want none", n)
			}
			if code := join("b", ""); code != kerr.MemberIDRequired.Code {
				t.Fatalf("join of another group: %v, want MEMBER_ID_REQUIRED (not a group past --max-groups)", kerr.ErrorForCode(code))
			}
		})
	}
}
