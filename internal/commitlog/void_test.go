package commitlog

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// voidedLog is heldLog with the batches at 12, 16 and 18 voided and
// everything released: offsets 0..11, 14 and 15 read.
func voidedLog(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	l, _ := heldLog(t, dir, opts, true)
	for _, off := range []int64{12, 16, 18} {
		if err := l.Void(off); err != nil {
			t.Fatalf("Void(%d): %v", off, err)
		}
	}
	if err := l.Release(20); err != nil {
		t.Fatal(err)
	}
	return l
}

var voidedVisible = []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15}

// checkVoided checks that every reader of l steps over the voided batches
// of voidedLog, and that they keep their offsets.
func checkVoided(t *testing.T, l *Log) {
	t.Helper()
	got, err := l.Read(0, 1000, 1<<20)
	if err != nil || !slices.Equal(offsetsOf(got), voidedVisible) {
		t.Fatalf("Read(0) = %v, %v; want %v", offsetsOf(got), err, voidedVisible)
	}
	if got, err := l.Read(12, 1, 1<<20); err != nil || len(got) != 1 || got[0].Offset != 14 {
		t.Fatalf("Read(12) = %v, %v; want the record at 14", offsetsOf(got), err)
	}
	if got, err := l.Read(16, 1000, 1<<20); err != nil || len(got) != 0 {
		t.Fatalf("Read(16) = %v, %v; want nothing", offsetsOf(got), err)
	}
	raw, err := l.ReadBatches(0, 1<<20, nil)
	if got := rawOffsets(t, raw); err != nil || !slices.Equal(got, voidedVisible) {
		t.Fatalf("ReadBatches(0) = %v, %v; want %v", got, err, voidedVisible)
	}
	raw, err = l.ReadBatches(12, 1<<20, nil)
	if got := rawOffsets(t, raw); err != nil || !slices.Equal(got, []int64{14, 15}) {
		t.Fatalf("ReadBatches(12) = %v, %v; want [14 15]", got, err)
	}
	for off, want := range map[int64]int64{12: 14, 13: 14, 16: 18, 17: 18, 18: 20, 19: 20} {
		if to, ok := l.Skipped(off); !ok || to != want {
			t.Errorf("Skipped(%d) = %d, %v; want %d", off, to, ok, want)
		}
	}
	for _, off := range []int64{11, 14, 15, 20} {
		if to, ok := l.Skipped(off); ok {
			t.Errorf("Skipped(%d) = %d: not voided", off, to)
		}
	}
	for ts, want := range map[int64]int64{1011: 11, 1012: 14, 1016: 20} {
		if got, err := l.OffsetForTimestamp(ts); err != nil || got != want {
			t.Errorf("OffsetForTimestamp(%d) = %d, %v; want %d", ts, got, err, want)
		}
	}
	if st := l.Stats(); st.VoidBatches != 3 || st.VoidOffsets != 6 || st.CorruptRanges != 0 || st.HighWatermark != 20 {
		t.Fatalf("stats %+v, want 3 voided batches of 6 offsets, no damage", st)
	}
	if c := l.Corruption(); len(c) != 0 {
		t.Fatalf("voids reported as damage: %v", c)
	}
	if n, err := l.Verify(); err != nil || n != 0 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}

// A voided batch is absent to every reader, keeps its offsets (the next
// append goes after them), and stays voided after a restart.
func TestVoidHidesTheBatch(t *testing.T) {
	for _, fsync := range []FsyncPolicy{FsyncNever, FsyncInterval, FsyncAlways} {
		t.Run(fsync.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := voidedLog(t, dir, Options{Fsync: fsync})
			checkVoided(t, l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openT(t, dir, Options{Fsync: fsync, Held: true, SegmentBytes: 250, IndexIntervalBytes: 64})
			if r := l.Recovery(); r != (Recovery{}) {
				t.Fatalf("reopen found %+v", r)
			}
			if st := l.Stats(); st.VoidBatches != 0 {
				t.Fatalf("voids above the held high watermark counted: %+v", st)
			}
			if err := l.Release(20); err != nil {
				t.Fatal(err)
			}
			checkVoided(t, l)
			verifyLog(t, l)
			if base := mustAppend(t, l, rec("after")); base != 20 {
				t.Fatalf("append after the voids at %d, want 20", base)
			}
		})
	}
}

