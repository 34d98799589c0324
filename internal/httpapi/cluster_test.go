package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/internal/metrics"
)

// fakeCluster is node self of a cluster whose metadata, as this node
// applied it, holds topics; current, if set, holds the partition counts of
// the metadata's leader where this node is behind.
type fakeCluster struct {
	st      api.ClusterStatus
	err     error
	self    uint64
	topics  map[string][]api.ClusterPartition
	current map[string]int
	// changes, if set, collects the deletions and alterations asked for.
	changes *[]string
	// reads, if set, collects the read points asked for; unconfirmed
	// fails them as a deposed leader's would be.
	reads       *[]string
	unconfirmed bool
	down        map[uint64]bool // nodes this one counts dead
	notReady    error           // Ready's answer
}

func (f fakeCluster) Status(context.Context) (api.ClusterStatus, error) { return f.st, f.err }
func (f fakeCluster) CreateTopic(context.Context, api.CreateTopicRequest) error {
	return api.ErrUnavailable.Withf("not in this fake")
}
func (f fakeCluster) DeleteTopic(_ context.Context, name string) error {
	return f.change("delete " + name)
}
func (f fakeCluster) AlterTopic(_ context.Context, name string, req api.AlterTopicRequest) error {
	return f.change(fmt.Sprintf("alter %s %+v", name, req))
}
func (f fakeCluster) change(what string) error {
	if f.changes == nil {
		return api.ErrUnavailable.Withf("not in this fake")
	}
	*f.changes = append(*f.changes, what)
	return nil
}
func (f fakeCluster) Placement(topic string) ([]api.ClusterPartition, bool) {
	p, ok := f.topics[topic]
	return p, ok
}

// ReadPartition checks the applied metadata first, as node.Node's does.
func (f fakeCluster) ReadPartition(_ context.Context, topic string, partition int32) error {
	if f.reads != nil {
		*f.reads = append(*f.reads, fmt.Sprintf("%s/%d", topic, partition))
	}
	if parts, ok := f.topics[topic]; !ok || int(partition) >= len(parts) {
		return api.ErrPartitionNotFound.Withf("fake: not in the applied metadata").WithDetail("topic", topic).WithDetail("partition", partition)
	}
	if f.unconfirmed {
		return api.ErrUnavailable.Withf("no leader confirmed the read")
	}
	return nil
}
func (f fakeCluster) ConfirmAbsent(_ context.Context, topic string, partition int32) error {
	parts, ok := f.topics[topic]
	n, ahead := f.current[topic]
	if !ahead {
		n = len(parts)
	}
	if (ok || ahead) && int(partition) < n {
		return api.ErrUnavailable.Withf("topic %s partition %d exists, not created here yet", topic, partition)
	}
	if f.unconfirmed {
		return api.ErrUnavailable.Withf("no leader confirmed the read")
	}
	return nil
}

// TopicsCurrent: with unconfirmed, this node cannot say it holds every
// topic of the cluster.
func (f fakeCluster) TopicsCurrent(context.Context) error {
	if f.unconfirmed {
		return api.ErrUnavailable.Withf("fake: not caught up")
	}
	return nil
}
func (f fakeCluster) ClusterStats(context.Context) (metrics.ClusterStats, error) {
	return metrics.ClusterStats{PeersUp: map[uint64]bool{f.self + 1: true}, Hosted: 1 + len(f.topics), Led: len(f.topics)}, nil
}
func (f fakeCluster) Ready(context.Context) error { return f.notReady }
func (f fakeCluster) ID() uint64                  { return f.self }
func (f fakeCluster) HTTPAddr(id uint64) string   { return fmt.Sprintf("127.0.0.1:%d", 8000+id) }
func (f fakeCluster) Listed(id uint64) bool       { return !f.down[id] }

// Offline: the fake's down replicas, whether or not a majority is left.
func (f fakeCluster) Offline(replicas []uint64) []uint64 {
	var out []uint64
	for _, id := range replicas {
		if f.down[id] {
			out = append(out, id)
		}
	}
	return out
}

