package meta

import (
	"cmp"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Errors that Apply answers with; they are results, not failures of the
// state machine: every replica answers the same.
var (
	ErrTopicExists    = errors.New("meta: topic exists")
	ErrUnknownTopic   = errors.New("meta: unknown topic")
	ErrTooFewNodes    = errors.New("meta: fewer registered nodes than the replication factor")
	ErrInvalid        = errors.New("meta: invalid command")
	ErrTopicIDInUse   = errors.New("meta: topic ID in use")
	ErrPartitionCount = errors.New("meta: partitions can only be added")
	// ErrExhausted refuses a command that would take a counter (group
	// IDs, producer IDs, a node's incarnation or generation) past its
	// largest value: wrapped, it would hand out one in use, or 0, which
	// means none. No cluster counts that far; a state restored from a
	// damaged or forged snapshot may start near the end. It is an
	// ErrInvalid, as the node's answers carry it.
	ErrExhausted = fmt.Errorf("%w: counter exhausted", ErrInvalid)
)

// Command is one metadata change. Exactly one field is set.
type Command struct {
	RegisterNode  *RegisterNode  `json:"register_node,omitempty"`
	CreateTopic   *CreateTopic   `json:"create_topic,omitempty"`
	DeleteTopic   *DeleteTopic   `json:"delete_topic,omitempty"`
	AddPartitions *AddPartitions `json:"add_partitions,omitempty"`
	AlterTopic    *AlterTopic    `json:"alter_topic,omitempty"`
	ReportLeaders *ReportLeaders `json:"report_leaders,omitempty"`
	Rejoin        *Rejoin        `json:"rejoin,omitempty"`
	// ReserveProducerIDs is producerids.go's.
	ReserveProducerIDs *ReserveProducerIDs `json:"reserve_producer_ids,omitempty"`
	// SetReplays is replays.go's.
	SetReplays *SetReplays `json:"set_replays,omitempty"`
}

// RegisterNode adds a node or records that it restarted (its incarnation
// goes up by one; its addresses may change). Boot is random per process
// start: a registration applied again with the same Boot (a retry whose
// first attempt was not lost after all) changes nothing, so registering
// can be retried until it is seen applied.
type RegisterNode struct {
	ID       uint64 `json:"id"`
	Addr     string `json:"addr"`
	HTTPAddr string `json:"http_addr,omitempty"`
	// KafkaAddr is the node's Kafka listener, "" without one.
	KafkaAddr string `json:"kafka_addr,omitempty"`
	Boot      uint64 `json:"boot,omitempty"`
}

// CreateTopic creates a topic. ID is chosen by the proposer (random), so
// that applying the command is deterministic.
type CreateTopic struct {
	Name              string  `json:"name"`
	ID                TopicID `json:"id"`
	Partitions        int     `json:"partitions"`
	ReplicationFactor int     `json:"replication_factor"`
	// Settings are the broker's own topic settings (retention, sizes),
	// opaque here: every node creates its local topic with them.
	Settings json.RawMessage `json:"settings,omitempty"`
}

// DeleteTopic deletes a topic. Its Raft group IDs are never given out
// again (NextGroup only grows), so a topic created again under the same
// name has a new ID and new groups, and a stale message for an old group
// finds no group to step on any node. ID, if set, must be the topic's: a
// retried deletion must not delete a topic created again meanwhile.
type DeleteTopic struct {
	Name string  `json:"name"`
	ID   TopicID `json:"id,omitzero"`
}

// AddPartitions grows a topic to Count partitions, placed as at creation,
// each a new Raft group. ID, if set, must be the topic's.
type AddPartitions struct {
	Name  string  `json:"name"`
	ID    TopicID `json:"id,omitzero"`
	Count int     `json:"count"`
}

// AlterTopic changes a topic's settings: Settings is a JSON object whose
// keys replace the same keys of the topic's settings (a JSON merge of the
// top level; meta does not read the values). Every node applies the
// merged settings to its local topic. ID, if set, must be the topic's.
type AlterTopic struct {
	Name     string          `json:"name"`
	ID       TopicID         `json:"id,omitzero"`
	Settings json.RawMessage `json:"settings"`
}

// Encode returns the command as proposed to the metadata group.
func (c Command) Encode() ([]byte, error) { return json.Marshal(c) }

// Result is what applying a command answers: the node or topic as it is
// after the command, or the reason it was refused.
type Result struct {
	Node  *Node
	Topic *Topic
	// ProducerIDs is the block a ReserveProducerIDs reserved.
	ProducerIDs *ProducerIDBlock
	Err         error
}

// maxPartitions bounds a topic, so a typo cannot create a million groups.
const maxPartitions = 10000

// Apply applies an encoded Command committed at index and returns a Result.
func (s *Store) Apply(index uint64, b []byte) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d.Applied = index
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		return Result{Err: fmt.Errorf("%w: %v", ErrInvalid, err)}
	}
	switch {
	case c.RegisterNode != nil:
		return s.registerLocked(*c.RegisterNode)
	case c.CreateTopic != nil:
		return s.createLocked(*c.CreateTopic)
	case c.DeleteTopic != nil:
		if _, err := s.topicLocked(c.DeleteTopic.Name, c.DeleteTopic.ID); err != nil {
			return Result{Err: err}
		}
		delete(s.d.Topics, c.DeleteTopic.Name)
		return Result{}
	case c.AddPartitions != nil:
		return s.addPartitionsLocked(*c.AddPartitions)
	case c.AlterTopic != nil:
		return s.alterLocked(*c.AlterTopic)
	case c.ReportLeaders != nil:
		s.reportLocked(*c.ReportLeaders)
		return Result{}
	case c.Rejoin != nil:
		return s.rejoinLocked(*c.Rejoin)
	case c.ReserveProducerIDs != nil:
		return s.reserveProducerIDsLocked(*c.ReserveProducerIDs)
	case c.SetReplays != nil:
		return s.setReplaysLocked(*c.SetReplays)
	}
	return Result{Err: fmt.Errorf("%w: empty command", ErrInvalid)}
}

