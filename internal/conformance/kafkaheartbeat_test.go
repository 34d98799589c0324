package conformance_test

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// KIP-848 behaviour that the suite's Target cannot say, checked over the
// wire against what Apache Kafka's coordinator answers.

// kafkaJoin is a valid first heartbeat of member id subscribed to topics.
func kafkaJoin(group, id string, topics ...string) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = group, id, 0, 300_000
	req.SubscribedTopicNames, req.Topics = topics, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	return req
}

// Kafka checks a heartbeat's fields before it looks at the group:
// INVALID_REQUEST for a missing or malformed one, UNSUPPORTED_ASSIGNOR for
// a server assignor it does not have. Kafka's own names are accepted.
func TestKafkaHeartbeatRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newKafkaTarget(t)
		if err := k.CreateTopic("orders", 2); err != nil {
			t.Fatal(err)
		}
		str := kmsg.StringPtr
		for _, c := range []struct {
			name string
			edit func(*kmsg.ConsumerGroupHeartbeatRequest)
			want int16
		}{
			{"join without a rebalance timeout", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = -1 }, kerr.InvalidRequest.Code},
			{"join with a negative rebalance timeout", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = -5 }, kerr.InvalidRequest.Code},
			{"join without a subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicNames = nil }, kerr.InvalidRequest.Code},
			{"join subscribed to nothing", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicNames = []string{} }, kerr.InvalidRequest.Code},
			{"join with null owned partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Topics = nil }, kerr.InvalidRequest.Code},
			{"join owning partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
				r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{Partitions: []int32{0}}}
			}, kerr.InvalidRequest.Code},
			{"join without a member ID (v1)", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest.Code},
			{"empty group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = " " }, kerr.InvalidRequest.Code},
			{"empty instance ID", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.InstanceID = str("") }, kerr.InvalidRequest.Code},
			{"empty rack ID", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RackID = str(" ") }, kerr.InvalidRequest.Code},
			{"names and a regex", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicRegex = str("ord.*") }, kerr.InvalidRequest.Code},
			{"a regex that does not compile", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
				r.SubscribedTopicNames, r.SubscribedTopicRegex = nil, str("ord(")
			}, kerr.InvalidRegularExpression.Code},
			{"static leave without instance ID", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -2 }, kerr.InvalidRequest.Code},
			{"epoch below -2", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }, kerr.InvalidRequest.Code},
			{"unknown assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = str("sticky") }, kerr.UnsupportedAssignor.Code},
			{"unknown assignor on a heartbeat", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
				r.MemberEpoch, r.ServerAssignor = 1, str("cooperative-sticky")
			}, kerr.UnsupportedAssignor.Code},
			{"uniform", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = str("uniform") }, 0},
			{"range", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.ServerAssignor = "m2", str("range") }, 0},
			{"no assignor named (franz-go's empty name)", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.ServerAssignor = "m3", str("") }, 0},
		} {
			req := kafkaJoin("g", "m1", "orders")
			c.edit(req)
			resp, err := k.cl.do(req)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			hr := resp.(*kmsg.ConsumerGroupHeartbeatResponse)
			if hr.ErrorCode != c.want {
				t.Errorf("%s: code %d (%v), want %d", c.name, hr.ErrorCode, codeError(hr.ErrorCode, hr.ErrorMessage), c.want)
			}
		}
	})
}

// A static member leaving with epoch -2 keeps its place until its session
// timeout: nobody gets its partitions, and its restart takes them back.
// With epoch -1 it leaves for good: the others get its partitions at once,
// and its instance ID is free for a new member.
func TestKafkaStaticLeaveForGood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newKafkaTarget(t)
		if err := k.CreateTopic("orders", 4); err != nil {
			t.Fatal(err)
		}
		join := func(id, instance string) broker.JoinResult {
			res, err := k.Join("g", broker.JoinParams{MemberID: id, InstanceID: instance, Topics: []string{"orders"}})
			if err != nil {
				t.Fatalf("join %s: %v", id, err)
			}
			return res
		}
		owned := map[string]broker.Assignment{}
		beat := func(id string) broker.Assignment {
			res, err := k.Heartbeat("g", broker.HeartbeatParams{MemberID: id, Generation: k.epochs[id], Owned: owned[id]})
			if err != nil {
				t.Fatalf("heartbeat %s: %v", id, err)
			}
			owned[id] = res.Assigned
			return res.Assigned
		}
		settle := func(ids ...string) {
			for range 10 {
				for _, id := range ids {
					beat(id)
				}
			}
		}
		leave := func(id string, epoch int32) {
			req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = "g", id, epoch, -1
			req.InstanceID = kmsg.StringPtr(k.static[id])
			if _, err := k.heartbeat(req); err != nil {
				t.Fatalf("leave %s at epoch %d: %v", id, epoch, err)
			}
			delete(owned, id)
		}
		count := func(a broker.Assignment) int { return len(a["orders"]) }

		join("a", "host-a")
		join("b", "host-b")
		settle("a", "b")
		if count(owned["a"]) != 2 || count(owned["b"]) != 2 {
			t.Fatalf("not shared: a %v, b %v", owned["a"], owned["b"])
		}
		had := owned["a"]["orders"]

		leave("a", -2)
		settle("b")
		if count(owned["b"]) != 2 {
			t.Fatalf("after a temporary leave b owns %v; a's place is a's until its session timeout", owned["b"])
		}
		if res := join("a", "host-a"); !slices.Equal(res.Assigned["orders"], had) {
			t.Fatalf("a came back to %v, had %v", res.Assigned, had)
		}
		owned["a"] = broker.Assignment{"orders": had}
		settle("a", "b")

		leave("a", -1)
		settle("b") // no time passes: no session timeout
		if count(owned["b"]) != 4 {
			t.Fatalf("after a leave for good b owns %v, want all 4 partitions", owned["b"])
		}
		if _, err := k.Heartbeat("g", broker.HeartbeatParams{MemberID: "a", Generation: k.epochs["a"]}); !errors.Is(err, api.ErrUnknownMember) {
			t.Fatalf("heartbeat of the member that left for good: %v, want UNKNOWN_MEMBER_ID", err)
		}
		join("a2", "host-a") // the instance is free: a new member, at once
		settle("a2", "b")
		if count(owned["a2"]) != 2 || count(owned["b"]) != 2 {
			t.Fatalf("not shared again: a2 %v, b %v", owned["a2"], owned["b"])
		}
	})
}

