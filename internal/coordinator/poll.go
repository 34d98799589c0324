package coordinator

import (
	"context"
	"reflect"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
)

// Poll limits: the messages a poll takes when it names no count and the
// most it may take; the same for bytes. The wait is capped at MaxDelay
// here; front ends cap it with their configured maximum
// (httpapi.Options.MaxWait, --max-wait), as they do a fetch's.
const (
	DefaultPollMessages = 100
	MaxPollMessages     = 10000
	DefaultPollBytes    = 4 << 20
	MaxPollBytes        = 64 << 20
)

// Delivered is one message a poll hands out, now in flight for the member.
type Delivered struct {
	Topic         string
	Partition     int32
	Record        commitlog.Record
	DeliveryCount int
}

// Poll hands the member messages of the partitions it is assigned (not
// those it is revoking): due redeliveries first, then new messages, fairly
// across partitions, up to req.MaxMessages, req.MaxBytes (the broker takes
// no message that might not fit, but always at least one) and the member's
// in-flight cap. With req.Wait it waits until something is deliverable, the wait passes,
// ctx ends (the latter two answer no messages), or the member has a
// heartbeat due (HeartbeatDue): a long poll answers at once when a
// rebalance changes what the member may own. Errors: GROUP_NOT_FOUND,
// UNKNOWN_MEMBER_ID, FENCED_MEMBER, STALE_GENERATION, INVALID_ARGUMENT,
// NO_COMMITTED_OFFSET (offset_reset none and no offset; details name the
// partition); on a cluster node, NOT_COORDINATOR and UNAVAILABLE when it
// cannot confirm that it still coordinates the group (Replicated.Confirm).
func (c *Coordinator) Poll(ctx context.Context, groupID string, req PollParams, host string) ([]Delivered, error) {
	var sink recordSink
	if err := c.poll(ctx, groupID, req, host, &sink); err != nil {
		return nil, err
	}
	return sink.out, nil
}

// poll is Poll handing the messages to sink.
func (c *Coordinator) poll(ctx context.Context, groupID string, req PollParams, host string, sink pollSink) error {
	limit, err := pollBound("max messages", req.MaxMessages, DefaultPollMessages, MaxPollMessages)
	if err != nil {
		return err
	}
	budget, err := pollBound("max bytes", req.MaxBytes, DefaultPollBytes, MaxPollBytes)
	if err != nil {
		return err
	}
	if req.Wait < 0 {
		return api.ErrInvalidArgument.Withf("wait %v is negative", req.Wait)
	}
	cg, err := c.lookup(groupID)
	if err != nil {
		return err
	}
	wait := min(req.Wait, MaxDelay)
	var expired <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		expired = t.C
	}
	for {
		w, err := c.pollOnce(cg, req, host, limit, budget, sink)
		if err == nil && sink.len() > 0 {
			if err = c.confirm(ctx, cg); err != nil {
				c.handBack(cg, req, host, sink.taken())
			}
		}
		if err != nil || sink.len() > 0 || wait == 0 || w.due {
			if err != nil {
				sink.discard()
			}
			return err
		}
		if !w.wait(ctx, expired, c.now()) {
			return nil
		}
	}
}

// pollSink is where a poll's messages go: decoded records for the JSON
// answer (recordSink), stored batches and offset ranges for the binary one
// (storedSink). A poll hands out each offset at most once.
type pollSink interface {
	// reserve says that about n messages are coming (the first round's
	// guess).
	reserve(n int)
	// add hands out tp's message at off, which b holds, delivered for the
	// deliveryCount-th time.
	add(tp delivery.TP, b *storedBatch, off int64, deliveryCount int)
	// len is how many messages were handed out.
	len() int
	// discard drops what the sink holds of the batches it was given: the
	// poll failed and answers nothing.
	discard()
	// taken is what was handed out, as ranges of offsets.
	taken() []groupstate.Range
}

// recordSink collects the decoded messages of the JSON answer.
type recordSink struct{ out []Delivered }

