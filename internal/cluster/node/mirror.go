package node

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/replica"
)

// A cluster of more nodes than a topic's replication factor has nodes
// that hold no replica of some of its partitions. A consumer group is
// coordinated by the leader of its shard, wherever that is, and the
// coordinator delivers from its own copy of each partition (a follower's
// copy serves on a cluster of three): with an empty log in place of a
// partition it did not replicate, its members were handed the partition
// and got nothing from it, and the group's lag said 0 (five nodes,
// replication factor 3: a group consumed 26 of 50 messages).
//
// So such a node keeps a mirror of each of those partitions: a copy of
// its log fetched from the replicas into the local log, with the same
// offsets and bytes. A mirror votes in nothing and acknowledges nothing —
// the replication factor still counts the copies a write waits for — and
// holds only what a replica's log held, which is committed. It costs the
// partition's data again on this node's disk.
//
// One loop fetches for every mirror, in rounds: each round asks every
// source node once for all the partitions mirrored from it (as Kafka's
// replica fetcher asks a broker for all its partitions at once), at most
// fetchBytes an answer, so a call — a connection of its own — is per
// node, not per partition. A round that brought data is followed by
// another at once; quiet rounds are spaced from mirrorIdleMin up to
// mirrorIdleMax, which is how far a mirror lags after a quiet spell.

// Quiet rounds are spaced from mirrorIdleMin, doubling, up to
// mirrorIdleMax.
const (
	mirrorIdleMin = 5 * time.Millisecond
	mirrorIdleMax = 200 * time.Millisecond
)

// mirrors are the partitions this node mirrors, by Raft group. mu guards
// them and is held while a round appends, so that once stopMirrors
// returns nothing writes to the logs of the groups it stopped.
type mirrors struct {
	mu    sync.Mutex
	parts map[uint64]*mirrored
}

// mirrored is one mirrored partition.
type mirrored struct {
	topic string
	p     meta.Partition
	log   replica.Log
	src   uint64 // the replica fetched from; 0: its leader, as known
}

// keepMirrors mirrors every partition of a topic this node serves and
// holds no replica of, until ctx ends.
func (n *Node) keepMirrors(ctx context.Context) {
	if n.cfg.Logs == nil {
		return
	}
	var wait time.Duration
	var scanned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if time.Since(scanned) >= n.cfg.Tick {
			// Once a tick, not every round: rounds follow each other at
			// once while data flows, and a scan reads every topic.
			n.scanMirrors()
			scanned = time.Now()
		}
		if n.mirrorRound(ctx) {
			wait = 0
		} else {
			wait = min(max(2*wait, mirrorIdleMin), mirrorIdleMax)
		}
	}
}

// scanMirrors starts mirroring the partitions that need it and stops those
// that no longer do (their topic deleted: dropLocal stops them first).
func (n *Node) scanMirrors() {
	want := map[uint64]bool{}
	for _, tp := range n.meta.Topics() {
		if !n.Serves(tp.Name) {
			continue
		}
		for _, p := range tp.Partitions {
			if slices.Contains(p.Replicas, n.cfg.ID) {
				continue
			}
			want[p.Group] = true
			n.mir.mu.Lock()
			if m, ok := n.mir.parts[p.Group]; ok {
				m.p = p // the leader and epoch last recorded, for PartitionLeader
			} else if log, err := n.cfg.Logs.PartitionLog(tp.Name, p.Index); err == nil && log.SetCommitted(log.NextOffset()) == nil {
				// (Failing, the local copy is not made yet: the next
				// scan tries again.) A mirror copies committed batches
				// only: readers see all of it (a partition's log opens
				// held, showing nothing until its owner says).
				if n.mir.parts == nil {
					n.mir.parts = map[uint64]*mirrored{}
				}
				n.mir.parts[p.Group] = &mirrored{topic: tp.Name, p: p, log: log}
			}
			n.mir.mu.Unlock()
		}
	}
	n.mir.mu.Lock()
	for g := range n.mir.parts {
		if !want[g] {
			delete(n.mir.parts, g)
		}
	}
	n.mir.mu.Unlock()
}

// stopMirrors stops mirroring groups; no round writes to their logs once
// it returns.
func (n *Node) stopMirrors(groups []uint64) {
	n.mir.mu.Lock()
	defer n.mir.mu.Unlock()
	for _, g := range groups {
		delete(n.mir.parts, g)
	}
}

