package commitlog

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// Voided batches.
//
// A replicated partition writes a batch when Raft persists the entry that
// carries it, and learns only when it applies the entry, after commit,
// that the batch must not be served: an idempotent producer's duplicate,
// or a batch its rules refuse. Every replica then voids the same batch
// (Void), which every reader steps over as if it were absent, as it steps
// over damage (see corrupt.go: the same ranges, kept apart so that
// Corruption and OnCorrupt never report them). The batch keeps its offsets,
// which are never reused, so offsets stay the same on every replica.
//
// Voids are kept in a side file of the log's directory, voidsFileName, of
// fixed-size records appended in the order Void is called (voidRecordLen
// bytes each, big-endian):
//
//	offset  int64   the voided batch's base offset
//	records int32   its record count
//	crc     uint32  its CRC-32C, as its header has it: which batch it was
//	check   uint32  CRC-32C of the 16 bytes before
//
// A record that fails its check is dropped and a torn last one ignored
// (see decodeVoids); Open also drops a record whose batch is no longer in
// the log, and rewrites the file (atomically: a new file renamed over it)
// whenever it drops one. TruncateTo, StartAt and retention rewrite it
// when they drop what a void covers; TruncateTo and StartAt before they
// cut, so that no record ever names the offset of a batch written after
// the cut.

// voidsFileName is the side file holding a log's voids.
const voidsFileName = "voids"

// tmpSuffix names the file a rewrite of the void file writes before it
// renames it over the void file.
const tmpSuffix = ".tmp"

// voidRecordLen is the size of one record of the void file.
const voidRecordLen = 20

// castagnoli is the CRC-32C table the void file's checks use; immutable.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// voidRecord is one record of the void file.
type voidRecord struct {
	offset  int64
	records int32
	crc     uint32
}

// appendVoidRecord appends r's encoding to dst.
func appendVoidRecord(dst []byte, r voidRecord) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.offset))
	dst = binary.BigEndian.AppendUint32(dst, uint32(r.records))
	dst = binary.BigEndian.AppendUint32(dst, r.crc)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// decodeVoids decodes the void file data: the records that pass their
// check, in order, and how many failed it. A partial record at the end (a
// write torn by a crash) is ignored; one that fails its check anywhere is
// counted and skipped, and the records after it still read (records have
// a fixed size, so one bad record never hides the others).
func decodeVoids(data []byte) (recs []voidRecord, bad int) {
	for ; len(data) >= voidRecordLen; data = data[voidRecordLen:] {
		if crc32.Checksum(data[:16], castagnoli) != binary.BigEndian.Uint32(data[16:]) {
			bad++
			continue
		}
		r := voidRecord{
			offset:  int64(binary.BigEndian.Uint64(data)),
			records: int32(binary.BigEndian.Uint32(data[8:])),
			crc:     binary.BigEndian.Uint32(data[12:]),
		}
		if r.offset < 0 || r.records <= 0 {
			bad++
			continue
		}
		recs = append(recs, r)
	}
	return recs, bad
}

// voidFile is what the log knows of its void file. Guarded by Log.mu.
type voidFile struct {
	recs  []voidRecord // every void the log holds, by offset: what the file says
	size  int64        // the file's length; 0 when there is no file
	dirty bool         // written (or created) since its last fsync
}

func (l *Log) voidsPath() string { return filepath.Join(l.dir, voidsFileName) }

