package meta

import (
	"encoding/json"
	"errors"
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
	if tp, _ := s.Topic("o.dlq"); tp.Replays != nil {
		t.Fatalf("a DLQ created again inherits the record %s", tp.Replays)
	}
}
