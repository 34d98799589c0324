package conformance

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// Per-message delivery: polls, acks, nacks with their retries and the dead
// letter queue, visibility timeouts and extensions.
func deliveryScenarios() []scenario {
	return []scenario{
		{"LongPollWakesOnPublish", Deliveries, longPollWakesOnPublish},
		{"PollIsFairAndCappedInFlight", Deliveries, pollIsFairAndCapped},
		{"AckPartialFailure", Deliveries, ackPartialFailure},
		{"AckRangesSettleLikeMessages", Deliveries, ackRanges},
		{"NackBackoffDoublesThenDeadLetters", Deliveries, nackBackoffDoubles},
		{"DeadLetterKeepsMessageAndSaysWhy", Deliveries, deadLetterContents},
		{"RejectDeadLettersAtOnce", Deliveries, rejectDeadLetters},
		{"ReleaseHandsBackWithoutRetry", Deliveries, releaseHandsBack},
		{"VisibilityTimeoutAndExtend", Deliveries, visibilityAndExtend},
		{"VisibilityTimeoutsSpendRetries", Deliveries, visibilitySpendsRetries},
		{"GroupsAreIndependent", 0, groupsAreIndependent},
	}
}

// quiet is how long a poll waits to show that nothing more comes: longer
// than any backoff or visibility timeout of the scenarios, shorter than the
// default session timeout (members of these scenarios do not heartbeat).
const quiet = 20 * time.Second

// waitedFor polls m with a long wait and says how long the poll took.
func waitedFor(m *member) ([]Message, time.Duration) {
	m.t.Helper()
	start := time.Now()
	got := m.poll(10, quiet)
	return got, time.Since(start)
}

func longPollWakesOnPublish(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 3)
	m := join(t, tg, "g", broker.JoinParams{Topics: []string{"orders"}})
	start := time.Now()
	if got := m.poll(10, 100*time.Millisecond); len(got) != 0 || time.Since(start) != 100*time.Millisecond {
		t.Fatalf("empty long poll: %v after %v, want nothing after 100ms", refs(got), time.Since(start))
	}
	done := make(chan []Message, 1)
	go func() {
		got, err := tg.Poll(context.Background(), "g", broker.PollParams{MemberID: m.id, Generation: m.gen, MaxMessages: 10, Wait: 20 * time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	synctest.Wait() // the poll waits
	start = time.Now()
	publish(t, tg, "orders", Record{Value: []byte("hello"), Partition: 2})
	got := <-done
	if len(got) != 1 || string(got[0].Value) != "hello" || got[0].Partition != 2 || got[0].DeliveryCount != 1 {
		t.Fatalf("woke with %+v", got)
	}
	if waited := time.Since(start); waited != 0 {
		t.Fatalf("the poll answered %v after the publish, want at once", waited)
	}
}

// A poll takes from every partition alike, and a member at its in-flight
// cap gets nothing more.
func pollIsFairAndCapped(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 3)
	publishSpread(t, tg, "orders", 30)
	m := join(t, tg, "g", broker.JoinParams{Topics: []string{"orders"}, MaxInFlight: 12})
	got := m.poll(9, 0)
	per := map[int32]int{}
	for _, msg := range got {
		per[msg.Partition]++
	}
	if len(got) != 9 || per[0] != 3 || per[1] != 3 || per[2] != 3 {
		t.Fatalf("poll of 9 from 3 partitions: %v", per)
	}
	if got := m.poll(100, 0); len(got) != 3 {
		t.Fatalf("poll past the in-flight cap of 12: got %d more, want 3", len(got))
	}
	if got := m.poll(100, 0); len(got) != 0 {
		t.Fatalf("poll at the in-flight cap: got %d", len(got))
	}
}

// An ack of several messages applies the good ones and reports the bad ones
// with the first failure's code; a double ack is harmless and says so.
func ackPartialFailure(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 1)
	publishN(t, tg, "orders", 0, 3)
	m := join(t, tg, "g", broker.JoinParams{Topics: []string{"orders"}})
	msgs := m.poll(10, 0)
	bogus := Message{Topic: "orders", Partition: 0, Offset: 7}
	res, err := tg.Ack("g", m.settle(msgs[0], bogus, msgs[1]))
	wantCode(t, "partial ack", err, api.ErrNotInFlight)
	if res.Succeeded != 2 || len(res.Failed) != 1 || res.Failed[0].Offset != 7 || res.Failed[0].Err.Code != api.ErrNotInFlight.Code {
		t.Fatalf("partial ack: %+v", res)
	}
	res, err = tg.Ack("g", m.settle(msgs[0]))
	wantCode(t, "double ack", err, api.ErrNotInFlight)
	if len(res.Failed) != 1 || res.Failed[0].Err.Details["state"] != "acknowledged" {
		t.Fatalf("double ack: %+v", res)
	}
	if got := offsets(t, tg, "g")["orders"][0]; got != 2 {
		t.Fatalf("committed %d, want 2 (the acknowledged prefix)", got)
	}
}

