package multiraft_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/abd-ulbasit/goqueue/internal/cluster/multiraft"
	"github.com/abd-ulbasit/goqueue/internal/cluster/vfs"
)

// A leader's Led shows its term, commit and its own match; RemoveGroup
// stops the group (proposals then name it unknown) and deletes its
// directory, and removes the directory of a group not hosted too.
func TestLedAndRemoveGroup(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	h, err := multiraft.New(multiraft.Config{NodeID: 1, FS: vfs.OS{}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []uint64{3, 4} {
		if err := h.AddGroup(g, []uint64{1}, &kv{node: 1, group: g, ledger: newLedger(func() int64 { return 0 })}); err != nil {
			t.Fatal(err)
		}
	}
	n := multiraft.NewNode(h, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error)
	go func() { done <- n.Run(ctx, loopback{}) }()
	if err := n.Campaign(ctx, 3); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := n.Propose(ctx, 3, []byte("p a 1"))
		var nl *multiraft.NotLeaderError
		if errors.As(err, &nl) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	led, err := n.Led(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l, ok := led[3]
	if _, other := led[4]; !ok || other || len(l.Voters) != 1 || l.Voters[0].ID != 1 || l.Voters[0].Match < l.Commit || l.Term == 0 {
		t.Fatalf("led %+v", led)
	}
	if err := n.RemoveGroup(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Propose(ctx, 3, []byte("p a 2")); !errors.Is(err, multiraft.ErrUnknownGroup) {
		t.Fatalf("propose to a removed group: %v", err)
	}
	// The node's reconfiguration pass may still name a group removed
	// since it listed them (a topic deleted): skipped, not an error.
	if err := n.Reconfigure(ctx, map[uint64][]uint64{3: {1}, 4: {1}}); err != nil {
		t.Fatalf("reconfigure naming a removed group: %v", err)
	}
	stale := filepath.Join(dir, "g9") // left by a group this node no longer opens
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := n.RemoveGroup(ctx, 9); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"g3", "g9"} {
		if _, err := os.Stat(filepath.Join(dir, g)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: %v", g, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "g4")); err != nil {
		t.Fatalf("g4 removed too: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
