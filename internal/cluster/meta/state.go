// Package meta is the cluster's metadata as a replicated state machine:
// registered nodes (with incarnation epochs), topics (with 16-byte topic
// IDs), and each partition's replica set and Raft group ID. Commands are
// applied in log order by the metadata Raft group (group 0) on every node;
// the same commands give the same state everywhere, so everything Apply
// decides (placement, group IDs) is a function of the state and the command
// only. Randomness (topic IDs) comes with the command from its proposer.
//
// It owns the metadata and nothing else: it does not create partitions or
// start their groups; internal/cluster/node watches it for that.
package meta

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// GroupID is the Raft group of the metadata itself; partitions' groups
// count up from 1.
const GroupID = 0

// Node is a registered broker.
type Node struct {
	ID       uint64 `json:"id"`
	Addr     string `json:"addr"`                // cluster (Raft) address
	HTTPAddr string `json:"http_addr,omitempty"` // the node's HTTP API
	// KafkaAddr is the node's Kafka listener ("" without one), which
	// Kafka Metadata answers name it by.
	KafkaAddr string `json:"kafka_addr,omitempty"`
	Boot      uint64 `json:"boot,omitempty"` // see RegisterNode`
	// Incarnation counts the node's registrations: a restarted node
	// registers again, and a higher incarnation fences its past self.
	Incarnation uint64 `json:"incarnation"`
}

// TopicID is a topic's 16-byte identity, never reused (Kafka's topic ID).
type TopicID [16]byte

func (id TopicID) String() string { return fmt.Sprintf("%x", id[:]) }

// Partition is one partition's placement.
type Partition struct {
	Index    int32    `json:"index"`
	Group    uint64   `json:"group"`    // its Raft group
	Replicas []uint64 `json:"replicas"` // node IDs; the first is the preferred leader
	// Leader, LeaderEpoch (its Raft term) and ISR (in replica order) are
	// what the partition's leader last reported (leaders.go); zero and
	// empty until the first report. ReportSeq orders one leader's reports
	// within a term.
	Leader      uint64   `json:"leader,omitempty"`
	LeaderEpoch uint64   `json:"leader_epoch,omitempty"`
	ISR         []uint64 `json:"isr,omitempty"`
	ReportSeq   uint64   `json:"report_seq,omitempty"`
	// Gens are the replicas' generations when the partition was placed
	// (nil: all 0): its group's first voters (generation.go).
	Gens []uint64 `json:"gens,omitempty"`
}

// Topic is a topic's metadata.
type Topic struct {
	Name              string          `json:"name"`
	ID                TopicID         `json:"id"`
	ReplicationFactor int             `json:"replication_factor"`
	Partitions        []Partition     `json:"partitions"`
	Settings          json.RawMessage `json:"settings,omitempty"` // see CreateTopic
	// Replays is the record of the topic's DLQ replays (replays.go);
	// ReplaysVersion is the log index of the SetReplays that last
	// replaced it (0: none), for their compare-and-set.
	Replays        json.RawMessage `json:"replays,omitempty"`
	ReplaysVersion uint64          `json:"replays_version,omitempty"`
}

// data is the whole replicated state; what snapshots hold.
type data struct {
	Nodes     map[uint64]*Node  `json:"nodes"`
	Topics    map[string]*Topic `json:"topics"`
	NextGroup uint64            `json:"next_group"` // the next partition group ID
	// NextSlot rotates where placement starts, so leaders spread over
	// nodes across topics, not only within one.
	NextSlot int    `json:"next_slot"`
	Applied  uint64 `json:"applied"`
	// Gens are the nodes' replica generations (generation.go).
	Gens map[uint64]*Generation `json:"gens,omitempty"`
	// NextProducerID is the first producer ID no block holds yet
	// (producerids.go); it only grows.
	NextProducerID int64 `json:"next_producer_id,omitempty"`
	// Shards are the consumer-group shards' leaders, by Raft group
	// (leaders.go).
	Shards map[uint64]*ShardLeader `json:"shards,omitempty"`
}

