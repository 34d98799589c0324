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