// Ranges of offsets settle like the same messages named one by one; a
// range reaching past what the member holds fails for those offsets only.
func ackRanges(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 2)
	publishN(t, tg, "orders", 0, 10)
	publishN(t, tg, "orders", 1, 10)
	m := join(t, tg, "g", broker.JoinParams{Topics: []string{"orders"}})
	if got := m.poll(100, 0); len(got) != 20 {
		t.Fatalf("polled %d, want 20", len(got))
	}
	s := m.settle()
	s.Ranges = []broker.OffsetRange{{Topic: "orders", Partition: 0, From: 0, To: 10}, {Topic: "orders", Partition: 1, From: 0, To: 4}}
	if res, err := tg.Ack("g", s); err != nil || res.Succeeded != 14 {
		t.Fatalf("ack of ranges: %+v, %v; want 14 settled", res, err)
	}
	if o := offsets(t, tg, "g")["orders"]; o[0] != 10 || o[1] != 4 {
		t.Fatalf("committed %v, want 10 and 4", o)
	}
	s.Ranges = []broker.OffsetRange{{Topic: "orders", Partition: 1, From: 8, To: 12}}
	res, err := tg.Ack("g", s)
	wantCode(t, "ack of a range past the in-flight messages", err, api.ErrNotInFlight)
	if res.Succeeded != 2 || len(res.Failed) != 2 || res.Failed[0].Offset != 10 || res.Failed[1].Offset != 11 {
		t.Fatalf("ack of [8, 12) holding 8 and 9: %+v", res)
	}
	s.Ranges = []broker.OffsetRange{{Topic: "orders", Partition: 1, From: 6, To: 5}}
	_, err = tg.Ack("g", s)
	wantCode(t, "ack of a reversed range", err, api.ErrInvalidArgument)
}

// A nacked message comes back after 100 ms, then 200 ms, then 400 ms, one
// delivery more each time; the failure past max_retries dead-letters it.
func nackBackoffDoubles(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 1)
	publishN(t, tg, "orders", 0, 1)
	m := join(t, tg, "g", broker.JoinParams{Topics: []string{"orders"}, MaxRetries: 3})
	msgs := m.poll(10, 0)
	for i, backoff := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		m.nack(broker.NackParams{Reason: "failed " + strconv.Itoa(i)}, msgs...)
		var waited time.Duration
		msgs, waited = waitedFor(m)
		if len(msgs) != 1 || msgs[0].DeliveryCount != i+2 {
			t.Fatalf("retry %d: %+v", i+1, msgs)
		}
		if waited < backoff || waited > backoff+backoff/2 {
			t.Fatalf("retry %d came after %v, want %v", i+1, waited, backoff)
		}
	}
	m.nack(broker.NackParams{Reason: "failed 3"}, msgs...)
	if got := m.poll(10, quiet); len(got) != 0 {
		t.Fatalf("a message past max_retries came back: %+v", got)
	}
	dead := readDLQ(t, tg, "orders", 0, 1)[0]
	if h := dead.Headers; h[api.DLQHeaderReason] != "max_retries_exceeded" || h[api.DLQHeaderDeliveryCount] != "4" || h[api.DLQHeaderLastError] != "failed 3" {
		t.Fatalf("dead letter headers %v", h)
	}
}

// readDLQ reads the dead letters of topic's partition p and fails unless
// there are want of them (none: also when no DLQ was ever created).
func readDLQ(t *testing.T, tg Target, topic string, p int32, want int) []Message {
	t.Helper()
	got, err := tg.Read(api.DLQName(topic), p, 0, 100)
	if want == 0 && errors.Is(err, api.ErrTopicNotFound) {
		return nil
	}
	if err != nil || len(got) != want {
		t.Fatalf("DLQ of %s/%d holds %v, %v; want %d", topic, p, refs(got), err, want)
	}
	return got
}

