package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// Proposals go to the metadata leader: multiraft never forwards them inside
// Raft (a follower answers NotLeaderError), so a node that does not lead
// sends the command to the leader over a transport call and the leader
// proposes it. An attempt that fails or whose outcome is unknown is tried
// again until ctx ends, so commands must be safe to apply twice: a
// registration carries its Boot nonce, a topic creation its topic ID.

// retryEvery spaces attempts while there is no leader or it is unreachable.
const retryEvery = 100 * time.Millisecond

// callTimeout bounds one forwarded proposal on the leader.
const callTimeout = 10 * time.Second

// request is a call's body: the command to propose.
type request struct {
	Propose json.RawMessage `json:"propose,omitempty"`
	// Fetch asks for a partition's stored batches (partitions.go).
	Fetch *fetchRequest `json:"fetch,omitempty"`
	// Mirror asks for several partitions' at once (mirror.go).
	Mirror []fetchRequest `json:"mirror,omitempty"`
	// Groups asks for the groups the node coordinates (PeerGroups).
	Groups bool `json:"groups,omitempty"`
	// Append asks a partition's leader to append (AppendVia).
	Append *appendRequest `json:"append,omitempty"`
	// Join comes from a peer with no Raft state (identity.go).
	Join *joinRequest `json:"join,omitempty"`
	// ReadPoint asks a replica for a mirror's read point (mirrorread.go).
	ReadPoint *readPointRequest `json:"read_point,omitempty"`
	// Read asks the node to serve a group's read, Forward a group's
	// write (peerserve.go): two fields, so that a node from before writes
	// were served refuses a write rather than serve it as a read.
	Read    *PeerRequest `json:"read,omitempty"`
	Forward *PeerRequest `json:"forward,omitempty"`
	// Ping asks for an empty answer at once: whether the node answers
	// calls (callPeer's probe before a long call). A node from before it
	// refuses it, which is an answer too.
	Ping bool `json:"ping,omitempty"`
}

// answer is a call's reply.
type answer struct {
	Node  *meta.Node  `json:"node,omitempty"`
	Topic *meta.Topic `json:"topic,omitempty"`
	// ProducerIDs answers a ReserveProducerIDs.
	ProducerIDs *meta.ProducerIDBlock `json:"producer_ids,omitempty"`
	// Refused is the state machine's refusal (a meta error's text);
	// Kind names which one (the sentinel's text), so the caller gets an
	// error errors.Is recognises.
	Refused string `json:"refused,omitempty"`
	Kind    string `json:"kind,omitempty"`
	// Retry says the command was not applied by this attempt, or may
	// not have been: the caller tries again, at Leader if it is known.
	Retry  string `json:"retry,omitempty"`
	Leader uint64 `json:"leader,omitempty"`
	// Batches answer a fetch; Start refuses one asking for records
	// below the log's start (retention deleted them).
	Batches []byte `json:"batches,omitempty"`
	Start   int64  `json:"start,omitempty"`
	// Mirrored answers a Mirror request: one fetch answer per partition.
	Mirrored []answer `json:"mirrored,omitempty"`
	// Groups answers a Groups request (Config.Groups's JSON).
	Groups json.RawMessage `json:"groups,omitempty"`
	// Bases answer an append: each batch's first offset.
	Bases []int64 `json:"bases,omitempty"`
	// Fresh and Gen answer a join: this node was never in a running
	// cluster, or the generation the metadata gave the caller.
	Fresh bool   `json:"fresh,omitempty"`
	Gen   uint64 `json:"gen,omitempty"`
	// End answers a ReadPoint: the end of the replica's log.
	End int64 `json:"end,omitempty"`
	// Read answers a Read or Forward request.
	Read *PeerAnswer `json:"read_answer,omitempty"`
}

// refusals are the meta errors an answer can carry.
var refusals = []error{
	meta.ErrTopicExists, meta.ErrUnknownTopic, meta.ErrTooFewNodes,
	meta.ErrInvalid, meta.ErrTopicIDInUse, meta.ErrPartitionCount,
	meta.ErrReplaysChanged,
}

