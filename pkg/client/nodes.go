package client

import (
	"context"
	"slices"
	"time"
)

// A client is given some of a cluster's nodes (Brokers), and sends a
// request any node can answer to them in turn. Once they are all down the
// cluster may still run on its other nodes: as a Kafka client bootstraps
// from its seed brokers and then knows every broker from Metadata, the
// transport tries, after the configured brokers, the nodes GET /cluster
// and partition leaders named: it learns them whenever it learns leaders
// (a producer, a topic's description), and a consumer asks GET /cluster
// once a cluster node answers its join.
// Before, a producer given one node failed every record once that node
// died, those of partitions whose leaders lived included, and a consumer
// failed every poll, until they were closed. On a single broker nothing is
// learned and nothing changes.

// learnNodes adds addrs (HTTP addresses by node ID, as GET /cluster,
// partition leaders and NOT_LEADER answers name them) to the brokers to
// try after the configured ones. Nothing learned is forgotten: an address that went stale is
// skipped as an unreachable broker is, and a cluster's nodes are few.
func (t *transport) learnNodes(addrs map[uint64]string) {
	ids := make([]uint64, 0, len(addrs))
	for id, a := range addrs {
		if a != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for {
		old := t.nodes.Load()
		list := t.brokers
		if old != nil {
			list = *old
		}
		list = slices.Clip(list) // appending copies: a stored list is never changed
		for _, id := range ids {
			if b := t.baseURL(addrs[id]); !slices.Contains(list, b) {
				list = append(list, b)
			}
		}
		if old != nil && len(list) == len(*old) {
			return
		}
		if t.nodes.CompareAndSwap(old, &list) {
			return
		}
	}
}

// knowNodes learns the cluster's nodes unless they are known: for a
// consumer that a cluster node answered, and a producer that a cluster
// node described a topic's leaders to, which may never ask GET /cluster
// otherwise. Bounded, so that a cluster whose metadata cannot be read now
// does not hold the join or the publish up; a failure leaves it for the
// next.
func (t *transport) knowNodes(ctx context.Context) {
	if t.nodes.Load() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, _ = t.nodeAddrs(ctx)
}

// anyBrokers is where a request for any broker goes, in turn (t.current
// indexes it): the configured brokers, then the nodes learned. Never
// empty; the caller must not change it.
func (t *transport) anyBrokers() []string {
	if l := t.nodes.Load(); l != nil {
		return *l
	}
	return t.brokers
}

// anyBroker is the broker whose turn it is, and the turn it was read at
// (for next).
func (t *transport) anyBroker() (string, uint32) {
	bs, cur := t.anyBrokers(), t.current.Load()
	return bs[cur%uint32(len(bs))], cur
}

// next passes the turn on from cur, when the broker of turn cur did not
// answer, unless another request passed it on already. Compared with
// what was loaded, not with the index: once the count passed the broker
// count, comparing with the index never matched and every later request
// stayed on one broker.
func (t *transport) next(cur uint32) {
	n := uint32(len(t.anyBrokers()))
	t.current.CompareAndSwap(cur, (cur%n+1)%n)
}
