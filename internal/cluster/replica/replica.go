// Package replica is a partition's Raft state machine: each committed entry
// of the partition's group holds record batches (Kafka RecordBatch v2, back
// to back), which are this node's copy of the partition's log in log
// order. The log's high watermark is the applied entries' end, so no
// reader sees an uncommitted message, and offsets follow the Raft log's
// order, so every replica gives the same batch the same offsets.
//
// The data is written once: the log is also where the group keeps its
// entries' batches (entries.go, multiraft.EntryStore). An entry is written
// to the log when Raft persists it, beyond what readers see, and Apply
// decides it in place and makes it visible; the group's WAL keeps only a
// reference. An entry the log cannot take in order stays whole in the
// WAL, and Apply appends it.
//
// Exactly once across restarts: a snapshot records the end of what the log
// shows after syncing the log, so the log always holds at least that much;
// on start the host restores the snapshot and applies the entries after it
// again. Those the log holds (read back from it by the group's store) are
// applied in place; for the others Restore first cuts the log back to the
// snapshot's end (or, if this node's retention deleted records past it,
// empties the log and starts it there). The snapshot also carries the state the log's
// checks of idempotent producers need (Log.Producers), which Restore gives
// the log once it ends at the snapshot's end: rebuilt from the log, it
// would lack what this node's retention deleted, and a retry the other
// replicas answered as a duplicate would be written here, at offsets
// they gave other records.
// A replica whose log is shorter than a snapshot it receives (an empty
// disk, or a leader that compacted past what it needs) fetches the missing
// batches from a node that has them (Fetch). That fetch runs in the
// background, off the Raft loop every group of the node shares: Restore
// returns at once, and the entries applied meanwhile wait in memory, in
// order, and are appended once it is done, after the snapshot's producer
// state is given to the log (their offsets, and whether an idempotent
// producer's batch is taken or voided, depend on the log before them, so
// neither is known before; no snapshot is taken meanwhile).
//
// The package knows nothing of the broker: it writes through Log.
package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Log is one partition's local log as the state machine needs it. Only the
// state machine writes it while the partition is replicated.
type Log interface {
	// WriteEntry writes an entry's batches (back to back) at the log's
	// end, beyond what readers see: the entry is being persisted by
	// Raft and is not committed yet. It returns the offsets they take,
	// [first, next). It refuses, writing nothing, batches no log takes
	// (an error refusal recognises): the entry then stays whole in the
	// Raft WAL and ApplyEntry refuses it alike. It must not modify entry.
	WriteEntry(entry []byte) (first, next int64, err error)
	// ReadEntry returns the batches stored in [first, next), whatever
	// readers see of them (an entry WriteEntry wrote, read back as the
	// Raft log's data after a restart; voided batches too).
	ReadEntry(first, next int64) ([]byte, error)
	// ApplyEntry applies a committed entry: its batches are stored from
	// offset at on (WriteEntry wrote them), or, if at is negative, are
	// written first at the end. It returns each batch's first offset. It
	// may answer a batch with the offset it was first written at (an
	// idempotent producer's retry), or refuse the entry whole; it must
	// decide from the entry and the log before it alone, so every
	// replica decides alike, and say so with an error refusal
	// recognises (any other error fails this replica's log). A batch it
	// does not take keeps its offsets, voided: no reader sees it. Then
	// the entry is visible (Committed moves past it). A refusal writes
	// nothing only for batches no log takes. It must not modify entry
	// (see AppendBatches).
	ApplyEntry(entry []byte, at int64) ([]int64, error)
	// Committed is where what readers see ends: the applied entries'.
	// NextOffset, the log's end, may be past it (entries written, not
	// yet applied).
	Committed() int64
	// SetCommitted places the end of what readers see at offset, a batch
	// boundary at or below NextOffset (a restore: the entries after it
	// are applied again).
	SetCommitted(offset int64) error
	// AppendBatches appends stored batches as they are (a catch-up from
	// another replica's log, voided batches marked as ReadBatches marks
	// them) at the end, giving them the next offsets, visible at once,
	// and returns the first batch's base offset.
	// It must not modify batches: they are the Raft entry's bytes, which
	// the transport may be sending to another replica meanwhile (a
	// commitlog patches base offsets in place, so copy first).
	AppendBatches(batches []byte) (int64, error)
	NextOffset() int64
	// EarliestOffset is the log's first offset: retention, which runs on
	// each replica alone, deleted the records below it.
	EarliestOffset() int64
	Sync() error
	// FsyncPolicy is the topic's: it also says when the partition's Raft
	// log is synced (node: a publish is acknowledged once a majority has
	// it as the policy says).
	FsyncPolicy() commitlog.FsyncPolicy
	// Retain keeps retention from deleting records at or after offset
	// (the last snapshot's end: a restart reads the entries after it
	// back from the log, and applies them again).
	Retain(offset int64)
	// RetentionWaits reports whether retention would delete records
	// Retain keeps.
	RetentionWaits() bool
	// TruncateTo cuts the log back so that offset is its next. It
	// refuses, cutting nothing, an offset outside the log or inside a
	// batch; one that fails midway fails the log.
	TruncateTo(offset int64) error
	// StartAt empties the log so that it starts at offset: at least its
	// next offset (the records below were deleted by retention on every
	// replica that had them), or at most its earliest (every record goes:
	// retention deleted those below). It refuses, emptying nothing, an
	// offset in between.
	StartAt(offset int64) error
	// ReadBatches returns whole stored batches from the one starting at
	// from, about maxBytes of them but at least one if any, up to
	// Committed, voided ones marked for AppendBatches.
	ReadBatches(from int64, maxBytes int) ([]byte, error)
	// Producers returns the state ApplyEntry's decisions depend on
	// beside the log's bytes (the idempotent producers' sequences), as
	// of Committed, as JSON this package does not read; nil if none.
	// A snapshot carries it: rebuilt from the log, it would lack what
	// this node's retention deleted.
	Producers() ([]byte, error)
	// SetProducers installs a state Producers returned, as of
	// Committed, in place of the one the log would give. One it refuses
	// changes nothing.
	SetProducers(state []byte) error
}