func (s *recordSink) reserve(n int) { s.out = make([]Delivered, 0, n) }
func (s *recordSink) len() int      { return len(s.out) }
func (s *recordSink) discard()      {}
func (s *recordSink) taken() []groupstate.Range {
	var out []groupstate.Range
	for _, d := range s.out {
		tp := delivery.TP{Topic: d.Topic, Partition: d.Partition}
		if n := len(out); n > 0 && out[n-1].TP == tp && out[n-1].To == d.Record.Offset {
			out[n-1].To++
			continue
		}
		out = append(out, groupstate.Range{TP: tp, From: d.Record.Offset, To: d.Record.Offset + 1})
	}
	return out
}

func (s *recordSink) add(tp delivery.TP, b *storedBatch, off int64, deliveryCount int) {
	r := b.record(off)
	if b.compressed() {
		// A copy of its own: aliasing the batch's decompressed records,
		// one message kept all of them (up to 128 MiB) for as long as
		// the answer was kept, beyond the poll's charge for them.
		one := [1]commitlog.Record{r}
		commitlog.Own(one[:])
		r = one[0]
	} else {
		// The record aliases b's bytes for as long as the caller keeps
		// it: its buffer is held for good, never recycled (see readBuf).
		b.buf.hold()
	}
	s.out = append(s.out, Delivered{Topic: tp.Topic, Partition: tp.Partition, Record: r, DeliveryCount: deliveryCount})
}

// handBack returns what a poll took and will not answer, since its
// coordinator could not be confirmed: deliverable again at once, no retry
// spent, as a member's release. A node deposed drops the group soon
// anyway; one still coordinating it (the confirmation timed out on a
// loaded cluster) kept those messages from its members for a visibility
// timeout and counted a failed delivery no one saw.
func (c *Coordinator) handBack(cg *cgroup, req PollParams, host string, taken []groupstate.Range) {
	cg.mu.Lock()
	_, fx := cg.a.Settle(c.now(), groupstate.Settle{Member: req.MemberID, Generation: req.Generation, Host: host,
		Op: groupstate.OpRelease, Ranges: taken})
	p := c.doneLocked(cg, fx)
	cg.mu.Unlock()
	if err := c.perform(cg, p); err != nil {
		c.log.Error("persist after handing back a poll", "group", cg.id, "err", err)
	}
}

// HandBackStored returns what a stored poll handed out and its caller will
// not deliver (a stream's poll fenced by a CREDIT of 0), as handBack does:
// deliverable again at once, no retry spent, without a member's nack's
// checks or its wait for durability. A group gone took them along.
func (c *Coordinator) HandBackStored(groupID string, req PollParams, host string, parts []StoredPart) {
	cg, err := c.lookup(groupID)
	if err != nil {
		return
	}
	var taken []groupstate.Range
	for _, p := range parts {
		for _, r := range p.Ranges {
			taken = append(taken, groupstate.Range{TP: delivery.TP{Topic: p.Topic, Partition: p.Partition}, From: r.First, To: r.Last + 1})
		}
	}
	c.handBack(cg, req, host, taken)
}

// HandBack returns what a Poll handed out and its caller will not deliver
// (the HTTP client that asked is gone), as handBack does: deliverable
// again at once, no retry spent. A group gone took them along.
func (c *Coordinator) HandBack(groupID string, req PollParams, host string, got []Delivered) {
	cg, err := c.lookup(groupID)
	if err != nil {
		return
	}
	c.handBack(cg, req, host, (&recordSink{out: got}).taken())
}

// pollBound is a poll's bound v of what: def for 0, capped at most; a
// negative one is INVALID_ARGUMENT.
func pollBound(what string, v, def, most int) (int, error) {
	switch {
	case v < 0:
		return 0, api.ErrInvalidArgument.Withf("%s %d is negative", what, v)
	case v == 0:
		return def, nil
	}
	return min(v, most), nil
}

