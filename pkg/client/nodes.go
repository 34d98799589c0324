package client

import (
	"context"
	"slices"
	"sync"
	"time"
)

// A client is given some of a cluster's nodes (Brokers), and sends a
// request any node can answer to them in turn. Once they are all down the
// cluster may still run on its other nodes: as a Kafka client bootstraps
// from its seed brokers and then knows every broker from Metadata, the
// transport tries, after the configured brokers, the nodes GET /cluster
// and partition leaders named: it learns them whenever it learns leaders
// (a producer, a topic's description), and asks GET /cluster when it
// meets a node whose address it does not know (a topic's leader or
// replica, the node that answered a consumer's join), at most once a
// second (meetNodes).
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
	t.book.mu.Lock()
	if t.book.known == nil {
		t.book.known = make(map[uint64]bool)
	}
	for _, id := range ids {
		t.book.known[id] = true
	}
	t.book.mu.Unlock()
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

// meetNodes asks GET /cluster for the nodes' addresses when ids names a
// node whose address is not known: a consumer that a cluster node
// answered names that node, a producer the leaders and replicas of a
// topic. Those that may never ask GET /cluster otherwise so learn every
// node, and learn again a node added later, or one whose address the
// first ask could not give (GET /cluster unreadable): once any node was
// known, the first ask was the only one, and a producer given one node
// that died knew no other. An ask is bounded (a cluster whose metadata
// cannot be read now must not hold a join or a publish up) and comes at
// most once per nodesEvery, twice as long after each ask that left a
// node unknown, up to maxNodesWait.
func (t *transport) meetNodes(ctx context.Context, ids ...uint64) {
	b := &t.book
	b.mu.Lock()
	if b.knowsLocked(ids) || time.Now().Before(b.next) {
		b.mu.Unlock()
		return
	}
	b.wait = max(b.wait, nodesEvery)
	start := time.Now()
	b.next = start.Add(b.wait) // no other ask meanwhile
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, _ = t.nodeAddrs(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.knowsLocked(ids) {
		b.wait = nodesEvery
	} else {
		b.wait = min(2*b.wait, maxNodesWait)
	}
	b.next = start.Add(b.wait)
}

// Bounds of meetNodes' asks.
const (
	nodesEvery   = time.Second
	maxNodesWait = 30 * time.Second
)

// nodeBook is which nodes' addresses a transport learned (learnNodes),
// by node ID, and when meetNodes may ask for them next; guarded by mu.
type nodeBook struct {
	mu    sync.Mutex
	known map[uint64]bool
	next  time.Time     // no ask before
	wait  time.Duration // between asks
}

// knowsLocked reports whether every node of ids (0: none) is known.
func (b *nodeBook) knowsLocked(ids []uint64) bool {
	for _, id := range ids {
		if id != 0 && !b.known[id] {
			return false
		}
	}
	return true
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
