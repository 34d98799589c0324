package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// modelBatch is what the model knows of one batch.
type modelBatch struct {
	base, n, size, maxTS int64
	voided               bool
}

// modelSegment is what the model knows of one segment.
type modelSegment struct {
	base, size, maxTS int64
	created           time.Time // by the clock at the first append (see segment.created)
	firstTS           int64     // the first batch's max timestamp
	batches           []modelBatch
}

// logModel is the in-memory reference the property test checks Log against:
// every record ever appended, the segment boundaries the roll and
// retention rules predict, the batches voided, and the high watermark.
type logModel struct {
	recs  []Record // recs[i] has offset i; those below earliest are gone
	segs  []modelSegment
	bytes int64
	// held: the log's high watermark is held (see HoldWatermark) at
	// heldHWM; else it is next.
	held    bool
	heldHWM int64
}

func (m *logModel) earliest() int64 { return m.segs[0].base }
func (m *logModel) next() int64     { return int64(len(m.recs)) }
func (m *logModel) hwm() int64 {
	if m.held {
		return m.heldHWM
	}
	return m.next()
}
func (m *logModel) active() *modelSegment {
	return &m.segs[len(m.segs)-1]
}

// batches returns every batch the log holds, in offset order.
func (m *logModel) batches() []*modelBatch {
	var out []*modelBatch
	for i := range m.segs {
		for j := range m.segs[i].batches {
			out = append(out, &m.segs[i].batches[j])
		}
	}
	return out
}

// voided reports whether offset o is in a voided batch.
func (m *logModel) voided(o int64) bool {
	for _, b := range m.batches() {
		if o >= b.base && o < b.base+b.n {
			return b.voided
		}
	}
	return false
}

func (m *logModel) aged(opts Options, now time.Time) bool {
	a := m.active()
	return opts.SegmentAge > 0 && a.size > 0 && now.Sub(a.created) >= opts.SegmentAge
}

// append records a batch of size bytes that the log accepted.
func (m *logModel) append(opts Options, now time.Time, recs []Record, size int64) {
	a := m.active()
	if a.size > 0 && (a.size+size > opts.SegmentBytes || m.aged(opts, now)) {
		m.segs = append(m.segs, modelSegment{base: m.next(), maxTS: -1})
		a = m.active()
	}
	maxTS := recs[0].Timestamp
	for _, r := range recs {
		maxTS = max(maxTS, r.Timestamp)
	}
	if a.size == 0 {
		a.created, a.firstTS = now, maxTS
	}
	a.batches = append(a.batches, modelBatch{base: m.next(), n: int64(len(recs)), size: size, maxTS: maxTS})
	a.size += size
	a.maxTS = max(a.maxTS, maxTS)
	m.bytes += size
	m.recs = append(m.recs, recs...)
}

// retain applies EnforceRetention's rules and returns how many segments go.
func (m *logModel) retain(opts Options, now time.Time) int {
	if m.aged(opts, now) {
		m.segs = append(m.segs, modelSegment{base: m.next(), maxTS: -1})
	}
	n := 0
	for len(m.segs) > 1 {
		old := m.segs[0]
		expired := opts.RetentionAge > 0 && now.Sub(time.UnixMilli(old.maxTS)) > opts.RetentionAge
		oversize := opts.RetentionBytes > 0 && m.bytes-old.size >= opts.RetentionBytes
		if !expired && !oversize || m.held && m.segs[1].base > m.hwm() {
			break
		}
		m.segs = m.segs[1:]
		m.bytes -= old.size
		n++
	}
	return n
}

