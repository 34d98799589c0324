package meta

import (
	"fmt"
	"math"
)

// Idempotent producers are told apart by their producer ID alone: two
// producers given the same ID would have one's batches taken for the
// other's retries (answered as duplicates, never written). So IDs are
// unique across the cluster: a node hands out IDs from a block the
// metadata group reserved for it, as Kafka's controller hands brokers
// blocks of producer IDs, and reserves the next block when it runs out.
// A block is reserved by a committed command, so it is never handed to
// another node nor to the same node again, across restarts and leader
// changes; a reservation whose answer was lost and is proposed again
// reserves a second block and wastes the first, which costs nothing but
// IDs (there are 2^63).

// ReserveProducerIDs reserves the next Count producer IDs for Node.
type ReserveProducerIDs struct {
	Node  uint64 `json:"node"`
	Count int64  `json:"count"`
}

// ProducerIDBlock is the producer IDs [First, First+Count).
type ProducerIDBlock struct {
	First int64 `json:"first"`
	Count int64 `json:"count"`
}

// maxProducerIDBlock bounds one reservation.
const maxProducerIDBlock = 1 << 20

func (s *Store) reserveProducerIDsLocked(r ReserveProducerIDs) Result {
	if r.Node == 0 || r.Count < 1 || r.Count > maxProducerIDBlock {
		return Result{Err: fmt.Errorf("%w: reserve %d producer IDs for node %d", ErrInvalid, r.Count, r.Node)}
	}
	if s.d.NextProducerID > math.MaxInt64-r.Count {
		return Result{Err: fmt.Errorf("%w: producer IDs from %d, %d wanted", ErrExhausted, s.d.NextProducerID, r.Count)}
	}
	b := ProducerIDBlock{First: s.d.NextProducerID, Count: r.Count}
	s.d.NextProducerID += r.Count
	return Result{ProducerIDs: &b}
}