// Void hides the batch that starts at offset from every reader from now
// on: Read, ReadBatches, OffsetForTimestamp and Verify step over it as if
// it were absent, and Skipped reports its offsets, which it keeps (the
// next append goes on after them, as before). The batch must not be
// visible yet: offset must be in [HighWatermark, NextOffset), else the
// error wraps ErrOffsetOutOfRange (a reader may already have it), and a
// batch boundary, else ErrNotBoundary. Voiding a voided batch again
// changes nothing.
//
// It is for a held log (see HoldWatermark), whose owner learns that a
// batch must not be served only once it is committed, before it Releases
// it; see void.go. The void survives a restart: it is written to the
// log's void file before Void returns, and fsynced under FsyncAlways
// before it returns, else by the next Sync (with the log's data) or
// Close. TruncateTo below the batch forgets it.
func (l *Log) Void(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if offset < l.hwm || offset >= l.next {
		return fmt.Errorf("%w: void of %d outside the unreleased [%d, %d)", ErrOffsetOutOfRange, offset, l.hwm, l.next)
	}
	s := l.segs[l.segmentForLocked(offset)]
	r, v, err := l.batchRangeLocked(s, offset)
	if err != nil {
		return fmt.Errorf("commitlog: void %d: %w", offset, err)
	}
	if i := skipAt(s.voids, r.Pos); i < len(s.voids) && s.voids[i].Pos == r.Pos {
		return nil
	}
	if err := l.appendVoidLocked(v); err != nil {
		return fmt.Errorf("commitlog: void %d: %w", offset, err)
	}
	s.addVoid(r)
	i, _ := slices.BinarySearchFunc(l.voids.recs, offset, func(r voidRecord, o int64) int { return cmp.Compare(r.offset, o) })
	l.voids.recs = slices.Insert(l.voids.recs, i, v)
	if l.opts.Fsync == FsyncAlways {
		if err := l.syncVoidsLocked(); err != nil {
			l.failed = fmt.Errorf("%w: fsync: %w", ErrFailed, err)
			return l.failed
		}
	}
	return nil
}

// batchRangeLocked reads the header of the batch of s that starts at
// offset, and returns its extent and its void record.
func (l *Log) batchRangeLocked(s *segment, offset int64) (CorruptRange, voidRecord, error) {
	pos, err := l.batchPosLocked(s, offset)
	if err != nil {
		return CorruptRange{}, voidRecord{}, err
	}
	f, err := os.Open(segmentPath(l.dir, s.base, logSuffix))
	if err != nil {
		return CorruptRange{}, voidRecord{}, err
	}
	defer f.Close()
	var hdr [recordbatch.HeaderLen]byte
	if _, err := f.ReadAt(hdr[:], pos); err != nil {
		return CorruptRange{}, voidRecord{}, err
	}
	h, err := recordbatch.ParseHeader(hdr[:])
	n, ok := recordbatch.Len(hdr[:])
	if err != nil || !ok || h.BaseOffset != offset || h.NumRecords <= 0 {
		return CorruptRange{}, voidRecord{}, fmt.Errorf("%w: batch header at %d of segment %d", ErrCorrupt, pos, s.base)
	}
	r := CorruptRange{Segment: s.base, Pos: pos, End: pos + int64(n), From: offset, To: h.NextOffset()}
	return r, voidRecord{offset: offset, records: h.NumRecords, crc: h.CRC}, nil
}

// addVoid records r in s as a voided batch.
func (s *segment) addVoid(r CorruptRange) {
	i := skipAt(s.voids, r.Pos)
	// A new slice, never an insertion in place: readers hold copies of
	// the old one (through gaps) without the lock.
	s.voids = append(append(append(make([]CorruptRange, 0, len(s.voids)+1), s.voids[:i]...), r), s.voids[i:]...)
}