// Void takes only the start of a batch that readers cannot see yet.
func TestVoidRefusals(t *testing.T) {
	tests := []struct {
		name   string
		offset int64
		want   error
	}{
		{"visible", 4, ErrOffsetOutOfRange},
		{"just below the high watermark", 8, ErrOffsetOutOfRange},
		{"inside a batch", 11, ErrNotBoundary},
		{"the next offset", 20, ErrOffsetOutOfRange},
		{"past the end", 30, ErrOffsetOutOfRange},
		{"at the high watermark", 10, nil},
		{"the last batch", 18, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := heldLog(t, t.TempDir(), Options{}, true)
			for range 2 { // voiding again changes nothing
				if err := l.Void(tt.offset); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
					t.Fatalf("Void(%d) = %v, want %v", tt.offset, err, tt.want)
				}
			}
			// Not visible yet, not even as a gap: a consumer at the high
			// watermark that stepped over it would ask for offsets past it.
			if to, ok := l.Skipped(tt.offset); ok {
				t.Fatalf("Skipped(%d) = %d before the release", tt.offset, to)
			}
			if err := l.Release(20); err != nil {
				t.Fatal(err)
			}
			want := 0
			if tt.want == nil {
				want = 1
			}
			if st := l.Stats(); st.VoidBatches != want || st.VoidOffsets != 2*int64(want) {
				t.Fatalf("stats %+v, want %d voided", st, want)
			}
		})
	}
	t.Run("not held", func(t *testing.T) {
		l := openT(t, t.TempDir(), Options{})
		mustAppend(t, l, rec("a"))
		if err := l.Void(0); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("Void of a visible batch = %v", err)
		}
	})
}

