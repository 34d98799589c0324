package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/periodic"
)

// A peer that leaves a call unanswered (paused by SIGSTOP, its link cut,
// its handler stuck) costs every caller the call's whole bound until the
// failure detector counts it down (Listed: liveWindow after its last
// frame, never for a stuck handler): a console polling a group's lag on a
// node that does not coordinate it piled up 2 s requests, each waiting
// out peerReadWait. So the node remembers the peer that left a call
// unanswered and, for unansweredRetry, answers its callers at once
// (errUnanswered) instead of waiting again; then one call at a time (a
// probe) asks the peer again, and an answer forgets it. A call that
// fails at once (nothing listens at the peer's address: a node killed or
// restarting; its link cut) costs its caller nothing and marks nothing,
// so a node restarted within the retry is asked as soon as it listens.
// The reads and listings of groups (PeerServe, PeerGroups) go through
// callPeer, which does this.

// unansweredRetry is how long after a call it left unanswered a peer is
// not asked again. A paused peer is counted down (Listed) liveWindow
// after its last frame, at most liveWindow-peerReadWait after a call it
// left unanswered: the first probe comes once the detector has decided.
// A peer that answers again meanwhile is asked again after this at most;
// until then a group's read answers NOT_COORDINATOR, which names the
// coordinator to ask directly. It exceeds the wait of every call that
// waits for nothing on the peer (2 s): then no such call begun before a
// mark is still under way when the mark's probe begins. A forwarded
// write waits longer (a long poll's wait, PeerRequest.Within): one begun
// before a mark may end during the probe, and marks the peer again if it
// went unanswered too, or lets a second probe begin if its caller gave
// up; either is what a caller then would have learnt of the peer.
const unansweredRetry = 5 * time.Second

// failedAtOnce is how soon a call's failure says nothing of a slow peer:
// a refused connection fails within a loopback or LAN round trip, while a
// paused peer (the kernel accepts for it) or an unreachable host (a dial
// timeout, 1 s) takes far longer. Well above a loaded machine's
// scheduling delays, well below the transport's dial timeout.
const failedAtOnce = 250 * time.Millisecond

// errUnanswered is a call not made: its peer left a recent call
// unanswered (unansweredPeers).
var errUnanswered = errors.New("node: the peer left a recent call unanswered; not asked again yet")

// unansweredPeers are the peers whose last call went unanswered. Its
// fields are guarded by mu; the zero value is ready. The methods take the
// time from the caller (unanswered_test.go drives them).
type unansweredPeers struct {
	mu    sync.Mutex
	peers map[uint64]*unansweredMark
}

// unansweredMark is one peer's call left unanswered.
type unansweredMark struct {
	at      time.Time // when the call was given up
	probing bool      // a call (the probe) is under way since unansweredRetry passed
}

// begin reports whether a call to peer may go at now: nil if the peer
// has no mark, or its mark is unansweredRetry old and no probe is under
// way (this call is then the probe: probe is true); else errUnanswered.
func (u *unansweredPeers) begin(peer uint64, now time.Time) (probe bool, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	m, ok := u.peers[peer]
	switch {
	case !ok:
		return false, nil
	case m.probing || now.Sub(m.at) < unansweredRetry:
		return false, fmt.Errorf("%w: node %d, last unanswered %v ago", errUnanswered, peer, now.Sub(m.at).Round(time.Millisecond))
	}
	m.probing = true
	return true, nil
}

// end records, at now, how a call begin let go ended: answered (the
// peer's mark is forgotten), left unanswered (the peer is marked as of
// now), or neither — given up by its caller first, or failed at once —
// which says nothing of the peer being slow (its mark stays as it was,
// and the next call may probe).
func (u *unansweredPeers) end(peer uint64, answered, saysNothing bool, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch m := u.peers[peer]; {
	case answered:
		delete(u.peers, peer)
	case saysNothing:
		if m != nil {
			m.probing = false
		}
	default:
		if u.peers == nil {
			u.peers = map[uint64]*unansweredMark{}
		}
		u.peers[peer] = &unansweredMark{at: now}
	}
}

// callPeer asks peer id req, waiting at most wait for the answer, which
// it decodes; a refusal is an error. A peer this node counts down
// (Listed), or that left a recent call unanswered (unansweredPeers), is
// not asked: the error says so at once; one counted down during a call
// waiting longer than a read (a write passed on: its bound is 16 s and
// more) is waited for no longer (cancelWhenDown). A call that got no answer in
// time, or failed only after failedAtOnce (a dial timing out), marks the
// peer; an answer (a refusal too) forgets the mark.
//
// A call waiting longer than a read is never the probe of a marked peer:
// every other call to the peer fails while a probe is under way, and a
// long poll passed on waits for messages up to its whole wait (a
// consumer's 30 s polls had every heartbeat, ack and read passed on to
// that peer refused meanwhile). Such a call pings the peer first, a
// call the peer answers at once, and goes once the ping is answered.
func (n *Node) callPeer(ctx context.Context, id uint64, req request, wait time.Duration) (answer, error) {
	if !n.Listed(id) {
		return answer{}, fmt.Errorf("node: node %d is down", id)
	}
	probe, err := n.unanswered.begin(id, time.Now())
	if err != nil {
		return answer{}, err
	}
	if probe && wait > peerReadWait {
		// Any answer is one, a node from before pings refusing it.
		if _, err := n.exchange(ctx, id, request{Ping: true}, peerReadWait); err != nil && !errors.Is(err, errPeerRefused) {
			// Not ErrPeerNoAnswer: req was never sent.
			return answer{}, fmt.Errorf("node: node %d did not answer a ping: %v", id, err)
		}
	}
	return n.exchange(ctx, id, req, wait)
}

// errPeerRefused is a call its peer answered with a refusal.
var errPeerRefused = errors.New("node: the peer refused the call")

// exchange is callPeer's call, once begin let it go: it ends it
// (unansweredPeers.end) as it went.
func (n *Node) exchange(ctx context.Context, id uint64, req request, wait time.Duration) (answer, error) {
	raw, _ := json.Marshal(req)
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, wait)
	var watch sync.WaitGroup
	if wait > peerReadWait {
		watch.Go(func() { n.cancelWhenDown(cctx, id, cancel) })
	}
	defer func() {
		cancel()
		watch.Wait()
	}()
	out, err := n.tr.Call(cctx, id, raw)
	end := time.Now()
	// A peer that refused the call as busy answered: it is not hung.
	n.unanswered.end(id, err == nil || errors.Is(err, ErrPeerBusy), ctx.Err() != nil || end.Sub(start) < failedAtOnce, end)
	if err != nil {
		return answer{}, err
	}
	var a answer
	if err := json.Unmarshal(out, &a); err != nil {
		return answer{}, fmt.Errorf("node: answer of node %d: %w", id, err)
	}
	if a.Refused != "" {
		return answer{}, fmt.Errorf("%w: node %d: %s", errPeerRefused, id, a.Refused)
	}
	return a, nil
}

// downCheck is how often a long call checks that its peer is still
// counted up.
const downCheck = 250 * time.Millisecond

// cancelWhenDown calls cancel once this node counts peer id down
// (Listed), or returns when ctx ends. A paused coordinator cost a write
// passed on to it the call's whole bound (18 s and more, seen), where
// the failure detector decides within liveWindow.
func (n *Node) cancelWhenDown(ctx context.Context, id uint64, cancel context.CancelFunc) {
	ctx, done := context.WithCancel(ctx)
	defer done()
	periodic.Every(ctx, downCheck, func() {
		if !n.Listed(id) {
			cancel()
			done()
		}
	})
}
