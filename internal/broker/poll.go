package broker

import (
	"context"
	"reflect"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
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
	pollReadBytes       = 16 << 20 // one read call's record data, roughly
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
// partition).
func (b *Broker) Poll(ctx context.Context, groupID string, req PollParams, host string) ([]Delivered, error) {
	limit := req.MaxMessages
	switch {
	case limit < 0:
		return nil, api.ErrInvalidArgument.Withf("max messages %d is negative", limit)
	case limit == 0:
		limit = DefaultPollMessages
	case limit > MaxPollMessages:
		limit = MaxPollMessages
	}
	budget := req.MaxBytes
	switch {
	case budget < 0:
		return nil, api.ErrInvalidArgument.Withf("max bytes %d is negative", budget)
	case budget == 0:
		budget = DefaultPollBytes
	case budget > MaxPollBytes:
		budget = MaxPollBytes
	}
	if req.Wait < 0 {
		return nil, api.ErrInvalidArgument.Withf("wait %v is negative", req.Wait)
	}
	c := b.coord
	cg, err := c.lookup(groupID)
	if err != nil {
		return nil, err
	}
	wait := min(req.Wait, MaxDelay)
	var expired <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		expired = t.C
	}
	for {
		got, w, err := c.pollOnce(cg, req, host, limit, budget)
		if err != nil || len(got) > 0 || wait == 0 || w.due {
			if err != nil {
				return nil, err
			}
			return got, nil
		}
		if !w.wait(ctx, expired, c.b.now()) {
			return nil, nil
		}
	}
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

// pollOnce hands the member up to limit messages and budget bytes under
// the group's lock, reading them there: see take. When it hands out nothing,
// the waiter says what could change that; its channels are taken before the
// poll, so no append in between is missed.
func (c *coordinator) pollOnce(cg *cgroup, req PollParams, host string, limit, budget int) ([]Delivered, waiter, error) {
	var writes []offsetstore.Write
	defer func() {
		if err := c.store.Write(writes); err != nil {
			c.b.log.Error("persist initial offsets", "group", cg.id, "err", err)
		}
	}()
	cg.mu.Lock()
	defer cg.mu.Unlock()
	assigned, err := cg.g.Assignment(req.MemberID, req.Generation)
	if err != nil {
		return nil, waiter{}, err
	}
	cg.hosts[req.MemberID] = host
	w := waiter{chans: []<-chan struct{}{cg.ready}}
	logs := make(map[delivery.TP]*commitlog.Log)
	owned := make([]delivery.TP, 0, 8)
	var bound sizeBound
	for _, t := range slices.Sorted(mapKeys(assigned)) {
		top, err := c.b.lookup(t)
		if err != nil {
			continue // deleted; the group learns it from the topic watcher
		}
		for _, p := range assigned[t] {
			part, err := top.partition(p)
			if err != nil {
				continue
			}
			tp := delivery.TP{Topic: t, Partition: p}
			if !cg.d.Has(tp) && cg.offsetReset != api.OffsetResetNone {
				// The group takes the topic: every partition starts now,
				// owned or not, so that all survive a restart.
				writes = append(writes, c.startTopicLocked(cg, top)...)
			}
			ws, err := c.startLocked(cg, tp, part.log)
			if err != nil {
				return nil, waiter{}, err
			}
			writes = append(writes, ws...)
			w.chans = append(w.chans, part.log.Changed())
			bound.add(top.cfg.MaxMessageBytes, part.log.Stats().Bytes)
			logs[tp] = part.log
			owned = append(owned, tp)
		}
	}
	now := c.b.now()
	got := c.take(cg, now, req.MemberID, owned, limit, budget, bound, func(tp delivery.TP) int64 { return logs[tp].HighWatermark() })
	if len(got) > 0 {
		cg.hints.add(now.Add(cg.d.Config().VisibilityTimeout))
		c.scheduleLocked(cg, now) // new visibility deadlines
	} else if at, ok := c.deliveryDeadlineLocked(cg, now); ok {
		w.next = at
	}
	if cg.g.HeartbeatDue(req.MemberID) && cg.nudged[req.MemberID] != cg.changes {
		cg.nudged[req.MemberID] = cg.changes
		w.due = true
	}
	return got, w, nil
}

// sizeBound bounds the message bytes of the owned partitions without
// reading them: no message is larger than its topic's max_message_bytes or
// its log, and no set of messages is larger than all the logs together.
type sizeBound struct {
	one int64 // the largest a single message may be
	all int64 // every message of every owned partition together, at most
}

func (s *sizeBound) add(maxMessage int32, logBytes int64) {
	s.one = max(s.one, min(int64(maxMessage), logBytes))
	s.all += logBytes
}

// take hands out messages in rounds of delivery.Poll, each round only as
// many messages as surely fit in what is left of budget (by bound), so that
// no message is put in flight that the answer cannot carry; the first round
// takes at least one message. The rounds' records are read at once (under
// cg.mu) to count their actual bytes, through a readAhead, so that rounds of
// a few messages do not decode a batch each. With small messages and logs larger
// than budget, a round takes budget / max_message_bytes messages; the answer
// can hold less than budget (never more, unless one message alone exceeds
// it). Callers hold cg.mu.
func (c *coordinator) take(cg *cgroup, now time.Time, member string, owned []delivery.TP, limit, budget int, bound sizeBound, end func(delivery.TP) int64) []Delivered {
	var out []Delivered
	var ds []delivery.Delivery
	left, room := limit, int64(budget)
	ra := readAhead{c: c, group: cg.id, runs: make(map[delivery.TP]pollRun, len(owned))}
	for left > 0 {
		k := left
		if bound.all > room {
			k = int(min(int64(left), room/max(bound.one, 1)))
		}
		if k <= 0 {
			if len(out) > 0 {
				break
			}
			k = 1
		}
		ds = cg.d.Poll(ds[:0], now, member, owned, k, end)
		if len(ds) == 0 {
			break
		}
		if out == nil && len(ds) == k {
			// A full first round: the poll likely fills; size the answer
			// once rather than growing it through every round.
			out = make([]Delivered, 0, left)
		}
		skipped := 0
		for _, d := range ds {
			// A fair share of what is left, as delivery.Poll shares it.
			if r, ok := ra.record(d.TP, d.Offset, left/len(owned)+1, int(max(room/int64(len(owned)), 1))); ok {
				if replayedForOther(&r, cg.id) {
					cg.d.Ack(member, d.TP, d.Offset) // a DLQ replay for another group: settled, not delivered
					skipped++
					continue
				}
				room -= int64(recordSize(&r))
				out = append(out, Delivered{Topic: d.TP.Topic, Partition: d.TP.Partition, Record: r, DeliveryCount: d.DeliveryCount})
			} else if c.b.skipped(d.TP.Topic, d.TP.Partition, d.Offset) {
				// Damaged data (see corrupt.go): settled as if acknowledged,
				// so the committed offset steps over it; not counted
				// against the poll's limit.
				cg.d.Ack(member, d.TP, d.Offset)
				skipped++
			}
			// else retention removed it meanwhile: the group skips it at
			// its next poll
		}
		left -= len(ds) - skipped
		if len(ds) < k {
			break // nothing more is deliverable
		}
	}
	return out
}

// recordSize is a record's bytes as max_message_bytes counts them.
func recordSize(r *commitlog.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

func mapKeys(a api.Assignment) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range a {
			if !yield(k) {
				return
			}
		}
	}
}