// Fetch asks node for the stored batches from offset from on (about 1 MiB
// of them); the node answers with what its log holds, or a *StartError if
// its log starts after from.
type Fetch func(ctx context.Context, node uint64, from int64) ([]byte, error)

// StartError is a Fetch's answer from a node whose log starts at Start,
// after the offset asked for: its retention deleted the records before.
type StartError struct{ Start int64 }

func (e *StartError) Error() string {
	return fmt.Sprintf("replica: the log starts at offset %d (retention deleted what is before)", e.Start)
}

// Result is what Apply answers the proposer: the offset given to each
// batch of the entry, or why nothing was appended.
type Result struct {
	Bases []int64
	Err   error
}

// snapshot is a snapshot's data.
type snapshot struct {
	Index uint64 `json:"index"` // the last applied entry
	Next  int64  `json:"next"`  // the log's next offset after it
	Node  uint64 `json:"node"`  // who took it: its log holds what retention left of [0, Next)
	// Producers is Log.Producers at Next; a snapshot taken before it was
	// carried has none, and the log's own state is kept.
	Producers json.RawMessage `json:"producers,omitempty"`
}

// Partition is the state machine of one partition's Raft group.
type Partition struct {
	log    Log
	self   uint64
	voters []uint64
	fetch  Fetch
	// applied is the last entry applied; failed a log error after which
	// this replica's log no longer follows the Raft log: every later
	// entry is refused until a restart restores the log (and heals it).
	applied uint64
	failed  error
	// stored are the entries whose batches the log holds beyond what was
	// applied (written by StoreEntry when Raft persisted them, or read
	// back by LoadEntry at a restart), in index order: where each
	// starts, checked as Apply decides them in place. inLog is the last
	// entry whose batches the log holds (stored, or applied): Apply
	// decides every entry up to it in place. wal are the entries only the
	// WAL holds (see StoreEntry). restoring: a snapshot arrived and
	// Restore has not placed the log at its end yet; entries wait in the
	// WAL meanwhile.
	stored    []stored
	inLog     uint64
	wal       inWAL
	restoring atomic.Bool
	// taken is the end of the snapshot Snapshot returned last.
	taken int64
	// started: the first Restore (the one at the start, after the
	// store's replay gave LoadEntry the entries after the snapshot) ran.
	started bool
	// behind is the catch-up running in the background, nil if none.
	// mu guards it: the Raft loop (Apply, Snapshot, Restore) changes it,
	// Close, called by whoever stops the group, reads it.
	mu     sync.Mutex
	behind *catchUp
	// catching mirrors behind != nil for CatchingUp, which callers ask
	// under locks of their own: taking mu could wait behind a disk append
	// (Apply and finish hold it across theirs).
	catching atomic.Bool
	// closed: Close ran; the group is stopping, and its Raft loop, which
	// may still apply entries meanwhile, must not write the log (it may
	// still end below a snapshot a catch-up did not finish) nor start a
	// catch-up nothing would stop.
	closed bool
}

