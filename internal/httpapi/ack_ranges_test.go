package httpapi_test

import (
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
)

// A bad range is a 400 naming the field. (That ranges settle like the
// messages they name is the conformance suite's, run over HTTP in
// conformance_test.go.)
func TestAckBadRangeNamesField(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	status, raw := s.Do("POST", "/groups/g/ack", map[string]any{"member_id": m.id, "generation": m.gen,
		"ranges": []map[string]any{{"topic": "orders", "partition": 1, "from": 7, "to": 5}}})
	if e := wantError(t, status, raw, api.ErrInvalidArgument); e.Details["field"] != "ranges" {
		t.Fatalf("details %v, want field ranges", e.Details)
	}
}

// A negative partition names no message: a 400 naming the field, on every
// route that settles, and nothing is settled. It was a 409
// NOT_PARTITION_OWNER counted as a lost ack, as if such a message could
// be delivered again.
func TestSettleNegativePartitionIsBadInput(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	publishSpread(t, s, "orders", 1)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	if got := m.poll(10, 0); len(got) != 1 {
		t.Fatalf("polled %v", refs(got))
	}
	held := map[string]any{"topic": "orders", "partition": 0, "offset": 0}
	bad := map[string]any{"topic": "orders", "partition": -1, "offset": 0}
	badRange := []map[string]any{{"topic": "orders", "partition": -1, "from": 0, "to": 1}}
	for _, c := range []struct {
		route string
		body  map[string]any
		field string
	}{
		{"ack", map[string]any{"messages": []any{held, bad}}, "messages"},
		{"nack", map[string]any{"messages": []any{held, bad}, "requeue": false}, "messages"},
		{"extend", map[string]any{"messages": []any{held, bad}}, "messages"},
		{"ack", map[string]any{"messages": []any{held}, "ranges": badRange}, "ranges"},
		{"poll", map[string]any{"acks": badRange}, "acks"},
	} {
		c.body["member_id"], c.body["generation"] = m.id, m.gen
		status, raw := s.Do("POST", "/groups/g/"+c.route, c.body)
		if e := wantError(t, status, raw, api.ErrInvalidArgument); e.Details["field"] != c.field {
			t.Errorf("%s %v: details %v, want field %s", c.route, c.body, e.Details, c.field)
		}
	}
	if p := describeGroup(t, s, "g").Partitions[0]; p.InFlight != 1 || p.DeadLettered != 0 || p.CommittedOffset > 0 {
		t.Fatalf("after refused settles: %+v, want offset 0 still in flight", p)
	}
}

// A message of a topic or partition that does not exist fails with the
// coded not-found error, on every route that settles, in the answer's
// usual shape (details.result) and not counted as lost: nothing could be
// delivered again. It was a 409 NOT_PARTITION_OWNER with lost 1, as if
// the member's acknowledgement of a real message had come too late.
func TestSettleUnknownPartitionIsNotFound(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	publishSpread(t, s, "orders", 2)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	if got := m.poll(10, 0); len(got) != 2 {
		t.Fatalf("polled %v", refs(got))
	}
	typo := map[string]any{"topic": "ordrs", "partition": 0, "offset": 0}
	noPart := map[string]any{"topic": "orders", "partition": 7, "offset": 0}
	typoRange := []map[string]any{{"topic": "ordrs", "partition": 0, "from": 0, "to": 3}}
	held := map[string]any{"topic": "orders", "partition": 0, "offset": 0}
	for _, c := range []struct {
		route     string
		body      map[string]any
		want      *api.Error
		succeeded float64
		failed    float64
	}{
		{"ack", map[string]any{"messages": []any{typo}}, api.ErrTopicNotFound, 0, 1},
		{"ack", map[string]any{"messages": []any{noPart}}, api.ErrPartitionNotFound, 0, 1},
		{"ack", map[string]any{"ranges": typoRange}, api.ErrTopicNotFound, 0, 3},
		{"nack", map[string]any{"messages": []any{typo}}, api.ErrTopicNotFound, 0, 1},
		{"extend", map[string]any{"messages": []any{noPart}}, api.ErrPartitionNotFound, 0, 1},
		{"poll", map[string]any{"acks": typoRange}, api.ErrTopicNotFound, 0, 3},
		{"ack", map[string]any{"messages": []any{held, typo}}, api.ErrTopicNotFound, 1, 1},
	} {
		c.body["member_id"], c.body["generation"] = m.id, m.gen
		status, raw := s.Do("POST", "/groups/g/"+c.route, c.body)
		e := wantError(t, status, raw, c.want)
		res, _ := e.Details["result"].(map[string]any)
		if res["lost"] != nil || res["succeeded"] != c.succeeded || res["failed_count"] != c.failed {
			t.Errorf("%s %v: result %v, want succeeded %v, failed_count %v, no lost", c.route, c.body, res, c.succeeded, c.failed)
		}
	}
	if p := describeGroup(t, s, "g").Partitions[0]; p.InFlight != 0 || p.CommittedOffset != 1 {
		t.Fatalf("after the acks: %+v, want offset 0 acknowledged", p)
	}
}

