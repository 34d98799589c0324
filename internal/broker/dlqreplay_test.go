package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/abd-ulbasit/goqueue/api"
)

// replayFixture is a broker with topic orders (1 partition) and two groups on
// it, billing and audit, each with one member that joined first.
type replayFixture struct {
	t   *testing.T
	b   *Broker
	cfg Config
	gen map[string]int64
}

func newReplayFixture(t *testing.T) *replayFixture {
	f := &replayFixture{t: t, cfg: testConfig(t), gen: map[string]int64{}}
	f.b = mustOpen(t, f.cfg)
	t.Cleanup(func() { f.b.Close() })
	if _, err := f.b.CreateTopic(TopicSpec{Name: "orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"billing", "audit"} {
		f.join(g)
	}
	return f
}

func (f *replayFixture) join(g string) {
	j, err := f.b.JoinGroup(g, JoinParams{MemberID: g + "-1", Topics: []string{"orders"}}, "h")
	if err != nil {
		f.t.Fatal(err)
	}
	f.gen[g] = j.Generation
}

func (f *replayFixture) publish(values ...string) {
	f.t.Helper()
	var ms []Message
	for _, v := range values {
		ms = append(ms, Message{Value: []byte(v), Partition: 0})
	}
	if _, err := f.b.Publish("orders", ms); err != nil {
		f.t.Fatal(err)
	}
}

// poll returns the values group g is handed now, and acks them unless
// fail names them, which it nacks without requeue (dead-letters).
func (f *replayFixture) poll(g string, fail ...string) []string {
	f.t.Helper()
	got, err := f.b.Poll(context.Background(), g, PollParams{MemberID: g + "-1", Generation: f.gen[g], MaxMessages: 100}, "h")
	if err != nil {
		f.t.Fatal(err)
	}
	var vals []string
	for _, d := range got {
		v := string(d.Record.Value)
		vals = append(vals, v)
		req := NackParams{Settle: Settle{MemberID: g + "-1", Generation: f.gen[g], Messages: []MessageRef{{Topic: d.Topic, Partition: d.Partition, Offset: d.Record.Offset}}}}
		settle := func(g string, req NackParams, host string) (SettleResult, error) { return f.b.Ack(g, req.Settle, host) }
		for _, bad := range fail {
			if bad == v {
				req.Reject, req.Reason, settle = true, "cannot bill "+v, f.b.Nack
			}
		}
		if _, err := settle(g, req, "h"); err != nil {
			f.t.Fatal(err)
		}
	}
	return vals
}

func (f *replayFixture) replay(req ReplayParams) ReplayResult {
	f.t.Helper()
	r, err := f.b.ReplayDLQ("orders", req)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func sameValues(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Two groups on one topic; billing fails a message into the DLQ. Replaying
// it reaches billing only; replaying again replays nothing new (also after a
// restart); purging empties the DLQ.
func TestReplayReachesTheFailingGroupOnly(t *testing.T) {
	f := newReplayFixture(t)
	f.publish("a", "b", "c")
	if got := f.poll("billing", "b"); !sameValues(got, []string{"a", "b", "c"}) {
		t.Fatalf("billing got %v", got)
	}
	if got := f.poll("audit"); !sameValues(got, []string{"a", "b", "c"}) {
		t.Fatalf("audit got %v", got)
	}

	preview := f.replay(ReplayParams{DryRun: true})
	if preview.Replayed != 1 || len(preview.Messages) != 1 || preview.Messages[0].Group != "billing" ||
		preview.Messages[0].OriginalOffset != 1 || preview.Messages[0].Reason != "rejected" || preview.Messages[0].DiedAt.IsZero() {
		t.Fatalf("preview %+v", preview)
	}
	if got := f.poll("billing"); len(got) != 0 {
		t.Fatalf("a dry run published: billing got %v", got)
	}

	if r := f.replay(ReplayParams{}); r.Replayed != 1 {
		t.Fatalf("replay %+v", r)
	}
	if got := f.poll("billing"); !sameValues(got, []string{"b"}) {
		t.Fatalf("billing got %v after the replay", got)
	}
	if got := f.poll("audit"); len(got) != 0 {
		t.Fatalf("audit got %v: a replay for billing reached it", got)
	}
	if g, _ := f.b.DescribeGroup("audit"); g.Lag != 0 {
		t.Fatalf("audit lag %d: the replay it skipped was not settled", g.Lag)
	}

	if r := f.replay(ReplayParams{}); r.Replayed != 0 || r.Skipped != 1 {
		t.Fatalf("second replay %+v", r)
	}
	// What was replayed is remembered across a restart.
	if err := f.b.Close(); err != nil {
		t.Fatal(err)
	}
	f.b = mustOpen(t, f.cfg)
	if r := f.replay(ReplayParams{}); r.Replayed != 0 || r.Skipped != 1 {
		t.Fatalf("replay after a restart %+v", r)
	}
	if r := f.replay(ReplayParams{Again: true, DryRun: true}); r.Replayed != 1 {
		t.Fatalf("again %+v", r)
	}

	if err := f.b.PurgeDLQ("orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.b.ReplayDLQ("orders", ReplayParams{}); !errors.Is(err, api.ErrTopicNotFound) {
		t.Fatalf("replay of a purged DLQ: %v", err)
	}
	if err := f.b.PurgeDLQ("orders"); !errors.Is(err, api.ErrTopicNotFound) {
		t.Fatalf("purge of no DLQ: %v", err)
	}
}

// A message that fails again after each replay is replayed MaxReplays
// times, then left in the DLQ as poison; to_topic replays reach every group.
func TestPoisonStopsAfterMaxReplays(t *testing.T) {
	f := newReplayFixture(t)
	f.publish("poison")
	f.poll("billing", "poison")
	f.poll("audit")
	for i := range 2 {
		if r := f.replay(ReplayParams{MaxReplays: 2}); r.Replayed != 1 {
			t.Fatalf("round %d: %+v", i, r)
		}
		if got := f.poll("billing", "poison"); !sameValues(got, []string{"poison"}) {
			t.Fatalf("round %d: billing got %v", i, got)
		}
	}
	if r := f.replay(ReplayParams{MaxReplays: 2}); r.Replayed != 0 || r.Poison != 1 {
		t.Fatalf("third round %+v", r)
	}
	// Filters: by group, reason and time.
	for _, c := range []struct {
		req  ReplayParams
		want int
	}{
		{ReplayParams{Again: true, DryRun: true, MaxReplays: 9}, 3},
		{ReplayParams{Again: true, DryRun: true, MaxReplays: 9, Group: "audit"}, 0},
		{ReplayParams{Again: true, DryRun: true, MaxReplays: 9, Reason: "max_retries_exceeded"}, 0},
		{ReplayParams{Again: true, DryRun: true, MaxReplays: 9, Until: time.UnixMilli(1)}, 0},
		{ReplayParams{Again: true, DryRun: true, MaxReplays: 9, Offset: 1, EndOffset: 2}, 1},
	} {
		if r := f.replay(c.req); r.Replayed != c.want {
			t.Errorf("%+v: replayed %d, want %d", c.req, r.Replayed, c.want)
		}
	}
	if r := f.replay(ReplayParams{ToTopic: true, Again: true, MaxReplays: 9, Offset: 2}); r.Replayed != 1 {
		t.Fatalf("to_topic %+v", r)
	}
	if got := f.poll("audit"); !sameValues(got, []string{"poison"}) {
		t.Fatalf("audit got %v from a to_topic replay", got)
	}
	if _, err := f.b.ReplayDLQ("orders", ReplayParams{ToTopic: true, Target: "orders"}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("target with to_topic: %v", err)
	}
}

// clusterDLQ is a cluster as one node sees it, for DLQs: orders and its
// DLQ are replicated; writes that name a partition this node does not
// lead are refused (loopRepl), while AppendVia reaches the leader; the
// replay record and purges go to the cluster (record, deleted).
type clusterDLQ struct {
	loopRepl
	reads   []int32
	record  []byte
	version uint64
	deleted []string
	// beforeSet, if set, runs before each SetReplays (another node's
	// write landing first); lost makes it apply the write but answer
	// ErrReplaysChanged (a retry of an attempt that went through).
	beforeSet func()
	lost      bool
}

func (c *clusterDLQ) Replicates(topic string) bool {
	return topic == "orders" || topic == api.DLQName("orders")
}

func (c *clusterDLQ) EnsureDLQ(spec TopicSpec) error {
	_, err := c.b.CreateTopic(spec)
	if errors.Is(err, api.ErrTopicExists) {
		return nil
	}
	return err
}

func (c *clusterDLQ) AppendVia(topic string, partition int32, batches []byte) ([]int64, error) {
	return c.apply(topic, partition, batches) // at the leader, wherever it is
}

func (c *clusterDLQ) ReadPoint(topic string, partition int32) error {
	c.reads = append(c.reads, partition)
	return nil
}

func (c *clusterDLQ) Replays(string) ([]byte, uint64, error) { return c.record, c.version, nil }

func (c *clusterDLQ) SetReplays(_ string, record []byte, expect uint64) (uint64, error) {
	if c.beforeSet != nil {
		c.beforeSet()
	}
	if expect != c.version {
		return 0, ErrReplaysChanged
	}
	c.record, c.version = record, c.version+1
	if c.lost {
		c.lost = false
		return 0, ErrReplaysChanged
	}
	return c.version, nil
}

func (c *clusterDLQ) ID() uint64 { return 1 }

func (c *clusterDLQ) DeleteDLQ(dlq string) error {
	c.deleted = append(c.deleted, dlq)
	return nil
}

// A DLQ of a cluster is replayed by a node that leads none of the target's
// partitions: it reads its copy of the DLQ once current, writes through
// the leaders, and keeps the replay record in the cluster, not in its
// meta.db, so another node's replay skips what it replayed. A purge
// deletes the DLQ from the cluster rather than this node's copy only.
func TestReplayAndPurgeOfAClusterDLQ(t *testing.T) {
	f := newReplayFixture(t)
	c := &clusterDLQ{loopRepl: loopRepl{b: f.b, entries: map[int32]int{}}}
	f.b.SetReplicator(c)
	f.publish("a", "b", "c")
	if got := f.poll("billing", "b"); !sameValues(got, []string{"a", "b", "c"}) {
		t.Fatalf("billing got %v", got)
	}
	f.poll("audit")
	c.refuse = map[int32]bool{0: true} // another node leads orders/0

	if r := f.replay(ReplayParams{}); r.Replayed != 1 {
		t.Fatalf("replay %+v", r)
	}
	if got := f.poll("billing"); !sameValues(got, []string{"b"}) {
		t.Fatalf("billing got %v after the replay", got)
	}
	if len(c.reads) != 1 || c.reads[0] != 0 || len(c.record) == 0 {
		t.Fatalf("read points %v, record %s", c.reads, c.record)
	}
	err := f.b.meta.db.View(func(tx *bolt.Tx) error {
		if bk := tx.Bucket(dlqReplayedBucket); bk != nil && bk.Get([]byte(api.DLQName("orders"))) != nil {
			return errors.New("the replay was recorded in this node's meta.db")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := f.replay(ReplayParams{}); r.Replayed != 0 || r.Skipped != 1 {
		t.Fatalf("second replay %+v", r)
	}
	c.record, c.version = nil, 0 // as another cluster's: nothing replayed there
	if r := f.replay(ReplayParams{DryRun: true}); r.Replayed != 1 {
		t.Fatalf("replay without the record %+v", r)
	}

	if err := f.b.PurgeDLQ("orders"); err != nil {
		t.Fatal(err)
	}
	if len(c.deleted) != 1 || c.deleted[0] != api.DLQName("orders") {
		t.Fatalf("purge deleted %v in the cluster", c.deleted)
	}
	if _, err := f.b.lookup(api.DLQName("orders")); err != nil {
		t.Fatalf("the purge deleted this node's copy itself: %v", err)
	}
}

// A replay of a cluster's DLQ claims it in the cluster's record first, by
// a compare-and-set of the record's version: while another node's claim
// holds (not lapsed), or when another node claims it first, the replay is
// refused REPLAY_IN_PROGRESS and publishes nothing; a lapsed claim (its
// node died) is taken over once it also went unrenewed for
// replayTakeoverWait, so a live replay on a node whose clock is behind
// keeps its claim (before, it was taken over: both replayed). The claim
// is cleared when the replay is done, also when its write's outcome was
// unknown and went through. (Before, two nodes replaying at once both
// replayed every message.)
func TestClusterDLQReplayIsClaimedOnce(t *testing.T) {
	now := time.Now()
	other := func(until time.Time) []byte {
		return []byte(fmt.Sprintf(`{"born":1,"claim":{"token":"theirs","node":2,"until":%d}}`, until.UnixMilli()))
	}
	for _, c := range []struct {
		name      string
		record    []byte
		beforeSet func(c *clusterDLQ)
		renewed   func(c *clusterDLQ) // while the replay waits to take a lapsed claim over
		lost      bool
		advance   time.Duration // the clock, after the claim
		err       error         // with advance: the replay's, which says says
		says      string
		replayed  int
	}{
		{name: "unclaimed", replayed: 1},
		{name: "claimed by a live replay elsewhere", record: other(now.Add(time.Second))},
		{name: "claimed by a replay whose node died", record: other(now.Add(-time.Millisecond)), replayed: 1},
		{name: "claimed by a live replay on a node whose clock is behind", record: other(now.Add(-time.Minute)), renewed: func(c *clusterDLQ) {
			c.record, c.version = other(now.Add(-time.Minute+replayTakeoverWait)), c.version+1
		}},
		{name: "lapsed, then the replay elsewhere finished", record: other(now.Add(-time.Minute)), renewed: func(c *clusterDLQ) {
			c.record, c.version = []byte(`{"born":1}`), c.version+1
		}, replayed: 1},
		{name: "claimed by this node before it restarted", record: []byte(fmt.Sprintf(`{"born":1,"claim":{"token":"before","node":1,"until":%d}}`, now.Add(time.Second).UnixMilli())), replayed: 1},
		{name: "claimed first by another node", beforeSet: func(c *clusterDLQ) {
			if c.version == 0 {
				c.record, c.version = other(now.Add(replayLease)), 1
			}
		}},
		{name: "a claim whose outcome was unknown", lost: true, replayed: 1},
		{name: "taken over while it ran, its node paused past the lease", beforeSet: func(c *clusterDLQ) {
			if c.version == 1 { // its renewal, after it published
				c.record, c.version = other(now.Add(2*replayLease)), 2
			}
		}, advance: replayLease, err: api.ErrReplayInProgress, says: "node 2"},
		{name: "purged while it ran", beforeSet: func(c *clusterDLQ) {
			if c.version == 1 { // its renewal: the DLQ purged and created again
				c.record, c.version = nil, 5
			}
		}, advance: replayRenewEvery, err: api.ErrTopicNotFound, says: "purged"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newReplayFixture(t)
			cl := &clusterDLQ{loopRepl: loopRepl{b: f.b, entries: map[int32]int{}}}
			f.b.SetReplicator(cl)
			f.publish("a", "b")
			f.poll("billing", "b")
			cl.record, cl.lost = c.record, c.lost
			if c.record != nil {
				cl.version = 7
			}
			clock := now
			f.b.now = func() time.Time { return clock }
			f.b.sleep = func(d time.Duration) {
				clock = clock.Add(d)
				if c.renewed != nil {
					c.renewed(cl)
				}
			}
			cl.beforeSet = func() {
				if c.beforeSet != nil {
					c.beforeSet(cl)
				}
				if cl.version == 0 {
					clock = clock.Add(c.advance)
				}
			}
			before := cl.entries[0]
			r, err := f.b.ReplayDLQ("orders", ReplayParams{})
			if c.advance > 0 {
				// It published before it found its claim lost.
				// Once: the claim it lost is left alone, not released.
				if !errors.Is(err, c.err) || strings.Count(err.Error(), c.says) != 1 {
					t.Fatalf("replay: %v; want %v saying %q once", err, c.err, c.says)
				}
				return
			}
			if c.replayed == 0 {
				if !errors.Is(err, api.ErrReplayInProgress) || cl.entries[0] != before {
					t.Fatalf("replay: %v, %d appends; want REPLAY_IN_PROGRESS and none", err, cl.entries[0]-before)
				}
				return
			}
			if err != nil || r.Replayed != c.replayed {
				t.Fatalf("replay: %+v, %v", r, err)
			}
			var d dlqReplayed
			if err := json.Unmarshal(cl.record, &d); err != nil || d.Claim != nil || !d.has(0, 0) {
				t.Fatalf("record after the replay %s (%v): want offset 0 replayed, no claim", cl.record, err)
			}
			if r := f.replay(ReplayParams{}); r.Replayed != 0 || r.Skipped != 1 {
				t.Fatalf("second replay %+v", r)
			}
		})
	}
}

// NextOffset is past every layer a replay went through, also when the last
// ones held only dead letters it passed over (replayed before, filtered
// out): continuing from it never goes through them again.
func TestReplayNextOffsetPassesSkippedLayers(t *testing.T) {
	f := newReplayFixture(t)
	f.publish("a", "b")
	f.poll("billing", "a", "b")
	for _, c := range []struct {
		req                    ReplayParams
		replayed, skipped, off int
	}{
		{ReplayParams{DryRun: true, Group: "audit"}, 0, 0, 2},
		{ReplayParams{Max: 1}, 1, 0, 1},
		{ReplayParams{}, 1, 1, 2},
		{ReplayParams{}, 0, 2, 2},
		{ReplayParams{Offset: 1}, 0, 1, 2},
		{ReplayParams{Offset: 5}, 0, 0, 5},
	} {
		r := f.replay(c.req)
		if r.Replayed != c.replayed || r.Skipped != c.skipped || r.NextOffset != int64(c.off) {
			t.Errorf("%+v: replayed %d skipped %d next %d, want %d, %d, %d",
				c.req, r.Replayed, r.Skipped, r.NextOffset, c.replayed, c.skipped, c.off)
		}
	}
}

// A DLQ replayed into itself is refused: it appended its dead letters to
// itself without their DLQ headers, messages no later replay could place.
func TestReplayIntoItsOwnDLQIsRefused(t *testing.T) {
	f := newReplayFixture(t)
	f.publish("a")
	f.poll("billing", "a")
	if _, err := f.b.ReplayDLQ("orders", ReplayParams{Target: api.DLQName("orders"), Again: true}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("replay into orders.dlq: %v, want INVALID_ARGUMENT", err)
	}
	if r := f.replay(ReplayParams{DryRun: true, Again: true}); r.Replayed != 1 || r.NextOffset != 1 {
		t.Fatalf("the DLQ after a refused replay into itself: %+v, want its one dead letter", r)
	}
}
