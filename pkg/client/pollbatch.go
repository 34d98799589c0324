package client

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/abd-ulbasit/goqueue/api"
	"github.com/abd-ulbasit/goqueue/recordbatch"
)

// errPollBatches reports a binary poll answer (api.PollBatchesContentType)
// that does not decode: truncated, a bad CRC, a compressed or non-v2 batch,
// or records that disagree with their batch. The transport treats it as an
// unreadable answer.
var errPollBatches = errors.New("malformed poll batches")

// pollAnswer is the answer of a group poll, binary if the broker speaks it,
// JSON otherwise (an older broker).
type pollAnswer struct {
	msgs []*Message
	// rebalance: the broker says a heartbeat now would change this
	// member's assignment (api.PollResponse.Rebalance).
	rebalance bool
	// ackRefused counts the acks the poll carried that the broker refused
	// as lost (api.PollResponse.AckRefused).
	ackRefused int
	// lazy (set before the poll) asks for a stored-batches answer to be
	// kept undecoded: raw then holds it, its frames checked, and rawN the
	// messages it names; msgs stays nil. The poller's rounds read lazily,
	// so that Poll decodes an answer after it has sent the next round, while
	// the broker serves that (pollahead.go).
	lazy bool
	raw  []byte
	rawN int
}

func (*pollAnswer) accept() string { return acceptPoll }

func (a *pollAnswer) read(h http.Header, body []byte) error {
	a.rebalance = h.Get(api.PollRebalanceHeader) == "true"
	a.ackRefused, _ = strconv.Atoi(h.Get(api.PollAckRefusedHeader)) // on JSON answers too
	switch mediaType(h.Get("Content-Type")) {
	case api.PollStoredContentType:
		if a.lazy {
			n, _, err := storedCount(body)
			if err != nil {
				return err
			}
			a.raw, a.rawN = bytes.Clone(body), n
			return nil
		}
		msgs, err := decodePollStored(bytes.Clone(body)) // the messages keep slices of it
		a.msgs = msgs
		return err
	case api.PollBatchesContentType:
		msgs, err := decodePollBatches(bytes.Clone(body))
		a.msgs = msgs
		return err
	}
	var resp api.PollResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return err
	}
	a.rebalance = a.rebalance || resp.Rebalance
	a.msgs = make([]*Message, len(resp.Messages))
	for i := range resp.Messages {
		a.msgs[i] = fromWire(&resp.Messages[i])
	}
	return nil
}

// mediaType is contentType without its parameters, in lower case.
func mediaType(contentType string) string {
	if i := strings.IndexByte(contentType, ';'); i >= 0 {
		contentType = contentType[:i]
	}
	return strings.ToLower(strings.TrimSpace(contentType))
}

// Layout of one frame of a binary poll answer before its batch:
// partition int32 | delivery_count int32 | topic_len uint16 | topic | batch_len int32.
const (
	frameFixedLen = 4 + 4 + 2
	// recordAttrJSON marks a record whose value was published as a JSON
	// value (api.PollBatchesContentType).
	recordAttrJSON = 0x01
)

// decodePollBatches decodes a binary poll answer into messages. Keys, values
// and header values alias body, which the caller must not change afterwards.
// Values read exactly as fromWire gives them from the JSON answer of the
// same messages.
func decodePollBatches(body []byte) ([]*Message, error) {
	n, err := countPollRecords(body)
	if err != nil {
		return nil, err
	}
	msgs := make([]Message, 0, n)
	var topic string // the previous frame's, reused while frames repeat it
	for len(body) > 0 {
		f, rest, err := nextFrame(body)
		if err != nil {
			return nil, err
		}
		body = rest
		if topic != string(f.topic) { // compiles to a comparison, no allocation
			topic = string(f.topic)
		}
		if msgs, err = appendBatch(msgs, f, topic); err != nil {
			return nil, err
		}
	}
	out := make([]*Message, len(msgs))
	for i := range msgs {
		out[i] = &msgs[i]
	}
	return out, nil
}

