package main

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// clusterConfig says whether and how this broker joins a cluster. With
// none of its flags set the broker runs alone and no cluster code runs.
type clusterConfig struct {
	nodeID uint64
	peers  string // id=host:port,...: every node's cluster listener, this one's included
	addr   string // this node's cluster listen address; default its --peers entry
	tls    clusterTLS
	// quiesce lets idle Raft groups go quiet (node.Config.Quiesce).
	quiesce bool
	// entriesInWAL writes partitions' data twice (node.Config.EntriesInWAL).
	entriesInWAL bool

	peerAddrs map[uint64]string // parsed by validate
}

func clusterFlags(fs *pflag.FlagSet, c *clusterConfig) {
	fs.Uint64Var(&c.nodeID, "node-id", 0, "this broker's ID in a cluster (with --peers); 0 runs a single broker")
	fs.StringVar(&c.peers, "peers", "", "every cluster node's inter-broker address, this one's included: id=host:port,... (e.g. 1=10.0.0.1:7000,2=10.0.0.2:7000,3=10.0.0.3:7000)")
	fs.StringVar(&c.addr, "cluster-addr", "", "inter-broker listen address (host:port); default this node's --peers address")
	fs.BoolVar(&c.quiesce, "cluster-quiesce", true, "let idle partitions' Raft groups stop heartbeating until written to again (saves CPU with many idle partitions); set it alike on every node")
	fs.BoolVar(&c.entriesInWAL, "cluster-entries-in-wal", false, "keep partitions' Raft entries whole in their Raft WALs too, so their data is written twice, as before the partition log was the Raft log's store (for comparing the two; a node may change it between restarts)")
	clusterTLSFlags(fs, &c.tls)
}

// enabled says the broker runs as a cluster node (validate has passed).
func (c *clusterConfig) enabled() bool { return c.peerAddrs != nil }

// listenAddr is where the cluster listener binds.
func (c *clusterConfig) listenAddr() string {
	if c.addr != "" {
		return c.addr
	}
	return c.peerAddrs[c.nodeID]
}

// validate parses --peers and checks the flags together, returning every
// problem.
func (c *clusterConfig) validate() []error {
	c.peerAddrs = nil
	if c.nodeID == 0 && c.peers == "" {
		if c.addr != "" {
			return []error{fmt.Errorf("cluster addr %q needs --node-id and --peers", c.addr)}
		}
		return nil
	}
	var errs []error
	if c.nodeID == 0 {
		errs = append(errs, fmt.Errorf("peers %q need --node-id (this node's ID among them)", c.peers))
	}
	if c.peers == "" {
		errs = append(errs, fmt.Errorf("node id %d needs --peers (every node's id=host:port, this one's included)", c.nodeID))
		return errs
	}
	peers := map[uint64]string{}
	byAddr := map[string]uint64{}
	for entry := range strings.SplitSeq(c.peers, ",") {
		entry = strings.TrimSpace(entry)
		idText, addr, ok := strings.Cut(entry, "=")
		id, err := strconv.ParseUint(idText, 10, 64)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("peers: %q must be id=host:port", entry))
			continue
		case err != nil || id == 0:
			errs = append(errs, fmt.Errorf("peers: %q: the ID must be a number from 1", entry))
			continue
		case peers[id] != "":
			errs = append(errs, fmt.Errorf("peers: node %d named twice", id))
			continue
		}
		if err := checkPeerAddr(addr); err != nil {
			errs = append(errs, fmt.Errorf("peers: node %d: %v", id, err))
			continue
		}
		if other, dup := byAddr[addr]; dup {
			errs = append(errs, fmt.Errorf("peers: nodes %d and %d have the same address %s", other, id, addr))
			continue
		}
		peers[id], byAddr[addr] = addr, id
	}
	if c.nodeID != 0 && len(errs) == 0 && peers[c.nodeID] == "" {
		ids := make([]string, 0, len(peers))
		for id := range peers {
			ids = append(ids, strconv.FormatUint(id, 10))
		}
		slices.Sort(ids)
		errs = append(errs, fmt.Errorf("node id %d is not among the peers (%s): --peers must include this node", c.nodeID, strings.Join(ids, ", ")))
	}
	if c.addr != "" {
		if err := checkClusterAddr(c.addr); err != nil {
			errs = append(errs, fmt.Errorf("cluster addr: %v", err))
		}
	}
	if len(errs) == 0 {
		c.peerAddrs = peers
	}
	return errs
}

// checkPeerAddr accepts a --peers address: a listen address
// (checkClusterAddr) that the other nodes can dial, so its host can be
// neither empty nor every interface. Such a host was taken: the other
// nodes then dialled their own machine, and the node registered its HTTP
// and Kafka listeners under that host, so clients sent to it by a
// redirect or by Metadata dialled theirs.
func checkPeerAddr(addr string) error {
	if err := checkClusterAddr(addr); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("%q: the host must be one the other nodes can dial, not every interface (to listen on every interface, add --cluster-addr 0.0.0.0:PORT)", addr)
	}
	return nil
}

// checkClusterAddr accepts host:port with a fixed port: the other nodes
// must know where to dial, so port 0 cannot be.
func checkClusterAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q must be host:port: %v", addr, err)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("%q: port %q must be a number from 1 to 65535 (other nodes dial it)", addr, port)
	}
	return nil
}
