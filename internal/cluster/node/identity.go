package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
)

// A node's Raft identity. Every replica this node runs, in every group, is
// multiraft.ReplicaID(node ID, generation). The generation is in the
// genFile beside the Raft state and changes only when that state is gone:
// a node that finds no Raft state cannot tell a new cluster from a disk
// that was lost or replaced, and in the second case it must not speak under
// its old identity (it forgot its votes and the entries it acknowledged,
// so it could help elect a leader missing acknowledged writes). So it asks
// its peers (settle):
//
//   - if any peer has been part of a running cluster (its metadata group
//     left term 0), that peer has the metadata give this node a new
//     generation (meta.Rejoin) and answers it: the node joins every group as
//     a new replica, which the groups' leaders add as learners, catch up by
//     snapshot (a partition's learner copies the leader's commitlog) and
//     promote while removing the forgotten replica (reconfigure, and
//     multiraft.Reconfigure);
//   - if every peer answers that it has never been in a running cluster
//     either (or has no state at all), no vote or acknowledgement of this
//     node's can matter — anyone it voted for, or acknowledged entries to,
//     would have a term above 0 — so it starts the metadata group's
//     first configuration with generation 0, as in a cluster's first start.
//
// Until one of these happens (peers down) the node waits: a cluster whose
// first start lacks a node, and a wiped node whose peers are unreachable,
// both wait for them rather than guess.

// genFile holds the node's replica generation; written once it is settled,
// before any group starts.
const genFile = "raft-gen"

// readGen returns the generation recorded in dir, or false when the node
// has no Raft state yet. A directory written before generations existed
// (the metadata group's store is there, the file is not) is generation 0.
func readGen(dir string) (uint64, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, genFile))
	if err == nil {
		gen, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("cluster: %s: %w", filepath.Join(dir, genFile), err)
		}
		return gen, true, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return 0, false, fmt.Errorf("cluster: %w", err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, fmt.Sprintf("g%d", meta.GroupID)))
	if err == nil && len(ents) > 0 {
		return 0, true, writeFileSynced(filepath.Join(dir, genFile), []byte("0\n"))
	}
	return 0, false, nil
}

// self is this node's replica ID in every group.
func (n *Node) self() uint64 { return multiraft.ReplicaID(n.cfg.ID, n.gen.Load()) }

// replicaIDs are the Raft IDs of nodes at gens (nil gens: all 0).
func replicaIDs(nodes, gens []uint64) []uint64 {
	out := make([]uint64, len(nodes))
	for i, id := range nodes {
		var gen uint64
		if i < len(gens) {
			gen = gens[i]
		}
		out[i] = multiraft.ReplicaID(id, gen)
	}
	return out
}

// bootVoters is the first configuration of a group whose first voters are
// ids at gens, if this node's replica is among them; nil when it must join
// the group instead (its replica is of a later generation).
func (n *Node) bootVoters(ids, gens []uint64) []uint64 {
	voters := replicaIDs(ids, gens)
	if !slices.Contains(voters, n.self()) {
		return nil
	}
	return voters
}

// startMeta starts this node's replica of the metadata group through add
// (the host's AddReplica before Run, the running node's after): the first
// configuration is every peer at generation 0.
func (n *Node) startMeta(add func(id, self uint64, voters []uint64, sm multiraft.StateMachine) error) error {
	if err := add(meta.GroupID, n.self(), n.bootVoters(n.peerIDs(), nil), n.meta); err != nil {
		return fmt.Errorf("cluster: open the metadata group in %s: %w", n.cfg.Dir, err)
	}
	n.seeLeader() // leaderWait counts from here
	n.settled.Store(true)
	return nil
}

