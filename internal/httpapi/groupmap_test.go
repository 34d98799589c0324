package httpapi

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// wantField checks that err is code with details naming field.
func wantField(t *testing.T, name string, err error, code *api.Error, field string) {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) || !errors.Is(err, code) {
		t.Fatalf("%s: %v, want %s", name, err, code.Code)
	}
	if ae.Details["field"] != field {
		t.Errorf("%s: details %v, want field %q", name, ae.Details, field)
	}
}

// The wire checks of group bodies name the JSON field, in milliseconds;
// the broker never sees a body that fails them.
func TestGroupBodyFieldErrors(t *testing.T) {
	const minSession, maxSession, maxRebalance = time.Second, 5 * time.Minute, 5 * time.Minute
	for _, c := range []struct {
		name  string
		err   error
		code  *api.Error
		field string
	}{
		{"max_retries", second(joinParams(api.JoinRequest{MaxRetries: -2}, minSession, maxSession, maxRebalance)), api.ErrInvalidArgument, "max_retries"},
		{"max_in_flight", second(joinParams(api.JoinRequest{MaxInFlight: -1}, minSession, maxSession, maxRebalance)), api.ErrInvalidArgument, "max_in_flight"},
		{"visibility", second(joinParams(api.JoinRequest{VisibilityTimeoutMS: math.MaxInt64}, minSession, maxSession, maxRebalance)), api.ErrInvalidArgument, "visibility_timeout_ms"},
		{"session", second(joinParams(api.JoinRequest{SessionTimeoutMS: 1e13}, minSession, maxSession, maxRebalance)), api.ErrInvalidTimeout, "session_timeout_ms"},
		{"negative session", second(joinParams(api.JoinRequest{SessionTimeoutMS: -1}, minSession, maxSession, maxRebalance)), api.ErrInvalidTimeout, "session_timeout_ms"},
		{"short session", second(joinParams(api.JoinRequest{SessionTimeoutMS: 500}, minSession, maxSession, maxRebalance)), api.ErrInvalidTimeout, "session_timeout_ms"},
		{"rebalance", second(joinParams(api.JoinRequest{RebalanceTimeoutMS: maxRebalance.Milliseconds() + 1}, minSession, maxSession, maxRebalance)), api.ErrInvalidTimeout, "rebalance_timeout_ms"},
		// It was answered as revoked, as if the member could have held it.
		{"owned negative partition", second(heartbeatParams(api.HeartbeatRequest{OwnedPartitions: api.Assignment{"t": {0, -1}}})), api.ErrInvalidArgument, "owned_partitions"},
		{"max_messages", second(pollParams(api.PollRequest{MaxMessages: -1}, time.Minute)), api.ErrInvalidArgument, "max_messages"},
		{"max_bytes", second(pollParams(api.PollRequest{MaxBytes: -1}, time.Minute)), api.ErrInvalidArgument, "max_bytes"},
		{"wait_ms", second(pollParams(api.PollRequest{WaitMS: -1}, time.Minute)), api.ErrInvalidArgument, "wait_ms"},
		{"no messages", second(settleOf(&api.AckRequest{})), api.ErrInvalidArgument, "messages"},
		{"empty range", second(settleOf(&api.AckRequest{Ranges: []api.OffsetRange{{Topic: "t", From: 3, To: 3}}})), api.ErrInvalidArgument, "ranges"},
		{"negative offset", second(settleOf(&api.AckRequest{Messages: []api.MessageRef{{Offset: -1}}})), api.ErrInvalidArgument, "messages"},
		{"delay_ms", second(nackParams(&api.AckRequest{Messages: []api.MessageRef{{Topic: "t"}}, DelayMS: -1})), api.ErrInvalidArgument, "delay_ms"},
		{"release with delay", second(nackParams(&api.AckRequest{Messages: []api.MessageRef{{Topic: "t"}}, Release: true, DelayMS: 5})), api.ErrInvalidArgument, "release"},
		{"extend", second(extendParams(&api.AckRequest{Messages: []api.MessageRef{{Topic: "t"}}, VisibilityTimeoutMS: -1})), api.ErrInvalidArgument, "visibility_timeout_ms"},
		{"commit", second(commitParams(api.CommitOffsetsRequest{})), api.ErrInvalidArgument, "offsets"},
		// It was 404 TOPIC_NOT_FOUND, where a join says INVALID_TOPIC_NAME.
		{"commit bad topic name", second(commitParams(api.CommitOffsetsRequest{Offsets: api.Offsets{"bad name": {0: 1}}})), api.ErrInvalidTopicName, "offsets"},
		// It answered 200 committing nothing, even to an unknown member.
		{"commit no partitions", second(commitParams(api.CommitOffsetsRequest{Offsets: api.Offsets{"orders": {}}})), api.ErrInvalidArgument, "offsets"},
		{"reset to", second(resetParams("g", api.ResetOffsetsRequest{To: "yesterday"})), api.ErrInvalidArgument, "to"},
		{"reset duration", second(resetParams("g", api.ResetOffsetsRequest{To: api.ResetToDuration})), api.ErrInvalidArgument, "duration_ms"},
		// It moved the group to the earliest offset unasked (a user found it).
		{"reset timestamp left out", second(resetParams("g", api.ResetOffsetsRequest{To: api.ResetToTimestamp})), api.ErrInvalidArgument, "timestamp"},
		{"reset from itself", second(resetParams("g", api.ResetOffsetsRequest{To: api.ResetToGroup, FromGroup: "g"})), api.ErrInvalidArgument, "from_group"},
		// It answered 200 changing nothing, an unknown topic's name too.
		{"reset offsets of no partition", second(resetParams("g", api.ResetOffsetsRequest{To: api.ResetToOffsets, Offsets: api.Offsets{"nope": {}}})), api.ErrInvalidArgument, "offsets"},
		{"reset partitions", second(resetParams("g", api.ResetOffsetsRequest{To: api.ResetToLatest, Partitions: []int32{0}})), api.ErrInvalidArgument, "partitions"},
		// A field of another mode was dropped unread, the reset made anyway.
		{"reset shift to earliest", second(resetParams("g", api.ResetOffsetsRequest{To: api.ResetToEarliest, Shift: 3})), api.ErrInvalidArgument, "shift"},
		{"reset timestamp to duration", second(resetParams("g", api.ResetOffsetsRequest{To: api.ResetToDuration, DurationMS: 5, Timestamp: 9})), api.ErrInvalidArgument, "timestamp"},
		{"reset offsets to latest", second(resetParams("g", api.ResetOffsetsRequest{To: api.ResetToLatest, Offsets: api.Offsets{"t": {0: 1}}})), api.ErrInvalidArgument, "offsets"},
		{"reset from_group to delete", second(resetParams("g", api.ResetOffsetsRequest{To: api.ResetToDelete, Topics: []string{"t"}, FromGroup: "h"})), api.ErrInvalidArgument, "from_group"},
		{"reset duration to shift", second(resetParams("g", api.ResetOffsetsRequest{To: api.ResetToShift, Shift: -1, DurationMS: 5})), api.ErrInvalidArgument, "duration_ms"},
		// Filters that match nothing said "nothing to replay".
		{"replay reason", second(replayParams(api.DLQReplayRequest{Reason: "declined"})), api.ErrInvalidArgument, "reason"},
		{"replay since", second(replayParams(api.DLQReplayRequest{Since: -1})), api.ErrInvalidArgument, "since"},
		{"replay until", second(replayParams(api.DLQReplayRequest{Until: -5})), api.ErrInvalidArgument, "until"},
		{"replay target", second(replayParams(api.DLQReplayRequest{Target: "x", ToTopic: true})), api.ErrInvalidArgument, "target"},
		// These four said "offset, end_offset, max and max_replays must not
		// be negative" without naming the field, as every other one does.
		{"replay offset", second(replayParams(api.DLQReplayRequest{Offset: -1})), api.ErrInvalidArgument, "offset"},
		{"replay end_offset", second(replayParams(api.DLQReplayRequest{EndOffset: -1})), api.ErrInvalidArgument, "end_offset"},
		{"replay max", second(replayParams(api.DLQReplayRequest{Max: -1})), api.ErrInvalidArgument, "max"},
		{"replay max_replays", second(replayParams(api.DLQReplayRequest{MaxReplays: -1})), api.ErrInvalidArgument, "max_replays"},
	} {
		wantField(t, c.name, c.err, c.code, c.field)
	}
	// A name no topic can have: it was 404 TOPIC_NOT_FOUND.
	if err := second(joinParams(api.JoinRequest{Topics: []string{"bad name"}}, minSession, maxSession, maxRebalance)); !errors.Is(err, api.ErrInvalidTopicName) {
		t.Fatalf("join naming topic %q: %v, want INVALID_TOPIC_NAME", "bad name", err)
	}
}