// Mirrors reports whether this node mirrors partition of topic.
func (n *Node) Mirrors(topic string, partition int32) bool {
	t, ok := n.meta.Topic(topic)
	if !ok || partition < 0 || int(partition) >= len(t.Partitions) {
		return false
	}
	n.mir.mu.Lock()
	defer n.mir.mu.Unlock()
	_, ok = n.mir.parts[t.Partitions[partition].Group]
	return ok
}

// mirrorRound asks each source node once for what its mirrored partitions
// hold past this node's copies, appends the answers, and reports whether
// any brought data.
func (n *Node) mirrorRound(ctx context.Context) bool {
	type ask struct {
		groups []uint64
		reqs   []fetchRequest
	}
	bySrc := map[uint64]*ask{}
	n.mir.mu.Lock()
	for g, m := range n.mir.parts {
		if m.src == 0 || !slices.Contains(m.p.Replicas, m.src) {
			if m.src, _ = n.PartitionLeader(m.p); !slices.Contains(m.p.Replicas, m.src) {
				m.src = m.p.Replicas[0]
			}
		}
		a := bySrc[m.src]
		if a == nil {
			a = &ask{}
			bySrc[m.src] = a
		}
		a.groups = append(a.groups, g)
		a.reqs = append(a.reqs, fetchRequest{Group: g, From: m.log.NextOffset()})
	}
	n.mir.mu.Unlock()
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := false
	for src, a := range bySrc {
		wg.Go(func() {
			answers, err := n.fetchMirrored(ctx, src, a.reqs)
			n.mir.mu.Lock()
			defer n.mir.mu.Unlock()
			for i, g := range a.groups {
				m, ok := n.mir.parts[g]
				if !ok {
					continue // stopped meanwhile
				}
				perr := err // the call's failure is each partition's
				if perr == nil && i < len(answers) {
					var data bool
					data, perr = n.applyMirrored(m, answers[i])
					if data {
						mu.Lock()
						got = true
						mu.Unlock()
					}
				}
				if perr != nil && ctx.Err() == nil {
					n.log.Debug("cluster: mirroring a partition", "topic", m.topic, "partition", m.p.Index, "from", src, "err", perr)
					m.src = nextReplica(m.p.Replicas, src) // try another replica next round
				}
			}
		})
	}
	wg.Wait()
	return got
}

// applyMirrored appends one fetched answer to m's log; data reports
// whether the log moved.
func (n *Node) applyMirrored(m *mirrored, a answer) (data bool, err error) {
	switch {
	case a.Start > 0 && a.Start > m.log.NextOffset():
		// Retention deleted what comes next on the source: start where
		// it starts.
		return true, m.log.StartAt(a.Start)
	case a.Refused != "":
		return false, errors.New(a.Refused)
	case len(a.Batches) == 0:
		return false, nil
	}
	_, err = m.log.AppendBatches(a.Batches)
	return err == nil, err
}

// fetchMirrored asks node src for the stored batches of several groups
// (serveMirror), one answer each, in order.
func (n *Node) fetchMirrored(ctx context.Context, src uint64, reqs []fetchRequest) ([]answer, error) {
	req, err := json.Marshal(request{Mirror: reqs})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	raw, err := n.tr.Call(ctx, src, req)
	if err != nil {
		return nil, err
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	if a.Refused != "" {
		return nil, errors.New(a.Refused)
	}
	return a.Mirrored, nil
}

// serveMirror answers a mirror round's fetches: each as serveFetch would,
// within fetchBytes for the whole answer (the first ones take it; a
// partition past it is answered empty, and asked again next round).
func (n *Node) serveMirror(reqs []fetchRequest) answer {
	out := make([]answer, len(reqs))
	budget := fetchBytes
	for i, f := range reqs {
		if budget <= 0 {
			break
		}
		out[i] = n.serveFetchMax(f, budget)
		budget -= len(out[i].Batches)
	}
	return answer{Mirrored: out}
}

// nextReplica is the replica after r in replicas, round.
func nextReplica(replicas []uint64, r uint64) uint64 {
	i := slices.Index(replicas, r)
	return replicas[(i+1)%len(replicas)]
}