func (n *Node) peerIDs() []uint64 {
	ids := make([]uint64, 0, len(n.cfg.Peers))
	for id := range n.cfg.Peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// joinRequest asks a peer whether a cluster is running and, if so, for a
// new generation for the caller (see the comment at the top).
type joinRequest struct {
	Boot uint64 `json:"boot"`
}

// settleEvery spaces the rounds of questions while the answer is unclear.
const settleEvery = 200 * time.Millisecond

// settle finds this node's generation when it has no Raft state, records
// it, and starts the metadata group.
func (n *Node) settle(ctx context.Context) error {
	start := time.Now()
	for round := 0; ; round++ {
		fresh, gen, silent, err := n.askPeers(ctx)
		if err != nil {
			return err
		}
		n.silentPeers.Store(&silent)
		if gen > 0 || fresh == len(n.cfg.Peers)-1 {
			if err := writeFileSynced(filepath.Join(n.cfg.Dir, genFile), []byte(strconv.FormatUint(gen, 10)+"\n")); err != nil {
				return err
			}
			n.gen.Store(gen)
			if gen > 0 {
				n.rejoinFrom = start
				n.log.Warn("cluster: no Raft state on disk but the cluster runs: rejoining as a new replica generation, to be caught up by the others",
					"generation", gen, "waited", time.Since(start).Round(time.Millisecond))
			}
			add := func(id, self uint64, voters []uint64, sm multiraft.StateMachine) error {
				return n.raft.AddReplica(ctx, id, self, voters, sm)
			}
			if err := n.startMeta(add); err != nil {
				return err
			}
			return n.startGroupShards(add)
		}
		if round%25 == 24 {
			n.log.Warn("cluster: no Raft state on disk; waiting for every peer to answer whether a cluster runs",
				"not_answering", n.peerList(silent), "fresh_peers", fresh)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(settleEvery):
		}
	}
}

// askPeers asks every other peer once: how many have never been in a
// running cluster, the generation one of the others obtained for this
// node (0 if none did), and the peers that did not answer (in ID order).
func (n *Node) askPeers(ctx context.Context) (fresh int, gen uint64, silent []uint64, err error) {
	req, err := json.Marshal(request{Join: &joinRequest{Boot: n.boot}})
	if err != nil {
		return 0, 0, nil, err
	}
	for _, id := range n.peerIDs() {
		if id == n.cfg.ID {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		raw, err := n.tr.Call(cctx, id, req)
		cancel()
		var a answer
		if err != nil || json.Unmarshal(raw, &a) != nil {
			silent = append(silent, id)
			continue
		}
		switch {
		case a.Gen > 0:
			return fresh, a.Gen, nil, nil
		case a.Fresh:
			fresh++
		}
	}
	return fresh, 0, silent, nil
}

// peerList names nodes ids with their cluster addresses, for operators:
// "node 2 (10.0.0.2:7000), node 3 (10.0.0.3:7000)".
func (n *Node) peerList(ids []uint64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("node %d (%s)", id, n.cfg.Peers[id])
	}
	return strings.Join(parts, ", ")
}

// serveJoin answers a peer with no Raft state: fresh if this node was
// never in a running cluster, else the generation the metadata gave it.
func (n *Node) serveJoin(ctx context.Context, from uint64, j joinRequest) answer {
	if !n.settled.Load() {
		return answer{Fresh: true}
	}
	st, err := n.raft.Status(ctx, meta.GroupID)
	if err != nil {
		return answer{Retry: err.Error()}
	}
	if st.Term == 0 && n.gen.Load() == 0 {
		// Never campaigned, never heard a leader: nothing anyone
		// acknowledged can depend on the caller's lost state. (A node
		// at a later generation knows a cluster runs, even before its
		// leader has reached it.)
		return answer{Fresh: true}
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	r, err := n.Propose(ctx, meta.Command{Rejoin: &meta.Rejoin{ID: from, Boot: j.Boot}})
	if err == nil && r.Err != nil {
		err = r.Err
	}
	if err != nil {
		return answer{Retry: err.Error()}
	}
	// Applied by the leader; wait until this node applied it too, to read
	// the generation it gave.
	for {
		if g := n.meta.Generation(from); g.Boot == j.Boot {
			n.log.Info("cluster: peer lost its Raft state; it rejoins as a new replica generation", "peer", from, "generation", g.Gen)
			return answer{Gen: g.Gen}
		}
		select {
		case <-ctx.Done():
			return answer{Retry: ctx.Err().Error()}
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// reconfigure has every group this node leads converge to its wanted
// voters: the metadata group to every peer at its current generation, each
// partition's group to its replicas at theirs (multiraft.Reconfigure adds,
// catches up and promotes a rejoined node's new replica and removes its
// forgotten one).
//
// A node that rejoined also watches its own replicas and logs once when it
// is a voter of every group it hosts again, its forgotten replicas removed:
// the end of its catch-up, for operators (and the tests).
func (n *Node) reconfigure(ctx context.Context) {
	rejoined := n.rejoinFrom.IsZero()
	n.everyTick(ctx, func() {
		if !n.settled.Load() {
			return
		}
		if !rejoined && n.rejoinedAlready(ctx) {
			rejoined = true
			lost := n.lostGroups()
			if len(lost) == 0 {
				n.log.Info("cluster: rejoined: a voter of every group it replicates again", "generation", n.gen.Load(),
					"groups", n.hostedGroups(), "took", time.Since(n.rejoinFrom).Round(time.Millisecond))
			} else {
				n.log.Warn("cluster: rejoined: a voter of every group it replicates again but those of lost partitions, which can never have a leader again (PARTITION_LOST: delete and create their topics again)",
					"generation", n.gen.Load(), "groups", n.hostedGroups(), "lost_partitions", lostNames(lost),
					"took", time.Since(n.rejoinFrom).Round(time.Millisecond))
			}
		}
		wants := map[uint64][]uint64{meta.GroupID: n.currentIDs(n.peerIDs())}
		for i, gs := range n.gshards {
			if gs.st != nil {
				wants[groupShardBase+uint64(i)] = n.currentIDs(gs.voters)
			}
		}
		n.pmu.Lock()
		for g, h := range n.parts {
			wants[g] = n.currentIDs(h.replicas)
		}
		n.pmu.Unlock()
		if err := n.raft.Reconfigure(ctx, wants); err != nil && ctx.Err() == nil {
			n.log.Warn("cluster: reconfiguring Raft groups failed", "err", err)
		}
	})
}

// currentIDs are the replica IDs of nodes at their current generations as
// this node's metadata knows them.
func (n *Node) currentIDs(nodes []uint64) []uint64 {
	gens := make([]uint64, len(nodes))
	for i, id := range nodes {
		gens[i] = n.meta.Generation(id).Gen
	}
	return replicaIDs(nodes, gens)
}

// rejoinedAlready reports whether this node's replica is a voter of the
// metadata group and of every partition group the metadata gives it, with
// no other replica of this node left in them; the groups of lost
// partitions (Lost) are left out, as no leader will ever add it there.
func (n *Node) rejoinedAlready(ctx context.Context) bool {
	confs, err := n.raft.Memberships(ctx)
	if err != nil {
		return false
	}
	if n.cfg.Logs != nil && n.hostedGroups() < n.placedGroups() {
		return false // the reconciler has not started them all yet
	}
	self := n.self()
	lost := n.lostGroups()
	for g, cs := range confs {
		if _, ok := lost[g]; ok {
			continue
		}
		if !slices.Contains(cs.GetVoters(), self) || len(cs.GetVotersOutgoing()) > 0 ||
			slices.ContainsFunc(slices.Concat(cs.GetVoters(), cs.GetLearners()), func(id uint64) bool {
				return id != self && multiraft.NodeOf(id) == n.cfg.ID
			}) {
			return false
		}
	}
	return true
}

// lostGroups are the groups of the lost partitions this node hosts (see
// Lost), each with its "topic/partition".
func (n *Node) lostGroups() map[uint64]string {
	n.pmu.Lock()
	hosted := make(map[uint64]string, len(n.parts))
	for g, h := range n.parts {
		hosted[g] = fmt.Sprintf("%s/%d", h.topic, h.partition)
	}
	n.pmu.Unlock()
	out := map[uint64]string{}
	for _, tp := range n.meta.Topics() {
		for _, p := range tp.Partitions {
			if name, ok := hosted[p.Group]; ok && n.meta.Lost(p) != nil {
				out[p.Group] = name
			}
		}
	}
	return out
}

// lostNames are lostGroups' partitions, sorted, for a log line.
func lostNames(lost map[uint64]string) string {
	names := slices.Sorted(maps.Values(lost))
	return strings.Join(names, ", ")
}

// hostedGroups is how many Raft groups this node runs: the metadata's and
// its partitions'.
func (n *Node) hostedGroups() int {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	return 1 + len(n.parts)
}

// placedGroups is how many groups the metadata has this node replicate.
func (n *Node) placedGroups() int {
	count := 1
	for _, tp := range n.meta.Topics() {
		for _, p := range tp.Partitions {
			if slices.Contains(p.Replicas, n.cfg.ID) {
				count++
			}
		}
	}
	return count
}