// Store is the metadata state machine (a multiraft.StateMachine). Apply,
// Snapshot and Restore run on the metadata group's loop; the read methods
// may be called from any goroutine. mu guards d.
type Store struct {
	mu sync.RWMutex
	d  data
}

// New returns an empty Store.
func New() *Store {
	return &Store{d: empty()}
}

// empty is the state of a new store.
func empty() data {
	return data{Nodes: map[uint64]*Node{}, Topics: map[string]*Topic{}, NextGroup: 1}
}

// Snapshot encodes the state.
func (s *Store) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return json.Marshal(&s.d)
}

// Restore replaces the state with a snapshot's (nil: empty). A snapshot
// that does not decode, or holds a state no commands make, changes
// nothing.
func (s *Store) Restore(b []byte) error {
	d := empty()
	// Decoded aside: json.Unmarshal fills what it can before it meets a
	// value of the wrong type, and the readers must not see that half.
	if b != nil {
		if err := json.Unmarshal(b, &d); err != nil {
			return fmt.Errorf("meta: restore: %w", err)
		}
		if err := d.check(); err != nil {
			return fmt.Errorf("meta: restore: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = d
	return nil
}

// check refuses a decoded state that no sequence of commands makes and
// that Apply or the readers would panic on, or that would hand out an ID
// in use: a missing map or entry (JSON null), a negative placement slot,
// replication factor or next producer ID, a next group ID of 0 (the
// metadata's) or past PartitionGroups, a partition's group that is 0,
// another's too, or not below the next group ID.
func (d *data) check() error {
	if d.Nodes == nil || d.Topics == nil {
		return errors.New("no nodes or no topics")
	}
	for id, n := range d.Nodes {
		if n == nil {
			return fmt.Errorf("node %d is null", id)
		}
	}
	groups := map[uint64]bool{}
	for name, t := range d.Topics {
		if t == nil || t.ReplicationFactor < 1 {
			return fmt.Errorf("topic %q is null or has no replication factor", name)
		}
		for _, p := range t.Partitions {
			if p.Group == GroupID || p.Group >= d.NextGroup || groups[p.Group] {
				return fmt.Errorf("topic %q partition %d: group %d is the metadata's, another partition's, or not below the next %d",
					name, p.Index, p.Group, d.NextGroup)
			}
			groups[p.Group] = true
		}
	}
	for id, g := range d.Gens {
		if g == nil {
			return fmt.Errorf("generation of node %d is null", id)
		}
	}
	for g, l := range d.Shards {
		if l == nil {
			return fmt.Errorf("leader of shard group %d is null", g)
		}
	}
	if d.NextGroup == GroupID || d.NextGroup > PartitionGroups || d.NextSlot < 0 || d.NextProducerID < 0 {
		return fmt.Errorf("next group %d, slot %d, producer ID %d", d.NextGroup, d.NextSlot, d.NextProducerID)
	}
	return nil
}

// Applied is the index of the last command applied.
func (s *Store) Applied() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.d.Applied
}

// Nodes returns the registered nodes, by ID.
func (s *Store) Nodes() []Node {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Node, 0, len(s.d.Nodes))
	for _, n := range s.d.Nodes {
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Topic returns a copy of the named topic.
func (s *Store) Topic(name string) (Topic, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.d.Topics[name]
	if !ok {
		return Topic{}, false
	}
	return t.clone(), true
}

// Topics returns copies of every topic, by name.
func (s *Store) Topics() []Topic {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := slices.Sorted(maps.Keys(s.d.Topics))
	out := make([]Topic, len(names))
	for i, n := range names {
		out[i] = s.d.Topics[n].clone()
	}
	return out
}

func (t *Topic) clone() Topic {
	c := *t
	c.Partitions = make([]Partition, len(t.Partitions))
	for i, p := range t.Partitions {
		p.Replicas = slices.Clone(p.Replicas)
		p.ISR = slices.Clone(p.ISR)
		p.Gens = slices.Clone(p.Gens)
		c.Partitions[i] = p
	}
	return c
}
