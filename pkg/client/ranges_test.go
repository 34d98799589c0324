package client

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/abd-ulbasit/goqueue/api"
)

func ref(topic string, p int32, off int64) api.MessageRef {
	return api.MessageRef{Topic: topic, Partition: p, Offset: off}
}

func TestRangesOf(t *testing.T) {
	tests := []struct {
		name string
		refs []api.MessageRef
		want []api.OffsetRange
	}{
		{"none", nil, nil},
		{"one", []api.MessageRef{ref("a", 0, 5)}, []api.OffsetRange{{Topic: "a", From: 5, To: 6}}},
		{"run with a gap and a repeat",
			[]api.MessageRef{ref("a", 0, 1), ref("a", 0, 2), ref("a", 0, 2), ref("a", 0, 3), ref("a", 0, 7)},
			[]api.OffsetRange{{Topic: "a", From: 1, To: 4}, {Topic: "a", From: 7, To: 8}}},
		{"partitions and topics do not merge",
			[]api.MessageRef{ref("a", 0, 1), ref("a", 1, 2), ref("b", 1, 3)},
			[]api.OffsetRange{{Topic: "a", From: 1, To: 2}, {Topic: "a", Partition: 1, From: 2, To: 3}, {Topic: "b", Partition: 1, From: 3, To: 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := rangesOf(tt.refs)
			if n != len(tt.refs) {
				t.Errorf("took %d of %d refs", n, len(tt.refs))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRangesOfLimits(t *testing.T) {
	// One run longer than a request may name: split at MaxRangeMessages.
	long := make([]api.MessageRef, api.MaxRangeMessages+10)
	for i := range long {
		long[i] = ref("a", 0, int64(i))
	}
	got, n := rangesOf(long)
	if want := []api.OffsetRange{{Topic: "a", From: 0, To: api.MaxRangeMessages}}; n != api.MaxRangeMessages || !cmp.Equal(got, want) {
		t.Errorf("long run: took %d, ranges %v", n, got)
	}
	// Scattered offsets: at most maxRangesPerRequest ranges.
	sparse := make([]api.MessageRef, maxRangesPerRequest+1)
	for i := range sparse {
		sparse[i] = ref("a", 0, int64(2*i))
	}
	got, n = rangesOf(sparse)
	if n != maxRangesPerRequest || len(got) != maxRangesPerRequest {
		t.Errorf("sparse: took %d refs in %d ranges, want %d", n, len(got), maxRangesPerRequest)
	}
}

// TestRangesCoverRefs checks, for any refs, that sorting them and taking
// rangesOf request by request names every distinct message exactly once,
// with ranges that are non-empty and within the request limits.
func TestRangesCoverRefs(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		refs := rapid.SliceOf(rapid.Custom(func(t *rapid.T) api.MessageRef {
			return ref(rapid.SampledFrom([]string{"a", "b"}).Draw(t, "topic"),
				rapid.Int32Range(0, 2).Draw(t, "partition"), rapid.Int64Range(0, 40).Draw(t, "offset"))
		})).Draw(t, "refs")
		want := make(map[api.MessageRef]bool)
		for _, r := range refs {
			want[r] = true
		}
		sortRefs(refs)
		named := make(map[api.MessageRef]int)
		for rest := refs; len(rest) > 0; {
			ranges, n := rangesOf(rest)
			if n == 0 || len(ranges) == 0 || len(ranges) > maxRangesPerRequest {
				t.Fatalf("took %d refs in %d ranges", n, len(ranges))
			}
			total := int64(0)
			for _, rg := range ranges {
				if rg.To <= rg.From {
					t.Fatalf("empty range %+v", rg)
				}
				total += rg.To - rg.From
				for off := rg.From; off < rg.To; off++ {
					named[ref(rg.Topic, rg.Partition, off)]++
				}
			}
			if total > api.MaxRangeMessages {
				t.Fatalf("request names %d messages", total)
			}
			rest = rest[n:]
		}
		for r, c := range named {
			if !want[r] || c != 1 {
				t.Fatalf("%+v named %d times (wanted: %v)", r, c, want[r])
			}
		}
		if len(named) != len(want) {
			t.Fatalf("named %d of %d messages", len(named), len(want))
		}
	})
}

// sortRefs orders any refs exactly as a plain sort by topic, partition and
// offset does, whether interleaved runs per partition (the usual acks) or
// anything else, with more partitions than it buckets too.
func TestSortRefsIsASort(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		topics := rapid.SampledFrom([]string{"a", "b", "orders"})
		parts := rapid.Int32Range(0, int32(rapid.IntRange(0, 2*maxBucketParts).Draw(t, "partitions")))
		refs := rapid.SliceOf(rapid.Custom(func(t *rapid.T) api.MessageRef {
			return ref(topics.Draw(t, "topic"), parts.Draw(t, "partition"), rapid.Int64Range(0, 50).Draw(t, "offset"))
		})).Draw(t, "refs")
		want := slices.Clone(refs)
		slices.SortStableFunc(want, compareRefs)
		sortRefs(refs)
		if !cmp.Equal(want, refs) {
			t.Fatalf("sortRefs: %v\nwant %v", refs, want)
		}
	})
}
