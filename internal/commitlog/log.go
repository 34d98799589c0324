// Package commitlog stores one partition's records in append-only segment
// files of Kafka RecordBatch v2 bytes. It knows nothing of topics or consumers.
//
// On disk, a log is a directory of segments named by their base offset in 20
// digits, as in Kafka: 00000000000000000000.log holds whole batches back to
// back, exactly as a Kafka broker stores them (compressed or not, as received; base offsets
// contiguous across the log); .index and .timeindex beside it hold its sparse
// index (see indexEntry), written when the segment is sealed or closed and
// rebuilt by Open when missing or inconsistent. The last segment is the
// active one; only it is written to. A file named voids, when present,
// lists the batches Void hid from readers (see void.go).
//
// A replicated partition's log is its Raft log's data: it holds its high
// watermark (see HoldWatermark) at the commit point, so that no reader
// sees a batch Raft has persisted but not committed.
package commitlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Sentinel errors.
var (
	// ErrOffsetOutOfRange: the offset is below the earliest offset or above
	// the high watermark. Returned wrapped in a *RangeError.
	ErrOffsetOutOfRange = errors.New("commitlog: offset out of range")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("commitlog: log closed")
	// ErrCorrupt: a batch failed its CRC-32C or framing checks on read, or
	// AppendBatch was given a malformed batch.
	ErrCorrupt = errors.New("commitlog: corrupt batch")
	// ErrBatchTooLarge: an append exceeds Options.MaxBatchBytes.
	ErrBatchTooLarge = errors.New("commitlog: batch too large")
	// ErrUnsupported: AppendBatch got a batch this log does not store
	// (a control batch or an unknown compression codec).
	ErrUnsupported = errors.New("commitlog: unsupported batch")
	// ErrFailed: a write or fsync failed in a way that leaves what is on
	// disk unknown; the log refuses appends from then on (wrapping the cause)
	// and must be reopened, which recovers it.
	ErrFailed = errors.New("commitlog: log failed")
	// ErrEmpty: Append was called with no records.
	ErrEmpty = errors.New("commitlog: no records")
	// ErrNotBoundary: an offset given to TruncateTo, Release or Void falls
	// inside a batch, where none of them can cut.
	ErrNotBoundary = errors.New("commitlog: not a batch boundary")
	// ErrNotHeld: Release was called on a log whose high watermark is not
	// held (see HoldWatermark).
	ErrNotHeld = errors.New("commitlog: high watermark not held")
)

// RangeError reports an out-of-range offset with the valid range
// [Earliest, HighWatermark]. errors.Is(err, ErrOffsetOutOfRange) holds.
type RangeError struct {
	Offset, Earliest, HighWatermark int64
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("commitlog: offset %d out of range [%d, %d]", e.Offset, e.Earliest, e.HighWatermark)
}
func (e *RangeError) Unwrap() error { return ErrOffsetOutOfRange }

// FsyncPolicy says when appended bytes are forced to disk.
type FsyncPolicy int

const (
	// FsyncInterval (default): Sync is called by the owner every interval;
	// Append also syncs once FsyncBytes are unsynced.
	FsyncInterval FsyncPolicy = iota
	// FsyncAlways: Append returns only after its bytes are fsynced;
	// concurrent appenders share one fsync (group commit).
	FsyncAlways
	// FsyncNever: only the OS decides (and Close).
	FsyncNever
)

func (p FsyncPolicy) String() string {
	switch p {
	case FsyncInterval:
		return "interval"
	case FsyncAlways:
		return "always"
	case FsyncNever:
		return "never"
	}
	return fmt.Sprintf("FsyncPolicy(%d)", int(p))
}

// FsyncPolicy is the policy the log was opened with.
func (l *Log) FsyncPolicy() FsyncPolicy { return l.opts.Fsync }

// Header is one record header, as the batch codec has it (so records
// encode and decode without converting their headers).
type Header = recordbatch.RecordHeader

// Record is one message. Offset is assigned by Append. Timestamp is in ms
// since the Unix epoch; 0 on Append means "now". Attributes is stored in the
// record's attributes byte and returned unchanged (the broker uses a bit of it).
type Record struct {
	Offset     int64
	Timestamp  int64
	Key        []byte
	Value      []byte
	Headers    []Header
	Attributes int8
}