// startLocked gives tp delivery state if it has none, from the group's
// offset_reset (none: NO_COMMITTED_OFFSET; see startOffsetLocked), and skips
// what retention removed below the committed offset. It returns the offsets
// to persist: a start is persisted once, so the group and its lag survive a
// restart before it commits anything. Callers hold cg.mu.
func (c *coordinator) startLocked(cg *cgroup, tp delivery.TP, l *commitlog.Log) ([]offsetstore.Write, error) {
	earliest := l.EarliestOffset()
	if !cg.d.Has(tp) {
		if cg.offsetReset == api.OffsetResetNone {
			return nil, api.ErrNoOffset.Withf("group %q has no committed offset for %s/%d and its offset reset policy is none; commit or reset one", cg.id, tp.Topic, tp.Partition).
				WithDetail("topic", tp.Topic).WithDetail("partition", tp.Partition)
		}
		cg.d.Restore(tp, c.startOffsetLocked(cg, tp, l), nil)
		return []offsetstore.Write{c.snapshotLocked(cg, tp)}, nil
	}
	if committed, _ := cg.d.Committed(tp); committed < earliest {
		cg.d.Commit(tp, earliest)
		return []offsetstore.Write{c.snapshotLocked(cg, tp)}, nil
	}
	return nil, nil
}

