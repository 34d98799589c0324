package broker

import (
	"container/heap"
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// coordinator owns every consumer group of the broker: per group its
// membership (a group.Group) and its per-message delivery state (a
// delivery.Group), and the durable offsets of all of them (offsetstore.Store).
//
// Locking: mu guards the groups map only; each cgroup has its own mutex that
// serialises every call on its group.Group and delivery.Group. Lock order is
// coordinator.mu before cgroup.mu; no cgroup lock is held while taking
// coordinator.mu. schedMu is a leaf: taken under cgroup.mu, it takes no
// other lock. A single timer loop (run) ticks a group when its scheduled
// deadline comes, and only then; there is no goroutine per group or member.
// Every operation that may move a group's deadlines earlier reschedules it
// (scheduleLocked), so a wake of the loop never scans every group's lock.
type coordinator struct {
	b      *Broker
	gcfg   group.Config    // immutable
	dcfg   delivery.Config // broker-wide delivery defaults; immutable
	store  *offsetstore.Store
	wakeCh chan struct{} // buffered 1: a deadline may have moved earlier
	runs   *runCache     // what polls read ahead; see pollcache.go

	groupTicks atomic.Int64 // groups the timer loop has ticked: what an idle broker must not grow

	born map[string]int64 // topic → its created_at at the last syncTopics; owned by the timer loop

	schedMu sync.Mutex
	sched   map[*cgroup]time.Time // guarded by schedMu: each group's next deadline; absent: none
	armed   time.Time             // guarded by schedMu: when the loop looks next; zero while it ticks

	mu     sync.Mutex
	groups map[string]*cgroup // guarded by mu
}

// cgroup is one consumer group. mu guards every field below it.
type cgroup struct {
	id string

	mu          sync.Mutex
	g           *group.Group
	d           *delivery.Group
	settings    groupSettings      // delivery settings fixed by the member that created the group
	offsetReset string             // the creating member's offset_reset
	saved       savedSettings      // as in meta.db: what a creating join leaves out comes from here
	classic     bool               // held by classic Kafka members (HoldClassicGroup)
	hosts       map[string]string  // member ID → peer host of its last request
	deadFailed  bool               // a DLQ write failed; the timer loop retries pending dead letters
	deadRetry   time.Time          // with deadFailed: the next retry; zero: not yet scheduled
	deadBackoff time.Duration      // the wait before deadRetry, doubling from 1 s to 1 min
	hints       deadlines          // lower bounds of the delivery deadlines a due redelivery hides
	looked      time.Time          // when the timer loop last ticked the group
	subs        map[string][]int64 // topic → its partitions' high watermarks when the group first subscribed
	storedBorn  map[string]int64   // topic → created_at its restored offsets were of; until the first syncTopics
	logged      groupLog           // what logChangesLocked last logged
	recorded    int64              // newest generation whose closed rebalance went to the history
	// ready is closed and replaced whenever something may have become
	// deliverable without an append (a handoff, a nack, an expiry), or a
	// member's assignment may have changed (a new generation, a release),
	// to wake long polls.
	ready chan struct{}
	epoch int64 // the generation the long polls were last woken for
	// changes counts the group operations that may have changed some
	// member's assignment (a new generation, a release); nudged holds, per
	// member, the count at which a poll last answered early for its due
	// heartbeat. A member is nudged once per change, so a client that
	// ignores the nudge (an older one) long-polls as before, never in a
	// busy loop of early answers.
	changes uint64
	nudged  map[string]uint64
}

// groupSettings are the per-group delivery settings of a join, as sent.
type groupSettings struct {
	MaxRetries        int
	VisibilityTimeout time.Duration
	MaxInFlight       int
}

func (s groupSettings) config() delivery.Config {
	return delivery.Config{MaxRetries: s.MaxRetries, VisibilityTimeout: s.VisibilityTimeout, MaxInFlightPerMember: s.MaxInFlight}
}

func newCoordinator(b *Broker, store *offsetstore.Store) *coordinator {
	return &coordinator{
		b:      b,
		gcfg:   b.cfg.Groups,
		dcfg:   b.cfg.Delivery.Or(delivery.Defaults()),
		store:  store,
		wakeCh: make(chan struct{}, 1),
		runs:   newRunCache(pollCacheBytes),
		groups: make(map[string]*cgroup),
		sched:  make(map[*cgroup]time.Time),
	}
}

func (c *coordinator) newGroup(id string) *cgroup {
	return &cgroup{
		id:     id,
		g:      group.New(id, c.gcfg),
		d:      delivery.NewGroup(c.dcfg),
		hosts:  make(map[string]string),
		ready:  make(chan struct{}),
		nudged: make(map[string]uint64),
	}
}

// restore rebuilds the groups that have stored offsets. Their members are
// gone with the old process: what they had in flight is delivered again.
func (c *coordinator) restore() error {
	stored, err := c.store.Load()
	if err != nil {
		return err
	}
	saved, err := c.b.meta.groupSettings()
	if err != nil {
		return err
	}
	for id, set := range saved {
		if _, ok := stored[id]; !ok {
			cg := c.newGroup(id) // settings but no offsets yet: the group still exists
			cg.saved = set
			c.groups[id] = cg
		}
	}
	for id, parts := range stored {
		cg := c.newGroup(id)
		cg.saved = saved[id]
		cg.storedBorn = make(map[string]int64)
		for tp, so := range parts {
			cg.d.Restore(tp, so.Committed, so.Acked)
			if so.Born != 0 {
				cg.storedBorn[tp.Topic] = so.Born
			}
		}
		c.groups[id] = cg
	}
	return nil
}

// lookup returns the group id, or GROUP_NOT_FOUND.
func (c *coordinator) lookup(id string) (*cgroup, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cg := c.groups[id]
	if cg == nil {
		return nil, api.ErrGroupNotFound.Withf("group %q does not exist", id).WithDetail("group", id)
	}
	return cg, nil
}

// getOrCreate returns the group id, creating it (a first join creates a
// group) unless the broker holds MaxGroups groups already.
func (c *coordinator) getOrCreate(id string) (*cgroup, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cg := c.groups[id]
	if cg == nil {
		if err := c.groupLimitLocked(id); err != nil {
			return nil, err
		}
		cg = c.newGroup(id)
		c.groups[id] = cg
	}
	return cg, nil
}

// all returns every group, sorted by ID.
func (c *coordinator) all() []*cgroup {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Collect(maps.Values(c.groups))
	slices.SortFunc(out, func(a, b *cgroup) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return out
}

// wake tells the timer loop that a deadline may have moved earlier.
func (c *coordinator) wake() {
	select {
	case c.wakeCh <- struct{}{}:
	default:
	}
}

// signalLocked wakes the group's long polls. Callers hold cg.mu.
func (cg *cgroup) signalLocked() {
	close(cg.ready)
	cg.ready = make(chan struct{})
}

// afterOpLocked hands off what left members in the last group operation:
// partitions a member released give their in-flight messages to the next
// owner at once; a departed member gives up everything; a deleted partition
// is forgotten. Call it after every mutating call on cg.g. Callers hold cg.mu.
func (c *coordinator) afterOpLocked(cg *cgroup) {
	c.logChangesLocked(cg)
	c.subscribeLocked(cg)
	defer c.scheduleLocked(cg, c.b.now())
	rel := cg.g.DrainReleased()
	if gen := cg.g.Generation(); gen != cg.epoch || len(rel) > 0 {
		// A new target or a release: members whose assignment changed
		// must learn it now, not at their next heartbeat (see Poll).
		cg.epoch = gen
		cg.changes++
		for id := range cg.nudged {
			if _, ok := cg.g.Member(id); !ok {
				delete(cg.nudged, id) // gone, whether it owned anything or not
			}
		}
		if len(rel) == 0 {
			cg.signalLocked()
		}
	}
	if len(rel) == 0 {
		return
	}
	for _, r := range rel {
		tp := delivery.TP{Topic: r.Topic, Partition: r.Partition}
		switch r.Why {
		case group.WhyTopicDeleted:
			if _, err := c.b.lookup(r.Topic); err != nil {
				cg.d.Forget(tp)
			} else {
				cg.d.Release(r.Member, tp)
			}
		default:
			cg.d.Release(r.Member, tp)
		}
		if _, ok := cg.g.Member(r.Member); !ok {
			cg.d.ReleaseMember(r.Member)
			delete(cg.hosts, r.Member)
		}
	}
	cg.signalLocked()
}

// partitionCounts returns the partition count of every existing topic.
func (c *coordinator) partitionCounts() map[string]int32 {
	counts := make(map[string]int32)
	for _, t := range c.b.snapshot() {
		counts[t.cfg.Name] = int32(len(t.parts))
	}
	return counts
}

// run is the timer loop: it ticks every group whose next deadline has come,
// and follows topic changes, until ctx ends.
func (c *coordinator) run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	topics := c.b.TopicsChanged()
	c.syncTopics()
	// The offsets' checkpoints: every fsync interval under interval, and
	// under never too, so that the journal stays short.
	var flush <-chan time.Time
	if c.store.Journaled() {
		t := time.NewTicker(c.b.cfg.FsyncInterval)
		defer t.Stop()
		flush = t.C
	}
	for {
		timer.Reset(max(c.tick().Sub(c.b.now()), 0))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-c.wakeCh:
		case <-flush:
			if err := c.store.Sync(); err != nil {
				c.b.log.Error("fsync of group offsets failed", "err", err)
			}
		case <-topics:
			topics = c.b.TopicsChanged()
			c.syncTopics()
		}
	}
}

