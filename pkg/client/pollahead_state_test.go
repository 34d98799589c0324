package client

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// aheadConsumer is a consumer joined once, owning orders/0 and orders/1,
// revoking orders/1, having released orders/2, with msgs polled ahead. It
// has no broker: only its state is used.
func aheadConsumer(msgs ...*Message) *Consumer {
	c := &Consumer{state: newMemberState()}
	s := &c.state
	s.joined, s.session = true, s.session+1 // joined once
	s.owned[tp{"orders", 0}] = true
	s.owned[tp{"orders", 1}] = true
	s.revoking[tp{"orders", 1}] = time.Now().Add(time.Minute)
	s.released[tp{"orders", 2}] = true
	s.ahead, s.aheadAt = msgs, time.Now()
	return c
}

func msgAt(p int32, off int64) *Message {
	return &Message{Topic: "orders", Partition: p, Offset: off, DeliveryCount: 1}
}

func offsets(msgs []*Message) []int64 {
	var out []int64
	for _, m := range msgs {
		out = append(out, m.Offset)
	}
	return out
}

// Messages polled ahead are handed out as a poll answer is: those of a
// partition being revoked or released go back (a nack with release) and
// are never held; the rest are held only once handed out; a smaller Poll
// leaves the rest polled ahead.
func TestTakeAheadHandsOutOnlyOwnedPartitions(t *testing.T) {
	c := aheadConsumer(msgAt(0, 5), msgAt(1, 6), msgAt(2, 7), msgAt(0, 8), msgAt(3, 9))
	if n := c.state.unackedLocked(false); n != 5 {
		t.Fatalf("unacked %d, want the 5 polled ahead", n)
	}
	if got := offsets(c.takeAhead(2)); !slices.Equal(got, []int64{5}) {
		t.Fatalf("first take %v, want [5]", got)
	}
	if len(c.state.ahead) != 3 || c.state.heldLocked(tp{"orders", 0}) != 1 {
		t.Fatalf("%d left ahead, %d held; want 3, 1", len(c.state.ahead), c.state.heldLocked(tp{"orders", 0}))
	}
	if got := offsets(c.takeAhead(10)); !slices.Equal(got, []int64{8, 9}) {
		t.Fatalf("second take %v, want [8 9] (orders/3 was assigned meanwhile)", got)
	}
	if !c.state.owned[tp{"orders", 3}] || len(c.state.ahead) != 0 {
		t.Fatalf("orders/3 owned %v, %d left ahead", c.state.owned[tp{"orders", 3}], len(c.state.ahead))
	}
	var back []int64
	for _, n := range c.state.nacks {
		if !n.opts.release || !n.opts.Requeue {
			t.Fatalf("nack %+v is not a hand-back", n)
		}
		back = append(back, n.ref.Offset)
	}
	if !slices.Equal(back, []int64{6, 7}) {
		t.Fatalf("handed back %v, want [6 7]", back)
	}
	if c.state.heldLocked(tp{"orders", 1}) != 0 || c.state.heldLocked(tp{"orders", 2}) != 0 {
		t.Fatal("a message handed back is held")
	}
}

// A release forgets the messages polled ahead of the partitions released
// (the broker hands them off with the partition) and keeps the others.
func TestReleaseForgetsWhatWasPolledAheadOfIt(t *testing.T) {
	c := aheadConsumer(msgAt(0, 5), msgAt(1, 6), msgAt(0, 7), msgAt(1, 8))
	c.state.releaseLocked([]tp{{"orders", 1}})
	if got := offsets(c.state.ahead); !slices.Equal(got, []int64{5, 7}) {
		t.Fatalf("left ahead %v, want [5 7]", got)
	}
	if len(c.state.nacks) != 0 {
		t.Fatalf("release queued %d nacks", len(c.state.nacks))
	}
}

// What waited past half the visibility timeout goes back, and not before.
func TestStaleAheadGoesBack(t *testing.T) {
	c := aheadConsumer(msgAt(0, 5), msgAt(0, 6))
	c.cfg.VisibilityTimeout = 10 * time.Second
	at := c.state.aheadAt
	if due := c.aheadDueLocked(); !due.Equal(at.Add(5 * time.Second)) {
		t.Fatalf("due %v after arrival, want 5s", due.Sub(at))
	}
	c.handBackStaleLocked(at.Add(4 * time.Second))
	if len(c.state.ahead) != 2 || len(c.state.nacks) != 0 {
		t.Fatalf("handed back early: %d ahead, %d nacks", len(c.state.ahead), len(c.state.nacks))
	}
	c.handBackStaleLocked(at.Add(5 * time.Second))
	if due := time.Until(c.aheadDueLocked()); due <= 0 || due > 5*time.Second/2 {
		t.Fatalf("with nothing polled ahead, run looks again in %v, want a quarter of the visibility timeout", due)
	}
	if len(c.state.ahead) != 0 || len(c.state.nacks) != 2 {
		t.Fatalf("not handed back: %d ahead, %d nacks", len(c.state.ahead), len(c.state.nacks))
	}
}