// A partition key of offsets written other than plainly ("01", "+1") is
// refused, on a commit and a reset, as such numbers are in paths and
// queries, and nothing moves. "01" was read as partition 1, and beside
// "1" in one object one of the two offsets was dropped unseen; so is a
// topic or a partition named twice, of which the last was kept.
func TestOffsetsPartitionKeysArePlain(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	publishSpread(t, s, "orders", 4)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	for _, c := range []struct{ route, body string }{
		{"offsets", `{"member_id":"` + m.id + `","generation":1,"offsets":{"orders":{"1":1,"01":2}}}`},
		{"offsets", `{"member_id":"` + m.id + `","generation":1,"offsets":{"orders":{"+1":1}}}`},
		{"offsets", `{"member_id":"` + m.id + `","generation":1,"offsets":{"orders":{" 1":1}}}`},
		{"offsets/reset", `{"to":"offsets","offsets":{"orders":{"00":1}},"dry_run":true}`},
		// Named twice: encoding/json kept the last, dropping partition 0's.
		{"offsets", `{"member_id":"` + m.id + `","generation":1,"offsets":{"orders":{"0":1},"orders":{"1":1}}}`},
		{"offsets", `{"member_id":"` + m.id + `","generation":1,"offsets":{"orders":{"0":1},"\u006frders":{"1":1}}}`},
		{"offsets", `{"member_id":"` + m.id + `","generation":1,"offsets":{"orders":{"1":1,"1":2}}}`},
		{"offsets/reset", `{"to":"offsets","offsets":{"orders":{"0":1},"orders":{"1":1}},"dry_run":true}`},
	} {
		status, raw := s.Do("POST", "/groups/g/"+c.route, []byte(c.body))
		if e := wantError(t, status, raw, api.ErrInvalidArgument); e.Details["field"] != "offsets" || e.Details["topic"] != "orders" {
			t.Errorf("%s %s: details %v, want field offsets, topic orders", c.route, c.body, e.Details)
		}
	}
	var got api.OffsetsResponse
	if status, raw := s.Do("GET", "/groups/g/offsets", nil); status != 200 {
		t.Fatalf("offsets: %d %s", status, raw)
	} else if mustUnmarshal(t, raw, &got); len(got.Offsets["orders"]) != 0 {
		t.Fatalf("refused commits committed %v", got.Offsets)
	}
}

// A name no topic can have is bad input, as in a join: 400
// INVALID_TOPIC_NAME naming the field and the entry, nothing settled.
func TestSettleIllegalTopicNameIsBadInput(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})
	for _, c := range []struct {
		route string
		body  map[string]any
		field string
	}{
		{"ack", map[string]any{"messages": []any{map[string]any{"topic": "bad name", "partition": 0, "offset": 0}}}, "messages"},
		{"nack", map[string]any{"messages": []any{map[string]any{"topic": "", "partition": 0, "offset": 0}}}, "messages"},
		{"extend", map[string]any{"ranges": []any{map[string]any{"topic": "..", "partition": 0, "from": 0, "to": 1}}}, "ranges"},
		{"poll", map[string]any{"acks": []any{map[string]any{"topic": "a/b", "partition": 0, "from": 0, "to": 1}}}, "acks"},
	} {
		c.body["member_id"], c.body["generation"] = m.id, m.gen
		status, raw := s.Do("POST", "/groups/g/"+c.route, c.body)
		if e := wantError(t, status, raw, api.ErrInvalidTopicName); e.Details["field"] != c.field || e.Details["index"] != float64(0) {
			t.Errorf("%s %v: details %v, want field %s, index 0", c.route, c.body, e.Details, c.field)
		}
	}
}
