package kafka

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/coordinator"
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// fakeHolder is a coordinator's side of classic groups: the holds, the
// last membership saved per group, and the memberships adopted.
type fakeHolder struct {
	mu      sync.Mutex
	held    map[string]uint64 // group → its hold's token
	saved   map[string][]byte
	adopted map[string][]byte
	tokens  uint64
}

func newFakeHolder() *fakeHolder {
	return &fakeHolder{held: map[string]uint64{}, saved: map[string][]byte{}, adopted: map[string][]byte{}}
}

// savingGroups is a front end's groups over f whose saver runs until the
// test ends.
func savingGroups(t *testing.T, f *fakeHolder) *groups {
	gs := newGroups(f)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	go gs.saveLoop(ctx)
	return gs
}

// heldGroup adds group k to gs, held at f; the caller holds gs.mu.
func heldGroup(t *testing.T, gs *groups) *kgroup {
	t.Helper()
	g := gs.newGroup("k")
	gs.byID["k"] = g
	if err := g.hold(); err != nil {
		t.Fatal(err)
	}
	return g
}

func (f *fakeHolder) HoldClassicGroup(id string) (coordinator.ClassicHold, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens++
	f.held[id] = f.tokens
	return coordinator.ClassicHold{Generation: 1, Token: f.tokens}, nil
}

func (f *fakeHolder) ReleaseClassicGroup(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.held, id)
}

func (f *fakeHolder) ForgetBlankGroup(string) {}

func (f *fakeHolder) GroupProtocol(string) (string, error) { return "", nil }

func (f *fakeHolder) ClassicHeld(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held[id] != 0
}

func (f *fakeHolder) RecordRebalance(string, api.Rebalance) {}

func (f *fakeHolder) SaveClassicMembers(id string, token uint64, members []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if token == f.held[id] {
		f.saved[id] = members
	}
	return nil
}

func (f *fakeHolder) AdoptedClassicGroups() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Collect(maps.Keys(f.adopted))
}

func (f *fakeHolder) AdoptedClassicMembers(id string) ([]byte, coordinator.ClassicHold, bool) {
	f.mu.Lock()
	members, ok := f.adopted[id]
	delete(f.adopted, id)
	f.mu.Unlock()
	if !ok {
		return nil, coordinator.ClassicHold{}, false
	}
	h, _ := f.HoldClassicGroup(id)
	return members, h, true
}

// A Stable group's membership, saved and restored on another node, is the
// same group: its generation, protocol, leader, and each member's IDs,
// client, timeouts, protocols and assignment, static members included;
// the restored members are seen at the restore, and it is held there.
func TestClassicMembershipRestored(t *testing.T) {
	synctest.Test(t, testClassicMembershipRestored)
}

func testClassicMembershipRestored(t *testing.T) {
	f := newFakeHolder()
	gs := savingGroups(t, f)
	gs.mu.Lock()
	g := heldGroup(t, gs)
	g.state, g.generation, g.protocolType, g.protocol, g.leader = groupStable, 7, "consumer", "range", "m1"
	g.members["m1"] = &member{id: "m1", clientID: "c1", host: "/10.0.0.1", session: 10 * time.Second, rebalance: time.Minute,
		protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 1}}}, assignment: []byte{9}}
	g.members["m2"] = &member{id: "m2", instanceID: "i2", clientID: "c2", host: "/10.0.0.2", session: 45 * time.Second, rebalance: time.Minute,
		protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}, {Name: "sticky"}}}
	g.static["i2"] = "m2"
	g.save()
	gs.mu.Unlock()
	synctest.Wait() // the saver made the save

	f.mu.Lock()
	saved := f.saved["k"]
	f.adopted["k"] = saved
	f.mu.Unlock()
	if len(saved) == 0 {
		t.Fatal("nothing saved")
	}
	other := newGroups(f) // the next coordinator's front end
	now := time.Now()
	other.mu.Lock()
	r := other.lookup("k")
	other.mu.Unlock()
	if r == nil || !r.held || !f.ClassicHeld("k") {
		t.Fatalf("restored %+v; held at the coordinator %v", r, f.ClassicHeld("k"))
	}
	if r.state != groupStable || r.generation != 7 || r.protocolType != "consumer" || r.protocol != "range" || r.leader != "m1" ||
		!reflect.DeepEqual(r.static, map[string]string{"i2": "m2"}) {
		t.Fatalf("restored group %+v", r)
	}
	for id, want := range g.members {
		got := r.members[id]
		if got == nil || got.instanceID != want.instanceID || got.clientID != want.clientID || got.host != want.host ||
			got.session != want.session || got.rebalance != want.rebalance || !reflect.DeepEqual(got.assignment, want.assignment) ||
			len(got.protocols) != len(want.protocols) || got.lastSeen.Before(now) {
			t.Fatalf("member %s restored as %+v, want %+v", id, got, want)
		}
		for i, p := range want.protocols {
			if got.protocols[i].Name != p.Name || string(got.protocols[i].Metadata) != string(p.Metadata) {
				t.Fatalf("member %s protocols %+v, want %+v", id, got.protocols, want.protocols)
			}
		}
	}
	if m, code := r.checkMember("m2", new("i2"), 7); m == nil || code != 0 {
		t.Fatalf("the static member's heartbeat on the restored group: %d", code)
	}
}

