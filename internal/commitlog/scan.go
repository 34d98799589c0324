package commitlog

import (
	"errors"
	"fmt"
	"os"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// scanChunk is how much of a segment one pread fetches while scanning.
const scanChunk = 1 << 20

// scan validates the batches from s.size up to the file position end and
// notes each one in s. Damage followed by a valid batch (see resync) becomes
// a skip, and the scan goes on after it.
//
// sealedNext >= 0 says the segment is sealed and the next segment starts at
// that offset: damage with nothing valid after it then runs to end and to
// sealedNext (nothing is cut from a sealed segment), and batches that end
// below sealedNext (a missing segment) get an empty range for the offsets
// missing. An active segment (sealedNext < 0) stops at a torn tail: scan
// returns an ErrCorrupt error with s.size at the end of the last valid batch,
// for the caller to cut. I/O errors are returned as is.
func (s *segment) scan(end int64, interval int, sealedNext int64) error {
	for {
		err := s.scanValid(end, interval)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
			return err
		}
		q, info, ok, rerr := resync(s.f, s.size, end, s.next)
		if rerr != nil {
			return rerr
		}
		if ok {
			s.addSkip(CorruptRange{Segment: s.base, Pos: s.size, End: q, From: s.next, To: info.base})
			s.size, s.next = q, info.base
			continue
		}
		if sealedNext < 0 {
			return err // a torn tail
		}
		to := max(sealedNext, s.next)
		s.addSkip(CorruptRange{Segment: s.base, Pos: s.size, End: end, From: s.next, To: to})
		s.size, s.next = end, to
		return nil
	}
	if sealedNext > s.next {
		s.addSkip(CorruptRange{Segment: s.base, Pos: end, End: end, From: s.next, To: sealedNext})
		s.next = sealedNext
	}
	return nil
}

// scanValid notes the valid batches from s.size on, up to end. It returns
// nil if it reached end exactly, an ErrCorrupt error at the first torn or
// invalid batch (bad length, framing, CRC, records, or a base offset other
// than s.next), and any I/O error as is.
func (s *segment) scanValid(end int64, interval int) error {
	buf := make([]byte, min(scanChunk, max(end-s.size, 0)))
	for s.size < end {
		chunk := buf[:min(int64(len(buf)), end-s.size)]
		if _, err := s.f.ReadAt(chunk, s.size); err != nil {
			return fmt.Errorf("commitlog: scan segment %d: %w", s.base, err)
		}
		for p := chunk; s.size < end; {
			avail := end - s.size
			if avail < recordbatch.LengthFieldEnd {
				return corruptf("%d stray bytes at the end", avail)
			}
			if len(p) < recordbatch.LengthFieldEnd {
				break // header straddles the chunk: read on from s.size
			}
			n, ok := recordbatch.Len(p)
			if !ok || int64(n) > avail {
				return corruptf("torn batch at %d", s.size)
			}
			if n > len(p) {
				if n > len(buf) {
					buf = make([]byte, n)
				}
				break
			}
			info, err := checkBatch(p[:n])
			if err != nil {
				return err
			}
			if info.base != s.next {
				return corruptf("batch at %d has base offset %d, want %d", s.size, info.base, s.next)
			}
			s.noteBatch(info, s.size, interval)
			p = p[n:]
		}
	}
	return nil
}

