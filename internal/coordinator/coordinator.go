// Package coordinator runs the broker's consumer groups. It owns every
// group's state (one groupstate.Group each: membership, in-flight
// messages, settings), their committed offsets and acknowledgements and
// the durability of those (offsets.db, through internal/offsetstore), and
// their history (lag samples and rebalances, rebalances.jsonl). It owns no
// topic, log or metadata: it reads the logs and writes dead letters and
// saved settings through Broker, the small interface it defines, which
// internal/broker implements. Its API is the broker's domain vocabulary
// (groupio.go, groupview.go): durations, no wire names.
package coordinator

import (
	"context"
	"errors"
	"github.com/abd-ulbasit/goqueue/recordbatch"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/group"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/history"
	"github.com/abd-ulbasit/goqueue/internal/offsetstore"
)

// Config is what a coordinator needs to open. Zero group, delivery and
// history fields take those packages' defaults.
type Config struct {
	DataDir       string                // holds offsets.db and rebalances.jsonl
	Fsync         commitlog.FsyncPolicy // of the offsets
	FsyncInterval time.Duration         // checkpoints of the offsets under interval and never
	Groups        group.Config
	Delivery      delivery.Config
	History       history.Config
	MaxGroups     int // > 0
	MaxMembers    int // > 0; per group
	// OffsetsRetention is how long a group may stay empty and idle
	// before it is deleted with its offsets (groupexpiry.go); 0 keeps
	// every group for ever.
	OffsetsRetention time.Duration
	// CheckID reports whether a group ID is legal (the broker's naming
	// rules), as an INVALID_ARGUMENT error; nil accepts any ID.
	CheckID func(id string) error
	Logger  *slog.Logger     // nil: slog.Default()
	Now     func() time.Time // nil: time.Now
	// Decompress is charged with the record data of the compressed
	// batches a poll reads, from when it decompresses them until the poll
	// ends (the broker's budget for decompressed data); a poll it has no
	// room for hands its messages back and answers TOO_MANY_REQUESTS.
	// nil: none.
	Decompress recordbatch.Budget
}

// Coordinator owns every consumer group of the broker: per group its
// decided state (a groupstate.Group: membership, per-message delivery and
// the settings beside them), and the durable offsets of all of them
// (offsetstore.Store). Its exported methods are safe for concurrent use.
// Lifecycle: Open restores the groups, Run runs the timer loop and the lag
// sampler until its context ends, Close writes the history and closes
// offsets.db (after Run has returned).
//
// Locking: mu guards the groups map only; each cgroup has its own mutex
// that serialises the commands on its aggregate. Lock order is
// cgroup.saveMu before coordinator.mu before cgroup.mu; no cgroup.mu is
// held while taking coordinator.mu. schedMu is a leaf: taken under cgroup.mu, it takes no
// other lock. Every operation locks its group, runs one command on the
// aggregate, unlocks, and only then performs the command's effects through
// io (reading records, writing dead letters, persisting offsets and
// settings): no disk I/O happens under a group's lock. A single timer loop
// (run) ticks a group when its scheduled deadline comes, and only then;
// there is no goroutine per group or member.
type Coordinator struct {
	b      Broker
	opts   Config            // immutable after Open
	log    *slog.Logger      // immutable after Open
	clock  func() time.Time  // immutable after Open
	cfg    groupstate.Config // immutable
	hist   groupHistory      // lag samples and rebalances; set in Open
	store  *offsetstore.Store
	io     groupIO       // everything done outside the groups' state; never called under a group lock
	wakeCh chan struct{} // buffered 1: a deadline may have moved earlier
	runs   *runCache     // what polls read ahead; see pollcache.go
	// repl keeps the groups' durable state on a cluster node (nil on a
	// single broker); set with io by Replicate before serving.
	repl Replicated

	groupTicks atomic.Int64 // groups the timer loop has ticked: what an idle broker must not grow
	expired    atomic.Int64 // groups deleted by offsets retention (groupexpiry.go)
	// alive is when the sweep last kept the time (saveClocks); touched
	// only by the sweep.
	alive time.Time
	// external shows the groups another front end runs (SetExternalViews).
	external atomic.Pointer[ExternalViews]
	// resync asks the timer loop to tell every group the topics (groups
	// adopted since its last look know none: see Adopt).
	resync atomic.Bool

	schedMu sync.Mutex
	sched   map[*cgroup]time.Time // guarded by schedMu: each group's next deadline; absent: none
	armed   time.Time             // guarded by schedMu: when the loop looks next; zero while it ticks

	holds atomic.Uint64 // the last ClassicHold.Token handed out

	mu     sync.Mutex
	groups map[string]*cgroup // guarded by mu
	// adoptedClassic is the classic membership of groups adopted
	// (Adopt), until the front end takes it (AdoptedClassicMembers);
	// guarded by mu.
	adoptedClassic map[string][]byte
}

