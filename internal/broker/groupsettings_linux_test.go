package broker

import (
	"errors"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// A join that creates a group saves the settings it fixes (assignor,
// offset_reset, delivery settings, the protocol) in meta.db. When that
// write failed (a full disk), the join was answered as a success and the
// failure only logged: the settings applied until a restart, then the
// group came back with the broker's defaults, or not at all. Now the join
// fails with the coded storage error and leaves no group behind; once
// there is room, the same join succeeds and its settings survive a
// restart.
func TestJoinFailsWhenItsSettingsCannotBeSaved(t *testing.T) {
	for _, tc := range []struct {
		name  string
		join  func(b *Broker) (JoinResult, error)
		saved savedSettings
	}{
		{"http", func(b *Broker) (JoinResult, error) {
			return b.JoinGroup("g", JoinParams{Topics: []string{"orders"}, Assignor: api.AssignorRange, MaxRetries: 5}, "h")
		}, savedSettings{Assignor: api.AssignorRange, MaxRetries: 5}},
		{"kip-848", func(b *Broker) (JoinResult, error) {
			return b.JoinConsumerGroup("g", JoinParams{Topics: []string{"orders"}}, "h")
		}, savedSettings{Protocol: ProtocolConsumer}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			b := mustOpen(t, cfg)
			defer func() { b.Close() }()
			if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 1}); err != nil {
				t.Fatal(err)
			}
			var err error
			// meta.db's data pages lie past its first two (meta) pages.
			testkit.WithFileSizeLimit(t, 8192, func() { _, err = tc.join(b) })
			if !errors.Is(err, api.ErrStorageFull) {
				t.Fatalf("join whose settings could not be saved: %v, want STORAGE_FULL", err)
			}
			if _, err := b.DescribeGroup("g"); !errors.Is(err, api.ErrGroupNotFound) {
				t.Fatalf("group after the refused join: %v, want GROUP_NOT_FOUND", err)
			}
			j, err := tc.join(b)
			if err != nil {
				t.Fatalf("join once there is room: %v", err)
			}
			if err := b.LeaveGroup("g", j.MemberID); err != nil {
				t.Fatal(err)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			b = mustOpen(t, cfg)
			if _, err := b.DescribeGroup("g"); err != nil {
				t.Fatalf("group after a restart: %v", err)
			}
			if saved, err := b.meta.groupSettings(); err != nil || saved["g"] != tc.saved {
				t.Fatalf("settings saved: %+v, %v; want %+v", saved["g"], err, tc.saved)
			}
		})
	}
}

// DELETE /groups/{id} on a full disk answered STORAGE_FULL, retriable,
// but the group was gone from memory already: the retry answered
// GROUP_NOT_FOUND, and the next start brought the group back from the
// settings and offsets its deletion never removed. Now a deletion that
// cannot be made durable leaves the group as it was, and its retry
// deletes it for good.
func TestDeleteGroupThatCannotBeSavedKeepsTheGroup(t *testing.T) {
	cfg := testConfig(t)
	b := mustOpen(t, cfg)
	defer func() { b.Close() }()
	if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	j, err := b.JoinGroup("g", JoinParams{Topics: []string{"orders"}, Assignor: api.AssignorRange, MaxRetries: 5}, "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish("orders", []Message{{Value: []byte("x"), Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	if err := b.CommitOffsets("g", CommitParams{MemberID: j.MemberID, Generation: j.Generation, Offsets: Offsets{"orders": {0: 1}}}, "h"); err != nil {
		t.Fatal(err)
	}
	if err := b.LeaveGroup("g", j.MemberID); err != nil {
		t.Fatal(err)
	}
	testkit.WithFileSizeLimit(t, 8192, func() { err = b.DeleteGroup("g") })
	if !errors.Is(err, api.ErrStorageFull) {
		t.Fatalf("deletion on a full disk: %v, want STORAGE_FULL", err)
	}
	if d, err := b.DescribeGroup("g"); err != nil || d.Assignor != api.AssignorRange {
		t.Fatalf("group after the failed deletion: assignor %q, %v; want it as it was", d.Assignor, err)
	}
	if o, err := b.GroupOffsets("g"); err != nil || o["orders"][0] != 1 {
		t.Fatalf("offsets after the failed deletion: %v, %v; want orders/0 at 1", o, err)
	}
	if err := b.DeleteGroup("g"); err != nil {
		t.Fatalf("deletion retried: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = mustOpen(t, cfg)
	if _, err := b.DescribeGroup("g"); !errors.Is(err, api.ErrGroupNotFound) {
		t.Fatalf("group after a restart: %v, want GROUP_NOT_FOUND", err)
	}
}
