package api

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/abd-ulbasit/goqueue/internal/budget"
)

// The stream: a long-lived connection on which a consumer-group member
// subscribes and the broker pushes deliveries while the member has
// credit, instead of a request per poll, and on which a producer sends its
// batches as frames instead of a request per batch (docs/latency.md,
// "Proposal: one long-lived stream per client and broker").
//
// The client opens it with GET StreamPath, "Connection: Upgrade" and
// "Upgrade: StreamProtocol", authenticated as any request. The broker
// answers 101 Switching Protocols, naming in StreamFramesHeader the
// optional frame types it takes (StreamProduceFrames: PRODUCE; brokers
// older than PRODUCE name none), and from then on both sides exchange
// frames
//
//	length uint32 | type uint8 | id uint32 | payload
//
// big endian, where length counts type, id and payload and is at most the
// broker's --max-body-bytes and what a PRODUCE frame adds to a request
// body of that size (StreamFrameOverhead). A broker without the stream
// answers 404, and the client keeps polling and posting over HTTP.
//
// A SUBSCRIBE frame's id names the subscription; CREDIT, DELIVER, ASSIGN and
// the ERROR that ends a subscription carry it. An ACK, NACK or EXTEND frame's
// id is the client's own number for it; SETTLED carries it back, sent only
// when the broker refused some of what the frame named. PING's id comes back
// on its PONG. A PRODUCE frame's id comes back on its PRODUCED, or on the
// ERROR that refused it. An ERROR of id 0 refuses the stream itself (a
// frame too large or malformed: the frame being read, the first not yet
// answered) and the broker closes it. A connection is read in order by one
// goroutine at the broker: a PONG says every frame sent before its PING
// was applied, and PRODUCE frames are written, and answered, in the order
// they were sent. No DELIVER follows a CREDIT of 0 until credit is granted
// again: messages the subscription was handing out as it came are handed
// back (released: delivered again at once, no retry spent) unless their
// DELIVER was already being written, and then the CREDIT is applied once
// it is out. So a PONG after a CREDIT of 0 says that every message handed
// out on the subscription before it has been sent (a member releasing a
// partition waits for that, so that no delivery handed out before the
// release reaches it after).
const (
	StreamPath          = "/stream"
	StreamProtocol      = "goqueue-stream/1"
	StreamFramesHeader  = "Goqueue-Stream-Frames"
	StreamProduceFrames = "produce"
	// StreamFrameOverhead is what a PRODUCE frame adds to the request body
	// it carries: the header and the topic name, at most 249 bytes.
	StreamFrameOverhead = StreamHeaderLen + 2 + maxTopicName
)

// StreamType is the type of a stream frame.
type StreamType uint8

// The frame types; their payloads are described at each.
const (
	StreamSubscribe StreamType = iota + 1 // client: StreamSubscription; again with the same id, a new generation
	StreamCredit                          // client: uint32 messages the subscription may deliver from now on (replaces the last grant)
	StreamDeliver                         // broker: one PollStoredContentType answer
	StreamAck                             // client: StreamSettle
	StreamNack                            // client: StreamSettle
	StreamExtend                          // client: StreamSettle
	StreamSettled                         // broker: an ErrorBody, what refused the frame with the same id
	StreamAssign                          // broker: empty; the member must heartbeat (PollRebalanceHeader)
	StreamError                           // broker: an ErrorBody; for a subscription's id it has ended
	StreamPing                            // client: empty
	StreamPong                            // broker: empty, with the PING's id
	StreamProduce                         // client: StreamProduction, what POST /topics/{t}/batches takes
	StreamProduced                        // broker: where a PRODUCE's batches landed (AppendStreamProduced)
	streamTypes                           // one past the last
)

var streamTypeNames = [...]string{"", "SUBSCRIBE", "CREDIT", "DELIVER", "ACK", "NACK", "EXTEND", "SETTLED", "ASSIGN", "ERROR", "PING", "PONG", "PRODUCE", "PRODUCED"}