func (s *Store) registerLocked(r RegisterNode) Result {
	if r.ID == 0 || r.Addr == "" {
		return Result{Err: fmt.Errorf("%w: node needs an ID and an address", ErrInvalid)}
	}
	n, ok := s.d.Nodes[r.ID]
	if !ok {
		n = &Node{ID: r.ID}
		s.d.Nodes[r.ID] = n
	}
	if ok && r.Boot != 0 && n.Boot == r.Boot {
		c := *n // the same start registering again: already done
		return Result{Node: &c}
	}
	if n.Incarnation == math.MaxUint64 {
		return Result{Err: fmt.Errorf("%w: incarnation of node %d", ErrExhausted, r.ID)}
	}
	n.Addr, n.HTTPAddr, n.KafkaAddr, n.Boot = r.Addr, r.HTTPAddr, r.KafkaAddr, r.Boot
	n.Incarnation++
	c := *n
	return Result{Node: &c}
}

func (s *Store) createLocked(c CreateTopic) Result {
	switch {
	case c.Name == "" || len(c.Name) > 249:
		return Result{Err: fmt.Errorf("%w: topic name %q", ErrInvalid, c.Name)}
	case c.Partitions < 1 || c.Partitions > maxPartitions:
		return Result{Err: fmt.Errorf("%w: %d partitions", ErrInvalid, c.Partitions)}
	case c.ReplicationFactor < 1:
		return Result{Err: fmt.Errorf("%w: replication factor %d", ErrInvalid, c.ReplicationFactor)}
	case c.ID == TopicID{}:
		return Result{Err: fmt.Errorf("%w: zero topic ID", ErrInvalid)}
	}
	if _, ok := s.d.Topics[c.Name]; ok {
		return Result{Err: fmt.Errorf("%w: %q", ErrTopicExists, c.Name)}
	}
	for _, t := range s.d.Topics {
		if t.ID == c.ID {
			return Result{Err: fmt.Errorf("%w: %s", ErrTopicIDInUse, c.ID)}
		}
	}
	if len(s.d.Nodes) < c.ReplicationFactor {
		return Result{Err: fmt.Errorf("%w: %d nodes, factor %d", ErrTooFewNodes, len(s.d.Nodes), c.ReplicationFactor)}
	}
	if err := s.roomLocked(c.Partitions); err != nil {
		return Result{Err: err}
	}
	t := &Topic{Name: c.Name, ID: c.ID, ReplicationFactor: c.ReplicationFactor, Settings: c.Settings}
	s.placeLocked(t, c.Partitions)
	s.d.Topics[c.Name] = t
	out := t.clone()
	return Result{Topic: &out}
}

// topicLocked is the topic named name, whose ID is id unless id is zero.
func (s *Store) topicLocked(name string, id TopicID) (*Topic, error) {
	t, ok := s.d.Topics[name]
	if !ok || (id != TopicID{} && t.ID != id) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	return t, nil
}

