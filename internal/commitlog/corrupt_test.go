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

// without returns all but the records with offsets in [from, to).
func without(all []Record, from, to int64) []Record {
	return slices.Concat(all[:from], all[to:])
}

// checkSkipped checks that l holds every record of all except [from, to),
// that its high watermark is len(all), that it reports exactly that damage,
// and that appends continue at len(all).
func checkSkipped(t *testing.T, l *Log, all []Record, from, to int64) {
	t.Helper()
	hwm := int64(len(all))
	if got := l.HighWatermark(); got != hwm {
		t.Fatalf("hwm = %d, want %d (unchanged by damage)", got, hwm)
	}
	checkRawSkipped(t, l, without(all, from, to))
	got, err := l.Read(0, 1<<20, 1<<30)
	if err != nil {
		t.Fatalf("read across the damage: %v", err)
	}
	if want := without(all, from, to); !recordsEqual(want, got) {
		t.Fatalf("records around the damage (-want +got):\n%s", cmp.Diff(want, got, recordOpts))
	}
	// A read that starts inside the damage returns what follows it.
	if from < to && to < hwm {
		got, err := l.Read(from, 1, 1<<20)
		if err != nil || len(got) != 1 || got[0].Offset != to {
			t.Fatalf("Read(%d) = %v, %v; want the record at %d", from, got, err, to)
		}
	}
	c := l.Corruption()
	if len(c) != 1 || c[0].From != from || c[0].To != to {
		t.Fatalf("Corruption() = %v, want one range of offsets [%d, %d)", c, from, to)
	}
	if st := l.Stats(); st.CorruptRanges != 1 || st.CorruptOffsets != to-from {
		t.Fatalf("stats %+v, want 1 range of %d offsets", st, to-from)
	}
	if from < to {
		if next, ok := l.Skipped(from); !ok || next != to {
			t.Fatalf("Skipped(%d) = %d, %v; want %d", from, next, ok, to)
		}
	}
	if next, ok := l.Skipped(to); ok && to < hwm {
		t.Fatalf("Skipped(%d) = %d: the first intact offset after the damage", to, next)
	}
	if base := mustAppend(t, l, Record{Value: []byte("after")}); base != hwm {
		t.Fatalf("append after the damage got offset %d, want %d", base, hwm)
	}
}

// checkRawSkipped checks that ReadBatches, reading into the space after
// what dst holds, steps over damage as Read does: whole intact batches of
// exactly want's offsets, after dst's bytes.
func checkRawSkipped(t *testing.T, l *Log, want []Record) {
	t.Helper()
	dst := make([]byte, 3, 64)
	copy(dst, "dst")
	raw, err := l.ReadBatches(0, 1<<30, dst)
	if err != nil || !bytes.HasPrefix(raw, []byte("dst")) {
		t.Fatalf("raw read across the damage: %v", err)
	}
	var got []int64
	for b := raw[3:]; len(b) > 0; {
		n, ok := recordbatch.Len(b)
		if !ok || n > len(b) {
			t.Fatalf("raw read: truncated batch after offsets %v", got)
		}
		if _, err := recordbatch.CheckFrame(b[:n]); err != nil {
			t.Fatalf("raw read: batch after offsets %v: %v", got, err)
		}
		for o := range int64(recordbatch.NumRecords(b)) {
			got = append(got, recordbatch.BaseOffset(b)+o)
		}
		b = b[n:]
	}
	var offsets []int64
	for _, r := range want {
		offsets = append(offsets, r.Offset)
	}
	if !slices.Equal(got, offsets) {
		t.Fatalf("raw read offsets (-want +got):\n%s", cmp.Diff(offsets, got))
	}
}

// flip inverts 16 bytes of file at pos.
func flip(t *testing.T, file string, pos int64) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i := pos; i < pos+16 && i < int64(len(data)); i++ {
		data[i] ^= 0xff
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// segmentBatches returns the bounds of each batch of a segment file and the
// segment's base offset.
func segmentBatches(t *testing.T, file string) ([]bound, int64) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := parseSegmentName(filepath.Base(file))
	return batchBounds(t, data), base
}