// truncate applies TruncateTo(offset), a batch boundary in [earliest, next].
func (m *logModel) truncate(offset int64, now time.Time) {
	if offset == m.next() {
		return
	}
	k := len(m.segs) - 1
	for m.segs[k].base > offset {
		k--
	}
	m.segs = m.segs[:k+1]
	s := &m.segs[k]
	i := 0
	for i < len(s.batches) && s.batches[i].base < offset {
		i++
	}
	s.batches = s.batches[:i]
	s.size, s.maxTS, s.created = 0, -1, time.Time{}
	for _, b := range s.batches {
		s.size += b.size
		s.maxTS = max(s.maxTS, b.maxTS)
	}
	if len(s.batches) > 0 {
		s.firstTS = s.batches[0].maxTS
		s.created = time.UnixMilli(min(s.firstTS, now.UnixMilli()))
	}
	m.bytes = 0
	for _, s := range m.segs {
		m.bytes += s.size
	}
	m.recs = m.recs[:offset]
	m.heldHWM = min(m.heldHWM, offset)
}

// startAt applies StartAt(offset), at most earliest or at least next.
func (m *logModel) startAt(offset int64) {
	m.segs = []modelSegment{{base: offset, maxTS: -1}}
	m.bytes = 0
	if offset <= m.next() {
		m.recs = m.recs[:offset]
	} else {
		m.recs = append(m.recs, make([]Record, offset-m.next())...)
	}
	m.heldHWM = offset
}

// read is what Read must return.
func (m *logModel) read(offset int64, maxRecords, maxBytes int) []Record {
	var out []Record
	budget := maxBytes
	for o := offset; o < m.hwm() && len(out) < maxRecords; o++ {
		if m.voided(o) {
			continue
		}
		r := m.recs[o]
		n := len(r.Key) + len(r.Value)
		for _, h := range r.Headers {
			// Header bytes as encoded: varint key length, key, varint
			// value length (-1 for null), value.
			n += len(binary.AppendVarint(nil, int64(len(h.Key)))) + len(h.Key)
			if h.Value == nil {
				n += len(binary.AppendVarint(nil, -1))
			} else {
				n += len(binary.AppendVarint(nil, int64(len(h.Value)))) + len(h.Value)
			}
		}
		if len(out) > 0 && n > budget {
			break
		}
		budget -= n
		out = append(out, r)
	}
	return out
}

// readBatches is the base offsets of the batches ReadBatches must return.
func (m *logModel) readBatches(offset int64, maxBytes int) []int64 {
	var out []int64
	total := int64(0)
	for _, b := range m.batches() {
		if b.base+b.n <= offset || b.voided {
			continue
		}
		if b.base >= m.hwm() || len(out) > 0 && total+b.size > int64(maxBytes) {
			break
		}
		out = append(out, b.base)
		total += b.size
	}
	return out
}

// visibleBytesFrom is the bytes below the high watermark from the start
// of the segment holding offset on.
func (m *logModel) visibleBytesFrom(offset int64) int64 {
	var n int64
	for i, s := range m.segs {
		if i+1 < len(m.segs) && m.segs[i+1].base <= offset {
			continue
		}
		for _, b := range s.batches {
			if b.base < m.hwm() {
				n += b.size
			}
		}
	}
	return n
}

// boundaries returns the batch boundaries in [from, next].
func (m *logModel) boundaries(from int64) []int64 {
	var out []int64
	for _, b := range m.batches() {
		if b.base >= from {
			out = append(out, b.base)
		}
	}
	return append(out, m.next())
}

func (m *logModel) stats() Stats {
	st := Stats{EarliestOffset: m.earliest(), HighWatermark: m.hwm(), Bytes: m.bytes, Segments: len(m.segs)}
	for _, b := range m.batches() {
		if b.voided && b.base < m.hwm() {
			st.VoidBatches++
			st.VoidOffsets += b.n
		}
	}
	return st
}

func (m *logModel) offsetForTimestamp(ts int64) int64 {
	for o := m.earliest(); o < m.hwm(); o++ {
		if !m.voided(o) && m.recs[o].Timestamp >= ts {
			return o
		}
	}
	return m.hwm()
}

