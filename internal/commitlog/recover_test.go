package commitlog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// fataler is the part of testing.TB that rapid.T also has.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// verifyLog checks the in-memory state of every segment of l against a fresh
// scan of its file: size, next offset, max timestamp and the whole index, and
// that segments are contiguous. It is how tests prove indexes are valid.
func verifyLog(t fataler, l *Log) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var total int64
	for i, s := range l.segs {
		f, err := os.Open(segmentPath(l.dir, s.base, logSuffix))
		if err != nil {
			t.Fatalf("segment %d: %v", s.base, err)
		}
		defer f.Close()
		fresh := &segment{base: s.base, f: f, next: s.base, maxTS: -1}
		sealedNext := int64(-1)
		if i+1 < len(l.segs) {
			sealedNext = l.segs[i+1].base
		}
		if err := fresh.scan(s.size, l.opts.IndexIntervalBytes, sealedNext); err != nil {
			t.Fatalf("segment %d does not scan: %v", s.base, err)
		}
		if fi, err := f.Stat(); err != nil || fi.Size() != s.size {
			t.Fatalf("segment %d: file holds %d bytes, log thinks %d", s.base, fi.Size(), s.size)
		}
		if fresh.next != s.next || fresh.maxTS != s.maxTS {
			t.Fatalf("segment %d: next %d maxTS %d, scan says %d %d", s.base, s.next, s.maxTS, fresh.next, fresh.maxTS)
		}
		if !slices.Equal(fresh.skips, s.skips) {
			t.Fatalf("segment %d: damage known %v, scan finds %v", s.base, s.skips, fresh.skips)
		}
		// Damage found by a read leaves the index as it was written; a scan
		// indexes around the damage instead.
		if len(s.skips) == 0 && !slices.Equal(fresh.index, s.index) {
			t.Fatalf("segment %d: index\n%v\nscan rebuilds\n%v", s.base, s.index, fresh.index)
		}
		if i > 0 && l.segs[i-1].next != s.base {
			t.Fatalf("segment %d does not follow %d (next %d)", s.base, l.segs[i-1].base, l.segs[i-1].next)
		}
		total += s.size
	}
	if total != l.bytes || l.active().next != l.next {
		t.Fatalf("bytes %d vs %d, next %d vs %d", l.bytes, total, l.next, l.active().next)
	}
}

// batchBounds lists the end position and next offset of each batch in a
// segment file's bytes.
type bound struct{ end, next int64 }

func batchBounds(t *testing.T, data []byte) []bound {
	t.Helper()
	var out []bound
	for pos := 0; pos < len(data); {
		n, _ := recordbatch.Len(data[pos:])
		info, err := checkBatch(data[pos : pos+n])
		if err != nil {
			t.Fatal(err)
		}
		pos += n
		out = append(out, bound{int64(pos), info.next()})
	}
	return out
}

// buildLog writes a log of a few segments with varied batches and returns
// its directory and every record written.
func buildLog(t *testing.T, opts Options) (string, []Record) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var all []Record
	for i := range 24 {
		var recs []Record
		for j := range i%3 + 1 {
			recs = append(recs, Record{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprintf("value-%d-%d", i, j)),
				Timestamp: int64(1000 + i*10 + j), Headers: []Header{{Key: "n", Value: []byte{byte(j)}}}})
		}
		mustAppend(t, l, recs...)
		all = append(all, recs...)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, all
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want several segments, have %v (%v)", files, err)
	}
	slices.Sort(files)
	return files
}

// reopenAndCheck opens dir, checks it holds exactly want and that appends
// continue at the next offset, then closes it.
func reopenAndCheck(t *testing.T, dir string, opts Options, want []Record) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer l.Close()
	verifyLog(t, l)
	hwm := int64(len(want))
	if got := l.HighWatermark(); got != hwm {
		t.Fatalf("hwm = %d, want %d", got, hwm)
	}
	got, err := l.Read(0, 1<<20, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if !recordsEqual(want, got) {
		t.Fatalf("records after recovery (-want +got):\n%s", cmp.Diff(want, got, recordOpts))
	}
	if base := mustAppend(t, l, Record{Value: []byte("after")}); base != hwm {
		t.Fatalf("append after recovery got offset %d, want %d", base, hwm)
	}
	verifyLog(t, l)
	if r, err := l.Read(hwm, 1, 100); err != nil || len(r) != 1 || string(r[0].Value) != "after" {
		t.Fatalf("read back the new record: %v %v", r, err)
	}
	return l
}

// recordsEqual is a cheap exact comparison (nil and empty differ).
func recordsEqual(a, b []Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Offset != y.Offset || x.Timestamp != y.Timestamp || x.Attributes != y.Attributes ||
			!sameBytes(x.Key, y.Key) || !sameBytes(x.Value, y.Value) || len(x.Headers) != len(y.Headers) {
			return false
		}
		for j := range x.Headers {
			if x.Headers[j].Key != y.Headers[j].Key || !sameBytes(x.Headers[j].Value, y.Headers[j].Value) {
				return false
			}
		}
	}
	return true
}

func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// recoverOpts skips fsyncs (FsyncNever) only to keep hundreds of reopens fast.
var recoverOpts = Options{SegmentBytes: 600, IndexIntervalBytes: 150, Fsync: FsyncNever}