// Options configure a log. Zero values take the defaults noted.
type Options struct {
	SegmentBytes       int64         // roll past this size; default 64 MiB
	SegmentAge         time.Duration // roll a segment older than this; 0: never
	RetentionBytes     int64         // drop oldest segments past this total; <=0: unbounded
	RetentionAge       time.Duration // drop segments whose newest record is older; <=0: forever
	Fsync              FsyncPolicy
	FsyncBytes         int64 // FsyncInterval: also sync after this many unsynced bytes; 0: only on Sync
	IndexIntervalBytes int   // one offset/time index entry per this many bytes; default 4096
	MaxBatchBytes      int   // largest encoded batch accepted; default 8 MiB
	// Files bounds the sealed segment files kept open; share one among all
	// logs of a process. nil: the log makes its own of DefaultOpenFiles.
	Files *FileCache
	Now   func() time.Time
	// OnCorrupt, if set, is told of each damaged range found after Open (by
	// a read or Verify; see corrupt.go). It may be called with the log's
	// lock held: it must not call the log.
	OnCorrupt func(CorruptRange)
	// Decompress is charged with the record data of each compressed
	// batch a read (Read, OffsetForTimestamp) decompresses, while the read
	// decodes it; share one among all logs of a process. A read it has no
	// room for fails with recordbatch.ErrBusy (retry later). nil: none.
	Decompress recordbatch.Budget
	// Held opens the log with its high watermark held (see HoldWatermark)
	// at EarliestOffset: nothing is readable until the owner Releases. A
	// replicated partition opens its log so, since what Open finds above
	// the commit point may yet be cut by a new Raft leader, and a log
	// held only after Open would have shown it to readers meanwhile.
	Held bool
}

// Stats is a snapshot of a log.
type Stats struct {
	EarliestOffset int64
	HighWatermark  int64
	// Bytes is what the segments hold on disk, a held log's unreleased
	// tail included: what retention and a disk's gauge count.
	Bytes    int64
	Segments int
	// CorruptRanges and CorruptOffsets count the damaged ranges known and
	// the offsets they hold, which read as absent (see corrupt.go).
	CorruptRanges  int
	CorruptOffsets int64
	// VoidBatches and VoidOffsets count the batches Void hid below the
	// high watermark and the offsets they hold, which also read as absent
	// but are no damage.
	VoidBatches int
	VoidOffsets int64
}

// Defaults and bounds of Options.
const (
	defaultSegmentBytes  = 64 << 20
	maxSegmentBytes      = 1 << 30 // index positions are uint32
	defaultIndexInterval = 4096
	defaultMaxBatchBytes = 8 << 20
)

func (o Options) withDefaults() Options {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = defaultSegmentBytes
	}
	o.SegmentBytes = min(o.SegmentBytes, maxSegmentBytes)
	if o.IndexIntervalBytes <= 0 {
		o.IndexIntervalBytes = defaultIndexInterval
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = defaultMaxBatchBytes
	}
	o.MaxBatchBytes = min(o.MaxBatchBytes, maxSegmentBytes)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Files == nil {
		o.Files = NewFileCache(DefaultOpenFiles)
	}
	return o
}

