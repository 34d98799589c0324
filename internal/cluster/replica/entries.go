package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// The partition's log is also where its Raft entries' batches are kept:
// the group's WAL holds, for an entry the partition stored, only a
// reference to where its batches are (multiraft.EntryStore). So the data
// is written once, when Raft persists the entry, at the offsets it will
// have; Apply then decides it in place and makes it visible. The log
// stores an entry only when it holds every entry before it (offsets follow
// the Raft log's order): while it does not (a catch-up, a snapshot being
// restored, an entry left in the WAL before), entries stay whole in the
// WAL, and Apply appends them, as a log written twice did.

// refLen is the length of a reference: the offsets [at, next).
const refLen = 16

// zeroBased reports whether every batch of cmd has base offset 0, as
// producers send them: the log writes offsets into its copy, and LoadEntry
// gives the entry back with base offsets 0, so that Raft's log holds the
// same bytes after a restart (the group's store checks their CRC-32C).
func zeroBased(cmd []byte) bool {
	for len(cmd) > 0 {
		n, ok := recordbatch.Len(cmd)
		if !ok || n > len(cmd) || n < recordbatch.HeaderLen || recordbatch.BaseOffset(cmd) != 0 {
			return false
		}
		cmd = cmd[n:]
	}
	return true
}

// StoreEntry writes entry index's batches to the log, beyond what readers
// see, and returns where they are; or declines (ok false), leaving the
// entry to the WAL. It stores an entry only when the log holds every entry
// with batches before it: none of those is still waiting in the WAL
// (p.inWAL). A failure of the log fails the replica (as at apply) and
// declines (the entry stays in the WAL): a failed replica refuses every
// entry after, and fails its next snapshot, which stops the node's host,
// as a failure of the WAL's disk does (a node that cannot persist must not
// acknowledge); a restart heals the log.
func (p *Partition) StoreEntry(index uint64, cmd []byte) (ref []byte, ok bool, err error) {
	p.wal.Lock()
	p.wal.cutFrom(index) // replaced: Raft persists entries in index order
	waiting := !p.wal.empty()
	p.wal.Unlock()
	if waiting || p.catching.Load() { // (a catch-up's appends may hold mu)
		p.KeptInWAL(index)
		return nil, false, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.failed != nil || p.restoring.Load() || !p.started || p.behind != nil || checkEntry(cmd) != nil || !zeroBased(cmd) {
		p.KeptInWAL(index)
		return nil, false, nil
	}
	at, next, err := p.log.WriteEntry(cmd)
	if err != nil {
		if !refusal(err) {
			p.failed = fmt.Errorf("replica: log failed storing entry %d: %w", index, err)
		}
		p.KeptInWAL(index)
		return nil, false, nil
	}
	p.inLog = index
	p.stored = append(p.stored, stored{index: index, at: at, next: next})
	ref = binary.BigEndian.AppendUint64(make([]byte, 0, refLen), uint64(at))
	return binary.BigEndian.AppendUint64(ref, uint64(next)), true, nil
}

// KeptInWAL says entry index, replayed from the WAL at the start, holds
// batches the WAL keeps whole (StoreEntry declined it): the log stores no
// later entry until it is applied.
func (p *Partition) KeptInWAL(index uint64) {
	p.wal.Lock()
	defer p.wal.Unlock()
	p.wal.cutFrom(index)
	p.wal.add(index)
}

// inWAL are the entries with batches that only the WAL holds and that
// are not applied yet, ascending. Its own lock, not mu: StoreEntry and
// KeptInWAL run on the Raft loop, which must not wait for a catch-up's
// appends. Taken after mu where both are held, never before.
type inWAL struct {
	sync.Mutex
	indexes []uint64
}

func (w *inWAL) empty() bool      { return len(w.indexes) == 0 }
func (w *inWAL) add(index uint64) { w.indexes = append(w.indexes, index) }

// cutFrom forgets the entries from index on (replaced, or cut).
func (w *inWAL) cutFrom(index uint64) {
	for len(w.indexes) > 0 && w.indexes[len(w.indexes)-1] >= index {
		w.indexes = w.indexes[:len(w.indexes)-1]
	}
}

// applied forgets the entries up to index: they are in the log now (or
// refused by every replica alike).
func (w *inWAL) applied(index uint64) {
	w.Lock()
	defer w.Unlock()
	k := 0
	for k < len(w.indexes) && w.indexes[k] <= index {
		k++
	}
	w.indexes = w.indexes[k:]
}

// reset forgets every entry: a snapshot replaced the Raft log
// (SnapshotArrived).
func (w *inWAL) reset() {
	w.Lock()
	defer w.Unlock()
	w.indexes = nil
}

// LoadEntry reads back the batches of entry index that StoreEntry stored
// at ref, as the group's store replays its WAL at the start. Batches
// the log no longer holds (its unsynced tail, lost) are
// multiraft.ErrEntryMissing.
func (p *Partition) LoadEntry(index uint64, ref []byte) ([]byte, error) {
	if len(ref) != refLen {
		return nil, fmt.Errorf("replica: entry %d: a reference of %d bytes", index, len(ref))
	}
	at, next := int64(binary.BigEndian.Uint64(ref)), int64(binary.BigEndian.Uint64(ref[8:]))
	if at < 0 || next <= at {
		return nil, fmt.Errorf("replica: entry %d: a reference to offsets [%d, %d)", index, at, next)
	}
	if next > p.log.NextOffset() || at < p.log.EarliestOffset() {
		return nil, fmt.Errorf("replica: entry %d at offsets [%d, %d), the log holds [%d, %d): %w",
			index, at, next, p.log.EarliestOffset(), p.log.NextOffset(), multiraft.ErrEntryMissing)
	}
	b, err := p.log.ReadEntry(at, next)
	if err != nil {
		return nil, fmt.Errorf("replica: entry %d: %w", index, err)
	}
	for rest := b; len(rest) > 0; {
		n, ok := recordbatch.Len(rest)
		if !ok || n > len(rest) {
			return nil, fmt.Errorf("replica: entry %d: a torn batch in the log's offsets [%d, %d): %w", index, at, next, multiraft.ErrEntryMissing)
		}
		recordbatch.SetBaseOffset(rest, 0) // as proposed (zeroBased)
		rest = rest[n:]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutStored(index) // a replay overwriting a suffix
	p.stored = append(p.stored, stored{index: index, at: at, next: next})
	p.inLog = index
	return b, nil
}

// CutEntries drops the batches of the stored entries from index on: a new
// leader's entries replace them.
func (p *Partition) CutEntries(index uint64) error {
	p.wal.Lock()
	p.wal.cutFrom(index)
	p.wal.Unlock()
	if p.catching.Load() {
		return nil // Restore dropped what was stored; none since
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if index > p.inLog {
		return nil
	}
	at, ok := p.cutStored(index)
	if !ok {
		// Only entries stored can be cut: the applied ones are committed.
		// (Entry index itself may hold no batches: an empty entry, or a
		// configuration change, cut with the stored ones after it.)
		p.failed = fmt.Errorf("replica: cut from entry %d, after which the log holds no stored entry", index)
		return nil
	}
	p.inLog = index - 1
	if err := p.log.TruncateTo(at); err != nil {
		p.failed = fmt.Errorf("replica: cut from entry %d: %w", index, err)
	}
	return nil
}

// cutStored forgets the stored entries from index on and returns where
// the first of them was (ok false: none was stored at index or after).
func (p *Partition) cutStored(index uint64) (at int64, ok bool) {
	for i, st := range p.stored {
		if st.index >= index {
			p.stored = p.stored[:i]
			return st.at, true
		}
	}
	return 0, false
}

// SyncEntries makes the stored entries durable. It may run beside the
// Raft loop (the node's flush). A closed log synced what it held as it
// closed.
func (p *Partition) SyncEntries() error {
	if err := p.log.Sync(); err != nil && !errors.Is(err, commitlog.ErrClosed) {
		return err
	}
	return nil
}

// SnapshotArrived says a snapshot is replacing Raft's log, which Restore
// will apply: until it has placed the log at the snapshot's end, entries
// stay in the WAL. The entries the WAL kept are forgotten with the log
// they were in, now, not at Restore: those persisted after the snapshot
// in the same pass (KeptInWAL) must still keep the entries after them from
// being stored before they are applied. And the batches of the entries
// stored and not applied go now, before the group's store records the
// snapshot: uncommitted, perhaps not what committed there, they would
// otherwise lie below the snapshot's end if a crash came before Restore
// cut them, and the restart would take them for committed ones.
// (It waits for mu only when no catch-up runs: a catch-up's appends may
// hold it, and the Raft loop calls it; Restore cut the log back to what
// was applied before starting one, and nothing is stored meanwhile.)
func (p *Partition) SnapshotArrived() {
	p.wal.reset()
	p.restoring.Store(true)
	if p.catching.Load() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started || p.closed {
		return
	}
	p.stored, p.inLog = nil, p.applied
	if committed := p.log.Committed(); p.log.NextOffset() > committed {
		if err := p.log.TruncateTo(committed); err != nil && p.failed == nil {
			p.failed = fmt.Errorf("replica: a snapshot arrived: drop what was not applied: %w", err)
		}
	}
}

// SnapshotSaved lets retention delete what the snapshot Snapshot returned
// last covers: a restart replays only the entries after it, from the log.
// (The Raft loop calls it right after Snapshot, which set taken on the
// same goroutine; it does not wait for mu, which a catch-up may hold.)
func (p *Partition) SnapshotSaved() { p.log.Retain(p.taken) }

// WantsSnapshot reports whether retention waits for a snapshot to delete
// records (Log.Retain keeps them).
func (p *Partition) WantsSnapshot() bool { return p.log.RetentionWaits() }
