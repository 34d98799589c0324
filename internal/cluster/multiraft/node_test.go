package multiraft_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// loopback is a Transport for a one-node cluster: there is nobody to send to.
type loopback struct{}

func (loopback) Send([]multiraft.Envelope) {}
func (loopback) Down() []uint64            { return nil }

// TestNodeProposesAndStops runs a one-node group on a real clock and disk:
// a proposal returns the state machine's answer once applied, the state
// survives a restart, and after Run ends a proposal is ErrStopped, with no
// goroutine left behind.
func TestNodeProposesAndStops(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	run := func(cmds ...string) []multiraft.Result {
		o := startOneNode(t, dir)
		var out []multiraft.Result
		for _, c := range cmds {
			out = append(out, o.propose(t, c))
		}
		o.stop(t)
		if _, err := o.n.Propose(context.Background(), 7, []byte("g a")); !errors.Is(err, multiraft.ErrStopped) {
			t.Fatalf("propose after stop: %v", err)
		}
		return out
	}
	if r := run("p a 1", "g a"); r[1].Value != "1" {
		t.Fatalf("get after put: %v", r[1].Value)
	}
	if r := run("g a"); r[0].Value != "1" {
		t.Fatalf("after restart: %v", r[0].Value)
	}
}

// A restarted host's state machines hold only their snapshots until
// ApplyCommitted replays what the store holds as committed: a caller that
// reads a state machine before the host runs (the cluster's metadata,
// read by the HTTP API as soon as the node opens) must not see a state
// older than the one the node applied before it stopped.
func TestApplyCommittedReplaysBeforeRunning(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	open := func() (*multiraft.Host, *kv) {
		h, err := multiraft.New(multiraft.Config{NodeID: 1, FS: vfs.OS{}, Dir: dir, ElectionTicks: 10, HeartbeatTicks: 1})
		if err != nil {
			t.Fatal(err)
		}
		sm := &kv{node: 1, group: 7, ledger: newLedger(func() int64 { return 0 })}
		if err := h.AddGroup(7, []uint64{1}, sm); err != nil {
			t.Fatal(err)
		}
		return h, sm
	}
	h, _ := open()
	n := multiraft.NewNode(h, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	done := make(chan error)
	go func() { done <- n.Run(ctx, loopback{}) }()
	if err := n.Campaign(ctx, 7); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := n.Propose(ctx, 7, []byte("p a 1"))
		var nl *multiraft.NotLeaderError
		if errors.As(err, &nl) && ctx.Err() == nil {
			continue // the campaign's pass has not run yet
		}
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	h, sm := open()
	defer h.Close()
	if got := sm.state.Data["a"]; got != "" {
		t.Fatalf("restored from a snapshot taken after the put (a=%q): the test proves nothing", got)
	}
	if err := h.ApplyCommitted(); err != nil {
		t.Fatal(err)
	}
	if got := sm.state.Data["a"]; got != "1" {
		t.Fatalf("after ApplyCommitted a=%q, want the committed 1", got)
	}
}

// A single-voter group commits an entry by persisting it, and raft hands
// it back for applying only after that pass's Advance: the loop must run
// the next pass at once, not at the next event. With a tick of an hour
// (no tick ever fires), a campaign and a proposal still complete.
func TestSingleVoterNeedsNoTick(t *testing.T) {
	defer goleak.VerifyNone(t)
	n, ctx, stop := singleVoter(t, multiraft.Config{NodeID: 1, FS: vfs.OS{}, Dir: t.TempDir()}, 10*time.Second)
	r, err := proposeLed(ctx, n, "p a 1")
	if err != nil {
		t.Fatalf("propose without ticks: %v", err)
	}
	if r.Index == 0 {
		t.Fatalf("result %+v", r)
	}
	stop()
}

// singleVoter runs group 3 of one voter on a node whose tick never fires
// (an hour), and campaigns; stop ends the run and fails t if it failed.
func singleVoter(t *testing.T, cfg multiraft.Config, timeout time.Duration) (*multiraft.Node, context.Context, func()) {
	t.Helper()
	h, err := multiraft.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddGroup(3, []uint64{1}, &kv{node: 1, group: 3, ledger: newLedger(func() int64 { return 0 })}); err != nil {
		t.Fatal(err)
	}
	n := multiraft.NewNode(h, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, loopback{}) }()
	stop := func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Campaign(ctx, 3); err != nil {
		stop()
		t.Fatal(err)
	}
	return n, ctx, stop
}

// proposeLed proposes cmd to group 3, again while the campaign's pass has
// not made the node its leader yet.
func proposeLed(ctx context.Context, n *multiraft.Node, cmd string) (multiraft.Result, error) {
	for {
		r, err := n.Propose(ctx, 3, []byte(cmd))
		var nl *multiraft.NotLeaderError
		if errors.As(err, &nl) && ctx.Err() == nil {
			continue
		}
		return r, err
	}
}

