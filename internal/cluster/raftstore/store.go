// Package raftstore keeps one Raft group's durable state in a directory: its
// log entries and hard state in a write-ahead log of CRC-checked records, and
// its latest snapshot in a file replaced atomically. Raft reads the state
// through the embedded raft.MemoryStorage, which holds the log from the
// snapshot on; the WAL is only read back by Open.
//
// A store opened with a Data (OpenData) keeps the data of normal entries
// where the Data's owner puts them (a partition's commitlog, so that a
// record batch is written once): the WAL then holds, for such an entry,
// its index, term and type and the owner's reference, and the owner syncs
// the data before the store syncs the WAL. The hard state, snapshots'
// positions, empty entries, configuration changes and any entry the owner
// declines stay in the WAL whole. See Data for what the owner must
// guarantee.
//
// Why a WAL of our own over files rather than bbolt or the commitlog: the
// write path is one buffered append per Ready and one fsync per pass of the
// host (shared by every group that wrote), replay is a single sequential read,
// and the crash semantics are small enough to test exhaustively against
// vfs.Mem. The store's surface (Save, Sync, ApplySnapshot, CreateSnapshot) is
// what a partition's commitlog must offer to become the Raft log later
// (docs/cluster.md): entries keyed by index, truncation of a conflicting
// suffix, a hard state beside it, and compaction behind a snapshot.
//
// The package owns the files of one group's directory and nothing else (a
// Data's files are its owner's); it knows nothing of state machines or of
// the network. A Store is not safe for
// concurrent use: the host's loop owns it (raft.MemoryStorage itself locks, so
// Raft's reads are safe).
package raftstore

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

const (
	snapName    = "snap"
	snapTmpName = "snap.tmp"
	segPrefix   = "wal-"
	segSuffix   = ".log"
	tmpSuffix   = ".tmp"
)

// ErrCorrupt is returned by Open when the files cannot be a state this
// package wrote (a bad record before the tail, a gap in the log, a hard state
// committing entries it does not have).
var ErrCorrupt = errors.New("raftstore: corrupt")

// ErrClosed is returned by a Store used after Close.
var ErrClosed = errors.New("raftstore: closed")

// Store is one group's durable Raft state. See the package doc.
type Store struct {
	*raft.MemoryStorage

	fs     vfs.FS
	dir    string
	seg    vfs.File // the segment appended to; nil after Close
	segSeq uint64   // sequence number of seg
	// segBytes is how much seg holds: CreateSnapshot starts a new segment
	// only once it passes rotateAt (SetRotateBytes).
	segBytes, rotateAt int64
	dirty              bool // seg has bytes Sync must make durable
	// unsynced: seg has bytes not yet synced at all (Flush). They differ
	// by what need not be synced before the messages promising it leave:
	// a commit index alone, and a lazy store's entries.
	unsynced bool
	lazy     bool // SetLazy
	// flushing is closed when the sync FlushLater returned has run, and
	// flushErr is then its error; failed keeps the first (waitFlush).
	flushing         chan struct{}
	flushErr, failed error
	buf              []byte // reused encoding buffer

	data Data // nil: every entry is inline
	// dataPending: something was Put since data's last Sync.
	dataPending bool
	// ext holds where the data of the in-memory log's external entries
	// is, ext[k] of entry extFirst+k (data.go); empty without a Data.
	ext      []extRef
	extFirst uint64
}

// Open reads the group's state from dir (creating dir if needed), cuts off a
// torn tail, and starts a fresh segment holding exactly the recovered log.
// It is OpenData without a Data: every entry is kept in the WAL.
func Open(fsys vfs.FS, dir string) (*Store, error) { return OpenData(fsys, dir, nil) }

