package delivery

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func TestRangeSetAdd(t *testing.T) {
	tests := []struct {
		name string
		adds []int64
		want []Range
	}{
		{"empty", nil, nil},
		{"one", []int64{5}, []Range{{5, 6}}},
		{"extend up", []int64{5, 6, 7}, []Range{{5, 8}}},
		{"extend down", []int64{7, 6, 5}, []Range{{5, 8}}},
		{"gap", []int64{1, 3}, []Range{{1, 2}, {3, 4}}},
		{"bridge", []int64{1, 3, 2}, []Range{{1, 4}}},
		{"insert before", []int64{10, 1}, []Range{{1, 2}, {10, 11}}},
		{"insert middle", []int64{1, 10, 5}, []Range{{1, 2}, {5, 6}, {10, 11}}},
		{"duplicate", []int64{4, 4, 5, 4}, []Range{{4, 6}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s rangeSet
			for _, off := range tt.adds {
				s.add(off)
			}
			if !slices.Equal(s.rs, tt.want) {
				t.Fatalf("got %v, want %v", s.rs, tt.want)
			}
		})
	}
}

func TestRangeSetAdvance(t *testing.T) {
	tests := []struct {
		name   string
		set    []Range
		c      int64
		want   int64
		remain []Range
	}{
		{"empty", nil, 3, 3, nil},
		{"not at c", []Range{{5, 7}}, 3, 3, []Range{{5, 7}}},
		{"at c", []Range{{3, 7}, {9, 10}}, 3, 7, []Range{{9, 10}}},
		{"inside", []Range{{1, 7}}, 3, 7, nil},
		{"below dropped", []Range{{1, 2}, {4, 5}, {8, 9}}, 6, 6, []Range{{8, 9}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := rangeSet{rs: slices.Clone(tt.set)}
			if got := s.advance(tt.c); got != tt.want {
				t.Fatalf("advance(%d) = %d, want %d", tt.c, got, tt.want)
			}
			if !slices.Equal(s.rs, tt.remain) {
				t.Fatalf("left %v, want %v", s.rs, tt.remain)
			}
		})
	}
}

// TestRangeSetModel checks add, contains, after and newRangeSet against a
// plain set.
func TestRangeSetModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var s rangeSet
		model := map[int64]bool{}
		for _, off := range rapid.SliceOf(rapid.Int64Range(0, 60)).Draw(t, "adds") {
			if got := s.add(off); got == model[off] {
				t.Fatalf("add(%d) = %v with model %v", off, got, model[off])
			}
			model[off] = true
		}
		for i := 0; i+1 < len(s.rs); i++ {
			if s.rs[i].To >= s.rs[i+1].From {
				t.Fatalf("ranges not disjoint and apart: %v", s.rs)
			}
		}
		for off := int64(-1); off < 63; off++ {
			if s.contains(off) != model[off] {
				t.Fatalf("contains(%d) = %v", off, s.contains(off))
			}
			want := off
			for model[want] {
				want++
			}
			if got := s.after(off); got != want {
				t.Fatalf("after(%d) = %d, want %d", off, got, want)
			}
		}
		rebuilt := newRangeSet(slices.Concat(s.rs, s.rs))
		if !slices.Equal(rebuilt.rs, s.rs) {
			t.Fatalf("newRangeSet(%v twice) = %v", s.rs, rebuilt.rs)
		}
		if s.count() != int64(len(model)) {
			t.Fatalf("count = %d, want %d", s.count(), len(model))
		}
	})
}
