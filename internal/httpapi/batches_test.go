package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"net/http"
	"testing"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/brokertest"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// testRecord is one record as a test builds it, sent either as a JSON
// message or inside a binary batch.
type testRecord struct {
	key, value []byte
	hk, hv     string        // one header when hk != ""
	hs         []kmsg.Header // these headers instead, when set
	ts         int64
	attrs      int8
}

// encodeBatch builds one RecordBatch v2 of recs with batch attributes
// batchAttrs, as a client (or an attacker) could.
func encodeBatch(batchAttrs int16, recs []testRecord) []byte {
	first := recs[0].ts
	var body []byte
	for i, r := range recs {
		kr := kmsg.Record{Attributes: r.attrs, TimestampDelta64: r.ts - first, OffsetDelta: int32(i), Key: r.key, Value: r.value}
		if r.hk != "" {
			kr.Headers = []kmsg.Header{{Key: r.hk, Value: []byte(r.hv)}}
		}
		if r.hs != nil {
			kr.Headers = r.hs
		}
		// Length is the record's size after its own varint: encode once to learn it.
		kr.Length = int32(len(kr.AppendTo(nil)) - 1)
		for len(kr.AppendTo(nil))-varintLen(int64(kr.Length)) != int(kr.Length) {
			kr.Length = int32(len(kr.AppendTo(nil)) - varintLen(int64(kr.Length)))
		}
		body = kr.AppendTo(body)
	}
	hdr := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: batchAttrs,
		LastOffsetDelta: int32(len(recs) - 1), FirstTimestamp: first, MaxTimestamp: first,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(recs)),
	}
	b := hdr.AppendTo(nil)
	b = append(b[:61], body...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func varintLen(x int64) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutVarint(tmp[:], x)
}

// postBatches sends frames to /topics/{topic}/batches.
func postBatches(t *testing.T, s *brokertest.Server, topic string, frames ...[]byte) (int, []byte) {
	t.Helper()
	var body []byte
	for _, f := range frames {
		body = api.AppendFrame(body, 0, f)
	}
	req, _ := http.NewRequest("POST", s.URL+"/topics/"+topic+"/batches", bytes.NewReader(body))
	req.Header.Set("Content-Type", api.BatchesContentType)
	return fuzzSend(t, s, req)
}

// jsonMessage is r as the JSON path takes it (bytes in base64, so sizes
// are exact whatever the bytes).
func jsonMessage(r testRecord) map[string]any {
	m := map[string]any{"partition": 0, "timestamp": r.ts}
	if r.key != nil {
		m["key_base64"] = base64.StdEncoding.EncodeToString(r.key)
	}
	if r.value != nil {
		m["value_base64"] = base64.StdEncoding.EncodeToString(r.value)
	}
	if r.hk != "" {
		m["headers"] = map[string]string{r.hk: r.hv}
	}
	return m
}

// TestBatchesApplyPublishRules: the binary path refuses what the JSON path
// refuses (the fault: a 2 MiB record on a 1 MiB topic answered 200 and
// could then never be dead-lettered), and what the broker does not
// implement (transactions, LogAppendTime, unknown record attributes).
func TestBatchesApplyPublishRules(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	ok := testRecord{value: []byte("v"), ts: 1}
	big := testRecord{value: make([]byte, 2<<20), ts: 1}
	for _, tt := range []struct {
		name       string
		batchAttrs int16
		recs       []testRecord
		want       *api.Error
	}{
		{"2 MiB record on a 1 MiB topic", 0, []testRecord{ok, big}, api.ErrMessageTooLarge},
		{"header bytes count", 0, []testRecord{{value: make([]byte, 1<<20-3), hk: "k", hv: "vvv", ts: 1}}, api.ErrMessageTooLarge},
		{"transactional", 0x10, []testRecord{ok}, api.ErrInvalidArgument},
		{"LogAppendTime", 0x08, []testRecord{ok}, api.ErrInvalidArgument},
		{"control", 0x20, []testRecord{ok}, api.ErrBadRequest},
		{"negative timestamp", 0, []testRecord{ok, {value: []byte("v"), ts: -5}}, api.ErrInvalidArgument},
		{"unknown record attribute", 0, []testRecord{{value: []byte("v"), ts: 1, attrs: 0x04}}, api.ErrInvalidArgument},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, raw := postBatches(t, s, "orders", encodeBatch(0, []testRecord{ok}), encodeBatch(tt.batchAttrs, tt.recs))
			e := wantError(t, status, raw, tt.want)
			if e.Details["index"] != float64(1) {
				t.Fatalf("details %v do not name frame 1", e.Details)
			}
		})
	}
	if n := totalMessages(t, s, "orders"); n != 0 {
		t.Fatalf("%d messages written by refused requests", n)
	}
	// The same records within the limits are taken, the JSON mark included.
	status, raw := postBatches(t, s, "orders", encodeBatch(0, []testRecord{ok, {value: []byte(`{"a":1}`), ts: 2, attrs: 1}}))
	if status != http.StatusOK {
		t.Fatalf("valid batch: %d %s", status, raw)
	}
}