func (t StreamType) String() string {
	if t == 0 || t >= streamTypes {
		return fmt.Sprintf("StreamType(%d)", uint8(t))
	}
	return streamTypeNames[t]
}

// HeaderHasToken reports whether h's field name lists token (comma
// separated, any case).
func HeaderHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// StreamHeaderLen is the size of a frame's length, type and id.
const StreamHeaderLen = 9

// Errors of reading frames.
var (
	// ErrStreamFrame: a frame that is malformed (short, of an unknown type,
	// or with a payload that does not parse as its type's).
	ErrStreamFrame = errors.New("api: malformed stream frame")
	// ErrStreamFrameTooLarge: a frame longer than the reader's bound.
	ErrStreamFrameTooLarge = errors.New("api: stream frame too large")
)

// StreamFrame is one frame.
type StreamFrame struct {
	Type    StreamType
	ID      uint32
	Payload []byte
}

// AppendStreamFrame appends a frame of type t and id with payload to dst.
func AppendStreamFrame(dst []byte, t StreamType, id uint32, payload []byte) []byte {
	dst = appendStreamHeader(dst, t, id, len(payload))
	return append(dst, payload...)
}

// AppendStreamHeader appends the header of a frame of type t and id whose
// payload, payloadLen bytes, the caller writes after it.
func AppendStreamHeader(dst []byte, t StreamType, id uint32, payloadLen int) []byte {
	return appendStreamHeader(dst, t, id, payloadLen)
}

func appendStreamHeader(dst []byte, t StreamType, id uint32, payloadLen int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(5+payloadLen))
	dst = append(dst, byte(t))
	return binary.BigEndian.AppendUint32(dst, id)
}

// StreamReader reads frames from a connection. Not safe for concurrent use.
type StreamReader struct {
	r      *bufio.Reader
	max    int
	hdr    [StreamHeaderLen]byte
	budget *budget.Bytes // ReadShared's payloads are charged to it; nil: none
}

// NewStreamReader reads frames of at most maxLen bytes (length field) from r.
func NewStreamReader(r io.Reader, maxLen int) *StreamReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &StreamReader{r: br, max: maxLen}
}

// Read returns the next frame. Its payload is its own (a DELIVER's is
// handed on to the application's messages), allocated at the length the
// frame announces: for a reader that trusts its peer (see ReadShared).
// io.EOF is a connection closed between frames; io.ErrUnexpectedEOF one
// closed inside a frame.
func (sr *StreamReader) Read() (StreamFrame, error) { return sr.read(nil) }

// ChargeTo makes ReadShared charge each payload to b as its bytes arrive
// (budget.ReadFull): the reader gives len(Payload) back once done with
// the frame. A payload b has no room for fails the read with
// budget.ErrSpent (wrapped), and the stream cannot go on.
func (sr *StreamReader) ChargeTo(b *budget.Bytes) { sr.budget = b }

// ReadShared is Read for a reader that is done with each frame before it
// reads the next, as the broker is: the payload is read into buf, grown
// if it must be as its bytes arrive (never to a length a peer announced
// and did not send), and is valid until buf is used again. It returns the
// buffer to pass next time.
func (sr *StreamReader) ReadShared(buf []byte) (StreamFrame, []byte, error) {
	if buf == nil {
		buf = []byte{}
	}
	f, err := sr.read(buf)
	if cap(f.Payload) > cap(buf) {
		buf = f.Payload
	}
	return f, buf, err
}