// OpenData is Open for a group whose normal entries' data data keeps (see
// Data): it reads the external entries' data back through data.Get, drops
// the entries from the first whose data is missing on as a torn tail, and
// has data drop whatever the recovered log does not refer to (data.Cut
// after its last external entry).
//
// An entry whose data is missing may be one the hard state commits: under
// a lazy store (SetLazy: fsync=interval or never) an entry is acknowledged
// before it is synced, and a power loss takes it as it takes the WAL's own
// unsynced tail; and even when entries are synced at each Sync, the commit
// index is saved, unsynced, beside entries not yet synced. Such a hard
// state's commit is lowered to the log's end: the commit index is volatile
// in Raft, and the node learns it again from the leader, which sends it
// the entries it lost (docs/cluster.md, "Fsync policies in a cluster").
// A hard state committing past a log that lost no data is still
// ErrCorrupt.
func OpenData(fsys vfs.FS, dir string, data Data) (*Store, error) {
	if err := fsys.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	snap, err := readSnap(fsys, dir)
	if err != nil {
		return nil, err
	}
	rep, err := replay(fsys, dir)
	if err != nil {
		return nil, err
	}
	s := &Store{MemoryStorage: raft.NewMemoryStorage(), fs: fsys, dir: dir, segSeq: rep.lastSeq, rotateAt: defaultRotateBytes, data: data}
	snapIndex, snapTerm := snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm()
	if snapIndex == 0 {
		// Raft's empty snapshot, which Open ignores, and its term with it,
		// whatever the file claims: replayed.after would find the log,
		// which then starts at (0, 0), diverged from that term and drop
		// it, and so every Open would drop the entries saved since the last.
		snapTerm = 0
	}
	if snapIndex == math.MaxUint64 {
		// No index follows it: the log's first index would wrap to 0.
		return nil, fmt.Errorf("%w: snapshot at index %d", ErrCorrupt, snapIndex)
	}
	if snapIndex > 0 && snapIndex < rep.baseIndex {
		return nil, fmt.Errorf("%w: snapshot at %d older than the log's base %d", ErrCorrupt, snapIndex, rep.baseIndex)
	}
	if snapIndex > 0 {
		if err := s.MemoryStorage.ApplySnapshot(snap); err != nil {
			return nil, fmt.Errorf("raftstore: %w", err)
		}
	} else if rep.baseIndex > 0 {
		return nil, fmt.Errorf("%w: log starts after %d but there is no snapshot", ErrCorrupt, rep.baseIndex)
	}
	var ents []*pb.Entry
	var ext []extRef
	if k := rep.after(snapIndex, snapTerm); k >= 0 {
		ents = rep.ents[k:]
		if rep.ext != nil {
			ext = rep.ext[k:]
		}
	}
	walLast := snapIndex + uint64(len(ents))
	if ents, err = s.readData(ents, ext); err != nil {
		return nil, err
	}
	if err := s.MemoryStorage.Append(ents); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if len(ents) > 0 && ext != nil {
		s.ext, s.extFirst = ext[:len(ents)], ents[0].GetIndex()
		// Open's rotation writes their references durably: their data
		// must be durable first (the process may have stopped before
		// it synced them).
		s.dataPending = s.hasExtFrom(0)
	}
	if hs := rep.hs; hs != nil {
		hs = proto.Clone(hs).(*pb.HardState)
		if hs.GetCommit() < snapIndex {
			// The snapshot was made durable before the hard state that
			// commits it; the snapshot's index is committed by definition.
			hs.Commit = new(snapIndex)
		}
		last, _ := s.LastIndex()
		if hs.GetCommit() > walLast {
			return nil, fmt.Errorf("%w: hard state commits %d, log ends at %d", ErrCorrupt, hs.GetCommit(), walLast)
		}
		if hs.GetCommit() > last {
			hs.Commit = new(last) // entries lost with their data: see above
		}
		if err := s.SetHardState(hs); err != nil {
			return nil, fmt.Errorf("raftstore: %w", err)
		}
	}
	if err := s.cutUnreferenced(snapIndex); err != nil {
		return nil, err
	}
	if err := s.rotate(); err != nil {
		return nil, err
	}
	return s, nil
}

