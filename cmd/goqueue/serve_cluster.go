package main

import (
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/node"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// listenCluster binds the inter-broker listener, if the broker runs as a
// cluster node, before the broker recovers: a taken port fails the start at
// once.
func listenCluster(cfg *config) (net.Listener, error) {
	if !cfg.cluster.enabled() {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.cluster.listenAddr())
	if err != nil {
		return nil, fmt.Errorf("cluster listen on %s: %w", cfg.cluster.listenAddr(), err)
	}
	return ln, nil
}

// openCluster opens this node's cluster member on ln, its Raft state in
// <data-dir>/cluster, bridged to b; nil without a cluster listener.
// httpAddr and kafkaAddr are the HTTP API's and the Kafka listener's
// addresses ("" without one), registered for the other nodes and the
// clients they send to this one.
func openCluster(cfg *config, ln net.Listener, b *broker.Broker, httpAddr, kafkaAddr string, log *slog.Logger) (*clusterBridge, error) {
	if ln == nil {
		return nil, nil
	}
	logClusterLink(log, cfg, ln.Addr().String())
	peer := cfg.cluster.peerAddrs[cfg.cluster.nodeID]
	httpAddr, kafkaAddr = advertise(httpAddr, peer), advertise(kafkaAddr, peer)
	br := &clusterBridge{b: b, defaultPartitions: cfg.broker.DefaultPartitions, maxPartitions: cfg.broker.MaxPartitions, groups: &groupShards{b: b}}
	n, err := node.Open(node.Config{
		ID: cfg.cluster.nodeID, Peers: cfg.cluster.peerAddrs, Listener: ln, TLS: cfg.cluster.tls.config,
		Dir: filepath.Join(cfg.broker.DataDir, "cluster"), HTTPAddr: httpAddr, KafkaAddr: kafkaAddr, Logger: log,
		Topics: br, Logs: br, GroupShards: br.groups, GroupDurability: groupDurability[cfg.broker.Fsync],
		FlushEvery: cfg.broker.FsyncInterval, Quiesce: cfg.cluster.quiesce, Groups: br.localGroups, Serve: br.localServe,
		EntriesInWAL: cfg.cluster.entriesInWAL,
	})
	if err != nil {
		return nil, err
	}
	br.n, br.groups.n = n, n
	b.ReplicateGroups(br.groups)
	br.nodes = len(cfg.cluster.peerAddrs)
	b.SetReplicator(br)
	b.SetProducerIDs(br)
	return br, nil
}

// groupDurability is when the consumer group shards' Raft logs are synced
// under the broker's default fsync policy (--fsync): as a single broker
// syncs its committed offsets and acknowledged ranges.
var groupDurability = map[string]multiraft.Durability{
	broker.FsyncAlways:   multiraft.SyncEachPass,
	broker.FsyncInterval: multiraft.SyncOnFlush,
	broker.FsyncNever:    multiraft.SyncByOS,
}

// logClusterLink says whether the inter-broker link is TLS, and warns
// when it is plain TCP where it is probably not meant to be: anyone who
// reaches it can speak Raft to the node.
func logClusterLink(log *slog.Logger, cfg *config, addr string) {
	switch {
	case cfg.cluster.tls.config != nil:
		log.Info("inter-broker link serves mutual TLS", "cluster_addr", addr, "ca", cfg.cluster.tls.ca)
	case cfg.tlsCert != "":
		log.Warn("the HTTP API serves TLS but the inter-broker link is plain TCP; give --cluster-tls-ca for mutual TLS", "cluster_addr", addr)
	case !isLoopback(addr):
		log.Warn("inter-broker link beyond localhost without TLS: anyone who can reach it can inject Raft messages", "cluster_addr", addr)
	}
}

// advertise is a listener's address as other machines should dial it: one
// bound to every interface (":8080", "0.0.0.0:8080", "[::]:8080") is named
// by the host of this node's --peers entry, which the other nodes already
// reach it at. "" stays "" (no listener).
func advertise(addr, peer string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return addr
	}
	peerHost, _, err := net.SplitHostPort(peer)
	if err != nil || peerHost == "" {
		return addr
	}
	return net.JoinHostPort(peerHost, port)
}

// clusterView is what the HTTP API asks of the cluster, or none for a
// single broker (a nil pointer must not become a non-nil interface).
func clusterView(c *clusterBridge) httpapi.Cluster {
	if c == nil {
		return nil
	}
	return c
}

// closeAll closes the listeners that were opened.
func closeAll(lns ...net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
}