// read reads the next frame, its payload into buf if buf is not nil.
func (sr *StreamReader) read(buf []byte) (StreamFrame, error) {
	if _, err := io.ReadFull(sr.r, sr.hdr[:]); err != nil {
		return StreamFrame{}, err
	}
	n := int(binary.BigEndian.Uint32(sr.hdr[:4]))
	t := StreamType(sr.hdr[4])
	switch {
	case n < 5:
		return StreamFrame{}, fmt.Errorf("%w: length %d", ErrStreamFrame, n)
	case n > sr.max:
		return StreamFrame{}, fmt.Errorf("%w: %d bytes, at most %d", ErrStreamFrameTooLarge, n, sr.max)
	case t == 0 || t >= streamTypes:
		return StreamFrame{}, fmt.Errorf("%w: type %d", ErrStreamFrame, t)
	}
	f := StreamFrame{Type: t, ID: binary.BigEndian.Uint32(sr.hdr[5:])}
	if n > 5 {
		var (
			p   []byte
			err error
		)
		if buf == nil {
			// Read: a payload of its own, allocated whole at once (a
			// client reading its broker's deliveries: growing each
			// one as it arrives cost it a fifth of its consume rate).
			p = make([]byte, n-5)
			_, err = io.ReadFull(sr.r, p)
		} else {
			// ReadShared, as the broker reads its clients' frames:
			// grown as the bytes arrive, since a length says nothing
			// of what the peer will send.
			p, err = budget.ReadFull(sr.r, buf, n-5, sr.budget)
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return StreamFrame{}, err
		}
		f.Payload = p
	}
	return f, nil
}

// StreamWriter writes whole frames to a connection; safe for concurrent
// use (one frame is never interleaved with another).
type StreamWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

// NewStreamWriter writes frames to w.
func NewStreamWriter(w io.Writer) *StreamWriter {
	return &StreamWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

// NewStreamConnWriter writes frames to conn, each write to it within
// within: a peer that stops reading (a process stopped or hung, its
// connection whole) lets the socket's buffers fill, after which a write
// blocks for as long as it stays so, holding the writer's lock and
// whatever its caller holds. A write that fails, by the bound or
// otherwise, closes conn, which ends the stream's read and with it the
// stream, as a broken connection does.
func NewStreamConnWriter(conn net.Conn, within time.Duration) *StreamWriter {
	return NewStreamWriter(&deadlineWriter{conn: conn, within: within})
}

// deadlineWriter is NewStreamConnWriter's connection. Writes come one at
// a time (StreamWriter's lock).
type deadlineWriter struct {
	conn   net.Conn
	within time.Duration // immutable
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.conn.SetWriteDeadline(time.Now().Add(w.within))
	n, err := w.conn.Write(p)
	if err != nil {
		w.conn.Close()
	}
	return n, err
}

// Write writes one frame whose payload is the parts one after another, and
// flushes it.
func (sw *StreamWriter) Write(t StreamType, id uint32, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var hdr [StreamHeaderLen]byte
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.w.Write(appendStreamHeader(hdr[:0], t, id, n))
	for _, p := range parts {
		sw.w.Write(p)
	}
	return sw.w.Flush() // a bufio.Writer keeps its first error: Flush reports it
}

// StreamSubscription is a SUBSCRIBE frame's payload: the member's poll,
// pushed. MaxBytes bounds one DELIVER (0: the broker's poll default).
type StreamSubscription struct {
	Group      string
	MemberID   string
	Generation int64
	MaxBytes   int32
}

// Append appends the payload: group and member as uint16-length strings,
// generation int64, max bytes int32.
func (s *StreamSubscription) Append(dst []byte) []byte {
	dst = appendShortString(dst, s.Group)
	dst = appendShortString(dst, s.MemberID)
	dst = binary.BigEndian.AppendUint64(dst, uint64(s.Generation))
	return binary.BigEndian.AppendUint32(dst, uint32(s.MaxBytes))
}

// ParseStreamSubscription parses a SUBSCRIBE payload.
func ParseStreamSubscription(b []byte) (StreamSubscription, error) {
	var s StreamSubscription
	var ok bool
	if s.Group, b, ok = shortString(b); !ok {
		return s, fmt.Errorf("%w: subscribe group", ErrStreamFrame)
	}
	if s.MemberID, b, ok = shortString(b); !ok || len(b) != 12 {
		return s, fmt.Errorf("%w: subscribe member", ErrStreamFrame)
	}
	s.Generation = int64(binary.BigEndian.Uint64(b))
	s.MaxBytes = int32(binary.BigEndian.Uint32(b[8:]))
	return s, nil
}

// AppendStreamCredit appends a CREDIT payload of n messages.
func AppendStreamCredit(dst []byte, n uint32) []byte { return binary.BigEndian.AppendUint32(dst, n) }

// ParseStreamCredit parses a CREDIT payload.
func ParseStreamCredit(b []byte) (uint32, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("%w: credit of %d bytes", ErrStreamFrame, len(b))
	}
	return binary.BigEndian.Uint32(b), nil
}

