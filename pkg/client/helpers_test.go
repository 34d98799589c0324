package client_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
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

// frontProxy starts a proxy to the broker at target that shows each
// request and its body to see first (which may hold it).
func frontProxy(t *testing.T, target string, see func(r *http.Request, body []byte)) *httptest.Server {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		see(r, body)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}
