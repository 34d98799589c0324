package httpapi

import (
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/assign"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// The consumer-group resource's wire mapping: each request body is checked
// field by field here (names, millisecond ranges, required fields), with
// errors that name the JSON field, then becomes the broker's input; each
// broker result becomes its JSON answer. The broker checks the domain
// values again, in its own words, for every front end.

// invalidField is an INVALID_ARGUMENT about one JSON field.
func invalidField(field, format string, args ...any) *api.Error {
	return api.ErrInvalidArgument.Withf(format, args...).WithDetail("field", field)
}

// checkedMS converts field's v milliseconds, 0 (the default) or within
// lo..hi, refusing any other count with bad (INVALID_TIMEOUT or
// INVALID_ARGUMENT) whose details name the field and the bounds in ms, the
// same whichever side v is on.
func checkedMS(field string, v int64, lo, hi time.Duration, bad *api.Error) (time.Duration, error) {
	if v < 0 || v > hi.Milliseconds() || v != 0 && v < lo.Milliseconds() {
		e := bad.Withf("%s %d is outside %d..%d", field, v, lo.Milliseconds(), hi.Milliseconds())
		if lo > 0 {
			e = bad.Withf("%s %d is outside %d..%d (or 0: the broker's default)", field, v, lo.Milliseconds(), hi.Milliseconds())
		}
		return 0, e.WithDetail("field", field).WithDetail("min", lo.Milliseconds()).WithDetail("max", hi.Milliseconds())
	}
	return time.Duration(v) * time.Millisecond, nil
}

// delayMS converts a delay field's v milliseconds, refusing a negative
// count. A count above broker.MaxDelay saturates at it, so no field can
// overflow into a negative or wrapped duration.
func delayMS(field string, v int64) (time.Duration, error) {
	if v < 0 {
		return 0, invalidField(field, "%s %d is negative", field, v)
	}
	if v > broker.MaxDelay.Milliseconds() {
		return broker.MaxDelay, nil
	}
	return time.Duration(v) * time.Millisecond, nil
}

// joinParams checks a join body against the broker's timeout bounds.
func joinParams(req api.JoinRequest, minSession, maxSession, maxRebalance time.Duration) (broker.JoinParams, error) {
	switch {
	case req.MaxRetries < -1:
		return broker.JoinParams{}, invalidField("max_retries", "max_retries %d: want -1 (no retries), 0 (default) or more", req.MaxRetries)
	case req.MaxInFlight < 0:
		return broker.JoinParams{}, invalidField("max_in_flight", "max_in_flight %d is negative", req.MaxInFlight)
	}
	for _, topic := range req.Topics {
		// A name no topic can have is a bad request, not a topic that
		// is not there yet (404).
		if err := broker.ValidateTopicName(topic); err != nil {
			return broker.JoinParams{}, err
		}
	}
	visibility, err := checkedMS("visibility_timeout_ms", req.VisibilityTimeoutMS, 0, broker.MaxDelay, api.ErrInvalidArgument)
	if err != nil {
		return broker.JoinParams{}, err
	}
	session, err := checkedMS("session_timeout_ms", req.SessionTimeoutMS, minSession, maxSession, api.ErrInvalidTimeout)
	if err != nil {
		return broker.JoinParams{}, err
	}
	rebalance, err := checkedMS("rebalance_timeout_ms", req.RebalanceTimeoutMS, 0, maxRebalance, api.ErrInvalidTimeout)
	if err != nil {
		return broker.JoinParams{}, err
	}
	return broker.JoinParams{
		MemberID:          req.MemberID,
		InstanceID:        req.InstanceID,
		ClientID:          req.ClientID,
		Topics:            req.Topics,
		SessionTimeout:    session,
		RebalanceTimeout:  rebalance,
		Assignor:          assign.Canonical(req.Assignor),
		OffsetReset:       req.OffsetReset,
		MaxRetries:        req.MaxRetries,
		VisibilityTimeout: visibility,
		MaxInFlight:       req.MaxInFlight,
	}, nil
}

func joinResponse(res broker.JoinResult) api.JoinResponse {
	return api.JoinResponse{
		MemberID:            res.MemberID,
		Generation:          res.Generation,
		AssignedPartitions:  api.Assignment(res.Assigned),
		HeartbeatIntervalMS: res.HeartbeatInterval.Milliseconds(),
		SessionTimeoutMS:    res.SessionTimeout.Milliseconds(),
		Assignor:            res.Assignor,
		MaxInFlight:         res.MaxInFlight,
	}
}

func heartbeatParams(req api.HeartbeatRequest) (broker.HeartbeatParams, error) {
	if req.Seq < 0 {
		return broker.HeartbeatParams{}, invalidField("seq", "seq %d is negative", req.Seq)
	}
	for topic, ps := range req.OwnedPartitions {
		for _, p := range ps {
			if p < 0 {
				// A member cannot own it: the answer revoked it, as if
				// the member had been handed it.
				return broker.HeartbeatParams{}, invalidField("owned_partitions", "owned partition %d of %q is not a partition", p, topic)
			}
		}
	}
	return broker.HeartbeatParams{MemberID: req.MemberID, Generation: req.Generation, Owned: broker.Assignment(req.OwnedPartitions), Seq: req.Seq}, nil
}

func heartbeatResponse(res broker.HeartbeatResult) api.HeartbeatResponse {
	return api.HeartbeatResponse{
		Generation:          res.Generation,
		AssignedPartitions:  api.Assignment(res.Assigned),
		RevokedPartitions:   api.Assignment(res.Revoked),
		HeartbeatIntervalMS: res.HeartbeatInterval.Milliseconds(),
	}
}

// pollParams checks a poll body; the wait is capped at maxWait
// (Options.MaxWait).
func pollParams(req api.PollRequest, maxWait time.Duration) (broker.PollParams, error) {
	switch {
	case req.MaxMessages < 0:
		return broker.PollParams{}, invalidField("max_messages", "max_messages %d is negative", req.MaxMessages)
	case req.MaxBytes < 0:
		return broker.PollParams{}, invalidField("max_bytes", "max_bytes %d is negative", req.MaxBytes)
	}
	wait, err := delayMS("wait_ms", req.WaitMS)
	if err != nil {
		return broker.PollParams{}, err
	}
	return broker.PollParams{MemberID: req.MemberID, Generation: req.Generation,
		MaxMessages: req.MaxMessages, MaxBytes: req.MaxBytes, Wait: min(wait, maxWait)}, nil
}

// settleOf checks the messages an ack, nack or extend body names.
func settleOf(req *api.AckRequest) (broker.Settle, error) {
	if len(req.Messages) == 0 && len(req.Ranges) == 0 {
		return broker.Settle{}, invalidField("messages", "no messages named")
	}
	s := broker.Settle{MemberID: req.MemberID, Generation: req.Generation,
		Messages: make([]broker.MessageRef, len(req.Messages)), Ranges: make([]broker.OffsetRange, len(req.Ranges))}
	for i, m := range req.Messages {
		switch {
		case m.Offset < 0:
			// It was answered MESSAGE_NOT_IN_FLIGHT, "already settled".
			return broker.Settle{}, invalidField("messages", "message %d: offset %d is not an offset", i, m.Offset).WithDetail("index", i)
		case m.Partition < 0:
			// It was answered NOT_PARTITION_OWNER and counted lost, as if
			// such a message could be delivered again.
			return broker.Settle{}, invalidField("messages", "message %d: partition %d is not a partition", i, m.Partition).WithDetail("index", i)
		}
		if err := topicNameAt(m.Topic, "messages", i); err != nil {
			return broker.Settle{}, err
		}
		s.Messages[i] = broker.MessageRef(m)
	}
	for i, r := range req.Ranges {
		if err := topicNameAt(r.Topic, "ranges", i); err != nil {
			return broker.Settle{}, err
		}
		s.Ranges[i] = broker.OffsetRange{Topic: r.Topic, Partition: r.Partition, From: r.From, To: r.To}
	}
	if err := broker.CheckRanges(s.Ranges); err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			return broker.Settle{}, ae.WithDetail("field", "ranges")
		}
		return broker.Settle{}, err
	}
	return s, nil
}