func second[T any](_ T, err error) error { return err }

// Valid bodies become the broker's inputs: milliseconds as durations, a
// delay past broker.MaxDelay held to it, the poll wait to Options.MaxWait.
func TestGroupBodyMapping(t *testing.T) {
	j, err := joinParams(api.JoinRequest{MemberID: "m", Topics: []string{"t"}, SessionTimeoutMS: 6000,
		RebalanceTimeoutMS: 9000, VisibilityTimeoutMS: 1500, MaxRetries: -1, MaxInFlight: 7}, time.Second, time.Minute, time.Minute)
	if err != nil || j.SessionTimeout != 6*time.Second || j.RebalanceTimeout != 9*time.Second ||
		j.VisibilityTimeout != 1500*time.Millisecond || j.MaxRetries != -1 || j.MaxInFlight != 7 {
		t.Fatalf("join: %+v, %v", j, err)
	}
	p, err := pollParams(api.PollRequest{WaitMS: 90_000}, 30*time.Second)
	if err != nil || p.Wait != 30*time.Second {
		t.Fatalf("poll wait past the maximum: %+v, %v", p, err)
	}
	no := false
	n, err := nackParams(&api.AckRequest{Messages: []api.MessageRef{{Topic: "t", Offset: 4}}, Requeue: &no, DelayMS: math.MaxInt64})
	if err != nil || !n.Reject || n.Delay != broker.MaxDelay || n.Messages[0] != (broker.MessageRef{Topic: "t", Offset: 4}) {
		t.Fatalf("nack: %+v, %v", n, err)
	}
	r, err := resetParams("g", api.ResetOffsetsRequest{To: api.ResetToDuration, DurationMS: math.MaxInt64})
	if err != nil || r.To != broker.ResetDuration || r.Ago <= 0 {
		t.Fatalf("reset by a huge duration: %+v, %v", r, err)
	}
	rp, err := replayParams(api.DLQReplayRequest{Since: 1000})
	if err != nil || !rp.Since.Equal(time.UnixMilli(1000)) || !rp.Until.IsZero() {
		t.Fatalf("replay: %+v, %v", rp, err)
	}
}