// A dead letter keeps the message's key, value, headers and timestamp in
// the same partition of <topic>.dlq, and says where it came from, for
// which group, after how many deliveries and why.
func deadLetterContents(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 2)
	publish(t, tg, "orders", Record{Key: []byte("k1"), Value: []byte(`{"id":7}`), Partition: 1,
		Headers: map[string]string{"trace": "abc"}, Timestamp: time.UnixMilli(1234)})
	m := join(t, tg, "g", broker.JoinParams{Topics: []string{"orders"}, MaxRetries: 1})
	first := m.poll(10, 0)
	if len(first) != 1 || first[0].DeliveryCount != 1 {
		t.Fatalf("first delivery %+v", first)
	}
	m.nack(broker.NackParams{Reason: "db down"}, first...)
	second, _ := waitedFor(m)
	if len(second) != 1 || second[0].Offset != 0 || second[0].DeliveryCount != 2 {
		t.Fatalf("redelivery %+v", second)
	}
	m.nack(broker.NackParams{Reason: "db still down"}, second...)
	d := readDLQ(t, tg, "orders", 1, 1)[0]
	want := map[string]string{
		"trace":                        "abc",
		api.DLQHeaderReason:            "max_retries_exceeded",
		api.DLQHeaderOriginalTopic:     "orders",
		api.DLQHeaderOriginalPartition: "1",
		api.DLQHeaderOriginalOffset:    "0",
		api.DLQHeaderOriginalTimestamp: "1234",
		api.DLQHeaderGroup:             "g",
		api.DLQHeaderDeliveryCount:     "2",
		api.DLQHeaderLastError:         "db still down",
	}
	for k, v := range want {
		if d.Headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, d.Headers[k], v)
		}
	}
	if d.Headers[api.DLQHeaderDiedAt] == "" {
		t.Errorf("no %s header", api.DLQHeaderDiedAt)
	}
	if string(d.Key) != "k1" || string(d.Value) != `{"id":7}` || d.Timestamp.UnixMilli() != 1234 {
		t.Fatalf("dead letter lost its key, value or timestamp: %+v", d)
	}
	s := partitionStatus(t, describe(t, tg, "g"), "orders", 1)
	if s.DeadLettered != 1 || s.Committed != 1 || s.Redelivered != 1 || s.InFlight != 0 {
		t.Fatalf("partition status %+v, want 1 dead-lettered, committed 1, 1 redelivered", s)
	}
	readDLQ(t, tg, "orders", 0, 0)
}

// A reject (nack without requeue) dead-letters at once, whatever the retry
// budget, and the committed offset moves past it.
func rejectDeadLetters(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 1)
	publishN(t, tg, "orders", 0, 2)
	m := join(t, tg, "g", broker.JoinParams{Topics: []string{"orders"}})
	msgs := m.poll(10, 0)
	m.nack(broker.NackParams{Reject: true, Reason: "poison"}, msgs[0])
	m.ack(msgs[1])
	if got := m.poll(10, quiet); len(got) != 0 {
		t.Fatalf("a rejected message came back: %v", refs(got))
	}
	d := readDLQ(t, tg, "orders", 0, 1)[0]
	if h := d.Headers; h[api.DLQHeaderReason] != "rejected" || h[api.DLQHeaderLastError] != "poison" || h[api.DLQHeaderDeliveryCount] != "1" || string(d.Value) != "m0" {
		t.Fatalf("dead letter %+v", d)
	}
	if got := offsets(t, tg, "g")["orders"][0]; got != 2 {
		t.Fatalf("committed %d, want 2", got)
	}
}

// A nack with Release hands a message back unprocessed: deliverable again
// at once, one delivery more, no retry spent (with max_retries -1 any
// failure would dead-letter it). A release cannot also reject.
func releaseHandsBack(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 1)
	publishN(t, tg, "orders", 0, 1)
	m := join(t, tg, "g", broker.JoinParams{Topics: []string{"orders"}, MaxRetries: -1})
	msgs := m.poll(10, 0)
	_, err := tg.Nack("g", broker.NackParams{Settle: m.settle(msgs...), Release: true, Reject: true})
	wantCode(t, "release and reject", err, api.ErrInvalidArgument)
	for i := range 2 {
		m.nack(broker.NackParams{Release: true}, msgs...)
		got, waited := waitedFor(m)
		if len(got) != 1 || got[0].DeliveryCount != i+2 || waited != 0 {
			t.Fatalf("after release %d: %+v after %v, want the message at once, delivery %d", i, got, waited, i+2)
		}
		msgs = got
	}
	m.ack(msgs...)
	readDLQ(t, tg, "orders", 0, 0)
}