// Log is one partition's log. All methods are safe for concurrent use.
//
// Locking: mu guards every mutable field below it and the segments. Two more
// locks let slow I/O run outside mu: syncMu serializes fsyncs of the active
// segment (see syncTo), and filesMu is read-locked by Read while it preads.
// Whoever closes segment files (EnforceRetention, Close) holds both, so
// neither an fsync nor a pread in flight meets a closed file.
// Lock order: syncMu, filesMu, mu.
type Log struct {
	dir   string
	opts  Options    // immutable after Open
	files *FileCache // opts.Files
	// syncFile makes the active segment durable for syncTo: datasync, or a
	// test's stand-in set before the log is used. Immutable after that.
	syncFile func(*os.File) error

	syncMu  sync.Mutex
	filesMu sync.RWMutex

	mu sync.Mutex
	// segs is ordered by base with contiguous offsets; the last is active;
	// never empty. Retention reslices it and roll appends to it, but an
	// element is never replaced, so a copy of the slice stays valid.
	segs []*segment
	// next is the offset the next appended record gets.
	next int64
	// hwm is the high watermark: records below it are readable. It equals
	// next except under FsyncAlways, where it trails next until an fsync
	// covers the written bytes, so nothing is read before it is durable,
	// and when held, where only Release raises it. Always a batch boundary.
	hwm int64
	// held: only Release raises hwm (see HoldWatermark). Never cleared.
	held bool
	// hwmPos is, while held and hwm lies inside a segment (above its
	// base, below its next), hwm's byte position in it: where what readers
	// may see ends. Anywhere else, segment bounds say it (see
	// visibleEndLocked).
	hwmPos int64
	// pending are, while held, the ends of the batches written above hwm,
	// ascending: where Release may move hwm without reading the disk.
	pending []boundary
	// retainFrom, if retaining, is the offset retention keeps segments
	// from (RetainFrom); retentionWaits whether the last EnforceRetention
	// kept one only for it.
	retainFrom     int64
	retaining      bool
	retentionWaits atomic.Bool
	// voids is the state of the void side file (see void.go).
	voids voidFile
	// written counts every byte ever appended (across segments); synced is
	// the value of written covered by the last fsync.
	written, synced int64
	// changed is closed and replaced when hwm advances, if waited says
	// someone took it.
	changed chan struct{}
	waited  bool
	closed  bool
	// failed is a sticky write or fsync error: after it the log refuses
	// appends, since what is on disk is no longer known.
	failed error
	bytes  int64 // sum of segment sizes

	recovery Recovery // what Open cut; immutable after Open

	// encoders holds *encoder scratch space for appends, used outside mu.
	encoders sync.Pool
	// dec decompresses what reads decode, outside mu.
	dec decoder
}

// Open opens or creates the log in dir, recovering it: a torn or corrupt tail
// is truncated to the last valid batch and indexes are rebuilt.
//
// Recovery walks the segments in offset order. The last (active) one is
// scanned batch by batch, and a torn tail (an invalid batch with nothing
// valid after it: bad length, framing, CRC, records, or a non-contiguous base
// offset) is cut. Damage anywhere else, in a sealed segment or followed by
// valid batches, is never cut: it is skipped and reported (see corrupt.go),
// and so is the range of a missing segment. Segments that overlap their
// predecessor are deleted, with everything after them.
func Open(dir string, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("commitlog: open: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("commitlog: open: %w", err)
	}
	var bases []int64
	for _, e := range entries {
		if base, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	l := &Log{dir: dir, opts: opts, files: opts.Files, syncFile: datasync, changed: make(chan struct{}), dec: decoder{bud: opts.Decompress}}
	rec := &l.recovery
	fail := func(err error) (*Log, error) {
		for _, s := range l.segs {
			if s.f != nil {
				s.seal(l.files)
			}
			l.files.drop(s.h)
		}
		return nil, err
	}
	for i, base := range bases {
		if n := len(l.segs); n > 0 && l.segs[n-1].next != base {
			// Overlapping segments (a missing one is skipped by scan): only
			// the prefix before them is trustworthy.
			if err := removeSegments(dir, bases[i:]); err != nil {
				return fail(err)
			}
			rec.DeletedSegments += len(bases) - i
			break
		}
		sealedNext := int64(-1)
		if i+1 < len(bases) {
			sealedNext = bases[i+1]
		}
		s, cut, err := openSegment(dir, base, sealedNext, opts)
		if err != nil {
			return fail(err)
		}
		if sealedNext >= 0 {
			s.h = l.files.add(s.f.Name(), s.f, 0) // idle: evicted first
			s.f = nil
		} else {
			s.h = l.files.add(s.f.Name(), s.f, 1) // the writer's
		}
		l.segs = append(l.segs, s)
		l.bytes += s.size
		rec.CutBytes += cut
		rec.CorruptRanges += len(s.skips)
	}
	if len(l.segs) == 0 {
		s, err := createSegment(dir, 0, l.files)
		if err != nil {
			return nil, err
		}
		l.segs = append(l.segs, s)
		if err := syncDir(dir); err != nil {
			return fail(fmt.Errorf("commitlog: open: %w", err))
		}
	}
	if act := l.active(); act.size > 0 {
		act.created = timeOf(min(act.firstTS, opts.Now().UnixMilli())) // see segment.created
	}
	l.next = l.active().next
	l.hwm = l.next
	if opts.Held {
		l.held, l.hwm = true, l.segs[0].base
	}
	dropped, err := l.loadVoids()
	if err != nil {
		return fail(err)
	}
	rec.VoidsDropped = dropped
	return l, nil
}

// Recovery reports what Open cut (a torn tail, overlapping segments) and
// how many damaged ranges it found and skipped (see corrupt.go). It is zero
// after a clean shutdown; after a crash a torn tail is expected, and the
// owner should tell the operator either way.
type Recovery struct {
	CutBytes        int64 // bytes truncated from the active segment's torn tail
	DeletedSegments int   // whole segments removed because they overlap an earlier one
	CorruptRanges   int   // damaged ranges found and skipped (see Corruption)
	// VoidsDropped counts void records (see Void) dropped because they
	// failed their checksum or named no batch of the log any more (its
	// batch lost with a torn tail): their batches read again.
	VoidsDropped int
}

// Recovery returns what Open cut. It is immutable after Open.
func (l *Log) Recovery() Recovery { return l.recovery }

// removeSegments deletes the files of the segments with the given bases.
func removeSegments(dir string, bases []int64) error {
	for _, base := range bases {
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if err := os.Remove(segmentPath(dir, base, suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("commitlog: remove segment %d: %w", base, err)
			}
		}
	}
	return nil
}

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

// EarliestOffset is the first offset still held.
func (l *Log) EarliestOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.segs[0].base
}