// idle is how long the timer loop sleeps when no group has a deadline.
const idle = time.Hour

// tick ticks every group whose scheduled deadline has come and returns when
// to look next (armed: a group rescheduled earlier than that wakes the loop).
func (c *coordinator) tick() time.Time {
	now := c.b.now()
	var due []*cgroup
	c.schedMu.Lock()
	c.armed = time.Time{}
	for cg, at := range c.sched {
		if !at.After(now) {
			due = append(due, cg)
		}
	}
	c.schedMu.Unlock()
	for _, cg := range due {
		c.tickGroup(cg)
	}
	next := c.b.now().Add(idle)
	c.schedMu.Lock()
	for _, at := range c.sched {
		if at.Before(next) {
			next = at
		}
	}
	c.armed = next
	c.schedMu.Unlock()
	return next
}

// scheduleLocked records when the timer loop must next tick cg, and wakes
// the loop if that is before it would look. Callers hold cg.mu.
func (c *coordinator) scheduleLocked(cg *cgroup, now time.Time) {
	if cg.deadFailed && cg.deadRetry.IsZero() {
		cg.deadBackoff = deadBackoffMin
		cg.deadRetry = now.Add(cg.deadBackoff)
	}
	next, ok := cg.g.NextDeadline()
	earliest := func(t time.Time) {
		if !ok || t.Before(next) {
			next, ok = t, true
		}
	}
	if cg.deadFailed {
		earliest(cg.deadRetry)
	}
	if at, has := c.deliveryDeadlineLocked(cg, now); has {
		earliest(at)
	}
	c.schedMu.Lock()
	if ok {
		c.sched[cg] = next
	} else {
		delete(c.sched, cg)
	}
	wake := ok && !c.armed.IsZero() && next.Before(c.armed)
	c.schedMu.Unlock()
	if wake {
		c.wake()
	}
}

