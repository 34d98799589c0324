package broker

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// coordinator owns every consumer group of the broker: per group its
// decided state (a groupstate.Group: membership, per-message delivery and
// the settings beside them), and the durable offsets of all of them
// (offsetstore.Store).
//
// Locking: mu guards the groups map only; each cgroup has its own mutex
// that serialises the commands on its aggregate. Lock order is
// coordinator.mu before cgroup.mu; no cgroup lock is held while taking
// coordinator.mu. schedMu is a leaf: taken under cgroup.mu, it takes no
// other lock. Every operation locks its group, runs one command on the
// aggregate, unlocks, and only then performs the command's effects through
// io (reading records, writing dead letters, persisting offsets and
// settings): no disk I/O happens under a group's lock. A single timer loop
// (run) ticks a group when its scheduled deadline comes, and only then;
// there is no goroutine per group or member.
type coordinator struct {
	b      *Broker
	cfg    groupstate.Config // immutable
	store  *offsetstore.Store
	io     groupIO       // everything done outside the groups' state; never called under a group lock
	wakeCh chan struct{} // buffered 1: a deadline may have moved earlier
	runs   *runCache     // what polls read ahead; see pollcache.go

	groupTicks atomic.Int64 // groups the timer loop has ticked: what an idle broker must not grow

	schedMu sync.Mutex
	sched   map[*cgroup]time.Time // guarded by schedMu: each group's next deadline; absent: none
	armed   time.Time             // guarded by schedMu: when the loop looks next; zero while it ticks

	mu     sync.Mutex
	groups map[string]*cgroup // guarded by mu
}

// cgroup is one consumer group. mu guards every field below it.
type cgroup struct {
	id string

	mu sync.Mutex
	a  *groupstate.Group
	// ready is closed and replaced whenever a command's effects say so
	// (Effects.Wake: something may have become deliverable without an
	// append, or a member's assignment may have changed), to wake long
	// polls.
	ready    chan struct{}
	logged   groupLog // what logChangesLocked last logged
	recorded int64    // newest generation whose closed rebalance went to the history
}

func newCoordinator(b *Broker, store *offsetstore.Store) *coordinator {
	c := &coordinator{
		b: b,
		cfg: groupstate.Config{
			Group:      b.cfg.Groups,
			Delivery:   b.cfg.Delivery.Or(delivery.Defaults()),
			MaxMembers: b.cfg.Limits.withDefaults().MaxGroupMembers,
		},
		store:  store,
		wakeCh: make(chan struct{}, 1),
		runs:   newRunCache(pollCacheBytes),
		groups: make(map[string]*cgroup),
		sched:  make(map[*cgroup]time.Time),
	}
	c.io = brokerIO{c}
	return c
}

func (c *coordinator) newGroup(id string) *cgroup {
	return &cgroup{id: id, a: groupstate.New(id, c.cfg), ready: make(chan struct{})}
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
			cg.a.RestoreSettings(set.state())
			c.groups[id] = cg
		}
	}
	for id, parts := range stored {
		cg := c.newGroup(id)
		cg.a.RestoreSettings(saved[id].state())
		for _, tp := range slices.SortedFunc(maps.Keys(parts), compareTP) {
			so := parts[tp]
			cg.a.Restore(tp, so.Committed, so.Acked, so.Born)
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

// scheduleLocked records when the timer loop must next tick cg (zero:
// never), and wakes the loop if that is before it would look. Callers hold
// cg.mu, so that a command's deadline never overwrites a later command's.
func (c *coordinator) scheduleLocked(cg *cgroup, next time.Time) {
	c.schedMu.Lock()
	if !next.IsZero() {
		c.sched[cg] = next
	} else {
		delete(c.sched, cg)
	}
	wake := !next.IsZero() && !c.armed.IsZero() && next.Before(c.armed)
	c.schedMu.Unlock()
	if wake {
		c.wake()
	}
}

func (c *coordinator) tickGroup(cg *cgroup) {
	c.groupTicks.Add(1)
	cg.mu.Lock()
	p := c.doneLocked(cg, cg.a.Tick(c.b.now()))
	cg.mu.Unlock()
	if err := c.perform(cg, p); err != nil {
		c.b.log.Error("persist offsets of a group's deadlines", "group", cg.id, "err", err)
	}
}

// syncTopics tells every group the topics that exist now (a topic
// created, deleted, grown, or created again under its name: see
// groupstate.Group.SetTopics). Only the timer loop calls it.
func (c *coordinator) syncTopics() {
	view := c.topicView(nil)
	for _, cg := range c.all() {
		cg.mu.Lock()
		p := c.doneLocked(cg, cg.a.SetTopics(c.b.now(), view))
		cg.mu.Unlock()
		if err := c.perform(cg, p); err != nil {
			c.b.log.Error("forget offsets of deleted topics", "group", cg.id, "err", err)
		}
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