// The cap's count: held, polled ahead, and consumed unless committed.
func TestUnackedCountsWhatTheBrokerCounts(t *testing.T) {
	c := aheadConsumer(msgAt(0, 9))
	p := c.state.partLocked(tp{"orders", 0})
	p.held.add(5)
	p.held.add(6)
	c.state.consumedN = 3
	if n := c.state.unackedLocked(false); n != 6 {
		t.Fatalf("unacked %d, want 2 held + 1 ahead + 3 consumed", n)
	}
	if n := c.state.unackedLocked(true); n != 3 {
		t.Fatalf("unacked when committing %d, want 3", n)
	}
}

// Poll polls ahead after an application that was quick over its previous
// messages, never past the in-flight cap, and not after a slow one (what
// it would poll ahead would likely wait long enough to be handed back).
func TestStartAheadFollowsTheApplicationsPace(t *testing.T) {
	c := aheadConsumer()
	c.cfg.VisibilityTimeout = 8 * time.Second // polled ahead if taken within 1 s
	c.aheadReq = make(chan *aheadJob, 1)
	round := func(held int) int {
		t.Helper()
		p := c.state.partLocked(tp{"orders", 0})
		p.held.clear()
		for i := range held {
			p.held.add(int64(i))
		}
		c.startAhead(300, 0, false)
		if c.round == nil {
			t.Fatal("no round started")
		}
		j := <-c.aheadReq
		c.round = nil
		return j.want
	}
	if want := round(0); want != 300 {
		t.Fatalf("first round asks for %d, want 300", want)
	}
	if want := round(900); want != 100 {
		t.Fatalf("with 900 of the default 1000 held, a round asks for %d, want 100", want)
	}
	c.handedOut = time.Now().Add(-2 * time.Second)
	if want := round(0); want != 0 {
		t.Fatalf("after a slow application, a round asks for %d, want 0 (flush only)", want)
	}
	if want := round(0); want != 300 {
		t.Fatalf("after a quick one again, a round asks for %d, want 300", want)
	}
	c.cfg.SerialPolls = true
	if want := round(0); want != 0 {
		t.Fatalf("with SerialPolls, a round asks for %d", want)
	}
}

// rawOf is a stored-batches answer of orders/p's offsets from..to (a batch
// of them alone), kept undecoded as a poll-ahead round keeps it.
func rawOf(t *testing.T, p int32, from, to int64) rawAnswer {
	t.Helper()
	body := appendStoredFrame(nil, "orders", p, []storedRange{{from, to, 1}}, valuesBatch(t, from, 0, int(to-from+1), recordbatch.None))
	var a pollAnswer
	a.lazy = true
	h := http.Header{"Content-Type": {api.PollStoredContentType}}
	if err := a.read(h, body); err != nil || a.msgs != nil || a.rawN != int(to-from+1) {
		t.Fatalf("lazy read: %v, %d messages decoded, %d named", err, len(a.msgs), a.rawN)
	}
	return rawAnswer{a.raw, a.rawN}
}

// Answers polled ahead and kept undecoded count against the cap, are
// decoded by the Poll that hands them out, in the order polled after the
// messages decoded already, and are decoded first by a release (which
// forgets those of its partitions) and a hand-back.
func TestRawAnswersPolledAhead(t *testing.T) {
	c := aheadConsumer(msgAt(0, 1))
	c.state.aheadRaw = []rawAnswer{rawOf(t, 0, 2, 4), rawOf(t, 3, 10, 11)}
	if n := c.state.unackedLocked(false); n != 6 {
		t.Fatalf("unacked %d, want 1 decoded + 5 raw", n)
	}
	if got := offsets(c.takeAhead(10)); !slices.Equal(got, []int64{1}) {
		t.Fatalf("first take %v, want the decoded [1] first", got)
	}
	if got := offsets(c.takeAhead(2)); !slices.Equal(got, []int64{2, 3}) {
		t.Fatalf("second take %v, want [2 3]", got)
	}
	if len(c.state.ahead) != 1 || len(c.state.aheadRaw) != 1 || c.state.aheadLenLocked() != 3 {
		t.Fatalf("left %d decoded, %d raw answers, %d in all; want 1, 1, 3", len(c.state.ahead), len(c.state.aheadRaw), c.state.aheadLenLocked())
	}
	c.state.aheadRaw = append(c.state.aheadRaw, rawOf(t, 0, 20, 21))
	c.state.releaseLocked([]tp{{"orders", 3}})
	if got := offsets(c.state.ahead); !slices.Equal(got, []int64{4, 20, 21}) || c.state.aheadRaw != nil {
		t.Fatalf("after the release of orders/3: ahead %v, %d raw; want [4 20 21], none", got, len(c.state.aheadRaw))
	}
	c.state.aheadRaw = append(c.state.aheadRaw, rawOf(t, 0, 30, 30))
	c.state.handBackAheadLocked()
	var back []int64
	for _, n := range c.state.nacks {
		back = append(back, n.ref.Offset)
	}
	if !slices.Equal(back, []int64{4, 20, 21, 30}) || c.state.aheadLenLocked() != 0 {
		t.Fatalf("handed back %v, %d left ahead; want [4 20 21 30], 0", back, c.state.aheadLenLocked())
	}
}