// waiter is what an empty poll waits on: an append to an owned partition,
// a handoff, expiry or rebalance in the group, or the next redelivery coming
// due. due is set instead when the member must heartbeat: the poll answers.
type waiter struct {
	chans []<-chan struct{}
	next  time.Time // the next redelivery; zero: none
	due   bool
}

// wait blocks until one of w's events, and reports false if expired or ctx
// ended first.
func (w *waiter) wait(ctx context.Context, expired <-chan time.Time, now time.Time) bool {
	cases := make([]reflect.SelectCase, 0, len(w.chans)+3)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(expired)})
	if !w.next.IsZero() {
		t := time.NewTimer(max(w.next.Sub(now), time.Millisecond))
		defer t.Stop()
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.C)})
	}
	for _, ch := range w.chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen > 1
}

// pollOnce hands the member up to limit messages and budget bytes into
// sink. It runs the group's poll in rounds (see groupstate.Poll): each
// round locks the group, asks the aggregate for what surely fits in what is
// left of budget, unlocks, persists the offsets the round started, and
// finds the round's stored batches (groupIO), counting their messages'
// bytes. When it hands out nothing, the waiter says what could change
// that; its channels are taken before the poll, so no append in between is
// missed.
func (c *Coordinator) pollOnce(cg *cgroup, req PollParams, host string, limit, budget int, sink pollSink) (waiter, error) {
	cg.mu.Lock()
	topics, assigned, _ := cg.a.PollScope(req.MemberID)
	cg.mu.Unlock()
	view, chans := c.pollView(topics, assigned)
	w := waiter{chans: chans}
	ra := readAhead{c: c, group: cg.id, runs: make(map[delivery.TP]pollRun)}
	defer ra.release()
	ra.prime(topics)
	var (
		skip     []groupstate.Ref
		busy     []groupstate.Range      // handed out, but no room to decompress their batches
		buf      = deliveryScratch.get() // the rounds' deliveries, reused
		reserved bool
	)
	defer func() { deliveryScratch.put(buf) }()
	left, room := limit, int64(budget)
	for left > 0 {
		cg.mu.Lock()
		if len(w.chans) == len(chans) {
			w.chans = append(w.chans, cg.ready)
		}
		res, fx, err := cg.a.Poll(c.now(), groupstate.Poll{Member: req.MemberID, Generation: req.Generation, Host: host,
			Limit: left, Room: room, First: sink.len() == 0, Buf: buf, Size: ra.size}, view)
		p := c.doneLocked(cg, fx)
		cg.mu.Unlock()
		if werr := c.perform(cg, p); werr != nil {
			c.log.Error("persist initial offsets", "group", cg.id, "err", werr)
		}
		if err != nil {
			if sink.len() > 0 {
				break // fenced between rounds: answer what is in flight already
			}
			return waiter{}, err
		}
		buf = res.Deliveries
		w.due = w.due || res.HeartbeatDue
		w.next = res.NextRedelivery
		if !reserved && len(res.Deliveries) > 0 {
			// Room for this round and a few like it: a first round that
			// stopped short of its limit for want of sizes is likely
			// followed by more. Never room for the whole limit up front:
			// a poll at the tail of a partition asks thousands and gets a
			// few, and zeroing room for thousands on every such poll once
			// cost more than everything else a poll does.
			n := len(res.Deliveries)
			if n == res.Asked || res.Unsized {
				n = min(left, 4*n)
			}
			sink.reserve(n)
			reserved = true
		}
		parts := distinctPartitions(res.Deliveries)
		skipped := 0
		for _, d := range res.Deliveries {
			// A fair share of what is left, as the group's poll shares it.
			if b, ok := c.io.batch(&ra, d.TP, d.Offset, left/parts+1, int(max(room/int64(parts), 1))); ok {
				if b.replayedForOther(d.Offset, cg.id) {
					skip = append(skip, groupstate.Ref{TP: d.TP, Offset: d.Offset}) // a DLQ replay for another group: settled, not delivered
					skipped++
					continue
				}
				room -= int64(b.size(d.Offset))
				sink.add(d.TP, b, d.Offset, d.DeliveryCount)
			} else if ra.busy {
				// The decompression budget is spent: handed back below,
				// deliverable again at once, no retry spent.
				busy = append(busy, groupstate.Range{TP: d.TP, From: d.Offset, To: d.Offset + 1})
			} else if c.b.Skipped(d.TP.Topic, d.TP.Partition, d.Offset) {
				// Damaged data (see corrupt.go): settled as if acknowledged,
				// so the committed offset steps over it; not counted
				// against the poll's limit.
				skip = append(skip, groupstate.Ref{TP: d.TP, Offset: d.Offset})
				skipped++
			}
			// else retention removed it meanwhile: the group skips it at
			// its next poll
		}
		left -= len(res.Deliveries) - skipped
		if len(busy) > 0 {
			break // later rounds would find no room either
		}
		if res.Unsized && len(res.Deliveries) > 0 {
			continue // the batches just read may tell that more fits
		}
		if len(res.Deliveries) < res.Asked || res.Asked == 0 {
			break // nothing more is deliverable, or nothing more fits
		}
	}
	if len(skip) > 0 {
		cg.mu.Lock()
		p := c.doneLocked(cg, cg.a.Skip(c.now(), req.MemberID, skip))
		cg.mu.Unlock()
		if err := c.perform(cg, p); err != nil {
			c.log.Error("persist skipped offsets", "group", cg.id, "err", err)
		}
	}
	if len(busy) > 0 {
		c.handBack(cg, req, host, busy)
		if sink.len() == 0 {
			return waiter{}, api.ErrTooManyRequests.Withf("the broker is decompressing as many bytes of stored batches at once as it allows (--max-decompress-bytes); retry shortly")
		}
	}
	return w, nil
}