// cgroup is one consumer group. mu guards every field below it.
type cgroup struct {
	id    string
	epoch uint64 // the epoch it is coordinated under in a cluster (replicated.go); 0 on a single broker

	// saveMu serialises what may save or forget the group's settings
	// (joins that create it, its deletion) across the save, which the
	// group's lock must not be held over. It is taken before mu and
	// before the coordinator's mu (ForgetBlankGroup only tries it).
	saveMu sync.Mutex

	mu sync.Mutex
	a  *groupstate.Group
	// ready is closed and replaced whenever a command's effects say so
	// (Effects.Wake: something may have become deliverable without an
	// append, or a member's assignment may have changed), to wake long
	// polls.
	ready    chan struct{}
	logged   groupLog // what logChangesLocked (or RecordRebalance) last logged
	recorded int64    // newest generation whose closed rebalance went to the history
	dropped  bool     // no longer this node's (replicated.go): the timer loop never ticks it
	// unwritten holds the offset writes that failed, the newest per
	// partition: settled in memory, not yet durable. The group's next
	// ack, nack, extend, commit or reset carries them with its own write
	// (pending.durable), and the timer loop tries them again after
	// rewriteAfter, so that an acknowledgement answered "applied, not
	// durable" becomes durable without its partition changing again, and
	// its retry (NOT_IN_FLIGHT by then) answers success only once it has.
	unwritten map[delivery.TP]offsetstore.Write
	// rewriteAt is when the timer loop tries unwritten again: while any
	// is kept, no command schedules the group's tick after it
	// (scheduleLocked).
	rewriteAt time.Time
	// rewriting counts the writes carrying unwritten ones in progress;
	// rewrittenCond (see rewritten) is signalled as each ends.
	rewriting     int
	rewrittenCond *sync.Cond
	// writing holds the group's offset writes in progress, by sequence
	// number, each's partition: those numbered (doneLocked) and not yet
	// done, and those of unwritten a write carries again; lastSeq is the
	// last numbered; writesDone is closed and replaced as some end. A read
	// of the committed offsets waits for those numbered before it
	// (GroupOffsets).
	writing    map[uint64]delivery.TP
	lastSeq    uint64
	writesDone chan struct{}
	// written is, per partition, the newest of the group's offset writes
	// that ended written, or the state the group was restored or adopted
	// with (seq 0, older than any write of this group object): what a
	// restart or the group's next coordinator would have. The reads that
	// must not wait show it for a partition with a write in progress or
	// kept unwritten (writtenView).
	written map[delivery.TP]writtenOffset
	// classicHold is the token of the group's classic hold (0: none;
	// classic_members.go).
	classicHold uint64
	// active is when the group was last in use, for offsets retention
	// (groupexpiry.go): the last command that found or left it with
	// members, or that changed what is stored of it; when it was
	// restored or adopted, as the rule there says. members is whether it
	// had members (or a classic hold) after its last command.
	active  time.Time
	members bool
	// stored is the clock last kept (saveClocks: unix ms, or
	// markInUse; 0: none yet).
	stored int64
	// ceiling is, on a cluster node, the highest generation this node
	// may tell the group's members before it reserves more (reserve);
	// reserving, the highest generation a reserveAside in progress (or
	// done) covers.
	ceiling, reserving int64
}