// A KIP-848 member may subscribe to a topic that does not exist yet, as on
// Kafka: the join succeeds with nothing assigned, and the topic's
// partitions are assigned once it is created.
func TestKafkaSubscribeBeforeTopicExists(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newKafkaTarget(t)
		res, err := k.Join("g", broker.JoinParams{MemberID: "a", Topics: []string{"later"}})
		if err != nil {
			t.Fatalf("join of a topic to come: %v", err)
		}
		if len(res.Assigned) != 0 {
			t.Fatalf("assigned %v of a topic that does not exist", res.Assigned)
		}
		if err := k.CreateTopic("later", 3); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			hb, err := k.Heartbeat("g", broker.HeartbeatParams{MemberID: "a", Generation: k.epochs["a"]})
			if err != nil {
				t.Fatalf("heartbeat: %v", err)
			}
			if slices.Equal(hb.Assigned["later"], []int32{0, 1, 2}) {
				return
			}
			synctest.Wait()
		}
		t.Fatal("the new topic's partitions were never assigned")
	})
}

// A heartbeat naming new SubscribedTopicNames changes the member's
// subscription in place, as on Kafka: no new incarnation, what it owns of
// topics it keeps stays its own, and the assignment of the new topics
// follows; null names keep the subscription as it was.
func TestKafkaSubscriptionChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newKafkaTarget(t)
		for _, name := range []string{"orders", "audit"} {
			if err := k.CreateTopic(name, 2); err != nil {
				t.Fatal(err)
			}
		}
		res, err := k.Join("g", broker.JoinParams{MemberID: "a", Topics: []string{"orders"}})
		if err != nil || !slices.Equal(res.Assigned["orders"], []int32{0, 1}) {
			t.Fatalf("join: %v, %v", res.Assigned, err)
		}
		ordersID, err := k.topicID("orders")
		if err != nil {
			t.Fatal(err)
		}
		beat := func(topics []string) broker.Assignment {
			t.Helper()
			req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = "g", "a", int32(k.epochs["a"]), -1
			req.SubscribedTopicNames = topics
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: ordersID, Partitions: []int32{0, 1}}}
			hr, err := k.heartbeat(req)
			if err != nil {
				t.Fatalf("heartbeat subscribed to %v: %v", topics, err)
			}
			k.epochs["a"] = int64(hr.MemberEpoch)
			got, err := k.assignment(hr.Assignment)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		got := beat([]string{"audit", "orders"})
		if !slices.Equal(got["orders"], []int32{0, 1}) || !slices.Equal(got["audit"], []int32{0, 1}) {
			t.Fatalf("after subscribing to audit too: %v", got)
		}
		if got := beat(nil); len(got["audit"]) != 2 {
			t.Fatalf("a heartbeat with null names dropped the subscription: %v", got)
		}
		if got := beat([]string{"orders"}); len(got["audit"]) != 0 || len(got["orders"]) != 2 {
			t.Fatalf("after dropping audit: %v", got)
		}
		d, err := k.Describe("g")
		if err != nil || len(d.Members) != 1 || d.Members[0].MemberID != "a" {
			t.Fatalf("describe: %+v, %v", d, err)
		}
	})
}

// A member subscribed by regex (SubscribedTopicRegex, v1) gets the topics
// it matches in full, and, as on Kafka, the topics created later that it
// matches, with no new heartbeat of the regex.
func TestKafkaRegexSubscription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newKafkaTarget(t)
		for _, name := range []string{"orders-eu", "xorders-us", "audit"} {
			if err := k.CreateTopic(name, 1); err != nil {
				t.Fatal(err)
			}
		}
		req := kafkaJoin("g", "a")
		req.SubscribedTopicNames, req.SubscribedTopicRegex = nil, kmsg.StringPtr("orders-.*")
		hr, err := k.heartbeat(req)
		if err != nil {
			t.Fatalf("join by regex: %v", err)
		}
		k.epochs["a"] = int64(hr.MemberEpoch)
		got, err := k.assignment(hr.Assignment)
		if err != nil || len(got) != 1 || len(got["orders-eu"]) != 1 {
			t.Fatalf("join by regex assigned %v, %v; want orders-eu only", got, err)
		}
		if err := k.CreateTopic("orders-us", 2); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			hb, err := k.Heartbeat("g", broker.HeartbeatParams{MemberID: "a", Generation: k.epochs["a"]})
			if err != nil {
				t.Fatalf("heartbeat: %v", err)
			}
			if slices.Equal(hb.Assigned["orders-us"], []int32{0, 1}) && len(hb.Assigned) == 2 {
				return
			}
			synctest.Wait()
		}
		t.Fatal("the new topic the regex matches was never assigned")
	})
}