// An answer polled ahead that does not decode is dropped, as one that did
// not read: nothing of it is handed out or held.
func TestRawAnswerThatDoesNotDecodeIsDropped(t *testing.T) {
	c := aheadConsumer()
	bad := rawOf(t, 0, 2, 4)
	bad.body[len(bad.body)-1] ^= 1 // the CRC no longer matches
	c.state.aheadRaw = []rawAnswer{bad}
	if got := c.takeAhead(10); len(got) != 0 || c.state.aheadLenLocked() != 0 || c.state.heldLocked(tp{"orders", 0}) != 0 {
		t.Fatalf("handed out %d, %d left ahead, %d held", len(got), c.state.aheadLenLocked(), c.state.heldLocked(tp{"orders", 0}))
	}
}

// Messages of a partition whose OnAssigned has not returned are kept back
// apart, not in front of the rest polled ahead: Poll still hands out those
// behind them (before the fix it found none and polled the broker for
// newer ones). They count as polled ahead, are handed out first and in
// order once OnAssigned returned, before any later message of their
// partition, a poll's answer included, and a release forgets them and a
// hand-back gives them back as any message polled ahead.
func TestKeptBackWhileAnnouncing(t *testing.T) {
	y := tp{"orders", 3}
	c := aheadConsumer(msgAt(3, 1), msgAt(3, 2), msgAt(0, 3), msgAt(0, 4))
	s := &c.state
	s.owned[y], s.announcing[y] = true, 1
	if got := offsets(c.takeAhead(2)); !slices.Equal(got, []int64{3, 4}) {
		t.Fatalf("took %v while orders/3 announcing, want [3 4]", got)
	}
	answer := []*Message{msgAt(3, 5), msgAt(0, 6)}
	if got := offsets(c.accept(s.session, s.releases, handBackCrossed, answer)); !slices.Equal(got, []int64{6}) {
		t.Fatalf("accepted %v of a poll's answer, want [6]", got)
	}
	if n := s.aheadLenLocked(); n != 3 || s.heldLocked(y) != 0 {
		t.Fatalf("%d ahead, %d held of orders/3; want 3 kept back, 0", n, s.heldLocked(y))
	}
	if got := c.takeAhead(10); len(got) != 0 {
		t.Fatalf("took %v while orders/3 announcing", offsets(got))
	}
	s.announcedLocked([]tp{y})
	if got := offsets(c.accept(s.session, s.releases, handBackCrossed, []*Message{msgAt(3, 7)})); len(got) != 0 {
		t.Fatalf("accepted %v of orders/3 before those kept back", got)
	}
	if got := offsets(c.takeAhead(2)); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("took %v once announced, want [1 2]", got)
	}
	s.ahead = []*Message{msgAt(3, 8)}
	if got := offsets(c.takeAhead(10)); !slices.Equal(got, []int64{5, 7}) {
		t.Fatalf("took %v, want [5 7], those kept back first", got)
	}
	if got := offsets(c.takeAhead(10)); !slices.Equal(got, []int64{8}) || s.heldLocked(y) != 5 {
		t.Fatalf("took %v, %d held of orders/3; want [8], 5", got, s.heldLocked(y))
	}

	s.announcing[y] = 1
	s.ahead = []*Message{msgAt(3, 9), msgAt(3, 10), msgAt(0, 11)}
	c.takeAhead(10)
	s.releaseLocked([]tp{y})
	if n := s.aheadLenLocked(); n != 0 || len(s.nacks) != 0 {
		t.Fatalf("after the release of orders/3: %d ahead, %d nacks; want none", n, len(s.nacks))
	}
	s.owned[y], s.announcing[y] = true, 1
	s.ahead = []*Message{msgAt(3, 12), msgAt(0, 13)}
	c.takeAhead(10)
	s.handBackAheadLocked()
	if len(s.nacks) != 1 || s.nacks[0].ref.Offset != 12 || s.aheadLenLocked() != 0 {
		t.Fatalf("handed back %d, %d left ahead; want orders/3 12 alone, 0", len(s.nacks), s.aheadLenLocked())
	}
}
