package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/conformance"
	"github.com/abd-ulbasit/goqueue/internal/httpapi"
)

// Over HTTP, consumer groups behave as on the broker itself: the suite's
// domain calls become JSON requests as a client would send them, and the
// answers and coded errors are read back from the JSON. The handler is
// called in process (no socket), so the suite's synctest bubble holds
// every goroutine and its clock runs the broker's timeouts.
func TestConformance(t *testing.T) {
	conformance.Run(t, 0, func(t *testing.T) conformance.Target {
		h := &httpTarget{core: conformance.StartCore(t)}
		h.srv = httpapi.New(h.core.Broker(), httpapi.Options{Logger: slog.New(slog.DiscardHandler)})
		return h
	})
}

type httpTarget struct {
	core *conformance.Core
	srv  *httpapi.Server // replaced by Restart
}

// do sends body (if not nil) as JSON and decodes a success into out (if not
// nil); an error answer becomes its *api.Error.
func (h *httpTarget) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequestWithContext(ctx, method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	if rec.Code >= 300 {
		var e api.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == nil {
			return fmt.Errorf("%s %s: %d %q", method, path, rec.Code, rec.Body.Bytes())
		}
		// The status is the table's for the code: the wire keeps both.
		i := slices.IndexFunc(api.Codes(), func(c *api.Error) bool { return c.Code == e.Error.Code })
		if i < 0 || api.Codes()[i].Status != rec.Code {
			return fmt.Errorf("%s %s: status %d for %s, not the table's", method, path, rec.Code, e.Error.Code)
		}
		e.Error.Status = rec.Code
		return e.Error
	}
	if out != nil {
		return json.Unmarshal(rec.Body.Bytes(), out)
	}
	return nil
}

func (h *httpTarget) CreateTopic(name string, partitions int32) error {
	return h.do(context.Background(), "POST", "/topics", api.CreateTopicRequest{Name: name, Partitions: partitions}, nil)
}

func (h *httpTarget) AddPartitions(topic string, count int32) error {
	return h.do(context.Background(), "POST", "/topics/"+topic+"/partitions", api.AddPartitionsRequest{Count: count}, nil)
}

func (h *httpTarget) DeleteTopic(name string) error {
	return h.do(context.Background(), "DELETE", "/topics/"+name, nil, nil)
}

func (h *httpTarget) Publish(topic string, recs ...conformance.Record) ([]broker.Position, error) {
	req := api.PublishRequest{Messages: make([]api.PublishMessage, len(recs))}
	for i, r := range recs {
		m := api.PublishMessage{KeyBase64: r.Key, ValueBase64: r.Value, Headers: r.Headers}
		if r.Partition != broker.AnyPartition {
			m.Partition = &r.Partition
		}
		if !r.Timestamp.IsZero() {
			m.Timestamp = r.Timestamp.UnixMilli()
		}
		req.Messages[i] = m
	}
	var resp api.PublishResponse
	if err := h.do(context.Background(), "POST", "/topics/"+topic+"/messages", req, &resp); err != nil {
		return nil, err
	}
	out := make([]broker.Position, len(resp.Offsets))
	for i, o := range resp.Offsets {
		out[i] = broker.Position(o)
	}
	return out, nil
}

func (h *httpTarget) Read(topic string, partition int32, offset int64, max int) ([]conformance.Message, error) {
	var resp api.FetchResponse
	path := fmt.Sprintf("/topics/%s/partitions/%d/messages?offset=%d&max=%d", topic, partition, offset, max)
	if err := h.do(context.Background(), "GET", path, nil, &resp); err != nil {
		return nil, err
	}
	return messages(resp.Messages)
}

// messages reads wire messages back as stored: text comes as a JSON
// string, other bytes in base64 (the publish above sends only base64, so
// no value is stored marked as JSON).
func messages(ms []api.Message) ([]conformance.Message, error) {
	out := make([]conformance.Message, len(ms))
	for i, m := range ms {
		c := conformance.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.KeyBase64,
			Value: m.ValueBase64, Headers: m.Headers, Timestamp: time.UnixMilli(m.Timestamp), DeliveryCount: m.DeliveryCount}
		if m.Key != nil {
			c.Key = []byte(*m.Key)
		}
		if len(m.Value) > 0 {
			var s string
			if err := json.Unmarshal(m.Value, &s); err != nil {
				return nil, fmt.Errorf("value %s of %s/%d/%d is not text: %w", m.Value, m.Topic, m.Partition, m.Offset, err)
			}
			c.Value = []byte(s)
		}
		out[i] = c
	}
	return out, nil
}

