package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
)

// A node that reads a partition it mirrors (a DLQ replay asked of any
// node) needs its mirror current as a replica's ReadIndex makes a
// replica's copy: it holds no replica, so it has no Raft group to ask. It
// asks a replica instead — the leader first — for a read point: the end
// of that replica's log once it reflects every write acknowledged before
// the call (serveReadPoint, a ReadIndex there), and waits until its
// mirror, which copies that log offset for offset, reaches it.

// readPointRequest asks a replica for the end of its log of a partition
// once current (readMirror).
type readPointRequest struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// readMirror is ReadPartition for p, a partition of topic this node holds
// no replica of. Errors: UNAVAILABLE (no replica confirmed a read point,
// or the mirror did not reach it, within readTimeout; retry).
func (n *Node) readMirror(ctx context.Context, topic string, p meta.Partition) error {
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	end, err := n.askReadPoint(rctx, topic, p)
	if err != nil {
		return api.ErrUnavailable.Withf("no replica of %s/%d confirmed a read point for this node's mirror (%v); retry", topic, p.Index, err).
			WithDetail("partition", p.Index).WithDetail("node_id", n.cfg.ID)
	}
	for {
		n.mir.mu.Lock()
		m, ok := n.mir.parts[p.Group]
		var next int64
		if ok {
			next = m.log.NextOffset()
		}
		n.mir.mu.Unlock()
		if ok && next >= end {
			return nil
		}
		select {
		case <-rctx.Done():
			return api.ErrUnavailable.Withf("this node's mirror of %s/%d is at offset %d, behind its replicas' %d; retry", topic, p.Index, next, end).
				WithDetail("partition", p.Index).WithDetail("node_id", n.cfg.ID)
		case <-time.After(mirrorIdleMin):
		}
	}
}

// askReadPoint asks p's replicas, its leader as known first, for a read
// point until one answers, each for its share of ctx's time: a leader
// paused or cut off, still known as the leader, would take it all (seen:
// UNAVAILABLE after 5 s with the two other replicas ready to answer).
func (n *Node) askReadPoint(ctx context.Context, topic string, p meta.Partition) (int64, error) {
	req, err := json.Marshal(request{ReadPoint: &readPointRequest{Topic: topic, Partition: p.Index}})
	if err != nil {
		return 0, err
	}
	order := slices.Clone(p.Replicas)
	if leader, _ := n.PartitionLeader(p); slices.Contains(order, leader) {
		order = append([]uint64{leader}, slices.DeleteFunc(order, func(id uint64) bool { return id == leader })...)
	}
	var errs []error
	for i, id := range order {
		share := readTimeout / time.Duration(len(order))
		if d, ok := ctx.Deadline(); ok {
			share = time.Until(d) / time.Duration(len(order)-i)
		}
		cctx, cancel := context.WithTimeout(ctx, share)
		raw, err := n.tr.Call(cctx, id, req)
		cancel()
		var a answer
		if err == nil {
			err = json.Unmarshal(raw, &a)
		}
		if err == nil && a.Refused != "" {
			err = errors.New(a.Refused)
		}
		if err == nil {
			return a.End, nil
		}
		errs = append(errs, fmt.Errorf("node %d: %w", id, err))
		if ctx.Err() != nil {
			break
		}
	}
	return 0, errors.Join(errs...)
}

// serveReadPoint answers a read point of a partition this node holds a
// replica of: the end of what its log shows once ReadPartition made it
// current (batches past it are not applied yet).
func (n *Node) serveReadPoint(ctx context.Context, req readPointRequest) answer {
	tp, ok := n.meta.Topic(req.Topic)
	if !ok || req.Partition < 0 || int(req.Partition) >= len(tp.Partitions) {
		return answer{Refused: fmt.Sprintf("%s/%d is not in node %d's metadata", req.Topic, req.Partition, n.cfg.ID)}
	}
	group := tp.Partitions[req.Partition].Group
	n.pmu.Lock()
	h := n.parts[group]
	n.pmu.Unlock()
	if h == nil {
		return answer{Refused: fmt.Sprintf("node %d holds no replica of %s/%d", n.cfg.ID, req.Topic, req.Partition)}
	}
	if err := n.ReadPartition(ctx, req.Topic, req.Partition); err != nil {
		return answer{Refused: err.Error()}
	}
	return answer{End: h.log.Committed()}
}
