package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// clusterTopic starts three nodes, creates a topic of parts partitions
// through node 1 (spread over the three nodes) and waits until every node
// has it; it returns the cluster and each partition's leader.
func clusterTopic(t *testing.T, name string, parts int32) (*clusterProcs, map[int32]uint64) {
	t.Helper()
	c := startClusterProcs(t, 3)
	c.agree([]uint64{1, 2, 3}, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	var created api.Topic
	body := fmt.Sprintf(`{"name":%q,"partitions":%d}`, name, parts)
	if st := c.do(1, "POST", "/topics", body, &created); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	leaders := map[int32]uint64{}
	led := map[uint64]int{}
	for _, p := range created.PartitionInfo {
		leaders[p.Partition] = p.Leader
		led[p.Leader]++
	}
	if len(led) != 3 || led[0] != 0 {
		t.Fatalf("partitions not spread over the nodes: %+v", created.PartitionInfo)
	}
	c.knowLeaders(name, leaders)
	return c, leaders
}

// hideCluster is a proxy to target that refuses GET /cluster and leaves
// leaders' addresses out of a topic's partition info (as a broker from
// before leader_addr), so a client behind it cannot learn leaders from the
// metadata and must follow NOT_LEADER answers instead; h counts them and
// the streams opened.
func hideCluster(t *testing.T, target string, h *hidden) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		if r.StatusCode == http.StatusMisdirectedRequest {
			h.refused.Add(1)
		}
		if r.Request.Method != http.MethodGet || r.StatusCode != http.StatusOK || strings.Count(r.Request.URL.Path, "/") != 2 ||
			!strings.HasPrefix(r.Request.URL.Path, "/topics/") {
			return nil
		}
		var tp api.Topic
		err := json.NewDecoder(r.Body).Decode(&tp)
		r.Body.Close()
		if err != nil {
			return err
		}
		for i := range tp.PartitionInfo {
			tp.PartitionInfo[i].LeaderAddr = ""
		}
		b, err := json.Marshal(tp)
		if err != nil {
			return err
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		r.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.StreamPath {
			h.streams.Add(1) // its frames pass through unseen
		}
		if r.URL.Path == "/cluster" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":{"code":"FORBIDDEN","message":"hidden by the test","retriable":false}}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// hidden counts what went through a hideCluster proxy.
type hidden struct {
	refused atomic.Int64 // NOT_LEADER answers to HTTP requests
	streams atomic.Int64 // streams opened
}

// A Producer given one node's address publishes keyed and keyless records
// to a topic whose six partitions are led by three nodes: every record
// lands on its partition's leader where its callback says, once, and each
// partition holds its records in publish order. It does so three times:
// learning leaders from the metadata (GET /cluster), and with GET /cluster
// hidden, learning them only from NOT_LEADER answers — to HTTP requests,
// and to PRODUCE frames on the stream. A Client on one node then
// reads every partition (following NOT_LEADER to the leaders) and
// describes the topic with the leaders' offsets.
func TestBinaryClusterProducerFollowsLeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const topic, parts, n, rounds = "spread", 6, 3000, 3
	c, leaders := clusterTopic(t, topic, parts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	type sent struct {
		key string
		at  client.Position
		err error
		cbs int
	}

	recs := make([]sent, rounds*n)
	produce := func(broker string, from int, noStream bool) {
		p, err := client.NewProducer(&client.ProducerConfig{Brokers: []string{broker}, NoStream: noStream})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		for i := from; i < from+n; i++ {
			rec := &client.Record{Value: []byte(strconv.Itoa(i))}
			if i%2 == 0 {
				recs[i].key = "k" + strconv.Itoa(i%37)
				rec.Key = []byte(recs[i].key)
			}
			p.PublishAsync(ctx, topic, rec, func(at client.Position, err error) {
				mu.Lock()
				defer mu.Unlock()
				recs[i].at, recs[i].err = at, err
				recs[i].cbs++
			})
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	produce(c.procs[1].URL, 0, false)
	var overHTTP, overStream hidden
	produce(hideCluster(t, c.procs[1].URL, &overHTTP), n, true)
	if overHTTP.refused.Load() == 0 {
		t.Fatal("the producer behind the proxy was never answered NOT_LEADER: the test does not test following")
	}
	t.Logf("the producer without GET /cluster followed %d NOT_LEADER answers", overHTTP.refused.Load())
	// On the stream the proxy sees no answers; the node behind it leads
	// two of the six partitions, so records that land on the others' leaders
	// followed NOT_LEADER frames.
	produce(hideCluster(t, c.procs[1].URL, &overStream), 2*n, false)
	if overStream.streams.Load() == 0 || overStream.refused.Load() != 0 {
		t.Fatalf("the producer behind the proxy opened %d streams and was refused %d HTTP requests: not on the stream",
			overStream.streams.Load(), overStream.refused.Load())
	}

	// Read each partition from its leader alone (no following needed).
	byPos := map[client.Position]int{}
	for part := int32(0); part < parts; part++ {
		leader, err := client.New(c.procs[leaders[part]].URL)
		if err != nil {
			t.Fatal(err)
		}
		last := -1
		for _, m := range readPartition(t, leader, topic, part) {
			i, err := strconv.Atoi(string(m.Value))
			if err != nil {
				t.Fatalf("partition %d offset %d: value %q", part, m.Offset, m.Value)
			}
			if i <= last {
				t.Fatalf("partition %d: record %d at offset %d after record %d: reordered or duplicated", part, i, m.Offset, last)
			}
			last = i
			byPos[client.Position{Partition: part, Offset: m.Offset}] = i
		}
	}
	perNode := map[uint64]int{}
	for i, r := range recs {
		if r.cbs != 1 || r.err != nil {
			t.Fatalf("record %d: %d callbacks, error %v", i, r.cbs, r.err)
		}
		if got, ok := byPos[r.at]; !ok || got != i {
			t.Fatalf("record %d: callback says %+v, which holds record %d (present: %v)", i, r.at, got, ok)
		}
		if r.key != "" && r.at.Partition != api.KeyPartition([]byte(r.key), parts) {
			t.Fatalf("record %d with key %s in partition %d, want %d", i, r.key, r.at.Partition, api.KeyPartition([]byte(r.key), parts))
		}
		perNode[leaders[r.at.Partition]]++
	}
	if len(byPos) != len(recs) {
		t.Fatalf("the leaders hold %d records, %d were published", len(byPos), len(recs))
	}
	t.Logf("records per leader node: %v", perNode)
	// The topic has three replicas (the default in a 3-node cluster):
	// every node's copy of each partition reaches its leader's high
	// watermark.
	for deadline := time.Now().Add(10 * time.Second); ; {
		lag := ""
		for id := range c.procs {
			for _, p := range c.topic(id, topic).PartitionInfo {
				lw := c.topic(leaders[p.Partition], topic).PartitionInfo[p.Partition].HighWatermark
				if p.HighWatermark != lw {
					lag = fmt.Sprintf("node %d's copy of partition %d has high watermark %d, its leader %d", id, p.Partition, p.HighWatermark, lw)
				}
			}
		}
		if lag == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(lag)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A Client on node 1 reads every partition, following NOT_LEADER, and
	// describes the topic with the leaders' offsets.
	one, err := client.New(hideCluster(t, c.procs[1].URL, &overHTTP))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for part := int32(0); part < parts; part++ {
		total += len(readPartition(t, one, topic, part))
	}
	if total != len(recs) {
		t.Fatalf("through node 1: %d records, want %d", total, len(recs))
	}
	viaOne, err := client.New(c.procs[1].URL)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := viaOne.Topic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var hw int64
	for _, p := range tp.PartitionInfo {
		hw += p.HighWatermark
	}
	if hw != int64(len(recs)) {
		t.Fatalf("Topic through node 1: high watermarks sum to %d, want %d: %+v", hw, len(recs), tp.PartitionInfo)
	}
	// A JSON publish to another node's partition follows NOT_LEADER.
	for part := int32(0); part < parts; part++ {
		if leaders[part] == 1 {
			continue
		}
		r, err := one.Publish(ctx, topic, api.PublishMessage{Partition: &part, Value: []byte(`"extra"`)})
		if err != nil || len(r.Offsets) != 1 || r.Offsets[0].Partition != part {
			t.Fatalf("publish to partition %d (node %d) through node 1: %+v %v", part, leaders[part], r, err)
		}
		break
	}
}

// readPartition fetches every message of one partition through cl.
func readPartition(t *testing.T, cl *client.Client, topic string, part int32) []*client.Message {
	t.Helper()
	var out []*client.Message
	for off := int64(0); ; {
		msgs, r, err := cl.Fetch(context.Background(), topic, part, client.FetchOptions{Offset: off, Max: 1000})
		if err != nil {
			t.Fatalf("fetch %s/%d at %d: %v", topic, part, off, err)
		}
		out = append(out, msgs...)
		if r.NextOffset >= r.HighWatermark {
			return out
		}
		off = r.NextOffset
	}
}

// The CLI works against any node of a cluster: a topic created on one
// node, keyed and keyless lines produced through two others, all of them
// consumed (without a group) and counted through a third, the last
// messages of a partition another node leads read from its leader, and
// describe and list showing the leaders' offsets.
func TestBinaryClusterCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := goqueueBin.Path(t)
	c := startClusterProcs(t, 3)
	c.agree([]uint64{1, 2, 3}, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	run := func(id uint64, stdin string, args ...string) string {
		t.Helper()
		code, out, errs := cliRun(t, bin, c.procs[id].URL, stdin, args...)
		if code != 0 {
			t.Fatalf("node %d: goqueue %v: exit %d: %s", id, args, code, errs)
		}
		return out
	}
	run(2, "", "topic", "create", "lines", "--partitions", "6")
	for id := range c.procs {
		c.topic(id, "lines")
	}
	const n = 300
	var keyed, keyless strings.Builder
	want := map[string]bool{}
	for i := range n {
		fmt.Fprintf(&keyed, "k%d:keyed %d\n", i%11, i)
		fmt.Fprintf(&keyless, "keyless %d\n", i)
		want[fmt.Sprintf("keyed %d", i)], want[fmt.Sprintf("keyless %d", i)] = true, true
	}
	run(3, keyed.String(), "produce", "lines", "--key-separator", ":", "--quiet")
	run(2, keyless.String(), "produce", "lines", "--quiet")

	out := run(1, "", "consume", "lines", "--from-beginning", "--idle", "2s")
	got := strings.Split(strings.TrimSpace(out), "\n")
	seen := map[string]bool{}
	for _, v := range got {
		if !want[v] || seen[v] {
			t.Fatalf("consumed %q: unknown or twice", v)
		}
		seen[v] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("consumed %d distinct messages through node 1, produced %d", len(seen), len(want))
	}

	var tp api.Topic
	if err := json.Unmarshal([]byte(run(1, "", "topic", "describe", "lines", "-o", "json")), &tp); err != nil {
		t.Fatal(err)
	}
	var total int64
	other := int32(-1)
	for _, p := range tp.PartitionInfo {
		total += p.HighWatermark
		if p.Leader != 1 && p.HighWatermark >= 3 {
			other = p.Partition
		}
	}
	if total != 2*n || other < 0 {
		t.Fatalf("describe through node 1: %d messages, want %d: %+v", total, 2*n, tp.PartitionInfo)
	}
	if table := run(1, "", "topic", "describe", "lines"); !strings.Contains(table, "LEADER") {
		t.Fatalf("describe of a cluster topic has no LEADER column:\n%s", table)
	}
	last := run(1, "", "consume", "lines", "--partition", strconv.Itoa(int(other)), "--from", "-3", "--idle", "500ms")
	if lines := strings.Split(strings.TrimSpace(last), "\n"); len(lines) != 3 {
		t.Fatalf("the last 3 of partition %d (led by node %d) through node 1: %q", other, tp.PartitionInfo[other].Leader, last)
	}
	var list api.TopicList
	if err := json.Unmarshal([]byte(run(3, "", "topic", "list", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	total = 0
	for _, p := range list.Topics[0].PartitionInfo {
		total += p.HighWatermark
	}
	if len(list.Topics) != 1 || total != 2*n {
		t.Fatalf("list through node 3: %d messages, want %d", total, 2*n)
	}
}