// IsEmpty reports whether the group has never been bootstrapped: no
// snapshot, no entries, no hard state.
func (s *Store) IsEmpty() bool {
	hs, _, _ := s.InitialState()
	last, _ := s.LastIndex()
	return last == 0 && raft.IsEmptyHardState(hs)
}

// Bootstrap makes an empty store start from a snapshot at index 1, term 1
// with the given configuration and no state machine data — the same on every
// replica, so a static group needs no configuration-change entries (the
// approach raft's Bootstrap doc recommends).
func (s *Store) Bootstrap(cs *pb.ConfState) error {
	if !s.IsEmpty() {
		return errors.New("raftstore: bootstrap of a store that is not empty")
	}
	return s.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{
		Index: new(uint64(1)), Term: new(uint64(1)), ConfState: cs,
	}})
}

// Save appends entries (which may overwrite a suffix of the log) and then
// the hard state (if not empty) to the WAL and to memory. They are durable
// only after Sync — except a change of the commit index alone, which Sync
// may leave to the next write it must sync (see below).
func (s *Store) Save(hs *pb.HardState, ents []*pb.Entry) error {
	if s.seg == nil {
		return ErrClosed
	}
	if len(ents) == 0 && raft.IsEmptyHardState(hs) {
		return nil
	}
	// refs are those of ents[skip:]: Append drops the entries the
	// snapshot covers, and so does the owner, which never sees them, and
	// the WAL (replay would cut the log after them).
	var refs []extRef
	skip := 0
	if s.data != nil && len(ents) > 0 {
		// A gap fails Append below: fail before the owner stores data
		// of entries that will not be in the log.
		if last, _ := s.LastIndex(); ents[0].GetIndex() > last+1 {
			return fmt.Errorf("raftstore: entry %d after a log ending at %d", ents[0].GetIndex(), last)
		}
		first, _ := s.FirstIndex()
		for skip < len(ents) && ents[skip].GetIndex() < first {
			skip++
		}
		var err error
		if refs, err = s.putData(ents[skip:]); err != nil {
			return err
		}
	}
	buf := s.buf[:0]
	var err error
	for i, e := range ents[skip:] {
		if refs != nil && refs[i].ext {
			buf, err = appendRef(buf, e, refs[i])
		} else {
			buf, err = appendProto(buf, kindEntry, e)
		}
		if err != nil {
			return err
		}
	}
	if !raft.IsEmptyHardState(hs) {
		if buf, err = appendProto(buf, kindHardState, hs); err != nil {
			return err
		}
	}
	s.buf = buf
	// A hard state that moves only the commit index need not be synced:
	// the commit index is volatile in Raft (a restarted node learns it
	// again from the leader), and followers learn it from every append
	// and heartbeat, so syncing it would double the fsyncs of a busy
	// group. Entries, term and vote must be durable before any message
	// that promises them goes out.
	// A lazy store's entries wait for Flush (see SetLazy).
	prev, _, _ := s.InitialState()
	must := (len(ents) > 0 && !s.lazy) || (!raft.IsEmptyHardState(hs) && raft.MustSync(hs, prev, 0))
	if _, err := s.seg.Write(buf); err != nil {
		return segError("write", s.segPath(), err)
	}
	s.segBytes += int64(len(buf))
	s.dirty = s.dirty || must
	s.unsynced = true
	if err := s.Append(ents); err != nil {
		return fmt.Errorf("raftstore: %w", err)
	}
	if s.data != nil {
		s.appendExt(ents[skip:], refs)
	}
	if !raft.IsEmptyHardState(hs) {
		if err := s.SetHardState(hs); err != nil {
			return fmt.Errorf("raftstore: %w", err)
		}
	}
	return nil
}

// Sync makes durable what must be before the messages of the pass that
// saved it leave: everything saved so far but a trailing change of the
// commit index alone and, in a lazy store, entries. It is cheap when
// nothing else was saved.
func (s *Store) Sync() error {
	if s.seg == nil {
		return ErrClosed
	}
	if !s.dirty {
		return nil
	}
	return s.Flush()
}

