package broker

import (
	"errors"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
)

// TopicByID finds a topic created, altered, grown and recovered by the ID
// its config hashes to, and none once it is deleted; a topic created again
// under the same name has a new ID, and the old one names nothing.
func TestTopicByID(t *testing.T) {
	c := testConfig(t)
	b := mustOpen(t, c)
	find := func(id [16]byte, want string) {
		t.Helper()
		got, err := b.TopicByID(id)
		if want == "" {
			if !errors.Is(err, api.ErrTopicNotFound) {
				t.Fatalf("TopicByID(%x) = %q, %v; want TOPIC_NOT_FOUND", id, got, err)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("TopicByID(%x) = %q, %v; want %q", id, got, err, want)
		}
	}
	ti, err := b.CreateTopic(TopicSpec{Name: "a", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateTopic(TopicSpec{Name: "b", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	first := ti.Config.ID()
	find(first, "a")
	if _, err := b.AddPartitions("a", 3); err != nil {
		t.Fatal(err)
	}
	find(first, "a")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = mustOpen(t, c)
	defer func() { b.Close() }()
	find(first, "a")
	if err := b.DeleteTopic("a"); err != nil {
		t.Fatal(err)
	}
	find(first, "")
	b.now = func() time.Time { return time.Now().Add(time.Hour) } // another creation time
	ti, err = b.CreateTopic(TopicSpec{Name: "a", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ti.Config.ID() == first {
		t.Fatal("a topic created again has its old ID")
	}
	find(ti.Config.ID(), "a")
	find(first, "")
}
