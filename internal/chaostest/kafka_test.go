package chaostest

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// kgo members of a classic group (JoinGroup/SyncGroup, cooperative-sticky
// assigned by the leader client) join, leave and are killed while an
// idempotent kgo producer produces...
func TestKafkaChaosClassic(t *testing.T) { runKafkaChaos(t, protocolClassic) }

// ...and members of a KIP-848 group, assigned by the broker.
func TestKafkaChaosKIP848(t *testing.T) { runKafkaChaos(t, protocolConsumer) }

func runKafkaChaos(t *testing.T, protocol string) {
	if testing.Short() {
		t.Skip("runs the real binary and a fleet of worker processes")
	}
	n, rate := settings()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (-chaos.seed), %d messages at %d/s", seed, n, rate)
	rng := rand.New(rand.NewPCG(seed, 0))

	addr := testkit.Start(t, goqueue.Path(t), testkit.Options{
		Args: []string{"--min-session-timeout", "1s",
			"--session-timeout", kafkaSession.String(), "--heartbeat-interval", kafkaHeartbeat.String()},
		StartTimeout: 30 * time.Second,
	}).Kafka
	admin, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	createKafkaTopic(t, admin)

	group := "kafka-chaos-" + protocol
	f := startFleet(t, envKafkaWorkerAddr+"="+addr, envWorkerGroup+"="+group, envKafkaWorkerProtocol+"="+protocol)

	watch := watchCommitted(admin, group)
	began := time.Now()
	produced := make([]position, n)
	done := make(chan error, 1)
	go func() { done <- produce(addr, produced, rate) }()
	prodErr := f.churn(rng, done)
	joins, leaves := f.joins-initialWorkers, f.leaves
	if prodErr != nil {
		watch.stop()
		t.Fatalf("produce: %v", prodErr)
	}
	flowed := time.Since(began)
	end := make(map[int32]int64) // every partition's end offset
	for _, at := range produced {
		end[at.p] = max(end[at.p], at.off+1)
	}
	drain := 60 * time.Second
	if *longRun {
		drain = 5 * time.Minute
	}
	drained := watch.waitFor(end, drain)
	for f.size() > 0 {
		f.stop(0, false)
	}
	regressions := watch.stop()
	if !drained {
		t.Errorf("group %s did not commit every partition's end %v within %v; committed %v", group, end, drain, watch.committedNow())
	}
	for _, r := range regressions {
		t.Error(r)
	}

	members := make([]memberLog, 0, len(f.all))
	for _, p := range f.all {
		events, err := readLog(p.log)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, memberLog{id: p.id, events: events, killed: p.killed, end: p.end})
	}
	v := checkKafka(produced, members)
	for _, p := range v.problems {
		t.Error(p)
	}
	t.Logf("%s: %d messages produced in %v, drained after %v; while they flowed: %d joins, %d graceful leaves, %d kills; %d losses; "+
		"%d deliveries, %d duplicates, %d ownership intervals; %d commits taken, %d refused; %d committed offsets read, none went back",
		protocol, n, flowed.Round(time.Millisecond), time.Since(began).Round(time.Millisecond), joins, leaves, v.kills, v.losses,
		v.deliveries, v.duplicates, v.intervals, v.commits, v.refused, watch.reads)
}

func createKafkaTopic(t *testing.T, cl *kgo.Client) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
	req.Topics, req.TimeoutMillis = append(req.Topics, rt), 10_000
	resp, err := req.RequestWith(context.Background(), cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
}

// produce sends messages "0".."n-1" (n = len(at)) at about rate per second
// with an idempotent kgo producer (its default), keyed so that they spread
// over the partitions, and records where each acknowledged one went.
func produce(addr string, at []position, rate int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RecordDeliveryTimeout(time.Minute))
	if err != nil {
		return err
	}
	defer cl.Close()
	var (
		mu     sync.Mutex
		failed error
	)
	const tick = 10 * time.Millisecond
	perTick := max(1, rate/int(time.Second/tick))
	next := time.Now()
	ctx := context.Background()
	for i := 0; i < len(at); {
		for end := min(len(at), i+perTick); i < end; i++ {
			v := i
			at[v].p = -1
			r := &kgo.Record{Key: []byte(strconv.Itoa(v % 101)), Value: []byte(strconv.Itoa(v))}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = cmp.Or(failed, fmt.Errorf("message %s: %w", r.Value, err))
					return
				}
				at[v].p, at[v].off = r.Partition, r.Offset
			})
		}
		next = next.Add(tick)
		time.Sleep(time.Until(next))
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	return failed
}

// committedWatch reads the group's committed offsets from the broker
// (OffsetFetch) every 20 ms and records any that went backwards between
// two reads.
type committedWatch struct {
	cl    *kgo.Client
	group string
	quit  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	last  map[int32]int64 // guarded by mu
	bad   []string        // guarded by mu
	reads int             // guarded by mu; read by the test after stop
}

func watchCommitted(cl *kgo.Client, group string) *committedWatch {
	w := &committedWatch{cl: cl, group: group, quit: make(chan struct{}), done: make(chan struct{}), last: map[int32]int64{}}
	go w.run()
	return w
}

func (w *committedWatch) run() {
	defer close(w.done)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-w.quit:
			return
		case <-tick.C:
		}
		got, err := fetchCommitted(w.cl, w.group)
		if err != nil {
			continue // e.g. the group does not exist yet
		}
		w.mu.Lock()
		w.reads++
		for p, off := range got {
			if prev, ok := w.last[p]; ok && off < prev && len(w.bad) < 20 {
				w.bad = append(w.bad, fmt.Sprintf("partition %d: the committed offset read from the broker went back from %d to %d", p, prev, off))
			}
			w.last[p] = off
		}
		w.mu.Unlock()
	}
}

// waitFor waits up to d until every partition's committed offset reached
// end; it reports whether they did.
func (w *committedWatch) waitFor(end map[int32]int64, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		now := w.committedNow()
		reached := true
		for p, off := range end {
			reached = reached && now[p] >= off
		}
		if reached {
			return true
		}
	}
	return false
}

func (w *committedWatch) committedNow() map[int32]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[int32]int64, len(w.last))
	for p, off := range w.last {
		out[p] = off
	}
	return out
}

// stop ends the watch and returns the regressions it saw.
func (w *committedWatch) stop() []string {
	close(w.quit)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bad
}

// fetchCommitted is the group's committed offset of each partition of the
// test's topic that has one.
func fetchCommitted(cl *kgo.Client, group string) (map[int32]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	for p := range int32(partitions) {
		rt.Partitions = append(rt.Partitions, p)
	}
	req.Topics = []kmsg.OffsetFetchRequestTopic{rt}
	// v8+ asks by group list.
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	gt := kmsg.NewOffsetFetchRequestGroupTopic()
	gt.Topic, gt.Partitions = topic, rt.Partitions
	rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{gt}
	req.Groups = []kmsg.OffsetFetchRequestGroup{rg}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	add := func(p int32, off int64, code int16) error {
		if err := kerr.ErrorForCode(code); err != nil {
			return err
		}
		if off >= 0 {
			out[p] = off
		}
		return nil
	}
	if len(resp.Groups) > 0 {
		g := resp.Groups[0]
		if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
			return nil, err
		}
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				if err := add(p.Partition, p.Offset, p.ErrorCode); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := add(p.Partition, p.Offset, p.ErrorCode); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
