package broker

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log sink safe for the broker's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

// Group changes are logged once each, with the rebalance reason; repeated
// heartbeats log nothing.
func TestGroupChangesAreLoggedOnce(t *testing.T) {
	var logs lockedBuffer
	cfg := testConfig(t)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	b := mustOpen(t, cfg)
	defer b.Close()
	if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	j, err := b.JoinGroup("billing", JoinParams{MemberID: "a", Topics: []string{"orders"}}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := b.Heartbeat("billing", HeartbeatParams{MemberID: j.MemberID, Generation: j.Generation,
			Owned: j.Assigned}, "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.LeaveGroup("billing", j.MemberID); err != nil {
		t.Fatal(err)
	}
	reb := logs.lines("msg=\"group rebalance\"")
	if len(reb) != 2 || !strings.Contains(reb[0], "reason=member_joined") || !strings.Contains(reb[1], "reason=member_left") {
		t.Errorf("rebalance lines:\n%s", strings.Join(reb, "\n"))
	}
	all := logs.lines("group=billing")
	if len(all) > 4 {
		t.Errorf("%d lines for one join, 5 heartbeats and a leave:\n%s", len(all), strings.Join(all, "\n"))
	}
}
