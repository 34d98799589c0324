package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/cluster/meta"
	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// reconciled waits until every running node sees exactly want as the
// voters of each of groups, with no learner and no joint configuration.
func (c *replicaCluster) reconciled(ctx context.Context, groups, want []uint64) {
	c.t.Helper()
	want = slices.Sorted(slices.Values(want))
	for {
		ok, seen := true, ""
		for i, nd := range c.nodes {
			if c.stops[i] == nil {
				continue
			}
			for _, g := range groups {
				cs, err := nd.raft.Membership(ctx, g)
				if err != nil {
					ok, seen = false, err.Error()
					continue
				}
				if !slices.Equal(slices.Sorted(slices.Values(cs.GetVoters())), want) || len(cs.GetLearners()) > 0 || len(cs.GetVotersOutgoing()) > 0 {
					ok, seen = false, cs.String()
				}
			}
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("groups %v never reconciled to voters %v: %s", groups, want, seen)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A directory holding Raft state written before generations existed is
// generation 0, and says so from then on; an empty one has no generation
// yet (the node asks its peers).
func TestGenerationOfADirectory(t *testing.T) {
	empty := t.TempDir()
	if _, ok, err := readGen(empty); ok || err != nil {
		t.Fatalf("empty directory: settled %v, %v", ok, err)
	}
	old := t.TempDir()
	if err := os.MkdirAll(filepath.Join(old, "g0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "g0", "snap"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if gen, ok, err := readGen(old); !ok || gen != 0 || err != nil {
			t.Fatalf("directory from before generations: %d %v %v", gen, ok, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(old, genFile)); err != nil || string(b) != "0\n" {
		t.Fatalf("generation file: %q %v", b, err)
	}
}

// A node restarted with an empty disk while its peers are down cannot
// tell a lost disk from a new cluster, so it waits rather than start the
// metadata group under its old identity; once the others are back (and
// can commit), they give it generation 1 and it becomes a voter again.
func TestWipedNodeWaitsForItsPeers(t *testing.T) {
	c, ctx, tp, stop := withTopic(t, 3)
	defer stop()
	acked := vals("a", 5)
	c.appendAll(ctx, tp.Partitions[0].Group, acked...)
	c.stopAll()
	if err := os.RemoveAll(c.dirs[2]); err != nil {
		t.Fatal(err)
	}
	c.start(2)
	time.Sleep(time.Second)
	if c.nodes[2].settled.Load() {
		t.Fatalf("the wiped node settled on generation %d with every peer down", c.nodes[2].gen.Load())
	}
	c.start(0)
	c.start(1)
	c.converged(ctx, acked)
	if g := c.nodes[2].gen.Load(); g != 1 {
		t.Fatalf("generation %d, want 1", g)
	}
	c.reconciled(ctx, []uint64{0, tp.Partitions[0].Group}, []uint64{1, 2, multiraft.ReplicaID(3, 1)})
}

// lockedBuffer collects a node's log lines while the node writes them.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A node with no Raft state whose peers do not answer says which ones it
// waits for, with their addresses, so an operator knows what to start or
// what link to check (it used to say only how many peers were fresh).
func TestSettleWarningNamesSilentPeers(t *testing.T) {
	c := newStoppedCluster(t, commitlog.FsyncInterval, false)
	defer c.stopAll()
	logs := &lockedBuffer{}
	c.logs[0] = logs
	c.start(0)
	// The warning comes every 25 rounds of questions (5 s).
	testkit.EventuallyNil(t, 20*time.Second, func() error {
		for l := range strings.SplitSeq(logs.String(), "\n") {
			if !strings.Contains(l, "waiting for every peer") {
				continue
			}
			for id := uint64(2); id <= 3; id++ {
				if want := fmt.Sprintf("node %d (%s)", id, c.peers[id]); !strings.Contains(l, want) {
					return fmt.Errorf("the warning does not name %s: %s", want, l)
				}
			}
			return nil
		}
		return fmt.Errorf("no warning about the silent peers yet")
	})
}

// With quiescing, the metadata group is quiet between topic changes. Its
// leader's node is killed and started again at once on an empty disk: the
// new process answers the transport's keepalives before the others could
// count it down, and it hosts no replica (it first asks the others for a
// generation, which needs a metadata leader), so no wake note comes from it
// either. The others must see that the process behind the link changed and
// elect; before that they followed the dead replica for ever (CI caught it
// as TestBinaryClusterCatchUpMemory stalling, with quiescing on).
func TestQuietMetadataLeaderWipedAndBackAtOnce(t *testing.T) {
	c := newReplicaCluster(t, commitlog.FsyncInterval, true)
	defer c.stopAll()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFormed(ctx, t, c.nodes, 1)
	lead := c.leader(ctx, meta.GroupID)
	// All three quiet at once, just before the kill: the case is the
	// group quiet under the leader that goes.
	for {
		quiet := 0
		for _, nd := range c.nodes {
			if st, err := nd.raft.Status(ctx, meta.GroupID); err == nil && st.Quiet {
				quiet++
			}
		}
		if quiet == 3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the idle metadata group never quiet on all nodes (%d)", quiet)
		case <-time.After(20 * time.Millisecond):
		}
	}
	c.stop(lead)
	if err := os.RemoveAll(c.dirs[lead]); err != nil {
		t.Fatal(err)
	}
	c.start(lead)
	ctx, cancel = context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	want := []uint64{1, 2, 3}
	want[lead] = multiraft.ReplicaID(uint64(lead+1), 1)
	c.reconciled(ctx, []uint64{meta.GroupID}, want)
}
