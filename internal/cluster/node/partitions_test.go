package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/raftstore"
	"github.com/abd-ulbasit/goqueue/internal/cluster/replica"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// clog is a commitlog as a replica.Log: held (see
// commitlog.HoldWatermark), as the broker's replicated partitions are.
type clog struct{ *commitlog.Log }

func (l clog) WriteEntry(b []byte) (first, next int64, err error) {
	first, next, _, err = l.WriteBatches(bytes.Clone(b)) // it patches base offsets; see replica.Log
	return first, next, err
}

func (l clog) ReadEntry(first, next int64) ([]byte, error) { return l.ReadRange(first, next) }

func (l clog) AppendBatches(b []byte) (int64, error) {
	first, next, end, err := l.WriteBatches(bytes.Clone(b))
	if err == nil {
		err = l.Durable(end)
	}
	if err == nil {
		err = l.Release(next)
	}
	return first, err
}

// ApplyEntry takes every batch where it is (written first if at < 0).
func (l clog) ApplyEntry(b []byte, at int64) ([]int64, error) {
	if at < 0 {
		first, _, end, err := l.WriteBatches(bytes.Clone(b))
		if err == nil {
			err = l.Durable(end)
		}
		if err != nil {
			return nil, err
		}
		at = first
	}
	var bases []int64
	for len(b) > 0 {
		n, _ := recordbatch.Len(b)
		bases = append(bases, at)
		at += int64(recordbatch.NumRecords(b[:n]))
		b = b[n:]
	}
	return bases, l.Release(at)
}

func (l clog) Committed() int64 { return l.HighWatermark() }

func (l clog) SetCommitted(off int64) error {
	if off < l.HighWatermark() {
		return l.LowerWatermark(off)
	}
	return l.Release(off)
}

func (l clog) Retain(off int64) { l.RetainFrom(off) }

func (l clog) ReadBatches(from int64, maxBytes int) ([]byte, error) {
	return l.Log.ReadBatches(from, maxBytes, nil)
}

// Producers and SetProducers: clog checks no producer, so it has no state.
func (l clog) Producers() ([]byte, error)      { return nil, nil }
func (l clog) SetProducers(state []byte) error { return nil }

// logSink is a node's broker for these tests: it creates nothing but
// opens a real commitlog per partition under dir, with the given policy.
type logSink struct {
	dir   string
	fsync commitlog.FsyncPolicy
	// removing, if set, is told of each RemoveTopic, which then waits
	// for the test's go-ahead (holding a node between applying a topic's
	// deletion and removing its copy).
	removing chan chan struct{}
	mu       sync.Mutex
	logs     map[string]*commitlog.Log
	refuse   string // a log ("topic-p") PartitionLog does not open
}

func (s *logSink) EnsureTopic(string, int32, json.RawMessage) error { return nil }