// FuzzPublishPathsAgree: with the JSON path's rules as the oracle, a
// record sent in a binary batch is refused with the same code as the
// same record sent as JSON, or taken by both. What JSON cannot express
// (batch attributes, record attributes other than the JSON mark) must be
// refused by the binary path; a header that is not UTF-8 text, which a
// batch may carry and JSON cannot, is not compared.
func FuzzPublishPathsAgree(f *testing.F) {
	s := brokertest.Start(f)
	var errBody api.ErrorBody
	if st := s.DoJSON("POST", "/topics", api.CreateTopicRequest{Name: "t", Partitions: 1, MaxMessageBytes: 64}, &errBody); st != http.StatusCreated {
		f.Fatalf("create topic: %d %v", st, errBody.Error)
	}
	f.Add([]byte("k"), []byte("value"), "h", "v", int64(1), int8(0), int16(0))
	f.Add([]byte(nil), make([]byte, 64), "", "", int64(0), int8(0), int16(0))
	f.Add([]byte("k"), make([]byte, 62), "h", "v", int64(5), int8(0), int16(0))
	f.Add([]byte(nil), []byte("x"), "", "", int64(-1), int8(0), int16(0))
	f.Add([]byte(nil), []byte("1"), "", "", int64(7), int8(1), int16(0))
	f.Add([]byte(nil), []byte("x"), "", "", int64(7), int8(2), int16(0))
	f.Add([]byte(nil), []byte("x"), "", "", int64(7), int8(0), int16(0x10))
	f.Add([]byte(nil), []byte("x"), "", "", int64(7), int8(0), int16(0x08))
	f.Fuzz(func(t *testing.T, key, value []byte, hk, hv string, ts int64, attrs int8, batchAttrs int16) {
		r := testRecord{key: key, value: value, hk: hk, hv: hv, ts: ts, attrs: attrs}
		bStatus, bRaw := postBatches(t, s, "t", encodeBatch(batchAttrs, []testRecord{r}))
		var bErr api.ErrorBody
		if bStatus != http.StatusOK {
			mustUnmarshal(t, bRaw, &bErr)
		}
		if batchAttrs != 0 || attrs&^1 != 0 {
			if bStatus == http.StatusOK {
				t.Fatalf("batch attributes %#x, record attributes %#x taken", batchAttrs, attrs)
			}
			return
		}
		if !utf8.ValidString(hk) || !utf8.ValidString(hv) {
			// JSON cannot carry these bytes: Marshal would send each
			// invalid one as U+FFFD (3 bytes), another, longer header.
			return
		}
		j, _ := json.Marshal(map[string]any{"messages": []any{jsonMessage(r)}})
		jStatus, jRaw := post(t, s, "/topics/t/messages", j)
		var jErr api.ErrorBody
		if jStatus != http.StatusOK {
			mustUnmarshal(t, jRaw, &jErr)
		}
		if (bStatus == http.StatusOK) != (jStatus == http.StatusOK) ||
			bStatus != http.StatusOK && jErr.Error.Code != bErr.Error.Code {
			t.Fatalf("binary path %d %s, JSON path %d %s", bStatus, bRaw, jStatus, jRaw)
		}
	})
}

// TestBatchesRefuseACorruptRecordWhole: a frame whose CRC matches but
// whose last record is cut short is found in the one pass that also applies
// the publish rules, and the request writes nothing, not even its valid
// first frame.
func TestBatchesRefuseACorruptRecordWhole(t *testing.T) {
	s := brokertest.Start(t)
	createTopic(t, s, "orders", 1)
	ok := testRecord{value: []byte("v"), ts: 1}
	bad := encodeBatch(0, []testRecord{ok, ok, ok})
	bad[len(bad)-1] = 0x7f // the last record's header count claims more than is there
	recordbatch.SetCRC(bad)
	status, raw := postBatches(t, s, "orders", encodeBatch(0, []testRecord{ok}), bad)
	if e := wantError(t, status, raw, api.ErrBadRequest); e.Details["index"] != float64(1) {
		t.Fatalf("details %v do not name frame 1", e.Details)
	}
	if n := totalMessages(t, s, "orders"); n != 0 {
		t.Fatalf("%d messages written by a refused request", n)
	}
}
