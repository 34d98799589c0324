package coordinator

import (
	"errors"
	"sync/atomic"

	"github.com/abd-ulbasit/goqueue/api"
)

// joinGuard holds a front end's veto on HTTP joins; lock-free.
type joinGuard struct {
	f atomic.Pointer[func(groupID string) error]
}

// SetJoinGuard makes every HTTP join ask guard first: a front end whose
// members form a group the broker's coordinator does not run (Kafka's
// classic groups) refuses HTTP members of that group, so a group speaks
// one protocol at a time. Set it before serving.
func (c *Coordinator) SetJoinGuard(guard func(groupID string) error) { c.guard.f.Store(&guard) }

func (c *Coordinator) checkJoinGuard(groupID string) error {
	if f := c.guard.f.Load(); f != nil {
		return (*f)(groupID)
	}
	return nil
}

// HasHTTPMembers reports whether groupID is a group of the broker's own
// coordinator with members right now.
func (c *Coordinator) HasHTTPMembers(groupID string) bool {
	cg, err := c.lookup(groupID)
	if err != nil {
		return false
	}
	cg.mu.Lock()
	defer cg.mu.Unlock()
	return !cg.a.Empty()
}

// StoreOffsets sets a group's committed offsets as another front end's
// members committed them (Kafka's OffsetCommit), creating the group if
// need be. They are the same offsets HTTP members commit: GET /groups/{id},
// lag metrics and the CLI show them. A group with HTTP members is refused
// with INCONSISTENT_GROUP_PROTOCOL. Errors also: TOPIC_NOT_FOUND,
// PARTITION_NOT_FOUND, OFFSET_OUT_OF_RANGE, GROUP_NOT_FOUND (deleted
// meanwhile).
func (c *Coordinator) StoreOffsets(groupID string, offsets Offsets) error {
	_, err := c.ResetOffsets(groupID, ResetParams{To: ResetOffsets, Offsets: offsets})
	if errors.Is(err, api.ErrGroupNotEmpty) {
		return api.ErrInconsistentProtocol.Withf("group %q has HTTP members; its offsets are theirs to commit", groupID).WithDetail("group", groupID)
	}
	return err
}