// A group saved in the middle of a rebalance (a member left, and the
// coordinator moved before the others rejoined) is restored rebalancing:
// the others are told to rejoin, the join completes without the member
// that left (and its leadership), and its generation skips one past the
// saved one, which the last coordinator may have handed out unsaved.
func TestClassicMembershipRestoredMidRebalance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeHolder()
		gs := savingGroups(t, f)
		now := time.Now()
		gs.mu.Lock()
		g := heldGroup(t, gs)
		g.state, g.generation, g.protocolType, g.protocol, g.leader = groupStable, 5, "consumer", "range", "c"
		for _, id := range []string{"a", "b", "c"} {
			g.members[id] = &member{id: id, session: 10 * time.Second, rebalance: time.Minute, lastSeen: now,
				protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range"}}}
		}
		g.remove(g.members["c"]) // c leaves
		g.membersChanged(now, group.ReasonMemberLeft)
		gs.mu.Unlock()
		synctest.Wait()

		f.mu.Lock()
		f.adopted["k"] = f.saved["k"]
		f.mu.Unlock()
		other := newGroups(f)
		other.mu.Lock()
		r := other.lookup("k")
		if r == nil || r.state != groupPreparingRebalance || r.generation != 5 || len(r.members) != 2 {
			t.Fatalf("restored %+v, want a/b rebalancing in generation 5", r)
		}
		if _, code := r.checkMember("a", nil, 5); code != 0 {
			t.Fatalf("a's heartbeat in generation 5: %d", code)
		}
		joins := map[string]chan *kmsg.JoinGroupResponse{}
		for _, id := range []string{"a", "b"} {
			joins[id] = make(chan *kmsg.JoinGroupResponse, 1)
			r.members[id].join = joins[id]
		}
		r.maybeCompleteJoin(time.Now())
		other.mu.Unlock()
		for id, ch := range joins {
			out := <-ch
			if out.ErrorCode != 0 || out.Generation != 7 || out.LeaderID == "c" {
				t.Fatalf("%s's join answered %+v, want generation 7 led by a or b", id, out)
			}
		}
	})
}

