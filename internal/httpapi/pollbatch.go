package httpapi

import (
	"encoding/binary"
	"net/http"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// maxFrameRecords bounds the records of one frame of a binary poll answer,
// so that an answer is written in pieces of about pollChunk.
const maxFrameRecords = 512

// writePollBatches answers got in the binary form of
// api.PollBatchesContentType: one frame per run of consecutive offsets of
// one partition with one delivery count (at most maxFrameRecords each).
func writePollBatches(w http.ResponseWriter, got []broker.Delivered) {
	w.Header().Set("Content-Type", api.PollBatchesContentType)
	w.WriteHeader(http.StatusOK)
	buf := make([]byte, 0, answerSize(got))
	for i := 0; i < len(got); {
		j := i + 1
		for j < len(got) && j-i < maxFrameRecords && sameRun(&got[j-1], &got[j]) {
			j++
		}
		buf = appendPollFrame(buf, got[i:j])
		if len(buf) >= pollChunk {
			w.Write(buf) // a failed write is the client gone; nothing to answer
			buf = buf[:0]
		}
		i = j
	}
	if len(buf) > 0 {
		w.Write(buf)
	}
}

// sameRun reports whether b directly follows a in one frame.
func sameRun(a, b *broker.Delivered) bool {
	return a.Topic == b.Topic && a.Partition == b.Partition &&
		a.DeliveryCount == b.DeliveryCount && b.Record.Offset == a.Record.Offset+1
}

// appendPollFrame appends the frame of run: partition, delivery count,
// topic and the uncompressed RecordBatch of run's records, whose offsets
// are consecutive.
func appendPollFrame(dst []byte, run []broker.Delivered) []byte {
	d := &run[0]
	dst = binary.BigEndian.AppendUint32(dst, uint32(d.Partition))
	dst = binary.BigEndian.AppendUint32(dst, uint32(d.DeliveryCount))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(d.Topic))) // topic names are short
	dst = append(dst, d.Topic...)
	at := len(dst)
	dst = append(dst, 0, 0, 0, 0) // batch_len, set below
	var b recordbatch.Builder
	b.Reset(dst)
	for i := range run {
		r := &run[i].Record
		b.Add(r.Attributes, r.Timestamp, r.Key, r.Value, r.Headers)
	}
	dst = b.Finish(recordbatch.NewHeader(d.Record.Offset))
	binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
	return dst
}
