package commitlog

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// modelSegment is what the model knows of one segment.
type modelSegment struct {
	base, size, maxTS int64
	created           time.Time // by the clock at the first append (see segment.created)
	firstTS           int64     // the first batch's max timestamp
}

// logModel is the in-memory reference the property test checks Log against:
// every record ever appended, and the segment boundaries the roll and
// retention rules predict.
type logModel struct {
	recs  []Record // recs[i] has offset i; those below earliest are gone
	segs  []modelSegment
	bytes int64
}

func (m *logModel) earliest() int64 { return m.segs[0].base }
func (m *logModel) hwm() int64      { return int64(len(m.recs)) }
func (m *logModel) active() *modelSegment {
	return &m.segs[len(m.segs)-1]
}

func (m *logModel) aged(opts Options, now time.Time) bool {
	a := m.active()
	return opts.SegmentAge > 0 && a.size > 0 && now.Sub(a.created) >= opts.SegmentAge
}

// append records a batch of size bytes that the log accepted.
func (m *logModel) append(opts Options, now time.Time, recs []Record, size int64) {
	a := m.active()
	if a.size > 0 && (a.size+size > opts.SegmentBytes || m.aged(opts, now)) {
		m.segs = append(m.segs, modelSegment{base: m.hwm(), maxTS: -1})
		a = m.active()
	}
	maxTS := recs[0].Timestamp
	for _, r := range recs {
		maxTS = max(maxTS, r.Timestamp)
	}
	if a.size == 0 {
		a.created, a.firstTS = now, maxTS
	}
	a.size += size
	a.maxTS = max(a.maxTS, maxTS)
	m.bytes += size
	m.recs = append(m.recs, recs...)
}

// retain applies EnforceRetention's rules and returns how many segments go.
func (m *logModel) retain(opts Options, now time.Time) int {
	if m.aged(opts, now) {
		m.segs = append(m.segs, modelSegment{base: m.hwm(), maxTS: -1})
	}
	n := 0
	for len(m.segs) > 1 {
		old := m.segs[0]
		expired := opts.RetentionAge > 0 && now.Sub(time.UnixMilli(old.maxTS)) > opts.RetentionAge
		oversize := opts.RetentionBytes > 0 && m.bytes-old.size >= opts.RetentionBytes
		if !expired && !oversize {
			break
		}
		m.segs = m.segs[1:]
		m.bytes -= old.size
		n++
	}
	return n
}

// read is what Read must return.
func (m *logModel) read(offset int64, maxRecords, maxBytes int) []Record {
	var out []Record
	budget := maxBytes
	for o := offset; o < m.hwm() && len(out) < maxRecords; o++ {
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

func (m *logModel) offsetForTimestamp(ts int64) int64 {
	for o := m.earliest(); o < m.hwm(); o++ {
		if m.recs[o].Timestamp >= ts {
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
		m := &logModel{segs: []modelSegment{{maxTS: -1}}}
		var enc encoder

		check := func(t *rapid.T) {
			want := Stats{EarliestOffset: m.earliest(), HighWatermark: m.hwm(), Bytes: m.bytes, Segments: len(m.segs)}
			if got := l.Stats(); got != want {
				t.Fatalf("stats %+v, model %+v", got, want)
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
				if err != nil || base != m.hwm() {
					t.Fatalf("AppendBatch = %d, %v; want %d", base, err, m.hwm())
				}
				for i := range recs {
					recs[i].Offset = base + int64(i)
				}
				m.append(opts, clock.Now(), recs, int64(len(b)))
			},
			"read": func(t *rapid.T) {
				offset := rapid.Int64Range(m.earliest()-2, m.hwm()+2).Draw(t, "offset")
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
				if l, err = Open(dir, opts); err != nil {
					t.Fatal(err)
				}
				if a := m.active(); a.size > 0 {
					a.created = time.UnixMilli(min(a.firstTS, clock.Now().UnixMilli()))
				}
				verifyLog(t, l)
			},
		})
		verifyLog(t, l)
	})
}