func genRecord(t *rapid.T, now time.Time) Record {
	var r Record
	switch rapid.IntRange(0, 2).Draw(t, "keyKind") {
	case 1:
		r.Key = []byte{}
	case 2:
		r.Key = rapid.SliceOfN(rapid.Byte(), 1, 20).Draw(t, "key")
	}
	if rapid.Bool().Draw(t, "hasValue") {
		r.Value = rapid.SliceOfN(rapid.Byte(), 0, 80).Draw(t, "value")
	}
	for range rapid.IntRange(0, 2).Draw(t, "headers") {
		h := Header{Key: rapid.StringN(0, 5, -1).Draw(t, "hkey")}
		if rapid.Bool().Draw(t, "hvalue") {
			h.Value = rapid.SliceOfN(rapid.Byte(), 0, 10).Draw(t, "hval")
		}
		r.Headers = append(r.Headers, h)
	}
	if rapid.Bool().Draw(t, "explicitTS") {
		// Up to two days old: old timestamps must not roll segments.
		r.Timestamp = now.UnixMilli() + rapid.Int64Range(-48*3_600_000, 3_600_000).Draw(t, "ts")
	}
	r.Attributes = rapid.Int8().Draw(t, "attrs")
	return r
}

// TestLogMatchesModel runs random operations against a log and the model:
// appends, reads of every kind, retention, reopens, and a replicated
// partition's: holding the high watermark (from Open or after it),
// Release, Void, TruncateTo above and below the high watermark, StartAt.
// A held log reopens held at its earliest offset (Options.Held); its
// voids survive.
func TestLogMatchesModel(t *testing.T) {
	root := t.TempDir()
	rapid.Check(t, func(t *rapid.T) {
		clock := newClock()
		opts := Options{
			SegmentBytes:       rapid.Int64Range(100, 3000).Draw(t, "segmentBytes"),
			IndexIntervalBytes: rapid.IntRange(1, 600).Draw(t, "indexInterval"),
			Fsync:              rapid.SampledFrom([]FsyncPolicy{FsyncNever, FsyncNever, FsyncInterval, FsyncAlways}).Draw(t, "fsync"),
			FsyncBytes:         rapid.Int64Range(0, 2000).Draw(t, "fsyncBytes"),
			Now:                clock.Now,
			Held:               rapid.Bool().Draw(t, "held"),
		}
		if rapid.Bool().Draw(t, "retainBytes") {
			opts.RetentionBytes = rapid.Int64Range(1, 5000).Draw(t, "retentionBytes")
		}
		if rapid.Bool().Draw(t, "retainAge") {
			opts.RetentionAge = time.Duration(rapid.IntRange(1, 120).Draw(t, "retentionMinutes")) * time.Minute
		}
		if rapid.Bool().Draw(t, "segmentAge") {
			opts.SegmentAge = time.Duration(rapid.IntRange(1, 60).Draw(t, "segmentAgeMinutes")) * time.Minute
		}
		dir, err := os.MkdirTemp(root, "log")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		l, err := Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { l.Close() }()
		m := &logModel{segs: []modelSegment{{maxTS: -1}}, held: opts.Held}
		var enc encoder

		check := func(t *rapid.T) {
			if got, want := l.Stats(), m.stats(); got != want {
				t.Fatalf("stats %+v, model %+v", got, want)
			}
		}
		// wantErr checks err against the error the model expects (nil: none).
		wantErr := func(t *rapid.T, op string, err, want error) {
			if !errors.Is(err, want) || (want == nil) != (err == nil) {
				t.Fatalf("%s = %v, want %v", op, err, want)
			}
		}
		t.Repeat(map[string]func(*rapid.T){
			"": check,
			"append": func(t *rapid.T) {
				recs := make([]Record, rapid.IntRange(1, 6).Draw(t, "n"))
				for i := range recs {
					recs[i] = genRecord(t, clock.Now())
				}
				before := l.Stats().Bytes
				if _, err := l.Append(recs); err != nil {
					t.Fatal(err)
				}
				m.append(opts, clock.Now(), recs, l.Stats().Bytes-before)
			},
			"appendBatch": func(t *rapid.T) {
				recs := make([]Record, rapid.IntRange(1, 6).Draw(t, "n"))
				now := clock.Now().UnixMilli()
				for i := range recs {
					recs[i] = genRecord(t, clock.Now())
					if recs[i].Timestamp == 0 {
						recs[i].Timestamp = now
					}
				}
				b, _ := enc.encode(rapid.Int64Range(0, 1<<40).Draw(t, "producerBase"), recs)
				base, err := l.AppendBatch(b)
				if err != nil || base != m.next() {
					t.Fatalf("AppendBatch = %d, %v; want %d", base, err, m.next())
				}
				for i := range recs {
					recs[i].Offset = base + int64(i)
				}
				m.append(opts, clock.Now(), recs, int64(len(b)))
			},
			"read": func(t *rapid.T) {
				offset := rapid.Int64Range(m.earliest()-2, m.next()+2).Draw(t, "offset")
				maxRecords := rapid.IntRange(0, 30).Draw(t, "max")
				maxBytes := rapid.IntRange(0, 600).Draw(t, "maxBytes")
				got, err := l.Read(offset, maxRecords, maxBytes)
				if offset < m.earliest() || offset > m.hwm() {
					var re *RangeError
					if !errors.As(err, &re) || *re != (RangeError{offset, m.earliest(), m.hwm()}) {
						t.Fatalf("Read(%d) err = %v, want range error", offset, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Read(%d): %v", offset, err)
				}
				want := m.read(offset, maxRecords, maxBytes)
				if !recordsEqual(want, got) {
					t.Fatalf("Read(%d, %d, %d) (-model +log):\n%s", offset, maxRecords, maxBytes, cmp.Diff(want, got))
				}
				if len(got) == 0 && maxRecords > 0 && offset < m.hwm() {
					// Only voids lie between offset and the high watermark:
					// Skipped steps a consumer over them.
					to, ok := l.Skipped(offset)
					if !ok || to <= offset || to > m.hwm() || !m.voided(offset) {
						t.Fatalf("Read(%d) found nothing below %d, Skipped = %d, %v", offset, m.hwm(), to, ok)
					}
				}
			},
			"readBatches": func(t *rapid.T) {
				offset := rapid.Int64Range(m.earliest(), m.hwm()).Draw(t, "offset")
				maxBytes := rapid.IntRange(0, 2000).Draw(t, "maxBytes")
				size := l.ReadSize(offset, maxBytes)
				raw, err := l.ReadBatches(offset, maxBytes, nil)
				if err != nil {
					t.Fatalf("ReadBatches(%d): %v", offset, err)
				}
				var got []int64
				for b := raw; len(b) > 0; {
					n, ok := recordbatch.Len(b)
					if !ok || n > len(b) {
						t.Fatalf("ReadBatches(%d): a torn batch after %v", offset, got)
					}
					got = append(got, recordbatch.BaseOffset(b))
					b = b[n:]
				}
				if want := m.readBatches(offset, maxBytes); !slices.Equal(got, want) {
					t.Fatalf("ReadBatches(%d, %d) batches %v, model %v", offset, maxBytes, got, want)
				}
				// ReadSize is room for what the read returns, unless that
				// is one batch larger than it: the one holding offset
				// fits, but one after a void there need not.
				if len(raw) > size && len(got) > 1 || int64(size) > m.visibleBytesFrom(offset) {
					t.Fatalf("ReadSize(%d, %d) = %d: read %d, %d bytes visible from its segment", offset, maxBytes, size, len(raw), m.visibleBytesFrom(offset))
				}
			},
			"offsetForTimestamp": func(t *rapid.T) {
				ts := clock.Now().UnixMilli() + rapid.Int64Range(-4_000_000, 4_000_000).Draw(t, "delta")
				if len(m.recs) > 0 && rapid.Bool().Draw(t, "exact") {
					ts = m.recs[rapid.IntRange(0, len(m.recs)-1).Draw(t, "i")].Timestamp
				}
				got, err := l.OffsetForTimestamp(ts)
				if want := m.offsetForTimestamp(ts); err != nil || got != want {
					t.Fatalf("OffsetForTimestamp(%d) = %d, %v; model %d", ts, got, err, want)
				}
			},
			"tick": func(t *rapid.T) {
				clock.Advance(time.Duration(rapid.IntRange(0, 20).Draw(t, "minutes")) * time.Minute)
			},
			"retention": func(t *rapid.T) {
				want := m.retain(opts, clock.Now())
				got, err := l.EnforceRetention()
				if err != nil || got != want {
					t.Fatalf("EnforceRetention = %d, %v; model %d", got, err, want)
				}
			},
			"sync": func(t *rapid.T) {
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
			},
			"reopen": func(t *rapid.T) {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				opts.Held = m.held
				if l, err = Open(dir, opts); err != nil {
					t.Fatal(err)
				}
				if r := l.Recovery(); r != (Recovery{}) {
					t.Fatalf("reopen after Close found %+v", r)
				}
				m.heldHWM = m.earliest()
				if a := m.active(); a.size > 0 {
					a.created = time.UnixMilli(min(a.firstTS, clock.Now().UnixMilli()))
				}
				verifyLog(t, l)
			},
			"hold": func(t *rapid.T) {
				if !m.held {
					m.held, m.heldHWM = true, m.next()
				}
				l.HoldWatermark()
			},
			"release": func(t *rapid.T) {
				var next int64
				var want error
				switch {
				case !m.held:
					next, want = m.next(), ErrNotHeld
				case rapid.IntRange(0, 3).Draw(t, "bad") > 0:
					bs := m.boundaries(m.hwm())
					next = bs[rapid.IntRange(0, len(bs)-1).Draw(t, "to")]
				default:
					next = rapid.Int64Range(m.earliest()-1, m.next()+1).Draw(t, "anywhere")
					switch {
					case next < m.hwm() || next > m.next():
						want = ErrOffsetOutOfRange
					case !slices.Contains(m.boundaries(m.hwm()), next):
						want = ErrNotBoundary
					}
				}
				wantErr(t, fmt.Sprintf("Release(%d)", next), l.Release(next), want)
				if want == nil {
					m.heldHWM = next
				}
			},
			"void": func(t *rapid.T) {
				offset := rapid.Int64Range(m.earliest(), m.next()).Draw(t, "offset")
				if bs := m.boundaries(m.hwm()); len(bs) > 1 && rapid.Bool().Draw(t, "unreleased") {
					offset = bs[rapid.IntRange(0, len(bs)-2).Draw(t, "batch")]
				}
				var want error
				switch {
				case offset < m.hwm() || offset >= m.next():
					want = ErrOffsetOutOfRange
				case !slices.Contains(m.boundaries(m.hwm()), offset):
					want = ErrNotBoundary
				}
				wantErr(t, fmt.Sprintf("Void(%d)", offset), l.Void(offset), want)
				if want == nil {
					for _, b := range m.batches() {
						if b.base == offset {
							b.voided = true
						}
					}
				}
			},
			"truncate": func(t *rapid.T) {
				bs := m.boundaries(m.earliest())
				offset := bs[rapid.IntRange(0, len(bs)-1).Draw(t, "to")]
				if err := l.TruncateTo(offset); err != nil {
					t.Fatalf("TruncateTo(%d): %v", offset, err)
				}
				m.truncate(offset, clock.Now())
			},
			"startAt": func(t *rapid.T) {
				offset := rapid.Int64Range(0, m.earliest()).Draw(t, "back")
				if rapid.Bool().Draw(t, "forward") {
					offset = m.next() + rapid.Int64Range(0, 5).Draw(t, "skip")
				}
				if err := l.StartAt(offset); err != nil {
					t.Fatalf("StartAt(%d): %v", offset, err)
				}
				m.startAt(offset)
			},
		})
		verifyLog(t, l)
	})
}