// batchOffsets returns where batch i of a segment starts (bytes) and the
// offsets it holds.
func batchOffsets(bs []bound, base int64, i int) (pos, from, to int64) {
	pos, from = 0, base
	if i > 0 {
		pos, from = bs[i-1].end, bs[i-1].next
	}
	return pos, from, bs[i].next
}

// Damage inside a sealed segment's batches, wherever it falls, costs exactly
// the batches it touches: Open (which trusts a consistent index and scans
// only past its last entry), a read or Verify finds it, and the records
// before and after stay readable, the high watermark unchanged, no segment
// deleted. Before, Open treated such damage as a torn tail: it cut the
// segment there and deleted every later one.
func TestCorruptSealedSegmentSkipsOnlyTheDamage(t *testing.T) {
	dir, all := buildLog(t, recoverOpts)
	files := segmentFiles(t, dir)
	bs, base := segmentBatches(t, files[1])
	for i := range bs {
		for _, find := range []string{"read", "verify"} {
			t.Run(fmt.Sprintf("batch %d by %s", i, find), func(t *testing.T) {
				d := copyDir(t, dir)
				pos, from, to := batchOffsets(bs, base, i)
				flip(t, filepath.Join(d, filepath.Base(files[1])), pos+bs[i].end/2-pos/2) // the middle of batch i
				var told []CorruptRange
				opts := recoverOpts
				opts.OnCorrupt = func(r CorruptRange) { told = append(told, r) }
				l, err := Open(d, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				if find == "verify" {
					if _, err := l.Verify(); err != nil {
						t.Fatal(err)
					}
				}
				checkSkipped(t, l, all, from, to)
				if got, _ := filepath.Glob(filepath.Join(d, "*.log")); len(got) != len(files) {
					t.Fatalf("%d segment files after recovery, want all %d", len(got), len(files))
				}
				if opened := l.Recovery().CorruptRanges; len(told)+opened != 1 {
					t.Fatalf("told of %v after Open and %d at Open; want one range in all", told, opened)
				}
				verifyLog(t, l)
			})
		}
	}
}

// The active segment: damage followed by valid batches is damage in the
// middle of the log, skipped; only damage with nothing valid after it is a
// torn tail, and cut (TestRecoverFlippedByteInLastBatch).
func TestCorruptActiveSegmentMidLogIsSkippedNotCut(t *testing.T) {
	dir, all := buildLog(t, recoverOpts)
	files := segmentFiles(t, dir)
	active := files[len(files)-1]
	bs, base := segmentBatches(t, active)
	if len(bs) < 2 {
		t.Fatalf("the active segment holds %d batches; the test wants 2 or more", len(bs))
	}
	for i := range len(bs) - 1 {
		for _, at := range []string{"header", "records"} {
			t.Run(fmt.Sprintf("batch %d %s", i, at), func(t *testing.T) {
				d := copyDir(t, dir)
				pos, from, to := batchOffsets(bs, base, i)
				if at == "records" {
					pos = bs[i].end - 16
				}
				flip(t, filepath.Join(d, filepath.Base(active)), pos)
				l, err := Open(d, recoverOpts)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				if r := l.Recovery(); r.CutBytes != 0 || r.CorruptRanges != 1 {
					t.Fatalf("Recovery() = %+v, want nothing cut and one range skipped", r)
				}
				checkSkipped(t, l, all, from, to)
				verifyLog(t, l)
			})
		}
	}
}

// A segment file removed from the middle of the log leaves its offsets
// missing, not the segments after it: they were deleted before.
func TestMissingSegmentIsSkippedNotTheRest(t *testing.T) {
	dir, all := buildLog(t, recoverOpts)
	files := segmentFiles(t, dir)
	if err := os.Remove(files[1]); err != nil {
		t.Fatal(err)
	}
	from, _ := parseSegmentName(filepath.Base(files[1]))
	to, _ := parseSegmentName(filepath.Base(files[2]))
	l, err := Open(dir, recoverOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	checkSkipped(t, l, all, from, to)
	verifyLog(t, l)
}

// resync finds the next valid batch after damage of any length and nothing
// in bytes that hold no batch.
func TestResync(t *testing.T) {
	var e encoder
	var data []byte
	var starts []int64
	for i := range 5 {
		b, _ := e.encode(int64(i*2), []Record{{Value: []byte(fmt.Sprint("v", i)), Timestamp: 5}, {Timestamp: 6}})
		starts = append(starts, int64(len(data)))
		data = append(data, b...)
	}
	for i := range 4 {
		q, info, ok, err := resync(bytes.NewReader(data), starts[i], int64(len(data)), int64(i*2))
		if err != nil || !ok || q != starts[i+1] || info.base != int64(i*2+2) {
			t.Fatalf("resync after batch %d = %d, %+v, %v, %v; want %d", i, q, info, ok, err, starts[i+1])
		}
	}
	if _, _, ok, _ := resync(bytes.NewReader(data), starts[4], int64(len(data)), 8); ok {
		t.Fatal("resync found a batch after the last one")
	}
	noise := bytes.Repeat([]byte{2, 0, 0, 0, 0x3d}, 1000)
	if _, _, ok, _ := resync(bytes.NewReader(noise), 0, int64(len(noise)), 0); ok {
		t.Fatal("resync found a batch in noise")
	}
}

// The base offset is outside a batch's CRC: damage there passes the CRC
// check, and a read would have returned records under wrong offsets. Reads
// and Verify check it against the offset the batch must have.
func TestCorruptBaseOffsetInSealedSegment(t *testing.T) {
	dir, all := buildLog(t, recoverOpts)
	files := segmentFiles(t, dir)
	bs, base := segmentBatches(t, files[0])
	for i := range bs {
		t.Run(fmt.Sprint("batch ", i), func(t *testing.T) {
			d := copyDir(t, dir)
			file := filepath.Join(d, filepath.Base(files[0]))
			pos, from, to := batchOffsets(bs, base, i)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			data[pos+recordbatch.OffBaseOffset+7] ^= 0x40 // the base offset's low byte
			if err := os.WriteFile(file, data, 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := Open(d, recoverOpts)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if _, err := l.Verify(); err != nil {
				t.Fatal(err)
			}
			checkSkipped(t, l, all, from, to)
		})
	}
}

// A sealed segment file removed while the log is open (an operator's rm)
// failed every read of its offsets once the file cache had closed it, and
// a consumer group that reached them stalled. Now it is skipped as Open
// skips a missing segment: one range, told to OnCorrupt once, the records
// around it readable, by a read or by Verify.
func TestRemovedSealedSegmentIsSkipped(t *testing.T) {
	for _, find := range []string{"read", "verify"} {
		t.Run(find, func(t *testing.T) {
			dir, all := buildLog(t, recoverOpts)
			files := segmentFiles(t, dir)
			var told []CorruptRange
			opts := recoverOpts
			opts.Files = NewFileCache(1) // sealed files are closed between reads
			opts.OnCorrupt = func(r CorruptRange) { told = append(told, r) }
			l := openT(t, dir, opts)
			from := l.segs[1].base
			to := l.segs[2].base
			if err := os.Remove(files[1]); err != nil {
				t.Fatal(err)
			}
			if find == "verify" {
				if _, err := l.Verify(); err != nil {
					t.Fatal(err)
				}
			}
			checkSkipped(t, l, all, from, to)
			if len(told) != 1 || told[0].From != from || told[0].To != to {
				t.Fatalf("told of %v, want one range of offsets [%d, %d)", told, from, to)
			}
		})
	}
}