func (s *Store) addPartitionsLocked(a AddPartitions) Result {
	t, err := s.topicLocked(a.Name, a.ID)
	if err != nil {
		return Result{Err: err}
	}
	if a.Count <= len(t.Partitions) || a.Count > maxPartitions {
		return Result{Err: fmt.Errorf("%w: %d to %d", ErrPartitionCount, len(t.Partitions), a.Count)}
	}
	if len(s.d.Nodes) < t.ReplicationFactor {
		return Result{Err: fmt.Errorf("%w: %d nodes, factor %d", ErrTooFewNodes, len(s.d.Nodes), t.ReplicationFactor)}
	}
	if err := s.roomLocked(a.Count - len(t.Partitions)); err != nil {
		return Result{Err: err}
	}
	s.placeLocked(t, a.Count)
	out := t.clone()
	return Result{Topic: &out}
}

func (s *Store) alterLocked(a AlterTopic) Result {
	t, err := s.topicLocked(a.Name, a.ID)
	if err != nil {
		return Result{Err: err}
	}
	var change map[string]json.RawMessage
	if err := json.Unmarshal(a.Settings, &change); err != nil || change == nil {
		return Result{Err: fmt.Errorf("%w: settings of %q are not a JSON object", ErrInvalid, a.Name)}
	}
	var merged map[string]json.RawMessage
	if len(t.Settings) > 0 {
		if err := json.Unmarshal(t.Settings, &merged); err != nil {
			return Result{Err: fmt.Errorf("%w: stored settings of %q: %v", ErrInvalid, a.Name, err)}
		}
	}
	if merged == nil {
		// None, or JSON null: CreateTopic takes its settings as they
		// come, and null decodes to a nil map, which the merge below
		// would panic on, on every replica.
		merged = map[string]json.RawMessage{}
	}
	for k, v := range change {
		merged[k] = v
	}
	b, err := json.Marshal(merged) // keys sorted: the same bytes on every node
	if err != nil {
		return Result{Err: fmt.Errorf("%w: %v", ErrInvalid, err)}
	}
	t.Settings = b
	out := t.clone()
	return Result{Topic: &out}
}

// PartitionGroups bounds the partitions' Raft group IDs, numbered from 1:
// the IDs from it on are the consumer-group shards' (internal/cluster/node),
// and 0 is the metadata's own.
const PartitionGroups = 1 << 48

// roomLocked refuses placing n more partitions if their Raft group IDs
// would reach PartitionGroups: a partition's group would then be a
// consumer-group shard's (wrapped past the largest ID, the metadata's
// own, then groups in use).
func (s *Store) roomLocked(n int) error {
	if s.d.NextGroup > PartitionGroups || uint64(n) > PartitionGroups-s.d.NextGroup {
		return fmt.Errorf("%w: group IDs from %d, %d wanted", ErrExhausted, s.d.NextGroup, n)
	}
	return nil
}

// placeLocked adds partitions to t up to count (roomLocked said there are
// group IDs for them). Partition p's replicas are ReplicationFactor
// consecutive nodes (by ID) from a starting slot that moves by one per
// partition, across topics: replicas and preferred leaders spread evenly,
// and the choice depends only on the state.
func (s *Store) placeLocked(t *Topic, count int) {
	ids := make([]uint64, 0, len(s.d.Nodes))
	for id := range s.d.Nodes {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, cmp.Compare)
	for p := len(t.Partitions); p < count; p++ {
		start := s.d.NextSlot % len(ids)
		// Past the largest int the slot starts again at 0: it only
		// rotates, and left negative it indexed before ids (a panic
		// on every replica).
		if s.d.NextSlot++; s.d.NextSlot < 0 {
			s.d.NextSlot = 0
		}
		reps := make([]uint64, t.ReplicationFactor)
		for r := range reps {
			reps[r] = ids[(start+r)%len(ids)]
		}
		t.Partitions = append(t.Partitions, Partition{Index: int32(p), Group: s.d.NextGroup, Replicas: reps, Gens: s.gensLocked(reps)})
		s.d.NextGroup++
	}
}

// NewTopicID returns a random topic ID, for a proposer to put in its
// CreateTopic.
func NewTopicID() (TopicID, error) {
	var id TopicID
	if _, err := rand.Read(id[:]); err != nil {
		return id, fmt.Errorf("meta: topic ID: %w", err)
	}
	return id, nil
}
