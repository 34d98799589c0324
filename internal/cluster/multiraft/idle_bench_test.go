package multiraft_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/raftsim"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// BenchmarkIdleGroups measures what idle groups cost once elected: one op
// is one Raft tick of all three nodes (100 ms of a real cluster), with the
// messages it causes delivered and processed, no fsync (vfs.Mem).
func BenchmarkIdleGroups(b *testing.B) {
	for _, q := range []bool{false, true} {
		for _, n := range []int{10, 100, 1000} {
			benchIdle(b, n, q)
		}
	}
}

func benchIdle(b *testing.B, n int, quiesce bool) {
	b.Run(fmt.Sprintf("quiesce=%v/groups=%d", quiesce, n), func(b *testing.B) {
		groups := make([]uint64, n)
		for i := range groups {
			groups[i] = uint64(i + 1)
		}
		c, err := raftsim.New(rand.New(rand.NewPCG(1, 1)), raftsim.Options{
			Nodes: 3, Groups: groups,
			NewStateMachine: func(node, group uint64, _ vfs.FS) multiraft.StateMachine {
				return &kv{node: node, group: group, ledger: newLedger(func() int64 { return 0 })}
			},
			Faults: raftsim.Faults{MinDelay: 1, MaxDelay: 1},
			// The production timing: a heartbeat every 2 ticks.
			Host: multiraft.Config{ElectionTicks: 20, HeartbeatTicks: 2, Quiesce: quiesce},
		})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := converge(c, groups); err != nil {
			b.Fatal(err)
		}
		if err := c.Run(100); err != nil { // time to quiesce
			b.Fatal(err)
		}
		sent := c.Net.Sent
		b.ResetTimer()
		for b.Loop() {
			if err := c.Run(10); err != nil { // TickEvery units
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(c.Net.Sent-sent)/float64(b.N), "msgs/tick")
	})
}