// The groups adopted with classic members are restored by the next tick,
// before any request of theirs: until then an HTTP deletion or offset
// reset of the group was taken as of an empty group, and members that had
// died before the move were given a whole session from their first
// successor's request.
func TestAdoptedGroupRestoredByTick(t *testing.T) {
	f := newFakeHolder()
	gs := newGroups(f)
	saved := &kgroup{id: "k", state: groupStable, generation: 3, protocolType: "consumer", protocol: "range", leader: "a",
		members: map[string]*member{"a": {id: "a", session: 10 * time.Second, protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range"}}}}}
	f.adopted["k"] = saved.encode()
	now := time.Now()
	gs.tick(now)
	gs.mu.Lock()
	g := gs.byID["k"]
	gs.mu.Unlock()
	if g == nil || !f.ClassicHeld("k") || g.members["a"] == nil {
		t.Fatalf("after a tick: %+v, held %v", g, f.ClassicHeld("k"))
	}
	gs.tick(now.Add(11 * time.Second)) // a never came back
	if f.ClassicHeld("k") {
		t.Fatal("a member silent for its session still holds the group")
	}
}

// A group the coordinator has lost is dropped at its next lookup: a
// member still waiting in JoinGroup is told NOT_COORDINATOR (it looks the
// coordinator up again and goes on there), not UNKNOWN_MEMBER_ID (which
// would make it join as a stranger).
func TestLostGroupAnswersNotCoordinator(t *testing.T) {
	f := newFakeHolder()
	gs := newGroups(f)
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g := heldGroup(t, gs)
	join := make(chan *kmsg.JoinGroupResponse, 1)
	g.members["m1"] = &member{id: "m1", session: time.Minute, join: join}
	g.state = groupPreparingRebalance
	f.ReleaseClassicGroup("k") // the group moved away
	if got := gs.lookup("k"); got != nil {
		t.Fatalf("lookup of a lost group: %+v", got)
	}
	if out := <-join; out.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("the waiting join was answered %d, want NOT_COORDINATOR", out.ErrorCode)
	}
	if _, ok := gs.byID["k"]; ok {
		t.Fatal("the lost group was kept")
	}
}

// During a rebalance a member that neither rejoins nor heartbeats for its
// session timeout is removed, and the rebalance completes with the others,
// rather than waiting out the rebalance timeout (Kafka's heartbeat
// expiry).
func TestSilentMemberExpiresDuringRebalance(t *testing.T) {
	f := newFakeHolder()
	gs := newGroups(f)
	gs.mu.Lock()
	g := heldGroup(t, gs)
	start := time.Now()
	join := make(chan *kmsg.JoinGroupResponse, 1)
	joined := &member{id: "a", session: 10 * time.Second, rebalance: time.Hour, lastSeen: start,
		protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range"}}, join: join}
	silent := &member{id: "b", session: 10 * time.Second, rebalance: time.Hour, lastSeen: start,
		protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range"}}}
	g.members["a"], g.members["b"] = joined, silent
	g.prepareRebalance(start, "member_joined")
	gs.mu.Unlock()

	gs.tick(start.Add(5 * time.Second)) // within b's session
	select {
	case out := <-join:
		t.Fatalf("join answered %+v while b's session lasts", out)
	default:
	}
	gs.tick(start.Add(11 * time.Second))
	select {
	case out := <-join:
		if out.ErrorCode != 0 || len(out.Members) != 1 || out.Members[0].MemberID != "a" {
			t.Fatalf("join answered %+v, want a new generation of a alone", out)
		}
	default:
		t.Fatal("the rebalance still waits for the silent member")
	}
}

// A member's ID is made of its client ID, which a client may send in any
// bytes (a Latin-1 "café"): the membership is saved as JSON, where
// ill-formed UTF-8 becomes U+FFFD, so the member restored by the next
// coordinator had another ID, unknown to the member, which had to rejoin
// (the rewind saving avoids). The client ID is read as Kafka, in Java,
// reads it (javaUTF8): every member ID given survives the save.
func TestClassicMemberOfAnyClientIDRestored(t *testing.T) {
	s := serveFresh(t, nil, Options{}, nil)
	defer s.stop(t)
	ctx := context.Background()
	for i, client := range []string{"plain", "caf\xe9", "\xff\xfe-", "ok\xe2\x82"} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ClientID(client))
		if err != nil {
			t.Fatal(err)
		}
		join := kmsg.NewPtrJoinGroupRequest()
		join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = fmt.Sprintf("g%d", i), "consumer", 10_000, 10_000
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name = "range"
		join.Protocols = append(join.Protocols, jp)
		resp, err := join.RequestWith(ctx, cl)
		if err == nil && resp.ErrorCode == kerr.MemberIDRequired.Code {
			join.MemberID = resp.MemberID
			resp, err = join.RequestWith(ctx, cl)
		}
		cl.Close()
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("client %q: join: %v %+v", client, err, resp)
		}
		gs := s.srv.groups
		gs.mu.Lock()
		saved := gs.byID[join.Group].encode()
		r, err := gs.restoredGroup(join.Group, saved, coordinator.ClassicHold{}, time.Now())
		gs.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if m := r.members[resp.MemberID]; m == nil || r.leader != resp.MemberID {
			t.Fatalf("client %q: member %q restored as %v (leader %q)", client, resp.MemberID, slices.Collect(maps.Keys(r.members)), r.leader)
		}
	}
}

// A static member whose instance ID is not UTF-8, restarted after its
// group's coordinator moved, takes its old incarnation's place without a
// rebalance (KIP-345): the saved membership (JSON) holds the ID as Kafka
// reads it, and so does every request (javaIDs). It once joined as a new
// member: the group rebalanced, waiting for the old incarnation, which
// held its partitions until the rebalance timeout.
func TestStaticMemberOfAnyInstanceIDRestored(t *testing.T) {
	s := serveFresh(t, nil, Options{}, nil)
	defer s.stop(t)
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i, instance := range []string{"plain", "caf\xe9", "\xff\xfe"} {
		group := fmt.Sprintf("static%d", i)
		join := func() *kmsg.JoinGroupResponse {
			t.Helper()
			req := kmsg.NewPtrJoinGroupRequest()
			req.Group, req.ProtocolType, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = group, "consumer", 10_000, 10_000
			req.InstanceID = &instance
			req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
			resp, err := req.RequestWith(ctx, cl)
			if err != nil || resp.ErrorCode != 0 {
				t.Fatalf("instance %q: join: %v %+v", instance, err, resp)
			}
			return resp
		}
		first := join()
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Group, sync.MemberID, sync.InstanceID, sync.Generation = group, first.MemberID, &instance, first.Generation
		sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: first.MemberID, MemberAssignment: []byte{0, 0}}}
		if resp, err := sync.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
			t.Fatalf("instance %q: sync: %v %+v", instance, err, resp)
		}
		gs := s.srv.groups
		gs.mu.Lock()
		saved := gs.byID[group].encode()
		r, err := gs.restoredGroup(group, saved, coordinator.ClassicHold{}, time.Now())
		if err == nil {
			r.held = false // saves nothing: the test's stand-in for the next coordinator
			gs.byID[group] = r
		}
		gs.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		again := join() // the restart
		gs.mu.Lock()
		n := len(gs.byID[group].members)
		gs.mu.Unlock()
		if n != 1 || again.Generation != first.Generation {
			t.Fatalf("instance %q: %d members, generation %d after its restart; want 1 member, generation %d",
				instance, n, again.Generation, first.Generation)
		}
	}
}

