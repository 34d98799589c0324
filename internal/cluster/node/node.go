// Package node is this process's member of a GoQueue cluster: it owns the
// wiring of the replication engine into the broker. It opens the node's
// Raft state on disk (Dir, normally <data-dir>/cluster), runs the transport
// on the cluster listener and the metadata group (group 0, every node of
// --peers a voter) over meta.Store, registers the node through group 0
// once per process start, forwards metadata proposals to the group's leader,
// and answers consistent reads of the metadata (Status, for GET /cluster).
//
// Each partition of a cluster topic is a Raft group over its replicas,
// hosted beside group 0 (partitions.go). docs/cluster.md has the design.
package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/transport"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
	"github.com/abd-ulbasit/goqueue/internal/periodic"
)

// Config configures a Node.
type Config struct {
	ID    uint64            // this node's ID, a key of Peers
	Peers map[uint64]string // every node's cluster address, this one's included
	// Listener is the bound cluster listener (--cluster-addr); the Node
	// owns it from Open on.
	Listener net.Listener
	// TLS makes the inter-broker link mutual TLS (transport.Config.TLS);
	// nil: plain TCP.
	TLS      *tls.Config
	Dir      string // the node's Raft state; created if missing
	HTTPAddr string // the HTTP API's address, registered for other nodes
	// KafkaAddr is the Kafka listener's address ("" without one),
	// registered for the other nodes' Kafka Metadata answers.
	KafkaAddr string
	// Tick is one Raft tick (default 100 ms: elections after 2–4 s, see
	// multiraft.Config).
	Tick   time.Duration
	Logger *slog.Logger // default slog.Default()
	// Topics receives the metadata's topics, to create them locally
	// (topics.go); nil: none are created.
	Topics TopicSink
	// SnapshotEvery and SnapshotKeep are multiraft.Config's (0: its
	// defaults); tests make snapshots frequent.
	SnapshotEvery, SnapshotKeep uint64
	// EntriesInWAL is multiraft.Config's: partitions' data written twice.
	EntriesInWAL bool
	// Logs gives the local logs of the partitions this node replicates;
	// nil: partitions' groups are not started (partitions.go).
	Logs PartitionLogs
	// GroupShards takes the consumer groups of the shards this node
	// leads; nil: the groups' state is not replicated (groupshards.go).
	GroupShards GroupShardSink
	// Groups lists, as JSON, the consumer groups this node coordinates,
	// for a peer listing the cluster's (PeerGroups); nil: none.
	Groups func() ([]byte, error)
	// Serve serves a peer's request of a group this node coordinates
	// (PeerServe), within ctx; nil: none.
	Serve func(context.Context, PeerRequest) PeerAnswer
	// GroupDurability is when the shards' Raft logs (committed offsets
	// and acknowledged ranges) are synced: the broker's default fsync
	// policy's, as a single broker syncs its offsets. Zero: every pass.
	GroupDurability multiraft.Durability
	// FlushEvery is how often the groups that sync on a flush (topics
	// with fsync=interval) are synced: the broker's --fsync-interval (0:
	// multiraft's default, 100 ms).
	FlushEvery time.Duration
	// Quiesce lets idle Raft groups stop ticking and heartbeating
	// (multiraft.Config.Quiesce; the transport's failure detector wakes
	// the groups of a peer that goes down).
	Quiesce bool
	// electionTicks is multiraft.Config.ElectionTicks (0: its default);
	// tests set it out of reach to prove leaders come by campaigns.
	electionTicks int
}

// Node is one running cluster member. Propose and Status are safe for
// concurrent use once Run has started.
type Node struct {
	cfg  Config
	meta *meta.Store
	host *multiraft.Host // owned by raft's loop once Run starts
	raft *multiraft.Node
	tr   *transport.Transport
	boot uint64 // random per process start: see meta.RegisterNode
	log  *slog.Logger
	// gen is this node's replica generation and settled whether it is
	// known and the metadata group started (identity.go); both are set
	// once, by Open or by Run's settle.
	gen     atomic.Uint64
	settled atomic.Bool
	// rejoinFrom is when this process, finding no Raft state, began to
	// rejoin a running cluster (zero otherwise); set by settle before the
	// goroutines that read it start.
	rejoinFrom time.Time
	// silentPeers are the peers that did not answer settle's last round
	// of questions (all others until the first); leaderSeen is when this
	// node last had a metadata leader it reaches (at first, when the
	// metadata group started), as time since opened: the monotonic clock,
	// which a step of the wall clock does not move (see seeLeader);
	// confirmed is set once a read point of the metadata was had since
	// this process started (ready.go).
	silentPeers atomic.Pointer[[]uint64]
	opened      time.Time
	leaderSeen  atomic.Int64
	confirmed   atomic.Bool

	mu  sync.Mutex
	ran bool // Run was called: it, not Close, releases the host

	// pmu guards the partition groups this node runs and their Raft
	// status as last read (partitions.go).
	pmu     sync.Mutex
	parts   map[uint64]*hosted
	leaders map[uint64]multiraft.Status
	isr     map[uint64]ledGroup // of the groups this node leads (report.go)
	// mir are the mirrors of partitions this node holds no replica of
	// (mirror.go).
	mir mirrors

	// unanswered are the peers whose last call went unanswered
	// (unanswered.go); it has its own lock.
	unanswered unansweredPeers

	locals     *locals       // the topics made locally (local.go)
	reconciled atomic.Uint64 // the metadata index the broker reflects (topics.go)

	gshards []*groupShard // consumer group shards; nil without Config.GroupShards

	// leaving is set as HandOff starts, and left closed (once, by leave)
	// as it returns: the node is stopping, campaigns for no group, claims
	// no group shard and, from left on, hands off what it comes to lead
	// (shed).
	leaving atomic.Bool
	leave   sync.Once
	left    chan struct{}
}