// openSegment opens the segment file with the given base offset and finds
// where its valid data ends. A sealed segment (sealedNext >= 0: the base of
// the next one) whose index files are consistent is checked only from its
// last index entry on (Verify checks the rest later); the active one is
// always scanned whole, since its tail is where a crash tears. Only the
// active segment's torn tail is truncated, and the number of bytes cut is
// reported; damage elsewhere is skipped (see scan). Repairs are fsynced
// unless the policy is FsyncNever.
func openSegment(dir string, base, sealedNext int64, opts Options) (s *segment, cut int64, err error) {
	last := sealedNext < 0
	interval, durable := opts.IndexIntervalBytes, opts.Fsync != FsyncNever
	f, err := os.OpenFile(segmentPath(dir, base, logSuffix), os.O_RDWR, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("commitlog: open segment: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("commitlog: open segment: %w", err)
	}
	size := fi.Size()
	if !last {
		if s, ok := resumeFromIndex(dir, f, base, size, interval, sealedNext); ok {
			return s, 0, nil
		}
	}
	s = &segment{base: base, f: f, next: base, maxTS: -1, verified: true}
	scanErr := s.scan(size, interval, sealedNext)
	if scanErr != nil && !errors.Is(scanErr, ErrCorrupt) && !errors.Is(scanErr, ErrUnsupported) {
		return nil, 0, scanErr
	}
	if scanErr != nil {
		if err := f.Truncate(s.size); err != nil {
			return nil, 0, fmt.Errorf("commitlog: truncate segment %d: %w", base, err)
		}
		if durable {
			if err := f.Sync(); err != nil {
				return nil, 0, fmt.Errorf("commitlog: truncate segment %d: %w", base, err)
			}
		}
		cut = size - s.size
	}
	if !last || cut > 0 {
		// The index files only spare the next Open a scan, and it checks
		// them first: a device with no room for them (a full disk at
		// start) must not keep the log from opening. What was written of
		// them goes; the index in memory serves until the next Open.
		if err := s.writeIndex(dir, durable); err != nil {
			for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
				os.Remove(segmentPath(dir, base, suffix))
			}
		}
	}
	return s, cut, nil
}

// resumeFromIndex trusts a sealed segment's index files if they are
// consistent, every entry points at the header of the batch it names, and
// the batches after the last entry scan cleanly to the end.
func resumeFromIndex(dir string, f *os.File, base, size int64, interval int, sealedNext int64) (*segment, bool) {
	offsets, err1 := os.ReadFile(segmentPath(dir, base, indexSuffix))
	times, err2 := os.ReadFile(segmentPath(dir, base, timeIndexSuffix))
	if err1 != nil || err2 != nil {
		return nil, false
	}
	idx, err := unmarshalIndex(offsets, times, size)
	if err != nil || !entriesPointAtBatches(f, base, size, idx) {
		return nil, false
	}
	s := &segment{base: base, f: f, next: base, maxTS: -1, index: idx}
	if n := len(idx); n > 0 {
		e := idx[n-1]
		s.size, s.next, s.maxTS, s.lastIndexed = int64(e.pos), base+int64(e.rel), e.tsBefore, int64(e.pos)
	}
	if s.scan(size, interval, sealedNext) != nil || s.size == 0 {
		return nil, false
	}
	return s, true
}

// entriesPointAtBatches checks each index entry against the batch header it
// points at: the header's base offset must be the entry's offset, the batch
// must fit in the segment, and the next entry's "largest timestamp before"
// must cover that batch's largest timestamp. Ordered entries alone are not
// enough: an entry a few bytes off would send reads into the middle of a
// batch (found by FuzzIndex). One small pread per entry keeps it far cheaper
// than rescanning the segment.
func entriesPointAtBatches(f *os.File, base, size int64, idx []indexEntry) bool {
	var hdr [recordbatch.OffMaxTimestamp + 8]byte
	for i, e := range idx {
		if int64(e.pos)+int64(len(hdr)) > size {
			return false
		}
		if _, err := f.ReadAt(hdr[:], int64(e.pos)); err != nil {
			return false
		}
		n, ok := recordbatch.Len(hdr[:])
		if !ok || int64(e.pos)+int64(n) > size ||
			recordbatch.BaseOffset(hdr[:]) != base+int64(e.rel) {
			return false
		}
		if i+1 < len(idx) && idx[i+1].tsBefore < recordbatch.MaxTimestamp(hdr[:]) {
			return false
		}
	}
	return true
}
