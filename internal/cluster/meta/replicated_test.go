package meta_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"testing/cryptotest"

	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/raftsim"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// recorded wraps a Store and records every command applied at every index,
// on every node, so the test can replay the committed log by itself.
type recorded struct {
	*meta.Store
	log      map[uint64][]byte // shared by all nodes
	problems *[]string
}

func (r recorded) Apply(index uint64, cmd []byte) any {
	if prev, ok := r.log[index]; ok && string(prev) != string(cmd) {
		*r.problems = append(*r.problems, fmt.Sprintf("index %d applied as %s and %s", index, prev, cmd))
	}
	r.log[index] = slices.Clone(cmd)
	return r.Store.Apply(index, cmd)
}

func seeds() []uint64 {
	if v, err := strconv.ParseUint(os.Getenv("GOQUEUE_SIM_SEED"), 10, 64); err == nil {
		return []uint64{v}
	}
	n := 3
	if v, err := strconv.Atoi(os.Getenv("GOQUEUE_SIM_SEEDS")); err == nil && v > 0 {
		n = v
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

// TestReplicatedMetadata runs the metadata group on 3 nodes through dropped,
// delayed and duplicated messages, cut links and crashes while commands are
// proposed; after healing, every replica's state is byte for byte the state
// of the committed log applied in order by a fresh store.
func TestReplicatedMetadata(t *testing.T) {
	for _, seed := range seeds() {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, seed)
			if err := runMeta(seed); err != nil {
				t.Fatalf("seed %d: %v (rerun: GOQUEUE_SIM_SEED=%d go test -run TestReplicatedMetadata ./internal/cluster/meta/)", seed, err, seed)
			}
		})
	}
}

func runMeta(seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 3))
	log := map[uint64][]byte{}
	var problems []string
	c, err := raftsim.New(rng, raftsim.Options{
		Nodes: 3, Groups: []uint64{meta.GroupID},
		NewStateMachine: func(node, group uint64, _ vfs.FS) multiraft.StateMachine {
			return recorded{Store: meta.New(), log: log, problems: &problems}
		},
		Faults: raftsim.Faults{Drop: 0.05, Duplicate: 0.03, MinDelay: 1, MaxDelay: 20, LongDelay: 0.02},
		Host:   multiraft.Config{ElectionTicks: 10, HeartbeatTicks: 1, SnapshotEvery: 15, SnapshotKeep: 3},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	var created []string
	registered := 0 // nodes 1..registered are known: a cluster registers its nodes first
	pending := false
	for c.Now < 8000 {
		if !pending && rng.IntN(10) == 0 {
			var cmd meta.Command
			switch k := rng.IntN(10); {
			case registered < 3:
				cmd.RegisterNode = &meta.RegisterNode{ID: uint64(registered + 1), Addr: "first"}
			case k < 2:
				cmd.RegisterNode = &meta.RegisterNode{ID: uint64(rng.IntN(3) + 1), Addr: fmt.Sprintf("n%d", rng.IntN(100))}
			case k < 7:
				id, _ := meta.NewTopicID()
				cmd.CreateTopic = &meta.CreateTopic{Name: fmt.Sprintf("t%d", rng.IntN(20)), ID: id, Partitions: 1 + rng.IntN(6), ReplicationFactor: 1 + rng.IntN(3)}
			case k < 8 && len(created) > 0:
				cmd.DeleteTopic = &meta.DeleteTopic{Name: created[rng.IntN(len(created))]}
			case len(created) > 0:
				cmd.AddPartitions = &meta.AddPartitions{Name: created[rng.IntN(len(created))], Count: 1 + rng.IntN(10)}
			}
			b, _ := cmd.Encode()
			pending = true
			c.Propose(max(c.Leader(meta.GroupID), 1), meta.GroupID, b, func(r multiraft.Result) {
				pending = false
				if r.Err == nil && cmd.RegisterNode != nil && cmd.RegisterNode.Addr == "first" {
					registered++
				}
				if res, ok := r.Value.(meta.Result); ok && res.Topic != nil && cmd.CreateTopic != nil {
					created = append(created, res.Topic.Name)
				}
			})
		}
		if c.Now%200 == 0 {
			id := uint64(rng.IntN(3) + 1)
			switch rng.IntN(5) {
			case 0:
				c.Net.Isolate(id, c.IDs())
			case 1:
				c.Net.Heal()
			case 2:
				c.Crash(id)
			default:
				for _, n := range c.IDs() {
					_ = c.Restart(n)
				}
			}
		}
		if err := c.Step(); err != nil {
			return err
		}
	}
	c.Net.Heal()
	c.Net.SetFaults(raftsim.Faults{MinDelay: 1, MaxDelay: 5})
	for _, n := range c.IDs() {
		if err := c.Restart(n); err != nil {
			return err
		}
	}
	for deadline := c.Now + 30000; !c.Converged(meta.GroupID); {
		if c.Now > deadline {
			return errors.New("no convergence after healing")
		}
		if err := c.Step(); err != nil {
			return err
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%v", problems)
	}
	// Replay the committed log, in index order, on a fresh store.
	ref := meta.New()
	applied := c.Node(1).SMs[meta.GroupID].(recorded).Applied()
	idx := slices.Sorted(func(yield func(uint64) bool) {
		for i := range log {
			if i <= applied && !yield(i) {
				return
			}
		}
	})
	for _, i := range idx {
		ref.Apply(i, log[i])
	}
	want, _ := ref.Snapshot()
	for _, n := range c.Nodes {
		got, _ := n.SMs[meta.GroupID].(recorded).Snapshot()
		if string(got) != string(want) {
			return fmt.Errorf("node %d state differs from the replayed log:\n%s\n%s", n.ID, got, want)
		}
	}
	if len(ref.Topics()) == 0 {
		return errors.New("no topic was created: the run proved nothing")
	}
	return nil
}
