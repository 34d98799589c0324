package api

// ClusterStatus is the answer of GET /cluster: the cluster as the answering
// node sees it, read consistently from the metadata Raft group (group 0).
type ClusterStatus struct {
	NodeID uint64 `json:"node_id"` // the answering node
	// MetaLeader is the node leading the metadata group (0: none known) and
	// MetaTerm its Raft term.
	MetaLeader uint64         `json:"meta_leader"`
	MetaTerm   uint64         `json:"meta_term"`
	Nodes      []ClusterNode  `json:"nodes"`
	Topics     []ClusterTopic `json:"topics"`
}

// ClusterNode is one node of --peers and what the metadata knows of it.
type ClusterNode struct {
	ID          uint64 `json:"id"`
	ClusterAddr string `json:"cluster_addr"`        // its inter-broker listener, from --peers
	HTTPAddr    string `json:"http_addr,omitempty"` // its HTTP API, as it registered it
	// Registered says the node has registered through the metadata group;
	// Incarnation counts its registrations (one per process start).
	Registered  bool   `json:"registered"`
	Incarnation uint64 `json:"incarnation"`
	// Alive: the answering node has heard from it within the failure
	// detector's window (always true for the answering node itself).
	Alive bool `json:"alive"`
}

// ClusterTopic is a topic's placement in the metadata.
type ClusterTopic struct {
	Name              string             `json:"name"`
	ID                string             `json:"id"` // 16 bytes in hex, never reused
	ReplicationFactor int                `json:"replication_factor"`
	Partitions        []ClusterPartition `json:"partitions"`
}

// ClusterPartition is one partition's replicas and Raft group.
type ClusterPartition struct {
	Partition int32    `json:"partition"`
	Group     uint64   `json:"group"`            // its Raft group ID
	Replicas  []uint64 `json:"replicas"`         // node IDs; the first is the preferred leader
	Leader    uint64   `json:"leader,omitempty"` // 0 (omitted) while unknown
	// LeaderEpoch is the Raft term of the partition's group in which
	// Leader leads (0, omitted, while unknown, e.g. on a node that holds
	// no replica of the partition): a higher epoch supersedes a lower.
	LeaderEpoch uint64 `json:"leader_epoch,omitempty"`
	// ISR are the replicas in sync with the leader, in replica order: a
	// follower heard from within the last election timeout and caught up
	// within the last 10 s (docs/cluster.md). Omitted while unknown.
	ISR []uint64 `json:"isr,omitempty"`
	// Lost says the partition's Raft group can never elect a leader
	// again: LostReplicas (node IDs) were on disks that are gone (their
	// nodes restarted empty), and the group cannot go on without them.
	// Its reads and writes answer PARTITION_LOST; Leader is 0. Omitted
	// otherwise (docs/cluster.md, "Empty disk").
	Lost         bool     `json:"lost,omitempty"`
	LostReplicas []uint64 `json:"lost_replicas,omitempty"`
}
