package kafka_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

func consumerGroupDescribe(t *testing.T, cl *kgo.Client, version int16, groups ...string) []kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Version, req.Groups = version, groups
	resp, err := cl.Request(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.(*kmsg.ConsumerGroupDescribeResponse).Groups
}

// pollUntil polls cl in the background, as a consumer must to stay in its
// group, until stop returns true or the test's time runs out.
func pollUntil(t *testing.T, cl *kgo.Client, stop func() bool) {
	t.Helper()
	pollUntilWithin(t, cl, 30*time.Second, stop)
}

// pollUntilWithin is pollUntil with a deadline of d.
func pollUntilWithin(t *testing.T, cl *kgo.Client, d time.Duration, stop func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			cl.PollFetches(pctx)
			pcancel()
		}
	}()
	defer func() { cancel(); <-done }()
	testkit.Eventually(t, d, stop, "pollUntil's condition")
}

// ConsumerGroupDescribe shows a KIP-848 group run by kgo: its state, epoch
// and assignor, and each member with its subscription, assignment and
// target by topic ID. Unknown, classic and HTTP groups are
// GROUP_ID_NOT_FOUND, as Kafka answers for a group that is not a consumer
// group.
func TestConsumerGroupDescribe(t *testing.T) {
	p := start(t, "--heartbeat-interval", "300ms", "--min-session-timeout", "1s")
	admin := p.client(t)

	av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctxT(t), admin)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(av.ApiKeys, func(k kmsg.ApiVersionsResponseApiKey) bool {
		return k.ApiKey == int16(kmsg.ConsumerGroupDescribe) && k.MaxVersion == 1
	}) {
		t.Fatal("ApiVersions does not advertise ConsumerGroupDescribe v0-1")
	}

	id := createTopic(t, admin, "cgd", 3)
	produceN(t, admin, "cgd", "x", 10)
	cl := p.client(t, kgo.ConsumerGroup("g848"), kgo.ConsumeTopics("cgd"), kgo.ServerSideBalancer(),
		kgo.ClientID("describer"), kgo.InstanceID("inst-1"), kgo.FetchMaxWait(200*time.Millisecond))
	var g kmsg.ConsumerGroupDescribeResponseGroup
	pollUntil(t, cl, func() bool {
		g = consumerGroupDescribe(t, admin, 1, "g848")[0]
		return g.ErrorCode == 0 && g.State == "Stable" && len(g.Members) == 1 &&
			len(g.Members[0].Assignment.TopicPartitions) == 1
	})
	if g.Group != "g848" || g.Epoch < 1 || g.AssignmentEpoch != g.Epoch || g.AssignorName == "" {
		t.Fatalf("group: %+v", g)
	}
	m := g.Members[0]
	if m.MemberID == "" || m.InstanceID == nil || *m.InstanceID != "inst-1" || m.ClientID != "describer" ||
		m.ClientHost == "" || m.MemberEpoch < 1 || m.MemberType != 1 || !slices.Equal(m.SubscribedTopics, []string{"cgd"}) {
		t.Fatalf("member: %+v", m)
	}
	for name, a := range map[string]kmsg.Assignment{"assignment": m.Assignment, "target": m.TargetAssignment} {
		if len(a.TopicPartitions) != 1 {
			t.Fatalf("%s: %+v", name, a)
		}
		tp := a.TopicPartitions[0]
		if tp.TopicID != id || tp.Topic != "cgd" || !slices.Equal(tp.Partitions, []int32{0, 1, 2}) {
			t.Fatalf("%s: %+v, want topic %x partitions 0-2", name, tp, id)
		}
	}
	if v0 := consumerGroupDescribe(t, admin, 0, "g848")[0]; v0.ErrorCode != 0 || len(v0.Members) != 1 {
		t.Fatalf("v0: %+v", v0)
	}

	// Not consumer groups: unknown, classic (kgo's default), HTTP.
	classic := p.client(t, kgo.ConsumerGroup("gclassic"), kgo.ConsumeTopics("cgd"), kgo.FetchMaxWait(200*time.Millisecond))
	pollUntil(t, classic, func() bool { return describe(t, admin, "gclassic").State == "Stable" })
	if st, body := httpDo(t, p, "POST", "/groups/ghttp/join", `{"topics":["cgd"]}`); st != http.StatusOK {
		t.Fatalf("HTTP join: %d %s", st, body)
	}
	for _, g := range consumerGroupDescribe(t, admin, 1, "nope", "gclassic", "ghttp") {
		if g.ErrorCode != kerr.GroupIDNotFound.Code || g.ErrorMessage == nil || len(g.Members) != 0 {
			t.Errorf("%s: code %d message %v members %d, want GROUP_ID_NOT_FOUND", g.Group, g.ErrorCode, g.ErrorMessage, len(g.Members))
		} else {
			t.Logf("%s: %s", g.Group, *g.ErrorMessage)
		}
	}
}

// A KIP-848 group stays one while empty, across a restart. Deleted (over
// Kafka or over HTTP) and made again by an HTTP member, it is an HTTP
// group, not a consumer group.
func TestConsumerGroupDescribeAfterDelete(t *testing.T) {
	p := start(t, "--heartbeat-interval", "300ms", "--min-session-timeout", "1s")
	admin := p.client(t)
	createTopic(t, admin, "cgd2", 1)
	for _, via := range []string{"kafka", "http"} {
		group := "again-" + via
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.ConsumerGroup(group), kgo.ConsumeTopics("cgd2"),
			kgo.ServerSideBalancer(), kgo.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		pollUntil(t, cl, func() bool { return consumerGroupDescribe(t, admin, 1, group)[0].State == "Stable" })
		cl.Close() // leaves the group
		if g := consumerGroupDescribe(t, admin, 1, group)[0]; g.ErrorCode != 0 || g.State != "Empty" {
			t.Fatalf("%s after leave: code %d state %q, want an Empty group", group, g.ErrorCode, g.State)
		}
	}
	admin.Close()
	p.Restart()
	admin = p.client(t)
	for _, via := range []string{"kafka", "http"} {
		group := "again-" + via
		if g := consumerGroupDescribe(t, admin, 1, group)[0]; g.ErrorCode != 0 || g.State != "Empty" {
			t.Fatalf("%s after a restart: code %d state %q, want an Empty group", group, g.ErrorCode, g.State)
		}
		if via == "kafka" {
			del := kmsg.NewPtrDeleteGroupsRequest()
			del.Groups = []string{group}
			dr, err := del.RequestWith(ctxT(t), admin)
			if err != nil || dr.Groups[0].ErrorCode != 0 {
				t.Fatalf("delete: %v %+v", err, dr)
			}
		} else if st, body := httpDo(t, p, "DELETE", "/groups/"+group, ""); st/100 != 2 {
			t.Fatalf("HTTP delete: %d %s", st, body)
		}
		if st, body := httpDo(t, p, "POST", "/groups/"+group+"/join", `{"topics":["cgd2"]}`); st != http.StatusOK {
			t.Fatalf("HTTP join: %d %s", st, body)
		}
		if g := consumerGroupDescribe(t, admin, 1, group)[0]; g.ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("%s, an HTTP group after delete: code %d, want GROUP_ID_NOT_FOUND", group, g.ErrorCode)
		}
	}
}
