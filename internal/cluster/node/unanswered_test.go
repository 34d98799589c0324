package node

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// A peer that left a call unanswered is not asked again for
// unansweredRetry; then one call at a time probes it, and an answer
// forgets it. A caller giving up says nothing of the peer.
func TestUnansweredPeersProbeOneAtATime(t *testing.T) {
	const retry = unansweredRetry
	t0 := time.Unix(1000, 0)
	steps := []struct {
		name string
		at   time.Duration // since t0
		peer uint64
		op   string // "begin" (want says if it may go), "answered", "unanswered", "gave up"
		want bool
	}{
		{"a peer never marked is asked", 0, 2, "begin", true},
		{"so are concurrent calls", 0, 2, "begin", true},
		{"", 2 * time.Second, 2, "unanswered", false},
		{"a marked peer is not asked", 2*time.Second + 1, 2, "begin", false},
		{"nor just before the retry", 2*time.Second + retry - 1, 2, "begin", false},
		{"another peer is asked", 3 * time.Second, 3, "begin", true},
		{"", 4 * time.Second, 3, "gave up", false},
		{"a caller giving up marks nothing", 4 * time.Second, 3, "begin", true},
		{"the retry: one probe", 2*time.Second + retry, 2, "begin", true},
		{"a second call waits for the probe", 2*time.Second + retry, 2, "begin", false},
		{"", 4*time.Second + retry, 2, "unanswered", false},
		{"the probe unanswered marks again", 5*time.Second + retry, 2, "begin", false},
		{"the next probe", 4*time.Second + 2*retry, 2, "begin", true},
		{"", 4*time.Second + 2*retry, 2, "gave up", false},
		{"a probe given up by its caller frees the next", 4*time.Second + 2*retry, 2, "begin", true},
		{"", 5*time.Second + 2*retry, 2, "answered", false},
		{"an answer forgets the peer", 5*time.Second + 2*retry, 2, "begin", true},
		{"for every call", 5*time.Second + 2*retry, 2, "begin", true},
	}
	var u unansweredPeers
	for i, s := range steps {
		now := t0.Add(s.at)
		switch s.op {
		case "begin":
			_, err := u.begin(s.peer, now)
			if got := err == nil; got != s.want {
				t.Fatalf("step %d (%s): begin(node %d) = %v, want may go %v", i, s.name, s.peer, err, s.want)
			}
			if err != nil && !errors.Is(err, errUnanswered) {
				t.Fatalf("step %d (%s): %v, want errUnanswered", i, s.name, err)
			}
		case "answered", "unanswered", "gave up":
			u.end(s.peer, s.op == "answered", s.op == "gave up", now)
		default:
			t.Fatalf("step %d: unknown op %q", i, s.op)
		}
	}
}

// A coordinator that leaves a forwarded read unanswered (as a paused
// node does, or one whose handler is stuck, before the failure detector
// counts it down) costs its caller peerReadWait once: the next read and
// the groups' listing answer at once without asking it, where each waited
// 2 s again. After the retry, a probe finds it answering, and it is asked
// again as before.
func TestUnansweredPeerNotWaitedForAgain(t *testing.T) {
	defer goleak.VerifyNone(t)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	var reads, listings atomic.Int32
	hang := func(c *Config) {
		if c.ID != 3 {
			return
		}
		c.Serve = func(context.Context, PeerRequest) PeerAnswer {
			reads.Add(1)
			<-release
			return PeerAnswer{Status: 200}
		}
		c.Groups = func() ([]byte, error) {
			listings.Add(1)
			<-release
			return []byte("[]"), nil
		}
	}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes, stop := startNodesWith(t, 3, dirs, hang)
	defer stop()
	defer unblock() // before stop: the transport waits for its handlers
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFormed(ctx, t, nodes, 1)
	asker := nodes[0]
	req := PeerRequest{Path: "/groups/g/lag-history"}

	start := time.Now()
	if _, err := asker.PeerServe(ctx, 3, req); err == nil {
		t.Fatal("a read node 3 left unanswered succeeded")
	}
	if took := time.Since(start); took < peerReadWait {
		t.Fatalf("the unanswered read failed after %v, before peerReadWait (%v): not the case under test", took, peerReadWait)
	}

	start = time.Now()
	_, err := asker.PeerServe(ctx, 3, req)
	took := time.Since(start)
	if err == nil || reads.Load() != 1 {
		t.Fatalf("second read: err %v, node 3 asked %d times; want an error without asking it again", err, reads.Load())
	}
	if took >= peerReadWait/2 {
		t.Fatalf("second read answered after %v, want at once", took)
	}
	start = time.Now()
	lists, unreached := asker.PeerGroups(ctx)
	took = time.Since(start)
	if !slices.Equal(unreached, []uint64{3}) || len(lists) != 1 || listings.Load() != 0 {
		t.Fatalf("listing: unreached %v, lists of %d nodes, node 3 asked %d times; want node 3 unreached, not asked", unreached, len(lists), listings.Load())
	}
	if took >= peerGroupsWait/2 {
		t.Fatalf("listing answered after %v, want at once", took)
	}

	// Node 3 answers again; its mark comes of age (as after
	// unansweredRetry).
	unblock()
	asker.unanswered.mu.Lock()
	asker.unanswered.peers[3].at = time.Now().Add(-unansweredRetry)
	asker.unanswered.mu.Unlock()
	for i := range 2 {
		if a, err := asker.PeerServe(ctx, 3, req); err != nil || a.Status != 200 {
			t.Fatalf("read %d after node 3 answers again: %+v %v", i, a, err)
		}
	}
	if lists, unreached := asker.PeerGroups(ctx); len(unreached) != 0 || len(lists) != 2 {
		t.Fatalf("listing after node 3 answers again: unreached %v, lists of %d nodes", unreached, len(lists))
	}
	if reads.Load() != 3 || listings.Load() != 1 {
		t.Fatalf("node 3 served %d reads and %d listings, want 3 and 1", reads.Load(), listings.Load())
	}
}

