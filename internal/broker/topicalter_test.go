package broker

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// Settings changed after creation apply at once and survive a restart;
// bad values are refused as at creation.
func TestAlterTopic(t *testing.T) {
	cfg := testConfig(t)
	b := mustOpen(t, cfg)
	if _, err := b.CreateTopic(TopicSpec{Name: "orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	big := []Message{{Value: make([]byte, 2000), Partition: 0}}
	if _, err := b.Publish("orders", big); err != nil {
		t.Fatal(err)
	}
	info, err := b.AlterTopic("orders", TopicChange{Partitions: 3, Retention: time.Duration(-1) * time.Hour, RetentionBytes: 1 << 20, MaxMessageBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Config; c.Partitions != 3 || c.RetentionHours != -1 || c.RetentionBytes != 1<<20 || c.MaxMessageBytes != 1000 {
		t.Fatalf("altered %+v", c)
	}
	if _, err := b.Publish("orders", big); !errors.Is(err, api.ErrMessageTooLarge) {
		t.Fatalf("a message over the new limit: %v", err)
	}
	for _, bad := range []TopicChange{{}, {Retention: (MaxRetentionHours + 1) * time.Hour}, {MaxMessageBytes: -1}, {Partitions: 2}} {
		if _, err := b.AlterTopic("orders", bad); err == nil {
			t.Errorf("%+v was accepted", bad)
		}
	}
	if _, err := b.AlterTopic("nope", TopicChange{Retention: time.Duration(1) * time.Hour}); !errors.Is(err, api.ErrTopicNotFound) {
		t.Fatalf("unknown topic: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = mustOpen(t, cfg)
	defer b.Close()
	got, err := b.Topic("orders")
	if err != nil {
		t.Fatal(err)
	}
	if c := got.Config; c.Partitions != 3 || c.RetentionHours != -1 || c.RetentionBytes != 1<<20 || c.MaxMessageBytes != 1000 {
		t.Fatalf("after a restart %+v", c)
	}
}

// A topic made under limits since lowered (a higher max partition count)
// still takes an alteration that changes nothing, as it did before the
// check of CheckTopicChange was shared with it; one that changes a
// setting is checked against today's limits, and a retention past the
// longest is refused rather than read as forever (in hours as a
// duration, it overflowed).
func TestAlterTopicUnderLowerLimits(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxPartitions = 16
	b := mustOpen(t, cfg)
	if _, err := b.CreateTopic(TopicSpec{Name: "wide", Partitions: 12}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	cfg.MaxPartitions = 8
	b = mustOpen(t, cfg)
	if _, err := b.AlterTopic("wide", TopicChange{Partitions: 12}); err != nil {
		t.Fatalf("an alteration changing nothing: %v", err)
	}
	if err := b.CheckTopicChange("wide", TopicChange{}); err != nil {
		t.Fatalf("a check of no change: %v", err)
	}
	if err := b.CheckTopicChange("orders", TopicChange{}); !errors.Is(err, api.ErrTopicNotFound) {
		t.Fatalf("a check of an unknown topic: %v", err)
	}
	if err := b.CheckTopicChange("wide", TopicChange{Retention: time.Duration(math.MaxInt64)}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("a retention of the longest duration: %v", err)
	}
}
