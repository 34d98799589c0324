package client

import (
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// testFrame is one frame of a binary poll answer as a test writes it.
type testFrame struct {
	topic       string
	partition   int32
	deliveries  int32
	firstOffset int64
	firstTS     int64
	records     []kmsg.Record // OffsetDelta, TimestampDelta64, Attributes, Key, Value, Headers
}

// appendTestFrame encodes f with kmsg alone (not the broker's encoder): the
// frame header, then a RecordBatch v2 with its lengths and CRC-32C.
func appendTestFrame(dst []byte, f testFrame) []byte {
	var recs []byte
	for _, r := range f.records {
		r.Length = 0
		r.Length = int32(len(r.AppendTo(nil)) - 1) // the 0 took one byte
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		FirstOffset: f.firstOffset, PartitionLeaderEpoch: -1, Magic: 2,
		LastOffsetDelta: int32(len(f.records) - 1), FirstTimestamp: f.firstTS, MaxTimestamp: f.firstTS,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(f.records)), Records: recs,
	}
	b.Length = int32(len(b.AppendTo(nil)) - 12)
	batch := b.AppendTo(nil)
	recordbatch.SetCRC(batch)
	return appendRawFrame(dst, f.topic, f.partition, f.deliveries, batch)
}

// appendRawFrame appends a frame of batch.
func appendRawFrame(dst []byte, topic string, partition, deliveries int32, batch []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(partition))
	dst = binary.BigEndian.AppendUint32(dst, uint32(deliveries))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(topic)))
	dst = append(dst, topic...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(batch)))
	return append(dst, batch...)
}

func twoFrames() []byte {
	b := appendTestFrame(nil, testFrame{
		topic: "orders", partition: 3, deliveries: 1, firstOffset: 40, firstTS: 1_700_000_000_000,
		records: []kmsg.Record{
			{OffsetDelta: 0, Key: []byte("k"), Value: []byte("v0")},
			{OffsetDelta: 1, TimestampDelta64: 5, Value: []byte(`{ "a": 1 }`), Attributes: recordAttrJSON,
				Headers: []kmsg.Header{{Key: "h", Value: []byte("1")}, {Key: "h", Value: []byte("2")}}},
		},
	})
	return appendTestFrame(b, testFrame{
		topic: "orders", partition: 0, deliveries: 2, firstOffset: 7, firstTS: 1_700_000_000_010,
		records: []kmsg.Record{{OffsetDelta: 0, Key: []byte{}, Value: nil}},
	})
}

func TestDecodePollBatches(t *testing.T) {
	got, err := decodePollBatches(twoFrames())
	if err != nil {
		t.Fatal(err)
	}
	ts := time.UnixMilli(1_700_000_000_000)
	want := []*Message{
		{Topic: "orders", Partition: 3, Offset: 40, Key: []byte("k"), Value: []byte("v0"), Timestamp: ts, DeliveryCount: 1},
		{Topic: "orders", Partition: 3, Offset: 41, Value: []byte(`{"a":1}`), Headers: map[string]string{"h": "2"},
			Timestamp: ts.Add(5 * time.Millisecond), DeliveryCount: 1},
		{Topic: "orders", Partition: 0, Offset: 7, Key: []byte{}, Timestamp: ts.Add(10 * time.Millisecond), DeliveryCount: 2},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Message{})); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if got[2].Key == nil || got[2].Value != nil {
		t.Errorf("empty key %v (want non-nil), nil value %v (want nil)", got[2].Key, got[2].Value)
	}
	if got, err := decodePollBatches(nil); err != nil || len(got) != 0 {
		t.Errorf("empty answer: %v, %v", got, err)
	}
}

// A control batch (a transaction marker) is no message: it is skipped.
func TestDecodePollBatchesSkipsControlBatches(t *testing.T) {
	marker := recordbatch.BuildMarker(nil, recordbatch.Header{BaseOffset: 42, ProducerID: 1}, recordbatch.ControlCommit, 0, 1_700_000_000_000)
	body := appendRawFrame(twoFrames(), "orders", 3, 1, marker)
	got, err := decodePollBatches(body)
	if err != nil || len(got) != 3 {
		t.Fatalf("%d messages, %v; want the 3 of the data batches", len(got), err)
	}
}