// appendVoidLocked appends v's record to the void file. A failed write is
// taken back, so that the next record starts where it should; if even
// that fails, the log fails (reopening rewrites the file).
func (l *Log) appendVoidLocked(v voidRecord) error {
	f, err := os.OpenFile(l.voidsPath(), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(appendVoidRecord(nil, v), l.voids.size); err != nil {
		if terr := f.Truncate(l.voids.size); terr != nil {
			l.failed = fmt.Errorf("%w: void file unusable after a failed write: %w", ErrFailed, terr)
		}
		return err
	}
	l.voids.size += voidRecordLen
	l.voids.dirty = true
	return nil
}

// syncVoidsLocked makes the void file, and its name in the directory,
// durable if anything was written to it since its last fsync.
func (l *Log) syncVoidsLocked() error {
	if !l.voids.dirty {
		return nil
	}
	var err error
	if l.voids.size > 0 { // else a rewrite removed it
		var f *os.File
		if f, err = os.Open(l.voidsPath()); err == nil {
			err = f.Sync()
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	}
	if err == nil {
		err = syncDir(l.dir) // it may be new, renamed or removed
	}
	if err != nil {
		return fmt.Errorf("commitlog: sync voids: %w", err)
	}
	l.voids.dirty = false
	return nil
}

// rewriteVoidsLocked replaces the void file by one holding recs (removing
// it when recs is empty), atomically and durably unless the policy is
// FsyncNever, and on success makes recs the log's voids.
func (l *Log) rewriteVoidsLocked(recs []voidRecord) error {
	durable := l.opts.Fsync != FsyncNever
	path := l.voidsPath()
	var data []byte
	for _, v := range recs {
		data = appendVoidRecord(data, v)
	}
	if len(recs) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("commitlog: rewrite voids: %w", err)
		}
	} else {
		if err := writeFile(path+tmpSuffix, data, durable); err != nil {
			return fmt.Errorf("commitlog: rewrite voids: %w", err)
		}
		if err := os.Rename(path+tmpSuffix, path); err != nil {
			return fmt.Errorf("commitlog: rewrite voids: %w", err)
		}
	}
	// The file is the new one from here on, whether or not its name is
	// durable yet: the next append goes after its records.
	l.voids = voidFile{recs: recs, size: int64(len(data))}
	if durable {
		if err := syncDir(l.dir); err != nil {
			l.voids.dirty = true // the next sync tries again
			return fmt.Errorf("commitlog: rewrite voids: %w", err)
		}
	}
	return nil
}

// dropVoidsLocked rewrites the void file without the voids for which
// drop is true, if there are any; the segments' ranges are the caller's.
func (l *Log) dropVoidsLocked(drop func(offset int64) bool) error {
	if !slices.ContainsFunc(l.voids.recs, func(v voidRecord) bool { return drop(v.offset) }) {
		return nil
	}
	keep := slices.DeleteFunc(slices.Clone(l.voids.recs), func(v voidRecord) bool { return drop(v.offset) })
	return l.rewriteVoidsLocked(keep)
}

// loadVoids reads the void file at Open and marks the batches it names,
// then rewrites it if it held anything else: a torn or damaged record, a
// repeat, a batch gone below the earliest offset (a crash during
// retention) or lost from the end (a torn tail), or another batch now at
// its offset. It returns how many records it dropped that named no batch
// it has, but those below its earliest offset, which retention dropped.
func (l *Log) loadVoids() (dropped int, err error) {
	// What a crash midway through a rewrite left: the file it replaced
	// still holds the voids.
	if err := os.Remove(l.voidsPath() + tmpSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("commitlog: open voids: %w", err)
	}
	data, err := os.ReadFile(l.voidsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("commitlog: open voids: %w", err)
	}
	recs, bad := decodeVoids(data)
	dropped = bad
	slices.SortStableFunc(recs, func(a, b voidRecord) int { return cmp.Compare(a.offset, b.offset) })
	var keep []voidRecord
	for _, v := range recs {
		if n := len(keep); n > 0 && keep[n-1].offset == v.offset {
			if keep[n-1] != v {
				dropped++
			}
			continue
		}
		if v.offset < l.segs[0].base {
			continue
		}
		if v.offset >= l.next {
			dropped++
			continue
		}
		s := l.segs[l.segmentForLocked(v.offset)]
		r, found, err := l.batchRangeLocked(s, v.offset)
		if err != nil || found != v {
			dropped++
			continue
		}
		s.addVoid(r)
		keep = append(keep, v)
	}
	l.voids = voidFile{recs: keep, size: int64(len(data))}
	var want []byte
	for _, v := range keep {
		want = appendVoidRecord(want, v)
	}
	if string(want) != string(data) {
		if err := l.rewriteVoidsLocked(keep); err != nil {
			return 0, err
		}
	}
	return dropped, nil
}