// setBehind records the running catch-up (nil: none).
func (p *Partition) setBehind(cu *catchUp) {
	p.behind = cu
	p.catching.Store(cu != nil)
}

// ErrClosed refuses entries applied after Close: the node is stopping,
// and a restart applies them again from the Raft log.
var ErrClosed = errors.New("replica: partition closed")

// catchUp is a background fetch of the batches a log lacks below a
// snapshot's end, and the entries applied meanwhile.
type catchUp struct {
	snap   snapshot
	cancel context.CancelFunc
	done   chan struct{} // closed once finished or stopped
	queued []queued      // entries applied meanwhile, in order
}

// queued is an entry applied during a catch-up.
type queued struct {
	index uint64
	cmd   []byte
}

// New returns the state machine of a partition replicated over voters,
// writing log on node self; fetch reaches the other voters (nil: a
// replica behind a snapshot fails to restore).
func New(log Log, self uint64, voters []uint64, fetch Fetch) *Partition {
	return &Partition{log: log, self: self, voters: voters, fetch: fetch}
}

// Apply appends the entry's batches. A refusal every replica agrees on (a
// malformed batch) changes nothing; a failure of this node's disk is
// sticky (see Partition).
func (p *Partition) Apply(index uint64, cmd []byte) any {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applied = index
	if p.closed {
		return Result{Err: ErrClosed}
	}
	if p.failed != nil {
		return Result{Err: p.failed}
	}
	if err := checkEntry(cmd); err != nil {
		p.wal.applied(index) // refused by every replica alike: it takes no offsets
		return Result{Err: err}
	}
	if cu := p.behind; cu != nil {
		cu.queued = append(cu.queued, queued{index, cmd})
		return Result{Err: ErrCatchingUp}
	}
	bases, err := p.applyEntry(index, cmd)
	return Result{Bases: bases, Err: err}
}

