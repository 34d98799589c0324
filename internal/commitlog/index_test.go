package commitlog

import (
	"testing"
)

func TestLookupOffset(t *testing.T) {
	idx := []indexEntry{{rel: 10, pos: 100, tsBefore: 5}, {rel: 20, pos: 200, tsBefore: 9}, {rel: 35, pos: 300, tsBefore: 9}}
	tests := []struct {
		rel     uint32
		wantPos uint32
	}{{0, 0}, {9, 0}, {10, 100}, {19, 100}, {20, 200}, {34, 200}, {35, 300}, {1000, 300}}
	for _, tt := range tests {
		if got := lookupOffset(idx, tt.rel); got.pos != tt.wantPos {
			t.Errorf("lookupOffset(%d).pos = %d, want %d", tt.rel, got.pos, tt.wantPos)
		}
	}
	if got := lookupOffset(nil, 5); got.pos != 0 {
		t.Errorf("empty index: %+v", got)
	}
}

func TestLookupTime(t *testing.T) {
	// tsBefore: everything before pos 100 is <= 5, before 200 <= 9, before 300 <= 9.
	idx := []indexEntry{{rel: 10, pos: 100, tsBefore: 5}, {rel: 20, pos: 200, tsBefore: 9}, {rel: 35, pos: 300, tsBefore: 9}}
	tests := []struct {
		ts      int64
		wantPos uint32
	}{{-5, 0}, {5, 0}, {6, 100}, {9, 100}, {10, 300}, {1 << 40, 300}}
	for _, tt := range tests {
		if got := lookupTime(idx, tt.ts); got.pos != tt.wantPos {
			t.Errorf("lookupTime(%d).pos = %d, want %d", tt.ts, got.pos, tt.wantPos)
		}
	}
}

func TestIndexFilesRoundTrip(t *testing.T) {
	idx := []indexEntry{{rel: 1, pos: 61, tsBefore: -1}, {rel: 7, pos: 4200, tsBefore: 1 << 41}}
	o, ti := marshalIndex(idx)
	if len(o) != 16 || len(ti) != 24 {
		t.Fatalf("file sizes %d, %d", len(o), len(ti))
	}
	got, err := unmarshalIndex(o, ti, 5000)
	if err != nil || len(got) != 2 || got[0] != idx[0] || got[1] != idx[1] {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
}

func TestUnmarshalIndexRejects(t *testing.T) {
	good := []indexEntry{{rel: 1, pos: 61, tsBefore: 3}, {rel: 7, pos: 4200, tsBefore: 8}}
	o, ti := marshalIndex(good)
	tests := []struct {
		name     string
		offsets  []byte
		times    []byte
		size     int64
		wantGood bool
	}{
		{"valid", o, ti, 5000, true},
		{"empty", nil, nil, 5000, true},
		{"short offset file", o[:12], ti, 5000, false},
		{"short time file", o, ti[:20], 5000, false},
		{"count differs", o[:8], ti, 5000, false},
		{"position past the segment", o, ti, 4200, false},
		{"garbage", []byte("0123456789abcdef"), []byte("0123456789abcdef01234567"), 1 << 40, false},
		{"out of order", append(append([]byte(nil), o[8:]...), o[:8]...), append(append([]byte(nil), ti[12:]...), ti[:12]...), 5000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := unmarshalIndex(tt.offsets, tt.times, tt.size)
			if (err == nil) != tt.wantGood {
				t.Fatalf("unmarshalIndex error = %v, want ok=%v", err, tt.wantGood)
			}
		})
	}
}

func TestIndexIsSparse(t *testing.T) {
	l := openT(t, t.TempDir(), Options{IndexIntervalBytes: 1000, Now: newClock().Now})
	for range 100 {
		mustAppend(t, l, Record{Value: make([]byte, 100)})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.active()
	want := int(s.size / 1000)
	if n := len(s.index); n < want-1 || n > want+1 {
		t.Fatalf("%d index entries for %d bytes at one per 1000", n, s.size)
	}
	for i, e := range s.index {
		if i > 0 && int(e.pos-s.index[i-1].pos) < 1000 {
			t.Fatalf("entries %d and %d are closer than the interval", i-1, i)
		}
	}
}