// A cluster node is ready only while its cluster member says so: a node
// cut off from its metadata leader answers /readyz 503 with the member's
// coded reason (a load balancer then sends clients elsewhere) while
// /livez stays 200; one that serves answers 200.
func TestReadyzAsksTheCluster(t *testing.T) {
	for _, tc := range []struct {
		name     string
		notReady error
		want     int
	}{
		{"serving", nil, http.StatusOK},
		{"no metadata leader", api.ErrUnavailable.Withf("node 1 has no metadata leader: it reaches no majority").WithDetail("unreachable", []uint64{2, 3}), http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
				o.Cluster = fakeCluster{self: 1, notReady: tc.notReady}
			}))
			st, raw := s.Do("GET", "/readyz", nil)
			if tc.want == http.StatusOK {
				if st != http.StatusOK {
					t.Fatalf("/readyz: %d %s", st, raw)
				}
			} else if e := wantError(t, st, raw, api.ErrUnavailable); !strings.Contains(e.Message, "no metadata leader") || e.Details["unreachable"] == nil {
				t.Fatalf("/readyz: %s, want the cluster's reason", raw)
			}
			if st, raw := s.Do("GET", "/livez", nil); st != http.StatusOK {
				t.Fatalf("/livez: %d %s", st, raw)
			}
		})
	}
}

// GET /cluster answers NOT_CLUSTERED on a single broker, the node's view in
// a cluster (topics filtered by the key's scope), and the node's coded
// error when no read point can be had.
func TestClusterRoute(t *testing.T) {
	single := brokertest.Start(t)
	st, raw := single.Do("GET", "/cluster", nil)
	wantError(t, st, raw, api.ErrNotClustered)

	view := api.ClusterStatus{NodeID: 2, MetaLeader: 1, Nodes: []api.ClusterNode{{ID: 1, Alive: true}, {ID: 2, Alive: true}},
		Topics: []api.ClusterTopic{{Name: "orders"}, {Name: "secret"}}}
	keys := []string{"root", "scoped:consume=orders"}
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster, o.APIKeys = fakeCluster{st: view}, keys
	}))
	for key, want := range map[string]int{keys[0]: 2, keys[1]: 1} {
		st, raw := sendWithKey(t, s, key, "GET", "/cluster", "")
		var got api.ClusterStatus
		mustUnmarshal(t, raw, &got)
		if st != http.StatusOK || got.MetaLeader != 1 || len(got.Nodes) != 2 || len(got.Topics) != want {
			t.Fatalf("key %s: %d %s", key, st, raw)
		}
	}

	down := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = fakeCluster{err: api.ErrUnavailable.Withf("no leader")}
	}))
	st, raw = down.Do("GET", "/cluster", nil)
	wantError(t, st, raw, api.ErrUnavailable)
}

