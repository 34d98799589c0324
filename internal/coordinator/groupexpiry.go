package coordinator

import (
	"context"
	"errors"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
	"github.com/abd-ulbasit/goqueue/internal/periodic"
)

// Offsets retention, as Kafka's offsets.retention.minutes since KIP-211:
// a group that has been empty (no members of its own, no classic Kafka
// members holding it) and idle (no join, commit, reset or other write of
// its offsets) for Config.OffsetsRetention is deleted exactly as
// DELETE /groups/{id} deletes it (deleteGroup): its offsets and settings,
// its entry in GET /groups and its place against MaxGroups go. Kept for
// ever, the groups of short-lived consumers (tests, ad-hoc consumers with
// random names) filled MaxGroups and the disk for good, and anyone
// allowed to commit could fill them on purpose.
//
// A group's clock (cgroup.active) is the last command that found or left
// it with members, or that changed what is stored of it (touchLocked):
// its last member's leave or expiry starts it, a join, commit or reset
// sets it back to now. Reads (describe, offsets, lag) do not count, as
// in Kafka. On a cluster node only the groups this node coordinates are
// swept, and the deletion is the replicated one (Replicated.DeleteGroup),
// fenced by the epoch, so every replica agrees.
//
// The clocks outlive a restart, and a move of a group to another
// coordinator, but the time the groups had no coordinator (the broker
// down) does not count: a group empty for five days of a seven-day
// retention has two days left after a restart, however long the broker
// was stopped. Restarting the clock instead would keep the groups of a
// broker restarted more often than the retention for ever; counting the
// downtime would delete them all the moment a broker starts after a long
// stop, before their consumers are back. So the sweep keeps (saveClocks)
// each empty group's clock once it has moved clockStep past the one kept
// (a group with members as in use, markInUse, once), and when it last
// swept (alive), every clockStep: in offsets.db on a single broker, in
// the group's shard on a cluster. A group restored
// or adopted (restoreClockLocked) goes on from its clock kept, moved on
// by the time since alive and by what may have been lost since the last
// keep (clockSlack): never earlier than the rule says, at most
// 2·clockSlack (four minutes) later. A group with no clock kept (made
// since the last sweep, or by a version without them), or that had
// members when last kept (markInUse), starts a full retention.

// Clocks are the offsets retention's clocks as last kept, for Adopt (and
// Open): unix ms.
type Clocks struct {
	Alive  int64            // when the groups' coordinator last swept them; 0: unknown
	Active map[string]int64 // per group, when it was last in use
}

// activeMark is a group's clock to keep (unix ms, or markInUse), taken
// at seq under its lock.
type activeMark struct {
	g   groupKey
	seq uint64
	at  int64
}

// DefaultOffsetsRetention is Kafka's offsets.retention.minutes: 7 days.
const DefaultOffsetsRetention = 7 * 24 * time.Hour

// expiryCheck is how often the groups are swept for a retention of r: a
// sixteenth of it (a group goes at most that late), at most a minute (as
// Kafka's offsets.retention.check.interval.ms is ten), at least 10 ms.
func expiryCheck(r time.Duration) time.Duration {
	return max(min(r/16, time.Minute), 10*time.Millisecond)
}

// clockStep is how far an empty group's clock moves before the sweep
// keeps it again, and how often the sweep keeps alive: a sixty-fourth
// of the retention, at most a minute.
func clockStep(r time.Duration) time.Duration { return min(max(r/64, time.Millisecond), time.Minute) }

// clockSlack bounds what a crash loses of a clock: what it moved since
// it was last kept (a clockStep) and since the last sweep.
func clockSlack(r time.Duration) time.Duration { return clockStep(r) + expiryCheck(r) }

// markInUse is the clock kept of a group that had members (or a classic
// hold) at the sweep: after a restart it starts a full retention, as its
// members were gone with the broker. So a busy group's clock is kept
// when it gains its members and when it loses them, not as they
// heartbeat.
const markInUse = -1

// clockRetention is the retention the clocks are kept for: the
// default's when there is none, so that the clocks stay true while the
// retention is off (0) and a retention turned on later does not take
// the time a group was in use then for idle time.
func (c *Coordinator) clockRetention() time.Duration {
	if r := c.opts.OffsetsRetention; r > 0 {
		return r
	}
	return DefaultOffsetsRetention
}

// expireLoop sweeps the groups until ctx ends.
func (c *Coordinator) expireLoop(ctx context.Context) error {
	periodic.Every(ctx, expiryCheck(c.clockRetention()), func() { c.sweep() })
	return nil
}

// sweep deletes the groups idle past the retention, if any
// (expireIdle), and keeps the clocks (saveClocks), even with the
// retention off; it returns how many groups went.
func (c *Coordinator) sweep() int {
	n := 0
	if c.opts.OffsetsRetention > 0 {
		n = c.expireIdle()
	}
	c.saveClocks()
	return n
}

// restoreClockLocked sets the clock of cg, restored or adopted, from
// clocks (see above). The caller holds c.mu; cg is not shared yet.
func (c *Coordinator) restoreClockLocked(cg *cgroup, clocks Clocks) {
	now := c.now()
	cg.active = now
	at, ok := clocks.Active[cg.id]
	if !ok || clocks.Alive == 0 {
		return
	}
	cg.stored = at
	if at == markInUse {
		return
	}
	active := time.UnixMilli(at).Add(clockSlack(c.clockRetention()) + max(now.Sub(time.UnixMilli(clocks.Alive)), 0))
	if active.Before(now) {
		cg.active = active
	}
}