// A partial ack's error carries its result as the wire's AckResponse.
func TestSettleErrorResult(t *testing.T) {
	res := broker.SettleResult{Succeeded: 1, Failed: []broker.SettleFailure{{MessageRef: broker.MessageRef{Topic: "t"}, Err: api.ErrNotInFlight}}}
	err := settleError(api.ErrNotInFlight.Withf("x").WithDetail("result", res))
	var ae *api.Error
	if !errors.As(err, &ae) {
		t.Fatal(err)
	}
	got, ok := ae.Details["result"].(api.AckResponse)
	if !ok || got.Succeeded != 1 || len(got.Failed) != 1 || got.Failed[0].Error != api.ErrNotInFlight {
		t.Fatalf("result %#v", ae.Details["result"])
	}
}

// Topic bodies: the wire fields are checked here by name; retention hours
// and segment milliseconds become durations.
func TestTopicBodyMapping(t *testing.T) {
	for _, c := range []struct {
		name  string
		req   api.CreateTopicRequest
		field string
	}{
		{"retention", api.CreateTopicRequest{Name: "t", RetentionHours: -7}, "retention_hours"},
		{"retention bytes", api.CreateTopicRequest{Name: "t", RetentionBytes: -2}, "retention_bytes"},
		{"segment bytes", api.CreateTopicRequest{Name: "t", SegmentBytes: 1}, "segment_bytes"},
		{"segment ms", api.CreateTopicRequest{Name: "t", SegmentMS: 1}, "segment_ms"},
		{"max message bytes", api.CreateTopicRequest{Name: "t", MaxMessageBytes: -1}, "max_message_bytes"},
		{"fsync", api.CreateTopicRequest{Name: "t", Fsync: "sometimes"}, "fsync"}, // the broker's refusal named no field
	} {
		wantField(t, c.name, second(TopicSpec(c.req)), api.ErrInvalidArgument, c.field)
	}
	s, err := TopicSpec(api.CreateTopicRequest{Name: "t", RetentionHours: -1, SegmentMS: 120_000})
	if err != nil || s.Retention >= 0 || s.SegmentAge != 2*time.Minute {
		t.Fatalf("spec %+v, %v", s, err)
	}
	if _, err := topicChange(api.AlterTopicRequest{}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("empty alter: %v", err)
	}
	ch, err := topicChange(api.AlterTopicRequest{RetentionHours: 3})
	if err != nil || ch.Retention != 3*time.Hour {
		t.Fatalf("alter %+v, %v", ch, err)
	}
}