// maxNodeID is the largest node ID: a replica ID holds it in 32 bits
// (multiraft.ReplicaID).
const maxNodeID = 1<<32 - 1

// idFile records which node a Raft directory belongs to: started with
// another --node-id, the node would vote twice in one term under two names.
const idFile = "node-id"

// concurrentSyncs is how many Raft groups' stores one pass of the host
// syncs at once: the partitions a busy node leads and follows each write
// their own files every pass.
const concurrentSyncs = 16

// Open opens (or creates) the node's Raft state and prepares the transport;
// Run starts them. On an error the listener is closed.
func Open(cfg Config) (_ *Node, err error) {
	defer func() {
		if err != nil && cfg.Listener != nil {
			cfg.Listener.Close()
		}
	}()
	if _, ok := cfg.Peers[cfg.ID]; !ok || cfg.ID == 0 {
		return nil, fmt.Errorf("cluster: node %d is not among the peers", cfg.ID)
	}
	if cfg.Tick == 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ID > maxNodeID {
		return nil, fmt.Errorf("cluster: node ID %d above the largest, %d", cfg.ID, maxNodeID)
	}
	if err := claimDir(cfg.Dir, cfg.ID); err != nil {
		return nil, err
	}
	locals, err := loadLocals(cfg.Dir)
	if err != nil {
		return nil, err
	}
	gen, settled, err := readGen(cfg.Dir)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, opened: time.Now(), meta: meta.New(), boot: binary.BigEndian.Uint64(b[:]) | 1, log: cfg.Logger.With("node_id", cfg.ID),
		parts: map[uint64]*hosted{}, leaders: map[uint64]multiraft.Status{}, locals: locals, left: make(chan struct{})}
	n.host, err = multiraft.New(multiraft.Config{
		NodeID: cfg.ID, FS: vfs.OS{}, Dir: cfg.Dir, SnapshotEvery: cfg.SnapshotEvery, SnapshotKeep: cfg.SnapshotKeep,
		ConcurrentSyncs: concurrentSyncs, FlushEvery: cfg.FlushEvery, Quiesce: cfg.Quiesce,
		ElectionTicks: cfg.electionTicks, EntriesInWAL: cfg.EntriesInWAL,
	})
	if err != nil {
		return nil, err
	}
	n.gen.Store(gen)
	others := slices.DeleteFunc(n.peerIDs(), func(id uint64) bool { return id == cfg.ID })
	n.silentPeers.Store(&others)
	n.seeLeader()
	if settled {
		if err := n.startMeta(n.host.AddReplica); err != nil {
			n.host.Close()
			return nil, err
		}
		// The API serves as soon as Open returns, from the metadata: it
		// must already name every topic this node made for the cluster,
		// or the broker takes one for a local topic and writes a publish
		// to its copy alone (lost at the partition's next restore).
		if err := n.host.ApplyCommitted(); err != nil {
			n.host.Close()
			return nil, fmt.Errorf("cluster: replay the metadata in %s: %w", cfg.Dir, err)
		}
	}
	if cfg.GroupShards != nil {
		n.planGroupShards()
		if settled {
			if err := n.startGroupShards(n.host.AddReplica); err != nil {
				n.host.Close()
				return nil, err
			}
		}
	}
	n.raft = multiraft.NewNode(n.host, cfg.Tick)
	n.tr, err = transport.New(transport.Config{
		NodeID: cfg.ID, Listener: cfg.Listener, Peers: cfg.Peers, TLS: cfg.TLS,
		Deliver: n.raft.Deliver, Unreachable: n.raft.Unreachable,
		Handle: n.handle, Logger: n.log, Boot: n.boot, Restarted: n.raft.Restarted,
	})
	if err != nil {
		n.host.Close()
		return nil, err
	}
	return n, nil
}

// claimDir creates dir and its node-id file, or checks that the file names
// id.
func claimDir(dir string, id uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	name := filepath.Join(dir, idFile)
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return writeFileSynced(name, []byte(strconv.FormatUint(id, 10)+"\n"))
	}
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if got, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err != nil || got != id {
		return fmt.Errorf("cluster: %s belongs to node %q, not node %d: start with that --node-id, or give this node an empty data directory", dir, strings.TrimSpace(string(b)), id)
	}
	return nil
}