// deliveryDeadlineLocked returns when cg's delivery state next has work for
// the timer loop or news for a waiting poll: a visibility timeout (one
// passed: at once), or a redelivery coming due. A group without members has neither (nothing is in
// flight, nobody polls). delivery.Group reports one earliest deadline; once
// that is a redelivery already due (which only a poll takes), it hides the
// later ones, and the hints, rounded up, stand in for them. Callers hold
// cg.mu.
func (c *coordinator) deliveryDeadlineLocked(cg *cgroup, now time.Time) (time.Time, bool) {
	if cg.g.Empty() {
		cg.hints = deadlines{}
		return time.Time{}, false
	}
	cg.hints.drop(now)
	if at, ok := cg.d.NextDeadline(); ok && at.After(now) {
		return at, true
	}
	// Not after now: a redelivery due, or a visibility timeout passed that
	// the loop has not expired yet (it woke late, and another operation
	// reschedules first). The latter is the loop's work now; left to the
	// hints, whose rounded-up copy of it may be dropped already, the group
	// would wait for its session deadlines, which heartbeats push on.
	if at, ok := cg.d.NextExpiry(); ok && !at.After(now) {
		return at, true
	}
	return cg.hints.min()
}

// The DLQ retry backoff of a group whose dead-letter write failed.
const (
	deadBackoffMin = time.Second
	deadBackoffMax = time.Minute
)