// FuzzRestoredGroup restores arbitrary bytes as a classic group's saved
// membership, as the next coordinator does with what the last one saved
// (replicated, on a cluster): bytes that are no membership are an error,
// never a panic, and a membership restored saves as it was restored.
func FuzzRestoredGroup(f *testing.F) {
	g := newGroups(nil).newGroup("k")
	g.state, g.generation, g.protocolType, g.protocol, g.leader = groupStable, 7, "consumer", "range", "m1"
	a := kmsg.ConsumerMemberAssignment{Topics: []kmsg.ConsumerMemberAssignmentTopic{{Topic: "t", Partitions: []int32{0, 2}}}}
	g.members["m1"] = &member{id: "m1", clientID: "c1", host: "/10.0.0.1", session: 10 * time.Second, rebalance: time.Minute,
		protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 1}}}, assignment: a.AppendTo(nil)}
	g.members["m2"] = &member{id: "m2", instanceID: "i2", clientID: "c2", host: "/10.0.0.2", session: 45 * time.Second, rebalance: time.Minute,
		protocols: []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}, {Name: "sticky"}}}
	f.Add(g.encode())
	g.state = groupPreparingRebalance
	f.Add(g.encode())
	f.Add([]byte(`{"members":[]}`))
	f.Add([]byte(`{"generation":-1,"members":[{"id":"a","protocols":null},{"id":"a"}]}`))
	f.Fuzz(func(t *testing.T, saved []byte) {
		gs := newGroups(nil)
		now := time.Unix(1_700_000_000, 0)
		r, err := gs.restoredGroup("k", saved, coordinator.ClassicHold{}, now)
		if err != nil {
			return
		}
		once := r.encode()
		again, err := newGroups(nil).restoredGroup("k", once, coordinator.ClassicHold{}, now)
		if err != nil {
			t.Fatalf("%s restored, saved as %s, which does not restore: %v", saved, once, err)
		}
		if twice := again.encode(); !bytes.Equal(once, twice) {
			t.Fatalf("%s restored saves as\n%s\nthen as\n%s", saved, once, twice)
		}
	})
}
