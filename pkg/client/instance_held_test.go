package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/pkg/client"
)

// TestPollReportsAnInstanceHeldByALiveMember: a consumer whose InstanceID
// a live member holds (two processes configured alike) was refused
// DUPLICATE_INSTANCE_ID at every join and tried again for ever: Poll
// returned only its context's error, or never with Background, and the
// user saw nothing. Poll now returns the refusal once the join was refused
// after waiting for the instance as the broker said; once the instance is
// free, the next Poll joins.
func TestPollReportsAnInstanceHeldByALiveMember(t *testing.T) {
	srv, _ := setup(t, "orders", 2)
	cfg := client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "billing", Topics: []string{"orders"},
		InstanceID: "worker-1", SessionTimeout: 3 * time.Second, // the broker's heartbeat interval: 1 s
		// Heartbeats well within the broker's interval: the holder is
		// seen live at every join of the second (heartbeating at the
		// interval, it is not at the moment the broker's hint names).
		HeartbeatInterval: 100 * time.Millisecond,
	}
	holder := newConsumer(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := holder.Poll(ctx, 1); err != nil {
		t.Fatal(err)
	}
	second := newConsumer(t, cfg)
	_, err := second.Poll(ctx, 1)
	if !errors.Is(err, api.ErrDuplicateInstance) {
		t.Fatalf("Poll of a second member of the instance: %v, want DUPLICATE_INSTANCE_ID", err)
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Poll(ctx, 1); err != nil {
		t.Fatalf("Poll once the instance is free: %v", err)
	}
}

// TestCloseEndsAWaitForAnInstance: Close of a consumer whose join waited
// for an instance a live member holds (the broker's hint: up to a
// heartbeat interval, 10 s by default) waited half of CloseTimeout for
// that join to end, as for a join the broker may be applying, although
// the join was only sleeping. It returns at once now.
func TestCloseEndsAWaitForAnInstance(t *testing.T) {
	srv, _ := setup(t, "orders", 1)
	cfg := client.ConsumerConfig{
		Brokers: []string{srv.URL}, GroupID: "billing", Topics: []string{"orders"},
		InstanceID: "worker-1", HeartbeatInterval: 100 * time.Millisecond, // the holder stays live
	}
	holder := newConsumer(t, cfg)
	ctx := context.Background()
	if _, err := holder.Poll(ctx, 1); err != nil {
		t.Fatal(err)
	}
	second := newConsumer(t, cfg)
	pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := second.Poll(pctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Poll: %v, want its context's deadline (the join waits for the instance)", err)
	}
	start := time.Now()
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %v", took)
	}
}
