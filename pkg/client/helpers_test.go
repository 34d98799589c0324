package client_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/abd-ulbasit/goqueue/recordbatch"
)

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

// validBatch is a one-record RecordBatch v2 built with kmsg alone, so the
// endpoint is checked against bytes the client's encoder did not make.
func validBatch(t *testing.T) []byte {
	t.Helper()
	r := kmsg.Record{Key: []byte("k"), Value: []byte("v")}
	rec := r.AppendTo(nil) // Length 0: fix it below
	r.Length = int32(len(rec) - 1)
	rec = r.AppendTo(nil)
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: 1, MaxTimestamp: 1,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: rec,
	}
	raw := b.AppendTo(nil)
	b.Length = int32(len(raw) - 12)
	raw = b.AppendTo(nil)
	recordbatch.SetCRC(raw)
	return raw
}
