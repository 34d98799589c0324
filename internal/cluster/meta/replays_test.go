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
// cluster); each replacement counts the version up, snapshots keep it.
func TestSetReplaysComparesTheVersion(t *testing.T) {
	s := New()
	register(t, s, 1, 2, 3)
	apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "o.dlq", ID: TopicID{1}, Partitions: 1, ReplicationFactor: 3}})
	v := func(n uint64) *uint64 { return &n }
	for i, c := range []struct {
		expect  *uint64
		want    error
		version uint64
	}{
		{v(1), ErrReplaysChanged, 0}, // nothing set yet: version 0
		{v(0), nil, 1},
		{v(0), ErrReplaysChanged, 1}, // a second claimant of version 0
		{nil, nil, 2},                // unconditional
		{v(2), nil, 3},
		{v(2), ErrReplaysChanged, 3},
	} {
		rec := json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))
		r := apply(t, s, s.Applied()+1, Command{SetReplays: &SetReplays{Name: "o.dlq", ID: TopicID{1}, Replays: rec, Expect: c.expect}})
		tp, _ := s.Topic("o.dlq")
		if !errors.Is(r.Err, c.want) || tp.ReplaysVersion != c.version || (c.want == nil) != (string(tp.Replays) == string(rec)) {
			t.Fatalf("%d: SetReplays expecting %v: %v, version %d, record %s; want %v, version %d", i, c.expect, r.Err, tp.ReplaysVersion, tp.Replays, c.want, c.version)
		}
	}
	restored := testkit.Restored(t, New, testkit.Snap(t, s))
	if tp, _ := restored.Topic("o.dlq"); tp.ReplaysVersion != 3 {
		t.Fatalf("restored version %d, want 3", tp.ReplaysVersion)
	}
	apply(t, s, s.Applied()+1, Command{DeleteTopic: &DeleteTopic{Name: "o.dlq"}})
	apply(t, s, s.Applied()+1, Command{CreateTopic: &CreateTopic{Name: "o.dlq", ID: TopicID{2}, Partitions: 1, ReplicationFactor: 3}})
	if tp, _ := s.Topic("o.dlq"); tp.ReplaysVersion != 0 {
		t.Fatalf("a DLQ created again inherits the version %d", tp.ReplaysVersion)
	}
}