func (c *coordinator) tickGroup(cg *cgroup) {
	c.groupTicks.Add(1)
	cg.mu.Lock()
	now := c.b.now()
	if at, ok := cg.g.NextDeadline(); ok && !at.After(now) {
		cg.g.Tick(now)
		c.afterOpLocked(cg)
	}
	var writes []offsetstore.Write
	if cg.deadFailed && !now.Before(cg.deadRetry) {
		for _, tp := range c.retryDeadLocked(cg) {
			writes = append(writes, c.snapshotLocked(cg, tp))
		}
		if cg.deadFailed {
			cg.deadBackoff = min(2*cg.deadBackoff, deadBackoffMax)
			cg.deadRetry = now.Add(cg.deadBackoff)
		} else {
			cg.deadRetry, cg.deadBackoff = time.Time{}, 0
		}
	}
	hidden := cg.hints.drop(now)
	if at, ok := cg.d.NextDeadline(); ok && !at.After(now) {
		var dirty []delivery.TP
		for _, dl := range cg.d.Tick(now) {
			// A failed DLQ write leaves dl pending (logged there, retried
			// with backoff); an error is a failure to settle it.
			if err := c.deadLetterLocked(cg, dl); err != nil {
				c.b.log.Error("settle dead letter", "group", cg.id, "topic", dl.TP.Topic, "partition", dl.TP.Partition, "offset", dl.Offset, "err", err)
				continue
			}
			if !slices.Contains(dirty, dl.TP) {
				dirty = append(dirty, dl.TP)
			}
		}
		for _, tp := range dirty {
			writes = append(writes, c.snapshotLocked(cg, tp))
		}
		// Wake the polls once for what came due since the last look: the
		// earliest deadline, or one it hid.
		if at.After(cg.looked) || hidden {
			cg.signalLocked()
		}
	}
	cg.looked = now
	c.scheduleLocked(cg, now)
	cg.mu.Unlock()
	if err := c.store.Write(writes); err != nil {
		c.b.log.Error("persist dead-lettered offsets", "group", cg.id, "err", err)
	}
}