// startTopicLocked starts every partition of top that has no delivery
// state yet, and returns the offsets to persist. Callers hold cg.mu.
func (c *coordinator) startTopicLocked(cg *cgroup, top *topic) []offsetstore.Write {
	var writes []offsetstore.Write
	for _, part := range top.parts {
		tp := delivery.TP{Topic: top.cfg.Name, Partition: part.id}
		if !cg.d.Has(tp) {
			ws, _ := c.startLocked(cg, tp, part.log) // offset_reset is not none
			writes = append(writes, ws...)
		}
	}
	return writes
}

// startOffsetLocked is where tp starts for a group with no state on it.
// offset_reset applies only to the partitions the group saw when it first
// subscribed to the topic (cg.subs): earliest is the first offset held,
// latest the high watermark of then, so nothing produced between the join
// and the first poll is skipped. A partition added to the topic later starts
// at its earliest offset, as Kafka consumers apply auto.offset.reset only to
// their initial position: every message of a new partition is delivered.
// Callers hold cg.mu.
func (c *coordinator) startOffsetLocked(cg *cgroup, tp delivery.TP, l *commitlog.Log) int64 {
	earliest := l.EarliestOffset()
	if cg.offsetReset != api.OffsetResetLatest {
		return earliest
	}
	hwms, ok := cg.subs[tp.Topic]
	switch {
	case !ok:
		return l.HighWatermark() // not recorded: the policy applies now
	case int(tp.Partition) < len(hwms):
		return max(hwms[tp.Partition], earliest)
	default:
		return earliest
	}
}

// subscribeLocked records, for each topic the group subscribes to and has
// never seen, its partitions' high watermarks: where offset_reset latest
// starts them (startOffsetLocked). A topic the group already has delivery
// state on (restored offsets) is recorded with none: its partitions without
// state were added since, and start at their earliest. Callers hold cg.mu.
func (c *coordinator) subscribeLocked(cg *cgroup) {
	for _, t := range cg.g.Topics() {
		if _, ok := cg.subs[t]; ok {
			continue
		}
		top, err := c.b.lookup(t)
		if err != nil {
			continue
		}
		hwms := []int64{}
		if !slices.ContainsFunc(cg.d.Partitions(), func(tp delivery.TP) bool { return tp.Topic == t }) {
			hwms = make([]int64, len(top.parts))
			for i, p := range top.parts {
				hwms[i] = p.log.HighWatermark()
			}
		}
		if cg.subs == nil {
			cg.subs = make(map[string][]int64)
		}
		cg.subs[t] = hwms
	}
}

// snapshotLocked captures tp's delivery state for the offset store.
// Callers hold cg.mu, which orders the sequence numbers.
func (c *coordinator) snapshotLocked(cg *cgroup, tp delivery.TP) offsetstore.Write {
	committed, acked, ok := cg.d.Snapshot(tp)
	var born int64
	if t, err := c.b.lookup(tp.Topic); err == nil {
		born = t.cfg.CreatedAt
	}
	return offsetstore.Write{Group: cg.id, TP: tp, Delete: !ok,
		Offset: offsetstore.Offset{Seq: c.store.Next(), Committed: committed, Acked: acked, Born: born}}
}