func TestRecoverCutAtEveryByte(t *testing.T) {
	dir, all := buildLog(t, recoverOpts)
	files := segmentFiles(t, dir)
	active := files[len(files)-1]
	data, err := os.ReadFile(active)
	if err != nil {
		t.Fatal(err)
	}
	bounds := batchBounds(t, data)
	base, _ := parseSegmentName(filepath.Base(active))
	// Every byte of the last two batches (so also the boundary between
	// them), and every batch boundary of the segment.
	var cuts []int64
	for i, b := range bounds {
		cuts = append(cuts, b.end-1, b.end)
		if i == len(bounds)-3 {
			for c := b.end; c < int64(len(data)); c++ {
				cuts = append(cuts, c)
			}
		}
	}
	cuts = append(cuts, 0, 1, 11, 12, 60, 61)
	slices.Sort(cuts)
	for _, cut := range slices.Compact(cuts) {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			t.Parallel() // each case has its own copy; overlapping the fsyncs of Close
			d := copyDir(t, dir)
			if err := os.Truncate(filepath.Join(d, filepath.Base(active)), cut); err != nil {
				t.Fatal(err)
			}
			keep, kept := base, int64(0) // records and bytes that survive: up to the last batch ending at or before cut
			for _, b := range bounds {
				if b.end <= cut {
					keep, kept = b.next, b.end
				}
			}
			l := reopenAndCheck(t, d, recoverOpts, all[:keep])
			if got, want := l.Recovery(), (Recovery{CutBytes: cut - kept}); got != want {
				t.Fatalf("Recovery() = %+v, want %+v", got, want)
			}
		})
	}
}

func TestRecoverFlippedByteInLastBatch(t *testing.T) {
	dir, all := buildLog(t, recoverOpts)
	files := segmentFiles(t, dir)
	active := files[len(files)-1]
	data, err := os.ReadFile(active)
	if err != nil {
		t.Fatal(err)
	}
	bounds := batchBounds(t, data)
	start := int64(0)
	if len(bounds) > 1 {
		start = bounds[len(bounds)-2].end
	}
	lastBase := int64(len(all)) - (bounds[len(bounds)-1].next - func() int64 {
		if len(bounds) > 1 {
			return bounds[len(bounds)-2].next
		}
		base, _ := parseSegmentName(filepath.Base(active))
		return base
	}())
	for pos := start; pos < int64(len(data)); pos++ {
		t.Run(fmt.Sprint(pos-start), func(t *testing.T) {
			t.Parallel()
			d := copyDir(t, dir)
			bad := bytes.Clone(data)
			bad[pos] ^= 0x10
			if err := os.WriteFile(filepath.Join(d, filepath.Base(active)), bad, 0o644); err != nil {
				t.Fatal(err)
			}
			want := all[:lastBase]
			if rel := pos - start; rel >= recordbatch.OffLeaderEpoch && rel < recordbatch.OffMagic {
				want = all // the partition leader epoch is neither checked nor used
			}
			reopenAndCheck(t, d, recoverOpts, want)
		})
	}
}

func TestRecoverRebuildsBadIndexes(t *testing.T) {
	dir, all := buildLog(t, recoverOpts)
	files := segmentFiles(t, dir)
	want := map[string][]byte{}
	for _, f := range files {
		for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
			p := f[:len(f)-len(logSuffix)] + suffix
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("index file missing after Close: %v", err)
			}
			want[p] = data
		}
	}
	stem := func(i int) string { f := files[i]; return f[:len(f)-len(logSuffix)] }
	damage := []struct {
		name string
		do   func() error
	}{
		{"missing", func() error { return os.Remove(stem(0) + indexSuffix) }},
		{"garbage", func() error { return os.WriteFile(stem(1)+timeIndexSuffix, bytes.Repeat([]byte{0xff}, 36), 0o644) }},
		{"short", func() error { return os.Truncate(stem(2)+indexSuffix, 5) }},
		{"wrong positions", func() error {
			o, ti := marshalIndex([]indexEntry{{rel: 1, pos: 7, tsBefore: 0}})
			if err := os.WriteFile(stem(3)+indexSuffix, o, 0o644); err != nil {
				return err
			}
			return os.WriteFile(stem(3)+timeIndexSuffix, ti, 0o644)
		}},
	}
	for _, d := range damage {
		if err := d.do(); err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
	}
	reopenAndCheck(t, dir, recoverOpts, all)
	// Sealed segments' index files are rebuilt exactly (the active one's
	// changed with the record reopenAndCheck appended).
	for i := range len(files) - 1 {
		for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
			if got, err := os.ReadFile(stem(i) + suffix); err != nil || !bytes.Equal(got, want[stem(i)+suffix]) {
				t.Errorf("%s%s not rebuilt to its original contents (%v)", filepath.Base(stem(i)), suffix, err)
			}
		}
	}
	l := openT(t, dir, recoverOpts)
	for i, r := range all {
		if got, err := l.OffsetForTimestamp(r.Timestamp); err != nil || got > int64(i) {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %v; want <= %d", r.Timestamp, got, err, i)
		}
	}
}

func TestRecoverIgnoresStrayFiles(t *testing.T) {
	dir, all := buildLog(t, recoverOpts)
	for _, name := range []string{"notes.txt", "123.log", "00000000000000000abc.log"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reopenAndCheck(t, dir, recoverOpts, all)
}