// topicNameAt refuses a name no topic can have, in entry i of field, as a
// join does (INVALID_TOPIC_NAME): it was answered as a topic that does not
// exist.
func topicNameAt(name, field string, i int) error {
	err := broker.ValidateTopicName(name)
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.WithDetail("field", field).WithDetail("index", i)
	}
	return err
}

func nackParams(req *api.AckRequest) (broker.NackParams, error) {
	s, err := settleOf(req)
	if err != nil {
		return broker.NackParams{}, err
	}
	delay, err := delayMS("delay_ms", req.DelayMS)
	if err != nil {
		return broker.NackParams{}, err
	}
	reject := req.Requeue != nil && !*req.Requeue
	if req.Release && (reject || req.DelayMS != 0) {
		return broker.NackParams{}, invalidField("release", "release hands messages back at once: it takes neither requeue false nor delay_ms")
	}
	return broker.NackParams{Settle: s, Reject: reject, Delay: delay, Reason: req.Reason, Release: req.Release}, nil
}

func extendParams(req *api.AckRequest) (broker.ExtendParams, error) {
	s, err := settleOf(req)
	if err != nil {
		return broker.ExtendParams{}, err
	}
	d, err := delayMS("visibility_timeout_ms", req.VisibilityTimeoutMS)
	if err != nil {
		return broker.ExtendParams{}, err
	}
	return broker.ExtendParams{Settle: s, Visibility: d}, nil
}