// The wire tells the two apart and the broker gets them apart: an absent
// or null owned_partitions is nil (release nothing), {} an empty non-nil
// map (release everything).
func TestHeartbeatOwnedDecoding(t *testing.T) {
	for body, wantNil := range map[string]bool{
		`{"member_id":"a","generation":1}`:                             true,
		`{"member_id":"a","generation":1,"owned_partitions":null}`:     true,
		`{"member_id":"a","generation":1,"owned_partitions":{}}`:       false,
		`{"member_id":"a","generation":1,"owned_partitions":{"t":[]}}`: false,
	} {
		var req api.HeartbeatRequest
		if err := json.Unmarshal([]byte(body), &req); err != nil {
			t.Fatal(err)
		}
		if p, err := heartbeatParams(req); err != nil || (p.Owned == nil) != wantNil {
			t.Errorf("%s: Owned = %#v, %v, want nil %v", body, p.Owned, err, wantNil)
		}
	}
	p, err := heartbeatParams(api.HeartbeatRequest{MemberID: "a", Seq: 7})
	if err != nil || p.Seq != 7 {
		t.Errorf("seq 7: %+v, %v", p, err)
	}
	if _, err := heartbeatParams(api.HeartbeatRequest{MemberID: "a", Seq: -1}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Errorf("seq -1: %v, want INVALID_ARGUMENT", err)
	}
}

// A session timeout out of bounds is refused naming the same bounds
// whichever side it is on: above them the wire check said min 0, below
// them the group's check min 1000 (found by a helper).
func TestSessionBoundsNamedAlike(t *testing.T) {
	for _, ms := range []int64{500, 1e13} {
		_, err := joinParams(api.JoinRequest{SessionTimeoutMS: ms}, time.Second, 5*time.Minute, time.Minute)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Details["min"] != int64(1000) || ae.Details["max"] != int64(300000) {
			t.Fatalf("session_timeout_ms %d: %v (details %v), want min 1000 and max 300000", ms, err, ae)
		}
	}
}
