package broker

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// A replicated partition's producer state travels in its Raft snapshots
// (internal/cluster/replica): a replica restored from one takes exactly
// the state the log had at the snapshot's end, whatever its own retention
// deleted below it. Rebuilt from the log instead (loadTail), a replica
// whose log was emptied there (StartAt) knew no producer, and wrote a
// retry, a gap or an old epoch the others had refused or answered as a
// duplicate: its offsets then differed from theirs.
//
// Only what a check looks at is kept: the producers whose last batch is
// at or after the horizon, and of each its batches from the horizon on
// (check ignores the others). Every such batch starts at its own offset
// in [horizon, next), so a state holds at most tailRecords (2^18)
// batches and as many producers: at most 121 bytes of JSON each with the
// largest numbers, about 30 MiB for 2^18 producers of one batch each
// (under the transport's 64 MiB frame); a few dozen bytes per producer
// writing the partition in practice.

// producerState is one producer's state on one partition, as a snapshot
// holds it.
type producerState struct {
	ID      int64      `json:"id"`
	Epoch   int16      `json:"epoch"`
	NextSeq int32      `json:"next_seq"`
	Batches [][3]int64 `json:"batches"` // first sequence, last sequence, base offset; oldest first
}

// export returns the state of the producers a check at next would look
// at, in producer ID order. The log's tail is read first if it was not.
func (pp *partProducers) export(log *commitlog.Log) ([]byte, error) {
	if err := pp.loadTail(log); err != nil {
		return nil, err
	}
	return pp.encode(horizon(log.HighWatermark()))
}

// encode is export's JSON of the producers a check within hz looks at.
func (pp *partProducers) encode(hz int64) ([]byte, error) {
	pp.mu.Lock()
	out := make([]producerState, 0, len(pp.ids))
	for id, s := range pp.ids {
		if s.n == 0 || s.recent[(s.n-1)%recentBatches].base < hz {
			continue // no check looks at it (expire drops it)
		}
		ps := producerState{ID: id, Epoch: s.epoch, NextSeq: s.nextSeq}
		for i := max(0, s.n-recentBatches); i < s.n; i++ {
			if b := s.recent[i%recentBatches]; b.base >= hz {
				ps.Batches = append(ps.Batches, [3]int64{int64(b.first), int64(b.last), b.base})
			}
		}
		out = append(out, ps)
	}
	pp.mu.Unlock()
	slices.SortFunc(out, func(a, b producerState) int { return cmp.Compare(a.ID, b.ID) })
	return json.Marshal(out)
}

// install replaces the state with one export returned, as of the log's
// end; loadTail then reads nothing. A state that does not decode changes
// nothing.
func (pp *partProducers) install(data []byte) error {
	var in []producerState
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("producer state: %w", err)
	}
	ids := make(map[int64]*sequences, len(in))
	now := time.Now()
	for _, ps := range in {
		if len(ps.Batches) == 0 || len(ps.Batches) > recentBatches || ps.ID < 0 || ids[ps.ID] != nil {
			return fmt.Errorf("producer state: producer %d: %d batches", ps.ID, len(ps.Batches))
		}
		s := &sequences{epoch: ps.Epoch, nextSeq: ps.NextSeq, n: len(ps.Batches), lastUsed: now}
		for i, b := range ps.Batches {
			s.recent[i] = sentBatch{first: int32(b[0]), last: int32(b[1]), base: b[2]}
		}
		ids[ps.ID] = s
	}
	pp.load.Lock()
	defer pp.load.Unlock()
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.ids, pp.loaded = ids, true
	return nil
}