// On node 2 of a cluster whose topic "orders" has partitions led by nodes
// 1, 2 and 3: keyless messages go to partition 1 (node 2's), a message for
// another node's partition (explicit or by key) and a fetch of it answer
// 421 NOT_LEADER naming the leader and its address; partition info shows
// leaders (and their addresses), replicas and ISR; deleting, growing and altering the topic go
// to the cluster (a count that does not grow is refused here). A topic
// outside the metadata (local) is untouched and changes locally.
func TestClusterPartitionRouting(t *testing.T) {
	parts := []api.ClusterPartition{{Partition: 0, Leader: 1, Replicas: []uint64{1}, ISR: []uint64{1}},
		{Partition: 1, Leader: 2, Replicas: []uint64{2}, ISR: []uint64{2}}, {Partition: 2, Leader: 3, Replicas: []uint64{3}, ISR: []uint64{3}}}
	var changes, reads []string
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = fakeCluster{self: 2, topics: map[string][]api.ClusterPartition{"orders": parts}, changes: &changes, reads: &reads}
	}))
	for _, name := range []string{"orders", "local"} {
		if _, err := s.Broker().CreateTopic(broker.TopicSpec{Name: name, Partitions: 3}); err != nil {
			t.Fatal(err)
		}
	}
	resp := publish(t, s, "orders", `{"messages":[{"value":"a"},{"value":"b"},{"value":"c"}]}`)
	for _, o := range resp.Offsets {
		if o.Partition != 1 {
			t.Fatalf("keyless message sent to partition %d, not node 2's partition 1: %+v", o.Partition, resp)
		}
	}
	var keyOnOther string // a key whose partition node 2 does not lead
	for i := 0; keyOnOther == ""; i++ {
		if k := fmt.Sprint("k", i); api.KeyPartition([]byte(k), 3) != 1 {
			keyOnOther = k
		}
	}
	for _, body := range []string{`{"partition":0,"value":"x"}`, `{"messages":[{"value":"ok"},{"key":"` + keyOnOther + `","value":"x"}]}`} {
		st, raw := s.Do("POST", "/topics/orders/messages", body)
		e := wantError(t, st, raw, api.ErrNotLeader)
		if l, _ := e.Details["leader"].(float64); l != 1 && l != 3 || !strings.HasPrefix(fmt.Sprint(e.Details["leader_addr"]), "127.0.0.1:800") {
			t.Fatalf("%s: details %v", body, e.Details)
		}
	}
	if n := totalMessages(t, s, "orders"); n != 3 {
		t.Fatalf("refused publishes wrote: %d messages", n)
	}
	st, raw := s.Do("GET", "/topics/orders/partitions/0/messages", nil)
	wantError(t, st, raw, api.ErrNotLeader)
	if got := fetch(t, s, "orders", 1, "offset=0"); len(got.Messages) != 3 {
		t.Fatalf("fetch of node 2's partition: %d messages", len(got.Messages))
	}
	fetch(t, s, "local", 0, "offset=0")
	if !slices.Equal(reads, []string{"orders/1"}) {
		t.Fatalf("read points %v, want one for the cluster topic's fetch only", reads)
	}
	for _, p := range describe(t, s, "orders").PartitionInfo {
		if p.Leader != uint64(p.Partition)+1 || len(p.Replicas) != 1 || p.Replicas[0] != p.Leader || len(p.ISR) != 1 || p.ISR[0] != p.Leader ||
			p.LeaderAddr != fmt.Sprintf("127.0.0.1:%d", 8000+p.Leader) {
			t.Fatalf("partition info %+v", p)
		}
	}
	st, raw = s.Do("POST", "/topics/orders/partitions", `{"count":3}`)
	wantError(t, st, raw, api.ErrInvalidPartitions)
	for _, c := range []struct{ method, path, body string }{
		{"PATCH", "/topics/orders", `{"partitions":4,"retention_hours":2}`},
		{"PATCH", "/topics/orders", `{"retention_hours":null,"max_message_bytes":null}`}, // the broker's defaults, as values
		{"POST", "/topics/orders/partitions", `{"count":5}`},
		{"DELETE", "/topics/orders", ""},
	} {
		if st, raw := s.Do(c.method, c.path, c.body); st/100 != 2 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, st, raw)
		}
	}
	const none = "Default:{RetentionHours:false RetentionBytes:false MaxMessageBytes:false}"
	want := []string{"alter orders {Partitions:4 RetentionHours:2 RetentionBytes:0 MaxMessageBytes:0 " + none + "}",
		"alter orders {Partitions:0 RetentionHours:168 RetentionBytes:0 MaxMessageBytes:1048576 " + none + "}",
		"alter orders {Partitions:5 RetentionHours:0 RetentionBytes:0 MaxMessageBytes:0 " + none + "}", "delete orders"}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Fatalf("cluster changes %q, want %q", changes, want)
	}

	resp = publish(t, s, "local", `{"partition":0,"value":"x"}`)
	if resp.Offsets[0].Partition != 0 || describe(t, s, "local").PartitionInfo[0].Leader != 0 {
		t.Fatalf("local topic: %+v", resp)
	}
	if st, raw := s.Do("DELETE", "/topics/local", nil); st != http.StatusNoContent || len(changes) != 4 {
		t.Fatalf("local delete: %d %s, changes %q", st, raw, changes)
	}
}

// A fetch of a cluster topic is served only after a read point: a leader
// that cannot confirm it still leads (paused, cut off, just elected and
// behind) answers UNAVAILABLE rather than a watermark that may miss
// acknowledged writes.
func TestClusterFetchNeedsAReadPoint(t *testing.T) {
	parts := []api.ClusterPartition{{Partition: 0, Leader: 1, Replicas: []uint64{1}, ISR: []uint64{1}}}
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = fakeCluster{self: 1, topics: map[string][]api.ClusterPartition{"orders": parts}, unconfirmed: true}
	}))
	if _, err := s.Broker().CreateTopic(broker.TopicSpec{Name: "orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	st, raw := s.Do("GET", "/topics/orders/partitions/0/messages", nil)
	wantError(t, st, raw, api.ErrUnavailable)
}

// A cluster node lists its topics only once it holds every topic of the
// cluster: one just started on an empty disk listed none.
func TestClusterListsTopicsOnceCaughtUp(t *testing.T) {
	for _, caughtUp := range []bool{true, false} {
		s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.Cluster = fakeCluster{self: 1, unconfirmed: !caughtUp} }))
		if _, err := s.Broker().CreateTopic(broker.TopicSpec{Name: "orders", Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		st, raw := s.Do("GET", "/topics", nil)
		if !caughtUp {
			wantError(t, st, raw, api.ErrUnavailable)
			continue
		}
		if st != http.StatusOK || !strings.Contains(string(raw), `"orders"`) {
			t.Fatalf("GET /topics caught up: %d %s", st, raw)
		}
	}
}