// Open opens offsets.db and the rebalance history in cfg.DataDir and
// restores the groups stored there. b is the rest of the broker; its topics
// must be recovered already.
func Open(cfg Config, b Broker) (*Coordinator, error) {
	store, err := offsetstore.Open(cfg.DataDir, cfg.Fsync)
	if err != nil {
		return nil, err
	}
	c := newCoordinator(cfg, b, store)
	if err := c.openHistory(); err != nil {
		store.Close()
		return nil, err
	}
	if err := c.restore(); err != nil {
		store.Close()
		return nil, err
	}
	return c, nil
}

// Close writes the rebalance history and closes offsets.db.
func (c *Coordinator) Close() error {
	return errors.Join(c.hist.rebalances.Flush(), c.store.Close())
}

func newCoordinator(cfg Config, b Broker, store *offsetstore.Store) *Coordinator {
	c := &Coordinator{
		b:     b,
		opts:  cfg,
		log:   cfg.Logger,
		clock: cfg.Now,
		cfg: groupstate.Config{
			Group:      cfg.Groups,
			Delivery:   cfg.Delivery.Or(delivery.Defaults()),
			MaxMembers: cfg.MaxMembers,
		},
		store:  store,
		wakeCh: make(chan struct{}, 1),
		runs:   newRunCache(pollCacheBytes),
		groups: make(map[string]*cgroup),
		sched:  make(map[*cgroup]time.Time),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	c.io = brokerIO{c}
	return c
}

func (c *Coordinator) newGroup(id string) *cgroup {
	return &cgroup{id: id, a: groupstate.New(id, c.cfg), ready: make(chan struct{}), active: c.now()}
}

// restore rebuilds the groups that have stored offsets. Their members are
// gone with the old process: what they had in flight is delivered again.
func (c *Coordinator) restore() error {
	stored, err := c.store.Load()
	if err != nil {
		return err
	}
	saved, err := c.b.GroupSettings()
	if err != nil {
		return err
	}
	alive, active, err := c.store.Marks()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restoreGroupsLocked(0, stored, saved, Clocks{Alive: alive, Active: active})
	return nil
}

// lookup returns the group id, or GROUP_NOT_FOUND; on a cluster node
// that does not coordinate it now, NOT_COORDINATOR (a front end that has
// not heard yet that the group moved: its client looks the coordinator up
// again, where GROUP_NOT_FOUND would fail a commit for good).
func (c *Coordinator) lookup(id string) (*cgroup, error) {
	c.mu.Lock()
	cg := c.groups[id]
	c.mu.Unlock()
	if cg != nil {
		return cg, nil
	}
	if c.repl != nil {
		if _, ok := c.repl.Epoch(id); !ok {
			return nil, api.ErrNotCoordinator.Withf("group %s is not coordinated here now", id).WithDetail("group", id)
		}
	}
	return nil, api.ErrGroupNotFound.Withf("group %q does not exist", id).WithDetail("group", id)
}

// getOrCreate returns the group id, creating it (a first join creates a
// group) unless the broker holds MaxGroups groups already.
func (c *Coordinator) getOrCreate(id string) (*cgroup, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cg := c.groups[id]
	if cg == nil {
		if err := c.groupLimitLocked(id); err != nil {
			return nil, err
		}
		var err error
		if cg, err = c.newGroupLocked(id); err != nil {
			return nil, err
		}
		c.groups[id] = cg
	}
	return cg, nil
}

// all returns every group, sorted by ID.
func (c *Coordinator) all() []*cgroup {
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
func (c *Coordinator) wake() {
	select {
	case c.wakeCh <- struct{}{}:
	default:
	}
}

// Run runs the timer loop, samples the groups' lag for their history,
// lets go of the poll read-aheads no group uses (sweepRuns) and deletes
// the groups idle past the offsets retention (expireLoop) until ctx ends.
// It returns nil on cancellation.
func (c *Coordinator) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.run(ctx) })
	g.Go(func() error { return c.sampleLoop(ctx) })
	g.Go(func() error { return c.sweepRuns(ctx) })
	g.Go(func() error { return c.expireLoop(ctx) })
	return g.Wait()
}

