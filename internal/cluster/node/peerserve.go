package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/cluster/transport"
)

// A consumer group lives on its coordinator alone: its reads (GET
// /groups/{g}, its offsets, rebalances and lag history) come from the
// coordinator's state, and its writes (join, heartbeat, poll, ack, commit,
// leave, ...) change it. A node asked for one over HTTP asks the
// coordinator to serve the request (Config.Serve) and passes the answer
// on, so any node answers a group's requests as GET /groups answers the
// list (PeerGroups): a curl at any node works, as the guide's examples do
// on a single broker.

// peerReadWait bounds the coordinator's answer to a request that gives it
// no time of its own (PeerRequest.Within): a read; for others it is the
// margin over that time for the call's two ways.
const peerReadWait = 2 * time.Second

// PeerRequest is an HTTP request served on a peer: a GET's (a read's)
// escaped path and raw query, or, for a write, its method, the headers
// that matter, its body and the caller it came from.
type PeerRequest struct {
	Method string              `json:"method,omitempty"` // "" is GET
	Path   string              `json:"path"`
	Query  string              `json:"query,omitempty"`
	Header map[string][]string `json:"header,omitempty"`
	Body   []byte              `json:"body,omitempty"`
	// RemoteAddr is the HTTP client's address at the node it reached.
	RemoteAddr string `json:"remote_addr,omitempty"`
	// Scope is the rules of the caller's API key (httpapi's syntax); nil
	// is full access.
	Scope *string `json:"scope,omitempty"`
	// Keyless says the asking node requires no API key.
	Keyless bool `json:"keyless,omitempty"`
	// Within is how long the peer may take to serve it (a long poll's
	// wait and its writes'); 0 for a read, which waits for nothing.
	Within time.Duration `json:"within,omitempty"`
	// MaxWait is the asking node's cap on a poll's wait.
	MaxWait time.Duration `json:"max_wait,omitempty"`
}

// PeerAnswer is a served request's HTTP answer.
type PeerAnswer struct {
	Status      int                 `json:"status"`
	ContentType string              `json:"content_type,omitempty"`
	Header      map[string][]string `json:"header,omitempty"`
	Body        []byte              `json:"body,omitempty"`
}

// MaxPeerBody is the largest body a PeerAnswer may carry: a call holds at
// most transport.MaxCall bytes, and the body goes in it as base64 (4
// bytes for 3) beside the rest of the answer (64 KiB at most, checked).
const MaxPeerBody = (transport.MaxCall - peerEnvelope) / 4 * 3

// MaxPeerRequestBody is the largest body a PeerRequest may carry. A
// group's requests are small (a join, acknowledgements, a commit of
// thousands of partitions: a few hundred KiB at most); a larger one is
// refused before it is sent (the client may send it to the coordinator
// itself). Passed on up to MaxPeerBody, 24 concurrent requests of 11 MiB
// took their coordinator to 1.08 GB and the nodes passing them on to
// 640 MB (each body held raw, in base64 and decoded again).
const MaxPeerRequestBody = 1 << 20

// peerEnvelope is what a PeerRequest or PeerAnswer may hold besides its
// body.
const peerEnvelope = 64 << 10

// ErrPeerNoAnswer is a PeerServe whose request reached the peer, but
// whose answer did not come: the peer may have served it (a write may
// have been applied). Every other error is a request the peer never
// served.
var ErrPeerNoAnswer = transport.ErrNoAnswer

// ErrPeerBusy is a request the peer refused unread, holding as many
// requests of other nodes as it may (transport.Config.CallBytes): not
// served; a retry may be.
var ErrPeerBusy = transport.ErrPeerBusy

// PeerServe asks node id to serve req (its Config.Serve), waiting
// req.Within and peerReadWait more for the answer; a node this one counts
// down (Listed), or that left a recent call unanswered (callPeer), is not
// asked: the error says so at once. A GET goes as a read, which nodes
// from before writes were served also answer; a write goes as a forward,
// which they refuse (an error that is not ErrPeerNoAnswer).
func (n *Node) PeerServe(ctx context.Context, id uint64, req PeerRequest) (PeerAnswer, error) {
	if len(req.Body) > MaxPeerRequestBody {
		return PeerAnswer{}, fmt.Errorf("node: a request body of %d bytes, over %d, is not passed to node %d", len(req.Body), MaxPeerRequestBody, id)
	}
	if len(req.Path)+len(req.Query)+headerBytes(req.Header) > peerEnvelope/2 {
		return PeerAnswer{}, fmt.Errorf("node: a request's path, query and headers, over %d bytes, are not passed to node %d", peerEnvelope/2, id)
	}
	call := request{Read: &req}
	if req.Method != "" && req.Method != "GET" && req.Method != "HEAD" {
		call = request{Forward: &req}
	}
	a, err := n.callPeer(ctx, id, call, peerReadWait+req.Within)
	if err != nil {
		return PeerAnswer{}, err
	}
	if a.Read == nil {
		return PeerAnswer{}, fmt.Errorf("node: node %d answered a request with no answer", id)
	}
	return *a.Read, nil
}

func headerBytes(h map[string][]string) int {
	n := 0
	for k, vs := range h {
		n += len(k)
		for _, v := range vs {
			n += len(v)
		}
	}
	return n
}

// errNoServe is the refusal of a node that serves no HTTP requests.
var errNoServe = errors.New("this node serves no HTTP requests")

// serveHTTP answers a peer's Read or Forward request.
func (n *Node) serveHTTP(ctx context.Context, req PeerRequest) answer {
	if n.cfg.Serve == nil {
		return answer{Refused: errNoServe.Error()}
	}
	a := n.cfg.Serve(ctx, req)
	return answer{Read: &a}
}
