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
// consecutive offsets merge into ranges.
func sortRefs(refs []api.MessageRef) {
	slices.SortFunc(refs, func(a, b api.MessageRef) int {
		if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Partition, b.Partition); c != 0 {
			return c
		}
		return cmp.Compare(a.Offset, b.Offset)
	})
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