// Large entries are snapshotted by size, not only by count: the log
// between snapshots lives in memory and in the WAL, and a group of 1 MiB
// produce batches held thousands of them before SnapshotEvery was reached.
// 200 entries of 64 KiB (12.5 MiB) with SnapshotBytes at 1 MiB leave a
// store of a few MiB (a WAL segment is rewritten once it passes 2
// SnapshotBytes); without the bound, all of them.
func TestLargeEntriesSnapshotBySize(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	n, ctx, stop := singleVoter(t, multiraft.Config{NodeID: 1, FS: vfs.OS{}, Dir: dir, SnapshotEvery: 1 << 20, SnapshotBytes: 1 << 20}, 30*time.Second)
	value := strings.Repeat("v", 64<<10)
	for range 200 {
		if _, err := proposeLed(ctx, n, "p a "+value); err != nil { // one key: the state stays small
			stop()
			t.Fatal(err)
		}
	}
	stop()
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			size += info.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if size > 4<<20 {
		t.Fatalf("the store holds %d bytes after 12.5 MiB of entries with SnapshotBytes 1 MiB", size)
	}
}

// Propose copies the command before it queues anything: a caller that
// gave up (its context done) may reuse its buffer at once — the broker
// proposes a produce request's own bytes — and what is applied later is
// still what was proposed, never what the buffer held afterwards.
func TestProposeCopiesTheCommandFirst(t *testing.T) {
	defer goleak.VerifyNone(t)
	o := startOneNode(t, t.TempDir())
	o.propose(t, "g a")

	gaveUp, stop := context.WithCancel(context.Background())
	stop()
	sent := map[string]bool{"g a": true}
	buf := make([]byte, 0, 32)
	for i := range 500 {
		buf = fmt.Appendf(buf[:0], "p k%d v%d", i, i)
		sent[string(buf)] = true
		_, _ = o.n.Propose(gaveUp, 7, buf) // queued or not, it returns at once
		for j := range buf {
			buf[j] = 'x'
		}
	}
	o.propose(t, "g a") // applied after every one queued before it
	o.stop(t)
	given := 0
	for i, c := range o.led.at[7] {
		if !sent[c] {
			t.Errorf("index %d applied %q, which was never proposed", i, c)
		}
		if strings.HasPrefix(c, "p ") {
			given++
		}
	}
	if given == 0 {
		t.Fatal("none of the proposals given up on was queued: the test proved nothing")
	}
	t.Logf("%d of 500 proposals given up on were applied", given)
}

// oneNode is a one-node group 7 (a kv) run by a Node on a real clock and
// disk.
type oneNode struct {
	n      *multiraft.Node
	led    *ledger
	ctx    context.Context
	cancel context.CancelFunc
	done   chan error
}

// startOneNode opens the host in dir and runs its Node until stop.
func startOneNode(t *testing.T, dir string) *oneNode {
	t.Helper()
	h, err := multiraft.New(multiraft.Config{NodeID: 1, FS: vfs.OS{}, Dir: dir, ElectionTicks: 10, HeartbeatTicks: 1})
	if err != nil {
		t.Fatal(err)
	}
	o := &oneNode{led: newLedger(func() int64 { return 0 }), done: make(chan error)}
	if err := h.AddGroup(7, []uint64{1}, &kv{node: 1, group: 7, ledger: o.led}); err != nil {
		t.Fatal(err)
	}
	o.n = multiraft.NewNode(h, time.Millisecond)
	o.ctx, o.cancel = context.WithCancel(context.Background())
	go func() { o.done <- o.n.Run(o.ctx, loopback{}) }()
	return o
}

// propose proposes cmd until the node, once elected, applies it.
func (o *oneNode) propose(t *testing.T, cmd string) multiraft.Result {
	t.Helper()
	for {
		r, err := o.n.Propose(o.ctx, 7, []byte(cmd))
		var nl *multiraft.NotLeaderError
		if errors.As(err, &nl) { // not elected yet
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

// stop ends the Node's Run and waits for it; the ledger may be read after.
func (o *oneNode) stop(t *testing.T) {
	t.Helper()
	o.cancel()
	if err := <-o.done; err != nil {
		t.Fatal(err)
	}
}

// Node.Run flushes a SyncOnFlush group's entries beside its loop, and a
// flush whose fsync fails ends Run with the failure, as one on the loop
// did: after a failed fsync the kernel may have dropped the pages, and a
// node that cannot persist must not vote or acknowledge. Writes go on
// succeeding; only fsyncs fail, once a put is applied, and the lazy
// group's entries leave nothing but the flush to sync them.
func TestNodeFailsWithItsFlush(t *testing.T) {
	defer goleak.VerifyNone(t)
	disk := vfs.NewMem()
	h, err := multiraft.New(multiraft.Config{NodeID: 1, FS: disk, Dir: "/n", FlushEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sm := &kv{node: 1, group: 3, ledger: newLedger(func() int64 { return 0 }), durability: multiraft.SyncOnFlush}
	if err := h.AddGroup(3, []uint64{1}, sm); err != nil {
		t.Fatal(err)
	}
	n := multiraft.NewNode(h, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, loopback{}) }()
	if err := n.Campaign(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := proposeLed(ctx, n, "p a 1"); err != nil {
		t.Fatal(err)
	}
	disk.FailSyncs(errSyncFailed)
	// Acknowledged once written, unless the flush of the first put's
	// entry has already failed and stopped the node.
	if _, err := proposeLed(ctx, n, "p b 2"); err != nil && !errors.Is(err, multiraft.ErrStopped) {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, errSyncFailed) {
			t.Fatalf("Run ended with %v, want the failed flush's error", err)
		}
	case <-ctx.Done():
		t.Fatal("Run went on after its flush failed")
	}
}

var errSyncFailed = errors.New("test: fsync failed")
