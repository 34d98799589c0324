package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/abd-ulbasit/goqueue/api"
	bolt "go.etcd.io/bbolt"
)

// Producer IDs tell idempotent producers apart: two producers given one ID
// would have one's batches answered as the other's duplicates, and lost.
// So an ID is never handed out twice, by this broker or another, before
// or after a restart. IDs come in blocks, as Kafka's controller hands
// brokers blocks of producer IDs: a broker hands out IDs from its block
// and reserves the next when it runs out. A single broker keeps the next
// unreserved ID in meta.db (one fsync per block); a cluster node reserves
// its blocks through the metadata group (SetProducerIDs). IDs a broker
// had left in its block when it stopped are never handed out.

// ProducerIDs reserves blocks of producer IDs.
type ProducerIDs interface {
	// ReserveProducerIDs reserves count IDs that no other reservation,
	// on any node, before or after a restart, gets, and returns the
	// first.
	ReserveProducerIDs(ctx context.Context, count int64) (first int64, err error)
}

// SetProducerIDs makes the broker hand out producer IDs from blocks src
// reserves, instead of meta.db's counter. Call it before serving.
func (b *Broker) SetProducerIDs(src ProducerIDs) { b.producerIDs.src = src }

// producerIDBlock is how many IDs one reservation takes.
const producerIDBlock = 1000

// idBlocks is the block IDs are handed out from; mu guards next and end
// and is held across a reservation, so IDs go out in order.
type idBlocks struct {
	src       ProducerIDs // nil: meta.db; set before serving
	mu        sync.Mutex
	next, end int64 // the IDs [next, end) are this broker's to hand out
}

// NewProducerID hands out an ID for an idempotent producer (Kafka's
// InitProducerID, POST /producers) and drops the state of producers no
// check needs any more (expireProducers). Its sequences start at 0 in
// epoch 0 on every partition. Errors: UNAVAILABLE when no block could be
// reserved (a cluster without a metadata quorum, a failing disk).
func (b *Broker) NewProducerID(ctx context.Context) (int64, error) {
	b.expireProducers(b.now())
	a := &b.producerIDs
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next == a.end {
		var src ProducerIDs = b.meta
		if a.src != nil {
			src = a.src
		}
		first, err := src.ReserveProducerIDs(ctx, producerIDBlock)
		if err != nil {
			if _, ok := errors.AsType[*api.Error](err); ok {
				return 0, err
			}
			return 0, api.ErrUnavailable.Withf("no producer ID could be reserved: %v", err)
		}
		a.next, a.end = first, first+producerIDBlock
	}
	id := a.next
	a.next++
	return id, nil
}

var (
	producerIDsBucket = []byte("producer_ids")
	nextProducerIDKey = []byte("next")
)

// ReserveProducerIDs is a single broker's reservation: the counter in
// meta.db moves up by count, durably, before any of the IDs is used.
func (m *metaStore) ReserveProducerIDs(_ context.Context, count int64) (int64, error) {
	var first int64
	err := m.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(producerIDsBucket)
		if err != nil {
			return err
		}
		if v := bk.Get(nextProducerIDKey); len(v) == 8 {
			first = int64(binary.BigEndian.Uint64(v))
		}
		return bk.Put(nextProducerIDKey, binary.BigEndian.AppendUint64(nil, uint64(first+count)))
	})
	if err != nil {
		return 0, fmt.Errorf("broker: reserve producer IDs: %w", err)
	}
	return first, nil
}