// Propose applies cmd through the metadata group, wherever its leader is,
// and returns the state machine's result (whose Err is a refusal every
// replica agrees on). The error is ctx's, multiraft.ErrStopped, or an
// *api.Error UNAVAILABLE saying why once the metadata group has had no
// leader this node reaches for leaderWait (leaderless): a failed attempt
// then ends the call rather than waiting for ctx (as when ctx ends, an
// earlier attempt whose outcome was unknown may still commit).
func (n *Node) Propose(ctx context.Context, cmd meta.Command) (meta.Result, error) {
	b, err := cmd.Encode()
	if err != nil {
		return meta.Result{}, err
	}
	for {
		a, err := n.attempt(ctx, b)
		if err == nil && a.Retry == "" {
			return a.result(), nil
		}
		if errors.Is(err, multiraft.ErrStopped) {
			return meta.Result{}, err
		}
		if e := n.leaderless(ctx); e != nil {
			return meta.Result{}, e
		}
		select {
		case <-ctx.Done():
			return meta.Result{}, ctx.Err()
		case <-time.After(retryEvery):
		}
	}
}

// attempt proposes b once: here if this node leads, else at the leader.
func (n *Node) attempt(ctx context.Context, b []byte) (answer, error) {
	st, err := n.raft.Status(ctx, meta.GroupID)
	if err != nil {
		return answer{}, err
	}
	if st.Leader == 0 || st.Leader == n.cfg.ID {
		return n.proposeHere(ctx, b), nil
	}
	req, err := json.Marshal(request{Propose: b})
	if err != nil {
		return answer{}, err
	}
	raw, err := n.tr.Call(ctx, st.Leader, req)
	if err != nil {
		return answer{}, err
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return answer{}, fmt.Errorf("cluster: answer of node %d: %w", st.Leader, err)
	}
	return a, nil
}

// proposeHere proposes b on this node's Raft group.
func (n *Node) proposeHere(ctx context.Context, b []byte) answer {
	r, err := n.raft.Propose(ctx, meta.GroupID, b)
	var nl *multiraft.NotLeaderError
	switch {
	case errors.As(err, &nl):
		return answer{Retry: err.Error(), Leader: nl.Leader}
	case err != nil:
		return answer{Retry: err.Error()}
	}
	res, _ := r.Value.(meta.Result)
	a := answer{Node: res.Node, Topic: res.Topic, ProducerIDs: res.ProducerIDs}
	if res.Err != nil {
		a.Refused = res.Err.Error()
		for _, k := range refusals {
			if errors.Is(res.Err, k) {
				a.Kind = k.Error()
			}
		}
	}
	return a
}

// handle answers a call from another node: a proposal for the group this
// node is believed to lead.
func (n *Node) handle(ctx context.Context, from uint64, raw []byte) []byte {
	var req request
	var a answer
	err := json.Unmarshal(raw, &req)
	switch {
	case err == nil && req.Fetch != nil:
		a = n.serveFetchMax(*req.Fetch, fetchBytes)
	case err == nil && req.Mirror != nil:
		a = n.serveMirror(req.Mirror)
	case err == nil && req.Groups:
		a = n.serveGroups()
	case err == nil && req.Append != nil:
		a = n.serveAppend(ctx, *req.Append)
	case err == nil && req.Join != nil:
		a = n.serveJoin(ctx, from, *req.Join)
	case err == nil && req.ReadPoint != nil:
		a = n.serveReadPoint(ctx, *req.ReadPoint)
	case err == nil && req.Read != nil:
		a = n.serveHTTP(ctx, *req.Read)
	case err == nil && req.Forward != nil:
		a = n.serveHTTP(ctx, *req.Forward)
	case err == nil && req.Ping:
		a = answer{} // at once: callPeer's probe before a long call
	case err != nil || req.Propose == nil:
		a = answer{Refused: fmt.Sprintf("%v: bad call from node %d", meta.ErrInvalid, from), Kind: meta.ErrInvalid.Error()}
	default:
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		a = n.proposeHere(ctx, req.Propose)
		cancel()
	}
	out, _ := json.Marshal(a)
	return out
}

// result turns a final answer back into meta's Result.
func (a answer) result() meta.Result {
	r := meta.Result{Node: a.Node, Topic: a.Topic, ProducerIDs: a.ProducerIDs}
	if a.Refused == "" {
		return r
	}
	r.Err = errors.New(a.Refused)
	for _, k := range refusals {
		if k.Error() == a.Kind {
			r.Err = fmt.Errorf("%w%s", k, strings.TrimPrefix(a.Refused, k.Error()))
		}
	}
	return r
}
