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
// in Kafka. A group restored at start or adopted from the cluster starts
// its clock then: a restart (or a move of the group to another
// coordinator) gives its empty groups a full retention more, never less,
// so that no group is deleted the moment a broker starts after a long
// stop, whatever its clock said. On a cluster node only the groups this
// node coordinates are swept, and the deletion is the replicated one
// (Replicated.DeleteGroup), fenced by the epoch, so every replica agrees.

// DefaultOffsetsRetention is Kafka's offsets.retention.minutes: 7 days.
const DefaultOffsetsRetention = 7 * 24 * time.Hour

// expiryCheck is how often the groups are swept for a retention of r: a
// sixteenth of it (a group goes at most that late), at most a minute (as
// Kafka's offsets.retention.check.interval.ms is ten), at least 10 ms.
func expiryCheck(r time.Duration) time.Duration {
	return max(min(r/16, time.Minute), 10*time.Millisecond)
}

// expireLoop sweeps the groups (expireIdle) until ctx ends; nothing with
// no retention.
func (c *Coordinator) expireLoop(ctx context.Context) error {
	if r := c.opts.OffsetsRetention; r > 0 {
		periodic.Every(ctx, expiryCheck(r), func() { c.expireIdle() })
	}
	return nil
}

// touchLocked runs after every command of cg (doneLocked): the command
// found or left it with members (or a classic hold), or asks to store
// something of it, so it is in use now. Callers hold cg.mu.
func (c *Coordinator) touchLocked(cg *cgroup, fx groupstate.Effects) {
	members := !cg.a.Empty() || cg.a.HeldClassic()
	if members || cg.members || len(fx.Offsets) > 0 || fx.Settings != nil {
		cg.active = c.now()
	}
	cg.members = members
}

// errInUse keeps a group expireIdle chose from going: it was used since.
var errInUse = errors.New("coordinator: group in use again")

// expireIdle deletes every group empty and idle for the offsets retention
// and returns how many went. Each is checked once more under its lock in
// the deletion itself, so that a join or commit racing the sweep keeps it.
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
			c.log.Error("delete an expired group", "group", cg.id, "err", err)
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

// Expired counts the groups deleted by offsets retention since Open.
func (c *Coordinator) Expired() int64 { return c.expired.Load() }
