package coordinator

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/commitlog"
	"github.com/abd-ulbasit/goqueue/internal/delivery"
)

// The timer loop checkpoints the journal every fsync interval, under
// interval and never alike.
func TestTimerLoopCheckpointsJournal(t *testing.T) {
	for _, fsync := range []commitlog.FsyncPolicy{commitlog.FsyncInterval, commitlog.FsyncNever} {
		t.Run(fsync.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tb := newTestBroker(t, time.Now)
				cfg := testConfig(t, nil)
				cfg.Fsync = fsync
				c := mustOpen(t, cfg, tb)
				defer c.Close()
				tb.createTopic("t", 1)
				tb.publish("t", 0, []byte("0"), []byte("1"), []byte("2"), []byte("3"), []byte("4"))
				j, err := c.JoinGroup("g", JoinParams{Topics: []string{"t"}}, "h")
				if err != nil {
					t.Fatal(err)
				}
				if ds, err := c.Poll(t.Context(), "g", PollParams{MemberID: j.MemberID, Generation: j.Generation}, "h"); err != nil || len(ds) != 5 {
					t.Fatalf("poll: %d messages, %v", len(ds), err)
				}
				if _, err := c.Ack("g", Settle{MemberID: j.MemberID, Generation: j.Generation, Ranges: []OffsetRange{{Topic: "t", From: 0, To: 4}}}, "h"); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() { done <- c.Run(ctx) }()
				st := c.store
				if all, _ := st.Load(); len(all["g"]) != 0 {
					t.Fatalf("acks in offsets.db before a checkpoint: %v", all["g"])
				}
				time.Sleep(cfg.FsyncInterval + time.Millisecond)
				synctest.Wait()
				all, err := st.Load()
				if err != nil {
					t.Fatal(err)
				}
				if so := all["g"][delivery.TP{Topic: "t", Partition: 0}]; so.Committed != 4 {
					t.Fatalf("committed %d in offsets.db after a checkpoint, want 4", so.Committed)
				}
				cancel()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}