// What is not acked within the visibility timeout is delivered again; an
// extension pushes one message's deadline out, and that delivery stays
// ackable; the expired delivery is not.
func visibilityAndExtend(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 1)
	publishN(t, tg, "orders", 0, 3)
	m := join(t, tg, "g", broker.JoinParams{Topics: []string{"orders"}, VisibilityTimeout: time.Second})
	msgs := m.poll(10, 0)
	if res, err := tg.Extend("g", broker.ExtendParams{Settle: m.settle(msgs[1]), Visibility: time.Minute}); err != nil || res.Succeeded != 1 {
		t.Fatalf("extend: %+v, %v", res, err)
	}
	time.Sleep(500 * time.Millisecond)
	// No visibility named: the group's (1 s) from now.
	if _, err := tg.Extend("g", broker.ExtendParams{Settle: m.settle(msgs[2])}); err != nil {
		t.Fatalf("extend by the group's timeout: %v", err)
	}
	again, waited := waitedFor(m)
	if len(again) != 1 || again[0].Offset != 0 || again[0].DeliveryCount != 2 || waited != 500*time.Millisecond {
		t.Fatalf("after the visibility timeout: %+v after %v, want offset 0 again after 500ms", again, waited)
	}
	again2, waited := waitedFor(m)
	if len(again2) != 1 || again2[0].Offset != 2 || waited != 500*time.Millisecond {
		t.Fatalf("after the extension by 1 s: %+v after %v, want offset 2 again after 500ms", again2, waited)
	}
	m.ack(msgs[1])
	m.ack(again...)
	m.ack(again2...)
	if got := m.poll(10, quiet); len(got) != 0 {
		t.Fatalf("acked messages came back: %v", refs(got))
	}
	if got := offsets(t, tg, "g")["orders"][0]; got != 3 {
		t.Fatalf("committed %d, want 3", got)
	}
}

// A visibility timeout is a failure: past max_retries it dead-letters with
// last error visibility_timeout.
func visibilitySpendsRetries(t *testing.T, tg Target) {
	createTopic(t, tg, "orders", 1)
	publishN(t, tg, "orders", 0, 1)
	m := join(t, tg, "g", broker.JoinParams{Topics: []string{"orders"}, MaxRetries: 1, VisibilityTimeout: time.Second})
	if got := m.poll(10, 0); len(got) != 1 {
		t.Fatalf("poll: %+v", got)
	}
	if got, waited := waitedFor(m); len(got) != 1 || got[0].DeliveryCount != 2 || waited != time.Second {
		t.Fatalf("after one timeout: %+v after %v", got, waited)
	}
	time.Sleep(time.Second)
	synctest.Wait()
	if got := m.poll(10, 0); len(got) != 0 {
		t.Fatalf("after two timeouts with max_retries 1: %+v", got)
	}
	d := readDLQ(t, tg, "orders", 0, 1)[0]
	if h := d.Headers; h[api.DLQHeaderReason] != "max_retries_exceeded" || h[api.DLQHeaderLastError] != "visibility_timeout" || h[api.DLQHeaderDeliveryCount] != "2" {
		t.Fatalf("dead letter headers %v", h)
	}
}

// Two groups on one topic are independent: what one holds in flight (or
// has fetched) the other gets too, and the acks (or commits) of one do not
// move the other.
func groupsAreIndependent(t *testing.T, tg Target) {
	createTopic(t, tg, "events", 3)
	publishSpread(t, tg, "events", 30)
	analytics := join(t, tg, "analytics", broker.JoinParams{Topics: []string{"events"}})
	billing := join(t, tg, "billing", broker.JoinParams{Topics: []string{"events"}})
	a := analytics.consume(100)
	b := billing.consume(100)
	if len(a) != 30 || len(b) != 30 {
		t.Fatalf("analytics got %d, billing %d; want 30 each", len(a), len(b))
	}
	billing.done(b...)
	if d := describe(t, tg, "analytics"); d.Lag != 30 {
		t.Fatalf("analytics lag %d after billing was done", d.Lag)
	}
	if d := describe(t, tg, "billing"); d.Lag != 0 {
		t.Fatalf("billing lag %d", d.Lag)
	}
	if got := offsets(t, tg, "analytics")["events"][0]; got != 0 {
		t.Fatalf("analytics offsets moved: %v", got)
	}
}