// A call that fails at once (nothing listens at the peer's address, as
// while it restarts; here its link cut) marks nothing: once the peer is
// back the next read asks it, where it answered NOT_COORDINATOR without
// asking for unansweredRetry (5 s) after a quick restart.
func TestPeerFailingAtOnceIsAskedAgain(t *testing.T) {
	defer goleak.VerifyNone(t)
	var reads atomic.Int32
	answer := func(c *Config) {
		if c.ID == 3 {
			c.Serve = func(context.Context, PeerRequest) PeerAnswer {
				reads.Add(1)
				return PeerAnswer{Status: 200}
			}
		}
	}
	nodes, stop := startNodesWith(t, 3, []string{t.TempDir(), t.TempDir(), t.TempDir()}, answer)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFormed(ctx, t, nodes, 1)
	asker := nodes[0]
	req := PeerRequest{Path: "/groups/g/lag-history"}

	asker.tr.SetFault(func(from, to uint64) bool { return from != 3 && to != 3 })
	start := time.Now()
	if _, err := asker.PeerServe(ctx, 3, req); err == nil {
		t.Fatal("a read of node 3, cut off, succeeded")
	}
	if took := time.Since(start); took >= failedAtOnce {
		t.Fatalf("the read of a node cut off failed after %v, not at once: not the case under test", took)
	}
	asker.tr.SetFault(nil)
	if a, err := asker.PeerServe(ctx, 3, req); err != nil || a.Status != 200 || reads.Load() != 1 {
		t.Fatalf("read once node 3 is back: %+v %v, node 3 asked %d times; want it asked and answering", a, err, reads.Load())
	}
}

// A long call (a long poll passed on) is never the probe of a peer that
// left a call unanswered: a probe holds every other call to the peer,
// which fails at once until it ends, and a poll waits for messages up to
// its whole wait. With a consumer long-polling through another node, a
// coordinator that once left a read unanswered had every heartbeat, ack
// and read passed on to it refused for as long as the poll waited. A
// short ping probes the peer first instead.
func TestUnansweredPeerProbedByAPingNotALongCall(t *testing.T) {
	defer goleak.VerifyNone(t)
	release := make(chan struct{})
	polling := make(chan struct{}, 1)
	serve := func(c *Config) {
		if c.ID != 3 {
			return
		}
		c.Serve = func(ctx context.Context, req PeerRequest) PeerAnswer {
			if req.Path == "/groups/g/poll" {
				polling <- struct{}{}
				select { // a long poll: no message comes
				case <-release:
				case <-ctx.Done():
				}
			}
			return PeerAnswer{Status: 200}
		}
	}
	nodes, stop := startNodesWith(t, 3, []string{t.TempDir(), t.TempDir(), t.TempDir()}, serve)
	defer stop()
	defer close(release) // before stop: the transport waits for its handlers
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFormed(ctx, t, nodes, 1)
	asker := nodes[0]

	// Node 3 left a call unanswered unansweredRetry ago: the next call
	// probes it.
	asker.unanswered.end(3, false, false, time.Now().Add(-unansweredRetry))
	var poll sync.WaitGroup
	defer poll.Wait()
	pollCtx, endPoll := context.WithCancel(ctx)
	defer endPoll()
	poll.Go(func() {
		asker.PeerServe(pollCtx, 3, PeerRequest{Method: "POST", Path: "/groups/g/poll", Within: 30 * time.Second})
	})
	select {
	case <-polling:
	case <-ctx.Done():
		t.Fatal("the long poll never reached node 3")
	}
	for _, req := range []PeerRequest{
		{Method: "POST", Path: "/groups/g/heartbeat", Within: time.Second},
		{Path: "/groups/g"},
	} {
		if a, err := asker.PeerServe(ctx, 3, req); err != nil || a.Status != 200 {
			t.Errorf("%s %s during a long poll on node 3, which answers: %+v %v", req.Method, req.Path, a, err)
		}
	}
	endPoll()
	poll.Wait()

	// A ping unanswered: the call it went before was never sent, so its
	// error is not ErrPeerNoAnswer (a write that may have been applied).
	asker.unanswered.end(3, false, false, time.Now().Add(-unansweredRetry))
	nodes[2].tr.SetFault(func(from, to uint64) bool { return from != 3 || to != 1 })
	_, err := asker.PeerServe(ctx, 3, PeerRequest{Method: "POST", Path: "/groups/g/poll", Within: time.Second})
	nodes[2].tr.SetFault(nil)
	if err == nil || errors.Is(err, ErrPeerNoAnswer) || len(polling) != 0 {
		t.Fatalf("a long call after an unanswered ping: %v, node 3 served it: %v; want an error that it was not sent", err, len(polling) != 0)
	}
}