func TestDecodePollBatchesRejects(t *testing.T) {
	good := twoFrames()
	batchAt := 4 + 4 + 2 + len("orders") + 4 // where the first frame's batch starts
	mutate := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	tests := []struct {
		name string
		body []byte
	}{
		{"short header", good[:7]},
		{"topic past the end", mutate(func(b []byte) []byte { binary.BigEndian.PutUint16(b[8:], 5000); return b })},
		{"negative batch length", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[batchAt-4:], 0xffffffff); return b })},
		{"batch past the end", good[:len(good)-1]},
		{"bad CRC", mutate(func(b []byte) []byte { b[batchAt+recordbatch.HeaderLen+3] ^= 1; return b })},
		{"magic 1", mutate(func(b []byte) []byte { b[batchAt+16] = 1; return b })},
		{"compressed", mutate(func(b []byte) []byte { b[batchAt+22] = 1; return refreshCRC(b, batchAt) })},
		{"more records claimed", mutate(func(b []byte) []byte { b[batchAt+recordbatch.OffRecordCount+3] = 3; return refreshCRC(b, batchAt) })},
		{"fewer records claimed", mutate(func(b []byte) []byte { b[batchAt+recordbatch.OffRecordCount+3] = 1; return refreshCRC(b, batchAt) })},
		{"batch length disagrees", mutate(func(b []byte) []byte { b[batchAt+11]--; return b })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodePollBatches(tt.body)
			if !errors.Is(err, errPollBatches) {
				t.Fatalf("got %d messages, error %v; want errPollBatches", len(got), err)
			}
			t.Log(err)
		})
	}
}

// refreshCRC sets the CRC of the batch at b[at:] after a test changed it.
func refreshCRC(b []byte, at int) []byte {
	n, _ := recordbatch.Len(b[at:])
	recordbatch.SetCRC(b[at : at+n])
	return b
}

func TestValueOf(t *testing.T) {
	tests := []struct {
		attrs int8
		in    string
		nilIn bool
		want  string
		nil   bool
	}{
		{attrs: 0, in: `{ "a" : 1 }`, want: `{ "a" : 1 }`}, // text, not JSON
		{attrs: recordAttrJSON, in: `{ "a" : "b c" }`, want: `{"a":"b c"}`},
		{attrs: recordAttrJSON, in: `[1,2]`, want: `[1,2]`},
		{attrs: recordAttrJSON, in: `{ broken`, want: `{ broken`},
		{attrs: recordAttrJSON, in: ` null `, nil: true},
		{attrs: recordAttrJSON, in: `"a\"b"`, want: `a"b`},
		{attrs: recordAttrJSON, in: `"unterminated`, want: `"unterminated`},
		{attrs: recordAttrJSON, in: ``, want: ``},
		{attrs: recordAttrJSON, nilIn: true, nil: true},
	}
	for _, tt := range tests {
		var in []byte
		if !tt.nilIn {
			in = []byte(tt.in)
		}
		got := valueOf(tt.attrs, in)
		if (got == nil) != tt.nil || string(got) != tt.want {
			t.Errorf("valueOf(%d, %q) = %q (nil %v), want %q (nil %v)", tt.attrs, tt.in, got, got == nil, tt.want, tt.nil)
		}
	}
}

// FuzzDecodePollBatches feeds arbitrary answers to the decoder: it must
// never panic, must fail only with errPollBatches, must not claim more
// messages than the bytes can hold, and what it decodes must survive a
// round trip through the encoder of the format.
func FuzzDecodePollBatches(f *testing.F) {
	f.Add([]byte{})
	f.Add(twoFrames())
	f.Add(appendTestFrame(nil, testFrame{topic: "t", records: []kmsg.Record{{Value: []byte("x"),
		Headers: []kmsg.Header{{Key: "k"}}}}}))
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := decodePollBatches(body)
		if err != nil {
			if !errors.Is(err, errPollBatches) {
				t.Fatalf("error outside errPollBatches: %v", err)
			}
			return
		}
		if len(msgs) > len(body)/recordbatch.MinRecordLen {
			t.Fatalf("%d messages from %d bytes", len(msgs), len(body))
		}
		var again []byte
		for _, m := range msgs {
			again = appendTestFrame(again, frameOf(m))
		}
		back, err := decodePollBatches(again)
		if err != nil {
			t.Fatalf("re-encoded answer does not decode: %v", err)
		}
		if diff := cmp.Diff(msgs, back, cmpopts.IgnoreUnexported(Message{})); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// frameOf is m alone in a frame, its value as plain bytes.
func frameOf(m *Message) testFrame {
	r := kmsg.Record{Key: m.Key, Value: m.Value}
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		r.Headers = append(r.Headers, kmsg.Header{Key: k, Value: []byte(m.Headers[k])})
	}
	return testFrame{
		topic: m.Topic, partition: m.Partition, deliveries: int32(m.DeliveryCount),
		firstOffset: m.Offset, firstTS: m.Timestamp.UnixMilli(), records: []kmsg.Record{r},
	}
}
