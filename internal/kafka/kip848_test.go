package kafka_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kgo consumers with server-side assignment (KIP-848) are members of the
// broker's own coordinator: two of them share a topic, every record is
// consumed, and their commits are the group's offsets.
func TestKgoServerSideGroup(t *testing.T) {
	p := start(t, "--heartbeat-interval", "300ms", "--min-session-timeout", "1s")
	admin := p.client(t)
	createTopic(t, admin, "kip848", 4)
	produceN(t, admin, "kip848", "x", 200)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	// The member that sees the last record ends the other's poll, which
	// would otherwise wait for records that never come.
	ctx, done := context.WithTimeout(context.Background(), 60*time.Second)
	defer done()
	for _, name := range []string{"m1", "m2"} {
		cl := p.client(t, kgo.ConsumerGroup("next-gen"), kgo.ConsumeTopics("kip848"), kgo.ServerSideBalancer(),
			kgo.ClientID(name), kgo.FetchMaxWait(300*time.Millisecond))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if ctx.Err() != nil {
					return
				}
				fs := cl.PollFetches(ctx)
				fs.EachError(func(topic string, p int32, err error) {
					if ctx.Err() == nil {
						t.Errorf("%s: fetch %s/%d: %v", name, topic, p, err)
					}
				})
				mu.Lock()
				for _, r := range fs.Records() {
					seen[string(r.Value)] = true
				}
				if len(seen) >= 200 {
					done()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 200 {
		t.Fatalf("consumed %d of 200 records", len(seen))
	}
	st, body := httpDo(t, p, "GET", "/groups/next-gen", "")
	if st != 200 {
		t.Fatalf("GET /groups/next-gen: %d %s", st, body)
	}
}

// pollInto polls cl until seen holds n distinct "topic/value" records, and
// fails the test if the context of ctxT ends first.
func pollInto(t *testing.T, cl *kgo.Client, seen map[string]bool, n int) {
	t.Helper()
	ctx := ctxT(t)
	for len(seen) < n && ctx.Err() == nil {
		for _, r := range cl.PollFetches(ctx).Records() {
			seen[r.Topic+"/"+string(r.Value)] = true
		}
	}
	if len(seen) != n {
		t.Fatalf("consumed %d of %d records: %v", len(seen), n, seen)
	}
}

// A kgo consumer with server-side assignment may subscribe to a topic that
// does not exist yet, as on Kafka: kgo joins once one of its topics exists,
// naming them all, and consumes that one at once; once the other is
// created, it is assigned its partitions and consumes their records too.
func TestKgoServerSideGroupTopicCreatedLater(t *testing.T) {
	p := start(t, "--heartbeat-interval", "300ms", "--min-session-timeout", "1s")
	admin := p.client(t)
	createTopic(t, admin, "now", 2)
	produceN(t, admin, "now", "now", 10)
	cl := p.client(t, kgo.ConsumerGroup("early"), kgo.ConsumeTopics("now", "later"), kgo.ServerSideBalancer(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(300*time.Millisecond),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	seen := map[string]bool{}
	pollInto(t, cl, seen, 10) // subscribed to "later" too, which does not exist
	gs := consumerGroupDescribe(t, admin, 0, "early")
	if len(gs) != 1 || len(gs[0].Members) != 1 || !slices.Equal(gs[0].Members[0].SubscribedTopics, []string{"later", "now"}) {
		t.Fatalf("the group is %+v, want one member subscribed to later and now", gs)
	}
	createTopic(t, admin, "later", 3)
	produceN(t, admin, "later", "later", 30)
	pollInto(t, cl, seen, 40)
}

// A kgo consumer with server-side assignment that adds a topic to its
// subscription (AddConsumeTopics) says so in its next heartbeat, and is
// assigned the topic's partitions without leaving the group.
func TestKgoServerSideGroupAddsTopic(t *testing.T) {
	p := start(t, "--heartbeat-interval", "300ms", "--min-session-timeout", "1s")
	admin := p.client(t)
	createTopic(t, admin, "first", 2)
	createTopic(t, admin, "second", 2)
	produceN(t, admin, "first", "first", 10)
	produceN(t, admin, "second", "second", 10)
	cl := p.client(t, kgo.ConsumerGroup("grows"), kgo.ConsumeTopics("first"), kgo.ServerSideBalancer(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(300*time.Millisecond))
	seen := map[string]bool{}
	pollInto(t, cl, seen, 10)
	cl.AddConsumeTopics("second")
	pollInto(t, cl, seen, 20)
	gs := consumerGroupDescribe(t, admin, 0, "grows")
	if len(gs) != 1 || len(gs[0].Members) != 1 || !slices.Equal(gs[0].Members[0].SubscribedTopics, []string{"first", "second"}) {
		t.Fatalf("the group is %+v, want one member subscribed to first and second", gs)
	}
}

// A kgo regex consumer with server-side assignment subscribes by
// SubscribedTopicRegex: it consumes the topics that match, and one created
// later that matches, which the broker assigns as Kafka does (kgo does not
// send the regex again).
func TestKgoServerSideGroupRegex(t *testing.T) {
	p := start(t, "--heartbeat-interval", "300ms", "--min-session-timeout", "1s")
	admin := p.client(t)
	createTopic(t, admin, "rx-a", 2)
	createTopic(t, admin, "other", 1)
	produceN(t, admin, "rx-a", "a", 10)
	produceN(t, admin, "other", "o", 5)
	cl := p.client(t, kgo.ConsumerGroup("by-regex"), kgo.ConsumeRegex(), kgo.ConsumeTopics("^rx-.*"), kgo.ServerSideBalancer(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(300*time.Millisecond),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	seen := map[string]bool{}
	pollInto(t, cl, seen, 10)
	createTopic(t, admin, "rx-b", 2)
	produceN(t, admin, "rx-b", "b", 10)
	pollInto(t, cl, seen, 20)
	for k := range seen {
		if strings.HasPrefix(k, "other/") {
			t.Fatalf("consumed %s, which the regex does not match", k)
		}
	}
	// ConsumerGroupDescribe and GET /groups/{id} say the subscription as
	// the member sent it (kgo wraps the regexes it is given in one).
	const sent = ".*(?:(?:^rx-.*)).*"
	g := consumerGroupDescribe(t, admin, 1, "by-regex")[0]
	if len(g.Members) != 1 || g.Members[0].SubscribedTopicRegex == nil || *g.Members[0].SubscribedTopicRegex != sent {
		t.Fatalf("described members: %+v", g.Members)
	}
	if st, body := httpDo(t, p, "GET", "/groups/by-regex", ""); st != http.StatusOK || !strings.Contains(string(body), `"topic_regex":`+strconv.Quote(sent)) {
		t.Fatalf("GET /groups/by-regex: %d %s", st, body)
	}
}

// A static member's leave (epoch -2) must come from the member holding
// the instance: one naming an instance no member has is UNKNOWN_MEMBER_ID,
// one naming another member's instance FENCED_INSTANCE_ID, and neither
// takes the member out; the member's own leave does.
func TestStaticLeaveChecksInstance(t *testing.T) {
	p := start(t, "--heartbeat-interval", "300ms", "--min-session-timeout", "1s")
	admin := p.client(t)
	createTopic(t, admin, "sl", 2)
	beat := func(member, instance string, epoch int32) int16 {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = 1, "statics", member, epoch, &instance
		if epoch == 0 {
			req.RebalanceTimeoutMillis, req.SubscribedTopicNames, req.Topics = 5000, []string{"sl"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		resp, err := req.RequestWith(ctxT(t), admin)
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	members := func() int {
		var d struct{ Members []any }
		_, body := httpDo(t, p, "GET", "/groups/statics", "")
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Fatal(err)
		}
		return len(d.Members)
	}
	if beat("m1", "i1", 0) != 0 || beat("m2", "i2", 0) != 0 {
		t.Fatal("joins refused")
	}
	if code := beat("m1", "nobody", -2); code != kerr.UnknownMemberID.Code {
		t.Fatalf("leave naming an unknown instance: %d, want UNKNOWN_MEMBER_ID", code)
	}
	if code := beat("m1", "i2", -2); code != kerr.FencedInstanceID.Code {
		t.Fatalf("leave naming another member's instance: %d, want FENCED_INSTANCE_ID", code)
	}
	if n := members(); n != 2 {
		t.Fatalf("%d members after refused leaves, want 2", n)
	}
	if code := beat("m1", "i1", -2); code != 0 {
		t.Fatalf("the member's own static leave: %d", code)
	}
}

// TestReconcilingMembersHeartbeatSooner: a KIP-848 member learns of its
// assignment only when it heartbeats, so a partition moving between
// members waited for the owner's next heartbeat and then the new member's:
// 10–20 s at the broker's 10 s interval. Members are told Kafka's 5 s for
// this protocol, and 500 ms while partitions are on their way between
// members, until the group settles again.
func TestReconcilingMembersHeartbeatSooner(t *testing.T) {
	p := start(t)
	admin := p.client(t)
	createTopic(t, admin, "ri", 4)
	type member struct {
		id    string
		epoch int32
		owns  []kmsg.ConsumerGroupHeartbeatRequestTopic
	}
	beat := func(m *member, join bool) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, "reconciling", m.id, m.epoch
		if join {
			req.MemberEpoch, req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 0, 5000, []string{"ri"}
		}
		req.Topics = m.owns
		if req.Topics == nil {
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		resp, err := req.RequestWith(ctxT(t), admin)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("heartbeat of %s: %v, code %d", m.id, err, resp.ErrorCode)
		}
		m.epoch, m.owns = resp.MemberEpoch, nil
		if a := resp.Assignment; a != nil {
			for _, at := range a.Topics {
				m.owns = append(m.owns, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: at.TopicID, Partitions: at.Partitions})
			}
		}
		return resp
	}
	owned := func(m *member) (n int) {
		for _, at := range m.owns {
			n += len(at.Partitions)
		}
		return n
	}
	a, b := &member{id: "member-a"}, &member{id: "member-b"}
	for _, step := range []struct {
		what     string
		m        *member
		join     bool
		owns     int   // partitions the answer assigns
		interval int32 // ms
	}{
		{"a joins: the group is settled at once", a, true, 4, 5000},
		{"b joins: a must release two for it", b, true, 0, 500},
		{"a is told to release two", a, false, 2, 500},
		{"a has released them; b is still to take them", a, false, 2, 500},
		{"b takes them: settled", b, false, 2, 5000},
		{"a, settled", a, false, 2, 5000},
	} {
		resp := beat(step.m, step.join)
		if got := owned(step.m); got != step.owns || resp.HeartbeatIntervalMillis != step.interval {
			t.Fatalf("%s: assigned %d partitions, interval %d ms; want %d, %d ms", step.what, got, resp.HeartbeatIntervalMillis, step.owns, step.interval)
		}
	}
}

// A KIP-848 member past --max-group-members is refused with
// GROUP_MAX_SIZE_REACHED, as Kafka refuses it past group.max.size: it was
// POLICY_VIOLATION, which clients do not take for a full group.
func TestKIP848MemberPastMaxGroupMembers(t *testing.T) {
	p := start(t, "--max-group-members", "1")
	admin := p.client(t)
	createTopic(t, admin, "full", 1)
	join := func(member string) int16 {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.MemberEpoch = 0, "full", member, 0
		req.RebalanceTimeoutMillis, req.SubscribedTopicNames, req.Topics = 5000, []string{"full"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		resp, err := req.RequestWith(ctxT(t), admin)
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	if code := join("m1"); code != 0 {
		t.Fatalf("first member: %v", kerr.ErrorForCode(code))
	}
	if code := join("m2"); code != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("second member: %v, want GROUP_MAX_SIZE_REACHED", kerr.ErrorForCode(code))
	}
}
