package client

import (
	"cmp"
	"slices"

	"github.com/abd-ulbasit/goqueue/api"
)

// maxRangesPerRequest bounds the ranges of one ack or nack request, so that
// its body stays small when the acknowledged offsets are scattered.
const maxRangesPerRequest = 5000

// sortRefs orders refs by topic, partition and offset: the order in which
// consecutive offsets merge into ranges. Acks come in the order Poll handed
// the messages out: a few partitions, each in offset order, interleaved. So
// refs are bucketed by partition (a stable counting sort over the few
// partitions seen) and a bucket is sorted only if its offsets are not in
// order already: linear, where sorting the whole cost ~0.2 µs per message.
func sortRefs(refs []api.MessageRef) {
	if slices.IsSortedFunc(refs, compareRefs) {
		return
	}
	var parts []tp // distinct partitions, in the order first seen
	var counts []int
	last := -1
	idx := make([]int32, len(refs)) // refs[i]'s index in parts
	for i, r := range refs {
		if last < 0 || parts[last] != (tp{r.Topic, r.Partition}) {
			last = slices.Index(parts, tp{r.Topic, r.Partition})
			if last < 0 {
				if len(parts) == maxBucketParts {
					slices.SortFunc(refs, compareRefs)
					return
				}
				parts, counts, last = append(parts, tp{r.Topic, r.Partition}), append(counts, 0), len(parts)
			}
		}
		idx[i] = int32(last)
		counts[last]++
	}
	order := make([]int, len(parts)) // parts' indexes, sorted by topic and partition
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return compareRefs(api.MessageRef{Topic: parts[a].topic, Partition: parts[a].partition},
			api.MessageRef{Topic: parts[b].topic, Partition: parts[b].partition})
	})
	start := make([]int, len(parts)) // where each part's bucket starts in the result
	at := 0
	for _, p := range order {
		start[p] = at
		at += counts[p]
	}
	out := make([]api.MessageRef, len(refs))
	next := slices.Clone(start)
	for i, r := range refs {
		out[next[idx[i]]] = r
		next[idx[i]]++
	}
	for p := range parts {
		bucket := out[start[p] : start[p]+counts[p]]
		if !slices.IsSortedFunc(bucket, compareRefs) {
			slices.SortFunc(bucket, compareRefs)
		}
	}
	copy(refs, out)
}

// maxBucketParts is the most partitions sortRefs buckets by; past it, it
// sorts. Its linear lookup of a partition is cheap for the few a member
// usually holds.
const maxBucketParts = 64

func compareRefs(a, b api.MessageRef) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Partition, b.Partition); c != 0 {
		return c
	}
	return cmp.Compare(a.Offset, b.Offset)
}

// rangesOf merges the consecutive offsets of a prefix of refs, which
// sortRefs ordered, into ranges, and returns them with the length of that
// prefix. The ranges name each message of the prefix once (a repeated ref is
// named once), and at most api.MaxRangeMessages messages in at most
// maxRangesPerRequest ranges: one request's worth. An empty refs gives no
// ranges.
func rangesOf(refs []api.MessageRef) ([]api.OffsetRange, int) {
	var (
		out   []api.OffsetRange
		named int
	)
	for i, r := range refs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.Topic == r.Topic && last.Partition == r.Partition {
				if r.Offset < last.To {
					continue // a repeat
				}
				if r.Offset == last.To {
					if named == api.MaxRangeMessages {
						return out, i
					}
					last.To++
					named++
					continue
				}
			}
		}
		if len(out) == maxRangesPerRequest || named == api.MaxRangeMessages {
			return out, i
		}
		out = append(out, api.OffsetRange{Topic: r.Topic, Partition: r.Partition, From: r.Offset, To: r.Offset + 1})
		named++
	}
	return out, len(refs)
}