func ackResponse(res broker.SettleResult) api.AckResponse {
	out := api.AckResponse{Succeeded: res.Succeeded, FailedCount: len(res.Failed), Lost: lostAcks(res)}
	for _, f := range res.Failed[:min(len(res.Failed), api.MaxListedFailures)] {
		out.Failed = append(out.Failed, api.MessageErr{MessageRef: api.MessageRef(f.MessageRef), Error: f.Err})
	}
	return out
}

// lostAcks counts the failures of res that api.AckLost names.
func lostAcks(res broker.SettleResult) int {
	n := 0
	for _, f := range res.Failed {
		if api.AckLost(f.Err) {
			n++
		}
	}
	return n
}

// settleError is err of an ack, nack or extend with its details.result, a
// broker.SettleResult, said as the api.AckResponse it is on the wire.
func settleError(err error) error {
	var ae *api.Error
	if !errors.As(err, &ae) {
		return err
	}
	if res, ok := ae.Details["result"].(broker.SettleResult); ok {
		return ae.WithDetail("result", ackResponse(res))
	}
	return err
}

func commitParams(req api.CommitOffsetsRequest) (broker.CommitParams, error) {
	if broker.Offsets(req.Offsets).Len() == 0 {
		return broker.CommitParams{}, invalidField("offsets", "no offsets to commit")
	}
	for _, topic := range slices.Sorted(maps.Keys(req.Offsets)) {
		if err := broker.ValidateTopicName(topic); err != nil {
			var ae *api.Error
			if errors.As(err, &ae) {
				return broker.CommitParams{}, ae.WithDetail("field", "offsets")
			}
			return broker.CommitParams{}, err
		}
	}
	return broker.CommitParams{MemberID: req.MemberID, Generation: req.Generation, Offsets: broker.Offsets(req.Offsets)}, nil
}

// resetModes are the wire names of broker.ResetMode.
var resetModes = map[string]broker.ResetMode{
	api.ResetToEarliest: broker.ResetEarliest, api.ResetToLatest: broker.ResetLatest,
	api.ResetToTimestamp: broker.ResetTimestamp, api.ResetToDuration: broker.ResetDuration,
	api.ResetToShift: broker.ResetShift, api.ResetToOffsets: broker.ResetOffsets,
	api.ResetToGroup: broker.ResetGroup, api.ResetToDelete: broker.ResetDelete,
}

// resetParams checks what a reset body says for its mode.
func resetParams(groupID string, req api.ResetOffsetsRequest) (broker.ResetParams, error) {
	mode, ok := resetModes[req.To]
	if !ok {
		return broker.ResetParams{}, invalidField("to", `to %q: want earliest, latest, timestamp, duration, shift, offsets, group or delete`, req.To)
	}
	switch mode {
	case broker.ResetTimestamp:
		// 0 is a timestamp left out (omitempty), not the epoch: it moved
		// the group to the earliest offset unasked.
		if req.Timestamp <= 0 {
			return broker.ResetParams{}, invalidField("timestamp", "to timestamp needs a positive timestamp (ms since the Unix epoch), not %d", req.Timestamp)
		}
	case broker.ResetDuration:
		if req.DurationMS <= 0 {
			return broker.ResetParams{}, invalidField("duration_ms", "to duration needs a positive duration_ms")
		}
	case broker.ResetShift:
		if req.Shift == 0 {
			return broker.ResetParams{}, invalidField("shift", "to shift needs a non-zero shift")
		}
	case broker.ResetOffsets:
		if broker.Offsets(req.Offsets).Len() == 0 {
			return broker.ResetParams{}, invalidField("offsets", `to "offsets" needs offsets`)
		}
		if len(req.Topics) > 0 || len(req.Partitions) > 0 {
			return broker.ResetParams{}, invalidField("topics", `to "offsets" takes its partitions from offsets, not topics or partitions`)
		}
	case broker.ResetGroup:
		if req.FromGroup == "" || req.FromGroup == groupID {
			return broker.ResetParams{}, invalidField("from_group", "to group needs from_group, another group")
		}
	case broker.ResetDelete:
		if len(req.Topics) == 0 {
			return broker.ResetParams{}, invalidField("topics", "to delete needs the topics whose offsets to delete")
		}
	}
	if len(req.Partitions) > 0 && len(req.Topics) != 1 {
		return broker.ResetParams{}, invalidField("partitions", "partitions need exactly one topic")
	}
	// A field of another mode would be dropped unread: {"to":"earliest",
	// "shift":3} moved the group to the earliest offsets.
	for _, f := range []struct {
		name, to string
		set      bool
	}{
		{"timestamp", api.ResetToTimestamp, req.Timestamp != 0},
		{"duration_ms", api.ResetToDuration, req.DurationMS != 0},
		{"shift", api.ResetToShift, req.Shift != 0},
		{"offsets", api.ResetToOffsets, len(req.Offsets) > 0},
		{"from_group", api.ResetToGroup, req.FromGroup != ""},
	} {
		if f.set && f.to != req.To {
			return broker.ResetParams{}, invalidField(f.name, "%s is for to %q, not %q", f.name, f.to, req.To)
		}
	}
	return broker.ResetParams{
		To: mode, Topics: req.Topics, Partitions: req.Partitions,
		Time: time.UnixMilli(req.Timestamp), Ago: time.Duration(min(req.DurationMS, (1<<63-1)/int64(time.Millisecond))) * time.Millisecond,
		Shift: req.Shift, Offsets: broker.Offsets(req.Offsets), FromGroup: req.FromGroup, DryRun: req.DryRun,
	}, nil
}

