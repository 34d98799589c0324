package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// groupOn is a group ID with prefix whose shard's preferred replica, its
// coordinator while every node is up, is node in a cluster of nodes 1, 2
// and 3 (preferredCoordinator); awaitCoordinator waits until it is.
func groupOn(prefix string, node uint64) string {
	for i := 0; ; i++ {
		if g := fmt.Sprintf("%s-%d", prefix, i); preferredCoordinator(g) == node {
			return g
		}
	}
}

// coordTopics starts three nodes and creates six one-partition topics
// (spread over the nodes, two each); it returns the cluster and the two
// topics node 2 leads, which groups coordinated by node 2 read.
//
// A coordinator serves polls, and checks committed offsets, against its
// own copy of each partition, which holds the messages only for
// partitions it leads until partitions are replicated (one replica each
// today). So the groups of these tests read topics their coordinator
// leads.
func coordTopics(t *testing.T, prefix string) (*clusterProcs, []string) {
	t.Helper()
	c := startClusterProcs(t, 3)
	c.agree([]uint64{1, 2, 3}, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	led := map[uint64][]string{}
	for i := range 6 {
		name := fmt.Sprintf("%s%d", prefix, i)
		var tp api.Topic
		if st := c.do(1, "POST", "/topics", fmt.Sprintf(`{"name":%q,"partitions":1}`, name), &tp); st != http.StatusCreated {
			t.Fatalf("create %s: %d", name, st)
		}
		led[tp.PartitionInfo[0].Leader] = append(led[tp.PartitionInfo[0].Leader], name)
	}
	if len(led[2]) != 2 {
		t.Fatalf("node 2 leads %v, want two of the six topics: %v", led[2], led)
	}
	for _, name := range led[2] {
		for id := range c.procs {
			c.topic(id, name)
		}
	}
	return c, led[2]
}

// Two Go consumers given two different nodes, neither of them the group's
// coordinator, join one group there: they split its partitions, consume
// and acknowledge every message, and GET /groups/{id} on the coordinator
// shows both with disjoint shares and no lag; the CLI given another node
// lists and describes the group, and that node's answers to the group's
// requests are the coordinator's.
func TestBinaryClusterGroupMembersMeet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const coord = 2
	c, topics := coordTopics(t, "meet")
	const n = 400
	for i, name := range topics {
		var b strings.Builder
		b.WriteString(`{"messages":[`)
		for j := range n / 2 {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"value":"%d"}`, i*n/2+j)
		}
		b.WriteString("]}")
		if st := c.do(coord, "POST", "/topics/"+name+"/messages", b.String(), nil); st != http.StatusOK && st != http.StatusCreated {
			t.Fatalf("publish to %s: %d", name, st)
		}
	}

	group := groupOn("meet", coord)
	c.awaitCoordinator(coord, group, 1, 2, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
		wg   sync.WaitGroup
	)
	var members []*client.Consumer
	for _, id := range []uint64{1, 3} {
		cons, err := client.NewConsumer(&client.ConsumerConfig{Brokers: []string{c.procs[id].URL}, GroupID: group,
			Topics: topics, PollWait: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, cons)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				msgs, err := cons.Poll(ctx, 50)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("member via node %d: poll: %v", id, err)
					}
					return
				}
				for _, m := range msgs {
					if err := cons.Ack(m); err != nil {
						t.Errorf("member via node %d: ack: %v", id, err)
					}
				}
				mu.Lock()
				for _, m := range msgs {
					seen[m.Topic+"/"+string(m.Value)] = true
				}
				mu.Unlock()
			}
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
		for _, m := range members {
			m.Close()
		}
	}()

	var desc api.GroupDescription
	c.eventually(20*time.Second, "both members own one partition each and the group has no lag", func() bool {
		mu.Lock()
		all := len(seen) == n
		mu.Unlock()
		if !all || c.do(coord, "GET", "/groups/"+group, "", &desc) != http.StatusOK || len(desc.Members) != 2 || desc.Lag != 0 {
			return false
		}
		owned := map[string]bool{}
		for _, m := range desc.Members {
			if len(m.AssignedPartitions) != 1 {
				return false
			}
			for topic := range m.AssignedPartitions {
				owned[topic] = true
			}
		}
		return len(owned) == 2
	})

	// The CLI, given node 1, lists and describes the group from node 2.
	bin := goqueueBin.Path(t)
	for _, args := range [][]string{{"group", "list"}, {"group", "describe", group}} {
		code, out, errs := cliRun(t, bin, c.procs[1].URL, "", args...)
		if code != 0 || !strings.Contains(out, group) {
			t.Fatalf("goqueue %v through node 1: exit %d\n%s%s", args, code, out, errs)
		}
	}

	// Node 1 reads the group from its coordinator (its answer says it was
	// node 2's), and has it serve the group's writes.
	resp, err := c.httpClient().Get(c.procs[1].URL + "/groups/" + group)
	if err != nil {
		t.Fatal(err)
	}
	var d api.GroupDescription
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || d.GroupID != group || len(d.Members) != 2 || resp.Header.Get(httpapi.ServedByHeader) != strconv.Itoa(coord) {
		t.Fatalf("GET /groups/%s on node 1: %d, served by %q: %+v", group, resp.StatusCode, resp.Header.Get(httpapi.ServedByHeader), d)
	}
	var e api.ErrorBody
	if st := c.do(1, "POST", "/groups/"+group+"/poll", `{"member_id":"m","generation":1}`, &e); st != http.StatusNotFound || e.Error == nil ||
		e.Error.Code != api.ErrUnknownMember.Code {
		t.Fatalf("POST /groups/%s/poll of no member on node 1: %d %+v, want the coordinator's UNKNOWN_MEMBER_ID", group, st, e.Error)
	}
}

// Kafka consumers given a node that does not coordinate their group find
// the coordinator and consume its topics as one group (see coordTopics):
// classic members with the cooperative-sticky
// balancer, and KIP-848 members with server-side assignment (whose
// assignments name topics by the metadata's IDs). Their committed offsets
// are fetched back through the coordinator; node 1 refuses the group with
// NOT_COORDINATOR.
func TestBinaryClusterKafkaGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const n = 600
	k := startKafkaCluster(t, "kgroups", 40*time.Second)
	c, topics, ctx, seed, prod := k.c, k.topics, k.ctx, k.seed, k.prod
	k.produce(0, n)
	for _, mode := range kafkaGroupModes {
		group := groupOn(mode.name, 2)
		c.awaitCoordinator(2, group, 1, 2, 3)
		g := startKafkaGroup(t, ctx, seed, group, topics, t.Errorf, mode.opt)
		c.eventually(30*time.Second, mode.name+": every record consumed and committed", func() bool {
			return g.seen() == n && committedSum(ctx, prod, group) == n
		})
		g.stop()

		direct := kmsg.NewPtrOffsetFetchRequest()
		direct.Group = group
		r, err := prod.Broker(1).Request(ctx, direct)
		if err != nil {
			t.Fatal(err)
		}
		if code := r.(*kmsg.OffsetFetchResponse).ErrorCode; code != kerr.NotCoordinator.Code {
			t.Fatalf("%s: OffsetFetch of %s on node 1: error %d, want NOT_COORDINATOR", mode.name, group, code)
		}
	}
}

// kafkaGroupModes are the two protocols of Kafka groups: classic (the
// client assigns, cooperative-sticky) and KIP-848 (the broker assigns).
var kafkaGroupModes = []struct {
	name string
	opt  kgo.Opt
}{
	{"classic", kgo.Balancers(kgo.CooperativeStickyBalancer())},
	{"kip848", kgo.ServerSideBalancer()},
}

// kafkaCluster is coordTopics' cluster with a franz-go producer seeded at
// node 1 and a context bounding the test.
type kafkaCluster struct {
	t      *testing.T
	c      *clusterProcs
	topics []string
	ctx    context.Context
	seed   kgo.Opt
	prod   *kgo.Client
}

func startKafkaCluster(t *testing.T, prefix string, within time.Duration) *kafkaCluster {
	t.Helper()
	c, topics := coordTopics(t, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	t.Cleanup(cancel)
	seed := kgo.SeedBrokers(c.procs[1].Kafka)
	prod, err := kgo.NewClient(seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	return &kafkaCluster{t: t, c: c, topics: topics, ctx: ctx, seed: seed, prod: prod}
}

// produce produces the values from to from+n-1, alternately to the two
// topics.
func (k *kafkaCluster) produce(from, n int) {
	k.t.Helper()
	for i := from; i < from+n; i++ {
		if err := k.prod.ProduceSync(k.ctx, &kgo.Record{Topic: k.topics[i%2], Value: fmt.Append(nil, i)}).FirstErr(); err != nil {
			k.t.Fatalf("produce %d: %v", i, err)
		}
	}
}

// kafkaGroup is two franz-go consumers of one group, each committing what
// it polled after every poll.
type kafkaGroup struct {
	mu      sync.Mutex
	records map[string]bool // values seen
	again   int             // records polled again, their value seen before
	done    context.CancelFunc
	wg      sync.WaitGroup
	members []*kgo.Client
}

// startKafkaGroup starts kafkaGroup's two members of group on topics
// (opts: the balancer option, classic or KIP-848, and any other), until
// ctx ends or stop; a fetch error goes to fetchErr (t.Errorf where there
// must be none).
func startKafkaGroup(t *testing.T, ctx context.Context, seed kgo.Opt, group string, topics []string, fetchErr func(string, ...any), opts ...kgo.Opt) *kafkaGroup {
	t.Helper()
	g := &kafkaGroup{records: map[string]bool{}}
	gctx, done := context.WithCancel(ctx)
	g.done = done
	for range 2 {
		cl, err := kgo.NewClient(append([]kgo.Opt{seed, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topics...),
			kgo.FetchMaxWait(300 * time.Millisecond), kgo.DisableAutoCommit()}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		g.members = append(g.members, cl)
		g.wg.Go(func() {
			for gctx.Err() == nil {
				fs := cl.PollFetches(gctx)
				fs.EachError(func(tp string, p int32, err error) {
					if gctx.Err() == nil {
						fetchErr("%s: fetch %s/%d: %v", group, tp, p, err)
					}
				})
				if err := cl.CommitUncommittedOffsets(gctx); err != nil && gctx.Err() == nil {
					t.Logf("%s: commit: %v (retried on the next poll)", group, err)
				}
				g.mu.Lock()
				for _, r := range fs.Records() {
					if g.records[string(r.Value)] {
						g.again++
					}
					g.records[string(r.Value)] = true
				}
				g.mu.Unlock()
			}
		})
	}
	t.Cleanup(g.stop)
	return g
}

// seen is how many distinct values the members polled.
func (g *kafkaGroup) seen() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.records)
}

// stop ends the members (again: nothing).
func (g *kafkaGroup) stop() {
	g.done()
	g.wg.Wait()
	for _, cl := range g.members {
		cl.Close()
	}
	g.members = nil
}

// committedSum is the sum of group's committed offsets (-1 if its
// coordinator does not answer), asked through cl.
func committedSum(ctx context.Context, cl *kgo.Client, group string) int64 {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	resp, err := req.RequestWith(ctx, cl) // routed to the coordinator
	if err != nil || resp.ErrorCode != 0 {
		return -1
	}
	var sum int64
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			sum += max(rp.Offset, 0)
		}
	}
	return sum
}

// A Kafka group whose coordinator is paused long enough for another node
// to take the group, and then takes it back, goes on consuming and
// committing with the same consumers, classic and KIP-848. The listener's
// classic group outlived the move: its members' commits were refused
// UNKNOWN_MEMBER_ID for good, the consumers rejoining and reading
// everything again every few seconds (found by a helper pausing a 3-node
// cluster's coordinator under confluent-kafka consumers).
func TestBinaryClusterKafkaGroupAfterCoordinatorPause(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const n = 200
	k := startKafkaCluster(t, "kpause", 3*time.Minute)
	c, topics, ctx, seed, prod := k.c, k.topics, k.ctx, k.seed, k.prod
	total := 0 // records produced: each mode's group reads them all
	for _, mode := range kafkaGroupModes {
		group := groupOn(mode.name+"-pause", 2)
		c.awaitCoordinator(2, group, 1, 2, 3)
		k.produce(total, n)
		total += n
		g := startKafkaGroup(t, ctx, seed, group, topics, t.Logf, mode.opt) // the pause fails fetches
		c.eventually(30*time.Second, mode.name+": the first records consumed and committed", func() bool {
			return g.seen() == total && committedSum(ctx, prod, group) == int64(total)
		})
		c.procs[2].Signal(syscall.SIGSTOP)
		c.eventually(30*time.Second, mode.name+": another node coordinates the group", func() bool {
			id := c.coordinatorOf(1, group)
			return id != 0 && id != 2
		})
		c.procs[2].Signal(syscall.SIGCONT)
		c.awaitCoordinator(2, group, 1, 2, 3) // its preferred node takes it back
		k.produce(total, n)
		total += n
		c.eventually(45*time.Second, mode.name+": the records after the pause consumed and committed", func() bool {
			return g.seen() == total && committedSum(ctx, prod, group) == int64(total)
		})
		g.stop()
	}
}

// A consumer commits what it has just read from a partition's leader; the
// group's coordinator, another node, holds a copy of the partition that
// receives those records a moment later. The commit waits for the copy
// (up to two seconds) instead of refusing the offset as past the high
// watermark: 32 and 66 of 200 such commits were refused
// OFFSET_OUT_OF_RANGE (found by a helper with confluent-kafka).
func TestBinaryClusterCommitJustRead(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := startClusterProcs(t, 3)
	c.agree([]uint64{1, 2, 3}, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	var tp api.Topic
	if st := c.do(1, "POST", "/topics", `{"name":"justread","partitions":1}`, &tp); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	leader := tp.PartitionInfo[0].Leader
	group := groupOn("justread", leader%3+1) // coordinated by a follower of the partition
	c.awaitCoordinator(leader%3+1, group, 1, 2, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.procs[1].Kafka), kgo.DefaultProduceTopic("justread"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// commitAt commits offset of topic's partition 0 for group, without
	// member, and answers the partition's code.
	commitAt := func(group, topic string, offset int64) int16 {
		t.Helper()
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = group, -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	refused := 0
	for i := range 100 {
		r, err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Append(nil, i)}).First()
		if err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		if code := commitAt(group, "justread", r.Offset+1); code != 0 {
			refused++
			t.Logf("commit of %d: code %d", r.Offset+1, code)
		}
	}
	if refused > 0 {
		t.Fatalf("%d of 100 commits of what was just produced refused", refused)
	}

	// A partition the coordinator holds no copy of (replication factor
	// 1 elsewhere): its empty log in its place bounds nothing, and the
	// commit is taken at once (it waited 2 s, then was refused).
	var single api.Topic
	if st := c.do(1, "POST", "/topics", `{"name":"elsewhere","partitions":1,"replication_factor":1}`, &single); st != http.StatusCreated {
		t.Fatalf("create elsewhere: %d", st)
	}
	owner := single.PartitionInfo[0].Leader
	other := groupOn("elsewhere", owner%3+1)
	c.awaitCoordinator(owner%3+1, other, 1, 2, 3)
	for i := range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "elsewhere", Value: fmt.Append(nil, i)}).FirstErr(); err != nil {
			t.Fatalf("produce to elsewhere: %v", err)
		}
	}
	if code := commitAt(other, "elsewhere", 3); code != 0 {
		t.Fatalf("commit of a partition the coordinator holds no copy of: code %d", code)
	}
}

// A classic Kafka group's members outlive moves of its coordinator: the
// node coordinating it is paused until another takes the group, and takes
// it back once resumed; each time the next coordinator restores the
// members and generation replicated with the group, so the consumers keep
// their member IDs, generation and partitions, and read nothing twice.
// Before, each move told them UNKNOWN_MEMBER_ID: they lost their
// partitions and rewound to their last commit (a helper counted 1,202 of
// 5,000 messages read twice by kcat after one node restart).
func TestBinaryClusterKafkaMembersOutliveCoordinatorMoves(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const n = 200
	k := startKafkaCluster(t, "kmoves", 3*time.Minute)
	c, topics, ctx, seed, prod := k.c, k.topics, k.ctx, k.seed, k.prod
	group := groupOn("kmoves", 2)
	c.awaitCoordinator(2, group, 1, 2, 3)
	k.produce(0, n)
	var lost atomic.Int32
	onLost := kgo.OnPartitionsLost(func(context.Context, *kgo.Client, map[string][]int32) { lost.Add(1) })
	g := startKafkaGroup(t, ctx, seed, group, topics, t.Logf, kafkaGroupModes[0].opt, onLost) // the pause fails fetches
	c.eventually(30*time.Second, "the first records consumed and committed", func() bool {
		return g.seen() == n && committedSum(ctx, prod, group) == n
	})
	// membership is each member's ID and generation, "" while they are
	// not all of one generation (a rebalance in progress).
	membership := func() []string {
		var out []string
		for _, cl := range g.members {
			id, gen := cl.GroupMetadata()
			if _, first := g.members[0].GroupMetadata(); gen != first || gen < 1 {
				return nil
			}
			out = append(out, fmt.Sprintf("%s@%d", id, gen))
		}
		return out
	}
	var before []string
	c.eventually(30*time.Second, "the group settled", func() bool {
		m := membership()
		settled := m != nil && slices.Equal(m, before)
		before = m
		time.Sleep(500 * time.Millisecond) // settled: the same twice, half a second apart
		return settled
	})

	c.procs[2].Signal(syscall.SIGSTOP)
	c.eventually(30*time.Second, "another node coordinates the group", func() bool {
		id := c.coordinatorOf(1, group)
		return id != 0 && id != 2
	})
	k.produce(n, n)
	c.procs[2].Signal(syscall.SIGCONT)
	c.awaitCoordinator(2, group, 1, 2, 3) // its preferred node takes it back
	k.produce(2*n, n)
	c.eventually(45*time.Second, "every record consumed and committed", func() bool {
		return g.seen() == 3*n && committedSum(ctx, prod, group) == 3*n
	})
	after := membership()
	g.stop()
	if !slices.Equal(before, after) || lost.Load() != 0 || g.again != 0 {
		t.Fatalf("members %v before the moves, %v after; partitions lost %d times; %d records read again; want the same members, none lost, none again",
			before, after, lost.Load(), g.again)
	}
}

// An offsets copy (`group reset-offsets DST --from-group SRC`) between two
// groups of different coordinators works from any node: it answered
// NOT_COORDINATOR about SRC, naming no node, for good.
func TestBinaryClusterResetCopiesAcrossCoordinators(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	c := startClusterProcs(t, 3)
	c.agree([]uint64{1, 2, 3}, 0, map[uint64]uint64{1: 1, 2: 1, 3: 1}, 30*time.Second)
	if st := c.do(1, "POST", "/topics", `{"name":"copied","partitions":1}`, nil); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	src, dst := groupOn("src", 1), groupOn("dst", 2)
	c.awaitCoordinator(1, src, 1, 2, 3)
	c.awaitCoordinator(2, dst, 1, 2, 3)
	if st := c.do(1, "POST", "/groups/"+src+"/offsets/reset", `{"to":"offsets","offsets":{"copied":{"0":0}}}`, nil); st != http.StatusOK {
		t.Fatalf("set %s's offsets: %d", src, st)
	}
	bin := goqueueBin.Path(t)
	for _, via := range []uint64{1, 2, 3} {
		if code, out, errs := cliRun(t, bin, c.procs[via].URL, "", "group", "reset-offsets", dst, "--from-group", src, "--execute"); code != 0 {
			t.Fatalf("copy via node %d: exit %d\n%s%s", via, code, out, errs)
		}
	}
	var got api.OffsetsResponse
	if st := c.do(3, "GET", "/groups/"+dst+"/offsets", "", &got); st != http.StatusOK || len(got.Offsets["copied"]) != 1 {
		t.Fatalf("%s's offsets after the copy: %d %v", dst, st, got.Offsets)
	}
}