// saveClocks keeps the clocks of the groups whose clock kept is out of
// date (markDue), and alive every clockStep while there are groups (a
// broker with none writes nothing). Only the sweep calls it.
func (c *Coordinator) saveClocks() {
	step := clockStep(c.clockRetention())
	var (
		marks  []activeMark
		groups []*cgroup
	)
	all := c.all()
	if len(all) == 0 {
		return
	}
	for _, cg := range all {
		cg.mu.Lock()
		at := cg.active.UnixMilli()
		if !cg.a.Empty() || cg.a.HeldClassic() {
			at = markInUse
		}
		if !cg.dropped && markDue(cg.stored, at, step) {
			marks = append(marks, activeMark{g: cg.key(), seq: c.store.Next(), at: at})
			groups = append(groups, cg)
		}
		cg.mu.Unlock()
	}
	now := c.now()
	var alive int64
	if now.Sub(c.alive) >= step {
		alive = now.UnixMilli()
	}
	if alive == 0 && len(marks) == 0 {
		return
	}
	kept, err := c.io.saveClocks(alive, marks)
	if err != nil {
		// Kept, they are kept at the next sweep: until then a restart
		// gives those groups more time, never less.
		c.log.Error("keep the groups' offsets retention clocks", "groups", len(marks), "err", err)
	}
	for i, cg := range groups {
		if kept[i] {
			cg.mu.Lock()
			cg.stored = marks[i].at
			cg.mu.Unlock()
		}
	}
	if err == nil && alive != 0 {
		c.alive = now
	}
}

// markDue reports whether the clock kept of a group, stored (0: none),
// is out of date now that its clock reads at (markInUse, or unix ms):
// none is kept, the group gained or lost its members, or its clock moved
// step past the one kept.
func markDue(stored, at int64, step time.Duration) bool {
	switch {
	case stored == 0, (stored == markInUse) != (at == markInUse):
		return true
	case at == markInUse:
		return false
	}
	return at-stored >= step.Milliseconds()
}

// touchLocked runs after every command of cg (doneLocked): if the
// command found or left it with members (or a classic hold), it is in
// use now. Callers hold cg.mu.
func (c *Coordinator) touchLocked(cg *cgroup) {
	members := !cg.a.Empty() || cg.a.HeldClassic()
	if members || cg.members {
		cg.active = c.now()
	}
	cg.members = members
}

// usedLocked marks cg in use now if fx, a client's commit, reset or
// deletion of offsets, stores some: that keeps an empty group, as a
// commit keeps Kafka's offsets. The writes no client asked for (a topic
// sync's after a restart, a timer's) do not. Callers hold cg.mu.
func (c *Coordinator) usedLocked(cg *cgroup, fx groupstate.Effects) {
	if len(fx.Offsets) > 0 {
		cg.active = c.now()
	}
}

// errInUse keeps a group expireIdle chose from going: it was used since.
var errInUse = errors.New("coordinator: group in use again")

// expireIdle deletes every group empty and idle for the offsets retention
// and returns how many went. Each is checked once more under its lock in
// the deletion itself, so that a join or commit racing the sweep keeps it.
// A deletion that fails (a full disk; on a cluster node, a shard that
// takes no write, each try waiting its timeout with the coordinator's
// lock held, as DELETE's does) ends the sweep: the next tries again, so
// that an outage costs one such wait per sweep, not one per group.
func (c *Coordinator) expireIdle() int {
	n := 0
	for _, cg := range c.all() {
		cg.mu.Lock()
		due := c.idleLocked(cg, c.now())
		cg.mu.Unlock()
		if !due {
			continue
		}
		var idle time.Duration
		err := c.deleteGroup(cg.id, func(cg *cgroup) error {
			now := c.now()
			if !c.idleLocked(cg, now) {
				return errInUse
			}
			idle = now.Sub(cg.active)
			return nil
		})
		switch {
		case err == nil:
			n++
			c.expired.Add(1)
			c.log.Info("group expired", "group", cg.id, "empty_for", idle.Round(time.Millisecond).String(),
				"offsets_retention", c.opts.OffsetsRetention.String())
		case errors.Is(err, errInUse), errors.Is(err, api.ErrGroupNotFound), errors.Is(err, api.ErrGroupNotEmpty):
		default:
			// Kept, as DELETE keeps it (a full disk, a deposed
			// coordinator): the next sweep tries again.
			c.log.Error("delete an expired group; the next sweep tries again", "group", cg.id, "err", err)
			return n
		}
	}
	return n
}

// idleLocked reports whether cg has been empty and idle for the offsets
// retention, with no offset write of its own in progress or failed. A
// group with members, or held by classic Kafka members, is in use now.
// Callers hold cg.mu.
func (c *Coordinator) idleLocked(cg *cgroup, now time.Time) bool {
	r := c.opts.OffsetsRetention
	if r <= 0 || cg.dropped {
		return false
	}
	if !cg.a.Empty() || cg.a.HeldClassic() {
		cg.active = now
		return false
	}
	return now.Sub(cg.active) >= r && len(cg.unwritten) == 0 && cg.rewriting == 0 && len(cg.writing) == 0
}

// expiresAtLocked is when the sweep deletes cg (at the first sweep from
// then) if nothing uses it before; zero while it is in use, or with no
// retention. Callers hold cg.mu.
func (c *Coordinator) expiresAtLocked(cg *cgroup) time.Time {
	r := c.opts.OffsetsRetention
	if r <= 0 || cg.dropped || !cg.a.Empty() || cg.a.HeldClassic() {
		return time.Time{}
	}
	return cg.active.Add(r)
}

// Expired counts the groups deleted by offsets retention since Open.
func (c *Coordinator) Expired() int64 { return c.expired.Load() }
