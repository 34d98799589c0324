package httpapi_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// binMessage is what a client takes from a binary poll answer.
type binMessage struct {
	topic       string
	partition   int32
	offset      int64
	count       int32
	key, value  []byte
	headers     int
	timestamp   int64
	isJSONValue bool
}

// decodePollBatches is a client's decoder of api.PollBatchesContentType,
// written from the contract: it walks frames and records (CRCs are the
// unit test's to check).
func decodePollBatches(body []byte) ([]binMessage, error) {
	be := binary.BigEndian
	var out []binMessage
	bad := fmt.Errorf("malformed poll answer")
	for len(body) > 0 {
		if len(body) < 10 {
			return nil, bad
		}
		p, count, tl := int32(be.Uint32(body)), int32(be.Uint32(body[4:])), int(be.Uint16(body[8:]))
		body = body[10:]
		if len(body) < tl+4 {
			return nil, bad
		}
		topic := string(body[:tl])
		bl := int(be.Uint32(body[tl:]))
		body = body[tl+4:]
		if len(body) < bl || bl < 61 {
			return nil, bad
		}
		batch := body[:bl]
		body = body[bl:]
		first, firstTS := int64(be.Uint64(batch)), int64(be.Uint64(batch[27:]))
		n := int(be.Uint32(batch[57:]))
		recs := batch[61:]
		varint := func() int64 {
			v, k := binary.Varint(recs)
			if k <= 0 {
				recs = nil
				return 0
			}
			recs = recs[k:]
			return v
		}
		bytesOf := func() []byte {
			l := varint()
			if l < 0 || int(l) > len(recs) {
				return nil
			}
			b := recs[:l:l]
			recs = recs[l:]
			return b
		}
		for range n {
			varint() // length
			if len(recs) == 0 {
				return nil, bad
			}
			attrs := recs[0]
			recs = recs[1:]
			m := binMessage{topic: topic, partition: p, count: count, isJSONValue: attrs&1 != 0}
			m.timestamp = firstTS + varint()
			m.offset = first + varint()
			m.key, m.value = bytesOf(), bytesOf()
			m.headers = int(varint())
			for range m.headers {
				bytesOf()
				bytesOf()
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// decodePollStored is a client's decoder of api.PollStoredContentType,
// written from the contract: it walks frames, ranges and batches (through
// package recordbatch, CRCs checked) and keeps the records in the ranges.
func decodePollStored(body []byte) ([]binMessage, error) {
	be := binary.BigEndian
	var out []binMessage
	bad := fmt.Errorf("malformed poll answer")
	for len(body) > 0 {
		if len(body) < 6 {
			return nil, bad
		}
		p, tl := int32(be.Uint32(body)), int(be.Uint16(body[4:]))
		body = body[6:]
		if len(body) < tl+4 {
			return nil, bad
		}
		topic := string(body[:tl])
		nr := int(be.Uint32(body[tl:]))
		body = body[tl+4:]
		if len(body) < 20*nr+4 {
			return nil, bad
		}
		type rng struct {
			first, last int64
			count       int32
		}
		ranges := make([]rng, nr)
		for i := range ranges {
			ranges[i] = rng{int64(be.Uint64(body)), int64(be.Uint64(body[8:])), int32(be.Uint32(body[16:]))}
			body = body[20:]
		}
		nb := int(be.Uint32(body))
		body = body[4:]
		for range nb {
			if len(body) < 4 || len(body) < 4+int(be.Uint32(body)) {
				return nil, bad
			}
			batch := body[4 : 4+int(be.Uint32(body))]
			body = body[4+len(batch):]
			h, err := recordbatch.CheckFrame(batch)
			if err != nil {
				return nil, err
			}
			it, err := recordbatch.NewIter(batch, 1<<30)
			if err != nil {
				return nil, err
			}
			var v recordbatch.View
			for it.Next(&v) {
				off := h.BaseOffset + int64(v.OffsetDelta)
				for _, r := range ranges {
					if off >= r.first && off <= r.last {
						out = append(out, binMessage{topic: topic, partition: p, offset: off, count: r.count, key: v.Key, value: v.Value,
							headers: v.NumHeaders(), timestamp: h.FirstTimestamp + v.TimestampDelta, isJSONValue: v.Attributes&1 != 0})
					}
				}
			}
			if it.Err() != nil {
				return nil, it.Err()
			}
		}
	}
	return out, nil
}

// A poll that accepts a binary answer gets it, with what JSON would have
// said: stored batches when it accepts them, else the older binary answer
// (an older client); errors stay JSON.
func TestPollBatchesOverHTTP(t *testing.T) {
	for _, tc := range []struct {
		accept, contentType string
		decode              func([]byte) ([]binMessage, error)
	}{
		{api.PollBatchesContentType + ", application/json", api.PollBatchesContentType, decodePollBatches},
		{api.PollStoredContentType + ", " + api.PollBatchesContentType + ", application/json", api.PollStoredContentType, decodePollStored},
	} {
		t.Run(tc.contentType, func(t *testing.T) { pollBinaryOverHTTP(t, tc.accept, tc.contentType, tc.decode) })
	}
}

func pollBinaryOverHTTP(t *testing.T, accept, contentType string, decode func([]byte) ([]binMessage, error)) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 2)
	var msgs []map[string]any
	for i := range 10 {
		msgs = append(msgs, map[string]any{"key": fmt.Sprint("k", i), "value": fmt.Sprint("v", i), "partition": i % 2})
	}
	msgs = append(msgs, map[string]any{"value": map[string]int{"n": 1}, "partition": 0, "headers": map[string]string{"h": "x"}})
	publish(t, s, "orders", map[string]any{"messages": msgs})
	m := join(t, s, "g", api.JoinRequest{Topics: []string{"orders"}})

	post := func(path string, body string) *http.Response {
		req, _ := http.NewRequest("POST", s.URL+path, bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", accept)
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := post("/groups/g/poll", fmt.Sprintf(`{"member_id":%q,"generation":%d,"max_messages":100}`, m.id, m.gen))
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != contentType {
		t.Fatalf("poll: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	got, err := decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 11 {
		t.Fatalf("%d messages, want 11", len(got))
	}
	next := map[int32]int64{}
	for _, g := range got {
		if g.topic != "orders" || g.offset != next[g.partition] || g.count != 1 || g.timestamp == 0 {
			t.Fatalf("message %+v out of place (next offset of partition %d: %d)", g, g.partition, next[g.partition])
		}
		next[g.partition]++
		if g.offset == 5 && g.partition == 0 {
			if string(g.value) != `{"n":1}` || !g.isJSONValue || g.headers != 1 || g.key != nil {
				t.Fatalf("JSON message decoded as %+v", g)
			}
		} else if want := fmt.Sprint("v", 2*g.offset+int64(g.partition)); string(g.value) != want || g.isJSONValue {
			t.Fatalf("message %s/%d@%d: value %q, want %q", g.topic, g.partition, g.offset, g.value, want)
		}
	}
	// Stale generation: the error is JSON whatever was accepted.
	resp = post("/groups/g/poll", fmt.Sprintf(`{"member_id":%q,"generation":%d}`, m.id, m.gen+5))
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	wantError(t, resp.StatusCode, raw, api.ErrStaleGeneration)
}
