package commitlog

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// File name suffixes of a segment; the stem is the base offset in 20 digits.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
)

// segment is one .log file and its sparse index. All fields are guarded by
// Log.mu; base is immutable.
type segment struct {
	base int64
	h    *cachedFile // the .log file through Log.files; set once the segment is in a log
	// f is the open .log file while Open scans the segment or while it is
	// the active one (the log then holds a reference on h for writing); nil
	// once sealed: reads acquire h.
	f     *os.File
	size  int64 // bytes of valid batches: the next write position
	next  int64 // offset after the last batch; base when empty
	maxTS int64 // largest record timestamp; -1 when empty
	// created is when the segment got its first batch by the broker's clock,
	// for SegmentAge; zero when empty. Never a producer's timestamp: an old
	// one would make every append roll a new segment (and a file). A segment
	// recovered by Open takes the earlier of its first batch's timestamp and
	// the time of Open, so an old active segment still rolls, but at most once.
	created time.Time
	firstTS int64        // the first batch's largest timestamp; for created at Open
	index   []indexEntry // sparse; see indexEntry
	// lastIndexed is the position of the last indexed batch (0: the start).
	lastIndexed int64
	// skips are the damaged ranges known in this segment, sorted by Pos;
	// replaced, never modified in place (see addSkip). See corrupt.go.
	skips []CorruptRange
	// voids are the batches Void hid, as ranges like skips (sorted by Pos,
	// replaced, never modified in place), kept apart from the damage so
	// that Corruption and OnCorrupt never report them. See void.go.
	voids []CorruptRange
	// verified: every batch was checked since Open (a full scan, or written
	// by this process); Verify checks the others.
	verified bool
}

func segmentPath(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// parseSegmentName returns the base offset of a segment .log file name.
func parseSegmentName(name string) (int64, bool) {
	stem, ok := strings.CutSuffix(name, logSuffix)
	if !ok || len(stem) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(stem, 10, 64)
	return base, err == nil && base >= 0
}

// createSegment makes a new empty active segment file (truncating any
// leftover), held open through files.
func createSegment(dir string, base int64, files *FileCache) (*segment, error) {
	f, err := os.OpenFile(segmentPath(dir, base, logSuffix), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("commitlog: create segment: %w", err)
	}
	for _, s := range []string{indexSuffix, timeIndexSuffix} {
		if err := os.Remove(segmentPath(dir, base, s)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			f.Close()
			return nil, fmt.Errorf("commitlog: create segment: %w", err)
		}
	}
	s := &segment{base: base, f: f, next: base, maxTS: -1, verified: true}
	s.h = files.add(f.Name(), f, 1)
	return s, nil
}

// gaps returns what reads step over in s: its damage and its voided
// batches, sorted by Pos. It allocates only when the segment has both.
func (s *segment) gaps() []CorruptRange {
	switch {
	case len(s.voids) == 0:
		return s.skips
	case len(s.skips) == 0:
		return s.voids
	}
	out := make([]CorruptRange, 0, len(s.skips)+len(s.voids))
	out = append(append(out, s.skips...), s.voids...)
	slices.SortStableFunc(out, func(a, b CorruptRange) int { return cmp.Compare(a.Pos, b.Pos) })
	return out
}

// seal lets go of the active segment's file: from now on it is open only
// while a read uses it, within the cache's bound.
func (s *segment) seal(files *FileCache) {
	s.f = nil
	files.release(s.h)
}

// noteBatch records that the batch info was written at position pos: it
// advances size, next and maxTS and adds an index entry when due.
func (s *segment) noteBatch(info batchInfo, pos int64, interval int) {
	if pos > 0 && pos-s.lastIndexed >= int64(interval) {
		s.index = append(s.index, indexEntry{rel: uint32(info.base - s.base), pos: uint32(pos), tsBefore: s.maxTS})
		s.lastIndexed = pos
	}
	if s.size == 0 {
		s.firstTS = info.maxTS
	}
	s.size = pos + int64(info.size)
	s.next = info.next()
	s.maxTS = max(s.maxTS, info.maxTS)
}

// writeIndex replaces the segment's index files with its in-memory index.
// Only sealed segments (and the active one at Close) need them on disk: Open
// rebuilds the active segment's index while recovering it.
func (s *segment) writeIndex(dir string, sync bool) error {
	offsets, times := marshalIndex(s.index)
	for _, f := range []struct {
		suffix string
		data   []byte
	}{{indexSuffix, offsets}, {timeIndexSuffix, times}} {
		if err := writeFile(segmentPath(dir, s.base, f.suffix), f.data, sync); err != nil {
			return fmt.Errorf("commitlog: write index: %w", err)
		}
	}
	return nil
}

func writeFile(path string, data []byte, sync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// remove closes the segment and deletes its files.
func (s *segment) remove(dir string, files *FileCache) error {
	err := files.drop(s.h)
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if rerr := os.Remove(segmentPath(dir, s.base, suffix)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	if err != nil {
		return fmt.Errorf("commitlog: remove segment %d: %w", s.base, err)
	}
	return nil
}

// syncDir makes file creations and deletions in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// timeOf converts a record timestamp (ms since the Unix epoch) to a time.
func timeOf(ms int64) time.Time { return time.UnixMilli(ms) }