// syncTopics tells every group the current partition counts (a topic
// created, deleted or grown), and forgets the offsets of partitions that no
// longer exist. A topic created again under its name since the last sync
// (its created_at changed, whatever its partition count) is a new topic: the
// group is told the old one was deleted, then the new one added; the
// group's delivery state and stored offsets of the old one are dropped, and
// the new one starts at its earliest offsets. Only the timer loop calls it.
func (c *coordinator) syncTopics() {
	counts := make(map[string]int32)
	born := make(map[string]int64)
	for _, t := range c.b.snapshot() {
		counts[t.cfg.Name] = int32(len(t.parts))
		born[t.cfg.Name] = t.cfg.CreatedAt
	}
	var recreated []string
	for name, at := range born {
		if old, ok := c.born[name]; ok && old != at {
			recreated = append(recreated, name)
		}
	}
	c.born = born
	var writes []offsetstore.Write
	for _, cg := range c.all() {
		cg.mu.Lock()
		now := c.b.now()
		recreated := recreated
		// Offsets restored from offsets.db may be of a topic deleted and
		// created again while the broker was down.
		for t, at := range cg.storedBorn {
			if cur, ok := born[t]; ok && cur != at && !slices.Contains(recreated, t) {
				recreated = append(slices.Clip(recreated), t)
			}
		}
		cg.storedBorn = nil
		if len(recreated) > 0 {
			without := maps.Clone(counts)
			for _, t := range recreated {
				delete(without, t)
			}
			cg.g.SetPartitions(now, without)
			c.afterOpLocked(cg)
			for _, tp := range cg.d.Partitions() {
				if slices.Contains(recreated, tp.Topic) {
					cg.d.Forget(tp)
					writes = append(writes, c.snapshotLocked(cg, tp)) // a deletion
				}
			}
			for _, t := range recreated {
				if _, ok := cg.subs[t]; ok {
					cg.subs[t] = []int64{} // created after the subscription: from the earliest
				}
			}
		}
		cg.g.SetPartitions(now, counts)
		c.afterOpLocked(cg)
		for t := range cg.subs {
			if counts[t] == 0 {
				cg.subs[t] = []int64{} // if created again: from the earliest
			}
		}
		for _, tp := range cg.d.Partitions() {
			if tp.Partition >= counts[tp.Topic] {
				cg.d.Forget(tp)
				writes = append(writes, c.snapshotLocked(cg, tp)) // a deletion
			}
		}
		cg.mu.Unlock()
	}
	if err := c.store.Write(writes); err != nil {
		c.b.log.Error("forget offsets of deleted topics", "err", err)
	}
}

// openGroups opens offsets.db and restores the groups stored in it.
func (b *Broker) openGroups() error {
	policy, err := parseFsync(b.cfg.Fsync)
	if err != nil {
		return err
	}
	store, err := offsetstore.Open(b.cfg.DataDir, policy)
	if err != nil {
		return err
	}
	b.coord = newCoordinator(b, store)
	if err := b.coord.restore(); err != nil {
		store.Close()
		return err
	}
	return nil
}

// hintGrain is how finely hints keep deadlines: a group polled many times a
// second keeps one hint per grain, and a hidden deadline is seen at most
// this late.
const hintGrain = 10 * time.Millisecond

// deadlines is a min-heap of deadlines handed out (visibility timeouts,
// extensions, nack retries), rounded up to hintGrain. Every delivery
// deadline still pending is one of them, so the earliest one not passed is
// a lower bound of the next: the timer loop wakes at it, maybe early, never
// late by more than the grain.
type deadlines struct {
	h    timeHeap
	last time.Time // the last one added: repeats in a row are kept once
}

func (d *deadlines) add(t time.Time) {
	if r := t.Truncate(hintGrain); r.Before(t) {
		t = r.Add(hintGrain)
	} else {
		t = r
	}
	if t.Equal(d.last) {
		return
	}
	d.last = t
	heap.Push(&d.h, t)
}

// drop forgets the deadlines not after now and reports whether there were
// any.
func (d *deadlines) drop(now time.Time) bool {
	n := len(d.h)
	for len(d.h) > 0 && !d.h[0].After(now) {
		heap.Pop(&d.h)
	}
	return len(d.h) < n
}

func (d *deadlines) min() (time.Time, bool) {
	if len(d.h) == 0 {
		return time.Time{}, false
	}
	return d.h[0], true
}

type timeHeap []time.Time

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
