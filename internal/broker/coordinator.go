package broker

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
)

// coordinator owns every consumer group of the broker: per group its
// membership (a group.Group) and its per-message delivery state (a
// delivery.Group), and the durable offsets of all of them (offsetStore).
//
// Locking: mu guards the groups map only; each cgroup has its own mutex that
// serialises every call on its group.Group and delivery.Group. Lock order is
// coordinator.mu before cgroup.mu; no cgroup lock is held while taking
// coordinator.mu. A single timer loop (run) calls Tick on every group when
// its next deadline comes; there is no goroutine per group or member.
type coordinator struct {
	b      *Broker
	gcfg   group.Config    // immutable
	dcfg   delivery.Config // broker-wide delivery defaults; immutable
	store  *offsetStore
	wakeCh chan struct{} // buffered 1: a deadline may have moved earlier

	mu     sync.Mutex
	groups map[string]*cgroup // guarded by mu
}

// cgroup is one consumer group. mu guards every field below it.
type cgroup struct {
	id string

	mu          sync.Mutex
	g           *group.Group
	d           *delivery.Group
	settings    groupSettings     // delivery settings fixed by the member that created the group
	offsetReset string            // the creating member's offset_reset
	hosts       map[string]string // member ID → peer host of its last request
	deadFailed  bool              // a DLQ write failed; the timer loop retries pending dead letters
	logged      groupLog          // what logChangesLocked last logged
	// ready is closed and replaced whenever something may have become
	// deliverable without an append (a handoff, a nack, an expiry), to wake
	// long polls.
	ready chan struct{}
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

func newCoordinator(b *Broker, store *offsetStore) *coordinator {
	return &coordinator{
		b:      b,
		gcfg:   b.cfg.Groups,
		dcfg:   b.cfg.Delivery.Or(delivery.Defaults()),
		store:  store,
		wakeCh: make(chan struct{}, 1),
		groups: make(map[string]*cgroup),
	}
}

func (c *coordinator) newGroup(id string) *cgroup {
	return &cgroup{
		id:    id,
		g:     group.New(id, c.gcfg),
		d:     delivery.NewGroup(c.dcfg),
		hosts: make(map[string]string),
		ready: make(chan struct{}),
	}
}

// restore rebuilds the groups that have stored offsets. Their members are
// gone with the old process: what they had in flight is delivered again.
func (c *coordinator) restore() error {
	stored, err := c.store.load()
	if err != nil {
		return err
	}
	for id, parts := range stored {
		cg := c.newGroup(id)
		for tp, so := range parts {
			cg.d.Restore(tp, so.Committed, so.Acked)
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
// group).
func (c *coordinator) getOrCreate(id string) *cgroup {
	c.mu.Lock()
	defer c.mu.Unlock()
	cg := c.groups[id]
	if cg == nil {
		cg = c.newGroup(id)
		c.groups[id] = cg
	}
	return cg
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
	rel := cg.g.DrainReleased()
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
	c.wake()
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
	if c.store.jr != nil {
		t := time.NewTicker(c.b.cfg.FsyncInterval)
		defer t.Stop()
		flush = t.C
	}
	for {
		next, ok := c.tick()
		wait := time.Hour
		if ok {
			wait = max(next.Sub(c.b.now()), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-c.wakeCh:
		case <-flush:
			if err := c.store.sync(); err != nil {
				c.b.log.Error("fsync of group offsets failed", "err", err)
			}
		case <-topics:
			topics = c.b.TopicsChanged()
			c.syncTopics()
		}
	}
}

// tick runs every due timer of every group and returns the earliest
// deadline left.
func (c *coordinator) tick() (next time.Time, ok bool) {
	for _, cg := range c.all() {
		at, has := c.tickGroup(cg)
		if has && (!ok || at.Before(next)) {
			next, ok = at, true
		}
	}
	return next, ok
}

// recheck is how soon the timer loop looks again at a group holding a
// redelivery that is due but not yet polled: delivery.Group reports one
// earliest deadline, which then hides its later visibility timeouts.
const recheck = 50 * time.Millisecond

func (c *coordinator) tickGroup(cg *cgroup) (time.Time, bool) {
	cg.mu.Lock()
	now := c.b.now()
	if at, ok := cg.g.NextDeadline(); ok && !at.After(now) {
		cg.g.Tick(now)
		c.afterOpLocked(cg)
	}
	var writes []offsetWrite
	if cg.deadFailed {
		for _, tp := range c.retryDeadLocked(cg) {
			writes = append(writes, c.snapshotLocked(cg, tp))
		}
	}
	if at, ok := cg.d.NextDeadline(); ok && !at.After(now) {
		var dirty []delivery.TP
		for _, dl := range cg.d.Tick(now) {
			if err := c.deadLetterLocked(cg, dl); err != nil {
				c.b.log.Error("dead-letter write failed; retried at the next tick", "group", cg.id, "topic", dl.TP.Topic, "partition", dl.TP.Partition, "offset", dl.Offset, "err", err)
				continue
			}
			if !slices.Contains(dirty, dl.TP) {
				dirty = append(dirty, dl.TP)
			}
		}
		for _, tp := range dirty {
			writes = append(writes, c.snapshotLocked(cg, tp))
		}
		// Expired or backed-off messages are due: wake the polls.
		cg.signalLocked()
	}
	next, ok := cg.g.NextDeadline()
	if cg.deadFailed && (!ok || now.Add(time.Second).Before(next)) {
		next, ok = now.Add(time.Second), true
	}
	if at, has := cg.d.NextDeadline(); has {
		if !at.After(now) {
			at = now.Add(recheck)
		}
		if !ok || at.Before(next) {
			next, ok = at, true
		}
	}
	cg.mu.Unlock()
	if err := c.store.write(writes); err != nil {
		c.b.log.Error("persist dead-lettered offsets", "group", cg.id, "err", err)
	}
	return next, ok
}

// syncTopics tells every group the current partition counts (a topic
// created, deleted or grown), and forgets the offsets of partitions that no
// longer exist.
func (c *coordinator) syncTopics() {
	counts := c.partitionCounts()
	var writes []offsetWrite
	for _, cg := range c.all() {
		cg.mu.Lock()
		cg.g.SetPartitions(c.b.now(), counts)
		c.afterOpLocked(cg)
		for _, tp := range cg.d.Partitions() {
			if tp.Partition >= counts[tp.Topic] {
				cg.d.Forget(tp)
				writes = append(writes, c.snapshotLocked(cg, tp)) // a deletion
			}
		}
		cg.mu.Unlock()
	}
	if err := c.store.write(writes); err != nil {
		c.b.log.Error("forget offsets of deleted topics", "err", err)
	}
}

// openGroups opens offsets.db and restores the groups stored in it.
func (b *Broker) openGroups() error {
	policy, err := parseFsync(b.cfg.Fsync)
	if err != nil {
		return err
	}
	store, err := openOffsets(b.cfg.DataDir, policy)
	if err != nil {
		return err
	}
	b.coord = newCoordinator(b, store)
	if err := b.coord.restore(); err != nil {
		store.close()
		return err
	}
	return nil
}
