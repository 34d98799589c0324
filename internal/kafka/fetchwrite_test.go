package kafka

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchResponse builds a response of the given version from data: its
// bytes pick the topics, partitions, error codes and batch sizes, so the
// fuzzer explores the shapes readFetch makes.
func fetchResponse(version int16, data []byte) *kmsg.FetchResponse {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	r := kmsg.NewPtrFetchResponse()
	r.SetVersion(version)
	r.ThrottleMillis, r.ErrorCode, r.SessionID = int32(next()), int16(next()%3), int32(next())<<20
	for t := range int(next() % 4) {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = string(bytes.Repeat([]byte{'a' + byte(t)}, int(next()%200)))
		st.TopicID[0], st.TopicID[15] = next(), byte(t)
		for p := range int(next() % 5) {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition, sp.ErrorCode = int32(p), int16(next()%4)
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = int64(next())<<33, int64(next()), -1
			switch n := next(); n % 4 {
			case 0: // null
			case 1:
				sp.RecordBatches = []byte{}
			case 2: // copied into the encoding
				sp.RecordBatches = bytes.Repeat([]byte{n}, int(next())*8)
			case 3: // left out of it
				sp.RecordBatches = bytes.Repeat([]byte{n}, inlineBatches+int(next())*100)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		r.Topics = append(r.Topics, st)
	}
	return r
}

// checkAppendFetch fails unless appendFetch's encoding, with the cut
// batches put back where they go, is kmsg's encoding of r.
func checkAppendFetch(t *testing.T, r *kmsg.FetchResponse) {
	t.Helper()
	if !vectorable(r) {
		t.Fatalf("v%d: not vectorable", r.Version)
	}
	prefix := []byte("hdr")
	got, cuts := appendFetch(prefix, r, nil)
	var joined []byte
	from := 0
	for _, c := range cuts {
		if len(c.bytes) < inlineBatches {
			t.Fatalf("v%d: cut %d bytes, under inlineBatches", r.Version, len(c.bytes))
		}
		joined = append(append(joined, got[from:c.at]...), c.bytes...)
		from = c.at
	}
	joined = append(joined, got[from:]...)
	want := r.AppendTo([]byte("hdr"))
	if !bytes.Equal(joined, want) {
		t.Fatalf("v%d: encoding differs from kmsg's:\n got %x\nwant %x", r.Version, joined, want)
	}
	back := kmsg.NewPtrFetchResponse()
	back.SetVersion(r.Version)
	if err := back.ReadFrom(joined[len(prefix):]); err != nil {
		t.Fatalf("v%d: kmsg cannot read it: %v", r.Version, err)
	}
}

func TestAppendFetchIsKmsgEncoding(t *testing.T) {
	seeds := [][]byte{
		nil,
		{1, 0, 0, 1, 3, 1, 0, 1, 2, 1, 0, 0, 5, 3, 9, 9},
		{7, 2, 9, 3, 20, 1, 4, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
		bytes.Repeat([]byte{3, 7, 11}, 100),
	}
	for v := int16(4); v <= 16; v++ {
		for _, s := range seeds {
			checkAppendFetch(t, fetchResponse(v, s))
		}
	}
}

// What appendFetch does not write, kmsg encodes: the connection must not
// take the vectored path for it.
func TestVectorableRefusesWhatAppendFetchSkips(t *testing.T) {
	for name, change := range map[string]func(*kmsg.FetchResponse){
		"aborted transactions": func(r *kmsg.FetchResponse) {
			r.Topics[0].Partitions[0].AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
		},
		"diverging epoch": func(r *kmsg.FetchResponse) { r.Topics[0].Partitions[0].DivergingEpoch.Epoch = 3 },
		"current leader":  func(r *kmsg.FetchResponse) { r.Topics[0].Partitions[0].CurrentLeader.LeaderID = 1 },
		"snapshot":        func(r *kmsg.FetchResponse) { r.Topics[0].Partitions[0].SnapshotID.Epoch = 2 },
		"brokers":         func(r *kmsg.FetchResponse) { r.Brokers = append(r.Brokers, kmsg.NewFetchResponseBroker()) },
		"version 3":       func(r *kmsg.FetchResponse) { r.SetVersion(3) },
	} {
		r := fetchResponse(12, []byte{0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1})
		if !vectorable(r) {
			t.Fatalf("%s: the unchanged response is not vectorable", name)
		}
		change(r)
		if vectorable(r) {
			t.Errorf("%s: vectorable", name)
		}
	}
}

func FuzzAppendFetch(f *testing.F) {
	f.Add(uint8(12), []byte{1, 0, 0, 1, 3, 1, 0, 1, 2, 1, 0, 0, 5, 3, 9, 9})
	f.Add(uint8(4), binary.BigEndian.AppendUint64(nil, 0x0102030405060708))
	f.Fuzz(func(t *testing.T, v uint8, data []byte) {
		checkAppendFetch(t, fetchResponse(4+int16(v%13), data))
	})
}