// applyEntry applies entry index: in place if the log holds its batches
// (stored), else appending them. A failure is sticky unless it is a
// refusal every replica makes alike: one of this node's (its disk,
// reading its own log back) would otherwise leave this replica without
// an entry the others have.
func (p *Partition) applyEntry(index uint64, cmd []byte) ([]int64, error) {
	at := int64(-1)
	if index <= p.inLog {
		// Entries apply in order, so the log's committed end is where
		// this one starts (its stored offset says the same, if known).
		at = p.log.Committed()
	}
	isStored := false
	for len(p.stored) > 0 && p.stored[0].index <= index {
		if st := p.stored[0]; st.index == index {
			if st.at != at {
				// Deciding it at another place would fork the offsets.
				p.failed = fmt.Errorf("replica: entry %d is stored at offset %d, applied at %d", index, st.at, at)
				return nil, p.failed
			}
			isStored = true
		}
		p.stored = p.stored[1:]
	}
	if at >= 0 && !isStored {
		// An entry the WAL kept whole, applied before a restart and
		// applied again (reopen): the log holds its batches at at,
		// unless it was refused then, writing nothing.
		if err := p.written(index, cmd, at); err != nil {
			p.wal.applied(index)
			return nil, err
		}
	}
	bases, err := p.log.ApplyEntry(cmd, at)
	if err != nil && !refusal(err) {
		p.failed = fmt.Errorf("replica: log failed at entry %d: %w", index, err)
	}
	p.inLog = max(p.inLog, index)
	p.wal.applied(index)
	return bases, err
}

// ErrNotWritten refuses, applied again after a restart, an entry the WAL
// kept whole whose batches the log does not hold where it would start:
// every replica refused it the first time, writing nothing (a batch no
// log takes), and the log went on with the entries after it.
var ErrNotWritten = errors.New("replica: entry refused before the restart: the log holds none of its batches")

// written checks that the log holds entry index's batches (cmd) from
// offset at on, before the next stored entry's, as they were proposed but
// for their base offsets. It answers ErrNotWritten if not, and fails the
// replica if the log cannot be read.
func (p *Partition) written(index uint64, cmd []byte, at int64) error {
	next := at
	for rest := cmd; len(rest) > 0; {
		n, _ := recordbatch.Len(rest) // checkEntry checked the framing
		next += int64(recordbatch.NumRecords(rest[:n]))
		rest = rest[n:]
	}
	end := p.log.NextOffset()
	if len(p.stored) > 0 {
		end = p.stored[0].at // the next stored entry's batches start there
	}
	if next <= at || next > end {
		return fmt.Errorf("entry %d at offset %d: %w", index, at, ErrNotWritten)
	}
	b, err := p.log.ReadEntry(at, next)
	if errors.Is(err, commitlog.ErrNotBoundary) {
		return fmt.Errorf("entry %d at offset %d: %w", index, at, ErrNotWritten)
	}
	if err != nil {
		p.failed = fmt.Errorf("replica: read entry %d back at offset %d: %w", index, at, err)
		return p.failed
	}
	if !sameBatches(b, cmd) {
		return fmt.Errorf("entry %d at offset %d: %w", index, at, ErrNotWritten)
	}
	return nil
}

// sameBatches reports whether a and b hold the same batches but for their
// base offsets.
func sameBatches(a, b []byte) bool {
	for len(a) > 0 && len(b) > 0 {
		n, ok := recordbatch.Len(a)
		m, _ := recordbatch.Len(b)
		if !ok || n != m || n > len(a) || n > len(b) || n < recordbatch.HeaderLen {
			return false
		}
		if !bytes.Equal(a[8:n], b[8:n]) { // the base offset is the first 8 bytes
			return false
		}
		a, b = a[n:], b[n:]
	}
	return len(a) == 0 && len(b) == 0
}

// stored is an entry whose batches the log holds in [at, next).
type stored struct {
	index    uint64
	at, next int64
}

// refusal reports whether err is Log.ApplyEntry refusing an entry from
// the entry and the log alone: a coded refusal (an idempotent producer's
// gap or old epoch) or a batch no log takes.
func refusal(err error) bool {
	var coded *api.Error
	for _, r := range []error{ErrNotWritten, recordbatch.ErrCorrupt, recordbatch.ErrTooLarge, commitlog.ErrCorrupt,
		commitlog.ErrUnsupported, commitlog.ErrBatchTooLarge, commitlog.ErrEmpty} {
		if errors.Is(err, r) {
			return true
		}
	}
	return errors.As(err, &coded)
}