// On a cluster node, "topic not found" or "partition not found" from the
// broker says only that this node does not hold the topic or partition; it
// stands once the metadata confirms it, and is UNAVAILABLE (retry) while
// it cannot — a node just restarted on an empty disk, or one that has not
// yet created a new topic or the partitions just added. A client sent
// there by a redirect gave up on its topic before. Publishes over HTTP and
// on the stream, and fetches, alike.
func TestClusterNotFoundIsConfirmed(t *testing.T) {
	parts := func(n int) []api.ClusterPartition {
		var out []api.ClusterPartition
		for i := range n {
			out = append(out, api.ClusterPartition{Partition: int32(i), Leader: 1, Replicas: []uint64{1}, ISR: []uint64{1}})
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		cluster   fakeCluster
		topic     string
		partition int32
		want      *api.Error
	}{
		{"confirmed absent", fakeCluster{self: 1}, "ghost", 0, api.ErrTopicNotFound},
		{"no metadata leader to confirm", fakeCluster{self: 1, unconfirmed: true}, "ghost", 0, api.ErrUnavailable},
		{"in the metadata, not yet here", fakeCluster{self: 1, topics: map[string][]api.ClusterPartition{"ghost": parts(1)}}, "ghost", 0, api.ErrUnavailable},
		{"partition confirmed absent", fakeCluster{self: 1, topics: map[string][]api.ClusterPartition{"orders": parts(1)}}, "orders", 1, api.ErrPartitionNotFound},
		{"partition unconfirmed", fakeCluster{self: 1, unconfirmed: true}, "orders", 1, api.ErrUnavailable},
		{"partition in the metadata, not yet here", fakeCluster{self: 1, topics: map[string][]api.ClusterPartition{"orders": parts(3)}}, "orders", 2, api.ErrUnavailable},
		{"partition in the metadata, not yet applied here", fakeCluster{self: 1, topics: map[string][]api.ClusterPartition{"orders": parts(1)}, current: map[string]int{"orders": 3}}, "orders", 2, api.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) { o.Cluster = tc.cluster }))
			// orders is here with one partition; ghost is not.
			if _, err := s.Broker().CreateTopic(broker.TopicSpec{Name: "orders", Partitions: 1}); err != nil {
				t.Fatal(err)
			}
			st, raw := s.Do("POST", "/topics/"+tc.topic+"/messages", fmt.Sprintf(`{"partition":%d,"value":"v"}`, tc.partition))
			wantError(t, st, raw, tc.want)
			// The stream the Go client produces on says it alike.
			_, sc := dialStream(t, s, "")
			sc.produceTo(1, tc.topic, tc.partition, encodeBatch(0, []testRecord{{value: []byte("v"), ts: 1}}))
			wantStreamError(t, sc.next(), api.StreamError, tc.want)
			// And a fetch.
			st, raw = s.Do("GET", fmt.Sprintf("/topics/%s/partitions/%d/messages", tc.topic, tc.partition), nil)
			wantError(t, st, raw, tc.want)
		})
	}
}