// The void file is read back whatever a crash or the disk did to it: a
// torn last record is ignored, a damaged one dropped, and so is one whose
// batch is gone; the file is then rewritten clean.
func TestVoidFileRecovery(t *testing.T) {
	tests := []struct {
		name        string
		damage      func(t *testing.T, dir string)
		wantDropped int
		visible     []int64 // once released to the end
	}{
		{"intact", func(*testing.T, string) {}, 0, voidedVisible},
		{"a torn last record", func(t *testing.T, dir string) {
			f, err := os.OpenFile(filepath.Join(dir, voidsFileName), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write([]byte{0, 0, 0, 0, 0, 0, 0, 18, 0, 0}); err != nil {
				t.Fatal(err)
			}
		}, 0, voidedVisible},
		{"a damaged record", func(t *testing.T, dir string) {
			path := filepath.Join(dir, voidsFileName)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			data[voidRecordLen+7] ^= 1 // the second record's offset: 16
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}, 1, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 16, 17}},
		{"its batch lost from the tail", func(t *testing.T, dir string) {
			files := segmentFiles(t, dir)
			path := files[len(files)-1] // [18, 20): one batch
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, 1, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 18}},
		{"another batch at its offset", func(t *testing.T, dir string) {
			// A record naming the batch [18, 20) by another CRC: what a
			// record left by a cut would name once the offset is taken again.
			path := filepath.Join(dir, voidsFileName)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			recs, _ := decodeVoids(data)
			recs[2].crc++
			data = nil
			for _, r := range recs {
				data = appendVoidRecord(data, r)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}, 1, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 18, 19}},
		{"a rewrite's leftover", func(t *testing.T, dir string) {
			// A crash during a rewrite, before its rename: the void file
			// still holds the voids.
			if err := os.WriteFile(filepath.Join(dir, voidsFileName+tmpSuffix), []byte("half"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, 0, voidedVisible},
		{"below the earliest offset", func(t *testing.T, dir string) {
			// What a crash leaves between retention's deletion of the
			// segments and its rewrite of the void file.
			path := filepath.Join(dir, voidsFileName)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			stale := appendVoidRecord(nil, voidRecord{offset: 2, records: 2, crc: 7})
			if err := os.WriteFile(path, append(stale, data...), 0o644); err != nil {
				t.Fatal(err)
			}
			files := segmentFiles(t, dir)
			if err := removeSegments(dir, []int64{0}); err != nil || len(files) < 2 {
				t.Fatal(err)
			}
		}, 0, []int64{6, 7, 8, 9, 10, 11, 14, 15}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := voidedLog(t, dir, Options{})
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, dir)
			opts := Options{Held: true, SegmentBytes: 250, IndexIntervalBytes: 64}
			l = openT(t, dir, opts)
			if got := l.Recovery().VoidsDropped; got != tt.wantDropped {
				t.Fatalf("dropped %d void records, want %d", got, tt.wantDropped)
			}
			if l.NextOffset() < 20 {
				// The lost batch's offsets go to the next append, which no
				// stale void may hide.
				mustAppend(t, l, Record{Value: []byte("new")})
			}
			if err := l.Release(l.NextOffset()); err != nil {
				t.Fatal(err)
			}
			got, err := l.Read(l.EarliestOffset(), 1000, 1<<20)
			if err != nil || !slices.Equal(offsetsOf(got), tt.visible) {
				t.Fatalf("read %v, %v; want %v", offsetsOf(got), err, tt.visible)
			}
			data, err := os.ReadFile(filepath.Join(dir, voidsFileName))
			if err != nil {
				t.Fatal(err)
			}
			recs, bad := decodeVoids(data)
			if bad != 0 || len(data) != len(recs)*voidRecordLen || !slices.Equal(recs, l.voids.recs) {
				t.Fatalf("void file not rewritten clean: %d bytes, %v, %d bad; log has %v", len(data), recs, bad, l.voids.recs)
			}
			if _, err := os.Stat(filepath.Join(dir, voidsFileName+tmpSuffix)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a rewrite's leftover stays: %v", err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if l = openT(t, dir, opts); l.Recovery() != (Recovery{}) {
				t.Fatalf("second reopen found %+v", l.Recovery())
			}
		})
	}
}

// TruncateTo forgets the voids at and after its cut, and the batches
// appended at their offsets afterwards read, before and after a reopen;
// StartAt forgets them all, and retention those it deletes.
func TestCutsForgetVoids(t *testing.T) {
	tests := []struct {
		name     string
		cut      func(l *Log) error
		wantRecs []voidRecord // offsets of the voids left
	}{
		{"truncate after them", func(l *Log) error { return l.TruncateTo(20) }, []voidRecord{{offset: 12}, {offset: 16}, {offset: 18}}},
		{"truncate between them", func(l *Log) error { return l.TruncateTo(16) }, []voidRecord{{offset: 12}}},
		{"truncate at the first", func(l *Log) error { return l.TruncateTo(12) }, nil},
		{"truncate below the high watermark", func(l *Log) error { return l.TruncateTo(8) }, nil},
		{"start past the end", func(l *Log) error { return l.StartAt(30) }, nil},
		{"start at the beginning", func(l *Log) error { return l.StartAt(0) }, nil},
		{"retention", func(l *Log) error {
			if err := l.Release(20); err != nil {
				return err
			}
			l.SetRetention(1, 0)
			_, err := l.EnforceRetention()
			return err
		}, []voidRecord{{offset: 18}}}, // the active segment stays
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := heldLog(t, dir, Options{}, true)
			for _, off := range []int64{12, 16, 18} {
				if err := l.Void(off); err != nil {
					t.Fatal(err)
				}
			}
			if err := tt.cut(l); err != nil {
				t.Fatal(err)
			}
			var left []int64
			for _, v := range l.voids.recs {
				left = append(left, v.offset)
			}
			var want []int64
			for _, v := range tt.wantRecs {
				want = append(want, v.offset)
			}
			if !slices.Equal(left, want) {
				t.Fatalf("voids left %v, want %v", left, want)
			}
			data, err := os.ReadFile(filepath.Join(dir, voidsFileName))
			if len(want) == 0 && !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("no voids left, the void file: %v", err)
			}
			if recs, _ := decodeVoids(data); !slices.Equal(recs, l.voids.recs) {
				t.Fatalf("the void file holds %v, the log %v", recs, l.voids.recs)
			}
			next := l.NextOffset()
			for l.NextOffset() < 20 {
				mustAppend(t, l, Record{Value: []byte("new")}, Record{Value: []byte("new")})
			}
			if err := l.Release(l.NextOffset()); err != nil {
				t.Fatal(err)
			}
			check := func() {
				t.Helper()
				got, err := l.Read(next, 1000, 1<<20)
				if err != nil || int64(len(got)) != l.NextOffset()-next {
					t.Fatalf("read %v from %d, %v; want every offset to %d", offsetsOf(got), next, err, l.NextOffset())
				}
			}
			check()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openT(t, dir, Options{Held: true, SegmentBytes: 250, IndexIntervalBytes: 64})
			if l.Recovery() != (Recovery{}) {
				t.Fatalf("reopen found %+v", l.Recovery())
			}
			if err := l.Release(l.NextOffset()); err != nil {
				t.Fatal(err)
			}
			check()
		})
	}
}