// pollFrame is one frame of a binary poll answer; topic and batch alias the
// answer.
type pollFrame struct {
	partition     int32
	deliveryCount int32
	topic         []byte
	batch         []byte
}

// nextFrame splits the first frame off b.
func nextFrame(b []byte) (pollFrame, []byte, error) {
	var f pollFrame
	if len(b) < frameFixedLen {
		return f, nil, fmt.Errorf("%w: frame header of %d bytes", errPollBatches, len(b))
	}
	be := binary.BigEndian
	f.partition = int32(be.Uint32(b))
	f.deliveryCount = int32(be.Uint32(b[4:]))
	tl := int(be.Uint16(b[8:]))
	b = b[frameFixedLen:]
	if len(b) < tl+4 {
		return f, nil, fmt.Errorf("%w: topic of %d bytes in %d", errPollBatches, tl, len(b))
	}
	f.topic, b = b[:tl], b[tl:]
	bl := int64(int32(be.Uint32(b)))
	b = b[4:]
	if bl < recordbatch.HeaderLen || bl > int64(len(b)) {
		return f, nil, fmt.Errorf("%w: batch of %d bytes in %d", errPollBatches, bl, len(b))
	}
	f.batch, b = b[:bl:bl], b[bl:]
	return f, b, nil
}

// countPollRecords is how many messages body holds, as its batches claim,
// bounded by the bytes each batch has: the capacity to reserve up front.
func countPollRecords(body []byte) (int, error) {
	n := 0
	for len(body) > 0 {
		f, rest, err := nextFrame(body)
		if err != nil {
			return 0, err
		}
		body = rest
		claimed := int(max(recordbatch.NumRecords(f.batch), 0))
		n += min(claimed, (len(f.batch)-recordbatch.HeaderLen)/recordbatch.MinRecordLen)
	}
	return n, nil
}

// appendBatch checks the batch of f and appends its records as messages.
// A control batch (transaction markers) holds no messages: it is skipped.
func appendBatch(msgs []Message, f pollFrame, topic string) ([]Message, error) {
	h, err := recordbatch.CheckFrame(f.batch)
	switch {
	case err != nil:
		return msgs, fmt.Errorf("%w: %v", errPollBatches, err)
	case h.Compression() != recordbatch.None:
		return msgs, fmt.Errorf("%w: compressed batch", errPollBatches)
	case h.Control():
		return msgs, nil
	}
	it, err := recordbatch.NewIter(f.batch, len(f.batch))
	if err != nil {
		return msgs, fmt.Errorf("%w: %v", errPollBatches, err)
	}
	var v recordbatch.View
	for it.Next(&v) {
		msgs = append(msgs, message(topic, f.partition, &h, &v, int(f.deliveryCount)))
	}
	if err := it.Err(); err != nil {
		return msgs, fmt.Errorf("%w: %v", errPollBatches, err)
	}
	return msgs, nil
}

// valueOf is a record's value as fromWire gives it from the JSON answer: the
// JSON answer holds a JSON-published value compacted, and as its text when
// it is a JSON string, or no value when it is null; every other value is the
// bytes stored.
func valueOf(attrs int8, v []byte) []byte {
	if attrs&recordAttrJSON == 0 || len(v) == 0 {
		return v
	}
	if bytes.ContainsAny(v, " \t\r\n") {
		var buf bytes.Buffer
		if json.Compact(&buf, v) != nil {
			return v // not JSON after all: the JSON answer has it as text or bytes
		}
		v = buf.Bytes()
	}
	switch {
	case string(v) == "null":
		return nil
	case v[0] == '"' && json.Valid(v):
		return jsonText(v)
	}
	return v
}

// headersOf is the map the JSON answer makes of hs: the last of equal keys
// wins; nil when there are none.
func headersOf(v *recordbatch.View) map[string]string {
	if v.NumHeaders() == 0 {
		return nil
	}
	m := make(map[string]string, v.NumHeaders())
	for hs := v.Headers(); ; {
		k, val, ok := hs.Next()
		if !ok {
			return m
		}
		m[string(k)] = string(val)
	}
}
