package multiraft

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// ErrRemoved answers the proposals and reads still pending in a group when
// it is removed.
var ErrRemoved = errors.New("multiraft: group removed")

// RemoveGroup stops group id if this node hosts it (its pending proposals
// and reads fail with ErrRemoved; its state machine is called no more)
// and deletes its directory, hosted or not: a node that missed a topic's
// deletion removes the groups it no longer opens. Messages that arrive for
// the group later are dropped as for any unknown group, so its ID must
// never be given to another group (the metadata never reuses one).
func (h *Host) RemoveGroup(id uint64) error {
	if h.closed {
		return ErrStopped
	}
	var errs []error
	if g, ok := h.groups[id]; ok {
		g.waits.failAll(ErrRemoved)
		for _, r := range g.reads {
			r.done(ErrRemoved)
		}
		g.reads = nil
		errs = append(errs, g.store.Close())
		delete(h.groups, id)
		h.order = slices.DeleteFunc(h.order, func(x uint64) bool { return x == id })
	}
	dir := h.groupDir(id)
	names, err := h.cfg.FS.List(dir)
	if err != nil && !errors.Is(err, vfs.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, name := range names {
		if err := h.cfg.FS.Remove(vfs.Join(dir, name)); err != nil && !errors.Is(err, vfs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	// The directory itself (empty now; an in-memory FS has none to remove).
	if err := h.cfg.FS.Remove(dir); err != nil && !errors.Is(err, vfs.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("multiraft: remove group %d: %w", id, err)
	}
	return nil
}

// RemoveGroup runs Host.RemoveGroup on the node's goroutine.
func (n *Node) RemoveGroup(ctx context.Context, id uint64) error {
	return n.call(ctx, func(h *Host) error { return h.RemoveGroup(id) })
}

// groupDir is where group id's store lives.
func (h *Host) groupDir(id uint64) string { return vfs.Join(h.cfg.Dir, fmt.Sprintf("g%d", id)) }