// readAhead reads the records of one poll. It lives for one poll, under
// cg.mu. A miss past what the group last read of the partition reads ahead
// and keeps the run for the group's next polls (runCache); a miss behind it
// (a redelivery) reads only what the poll can take and leaves the kept run
// alone, so that redeliveries do not make the group read its next new
// messages again.
type readAhead struct {
	c     *coordinator
	group string
	runs  map[delivery.TP]pollRun // per partition, the run last used
}

// pollRun is a run of records and the partition's earliest offset when the
// poll took it: records retention removed since are not handed out.
type pollRun struct {
	recs     []commitlog.Record
	earliest int64
}

// record returns the record of tp at off; a miss behind the kept run reads
// up to n records and roughly maxBytes from off. ok is false if the record
// no longer exists.
func (ra *readAhead) record(tp delivery.TP, off int64, n, maxBytes int) (commitlog.Record, bool) {
	if pr, ok := ra.runs[tp]; ok && off >= pr.earliest {
		if r, ok := find(pr.recs, off); ok {
			return r, true
		}
	}
	t, err := ra.c.b.lookup(tp.Topic)
	if err != nil {
		return commitlog.Record{}, false
	}
	p, err := t.partition(tp.Partition)
	if err != nil {
		return commitlog.Record{}, false
	}
	earliest := p.log.EarliestOffset()
	if off < earliest {
		return commitlog.Record{}, false
	}
	k := runKey{group: ra.group, log: p.log}
	kept := ra.c.runs.get(k)
	if r, ok := find(kept, off); ok {
		ra.runs[tp] = pollRun{recs: kept, earliest: earliest}
		return r, true
	}
	var recs []commitlog.Record
	if len(kept) == 0 || off > kept[len(kept)-1].Offset {
		recs, err = p.log.Read(off, max(n, readAheadRecords(p.log.Stats())), pollReadBytes)
		if err == nil {
			ra.c.runs.put(k, recs)
		}
	} else {
		recs, err = p.log.Read(off, max(n, 1), min(maxBytes, pollReadBytes))
	}
	if err != nil {
		return commitlog.Record{}, false
	}
	ra.runs[tp] = pollRun{recs: recs, earliest: earliest}
	return find(recs, off)
}

// readAheadRecords is how many records of a log hold about pollReadAhead
// stored bytes. A forward read is bounded by count, not by record data: the
// log sizes its preads from the count, and a data budget (which leaves out
// the records' framing) would end the read just past a pread's end, making
// it read a second buffer for a few records and keep it pinned.
func readAheadRecords(st commitlog.Stats) int {
	avg := st.Bytes / max(st.HighWatermark-st.EarliestOffset, 1)
	return int(min(pollReadAhead/max(avg, 1), pollReadRecords))
}

// find returns the record at off in recs, which are sorted by offset.
// A run read from the log has consecutive offsets, so off's index is
// usually its distance from the first: looked at before searching.
func find(recs []commitlog.Record, off int64) (commitlog.Record, bool) {
	if len(recs) == 0 {
		return commitlog.Record{}, false
	}
	if i := off - recs[0].Offset; i >= 0 && i < int64(len(recs)) && recs[i].Offset == off {
		return recs[i], true
	}
	i, ok := slices.BinarySearchFunc(recs, off, func(r commitlog.Record, off int64) int {
		switch {
		case r.Offset < off:
			return -1
		case r.Offset > off:
			return 1
		}
		return 0
	})
	if !ok {
		return commitlog.Record{}, false
	}
	return recs[i], true
}

// HeartbeatDue reports whether memberID of groupID would be told another
// assignment by a heartbeat now (see group.Group.HeartbeatDue): a poll's
// answer says so, so that the member heartbeats at once. An unknown group
// or member has none due.
func (b *Broker) HeartbeatDue(groupID, memberID string) bool {
	cg, err := b.coord.lookup(groupID)
	if err != nil {
		return false
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	return cg.g.HeartbeatDue(memberID)
}
