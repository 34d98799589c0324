package broker

import (
	"slices"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// A replica copying another's log (a catch-up, a mirror) must give every
// batch the offsets the source gave it, voided batches included (an
// idempotent producer's duplicate, written when Raft persisted its entry
// and voided at apply: see decideEntry). The source sends them marked
// with the control bit, which no stored batch has (the commitlog refuses
// control batches: GoQueue writes no transaction markers), and the copy
// clears it, writes the batch and voids it. The CRC is resealed each way,
// so the marked batch is a well-formed frame in transit.

// markVoided sets the control bit of the batches of b whose base offset is
// in voided.
func markVoided(b []byte, voided []int64) {
	if len(voided) == 0 {
		return
	}
	for rest := b; len(rest) > 0; {
		n, ok := recordbatch.Len(rest)
		if !ok || n > len(rest) {
			return
		}
		if slices.Contains(voided, recordbatch.BaseOffset(rest)) {
			recordbatch.SetControl(rest[:n], true)
		}
		rest = rest[n:]
	}
}

// unmarkVoided clears the control bit of the marked batches of b and
// returns their positions in b (0 for the first batch).
func unmarkVoided(b []byte) (voided []int) {
	for i, rest := 0, b; len(rest) > 0; i++ {
		n, ok := recordbatch.Len(rest)
		if !ok || n > len(rest) {
			return voided
		}
		if h, err := recordbatch.ParseHeader(rest[:n]); err == nil && h.Control() {
			recordbatch.SetControl(rest[:n], false)
			voided = append(voided, i)
		}
		rest = rest[n:]
	}
	return voided
}
