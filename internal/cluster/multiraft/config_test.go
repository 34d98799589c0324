package multiraft_test

import (
	"math"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// The window of appends in flight is checked when the host is made, not
// when raft first refuses it as a group is added, and its default follows
// MaxSizePerMsg without overflowing when that is raft's "no limit".
func TestInflightWindowConfig(t *testing.T) {
	for _, tc := range []struct {
		name         string
		perMsg, wind uint64
		ok           bool
	}{
		{"defaults", 0, 0, true},
		{"default window for a small message", 32 << 10, 0, true},
		{"messages without a limit", math.MaxUint64, 0, true},
		{"window of one message", 1 << 20, 1 << 20, true},
		{"window below one message", 1 << 20, 64 << 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := multiraft.New(multiraft.Config{NodeID: 1, FS: vfs.OS{}, Dir: t.TempDir(),
				MaxSizePerMsg: tc.perMsg, MaxInflightBytes: tc.wind})
			if !tc.ok {
				if err == nil {
					t.Fatal("New took a window below one message")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if err := h.AddGroup(1, []uint64{1}, &kv{node: 1, group: 1, ledger: newLedger(func() int64 { return 0 })}); err != nil {
				t.Fatalf("add a group: %v", err)
			}
		})
	}
}