func groupPath(group, op string) string { return "/groups/" + group + "/" + op }

func (h *httpTarget) Join(group string, p broker.JoinParams) (broker.JoinResult, error) {
	req := api.JoinRequest{MemberID: p.MemberID, InstanceID: p.InstanceID, ClientID: p.ClientID, Topics: p.Topics,
		SessionTimeoutMS: p.SessionTimeout.Milliseconds(), RebalanceTimeoutMS: p.RebalanceTimeout.Milliseconds(),
		Assignor: p.Assignor, OffsetReset: p.OffsetReset, MaxRetries: p.MaxRetries,
		VisibilityTimeoutMS: p.VisibilityTimeout.Milliseconds(), MaxInFlight: p.MaxInFlight}
	var resp api.JoinResponse
	if err := h.do(context.Background(), "POST", groupPath(group, "join"), req, &resp); err != nil {
		return broker.JoinResult{}, err
	}
	return broker.JoinResult{MemberID: resp.MemberID, Generation: resp.Generation, Assigned: broker.Assignment(resp.AssignedPartitions),
		HeartbeatInterval: ms(resp.HeartbeatIntervalMS), SessionTimeout: ms(resp.SessionTimeoutMS), Assignor: resp.Assignor}, nil
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

func (h *httpTarget) Heartbeat(group string, p broker.HeartbeatParams) (broker.HeartbeatResult, error) {
	var resp api.HeartbeatResponse
	req := api.HeartbeatRequest{MemberID: p.MemberID, Generation: p.Generation, OwnedPartitions: api.Assignment(p.Owned), Seq: p.Seq}
	if err := h.do(context.Background(), "POST", groupPath(group, "heartbeat"), req, &resp); err != nil {
		return broker.HeartbeatResult{}, err
	}
	return broker.HeartbeatResult{Generation: resp.Generation, Assigned: broker.Assignment(resp.AssignedPartitions),
		Revoked: broker.Assignment(resp.RevokedPartitions), HeartbeatInterval: ms(resp.HeartbeatIntervalMS)}, nil
}

func (h *httpTarget) Leave(group, memberID string) error {
	return h.do(context.Background(), "POST", groupPath(group, "leave"), api.LeaveRequest{MemberID: memberID}, nil)
}

func (h *httpTarget) Poll(ctx context.Context, group string, p broker.PollParams) ([]conformance.Message, error) {
	req := api.PollRequest{MemberID: p.MemberID, Generation: p.Generation, MaxMessages: p.MaxMessages, MaxBytes: p.MaxBytes, WaitMS: p.Wait.Milliseconds()}
	var resp api.PollResponse
	if err := h.do(ctx, "POST", groupPath(group, "poll"), req, &resp); err != nil {
		return nil, err
	}
	return messages(resp.Messages)
}

// settle sends an ack, nack or extend; a failure's error carries the
// per-message result in details.result.
func (h *httpTarget) settle(group, op string, req api.AckRequest, s broker.Settle) (broker.SettleResult, error) {
	req.MemberID, req.Generation = s.MemberID, s.Generation
	for _, m := range s.Messages {
		req.Messages = append(req.Messages, api.MessageRef(m))
	}
	for _, r := range s.Ranges {
		req.Ranges = append(req.Ranges, api.OffsetRange(r))
	}
	var resp api.AckResponse
	err := h.do(context.Background(), "POST", groupPath(group, op), req, &resp)
	if ae, ok := err.(*api.Error); ok && ae.Details["result"] != nil {
		j, _ := json.Marshal(ae.Details["result"])
		if jerr := json.Unmarshal(j, &resp); jerr != nil {
			return broker.SettleResult{}, jerr
		}
	}
	res := broker.SettleResult{Succeeded: resp.Succeeded}
	for _, f := range resp.Failed {
		res.Failed = append(res.Failed, broker.SettleFailure{MessageRef: broker.MessageRef(f.MessageRef), Err: f.Error})
	}
	return res, err
}

func (h *httpTarget) Ack(group string, s broker.Settle) (broker.SettleResult, error) {
	return h.settle(group, "ack", api.AckRequest{}, s)
}

func (h *httpTarget) Nack(group string, p broker.NackParams) (broker.SettleResult, error) {
	req := api.AckRequest{DelayMS: p.Delay.Milliseconds(), Reason: p.Reason, Release: p.Release}
	if p.Reject {
		no := false
		req.Requeue = &no
	}
	return h.settle(group, "nack", req, p.Settle)
}

func (h *httpTarget) Extend(group string, p broker.ExtendParams) (broker.SettleResult, error) {
	return h.settle(group, "extend", api.AckRequest{VisibilityTimeoutMS: p.Visibility.Milliseconds()}, p.Settle)
}

func (h *httpTarget) Commit(group string, p broker.CommitParams) error {
	req := api.CommitOffsetsRequest{MemberID: p.MemberID, Generation: p.Generation, Offsets: api.Offsets(p.Offsets)}
	return h.do(context.Background(), "POST", groupPath(group, "offsets"), req, nil)
}

func (h *httpTarget) Offsets(group string) (broker.Offsets, error) {
	var resp api.OffsetsResponse
	if err := h.do(context.Background(), "GET", groupPath(group, "offsets"), nil, &resp); err != nil {
		return nil, err
	}
	return broker.Offsets(resp.Offsets), nil
}

func (h *httpTarget) Reset(group string, p broker.ResetParams) (broker.ResetResult, error) {
	req := api.ResetOffsetsRequest{To: p.To.String(), Topics: p.Topics, Partitions: p.Partitions,
		DurationMS: p.Ago.Milliseconds(), Shift: p.Shift, Offsets: api.Offsets(p.Offsets), FromGroup: p.FromGroup, DryRun: p.DryRun}
	if !p.Time.IsZero() {
		req.Timestamp = p.Time.UnixMilli()
	}
	var resp api.ResetOffsetsResponse
	if err := h.do(context.Background(), "POST", groupPath(group, "offsets/reset"), req, &resp); err != nil {
		return broker.ResetResult{}, err
	}
	res := broker.ResetResult{Offsets: broker.Offsets(resp.Offsets), DryRun: resp.DryRun}
	for _, c := range resp.Changes {
		res.Changes = append(res.Changes, broker.OffsetChange(c))
	}
	return res, nil
}

func (h *httpTarget) DeleteGroup(group string) error {
	return h.do(context.Background(), "DELETE", "/groups/"+group, nil, nil)
}

func (h *httpTarget) Describe(group string) (broker.GroupDescription, error) {
	var d api.GroupDescription
	if err := h.do(context.Background(), "GET", "/groups/"+group, nil, &d); err != nil {
		return broker.GroupDescription{}, err
	}
	out := broker.GroupDescription{ID: d.GroupID, State: d.State, Generation: d.Generation, Assignor: d.Assignor, Lag: d.Lag,
		Rebalances: broker.RebalanceStats{Count: d.Rebalances.Count, ByReason: d.Rebalances.ByReason, InProgress: d.Rebalances.InProgress}}
	for _, r := range d.Rebalances.Recent {
		rb := broker.Rebalance{Generation: r.Generation, Reason: r.Reason}
		for _, mv := range r.Moved {
			rb.Moved = append(rb.Moved, broker.Move(mv))
		}
		out.Rebalances.Recent = append(out.Rebalances.Recent, rb)
	}
	for _, m := range d.Members {
		out.Members = append(out.Members, broker.MemberDescription{MemberID: m.MemberID, InstanceID: m.InstanceID,
			Generation: m.Generation, Assigned: broker.Assignment(m.AssignedPartitions), Idle: m.Idle, InFlight: m.InFlight})
	}
	for _, p := range d.Partitions {
		out.Partitions = append(out.Partitions, broker.PartitionStatus{Topic: p.Topic, Partition: p.Partition, Owner: p.Owner,
			Committed: p.CommittedOffset, HighWatermark: p.HighWatermark, Lag: p.Lag, TimeLag: ms(p.TimeLagMS), InFlight: p.InFlight,
			Redelivered: p.Redelivered, DeadLettered: p.DeadLettered})
	}
	return out, nil
}

func (h *httpTarget) Restart() {
	h.core.Restart()
	h.srv = httpapi.New(h.core.Broker(), httpapi.Options{Logger: slog.New(slog.DiscardHandler)})
}