// StreamSettle is the payload of ACK, NACK and EXTEND: what POST
// /groups/{g}/ack, /nack and /extend take, for the member of subscription
// Sub. Requeue, Release, DelayMS and Reason are a NACK's, VisibilityMS an
// EXTEND's.
type StreamSettle struct {
	Sub          uint32
	Reject       bool // requeue false: dead-letter now
	Release      bool
	DelayMS      uint32
	VisibilityMS uint32
	Reason       string // sent cut by CutReason: the broker keeps no more, and the field holds 64 KiB
	Ranges       []OffsetRange
}

const (
	settleReject  = 1 << 0
	settleRelease = 1 << 1
)

// Append appends the payload: sub uint32, flags uint8, delay and
// visibility uint32 ms, reason (uint16-length), then a uint32 count of
// ranges, each topic (uint16-length), partition int32, from and to int64.
func (s *StreamSettle) Append(dst []byte) []byte {
	be := binary.BigEndian
	dst = be.AppendUint32(dst, s.Sub)
	var flags byte
	if s.Reject {
		flags |= settleReject
	}
	if s.Release {
		flags |= settleRelease
	}
	dst = append(dst, flags)
	dst = be.AppendUint32(dst, s.DelayMS)
	dst = be.AppendUint32(dst, s.VisibilityMS)
	dst = appendShortString(dst, CutReason(s.Reason))
	dst = be.AppendUint32(dst, uint32(len(s.Ranges)))
	for _, r := range s.Ranges {
		dst = appendShortString(dst, r.Topic)
		dst = be.AppendUint32(dst, uint32(r.Partition))
		dst = be.AppendUint64(dst, uint64(r.From))
		dst = be.AppendUint64(dst, uint64(r.To))
	}
	return dst
}

// ParseStreamSettle parses an ACK, NACK or EXTEND payload.
func ParseStreamSettle(b []byte) (StreamSettle, error) {
	be := binary.BigEndian
	var s StreamSettle
	if len(b) < 13 {
		return s, fmt.Errorf("%w: settle of %d bytes", ErrStreamFrame, len(b))
	}
	s.Sub = be.Uint32(b)
	flags := b[4]
	s.Reject, s.Release = flags&settleReject != 0, flags&settleRelease != 0
	s.DelayMS, s.VisibilityMS = be.Uint32(b[5:]), be.Uint32(b[9:])
	var ok bool
	if s.Reason, b, ok = shortString(b[13:]); !ok || len(b) < 4 {
		return s, fmt.Errorf("%w: settle reason", ErrStreamFrame)
	}
	n := be.Uint32(b)
	b = b[4:]
	const minRange = 2 + 4 + 8 + 8
	if uint64(n)*minRange > uint64(len(b)) {
		return s, fmt.Errorf("%w: %d ranges in %d bytes", ErrStreamFrame, n, len(b))
	}
	s.Ranges = make([]OffsetRange, n)
	for i := range s.Ranges {
		r := &s.Ranges[i]
		if r.Topic, b, ok = shortString(b); !ok || len(b) < 20 {
			return s, fmt.Errorf("%w: settle range %d", ErrStreamFrame, i)
		}
		r.Partition = int32(be.Uint32(b))
		r.From, r.To = int64(be.Uint64(b[4:])), int64(be.Uint64(b[12:]))
		b = b[20:]
	}
	if len(b) != 0 {
		return s, fmt.Errorf("%w: %d bytes after the ranges", ErrStreamFrame, len(b))
	}
	return s, nil
}