// pollView returns what a poll needs to know of topics (see topicView),
// and the channels that close at the next append to each partition
// assigned (the member's to poll), taken before their high watermarks are
// read. Appends to partitions other members own do not wake this poll:
// with every partition's channel, each append woke every member's long
// poll to find nothing of its own. A change of assignment wakes the poll
// through the group's ready channel, and the next round waits on the new
// partitions.
func (c *Coordinator) pollView(topics []string, assigned api.Assignment) (groupstate.Topics, []<-chan struct{}) {
	var chans []<-chan struct{}
	for _, t := range topics {
		parts := assigned[t]
		if len(parts) == 0 {
			continue
		}
		if top, err := c.b.Topic(t); err == nil {
			for _, p := range parts {
				if int(p) < len(top.Logs) {
					chans = append(chans, top.Logs[p].Changed())
				}
			}
		}
	}
	return c.topicView(topics), chans
}

// distinctPartitions counts the partitions ds are of, at least 1.
func distinctPartitions(ds []delivery.Delivery) int {
	// A member owns a few partitions, and a round hands out each one's
	// messages together: compare with the last seen first.
	var seen []delivery.TP
	for i, d := range ds {
		if i > 0 && d.TP == ds[i-1].TP || slices.Contains(seen, d.TP) {
			continue
		}
		seen = append(seen, d.TP)
	}
	return max(len(seen), 1)
}

// HeartbeatDue reports whether memberID of groupID would be told another
// assignment by a heartbeat now (see group.Group.HeartbeatDue): a poll's
// answer says so, so that the member heartbeats at once. An unknown group
// or member has none due.
func (c *Coordinator) HeartbeatDue(groupID, memberID string) bool {
	cg, err := c.lookup(groupID)
	if err != nil {
		return false
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	return cg.a.HeartbeatDue(memberID)
}

// Settled reports whether no partition of groupID is on its way from one
// member to another (see group.Group.Settled); an unknown group is.
func (c *Coordinator) Settled(groupID string) bool {
	cg, err := c.lookup(groupID)
	if err != nil {
		return true
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	return cg.a.Settled()
}
