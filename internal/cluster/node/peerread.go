package node

import (
	"context"
	"fmt"
	"time"
)

// A group's reads (GET /groups/{g}, its offsets, rebalances and lag
// history) come from its coordinator's state, which no other node has. A
// node asked for one over HTTP asks the coordinator to serve it (Config.Read)
// and passes the answer on, so any node answers a group's reads as GET
// /groups answers the list (PeerGroups): a curl at any node works, as the
// guide's examples do on a single broker.

// peerReadWait bounds the coordinator's answer.
const peerReadWait = 2 * time.Second

// ReadRequest is a read served on a peer: an HTTP GET's escaped path and
// raw query.
type ReadRequest struct {
	Path  string `json:"path"`
	Query string `json:"query,omitempty"`
}

// ReadAnswer is a served read's HTTP answer.
type ReadAnswer struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

// PeerRead asks node id to serve req (its Config.Read); a node this one
// counts down (Listed), or that left a recent call unanswered (callPeer),
// is not asked: the error says so at once.
func (n *Node) PeerRead(ctx context.Context, id uint64, req ReadRequest) (ReadAnswer, error) {
	a, err := n.callPeer(ctx, id, request{Read: &req}, peerReadWait)
	if err != nil {
		return ReadAnswer{}, err
	}
	if a.Read == nil {
		return ReadAnswer{}, fmt.Errorf("node: node %d answered a read with no answer", id)
	}
	return *a.Read, nil
}

// serveRead answers a peer's Read request.
func (n *Node) serveRead(req ReadRequest) answer {
	if n.cfg.Read == nil {
		return answer{Refused: "this node serves no reads"}
	}
	a := n.cfg.Read(req)
	return answer{Read: &a}
}
