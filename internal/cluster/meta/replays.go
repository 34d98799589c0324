package meta

import (
	"encoding/json"
	"errors"
	"fmt"
)

// A DLQ replay publishes dead letters again and records which ones it
// replayed, so that the next replay skips them (broker.ReplayDLQ). A
// single broker keeps that record in its meta.db; a DLQ that is a topic
// of the cluster keeps it here, with the topic, so that a replay on any
// node sees what replays on the others did, the record outlives the node
// that wrote it, and it goes with the topic (a DLQ purged, then created
// again by the next dead letter, starts with nothing replayed). The
// metadata never reads the record: its format is the broker's. Each
// replacement sets the topic's ReplaysVersion to the log index it was
// applied at, which a SetReplays may expect (a compare-and-set): so the
// broker claims a replay in the record, once for the whole cluster, and
// two nodes never both replay. An index is never reused, so a version of
// a topic purged meanwhile matches no version of the topic created again.

// SetReplays replaces the replay record of topic Name. ID, if set, must be
// the topic's, so a record is never given to a topic created again.
// Expect, if set, must be the topic's ReplaysVersion (0: never set), else
// the record is left as it is (ErrReplaysChanged).
type SetReplays struct {
	Name    string          `json:"name"`
	ID      TopicID         `json:"id,omitzero"`
	Replays json.RawMessage `json:"replays"`
	Expect  *uint64         `json:"expect,omitempty"`
}

// ErrReplaysChanged refuses a SetReplays whose Expect is not the topic's
// ReplaysVersion: another SetReplays replaced the record since the
// proposer read it.
var ErrReplaysChanged = errors.New("meta: the replay record changed")

// maxReplaysBytes bounds a record. Replayed offsets are kept as ranges,
// so a record stays small unless replays filtered by group or reason
// left many holes; past this size a replay is refused rather than make
// every metadata snapshot carry it.
const maxReplaysBytes = 4 << 20

func (s *Store) setReplaysLocked(r SetReplays) Result {
	t, err := s.topicLocked(r.Name, r.ID)
	if err != nil {
		return Result{Err: err}
	}
	if len(r.Replays) > maxReplaysBytes || !json.Valid(r.Replays) {
		return Result{Err: fmt.Errorf("%w: replay record of %q (%d bytes) is not JSON or is larger than %d bytes", ErrInvalid, r.Name, len(r.Replays), maxReplaysBytes)}
	}
	if r.Expect != nil && *r.Expect != t.ReplaysVersion {
		return Result{Err: fmt.Errorf("%w: %q is at version %d, not %d", ErrReplaysChanged, r.Name, t.ReplaysVersion, *r.Expect)}
	}
	t.Replays = r.Replays
	t.ReplaysVersion = s.d.Applied
	out := t.clone()
	return Result{Topic: &out}
}
