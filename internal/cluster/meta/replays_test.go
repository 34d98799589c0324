package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/abd-ulbasit/goqueue/internal/testkit"
)

// A DLQ's replay record is kept with its topic: replaced by each
// SetReplays, carried by snapshots, refused for another incarnation of
// the name, without a record or with one too large, and gone with the topic.
func TestSetReplaysKeptWithTheTopic(t *testing.T) {
	s := New()
	register(t, s, 1, 2, 3)
	apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "o.dlq", ID: TopicID{1}, Partitions: 2, ReplicationFactor: 3}})
	for _, rec := range []string{`{"replayed":{"0":[[0,3]]}}`, `{"replayed":{"0":[[0,5]],"1":[[2,3]]}}`} {
		if r := apply(t, s, s.Applied()+1, Command{SetReplays: &SetReplays{Name: "o.dlq", ID: TopicID{1}, Replays: json.RawMessage(rec)}}); r.Err != nil || string(r.Topic.Replays) != rec {
			t.Fatalf("set %s: %+v", rec, r)
		}
	}
	restored := testkit.Restored(t, New, testkit.Snap(t, s))
	if tp, _ := restored.Topic("o.dlq"); string(tp.Replays) != `{"replayed":{"0":[[0,5]],"1":[[2,3]]}}` {
		t.Fatalf("restored record %s", tp.Replays)
	}
	for _, c := range []struct {
		cmd  SetReplays
		want error
	}{
		{SetReplays{Name: "o.dlq", ID: TopicID{2}, Replays: json.RawMessage(`{}`)}, ErrUnknownTopic},
		{SetReplays{Name: "other", Replays: json.RawMessage(`{}`)}, ErrUnknownTopic},
		{SetReplays{Name: "o.dlq", Replays: json.RawMessage(`"` + strings.Repeat("x", maxReplaysBytes) + `"`)}, ErrInvalid},
	} {
		if r := apply(t, s, s.Applied()+1, Command{SetReplays: &c.cmd}); !errors.Is(r.Err, c.want) {
			t.Fatalf("SetReplays %s/%x: %v, want %v", c.cmd.Name, c.cmd.ID[:1], r.Err, c.want)
		}
	}
	if r, _ := s.Apply(s.Applied()+1, []byte(`{"set_replays":{"name":"o.dlq"}}`)).(Result); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("SetReplays without a record: %v", r.Err)
	}
	apply(t, s, s.Applied()+1, Command{DeleteTopic: &DeleteTopic{Name: "o.dlq"}})
	apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "o.dlq", ID: TopicID{2}, Partitions: 2, ReplicationFactor: 3}})
	if tp, _ := s.Topic("o.dlq"); tp.Replays != nil || tp.ReplaysVersion != 0 {
		t.Fatalf("a DLQ created again inherits the record %s (version %d)", tp.Replays, tp.ReplaysVersion)
	}
}

// A SetReplays that expects a version replaces the record only at that
// version (a compare-and-set: a replay's claim, taken once in the
// cluster); each replacement sets the version to its log index, never
// reused, so snapshots keep it and the topic created again under its
// name matches no version of the one deleted.
func TestSetReplaysComparesTheVersion(t *testing.T) {
	s := New()
	register(t, s, 1, 2, 3)
	apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "o.dlq", ID: TopicID{1}, Partitions: 1, ReplicationFactor: 3}})
	var last uint64 // the version as of the last replacement (0: none)
	set := func(expect *uint64) error {
		t.Helper()
		index := s.Applied() + 1
		rec := json.RawMessage(fmt.Sprintf(`{"n":%d}`, index))
		r := apply(t, s, index, Command{SetReplays: &SetReplays{Name: "o.dlq", ID: TopicID{1}, Replays: rec, Expect: expect}})
		tp, _ := s.Topic("o.dlq")
		switch {
		case r.Err == nil && (tp.ReplaysVersion != index || string(tp.Replays) != string(rec)):
			t.Fatalf("SetReplays at %d: version %d, record %s", index, tp.ReplaysVersion, tp.Replays)
		case r.Err == nil:
			last = index
		case tp.ReplaysVersion != last:
			t.Fatalf("a refused SetReplays moved the version to %d", tp.ReplaysVersion)
		}
		return r.Err
	}
	v := func(n uint64) *uint64 { return &n }
	for i, c := range []struct {
		expect func() *uint64
		want   error
	}{
		{func() *uint64 { return v(1) }, ErrReplaysChanged}, // nothing set yet: version 0
		{func() *uint64 { return v(0) }, nil},
		{func() *uint64 { return v(0) }, ErrReplaysChanged}, // a second claimant of version 0
		{func() *uint64 { return nil }, nil},                // unconditional
		{func() *uint64 { return v(last) }, nil},
		{func() *uint64 { return v(last - 1) }, ErrReplaysChanged},
	} {
		if err := set(c.expect()); !errors.Is(err, c.want) {
			t.Fatalf("%d: %v, want %v", i, err, c.want)
		}
	}
	restored := testkit.Restored(t, New, testkit.Snap(t, s))
	if tp, _ := restored.Topic("o.dlq"); tp.ReplaysVersion != last {
		t.Fatalf("restored version %d, want %d", tp.ReplaysVersion, last)
	}
	old := last
	apply(t, s, s.Applied()+1, Command{DeleteTopic: &DeleteTopic{Name: "o.dlq"}})
	apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "o.dlq", ID: TopicID{1}, Partitions: 1, ReplicationFactor: 3}})
	last = 0
	for range 3 {
		if set(v(last)) != nil || last == old {
			t.Fatalf("the DLQ created again: a SetReplays at its version is refused, or took version %d of the one deleted", old)
		}
	}
	if err := set(v(old)); !errors.Is(err, ErrReplaysChanged) {
		t.Fatalf("a version of the DLQ deleted, on the one created again: %v, want ErrReplaysChanged", err)
	}
}
