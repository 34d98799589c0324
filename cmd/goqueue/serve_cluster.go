package main

import (
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

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
// <data-dir>/cluster; nil without a cluster listener. httpAddr is the HTTP
// API's address, registered for the other nodes.
func openCluster(cfg *config, ln net.Listener, httpAddr string, log *slog.Logger) (*node.Node, error) {
	if ln == nil {
		return nil, nil
	}
	return node.Open(node.Config{
		ID: cfg.cluster.nodeID, Peers: cfg.cluster.peerAddrs, Listener: ln,
		Dir: filepath.Join(cfg.broker.DataDir, "cluster"), HTTPAddr: httpAddr, Logger: log,
	})
}

// clusterView is what GET /cluster reads: the node, or none for a single
// broker (a nil *node.Node must not become a non-nil interface).
func clusterView(n *node.Node) httpapi.Cluster {
	if n == nil {
		return nil
	}
	return n
}

// closeAll closes the listeners that were opened.
func closeAll(lns ...net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
}