// RemoveTopic closes and removes topic's logs.
func (s *logSink) RemoveTopic(topic string) error {
	if s.removing != nil {
		goAhead := make(chan struct{})
		s.removing <- goAhead
		<-goAhead
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, l := range s.logs {
		if strings.HasPrefix(key, topic+"-") {
			l.Close()
			delete(s.logs, key)
			if err := os.RemoveAll(filepath.Join(s.dir, key)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *logSink) PartitionLog(topic string, p int32) (replica.Log, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := fmt.Sprintf("%s-%d", topic, p)
	if key == s.refuse {
		return nil, fmt.Errorf("the test refuses log %s", key)
	}
	if l, ok := s.logs[key]; ok {
		return clog{l}, nil
	}
	// As the broker opens a replicated partition's log: held, and kept
	// whole from retention until its state machine says from where.
	l, err := commitlog.Open(filepath.Join(s.dir, key), commitlog.Options{Fsync: s.fsync, SegmentBytes: 4096, Held: true})
	if err != nil {
		return nil, err
	}
	l.RetainFrom(0)
	s.logs[key] = l
	return clog{l}, nil
}

func (s *logSink) log(key string) *commitlog.Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs[key]
}

func (s *logSink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, l := range s.logs {
		l.Close()
		delete(s.logs, k)
	}
}

// replicaCluster runs 3 nodes that replicate partitions into commitlogs,
// each startable and stoppable on its own.
type replicaCluster struct {
	t     *testing.T
	peers map[uint64]string
	dirs  []string
	fsync commitlog.FsyncPolicy
	// quiesce is Config.Quiesce of every node.
	quiesce bool
	// entriesInWAL: the nodes write partitions' data twice (as before
	// the single log; node.Config.EntriesInWAL).
	entriesInWAL bool
	nodes        []*Node
	sinks        []*logSink
	stops        []func()
	// removing[i], if set, becomes node i's sink's removing on its next
	// start.
	removing []chan chan struct{}
	// logs[i], if set, receives node i's log (else discarded).
	logs []io.Writer
}

// withTopic starts a replica cluster (fsync=interval), waits for its
// metadata group to form and creates topic "t" of one partition with rf
// replicas; ctx bounds the test (60 s). stop stops the nodes and ends
// ctx: defer it after goleak's check, so the nodes stop before it runs.
func withTopic(t *testing.T, rf int) (c *replicaCluster, ctx context.Context, tp meta.Topic, stop func()) {
	t.Helper()
	return withTopicOf(t, rf, false)
}

// withTopicOf is withTopic on nodes that write partitions' data twice if
// entriesInWAL.
func withTopicOf(t *testing.T, rf int, entriesInWAL bool) (c *replicaCluster, ctx context.Context, tp meta.Topic, stop func()) {
	t.Helper()
	c = newStoppedCluster(t, commitlog.FsyncInterval, false)
	c.entriesInWAL = entriesInWAL
	for i := range 3 {
		c.start(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	stop = func() { cancel(); c.stopAll() }
	formed := false
	defer func() {
		if !formed { // t.Fatal below: the caller has no stop to defer
			stop()
		}
	}()
	waitFormed(ctx, t, c.nodes, 1)
	tp, err := c.nodes[0].CreateTopic(ctx, "t", 1, rf, nil)
	if err != nil {
		t.Fatal(err)
	}
	formed = true
	return c, ctx, tp, stop
}

func newReplicaCluster(t *testing.T, fsync commitlog.FsyncPolicy, quiesce bool) *replicaCluster {
	c := newStoppedCluster(t, fsync, quiesce)
	for i := range 3 {
		c.start(i)
	}
	return c
}

// newStoppedCluster is newReplicaCluster with no node started yet: each
// node's address is picked, and c.start(i) starts node i.
func newStoppedCluster(t *testing.T, fsync commitlog.FsyncPolicy, quiesce bool) *replicaCluster {
	c := &replicaCluster{t: t, peers: map[uint64]string{}, fsync: fsync, quiesce: quiesce,
		nodes: make([]*Node, 3), sinks: make([]*logSink, 3), stops: make([]func(), 3), removing: make([]chan chan struct{}, 3),
		logs: make([]io.Writer, 3)}
	for i := 1; i <= 3; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.peers[uint64(i)] = ln.Addr().String()
		ln.Close()
		c.dirs = append(c.dirs, t.TempDir())
	}
	return c
}

func (c *replicaCluster) start(i int) {
	t := c.t
	ln, err := net.Listen("tcp", c.peers[uint64(i+1)])
	if err != nil {
		t.Fatal(err)
	}
	c.sinks[i] = &logSink{dir: filepath.Join(c.dirs[i], "logs"), fsync: c.fsync, logs: map[string]*commitlog.Log{}, removing: c.removing[i]}
	logs := c.logs[i]
	if logs == nil {
		logs = io.Discard
	}

	nd, err := Open(Config{
		ID: uint64(i + 1), Peers: c.peers, Listener: ln, Dir: filepath.Join(c.dirs[i], "cluster"),
		HTTPAddr: fmt.Sprintf("127.0.0.1:%d", 8000+i), Tick: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Topics: c.sinks[i], Logs: c.sinks[i],
		SnapshotEvery: 8, SnapshotKeep: 2, Quiesce: c.quiesce, EntriesInWAL: c.entriesInWAL,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[i] = nd
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- nd.Run(ctx) }()
	c.stops[i] = func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		c.sinks[i].close()
	}
}

func (c *replicaCluster) stop(i int) {
	if c.stops[i] != nil {
		c.stops[i]()
		c.stops[i] = nil
	}
}

func (c *replicaCluster) stopAll() {
	for i := range 3 {
		c.stop(i)
	}
}

// batch is one record batch holding vals.
func batch(vals ...string) []byte {
	var b recordbatch.Builder
	b.Reset(nil)
	for _, v := range vals {
		b.Add(0, 1, nil, []byte(v), nil)
	}
	return b.Finish(recordbatch.NewHeader(0))
}

// leader waits until the running replicas of the group agree on its
// leader.
func (c *replicaCluster) leader(ctx context.Context, group uint64) int {
	for {
		var seen []uint64
		for i, nd := range c.nodes {
			if c.stops[i] == nil {
				continue
			}
			nd.pmu.Lock()
			st, hosted := nd.leaders[group] // a group this node runs
			nd.pmu.Unlock()
			if hosted {
				seen = append(seen, st.Leader)
			}
		}
		if len(seen) > 0 && seen[0] != 0 && !slices.ContainsFunc(seen, func(l uint64) bool { return l != seen[0] }) {
			return int(seen[0]) - 1
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("no agreed leader of group %d: %v", group, seen)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// appendAll appends one batch per value through the leader, following
// NOT_LEADER, and returns the values acknowledged, in order.
func (c *replicaCluster) appendAll(ctx context.Context, group uint64, vals ...string) {
	for _, v := range vals {
		for {
			l := c.leader(ctx, group)
			bases, err := c.nodes[l].AppendPartition(ctx, "t", 0, batch(v))
			if err == nil {
				if len(bases) != 1 {
					c.t.Fatalf("bases %v", bases)
				}
				break
			}
			if ctx.Err() != nil {
				c.t.Fatalf("append %s: %v", v, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// values reads every record of node i's log.
func (c *replicaCluster) values(i int) ([]string, []byte) {
	l := c.sinks[i].log("t-0")
	if l == nil {
		return nil, nil
	}
	var vals []string
	for off := l.EarliestOffset(); off < l.HighWatermark(); {
		recs, err := l.Read(off, 1000, 1<<20)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, r := range recs {
			if r.Offset >= off {
				vals = append(vals, string(r.Value))
			}
		}
		off = recs[len(recs)-1].Offset + 1
	}
	raw, err := l.ReadBatches(l.EarliestOffset(), 1<<30, nil)
	if err != nil && l.HighWatermark() > 0 {
		c.t.Fatal(err)
	}
	return vals, raw
}

// converged waits until every running node's log holds exactly want,
// byte for byte the same as the others'.
func (c *replicaCluster) converged(ctx context.Context, want []string) {
	c.t.Helper()
	for {
		var first []byte
		ok := true
		var got []string
		for i := range 3 {
			if c.stops[i] == nil {
				continue
			}
			vals, raw := c.values(i)
			got = vals
			if !slices.Equal(vals, want) || (first != nil && !bytes.Equal(raw, first)) {
				ok = false
				break
			}
			first = raw
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("replicas never converged: a log holds %q, want %q", got, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func vals(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// A partition replicated over three nodes: every acknowledged append is on
// every replica once, in order, byte for byte; a follower refuses with
// the leader's name; a leader cut off from the others never acknowledges
// and never shows the write it could not commit; a restart of every node
// replays the Raft logs over the commitlogs without duplicating (snapshots
// every 8 entries, so the logs are cut back to a snapshot's end first); a
// node restarted with an empty disk catches up, fetching the bytes the
// leader compacted out of its Raft log. Run for each fsync policy.
func TestPartitionReplicates(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, fsync := range []commitlog.FsyncPolicy{commitlog.FsyncInterval, commitlog.FsyncAlways, commitlog.FsyncNever} {
		t.Run(fsync.String(), func(t *testing.T) { testPartitionReplicates(t, fsync) })
	}
}

func testPartitionReplicates(t *testing.T, fsync commitlog.FsyncPolicy) {
	c := newReplicaCluster(t, fsync, false)
	defer c.stopAll()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFormed(ctx, t, c.nodes, 1)
	tp, err := c.nodes[0].CreateTopic(ctx, "t", 1, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	group := tp.Partitions[0].Group
	if l := c.leader(ctx, group); uint64(l+1) != tp.Partitions[0].Replicas[0] {
		t.Logf("leader %d is not the preferred replica %d (it campaigned late)", l+1, tp.Partitions[0].Replicas[0])
	}
	acked := vals("a", 20)
	c.appendAll(ctx, group, acked...)
	c.converged(ctx, acked)

	l := c.leader(ctx, group)
	f := (l + 1) % 3
	var nl *multiraft.NotLeaderError
	if _, err := c.nodes[f].AppendPartition(ctx, "t", 0, batch("x")); !errors.As(err, &nl) || nl.Leader != uint64(l+1) {
		t.Fatalf("append on a follower: %v, want NotLeaderError naming node %d", err, l+1)
	}

	// Cut the leader off: its append is never acknowledged nor readable.
	cut := uint64(l + 1)
	for _, nd := range c.nodes {
		nd.tr.SetFault(func(from, to uint64) bool { return from != cut && to != cut })
	}
	actx, acancel := context.WithTimeout(ctx, time.Second)
	if _, err := c.nodes[l].AppendPartition(actx, "t", 0, batch("lost")); err == nil {
		t.Fatal("a leader cut off from its followers acknowledged an append")
	}
	acancel()
	if got, _ := c.values(l); !slices.Equal(got, acked) {
		t.Fatalf("the cut-off leader's log shows %q, want only the committed %q", got, acked)
	}
	more := vals("b", 5)
	for {
		nl := c.leaderAmong(ctx, group, cut)
		if nl >= 0 {
			break
		}
	}
	for _, v := range more {
		for {
			nl := c.leaderAmong(ctx, group, cut)
			if _, err := c.nodes[nl].AppendPartition(ctx, "t", 0, batch(v)); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	acked = append(acked, more...)
	for _, nd := range c.nodes {
		nd.tr.SetFault(nil)
	}
	c.converged(ctx, acked)

	// Restart every node on its disk: nothing duplicated, nothing lost.
	c.stopAll()
	for i := range 3 {
		c.start(i)
	}
	more = vals("c", 3)
	c.appendAll(ctx, group, more...)
	acked = append(acked, more...)
	c.converged(ctx, acked)

	// A follower restarted with an empty disk catches up.
	l = c.leader(ctx, group)
	f = (l + 1) % 3
	c.stop(f)
	more = vals("d", 12) // past a snapshot: the leader compacts its Raft log
	c.appendAll(ctx, group, more...)
	acked = append(acked, more...)
	if err := os.RemoveAll(c.dirs[f]); err != nil {
		t.Fatal(err)
	}
	c.start(f)
	c.converged(ctx, acked)
	// It came back as a new generation of replicas, now voters of the
	// metadata group and the partition's, its forgotten replicas removed.
	if g := c.nodes[f].gen.Load(); g != 1 {
		t.Fatalf("node %d rejoined at generation %d, want 1", f+1, g)
	}
	want := []uint64{1, 2, 3}
	want[f] = multiraft.ReplicaID(uint64(f+1), 1)
	c.reconciled(ctx, []uint64{0, group}, want)
}

// leaderAmong is the leader of group that every running node other than
// cut agrees on, or -1 while there is none.
func (c *replicaCluster) leaderAmong(ctx context.Context, group, cut uint64) int {
	for {
		var seen []uint64
		for i, nd := range c.nodes {
			if c.stops[i] == nil || uint64(i+1) == cut {
				continue
			}
			nd.pmu.Lock()
			st := nd.leaders[group]
			nd.pmu.Unlock()
			seen = append(seen, st.Leader)
		}
		if seen[0] != 0 && seen[0] != cut && !slices.ContainsFunc(seen, func(l uint64) bool { return l != seen[0] }) {
			return int(seen[0]) - 1
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("no leader of group %d without node %d: %v", group, cut, seen)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// AppendVia on a follower writes through the partition's leader (over the
// transport), and on the leader writes here: every replica has both.
func TestAppendViaTheLeader(t *testing.T) {
	defer goleak.VerifyNone(t)
	c, ctx, tp, stop := withTopic(t, 3)
	defer stop()
	l := c.leader(ctx, tp.Partitions[0].Group)
	f := (l + 1) % 3
	for i, via := range []int{f, l} {
		bases, err := c.nodes[via].AppendVia(ctx, "t", 0, batch(fmt.Sprint("v", i)))
		if err != nil || len(bases) != 1 || bases[0] != int64(i) {
			t.Fatalf("AppendVia on node %d: %v %v", via+1, bases, err)
		}
	}
	c.converged(ctx, vals("v", 2))
}

// A node restarted with an empty disk after retention on the others
// deleted the partition's first records cannot copy them: it starts its
// log where the others' logs start and copies the rest (it asked for the
// deleted records for ever before).
func TestCatchUpPastTheOthersRetention(t *testing.T) {
	defer goleak.VerifyNone(t)
	c, ctx, tp, stop := withTopic(t, 3)
	defer stop()
	group := tp.Partitions[0].Group
	f := (c.leader(ctx, group) + 1) % 3
	c.stop(f)
	acked := vals("a", 200) // a few 4 KiB segments
	c.appendAll(ctx, group, acked...)
	start := int64(-1)
	for i := range 3 {
		if i == f {
			continue
		}
		l := c.sinks[i].log("t-0")
		l.SetRetention(1, 0) // every sealed segment goes
		if _, err := l.EnforceRetention(); err != nil {
			t.Fatal(err)
		}
		if start >= 0 && l.EarliestOffset() != start {
			t.Fatalf("the live replicas start at %d and %d", start, l.EarliestOffset())
		}
		start = l.EarliestOffset()
	}
	if start <= 0 {
		t.Fatalf("retention left the logs starting at %d", start)
	}
	if err := os.RemoveAll(c.dirs[f]); err != nil {
		t.Fatal(err)
	}
	c.start(f)
	c.converged(ctx, acked[start:])
	more := vals("b", 3)
	c.appendAll(ctx, group, more...)
	c.converged(ctx, append(acked[start:], more...))
}

// A node restarts a partition whose retention deleted records past the
// end of its last Raft snapshot (or any record, with no snapshot yet):
// the log cannot be cut back to that end, so it starts over there, and
// the entries after the snapshot are applied again, at the offsets the
// other replicas gave them. The node refused to start the partition
// before, retrying (and warning) every tick for ever.
//
// Where the last snapshot ends is read off the stopped node's disk, not
// worked out from the entries appended: every election adds an entry of
// its own, and on a loaded machine a snapshot landed after the last
// batch but one, so retention deleted nothing past its end.
//
// The nodes write the data twice (their WALs hold the entries whole), as
// before the partition's log was where the entries are kept: a node of
// that layout (or one run with --cluster-entries-in-wal) can meet this.
// In the log's layout retention never deletes past the last snapshot
// (TestRetentionKeepsWhatARestartReadsBack).
func TestRestartPastRetention(t *testing.T) {
	defer goleak.VerifyNone(t)
	pad := strings.Repeat("x", 3000) // a batch to a 4 KiB segment
	tests := []struct {
		name    string
		entries int // appended before the restart; snapshots every 8 Raft entries
		// elections moves the leadership this many times during the
		// first appends: each adds an entry, as a loaded machine's
		// elections do, and the last snapshot ends past the retention.
		elections int
	}{
		{"no snapshot yet", 3, 0},
		{"past the last snapshot", 12, 0},
		{"past the last snapshot after elections", 12, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ctx, tp, stop := withTopicOf(t, 3, true)
			defer stop()
			group := tp.Partitions[0].Group
			acked := vals("a", tt.entries)
			for k := range acked {
				acked[k] += pad
			}
			for k := range tt.elections {
				c.appendAll(ctx, group, acked[k])
				l := c.leader(ctx, group)
				if err := c.nodes[l].raft.TransferLeader(ctx, group, uint64((l+1)%3+1)); err != nil {
					t.Fatal(err)
				}
				testkit.Eventually(t, 10*time.Second, func() bool { return c.leader(ctx, group) != l }, "the leadership to move")
			}
			c.appendAll(ctx, group, acked[tt.elections:]...)
			c.converged(ctx, acked)

			f := (c.leader(ctx, group) + 1) % 3
			c.stop(f)
			// Retention keeps the last batch only: the scenario needs a
			// snapshot ending before it. One ending later (elections
			// added entries) is past by two more batches, appended with
			// f running again, unless another snapshot comes meanwhile.
			snapNext := c.snapshotNext(f, group)
			for snapNext >= int64(len(acked)-1) {
				t.Logf("node %d's snapshot ends at %d, past all but the last batch of %d: two more", f+1, snapNext, len(acked))
				c.start(f)
				c.hosts(ctx, f, group, &lockedBuffer{})
				more := []string{fmt.Sprint("a", len(acked)) + pad, fmt.Sprint("a", len(acked)+1) + pad}
				c.appendAll(ctx, group, more...)
				acked = append(acked, more...)
				c.converged(ctx, acked)
				c.stop(f)
				snapNext = c.snapshotNext(f, group)
			}
			// Retention ran on f just before it stopped: every segment
			// but the active one, holding the last batch, is gone.
			dir := filepath.Join(c.dirs[f], "logs", "t-0")
			l, err := commitlog.Open(dir, commitlog.Options{SegmentBytes: 4096, RetentionBytes: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.EnforceRetention(); err != nil {
				t.Fatal(err)
			}
			retained := l.EarliestOffset()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if retained != int64(len(acked)-1) {
				t.Fatalf("retention left the log starting at %d, want %d", retained, len(acked)-1)
			}

			c.restartAndAppend(ctx, f, group, acked)
			if start := c.sinks[f].log("t-0").EarliestOffset(); start != snapNext {
				t.Fatalf("node %d's log starts at %d, not at %d (retention left %d): it did not start over at the snapshot's end", f+1, start, snapNext, retained)
			}
		})
	}
}

// A partition's log is where its Raft entries are kept: a node restarting
// reads back from it the entries after its last snapshot. So retention,
// run on every replica as it likes, keeps what lies past that snapshot's
// end, asks for a snapshot when that is all that keeps it from deleting
// (EntryStore.WantsSnapshot), and the node restarts with its log whole.
// (Had it deleted them, the node would have forgotten entries it had
// acknowledged.)
func TestRetentionKeepsWhatARestartReadsBack(t *testing.T) {
	defer goleak.VerifyNone(t)
	pad := strings.Repeat("x", 3000) // a batch to a 4 KiB segment
	c, ctx, tp, stop := withTopic(t, 3)
	defer stop()
	group := tp.Partitions[0].Group
	acked := vals("a", 12) // snapshots every 8 Raft entries
	for k := range acked {
		acked[k] += pad
	}
	c.appendAll(ctx, group, acked...)
	c.converged(ctx, acked)
	f := (c.leader(ctx, group) + 1) % 3
	l := c.sinks[f].log("t-0")
	l.SetRetention(1, 0) // every sealed segment may go
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	kept := l.EarliestOffset()
	c.stop(f)
	if snapNext := c.snapshotNext(f, group); kept > snapNext {
		t.Fatalf("retention deleted up to %d, past the last snapshot's end %d", kept, snapNext)
	}
	c.restartAndAppend(ctx, f, group, acked)
	if start := c.sinks[f].log("t-0").EarliestOffset(); start != kept {
		t.Fatalf("node %d's log starts at %d after its restart, not at %d", f+1, start, kept)
	}
}

// A node may switch between writing partitions' data once and twice
// (--cluster-entries-in-wal) across restarts: what it stored either way
// reads back, and the replicas stay byte for byte alike.
func TestSwitchingEntriesInWAL(t *testing.T) {
	defer goleak.VerifyNone(t)
	c, ctx, tp, stop := withTopic(t, 3)
	defer stop()
	group := tp.Partitions[0].Group
	var acked []string
	for round, inWAL := range []bool{true, false, true} {
		more := vals(fmt.Sprint("r", round, "-"), 4)
		c.appendAll(ctx, group, more...)
		acked = append(acked, more...)
		c.converged(ctx, acked)
		f := (c.leader(ctx, group) + 1) % 3
		c.stop(f)
		c.entriesInWAL = inWAL
		c.start(f)
		c.converged(ctx, acked)
	}
}

// restartAndAppend starts stopped node f, waits until it hosts group,
// appends two more records and waits until every replica holds acked and
// them; it returns them all.
func (c *replicaCluster) restartAndAppend(ctx context.Context, f int, group uint64, acked []string) []string {
	c.t.Helper()
	logw := &lockedBuffer{}
	c.logs[f] = logw
	c.start(f)
	c.hosts(ctx, f, group, logw)
	more := vals("b", 2)
	c.appendAll(ctx, group, more...)
	acked = append(slices.Clone(acked), more...)
	c.holds(ctx, acked)
	return acked
}

// snapshotNext is the log offset that node i's last snapshot of the
// partition's group ends at (0 with no snapshot), read off its disk while
// it is stopped.
func (c *replicaCluster) snapshotNext(i int, group uint64) int64 {
	c.t.Helper()
	snap, err := raftstore.ReadSnapshot(vfs.OS{}, filepath.Join(c.dirs[i], "cluster", fmt.Sprintf("g%d", group)))
	if err != nil {
		c.t.Fatal(err)
	}
	if len(snap.GetData()) == 0 {
		return 0
	}
	var s struct {
		Next int64 `json:"next"`
	}
	if err := json.Unmarshal(snap.GetData(), &s); err != nil {
		c.t.Fatalf("node %d's snapshot of group %d: %v", i+1, group, err)
	}
	return s.Next
}

// hosts waits until node i runs group, failing as soon as it logs that it
// could not start it.
func (c *replicaCluster) hosts(ctx context.Context, i int, group uint64, logw *lockedBuffer) {
	c.t.Helper()
	for {
		c.nodes[i].pmu.Lock()
		_, ok := c.nodes[i].parts[group]
		c.nodes[i].pmu.Unlock()
		if ok {
			return
		}
		for line := range strings.Lines(logw.String()) {
			if strings.Contains(line, "starting a partition's Raft group failed") {
				c.t.Fatalf("node %d: %s", i+1, line)
			}
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("node %d never started group %d", i+1, group)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// holds waits until every running node's log ends at len(want) and holds
// want from its first offset on, without a gap: the same message at every
// offset on every replica, whatever retention deleted below.
func (c *replicaCluster) holds(ctx context.Context, want []string) {
	c.t.Helper()
	for {
		seen := ""
		for i := range 3 {
			if c.stops[i] == nil {
				continue
			}
			l := c.sinks[i].log("t-0")
			if l == nil {
				seen = fmt.Sprintf("node %d has no log", i+1)
				break
			}
			start, end := l.EarliestOffset(), l.HighWatermark()
			got, _ := c.values(i)
			if end != int64(len(want)) || start > end || !slices.Equal(got, want[start:end]) {
				seen = fmt.Sprintf("node %d holds %d records from offset %d to %d", i+1, len(got), start, end)
				break
			}
		}
		if seen == "" {
			return
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("replicas never held the %d records: %s", len(want), seen)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A partition that cannot start on a node does not keep the topic's other
// partitions from starting there; before, the node stopped at the first
// failure and retried only that, every tick, for as long as it lasted.
func TestOnePartitionFailingLetsTheOthersStart(t *testing.T) {
	defer goleak.VerifyNone(t)
	c := newReplicaCluster(t, commitlog.FsyncInterval, false)
	defer c.stopAll()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFormed(ctx, t, c.nodes, 1)
	c.sinks[2].mu.Lock()
	c.sinks[2].refuse = "u-0"
	c.sinks[2].mu.Unlock()
	tp, err := c.nodes[0].CreateTopic(ctx, "u", 2, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	second := tp.Partitions[1].Group
	for {
		c.nodes[2].pmu.Lock()
		_, ok := c.nodes[2].parts[second]
		c.nodes[2].pmu.Unlock()
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node 3 never started partition 1 (group %d) while partition 0 could not start", second)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// An append passed to the partition's leader whose answer does not come
// back may have been applied: AppendVia says so rather than append it
// again. It took any failed call for one the leader never had, and
// appended the batch again at each retry (a dead letter, or a replayed
// message, written twice or more, and the last copy reported a success).
func TestAppendViaALostAnswerIsNotAppendedAgain(t *testing.T) {
	defer goleak.VerifyNone(t)
	c, ctx, tp, stop := withTopic(t, 3)
	defer stop()
	l := c.leader(ctx, tp.Partitions[0].Group)
	f := (l + 1) % 3
	// The leader takes calls from f but its answers never reach it.
	leader, via := uint64(l+1), uint64(f+1)
	c.nodes[l].tr.SetFault(func(from, to uint64) bool { return from != leader || to != via })
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	bases, err := c.nodes[f].AppendVia(actx, "t", 0, batch("once"))
	cancel()
	c.nodes[l].tr.SetFault(nil)
	if err == nil || !errors.Is(err, ErrPeerNoAnswer) {
		t.Errorf("AppendVia with its answer lost: %v %v, want an error wrapping ErrPeerNoAnswer", bases, err)
	}
	if n := c.sinks[l].log("t-0").NextOffset(); n > 1 {
		t.Fatalf("the leader's log holds %d records of one append", n)
	}
}