// A void is durable when Void returns under FsyncAlways, and once Sync (or
// Close) returns under the other policies; Sync skips no void written
// since the data's last fsync.
func TestVoidDurability(t *testing.T) {
	for _, fsync := range []FsyncPolicy{FsyncNever, FsyncInterval, FsyncAlways} {
		t.Run(fsync.String(), func(t *testing.T) {
			l, _ := heldLog(t, t.TempDir(), Options{Fsync: fsync}, true)
			if err := l.Void(12); err != nil {
				t.Fatal(err)
			}
			l.mu.Lock()
			dirty := l.voids.dirty
			l.mu.Unlock()
			if dirty != (fsync != FsyncAlways) {
				t.Fatalf("after Void the void file is dirty: %v", dirty)
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			l.mu.Lock()
			dirty = l.voids.dirty
			l.mu.Unlock()
			if dirty {
				t.Fatal("Sync left the void file unsynced")
			}
		})
	}
}

// voidFuzzLog makes in dir a closed log of the batches 0, [1, 3) and 3,
// the same bytes each time, and returns them as void records.
func voidFuzzLog(t testing.TB, dir string) []voidRecord {
	t.Helper()
	l, err := Open(dir, Options{Fsync: FsyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, n := range []int{1, 2, 1} {
		recs := make([]Record, n)
		for i := range recs {
			recs[i].Timestamp = 1
		}
		if _, err := l.Append(recs); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := l.ReadBatches(0, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []voidRecord
	for b := raw; len(b) > 0; {
		n, _ := recordbatch.Len(b)
		h, _ := recordbatch.ParseHeader(b)
		out = append(out, voidRecord{offset: h.BaseOffset, records: h.NumRecords, crc: h.CRC})
		b = b[n:]
	}
	if len(out) != 3 {
		t.Fatalf("setup: %d batches", len(out))
	}
	return out
}

// FuzzVoidFile decodes arbitrary bytes as a void file, and opens a log of
// three batches with them as its void file: decoding must never panic,
// must account for every whole record, and must keep, in order, records
// the file holds whole; Open must never fail, and must hide exactly the
// batches that a record it decoded names (offset, count and CRC), every
// other offset reading as before.
func FuzzVoidFile(f *testing.F) {
	batches := voidFuzzLog(f, f.TempDir())
	file := appendVoidRecord(appendVoidRecord(nil, batches[1]), batches[2])
	f.Add(file)
	f.Add(file[:len(file)-3])
	f.Add([]byte{})
	damaged := slices.Clone(file)
	damaged[5] ^= 0x40
	f.Add(damaged)
	wrong := batches[0]
	wrong.crc++
	f.Add(appendVoidRecord(slices.Clone(file), wrong))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, bad := decodeVoids(data)
		if len(recs)+bad != len(data)/voidRecordLen {
			t.Fatalf("%d records and %d bad from %d bytes", len(recs), bad, len(data))
		}
		at := 0
		for _, r := range recs {
			enc := appendVoidRecord(nil, r)
			for at+voidRecordLen <= len(data) && string(data[at:at+voidRecordLen]) != string(enc) {
				at += voidRecordLen
			}
			if at+voidRecordLen > len(data) {
				t.Fatalf("record %+v is not in the file, in order", r)
			}
			at += voidRecordLen
		}

		dir := t.TempDir()
		voidFuzzLog(t, dir)
		if err := os.WriteFile(filepath.Join(dir, voidsFileName), data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, Options{Fsync: FsyncNever, Held: true})
		if err != nil {
			t.Fatalf("Open with that void file: %v", err)
		}
		defer l.Close()
		if err := l.Release(4); err != nil {
			t.Fatal(err)
		}
		var want []int64
		for _, b := range batches {
			if !slices.Contains(recs, b) {
				for o := range int64(b.records) {
					want = append(want, b.offset+o)
				}
			} else if !slices.Contains(l.voids.recs, b) {
				t.Fatalf("the void of batch %+v was dropped", b)
			}
		}
		for _, v := range l.voids.recs {
			if !slices.Contains(batches, v) {
				t.Fatalf("kept a void %+v that names no batch", v)
			}
		}
		got, err := l.Read(0, 100, 1<<20)
		if err != nil || !slices.Equal(offsetsOf(got), want) {
			t.Fatalf("read %v, %v; want %v", offsetsOf(got), err, want)
		}
	})
}