func resetResponse(groupID string, res broker.ResetResult) api.ResetOffsetsResponse {
	changes := make([]api.OffsetChange, len(res.Changes))
	for i, c := range res.Changes {
		changes[i] = api.OffsetChange(c)
	}
	return api.ResetOffsetsResponse{GroupID: groupID, Offsets: api.Offsets(res.Offsets), DryRun: res.DryRun, Changes: changes}
}

// replayParams checks a DLQ replay body.
func replayParams(req api.DLQReplayRequest) (broker.ReplayParams, error) {
	for _, f := range []struct {
		name string
		v    int64
	}{{"offset", req.Offset}, {"end_offset", req.EndOffset}, {"max", int64(req.Max)}, {"max_replays", int64(req.MaxReplays)}} {
		if f.v < 0 {
			return broker.ReplayParams{}, invalidField(f.name, "%s %d is negative", f.name, f.v)
		}
	}
	switch {
	case req.Target != "" && req.ToTopic:
		return broker.ReplayParams{}, invalidField("target", "target and to_topic exclude each other")
	case req.Reason != "" && req.Reason != api.DLQReasonRejected && req.Reason != api.DLQReasonMaxRetries:
		return broker.ReplayParams{}, invalidField("reason", "reason %q: want %s or %s", req.Reason, api.DLQReasonRejected, api.DLQReasonMaxRetries).
			WithDetail("allowed", []string{api.DLQReasonRejected, api.DLQReasonMaxRetries})
	case req.Since < 0:
		return broker.ReplayParams{}, invalidField("since", "since %d is negative (ms since the Unix epoch)", req.Since)
	case req.Until < 0:
		return broker.ReplayParams{}, invalidField("until", "until %d is negative (ms since the Unix epoch)", req.Until)
	}
	at := func(ms int64) time.Time {
		if ms == 0 {
			return time.Time{}
		}
		return time.UnixMilli(ms)
	}
	return broker.ReplayParams{
		Target: req.Target, ToTopic: req.ToTopic, Offset: req.Offset, EndOffset: req.EndOffset,
		Partition: req.Partition, Max: req.Max, Group: req.Group, Reason: req.Reason,
		Since: at(req.Since), Until: at(req.Until), Again: req.Again, MaxReplays: req.MaxReplays, DryRun: req.DryRun,
	}, nil
}

func replayResponse(res broker.ReplayResult) api.DLQReplayResponse {
	out := api.DLQReplayResponse{Replayed: res.Replayed, NextOffset: res.NextOffset, DryRun: res.DryRun,
		Skipped: res.Skipped, Poison: res.Poison, Messages: make([]api.DeadLetter, len(res.Messages))}
	for i, dl := range res.Messages {
		var died int64
		if !dl.DiedAt.IsZero() {
			died = dl.DiedAt.UnixMilli()
		}
		out.Messages[i] = api.DeadLetter{Partition: dl.Partition, Offset: dl.Offset, OriginalTopic: dl.OriginalTopic,
			OriginalPartition: dl.OriginalPartition, OriginalOffset: dl.OriginalOffset, Group: dl.Group,
			Reason: dl.Reason, DiedAt: died, Replays: dl.Replays}
	}
	return out
}
