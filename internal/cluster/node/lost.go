package node

import (
	"fmt"

	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
)

// A partition whose Raft group can never elect a leader again (its only
// replica, or one of its two, was on a disk that is gone: meta.Store.Lost)
// is lost, not leaderless: this node names no leader for it (the last
// leader the metadata recorded is a replica its node has forgotten), and
// refuses its reads and writes with a LostError rather than an answer
// that says to retry.

// LostError refuses a read or write of a lost partition.
type LostError struct {
	Topic     string
	Partition int32
	Replicas  []uint64 // the partition's replicas (node IDs)
	Lost      []uint64 // those whose copy is gone
}

func (e *LostError) Error() string {
	return fmt.Sprintf("cluster: partition %s/%d is lost: its replicas %v on nodes that lost their disks can never be replaced", e.Topic, e.Partition, e.Lost)
}

// Lost returns the replicas of p whose copies are gone when p can never
// have a leader again; nil otherwise (see meta.Store.Lost).
func (n *Node) Lost(p meta.Partition) []uint64 { return n.meta.Lost(p) }

// lostError is the LostError for p of topic if p is lost, else nil.
func (n *Node) lostError(topic string, p meta.Partition) error {
	lost := n.meta.Lost(p)
	if lost == nil {
		return nil
	}
	return &LostError{Topic: topic, Partition: p.Index, Replicas: p.Replicas, Lost: lost}
}