func writeFileSynced(name string, b []byte) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = vfs.OS{}.SyncDir(filepath.Dir(name))
	}
	if err != nil {
		return fmt.Errorf("cluster: %s: %w", name, err)
	}
	return nil
}

// Close releases what Open took when Run is never called.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ran {
		return nil
	}
	n.ran = true
	n.cfg.Listener.Close()
	return n.host.Close()
}

// Run runs the transport, the Raft loop and the node's registration until
// ctx ends; every goroutine it starts has returned when it returns.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	if n.ran {
		n.mu.Unlock()
		return errors.New("cluster: node run twice or after Close")
	}
	n.ran = true
	n.mu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return n.tr.Run(gctx) })
	g.Go(func() error {
		if err := n.raft.Run(gctx, n.tr); err != nil {
			return fmt.Errorf("cluster: raft: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if !n.settled.Load() {
			// No Raft state on disk: a new cluster, or a lost disk
			// (identity.go).
			if err := n.settle(gctx); err != nil || gctx.Err() != nil {
				return err
			}
		}
		g.Go(func() error { n.register(gctx); return nil })
		g.Go(func() error { n.watchLeader(gctx); return nil })
		g.Go(func() error { n.reconcile(gctx); return nil })
		g.Go(func() error { n.watchPartitions(gctx); return nil })
		g.Go(func() error { n.keepMirrors(gctx); return nil })
		g.Go(func() error { n.reconfigure(gctx); return nil })
		g.Go(func() error { n.trackISR(gctx); return nil })
		g.Go(func() error { n.reportLeaders(gctx); return nil })
		if n.gshards != nil {
			g.Go(func() error { n.watchGroupShards(gctx); return nil })
		}
		g.Go(func() error { n.shed(gctx); return nil })
		return nil
	})
	n.log.Info("cluster node started", "cluster_addr", n.cfg.Listener.Addr().String(), "peers", len(n.cfg.Peers), "dir", n.cfg.Dir,
		"generation", n.gen.Load(), "settled", n.settled.Load())
	return g.Wait()
}

// register records this start in the metadata (a new incarnation, the
// current addresses), retrying until it is applied or ctx ends. The Boot
// nonce makes a retry of an attempt that did succeed change nothing.
func (n *Node) register(ctx context.Context) {
	cmd := meta.Command{RegisterNode: &meta.RegisterNode{
		ID: n.cfg.ID, Addr: n.cfg.Peers[n.cfg.ID], HTTPAddr: n.cfg.HTTPAddr, KafkaAddr: n.cfg.KafkaAddr, Boot: n.boot,
	}}
	var warned time.Time
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		r, err := n.Propose(pctx, cmd)
		cancel()
		if err == nil && r.Err == nil {
			n.log.Info("cluster node registered", "incarnation", r.Node.Incarnation)
			return
		}
		// Propose fails at once while the metadata has no leader this
		// node reaches: warn (saying why) every 10 s, not every retry.
		if ctx.Err() == nil && time.Since(warned) >= 10*time.Second {
			warned = time.Now()
			n.log.Warn("cluster node registration failed; retrying", "err", errors.Join(err, r.Err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(retryEvery):
		}
	}
}

// watchLeader logs changes of the metadata leader, for operators, and
// campaigns for the metadata group while it has none (below).
func (n *Node) watchLeader(ctx context.Context) {
	var last uint64
	// Not in the first campaignEvery: a node restarted within moments
	// has a live leader it has not heard from yet (a quiesced group's
	// leader is woken by the restart), and would take leadership from it.
	campaigned := time.Now()
	voters := slices.Sorted(maps.Keys(n.cfg.Peers))
	n.everyTick(ctx, func() {
		st, err := n.raft.Status(ctx, meta.GroupID)
		if err != nil {
			return
		}
		n.sawLeader(st)
		// The metadata group has no preferred replica, and nothing in the
		// cluster moves without its leader: at a cluster's start, or after
		// all its nodes restart, it waited out a whole election timeout
		// (a full restart took 2.5–3.6 s to elect one, stop 44). The first
		// node not known down campaigns instead, as a partition's
		// preferred replica does (standIn); the election timeout stays the
		// fallback. PreVote loses a campaign against a leader the others
		// still hear (a quiesced one, its lease aged, can lose to it:
		// hence the wait above).
		if st.Leader == 0 && !n.leaving.Load() && time.Since(campaigned) >= campaignEvery && standIn(voters, n.cfg.ID, n.downPeers()) {
			campaigned = time.Now()
			_ = n.raft.Campaign(ctx, meta.GroupID) // only fails for a group not hosted
		}
		if st.Leader == last {
			return
		}
		last = st.Leader
		n.log.Info("metadata leader changed", "leader", st.Leader, "term", st.Term)
	})
}

// downPeers is the set of peers the transport counts down.
func (n *Node) downPeers() map[uint64]bool {
	down := map[uint64]bool{}
	for _, id := range n.tr.Down() {
		down[id] = true
	}
	return down
}

// everyTick calls fn once a Raft tick until ctx is done.
func (n *Node) everyTick(ctx context.Context, fn func()) { periodic.Every(ctx, n.cfg.Tick, fn) }