// Flush makes everything saved so far durable.
func (s *Store) Flush() error {
	if s.seg == nil {
		return ErrClosed
	}
	if err := s.waitFlush(); err != nil {
		return err
	}
	if !s.unsynced {
		return nil
	}
	if err := s.syncData(); err != nil {
		return err
	}
	if err := s.seg.Sync(); err != nil {
		return segError("sync", s.segPath(), err)
	}
	s.dirty, s.unsynced = false, false
	return nil
}

// FlushLater is Flush in two halves, for a caller that must not wait for
// the disk: it counts everything saved so far as synced and returns the
// sync that makes it so, which the caller must run, on another goroutine,
// concurrently with later saves. It returns nil when there is nothing to
// flush, or when the next Sync syncs anyway (a term or vote saved). Flush,
// a rotation and Close wait for a pending sync first, and a sync that
// failed fails them all from then on: after a failed fsync the kernel may
// have dropped the pages, and only one caller of fsync on a file hears of
// it.
func (s *Store) FlushLater() func() error {
	if err := s.waitFlush(); err != nil {
		return func() error { return err }
	}
	if s.seg == nil || !s.unsynced || s.dirty {
		return nil
	}
	s.unsynced = false
	f, path, done := s.seg, s.segPath(), make(chan struct{})
	var data Data // to sync first: the references written need it
	if s.dataPending {
		data, s.dataPending = s.data, false
	}
	s.flushing = done
	return func() error {
		var err error
		if data != nil {
			if err = data.Sync(); err != nil {
				err = fmt.Errorf("raftstore: sync data: %w", err)
			}
		}
		if err == nil {
			if err = f.Sync(); err != nil {
				err = segError("sync", path, err)
			}
		}
		s.flushErr = err // read once done is closed
		close(done)
		return err
	}
}

// syncData makes what was Put durable, if anything was: before any sync of
// the WAL, whose references must not outlive their data.
func (s *Store) syncData() error {
	if !s.dataPending {
		return nil
	}
	if err := s.data.Sync(); err != nil {
		return fmt.Errorf("raftstore: sync data: %w", err)
	}
	s.dataPending = false
	return nil
}

// segPath is the path of the segment appended to.
func (s *Store) segPath() string { return vfs.Join(s.dir, segName(s.segSeq)) }

// segError reports the failure of op on the segment at path. The file's
// own error names the file as it was opened: a rotated segment's
// temporary name, which is gone once it is renamed.
func segError(op, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("raftstore: %s %s: %w", op, path, err)
}

// waitFlush waits for the sync FlushLater handed out last, if any, and
// returns the failure of any such sync.
func (s *Store) waitFlush() error {
	if s.flushing != nil {
		<-s.flushing
		s.flushing = nil
		if s.failed == nil {
			s.failed = s.flushErr
		}
	}
	return s.failed
}

// SetLazy makes Sync leave entries to Flush: a group whose topic's fsync
// policy is interval or never is acknowledged once a majority wrote an
// entry, not once it synced it. Term and vote are still synced by Sync.
func (s *Store) SetLazy(lazy bool) { s.lazy = lazy }

// Unsynced reports whether Flush has anything to make durable.
func (s *Store) Unsynced() bool { return s.unsynced }

// Dirty reports whether Sync has anything to make durable.
func (s *Store) Dirty() bool { return s.dirty }

// ApplySnapshot replaces the log with snap (one received from a leader),
// durably: the snapshot file first, then a segment whose reset record
// discards the older log.
func (s *Store) ApplySnapshot(snap *pb.Snapshot) error {
	if s.seg == nil && s.segSeq > 0 {
		return ErrClosed
	}
	// The log past the snapshot is discarded with the rest: the owner's
	// data of it too, before the files change (a crash between leaves
	// references to cut data, which Open takes for a torn tail).
	if at := snap.GetMetadata().GetIndex(); s.data != nil && at < math.MaxUint64 && s.hasExtFrom(at+1) {
		if err := s.data.Cut(at + 1); err != nil {
			return fmt.Errorf("raftstore: cut data from %d: %w", at+1, err)
		}
	}
	if err := s.writeSnap(snap); err != nil {
		return err
	}
	if err := s.MemoryStorage.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("raftstore: %w", err)
	}
	s.ext = s.ext[:0]
	return s.rotate()
}

