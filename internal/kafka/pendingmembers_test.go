package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/group"
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
	const session = 10 * time.Second
	joinV5 := joiner(t, s, session)
	join := func(group string) int16 { return joinV5(group, "").ErrorCode }
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
			joinV5 := joiner(t, s, session)
			join := func(group, memberID string) int16 { return joinV5(group, memberID).ErrorCode }
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

// --max-group-members bounds the members of every group, but classic Kafka
// members were never counted: a JoinGroup added one past it, and the ID
// round (MEMBER_ID_REQUIRED) handed out IDs to a full group. Now a new
// member is refused with GROUP_MAX_SIZE_REACHED, as Kafka refuses it past
// group.max.size (KIP-389; it was POLICY_VIOLATION, which clients do not
// treat as a full group), at the ID round or at a join without one (before
// v4); the members already in the group rejoin.
func TestClassicJoinsPastMaxGroupMembersRefused(t *testing.T) {
	s := serveFresh(t, func(c *broker.Config) { c.Limits.MaxGroupMembers = 1 }, Options{}, nil)
	defer s.stop(t)
	joins := map[int16]func(group, memberID string) *kmsg.JoinGroupResponse{
		3: joiner(t, s, 10*time.Second, kgo.MaxVersions(kversion.V2_0_0())), // JoinGroup v3: no ID round
		5: joiner(t, s, 10*time.Second),
	}
	a := joins[5]("g", "")
	if a.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first join: %v, want MEMBER_ID_REQUIRED", kerr.ErrorForCode(a.ErrorCode))
	}
	if r := joins[5]("g", a.MemberID); r.ErrorCode != 0 || r.Generation != 1 {
		t.Fatalf("join of the first member: %v, generation %d", kerr.ErrorForCode(r.ErrorCode), r.Generation)
	}
	full := kerr.GroupMaxSizeReached.Code
	for _, version := range []int16{5, 3} {
		if r := joins[version]("g", ""); r.ErrorCode != full {
			t.Errorf("v%d join of a second member: %v, want %v", version, kerr.ErrorForCode(r.ErrorCode), kerr.ErrorForCode(full))
		}
	}
	if r := joins[5]("g", a.MemberID); r.ErrorCode != 0 {
		t.Fatalf("rejoin of the first member: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

// The member IDs a group hands out (MEMBER_ID_REQUIRED) count against
// --max-group-members until they come back or expire: uncounted, one
// client's joins without the ID it was given held any number of them
// (1,000,000 in 17 s took 155 MB) for the session timeout each asked,
// up to --max-session-timeout.
func TestPendingMemberIDsCountAgainstMaxGroupMembers(t *testing.T) {
	const session = 10 * time.Second
	s := serveFresh(t, func(c *broker.Config) { c.Limits.MaxGroupMembers = 2 }, Options{}, nil)
	defer s.stop(t)
	join := joiner(t, s, session)
	for i := range 2 {
		if r := join("g", ""); r.ErrorCode != kerr.MemberIDRequired.Code {
			t.Fatalf("ID round %d: %v, want MEMBER_ID_REQUIRED", i, kerr.ErrorForCode(r.ErrorCode))
		}
	}
	full := kerr.GroupMaxSizeReached.Code
	if r := join("g", ""); r.ErrorCode != full {
		t.Fatalf("ID round past the limit: %v, want %v", kerr.ErrorForCode(r.ErrorCode), kerr.ErrorForCode(full))
	}
	s.srv.groups.tick(time.Now().Add(session + time.Second)) // the IDs handed out expire
	if r := join("g", ""); r.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("ID round once the others expired: %v, want MEMBER_ID_REQUIRED", kerr.ErrorForCode(r.ErrorCode))
	}
}

// joiner is a kgo client of s (with opts) sending JoinGroups (range
// protocol, of the newest version both sides have) with the session
// timeout session: join(group, memberID) answers the response. Its
// client closes with t.
func joiner(t *testing.T, s *served, session time.Duration, opts ...kgo.Opt) func(group, memberID string) *kmsg.JoinGroupResponse {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return func(group, memberID string) *kmsg.JoinGroupResponse {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.ProtocolType = group, memberID, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = int32(session.Milliseconds()), 10_000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
}

// A classic group whose members all left stays in the listener (its
// generations go on from there) while the broker keeps the group; once the
// group was deleted over HTTP (DELETE /groups/{id}), which the listener
// never heard of, it stayed for good: one per group so deleted, each
// looked at by every tick.
func TestClassicGroupDeletedOverHTTPLeavesNothing(t *testing.T) {
	s := serveFresh(t, nil, Options{}, nil)
	defer s.stop(t)
	join := joiner(t, s, 10*time.Second)
	id := join("k", "").MemberID
	if r := join("k", id); r.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	s.srv.groups.mu.Lock()
	g := s.srv.groups.byID["k"]
	g.remove(g.members[id]) // as its LeaveGroup does
	g.membersChanged(time.Now(), group.ReasonMemberLeft)
	s.srv.groups.mu.Unlock()
	listed := func() bool {
		s.srv.groups.mu.Lock()
		defer s.srv.groups.mu.Unlock()
		return s.srv.groups.byID["k"] != nil
	}
	s.srv.groups.tick(time.Now())
	if !listed() {
		t.Fatal("the listener forgot a group the broker keeps")
	}
	if err := s.br.DeleteGroup("k"); err != nil {
		t.Fatal(err)
	}
	s.srv.groups.tick(time.Now())
	if listed() {
		t.Fatal("the listener keeps a group deleted over HTTP")
	}
}