// Durability is when the partition's Raft log is synced: as its topic's
// fsync policy says, so a publish is acknowledged once a majority has the
// entry fsynced (always), written and synced within the node's flush
// interval (interval), or written (never).
func (p *Partition) Durability() multiraft.Durability {
	return durabilities[p.log.FsyncPolicy()]
}

// durabilities maps a topic's fsync policy to its Raft log's.
var durabilities = map[commitlog.FsyncPolicy]multiraft.Durability{
	commitlog.FsyncAlways:   multiraft.SyncEachPass,
	commitlog.FsyncInterval: multiraft.SyncOnFlush,
	commitlog.FsyncNever:    multiraft.SyncByOS,
}

// ErrCatchingUp answers the proposer of an entry applied while the replica
// fetches the bytes below a snapshot: the entry is committed and will be
// appended, at offsets not known yet. (The replica is rarely a leader
// then; one that is answers every write so until it has caught up.)
var ErrCatchingUp = fmt.Errorf("replica: committed while catching up, offsets not known yet: %w", multiraft.ErrUnknownOutcome)

// checkEntry checks that cmd is whole batches, at least one.
func checkEntry(cmd []byte) error {
	if len(cmd) == 0 {
		return fmt.Errorf("replica: %w: no batches", recordbatch.ErrCorrupt)
	}
	for len(cmd) > 0 {
		n, ok := recordbatch.Len(cmd)
		if !ok || n > len(cmd) {
			return fmt.Errorf("replica: %w: not whole record batches", recordbatch.ErrCorrupt)
		}
		cmd = cmd[n:]
	}
	return nil
}