// SetRotateBytes sets the size past which CreateSnapshot starts a new WAL
// segment (default 32 MiB). Below it the segment is only synced (as a
// rotation would make everything saved durable): replay skips its entries
// the snapshot covers (replayed.after), so the snapshot file alone records
// the compaction. Rewriting the kept log into a fresh segment, syncing it
// and its directory at every snapshot held the host's loop, and so every
// group of the node, for tens of milliseconds under a replicated produce
// (a partition snapshots every 16 MiB; docs/cluster.md has the figures).
// The price: a group's WAL on disk grows to about n plus a snapshot's
// worth, and Open reads all of it.
func (s *Store) SetRotateBytes(n int64) { s.rotateAt = n }

const defaultRotateBytes = 32 << 20

// CreateSnapshot records the state machine's data as of applied index i with
// configuration cs, durably, and drops the log before i-keep from memory, so
// followers up to keep entries behind still catch up from the log. The WAL
// keeps the dropped entries until its segment passes SetRotateBytes's size.
func (s *Store) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte, keep uint64) error {
	if s.seg == nil {
		return ErrClosed
	}
	snap, err := s.MemoryStorage.CreateSnapshot(i, cs, data)
	if err != nil {
		return fmt.Errorf("raftstore: %w", err)
	}
	if err := s.writeSnap(snap); err != nil {
		return err
	}
	if i > keep {
		if err := s.Compact(i - keep); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return fmt.Errorf("raftstore: %w", err)
		}
		s.trimExt()
	}
	if s.segBytes < s.rotateAt {
		return s.Flush()
	}
	return s.rotate()
}

// DropKept drops from memory the entries kept behind the snapshot up to
// index i (at most the snapshot's index), leaving the WAL as it is: those
// entries are in the snapshot, and Open replays only what follows it. It
// writes nothing, so it costs no sync: the host drops the tails of idle
// groups this way when the node holds too much, rather than snapshot
// them again, which they cannot do before they apply more.
func (s *Store) DropKept(i uint64) error {
	snap, err := s.Snapshot()
	if err != nil {
		return fmt.Errorf("raftstore: %w", err)
	}
	if at := snap.GetMetadata().GetIndex(); i > at {
		return fmt.Errorf("raftstore: dropping entries to %d, past the snapshot at %d", i, at)
	}
	if err := s.Compact(i); err != nil && !errors.Is(err, raft.ErrCompacted) {
		return fmt.Errorf("raftstore: %w", err)
	}
	s.trimExt()
	return nil
}

// Close closes the segment. It does not sync: what was not synced is what a
// crash would lose, and the host flushes before it stops (Flush reports a
// failed FlushLater sync; Close only waits for a pending one, so as not to
// close the file under it).
func (s *Store) Close() error {
	if s.seg == nil {
		return nil
	}
	_ = s.waitFlush()
	err := s.seg.Close()
	s.seg = nil
	return err
}

