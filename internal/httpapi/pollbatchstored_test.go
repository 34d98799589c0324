package httpapi

import (
	"bytes"
	"encoding/binary"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// splitStoredFrames decodes the framing of a stored-batches answer from
// the contract (api.PollStoredContentType), failing t on any malformed
// frame.
func splitStoredFrames(t *testing.T, body []byte) []broker.StoredPart {
	t.Helper()
	be := binary.BigEndian
	need := func(n int) {
		if len(body) < n {
			t.Fatalf("answer cut short: %d bytes, want %d", len(body), n)
		}
	}
	var out []broker.StoredPart
	for len(body) > 0 {
		need(6)
		p := broker.StoredPart{Partition: int32(be.Uint32(body))}
		tl := int(be.Uint16(body[4:]))
		body = body[6:]
		need(tl + 4)
		p.Topic = string(body[:tl])
		nr := int(be.Uint32(body[tl:]))
		body = body[tl+4:]
		need(20*nr + 4)
		for range nr {
			p.Ranges = append(p.Ranges, broker.StoredRange{First: int64(be.Uint64(body)), Last: int64(be.Uint64(body[8:])), DeliveryCount: int(be.Uint32(body[16:]))})
			body = body[20:]
		}
		nb := int(be.Uint32(body))
		body = body[4:]
		for range nb {
			need(4)
			bl := int(be.Uint32(body))
			need(4 + bl)
			p.Batches = append(p.Batches, broker.ServedBatch{Body: body[4 : 4+bl]})
			body = body[4+bl:]
		}
		out = append(out, p)
	}
	return out
}

// The stored-batches answer carries each partition's topic, ranges and
// batches byte for byte, small batches copied into the answer and large
// ones written as they are; an empty poll is an empty body.
func TestPollStoredFrames(t *testing.T) {
	batch := func(base int64, n, size int) []byte {
		recs := make([]recordbatch.Record, n)
		for i := range recs {
			recs[i].Value = bytes.Repeat([]byte{byte(i)}, size)
		}
		b, err := recordbatch.Build(nil, recordbatch.NewHeader(base), recordbatch.None, recs)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// served is bs as stored batches, but for the first, which goes as a
	// slice would: its header apart from its records.
	served := func(bs ...[]byte) []broker.ServedBatch {
		out := make([]broker.ServedBatch, len(bs))
		for i, b := range bs {
			out[i] = broker.ServedBatch{Body: b}
		}
		out[0] = broker.ServedBatch{Head: bs[0][:recordbatch.HeaderLen], Body: bs[0][recordbatch.HeaderLen:]}
		return out
	}
	for _, tc := range []struct {
		name  string
		parts []broker.StoredPart
	}{
		{"empty", nil},
		{"one small batch", []broker.StoredPart{{Topic: "orders", Partition: 3,
			Ranges: []broker.StoredRange{{First: 10, Last: 12, DeliveryCount: 1}}, Batches: served(batch(10, 3, 10))}}},
		{"ranges with counts, large and small batches, two partitions", []broker.StoredPart{
			{Topic: "orders", Partition: 0,
				Ranges:  []broker.StoredRange{{First: 5, Last: 5, DeliveryCount: 2}, {First: 100, Last: 1099, DeliveryCount: 1}},
				Batches: served(batch(5, 1, 10), batch(100, 1000, 100))},
			{Topic: "payments.eu", Partition: 7,
				Ranges:  []broker.StoredRange{{First: 1 << 40, Last: 1<<40 + 9, DeliveryCount: 4}},
				Batches: served(batch(1<<40, 10, 1000))},
		}},
		{"many batches past a chunk", []broker.StoredPart{{Topic: "t", Partition: 1,
			Ranges: []broker.StoredRange{{First: 0, Last: 99, DeliveryCount: 1}}, Batches: func() []broker.ServedBatch {
				var bs [][]byte
				for i := range 100 {
					bs = append(bs, batch(int64(i), 1, 3000))
				}
				return served(bs...)
			}()}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			writePollStored(w, tc.parts)
			if ct := w.Header().Get("Content-Type"); ct != api.PollStoredContentType {
				t.Fatalf("content type %q", ct)
			}
			if got := w.Body.Len(); got != storedAnswerSize(tc.parts) {
				t.Fatalf("answer of %d bytes, want %d", got, storedAnswerSize(tc.parts))
			}
			if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(w.Body.Len()) {
				t.Fatalf("Content-Length %q for an answer of %d bytes", cl, w.Body.Len())
			}
			// cmp.Diff alone takes seconds on megabytes of batches.
			back := splitStoredFrames(t, w.Body.Bytes())
			want := slices.Clone(tc.parts)
			for i := range want { // a batch's head and body arrive as one
				want[i].Batches = slices.Clone(want[i].Batches)
				for j, b := range want[i].Batches {
					want[i].Batches[j] = broker.ServedBatch{Body: append(slices.Clip(b.Head), b.Body...)}
				}
			}
			if !reflect.DeepEqual(want, back) {
				t.Fatalf("answer differs (-sent +decoded):\n%s", cmp.Diff(want, back))
			}
		})
	}
}
