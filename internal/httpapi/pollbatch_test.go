package httpapi

import (
	"encoding/binary"
	"encoding/hex"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/internal/commitlog"
)

// pollFrame is one decoded frame of a binary poll answer.
type pollFrame struct {
	partition, count int32
	topic            string
	batch            []byte
}

// splitPollFrames decodes the framing of a binary poll answer, failing t
// on any malformed frame.
func splitPollFrames(t *testing.T, body []byte) []pollFrame {
	t.Helper()
	var out []pollFrame
	be := binary.BigEndian
	for len(body) > 0 {
		if len(body) < 10 {
			t.Fatalf("short frame header: %d bytes", len(body))
		}
		f := pollFrame{partition: int32(be.Uint32(body)), count: int32(be.Uint32(body[4:]))}
		tl := int(be.Uint16(body[8:]))
		body = body[10:]
		if len(body) < tl+4 {
			t.Fatalf("short topic or batch length")
		}
		f.topic, body = string(body[:tl]), body[tl:]
		bl := int(be.Uint32(body))
		body = body[4:]
		if len(body) < bl {
			t.Fatalf("batch of %d bytes, %d left", bl, len(body))
		}
		f.batch, body = body[:bl], body[bl:]
		out = append(out, f)
	}
	return out
}

// decodeBatch reads batch back through a commitlog, the broker's own
// RecordBatch decoder: it checks framing and CRC, and returns the records
// with their offsets in the batch's numbering.
func decodeBatch(t *testing.T, batch []byte) []commitlog.Record {
	t.Helper()
	n, err := commitlog.CheckBatch(batch)
	if err != nil {
		t.Fatalf("check batch: %v", err)
	}
	l, err := commitlog.Open(t.TempDir(), commitlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	first := int64(binary.BigEndian.Uint64(batch)) // AppendBatch writes its own base offset into batch
	if _, err := l.AppendBatch(batch); err != nil {
		t.Fatal(err)
	}
	recs, err := l.Read(0, int(n), 1<<30)
	if err != nil || len(recs) != int(n) {
		t.Fatalf("read back %d of %d records: %v", len(recs), n, err)
	}
	for i := range recs {
		recs[i].Offset += first
	}
	return recs
}

// A binary poll answer carries every message with its topic, partition,
// offset, delivery count, key, value (as stored), headers, timestamp and
// attributes, in frames of runs that never mix partitions or counts.
func TestPollBatchesRoundTrip(t *testing.T) {
	rec := func(off, ts int64, key, value []byte, attrs int8, hs ...commitlog.Header) commitlog.Record {
		return commitlog.Record{Offset: off, Timestamp: ts, Key: key, Value: value, Attributes: attrs, Headers: hs}
	}
	var got []broker.Delivered
	add := func(topic string, p int32, count int, r commitlog.Record) {
		got = append(got, broker.Delivered{Topic: topic, Partition: p, DeliveryCount: count, Record: r})
	}
	add("orders", 2, 3, rec(7, 1700000000500, []byte("k"), []byte("redelivered"), 0)) // a redelivery first
	for i := range int64(600) {                                                       // more than one frame
		add("orders", 0, 1, rec(100+i, 1700000000000+i%7, nil, []byte("v"), 0))
	}
	add("orders", 0, 1, rec(800, 1699999999000, []byte{}, []byte{}, 0))                    // a gap: a new frame
	add("orders", 0, 2, rec(801, 1700000000000, nil, nil, 0))                              // another count
	add("orders", 1, 1, rec(802, 1700000000000, []byte{0xff}, []byte(`{"a":1}`), attrJSON, // another partition
		commitlog.Header{Key: "h", Value: []byte("1")}, commitlog.Header{Key: "", Value: nil}))
	add("payments.eu", 1, 1, rec(803, 1700000000000, nil, make([]byte, 300), 0))

	w := httptest.NewRecorder()
	writePollBatches(w, got)
	if ct := w.Header().Get("Content-Type"); ct != api.PollBatchesContentType {
		t.Fatalf("content type %q", ct)
	}
	var back []broker.Delivered
	var frames []pollFrame
	for _, f := range splitPollFrames(t, w.Body.Bytes()) {
		frames = append(frames, f)
		for _, r := range decodeBatch(t, f.batch) {
			back = append(back, broker.Delivered{Topic: f.topic, Partition: f.partition, DeliveryCount: int(f.count), Record: r})
		}
	}
	if diff := cmp.Diff(got, back, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("decoded answer differs (-sent +decoded):\n%s", diff)
	}
	// Nil and empty keys and values stay apart.
	if back[601].Record.Key == nil || back[602].Record.Value != nil || back[1].Record.Key != nil {
		t.Fatal("nil and empty bytes were not kept apart")
	}
	if len(frames) != 7 {
		t.Fatalf("%d frames, want 7 (a redelivery, 600 in runs of 512, a gap, a count, a partition, a topic)", len(frames))
	}
	w = httptest.NewRecorder()
	writePollBatches(w, nil)
	if w.Body.Len() != 0 {
		t.Fatalf("empty poll answered %d bytes", w.Body.Len())
	}
}

// The frame's bytes are those the answer's own encoder made before it
// used package recordbatch.
func TestPollFrameGoldenBytes(t *testing.T) {
	run := []broker.Delivered{
		{Topic: "orders", Partition: 3, DeliveryCount: 2, Record: commitlog.Record{Offset: 1234, Key: []byte("k"), Value: []byte("v"),
			Timestamp: 1700000000100, Attributes: 1, Headers: []commitlog.Header{{Key: "a", Value: []byte("1")}, {Key: "nil", Value: nil}}}},
		{Topic: "orders", Partition: 3, DeliveryCount: 2, Record: commitlog.Record{Offset: 1235, Value: []byte{}, Timestamp: 1700000000050}},
		{Topic: "orders", Partition: 3, DeliveryCount: 2, Record: commitlog.Record{Offset: 1236, Key: []byte{}, Timestamp: 1700000000300}},
	}
	const want = "000000030000000200066f72646572730000005e00000000000004d200000052ffffffff020a8f11140000000000020000018bcfe568640000018bcfe5692cffffffffffffffffffffffffffff0000000322010000026b02760402610231066e696c010c0063020100000e00900304000100"
	if got := hex.EncodeToString(appendPollFrame(nil, run)); got != want {
		t.Fatalf("frame\n%s, want\n%s", got, want)
	}
}