// HighWatermark is the offset after the last record readers may see: the
// offset the next appended record will get, with two exceptions.
//
// Under FsyncAlways it is the offset after the last durable record, so an
// appended record becomes visible to readers once it is fsynced (always
// before its Append returns). And while the log is held (see
// HoldWatermark) it is where the last Release put it.
func (l *Log) HighWatermark() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hwm
}

// Stats returns a snapshot.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := Stats{EarliestOffset: l.segs[0].base, HighWatermark: l.hwm, Bytes: l.bytes, Segments: len(l.segs)}
	for _, s := range l.segs {
		st.CorruptRanges += len(s.skips)
		for _, r := range s.skips {
			st.CorruptOffsets += r.To - r.From
		}
		for _, r := range s.voids {
			if r.From < l.hwm { // those above are not yet visible at all
				st.VoidBatches++
				st.VoidOffsets += r.To - r.From
			}
		}
	}
	return st
}

// lockAll takes every lock of the log, in their order, for changes to its
// files (closing, cutting, deleting segments) that no fsync or read may
// overlap; it returns their release.
func (l *Log) lockAll() (unlock func()) {
	l.syncMu.Lock()
	l.filesMu.Lock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		l.filesMu.Unlock()
		l.syncMu.Unlock()
	}
}

// Close syncs and closes the files. Further calls return ErrClosed.
func (l *Log) Close() error {
	defer l.lockAll()()
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	close(l.changed) // wakes every waiter; advanceLocked is never called again
	l.synced = l.written
	act := l.active()
	err := act.f.Sync()
	if err == nil {
		err = l.syncVoidsLocked()
	}
	if err == nil {
		err = act.writeIndex(l.dir, l.opts.Fsync != FsyncNever)
	}
	act.seal(l.files)
	for _, s := range l.segs {
		if cerr := l.files.drop(s.h); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("commitlog: close: %w", err)
	}
	return nil
}

// CheckFiles reports whether the active segment's path still names the
// file the log writes to. After the directory (or the file) is removed, the
// open file goes on taking writes on an unlinked inode that nothing will
// ever read again; the owner should stop writing.
func (l *Log) CheckFiles() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	act := l.active()
	f, err := l.files.acquire(act.h)
	path := segmentPath(l.dir, act.base, logSuffix)
	l.mu.Unlock()
	if err != nil {
		return err
	}
	defer l.files.release(act.h)
	open, err := f.Stat()
	if err != nil {
		return fmt.Errorf("commitlog: check %s: %w", path, err)
	}
	named, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("commitlog: the active segment is gone: %w", err)
	}
	if !os.SameFile(open, named) {
		return fmt.Errorf("commitlog: %s names another file than the one written", path)
	}
	return nil
}
