package main

import (
	"context"
	"fmt"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
)

var _ broker.ProducerIDs = (*clusterBridge)(nil)

// reserveTimeout bounds a reservation of producer IDs: the metadata group
// needs a leader and a majority.
const reserveTimeout = 10 * time.Second

// ReserveProducerIDs reserves a block of producer IDs for this node
// through the metadata group, so no two nodes hand out the same ID
// (meta/producerids.go).
func (c *clusterBridge) ReserveProducerIDs(ctx context.Context, count int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, reserveTimeout)
	defer cancel()
	r, err := c.n.Propose(ctx, meta.Command{ReserveProducerIDs: &meta.ReserveProducerIDs{Node: c.n.ID(), Count: count}})
	switch {
	case err != nil:
		return 0, api.ErrUnavailable.Withf("reserving producer IDs through the cluster's metadata: %v", err)
	case r.Err != nil:
		return 0, r.Err
	case r.ProducerIDs == nil || r.ProducerIDs.Count != count:
		return 0, fmt.Errorf("cluster: reserving %d producer IDs answered %+v", count, r.ProducerIDs)
	}
	return r.ProducerIDs.First, nil
}
