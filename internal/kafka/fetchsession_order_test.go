package kafka

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchOf is a fetch (v12) in session id at epoch of topic t's parts,
// forgetting forget.
func fetchOf(id, epoch int32, parts, forget []int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.SessionID, req.SessionEpoch = 12, id, epoch
	if len(parts) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "t"
		for _, p := range parts {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	if len(forget) > 0 {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.Partitions = "t", forget
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	}
	return req
}

// answerOf answers every partition of req: hwm for each, records for
// those in withRecords, an error for those in failed.
func answerOf(req *kmsg.FetchRequest, hwm map[int32]int64, withRecords, failed []int32) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition, sp.HighWatermark = rp.Partition, hwm[rp.Partition]
			if slices.Contains(withRecords, rp.Partition) {
				sp.RecordBatches = []byte{1}
			}
			if slices.Contains(failed, rp.Partition) {
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func partsOf(resp *kmsg.FetchResponse) []int32 {
	var out []int32
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			out = append(out, rp.Partition)
		}
	}
	return out
}

func sessionOrder(s *fetchSession) []int32 {
	var out []int32
	for _, p := range s.parts {
		out = append(out, p.key.partition)
	}
	return out
}

// A session's answers leave out what has nothing new, and its partitions
// that returned records go to the back of its order, so that answers
// filled by the first ones do not starve the rest.
func TestFetchSessionAnswers(t *testing.T) {
	c := &conn{s: &Server{}}
	hwm := map[int32]int64{0: 5, 1: 5, 2: 5}
	full, s, incremental, code := c.openSession(fetchOf(0, 0, []int32{0, 1, 2}, nil))
	if code != 0 || s == nil || incremental {
		t.Fatalf("open: %v %v %d", s, incremental, code)
	}
	resp := answerOf(full, hwm, []int32{0}, nil)
	s.answered(resp, incremental)
	if got := partsOf(resp); fmt.Sprint(got) != "[0 1 2]" || resp.SessionID != s.id {
		t.Fatalf("opening answer %v (session %d)", got, resp.SessionID)
	}
	if got := sessionOrder(s); fmt.Sprint(got) != "[1 2 0]" {
		t.Fatalf("order after partition 0 returned records: %v", got)
	}

	steps := []struct {
		name          string
		parts, forget []int32
		hwm           map[int32]int64
		records       []int32
		failed        []int32
		answer, order string
	}{
		{"nothing new", nil, nil, hwm, nil, nil, "[]", "[1 2 0]"},
		{"a moved high watermark", nil, nil, map[int32]int64{0: 5, 1: 6, 2: 5}, nil, nil, "[1]", "[1 2 0]"},
		{"records on two", []int32{0}, nil, map[int32]int64{0: 5, 1: 6, 2: 7}, []int32{1, 2}, nil, "[1 2]", "[0 1 2]"},
		{"a new partition is news", []int32{3}, nil, map[int32]int64{0: 5, 1: 6, 2: 7, 3: 0}, nil, nil, "[3]", "[0 1 2 3]"},
		{"forgotten", nil, []int32{2, 0}, map[int32]int64{0: 9, 1: 6, 2: 9, 3: 0}, nil, nil, "[]", "[1 3]"},
		{"an error, bounds unchanged", nil, nil, map[int32]int64{1: 6, 3: 0}, nil, []int32{3}, "[3]", "[1 3]"},
		{"the error gone", nil, nil, map[int32]int64{1: 6, 3: 0}, nil, nil, "[3]", "[1 3]"},
		{"then nothing new", nil, nil, map[int32]int64{1: 6, 3: 0}, nil, nil, "[]", "[1 3]"},
	}
	for i, st := range steps {
		full, s2, incremental, code := c.openSession(fetchOf(s.id, int32(i+1), st.parts, st.forget))
		if code != 0 || s2 != s || !incremental {
			t.Fatalf("%s: session %v, incremental %v, code %d", st.name, s2, incremental, code)
		}
		resp := answerOf(full, st.hwm, st.records, st.failed)
		s.answered(resp, incremental)
		if got := partsOf(resp); fmt.Sprint(got) != st.answer {
			t.Fatalf("%s: answered %v, want %s", st.name, got, st.answer)
		}
		if got := sessionOrder(s); fmt.Sprint(got) != st.order {
			t.Fatalf("%s: order %v, want %s", st.name, got, st.order)
		}
	}
}

