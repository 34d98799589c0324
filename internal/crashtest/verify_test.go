package crashtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// stored is one message as read back from a partition.
type stored struct {
	Offset int64
	Value  []byte
}

// maxProblems bounds what a failed check reports.
const maxProblems = 20

// verify checks partition logs read back from offset 0 against the ledger:
// offsets are contiguous from 0; every value is a message that was sent, in
// the partition its key maps to, at most once; an acknowledged message is at
// exactly its acknowledged offset; each producer's messages keep their send
// order within a partition; and every acknowledged message is present.
// Unacknowledged messages may be absent. It returns the problems found.
func verify(sentMsgs map[msgID]sent, logs map[int32][]stored) []string {
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < maxProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	type stream struct {
		producer  int
		partition int32
	}
	seen := make(map[msgID]int64)
	lastSeq := make(map[stream]int)
	for _, p := range slices.Sorted(maps.Keys(logs)) {
		for i, m := range logs[p] {
			if m.Offset != int64(i) {
				report("partition %d: message %d has offset %d: offsets are not contiguous from 0", p, i, m.Offset)
				break
			}
			var id msgID
			if err := json.Unmarshal(m.Value, &id); err != nil {
				report("partition %d offset %d: value %q is no message of the test", p, m.Offset, m.Value)
				continue
			}
			s, ok := sentMsgs[id]
			switch {
			case !ok:
				report("partition %d offset %d: %v was never sent", p, m.Offset, id)
				continue
			case s.Partition != p:
				report("partition %d offset %d: %v belongs in partition %d", p, m.Offset, id, s.Partition)
			case s.Offset != unacked && s.Offset != m.Offset:
				report("partition %d offset %d: %v was acknowledged at offset %d", p, m.Offset, id, s.Offset)
			}
			if prev, dup := seen[id]; dup {
				report("partition %d: %v stored twice, at offsets %d and %d", p, id, prev, m.Offset)
				continue
			}
			seen[id] = m.Offset
			st := stream{id.Producer, p}
			if last, ok := lastSeq[st]; ok && id.Seq < last {
				report("partition %d offset %d: %v stored after s%d of the same producer", p, m.Offset, id, last)
			}
			lastSeq[st] = id.Seq
		}
	}
	var lost []msgID
	for id, s := range sentMsgs {
		if _, ok := seen[id]; !ok && s.Offset != unacked {
			lost = append(lost, id)
		}
	}
	slices.SortFunc(lost, func(a, b msgID) int {
		return cmp.Or(cmp.Compare(a.Producer, b.Producer), cmp.Compare(a.Seq, b.Seq))
	})
	if len(lost) > 0 {
		first := lost[0]
		report("%d acknowledged messages lost, the first %v (partition %d, offset %d)", len(lost), first, sentMsgs[first].Partition, sentMsgs[first].Offset)
	}
	return problems
}