// StreamProduction is a PRODUCE frame's payload: what POST
// /topics/{Topic}/batches takes, Body being that request's body
// (BatchesContentType: frames of partition, length, RecordBatch v2).
type StreamProduction struct {
	Topic string
	Body  []byte
}

// AppendStreamProduceHead appends the part of a PRODUCE payload before its
// body (the topic, uint16-length), so a body can be written after it
// without being copied.
func AppendStreamProduceHead(dst []byte, topic string) []byte { return appendShortString(dst, topic) }

// ParseStreamProduction parses a PRODUCE payload; Body aliases b.
func ParseStreamProduction(b []byte) (StreamProduction, error) {
	topic, body, ok := shortString(b)
	if !ok {
		return StreamProduction{}, fmt.Errorf("%w: produce topic", ErrStreamFrame)
	}
	return StreamProduction{Topic: topic, Body: body}, nil
}

// AppendStreamProduced appends a PRODUCED payload: a uint32 count, then
// each frame's partition int32 and first offset int64, in the order of
// the PRODUCE's frames (as PublishResponse.Offsets).
func AppendStreamProduced(dst []byte, results []PublishResult) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(results)))
	for _, r := range results {
		dst = binary.BigEndian.AppendUint32(dst, uint32(r.Partition))
		dst = binary.BigEndian.AppendUint64(dst, uint64(r.Offset))
	}
	return dst
}

// ParseStreamProduced parses a PRODUCED payload into dst's space.
func ParseStreamProduced(dst []PublishResult, b []byte) ([]PublishResult, error) {
	if len(b) < 4 || uint64(len(b)-4) != uint64(binary.BigEndian.Uint32(b))*12 {
		return nil, fmt.Errorf("%w: produced of %d bytes", ErrStreamFrame, len(b))
	}
	dst = dst[:0]
	for b = b[4:]; len(b) > 0; b = b[12:] {
		dst = append(dst, PublishResult{Partition: int32(binary.BigEndian.Uint32(b)), Offset: int64(binary.BigEndian.Uint64(b[4:]))})
	}
	return dst, nil
}

// AppendStreamError appends the payload of ERROR and SETTLED: e in its
// envelope, as an HTTP answer's body.
func AppendStreamError(dst []byte, e *Error) []byte {
	j, err := json.Marshal(ErrorBody{Error: e})
	if err != nil { // details that do not marshal: say the rest
		j, _ = json.Marshal(ErrorBody{Error: &Error{Code: e.Code, Message: e.Message, Retriable: e.Retriable}})
	}
	return append(dst, j...)
}

// ParseStreamError parses an ERROR or SETTLED payload. The error's Status
// and Kafka code are the table's for its code.
func ParseStreamError(b []byte) (*Error, error) {
	var body ErrorBody
	if err := json.Unmarshal(b, &body); err != nil || body.Error == nil || body.Error.Code == "" {
		return nil, fmt.Errorf("%w: error payload", ErrStreamFrame)
	}
	e := body.Error
	for _, t := range Codes() {
		if t.Code == e.Code {
			e.Status, e.Kafka = t.Status, t.Kafka
			break
		}
	}
	return e, nil
}

func appendShortString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// shortString takes a uint16-length string off b.
func shortString(b []byte) (string, []byte, bool) {
	if len(b) < 2 {
		return "", b, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", b, false
	}
	return string(b[2 : 2+n]), b[2+n:], true
}