// Snapshot syncs the log, then records its end and its producer state
// there (it runs between applies): a snapshot never claims bytes a crash
// could take back. During a catch-up there is no end to
// record yet (the entries applied meanwhile are not written): it answers
// multiraft.ErrSnapshotLater, and the Raft log keeps those entries. It
// does so without waiting for mu, which finish holds while it appends
// those entries: the host asks a group that has reached its bound every
// pass, and every group of the node would wait with it.
func (p *Partition) Snapshot() ([]byte, error) {
	if p.catching.Load() {
		return nil, multiraft.ErrSnapshotLater
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed != nil {
		return nil, p.failed
	}
	if p.behind != nil || p.closed {
		return nil, multiraft.ErrSnapshotLater
	}
	if err := p.log.Sync(); err != nil {
		return nil, err
	}
	producers, err := p.log.Producers()
	if err != nil {
		return nil, err
	}
	next := p.log.Committed()
	p.taken = next // kept from retention once saved (SnapshotSaved)
	return json.Marshal(snapshot{Index: p.applied, Next: next, Node: p.self, Producers: producers})
}

// Restore makes the log hold exactly what the snapshot covers: cut back
// to its end (entries after it are applied again next; a log whose
// retention deleted past that end starts over empty there), or completed
// from a node that has the bytes. nil is the empty state: an empty log.
//
// At the start, the entries after the snapshot that the store read back
// from the log (LoadEntry) stay where they are, and only what lies past
// them goes (batches written when Raft persisted an entry whose WAL record
// a crash then lost); they are applied again, in place, next. A snapshot
// arriving later replaces the whole Raft log, so what the log holds past
// the applied entries goes first: uncommitted, and perhaps not what
// committed there.
//
// A snapshot Restore refuses changes nothing (the log, the applied index,
// a failure, a running catch-up): it checks all it can first, and takes
// the snapshot's index, healing a failure, only once the log holds what
// the snapshot covers or a catch-up is completing it. A replica left
// with half a restore (a failure cleared over a log not cut back, say)
// would append entries twice. The refusals that cannot leave things as
// they were, a cut refused after a catch-up was stopped and a producer
// state the log refuses once cut back, fail the replica instead.
func (p *Partition) Restore(data []byte) error {
	s, err := decode(data)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil // restored from the snapshot again at the next start
	}
	if !p.started {
		for len(p.stored) > 0 && p.stored[0].index <= s.Index {
			p.stored = p.stored[1:] // the store replays only the entries after it
		}
		if len(p.stored) > 0 {
			return p.reopen(s)
		}
	}
	if cu := p.behind; cu != nil && s.Next < cu.snap.Next {
		// Raft restores snapshots in order, and a later one never ends
		// before an earlier one.
		return fmt.Errorf("%w: it ends at %d, before the snapshot being caught up to (%d)", ErrBadSnapshot, s.Next, cu.snap.Next)
	}
	have := p.log.NextOffset()
	if p.started {
		have = p.log.Committed()
	}
	if have < s.Next && p.fetch == nil {
		return fmt.Errorf("%w: need offsets %d to %d", ErrBehind, have, s.Next) // and without a fetch no catch-up runs
	}
	stopped := p.behind != nil
	p.stop() // a catch-up for an older snapshot: this one replaces it
	if p.closed {
		return nil // Close ran while stop waited: start nothing it would not stop
	}
	if p.started && p.log.NextOffset() > p.log.Committed() {
		if err := p.log.TruncateTo(p.log.Committed()); err != nil {
			p.failed = fmt.Errorf("replica: restore: drop what was not applied: %w", err)
			return p.failed
		}
	}
	next := p.log.NextOffset()
	if next > s.Next {
		cut := p.log.TruncateTo
		if s.Next < p.log.EarliestOffset() {
			// This node's retention deleted records past the snapshot's
			// end (with no snapshot yet, past 0): there is no cutting
			// back to it. The log starts over there, empty, and the
			// entries after the snapshot, applied again next, give the
			// records above it back at the offsets they had (the ones
			// every replica gave them), until retention deletes them
			// again. (TruncateTo refused it, and the partition never
			// started on this node again.)
			cut = p.log.StartAt
		}
		if err := cut(s.Next); err != nil {
			if stopped {
				// Only a catch-up past its own snapshot's end (one that
				// ended inside a batch) gets here; the entries queued
				// behind it are gone with it.
				p.failed = fmt.Errorf("replica: restore: %w", err)
			}
			return err
		}
	}
	if next >= s.Next {
		if err := p.log.SetCommitted(s.Next); err != nil {
			p.failed = fmt.Errorf("replica: restore: %w", err)
			return p.failed
		}
		if err := p.setProducers(s); err != nil {
			p.failed = err // the log is cut back already
			return err
		}
	}
	p.restored(s)
	if next < s.Next {
		ctx, cancel := context.WithCancel(context.Background())
		cu := &catchUp{snap: s, cancel: cancel, done: make(chan struct{})}
		p.setBehind(cu)
		go func() {
			defer close(cu.done)
			p.finish(cu, p.catchUp(ctx, s))
		}()
	}
	return nil
}

// reopen is the Restore at the start of a partition whose log holds
// entries after the snapshot s (p.stored, read back by LoadEntry): the
// log ends where the last of them ends, and readers see up to s.Next
// until they are applied again.
func (p *Partition) reopen(s snapshot) error {
	last := p.stored[len(p.stored)-1]
	if p.stored[0].at < s.Next || last.next < last.at {
		p.failed = fmt.Errorf("replica: restore: entries after the snapshot (ending at %d) start at %d", s.Next, p.stored[0].at)
		return p.failed
	}
	if p.log.NextOffset() > last.next {
		if err := p.log.TruncateTo(last.next); err != nil {
			p.failed = fmt.Errorf("replica: restore: cut what no entry holds: %w", err)
			return p.failed
		}
	}
	if err := p.log.SetCommitted(s.Next); err != nil {
		p.failed = fmt.Errorf("replica: restore: %w", err)
		return p.failed
	}
	if err := p.setProducers(s); err != nil {
		p.failed = err
		return err
	}
	inLog, stored := p.inLog, p.stored
	p.restored(s)
	p.inLog, p.stored = inLog, stored
	return nil
}

