package httpapi

import (
	"encoding/binary"
	"net/http"
	"strconv"
	"strings"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/internal/broker"
)

// storedInline is the largest batch copied into the answer's buffer; a
// larger one is written from where it is stored, uncopied.
const storedInline = 4 << 10

// acceptsPollStored reports whether the poll asked for stored batches
// (api.PollStoredContentType).
func acceptsPollStored(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, api.PollStoredContentType) {
			return true
		}
	}
	return false
}

// writePollStored answers parts in the binary form of
// api.PollStoredContentType: one frame per partition.
func writePollStored(w http.ResponseWriter, parts []broker.StoredPart) {
	size := storedAnswerSize(parts)
	w.Header().Set("Content-Type", api.PollStoredContentType)
	// The size is known before the first byte: a sized answer is not
	// chunked, so neither side frames and parses chunks of it.
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	buf := make([]byte, 0, min(size, pollChunk+storedInline))
	for i := range parts {
		buf = appendStoredHead(buf, &parts[i])
		for _, b := range parts[i].Batches {
			buf = binary.BigEndian.AppendUint32(buf, uint32(b.Len()))
			buf = append(buf, b.Head...)
			if len(b.Body) > storedInline {
				w.Write(buf) // a failed write is the client gone; nothing to answer
				w.Write(b.Body)
				buf = buf[:0]
				continue
			}
			buf = append(buf, b.Body...)
			if len(buf) >= pollChunk {
				w.Write(buf)
				buf = buf[:0]
			}
		}
	}
	if len(buf) > 0 {
		w.Write(buf)
	}
}

// appendStoredHead appends the frame of p up to its batches: partition,
// topic, ranges and the batch count.
func appendStoredHead(dst []byte, p *broker.StoredPart) []byte {
	be := binary.BigEndian
	dst = be.AppendUint32(dst, uint32(p.Partition))
	dst = be.AppendUint16(dst, uint16(len(p.Topic))) // topic names are short
	dst = append(dst, p.Topic...)
	dst = be.AppendUint32(dst, uint32(len(p.Ranges)))
	for _, r := range p.Ranges {
		dst = be.AppendUint64(dst, uint64(r.First))
		dst = be.AppendUint64(dst, uint64(r.Last))
		dst = be.AppendUint32(dst, uint32(r.DeliveryCount))
	}
	return be.AppendUint32(dst, uint32(len(p.Batches)))
}

// storedAnswerSize is the size of the answer of parts.
func storedAnswerSize(parts []broker.StoredPart) int {
	n := 0
	for _, p := range parts {
		n += 4 + 2 + len(p.Topic) + 4 + 20*len(p.Ranges) + 4
		for _, b := range p.Batches {
			n += 4 + b.Len()
		}
	}
	return n
}