// A connection keeps at most maxSessionsPerConn sessions, dropping the
// least recently used; a server's sessions hold at most
// maxServerSessionPartitions partitions, and a session at most
// maxSessionPartitions; a session's epochs run past the largest to 1.
func TestFetchSessionLimits(t *testing.T) {
	c := &conn{s: &Server{}}
	var ids []int32
	for range maxSessionsPerConn {
		_, s, _, _ := c.openSession(fetchOf(0, 0, []int32{0}, nil))
		ids = append(ids, s.id)
	}
	if _, _, _, code := c.openSession(fetchOf(ids[0], 1, nil, nil)); code != 0 { // the first, used again
		t.Fatalf("first session: code %d", code)
	}
	c.openSession(fetchOf(0, 0, []int32{0}, nil))
	if len(c.sessions) != maxSessionsPerConn || c.sessions[ids[0]] == nil || c.sessions[ids[1]] != nil {
		t.Fatalf("sessions %v after one more; want the second (least recently used) dropped", c.sessions)
	}
	// One server's sessions hold at most maxServerSessionPartitions.
	others := &conn{s: c.s}
	most := make([]int32, maxSessionPartitions)
	for i := range most {
		most[i] = int32(i)
	}
	var kept int
	for range maxServerSessionPartitions/maxSessionPartitions + 1 {
		if _, s, _, _ := others.openSession(fetchOf(0, 0, most, nil)); s != nil {
			kept++
		}
	}
	if n := c.s.sessionParts.Load(); n > maxServerSessionPartitions || kept == 0 {
		t.Fatalf("%d partitions in sessions after %d of %d opened", n, kept, maxServerSessionPartitions/maxSessionPartitions+1)
	}
	others.dropSessions()
	c.dropSessions()
	if n := c.s.sessionParts.Load(); n != 0 {
		t.Fatalf("%d partitions counted in sessions after every connection dropped them", n)
	}
	if nextEpoch(math.MaxInt32) != 1 || nextEpoch(1) != 2 {
		t.Fatal("epochs do not wrap to 1")
	}
	big := make([]int32, maxSessionPartitions+1)
	for i := range big {
		big[i] = int32(i)
	}
	if _, s, _, code := c.openSession(fetchOf(0, 0, big, nil)); s != nil || code != 0 {
		t.Fatalf("a session of %d partitions opened (code %d)", len(big), code)
	}
}

// A session names each partition once, however often its opening fetch
// does, and keeps none of the request's bytes; it keeps its topics named as it was opened (by name before v13,
// by ID after: FETCH_SESSION_TOPIC_ID_ERROR at the other kind); one whose
// every partition is forgotten ends, answered without a session.
func TestFetchSessionEdges(t *testing.T) {
	c := &conn{s: &Server{}}
	open := fetchOf(0, 0, []int32{0, 0, 1}, nil)
	open.Topics[0].Partitions[2].UnknownTags.Set(7, make([]byte, 1<<20)) // bytes of the request's frame
	full, s, _, _ := c.openSession(open)
	if p := s.byKey[sessionKey{topic: "t", partition: 1}]; p.req.UnknownTags.Len() != 0 {
		t.Fatal("the session keeps a partition's unknown tags, and with them the request's frame")
	}
	resp := answerOf(full, map[int32]int64{0: 1, 1: 1}, []int32{0}, nil)
	s.answered(resp, false)
	if got := partsOf(resp); fmt.Sprint(got) != "[0 1]" || fmt.Sprint(sessionOrder(s)) != "[1 0]" || c.s.sessionParts.Load() != 2 {
		t.Fatalf("opened with partition 0 twice: answered %v, order %v, %d counted", got, sessionOrder(s), c.s.sessionParts.Load())
	}
	byID := fetchOf(s.id, 1, nil, nil)
	byID.Version = 13
	if _, _, _, code := c.openSession(byID); code != kerr.FetchSessionTopicIDError.Code || c.sessions[s.id] != nil {
		t.Fatalf("a v13 fetch in a session opened at v12: code %d", code)
	}
	_, s, _, _ = c.openSession(fetchOf(0, 0, []int32{0, 1}, nil))
	full, s2, incremental, code := c.openSession(fetchOf(s.id, 1, nil, []int32{0, 1}))
	if s2 != nil || incremental || code != 0 || len(full.Topics) != 0 || c.sessions[s.id] != nil || c.s.sessionParts.Load() != 0 {
		t.Fatalf("every partition forgotten: session %v, code %d, request %+v, %d counted", s2, code, full.Topics, c.s.sessionParts.Load())
	}
}