// restored records that the log holds what snapshot s covers (or a
// catch-up is completing it), and nothing after.
func (p *Partition) restored(s snapshot) {
	// (The entries the WAL kept went when the snapshot arrived:
	// SnapshotArrived.)
	p.applied, p.failed = s.Index, nil
	p.inLog, p.stored, p.started = s.Index, nil, true
	p.restoring.Store(false)
	p.log.Retain(s.Next)
}

// setProducers gives the log, which ends at s.Next, the producer state
// s carries, if any: the state every replica had there, whatever this
// node's retention deleted before (an emptied log knows no producer, and
// would write a retry the others answered as a duplicate).
func (p *Partition) setProducers(s snapshot) error {
	if s.Producers == nil {
		return nil
	}
	if err := p.log.SetProducers(s.Producers); err != nil {
		return fmt.Errorf("replica: restore producer state: %w", err)
	}
	return nil
}

// ErrBadSnapshot refuses a snapshot no replica took (one that does not
// decode, names no node or ends below offset 0) or one that ends before
// the snapshot being caught up to: taken as it is, its end could cut
// records every replica holds.
var ErrBadSnapshot = errors.New("replica: bad snapshot")

// decode decodes and checks a snapshot's data (nil: the empty state, an
// empty log). Its Index is not checked: it is the last entry applied
// here, and a snapshot taken before any (after configuration changes
// only) says 0.
func decode(data []byte) (snapshot, error) {
	var s snapshot
	if data == nil {
		return s, nil
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	if s.Node == 0 || s.Next < 0 {
		return s, fmt.Errorf("%w: node %d, next offset %d", ErrBadSnapshot, s.Node, s.Next)
	}
	return s, nil
}

// CatchingUp reports whether the log is still being completed below a
// snapshot: it then lacks committed entries, and must not be read as
// current.
func (p *Partition) CatchingUp() bool { return p.catching.Load() }

// Close stops a background catch-up and waits for it, and has every later
// entry refused; the partition's group is stopping (the node shuts down,
// or the group is removed).
func (p *Partition) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.stop()
}

// stop cancels the catch-up and waits for it. mu is held, and released
// while waiting: the catch-up takes it to finish.
func (p *Partition) stop() {
	cu := p.behind
	if cu == nil {
		return
	}
	p.setBehind(nil) // finish then leaves the partition alone
	cu.cancel()
	p.mu.Unlock()
	<-cu.done
	p.mu.Lock()
}

// finish ends catch-up cu, which err says how it went, unless it was
// stopped: the entries applied meanwhile are appended as Apply appends
// (refusals every replica makes alike change nothing; a failure of the
// fetch or of the disk is sticky).
// The Raft loop waits meanwhile (Apply takes mu): these are the appends
// Apply would have made, disk writes and all.
func (p *Partition) finish(cu *catchUp, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.behind != cu {
		return
	}
	defer p.setBehind(nil) // once the queue is appended: see Snapshot
	if err == nil {
		err = p.setProducers(cu.snap)
	}
	if err != nil {
		p.failed = err
		return
	}
	for _, q := range cu.queued {
		if p.applyEntry(q.index, q.cmd); p.failed != nil {
			return
		}
	}
}

// ErrBehind says a replica's log is shorter than its snapshot and it has
// no Fetch to get the missing batches with; a catch-up stopped by Close
// or a newer Restore ends with it too.
var ErrBehind = errors.New("replica: log behind the snapshot")

