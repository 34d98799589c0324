package multiraft

import (
	"context"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Transport is what a Node needs from the network: a non-blocking send of
// envelopes to the nodes named in their messages, and a failure detector
// (the peers that seem down) for quiesced groups. Restarts of peers come
// through Node.Restarted.
type Transport interface {
	Send(envs []Envelope)
	Down() []uint64
}

// Node runs a Host on a real clock: one goroutine (Run) owns the host, ticks
// it, steps what the transport delivers, runs the requests of other
// goroutines, and after each batch of events processes every group once —
// so one fsync per store covers everything that arrived together.
type Node struct {
	host        *Host // owned by Run
	tick        time.Duration
	inbox       chan []Envelope
	reqs        chan func(*Host)
	unreachable chan uint64
	// restarted holds the peers whose restart the transport reported
	// and Run has not yet passed on; restartedNote wakes Run for them.
	// Unlike a lost message, a lost restart would leave a group
	// following a dead leader, so it is never dropped.
	restartedMu   sync.Mutex
	restarted     []uint64
	restartedNote chan struct{}
	done          chan struct{} // closed when Run returns
}

// NewNode wraps host; tick is the length of one Raft tick (100 ms is
// sane: with the Config defaults, a 2–4 s election timeout).
func NewNode(host *Host, tick time.Duration) *Node {
	return &Node{
		host: host, tick: tick,
		inbox:         make(chan []Envelope, 1024),
		reqs:          make(chan func(*Host), 256),
		unreachable:   make(chan uint64, 64),
		restartedNote: make(chan struct{}, 1),
		done:          make(chan struct{}),
	}
}

// Deliver hands messages from the network to the node. It never blocks: if
// the node is that far behind, the batch is dropped and Raft retries.
func (n *Node) Deliver(_ uint64, envs []Envelope) {
	select {
	case n.inbox <- envs:
	default:
	}
}

// Restarted tells the host that peer's process restarted
// (Host.PeerRestarted). It never blocks.
func (n *Node) Restarted(peer uint64) {
	n.restartedMu.Lock()
	n.restarted = append(n.restarted, peer)
	n.restartedMu.Unlock()
	select {
	case n.restartedNote <- struct{}{}:
	default:
	}
}

// Unreachable tells every group that peer lost messages.
func (n *Node) Unreachable(peer uint64) {
	select {
	case n.unreachable <- peer:
	default:
	}
}

// maxBatch bounds how many events one pass takes before it processes.
const maxBatch = 256

// Run drives the host until ctx ends or storage fails; it closes the host
// (failing pending proposals with ErrStopped) before it returns.
func (n *Node) Run(ctx context.Context, tr Transport) error {
	defer close(n.done)
	defer n.host.Close()
	t := time.NewTicker(n.tick)
	defer t.Stop()
	flush := time.NewTicker(n.host.cfg.FlushEvery)
	defer flush.Stop()
	fl := &flusher{host: n.host, done: make(chan error, 1)}
	defer fl.wait() // before the deferred Close
	for {
		// A pass can leave work for the next one without any new event:
		// entries a single-voter group committed by persisting them (raft
		// commits them after Advance), so the next pass must not wait for
		// a tick (a 1-node group answered every proposal a tick late).
		if n.host.HasReady() {
			if ctx.Err() != nil {
				return nil
			}
			goto drain
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			n.host.Tick()
			for _, p := range tr.Down() {
				n.host.PeerDown(p)
			}
		case <-flush.C:
			fl.tick()
		case err := <-fl.done:
			if err := fl.finished(err); err != nil {
				return err
			}
		case envs := <-n.inbox:
			n.step(envs)
		case fn := <-n.reqs:
			fn(n.host)
		case p := <-n.unreachable:
			n.reportUnreachable(p)
		case <-n.restartedNote:
			n.restartedMu.Lock()
			peers := n.restarted
			n.restarted = nil
			n.restartedMu.Unlock()
			for _, p := range peers {
				n.host.PeerRestarted(p)
			}
		}
	drain:
		for range maxBatch {
			select {
			case envs := <-n.inbox:
				n.step(envs)
			case fn := <-n.reqs:
				fn(n.host)
			case p := <-n.unreachable:
				n.reportUnreachable(p)
			case err := <-fl.done: // a busy loop may not reach the select above
				if err := fl.finished(err); err != nil {
					return err
				}
			default:
				break drain
			}
		}
		out, err := n.host.Process(tr.Send)
		if err != nil {
			return err
		}
		if len(out) == 0 {
			continue
		}
		tr.Send(out)
		for _, e := range out {
			if e.Msg.GetType() == pb.MsgSnap {
				// Reported as arrived once queued: if it is lost, the
				// follower rejects the next append and the leader probes and
				// sends a snapshot again. Snapshots here are small metadata.
				n.host.ReportSnapshot(e.Group, e.Msg.GetTo(), true)
			}
		}
	}
}

// flusher runs the syncs of Host.FlushLater beside the loop, one at a
// time: a flush that falls due while one runs starts as soon as it ends,
// so a slow disk stretches the time to a sync by that fsync, not by a
// whole FlushEvery more. Only Run's goroutine uses it.
type flusher struct {
	host          *Host
	done          chan error // the running flush's result
	running, owed bool
}

func (f *flusher) tick() {
	if f.running {
		f.owed = true
		return
	}
	if sync := f.host.FlushLater(); sync != nil {
		f.running = true
		go func() { f.done <- sync() }()
	}
}

// finished takes the running flush's result and starts one owed.
func (f *flusher) finished(err error) error {
	f.running = false
	if err != nil {
		return err
	}
	if f.owed {
		f.owed = false
		f.tick()
	}
	return nil
}

// wait waits for the running flush, if any.
func (f *flusher) wait() {
	if f.running {
		<-f.done
		f.running = false
	}
}

func (n *Node) step(envs []Envelope) {
	for _, e := range envs {
		n.host.Step(e)
	}
}

func (n *Node) reportUnreachable(peer uint64) {
	for _, g := range n.host.Groups() {
		n.host.ReportUnreachable(g, peer)
	}
}

// do runs fn on the node's goroutine.
func (n *Node) do(ctx context.Context, fn func(*Host)) error {
	select {
	case n.reqs <- fn:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

// Propose proposes cmd to group and waits until it is applied here (its
// result), known lost (ErrDropped, NotLeaderError), or ctx ends — in which
// case the command may still be applied later. cmd is copied before
// anything is queued: the caller's buffer is never read after Propose
// returns, whatever it returns.
func (n *Node) Propose(ctx context.Context, group uint64, cmd []byte) (Result, error) {
	ch := make(chan Result, 1)
	data := framed(cmd)
	if err := n.do(ctx, func(h *Host) { h.proposeFramed(group, data, func(r Result) { ch <- r }) }); err != nil {
		return Result{}, err
	}
	select {
	case r := <-ch:
		return r, r.Err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-n.done:
		return Result{}, ErrStopped
	}
}

// Status returns group's Raft state as this node sees it.
func (n *Node) Status(ctx context.Context, group uint64) (Status, error) {
	type answer struct {
		st  Status
		err error
	}
	ch := make(chan answer, 1)
	if err := n.do(ctx, func(h *Host) {
		st, err := h.Status(group)
		ch <- answer{st, err}
	}); err != nil {
		return Status{}, err
	}
	select {
	case a := <-ch:
		return a.st, a.err
	case <-ctx.Done():
		return Status{}, ctx.Err()
	case <-n.done:
		return Status{}, ErrStopped
	}
}

// ReadIndex waits until this node's state machine of group reflects every
// write acknowledged before the call (a linearizable read point), then
// returns: the caller reads its state machine next. ErrDropped means no
// leader confirmed the read in time; retry.
func (n *Node) ReadIndex(ctx context.Context, group uint64) error {
	ch := make(chan error, 1)
	if err := n.do(ctx, func(h *Host) { h.ReadIndex(group, func(err error) { ch <- err }) }); err != nil {
		return err
	}
	return n.await(ctx, ch)
}