// writeSnap replaces the snapshot file atomically and durably.
func (s *Store) writeSnap(snap *pb.Snapshot) error {
	b, err := appendProto(nil, kindEntry, snap) // the record format gives a length and CRC
	if err != nil {
		return err
	}
	tmp := vfs.Join(s.dir, snapTmpName)
	f, err := s.fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("raftstore: snapshot: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("raftstore: snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("raftstore: snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("raftstore: snapshot: %w", err)
	}
	if err := s.fs.Rename(tmp, vfs.Join(s.dir, snapName)); err != nil {
		return fmt.Errorf("raftstore: snapshot: %w", err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("raftstore: snapshot: %w", err)
	}
	return nil
}

// rotate writes a new segment holding the whole in-memory log (a reset
// record at its base, its entries, the hard state), makes it durable, and
// removes the older segments, which it supersedes.
func (s *Store) rotate() error {
	// The segment rotated away may have a sync pending: wait for it, so
	// that it is not closed under the sync, and hear if it failed.
	if err := s.waitFlush(); err != nil {
		return err // named already: "raftstore: sync …"
	}
	if s.hasExtFrom(0) { // the new segment's references need their data
		if err := s.syncData(); err != nil {
			return err
		}
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	baseTerm, err := s.Term(first - 1)
	if err != nil {
		return fmt.Errorf("raftstore: rotate: %w", err)
	}
	reset := &pb.SnapshotMetadata{Index: new(first - 1), Term: new(baseTerm)}
	var ents []*pb.Entry
	if last >= first {
		if ents, err = s.Entries(first, last+1, ^uint64(0)); err != nil {
			return fmt.Errorf("raftstore: rotate: %w", err)
		}
	}
	hs, _, _ := s.InitialState()
	// The segment is one buffer of its exact size (the hard state's slot
	// unused if it is empty): the log kept behind a snapshot is megabytes,
	// rewritten at each one. Sizing each entry costs a walk of its few
	// fields, not of its data.
	size := recordSize(reset) + recordSize(hs)
	for _, e := range ents {
		if x := s.extAt(e.GetIndex()); x.ext {
			size += refRecordSize(e, x)
		} else {
			size += recordSize(e)
		}
	}
	buf, err := appendProto(make([]byte, 0, size), kindReset, reset)
	if err != nil {
		return err
	}
	for _, e := range ents {
		// An external entry is written again as its reference.
		if x := s.extAt(e.GetIndex()); x.ext {
			buf, err = appendRef(buf, e, x)
		} else {
			buf, err = appendProto(buf, kindEntry, e)
		}
		if err != nil {
			return err
		}
	}
	if !raft.IsEmptyHardState(hs) {
		if buf, err = appendProto(buf, kindHardState, hs); err != nil {
			return err
		}
	}
	seq := s.segSeq + 1
	name := vfs.Join(s.dir, segName(seq))
	f, err := s.fs.Create(name + tmpSuffix)
	if err != nil {
		return fmt.Errorf("raftstore: rotate: %w", err)
	}
	fail := func(err error) error {
		f.Close()
		return fmt.Errorf("raftstore: rotate: %w", err)
	}
	if _, err := f.Write(buf); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	// Only now may the segment's name appear: replay trusts the newest
	// segment to hold the whole log.
	if err := s.fs.Rename(name+tmpSuffix, name); err != nil {
		return fail(err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fail(err)
	}
	if s.seg != nil {
		s.seg.Close()
	}
	s.seg, s.segSeq, s.segBytes, s.dirty, s.unsynced = f, seq, int64(len(buf)), false, false
	// Older segments are superseded (replay reads only the newest), so
	// removing them need not be durable or complete.
	names, err := s.fs.List(s.dir)
	if err != nil {
		return fmt.Errorf("raftstore: rotate: %w", err)
	}
	for _, n := range names {
		if q, ok := parseSegName(n); (ok && q < seq) || strings.HasSuffix(n, tmpSuffix) {
			if err := s.fs.Remove(vfs.Join(s.dir, n)); err != nil {
				return fmt.Errorf("raftstore: rotate: %w", err)
			}
		}
	}
	return nil
}

func appendProto(dst []byte, kind recordKind, m proto.Message) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, headerLen+1)...)
	dst, err := proto.MarshalOptions{}.MarshalAppend(dst, m) // in place: an entry's data is copied once
	if err != nil {
		return dst[:start], fmt.Errorf("raftstore: encode: %w", err)
	}
	return sealRecord(dst, start, kind), nil
}

// recordSize is the size of m's record.
func recordSize(m proto.Message) int { return headerLen + 1 + proto.Size(m) }

func segName(seq uint64) string { return fmt.Sprintf("%s%016x%s", segPrefix, seq, segSuffix) }

func parseSegName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
		return 0, false
	}
	seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 16, 64)
	return seq, err == nil
}