// catchUp appends the batches in [log's next, s.Next) fetched from the
// snapshot's node, or any other voter, trying them in turn until one
// answers or ctx ends. A failure of this node's log ends it at once.
//
// When every other voter answers that its log starts after the log's next
// offset (retention deleted the records there), the log starts over where
// the earliest of them starts: nobody can copy what is gone, and this
// replica would have deleted it too. (Retrying, it waited for ever.) A
// voter that does not answer may still have the records, so while one
// does not the catch-up goes on asking, for up to passedWait; after that
// it starts where the voters that answered start.
func (p *Partition) catchUp(ctx context.Context, s snapshot) error {
	from := []uint64{s.Node}
	for _, v := range p.voters {
		if v != s.Node && v != p.self {
			from = append(from, v)
		}
	}
	var (
		last   []error
		passed time.Time // since when answering voters have all started later
	)
	for ctx.Err() == nil {
		last = last[:0]
		start, starts := int64(-1), 0 // the earliest later start, and how many said one
		for _, node := range from {
			err := p.fetchFrom(ctx, node, s.Next)
			var (
				lf *logError
				se *StartError
			)
			switch {
			case err == nil:
				return nil
			case errors.As(err, &lf):
				return err
			case errors.As(err, &se) && se.Start > p.log.NextOffset():
				starts++
				if start < 0 || se.Start < start {
					start = se.Start
				}
			}
			last = append(last, fmt.Errorf("node %d: %w", node, err))
		}
		switch {
		case starts == 0:
			passed = time.Time{}
		case passed.IsZero():
			passed = time.Now()
		}
		if starts == len(from) || starts > 0 && time.Since(passed) >= passedWait {
			if err := p.log.StartAt(min(start, s.Next)); err != nil {
				return &logError{err}
			}
			if p.log.NextOffset() >= s.Next {
				return nil
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%w: need offsets %d to %d: %w", ErrBehind, p.log.NextOffset(), s.Next, errors.Join(last...))
}

// passedWait is how long a catch-up waits for a voter that does not answer
// once every voter that answers has deleted the records it needs: a voter
// restarting is back within it, one that stays away may never be.
const passedWait = 30 * time.Second

// logError is a failure of this node's log during a catch-up.
type logError struct{ err error }

func (e *logError) Error() string { return "replica: log failed catching up: " + e.err.Error() }
func (e *logError) Unwrap() error { return e.err }

// fetchFrom appends what node has below end, each fetched chunk's batches
// in one AppendBatches call (one fsync): a log of small batches appended
// one call each took most of a minute to copy.
func (p *Partition) fetchFrom(ctx context.Context, node uint64, end int64) error {
	for next := p.log.NextOffset(); next < end; next = p.log.NextOffset() {
		b, err := p.fetch(ctx, node, next)
		if err != nil {
			return err
		}
		// run is the stretch of b that continues the log: batches from
		// its next offset on, below end, without a gap.
		var run []byte
		want, last := next, false
		for len(b) > 0 && !last {
			n, ok := recordbatch.Len(b)
			if !ok || n > len(b) {
				return fmt.Errorf("%w: torn batch at %d", recordbatch.ErrCorrupt, want)
			}
			batch := b[:n]
			b = b[n:]
			base := recordbatch.BaseOffset(batch)
			switch {
			case base >= end && want >= end:
				// The end, reached. A batch at or past end that does
				// not continue the log is a gap like any other (its
				// node's log skipped a damaged stretch): taken for the
				// end, it had the log caught up short of end, and the
				// entries after took offsets the other replicas had
				// given other records.
				last = true
				continue
			case base < want && run == nil:
				continue // a read may start at the batch before the one asked for
			case base != want:
				return fmt.Errorf("gap: batch at %d, want %d", base, want)
			}
			if run == nil {
				run = batch
			} else {
				run = run[:len(run)+n] // batch follows run in b
			}
			want = base + int64(recordbatch.NumRecords(batch))
		}
		if run == nil {
			if last {
				return nil
			}
			return fmt.Errorf("no batch at %d", next)
		}
		if _, err := p.log.AppendBatches(run); err != nil {
			return &logError{err}
		}
		if last {
			return nil
		}
	}
	return nil
}