// run is the timer loop: it ticks every group whose next deadline has come,
// and follows topic changes, until ctx ends.
func (c *Coordinator) run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	topics := c.b.TopicsChanged()
	c.syncTopics()
	// The offsets' checkpoints: every fsync interval under interval, and
	// under never too, so that the journal stays short.
	var flush <-chan time.Time
	if c.store.Journaled() {
		t := time.NewTicker(c.opts.FsyncInterval)
		defer t.Stop()
		flush = t.C
	}
	for {
		if c.resync.Swap(false) {
			c.syncTopics()
		}
		timer.Reset(max(c.tick().Sub(c.now()), 0))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-c.wakeCh:
		case <-flush:
			if err := c.store.Sync(); err != nil {
				c.log.Error("fsync of group offsets failed", "err", err)
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
func (c *Coordinator) tick() time.Time {
	now := c.now()
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
	next := c.now().Add(idle)
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
func (c *Coordinator) scheduleLocked(cg *cgroup, next time.Time) {
	switch {
	case cg.dropped:
		next = time.Time{} // a command still running on it must not tick it again
	case len(cg.unwritten) > 0 && (next.IsZero() || next.After(cg.rewriteAt)):
		// A command's deadline (a heartbeat's, an empty group's none)
		// must not put off the timer's try of the failed writes: reads of
		// the group's offsets answer UNAVAILABLE until they are written.
		next = cg.rewriteAt
	}
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

func (c *Coordinator) tickGroup(cg *cgroup) {
	c.groupTicks.Add(1)
	cg.mu.Lock()
	p := c.doneLocked(cg, cg.a.Tick(c.now()))
	unkept := cg.a.Unkept() // its last member expired, say
	cg.mu.Unlock()
	p.rewrite = true // the timer's try of the group's failed writes (rewriteAfter)
	if err := c.perform(cg, p); err != nil {
		c.log.Error("persist offsets of a group's deadlines", "group", cg.id, "err", err)
	}
	if unkept {
		c.forgetUnkeptGroup(cg)
	}
}

// syncTopics tells every group the topics that exist now (a topic
// created, deleted, grown, or created again under its name: see
// groupstate.Group.SetTopics). An empty group whose offsets were all of
// deleted topics goes with them (forgetUnkeptGroup), as when its last
// member leaves. Only the timer loop calls it.
func (c *Coordinator) syncTopics() {
	view := c.topicView(nil)
	for _, cg := range c.all() {
		cg.mu.Lock()
		p := c.doneLocked(cg, cg.a.SetTopics(c.now(), view))
		// Only a group this sync took offsets from: one just made for
		// its first commit or reset, unkept until that is written, went
		// too, and the commit failed GROUP_NOT_FOUND.
		unkept := slices.ContainsFunc(p.writes, func(w offsetstore.Write) bool { return w.Delete }) && cg.a.Unkept()
		cg.mu.Unlock()
		if err := c.perform(cg, p); err != nil {
			c.log.Error("forget offsets of deleted topics", "group", cg.id, "err", err)
		}
		if unkept {
			c.forgetUnkeptGroup(cg)
		}
	}
}

// groupLimitLocked refuses to create group id past MaxGroups. The caller
// holds c.mu.
func (c *Coordinator) groupLimitLocked(id string) error {
	limit := c.opts.MaxGroups
	if len(c.groups) < limit {
		return nil
	}
	return api.ErrTooManyGroups.Withf("the broker holds %d groups, its limit; delete empty groups or raise --max-groups", len(c.groups)).
		WithDetail("group", id).WithDetail("max_groups", limit)
}