// A partition whose leader this node counts dead is UNAVAILABLE (retry),
// not NOT_LEADER naming the dead node: a client sent there met a refused
// connection, and Kafka's Metadata already said LEADER_NOT_AVAILABLE (a
// user test of a replication-factor-1 topic whose node was killed).
func TestClusterDeadLeaderIsUnavailable(t *testing.T) {
	parts := []api.ClusterPartition{{Partition: 0, Leader: 1, Replicas: []uint64{1}, ISR: []uint64{1}},
		{Partition: 1, Leader: 3, Replicas: []uint64{3}, ISR: []uint64{3}}}
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = fakeCluster{self: 2, topics: map[string][]api.ClusterPartition{"orders": parts}, down: map[uint64]bool{3: true}}
	}))
	if _, err := s.Broker().CreateTopic(broker.TopicSpec{Name: "orders", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	st, raw := s.Do("POST", "/topics/orders/messages", `{"partition":1,"value":"x"}`)
	if e := wantError(t, st, raw, api.ErrUnavailable); e.Details["leader_addr"] != nil {
		t.Fatalf("sent to the dead leader: %v", e.Details)
	}
	st, raw = s.Do("GET", "/topics/orders/partitions/1/messages", nil)
	wantError(t, st, raw, api.ErrUnavailable)
	st, raw = s.Do("POST", "/topics/orders/messages", `{"partition":0,"value":"x"}`)
	wantError(t, st, raw, api.ErrNotLeader) // a live leader elsewhere: go there
}

// A partition with no leader is UNAVAILABLE (retriable) either way, but
// the answer says why: its replicas are down (which nodes: a factor-1
// partition whose node was killed waits for that node, not for an
// election), or, with them alive, an election under way.
func TestClusterLeaderlessSaysWhy(t *testing.T) {
	parts := []api.ClusterPartition{{Partition: 0, Replicas: []uint64{1}},
		{Partition: 1, Replicas: []uint64{3}}, {Partition: 2, Replicas: []uint64{3, 1}}}
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = fakeCluster{self: 2, topics: map[string][]api.ClusterPartition{"orders": parts}, down: map[uint64]bool{3: true}}
	}))
	if _, err := s.Broker().CreateTopic(broker.TopicSpec{Name: "orders", Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		partition int32
		says      string
		offline   []any
	}{
		{0, "an election is under way", nil},
		{1, "its replicas are down (node 3), and electing one needs 1 of its 1 replicas alive", []any{float64(3)}},
		{2, "its replicas are down (node 3), and electing one needs 2 of its 2 replicas alive", []any{float64(3)}},
	} {
		for _, req := range []struct{ method, path, body string }{
			{"POST", "/topics/orders/messages", fmt.Sprintf(`{"partition":%d,"value":"x"}`, tc.partition)},
			{"GET", fmt.Sprintf("/topics/orders/partitions/%d/messages", tc.partition), ""},
		} {
			st, raw := s.Do(req.method, req.path, req.body)
			e := wantError(t, st, raw, api.ErrUnavailable)
			got, _ := e.Details["offline_replicas"].([]any)
			if !strings.Contains(e.Message, tc.says) || !slices.Equal(got, tc.offline) || !e.Retriable {
				t.Errorf("%s %s, partition %d: %s, want it to say %q, offline_replicas %v", req.method, req.path, tc.partition, raw, tc.says, tc.offline)
			}
		}
	}
}

// A lost partition (its group can never elect a leader again) answers
// PARTITION_LOST, not retriable, naming the wiped replicas, to a publish
// and a fetch; partition info shows it lost. A keyless publish to a node
// that leads none of the topic's partitions is sent to a partition that
// has a leader (NOT_LEADER naming it): sent to the lost one, it failed for
// good although the others took writes.
func TestClusterLostPartition(t *testing.T) {
	parts := []api.ClusterPartition{{Partition: 0, Leader: 1, Replicas: []uint64{1}, ISR: []uint64{1}},
		{Partition: 1, Replicas: []uint64{2}, Lost: true, LostReplicas: []uint64{2}},
		{Partition: 2, Leader: 3, Replicas: []uint64{3}, ISR: []uint64{3}}}
	s := brokertest.Start(t, brokertest.WithHTTP(func(o *httpapi.Options) {
		o.Cluster = fakeCluster{self: 2, topics: map[string][]api.ClusterPartition{"orders": parts}}
	}))
	if _, err := s.Broker().CreateTopic(broker.TopicSpec{Name: "orders", Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	for _, req := range []struct{ method, path, body string }{
		{"POST", "/topics/orders/messages", `{"partition":1,"value":"x"}`},
		{"GET", "/topics/orders/partitions/1/messages", ""},
	} {
		st, raw := s.Do(req.method, req.path, req.body)
		e := wantError(t, st, raw, api.ErrPartitionLost)
		if got, _ := e.Details["lost_replicas"].([]any); e.Retriable || !slices.Equal(got, []any{float64(2)}) || !strings.Contains(e.Message, "node 2") {
			t.Errorf("%s %s: %s", req.method, req.path, raw)
		}
	}
	st, raw := s.Do("GET", "/topics/orders", nil)
	var tp api.Topic
	if err := json.Unmarshal(raw, &tp); st != http.StatusOK || err != nil || !tp.PartitionInfo[1].Lost ||
		!slices.Equal(tp.PartitionInfo[1].LostReplicas, []uint64{2}) || tp.PartitionInfo[0].Lost {
		t.Fatalf("GET /topics/orders: %d %s", st, raw)
	}
	for range 6 {
		st, raw := s.Do("POST", "/topics/orders/messages", `{"value":"x"}`)
		if e := wantError(t, st, raw, api.ErrNotLeader); e.Details["leader"] != float64(1) && e.Details["leader"] != float64(3) {
			t.Fatalf("keyless publish: %s", raw)
		}
	}
}
