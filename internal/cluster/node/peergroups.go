package node

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"
)

// A consumer group lives on its coordinator alone, so each node knows the
// groups it coordinates and no other. A listing of the cluster's groups
// (GET /groups, the console's overview) asks every other node for its own
// over a transport call, as a Kafka admin client asks every broker.

// peerGroupsWait bounds one node's answer: a listing shows what the nodes
// that answered in time have, and names the others.
const peerGroupsWait = 2 * time.Second

// PeerGroups asks every other registered node for the groups it
// coordinates (Config.Groups's JSON), at once. A node this one counts down
// (Listed), that left a recent call unanswered (callPeer), or that does
// not answer within peerGroupsWait, is in unreached.
func (n *Node) PeerGroups(ctx context.Context) (lists map[uint64]json.RawMessage, unreached []uint64) {
	lists = map[uint64]json.RawMessage{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range n.meta.Nodes() {
		id := m.ID
		if id == n.cfg.ID {
			continue
		}
		wg.Go(func() {
			a, err := n.callPeer(ctx, id, request{Groups: true}, peerGroupsWait)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				unreached = append(unreached, id)
				return
			}
			lists[id] = a.Groups
		})
	}
	wg.Wait()
	slices.Sort(unreached)
	return lists, unreached
}

// serveGroups answers a peer's Groups request.
func (n *Node) serveGroups() answer {
	if n.cfg.Groups == nil {
		return answer{Groups: json.RawMessage("[]")}
	}
	b, err := n.cfg.Groups()
	if err != nil {
		return answer{Refused: err.Error()}
	}
	return answer{Groups: b}
}
